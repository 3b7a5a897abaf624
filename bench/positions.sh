#!/bin/bash
# positions.sh - the CPU share of live positions (issue 7): 10,000
# volunteers, each reporting its OwnTracks position every 30 s (333 fixes a
# second), against carewatchd on the sample county plus those volunteers.
#
#   1. starts the servers (tests/lib/servers.sh), migrates, imports the
#      sample county, adds POS_USERS volunteers with an owntracks_user
#   2. starts carewatchd; measures its CPU time (utime + stime) over
#      POS_SECONDS idle, then over POS_SECONDS of fixes (bench/cw-positions)
#   3. checks every user's latest fix reached PostgreSQL, prints the share
#
# Environment: POS_USERS (default 10000), POS_INTERVAL (seconds between two
# fixes of one user, default 30), POS_SECONDS (default 60).
set -euo pipefail

top_srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
top_builddir=${top_builddir:-$PWD}
[[ -x $top_builddir/daemon/carewatchd ]] || top_builddir=$top_srcdir
users=${POS_USERS:-10000}
interval=${POS_INTERVAL:-30}
secs=${POS_SECONDS:-60}
carewatchd=$top_builddir/daemon/carewatchd
carewatch=$top_builddir/cli/carewatch
cw_positions=$top_builddir/bench/cw-positions
sample=$top_srcdir/sql/sample

say() { echo "positions: $*" >&2; }
die() {
	say "$*"
	exit 1
}
for p in "$carewatchd" "$carewatch" "$cw_positions"; do
	[[ -x $p ]] || die "$p is not built (run make first)"
done

# shellcheck source=tests/lib/servers.sh
. "$top_srcdir/tests/lib/servers.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/cw-pos.XXXXXX")
chmod 755 "$work"
daemon_pid=
cleanup() {
	[[ -n $daemon_pid ]] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
	cw_servers_stop
	rm -rf "$work"
}
trap cleanup EXIT

# utime + stime of a process, in seconds.
cpu_s() {
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat"
}

cw_servers_start "$work/srv" >/dev/null || die "servers did not start"
http_port=$(cw_free_port "$CW_PGPORT" "$CW_MQ_PORT")
conf=$work/carewatchd.conf
cat >"$conf" <<INI
[mqtt]
host = 127.0.0.1
port = $CW_MQ_PORT
client_id = carewatchd-positions
[database]
conninfo = $CW_CONNINFO
[http]
listen = 127.0.0.1:$http_port
[spool]
dir = $work/spool
INI
mkdir -p "$work/spool"
export CAREWATCH_SQLDIR=$top_srcdir/sql
"$carewatch" -c "$conf" db migrate >/dev/null
for kind in areas stations volunteers elders devices; do
	"$carewatch" -c "$conf" import "$kind" "$sample/$kind.csv" >/dev/null
done
area=$(awk -F, 'NR == 2 { print $3; exit }' "$sample/volunteers.csv")
cw_psql -q -c "INSERT INTO volunteers (id, name, area_code, lat, lon, owntracks_user)
	SELECT 'OT' || i, 'bench', '$area', 36.2 + random() * 0.6, 113.1 + random() * 0.6,
	'ot-' || i FROM generate_series(0, $users - 1) AS i" >/dev/null

setsid "$carewatchd" -c "$conf" >"$work/daemon.log" 2>&1 &
daemon_pid=$!
for ((i = 0; i < 200; i++)); do
	grep -q 'event=mqtt_up' "$work/daemon.log" && break
	sleep 0.1
done
grep -q 'event=mqtt_up' "$work/daemon.log" || die "carewatchd did not come up"
grep -o 'responders=[0-9]*' "$work/daemon.log" | head -1 | sed 's/^/positions: loaded /' >&2

say "idle for $secs s"
c0=$(cpu_s "$daemon_pid")
sleep "$secs" # measuring idle CPU: time must pass
c1=$(cpu_s "$daemon_pid")
say "$users users every $interval s for $secs s"
t0=$(date +%s.%N)
out=$("$cw_positions" --host 127.0.0.1 --port "$CW_MQ_PORT" --users "$users" \
	--interval "$interval" --seconds "$secs") || die "cw-positions failed: $out"
t1=$(date +%s.%N)
c2=$(cpu_s "$daemon_pid")
echo "$out"
sent=$(sed -n 's/.*sent=\([0-9]*\).*/\1/p' <<<"$out")
want=$((sent < users ? sent : users))
for ((i = 0; i < 100; i++)); do
	n=$(cw_psql -At -c "SELECT count(*) FROM volunteers WHERE live_at IS NOT NULL")
	[[ $n -ge $want ]] && break
	sleep 0.1
done
[[ $n -ge $want ]] || die "only $n of $want users have a stored position"
python3 - "$c0" "$c1" "$c2" "$t0" "$t1" "$sent" "$n" <<'PY'
import sys
c0, c1, c2, t0, t1 = map(float, sys.argv[1:6])
sent, stored = int(sys.argv[6]), int(sys.argv[7])
wall = t1 - t0
busy = c2 - c1
idle = c1 - c0
print("RESULT fixes=%d over %.1f s (%.0f/s); volunteers with a stored position=%d" % (sent, wall, sent / wall, stored))
print("RESULT daemon CPU: %.2f s busy vs %.2f s idle in as long: share of one core %.2f %% (idle %.2f %%), %.1f us per fix"
      % (busy, idle, 100 * busy / wall, 100 * idle / wall, 1e6 * max(busy - idle, 0) / sent))
PY
