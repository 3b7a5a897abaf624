/* check_audit.c - unit tests for the audit log's hash chain as the command
 * line recomputes it (cli/audit_chain.c): the canonical text, the hash, and
 * which row the verifier names when rows are changed, removed or inserted */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_chain.h"
#include "check_run.h"

#define CHAIN_MAX 12

/* The expected hashes below were computed apart from this code, with
 * Python's hashlib over the same bytes. */

/* A row with every field set; the body holds UTF-8 beyond ASCII. */
static void
full_row(struct audit_row *r)
{
	memset(r, 0, sizeof(*r));
	r->seq = 17;
	r->at = "2026-11-20T02:00:00.123456Z";
	r->actor = "alice";
	r->role = "operator";
	r->source = "http";
	r->peer = "127.0.0.1:50312 (unix user bob)";
	r->action = "ack";
	r->incident_id = "1042";
	r->body = "{\"note\":\"电话已联系\"}";
	r->status = 200;
	r->result = "acknowledged";
}

/* A row whose optional fields are SQL NULL. */
static void
sparse_row(struct audit_row *r)
{
	memset(r, 0, sizeof(*r));
	r->seq = 1;
	r->at = "2026-11-20T02:00:00.000000Z";
	r->actor = "root";
	r->source = "cli";
	r->peer = "local (unix user root)";
	r->action = "user add";
	r->status = 200;
}

/* Fields are joined by 0x1f in the documented order; NULL is empty. */
START_TEST(test_canonical)
{
	static const char want_full[] = "17\x1f"
					"2026-11-20T02:00:00.123456Z\x1f"
					"alice\x1foperator\x1fhttp\x1f"
					"127.0.0.1:50312 (unix user bob)\x1f"
					"ack\x1f"
					"1042\x1f{\"note\":\"电话已联系\"}\x1f"
					"200\x1f"
					"acknowledged";
	static const char want_sparse[] =
	    "1\x1f"
	    "2026-11-20T02:00:00.000000Z\x1froot\x1f\x1f"
	    "cli\x1flocal (unix user root)\x1fuser add\x1f\x1f\x1f"
	    "200\x1f";
	struct audit_row r;
	size_t len;
	char *text;

	full_row(&r);
	text = audit_canonical(&r, &len);
	ck_assert_uint_eq(len, strlen(want_full));
	ck_assert_str_eq(text, want_full);
	free(text);

	sparse_row(&r);
	text = audit_canonical(&r, &len);
	ck_assert_uint_eq(len, strlen(want_sparse));
	ck_assert_str_eq(text, want_sparse);
	free(text);
}
END_TEST

/* hash = SHA-256(prev_hash || canonical): the first row of a chain after
 * 32 zero bytes, another after a given prev_hash. */
START_TEST(test_hash)
{
	struct audit_row r;
	unsigned char h[AUDIT_HASH_LEN];
	char hex[2 * AUDIT_HASH_LEN + 1];

	full_row(&r);
	ck_assert_int_eq(audit_row_hash(&r, h), 0);
	audit_hash_to_hex(h, hex);
	ck_assert_str_eq(
	    hex, "b101cc60dc06929b2552768b2e1ba896395f32c88bea66d148ac30830d464d58");

	sparse_row(&r);
	memset(r.prev_hash, 0xab, sizeof(r.prev_hash));
	ck_assert_int_eq(audit_row_hash(&r, h), 0);
	audit_hash_to_hex(h, hex);
	ck_assert_str_eq(
	    hex, "fa03190f4f6e0270645410e92f2336c0bc96ad46b29a13f45bcb3933fdea6a81");
}
END_TEST

/* Hex comes back as the same bytes; anything but 64 hex digits is refused. */
START_TEST(test_hex)
{
	unsigned char h[AUDIT_HASH_LEN], back[AUDIT_HASH_LEN];
	char hex[2 * AUDIT_HASH_LEN + 1];
	int i;

	for (i = 0; i < AUDIT_HASH_LEN; i++)
		h[i] = (unsigned char)(i * 37 + 5);
	audit_hash_to_hex(h, hex);
	ck_assert_uint_eq(strlen(hex), 64);
	ck_assert_int_eq(audit_hash_from_hex(hex, back), 0);
	ck_assert_int_eq(memcmp(h, back, sizeof(h)), 0);
	hex[10] = 'A'; /* upper case is hex too */
	ck_assert_int_eq(audit_hash_from_hex(hex, back), 0);
	hex[10] = 'g';
	ck_assert_int_eq(audit_hash_from_hex(hex, back), -1);
	ck_assert_int_eq(audit_hash_from_hex("00", back), -1);
	ck_assert_int_eq(audit_hash_from_hex("", back), -1);
}
END_TEST

/* A chain as the trigger builds it: n rows, seq numbers from seqs (or
 * 1..n), each prev_hash the hash of the row before. */
struct chain {
	struct audit_row row[CHAIN_MAX];
	char at[CHAIN_MAX][32];
	char body[CHAIN_MAX][32];
	int n;
};

static void
chain_link(struct chain *c)
{
	int i;

	for (i = 0; i < c->n; i++) {
		if (i == 0)
			memset(c->row[i].prev_hash, 0, AUDIT_HASH_LEN);
		else
			memcpy(c->row[i].prev_hash, c->row[i - 1].hash, AUDIT_HASH_LEN);
		ck_assert_int_eq(audit_row_hash(&c->row[i], c->row[i].hash), 0);
	}
}

static void
chain_make(struct chain *c, int n, const long long *seqs)
{
	int i;

	memset(c, 0, sizeof(*c));
	c->n = n;
	for (i = 0; i < n; i++) {
		struct audit_row *r = &c->row[i];

		r->seq = seqs != NULL ? seqs[i] : i + 1;
		snprintf(c->at[i], sizeof(c->at[i]), "2026-11-20T02:00:%02d.000000Z", i);
		snprintf(c->body[i], sizeof(c->body[i]), "{\"n\":%d}", i);
		r->at = c->at[i];
		r->actor = "alice";
		r->role = "operator";
		r->source = "http";
		r->peer = "127.0.0.1:40000";
		r->action = "ack";
		r->incident_id = i % 2 ? "7" : NULL;
		r->body = c->body[i];
		r->status = i == 3 ? 409 : 200;
		r->result = "ok";
	}
	chain_link(c);
}

/* Removes row i, as DELETE would. */
static void
chain_remove(struct chain *c, int i)
{
	memmove(&c->row[i], &c->row[i + 1], (size_t)(c->n - i - 1) * sizeof(c->row[0]));
	c->n--;
}

/* Inserts r before row i, as an INSERT with the triggers off would. */
static void
chain_insert(struct chain *c, int i, const struct audit_row *r)
{
	memmove(&c->row[i + 1], &c->row[i], (size_t)(c->n - i) * sizeof(c->row[0]));
	c->row[i] = *r;
	c->n++;
}

/* Runs the verifier over the chain: 1 when broken, 0 when intact. */
static int
verify(const struct chain *c, long long issued_max, struct audit_verify *v)
{
	int i, rc = 0;

	audit_verify_init(v, issued_max);
	for (i = 0; i < c->n && rc == 0; i++)
		rc = audit_verify_add(v, &c->row[i]);
	ck_assert_int_ge(rc, 0);
	return audit_verify_finish(v);
}

/* An untouched chain holds: rows, last seq and last hash are reported. */
START_TEST(test_intact)
{
	struct chain c;
	struct audit_verify v;

	chain_make(&c, 8, NULL);
	ck_assert_int_eq(verify(&c, 8, &v), 0);
	ck_assert_int_eq(v.broken, AUDIT_INTACT);
	ck_assert_int_eq(v.rows, 8);
	ck_assert_int_eq(v.last_seq, 8);
	ck_assert_int_eq(memcmp(v.last_hash, c.row[7].hash, AUDIT_HASH_LEN), 0);
	ck_assert_int_eq(v.gaps, 0);
	/* the sequence's position unknown: not checked */
	ck_assert_int_eq(verify(&c, -1, &v), 0);
	/* and an empty log holds too */
	c.n = 0;
	ck_assert_int_eq(verify(&c, 0, &v), 0);
	ck_assert_int_eq(v.rows, 0);
}
END_TEST

/* A changed field, anywhere, names that row; the first one when several. */
START_TEST(test_changed)
{
	struct chain c;
	struct audit_verify v;

	chain_make(&c, 8, NULL);
	c.row[4].body = "{\"n\":40}";
	ck_assert_int_eq(verify(&c, 8, &v), 1);
	ck_assert_int_eq(v.broken, AUDIT_CHANGED);
	ck_assert_int_eq(v.broken_seq, 5);
	ck_assert_ptr_nonnull(strstr(v.why, "hash does not match its content"));

	chain_make(&c, 8, NULL);
	c.row[3].status = 200;	/* 409 -> 200 */
	c.row[2].result = NULL; /* "ok" -> NULL */
	ck_assert_int_eq(verify(&c, 8, &v), 1);
	ck_assert_int_eq(v.broken_seq, 3);

	/* the last row too */
	chain_make(&c, 8, NULL);
	c.row[7].actor = "mallory";
	ck_assert_int_eq(verify(&c, 8, &v), 1);
	ck_assert_int_eq(v.broken, AUDIT_CHANGED);
	ck_assert_int_eq(v.broken_seq, 8);

	/* the first row's prev_hash */
	chain_make(&c, 8, NULL);
	c.row[0].prev_hash[31] = 1;
	ck_assert_int_eq(verify(&c, 8, &v), 1);
	ck_assert_int_eq(v.broken, AUDIT_CHANGED);
	ck_assert_int_eq(v.broken_seq, 1);
}
END_TEST

/* A row changed and its hash recomputed to match: the next row no longer
 * links to it, and the changed row is named. */
START_TEST(test_changed_and_rehashed)
{
	struct chain c;
	struct audit_verify v;

	chain_make(&c, 8, NULL);
	c.row[3].result = "forged";
	ck_assert_int_eq(audit_row_hash(&c.row[3], c.row[3].hash), 0);
	ck_assert_int_eq(verify(&c, 8, &v), 1);
	ck_assert_int_eq(v.broken, AUDIT_CHANGED);
	ck_assert_int_eq(v.broken_seq, 4);
	ck_assert_ptr_nonnull(strstr(v.why, "seq 5 does not link to it"));
}
END_TEST

/* A removed row is named by its seq: in the middle, at the start, or
 * several at once (the first of them). */
START_TEST(test_removed)
{
	struct chain c;
	struct audit_verify v;

	chain_make(&c, 8, NULL);
	chain_remove(&c, 4);
	ck_assert_int_eq(verify(&c, 8, &v), 1);
	ck_assert_int_eq(v.broken, AUDIT_REMOVED);
	ck_assert_int_eq(v.broken_seq, 5);
	ck_assert_ptr_nonnull(strstr(v.why, "seq 5 is missing"));

	chain_make(&c, 8, NULL);
	chain_remove(&c, 2);
	chain_remove(&c, 2);
	ck_assert_int_eq(verify(&c, 8, &v), 1);
	ck_assert_int_eq(v.broken, AUDIT_REMOVED);
	ck_assert_int_eq(v.broken_seq, 3);
	ck_assert_ptr_nonnull(strstr(v.why, "seq 3 to 4 are missing"));

	chain_make(&c, 8, NULL);
	chain_remove(&c, 0);
	ck_assert_int_eq(verify(&c, 8, &v), 1);
	ck_assert_int_eq(v.broken, AUDIT_REMOVED);
	ck_assert_int_eq(v.broken_seq, 1);
}
END_TEST

/* A row put into the chain is named, whether its own hash is right or not:
 * in a gap left by a rolled-back insert, or after the last seq issued. */
START_TEST(test_inserted)
{
	static const long long seqs[] = {1, 2, 3, 5, 6, 7};
	struct chain c;
	struct audit_verify v;
	struct audit_row forged;

	/* seq 4 was rolled back: the chain links across the gap */
	chain_make(&c, 6, seqs);
	ck_assert_int_eq(verify(&c, 7, &v), 0);
	ck_assert_int_eq(v.gaps, 1);
	ck_assert_int_eq(v.gap_from[0], 4);
	ck_assert_int_eq(v.gap_to[0], 4);

	/* a forger who links to seq 3 and hashes correctly */
	forged = c.row[2];
	forged.seq = 4;
	forged.body = "{\"forged\":true}";
	memcpy(forged.prev_hash, c.row[2].hash, AUDIT_HASH_LEN);
	ck_assert_int_eq(audit_row_hash(&forged, forged.hash), 0);
	chain_insert(&c, 3, &forged);
	ck_assert_int_eq(verify(&c, 7, &v), 1);
	ck_assert_int_eq(v.broken, AUDIT_INSERTED);
	ck_assert_int_eq(v.broken_seq, 4);
	ck_assert_ptr_nonnull(strstr(v.why, "seq 5 after it links to seq 3"));

	/* one who did not bother with the hash */
	chain_make(&c, 6, seqs);
	memset(forged.hash, 0x55, AUDIT_HASH_LEN);
	chain_insert(&c, 3, &forged);
	ck_assert_int_eq(verify(&c, 7, &v), 1);
	ck_assert_int_eq(v.broken, AUDIT_INSERTED);
	ck_assert_int_eq(v.broken_seq, 4);

	/* at the end, linked and hashed, but never issued by the sequence */
	chain_make(&c, 6, seqs);
	forged = c.row[5];
	forged.seq = 8;
	memcpy(forged.prev_hash, c.row[5].hash, AUDIT_HASH_LEN);
	ck_assert_int_eq(audit_row_hash(&forged, forged.hash), 0);
	chain_insert(&c, 6, &forged);
	ck_assert_int_eq(verify(&c, 7, &v), 1);
	ck_assert_int_eq(v.broken, AUDIT_INSERTED);
	ck_assert_int_eq(v.broken_seq, 8);
	ck_assert_ptr_nonnull(strstr(v.why, "never issued seq 8"));

	/* before the first row: the first row no longer starts the chain */
	chain_make(&c, 6, seqs);
	forged = c.row[0];
	forged.seq = 0;
	memset(forged.prev_hash, 0, AUDIT_HASH_LEN);
	ck_assert_int_eq(audit_row_hash(&forged, forged.hash), 0);
	chain_insert(&c, 0, &forged);
	ck_assert_int_eq(verify(&c, 7, &v), 1);
	ck_assert_int_eq(v.broken, AUDIT_INSERTED);
	ck_assert_int_eq(v.broken_seq, 0);
}
END_TEST

/* Rows after the first break change nothing: the first one is named. */
START_TEST(test_first_break_wins)
{
	struct chain c;
	struct audit_verify v;

	chain_make(&c, 10, NULL);
	c.row[8].body = "{}";
	chain_remove(&c, 5);
	c.row[1].action = "resolve";
	ck_assert_int_eq(verify(&c, 10, &v), 1);
	ck_assert_int_eq(v.broken, AUDIT_CHANGED);
	ck_assert_int_eq(v.broken_seq, 2);
	ck_assert_str_eq(audit_break_name(v.broken), "changed");
}
END_TEST

static Suite *
audit_suite(void)
{
	Suite *s = suite_create("audit");
	TCase *tc = tcase_create("hash");

	tcase_add_test(tc, test_canonical);
	tcase_add_test(tc, test_hash);
	tcase_add_test(tc, test_hex);
	suite_add_tcase(s, tc);
	tc = tcase_create("verify");
	tcase_add_test(tc, test_intact);
	tcase_add_test(tc, test_changed);
	tcase_add_test(tc, test_changed_and_rehashed);
	tcase_add_test(tc, test_removed);
	tcase_add_test(tc, test_inserted);
	tcase_add_test(tc, test_first_break_wins);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(audit_suite());
}
