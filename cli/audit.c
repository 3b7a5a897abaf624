/* audit.c - `carewatch audit`: the audit log listed, `carewatch audit
 * verify`: its hash chain recomputed here (audit_chain.c), and the audit rows
 * that commands run here write themselves */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit_chain.h"
#include "cli.h"
#include "util.h"
#include "validate.h"

#define AUDIT_LIMIT_DEFAULT 100
#define AUDIT_LIMIT_MAX	    1000000
#define AUDIT_SINCE_MAX	    64 /* bytes of a --since value */

int
cli_audit_write(PGconn *c, const char *action, const char *body, int status,
		const char *result, char *err, size_t errlen)
{
	char user[128], peer[160], st[16];
	const char *params[6];
	PGresult *r;
	int ok;

	cli_unix_user(user, sizeof(user));
	snprintf(peer, sizeof(peer), "local (unix user %s)", user);
	snprintf(st, sizeof(st), "%d", status);
	params[0] = user;
	params[1] = peer;
	params[2] = action;
	params[3] = body;
	params[4] = st;
	params[5] = result;
	/* seq, at, prev_hash and hash are the trigger's to set */
	r = PQexecParams(c,
			 "INSERT INTO audit_log (actor, source, peer, action, body, "
			 "status, result) VALUES ($1, 'cli', $2, $3, $4, $5, $6)",
			 6, NULL, params, NULL, NULL, 0);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		cli_one_line(PQresultErrorMessage(r), err, errlen);
	PQclear(r);
	return ok ? 0 : -1;
}

/* The newest rows at or after $1, oldest first, and how many there are in
 * all; times in the session's zone (set to the configured one) with their
 * offset, as the HTTP API gives them. */
static const char SQL_LIST[] =
    "SELECT json_build_object("
    " 'total', (SELECT count(*) FROM audit_log WHERE at >= $1::timestamptz),"
    " 'audit', coalesce(json_agg(row_to_json(x) ORDER BY x.seq), '[]')) FROM ("
    " SELECT seq, to_char(at, 'YYYY-MM-DD\"T\"HH24:MI:SS.MSTZH:TZM') AS at, actor,"
    "  role, source, peer, action, incident_id, body, status, result"
    " FROM audit_log WHERE at >= $1::timestamptz ORDER BY seq DESC LIMIT $2) x";

/* The whole chain, in seq order, with at as the trigger hashed it. The
 * column order is the one row_from() reads. */
static const char SQL_CHAIN[] =
    "SELECT seq, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
    " actor, role, source, peer, action, incident_id, body, status, result,"
    " encode(prev_hash, 'hex'), encode(hash, 'hex')"
    " FROM audit_log ORDER BY seq";

/* The highest seq the sequence has handed out (0 when none). */
static const char SQL_ISSUED[] =
    "SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM audit_seq";

/* Prints a failed query's reason in one line, with a hint when the schema
 * is older than the audit log. */
static void
report_pg(const char *what, PGresult *r)
{
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	char msg[512];

	if (state != NULL && strcmp(state, "42P01") == 0)
		fprintf(
		    stderr,
		    "carewatch: %s: the database has no audit log yet: run `carewatch "
		    "db migrate`\n",
		    what);
	else
		fprintf(stderr, "carewatch: %s: %s\n", what,
			cli_one_line(PQresultErrorMessage(r), msg, sizeof(msg)));
}

/* Prints the rows of the list as a table. */
static void
print_table(json_t *rows)
{
	char at[24];
	json_t *it;
	size_t i;

	printf("%-7s %-19s %-14s %-6s %-30s %-12s %-9s %-6s %s\n", "SEQ", "AT", "ACTOR",
	       "SOURCE", "PEER", "ACTION", "INCIDENT", "STATUS", "RESULT");
	json_array_foreach(rows, i, it)
	{
		const char *t = json_string_value(json_object_get(it, "at"));
		json_t *inc = json_object_get(it, "incident_id");
		char incs[24] = "";

		/* local time to the second; the offset is the configured zone's */
		str_copy(at, t != NULL ? t : "", sizeof(at));
		if (strlen(at) > 19)
			at[19] = '\0';
		if (at[10] == 'T')
			at[10] = ' ';
		if (json_is_integer(inc))
			snprintf(incs, sizeof(incs), "%lld",
				 (long long)json_integer_value(inc));
		printf("%-7lld %-19s ",
		       (long long)json_integer_value(json_object_get(it, "seq")), at);
		cli_print_field(json_string_value(json_object_get(it, "actor")), 14);
		putchar(' ');
		cli_print_field(json_string_value(json_object_get(it, "source")), 6);
		putchar(' ');
		cli_print_field(json_string_value(json_object_get(it, "peer")), 30);
		putchar(' ');
		cli_print_field(json_string_value(json_object_get(it, "action")), 12);
		putchar(' ');
		cli_print_field(incs, 9);
		printf(" %-6lld ",
		       (long long)json_integer_value(json_object_get(it, "status")));
		cli_print_field(json_string_value(json_object_get(it, "result")), 0);
		putchar('\n');
	}
}

/* `carewatch audit [--since T] [--limit N] [--format table|json]`: the
 * newest N rows at or after T (RFC 3339, or a day in the configured zone),
 * oldest first. */
static int
audit_list(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"since", required_argument, NULL, 's'},
					     {"limit", required_argument, NULL, 'l'},
					     {"format", required_argument, NULL, 'f'},
					     {NULL, 0, NULL, 0}};
	char since[AUDIT_SINCE_MAX] = "-infinity", limit_s[24];
	const char *params[2] = {since, limit_s};
	long limit = AUDIT_LIMIT_DEFAULT;
	bool json = false;
	json_t *res = NULL, *rows;
	PGresult *r;
	PGconn *c;
	double t;
	long long total;
	int ch, rc = 1;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			/* a day is written YYYY-MM-DD into since */
			if (strlen(optarg) < sizeof(since) &&
			    time_parse_rfc3339(optarg, &t) == 0) {
				str_copy(since, optarg, sizeof(since));
			} else if (strlen(optarg) >= sizeof(since) ||
				   validate_date(optarg, since, sizeof(since), NULL) !=
				       NULL) {
				fprintf(stderr,
					"carewatch: --since takes an RFC 3339 time "
					"(2026-11-20T08:00:00+08:00) or a day "
					"(2026-11-20)\n");
				return 2;
			}
			break;
		case 'l':
			if (validate_integer(optarg, 1, AUDIT_LIMIT_MAX, &limit) < 0) {
				fprintf(
				    stderr,
				    "carewatch: --limit takes a number from 1 to %d\n",
				    AUDIT_LIMIT_MAX);
				return 2;
			}
			break;
		case 'f':
			if (cli_parse_format(optarg, &json) < 0)
				return 2;
			break;
		default:
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr,
			"carewatch: usage: carewatch audit [--since T] [--limit N] "
			"[--format table|json] | carewatch audit verify\n");
		return 2;
	}
	snprintf(limit_s, sizeof(limit_s), "%ld", limit);
	if ((c = cli_connect(cli)) == NULL)
		return 1;
	/* a day and the printed times are in the configured zone */
	{
		const char *tz[1] = {cli->conf.timezone};

		r = PQexecParams(c, "SELECT set_config('TimeZone', $1, false)", 1, NULL,
				 tz, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			report_pg("timezone", r);
			PQclear(r);
			goto out;
		}
		PQclear(r);
	}
	r = PQexecParams(c, SQL_LIST, 2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		report_pg("audit", r);
		PQclear(r);
		goto out;
	}
	res = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
	PQclear(r);
	if (res == NULL) {
		fprintf(stderr, "carewatch: audit: the database's answer is not JSON\n");
		goto out;
	}
	rows = json_object_get(res, "audit");
	total = (long long)json_integer_value(json_object_get(res, "total"));
	if (json) {
		json_t *out = json_pack("{sO}", "audit", rows);
		char *s = json_dumps(out, JSON_INDENT(2));

		puts(s);
		free(s);
		json_decref(out);
	} else {
		print_table(rows);
		if ((long long)json_array_size(rows) < total)
			printf("(the last %zu of %lld rows; --limit shows more)\n",
			       json_array_size(rows), total);
		else
			printf("(%zu rows)\n", json_array_size(rows));
	}
	rc = 0;
out:
	json_decref(res);
	PQfinish(c);
	return rc;
}

/* Fills r from row 0 of a single-row result of SQL_CHAIN. A stored hash
 * that is not 32 bytes reads as all 0xff bytes, which no row hashes to, so
 * that the row is found changed. */
static void
row_from(PGresult *res, struct audit_row *r)
{
	const char *f[13];
	int i;

	for (i = 0; i < 13; i++)
		f[i] = PQgetisnull(res, 0, i) ? NULL : PQgetvalue(res, 0, i);
	memset(r, 0, sizeof(*r));
	r->seq = strtoll(f[0], NULL, 10);
	r->at = f[1];
	r->actor = f[2];
	r->role = f[3];
	r->source = f[4];
	r->peer = f[5];
	r->action = f[6];
	r->incident_id = f[7];
	r->body = f[8];
	r->status = atoi(f[9]);
	r->result = f[10];
	if (audit_hash_from_hex(f[11], r->prev_hash) < 0)
		memset(r->prev_hash, 0xff, sizeof(r->prev_hash));
	if (audit_hash_from_hex(f[12], r->hash) < 0)
		memset(r->hash, 0xff, sizeof(r->hash));
}

/* Prints the seq gaps the rows link across, when there are any. */
static void
print_gaps(const struct audit_verify *v)
{
	long long i;

	if (v->gaps == 0)
		return;
	printf("note: seq");
	for (i = 0; i < v->gaps && i < AUDIT_GAPS_KEPT; i++) {
		if (v->gap_from[i] == v->gap_to[i])
			printf("%s %lld", i ? "," : "", v->gap_from[i]);
		else
			printf("%s %lld-%lld", i ? "," : "", v->gap_from[i],
			       v->gap_to[i]);
	}
	printf("%s hold%s no row, but the rows around %s link: an insert that was "
	       "rolled back leaves such a gap\n",
	       v->gaps > AUDIT_GAPS_KEPT ? " ..." : "",
	       v->gaps == 1 && v->gap_from[0] == v->gap_to[0] ? "s" : "",
	       v->gaps == 1 && v->gap_from[0] == v->gap_to[0] ? "it" : "them");
}

/* `carewatch audit verify`: reads the whole chain in one snapshot, row by
 * row, and recomputes it. Exit 0 when it holds, 1 at the first break. */
static int
audit_verify(struct cli *cli, int argc, char **argv)
{
	struct audit_verify v;
	struct audit_row row;
	char hex[2 * AUDIT_HASH_LEN + 1];
	long long issued;
	bool failed = false;
	PGresult *r;
	PGconn *c;
	int rc = 1;

	if (argc != 1) {
		fprintf(stderr, "carewatch: usage: carewatch audit verify\n");
		return 2;
	}
	if ((c = cli_connect(cli)) == NULL)
		return 1;
	if (cli_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
		     "audit verify") < 0)
		goto out;
	/* The snapshot is taken by this first statement; a sequence is read
	 * outside snapshots, so every seq the snapshot holds was issued by
	 * then. */
	r = PQexec(c, SQL_ISSUED);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		report_pg("audit verify", r);
		PQclear(r);
		goto out;
	}
	issued = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	audit_verify_init(&v, issued);
	/* row by row: a long log costs no memory */
	if (!PQsendQuery(c, SQL_CHAIN) || !PQsetSingleRowMode(c)) {
		fprintf(stderr, "carewatch: audit verify: %s\n",
			cli_one_line(PQerrorMessage(c), hex, sizeof(hex)));
		goto out;
	}
	while ((r = PQgetResult(c)) != NULL) {
		switch (PQresultStatus(r)) {
		case PGRES_SINGLE_TUPLE:
			if (failed || v.broken != AUDIT_INTACT)
				break; /* the rest is read, not judged */
			row_from(r, &row);
			if (audit_verify_add(&v, &row) < 0) {
				fprintf(stderr, "carewatch: audit verify: libcrypto "
						"cannot compute SHA-256\n");
				failed = true;
			}
			break;
		case PGRES_TUPLES_OK:
			break;
		default:
			if (!failed)
				report_pg("audit verify", r);
			failed = true;
			break;
		}
		PQclear(r);
	}
	if (failed)
		goto out;
	if (audit_verify_finish(&v)) {
		fprintf(stderr, "carewatch: audit chain broken at seq %lld: %s\n",
			v.broken_seq, v.why);
		goto out;
	}
	if (v.rows == 0) {
		printf("audit chain intact: 0 rows\n");
	} else {
		audit_hash_to_hex(v.last_hash, hex);
		printf("audit chain intact: %lld rows, last seq %lld, last hash %s\n",
		       v.rows, v.last_seq, hex);
	}
	print_gaps(&v);
	if (issued > v.last_seq)
		printf(
		    "note: audit_seq issued up to seq %lld, after the last row: inserts "
		    "rolled back, or rows removed from the end (compare the last hash "
		    "with one written down earlier)\n",
		    issued);
	rc = 0;
out:
	PQfinish(c);
	return rc;
}

int
cmd_audit(struct cli *cli, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "verify") == 0)
		return audit_verify(cli, argc - 1, argv + 1);
	return audit_list(cli, argc, argv);
}
