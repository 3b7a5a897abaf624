-- 011_report_speed.sql: the visit-rate report at province size (issue 8:
-- 500,000 elders, 6,000,000 visits a year; the province's report under
-- 10 s, a county's under 1 s; bench/reports.sh measures both). Same
-- results as 008's functions, found faster:
--
-- * a scope (area-code prefix) is also a range of codes, which an index on
--   elders.area_code serves. The LIKE of 008 stays as well, so a scope that
--   is not all digits still means what it meant (LIKE alone cannot use the
--   index: the scope is a parameter, unknown when the plan is made, and the
--   database's collation need not be C).
-- * report_visit_rate_json() finds the target elders once, not three times
--   (once for each of areas, categories and not_visited), in PL/pgSQL so
--   that its query is planned for the scope at hand (a SQL function's plan
--   knows nothing of its arguments' values: it takes the province for a
--   county's few thousand elders or the other way round).
-- * an elder's visits are looked at once, not twice, and without reading
--   the visits table (an index-only scan).

CREATE INDEX IF NOT EXISTS elders_area_code ON elders (area_code);

-- An elder's last counting visit is one step back in an index on
-- (elder_id, at); with in_person and kind in the index too, that step
-- reads no table page (an index-only scan). It replaces 001's
-- visits_elder_at, which has the same key.
CREATE INDEX IF NOT EXISTS visits_elder_at_kind ON visits (elder_id, at) INCLUDE (in_person, kind);
DROP INDEX IF EXISTS visits_elder_at;

-- The lowest and the highest 12-digit area code under a scope: the codes
-- LIKE scope || '%' can match when the scope is digits, all codes otherwise.
CREATE OR REPLACE FUNCTION report_scope_lo(p_scope text) RETURNS char(12)
LANGUAGE sql IMMUTABLE AS $$
SELECT (CASE WHEN p_scope ~ '^[0-9]{0,12}$' THEN rpad(p_scope, 12, '0')
	     ELSE '000000000000' END)::char(12)
$$;
CREATE OR REPLACE FUNCTION report_scope_hi(p_scope text) RETURNS char(12)
LANGUAGE sql IMMUTABLE AS $$
SELECT (CASE WHEN p_scope ~ '^[0-9]{0,12}$' THEN rpad(p_scope, 12, '9')
	     ELSE '999999999999' END)::char(12)
$$;

-- As in 008, with the scope's range of codes added to the elders' filter,
-- and one look at an elder's visits instead of two: the last counting
-- visit before the month's end (one step back in visits_elder_at) is also
-- whether there was one in the month (it is, when it is not before the
-- month's start).
CREATE OR REPLACE FUNCTION report_visit_targets(
	p_month date, p_tz text, p_scope text, p_rule jsonb)
RETURNS TABLE (elder_id text, name text, village char(12), township char(12),
	       county char(12), station_id text, consent boolean, reasons text[],
	       visited boolean, last_visit date)
LANGUAGE sql STABLE AS $$
WITH r AS (
	SELECT ARRAY(SELECT jsonb_array_elements_text(p_rule->'special')) AS special,
	       ARRAY(SELECT jsonb_array_elements_text(p_rule->'economic')) AS economic,
	       ARRAY(SELECT jsonb_array_elements_text(p_rule->'with')) AS with_any,
	       (p_rule->>'min_age')::int AS min_age,
	       (p_rule->>'min_capability')::int AS min_capability,
	       (p_rule->>'phone_counts')::boolean AS phone_counts
), m AS (
	SELECT p_month AS first_day,
	       (p_month + interval '1 month' - interval '1 day')::date AS last_day,
	       (p_month::timestamp) AT TIME ZONE p_tz AS t0,
	       ((p_month + interval '1 month')::timestamp) AT TIME ZONE p_tz AS t1
), e AS (
	SELECT el.*,
	       el.birth_date + make_interval(years => r.min_age) <= m.last_day AS old,
	       coalesce(el.capability_level >= r.min_capability, false) AS incapable
	FROM elders el, m, r
	WHERE el.registered_on <= m.last_day
	  AND el.area_code BETWEEN report_scope_lo(p_scope) AND report_scope_hi(p_scope)
	  AND el.area_code LIKE p_scope || '%'
	  AND (el.deactivated_on IS NULL OR el.deactivated_on >= m.first_day)
), t AS (
	SELECT e.*
	FROM e, r
	WHERE e.categories && r.special
	   OR (e.categories && r.economic
	       AND (e.categories && r.with_any OR e.old OR e.incapable))
)
SELECT t.id, t.name, v.code, tw.code, c.code, t.station_id, t.visit_consent,
       ARRAY(SELECT x FROM unnest(t.categories) x
	     WHERE x = ANY (r.special) OR x = ANY (r.economic) OR x = ANY (r.with_any)
	     ORDER BY x)
	   || CASE WHEN t.old THEN ARRAY['age_' || r.min_age || '_plus'] ELSE '{}' END
	   || CASE WHEN t.incapable THEN ARRAY['capability_' || r.min_capability || '_plus']
		   ELSE '{}' END,
       coalesce(lv.at >= m.t0, false),
       (lv.at AT TIME ZONE p_tz)::date
FROM t CROSS JOIN m CROSS JOIN r
LEFT JOIN LATERAL (SELECT max(vi.at) AS at FROM visits vi
		   WHERE vi.elder_id = t.id AND vi.at < m.t1
		     AND (vi.in_person OR (r.phone_counts AND vi.kind = 'phone'))) lv ON true
JOIN areas v ON v.code = t.area_code
LEFT JOIN areas tw ON tw.code = v.parent_code
LEFT JOIN areas c ON c.code = tw.parent_code
$$;

-- The whole report as in 008, its three parts made from one list of target
-- elders (a materialised CTE) instead of three calls of
-- report_visit_targets(). The parts' queries are those of
-- report_visit_areas(), report_visit_categories() and
-- report_visit_missing() over that list: keep them in step (bench/reports.sh
-- checks that this document equals the one built from those functions).
CREATE OR REPLACE FUNCTION report_visit_rate_json(
	p_month date, p_by text, p_scope text, p_rule jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
-- planned at every call: a connection that has run it a few times would
-- otherwise settle on a generic plan, made without the scope's value
SET plan_cache_mode = force_custom_plan
AS $$
BEGIN
RETURN (
WITH t AS MATERIALIZED (
	SELECT * FROM report_visit_targets(p_month, current_setting('TimeZone'), p_scope, p_rule)
), g AS (
	SELECT t.county, t.township, t.village,
	       GROUPING(t.county, t.township, t.village) AS gr,
	       count(*) AS target,
	       count(*) FILTER (WHERE t.visited) AS visited,
	       count(*) FILTER (WHERE t.consent) AS target_c,
	       count(*) FILTER (WHERE t.consent AND t.visited) AS visited_c
	FROM t
	GROUP BY ROLLUP (t.county, t.township, t.village)
), areas_rows AS (
	SELECT CASE g.gr WHEN 0 THEN 'village' WHEN 1 THEN 'township' WHEN 3 THEN 'county'
			 ELSE 'total' END AS level,
	       CASE g.gr WHEN 0 THEN g.village WHEN 1 THEN g.township WHEN 3 THEN g.county
	       END AS code,
	       a.name,
	       CASE g.gr WHEN 0 THEN g.township WHEN 1 THEN g.county END AS parent,
	       g.target, g.visited,
	       round(g.visited::numeric / nullif(g.target, 0), 4) AS rate,
	       g.target_c AS target_consenting, g.visited_c AS visited_consenting,
	       round(g.visited_c::numeric / nullif(g.target_c, 0), 4) AS rate_consenting
	FROM g
	LEFT JOIN areas a ON a.code = CASE g.gr WHEN 0 THEN g.village WHEN 1 THEN g.township
					       WHEN 3 THEN g.county END
	ORDER BY g.county NULLS LAST, g.township NULLS FIRST, g.village NULLS FIRST
), categories_rows AS (
	SELECT r.cat AS category, count(*) AS target,
	       count(*) FILTER (WHERE t.visited) AS visited,
	       round((count(*) FILTER (WHERE t.visited))::numeric / count(*), 4) AS rate,
	       count(*) FILTER (WHERE t.consent) AS target_consenting,
	       count(*) FILTER (WHERE t.consent AND t.visited) AS visited_consenting,
	       round((count(*) FILTER (WHERE t.consent AND t.visited))::numeric
		     / nullif(count(*) FILTER (WHERE t.consent), 0), 4) AS rate_consenting
	FROM t, unnest(t.reasons) AS r(cat)
	GROUP BY r.cat
), missing_rows AS (
	SELECT t.elder_id, t.name, t.village, v.name AS village_name, t.township,
	       t.station_id, s.name AS station_name, t.last_visit, t.consent
	FROM t
	JOIN areas v ON v.code = t.village
	LEFT JOIN stations s ON s.id = t.station_id
	WHERE NOT t.visited
)
SELECT jsonb_build_object(
	'report', 'visit-rate',
	'month', to_char(p_month, 'YYYY-MM'),
	'timezone', current_setting('TimeZone'),
	'by', p_by,
	'scope', p_scope,
	'rule', p_rule,
	'areas', coalesce((SELECT jsonb_agg(to_jsonb(a) - 'n' ORDER BY a.n)
			   FROM (SELECT row_number() OVER () AS n, x.* FROM areas_rows x) a
			   WHERE a.level = 'total' OR a.level = 'county'
			      OR (a.level = 'township' AND p_by IN ('township', 'village'))
			      OR (a.level = 'village' AND p_by = 'village')), '[]'::jsonb),
	'categories', coalesce((SELECT jsonb_agg(to_jsonb(c) ORDER BY c.category)
				FROM categories_rows c), '[]'::jsonb),
	'not_visited', coalesce((SELECT jsonb_agg(to_jsonb(m) ORDER BY m.township, m.village,
						  m.elder_id)
				 FROM missing_rows m), '[]'::jsonb)));
END
$$;
