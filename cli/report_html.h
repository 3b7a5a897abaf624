/* report_html.h - the visit-rate report as one printable HTML page */
#ifndef CW_REPORT_HTML_H
#define CW_REPORT_HTML_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>
#include <libpq-fe.h>

/* Adds what the page needs beyond report_visit_rate_json()'s document to
 * doc: "produced" and "trend" (common/report.h REPORT_SQL_VISIT_EXTRAS),
 * asked of c, whose TimeZone the caller has set; first is the month's
 * first day, scope and rule as for the report. 0, or -1 with one line on
 * stderr. */
int report_html_extras(PGconn *c, json_t *doc, const char *first, const char *scope,
		       const char *rule);

/* Writes doc as one self-contained HTML page: inline CSS and SVG, nothing
 * fetched from anywhere, A4 print rules; Chinese, or English when en. Every
 * string from the database is escaped. */
void report_html(FILE *f, json_t *doc, bool en);

#endif
