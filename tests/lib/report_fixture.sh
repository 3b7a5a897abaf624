# shellcheck shell=bash
# report_fixture.sh - the small county of the visit-rate report (issue 8)
# whose every number is worked out by hand in tests/reports.sh's header:
# three villages, eleven elders, one rule edge case each, and their visits
# around the month 2026-11 in Asia/Shanghai. Sourced by tests/reports.sh and
# tests/report_html.sh after tests/lib/servers.sh; they set WORK (a
# temporary directory), CONF (the configuration file to write) and CLI_BIN.
#
#   setup || fail             # servers started, schema, county and visits
#   write_conf "visit_phone_counts = on"   # the [reports] rule changed
#   sql "SELECT ..."; cw report visit-rate ...

sql() {
	"$CW_PG_BIN/psql" -X -A -t -q -v ON_ERROR_STOP=1 "$CW_CONNINFO" -c "$1"
}

# carewatch with the test's configuration
cw() { "$CLI_BIN" -c "$CONF" "$@"; }

write_conf() { # extra [reports] lines
	cat >"$CONF" <<INI
[database]
conninfo = $CW_CONNINFO
[spool]
dir = $WORK/spool
[privacy]
id_key_file = $WORK/key
[reports]
visit_rule_version = 2026-test
$1
INI
}

# The daemon's own statement (daemon/store.c SQL_INSERT_VISITS): a
# redelivered id inserts nothing.
visit() { # id elder at(local, +08) kind in_person
	local at
	at=$(date -d "$3 +08:00" +%s) || return 1
	sql "INSERT INTO visits (id, elder_id, at, kind, in_person)
	     SELECT id, el, to_timestamp(at), k, ip
	     FROM jsonb_to_recordset('[{\"id\":\"$1\",\"el\":\"$2\",\"at\":$at,
	          \"k\":\"$4\",\"ip\":$5}]'::jsonb)
	       AS x(id text, el text, at double precision, k text, ip boolean)
	     ON CONFLICT (id) DO NOTHING" >/dev/null
}

setup() {
	local f=$WORK/csv k
	cw_servers_start "$WORK/srv" >/dev/null || return 1
	mkdir -p "$f" "$WORK/spool"
	chmod 700 "$WORK/spool"
	head -c 32 /dev/urandom | base64 >"$WORK/key"
	write_conf ""
	cat >"$f/areas.csv" <<CSV
code,name,parent_code
140000000000,山西省,
140400000000,长治市,140000000000
140426000000,黎城县,140400000000
140426100000,黎侯镇,140426000000
140426100200,东关村,140426100000
140426100201,西关村,140426100000
140426101000,上遥镇,140426000000
140426101200,南村,140426101000
CSV
	cat >"$f/stations.csv" <<CSV
id,name,kind,area_code,lat,lon
S1,东关村养老服务站,village_station,140426100200,36.50,113.40
S3,南村养老服务站,village_station,140426101200,36.40,113.40
CSV
	cat >"$f/volunteers.csv" <<CSV
id,name,area_code,lat,lon
V1,李一,140426100200,36.5027,113.40
CSV
	cat >"$f/elders.csv" <<CSV
id,name,birth_date,area_code,lat,lon,categories,capability_level,visit_consent,station_id,id_number,registered_on,deactivated_on
A1,甲一,1940-01-01,140426100200,36.5,113.4,extreme_poverty;dementia,,yes,S1,140426194001011233,,
A2,甲二,1950-06-01,140426100200,36.5,113.4,low_income;living_alone,,yes,S1,,2020-01-01,
A3,甲三,1946-11-30,140426100200,36.5,113.4,low_income,,yes,S1,,,
A4,甲四,1946-12-01,140426100200,36.5,113.4,low_income,,yes,S1,,,
B1,乙一,1950-06-01,140426100201,36.5,113.4,econ_hardship,2,no,,,,
B2,乙二,1950-06-01,140426100201,36.5,113.4,econ_hardship,1,yes,,,,
B3,乙三,1950-06-01,140426100201,36.5,113.4,special_family,,no,,,,
C1,丙一,1950-06-01,140426101200,36.4,113.4,extreme_poverty,,yes,S3,,2019-05-01,2026-10-31
C2,丙二,1950-06-01,140426101200,36.4,113.4,extreme_poverty,,yes,S3,,2026-12-01,
C3,丙三,1950-06-01,140426101200,36.4,113.4,extreme_poverty,,yes,S3,,,2026-11-01
C4,丙四,1950-06-01,140426101200,36.4,113.4,extreme_poverty,,yes,S3,,2026-11-30,
CSV
	cw db migrate >/dev/null || return 1
	for k in areas stations volunteers elders; do
		cw import "$k" "$f/$k.csv" >/dev/null || return 1
	done
	visit VA1 A1 "2026-11-10 10:00" routine true || return 1
	visit VD A1 "2026-11-12 09:00" routine true || return 1
	visit VD C3 "2026-11-13 09:00" routine true || return 1 # same id: ignored
	visit VA2 A2 "2026-11-30 23:59" routine true || return 1
	visit VA3a A3 "2026-10-15 10:00" routine true || return 1
	visit VA3b A3 "2026-12-01 00:01" routine true || return 1
	visit VA4 A4 "2026-11-10 10:00" routine true || return 1
	visit VB1 B1 "2026-11-05 10:00" phone false || return 1
	visit VB2 B2 "2026-11-05 10:00" routine true || return 1
	visit VB3 B3 "2026-11-01 00:00" patrol true || return 1
	visit VC3 C3 "2026-10-31 23:59" routine true || return 1
	visit VC4 C4 "2026-11-20 03:00" alarm_followup true || return 1
}
