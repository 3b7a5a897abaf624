/* report.c - the shared half of the reports: the rule from the
 * configuration and the one statement both the CLI and the daemon run */
#include "config.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "report.h"

const char REPORT_SQL_VISIT_RATE[] =
    "SELECT report_visit_rate_json($1::date, $2, $3, $4::jsonb)::text";

const char REPORT_SQL_VISIT_EXTRAS[] =
    "SELECT jsonb_build_object("
    "'produced', to_char(now(), 'YYYY-MM-DD HH24:MI'), "
    "'trend', coalesce((SELECT jsonb_agg(to_jsonb(t) ORDER BY t.month) "
    "FROM report_visit_trend($1::date, $2, $3::jsonb) t), '[]'::jsonb))::text";

const char REPORT_SQL_RESPONSE[] =
    "SELECT report_response_json($1::date, $2::date, $3, $4::jsonb)::text";

const char REPORT_SQL_AT_RISK[] =
    "SELECT report_at_risk_json($1::date, $2, $3, $4::jsonb)::text";

/* "a, b ,c" -> ["a","b","c"] appended at buf+*o; names are [a-z0-9_]. */
static int
json_list(const char *list, char *buf, size_t len, size_t *o)
{
	const char *p = list;
	bool first = true;

	if (*o + 1 >= len)
		return -1;
	buf[(*o)++] = '[';
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		if (*o + 3 >= len)
			return -1;
		if (!first)
			buf[(*o)++] = ',';
		first = false;
		buf[(*o)++] = '"';
		while (*p != '\0' && *p != ',' && *p != ' ' && *p != '\t') {
			if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) ||
			      *p == '_'))
				return -1;
			if (*o + 3 >= len)
				return -1;
			buf[(*o)++] = *p++;
		}
		buf[(*o)++] = '"';
	}
	if (*o + 2 >= len)
		return -1;
	buf[(*o)++] = ']';
	buf[*o] = '\0';
	return 0;
}

int
report_rule_json(const struct conf *c, char *buf, size_t len, char *err, size_t errlen)
{
	const char *v;
	size_t o;
	int n;

	for (v = c->visit_rule_version; *v != '\0'; v++)
		if (!isalnum((unsigned char)*v) && *v != '.' && *v != '_' && *v != '-')
			break;
	if (*v != '\0' || c->visit_rule_version[0] == '\0') {
		snprintf(err, errlen,
			 "[reports] visit_rule_version takes letters, digits, . _ and -");
		return -1;
	}
	n = snprintf(buf, len, "{\"version\":\"%s\",\"special\":", c->visit_rule_version);
	if (n < 0 || (size_t)n >= len)
		goto toolong;
	o = (size_t)n;
	if (json_list(c->visit_special, buf, len, &o) < 0 ||
	    (o += (size_t)snprintf(buf + o, len - o, ",\"economic\":")) >= len ||
	    json_list(c->visit_economic, buf, len, &o) < 0 ||
	    (o += (size_t)snprintf(buf + o, len - o, ",\"with\":")) >= len ||
	    json_list(c->visit_with, buf, len, &o) < 0) {
		snprintf(err, errlen,
			 "[reports] visit_special, visit_economic and visit_with take "
			 "comma-separated category names");
		return -1;
	}
	n = snprintf(buf + o, len - o,
		     ",\"min_age\":%d,\"min_capability\":%d,\"phone_counts\":%s}",
		     c->visit_min_age, c->visit_min_capability,
		     c->visit_phone_counts ? "true" : "false");
	if (n < 0 || (size_t)n >= len - o)
		goto toolong;
	return 0;
toolong:
	snprintf(err, errlen, "[reports] rule too long");
	return -1;
}

int
report_parse_month(const char *s, char *out, size_t len)
{
	int y, m, n = 0;

	if (strlen(s) != 7 || sscanf(s, "%4d-%2d%n", &y, &m, &n) != 2 || s[n] != '\0' ||
	    s[4] != '-' || y < 1900 || y > 2999 || m < 1 || m > 12)
		return -1;
	snprintf(out, len, "%04d-%02d-01", y, m);
	return 0;
}

int
report_by_ok(const char *s)
{
	return strcmp(s, "county") == 0 || strcmp(s, "township") == 0 ||
	       strcmp(s, "village") == 0;
}

int
report_targets_json(const struct conf *c, char *buf, size_t len)
{
	int n =
	    snprintf(buf, len, "{\"ack_s\":[%d,%d],\"arrival_min\":[%d,%d],\"top\":%d}",
		     c->ack_target_s, c->ack_target2_s, c->arrival_target_min,
		     c->arrival_target2_min, c->false_alarm_top);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int
report_parse_date(const char *s, char *out, size_t len)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, m, d, n = 0, last, i;

	for (i = 0; s[i] != '\0' && i < 10; i++)
		if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
			return -1;
	if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 ||
	    s[n] != '\0' || s[4] != '-' || s[7] != '-' || y < 1900 || y > 2999 || m < 1 ||
	    m > 12)
		return -1;
	last = mdays[m - 1] + (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0));
	if (d < 1 || d > last)
		return -1;
	snprintf(out, len, "%04d-%02d-%02d", y, m, d);
	return 0;
}
