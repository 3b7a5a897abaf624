#!/bin/bash
# demo.sh - the carewatch demo (README): a private PostgreSQL and mosquitto,
# the sample county, carewatchd, and the simulator publishing alarms and
# answering offers in the foreground. Ctrl-C stops everything.
#
#   tools/demo.sh [simulator options...]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
top=$PWD
run=$top/run/demo
conf=$run/carewatchd.conf

cat <<EOF
carewatch demo
  1. installs missing Debian packages and builds carewatch where needed
  2. starts a private PostgreSQL and mosquitto on 127.0.0.1 under run/demo/
  3. creates the schema and imports the sample county (sql/sample/)
  4. starts carewatchd (log: run/demo/carewatchd.log), then the simulator:
     devices raise alarms, stations and volunteers take or ignore offers,
     offers left unanswered pass on after 20 s and escalate after a minute
Press Ctrl-C to stop everything.

EOF

# True when pid is a live process (not a zombie).
alive() {
	[[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null &&
		[[ $(sed 's/^.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null) != Z ]]
}

# Sends signal $2 to pid $1 and waits up to $3 tenths of a second for it to
# end; then kills it.
# shellcheck disable=SC2317 # called from the EXIT trap
stop_pid() {
	local pid=$1 sig=$2 tries=$3 i
	alive "$pid" || return 0
	kill -"$sig" "$pid" 2>/dev/null || true
	for ((i = 0; i < tries; i++)); do
		alive "$pid" || return 0
		sleep 0.1
	done
	echo "demo: pid $pid did not stop; killing it" >&2
	kill -KILL "$pid" 2>/dev/null || true
}

# Sets key in [section] of an INI file to value; fails when the key is not
# in the file, so that the demo notices when etc/carewatchd.conf changes.
conf_set() {
	local file=$1 section=$2 key=$3 value=$4
	SECTION=$section KEY=$key VALUE=$value awk '
		/^[ \t]*\[/ { s = $0; gsub(/[][ \t]/, "", s) }
		s == ENVIRON["SECTION"] && $0 ~ "^[ \t]*" ENVIRON["KEY"] "[ \t]*=" {
			print ENVIRON["KEY"] " = " ENVIRON["VALUE"]; found = 1; next
		}
		{ print }
		END { exit !found }' "$file" >"$file.new" || {
		echo "demo: no key $key in [$section] of etc/carewatchd.conf" >&2
		rm -f "$file.new"
		return 1
	}
	mv "$file.new" "$file"
}

# A demo left running would lose its servers under it: refuse.
if [[ -f $run/carewatchd.pid ]] && alive "$(cat "$run/carewatchd.pid")"; then
	echo "demo: already running (carewatchd pid $(cat "$run/carewatchd.pid")); stop it first" >&2
	exit 1
fi

echo "== dependencies"
tests/lib/install-deps.sh

echo "== build"
mkdir -p m4
[[ -x configure ]] || autoreconf -fi
[[ -f Makefile ]] || ./configure
make -j2
for p in daemon/carewatchd cli/carewatch tools/cw-sim; do
	[[ -x $p ]] || {
		echo "demo: $p was not built" >&2
		exit 1
	}
done

# shellcheck source=tests/lib/servers.sh
. tests/lib/servers.sh

daemon_pid=
sim_pid=

# Stops, in order, the simulator, the daemon and the servers.
# shellcheck disable=SC2317 # the EXIT trap
cleanup() {
	trap '' INT TERM
	echo
	echo "== stopping"
	[[ -z $sim_pid ]] || stop_pid "$sim_pid" TERM 50
	[[ -z $daemon_pid ]] || stop_pid "$daemon_pid" TERM 150
	rm -f "$run/carewatchd.pid"
	cw_servers_stop
	echo "demo stopped; logs and data are in run/demo/"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

echo "== servers"
rm -rf "$run"
mkdir -p "$run"
chmod 755 "$top/run" "$run"
cw_servers_start "$run"

echo "== configuration"
http_port=$(cw_free_port "$CW_PGPORT" "$CW_MQ_PORT")
mkdir -p "$run/spool"
chmod 700 "$run/spool"
(
	umask 077
	od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$run/id.key"
)
cp etc/carewatchd.conf "$conf"
conf_set "$conf" mqtt host 127.0.0.1
conf_set "$conf" mqtt port "$CW_MQ_PORT"
conf_set "$conf" mqtt client_id carewatchd-demo
conf_set "$conf" mqtt username ""
conf_set "$conf" mqtt password_file ""
conf_set "$conf" database conninfo "$CW_CONNINFO"
conf_set "$conf" http listen "127.0.0.1:$http_port"
conf_set "$conf" dispatch offer_timeout_p1_s 20
conf_set "$conf" dispatch offer_timeout_p2_s 40
conf_set "$conf" dispatch escalate_after_s 60
conf_set "$conf" dispatch retry_s 10
conf_set "$conf" spool dir "$run/spool"
conf_set "$conf" privacy id_key_file "$run/id.key"
daemon/carewatchd -n -c "$conf"
echo "wrote run/demo/carewatchd.conf"

echo "== database"
cli/carewatch -c "$conf" db migrate
for kind in areas stations volunteers elders devices; do
	cli/carewatch -c "$conf" import "$kind" "sql/sample/$kind.csv"
done

echo "== operator account"
# The console and the API need a token; only its hash is stored.
(
	umask 077
	cli/carewatch -c "$conf" user add demo --role supervisor >"$run/token"
)
echo "created user demo (supervisor); its token is in run/demo/token"

echo "== carewatchd"
# In its own session: Ctrl-C reaches only the simulator and this script,
# which then stops the daemon with SIGTERM, in order.
setsid daemon/carewatchd -c "$conf" >"$run/carewatchd.log" 2>&1 &
daemon_pid=$!
disown "$daemon_pid"
echo "$daemon_pid" >"$run/carewatchd.pid"
for ((i = 0; i < 150; i++)); do
	if ! alive "$daemon_pid"; then
		echo "demo: carewatchd exited:" >&2
		tail -n 20 "$run/carewatchd.log" >&2
		exit 1
	fi
	grep -q 'event=ready' "$run/carewatchd.log" && break
	sleep 0.1
done
if ! grep -q 'event=ready' "$run/carewatchd.log"; then
	echo "demo: carewatchd not ready after 15 s (see run/demo/carewatchd.log)" >&2
	exit 1
fi
echo "carewatchd pid $daemon_pid is ready (log: run/demo/carewatchd.log)"

cat <<EOF

The operator console: http://127.0.0.1:$http_port/
  sign in with the token in run/demo/token: $(cat "$run/token")

In another terminal:
  export CAREWATCH_TOKEN=\$(cat run/demo/token)
  cli/carewatch -c run/demo/carewatchd.conf incidents
  cli/carewatch -c run/demo/carewatchd.conf ack ID --note "phoned"
  cli/carewatch -c run/demo/carewatchd.conf resolve ID --outcome false_alarm
  curl -s -H "Authorization: Bearer \$CAREWATCH_TOKEN" http://127.0.0.1:$http_port/metrics
  cli/carewatch -c run/demo/carewatchd.conf incident ID
  mosquitto_sub -h 127.0.0.1 -p $CW_MQ_PORT -v -t 'carewatch/#'
  tail -f run/demo/carewatchd.log

== simulator (Ctrl-C to stop)
EOF
tools/cw-sim --host 127.0.0.1 --port "$CW_MQ_PORT" --sample sql/sample "$@" &
sim_pid=$!
rc=0
wait "$sim_pid" || rc=$?
sim_pid=
exit "$rc"
