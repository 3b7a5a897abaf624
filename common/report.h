/* report.h - what the CLI and the daemon share to ask PostgreSQL for a
 * report (the queries themselves are functions in sql/008_reports.sql and
 * sql/009_visit_trend.sql) */
#ifndef CW_REPORT_H
#define CW_REPORT_H

#include <stddef.h>

#include "conf.h"

/* The visit-rate report as JSON text: $1 the month's first day, $2 the
 * finest area level (county, township, village), $3 the area-code prefix
 * in scope ("" = all), $4 the rule (report_rule_json()). The month is in
 * the session's TimeZone, which the caller sets first. */
extern const char REPORT_SQL_VISIT_RATE[];

/* What the printed (HTML) report adds to that document, as JSON text:
 * {"produced": "YYYY-MM-DD HH:MM" (now, in the session's TimeZone),
 *  "trend": [{month, target, visited, rate, target_consenting,
 *  visited_consenting, rate_consenting}, ...]}, the twelve months ending
 * at $1 (report_visit_trend(), sql/009_visit_trend.sql); $2 the scope and
 * $3 the rule as above. */
extern const char REPORT_SQL_VISIT_EXTRAS[];

/* The response report as JSON text: $1 the first local date, $2 the last
 * (included), $3 the area-code prefix, $4 the targets
 * (report_targets_json()). Dates in the session's TimeZone. */
extern const char REPORT_SQL_RESPONSE[];

/* The at-risk (day-20) list as JSON text: $1 the date, $2 the grouping
 * (township or village), $3 the area-code prefix, $4 the visit rule
 * (report_rule_json()). The date is in the session's TimeZone. */
extern const char REPORT_SQL_AT_RISK[];

/* Writes the configuration's response targets as a JSON object into buf:
 * {"ack_s":[60,180],"arrival_min":[45,60],"top":10}. 0, or -1 when it
 * does not fit. */
int report_targets_json(const struct conf *c, char *buf, size_t len);

/* "YYYY-MM-DD" naming a real day -> the same into out; 0, or -1. */
int report_parse_date(const char *s, char *out, size_t len);

/* Writes the configuration's [reports] target rule as a JSON object into
 * buf. 0, or -1 with a one-line reason in err when a list holds anything
 * but category names or the version anything but [A-Za-z0-9._-]. */
int report_rule_json(const struct conf *c, char *buf, size_t len, char *err,
		     size_t errlen);

/* "YYYY-MM" -> "YYYY-MM-01" into out; 0, or -1 when it is not a month. */
int report_parse_month(const char *s, char *out, size_t len);

/* Whether s is county, township or village. */
int report_by_ok(const char *s);

#endif
