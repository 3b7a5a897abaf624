/* timers.c - the incidents' deadlines on libevent timers, and whether the
 * daemon makes progress (the watchdog depends on it). */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>

#include "carewatchd.h"
#include "db.h"
#include "health.h"
#include "incident.h"
#include "log.h"
#include "mqtt.h"
#include "supervise.h"
#include "util.h"

struct engine *timers_engine; /* for the incident timer callbacks */

/* Whether offers made now reach responders: stored and sent. */
bool
engine_healthy(const struct engine *e)
{
	bool durable =
	    (db_up(e->db) && e->locked && !e->flight_failed && !e->wb_active) ||
	    spool_usable(e);

	return durable && mqtt_connected(e->mqtt);
}

/* a change of the wall-minus-monotonic offset beyond this is a step; NTP's
 * slewing moves it by at most 0.5 ms per second */
#define CLOCK_STEP_S 1.0

double
engine_now(struct engine *e)
{
	double wall = now_wall(), off = wall - now_mono(), delta = off - e->clock_offset;

	if (e->clock_known && (delta > CLOCK_STEP_S || delta < -CLOCK_STEP_S)) {
		log_warn("event=clock_step delta_s=%.3f", delta);
		e->m.clock_steps++;
		world_shift_deadlines(&e->w, delta);
		if (e->sv != NULL)
			sv_shift(e->sv, delta);
		/* the libevent timers count monotonic time: they stay right */
	}
	e->clock_offset = off;
	e->clock_known = true;
	return wall;
}

static void
incident_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct engine *e = timers_engine;
	struct incident *inc = arg;
	double now = engine_now(e);

	/* While offers can be neither stored nor sent, deadlines must not run
	 * through every candidate unseen: hold the timers, and on recovery give
	 * pending offers a fresh window (persisted like any change). */
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

/* Arms (or clears) the incident's timer for its earliest deadline. */
void
timers_arm(struct engine *e, struct incident *inc)
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
	d = inc->timer_at - engine_now(e);
	if (d < 0)
		d = 0;
	tv.tv_sec = (long)d;
	tv.tv_usec = (long)((d - (double)tv.tv_sec) * 1e6);
	evtimer_add((struct event *)inc->timer, &tv);
}

void
timers_free(struct engine *e, struct incident *inc)
{
	if (inc->timer) {
		event_free((struct event *)inc->timer);
		inc->timer = NULL;
	}
}

/* Why the daemon is stuck, or NULL while it makes progress: something waits
 * to be written while the database is reachable, and nothing has been
 * committed for longer than the commit deadline allows. The watchdog is
 * withheld while this is not NULL, so that systemd restarts a daemon that
 * only looks alive. Logged once per stall. */
const char *
engine_stall_reason(struct engine *e, double now)
{
	struct health_in h;
	const char *why;

	h.now = now;
	h.db_up = db_up(e->db);
	/* a standby waiting for the lock has nothing to write: not stuck */
	h.work_waiting = !engine_standby(e) && (e->flight != NULL || engine_pending(e));
	h.progress_at = e->progress_at;
	h.job_in_flight = db_busy(e->db);
	h.flight_since = e->flight ? e->flight_since : 0;
	h.limit_s = e->conf.commit_timeout_s * 2 + 5;
	why = health_stalled(&h);
	if (!h.work_waiting || !h.db_up)
		e->progress_at = now; /* idle or degraded: not stuck */
	if (why != NULL && !e->stalled) {
		e->stalled = true;
		log_err("event=stalled reason=\"%s\" since_s=%.1f locked=%d "
			"flight=%d failed=%d",
			why, now - e->progress_at, e->locked, e->flight != NULL,
			e->flight_failed);
	} else if (why == NULL && e->stalled) {
		e->stalled = false;
		log_info("event=progress_resumed");
	}
	return why;
}
