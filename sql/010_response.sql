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
-- has not happened) and, per target, whether it was met and whether it
-- was missed. p_targets: {"ack_s": [60, 180], "arrival_min": [45, 60]};
-- the targets are named ack_60s, ack_180s, arrival_45min, arrival_60min.
--
-- A step is expected of every alarm incident, except arrival of one
-- resolved as false_alarm or test before anyone arrived (an operator
-- called it off). A target is met when the step came within it (<=); it
-- is missed when expected and not met, once that is decided: the step
-- came late, the incident was resolved without it, or the target's time
-- has passed. An open incident still inside a target's time is neither
-- (it is left out of that target's share).
CREATE OR REPLACE FUNCTION report_response_incidents(
	p_t0 timestamptz, p_t1 timestamptz, p_scope text, p_targets jsonb)
RETURNS TABLE (id bigint, type text, priority smallint, state text, escalated boolean,
	       outcome text, alarm_device text, elder_id text, area_code char(12),
	       opened_at timestamptz, ack_s numeric, accept_s numeric, arrival_s numeric,
	       arrival_expected boolean, met text[], missed text[], decided text[])
LANGUAGE sql STABLE AS $$
WITH tg AS (
	-- the targets, named, in order: (name, ord, step, seconds)
	SELECT 'ack_' || a.t || 's' AS name, a.n AS ord, 'ack' AS step, a.t::numeric AS t
	FROM jsonb_array_elements_text(p_targets->'ack_s') WITH ORDINALITY AS a(t, n)
	UNION ALL
	SELECT 'arrival_' || b.t || 'min', 100 + b.n, 'arrival', b.t::numeric * 60
	FROM jsonb_array_elements_text(p_targets->'arrival_min') WITH ORDINALITY AS b(t, n)
), i AS (
	SELECT i.*,
	       extract(epoch FROM i.acked_at - i.opened_at) AS ack,
	       extract(epoch FROM i.accepted_at - i.opened_at) AS acc,
	       extract(epoch FROM i.arrived_at - i.opened_at) AS arr,
	       (i.arrived_at IS NOT NULL
		OR NOT (i.state = 'resolved' AND i.outcome IN ('false_alarm', 'test'))) AS arr_exp
	FROM incidents i
	WHERE i.kind = 'alarm'
	  AND i.opened_at >= p_t0 AND i.opened_at < p_t1
	  AND coalesce(i.area_code, '') LIKE p_scope || '%'
)
SELECT i.id, i.type, i.priority, i.state, i.escalated, i.outcome, i.alarm_device,
       i.elder_id, i.area_code, i.opened_at,
       round(i.ack, 1), round(i.acc, 1), round(i.arr, 1), i.arr_exp,
       z.met, z.missed, z.decided
FROM i
CROSS JOIN LATERAL (
	SELECT coalesce(array_agg(x.name ORDER BY x.ord)
			FILTER (WHERE x.expected AND x.s <= x.t), '{}') AS met,
	       coalesce(array_agg(x.name ORDER BY x.ord)
			FILTER (WHERE x.expected AND NOT coalesce(x.s <= x.t, false)
				  AND (x.s IS NOT NULL OR x.due)), '{}') AS missed,
	       coalesce(array_agg(x.name ORDER BY x.ord)
			FILTER (WHERE x.expected AND (x.s IS NOT NULL OR x.due)), '{}') AS decided
	FROM (SELECT tg.name, tg.ord, tg.t,
		     CASE tg.step WHEN 'ack' THEN i.ack ELSE i.arr END AS s,
		     tg.step = 'ack' OR i.arr_exp AS expected,
		     i.state = 'resolved' OR now() >= i.opened_at + make_interval(secs => tg.t)
			 AS due
	      FROM tg) x
) z
$$;

-- The response report as one JSON document: what `carewatch report
-- response --format json` prints, what its table and CSV are made from,
-- and what GET /api/v1/reports/response answers. p_from and p_to are local
-- dates in the session's TimeZone (the CLI and the daemon's reader set it
-- from [dispatch] timezone), p_to included. p_scope is an area-code prefix
-- ('' = everything). p_targets: {"ack_s": [...], "arrival_min": [...],
-- "top": N} from the [reports] response_* keys.
--
-- Medians and p90 are percentile_cont (linear interpolation between the
-- two nearest ranks) of the recorded step times in seconds, rounded to
-- 0.1 s; shares are met / (met + missed) to 4 places, NULL when nothing
-- is decided.
CREATE OR REPLACE FUNCTION report_response_json(
	p_from date, p_to date, p_scope text, p_targets jsonb)
RETURNS jsonb
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
	FROM p, report_response_incidents(p.t0, p.t1, p_scope, p_targets) x
	LEFT JOIN devices d ON d.id = x.alarm_device
), tg AS (
	SELECT 'ack' AS step, 'ack_' || a.t || 's' AS name, a.t::numeric AS t, a.n AS ord
	FROM jsonb_array_elements_text(p_targets->'ack_s') WITH ORDINALITY AS a(t, n)
	UNION ALL
	SELECT 'arrival', 'arrival_' || b.t || 'min', b.t::numeric * 60, 100 + b.n
	FROM jsonb_array_elements_text(p_targets->'arrival_min') WITH ORDINALITY AS b(t, n)
), steps AS (
	SELECT s.step, s.ord, s.v, s.expected
	FROM r
	CROSS JOIN LATERAL (VALUES ('ack', 1, r.ack_s, true),
				   ('accept', 2, r.accept_s, true),
				   ('arrival', 3, r.arrival_s, r.arrival_expected))
		AS s(step, ord, v, expected)
), fa AS (
	SELECT r.*, r.outcome = 'false_alarm' AS fa
	FROM r
	WHERE r.state = 'resolved'
)
SELECT jsonb_build_object(
	'report', 'response',
	'from', to_char(p_from, 'YYYY-MM-DD'),
	'to', to_char(p_to, 'YYYY-MM-DD'),
	'timezone', current_setting('TimeZone'),
	'scope', p_scope,
	'targets', p_targets,
	'totals', (SELECT jsonb_build_object(
			'incidents', count(*),
			'alarm_incidents', count(*) FILTER (WHERE a.kind = 'alarm'),
			'tickets', count(*) FILTER (WHERE a.kind = 'ticket'),
			'alarms', coalesce(sum(a.alarm_count), 0))
		   FROM allinc a),
	'by_type', coalesce((SELECT jsonb_agg(jsonb_build_object(
					'kind', x.kind, 'type', x.type, 'priority', x.priority,
					'incidents', x.n, 'alarms', x.alarms)
				ORDER BY x.kind, x.priority, x.type)
			     FROM (SELECT a.kind, a.type, a.priority, count(*) AS n,
					  sum(a.alarm_count) AS alarms
				   FROM allinc a GROUP BY a.kind, a.type, a.priority) x),
			    '[]'::jsonb),
	'times', (SELECT jsonb_agg(jsonb_build_object(
				'step', st.step,
				'incidents', (SELECT count(*) FROM steps s
					      WHERE s.step = st.step AND s.expected),
				'recorded', (SELECT count(s.v) FROM steps s
					     WHERE s.step = st.step AND s.expected),
				'median_s', (SELECT round(percentile_cont(0.5) WITHIN GROUP
						   (ORDER BY s.v)::numeric, 1)
					     FROM steps s WHERE s.step = st.step AND s.expected),
				'p90_s', (SELECT round(percentile_cont(0.9) WITHIN GROUP
						(ORDER BY s.v)::numeric, 1)
					  FROM steps s WHERE s.step = st.step AND s.expected),
				'within', coalesce((SELECT jsonb_agg(jsonb_build_object(
						'target', tg.name, 'target_s', tg.t,
						'met', (SELECT count(*) FROM r WHERE tg.name = ANY (r.met)),
						'of', (SELECT count(*) FROM r
						       WHERE tg.name = ANY (r.decided)),
						'share', (SELECT round((count(*) FILTER (
								WHERE tg.name = ANY (r.met)))::numeric
							/ nullif(count(*) FILTER (
								WHERE tg.name = ANY (r.decided)), 0), 4)
							  FROM r))
						ORDER BY tg.ord)
					    FROM tg WHERE tg.step = st.step), '[]'::jsonb))
			   ORDER BY st.ord)
		  FROM (VALUES ('ack', 1), ('accept', 2), ('arrival', 3)) AS st(step, ord)),
	'false_alarms', jsonb_build_object(
		'resolved', (SELECT count(*) FROM fa),
		'false_alarms', (SELECT count(*) FILTER (WHERE fa.fa) FROM fa),
		'rate', (SELECT round((count(*) FILTER (WHERE fa.fa))::numeric
				      / nullif(count(*), 0), 4) FROM fa),
		'by_device_kind', coalesce((SELECT jsonb_agg(jsonb_build_object(
					'device_kind', x.k, 'resolved', x.n,
					'false_alarms', x.f, 'rate', round(x.f::numeric / x.n, 4))
				ORDER BY x.k)
			FROM (SELECT coalesce(fa.device_kind, 'none') AS k, count(*) AS n,
				     count(*) FILTER (WHERE fa.fa) AS f
			      FROM fa GROUP BY 1) x), '[]'::jsonb),
		'top_devices', coalesce((SELECT jsonb_agg(jsonb_build_object(
					'device_id', x.alarm_device, 'device_kind', x.k,
					'false_alarms', x.f, 'resolved', x.n)
				ORDER BY x.f DESC, x.alarm_device)
			FROM (SELECT fa.alarm_device, min(fa.device_kind) AS k, count(*) AS n,
				     count(*) FILTER (WHERE fa.fa) AS f
			      FROM fa WHERE fa.alarm_device IS NOT NULL
			      GROUP BY fa.alarm_device
			      HAVING count(*) FILTER (WHERE fa.fa) > 0
			      ORDER BY 4 DESC, 1
			      LIMIT (p_targets->>'top')::int) x), '[]'::jsonb),
		'top_elders', coalesce((SELECT jsonb_agg(jsonb_build_object(
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
			LEFT JOIN elders e ON e.id = x.elder_id), '[]'::jsonb)),
	'escalations', jsonb_build_object(
		'incidents', (SELECT count(*) FROM r),
		'escalated', (SELECT count(*) FILTER (WHERE r.escalated) FROM r),
		'share', (SELECT round((count(*) FILTER (WHERE r.escalated))::numeric
				       / nullif(count(*), 0), 4) FROM r),
		'by_priority', coalesce((SELECT jsonb_agg(jsonb_build_object(
					'priority', x.priority, 'incidents', x.n,
					'escalated', x.e, 'share', round(x.e::numeric / x.n, 4))
				ORDER BY x.priority)
			FROM (SELECT r.priority, count(*) AS n,
				     count(*) FILTER (WHERE r.escalated) AS e
			      FROM r GROUP BY r.priority) x), '[]'::jsonb)),
	'exceptions', coalesce((SELECT jsonb_agg(jsonb_build_object(
				'incident_id', r.id, 'type', r.type, 'priority', r.priority,
				'opened_at', r.opened_at, 'area_code', r.area_code,
				'ack_s', r.ack_s, 'accept_s', r.accept_s, 'arrival_s', r.arrival_s,
				'missed', to_jsonb(r.missed))
			ORDER BY r.opened_at, r.id)
		FROM r WHERE cardinality(r.missed) > 0), '[]'::jsonb))
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
RETURNS jsonb
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
SELECT jsonb_build_object(
	'report', 'at-risk',
	'date', to_char(p_date, 'YYYY-MM-DD'),
	'month', to_char(p_date, 'YYYY-MM'),
	'timezone', current_setting('TimeZone'),
	'by', p_by,
	'scope', p_scope,
	'rule', p_rule,
	'days_left', (SELECT m.last_day - p_date FROM m),
	'groups', coalesce((SELECT jsonb_agg(jsonb_build_object(
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
		WHERE g.gr <> 0 OR p_by = 'village'), '[]'::jsonb),
	'elders', coalesce((SELECT jsonb_agg(jsonb_build_object(
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
		WHERE NOT t.visited), '[]'::jsonb))
$$;
