-- 008_reports.sql: what the monthly visit-rate report (SPEC §6, issue 8)
-- needs, and its queries, in one place: the CLI (`carewatch report
-- visit-rate`) and, later, the daemon's read-only connection call these
-- functions, so both give the same numbers.

-- An elder counts in a month when registered on or before its last day and
-- not deactivated before its first. Rows that existed before this migration
-- have no registration date on record (updated_at changes with every
-- import): they get 1900-01-01, "registered since before any report".
ALTER TABLE elders ADD COLUMN IF NOT EXISTS registered_on date NOT NULL DEFAULT '1900-01-01';
ALTER TABLE elders ADD COLUMN IF NOT EXISTS deactivated_on date;
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'elders_deactivated_after_registered') THEN
		ALTER TABLE elders ADD CONSTRAINT elders_deactivated_after_registered
			CHECK (deactivated_on IS NULL OR deactivated_on >= registered_on);
	END IF;
END $$;

-- The report's month scan: visits by time.
CREATE INDEX IF NOT EXISTS visits_at ON visits (at);

-- One row per target elder of the month: the rule of SPEC §6 with its lists
-- passed in (the configuration's [reports] keys), where the elder lives
-- (village, township, county by the areas tree), whether a counting visit
-- happened in the month, and the categories that made the elder a target
-- (plus age_N_plus and capability_N_plus when those applied).
-- p_month is the first day of the month; the month runs from its local
-- midnight to the next month's local midnight in p_tz.
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
       EXISTS (SELECT 1 FROM visits vi
	       WHERE vi.elder_id = t.id AND vi.at >= m.t0 AND vi.at < m.t1
		 AND (vi.in_person OR (r.phone_counts AND vi.kind = 'phone'))),
       (SELECT (max(vi.at) AT TIME ZONE p_tz)::date FROM visits vi
	WHERE vi.elder_id = t.id AND vi.at < m.t1
	  AND (vi.in_person OR (r.phone_counts AND vi.kind = 'phone')))
FROM t CROSS JOIN m CROSS JOIN r
JOIN areas v ON v.code = t.area_code
LEFT JOIN areas tw ON tw.code = v.parent_code
LEFT JOIN areas c ON c.code = tw.parent_code
$$;

-- Rates per area with roll-ups: village, township, county and the total of
-- everything (level 'total'), each with and without the elders who declined
-- visits (visit_consent = no). Rates are visited / target to 4 places, NULL
-- when there is no target.
CREATE OR REPLACE FUNCTION report_visit_areas(
	p_month date, p_tz text, p_scope text, p_rule jsonb)
RETURNS TABLE (level text, code char(12), name text, parent char(12),
	       target bigint, visited bigint, rate numeric,
	       target_consenting bigint, visited_consenting bigint,
	       rate_consenting numeric)
LANGUAGE sql STABLE AS $$
WITH g AS (
	SELECT t.county, t.township, t.village,
	       GROUPING(t.county, t.township, t.village) AS gr,
	       count(*) AS target,
	       count(*) FILTER (WHERE t.visited) AS visited,
	       count(*) FILTER (WHERE t.consent) AS target_c,
	       count(*) FILTER (WHERE t.consent AND t.visited) AS visited_c
	FROM report_visit_targets(p_month, p_tz, p_scope, p_rule) t
	GROUP BY ROLLUP (t.county, t.township, t.village)
)
SELECT CASE g.gr WHEN 0 THEN 'village' WHEN 1 THEN 'township' WHEN 3 THEN 'county'
		 ELSE 'total' END,
       CASE g.gr WHEN 0 THEN g.village WHEN 1 THEN g.township WHEN 3 THEN g.county END,
       a.name,
       CASE g.gr WHEN 0 THEN g.township WHEN 1 THEN g.county END,
       g.target, g.visited,
       round(g.visited::numeric / nullif(g.target, 0), 4),
       g.target_c, g.visited_c,
       round(g.visited_c::numeric / nullif(g.target_c, 0), 4)
FROM g
LEFT JOIN areas a ON a.code = CASE g.gr WHEN 0 THEN g.village WHEN 1 THEN g.township
				       WHEN 3 THEN g.county END
ORDER BY g.county NULLS LAST, g.township NULLS FIRST, g.village NULLS FIRST
$$;

-- Rates per category (an elder with two counts in both).
CREATE OR REPLACE FUNCTION report_visit_categories(
	p_month date, p_tz text, p_scope text, p_rule jsonb)
RETURNS TABLE (category text, target bigint, visited bigint, rate numeric,
	       target_consenting bigint, visited_consenting bigint,
	       rate_consenting numeric)
LANGUAGE sql STABLE AS $$
SELECT r.cat, count(*), count(*) FILTER (WHERE t.visited),
       round((count(*) FILTER (WHERE t.visited))::numeric / count(*), 4),
       count(*) FILTER (WHERE t.consent),
       count(*) FILTER (WHERE t.consent AND t.visited),
       round((count(*) FILTER (WHERE t.consent AND t.visited))::numeric
	     / nullif(count(*) FILTER (WHERE t.consent), 0), 4)
FROM report_visit_targets(p_month, p_tz, p_scope, p_rule) t,
     unnest(t.reasons) AS r(cat)
GROUP BY r.cat
ORDER BY r.cat
$$;

-- The target elders not visited in the month, the list a township works
-- from: no id number, phone number or address.
CREATE OR REPLACE FUNCTION report_visit_missing(
	p_month date, p_tz text, p_scope text, p_rule jsonb)
RETURNS TABLE (elder_id text, name text, village char(12), village_name text,
	       township char(12), station_id text, station_name text,
	       last_visit date, consent boolean)
LANGUAGE sql STABLE AS $$
SELECT t.elder_id, t.name, t.village, v.name, t.township, t.station_id, s.name,
       t.last_visit, t.consent
FROM report_visit_targets(p_month, p_tz, p_scope, p_rule) t
JOIN areas v ON v.code = t.village
LEFT JOIN stations s ON s.id = t.station_id
WHERE NOT t.visited
ORDER BY t.county, t.township, t.village, t.elder_id
$$;

-- The whole report as one JSON document: what `carewatch report visit-rate
-- --format json` prints, what its table and CSV are made from, and what the
-- API will answer. The month is in the session's TimeZone (the CLI and the
-- daemon's reader set it from [dispatch] timezone). p_by (county, township
-- or village) is the finest area level listed; the coarser levels and the
-- total are always there. p_scope is an area-code prefix ('' = everything):
-- only elders living under it are counted. p_rule is the [reports] rule:
-- {"version", "special", "economic", "with", "min_age", "min_capability",
-- "phone_counts"}.
CREATE OR REPLACE FUNCTION report_visit_rate_json(
	p_month date, p_by text, p_scope text, p_rule jsonb)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object(
	'report', 'visit-rate',
	'month', to_char(p_month, 'YYYY-MM'),
	'timezone', current_setting('TimeZone'),
	'by', p_by,
	'scope', p_scope,
	'rule', p_rule,
	'areas', coalesce((SELECT jsonb_agg(to_jsonb(a) - 'n' ORDER BY a.n)
			   FROM (SELECT row_number() OVER () AS n, x.*
				 FROM report_visit_areas(p_month, current_setting('TimeZone'),
							 p_scope, p_rule) x) a
			   WHERE a.level = 'total' OR a.level = 'county'
			      OR (a.level = 'township' AND p_by IN ('township', 'village'))
			      OR (a.level = 'village' AND p_by = 'village')), '[]'::jsonb),
	'categories', coalesce((SELECT jsonb_agg(to_jsonb(c) ORDER BY c.category)
				FROM report_visit_categories(p_month,
							     current_setting('TimeZone'),
							     p_scope, p_rule) c), '[]'::jsonb),
	'not_visited', coalesce((SELECT jsonb_agg(to_jsonb(m) ORDER BY m.township, m.village,
						  m.elder_id)
				 FROM report_visit_missing(p_month, current_setting('TimeZone'),
							   p_scope, p_rule) m), '[]'::jsonb))
$$;
