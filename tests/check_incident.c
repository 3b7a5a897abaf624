/* check_incident.c - unit tests for correlation and the incident/offer state
 * machine, driven through incident.h over a small hand-built county */
#include "config.h"

#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check_run.h"
#include "csv.h"
#include "geo.h"
#include "incident.h"
#include "render.h"
#include "util.h"

#define T0	1795312800.0 /* 2026-11-22T10:00:00+08:00 */
#define T_NIGHT 1795359600.0 /* 2026-11-22T23:00:00+08:00 */

/* The world of one test and handles on what it holds. */
static struct world w;

static struct {
	struct elder *e1, *e2;
	struct device *sos1, *smoke1, *leak1, *door1, *hub1, *sos2, *leak2;
	struct responder *v1, *v2, *v3, *v4, *s1, *r1, *c1, *c2;
} t;

/* --- building the county -------------------------------------------------- */

static struct elder *
add_elder(const char *id, double lat, double lon, unsigned cats, int by, int bm, int bd)
{
	struct elder *e = xcalloc(1, sizeof(*e));

	str_copy(e->id, id, sizeof(e->id));
	str_copy(e->area_code, "140426101201", sizeof(e->area_code));
	str_copy(e->station_id, "S1", sizeof(e->station_id));
	e->lat = lat;
	e->lon = lon;
	e->cats = cats;
	e->capability = 0;
	e->birth_y = by;
	e->birth_m = bm;
	e->birth_d = bd;
	e->name = xstrdup("张桂兰");
	e->address = xstrdup("黎城县黎侯镇东关村3号");
	e->phone = xstrdup("13903550123");
	e->notes = xstrdup("右腿不便");
	e->contacts = xstrdup("李明:13803550111;王芳:13703550222");
	hmap_put(&w.elders, e->id, e);
	return e;
}

static struct device *
add_device(const char *id, const char *kind, struct elder *e)
{
	struct device *d = xcalloc(1, sizeof(*d));

	str_copy(d->id, id, sizeof(d->id));
	str_copy(d->kind, kind, sizeof(d->kind));
	str_copy(d->elder_id, e->id, sizeof(d->elder_id));
	d->elder = e;
	hmap_put(&w.devices, d->id, d);
	return d;
}

static struct responder *
add_station(const char *id, const char *kind, double lat, double lon, int capacity)
{
	struct responder *r = xcalloc(1, sizeof(*r));

	str_copy(r->id, id, sizeof(r->id));
	r->kind = RESP_STATION;
	str_copy(r->station_kind, kind, sizeof(r->station_kind));
	r->lat = lat;
	r->lon = lon;
	r->capacity = capacity;
	r->duty_from = 0;
	r->duty_to = 1440;
	r->active = true;
	hmap_put(&w.responders, r->id, r);
	return r;
}

static struct responder *
add_volunteer(const char *id, double lat, double lon, double max_km)
{
	struct responder *r = xcalloc(1, sizeof(*r));

	str_copy(r->id, id, sizeof(r->id));
	r->kind = RESP_VOLUNTEER;
	r->lat = lat;
	r->lon = lon;
	r->active = true;
	r->max_km = max_km;
	hmap_put(&w.responders, r->id, r);
	return r;
}

/* Seen from elder E1 at (36.5, 113.4): V1 556 m, V2 1.1 km, S1 (E1's own
 * village station) 2.2 km, V3 3.3 km, V4 6.7 km (beyond 5 km), R1 ~7.6 km,
 * C1 ~14 km, C2 ~17 km. E2 lives 140 m from E1. */
static void
setup(void)
{
	world_init(&w);
	memset(&t, 0, sizeof(t));
	/* E1: 76, empty nest: no risk raise. E2: living alone. */
	t.e1 = add_elder("E1001", 36.5000, 113.4000, CAT_EMPTY_NEST, 1950, 6, 1);
	t.e2 = add_elder("E1002", 36.5010, 113.4010, CAT_LIVING_ALONE, 1956, 3, 14);
	t.sos1 = add_device("D-SOS-1", "sos_button", t.e1);
	t.smoke1 = add_device("D-SMK-1", "smoke", t.e1);
	t.leak1 = add_device("D-LEAK-1", "water_leak", t.e1);
	t.door1 = add_device("D-DOOR-1", "door", t.e1);
	t.hub1 = add_device("D-HUB-1", "hub", t.e1);
	t.sos2 = add_device("D-SOS-2", "sos_button", t.e2);
	t.leak2 = add_device("D-LEAK-2", "water_leak", t.e2);
	t.v1 = add_volunteer("V1", 36.5050, 113.4000, 0);
	t.v2 = add_volunteer("V2", 36.5100, 113.4000, 0);
	t.v3 = add_volunteer("V3", 36.4700, 113.4000, 0);
	t.v4 = add_volunteer("V4", 36.5600, 113.4000, 0);
	t.s1 = add_station("S1", "village_station", 36.5200, 113.4000, 1);
	t.r1 = add_station("R1", "regional_center", 36.5500, 113.4600, 3);
	t.c1 = add_station("C1", "county_center", 36.6000, 113.5000, 5);
	t.c2 = add_station("C2", "county_center", 36.3800, 113.2800, 5);
	world_index(&w);
	w.p.offer_timeout_s[1] = 60;
	w.p.offer_timeout_s[2] = 300;
	w.p.offer_timeout_s[3] = 300;
	w.p.max_offers = 3;
	w.p.escalate_after_s = 300;
	w.p.volunteer_max_km = 5;
	w.p.retry_s = 30;
	w.p.night_from = 22 * 60;
	w.p.night_to = 6 * 60;
}

/* The core's effects rendered as the MQTT adapter renders them: tests read
 * messages, so that what a responder receives is what is checked. */
static struct {
	struct pub *v;
	size_t n;
} pv;

static void
rendered_free(void)
{
	size_t i;

	for (i = 0; i < pv.n; i++)
		pub_free(&pv.v[i]);
	free(pv.v);
	pv.v = NULL;
	pv.n = 0;
}

/* Renders the effects so far into pv; returns how many messages. */
static size_t
npubs(void)
{
	size_t i;

	rendered_free();
	pv.v = calloc(w.fx.out.n + 1, sizeof(*pv.v));
	for (i = 0; i < w.fx.out.n; i++)
		if (render_effect("carewatch", &w.fx.out.v[i], &pv.v[pv.n]) == 0)
			pv.n++;
	return pv.n;
}

/* Checks one published message: ours, a JSON object, and nothing personal
 * beyond the elder block (never an ID number). */
static void
check_pub(const struct pub *p)
{
	static const char *const elder_keys[] = {"id",	"name",	 "address", "lat",
						 "lon", "phone", "notes",   "contacts"};
	json_error_t err;
	json_t *o, *el, *v;
	const char *k;

	ck_assert_msg(strncmp(p->topic, "carewatch/dispatch/", 19) == 0, "topic %s",
		      p->topic);
	ck_assert_msg(strstr(p->payload, "id_number") == NULL, "id_number in %s",
		      p->payload);
	o = json_loads(p->payload, 0, &err);
	ck_assert_msg(json_is_object(o), "payload not an object: %s", p->payload);
	ck_assert(json_is_integer(json_object_get(o, "incident")));
	ck_assert(json_is_integer(json_object_get(o, "priority")));
	el = json_object_get(o, "elder");
	if (el != NULL) {
		ck_assert(json_is_object(el));
		json_object_foreach(el, k, v)
		{
			size_t i;
			bool known = false;

			for (i = 0; i < sizeof(elder_keys) / sizeof(elder_keys[0]); i++)
				if (strcmp(k, elder_keys[i]) == 0)
					known = true;
			ck_assert_msg(known, "unexpected elder field %s", k);
		}
	}
	json_decref(o);
}

/* Does what the daemon's adapter does with the effects: checks every
 * message, forgets the dirty marks, frees resolved incidents, and empties the
 * effects. */
static void
fx_done(void)
{
	size_t i;

	for (i = 0; i < npubs(); i++)
		check_pub(&pv.v[i]);
	for (i = 0; i < w.fx.dirty.n; i++) {
		struct incident *inc = w.fx.dirty.v[i];

		inc->dirty = false;
		if (inc->state == INC_RESOLVED) {
			ck_assert_ptr_null(world_incident(&w, inc->id));
			incident_free(inc);
		}
	}
	effects_clear(&w.fx);
	rendered_free();
}

static void
teardown(void)
{
	fx_done();
	world_free(&w);
}

/* --- driving it -------------------------------------------------------------- */

static int64_t
fire(struct device *d, const char *event_id, enum ev_type type, bool clear, double now)
{
	struct devevent ev;

	memset(&ev, 0, sizeof(ev));
	str_copy(ev.id, event_id, sizeof(ev.id));
	ev.type = type;
	ev.clear = clear;
	ev.battery = -1;
	return incident_on_event(&w, d, &ev, now);
}

static const char *
answer(const char *responder, int64_t incident, enum reply_action a, const char *outcome,
       double now)
{
	struct reply r;

	memset(&r, 0, sizeof(r));
	r.incident = incident;
	r.action = a;
	if (outcome)
		str_copy(r.outcome, outcome, sizeof(r.outcome));
	return incident_on_reply(&w, responder, &r, now);
}

/* Messages to a responder that carry key (any message when key is NULL). */
static int
pub_count(const char *responder, const char *key)
{
	char topic[128];
	int n = 0;
	size_t i;

	snprintf(topic, sizeof(topic), "carewatch/dispatch/%s", responder);
	for (i = 0; i < npubs(); i++) {
		json_t *o;

		if (strcmp(pv.v[i].topic, topic) != 0)
			continue;
		o = json_loads(pv.v[i].payload, 0, NULL);
		if (key == NULL || json_object_get(o, key) != NULL)
			n++;
		json_decref(o);
	}
	return n;
}

/* Offers published to anyone. */
static int
offer_pubs(void)
{
	int n = 0;
	size_t i;

	for (i = 0; i < npubs(); i++) {
		json_t *o = json_loads(pv.v[i].payload, 0, NULL);

		if (json_object_get(o, "offer") != NULL)
			n++;
		json_decref(o);
	}
	return n;
}

/* The first message to responder carrying key; fails when there is none.
 * The caller decrefs. */
static json_t *
pub_get(const char *responder, const char *key)
{
	char topic[128];
	size_t i;

	snprintf(topic, sizeof(topic), "carewatch/dispatch/%s", responder);
	for (i = 0; i < npubs(); i++) {
		json_t *o;

		if (strcmp(pv.v[i].topic, topic) != 0)
			continue;
		o = json_loads(pv.v[i].payload, 0, NULL);
		if (json_object_get(o, key) != NULL)
			return o;
		json_decref(o);
	}
	ck_abort_msg("no message with %s to %s", key, responder);
	return NULL;
}

static json_int_t
jint(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	ck_assert_msg(json_is_integer(v), "%s is not an integer", key);
	return json_integer_value(v);
}

static const char *
jstr(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	ck_assert_msg(json_is_string(v), "%s is not a string", key);
	return json_string_value(v);
}

/* Checks the offer published to responder. */
static void
check_offer_msg(const char *responder, int64_t incident, int seq, int priority,
		const char *type, const char *alarm, int within, int distance_m,
		const struct elder *e)
{
	json_t *o = pub_get(responder, "offer"), *el;

	ck_assert_int_eq(jint(o, "incident"), incident);
	ck_assert_int_eq(jint(o, "offer"), seq);
	ck_assert_int_eq(jint(o, "priority"), priority);
	ck_assert_str_eq(jstr(o, "type"), type);
	ck_assert_str_eq(jstr(o, "alarm"), alarm);
	ck_assert_int_eq(jint(o, "respond_within_s"), within);
	ck_assert_int_eq(jint(o, "distance_m"), distance_m);
	ck_assert_ptr_null(json_object_get(o, "info"));
	el = json_object_get(o, "elder");
	ck_assert(json_is_object(el));
	ck_assert_str_eq(jstr(el, "id"), e->id);
	ck_assert_str_eq(jstr(el, "name"), e->name);
	ck_assert_str_eq(jstr(el, "address"), e->address);
	ck_assert_str_eq(jstr(el, "phone"), e->phone);
	ck_assert_str_eq(jstr(el, "contacts"), e->contacts);
	ck_assert_double_eq_tol(json_number_value(json_object_get(el, "lat")), e->lat,
				1e-9);
	ck_assert_double_eq_tol(json_number_value(json_object_get(el, "lon")), e->lon,
				1e-9);
	json_decref(o);
}

/* Metres from the elder to the responder, as offers round them. */
static int
dist_to(const struct elder *e, const struct responder *r)
{
	return (int)lround(geo_distance_m(e->lat, e->lon, r->lat, r->lon));
}

static int
hist_count(int64_t id, const char *what)
{
	int n = 0;
	size_t i;

	for (i = 0; i < w.fx.hist.n; i++)
		if (w.fx.hist.v[i].incident_id == id &&
		    strcmp(w.fx.hist.v[i].what, what) == 0)
			n++;
	return n;
}

static const struct hist *
hist_find(int64_t id, const char *what)
{
	size_t i;

	for (i = 0; i < w.fx.hist.n; i++)
		if (w.fx.hist.v[i].incident_id == id &&
		    strcmp(w.fx.hist.v[i].what, what) == 0)
			return &w.fx.hist.v[i];
	ck_abort_msg("no history %s for incident %lld", what, (long long)id);
	return NULL;
}

static bool
is_dirty(const struct incident *inc)
{
	size_t i;

	for (i = 0; i < w.fx.dirty.n; i++)
		if (w.fx.dirty.v[i] == inc)
			return true;
	return false;
}

/* Checks that no responder but the listed one has anything pending. */
static void
only_pending(const struct responder *who)
{
	size_t pos = 0;
	struct responder *r;

	while ((r = hmap_next(&w.responders, &pos)) != NULL)
		ck_assert_msg(r->pending == (r == who ? 1 : 0), "%s pending %d", r->id,
			      r->pending);
}

/* Turns every responder off. */
static void
all_inactive(void)
{
	size_t pos = 0;
	struct responder *r;

	while ((r = hmap_next(&w.responders, &pos)) != NULL)
		r->active = false;
}

/* --- tests ------------------------------------------------------------------ */

/* An SOS opens a priority-1 incident, informs the elder's station and offers
 * the nearest available responder. */
START_TEST(test_sos_offers_nearest)
{
	int64_t id = fire(t.sos1, "e-000123", EV_SOS, false, T0);
	struct incident *inc = world_incident(&w, id);
	json_t *info;

	ck_assert_int_eq(id, 1000);
	ck_assert_ptr_nonnull(inc);
	ck_assert_int_eq(inc->kind, INC_ALARM);
	ck_assert_int_eq(inc->state, INC_OFFERED);
	ck_assert_int_eq(inc->priority, 1);
	ck_assert_int_eq(inc->type, EV_SOS);
	ck_assert_int_eq(inc->alarm_count, 1);
	ck_assert_str_eq(inc->alarm_event, "e-000123");
	ck_assert_str_eq(inc->alarm_device, "D-SOS-1");
	ck_assert_str_eq(inc->elder_id, "E1001");
	ck_assert_str_eq(inc->area_code, "140426101201");
	ck_assert_ptr_eq(inc->elder, t.e1);
	ck_assert_ptr_eq(t.e1->open_alarm, inc);
	ck_assert_ptr_null(t.e1->open_ticket);
	ck_assert_double_eq(inc->opened_at, T0);
	ck_assert_double_eq(inc->escalate_at, T0 + 300);
	ck_assert(!inc->escalated);
	ck_assert_uint_eq(w.n_open, 1);

	ck_assert_int_eq(inc->noffers, 1);
	ck_assert_int_eq(inc->pending_offer, 0);
	ck_assert_int_eq(inc->offers[0].seq, 1);
	ck_assert_str_eq(inc->offers[0].responder_id, "V1");
	ck_assert_int_eq(inc->offers[0].rkind, RESP_VOLUNTEER);
	ck_assert_int_eq(inc->offers[0].answer, ANS_PENDING);
	ck_assert_double_eq(inc->offers[0].offered_at, T0);
	ck_assert_double_eq(inc->offers[0].deadline, T0 + 60);
	ck_assert_int_eq(inc->offers[0].distance_m, dist_to(t.e1, t.v1));
	ck_assert_int_eq(inc->offers[0].distance_m, 556);
	ck_assert(!inc->offers[0].forced);
	ck_assert_double_eq(inc->timer_at, T0 + 60);
	only_pending(t.v1);
	ck_assert_int_eq(t.v1->holding, 0);

	/* effects: the incident to persist, two messages, its history */
	ck_assert_uint_eq(w.fx.dirty.n, 1);
	ck_assert_ptr_eq(w.fx.dirty.v[0], inc);
	ck_assert_uint_eq(npubs(), 2);
	ck_assert_int_eq(offer_pubs(), 1);
	check_offer_msg("V1", 1000, 1, 1, "sos", "e-000123", 60, 556, t.e1);
	info = pub_get("S1", "info");
	ck_assert_str_eq(jstr(info, "info"), "priority1");
	ck_assert_int_eq(jint(info, "incident"), 1000);
	ck_assert_ptr_null(json_object_get(info, "offer"));
	json_decref(info);
	ck_assert_int_eq(hist_count(1000, "opened"), 1);
	ck_assert_str_eq(hist_find(1000, "opened")->actor, "D-SOS-1");
	ck_assert_int_eq(hist_count(1000, "offered"), 1);
	ck_assert_str_eq(hist_find(1000, "offered")->actor, "V1");
	ck_assert_uint_eq(w.fx.visits.n, 0);
}
END_TEST

/* accept -> accepted, arrived -> on_site, done -> resolved with a visit. */
START_TEST(test_accept_arrive_done)
{
	int64_t id = fire(t.sos1, "e-1", EV_SOS, false, T0);
	struct incident *inc = world_incident(&w, id);
	const struct hist *h;

	fx_done();
	ck_assert_ptr_null(answer("V1", id, REPLY_ACCEPT, NULL, T0 + 20));
	ck_assert_int_eq(inc->state, INC_ACCEPTED);
	ck_assert_str_eq(inc->responder_id, "V1");
	ck_assert_double_eq(inc->accepted_at, T0 + 20);
	ck_assert_int_eq(inc->offers[0].answer, ANS_ACCEPTED);
	ck_assert_double_eq(inc->offers[0].answered_at, T0 + 20);
	ck_assert_int_eq(inc->pending_offer, -1);
	ck_assert_int_eq(t.v1->holding, 1);
	ck_assert_int_eq(t.v1->pending, 0);
	ck_assert_double_eq(inc->timer_at, 0);
	ck_assert(is_dirty(inc));
	ck_assert_int_eq(hist_count(id, "accepted"), 1);
	ck_assert_uint_eq(npubs(), 0);
	fx_done();

	/* the escalation deadline no longer applies once accepted */
	incident_on_timer(&w, inc, T0 + 400);
	ck_assert(!inc->escalated);
	ck_assert_int_eq(inc->state, INC_ACCEPTED);
	ck_assert_uint_eq(npubs(), 0);
	fx_done();

	ck_assert_ptr_null(answer("V1", id, REPLY_ARRIVED, NULL, T0 + 600));
	ck_assert_int_eq(inc->state, INC_ON_SITE);
	ck_assert_double_eq(inc->arrived_at, T0 + 600);
	ck_assert_int_eq(hist_count(id, "arrived"), 1);
	ck_assert(is_dirty(inc));
	fx_done();

	ck_assert_ptr_null(answer("V1", id, REPLY_DONE, NULL, T0 + 1800));
	ck_assert_ptr_null(world_incident(&w, id));
	ck_assert_int_eq(inc->state, INC_RESOLVED);
	ck_assert_str_eq(inc->outcome, "emergency_handled");
	ck_assert_str_eq(inc->resolved_by, "V1");
	ck_assert_double_eq(inc->resolved_at, T0 + 1800);
	ck_assert_double_eq(inc->arrived_at, T0 + 600);
	ck_assert_double_eq(inc->timer_at, 0);
	ck_assert_ptr_null(t.e1->open_alarm);
	ck_assert_int_eq(t.v1->holding, 0);
	ck_assert_int_eq(t.v1->pending, 0);
	ck_assert_uint_eq(w.n_open, 0);
	ck_assert(is_dirty(inc));
	ck_assert_uint_eq(w.fx.visits.n, 1);
	ck_assert_str_eq(w.fx.visits.v[0].elder_id, "E1001");
	ck_assert_str_eq(w.fx.visits.v[0].responder_id, "V1");
	ck_assert_int_eq(w.fx.visits.v[0].incident_id, id);
	ck_assert_double_eq(w.fx.visits.v[0].at, T0 + 1800);
	ck_assert_str_eq(w.fx.visits.v[0].kind, "alarm_followup");
	ck_assert_str_eq(w.fx.visits.v[0].id, "inc-1000");
	h = hist_find(id, "resolved");
	ck_assert_str_eq(h->actor, "V1");
	ck_assert_str_eq(h->detail, "outcome=emergency_handled");
	fx_done(); /* frees the resolved incident */

	/* the next alarm opens a new incident */
	ck_assert_int_eq(fire(t.sos1, "e-2", EV_SOS, false, T0 + 2000), 1001);
	ck_assert_ptr_eq(t.e1->open_alarm, world_incident(&w, 1001));
}
END_TEST

/* done straight after accept takes the given outcome and counts as arrival. */
START_TEST(test_done_with_outcome)
{
	int64_t id = fire(t.smoke1, "e-7", EV_SMOKE, false, T0);
	struct incident *inc = world_incident(&w, id);

	ck_assert_ptr_null(answer("V1", id, REPLY_ACCEPT, NULL, T0 + 5));
	fx_done();
	ck_assert_ptr_null(answer("V1", id, REPLY_DONE, "false_alarm", T0 + 900));
	ck_assert_int_eq(inc->state, INC_RESOLVED);
	ck_assert_str_eq(inc->outcome, "false_alarm");
	ck_assert_double_eq(inc->arrived_at, T0 + 900);
	ck_assert_uint_eq(w.fx.visits.n, 1);
	ck_assert_str_eq(hist_find(id, "resolved")->detail, "outcome=false_alarm");
	ck_assert_int_eq(t.v1->holding, 0);
	ck_assert_ptr_null(t.e1->open_alarm);
	fx_done();
	/* a reply to the closed incident is refused */
	ck_assert_str_eq(answer("V1", id, REPLY_DONE, NULL, T0 + 901),
			 "unknown or closed incident");
}
END_TEST

/* decline -> the next nearest, until max_offers; then escalation. */
START_TEST(test_decline_next)
{
	int64_t id = fire(t.sos1, "e-1", EV_SOS, false, T0);
	struct incident *inc = world_incident(&w, id);

	fx_done();
	ck_assert_ptr_null(answer("V1", id, REPLY_DECLINE, NULL, T0 + 10));
	ck_assert_int_eq(inc->offers[0].answer, ANS_DECLINED);
	ck_assert_double_eq(inc->offers[0].answered_at, T0 + 10);
	ck_assert_int_eq(inc->noffers, 2);
	ck_assert_int_eq(inc->pending_offer, 1);
	ck_assert_str_eq(inc->offers[1].responder_id, "V2");
	ck_assert_double_eq(inc->offers[1].deadline, T0 + 70);
	ck_assert_int_eq(inc->state, INC_OFFERED);
	only_pending(t.v2);
	ck_assert_int_eq(offer_pubs(), 1);
	check_offer_msg("V2", id, 2, 1, "sos", "e-1", 60, dist_to(t.e1, t.v2), t.e1);
	ck_assert_int_eq(hist_count(id, "declined"), 1);
	fx_done();

	ck_assert_ptr_null(answer("V2", id, REPLY_DECLINE, NULL, T0 + 20));
	ck_assert_str_eq(inc->offers[2].responder_id, "S1");
	ck_assert_int_eq(inc->offers[2].rkind, RESP_STATION);
	only_pending(t.s1);
	check_offer_msg("S1", id, 3, 1, "sos", "e-1", 60, dist_to(t.e1, t.s1), t.e1);
	fx_done();

	/* third decline: three offers made, nobody accepted -> escalated */
	ck_assert_ptr_null(answer("S1", id, REPLY_DECLINE, NULL, T0 + 30));
	ck_assert(inc->escalated);
	ck_assert_double_eq(inc->escalated_at, T0 + 30);
	ck_assert_str_eq(hist_find(id, "escalated")->detail, "reason=max_offers");
	ck_assert_int_eq(pub_count("C1", "info"), 1);
	ck_assert_int_eq(pub_count("C2", "info"), 1);
	/* the elder's station is asked again, this time regardless */
	ck_assert_int_eq(inc->noffers, 4);
	ck_assert_str_eq(inc->offers[3].responder_id, "S1");
	ck_assert(inc->offers[3].forced);
	only_pending(t.s1);
}
END_TEST

/* No answer by the deadline -> timeout and the next candidate. */
START_TEST(test_timeout_next)
{
	int64_t id = fire(t.sos1, "e-1", EV_SOS, false, T0);
	struct incident *inc = world_incident(&w, id);

	fx_done();
	incident_on_timer(&w, inc, T0 + 59.5);
	ck_assert_int_eq(inc->noffers, 1);
	ck_assert_int_eq(inc->offers[0].answer, ANS_PENDING);
	ck_assert_double_eq(inc->timer_at, T0 + 60);
	ck_assert_uint_eq(npubs(), 0);
	fx_done();

	incident_on_timer(&w, inc, T0 + 60);
	ck_assert_int_eq(inc->offers[0].answer, ANS_TIMEOUT);
	ck_assert_double_eq(inc->offers[0].answered_at, T0 + 60);
	ck_assert_int_eq(inc->noffers, 2);
	ck_assert_str_eq(inc->offers[1].responder_id, "V2");
	ck_assert_double_eq(inc->offers[1].offered_at, T0 + 60);
	ck_assert_double_eq(inc->offers[1].deadline, T0 + 120);
	ck_assert_double_eq(inc->timer_at, T0 + 120);
	ck_assert_int_eq(inc->state, INC_OFFERED);
	only_pending(t.v2);
	ck_assert_int_eq(hist_count(id, "timeout"), 1);
	ck_assert_str_eq(hist_find(id, "timeout")->actor, "V1");
	check_offer_msg("V2", id, 2, 1, "sos", "e-1", 60, dist_to(t.e1, t.v2), t.e1);
	ck_assert(is_dirty(inc));
	ck_assert(!inc->escalated);
}
END_TEST

/* Three offers without an accept: every county center is alerted and the
 * elder's station is offered even though it has no free capacity. */
START_TEST(test_escalate_after_max_offers)
{
	int64_t id;
	struct incident *inc;
	json_t *o;

	t.s1->holding = 1; /* busy with something else: no free capacity */
	id = fire(t.sos1, "e-1", EV_SOS, false, T0);
	inc = world_incident(&w, id);
	ck_assert_str_eq(inc->offers[0].responder_id, "V1");
	fx_done();
	incident_on_timer(&w, inc, T0 + 60);
	ck_assert_str_eq(inc->offers[1].responder_id, "V2");
	fx_done();
	/* S1 is nearer than V3 but full */
	incident_on_timer(&w, inc, T0 + 120);
	ck_assert_str_eq(inc->offers[2].responder_id, "V3");
	ck_assert_int_eq(t.s1->pending, 0);
	ck_assert(!inc->escalated);
	fx_done();

	incident_on_timer(&w, inc, T0 + 180);
	ck_assert(inc->escalated);
	ck_assert_double_eq(inc->escalated_at, T0 + 180);
	ck_assert_str_eq(hist_find(id, "escalated")->detail, "reason=max_offers");
	ck_assert_int_eq(inc->offers[2].answer, ANS_TIMEOUT);
	ck_assert_int_eq(inc->noffers, 4);
	ck_assert_int_eq(inc->pending_offer, 3);
	ck_assert_str_eq(inc->offers[3].responder_id, "S1");
	ck_assert(inc->offers[3].forced);
	ck_assert_double_eq(inc->offers[3].deadline, T0 + 240);
	ck_assert_double_eq(inc->timer_at, T0 + 240);
	ck_assert_int_eq(t.s1->pending, 1);
	ck_assert_int_eq(t.s1->holding, 1);
	only_pending(t.s1);

	/* county centers: told, not asked */
	ck_assert_int_eq(pub_count("C1", NULL), 1);
	ck_assert_int_eq(pub_count("C2", NULL), 1);
	o = pub_get("C1", "info");
	ck_assert_str_eq(jstr(o, "info"), "escalated");
	ck_assert(json_is_true(json_object_get(o, "escalated")));
	ck_assert_int_eq(jint(o, "incident"), id);
	ck_assert_ptr_null(json_object_get(o, "offer"));
	json_decref(o);
	ck_assert_int_eq(pub_count("R1", NULL), 0);
	ck_assert_int_eq(offer_pubs(), 1);
	o = pub_get("S1", "offer");
	ck_assert_int_eq(jint(o, "offer"), 4);
	ck_assert(json_is_true(json_object_get(o, "forced")));
	ck_assert(json_is_true(json_object_get(o, "escalated")));
	ck_assert_int_eq(jint(o, "distance_m"), dist_to(t.e1, t.s1));
	json_decref(o);
	fx_done();

	/* the station takes it beyond its capacity */
	ck_assert_ptr_null(answer("S1", id, REPLY_ACCEPT, NULL, T0 + 200));
	ck_assert_int_eq(inc->state, INC_ACCEPTED);
	ck_assert_int_eq(t.s1->holding, 2);
	ck_assert_int_eq(t.s1->pending, 0);
}
END_TEST

/* Priority 1 escalates after escalate_after_s even while offers run. */
START_TEST(test_escalate_by_time)
{
	int64_t id;
	struct incident *inc;

	w.p.offer_timeout_s[1] = 200;
	id = fire(t.sos1, "e-1", EV_SOS, false, T0);
	inc = world_incident(&w, id);
	ck_assert_double_eq(inc->timer_at, T0 + 200);
	fx_done();
	incident_on_timer(&w, inc, T0 + 200);
	ck_assert_str_eq(inc->offers[1].responder_id, "V2");
	ck_assert_double_eq(inc->offers[1].deadline, T0 + 400);
	/* the escalation comes before V2's deadline */
	ck_assert_double_eq(inc->timer_at, T0 + 300);
	fx_done();

	incident_on_timer(&w, inc, T0 + 299);
	ck_assert(!inc->escalated);
	fx_done();
	incident_on_timer(&w, inc, T0 + 300);
	ck_assert(inc->escalated);
	ck_assert_double_eq(inc->escalated_at, T0 + 300);
	ck_assert_str_eq(hist_find(id, "escalated")->detail, "reason=escalate_after");
	/* V2's offer is withdrawn for the station's */
	ck_assert_int_eq(inc->offers[1].answer, ANS_CANCELLED);
	ck_assert_int_eq(t.v2->pending, 0);
	ck_assert_int_eq(inc->noffers, 3);
	ck_assert_str_eq(inc->offers[2].responder_id, "S1");
	ck_assert(inc->offers[2].forced);
	only_pending(t.s1);
	ck_assert_int_eq(pub_count("C1", "info"), 1);
	ck_assert_int_eq(pub_count("C2", "info"), 1);
	ck_assert_int_eq(pub_count("S1", "offer"), 1);
	ck_assert_double_eq(inc->timer_at, T0 + 500);
}
END_TEST

/* Priority 2 has no time-based escalation. */
START_TEST(test_no_time_escalation_p2)
{
	int64_t id = fire(t.leak1, "e-1", EV_WATER_LEAK, false, T0);
	struct incident *inc = world_incident(&w, id);

	ck_assert_int_eq(inc->priority, 2);
	ck_assert_double_eq(inc->escalate_at, 0);
	ck_assert_double_eq(inc->timer_at, T0 + 300);
	/* no station info for priority 2 */
	ck_assert_int_eq(pub_count("S1", NULL), 0);
	check_offer_msg("V1", id, 1, 2, "water_leak", "e-1", 300, 556, t.e1);
	fx_done();
	incident_on_timer(&w, inc, T0 + 299);
	ck_assert(!inc->escalated);
	ck_assert_int_eq(inc->noffers, 1);
	fx_done();
	incident_on_timer(&w, inc, T0 + 300);
	ck_assert(!inc->escalated);
	ck_assert_str_eq(inc->offers[1].responder_id, "V2");
	ck_assert_double_eq(inc->offers[1].deadline, T0 + 600);
}
END_TEST

/* A second alarm of the same elder joins the open incident. */
START_TEST(test_second_alarm_joins)
{
	int64_t id = fire(t.sos1, "e-1", EV_SOS, false, T0);
	struct incident *inc = world_incident(&w, id);

	fx_done();
	ck_assert_int_eq(fire(t.smoke1, "s-1", EV_SMOKE, false, T0 + 5), id);
	ck_assert_int_eq(inc->alarm_count, 2);
	ck_assert_uint_eq(w.incidents.len, 1);
	ck_assert_uint_eq(w.n_open, 1);
	ck_assert_int_eq(inc->priority, 1);
	ck_assert_int_eq(inc->type, EV_SOS);
	ck_assert_str_eq(inc->alarm_event, "e-1");
	ck_assert_int_eq(inc->noffers, 1);
	ck_assert_uint_eq(npubs(), 0);
	ck_assert_int_eq(hist_count(id, "alarm"), 1);
	ck_assert_str_eq(hist_find(id, "alarm")->actor, "D-SMK-1");
	only_pending(t.v1);
	fx_done();
	ck_assert_int_eq(fire(t.sos1, "e-2", EV_SOS, false, T0 + 6), id);
	ck_assert_int_eq(inc->alarm_count, 3);
	ck_assert_uint_eq(w.incidents.len, 1);

	/* another elder gets an incident of their own */
	ck_assert_int_eq(fire(t.sos2, "x-1", EV_SOS, false, T0 + 7), id + 1);
	ck_assert_uint_eq(w.incidents.len, 2);
	ck_assert_ptr_eq(t.e2->open_alarm, world_incident(&w, id + 1));
}
END_TEST

/* A higher-priority alarm raises the open incident's priority. */
START_TEST(test_join_raises_priority)
{
	int64_t id = fire(t.leak1, "w-1", EV_WATER_LEAK, false, T0);
	struct incident *inc = world_incident(&w, id);
	json_t *o;

	ck_assert_int_eq(inc->priority, 2);
	ck_assert_int_eq(offer_pubs(), 1);
	ck_assert_uint_eq(npubs(), 1);
	fx_done();

	ck_assert_int_eq(fire(t.sos1, "e-1", EV_SOS, false, T0 + 10), id);
	ck_assert_int_eq(inc->priority, 1);
	ck_assert_int_eq(inc->type, EV_SOS);
	ck_assert_int_eq(inc->alarm_count, 2);
	ck_assert_uint_eq(w.incidents.len, 1);
	ck_assert_double_eq(inc->escalate_at, T0 + 310);
	ck_assert_str_eq(hist_find(id, "priority")->detail, "from=2 to=1");
	ck_assert(is_dirty(inc));
	/* now priority 1: the elder's station is told */
	o = pub_get("S1", "info");
	ck_assert_str_eq(jstr(o, "info"), "priority1");
	ck_assert_int_eq(jint(o, "priority"), 1);
	ck_assert_str_eq(jstr(o, "type"), "sos");
	json_decref(o);
	fx_done();

	/* a lower-priority alarm afterwards lowers nothing */
	ck_assert_int_eq(fire(t.leak1, "w-2", EV_WATER_LEAK, false, T0 + 20), id);
	ck_assert_int_eq(inc->priority, 1);
	ck_assert_int_eq(inc->type, EV_SOS);
	ck_assert_int_eq(inc->alarm_count, 3);
	ck_assert_int_eq(hist_count(id, "priority"), 0);
	fx_done();

	/* the next offer gets the priority-1 answer window */
	incident_on_timer(&w, inc, T0 + 300);
	ck_assert_int_eq(inc->offers[0].answer, ANS_TIMEOUT);
	ck_assert_str_eq(inc->offers[1].responder_id, "V2");
	ck_assert_double_eq(inc->offers[1].deadline, T0 + 360);
	check_offer_msg("V2", id, 2, 1, "sos", "w-1", 60, dist_to(t.e1, t.v2), t.e1);
}
END_TEST

/* Regression: when a joining alarm raised an incident from priority 2 to 1
 * (incident_on_event, daemon/incident.c), the offer already pending kept the
 * 300 s priority-2 answer window and its responder was never told that the
 * incident is now priority 1. An SOS arriving while a water-leak offer is
 * out therefore waits up to 5 minutes on that offer instead of the 60 s that
 * SPEC §4 gives priority 1. The pending offer's deadline should be brought
 * forward to at most now + offer_timeout_s[1] (and the timer with it). */
START_TEST(test_raise_shortens_pending_offer)
{
	int64_t id = fire(t.leak1, "w-1", EV_WATER_LEAK, false, T0);
	struct incident *inc = world_incident(&w, id);

	ck_assert_double_eq(inc->offers[0].deadline, T0 + 300);
	fx_done();
	ck_assert_int_eq(fire(t.sos1, "e-1", EV_SOS, false, T0 + 10), id);
	ck_assert_int_eq(inc->priority, 1);
	ck_assert_int_eq(inc->pending_offer, 0);
	ck_assert_msg(inc->offers[0].deadline <= T0 + 10 + 60,
		      "priority-1 incident waits on an offer until T0+%.0f",
		      inc->offers[0].deadline - T0);
	ck_assert_msg(inc->timer_at <= T0 + 10 + 60, "timer at T0+%.0f",
		      inc->timer_at - T0);
}
END_TEST

/* A clear is recorded; it never resolves a priority-1 incident. */
START_TEST(test_clear_never_resolves)
{
	int64_t id = fire(t.smoke1, "s-1", EV_SMOKE, false, T0);
	struct incident *inc = world_incident(&w, id);

	fx_done();
	ck_assert_int_eq(fire(t.smoke1, "s-2", EV_SMOKE, true, T0 + 30), id);
	ck_assert_ptr_eq(world_incident(&w, id), inc);
	ck_assert_int_eq(inc->state, INC_OFFERED);
	ck_assert_int_eq(inc->priority, 1);
	ck_assert_ptr_eq(t.e1->open_alarm, inc);
	ck_assert_int_eq(hist_count(id, "clear"), 1);
	ck_assert_int_eq(hist_count(id, "resolved"), 0);
	ck_assert_uint_eq(npubs(), 0);
	ck_assert_int_eq(inc->alarm_count, 1);
	fx_done();

	ck_assert_ptr_null(answer("V1", id, REPLY_ACCEPT, NULL, T0 + 40));
	fx_done();
	ck_assert_int_eq(fire(t.smoke1, "s-3", EV_SMOKE, true, T0 + 50), id);
	ck_assert_int_eq(inc->state, INC_ACCEPTED);
	ck_assert_ptr_nonnull(world_incident(&w, id));
	ck_assert_int_eq(t.v1->holding, 1);
	fx_done();

	/* a clear with nothing open opens nothing */
	ck_assert_int_eq(fire(t.sos2, "c-1", EV_SOS, true, T0 + 60), 0);
	ck_assert_ptr_null(t.e2->open_alarm);
	ck_assert_uint_eq(w.incidents.len, 1);
	ck_assert_uint_eq(w.fx.dirty.n, 0);
}
END_TEST

/* Events that open nothing. */
START_TEST(test_events_opening_nothing)
{
	struct device orphan;

	ck_assert_int_eq(fire(t.sos1, "h-1", EV_HEARTBEAT, false, T0), 0);
	ck_assert_int_eq(fire(t.sos1, "m-1", EV_MOTION, false, T0), 0);
	ck_assert_int_eq(fire(t.sos1, "t-1", EV_TEST, false, T0), 0);
	/* a door by day */
	ck_assert_int_eq(fire(t.door1, "d-1", EV_DOOR, false, T0), 0);
	ck_assert_uint_eq(w.incidents.len, 0);
	ck_assert_uint_eq(npubs(), 0);
	ck_assert_uint_eq(w.fx.dirty.n, 0);
	ck_assert_uint_eq(w.fx.hist.n, 0);
	/* a device that belongs to nobody */
	memset(&orphan, 0, sizeof(orphan));
	strcpy(orphan.id, "D-LOOSE");
	ck_assert_int_eq(fire(&orphan, "o-1", EV_SOS, false, T0), 0);
	ck_assert_uint_eq(w.incidents.len, 0);
}
END_TEST

/* A door at night is priority 2 for E1, priority 1 for E2 (living alone). */
START_TEST(test_door_at_night_and_risk_raise)
{
	int64_t id = fire(t.door1, "d-1", EV_DOOR, false, T_NIGHT);
	struct incident *inc = world_incident(&w, id);

	ck_assert_ptr_nonnull(inc);
	ck_assert_int_eq(inc->priority, 2);
	ck_assert_int_eq(inc->type, EV_DOOR);
	check_offer_msg("V1", id, 1, 2, "door", "d-1", 300, 556, t.e1);
	fx_done();

	/* E2 lives alone: a water leak is raised to priority 1 */
	id = fire(t.leak2, "w-9", EV_WATER_LEAK, false, T0);
	inc = world_incident(&w, id);
	ck_assert_int_eq(inc->priority, 1);
	ck_assert_double_eq(inc->escalate_at, T0 + 300);
	ck_assert_int_eq(pub_count("S1", "info"), 1);
	/* V1 has E1's offer pending: V2 is asked */
	ck_assert_str_eq(inc->offers[0].responder_id, "V2");
	check_offer_msg("V2", id, 1, 1, "water_leak", "w-9", 60, dist_to(t.e2, t.v2),
			t.e2);
}
END_TEST

/* low_battery opens a maintenance ticket for the elder's station and offers
 * nothing to any volunteer. */
START_TEST(test_low_battery_ticket)
{
	int64_t id = fire(t.hub1, "b-1", EV_LOW_BATTERY, false, T0);
	struct incident *inc = world_incident(&w, id);
	json_t *o;

	ck_assert_ptr_nonnull(inc);
	ck_assert_int_eq(inc->kind, INC_TICKET);
	ck_assert_int_eq(inc->priority, 3);
	ck_assert_int_eq(inc->type, EV_LOW_BATTERY);
	ck_assert_int_eq(inc->state, INC_OPEN);
	ck_assert_str_eq(inc->station_id, "S1");
	ck_assert_int_eq(inc->noffers, 0);
	ck_assert_int_eq(inc->pending_offer, -1);
	ck_assert_double_eq(inc->timer_at, 0);
	ck_assert_double_eq(inc->escalate_at, 0);
	ck_assert_ptr_eq(t.e1->open_ticket, inc);
	ck_assert_ptr_null(t.e1->open_alarm);
	only_pending(NULL);
	ck_assert_uint_eq(npubs(), 1);
	ck_assert_int_eq(offer_pubs(), 0);
	o = pub_get("S1", "ticket");
	ck_assert(json_is_true(json_object_get(o, "ticket")));
	ck_assert_str_eq(jstr(o, "device"), "D-HUB-1");
	ck_assert_int_eq(jint(o, "priority"), 3);
	ck_assert_str_eq(jstr(o, "type"), "low_battery");
	ck_assert_int_eq(jint(o, "incident"), id);
	json_decref(o);
	ck_assert(is_dirty(inc));
	fx_done();

	/* its timer does nothing */
	incident_on_timer(&w, inc, T0 + 3600);
	ck_assert_int_eq(inc->noffers, 0);
	ck_assert_uint_eq(npubs(), 0);
	fx_done();

	/* tamper joins the open ticket, and the station hears of it */
	ck_assert_int_eq(fire(t.hub1, "b-2", EV_TAMPER, false, T0 + 10), id);
	ck_assert_int_eq(inc->alarm_count, 2);
	ck_assert_uint_eq(w.incidents.len, 1);
	ck_assert_uint_eq(npubs(), 1);
	ck_assert_ptr_nonnull(strstr(pv.v[0].payload, "\"alarm_count\":2"));
	ck_assert_ptr_nonnull(strstr(pv.v[0].payload, "\"event_type\":\"tamper\""));
	fx_done();

	/* an SOS opens an alarm of its own next to the ticket */
	ck_assert_int_eq(fire(t.sos1, "e-1", EV_SOS, false, T0 + 20), id + 1);
	ck_assert_ptr_eq(t.e1->open_ticket, inc);
	ck_assert_ptr_eq(t.e1->open_alarm, world_incident(&w, id + 1));
	ck_assert_int_eq(world_incident(&w, id + 1)->kind, INC_ALARM);
}
END_TEST

/* A station off duty is never offered; on duty it is. */
START_TEST(test_off_duty_station)
{
	int64_t id;
	struct incident *inc;

	t.v1->active = t.v2->active = t.v3->active = t.v4->active = false;
	t.s1->duty_from = 8 * 60;
	t.s1->duty_to = 18 * 60;
	id = fire(t.sos1, "e-1", EV_SOS, false, T_NIGHT);
	inc = world_incident(&w, id);
	/* S1 is nearest but closed at 23:00: the regional center is asked */
	ck_assert_str_eq(inc->offers[0].responder_id, "R1");
	ck_assert_int_eq(pub_count("S1", "offer"), 0);
	ck_assert_int_eq(pub_count("S1", "info"), 1);
	check_offer_msg("R1", id, 1, 1, "sos", "e-1", 60, dist_to(t.e1, t.r1), t.e1);
	fx_done();
	/* still closed for the next offer */
	incident_on_timer(&w, inc, T_NIGHT + 60);
	ck_assert_str_ne(inc->offers[1].responder_id, "S1");
	ck_assert_int_eq(t.s1->pending, 0);
	fx_done();

	/* 10:00 the next morning S1 is open */
	id = fire(t.sos2, "x-1", EV_SOS, false, T_NIGHT + 11 * 3600);
	inc = world_incident(&w, id);
	ck_assert_str_eq(inc->offers[0].responder_id, "S1");
	ck_assert_int_eq(t.s1->pending, 1);
}
END_TEST

/* A volunteer farther than max_km is not offered. */
START_TEST(test_volunteer_beyond_max_km)
{
	int64_t id;
	struct incident *inc;

	all_inactive();
	t.v4->active = true; /* 6.7 km away, default limit 5 km */
	id = fire(t.sos1, "e-1", EV_SOS, false, T0);
	inc = world_incident(&w, id);
	ck_assert_int_eq(inc->noffers, 0);
	ck_assert_int_eq(inc->state, INC_OPEN);
	ck_assert_int_eq(t.v4->pending, 0);
	fx_done();

	/* a volunteer's own smaller limit also keeps them out */
	w.p.volunteer_max_km = 10;
	t.v4->max_km = 3;
	incident_on_timer(&w, inc, T0 + 30);
	ck_assert_int_eq(inc->noffers, 0);
	fx_done();

	/* with a larger personal limit they are asked */
	w.p.volunteer_max_km = 5;
	t.v4->max_km = 8;
	incident_on_timer(&w, inc, T0 + 60);
	ck_assert_int_eq(inc->noffers, 1);
	ck_assert_str_eq(inc->offers[0].responder_id, "V4");
	ck_assert_int_eq(inc->offers[0].distance_m, dist_to(t.e1, t.v4));
	ck_assert_int_gt(inc->offers[0].distance_m, 6600);
}
END_TEST

/* A volunteer with an offer pending, or holding an incident, is not offered a
 * second. */
START_TEST(test_volunteer_busy)
{
	int64_t a = fire(t.sos1, "e-1", EV_SOS, false, T0), b;
	struct incident *ia = world_incident(&w, a), *ib;

	ck_assert_str_eq(ia->offers[0].responder_id, "V1");
	fx_done();
	/* V1 is also nearest to E2, but has E1's offer */
	b = fire(t.sos2, "x-1", EV_SOS, false, T0 + 1);
	ib = world_incident(&w, b);
	ck_assert_str_eq(ib->offers[0].responder_id, "V2");
	ck_assert_int_eq(t.v1->pending, 1);
	fx_done();

	ck_assert_ptr_null(answer("V1", a, REPLY_ACCEPT, NULL, T0 + 5));
	ck_assert_int_eq(t.v1->holding, 1);
	fx_done();
	/* V1 now holds E1's incident: E2's next offer skips V1 */
	ck_assert_ptr_null(answer("V2", b, REPLY_DECLINE, NULL, T0 + 6));
	ck_assert_int_eq(ib->noffers, 2);
	ck_assert_str_eq(ib->offers[1].responder_id, "S1");
	ck_assert_int_eq(pub_count("V1", "offer"), 0);
	ck_assert_int_eq(t.v1->pending, 0);
	fx_done();

	/* once E1's incident is resolved V1 is free again */
	ck_assert_ptr_null(answer("V1", a, REPLY_DONE, NULL, T0 + 600));
	ck_assert_int_eq(t.v1->holding, 0);
	fx_done();
	ck_assert_ptr_null(answer("S1", b, REPLY_DECLINE, NULL, T0 + 601));
	ck_assert_str_eq(ib->offers[2].responder_id, "V1");
	ck_assert_int_eq(t.v1->pending, 1);
}
END_TEST

/* A station with no free capacity is skipped in ordinary dispatch. */
START_TEST(test_station_full)
{
	int64_t id;
	struct incident *inc;

	t.v1->active = t.v2->active = false;
	t.s1->holding = 1;
	id = fire(t.sos1, "e-1", EV_SOS, false, T0);
	inc = world_incident(&w, id);
	ck_assert_str_eq(inc->offers[0].responder_id, "V3");
	fx_done();
	t.s1->holding = 0;
	incident_on_timer(&w, inc, T0 + 60);
	ck_assert_str_eq(inc->offers[1].responder_id, "S1");
}
END_TEST

/* Replies from someone not (or no longer) concerned are refused with a
 * reason and change nothing. */
START_TEST(test_reply_rejected)
{
	int64_t id = fire(t.sos1, "e-1", EV_SOS, false, T0);
	struct incident *inc = world_incident(&w, id);
	const char *why;

	fx_done();
	ck_assert_str_eq(answer("X9", id, REPLY_ACCEPT, NULL, T0 + 1),
			 "unknown responder");
	ck_assert_str_eq(answer("V1", 9999, REPLY_ACCEPT, NULL, T0 + 1),
			 "unknown or closed incident");
	why = answer("V3", id, REPLY_ACCEPT, NULL, T0 + 2);
	ck_assert_ptr_nonnull(why);
	ck_assert_str_eq(why, "not offered");
	ck_assert_ptr_nonnull(answer("V3", id, REPLY_DECLINE, NULL, T0 + 2));
	ck_assert_ptr_nonnull(answer("V3", id, REPLY_ARRIVED, NULL, T0 + 2));
	ck_assert_ptr_nonnull(answer("V3", id, REPLY_DONE, NULL, T0 + 2));
	/* the offered responder cannot skip accepting */
	ck_assert_ptr_nonnull(answer("V1", id, REPLY_ARRIVED, NULL, T0 + 3));
	ck_assert_ptr_nonnull(answer("V1", id, REPLY_DONE, NULL, T0 + 3));
	ck_assert_int_eq(inc->state, INC_OFFERED);
	ck_assert_int_eq(inc->pending_offer, 0);
	ck_assert_int_eq(t.v3->pending, 0);
	ck_assert_int_eq(t.v3->holding, 0);
	only_pending(t.v1);
	ck_assert_uint_eq(npubs(), 0);
	ck_assert_uint_eq(w.fx.hist.n, 0);
	ck_assert_uint_eq(w.fx.visits.n, 0);

	ck_assert_ptr_null(answer("V1", id, REPLY_ACCEPT, NULL, T0 + 4));
	fx_done();
	ck_assert_str_eq(answer("V2", id, REPLY_ACCEPT, NULL, T0 + 5),
			 "taken by another");
	ck_assert_str_eq(answer("V1", id, REPLY_ACCEPT, NULL, T0 + 5),
			 "already accepted");
	ck_assert_ptr_nonnull(answer("V1", id, REPLY_DECLINE, NULL, T0 + 5));
	ck_assert_ptr_nonnull(answer("V3", id, REPLY_DONE, NULL, T0 + 5));
	ck_assert_int_eq(inc->state, INC_ACCEPTED);
	ck_assert_str_eq(inc->responder_id, "V1");
	ck_assert_int_eq(t.v1->holding, 1);
	ck_assert_int_eq(t.v2->holding, 0);
	ck_assert_uint_eq(w.fx.hist.n, 0);
	ck_assert_uint_eq(w.fx.visits.n, 0);
	ck_assert_ptr_nonnull(world_incident(&w, id));
}
END_TEST

/* A late accept from an earlier responder still counts while nobody has
 * accepted; the offer then pending is withdrawn. */
START_TEST(test_late_accept)
{
	int64_t id = fire(t.sos1, "e-1", EV_SOS, false, T0);
	struct incident *inc = world_incident(&w, id);

	incident_on_timer(&w, inc, T0 + 60);
	ck_assert_str_eq(inc->offers[1].responder_id, "V2");
	fx_done();
	ck_assert_ptr_null(answer("V1", id, REPLY_ACCEPT, NULL, T0 + 70));
	ck_assert_int_eq(inc->state, INC_ACCEPTED);
	ck_assert_str_eq(inc->responder_id, "V1");
	ck_assert_int_eq(inc->offers[0].answer, ANS_ACCEPTED);
	ck_assert_int_eq(inc->offers[1].answer, ANS_CANCELLED);
	ck_assert_int_eq(inc->pending_offer, -1);
	ck_assert_int_eq(t.v1->holding, 1);
	ck_assert_int_eq(t.v1->pending, 0);
	ck_assert_int_eq(t.v2->pending, 0);
	ck_assert_int_eq(t.v2->holding, 0);
	ck_assert_double_eq(inc->timer_at, 0);
	fx_done();
	/* V2's accept now comes too late */
	ck_assert_str_eq(answer("V2", id, REPLY_ACCEPT, NULL, T0 + 75),
			 "taken by another");
}
END_TEST

/* Nobody available: the incident stays open and dispatch is retried. */
START_TEST(test_no_candidates_retry)
{
	int64_t id;
	struct incident *inc;

	all_inactive();
	id = fire(t.sos1, "e-1", EV_SOS, false, T0);
	inc = world_incident(&w, id);
	ck_assert_ptr_nonnull(inc);
	ck_assert_int_eq(inc->state, INC_OPEN);
	ck_assert_int_eq(inc->noffers, 0);
	ck_assert_int_eq(inc->pending_offer, -1);
	ck_assert_double_eq(inc->retry_at, T0 + 30);
	ck_assert_double_eq(inc->timer_at, T0 + 30);
	ck_assert_int_eq(hist_count(id, "no_candidate"), 1);
	ck_assert_int_eq(offer_pubs(), 0);
	ck_assert_int_eq(pub_count("S1", "info"), 1);
	ck_assert_ptr_eq(t.e1->open_alarm, inc);
	fx_done();

	/* too early: nothing */
	incident_on_timer(&w, inc, T0 + 10);
	ck_assert_int_eq(inc->noffers, 0);
	ck_assert_int_eq(hist_count(id, "no_candidate"), 0);
	ck_assert_double_eq(inc->timer_at, T0 + 30);
	fx_done();

	/* still nobody: retried again later */
	incident_on_timer(&w, inc, T0 + 30);
	ck_assert_int_eq(inc->noffers, 0);
	ck_assert_double_eq(inc->retry_at, T0 + 60);
	ck_assert_double_eq(inc->timer_at, T0 + 60);
	fx_done();

	t.v2->active = true;
	incident_on_timer(&w, inc, T0 + 60);
	ck_assert_int_eq(inc->noffers, 1);
	ck_assert_str_eq(inc->offers[0].responder_id, "V2");
	ck_assert_int_eq(inc->state, INC_OFFERED);
	ck_assert_double_eq(inc->retry_at, 0);
	ck_assert_double_eq(inc->timer_at, T0 + 120);
}
END_TEST

/* Allocates an offer list of n entries for a rebuilt incident. */
static struct offer *
restore_offers(struct incident *inc, int n)
{
	inc->offers = xcalloc((size_t)n, sizeof(*inc->offers));
	inc->offers_cap = n;
	inc->noffers = n;
	return inc->offers;
}

/* Incidents rebuilt from the database: links, counters, and a timer in the
 * past when a deadline passed while the daemon was down. */
START_TEST(test_restore)
{
	struct incident *a = incident_new(), *b = incident_new(), *c = incident_new();
	struct offer *of;

	/* A: E1's SOS, offered to V1 whose deadline passed long ago */
	a->id = 5000;
	a->kind = INC_ALARM;
	a->state = INC_OFFERED;
	a->priority = 1;
	a->type = EV_SOS;
	str_copy(a->elder_id, "E1001", sizeof(a->elder_id));
	str_copy(a->alarm_event, "e-9", sizeof(a->alarm_event));
	a->alarm_count = 1;
	a->opened_at = T0 - 1000;
	of = restore_offers(a, 1);
	of[0].seq = 1;
	str_copy(of[0].responder_id, "V1", sizeof(of[0].responder_id));
	of[0].offered_at = T0 - 1000;
	of[0].deadline = T0 - 940;
	of[0].answer = ANS_PENDING;
	incident_restore(&w, a);

	ck_assert_ptr_eq(world_incident(&w, 5000), a);
	ck_assert_str_eq(a->key, "5000");
	ck_assert_ptr_eq(a->elder, t.e1);
	ck_assert_ptr_eq(t.e1->open_alarm, a);
	ck_assert_int_eq(a->pending_offer, 0);
	ck_assert_int_eq(t.v1->pending, 1);
	ck_assert_double_eq(a->escalate_at, T0 - 700);
	ck_assert(a->timer_at > 0);
	ck_assert(a->timer_at < T0);
	ck_assert_double_eq(a->timer_at, T0 - 940);
	ck_assert_int_eq(w.next_incident_id, 5001);
	ck_assert_uint_eq(w.n_open, 1);

	/* B: E2's accepted incident: V2 holds it, no timer */
	b->id = 4000;
	b->kind = INC_ALARM;
	b->state = INC_ACCEPTED;
	b->priority = 1;
	b->type = EV_FALL;
	str_copy(b->elder_id, "E1002", sizeof(b->elder_id));
	str_copy(b->responder_id, "V2", sizeof(b->responder_id));
	b->opened_at = T0 - 500;
	of = restore_offers(b, 1);
	of[0].seq = 1;
	str_copy(of[0].responder_id, "V2", sizeof(of[0].responder_id));
	of[0].answer = ANS_ACCEPTED;
	incident_restore(&w, b);
	ck_assert_ptr_eq(t.e2->open_alarm, b);
	ck_assert_int_eq(t.v2->holding, 1);
	ck_assert_int_eq(t.v2->pending, 0);
	ck_assert_int_eq(b->pending_offer, -1);
	ck_assert_double_eq(b->timer_at, 0);
	ck_assert_int_eq(w.next_incident_id, 5001);

	/* C: E1's ticket */
	c->id = 4500;
	c->kind = INC_TICKET;
	c->state = INC_OPEN;
	c->priority = 3;
	c->type = EV_LOW_BATTERY;
	str_copy(c->elder_id, "E1001", sizeof(c->elder_id));
	c->opened_at = T0 - 86400;
	incident_restore(&w, c);
	ck_assert_ptr_eq(t.e1->open_ticket, c);
	ck_assert_ptr_eq(t.e1->open_alarm, a);
	ck_assert_double_eq(c->timer_at, 0);
	ck_assert_uint_eq(w.n_open, 3);

	/* the adapter fires A's timer at once: timeout, then escalation */
	incident_on_timer(&w, a, T0);
	ck_assert_int_eq(a->offers[0].answer, ANS_TIMEOUT);
	ck_assert_int_eq(t.v1->pending, 0);
	ck_assert(a->escalated);
	ck_assert_str_eq(hist_find(5000, "escalated")->detail, "reason=escalate_after");
	ck_assert_int_eq(a->noffers, 2);
	ck_assert_str_eq(a->offers[1].responder_id, "S1");
	ck_assert(a->offers[1].forced);
	ck_assert_int_eq(pub_count("C1", "info"), 1);
	ck_assert_int_eq(pub_count("C2", "info"), 1);
	ck_assert_double_eq(a->timer_at, T0 + 60);
	fx_done();

	/* new incidents continue after the highest restored id */
	ck_assert_int_eq(fire(t.leak1, "w-1", EV_WATER_LEAK, false, T0 + 1), 5000);
	ck_assert_int_eq(fire(t.hub1, "b-1", EV_TAMPER, false, T0 + 1), 4500);
	ck_assert_uint_eq(w.incidents.len, 3);
}
END_TEST

/* An open incident restored without offers fires at once. */
START_TEST(test_restore_open)
{
	struct incident *a = incident_new();

	a->id = 77;
	a->kind = INC_ALARM;
	a->state = INC_OPEN;
	a->priority = 2;
	a->type = EV_INACTIVITY;
	str_copy(a->elder_id, "E1001", sizeof(a->elder_id));
	a->opened_at = T0 - 120;
	incident_restore(&w, a);
	ck_assert_double_eq(a->escalate_at, 0);
	ck_assert_double_eq(a->timer_at, T0 - 120);
	ck_assert_int_eq(w.next_incident_id, 1000);
	incident_on_timer(&w, a, T0);
	ck_assert_int_eq(a->noffers, 1);
	ck_assert_str_eq(a->offers[0].responder_id, "V1");
	ck_assert_double_eq(a->offers[0].deadline, T0 + 300);
	check_offer_msg("V1", 77, 1, 2, "inactivity", "", 300, 556, t.e1);
}
END_TEST

/* Names of states and answers round-trip. */
START_TEST(test_names)
{
	int i;

	for (i = INC_OPEN; i <= INC_RESOLVED; i++)
		ck_assert_int_eq(inc_state_parse(inc_state_name((enum inc_state)i)), i);
	for (i = ANS_PENDING; i <= ANS_CANCELLED; i++)
		ck_assert_int_eq(answer_parse(answer_name((enum offer_answer)i)), i);
	ck_assert_str_eq(inc_state_name(INC_ON_SITE), "on_site");
	ck_assert_str_eq(answer_name(ANS_TIMEOUT), "timeout");
	ck_assert_int_eq(inc_state_parse("closed"), -1);
	ck_assert_int_eq(answer_parse(""), -1);
}
END_TEST

/* --- operators ------------------------------------------------------------ */

/* The FX_CHANGED effect of incident id once the effects are settled; fails
 * when there is none. */
static const struct effect *
changed_fx(int64_t id)
{
	size_t i;

	effects_settle(&w);
	for (i = 0; i < w.fx.out.n; i++)
		if (w.fx.out.v[i].kind == FX_CHANGED && w.fx.out.v[i].incident_id == id)
			return &w.fx.out.v[i];
	ck_abort_msg("no FX_CHANGED for incident %lld", (long long)id);
	return NULL;
}

/* An acknowledgement records who, when and the note, apart from the state;
 * a second one, by anyone, is refused and changes nothing. */
START_TEST(test_ack)
{
	int64_t id = fire(t.sos1, "e-1", EV_SOS, false, T0);
	struct incident *inc = world_incident(&w, id);
	const struct hist *h;

	fx_done();
	ck_assert_ptr_null(
	    incident_ack(&w, id, "op-wang", "phoned, she is fine", T0 + 30));
	ck_assert_str_eq(inc->acked_by, "op-wang");
	ck_assert_double_eq(inc->acked_at, T0 + 30);
	ck_assert_str_eq(inc->ack_note, "phoned, she is fine");
	ck_assert_int_eq(hist_count(id, "acked"), 1);
	h = hist_find(id, "acked");
	ck_assert_str_eq(h->actor, "op-wang");
	ck_assert_double_eq(h->at, T0 + 30);
	ck_assert_str_eq(h->detail, "note=phoned, she is fine");
	ck_assert(is_dirty(inc));
	/* seen is not taken: state, offers and deadlines stay as they were */
	ck_assert_int_eq(inc->state, INC_OFFERED);
	ck_assert_int_eq(inc->noffers, 1);
	ck_assert_int_eq(inc->pending_offer, 0);
	ck_assert_int_eq(inc->offers[0].answer, ANS_PENDING);
	ck_assert_double_eq(inc->timer_at, T0 + 60);
	ck_assert(!inc->escalated);
	only_pending(t.v1);
	ck_assert_uint_eq(npubs(), 0);
	ck_assert_uint_eq(w.fx.visits.n, 0);
	ck_assert_ptr_eq(world_incident(&w, id), inc);
	/* the event stream hears of it */
	ck_assert(changed_fx(id)->acked);
	fx_done();

	/* a second acknowledgement, by another operator or the same */
	ck_assert_str_eq(incident_ack(&w, id, "op-li", "me too", T0 + 40),
			 "already acknowledged by op-wang");
	ck_assert_str_eq(incident_ack(&w, id, "op-wang", NULL, T0 + 41),
			 "already acknowledged by op-wang");
	ck_assert_str_eq(inc->acked_by, "op-wang");
	ck_assert_double_eq(inc->acked_at, T0 + 30);
	ck_assert_str_eq(inc->ack_note, "phoned, she is fine");
	ck_assert_uint_eq(w.fx.hist.n, 0);
	ck_assert_uint_eq(w.fx.dirty.n, 0);

	/* the incident goes on as before */
	incident_on_timer(&w, inc, T0 + 60);
	ck_assert_str_eq(inc->offers[1].responder_id, "V2");
	fx_done();

	/* unknown, and closed, incidents */
	ck_assert_str_eq(incident_ack(&w, 9999, "op-li", NULL, T0 + 50),
			 "unknown or closed incident");
	ck_assert_ptr_null(answer("V2", id, REPLY_ACCEPT, NULL, T0 + 70));
	ck_assert_ptr_null(answer("V2", id, REPLY_DONE, NULL, T0 + 900));
	fx_done();
	ck_assert_str_eq(incident_ack(&w, id, "op-li", NULL, T0 + 901),
			 "unknown or closed incident");
	ck_assert_uint_eq(w.fx.hist.n, 0);
	ck_assert_uint_eq(w.fx.dirty.n, 0);
}
END_TEST

/* Tickets are acknowledged too; input that cannot be stored is refused or
 * cut, never taken half. */
START_TEST(test_ack_ticket_and_bad_input)
{
	int64_t id = fire(t.hub1, "b-1", EV_LOW_BATTERY, false, T0);
	struct incident *inc = world_incident(&w, id);
	char longop[REF_ID_MAX + 2], note[700];
	size_t i;
	int line;

	ck_assert_int_eq(inc->kind, INC_TICKET);
	fx_done();
	memset(longop, 'o', sizeof(longop) - 1);
	longop[sizeof(longop) - 1] = '\0';
	ck_assert_ptr_nonnull(incident_ack(&w, id, NULL, NULL, T0 + 1));
	ck_assert_ptr_nonnull(incident_ack(&w, id, "", NULL, T0 + 1));
	ck_assert_ptr_nonnull(incident_ack(&w, id, longop, NULL, T0 + 1));
	ck_assert_ptr_nonnull(incident_ack(&w, id, "op\nwang", NULL, T0 + 1));
	ck_assert_ptr_nonnull(incident_ack(&w, id, "op-\xff", NULL, T0 + 1));
	ck_assert_ptr_nonnull(incident_ack(&w, id, "op-wang", "bad \xc3(", T0 + 1));
	ck_assert_str_eq(inc->acked_by, "");
	ck_assert_double_eq(inc->acked_at, 0);
	ck_assert_uint_eq(w.fx.hist.n, 0);
	ck_assert_uint_eq(w.fx.dirty.n, 0);

	/* a note too long for the column is cut between two characters */
	note[0] = '\0';
	for (i = 0; i < 200; i++)
		strcat(note, "老"); /* 3 bytes each: 600 in all */
	longop[REF_ID_MAX] = '\0';  /* 64 bytes: the longest id there is */
	ck_assert_ptr_null(incident_ack(&w, id, longop, note, T0 + 2));
	ck_assert_str_eq(inc->acked_by, longop);
	ck_assert_uint_eq(strlen(inc->ack_note), 510);
	ck_assert_int_eq(strncmp(inc->ack_note, note, 510), 0);
	ck_assert_int_eq(csv_check_utf8(inc->ack_note, strlen(inc->ack_note), &line), 0);
	ck_assert_int_eq(csv_check_utf8(hist_find(id, "acked")->detail,
					strlen(hist_find(id, "acked")->detail), &line),
			 0);
	ck_assert_int_eq(inc->state, INC_OPEN);
	ck_assert_str_eq(inc->station_id, "S1");
	ck_assert_uint_eq(npubs(), 0);
	fx_done();

	/* no note at all: none recorded */
	id = fire(t.sos1, "e-1", EV_SOS, false, T0 + 3);
	ck_assert_ptr_null(incident_ack(&w, id, "op-li", NULL, T0 + 4));
	ck_assert_str_eq(world_incident(&w, id)->ack_note, "");
	ck_assert_ptr_null(hist_find(id, "acked")->detail);
}
END_TEST

/* An operator closes an offered incident: the offer is withdrawn, the
 * responder freed, no visit (nobody went), and the next alarm opens anew. */
START_TEST(test_operator_resolve)
{
	int64_t id = fire(t.sos1, "e-1", EV_SOS, false, T0);
	struct incident *inc = world_incident(&w, id);
	struct responder *v1 = hmap_get(&w.responders, "V1");
	const struct hist *h;
	json_t *o;

	fx_done();
	ck_assert_int_eq(v1->pending, 1);
	/* an outcome is required, and must be one of SPEC §5 */
	ck_assert_str_eq(incident_resolve_op(&w, id, "op-wang", NULL, NULL, T0 + 10),
			 "outcome required");
	ck_assert_str_eq(incident_resolve_op(&w, id, "op-wang", "", NULL, T0 + 10),
			 "outcome required");
	ck_assert_str_eq(incident_resolve_op(&w, id, "op-wang", "fixed", NULL, T0 + 10),
			 "unknown outcome");
	ck_assert_ptr_nonnull(incident_resolve_op(&w, id, "", "test", NULL, T0 + 10));
	ck_assert_ptr_nonnull(incident_resolve_op(&w, id, NULL, "test", NULL, T0 + 10));
	ck_assert_str_eq(incident_resolve_op(&w, 9999, "op-wang", "test", NULL, T0 + 10),
			 "unknown or closed incident");
	ck_assert_ptr_eq(world_incident(&w, id), inc);
	ck_assert_int_eq(inc->state, INC_OFFERED);
	ck_assert_int_eq(v1->pending, 1);
	ck_assert_uint_eq(w.fx.hist.n, 0);
	ck_assert_uint_eq(npubs(), 0);

	ck_assert_ptr_null(incident_resolve_op(&w, id, "op-wang", "false_alarm",
					       "pressed by mistake", T0 + 30));
	ck_assert_ptr_null(world_incident(&w, id));
	ck_assert_int_eq(inc->state, INC_RESOLVED);
	ck_assert_str_eq(inc->outcome, "false_alarm");
	ck_assert_str_eq(inc->resolved_by, "op-wang");
	ck_assert_double_eq(inc->resolved_at, T0 + 30);
	ck_assert_double_eq(inc->timer_at, 0);
	ck_assert_int_eq(inc->pending_offer, -1);
	ck_assert_int_eq(inc->offers[0].answer, ANS_CANCELLED);
	ck_assert_double_eq(inc->offers[0].answered_at, T0 + 30);
	ck_assert_int_eq(v1->pending, 0);
	ck_assert_int_eq(v1->holding, 0);
	only_pending(NULL);
	ck_assert_uint_eq(w.n_open, 0);
	ck_assert(is_dirty(inc));
	/* V1 is told not to set out */
	ck_assert_int_eq(offer_pubs(), 1);
	o = pub_get("V1", "cancelled");
	ck_assert(json_is_true(json_object_get(o, "cancelled")));
	ck_assert_int_eq(jint(o, "incident"), id);
	ck_assert_int_eq(jint(o, "offer"), 1);
	json_decref(o);
	/* nobody went: no visit */
	ck_assert_uint_eq(w.fx.visits.n, 0);
	h = hist_find(id, "resolved");
	ck_assert_str_eq(h->actor, "op-wang");
	ck_assert_str_eq(h->detail, "outcome=false_alarm note=pressed by mistake");
	ck_assert_ptr_null(t.e1->open_alarm);
	fx_done(); /* frees the resolved incident */

	/* a second close, or any operator action, finds it closed */
	ck_assert_str_eq(incident_resolve_op(&w, id, "op-li", "test", NULL, T0 + 31),
			 "unknown or closed incident");
	ck_assert_str_eq(incident_dispatch_to(&w, id, "V2", "op-li", T0 + 31),
			 "unknown or closed incident");
	/* the next alarm opens a new incident, offered to V1 again */
	ck_assert_int_eq(fire(t.sos1, "e-2", EV_SOS, false, T0 + 40), id + 1);
	ck_assert_ptr_eq(t.e1->open_alarm, world_incident(&w, id + 1));
	ck_assert_str_eq(world_incident(&w, id + 1)->offers[0].responder_id, "V1");
}
END_TEST

/* Closed by an operator after a responder reached the elder: an in-person
 * visit; after an accept without arrival: none. Both free the responder. */
START_TEST(test_operator_resolve_visit)
{
	int64_t a = fire(t.sos1, "e-1", EV_SOS, false, T0), b;
	struct incident *ia = world_incident(&w, a), *ib;
	json_t *o;

	ck_assert_ptr_null(answer("V1", a, REPLY_ACCEPT, NULL, T0 + 10));
	ck_assert_ptr_null(answer("V1", a, REPLY_ARRIVED, NULL, T0 + 600));
	fx_done();
	ck_assert_int_eq(t.v1->holding, 1);
	ck_assert_ptr_null(
	    incident_resolve_op(&w, a, "op-wang", "emergency_handled", NULL, T0 + 1200));
	ck_assert_int_eq(ia->state, INC_RESOLVED);
	ck_assert_int_eq(t.v1->holding, 0);
	ck_assert_int_eq(t.v1->pending, 0);
	ck_assert_uint_eq(w.fx.visits.n, 1);
	ck_assert_str_eq(w.fx.visits.v[0].id, "inc-1000");
	ck_assert_str_eq(w.fx.visits.v[0].elder_id, "E1001");
	ck_assert_str_eq(w.fx.visits.v[0].responder_id, "V1");
	ck_assert_str_eq(w.fx.visits.v[0].kind, "alarm_followup");
	ck_assert(w.fx.visits.v[0].in_person);
	ck_assert_int_eq(w.fx.visits.v[0].incident_id, a);
	ck_assert_double_eq(w.fx.visits.v[0].at, T0 + 1200);
	ck_assert_str_eq(hist_find(a, "resolved")->detail, "outcome=emergency_handled");
	ck_assert_str_eq(hist_find(a, "resolved")->actor, "op-wang");
	/* nothing was pending: nobody is told to stand down */
	ck_assert_uint_eq(npubs(), 0);
	fx_done();

	/* accepted, on the way, closed before arrival (e.g. handed to 120) */
	b = fire(t.sos2, "x-1", EV_SOS, false, T0 + 2000);
	ib = world_incident(&w, b);
	ck_assert_str_eq(ib->offers[0].responder_id, "V1");
	ck_assert_ptr_null(answer("V1", b, REPLY_ACCEPT, NULL, T0 + 2010));
	fx_done();
	ck_assert_int_eq(t.v1->holding, 1);
	ck_assert_ptr_null(
	    incident_resolve_op(&w, b, "op-wang", "transferred_120", "", T0 + 2100));
	ck_assert_int_eq(ib->state, INC_RESOLVED);
	ck_assert_int_eq(t.v1->holding, 0);
	ck_assert_uint_eq(w.fx.visits.n, 0);
	ck_assert_str_eq(hist_find(b, "resolved")->detail, "outcome=transferred_120");
	/* V1, on the way, is told to stand down, with the offer it took */
	ck_assert_int_eq(pub_count("V1", "cancelled"), 1);
	o = pub_get("V1", "cancelled");
	ck_assert_int_eq(jint(o, "incident"), b);
	ck_assert_int_eq(jint(o, "offer"), 1);
	json_decref(o);
	ck_assert_ptr_null(t.e2->open_alarm);
	fx_done();

	/* and a ticket: closed, no visit */
	b = fire(t.hub1, "b-1", EV_LOW_BATTERY, false, T0 + 3000);
	fx_done();
	ck_assert_ptr_null(incident_resolve_op(&w, b, "op-li", "test", NULL, T0 + 3100));
	ck_assert_ptr_null(world_incident(&w, b));
	ck_assert_ptr_null(t.e1->open_ticket);
	ck_assert_uint_eq(w.fx.visits.n, 0);
}
END_TEST

/* A manual offer goes to the named volunteer even beyond max_km, with the
 * usual window, after the offer then pending is withdrawn. */
START_TEST(test_manual_dispatch)
{
	int64_t id = fire(t.sos1, "e-1", EV_SOS, false, T0);
	struct incident *inc = world_incident(&w, id);
	json_t *o;

	ck_assert_str_eq(inc->offers[0].responder_id, "V1");
	fx_done();
	ck_assert_ptr_null(incident_dispatch_to(&w, id, "V4", "op-wang", T0 + 20));
	/* V1's offer withdrawn, V1 told */
	ck_assert_int_eq(inc->offers[0].answer, ANS_CANCELLED);
	ck_assert_int_eq(t.v1->pending, 0);
	o = pub_get("V1", "cancelled");
	ck_assert(json_is_true(json_object_get(o, "cancelled")));
	ck_assert_int_eq(jint(o, "offer"), 1);
	json_decref(o);
	/* V4, 6.7 km away with a 5 km limit, has the offer */
	ck_assert_int_eq(inc->noffers, 2);
	ck_assert_int_eq(inc->pending_offer, 1);
	ck_assert_str_eq(inc->offers[1].responder_id, "V4");
	ck_assert_int_eq(inc->offers[1].rkind, RESP_VOLUNTEER);
	ck_assert(inc->offers[1].forced);
	ck_assert(inc->offers[1].manual);
	ck_assert_int_eq(inc->offers[1].distance_m, dist_to(t.e1, t.v4));
	ck_assert_int_gt(inc->offers[1].distance_m, 5000);
	ck_assert_double_eq(inc->offers[1].offered_at, T0 + 20);
	ck_assert_double_eq(inc->offers[1].deadline, T0 + 80);
	ck_assert_double_eq(inc->timer_at, T0 + 80);
	ck_assert_int_eq(inc->state, INC_OFFERED);
	only_pending(t.v4);
	ck_assert(is_dirty(inc));
	ck_assert_int_eq(offer_pubs(), 2); /* the withdrawal and the offer */
	ck_assert_int_eq(pub_count("V4", "offer"), 1);
	check_offer_msg("V4", id, 2, 1, "sos", "e-1", 60, dist_to(t.e1, t.v4), t.e1);
	o = pub_get("V4", "offer");
	ck_assert(json_is_true(json_object_get(o, "forced")));
	ck_assert_ptr_null(json_object_get(o, "cancelled"));
	json_decref(o);
	ck_assert_str_eq(hist_find(id, "dispatched")->actor, "op-wang");
	ck_assert_str_eq(hist_find(id, "dispatched")->detail, "responder=V4");
	ck_assert_str_eq(hist_find(id, "offered")->actor, "V4");
	fx_done();

	/* the same responder again: refused, nothing sent */
	ck_assert_str_eq(incident_dispatch_to(&w, id, "V4", "op-li", T0 + 30),
			 "already offered");
	ck_assert_int_eq(inc->noffers, 2);
	ck_assert_uint_eq(npubs(), 0);
	ck_assert_uint_eq(w.fx.hist.n, 0);

	/* a station without free capacity is busy: refused, nothing changed */
	t.s1->holding = t.s1->capacity;
	ck_assert_str_eq(incident_dispatch_to(&w, id, "S1", "op-li", T0 + 40),
			 "responder S1 is busy");
	ck_assert_int_eq(inc->noffers, 2);
	ck_assert_uint_eq(npubs(), 0);
	/* a volunteer holding another incident is busy too */
	t.v2->holding = 1;
	ck_assert_str_eq(incident_dispatch_to(&w, id, "V2", "op-li", T0 + 40),
			 "responder V2 is busy");
	t.v2->holding = 0;
	t.s1->holding = t.s1->capacity - 1;
	ck_assert_ptr_null(incident_dispatch_to(&w, id, "S1", "op-li", T0 + 40));
	ck_assert_int_eq(inc->offers[1].answer, ANS_CANCELLED);
	ck_assert_str_eq(inc->offers[2].responder_id, "S1");
	ck_assert_int_eq(inc->offers[2].rkind, RESP_STATION);
	only_pending(t.s1);
	ck_assert_int_eq(pub_count("V4", "cancelled"), 1);
	fx_done();

	/* accepted: no more manual offers */
	ck_assert_ptr_null(answer("S1", id, REPLY_ACCEPT, NULL, T0 + 50));
	fx_done();
	ck_assert_str_eq(incident_dispatch_to(&w, id, "V2", "op-li", T0 + 60),
			 "already accepted");
	ck_assert_int_eq(inc->noffers, 3);
	ck_assert_int_eq(t.v2->pending, 0);
	ck_assert_uint_eq(npubs(), 0);
}
END_TEST

/* The operator's picker: active responders nearest first, with whether
 * each could take an offer now. */
START_TEST(test_candidates)
{
	struct candidate c[4];
	size_t n, i;

	t.v3->active = false;
	t.v2->holding = 1;
	n = world_candidates(&w, t.e1->lat, t.e1->lon, T0, c, 4);
	ck_assert_uint_eq(n, 4);
	ck_assert_str_eq(c[0].r->id, "V1");
	ck_assert_str_eq(c[1].r->id, "V2");
	ck_assert_str_eq(c[2].r->id, "S1");
	ck_assert_str_eq(c[3].r->id, "V4"); /* V3 is inactive: left out */
	for (i = 1; i < n; i++)
		ck_assert_int_le(c[i - 1].distance_m, c[i].distance_m);
	ck_assert_int_eq(c[0].distance_m, dist_to(t.e1, t.v1));
	ck_assert(!c[0].busy);
	ck_assert(c[1].busy);
	ck_assert_uint_eq(world_candidates(&w, t.e1->lat, t.e1->lon, T0, c, 0), 0);
}
END_TEST

/* Manual offers that make no sense are refused and change nothing. */
START_TEST(test_manual_dispatch_refused)
{
	int64_t id = fire(t.sos1, "e-1", EV_SOS, false, T0), ticket;
	struct incident *inc = world_incident(&w, id);

	ticket = fire(t.hub1, "b-1", EV_LOW_BATTERY, false, T0);
	fx_done();
	t.v3->active = false;
	ck_assert_str_eq(incident_dispatch_to(&w, id, "X9", "op-wang", T0 + 1),
			 "unknown responder");
	ck_assert_str_eq(incident_dispatch_to(&w, id, "", "op-wang", T0 + 1),
			 "unknown responder");
	ck_assert_str_eq(incident_dispatch_to(&w, id, NULL, "op-wang", T0 + 1),
			 "unknown responder");
	ck_assert_str_eq(incident_dispatch_to(&w, id, "V3", "op-wang", T0 + 1),
			 "responder inactive");
	ck_assert_str_eq(incident_dispatch_to(&w, ticket, "V2", "op-wang", T0 + 1),
			 "a ticket is not dispatched");
	ck_assert_str_eq(incident_dispatch_to(&w, 9999, "V2", "op-wang", T0 + 1),
			 "unknown or closed incident");
	ck_assert_ptr_nonnull(incident_dispatch_to(&w, id, "V2", NULL, T0 + 1));
	ck_assert_ptr_nonnull(incident_dispatch_to(&w, id, "V2", "", T0 + 1));
	ck_assert_str_eq(incident_dispatch_to(&w, id, "V1", "op-wang", T0 + 1),
			 "already offered");
	ck_assert_int_eq(inc->noffers, 1);
	ck_assert_int_eq(inc->pending_offer, 0);
	ck_assert_int_eq(world_incident(&w, ticket)->noffers, 0);
	only_pending(t.v1);
	ck_assert_uint_eq(npubs(), 0);
	ck_assert_uint_eq(w.fx.hist.n, 0);
	ck_assert_uint_eq(w.fx.dirty.n, 0);
}
END_TEST

/* Manual offers do not count towards max_offers: escalation still comes
 * after three offers of the daemon's own. */
START_TEST(test_manual_not_max_offers)
{
	int64_t id = fire(t.leak1, "w-1", EV_WATER_LEAK, false, T0);
	struct incident *inc = world_incident(&w, id);

	ck_assert_int_eq(inc->priority, 2);
	ck_assert_str_eq(inc->offers[0].responder_id, "V1");
	fx_done();
	ck_assert_ptr_null(incident_dispatch_to(&w, id, "V4", "op-wang", T0 + 10));
	ck_assert_double_eq(inc->offers[1].deadline, T0 + 310); /* priority 2 */
	ck_assert_ptr_null(incident_dispatch_to(&w, id, "R1", "op-wang", T0 + 20));
	ck_assert_ptr_null(incident_dispatch_to(&w, id, "C1", "op-wang", T0 + 30));
	ck_assert_int_eq(inc->noffers, 4);
	ck_assert(!inc->escalated);
	fx_done();

	/* C1 lets it run out: the daemon's second ranked offer, no escalation */
	incident_on_timer(&w, inc, T0 + 330);
	ck_assert_int_eq(inc->offers[3].answer, ANS_TIMEOUT);
	ck_assert(!inc->escalated);
	ck_assert_int_eq(hist_count(id, "escalated"), 0);
	ck_assert_int_eq(inc->noffers, 5);
	ck_assert_str_eq(inc->offers[4].responder_id, "V2");
	ck_assert(!inc->offers[4].forced);
	ck_assert(!inc->offers[4].manual);
	ck_assert_int_eq(pub_count("C2", NULL), 0);
	fx_done();
	ck_assert_ptr_null(answer("V2", id, REPLY_DECLINE, NULL, T0 + 340));
	ck_assert(!inc->escalated);
	ck_assert_str_eq(inc->offers[5].responder_id, "S1");
	fx_done();
	/* the third ranked offer declined: now it escalates */
	ck_assert_ptr_null(answer("S1", id, REPLY_DECLINE, NULL, T0 + 350));
	ck_assert(inc->escalated);
	ck_assert_str_eq(hist_find(id, "escalated")->detail, "reason=max_offers");
}
END_TEST

/* --- defects fixed in the core --------------------------------------------- */

#define T_2AM  (T0 - 8 * 3600) /* 2026-11-22T02:00:00+08:00 */
#define T_NOON (T0 + 2 * 3600) /* 2026-11-22T12:00:00+08:00 */

/* A device event received at received, stamped ts by the device (0: none),
 * processed at now: a replay after a restart is processed late. */
static int64_t
fire_received(struct device *d, const char *event_id, enum ev_type type, double received,
	      double ts, double now)
{
	struct devevent ev;

	memset(&ev, 0, sizeof(ev));
	str_copy(ev.id, event_id, sizeof(ev.id));
	ev.type = type;
	ev.battery = -1;
	ev.received = received;
	ev.ts = ts;
	return incident_on_event(&w, d, &ev, now);
}

/* An event is classified as of when the daemon received it: a door at
 * night replayed at noon is still a night door; a door received by day is
 * nothing whatever the device's clock says. */
START_TEST(test_classified_by_receive_time)
{
	struct device *door2 = add_device("D-DOOR-2", "door", t.e2);
	struct incident *inc;
	int64_t id;

	/* received at noon: a door by day, even for E2 who lives alone */
	ck_assert_int_eq(fire_received(door2, "d-1", EV_DOOR, T_NOON, 0, T_NOON), 0);
	/* the device claims 02:00; received at noon it is still day */
	ck_assert_int_eq(fire_received(door2, "d-2", EV_DOOR, T_NOON, T_2AM, T_NOON), 0);
	ck_assert_int_eq(fire_received(t.door1, "d-3", EV_DOOR, T_NOON, T_2AM, T_NOON),
			 0);
	ck_assert_uint_eq(w.incidents.len, 0);
	ck_assert_uint_eq(w.fx.hist.n, 0);
	ck_assert_uint_eq(npubs(), 0);

	/* received at 02:00, processed at noon (a replay): a night door */
	id = fire_received(t.door1, "d-4", EV_DOOR, T_2AM, 0, T_NOON);
	inc = world_incident(&w, id);
	ck_assert_ptr_nonnull(inc);
	ck_assert_int_eq(inc->priority, 2);
	ck_assert_int_eq(inc->type, EV_DOOR);
	ck_assert_double_eq(inc->opened_at, T_2AM);
	ck_assert_double_eq(hist_find(id, "opened")->at, T_2AM);
	/* offered now, with a window from now */
	ck_assert_double_eq(inc->offers[0].offered_at, T_NOON);
	ck_assert_double_eq(inc->offers[0].deadline, T_NOON + 300);
	check_offer_msg("V1", id, 1, 2, "door", "d-4", 300, 556, t.e1);
	fx_done();

	/* the device's clock at noon does not make a 02:00 door a day door;
	 * for E2 (living alone) it is raised to priority 1 */
	id = fire_received(door2, "d-5", EV_DOOR, T_2AM, T_NOON, T_NOON);
	inc = world_incident(&w, id);
	ck_assert_ptr_nonnull(inc);
	ck_assert_int_eq(inc->priority, 1);
	ck_assert_double_eq(inc->opened_at, T_2AM);
}
END_TEST

/* Gives the county area codes: S1 in E1's village, R1 E1's township's
 * regional center, C2 the county center of E1's county and C1 that of
 * another county (C1 sorts first: only the area may pick C2). */
static void
county_areas(void)
{
	str_copy(t.s1->area_code, "140426101201", sizeof(t.s1->area_code));
	str_copy(t.r1->area_code, "140426101000", sizeof(t.r1->area_code));
	str_copy(t.c2->area_code, "140426000000", sizeof(t.c2->area_code));
	str_copy(t.c1->area_code, "140427000000", sizeof(t.c1->area_code));
}

/* Tickets of an elder without a (known) station go to the township's
 * regional center, else to the county center. */
START_TEST(test_ticket_station_fallback)
{
	int64_t id;
	struct incident *inc;
	json_t *o;

	county_areas();
	ck_assert_ptr_eq(ticket_station(&w, t.e1), t.s1);

	/* no station of their own */
	t.e1->station_id[0] = '\0';
	ck_assert_ptr_eq(ticket_station(&w, t.e1), t.r1);
	id = fire(t.hub1, "b-1", EV_LOW_BATTERY, false, T0);
	inc = world_incident(&w, id);
	ck_assert_str_eq(inc->station_id, "R1");
	ck_assert_int_eq(pub_count("S1", NULL), 0);
	o = pub_get("R1", "ticket");
	ck_assert_int_eq(jint(o, "incident"), id);
	json_decref(o);
	fx_done();
	/* R1 holds it, so R1 may close it */
	ck_assert_str_eq(answer("S1", id, REPLY_DONE, NULL, T0 + 60),
			 "not the ticket's station");
	ck_assert_ptr_null(answer("R1", id, REPLY_DONE, NULL, T0 + 60));
	fx_done();

	/* a station id that names no station (gone, or a volunteer's id) */
	str_copy(t.e1->station_id, "S-GONE", sizeof(t.e1->station_id));
	ck_assert_ptr_eq(ticket_station(&w, t.e1), t.r1);
	id = fire(t.hub1, "b-2", EV_TAMPER, false, T0 + 100);
	ck_assert_str_eq(world_incident(&w, id)->station_id, "R1");
	str_copy(t.e1->station_id, "V1", sizeof(t.e1->station_id));
	ck_assert_ptr_eq(ticket_station(&w, t.e1), t.r1);

	/* no regional center in the township (R1 serves another one): the
	 * county center of the elder's county, not the first one */
	str_copy(t.r1->area_code, "140426102000", sizeof(t.r1->area_code));
	ck_assert_ptr_eq(ticket_station(&w, t.e1), t.c2);
	str_copy(t.e1->station_id, "", sizeof(t.e1->station_id));
	ck_assert_ptr_eq(ticket_station(&w, t.e1), t.c2);
	/* a village station in the township is no regional center */
	str_copy(t.s1->area_code, "140426101000", sizeof(t.s1->area_code));
	ck_assert_ptr_eq(ticket_station(&w, t.e1), t.c2);
}
END_TEST

/* Builds the suite of every incident test. */
static Suite *
incident_suite(void)
{
	Suite *s = suite_create("incident");
	TCase *tc = tcase_create("flow");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_sos_offers_nearest);
	tcase_add_test(tc, test_accept_arrive_done);
	tcase_add_test(tc, test_done_with_outcome);
	tcase_add_test(tc, test_decline_next);
	tcase_add_test(tc, test_timeout_next);
	tcase_add_test(tc, test_reply_rejected);
	tcase_add_test(tc, test_late_accept);
	suite_add_tcase(s, tc);

	tc = tcase_create("escalation");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_escalate_after_max_offers);
	tcase_add_test(tc, test_escalate_by_time);
	tcase_add_test(tc, test_no_time_escalation_p2);
	suite_add_tcase(s, tc);

	tc = tcase_create("correlation");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_second_alarm_joins);
	tcase_add_test(tc, test_join_raises_priority);
	tcase_add_test(tc, test_raise_shortens_pending_offer);
	tcase_add_test(tc, test_clear_never_resolves);
	tcase_add_test(tc, test_events_opening_nothing);
	tcase_add_test(tc, test_door_at_night_and_risk_raise);
	tcase_add_test(tc, test_low_battery_ticket);
	suite_add_tcase(s, tc);

	tc = tcase_create("candidates");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_off_duty_station);
	tcase_add_test(tc, test_volunteer_beyond_max_km);
	tcase_add_test(tc, test_volunteer_busy);
	tcase_add_test(tc, test_station_full);
	tcase_add_test(tc, test_no_candidates_retry);
	suite_add_tcase(s, tc);

	tc = tcase_create("restore");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_restore);
	tcase_add_test(tc, test_restore_open);
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("operators");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_ack);
	tcase_add_test(tc, test_ack_ticket_and_bad_input);
	tcase_add_test(tc, test_operator_resolve);
	tcase_add_test(tc, test_operator_resolve_visit);
	tcase_add_test(tc, test_manual_dispatch);
	tcase_add_test(tc, test_manual_dispatch_refused);
	tcase_add_test(tc, test_candidates);
	tcase_add_test(tc, test_manual_not_max_offers);
	suite_add_tcase(s, tc);

	tc = tcase_create("fixes");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_classified_by_receive_time);
	tcase_add_test(tc, test_ticket_station_fallback);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	setenv("TZ", "Asia/Shanghai", 1);
	tzset();
	return check_run(incident_suite());
}
