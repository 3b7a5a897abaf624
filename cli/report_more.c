/* report_more.c - `carewatch report at-risk` (the day-20 list) and
 * `carewatch report response` (how fast alarms were answered), SPEC §6:
 * computed in PostgreSQL by report_at_risk_json() and
 * report_response_json() (sql/010_response.sql) through common/report.c's
 * statements, the ones the daemon's API runs, and printed as a table, CSV
 * for a Chinese Excel, or JSON */
#include "config.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "report_out.h"

static void
at_risk_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: carewatch report at-risk --date YYYY-MM-DD [--by township|village]\n"
	    "         [--format table|csv|json] [--encoding utf-8|gb18030] [-o FILE]\n"
	    "  The month's target elders (the visit-rate rule) with no counting visit\n"
	    "  from the 1st to the end of --date (local time), by township and\n"
	    "  village, with the days left in the month after --date.\n"
	    "  --by        village (default: townships and villages) or township\n"
	    "  --format    table (default), csv (UTF-8 with a BOM, or --encoding\n"
	    "              gb18030, for Excel) or json\n"
	    "  -o FILE     write there instead of standard output\n");
}

static void
response_usage(FILE *f)
{
	fprintf(
	    f, "usage: carewatch report response --from YYYY-MM-DD --to YYYY-MM-DD\n"
	       "         [--format table|csv|json] [--encoding utf-8|gb18030] [-o FILE]\n"
	       "  Incidents opened from --from to --to (both local dates, --to\n"
	       "  included): alarms by type and priority; time to operator ack, to a\n"
	       "  responder's accept and to arrival (median, p90, share within the\n"
	       "  [reports] ack_target_s/ack_target2_s and arrival_target_min/\n"
	       "  arrival_target2_min); false alarms per device kind and the devices\n"
	       "  and elders with the most; escalations; every incident that missed a\n"
	       "  target.\n"
	       "  --format    table (default), csv (UTF-8 with a BOM, or --encoding\n"
	       "              gb18030, for Excel) or json\n"
	       "  -o FILE     write there instead of standard output\n");
}

/* The options both commands take besides their own. */
struct ropts {
	const char *out_path, *enc;
	int fmt; /* report_format() */
};

/* Handles -o, --format and --encoding (0), -h (1: printed), a bad value
 * (2: said why); -1 for an option that is not one of them. */
static int
common_opt(struct ropts *o, int ch)
{
	switch (ch) {
	case 'o':
		o->out_path = optarg;
		return 0;
	case 'e':
		if (strcmp(optarg, "utf-8") != 0 && strcmp(optarg, "gb18030") != 0) {
			fprintf(stderr, "carewatch: --encoding takes utf-8 or gb18030\n");
			return 2;
		}
		o->enc = optarg;
		return 0;
	case 'f':
		if ((o->fmt = report_format(optarg)) < 0) {
			fprintf(stderr, "carewatch: --format takes table, csv or json\n");
			return 2;
		}
		return 0;
	}
	return -1;
}

/* Renders the document (text) and writes it out; the exit status. */
static int
finish(const char *what, char *text, const struct ropts *o,
       void (*render)(FILE *, json_t *, bool))
{
	bool gb = strcmp(o->enc, "gb18030") == 0;
	json_error_t jerr;
	char *out = NULL;
	size_t outlen = 0;
	json_t *doc;
	FILE *mem;
	int rc;

	if (o->fmt == 2) {
		size_t n = strlen(text);

		text[n] = '\n'; /* the terminator becomes the final newline */
		rc = report_emit(text, n + 1, false, false, o->out_path);
		free(text);
		return rc;
	}
	if ((doc = json_loads(text, 0, &jerr)) == NULL) {
		fprintf(stderr, "carewatch: %s report: bad JSON from the database\n",
			what);
		free(text);
		return 1;
	}
	free(text);
	if ((mem = open_memstream(&out, &outlen)) == NULL) {
		fprintf(stderr, "carewatch: out of memory\n");
		json_decref(doc);
		return 1;
	}
	render(mem, doc, o->fmt == 1);
	json_decref(doc);
	if (fclose(mem) != 0) {
		fprintf(stderr, "carewatch: out of memory\n");
		free(out);
		return 1;
	}
	rc = report_emit(out, outlen, o->fmt == 1, gb, o->out_path);
	free(out);
	return rc;
}

/* A number of seconds to one decimal, "" when null. */
static void
jsec(json_t *o, const char *k, char *buf, size_t len)
{
	json_t *v = json_object_get(o, k);

	if (v == NULL || json_is_null(v))
		buf[0] = '\0';
	else
		snprintf(buf, len, "%.1f", json_number_value(v));
}

/* One row of cells: CSV, or the table with these widths (0: no padding,
 * a negative width right-aligns a number). */
static void
cells(FILE *f, bool csv, int n, const char *const *v, const int *w)
{
	int i;

	for (i = 0; i < n; i++) {
		if (csv) {
			csv_field(f, v[i], i == n - 1);
			continue;
		}
		if (w[i] < 0)
			fprintf(f, "%*s", -w[i], v[i][0] ? v[i] : "-");
		else
			table_field(f, v[i], w[i]);
		fputs(i == n - 1 ? "\n" : " ", f);
	}
}

/* --- at-risk ------------------------------------------------------------ */

static void
render_at_risk(FILE *f, json_t *doc, bool csv)
{
	static const int gw[] = {8, 12, 24, -7, -11};
	static const int ew[] = {16, 12, 12, 12, 12, 24, 10, 7, 0};
	json_t *a;
	size_t i;
	char n1[32], n2[32], dl[32];

	jnum(doc, "days_left", false, dl, sizeof(dl));
	if (csv)
		fprintf(f,
			"report,at-risk\r\ndate,%s\r\nmonth,%s\r\ntimezone,%s\r\n"
			"rule_version,%s\r\ndays_left,%s\r\n\r\n",
			jstr(doc, "date"), jstr(doc, "month"), jstr(doc, "timezone"),
			jstr(json_object_get(doc, "rule"), "version"), dl);
	else
		fprintf(
		    f,
		    "At risk on %s (%s), rule %s: target elders not visited since the\n"
		    "month began; %s days left in %s\n\n",
		    jstr(doc, "date"), jstr(doc, "timezone"),
		    jstr(json_object_get(doc, "rule"), "version"), dl,
		    jstr(doc, "month"));
	{
		const char *h[] = {"level", "code", "name", "target", "not_visited"};

		cells(f, csv, 5, h, gw);
	}
	json_array_foreach(json_object_get(doc, "groups"), i, a)
	{
		const char *v[5];

		jnum(a, "target", false, n1, sizeof(n1));
		jnum(a, "not_visited", false, n2, sizeof(n2));
		v[0] = jstr(a, "level");
		v[1] = jstr(a, "code");
		v[2] = jstr(a, "name");
		v[3] = n1;
		v[4] = n2;
		cells(f, csv, 5, v, gw);
	}
	fputs(csv ? "\r\n" : "\n", f);
	{
		const char *h[] = {"elder_id",	 "name",    "township",
				   "village",	 "station", "station_name",
				   "last_visit", "consent", "days_left"};

		cells(f, csv, 9, h, ew);
	}
	json_array_foreach(json_object_get(doc, "elders"), i, a)
	{
		const char *v[9];

		jnum(a, "days_left", false, n1, sizeof(n1));
		v[0] = jstr(a, "elder_id");
		v[1] = jstr(a, "name");
		v[2] = jstr(a, csv ? "township" : "township_name");
		v[3] = jstr(a, csv ? "village" : "village_name");
		v[4] = jstr(a, "station_id");
		v[5] = jstr(a, "station_name");
		v[6] = jstr(a, "last_visit");
		v[7] = json_is_true(json_object_get(a, "consent")) ? "yes" : "no";
		v[8] = n1;
		cells(f, csv, 9, v, ew);
	}
}

int
report_at_risk(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"date", required_argument, NULL, 'd'},
					     {"by", required_argument, NULL, 'b'},
					     {"format", required_argument, NULL, 'f'},
					     {"encoding", required_argument, NULL, 'e'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	struct ropts o = {NULL, "utf-8", 0};
	const char *date = NULL, *by = "village", *params[4];
	char day[16], rule[4 * CONF_STR_MAX], err[256], *text;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		if (ch == 'd')
			date = optarg;
		else if (ch == 'b')
			by = optarg;
		else if (ch == 'h') {
			at_risk_usage(stdout);
			return 0;
		} else if ((rc = common_opt(&o, ch)) != 0) {
			if (rc < 0)
				at_risk_usage(stderr);
			return 2;
		}
	}
	if (optind != argc || date == NULL) {
		at_risk_usage(stderr);
		return 2;
	}
	if (report_parse_date(date, day, sizeof(day)) < 0) {
		fprintf(stderr, "carewatch: --date takes YYYY-MM-DD\n");
		return 2;
	}
	if (strcmp(by, "township") != 0 && strcmp(by, "village") != 0) {
		fprintf(stderr, "carewatch: --by takes township or village\n");
		return 2;
	}
	if (strcmp(o.enc, "gb18030") == 0 && o.fmt != 1) {
		fprintf(stderr, "carewatch: --encoding applies to --format csv\n");
		return 2;
	}
	if (report_rule_json(&cli->conf, rule, sizeof(rule), err, sizeof(err)) < 0) {
		fprintf(stderr, "carewatch: %s\n", err);
		return 1;
	}
	params[0] = day;
	params[1] = by;
	params[2] = ""; /* the command line sees the whole database */
	params[3] = rule;
	if ((text = report_fetch(cli, "at-risk", REPORT_SQL_AT_RISK, params, 4)) == NULL)
		return 1;
	return finish("at-risk", text, &o, render_at_risk);
}

/* --- response ----------------------------------------------------------- */

static void
render_response(FILE *f, json_t *doc, bool csv)
{
	static const int tw[] = {7, 16, -8, -9, -7};
	static const int sw[] = {8, -9, -8, -9, -9, 16, -7, -5, 0};
	static const int kw[] = {12, -8, -12, -7};
	static const int dw[] = {16, 12, -12, -8};
	static const int pw[] = {8, -9, -9, -7};
	static const int xw[] = {12, 29, 12, -8, -8, -8, -9, 0};
	json_t *tot = json_object_get(doc, "totals"),
	       *fa = json_object_get(doc, "false_alarms");
	json_t *esc = json_object_get(doc, "escalations"), *a, *w;
	char b[8][48];
	size_t i, j;

	if (csv)
		fprintf(f, "report,response\r\nfrom,%s\r\nto,%s\r\ntimezone,%s\r\n\r\n",
			jstr(doc, "from"), jstr(doc, "to"), jstr(doc, "timezone"));
	else
		fprintf(f, "Response %s to %s (%s)\n\n", jstr(doc, "from"),
			jstr(doc, "to"), jstr(doc, "timezone"));
	{
		const char *h[] = {"kind", "type", "priority", "incidents", "alarms"};

		cells(f, csv, 5, h, tw);
	}
	json_array_foreach(json_object_get(doc, "by_type"), i, a)
	{
		const char *v[5] = {jstr(a, "kind"), jstr(a, "type"), b[0], b[1], b[2]};

		jnum(a, "priority", false, b[0], sizeof(b[0]));
		jnum(a, "incidents", false, b[1], sizeof(b[1]));
		jnum(a, "alarms", false, b[2], sizeof(b[2]));
		cells(f, csv, 5, v, tw);
	}
	{
		const char *v[5] = {"total", "", "", b[1], b[2]};

		jnum(tot, "incidents", false, b[1], sizeof(b[1]));
		jnum(tot, "alarms", false, b[2], sizeof(b[2]));
		cells(f, csv, 5, v, tw);
	}

	/* times: one row per step, then one per target of the step (in the
	 * table, indented under it) */
	fputs(csv ? "\r\n" : "\nSeconds from the alarm to each step (alarm incidents)\n",
	      f);
	{
		const char *h[] = {"step",   "incidents", "recorded", "median_s", "p90_s",
				   "target", "met",	  "of",	      "share"};

		cells(f, csv, csv ? 9 : 5, h, sw);
	}
	json_array_foreach(json_object_get(doc, "times"), i, a)
	{
		const char *v[9] = {
		    jstr(a, "step"), b[0], b[1], b[2], b[3], "", "", "", ""};

		jnum(a, "incidents", false, b[0], sizeof(b[0]));
		jnum(a, "recorded", false, b[1], sizeof(b[1]));
		jsec(a, "median_s", b[2], sizeof(b[2]));
		jsec(a, "p90_s", b[3], sizeof(b[3]));
		cells(f, csv, csv ? 9 : 5, v, sw);
		json_array_foreach(json_object_get(a, "within"), j, w)
		{
			const char *t[9] = {"",	  "",	"",  "", "", jstr(w, "target"),
					    b[4], b[5], b[6]};

			jnum(w, "met", false, b[4], sizeof(b[4]));
			jnum(w, "of", false, b[5], sizeof(b[5]));
			jnum(w, "share", true, b[6], sizeof(b[6]));
			if (csv)
				cells(f, csv, 9, t, sw);
			else
				fprintf(f, "  within %-14s %5s of %-5s %7s\n", t[5], b[4],
					b[5], b[6][0] ? b[6] : "-");
		}
	}

	/* false alarms */
	if (!csv)
		fputs("\nFalse alarms among resolved alarm incidents, by the opening "
		      "device's kind\n",
		      f);
	else
		fputs("\r\n", f);
	{
		const char *h[] = {"device_kind", "resolved", "false_alarms", "rate"};

		cells(f, csv, 4, h, kw);
	}
	json_array_foreach(json_object_get(fa, "by_device_kind"), i, a)
	{
		const char *v[4] = {jstr(a, "device_kind"), b[0], b[1], b[2]};

		jnum(a, "resolved", false, b[0], sizeof(b[0]));
		jnum(a, "false_alarms", false, b[1], sizeof(b[1]));
		jnum(a, "rate", true, b[2], sizeof(b[2]));
		cells(f, csv, 4, v, kw);
	}
	{
		const char *v[4] = {"total", b[0], b[1], b[2]};

		jnum(fa, "resolved", false, b[0], sizeof(b[0]));
		jnum(fa, "false_alarms", false, b[1], sizeof(b[1]));
		jnum(fa, "rate", true, b[2], sizeof(b[2]));
		cells(f, csv, 4, v, kw);
	}
	fputs(csv ? "\r\n" : "\nThe devices with the most false alarms\n", f);
	{
		const char *h[] = {"device", "device_kind", "false_alarms", "resolved"};

		cells(f, csv, 4, h, dw);
	}
	json_array_foreach(json_object_get(fa, "top_devices"), i, a)
	{
		const char *v[4] = {jstr(a, "device_id"), jstr(a, "device_kind"), b[0],
				    b[1]};

		jnum(a, "false_alarms", false, b[0], sizeof(b[0]));
		jnum(a, "resolved", false, b[1], sizeof(b[1]));
		cells(f, csv, 4, v, dw);
	}
	fputs(csv ? "\r\n" : "\nThe elders with the most false alarms\n", f);
	{
		const char *h[] = {"elder", "name", "false_alarms", "resolved"};

		cells(f, csv, 4, h, dw);
	}
	json_array_foreach(json_object_get(fa, "top_elders"), i, a)
	{
		const char *v[4] = {jstr(a, "elder_id"), jstr(a, "name"), b[0], b[1]};

		jnum(a, "false_alarms", false, b[0], sizeof(b[0]));
		jnum(a, "resolved", false, b[1], sizeof(b[1]));
		cells(f, csv, 4, v, dw);
	}

	/* escalations */
	fputs(csv ? "\r\n" : "\nEscalations (alarm incidents)\n", f);
	{
		const char *h[] = {"priority", "incidents", "escalated", "share"};

		cells(f, csv, 4, h, pw);
	}
	json_array_foreach(json_object_get(esc, "by_priority"), i, a)
	{
		const char *v[4] = {b[3], b[0], b[1], b[2]};

		jnum(a, "priority", false, b[3], sizeof(b[3]));
		jnum(a, "incidents", false, b[0], sizeof(b[0]));
		jnum(a, "escalated", false, b[1], sizeof(b[1]));
		jnum(a, "share", true, b[2], sizeof(b[2]));
		cells(f, csv, 4, v, pw);
	}
	{
		const char *v[4] = {"total", b[0], b[1], b[2]};

		jnum(esc, "incidents", false, b[0], sizeof(b[0]));
		jnum(esc, "escalated", false, b[1], sizeof(b[1]));
		jnum(esc, "share", true, b[2], sizeof(b[2]));
		cells(f, csv, 4, v, pw);
	}

	/* exceptions */
	fputs(csv ? "\r\n" : "\nIncidents that missed a target\n", f);
	{
		const char *h[] = {"incident", "opened_at", "type",	 "priority",
				   "ack_s",    "accept_s",  "arrival_s", "missed"};

		cells(f, csv, 8, h, xw);
	}
	json_array_foreach(json_object_get(doc, "exceptions"), i, a)
	{
		const char *v[8] = {
		    b[0], jstr(a, "opened_at"), jstr(a, "type"), b[1], b[2], b[3], b[4],
		    b[5]};
		size_t o = 0;

		jnum(a, "incident_id", false, b[0], sizeof(b[0]));
		jnum(a, "priority", false, b[1], sizeof(b[1]));
		jsec(a, "ack_s", b[2], sizeof(b[2]));
		jsec(a, "accept_s", b[3], sizeof(b[3]));
		jsec(a, "arrival_s", b[4], sizeof(b[4]));
		b[5][0] = '\0';
		json_array_foreach(json_object_get(a, "missed"), j, w)
		{
			int n =
			    snprintf(b[5] + o, sizeof(b[5]) - o, "%s%s", j ? " " : "",
				     json_string_value(w) ? json_string_value(w) : "");

			if (n < 0 || (size_t)n >= sizeof(b[5]) - o)
				break;
			o += (size_t)n;
		}
		cells(f, csv, 8, v, xw);
	}
}

int
report_response(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"from", required_argument, NULL, 'F'},
					     {"to", required_argument, NULL, 'T'},
					     {"format", required_argument, NULL, 'f'},
					     {"encoding", required_argument, NULL, 'e'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	struct ropts o = {NULL, "utf-8", 0};
	const char *from = NULL, *to = NULL, *params[4];
	char d0[16], d1[16], targets[256], *text;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		if (ch == 'F')
			from = optarg;
		else if (ch == 'T')
			to = optarg;
		else if (ch == 'h') {
			response_usage(stdout);
			return 0;
		} else if ((rc = common_opt(&o, ch)) != 0) {
			if (rc < 0)
				response_usage(stderr);
			return 2;
		}
	}
	if (optind != argc || from == NULL || to == NULL) {
		response_usage(stderr);
		return 2;
	}
	if (report_parse_date(from, d0, sizeof(d0)) < 0 ||
	    report_parse_date(to, d1, sizeof(d1)) < 0) {
		fprintf(stderr, "carewatch: --from and --to take YYYY-MM-DD\n");
		return 2;
	}
	if (strcmp(d0, d1) > 0) {
		fprintf(stderr, "carewatch: --from is after --to\n");
		return 2;
	}
	if (strcmp(o.enc, "gb18030") == 0 && o.fmt != 1) {
		fprintf(stderr, "carewatch: --encoding applies to --format csv\n");
		return 2;
	}
	if (report_targets_json(&cli->conf, targets, sizeof(targets)) < 0) {
		fprintf(stderr, "carewatch: [reports] targets too long\n");
		return 1;
	}
	params[0] = d0;
	params[1] = d1;
	params[2] = ""; /* the command line sees the whole database */
	params[3] = targets;
	if ((text = report_fetch(cli, "response", REPORT_SQL_RESPONSE, params, 4)) ==
	    NULL)
		return 1;
	return finish("response", text, &o, render_response);
}
