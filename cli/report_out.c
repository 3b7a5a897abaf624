/* report_out.c - the output half every `carewatch report` command shares:
 * fields of the JSON document, table and CSV cells, the statement run in
 * the configured zone, and writing with a BOM or in GB18030 */
#include "config.h"

#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>

#include "report_out.h"
#include "util.h"

const char *
jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

void
jnum(json_t *o, const char *k, bool rate, char *buf, size_t len)
{
	json_t *v = json_object_get(o, k);

	if (v == NULL || json_is_null(v))
		buf[0] = '\0';
	else if (rate)
		snprintf(buf, len, "%.1f%%", json_number_value(v) * 100.0);
	else
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
}

void
table_field(FILE *f, const char *s, int width)
{
	int n = 0;

	if (*s == '\0')
		s = "-";
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch >= 0xe0)
			n += 2;
		else if (ch < 0x80 || ch >= 0xc0)
			n++;
		fputc(ch < 0x20 || ch == 0x7f ? ' ' : ch, f);
	}
	for (; n < width; n++)
		fputc(' ', f);
}

void
csv_field(FILE *f, const char *s, bool last)
{
	if (strpbrk(s, ",\"\r\n") != NULL) {
		fputc('"', f);
		for (; *s != '\0'; s++) {
			if (*s == '"')
				fputc('"', f);
			fputc(*s, f);
		}
		fputc('"', f);
	} else {
		fputs(s, f);
	}
	fputs(last ? "\r\n" : ",", f);
}

char *
to_gb18030(const char *in, size_t inlen, size_t *outlen)
{
	iconv_t cd = iconv_open("GB18030", "UTF-8");
	size_t cap = inlen * 2 + 16, left = cap, ileft = inlen;
	char *out, *op, *ip = (char *)in;

	if (cd == (iconv_t)-1)
		return NULL;
	out = op = xcalloc(cap, 1);
	if (iconv(cd, &ip, &ileft, &op, &left) == (size_t)-1) {
		free(out);
		iconv_close(cd);
		return NULL;
	}
	iconv_close(cd);
	*outlen = cap - left;
	return out;
}

char *
report_fetch(struct cli *cli, const char *what, const char *sql,
	     const char *const *params, int nparams)
{
	const char *tz[1] = {cli->conf.timezone};
	char line[512], *text = NULL;
	PGconn *c;
	PGresult *r;

	if ((c = cli_connect(cli)) == NULL)
		return NULL;
	/* dates are in the configured zone, whatever the server's is */
	r = PQexecParams(c, "SELECT set_config('TimeZone', $1, false)", 1, NULL, tz, NULL,
			 NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK) {
		PQclear(r);
		r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
	}
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 ||
	    PQgetisnull(r, 0, 0))
		fprintf(stderr, "carewatch: %s report: %s\n", what,
			cli_one_line(PQresultErrorMessage(r), line, sizeof(line)));
	else
		text = xstrdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(c);
	return text;
}

int
report_emit(const char *text, size_t len, bool csv, bool gb18030, const char *out_path)
{
	FILE *out = stdout;
	int rc = 0;

	if (out_path != NULL && (out = fopen(out_path, "w")) == NULL) {
		fprintf(stderr, "carewatch: %s: %s\n", out_path, strerror(errno));
		return 1;
	}
	if (csv && gb18030) {
		size_t gblen;
		char *gb = to_gb18030(text, len, &gblen);

		if (gb == NULL) {
			fprintf(stderr,
				"carewatch: cannot convert the report to GB18030\n");
			rc = 1;
		} else {
			fwrite(gb, 1, gblen, out);
			free(gb);
		}
	} else {
		if (csv)
			fputs("\xef\xbb\xbf", out); /* the BOM Excel needs for UTF-8 */
		fwrite(text, 1, len, out);
	}
	if ((out != stdout ? fclose(out) : fflush(out)) != 0 && rc == 0) {
		fprintf(stderr, "carewatch: %s: %s\n", out_path ? out_path : "stdout",
			strerror(errno));
		rc = 1;
	}
	return rc;
}

int
report_format(const char *s)
{
	if (strcmp(s, "table") == 0)
		return 0;
	if (strcmp(s, "csv") == 0)
		return 1;
	if (strcmp(s, "json") == 0)
		return 2;
	return -1;
}
