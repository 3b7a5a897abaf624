/* check_dispatch.c - unit tests for the nearest-responder index and distances */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "dispatch.h"
#include "geo.h"

#define MAX_RESP 400

/* A fixed-seed PRNG (xorshift64*) so every run sees the same points. */
static uint64_t rng_state;

static void
rng_seed(uint64_t seed)
{
	rng_state = seed ? seed : 1;
}

static double
rng_uniform(double lo, double hi)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	x *= 2685821657736338717ULL;
	return lo + (hi - lo) * (double)(x >> 11) / 9007199254740992.0;
}

/* The responders of one test: storage, the pointer list, and which ones the
 * filter rejects. */
struct fleet {
	struct responder r[MAX_RESP];
	struct responder *list[MAX_RESP];
	bool rejected[MAX_RESP];
	size_t n;
	double max_m;  /* the filter also rejects anything farther; 0 = no limit */
	int calls;     /* how often the filter was asked */
	bool bad_dist; /* the filter was given a distance that is not the truth */
	double qlat, qlon;
};

static void
fleet_init(struct fleet *f)
{
	memset(f, 0, sizeof(*f));
}

/* Adds a station at (lat, lon). */
static struct responder *
fleet_add(struct fleet *f, double lat, double lon)
{
	struct responder *r;

	ck_assert_uint_lt(f->n, MAX_RESP);
	r = &f->r[f->n];
	snprintf(r->id, sizeof(r->id), "R%03zu", f->n);
	r->kind = f->n % 2 ? RESP_VOLUNTEER : RESP_STATION;
	r->lat = lat;
	r->lon = lon;
	r->active = true;
	r->capacity = 2;
	r->duty_to = 1440;
	f->list[f->n] = r;
	f->n++;
	return r;
}

/* The filter handed to dindex_nearest. */
static bool
fleet_ok(const struct responder *r, double dist_m, void *arg)
{
	struct fleet *f = arg;
	size_t i = (size_t)(r - f->r);

	f->calls++;
	if (fabs(dist_m - geo_distance_m(f->qlat, f->qlon, r->lat, r->lon)) > 1e-6)
		f->bad_dist = true;
	if (f->rejected[i])
		return false;
	return f->max_m <= 0 || dist_m <= f->max_m;
}

static bool
accept_all(const struct responder *r, double dist_m, void *arg)
{
	(void)r;
	(void)dist_m;
	(void)arg;
	return true;
}

static bool
reject_all(const struct responder *r, double dist_m, void *arg)
{
	(void)r;
	(void)dist_m;
	(void)arg;
	return false;
}

/* The truth by brute force: the nearest responder the filter accepts. */
static struct responder *
brute_nearest(struct fleet *f, double lat, double lon, double *dist_m)
{
	struct responder *best = NULL;
	double best_d = INFINITY;
	size_t i;

	for (i = 0; i < f->n; i++) {
		double d = geo_distance_m(lat, lon, f->r[i].lat, f->r[i].lon);

		if (f->rejected[i] || (f->max_m > 0 && d > f->max_m))
			continue;
		if (d < best_d) {
			best = &f->r[i];
			best_d = d;
		}
	}
	*dist_m = best_d;
	return best;
}

/* Runs nq random queries in [lat0, lat1] x [lon0, lon1] against the index
 * and the brute force; returns how many found someone. */
static int
compare_queries(struct fleet *f, const struct dindex *ix, int nq, double lat0,
		double lat1, double lon0, double lon1)
{
	int q, found = 0;

	for (q = 0; q < nq; q++) {
		double lat = rng_uniform(lat0, lat1), lon = rng_uniform(lon0, lon1);
		double want_d = -1, got_d = -1;
		struct responder *want, *got;

		f->qlat = lat;
		f->qlon = lon;
		want = brute_nearest(f, lat, lon, &want_d);
		got = dindex_nearest(ix, lat, lon, fleet_ok, f, &got_d);
		if (want == NULL) {
			ck_assert_msg(got == NULL,
				      "query %d (%.5f, %.5f): found %s, want none", q,
				      lat, lon, got->id);
			continue;
		}
		ck_assert_msg(got != NULL,
			      "query %d (%.5f, %.5f): found none, want %s at %.1f m", q,
			      lat, lon, want->id, want_d);
		/* equal distances may pick either responder */
		ck_assert_msg(fabs(got_d - want_d) < 1e-6,
			      "query %d (%.5f, %.5f): %s at %.3f m, want %s at %.3f m", q,
			      lat, lon, got->id, got_d, want->id, want_d);
		ck_assert_double_eq_tol(geo_distance_m(lat, lon, got->lat, got->lon),
					got_d, 1e-6);
		ck_assert(!f->rejected[got - f->r]);
		found++;
	}
	ck_assert(!f->bad_dist);
	return found;
}

/* --- geo ------------------------------------------------------------------- */

/* One degree of latitude is about 111.2 km; nothing is 0 m from itself but
 * itself; the distance is symmetric. */
START_TEST(test_geo_sanity)
{
	double d = geo_distance_m(36.0, 113.4, 37.0, 113.4);
	int i;

	ck_assert_double_eq_tol(d, 111195.0, 111195.0 * 0.005);
	ck_assert_double_eq_tol(geo_distance_m(0, 0, 1, 0), 111195.0, 111195.0 * 0.005);
	ck_assert_double_eq(geo_distance_m(36.5, 113.4, 36.5, 113.4), 0);
	ck_assert_double_eq(geo_distance_m(-33.9, 151.2, -33.9, 151.2), 0);
	/* a degree of longitude shrinks with cos(latitude) */
	ck_assert_double_eq_tol(geo_distance_m(36.5, 113.0, 36.5, 114.0),
				111195.0 * cos(36.5 * M_PI / 180), 111195.0 * 0.005);
	ck_assert_double_eq_tol(geo_distance_m(0, 0, 0, 180), M_PI * 6371008.8, 1);
	rng_seed(42);
	for (i = 0; i < 200; i++) {
		double a = rng_uniform(36.0, 37.0), b = rng_uniform(113.0, 114.0);
		double c = rng_uniform(36.0, 37.0), e = rng_uniform(113.0, 114.0);
		double ab = geo_distance_m(a, b, c, e);

		ck_assert_double_eq_tol(ab, geo_distance_m(c, e, a, b), 1e-6);
		ck_assert(ab >= 0);
		ck_assert(ab < 160000);
	}
}
END_TEST

/* Known distances around the sample county. */
START_TEST(test_geo_known)
{
	/* 0.01 degree of latitude */
	ck_assert_double_eq_tol(geo_distance_m(36.50, 113.40, 36.51, 113.40), 1112.0, 2);
	/* triangle inequality on three points */
	{
		double ab = geo_distance_m(36.5, 113.4, 36.6, 113.5);
		double bc = geo_distance_m(36.6, 113.5, 36.4, 113.7);
		double ac = geo_distance_m(36.5, 113.4, 36.4, 113.7);

		ck_assert(ac <= ab + bc);
		ck_assert(ab > 0 && bc > 0 && ac > 0);
	}
}
END_TEST

/* --- index ----------------------------------------------------------------- */

/* An empty index, and no index at all, find nobody. */
START_TEST(test_empty)
{
	struct dindex *ix = dindex_build(NULL, 0);
	double d = -1;

	ck_assert_ptr_nonnull(ix);
	ck_assert_uint_eq(dindex_size(ix), 0);
	ck_assert_ptr_null(dindex_nearest(ix, 36.5, 113.4, accept_all, NULL, &d));
	ck_assert_double_eq(d, -1);
	dindex_free(ix);
	ck_assert_uint_eq(dindex_size(NULL), 0);
	ck_assert_ptr_null(dindex_nearest(NULL, 36.5, 113.4, accept_all, NULL, &d));
	dindex_free(NULL);
}
END_TEST

/* One responder: found from anywhere, unless the filter says no. */
START_TEST(test_single)
{
	struct fleet *f = malloc(sizeof(*f));
	struct responder *r;
	struct dindex *ix;
	double d = -1;

	ck_assert_ptr_nonnull(f);
	fleet_init(f);
	r = fleet_add(f, 36.5, 113.4);
	ix = dindex_build(f->list, f->n);
	ck_assert_uint_eq(dindex_size(ix), 1);
	ck_assert_ptr_eq(dindex_nearest(ix, 36.5, 113.4, accept_all, NULL, &d), r);
	ck_assert_double_eq(d, 0);
	ck_assert_ptr_eq(dindex_nearest(ix, 36.6, 113.4, accept_all, NULL, &d), r);
	ck_assert_double_eq_tol(d, geo_distance_m(36.6, 113.4, 36.5, 113.4), 1e-6);
	ck_assert_ptr_eq(dindex_nearest(ix, 30.0, 100.0, accept_all, NULL, &d), r);
	ck_assert_double_eq_tol(d, geo_distance_m(30.0, 100.0, 36.5, 113.4), 1e-6);
	/* dist_m may be NULL */
	ck_assert_ptr_eq(dindex_nearest(ix, 36.4, 113.3, accept_all, NULL, NULL), r);
	d = -1;
	ck_assert_ptr_null(dindex_nearest(ix, 36.5, 113.4, reject_all, NULL, &d));
	ck_assert_double_eq(d, -1);
	/* a distance limit in the filter */
	f->max_m = 1000;
	f->qlat = 36.5;
	f->qlon = 113.42;
	ck_assert_ptr_null(dindex_nearest(ix, 36.5, 113.42, fleet_ok, f, &d));
	ck_assert_int_gt(f->calls, 0);
	f->qlat = 36.505;
	f->qlon = 113.4;
	ck_assert_ptr_eq(dindex_nearest(ix, 36.505, 113.4, fleet_ok, f, &d), r);
	ck_assert(!f->bad_dist);
	dindex_free(ix);
	free(f);
}
END_TEST

/* A handful of responders at known places around the elder. */
START_TEST(test_known_layout)
{
	struct fleet *f = malloc(sizeof(*f));
	struct responder *a, *b, *c, *e;
	struct dindex *ix;
	double d;

	ck_assert_ptr_nonnull(f);
	fleet_init(f);
	a = fleet_add(f, 36.505, 113.400); /* ~556 m north */
	b = fleet_add(f, 36.500, 113.415); /* ~1.34 km east */
	c = fleet_add(f, 36.480, 113.400); /* ~2.2 km south */
	e = fleet_add(f, 36.600, 113.500); /* ~14 km */
	ix = dindex_build(f->list, f->n);
	ck_assert_uint_eq(dindex_size(ix), 4);
	f->qlat = 36.5;
	f->qlon = 113.4;
	ck_assert_ptr_eq(dindex_nearest(ix, 36.5, 113.4, fleet_ok, f, &d), a);
	ck_assert_double_eq_tol(d, 556, 2);
	f->rejected[0] = true;
	ck_assert_ptr_eq(dindex_nearest(ix, 36.5, 113.4, fleet_ok, f, &d), b);
	ck_assert_double_eq_tol(d, geo_distance_m(36.5, 113.4, b->lat, b->lon), 1e-6);
	f->rejected[1] = true;
	ck_assert_ptr_eq(dindex_nearest(ix, 36.5, 113.4, fleet_ok, f, &d), c);
	f->rejected[2] = true;
	ck_assert_ptr_eq(dindex_nearest(ix, 36.5, 113.4, fleet_ok, f, &d), e);
	ck_assert_double_eq_tol(d, geo_distance_m(36.5, 113.4, 36.6, 113.5), 1e-6);
	f->max_m = 5000;
	ck_assert_ptr_null(dindex_nearest(ix, 36.5, 113.4, fleet_ok, f, &d));
	ck_assert(!f->bad_dist);
	dindex_free(ix);
	free(f);
}
END_TEST

/* Several hundred random responders over a county, several hundred queries
 * inside, around and far outside it, with and without a filter. */
START_TEST(test_random_county)
{
	struct fleet *f = malloc(sizeof(*f));
	struct dindex *ix;
	size_t i;
	int found;

	ck_assert_ptr_nonnull(f);
	fleet_init(f);
	rng_seed(20261122);
	for (i = 0; i < 300; i++)
		fleet_add(f, rng_uniform(36.30, 36.70), rng_uniform(113.20, 113.60));
	ix = dindex_build(f->list, f->n);
	ck_assert_uint_eq(dindex_size(ix), 300);

	/* everyone acceptable */
	found = compare_queries(f, ix, 300, 36.30, 36.70, 113.20, 113.60);
	ck_assert_int_eq(found, 300);
	found = compare_queries(f, ix, 300, 35.90, 37.10, 112.80, 114.00);
	ck_assert_int_eq(found, 300);
	found = compare_queries(f, ix, 100, 20.0, 50.0, 90.0, 130.0);
	ck_assert_int_eq(found, 100);

	/* a third rejected */
	for (i = 0; i < f->n; i += 3)
		f->rejected[i] = true;
	found = compare_queries(f, ix, 300, 36.30, 36.70, 113.20, 113.60);
	ck_assert_int_eq(found, 300);
	found = compare_queries(f, ix, 300, 35.90, 37.10, 112.80, 114.00);
	ck_assert_int_eq(found, 300);

	/* nine in ten rejected: the search must go far */
	for (i = 0; i < f->n; i++)
		f->rejected[i] = i % 10 != 7;
	found = compare_queries(f, ix, 300, 36.20, 36.80, 113.10, 113.70);
	ck_assert_int_eq(found, 300);

	/* a distance limit as well: some queries find nobody */
	for (i = 0; i < f->n; i++)
		f->rejected[i] = i % 4 == 0;
	f->max_m = 2500;
	found = compare_queries(f, ix, 300, 36.20, 36.80, 113.10, 113.70);
	ck_assert_int_gt(found, 0);
	ck_assert_int_lt(found, 300);

	/* nobody acceptable */
	f->max_m = 0;
	for (i = 0; i < f->n; i++)
		f->rejected[i] = true;
	found = compare_queries(f, ix, 50, 36.30, 36.70, 113.20, 113.60);
	ck_assert_int_eq(found, 0);
	dindex_free(ix);
	free(f);
}
END_TEST

/* Responders bunched in one village, on one line, or on one spot. */
START_TEST(test_degenerate_layouts)
{
	struct fleet *f = malloc(sizeof(*f));
	struct dindex *ix;
	size_t i;

	ck_assert_ptr_nonnull(f);
	rng_seed(7);

	/* a cluster of 50 within about 100 m */
	fleet_init(f);
	for (i = 0; i < 50; i++)
		fleet_add(f, rng_uniform(36.5000, 36.5009),
			  rng_uniform(113.4000, 113.4011));
	ix = dindex_build(f->list, f->n);
	ck_assert_int_eq(compare_queries(f, ix, 200, 36.40, 36.60, 113.30, 113.50), 200);
	for (i = 0; i < f->n; i += 2)
		f->rejected[i] = true;
	ck_assert_int_eq(compare_queries(f, ix, 200, 36.49, 36.51, 113.39, 113.41), 200);
	dindex_free(ix);

	/* along one road running east-west */
	fleet_init(f);
	for (i = 0; i < 60; i++)
		fleet_add(f, 36.5, rng_uniform(113.2, 113.6));
	ix = dindex_build(f->list, f->n);
	ck_assert_int_eq(compare_queries(f, ix, 200, 36.3, 36.7, 113.1, 113.7), 200);
	dindex_free(ix);

	/* along one road running north-south */
	fleet_init(f);
	for (i = 0; i < 60; i++)
		fleet_add(f, rng_uniform(36.3, 36.7), 113.4);
	ix = dindex_build(f->list, f->n);
	ck_assert_int_eq(compare_queries(f, ix, 200, 36.2, 36.8, 113.2, 113.6), 200);
	dindex_free(ix);

	/* everyone at the same station address */
	fleet_init(f);
	for (i = 0; i < 10; i++)
		fleet_add(f, 36.52, 113.43);
	for (i = 0; i < 9; i++)
		f->rejected[i] = true;
	ix = dindex_build(f->list, f->n);
	{
		double d;

		f->qlat = 36.5;
		f->qlon = 113.4;
		ck_assert_ptr_eq(dindex_nearest(ix, 36.5, 113.4, fleet_ok, f, &d),
				 &f->r[9]);
	}
	ck_assert_int_eq(compare_queries(f, ix, 100, 36.3, 36.7, 113.2, 113.6), 100);
	dindex_free(ix);
	free(f);
}
END_TEST

/* Responders across the whole country: the grid is coarsened, answers stay
 * exact. */
START_TEST(test_wide_area)
{
	struct fleet *f = malloc(sizeof(*f));
	struct dindex *ix;
	size_t i;

	ck_assert_ptr_nonnull(f);
	fleet_init(f);
	rng_seed(99);
	for (i = 0; i < 300; i++)
		fleet_add(f, rng_uniform(18.0, 53.0), rng_uniform(73.0, 135.0));
	ix = dindex_build(f->list, f->n);
	ck_assert_int_eq(compare_queries(f, ix, 100, 18.0, 53.0, 73.0, 135.0), 100);
	for (i = 0; i < f->n; i += 2)
		f->rejected[i] = true;
	ck_assert_int_eq(compare_queries(f, ix, 100, 15.0, 55.0, 70.0, 140.0), 100);
	dindex_free(ix);
	free(f);
}
END_TEST

/* Builds the suite of every dispatch test. */
static Suite *
dispatch_suite(void)
{
	Suite *s = suite_create("dispatch");
	TCase *tc = tcase_create("geo");

	tcase_add_test(tc, test_geo_sanity);
	tcase_add_test(tc, test_geo_known);
	suite_add_tcase(s, tc);
	tc = tcase_create("index");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_single);
	tcase_add_test(tc, test_known_layout);
	tcase_add_test(tc, test_random_county);
	tcase_add_test(tc, test_degenerate_layouts);
	tcase_add_test(tc, test_wide_area);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(dispatch_suite());
}
