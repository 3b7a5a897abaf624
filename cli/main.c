/* carewatch.c - the command-line tool: dispatches to the command modules,
 * and holds what they share (connection, key, migrations). */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "log.h"
#include "util.h"

static void
usage(FILE *f)
{
	fprintf(
	    f, "usage: carewatch [-c FILE] COMMAND [ARGS]\n"
	       "\n"
	       "Commands:\n"
	       "  db migrate                      apply the schema migrations in order "
	       "(idempotent)\n"
	       "  import KIND FILE.csv [--encoding utf-8|gb18030]\n"
	       "                                  load or update areas, stations, "
	       "volunteers,\n"
	       "                                  elders or devices (one transaction per "
	       "file)\n"
	       "  incidents [--state open|all] [--format table|json]\n"
	       "                                  list incidents\n"
	       "  incident ID [--format table|json]\n"
	       "                                  one incident: alarms, offers, history\n"
	       "\n"
	       "Options:\n"
	       "  -c FILE     the daemon's configuration, for [database] and [privacy];\n"
	       "              without it the libpq environment (PGHOST, PGDATABASE, ...) "
	       "applies\n"
	       "  -h, --help  this text\n"
	       "\n"
	       "Exit status 0 on success; otherwise non-zero with a one-line reason on "
	       "stderr.\n");
}

PGconn *
cli_connect(const struct cli *cli)
{
	PGconn *c = PQconnectdb(cli->have_conf ? cli->conf.db_conninfo : "");
	char *nl;

	if (PQstatus(c) != CONNECTION_OK) {
		char msg[512];

		str_copy(msg, PQerrorMessage(c), sizeof(msg));
		while ((nl = strchr(msg, '\n')) != NULL)
			*nl = ' ';
		fprintf(stderr, "carewatch: database: %s\n", msg);
		PQfinish(c);
		return NULL;
	}
	PQsetClientEncoding(c, "UTF8");
	return c;
}

int
cli_read_key(const struct cli *cli, char *buf, size_t len, char *err, size_t errlen)
{
	FILE *f;
	size_t n;

	if (!cli->have_conf || cli->conf.id_key_file[0] == '\0') {
		snprintf(err, errlen,
			 "no [privacy] id_key_file configured (use -c FILE)");
		return -1;
	}
	if ((f = fopen(cli->conf.id_key_file, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", cli->conf.id_key_file, strerror(errno));
		return -1;
	}
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	if (n < 16) {
		snprintf(err, errlen, "%s: key shorter than 16 bytes",
			 cli->conf.id_key_file);
		return -1;
	}
	return 0;
}

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

static char *
read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) < 0) {
		fclose(f);
		return NULL;
	}
	buf = xcalloc((size_t)n + 1, 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

static int
exec_ok(PGconn *c, const char *sql, const char *what)
{
	PGresult *r = PQexec(c, sql);
	int ok =
	    PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;

	if (!ok) {
		char *m = PQresultErrorMessage(r), *nl;

		while ((nl = strchr(m, '\n')) != NULL)
			*nl = ' ';
		fprintf(stderr, "carewatch: %s: %s\n", what, m);
	}
	PQclear(r);
	return ok ? 0 : -1;
}

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
	if (exec_ok(c,
		    "CREATE TABLE IF NOT EXISTS schema_migrations (version integer "
		    "PRIMARY KEY, "
		    "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
		    "schema_migrations") < 0)
		goto out;
	for (i = 0; i < n; i++) {
		const char *params[2];
		char ver[16], *sql;
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
		if ((sql = read_file(path)) == NULL) {
			fprintf(stderr, "carewatch: %s: cannot read\n", path);
			goto out;
		}
		/* one transaction per migration, recorded with it */
		if (exec_ok(c, "BEGIN", "begin") < 0 || exec_ok(c, sql, names[i]) < 0) {
			free(sql);
			goto out;
		}
		free(sql);
		params[1] = names[i];
		r = PQexecParams(
		    c, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2,
		    NULL, params, NULL, NULL, 0);
		PQclear(r);
		if (exec_ok(c, "COMMIT", "commit") < 0)
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

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	struct cli cli;
	char err[512];
	int ch;

	memset(&cli, 0, sizeof(cli));
	conf_defaults(&cli.conf);
	log_init("carewatch", 0);
	/* options stop at the command, whose own options follow it */
	while ((ch = getopt_long(argc, argv, "+c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			if (conf_load(&cli.conf, optarg, err, sizeof(err)) < 0) {
				fprintf(stderr, "carewatch: %s\n", err);
				return 1;
			}
			cli.have_conf = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return 2;
	}
	optind = 0; /* each command parses its own options */
	if (strcmp(argv[0], "db") == 0)
		return cmd_migrate(&cli, argc, argv);
	if (strcmp(argv[0], "import") == 0)
		return cmd_import(&cli, argc, argv);
	if (strcmp(argv[0], "incidents") == 0)
		return cmd_incidents(&cli, argc, argv);
	if (strcmp(argv[0], "incident") == 0)
		return cmd_incident(&cli, argc, argv);
	if (strcmp(argv[0], "help") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "carewatch: unknown command '%s' (see carewatch --help)\n",
		argv[0]);
	return 2;
}
