/* store.c - SQL and JSON rows for the batch writer and the start-up load */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "incident.h"
#include "log.h"
#include "skills.h"
#include "store.h"
#include "util.h"

/* Redelivered events insert nothing. An event still unhandled is returned
 * again so that an ambiguous commit (connection lost before the answer) is
 * not forgotten; the engine skips keys it has already processed. */
const char *const SQL_INSERT_EVENTS =
    "INSERT INTO events (device_id, event_id, type, state, ts, received_at, battery, "
    "lat, "
    "lon, data, handled) "
    "SELECT d, e, t, s, to_timestamp(ts), to_timestamp(rt), b, la, lo, data::jsonb, h "
    "FROM json_to_recordset($1::json) AS x(d text, e text, t text, s text, "
    "ts double precision, rt double precision, b smallint, la double precision, "
    "lo double precision, data text, h boolean) "
    "ON CONFLICT (device_id, event_id) DO UPDATE SET handled = events.handled "
    "WHERE NOT events.handled "
    "RETURNING device_id, event_id";

const char *const SQL_INSERT_DEAD =
    "INSERT INTO dead_letters (topic, reason, payload, received_at, rkey) "
    "SELECT t, r, decode(p, 'base64'), to_timestamp(rt), k "
    "FROM json_to_recordset($1::json) AS x(t text, r text, p text, rt double "
    "precision, k text) ON CONFLICT (rkey) DO NOTHING";

const char *const SQL_INSERT_REPLIES =
    "INSERT INTO replies (responder_id, incident_id, action, outcome, note, received_at, "
    "handled, result, rkey) "
    "SELECT r, i, a, o, n, to_timestamp(rt), true, res, k "
    "FROM json_to_recordset($1::json) AS x(r text, i bigint, a text, o text, n text, "
    "rt double precision, res text, k text) ON CONFLICT (rkey) DO NOTHING";

const char *const SQL_UPDATE_STATUS =
    "UPDATE devices SET online = x.o, last_seen = to_timestamp(x.at) "
    "FROM json_to_recordset($1::json) AS x(d text, o boolean, at double precision) "
    "WHERE devices.id = x.d";

/* The latest live position only (no history is kept); an older fix never
 * overwrites a newer one. */
const char *const SQL_UPDATE_POSITIONS =
    "UPDATE volunteers SET live_lat = x.la, live_lon = x.lo, live_at = "
    "to_timestamp(x.at) "
    "FROM json_to_recordset($1::json) AS x(v text, la double precision, "
    "lo double precision, at double precision) "
    "WHERE volunteers.id = x.v AND (volunteers.live_at IS NULL "
    "OR volunteers.live_at <= to_timestamp(x.at))";

/* One dead letter per flooding device and window: the first batch inserts
 * it, each later batch of the window adds the events it drops. */
const char *const SQL_UPSERT_RATE_LIMITED =
    "INSERT INTO dead_letters (topic, reason, payload, received_at, dropped, window_key) "
    "SELECT t, 'rate_limited', decode(p, 'base64'), to_timestamp(rt), n, k "
    "FROM json_to_recordset($1::json) AS x(t text, p text, rt double precision, "
    "n integer, k text) "
    "ON CONFLICT (window_key) DO UPDATE SET dropped = dead_letters.dropped + "
    "excluded.dropped";

const char *const SQL_UPSERT_INCIDENTS =
    "INSERT INTO incidents (id, kind, elder_id, area_code, type, priority, state, "
    "escalated, escalated_at, station_id, responder_id, alarm_device, alarm_event, "
    "opened_at, accepted_at, arrived_at, resolved_at, outcome, resolved_by, "
    "next_offer_at, "
    "alarm_count, acked_by, acked_at, ack_note, escalate_at, updated_at) "
    "SELECT id, kind, elder_id, area_code, type, priority, state, escalated, "
    "to_timestamp(escalated_at), station_id, responder_id, alarm_device, alarm_event, "
    "to_timestamp(opened_at), to_timestamp(accepted_at), to_timestamp(arrived_at), "
    "to_timestamp(resolved_at), outcome, resolved_by, to_timestamp(next_offer_at), "
    "alarm_count, acked_by, to_timestamp(acked_at), ack_note, to_timestamp(escalate_at), "
    "now() "
    "FROM json_to_recordset($1::json) AS x(id bigint, kind text, elder_id text, "
    "area_code text, type text, priority smallint, state text, escalated boolean, "
    "escalated_at double precision, station_id text, responder_id text, alarm_device "
    "text, "
    "alarm_event text, opened_at double precision, accepted_at double precision, "
    "arrived_at double precision, resolved_at double precision, outcome text, "
    "resolved_by text, next_offer_at double precision, alarm_count integer, "
    "acked_by text, acked_at double precision, ack_note text, "
    "escalate_at double precision) "
    "ON CONFLICT (id) DO UPDATE SET type = excluded.type, priority = excluded.priority, "
    "state = excluded.state, escalated = excluded.escalated, "
    "escalated_at = excluded.escalated_at, responder_id = excluded.responder_id, "
    "accepted_at = excluded.accepted_at, arrived_at = excluded.arrived_at, "
    "resolved_at = excluded.resolved_at, outcome = excluded.outcome, "
    "resolved_by = excluded.resolved_by, next_offer_at = excluded.next_offer_at, "
    "alarm_count = excluded.alarm_count, acked_by = excluded.acked_by, "
    "acked_at = excluded.acked_at, ack_note = excluded.ack_note, "
    "escalate_at = excluded.escalate_at, updated_at = now()";

const char *const SQL_UPSERT_OFFERS =
    "INSERT INTO offers (incident_id, seq, responder_id, responder_kind, distance_m, "
    "offered_at, deadline, answer, answered_at, forced, manual) "
    "SELECT i, s, r, k, dm, to_timestamp(oa), to_timestamp(dl), a, to_timestamp(aa), f, "
    "m "
    "FROM json_to_recordset($1::json) AS x(i bigint, s integer, r text, k text, "
    "dm integer, oa double precision, dl double precision, a text, aa double precision, "
    "f boolean, m boolean) "
    "ON CONFLICT (incident_id, seq) DO UPDATE SET answer = excluded.answer, "
    "answered_at = excluded.answered_at, offered_at = excluded.offered_at, "
    "deadline = excluded.deadline";

/* Returns the rows for the live event stream (see SQL_HISTORY_COLUMNS). */
const char *const SQL_INSERT_HISTORY =
    "INSERT INTO incident_history (incident_id, at, what, actor, detail, kind, type, "
    "priority, state, escalated, area_code, elder_id, rkey) "
    "SELECT i, to_timestamp(at), w, a, d, k, t, p, s, x, ar, el, rk "
    "FROM json_to_recordset($1::json) AS x(i bigint, at double precision, w text, "
    "a text, d text, k text, t text, p smallint, s text, x boolean, ar text, el text, "
    "rk text) ON CONFLICT (rkey) DO NOTHING "
    "RETURNING " SQL_HISTORY_COLUMNS;

const char *const SQL_INSERT_AUDIT =
    "INSERT INTO audit_log (at, actor, role, source, peer, action, incident_id, body, "
    "status, result, rkey) "
    "SELECT to_timestamp(at), a, r, s, p, w, i, b, c, x, k "
    "FROM json_to_recordset($1::json) AS x(at double precision, a text, r text, "
    "s text, p text, w text, i bigint, b text, c smallint, x text, k text) "
    "ON CONFLICT (rkey) DO NOTHING";

/* The last state of a zigbee2mqtt device's fields (and its battery), in the
 * batch that carries the edges it caused. */
const char *const SQL_UPSERT_Z2M =
    "INSERT INTO z2m_state (device_id, field, value, seq, updated_at) "
    "SELECT d, f, v, s, to_timestamp(at) "
    "FROM json_to_recordset($1::json) AS x(d text, f text, v smallint, s bigint, "
    "at double precision) "
    "ON CONFLICT (device_id, field) DO UPDATE SET value = excluded.value, "
    "seq = excluded.seq, updated_at = excluded.updated_at";

const char *const SQL_MARK_HANDLED =
    "UPDATE events SET handled = true, incident_id = x.i "
    "FROM json_to_recordset($1::json) AS x(d text, e text, i bigint) "
    "WHERE events.device_id = x.d AND events.event_id = x.e";

const char *const SQL_INSERT_VISITS =
    "INSERT INTO visits (id, elder_id, responder_id, at, kind, in_person, note, "
    "incident_id) "
    "SELECT id, el, r, to_timestamp(at), k, ip, n, i "
    "FROM json_to_recordset($1::json) AS x(id text, el text, r text, "
    "at double precision, k text, ip boolean, n text, i bigint) "
    "ON CONFLICT (id) DO NOTHING";

const char *const SQL_LOAD_ELDERS =
    "SELECT id, area_code, coalesce(station_id, ''), lat, lon, "
    "array_to_string(categories, ';'), coalesce(capability_level, -1), "
    "extract(year from birth_date)::int, extract(month from birth_date)::int, "
    "extract(day from birth_date)::int, name, coalesce(address, ''), "
    "coalesce(phone, ''), coalesce(notes, ''), coalesce(contacts, '') "
    "FROM elders WHERE active";

const char *const SQL_LOAD_DEVICES =
    "SELECT id, kind, elder_id, coalesce(heartbeat_s, 0), "
    "CASE WHEN ecosystem = 'zigbee2mqtt' THEN external_id END FROM devices";

const char *const SQL_LOAD_STATIONS =
    "SELECT id, kind, lat, lon, capacity, on_duty, area_code, "
    "array_to_string(skills, ';') FROM stations";

const char *const SQL_LOAD_VOLUNTEERS =
    "SELECT id, lat, lon, coalesce(max_km, 0), active, array_to_string(skills, ';'), "
    "coalesce(owntracks_user, ''), coalesce(live_lat, 0), coalesce(live_lon, 0), "
    "coalesce(extract(epoch from live_at), 0) FROM volunteers";

const char *const SQL_LOAD_INCIDENTS =
    "SELECT id, kind, coalesce(elder_id, ''), coalesce(area_code, ''), type, priority, "
    "state, escalated, coalesce(extract(epoch from escalated_at), 0), "
    "coalesce(station_id, ''), coalesce(responder_id, ''), coalesce(alarm_device, ''), "
    "coalesce(alarm_event, ''), extract(epoch from opened_at), "
    "coalesce(extract(epoch from accepted_at), 0), "
    "coalesce(extract(epoch from arrived_at), 0), "
    "coalesce(extract(epoch from next_offer_at), 0), alarm_count, "
    "coalesce(acked_by, ''), coalesce(extract(epoch from acked_at), 0), "
    "coalesce(ack_note, ''), coalesce(extract(epoch from escalate_at), 0) "
    "FROM incidents WHERE state <> 'resolved' ORDER BY id";

const char *const SQL_LOAD_OFFERS =
    "SELECT o.incident_id, o.seq, o.responder_id, o.responder_kind, o.distance_m, "
    "extract(epoch from o.offered_at), extract(epoch from o.deadline), o.answer, "
    "coalesce(extract(epoch from o.answered_at), 0), o.forced, o.manual "
    "FROM offers o JOIN incidents i ON i.id = o.incident_id "
    "WHERE i.state <> 'resolved' ORDER BY o.incident_id, o.seq";

const char *const SQL_LOAD_MAXID = "SELECT coalesce(max(id), 999) FROM incidents";

/* The keys of the events behind the latest incidents, newest first: the
 * events an earlier process ran the core on. While the database is down a
 * redelivered copy cannot be found by its insert, so these keys are what
 * keeps it from opening a second incident. Bounded by the partial index
 * events_incident and by the ring's size. */
const char *const SQL_LOAD_RECENT =
    "SELECT device_id || '/' || event_id FROM events "
    "WHERE incident_id > (SELECT coalesce(max(id), 0) FROM incidents) - 20000 "
    "ORDER BY incident_id DESC LIMIT 65536";

const char *const SQL_LOAD_UNHANDLED =
    "SELECT device_id, event_id, type, state, coalesce(extract(epoch from ts), 0), "
    "extract(epoch from received_at), coalesce(battery, -1) "
    "FROM events WHERE NOT handled ORDER BY seq";

const char *const SQL_LOAD_Z2M = "SELECT device_id, field, value, seq FROM z2m_state";

/* Adds a timestamp, or JSON null for 0 (unset). */
static void
set_time(json_t *o, const char *k, double t)
{
	json_object_set_new(o, k, t > 0 ? json_real(t) : json_null());
}

static void
set_text(json_t *o, const char *k, const char *s)
{
	json_object_set_new(o, k, s && s[0] ? json_string(s) : json_null());
}

json_t *
store_event_row(const char *device_id, const struct devevent *ev, double received,
		bool handled)
{
	json_t *o = json_object();

	json_object_set_new(o, "d", json_string(device_id));
	json_object_set_new(o, "e", json_string(ev->id));
	json_object_set_new(o, "t", json_string(ev_type_name(ev->type)));
	json_object_set_new(o, "s", json_string(ev->clear ? "clear" : "alarm"));
	set_time(o, "ts", ev->ts);
	json_object_set_new(o, "rt", json_real(received));
	json_object_set_new(o, "b",
			    ev->battery >= 0 ? json_integer(ev->battery) : json_null());
	json_object_set_new(o, "la", ev->has_pos ? json_real(ev->lat) : json_null());
	json_object_set_new(o, "lo", ev->has_pos ? json_real(ev->lon) : json_null());
	/* already serialised by ingest: sent as text, cast by PostgreSQL */
	if (ev->data)
		json_object_set_new(o, "data", json_string(ev->data));
	json_object_set_new(o, "h", json_boolean(handled));
	return o;
}

char *
store_base64(const void *data, size_t len)
{
	static const char tbl[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = data;
	char *out = xcalloc(((len + 2) / 3) * 4 + 1, 1), *o = out;
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		*o++ = tbl[p[i] >> 2];
		*o++ = tbl[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		*o++ = tbl[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
		*o++ = tbl[p[i + 2] & 63];
	}
	if (i < len) {
		*o++ = tbl[p[i] >> 2];
		if (i + 1 < len) {
			*o++ = tbl[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
			*o++ = tbl[(p[i + 1] & 15) << 2];
		} else {
			*o++ = tbl[(p[i] & 3) << 4];
			*o++ = '=';
		}
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

json_t *
store_dead_row(const char *topic, const char *reason, const void *payload, size_t len,
	       double received)
{
	json_t *o = json_object();
	char *b64 = store_base64(payload, len);
	char safe[512];
	size_t i, n = 0;

	/* The topic may hold any bytes; keep printable ASCII for the column. */
	for (i = 0; topic[i] && n + 1 < sizeof(safe); i++)
		safe[n++] = (topic[i] >= 0x20 && topic[i] < 0x7f) ? topic[i] : '?';
	safe[n] = '\0';
	json_object_set_new(o, "t", json_string(safe));
	json_object_set_new(o, "r", json_string(reason));
	json_object_set_new(o, "p", json_string(b64));
	json_object_set_new(o, "rt", json_real(received));
	free(b64);
	return o;
}

json_t *
store_reply_row(const char *responder, const struct reply *r, double received,
		const char *result)
{
	json_t *o = json_object();

	json_object_set_new(o, "r", json_string(responder));
	json_object_set_new(o, "i", json_integer(r->incident));
	json_object_set_new(o, "a", json_string(reply_action_name(r->action)));
	set_text(o, "o", r->outcome);
	set_text(o, "n", r->note);
	json_object_set_new(o, "rt", json_real(received));
	json_object_set_new(o, "res", json_string(result ? result : "applied"));
	return o;
}

json_t *
store_status_row(const char *device_id, bool online, double at)
{
	json_t *o = json_object();

	json_object_set_new(o, "d", json_string(device_id));
	json_object_set_new(o, "o", json_boolean(online));
	json_object_set_new(o, "at", json_real(at));
	return o;
}

json_t *
store_position_row(const struct responder *r)
{
	json_t *o = json_object();

	json_object_set_new(o, "v", json_string(r->id));
	json_object_set_new(o, "la", json_real(r->live_lat));
	json_object_set_new(o, "lo", json_real(r->live_lon));
	json_object_set_new(o, "at", json_real(r->live_at));
	return o;
}

json_t *
store_incident_row(const struct incident *inc)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_integer(inc->id));
	json_object_set_new(o, "kind",
			    json_string(inc->kind == INC_TICKET ? "ticket" : "alarm"));
	set_text(o, "elder_id", inc->elder_id);
	set_text(o, "area_code", inc->area_code);
	json_object_set_new(o, "type", json_string(ev_type_name(inc->type)));
	json_object_set_new(o, "priority", json_integer(inc->priority));
	json_object_set_new(o, "state", json_string(inc_state_name(inc->state)));
	json_object_set_new(o, "escalated", json_boolean(inc->escalated));
	set_time(o, "escalated_at", inc->escalated_at);
	set_text(o, "station_id", inc->station_id);
	set_text(o, "responder_id", inc->responder_id);
	set_text(o, "alarm_device", inc->alarm_device);
	set_text(o, "alarm_event", inc->alarm_event);
	json_object_set_new(o, "opened_at", json_real(inc->opened_at));
	set_time(o, "accepted_at", inc->accepted_at);
	set_time(o, "arrived_at", inc->arrived_at);
	set_time(o, "resolved_at", inc->resolved_at);
	set_text(o, "outcome", inc->outcome);
	set_text(o, "resolved_by", inc->resolved_by);
	set_time(o, "next_offer_at", inc->state == INC_OPEN ? inc->retry_at : 0);
	json_object_set_new(o, "alarm_count", json_integer(inc->alarm_count));
	set_text(o, "acked_by", inc->acked_by);
	set_time(o, "acked_at", inc->acked_at);
	set_text(o, "ack_note", inc->ack_note);
	set_time(o, "escalate_at", inc->escalate_at);
	return o;
}

json_t *
store_offer_row(const struct incident *inc, const struct offer *of)
{
	json_t *o = json_object();

	json_object_set_new(o, "i", json_integer(inc->id));
	json_object_set_new(o, "s", json_integer(of->seq));
	json_object_set_new(o, "r", json_string(of->responder_id));
	json_object_set_new(
	    o, "k", json_string(of->rkind == RESP_STATION ? "station" : "volunteer"));
	json_object_set_new(o, "dm", json_integer(of->distance_m));
	json_object_set_new(o, "oa", json_real(of->offered_at));
	json_object_set_new(o, "dl", json_real(of->deadline));
	json_object_set_new(o, "a", json_string(answer_name(of->answer)));
	set_time(o, "aa", of->answered_at);
	json_object_set_new(o, "f", json_boolean(of->forced));
	json_object_set_new(o, "m", json_boolean(of->manual));
	return o;
}

json_t *
store_hist_row(const struct hist *h, const struct incident *inc)
{
	json_t *o = json_object();

	json_object_set_new(o, "i", json_integer(h->incident_id));
	json_object_set_new(o, "at", json_real(h->at));
	json_object_set_new(o, "w", json_string(h->what));
	set_text(o, "a", h->actor);
	set_text(o, "d", h->detail);
	if (inc != NULL) {
		json_object_set_new(
		    o, "k", json_string(inc->kind == INC_TICKET ? "ticket" : "alarm"));
		json_object_set_new(o, "t", json_string(ev_type_name(inc->type)));
		json_object_set_new(o, "p", json_integer(inc->priority));
		json_object_set_new(o, "s", json_string(inc_state_name(inc->state)));
		json_object_set_new(o, "x", json_boolean(inc->escalated));
		set_text(o, "ar", inc->area_code);
		set_text(o, "el", inc->elder_id);
	}
	return o;
}

json_t *
store_handled_row(const struct handled *h)
{
	json_t *o = json_object();

	json_object_set_new(o, "d", json_string(h->device_id));
	json_object_set_new(o, "e", json_string(h->event_id));
	json_object_set_new(o, "i",
			    h->incident_id ? json_integer(h->incident_id) : json_null());
	return o;
}

json_t *
store_visit_row(const struct visit *v)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_string(v->id));
	json_object_set_new(o, "el", json_string(v->elder_id));
	set_text(o, "r", v->responder_id);
	json_object_set_new(o, "at", json_real(v->at));
	json_object_set_new(o, "k", json_string(v->kind));
	json_object_set_new(o, "ip", json_boolean(v->in_person));
	set_text(o, "n", v->note);
	json_object_set_new(o, "i",
			    v->incident_id ? json_integer(v->incident_id) : json_null());
	return o;
}

/* --- decoding what the loads return ------------------------------------- */

static char *
dup_or_null(const char *s)
{
	return s && s[0] ? xstrdup(s) : NULL;
}

/* Reference loaders update records in place when they exist, so that a
 * reload (SIGHUP) keeps incident links and responder counters. */
void
store_load_elders(struct world *w, PGresult *r)
{
	int i;

	for (i = 0; i < PQntuples(r); i++) {
		struct elder *el = hmap_get(&w->elders, PQgetvalue(r, i, 0));

		if (el == NULL) {
			el = xcalloc(1, sizeof(*el));
			str_copy(el->id, PQgetvalue(r, i, 0), sizeof(el->id));
			hmap_put(&w->elders, el->id, el);
		}
		str_copy(el->area_code, PQgetvalue(r, i, 1), sizeof(el->area_code));
		str_copy(el->station_id, PQgetvalue(r, i, 2), sizeof(el->station_id));
		el->lat = atof(PQgetvalue(r, i, 3));
		el->lon = atof(PQgetvalue(r, i, 4));
		el->cats = elder_cats_parse(PQgetvalue(r, i, 5));
		el->capability = atoi(PQgetvalue(r, i, 6));
		el->birth_y = atoi(PQgetvalue(r, i, 7));
		el->birth_m = atoi(PQgetvalue(r, i, 8));
		el->birth_d = atoi(PQgetvalue(r, i, 9));
		free(el->name);
		free(el->address);
		free(el->phone);
		free(el->notes);
		free(el->contacts);
		el->name = dup_or_null(PQgetvalue(r, i, 10));
		el->address = dup_or_null(PQgetvalue(r, i, 11));
		el->phone = dup_or_null(PQgetvalue(r, i, 12));
		el->notes = dup_or_null(PQgetvalue(r, i, 13));
		el->contacts = dup_or_null(PQgetvalue(r, i, 14));
	}
}

void
store_load_devices(struct world *w, PGresult *r)
{
	int i;

	for (i = 0; i < PQntuples(r); i++) {
		struct device *d = hmap_get(&w->devices, PQgetvalue(r, i, 0));

		if (d == NULL) {
			d = xcalloc(1, sizeof(*d));
			str_copy(d->id, PQgetvalue(r, i, 0), sizeof(d->id));
			hmap_put(&w->devices, d->id, d);
		}
		str_copy(d->kind, PQgetvalue(r, i, 1), sizeof(d->kind));
		str_copy(d->elder_id, PQgetvalue(r, i, 2), sizeof(d->elder_id));
		d->heartbeat_s = atoi(PQgetvalue(r, i, 3));
		d->elder = hmap_get(&w->elders, d->elder_id);
		free(d->z2m_name);
		d->z2m_name = PQgetisnull(r, i, 4) ? NULL : xstrdup(PQgetvalue(r, i, 4));
	}
}

/* Finds or adds the responder id of the given kind; NULL when the id is
 * already taken by the other kind. */
static struct responder *
responder_upsert(struct world *w, const char *id, enum responder_kind kind)
{
	struct responder *r = hmap_get(&w->responders, id);

	if (r != NULL) {
		if (r->kind == kind)
			return r;
		log_warn("event=duplicate_responder_id id=%s kept=station", id);
		return NULL;
	}
	r = xcalloc(1, sizeof(*r));
	str_copy(r->id, id, sizeof(r->id));
	r->kind = kind;
	hmap_put(&w->responders, r->id, r);
	return r;
}

void
store_load_responders(struct world *w, PGresult *st, PGresult *vo)
{
	struct responder *r;
	int i;

	for (i = 0; i < PQntuples(st); i++) {
		if ((r = responder_upsert(w, PQgetvalue(st, i, 0), RESP_STATION)) == NULL)
			continue;
		str_copy(r->station_kind, PQgetvalue(st, i, 1), sizeof(r->station_kind));
		r->lat = atof(PQgetvalue(st, i, 2));
		r->lon = atof(PQgetvalue(st, i, 3));
		r->capacity = atoi(PQgetvalue(st, i, 4));
		if (conf_parse_hours(PQgetvalue(st, i, 5), &r->duty_from, &r->duty_to) <
		    0) {
			r->duty_from = 0;
			r->duty_to = 24 * 60;
		}
		str_copy(r->area_code, PQgetvalue(st, i, 6), sizeof(r->area_code));
		r->active = true;
		r->skills = skills_bits(PQgetvalue(st, i, 7));
	}
	for (i = 0; i < PQntuples(vo); i++) {
		if ((r = responder_upsert(w, PQgetvalue(vo, i, 0), RESP_VOLUNTEER)) ==
		    NULL)
			continue;
		r->lat = atof(PQgetvalue(vo, i, 1));
		r->lon = atof(PQgetvalue(vo, i, 2));
		r->max_km = atof(PQgetvalue(vo, i, 3));
		r->active = PQgetvalue(vo, i, 4)[0] == 't';
		r->skills = skills_bits(PQgetvalue(vo, i, 5));
		str_copy(r->owntracks_user, PQgetvalue(vo, i, 6),
			 sizeof(r->owntracks_user));
		/* memory may hold a fix newer than the last commit (a reload) */
		if (atof(PQgetvalue(vo, i, 9)) > r->live_at) {
			r->live_lat = atof(PQgetvalue(vo, i, 7));
			r->live_lon = atof(PQgetvalue(vo, i, 8));
			r->live_at = atof(PQgetvalue(vo, i, 9));
		}
	}
}

/* Decodes the open incidents and their offers (both ordered by incident
 * id) into a new array of n incidents, NULL-terminated. */
struct incident **
store_load_incidents(PGresult *ri, PGresult *ro, int *count)
{
	struct incident **list;
	int i, n = PQntuples(ri), o = 0;

	list = xcalloc((size_t)n + 1, sizeof(*list));
	for (i = 0; i < n; i++) {
		struct incident *inc = incident_new();
		int t, s;

		inc->id = strtoll(PQgetvalue(ri, i, 0), NULL, 10);
		inc->kind =
		    strcmp(PQgetvalue(ri, i, 1), "ticket") == 0 ? INC_TICKET : INC_ALARM;
		str_copy(inc->elder_id, PQgetvalue(ri, i, 2), sizeof(inc->elder_id));
		str_copy(inc->area_code, PQgetvalue(ri, i, 3), sizeof(inc->area_code));
		t = ev_type_parse(PQgetvalue(ri, i, 4));
		inc->type = t < 0 ? EV_OFFLINE : (enum ev_type)t;
		inc->priority = atoi(PQgetvalue(ri, i, 5));
		s = inc_state_parse(PQgetvalue(ri, i, 6));
		inc->state = s < 0 ? INC_OPEN : (enum inc_state)s;
		inc->escalated = PQgetvalue(ri, i, 7)[0] == 't';
		inc->escalated_at = atof(PQgetvalue(ri, i, 8));
		str_copy(inc->station_id, PQgetvalue(ri, i, 9), sizeof(inc->station_id));
		str_copy(inc->responder_id, PQgetvalue(ri, i, 10),
			 sizeof(inc->responder_id));
		str_copy(inc->alarm_device, PQgetvalue(ri, i, 11),
			 sizeof(inc->alarm_device));
		str_copy(inc->alarm_event, PQgetvalue(ri, i, 12),
			 sizeof(inc->alarm_event));
		inc->opened_at = atof(PQgetvalue(ri, i, 13));
		inc->accepted_at = atof(PQgetvalue(ri, i, 14));
		inc->arrived_at = atof(PQgetvalue(ri, i, 15));
		inc->retry_at = atof(PQgetvalue(ri, i, 16));
		inc->alarm_count = atoi(PQgetvalue(ri, i, 17));
		str_copy(inc->acked_by, PQgetvalue(ri, i, 18), sizeof(inc->acked_by));
		inc->acked_at = atof(PQgetvalue(ri, i, 19));
		str_copy(inc->ack_note, PQgetvalue(ri, i, 20), sizeof(inc->ack_note));
		inc->escalate_at = atof(PQgetvalue(ri, i, 21));
		list[i] = inc;
	}
	for (i = 0; i < PQntuples(ro); i++) {
		int64_t id = strtoll(PQgetvalue(ro, i, 0), NULL, 10);
		struct incident *inc;
		struct offer *of;
		int a;

		while (o < n && list[o]->id < id)
			o++;
		if (o >= n || list[o]->id != id)
			continue;
		inc = list[o];
		if (inc->noffers == inc->offers_cap) {
			inc->offers_cap = inc->offers_cap ? inc->offers_cap * 2 : 4;
			inc->offers =
			    xrealloc(inc->offers, (size_t)inc->offers_cap * sizeof(*of));
		}
		of = &inc->offers[inc->noffers++];
		memset(of, 0, sizeof(*of));
		of->seq = atoi(PQgetvalue(ro, i, 1));
		str_copy(of->responder_id, PQgetvalue(ro, i, 2),
			 sizeof(of->responder_id));
		of->rkind = strcmp(PQgetvalue(ro, i, 3), "station") == 0 ? RESP_STATION
									 : RESP_VOLUNTEER;
		of->distance_m = atoi(PQgetvalue(ro, i, 4));
		of->offered_at = atof(PQgetvalue(ro, i, 5));
		of->deadline = atof(PQgetvalue(ro, i, 6));
		a = answer_parse(PQgetvalue(ro, i, 7));
		of->answer = a < 0 ? ANS_CANCELLED : (enum offer_answer)a;
		of->answered_at = atof(PQgetvalue(ro, i, 8));
		of->forced = PQgetvalue(ro, i, 9)[0] == 't';
		of->manual = PQgetvalue(ro, i, 10)[0] == 't';
	}
	*count = n;
	return list;
}

/* Decodes one row of SQL_LOAD_UNHANDLED: the event as it was received. */
int
store_unhandled_event(PGresult *r, int i, char *device_id, size_t idlen,
		      struct devevent *ev)
{
	int t;

	memset(ev, 0, sizeof(*ev));
	str_copy(device_id, PQgetvalue(r, i, 0), idlen);
	str_copy(ev->id, PQgetvalue(r, i, 1), sizeof(ev->id));
	ev->battery = atoi(PQgetvalue(r, i, 6));
	ev->clear = strcmp(PQgetvalue(r, i, 3), "clear") == 0;
	ev->ts = atof(PQgetvalue(r, i, 4));
	ev->received = atof(PQgetvalue(r, i, 5));
	if ((t = ev_type_parse(PQgetvalue(r, i, 2))) < 0 &&
	    strcmp(PQgetvalue(r, i, 2), ev_type_name(EV_OFFLINE)) != 0)
		return -1;
	if (t < 0) /* raised by supervision (silence.c) */
		t = EV_OFFLINE;
	ev->type = (enum ev_type)t;
	return 0;
}
