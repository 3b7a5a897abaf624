#!/bin/bash
# visits.sh - the desk's two ways in for visit records (issue 8): `carewatch
# visit add` and `carewatch import visits`, against a private PostgreSQL
# (tests/lib/servers.sh), no daemon. Zone Asia/Shanghai (UTC+8, no DST).
#
# Village 140426100200 东关村 of county 140426000000. Elders E1..E4 are
# extreme_poverty (special: targets of the visit rate, consent yes); E5 is
# low_income, born 1960 (no target). Station S1, volunteer V1. Month 2025-11.
#
# What the scenarios add, in order, and what counts for November (in person,
# 2025-11-01 00:00 .. 2025-11-30 23:59 local; phone visits do not count):
#   visit add E1 2025-11-10 09:30 local, id S-1           -> E1 visited
#   visit add E4 RFC 3339, responder V1, id m-1 (2025-11-11T08:00+08) -> E4
#   visit add E5 generated id                            (no target)
#   visit add E1 S-1 again                               -> already recorded
#   visit add E2 phone, no --in-person                   -> not in person
#   import UTF-8 + BOM: E2 2025/11/30 23:59 in person    -> E2 visited
#                       E3 2025-12-01 00:01              (December)
#                       E3 phone                         (not in person)
#                       E1 P-7 (also typed via visit add first: one row)
# Hence before: target 4, visited 0; after: target 4, visited 3 (E1 E2 E4),
# rate 0.75; E3 is the one target not visited.
set -uo pipefail

top_srcdir=${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
CLI_BIN=$top_builddir/cli/carewatch
# shellcheck source=lib/servers.sh
. "$top_srcdir/tests/lib/servers.sh"
# shellcheck source=lib/check.sh
. "$top_srcdir/tests/lib/check.sh"

WORK=$(mktemp -d /tmp/cw-visits.XXXXXX)
chmod 755 "$WORK"
CONF=$WORK/carewatchd.conf
F=$WORK/csv

cleanup() {
	cw_servers_stop
	if [[ ${KEEP:-0} != 1 ]]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT

pass=0
fail=0
failed_names=()

sql() {
	"$CW_PG_BIN/psql" -X -A -t -q -v ON_ERROR_STOP=1 "$CW_CONNINFO" -c "$1"
}

# carewatch with the test's configuration
cw() { "$CLI_BIN" -c "$CONF" "$@"; }

nvisits() { sql "SELECT count(*) FROM visits"; }

# Runs carewatch expecting it to fail with one line on stderr containing a
# text; nothing on stdout.
refused() { # what text args...
	local what=$1 want=$2 rc
	shift 2
	cw "$@" >"$WORK/out" 2>"$WORK/err"
	rc=$?
	if ((rc == 0)); then die "$what: accepted"; return 1; fi
	if [[ $(wc -l <"$WORK/err") != 1 ]] || ! grep -q -- "$want" "$WORK/err"; then
		die "$what: stderr '$(cat "$WORK/err")', expected one line with '$want'"
		return 1
	fi
	note "ok: $what refused ($(cat "$WORK/err"))"
}

# The visit-rate report's total line: "target visited rate".
rate_total() {
	cw report visit-rate --month 2025-11 --format json |
		jq -r '.areas[] | select(.level == "total") | "\(.target) \(.visited) \(.rate)"'
}

setup() {
	cw_servers_start "$WORK/srv" >/dev/null || return 1
	mkdir -p "$F" "$WORK/spool"
	chmod 700 "$WORK/spool"
	cat >"$CONF" <<INI
[database]
conninfo = $CW_CONNINFO
[spool]
dir = $WORK/spool
[privacy]
id_key_file = $WORK/key
INI
	head -c 32 /dev/urandom | base64 >"$WORK/key"
	cat >"$F/areas.csv" <<CSV
code,name,parent_code
140000000000,山西省,
140400000000,长治市,140000000000
140426000000,黎城县,140400000000
140426100000,黎侯镇,140426000000
140426100200,东关村,140426100000
CSV
	cat >"$F/stations.csv" <<CSV
id,name,kind,area_code,lat,lon
S1,东关村养老服务站,village_station,140426100200,36.50,113.40
CSV
	cat >"$F/volunteers.csv" <<CSV
id,name,area_code,lat,lon
V1,李一,140426100200,36.5027,113.40
CSV
	cat >"$F/elders.csv" <<CSV
id,name,birth_date,area_code,lat,lon,categories,station_id
E1,甲一,1950-01-01,140426100200,36.5,113.4,extreme_poverty,S1
E2,甲二,1950-01-01,140426100200,36.5,113.4,extreme_poverty,S1
E3,甲三,1950-01-01,140426100200,36.5,113.4,extreme_poverty,S1
E4,甲四,1950-01-01,140426100200,36.5,113.4,extreme_poverty,S1
E5,甲五,1960-01-01,140426100200,36.5,113.4,low_income,S1
CSV
	cw db migrate >/dev/null || return 1
	for k in areas stations volunteers elders; do
		cw import "$k" "$F/$k.csv" >/dev/null || return 1
	done
}

run() { # name function
	local name=$1 fn=$2 t0=$SECONDS
	if [[ -n ${ONLY:-} && ,$ONLY, != *",$fn,"* ]]; then return 0; fi
	echo "--- $name"
	if $fn; then
		pass=$((pass + 1))
		echo "PASS: $name ($((SECONDS - t0)) s)"
	else
		fail=$((fail + 1))
		failed_names+=("$name")
		echo "FAIL: $name ($((SECONDS - t0)) s)"
	fi
}

s_rate_before() {
	expect_eq "4 0 0" "$(rate_total | sed -E 's/ 0\.0+$/ 0/')" "target, visited, rate before" || return 1
}

s_add_local() {
	cw visit add --elder E1 --at "2025-11-10 09:30" --kind routine --id S-1 \
		--note "走访：身体好" >"$WORK/out" || return 1
	expect_eq "recorded visit @desk:S-1" "$(cat "$WORK/out")" "output" || return 1
	expect_eq "E1||2025-11-10 01:30:00|routine|t|走访：身体好" \
		"$(sql "SELECT elder_id, responder_id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), kind, in_person, note FROM visits WHERE id = '@desk:S-1'")" \
		"the row, 09:30 Shanghai = 01:30 UTC" || return 1
	expect_eq "visit|cli|201" "$(sql "SELECT action, source, status FROM audit_log ORDER BY seq DESC LIMIT 1")" \
		"on the audit log" || return 1
}

s_add_rfc3339() {
	cw visit add --elder E4 --at 2025-11-11T08:00:00+08:00 --kind patrol \
		--responder V1 --id m-1 >"$WORK/out" || return 1
	expect_eq "recorded visit V1:m-1" "$(cat "$WORK/out")" "output" || return 1
	expect_eq "E4|V1|2025-11-11 00:00:00|patrol|t" \
		"$(sql "SELECT elder_id, responder_id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), kind, in_person FROM visits WHERE id = 'V1:m-1'")" \
		"the responder's key, as MQTT keys it" || return 1
}

s_add_generated() {
	local id
	cw visit add --elder E5 --at "2025-11-12 10:00" --kind home_service >"$WORK/out" || return 1
	id=$(sed -nE 's/^recorded visit @desk:([0-9a-f]{16}) \(generated id \1\)$/\1/p' "$WORK/out")
	[[ -n $id ]] || { die "no generated id in '$(cat "$WORK/out")'"; return 1; }
	expect_eq 1 "$(sql "SELECT count(*) FROM visits WHERE id = '@desk:$id' AND elder_id = 'E5'")" \
		"the row under the printed id $id" || return 1
}

s_add_duplicate() {
	local n
	n=$(nvisits)
	cw visit add --elder E1 --at "2025-11-10 09:30" --kind routine --id S-1 >"$WORK/out" ||
		{ die "a visit already recorded is not an error"; return 1; }
	expect_eq "visit @desk:S-1 was already recorded: nothing changed" "$(cat "$WORK/out")" \
		"output" || return 1
	expect_eq "$n" "$(nvisits)" "no second row" || return 1
	# the sheet number used again for another visit: said, nothing changed
	cw visit add --elder E2 --at "2025-11-10 09:30" --kind routine --id S-1 >"$WORK/out" || return 1
	expect_eq "visit @desk:S-1 was already recorded (with another elder, time or kind): nothing changed" \
		"$(cat "$WORK/out")" "output" || return 1
	expect_eq "E1" "$(sql "SELECT elder_id FROM visits WHERE id = '@desk:S-1'")" "S-1 unchanged" || return 1
	expect_eq 1 "$(sql "SELECT count(*) FROM visits WHERE id = '@desk:S-1'")" "rows of S-1" || return 1
}

s_add_refusals() {
	local n soon late
	n=$(nvisits)
	late=$(TZ=Asia/Shanghai date -d '+1 hour' '+%Y-%m-%d %H:%M')
	refused "an hour ahead" "a visit in the future" visit add --elder E1 --at "$late" --kind routine || return 1
	refused "unknown elder" "no such elder" visit add --elder E404 --at "2025-11-10 09:30" --kind routine || return 1
	refused "bad kind" "unknown visit kind" visit add --elder E1 --at "2025-11-10 09:30" --kind chat || return 1
	refused "phone in person" "a phone visit is not in person" \
		visit add --elder E1 --at "2025-11-10 09:30" --kind phone --in-person yes || return 1
	refused "unknown responder" "no such responder" \
		visit add --elder E1 --at "2025-11-10 09:30" --kind routine --responder V9 || return 1
	refused "no such date" "expected a time" visit add --elder E1 --at "2025-11-31 09:30" --kind routine || return 1
	refused "bad --in-person" "expected yes or no" \
		visit add --elder E1 --at "2025-11-10 09:30" --kind routine --in-person maybe || return 1
	refused "bad id" "--id" visit add --elder E1 --at "2025-11-10 09:30" --kind routine --id "a b" || return 1
	expect_eq "$n" "$(nvisits)" "nothing stored by the refusals" || return 1
	# within the 300 s clock skew is taken (a December visit: not counted)
	soon=$(date -u -d '+2 min' +%Y-%m-%dT%H:%M:%SZ)
	cw visit add --elder E5 --at "$soon" --kind routine --id skew-1 >/dev/null || return 1
	expect_eq 1 "$(sql "SELECT count(*) FROM visits WHERE id = '@desk:skew-1'")" "two minutes ahead taken" || return 1
}

s_add_phone() {
	cw visit add --elder E2 --at "2025-11-05 10:00" --kind phone --id ph-1 >/dev/null || return 1
	expect_eq "f" "$(sql "SELECT in_person FROM visits WHERE id = '@desk:ph-1'")" \
		"a phone visit is recorded, not in person" || return 1
}

# The visits file: a BOM, Excel's dates and TRUE, 是, an empty in_person
# for a phone call, and the desk's sheet P-7 already typed with visit add.
write_visits_csv() {
	printf '\xef\xbb\xbf' >"$F/visits.csv"
	cat >>"$F/visits.csv" <<CSV
id,elder,at,kind,in_person,responder_id,note
P-5,E2,2025/11/30 23:59,routine,TRUE,,上门
P-6,E3,2025-12-01 00:01,routine,是,S1,
P-7,E1,2025-11-15 10:00,home_service,1,,送米
P-8,E3,2025-11-16 10:00,phone,,,电话问候
CSV
}

s_import_utf8() {
	local n
	cw visit add --elder E1 --at "2025-11-15 10:00" --kind home_service --id P-7 >/dev/null || return 1
	n=$(nvisits)
	write_visits_csv
	cw import visits "$F/visits.csv" >"$WORK/out" 2>"$WORK/err" || { cat "$WORK/err"; return 1; }
	expect_eq "imported visits: 4 rows (3 new, 1 already present)" "$(cat "$WORK/out")" "summary" || return 1
	expect_eq "" "$(cat "$WORK/err")" "stderr, not a terminal" || return 1
	expect_eq $((n + 3)) "$(nvisits)" "rows" || return 1
	expect_eq "@desk:P-5|E2||2025-11-30 15:59|routine|t|上门
@desk:P-7|E1||2025-11-15 02:00|home_service|t|
@desk:P-8|E3||2025-11-16 02:00|phone|f|电话问候
S1:P-6|E3|S1|2025-11-30 16:01|routine|t|" \
		"$(sql "SELECT id, elder_id, responder_id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), kind, in_person, note FROM visits WHERE id LIKE '%P-_' ORDER BY id")" \
		"rows (P-7 the one visit add stored)" || return 1
}

s_reimport() {
	local n
	n=$(nvisits)
	cw import visits "$F/visits.csv" >"$WORK/out" || return 1
	expect_eq "imported visits: 4 rows (0 new, 4 already present)" "$(cat "$WORK/out")" "summary" || return 1
	expect_eq "$n" "$(nvisits)" "rows" || return 1
	# a corrected sheet: P-8's time changed; the stored visit stays, said
	sed 's/^P-8,E3,2025-11-16 10:00/P-8,E3,2025-11-17 10:00/' "$F/visits.csv" >"$F/corrected.csv"
	cw import visits "$F/corrected.csv" >"$WORK/out" 2>"$WORK/err" || return 1
	expect_eq "imported visits: 4 rows (0 new, 4 already present, 1 of them recorded otherwise: left as they were)" \
		"$(cat "$WORK/out")" "summary" || return 1
	expect_eq "$F/corrected.csv:5: column id: already recorded with another elder, time or kind; left as it is" \
		"$(cat "$WORK/err")" "the line named" || return 1
	expect_eq "2025-11-16" "$(sql "SELECT (at AT TIME ZONE 'Asia/Shanghai')::date FROM visits WHERE id = '@desk:P-8'")" \
		"P-8 as it was" || return 1
}

s_import_gb18030() {
	printf 'id,elder_id,at,kind,in_person,note\nG-1,E4,2025-11-20 08:00,patrol,否,村委会代访\n' |
		iconv -f UTF-8 -t GB18030 >"$F/gb.csv" || return 1
	# really not UTF-8
	if iconv -f UTF-8 -t UTF-8 "$F/gb.csv" >/dev/null 2>&1; then die "the file is UTF-8"; return 1; fi
	cw import visits "$F/gb.csv" --encoding gb18030 >"$WORK/out" || return 1
	expect_eq "imported visits: 1 rows (1 new, 0 already present)" "$(cat "$WORK/out")" "summary" || return 1
	expect_eq "E4|f|村委会代访" "$(sql "SELECT elder_id, in_person, note FROM visits WHERE id = '@desk:G-1'")" \
		"the row, its note converted" || return 1
}

s_import_broken() {
	local n
	n=$(nvisits)
	# line 4 (header is line 1) has a bad kind; line 2 alone would be fine
	printf 'id,elder_id,at,kind\nB-1,E3,2025-11-21 09:00,routine\nB-2,E3,2025-11-21 10:00,patrol\nB-3,E3,2025-11-21 11:00,chat\n' >"$F/broken.csv"
	refused_import "$F/broken.csv" "broken.csv:4: column kind: " || return 1
	# a future row at line 3
	printf 'id,elder_id,at,kind\nB-4,E3,2025-11-21 09:00,routine\nB-5,E3,2099-01-01 09:00,routine\n' >"$F/future.csv"
	refused_import "$F/future.csv" "future.csv:3: column at: a visit in the future" || return 1
	# the same visit twice in one file
	printf 'id,elder_id,at,kind\nB-6,E3,2025-11-21 09:00,routine\nB-6,E3,2025-11-21 09:00,routine\n' >"$F/twice.csv"
	refused_import "$F/twice.csv" "twice.csv:3: column id: repeats the visit on line 2" || return 1
	# phone said to be in person
	printf 'id,elder_id,at,kind,in_person\nB-7,E3,2025-11-21 09:00,phone,yes\n' >"$F/phone.csv"
	refused_import "$F/phone.csv" "phone.csv:2: column in_person: a phone visit is not in person" || return 1
	expect_eq "$n" "$(nvisits)" "nothing imported" || return 1
	expect_eq 0 "$(sql "SELECT count(*) FROM visits WHERE id LIKE '@desk:B-%'")" "no B- row" || return 1
}

s_import_unknown_elder() {
	local n
	n=$(nvisits)
	printf 'id,elder_id,at,kind\nU-1,E3,2025-11-21 09:00,routine\nU-2,E3,2025-11-22 09:00,routine\nU-3,E99,2025-11-22 09:00,routine\n' >"$F/unknown.csv"
	refused_import "$F/unknown.csv" "unknown.csv:4: column elder_id: no such elder" || return 1
	printf 'id,elder_id,at,kind,responder_id\nU-4,E3,2025-11-21 09:00,routine,V9\n' >"$F/unknown2.csv"
	refused_import "$F/unknown2.csv" "unknown2.csv:2: column responder_id: no such responder" || return 1
	expect_eq "$n" "$(nvisits)" "nothing imported" || return 1
}

refused_import() { # file expected-line-start
	if cw import visits "$1" >"$WORK/out" 2>"$WORK/err"; then die "$1 imported"; return 1; fi
	grep -q -F -- "$2" "$WORK/err" || { die "stderr: $(cat "$WORK/err"), expected '$2'"; return 1; }
	grep -q "nothing imported" "$WORK/err" || { die "no 'nothing imported'"; return 1; }
	note "ok: $(head -1 "$WORK/err")"
}

s_rate_after() {
	expect_eq "4 3 0.75" "$(rate_total | sed -E 's/(\.[0-9]*[1-9])0+$/\1/')" "target, visited, rate after" || return 1
	expect_eq "E3" "$(cw report visit-rate --month 2025-11 --format json | jq -r '.not_visited[].elder_id')" \
		"the one target not visited" || return 1
}

# A progress line on a terminal (script gives stderr a pty), for visits
# and for the other kinds; none into a pipe (s_import_utf8 checks stderr).
s_progress() {
	local out
	out=$(script -qec "$CLI_BIN -c $CONF import visits $F/visits.csv" /dev/null 2>&1) || return 1
	[[ $out == *"stored 4/4 rows"* ]] || { die "no progress on a terminal: $out"; return 1; }
	note "ok: progress on a terminal"
	out=$(script -qec "$CLI_BIN -c $CONF import elders $F/elders.csv" /dev/null 2>&1) || return 1
	[[ $out == *"stored 5/5 rows"* ]] || { die "no progress for elders: $out"; return 1; }
	note "ok: progress for elders too"
	cw import elders "$F/elders.csv" 2>"$WORK/err" >/dev/null || return 1
	expect_eq "" "$(cat "$WORK/err")" "stderr into a file" || return 1
}

for b in jq iconv script; do
	if ! command -v $b >/dev/null 2>&1; then
		echo "$b is missing (tests/lib/install-deps.sh installs it)"
		echo "scenarios: 0 passed, 1 failed"
		exit 1
	fi
done
if ! setup; then
	echo "setup failed"
	echo "scenarios: 0 passed, 1 failed"
	exit 1
fi
run "the visit rate before any visit" s_rate_before
run "visit add: a local time in the configured zone" s_add_local
run "visit add: RFC 3339 with a responder, keyed as MQTT keys it" s_add_rfc3339
run "visit add: an id generated and printed" s_add_generated
run "visit add: the same id again -> no second row, exit 0" s_add_duplicate
run "visit add: future, unknown elder, bad kind, phone in person refused" s_add_refusals
run "visit add: a phone visit is recorded, not in person" s_add_phone
run "import visits: UTF-8 with a BOM, Excel habits, a sheet typed twice" s_import_utf8
run "import visits: the same file again inserts nothing" s_reimport
run "import visits: GB18030" s_import_gb18030
run "import visits: a bad row names its line; nothing imported" s_import_broken
run "import visits: an unknown elder named by its line" s_import_unknown_elder
run "the imported visits count in the visit rate" s_rate_after
run "imports show progress on a terminal only" s_progress

if ((fail > 0)); then
	echo "failed scenarios: ${failed_names[*]}"
fi
echo "scenarios: $pass passed, $fail failed"
((fail == 0))
