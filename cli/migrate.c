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

/* carewatch db migrate: applies every migration not yet recorded in
 * schema_migrations, each in its own transaction, in the order of their
 * numbers. */
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
	rc = 0;
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	if (c)
		PQfinish(c);
	return rc;
}
