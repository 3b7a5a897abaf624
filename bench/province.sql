-- province.sql - a generated province for bench/reports.sh (issue 8's
-- performance goal): province 14, 11 cities, 100 counties, 10 townships a
-- county, 15 to 20 villages a township (about 17,500) each with a station,
-- 500,000 elders, 6,000,000 visits and 1,000,000 incidents (with their
-- offers and history) in the 12 months up to and including :month (a
-- first day, psql variable), on a freshly migrated, empty database.
--
-- Set-based (generate_series), no loop. setseed() makes random() repeat
-- the same data set from run to run. Elders are stored county by county
-- (as the counties' imports would store them); visits and incidents in
-- time order, as the daemon stores them. The indexes of the big tables are
-- dropped for the load and rebuilt after it (their definitions are kept
-- from pg_indexes, so they come back as the migrations made them).

\set ON_ERROR_STOP 1
SET synchronous_commit = off;
SET maintenance_work_mem = '512MB';
SET work_mem = '64MB';
SET TimeZone = 'Asia/Shanghai';
SELECT setseed(0.42);

BEGIN;

-- The secondary indexes of the big tables, rebuilt after the load.
CREATE TEMP TABLE bench_idx AS
	SELECT indexname, indexdef FROM pg_indexes
	WHERE schemaname = 'public'
	  AND tablename IN ('elders', 'devices', 'visits', 'incidents', 'offers', 'incident_history')
	  AND indexname NOT IN (SELECT conname FROM pg_constraint);
DO $$
DECLARE
	i record;
BEGIN
	FOR i IN SELECT indexname FROM bench_idx LOOP
		EXECUTE format('DROP INDEX %I', i.indexname);
	END LOOP;
END $$;

-- Areas: codes 14 CC KK TTT VVV (city CC 01-11, county KK 21-30,
-- township TTT 100-109, village VVV 200-219).
INSERT INTO areas (code, name, parent_code, level)
VALUES ('140000000000', '省', NULL, 'province');
INSERT INTO areas (code, name, parent_code, level)
SELECT format('14%s00000000', to_char(c, 'FM00')), '市' || c, '140000000000', 'city'
FROM generate_series(1, 11) c;
CREATE TEMP TABLE bench_county AS
	SELECT format('14%s%s', to_char(i % 11 + 1, 'FM00'), to_char(i / 11 + 21, 'FM00')) AS c6,
	       format('14%s00000000', to_char(i % 11 + 1, 'FM00')) AS city
	FROM generate_series(0, 99) i;
INSERT INTO areas (code, name, parent_code, level)
SELECT c6 || '000000', '县' || c6, city, 'county' FROM bench_county;
INSERT INTO areas (code, name, parent_code, level)
SELECT c6 || t || '000', '镇' || c6 || t, c6 || '000000', 'township'
FROM bench_county, generate_series(100, 109) t;
INSERT INTO areas (code, name, parent_code, level)
SELECT a.code::text, '村' || a.code, a.parent_code, 'village'
FROM (SELECT left(tw.code, 9) || v AS code, tw.code AS parent_code
      FROM areas tw, generate_series(200, 219) v
      WHERE tw.level = 'township' AND v < 215 + abs(hashtext(tw.code)) % 6) a;

-- A station in every village (its code as its id's digits).
INSERT INTO stations (id, name, kind, area_code, lat, lon, capacity)
SELECT 'S' || code, '站' || code, 'village_station', code, 36.0 + random(), 113.0 + random(), 2
FROM areas WHERE level = 'village';

-- Villages numbered 0..n-1 in code order: elder i lives in village
-- i * n / 500000, so a county's elders are stored together.
CREATE TEMP TABLE bench_village AS
	SELECT (row_number() OVER (ORDER BY code) - 1)::int AS vn, code
	FROM areas WHERE level = 'village';
CREATE UNIQUE INDEX ON bench_village (vn);
ANALYZE bench_village;

-- Elders: categories so that about 30 % are targets under the default rule
-- (special: extreme_poverty, special_family; economic: low_income,
-- econ_hardship with living_alone, empty_nest, ... or 80+ or capability 2+);
-- 3 % declined visits; 3 % registered and 4 % deactivated in the year.
INSERT INTO elders (id, name, birth_date, area_code, lat, lon, gender, categories,
		    capability_level, visit_consent, station_id, registered_on, deactivated_on)
SELECT 'E' || to_char(e.i, 'FM0000000'), '老人' || e.i,
       date '1931-01-01' + (random() * 35 * 365)::int, v.code,
       36.0 + random(), 113.0 + random(), CASE WHEN random() < 0.55 THEN 'F' ELSE 'M' END,
       CASE WHEN e.r < 0.04 THEN ARRAY['extreme_poverty', 'living_alone']
	    WHEN e.r < 0.06 THEN ARRAY['special_family']
	    WHEN e.r < 0.14 THEN ARRAY['low_income', 'living_alone']
	    WHEN e.r < 0.20 THEN ARRAY['low_income', 'empty_nest']
	    WHEN e.r < 0.27 THEN ARRAY['low_income']
	    WHEN e.r < 0.31 THEN ARRAY['econ_hardship', 'disabled']
	    WHEN e.r < 0.36 THEN ARRAY['econ_hardship']
	    WHEN e.r < 0.60 THEN ARRAY['empty_nest']
	    WHEN e.r < 0.72 THEN ARRAY['living_alone']
	    WHEN e.r < 0.76 THEN ARRAY['left_behind', 'dementia']
	    WHEN e.r < 0.80 THEN ARRAY['severe_disability']
	    ELSE '{}' END,
       CASE WHEN random() < 0.1 THEN NULL ELSE (random() * 3.6)::int END,
       random() >= 0.03, 'S' || v.code,
       CASE WHEN e.reg < 0.03 THEN (:'month'::date - 330 + (e.reg * 10000)::int)
	    ELSE date '1900-01-01' END,
       CASE WHEN e.reg > 0.96 THEN (:'month'::date - 330 + ((e.reg - 0.96) * 8000)::int) END
FROM (SELECT i, random() AS r, random() AS reg FROM generate_series(0, 499999) i) e
JOIN bench_village v ON v.vn = (e.i::bigint * (SELECT count(*) FROM bench_village) / 500000)
ORDER BY e.i;

-- A button for every elder, a smoke detector for every other one.
INSERT INTO devices (id, kind, elder_id, heartbeat_s)
SELECT 'D' || to_char(i, 'FM0000000') || k, CASE k WHEN 'a' THEN 'sos_button' ELSE 'smoke' END,
       'E' || to_char(i, 'FM0000000'), 3600
FROM generate_series(0, 499999) i, (VALUES ('a'), ('b')) x(k)
WHERE k = 'a' OR i % 2 = 0;

-- The 12 months, each from its local midnight to the next.
CREATE TEMP TABLE bench_month AS
	SELECT m, (:'month'::date - make_interval(months => 11 - m))::timestamp AT TIME ZONE 'Asia/Shanghai' AS t0,
	       (:'month'::date - make_interval(months => 10 - m))::timestamp AT TIME ZONE 'Asia/Shanghai' AS t1
	FROM generate_series(0, 11) m;

-- 6,000,000 visits, 500,000 a month: slot s of month m visits elder
-- (s * 7919 + m * 104729) mod 500000 (every elder once a month), except
-- that one slot in ten goes to the next elder instead (who then has two
-- and the first none). 8 % are phone calls (not in person).
INSERT INTO visits (id, elder_id, responder_id, at, kind, in_person, recorded_at)
SELECT 'W' || to_char(row_number() OVER (), 'FM0000000'),
       'E' || to_char(((x.s::bigint * 7919 + x.m * 104729 + (x.r < 0.1)::int) % 500000), 'FM0000000'),
       'V' || (x.s % 5000), x.at,
       CASE WHEN x.k < 0.08 THEN 'phone' WHEN x.k < 0.80 THEN 'routine'
	    WHEN x.k < 0.90 THEN 'patrol' WHEN x.k < 0.97 THEN 'home_service'
	    ELSE 'alarm_followup' END,
       x.k >= 0.08, x.at + interval '1 hour'
FROM (SELECT bm.m, s, random() AS r, random() AS k,
	     bm.t0 + random() * (bm.t1 - bm.t0) AS at
      FROM bench_month bm, generate_series(0, 499999) s
      ORDER BY 5) x;

-- 1,000,000 incidents, resolved, in time order: 1 or 2 offers each and 5
-- history lines.
CREATE TEMP TABLE bench_inc AS
	SELECT (1000 + row_number() OVER (ORDER BY x.at))::bigint AS id, x.*
	FROM (SELECT 'E' || to_char((random() * 499999)::int, 'FM0000000') AS elder_id,
		     bm.t0 + random() * (bm.t1 - bm.t0) AS at, random() AS r
	      FROM bench_month bm, generate_series(1, 83334) n) x
	LIMIT 1000000;
INSERT INTO incidents (id, kind, elder_id, area_code, type, priority, state, station_id,
		       responder_id, alarm_device, alarm_event, opened_at, accepted_at,
		       arrived_at, resolved_at, outcome, resolved_by, acked_by, acked_at,
		       updated_at)
SELECT i.id, 'alarm', i.elder_id, el.area_code,
       CASE WHEN i.r < 0.6 THEN 'sos' WHEN i.r < 0.8 THEN 'smoke' ELSE 'fall' END,
       CASE WHEN i.r < 0.8 THEN 1 ELSE 2 END, 'resolved', el.station_id, el.station_id,
       'D' || substr(i.elder_id, 2) || 'a', 'ev' || i.id, i.at,
       i.at + interval '90 seconds', i.at + interval '25 minutes', i.at + interval '50 minutes',
       CASE WHEN i.r < 0.5 THEN 'false_alarm' WHEN i.r < 0.55 THEN 'test'
	    ELSE 'emergency_handled' END,
       'op1', 'op1', i.at + interval '20 seconds', i.at + interval '50 minutes'
FROM bench_inc i JOIN elders el ON el.id = i.elder_id
ORDER BY i.id;
INSERT INTO offers (incident_id, seq, responder_id, responder_kind, distance_m, offered_at,
		    deadline, answer, answered_at)
SELECT i.id, o.seq, 'S' || el.area_code, 'station', 800 + (i.r * 5000)::int,
       i.at + (o.seq * 30) * interval '1 second', i.at + (o.seq * 30 + 120) * interval '1 second',
       CASE WHEN o.seq = 2 OR i.r >= 0.3 THEN 'accepted' ELSE 'timeout' END,
       i.at + (o.seq * 30 + 60) * interval '1 second'
FROM bench_inc i JOIN elders el ON el.id = i.elder_id,
     generate_series(1, 2) o(seq)
WHERE o.seq = 1 OR i.r < 0.3
ORDER BY i.id, o.seq;
INSERT INTO incident_history (incident_id, at, what, actor)
SELECT i.id, i.at + h.dt, h.what, h.actor
FROM bench_inc i,
     (VALUES (interval '0', 'opened', NULL), (interval '20 seconds', 'acked', 'op1'),
	     (interval '90 seconds', 'accepted', 'station'),
	     (interval '25 minutes', 'arrived', 'station'),
	     (interval '50 minutes', 'resolved', 'station')) h(dt, what, actor)
ORDER BY i.id, h.dt;

DO $$
DECLARE
	i record;
BEGIN
	FOR i IN SELECT indexdef FROM bench_idx LOOP
		EXECUTE i.indexdef;
	END LOOP;
END $$;
COMMIT;

VACUUM ANALYZE;
