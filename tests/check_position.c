/* check_position.c - unit tests for issue 7's pure parts: OwnTracks topics
 * and payloads, the grid's O(1) move of a live position, ranking by skills
 * and by live position, and the per-device token bucket */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check_run.h"
#include "dispatch.h"
#include "flood.h"
#include "geo.h"
#include "incident.h"
#include "owntracks.h"
#include "skills.h"
#include "util.h"
#include "validate.h"

/* --- OwnTracks ------------------------------------------------------------ */

START_TEST(test_ot_topic)
{
	char u[65];

	ck_assert_int_eq(owntracks_topic("owntracks/zhao/phone", u, sizeof(u)), 0);
	ck_assert_str_eq(u, "zhao");
	ck_assert_int_eq(owntracks_topic("owntracks/李四/iPhone", u, sizeof(u)), 0);
	ck_assert_str_eq(u, "李四");
	ck_assert_int_lt(owntracks_topic("owntracks/zhao", u, sizeof(u)), 0);
	ck_assert_int_lt(owntracks_topic("owntracks//phone", u, sizeof(u)), 0);
	ck_assert_int_lt(owntracks_topic("owntracks/zhao/", u, sizeof(u)), 0);
	ck_assert_int_lt(owntracks_topic("owntracks/zhao/phone/event", u, sizeof(u)), 0);
	ck_assert_int_lt(owntracks_topic("carewatch/zhao/phone", u, sizeof(u)), 0);
	ck_assert_int_lt(owntracks_topic("owntracks/zhao/phone", u, 4), 0);
}
END_TEST

/* The booklet's location message, with every field the apps send. */
START_TEST(test_ot_location)
{
	static const char loc[] =
	    "{\"_type\":\"location\",\"acc\":12,\"alt\":915,\"batt\":78,\"bs\":1,"
	    "\"conn\":\"m\",\"created_at\":1795312800,\"lat\":36.5009,\"lon\":113.4,"
	    "\"m\":1,\"t\":\"u\",\"tid\":\"z3\",\"tst\":1795312799,\"vac\":3,\"vel\":0,"
	    "\"inregions\":[\"home\"],\"BSSID\":\"b0:f2:8:45:94:33\",\"SSID\":\"Home\"}";
	static const char minimal[] =
	    "{\"_type\":\"location\",\"lat\":-33.9,\"lon\":-151.2,\"tst\":1376715317}";
	struct ot_fix f;
	const char *why = NULL;

	ck_assert_int_eq(owntracks_parse(loc, strlen(loc), &f, &why), OT_LOCATION);
	ck_assert_double_eq(f.lat, 36.5009);
	ck_assert_double_eq(f.lon, 113.4);
	ck_assert_double_eq(f.tst, 1795312799);
	ck_assert_double_eq(f.acc, 12);
	ck_assert_int_eq(owntracks_parse(minimal, strlen(minimal), &f, &why),
			 OT_LOCATION);
	ck_assert_double_eq(f.acc, -1);
	ck_assert_double_eq(f.lon, -151.2);
}
END_TEST

START_TEST(test_ot_other_types)
{
	static const char *const other[] = {
	    "{\"_type\":\"transition\",\"wtst\":1425042603,\"lat\":12.34,\"lon\":44.5,"
	    "\"tst\":1427634603,\"acc\":130,\"tid\":\"JP\",\"event\":\"enter\","
	    "\"desc\":\"home\",\"t\":\"c\"}",
	    "{\"_type\":\"waypoint\",\"desc\":\"home\",\"lat\":36.5,\"lon\":113.4,"
	    "\"rad\":50,\"tst\":1427634603}",
	    "{\"_type\":\"lwt\",\"tst\":1427634603}",
	    "{\"_type\":\"card\",\"name\":\"Zhao\",\"face\":\"iVBORw0KGgo\"}",
	    "{\"_type\":\"status\",\"android\":{\"hib\":1}}",
	    "{\"_type\":\"encrypted\",\"data\":\"bm90IHJlYWxseQ==\"}",
	    "{\"_type\":\"steps\"}",
	};
	struct ot_fix f;
	const char *why;
	size_t i;

	for (i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		ck_assert_int_eq(owntracks_parse(other[i], strlen(other[i]), &f, &why),
				 OT_IGNORED);
}
END_TEST

START_TEST(test_ot_malformed)
{
	static const struct {
		const char *p;
		const char *why;
	} bad[] = {
	    {"", "bad json"},
	    {"{\"_type\":\"location\", \"lat\":", "bad json"},
	    {"[1,2]", "not an object"},
	    {"\"location\"", "bad json"}, /* a bare scalar is not a document */
	    {"{\"lat\":36.5,\"lon\":113.4,\"tst\":1}", "no _type"},
	    {"{\"_type\":7}", "no _type"},
	    {"{\"_type\":\"location\",\"lat\":\"36.5\",\"lon\":113.4,\"tst\":1}",
	     "bad lat/lon"},
	    {"{\"_type\":\"location\",\"lat\":91,\"lon\":113.4,\"tst\":1}",
	     "bad lat/lon"},
	    {"{\"_type\":\"location\",\"lat\":36.5,\"lon\":-181,\"tst\":1}",
	     "bad lat/lon"},
	    {"{\"_type\":\"location\",\"lon\":113.4,\"tst\":1}", "bad lat/lon"},
	    {"{\"_type\":\"location\",\"lat\":36.5,\"lon\":113.4}", "bad tst"},
	    {"{\"_type\":\"location\",\"lat\":36.5,\"lon\":113.4,\"tst\":\"now\"}",
	     "bad tst"},
	    {"{\"_type\":\"location\",\"lat\":36.5,\"lon\":113.4,\"tst\":-5}", "bad tst"},
	    {"{\"_type\":\"location\",\"lat\":36.5,\"lon\":113.4,\"tst\":1e300}",
	     "bad tst"},
	    {"{\"_type\":\"location\",\"_type\":\"location\",\"lat\":1,\"lon\":1,\"tst\":"
	     "1}",
	     "bad json"},
	};
	struct ot_fix f;
	const char *why;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		ck_assert_msg(owntracks_parse(bad[i].p, strlen(bad[i].p), &f, &why) ==
				  OT_MALFORMED,
			      "accepted: %s", bad[i].p);
		ck_assert_str_eq(why, bad[i].why);
	}
	/* not NUL-terminated, with bytes that are not UTF-8 */
	ck_assert_int_eq(owntracks_parse("\xff\xfe{", 3, &f, &why), OT_MALFORMED);
}
END_TEST

/* --- the grid with live positions ----------------------------------------- */

#define NR 2000

static struct responder rs[NR];
static struct responder *rlist[NR];
static bool rejected[NR];

static uint64_t rng = 88172645463325252ULL;

static double
uni(double lo, double hi)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return lo + (hi - lo) * (double)(rng >> 11) / 9007199254740992.0;
}

static bool
ok_fn(const struct responder *r, double d, void *arg)
{
	(void)d;
	(void)arg;
	return !rejected[r - rs];
}

/* The truth by brute force, from each responder's ranked position. */
static struct responder *
brute(double lat, double lon, double fresh_after, double *dist)
{
	struct responder *best = NULL;
	double bd = INFINITY, rl, ro, d;
	size_t i;

	for (i = 0; i < NR; i++) {
		if (rejected[i])
			continue;
		responder_position(&rs[i], fresh_after, &rl, &ro);
		d = geo_distance_m(lat, lon, rl, ro);
		if (d < bd) {
			bd = d;
			best = &rs[i];
		}
	}
	*dist = bd;
	return best;
}

static void
fleet(void)
{
	size_t i;

	memset(rs, 0, sizeof(rs));
	memset(rejected, 0, sizeof(rejected));
	for (i = 0; i < NR; i++) {
		snprintf(rs[i].id, sizeof(rs[i].id), "V%zu", i);
		rs[i].kind = RESP_VOLUNTEER;
		rs[i].lat = uni(36.3, 36.7);
		rs[i].lon = uni(113.2, 113.6);
		rs[i].active = true;
		rlist[i] = &rs[i];
	}
}

static void
compare(struct dindex *ix, double fresh_after, int nq)
{
	int q;

	dindex_set_fresh_after(ix, fresh_after);
	for (q = 0; q < nq; q++) {
		double lat = uni(36.2, 36.8), lon = uni(113.1, 113.7), wd, gd = -1;
		struct responder *want = brute(lat, lon, fresh_after, &wd);
		struct responder *got = dindex_nearest(ix, lat, lon, ok_fn, NULL, &gd);

		ck_assert_ptr_nonnull(got);
		ck_assert_msg(fabs(gd - wd) < 1e-6,
			      "query %d: %s at %.3f, want %s at %.3f", q, got->id, gd,
			      want->id, wd);
	}
}

/* Moves of live positions, in and far outside the grid, fresh and stale:
 * the index always agrees with the brute force over ranked positions. */
START_TEST(test_grid_moves)
{
	struct dindex *ix;
	size_t i;
	int round;

	fleet();
	/* a quarter already have a live fix at build time */
	for (i = 0; i < NR; i += 4) {
		rs[i].live_lat = uni(36.3, 36.7);
		rs[i].live_lon = uni(113.2, 113.6);
		rs[i].live_at = 1000;
	}
	ix = dindex_build(rlist, NR);
	compare(ix, 0, 200);
	for (round = 0; round < 20; round++) {
		for (i = 0; i < NR / 2; i++) {
			struct responder *r = &rs[(size_t)uni(0, NR)];
			bool far = uni(0, 1) < 0.05;

			r->live_lat = far ? uni(30, 40) : uni(36.25, 36.75);
			r->live_lon = far ? uni(108, 118) : uni(113.15, 113.65);
			r->live_at = 1000 + round * 10 + uni(0, 10);
			ck_assert_int_eq(dindex_move(ix, r), 0);
		}
		for (i = 0; i < NR; i++)
			rejected[i] = uni(0, 1) < 0.3;
		/* everything fresh, then only the latest rounds' fixes */
		compare(ix, 0, 50);
		compare(ix, 1000 + round * 10, 50);
		compare(ix, 1e12, 20); /* all stale: home positions */
	}
	dindex_free(ix);
}
END_TEST

/* A responder the index does not hold cannot be moved. */
START_TEST(test_grid_move_unknown)
{
	struct responder other;
	struct dindex *ix;

	fleet();
	ix = dindex_build(rlist, 10);
	memset(&other, 0, sizeof(other));
	ck_assert_int_lt(dindex_move(ix, &other), 0);
	other.ix_slot = 3;
	ck_assert_int_lt(dindex_move(ix, &other), 0);
	ck_assert_int_lt(dindex_move(NULL, &rs[0]), 0);
	dindex_free(ix);
}
END_TEST

/* O(1) per fix: the cost of a move does not grow with the responders. A
 * rebuild per fix (tens of microseconds at 2,000, milliseconds at 200,000)
 * would fail this by orders of magnitude. */
static double
move_ns(size_t n)
{
	struct responder *big = xcalloc(n, sizeof(*big));
	struct responder **lst = xcalloc(n, sizeof(*lst));
	struct timespec a, b;
	struct dindex *ix;
	size_t i, moves = 400000;

	for (i = 0; i < n; i++) {
		big[i].lat = uni(36.0, 37.0);
		big[i].lon = uni(113.0, 114.0);
		lst[i] = &big[i];
	}
	ix = dindex_build(lst, n);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < moves; i++) {
		struct responder *r = &big[(i * 7919) % n];

		r->live_lat = 36.0 + (double)(i % 1000) / 1000;
		r->live_lon = 113.0 + (double)((i * 31) % 1000) / 1000;
		r->live_at = (double)i;
		dindex_move(ix, r);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	dindex_free(ix);
	free(big);
	free(lst);
	return ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) /
	       (double)moves;
}

START_TEST(test_grid_move_o1)
{
	double small = move_ns(2000), large = move_ns(200000);

	printf("grid move: %.0f ns at 2,000 responders, %.0f ns at 200,000\n", small,
	       large);
	ck_assert_msg(large < 2000, "a move took %.0f ns at 200,000", large);
	ck_assert_msg(large < small * 20 + 200, "moves grow with n: %.0f vs %.0f ns",
		      large, small);
}
END_TEST

/* --- skills ----------------------------------------------------------------- */

START_TEST(test_skills_parse)
{
	unsigned of[EV__COUNT];
	bool req[EV__COUNT];
	char err[200];

	ck_assert_ptr_null(skills_parse("fall:first_aid:prefer, gas:gas_safety:require",
					of, req, err, sizeof(err)));
	ck_assert_uint_eq(of[EV_FALL], skills_bits("first_aid"));
	ck_assert(!req[EV_FALL]);
	ck_assert_uint_eq(of[EV_GAS], skills_bits("gas_safety"));
	ck_assert(req[EV_GAS]);
	ck_assert_uint_eq(of[EV_SOS], 0);
	ck_assert_ptr_null(skills_parse("", of, req, err, sizeof(err)));
	ck_assert_uint_eq(of[EV_FALL], 0);
	ck_assert_ptr_null(
	    skills_parse(" smoke:fire_safety:prefer ,, ", of, req, err, sizeof(err)));
	ck_assert_uint_ne(of[EV_SMOKE], 0);
	ck_assert_ptr_nonnull(
	    skills_parse("fall:juggling:prefer", of, req, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "juggling"));
	ck_assert_ptr_nonnull(
	    skills_parse("meteor:first_aid:prefer", of, req, err, sizeof(err)));
	ck_assert_ptr_nonnull(
	    skills_parse("fall:first_aid:maybe", of, req, err, sizeof(err)));
	ck_assert_ptr_nonnull(skills_parse("fall:first_aid", of, req, err, sizeof(err)));
	ck_assert_uint_eq(skills_bits("first_aid;nursing;bogus"),
			  skills_bits("first_aid") | skills_bits("nursing"));
	ck_assert_uint_eq(skills_bits(""), 0);
	ck_assert_uint_eq(skills_bits(NULL), 0);
}
END_TEST

/* A small world: elder E at (36.5, 113.4); V1 at 556 m without skills, V2
 * at 1.1 km with first_aid, V3 at 2.2 km with an OwnTracks fix. */
static struct world w;
static struct responder *v1, *v2, *v3;
static struct device *dev;

static struct responder *
vol(const char *id, double lat, unsigned skills)
{
	struct responder *r = xcalloc(1, sizeof(*r));

	str_copy(r->id, id, sizeof(r->id));
	r->kind = RESP_VOLUNTEER;
	r->lat = lat;
	r->lon = 113.4;
	r->active = true;
	r->skills = skills;
	hmap_put(&w.responders, r->id, r);
	return r;
}

static void
wsetup(void)
{
	struct elder *e = xcalloc(1, sizeof(*e));
	char err[200];

	world_init(&w);
	str_copy(e->id, "E", sizeof(e->id));
	e->lat = 36.5;
	e->lon = 113.4;
	e->birth_y = 1956;
	e->birth_m = 1;
	e->birth_d = 1;
	e->name = xstrdup("x");
	e->address = xstrdup("x");
	e->phone = xstrdup("x");
	e->notes = xstrdup("x");
	e->contacts = xstrdup("x");
	hmap_put(&w.elders, e->id, e);
	dev = xcalloc(1, sizeof(*dev));
	str_copy(dev->id, "D", sizeof(dev->id));
	str_copy(dev->elder_id, "E", sizeof(dev->elder_id));
	dev->elder = e;
	hmap_put(&w.devices, dev->id, dev);
	v1 = vol("V1", 36.505, 0);
	v2 = vol("V2", 36.510, skills_bits("first_aid"));
	v3 = vol("V3", 36.520, 0);
	world_index(&w);
	w.p.offer_timeout_s[1] = w.p.offer_timeout_s[2] = 60;
	w.p.max_offers = 3;
	w.p.escalate_after_s = 300;
	w.p.volunteer_max_km = 5;
	w.p.retry_s = 30;
	w.p.position_max_age_s = 1800;
	ck_assert_ptr_null(skills_parse("fall:first_aid:prefer", w.p.skill_of,
					w.p.skill_required, err, sizeof(err)));
}

static void
wteardown(void)
{
	world_free(&w);
}

/* The responder of the last offer made, and its distance. */
static const struct effect *
last_offer(void)
{
	size_t i;

	for (i = w.fx.out.n; i-- > 0;)
		if (w.fx.out.v[i].kind == FX_OFFER)
			return &w.fx.out.v[i];
	return NULL;
}

static void
alarm(const char *id, enum ev_type t, double now)
{
	struct devevent ev;

	memset(&ev, 0, sizeof(ev));
	str_copy(ev.id, id, sizeof(ev.id));
	ev.type = t;
	ev.received = now;
	ev.battery = -1;
	ck_assert_int_gt(incident_on_event(&w, dev, &ev, now), 0);
}

START_TEST(test_rank_skill_prefer)
{
	alarm("a1", EV_FALL, 1795312800);
	ck_assert_str_eq(last_offer()->to, "V2"); /* first_aid, though farther */
}
END_TEST

START_TEST(test_rank_skill_fallback)
{
	v2->skills = 0;
	alarm("a1", EV_FALL, 1795312800);
	ck_assert_str_eq(last_offer()->to, "V1"); /* nobody has it: the nearest */
}
END_TEST

START_TEST(test_rank_skill_require)
{
	w.p.skill_required[EV_FALL] = true;
	v2->skills = 0;
	alarm("a1", EV_FALL, 1795312800);
	ck_assert_ptr_null(last_offer()); /* nobody qualified */
}
END_TEST

START_TEST(test_rank_no_skill_wanted)
{
	alarm("a1", EV_SOS, 1795312800);
	ck_assert_str_eq(last_offer()->to, "V1");
}
END_TEST

/* A fresh live fix ranks V3 from there, with its live distance; a stale
 * one ranks it from home. */
START_TEST(test_rank_live_position)
{
	double now = 1795312800;

	v3->live_lat = 36.5009;
	v3->live_lon = 113.4;
	v3->live_at = now - 60;
	ck_assert_int_eq(dindex_move(w.index, v3), 0);
	alarm("a1", EV_SOS, now);
	ck_assert_str_eq(last_offer()->to, "V3");
	ck_assert_int_eq(last_offer()->distance_m, 100);
}
END_TEST

START_TEST(test_rank_stale_position)
{
	double now = 1795312800;

	v3->live_lat = 36.5009;
	v3->live_lon = 113.4;
	v3->live_at = now - 1801;
	ck_assert_int_eq(dindex_move(w.index, v3), 0);
	alarm("a1", EV_SOS, now);
	ck_assert_str_eq(last_offer()->to, "V1");
}
END_TEST

/* --- flood control ------------------------------------------------------------ */

START_TEST(test_bucket)
{
	struct flood_params p = {5, 10, 10};
	struct flood_dev f;
	int i, taken = 0;

	memset(&f, 0, sizeof(f));
	/* a burst of 10, then nothing of the same type */
	for (i = 0; i < 100; i++)
		taken += flood_admit(&f, &p, EV_MOTION, 100.0);
	ck_assert_int_eq(taken, 10);
	ck_assert_uint_eq(f.dropped, 90);
	/* refilled at 5/s: one second later, 5 more */
	taken = 0;
	for (i = 0; i < 100; i++)
		taken += flood_admit(&f, &p, EV_MOTION, 101.0);
	ck_assert_int_eq(taken, 5);
	/* never above the burst, however long the silence */
	memset(&f, 0, sizeof(f));
	flood_admit(&f, &p, EV_MOTION, 0.5);
	taken = 0;
	for (i = 0; i < 100; i++)
		taken += flood_admit(&f, &p, EV_MOTION, 5000.0);
	ck_assert_int_eq(taken, 10);
}
END_TEST

/* A type the device has not sent in the window is taken from an empty
 * bucket: the chattering button's SOS; a second SOS in the window is not. */
START_TEST(test_bucket_new_type)
{
	struct flood_params p = {1, 5, 10};
	struct flood_dev f;
	int i;

	memset(&f, 0, sizeof(f));
	for (i = 0; i < 50; i++)
		flood_admit(&f, &p, EV_MOTION, 10.0);
	ck_assert(!flood_admit(&f, &p, EV_MOTION, 10.0));
	ck_assert(flood_admit(&f, &p, EV_SOS, 10.0));
	ck_assert(!flood_admit(&f, &p, EV_SOS, 10.0));
	ck_assert(flood_admit(&f, &p, EV_SMOKE, 10.0));
}
END_TEST

/* One dead letter per window: the first drop of each window says so. */
START_TEST(test_bucket_window)
{
	struct flood_params p = {1, 1, 10};
	struct flood_dev f;
	int firsts = 0;
	double t;

	memset(&f, 0, sizeof(f));
	for (t = 0; t < 30; t += 0.01)
		if (!flood_admit(&f, &p, EV_MOTION, 100 + t) && flood_first_drop(&f))
			firsts++;
	ck_assert_int_eq(firsts, 3);
	/* off */
	p.rate = 0;
	for (t = 0; t < 1; t += 0.001)
		ck_assert(flood_admit(&f, &p, EV_MOTION, 200 + t));
	ck_assert_uint_le(sizeof(struct flood_dev), 40);
}
END_TEST

static Suite *
position_suite(void)
{
	Suite *s = suite_create("position");
	TCase *tc;

	tc = tcase_create("owntracks");
	tcase_add_test(tc, test_ot_topic);
	tcase_add_test(tc, test_ot_location);
	tcase_add_test(tc, test_ot_other_types);
	tcase_add_test(tc, test_ot_malformed);
	suite_add_tcase(s, tc);
	tc = tcase_create("grid");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_grid_moves);
	tcase_add_test(tc, test_grid_move_unknown);
	tcase_add_test(tc, test_grid_move_o1);
	suite_add_tcase(s, tc);
	tc = tcase_create("skills");
	tcase_add_test(tc, test_skills_parse);
	suite_add_tcase(s, tc);
	tc = tcase_create("ranking");
	tcase_add_checked_fixture(tc, wsetup, wteardown);
	tcase_add_test(tc, test_rank_skill_prefer);
	tcase_add_test(tc, test_rank_skill_fallback);
	tcase_add_test(tc, test_rank_skill_require);
	tcase_add_test(tc, test_rank_no_skill_wanted);
	tcase_add_test(tc, test_rank_live_position);
	tcase_add_test(tc, test_rank_stale_position);
	suite_add_tcase(s, tc);
	tc = tcase_create("flood");
	tcase_add_test(tc, test_bucket);
	tcase_add_test(tc, test_bucket_new_type);
	tcase_add_test(tc, test_bucket_window);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(position_suite());
}
