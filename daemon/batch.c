/* batch.c - one transaction's worth of rows, the messages its commit
 * releases, and who waits for it. No I/O: writer.c sends it. */
#include "config.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "carewatchd.h"
#include "log.h"
#include "store.h"
#include "util.h"

static const char *const *const q_sql[Q__COUNT] = {
    &SQL_INSERT_EVENTS,	 &SQL_INSERT_DEAD,	&SQL_INSERT_REPLIES,
    &SQL_UPDATE_STATUS,	 &SQL_UPSERT_INCIDENTS, &SQL_UPSERT_OFFERS,
    &SQL_INSERT_HISTORY, &SQL_MARK_HANDLED,	&SQL_INSERT_VISITS,
    &SQL_INSERT_AUDIT,	 &SQL_UPDATE_POSITIONS, &SQL_UPSERT_RATE_LIMITED,
    &SQL_UPSERT_Z2M,
};

static const char *const q_name[] = {
    "events",	 "dead_letters", "replies", "status", "incidents",
    "offers",	 "history",	 "handled", "visits", "audit",
    "positions", "rate_limited", "z2m",
};
_Static_assert(sizeof(q_name) / sizeof(q_name[0]) == Q__COUNT, "a name per statement");

const char *
batch_kind_name(enum q_kind q)
{
	return q >= 0 && q < Q__COUNT ? q_name[q] : "?";
}

struct batch *
batch_new(void)
{
	struct batch *b = xcalloc(1, sizeof(*b));
	int i;

	for (i = 0; i < Q__COUNT; i++)
		b->rows[i] = json_array();
	hmap_init(&b->evkeys);
	hmap_init(&b->rowkeys);
	return b;
}

void
batch_free(struct batch *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < Q__COUNT; i++) {
		json_decref(b->rows[i]);
		free(b->text[i]);
	}
	for (i = 0; i < b->pubs.n; i++)
		pub_free(&b->pubs.v[i]);
	for (i = 0; i < b->evs.n; i++) {
		free(b->evs.v[i].ev.data);
		free(b->evs.v[i].key);
	}
	for (i = 0; i < b->rowkey_store.n; i++)
		free(b->rowkey_store.v[i]);
	free(b->rowkey_store.v);
	hmap_free(&b->rowkeys);
	free(b->pubs.v);
	free(b->evs.v);
	free(b->on_commit.v);
	hmap_free(&b->evkeys);
	free(b);
}

bool
batch_has_rows(const struct batch *b)
{
	int i;

	for (i = 0; i < Q__COUNT; i++)
		if (json_array_size(b->rows[i]) > 0)
			return true;
	return false;
}

/* The key of a row that is only ever inserted (see sql/014_spool_keys.sql):
 * this process's random prefix and a counter, unique across restarts. */
static void
row_key(json_t *row, const char *field)
{
	static char prefix[20];
	static uint64_t n;
	char key[48];

	if (prefix[0] == '\0') {
		uint64_t r = 0;

		if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
			r = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
		snprintf(prefix, sizeof(prefix), "%016" PRIx64, r);
	}
	snprintf(key, sizeof(key), "%s.%" PRIu64, prefix, ++n);
	json_object_set_new(row, field, json_string(key));
}

void
batch_add(struct batch *b, enum q_kind q, json_t *row)
{
	/* history rows use "k" for the incident's kind */
	if (q == Q_HIST)
		row_key(row, "rk");
	else if (q == Q_REPLIES || q == Q_DEAD || q == Q_AUDIT)
		row_key(row, "k");
	json_array_append_new(b->rows[q], row);
}

/* Moves what src carries into dst: rows, events, messages and its count of
 * broker messages. Only for a src of plain rows (a bulk batch: no keyed
 * rows, no commit callbacks); refused (false, nothing moved) when an event
 * of src is in dst too, since one statement may not touch a row twice. */
bool
batch_merge(struct batch *dst, struct batch *src)
{
	size_t i;
	int q;

	if (src->rowkeys.len > 0 || src->on_commit.n > 0 || src->replay)
		return false;
	for (i = 0; i < src->evs.n; i++)
		if (hmap_get(&dst->evkeys, src->evs.v[i].key) != NULL)
			return false;
	for (q = 0; q < Q__COUNT; q++) {
		json_array_extend(dst->rows[q], src->rows[q]);
		json_array_clear(src->rows[q]);
	}
	for (i = 0; i < src->evs.n; i++) {
		VEC_PUSH(dst->evs, src->evs.v[i]);
		hmap_put(&dst->evkeys, src->evs.v[i].key, (void *)(uintptr_t)dst->evs.n);
	}
	src->evs.n = 0;
	for (i = 0; i < src->pubs.n; i++)
		VEC_PUSH(dst->pubs, src->pubs.v[i]);
	src->pubs.n = 0;
	dst->inbound += src->inbound;
	src->inbound = 0;
	return true;
}

/* Adds row to statement q, or replaces the row added earlier under the same
 * key: the last state of a row is the one written. */
void
batch_keyed(struct batch *b, enum q_kind q, const char *key, json_t *row)
{
	void *at = hmap_get(&b->rowkeys, key);
	char *k;

	if (at != NULL) {
		json_array_set_new(b->rows[q], (size_t)(uintptr_t)at - 1, row);
		return;
	}
	json_array_append_new(b->rows[q], row);
	k = xstrdup(key);
	VEC_PUSH(b->rowkey_store, k);
	hmap_put(&b->rowkeys, k, (void *)(uintptr_t)json_array_size(b->rows[q]));
}

/* Queues a message to go out once the batch commits; takes p's strings. */
void
batch_pub(struct batch *b, struct pub *p)
{
	VEC_PUSH(b->pubs, *p);
	p->topic = p->payload = NULL;
}

void
batch_on_commit(struct batch *b, commit_fn fn, void *arg)
{
	struct commit_cb c = {fn, arg};

	VEC_PUSH(b->on_commit, c);
}

/* Tells everyone waiting on the batch, once. */
void
batch_committed(struct batch *b, bool ok)
{
	size_t i;

	for (i = 0; i < b->on_commit.n; i++)
		b->on_commit.v[i].fn(b->on_commit.v[i].arg, ok);
	b->on_commit.n = 0;
}

/* Serialises the rows once and fills the statement texts and their one
 * parameter each; returns how many statements, at most max. */
int
batch_queries(struct batch *b, const char **sql, const char **param, int max)
{
	int i;

	if (b->nq == 0) {
		for (i = 0; i < Q__COUNT; i++) {
			if (json_array_size(b->rows[i]) == 0)
				continue;
			b->text[i] = json_dumps(b->rows[i], JSON_COMPACT);
			if (b->text[i] == NULL)
				fatal("event=oom what=batch");
			b->qkind[b->nq++] = i;
		}
	}
	for (i = 0; i < b->nq && i < max; i++) {
		sql[i] = *q_sql[b->qkind[i]];
		param[i] = b->text[b->qkind[i]];
	}
	return i;
}

char *
batch_encode(struct batch *b, size_t *len)
{
	const char *sql[Q__COUNT], *param[Q__COUNT];
	size_t total = 0, at = 0, nl, tl;
	char *out;
	int i, n = batch_queries(b, sql, param, Q__COUNT);

	for (i = 0; i < n; i++)
		total += 1 + strlen(q_name[b->qkind[i]]) + 4 + strlen(param[i]) + 1;
	out = xcalloc(total + 1, 1);
	for (i = 0; i < n; i++) {
		nl = strlen(q_name[b->qkind[i]]);
		tl = strlen(param[i]);
		out[at++] = (char)nl;
		memcpy(out + at, q_name[b->qkind[i]], nl);
		at += nl;
		out[at++] = (char)(tl & 0xff);
		out[at++] = (char)((tl >> 8) & 0xff);
		out[at++] = (char)((tl >> 16) & 0xff);
		out[at++] = (char)((tl >> 24) & 0xff);
		memcpy(out + at, param[i], tl + 1); /* with its NUL */
		at += tl + 1;
	}
	*len = at;
	return out;
}

int
batch_decode(char *rec, size_t len, int *kind, const char **sql, const char **param,
	     int max)
{
	size_t at = 0, nl, tl;
	int n = 0, q;

	while (at < len) {
		if (n == max)
			return -1;
		nl = (unsigned char)rec[at++];
		if (at + nl + 4 > len)
			return -1;
		for (q = 0; q < Q__COUNT; q++)
			if (strlen(q_name[q]) == nl &&
			    memcmp(q_name[q], rec + at, nl) == 0)
				break;
		if (q == Q__COUNT)
			return -1;
		at += nl;
		tl = (size_t)(unsigned char)rec[at] |
		     (size_t)(unsigned char)rec[at + 1] << 8 |
		     (size_t)(unsigned char)rec[at + 2] << 16 |
		     (size_t)(unsigned char)rec[at + 3] << 24;
		at += 4;
		if (tl >= len - at || rec[at + tl] != '\0')
			return -1;
		kind[n] = q;
		sql[n] = *q_sql[q];
		param[n] = rec + at;
		n++;
		at += tl + 1;
	}
	return n;
}

/* Forgets the serialised statements after rows were taken out or added,
 * so that the next batch_queries() serialises them again. */
void
batch_requeue(struct batch *b)
{
	int i;

	for (i = 0; i < Q__COUNT; i++) {
		free(b->text[i]);
		b->text[i] = NULL;
	}
	b->nq = 0;
}
