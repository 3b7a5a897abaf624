/* migrate.c - `carewatch db migrate`: the numbered migrations in sql/, each
 * applied once */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "util.h"

#define MIGRATION_MAX (16UL << 20) /* bytes in one migration file */

/* Orders migration file names, which start with their number. */
static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Finds the migrations: $CAREWATCH_SQLDIR, the installed copy, or the
 * source tree this binary was built from. */
static const char *
sql_dir(void)
{
	const char *env = getenv("CAREWATCH_SQLDIR");
	struct stat st;

	if (env && *env)
		return env;
	if (stat(SQLDIR "/001_schema.sql", &st) == 0)
		return SQLDIR;
	return SRCSQLDIR;
}

/* Checks that key decrypts the id numbers already stored, if there are any:
 * 0, or -1 with a one-line reason in err. Only a yes/no leaves the server. */
static int
key_opens_stored(PGconn *c, const char *key, const char *path, char *err, size_t errlen)
{
	const char *params[1] = {key};
	PGresult *r =
	    PQexecParams(c,
			 "SELECT pgp_sym_decrypt(id_number_enc, $1) IS NOT NULL "
			 "FROM elders WHERE id_number_enc IS NOT NULL LIMIT 1",
			 1, NULL, params, NULL, NULL, 0);
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	char msg[256];
	int rc = 0;

	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		/* pgcrypto's "Wrong key or corrupt data" */
		if (state != NULL && strncmp(state, "39", 2) == 0)
			snprintf(err, errlen,
				 "%s does not decrypt the id numbers already in the "
				 "database: restore the key they were stored with",
				 path);
		else
			snprintf(err, errlen, "database: %s",
				 cli_one_line(PQresultErrorMessage(r), msg, sizeof(msg)));
		rc = -1;
	}
	PQclear(r);
	return rc;
}

/* Makes sure the id-number key exists and is the one the database knows.
 * A missing key is created at the default place ({[spool] dir}/id.key),
 * unless the database already recorded one: that key must be restored, as
 * a new one could not decrypt what is stored. The fingerprint is recorded
 * when none is. */
static int
migrate_key(const struct cli *cli, PGconn *c)
{
	char path[CONF_STR_MAX + 16], key[CLI_KEY_MAX], err[2 * CONF_STR_MAX + 256];
	char have[CLI_KEY_FP_LEN], want[CLI_KEY_FP_LEN], why[CONF_STR_MAX + 128];
	const char *params[1];
	bool missing;
	int rec, rc = -1;
	PGresult *r;

	cli_key_path(cli, path, sizeof(path));
	if ((rec = cli_key_recorded(c, want, sizeof(want), err, sizeof(err))) < 0)
		goto fail;
	if (cli_key_read(cli, key, sizeof(key), &missing, err, sizeof(err)) < 0) {
		if (!missing)
			goto fail;
		if (rec == 1) {
			snprintf(
			    err, sizeof(err),
			    "%s is missing, but the database recorded the id-number "
			    "key with fingerprint %.12s...: restore that key from its "
			    "backup (a new one could not decrypt stored id numbers)",
			    path, want);
			goto fail;
		}
		if (cli->conf.id_key_file[0] != '\0') {
			snprintf(
			    err, sizeof(err),
			    "%s ([privacy] id_key_file) does not exist: create it, or "
			    "leave id_key_file empty to have %s/id.key made",
			    path, cli->conf.spool_dir);
			goto fail;
		}
		if (cli_key_create(path, why, sizeof(why)) < 0) {
			snprintf(
			    err, sizeof(err),
			    "cannot create the id-number key: %s (set [spool] dir or "
			    "[privacy] id_key_file, or run as the directory's owner)",
			    why);
			goto fail;
		}
		printf("created the id-number key %s: back it up with the database\n",
		       path);
		if (cli_key_read(cli, key, sizeof(key), &missing, err, sizeof(err)) < 0)
			goto fail;
	}
	if (rec == 0) {
		if (key_opens_stored(c, key, path, err, sizeof(err)) < 0 ||
		    cli_key_fingerprint(key, have, sizeof(have)) < 0)
			goto fail;
		params[0] = have;
		r = PQexecParams(c,
				 "INSERT INTO id_key (fingerprint) VALUES ($1) "
				 "ON CONFLICT DO NOTHING",
				 1, NULL, params, NULL, NULL, 0);
		PQclear(r);
	}
	/* also when another migrate recorded one meanwhile */
	if (cli_key_check(cli, c, key, err, sizeof(err)) < 0)
		goto fail;
	if (rec == 0)
		printf("recorded the fingerprint of the id-number key %s\n", path);
	else
		printf("the id-number key %s matches the database\n", path);
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "carewatch: %s\n", err);
out:
	explicit_bzero(key, sizeof(key));
	return rc;
}

/* carewatch db migrate: applies every migration not yet recorded in
 * schema_migrations, each in its own transaction, in the order of their
 * numbers; then sees to the id-number key. */
int
cmd_migrate(struct cli *cli, int argc, char **argv)
{
	const char *dir = sql_dir();
	char *names[256], path[1024];
	struct dirent *de;
	int n = 0, i, applied = 0, rc = 1;
	PGconn *c;
	DIR *d;

	if (argc != 2 || strcmp(argv[1], "migrate") != 0) {
		fprintf(stderr, "carewatch: usage: carewatch db migrate\n");
		return 2;
	}
	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "carewatch: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	while ((de = readdir(d)) != NULL && n < 256) {
		size_t l = strlen(de->d_name);

		if (l > 8 && de->d_name[0] >= '0' && de->d_name[0] <= '9' &&
		    strcmp(de->d_name + l - 4, ".sql") == 0)
			names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	qsort(names, (size_t)n, sizeof(names[0]), name_cmp);
	if ((c = cli_connect(cli)) == NULL)
		goto out;
	PQclear(PQexec(c, "SET client_min_messages = warning"));
	if (cli_exec(c,
		     "CREATE TABLE IF NOT EXISTS schema_migrations (version integer "
		     "PRIMARY KEY, "
		     "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
		     "schema_migrations") < 0)
		goto out;
	for (i = 0; i < n; i++) {
		const char *params[2];
		char ver[16], err[128], *sql;
		size_t len;
		PGresult *r;
		bool done;

		snprintf(ver, sizeof(ver), "%d", atoi(names[i]));
		params[0] = ver;
		r = PQexecParams(c, "SELECT 1 FROM schema_migrations WHERE version = $1",
				 1, NULL, params, NULL, NULL, 0);
		done = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
		PQclear(r);
		if (done)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if ((sql = file_read(path, MIGRATION_MAX, &len, err, sizeof(err))) ==
		    NULL) {
			fprintf(stderr, "carewatch: %s: %s\n", path, err);
			goto out;
		}
		/* one transaction per migration, recorded with it */
		if (cli_exec(c, "BEGIN", "begin") < 0 || cli_exec(c, sql, names[i]) < 0) {
			free(sql);
			goto out;
		}
		free(sql);
		params[1] = names[i];
		r = PQexecParams(
		    c, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2,
		    NULL, params, NULL, NULL, 0);
		PQclear(r);
		if (cli_exec(c, "COMMIT", "commit") < 0)
			goto out;
		printf("applied %s\n", names[i]);
		applied++;
	}
	printf("schema up to date (%d applied now, %d known)\n", applied, n);
	if (migrate_key(cli, c) < 0)
		goto out;
	rc = 0;
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	if (c)
		PQfinish(c);
	return rc;
}
