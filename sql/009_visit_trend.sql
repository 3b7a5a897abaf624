-- 009_visit_trend.sql: the last twelve months' visit rate for the printed
-- report (`carewatch report visit-rate --format html`, issue 8).
--
-- One row per month, the twelve ending at p_month (its first day), oldest
-- first, each counted exactly as that month's own report counts it: the
-- targets are report_visit_targets() of sql/008_reports.sql for that month,
-- so the rule, the age at the month's end, the active test and the local
-- month boundaries are the same ones, and the last row is the report's
-- total. The month is in the session's TimeZone, as for
-- report_visit_rate_json(). A month without target elders has target 0 and
-- NULL rates. One statement for all twelve: a LATERAL join over the months.
CREATE OR REPLACE FUNCTION report_visit_trend(
	p_month date, p_scope text, p_rule jsonb)
RETURNS TABLE (month text, target bigint, visited bigint, rate numeric,
	       target_consenting bigint, visited_consenting bigint,
	       rate_consenting numeric)
LANGUAGE sql STABLE AS $$
SELECT to_char(m.first_day, 'YYYY-MM'),
       count(t.elder_id),
       count(t.elder_id) FILTER (WHERE t.visited),
       round((count(t.elder_id) FILTER (WHERE t.visited))::numeric
	     / nullif(count(t.elder_id), 0), 4),
       count(t.elder_id) FILTER (WHERE t.consent),
       count(t.elder_id) FILTER (WHERE t.consent AND t.visited),
       round((count(t.elder_id) FILTER (WHERE t.consent AND t.visited))::numeric
	     / nullif(count(t.elder_id) FILTER (WHERE t.consent), 0), 4)
FROM (SELECT (p_month - make_interval(months => k))::date AS first_day
      FROM generate_series(0, 11) AS k) m
LEFT JOIN LATERAL report_visit_targets(m.first_day, current_setting('TimeZone'),
				       p_scope, p_rule) t ON true
GROUP BY m.first_day
ORDER BY m.first_day
$$;
