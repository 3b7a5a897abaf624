/* common.c - what every carewatch command shares: the database connection
 * and one-line error reports */
#include "config.h"

#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

/* Copies a libpq message into buf as one line: its line breaks become
 * spaces and trailing blanks go, so that every error stays one line. */
const char *
cli_one_line(const char *msg, char *buf, size_t len)
{
	size_t n;
	char *p;

	str_copy(buf, msg != NULL ? msg : "", len);
	for (p = buf; *p != '\0'; p++) {
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	}
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == ' ')
		buf[--n] = '\0';
	return buf;
}

PGconn *
cli_connect(const struct cli *cli)
{
	PGconn *c = PQconnectdb(cli->have_conf ? cli->conf.db_conninfo : "");
	char msg[512];

	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "carewatch: database: %s\n",
			cli_one_line(PQerrorMessage(c), msg, sizeof(msg)));
		PQfinish(c);
		return NULL;
	}
	PQsetClientEncoding(c, "UTF8");
	return c;
}

int
cli_exec(PGconn *c, const char *sql, const char *what)
{
	PGresult *r = PQexec(c, sql);
	int ok =
	    PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
	char msg[512];

	if (!ok)
		fprintf(stderr, "carewatch: %s: %s\n", what,
			cli_one_line(PQresultErrorMessage(r), msg, sizeof(msg)));
	PQclear(r);
	return ok ? 0 : -1;
}

const char *
cli_unix_user(char *buf, size_t len)
{
	struct passwd *pw = getpwuid(geteuid());
	char *p;

	if (pw == NULL || pw->pw_name == NULL || pw->pw_name[0] == '\0') {
		snprintf(buf, len, "uid %u", (unsigned)geteuid());
		return buf;
	}
	str_copy(buf, pw->pw_name, len);
	/* it goes into audit rows and an HTTP header: visible ASCII only */
	for (p = buf; *p != '\0'; p++) {
		if (*p < 0x21 || *p > 0x7e)
			*p = '?';
	}
	return buf;
}

int
cli_parse_format(const char *s, bool *json)
{
	if (strcmp(s, "json") == 0)
		*json = true;
	else if (strcmp(s, "table") == 0)
		*json = false;
	else {
		fprintf(stderr, "carewatch: --format takes table or json\n");
		return -1;
	}
	return 0;
}

void
cli_print_field(const char *s, int width)
{
	int n = 0;

	if (s == NULL || *s == '\0')
		s = "-";
	/* a stored text cannot break the table's lines */
	for (; *s != '\0'; s++, n++)
		putchar((unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s);
	for (; n < width; n++)
		putchar(' ');
}
