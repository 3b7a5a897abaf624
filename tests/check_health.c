/* check_health.c - the watchdog's progress rule */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "health.h"
#include "metrics.h"

static struct health_in
busy(double now, double progress_at)
{
	struct health_in h;

	memset(&h, 0, sizeof(h));
	h.now = now;
	h.db_up = true;
	h.work_waiting = true;
	h.progress_at = progress_at;
	h.limit_s = 25;
	return h;
}

START_TEST(recent_progress_is_healthy)
{
	struct health_in h = busy(1000, 990);

	ck_assert_ptr_null(health_stalled(&h));
}
END_TEST

START_TEST(nothing_to_do_is_healthy)
{
	struct health_in h = busy(1000, 0);

	h.work_waiting = false;
	ck_assert_ptr_null(health_stalled(&h));
}
END_TEST

START_TEST(database_down_is_degraded_not_stalled)
{
	struct health_in h = busy(1000, 0);

	h.db_up = false;
	ck_assert_ptr_null(health_stalled(&h));
}
END_TEST

/* The review's stall: rows wait, the database is up and idle, and nothing
 * is sent (a flag left set by a failed send). */
START_TEST(rows_waiting_nothing_sent_is_stalled)
{
	struct health_in h = busy(1000, 974);

	ck_assert_str_eq(health_stalled(&h), "rows waiting, nothing sent");
}
END_TEST

START_TEST(commit_overdue_is_stalled)
{
	struct health_in h = busy(1000, 900);

	h.job_in_flight = true;
	h.flight_since = 901;
	ck_assert_str_eq(health_stalled(&h), "commit overdue");
	h.flight_since = 0; /* the lock or the load */
	ck_assert_str_eq(health_stalled(&h), "database job overdue");
}
END_TEST

START_TEST(limit_is_inclusive)
{
	struct health_in h = busy(1000, 975);

	ck_assert_ptr_null(health_stalled(&h));
	h.now = 1000.001;
	ck_assert_ptr_nonnull(health_stalled(&h));
}
END_TEST

/* --- metrics: what /metrics prints, from the same module ---------------- */

/* The value of the exposition line that starts with name, or -1. */
static double
metric(const char *text, const char *name)
{
	const char *p = text;
	size_t n = strlen(name);

	while ((p = strstr(p, name)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p += n;
	}
	return -1;
}

START_TEST(histogram_buckets_are_cumulative)
{
	struct metrics m;
	struct metrics_gauges g;
	size_t len = 0;
	char *t;

	metrics_init(&m);
	memset(&g, 0, sizeof(g));
	metrics_observe(&m.commit_s, 0.004); /* le 0.005 */
	metrics_observe(&m.commit_s, 0.005); /* le 0.005: bounds are inclusive */
	metrics_observe(&m.commit_s, 0.2);   /* le 0.25 */
	metrics_observe(&m.commit_s, 99);    /* only +Inf */
	t = metrics_render(&m, &g, &len);
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(strlen(t), len);
	ck_assert_double_eq(
	    metric(t, "carewatch_batch_commit_seconds_bucket{le=\"0.0025\"}"), 0);
	ck_assert_double_eq(
	    metric(t, "carewatch_batch_commit_seconds_bucket{le=\"0.005\"}"), 2);
	ck_assert_double_eq(
	    metric(t, "carewatch_batch_commit_seconds_bucket{le=\"0.25\"}"), 3);
	ck_assert_double_eq(metric(t, "carewatch_batch_commit_seconds_bucket{le=\"30\"}"),
			    3);
	ck_assert_double_eq(
	    metric(t, "carewatch_batch_commit_seconds_bucket{le=\"+Inf\"}"), 4);
	ck_assert_double_eq(metric(t, "carewatch_batch_commit_seconds_count"), 4);
	ck_assert_double_eq_tol(metric(t, "carewatch_batch_commit_seconds_sum"), 99.209,
				1e-6);
	free(t);
}
END_TEST

START_TEST(counters_and_labels)
{
	struct metrics m;
	struct metrics_gauges g;
	size_t len = 0;
	char *t;
	int i;

	metrics_init(&m);
	memset(&g, 0, sizeof(g));
	m.events[EV_SOS] = 3;
	metrics_dead(&m, "bad JSON");
	metrics_dead(&m, "bad JSON");
	metrics_dead(&m, "a \"quoted\" reason");
	for (i = 0; i < METRICS_REASONS + 5; i++) {
		char r[16];

		snprintf(r, sizeof(r), "r%d", i);
		metrics_dead(&m, r);
	}
	metrics_http(&m, 200);
	metrics_http(&m, 200);
	metrics_http(&m, 409);
	g.open_by_priority[1] = 2;
	g.broker_up = 1;
	t = metrics_render(&m, &g, &len);
	ck_assert_double_eq(metric(t, "carewatch_events_received_total{type=\"sos\"}"),
			    3);
	ck_assert_double_eq(metric(t, "carewatch_events_received_total{type=\"fall\"}"),
			    0);
	ck_assert_double_eq(
	    metric(t, "carewatch_dead_letters_total{reason=\"bad JSON\"}"), 2);
	ck_assert_double_eq(
	    metric(t, "carewatch_dead_letters_total{reason=\"a \\\"quoted\\\" reason\"}"),
	    1);
	/* distinct reasons are bounded: the rest are counted as "other" */
	ck_assert_double_eq(metric(t, "carewatch_dead_letters_total{reason=\"other\"}"),
			    7);
	ck_assert_double_eq(metric(t, "carewatch_http_requests_total{code=\"200\"}"), 2);
	ck_assert_double_eq(metric(t, "carewatch_http_requests_total{code=\"409\"}"), 1);
	ck_assert_double_eq(metric(t, "carewatch_open_incidents{priority=\"1\"}"), 2);
	ck_assert_double_eq(metric(t, "carewatch_broker_connected"), 1);
	ck_assert_ptr_nonnull(strstr(t, "# TYPE carewatch_offers_total counter\n"));
	ck_assert_ptr_nonnull(
	    strstr(t, "# TYPE carewatch_time_to_accept_seconds histogram\n"));
	free(t);
}
END_TEST

static Suite *
health_suite(void)
{
	Suite *s = suite_create("health");
	TCase *tc = tcase_create("stalled");

	tcase_add_test(tc, recent_progress_is_healthy);
	tcase_add_test(tc, nothing_to_do_is_healthy);
	tcase_add_test(tc, database_down_is_degraded_not_stalled);
	tcase_add_test(tc, rows_waiting_nothing_sent_is_stalled);
	tcase_add_test(tc, commit_overdue_is_stalled);
	tcase_add_test(tc, limit_is_inclusive);
	suite_add_tcase(s, tc);
	tc = tcase_create("metrics");
	tcase_add_test(tc, histogram_buckets_are_cumulative);
	tcase_add_test(tc, counters_and_labels);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(health_suite());
}
