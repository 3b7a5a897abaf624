-- 001_schema.sql: reference data, the event store and incident state.
-- Applied once by `carewatch db migrate`; the runner records it in
-- schema_migrations, and every statement is also safe to run twice.

CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE TABLE IF NOT EXISTS areas (
	code        char(12) PRIMARY KEY CHECK (code ~ '^[0-9]{12}$'),
	name        text NOT NULL,
	parent_code char(12) REFERENCES areas(code),
	level       text NOT NULL CHECK (level IN ('province', 'city', 'county', 'township', 'village'))
);

CREATE TABLE IF NOT EXISTS stations (
	id         text PRIMARY KEY,
	name       text NOT NULL,
	kind       text NOT NULL CHECK (kind IN ('county_center', 'regional_center', 'village_station', 'day_care')),
	area_code  char(12) NOT NULL REFERENCES areas(code),
	lat        double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
	lon        double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
	phone      text,
	capacity   integer NOT NULL DEFAULT 2 CHECK (capacity >= 0),
	skills     text[] NOT NULL DEFAULT '{}',
	on_duty    text NOT NULL DEFAULT '24h',
	updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS volunteers (
	id             text PRIMARY KEY,
	name           text NOT NULL,
	area_code      char(12) NOT NULL REFERENCES areas(code),
	lat            double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
	lon            double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
	phone          text,
	skills         text[] NOT NULL DEFAULT '{}',
	max_km         double precision CHECK (max_km >= 0),
	owntracks_user text UNIQUE,
	active         boolean NOT NULL DEFAULT true,
	live_lat       double precision,
	live_lon       double precision,
	live_at        timestamptz,
	updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS elders (
	id               text PRIMARY KEY,
	name             text NOT NULL,
	birth_date       date NOT NULL,
	area_code        char(12) NOT NULL REFERENCES areas(code),
	lat              double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
	lon              double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
	gender           char(1) CHECK (gender IN ('F', 'M')),
	phone            text,
	address          text,
	categories       text[] NOT NULL DEFAULT '{}',
	capability_level smallint CHECK (capability_level BETWEEN 0 AND 4),
	visit_consent    boolean NOT NULL DEFAULT true,
	station_id       text REFERENCES stations(id),
	contacts         text,
	notes            text,
	-- 身份证号: encrypted with pgp_sym_encrypt under the key in
	-- [privacy] id_key_file; only the masked form is ever shown.
	id_number_enc    bytea,
	id_number_masked text,
	active           boolean NOT NULL DEFAULT true,
	updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS devices (
	id          text PRIMARY KEY,
	kind        text NOT NULL CHECK (kind IN ('sos_button', 'smoke', 'gas', 'co', 'water_leak',
	                                          'fall_radar', 'motion', 'door', 'wearable', 'hub')),
	elder_id    text NOT NULL REFERENCES elders(id),
	ecosystem   text NOT NULL DEFAULT 'native' CHECK (ecosystem IN ('native', 'zigbee2mqtt')),
	external_id text,
	heartbeat_s integer CHECK (heartbeat_s > 0),
	online      boolean,
	last_seen   timestamptz,
	updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS devices_external_id ON devices (ecosystem, external_id)
	WHERE external_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS devices_elder ON devices (elder_id);

-- Every device event, stored before it is acknowledged to the broker.
-- (device_id, event_id) is the idempotency key: a redelivery inserts nothing.
-- handled = false marks an event whose consequences (incident, offers) are
-- not yet committed; the daemon replays those at start.
CREATE TABLE IF NOT EXISTS events (
	seq         bigserial,
	device_id   text NOT NULL,
	event_id    text NOT NULL CHECK (length(event_id) BETWEEN 1 AND 64),
	type        text NOT NULL,
	state       text NOT NULL DEFAULT 'alarm' CHECK (state IN ('alarm', 'clear')),
	ts          timestamptz,
	received_at timestamptz NOT NULL DEFAULT now(),
	battery     smallint,
	lat         double precision,
	lon         double precision,
	data        jsonb,
	handled     boolean NOT NULL DEFAULT false,
	incident_id bigint,
	PRIMARY KEY (device_id, event_id)
);
CREATE INDEX IF NOT EXISTS events_unhandled ON events (seq) WHERE NOT handled;
CREATE INDEX IF NOT EXISTS events_incident ON events (incident_id) WHERE incident_id IS NOT NULL;

-- Responder replies, stored before acknowledgement like events.
CREATE TABLE IF NOT EXISTS replies (
	seq          bigserial PRIMARY KEY,
	responder_id text NOT NULL,
	incident_id  bigint NOT NULL,
	action       text NOT NULL CHECK (action IN ('accept', 'decline', 'arrived', 'done')),
	outcome      text,
	note         text,
	received_at  timestamptz NOT NULL DEFAULT now(),
	handled      boolean NOT NULL DEFAULT false,
	result       text
);
CREATE INDEX IF NOT EXISTS replies_unhandled ON replies (seq) WHERE NOT handled;

-- Every rejected message, kept whole so that nothing received is lost.
CREATE TABLE IF NOT EXISTS dead_letters (
	seq         bigserial PRIMARY KEY,
	topic       text NOT NULL,
	reason      text NOT NULL,
	payload     bytea NOT NULL,
	received_at timestamptz NOT NULL DEFAULT now()
);

-- Incident ids are handed out by the daemon from this sequence in blocks.
CREATE SEQUENCE IF NOT EXISTS incident_ids INCREMENT BY 100 START WITH 1000;

CREATE TABLE IF NOT EXISTS incidents (
	id            bigint PRIMARY KEY,
	kind          text NOT NULL CHECK (kind IN ('alarm', 'ticket')),
	-- no foreign key to elders: the daemon's writes must never fail on
	-- reference data changed under it (a failed batch holds up all alarms)
	elder_id      text,
	area_code     char(12),
	type          text NOT NULL,
	priority      smallint NOT NULL CHECK (priority BETWEEN 1 AND 3),
	state         text NOT NULL CHECK (state IN ('open', 'offered', 'accepted', 'on_site', 'resolved')),
	escalated     boolean NOT NULL DEFAULT false,
	escalated_at  timestamptz,
	station_id    text,
	responder_id  text,
	alarm_device  text,
	alarm_event   text,
	opened_at     timestamptz NOT NULL,
	accepted_at   timestamptz,
	arrived_at    timestamptz,
	resolved_at   timestamptz,
	outcome       text CHECK (outcome IN ('emergency_handled', 'false_alarm', 'test', 'no_access',
	                                      'transferred_120', 'transferred_119')),
	resolved_by   text,
	acked_by      text,
	acked_at      timestamptz,
	ack_note      text,
	next_offer_at timestamptz,
	alarm_count   integer NOT NULL DEFAULT 1,
	updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS incidents_open ON incidents (id) WHERE state <> 'resolved';
CREATE INDEX IF NOT EXISTS incidents_elder ON incidents (elder_id);

CREATE TABLE IF NOT EXISTS offers (
	incident_id    bigint NOT NULL REFERENCES incidents(id),
	seq            integer NOT NULL,
	responder_id   text NOT NULL,
	responder_kind text NOT NULL CHECK (responder_kind IN ('station', 'volunteer')),
	distance_m     integer NOT NULL,
	offered_at     timestamptz NOT NULL,
	deadline       timestamptz NOT NULL,
	answer         text NOT NULL DEFAULT 'pending'
	               CHECK (answer IN ('pending', 'accepted', 'declined', 'timeout', 'cancelled')),
	answered_at    timestamptz,
	forced         boolean NOT NULL DEFAULT false,
	PRIMARY KEY (incident_id, seq)
);
CREATE INDEX IF NOT EXISTS offers_pending ON offers (incident_id) WHERE answer = 'pending';

-- What happened to an incident, in order; append-only.
CREATE TABLE IF NOT EXISTS incident_history (
	seq         bigserial PRIMARY KEY,
	incident_id bigint NOT NULL REFERENCES incidents(id),
	at          timestamptz NOT NULL,
	what        text NOT NULL,
	actor       text,
	detail      text
);
CREATE INDEX IF NOT EXISTS incident_history_incident ON incident_history (incident_id, seq);

-- Completed visits: routine records and incidents closed on site.
CREATE TABLE IF NOT EXISTS visits (
	id           text PRIMARY KEY,
	elder_id     text NOT NULL, -- no foreign key: see incidents.elder_id
	responder_id text,
	at           timestamptz NOT NULL,
	kind         text NOT NULL DEFAULT 'routine',
	in_person    boolean NOT NULL DEFAULT true,
	incident_id  bigint,
	note         text,
	recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS visits_elder_at ON visits (elder_id, at);
