#!/bin/bash
# storm.sh - `make bench-storm`: the storm of SPEC section 9. 50,000
# heartbeats from 50 devices queue at the broker while carewatchd is down,
# with one SOS in the middle; carewatchd starts and bench/storm.py times the
# SOS's offer from the daemon's broker connection (goal 500 ms, contract
# 1 s) and the whole backlog's storage.
#
# Environment: BENCH_STORM_ROUNDS (default 3), BENCH_KEEP=1 (keep the work
# directory), BENCH_DAEMON_CONF (extra lines for carewatchd.conf).
set -euo pipefail

top_srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
top_builddir=${top_builddir:-$PWD}
[[ -x $top_builddir/daemon/carewatchd ]] || top_builddir=$top_srcdir
rounds=${BENCH_STORM_ROUNDS:-3}
sample=$top_srcdir/sql/sample
carewatchd=$top_builddir/daemon/carewatchd
carewatch=$top_builddir/cli/carewatch

# servers of its own, also when make bench (which has its own) runs it
while read -r v; do unset "$v"; done < <(compgen -e | grep '^CW_')
# shellcheck source=tests/lib/servers.sh
. "$top_srcdir/tests/lib/servers.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/cw-storm.XXXXXX")
chmod 755 "$work"
ok=0
cleanup() {
	cw_servers_stop
	if [[ $ok == 1 && ${BENCH_KEEP:-0} != 1 ]]; then rm -rf "$work"; else echo "storm: kept $work" >&2; fi
}
trap cleanup EXIT

cw_servers_start "$work/servers" >/dev/null
mkdir -p "$work/spool"
chmod 700 "$work/spool"
od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$work/id.key"
conf=$work/carewatchd.conf
cat >"$conf" <<INI
[mqtt]
host = 127.0.0.1
port = $CW_MQ_PORT
client_id = carewatchd-storm
[database]
conninfo = $CW_CONNINFO
[http]
listen = off
[spool]
dir = $work/spool
[privacy]
id_key_file = $work/id.key
[daemon]
# 1,000 heartbeats a device in a moment: no flood control here
flood_rate = 0
${BENCH_DAEMON_CONF:-}
INI
"$carewatch" -c "$conf" db migrate >/dev/null
for k in areas stations volunteers elders devices; do
	"$carewatch" -c "$conf" import "$k" "$sample/$k.csv" >/dev/null
done
# the persistent session: subscribed once, then queued for while down
"$carewatchd" -c "$conf" >>"$work/daemon.log" 2>&1 &
pid=$!
for ((i = 0; i < 300; i++)); do
	grep -q 'event=mqtt_up' "$work/daemon.log" && break
	sleep 0.1
done
grep -q 'event=mqtt_up' "$work/daemon.log" || { echo "storm: daemon did not start" >&2; exit 1; }
kill -TERM "$pid"
wait "$pid" || true

devs=$(awk -F, 'NR > 1 && $2 == "smoke" && n++ < 50 { print $1 }' "$sample/devices.csv")
sos=$(awk -F, 'NR > 1 && $2 == "sos_button" { print $1; exit }' "$sample/devices.csv")
: >"$work/results"
for ((r = 1; r <= rounds; r++)); do
	# shellcheck disable=SC2086 # the device ids are words
	python3 "$top_srcdir/bench/storm.py" "$carewatchd" "$conf" "$work/daemon.log" \
		"$CW_MQ_PORT" carewatch "$CW_CONNINFO" "$CW_PG_BIN/psql" "$sos" $devs | tee -a "$work/results"
	# the incident is resolved so that the next round's SOS opens its own
	"$CW_PG_BIN/psql" -X -q "$CW_CONNINFO" -c "UPDATE incidents SET state = 'resolved', resolved_at = now(), outcome = 'test' WHERE state <> 'resolved'" >/dev/null
done
python3 - "$work/results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
for k, goal in (("reconnect_to_offer_ms", 500), ("start_to_offer_ms", None), ("start_to_all_stored_ms", None)):
    v = sorted(r[k] for r in rows)
    s = "storm %-24s min %7.1f  median %7.1f  max %7.1f ms" % (k, v[0], statistics.median(v), v[-1])
    if goal:
        s += "   median/goal %.2f (goal %d ms, contract 1000 ms)" % (statistics.median(v) / goal, goal)
    print(s)
PY
ok=1
