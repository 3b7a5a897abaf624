#!/bin/bash
# run.sh - `make bench`: sustained ingest against the broker-only ceiling
# (SPEC.md section 9), on a private PostgreSQL and mosquitto on 127.0.0.1.
#
#   1. starts the servers (tests/lib/servers.sh), migrates, imports the
#      sample county (sql/sample/)
#   2. cw-load echo: the broker alone, publisher to subscriber (the ceiling)
#   3. starts carewatchd, waits until it stores a probe event
#   4. cw-load ingest: device events until all are durable in PostgreSQL
#   5. stops carewatchd with SIGTERM and prints the figures
#
# Environment: BENCH_COUNT (messages per run, default 50000), BENCH_TIMEOUT
# (seconds per run, default 300), BENCH_STRICT=1 (exit 1 when the ratio is
# under the budget), BENCH_KEEP=1 (keep the work directory), BENCH_DAEMON_CONF
# (extra lines for carewatchd.conf, e.g. $'[daemon]\nbatch_max = 2000').
# Builds nothing: `make bench` builds first. Every wait is bounded.
set -euo pipefail

top_srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# make runs us from the build directory; fall back to the source tree.
top_builddir=${top_builddir:-$PWD}
[[ -x $top_builddir/daemon/carewatchd ]] || top_builddir=$top_srcdir

count=${BENCH_COUNT:-50000}
timeout_s=${BENCH_TIMEOUT:-300}
budget=0.70
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

say "carewatchd"
# In its own session, so that a Ctrl-C reaches this script, which then
# stops the daemon in order.
setsid "$carewatchd" -c "$conf" >"$work/carewatchd.log" 2>&1 &
daemon_pid=$!

# Ready means: it said so, and an event published now is stored (so its
# subscription and its database path work). The probe is re-sent (same id,
# idempotent) because a message published before its first subscription
# exists reaches nobody.
probe_dev=$(awk -F, 'NR == 2 { gsub(/"/, "", $1); print $1; exit }' "$sample/devices.csv")
probe_id="bench-probe-$$-$RANDOM"
ready=0
for ((i = 0; i < 600; i++)); do
	alive "$daemon_pid" || {
		tail -n 20 "$work/carewatchd.log" >&2
		die "carewatchd exited at start"
	}
	if grep -q 'event=ready' "$work/carewatchd.log"; then
		if ((i % 5 == 0)); then
			timeout 5 mosquitto_pub -h 127.0.0.1 -p "$CW_MQ_PORT" -q 1 \
				-i "cw-bench-probe-$$" -t "carewatch/dev/$probe_dev/event" \
				-m "{\"id\":\"$probe_id\",\"type\":\"heartbeat\",\"state\":\"alarm\"}" ||
				true
		fi
		n=$(cw_psql -At -c "SELECT count(*) FROM events WHERE event_id = '$probe_id'" \
			2>/dev/null || echo 0)
		if [[ $n == 1 ]]; then
			ready=1
			break
		fi
	fi
	sleep 0.1
done
if [[ $ready != 1 ]]; then
	tail -n 20 "$work/carewatchd.log" >&2
	die "carewatchd not ready after 60 s (no event=ready, or the probe event was not stored)"
fi

say "ingest: cw-load ingest, $count events"
ingest_out=$("$cw_load" ingest --host 127.0.0.1 --port "$CW_MQ_PORT" \
	--conninfo "$CW_CONNINFO" --count "$count" --devices "$sample/devices.csv" \
	--timeout "$timeout_s") || {
	tail -n 20 "$work/carewatchd.log" >&2
	die "cw-load ingest failed"
}
echo "$ingest_out"
ingest_rate=$(sed -n 's/^RESULT ingest_rate=//p' <<<"$ingest_out")
[[ -n $ingest_rate ]] || die "cw-load ingest printed no result"

stop_daemon
grep -q 'event=exit status=0' "$work/carewatchd.log" ||
	say "carewatchd did not log a clean exit (see $work/carewatchd.log)"

ratio=$(awk -v a="$ingest_rate" -v b="$echo_rate" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
verdict=$(awk -v r="$ratio" -v b="$budget" 'BEGIN { print ((r + 0 >= b + 0) ? "ok" : "BELOW BUDGET") }')
echo
printf 'ingest  %s ev/s   ceiling %s msg/s   ratio %s  (budget >= %s)  %s\n' \
	"$ingest_rate" "$echo_rate" "$ratio" "$budget" "$verdict"
ok=1
if [[ $verdict != ok && ${BENCH_STRICT:-0} == 1 ]]; then
	exit 1
fi
exit 0
