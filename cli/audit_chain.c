/* audit_chain.c - the audit log's hash chain, recomputed: each row's hash
 * from its content, each link from the row before it, and where the first
 * break is and what kind it is */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "audit_chain.h"
#include "util.h"

#define AUDIT_FIELDS 11

char *
audit_canonical(const struct audit_row *r, size_t *len)
{
	char seq[24], status[16];
	const char *f[AUDIT_FIELDS];
	size_t n = 0, i, k;
	char *buf;

	snprintf(seq, sizeof(seq), "%lld", r->seq);
	snprintf(status, sizeof(status), "%d", r->status);
	f[0] = seq;
	f[1] = r->at;
	f[2] = r->actor;
	f[3] = r->role;
	f[4] = r->source;
	f[5] = r->peer;
	f[6] = r->action;
	f[7] = r->incident_id;
	f[8] = r->body;
	f[9] = status;
	f[10] = r->result;
	for (i = 0; i < AUDIT_FIELDS; i++)
		n += (f[i] != NULL ? strlen(f[i]) : 0) + 1;
	buf = xcalloc(1, n);
	for (i = 0, n = 0; i < AUDIT_FIELDS; i++) {
		if (i > 0)
			buf[n++] = AUDIT_SEP;
		if (f[i] != NULL) {
			k = strlen(f[i]);
			memcpy(buf + n, f[i], k);
			n += k;
		}
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

int
audit_row_hash(const struct audit_row *r, unsigned char out[AUDIT_HASH_LEN])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t len;
	char *text = audit_canonical(r, &len);
	int ok;

	ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(ctx, r->prev_hash, AUDIT_HASH_LEN) == 1 &&
	     EVP_DigestUpdate(ctx, text, len) == 1 &&
	     EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == AUDIT_HASH_LEN;
	if (ok)
		memcpy(out, md, AUDIT_HASH_LEN);
	EVP_MD_CTX_free(ctx);
	free(text);
	return ok ? 0 : -1;
}

/* The value of one hex digit, or -1. */
static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
audit_hash_from_hex(const char *s, unsigned char out[AUDIT_HASH_LEN])
{
	int i, hi, lo;

	if (strlen(s) != 2 * AUDIT_HASH_LEN)
		return -1;
	for (i = 0; i < AUDIT_HASH_LEN; i++) {
		hi = hex_digit(s[2 * i]);
		lo = hex_digit(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

void
audit_hash_to_hex(const unsigned char h[AUDIT_HASH_LEN], char *out)
{
	static const char digits[] = "0123456789abcdef";
	int i;

	for (i = 0; i < AUDIT_HASH_LEN; i++) {
		out[2 * i] = digits[h[i] >> 4];
		out[2 * i + 1] = digits[h[i] & 15];
	}
	out[2 * AUDIT_HASH_LEN] = '\0';
}

const char *
audit_break_name(enum audit_break b)
{
	switch (b) {
	case AUDIT_CHANGED:
		return "changed";
	case AUDIT_REMOVED:
		return "removed";
	case AUDIT_INSERTED:
		return "inserted";
	default:
		return "intact";
	}
}

void
audit_verify_init(struct audit_verify *v, long long issued_max)
{
	memset(v, 0, sizeof(*v));
	v->issued_max = issued_max;
}

static bool
same(const unsigned char *a, const unsigned char *b)
{
	return memcmp(a, b, AUDIT_HASH_LEN) == 0;
}

/* Records the first break. */
static void
set_broken(struct audit_verify *v, enum audit_break kind, long long seq)
{
	v->broken = kind;
	v->broken_seq = seq;
}

/* Records seq numbers from..to that no row holds although the rows around
 * them link: an insert that was rolled back took them from the sequence. */
static void
note_gap(struct audit_verify *v, long long from, long long to)
{
	if (v->gaps < AUDIT_GAPS_KEPT) {
		v->gap_from[v->gaps] = from;
		v->gap_to[v->gaps] = to;
	}
	v->gaps++;
}

/* Describes what is missing before row p (rows from..to) in v->why. */
static void
removed_why(struct audit_verify *v, const struct audit_link *p, long long from,
	    long long to)
{
	char what[80], to_whom[48];

	if (from == to)
		snprintf(what, sizeof(what), "seq %lld is missing", from);
	else
		snprintf(what, sizeof(what), "seq %lld to %lld are missing", from, to);
	if (!p->first)
		snprintf(to_whom, sizeof(to_whom), "seq %lld's hash", p->before_seq);
	else
		snprintf(to_whom, sizeof(to_whom), "the chain's start");
	snprintf(v->why, sizeof(v->why),
		 "%s removed (%s; seq %lld's prev_hash is not %s)",
		 from == to ? "row" : "rows", what, p->seq, to_whom);
}

/* Judges row p, knowing the row after it (next; NULL for the last row):
 * sets v->broken at the first thing wrong. The order matters: a row that
 * the next row links past was inserted, whatever its own hash says; a row
 * whose hash does not match its content was changed; only then does a
 * link that points elsewhere mean rows were removed before it. */
static void
judge(struct audit_verify *v, const struct audit_link *p, const struct audit_link *next)
{
	bool first = p->first;

	if (v->issued_max >= 0 && p->seq > v->issued_max) {
		set_broken(v, AUDIT_INSERTED, p->seq);
		snprintf(v->why, sizeof(v->why),
			 "row inserted (audit_seq never issued seq %lld: it stands at "
			 "%lld)",
			 p->seq, v->issued_max);
	} else if (next != NULL && same(next->prev_hash, p->expect) &&
		   !same(next->prev_hash, p->hash)) {
		set_broken(v, AUDIT_INSERTED, p->seq);
		if (first)
			snprintf(v->why, sizeof(v->why),
				 "row inserted (seq %lld after it starts the chain)",
				 next->seq);
		else
			snprintf(v->why, sizeof(v->why),
				 "row inserted (seq %lld after it links to seq %lld)",
				 next->seq, p->before_seq);
	} else if (!p->content_ok) {
		set_broken(v, AUDIT_CHANGED, p->seq);
		snprintf(v->why, sizeof(v->why),
			 "row changed (hash does not match its content)");
	} else if (!same(p->prev_hash, p->expect)) {
		if (first && p->seq > 1) {
			set_broken(v, AUDIT_REMOVED, 1);
			removed_why(v, p, 1, p->seq - 1);
		} else if (first) {
			set_broken(v, AUDIT_CHANGED, p->seq);
			snprintf(v->why, sizeof(v->why),
				 "row changed (it starts the chain, but its prev_hash "
				 "is not the zero hash)");
		} else if (p->seq > p->before_seq + 1) {
			set_broken(v, AUDIT_REMOVED, p->before_seq + 1);
			removed_why(v, p, p->before_seq + 1, p->seq - 1);
		} else {
			/* content and hash agree, but the next row links to
			 * another hash: both were rewritten */
			set_broken(v, AUDIT_CHANGED, p->before_seq);
			snprintf(v->why, sizeof(v->why),
				 "row changed (its hash was rewritten: seq %lld does "
				 "not link to it)",
				 p->seq);
		}
	} else if (p->seq > (first ? 1 : p->before_seq + 1)) {
		note_gap(v, first ? 1 : p->before_seq + 1, p->seq - 1);
	}
}

int
audit_verify_add(struct audit_verify *v, const struct audit_row *r)
{
	static const unsigned char zero[AUDIT_HASH_LEN];
	unsigned char h[AUDIT_HASH_LEN];
	struct audit_link l;

	if (v->broken != AUDIT_INTACT)
		return 1;
	if (audit_row_hash(r, h) < 0)
		return -1;
	memset(&l, 0, sizeof(l));
	l.seq = r->seq;
	memcpy(l.prev_hash, r->prev_hash, AUDIT_HASH_LEN);
	memcpy(l.hash, r->hash, AUDIT_HASH_LEN);
	memcpy(l.expect, v->have_pending ? v->pending.hash : zero, AUDIT_HASH_LEN);
	l.before_seq = v->have_pending ? v->pending.seq : 0;
	l.first = !v->have_pending;
	l.content_ok = same(h, r->hash);
	if (v->have_pending) {
		judge(v, &v->pending, &l);
		if (v->broken != AUDIT_INTACT)
			return 1;
	}
	v->pending = l;
	v->have_pending = true;
	v->rows++;
	v->last_seq = r->seq;
	memcpy(v->last_hash, r->hash, AUDIT_HASH_LEN);
	return 0;
}

int
audit_verify_finish(struct audit_verify *v)
{
	if (v->broken == AUDIT_INTACT && v->have_pending)
		judge(v, &v->pending, NULL);
	return v->broken != AUDIT_INTACT;
}
