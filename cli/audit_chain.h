/* audit_chain.h - the audit log's hash chain (sql/004_operators.sql)
 * recomputed in C, so that `carewatch audit verify` does not take the
 * database's word for it. Plain C over plain structs and libcrypto: no
 * database, no I/O. */
#ifndef CW_AUDIT_CHAIN_H
#define CW_AUDIT_CHAIN_H

#include <stdbool.h>
#include <stddef.h>

#define AUDIT_HASH_LEN 32   /* bytes of a SHA-256 */
#define AUDIT_SEP      0x1f /* the unit separator between canonical fields */

/* One row of audit_log as the database stored it. Text fields are NULL for
 * SQL NULL; at is UTC as YYYY-MM-DDTHH:MM:SS.ffffffZ, incident_id decimal
 * text, as PostgreSQL prints them. */
struct audit_row {
	long long seq;
	const char *at;
	const char *actor;
	const char *role;
	const char *source;
	const char *peer;
	const char *action;
	const char *incident_id;
	const char *body;
	int status;
	const char *result;
	unsigned char prev_hash[AUDIT_HASH_LEN];
	unsigned char hash[AUDIT_HASH_LEN];
};

/* The row's canonical text: seq, at, actor, role, source, peer, action,
 * incident_id, body, status, result joined by AUDIT_SEP, NULL as the empty
 * string. Returns a new buffer (free() it) and its length in *len. */
char *audit_canonical(const struct audit_row *r, size_t *len);

/* SHA-256(prev_hash || canonical text) of the row into out: the hash the
 * row must carry. 0, or -1 when libcrypto fails. */
int audit_row_hash(const struct audit_row *r, unsigned char out[AUDIT_HASH_LEN]);

/* Decodes 64 hex digits into 32 bytes: 0, or -1 when s is not that. */
int audit_hash_from_hex(const char *s, unsigned char out[AUDIT_HASH_LEN]);

/* Writes the hash as 64 lower-case hex digits and a NUL (65 bytes). */
void audit_hash_to_hex(const unsigned char h[AUDIT_HASH_LEN], char *out);

enum audit_break {
	AUDIT_INTACT,
	AUDIT_CHANGED,	/* a row's hash does not match its content */
	AUDIT_REMOVED,	/* rows missing: a link points past what is there */
	AUDIT_INSERTED, /* a row the chain does not link through */
};

/* What the verifier remembers of a row: enough to judge it once the row
 * after it is known. */
struct audit_link {
	long long seq;
	unsigned char prev_hash[AUDIT_HASH_LEN];
	unsigned char hash[AUDIT_HASH_LEN];
	unsigned char expect[AUDIT_HASH_LEN]; /* the hash its prev_hash must be */
	long long before_seq;		      /* seq of the row before it */
	bool first;			      /* no row before it */
	bool content_ok;		      /* its hash matches its content */
};

#define AUDIT_GAPS_KEPT 4 /* seq gaps remembered for the report */

/* The verifier: rows go in one at a time, in seq order, so that a long log
 * needs no more memory than a short one. */
struct audit_verify {
	long long issued_max; /* the highest seq audit_seq issued; < 0: unknown */
	struct audit_link pending;
	bool have_pending;
	long long rows;
	long long last_seq;
	unsigned char last_hash[AUDIT_HASH_LEN];
	/* seq numbers missing where the rows around them still link: what an
	 * insert that was rolled back leaves */
	long long gaps;
	long long gap_from[AUDIT_GAPS_KEPT], gap_to[AUDIT_GAPS_KEPT];
	/* the first break */
	enum audit_break broken;
	long long broken_seq;
	char why[256];
};

/* Starts a verification; issued_max as above. */
void audit_verify_init(struct audit_verify *v, long long issued_max);

/* Adds the next row (seq ascending). Returns 1 once the chain is found
 * broken (v->broken, broken_seq, why say where and how; later rows change
 * nothing), 0 while it holds, -1 when libcrypto fails. */
int audit_verify_add(struct audit_verify *v, const struct audit_row *r);

/* Judges the last row after the last audit_verify_add(): 1 when broken, 0
 * when the whole chain holds. */
int audit_verify_finish(struct audit_verify *v);

/* "changed", "removed" or "inserted". */
const char *audit_break_name(enum audit_break b);

#endif
