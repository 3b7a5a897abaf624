/* engine.c - the life of a message: receive, batch, commit, act, publish.
 *
 * Batches. Everything that must reach PostgreSQL is collected in the batch
 * being built ("next"). One batch at a time is in flight: its statements
 * are pipelined and run in one implicit transaction. While a batch that
 * carries received messages is in flight, reading from the broker pauses,
 * so that once it commits every message received so far is durable and
 * libmosquitto's queued PUBACKs may go out (see mqtt.c).
 *
 * Two phases per alarm. A device event is first stored (handled = false
 * when it may open or touch an incident). After that commit the core runs
 * on it; the incident rows, offers and "handled" mark it produces go into
 * the next batch, and the messages they cause (offers, the event ack) are
 * published only after that batch commits. A crash in between leaves the
 * event unhandled in the database; start-up replays it. */
#include "config.h"

#include <inttypes.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "conf.h"
#include "db.h"
#include "dispatch.h"
#include "engine.h"
#include "incident.h"
#include "ingest.h"
#include "log.h"
#include "mqtt.h"
#include "store.h"
#include "util.h"

#define RECENT_MAX  65536 /* event keys processed by this process */
#define DEAD_KEEP   65536 /* bytes of a rejected payload kept */
#define STOP_WAIT_S 10.0

enum q_kind {
	Q_EVENTS,
	Q_DEAD,
	Q_REPLIES,
	Q_STATUS,
	Q_INC,
	Q_OFFERS,
	Q_HIST,
	Q_HANDLED,
	Q_VISITS,
	Q__COUNT
};

static const char *const *const q_sql[Q__COUNT] = {
    &SQL_INSERT_EVENTS,	 &SQL_INSERT_DEAD,	&SQL_INSERT_REPLIES,
    &SQL_UPDATE_STATUS,	 &SQL_UPSERT_INCIDENTS, &SQL_UPSERT_OFFERS,
    &SQL_INSERT_HISTORY, &SQL_MARK_HANDLED,	&SQL_INSERT_VISITS,
};

/* A received event waiting for its commit. */
struct pend_ev {
	struct device *dev;
	struct devevent ev;
	char *key;
	bool process; /* may open or touch an incident */
	bool returned;
};

struct batch {
	json_t *rows[Q__COUNT];
	char *text[Q__COUNT];
	int qkind[Q__COUNT]; /* statement i carries rows of kind qkind[i] */
	int nq;
	VEC(struct pub) pubs;
	VEC(struct pend_ev) evs;
	struct hmap evkeys;
	/* incident and offer rows by key, so that a later change of the same
	 * row replaces it: one upsert statement may not touch a row twice */
	struct hmap statekeys;
	VEC(char *) statekey_store;
	size_t inbound; /* broker messages it carries */
	bool replay;	/* carries the start-up replay */
};

enum eng_phase { PH_INIT, PH_LOADING, PH_RUNNING, PH_STOPPING };

struct engine {
	struct event_base *base;
	struct conf conf;
	struct world w;
	struct db *db;
	struct mqtt *mqtt;
	struct batch *next, *flight;
	bool flight_failed;
	struct event *retry_ev, *stop_ev;
	enum eng_phase phase;
	bool mqtt_started;
	bool reload_wanted, reloading;
	bool locked, locking; /* this session holds the single-writer lock */
	double stop_deadline;
	/* keys of events this process has run the core on */
	struct hmap recent;
	char **ring;
	size_t ring_pos;
	/* messages held while the broker is away, in order */
	VEC(struct pub) outbox;
	double degraded_since; /* timers were held since then; 0 = healthy */
	bool ever_connected;   /* the broker session came up once */
	/* counters */
	unsigned long n_events, n_dead, n_batches, n_replies;
};

static struct engine *the_engine; /* for incident timer callbacks */

static void engine_kick(struct engine *e);
static bool reload_reference(struct engine *e);
static void engine_lock(struct engine *e);
static void retry_later(struct engine *e, long secs);
static void engine_drain(struct engine *e);

/* --- batches ------------------------------------------------------------- */

static struct batch *
batch_new(void)
{
	struct batch *b = xcalloc(1, sizeof(*b));
	int i;

	for (i = 0; i < Q__COUNT; i++)
		b->rows[i] = json_array();
	hmap_init(&b->evkeys);
	hmap_init(&b->statekeys);
	return b;
}

static void
batch_free(struct batch *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < Q__COUNT; i++) {
		json_decref(b->rows[i]);
		free(b->text[i]);
	}
	for (i = 0; i < b->pubs.n; i++) {
		free(b->pubs.v[i].topic);
		free(b->pubs.v[i].payload);
	}
	for (i = 0; i < b->evs.n; i++) {
		free(b->evs.v[i].ev.data);
		free(b->evs.v[i].key);
	}
	for (i = 0; i < b->statekey_store.n; i++)
		free(b->statekey_store.v[i]);
	free(b->statekey_store.v);
	hmap_free(&b->statekeys);
	free(b->pubs.v);
	free(b->evs.v);
	hmap_free(&b->evkeys);
	free(b);
}

static bool
batch_has_rows(const struct batch *b)
{
	int i;

	for (i = 0; i < Q__COUNT; i++)
		if (json_array_size(b->rows[i]) > 0)
			return true;
	return false;
}

static void
batch_pub(struct batch *b, const char *topic, char *payload)
{
	struct pub p;

	p.topic = xstrdup(topic);
	p.payload = payload;
	VEC_PUSH(b->pubs, p);
}

/* --- recent keys --------------------------------------------------------- */

static bool
recent_has(struct engine *e, const char *key)
{
	return hmap_get(&e->recent, key) != NULL;
}

static void
recent_add(struct engine *e, const char *key)
{
	char *old = e->ring[e->ring_pos], *k = xstrdup(key);

	if (old) {
		hmap_del(&e->recent, old);
		free(old);
	}
	e->ring[e->ring_pos] = k;
	e->ring_pos = (e->ring_pos + 1) % RECENT_MAX;
	hmap_put(&e->recent, k, k);
}

/* --- publishing ---------------------------------------------------------- */

/* Hands a message to the broker, or keeps it (in order) while the broker
 * is away: it was committed, so it must still go out. */
static void
publish_now(struct engine *e, const char *topic, const char *payload)
{
	struct pub p;

	if (e->mqtt && mqtt_connected(e->mqtt) && e->outbox.n == 0) {
		mqtt_publish(e->mqtt, topic, payload, false);
		return;
	}
	p.topic = xstrdup(topic);
	p.payload = xstrdup(payload);
	VEC_PUSH(e->outbox, p);
}

static void
outbox_flush(struct engine *e)
{
	size_t i;

	for (i = 0; i < e->outbox.n; i++) {
		mqtt_publish(e->mqtt, e->outbox.v[i].topic, e->outbox.v[i].payload,
			     false);
		free(e->outbox.v[i].topic);
		free(e->outbox.v[i].payload);
	}
	if (e->outbox.n)
		log_info("event=outbox_flushed messages=%zu", e->outbox.n);
	e->outbox.n = 0;
}

static char *
ack_payload(const char *event_id, int64_t incident)
{
	json_t *o = json_object();
	char *s;

	json_object_set_new(o, "id", json_string(event_id));
	if (incident)
		json_object_set_new(o, "incident", json_integer(incident));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

static void
ack_topic(const struct engine *e, const char *device_id, char *buf, size_t len)
{
	snprintf(buf, len, "%s/dev/%s/ack", e->conf.topic_prefix, device_id);
}

/* --- the read path --------------------------------------------------------- */

static void
engine_update_hold(struct engine *e)
{
	bool hold = e->phase != PH_RUNNING || (e->flight && e->flight->inbound > 0) ||
		    e->next->inbound >= (size_t)e->conf.batch_max;

	if (e->mqtt)
		mqtt_hold(e->mqtt, hold);
}

/* Rejects a message: stored whole (base64) and announced on the deadletter
 * topic once stored. */
static void
dead_letter(struct engine *e, const char *topic, const char *reason, const void *payload,
	    size_t len, double now)
{
	char t[CONF_STR_MAX + 32], esc[160];
	json_t *row, *o;
	size_t keep = len > DEAD_KEEP ? DEAD_KEEP : len;

	row = store_dead_row(topic, len > keep ? "oversize (truncated)" : reason, payload,
			     keep, now);
	o = json_object();
	json_object_set(o, "topic", json_object_get(row, "t"));
	json_object_set_new(o, "reason", json_string(reason));
	json_object_set(o, "payload_b64", json_object_get(row, "p"));
	json_array_append_new(e->next->rows[Q_DEAD], row);
	snprintf(t, sizeof(t), "%s/deadletter", e->conf.topic_prefix);
	batch_pub(e->next, t, json_dumps(o, JSON_COMPACT));
	json_decref(o);
	e->n_dead++;
	log_warn("event=dead_letter reason=\"%s\" topic=\"%s\" bytes=%zu", reason,
		 log_esc(esc, sizeof(esc), topic, strlen(topic)), len);
}

static void
route_event(struct engine *e, const char *topic, const char *dev_id, const void *payload,
	    int len, double now)
{
	struct localtime_cw lt;
	struct pend_ev pe;
	struct device *d;
	const char *why;
	char key[2 * ID_MAX + 2];
	int prio;

	if ((d = hmap_get(&e->w.devices, dev_id)) == NULL) {
		dead_letter(e, topic, "unknown device", payload, (size_t)len, now);
		return;
	}
	memset(&pe, 0, sizeof(pe));
	if ((why = ingest_parse_event(payload, (size_t)len, &pe.ev)) != NULL) {
		dead_letter(e, topic, why, payload, (size_t)len, now);
		return;
	}
	snprintf(key, sizeof(key), "%s/%s", d->id, pe.ev.id);
	if (hmap_get(&e->next->evkeys, key) != NULL) {
		/* the same event twice in one batch: the copy changes nothing */
		free(pe.ev.data);
		return;
	}
	local_time(pe.ev.ts > 0 ? pe.ev.ts : now, &lt);
	prio = classify_priority(pe.ev.type, pe.ev.clear, d->elder, &lt,
				 e->w.p.night_from, e->w.p.night_to);
	pe.dev = d;
	pe.key = xstrdup(key);
	pe.process = prio > 0 || pe.ev.clear;
	json_array_append_new(e->next->rows[Q_EVENTS],
			      store_event_row(d->id, &pe.ev, now, !pe.process));
	VEC_PUSH(e->next->evs, pe);
	/* the value is the event's index + 1 (0 would read as absent) */
	hmap_put(&e->next->evkeys, pe.key, (void *)(uintptr_t)e->next->evs.n);
	e->n_events++;
	if (prio > 0)
		log_info("event=alarm device=%s id=%s type=%s priority=%d", d->id,
			 pe.ev.id, ev_type_name(pe.ev.type), prio);
	else
		log_debug("event=device_event device=%s id=\"%s\" type=%s", d->id,
			  pe.ev.id, ev_type_name(pe.ev.type));
}

static void
route_status(struct engine *e, const char *topic, const char *dev_id, const void *payload,
	     int len, double now)
{
	const char *why;
	bool online;

	if (hmap_get(&e->w.devices, dev_id) == NULL) {
		dead_letter(e, topic, "unknown device", payload, (size_t)len, now);
		return;
	}
	if ((why = ingest_parse_status(payload, (size_t)len, &online)) != NULL) {
		dead_letter(e, topic, why, payload, (size_t)len, now);
		return;
	}
	json_array_append_new(e->next->rows[Q_STATUS],
			      store_status_row(dev_id, online, now));
}

static void
route_reply(struct engine *e, const char *topic, const char *resp_id, const void *payload,
	    int len, double now)
{
	struct reply r;
	const char *why;

	if ((why = ingest_parse_reply(payload, (size_t)len, &r)) != NULL) {
		dead_letter(e, topic, why, payload, (size_t)len, now);
		return;
	}
	/* Replies act at once; their effects commit in the same batch as the
	 * reply row, and nothing is published before that commit. */
	why = incident_on_reply(&e->w, resp_id, &r, now);
	if (why != NULL)
		log_warn("event=reply_rejected responder=%s incident=%" PRId64
			 " action=%s reason=\"%s\"",
			 resp_id, r.incident, reply_action_name(r.action), why);
	json_array_append_new(e->next->rows[Q_REPLIES],
			      store_reply_row(resp_id, &r, now, why));
	e->n_replies++;
	engine_drain(e);
}

/* A visit record: stored (idempotent on responder and visit id), counted by
 * the visit-rate report. */
static void
route_visit(struct engine *e, const char *topic, const char *resp_id, const void *payload,
	    int len, double now)
{
	struct visit v;
	const char *why;
	char id[sizeof(v.id) + ID_MAX + 2];

	if ((why = ingest_parse_visit(payload, (size_t)len, &v)) != NULL) {
		dead_letter(e, topic, why, payload, (size_t)len, now);
		return;
	}
	if (hmap_get(&e->w.elders, v.elder_id) == NULL) {
		dead_letter(e, topic, "unknown elder", payload, (size_t)len, now);
		return;
	}
	/* visit ids are the responder's own: keep them apart per responder */
	snprintf(id, sizeof(id), "%s:%s", resp_id, v.id);
	str_copy(v.id, id, sizeof(v.id));
	str_copy(v.responder_id, resp_id, sizeof(v.responder_id));
	json_array_append_new(e->next->rows[Q_VISITS], store_visit_row(&v));
	log_info("event=visit responder=%s elder=%s kind=%s in_person=%d", resp_id,
		 v.elder_id, v.kind, v.in_person);
}

static void
engine_message_cb(void *arg, const char *topic, const void *payload, int len)
{
	struct engine *e = arg;
	char id[ID_MAX + 1];
	double now = now_wall();

	e->next->inbound++;
	if (len > e->conf.payload_max) {
		dead_letter(e, topic, "oversize", payload, (size_t)len, now);
		return;
	}
	switch (topic_parse(e->conf.topic_prefix, topic, id)) {
	case TOPIC_DEV_EVENT:
		route_event(e, topic, id, payload, len, now);
		break;
	case TOPIC_DEV_STATUS:
		route_status(e, topic, id, payload, len, now);
		break;
	case TOPIC_RESP_REPLY:
		route_reply(e, topic, id, payload, len, now);
		break;
	case TOPIC_RESP_VISIT:
		route_visit(e, topic, id, payload, len, now);
		break;
	default:
		dead_letter(e, topic, "unknown topic", payload, (size_t)len, now);
		break;
	}
	if (e->next->inbound >= (size_t)e->conf.batch_max)
		engine_update_hold(e);
}

static void
engine_read_done_cb(void *arg)
{
	engine_kick(arg);
}

static void
engine_connected_cb(void *arg)
{
	struct engine *e = arg;

	e->ever_connected = true;
	outbox_flush(e);
	log_info("event=ready incidents_open=%zu devices=%zu responders=%zu", e->w.n_open,
		 e->w.devices.len, e->w.responders.len);
}

/* --- effects and timers -------------------------------------------------- */

/* Whether offers made now reach responders: stored and sent. */
static bool
engine_healthy(const struct engine *e)
{
	return db_up(e->db) && e->locked && !e->flight_failed && mqtt_connected(e->mqtt);
}

static void
incident_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct engine *e = the_engine;
	struct incident *inc = arg;
	double now = now_wall();

	/* While offers can be neither stored nor sent, deadlines must not run
	 * through every candidate unseen: hold the timers, and on recovery give
	 * pending offers a fresh window. */
	if (!engine_healthy(e)) {
		struct timeval tv = {1, 0};

		/* at start-up, deadlines that passed while we were down fire as
		 * soon as we can send: no fresh window for them */
		if (e->degraded_since == 0 && e->ever_connected) {
			e->degraded_since = now;
			log_warn(
			    "event=dispatch_held reason=\"database or broker away\"");
		}
		evtimer_add((struct event *)inc->timer, &tv);
		return;
	}
	if (e->degraded_since > 0) {
		log_info("event=dispatch_resumed held_s=%.1f", now - e->degraded_since);
		e->degraded_since = 0;
		incident_extend_offers(&e->w, now);
	}
	incident_on_timer(&e->w, inc, now);
	engine_drain(e);
	engine_kick(e);
}

static void
arm_timer(struct engine *e, struct incident *inc)
{
	struct timeval tv;
	double d;

	if (inc->timer_at <= 0) {
		if (inc->timer)
			evtimer_del((struct event *)inc->timer);
		return;
	}
	if (inc->timer == NULL)
		inc->timer = evtimer_new(e->base, incident_timer_cb, inc);
	d = inc->timer_at - now_wall();
	if (d < 0)
		d = 0;
	tv.tv_sec = (long)d;
	tv.tv_usec = (long)((d - (double)tv.tv_sec) * 1e6);
	evtimer_add((struct event *)inc->timer, &tv);
}

/* Adds row to statement q, or replaces the row added earlier under key. */
static void
batch_state_row(struct batch *b, int q, const char *key, json_t *row)
{
	void *at = hmap_get(&b->statekeys, key);
	char *k;

	if (at != NULL) {
		json_array_set_new(b->rows[q], (size_t)(uintptr_t)at - 1, row);
		return;
	}
	json_array_append_new(b->rows[q], row);
	k = xstrdup(key);
	VEC_PUSH(b->statekey_store, k);
	hmap_put(&b->statekeys, k, (void *)(uintptr_t)json_array_size(b->rows[q]));
}

/* Moves the core's effects into the batch being built and re-arms timers. */
static void
engine_drain(struct engine *e)
{
	struct effects *fx = &e->w.fx;
	struct batch *b = e->next;
	char key[48];
	size_t i;
	int k;

	for (i = 0; i < fx->dirty.n; i++) {
		struct incident *inc = fx->dirty.v[i];

		snprintf(key, sizeof(key), "i%" PRId64, inc->id);
		batch_state_row(b, Q_INC, key, store_incident_row(inc));
		for (k = 0; k < inc->noffers; k++) {
			snprintf(key, sizeof(key), "o%" PRId64 "/%d", inc->id, k);
			batch_state_row(b, Q_OFFERS, key,
					store_offer_row(inc, &inc->offers[k]));
		}
		inc->dirty = false;
		if (inc->state == INC_RESOLVED) {
			if (inc->timer)
				event_free((struct event *)inc->timer);
			incident_free(inc); /* its rows are serialised above */
		} else {
			arm_timer(e, inc);
		}
	}
	for (i = 0; i < fx->hist.n; i++)
		json_array_append_new(b->rows[Q_HIST], store_hist_row(&fx->hist.v[i]));
	for (i = 0; i < fx->handled.n; i++)
		json_array_append_new(b->rows[Q_HANDLED],
				      store_handled_row(&fx->handled.v[i]));
	for (i = 0; i < fx->visits.n; i++)
		json_array_append_new(b->rows[Q_VISITS],
				      store_visit_row(&fx->visits.v[i]));
	for (i = 0; i < fx->pubs.n; i++)
		VEC_PUSH(b->pubs, fx->pubs.v[i]); /* ownership moves */
	fx->pubs.n = 0;
	effects_clear(fx);
}

/* --- commit ---------------------------------------------------------------- */

static void batch_send(struct engine *e);

/* Runs the core on the events this commit stored for the first time. */
static void
process_committed(struct engine *e, struct batch *b, PGresult *ins)
{
	char topic[CONF_STR_MAX + ID_MAX + 16], key[2 * ID_MAX + 2];
	double now = now_wall();
	size_t i;
	int r;

	if (ins != NULL && PQresultStatus(ins) == PGRES_TUPLES_OK) {
		for (r = 0; r < PQntuples(ins); r++) {
			void *hit;

			snprintf(key, sizeof(key), "%s/%s", PQgetvalue(ins, r, 0),
				 PQgetvalue(ins, r, 1));
			if ((hit = hmap_get(&b->evkeys, key)) != NULL)
				b->evs.v[(uintptr_t)hit - 1].returned = true;
		}
	}
	for (i = 0; i < b->evs.n; i++) {
		struct pend_ev *pe = &b->evs.v[i];
		struct handled h;
		int64_t inc;

		ack_topic(e, pe->dev->id, topic, sizeof(topic));
		if (!pe->returned || !pe->process || recent_has(e, pe->key)) {
			char *p = ack_payload(pe->ev.id, 0);

			publish_now(e, topic, p);
			free(p);
			continue;
		}
		recent_add(e, pe->key);
		inc = incident_on_event(&e->w, pe->dev, &pe->ev, now);
		memset(&h, 0, sizeof(h));
		str_copy(h.device_id, pe->dev->id, sizeof(h.device_id));
		str_copy(h.event_id, pe->ev.id, sizeof(h.event_id));
		h.incident_id = inc;
		VEC_PUSH(e->w.fx.handled, h);
		{
			struct pub p;

			p.topic = xstrdup(topic);
			p.payload = ack_payload(pe->ev.id, inc);
			VEC_PUSH(e->w.fx.pubs, p);
		}
		engine_drain(e);
	}
}

static void
batch_done_cb(void *arg, bool ok, bool lost, PGresult **res, int n, const char *err)
{
	struct engine *e = arg;
	struct batch *b = e->flight;
	PGresult *ins = NULL;
	size_t i;
	int q;

	if (!ok) {
		e->flight_failed = true;
		log_err("event=batch_failed rows_inbound=%zu lost=%d reason=\"%s\"",
			b->inbound, lost, err ? err : "");
		if (!lost)
			retry_later(e, 1);
		return; /* resent when the database is back (or after the pause) */
	}
	e->flight = NULL;
	e->flight_failed = false;
	e->n_batches++;
	for (q = 0; q < b->nq && q < n; q++)
		if (b->qkind[q] == Q_EVENTS)
			ins = res[q];
	/* What this batch's state changes caused goes out now. */
	for (i = 0; i < b->pubs.n; i++)
		publish_now(e, b->pubs.v[i].topic, b->pubs.v[i].payload);
	process_committed(e, b, ins);
	if (e->mqtt)
		mqtt_committed(e->mqtt, b->inbound);
	if (b->replay && e->phase == PH_RUNNING && !e->mqtt_started) {
		e->mqtt_started = true;
		mqtt_start(e->mqtt);
	}
	batch_free(b);
	engine_update_hold(e);
	engine_kick(e);
}

/* Serialises the rows and sends the batch as one pipelined transaction. */
static void
batch_send(struct engine *e)
{
	struct batch *b = e->flight;
	struct db_query q[Q__COUNT];
	int i;

	if (b->nq == 0) {
		for (i = 0; i < Q__COUNT; i++) {
			if (json_array_size(b->rows[i]) == 0)
				continue;
			b->text[i] = json_dumps(b->rows[i], JSON_COMPACT);
			if (b->text[i] == NULL)
				fatal("event=oom what=batch");
			b->qkind[b->nq++] = i;
		}
	}
	for (i = 0; i < b->nq; i++) {
		q[i].sql = *q_sql[b->qkind[i]];
		q[i].nparams = 1;
		q[i].params[0] = b->text[b->qkind[i]];
	}
	if (db_run(e->db, q, b->nq, batch_done_cb, e) < 0)
		log_debug("event=batch_deferred reason=db_busy");
}

/* Sends the batch being built when nothing is in flight. */
static void
engine_kick(struct engine *e)
{
	struct batch *b;

	if (!e->locked) {
		if (db_idle(e->db))
			engine_lock(e);
		return;
	}
	if (e->flight != NULL) {
		if (e->flight_failed && db_idle(e->db) &&
		    !evtimer_pending(e->retry_ev, NULL)) {
			e->flight_failed = false;
			batch_send(e);
		}
		return;
	}
	if (e->reloading)
		return;
	if (e->reload_wanted && e->phase == PH_RUNNING && db_idle(e->db) &&
	    reload_reference(e))
		return;
	b = e->next;
	if (!batch_has_rows(b)) {
		size_t i;

		/* Nothing to store: what is queued may go at once. */
		for (i = 0; i < b->pubs.n; i++)
			publish_now(e, b->pubs.v[i].topic, b->pubs.v[i].payload);
		if (e->mqtt && b->inbound)
			mqtt_committed(e->mqtt, b->inbound);
		if (b->pubs.n || b->inbound) {
			batch_free(b);
			e->next = batch_new();
		}
		return;
	}
	if (!db_idle(e->db))
		return;
	e->flight = b;
	e->next = batch_new();
	engine_update_hold(e);
	batch_send(e);
}

/* Tries the load, the lock or the failed batch again after secs; a lost
 * connection needs no timer: the database's return does it. */
static void
retry_later(struct engine *e, long secs)
{
	struct timeval tv = {secs, 0};

	evtimer_add(e->retry_ev, &tv);
}

/* --- start-up load --------------------------------------------------------- */

static char *
dup_or_null(const char *s)
{
	return s && s[0] ? xstrdup(s) : NULL;
}

/* Reference loaders update records in place when they exist, so that a
 * reload (SIGHUP) keeps incident links and responder counters. */
static void
load_elders(struct engine *e, PGresult *r)
{
	int i;

	for (i = 0; i < PQntuples(r); i++) {
		struct elder *el = hmap_get(&e->w.elders, PQgetvalue(r, i, 0));

		if (el == NULL) {
			el = xcalloc(1, sizeof(*el));
			str_copy(el->id, PQgetvalue(r, i, 0), sizeof(el->id));
			hmap_put(&e->w.elders, el->id, el);
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

static void
load_devices(struct engine *e, PGresult *r)
{
	int i;

	for (i = 0; i < PQntuples(r); i++) {
		struct device *d = hmap_get(&e->w.devices, PQgetvalue(r, i, 0));

		if (d == NULL) {
			d = xcalloc(1, sizeof(*d));
			str_copy(d->id, PQgetvalue(r, i, 0), sizeof(d->id));
			hmap_put(&e->w.devices, d->id, d);
		}
		str_copy(d->kind, PQgetvalue(r, i, 1), sizeof(d->kind));
		str_copy(d->elder_id, PQgetvalue(r, i, 2), sizeof(d->elder_id));
		d->heartbeat_s = atoi(PQgetvalue(r, i, 3));
		d->elder = hmap_get(&e->w.elders, d->elder_id);
	}
}

/* Finds or adds the responder id of the given kind; NULL when the id is
 * already taken by the other kind. */
static struct responder *
responder_upsert(struct engine *e, const char *id, enum responder_kind kind)
{
	struct responder *r = hmap_get(&e->w.responders, id);

	if (r != NULL) {
		if (r->kind == kind)
			return r;
		log_warn("event=duplicate_responder_id id=%s kept=station", id);
		return NULL;
	}
	r = xcalloc(1, sizeof(*r));
	str_copy(r->id, id, sizeof(r->id));
	r->kind = kind;
	hmap_put(&e->w.responders, r->id, r);
	return r;
}

static void
load_responders(struct engine *e, PGresult *st, PGresult *vo)
{
	struct responder *r;
	int i;

	for (i = 0; i < PQntuples(st); i++) {
		if ((r = responder_upsert(e, PQgetvalue(st, i, 0), RESP_STATION)) == NULL)
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
		r->active = true;
	}
	for (i = 0; i < PQntuples(vo); i++) {
		if ((r = responder_upsert(e, PQgetvalue(vo, i, 0), RESP_VOLUNTEER)) ==
		    NULL)
			continue;
		r->lat = atof(PQgetvalue(vo, i, 1));
		r->lon = atof(PQgetvalue(vo, i, 2));
		r->max_km = atof(PQgetvalue(vo, i, 3));
		r->active = PQgetvalue(vo, i, 4)[0] == 't';
	}
}

static void
reload_done_cb(void *arg, bool ok, bool lost, PGresult **res, int n, const char *err)
{
	struct engine *e = arg;

	e->reloading = false;
	if (!ok) {
		log_err("event=reference_reload_failed reason=\"%s\"", err ? err : "");
	} else {
		load_elders(e, res[0]);
		load_devices(e, res[1]);
		load_responders(e, res[2], res[3]);
		world_index(&e->w);
		log_info("event=reference_reloaded elders=%zu devices=%zu responders=%zu",
			 e->w.elders.len, e->w.devices.len, e->w.responders.len);
	}
	engine_kick(e);
}

/* Re-reads elders, devices, stations and volunteers (SIGHUP): runs between
 * batches, as the one job in flight. */
static bool
reload_reference(struct engine *e)
{
	struct db_query q[4];

	memset(q, 0, sizeof(q));
	q[0].sql = SQL_LOAD_ELDERS;
	q[1].sql = SQL_LOAD_DEVICES;
	q[2].sql = SQL_LOAD_STATIONS;
	q[3].sql = SQL_LOAD_VOLUNTEERS;
	if (db_run(e->db, q, 4, reload_done_cb, e) < 0)
		return false;
	e->reload_wanted = false;
	e->reloading = true;
	return true;
}

static void
load_incidents(struct engine *e, PGresult *ri, PGresult *ro)
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
		list[i] = inc;
	}
	/* offers come ordered by incident id, like the incidents */
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
	}
	for (i = 0; i < n; i++) {
		incident_restore(&e->w, list[i]);
		arm_timer(e, list[i]);
		/* the first copy of a pending offer may have died with us */
		incident_republish(&e->w, list[i], now_wall());
	}
	free(list);
}

/* Runs the core on events stored but not handled before the last stop. */
static size_t
replay_unhandled(struct engine *e, PGresult *r)
{
	size_t n = 0;
	int i;

	for (i = 0; i < PQntuples(r); i++) {
		struct device *d = hmap_get(&e->w.devices, PQgetvalue(r, i, 0));
		struct devevent ev;
		struct handled h;
		int t;

		memset(&ev, 0, sizeof(ev));
		memset(&h, 0, sizeof(h));
		str_copy(h.device_id, PQgetvalue(r, i, 0), sizeof(h.device_id));
		str_copy(h.event_id, PQgetvalue(r, i, 1), sizeof(h.event_id));
		t = ev_type_parse(PQgetvalue(r, i, 2));
		if (d != NULL && t >= 0) {
			str_copy(ev.id, h.event_id, sizeof(ev.id));
			ev.type = (enum ev_type)t;
			ev.clear = strcmp(PQgetvalue(r, i, 3), "clear") == 0;
			ev.ts = atof(PQgetvalue(r, i, 4));
			ev.battery = atoi(PQgetvalue(r, i, 6));
			h.incident_id = incident_on_event(&e->w, d, &ev, now_wall());
		}
		VEC_PUSH(e->w.fx.handled, h);
		n++;
	}
	engine_drain(e);
	return n;
}

static void load_done_cb(void *arg, bool ok, bool lost, PGresult **res, int n,
			 const char *err);

static void
engine_load(struct engine *e)
{
	static const char *const *const sql[] = {
	    &SQL_LOAD_ELDERS,	  &SQL_LOAD_DEVICES,   &SQL_LOAD_STATIONS,
	    &SQL_LOAD_VOLUNTEERS, &SQL_LOAD_INCIDENTS, &SQL_LOAD_OFFERS,
	    &SQL_LOAD_MAXID,	  &SQL_LOAD_UNHANDLED,
	};
	struct db_query q[10];
	int i;

	/* one snapshot for everything, not one per statement */
	memset(q, 0, sizeof(q));
	q[0].sql = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
	for (i = 0; i < 8; i++)
		q[i + 1].sql = *sql[i];
	q[9].sql = "COMMIT";
	e->phase = PH_LOADING;
	if (db_run(e->db, q, 10, load_done_cb, e) < 0)
		e->phase = PH_INIT;
}

static void
lock_done_cb(void *arg, bool ok, bool lost, PGresult **res, int n, const char *err)
{
	struct engine *e = arg;

	e->locking = false;
	if (!ok) {
		log_err("event=db_lock_failed reason=\"%s\"", err ? err : "");
		if (!lost)
			retry_later(e, 2);
		return;
	}
	e->locked = true;
	log_info("event=db_locked");
	if (e->phase == PH_INIT)
		engine_load(e);
	else
		engine_kick(e);
}

/* Takes the session-level advisory lock that makes this daemon the only
 * writer of the database. A daemon killed a moment ago may still have a
 * backend finishing its last batch: waiting for its lock means loading only
 * after that batch is committed or gone. */
static void
engine_lock(struct engine *e)
{
	static const struct db_query q = {
	    .sql = "SELECT pg_advisory_lock(hashtext('carewatchd'))"};

	if (e->locking || e->locked)
		return;
	if (db_run(e->db, &q, 1, lock_done_cb, e) == 0) {
		e->locking = true;
		log_info("event=db_lock_wait");
	}
}

static void
load_done_cb(void *arg, bool ok, bool lost, PGresult **res, int n, const char *err)
{
	struct engine *e = arg;
	double t0 = now_wall();
	size_t replayed;
	int64_t maxid;

	if (!ok) {
		log_err("event=load_failed reason=\"%s\"", err ? err : "");
		e->phase = PH_INIT; /* tried again when the database is up */
		if (!lost)
			retry_later(e, 2);
		return;
	}
	load_elders(e, res[1]);
	load_devices(e, res[2]);
	load_responders(e, res[3], res[4]);
	world_index(&e->w);
	maxid = strtoll(PQgetvalue(res[7], 0, 0), NULL, 10);
	if (maxid + 1 > e->w.next_incident_id)
		e->w.next_incident_id = maxid + 1;
	load_incidents(e, res[5], res[6]);
	if (e->phase == PH_STOPPING) {
		engine_kick(e);
		return;
	}
	e->phase = PH_RUNNING;
	replayed = replay_unhandled(e, res[8]);
	log_info("event=loaded elders=%zu devices=%zu responders=%zu incidents_open=%zu "
		 "replayed=%zu ms=%.1f",
		 e->w.elders.len, e->w.devices.len, e->w.responders.len, e->w.n_open,
		 replayed, (now_wall() - t0) * 1000);
	engine_update_hold(e);
	if (batch_has_rows(e->next)) {
		e->next->replay = true; /* the broker waits for this commit */
	} else {
		e->mqtt_started = true;
		mqtt_start(e->mqtt);
	}
	engine_kick(e);
}

static void
db_state_cb(void *arg, bool up)
{
	struct engine *e = arg;

	e->locked = false; /* a new session must take the lock again */
	if (up)
		engine_lock(e);
}

static void
retry_or_load_cb(evutil_socket_t fd, short what, void *arg)
{
	struct engine *e = arg;

	if (!e->locked)
		engine_lock(e);
	else if (e->phase == PH_INIT && db_idle(e->db))
		engine_load(e);
	else
		engine_kick(e);
}

/* --- life cycle ------------------------------------------------------------ */

static void
dparams_from_conf(struct dparams *p, const struct conf *c)
{
	p->offer_timeout_s[0] = p->offer_timeout_s[1] = c->offer_timeout_p1_s;
	p->offer_timeout_s[2] = p->offer_timeout_s[3] = c->offer_timeout_p2_s;
	p->max_offers = c->max_offers;
	p->escalate_after_s = c->escalate_after_s;
	p->volunteer_max_km = c->volunteer_max_km;
	p->retry_s = c->retry_s;
	if (conf_parse_hours(c->night, &p->night_from, &p->night_to) < 0) {
		p->night_from = 22 * 60;
		p->night_to = 6 * 60;
	}
}

struct engine *
engine_new(struct event_base *base, const struct conf *c)
{
	struct engine *e = xcalloc(1, sizeof(*e));
	struct mqtt_cbs cbs = {engine_message_cb, engine_connected_cb,
			       engine_read_done_cb};

	e->base = base;
	e->conf = *c;
	world_init(&e->w);
	dparams_from_conf(&e->w.p, c);
	str_copy(e->w.prefix, c->topic_prefix, sizeof(e->w.prefix));
	hmap_init(&e->recent);
	e->ring = xcalloc(RECENT_MAX, sizeof(char *));
	e->next = batch_new();
	e->retry_ev = evtimer_new(base, retry_or_load_cb, e);
	e->db = db_new(base, c->db_conninfo, db_state_cb, e);
	e->mqtt = mqtt_new(base, c, &cbs, e);
	mqtt_hold(e->mqtt, true);
	the_engine = e;
	return e;
}

void
engine_start(struct engine *e)
{
	db_start(e->db);
}

void
engine_reload(struct engine *e, const struct conf *c)
{
	char key[64];

	if (conf_needs_restart(&e->conf, c, key, sizeof(key)))
		log_warn("event=reload_partial reason=\"%s changed; restart to apply\"",
			 key);
	dparams_from_conf(&e->w.p, c);
	e->conf.batch_max = c->batch_max;
	e->conf.payload_max = c->payload_max;
	e->conf.verbose = c->verbose;
	log_set_verbose(c->verbose);
	log_info("event=reloaded");
	/* devices, elders and responders imported since start */
	e->reload_wanted = true;
	engine_kick(e);
}

static void
stop_check_cb(evutil_socket_t fd, short what, void *arg)
{
	struct engine *e = arg;
	bool idle = e->flight == NULL && !batch_has_rows(e->next);

	if (idle || now_wall() >= e->stop_deadline) {
		if (!idle)
			log_warn(
			    "event=stop_timeout unacked=%zu (the broker will redeliver)",
			    mqtt_unacked(e->mqtt));
		engine_kick(e); /* publish what needs no store */
		mqtt_stop(e->mqtt);
		log_info(
		    "event=stopped events=%lu replies=%lu batches=%lu dead_letters=%lu",
		    e->n_events, e->n_replies, e->n_batches, e->n_dead);
		event_base_loopexit(e->base, NULL);
		return;
	}
	engine_kick(e);
}

void
engine_stop(struct engine *e)
{
	struct timeval tv = {0, 20000};

	if (e->phase == PH_STOPPING)
		return;
	e->phase = PH_STOPPING;
	e->stop_deadline = now_wall() + STOP_WAIT_S;
	mqtt_hold(e->mqtt, true);
	e->stop_ev = event_new(e->base, -1, EV_PERSIST, stop_check_cb, e);
	event_add(e->stop_ev, &tv);
	engine_kick(e);
}

bool
engine_ready(const struct engine *e)
{
	return e->phase == PH_RUNNING && mqtt_connected(e->mqtt);
}

void
engine_status(const struct engine *e, char *buf, size_t len)
{
	snprintf(buf, len, "db=%s mqtt=%s open=%zu events=%lu dead=%lu",
		 db_up(e->db) ? "up" : "down", mqtt_connected(e->mqtt) ? "up" : "down",
		 e->w.n_open, e->n_events, e->n_dead);
}

void
engine_free(struct engine *e)
{
	size_t i, pos = 0;
	struct incident *inc;

	if (e == NULL)
		return;
	while ((inc = hmap_next(&e->w.incidents, &pos)) != NULL)
		if (inc->timer) {
			event_free((struct event *)inc->timer);
			inc->timer = NULL;
		}
	mqtt_free(e->mqtt);
	db_free(e->db);
	batch_free(e->next);
	batch_free(e->flight);
	if (e->retry_ev)
		event_free(e->retry_ev);
	if (e->stop_ev)
		event_free(e->stop_ev);
	for (i = 0; i < e->outbox.n; i++) {
		free(e->outbox.v[i].topic);
		free(e->outbox.v[i].payload);
	}
	free(e->outbox.v);
	for (i = 0; i < RECENT_MAX; i++)
		free(e->ring[i]);
	free(e->ring);
	hmap_free(&e->recent);
	world_free(&e->w);
	free(e);
}
