-- 010_response.sql: the response-time report and the day-20 at-risk list
-- (SPEC §6, issue 8). Like 008, the CLI (`carewatch report response`,
-- `carewatch report at-risk`) and the daemon's read-only connection (GET
-- /api/v1/reports/response and /at-risk) call these functions, through the
-- statements in common/report.c, so both give the same numbers.
-- Applied once by `carewatch db migrate`; safe to run twice.
--
-- No new columns: every step the response report times is already stored
-- by the daemon on the incident row (daemon/store.c SQL_UPSERT_INCIDENTS):
-- opened_at (the alarm opened it), acked_at (an operator acknowledged
-- it), accepted_at (a responder accepted an offer), arrived_at (the
-- responder said "arrived", or "done" without "arrived" first: then the
-- done time), escalated_at, resolved_at and outcome.

-- The report's period scan: incidents by the time they opened.
CREATE INDEX IF NOT EXISTS incidents_opened_at ON incidents (opened_at);

-- One row per alarm incident (kind 'alarm'; tickets have no operator or
-- responder to time) opened in [p_t0, p_t1) under the area prefix p_scope,
-- with the seconds from opened_at to each recorded step (NULL: the step
-- has not happened, or not yet), to 0.1 s. A step is expected of every
-- alarm incident, except arrival of one resolved as false_alarm or test
-- before anyone arrived (an operator called it off): arrival_expected.
CREATE OR REPLACE FUNCTION report_response_incidents(
	p_t0 timestamptz, p_t1 timestamptz, p_scope text)
RETURNS TABLE (id bigint, type text, priority smallint, state text, escalated boolean,
	       outcome text, alarm_device text, elder_id text, area_code char(12),
	       opened_at timestamptz, ack_s numeric, accept_s numeric, arrival_s numeric,
	       arrival_expected boolean)
LANGUAGE sql STABLE AS $$
SELECT i.id, i.type, i.priority, i.state, i.escalated, i.outcome, i.alarm_device,
       i.elder_id, i.area_code, i.opened_at,
       round(extract(epoch FROM i.acked_at - i.opened_at), 1),
       round(extract(epoch FROM i.accepted_at - i.opened_at), 1),
       round(extract(epoch FROM i.arrived_at - i.opened_at), 1),
       i.arrived_at IS NOT NULL
	   OR NOT (i.state = 'resolved' AND i.outcome IN ('false_alarm', 'test'))
FROM incidents i
WHERE i.kind = 'alarm'
  AND i.opened_at >= p_t0 AND i.opened_at < p_t1
  AND coalesce(i.area_code, '') LIKE p_scope || '%'
$$;

-- The targets of p_targets ({"ack_s": [60, 180], "arrival_min": [45, 60]}),
-- named ack_60s, ack_180s, arrival_45min, arrival_60min, in that order,
-- with the step each is about and its seconds.
CREATE OR REPLACE FUNCTION report_response_target_list(p_targets jsonb)
RETURNS TABLE (name text, ord bigint, step text, t numeric)
LANGUAGE sql IMMUTABLE AS $$
SELECT 'ack_' || a.t || 's', a.n, 'ack', a.t::numeric
FROM jsonb_array_elements_text(p_targets->'ack_s') WITH ORDINALITY AS a(t, n)
UNION ALL
SELECT 'arrival_' || b.t || 'min', 100 + b.n, 'arrival', b.t::numeric * 60
FROM jsonb_array_elements_text(p_targets->'arrival_min') WITH ORDINALITY AS b(t, n)
$$;

-- One row per alarm incident of report_response_incidents() and target
-- for which the step is expected: whether the target was met (the step
-- came within it, <=) and whether that is decided (the step came, the
-- incident is resolved without it, or the target's time has passed). A
-- decided target not met is missed; an open incident still inside a
-- target's time is neither (it is left out of that target's share). The
-- raw times are compared, not the ones rounded for display.
CREATE OR REPLACE FUNCTION report_response_targets(
	p_t0 timestamptz, p_t1 timestamptz, p_scope text, p_targets jsonb)
RETURNS TABLE (id bigint, name text, ord bigint, step text, met boolean, decided boolean)
LANGUAGE sql STABLE AS $$
WITH x AS (
	SELECT i.id, tg.name, tg.ord, tg.step, tg.t, i.state, i.opened_at,
	       extract(epoch FROM CASE tg.step WHEN 'ack' THEN i.acked_at ELSE i.arrived_at END
				  - i.opened_at) AS s
	FROM incidents i
	CROSS JOIN report_response_target_list(p_targets) tg
	WHERE i.kind = 'alarm'
	  AND i.opened_at >= p_t0 AND i.opened_at < p_t1
	  AND coalesce(i.area_code, '') LIKE p_scope || '%'
	  AND (tg.step = 'ack' OR i.arrived_at IS NOT NULL
	       OR NOT (i.state = 'resolved' AND i.outcome IN ('false_alarm', 'test')))
)
SELECT x.id, x.name, x.ord, x.step, coalesce(x.s <= x.t, false),
       x.s IS NOT NULL OR x.state = 'resolved'
	   OR now() >= x.opened_at + make_interval(secs => x.t)
FROM x
$$;

-- The response report as one JSON document: what `carewatch report
-- response --format json` prints, what its table and CSV are made from,
-- and what GET /api/v1/reports/response answers. p_from and p_to are local
-- dates in the session's TimeZone (the CLI and the daemon's reader set it
-- from [dispatch] timezone), p_to included. p_scope is an area-code prefix
-- ('' = everything). p_targets: {"ack_s": [...], "arrival_min": [...],
-- "top": N} from the [reports] keys ack_target_s, ack_target2_s,
-- arrival_target_min, arrival_target2_min and false_alarm_top.
--
-- json, not jsonb: the keys stay in the order written, and a period with
-- tens of thousands of exceptions is built in a third of the time.
-- Medians and p90 are percentile_cont (linear interpolation between the
-- two nearest ranks) of the recorded step times in seconds, rounded to
-- 0.1 s; shares are met / (met + missed) to 4 places, NULL when nothing
-- is decided.
CREATE OR REPLACE FUNCTION report_response_json(
	p_from date, p_to date, p_scope text, p_targets jsonb)
RETURNS json
LANGUAGE sql STABLE AS $$
WITH p AS (
	SELECT (p_from::timestamp) AT TIME ZONE current_setting('TimeZone') AS t0,
	       ((p_to + 1)::timestamp) AT TIME ZONE current_setting('TimeZone') AS t1
), allinc AS (
	SELECT i.*
	FROM incidents i, p
	WHERE i.opened_at >= p.t0 AND i.opened_at < p.t1
	  AND coalesce(i.area_code, '') LIKE p_scope || '%'
), r AS (
	SELECT x.*, d.kind AS device_kind
	FROM p, report_response_incidents(p.t0, p.t1, p_scope) x
	LEFT JOIN devices d ON d.id = x.alarm_device
), x AS (
	SELECT x.*
	FROM p, report_response_targets(p.t0, p.t1, p_scope, p_targets) x
), missed AS (
	SELECT x.id, array_agg(x.name ORDER BY x.ord) AS missed
	FROM x
	WHERE x.decided AND NOT x.met
	GROUP BY x.id
), steps AS (
	SELECT s.step, s.ord, s.v, s.expected
	FROM r
	CROSS JOIN LATERAL (VALUES ('ack', 1, r.ack_s, true),
				   ('accept', 2, r.accept_s, true),
				   ('arrival', 3, r.arrival_s, r.arrival_expected))
		AS s(step, ord, v, expected)
), step_stats AS (
	-- one pass per statistic kind: counts and both percentiles per step
	SELECT s.step, count(*) AS n, count(s.v) AS rec,
	       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY s.v)::numeric, 1) AS med,
	       round(percentile_cont(0.9) WITHIN GROUP (ORDER BY s.v)::numeric, 1) AS p90
	FROM steps s
	WHERE s.expected
	GROUP BY s.step
), within AS (
	SELECT tg.step, tg.name, tg.t, tg.ord,
	       count(*) FILTER (WHERE x.met) AS met,
	       count(*) FILTER (WHERE x.decided) AS of
	FROM report_response_target_list(p_targets) tg
	LEFT JOIN x ON x.name = tg.name
	GROUP BY tg.step, tg.name, tg.t, tg.ord
), fa AS (
	SELECT r.*, r.outcome = 'false_alarm' AS fa
	FROM r
	WHERE r.state = 'resolved'
)
SELECT json_build_object(
	'report', 'response',
	'from', to_char(p_from, 'YYYY-MM-DD'),
	'to', to_char(p_to, 'YYYY-MM-DD'),
	'timezone', current_setting('TimeZone'),
	'scope', p_scope,
	'targets', p_targets,
	'totals', (SELECT json_build_object(
			'incidents', count(*),
			'alarm_incidents', count(*) FILTER (WHERE a.kind = 'alarm'),
			'tickets', count(*) FILTER (WHERE a.kind = 'ticket'),
			'alarms', coalesce(sum(a.alarm_count), 0))
		   FROM allinc a),
	'by_type', coalesce((SELECT json_agg(json_build_object(
					'kind', x.kind, 'type', x.type, 'priority', x.priority,
					'incidents', x.n, 'alarms', x.alarms)
				ORDER BY x.kind, x.priority, x.type)
			     FROM (SELECT a.kind, a.type, a.priority, count(*) AS n,
					  sum(a.alarm_count) AS alarms
				   FROM allinc a GROUP BY a.kind, a.type, a.priority) x),
			    '[]'::json),
	'times', (SELECT json_agg(json_build_object(
				'step', st.step,
				'incidents', coalesce(sa.n, 0),
				'recorded', coalesce(sa.rec, 0),
				'median_s', sa.med,
				'p90_s', sa.p90,
				'within', coalesce((SELECT json_agg(json_build_object(
						'target', w.name, 'target_s', w.t, 'met', w.met,
						'of', w.of,
						'share', round(w.met::numeric / nullif(w.of, 0), 4))
						ORDER BY w.ord)
					    FROM within w WHERE w.step = st.step), '[]'::json))
			   ORDER BY st.ord)
		  FROM (VALUES ('ack', 1), ('accept', 2), ('arrival', 3)) AS st(step, ord)
		  LEFT JOIN step_stats sa ON sa.step = st.step),
	'false_alarms', json_build_object(
		'resolved', (SELECT count(*) FROM fa),
		'false_alarms', (SELECT count(*) FILTER (WHERE fa.fa) FROM fa),
		'rate', (SELECT round((count(*) FILTER (WHERE fa.fa))::numeric
				      / nullif(count(*), 0), 4) FROM fa),
		'by_device_kind', coalesce((SELECT json_agg(json_build_object(
					'device_kind', x.k, 'resolved', x.n,
					'false_alarms', x.f, 'rate', round(x.f::numeric / x.n, 4))
				ORDER BY x.k)
			FROM (SELECT coalesce(fa.device_kind, 'none') AS k, count(*) AS n,
				     count(*) FILTER (WHERE fa.fa) AS f
			      FROM fa GROUP BY 1) x), '[]'::json),
		'top_devices', coalesce((SELECT json_agg(json_build_object(
					'device_id', x.alarm_device, 'device_kind', x.k,
					'false_alarms', x.f, 'resolved', x.n)
				ORDER BY x.f DESC, x.alarm_device)
			FROM (SELECT fa.alarm_device, min(fa.device_kind) AS k, count(*) AS n,
				     count(*) FILTER (WHERE fa.fa) AS f
			      FROM fa WHERE fa.alarm_device IS NOT NULL
			      GROUP BY fa.alarm_device
			      HAVING count(*) FILTER (WHERE fa.fa) > 0
			      ORDER BY 4 DESC, 1
			      LIMIT (p_targets->>'top')::int) x), '[]'::json),
		'top_elders', coalesce((SELECT json_agg(json_build_object(
					'elder_id', x.elder_id, 'name', e.name,
					'false_alarms', x.f, 'resolved', x.n)
				ORDER BY x.f DESC, x.elder_id)
			FROM (SELECT fa.elder_id, count(*) AS n,
				     count(*) FILTER (WHERE fa.fa) AS f
			      FROM fa WHERE fa.elder_id IS NOT NULL
			      GROUP BY fa.elder_id
			      HAVING count(*) FILTER (WHERE fa.fa) > 0
			      ORDER BY 3 DESC, 1
			      LIMIT (p_targets->>'top')::int) x
			LEFT JOIN elders e ON e.id = x.elder_id), '[]'::json)),
	'escalations', json_build_object(
		'incidents', (SELECT count(*) FROM r),
		'escalated', (SELECT count(*) FILTER (WHERE r.escalated) FROM r),
		'share', (SELECT round((count(*) FILTER (WHERE r.escalated))::numeric
				       / nullif(count(*), 0), 4) FROM r),
		'by_priority', coalesce((SELECT json_agg(json_build_object(
					'priority', x.priority, 'incidents', x.n,
					'escalated', x.e, 'share', round(x.e::numeric / x.n, 4))
				ORDER BY x.priority)
			FROM (SELECT r.priority, count(*) AS n,
				     count(*) FILTER (WHERE r.escalated) AS e
			      FROM r GROUP BY r.priority) x), '[]'::json)),
	'exceptions', coalesce((SELECT json_agg(json_build_object(
				'incident_id', r.id, 'type', r.type, 'priority', r.priority,
				'opened_at', r.opened_at, 'area_code', r.area_code,
				'ack_s', r.ack_s, 'accept_s', r.accept_s, 'arrival_s', r.arrival_s,
				'missed', m.missed)
			ORDER BY r.opened_at, r.id)
		FROM r JOIN missed m ON m.id = r.id), '[]'::json))
$$;

-- The day-20 list (SPEC §6, issue 8): the month's target elders (the
-- visit-rate rule, report_visit_targets of 008, for the month holding
-- p_date) with no counting visit from the month's first local midnight to
-- the end of p_date, local. Grouped by township and village with counts
-- (the target elders and those not yet visited), and each elder with the
-- days left in the month after p_date, the last counting visit up to the
-- end of p_date, the station and the visit consent. No id number, phone or
-- address. p_by: township (townships and the total only) or village.
CREATE OR REPLACE FUNCTION report_at_risk_json(
	p_date date, p_by text, p_scope text, p_rule jsonb)
RETURNS json
LANGUAGE sql STABLE AS $$
WITH m AS (
	SELECT date_trunc('month', p_date)::date AS first_day,
	       (date_trunc('month', p_date) + interval '1 month' - interval '1 day')::date
		   AS last_day,
	       (date_trunc('month', p_date)::timestamp) AT TIME ZONE current_setting('TimeZone')
		   AS t0,
	       ((p_date + 1)::timestamp) AT TIME ZONE current_setting('TimeZone') AS t1,
	       coalesce((p_rule->>'phone_counts')::boolean, false) AS phone_counts
), t AS (
	SELECT x.elder_id, x.name, x.village, x.township, x.station_id, x.consent,
	       EXISTS (SELECT 1 FROM visits vi
		       WHERE vi.elder_id = x.elder_id AND vi.at >= m.t0 AND vi.at < m.t1
			 AND (vi.in_person OR (m.phone_counts AND vi.kind = 'phone')))
		   AS visited,
	       (SELECT (max(vi.at) AT TIME ZONE current_setting('TimeZone'))::date
		FROM visits vi
		WHERE vi.elder_id = x.elder_id AND vi.at < m.t1
		  AND (vi.in_person OR (m.phone_counts AND vi.kind = 'phone'))) AS last_visit
	FROM m, report_visit_targets(m.first_day, current_setting('TimeZone'), p_scope, p_rule) x
), g AS (
	SELECT t.township, t.village, GROUPING(t.township, t.village) AS gr,
	       count(*) AS target, count(*) FILTER (WHERE NOT t.visited) AS not_visited
	FROM t
	GROUP BY ROLLUP (t.township, t.village)
)
SELECT json_build_object(
	'report', 'at-risk',
	'date', to_char(p_date, 'YYYY-MM-DD'),
	'month', to_char(p_date, 'YYYY-MM'),
	'timezone', current_setting('TimeZone'),
	'by', p_by,
	'scope', p_scope,
	'rule', p_rule,
	'days_left', (SELECT m.last_day - p_date FROM m),
	'groups', coalesce((SELECT json_agg(json_build_object(
				'level', CASE g.gr WHEN 0 THEN 'village' WHEN 1 THEN 'township'
						   ELSE 'total' END,
				'code', CASE g.gr WHEN 0 THEN g.village WHEN 1 THEN g.township END,
				'name', a.name,
				'township', CASE g.gr WHEN 0 THEN g.township END,
				'target', g.target, 'not_visited', g.not_visited)
			ORDER BY g.gr = 3, g.township, g.gr DESC, g.village)
		FROM g
		LEFT JOIN areas a ON a.code = CASE g.gr WHEN 0 THEN g.village
							 WHEN 1 THEN g.township END
		WHERE g.gr <> 0 OR p_by = 'village'), '[]'::json),
	'elders', coalesce((SELECT json_agg(json_build_object(
				'elder_id', t.elder_id, 'name', t.name,
				'township', t.township, 'township_name', tw.name,
				'village', t.village, 'village_name', v.name,
				'station_id', t.station_id, 'station_name', s.name,
				'last_visit', t.last_visit, 'consent', t.consent,
				'days_left', m.last_day - p_date)
			ORDER BY t.township, t.village, t.elder_id)
		FROM t CROSS JOIN m
		LEFT JOIN areas v ON v.code = t.village
		LEFT JOIN areas tw ON tw.code = t.township
		LEFT JOIN stations s ON s.id = t.station_id
		WHERE NOT t.visited), '[]'::json))
$$;
