#!/bin/bash
# spec7.sh - the configuration of SPEC §7, verbatim (tests/fixtures/spec7.conf),
# drives the CLI and the real daemon, with every column of SPEC §2 imported.
#
# That configuration names fixed places: the broker on 127.0.0.1:1883, the
# database by libpq's defaults (conninfo = dbname=carewatch) and the state
# directory /var/lib/carewatch. So the script runs itself again inside new
# mount and network namespaces (root and unshare needed; else it is skipped
# with status 77): there 127.0.0.1:1883 is a private mosquitto, libpq is
# pointed at a private PostgreSQL by PGHOST/PGPORT/PGUSER, and a temporary
# directory is bind-mounted over /var/lib/carewatch. Nothing of the host's
# is used or changed, except that /var/lib/carewatch is made (empty) when
# the host has none, to mount over, and removed again.
#
# Every wait is bounded and polls for a real message or row; every process
# started here is stopped by its pid.
set -uo pipefail

top_srcdir=${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
CWD_BIN=$top_builddir/daemon/carewatchd
CLI_BIN=$top_builddir/cli/carewatch
FIXTURE=$top_srcdir/tests/fixtures/spec7.conf
STATE=/var/lib/carewatch

# --- outside: enter the namespaces, or skip -------------------------------

if [[ ${CW_SPEC7_INSIDE:-} != 1 ]]; then
	if [[ $(id -u) -ne 0 ]]; then
		echo "SKIP: spec7.sh needs root, to run in its own mount and network namespaces"
		exit 77
	fi
	if ! command -v unshare >/dev/null 2>&1 || ! command -v ip >/dev/null 2>&1 ||
		! unshare --mount --net true 2>/dev/null; then
		echo "SKIP: spec7.sh needs unshare --mount --net and ip (util-linux, iproute2)"
		exit 77
	fi
	made_state=0
	if [[ ! -e $STATE ]]; then
		mkdir -p "$STATE" || exit 1
		made_state=1
	fi
	self=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
	CW_SPEC7_INSIDE=1 top_srcdir=$top_srcdir top_builddir=$top_builddir \
		unshare --mount --net -- bash "$self" "$@"
	rc=$?
	# the directory made only to mount over goes again (it is empty: the
	# mount was private to the namespace)
	if ((made_state == 1)); then
		rmdir "$STATE" 2>/dev/null || echo "spec7: $STATE left behind (not empty)"
	fi
	exit "$rc"
fi

# --- inside the namespaces ------------------------------------------------

WORK=$(mktemp -d /tmp/cw-spec7.XXXXXX)
chmod 755 "$WORK"
OUT=$WORK/out # stdout and stderr of every command, checked for the id number
mkdir -p "$OUT" "$WORK/state" "$WORK/csv"
CONF=$FIXTURE # used as it is, never copied or changed
OTHER_KEY=$WORK/other.key # a key the database does not know
MSGS=$WORK/msgs
DLOG=$WORK/daemon.log
MQ_PID=
SUB_PID=
DAEMON_PID=
MOUNTED=0

# The elder's 身份证号: a valid check digit (GB 11643), and digits that
# appear nowhere else, so any leak is found by grep.
ID_NUMBER=140426194803021230
ID_MASKED='1404**********1230'

pass=0
fail=0
failed_names=()

# shellcheck source=lib/check.sh
. "$top_srcdir/tests/lib/check.sh"

# Stops pid with SIGTERM and waits up to 10 s, then kills it.
stop_pid() { # pid
	local pid=$1 i
	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

cleanup() {
	stop_pid "$DAEMON_PID"
	stop_pid "$SUB_PID"
	stop_pid "$MQ_PID"
	cw_servers_stop 2>/dev/null
	((MOUNTED == 1)) && umount "$STATE" 2>/dev/null
	if [[ ${KEEP:-0} != 1 ]]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

sql() {
	"$CW_PG_BIN/psql" -X -A -t -q -v ON_ERROR_STOP=1 -d carewatch -c "$1"
}

# Runs the CLI, keeping its output under $OUT/NAME.out and .err.
cli() { # name args...
	local name=$1
	shift
	"$CLI_BIN" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"
}

run() { # name function
	local name=$1 fn=$2
	echo "--- $name"
	if $fn; then
		pass=$((pass + 1))
		echo "PASS: $name"
	else
		fail=$((fail + 1))
		failed_names+=("$name")
		echo "FAIL: $name"
		local f
		for f in "$OUT"/*; do
			[[ -s $f ]] || continue
			echo "    $(basename "$f") (last 5 lines):"
			tail -n 5 "$f" | sed 's/^/      /'
		done
	fi
}

# SPEC §2's columns of a kind, required then optional, comma-separated: what
# every CSV file below must use. Checked against SPEC.md when it is at hand.
spec2_columns() { # kind
	case $1 in
	areas) echo "code, name, parent_code" ;;
	stations) echo "id, name, kind, area_code, lat, lon, phone, capacity, skills, on_duty" ;;
	volunteers) echo "id, name, area_code, lat, lon, phone, skills, max_km, owntracks_user, active" ;;
	elders) echo "id, name, birth_date, area_code, lat, lon, gender, phone, address, categories, capability_level, visit_consent, station_id, contacts, notes, id_number" ;;
	devices) echo "id, kind, elder_id, ecosystem, external_id, heartbeat_s" ;;
	esac
}

spec_md() {
	local f
	for f in ../shared/SPEC.md "$top_srcdir/../shared/SPEC.md"; do
		if [[ -f $f ]]; then
			echo "$f"
			return 0
		fi
	done
	return 1
}

# --- the namespaces, the servers, the files --------------------------------

setup() {
	ip link set lo up || return 1
	# nothing mounted here reaches the host
	mount --make-rprivate / || return 1
	chmod 700 "$WORK/state"
	mount --bind "$WORK/state" "$STATE" || return 1
	MOUNTED=1
	# shellcheck source=lib/servers.sh
	. "$top_srcdir/tests/lib/servers.sh"
	cw_servers_start "$WORK/srv" || return 1
	# libpq's environment makes conninfo = dbname=carewatch the private server
	export PGHOST=127.0.0.1 PGPORT=$CW_PGPORT PGUSER=postgres
	unset PGDATABASE PGSERVICE PGPASSFILE
	broker_1883 || return 1
	(umask 077 && head -c 32 /dev/urandom | base64 >"$OTHER_KEY") || return 1
	make_csv
}

# SPEC §7 says the broker is 127.0.0.1:1883: a mosquitto of our own there,
# in this network namespace only.
broker_1883() {
	local i
	mkdir -p "$WORK/mq1883"
	cat >"$WORK/mq1883/mosquitto.conf" <<EOF
listener 1883 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 100000
log_dest stderr
log_type error
log_type warning
log_type notice
EOF
	setsid mosquitto -c "$WORK/mq1883/mosquitto.conf" >"$WORK/mq1883/log" 2>&1 &
	MQ_PID=$!
	for ((i = 0; i < 100; i++)); do
		if timeout 2 mosquitto_pub -h 127.0.0.1 -p 1883 -q 1 -i spec7-probe \
			-t spec7/probe -m up 2>/dev/null; then
			return 0
		fi
		kill -0 "$MQ_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "mosquitto on 127.0.0.1:1883 did not come up:"
	cat "$WORK/mq1883/log"
	return 1
}

# One small county, every column of SPEC §2 in every file. E1 lives alone at
# (36.5, 113.4); volunteer V1 is 300 m away, the nearest available
# responder; V2 (600 m) is inactive; the elder's station S_HOME is 2 km
# away, the day-care centre 10 km, the county center 10 km.
make_csv() {
	local f=$WORK/csv
	cat >"$f/areas.csv" <<CSV
code,name,parent_code
140000000000,山西省,
140400000000,长治市,140000000000
140426000000,黎城县,140400000000
140426100000,黎侯镇,140426000000
140426100200,东关村,140426100000
CSV
	cat >"$f/stations.csv" <<CSV
id,name,kind,area_code,lat,lon,phone,capacity,skills,on_duty
S_CC,黎城县养老服务管理中心,county_center,140426000000,36.59,113.40,0355-6000000,6,first_aid,24h
S_REG,黎侯镇区域养老服务中心,regional_center,140426100000,36.62,113.40,0355-6000003,4,nursing;repair,24h
S_HOME,东关村养老服务站,village_station,140426100200,36.518,113.40,0355-6000001,1,first_aid;nursing,24h
S_DAY,东关村日间照料中心,day_care,140426100200,36.59,113.45,,,,8:00-18:00
CSV
	cat >"$f/volunteers.csv" <<CSV
id,name,area_code,lat,lon,phone,skills,max_km,owntracks_user,active
V1,李一,140426100200,36.5027,113.40,13800000001,first_aid;fire_safety,3,li-yi,yes
V2,王二,140426100200,36.5054,113.40,,gas_safety,,,no
CSV
	cat >"$f/elders.csv" <<CSV
id,name,birth_date,area_code,lat,lon,gender,phone,address,categories,capability_level,visit_consent,station_id,contacts,notes,id_number
E1,张桂兰,1948-03-02,140426100200,36.50,113.40,F,13900000001,东关村 1 号,living_alone;low_income,1,yes,S_HOME,李明:13900000009;王芳：0355-6000009,"心脏病, 钥匙在邻居家",$ID_NUMBER
E2,刘大爷,1956/7/1,140426100200,36.51,113.41,男,,,,,否,,,,
CSV
	cat >"$f/devices.csv" <<CSV
id,kind,elder_id,ecosystem,external_id,heartbeat_s
D1,sos_button,E1,native,,600
D2,smoke,E1,zigbee2mqtt,e1_kitchen_smoke,
D3,gas,E2,,,
CSV
}

# --- steps -------------------------------------------------------------------

s_fixture() {
	local spec k want got
	if ! spec=$(spec_md); then
		note "SPEC.md not at hand (../shared): the fixture is taken as it is"
		return 0
	fi
	awk '/^## 7\./ { s = 1 } s && /^```ini$/ { f = 1; next } f && /^```$/ { exit } f' \
		"$spec" >"$WORK/spec7-from-spec.conf"
	[[ -s $WORK/spec7-from-spec.conf ]] || die "no ini block in §7 of $spec" || return 1
	cmp "$WORK/spec7-from-spec.conf" "$FIXTURE" ||
		die "tests/fixtures/spec7.conf differs from the ini block of SPEC §7" || return 1
	note "ok: tests/fixtures/spec7.conf is SPEC §7's ini block, byte for byte"
	for k in areas stations volunteers elders devices; do
		want=$(sed -n "s/^| \`$k\` | //p" "$spec" | sed 's/ |$//; s/`//g; s/ · /, /')
		got=$(spec2_columns "$k")
		expect_eq "$want" "$got" "SPEC §2 columns of $k" || return 1
	done
}

s_check_config() {
	"$CWD_BIN" -n -c "$CONF" >"$OUT/daemon-n.out" 2>"$OUT/daemon-n.err" ||
		die "carewatchd -n refused SPEC §7's configuration: $(cat "$OUT/daemon-n.err")" || return 1
	note "ok: carewatchd -n -c spec7.conf"
}

fingerprint_of_file() { # the hex SHA-256 of the key's text without its line break
	tr -d '\n' <"$1" | sha256sum | cut -d' ' -f1
}

s_migrate_creates_key() {
	local key=$STATE/id.key
	[[ ! -e $key ]] || die "a key exists before db migrate" || return 1
	cli migrate1 -c "$CONF" db migrate || die "db migrate failed" || return 1
	grep -q "created the id-number key $key" "$OUT/migrate1.out" ||
		die "db migrate did not say it created $key" || return 1
	[[ -f $key ]] || die "no $key after db migrate" || return 1
	expect_eq 600 "$(stat -c %a "$key")" "mode of $key" || return 1
	expect_eq 700 "$(stat -c %a "$STATE")" "mode of $STATE" || return 1
	expect_eq 32 "$(base64 -d <"$key" | wc -c)" "random bytes in the key" || return 1
	expect_eq 1 "$(wc -l <"$key")" "lines in the key file" || return 1
	expect_eq "$(fingerprint_of_file "$key")" "$(sql "SELECT fingerprint FROM id_key")" \
		"recorded fingerprint" || return 1
	# every migration shipped in sql/, by its number
	local shipped
	shipped=$(find "$top_srcdir/sql" -maxdepth 1 -name '[0-9]*.sql' -printf '%f\n' |
		sed 's/_.*//; s/^0*//' | sort -n | paste -sd,)
	expect_eq "$shipped" "$(sql "SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migrations")" \
		"migrations applied" || return 1
}

s_import_every_column() {
	local k
	for k in areas stations volunteers elders devices; do
		expect_eq "$(spec2_columns "$k" | tr -d ' ')" "$(head -n 1 "$WORK/csv/$k.csv")" \
			"header of $k.csv" || return 1
		cli "import-$k" -c "$CONF" import "$k" "$WORK/csv/$k.csv" ||
			die "import $k: $(cat "$OUT/import-$k.err")" || return 1
	done
	expect_eq "140426100200|东关村|140426100000|village" \
		"$(sql "SELECT code, name, parent_code, level FROM areas WHERE code = '140426100200'")" \
		"area row" || return 1
	expect_eq "S_DAY|day_care|140426100200|36.59|113.45||2|{}|08:00-18:00" \
		"$(sql "SELECT id, kind, area_code, lat, lon, phone, capacity, skills, on_duty FROM stations WHERE id = 'S_DAY'")" \
		"station with its defaults" || return 1
	expect_eq "S_HOME|东关村养老服务站|0355-6000001|1|{first_aid,nursing}|24h" \
		"$(sql "SELECT id, name, phone, capacity, skills, on_duty FROM stations WHERE id = 'S_HOME'")" \
		"station row" || return 1
	expect_eq "V1|李一|13800000001|{first_aid,fire_safety}|3|li-yi|t" \
		"$(sql "SELECT id, name, phone, skills, max_km, owntracks_user, active FROM volunteers WHERE id = 'V1'")" \
		"volunteer row" || return 1
	expect_eq "V2|王二||{gas_safety}|||f" \
		"$(sql "SELECT id, name, phone, skills, max_km, owntracks_user, active FROM volunteers WHERE id = 'V2'")" \
		"volunteer without optional values" || return 1
	expect_eq "E1|张桂兰|1948-03-02|F|13900000001|东关村 1 号|{living_alone,low_income}|1|t|S_HOME|李明:13900000009;王芳:0355-6000009|心脏病, 钥匙在邻居家" \
		"$(sql "SELECT concat_ws('|', id, name, birth_date, gender, phone, address, categories, capability_level, visit_consent, station_id, contacts, notes) FROM elders WHERE id = 'E1'")" \
		"elder row" || return 1
	expect_eq "E2|1956-07-01|M|f|{}||" \
		"$(sql "SELECT concat_ws('|', id, birth_date, gender, visit_consent, categories, coalesce(contacts, ''), coalesce(id_number_masked, '')) FROM elders WHERE id = 'E2'")" \
		"elder without optional values" || return 1
	expect_eq "D1|sos_button|E1|native||600;D2|smoke|E1|zigbee2mqtt|e1_kitchen_smoke|;D3|gas|E2|native||" \
		"$(sql "SELECT string_agg(concat_ws('|', id, kind, elder_id, ecosystem, coalesce(external_id, ''), coalesce(heartbeat_s::text, '')), ';' ORDER BY id) FROM devices")" \
		"device rows" || return 1
}

s_id_number_protected() {
	expect_eq "$ID_MASKED" "$(sql "SELECT id_number_masked FROM elders WHERE id = 'E1'")" \
		"masked id number" || return 1
	# the stored bytes are ciphertext: the number is in no column in clear
	expect_eq 0 "$(sql "SELECT count(*) FROM elders WHERE position(convert_to('$ID_NUMBER', 'UTF8') in id_number_enc) > 0 OR row_to_json(elders)::text LIKE '%${ID_NUMBER:4:10}%'")" \
		"rows holding the id number in clear" || return 1
	expect_eq t "$(decrypts_with "$STATE/id.key")" "decrypts with the key" || return 1
	expect_eq f "$(decrypts_with "$OTHER_KEY")" "decrypts with another key" || return 1
}

# t when the stored id number of E1 decrypts under the key in file to
# ID_NUMBER, f when it does not. psql reads the key itself (\set with a
# backtick command): it is in no argument, and only t or f comes back.
decrypts_with() { # key-file
	"$CW_PG_BIN/psql" -X -A -t -q -d carewatch -v want="$ID_NUMBER" -v file="$1" <<'SQL'
\set key `tr -d '\n' <:'file'`
CREATE FUNCTION pg_temp.opens(b bytea, k text, want text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
	RETURN pgp_sym_decrypt(b, k) = want;
EXCEPTION WHEN OTHERS THEN
	RETURN false;
END $$;
SELECT pg_temp.opens(id_number_enc, :'key', :'want') FROM elders WHERE id = 'E1';
SQL
}

s_second_migrate_keeps_key() {
	local key=$STATE/id.key before after
	before=$(fingerprint_of_file "$key")
	cli migrate2 -c "$CONF" db migrate || die "second db migrate failed" || return 1
	after=$(fingerprint_of_file "$key")
	expect_eq "$before" "$after" "fingerprint after a second db migrate" || return 1
	expect_eq "$before" "$(sql "SELECT fingerprint FROM id_key")" "recorded fingerprint" || return 1
	expect_eq 600 "$(stat -c %a "$key")" "mode of the key" || return 1
	grep -q "the id-number key $key matches the database" "$OUT/migrate2.out" ||
		die "db migrate did not confirm the key: $(cat "$OUT/migrate2.out")" || return 1
	if grep -q created "$OUT/migrate2.out"; then die "a second key was created"; return 1; fi
}

s_other_key_refused() {
	local other=$OTHER_KEY conf=$WORK/other.conf before
	cp "$CONF" "$conf"
	printf '\n[privacy]\nid_key_file = %s\n' "$other" >>"$conf"
	before=$(sql "SELECT md5(string_agg(concat_ws('|', id, id_number_enc, updated_at), ';' ORDER BY id)) FROM elders")
	if cli import-other -c "$conf" import elders "$WORK/csv/elders.csv"; then
		die "an import under another key succeeded"
		return 1
	fi
	expect_eq 1 "$(wc -l <"$OUT/import-other.err")" "lines of the reason" || return 1
	note "reason: $(cat "$OUT/import-other.err")"
	grep -q "nothing imported: $other is not the key" "$OUT/import-other.err" ||
		die "the reason names the key file" || return 1
	if grep -q -F "$(tr -d '\n' <"$other")" "$OUT/import-other.err"; then
		die "the key was printed"
		return 1
	fi
	expect_eq "$before" "$(sql "SELECT md5(string_agg(concat_ws('|', id, id_number_enc, updated_at), ';' ORDER BY id)) FROM elders")" \
		"elders after the refused import" || return 1
	# a file without id numbers needs no key
	cli import-other-devices -c "$conf" import devices "$WORK/csv/devices.csv" ||
		die "devices refused under another key" || return 1
}

s_missing_key() {
	local conf=$WORK/nokey.conf empty=$WORK/empty-state
	mkdir -p "$empty"
	sed "s|^dir = /var/lib/carewatch |dir = $empty |" "$CONF" >"$conf"
	grep -q "^dir = $empty " "$conf" || die "could not point [spool] dir elsewhere" || return 1
	if cli import-nokey -c "$conf" import elders "$WORK/csv/elders.csv"; then
		die "an import without the key succeeded"
		return 1
	fi
	expect_eq 1 "$(wc -l <"$OUT/import-nokey.err")" "lines of the reason" || return 1
	note "reason: $(cat "$OUT/import-nokey.err")"
	grep -q "$empty/id.key.*run \`carewatch db migrate\`.*id_key_file" "$OUT/import-nokey.err" ||
		die "the reason names the key file and db migrate" || return 1
	# the database knows a key: migrate must not make a new one in its place
	if cli migrate-nokey -c "$conf" db migrate; then
		die "db migrate made do without the recorded key"
		return 1
	fi
	[[ ! -e $empty/id.key ]] || die "db migrate created a new key over a recorded one" || return 1
	grep -q "restore that key" "$OUT/migrate-nokey.err" ||
		die "db migrate says to restore the key: $(cat "$OUT/migrate-nokey.err")" || return 1
}

has_offer() { grep -q '^carewatch/dispatch/V1 .*"offer":1' "$MSGS"; }
is_ready() { grep -q 'event=ready' "$DLOG"; }
probe_seen() { grep -q '^carewatch/spec7-probe ' "$MSGS"; }

s_daemon_offers() {
	local i offer
	: >"$MSGS"
	mosquitto_sub -h 127.0.0.1 -p 1883 -q 1 -v -t 'carewatch/#' >"$MSGS" 2>/dev/null &
	SUB_PID=$!
	for ((i = 0; i < 100; i++)); do
		mosquitto_pub -h 127.0.0.1 -p 1883 -q 1 -t carewatch/spec7-probe -m "$i"
		probe_seen && break
		sleep 0.05
	done
	probe_seen || die "the subscriber did not come up" || return 1
	# SPEC §7's conninfo names no user: the CLI is the owner by PGUSER, and
	# the daemon, in its environment only, cw_daemon (migration 015's role)
	cw_daemon_role || return 1
	env PGUSER=cw_daemon "$CWD_BIN" -c "$CONF" >"$DLOG" 2>&1 &
	DAEMON_PID=$!
	wait_until 15 "carewatchd to be ready" is_ready || return 1
	note "ok: carewatchd -c spec7.conf is ready"
	cw_expect_daemon_user || return 1
	mosquitto_pub -h 127.0.0.1 -p 1883 -q 1 -t carewatch/dev/D1/event \
		-m '{"id":"e-spec7","type":"sos","ts":"2026-11-22T08:15:00+08:00"}'
	wait_until 10 "the offer on carewatch/dispatch/V1" has_offer || return 1
	offer=$(grep -m1 '^carewatch/dispatch/V1 .*"offer":1' "$MSGS")
	note "offer: ${offer:0:200}"
	grep -q -E '"elder": ?\{"id": ?"E1"' <<<"$offer" || die "the offer names elder E1" || return 1
	grep -q '"alarm":"e-spec7"' <<<"$offer" || die "the offer names the alarm" || return 1
	if grep -q 'id_number' <<<"$offer"; then die "id_number in the offer"; return 1; fi
	if grep -q -e "$ID_NUMBER" -e "${ID_NUMBER:4:10}" -e '\*\*\*\*' "$MSGS"; then
		die "the id number (or its masked form) went out over MQTT"
		return 1
	fi
	expect_eq 0 "$(grep -c '^carewatch/dispatch/V2 ' "$MSGS")" "offers to the inactive V2" || return 1
	stop_pid "$DAEMON_PID"
	DAEMON_PID=
	stop_pid "$SUB_PID"
	SUB_PID=
}

s_never_printed() {
	local f hits=0
	for f in "$OUT"/* "$DLOG"; do
		[[ -f $f ]] || continue
		if grep -q -e "$ID_NUMBER" -e "${ID_NUMBER:4:10}" "$f"; then
			echo "    FAIL: the id number appears in $(basename "$f")"
			hits=$((hits + 1))
		fi
	done
	((hits == 0)) || return 1
	note "ok: no command's stdout or stderr, nor the daemon's log, holds the id number"
}

# --- main ----------------------------------------------------------------------

if ! setup; then
	echo "setup failed"
	echo "scenarios: 0 passed, 1 failed"
	exit 1
fi
run "the fixture is SPEC §7's ini block; the CSV columns are SPEC §2's" s_fixture
run "carewatchd -n accepts SPEC §7's configuration" s_check_config
run "db migrate creates the id-number key in $STATE, mode 0600" s_migrate_creates_key
run "import of areas, stations, volunteers, elders, devices with every column" s_import_every_column
run "the id number is stored encrypted and shown masked" s_id_number_protected
run "a second db migrate keeps the key" s_second_migrate_keeps_key
run "an import under another key file is refused in one line" s_other_key_refused
run "a missing key: import says to run db migrate, which will not replace it" s_missing_key
run "carewatchd -c spec7.conf offers an SOS to the nearest responder" s_daemon_offers
run "no command printed the id number" s_never_printed

echo
if ((fail > 0)); then
	echo "failed: ${failed_names[*]}"
fi
echo "scenarios: $pass passed, $fail failed"
((fail == 0))
