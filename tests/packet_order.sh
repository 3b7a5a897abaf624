#!/bin/bash
# packet_order.sh - the real carewatchd against tests/fakebroker, a one-client
# MQTT broker that checks the daemon's packets against PostgreSQL: while the
# events table is locked no PUBACK may arrive, and every PUBACK and every
# {prefix}/dev/D1/ack follows its event's commit (SPEC.md section 8). The
# database is a private PostgreSQL from tests/lib/servers.sh (which starts a
# mosquitto too; the daemon is not pointed at it). Every wait is bounded.
set -uo pipefail

top_srcdir=${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
CWD_BIN=$top_builddir/daemon/carewatchd
BROKER_BIN=$top_builddir/tests/fakebroker
# The CLI is moving from tools/ to cli/: take whichever is built.
CLI_BIN=$top_builddir/cli/carewatch
[[ -x $CLI_BIN ]] || CLI_BIN=$top_builddir/tools/carewatch
# shellcheck source=lib/servers.sh
. "$top_srcdir/tests/lib/servers.sh"
# shellcheck source=lib/check.sh
. "$top_srcdir/tests/lib/check.sh"

# the CLI and the fake broker as the owner; the daemon as cw_daemon
# (migration 015's role)
export PGUSER=postgres
WORK=$(mktemp -d /tmp/cw-order.XXXXXX)
chmod 755 "$WORK"
DAEMON_PID=
BROKER_PID=
P=order
DB=carewatch

# shellcheck disable=SC2317 # the EXIT trap
cleanup() {
	local pid
	for pid in $DAEMON_PID $BROKER_PID; do
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	cw_servers_stop
	if [[ ${KEEP:-0} != 1 ]]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

# True while pid is a live process (not a zombie).
alive() {
	[[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null &&
		[[ $(sed 's/^.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null) != Z ]]
}

# The county: elder E1 with call button D1, one volunteer and one station.
make_fixture() {
	local f=$WORK/csv
	mkdir -p "$f"
	cat >"$f/areas.csv" <<CSV
code,name,parent_code
140426000000,黎城县,
140426100000,黎侯镇,140426000000
140426100200,东关村,140426100000
CSV
	cat >"$f/stations.csv" <<CSV
id,name,kind,area_code,lat,lon,phone,capacity,skills,on_duty
S_HOME,东关村养老服务站,village_station,140426100200,36.518,113.40,0355-6000001,2,first_aid,24h
CSV
	cat >"$f/volunteers.csv" <<CSV
id,name,area_code,lat,lon,phone,skills,max_km,owntracks_user,active
V1,李一,140426100200,36.5027,113.40,13800000001,first_aid,,,yes
CSV
	cat >"$f/elders.csv" <<CSV
id,name,birth_date,area_code,lat,lon,gender,categories,station_id
E1,张桂兰,1948-03-02,140426100200,36.50,113.40,F,living_alone,S_HOME
CSV
	cat >"$f/devices.csv" <<CSV
id,kind,elder_id,ecosystem,external_id,heartbeat_s
D1,sos_button,E1,native,,
CSV
}

setup() {
	local k
	for k in "$CWD_BIN" "$CLI_BIN" "$BROKER_BIN"; do
		[[ -x $k ]] || die "$k is not built" || return 1
	done
	cw_servers_start "$WORK/srv" || return 1
	make_fixture
	# the fake broker's (it locks the events table): the owner's
	CONNINFO="host=127.0.0.1 port=$CW_PGPORT dbname=$DB user=postgres"
	BROKER_PORT=$(cw_free_port "$CW_PGPORT" "$CW_MQ_PORT") || return 1
	CONF=$WORK/carewatchd.conf
	mkdir -p "$WORK/spool"
	cat >"$CONF" <<INI
[mqtt]
host = 127.0.0.1
port = $BROKER_PORT
client_id = cwd-$P
topic_prefix = $P
keepalive = 10
# the fake broker takes one client: everything on the main session
publish_session = off
[database]
conninfo = host=127.0.0.1 port=$CW_PGPORT dbname=$DB
[spool]
dir = $WORK/spool
INI
	"$CLI_BIN" -c "$CONF" db migrate >/dev/null || die "carewatch db migrate" || return 1
	for k in areas stations volunteers elders devices; do
		"$CLI_BIN" -c "$CONF" import "$k" "$WORK/csv/$k.csv" >/dev/null ||
			die "carewatch import $k" || return 1
	done
	cw_daemon_role "$CONNINFO" || return 1
}

gone() { ! alive "$1"; }

# True once the fake broker listens (or has exited: the caller looks).
broker_up() {
	grep -q 'listening on' "$WORK/broker.log" || gone "$BROKER_PID"
}

# Sends SIGTERM to the daemon and waits for it; sets DAEMON_STATUS.
daemon_stop() {
	kill -TERM "$DAEMON_PID" 2>/dev/null
	wait_until 20 "carewatchd to stop on SIGTERM" gone "$DAEMON_PID" ||
		kill -9 "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_STATUS=$?
	DAEMON_PID=
}

# The fake broker's verdict on the order of PUBACKs, acks and commits.
s_puback_after_commit() {
	local rc
	"$BROKER_BIN" --port "$BROKER_PORT" --conninfo "$CONNINFO" --prefix "$P" \
		--device D1 --count 20 --timeout 15 >"$WORK/broker.log" 2>&1 &
	BROKER_PID=$!
	wait_until 5 "fakebroker to listen" broker_up || return 1
	alive "$BROKER_PID" || die "fakebroker exited at start: $(cat "$WORK/broker.log")" ||
		return 1
	env PGUSER=cw_daemon "$CWD_BIN" -c "$CONF" >"$WORK/daemon.log" 2>&1 &
	DAEMON_PID=$!
	# the broker's own deadlines add up to under 60 s
	wait_until 90 "fakebroker's verdict" gone "$BROKER_PID" || return 1
	wait "$BROKER_PID"
	rc=$?
	BROKER_PID=
	sed 's/^/    /' "$WORK/broker.log"
	((rc == 0)) || die "fakebroker exited with status $rc" || return 1
	alive "$DAEMON_PID" || die "carewatchd died" || return 1
	cw_expect_daemon_user "$CONNINFO" || return 1
	daemon_stop
	((DAEMON_STATUS == 0)) || die "carewatchd exited with status $DAEMON_STATUS on SIGTERM" ||
		return 1
	note "ok: carewatchd stopped cleanly"
}

pass=0
fail=0
name="PUBACK and ack only after the commit, in order (fake broker)"
echo "--- $name"
if setup && s_puback_after_commit; then
	pass=$((pass + 1))
	echo "PASS: $name"
else
	fail=$((fail + 1))
	echo "FAIL: $name"
	if [[ -f $WORK/broker.log ]] && [[ -n $BROKER_PID ]]; then
		sed 's/^/    /' "$WORK/broker.log"
	fi
	echo "    daemon log (last 30 lines):"
	tail -n 30 "$WORK/daemon.log" 2>/dev/null | sed 's/^/      /'
fi
echo "scenarios: $pass passed, $fail failed"
((fail == 0))
