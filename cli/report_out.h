/* report_out.h - what the `carewatch report` commands share to turn the
 * JSON document PostgreSQL builds into a table, CSV for a Chinese Excel,
 * or JSON, and to write it out */
#ifndef CW_REPORT_OUT_H
#define CW_REPORT_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "cli.h"

/* A string member of o, "" when missing or not a string. */
const char *jstr(json_t *o, const char *k);

/* A count, or a rate as a percentage with one decimal ("" when null). */
void jnum(json_t *o, const char *k, bool rate, char *buf, size_t len);

/* s ("-" when empty) padded to width columns, a CJK character (three bytes
 * of UTF-8 and more) counted as two, control characters as blanks. */
void table_field(FILE *f, const char *s, int width);

/* One CSV field, quoted when it must be; CRLF after the last. */
void csv_field(FILE *f, const char *s, bool last);

/* Converts UTF-8 in to GB18030 with glibc's iconv; a malloc'd buffer, or
 * NULL. */
char *to_gb18030(const char *in, size_t inlen, size_t *outlen);

/* Runs one report statement (common/report.h) with the session's
 * TimeZone set to the configured zone; the document's text (malloc'd), or
 * NULL after a one-line reason naming what on stderr. */
char *report_fetch(struct cli *cli, const char *what, const char *sql,
		   const char *const *params, int nparams);

/* Writes text to out_path (NULL: standard output): CSV with the BOM Excel
 * needs for UTF-8, or converted to GB18030 without one. 0, or 1 after a
 * one-line reason on stderr. */
int report_emit(const char *text, size_t len, bool csv, bool gb18030,
		const char *out_path);

/* --format table|csv|json: 0 table, 1 csv, 2 json, -1 anything else. */
int report_format(const char *s);

/* `carewatch report at-risk` and `carewatch report response`
 * (report_more.c): the exit status. */
int report_at_risk(struct cli *cli, int argc, char **argv);
int report_response(struct cli *cli, int argc, char **argv);

#endif
