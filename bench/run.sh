#!/bin/bash
# run.sh - `make bench`: sustained ingest against the broker-only ceiling
# (SPEC.md section 9), on a private PostgreSQL and mosquitto on 127.0.0.1.
#
#   1. starts the servers (tests/lib/servers.sh), migrates, imports the
#      sample county (sql/sample/)
#   2. cw-load echo: the broker alone, publisher to subscriber (the ceiling)
#   3. starts carewatchd on a copy of that database, waits until it stores
#      a probe event
#   4. cw-load ingest: device events until all are durable in PostgreSQL;
#      stops carewatchd with SIGTERM
#   5. the same, on a fresh copy, with listeners: 10 event streams
#      (GET /api/v1/events) and a client reading GET /api/v1/incidents
#      every second, as operators' consoles do
#   6. 4 and 5 again, BENCH_ROUNDS times in all (default 5), every other
#      round with listeners first; prints the ratios of the median rates of
#      both and what the listeners cost (goal: within 10 %)
#
# Environment: BENCH_COUNT (messages per run, default 50000), BENCH_ROUNDS
# (ingest runs of each kind, default 5), BENCH_LISTENERS ("sse poll", the
# default, or one of them: the listeners of the runs with listeners, to
# tell their costs apart), BENCH_TIMEOUT (seconds per run, default 300),
# BENCH_STRICT=1 (exit 1 when the ratio is under the budget or the
# listeners cost more than the goal), BENCH_KEEP=1 (keep the work
# directory), BENCH_DAEMON_CONF (extra lines for carewatchd.conf, e.g.
# $'[daemon]\nbatch_max = 2000').
# Builds nothing: `make bench` builds first. Every wait is bounded.
set -euo pipefail

top_srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# make runs us from the build directory; fall back to the source tree.
top_builddir=${top_builddir:-$PWD}
[[ -x $top_builddir/daemon/carewatchd ]] || top_builddir=$top_srcdir

count=${BENCH_COUNT:-50000}
timeout_s=${BENCH_TIMEOUT:-300}
budget=0.70
listen_goal=10 # per cent the listeners may cost the ingest rate
sample=$top_srcdir/sql/sample

carewatchd=$top_builddir/daemon/carewatchd
carewatch=$top_builddir/cli/carewatch
cw_load=$top_builddir/bench/cw-load

say() {
	echo "bench: $*" >&2
}

die() {
	say "$*"
	exit 1
}

[[ $count =~ ^[0-9]+$ && $count -ge 1 ]] || die "BENCH_COUNT must be a positive number"
[[ $timeout_s =~ ^[0-9]+$ && $timeout_s -ge 1 ]] || die "BENCH_TIMEOUT must be a positive number"
for p in "$carewatchd" "$carewatch" "$cw_load"; do
	[[ -x $p ]] || die "$p is not built (run make first)"
done
for k in areas stations volunteers elders devices; do
	[[ -f $sample/$k.csv ]] || die "$sample/$k.csv is missing"
done

# shellcheck source=tests/lib/servers.sh
. "$top_srcdir/tests/lib/servers.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/cw-bench.XXXXXX")
# The server users (postgres, mosquitto) must be able to enter it.
chmod 755 "$work"
daemon_pid=
daemon_log=/dev/null
listeners=() # pids of the listener clients
ok=0

# True when pid is a live process (not a zombie).
alive() {
	[[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null &&
		[[ $(sed 's/^.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null) != Z ]]
}

# Sends SIGTERM to the daemon and waits up to 30 s, then kills it.
stop_daemon() {
	local i
	[[ -n $daemon_pid ]] || return 0
	if alive "$daemon_pid"; then
		kill -TERM "$daemon_pid" 2>/dev/null || true
		for ((i = 0; i < 300; i++)); do
			alive "$daemon_pid" || break
			sleep 0.1
		done
		if alive "$daemon_pid"; then
			say "carewatchd $daemon_pid ignored SIGTERM for 30 s; killing it"
			kill -KILL "$daemon_pid" 2>/dev/null || true
		fi
	fi
	daemon_pid=
}

# shellcheck disable=SC2317 # the EXIT trap
cleanup() {
	trap '' INT TERM
	stop_listeners
	stop_daemon
	cw_servers_stop
	if [[ $ok == 1 && ${BENCH_KEEP:-0} != 1 ]]; then
		rm -rf "$work"
	else
		say "logs and data kept in $work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "servers"
cw_servers_start "$work/servers"

conf=$work/carewatchd.conf
http_port=$(cw_free_port "$CW_PGPORT" "$CW_MQ_PORT")
mkdir -p "$work/spool"
chmod 700 "$work/spool"
(
	umask 077
	od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$work/id.key"
)
cat >"$conf" <<EOF
# carewatchd for bench/run.sh
[mqtt]
host = 127.0.0.1
port = $CW_MQ_PORT
client_id = carewatchd-bench

[database]
conninfo = $CW_CONNINFO

[http]
listen = 127.0.0.1:$http_port

[spool]
dir = $work/spool

[privacy]
id_key_file = $work/id.key
${BENCH_DAEMON_CONF:-}
EOF
"$carewatchd" -n -c "$conf" >/dev/null

say "schema and sample county"
export CAREWATCH_SQLDIR=$top_srcdir/sql
"$carewatch" -c "$conf" db migrate >/dev/null
for kind in areas stations volunteers elders devices; do
	"$carewatch" -c "$conf" import "$kind" "$sample/$kind.csv" >/dev/null
done

say "ceiling: cw-load echo, $count messages"
echo_out=$("$cw_load" echo --host 127.0.0.1 --port "$CW_MQ_PORT" --count "$count" \
	--timeout "$timeout_s") || die "cw-load echo failed"
echo "$echo_out"
echo_rate=$(sed -n 's/^RESULT echo_rate=//p' <<<"$echo_out")
[[ -n $echo_rate ]] || die "cw-load echo printed no result"

# The operators' consoles, for the run with listeners: a token for them.
token=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
cw_psql -c "INSERT INTO users (name, role, token_sha256)
	VALUES ('bench', 'auditor', encode(sha256('$token'::bytea), 'hex'))"

# Writes the daemon's configuration for database $1 (a copy of the
# migrated county, so that every run starts from the same state).
run_conf() { # database
	sed "s|^conninfo = .*|conninfo = ${CW_CONNINFO/dbname=carewatch/dbname=$1}|" "$conf" \
		>"$work/carewatchd-$1.conf"
}

# Starts carewatchd on database $1 and waits until it serves. Ready means:
# it said so, and an event published now is stored (so its subscription
# and its database path work). The probe is re-sent (same id, idempotent)
# because a message published before its first subscription exists
# reaches nobody.
start_daemon() { # database
	local db=$1 probe_dev probe_id ready=0 i n
	cw_psql -c "CREATE DATABASE $db TEMPLATE carewatch"
	run_conf "$db"
	# In its own session, so that a Ctrl-C reaches this script, which then
	# stops the daemon in order.
	setsid "$carewatchd" -c "$work/carewatchd-$db.conf" >"$work/carewatchd-$db.log" 2>&1 &
	daemon_pid=$!
	daemon_log=$work/carewatchd-$db.log
	probe_dev=$(awk -F, 'NR == 2 { gsub(/"/, "", $1); print $1; exit }' "$sample/devices.csv")
	probe_id="bench-probe-$$-$RANDOM"
	for ((i = 0; i < 600; i++)); do
		alive "$daemon_pid" || {
			tail -n 20 "$daemon_log" >&2
			die "carewatchd exited at start"
		}
		if grep -q 'event=ready' "$daemon_log"; then
			if ((i % 5 == 0)); then
				timeout 5 mosquitto_pub -h 127.0.0.1 -p "$CW_MQ_PORT" -q 1 \
					-i "cw-bench-probe-$$" -t "carewatch/dev/$probe_dev/event" \
					-m "{\"id\":\"$probe_id\",\"type\":\"heartbeat\",\"state\":\"alarm\"}" ||
					true
			fi
			n=$("$CW_PG_BIN/psql" -X -At "${CW_CONNINFO/dbname=carewatch/dbname=$db}" \
				-c "SELECT count(*) FROM events WHERE event_id = '$probe_id'" 2>/dev/null ||
				echo 0)
			if [[ $n == 1 ]]; then
				ready=1
				break
			fi
		fi
		sleep 0.1
	done
	if [[ $ready != 1 ]]; then
		tail -n 20 "$daemon_log" >&2
		die "carewatchd not ready after 60 s (no event=ready, or the probe event was not stored)"
	fi
}

# cw-load ingest against the running daemon on database $1; sets rate.
ingest() { # database
	local out
	out=$("$cw_load" ingest --host 127.0.0.1 --port "$CW_MQ_PORT" \
		--conninfo "${CW_CONNINFO/dbname=carewatch/dbname=$1}" --count "$count" \
		--devices "$sample/devices.csv" --timeout "$timeout_s") || {
		tail -n 20 "$daemon_log" >&2
		die "cw-load ingest failed"
	}
	echo "$out"
	rate=$(sed -n 's/^RESULT ingest_rate=//p' <<<"$out")
	[[ -n $rate ]] || die "cw-load ingest printed no result"
}

metric() { # name: its value in /metrics
	curl -s --max-time 5 -H "Authorization: Bearer $token" \
		"http://127.0.0.1:$http_port/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}

# Ten event streams and one client reading the incident list every second,
# as the operators' consoles do; stopped by stop_listeners.
start_listeners() { # round
	local i
	if ((listen_poll)); then
		poll_list "$1"
	fi
	((listen_sse)) || return 0
	for ((i = 0; i < 10; i++)); do
		curl -sN --max-time $((timeout_s + 120)) -H "Authorization: Bearer $token" \
			"http://127.0.0.1:$http_port/api/v1/events" >"$work/sse.$1.$i" 2>/dev/null &
		listeners+=($!)
	done
	for ((i = 0; i < 100; i++)); do
		[[ $(metric carewatch_sse_clients) == 10 ]] && return 0
		sleep 0.1
	done
	die "the 10 event streams did not connect in 10 s"
}

# GET /api/v1/incidents every second, each answer's status, time and size
# logged to poll.ROUND.log.
poll_list() { # round
	python3 - "$http_port" "$token" "$work/poll.$1.log" $((timeout_s + 120)) <<'PY' &
import http.client, sys, time
port, token, log, secs = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
end = time.monotonic() + secs
with open(log, "w") as f:
    while time.monotonic() < end:
        t = time.monotonic()
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/api/v1/incidents", headers={"Authorization": "Bearer " + token})
            r = c.getresponse()
            n = len(r.read())
            f.write("%d %.4f %d\n" % (r.status, time.monotonic() - t, n))
            c.close()
        except OSError as e:
            f.write("error %.4f %s\n" % (time.monotonic() - t, e))
        f.flush()
        time.sleep(max(0.0, 1.0 - (time.monotonic() - t)))
PY
	listeners+=($!)
}

stop_listeners() {
	local p
	for p in "${listeners[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${listeners[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	listeners=()
}

# One measured ingest on a fresh copy of the county: kind plain (no
# listeners) or listen (with them); sets rate.
measure() { # kind round
	local kind=$1 r=$2 i
	if [[ $kind == plain ]]; then
		say "round $r: carewatchd and cw-load ingest, $count events, no listeners"
	else
		say "round $r: carewatchd and cw-load ingest, $count events, with $listen_what"
	fi
	start_daemon "run_${kind}_$r"
	[[ $kind == plain ]] || start_listeners "$r"
	ingest "run_${kind}_$r"
	if [[ $kind == listen ]]; then
		stop_listeners
		# they listened: events on every stream, polls answered
		for ((i = 0; i < 10 * listen_sse; i++)); do
			grep -q '^event: incident' "$work/sse.$r.$i" ||
				die "event stream $i received no event in round $r"
		done
		((!listen_poll)) || grep -q '^200 ' "$work/poll.$r.log" ||
			die "no list poll was answered in round $r"
	fi
	stop_daemon
	grep -q 'event=exit status=0' "$daemon_log" ||
		say "carewatchd did not log a clean exit (see $daemon_log)"
}

# Alternate rounds start with the other kind, so that a drift of the
# machine during the bench weighs on both alike.
rounds=${BENCH_ROUNDS:-5}
listen_sse=0
listen_poll=0
for w in ${BENCH_LISTENERS:-sse poll}; do
	case $w in
	sse) listen_sse=1 ;;
	poll) listen_poll=1 ;;
	*) die "BENCH_LISTENERS: sse, poll or both, not $w" ;;
	esac
done
((listen_sse + listen_poll > 0)) || die "BENCH_LISTENERS: sse, poll or both"
case $listen_sse$listen_poll in
10) listen_what="10 event streams" ;;
01) listen_what="a list poll every second" ;;
*) listen_what="10 event streams and a list poll every second" ;;
esac
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive number"
plain_rates=()
listen_rates=()
for ((r = 1; r <= rounds; r++)); do
	order=(plain listen)
	((r % 2 == 1)) || order=(listen plain)
	for kind in "${order[@]}"; do
		measure "$kind" "$r"
		if [[ $kind == plain ]]; then plain_rates+=("$rate"); else listen_rates+=("$rate"); fi
	done
done
# The median of each kind: other work on the machine slows a run now and
# then, which the median shrugs off.
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { printf "%.1f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ingest_rate=$(median "${plain_rates[@]}")
listen_rate=$(median "${listen_rates[@]}")

listened=()
if ((listen_sse)); then
	sse_min=$(for f in "$work"/sse.*; do grep -c '^event: incident' "$f" || true; done |
		sort -n | head -n 1)
	listened+=("10 event streams, the fewest events one received in a round $sse_min")
fi
if ((listen_poll)); then
	polls=$(cat "$work"/poll.*.log | wc -l)
	polls_ok=$(cat "$work"/poll.*.log | awk '$1 == 200' | wc -l)
	poll_max=$(cat "$work"/poll.*.log | awk '$1 == 200 && $2 > m { m = $2 } END { printf "%.3f", m }')
	listened+=("list polls $polls, $polls_ok answered 200, the slowest in $poll_max s")
fi

ratio=$(awk -v a="$ingest_rate" -v b="$echo_rate" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
verdict=$(awk -v r="$ratio" -v b="$budget" 'BEGIN { print ((r + 0 >= b + 0) ? "ok" : "BELOW BUDGET") }')
ratio_l=$(awk -v a="$listen_rate" -v b="$echo_rate" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
diff=$(awk -v a="$listen_rate" -v b="$ingest_rate" 'BEGIN { printf "%+.1f", (b > 0 ? 100 * (a - b) / b : 0) }')
verdict_l=$(awk -v d="$diff" -v g="$listen_goal" 'BEGIN { print ((d + 0 >= -g) ? "ok" : "OVER GOAL") }')
echo
printf 'rounds  no listeners: %s ev/s   with listeners: %s ev/s   (medians below)\n' "${plain_rates[*]}" \
	"${listen_rates[*]}"
printf 'listeners: %s' "${listened[0]}"
((${#listened[@]} == 1)) || printf '; %s' "${listened[@]:1}"
echo
printf 'ingest  %s ev/s   ceiling %s msg/s   ratio %s  (budget >= %s)  %s\n' \
	"$ingest_rate" "$echo_rate" "$ratio" "$budget" "$verdict"
printf 'ingest with listeners  %s ev/s   ratio %s   difference %s %%  (goal within %s %%)  %s\n' \
	"$listen_rate" "$ratio_l" "$diff" "$listen_goal" "$verdict_l"
ok=1
if [[ ($verdict != ok || $verdict_l != ok) && ${BENCH_STRICT:-0} == 1 ]]; then
	exit 1
fi
exit 0
