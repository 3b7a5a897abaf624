/* check_batch.c - the batch builder: one row per key with the last state
 * winning, and the commit callbacks */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "carewatchd.h"
#include "store.h"
#include "util.h"

static struct batch *b;

static void
setup(void)
{
	b = batch_new();
}

static void
teardown(void)
{
	batch_free(b);
}

/* A device's will (offline) and its return (online) in one batch: one row,
 * the later one. */
START_TEST(status_last_wins)
{
	const char *sql[Q__COUNT], *param[Q__COUNT];
	json_t *rows;
	int n;

	batch_keyed(b, Q_STATUS, "sD1", store_status_row("D1", false, 100));
	batch_keyed(b, Q_STATUS, "sD2", store_status_row("D2", false, 100));
	batch_keyed(b, Q_STATUS, "sD1", store_status_row("D1", true, 101));
	ck_assert_uint_eq(json_array_size(b->rows[Q_STATUS]), 2);
	n = batch_queries(b, sql, param, Q__COUNT);
	ck_assert_int_eq(n, 1);
	ck_assert_ptr_eq(sql[0], SQL_UPDATE_STATUS);
	rows = json_loads(param[0], 0, NULL);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(rows, 0), "d")),
			 "D1");
	ck_assert(json_is_true(json_object_get(json_array_get(rows, 0), "o")));
	ck_assert(json_is_false(json_object_get(json_array_get(rows, 1), "o")));
	json_decref(rows);
}
END_TEST

/* Adds event id of device D9 to batch x as route.c does (row, pending
 * event, key). */
static void
add_event(struct batch *x, const char *id)
{
	struct pend_ev pe;
	char key[64];

	memset(&pe, 0, sizeof(pe));
	snprintf(key, sizeof(key), "D9/%s", id);
	pe.key = strdup(key);
	json_array_append_new(x->rows[Q_EVENTS], json_pack("{s:s}", "e", id));
	VEC_PUSH(x->evs, pe);
	hmap_put(&x->evkeys, pe.key, (void *)(uintptr_t)x->evs.n);
	x->inbound++;
}

/* A bulk batch of heartbeats rides along with next: rows after next's,
 * events findable by key, the broker messages counted once, src empty. An
 * event both carry, or a keyed row in src, refuses the merge untouched. */
START_TEST(merge_moves_everything_once)
{
	struct batch *bulk = batch_new(), *bulk2 = batch_new(), *keyed = batch_new();

	add_event(b, "sos-1");
	add_event(bulk, "hb-1");
	add_event(bulk, "hb-2");
	ck_assert(batch_merge(b, bulk));
	ck_assert_uint_eq(json_array_size(b->rows[Q_EVENTS]), 3);
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_array_get(b->rows[Q_EVENTS], 0), "e")),
	    "sos-1");
	ck_assert_uint_eq(b->evs.n, 3);
	ck_assert_uint_eq((uintptr_t)hmap_get(&b->evkeys, "D9/hb-2"), 3);
	ck_assert_uint_eq(b->inbound, 3);
	ck_assert(!batch_has_rows(bulk));
	ck_assert_uint_eq(bulk->evs.n, 0);
	ck_assert_uint_eq(bulk->inbound, 0);
	add_event(bulk2, "hb-2");
	ck_assert(!batch_merge(b, bulk2));
	ck_assert_uint_eq(bulk2->inbound, 1);
	ck_assert_uint_eq(json_array_size(b->rows[Q_EVENTS]), 3);
	batch_keyed(keyed, Q_STATUS, "sD9", store_status_row("D9", true, 1));
	ck_assert(!batch_merge(b, keyed));
	batch_free(bulk);
	batch_free(bulk2);
	batch_free(keyed);
}
END_TEST

START_TEST(statements_in_order)
{
	const char *sql[Q__COUNT], *param[Q__COUNT];
	struct visit v;

	memset(&v, 0, sizeof(v));
	strcpy(v.id, "V1:v-1");
	strcpy(v.elder_id, "E1");
	strcpy(v.kind, "phone");
	v.in_person = false;
	strcpy(v.note, "called, all well");
	ck_assert(!batch_has_rows(b));
	batch_add(b, Q_VISITS, store_visit_row(&v));
	batch_keyed(b, Q_STATUS, "sD1", store_status_row("D1", true, 1));
	ck_assert(batch_has_rows(b));
	ck_assert_int_eq(batch_queries(b, sql, param, Q__COUNT), 2);
	ck_assert_ptr_eq(sql[0], SQL_UPDATE_STATUS);
	ck_assert_ptr_eq(sql[1], SQL_INSERT_VISITS);
	/* the visit row carries in_person and the note to the statement */
	ck_assert_ptr_nonnull(strstr(param[1], "\"ip\":false"));
	ck_assert_ptr_nonnull(strstr(param[1], "called, all well"));
	ck_assert_ptr_nonnull(strstr(SQL_INSERT_VISITS, "ip boolean"));
	ck_assert_ptr_nonnull(strstr(SQL_INSERT_VISITS, "n text"));
}
END_TEST

static int calls, oks;

static void
on_commit(void *arg, bool ok)
{
	calls += *(int *)arg;
	oks += ok;
}

START_TEST(commit_callbacks_once)
{
	int one = 1, ten = 10;

	calls = oks = 0;
	batch_on_commit(b, on_commit, &one);
	batch_on_commit(b, on_commit, &ten);
	batch_committed(b, true);
	ck_assert_int_eq(calls, 11);
	ck_assert_int_eq(oks, 2);
	batch_committed(b, false); /* told once only */
	ck_assert_int_eq(calls, 11);
}
END_TEST

/* The offer row carries its window, so that a shortened or extended
 * deadline is what a restart reloads. */
START_TEST(offer_upsert_writes_deadline)
{
	ck_assert_ptr_nonnull(strstr(SQL_UPSERT_OFFERS, "deadline = excluded.deadline"));
	ck_assert_ptr_nonnull(
	    strstr(SQL_UPSERT_OFFERS, "offered_at = excluded.offered_at"));
}
END_TEST

/* What the daemon times or knows only in memory would be lost by a
 * restart: the escalation clock and whether an operator chose the
 * responder are written with the rows and read back by the load. */
START_TEST(rows_carry_escalation_and_manual)
{
	struct incident inc;
	struct offer of;
	json_t *row;

	memset(&inc, 0, sizeof(inc));
	memset(&of, 0, sizeof(of));
	inc.id = 1000;
	inc.priority = 1;
	inc.opened_at = 100;
	inc.escalate_at = 460;
	row = store_incident_row(&inc);
	ck_assert_double_eq(json_real_value(json_object_get(row, "escalate_at")), 460);
	json_decref(row);
	strcpy(of.responder_id, "V9");
	of.forced = of.manual = true;
	row = store_offer_row(&inc, &of);
	ck_assert(json_is_true(json_object_get(row, "m")));
	json_decref(row);
	ck_assert_ptr_nonnull(
	    strstr(SQL_UPSERT_INCIDENTS, "escalate_at = excluded.escalate_at"));
	ck_assert_ptr_nonnull(strstr(SQL_LOAD_INCIDENTS, "escalate_at"));
	ck_assert_ptr_nonnull(strstr(SQL_LOAD_OFFERS, "o.manual"));
}
END_TEST

static Suite *
batch_suite(void)
{
	Suite *s = suite_create("batch");
	TCase *tc = tcase_create("rows");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, status_last_wins);
	tcase_add_test(tc, merge_moves_everything_once);
	tcase_add_test(tc, statements_in_order);
	tcase_add_test(tc, commit_callbacks_once);
	tcase_add_test(tc, offer_upsert_writes_deadline);
	tcase_add_test(tc, rows_carry_escalation_and_manual);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(batch_suite());
}
