-- 015_roles.sql: least privilege in the database (SPEC §8, issue 9). Two
-- group roles, without LOGIN; an administrator makes the login roles and
-- puts them in a group:
--   CREATE ROLE carewatchd LOGIN PASSWORD '...' IN ROLE carewatch_daemon;
--   CREATE ROLE reports LOGIN PASSWORD '...' IN ROLE carewatch_report;
-- `carewatch db migrate`, imports and `user add` stay with the owner.
--
-- carewatch_daemon: what carewatchd does and nothing more. It reads the
-- reference data, writes the tables it keeps, and only appends to the
-- audit log (the triggers of 004 refuse UPDATE and DELETE to everyone).
-- It can change neither elders, devices, stations, users nor the areas, and
-- never reads the id-number key's fingerprint or the broker accounts.
-- elders.id_number is readable as a column but stored only encrypted,
-- under a key the daemon is never given.
--
-- carewatch_report: read-only, for the reports and whoever runs them
-- (SELECT on what the report functions read; no broker accounts, no id
-- key, no users).
--
-- A migration that adds a table the daemon uses grants it there.
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'carewatch_daemon') THEN
		CREATE ROLE carewatch_daemon NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'carewatch_report') THEN
		CREATE ROLE carewatch_report NOLOGIN;
	END IF;
END $$;

GRANT USAGE ON SCHEMA public TO carewatch_daemon, carewatch_report;

-- reference data: read; the daemon records what it hears of devices and
-- where volunteers are, nothing else
GRANT SELECT ON areas, stations, volunteers, elders, devices TO carewatch_daemon;
GRANT UPDATE (online, last_seen) ON devices TO carewatch_daemon;
GRANT UPDATE (live_lat, live_lon, live_at) ON volunteers TO carewatch_daemon;
GRANT SELECT ON users TO carewatch_daemon;

-- what the daemon keeps
GRANT SELECT, INSERT, UPDATE ON events, incidents, offers, z2m_state, dead_letters
	TO carewatch_daemon;
GRANT SELECT, INSERT ON replies, incident_history, visits TO carewatch_daemon;
GRANT SELECT, INSERT ON audit_log TO carewatch_daemon;
GRANT USAGE ON SEQUENCE events_seq_seq, replies_seq_seq, dead_letters_seq_seq,
	incident_history_seq_seq, audit_seq TO carewatch_daemon;

-- the reports
GRANT SELECT ON areas, stations, volunteers, elders, devices, events, incidents, offers,
	incident_history, visits TO carewatch_report;
