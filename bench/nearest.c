/* nearest.c - cw-nearest: the nearest available responder among 100,000,
 * through the daemon's dispatch index (world_index, dindex_nearest), for
 * make bench (SPEC section 9).
 *
 * A province-sized box (about 690 x 390 km) with responders clustered as
 * people are: 80 % within a few km of 200 town centres, 20 % scattered.
 * One in five is a station (capacity 2, on duty around the clock), the rest
 * volunteers (the default 5 km reach); one in ten of each is busy. Elders
 * are placed by the same rule. Each query asks for the nearest responder
 * that the daemon's rule (incident.c cand_ok, less the skill and "already
 * asked" marks) would offer; the ceiling is a brute-force scan of all
 * responders with the same rule, on the first queries, which must find the
 * same distance.
 *
 * Prints RESULT lines: index median and p99 in microseconds, brute-force
 * median, speedup, index build time. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "dispatch.h"
#include "geo.h"
#include "hmap.h"
#include "incident.h"
#include "util.h"

#define LAT0	  34.5
#define LAT1	  40.7
#define LON0	  110.2
#define LON1	  114.6
#define TOWN_SD_M 2000.0 /* spread of a town around its centre */
#define MAX_KM	  5.0	 /* the default volunteer_max_km */

static unsigned long long rng_state = 0x9e3779b97f4a7c15ULL;

static double
rnd(void) /* uniform in [0, 1) */
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (double)(rng_state >> 11) / 9007199254740992.0;
}

static double
gauss(void)
{
	double u = rnd(), v = rnd();

	return sqrt(-2 * log(u + 1e-300)) * cos(2 * M_PI * v);
}

struct place {
	double lat, lon;
};

static struct place *towns;
static size_t ntowns;

/* A point by the rule: 80 % around a town centre, 20 % anywhere; returns
 * whether it is in a town. */
static bool
place_point(double *lat, double *lon)
{
	if (rnd() < 0.8) {
		const struct place *t = &towns[(size_t)(rnd() * (double)ntowns)];

		*lat = t->lat + gauss() * TOWN_SD_M / 111195.0;
		*lon =
		    t->lon + gauss() * TOWN_SD_M / (111195.0 * cos(t->lat * M_PI / 180));
		return true;
	}
	*lat = LAT0 + rnd() * (LAT1 - LAT0);
	*lon = LON0 + rnd() * (LON1 - LON0);
	return false;
}

/* The daemon's candidate rule (incident.c cand_ok) for a 24-hour day. */
static bool
available(const struct responder *r, double dist_m, void *arg)
{
	(void)arg;
	if (r->pending > 0)
		return false;
	if (r->kind == RESP_STATION) {
		if (!r->active || !conf_in_hours(r->duty_from, r->duty_to, 600))
			return false;
		return r->holding + r->pending < r->capacity;
	}
	if (!r->active || r->holding > 0)
		return false;
	return dist_m <= (r->max_km > 0 ? r->max_km : MAX_KM) * 1000.0;
}

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
quantile(const double *sorted, size_t n, double q)
{
	size_t i = (size_t)ceil(q * (double)n);

	return sorted[i ? i - 1 : 0];
}

int
main(int argc, char **argv)
{
	size_t nresp = argc > 1 ? (size_t)atol(argv[1]) : 100000;
	size_t nq = argc > 2 ? (size_t)atol(argv[2]) : 100000;
	size_t nbrute = argc > 3 ? (size_t)atol(argv[3]) : 1000;
	struct responder **list, *r, *b;
	struct place *q;
	struct world w;
	double *t_ix, *t_bf, *t_out, t0, build_s, d, bd, sum = 0;
	size_t i, j, found = 0, mismatch = 0, nout = 0;
	bool *town;

	if (nresp < 1 || nq < 1 || nresp > 10000000 || nq > 10000000) {
		fprintf(stderr,
			"usage: cw-nearest [RESPONDERS [QUERIES [BRUTE_QUERIES]]]\n");
		return 2;
	}
	if (nbrute > nq)
		nbrute = nq;
	ntowns = 200;
	towns = xcalloc(ntowns, sizeof(*towns));
	for (i = 0; i < ntowns; i++) {
		towns[i].lat = LAT0 + 0.1 + rnd() * (LAT1 - LAT0 - 0.2);
		towns[i].lon = LON0 + 0.1 + rnd() * (LON1 - LON0 - 0.2);
	}
	world_init(&w);
	list = xcalloc(nresp, sizeof(*list));
	for (i = 0; i < nresp; i++) {
		r = list[i] = xcalloc(1, sizeof(*r));
		snprintf(r->id, sizeof(r->id), "%c%06zu", i % 5 == 0 ? 'S' : 'V', i);
		r->kind = i % 5 == 0 ? RESP_STATION : RESP_VOLUNTEER;
		place_point(&r->lat, &r->lon);
		r->active = true;
		r->capacity = 2;
		r->duty_from = 0;
		r->duty_to = 1440;
		if (rnd() < 0.1) /* busy: a volunteer out, a station full */
			r->holding = r->kind == RESP_STATION ? 2 : 1;
		hmap_put(&w.responders, r->id, r);
	}
	t0 = mono();
	world_index(&w);
	build_s = mono() - t0;

	q = xcalloc(nq, sizeof(*q));
	town = xcalloc(nq, sizeof(*town));
	for (i = 0; i < nq; i++)
		town[i] = place_point(&q[i].lat, &q[i].lon);
	t_ix = xcalloc(nq, sizeof(*t_ix));
	t_out = xcalloc(nq, sizeof(*t_out));
	t_bf = xcalloc(nbrute ? nbrute : 1, sizeof(*t_bf));
	for (i = 0; i < nq; i++) {
		t0 = mono();
		r = dindex_nearest(w.index, q[i].lat, q[i].lon, available, NULL, &d);
		t_ix[i] = mono() - t0;
		if (!town[i])
			t_out[nout++] = t_ix[i];
		found += r != NULL;
		if (i >= nbrute)
			continue;
		/* the ceiling: every responder, the same rule */
		t0 = mono();
		b = NULL;
		bd = INFINITY;
		for (j = 0; j < nresp; j++) {
			double dj = geo_distance_m(q[i].lat, q[i].lon, list[j]->lat,
						   list[j]->lon);

			if (dj < bd && available(list[j], dj, NULL)) {
				b = list[j];
				bd = dj;
			}
		}
		t_bf[i] = mono() - t0;
		if ((b == NULL) != (r == NULL) || (b && fabs(bd - d) > 0.01))
			mismatch++;
	}
	for (i = 0; i < nq; i++)
		sum += t_ix[i];
	for (i = 0, j = 0; i < nq; i++)
		if (town[i])
			t_ix[j++] = t_ix[i]; /* the town queries first, to sort apart */
	qsort(t_ix, j, sizeof(*t_ix), dbl_cmp);
	qsort(t_out, nout ? nout : 1, sizeof(*t_out), dbl_cmp);
	if (j && nout)
		printf("index, elders in towns: median %.2f us, p99 %.2f us; scattered: "
		       "median %.2f us, p99 %.2f us\n",
		       quantile(t_ix, j, 0.5) * 1e6, quantile(t_ix, j, 0.99) * 1e6,
		       quantile(t_out, nout, 0.5) * 1e6,
		       quantile(t_out, nout, 0.99) * 1e6);
	memcpy(t_ix + j, t_out, nout * sizeof(*t_ix));
	qsort(t_ix, nq, sizeof(*t_ix), dbl_cmp);
	qsort(t_bf, nbrute ? nbrute : 1, sizeof(*t_bf), dbl_cmp);
	printf("responders=%zu towns=%zu queries=%zu found=%zu brute_queries=%zu\n",
	       nresp, ntowns, nq, found, nbrute);
	printf("index: build %.1f ms; query median %.2f us, p99 %.2f us, max %.2f us, "
	       "mean %.2f us\n",
	       build_s * 1e3, quantile(t_ix, nq, 0.5) * 1e6,
	       quantile(t_ix, nq, 0.99) * 1e6, t_ix[nq - 1] * 1e6,
	       sum / (double)nq * 1e6);
	if (nbrute)
		printf(
		    "brute force: median %.1f us, p99 %.1f us; answers differing %zu\n",
		    quantile(t_bf, nbrute, 0.5) * 1e6, quantile(t_bf, nbrute, 0.99) * 1e6,
		    mismatch);
	printf("RESULT nearest_median_us=%.3f\n", quantile(t_ix, nq, 0.5) * 1e6);
	printf("RESULT nearest_p99_us=%.3f\n", quantile(t_ix, nq, 0.99) * 1e6);
	printf("RESULT nearest_max_us=%.3f\n", t_ix[nq - 1] * 1e6);
	printf("RESULT nearest_build_ms=%.3f\n", build_s * 1e3);
	if (nbrute) {
		printf("RESULT brute_median_us=%.3f\n",
		       quantile(t_bf, nbrute, 0.5) * 1e6);
		printf("RESULT brute_p99_us=%.3f\n", quantile(t_bf, nbrute, 0.99) * 1e6);
	}
	world_free(&w);
	free(list);
	free(q);
	free(t_ix);
	free(t_bf);
	free(t_out);
	free(town);
	free(towns);
	return mismatch ? 1 : 0;
}
