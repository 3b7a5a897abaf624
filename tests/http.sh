#!/bin/bash
# http.sh - the HTTP API under hostile clients (issue 6): the real carewatchd
# against a private PostgreSQL and mosquitto on 127.0.0.1
# (tests/lib/servers.sh), with the county of tests/scenarios.sh and one user
# per role. tests/http_hostile.py does the socket work, one scenario at a
# time, against the one daemon that lives through them all: a table of
# hostile requests, their audit rows, a slow-loris, 1,000 idle connections,
# 50 event streams, a stream that never reads, a long replay; then
# promtool on /metrics and a real Prometheus scraping it; at the end the
# daemon must still be alive, still dispatch, stop cleanly and have logged
# no crash. Every wait is bounded; every process is stopped by its pid.
set -uo pipefail

top_srcdir=${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
CWD_BIN=$top_builddir/daemon/carewatchd
CLI_BIN=$top_builddir/cli/carewatch
HOSTILE=$top_srcdir/tests/http_hostile.py
# shellcheck source=lib/servers.sh
. "$top_srcdir/tests/lib/servers.sh"
# shellcheck source=lib/check.sh
. "$top_srcdir/tests/lib/check.sh"
# shellcheck source=lib/county.sh
. "$top_srcdir/tests/lib/county.sh"

# the CLI as the owner; the daemon as cw_daemon (migration 015's role)
export PGUSER=postgres
WORK=$(mktemp -d /tmp/cw-http.XXXXXX)
chmod 755 "$WORK"
DAEMON_PID=
SUB_PID=
PROM_PID=
P=hx

# Stops a process by pid: SIGTERM, up to 10 s, then SIGKILL.
stop_pid() { # pid
	local pid=$1 i
	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
}

cleanup() {
	[[ -n $PROM_PID ]] && stop_pid "$PROM_PID"
	[[ -n $DAEMON_PID ]] && kill -9 "$DAEMON_PID" 2>/dev/null
	[[ -n $SUB_PID ]] && kill "$SUB_PID" 2>/dev/null
	cw_servers_stop
	if [[ ${KEEP:-0} != 1 ]]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT

pass=0
fail=0
failed_names=()

sql() {
	"$CW_PG_BIN/psql" -X -A -t -q -v ON_ERROR_STOP=1 "$CW_CONNINFO" -c "$1"
}

# A random token (hex), as `carewatch user add` would print one.
token() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }

add_user() { # name role area_prefix token
	sql "INSERT INTO users(name, role, area_prefix, token_sha256)
	     VALUES ('$1', '$2', '$3', encode(sha256('$4'::bytea), 'hex'))" >/dev/null
}

http_status() { # path [token]
	curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
		${2:+-H "Authorization: Bearer $2"} "http://127.0.0.1:$HTTP_PORT$1"
}

http_is() { [[ $(http_status "$1" "${3:-}") == "$2" ]]; }

# The county of tests/scenarios.sh (tests/lib/county.sh).
load_fixture() {
	make_fixture
}

setup() {
	local k conf=$WORK/carewatchd.conf
	cw_servers_start "$WORK/srv" || return 1
	head -c 32 /dev/urandom | base64 >"$WORK/key"
	load_fixture || return 1
	HTTP_PORT=$(cw_free_port "$CW_PGPORT" "$CW_MQ_PORT") || return 1
	mkdir -p "$WORK/spool"
	chmod 700 "$WORK/spool"
	cat >"$conf" <<INI
[mqtt]
host = 127.0.0.1
port = $CW_MQ_PORT
client_id = cwd-$P
topic_prefix = $P
keepalive = 10
[database]
conninfo = $CW_CONNINFO_PGUSER
[http]
listen = 127.0.0.1:$HTTP_PORT
max_connections = 256
[dispatch]
offer_timeout_p1_s = 600
offer_timeout_p2_s = 600
escalate_after_s = 600
retry_s = 1
[spool]
dir = $WORK/spool
[privacy]
id_key_file = $WORK/key
# thousands of alarms from a few devices drive the event streams here; flood
# control (per-device token bucket) has its own scenario in scenarios.sh
[daemon]
flood_rate = 0
INI
	"$CLI_BIN" -c "$conf" db migrate >/dev/null || return 1
	for k in areas stations volunteers elders devices; do
		"$CLI_BIN" -c "$conf" import "$k" "$WORK/csv/$k.csv" >/dev/null || return 1
	done
	# one user per role; far1 works in another township (140426200),
	# where the fixture has no elder
	TOKEN_OP=$(token) TOKEN_SUP=$(token) TOKEN_AUD=$(token) TOKEN_FAR=$(token)
	add_user op1 operator '' "$TOKEN_OP" || return 1
	add_user sup1 supervisor '' "$TOKEN_SUP" || return 1
	add_user aud1 auditor '' "$TOKEN_AUD" || return 1
	add_user far1 operator 140426200 "$TOKEN_FAR" || return 1
	cw_daemon_role || return 1

	MSGS=$WORK/msgs
	: >"$MSGS"
	mosquitto_sub -h 127.0.0.1 -p "$CW_MQ_PORT" -q 1 -v -t "$P/#" >"$MSGS" 2>/dev/null &
	SUB_PID=$!
	wait_until 5 "the subscriber" sub_up || return 1

	DAEMON_LOG=$WORK/daemon.log
	env PGUSER=cw_daemon "$CWD_BIN" -c "$conf" >"$DAEMON_LOG" 2>&1 &
	DAEMON_PID=$!
	wait_until 10 "the daemon ready" grep -q 'event=ready' "$DAEMON_LOG" || return 1
	wait_until 10 "the users read" grep -q 'event=users_loaded users=4' "$DAEMON_LOG" || return 1
	wait_until 10 "/healthz 200" http_is /healthz 200 || return 1
	cw_expect_daemon_user || return 1

	export CW_HTTP_PORT=$HTTP_PORT CW_MQ_PORT CW_PREFIX=$P CW_MSGS=$MSGS
	export CW_PSQL=$CW_PG_BIN/psql CW_DB=$CW_CONNINFO CW_DAEMON_PID=$DAEMON_PID
	export CW_DAEMON_LOG=$DAEMON_LOG CW_STATE=$WORK/state
	export CW_TOKEN_OP=$TOKEN_OP CW_TOKEN_SUP=$TOKEN_SUP CW_TOKEN_AUD=$TOKEN_AUD
	export CW_TOKEN_FAR=$TOKEN_FAR
}

sub_up() {
	mosquitto_pub -h 127.0.0.1 -p "$CW_MQ_PORT" -q 1 -t "$P/probe" -m up
	grep -q "^$P/probe " "$MSGS"
}

# ONLY=fn1,fn2 runs just those scenarios (setup and the final checks always run).
run() { # name function
	local name=$1 fn=$2 t0=$SECONDS
	if [[ -n ${ONLY:-} && ,$ONLY, != *",$fn,"* ]]; then return 0; fi
	echo "--- $name"
	if $fn; then
		pass=$((pass + 1))
		echo "PASS: $name ($((SECONDS - t0)) s)"
	else
		fail=$((fail + 1))
		failed_names+=("$name")
		echo "FAIL: $name ($((SECONDS - t0)) s)"
		echo "    daemon log (last 20 lines):"
		tail -n 20 "$DAEMON_LOG" 2>/dev/null | cut -c1-200 | sed 's/^/      /'
	fi
}

hostile() { python3 -u "$HOSTILE" "$1"; }

# --- scenarios -------------------------------------------------------------

s_table() { hostile table; }
s_audit() { hostile audit; }
s_slowloris() { hostile slowloris; }
s_idle_flood() { hostile idle_flood; }
s_sse_fanout() { hostile sse_fanout; }
s_sse_churn() { hostile sse_churn; }
s_sse_slow() { hostile sse_slow; }
s_sse_replay() { hostile sse_replay; }

# /metrics passes promtool's checker, without a word.
s_promtool() {
	local out
	curl -sf --max-time 5 -H "Authorization: Bearer $TOKEN_AUD" \
		"http://127.0.0.1:$HTTP_PORT/metrics" >"$WORK/metrics.txt" ||
		die "GET /metrics failed" || return 1
	note "ok: /metrics, $(wc -l <"$WORK/metrics.txt") lines"
	if ! out=$(promtool check metrics <"$WORK/metrics.txt" 2>&1); then
		die "promtool check metrics: $out"
		return 1
	fi
	[[ -z $out ]] || die "promtool check metrics said: $out" || return 1
	note "ok: promtool check metrics: exit 0, nothing said"
	grep -q '^carewatch_events_received_total{type="sos"} [1-9]' "$WORK/metrics.txt" ||
		die "no SOS counted in /metrics" || return 1
	note "ok: carewatch_events_received_total{type=\"sos\"} >= 1"
}

prom_query() { # PromQL -> the first sample's value, or nothing
	curl -s --max-time 2 --data-urlencode "query=$1" \
		"http://127.0.0.1:$PROM_PORT/api/v1/query" |
		python3 -c 'import json,sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "")' 2>/dev/null
}

prom_is() { [[ $(prom_query "$1") == "$2" ]]; }

prom_at_least() { # PromQL min
	local v
	v=$(prom_query "$1")
	[[ -n $v ]] && awk -v v="$v" -v m="$2" 'BEGIN { exit !(v + 0 >= m + 0) }'
}

# A real Prometheus scrapes the daemon with a bearer token from a file.
s_prometheus() {
	local dir=$WORK/prom rc=0
	mkdir -p "$dir/data"
	PROM_PORT=$(cw_free_port "$CW_PGPORT" "$CW_MQ_PORT" "$HTTP_PORT") || return 1
	(
		umask 077
		printf '%s' "$TOKEN_AUD" >"$dir/token"
	)
	cat >"$dir/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: carewatch
    scrape_interval: 1s
    scrape_timeout: 1s
    authorization:
      type: Bearer
      credentials_file: $dir/token
    static_configs:
      - targets: ['127.0.0.1:$HTTP_PORT']
YML
	promtool check config "$dir/prometheus.yml" >"$dir/check.log" 2>&1 ||
		die "promtool check config: $(cat "$dir/check.log")" || return 1
	prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
		--web.listen-address="127.0.0.1:$PROM_PORT" >"$dir/prometheus.log" 2>&1 &
	PROM_PID=$!
	if ! wait_until 30 "up{job=\"carewatch\"} = 1 in Prometheus" prom_is 'up{job="carewatch"}' 1; then
		tail -n 5 "$dir/prometheus.log" | sed 's/^/      /'
		rc=1
	else
		note "ok: Prometheus scrapes the daemon: up = 1"
		wait_until 10 "carewatch_events_received_total{type=\"sos\"} >= 1 in Prometheus" \
			prom_at_least 'carewatch_events_received_total{job="carewatch",type="sos"}' 1 || rc=1
		((rc == 0)) && note "ok: Prometheus reads carewatch_events_received_total{type=\"sos\"} = $(prom_query 'carewatch_events_received_total{type="sos"}')"
		wait_until 10 "carewatch_database_connected = 1 in Prometheus" \
			prom_is 'carewatch_database_connected' 1 || rc=1
	fi
	stop_pid "$PROM_PID"
	PROM_PID=
	return $rc
}

# After all that: alive, dispatching, clean stop, nothing alarming logged.
s_alive() {
	hostile alive || return 1
	if grep -E -q '^<[0-2]>|AddressSanitizer|Segmentation|assert|double free|corrupt' "$DAEMON_LOG"; then
		die "the log has: $(grep -E -m1 '^<[0-2]>|AddressSanitizer|Segmentation|assert|double free|corrupt' "$DAEMON_LOG")"
		return 1
	fi
	note "ok: no crit/alert/emerg line and no crash in the daemon log"
	if grep -E -q "$TOKEN_OP|$TOKEN_SUP|$TOKEN_AUD|$TOKEN_FAR" "$DAEMON_LOG"; then
		die "a token is in the daemon log"
		return 1
	fi
	note "ok: no token in the daemon log"
	kill -TERM "$DAEMON_PID"
	local i status
	for ((i = 0; i < 200; i++)); do
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.05
	done
	wait "$DAEMON_PID"
	status=$?
	DAEMON_PID=
	expect_eq 0 "$status" "exit status after SIGTERM" || return 1
	grep -q 'event=exit status=0' "$DAEMON_LOG" || die "no clean exit logged" || return 1
}

# --- main ------------------------------------------------------------------

if ! command -v python3 >/dev/null 2>&1; then
	echo "python3 is missing (tests/lib/install-deps.sh installs it)"
	echo "scenarios: 0 passed, 1 failed"
	exit 1
fi
T0=$SECONDS
if ! setup; then
	echo "setup failed"
	tail -n 20 "${DAEMON_LOG:-/dev/null}" 2>/dev/null
	echo "scenarios: 0 passed, 1 failed"
	exit 1
fi
run "a table of hostile requests: each gets its status and a JSON error" s_table
run "refused and applied actions are audit rows with their status" s_audit
run "slow-loris: 50 connections closed in time, others served" s_slowloris
run "1,000 idle connections: dispatch goes on, /healthz comes back" s_idle_flood
run "50 event streams all receive the incident's events" s_sse_fanout
run "a stream ending as the next starts: the new one is kept" s_sse_churn
run "an event stream that never reads is closed, a reading one is not" s_sse_slow
run "Last-Event-ID replays a long backlog; too long -> reset" s_sse_replay
run "/metrics passes promtool check metrics" s_promtool
run "a real Prometheus scrapes /metrics with a bearer token" s_prometheus
ONLY='' run "after all that: alive, dispatching, clean stop, no crash logged" s_alive

echo
echo "http.sh took $((SECONDS - T0)) s"
if ((fail > 0)); then
	echo "failed scenarios: ${failed_names[*]}"
fi
echo "scenarios: $pass passed, $fail failed"
((fail == 0))
