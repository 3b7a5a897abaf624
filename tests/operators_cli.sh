#!/bin/bash
# operators_cli.sh - the command line's side of operators' accounts and the
# audit log, against a private PostgreSQL and mosquitto on 127.0.0.1
# (tests/lib/servers.sh) and the real carewatchd:
#   - carewatch user add|list|revoke: the token printed once, only its hash
#     stored, refusals in one line, an audit row for each add and revoke;
#   - carewatch audit and audit verify: the chain recomputed in C matches
#     the one the trigger built, and a row changed, removed or inserted
#     behind the trigger's back is named;
#   - carewatch ack|resolve|dispatch: a daemon that is not there, then the
#     live daemon's HTTP API: confirmations, refusals, a revoked token.
# The steps run in order on one database: each builds on the one before.
# Every wait is bounded and polls for a real row, file or port.
set -uo pipefail

top_srcdir=${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
CWD_BIN=$top_builddir/daemon/carewatchd
CLI_BIN=$top_builddir/cli/carewatch
# shellcheck source=lib/servers.sh
. "$top_srcdir/tests/lib/servers.sh"
# shellcheck source=lib/check.sh
. "$top_srcdir/tests/lib/check.sh"

# the CLI as the owner; the daemon as cw_daemon (migration 015's role)
export PGUSER=postgres
WORK=$(mktemp -d /tmp/cw-ops.XXXXXX)
chmod 755 "$WORK"
OUT=$WORK/out # stdout and stderr of every command, by step
CONF=$WORK/carewatchd.conf
DLOG=$WORK/daemon.log
mkdir -p "$OUT" "$WORK/spool" "$WORK/csv"
DAEMON_PID=
ME=$(id -un)
P=ops # topic prefix

pass=0
fail=0
failed_names=()

cleanup() {
	stop_daemon
	cw_servers_stop
	if [[ ${KEEP:-0} != 1 ]]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

# --- helpers ---------------------------------------------------------------

sql() {
	"$CW_PG_BIN/psql" -X -A -t -q -v ON_ERROR_STOP=1 "$CW_CONNINFO" -c "$1"
}

# Runs the CLI with the test's configuration, keeping its output under
# $OUT/NAME.out and .err; returns its exit status.
cli() { # name args...
	local name=$1
	shift
	"$CLI_BIN" -c "$CONF" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"
}

# Expects the step's command to have failed with exactly one line on stderr
# containing text, and nothing on stdout.
expect_refusal() { # name rc text
	local name=$1 rc=$2 text=$3
	[[ $rc -ne 0 ]] || die "$name succeeded" || return 1
	expect_eq 1 "$(wc -l <"$OUT/$name.err")" "lines on stderr of $name" || return 1
	grep -q -F -- "$text" "$OUT/$name.err" ||
		die "$name: expected '$text' in: $(cat "$OUT/$name.err")" || return 1
	[[ ! -s $OUT/$name.out ]] || die "$name printed on stdout: $(cat "$OUT/$name.out")" || return 1
	note "ok: $name refused: $(cat "$OUT/$name.err")"
}

sha256_of() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

stop_daemon() {
	local i
	[[ -n $DAEMON_PID ]] || return 0
	kill -TERM "$DAEMON_PID" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=
}

run() { # name function
	local name=$1 fn=$2 f
	echo "--- $name"
	if $fn; then
		pass=$((pass + 1))
		echo "PASS: $name"
	else
		fail=$((fail + 1))
		failed_names+=("$name")
		echo "FAIL: $name"
		for f in "$OUT"/*; do
			[[ -s $f && $f -nt $WORK/step ]] || continue
			echo "    $(basename "$f") (last 5 lines):"
			tail -n 5 "$f" | sed 's/^/      /'
		done
		if [[ -s $DLOG && $DLOG -nt $WORK/step ]]; then
			echo "    daemon log (last 20 lines):"
			tail -n 20 "$DLOG" | sed 's/^/      /'
		fi
	fi
	touch "$WORK/step"
}

# --- the servers and the county --------------------------------------------

# A township beside the elder's (140426200000) for a user out of the area;
# E1 lives in village 140426100200 with the device D1.
make_csv() {
	local f=$WORK/csv
	cat >"$f/areas.csv" <<CSV
code,name,parent_code
140000000000,山西省,
140400000000,长治市,140000000000
140426000000,黎城县,140400000000
140426100000,黎侯镇,140426000000
140426200000,上遥镇,140426000000
140426100200,东关村,140426100000
CSV
	cat >"$f/stations.csv" <<CSV
id,name,kind,area_code,lat,lon,phone,capacity,skills,on_duty
S_CC,黎城县养老服务管理中心,county_center,140426000000,36.59,113.40,0355-6000000,6,first_aid,24h
S_HOME,东关村养老服务站,village_station,140426100200,36.518,113.40,0355-6000001,1,first_aid,24h
CSV
	cat >"$f/volunteers.csv" <<CSV
id,name,area_code,lat,lon,phone,skills,max_km,owntracks_user,active
V1,李一,140426100200,36.5027,113.40,13800000001,first_aid,,,yes
V3,赵三,140426100200,36.5081,113.40,13800000003,,,,yes
CSV
	cat >"$f/elders.csv" <<CSV
id,name,birth_date,area_code,lat,lon,gender,phone,address,categories,capability_level,visit_consent,station_id,contacts,notes,id_number
E1,张桂兰,1948-03-02,140426100200,36.50,113.40,F,13900000001,Hidden St 1,living_alone,1,yes,S_HOME,,,
CSV
	cat >"$f/devices.csv" <<CSV
id,kind,elder_id,ecosystem,external_id,heartbeat_s
D1,sos_button,E1,native,,
CSV
}

setup() {
	local k
	cw_servers_start "$WORK/srv" || return 1
	head -c 32 /dev/urandom | base64 >"$WORK/key"
	HTTP_PORT=$(cw_free_port "$CW_PGPORT" "$CW_MQ_PORT") || return 1
	cat >"$CONF" <<INI
[mqtt]
host = 127.0.0.1
port = $CW_MQ_PORT
client_id = cwd-$P
topic_prefix = $P
[database]
conninfo = $CW_CONNINFO_PGUSER
[http]
listen = 127.0.0.1:$HTTP_PORT
[dispatch]
offer_timeout_p1_s = 300
offer_timeout_p2_s = 300
escalate_after_s = 600
[spool]
dir = $WORK/spool
[privacy]
id_key_file = $WORK/key
INI
	make_csv
	"$CLI_BIN" -c "$CONF" db migrate >"$OUT/migrate.out" 2>&1 || return 1
	for k in areas stations volunteers elders devices; do
		"$CLI_BIN" -c "$CONF" import "$k" "$WORK/csv/$k.csv" >"$OUT/import-$k.out" 2>&1 ||
			return 1
	done
	cw_daemon_role || return 1
	touch "$WORK/step"
}

# --- accounts ----------------------------------------------------------------

TOKEN_RE='^cw_[A-Za-z0-9_-]{43}$'

# Adds user NAME with ARGS; sets TOKEN to what it printed.
add_user() { # name args...
	local name=$1
	shift
	cli "add-$name" user add "$name" "$@" || die "user add $name: $(cat "$OUT/add-$name.err")" || return 1
	expect_eq 1 "$(wc -l <"$OUT/add-$name.out")" "lines on stdout of user add $name" || return 1
	TOKEN=$(cat "$OUT/add-$name.out")
	[[ $TOKEN =~ $TOKEN_RE ]] || die "token of $name has the wrong shape: $TOKEN" || return 1
	if grep -q -F -- "$TOKEN" "$OUT/add-$name.err"; then die "token on stderr"; return 1; fi
}

s_user_add() {
	add_user alice --role operator --area 140426100200 || return 1
	ALICE=$TOKEN
	note "ok: alice's token has the shape cw_ + 43 base64url characters"
	expect_eq "$(sha256_of "$ALICE")" "$(sql "SELECT token_sha256 FROM users WHERE name = 'alice'")" \
		"stored token_sha256 = hex SHA-256 of the printed token" || return 1
	expect_eq "operator|140426100200|140426100200|$ME|f" \
		"$(sql "SELECT role, area_code, area_prefix, created_by, revoked_at IS NOT NULL FROM users WHERE name = 'alice'")" \
		"alice's row (village: 12 digits)" || return 1
	# the token itself is nowhere in the database
	expect_eq 0 "$(sql "SELECT count(*) FROM users u WHERE row_to_json(u)::text LIKE '%${ALICE:3:20}%'")" \
		"user rows holding the token" || return 1
	add_user bob --role supervisor --area 140426100000 || return 1
	BOB=$TOKEN
	add_user carol --role operator || return 1
	CAROL=$TOKEN
	add_user dave --role auditor || return 1
	DAVE=$TOKEN
	add_user erin --role operator --area 140426200000 || return 1
	ERIN=$TOKEN
	expect_eq "bob:140426100|carol:|erin:140426200" \
		"$(sql "SELECT string_agg(name || ':' || area_prefix, '|' ORDER BY name) FROM users WHERE name IN ('bob', 'carol', 'erin')")" \
		"area prefixes (township 9 digits, none = whole county)" || return 1
	expect_eq "" "$(sql "SELECT area_code FROM users WHERE name = 'carol'")" "carol's area_code" || return 1
	[[ $ALICE != "$BOB" && $BOB != "$CAROL" ]] || die "two tokens alike" || return 1
}

s_duplicate_refused() {
	cli dup user add alice --role auditor
	expect_refusal dup $? "a user named alice exists already" || return 1
	expect_eq "operator" "$(sql "SELECT string_agg(role, ',') FROM users WHERE name = 'alice'")" \
		"alice's rows after the refusal" || return 1
}

s_unknown_area_refused() {
	cli area user add frank --role operator --area 140426999000
	expect_refusal area $? "no area with code 140426999000" || return 1
	cli area-bad user add frank --role operator --area 1404
	expect_refusal area-bad $? "12-digit area code" || return 1
	cli role-bad user add frank --role admin
	expect_refusal role-bad $? "expected one of: operator, supervisor, auditor" || return 1
	expect_eq 0 "$(sql "SELECT count(*) FROM users WHERE name = 'frank'")" "frank's rows" || return 1
}

s_user_list() {
	local t h
	cli list user list || die "user list failed" || return 1
	cli list-json user list --format json || die "user list --format json failed" || return 1
	for t in alice bob carol dave erin; do
		grep -q "^$t " "$OUT/list.out" || die "$t not in the table" || return 1
		grep -q "\"name\": \"$t\"" "$OUT/list-json.out" || die "$t not in the JSON" || return 1
	done
	grep -q '^alice  *operator  *140426100200 ' "$OUT/list.out" || die "alice's role and area" || return 1
	for t in "$ALICE" "$BOB" "$CAROL" "$DAVE" "$ERIN"; do
		h=$(sha256_of "$t")
		if grep -q -e "${t:3:12}" -e "${h:0:16}" "$OUT/list.out" "$OUT/list-json.out"; then
			die "user list shows a token or its hash"
			return 1
		fi
	done
	if grep -q -i 'token\|sha256' "$OUT/list-json.out"; then die "a token field in the JSON"; return 1; fi
	note "ok: user list (table and JSON) shows no token and no hash"
}

s_user_revoke() {
	cli revoke user revoke bob || die "user revoke bob: $(cat "$OUT/revoke.err")" || return 1
	grep -q "user bob revoked" "$OUT/revoke.out" || die "no confirmation" || return 1
	expect_eq t "$(sql "SELECT revoked_at IS NOT NULL FROM users WHERE name = 'bob'")" "bob revoked" || return 1
	cli revoke2 user revoke bob
	expect_refusal revoke2 $? "user bob was revoked already" || return 1
	cli revoke3 user revoke nobody
	expect_refusal revoke3 $? "no user named nobody" || return 1
	# a revoked name is not given out again
	cli readd user add bob --role operator
	expect_refusal readd $? "revoked; names are not reused" || return 1
	cli list2 user list || return 1
	grep -q '^bob .* [0-9-]*T[0-9:]*$' "$OUT/list2.out" || die "user list shows bob's revocation" || return 1
}

s_audit_rows() {
	local row
	row=$(sql "SELECT concat_ws('|', actor, coalesce(role, '-'), source, peer, body, status, result) FROM audit_log WHERE action = 'user add' AND status = 200 AND body LIKE '%\"alice\"%'")
	expect_eq "$ME|-|cli|local (unix user $ME)|{\"name\":\"alice\",\"role\":\"operator\",\"area\":\"140426100200\"}|200|user alice added (operator, area 140426100200)" \
		"$row" "alice's user add row" || return 1
	expect_eq "200:user bob revoked,409:user bob was revoked already,404:no user named nobody" \
		"$(sql "SELECT string_agg(status || ':' || regexp_replace(result, ', at .*', ''), ',' ORDER BY seq) FROM audit_log WHERE action = 'user revoke'")" \
		"user revoke rows" || return 1
	expect_eq "200,200,200,200,200,409,400,409" \
		"$(sql "SELECT string_agg(status::text, ',' ORDER BY seq) FROM audit_log WHERE action = 'user add'")" \
		"user add rows (5 added, the duplicate, the unknown area, the revoked name)" || return 1
	# usage errors never reached the database: no rows for them
	expect_eq 0 "$(sql "SELECT count(*) FROM audit_log WHERE body LIKE '%admin%' OR body LIKE '%\"1404\"%'")" \
		"rows for usage errors" || return 1
	expect_eq 0 "$(sql "SELECT count(*) FROM audit_log a WHERE row_to_json(a)::text LIKE '%${ALICE:3:20}%' OR row_to_json(a)::text LIKE '%${CAROL:3:20}%'")" \
		"audit rows holding a token" || return 1
	cli audit audit || die "carewatch audit failed" || return 1
	grep -q "user revoke .* 404 *no user named nobody" "$OUT/audit.out" || die "the table shows the rows" || return 1
	cli audit-json audit --format json --limit 2 || return 1
	expect_eq 2 "$(grep -c '"seq":' "$OUT/audit-json.out")" "rows with --limit 2 (JSON)" || return 1
	cli audit-lim audit --limit 2 || return 1
	grep -q "(the last 2 of $(sql "SELECT count(*) FROM audit_log") rows" "$OUT/audit-lim.out" ||
		die "--limit says it cut" || return 1
	cli audit-future audit --since 2099-01-01 || return 1
	grep -q "^(0 rows)" "$OUT/audit-future.out" || die "--since in the future lists nothing" || return 1
	cli audit-since audit --since bogus
	expect_refusal audit-since $? "--since takes an RFC 3339 time" || return 1
}

# The C chain against the trigger's, on rows that exercise every field:
# NULLs, an incident id, a body with a line break and Chinese text, a
# daemon-style peer; and across a gap that a rolled-back insert left.
s_verify_intact() {
	local n last hash
	sql "INSERT INTO audit_log (actor, role, source, peer, action, incident_id, body, status, result)
	     VALUES ('alice', 'operator', 'http', '127.0.0.1:40312 (unix user $ME)', 'ack', 42,
	             E'{\"note\":\"电话已联系\\n邻居在场\"}', 409, 'already acknowledged by bob'),
	            ('-', NULL, 'http', '[::1]:5', 'GET /api/v1/audit', NULL, NULL, 401, NULL)" ||
		return 1
	GAP=$(sql "BEGIN; INSERT INTO audit_log (actor, source, peer, action, status) VALUES ('x', 'cli', 'p', 'a', 200) RETURNING seq; ROLLBACK;" | head -n 1)
	[[ $GAP =~ ^[0-9]+$ ]] || die "no seq from the rolled-back insert: $GAP" || return 1
	cli add-after user add grace --role auditor || return 1
	cli verify audit verify || die "audit verify: $(cat "$OUT/verify.err")" || return 1
	n=$(sql "SELECT count(*) FROM audit_log")
	last=$(sql "SELECT max(seq) FROM audit_log")
	hash=$(sql "SELECT encode(hash, 'hex') FROM audit_log ORDER BY seq DESC LIMIT 1")
	expect_eq "audit chain intact: $n rows, last seq $last, last hash $hash" \
		"$(head -n 1 "$OUT/verify.out")" "audit verify" || return 1
	grep -q "^note: seq $GAP holds no row, but the rows around it link" "$OUT/verify.out" ||
		die "the rolled-back seq $GAP is noted" || return 1
	# the trigger's own hashes, recomputed by PostgreSQL: the C code agrees
	# with the SQL on every row (intact means each row's C hash = stored)
	expect_eq 0 "$(sql "SELECT count(*) FROM audit_log a WHERE a.hash <> digest(a.prev_hash || convert_to(audit_canonical(a), 'UTF8'), 'sha256')")" \
		"rows whose stored hash SQL would not recompute" || return 1
	AUDIT_ROWS=$n
}

# Saves the log, so that each tampering can be undone before the next.
keep_log() {
	sql "CREATE TABLE audit_keep AS SELECT * FROM audit_log;
	     ALTER TABLE audit_log DISABLE TRIGGER audit_no_change"
}

# Puts the saved log back, row for row, behind the triggers' back.
restore_log() {
	sql "ALTER TABLE audit_log DISABLE TRIGGER audit_chain;
	     DELETE FROM audit_log;
	     INSERT INTO audit_log SELECT * FROM audit_keep;
	     ALTER TABLE audit_log ENABLE TRIGGER audit_chain"
}

expect_broken() { # name text
	cli "$1" audit verify
	expect_refusal "$1" $? "$2"
}

expect_intact() { # name
	cli "$1" audit verify || die "audit verify after the restore: $(cat "$OUT/$1.err")" || return 1
	grep -q "^audit chain intact: $AUDIT_ROWS rows" "$OUT/$1.out" || die "not intact: $(cat "$OUT/$1.out")" || return 1
}

s_tamper_changed() {
	local k
	keep_log || return 1
	k=$(sql "SELECT seq FROM audit_log WHERE action = 'user revoke' ORDER BY seq LIMIT 1")
	sql "UPDATE audit_log SET body = '{\"name\":\"mallory\"}' WHERE seq = $k" || return 1
	expect_broken changed "carewatch: audit chain broken at seq $k: row changed (hash does not match its content)" || return 1
	# a forger who rehashes the changed row breaks the link after it
	sql "UPDATE audit_log a SET hash = digest(a.prev_hash || convert_to(audit_canonical(a), 'UTF8'), 'sha256') WHERE seq = $k" || return 1
	expect_broken rehashed "carewatch: audit chain broken at seq $k: row changed (its hash was rewritten" || return 1
	restore_log || return 1
	expect_intact changed-restored
}

s_tamper_removed() {
	local k
	k=$(sql "SELECT seq FROM audit_log WHERE status = 409 ORDER BY seq LIMIT 1")
	sql "DELETE FROM audit_log WHERE seq = $k" || return 1
	expect_broken removed "carewatch: audit chain broken at seq $k: row removed" || return 1
	restore_log || return 1
	sql "DELETE FROM audit_log WHERE seq = (SELECT min(seq) FROM audit_log)" || return 1
	expect_broken removed-first "audit chain broken at seq 1: row removed" || return 1
	restore_log || return 1
	expect_intact removed-restored
}

# Forged rows, made as a careful forger would: linked to the row before and
# hashed with the trigger's own formula.
forge() { # seq
	sql "ALTER TABLE audit_log DISABLE TRIGGER audit_chain;
	     INSERT INTO audit_log (seq, at, actor, source, peer, action, body, status, result, prev_hash, hash)
	     SELECT $1, now(), 'mallory', 'cli', 'local (unix user mallory)', 'user add',
	            '{\"name\":\"mallory\",\"role\":\"supervisor\"}', 200, 'user mallory added',
	            (SELECT hash FROM audit_log WHERE seq < $1 ORDER BY seq DESC LIMIT 1), '\\x00';
	     UPDATE audit_log a SET hash = digest(a.prev_hash || convert_to(audit_canonical(a), 'UTF8'), 'sha256')
	     WHERE seq = $1;
	     ALTER TABLE audit_log ENABLE TRIGGER audit_chain"
}

s_tamper_inserted() {
	local next
	# into the gap the rolled-back insert left
	forge "$GAP" || return 1
	expect_broken inserted "carewatch: audit chain broken at seq $GAP: row inserted" || return 1
	restore_log || return 1
	# after the last row, with a seq the sequence never issued
	next=$(($(sql "SELECT max(seq) FROM audit_log") + 1))
	forge "$next" || return 1
	expect_broken appended "carewatch: audit chain broken at seq $next: row inserted (audit_seq never issued" || return 1
	restore_log || return 1
	sql "ALTER TABLE audit_log ENABLE TRIGGER audit_no_change; DROP TABLE audit_keep" || return 1
	expect_intact inserted-restored || return 1
	# and the log is append-only again
	if sql "UPDATE audit_log SET body = 'x' WHERE seq = 1" 2>/dev/null; then
		die "audit_no_change is off"
		return 1
	fi
}

# --- actions through the daemon -------------------------------------------

s_daemon_unreachable() {
	local port tf=$WORK/token
	port=$(cw_free_port "$HTTP_PORT" "$CW_PGPORT" "$CW_MQ_PORT") || return 1
	sed "s/^listen = .*/listen = 127.0.0.1:$port/" "$CONF" >"$WORK/down.conf"
	CAREWATCH_TOKEN=$ALICE "$CLI_BIN" -c "$WORK/down.conf" ack 1 >"$OUT/down.out" 2>"$OUT/down.err"
	expect_refusal down $? "carewatch: cannot reach carewatchd at 127.0.0.1:$port: Connection refused" || return 1
	expect_eq "carewatch: cannot reach carewatchd at 127.0.0.1:$port: Connection refused" \
		"$(cat "$OUT/down.err")" "the whole line" || return 1
	env -u CAREWATCH_TOKEN "$CLI_BIN" -c "$WORK/down.conf" resolve 1 --outcome test \
		>"$OUT/notoken.out" 2>"$OUT/notoken.err"
	expect_refusal notoken $? "no token: set CAREWATCH_TOKEN or give --token-file" || return 1
	printf '%s\n' "$ALICE" >"$tf"
	chmod 644 "$tf"
	"$CLI_BIN" -c "$WORK/down.conf" dispatch 1 --responder V3 --token-file "$tf" \
		>"$OUT/tokmode.out" 2>"$OUT/tokmode.err"
	expect_refusal tokmode $? "is readable by group or others" || return 1
	chmod 600 "$tf"
	"$CLI_BIN" -c "$WORK/down.conf" dispatch 1 --responder V3 --token-file "$tf" \
		>"$OUT/tokok.out" 2>"$OUT/tokok.err"
	expect_refusal tokok $? "cannot reach carewatchd" || return 1
	sed "s/^listen = .*/listen = off/" "$CONF" >"$WORK/off.conf"
	CAREWATCH_TOKEN=$ALICE "$CLI_BIN" -c "$WORK/off.conf" ack 1 >"$OUT/off.out" 2>"$OUT/off.err"
	expect_refusal off $? "[http] listen is off" || return 1
	cli badoutcome resolve 1 --outcome fixed
	expect_refusal badoutcome $? "--outcome: expected one of: emergency_handled" || return 1
}

daemon_ready() { grep -q 'event=ready' "$DLOG"; }
http_ready() { grep -q 'event=http_listening' "$DLOG"; }

# The SOS of E1 opens an incident, offered to V1; sets INC.
open_incident() {
	env PGUSER=cw_daemon "$CWD_BIN" -c "$CONF" >"$DLOG" 2>&1 &
	DAEMON_PID=$!
	wait_until 15 "carewatchd ready" daemon_ready || return 1
	wait_until 10 "carewatchd's HTTP listener" http_ready || return 1
	cw_wait_port "$HTTP_PORT" || return 1
	cw_expect_daemon_user || return 1
	mosquitto_pub -h 127.0.0.1 -p "$CW_MQ_PORT" -q 1 -t "$P/dev/D1/event" \
		-m '{"id":"e-ops-1","type":"sos"}' || return 1
	wait_until 10 "the incident offered to V1" sql_is \
		"SELECT count(*) FROM offers WHERE responder_id = 'V1'" 1 || return 1
	INC=$(sql "SELECT id FROM incidents WHERE elder_id = 'E1' AND state <> 'resolved'")
	note "ok: incident $INC open, offered to V1"
}

sql_is() { [[ "$(sql "$1")" == "$2" ]]; }

# Runs an action as the user whose token is given; output under NAME.
act() { # name token args...
	local name=$1 token=$2
	shift 2
	CAREWATCH_TOKEN=$token "$CLI_BIN" -c "$CONF" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"
}

s_live_actions() {
	local tf=$WORK/token
	open_incident || return 1
	act ack "$ALICE" ack "$INC" --note "电话已联系" || die "ack: $(cat "$OUT/ack.err")" || return 1
	expect_eq "incident $INC acknowledged by alice" "$(cat "$OUT/ack.out")" "ack's confirmation" || return 1
	# answered after the commit: the row says so already
	expect_eq "alice|电话已联系" "$(sql "SELECT acked_by || '|' || ack_note FROM incidents WHERE id = $INC")" \
		"the acknowledgement stored" || return 1
	act ack2 "$CAROL" ack "$INC"
	expect_refusal ack2 $? "carewatch: ack $INC: 409 already acknowledged by alice" || return 1
	# dispatch with the token in a file
	"$CLI_BIN" -c "$CONF" dispatch "$INC" --responder V3 --token-file "$tf" \
		>"$OUT/dispatch.out" 2>"$OUT/dispatch.err" || die "dispatch: $(cat "$OUT/dispatch.err")" || return 1
	expect_eq "incident $INC offered to V3 (manual dispatch)" "$(cat "$OUT/dispatch.out")" \
		"dispatch's confirmation" || return 1
	expect_eq "V1:cancelled,V3:pending" \
		"$(sql "SELECT string_agg(responder_id || ':' || answer, ',' ORDER BY seq) FROM offers WHERE incident_id = $INC")" \
		"offers after the manual dispatch" || return 1
	act dispatch2 "$ALICE" dispatch "$INC" --responder NOPE
	expect_refusal dispatch2 $? "carewatch: dispatch $INC: 409 unknown responder" || return 1
	act resolve "$ALICE" resolve "$INC" --outcome false_alarm --note "误报" ||
		die "resolve: $(cat "$OUT/resolve.err")" || return 1
	expect_eq "incident $INC resolved: false_alarm" "$(cat "$OUT/resolve.out")" "resolve's confirmation" || return 1
	expect_eq "resolved|false_alarm" "$(sql "SELECT state || '|' || outcome FROM incidents WHERE id = $INC")" \
		"the incident resolved" || return 1
	act resolve2 "$ALICE" resolve "$INC" --outcome test
	expect_refusal resolve2 $? "carewatch: resolve $INC: 409 incident $INC is resolved" || return 1
}

s_live_refusals() {
	act wrongtoken "cw_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" ack "$INC"
	expect_refusal wrongtoken $? "carewatch: ack $INC: 401" || return 1
	act revoked "$BOB" ack "$INC"
	expect_refusal revoked $? "carewatch: ack $INC: 401" || return 1
	act auditor "$DAVE" ack "$INC"
	expect_refusal auditor $? "carewatch: ack $INC: 403" || return 1
	# outside erin's township: as if there were no such incident
	act outside "$ERIN" ack "$INC"
	expect_refusal outside $? "carewatch: ack $INC: 404 no incident $INC" || return 1
}

# carol's token works until she is revoked, then within a few seconds it
# does not, with the daemon still running.
carol_refused() {
	act carol "$CAROL" ack 999999
	grep -q ": 401 " "$OUT/carol.err"
}

s_live_revoke() {
	act carol-before "$CAROL" ack 999999
	expect_refusal carol-before $? "carewatch: ack 999999: 404" || return 1
	cli revoke-carol user revoke carol || return 1
	wait_until 5 "carol's token refused" carol_refused || return 1
	note "ok: after user revoke: $(cat "$OUT/carol.err")"
	kill -0 "$DAEMON_PID" 2>/dev/null || die "the daemon is gone" || return 1
}

s_live_audit() {
	local row
	row=$(sql "SELECT concat_ws('|', actor, role, source, incident_id, status, body) FROM audit_log WHERE action = 'ack' AND incident_id = $INC AND status = 200")
	expect_eq "alice|operator|cli|$INC|200|{\"note\":\"电话已联系\"}" "$row" "the daemon's ack row" || return 1
	expect_eq 1 "$(sql "SELECT count(*) FROM audit_log WHERE action = 'ack' AND incident_id = $INC AND status = 200 AND peer LIKE '127.0.0.1:% (unix user $ME)'")" \
		"the ack row names the address and the Unix user" || return 1
	# the refusals are on record too, each with its status; the daemon
	# writes them with its next batch, a moment after it answered
	wait_until 5 "the refused acks' rows" sql_is \
		"SELECT string_agg(status::text, ',' ORDER BY seq) FROM audit_log WHERE action = 'ack' AND incident_id = $INC" \
		"200,409,403,404" || return 1
	# a bad token names no one: wrong, bob's (revoked), carol's (revoked)
	wait_until 5 "the 401 rows" sql_is \
		"SELECT count(*) FROM audit_log WHERE status = 401 AND actor = '-' AND source = 'cli'" 3 || return 1
	note "ok: the refusals' rows: 409, 403, 404 and three 401s"
	wait_until 5 "the resolve rows" sql_is \
		"SELECT string_agg(status::text, ',' ORDER BY seq) FROM audit_log WHERE action = 'resolve' AND incident_id = $INC" \
		"200,409" || return 1
	cli verify-live audit verify || die "audit verify after the daemon's rows: $(cat "$OUT/verify-live.err")" || return 1
	grep -q "^audit chain intact: $(sql "SELECT count(*) FROM audit_log") rows" "$OUT/verify-live.out" ||
		die "not intact: $(cat "$OUT/verify-live.out")" || return 1
	note "ok: $(head -n 1 "$OUT/verify-live.out")"
}

s_no_secrets_printed() {
	local f t hits=0
	stop_daemon
	for f in "$OUT"/* "$DLOG"; do
		[[ -f $f ]] || continue
		case $(basename "$f") in add-*.out) continue ;; esac
		for t in "$ALICE" "$BOB" "$CAROL" "$DAVE" "$ERIN"; do
			if grep -q -F -- "${t:3:16}" "$f"; then
				echo "    FAIL: a token appears in $(basename "$f")"
				hits=$((hits + 1))
			fi
		done
	done
	if grep -q -E '张桂兰|13900000001|Hidden St' "$DLOG"; then
		echo "    FAIL: personal data in the daemon log"
		hits=$((hits + 1))
	fi
	((hits == 0)) || return 1
	note "ok: no token outside user add's stdout, no personal data in the daemon log"
}

# --- main ----------------------------------------------------------------------

if ! setup; then
	echo "setup failed"
	echo "scenarios: 0 passed, 1 failed"
	exit 1
fi
run "user add prints a token once; only its SHA-256 is stored" s_user_add
run "user add refuses a name that exists" s_duplicate_refused
run "user add refuses an unknown area, a bad code, a bad role" s_unknown_area_refused
run "user list shows accounts, never a token or its hash" s_user_list
run "user revoke sets revoked_at; twice, or unknown, is refused" s_user_revoke
run "add and revoke write their audit rows; carewatch audit lists them" s_audit_rows
run "audit verify: the C chain matches the trigger's, across a rolled-back seq" s_verify_intact
run "audit verify names a changed row" s_tamper_changed
run "audit verify names a removed row" s_tamper_removed
run "audit verify names an inserted row" s_tamper_inserted
run "ack without a daemon, without a token, with an open token file" s_daemon_unreachable
run "live: ack, dispatch, resolve through carewatchd; 409s in one line" s_live_actions
run "live: a wrong, revoked, read-only or out-of-area token is refused" s_live_refusals
run "live: user revoke stops a token without a restart" s_live_revoke
run "live: the daemon's audit rows; the chain still intact" s_live_audit
run "no token and no personal data printed where it should not be" s_no_secrets_printed

echo
if ((fail > 0)); then
	echo "failed: ${failed_names[*]}"
fi
echo "scenarios: $pass passed, $fail failed"
((fail == 0))
