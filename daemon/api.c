/* api.c - the endpoints of SPEC §5.
 *
 * Reads go to the reader connection, so that they never hold up an
 * alarm's commit; PostgreSQL builds their JSON, with times in the
 * configured zone. Actions (ack, resolve, dispatch, visits) change the
 * daemon's own view through the core's operator transitions and answer
 * only once the change, with its audit row, is committed. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include "carewatchd.h"
#include "console.h"
#include "db.h"
#include "http.h"
#include "incident.h"
#include "log.h"
#include "mqtt.h"
#include "report.h"
#include "store.h"
#include "spool.h"
#include "util.h"

#define CANDIDATES_MAX 20

json_t *
api_time(double t)
{
	char buf[96];
	time_t secs = (time_t)t;
	struct tm tm;
	int ms = (int)((t - (double)secs) * 1000), off;

	if (t <= 0)
		return json_null();
	if (ms < 0)
		ms = 0;
	if (ms > 999)
		ms = 999;
	localtime_r(&secs, &tm);
	off = (int)(tm.tm_gmtoff / 60);
	snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03d%c%02d:%02d",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		 tm.tm_sec, ms, off < 0 ? '-' : '+', abs(off) / 60, abs(off) % 60);
	return json_string(buf);
}

/* Parses the body as a JSON object whose keys are all in allowed (NULL
 * terminated). Answers 400 and returns NULL otherwise. */
static json_t *
body_object(struct call *c, const char *const *allowed)
{
	char why[200];
	json_t *o = ingest_body(c->body, c->body_len, allowed, why, sizeof(why));

	if (o == NULL) {
		http_error(c, 400, "%s", why); /* frees c */
		return NULL;
	}
	c->json = o;
	return o;
}

/* A string field (NULL when absent); -1 after answering 400 when it is
 * there but not a string. */
static int
field_str(struct call *c, json_t *o, const char *k, const char **out)
{
	json_t *v = json_object_get(o, k);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		http_error(c, 400, "\"%s\" must be a string", k);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

static bool
role_ok(struct call *c, int roles)
{
	if (c->user.role & roles)
		return true;
	http_error(c, 403, "not allowed for role %s", http_role_name(c->user.role));
	return false;
}

/* --- health, metrics, me, console ----------------------------------------- */

static void
api_healthz(struct call *c)
{
	struct engine *e = c->h->e;
	bool db = db_up(e->db), mq = e->mqtt && mqtt_connected(e->mqtt);
	bool running = e->phase == PH_RUNNING;
	uint64_t sb = e->sp ? spool_bytes(e->sp) : 0, sm = e->sp ? spool_max(e->sp) : 0;
	/* the journal near full (or refusing) is degraded even with the
	 * database back: it must be written back first */
	bool spool_full = e->spool_stuck || (sm > 0 && (double)sb >= 0.8 * (double)sm);
	const char *status = engine_standby(e)			      ? "standby"
			     : !running				      ? "starting"
			     : db && mq && !e->stalled && !spool_full ? "ok"
								      : "degraded";

	http_reply(c, strcmp(status, "ok") == 0 ? 200 : 503,
		   json_pack("{s:s,s:s,s:s,s:b,s:I,s:{s:s,s:I,s:I}}", "status", status,
			     "broker", mq ? "up" : "down", "database", db ? "up" : "down",
			     "stalled", e->stalled, "open_incidents",
			     (json_int_t)e->w.n_open, "spool", "state",
			     e->sp == NULL	  ? "none"
			     : e->spool_stuck	  ? "full"
			     : e->wb_active	  ? "writing_back"
			     : e->spool_since > 0 ? "active"
						  : "idle",
			     "bytes", (json_int_t)sb, "max_bytes", (json_int_t)sm));
}

static void
api_metrics(struct call *c)
{
	struct engine *e = c->h->e;
	struct metrics_gauges g;
	const struct incident *inc;
	struct evbuffer *buf;
	size_t pos = 0, len = 0;
	char *text;

	memset(&g, 0, sizeof(g));
	while ((inc = hmap_next(&e->w.incidents, &pos)) != NULL) {
		if (inc->state == INC_RESOLVED)
			continue;
		if (inc->priority >= 1 && inc->priority <= 3)
			g.open_by_priority[inc->priority]++;
		if (inc->escalated)
			g.escalated_open++;
	}
	g.broker_up = e->mqtt && mqtt_connected(e->mqtt);
	g.database_up = db_up(e->db);
	g.sse_clients = c->h->nsse;
	g.http_connections = http_connections(c->h);
	g.outbox = e->outbox.n;
	if (e->sp != NULL) {
		g.spool_bytes = (double)spool_bytes(e->sp);
		g.spool_max = (double)spool_max(e->sp);
	}
	g.spool_active = e->spool_since > 0;
	g.uptime_s = now_mono() - e->started_at;
	text = metrics_render(&e->m, &g, &len);
	if (text == NULL) {
		http_error(c, 503, "out of memory");
		return;
	}
	buf = evbuffer_new();
	evbuffer_add(buf, text, len);
	free(text);
	http_reply_raw(c, "text/plain; version=0.0.4; charset=utf-8", buf);
	evbuffer_free(buf);
}

static void
api_me(struct call *c)
{
	const char *role = http_role_name(c->user.role);

	http_reply(
	    c, 200,
	    json_pack(
		"{s:s,s:s,s:o,s:o}", "name", c->user.name, "role", role, "area_code",
		c->user.area[0] ? json_string(c->user.area) : json_null(), "area_prefix",
		c->user.prefix[0] ? json_string(c->user.prefix) : json_null()));
}

static void
api_console(struct call *c)
{
	struct evkeyvalq *hd = evhttp_request_get_output_headers(c->req);
	struct evbuffer *buf = evbuffer_new();

	evhttp_add_header(hd, "Content-Security-Policy",
			  "default-src 'self'; style-src 'self' 'unsafe-inline'; "
			  "script-src 'self' 'unsafe-inline'; img-src 'self' data:; "
			  "connect-src 'self'; frame-ancestors 'none'");
	evhttp_add_header(hd, "Cache-Control", "no-cache");
	evbuffer_add_reference(buf, console_html, console_html_len, NULL, NULL);
	http_reply_raw(c, "text/html; charset=utf-8", buf);
	evbuffer_free(buf);
}

/* --- incidents: reads --------------------------------------------------- */

/* An incident as the list shows it; x is incidents, e elders, a areas. */
#define INCIDENT_JSON                                                                    \
	"json_build_object('id', i.id, 'kind', i.kind, 'state', i.state, 'priority', "   \
	"i.priority, 'type', i.type, 'escalated', i.escalated, 'elder', "                \
	"json_build_object('id', i.elder_id, 'name', e.name, 'phone', e.phone, "         \
	"'village', a.name), 'area_code', i.area_code, 'station_id', i.station_id, "     \
	"'responder_id', i.responder_id, 'opened_at', i.opened_at, 'alarm_count', "      \
	"i.alarm_count, 'ack', CASE WHEN i.acked_by IS NULL THEN NULL ELSE "             \
	"json_build_object('by', i.acked_by, 'at', i.acked_at, 'note', i.ack_note) "     \
	"END, 'offer', (SELECT json_build_object('responder', o.responder_id, "          \
	"'offered_at', o.offered_at, 'deadline', o.deadline) FROM offers o WHERE "       \
	"o.incident_id = i.id AND o.answer = 'pending' ORDER BY o.seq DESC LIMIT 1), "   \
	"'outcome', i.outcome, 'resolved_at', i.resolved_at)"

static const char SQL_LIST[] =
    "SELECT json_build_object('now', now(), 'incidents', coalesce(json_agg(x.j ORDER BY "
    "x.o1, x.o2, x.o3 DESC), '[]'))::text FROM (SELECT " INCIDENT_JSON " AS j, "
    "i.state = 'resolved' AS o1, CASE WHEN i.state = 'resolved' THEN 0 ELSE "
    "i.priority END AS o2, CASE WHEN i.state = 'resolved' THEN i.resolved_at ELSE "
    "'infinity'::timestamptz - (i.opened_at - 'epoch'::timestamptz) END AS o3 "
    "FROM incidents i LEFT JOIN elders e ON e.id = i.elder_id "
    "LEFT JOIN areas a ON a.code = i.area_code "
    "WHERE ($1 = 'all' OR i.state <> 'resolved') "
    "AND ($2 = '' OR i.area_code LIKE $2 || '%') "
    "ORDER BY i.state = 'resolved', i.resolved_at DESC NULLS FIRST LIMIT 1000) x";

static const char SQL_ONE[] =
    "SELECT (" INCIDENT_JSON "::jsonb || jsonb_build_object("
    "'elder', json_build_object('id', i.elder_id, 'name', e.name, 'phone', e.phone, "
    " 'village', a.name, 'address', e.address, 'lat', e.lat, 'lon', e.lon, "
    " 'id_number_masked', e.id_number_masked, 'categories', e.categories, "
    " 'capability_level', e.capability_level, 'contacts', e.contacts, "
    " 'notes', e.notes, 'station_id', e.station_id, 'birth_date', e.birth_date), "
    "'accepted_at', i.accepted_at, 'arrived_at', i.arrived_at, "
    "'escalated_at', i.escalated_at, 'resolved_by', i.resolved_by, "
    "'alarms', (SELECT coalesce(json_agg(json_build_object('device', v.device_id, "
    " 'id', v.event_id, 'type', v.type, 'state', v.state, 'received_at', "
    " v.received_at) ORDER BY v.seq), '[]') FROM events v WHERE v.incident_id = i.id), "
    "'offers', (SELECT coalesce(json_agg(json_build_object('offer', o.seq, "
    " 'responder', o.responder_id, 'kind', o.responder_kind, 'distance_m', "
    " o.distance_m, 'forced', o.forced, 'manual', o.manual, 'answer', o.answer, "
    " 'offered_at', o.offered_at, 'deadline', o.deadline, 'answered_at', "
    " o.answered_at) ORDER BY o.seq), '[]') FROM offers o WHERE o.incident_id = i.id), "
    "'history', (SELECT coalesce(json_agg(json_build_object('at', h.at, 'what', "
    " h.what, 'actor', h.actor, 'detail', h.detail) ORDER BY h.seq), '[]') "
    " FROM incident_history h WHERE h.incident_id = i.id)))::text, "
    "coalesce(i.area_code, ''), coalesce(e.lat::text, ''), coalesce(e.lon::text, '') "
    "FROM incidents i LEFT JOIN elders e ON e.id = i.elder_id "
    "LEFT JOIN areas a ON a.code = i.area_code WHERE i.id = $1::bigint";

/* Answers the one JSON text a read built, as it is or under key. */
static void
json_read_reply(struct call *c, PGresult *r, const char *key)
{
	json_t *j;

	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 ||
	    (j = json_loads(PQgetvalue(r, 0, 0), 0, NULL)) == NULL) {
		http_error(c, 503, "database read failed: %s", PQresultErrorMessage(r));
		return;
	}
	http_reply(c, 200, key ? json_pack("{s:o}", key, j) : j);
}

static void
list_done(struct call *c, PGresult *r, const char *err)
{
	(void)err;
	json_read_reply(c, r, NULL);
}

static void
api_incidents(struct call *c)
{
	const char *state = evhttp_find_header(c->query, "state");
	const char *params[2];

	if (state == NULL)
		state = "open";
	if (strcmp(state, "open") != 0 && strcmp(state, "all") != 0) {
		http_error(c, 400, "state must be open or all");
		return;
	}
	params[0] = state;
	params[1] = c->user.prefix;
	if (http_read(c, SQL_LIST, params, 2, list_done) < 0)
		http_error(c, 503, "busy: too many reads waiting");
}

static json_t *
candidates_json(struct engine *e, double lat, double lon)
{
	struct candidate cand[CANDIDATES_MAX];
	json_t *a = json_array();
	size_t i, n;

	n = world_candidates(&e->w, lat, lon, engine_now(e), cand, CANDIDATES_MAX);
	for (i = 0; i < n; i++) {
		const struct responder *r = cand[i].r;

		json_array_append_new(
		    a,
		    json_pack("{s:s,s:s,s:i,s:f,s:f,s:b,s:b}", "id", r->id, "kind",
			      r->kind == RESP_STATION ? "station" : "volunteer",
			      "distance_m", cand[i].distance_m, "lat", r->lat, "lon",
			      r->lon, "available", !cand[i].busy, "busy", cand[i].busy));
	}
	return a;
}

static void
one_done(struct call *c, PGresult *r, const char *err)
{
	json_t *j;
	double lat, lon;

	(void)err;
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		http_error(c, 503, "database read failed: %s", PQresultErrorMessage(r));
		return;
	}
	if (PQntuples(r) != 1 || !http_in_scope(c, PQgetvalue(r, 0, 1))) {
		http_error(c, 404, "no incident %" PRId64, c->incident_id);
		return;
	}
	if ((j = json_loads(PQgetvalue(r, 0, 0), 0, NULL)) == NULL) {
		http_error(c, 503, "database read failed");
		return;
	}
	if (PQgetvalue(r, 0, 2)[0] && PQgetvalue(r, 0, 3)[0]) {
		lat = strtod(PQgetvalue(r, 0, 2), NULL);
		lon = strtod(PQgetvalue(r, 0, 3), NULL);
		json_object_set_new(j, "candidates", candidates_json(c->h->e, lat, lon));
	} else {
		json_object_set_new(j, "candidates", json_array());
	}
	http_reply(c, 200, j);
}

static void
api_incident(struct call *c)
{
	char id[24];
	const char *params[1] = {id};

	snprintf(id, sizeof(id), "%" PRId64, c->incident_id);
	if (http_read(c, SQL_ONE, params, 1, one_done) < 0)
		http_error(c, 503, "busy: too many reads waiting");
}

/* --- incidents: actions -------------------------------------------------- */

enum act { ACT_ACK, ACT_RESOLVE, ACT_DISPATCH };

static json_t *
incident_brief(const struct incident *inc)
{
	json_t *ack = json_null();

	if (inc->acked_by[0])
		ack = json_pack("{s:s,s:o,s:s}", "by", inc->acked_by, "at",
				api_time(inc->acked_at), "note", inc->ack_note);
	return json_pack(
	    "{s:I,s:s,s:i,s:b,s:o,s:o,s:o}", "id", (json_int_t)inc->id, "state",
	    inc_state_name(inc->state), "priority", inc->priority, "escalated",
	    inc->escalated, "ack", ack, "responder_id",
	    inc->responder_id[0] ? json_string(inc->responder_id) : json_null(),
	    "outcome", inc->outcome[0] ? json_string(inc->outcome) : json_null());
}

/* An incident the daemon no longer holds: resolved (409) or none (404). */
static void
closed_done(struct call *c, PGresult *r, const char *err)
{
	(void)err;
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		http_error(c, 503, "database read failed: %s", PQresultErrorMessage(r));
		return;
	}
	if (PQntuples(r) != 1 || !http_in_scope(c, PQgetvalue(r, 0, 1))) {
		http_error(c, 404, "no incident %" PRId64, c->incident_id);
		return;
	}
	http_error(c, 409, "incident %" PRId64 " is %s", c->incident_id,
		   PQgetvalue(r, 0, 0));
}

static void
api_act(struct call *c, enum act act)
{
	static const char *const ack_keys[] = {"note", NULL};
	static const char *const resolve_keys[] = {"outcome", "note", NULL};
	static const char *const dispatch_keys[] = {"responder", NULL};
	struct engine *e = c->h->e;
	struct incident *inc;
	const char *note = NULL, *outcome = NULL, *responder = NULL, *why;
	char id[24];
	const char *params[1] = {id};
	json_t *o;

	c->audit = true;
	snprintf(c->action, sizeof(c->action), "%s",
		 act == ACT_ACK	      ? "ack"
		 : act == ACT_RESOLVE ? "resolve"
				      : "dispatch");
	if (!role_ok(c, ROLES_ACT))
		return;
	o = body_object(c, act == ACT_ACK	? ack_keys
			   : act == ACT_RESOLVE ? resolve_keys
						: dispatch_keys);
	if (o == NULL || field_str(c, o, "note", &note) < 0 ||
	    field_str(c, o, "outcome", &outcome) < 0 ||
	    field_str(c, o, "responder", &responder) < 0)
		return;
	if (act == ACT_RESOLVE && outcome == NULL) {
		http_error(c, 400, "outcome required");
		return;
	}
	if (act == ACT_RESOLVE && !outcome_valid(outcome)) {
		http_error(c, 400, "unknown outcome");
		return;
	}
	if (act == ACT_DISPATCH && responder == NULL) {
		http_error(c, 400, "responder required");
		return;
	}
	if (e->phase != PH_RUNNING) {
		http_error(c, 503, "not serving: the daemon is %s",
			   engine_standby(e) ? "the standby (another one is active)"
			   : e->phase == PH_STOPPING ? "stopping"
						     : "starting");
		return;
	}
	if (!db_up(e->db)) {
		http_error(c, 503, "database unreachable: nothing was changed");
		return;
	}
	inc = world_incident(&e->w, c->incident_id);
	if (inc == NULL) {
		snprintf(id, sizeof(id), "%" PRId64, c->incident_id);
		if (http_read(c,
			      "SELECT state, coalesce(area_code, '') FROM incidents "
			      "WHERE id = $1::bigint",
			      params, 1, closed_done) < 0)
			http_error(c, 503, "busy: too many reads waiting");
		return;
	}
	if (!http_in_scope(c, inc->area_code)) {
		http_error(c, 404, "no incident %" PRId64, c->incident_id);
		return;
	}
	if (act == ACT_ACK)
		why = incident_ack(&e->w, inc->id, c->user.name, note, engine_now(e));
	else if (act == ACT_RESOLVE)
		why = incident_resolve_op(&e->w, inc->id, c->user.name, outcome, note,
					  engine_now(e));
	else
		why = incident_dispatch_to(&e->w, inc->id, responder, c->user.name,
					   engine_now(e));
	if (why != NULL) {
		http_error(c, 409, "%s", why);
		return;
	}
	if (act == ACT_ACK)
		e->m.acks++;
	else if (act == ACT_RESOLVE)
		e->m.resolves++;
	else
		e->m.dispatches++;
	o = json_pack("{s:b,s:o}", "ok", 1, "incident", incident_brief(inc));
	engine_drain(e); /* may free inc (resolved) */
	http_after_commit(c, 200, o);
}

/* --- visits ------------------------------------------------------------- */

static void
api_visit(struct call *c)
{
	static const char *const keys[] = {"id",	"elder", "at",	      "kind",
					   "in_person", "note",	 "responder", NULL};
	struct engine *e = c->h->e;
	const struct elder *el;
	const char *responder = NULL, *why;
	struct visit v;
	char id[sizeof(v.id) + REF_ID_MAX + 4], rid[REF_ID_MAX + 1], *text;
	json_t *o;

	c->audit = true;
	snprintf(c->action, sizeof(c->action), "visit");
	if (!role_ok(c, ROLES_ACT))
		return;
	if (e->phase != PH_RUNNING) { /* the elders are not even loaded */
		http_error(c, 503, "not serving: the daemon is %s",
			   engine_standby(e) ? "the standby (another one is active)"
					     : "not running");
		return;
	}
	if ((o = body_object(c, keys)) == NULL ||
	    field_str(c, o, "responder", &responder) < 0)
		return;
	if (responder && str_copy(rid, responder, sizeof(rid)) < 0) {
		http_error(c, 400, "unknown responder");
		return;
	}
	responder = responder ? rid : NULL;
	json_object_del(o, "responder");
	text = json_dumps(o, JSON_COMPACT);
	why = ingest_parse_visit(text ? text : "", text ? strlen(text) : 0, engine_now(e),
				 &v);
	free(text);
	if (why != NULL) {
		http_error(c, 400, "%s", why);
		return;
	}
	if ((el = hmap_get(&e->w.elders, v.elder_id)) == NULL ||
	    !http_in_scope(c, el->area_code)) {
		http_error(c, 400, "unknown elder");
		return;
	}
	if (responder && hmap_get(&e->w.responders, responder) == NULL) {
		http_error(c, 400, "unknown responder");
		return;
	}
	if (e->phase != PH_RUNNING || !db_up(e->db)) {
		http_error(c, 503, "database unreachable: nothing was recorded");
		return;
	}
	/* the same visit sent over MQTT by the responder has the same key */
	if (responder)
		snprintf(id, sizeof(id), "%s:%s", responder, v.id);
	else
		snprintf(id, sizeof(id), "@%s:%s", c->user.name, v.id);
	if (str_copy(v.id, id, sizeof(v.id)) < 0) {
		http_error(c, 400, "id too long");
		return;
	}
	str_copy(v.responder_id, responder ? responder : "", sizeof(v.responder_id));
	batch_add(e->next, Q_VISITS, store_visit_row(&v));
	e->m.visits++;
	http_after_commit(c, 201, json_pack("{s:b,s:s}", "ok", 1, "id", v.id));
}

/* --- audit ------------------------------------------------------------- */

static const char SQL_AUDIT[] =
    "SELECT coalesce(json_agg(json_build_object('seq', seq, 'at', at, 'actor', actor, "
    "'role', role, 'source', source, 'peer', peer, 'action', action, 'incident_id', "
    "incident_id, 'body', body, 'status', status, 'result', result) ORDER BY seq), "
    "'[]')::text FROM (SELECT * FROM audit_log WHERE at >= $1::timestamptz "
    "ORDER BY seq DESC LIMIT $2::int) x";

static void
audit_done(struct call *c, PGresult *r, const char *err)
{
	(void)err;
	json_read_reply(c, r, "audit");
}

static void
api_audit(struct call *c)
{
	const char *since = evhttp_find_header(c->query, "since");
	const char *limit = evhttp_find_header(c->query, "limit");
	const char *params[2];
	double t;
	char *end;
	long n = 1000;

	if (!role_ok(c, ROLES_AUDIT))
		return;
	if (since && time_parse_rfc3339(since, &t) < 0) {
		http_error(c, 400, "since must be an RFC 3339 time");
		return;
	}
	if (limit) {
		n = strtol(limit, &end, 10);
		if (*end || n < 1 || n > 10000) {
			http_error(c, 400, "limit must be 1..10000");
			return;
		}
	}
	params[0] = since ? since : "-infinity";
	params[1] = limit ? limit : "1000";
	if (http_read(c, SQL_AUDIT, params, 2, audit_done) < 0)
		http_error(c, 503, "busy: too many reads waiting");
}

/* --- reports (issue 8) ------------------------------------------------- */

static void
report_done(struct call *c, PGresult *r, const char *err)
{
	(void)err;
	json_read_reply(c, r, NULL);
}

/* GET /api/v1/reports/visit-rate?month=YYYY-MM&by=LEVEL: the document
 * `carewatch report visit-rate --format json` prints, counted over the
 * caller's area only. */
static void
api_visit_rate(struct call *c)
{
	const char *month = evhttp_find_header(c->query, "month");
	const char *by = evhttp_find_header(c->query, "by");
	const char *params[4];
	char first[16], rule[4 * CONF_STR_MAX], err[256];

	if (!role_ok(c, ROLE_SUPERVISOR | ROLE_AUDITOR))
		return;
	if (month == NULL || report_parse_month(month, first, sizeof(first)) < 0) {
		http_error(c, 400, "month must be YYYY-MM");
		return;
	}
	if (by == NULL)
		by = "village";
	if (!report_by_ok(by)) {
		http_error(c, 400, "by must be county, township or village");
		return;
	}
	if (report_rule_json(&c->h->e->conf, rule, sizeof(rule), err, sizeof(err)) < 0) {
		http_error(c, 500, "%s", err);
		return;
	}
	params[0] = first;
	params[1] = by;
	params[2] = c->user.prefix;
	params[3] = rule;
	if (http_read(c, REPORT_SQL_VISIT_RATE, params, 4, report_done) < 0)
		http_error(c, 503, "busy: too many reads waiting");
}

/* GET /api/v1/reports/at-risk?date=YYYY-MM-DD&by=township|village: the
 * document `carewatch report at-risk --format json` prints, over the
 * caller's area only. */
static void
api_at_risk(struct call *c)
{
	const char *date = evhttp_find_header(c->query, "date");
	const char *by = evhttp_find_header(c->query, "by");
	const char *params[4];
	char day[16], rule[4 * CONF_STR_MAX], err[256];

	if (!role_ok(c, ROLE_SUPERVISOR | ROLE_AUDITOR))
		return;
	if (date == NULL || report_parse_date(date, day, sizeof(day)) < 0) {
		http_error(c, 400, "date must be YYYY-MM-DD");
		return;
	}
	if (by == NULL)
		by = "village";
	if (strcmp(by, "township") != 0 && strcmp(by, "village") != 0) {
		http_error(c, 400, "by must be township or village");
		return;
	}
	if (report_rule_json(&c->h->e->conf, rule, sizeof(rule), err, sizeof(err)) < 0) {
		http_error(c, 500, "%s", err);
		return;
	}
	params[0] = day;
	params[1] = by;
	params[2] = c->user.prefix;
	params[3] = rule;
	if (http_read(c, REPORT_SQL_AT_RISK, params, 4, report_done) < 0)
		http_error(c, 503, "busy: too many reads waiting");
}

/* GET /api/v1/reports/response?from=YYYY-MM-DD&to=YYYY-MM-DD: the
 * document `carewatch report response --format json` prints, over the
 * incidents in the caller's area only. */
static void
api_response(struct call *c)
{
	const char *from = evhttp_find_header(c->query, "from");
	const char *to = evhttp_find_header(c->query, "to");
	const char *params[4];
	char d0[16], d1[16], targets[256];

	if (!role_ok(c, ROLE_SUPERVISOR | ROLE_AUDITOR))
		return;
	if (from == NULL || to == NULL || report_parse_date(from, d0, sizeof(d0)) < 0 ||
	    report_parse_date(to, d1, sizeof(d1)) < 0) {
		http_error(c, 400, "from and to must be YYYY-MM-DD");
		return;
	}
	if (strcmp(d0, d1) > 0) {
		http_error(c, 400, "from is after to");
		return;
	}
	if (report_targets_json(&c->h->e->conf, targets, sizeof(targets)) < 0) {
		http_error(c, 500, "[reports] targets too long");
		return;
	}
	params[0] = d0;
	params[1] = d1;
	params[2] = c->user.prefix;
	params[3] = targets;
	if (http_read(c, REPORT_SQL_RESPONSE, params, 4, report_done) < 0)
		http_error(c, 503, "busy: too many reads waiting");
}

/* --- routing ----------------------------------------------------------- */

/* 405, naming in Allow the methods the path does take. */
static void
not_allowed(struct call *c, bool get)
{
	evhttp_add_header(evhttp_request_get_output_headers(c->req), "Allow",
			  get ? "GET, HEAD" : "POST");
	http_error(c, 405, get ? "GET only" : "POST only");
}

/* "/api/v1/incidents/123[/tail]": the id into c, the tail into *tail. */
static bool
incident_path(struct call *c, const char **tail)
{
	const char *p = c->path + strlen("/api/v1/incidents/");
	char *end;
	long long id;

	if (*p < '1' || *p > '9')
		return false;
	errno = 0;
	id = strtoll(p, &end, 10);
	if (id <= 0 || errno == ERANGE || (*end != '\0' && *end != '/'))
		return false;
	c->incident_id = id;
	*tail = end;
	return true;
}

void
api_route(struct call *c)
{
	const char *path = c->path, *tail;
	bool get =
	    c->method == EVHTTP_REQ_GET; /* HEAD too is 405: no body-less answers */
	bool post = c->method == EVHTTP_REQ_POST;

	if (strcmp(path, "/healthz") == 0) {
		get ? api_healthz(c) : not_allowed(c, true);
	} else if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0) {
		get ? api_console(c) : not_allowed(c, true);
	} else if (strcmp(path, "/metrics") == 0) {
		get ? api_metrics(c) : not_allowed(c, true);
	} else if (strcmp(path, "/api/v1/me") == 0) {
		get ? api_me(c) : not_allowed(c, true);
	} else if (strcmp(path, "/api/v1/incidents") == 0) {
		get ? api_incidents(c) : not_allowed(c, true);
	} else if (strncmp(path, "/api/v1/incidents/", 18) == 0 &&
		   incident_path(c, &tail)) {
		if (*tail == '\0')
			get ? api_incident(c) : not_allowed(c, true);
		else if (strcmp(tail, "/ack") == 0)
			post ? api_act(c, ACT_ACK) : not_allowed(c, false);
		else if (strcmp(tail, "/resolve") == 0)
			post ? api_act(c, ACT_RESOLVE) : not_allowed(c, false);
		else if (strcmp(tail, "/dispatch") == 0)
			post ? api_act(c, ACT_DISPATCH) : not_allowed(c, false);
		else
			http_error(c, 404, "no such path");
	} else if (strcmp(path, "/api/v1/events") == 0) {
		get ? sse_open(c) : not_allowed(c, true);
	} else if (strcmp(path, "/api/v1/visits") == 0) {
		post ? api_visit(c) : not_allowed(c, false);
	} else if (strcmp(path, "/api/v1/audit") == 0) {
		get ? api_audit(c) : not_allowed(c, true);
	} else if (strcmp(path, "/api/v1/reports/visit-rate") == 0) {
		get ? api_visit_rate(c) : not_allowed(c, true);
	} else if (strcmp(path, "/api/v1/reports/at-risk") == 0) {
		get ? api_at_risk(c) : not_allowed(c, true);
	} else if (strcmp(path, "/api/v1/reports/response") == 0) {
		get ? api_response(c) : not_allowed(c, true);
	} else {
		http_error(c, 404, "no such path");
	}
}
