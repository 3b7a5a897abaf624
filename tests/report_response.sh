#!/bin/bash
# report_response.sh - `carewatch report response` and `carewatch report
# at-risk` (issue 8, SPEC §6) against a private PostgreSQL and mosquitto
# (tests/lib/servers.sh): hand-made incidents whose every number is worked
# out below, the county of tests/reports.sh for the at-risk list, one
# incident driven through the daemon, and the API's answers. Asia/Shanghai
# (UTC+8); targets the defaults: ack 60 s / 180 s, arrival 45 / 60 min.
#
# Percentiles are percentile_cont: sorted values x0..x(n-1), p at position
# (n-1)*p, interpolated linearly between its two neighbours. Shares are
# met / decided (4 places); a target is met when the step came within it
# (<=), decided when the step came, the incident is resolved, or the
# target's time has passed. Arrival is not expected of an incident resolved
# as false_alarm or test with nobody on site.
#
# Devices: DS1 sos_button (A1), DS2 sos_button (A2), DK smoke (A1), DR
# fall_radar (B1), DD door (C3). Areas of A1 A2: V1; B1: V2; C3: V3 (T2).
#
# Incidents (alarm unless said; offsets from opening in seconds: ack,
# accept, arrival; R = resolved with outcome):
#   1 sos  p1 DS1 11-01 00:00:00 local (31 Oct UTC), 2 alarms: 30 90 1200,
#     R emergency_handled                                     -> all met
#   2 sos  p1 DS2 11-02 09:00  60  120 2700 R emergency_handled (boundaries,
#     met)
#   3 fall p1 DR  11-03 09:00  61  300 2701 escalated, R emergency_handled
#     -> misses ack_60s, arrival_45min
#   4 smoke p1 DK 11-04 09:00 180  600 3600 R false_alarm
#     -> misses ack_60s, arrival_45min (180 s and 60 min met: boundaries)
#   5 smoke p1 DK 11-05 09:00 181  900 3601 escalated, R false_alarm
#     -> misses all four
#   6 door p2 DD  11-06 23:00  -    -    -  R false_alarm at +100 s, nobody
#     acked or came: arrival not expected -> misses ack_60s, ack_180s
#   7 door p2 DD  11-07 23:30  20   40  600 R test (arrived: expected)
#   8 sos  p1 DS2 11-30 23:00  10   50   -  still accepted (not resolved)
#     -> misses arrival_45min, arrival_60min (their time has passed)
#   9 ticket low_battery p3 DS1 11-10 12:00, resolved: counts only in the
#     totals and by type
#  10 sos p1 DS2 10-31 23:59:59 local and 11 sos p1 DS2 12-01 00:00:00
#     local: outside the period
#
# Hence for 2026-11-01..2026-11-30:
#   totals: incidents 9, alarm incidents 8, tickets 1, alarms 10
#   by type: alarm 1 fall 1 1; alarm 1 smoke 2 2; alarm 1 sos 3 4;
#            alarm 2 door 2 2; ticket 3 low_battery 1 1
#   ack: incidents 8, recorded 7 (10 20 30 60 61 180 181): median x3 = 60,
#        p90 at 5.4 = 180 + 0.4 = 180.4; ack_60s 4 of 8 = 0.5 (1 2 7 8),
#        ack_180s 6 of 8 = 0.75
#   accept: 8, recorded 7 (40 50 90 120 300 600 900): median 120, p90 at
#        5.4 = 600 + 0.4 * 300 = 720
#   arrival: expected 7 (not 6), recorded 6 (600 1200 2700 2701 3600
#        3601): median at 2.5 = 2700.5, p90 at 4.5 = 3600.5;
#        arrival_45min 3 of 7 = 0.4286 (1 2 7), arrival_60min 5 of 7 =
#        0.7143
#   false alarms (resolved alarm incidents 1-7): 3 of 7 = 0.4286; by the
#        opening device's kind: door 2 1 0.5, fall_radar 1 0 0, smoke 2 2 1,
#        sos_button 2 0 0; top devices DK 2 (of 2), DD 1 (of 2); top elders
#        A1 甲一 2 (of 3: 1 4 5), C3 丙三 1 (of 2)
#   escalations: 2 of 8 = 0.25; p1 6 2 0.3333, p2 2 0 0
#   exceptions: 3 4 5 6 8 with the targets above
#
# At-risk, county of reports.sh, --date 2026-11-20 (10 days left): targets
# A1 A2 A3 B1 B3 C3 C4; visited by the end of 20 Nov local: A1 (10 Nov), B3
# (1 Nov 00:00 local), C4 (20 Nov 03:00 local); A2's visit is on 30 Nov.
#   T1 5 3, V1 3 2, V2 2 1, T2 2 1, V3 2 1, total 7 4
#   A2 S1 last - yes; A3 S1 2026-10-15 yes; B1 - - no; C3 S3 2026-10-31 yes
# --date 2026-11-19 (11 days left): C4's visit (20 Nov 03:00 local, still
# 19 Nov in UTC) does not count yet: T2 2 2, total 7 5; C4 S3 last - yes.
set -uo pipefail

top_srcdir=${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
CLI_BIN=$top_builddir/cli/carewatch
CWD_BIN=$top_builddir/daemon/carewatchd
# shellcheck source=lib/servers.sh
. "$top_srcdir/tests/lib/servers.sh"
# shellcheck source=lib/check.sh
. "$top_srcdir/tests/lib/check.sh"

# the CLI as the owner; the daemon as cw_daemon (migration 015's role)
export PGUSER=postgres
WORK=$(mktemp -d /tmp/cw-resp.XXXXXX)
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

sql() {
	"$CW_PG_BIN/psql" -X -A -t -q -v ON_ERROR_STOP=1 "$CW_CONNINFO" -c "$1"
}

cw() { "$CLI_BIN" -c "$CONF" "$@"; }

write_conf() { # extra [reports] lines
	cat >"$CONF" <<INI
[database]
conninfo = $CW_CONNINFO_PGUSER
[spool]
dir = $WORK/spool
[privacy]
id_key_file = $WORK/key
[reports]
visit_rule_version = 2026-test
$1
INI
}

visit() { # id elder at(local, +08) kind in_person
	sql "INSERT INTO visits (id, elder_id, at, kind, in_person)
	     VALUES ('$1', '$2', '$3+08', '$4', $5) ON CONFLICT (id) DO NOTHING" >/dev/null
}

# An incident with its steps at offsets (seconds, '' = never) from opening.
inc() { # id kind elder device type priority state outcome escalated opened(local) ack accept arrive resolve alarms
	local at="('${10}'::timestamp AT TIME ZONE 'Asia/Shanghai')"
	off() { if [[ -n $1 ]]; then echo "$at + interval '$1 s'"; else echo NULL; fi; }
	sql "INSERT INTO incidents (id, kind, elder_id, area_code, type, priority, state, escalated,
	       alarm_device, opened_at, acked_at, accepted_at, arrived_at, resolved_at, outcome,
	       alarm_count)
	     SELECT $1, '$2', '$3', e.area_code, '$5', $6, '$7', $9, '$4', $at, $(off "${11}"),
	       $(off "${12}"), $(off "${13}"), $(off "${14}"), nullif('$8', ''), ${15}
	     FROM elders e WHERE e.id = '$3'" >/dev/null
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
id,name,birth_date,area_code,lat,lon,categories,capability_level,visit_consent,station_id,id_number,registered_on,deactivated_on,phone
A1,甲一,1940-01-01,140426100200,36.5,113.4,extreme_poverty;dementia,,yes,S1,140426194001011233,,,13900000001
A2,甲二,1950-06-01,140426100200,36.5,113.4,low_income;living_alone,,yes,S1,,2020-01-01,,
A3,甲三,1946-11-30,140426100200,36.5,113.4,low_income,,yes,S1,,,,
A4,甲四,1946-12-01,140426100200,36.5,113.4,low_income,,yes,S1,,,,
B1,乙一,1950-06-01,140426100201,36.5,113.4,econ_hardship,2,no,,,,,
B2,乙二,1950-06-01,140426100201,36.5,113.4,econ_hardship,1,yes,,,,,
B3,乙三,1950-06-01,140426100201,36.5,113.4,special_family,,no,,,,,
C1,丙一,1950-06-01,140426101200,36.4,113.4,extreme_poverty,,yes,S3,,2019-05-01,2026-10-31,
C2,丙二,1950-06-01,140426101200,36.4,113.4,extreme_poverty,,yes,S3,,2026-12-01,,
C3,丙三,1950-06-01,140426101200,36.4,113.4,extreme_poverty,,yes,S3,,,2026-11-01,
C4,丙四,1950-06-01,140426101200,36.4,113.4,extreme_poverty,,yes,S3,,2026-11-30,,
CSV
	cat >"$f/devices.csv" <<CSV
id,kind,elder_id
DS1,sos_button,A1
DS2,sos_button,A2
DK,smoke,A1
DR,fall_radar,B1
DD,door,C3
CSV
	cw db migrate >/dev/null || return 1
	for k in areas stations volunteers elders devices; do
		cw import "$k" "$f/$k.csv" >/dev/null || return 1
	done
	cw_daemon_role || return 1
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
	#   id kind   elder dev type prio state outcome esc opened ack acc arr res alarms
	inc 1 alarm A1 DS1 sos 1 resolved emergency_handled false "2026-11-01 00:00:00" 30 90 1200 1500 2 &&
		inc 2 alarm A2 DS2 sos 1 resolved emergency_handled false "2026-11-02 09:00" 60 120 2700 3000 1 &&
		inc 3 alarm B1 DR fall 1 resolved emergency_handled true "2026-11-03 09:00" 61 300 2701 3000 1 &&
		inc 4 alarm A1 DK smoke 1 resolved false_alarm false "2026-11-04 09:00" 180 600 3600 3700 1 &&
		inc 5 alarm A1 DK smoke 1 resolved false_alarm true "2026-11-05 09:00" 181 900 3601 3700 1 &&
		inc 6 alarm C3 DD door 2 resolved false_alarm false "2026-11-06 23:00" "" "" "" 100 1 &&
		inc 7 alarm C3 DD door 2 resolved test false "2026-11-07 23:30" 20 40 600 700 1 &&
		inc 8 alarm A2 DS2 sos 1 accepted "" false "2026-11-30 23:00" 10 50 "" "" 1 &&
		inc 9 ticket A1 DS1 low_battery 3 resolved emergency_handled false "2026-11-10 12:00" "" "" "" 600 1 &&
		inc 10 alarm A2 DS2 sos 1 resolved false_alarm false "2026-10-31 23:59:59" 1 1 1 2 1 &&
		inc 11 alarm A2 DS2 sos 1 resolved false_alarm false "2026-12-01 00:00:00" 1 1 1 2 1 ||
		return 1
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

# Every row of a JSON array as "v1 v2 ...", null as "-", arrays joined by ",".
rows() { # file jq-path keys...
	local file=$1 path=$2 keys
	shift 2
	keys=$(printf '.%s,' "$@")
	jq -r "${path}[] | [${keys%,}] | map(if . == null then \"-\" elif type == \"array\" then join(\",\") else tostring end) | join(\" \")" "$file"
}

# jq prints numerics as given (0.5000, 60.0): normalise to plain numbers
norm() { sed -E 's/\b([0-9]+\.[0-9]*[1-9])0+\b/\1/g; s/\b([0-9]+)\.0+\b/\1/g'; }

J=$WORK/resp.json

s_resp_json() {
	cw report response --from 2026-11-01 --to 2026-11-30 --format json -o "$J" || return 1
	expect_eq "response 2026-11-01 2026-11-30 Asia/Shanghai" \
		"$(jq -r '"\(.report) \(.from) \(.to) \(.timezone)"' "$J")" "period" || return 1
	expect_eq "60,180 45,60 10" \
		"$(jq -r '"\(.targets.ack_s | join(",")) \(.targets.arrival_min | join(",")) \(.targets.top)"' "$J")" \
		"targets: the defaults" || return 1
	expect_eq "9 8 1 10" "$(jq -r '.totals | "\(.incidents) \(.alarm_incidents) \(.tickets) \(.alarms)"' "$J")" \
		"totals" || return 1
	expect_eq "alarm fall 1 1 1
alarm smoke 1 2 2
alarm sos 1 3 4
alarm door 2 2 2
ticket low_battery 3 1 1" "$(rows "$J" .by_type kind type priority incidents alarms)" "by type and priority" || return 1
	expect_eq "ack 8 7 60 180.4
accept 8 7 120 720
arrival 7 6 2700.5 3600.5" "$(rows "$J" .times step incidents recorded median_s p90_s | norm)" \
		"medians and p90" || return 1
	expect_eq "ack_60s 60 4 8 0.5
ack_180s 180 6 8 0.75
arrival_45min 2700 3 7 0.4286
arrival_60min 3600 5 7 0.7143" "$(rows "$J" '.times[].within' target target_s met of share | norm)" \
		"shares within the targets" || return 1
	expect_eq "7 3 0.4286" "$(jq -r '.false_alarms | "\(.resolved) \(.false_alarms) \(.rate)"' "$J")" \
		"false alarms overall" || return 1
	expect_eq "door 2 1 0.5
fall_radar 1 0 0
smoke 2 2 1
sos_button 2 0 0" "$(rows "$J" .false_alarms.by_device_kind device_kind resolved false_alarms rate | norm)" \
		"false alarms per device kind" || return 1
	expect_eq "DK smoke 2 2
DD door 1 2" "$(rows "$J" .false_alarms.top_devices device_id device_kind false_alarms resolved)" \
		"top devices" || return 1
	expect_eq "A1 甲一 2 3
C3 丙三 1 2" "$(rows "$J" .false_alarms.top_elders elder_id name false_alarms resolved)" "top elders" ||
		return 1
	expect_eq "8 2 0.25" "$(jq -r '.escalations | "\(.incidents) \(.escalated) \(.share)"' "$J" | norm)" \
		"escalations" || return 1
	expect_eq "1 6 2 0.3333
2 2 0 0" "$(rows "$J" .escalations.by_priority priority incidents escalated share | norm)" \
		"escalations by priority" || return 1
	expect_eq "3 fall 1 2026-11-03T09:00:00+08:00 61 300 2701 ack_60s,arrival_45min
4 smoke 1 2026-11-04T09:00:00+08:00 180 600 3600 ack_60s,arrival_45min
5 smoke 1 2026-11-05T09:00:00+08:00 181 900 3601 ack_60s,ack_180s,arrival_45min,arrival_60min
6 door 2 2026-11-06T23:00:00+08:00 - - - ack_60s,ack_180s
8 sos 1 2026-11-30T23:00:00+08:00 10 50 - arrival_45min,arrival_60min" \
		"$(rows "$J" .exceptions incident_id type priority opened_at ack_s accept_s arrival_s missed | norm)" \
		"exceptions and the targets missed" || return 1
	# no phone number or id number of anyone (A1 has both)
	if grep -q "13900000001\|1404261940\|id_number\|\"phone\"" "$J"; then die "personal data in the report"; return 1; fi
	note "ok: no phone or id number"
}

# Rows of a CSV file (UTF-8 with a BOM, or GB18030) with | between cells.
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
for row in csv.reader(io.StringIO(text, newline='')):
    print('|'.join(row))
PY
}

s_resp_csv_table() {
	local out
	cw report response --from 2026-11-01 --to 2026-11-30 --format csv -o "$WORK/r.csv" || return 1
	out=$(csv_cells "$WORK/r.csv" utf-8) || { die "CSV unreadable: $out"; return 1; }
	expect_eq "from|2026-11-01" "$(sed -n 2p <<<"$out")" "CSV: from" || return 1
	grep -qx 'ack|8|7|60.0|180.4||||' <<<"$out" || { die "CSV ack row: $out"; return 1; }
	grep -qx '|||||arrival_45min|3|7|42.9%' <<<"$out" || { die "CSV arrival_45min: $out"; return 1; }
	grep -qx 'smoke|2|2|100.0%' <<<"$out" || { die "CSV smoke false alarms: $out"; return 1; }
	grep -qx 'A1|甲一|2|3' <<<"$out" || { die "CSV top elder: $out"; return 1; }
	grep -qx '6|2026-11-06T23:00:00+08:00|door|2||||ack_60s ack_180s' <<<"$out" ||
		{ die "CSV exception 6: $out"; return 1; }
	note "ok: CSV cells"
	cw report response --from 2026-11-01 --to 2026-11-30 --format csv --encoding gb18030 \
		>"$WORK/g.csv" || return 1
	out=$(csv_cells "$WORK/g.csv" gb18030) || { die "GB18030 CSV unreadable: $out"; return 1; }
	grep -qx 'A1|甲一|2|3' <<<"$out" || { die "GB18030 top elder: $out"; return 1; }
	note "ok: GB18030"
	out=$(cw report response --from 2026-11-01 --to 2026-11-30) || return 1
	grep -Eq '^ack +8 +7 +60\.0 +180\.4' <<<"$out" || { die "table ack row: $out"; return 1; }
	grep -Eq '^5 .* ack_60s ack_180s arrival_45min arrival_60min$' <<<"$out" ||
		{ die "table exception 5: $out"; return 1; }
	note "ok: table"
}

s_resp_config() {
	local j=$WORK/c.json
	# stricter targets and a shorter top list from [reports]
	write_conf "ack_target_s = 20
ack_target2_s = 30
arrival_target_min = 20
arrival_target2_min = 10
false_alarm_top = 1"
	cw report response --from 2026-11-01 --to 2026-11-30 --format json -o "$j" || return 1
	write_conf ""
	expect_eq "ack_20s 2 8
ack_30s 3 8
arrival_20min 2 7
arrival_10min 1 7" "$(rows "$j" '.times[].within' target met of)" "configured targets" || return 1
	expect_eq "DK" "$(jq -r '[.false_alarms.top_devices[].device_id] | join(",")' "$j")" \
		"false_alarm_top = 1" || return 1
	# one day: only incident 1 (31 Oct 16:00 UTC is 1 Nov local)
	cw report response --from 2026-11-01 --to 2026-11-01 --format json -o "$j" || return 1
	expect_eq "1 30 90 1200" "$(jq -r '"\(.totals.incidents) \([.times[].median_s] | map(tostring) | join(" "))"' "$j" | norm)" \
		"one local day" || return 1
	# nothing in the period: zeros, nulls and empty lists, and a table
	cw report response --from 2026-01-01 --to 2026-01-31 --format json -o "$j" || return 1
	expect_eq "0 0 - 0 - 0" "$(jq -r '"\(.totals.incidents) \(.times[0].incidents) \(.times[0].median_s // "-") \(.times[0].within[0].of) \(.false_alarms.rate // "-") \(.exceptions | length)"' "$j")" \
		"an empty period" || return 1
	cw report response --from 2026-01-01 --to 2026-01-31 >/dev/null || return 1
}

s_refusals() {
	local out rc
	out=$(cw report response --from 2026-11-30 --to 2026-11-01 2>&1)
	rc=$?
	expect_eq "2 carewatch: --from is after --to" "$rc $out" "reversed period" || return 1
	cw report response --from 2026-02-30 --to 2026-03-01 >/dev/null 2>&1 &&
		{ die "2026-02-30 taken"; return 1; }
	cw report response --from 2026-11-01 >/dev/null 2>&1 && { die "no --to taken"; return 1; }
	cw report at-risk --date 2026-11 >/dev/null 2>&1 && { die "a month as --date"; return 1; }
	cw report at-risk --date 2026-11-20 --by county >/dev/null 2>&1 &&
		{ die "--by county taken"; return 1; }
	cw report at-risk --date 2026-11-20 --format json --encoding gb18030 >/dev/null 2>&1 &&
		{ die "gb18030 json taken"; return 1; }
	cw report at-risk -h | grep -q 'usage: carewatch report at-risk' || { die "at-risk -h"; return 1; }
	cw report response -h | grep -q 'usage: carewatch report response' || { die "response -h"; return 1; }
	cw report bogus >/dev/null 2>&1 && { die "report bogus"; return 1; }
	note "ok: refusals"
}

s_at_risk() {
	local j=$WORK/a.json out
	cw report at-risk --date 2026-11-20 --format json -o "$j" || return 1
	expect_eq "at-risk 2026-11-20 2026-11 village 10 2026-test" \
		"$(jq -r '"\(.report) \(.date) \(.month) \(.by) \(.days_left) \(.rule.version)"' "$j")" "header" || return 1
	expect_eq "township 140426100000 黎侯镇 5 3
village 140426100200 东关村 3 2
village 140426100201 西关村 2 1
township 140426101000 上遥镇 2 1
village 140426101200 南村 2 1
total - - 7 4" "$(rows "$j" .groups level code name target not_visited)" "groups" || return 1
	expect_eq "A2 甲二 140426100000 140426100200 S1 - true 10
A3 甲三 140426100000 140426100200 S1 2026-10-15 true 10
B1 乙一 140426100000 140426100201 - - false 10
C3 丙三 140426101000 140426101200 S3 2026-10-31 true 10" \
		"$(rows "$j" .elders elder_id name township village station_id last_visit consent days_left)" \
		"elders not yet visited" || return 1
	if grep -q "13900000001\|1404261940\|id_number\|\"phone\"" "$j"; then die "personal data in the list"; return 1; fi
	cw report at-risk --date 2026-11-19 --by township --format json -o "$j" || return 1
	expect_eq "township 140426100000 5 3
township 140426101000 2 2
total - 7 5" "$(rows "$j" .groups level code target not_visited)" "19 Nov by township" || return 1
	expect_eq "A2,A3,B1,C3,C4 11 -" \
		"$(jq -r '"\([.elders[].elder_id] | join(",")) \(.days_left) \(.elders[4].last_visit // "-")"' "$j")" \
		"19 Nov: C4's visit of 20 Nov 03:00 local not yet" || return 1
	cw report at-risk --date 2026-11-20 --format csv -o "$WORK/a.csv" || return 1
	out=$(csv_cells "$WORK/a.csv" utf-8) || { die "CSV unreadable: $out"; return 1; }
	grep -qx 'days_left|10' <<<"$out" || { die "CSV days_left: $out"; return 1; }
	grep -qx 'village|140426100201|西关村|2|1' <<<"$out" || { die "CSV V2: $out"; return 1; }
	grep -qx 'B1|乙一|140426100000|140426100201||||no|10' <<<"$out" || { die "CSV B1: $out"; return 1; }
	grep -qx 'A3|甲三|140426100000|140426100200|S1|东关村养老服务站|2026-10-15|yes|10' <<<"$out" ||
		{ die "CSV A3: $out"; return 1; }
	out=$(cw report at-risk --date 2026-11-20) || return 1
	grep -Eq '^C3 +丙三 +上遥镇 +南村 +S3 +南村养老服务站 +2026-10-31 +yes +10$' <<<"$out" ||
		{ die "table C3 row: $out"; return 1; }
	note "ok: CSV and table"
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

same_json() { # a b
	python3 -c 'import json,sys; a,b=(json.load(open(f)) for f in sys.argv[1:3]); sys.exit(a != b)' "$1" "$2"
}

daemon_gone() { ! kill -0 "$DAEMON_PID" 2>/dev/null; }
pub() { mosquitto_pub -h 127.0.0.1 -p "$CW_MQ_PORT" -q 1 -t "rr/$1" -m "$2"; }
sql_is() { [[ "$(sql "$1")" == "$2" ]]; }
has_offer() { grep -q '^rr/dispatch/[^ ]* .*"offer":' "$WORK/msgs"; }

# A real incident through the daemon: SOS over MQTT, an operator's ack over
# HTTP, the responder's accept, arrived and done over MQTT. The response
# report then has all three times, equal to the incident row's; and the
# API answers both reports with the CLI's JSON, by role and area.
s_daemon() {
	local sup aud op t2 dconf=$WORK/daemon.conf log=$WORK/daemon.log inc day sub who
	sup=$(token) aud=$(token) op=$(token) t2=$(token)
	add_user sup1 supervisor '' "$sup" || return 1
	add_user aud1 auditor '' "$aud" || return 1
	add_user op1 operator '' "$op" || return 1
	add_user t2sup supervisor 140426101 "$t2" || return 1
	HTTP_PORT=$(cw_free_port "$CW_PGPORT" "$CW_MQ_PORT") || return 1
	cp "$CONF" "$dconf"
	cat >>"$dconf" <<INI
[mqtt]
host = 127.0.0.1
port = $CW_MQ_PORT
client_id = cwd-resp
topic_prefix = rr
[dispatch]
offer_timeout_p1_s = 120
escalate_after_s = 600
[http]
listen = 127.0.0.1:$HTTP_PORT
INI
	: >"$WORK/msgs"
	mosquitto_sub -h 127.0.0.1 -p "$CW_MQ_PORT" -q 1 -v -t 'rr/dispatch/#' >"$WORK/msgs" 2>/dev/null &
	sub=$!
	env PGUSER=cw_daemon "$CWD_BIN" -c "$dconf" >"$log" 2>&1 &
	DAEMON_PID=$!
	wait_until 10 "the daemon ready" grep -q 'event=ready' "$log" || { kill "$sub"; return 1; }
	wait_until 10 "the users read" grep -q 'event=users_loaded users=4' "$log" || { kill "$sub"; return 1; }
	cw_expect_daemon_user || { kill "$sub"; return 1; }
	pub dev/DS1/event '{"id":"e-real-1","type":"sos"}'
	wait_until 10 "the offer" has_offer || { kill "$sub"; return 1; }
	kill "$sub"
	wait "$sub" 2>/dev/null
	# the nearest responder: the elder's own station S1 (0 m)
	who=$(grep -E '^rr/dispatch/[^ ]* .*"offer":' "$WORK/msgs" | head -1 | sed -E 's|^rr/dispatch/([^ ]*) .*|\1|')
	inc=$(grep -E '^rr/dispatch/[^ ]* .*"offer":' "$WORK/msgs" | head -1 | sed -E 's/.*"incident":([0-9]+).*/\1/')
	[[ $inc =~ ^[0-9]+$ ]] || { die "no incident id in the offer"; return 1; }
	note "incident $inc offered to $who"
	expect_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X POST \
		-H "Authorization: Bearer $op" --data-binary '{"note":"phoned"}' \
		"http://127.0.0.1:$HTTP_PORT/api/v1/incidents/$inc/ack")" "the operator's ack" || return 1
	pub "resp/$who/reply" "{\"incident\":$inc,\"action\":\"accept\"}"
	wait_until 10 "accepted" sql_is "SELECT state FROM incidents WHERE id=$inc" accepted || return 1
	pub "resp/$who/reply" "{\"incident\":$inc,\"action\":\"arrived\"}"
	wait_until 10 "on site" sql_is "SELECT state FROM incidents WHERE id=$inc" on_site || return 1
	pub "resp/$who/reply" "{\"incident\":$inc,\"action\":\"done\",\"outcome\":\"false_alarm\"}"
	wait_until 10 "resolved" sql_is "SELECT state FROM incidents WHERE id=$inc" resolved || return 1
	day=$(sql "SELECT (opened_at AT TIME ZONE 'Asia/Shanghai')::date FROM incidents WHERE id=$inc")
	cw report response --from "$day" --to "$day" --format json -o "$WORK/cli.json" || return 1
	expect_eq "1 1 1 1" "$(jq -r '"\(.totals.alarm_incidents) \([.times[].recorded] | map(tostring) | join(" "))"' "$WORK/cli.json")" \
		"the daemon's incident: ack, accept and arrival recorded" || return 1
	expect_eq "$(sql "SELECT concat_ws(' ', round(extract(epoch FROM acked_at - opened_at), 1),
			round(extract(epoch FROM accepted_at - opened_at), 1),
			round(extract(epoch FROM arrived_at - opened_at), 1))
		FROM incidents WHERE id = $inc" | norm)" \
		"$(jq -r '[.times[].median_s] | map(tostring) | join(" ")' "$WORK/cli.json" | norm)" \
		"the report's times are the incident's steps" || return 1
	expect_eq "sos_button 1 1" "$(rows "$WORK/cli.json" .false_alarms.by_device_kind device_kind resolved false_alarms)" \
		"its false alarm by the device's kind" || return 1
	expect_eq 403 "$(api "/api/v1/reports/response?from=$day&to=$day" "$op")" "operator" || return 1
	expect_eq 400 "$(api "/api/v1/reports/response?from=$day" "$sup")" "no to" || return 1
	expect_eq 400 "$(api "/api/v1/reports/response?from=2026-11-31&to=$day" "$sup")" "bad from" || return 1
	expect_eq 200 "$(api "/api/v1/reports/response?from=$day&to=$day" "$sup")" "supervisor" || return 1
	same_json "$WORK/cli.json" "$WORK/api.json" || { die "API and CLI differ (today)"; return 1; }
	expect_eq 200 "$(api '/api/v1/reports/response?from=2026-11-01&to=2026-11-30' "$aud")" "auditor" ||
		return 1
	cw report response --from 2026-11-01 --to 2026-11-30 --format json >"$WORK/cli.json" || return 1
	same_json "$WORK/cli.json" "$WORK/api.json" || { die "API and CLI differ (November)"; return 1; }
	note "ok: the API's response JSON is the CLI's"
	# a township's supervisor: T2's incidents only (6 and 7, both C3's)
	expect_eq 200 "$(api '/api/v1/reports/response?from=2026-11-01&to=2026-11-30' "$t2")" "T2" || return 1
	expect_eq "2 6 140426101" "$(jq -r '"\(.totals.incidents) \([.exceptions[].incident_id] | map(tostring) | join(",")) \(.scope)"' "$WORK/api.json")" \
		"T2's scope" || return 1
	# at-risk
	expect_eq 403 "$(api '/api/v1/reports/at-risk?date=2026-11-20' "$op")" "at-risk: operator" || return 1
	expect_eq 400 "$(api '/api/v1/reports/at-risk?date=2026-11-20&by=county' "$sup")" "at-risk: by county" ||
		return 1
	expect_eq 200 "$(api '/api/v1/reports/at-risk?date=2026-11-19&by=township' "$aud")" "at-risk" || return 1
	cw report at-risk --date 2026-11-19 --by township --format json >"$WORK/cli.json" || return 1
	same_json "$WORK/cli.json" "$WORK/api.json" || { die "at-risk: API and CLI differ"; return 1; }
	expect_eq 200 "$(api '/api/v1/reports/at-risk?date=2026-11-20' "$t2")" "at-risk: T2" || return 1
	expect_eq "C3 2 1" "$(jq -r '"\([.elders[].elder_id] | join(",")) \(.groups[] | select(.level == "total") | "\(.target) \(.not_visited)")"' "$WORK/api.json")" \
		"at-risk: T2's scope" || return 1
	note "ok: the API's at-risk JSON is the CLI's"
	kill -TERM "$DAEMON_PID"
	wait_until 10 "the daemon stopped" daemon_gone || return 1
	DAEMON_PID=
	if grep -q '甲一\|13900000001' "$log"; then die "personal data in the daemon log"; return 1; fi
}

# --- main ------------------------------------------------------------------

for b in jq python3 curl mosquitto_pub mosquitto_sub; do
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
run "response report as JSON, cell by cell" s_resp_json
run "response report as CSV (UTF-8, GB18030) and a table" s_resp_csv_table
run "the targets and the top list from [reports]; one local day" s_resp_config
run "bad dates, periods, levels and encodings are refused" s_refusals
run "the at-risk list: days left, groups, consent, the date's end" s_at_risk
run "a daemon incident in the report; the API's answers are the CLI's" s_daemon

if ((fail > 0)); then
	echo "failed scenarios: ${failed_names[*]}"
fi
echo "scenarios: $pass passed, $fail failed"
((fail == 0))
