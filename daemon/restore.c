/* restore.c - the world from PostgreSQL: the single-writer lock, the load
 * at start (one snapshot), the replay of events stored but not handled,
 * and the reload of reference data on SIGHUP (on the read connection, so
 * that it never holds up a commit). */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carewatchd.h"
#include "db.h"
#include "incident.h"
#include "log.h"
#include "mqtt.h"
#include "reader.h"
#include "store.h"
#include "spool.h"
#include "util.h"

#define LOCK_POLL_S 0.5

/* --- the single-writer lock -------------------------------------------- */

/* This daemon loaded (it may have run the core on replayed events and
 * read from the broker), lost its database session, and another session now
 * holds the lock: not its own old backend, still frozen (that one is
 * waited out), but another carewatchd that took over. Going on would mean
 * two daemons taking the broker's persistent session (one client id) from
 * each other in turn. So it stops reading at once, leaves unacknowledged
 * what it has not made durable (the broker gives that to the new writer),
 * and exits non-zero: systemd starts it again, as the standby. A journal
 * it wrote during the outage stays in the spool and is written back when
 * this node holds the lock again. */
static void
lock_lost(struct engine *e, long holder)
{
	log_err("event=lock_lost holder_pid=%ld spool_bytes=%" PRIu64
		" unacked=%zu (another daemon is the writer: exiting)",
		holder, e->sp ? spool_bytes(e->sp) : 0, mqtt_unacked(e->mqtt));
	if (e->phase != PH_STOPPING) /* else a stop was asked for anyway */
		e->exit_status = 1;
	e->phase = PH_STOPPING;
	mqtt_hold(e->mqtt, true);
	mqtt_stop(e->mqtt);
	event_base_loopexit(e->base, NULL);
}

static void
lock_done_cb(void *arg, bool ok, bool lost, PGresult **res, int n, const char *err)
{
	struct engine *e = arg;
	double now = engine_now(e);
	long holder;

	e->locking = false;
	if (!ok) {
		log_err("event=db_lock_failed reason=\"%s\"", err ? err : "");
		if (!lost)
			retry_later(e, 2);
		return;
	}
	if (PQgetvalue(res[0], 0, 0)[0] != 't') {
		holder = strtol(PQgetvalue(res[0], 0, 1), NULL, 10);
		if (e->phase != PH_INIT && holder != 0 && holder != e->lock_pid) {
			lock_lost(e, holder);
			return;
		}
		/* Another session holds it: a daemon killed a moment ago whose
		 * backend still finishes its last batch, or a second daemon.
		 * Asked again shortly; never a wait inside PostgreSQL, so the
		 * connection stays free and a stall stays visible. */
		if (e->lock_wait_since == 0)
			e->lock_wait_since = e->lock_logged_at = now;
		if (now >= e->lock_logged_at) { /* at first, then every 30 s */
			e->lock_logged_at = now + 30;
			log_warn("event=db_lock_wait holder_pid=%s waited_s=%.0f",
				 PQgetvalue(res[0], 0, 1), now - e->lock_wait_since);
		}
		retry_later(e, LOCK_POLL_S);
		return;
	}
	e->locked = true;
	e->lock_wait_since = 0;
	e->lock_pid = strtol(PQgetvalue(res[0], 0, 2), NULL, 10);
	log_info("event=db_locked");
	/* a journal left by a crash during an outage is written back before
	 * anything is loaded (writeback_start loads at its end) */
	if (e->phase == PH_INIT && e->sp != NULL && spool_bytes(e->sp) > 0 &&
	    !e->wb_broken)
		writeback_start(e);
	else if (e->phase == PH_INIT)
		restore_load(e);
	else
		engine_kick(e);
}

/* Takes the session-level advisory lock that makes this daemon the only
 * writer of the database. Loading only once it is ours means loading only
 * after a dead predecessor's last batch is committed or gone. */
void
restore_lock(struct engine *e)
{
	static const struct db_query q = {
	    .sql = "SELECT pg_try_advisory_lock(hashtext('carewatchd')), "
		   "coalesce((SELECT string_agg(pid::text, ',') FROM pg_locks "
		   "WHERE locktype = 'advisory' AND granted "
		   "AND objid = hashtext('carewatchd')::oid), ''), pg_backend_pid()"};

	if (e->locking || e->locked || evtimer_pending(e->retry_ev, NULL))
		return;
	if (db_run(e->db, &q, 1, lock_done_cb, e) == 0)
		e->locking = true;
}

/* --- start-up load and replay ------------------------------------------ */

/* Applies elders, devices, stations and volunteers (res[0..3], in the
 * order of the load and the reload) and rebuilds the dispatch index. */
static void
load_reference(struct engine *e, PGresult **res)
{
	store_load_elders(&e->w, res[0]);
	store_load_devices(&e->w, res[1]);
	store_load_responders(&e->w, res[2], res[3]);
	world_index(&e->w);
	z2m_index(e);
}

static void
restore_incidents(struct engine *e, PGresult *ri, PGresult *ro)
{
	struct incident **list;
	int i, n;

	list = store_load_incidents(ri, ro, &n);
	for (i = 0; i < n; i++) {
		incident_restore(&e->w, list[i]);
		timers_arm(e, list[i]);
		/* the first copy of a pending offer may have died with us */
		incident_republish(&e->w, list[i], engine_now(e));
	}
	free(list);
}

/* The event keys earlier processes ran the core on (SQL_LOAD_RECENT, newest
 * first): noted oldest first, so that the newest stay longest. */
static void
restore_recent(struct engine *e, PGresult *r)
{
	int i;

	for (i = PQntuples(r) - 1; i >= 0; i--)
		writer_recent_add(e, PQgetvalue(r, i, 0));
	log_info("event=recent_loaded keys=%d", PQntuples(r));
}

/* Runs the core on events stored but not handled before the last stop,
 * as of when they were received. */
static size_t
replay_unhandled(struct engine *e, PGresult *r)
{
	char key[2 * ID_MAX + 2];
	size_t n = 0;
	int i;

	for (i = 0; i < PQntuples(r); i++) {
		struct devevent ev;
		struct handled h;
		struct device *d;

		memset(&h, 0, sizeof(h));
		if (store_unhandled_event(r, i, h.device_id, sizeof(h.device_id), &ev) ==
			0 &&
		    (d = hmap_get(&e->w.devices, h.device_id)) != NULL)
			h.incident_id = incident_on_event(&e->w, d, &ev, engine_now(e));
		str_copy(h.event_id, ev.id, sizeof(h.event_id));
		VEC_PUSH(e->w.fx.handled, h);
		/* run here, by this process: a copy must not run it again */
		snprintf(key, sizeof(key), "%s/%s", h.device_id, ev.id);
		writer_recent_add(e, key);
		n++;
	}
	engine_drain(e);
	return n;
}

static void
load_done_cb(void *arg, bool ok, bool lost, PGresult **res, int n, const char *err)
{
	struct engine *e = arg;
	double t0 = now_mono();
	size_t replayed;
	int64_t maxid;

	if (!ok) {
		log_err("event=load_failed reason=\"%s\"", err ? err : "");
		e->phase = PH_INIT; /* tried again when the database is up */
		if (!lost)
			retry_later(e, 2);
		return;
	}
	load_reference(e, res + 1);
	maxid = strtoll(PQgetvalue(res[7], 0, 0), NULL, 10);
	if (maxid + 1 > e->w.next_incident_id)
		e->w.next_incident_id = maxid + 1;
	restore_incidents(e, res[5], res[6]);
	silence_load(e, res[9]);
	z2m_load_states(e, res[10]);
	restore_recent(e, res[11]);
	if (e->phase == PH_STOPPING) {
		engine_kick(e);
		return;
	}
	e->phase = PH_RUNNING;
	replayed = replay_unhandled(e, res[8]);
	log_info("event=loaded elders=%zu devices=%zu responders=%zu incidents_open=%zu "
		 "replayed=%zu ms=%.1f",
		 e->w.elders.len, e->w.devices.len, e->w.responders.len, e->w.n_open,
		 replayed, (now_mono() - t0) * 1000);
	route_update_hold(e);
	if (batch_has_rows(e->next)) {
		e->next->replay = true; /* the broker waits for this commit */
	} else {
		engine_mqtt_start(e);
	}
	engine_kick(e);
}

/* Loads everything in one snapshot, not one per statement. */
void
restore_load(struct engine *e)
{
	static const char *const *const sql[] = {
	    &SQL_LOAD_ELDERS,	  &SQL_LOAD_DEVICES,   &SQL_LOAD_STATIONS,
	    &SQL_LOAD_VOLUNTEERS, &SQL_LOAD_INCIDENTS, &SQL_LOAD_OFFERS,
	    &SQL_LOAD_MAXID,	  &SQL_LOAD_UNHANDLED, &SQL_LOAD_SEEN,
	    &SQL_LOAD_Z2M,	  &SQL_LOAD_RECENT,
	};
	enum { NSQL = sizeof(sql) / sizeof(sql[0]) };
	struct db_query q[NSQL + 2];
	int i;

	memset(q, 0, sizeof(q));
	q[0].sql = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
	for (i = 0; i < NSQL; i++)
		q[i + 1].sql = *sql[i];
	q[NSQL + 1].sql = "COMMIT";
	e->phase = PH_LOADING;
	if (db_run(e->db, q, NSQL + 2, load_done_cb, e) < 0)
		e->phase = PH_INIT;
}

/* --- reload ------------------------------------------------------------ */

static void
reload_done_cb(void *arg, bool ok, bool lost, PGresult **res, int n, const char *err)
{
	struct engine *e = arg;

	e->reloading = false;
	if (!ok) {
		log_err("event=reference_reload_failed reason=\"%s\"", err ? err : "");
		e->reload_wanted = true; /* asked again at the next kick */
		retry_later(e, 2);
		return;
	}
	load_reference(e, res + 1);
	silence_sync(e);
	log_info("event=reference_reloaded elders=%zu devices=%zu responders=%zu",
		 e->w.elders.len, e->w.devices.len, e->w.responders.len);
	engine_kick(e);
}

/* Re-reads elders, devices, stations and volunteers (SIGHUP) in one
 * snapshot on the read connection; applied in place when it answers. */
bool
restore_reload(struct engine *e)
{
	struct db_query q[6];

	memset(q, 0, sizeof(q));
	q[0].sql = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
	q[1].sql = SQL_LOAD_ELDERS;
	q[2].sql = SQL_LOAD_DEVICES;
	q[3].sql = SQL_LOAD_STATIONS;
	q[4].sql = SQL_LOAD_VOLUNTEERS;
	q[5].sql = "COMMIT";
	if (reader_query(e->rd, q, 6, reload_done_cb, e) < 0)
		return false;
	e->reload_wanted = false;
	e->reloading = true;
	return true;
}
