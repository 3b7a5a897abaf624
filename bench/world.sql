-- world.sql - a generated province for bench/run.sh's memory figure
-- (SPEC section 9): the reference data a province's daemon holds, on a
-- freshly migrated, empty database. 100 counties of 10 townships of 20
-- villages (20,000 villages), a station in each, 80,000 volunteers
-- (100,000 responders), 500,000 elders with the sample county's kind of
-- names, addresses, contacts and notes, and 1,000,000 devices (an SOS
-- button and a smoke detector each). Places are clustered as people are:
-- 80 % within a few km of 200 town centres, 20 % anywhere in a box of
-- about 690 x 390 km (bench/nearest.c draws the same way).
--
-- Set-based (generate_series), no loop; setseed() makes it repeat.

\set ON_ERROR_STOP 1
SET synchronous_commit = off;
SET maintenance_work_mem = '256MB';
SET work_mem = '64MB';
SELECT setseed(0.42);

BEGIN;
INSERT INTO areas (code, name, parent_code, level)
VALUES ('140000000000', '省', NULL, 'province');
INSERT INTO areas (code, name, parent_code, level)
SELECT format('14%s00000000', to_char(c, 'FM00')), '市' || c, '140000000000', 'city'
FROM generate_series(1, 10) c;
INSERT INTO areas (code, name, parent_code, level)
SELECT format('14%s%s000000', to_char(c, 'FM00'), to_char(k, 'FM00')), '县' || c || k,
       format('14%s00000000', to_char(c, 'FM00')), 'county'
FROM generate_series(1, 10) c, generate_series(21, 30) k;
INSERT INTO areas (code, name, parent_code, level)
SELECT left(a.code, 6) || t || '000', '镇' || left(a.code, 6) || t, a.code, 'township'
FROM areas a, generate_series(100, 109) t WHERE a.level = 'county';
INSERT INTO areas (code, name, parent_code, level)
SELECT left(a.code, 9) || v, '村' || left(a.code, 9) || v, a.code, 'village'
FROM areas a, generate_series(200, 219) v WHERE a.level = 'township';

-- Villages numbered 0..19,999, and 200 town centres.
CREATE TEMP TABLE bench_village AS
	SELECT (row_number() OVER (ORDER BY code) - 1)::int AS vn, code
	FROM areas WHERE level = 'village';
CREATE UNIQUE INDEX ON bench_village (vn);
CREATE TEMP TABLE bench_town AS
	SELECT t, 34.6 + random() * 6.0 AS lat, 110.3 + random() * 4.2 AS lon
	FROM generate_series(0, 199) t;
CREATE UNIQUE INDEX ON bench_town (t);

-- A place by the rule: u < 0.8 near town (n mod 200), else anywhere; the
-- sum of three uniforms less 1.5 is near enough a normal (sd 0.5), so 0.036
-- degrees of it is about 2 km.
CREATE FUNCTION pg_temp.bench_lat(u float8, n bigint) RETURNS float8 LANGUAGE sql AS $$
	SELECT CASE WHEN u < 0.8
		    THEN (SELECT lat FROM bench_town WHERE t = n % 200)
			 + (random() + random() + random() - 1.5) * 0.036
		    ELSE 34.5 + random() * 6.2 END $$;
CREATE FUNCTION pg_temp.bench_lon(u float8, n bigint) RETURNS float8 LANGUAGE sql AS $$
	SELECT CASE WHEN u < 0.8
		    THEN (SELECT lon FROM bench_town WHERE t = n % 200)
			 + (random() + random() + random() - 1.5) * 0.045
		    ELSE 110.2 + random() * 4.4 END $$;

INSERT INTO stations (id, name, kind, area_code, lat, lon, phone, capacity, skills)
SELECT 'S' || to_char(v.vn, 'FM00000'), '养老服务站' || v.code, 'village_station', v.code,
       pg_temp.bench_lat(x.u, v.vn), pg_temp.bench_lon(x.u, v.vn),
       '0355-' || (6000000 + v.vn), 2, '{first_aid,nursing}'
FROM bench_village v, LATERAL (SELECT random() + v.vn * 0 AS u) x;

INSERT INTO volunteers (id, name, area_code, lat, lon, phone, skills)
SELECT 'V' || to_char(i, 'FM00000'), '志愿者' || i, v.code,
       pg_temp.bench_lat(x.u, i), pg_temp.bench_lon(x.u, i), (13800000000 + i)::text,
       CASE WHEN i % 3 = 0 THEN '{first_aid}'::text[] ELSE '{}' END
FROM generate_series(0, 79999) i
JOIN bench_village v ON v.vn = i % 20000,
LATERAL (SELECT random() + i * 0 AS u) x;

INSERT INTO elders (id, name, birth_date, area_code, lat, lon, gender, phone, address,
		    categories, capability_level, visit_consent, station_id, contacts, notes)
SELECT 'E' || to_char(i, 'FM0000000'), '老人' || i, date '1931-01-01' + (i % 12000),
       v.code, pg_temp.bench_lat(x.u, i), pg_temp.bench_lon(x.u, i),
       CASE WHEN i % 2 = 0 THEN 'F' ELSE 'M' END, (15000000000 + i)::text,
       '某县某镇' || v.code || '村' || (i % 9 + 1) || '组' || (i % 97 + 1) || '号',
       CASE WHEN i % 3 = 0 THEN '{empty_nest}'::text[] ELSE '{living_alone}' END,
       i % 4, true, 'S' || to_char(v.vn, 'FM00000'),
       '张芳萍（儿媳）:' || (15100000000 + i) || ';秦明（邻居）:' || (13800000000 + i),
       CASE WHEN i % 4 = 0 THEN '心脏病' ELSE '' END
FROM generate_series(0, 499999) i
JOIN bench_village v ON v.vn = i / 25,
LATERAL (SELECT random() + i * 0 AS u) x;

INSERT INTO devices (id, kind, elder_id, heartbeat_s)
SELECT 'D' || to_char(i, 'FM0000000') || k,
       CASE k WHEN 'a' THEN 'sos_button' ELSE 'smoke' END, 'E' || to_char(i, 'FM0000000'), 3600
FROM generate_series(0, 499999) i, (VALUES ('a'), ('b')) x(k);
COMMIT;
ANALYZE;
