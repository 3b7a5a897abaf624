/* writer.c - the batch writer and the outbox.
 *
 * Everything that must reach PostgreSQL is collected in the batch being
 * built ("next"). One batch at a time is in flight: its statements are
 * pipelined and run in one implicit transaction. While a batch that carries
 * received messages is in flight, reading from the broker pauses, so that
 * once it commits every message received so far is durable and
 * libmosquitto's queued PUBACKs may go out (see mqtt.c).
 *
 * Two phases per alarm. A device event is first stored (handled = false
 * when it may open or touch an incident). After that commit the core runs
 * on it; the incident rows, offers and "handled" mark it produces go into
 * the next batch, and the messages they cause (offers, the event ack) are
 * published only after that batch commits. A crash in between leaves the
 * event unhandled in the database; start-up replays it. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "carewatchd.h"
#include "db.h"
#include "http.h"
#include "incident.h"
#include "log.h"
#include "mqtt.h"
#include "spool.h"
#include "store.h"
#include "util.h"

#define RECENT_MAX 65536 /* event keys processed (SQL_LOAD_RECENT's limit too) */

static struct batch *pending_pick(struct engine *e);
static void pending_detach(struct engine *e, struct batch *b);

/* --- recent keys --------------------------------------------------------- */

static bool
recent_has(struct engine *e, const char *key)
{
	return hmap_get(&e->recent, key) != NULL;
}

static void
recent_add(struct engine *e, const char *key)
{
	char *old, *k = xstrdup(key);

	if (e->ring == NULL)
		e->ring = xcalloc(RECENT_MAX, sizeof(char *));
	old = e->ring[e->ring_pos];
	if (old) {
		hmap_del(&e->recent, old);
		free(old);
	}
	e->ring[e->ring_pos] = k;
	e->ring_pos = (e->ring_pos + 1) % RECENT_MAX;
	hmap_put(&e->recent, k, k);
}

void
writer_recent_add(struct engine *e, const char *key)
{
	if (!recent_has(e, key))
		recent_add(e, key);
}

/* Frees the keys of processed events (engine_free). */
void
writer_free(struct engine *e)
{
	size_t i;

	if (e->ring)
		for (i = 0; i < RECENT_MAX; i++)
			free(e->ring[i]);
	free(e->ring);
	hmap_free(&e->recent);
	for (i = 0; i < e->outbox.n; i++)
		pub_free(&e->outbox.v[i]);
	free(e->outbox.v);
}

/* --- publishing ---------------------------------------------------------- */

/* Hands a message to the broker, or keeps it (in order) while the broker
 * is away: it was committed, so it must still go out. Takes p's strings. */
/* The session a message goes out on: an event's ack on the main one, the
 * rest (offers first of all) on the publisher's, so that an offer never
 * waits behind a backlog's acks; the main one while the publisher's is
 * down. NULL while neither is up. */
static struct mqtt *
publish_via(struct engine *e, const struct pub *p)
{
	if (!p->ack && e->mqtt_out && mqtt_connected(e->mqtt_out))
		return e->mqtt_out;
	if (e->mqtt && mqtt_connected(e->mqtt))
		return e->mqtt;
	return NULL;
}

void
publish_now(struct engine *e, struct pub *p)
{
	struct mqtt *m = publish_via(e, p);

	if (m != NULL && e->outbox.n == 0) {
		mqtt_publish(m, p->topic, p->payload, false);
		pub_free(p);
		return;
	}
	VEC_PUSH(e->outbox, *p);
	p->topic = p->payload = NULL;
}

void
outbox_flush(struct engine *e)
{
	struct mqtt *m;
	size_t i, n = 0;

	for (i = 0; i < e->outbox.n; i++) {
		if ((m = publish_via(e, &e->outbox.v[i])) == NULL) {
			e->outbox.v[n++] = e->outbox.v[i]; /* kept, in order */
			continue;
		}
		mqtt_publish(m, e->outbox.v[i].topic, e->outbox.v[i].payload, false);
		pub_free(&e->outbox.v[i]);
	}
	if (n > 0) {
		log_info("event=outbox_flushed messages=%zu kept=%zu", e->outbox.n - n,
			 n);
		e->outbox.n = n;
		return;
	}
	if (e->outbox.n)
		log_info("event=outbox_flushed messages=%zu", e->outbox.n);
	e->outbox.n = 0;
}

/* --- effects --------------------------------------------------------------- */

/* The incident a history row is about: in the world, or (resolved, so
 * already out of it) among the changed ones. */
static const struct incident *
drained_incident(struct engine *e, int64_t id)
{
	const struct incident *inc = world_incident(&e->w, id);
	size_t i;

	for (i = 0; inc == NULL && i < e->w.fx.dirty.n; i++)
		if (e->w.fx.dirty.v[i]->id == id)
			inc = e->w.fx.dirty.v[i];
	return inc;
}

/* Counts what a history row says happened, for /metrics. */
static void
count_history(struct engine *e, const struct hist *h, const struct incident *inc)
{
	struct metrics *m = &e->m;

	if (strcmp(h->what, "offered") == 0)
		m->offers[OM_MADE]++;
	else if (strcmp(h->what, "accepted") == 0) {
		m->offers[OM_ACCEPTED]++;
		if (inc && inc->accepted_at >= inc->opened_at)
			metrics_observe(&m->accept_s, inc->accepted_at - inc->opened_at);
	} else if (strcmp(h->what, "declined") == 0)
		m->offers[OM_DECLINED]++;
	else if (strcmp(h->what, "timeout") == 0)
		m->offers[OM_TIMEOUT]++;
	else if (strcmp(h->what, "escalated") == 0)
		m->escalations++;
}

/* Moves the core's effects into the batch being built (rows to write,
 * messages to send once they are written) and re-arms timers. */
void
engine_drain(struct engine *e)
{
	struct effects *fx = &e->w.fx;
	struct batch *b = e->next;
	char key[48];
	struct pub p;
	size_t i;
	int k;

	effects_settle(&e->w);
	for (i = 0; i < fx->out.n; i++) {
		if (fx->out.v[i].kind == FX_OFFER_WITHDRAWN)
			e->m.offers[OM_CANCELLED]++;
		if (render_effect(e->conf.topic_prefix, &fx->out.v[i], &p) == 0)
			batch_pub(b, &p);
	}
	/* history first: its rows carry the incident as it is now, and a
	 * resolved incident is freed below */
	for (i = 0; i < fx->hist.n; i++) {
		const struct hist *h = &fx->hist.v[i];
		const struct incident *inc = drained_incident(e, h->incident_id);

		count_history(e, h, inc);
		batch_add(b, Q_HIST, store_hist_row(h, inc));
	}
	for (i = 0; i < fx->dirty.n; i++) {
		struct incident *inc = fx->dirty.v[i];

		snprintf(key, sizeof(key), "i%" PRId64, inc->id);
		batch_keyed(b, Q_INC, key, store_incident_row(inc));
		for (k = 0; k < inc->noffers; k++) {
			snprintf(key, sizeof(key), "o%" PRId64 "/%d", inc->id, k);
			batch_keyed(b, Q_OFFERS, key,
				    store_offer_row(inc, &inc->offers[k]));
		}
		inc->dirty = false;
		if (inc->state == INC_RESOLVED) {
			timers_free(e, inc);
			incident_free(inc); /* its rows are serialised above */
		} else {
			timers_arm(e, inc);
		}
	}
	for (i = 0; i < fx->handled.n; i++)
		batch_add(b, Q_HANDLED, store_handled_row(&fx->handled.v[i]));
	for (i = 0; i < fx->visits.n; i++)
		batch_add(b, Q_VISITS, store_visit_row(&fx->visits.v[i]));
	effects_clear(fx);
}

/* --- commit ---------------------------------------------------------------- */

/* Runs the core on the events this commit stored for the first time. A
 * spooled batch has no answer from the database: every event in it counts
 * as new, and the keys this process has already run the core on still
 * keep a redelivered copy from being run twice. */
static void
process_committed(struct engine *e, struct batch *b, PGresult *ins, bool spooled)
{
	char key[2 * ID_MAX + 2];
	double now = engine_now(e);
	struct pub p;
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
	for (i = 0; spooled && i < b->evs.n; i++)
		b->evs.v[i].returned = true;
	for (i = 0; i < b->evs.n; i++) {
		struct pend_ev *pe = &b->evs.v[i];
		struct handled h;
		int64_t inc;

		if (!pe->returned || !pe->process || recent_has(e, pe->key)) {
			render_ack(e->conf.topic_prefix, pe->dev->id, pe->ev.id, 0, &p);
			publish_now(e, &p);
			continue;
		}
		recent_add(e, pe->key);
		inc = incident_on_event(&e->w, pe->dev, &pe->ev, now);
		supervise_after_event(e, pe->dev, &pe->ev, now);
		memset(&h, 0, sizeof(h));
		str_copy(h.device_id, pe->dev->id, sizeof(h.device_id));
		str_copy(h.event_id, pe->ev.id, sizeof(h.event_id));
		h.incident_id = inc;
		VEC_PUSH(e->w.fx.handled, h);
		engine_drain(e);
		/* the ack names the incident, so it waits for the incident's row */
		render_ack(e->conf.topic_prefix, pe->dev->id, pe->ev.id, inc, &p);
		batch_pub(e->next, &p);
	}
}

static void batch_send(struct engine *e);
static void flight_complete(struct engine *e, PGresult *ins, PGresult *hist,
			    bool spooled);

/* --- a batch PostgreSQL rejects -------------------------------------------
 *
 * A batch that fails for something in one of its rows (a constraint, a
 * value out of range) would fail again every time and hold up everything
 * behind it. The failing statement is known from its result; the row is
 * found by bisection over prefixes of that statement's rows: trial runs of
 * the batch up to that statement, each ending in a statement that always
 * fails, so that nothing of a trial is committed. When prefix lo passes and
 * lo + 1 fails, row lo is taken out and kept as a dead letter with the
 * server's SQLSTATE (not its DETAIL, which may quote personal data), and
 * the rest is sent again. Errors that are not about a row (connection,
 * serialisation, resources, a statement the server does not know) keep the
 * old behaviour: retry the whole batch. */

/* ends a trial: 22012 at this statement means every statement before it
 * passed; the failure rolls the trial back */
static const char SQL_TRIAL_END[] = "SELECT 1 / 0 AS carewatch_trial_end";

/* SQLSTATE classes that name a row's data: cardinality (a row touched
 * twice), data exception, integrity constraint, program limit (a row too
 * large), and errors raised by a trigger */
static bool
row_error(const char *st)
{
	static const char *const classes[] = {"21", "22", "23", "54", "P0"};
	size_t i;

	for (i = 0; st != NULL && i < sizeof(classes) / sizeof(classes[0]); i++)
		if (strncmp(st, classes[i], 2) == 0)
			return true;
	return false;
}

/* The index of the statement that failed, with its SQLSTATE; -1 when none
 * did. */
static int
failed_statement(PGresult **res, int n, const char **st)
{
	int i;

	for (i = 0; i < n; i++) {
		if (res[i] != NULL && PQresultStatus(res[i]) == PGRES_FATAL_ERROR) {
			*st = PQresultErrorField(res[i], PG_DIAG_SQLSTATE);
			return i;
		}
	}
	*st = NULL;
	return -1;
}

static void
bisect_end(struct engine *e)
{
	free(e->bis.prefix);
	memset(&e->bis, 0, sizeof(e->bis));
}

/* Gives up the search: the batch is retried whole, as before. */
static void
bisect_abandon(struct engine *e, const char *why)
{
	log_err("event=batch_bisect_abandoned trials=%u reason=\"%s\"", e->bis.trials,
		why);
	bisect_end(e);
	e->flight_failed = true;
	retry_later(e, 1);
}

static void trial_done_cb(void *arg, bool ok, bool lost, PGresult **res, int n,
			  const char *err);

/* Runs the batch's statements up to the failing one, that one with its
 * first len rows, then the statement that rolls it all back. */
static void
trial_send(struct engine *e, size_t len)
{
	struct batch *b = e->flight;
	struct db_query q[DB_QUERY_MAX];
	const char *sql[Q__COUNT], *param[Q__COUNT];
	json_t *rows = b->rows[b->qkind[e->bis.q]], *sub = json_array();
	size_t k;
	int i;

	for (k = 0; k < len; k++)
		json_array_append(sub, json_array_get(rows, k));
	free(e->bis.prefix);
	e->bis.prefix = json_dumps(sub, JSON_COMPACT);
	json_decref(sub);
	if (e->bis.prefix == NULL)
		fatal("event=oom what=bisect");
	memset(q, 0, sizeof(q));
	batch_queries(b, sql, param, Q__COUNT);
	for (i = 0; i <= e->bis.q; i++) {
		q[i].sql = sql[i];
		q[i].nparams = 1;
		q[i].params[0] = i == e->bis.q ? e->bis.prefix : param[i];
	}
	q[i].sql = SQL_TRIAL_END;
	e->bis.trying = len;
	e->bis.trials++;
	if (db_run(e->db, q, e->bis.q + 2, trial_done_cb, e) < 0)
		bisect_abandon(e, "database unavailable");
}

/* Takes row r of the failing statement out of the batch, keeps it as a
 * dead letter, and sends the rest. */
static void
bisect_reject(struct engine *e, size_t r)
{
	struct batch *b = e->flight;
	enum q_kind kind = b->qkind[e->bis.q];
	json_t *rows = b->rows[kind];
	char topic[64], reason[96], *text;

	text = json_dumps(json_array_get(rows, r), JSON_COMPACT);
	snprintf(topic, sizeof(topic), "(batch)/%s", batch_kind_name(kind));
	snprintf(reason, sizeof(reason), "rejected by the database sqlstate=%s",
		 e->bis.sqlstate);
	/* a dead letter the database rejects is only counted and logged */
	if (kind != Q_DEAD && text != NULL)
		batch_add(b, Q_DEAD,
			  store_dead_row(topic, reason, text, strlen(text), now_wall()));
	free(text);
	json_array_remove(rows, r);
	batch_requeue(b);
	e->n_dead++;
	metrics_dead(&e->m, "rejected by the database");
	log_err("event=batch_row_rejected statement=%s row=%zu of=%zu sqlstate=%s "
		"trials=%u",
		batch_kind_name(kind), r, json_array_size(rows) + 1, e->bis.sqlstate,
		e->bis.trials);
	bisect_end(e);
	e->flight_failed = false;
	batch_send(e);
}

static void
trial_done_cb(void *arg, bool ok, bool lost, PGresult **res, int n, const char *err)
{
	struct engine *e = arg;
	const char *st = NULL;
	int at;

	(void)err;
	if (lost) { /* resent whole when the database is back */
		bisect_end(e);
		e->flight_failed = true;
		return;
	}
	at = ok ? -1 : failed_statement(res, n, &st);
	if (at == e->bis.q + 1) { /* the prefix passed */
		if (!e->bis.verified) {
			/* the whole batch passes now: whatever failed is gone */
			bisect_end(e);
			e->flight_failed = false;
			batch_send(e);
			return;
		}
		e->bis.lo = e->bis.trying;
	} else if (at == e->bis.q && row_error(st)) {
		e->bis.verified = true;
		e->bis.hi = e->bis.trying;
		snprintf(e->bis.sqlstate, sizeof(e->bis.sqlstate), "%s", st);
	} else {
		bisect_abandon(e, at < 0 ? "trial did not fail" : "another error");
		return;
	}
	if (e->bis.hi - e->bis.lo > 1)
		trial_send(e, e->bis.lo + (e->bis.hi - e->bis.lo) / 2);
	else
		bisect_reject(e, e->bis.lo);
}

/* Starts the search when the batch failed for a row's sake; false when
 * the failure is of another kind (the caller retries). */
static bool
bisect_start(struct engine *e, PGresult **res, int n, const char *err)
{
	struct batch *b = e->flight;
	const char *st;
	int at = failed_statement(res, n, &st);

	if (at < 0 || at >= b->nq || !row_error(st) || e->bis.on)
		return false;
	memset(&e->bis, 0, sizeof(e->bis));
	e->bis.on = true;
	e->bis.q = at;
	e->bis.hi = json_array_size(b->rows[b->qkind[at]]);
	snprintf(e->bis.sqlstate, sizeof(e->bis.sqlstate), "%s", st);
	log_err("event=batch_rejected statement=%s rows=%zu rows_inbound=%zu "
		"reason=\"%s\" action=bisect",
		batch_kind_name(b->qkind[at]), e->bis.hi, b->inbound, err ? err : "");
	e->flight_failed = false; /* the search owns the batch now */
	trial_send(e, e->bis.hi);
	return true;
}

static void
batch_done_cb(void *arg, bool ok, bool lost, PGresult **res, int n, const char *err)
{
	struct engine *e = arg;
	struct batch *b = e->flight;
	PGresult *ins = NULL, *hist = NULL;
	int q;

	if (!ok) {
		e->m.batch_failures++;
		if (!lost && bisect_start(e, res, n, err))
			return; /* a row of it was rejected: it is being sought */
		e->flight_failed = true;
		log_err("event=batch_failed rows_inbound=%zu lost=%d reason=\"%s\"",
			b->inbound, lost, err ? err : "");
		if (!lost)
			retry_later(e, 1);
		else
			engine_kick(e); /* to the spool, when it takes it */
		return; /* resent when the database is back (or after the pause) */
	}
	for (q = 0; q < b->nq && q < n; q++) {
		if (b->qkind[q] == Q_EVENTS)
			ins = res[q];
		if (b->qkind[q] == Q_HIST)
			hist = res[q];
	}
	flight_complete(e, ins, hist, false);
}

/* The batch in flight is durable: committed (ins and hist are the events'
 * and history's results) or journaled (spooled). What its state changes
 * caused goes out, the core runs on its new events, and the PUBACKs of the
 * messages it carries are released: the one gate, whichever way the batch
 * became durable. */
static void
flight_complete(struct engine *e, PGresult *ins, PGresult *hist, bool spooled)
{
	struct batch *b = e->flight;
	size_t i;

	e->flight = NULL;
	e->flight_failed = false;
	e->n_batches++;
	e->m.batches++;
	e->progress_at = now_mono();
	metrics_observe(&e->m.commit_s, e->progress_at - e->flight_since);
	if (hist != NULL && e->http != NULL)
		http_history_committed(e->http, hist);
	for (i = 0; i < b->pubs.n; i++)
		publish_now(e, &b->pubs.v[i]);
	process_committed(e, b, ins, spooled);
	/* the incident and offer rows of an urgent alarm are next's: they go
	 * out as urgently (the offer is published after their commit) */
	if (b->urgent && batch_has_rows(e->next))
		e->next->urgent = true;
	if (b->urgent && b->pubs.n > 0 && e->mqtt_out &&
	    mqtt_unconfirmed(e->mqtt_out) > 0) {
		struct timeval tv = {0, URGENT_OUT_US};

		e->urgent_out = true;
		evtimer_add(e->urgent_ev, &tv);
	}
	if (e->mqtt)
		mqtt_committed(e->mqtt, b->inbound);
	batch_committed(b, true);
	if (b->replay && e->phase == PH_RUNNING && !e->mqtt_started) {
		engine_mqtt_start(e);
	}
	batch_free(b);
	route_update_hold(e);
	engine_kick(e);
}

/* Sends the batch in flight as one pipelined transaction; when it cannot
 * be sent now it is marked failed, so that the next kick sends it again. */
static void
batch_send(struct engine *e)
{
	struct db_query q[Q__COUNT];
	const char *sql[Q__COUNT], *param[Q__COUNT];
	int i, n;

	memset(q, 0, sizeof(q));
	n = batch_queries(e->flight, sql, param, Q__COUNT);
	for (i = 0; i < n; i++) {
		q[i].sql = sql[i];
		q[i].nparams = 1;
		q[i].params[0] = param[i];
	}
	e->flight_since = now_mono();
	if (db_run(e->db, q, n, batch_done_cb, e) < 0) {
		e->flight_failed = true;
		log_debug("event=batch_deferred reason=db_unavailable");
	}
}

/* --- the database-outage spool ---------------------------------------------
 *
 * While PostgreSQL is unreachable (the session is down: refused, lost, or
 * dropped by db.c when a commit did not answer in time), a batch is made
 * durable in the journal instead: written and fdatasynced by the spool's
 * thread, then completed exactly as a commit completes it (flight_complete:
 * the core runs, offers go out, PUBACKs are released). So alarms are still
 * offered from the in-memory view, and replies and timeouts go on.
 *
 * When the database is back and this daemon holds the writer's lock again,
 * the journal is written back first, record by record in order, each as
 * the transaction it would have been; every statement is idempotent (keys
 * on every row), so a write-back cut short by a crash or a new outage
 * simply starts over. Only then is the journal emptied and the next batch
 * sent to the database. Reading from the broker pauses meanwhile. */

#define SPOOL_WARN_SHARE 0.8 /* near full: logged, and /healthz degraded */

bool
spool_usable(const struct engine *e)
{
	/* not locked while running: the session was dropped (a commit with no
	 * answer) and the old one, frozen, still holds the writer's lock */
	return e->sp != NULL && (e->phase == PH_RUNNING || e->phase == PH_STOPPING) &&
	       (!db_up(e->db) || !e->locked) && !e->spool_stuck && !e->wb_active;
}

static void
spool_done_cb(void *arg, bool ok, const char *err)
{
	struct engine *e = arg;
	uint64_t bytes = spool_bytes(e->sp), max = spool_max(e->sp);

	e->spool_flight = false;
	if (!ok) {
		log_err("event=spool_write_failed reason=\"%s\"", err ? err : "");
		e->spool_stuck = true;
		e->flight_failed = true;
		retry_later(e, 1);
		return;
	}
	e->m.spooled_batches++;
	if (!e->spool_warned && (double)bytes >= SPOOL_WARN_SHARE * (double)max) {
		e->spool_warned = true;
		log_warn("event=spool_near_full bytes=%" PRIu64 " max=%" PRIu64, bytes,
			 max);
	}
	flight_complete(e, NULL, NULL, true);
}

/* Journals the batch in flight. When the journal cannot take it (full, or
 * a write failed before), the batch stays failed and is tried again each
 * second: nothing is acknowledged meanwhile, so the broker keeps the
 * events (back-pressure, never loss). */
static void
spool_batch(struct engine *e)
{
	size_t len;
	char *rec = batch_encode(e->flight, &len);

	if (e->spool_since == 0) {
		e->spool_since = now_mono();
		log_warn("event=spool_on reason=\"database unreachable\" bytes=%" PRIu64,
			 spool_bytes(e->sp));
	}
	if (spool_append(e->sp, rec, len, spool_done_cb, e) < 0) {
		if (!e->spool_full_said)
			log_err("event=spool_full bytes=%" PRIu64 " max=%" PRIu64
				" action=\"not acknowledging\"",
				spool_bytes(e->sp), spool_max(e->sp));
		e->spool_full_said = true;
		e->spool_stuck = true;
		e->flight_failed = true;
		retry_later(e, 1);
		return;
	}
	e->flight_failed = false;
	e->spool_flight = true;
	e->flight_since = now_mono();
}

static void wb_next(struct engine *e);

static void
wb_cleared_cb(void *arg, bool ok, const char *err)
{
	struct engine *e = arg;

	e->wb_active = false;
	if (!ok) {
		log_err("event=spool_clear_failed reason=\"%s\"", err ? err : "");
		e->wb_broken = true;
	} else {
		log_info("event=spool_written_back batches=%lu rejected=%lu ms=%.0f",
			 e->wb_batches, e->wb_rejected,
			 (now_mono() - e->wb_started) * 1000);
		e->m.spool_written_back += e->wb_batches;
	}
	e->spool_since = 0;
	e->spool_stuck = e->spool_warned = e->spool_full_said = false;
	route_update_hold(e);
	if (e->phase == PH_INIT)
		restore_load(e);
	else
		engine_kick(e);
}

/* A journal record the database refuses at write-back is not dropped with
 * the journal: it is appended, with its offset and length, to
 * {[spool] dir}/spool.rejected for an operator. A rare error path, so
 * the few blocking writes stay on the loop. */
static void
wb_keep_rejected(struct engine *e, const char *rec, size_t len)
{
	char path[sizeof(e->conf.spool_dir) + 32], head[96];
	int fd, hl;

	snprintf(path, sizeof(path), "%s/spool.rejected", e->conf.spool_dir);
	hl = snprintf(head, sizeof(head), "record offset=%" PRIu64 " bytes=%zu\n",
		      e->wb_off, len);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, head, (size_t)hl) != hl ||
	    write(fd, rec, len) != (ssize_t)len || write(fd, "\n", 1) != 1 ||
	    fsync(fd) < 0)
		log_err("event=spool_rejected_not_kept reason=\"%s\"", strerror(errno));
	if (fd >= 0)
		close(fd);
}

static void
wb_done_cb(void *arg, bool ok, bool lost, PGresult **res, int n, const char *err)
{
	struct engine *e = arg;

	(void)res;
	(void)n;
	if (!ok && !lost)
		wb_keep_rejected(e, e->wb_rec, e->wb_len);
	free(e->wb_rec);
	e->wb_rec = NULL;
	if (!ok && lost) {
		/* the database went away again: the spool goes on, and the
		 * next write-back starts from the first record */
		log_warn("event=spool_writeback_interrupted written=%lu", e->wb_batches);
		e->wb_active = false;
		route_update_hold(e);
		engine_kick(e);
		return;
	}
	if (!ok) {
		/* kept in spool.rejected (above), never retried forever */
		log_err("event=spool_record_rejected offset=%" PRIu64 " reason=\"%s\" "
			"kept=spool.rejected",
			e->wb_off, err ? err : "");
		e->wb_rejected++;
	} else {
		e->wb_batches++;
	}
	e->wb_off = e->wb_next_off;
	wb_next(e);
}

/* Sends the next record of the journal, or empties it at the end. */
static void
wb_next(struct engine *e)
{
	struct db_query q[Q__COUNT];
	const char *sql[Q__COUNT], *param[Q__COUNT];
	int kind[Q__COUNT], i, n;
	char err[256], *rec;
	size_t len;

	e->wb_next_off = e->wb_off;
	switch (spool_next(e->sp, &e->wb_next_off, &rec, &len, err, sizeof(err))) {
	case 0:
		if (spool_clear(e->sp, wb_cleared_cb, e) < 0)
			wb_cleared_cb(e, false, "the spool is busy");
		return;
	case -1:
		log_err("event=spool_read_failed reason=\"%s\" action=\"journal kept\"",
			err);
		e->wb_active = false;
		e->wb_broken = true;
		route_update_hold(e);
		engine_kick(e);
		return;
	default:
		break;
	}
	if ((n = batch_decode(rec, len, kind, sql, param, Q__COUNT)) < 0) {
		log_err("event=spool_record_rejected offset=%" PRIu64
			" reason=\"not a batch\" kept=spool.rejected",
			e->wb_off);
		wb_keep_rejected(e, rec, len);
		free(rec);
		e->wb_rejected++;
		e->wb_off = e->wb_next_off;
		wb_next(e);
		return;
	}
	memset(q, 0, sizeof(q));
	for (i = 0; i < n; i++) {
		q[i].sql = sql[i];
		q[i].nparams = 1;
		q[i].params[0] = param[i];
	}
	e->wb_rec = rec;
	e->wb_len = len;
	if (n == 0 || db_run(e->db, q, n, wb_done_cb, e) < 0) {
		bool empty = n == 0;

		free(rec);
		e->wb_rec = NULL;
		if (empty) {
			e->wb_off = e->wb_next_off;
			wb_next(e);
			return;
		}
		e->wb_active = false; /* the database is gone again */
		route_update_hold(e);
	}
}

void
writeback_start(struct engine *e)
{
	if (e->wb_active || e->wb_broken || e->sp == NULL)
		return;
	e->wb_active = true;
	e->wb_off = 0;
	e->wb_batches = e->wb_rejected = 0;
	e->wb_started = now_mono();
	log_info("event=spool_writeback bytes=%" PRIu64, spool_bytes(e->sp));
	route_update_hold(e);
	wb_next(e);
}

/* Whether the journal holds records to write back before anything else. */
static bool
writeback_due(const struct engine *e)
{
	return e->sp != NULL && !e->wb_broken && !e->spool_flight &&
	       spool_bytes(e->sp) > 0;
}

/* Sends the batch being built when nothing is in flight, or the failed
 * one again; starts a wanted reload between batches. */
void
engine_kick(struct engine *e)
{
	struct batch *b;
	size_t i;

	if (e->wb_active || e->spool_flight)
		return; /* the write-back or a journal write runs */
	if (e->locked && writeback_due(e)) {
		if (db_idle(e->db))
			writeback_start(e);
		return;
	}
	if (e->flight != NULL && e->flight_failed && !e->bis.on) {
		if (e->spool_stuck && !evtimer_pending(e->retry_ev, NULL))
			e->spool_stuck = false; /* a second has passed: try again */
		if (spool_usable(e)) {
			spool_batch(e);
			return;
		}
	}
	if (!e->locked) {
		if (db_idle(e->db))
			restore_lock(e);
		if (e->flight != NULL || !spool_usable(e))
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
	if (e->reload_wanted && !e->reloading && e->phase == PH_RUNNING && e->locked)
		restore_reload(e);
	b = pending_pick(e);
	if (!batch_has_rows(b)) {
		/* Nothing to store: what is queued may go at once. */
		for (i = 0; i < b->pubs.n; i++)
			publish_now(e, &b->pubs.v[i]);
		if (e->mqtt && b->inbound)
			mqtt_committed(e->mqtt, b->inbound);
		batch_committed(b, true);
		if (b->pubs.n || b->inbound || b != e->next) {
			pending_detach(e, b);
			batch_free(b);
		}
		e->progress_at = now_mono();
		return;
	}
	if (spool_usable(e)) {
		e->flight = b;
		pending_detach(e, b);
		route_update_hold(e);
		spool_batch(e);
		return;
	}
	if (!db_idle(e->db))
		return;
	e->flight = b;
	pending_detach(e, b);
	route_update_hold(e);
	batch_send(e);
}

/* The batch to write next: next while it has rows (alarms, replies, the
 * core's rows, operators' actions), else the oldest bulk batch. next takes
 * the oldest bulk batch along when it can: one transaction for both, as
 * many transactions as without the split (a backlog of heartbeats with an
 * alarm in every hundred would otherwise double them). Not when next is
 * urgent: a life alarm's commit does not wait for 1,000 heartbeats. */
static struct batch *
pending_pick(struct engine *e)
{
	struct batch *b;
	size_t n;

	if (e->nbulk == 0)
		return e->next;
	if (!batch_has_rows(e->next))
		return e->bulk[0];
	b = e->bulk[0];
	n = b->inbound;
	if (!e->next->urgent && e->next->evs.n < (size_t)e->conf.batch_max &&
	    batch_merge(e->next, b)) {
		e->bulk_inbound -= n; /* counted in next now */
		pending_detach(e, b);
		batch_free(b);
	}
	return e->next;
}

/* Takes b (from pending_pick) out of the waiting batches. */
static void
pending_detach(struct engine *e, struct batch *b)
{
	if (b == e->next) {
		e->next = batch_new();
		return;
	}
	e->bulk_inbound -= b->inbound;
	e->nbulk--;
	memmove(&e->bulk[0], &e->bulk[1], e->nbulk * sizeof(*e->bulk));
}

bool
engine_pending(const struct engine *e)
{
	return batch_has_rows(e->next) || e->nbulk > 0;
}

/* Tries the load, the lock or the failed batch again after secs; a lost
 * connection needs no timer: the database's return does it. */
void
retry_later(struct engine *e, double secs)
{
	struct timeval tv = {(long)secs, (long)((secs - (double)(long)secs) * 1e6)};

	evtimer_add(e->retry_ev, &tv);
}
