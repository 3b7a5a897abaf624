/* check_supervise.c - unit tests for device supervision: the heap of
 * deadlines (order, many devices, re-arm on heard, a deadline passed at
 * load) and the grouping of a village's silent devices into a storm */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "supervise.h"
#include "util.h"

#define T0 1795312800.0

#define NDEV 2000
static struct device devs[NDEV];
static struct elder village_a, village_b;
static struct supervisor *sv;

static void
setup(void)
{
	int i;

	memset(devs, 0, sizeof(devs));
	memset(&village_a, 0, sizeof(village_a));
	memset(&village_b, 0, sizeof(village_b));
	strcpy(village_a.area_code, "140426101201");
	strcpy(village_b.area_code, "140426101202");
	for (i = 0; i < NDEV; i++) {
		snprintf(devs[i].id, sizeof(devs[i].id), "D%04d", i);
		devs[i].heartbeat_s = 10;
		devs[i].elder = &village_a;
	}
}

static void
teardown(void)
{
	sv_free(sv);
	sv = NULL;
}

/* Supervisor with storms on (more than storm devices within window). */
static void
start(int storm, double window)
{
	struct sv_params p = {storm, window};

	sv = sv_new(&p);
}

static size_t
count(enum sv_kind k)
{
	const struct sv_verdict *v;
	size_t i, n, c = 0;

	v = sv_verdicts(sv, &n);
	for (i = 0; i < n; i++)
		c += v[i].kind == k;
	return c;
}

START_TEST(test_silent_after_one_and_a_half_heartbeats)
{
	start(0, 60);
	sv_watch(sv, &devs[0], T0, true, T0); /* stored while talking: coarse */
	sv_watch(sv, &devs[1], 0, true, T0);  /* never heard: from now */
	/* devs[0] restored from a coalesced last_seen: half a heartbeat more */
	sv_sweep(sv, T0 + 14.9);
	ck_assert_uint_eq(count(SV_RAISE), 0);
	sv_sweep(sv, T0 + 15.0);
	ck_assert_uint_eq(count(SV_RAISE), 1);
	ck_assert_ptr_eq(sv_verdicts(sv, &(size_t){0})[0].dev, &devs[1]);
	sv_verdicts_clear(sv);
	sv_sweep(sv, T0 + 19.9);
	ck_assert_uint_eq(count(SV_RAISE), 0);
	sv_sweep(sv, T0 + 20.0);
	ck_assert_uint_eq(count(SV_RAISE), 1);
	sv_verdicts_clear(sv);
	/* raised once: nothing more however long it stays silent */
	sv_sweep(sv, T0 + 1000);
	ck_assert_uint_eq(count(SV_RAISE), 0);
}
END_TEST

START_TEST(test_heard_rearms_and_back_clears)
{
	const struct sv_verdict *v;
	size_t n;

	start(0, 60);
	sv_watch(sv, &devs[0], 0, true, T0);
	/* heard every 10 s for a long time: never silent, and last_seen is
	 * written at most once per half heartbeat */
	int stores = 0;
	for (double t = T0 + 1; t < T0 + 1000; t += 1) {
		stores += sv_heard(sv, &devs[0], true, t) & SV_STORE;
		sv_sweep(sv, t);
	}
	ck_assert_uint_eq(count(SV_RAISE), 0);
	ck_assert_int_le(stores, 1000 / 5 + 1);
	ck_assert_int_ge(stores, 1000 / 5 - 1);
	/* silent from T0 + 999: found at + 15 */
	sv_sweep(sv, T0 + 999 + 14.9);
	ck_assert_uint_eq(count(SV_RAISE), 0);
	sv_sweep(sv, T0 + 999 + 15);
	v = sv_verdicts(sv, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(v[0].kind, SV_RAISE);
	ck_assert_double_eq_tol(v[0].since, T0 + 999, 0.001);
	sv_verdicts_clear(sv);
	/* heard again: back, with the silence start; stored at once */
	ck_assert_int_eq(sv_heard(sv, &devs[0], true, T0 + 2000) & SV_STORE, SV_STORE);
	v = sv_verdicts(sv, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(v[0].kind, SV_BACK);
	ck_assert_double_eq_tol(v[0].since, T0 + 999, 0.001);
	sv_verdicts_clear(sv);
	/* and watched again */
	sv_sweep(sv, T0 + 2015);
	ck_assert_uint_eq(count(SV_RAISE), 1);
}
END_TEST

START_TEST(test_offline_status_starts_silence_once)
{
	start(0, 60);
	sv_watch(sv, &devs[0], 0, true, T0);
	ck_assert_int_eq(sv_heard(sv, &devs[0], false, T0 + 5), SV_STORE);
	ck_assert_double_eq_tol(sv_since(sv, &devs[0]), T0 + 5, 0.001);
	/* the retained copy again (a reconnect): the silence start stays */
	ck_assert_int_eq(sv_heard(sv, &devs[0], false, T0 + 12), 0);
	ck_assert_double_eq_tol(sv_since(sv, &devs[0]), T0 + 5, 0.001);
	sv_sweep(sv, T0 + 19.9);
	ck_assert_uint_eq(count(SV_RAISE), 0);
	sv_sweep(sv, T0 + 20);
	ck_assert_uint_eq(count(SV_RAISE), 1);
}
END_TEST

START_TEST(test_passed_at_load_fires_once)
{
	const struct sv_verdict *v;
	size_t n;

	start(0, 60);
	/* stored offline at T0 - 100 (exact): the deadline passed while down */
	sv_watch(sv, &devs[0], T0 - 100, false, T0);
	sv_sweep(sv, T0 + 0.25);
	v = sv_verdicts(sv, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(v[0].kind, SV_RAISE);
	/* the same silence start as before the restart: the same event id */
	ck_assert_double_eq_tol(v[0].since, T0 - 100, 0.001);
	sv_verdicts_clear(sv);
	sv_sweep(sv, T0 + 10000);
	ck_assert_uint_eq(count(SV_RAISE), 0);
}
END_TEST

START_TEST(test_order_many_devices)
{
	const struct sv_verdict *v;
	size_t n, i;
	double t;
	int k;

	start(0, 60);
	/* heard at scrambled times: found silent in the order of their
	 * deadlines, each once */
	for (k = 0; k < NDEV; k++) {
		devs[k].heartbeat_s = 2 + (k * 7919) % 50;
		sv_watch(sv, &devs[k], 0, true, T0 + (k * 104729) % 997 * 0.01);
	}
	ck_assert_uint_eq(sv_watched(sv), NDEV);
	double last = 0;
	size_t total = 0;
	for (t = T0; t < T0 + 200; t += 0.5) {
		sv_sweep(sv, t);
		v = sv_verdicts(sv, &n);
		for (i = 0; i < n; i++) {
			double due = v[i].since + 1.5 * v[i].dev->heartbeat_s;

			ck_assert_int_eq(v[i].kind, SV_RAISE);
			ck_assert(due <= t + 1e-6);
			ck_assert(due > t - 0.5 - 1e-6); /* found within one sweep */
			ck_assert(due >= last - 1e-6);
			last = due;
		}
		total += n;
		sv_verdicts_clear(sv);
	}
	ck_assert_uint_eq(total, NDEV);
	ck_assert_uint_le(sv_bytes_per_device(), 64);
}
END_TEST

START_TEST(test_storm_groups_a_village)
{
	const struct sv_verdict *v;
	size_t n, i;
	int k;

	start(10, 60);
	/* 12 devices of village A, 3 of village B, all silent at once */
	for (k = 0; k < 15; k++) {
		devs[k].elder = k < 12 ? &village_a : &village_b;
		sv_watch(sv, &devs[k], 0, true, T0 + k * 0.1);
	}
	sv_sweep(sv, T0 + 16);
	v = sv_verdicts(sv, &n);
	ck_assert_uint_eq(count(SV_STORM_OPEN), 1);
	ck_assert_uint_eq(count(SV_STORM_JOIN), 11);
	ck_assert_uint_eq(count(SV_RAISE), 0);
	for (i = 0; i < n; i++)
		if (v[i].kind == SV_STORM_OPEN)
			ck_assert_str_eq(v[i].area, "140426101201");
	sv_storm_set(sv, "140426101201", 4242);
	sv_verdicts_clear(sv);
	/* the twelfth joins the open storm, with its id */
	sv_sweep(sv, T0 + 17.2);
	v = sv_verdicts(sv, &n);
	ck_assert_uint_eq(count(SV_STORM_JOIN), 1);
	for (i = 0; i < n; i++)
		if (v[i].kind == SV_STORM_JOIN)
			ck_assert_int_eq(v[i].storm_id, 4242);
	sv_verdicts_clear(sv);
	/* village B's three are held, then ticketed one by one */
	sv_sweep(sv, T0 + 17.5 + 59);
	ck_assert_uint_eq(count(SV_RAISE), 0);
	sv_sweep(sv, T0 + 17.5 + 60.5);
	ck_assert_uint_eq(count(SV_RAISE), 3);
	sv_verdicts_clear(sv);
	/* 9 of 12 back: not yet (80% is 9.6) */
	for (k = 0; k < 9; k++)
		sv_heard(sv, &devs[k], true, T0 + 100);
	ck_assert_uint_eq(count(SV_STORM_BACK), 9);
	ck_assert_uint_eq(count(SV_STORM_CLEAR), 0);
	sv_verdicts_clear(sv);
	/* the tenth: over; the two still silent get their own tickets */
	sv_heard(sv, &devs[9], true, T0 + 101);
	ck_assert_uint_eq(count(SV_STORM_CLEAR), 1);
	ck_assert_uint_eq(count(SV_RAISE), 2);
	sv_verdicts_clear(sv);
	/* one of those back: a plain back */
	sv_heard(sv, &devs[10], true, T0 + 102);
	ck_assert_uint_eq(count(SV_BACK), 1);
}
END_TEST

START_TEST(test_no_storm_at_threshold_and_hold_cancelled)
{
	int k;

	start(10, 60);
	/* exactly 10 silent: not more than storm_devices, no storm */
	for (k = 0; k < 10; k++)
		sv_watch(sv, &devs[k], 0, true, T0);
	sv_sweep(sv, T0 + 15);
	ck_assert_uint_eq(count(SV_STORM_OPEN), 0);
	/* one of them heard during its hold: no ticket for it */
	sv_heard(sv, &devs[0], true, T0 + 30);
	sv_sweep(sv, T0 + 75);
	ck_assert_uint_eq(count(SV_RAISE), 9);
	ck_assert_uint_eq(count(SV_BACK), 0);
}
END_TEST

START_TEST(test_storm_restored)
{
	int k;

	start(10, 5);
	sv_storm_restore(sv, "140426101201", 777, 12);
	/* 12 devices stored offline long ago: rejoin quietly */
	for (k = 0; k < 12; k++)
		sv_watch(sv, &devs[k], T0 - 100, false, T0);
	sv_sweep(sv, T0 + 1);
	ck_assert_uint_eq(count(SV_STORM_JOIN), 12);
	ck_assert_uint_eq(count(SV_STORM_OPEN), 0);
	ck_assert(sv_verdicts(sv, &(size_t){0})[0].quiet);
	sv_storms_check(sv);
	ck_assert_uint_eq(count(SV_STORM_CLEAR), 0);
	sv_verdicts_clear(sv);
	/* all back one after another: over at the tenth; the last two were
	 * still silent then, so they got tickets, cleared at once */
	for (k = 0; k < 12; k++)
		sv_heard(sv, &devs[k], true, T0 + 2);
	ck_assert_uint_eq(count(SV_STORM_BACK), 10);
	ck_assert_uint_eq(count(SV_STORM_CLEAR), 1);
	ck_assert_uint_eq(count(SV_RAISE), 2);
	ck_assert_uint_eq(count(SV_BACK), 2);
}
END_TEST

START_TEST(test_storm_restored_all_back_while_down)
{
	start(10, 5);
	sv_storm_restore(sv, "140426101201", 777, 12);
	sv_storms_check(sv);
	ck_assert_uint_eq(count(SV_STORM_CLEAR), 1);
}
END_TEST

START_TEST(test_heartbeat_turned_off)
{
	start(0, 60);
	sv_watch(sv, &devs[0], 0, true, T0);
	devs[0].heartbeat_s = 0;
	sv_sweep(sv, T0 + 100);
	ck_assert_uint_eq(count(SV_RAISE), 0);
	devs[0].heartbeat_s = 10;
	sv_watch(sv, &devs[0], 0, true, T0 + 200);
	sv_sweep(sv, T0 + 215);
	ck_assert_uint_eq(count(SV_RAISE), 1);
}
END_TEST

START_TEST(test_broker_away_restarts_silence)
{
	start(0, 60);
	sv_watch(sv, &devs[0], 0, true, T0);
	sv_watch(sv, &devs[1], 0, true, T0);
	sv_heard(sv, &devs[1], false, T0 + 1); /* said offline: stays silent */
	/* nobody could be heard from T0 + 5 to T0 + 100 */
	sv_touch_all(sv, T0 + 100);
	sv_sweep(sv, T0 + 114.9);
	ck_assert_uint_eq(count(SV_RAISE), 1);
	ck_assert_ptr_eq(sv_verdicts(sv, &(size_t){0})[0].dev, &devs[1]);
	sv_verdicts_clear(sv);
	sv_sweep(sv, T0 + 115);
	ck_assert_uint_eq(count(SV_RAISE), 1);
}
END_TEST

static Suite *
supervise_suite(void)
{
	Suite *s = suite_create("supervise");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_silent_after_one_and_a_half_heartbeats);
	tcase_add_test(tc, test_heard_rearms_and_back_clears);
	tcase_add_test(tc, test_offline_status_starts_silence_once);
	tcase_add_test(tc, test_passed_at_load_fires_once);
	tcase_add_test(tc, test_order_many_devices);
	tcase_add_test(tc, test_storm_groups_a_village);
	tcase_add_test(tc, test_no_storm_at_threshold_and_hold_cancelled);
	tcase_add_test(tc, test_storm_restored);
	tcase_add_test(tc, test_storm_restored_all_back_while_down);
	tcase_add_test(tc, test_heartbeat_turned_off);
	tcase_add_test(tc, test_broker_away_restarts_silence);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(supervise_suite());
}
