/* engine.c - carewatchd's one context: creates the adapters and the
 * modules' shared state, and runs the life cycle (start, reload, stop).
 * The work itself is in route.c, writer.c, timers.c and restore.c. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "carewatchd.h"
#include "db.h"
#include "http.h"
#include "incident.h"
#include "log.h"
#include "mqtt.h"
#include "reader.h"
#include "resolve.h"
#include "skills.h"
#include "spool.h"
#include "util.h"

#define STOP_WAIT_S 10.0

static void
engine_read_done_cb(void *arg)
{
	route_update_hold(arg); /* a backlog may have built up meanwhile */
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

static void
engine_out_connected_cb(void *arg)
{
	outbox_flush(arg); /* what waited for either session */
}

/* The broker confirmed an offer: reading may go on (route_update_hold). */
static void
engine_out_published_cb(void *arg)
{
	struct engine *e = arg;

	if (e->urgent_out)
		route_update_hold(e);
}

/* No PUBACK in time (the broker went away, or is slow): read on anyway. */
static void
urgent_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct engine *e = arg;

	(void)fd;
	(void)what;
	e->urgent_out = false;
	route_update_hold(e);
}

/* Both broker sessions, once the state is loaded (and replayed). */
void
engine_mqtt_start(struct engine *e)
{
	e->mqtt_started = true;
	if (e->mqtt_out)
		mqtt_start(e->mqtt_out);
	mqtt_start(e->mqtt);
}

static void
db_state_cb(void *arg, bool up)
{
	struct engine *e = arg;

	e->locked = false; /* a new session must take the lock again */
	e->locking = false;
	if (up)
		restore_lock(e);
	else
		engine_kick(e); /* what waits goes to the spool */
}

static void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct engine *e = arg;

	if (!e->locked) {
		restore_lock(e);
		engine_kick(e); /* the spool's retry during an outage */
	} else if (e->phase == PH_INIT && db_idle(e->db))
		restore_load(e);
	else
		engine_kick(e);
}

static void
dparams_from_conf(struct dparams *p, const struct conf *c)
{
	char err[256];

	p->offer_timeout_s[0] = p->offer_timeout_s[1] = c->offer_timeout_p1_s;
	p->offer_timeout_s[2] = p->offer_timeout_s[3] = c->offer_timeout_p2_s;
	p->max_offers = c->max_offers;
	p->escalate_after_s = c->escalate_after_s;
	p->volunteer_max_km = c->volunteer_max_km;
	p->retry_s = c->retry_s;
	if (conf_parse_hours(c->night, &p->night_from, &p->night_to) < 0) {
		p->night_from = 23 * 60;
		p->night_to = 5 * 60;
	}
	p->position_max_age_s = c->position_max_age_s;
	/* checked before it gets here (main.c): a refusal keeps no rule */
	if (skills_parse(c->skills, p->skill_of, p->skill_required, err, sizeof(err)))
		log_err("event=bad_config key=dispatch.skills reason=\"%s\"", err);
}

/* The outage journal in [spool] dir (made when missing, mode 0700). Without
 * it the daemon still runs; a database outage then pauses ingest, with
 * nothing lost (the broker keeps the events). */
static void
spool_open(struct engine *e)
{
	uint64_t dropped = 0;
	char err[256];

	if (mkdir(e->conf.spool_dir, 0700) < 0 && errno != EEXIST)
		snprintf(err, sizeof(err), "%s", strerror(errno));
	else
		e->sp = spool_new(e->base, e->conf.spool_dir,
				  (uint64_t)e->conf.spool_max_mb << 20, &dropped, err,
				  sizeof(err));
	if (e->sp == NULL) {
		log_err(
		    "event=spool_unavailable reason=\"%s\" effect=\"a database outage "
		    "pauses ingest\"",
		    err);
		return;
	}
	if (dropped > 0)
		log_warn("event=spool_torn_tail dropped_bytes=%" PRIu64
			 " (never acknowledged)",
			 dropped);
	if (spool_bytes(e->sp) > 0)
		log_warn("event=spool_found bytes=%" PRIu64
			 " action=\"written back before loading\"",
			 spool_bytes(e->sp));
}

struct engine *
engine_new(struct event_base *base, const struct conf *c)
{
	struct engine *e = xcalloc(1, sizeof(*e));
	struct mqtt_cbs cbs = {.message = route_message_cb,
			       .connected = engine_connected_cb,
			       .read_done = engine_read_done_cb};
	struct mqtt_cbs out_cbs = {.connected = engine_out_connected_cb,
				   .published = engine_out_published_cb};
	char setup[256];
	long ms = (long)(c->commit_timeout_s * 1000);

	e->base = base;
	e->conf = *c;
	world_init(&e->w);
	dparams_from_conf(&e->w.p, c);
	hmap_init(&e->recent);
	e->next = batch_new();
	e->retry_ev = evtimer_new(base, retry_cb, e);
	e->urgent_ev = evtimer_new(base, urgent_timeout_cb, e);
	/* A batch that cannot commit in time is cancelled by the server; one
	 * whose server does not answer at all is dropped by db.c. */
	snprintf(setup, sizeof(setup),
		 "SELECT set_config('statement_timeout', '%ld', false), "
		 "set_config('lock_timeout', '%ld', false), "
		 "set_config('application_name', 'carewatchd', false)",
		 ms, ms);
	e->dns = resolver_new(base, c->resolv_conf);
	e->db = db_new(base, c->db_conninfo, e->dns, setup, c->commit_timeout_s + 2,
		       db_state_cb, e);
	e->rd = reader_new(base, c->db_conninfo, e->dns, c->commit_timeout_s * 3);
	spool_open(e);
	e->mqtt = mqtt_new(base, c, e->dns, &cbs, e);
	if (c->publish_session)
		e->mqtt_out = mqtt_new_publisher(base, c, e->dns, &out_cbs, e);
	mqtt_hold(e->mqtt, true);
	e->progress_at = now_mono();
	e->started_at = now_mono();
	metrics_init(&e->m);
	timers_engine = e;
	silence_new(e);
	return e;
}

void
engine_start(struct engine *e)
{
	e->http = http_new(e, e->base, e->conf.http_listen);
	db_start(e->db);
}

void
engine_reload(struct engine *e, const struct conf *c)
{
	char key[64];

	if (conf_needs_restart(&e->conf, c, key, sizeof(key)))
		log_warn("event=reload_partial reason=\"%s changed; restart to apply\"",
			 key);
	conf_apply_reloadable(&e->conf, c);
	dparams_from_conf(&e->w.p, &e->conf);
	log_set_verbose(e->conf.verbose);
	log_info("event=reloaded");
	/* devices, elders and responders imported since start */
	e->reload_wanted = true;
	engine_kick(e);
}

void
engine_after_commit(struct engine *e, commit_fn fn, void *arg)
{
	batch_on_commit(e->next, fn, arg);
	engine_kick(e);
}

static void
stop_check_cb(evutil_socket_t fd, short what, void *arg)
{
	struct engine *e = arg;
	bool idle = e->flight == NULL && !engine_pending(e);

	if (idle || now_mono() >= e->stop_deadline) {
		if (!idle)
			log_warn(
			    "event=stop_timeout unacked=%zu (the broker will redeliver)",
			    mqtt_unacked(e->mqtt));
		engine_kick(e); /* publish what needs no store */
		if (e->mqtt_out)
			mqtt_stop(e->mqtt_out);
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
	e->stop_deadline = now_mono() + STOP_WAIT_S;
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

bool
engine_standby(const struct engine *e)
{
	return e->phase == PH_INIT && !e->locked && e->lock_wait_since > 0;
}

int
engine_exit_status(const struct engine *e)
{
	return e->exit_status;
}

bool
engine_progressing(struct engine *e)
{
	return engine_stall_reason(e, now_mono()) == NULL;
}

void
engine_status(const struct engine *e, char *buf, size_t len)
{
	if (engine_standby(e)) {
		snprintf(buf, len, "standby: another carewatchd holds the database");
		return;
	}
	snprintf(buf, len, "db=%s mqtt=%s open=%zu events=%lu dead=%lu%s",
		 db_up(e->db) ? "up" : "down", mqtt_connected(e->mqtt) ? "up" : "down",
		 e->w.n_open, e->n_events, e->n_dead, e->stalled ? " stalled" : "");
}

void
engine_free(struct engine *e)
{
	struct incident *inc;
	size_t pos = 0;

	if (e == NULL)
		return;
	while ((inc = hmap_next(&e->w.incidents, &pos)) != NULL)
		timers_free(e, inc);
	/* first: it answers the calls that wait; their callbacks below only
	 * free them then */
	http_free(e->http);
	e->http = NULL;
	mqtt_free(e->mqtt_out);
	mqtt_free(e->mqtt);
	reader_free(e->rd);
	db_free(e->db);
	resolver_free(e->dns);
	if (e->flight)
		batch_committed(e->flight, false);
	batch_committed(e->next, false);
	batch_free(e->next);
	for (size_t i = 0; i < e->nbulk; i++) {
		batch_committed(e->bulk[i], false);
		batch_free(e->bulk[i]);
	}
	free(e->bulk);
	batch_free(e->flight);
	if (e->retry_ev)
		event_free(e->retry_ev);
	if (e->urgent_ev)
		event_free(e->urgent_ev);
	if (e->stop_ev)
		event_free(e->stop_ev);
	writer_free(e);
	spool_free(e->sp);
	free(e->wb_rec);
	silence_free(e);
	z2m_free(e);
	world_free(&e->w);
	free(e);
}
