/* users.c - `carewatch user add|list|revoke`: the accounts of the HTTP API.
 * A token is printed once and only its SHA-256 is stored; add and revoke
 * write their own audit row, whether they succeed or are refused. */
#include "config.h"

#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "token.h"
#include "util.h"
#include "validate.h"

#define USER_NAME_MAX 64 /* as users.name's CHECK allows */

static const char *const user_roles[] = {"operator", "supervisor", "auditor", NULL};

/* The outcome of add or revoke: the status its audit row records (200, or
 * the HTTP status the same refusal would get from the daemon) and one line
 * that says what happened. */
struct user_outcome {
	int status;
	char result[256];
};

/* True when name is what users.name's CHECK takes: 1 to 64 of
 * [A-Za-z0-9_.@-]. */
static bool
user_name_valid(const char *name)
{
	size_t n = 0;

	for (; name[n] != '\0'; n++) {
		if (!isalnum((unsigned char)name[n]) && strchr("_.@-", name[n]) == NULL)
			return false;
	}
	return n >= 1 && n <= USER_NAME_MAX;
}

/* Runs a query with text parameters; the caller checks the result. */
static PGresult *
query(PGconn *c, const char *sql, int n, const char *const *params)
{
	return PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
}

static bool
query_ok(PGresult *r)
{
	return PQresultStatus(r) == PGRES_TUPLES_OK ||
	       PQresultStatus(r) == PGRES_COMMAND_OK;
}

/* Records a database failure as the outcome: status 500 and the reason,
 * with a hint when the schema has no accounts yet. */
static void
outcome_pg(struct user_outcome *o, PGresult *r)
{
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	char msg[200];

	o->status = 500;
	if (state != NULL && strcmp(state, "42P01") == 0)
		snprintf(o->result, sizeof(o->result),
			 "the database has no users table yet: run `carewatch db "
			 "migrate`");
	else
		snprintf(o->result, sizeof(o->result), "database: %s",
			 cli_one_line(PQresultErrorMessage(r), msg, sizeof(msg)));
}

/* Ends the transaction of add or revoke: on success the audit row goes in
 * with the change and both are committed, or neither; a refusal is rolled
 * back and its audit row written alone. Prints the reason of a failure in
 * one line; returns the exit status. */
static int
user_finish(PGconn *c, const char *what, const char *body, struct user_outcome *o)
{
	char err[512] = "";

	if (o->status == 200) {
		if (cli_audit_write(c, what, body, 200, o->result, err, sizeof(err)) ==
			0 &&
		    cli_exec(c, "COMMIT", what) == 0)
			return 0;
		cli_exec(c, "ROLLBACK", what);
		if (err[0] != '\0')
			fprintf(stderr,
				"carewatch: %s: not done: the audit log refused its row: "
				"%s\n",
				what, err);
		return 1;
	}
	cli_exec(c, "ROLLBACK", what);
	/* a refusal is on record too; when even that fails, and the
	 * database was not the reason already, the one line says so */
	if (cli_audit_write(c, what, body, o->status, o->result, err, sizeof(err)) < 0 &&
	    o->status != 500)
		fprintf(stderr,
			"carewatch: %s: %s (and the audit log refused its row: %s)\n",
			what, o->result, err);
	else
		fprintf(stderr, "carewatch: %s: %s\n", what, o->result);
	return 1;
}

/* Looks up the area: its level fixes how many leading digits of its code
 * scope the user (province 2 ... village 12). Fills prefix; 0, or -1 with
 * the outcome set. */
static int
area_prefix(PGconn *c, const char *code, char *prefix, size_t len, struct user_outcome *o)
{
	const char *params[1] = {code};
	PGresult *r = query(c, "SELECT level FROM areas WHERE code = $1", 1, params);
	int lv, rc = -1;

	if (!query_ok(r)) {
		outcome_pg(o, r);
	} else if (PQntuples(r) == 0) {
		o->status = 400;
		snprintf(o->result, sizeof(o->result),
			 "no area with code %s (carewatch import areas FILE adds areas)",
			 code);
	} else {
		for (lv = AREA_PROVINCE; lv <= AREA_VILLAGE; lv++) {
			if (strcmp(PQgetvalue(r, 0, 0),
				   validate_area_level_name((enum area_level)lv)) == 0)
				break;
		}
		if (lv > AREA_VILLAGE ||
		    (size_t)validate_area_digits((enum area_level)lv) >= len) {
			o->status = 500;
			snprintf(o->result, sizeof(o->result),
				 "area %s has an unknown level", code);
		} else {
			snprintf(prefix, len, "%.*s",
				 validate_area_digits((enum area_level)lv), code);
			rc = 0;
		}
	}
	PQclear(r);
	return rc;
}

/* The JSON of add's arguments, for the audit row (never the token). */
static char *
add_body(const char *name, const char *role, const char *area)
{
	json_t *o = json_pack("{ssss}", "name", name, "role", role);
	char *s;

	if (area != NULL)
		json_object_set_new(o, "area", json_string(area));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* `carewatch user add NAME --role ROLE [--area CODE]` */
static int
user_add(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"role", required_argument, NULL, 'r'},
					     {"area", required_argument, NULL, 'a'},
					     {NULL, 0, NULL, 0}};
	const char *role = NULL, *area = NULL, *name, *params[6];
	char token[TOKEN_LEN + 1], hash[TOKEN_HASH_LEN], prefix[16] = "", err[256];
	char unix_user[128];
	struct user_outcome o = {200, ""};
	enum area_level level;
	char *body = NULL;
	PGresult *r;
	PGconn *c;
	int ch, rc = 1;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'r')
			role = optarg;
		else if (ch == 'a')
			area = optarg;
		else
			return 2;
	}
	if (optind != argc - 1 || role == NULL) {
		fprintf(stderr, "carewatch: usage: carewatch user add NAME --role "
				"operator|supervisor|auditor [--area CODE]\n");
		return 2;
	}
	name = argv[optind];
	if (!user_name_valid(name)) {
		fprintf(
		    stderr,
		    "carewatch: user add: a name is 1 to %d letters, digits or _ . @ -\n",
		    USER_NAME_MAX);
		return 2;
	}
	if (validate_word(role, user_roles, err, sizeof(err)) != NULL) {
		fprintf(stderr, "carewatch: user add: --role: %s\n", err);
		return 2;
	}
	if (area != NULL && validate_area_code(area, &level) != NULL) {
		fprintf(stderr,
			"carewatch: user add: --area: expected a 12-digit area code\n");
		return 2;
	}
	if (token_make(token, sizeof(token), err, sizeof(err)) < 0 ||
	    token_hash(token, hash, sizeof(hash)) < 0) {
		fprintf(stderr, "carewatch: user add: cannot make a token: %s\n",
			err[0] ? err : "SHA-256 failed");
		goto wipe;
	}
	if ((c = cli_connect(cli)) == NULL)
		goto wipe;
	body = add_body(name, role, area);
	if (cli_exec(c, "BEGIN", "user add") < 0)
		goto out;
	/* a name is never reused, not even a revoked one: the audit log
	 * names users, and must keep meaning one person */
	params[0] = name;
	r = query(c, "SELECT revoked_at IS NOT NULL FROM users WHERE name = $1", 1,
		  params);
	if (!query_ok(r)) {
		outcome_pg(&o, r);
	} else if (PQntuples(r) > 0) {
		o.status = 409;
		snprintf(o.result, sizeof(o.result), "a user named %s exists already%s",
			 name,
			 strcmp(PQgetvalue(r, 0, 0), "t") == 0
			     ? " (revoked; names are not reused)"
			     : "");
	}
	PQclear(r);
	if (o.status == 200 && area != NULL)
		area_prefix(c, area, prefix, sizeof(prefix), &o);
	if (o.status == 200) {
		params[0] = name;
		params[1] = role;
		params[2] = area;
		params[3] = prefix;
		params[4] = hash;
		params[5] = cli_unix_user(unix_user, sizeof(unix_user));
		r = query(c,
			  "INSERT INTO users (name, role, area_code, area_prefix, "
			  "token_sha256, created_by) VALUES ($1, $2, $3, $4, $5, $6)",
			  6, params);
		if (!query_ok(r)) {
			const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

			if (state != NULL && strcmp(state, "23505") == 0) {
				/* added meanwhile by someone else */
				o.status = 409;
				snprintf(o.result, sizeof(o.result),
					 "a user named %s exists already", name);
			} else {
				outcome_pg(&o, r);
			}
		} else {
			snprintf(o.result, sizeof(o.result), "user %s added (%s, %s%s)",
				 name, role, area != NULL ? "area " : "whole county",
				 area != NULL ? area : "");
		}
		PQclear(r);
	}
	rc = user_finish(c, "user add", body, &o);
	if (rc == 0) {
		/* the only time the token is ever shown */
		fprintf(stderr, "%s; its token, shown this once:\n", o.result);
		printf("%s\n", token);
		fflush(stdout);
	}
out:
	free(body);
	PQfinish(c);
wipe:
	explicit_bzero(token, sizeof(token));
	return rc;
}

/* `carewatch user revoke NAME` */
static int
user_revoke(struct cli *cli, int argc, char **argv)
{
	struct user_outcome o = {200, ""};
	const char *params[2];
	const char *name;
	char *body;
	PGresult *r;
	PGconn *c;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "carewatch: usage: carewatch user revoke NAME\n");
		return 2;
	}
	name = argv[1];
	if (!user_name_valid(name)) {
		fprintf(
		    stderr,
		    "carewatch: user revoke: a name is 1 to %d letters, digits or _ . @ "
		    "-\n",
		    USER_NAME_MAX);
		return 2;
	}
	if ((c = cli_connect(cli)) == NULL)
		return 1;
	{
		json_t *j = json_pack("{ss}", "name", name);

		body = json_dumps(j, JSON_COMPACT);
		json_decref(j);
	}
	if (cli_exec(c, "BEGIN", "user revoke") < 0) {
		free(body);
		PQfinish(c);
		return 1;
	}
	params[0] = name;
	params[1] = cli->conf.timezone;
	r = query(c,
		  "UPDATE users SET revoked_at = now() WHERE name = $1 AND revoked_at IS "
		  "NULL",
		  1, params);
	if (!query_ok(r)) {
		outcome_pg(&o, r);
	} else if (strcmp(PQcmdTuples(r), "1") == 0) {
		snprintf(o.result, sizeof(o.result), "user %s revoked", name);
	} else {
		PQclear(r);
		r = query(c,
			  "SELECT to_char(revoked_at AT TIME ZONE $2, 'YYYY-MM-DD "
			  "HH24:MI:SS') FROM users WHERE name = $1",
			  2, params);
		if (!query_ok(r)) {
			outcome_pg(&o, r);
		} else if (PQntuples(r) == 0) {
			o.status = 404;
			snprintf(o.result, sizeof(o.result), "no user named %s", name);
		} else {
			o.status = 409;
			snprintf(o.result, sizeof(o.result),
				 "user %s was revoked already, at %s", name,
				 PQgetvalue(r, 0, 0));
		}
	}
	PQclear(r);
	rc = user_finish(c, "user revoke", body, &o);
	if (rc == 0)
		printf("%s: carewatchd refuses its token from the next second on\n",
		       o.result);
	free(body);
	PQfinish(c);
	return rc;
}

/* The accounts as JSON built by PostgreSQL, times in the configured zone;
 * never the token's hash. */
static const char SQL_LIST[] =
    "SELECT coalesce(json_agg(row_to_json(x) ORDER BY x.name), '[]') FROM ("
    " SELECT u.name, u.role, u.area_code, u.area_prefix,"
    "  to_char(u.created_at AT TIME ZONE $1, 'YYYY-MM-DD\"T\"HH24:MI:SS') AS created_at,"
    "  u.created_by,"
    "  to_char(u.revoked_at AT TIME ZONE $1, 'YYYY-MM-DD\"T\"HH24:MI:SS') AS revoked_at"
    " FROM users u) x";

/* `carewatch user list [--format table|json]` */
static int
user_list(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"format", required_argument, NULL, 'f'},
					     {NULL, 0, NULL, 0}};
	const char *params[1] = {cli->conf.timezone};
	bool json = false;
	json_t *list, *it;
	PGresult *r;
	PGconn *c;
	size_t i;
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch != 'f' || cli_parse_format(optarg, &json) < 0)
			return 2;
	}
	if (optind != argc) {
		fprintf(stderr, "carewatch: usage: carewatch user list [--format "
				"table|json]\n");
		return 2;
	}
	if ((c = cli_connect(cli)) == NULL)
		return 1;
	r = query(c, SQL_LIST, 1, params);
	if (!query_ok(r) || PQntuples(r) != 1) {
		struct user_outcome o;

		outcome_pg(&o, r);
		fprintf(stderr, "carewatch: user list: %s\n", o.result);
		PQclear(r);
		PQfinish(c);
		return 1;
	}
	list = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
	PQclear(r);
	PQfinish(c);
	if (list == NULL) {
		fprintf(stderr,
			"carewatch: user list: the database's answer is not JSON\n");
		return 1;
	}
	if (json) {
		char *s = json_dumps(list, JSON_INDENT(2));

		puts(s);
		free(s);
	} else {
		printf("%-24s %-10s %-12s %-19s %-12s %s\n", "NAME", "ROLE", "AREA",
		       "CREATED", "BY", "REVOKED");
		json_array_foreach(list, i, it)
		{
			const char *area =
			    json_string_value(json_object_get(it, "area_code"));

			cli_print_field(json_string_value(json_object_get(it, "name")),
					24);
			putchar(' ');
			cli_print_field(json_string_value(json_object_get(it, "role")),
					10);
			putchar(' ');
			cli_print_field(area != NULL ? area : "(all)", 12);
			putchar(' ');
			cli_print_field(
			    json_string_value(json_object_get(it, "created_at")), 19);
			putchar(' ');
			cli_print_field(
			    json_string_value(json_object_get(it, "created_by")), 12);
			putchar(' ');
			cli_print_field(
			    json_string_value(json_object_get(it, "revoked_at")), 0);
			putchar('\n');
		}
		printf("(%zu users)\n", json_array_size(list));
	}
	json_decref(list);
	return 0;
}

int
cmd_user(struct cli *cli, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "add") == 0)
		return user_add(cli, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "list") == 0)
		return user_list(cli, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "revoke") == 0)
		return user_revoke(cli, argc - 1, argv + 1);
	fprintf(stderr, "carewatch: usage: carewatch user add|list|revoke ... (see "
			"carewatch --help)\n");
	return 2;
}
