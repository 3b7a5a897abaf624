-- 005_z2m.sql: the last state of each zigbee2mqtt device's fields.
-- zigbee2mqtt re-sends a device's whole state on every change, so an alarm
-- is the change of a field, not its value. The daemon writes a field's new
-- state in the same transaction as the event its change raised, and loads
-- the table at start: a restart neither raises an alarm again nor misses
-- one. seq counts a field's changes; the event id of a change is built from
-- it, so a redelivered message raises nothing twice. field 'battery' holds
-- the last battery percentage reported. Safe to run twice.
CREATE TABLE IF NOT EXISTS z2m_state (
	device_id  text NOT NULL,
	field      text NOT NULL CHECK (field ~ '^[a-z_]{1,32}$'),
	value      smallint NOT NULL,
	seq        bigint NOT NULL DEFAULT 0 CHECK (seq >= 0),
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (device_id, field)
);
