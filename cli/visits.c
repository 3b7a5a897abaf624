/* visits.c - `carewatch visit add`: a visit typed in at the desk (a paper
 * visit sheet, a phone call), written straight to PostgreSQL with the same
 * checks and the same keys as the daemon's ways in */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/rand.h>

#include "cli.h"
#include "log.h"
#include "util.h"
#include "validate.h"

#define VISIT_ID_BYTES 8 /* random bytes of a generated id: 16 hex digits */
#define REF_MAX	       64

/* Stores a visit unless its key is there already; says whether the elder
 * and the responder (a station or a volunteer) exist, whether a row went
 * in, and whether a row already there is this visit (elder, time, kind). */
static const char SQL_VISIT_ADD[] =
    "WITH chk AS (SELECT EXISTS (SELECT 1 FROM elders WHERE id = $2) AS el,"
    " ($3::text IS NULL OR EXISTS (SELECT 1 FROM stations WHERE id = $3)"
    "  OR EXISTS (SELECT 1 FROM volunteers WHERE id = $3)) AS rs),"
    " ins AS (INSERT INTO visits (id, elder_id, responder_id, at, kind, in_person, "
    "note) SELECT $1, $2, $3, to_timestamp($4::double precision), $5, $6::boolean, $7"
    " FROM chk WHERE el AND rs ON CONFLICT (id) DO NOTHING RETURNING 1)"
    " SELECT el, rs, (SELECT count(*) FROM ins),"
    " (SELECT v.elder_id = $2 AND v.at = to_timestamp($4::double precision)"
    "  AND v.kind = $5 FROM visits v WHERE v.id = $1) FROM chk";

/* Prints how to call the command. */
static void
visit_usage(FILE *f)
{
	fprintf(f,
		"usage: carewatch visit add --elder ID --at TIME --kind KIND\n"
		"           [--in-person yes|no] [--responder RID] [--id ID] [--note "
		"TEXT]\n"
		"  TIME       YYYY-MM-DD HH:MM in [dispatch] timezone, or RFC 3339\n"
		"  KIND       routine, patrol, alarm_followup, home_service, phone\n"
		"  --in-person  default yes, no for phone (a phone visit is never in "
		"person)\n"
		"  --responder  the station or volunteer who visited: key RID:ID, the\n"
		"               same row as that responder's MQTT visit with this id\n"
		"  --id       the visit sheet's number (at most 40 of A-Z a-z 0-9 _ . : "
		"-);\n"
		"             without a responder the key is @desk:ID; generated and\n"
		"             printed when left out\n");
}

/* Writes a new random visit id (hex) into buf; 0 or -1. */
static int
visit_new_id(char *buf, size_t len)
{
	unsigned char raw[VISIT_ID_BYTES];
	size_t i;

	if (len < 2 * sizeof(raw) + 1 || RAND_bytes(raw, sizeof(raw)) != 1)
		return -1;
	for (i = 0; i < sizeof(raw); i++)
		snprintf(buf + 2 * i, 3, "%02x", raw[i]);
	return 0;
}

static int visit_fail(const char *fmt, ...) CW_PRINTF(1, 2);

/* One line on stderr; returns the exit status 1. */
static int
visit_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "carewatch visit add: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* carewatch visit add ... */
static int
visit_add(struct cli *cli, int argc, char **argv)
{
	const char *elder = NULL, *at_s = NULL, *kind = NULL, *ip_s = NULL,
		   *responder = NULL, *id = NULL, *note = NULL, *why, *params[7];
	char gen[2 * VISIT_ID_BYTES + 1], key[VALIDATE_VISIT_ID_MAX + REF_MAX + 8],
	    at_txt[32], reason[256], err[512], *body;
	double at;
	bool ip = true, b;
	int a, in_person = -1, rc = 1;
	PGconn *c = NULL;
	PGresult *r = NULL;
	json_t *o;

	for (a = 2; a < argc; a++) {
		const char **slot = NULL;

		if (strcmp(argv[a], "-h") == 0 || strcmp(argv[a], "--help") == 0) {
			visit_usage(stdout);
			return 0;
		}
		if (strcmp(argv[a], "--elder") == 0)
			slot = &elder;
		else if (strcmp(argv[a], "--at") == 0)
			slot = &at_s;
		else if (strcmp(argv[a], "--kind") == 0)
			slot = &kind;
		else if (strcmp(argv[a], "--in-person") == 0)
			slot = &ip_s;
		else if (strcmp(argv[a], "--responder") == 0)
			slot = &responder;
		else if (strcmp(argv[a], "--id") == 0)
			slot = &id;
		else if (strcmp(argv[a], "--note") == 0)
			slot = &note;
		if (slot == NULL || a + 1 >= argc) {
			fprintf(stderr, "carewatch visit add: %s %s\n",
				slot == NULL ? "unknown argument"
					     : "a value is missing after",
				argv[a]);
			visit_usage(stderr);
			return 2;
		}
		*slot = argv[++a];
	}
	if (elder == NULL || at_s == NULL || kind == NULL) {
		fprintf(stderr,
			"carewatch visit add: --elder, --at and --kind are required\n");
		visit_usage(stderr);
		return 2;
	}
	if (!id_valid(elder, strlen(elder), REF_MAX))
		return visit_fail("%s", "--elder: expected an elder's id");
	if (responder != NULL && !id_valid(responder, strlen(responder), REF_MAX))
		return visit_fail("%s",
				  "--responder: expected a station's or volunteer's id");
	if (id != NULL && !id_valid(id, strlen(id), VALIDATE_VISIT_ID_MAX))
		return visit_fail("%s",
				  "--id: expected 1 to 40 letters, digits or _ . : -");
	if (note != NULL && (why = validate_text(note, VALIDATE_TEXT_MAX, false, reason,
						 sizeof(reason))) != NULL)
		return visit_fail("--note: %s", why);
	if (ip_s != NULL) {
		if ((why = validate_boolean(ip_s, &b)) != NULL)
			return visit_fail("--in-person: %s", why);
		in_person = b ? 1 : 0;
	}
	/* a local time is the configured zone's, whatever the machine's */
	setenv("TZ", cli->conf.timezone, 1);
	tzset();
	if ((why = validate_visit_time(at_s, &at)) != NULL)
		return visit_fail("--at: %s", why);
	if ((why = validate_visit(kind, in_person, at, now_wall(), &ip)) != NULL)
		return visit_fail("%s", why);
	if (id == NULL) {
		if (visit_new_id(gen, sizeof(gen)) < 0)
			return visit_fail("%s", "no random bytes for an id");
		id = gen;
	}
	/* the API's scheme: a responder's own id, or the desk's */
	if (responder != NULL)
		snprintf(key, sizeof(key), "%s:%s", responder, id);
	else
		snprintf(key, sizeof(key), "@desk:%s", id);
	snprintf(at_txt, sizeof(at_txt), "%.3f", at);
	params[0] = key;
	params[1] = elder;
	params[2] = responder;
	params[3] = at_txt;
	params[4] = kind;
	params[5] = ip ? "true" : "false";
	params[6] = note;
	if ((c = cli_connect(cli)) == NULL)
		return 1;
	if (cli_exec(c, "BEGIN", "visit add") < 0)
		goto out;
	r = PQexecParams(c, SQL_VISIT_ADD, 7, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		visit_fail("database: %s",
			   cli_one_line(PQresultErrorMessage(r), err, sizeof(err)));
		goto out;
	}
	if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
		visit_fail("%s", "no such elder");
		goto out;
	}
	if (strcmp(PQgetvalue(r, 0, 1), "t") != 0) {
		visit_fail("%s", "no such responder (station or volunteer)");
		goto out;
	}
	if (strcmp(PQgetvalue(r, 0, 2), "0") == 0) {
		cli_exec(c, "ROLLBACK", "visit add");
		/* the same sheet typed again, or its number used twice */
		printf("visit %s was already recorded%s: nothing changed\n", key,
		       strcmp(PQgetvalue(r, 0, 3), "t") == 0
			   ? ""
			   : " (with another elder, time or kind)");
		rc = 0;
		goto out;
	}
	/* on the audit log like a visit over the API; the note stays out */
	o = json_pack("{s:s,s:s,s:s,s:s,s:b,s:s?}", "id", key, "elder", elder, "at", at_s,
		      "kind", kind, "in_person", ip, "responder", responder);
	body = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	if (body == NULL ||
	    cli_audit_write(c, "visit", body, 201, "recorded", err, sizeof(err)) < 0) {
		visit_fail("not recorded: the audit log refused its row: %s", err);
		free(body);
		goto out;
	}
	free(body);
	if (cli_exec(c, "COMMIT", "visit add") < 0)
		goto out;
	if (id == gen)
		printf("recorded visit %s (generated id %s)\n", key, id);
	else
		printf("recorded visit %s\n", key);
	rc = 0;
out:
	PQclear(r);
	PQfinish(c);
	return rc;
}

/* carewatch visit add ... */
int
cmd_visit(struct cli *cli, int argc, char **argv)
{
	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		visit_usage(stdout);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "add") == 0)
		return visit_add(cli, argc, argv);
	visit_usage(stderr);
	return 2;
}
