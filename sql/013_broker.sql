-- 013_broker.sql: the broker accounts `carewatch broker passwd` keeps
-- (issue 9, least privilege). One row per MQTT username: a native device,
-- a responder (station or volunteer), a volunteer's OwnTracks phone, a
-- zigbee2mqtt bridge, or the daemon. Only the mosquitto password hash is
-- stored; the password itself is shown once, when the account is made.
CREATE TABLE IF NOT EXISTS mqtt_accounts (
	name       text PRIMARY KEY,
	kind       text NOT NULL CHECK (kind IN ('device', 'responder', 'owntracks', 'bridge', 'daemon')),
	pw_hash    text NOT NULL CHECK (pw_hash LIKE '$7$%'),
	created_at timestamptz NOT NULL DEFAULT now()
);
