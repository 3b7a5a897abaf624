# shellcheck shell=bash
# county.sh - the small county of the scenario tests (tests/scenarios.sh,
# tests/http.sh): make_fixture writes its CSV files under $WORK/csv.
#
# Elder E1 lives alone at (36.5, 113.4). Volunteers at 300/600/900 m and one
# beyond 5 km; the off-duty station S_OFF is nearest of all (100 m); the
# elder's own station S_HOME (24h, capacity 1) is 2 km away; the county
# center 10 km.

make_fixture() {
	local f=$WORK/csv h off_from off_to
	mkdir -p "$f"
	# a duty window that excludes the hours the suite can see in
	# Asia/Shanghai: the whole run (up to 90 min) and the clock-step
	# scenario's +1 h
	h=$(TZ=Asia/Shanghai date +%H)
	off_from=$(printf '%02d:00' $(((10#$h + 4) % 24)))
	off_to=$(printf '%02d:00' $(((10#$h + 5) % 24)))
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
S_HOME,东关村养老服务站,village_station,140426100200,36.518,113.40,0355-6000001,1,first_aid;nursing,24h
S_OFF,东关村日间照料中心,day_care,140426100200,36.5009,113.40,0355-6000002,2,,$off_from-$off_to
CSV
	cat >"$f/volunteers.csv" <<CSV
id,name,area_code,lat,lon,phone,skills,max_km,owntracks_user,active
V1,李一,140426100200,36.5027,113.40,13800000001,first_aid,,,yes
V2,王二,140426100200,36.5054,113.40,13800000002,,,,yes
V3,赵三,140426100200,36.5081,113.40,13800000003,,,,yes
V_FAR,钱远,140426100200,36.56,113.40,13800000004,,,,yes
CSV
	cat >"$f/elders.csv" <<CSV
id,name,birth_date,area_code,lat,lon,gender,phone,address,categories,capability_level,visit_consent,station_id,contacts,notes,id_number
E1,张桂兰,1948-03-02,140426100200,36.50,113.40,F,13900000001,Hidden St 1,living_alone,1,yes,S_HOME,李明:13900000009,,140426194803021234
E2,刘大爷,1956-07-01,140426100200,36.50,113.40,M,13900000002,Hidden St 2,,0,yes,S_HOME,,,
CSV
	cat >"$f/devices.csv" <<CSV
id,kind,elder_id,ecosystem,external_id,heartbeat_s
D1,sos_button,E1,native,,600
D2,smoke,E1,native,,600
D3,water_leak,E1,native,,
D4,sos_button,E2,native,,600
D5,smoke,E2,native,,600
D6,water_leak,E2,native,,
D7,door,E1,native,,
CSV
	# the test ID number gets its real check digit (GB 11643, ISO 7064)
	local base=14042619480302123 w=(7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2) sum=0 i
	for ((i = 0; i < 17; i++)); do
		sum=$((sum + ${base:i:1} * w[i]))
	done
	local checks=10X98765432
	sed -i "s/140426194803021234/$base${checks:sum%11:1}/" "$f/elders.csv"
}
