-- 004_operators.sql: operators' accounts, the tamper-evident audit log, and
-- incident history rows that carry the incident's state, for the live
-- event stream. Applied once by `carewatch db migrate`; safe to run twice.

-- Who may use the HTTP API. The token itself is never stored: token_sha256
-- is the hex SHA-256 of the token text that `carewatch user add` printed
-- once. area_prefix scopes the user to an area and everything under it:
-- the leading digits of area_code that its level fixes (province 2, city 4,
-- county 6, township 9, village 12); empty = the whole county.
CREATE TABLE IF NOT EXISTS users (
	name         text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9_.@-]{1,64}$'),
	role         text NOT NULL CHECK (role IN ('operator', 'supervisor', 'auditor')),
	area_code    char(12) REFERENCES areas(code),
	area_prefix  text NOT NULL DEFAULT '' CHECK (area_prefix ~ '^[0-9]{0,12}$'),
	token_sha256 text NOT NULL UNIQUE CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
	created_at   timestamptz NOT NULL DEFAULT now(),
	created_by   text,
	revoked_at   timestamptz
);

-- Every operator action (HTTP or command line), and every refused attempt.
-- Rows are hash-chained: hash = SHA-256(prev_hash || canonical text), where
-- the canonical text is these fields joined by the unit separator (0x1f),
-- NULL as the empty string:
--   seq, at (UTC, YYYY-MM-DDTHH:MM:SS.ffffffZ), actor, role, source, peer,
--   action, incident_id, body, status, result
-- and the first row's prev_hash is 32 zero bytes. The trigger below numbers
-- and chains rows under one lock, so that the chain order is the seq order
-- whoever inserts; `carewatch audit verify` recomputes the chain in C.
CREATE SEQUENCE IF NOT EXISTS audit_seq;

CREATE TABLE IF NOT EXISTS audit_log (
	seq         bigint PRIMARY KEY,
	at          timestamptz NOT NULL DEFAULT now(),
	actor       text NOT NULL,     -- user name, or '-' when no valid token
	role        text,
	source      text NOT NULL,     -- 'http', or 'cli' (the CLI goes over HTTP)
	peer        text NOT NULL,     -- address:port, plus the Unix user for cli
	action      text NOT NULL,     -- ack, resolve, dispatch, visit, or METHOD path
	incident_id bigint,
	body        text,
	status      smallint NOT NULL, -- the HTTP status answered
	result      text,
	prev_hash   bytea NOT NULL,
	hash        bytea NOT NULL
);

CREATE OR REPLACE FUNCTION audit_canonical(a audit_log) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT concat_ws(chr(31), a.seq::text,
		to_char(a.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
		a.actor, coalesce(a.role, ''), a.source, a.peer, a.action,
		coalesce(a.incident_id::text, ''), coalesce(a.body, ''),
		a.status::text, coalesce(a.result, ''))
$$;

CREATE OR REPLACE FUNCTION audit_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	tip bytea;
BEGIN
	-- one appender at a time, until its transaction ends
	PERFORM pg_advisory_xact_lock(7306240417);
	SELECT hash INTO tip FROM audit_log ORDER BY seq DESC LIMIT 1;
	NEW.seq := nextval('audit_seq');
	NEW.at := coalesce(NEW.at, now());
	NEW.prev_hash := coalesce(tip, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);
	NEW.hash := digest(NEW.prev_hash || convert_to(audit_canonical(NEW), 'UTF8'), 'sha256');
	RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION audit_refuse() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP;
END
$$;

DROP TRIGGER IF EXISTS audit_chain ON audit_log;
CREATE TRIGGER audit_chain BEFORE INSERT ON audit_log
	FOR EACH ROW EXECUTE FUNCTION audit_chain();
DROP TRIGGER IF EXISTS audit_no_change ON audit_log;
CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit_log
	FOR EACH ROW EXECUTE FUNCTION audit_refuse();
DROP TRIGGER IF EXISTS audit_no_truncate ON audit_log;
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit_log
	FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();

-- The incident as it was right after the change a history row records:
-- the live event stream (GET /api/v1/events) sends these rows, and a
-- client that reconnects with Last-Event-ID is sent the same rows again.
ALTER TABLE incident_history ADD COLUMN IF NOT EXISTS kind text;
ALTER TABLE incident_history ADD COLUMN IF NOT EXISTS type text;
ALTER TABLE incident_history ADD COLUMN IF NOT EXISTS priority smallint;
ALTER TABLE incident_history ADD COLUMN IF NOT EXISTS state text;
ALTER TABLE incident_history ADD COLUMN IF NOT EXISTS escalated boolean;
ALTER TABLE incident_history ADD COLUMN IF NOT EXISTS area_code char(12);
ALTER TABLE incident_history ADD COLUMN IF NOT EXISTS elder_id text;
