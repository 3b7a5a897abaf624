/* check_health.c - the watchdog's progress rule */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "health.h"

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
	return s;
}

int
main(void)
{
	return check_run(health_suite());
}
