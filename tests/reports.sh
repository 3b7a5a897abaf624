#!/bin/bash
# reports.sh - `carewatch report visit-rate` (issue 8) against a private
# PostgreSQL (tests/lib/servers.sh) and a small county whose every number is
# worked out by hand below. No daemon: the report is the CLI over the SQL
# functions of sql/008_reports.sql. Month 2026-11 in Asia/Shanghai (UTC+8).
#
# Areas: county 140426000000 黎城县; township T1 140426100000 黎侯镇 with
# villages V1 140426100200 东关村 and V2 140426100201 西关村; township T2
# 140426101000 上遥镇 with village V3 140426101200 南村.
#
# Elders (rule: special = extreme_poverty, special_family; economic =
# low_income, econ_hardship with living_alone ... or 80+ at 2026-11-30 or
# capability >= 2):
#   A1 V1 extreme_poverty;dementia, born 1940: target (age_80_plus too);
#      in person 2026-11-10 10:00, and visit id VD (first copy)   -> visited
#   A2 V1 low_income;living_alone: in person 2026-11-30 23:59 local
#      (15:59 UTC)                                                 -> visited
#   A3 V1 low_income, born 1946-11-30 (80 on the month's last day): target;
#      in person 2026-10-15 and 2026-12-01 00:01 local (still 30 Nov in
#      UTC)                                   -> not visited, last 2026-10-15
#   A4 V1 low_income, born 1946-12-01 (80 the day after): not a target
#   B1 V2 econ_hardship, capability 2, consent no: target; a phone visit
#      2026-11-05 only                          -> not visited, no last visit
#   B2 V2 econ_hardship, capability 1: not a target (visited anyway)
#   B3 V2 special_family, consent no: in person 2026-11-01 00:00 local
#      (31 Oct in UTC)                                             -> visited
#   C1 V3 extreme_poverty, deactivated 2026-10-31: inactive
#   C2 V3 extreme_poverty, registered 2026-12-01: inactive
#   C3 V3 extreme_poverty, deactivated 2026-11-01 (active: not before the
#      start): the second copy of visit id VD names it (ignored), in person
#      2026-10-31 23:59 local                -> not visited, last 2026-10-31
#   C4 V3 extreme_poverty, registered 2026-11-30: alarm_followup visit
#      2026-11-20                                                  -> visited
#
# Hence (target, visited, rate; then without the elders who declined):
#   V1 3 2 0.6667; 3 2 0.6667     V2 2 1 0.5; 0 0 -     T1 5 3 0.6; 3 2 0.6667
#   V3 2 1 0.5; 2 1 0.5           T2 = V3               county = total
#   = 7 4 0.5714; 5 3 0.6
# Categories: age_80_plus 2 1 0.5; 2 1 0.5   capability_2_plus 1 0 0; 0 0 -
#   econ_hardship 1 0 0; 0 0 -   extreme_poverty 3 2 0.6667; 3 2 0.6667
#   living_alone 1 1 1; 1 1 1   low_income 2 1 0.5; 2 1 0.5
#   special_family 1 1 1; 0 0 -
# Not visited: A3 (S1, 2026-10-15, yes), B1 (no station, -, no),
# C3 (S3, 2026-10-31, yes).
set -uo pipefail

top_srcdir=${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
CLI_BIN=$top_builddir/cli/carewatch
CWD_BIN=$top_builddir/daemon/carewatchd
# shellcheck source=lib/servers.sh
. "$top_srcdir/tests/lib/servers.sh"
# shellcheck source=lib/check.sh
. "$top_srcdir/tests/lib/check.sh"

WORK=$(mktemp -d /tmp/cw-reports.XXXXXX)
chmod 755 "$WORK"
CONF=$WORK/carewatchd.conf

DAEMON_PID=
cleanup() {
	[[ -n $DAEMON_PID ]] && kill -9 "$DAEMON_PID" 2>/dev/null
	cw_servers_stop
	if [[ ${KEEP:-0} != 1 ]]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT

pass=0
fail=0
failed_names=()

# sql, cw, write_conf, visit and setup: the county above
# shellcheck source=lib/report_fixture.sh
. "$top_srcdir/tests/lib/report_fixture.sh"

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

# Every row of a JSON array as "v1 v2 ...", null as "-".
rows() { # file jq-path keys...
	local file=$1 path=$2 keys
	shift 2
	keys=$(printf '.%s,' "$@")
	jq -r "${path}[] | [${keys%,}] | map(if . == null then \"-\" else tostring end) | join(\" \")" "$file"
}

AREA_KEYS=(level code target visited rate target_consenting visited_consenting rate_consenting)
CAT_KEYS=(category target visited rate target_consenting visited_consenting rate_consenting)
MISS_KEYS=(elder_id name village station_id last_visit consent)

EXPECT_AREAS="county 140426000000 7 4 0.5714 5 3 0.6
township 140426100000 5 3 0.6 3 2 0.6667
village 140426100200 3 2 0.6667 3 2 0.6667
village 140426100201 2 1 0.5 0 0 -
township 140426101000 2 1 0.5 2 1 0.5
village 140426101200 2 1 0.5 2 1 0.5
total - 7 4 0.5714 5 3 0.6"
EXPECT_CATS="age_80_plus 2 1 0.5 2 1 0.5
capability_2_plus 1 0 0 0 0 -
econ_hardship 1 0 0 0 0 -
extreme_poverty 3 2 0.6667 3 2 0.6667
living_alone 1 1 1 1 1 1
low_income 2 1 0.5 2 1 0.5
special_family 1 1 1 0 0 -"
EXPECT_MISS="A3 甲三 140426100200 S1 2026-10-15 true
B1 乙一 140426100201 - - false
C3 丙三 140426101200 S3 2026-10-31 true"

# jq prints numerics as given (0.5000): normalise to plain numbers
norm() { sed -E 's/\b([0-9]+\.[0-9]*[1-9])0+\b/\1/g; s/\b([0-9]+)\.0+\b/\1/g'; }

s_json() {
	local j=$WORK/r.json
	cw report visit-rate --month 2026-11 --format json -o "$j" || return 1
	expect_eq "2026-test" "$(jq -r .rule.version "$j")" "rule version stated" || return 1
	expect_eq "2026-11 Asia/Shanghai village" "$(jq -r '"\(.month) \(.timezone) \(.by)"' "$j")" \
		"month, zone, by" || return 1
	expect_eq "$EXPECT_AREAS" "$(rows "$j" .areas "${AREA_KEYS[@]}" | norm)" "areas" || return 1
	expect_eq "$EXPECT_CATS" "$(rows "$j" .categories "${CAT_KEYS[@]}" | norm)" \
		"categories" || return 1
	expect_eq "$EXPECT_MISS" "$(rows "$j" .not_visited "${MISS_KEYS[@]}")" "not visited" || return 1
	# no id number anywhere, not even masked (A1 has one)
	if grep -q "1233\|id_number" "$j"; then die "an id number in the report"; return 1; fi
	note "ok: no id number"
}

s_by() {
	local j=$WORK/t.json
	cw report visit-rate --month 2026-11 --by township --format json >"$j" || return 1
	expect_eq "county township township total" "$(jq -r '[.areas[].level] | join(" ")' "$j")" \
		"--by township levels" || return 1
	cw report visit-rate --month 2026-11 --by county --format json >"$j" || return 1
	expect_eq "county total" "$(jq -r '[.areas[].level] | join(" ")' "$j")" \
		"--by county levels" || return 1
}

# The CSV cell by cell: sections separated by an empty line.
csv_cells() { # file encoding
	python3 - "$1" "$2" <<'PY'
import csv, io, sys
raw = open(sys.argv[1], 'rb').read()
if sys.argv[2] == 'utf-8':
    assert raw.startswith(b'\xef\xbb\xbf'), 'no BOM'
    text = raw[3:].decode('utf-8')
else:
    assert not raw.startswith(b'\xef\xbb\xbf'), 'a BOM in gb18030'
    text = raw.decode('gb18030')
    try:
        raw.decode('utf-8')
        raise SystemExit('GB18030 output that is valid UTF-8')
    except UnicodeDecodeError:
        pass
for row in csv.reader(io.StringIO(text, newline='')):
    print('|'.join(row))
PY
}

EXPECT_CSV="report|visit-rate
month|2026-11
timezone|Asia/Shanghai
rule_version|2026-test

level|code|name|target|visited|rate|target_consenting|visited_consenting|rate_consenting
county|140426000000|黎城县|7|4|57.1%|5|3|60.0%
township|140426100000|黎侯镇|5|3|60.0%|3|2|66.7%
village|140426100200|东关村|3|2|66.7%|3|2|66.7%
village|140426100201|西关村|2|1|50.0%|0|0|
township|140426101000|上遥镇|2|1|50.0%|2|1|50.0%
village|140426101200|南村|2|1|50.0%|2|1|50.0%
total|||7|4|57.1%|5|3|60.0%

category|target|visited|rate|target_consenting|visited_consenting|rate_consenting
age_80_plus|2|1|50.0%|2|1|50.0%
capability_2_plus|1|0|0.0%|0|0|
econ_hardship|1|0|0.0%|0|0|
extreme_poverty|3|2|66.7%|3|2|66.7%
living_alone|1|1|100.0%|1|1|100.0%
low_income|2|1|50.0%|2|1|50.0%
special_family|1|1|100.0%|0|0|

not_visited|name|village|village_name|station|station_name|last_visit|visit_consent
A3|甲三|140426100200|东关村|S1|东关村养老服务站|2026-10-15|yes
B1|乙一|140426100201|西关村||||no
C3|丙三|140426101200|南村|S3|南村养老服务站|2026-10-31|yes"

s_csv_utf8() {
	local out
	cw report visit-rate --month 2026-11 --format csv -o "$WORK/r.csv" || return 1
	out=$(csv_cells "$WORK/r.csv" utf-8) || { die "CSV unreadable: $out"; return 1; }
	expect_eq "$EXPECT_CSV" "$out" "UTF-8 CSV with a BOM, cell by cell" || return 1
}

s_csv_gb18030() {
	local out
	cw report visit-rate --month 2026-11 --format csv --encoding gb18030 >"$WORK/g.csv" ||
		return 1
	out=$(csv_cells "$WORK/g.csv" gb18030 2>&1) || { die "CSV: $out"; return 1; }
	expect_eq "$EXPECT_CSV" "$out" "GB18030 CSV, cell by cell" || return 1
}

s_table() {
	local out
	out=$(cw report visit-rate --month 2026-11 --by township) || return 1
	echo "$out" | grep -q 'rule 2026-test' || { die "no rule version in the table"; return 1; }
	echo "$out" | grep -Eq '^township +140426100000 .* 5 +3 +60\.0%' ||
		{ die "T1 row: $out"; return 1; }
	note "ok: table"
}

s_config() {
	local j=$WORK/p.json
	# a phone visit counts when configured: B1 (V2) becomes visited
	write_conf "visit_phone_counts = on"
	cw report visit-rate --month 2026-11 --format json >"$j" || return 1
	expect_eq "2 2 1" "$(jq -r '.areas[] | select(.code == "140426100201") | "\(.target) \(.visited) \(.rate)"' "$j" | norm)" \
		"V2 with phone visits counting" || return 1
	# the age from the configuration: with 79, A4 (born 1946-12-01, so 79 at
	# 2026-11-30; low_income) joins V1's targets, unvisited only by the rule
	# (its visit of 2026-11-10 counts): 4 targets, 3 visited
	write_conf "visit_min_age = 79"
	cw report visit-rate --month 2026-11 --format json >"$j" || return 1
	expect_eq "4 3" "$(jq -r '.areas[] | select(.code == "140426100200") | "\(.target) \(.visited)"' "$j")" \
		"V1 with age 79" || return 1
	write_conf ""
}

s_refusals() {
	local out rc
	out=$(cw report visit-rate --month 2026-11 --format html --lang fr 2>&1)
	rc=$?
	expect_eq "2 carewatch: --lang takes zh or en" "$rc $out" "--lang fr refused clearly" ||
		return 1
	out=$(cw report visit-rate --month 2026-11 --lang en 2>&1)
	rc=$?
	expect_eq "2 carewatch: --lang applies to --format html" "$rc $out" \
		"--lang without html refused" || return 1
	cw report visit-rate --month 2026-13 >/dev/null 2>&1 && { die "month 13 taken"; return 1; }
	cw report visit-rate --month 2026-11 --by street >/dev/null 2>&1 &&
		{ die "--by street taken"; return 1; }
	# a date that does not exist is refused by the import, all or nothing
	printf 'id,name,birth_date,area_code,lat,lon,registered_on\nZ1,Z,1950-01-01,140426100200,36.5,113.4,2026-02-30\n' \
		>"$WORK/bad.csv"
	if cw import elders "$WORK/bad.csv" >/dev/null 2>&1; then die "2026-02-30 imported"; return 1; fi
	expect_eq 0 "$(sql "SELECT count(*) FROM elders WHERE id = 'Z1'")" "nothing imported" || return 1
	# deactivated before registered is refused by the database
	printf 'id,name,birth_date,area_code,lat,lon,registered_on,deactivated_on\nZ2,Z,1950-01-01,140426100200,36.5,113.4,2026-05-01,2026-04-01\n' \
		>"$WORK/bad2.csv"
	if cw import elders "$WORK/bad2.csv" >/dev/null 2>&1; then die "deactivated before registered"; return 1; fi
	note "ok: refusals"
}

token() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }

add_user() { # name role area_prefix token
	sql "INSERT INTO users(name, role, area_prefix, token_sha256)
	     VALUES ('$1', '$2', '$3', encode(sha256('$4'::bytea), 'hex'))" >/dev/null
}

api() { # path token -> body in $WORK/api.json, prints the status
	curl -s -o "$WORK/api.json" -w '%{http_code}' --max-time 10 \
		-H "Authorization: Bearer $2" "http://127.0.0.1:$HTTP_PORT$1"
}

# The same numbers as JSON: parsed, so 0.6667 and 0.66669999999999996 agree.
same_json() { # a b
	python3 -c 'import json,sys; a,b=(json.load(open(f)) for f in sys.argv[1:3]); sys.exit(a != b)' "$1" "$2"
}

daemon_gone() { ! kill -0 "$DAEMON_PID" 2>/dev/null; }

# GET /api/v1/reports/visit-rate from the daemon's read-only connection.
s_api() {
	local sup aud op t2 dconf=$WORK/daemon.conf log=$WORK/daemon.log
	sup=$(token) aud=$(token) op=$(token) t2=$(token)
	add_user sup1 supervisor '' "$sup" || return 1
	add_user aud1 auditor '' "$aud" || return 1
	add_user op1 operator '' "$op" || return 1
	add_user t2sup supervisor 140426101 "$t2" || return 1
	HTTP_PORT=$(cw_free_port "$CW_PGPORT" "$CW_MQ_PORT") || return 1
	# the daemon as cw_daemon (migration 015's role), the CLI as the owner
	cw_daemon_role || return 1
	sed "s|^conninfo = .*|conninfo = $CW_CONNINFO_PGUSER|" "$CONF" >"$dconf"
	cat >>"$dconf" <<INI
[mqtt]
host = 127.0.0.1
port = $CW_MQ_PORT
client_id = cwd-reports
topic_prefix = rp
[http]
listen = 127.0.0.1:$HTTP_PORT
INI
	env PGUSER=cw_daemon "$CWD_BIN" -c "$dconf" >"$log" 2>&1 &
	DAEMON_PID=$!
	wait_until 10 "the daemon ready" grep -q 'event=ready' "$log" || return 1
	cw_expect_daemon_user || return 1
	wait_until 10 "the users read" grep -q 'event=users_loaded users=4' "$log" || return 1
	expect_eq 403 "$(api '/api/v1/reports/visit-rate?month=2026-11' "$op")" "operator" || return 1
	expect_eq 400 "$(api '/api/v1/reports/visit-rate' "$sup")" "no month" || return 1
	expect_eq 400 "$(api '/api/v1/reports/visit-rate?month=2026-11&by=x' "$sup")" "bad by" ||
		return 1
	expect_eq 200 "$(api '/api/v1/reports/visit-rate?month=2026-11' "$sup")" "supervisor" ||
		return 1
	cw report visit-rate --month 2026-11 --format json >"$WORK/cli.json" || return 1
	same_json "$WORK/cli.json" "$WORK/api.json" || { die "API and CLI differ"; return 1; }
	note "ok: the API's JSON is the CLI's"
	expect_eq 200 "$(api '/api/v1/reports/visit-rate?month=2026-11&by=county' "$aud")" \
		"auditor, by county" || return 1
	cw report visit-rate --month 2026-11 --by county --format json >"$WORK/cli.json" || return 1
	same_json "$WORK/cli.json" "$WORK/api.json" || { die "API and CLI differ (county)"; return 1; }
	# a township's supervisor sees its township only (T2: V3's C3 and C4)
	expect_eq 200 "$(api '/api/v1/reports/visit-rate?month=2026-11' "$t2")" "T2 supervisor" ||
		return 1
	expect_eq "2 1 C3" "$(jq -r '"\(.areas[] | select(.level == "total") | "\(.target) \(.visited)") \([.not_visited[].elder_id] | join(","))"' "$WORK/api.json")" \
		"T2's scope" || return 1
	expect_eq "county township village total" "$(jq -r '[.areas[].level] | join(" ")' "$WORK/api.json")" \
		"T2's levels" || return 1
	kill -TERM "$DAEMON_PID"
	wait_until 10 "the daemon stopped" daemon_gone || return 1
	DAEMON_PID=
}

# --- main ------------------------------------------------------------------

for b in jq python3 curl; do
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
run "the visit rate as JSON, cell by cell" s_json
run "--by township and --by county list only those levels" s_by
run "CSV in UTF-8 with a BOM, cell by cell" s_csv_utf8
run "CSV in GB18030 on request, cell by cell" s_csv_gb18030
run "the table names the rule version and the rates" s_table
run "the rule comes from the configuration" s_config
run "a bad --lang, a bad month, a bad level and bad dates are refused" s_refusals
run "GET /api/v1/reports/visit-rate: the CLI's JSON, by role and scope" s_api

if ((fail > 0)); then
	echo "failed scenarios: ${failed_names[*]}"
fi
echo "scenarios: $pass passed, $fail failed"
((fail == 0))
