#!/bin/bash
# scenarios.sh - black-box scenarios: the real carewatchd against a private
# PostgreSQL and mosquitto on 127.0.0.1 (tests/lib/servers.sh). Each scenario
# gets a fresh database cloned from a migrated template with a small county,
# its own topic prefix and MQTT client id, and its own daemon. Every wait is
# for a real message or row, with a deadline.
set -uo pipefail

top_srcdir=${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
CWD_BIN=$top_builddir/daemon/carewatchd
CLI_BIN=$top_builddir/cli/carewatch
# shellcheck source=lib/servers.sh
. "$top_srcdir/tests/lib/servers.sh"
# shellcheck source=lib/check.sh
. "$top_srcdir/tests/lib/check.sh"
# shellcheck source=lib/county.sh
. "$top_srcdir/tests/lib/county.sh"

export PGUSER=postgres
WORK=$(mktemp -d /tmp/cw-scen.XXXXXX)
chmod 755 "$WORK"
DAEMON_PID=
SUB_PID=
LOCK_PID=

cleanup() {
	[[ -n $DAEMON_PID ]] && kill -9 "$DAEMON_PID" 2>/dev/null
	[[ -n $SUB_PID ]] && kill "$SUB_PID" 2>/dev/null
	[[ -n $LOCK_PID ]] && kill "$LOCK_PID" 2>/dev/null
	cw_servers_stop
	if [[ ${KEEP:-0} != 1 ]]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

pass=0
fail=0
failed_names=()

# --- helpers ---------------------------------------------------------------

sql() {
	"$CW_PG_BIN/psql" -X -A -t -q -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$CW_PGPORT dbname=$DB user=postgres" -c "$1"
}

# Number of captured messages on a topic whose payload matches a regex.
count_msgs() { # topic-suffix regex
	grep -E -c "^$P/$1 .*$2" "$MSGS" 2>/dev/null || true
}

has_msgs() { [[ $(count_msgs "$1" "$2") -ge $3 ]]; }

# Waits for the n-th message on topic matching regex.
wait_msg() { # secs topic-suffix regex [n]
	wait_until "$1" "message $2 ~ $3" has_msgs "$2" "$3" "${4:-1}"
}

sql_is() { [[ "$(sql "$1")" == "$2" ]]; }

wait_sql() { # secs query expected
	wait_until "$1" "[$2] = $3" sql_is "$2" "$3"
}

pub() { # topic-suffix payload
	mosquitto_pub -h 127.0.0.1 -p "$CW_MQ_PORT" -q 1 -t "$P/$1" -m "$2"
}

reply() { # responder incident action [extra json]
	pub "resp/$1/reply" "{\"incident\":$2,\"action\":\"$3\"${4:+,$4}}"
}

# Captures everything under the scenario's prefix into $MSGS.
sub_start() {
	: >"$MSGS"
	mosquitto_sub -h 127.0.0.1 -p "$CW_MQ_PORT" -q 1 -v -t "$P/#" >"$MSGS" 2>/dev/null &
	SUB_PID=$!
	local i
	for ((i = 0; i < 100; i++)); do
		pub probe "p$i"
		if grep -q "^$P/probe " "$MSGS"; then return 0; fi
		sleep 0.05
	done
	die "subscriber did not come up"
}

write_conf() { # extra ini lines...
	cat >"$CONF" <<INI
[mqtt]
host = ${MQ_HOST:-127.0.0.1}
port = $CW_MQ_PORT
client_id = cwd-$P
topic_prefix = $P
keepalive = 10
[database]
conninfo = host=${PG_HOST:-127.0.0.1} port=$CW_PGPORT dbname=$DB ${PG_EXTRA:-}
commit_timeout_s = ${T_COMMIT:-10}
[dispatch]
offer_timeout_p1_s = ${T_P1:-5}
offer_timeout_p2_s = ${T_P2:-5}
max_offers = 3
escalate_after_s = ${T_ESC:-60}
retry_s = 1
${NIGHT:+night = $NIGHT}
[spool]
dir = ${SPOOL_DIR:-$SDIR/spool}
${SPOOL_MAX:+max_mb = $SPOOL_MAX}
[privacy]
id_key_file = $WORK/key
[http]
listen = 127.0.0.1:$HTTP_PORT
${EXTRA_CONF:-}
${EXTRA_INI:-}
INI
}

# --- the HTTP API ------------------------------------------------------------
# Users made in the template (see setup): tokens are known to the tests.
TOK_OP=cw_test_operator_token_0001
TOK_SUP=cw_test_supervisor_token_0002
TOK_AUD=cw_test_auditor_token_0003
TOK_TWN=cw_test_township_token_0004   # operator of this township (140426100)
TOK_OTHER=cw_test_elsewhere_token_0005 # operator of another township

# api METHOD PATH [TOKEN] [BODY] [curl args...]: sets CODE and BODY.
api() {
	local method=$1 path=$2 tok=${3:-} body=${4:-} args=()
	shift $(($# < 4 ? $# : 4))
	[[ -n $tok ]] && args+=(-H "Authorization: Bearer $tok")
	[[ -n $body ]] && args+=(--data-binary "$body")
	CODE=$(curl -s -m 10 -o "$SDIR/api.out" -w '%{http_code}' -X "$method" "${args[@]}" "$@" \
		"http://127.0.0.1:$HTTP_PORT$path") || CODE=000
	BODY=$(cat "$SDIR/api.out" 2>/dev/null)
}

# expect_api CODE METHOD PATH [TOKEN] [BODY]: the status must be CODE.
expect_api() {
	local want=$1
	shift
	api "$@"
	[[ $CODE == "$want" ]] || die "$1 $2 -> $CODE, expected $want: $BODY"
}

# A JSON field of BODY (python3: jq is not assumed).
jfield() { # python-expression-on-j
	python3 -c "import json,sys; j=json.load(sys.stdin); print($1)" <<<"$BODY"
}

# The daemon logs in as cw_daemon, a member of migration 015's
# carewatch_daemon and nothing else (least privilege); the CLI, as an
# operator's shell would, as the owner (PGUSER, the conninfo naming no user).
daemon_start() {
	# 7>&-: not the write end of lock_events' pipe, whose reader must see
	# its end when the lock is let go
	env PGUSER=cw_daemon ${DAEMON_ENV:-} "$CWD_BIN" -c "$CONF" >>"$SDIR/daemon.log" 2>&1 7>&- &
	DAEMON_PID=$!
	local start_lines
	start_lines=$1
	wait_until 10 "daemon ready" ready_after "$start_lines"
}

ready_after() { [[ $(grep -c 'event=ready' "$SDIR/daemon.log") -gt $1 ]]; }

daemon_kill() { # signal
	kill "-$1" "$DAEMON_PID" 2>/dev/null
	local i
	for ((i = 0; i < 200; i++)); do
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.05
	done
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_STATUS=$?
	DAEMON_PID=
}

# Incident id from the offer message payload: {"incident":N,...}
offer_incident() { # responder
	grep -E "^$P/dispatch/$1 .*\"offer\"" "$MSGS" | tail -1 | sed -E 's/.*"incident":([0-9]+).*/\1/'
}

# Publishes an alarm, waits for the first offer (to V1, the nearest) and
# sets inc to its incident id.
alarm_offered() { # device payload
	pub "dev/$1/event" "$2"
	wait_msg 5 dispatch/V1 '"offer":1' || return 1
	inc=$(offer_incident V1)
}

# Sets up a fresh database, config and daemon for one scenario.
scenario_begin() { # name
	: "$1" # the name is for the reader; the prefix identifies the run
	P="t$((++SEQ))"
	DB="s_$P"
	SDIR=$WORK/$P
	mkdir -p "$SDIR"
	chmod 755 "$SDIR"
	MSGS=$SDIR/msgs
	CONF=$SDIR/carewatchd.conf
	HTTP_PORT=$(cw_free_port "$CW_PGPORT" "$CW_MQ_PORT") || return 1
	cw_psql -c "CREATE DATABASE $DB TEMPLATE cw_template" >/dev/null || return 1
	write_conf
	sub_start || return 1
	[[ -n ${NO_START:-} ]] && return 0
	daemon_start 0 || return 1
}

scenario_end() {
	[[ -n $DAEMON_PID ]] && daemon_kill TERM
	[[ -n ${DNS_PID:-} ]] && kill "$DNS_PID" 2>/dev/null && wait "$DNS_PID" 2>/dev/null
	DNS_PID=
	[[ -n $SUB_PID ]] && kill "$SUB_PID" 2>/dev/null && wait "$SUB_PID" 2>/dev/null
	SUB_PID=
	# no personal data in the logs, whatever happened
	if grep -E -q '张桂兰|13900000001|140426194|Hidden St' "$SDIR/daemon.log"; then
		die "personal data in the daemon log"
		return 1
	fi
	# no batch ever failed except while the database was away
	if grep -q 'event=batch_failed.*lost=0' "$SDIR/daemon.log"; then
		die "a batch failed: $(grep -m1 'event=batch_failed' "$SDIR/daemon.log")"
		return 1
	fi
	# the off-duty station is never offered anything
	if [[ $(sql "SELECT count(*) FROM offers WHERE responder_id = 'S_OFF'") != 0 ]]; then
		die "off-duty station S_OFF was offered an incident"
		return 1
	fi
}

# ONLY=fn1,fn2 runs just those scenarios (for a developer; CI runs all).
run() { # name function
	local name=$1 fn=$2
	if [[ -n ${ONLY:-} && ,$ONLY, != *",$fn,"* ]]; then return 0; fi
	echo "--- $name"
	if $fn && scenario_end; then
		pass=$((pass + 1))
		echo "PASS: $name"
	else
		[[ -n $DAEMON_PID ]] && kill -9 "$DAEMON_PID" 2>/dev/null
		DAEMON_PID=
		[[ -n $SUB_PID ]] && kill "$SUB_PID" 2>/dev/null
		SUB_PID=
		[[ -n ${DNS_PID:-} ]] && kill "$DNS_PID" 2>/dev/null
		DNS_PID=
		fail=$((fail + 1))
		failed_names+=("$name")
		echo "FAIL: $name"
		echo "    daemon log (last 30 lines):"
		tail -n 30 "$SDIR/daemon.log" 2>/dev/null | sed 's/^/      /'
		echo "    messages (last 20):"
		tail -n 20 "$MSGS" 2>/dev/null | cut -c1-200 | sed 's/^/      /'
	fi
}

# --- the county used by every scenario: make_fixture, tests/lib/county.sh --

setup() {
	cw_servers_start "$WORK/srv" || return 1
	head -c 32 /dev/urandom | base64 >"$WORK/key"
	make_fixture
	cw_psql -c "CREATE DATABASE cw_template" >/dev/null || return 1
	local conf=$WORK/template.conf k
	printf '[database]\nconninfo = host=127.0.0.1 port=%s dbname=cw_template user=postgres\n[privacy]\nid_key_file = %s\n' \
		"$CW_PGPORT" "$WORK/key" >"$conf"
	"$CLI_BIN" -c "$conf" db migrate >/dev/null || return 1
	for k in areas stations volunteers elders devices; do
		"$CLI_BIN" -c "$conf" import "$k" "$WORK/csv/$k.csv" >/dev/null || return 1
	done
	cw_daemon_role || return 1
	add_user op operator "" "$TOK_OP" || return 1
	add_user sup supervisor "" "$TOK_SUP" || return 1
	add_user aud auditor "" "$TOK_AUD" || return 1
	add_user twn operator 140426100 "$TOK_TWN" || return 1
	add_user other operator 140426200 "$TOK_OTHER" || return 1
}

# A user in the template with a known token (only its hash is stored).
add_user() { # name role area-prefix token
	"$CW_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
		"host=127.0.0.1 port=$CW_PGPORT dbname=cw_template user=postgres" \
		-c "INSERT INTO users (name, role, area_prefix, token_sha256)
		    VALUES ('$1', '$2', '$3', encode(sha256('$4'::bytea), 'hex'))" >/dev/null
}

# --- scenarios -------------------------------------------------------------

s_sos_lifecycle() {
	scenario_begin sos || return 1
	local inc
	cw_expect_daemon_user || return 1
	alarm_offered D1 '{"id":"e-1","type":"sos","ts":"2026-11-22T08:15:00+08:00"}' || return 1
	wait_msg 5 dev/D1/ack "\"incident\":$inc" || return 1
	# the offer carries what the responder needs and never the ID number
	grep -E "^$P/dispatch/V1 " "$MSGS" | grep -q '"distance_m":30[0-9]' || die "distance_m ~300" || return 1
	grep -E "^$P/dispatch/V1 " "$MSGS" | grep -q '"alarm":"e-1"' || die "alarm id in offer" || return 1
	if grep -q 'id_number\|1404261948' "$MSGS"; then die "ID number on MQTT"; return 1; fi
	# the elder's own station is informed of a priority-1 incident
	wait_msg 5 dispatch/S_HOME '"info":"priority1"' || return 1
	reply V1 "$inc" accept '"note":"on my way"'
	wait_sql 5 "SELECT state FROM incidents WHERE id=$inc" accepted || return 1
	reply V1 "$inc" arrived
	wait_sql 5 "SELECT state FROM incidents WHERE id=$inc" on_site || return 1
	reply V1 "$inc" "done" '"outcome":"emergency_handled"'
	wait_sql 5 "SELECT state || ':' || outcome FROM incidents WHERE id=$inc" resolved:emergency_handled || return 1
	expect_eq 1 "$(sql "SELECT count(*) FROM visits WHERE incident_id=$inc AND in_person")" "in-person visit recorded" || return 1
	expect_eq 1 "$(sql "SELECT count(*) FROM offers WHERE incident_id=$inc")" "offers" || return 1
	expect_eq "V1:accepted" "$(sql "SELECT responder_id || ':' || answer FROM offers WHERE incident_id=$inc")" "offer answer" || return 1
	"$CLI_BIN" -c "$CONF" incident "$inc" >"$SDIR/cli.txt" || die "carewatch incident failed" || return 1
	grep -q "state resolved" "$SDIR/cli.txt" || die "CLI shows the state" || return 1
	"$CLI_BIN" -c "$CONF" incident "$inc" --format json | grep -q '"answer": "accepted"' || die "CLI json" || return 1
}

s_decline_timeout_escalate() {
	T_P1=1.5 scenario_begin escalate || return 1
	local inc
	alarm_offered D1 '{"id":"e-2","type":"sos"}' || return 1
	reply V1 "$inc" decline
	wait_msg 5 dispatch/V2 '"offer":2' || return 1
	note "ok: decline -> second nearest V2"
	# V2 does not answer: after 1.5 s the offer goes to V3
	wait_msg 5 dispatch/V3 '"offer":3' || return 1
	note "ok: timeout -> next V3"
	# nobody accepts: escalated, county center alerted, home station forced
	wait_msg 5 dispatch/S_CC '"escalated":true' || return 1
	wait_msg 5 dispatch/S_HOME '"forced":true' || return 1
	wait_sql 5 "SELECT escalated FROM incidents WHERE id=$inc" t || return 1
	expect_eq "declined,timeout,timeout,pending" "$(sql "SELECT string_agg(answer, ',' ORDER BY seq) FROM offers WHERE incident_id=$inc")" "offer answers" || return 1
	expect_eq 0 "$(count_msgs dispatch/V_FAR .)" "offers to the volunteer beyond max_km" || return 1
	# everyone asked once (then the county center): nobody accepted, so the
	# round starts again with the nearest
	wait_msg 10 dispatch/S_CC '"offer":5' || return 1
	wait_msg 10 dispatch/V1 '"offer":6' || return 1
}

s_duplicate_event() {
	scenario_begin duplicate || return 1
	pub dev/D1/event '{"id":"e-dup","type":"sos"}'
	wait_msg 5 dispatch/V1 '"offer":1' || return 1
	pub dev/D1/event '{"id":"e-dup","type":"sos"}'
	# the second copy is acknowledged too, but changes nothing
	wait_msg 5 dev/D1/ack '"id":"e-dup"' 2 || return 1
	expect_eq 1 "$(sql "SELECT count(*) FROM events WHERE event_id='e-dup'")" "stored events" || return 1
	expect_eq 1 "$(sql "SELECT count(*) FROM incidents")" "incidents" || return 1
	expect_eq 1 "$(sql "SELECT count(*) FROM offers")" "offers" || return 1
	expect_eq 1 "$(count_msgs 'dispatch/V[0-9]' '"offer"')" "offer messages" || return 1
}

s_second_alarm_joins() {
	scenario_begin join || return 1
	local inc
	alarm_offered D1 '{"id":"e-a","type":"sos"}' || return 1
	pub dev/D2/event '{"id":"e-b","type":"smoke"}'
	wait_msg 5 dev/D2/ack "\"incident\":$inc" || return 1
	wait_sql 5 "SELECT alarm_count FROM incidents WHERE id=$inc" 2 || return 1
	expect_eq 1 "$(sql "SELECT count(*) FROM incidents")" "incidents" || return 1
	expect_eq "$inc,$inc" "$(sql "SELECT string_agg(incident_id::text, ',') FROM events WHERE event_id IN ('e-a','e-b')")" "both alarms on the incident" || return 1
	# another elder's two alarms back to back: opened and joined within one
	# commit, so the incident changes twice before its row is written
	printf '%s\n' '{"id":"e-c","type":"sos"}' '{"id":"e-d","type":"smoke"}' >"$SDIR/two.txt"
	mosquitto_pub -h 127.0.0.1 -p "$CW_MQ_PORT" -q 1 -t "$P/dev/D4/event" -l <"$SDIR/two.txt"
	wait_sql 5 "SELECT count(*) || ':' || max(alarm_count) FROM incidents WHERE elder_id='E2'" 1:2 || return 1
}

s_bad_input() {
	scenario_begin badinput || return 1
	local big
	big=$(head -c 6000 /dev/zero | tr '\0' 'x')
	pub dev/D1/event '{"id": "x", "type": '
	pub dev/NOPE/event '{"id":"e-1","type":"sos"}'
	pub dev/D1/event '{"id":"e-1","type":"meteor"}'
	pub dev/D1/event "{\"id\":\"big\",\"type\":\"sos\",\"data\":{\"x\":\"$big\"}}"
	printf '\xff\xfe\x00\x01garbage' | mosquitto_pub -h 127.0.0.1 -p "$CW_MQ_PORT" -q 1 -t "$P/dev/D1/event" -s
	pub dev/D1/event '[1,2,3]'
	pub resp/V1/reply '{"incident":"x"}'
	wait_msg 5 deadletter '"reason":"bad json"' || return 1
	wait_msg 5 deadletter '"reason":"unknown device"' || return 1
	wait_msg 5 deadletter '"reason":"unknown type"' || return 1
	wait_msg 5 deadletter '"reason":"oversize"' || return 1
	wait_msg 5 deadletter '"reason":"not a json object"' || return 1
	wait_msg 5 deadletter '"reason":"missing incident"' || return 1
	wait_msg 5 deadletter 'payload_b64' 7 || return 1
	wait_sql 5 "SELECT count(*) FROM dead_letters" 7 || return 1
	# the garbage is kept byte for byte
	expect_eq fffe000167617262616765 "$(sql "SELECT encode(payload, 'hex') FROM dead_letters WHERE length(payload) > 0 AND get_byte(payload, 0) = 255")" "garbage stored whole" || return 1
	# and the daemon still dispatches the next SOS
	pub dev/D1/event '{"id":"e-after","type":"sos"}'
	wait_msg 5 dispatch/V1 '"offer":1' || return 1
	kill -0 "$DAEMON_PID" || die "daemon died" || return 1
}

lock_held() {
	[[ $(sql "SELECT count(*) FROM pg_locks WHERE relation = 'events'::regclass AND mode = 'ShareRowExclusiveLock' AND granted") -ge 1 ]]
}

lock_waiting() {
	[[ $(sql "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO events%'") -ge 1 ]]
}

# Makes the daemon's next insert into events wait inside PostgreSQL: the
# event is received and its batch sent, but not committed.
lock_events() {
	local fifo=$SDIR/lock.fifo
	rm -f "$fifo"
	mkfifo "$fifo"
	"$CW_PG_BIN/psql" -X -q "host=127.0.0.1 port=$CW_PGPORT dbname=$DB user=postgres" <"$fifo" >/dev/null 2>&1 &
	LOCK_PID=$!
	exec 7>"$fifo"
	echo "BEGIN; LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE;" >&7
	wait_until 10 "the test's lock on events" lock_held
}

unlock_events() {
	echo "ROLLBACK;" >&7
	exec 7>&-
	wait "$LOCK_PID" 2>/dev/null
	LOCK_PID=
}

# kill -9 while the batch waits; its transaction is then aborted (the
# backend is terminated), so nothing was committed and nothing acknowledged.
s_kill_before_commit() {
	scenario_begin kill9 || return 1
	lock_events || return 1
	pub dev/D1/event '{"id":"e-k9","type":"sos"}'
	wait_until 10 "the daemon's insert to wait for the lock" lock_waiting || return 1
	note "ok: event received, its commit is pending"
	daemon_kill KILL
	sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO events%'" >/dev/null
	unlock_events
	expect_eq 0 "$(sql "SELECT count(*) FROM events WHERE event_id='e-k9'")" "stored before restart" || return 1
	expect_eq 0 "$(count_msgs dev/D1/ack 'e-k9')" "acks before restart" || return 1
	# The broker never got a PUBACK: it redelivers to the restarted daemon.
	daemon_start "$(grep -c 'event=ready' "$SDIR/daemon.log")" || return 1
	wait_msg 10 dispatch/V1 '"offer":1' || return 1
	wait_msg 5 dev/D1/ack '"id":"e-k9"' || return 1
	expect_eq 1 "$(sql "SELECT count(*) FROM events WHERE event_id='e-k9'")" "stored after restart" || return 1
	expect_eq 1 "$(sql "SELECT count(*) FROM incidents")" "incidents" || return 1
	expect_eq 1 "$(count_msgs 'dispatch/V[0-9]' '"offer"')" "offers" || return 1
}

# kill -9 while the batch waits, but the orphaned transaction commits after
# the daemon is gone: stored, never acknowledged. The restart replays the
# unhandled event and the broker redelivers it: still one incident, one offer.
s_kill_after_commit() {
	scenario_begin kill9b || return 1
	lock_events || return 1
	pub dev/D1/event '{"id":"e-k9b","type":"sos"}'
	wait_until 10 "the daemon's insert to wait for the lock" lock_waiting || return 1
	daemon_kill KILL
	unlock_events
	wait_sql 10 "SELECT count(*) FROM events WHERE event_id='e-k9b' AND NOT handled" 1 || return 1
	note "ok: committed by the orphaned backend, not handled, not acknowledged"
	expect_eq 0 "$(count_msgs dev/D1/ack 'e-k9b')" "acks before restart" || return 1
	daemon_start "$(grep -c 'event=ready' "$SDIR/daemon.log")" || return 1
	wait_msg 10 dispatch/V1 '"offer":1' || return 1
	wait_msg 5 dev/D1/ack '"id":"e-k9b"' || return 1
	wait_sql 5 "SELECT count(*) FROM events WHERE event_id='e-k9b' AND handled" 1 || return 1
	expect_eq 1 "$(sql "SELECT count(*) FROM events WHERE event_id='e-k9b'")" "stored" || return 1
	expect_eq 1 "$(sql "SELECT count(*) FROM incidents")" "incidents" || return 1
	expect_eq 1 "$(sql "SELECT count(*) FROM offers")" "offer rows" || return 1
	expect_eq 1 "$(count_msgs 'dispatch/V[0-9]' '"offer"')" "offer messages" || return 1
}

deadline_passed() {
	[[ $(sql "SELECT count(*) FROM offers WHERE answer='pending' AND deadline < now()") -ge 1 ]]
}

s_restart_pending_offer() {
	T_P1=2 scenario_begin restart || return 1
	local inc
	alarm_offered D1 '{"id":"e-r","type":"sos"}' || return 1
	wait_sql 5 "SELECT count(*) FROM offers WHERE incident_id=$inc AND answer='pending'" 1 || return 1
	daemon_kill TERM
	expect_eq 0 "$DAEMON_STATUS" "exit status on SIGTERM" || return 1
	# the deadline passes while the daemon is down
	wait_until 10 "the offer deadline to pass" deadline_passed || return 1
	daemon_start "$(grep -c 'event=ready' "$SDIR/daemon.log")" || return 1
	wait_msg 3 dispatch/V2 '"offer":2' || return 1
	expect_eq "timeout,pending" "$(sql "SELECT string_agg(answer, ',' ORDER BY seq) FROM offers WHERE incident_id=$inc")" "answers after restart" || return 1
	# kill -9 while offer 2 is pending: the restart sends the same offer
	# again (the first copy may have died with the process), stores no new
	# one, and its deadline still moves the incident on to V3
	daemon_kill KILL
	daemon_start "$(grep -c 'event=ready' "$SDIR/daemon.log")" || return 1
	wait_msg 5 dispatch/V2 '"offer":2' 2 || return 1
	expect_eq 1 "$(sql "SELECT count(*) FROM offers WHERE incident_id=$inc AND responder_id='V2'")" "offer rows for V2" || return 1
	wait_msg 6 dispatch/V3 '"offer":3' || return 1
}

s_clear_keeps_p1() {
	scenario_begin clear || return 1
	local inc
	alarm_offered D2 '{"id":"s-1","type":"smoke"}' || return 1
	pub dev/D2/event '{"id":"s-2","type":"smoke","state":"clear"}'
	wait_msg 5 dev/D2/ack '"id":"s-2"' || return 1
	wait_sql 5 "SELECT count(*) FROM incident_history WHERE incident_id=$inc AND what='clear'" 1 || return 1
	expect_eq offered "$(sql "SELECT state FROM incidents WHERE id=$inc")" "state after clear" || return 1
}

s_low_battery_ticket() {
	scenario_begin ticket || return 1
	pub dev/D3/event '{"id":"b-1","type":"low_battery","battery":7}'
	wait_msg 5 dispatch/S_HOME '"ticket":true' || return 1
	wait_sql 5 "SELECT kind || ':' || priority || ':' || station_id FROM incidents" ticket:3:S_HOME || return 1
	expect_eq 0 "$(sql "SELECT count(*) FROM offers")" "offers" || return 1
	expect_eq 0 "$(count_msgs 'dispatch/V' .)" "messages to volunteers" || return 1
	# a second technical alarm joins the ticket and the station hears of it
	pub dev/D3/event '{"id":"b-2","type":"tamper"}'
	wait_msg 5 dispatch/S_HOME '"alarm_count":2' || return 1
	local tk
	tk=$(sql "SELECT id FROM incidents WHERE kind='ticket'")
	# only the ticket's station closes it
	reply V1 "$tk" "done"
	reply S_HOME "$tk" "done"
	wait_sql 5 "SELECT state || ':' || resolved_by FROM incidents WHERE id=$tk" resolved:S_HOME || return 1
	expect_eq "not the ticket's station" "$(sql "SELECT result FROM replies WHERE responder_id='V1'")" "a volunteer's done on a ticket" || return 1
	# a water leak for a living-alone elder is raised to priority 1
	pub dev/D3/event '{"id":"w-1","type":"water_leak"}'
	wait_msg 5 dispatch/V1 '"priority":1' || return 1
}

s_bad_csv() {
	SDIR=$WORK/csv-bad
	mkdir -p "$SDIR"
	DB=cw_template
	local before
	before=$(sql "SELECT count(*) FROM stations")
	printf 'id,name,kind,area_code,lat,lon\nS9,好站,village_station,140426100200,36.5,113.4\nS10,坏站,village_station,140426100200,north,113.4\n' >"$SDIR/bad.csv"
	if "$CLI_BIN" -c "$WORK/template.conf" import stations "$SDIR/bad.csv" 2>"$SDIR/err"; then
		die "import of a bad file succeeded"
		return 1
	fi
	grep -q 'bad.csv:3: column lat' "$SDIR/err" || die "error names line 3 and the column: $(cat "$SDIR/err")" || return 1
	expect_eq "$before" "$(sql "SELECT count(*) FROM stations")" "stations after the failed import" || return 1
	printf 'id,name,kind,area_code,lat,lon,colour\nS9,好站,village_station,140426100200,36.5,113.4,red\n' >"$SDIR/bad2.csv"
	if "$CLI_BIN" -c "$WORK/template.conf" import stations "$SDIR/bad2.csv" 2>"$SDIR/err2"; then
		die "import with an unknown column succeeded"
		return 1
	fi
	grep -q 'colour' "$SDIR/err2" || die "error names the unknown column" || return 1
	# GB18030 input is converted
	printf 'id,name,kind,area_code,lat,lon\nS9,\xba\xc3\xd5\xbe,village_station,140426100200,36.5,113.4\n' >"$SDIR/gb.csv"
	"$CLI_BIN" -c "$WORK/template.conf" import stations "$SDIR/gb.csv" --encoding gb18030 >/dev/null || die "gb18030 import" || return 1
	expect_eq 好站 "$(sql "SELECT name FROM stations WHERE id='S9'")" "GB18030 name" || return 1
	sql "DELETE FROM stations WHERE id='S9'" >/dev/null
}

# The broker restarts: the daemon reconnects (backoff with jitter) and its
# persistent session delivers what was published while it was away.
s_broker_away() {
	scenario_begin broker || return 1
	kill "$SUB_PID" 2>/dev/null
	wait "$SUB_PID" 2>/dev/null
	SUB_PID=
	cw_broker_stop TERM || return 1
	cw_broker_start || return 1
	sub_start || return 1
	pub dev/D1/event '{"id":"e-bk","type":"sos"}'
	wait_msg 15 dispatch/V1 '"offer":1' || return 1
	wait_msg 5 dev/D1/ack '"id":"e-bk"' || return 1
	grep -q 'event=mqtt_down' "$SDIR/daemon.log" || die "the daemon noticed the broker going away" || return 1
	expect_eq 2 "$(grep -c 'event=mqtt_up' "$SDIR/daemon.log")" "broker sessions" || return 1
}

# PostgreSQL goes away: the event stays unacknowledged (the broker keeps it),
# the batch is sent again once the database is back, and the SOS is offered.
# Without a spool (its directory cannot be made), a database outage pauses
# ingest: nothing is acknowledged, and the SOS is offered once it is back.
s_db_away() {
	SPOOL_DIR=/proc/cw-no-spool scenario_begin dbaway || return 1
	grep -q 'event=spool_unavailable' "$SDIR/daemon.log" || die "spool_unavailable logged" || return 1
	cw_pg_stop fast || return 1
	pub dev/D1/event '{"id":"e-db","type":"sos"}'
	wait_until 10 "the daemon to notice the database is down" grep -q 'event=db_down' "$SDIR/daemon.log" || return 1
	expect_eq 0 "$(count_msgs dev/D1/ack 'e-db')" "acks while the database is down" || return 1
	cw_pg_start || return 1
	wait_msg 20 dispatch/V1 '"offer":1' || return 1
	wait_msg 5 dev/D1/ack '"id":"e-db"' || return 1
	expect_eq 1 "$(sql "SELECT count(*) FROM events WHERE event_id='e-db'")" "stored" || return 1
	kill -0 "$DAEMON_PID" || die "daemon died" || return 1
}

# Visit records are stored, idempotently; bad ones are dead-lettered.
s_visit_record() {
	scenario_begin visit || return 1
	pub resp/V1/visit '{"id":"v-77","elder":"E1","at":"2026-11-20T10:00:00+08:00","kind":"routine","in_person":true,"note":"well, needs coal"}'
	pub resp/V1/visit '{"id":"v-77","elder":"E1","at":"2026-11-20T10:00:00+08:00","kind":"routine","in_person":true}'
	pub resp/V2/visit '{"id":"v-78","elder":"NOBODY","at":"2026-11-20T10:00:00+08:00"}'
	wait_msg 5 deadletter '"reason":"unknown elder"' || return 1
	wait_sql 5 "SELECT count(*) FROM visits WHERE elder_id='E1'" 1 || return 1
	expect_eq "V1:v-77|V1|routine|t|2026-11-20 02:00:00|well, needs coal" "$(sql "SELECT id, responder_id, kind, in_person, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), note FROM visits")" "visit row" || return 1
	# a phone call is recorded as one, not as an in-person visit
	pub resp/V2/visit '{"id":"v-79","elder":"E1","at":"2026-11-21T10:00:00+08:00","kind":"phone","in_person":false,"note":"by phone: fine"}'
	pub resp/V2/visit '{"id":"v-80","elder":"E1","at":"2026-11-21T11:00:00+08:00","kind":"phone","in_person":true}'
	wait_msg 5 deadletter '"reason":"a phone visit is not in person"' || return 1
	wait_sql 5 "SELECT in_person || ':' || note FROM visits WHERE id='V2:v-79'" "false:by phone: fine" || return 1
	expect_eq 1 "$(sql "SELECT count(*) FROM visits WHERE in_person")" "in-person visits" || return 1
}

# A row PostgreSQL rejects (here: test-only CHECK constraints on an event
# id and on a visit's note, SQLSTATE 23514) is found by bisection, kept as a
# dead letter with the error code, and the rest of its batch is committed:
# before, the batch was retried every second and held up everything.
s_batch_row_rejected() {
	scenario_begin rejected || return 1
	sql "ALTER TABLE events ADD CONSTRAINT test_poison CHECK (event_id <> 'e-poison');
	     ALTER TABLE visits ADD CONSTRAINT test_poison_v CHECK (coalesce(note, '') <> 'poison')" || return 1
	python3 -c '
for i in range(60):
    print("{\"id\":\"%s\",\"type\":\"heartbeat\"}" % ("e-poison" if i == 37 else "e-g%d" % i))
' >"$SDIR/batch.txt"
	mosquitto_pub -h 127.0.0.1 -p "$CW_MQ_PORT" -q 1 -t "$P/dev/D3/event" -l <"$SDIR/batch.txt"
	pub resp/V1/visit '{"id":"v-ok1","elder":"E1","at":"2026-11-20T10:00:00+08:00","note":"fine"}'
	pub resp/V1/visit '{"id":"v-bad","elder":"E1","at":"2026-11-20T11:00:00+08:00","note":"poison"}'
	pub resp/V1/visit '{"id":"v-ok2","elder":"E1","at":"2026-11-20T12:00:00+08:00"}'
	wait_sql 10 "SELECT count(*) FROM events WHERE device_id='D3'" 59 || return 1
	wait_sql 10 "SELECT string_agg(id, ',' ORDER BY id) FROM visits" "V1:v-ok1,V1:v-ok2" || return 1
	wait_sql 5 "SELECT count(*) FROM dead_letters WHERE reason = 'rejected by the database sqlstate=23514'" 2 || return 1
	expect_eq "(batch)/events|t" "$(sql "SELECT topic, convert_from(payload, 'UTF8') LIKE '%e-poison%' FROM dead_letters WHERE topic = '(batch)/events'")" "the event row kept" || return 1
	expect_eq "(batch)/visits|t" "$(sql "SELECT topic, convert_from(payload, 'UTF8') LIKE '%V1:v-bad%' FROM dead_letters WHERE topic = '(batch)/visits'")" "the visit row kept" || return 1
	# every event was acknowledged: the rejected one is durable as a dead letter
	wait_msg 5 dev/D3/ack '"id":"e-poison"' || return 1
	wait_until 5 "60 acks" has_msgs dev/D3/ack '"id"' 60 || return 1
	grep -q 'event=batch_row_rejected statement=events' "$SDIR/daemon.log" || die "rejection logged" || return 1
	note "$(grep -m1 'event=batch_row_rejected statement=events' "$SDIR/daemon.log" | sed 's/.*event=/event=/')"
	# the daemon goes on at once
	pub dev/D1/event '{"id":"e-after-reject","type":"sos"}'
	wait_msg 5 dispatch/V1 '"offer":1' || return 1
	grep -q 'event=batch_failed.*lost=0' "$SDIR/daemon.log" && die "a batch was retried whole" && return 1
	sql "ALTER TABLE events DROP CONSTRAINT test_poison; ALTER TABLE visits DROP CONSTRAINT test_poison_v" >/dev/null
}

# The wall clock steps an hour forward, then two hours back, while offers
# are pending (libfaketime fakes the daemon's wall clock from a file and
# leaves its monotonic clock alone). Each offer window still lasts its 4 s:
# the forward step must not time the pending offer out at the next change
# of its incident, nor find every device silent; the backward step must not
# hold the next offer back for two hours.
FAKETIME_LIB=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
s_clock_step() {
	echo "+0" >"$WORK/clock"
	# a daemon built with --enable-sanitizers needs ASan's runtime first
	local preload=$FAKETIME_LIB asan
	asan=$(ldd "$CWD_BIN" 2>/dev/null | awk '/libasan/ { print $3 }')
	[[ -n $asan ]] && preload="$asan:$FAKETIME_LIB"
	DAEMON_ENV="LD_PRELOAD=$preload FAKETIME_TIMESTAMP_FILE=$WORK/clock FAKETIME_NO_CACHE=1 FAKETIME_DONT_FAKE_MONOTONIC=1" \
		T_P1=4 scenario_begin clock || return 1
	local inc t1 t2 t3
	alarm_offered D1 '{"id":"e-clk","type":"sos"}' || return 1
	t1=$(date +%s.%N)
	echo "+3600" >"$WORK/clock"
	# a second alarm changes the incident: its timer is set again
	pub dev/D2/event '{"id":"e-clk2","type":"smoke"}'
	wait_sql 5 "SELECT alarm_count FROM incidents WHERE id=$inc" 2 || return 1
	wait_msg 10 dispatch/V2 '"offer":2' || return 1
	t2=$(date +%s.%N)
	python3 -c "import sys; d=float(sys.argv[2])-float(sys.argv[1]); print('    V1 had %.1f s (window 4 s) across a +1 h step' % d); sys.exit(0 if 3.5 <= d <= 7 else 1)" "$t1" "$t2" ||
		die "the forward step changed V1's offer window" || return 1
	echo "-3600" >"$WORK/clock"
	wait_msg 10 dispatch/V3 '"offer":3' || return 1
	t3=$(date +%s.%N)
	python3 -c "import sys; d=float(sys.argv[2])-float(sys.argv[1]); print('    V2 had %.1f s (window 4 s) across a -2 h step' % d); sys.exit(0 if 3.5 <= d <= 7 else 1)" "$t2" "$t3" ||
		die "the backward step changed V2's offer window" || return 1
	expect_eq 2 "$(grep -c 'event=clock_step' "$SDIR/daemon.log")" "clock steps logged" || return 1
	expect_api 200 GET /metrics "$TOK_SUP" || return 1
	grep -q '^carewatch_clock_steps_total 2$' <<<"$BODY" || die "clock step metric" || return 1
	# no device was taken for silent, nothing stalled
	expect_eq 0 "$(sql "SELECT count(*) FROM incidents WHERE kind = 'ticket'")" "tickets (silent devices)" || return 1
	grep -q 'event=stalled' "$SDIR/daemon.log" && die "the daemon reported a stall" && return 1
	echo "+0" >"$WORK/clock"
}

# --- host names looked up on the loop (issue 9) -------------------------------

# mqtt.host and the conninfo's host are names only tests/fakedns.py knows.
# While it is silent the daemon keeps serving HTTP promptly (the lookups do
# not block its loop); once it answers, the daemon connects and dispatches.
s_dns_lookup() {
	local ns=$WORK/dns-$SEQ i t worst=0 n=0
	cw_fakedns "$ns" drop broker.cw.test=127.0.0.1 db.cw.test=127.0.0.1 || return 1
	DNS_PID=$CW_DNS_PID
	MQ_HOST=broker.cw.test PG_HOST=db.cw.test NO_START=1 \
		EXTRA_INI=$'[daemon]\nresolv_conf = '"$ns/resolv.conf" scenario_begin dns || return 1
	env PGUSER=cw_daemon "$CWD_BIN" -c "$CONF" >>"$SDIR/daemon.log" 2>&1 &
	DAEMON_PID=$!
	# the broker comes after the database (the state is loaded first)
	wait_until 10 "the daemon to ask for db.cw.test" grep -q '^db.cw.test 1 drop' "$ns/queries" || return 1
	# the name server is silent: every request is still answered at once
	for ((i = 0; i < 30; i++)); do
		t=$(curl -s -o "$SDIR/hz" -m 5 -w '%{time_total}' "http://127.0.0.1:$HTTP_PORT/healthz") || break
		grep -q '"database": *"down"' "$SDIR/hz" && n=$((n + 1))
		worst=$(python3 -c "import sys; print(max(float(sys.argv[1]), float(sys.argv[2])))" "$worst" "$t")
	done
	expect_eq 30 "$n" "healthz answers (database down) while the name server is silent" || return 1
	python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < 0.5 else 1)" "$worst" ||
		die "the slowest healthz took $worst s: the loop waited on a lookup" || return 1
	note "slowest of 30 healthz answers during the silent lookups: $worst s"
	grep -q 'event=db_up\|event=mqtt_up' "$SDIR/daemon.log" && die "connected without a name" && return 1
	echo answer >"$ns/mode"
	wait_until 15 "daemon ready once the names answer" ready_after 0 || return 1
	grep -q '^broker.cw.test 1 answer' "$ns/queries" || die "the broker's name asked for" || return 1
	grep -q 'event=mqtt_resolved host=broker.cw.test addr=127.0.0.1' "$SDIR/daemon.log" ||
		die "the broker's name and address logged" || return 1
	alarm_offered D1 '{"id":"e-dns","type":"sos"}' || return 1
}

# PostgreSQL with TLS, the daemon's conninfo naming db.cw.test with
# sslmode=verify-full: the name is looked up by the daemon and handed to
# libpq as hostaddr, and libpq still checks the certificate against host.
# A conninfo naming another host (same address) is refused.
s_db_tls() {
	local ns=$WORK/dbtls-$SEQ owner rc=0
	mkdir -p "$ns"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=carewatch db test CA" \
		-keyout "$ns/ca.key" -out "$ns/ca.crt" 2>/dev/null || return 1
	openssl req -newkey rsa:2048 -nodes -subj "/CN=db.cw.test" \
		-keyout "$ns/server.key" -out "$ns/server.csr" 2>/dev/null || return 1
	printf 'subjectAltName=DNS:db.cw.test\n' >"$ns/san.ext"
	openssl x509 -req -in "$ns/server.csr" -CA "$ns/ca.crt" -CAkey "$ns/ca.key" \
		-CAcreateserial -days 2 -extfile "$ns/san.ext" -out "$ns/server.crt" 2>/dev/null || return 1
	owner=$(stat -c %U "$CW_PGDATA")
	cp "$ns/server.crt" "$CW_PGDATA/cw-server.crt" && cp "$ns/server.key" "$CW_PGDATA/cw-server.key" || return 1
	chmod 600 "$CW_PGDATA/cw-server.key"
	chown "$owner" "$CW_PGDATA/cw-server.crt" "$CW_PGDATA/cw-server.key" || return 1
	cw_psql -c "ALTER SYSTEM SET ssl_cert_file = 'cw-server.crt'" -c "ALTER SYSTEM SET ssl_key_file = 'cw-server.key'" \
		-c "ALTER SYSTEM SET ssl = on" -c "SELECT pg_reload_conf()" >/dev/null || return 1
	db_tls_checks "$ns" || rc=1
	cw_psql -c "ALTER SYSTEM RESET ssl" -c "SELECT pg_reload_conf()" >/dev/null
	return $rc
}

pg_ssl_on() { [[ $(cw_psql -tA -c "SHOW ssl") == on ]]; }

db_tls_checks() { # dir
	local ns=$1
	wait_until 5 "PostgreSQL to take TLS" pg_ssl_on || return 1
	cw_fakedns "$ns" answer db.cw.test=127.0.0.1 other.cw.test=127.0.0.1 || return 1
	DNS_PID=$CW_DNS_PID
	PG_HOST=db.cw.test PG_EXTRA="sslmode=verify-full sslrootcert=$ns/ca.crt" \
		EXTRA_INI=$'[daemon]\nresolv_conf = '"$ns/resolv.conf" scenario_begin dbtls || return 1
	expect_eq "t" "$(sql "SELECT bool_and(s.ssl) AND count(*) >= 1 FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'carewatchd' AND a.datname = '$DB'")" \
		"the daemon's sessions over TLS" || return 1
	alarm_offered D1 '{"id":"e-tls","type":"sos"}' || return 1
	daemon_kill TERM
	# the same address under another name: the certificate does not match
	sed -i 's/host=db.cw.test/host=other.cw.test/' "$CONF"
	env PGUSER=cw_daemon "$CWD_BIN" -c "$CONF" >>"$SDIR/daemon.log" 2>&1 &
	DAEMON_PID=$!
	wait_until 10 "the certificate refused for other.cw.test" \
		grep -q 'event=db_down.*does not match host name' "$SDIR/daemon.log" || return 1
	note "refused: $(grep -m1 -o 'server certificate[^"]*' "$SDIR/daemon.log")"
	expect_eq 1 "$(grep -c 'event=db_up' "$SDIR/daemon.log" | awk '{ print ($1 >= 2) ? 1 : 0 }')" "sessions before the rename (writer and reader)" || return 1
	[[ $(tail -n 5 "$SDIR/daemon.log" | grep -c 'event=db_up') == 0 ]] || die "connected to other.cw.test" || return 1
}

# --- a backlog: alarms first (issue 10) ---------------------------------------

# 3,000 heartbeats, an SOS, 3,000 more queue at the broker while the daemon
# is down. It comes back with the events table locked, so nothing commits
# while it reads the backlog; once it has read the SOS the lock goes. The
# SOS must be stored before the heartbeats read ahead of it (at most the
# one batch already sent precedes it), offered, and every PUBACK must
# follow its commit: nothing acknowledged is missing.
s_backlog_alarm_first() {
	local hb sos before
	EXTRA_INI=$'[daemon]\nflood_rate = 0' scenario_begin backlog || return 1
	daemon_kill TERM
	hb() { # from to
		seq "$1" "$2" | sed 's/.*/{"id":"hb-&","type":"heartbeat"}/' |
			mosquitto_pub -h 127.0.0.1 -p "$CW_MQ_PORT" -q 1 -t "$P/dev/D3/event" -l
	}
	hb 1 3000
	pub dev/D1/event '{"id":"e-backlog","type":"sos"}'
	hb 3001 6000
	lock_events || return 1
	daemon_start "$(grep -c 'event=ready' "$SDIR/daemon.log")" || return 1
	wait_until 20 "the daemon to read the SOS behind 3,000 heartbeats" \
		grep -q 'event=alarm device=D1 id="e-backlog"' "$SDIR/daemon.log" || return 1
	unlock_events
	wait_msg 20 dispatch/V1 '"offer":1' || return 1
	wait_sql 60 "SELECT count(*) FROM events WHERE event_id LIKE 'hb-%'" 6000 || return 1
	before=$(sql "SELECT count(*) FROM events WHERE event_id LIKE 'hb-%' AND seq < (SELECT seq FROM events WHERE event_id = 'e-backlog')")
	note "heartbeats stored before the SOS: $before of the 3,000 queued before it"
	[[ $before -le ${CW_BATCH_MAX:-1000} ]] || die "the SOS waited behind $before heartbeats" || return 1
	expect_eq 1 "$(sql "SELECT count(*) FROM incidents")" "incidents" || return 1
	# every event acknowledged (PUBACKs): a subscriber of a fresh session
	# sees no redelivery pending, and the daemon's log has no stall
	grep -q 'event=stalled' "$SDIR/daemon.log" && die "stalled" && return 1
	return 0
}

# --- the database-outage spool (issue 9) -------------------------------------

spool_bytes() { stat -c %s "$SDIR/spool/spool.journal" 2>/dev/null || echo missing; }

# Counts rows that a write-back might have stored twice: one line of
# "table=count/distinct".
spool_dups() {
	sql "SELECT 'events=' || count(*) || '/' || count(DISTINCT (device_id, event_id)) FROM events
	     UNION ALL SELECT 'history=' || count(*) || '/' || count(DISTINCT (incident_id, what, at, coalesce(actor, ''), coalesce(detail, ''))) FROM incident_history
	     UNION ALL SELECT 'replies=' || count(*) || '/' || count(DISTINCT (responder_id, incident_id, action, received_at)) FROM replies
	     UNION ALL SELECT 'visits=' || count(*) || '/' || count(DISTINCT id) FROM visits
	     UNION ALL SELECT 'offers=' || count(*) || '/' || count(DISTINCT (incident_id, seq)) FROM offers" | tr '\n' ' '
}

# PostgreSQL stopped: an SOS is journaled, acknowledged and offered from
# memory; the volunteer accepts, arrives and the heartbeats go on. When
# the database is back the journal is written back, once, and emptied.
s_spool_outage() {
	scenario_begin spool || return 1
	local inc t0 t1 before
	pub dev/D1/event '{"id":"e-pre","type":"heartbeat"}'
	wait_msg 5 dev/D1/ack '"id":"e-pre"' || return 1
	cw_pg_stop fast || return 1
	wait_until 10 "the daemon to notice the database is down" grep -q 'event=db_down' "$SDIR/daemon.log" || return 1
	t0=$(date +%s.%N)
	pub dev/D1/event '{"id":"e-sp1","type":"sos"}'
	wait_msg 5 dispatch/V1 '"offer":1' || return 1
	t1=$(date +%s.%N)
	python3 -c "import sys; print('    figure: SOS offered %.0f ms after its publish, the database down' % ((float(sys.argv[2]) - float(sys.argv[1])) * 1000))" "$t0" "$t1"
	wait_msg 5 dev/D1/ack '"id":"e-sp1"' || return 1
	inc=$(offer_incident V1)
	grep -q 'event=spool_on' "$SDIR/daemon.log" || die "spool_on logged" || return 1
	reply V1 "$inc" accept '"note":"on my way"'
	reply V1 "$inc" arrived
	for i in 1 2 3 4 5; do pub dev/D3/event "{\"id\":\"hb-$i\",\"type\":\"heartbeat\"}"; done
	pub resp/V2/visit '{"id":"v-sp","elder":"E2","at":"2026-11-20T10:00:00+08:00","kind":"routine"}'
	wait_msg 5 dev/D3/ack '"id":"hb-5"' || return 1
	expect_api 503 GET /healthz || return 1
	expect_eq "degraded down active" "$(jfield 'j["status"] + " " + j["database"] + " " + j["spool"]["state"]')" "healthz during the outage" || return 1
	before=$(spool_bytes)
	[[ $before != missing && $before -gt 0 ]] || die "journal holds the outage (size $before)" || return 1
	note "journal: $before bytes"
	cw_pg_start || return 1
	wait_until 20 "the write-back" grep -q 'event=spool_written_back' "$SDIR/daemon.log" || return 1
	note "$(grep -m1 'event=spool_written_back' "$SDIR/daemon.log" | sed 's/.*event=/event=/')"
	expect_eq 0 "$(spool_bytes)" "journal after the write-back" || return 1
	expect_eq "on_site" "$(sql "SELECT state FROM incidents WHERE id=$inc")" "incident state written back" || return 1
	expect_eq "V1:accepted" "$(sql "SELECT responder_id || ':' || answer FROM offers WHERE incident_id=$inc")" "offer written back" || return 1
	expect_eq 1 "$(sql "SELECT count(*) FROM events WHERE event_id='e-sp1' AND handled AND incident_id=$inc")" "the SOS stored, handled, linked" || return 1
	expect_eq 5 "$(sql "SELECT count(*) FROM events WHERE device_id='D3' AND event_id LIKE 'hb-%'")" "heartbeats" || return 1
	expect_eq 2 "$(sql "SELECT count(*) FROM replies WHERE incident_id=$inc")" "replies" || return 1
	expect_eq 1 "$(sql "SELECT count(*) FROM visits WHERE id='V2:v-sp'")" "visit" || return 1
	expect_eq "events=7/7 history=4/4 replies=2/2 visits=1/1 offers=1/1 " "$(spool_dups)" "rows stored once" || return 1
	expect_api 200 GET /healthz || return 1
	# and on, through the database again
	pub dev/D4/event '{"id":"e-sp2","type":"sos"}'
	wait_msg 5 dispatch/V2 '"offer":1' || return 1
	wait_sql 5 "SELECT count(*) FROM events WHERE event_id='e-sp2'" 1 || return 1
}

# A device sends again an SOS that an earlier process stored and ran (its
# ack went down with that process), and the database is down when the copy
# arrives: the insert that finds copies cannot run, so the keys of the
# latest incidents' events, loaded at start, must keep it from opening a
# second incident and sending a second responder. A new SOS in the same
# outage is still dispatched. (chaos.sh found it: 201 incidents for 200 SOS.)
s_spool_resend_after_restart() {
	scenario_begin spoolresend || return 1
	local inc lines
	alarm_offered D1 '{"id":"e-rs","type":"sos"}' || return 1
	reply V1 "$inc" accept
	reply V1 "$inc" arrived
	reply V1 "$inc" "done" '"outcome":"emergency_handled"'
	wait_sql 5 "SELECT state FROM incidents WHERE id=$inc" resolved || return 1
	lines=$(grep -c 'event=ready' "$SDIR/daemon.log")
	daemon_kill KILL
	daemon_start "$lines" || return 1
	cw_pg_stop fast || return 1
	wait_until 10 "the daemon to notice the database is down" grep -q 'event=db_down' "$SDIR/daemon.log" || return 1
	pub dev/D1/event '{"id":"e-rs","type":"sos"}'
	wait_msg 5 dev/D1/ack '"id":"e-rs"' 2 || return 1
	pub dev/D1/event '{"id":"e-rs2","type":"sos"}'
	wait_msg 5 dispatch/V1 '"alarm":"e-rs2"' || return 1
	expect_eq 1 "$(count_msgs 'dispatch/V[0-9]+' '"alarm":"e-rs"')" "offers for the SOS sent again (the first only)" || return 1
	cw_pg_start || return 1
	wait_until 20 "the write-back" grep -q 'event=spool_written_back' "$SDIR/daemon.log" || return 1
	expect_eq "1 1" "$(sql "SELECT count(*) FILTER (WHERE alarm_event = 'e-rs') || ' ' || count(*) FILTER (WHERE alarm_event = 'e-rs2') FROM incidents WHERE kind = 'alarm'")" \
		"incidents for the SOS and for the new one" || return 1
	expect_eq "$inc" "$(sql "SELECT incident_id FROM events WHERE device_id = 'D1' AND event_id = 'e-rs'")" "the SOS still linked to its incident" || return 1
}

# The writer's backend frozen (SIGSTOP): the commit gets no answer, the
# session is dropped after the commit deadline, and the batch goes to the
# spool, although the database still answers new sessions (the frozen one
# holds the writer's lock). The SOS is offered within the deadline; once
# the backend is let go, the journal is written back.
s_spool_frozen_backend() {
	T_COMMIT=1 scenario_begin spoolfrozen || return 1
	local backend t0 t1
	backend=$(sql "SELECT pid FROM pg_stat_activity WHERE application_name = 'carewatchd' AND datname = '$DB' AND usename = 'cw_daemon' AND backend_type = 'client backend' ORDER BY backend_start LIMIT 1")
	[[ -n $backend ]] || die "no writer session found" || return 1
	kill -STOP "$backend"
	t0=$(date +%s.%N)
	pub dev/D1/event '{"id":"e-fz","type":"sos"}'
	if ! wait_msg 10 dispatch/V1 '"offer":1'; then
		kill -CONT "$backend"
		return 1
	fi
	t1=$(date +%s.%N)
	python3 -c "import sys; d=float(sys.argv[2])-float(sys.argv[1]); print('    figure: SOS offered %.1f s after its publish, the writer backend frozen (commit deadline 1 s + 2 s)' % d); sys.exit(0 if d < 6 else 1)" "$t0" "$t1" ||
		{ kill -CONT "$backend"; die "offered too late"; return 1; }
	grep -q 'event=stalled' "$SDIR/daemon.log" && { kill -CONT "$backend"; die "reported a stall while spooling"; return 1; }
	kill -CONT "$backend"
	wait_until 30 "the write-back" grep -q 'event=spool_written_back' "$SDIR/daemon.log" || return 1
	wait_sql 5 "SELECT count(*) FROM events WHERE event_id='e-fz' AND handled" 1 || return 1
	expect_eq 1 "$(sql "SELECT count(*) FROM incidents")" "incidents" || return 1
}

# A journal record the database refuses at write-back (a test-only CHECK
# constraint, SQLSTATE 23514) is not lost with the journal: it is kept in
# spool.rejected, and the rest is written back.
s_spool_record_rejected() {
	scenario_begin spoolrej || return 1
	sql "ALTER TABLE events ADD CONSTRAINT test_poison_wb CHECK (event_id <> 'e-wbpoison')" || return 1
	cw_pg_stop fast || return 1
	wait_until 10 "the daemon to notice the database is down" grep -q 'event=db_down' "$SDIR/daemon.log" || return 1
	pub dev/D3/event '{"id":"e-wbpoison","type":"heartbeat"}'
	wait_msg 5 dev/D3/ack '"id":"e-wbpoison"' || return 1
	pub dev/D1/event '{"id":"e-wbok","type":"heartbeat"}'
	wait_msg 5 dev/D1/ack '"id":"e-wbok"' || return 1
	cw_pg_start || return 1
	wait_until 30 "the write-back" grep -q 'event=spool_written_back' "$SDIR/daemon.log" || return 1
	grep -q 'event=spool_record_rejected.*sqlstate=23514.*kept=spool.rejected' "$SDIR/daemon.log" || die "rejection logged" || return 1
	grep -q 'e-wbpoison' "$SDIR/spool/spool.rejected" || die "the refused record kept" || return 1
	expect_eq 0 "$(spool_bytes)" "journal emptied" || return 1
	expect_eq 1 "$(sql "SELECT count(*) FROM events WHERE event_id = 'e-wbok'")" "the other record written back" || return 1
	sql "ALTER TABLE events DROP CONSTRAINT test_poison_wb" >/dev/null
}

# kill -9 during an outage, with a torn record at the journal's end: on
# start the whole records are written back before the load, the pending
# offer is restored (not made again). The same journal written back a
# second time (a crash after the write-back, before the journal was
# emptied) changes nothing.
s_spool_crash_replay() {
	T_P1=30 scenario_begin spoolcrash || return 1
	local inc counts
	cw_pg_stop fast || return 1
	wait_until 10 "the daemon to notice the database is down" grep -q 'event=db_down' "$SDIR/daemon.log" || return 1
	pub dev/D1/event '{"id":"e-cr1","type":"sos"}'
	wait_msg 5 dispatch/V1 '"offer":1' || return 1
	wait_msg 5 dev/D1/ack '"id":"e-cr1"' || return 1
	inc=$(offer_incident V1)
	pub resp/V1/visit '{"id":"v-cr","elder":"E1","at":"2026-11-20T10:00:00+08:00"}'
	pub dev/D3/event '{"id":"hb-cr","type":"heartbeat"}'
	wait_msg 5 dev/D3/ack '"id":"hb-cr"' || return 1
	daemon_kill KILL
	cp "$SDIR/spool/spool.journal" "$SDIR/journal.copy"
	# a record cut short by the crash: a header promising 80 bytes, and 7
	printf 'CWJ1\x50\x00\x00\x00\x01\x02\x03\x04torn...' >>"$SDIR/spool/spool.journal"
	cw_pg_start || return 1
	daemon_start "$(grep -c 'event=ready' "$SDIR/daemon.log")" || return 1
	grep -q 'event=spool_torn_tail dropped_bytes=19' "$SDIR/daemon.log" || die "torn tail cut and logged" || return 1
	grep -q 'event=spool_written_back' "$SDIR/daemon.log" || die "written back before ready" || return 1
	expect_eq 0 "$(spool_bytes)" "journal after the write-back" || return 1
	expect_eq "offered" "$(sql "SELECT state FROM incidents WHERE id=$inc")" "incident restored from the journal" || return 1
	expect_eq "events=2/2 history=2/2 replies=0/0 visits=1/1 offers=1/1 " "$(spool_dups)" "rows stored once" || return 1
	counts=$(spool_dups)
	# the same journal again, nothing else changed since
	daemon_kill KILL
	cp "$SDIR/journal.copy" "$SDIR/spool/spool.journal"
	daemon_start "$(grep -c 'event=ready' "$SDIR/daemon.log")" || return 1
	expect_eq 2 "$(grep -c 'event=spool_written_back' "$SDIR/daemon.log")" "second write-back" || return 1
	expect_eq "$counts" "$(spool_dups)" "rows after writing the journal back twice" || return 1
	# the restored offer is the same offer: V1's accept takes it
	reply V1 "$inc" accept
	wait_sql 5 "SELECT state FROM incidents WHERE id=$inc" accepted || return 1
	expect_eq 0 "$(count_msgs dispatch/V1 '"offer":2')" "a second offer" || return 1
	expect_eq 0 "$(count_msgs 'dispatch/V[23]' '"offer"')" "offers to others" || return 1
}

# The journal bounded at 1 MiB: 2,000 heartbeats are journaled (the
# outage ingest rate is measured), then 10,000 more fill it. It says so,
# stops acknowledging and /healthz says full; the broker keeps the rest.
# When the database returns everything is stored exactly once.
s_spool_full() {
	EXTRA_CONF=$'[daemon]\nflood_rate = 0' SPOOL_MAX=1 scenario_begin spoolfull || return 1
	local t0 t1 acks
	cw_pg_stop fast || return 1
	wait_until 10 "the daemon to notice the database is down" grep -q 'event=db_down' "$SDIR/daemon.log" || return 1
	python3 -c 'for i in range(2000): print("{\"id\":\"a-%d\",\"type\":\"heartbeat\"}" % i)' >"$SDIR/a.txt"
	t0=$(date +%s.%N)
	mosquitto_pub -h 127.0.0.1 -p "$CW_MQ_PORT" -q 1 -t "$P/dev/D3/event" -l <"$SDIR/a.txt"
	wait_msg 20 dev/D3/ack '"id":"a-1999"' || return 1
	t1=$(date +%s.%N)
	python3 -c "import sys; d=float(sys.argv[2])-float(sys.argv[1]); print('    figure: 2,000 events journaled and acknowledged in %.2f s (%.0f events/s), the database down' % (d, 2000 / d))" "$t0" "$t1"
	python3 -c 'for i in range(10000): print("{\"id\":\"b-%d\",\"type\":\"heartbeat\"}" % i)' >"$SDIR/b.txt"
	mosquitto_pub -h 127.0.0.1 -p "$CW_MQ_PORT" -q 1 -t "$P/dev/D4/event" -l <"$SDIR/b.txt"
	wait_until 20 "the journal to fill" grep -q 'event=spool_full' "$SDIR/daemon.log" || return 1
	grep -q 'event=spool_near_full' "$SDIR/daemon.log" || die "near-full warning" || return 1
	expect_api 503 GET /healthz || return 1
	expect_eq "full" "$(jfield 'j["spool"]["state"]')" "healthz spool state" || return 1
	acks=$(count_msgs dev/D4/ack '"id"')
	note "acknowledged while filling: $acks of 10000, journal $(spool_bytes) bytes"
	((acks < 10000)) || die "every event acknowledged past the bound" || return 1
	cw_pg_start || return 1
	wait_sql 60 "SELECT count(*) FROM events WHERE device_id='D4'" 10000 || return 1
	wait_until 10 "10,000 acks" has_msgs dev/D4/ack '"id"' 10000 || return 1
	expect_eq 2000 "$(sql "SELECT count(*) FROM events WHERE device_id='D3' AND event_id LIKE 'a-%'")" "the first 2,000" || return 1
	expect_eq "events=12000/12000" "$(spool_dups | cut -d' ' -f1)" "stored once" || return 1
	expect_eq 0 "$(spool_bytes)" "journal emptied" || return 1
	expect_api 200 GET /healthz || return 1
}

# A device imported while the daemon runs is known after SIGHUP.
s_reload_reference() {
	scenario_begin reload || return 1
	pub dev/D9/event '{"id":"n-1","type":"sos"}'
	wait_msg 5 deadletter '"reason":"unknown device"' || return 1
	printf 'id,kind,elder_id\nD9,sos_button,E2\n' >"$SDIR/new.csv"
	"$CLI_BIN" -c "$CONF" import devices "$SDIR/new.csv" >/dev/null || die "import" || return 1
	kill -HUP "$DAEMON_PID"
	wait_until 5 "the reload" grep -q 'event=reference_reloaded' "$SDIR/daemon.log" || return 1
	pub dev/D9/event '{"id":"n-2","type":"sos"}'
	wait_msg 5 dev/D9/ack '"id":"n-2","incident"' || return 1
	kill -0 "$DAEMON_PID" || die "daemon died" || return 1
}

# Without a spool, the database goes away while an offer is out: its
# deadline must not run through the other candidates unseen (nothing could
# be stored); on recovery the offer gets a fresh window, then dispatch goes
# on. (With the spool, dispatch simply goes on: s_spool_outage.)
s_db_away_holds_offers() {
	SPOOL_DIR=/proc/cw-no-spool T_P1=2 scenario_begin dbhold || return 1
	pub dev/D1/event '{"id":"e-h","type":"sos"}'
	wait_msg 5 dispatch/V1 '"offer":1' || return 1
	local t0
	t0=$(date +%s.%N)
	cw_pg_stop fast || return 1
	wait_until 10 "timers to be held" grep -q 'event=dispatch_held' "$SDIR/daemon.log" || return 1
	# keep the database away past the 2 s answer window
	wait_until 10 "the answer window to pass" elapsed_since "$t0" 3 || return 1
	cw_pg_start || return 1
	wait_until 20 "dispatch to resume" grep -q 'event=dispatch_resumed' "$SDIR/daemon.log" || return 1
	expect_eq 0 "$(count_msgs dispatch/V2 .)" "offers to V2 at recovery" || return 1
	wait_msg 10 dispatch/V2 '"offer":2' || return 1
	expect_eq 0 "$(count_msgs dispatch/V3 .)" "offers to V3" || return 1
}

# A P2 offer (long window) cut to the P1 window by an SOS for the same elder:
# the shorter deadline is stored, so a kill -9 and restart keep it.
s_offer_window_persisted() {
	T_P1=3 T_P2=60 scenario_begin window || return 1
	local inc
	pub dev/D6/event '{"id":"w-1","type":"water_leak"}'
	wait_msg 5 dispatch/V1 '"respond_within_s":60' || return 1
	inc=$(offer_incident V1)
	pub dev/D4/event '{"id":"e-w","type":"sos"}'
	wait_msg 5 dispatch/V1 '"respond_within_s":3' || return 1
	wait_sql 5 "SELECT round(extract(epoch from deadline - offered_at)) FROM offers WHERE incident_id=$inc AND seq=1" 3 || return 1
	note "ok: the shortened window is in the database"
	daemon_kill KILL
	daemon_start "$(grep -c 'event=ready' "$SDIR/daemon.log")" || return 1
	# the life alarm moves on within its own window, not the welfare one
	wait_msg 8 dispatch/V2 '"offer":2' || return 1
	expect_eq "timeout,pending" "$(sql "SELECT string_agg(answer, ',' ORDER BY seq) FROM offers WHERE incident_id=$inc")" "answers" || return 1
}

# The escalation clock of an incident raised to priority 1 starts at the
# raise, not at the opening, and a restart keeps it.
s_escalation_clock_persisted() {
	T_P1=30 T_P2=60 T_ESC=4 scenario_begin escclock || return 1
	local inc t_open
	pub dev/D6/event '{"id":"w-e","type":"water_leak"}'
	wait_msg 5 dispatch/V1 '"respond_within_s":60' || return 1
	inc=$(offer_incident V1)
	t_open=$(date +%s.%N)
	wait_until 5 "2 s after the opening" elapsed_since "$t_open" 2 || return 1
	pub dev/D4/event '{"id":"e-e","type":"sos"}'
	wait_msg 5 dispatch/V1 '"respond_within_s":30' || return 1
	wait_sql 5 "SELECT priority FROM incidents WHERE id=$inc" 1 || return 1
	daemon_kill KILL
	daemon_start "$(grep -c 'event=ready' "$SDIR/daemon.log")" || return 1
	wait_sql 10 "SELECT escalated FROM incidents WHERE id=$inc" t || return 1
	expect_eq t "$(sql "SELECT escalated_at - (SELECT at FROM incident_history WHERE incident_id=$inc AND what='priority') >= interval '3.9 s' FROM incidents WHERE id=$inc")" "escalated 4 s after the raise, not after the opening" || return 1
}

# Two statuses of one device in one publish burst: the last one stands.
s_status_last_wins() {
	scenario_begin status || return 1
	printf '%s\n' offline online offline online >"$SDIR/st.txt"
	mosquitto_pub -h 127.0.0.1 -p "$CW_MQ_PORT" -q 1 -t "$P/dev/D1/status" -l <"$SDIR/st.txt"
	wait_sql 5 "SELECT online FROM devices WHERE id='D1'" t || return 1
	printf '%s\n' online offline >"$SDIR/st2.txt"
	mosquitto_pub -h 127.0.0.1 -p "$CW_MQ_PORT" -q 1 -t "$P/dev/D4/status" -l <"$SDIR/st2.txt"
	wait_sql 5 "SELECT online FROM devices WHERE id='D4'" f || return 1
	# a probe behind them: every status was stored before it
	pub dev/D1/event '{"id":"p-1","type":"heartbeat"}'
	wait_msg 5 dev/D1/ack '"id":"p-1"' || return 1
	expect_eq "true:false" "$(sql "SELECT (SELECT online FROM devices WHERE id='D1') || ':' || (SELECT online FROM devices WHERE id='D4')")" "last status of each device" || return 1
}

# An event stored but not handled before a stop is replayed as of when it
# was received: a door opened at night is a night door alarm after dawn
# too, and the incident opens at the time it was received. The device's
# clock (ts, here the day) decides nothing.
s_replay_receive_time() {
	local h from to inc
	h=$(TZ=Asia/Shanghai date +%H)
	from=$(printf '%02d:00' $(((10#$h + 21) % 24)))
	to=$(printf '%02d:00' $(((10#$h + 22) % 24)))
	NIGHT="$from-$to" scenario_begin replay || return 1
	daemon_kill TERM
	# received 2.5 h ago (within the configured night), never handled
	sql "INSERT INTO events (device_id, event_id, type, state, ts, received_at, handled) VALUES ('D7', 'door-1', 'door', 'alarm', now(), date_trunc('hour', now()) - interval '150 minutes', false)" >/dev/null || return 1
	daemon_start "$(grep -c 'event=ready' "$SDIR/daemon.log")" || return 1
	wait_msg 5 dispatch/V1 '"type":"door"' || return 1
	inc=$(offer_incident V1)
	expect_eq "1:door:true" "$(sql "SELECT priority || ':' || type || ':' || (opened_at = (SELECT received_at FROM events WHERE event_id='door-1')) FROM incidents WHERE id=$inc")" "priority, type, opened at receive time" || return 1
	wait_sql 5 "SELECT handled FROM events WHERE event_id='door-1'" t || return 1
	# the same door now, by day: stored, no incident
	pub dev/D7/event '{"id":"door-2","type":"door"}'
	wait_msg 5 dev/D7/ack '"id":"door-2"' || return 1
	expect_eq 1 "$(sql "SELECT count(*) FROM incidents")" "incidents" || return 1
}

# Event ids come from devices: a quote and a key=value in one must not
# forge a field of the log line.
s_log_injection() {
	scenario_begin loginj || return 1
	pub dev/D5/event '{"id":"x\" event=forged","type":"smoke"}'
	wait_msg 5 dev/D5/ack 'forged' || return 1
	grep -q -F 'id="x\x22 event=forged"' "$SDIR/daemon.log" || die "escaped id in the log" || return 1
	expect_eq 0 "$(grep -c -F 'id=x" event=forged' "$SDIR/daemon.log")" "unescaped ids in the log" || return 1
}

# An elder without a station: the low-battery ticket goes to the township's
# regional center, is published, and can be closed.
s_ticket_without_station() {
	scenario_begin ticketrc || return 1
	sql "INSERT INTO stations (id, name, kind, area_code, lat, lon) VALUES ('S_RC', '黎侯镇区域养老服务中心', 'regional_center', '140426100000', 36.52, 113.41)" >/dev/null || return 1
	sql "UPDATE elders SET station_id = NULL WHERE id = 'E2'" >/dev/null || return 1
	kill -HUP "$DAEMON_PID"
	wait_until 5 "the reload" grep -q 'event=reference_reloaded' "$SDIR/daemon.log" || return 1
	pub dev/D5/event '{"id":"lb-1","type":"low_battery","battery":5}'
	wait_msg 5 dispatch/S_RC '"ticket":true' || return 1
	local tk
	tk=$(sql "SELECT id FROM incidents WHERE kind='ticket' AND elder_id='E2'")
	expect_eq S_RC "$(sql "SELECT station_id FROM incidents WHERE id=$tk")" "ticket station" || return 1
	reply S_RC "$tk" "done"
	wait_sql 5 "SELECT state FROM incidents WHERE id=$tk" resolved || return 1
}

watchdog_count() { grep -c 'WATCHDOG=1' "$SDIR/notify.log" 2>/dev/null || true; }

watchdog_after() { # epoch-seconds: a WATCHDOG=1 was received after it
	awk -v t="$1" '$2 == "WATCHDOG=1" && $1 > t { f = 1 } END { exit !f }' "$SDIR/notify.log"
}

# A database backend that freezes mid-batch: the daemon drops the session
# after its commit deadline, cannot take the writer lock back from the
# frozen session, and must not look healthy: it withholds the watchdog.
# Once the backend runs again everything is stored and the SOS offered.
s_stall_withholds_watchdog() {
	local sink_pid backend t_stall
	SDIR=$WORK/t$((SEQ + 1))
	mkdir -p "$SDIR"
	"$top_builddir/tests/notify_sink" "$SDIR/notify.sock" "$SDIR/notify.log" 120 &
	sink_pid=$!
	wait_until 5 "the notify socket" test -S "$SDIR/notify.sock" || return 1
	SPOOL_DIR=/proc/cw-no-spool T_COMMIT=1 DAEMON_ENV="NOTIFY_SOCKET=$SDIR/notify.sock WATCHDOG_USEC=2000000" scenario_begin stall || { kill "$sink_pid"; return 1; }
	wait_until 5 "READY=1" grep -q 'READY=1' "$SDIR/notify.log" || { kill "$sink_pid"; return 1; }
	backend=$(sql "SELECT pid FROM pg_stat_activity WHERE application_name = 'carewatchd' AND datname = '$DB'")
	[[ -n $backend ]] || { kill "$sink_pid"; die "no writer session found"; return 1; }
	kill -STOP "$backend"
	pub dev/D1/event '{"id":"e-st","type":"sos"}'
	if ! wait_until 30 "the daemon to report a stall" grep -q 'event=stalled' "$SDIR/daemon.log"; then
		kill -CONT "$backend"
		kill "$sink_pid"
		return 1
	fi
	t_stall=$(date +%s.%N)
	grep -q 'event=db_down reason="no answer within' "$SDIR/daemon.log" || die "the commit deadline dropped the session" || { kill -CONT "$backend"; kill "$sink_pid"; return 1; }
	# no watchdog ping while stalled (pings come every 0.5 s when healthy)
	wait_until 5 "2 s to pass" elapsed_since "$t_stall" 2 || { kill -CONT "$backend"; kill "$sink_pid"; return 1; }
	if watchdog_after "$(awk -v t="$t_stall" 'BEGIN { printf "%.3f", t + 0.6 }')"; then
		kill -CONT "$backend"
		kill "$sink_pid"
		die "WATCHDOG=1 sent while stalled"
		return 1
	fi
	note "ok: no WATCHDOG=1 while stalled"
	kill -CONT "$backend"
	wait_msg 30 dispatch/V1 '"offer":1' || { kill "$sink_pid"; return 1; }
	wait_until 10 "progress to resume" grep -q 'event=progress_resumed' "$SDIR/daemon.log" || { kill "$sink_pid"; return 1; }
	wait_until 5 "the watchdog to resume" watchdog_after "$(date +%s.%N)" || { kill "$sink_pid"; return 1; }
	kill "$sink_pid"
	wait "$sink_pid" 2>/dev/null
	expect_eq 1 "$(sql "SELECT count(*) FROM events WHERE event_id='e-st'")" "stored once" || return 1
	expect_eq 1 "$(sql "SELECT count(*) FROM incidents")" "incidents" || return 1
}

# carewatchd -n names the line of an unknown key or a bad value.
s_config_check() {
	SDIR=$WORK/conf-check
	mkdir -p "$SDIR"
	DB=cw_template
	printf '[mqtt]\nport = 1883\nportt = 1\n' >"$SDIR/a.conf"
	if "$CWD_BIN" -n -c "$SDIR/a.conf" 2>"$SDIR/err"; then die "unknown key accepted"; return 1; fi
	grep -q 'a.conf:3: unknown key portt' "$SDIR/err" || die "line and key named: $(cat "$SDIR/err")" || return 1
	printf '[dispatch]\n# fractions are fine\noffer_timeout_p1_s = 0.5\nmax_offers = many\n' >"$SDIR/b.conf"
	if "$CWD_BIN" -n -c "$SDIR/b.conf" 2>"$SDIR/err"; then die "bad value accepted"; return 1; fi
	grep -q 'b.conf:4: dispatch.max_offers' "$SDIR/err" || die "bad value named: $(cat "$SDIR/err")" || return 1
	"$CWD_BIN" -n -c "$top_srcdir/etc/carewatchd.conf" >/dev/null || die "the shipped example does not parse" || return 1
	note "ok: -n reports line numbers; the example config parses"
}

# --- operators over HTTP ----------------------------------------------------

users_loaded() { grep -q 'event=users_loaded' "$SDIR/daemon.log"; }
users_loaded_twice() { [[ $(grep -c 'event=users_loaded' "$SDIR/daemon.log") -ge 2 ]]; }

# The list and detail by role and area; ack, dispatch and resolve with their
# refusals; each answer only after its commit; every attempt audited.
s_http_operator_flow() {
	T_P1=120 scenario_begin http-ops || return 1
	local inc inc2 masked audit
	wait_until 5 "users loaded" users_loaded || return 1
	alarm_offered D1 '{"id":"e-h1","type":"sos"}' || return 1
	expect_api 200 GET /api/v1/incidents "$TOK_AUD" || return 1
	expect_eq "$inc" "$(jfield 'j["incidents"][0]["id"]')" "the auditor sees it" || return 1
	expect_eq "张桂兰 V1" "$(jfield 'j["incidents"][0]["elder"]["name"] + " " + j["incidents"][0]["offer"]["responder"]')" \
		"the elder's name and the pending offer in the list" || return 1
	expect_api 200 GET /api/v1/incidents "$TOK_TWN" || return 1
	expect_eq 1 "$(jfield 'len(j["incidents"])')" "the township's operator sees it" || return 1
	expect_api 200 GET /api/v1/incidents "$TOK_OTHER" || return 1
	expect_eq 0 "$(jfield 'len(j["incidents"])')" "another township's operator sees nothing" || return 1
	expect_api 404 GET "/api/v1/incidents/$inc" "$TOK_OTHER" || return 1
	expect_api 404 POST "/api/v1/incidents/$inc/ack" "$TOK_OTHER" '{}' || return 1
	expect_api 403 POST "/api/v1/incidents/$inc/ack" "$TOK_AUD" '{}' || return 1
	# the detail: the id number masked and nothing more, the picker's list
	expect_api 200 GET "/api/v1/incidents/$inc" "$TOK_OP" || return 1
	masked=$(jfield 'j["elder"]["id_number_masked"]')
	[[ $masked =~ ^1404\*{10}[0-9]{3}[0-9X]$ ]] || die "masked id number: $masked" || return 1
	if grep -q '14042619480302' <<<"$BODY"; then die "the id number in the detail"; return 1; fi
	expect_eq "V1:True V2:False" "$(jfield '" ".join(c["id"] + ":" + str(c["busy"]) for c in j["candidates"] if c["id"] in ("V1", "V2"))')" \
		"candidates: V1 busy with the offer, V2 free" || return 1
	expect_eq "opened offered" "$(jfield '" ".join(h["what"] for h in j["history"])')" "history" || return 1
	# ack: 200 only once committed, so the row is there at once
	expect_api 200 POST "/api/v1/incidents/$inc/ack" "$TOK_TWN" '{"note":"phoned: she fell"}' || return 1
	expect_eq "twn|phoned: she fell" "$(sql "SELECT acked_by || '|' || ack_note FROM incidents WHERE id=$inc")" \
		"ack stored before the answer" || return 1
	expect_api 409 POST "/api/v1/incidents/$inc/ack" "$TOK_OP" '{}' || return 1
	expect_eq "already acknowledged by twn" "$(jfield 'j["error"]')" "second ack" || return 1
	# manual dispatch: refusals, then V2 instead of V1
	expect_api 409 POST "/api/v1/incidents/$inc/dispatch" "$TOK_OP" '{"responder":"V1"}' || return 1
	expect_api 409 POST "/api/v1/incidents/$inc/dispatch" "$TOK_OP" '{"responder":"V9"}' || return 1
	expect_api 400 POST "/api/v1/incidents/$inc/dispatch" "$TOK_OP" '{"responder":7}' || return 1
	expect_api 200 POST "/api/v1/incidents/$inc/dispatch" "$TOK_OP" '{"responder":"V2"}' || return 1
	expect_eq "V2|1|1" "$(sql "SELECT responder_id || '|' || manual::int || '|' || forced::int FROM offers WHERE incident_id=$inc AND answer='pending'")" \
		"the manual offer stored before the answer" || return 1
	wait_msg 5 dispatch/V1 '"cancelled":true' || return 1
	wait_msg 5 dispatch/V2 "\"incident\":$inc,.*\"offer\":2" || return 1
	reply V2 "$inc" accept
	wait_sql 5 "SELECT state FROM incidents WHERE id=$inc" accepted || return 1
	expect_api 409 POST "/api/v1/incidents/$inc/dispatch" "$TOK_OP" '{"responder":"V3"}' || return 1
	# resolve: bad outcome, then closed, V2 told to stand down and freed
	expect_api 400 POST "/api/v1/incidents/$inc/resolve" "$TOK_OP" '{"outcome":"fixed"}' || return 1
	expect_api 400 POST "/api/v1/incidents/$inc/resolve" "$TOK_OP" '{"outcome":"test","why":1}' || return 1
	expect_api 200 POST "/api/v1/incidents/$inc/resolve" "$TOK_SUP" '{"outcome":"false_alarm","note":"pressed by mistake"}' || return 1
	expect_eq "resolved|false_alarm|sup" "$(sql "SELECT state || '|' || outcome || '|' || resolved_by FROM incidents WHERE id=$inc")" \
		"resolved before the answer" || return 1
	wait_msg 5 dispatch/V2 "\"incident\":$inc,\"offer\":2.*\"cancelled\":true" || return 1
	expect_api 409 POST "/api/v1/incidents/$inc/resolve" "$TOK_OP" '{"outcome":"test"}' || return 1
	expect_eq "incident $inc is resolved" "$(jfield 'j["error"]')" "resolve twice" || return 1
	expect_api 404 POST "/api/v1/incidents/99999/resolve" "$TOK_OP" '{"outcome":"test"}' || return 1
	# V2 is free again: E2's SOS, declined by V1, goes to V2
	pub dev/D4/event '{"id":"e-h2","type":"sos"}'
	wait_msg 5 dispatch/V1 '"alarm":"e-h2"' || return 1
	inc2=$(offer_incident V1)
	reply V1 "$inc2" decline
	wait_msg 5 dispatch/V2 "\"incident\":$inc2" || return 1
	# every attempt is in the audit log, in order
	audit=$(sql "SELECT string_agg(actor || ':' || action || ':' || status, ' ' ORDER BY seq) FROM audit_log")
	expect_eq "other:ack:404 aud:ack:403 twn:ack:200 op:ack:409 op:dispatch:409 op:dispatch:409 op:dispatch:400 op:dispatch:200 op:dispatch:409 op:resolve:400 op:resolve:400 sup:resolve:200 op:resolve:409 op:resolve:404" \
		"$audit" "audit rows" || return 1
	expect_api 200 GET /api/v1/audit "$TOK_AUD" || return 1
	expect_eq 14 "$(jfield 'len(j["audit"])')" "the auditor reads the audit log" || return 1
	expect_api 403 GET /api/v1/audit "$TOK_OP" || return 1
	expect_api 401 GET /api/v1/incidents "cw_wrong" || return 1
	expect_api 401 GET /api/v1/incidents || return 1
	expect_eq "-:GET /api/v1/audit:403 -:GET /api/v1/incidents:401 -:GET /api/v1/incidents:401" \
		"$(sql "SELECT string_agg(CASE WHEN actor = 'op' THEN '-' ELSE actor END || ':' || action || ':' || status, ' ' ORDER BY seq) FROM audit_log WHERE seq > (SELECT max(seq) - 3 FROM audit_log)")" \
		"refused reads audited" || return 1
}

# Events after Last-Event-ID come from the database, across a kill -9; the
# acknowledgement and the manual offer survive it and its deadline fires.
s_http_events_restart() {
	T_P1=6 scenario_begin http-sse || return 1
	local inc last n ids
	wait_until 5 "users loaded" users_loaded || return 1
	curl -s -N -m 60 -H "Authorization: Bearer $TOK_TWN" "http://127.0.0.1:$HTTP_PORT/api/v1/events" >"$SDIR/sse1" &
	local c1=$!
	curl -s -N -m 60 -H "Authorization: Bearer $TOK_OTHER" "http://127.0.0.1:$HTTP_PORT/api/v1/events" >"$SDIR/sse-other" &
	local c2=$!
	wait_until 5 "stream open" grep -q ': connected' "$SDIR/sse1" || return 1
	wait_until 5 "other stream open" grep -q ': connected' "$SDIR/sse-other" || return 1
	alarm_offered D1 '{"id":"e-s1","type":"sos"}' || return 1
	expect_api 200 POST "/api/v1/incidents/$inc/ack" "$TOK_TWN" '{"note":"on the phone"}' || return 1
	expect_api 200 POST "/api/v1/incidents/$inc/dispatch" "$TOK_TWN" '{"responder":"V3"}' || return 1
	wait_until 5 "dispatched event" grep -q '"what":"dispatched"' "$SDIR/sse1" || return 1
	expect_eq "opened offered acked dispatched offered" \
		"$(grep '^data: ' "$SDIR/sse1" | sed -E 's/.*"what":"([a-z_]+)".*/\1/' | tr '\n' ' ' | sed 's/ $//')" \
		"live events in order" || return 1
	grep -q '"what":"acked".*"state":"offered".*"area_code":"140426100200"' "$SDIR/sse1" ||
		die "the acked event carries the incident's state" || return 1
	last=$(grep '^id: ' "$SDIR/sse1" | tail -1 | cut -d' ' -f2)
	daemon_kill KILL
	wait "$c1" 2>/dev/null
	kill "$c2" 2>/dev/null
	wait "$c2" 2>/dev/null
	expect_eq 0 "$(grep -c '^data: ' "$SDIR/sse-other")" "another township's stream got nothing" || return 1
	daemon_start 1 || return 1 # the second ready: the restarted daemon's
	wait_until 5 "users loaded again" users_loaded_twice || return 1
	# the acknowledgement and the manual offer came back
	expect_api 200 GET "/api/v1/incidents/$inc" "$TOK_TWN" || return 1
	expect_eq "twn V3:pending:True" "$(jfield 'j["ack"]["by"] + " " + " ".join(o["responder"] + ":" + o["answer"] + ":" + str(o["manual"]) for o in j["offers"] if o["manual"])')" \
		"ack and manual offer after the restart" || return 1
	# V3's window (6 s) runs out after the restart: a timeout, a new offer
	wait_sql 20 "SELECT answer FROM offers WHERE incident_id=$inc AND responder_id='V3'" timeout || return 1
	curl -s -N -m 3 -H "Authorization: Bearer $TOK_TWN" -H "Last-Event-ID: $last" \
		"http://127.0.0.1:$HTTP_PORT/api/v1/events" >"$SDIR/sse2"
	ids=$(grep '^id: ' "$SDIR/sse2" | cut -d' ' -f2)
	[[ -n $ids ]] || die "nothing sent after Last-Event-ID $last" || return 1
	n=$(wc -l <<<"$ids")
	expect_eq "$n" "$(sort -un <<<"$ids" | wc -l)" "no event sent twice" || return 1
	(($(head -1 <<<"$ids") > last)) || die "an event at or before Last-Event-ID was sent again" || return 1
	grep -q '"what":"timeout".*"actor":"V3"' "$SDIR/sse2" || die "the missed timeout was sent" || return 1
	expect_eq "$(sql "SELECT count(*) FROM incident_history WHERE seq > $last")" "$n" \
		"every change after Last-Event-ID, once" || return 1
}

# A revoked token stops within a second; actions while the database is away
# are refused and change nothing; /healthz names what is down.
s_http_revoke_and_outages() {
	scenario_begin http-outage || return 1
	local inc t0
	wait_until 5 "users loaded" users_loaded || return 1
	expect_api 200 GET /healthz || return 1
	expect_eq "ok up up" "$(jfield 'j["status"] + " " + j["broker"] + " " + j["database"]')" "healthz" || return 1
	alarm_offered D1 '{"id":"e-o1","type":"sos"}' || return 1
	expect_api 200 GET /api/v1/me "$TOK_OP" || return 1
	sql "UPDATE users SET revoked_at = now() WHERE name = 'op'" || return 1
	t0=$(date +%s.%N)
	refused() { api GET /api/v1/me "$TOK_OP"; [[ $CODE == 401 ]]; }
	wait_until 3 "revoked token refused" refused || return 1
	python3 -c "import sys; d=float(sys.argv[2])-float(sys.argv[1]); print('    ok: revoked token refused after %.2f s' % d); sys.exit(0 if d < 1.5 else 1)" \
		"$t0" "$(date +%s.%N)" || die "a revoked token worked for more than a second" || return 1
	cw_pg_stop fast
	dbdown() { api GET /healthz; [[ $CODE == 503 && $BODY == *'"database":"down"'* ]]; }
	wait_until 10 "healthz says the database is down" dbdown || return 1
	expect_api 503 POST "/api/v1/incidents/$inc/ack" "$TOK_SUP" '{}' || return 1
	cw_pg_start || return 1
	dbup() { api GET /healthz; [[ $CODE == 200 ]]; }
	wait_until 15 "healthz ok again" dbup || return 1
	expect_api 200 POST "/api/v1/incidents/$inc/ack" "$TOK_SUP" '{}' || return 1
	expect_eq sup "$(sql "SELECT acked_by FROM incidents WHERE id=$inc")" "the ack after the outage" || return 1
	cw_broker_stop TERM
	mqdown() { api GET /healthz; [[ $CODE == 503 && $BODY == *'"broker":"down"'* ]]; }
	wait_until 10 "healthz says the broker is down" mqdown || return 1
	cw_broker_start || return 1
	wait_until 20 "healthz ok after the broker" dbup || return 1
	sub_start || return 1
}

# Visits over HTTP: validated, scoped, idempotent on their id.
s_http_visits() {
	scenario_begin http-visits || return 1
	wait_until 5 "users loaded" users_loaded || return 1
	local v='{"id":"pv-1","elder":"E1","at":"2026-11-20T10:00:00+08:00","kind":"routine","in_person":true,"note":"well","responder":"V1"}'
	expect_api 201 POST /api/v1/visits "$TOK_TWN" "$v" || return 1
	expect_api 201 POST /api/v1/visits "$TOK_TWN" "$v" || return 1
	expect_eq "1|V1|1" "$(sql "SELECT count(*) || '|' || max(responder_id) || '|' || bool_and(in_person)::int FROM visits WHERE id = 'V1:pv-1'")" \
		"one visit, keyed as the responder's own" || return 1
	expect_api 201 POST /api/v1/visits "$TOK_OP" '{"id":"pv-2","elder":"E2","at":"2026-11-21T09:00:00+08:00","kind":"phone"}' || return 1
	expect_eq 0 "$(sql "SELECT in_person::int FROM visits WHERE id = '@op:pv-2'")" "a phone visit, not in person" || return 1
	expect_api 400 POST /api/v1/visits "$TOK_OP" '{"id":"pv-3","elder":"E404","at":"2026-11-21T09:00:00+08:00"}' || return 1
	expect_api 400 POST /api/v1/visits "$TOK_OP" '{"id":"pv-4","elder":"E1","at":"2099-01-01T09:00:00+08:00"}' || return 1
	expect_api 400 POST /api/v1/visits "$TOK_OP" '{"id":"pv-5","elder":"E1","at":"2026-11-21T09:00:00+08:00","kind":"phone","in_person":true}' || return 1
	expect_api 400 POST /api/v1/visits "$TOK_OTHER" '{"id":"pv-6","elder":"E1","at":"2026-11-21T09:00:00+08:00"}' || return 1
	expect_api 403 POST /api/v1/visits "$TOK_AUD" "$v" || return 1
	expect_eq 2 "$(sql "SELECT count(*) FROM visits")" "only the valid visits stored" || return 1
}

# --- visits (issue 8, branch visits): the MQTT way in ---------------------
# A visit in the future, an unknown elder or a phone call said to be in
# person is dead-lettered with that reason; the good visit sent with them in
# the same batch is stored all the same.
s_visit_mqtt_refusals() {
	scenario_begin visit-refusals || return 1
	local soon
	soon=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
	pub resp/V1/visit "{\"id\":\"vf-1\",\"elder\":\"E1\",\"at\":\"$soon\",\"kind\":\"routine\"}"
	pub resp/V1/visit '{"id":"vf-2","elder":"E404","at":"2026-11-20T10:00:00+08:00","kind":"routine"}'
	pub resp/V1/visit '{"id":"vf-3","elder":"E1","at":"2026-11-20T10:00:00+08:00","kind":"chat"}'
	pub resp/V1/visit '{"id":"vf-4","elder":"E1","at":"2026-11-20T10:00:00+08:00","kind":"home_service"}'
	wait_msg 5 deadletter '"reason":"a visit in the future"' || return 1
	wait_msg 5 deadletter '"reason":"unknown elder"' || return 1
	wait_msg 5 deadletter '"reason":"unknown visit kind' || return 1
	wait_sql 5 "SELECT count(*) FROM visits WHERE id = 'V1:vf-4'" 1 || return 1
	expect_eq "V1:vf-4|home_service|t" "$(sql "SELECT id, kind, in_person FROM visits")" \
		"only the good visit stored" || return 1
	kill -0 "$DAEMON_PID" || die "daemon died" || return 1
}
# --- end of visits (issue 8) -------------------------------------------------

# --- device supervision (SPEC §4) --------------------------------------------

# Adds supervised devices by SQL (the fixture county stays as it is) and
# restarts the daemon with extra [dispatch] lines: devices ID:ELDER:HB...
supervise_setup() { # "dispatch lines" device:elder:heartbeat...
	local extra=$1 d id el hb vals=""
	shift
	for d in "$@"; do
		IFS=: read -r id el hb <<<"$d"
		vals+="('$id','smoke','$el',$hb),"
	done
	sql "INSERT INTO devices (id, kind, elder_id, heartbeat_s) VALUES ${vals%,}" >/dev/null || return 1
	printf '[dispatch]\n%b\n' "$extra" >>"$CONF"
	daemon_kill TERM
	daemon_start "$(grep -c 'event=ready' "$SDIR/daemon.log")"
}

log_count_ge() { # regex n
	[[ $(grep -E -c "$1" "$SDIR/daemon.log") -ge $2 ]]
}

offline_tickets() {
	sql "SELECT count(*) FROM incidents WHERE type = 'device_offline' ${1:-}"
}

# A silent device gets one ticket; heard again, it clears itself.
s_supervise_ticket() {
	scenario_begin supervise || return 1
	supervise_setup 'storm_window_s = 1' DS1:E2:1 || return 1
	wait_msg 15 dispatch/S_HOME '"event_type":"device_offline"' || return 1
	wait_sql 5 "SELECT kind || ':' || priority || ':' || station_id || ':' || alarm_device FROM incidents WHERE type = 'device_offline'" ticket:3:S_HOME:DS1 || return 1
	expect_eq 0 "$(count_msgs 'dispatch/V' .)" "messages to volunteers" || return 1
	# still silent for three more heartbeats: still one ticket, one event
	sleep 3
	expect_eq 1 "$(offline_tickets)" "offline tickets" || return 1
	expect_eq 1 "$(sql "SELECT count(*) FROM events WHERE device_id = 'DS1' AND type = 'device_offline'")" "offline events" || return 1
	# heard again: the ticket clears itself with its outcome
	pub dev/DS1/event '{"id":"hb-1","type":"heartbeat"}'
	wait_sql 5 "SELECT state || ':' || outcome || ':' || resolved_by FROM incidents WHERE type = 'device_offline'" resolved:device_back:supervision || return 1
	expect_eq 1 "$(sql "SELECT count(*) FROM incident_history WHERE what = 'device_back' AND actor = 'DS1'")" "device_back in the history" || return 1
	wait_sql 5 "SELECT online FROM devices WHERE id = 'DS1'" t || return 1
	# a new silence is a new ticket
	wait_sql 10 "SELECT count(*) FROM incidents WHERE type = 'device_offline' AND state = 'open'" 1 || return 1
}

# A retained offline starts the silence; a deadline that passed while the
# daemon was down fires once, and not again on the next restart.
s_supervise_offline_restart() {
	scenario_begin svrestart || return 1
	supervise_setup 'storm_window_s = 1' DS2:E2:2 || return 1
	pub dev/DS2/event '{"id":"hb-1","type":"heartbeat"}'
	wait_msg 5 dev/DS2/ack '"id":"hb-1"' || return 1
	mosquitto_pub -h 127.0.0.1 -p "$CW_MQ_PORT" -q 1 -r -t "$P/dev/DS2/status" -m offline
	wait_sql 5 "SELECT online FROM devices WHERE id = 'DS2'" f || return 1
	local since q="SELECT (extract(epoch FROM last_seen) * 1000)::bigint FROM devices WHERE id = 'DS2'"
	since=$(sql "$q")
	daemon_kill TERM
	expect_eq 0 "$(offline_tickets)" "tickets before the deadline" || return 1
	sleep 4 # the deadline (3 s after the offline) passes while the daemon is down
	daemon_start 2 || return 1
	# the retained offline arrives again and moves nothing: the ticket
	# names the silence that started with the first one
	wait_sql 15 "SELECT alarm_event FROM incidents WHERE type = 'device_offline'" "offline-$since" || return 1
	expect_eq "$since" "$(sql "$q")" "the silence start" || return 1
	daemon_kill TERM
	daemon_start 3 || return 1
	wait_until 15 "the silence found again" log_count_ge 'event=device_silent device=DS2' 2 || return 1
	pub dev/D1/event '{"id":"probe","type":"heartbeat"}'
	wait_msg 5 dev/D1/ack '"id":"probe"' || return 1
	expect_eq 1 "$(offline_tickets)" "tickets after two restarts" || return 1
	expect_eq 1 "$(sql "SELECT count(*) FROM events WHERE device_id = 'DS2' AND type = 'device_offline'")" "offline events" || return 1
	mosquitto_pub -h 127.0.0.1 -p "$CW_MQ_PORT" -q 1 -r -t "$P/dev/DS2/status" -m online
	wait_sql 5 "SELECT state || ':' || outcome FROM incidents WHERE type = 'device_offline'" resolved:device_back || return 1
	mosquitto_pub -h 127.0.0.1 -p "$CW_MQ_PORT" -q 1 -r -n -t "$P/dev/DS2/status"
}

# Twelve devices of one village go silent at once: one area incident, an
# SOS during it still offered; a reload and a restart keep it; devices back
# clear it.
s_supervise_storm() {
	scenario_begin storm || return 1
	local i devs=()
	for i in $(seq -w 1 12); do devs+=("SX$i:E$((10#$i % 2 + 1)):1"); done
	supervise_setup 'storm_devices = 10\nstorm_window_s = 3' "${devs[@]}" || return 1
	local area="SELECT count(*) || ':' || max(alarm_count) || ':' || max(area_code) || ':' || max(station_id) || ':' || max(state) FROM incidents WHERE type = 'device_offline' AND coalesce(elder_id, '') = ''"
	wait_sql 15 "$area" 1:12:140426100200:S_HOME:open || return 1
	wait_msg 5 dispatch/S_HOME '"event_type":"device_offline"' || return 1
	expect_eq 1 "$(count_msgs dispatch/S_HOME '"event_type":"device_offline"')" "messages to the station" || return 1
	expect_eq 12 "$(sql "SELECT count(*) FROM incident_history h JOIN incidents i ON i.id = h.incident_id WHERE i.type = 'device_offline' AND h.what = 'alarm' AND h.actor LIKE 'SX%'")" "devices listed" || return 1
	# an SOS from the village during the power cut is offered as usual
	alarm_offered D1 '{"id":"sos-storm","type":"sos"}' || return 1
	sleep 4 # past the window: nothing was held back to become a ticket
	expect_eq 1 "$(offline_tickets)" "offline incidents" || return 1
	# a reload and a restart leave the storm as it was
	kill -HUP "$DAEMON_PID"
	wait_until 5 "the reload" grep -q 'event=reference_reloaded' "$SDIR/daemon.log" || return 1
	daemon_kill TERM
	daemon_start 2 || return 1
	wait_until 15 "the devices rejoining" log_count_ge 'event=storm_rejoined' 12 || return 1
	wait_sql 5 "$area" 1:12:140426100200:S_HOME:open || return 1
	expect_eq 1 "$(offline_tickets)" "offline incidents after the restart" || return 1
	# the power is back: the storm clears itself
	for i in $(seq -w 1 12); do pub "dev/SX$i/event" '{"id":"back","type":"heartbeat"}'; done
	wait_sql 10 "SELECT max(state) || ':' || max(outcome) FROM incidents WHERE type = 'device_offline' AND coalesce(elder_id, '') = ''" resolved:device_back || return 1
	expect_eq 1 "$(sql "SELECT count(*) FROM incident_history WHERE what = 'storm_over'")" "storm_over in the history" || return 1
	# the last two heard were still silent when it cleared: their own
	# tickets closed as they were heard
	wait_sql 10 "SELECT count(*) FROM incidents WHERE type = 'device_offline' AND state <> 'resolved'" 0 || return 1
}

# --- issue 7: OwnTracks live positions, time and skills, flood control ------

# Reloads reference data (SIGHUP) and waits for the reload to be applied.
reload_ref() {
	local n
	n=$(grep -c 'event=reference_reloaded' "$SDIR/daemon.log")
	kill -HUP "$DAEMON_PID"
	wait_until 5 "the reload" ready_reloaded "$n" || return 1
}

ready_reloaded() { [[ $(grep -c 'event=reference_reloaded' "$SDIR/daemon.log") -gt $1 ]]; }

# An OwnTracks location as the phone apps publish it (the booklet's
# _type=location fields), for user $1 at ($2, $3) taken at epoch $4.
ot_location() { # user lat lon tst
	mosquitto_pub -h 127.0.0.1 -p "$CW_MQ_PORT" -q 1 -t "owntracks/$1/phone" -m \
		"{\"_type\":\"location\",\"acc\":12,\"alt\":915,\"batt\":78,\"bs\":1,\"conn\":\"m\",\"created_at\":$4,\"lat\":$2,\"lon\":$3,\"m\":1,\"t\":\"u\",\"tid\":\"z3\",\"tst\":$4,\"vac\":3,\"vel\":0}"
}

# V3 (home 900 m from E1) gets an OwnTracks user unique to this run: the
# owntracks/ tree is not under the scenario's prefix.
ot_user_v3() {
	OTU="zhao-$P"
	sql "UPDATE volunteers SET owntracks_user = '$OTU' WHERE id = 'V3'" || return 1
	reload_ref
}

# A live fix 100 m from the elder makes V3 the nearest: offered first, with
# the live distance; the position is stored and never logged.
s_owntracks_live_position() {
	scenario_begin owntracks-live || return 1
	ot_user_v3 || return 1
	local now
	now=$(date +%s)
	ot_location "$OTU" 36.5009 113.40 "$now"
	wait_sql 5 "SELECT round(live_lat::numeric, 4) || ',' || extract(epoch from live_at)::bigint FROM volunteers WHERE id='V3'" "36.5009,$now" || return 1
	pub dev/D1/event '{"id":"e-ot1","type":"sos"}'
	wait_msg 5 dispatch/V3 '"offer":1' || return 1
	grep -E "^$P/dispatch/V3 " "$MSGS" | grep -q '"distance_m":10[0-9][,}]' || die "distance_m from the live position (~100 m)" || return 1
	expect_eq 0 "$(count_msgs dispatch/V1 '"offer"')" "offers to V1, nearest by home" || return 1
	# V3 declines (V1 is next) and its phone moves 4 km away: E2's alarm
	# ranks it from there, so V2 (600 m) is nearer than V3 (home 900 m,
	# live 4 km) and V1 holds an offer
	reply V3 "$(offer_incident V3)" decline
	wait_msg 5 dispatch/V1 '"offer":2' || return 1
	ot_location "$OTU" 36.536 113.40 "$((now + 1))"
	wait_sql 5 "SELECT round(live_lat::numeric, 3) FROM volunteers WHERE id='V3'" 36.536 || return 1
	pub dev/D4/event '{"id":"e-ot2","type":"sos"}'
	wait_msg 5 dispatch/V2 '"offer":1' || return 1
	expect_eq 1 "$(count_msgs dispatch/V3 '"offer"')" "offers to V3 (only the first)" || return 1
	if grep -E -q '36\.5009|36\.536|113\.40' "$SDIR/daemon.log"; then die "a position in the log"; return 1; fi
	if grep -q "$OTU" "$SDIR/daemon.log"; then die "the OwnTracks user in the log"; return 1; fi
}

# A fix older than position_max_age_s is not used: the volunteer is ranked
# from home, both for a fix stale on arrival and for one that went stale.
s_owntracks_stale_fix() {
	# V1's offer must outlive the wait for the fix to age (T_P1)
	T_P1=120 EXTRA_CONF=$'[dispatch]\nposition_max_age_s = 3' scenario_begin owntracks-stale || return 1
	ot_user_v3 || return 1
	local now
	now=$(date +%s)
	ot_location "$OTU" 36.5009 113.40 "$((now - 3600))"
	pub dev/D1/event '{"id":"e-st1","type":"sos"}'
	wait_msg 5 dispatch/V1 '"offer":1' || return 1
	expect_eq "" "$(sql "SELECT live_at FROM volunteers WHERE id='V3'")" "a stale fix stored" || return 1
	expect_eq 0 "$(count_msgs dispatch/V3 .)" "offers to V3 from a stale fix" || return 1
	# fresh now, stale in 3 s: E2's alarm after that goes to V2 (V1 holds
	# an offer), not to V3 at its old live position
	ot_location "$OTU" 36.5009 113.40 "$now"
	wait_sql 5 "SELECT extract(epoch from live_at)::bigint FROM volunteers WHERE id='V3'" "$now" || return 1
	while (($(date +%s) <= now + 4)); do sleep 0.2; done # the fix ages: time must pass
	pub dev/D4/event '{"id":"e-st2","type":"sos"}'
	wait_msg 5 dispatch/V2 '"offer":1' || return 1
	expect_eq 0 "$(count_msgs dispatch/V3 .)" "offers to V3 from a fix that went stale" || return 1
}

# The latest position survives a restart: loaded with the volunteers.
s_owntracks_restart_keeps_position() {
	scenario_begin owntracks-restart || return 1
	ot_user_v3 || return 1
	local now
	now=$(date +%s)
	# three fixes in a burst: the last one is the one kept
	ot_location "$OTU" 36.60 113.40 "$((now - 2))"
	ot_location "$OTU" 36.58 113.40 "$((now - 1))"
	ot_location "$OTU" 36.5009 113.40 "$now"
	wait_sql 5 "SELECT round(live_lat::numeric, 4) FROM volunteers WHERE id='V3'" 36.5009 || return 1
	daemon_kill TERM
	daemon_start "$(grep -c 'event=ready' "$SDIR/daemon.log")" || return 1
	pub dev/D1/event '{"id":"e-rs1","type":"sos"}'
	wait_msg 5 dispatch/V3 '"offer":1' || return 1
	grep -E "^$P/dispatch/V3 " "$MSGS" | grep -q '"distance_m":10[0-9][,}]' || die "distance_m from the stored live position" || return 1
}

# Other _types are ignored, malformed ones dead-lettered, unknown users
# counted; none of it stops the daemon.
s_owntracks_bad_and_unknown() {
	scenario_begin owntracks-bad || return 1
	ot_user_v3 || return 1
	wait_until 5 "users loaded" users_loaded || return 1
	local t="owntracks/$OTU/phone" now m
	now=$(date +%s)
	m() { mosquitto_pub -h 127.0.0.1 -p "$CW_MQ_PORT" -q 1 -t "$1" -m "$2"; }
	m "$t" "{\"_type\":\"transition\",\"wtst\":1425042603,\"lat\":36.5,\"lon\":113.4,\"tst\":$now,\"acc\":130,\"tid\":\"z3\",\"event\":\"enter\",\"desc\":\"home\",\"t\":\"c\"}"
	m "$t" "{\"_type\":\"lwt\",\"tst\":$now}"
	m "$t" "{\"_type\":\"card\",\"name\":\"Zhao\",\"face\":\"iVBORw0KGgo\"}"
	m "$t" "{\"_type\":\"waypoint\",\"desc\":\"home\",\"lat\":36.5,\"lon\":113.4,\"rad\":50,\"tst\":$now}"
	m "$t" "{\"_type\":\"status\",\"android\":{\"hib\":1,\"bo\":1,\"loc\":0}}"
	m "$t" '{"_type":"encrypted","data":"bm90IHJlYWxseSBlbmNyeXB0ZWQ="}'
	m "$t" '{"_type":"location","lat":"north","lon":113.4,"tst":1}'
	m "$t" '{"_type":"location","lat":36.5,"lon":113.4}'
	m "$t" '{"lat":36.5,"lon":113.4,"tst":1}'
	m "$t" '{"_type":"location", "lat":'
	m "owntracks/nobody-$P/phone" "{\"_type\":\"location\",\"lat\":36.5,\"lon\":113.4,\"tst\":$now}"
	wait_msg 5 deadletter '"reason":"bad lat/lon"' || return 1
	wait_msg 5 deadletter '"reason":"bad tst"' || return 1
	wait_msg 5 deadletter '"reason":"no _type"' || return 1
	wait_msg 5 deadletter '"reason":"bad json"' || return 1
	wait_sql 5 "SELECT count(*) FROM dead_letters WHERE topic LIKE 'owntracks/%'" 4 || return 1
	expect_api 200 GET /metrics "$TOK_OP" || return 1
	grep -q 'carewatch_owntracks_messages_total{result="ignored"} 6' <<<"$BODY" || die "6 other _types ignored: $(grep owntracks <<<"$BODY")" || return 1
	grep -q 'carewatch_owntracks_messages_total{result="unknown_user"} 1' <<<"$BODY" || die "1 unknown user counted" || return 1
	expect_eq "" "$(sql "SELECT live_at FROM volunteers WHERE id='V3'")" "no position from any of it" || return 1
	if grep -q "$OTU\|nobody-$P" "$SDIR/daemon.log"; then die "an OwnTracks user in the log"; return 1; fi
	pub dev/D1/event '{"id":"e-bad-after","type":"sos"}'
	wait_msg 5 dispatch/V1 '"offer":1' || return 1
}

# A night window that holds (or excludes) the current hour in Asia/Shanghai.
night_now() { local h; h=$(TZ=Asia/Shanghai date +%H); printf '%02d:00-%02d:00' $((10#$h)) $(((10#$h + 1) % 24)); }
night_not_now() { local h; h=$(TZ=Asia/Shanghai date +%H); printf '%02d:00-%02d:00' $(((10#$h + 2) % 24)) $(((10#$h + 3) % 24)); }

# A door opened at night: priority 2 for E2 (no risk), raised to 1 for E1
# (living alone). D8 is E2's door.
s_door_at_night() {
	NIGHT=$(night_now) scenario_begin door-night || return 1
	sql "INSERT INTO devices (id, kind, elder_id) VALUES ('D8', 'door', 'E2')" || return 1
	reload_ref || return 1
	pub dev/D8/event '{"id":"e-dn2","type":"door"}'
	wait_msg 5 dispatch/V1 '"priority":2' || return 1
	pub dev/D7/event '{"id":"e-dn1","type":"door"}'
	wait_msg 5 dispatch/V2 '"priority":1' || return 1
	expect_eq "E1:1,E2:2" "$(sql "SELECT string_agg(elder_id || ':' || priority, ',' ORDER BY elder_id) FROM incidents WHERE type='door'")" "door incidents by night" || return 1
}

# By day a door raises nothing: stored, no incident, no offer.
s_door_by_day() {
	NIGHT=$(night_not_now) scenario_begin door-day || return 1
	pub dev/D7/event '{"id":"e-dd1","type":"door"}'
	wait_msg 5 dev/D7/ack '"id":"e-dd1"' || return 1
	expect_eq 1 "$(sql "SELECT count(*) FROM events WHERE event_id='e-dd1'")" "the door event stored" || return 1
	expect_eq 0 "$(sql "SELECT count(*) FROM incidents")" "incidents by day" || return 1
	expect_eq 0 "$(count_msgs 'dispatch/' '"offer"')" "offers by day" || return 1
}

# fall prefers first_aid (the default rule): V2 has it, V1 (nearer) not ->
# V2 first; gas prefers gas_safety, which nobody has -> the nearest.
s_skills_prefer() {
	scenario_begin skills-prefer || return 1
	sql "UPDATE volunteers SET skills = CASE id WHEN 'V2' THEN '{first_aid}'::text[] ELSE '{}' END" || return 1
	reload_ref || return 1
	pub dev/D1/event '{"id":"e-sk1","type":"fall"}'
	wait_msg 5 dispatch/V2 '"offer":1' || return 1
	expect_eq 0 "$(count_msgs dispatch/V1 '"offer"')" "fall offered to V1 without first_aid" || return 1
	pub dev/D4/event '{"id":"e-sk2","type":"gas"}'
	wait_msg 5 dispatch/V1 '"offer":1' || return 1
}

# require: nobody without the skill is ever offered the fall; when the only
# skilled candidate declines, there is no candidate (not V1).
s_skills_require() {
	EXTRA_CONF=$'[dispatch]\nskills = fall:first_aid:require' scenario_begin skills-require || return 1
	sql "UPDATE volunteers SET skills = '{}'; UPDATE stations SET skills = CASE id WHEN 'S_HOME' THEN '{first_aid}'::text[] ELSE '{}' END" || return 1
	reload_ref || return 1
	local inc
	pub dev/D1/event '{"id":"e-rq1","type":"fall"}'
	wait_msg 5 dispatch/S_HOME '"offer":1' || return 1
	inc=$(offer_incident S_HOME)
	reply S_HOME "$inc" decline
	wait_sql 5 "SELECT count(*) > 0 FROM incident_history WHERE incident_id=$inc AND what='no_candidate'" t || return 1
	expect_eq 0 "$(count_msgs 'dispatch/V[0-9]' '"offer"')" "offers to volunteers without first_aid" || return 1
	# the same rule as prefer (SIGHUP): V1 is next
	sed -i 's/fall:first_aid:require/fall:first_aid:prefer/' "$CONF"
	kill -HUP "$DAEMON_PID"
	wait_msg 5 dispatch/V1 '"offer":2' || return 1
	# a bad rule is refused by -n, with the key named
	printf '[dispatch]\nskills = fall:juggling:prefer\n' >"$SDIR/bad.conf"
	"$CWD_BIN" -n -c "$SDIR/bad.conf" 2>"$SDIR/bad.err" && die "a bad skills rule accepted" && return 1
	grep -q 'skills.*juggling' "$SDIR/bad.err" || die "the refusal names the rule: $(cat "$SDIR/bad.err")" || return 1
}

# One device at 2,000 events/s for 5 s; another device's SOS is offered
# within 1 s, and an SOS from the flooding button itself is not dropped.
# Every flood event is either stored or counted in the device's one
# rate_limited dead letter per window.
s_flood_control() {
	EXTRA_CONF=$'[daemon]\nflood_rate = 5\nflood_burst = 50\nflood_window_s = 60' scenario_begin flood || return 1
	python3 - "$SDIR/flood.pipe" <<'PY' >"$SDIR/flood.txt"
import sys
for i in range(10000):
    print('{"id":"f-%d","type":"motion"}' % i)
PY
	local t0 t1 inc
	python3 -c '
import sys, time
lines = open(sys.argv[1]).read().splitlines()
t0 = time.monotonic()
for k in range(0, len(lines), 100):
    sys.stdout.write("\n".join(lines[k:k + 100]) + "\n")
    sys.stdout.flush()
    d = t0 + (k + 100) / 2000.0 - time.monotonic()
    if d > 0:
        time.sleep(d)
' "$SDIR/flood.txt" | mosquitto_pub -h 127.0.0.1 -p "$CW_MQ_PORT" -q 1 -t "$P/dev/D4/event" -l &
	local flood_pid=$!
	wait_until 5 "the flood to be limited" grep -q 'event=rate_limited device=D4' "$SDIR/daemon.log" || return 1
	t0=$(date +%s.%N)
	pub dev/D1/event '{"id":"e-fl1","type":"sos"}'
	wait_msg 5 dispatch/V1 '"offer":1' || return 1
	t1=$(date +%s.%N)
	python3 -c "import sys; d=float(sys.argv[2])-float(sys.argv[1]); print('    figure: SOS offered %.0f ms after publishing, during the flood' % (d*1000)); sys.exit(0 if d < 1 else 1)" "$t0" "$t1" ||
		die "the SOS took a second or more" || return 1
	# the chattering button's own SOS: a new type, never dropped
	pub dev/D4/event '{"id":"e-fl2","type":"sos"}'
	wait_msg 5 dev/D4/ack '"id":"e-fl2"' || return 1
	wait_msg 5 dispatch/V2 '"offer":1' || return 1
	wait "$flood_pid" || die "the flood publisher failed" || return 1
	note "flood published: 10000 events to D4"
	wait_sql 20 "SELECT (SELECT count(*) FROM events WHERE device_id='D4' AND event_id LIKE 'f-%') + (SELECT coalesce(sum(dropped), 0) FROM dead_letters WHERE reason='rate_limited')" 10000 || return 1
	note "stored $(sql "SELECT count(*) FROM events WHERE device_id='D4' AND event_id LIKE 'f-%'"), dropped $(sql "SELECT sum(dropped) FROM dead_letters WHERE reason='rate_limited'") in $(sql "SELECT count(*) FROM dead_letters WHERE reason='rate_limited'") dead letter(s)"
	expect_eq 1 "$(sql "SELECT count(*) FROM dead_letters WHERE reason='rate_limited'")" "one rate_limited dead letter for the 60 s window" || return 1
	expect_eq 1 "$(count_msgs deadletter '"reason":"rate_limited"')" "rate_limited announced once" || return 1
	expect_eq 0 "$(sql "SELECT count(*) FROM events WHERE device_id <> 'D4' AND event_id LIKE 'f-%'")" "flood events of other devices" || return 1
}

# --- zigbee2mqtt bridges (SPEC §3) ------------------------------------------
# Two bridge bases per scenario; the devices are imported after start and
# loaded by SIGHUP, as an operator would add them. A friendly name may hold
# spaces, Chinese and '/', and may name a person: it must never be logged.
Z_SMOKE='张家 客厅/烟感'
ZPROBE=0

zpub() { # topic payload
	mosquitto_pub -h 127.0.0.1 -p "$CW_MQ_PORT" -q 1 -t "$1" -m "$2"
}

# Every message published before it has been committed: a native heartbeat
# behind them, acknowledged.
z2m_probe() {
	local id=zp-$((++ZPROBE))
	pub dev/D1/event "{\"id\":\"$id\",\"type\":\"heartbeat\"}"
	wait_msg 5 dev/D1/ack "\"id\":\"$id\"" || return 1
}

z2m_begin() { # name [devices.csv rows...]
	local name=$1 row
	shift
	EXTRA_INI="[mqtt]
z2m_base = z$((SEQ + 1))a, z$((SEQ + 1))b" scenario_begin "$name" || return 1
	ZA=z${SEQ}a
	ZB=z${SEQ}b
	{
		echo 'id,kind,elder_id,ecosystem,external_id,heartbeat_s'
		for row in "$@"; do echo "$row"; done
	} >"$SDIR/z2m.csv"
	"$CLI_BIN" -c "$CONF" import devices "$SDIR/z2m.csv" >/dev/null || die "import of zigbee2mqtt devices" || return 1
	kill -HUP "$DAEMON_PID"
	wait_until 5 "the reload" grep -q 'event=reference_reloaded' "$SDIR/daemon.log" || return 1
}

z2m_restart() {
	daemon_kill KILL
	daemon_start "$(grep -c 'event=ready' "$SDIR/daemon.log")"
}

z2m_no_names_logged() {
	if grep -E -q '客厅|烟感|紧急|nobody' "$SDIR/daemon.log"; then
		die "a friendly name in the daemon log: $(grep -m1 -E '客厅|烟感|紧急|nobody' "$SDIR/daemon.log")"
		return 1
	fi
}

# smoke: the first state is kept, true raises a P1 offer, a repeat raises
# nothing, false clears; kill -9 while it is true: the restart does not
# raise it again and does not miss the next edge.
s_z2m_smoke_edges() {
	z2m_begin z2m-smoke "Z1,smoke,E1,zigbee2mqtt,$Z_SMOKE," || return 1
	zpub "$ZA/$Z_SMOKE" '{"smoke":false,"battery":90,"linkquality":120}'
	wait_sql 5 "SELECT field || ':' || value FROM z2m_state WHERE device_id='Z1' ORDER BY field" "battery:90
smoke:0" || return 1
	expect_eq 0 "$(sql "SELECT count(*) FROM events WHERE device_id='Z1'")" "events of an idle first state" || return 1
	zpub "$ZA/$Z_SMOKE" '{"smoke":true,"battery":90,"linkquality":117}'
	wait_msg 5 dispatch/V1 '"offer":1' || return 1
	wait_msg 5 dispatch/V1 '"type":"smoke"' || return 1
	wait_msg 5 dispatch/V1 '"alarm":"z2m-smoke-1"' || return 1
	expect_eq "smoke:1:alarm" "$(sql "SELECT i.type || ':' || i.priority || ':' || e.state FROM incidents i JOIN events e ON e.incident_id = i.id WHERE e.event_id = 'z2m-smoke-1'")" "incident of the edge" || return 1
	# zigbee2mqtt re-sends the whole state on every change
	zpub "$ZA/$Z_SMOKE" '{"smoke":true,"battery":89,"linkquality":90}'
	z2m_probe || return 1
	expect_eq 1 "$(sql "SELECT count(*) FROM events WHERE device_id='Z1'")" "events after a repeated true" || return 1
	expect_eq 89 "$(sql "SELECT value FROM z2m_state WHERE device_id='Z1' AND field='battery'")" "battery recorded" || return 1
	# each restart must know the last state and its number: the first
	# message after it is an edge (not a first sight), or a repeat
	z2m_restart || return 1
	zpub "$ZA/$Z_SMOKE" '{"smoke":false,"battery":89}'
	wait_sql 5 "SELECT state FROM events WHERE device_id='Z1' AND event_id='z2m-smoke-2'" clear || return 1
	z2m_restart || return 1
	zpub "$ZA/$Z_SMOKE" '{"smoke":true,"battery":88}'
	wait_sql 5 "SELECT state FROM events WHERE device_id='Z1' AND event_id='z2m-smoke-3'" alarm || return 1
	z2m_restart || return 1
	zpub "$ZA/$Z_SMOKE" '{"smoke":true,"battery":88,"linkquality":91}'
	z2m_probe || return 1
	expect_eq 3 "$(sql "SELECT count(*) FROM events WHERE device_id='Z1'")" "events: raise, clear, raise; no re-raise" || return 1
	expect_eq 1 "$(sql "SELECT count(*) FROM incidents")" "incidents (the raise joins the open one)" || return 1
	z2m_no_names_logged || return 1
}

# kill -9 after the orphaned transaction committed the edge and its state,
# before the PUBACK: the broker redelivers; the loaded state makes the copy
# a repeat. One event, one incident, one offer.
s_z2m_redelivery() {
	z2m_begin z2m-redeliver "Z1,smoke,E1,zigbee2mqtt,$Z_SMOKE," || return 1
	lock_events || return 1
	zpub "$ZA/$Z_SMOKE" '{"smoke":true,"battery":70}'
	wait_until 10 "the daemon's insert to wait for the lock" lock_waiting || return 1
	daemon_kill KILL
	unlock_events
	wait_sql 10 "SELECT count(*) FROM z2m_state WHERE device_id='Z1' AND field='smoke' AND value=1" 1 || return 1
	note "ok: edge and state committed by the orphaned backend, not acknowledged"
	daemon_start "$(grep -c 'event=ready' "$SDIR/daemon.log")" || return 1
	wait_msg 10 dispatch/V1 '"offer":1' || return 1
	z2m_probe || return 1
	expect_eq 1 "$(sql "SELECT count(*) FROM events WHERE device_id='Z1'")" "events stored" || return 1
	expect_eq 1 "$(sql "SELECT count(*) FROM incidents")" "incidents" || return 1
	expect_eq 1 "$(count_msgs 'dispatch/V[0-9]' '"offer"')" "offer messages" || return 1
	# kill -9 before the commit: the redelivered copy gets the same event id
	lock_events || return 1
	zpub "$ZA/$Z_SMOKE" '{"smoke":false,"battery":70}'
	wait_until 10 "the daemon's insert to wait for the lock" lock_waiting || return 1
	daemon_kill KILL
	sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO events%'" >/dev/null
	unlock_events
	expect_eq 0 "$(sql "SELECT count(*) FROM events WHERE event_id='z2m-smoke-2'")" "the clear before restart" || return 1
	daemon_start "$(grep -c 'event=ready' "$SDIR/daemon.log")" || return 1
	wait_sql 10 "SELECT count(*) FROM events WHERE device_id='Z1' AND event_id='z2m-smoke-2' AND state='clear'" 1 || return 1
	z2m_probe || return 1
	expect_eq 2 "$(sql "SELECT count(*) FROM events WHERE device_id='Z1'")" "events after both kills" || return 1
}

# Names that are unknown, the bridge's own tree, /set, availability in both
# forms on both bases, a battery_low ticket, an SOS press and a door.
s_z2m_topics() {
	z2m_begin z2m-topics "Z1,smoke,E1,zigbee2mqtt,$Z_SMOKE," \
		"Z2,sos_button,E2,zigbee2mqtt,刘家/紧急 按钮," \
		"Z3,water_leak,E2,zigbee2mqtt,刘家 厨房/水浸," \
		"Z4,door,E2,zigbee2mqtt,door-east," || return 1
	zpub "$ZA/nobody here/烟感" '{"smoke":true}'
	wait_msg 5 deadletter '"reason":"unknown device"' || return 1
	wait_sql 5 "SELECT count(*) FROM dead_letters WHERE reason='unknown device'" 1 || return 1
	# the bridge's tree, however large, and commands from other clients
	zpub "$ZA/bridge/state" '{"state":"online"}'
	head -c 20000 /dev/zero | tr '\0' 'x' | sed 's/^/[{"friendly_name":"/; s/$/"}]/' >"$SDIR/devices.json"
	mosquitto_pub -h 127.0.0.1 -p "$CW_MQ_PORT" -q 1 -t "$ZB/bridge/devices" -f "$SDIR/devices.json"
	zpub "$ZA/$Z_SMOKE/set" '{"smoke":true}'
	zpub "$ZA/$Z_SMOKE/get" '{"smoke":""}'
	zpub "$ZA/$Z_SMOKE" 'not json'
	zpub "$ZA/刘家/紧急 按钮/action" emergency
	mosquitto_pub -h 127.0.0.1 -p "$CW_MQ_PORT" -q 1 -t "$ZA/$Z_SMOKE" -f "$SDIR/devices.json"
	z2m_probe || return 1
	expect_eq "bad json,oversize,unknown device" "$(sql "SELECT string_agg(reason, ',' ORDER BY reason) FROM dead_letters")" "dead letters" || return 1
	expect_eq 0 "$(sql "SELECT count(*) FROM events WHERE device_id LIKE 'Z%'")" "events from ignored topics" || return 1
	# availability: legacy plain text and the JSON form, on both bases
	zpub "$ZA/$Z_SMOKE/availability" offline
	wait_sql 5 "SELECT online FROM devices WHERE id='Z1'" f || return 1
	zpub "$ZA/$Z_SMOKE/availability" '{"state":"online"}'
	wait_sql 5 "SELECT online FROM devices WHERE id='Z1'" t || return 1
	zpub "$ZB/door-east/availability" '{"state":"offline"}'
	wait_sql 5 "SELECT online FROM devices WHERE id='Z4'" f || return 1
	zpub "$ZB/door-east/availability" online
	wait_sql 5 "SELECT online FROM devices WHERE id='Z4'" t || return 1
	# battery_low: a priority-3 ticket for the station, no volunteer
	zpub "$ZA/刘家 厨房/水浸" '{"water_leak":false,"battery_low":true,"battery":4}'
	wait_msg 5 dispatch/S_HOME '"ticket":true' || return 1
	wait_sql 5 "SELECT kind || ':' || priority || ':' || type FROM incidents" ticket:3:low_battery || return 1
	expect_eq 0 "$(count_msgs 'dispatch/V' .)" "messages to volunteers" || return 1
	# an SOS press, then the same press again later: two alarms
	zpub "$ZA/刘家/紧急 按钮" '{"action":"emergency","battery":80}'
	wait_msg 5 dispatch/V1 '"type":"sos"' || return 1
	zpub "$ZA/刘家/紧急 按钮" '{"action":"emergency","battery":80}'
	wait_sql 5 "SELECT string_agg(event_id, ',' ORDER BY event_id) FROM events WHERE device_id='Z2'" z2m-sos_action-1,z2m-sos_action-2 || return 1
	# a door on the second base: contact false is open
	zpub "$ZB/door-east" '{"contact":true}'
	zpub "$ZB/door-east" '{"contact":false}'
	wait_sql 5 "SELECT type || ':' || state FROM events WHERE device_id='Z4'" door:alarm || return 1
	z2m_no_names_logged || return 1
	kill -0 "$DAEMON_PID" || die "daemon died" || return 1
}

# The converter corpus (tests/fixtures/z2m/corpus.jsonl): one device per
# model, its payloads in order; each model raises the event types of its
# alarm fields, and no life alarm it does not have.
s_z2m_corpus() {
	local corpus=$top_srcdir/tests/fixtures/z2m/corpus.jsonl rows=() m i=0
	mapfile -t models < <(python3 -c 'import json,sys
seen=[]
for l in open(sys.argv[1]):
    m=json.loads(l)["model"]
    if m not in seen: seen.append(m); print(m)' "$corpus")
	for m in "${models[@]}"; do
		rows+=("ZC$((++i)),hub,E2,zigbee2mqtt,corpus/$m,")
	done
	z2m_begin z2m-corpus "${rows[@]}" || return 1
	python3 - "$corpus" "$SDIR/corpus" <<'PY'
import json, os, sys
os.makedirs(sys.argv[2], exist_ok=True)
for l in open(sys.argv[1]):
    j = json.loads(l)
    name = j["model"].replace("/", "_")
    with open(os.path.join(sys.argv[2], name), "a") as f:
        f.write(json.dumps(j["payload"], ensure_ascii=False) + "\n")
PY
	for m in "${models[@]}"; do
		mosquitto_pub -h 127.0.0.1 -p "$CW_MQ_PORT" -q 1 -t "$ZA/corpus/$m" -l <"$SDIR/corpus/${m//\//_}" || return 1
	done
	z2m_probe || return 1
	expect_eq 0 "$(sql "SELECT count(*) FROM dead_letters")" "dead letters from the corpus" || return 1
	sql "SELECT d.external_id, string_agg(DISTINCT e.type, ',') FROM devices d LEFT JOIN events e ON e.device_id = d.id AND e.state = 'alarm' WHERE d.id LIKE 'ZC%' GROUP BY 1" >"$SDIR/raised.txt"
	python3 - "$corpus" "$SDIR/raised.txt" <<'PY' || return 1
import json, sys
expect = {}
for l in open(sys.argv[1]):
    j = json.loads(l)
    expect["corpus/" + j["model"]] = set(j["expect"])
raised = {}
for l in open(sys.argv[2]):
    name, _, types = l.rstrip("\n").partition("|")
    raised[name] = set(t for t in types.split(",") if t)
life = {"sos", "fall", "smoke", "gas", "co"}
bad = 0
for name, want in expect.items():
    got = raised.get(name, set())
    if not want <= got or (got & life) - want:
        print("    FAIL: %s expected %s, raised %s" % (name, sorted(want), sorted(got)))
        bad += 1
print("    ok: %d models, %d lines replayed; %d raised what they should" % (
    len(expect), sum(1 for _ in open(sys.argv[1])), len(expect) - bad))
sys.exit(1 if bad else 0)
PY
	kill -0 "$DAEMON_PID" || die "daemon died" || return 1
}

# --- main ------------------------------------------------------------------

if ! setup; then
	echo "setup failed"
	echo "0 passed, 1 failed"
	exit 1
fi
SEQ=0
run "SOS -> nearest -> accept -> arrived -> done -> resolved" s_sos_lifecycle
run "decline -> next; no answer -> next; nobody -> escalated" s_decline_timeout_escalate
run "the same event id twice -> one incident, one offer" s_duplicate_event
run "a second alarm of the same elder joins the open incident" s_second_alarm_joins
run "bad input -> dead letters, the next SOS still dispatched" s_bad_input
run "kill -9 before the commit -> redelivered, stored once" s_kill_before_commit
run "kill -9 after the commit, before the ack -> one incident" s_kill_after_commit
run "restart with a pending offer -> its deadline still fires" s_restart_pending_offer
run "a clear does not close a priority-1 incident" s_clear_keeps_p1
run "low_battery -> station ticket, no volunteer offer" s_low_battery_ticket
run "a bad CSV row applies nothing and names its line" s_bad_csv
run "the broker restarts -> reconnect, nothing lost" s_broker_away
run "no spool: the database goes away -> the SOS is offered when it is back" s_db_away
run "spool: SOS offered, answered and journaled while the database is down; written back once" s_spool_outage
run "spool: kill -9 in an outage, torn tail; written back before the load, twice = once" s_spool_crash_replay
run "spool: an SOS sent again in an outage after a restart opens no second incident" s_spool_resend_after_restart
run "spool: a record refused at write-back is kept in spool.rejected, not lost" s_spool_record_rejected
run "spool: bounded; full stops the acks, the broker keeps the rest, nothing lost" s_spool_full
run "spool: a frozen writer backend -> the SOS offered from the journal within the commit deadline" s_spool_frozen_backend
run "visit records are stored once" s_visit_record
run "SIGHUP loads devices imported since start" s_reload_reference
run "no spool: the database away while an offer is out -> no candidate burnt" s_db_away_holds_offers
run "carewatchd -n reports bad configuration with its line" s_config_check
run "a P1 raise shortens the offer window, also across a restart" s_offer_window_persisted
run "the escalation clock of a raised incident survives a restart" s_escalation_clock_persisted
run "offline then online in one burst -> online" s_status_last_wins
run "replay classifies as of the receive time" s_replay_receive_time
run "a quote in an event id cannot forge a log field" s_log_injection
run "a ticket for an elder without a station -> regional center" s_ticket_without_station
run "no spool: a frozen database backend -> stall reported, watchdog withheld" s_stall_withholds_watchdog
run "HTTP: roles, areas, ack, dispatch, resolve, audit" s_http_operator_flow
run "HTTP: events after Last-Event-ID across a kill -9" s_http_events_restart
run "HTTP: revoke within a second; database and broker away" s_http_revoke_and_outages
run "HTTP: visits validated, scoped, stored once" s_http_visits
# visits (issue 8, branch visits)
run "MQTT visits: future, unknown elder, bad kind dead-lettered" s_visit_mqtt_refusals
run "a silent device -> one ticket; heard again -> cleared" s_supervise_ticket
run "a retained offline starts the silence; passed while down -> fires once" s_supervise_offline_restart
run "12 devices of a village silent -> one area incident; SOS still offered" s_supervise_storm
run "OwnTracks: a live fix sets distance_m and who is nearest" s_owntracks_live_position
run "OwnTracks: a stale fix is not used; home instead" s_owntracks_stale_fix
run "OwnTracks: the latest position survives a restart" s_owntracks_restart_keeps_position
run "OwnTracks: other _types ignored, malformed dead-lettered, unknown users counted" s_owntracks_bad_and_unknown
run "a door at night -> priority 2, raised for a risk elder" s_door_at_night
run "a door by day raises nothing" s_door_by_day
run "skills: fall prefers first_aid; a missing skill falls back" s_skills_prefer
run "skills: require offers nobody without the skill" s_skills_require
run "flood: 2,000 events/s from one device; another SOS within 1 s" s_flood_control
run "a row PostgreSQL rejects is dead-lettered, the rest committed" s_batch_row_rejected
run "wall-clock steps of +1 h and -2 h keep offer windows and supervision" s_clock_step
run "names looked up on the loop: HTTP answers while DNS is silent, then connects" s_dns_lookup
run "sslmode=verify-full on a looked-up name: TLS to PostgreSQL, another name refused" s_db_tls
run "a backlog of 6,000 heartbeats: the SOS in the middle is stored and offered first" s_backlog_alarm_first
run "zigbee2mqtt: smoke edges, a repeat, a clear, kill -9 and restart" s_z2m_smoke_edges
run "zigbee2mqtt: redelivery after kill -9 stored once" s_z2m_redelivery
run "zigbee2mqtt: unknown names, bridge tree, availability, ticket, SOS, door" s_z2m_topics
run "zigbee2mqtt: the converter corpus raises what each model should" s_z2m_corpus

echo
if ((fail > 0)); then
	echo "failed scenarios: ${failed_names[*]}"
fi
echo "scenarios: $pass passed, $fail failed"
((fail == 0))
