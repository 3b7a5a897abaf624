/* silence.c - device supervision in the daemon: what route.c hears goes to
 * supervise.c, one libevent timer sweeps its heap, and its verdicts become
 * rows, tickets and storm incidents.
 *
 * A device found silent becomes a "device_offline" event of its own with a
 * deterministic id ("offline-" and the silence start in milliseconds),
 * stored and handled like any event: the ticket comes from the usual path,
 * a crash before it is handled replays it, and after a restart the same
 * silence (rebuilt from devices.last_seen, written exactly with the event)
 * gives the same id, so it is inserted once and raises nothing twice. */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carewatchd.h"
#include "incident.h"
#include "log.h"
#include "mqtt.h"
#include "store.h"
#include "supervise.h"
#include "util.h"

#define TICK_S	 0.25 /* how often the heap's top is looked at */
#define SETTLE_S 3.0  /* after the broker session comes up: what it queued arrives */

/* last_seen and status of supervised devices, for the start-up load. */
const char *const SQL_LOAD_SEEN =
    "SELECT id, coalesce(extract(epoch FROM last_seen), 0), coalesce(online, true) "
    "FROM devices WHERE heartbeat_s > 0";

static void
params_from_conf(struct sv_params *p, const struct conf *c)
{
	p->storm_devices = c->storm_devices;
	p->storm_window_s = c->storm_window_s;
}

/* Writes the device's online flag and last_seen with the batch being built
 * (one row per device and batch: the last one wins). */
static void
status_row(struct engine *e, const struct device *d, bool online, double at)
{
	char key[ID_MAX + 2];

	snprintf(key, sizeof(key), "s%s", d->id);
	batch_keyed(e->next, Q_STATUS, key, store_status_row(d->id, online, at));
}

/* Stores the device_offline event of d's silence since since; the core runs
 * on it once it is committed (a ticket for the elder's station). */
static void
raise_offline(struct engine *e, struct device *d, double since, double now)
{
	char key[2 * ID_MAX + 2];
	struct pend_ev pe;

	memset(&pe, 0, sizeof(pe));
	snprintf(pe.ev.id, sizeof(pe.ev.id), "offline-%lld",
		 (long long)llround(since * 1000));
	pe.ev.type = EV_OFFLINE;
	pe.ev.received = now;
	pe.ev.battery = -1;
	status_row(e, d, false, since);
	snprintf(key, sizeof(key), "%s/%s", d->id, pe.ev.id);
	if (hmap_get(&e->next->evkeys, key) != NULL)
		return;
	pe.dev = d;
	pe.key = xstrdup(key);
	pe.process = true;
	batch_add(e->next, Q_EVENTS, store_event_row(d->id, &pe.ev, now, false));
	VEC_PUSH(e->next->evs, pe);
	hmap_put(&e->next->evkeys, pe.key, (void *)(uintptr_t)e->next->evs.n);
	e->m.events[EV_OFFLINE]++;
	log_info("event=device_silent device=%s silent_s=%.1f heartbeat_s=%d", d->id,
		 now - since, d->heartbeat_s);
}

/* Carries out what supervise.c decided. */
static void
apply_verdicts(struct engine *e, double now)
{
	const struct sv_verdict *v;
	struct incident *inc;
	char evid[ID_MAX + 1];
	int64_t opened = 0;
	size_t i, n;

	v = sv_verdicts(e->sv, &n);
	for (i = 0; i < n; i++) {
		int64_t sid = v[i].storm_id ? v[i].storm_id : opened;

		switch (v[i].kind) {
		case SV_RAISE:
			raise_offline(e, v[i].dev, v[i].since, now);
			break;
		case SV_BACK:
			log_info("event=device_back device=%s silent_s=%.1f",
				 v[i].dev->id, now - v[i].since);
			incident_device_back(&e->w, v[i].dev, v[i].since, now);
			break;
		case SV_STORM_OPEN:
			snprintf(evid, sizeof(evid), "storm-%lld",
				 (long long)llround(now * 1000));
			inc = incident_area_open(&e->w, v[i].area, v[i].dev, evid, now);
			opened = inc->id;
			sv_storm_set(e->sv, v[i].area, inc->id);
			break;
		case SV_STORM_JOIN:
			if ((inc = world_incident(&e->w, sid)) == NULL) {
				/* an operator closed the storm: a ticket of its own */
				raise_offline(e, v[i].dev, v[i].since, now);
				break;
			}
			status_row(e, v[i].dev, false, v[i].since);
			if (v[i].quiet) { /* listed before the restart */
				log_info("event=storm_rejoined incident=%" PRId64
					 " device=%s",
					 sid, v[i].dev->id);
				break;
			}
			/* the station hears once of the devices of one sweep */
			incident_area_join(&e->w, inc, v[i].dev, v[i].since,
					   i + 1 == n || v[i + 1].kind != SV_STORM_JOIN,
					   now);
			break;
		case SV_STORM_BACK:
			if ((inc = world_incident(&e->w, sid)) != NULL)
				incident_area_back(&e->w, inc, v[i].dev, now);
			else /* its storm was closed by an operator */
				incident_device_back(&e->w, v[i].dev, v[i].since, now);
			break;
		case SV_STORM_CLEAR:
			log_info("event=storm_over incident=%" PRId64
				 " area=%s listed=%d "
				 "still_silent=%d",
				 sid, v[i].area, v[i].joined, v[i].silent);
			if ((inc = world_incident(&e->w, sid)) != NULL)
				incident_area_clear(&e->w, inc, v[i].silent, v[i].joined,
						    now);
			break;
		}
	}
	sv_verdicts_clear(e->sv);
	engine_drain(e);
}

void
supervise_heard(struct engine *e, struct device *d, double now)
{
	size_t n;

	if (e->sv == NULL || d->sv_slot == 0)
		return;
	if (sv_heard(e->sv, d, true, now) & SV_STORE)
		status_row(e, d, true, now);
	sv_verdicts(e->sv, &n);
	if (n > 0)
		apply_verdicts(e, now);
}

void
supervise_after_event(struct engine *e, struct device *d, const struct devevent *ev,
		      double now)
{
	long long ms = 0;

	if (ev->type != EV_OFFLINE || e->sv == NULL || d->sv_slot == 0 ||
	    sv_silent(e->sv, d))
		return;
	/* heard again while its ticket was being stored: close it now */
	log_info("event=device_back device=%s when=ticket_opened", d->id);
	if (sscanf(ev->id, "offline-%lld", &ms) != 1)
		ms = llround(now * 1000);
	incident_device_back(&e->w, d, (double)ms / 1000.0, now);
}

void
supervise_status(struct engine *e, struct device *d, bool online, double now)
{
	if (e->sv == NULL || d->sv_slot == 0)
		return;
	if (online) {
		supervise_heard(e, d, now);
		return;
	}
	/* route.c wrote last_seen = now; a supervised device's offline keeps
	 * the silence start instead, so that a retained copy received again
	 * (every restart) moves nothing */
	sv_heard(e->sv, d, false, now);
	status_row(e, d, false, sv_since(e->sv, d));
}

static void
silence_params(struct engine *e)
{
	struct sv_params p;

	params_from_conf(&p, &e->conf);
	sv_set_params(e->sv, &p);
}

/* The one timer of supervision. Silence is measured only while the daemon
 * can hear: not while the broker is away, and not before what the session
 * queued has had a moment to arrive. */
static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct engine *e = arg;
	double now = engine_now(e);
	size_t n;

	(void)fd;
	(void)what;
	if (e->phase != PH_RUNNING || !mqtt_connected(e->mqtt)) {
		if (e->sv_up_since > 0)
			e->sv_broker_lost = true;
		e->sv_up_since = 0;
		return;
	}
	if (e->sv_up_since == 0) {
		e->sv_up_since = now;
		if (e->sv_broker_lost) {
			e->sv_broker_lost = false;
			sv_touch_all(e->sv, now);
			log_info("event=supervision_resumed devices=%zu",
				 sv_watched(e->sv));
		}
	}
	if (now - e->sv_up_since < SETTLE_S)
		return;
	silence_params(e); /* a SIGHUP may have changed them */
	sv_sweep(e->sv, now);
	if (!e->sv_checked) {
		/* storms restored at start: are their devices back already? */
		e->sv_checked = true;
		sv_storms_check(e->sv);
	}
	sv_verdicts(e->sv, &n);
	if (n > 0) {
		apply_verdicts(e, now);
		engine_kick(e);
	}
}

void
silence_new(struct engine *e)
{
	struct sv_params p;
	struct timeval tv = {0, (long)(TICK_S * 1e6)};

	params_from_conf(&p, &e->conf);
	e->sv = sv_new(&p);
	e->sv_ev = event_new(e->base, -1, EV_PERSIST, tick_cb, e);
	event_add(e->sv_ev, &tv);
}

void
silence_free(struct engine *e)
{
	if (e->sv_ev)
		event_free(e->sv_ev);
	sv_free(e->sv);
}

void
silence_load(struct engine *e, PGresult *seen)
{
	double now = engine_now(e);
	struct incident *inc;
	struct device *d;
	size_t pos = 0;
	int i;

	for (i = 0; i < PQntuples(seen); i++)
		if ((d = hmap_get(&e->w.devices, PQgetvalue(seen, i, 0))) != NULL)
			sv_watch(e->sv, d, atof(PQgetvalue(seen, i, 1)),
				 PQgetvalue(seen, i, 2)[0] == 't', now);
	/* an open storm stays open; the devices it listed are found silent
	 * again by the first sweep and join it quietly */
	while ((inc = hmap_next(&e->w.incidents, &pos)) != NULL)
		if (inc->kind == INC_TICKET && inc->type == EV_OFFLINE &&
		    inc->elder_id[0] == '\0' && inc->area_code[0])
			sv_storm_restore(e->sv, inc->area_code, inc->id,
					 inc->alarm_count);
	log_info("event=supervision_loaded devices=%zu bytes=%zu", sv_watched(e->sv),
		 sv_bytes(e->sv));
}

void
silence_sync(struct engine *e)
{
	double now = engine_now(e);
	struct device *d;
	size_t pos = 0;

	while ((d = hmap_next(&e->w.devices, &pos)) != NULL)
		if (d->heartbeat_s > 0)
			sv_watch(e->sv, d, 0, true, now); /* new ones only */
}
