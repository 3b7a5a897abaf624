-- restart.sql - the state of bench/run.sh's restart figure (SPEC section 9),
-- on a copy of the migrated sample county: 10,000 open incidents, among
-- them 1,000 with a pending offer (answer window 10 min from now, so that
-- the restarted daemon republishes each), 4,000 alarms accepted by a
-- responder, and 5,000 open maintenance tickets. One alarm and one ticket
-- an elder at most, as the daemon keeps them. Set-based, no loop.

\set ON_ERROR_STOP 1
SET synchronous_commit = off;

BEGIN;
CREATE TEMP TABLE bench_resp AS
	SELECT row_number() OVER (ORDER BY id) - 1 AS n, id, kind
	FROM (SELECT id, 'station' AS kind FROM stations
	      UNION ALL SELECT id, 'volunteer' FROM volunteers WHERE active) r;
CREATE TEMP TABLE bench_elder AS
	SELECT row_number() OVER (ORDER BY e.id) AS n, e.id, e.area_code, e.station_id,
	       (SELECT min(d.id) FROM devices d WHERE d.elder_id = e.id) AS device
	FROM elders e WHERE e.active;

-- 5,000 alarms: the first 1,000 offered, the rest accepted
INSERT INTO incidents (id, kind, elder_id, area_code, type, priority, state, station_id,
		       responder_id, alarm_device, alarm_event, opened_at, accepted_at,
		       escalate_at)
SELECT 90000000 + e.n, 'alarm', e.id, e.area_code, 'sos', 1,
       CASE WHEN e.n <= 1000 THEN 'offered' ELSE 'accepted' END, e.station_id,
       CASE WHEN e.n > 1000 THEN r.id END, e.device, 'bench-restart-' || e.n,
       now() - interval '2 min', CASE WHEN e.n > 1000 THEN now() - interval '1 min' END,
       now() + interval '1 hour'
FROM bench_elder e
JOIN bench_resp r ON r.n = e.n % (SELECT count(*) FROM bench_resp)
WHERE e.n <= 5000;

INSERT INTO offers (incident_id, seq, responder_id, responder_kind, distance_m, offered_at,
		    deadline, answer, answered_at)
SELECT 90000000 + e.n, 1, r.id, r.kind, 1000 + e.n % 4000, now() - interval '2 min',
       CASE WHEN e.n <= 1000 THEN now() + interval '10 min' ELSE now() - interval '1 min' END,
       CASE WHEN e.n <= 1000 THEN 'pending' ELSE 'accepted' END,
       CASE WHEN e.n > 1000 THEN now() - interval '1 min' END
FROM bench_elder e
JOIN bench_resp r ON r.n = e.n % (SELECT count(*) FROM bench_resp)
WHERE e.n <= 5000;

-- 5,000 open tickets (a low battery) for the elders' stations
INSERT INTO incidents (id, kind, elder_id, area_code, type, priority, state, station_id,
		       alarm_device, alarm_event, opened_at)
SELECT 91000000 + e.n, 'ticket', e.id, e.area_code, 'low_battery', 3, 'open', e.station_id,
       e.device, 'bench-ticket-' || e.n, now() - interval '1 hour'
FROM bench_elder e
WHERE e.n <= 5000;
COMMIT;
ANALYZE incidents;
ANALYZE offers;
