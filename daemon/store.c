/* store.c - SQL and JSON rows for the batch writer and the start-up load */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "incident.h"
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
    "FROM jsonb_to_recordset($1::jsonb) AS x(d text, e text, t text, s text, "
    "ts double precision, rt double precision, b smallint, la double precision, "
    "lo double precision, data text, h boolean) "
    "ON CONFLICT (device_id, event_id) DO UPDATE SET handled = events.handled "
    "WHERE NOT events.handled "
    "RETURNING device_id, event_id";

const char *const SQL_INSERT_DEAD =
    "INSERT INTO dead_letters (topic, reason, payload, received_at) "
    "SELECT t, r, decode(p, 'base64'), to_timestamp(rt) "
    "FROM jsonb_to_recordset($1::jsonb) AS x(t text, r text, p text, rt double "
    "precision)";

const char *const SQL_INSERT_REPLIES =
    "INSERT INTO replies (responder_id, incident_id, action, outcome, note, received_at, "
    "handled, result) "
    "SELECT r, i, a, o, n, to_timestamp(rt), true, res "
    "FROM jsonb_to_recordset($1::jsonb) AS x(r text, i bigint, a text, o text, n text, "
    "rt double precision, res text)";

const char *const SQL_UPDATE_STATUS =
    "UPDATE devices SET online = x.o, last_seen = to_timestamp(x.at) "
    "FROM jsonb_to_recordset($1::jsonb) AS x(d text, o boolean, at double precision) "
    "WHERE devices.id = x.d";

const char *const SQL_UPSERT_INCIDENTS =
    "INSERT INTO incidents (id, kind, elder_id, area_code, type, priority, state, "
    "escalated, escalated_at, station_id, responder_id, alarm_device, alarm_event, "
    "opened_at, accepted_at, arrived_at, resolved_at, outcome, resolved_by, "
    "next_offer_at, "
    "alarm_count, updated_at) "
    "SELECT id, kind, elder_id, area_code, type, priority, state, escalated, "
    "to_timestamp(escalated_at), station_id, responder_id, alarm_device, alarm_event, "
    "to_timestamp(opened_at), to_timestamp(accepted_at), to_timestamp(arrived_at), "
    "to_timestamp(resolved_at), outcome, resolved_by, to_timestamp(next_offer_at), "
    "alarm_count, now() "
    "FROM jsonb_to_recordset($1::jsonb) AS x(id bigint, kind text, elder_id text, "
    "area_code text, type text, priority smallint, state text, escalated boolean, "
    "escalated_at double precision, station_id text, responder_id text, alarm_device "
    "text, "
    "alarm_event text, opened_at double precision, accepted_at double precision, "
    "arrived_at double precision, resolved_at double precision, outcome text, "
    "resolved_by text, next_offer_at double precision, alarm_count integer) "
    "ON CONFLICT (id) DO UPDATE SET type = excluded.type, priority = excluded.priority, "
    "state = excluded.state, escalated = excluded.escalated, "
    "escalated_at = excluded.escalated_at, responder_id = excluded.responder_id, "
    "accepted_at = excluded.accepted_at, arrived_at = excluded.arrived_at, "
    "resolved_at = excluded.resolved_at, outcome = excluded.outcome, "
    "resolved_by = excluded.resolved_by, next_offer_at = excluded.next_offer_at, "
    "alarm_count = excluded.alarm_count, updated_at = now()";

const char *const SQL_UPSERT_OFFERS =
    "INSERT INTO offers (incident_id, seq, responder_id, responder_kind, distance_m, "
    "offered_at, deadline, answer, answered_at, forced) "
    "SELECT i, s, r, k, dm, to_timestamp(oa), to_timestamp(dl), a, to_timestamp(aa), f "
    "FROM jsonb_to_recordset($1::jsonb) AS x(i bigint, s integer, r text, k text, "
    "dm integer, oa double precision, dl double precision, a text, aa double precision, "
    "f boolean) "
    "ON CONFLICT (incident_id, seq) DO UPDATE SET answer = excluded.answer, "
    "answered_at = excluded.answered_at";

const char *const SQL_INSERT_HISTORY =
    "INSERT INTO incident_history (incident_id, at, what, actor, detail) "
    "SELECT i, to_timestamp(at), w, a, d "
    "FROM jsonb_to_recordset($1::jsonb) AS x(i bigint, at double precision, w text, "
    "a text, d text)";

const char *const SQL_MARK_HANDLED =
    "UPDATE events SET handled = true, incident_id = x.i "
    "FROM jsonb_to_recordset($1::jsonb) AS x(d text, e text, i bigint) "
    "WHERE events.device_id = x.d AND events.event_id = x.e";

const char *const SQL_INSERT_VISITS =
    "INSERT INTO visits (id, elder_id, responder_id, at, kind, in_person, incident_id) "
    "SELECT id, el, r, to_timestamp(at), k, true, i "
    "FROM jsonb_to_recordset($1::jsonb) AS x(id text, el text, r text, "
    "at double precision, k text, i bigint) "
    "ON CONFLICT (id) DO NOTHING";

const char *const SQL_LOAD_ELDERS =
    "SELECT id, area_code, coalesce(station_id, ''), lat, lon, "
    "array_to_string(categories, ';'), coalesce(capability_level, -1), "
    "extract(year from birth_date)::int, extract(month from birth_date)::int, "
    "extract(day from birth_date)::int, name, coalesce(address, ''), "
    "coalesce(phone, ''), coalesce(notes, ''), coalesce(contacts, '') "
    "FROM elders WHERE active";

const char *const SQL_LOAD_DEVICES =
    "SELECT id, kind, elder_id, coalesce(heartbeat_s, 0) FROM devices";

const char *const SQL_LOAD_STATIONS =
    "SELECT id, kind, lat, lon, capacity, on_duty FROM stations";

const char *const SQL_LOAD_VOLUNTEERS =
    "SELECT id, lat, lon, coalesce(max_km, 0), active FROM volunteers";

const char *const SQL_LOAD_INCIDENTS =
    "SELECT id, kind, coalesce(elder_id, ''), coalesce(area_code, ''), type, priority, "
    "state, escalated, coalesce(extract(epoch from escalated_at), 0), "
    "coalesce(station_id, ''), coalesce(responder_id, ''), coalesce(alarm_device, ''), "
    "coalesce(alarm_event, ''), extract(epoch from opened_at), "
    "coalesce(extract(epoch from accepted_at), 0), "
    "coalesce(extract(epoch from arrived_at), 0), "
    "coalesce(extract(epoch from next_offer_at), 0), alarm_count "
    "FROM incidents WHERE state <> 'resolved' ORDER BY id";

const char *const SQL_LOAD_OFFERS =
    "SELECT o.incident_id, o.seq, o.responder_id, o.responder_kind, o.distance_m, "
    "extract(epoch from o.offered_at), extract(epoch from o.deadline), o.answer, "
    "coalesce(extract(epoch from o.answered_at), 0), o.forced "
    "FROM offers o JOIN incidents i ON i.id = o.incident_id "
    "WHERE i.state <> 'resolved' ORDER BY o.incident_id, o.seq";

const char *const SQL_LOAD_MAXID = "SELECT coalesce(max(id), 999) FROM incidents";

const char *const SQL_LOAD_UNHANDLED =
    "SELECT device_id, event_id, type, state, coalesce(extract(epoch from ts), 0), "
    "extract(epoch from received_at), coalesce(battery, -1) "
    "FROM events WHERE NOT handled ORDER BY seq";

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
	return o;
}

json_t *
store_hist_row(const struct hist *h)
{
	json_t *o = json_object();

	json_object_set_new(o, "i", json_integer(h->incident_id));
	json_object_set_new(o, "at", json_real(h->at));
	json_object_set_new(o, "w", json_string(h->what));
	set_text(o, "a", h->actor);
	set_text(o, "d", h->detail);
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
