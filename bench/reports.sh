#!/bin/bash
# reports.sh - `make bench-reports` (also run by `make bench` unless
# BENCH_REPORTS=0): the monthly visit-rate report (issue 8) on a generated
# province, against the issue's limits (the province's report under 10 s,
# one county's under 1 s) and against a ceiling measured in the same run.
#
#   1. starts a private PostgreSQL (tests/lib/servers.sh), migrates
#   2. generates the province with bench/province.sql (set-based SQL): 100
#      counties, ~17,500 villages and stations, 500,000 elders, 6,000,000
#      visits and 1,000,000 incidents (with offers and history) in the 12
#      months up to REPORTS_MONTH; prints how long that took
#   3. checks that report_visit_rate_json() gives the document the three
#      part functions give (report_visit_areas, _categories, _missing), for
#      the province and the county, and that the county's own report agrees
#      with its row in the province's
#   4. REPORTS_ROUNDS times (default 3), interleaved: the ceiling for the
#      province, `carewatch report visit-rate --month M --format json` (the
#      province), the ceiling for the county, the same with --area COUNTY;
#      prints min and median of each, the reports' times as multiples of
#      their ceilings, and the medians against the limits
#
# The ceiling is the least any such report must do: count the month's
# visits of the scope's elders, one query (psql, timed like the CLI: a
# process, a connection, one statement).
#
# Environment: REPORTS_MONTH (YYYY-MM, default 2026-11), REPORTS_ROUNDS
# (default 3), REPORTS_COUNTY (the county's code prefix, default 140121),
# REPORTS_EXPLAIN=1 (also write the plans of both reports, EXPLAIN ANALYZE
# through auto_explain, into the work directory, which is then kept),
# BENCH_STRICT=1 (exit 1 when a median is over its limit), BENCH_KEEP=1
# (keep the work directory and its database). Builds nothing.
set -euo pipefail

top_srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
top_builddir=${top_builddir:-$PWD}
[[ -x $top_builddir/cli/carewatch ]] || top_builddir=$top_srcdir
carewatch=$top_builddir/cli/carewatch
month=${REPORTS_MONTH:-2026-11}
rounds=${REPORTS_ROUNDS:-3}
county=${REPORTS_COUNTY:-140121}
limit_province=10
limit_county=1

say() { echo "reports: $*" >&2; }
die() {
	say "$*"
	exit 1
}
[[ -x $carewatch ]] || die "$carewatch is not built (run make first)"
[[ $month =~ ^[0-9]{4}-(0[1-9]|1[0-2])$ ]] || die "REPORTS_MONTH takes YYYY-MM"
[[ $rounds =~ ^[1-9][0-9]?$ ]] || die "REPORTS_ROUNDS must be a number from 1 to 99"
[[ $county =~ ^[0-9]{1,12}$ ]] || die "REPORTS_COUNTY takes the digits of an area code"
command -v jq >/dev/null || die "jq is missing (tests/lib/install-deps.sh)"

# shellcheck source=tests/lib/servers.sh
. "$top_srcdir/tests/lib/servers.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/cw-reports.XXXXXX")
chmod 755 "$work"
ok=0
# shellcheck disable=SC2317 # the EXIT trap
cleanup() {
	cw_servers_stop
	if [[ $ok == 1 && ${BENCH_KEEP:-0} != 1 && ${REPORTS_EXPLAIN:-0} != 1 ]]; then
		rm -rf "$work"
	else
		say "kept $work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

say "servers"
cw_servers_start "$work/srv" >/dev/null 2>&1 || die "servers did not start (see $work/srv)"
conf=$work/carewatch.conf
mkdir -p "$work/spool"
chmod 700 "$work/spool"
cat >"$conf" <<EOF
[database]
conninfo = $CW_CONNINFO
[dispatch]
timezone = Asia/Shanghai
[spool]
dir = $work/spool
EOF
export CAREWATCH_SQLDIR=$top_srcdir/sql
"$carewatch" -c "$conf" db migrate >/dev/null || die "carewatch db migrate failed"

psql_q() { "$CW_PG_BIN/psql" -X -A -t -q -v ON_ERROR_STOP=1 "$CW_CONNINFO" "$@"; }

say "generating the province (the 12 months up to $month); takes a few minutes"
t0=$(now)
psql_q -v month="$month-01" -f "$top_srcdir/bench/province.sql" >"$work/generate.log" 2>&1 ||
	{
		tail -n 20 "$work/generate.log" >&2
		die "bench/province.sql failed"
	}
t1=$(now)
gen_s=$(elapsed "$t0" "$t1")
counts=$(psql_q -F ' ' -c "SELECT (SELECT count(*) FROM areas WHERE level = 'county'),
	(SELECT count(*) FROM areas WHERE level = 'village'), (SELECT count(*) FROM elders),
	(SELECT count(*) FROM visits), (SELECT count(*) FROM incidents),
	(SELECT count(*) FROM offers), (SELECT count(*) FROM incident_history),
	(SELECT count(*) FROM devices), pg_size_pretty(pg_database_size(current_database()))")
read -r n_counties n_villages n_elders n_visits n_incidents n_offers n_history n_devices db_size \
	<<<"$counts"
[[ $n_counties == 100 && $n_elders == 500000 && $n_visits == 6000000 &&
	$n_incidents == 1000000 ]] || die "the province is not as meant: $counts"
printf 'generated in %s s: %s counties, %s villages, %s elders, %s visits, %s incidents, %s offers, %s history lines, %s devices (%s)\n' \
	"$gen_s" "$n_counties" "$n_villages" "$n_elders" "$n_visits" "$n_incidents" "$n_offers" \
	"$n_history" "$n_devices" "$db_size"

# The rule the CLI sends (its defaults), for the checks made in SQL.
rule='{"version":"2026","special":["extreme_poverty","special_family"],"economic":["low_income","econ_hardship"],"with":["living_alone","empty_nest","left_behind","disabled","severe_disability"],"min_age":80,"min_capability":2,"phone_counts":false}'

# report_visit_rate_json() against the document 008's version built from
# the three part functions (the same query, kept here): equal, as jsonb.
same_as_parts() { # scope
	psql_q -v scope="$1" -v month="$month-01" -v rule="$rule" <<'SQL'
SET TimeZone = 'Asia/Shanghai';
SELECT report_visit_rate_json(:'month', 'village', :'scope', :'rule') = jsonb_build_object(
	'report', 'visit-rate', 'month', to_char(:'month'::date, 'YYYY-MM'),
	'timezone', current_setting('TimeZone'), 'by', 'village', 'scope', :'scope',
	'rule', :'rule'::jsonb,
	'areas', coalesce((SELECT jsonb_agg(to_jsonb(a) - 'n' ORDER BY a.n)
			   FROM (SELECT row_number() OVER () AS n, x.*
				 FROM report_visit_areas(:'month', current_setting('TimeZone'),
							 :'scope', :'rule') x) a), '[]'::jsonb),
	'categories', coalesce((SELECT jsonb_agg(to_jsonb(c) ORDER BY c.category)
				FROM report_visit_categories(:'month', current_setting('TimeZone'),
							     :'scope', :'rule') c), '[]'::jsonb),
	'not_visited', coalesce((SELECT jsonb_agg(to_jsonb(m) ORDER BY m.township, m.village,
						  m.elder_id)
				 FROM report_visit_missing(:'month', current_setting('TimeZone'),
							   :'scope', :'rule') m), '[]'::jsonb));
SQL
}
say "checking the report against its part functions"
for s in "$county" ""; do
	[[ $(same_as_parts "$s") == t ]] ||
		die "report_visit_rate_json('${s}') differs from the part functions' document"
done

# The ceiling: the month's visits of the scope's elders, counted. For the
# province one join over the month's visits; for a county a look into each
# of its elders' visits by the index, which the planner does not always
# pick on its own (a hash join over the whole month's visits, several
# times slower).
# shellcheck disable=SC2317 # called through timed
ceiling() { # scope
	local q
	if [[ -z $1 ]]; then
		q="SELECT count(*) FROM visits v JOIN elders e ON e.id = v.elder_id
		   WHERE v.at >= :'t0' AND v.at < :'t1'"
	else
		q="SELECT sum(n) FROM elders e, LATERAL (SELECT count(*) AS n FROM visits v
		   WHERE v.elder_id = e.id AND v.at >= :'t0' AND v.at < :'t1') x
		   WHERE e.area_code LIKE :'scope' || '%'"
	fi
	psql_q -v scope="$1" -v t0="$t0_month" -v t1="$t1_month" >/dev/null <<<"$q;"
}
# The month's bounds: local midnights in Asia/Shanghai, written in UTC.
utc="'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'"
read -r t0_month t1_month <<<"$(psql_q -F ' ' -c "SELECT to_char(a AT TIME ZONE 'UTC', $utc),
	to_char(b AT TIME ZONE 'UTC', $utc)
	FROM (SELECT '$month-01'::timestamp AT TIME ZONE 'Asia/Shanghai' AS a,
		     ('$month-01'::date + interval '1 month')::timestamp AT TIME ZONE 'Asia/Shanghai' AS b) x")"
[[ $t1_month == *Z ]] || die "cannot work out the month's bounds"
# shellcheck disable=SC2317 # called through timed
report() { # scope file
	local a=()
	[[ -z $1 ]] || a=(--area "$1")
	"$carewatch" -c "$conf" report visit-rate --month "$month" --format json "${a[@]}" -o "$2"
}
timed() { # variable command...: the command's wall time in seconds into variable
	local v=$1 t0
	shift
	t0=$(now)
	"$@" || die "$* failed"
	printf -v "$v" '%s' "$(elapsed "$t0" "$(now)")"
}

ceil_p=() rep_p=() ceil_c=() rep_c=()
for ((r = 1; r <= rounds; r++)); do
	say "round $r of $rounds"
	timed t ceiling "" && ceil_p+=("$t")
	timed t report "" "$work/province.json" && rep_p+=("$t")
	timed t ceiling "$county" && ceil_c+=("$t")
	timed t report "$county" "$work/county.json" && rep_c+=("$t")
done

# The county's own report is its row of the province's.
row_p=$(jq -c --arg c "${county}$(printf '%0*d' $((12 - ${#county})) 0)" \
	'.areas[] | select(.level == "county" and .code == $c) | del(.level, .code, .name, .parent)' \
	"$work/province.json")
row_c=$(jq -c '.areas[] | select(.level == "total") | del(.level, .code, .name, .parent)' \
	"$work/county.json")
[[ -n $row_p && $row_p == "$row_c" ]] ||
	die "the county's report ($row_c) is not its row in the province's ($row_p)"
summary=$(jq -r '.areas[] | select(.level == "total") |
	"\(.target) targets, \(.visited) visited (\(.rate)), \(.target - .target_consenting) declined"' \
	"$work/province.json")
missing=$(jq '.not_visited | length' "$work/province.json")
bytes=$(wc -c <"$work/province.json")
echo "province $month: $summary; $missing on the not-visited list; JSON $bytes bytes"
echo "county $county: $(jq -r '.areas[] | select(.level == "total") | "\(.target) targets, \(.visited) visited"' "$work/county.json")"

stats() { # values...: "min median"
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
		printf "%.3f %.3f", v[1], (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
line() { # name reports ceilings limit -> prints, sets over=1 when over the limit
	local name=$1 limit=$4 rmin rmed cmin cmed
	# shellcheck disable=SC2086 # lists of numbers, split on purpose
	read -r rmin rmed <<<"$(stats $2)"
	# shellcheck disable=SC2086
	read -r cmin cmed <<<"$(stats $3)"
	awk -v n="$name" -v rmin="$rmin" -v rmed="$rmed" -v cmin="$cmin" -v cmed="$cmed" \
		-v lim="$limit" 'BEGIN {
		printf "%-9s report min %.3f s median %.3f s   ceiling min %.3f s median %.3f s   ratio %.1f (median/median)   limit %d s: %s\n",
			n, rmin, rmed, cmin, cmed, (cmed > 0 ? rmed / cmed : 0), lim,
			(rmed < lim ? "ok (" sprintf("%.0f", 100 * rmed / lim) " % of it)" : "OVER LIMIT") }'
	awk -v r="$rmed" -v l="$limit" 'BEGIN { exit !(r >= l) }' && over=1
	return 0
}
over=0
echo
echo "rounds: province ${rep_p[*]} s (ceiling ${ceil_p[*]}); county ${rep_c[*]} s (ceiling ${ceil_c[*]})"
line province "${rep_p[*]}" "${ceil_p[*]}" "$limit_province"
line "county" "${rep_c[*]}" "${ceil_c[*]}" "$limit_county"
echo "(report: carewatch report visit-rate --format json, process to file; ceiling: psql counting the month's visits of the scope's elders)"

if [[ ${REPORTS_EXPLAIN:-0} == 1 ]]; then
	for s in "" "$county"; do
		psql_q -v scope="$s" -v month="$month-01" -v rule="$rule" \
			>"$work/explain-${s:-province}.txt" 2>&1 <<'SQL'
SET TimeZone = 'Asia/Shanghai';
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_analyze = on;
SET auto_explain.log_buffers = on;
SET auto_explain.log_nested_statements = on;
SET client_min_messages = log;
SELECT length(report_visit_rate_json(:'month', 'village', :'scope', :'rule')::text);
SQL
	done
	say "plans in $work/explain-province.txt and $work/explain-$county.txt"
fi
ok=1
if [[ $over == 1 && ${BENCH_STRICT:-0} == 1 ]]; then
	exit 1
fi
exit 0
