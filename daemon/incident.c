/* incident.c - what happens to an alarm, from open to resolved */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "csv.h"
#include "dispatch.h"
#include "geo.h"
#include "incident.h"
#include "log.h"
#include "util.h"

static const char *const state_names[] = {"open", "offered", "accepted", "on_site",
					  "resolved"};
static const char *const answer_names[] = {"pending", "accepted", "declined", "timeout",
					   "cancelled"};

const char *
inc_state_name(enum inc_state s)
{
	return state_names[s];
}

int
inc_state_parse(const char *s)
{
	int i;

	for (i = 0; i <= INC_RESOLVED; i++)
		if (strcmp(s, state_names[i]) == 0)
			return i;
	return -1;
}

const char *
answer_name(enum offer_answer a)
{
	return answer_names[a];
}

int
answer_parse(const char *s)
{
	int i;

	for (i = 0; i <= ANS_CANCELLED; i++)
		if (strcmp(s, answer_names[i]) == 0)
			return i;
	return -1;
}

void
world_init(struct world *w)
{
	memset(w, 0, sizeof(*w));
	hmap_init(&w->elders);
	hmap_init(&w->devices);
	hmap_init(&w->responders);
	hmap_init(&w->incidents);
	hmap_init(&w->owntracks);
	w->next_incident_id = 1000;
}

static void
elder_free(struct elder *e)
{
	free(e->name);
	free(e->address);
	free(e->phone);
	free(e->notes);
	free(e->contacts);
	free(e);
}

void
world_free(struct world *w)
{
	size_t pos = 0;
	void *v;

	while ((v = hmap_next(&w->incidents, &pos)) != NULL)
		incident_free(v);
	pos = 0;
	while ((v = hmap_next(&w->elders, &pos)) != NULL)
		elder_free(v);
	pos = 0;
	while ((v = hmap_next(&w->devices, &pos)) != NULL) {
		free(((struct device *)v)->z2m_name);
		free(v);
	}
	pos = 0;
	while ((v = hmap_next(&w->responders, &pos)) != NULL)
		free(v);
	hmap_free(&w->incidents);
	hmap_free(&w->elders);
	hmap_free(&w->devices);
	hmap_free(&w->responders);
	hmap_free(&w->owntracks);
	dindex_free(w->index);
	effects_clear(&w->fx);
	free(w->fx.dirty.v);
	free(w->fx.hist.v);
	free(w->fx.out.v);
	free(w->fx.handled.v);
	free(w->fx.visits.v);
}

void
world_index(struct world *w)
{
	struct responder **list;
	size_t pos = 0, n = 0;
	struct responder *r;

	list = xcalloc(w->responders.len + 1, sizeof(*list));
	hmap_free(&w->owntracks);
	hmap_init(&w->owntracks);
	while ((r = hmap_next(&w->responders, &pos)) != NULL) {
		list[n++] = r;
		if (r->kind == RESP_VOLUNTEER && r->owntracks_user[0])
			hmap_put(&w->owntracks, r->owntracks_user, r);
	}
	dindex_free(w->index);
	w->index = dindex_build(list, n);
	free(list);
}

struct incident *
world_incident(const struct world *w, int64_t id)
{
	char key[24];

	snprintf(key, sizeof(key), "%" PRId64, id);
	return hmap_get(&w->incidents, key);
}

struct incident *
incident_new(void)
{
	struct incident *inc = xcalloc(1, sizeof(*inc));

	inc->pending_offer = -1;
	return inc;
}

void
incident_free(struct incident *inc)
{
	free(inc->offers);
	free(inc);
}

void
effects_clear(struct effects *fx)
{
	size_t i;

	for (i = 0; i < fx->hist.n; i++)
		free(fx->hist.v[i].detail);
	fx->dirty.n = fx->hist.n = fx->out.n = fx->handled.n = fx->visits.n = 0;
}

/* --- effects -------------------------------------------------------------- */

static void
mark_dirty(struct world *w, struct incident *inc)
{
	if (!inc->dirty) {
		inc->dirty = true;
		VEC_PUSH(w->fx.dirty, inc);
	}
}

static void history(struct world *w, struct incident *inc, double at, const char *what,
		    const char *actor, const char *fmt, ...) CW_PRINTF(6, 7);

/* Appends one line of incident history (persisted with the incident). */
static void
history(struct world *w, struct incident *inc, double at, const char *what,
	const char *actor, const char *fmt, ...)
{
	struct hist h;
	char buf[NOTE_MAX + 512]; /* a whole note with the rest of the line */
	va_list ap;

	memset(&h, 0, sizeof(h));
	h.incident_id = inc->id;
	h.at = at;
	str_copy(h.what, what, sizeof(h.what));
	str_copy(h.actor, actor ? actor : "", sizeof(h.actor));
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(buf, sizeof(buf), fmt, ap);
		va_end(ap);
		h.detail = xstrdup(buf);
	}
	VEC_PUSH(w->fx.hist, h);
	mark_dirty(w, inc);
}

/* Starts an effect about inc, addressed to to. */
static struct effect *
effect_add(struct world *w, enum fx_kind kind, const struct incident *inc, const char *to)
{
	struct effect fx;

	memset(&fx, 0, sizeof(fx));
	fx.kind = kind;
	fx.incident_id = inc->id;
	str_copy(fx.to, to ? to : "", sizeof(fx.to));
	fx.priority = inc->priority;
	fx.type = inc->type;
	fx.state = inc->state;
	fx.escalated = inc->escalated;
	fx.acked = inc->acked_by[0] != '\0';
	str_copy(fx.alarm, inc->alarm_event, sizeof(fx.alarm));
	fx.elder = inc->elder;
	VEC_PUSH(w->fx.out, fx);
	return &w->fx.out.v[w->fx.out.n - 1];
}

void
effects_settle(struct world *w)
{
	size_t i;

	for (i = 0; i < w->fx.dirty.n; i++)
		effect_add(w, FX_CHANGED, w->fx.dirty.v[i], NULL);
}

/* The earliest of the incident's deadlines (offer answer, retry,
 * escalation), or 0 when nothing is timed. */
static double
incident_deadline(const struct incident *inc)
{
	double t = 0;

	if (inc->state == INC_RESOLVED || inc->kind == INC_TICKET)
		return 0;
	if (inc->pending_offer >= 0)
		t = inc->offers[inc->pending_offer].deadline;
	else if (inc->retry_at > 0 && inc->state == INC_OPEN)
		t = inc->retry_at;
	if (!inc->escalated && inc->escalate_at > 0 &&
	    (inc->state == INC_OPEN || inc->state == INC_OFFERED) &&
	    (t == 0 || inc->escalate_at < t))
		t = inc->escalate_at;
	return t;
}

/* Sets the incident's timer to the earliest of its deadlines. */
static void
incident_timer(struct world *w, struct incident *inc)
{
	inc->timer_at = incident_deadline(inc);
	mark_dirty(w, inc);
}

/* --- offers --------------------------------------------------------------- */

static void
publish_offer(struct world *w, struct incident *inc, const struct offer *of)
{
	struct effect *fx = effect_add(w, FX_OFFER, inc, of->responder_id);

	fx->offer_seq = of->seq;
	fx->respond_within_s = (int)ceil(of->deadline - of->offered_at);
	fx->distance_m = of->distance_m;
	fx->forced = of->forced;
}

/* Tells a station about an incident it is not asked to take (information). */
static void
publish_info(struct world *w, struct incident *inc, const char *station_id,
	     const char *why)
{
	struct effect *fx = effect_add(w, FX_INFO, inc, station_id);

	str_copy(fx->reason, why, sizeof(fx->reason));
}

/* A maintenance ticket (or a new alarm on it) for the elder's station. */
static void
publish_ticket(struct world *w, struct incident *inc, const struct device *d,
	       const struct devevent *ev)
{
	struct effect *fx = effect_add(w, FX_TICKET, inc, inc->station_id);

	str_copy(fx->device, d->id, sizeof(fx->device));
	fx->event_type = ev->type;
	fx->alarm_count = inc->alarm_count;
}

struct cand_ctx {
	const struct world *w;
	unsigned gen;
	int minute;
	unsigned skill; /* the skill bit a candidate must have; 0 = any */
};

/* Whether a responder may be offered an incident now (SPEC §4 candidates). */
static bool
cand_ok(const struct responder *r, double dist_m, void *arg)
{
	const struct cand_ctx *c = arg;
	double max_km;

	if (r->mark == c->gen || r->pending > 0)
		return false;
	if (c->skill && !(r->skills & c->skill))
		return false;
	if (r->kind == RESP_STATION) {
		if (!r->active || !conf_in_hours(r->duty_from, r->duty_to, c->minute))
			return false;
		return r->holding + r->pending < r->capacity;
	}
	if (!r->active || r->holding > 0)
		return false;
	max_km = r->max_km > 0 ? r->max_km : c->w->p.volunteer_max_km;
	return dist_m <= max_km * 1000.0;
}

/* Whether r cannot take one more incident now: a volunteer who holds or is
 * being offered one, a station at capacity or off duty. */
static bool
responder_busy(const struct world *w, const struct responder *r, double now)
{
	struct localtime_cw lt;

	(void)w;
	if (r->kind == RESP_VOLUNTEER)
		return r->holding > 0 || r->pending > 0;
	local_time(now, &lt);
	return !conf_in_hours(r->duty_from, r->duty_to, lt.minute) ||
	       r->holding + r->pending >= r->capacity;
}

static int
cand_cmp(const void *a, const void *b)
{
	const struct candidate *x = a, *y = b;

	if (x->distance_m != y->distance_m)
		return x->distance_m < y->distance_m ? -1 : 1;
	return strcmp(x->r->id, y->r->id);
}

size_t
world_candidates(const struct world *w, double lat, double lon, double now,
		 struct candidate *out, size_t max)
{
	const struct responder *r;
	struct candidate c;
	size_t pos = 0, n = 0, i, far;
	double rlat, rlon;

	if (max == 0)
		return 0;
	while ((r = hmap_next(&w->responders, &pos)) != NULL) {
		if (!r->active)
			continue;
		c.r = r;
		responder_position(r, now - w->p.position_max_age_s, &rlat, &rlon);
		c.distance_m = (int)(geo_distance_m(lat, lon, rlat, rlon) + 0.5);
		c.busy = responder_busy(w, r, now);
		if (n < max) {
			out[n++] = c;
			continue;
		}
		/* keep the max nearest: replace the farthest kept */
		far = 0;
		for (i = 1; i < n; i++)
			if (cand_cmp(&out[i], &out[far]) > 0)
				far = i;
		if (cand_cmp(&c, &out[far]) < 0)
			out[far] = c;
	}
	qsort(out, n, sizeof(*out), cand_cmp);
	return n;
}

/* How a responder came to be offered an incident. */
enum offer_how {
	OFFER_RANKED,	  /* the nearest available candidate */
	OFFER_ESCALATION, /* the elder's station, regardless of capacity */
	OFFER_MANUAL,	  /* an operator's choice, regardless of rank and distance */
};

/* Makes the offer to r (the pending one from now on) and announces it. Only
 * ranked offers count towards max_offers (see offers_made). */
static struct offer *
offer_add(struct world *w, struct incident *inc, struct responder *r, double dist_m,
	  double now, enum offer_how how)
{
	struct offer *of;
	bool forced = how != OFFER_RANKED;

	if (inc->noffers == inc->offers_cap) {
		inc->offers_cap = inc->offers_cap ? inc->offers_cap * 2 : 4;
		inc->offers =
		    xrealloc(inc->offers, (size_t)inc->offers_cap * sizeof(*of));
	}
	of = &inc->offers[inc->noffers];
	memset(of, 0, sizeof(*of));
	of->seq = inc->noffers + 1;
	str_copy(of->responder_id, r->id, sizeof(of->responder_id));
	of->rkind = r->kind;
	of->distance_m = (int)lround(dist_m);
	of->offered_at = now;
	of->deadline = now + w->p.offer_timeout_s[inc->priority <= 1 ? 1 : 2];
	of->answer = ANS_PENDING;
	of->forced = forced;
	of->manual = how == OFFER_MANUAL;
	inc->pending_offer = inc->noffers++;
	r->pending++;
	inc->state = INC_OFFERED;
	inc->retry_at = 0;
	history(w, inc, now, "offered", r->id, "offer=%d distance_m=%d%s%s", of->seq,
		of->distance_m, forced ? " forced=1" : "", of->manual ? " manual=1" : "");
	publish_offer(w, inc, of);
	log_info("event=offer incident=%" PRId64 " offer=%d responder=%s distance_m=%d "
		 "priority=%d%s%s",
		 inc->id, of->seq, r->id, of->distance_m, inc->priority,
		 forced ? " forced=1" : "", of->manual ? " manual=1" : "");
	return of;
}

/* Closes the pending offer with answer a (its responder is free again). */
static void
offer_close(struct world *w, struct incident *inc, enum offer_answer a, double now)
{
	struct offer *of;
	struct responder *r;

	if (inc->pending_offer < 0)
		return;
	of = &inc->offers[inc->pending_offer];
	of->answer = a;
	of->answered_at = now;
	inc->pending_offer = -1;
	if (a == ANS_CANCELLED) /* the responder must not set out for it */
		effect_add(w, FX_OFFER_WITHDRAWN, inc, of->responder_id)->offer_seq =
		    of->seq;
	if ((r = hmap_get(&w->responders, of->responder_id)) != NULL && r->pending > 0)
		r->pending--;
	if (a == ANS_ACCEPTED && r != NULL)
		r->holding++;
	if (inc->state == INC_OFFERED)
		inc->state = INC_OPEN;
	mark_dirty(w, inc);
}

static int
offers_made(const struct incident *inc)
{
	int i, n = 0;

	for (i = 0; i < inc->noffers; i++)
		if (!inc->offers[i].forced)
			n++;
	return n;
}

static void incident_escalate(struct world *w, struct incident *inc, double now,
			      const char *why);

/* The nearest candidate for inc, those with the skill its type wants first
 * (SPEC §4): where the skill is only preferred, anyone else after them. */
static struct responder *
dispatch_pick(struct world *w, const struct incident *inc, struct cand_ctx *c, double now,
	      double *dist)
{
	struct responder *r;

	dindex_set_fresh_after(w->index, now - w->p.position_max_age_s);
	c->skill = w->p.skill_of[inc->type];
	r = dindex_nearest(w->index, inc->elder->lat, inc->elder->lon, cand_ok, c, dist);
	if (r == NULL && c->skill && !w->p.skill_required[inc->type]) {
		c->skill = 0;
		r = dindex_nearest(w->index, inc->elder->lat, inc->elder->lon, cand_ok, c,
				   dist);
	}
	return r;
}

/* Great-circle metres from the elder's home to where r is ranked from. */
static double
responder_distance(const struct world *w, const struct elder *e,
		   const struct responder *r, double now)
{
	double lat, lon;

	responder_position(r, now - w->p.position_max_age_s, &lat, &lon);
	return geo_distance_m(e->lat, e->lon, lat, lon);
}

/* Offers the incident to the nearest available responder not yet asked. */
static void
dispatch_next(struct world *w, struct incident *inc, double now)
{
	struct localtime_cw lt;
	struct cand_ctx c;
	struct responder *r;
	double dist = 0;
	int i;

	if (inc->kind != INC_ALARM || inc->state != INC_OPEN || inc->pending_offer >= 0)
		return;
	if (!inc->escalated && offers_made(inc) >= w->p.max_offers) {
		incident_escalate(w, inc, now, "max_offers");
		if (inc->pending_offer >= 0)
			return;
	}
	if (inc->elder == NULL) {
		/* no longer an active elder: nowhere to send anyone; try later */
		inc->retry_at = now + w->p.retry_s;
		log_err("event=incident_without_elder incident=%" PRId64 " elder=%s",
			inc->id, inc->elder_id);
		incident_timer(w, inc);
		return;
	}
	local_time(now, &lt);
	c.w = w;
	c.gen = ++w->mark_gen;
	c.minute = lt.minute;
	for (i = 0; i < inc->noffers; i++) {
		struct responder *o =
		    hmap_get(&w->responders, inc->offers[i].responder_id);

		if (o)
			o->mark = c.gen;
	}
	r = dispatch_pick(w, inc, &c, now, &dist);
	if (r == NULL && inc->escalated) {
		/* Everyone near has been asked once and nobody took it: ask
		 * again, sparing only those who answered within retry_s. */
		c.gen = ++w->mark_gen;
		for (i = 0; i < inc->noffers; i++) {
			struct offer *of = &inc->offers[i];
			struct responder *o = hmap_get(&w->responders, of->responder_id);

			if (o && of->answered_at > now - w->p.retry_s)
				o->mark = c.gen;
		}
		r = dispatch_pick(w, inc, &c, now, &dist);
	}
	if (r == NULL) {
		inc->retry_at = now + w->p.retry_s;
		history(w, inc, now, "no_candidate", NULL, "retry_in_s=%.1f",
			w->p.retry_s);
		log_warn("event=no_candidate incident=%" PRId64 " priority=%d", inc->id,
			 inc->priority);
		incident_timer(w, inc);
		return;
	}
	offer_add(w, inc, r, dist, now, OFFER_RANKED);
	incident_timer(w, inc);
}

/* Escalation (SPEC §4): alert the county center(s), and offer the elder's own
 * station regardless of its capacity. */
static void
incident_escalate(struct world *w, struct incident *inc, double now, const char *why)
{
	struct responder *r, *st = NULL;
	size_t pos = 0;

	if (inc->escalated)
		return;
	inc->escalated = true;
	inc->escalated_at = now;
	history(w, inc, now, "escalated", NULL, "reason=%s", why);
	log_warn("event=escalated incident=%" PRId64 " priority=%d reason=%s", inc->id,
		 inc->priority, why);
	while ((r = hmap_next(&w->responders, &pos)) != NULL)
		if (r->kind == RESP_STATION &&
		    strcmp(r->station_kind, "county_center") == 0)
			publish_info(w, inc, r->id, "escalated");
	if (inc->elder && inc->elder->station_id[0])
		st = hmap_get(&w->responders, inc->elder->station_id);
	if (st != NULL && st->active) {
		if (inc->pending_offer >= 0 &&
		    strcmp(inc->offers[inc->pending_offer].responder_id, st->id) == 0)
			return; /* already asked: let that offer run */
		offer_close(w, inc, ANS_CANCELLED, now);
		offer_add(w, inc, st, responder_distance(w, inc->elder, st, now), now,
			  OFFER_ESCALATION);
	}
	incident_timer(w, inc);
}

/* --- events ------------------------------------------------------------- */

/* True when station code a lies in area b's prefix of n digits. */
static bool
same_area(const char *a, const char *b, size_t n)
{
	return strlen(a) >= n && strlen(b) >= n && strncmp(a, b, n) == 0;
}

const struct responder *
ticket_station(const struct world *w, const struct elder *e)
{
	const struct responder *r, *regional = NULL, *county = NULL, *any = NULL;
	size_t pos = 0;

	if (e->station_id[0] && (r = hmap_get(&w->responders, e->station_id)) != NULL &&
	    r->kind == RESP_STATION)
		return r;
	/* the township's regional center, else the county's center, else
	 * any county center: a ticket always has a station to hold it */
	while ((r = hmap_next(&w->responders, &pos)) != NULL) {
		if (r->kind != RESP_STATION)
			continue;
		if (strcmp(r->station_kind, "regional_center") == 0 &&
		    same_area(r->area_code, e->area_code, 9) &&
		    (regional == NULL || strcmp(r->id, regional->id) < 0))
			regional = r;
		if (strcmp(r->station_kind, "county_center") == 0) {
			if (same_area(r->area_code, e->area_code, 6) &&
			    (county == NULL || strcmp(r->id, county->id) < 0))
				county = r;
			if (any == NULL || strcmp(r->id, any->id) < 0)
				any = r;
		}
	}
	return regional ? regional : county ? county : any;
}

static struct incident *
incident_open(struct world *w, struct device *d, const struct devevent *ev, int prio,
	      double now)
{
	struct incident *inc = incident_new();
	struct elder *e = d->elder;

	inc->id = w->next_incident_id++;
	snprintf(inc->key, sizeof(inc->key), "%" PRId64, inc->id);
	inc->kind = prio == 3 ? INC_TICKET : INC_ALARM;
	inc->state = INC_OPEN;
	inc->elder = e;
	str_copy(inc->elder_id, e->id, sizeof(inc->elder_id));
	str_copy(inc->area_code, e->area_code, sizeof(inc->area_code));
	inc->type = ev->type;
	inc->priority = prio;
	str_copy(inc->alarm_device, d->id, sizeof(inc->alarm_device));
	str_copy(inc->alarm_event, ev->id, sizeof(inc->alarm_event));
	inc->opened_at = now;
	inc->alarm_count = 1;
	if (prio == 1)
		inc->escalate_at = now + w->p.escalate_after_s;
	hmap_put(&w->incidents, inc->key, inc);
	w->n_open++;
	if (inc->kind == INC_TICKET) {
		const struct responder *st = ticket_station(w, e);

		e->open_ticket = inc;
		if (st != NULL)
			str_copy(inc->station_id, st->id, sizeof(inc->station_id));
		else
			log_err("event=ticket_without_station incident=%" PRId64
				" elder=%s area=%s",
				inc->id, e->id, e->area_code);
	} else {
		e->open_alarm = inc;
	}
	history(w, inc, now, "opened", d->id, "type=%s event=%s priority=%d",
		ev_type_name(ev->type), ev->id, prio);
	log_info("event=incident_opened incident=%" PRId64 " kind=%s elder=%s type=%s "
		 "priority=%d device=%s",
		 inc->id, inc->kind == INC_TICKET ? "ticket" : "alarm", e->id,
		 ev_type_name(ev->type), prio, d->id);
	return inc;
}

int64_t
incident_on_event(struct world *w, struct device *d, const struct devevent *ev,
		  double now)
{
	struct localtime_cw lt;
	struct incident *inc;
	struct elder *e = d->elder;
	char esc[4 * ID_MAX + 8];
	double at;
	int prio;

	if (e == NULL) {
		/* stored, but nobody to send: the operators must hear of it */
		if (!ev->clear && ev->type != EV_HEARTBEAT)
			log_err("event=alarm_without_elder device=%s elder=%s id=\"%s\" "
				"type=%s",
				d->id, d->elder_id,
				log_esc(esc, sizeof(esc), ev->id, strlen(ev->id)),
				ev_type_name(ev->type));
		return 0;
	}
	/* Classified as of when it was received (a replay after a restart
	 * classifies as the first run would have); a device's clock never
	 * decides a priority. */
	at = ev->received > 0 ? ev->received : now;
	local_time(at, &lt);
	prio = classify_priority(ev->type, ev->clear, e, &lt, w->p.night_from,
				 w->p.night_to);

	if (ev->clear) {
		/* A clear is recorded on the open incident; it never closes one. */
		inc = e->open_alarm ? e->open_alarm : e->open_ticket;
		if (inc == NULL)
			return 0;
		history(w, inc, now, "clear", d->id, "type=%s event=%s",
			ev_type_name(ev->type), ev->id);
		return inc->id;
	}
	if (prio == 0)
		return 0;

	if (prio == 3) {
		if ((inc = e->open_ticket) != NULL) {
			inc->alarm_count++;
			history(w, inc, now, "alarm", d->id, "type=%s event=%s",
				ev_type_name(ev->type), ev->id);
			if (inc->station_id[0])
				publish_ticket(w, inc, d, ev);
			return inc->id;
		}
		inc = incident_open(w, d, ev, 3, at);
		if (inc->station_id[0])
			publish_ticket(w, inc, d, ev);
		return inc->id;
	}

	if ((inc = e->open_alarm) != NULL) {
		inc->alarm_count++;
		history(w, inc, now, "alarm", d->id, "type=%s event=%s priority=%d",
			ev_type_name(ev->type), ev->id, prio);
		if (prio < inc->priority) {
			history(w, inc, now, "priority", d->id, "from=%d to=%d",
				inc->priority, prio);
			inc->priority = prio;
			inc->type = ev->type;
			if (prio == 1 && !inc->escalated && inc->escalate_at == 0)
				inc->escalate_at = now + w->p.escalate_after_s;
			if (prio == 1 && e->station_id[0])
				publish_info(w, inc, e->station_id, "priority1");
			/* The offer out now gets the shorter answer window of its
			 * new priority, and its responder hears of the change. */
			if (inc->pending_offer >= 0) {
				struct offer *of = &inc->offers[inc->pending_offer];
				double dl = now + w->p.offer_timeout_s[prio];

				if (dl < of->deadline) {
					of->offered_at = now;
					of->deadline = dl;
				}
				publish_offer(w, inc, of);
			}
			incident_timer(w, inc);
		}
		return inc->id;
	}

	inc = incident_open(w, d, ev, prio, at);
	if (prio == 1 && e->station_id[0])
		publish_info(w, inc, e->station_id, "priority1");
	dispatch_next(w, inc, now);
	incident_timer(w, inc);
	return inc->id;
}

/* --- replies and timers ---------------------------------------------------- */

/* Closes the incident with outcome: withdraws a pending offer, frees the
 * responder who held it, and lets the elder's next alarm open a new one.
 * note (may be NULL) goes into the history line. */
static void
incident_resolve(struct world *w, struct incident *inc, const char *outcome,
		 const char *by, const char *note, double now)
{
	struct responder *r;
	char esc[4 * REF_ID_MAX + 8];

	offer_close(w, inc, ANS_CANCELLED, now);
	if (inc->responder_id[0] &&
	    (inc->state == INC_ACCEPTED || inc->state == INC_ON_SITE) &&
	    (r = hmap_get(&w->responders, inc->responder_id)) != NULL && r->holding > 0)
		r->holding--;
	inc->state = INC_RESOLVED;
	inc->resolved_at = now;
	str_copy(inc->outcome, outcome, sizeof(inc->outcome));
	str_copy(inc->resolved_by, by, sizeof(inc->resolved_by));
	if (inc->elder) {
		if (inc->elder->open_alarm == inc)
			inc->elder->open_alarm = NULL;
		if (inc->elder->open_ticket == inc)
			inc->elder->open_ticket = NULL;
	}
	hmap_del(&w->incidents, inc->key);
	if (w->n_open > 0)
		w->n_open--;
	if (note && note[0])
		history(w, inc, now, "resolved", by, "outcome=%s note=%s", outcome, note);
	else
		history(w, inc, now, "resolved", by, "outcome=%s", outcome);
	/* by may be an operator's name: escaped like any untrusted text */
	log_info("event=incident_resolved incident=%" PRId64 " outcome=%s by=\"%s\"",
		 inc->id, outcome, log_esc(esc, sizeof(esc), by, strlen(by)));
	incident_timer(w, inc);
}

/* Records the completed in-person visit that closing inc on site makes (the
 * visit rate counts it): id "inc-N", so that it is recorded once. */
static void
visit_record(struct world *w, const struct incident *inc, const char *responder_id,
	     double now)
{
	struct visit v;

	if (inc->elder_id[0] == '\0')
		return;
	memset(&v, 0, sizeof(v));
	snprintf(v.id, sizeof(v.id), "inc-%" PRId64, inc->id);
	str_copy(v.elder_id, inc->elder_id, sizeof(v.elder_id));
	str_copy(v.responder_id, responder_id, sizeof(v.responder_id));
	v.at = now;
	v.incident_id = inc->id;
	strcpy(v.kind, "alarm_followup");
	v.in_person = true;
	VEC_PUSH(w->fx.visits, v);
}

const char *
incident_on_reply(struct world *w, const char *responder_id, const struct reply *rp,
		  double now)
{
	struct incident *inc = world_incident(w, rp->incident);
	struct responder *r = hmap_get(&w->responders, responder_id);
	int i, mine = -1;

	if (r == NULL)
		return "unknown responder";
	if (inc == NULL)
		return "unknown or closed incident";
	for (i = inc->noffers - 1; i >= 0; i--)
		if (strcmp(inc->offers[i].responder_id, responder_id) == 0) {
			mine = i;
			break;
		}
	switch (rp->action) {
	case REPLY_ACCEPT:
		if (inc->state == INC_ACCEPTED || inc->state == INC_ON_SITE)
			return strcmp(inc->responder_id, responder_id) == 0
				   ? "already accepted"
				   : "taken by another";
		if (mine < 0)
			return "not offered";
		if (inc->pending_offer != mine) {
			/* A late accept still counts while nobody else has it. */
			offer_close(w, inc, ANS_CANCELLED, now);
			inc->pending_offer = mine;
			r->pending++;
		}
		offer_close(w, inc, ANS_ACCEPTED, now);
		inc->state = INC_ACCEPTED;
		inc->accepted_at = now;
		str_copy(inc->responder_id, responder_id, sizeof(inc->responder_id));
		history(w, inc, now, "accepted", responder_id, "offer=%d%s%s",
			inc->offers[mine].seq, rp->note[0] ? " note=" : "", rp->note);
		log_info("event=accepted incident=%" PRId64 " responder=%s", inc->id,
			 responder_id);
		break;
	case REPLY_DECLINE:
		if (mine < 0 || inc->pending_offer != mine)
			return "no pending offer";
		offer_close(w, inc, ANS_DECLINED, now);
		history(w, inc, now, "declined", responder_id, "offer=%d",
			inc->offers[mine].seq);
		dispatch_next(w, inc, now);
		break;
	case REPLY_ARRIVED:
		if (inc->state != INC_ACCEPTED ||
		    strcmp(inc->responder_id, responder_id) != 0)
			return "not the accepted responder";
		inc->state = INC_ON_SITE;
		inc->arrived_at = now;
		history(w, inc, now, "arrived", responder_id, NULL);
		break;
	case REPLY_DONE:
		if (inc->kind == INC_TICKET) {
			/* the station closes its maintenance ticket; not a visit */
			if (strcmp(inc->station_id, responder_id) != 0)
				return "not the ticket's station";
			incident_resolve(w, inc, rp->outcome, responder_id, NULL, now);
			return NULL;
		}

		if ((inc->state != INC_ACCEPTED && inc->state != INC_ON_SITE) ||
		    strcmp(inc->responder_id, responder_id) != 0)
			return "not the accepted responder";
		if (inc->arrived_at == 0)
			inc->arrived_at = now;
		/* done counts as a completed in-person visit (SPEC §3). */
		visit_record(w, inc, responder_id, now);
		incident_resolve(w, inc,
				 rp->outcome[0] ? rp->outcome : "emergency_handled",
				 responder_id, NULL, now);
		return NULL;
	}
	incident_timer(w, inc);
	return NULL;
}

/* --- operators ------------------------------------------------------------ */

/* Why an operator id is not acceptable, or NULL: 1..REF_ID_MAX bytes of
 * UTF-8 without control characters (it is stored as an actor and shown). */
static const char *
operator_check(const char *op)
{
	size_t i, n;
	int line;

	if (op == NULL || op[0] == '\0')
		return "operator required";
	n = strlen(op);
	if (n > REF_ID_MAX)
		return "operator id too long";
	for (i = 0; i < n; i++)
		if ((unsigned char)op[i] < 0x20 || op[i] == 0x7f)
			return "bad operator id";
	if (csv_check_utf8(op, n, &line) < 0)
		return "bad operator id";
	return NULL;
}

/* Copies an operator's note (NULL reads as none) into dst of NOTE_MAX
 * bytes, cut at a character boundary when it is longer. Returns -1 when it
 * is not UTF-8 text, which neither JSON nor the database would carry. */
static int
note_copy(char dst[NOTE_MAX], const char *note)
{
	size_t n;
	int line;

	dst[0] = '\0';
	if (note == NULL)
		return 0;
	n = strlen(note);
	if (csv_check_utf8(note, n, &line) < 0)
		return -1;
	if (n >= NOTE_MAX) {
		n = NOTE_MAX - 1;
		while (n > 0 && ((unsigned char)note[n] & 0xc0) == 0x80)
			n--; /* note[n] continues a character: leave all of it out */
	}
	memcpy(dst, note, n);
	dst[n] = '\0';
	return 0;
}

const char *
incident_ack(struct world *w, int64_t id, const char *operator_id, const char *note,
	     double now)
{
	struct incident *inc;
	char buf[NOTE_MAX], esc[4 * REF_ID_MAX + 8];
	const char *why;

	if ((why = operator_check(operator_id)) != NULL)
		return why;
	if ((inc = world_incident(w, id)) == NULL)
		return "unknown or closed incident";
	if (inc->acked_by[0]) {
		snprintf(w->why, sizeof(w->why), "already acknowledged by %s",
			 inc->acked_by);
		return w->why;
	}
	if (note_copy(buf, note) < 0)
		return "note is not UTF-8 text";
	str_copy(inc->acked_by, operator_id, sizeof(inc->acked_by));
	inc->acked_at = now;
	memcpy(inc->ack_note, buf, sizeof(inc->ack_note));
	if (buf[0])
		history(w, inc, now, "acked", operator_id, "note=%s", buf);
	else
		history(w, inc, now, "acked", operator_id, NULL);
	log_info("event=incident_acked incident=%" PRId64 " by=\"%s\"", inc->id,
		 log_esc(esc, sizeof(esc), operator_id, strlen(operator_id)));
	return NULL;
}

const char *
incident_resolve_op(struct world *w, int64_t id, const char *operator_id,
		    const char *outcome, const char *note, double now)
{
	struct incident *inc;
	const struct offer *accepted = NULL;
	char buf[NOTE_MAX];
	const char *why;
	int k;

	if ((why = operator_check(operator_id)) != NULL)
		return why;
	if ((inc = world_incident(w, id)) == NULL)
		return "unknown or closed incident";
	if (outcome == NULL || outcome[0] == '\0')
		return "outcome required";
	if (!outcome_valid(outcome))
		return "unknown outcome";
	if (note_copy(buf, note) < 0)
		return "note is not UTF-8 text";
	/* Someone who reached the elder made an in-person visit, however the
	 * incident is closed; an offer nobody took is no visit. */
	if (inc->kind == INC_ALARM && inc->responder_id[0] &&
	    (inc->state == INC_ON_SITE || inc->arrived_at > 0))
		visit_record(w, inc, inc->responder_id, now);
	/* A responder who accepted and is on the way is told to stand down,
	 * with the offer it accepted (one on site knows already). */
	for (k = inc->noffers - 1; k >= 0; k--)
		if (inc->offers[k].answer == ANS_ACCEPTED)
			break;
	if (k >= 0 && inc->state == INC_ACCEPTED)
		accepted = &inc->offers[k];
	incident_resolve(w, inc, outcome, operator_id, buf, now);
	if (accepted)
		effect_add(w, FX_OFFER_WITHDRAWN, inc, accepted->responder_id)
		    ->offer_seq = accepted->seq;
	return NULL;
}

const char *
incident_dispatch_to(struct world *w, int64_t id, const char *responder_id,
		     const char *operator_id, double now)
{
	struct incident *inc;
	struct responder *r;
	const char *why;

	if ((why = operator_check(operator_id)) != NULL)
		return why;
	if ((inc = world_incident(w, id)) == NULL)
		return "unknown or closed incident";
	if (inc->kind == INC_TICKET)
		return "a ticket is not dispatched";
	if (inc->state == INC_ACCEPTED || inc->state == INC_ON_SITE)
		return "already accepted";
	if (responder_id == NULL || responder_id[0] == '\0' ||
	    (r = hmap_get(&w->responders, responder_id)) == NULL)
		return "unknown responder";
	if (!r->active)
		return "responder inactive";
	if (inc->elder == NULL)
		return "no active elder: nowhere to send anyone";
	if (inc->pending_offer >= 0 &&
	    strcmp(inc->offers[inc->pending_offer].responder_id, r->id) == 0)
		return "already offered";
	if (responder_busy(w, r, now)) {
		snprintf(w->why, sizeof(w->why), "responder %s is busy", r->id);
		return w->why;
	}
	/* One offer at a time: whoever has it now must not set out as well. */
	offer_close(w, inc, ANS_CANCELLED, now);
	history(w, inc, now, "dispatched", operator_id, "responder=%s", r->id);
	offer_add(w, inc, r, responder_distance(w, inc->elder, r, now), now,
		  OFFER_MANUAL);
	incident_timer(w, inc);
	return NULL;
}

void
incident_on_timer(struct world *w, struct incident *inc, double now)
{
	if (inc->state == INC_RESOLVED)
		return;
	if (inc->pending_offer >= 0 && now >= inc->offers[inc->pending_offer].deadline) {
		struct offer *of = &inc->offers[inc->pending_offer];

		history(w, inc, now, "timeout", of->responder_id, "offer=%d", of->seq);
		log_info("event=offer_timeout incident=%" PRId64 " offer=%d responder=%s",
			 inc->id, of->seq, of->responder_id);
		offer_close(w, inc, ANS_TIMEOUT, now);
	}
	if (!inc->escalated && inc->escalate_at > 0 && now >= inc->escalate_at &&
	    (inc->state == INC_OPEN || inc->state == INC_OFFERED))
		incident_escalate(w, inc, now, "escalate_after");
	if (inc->state == INC_OPEN && inc->pending_offer < 0 &&
	    (inc->retry_at == 0 || now >= inc->retry_at))
		dispatch_next(w, inc, now);
	incident_timer(w, inc);
}

void
incident_extend_offers(struct world *w, double now)
{
	struct incident *inc;
	size_t pos = 0;

	while ((inc = hmap_next(&w->incidents, &pos)) != NULL) {
		struct offer *of;
		double dl;

		if (inc->pending_offer < 0)
			continue;
		of = &inc->offers[inc->pending_offer];
		dl = now + w->p.offer_timeout_s[inc->priority <= 1 ? 1 : 2];
		if (dl > of->deadline) {
			of->deadline = dl;
			history(w, inc, now, "extended", of->responder_id, "offer=%d",
				of->seq);
			incident_timer(w, inc);
		}
	}
}

void
world_shift_deadlines(struct world *w, double delta)
{
	struct incident *inc;
	size_t pos = 0;

	while ((inc = hmap_next(&w->incidents, &pos)) != NULL) {
		if (inc->timer_at <= 0)
			continue;
		if (inc->pending_offer >= 0)
			inc->offers[inc->pending_offer].deadline += delta;
		if (inc->retry_at > 0)
			inc->retry_at += delta;
		if (inc->escalate_at > 0 && !inc->escalated)
			inc->escalate_at += delta;
		incident_timer(w, inc);
	}
}

void
incident_republish(struct world *w, struct incident *inc, double now)
{
	if (inc->pending_offer >= 0 && inc->offers[inc->pending_offer].deadline > now)
		publish_offer(w, inc, &inc->offers[inc->pending_offer]);
}

void
incident_restore(struct world *w, struct incident *inc)
{
	struct responder *r;
	int i;

	snprintf(inc->key, sizeof(inc->key), "%" PRId64, inc->id);
	inc->elder = hmap_get(&w->elders, inc->elder_id);
	if (inc->elder) {
		if (inc->kind == INC_TICKET)
			inc->elder->open_ticket = inc;
		else
			inc->elder->open_alarm = inc;
	}
	inc->pending_offer = -1;
	for (i = 0; i < inc->noffers; i++) {
		if (inc->offers[i].answer != ANS_PENDING)
			continue;
		inc->pending_offer = i;
		if ((r = hmap_get(&w->responders, inc->offers[i].responder_id)) != NULL)
			r->pending++;
	}
	if ((inc->state == INC_ACCEPTED || inc->state == INC_ON_SITE) &&
	    inc->responder_id[0] &&
	    (r = hmap_get(&w->responders, inc->responder_id)) != NULL)
		r->holding++;
	/* rows from before incidents.escalate_at existed */
	if (inc->priority == 1 && inc->escalate_at == 0)
		inc->escalate_at = inc->opened_at + w->p.escalate_after_s;
	if (inc->id >= w->next_incident_id)
		w->next_incident_id = inc->id + 1;
	hmap_put(&w->incidents, inc->key, inc);
	w->n_open++;
	inc->dirty = false;
	/* An open incident nobody was offered is due now; and a deadline that
	 * passed while we were down fires at once. */
	if (inc->kind == INC_ALARM && inc->state == INC_OPEN && inc->pending_offer < 0 &&
	    inc->retry_at == 0)
		inc->retry_at = inc->opened_at;
	inc->timer_at = incident_deadline(inc);
}

/* --- supervision (supervise.c decides, this records) ----------------------- */

/* Tells the ticket's station of the ticket (opened, or a device added). */
static void
publish_area_ticket(struct world *w, struct incident *inc, const struct device *d)
{
	struct effect *fx = effect_add(w, FX_TICKET, inc, inc->station_id);

	str_copy(fx->device, d ? d->id : "", sizeof(fx->device));
	fx->event_type = EV_OFFLINE;
	fx->alarm_count = inc->alarm_count;
}

struct incident *
incident_area_open(struct world *w, const char *area_code, const struct device *first,
		   const char *event_id, double now)
{
	struct incident *inc = incident_new();
	const struct responder *st =
	    first->elder ? ticket_station(w, first->elder) : NULL;

	inc->id = w->next_incident_id++;
	snprintf(inc->key, sizeof(inc->key), "%" PRId64, inc->id);
	inc->kind = INC_TICKET;
	inc->state = INC_OPEN;
	str_copy(inc->area_code, area_code, sizeof(inc->area_code));
	inc->type = EV_OFFLINE;
	inc->priority = 3;
	str_copy(inc->alarm_device, first->id, sizeof(inc->alarm_device));
	str_copy(inc->alarm_event, event_id, sizeof(inc->alarm_event));
	inc->opened_at = now;
	inc->alarm_count = 0; /* counts the devices listed */
	if (st != NULL)
		str_copy(inc->station_id, st->id, sizeof(inc->station_id));
	hmap_put(&w->incidents, inc->key, inc);
	w->n_open++;
	history(w, inc, now, "opened", NULL, "type=device_offline storm=1 area=%s",
		area_code);
	log_warn("event=storm_opened incident=%" PRId64 " area=%s station=%s", inc->id,
		 area_code, inc->station_id);
	return inc;
}

void
incident_area_join(struct world *w, struct incident *inc, const struct device *d,
		   double since, bool announce, double now)
{
	inc->alarm_count++;
	history(w, inc, now, "alarm", d->id,
		"type=device_offline storm=1 silent_since=%.3f", since);
	if (announce && inc->station_id[0])
		publish_area_ticket(w, inc, d);
}

void
incident_area_back(struct world *w, struct incident *inc, const struct device *d,
		   double now)
{
	history(w, inc, now, "device_back", d->id, NULL);
}

void
incident_area_clear(struct world *w, struct incident *inc, int silent, int listed,
		    double now)
{
	history(w, inc, now, "storm_over", NULL, "listed=%d still_silent=%d", listed,
		silent);
	incident_resolve(w, inc, "device_back", "supervision", NULL, now);
}

void
incident_device_back(struct world *w, const struct device *d, double since, double now)
{
	struct incident *inc;

	if (d->elder == NULL || (inc = d->elder->open_ticket) == NULL)
		return; /* closed by its station meanwhile */
	history(w, inc, now, "device_back", d->id, "silent_s=%.0f", now - since);
	/* A ticket about this one silence clears itself; one that carries
	 * more is the station's to close. */
	if (inc->type == EV_OFFLINE && inc->alarm_count == 1 &&
	    strcmp(inc->alarm_device, d->id) == 0)
		incident_resolve(w, inc, "device_back", "supervision", NULL, now);
}
