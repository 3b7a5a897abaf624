#!/bin/bash
# console.sh - the operator console in a real browser: headless Chromium
# (Debian's chromium and chromium-driver, driven by python3-selenium)
# against the real carewatchd, PostgreSQL and mosquitto on 127.0.0.1
# (tests/lib/servers.sh), with the sample county (sql/sample) and an
# operator op1 made by `carewatch user add`. tests/console_test.py does the
# operator's part: sign in, see an SOS arrive (timed), open it, ack, dispatch
# by hand, resolve as a false alarm, check it with the CLI, see the
# disconnected banner come and go; it saves screenshots (Chinese and
# English) to $CW_ARTIFACTS (default: the test's temporary directory, kept)
# and prints their paths.
#
# Without chromium, chromedriver or python3-selenium it says so and fails:
# tests/lib/install-deps.sh installs them. Every wait is bounded; every
# process started here is stopped by its pid.
set -uo pipefail

top_srcdir=${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
CWD_BIN=$top_builddir/daemon/carewatchd
CLI_BIN=$top_builddir/cli/carewatch
SINK_BIN=$top_builddir/tests/notify_sink
SAMPLE=$top_srcdir/sql/sample
# Debian's python3-selenium is for Debian's python, whatever else is on PATH.
PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3 || echo python3)
CHROMIUM=$(command -v chromium || true)
CHROMEDRIVER=$(command -v chromedriver || true)

# --- what the browser test needs -------------------------------------------

missing=()
[[ -x $SINK_BIN ]] || missing+=("$SINK_BIN (make tests/notify_sink)")
[[ -n $CHROMIUM ]] || missing+=("chromium (Debian package chromium)")
[[ -n $CHROMEDRIVER ]] || missing+=("chromedriver (Debian package chromium-driver)")
"$PY" -c 'import selenium' 2>/dev/null || missing+=("selenium for $PY (Debian package python3-selenium)")
command -v mosquitto_pub >/dev/null 2>&1 || missing+=("mosquitto_pub (Debian package mosquitto-clients)")
if ((${#missing[@]} > 0)); then
	echo "console.sh: cannot run the browser test; missing:"
	printf '  %s\n' "${missing[@]}"
	echo "tests/lib/install-deps.sh installs them (as root)."
	echo "scenarios: 0 passed, 1 failed"
	exit 1
fi

# shellcheck source=lib/servers.sh
. "$top_srcdir/tests/lib/servers.sh"

# the CLI as the owner; the daemon as cw_daemon (migration 015's role)
export PGUSER=postgres
WORK=$(mktemp -d /tmp/cw-console.XXXXXX)
chmod 755 "$WORK"
ARTIFACTS=${CW_ARTIFACTS:-$WORK/artifacts}
mkdir -p "$ARTIFACTS"
CONF=$WORK/carewatchd.conf
DLOG=$WORK/carewatchd.log
PIDFILE=$WORK/carewatchd.pid
# console_test.py restarts the daemon with this: as cw_daemon, same pid
DAEMON_RUN=$WORK/carewatchd-as-cw_daemon
SINK_PID=
P=cwconsole

# True when pid is a live process (not a zombie).
alive() {
	[[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null &&
		[[ $(sed 's/^.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null) != Z ]]
}

# Stops the daemon (whichever pid the test left in the pid file): SIGTERM,
# then SIGKILL after 15 s.
# shellcheck disable=SC2317 # called from the EXIT trap
daemon_stop() {
	local pid i
	[[ -f $PIDFILE ]] || return 0
	pid=$(cat "$PIDFILE")
	alive "$pid" || return 0
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 150; i++)); do
		alive "$pid" || return 0
		sleep 0.1
	done
	echo "console.sh: carewatchd $pid ignored SIGTERM; killing it"
	kill -KILL "$pid" 2>/dev/null
}

# shellcheck disable=SC2317 # the EXIT trap
cleanup() {
	daemon_stop
	[[ -z $SINK_PID ]] || kill "$SINK_PID" 2>/dev/null
	cw_servers_stop
	if [[ ${KEEP:-0} == 1 ]]; then
		echo "console.sh: kept $WORK"
	elif [[ $ARTIFACTS == "$WORK"/* ]]; then
		# the screenshots stay where the output said; the rest goes
		find "$WORK" -mindepth 1 -maxdepth 1 ! -path "$ARTIFACTS" -exec rm -rf {} +
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

fail_setup() {
	echo "console.sh: $*"
	[[ -f $DLOG ]] && tail -n 30 "$DLOG" | sed 's/^/    daemon: /'
	echo "scenarios: 0 passed, 1 failed"
	exit 1
}

# --- servers, county, operator, daemon --------------------------------------

cw_servers_start "$WORK/srv" || fail_setup "the servers did not start"
HTTP_PORT=$(cw_free_port "$CW_PGPORT" "$CW_MQ_PORT") || fail_setup "no free port"
mkdir -p "$WORK/spool"
chmod 700 "$WORK/spool"
head -c 32 /dev/urandom | base64 >"$WORK/id.key"
cat >"$CONF" <<INI
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
[dispatch]
# long enough that the offer is still pending in the screenshots
offer_timeout_p1_s = 120
escalate_after_s = 600
[spool]
dir = $WORK/spool
[privacy]
id_key_file = $WORK/id.key
INI
"$CWD_BIN" -n -c "$CONF" >/dev/null || fail_setup "carewatchd -n refused the configuration"
"$CLI_BIN" -c "$CONF" db migrate >/dev/null || fail_setup "db migrate failed"
for kind in areas stations volunteers elders devices; do
	"$CLI_BIN" -c "$CONF" import "$kind" "$SAMPLE/$kind.csv" >/dev/null ||
		fail_setup "import $kind failed"
done

# The token is printed once, on stdout: its last word.
if ! out=$("$CLI_BIN" -c "$CONF" user add op1 --role operator 2>"$WORK/user.err"); then
	fail_setup "carewatch user add op1 --role operator failed: $(head -n 3 "$WORK/user.err")"
fi
TOKEN=$(printf '%s\n' "$out" | awk 'NF { last = $NF } END { print last }')
[[ -n $TOKEN ]] || fail_setup "carewatch user add printed no token"
cw_daemon_role || fail_setup "could not create the role cw_daemon"
printf '#!/bin/sh\nPGUSER=cw_daemon exec %q "$@"\n' "$CWD_BIN" >"$DAEMON_RUN"
chmod 755 "$DAEMON_RUN"

# systemd's notification socket stands in for readiness: READY=1
"$SINK_BIN" "$WORK/notify.sock" "$WORK/notify.log" 600 &
SINK_PID=$!
for ((i = 0; i < 50; i++)); do
	[[ -S $WORK/notify.sock ]] && break
	sleep 0.1
done
NOTIFY_SOCKET=$WORK/notify.sock "$DAEMON_RUN" -c "$CONF" >>"$DLOG" 2>&1 &
echo $! >"$PIDFILE"
for ((i = 0; i < 150; i++)); do
	grep -q 'READY=1' "$WORK/notify.log" 2>/dev/null && break
	alive "$(cat "$PIDFILE")" || fail_setup "carewatchd exited at start"
	sleep 0.1
done
grep -q 'READY=1' "$WORK/notify.log" 2>/dev/null || fail_setup "carewatchd not ready after 15 s"
cw_wait_port "$HTTP_PORT" 100 || fail_setup "carewatchd does not listen on 127.0.0.1:$HTTP_PORT"
cw_expect_daemon_user || fail_setup "carewatchd is not logged in as cw_daemon"
echo "carewatchd ready, console at http://127.0.0.1:$HTTP_PORT/"

# --- the browser ------------------------------------------------------------

CW_URL=http://127.0.0.1:$HTTP_PORT/ CW_TOKEN=$TOKEN CW_MQ_PORT=$CW_MQ_PORT \
	CW_TOPIC_PREFIX=$P CW_SAMPLE=$SAMPLE CW_CLI=$CLI_BIN CW_CONF=$CONF \
	CW_DAEMON_BIN=$DAEMON_RUN CW_DAEMON_PIDFILE=$PIDFILE CW_DAEMON_LOG=$DLOG \
	CW_ARTIFACTS=$ARTIFACTS CW_CHROMIUM=$CHROMIUM CW_CHROMEDRIVER=$CHROMEDRIVER \
	timeout 300 "$PY" "$top_srcdir/tests/console_test.py"
rc=$?
if ((rc != 0)); then
	echo "console.sh: the browser test failed (status $rc); daemon log, last 30 lines:"
	tail -n 30 "$DLOG" | sed 's/^/    /'
	# a timeout kill leaves no summary line: count it
	((rc == 124)) && echo "scenarios: 0 passed, 1 failed"
fi
# no id number (身份证号) of the county in the daemon's log, whatever happened
awk -F, 'NR > 1 && $NF != "" { print $NF }' "$SAMPLE/elders.csv" >"$WORK/id_numbers"
if grep -F -q -f "$WORK/id_numbers" "$DLOG"; then
	echo "FAIL: an id number in the daemon log"
	rc=1
fi
exit "$rc"
