/* report.c - `carewatch report visit-rate`: the monthly visit rate (SPEC §6)
 * computed in PostgreSQL by report_visit_rate_json() (sql/008_reports.sql,
 * through common/report.c's statement, the one the daemon's API runs),
 * printed as a table, CSV for a Chinese Excel, JSON, or a printable HTML
 * page (cli/report_html.c) */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "report.h"
#include "report_html.h"
#include "report_out.h"
#include "util.h"

enum rformat { RF_TABLE, RF_CSV, RF_JSON, RF_HTML };

static void
report_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: carewatch report visit-rate --month YYYY-MM\n"
	    "         [--by county|township|village] [-o FILE]\n"
	    "         [--format table|csv|json|html] [--encoding utf-8|gb18030]\n"
	    "         [--lang zh|en]\n"
	    "         [--area CODE]\n"
	    "  --by        the finest area level listed (default village)\n"
	    "  --area      only the elders under this area code or its first\n"
	    "              digits (140426: a county); default all\n"
	    "  --format    table (default), csv (UTF-8 with a BOM, or --encoding\n"
	    "              gb18030, for Excel), json, or html (one self-contained\n"
	    "              page to print on A4: charts, the 12 months' trend)\n"
	    "  --lang      the html page's language: zh (default) or en\n"
	    "  -o FILE     write there instead of standard output\n"
	    "The target rule is the configuration's [reports] keys; the report\n"
	    "states their visit_rule_version.\n"
	    "       carewatch report at-risk --date YYYY-MM-DD [--by township|village] "
	    "...\n"
	    "       carewatch report response --from DATE --to DATE [--format ...] ...\n"
	    "  (carewatch report at-risk -h, carewatch report response -h)\n");
}

static const char *const rate_keys[] = {
    "target",	      "visited", "rate", "target_consenting", "visited_consenting",
    "rate_consenting"};

static void
print_rates(FILE *f, json_t *o, bool csv)
{
	char buf[64];
	size_t i;

	for (i = 0; i < 6; i++) {
		jnum(o, rate_keys[i], i == 2 || i == 5, buf, sizeof(buf));
		if (csv)
			csv_field(f, buf, i == 5);
		else
			fprintf(f, " %9s%s", buf[0] ? buf : "-", i == 5 ? "\n" : "");
	}
}

/* Writes the table or CSV form of the report document. */
static void
render(FILE *f, json_t *doc, bool csv)
{
	json_t *rule = json_object_get(doc, "rule"), *a;
	size_t i;

	if (csv) {
		fprintf(f,
			"report,visit-rate\r\nmonth,%s\r\ntimezone,%s\r\n"
			"rule_version,%s\r\n\r\n",
			jstr(doc, "month"), jstr(doc, "timezone"), jstr(rule, "version"));
		fputs("level,code,name,target,visited,rate,target_consenting,"
		      "visited_consenting,rate_consenting\r\n",
		      f);
	} else {
		fprintf(
		    f, "Visit rate %s (%s), rule %s; * = without elders who declined\n\n",
		    jstr(doc, "month"), jstr(doc, "timezone"), jstr(rule, "version"));
		fprintf(f, "%-8s %-12s %-24s %9s %9s %9s %9s %9s %9s\n", "level", "code",
			"name", "target", "visited", "rate", "target*", "visited*",
			"rate*");
	}
	json_array_foreach(json_object_get(doc, "areas"), i, a)
	{
		if (csv) {
			csv_field(f, jstr(a, "level"), false);
			csv_field(f, jstr(a, "code"), false);
			csv_field(f, jstr(a, "name"), false);
		} else {
			fprintf(f, "%-8s ", jstr(a, "level"));
			table_field(f, jstr(a, "code"), 12);
			fputc(' ', f);
			table_field(f, jstr(a, "name"), 24);
		}
		print_rates(f, a, csv);
	}
	if (csv)
		fputs("\r\ncategory,target,visited,rate,target_consenting,"
		      "visited_consenting,rate_consenting\r\n",
		      f);
	else
		fprintf(f, "\n%-46s %9s %9s %9s %9s %9s %9s\n", "category", "target",
			"visited", "rate", "target*", "visited*", "rate*");
	json_array_foreach(json_object_get(doc, "categories"), i, a)
	{
		if (csv)
			csv_field(f, jstr(a, "category"), false);
		else
			fprintf(f, "%-46s", jstr(a, "category"));
		print_rates(f, a, csv);
	}
	if (csv)
		fputs("\r\nnot_visited,name,village,village_name,station,station_name,"
		      "last_visit,visit_consent\r\n",
		      f);
	else
		fprintf(f,
			"\nNot visited this month:\n%-16s %-12s %-12s %-16s %-10s %s\n",
			"id", "name", "village", "station", "last_visit", "consent");
	json_array_foreach(json_object_get(doc, "not_visited"), i, a)
	{
		bool consent = json_is_true(json_object_get(a, "consent"));

		if (csv) {
			csv_field(f, jstr(a, "elder_id"), false);
			csv_field(f, jstr(a, "name"), false);
			csv_field(f, jstr(a, "village"), false);
			csv_field(f, jstr(a, "village_name"), false);
			csv_field(f, jstr(a, "station_id"), false);
			csv_field(f, jstr(a, "station_name"), false);
			csv_field(f, jstr(a, "last_visit"), false);
			csv_field(f, consent ? "yes" : "no", true);
		} else {
			table_field(f, jstr(a, "elder_id"), 16);
			fputc(' ', f);
			table_field(f, jstr(a, "name"), 12);
			fputc(' ', f);
			table_field(f, jstr(a, "village"), 12);
			fputc(' ', f);
			table_field(f, jstr(a, "station_id"), 16);
			fputc(' ', f);
			table_field(f, jstr(a, "last_visit"), 10);
			fprintf(f, " %s\n", consent ? "yes" : "no");
		}
	}
}

static int
visit_rate(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"month", required_argument, NULL, 'm'},
					     {"by", required_argument, NULL, 'b'},
					     {"format", required_argument, NULL, 'f'},
					     {"encoding", required_argument, NULL, 'e'},
					     {"lang", required_argument, NULL, 'l'},
					     {"area", required_argument, NULL, 'a'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	const char *month = NULL, *by = "village", *out_path = NULL, *enc = "utf-8";
	const char *lang = NULL, *area = "";
	enum rformat fmt = RF_TABLE;
	char first[16], rule[4 * CONF_STR_MAX], line[512];
	const char *params[4], *tz[1];
	PGconn *c;
	PGresult *r;
	json_t *doc;
	json_error_t jerr;
	char *text = NULL;
	size_t textlen = 0;
	FILE *mem, *out;
	int ch, rc = 1;

	while ((ch = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'm':
			month = optarg;
			break;
		case 'b':
			by = optarg;
			break;
		case 'o':
			out_path = optarg;
			break;
		case 'e':
			enc = optarg;
			break;
		case 'a':
			area = optarg;
			if (strlen(area) > 12 ||
			    strspn(area, "0123456789") != strlen(area)) {
				fprintf(stderr, "carewatch: --area takes up to 12 digits "
						"of an area code\n");
				return 2;
			}
			break;
		case 'f':
			if (strcmp(optarg, "table") == 0)
				fmt = RF_TABLE;
			else if (strcmp(optarg, "csv") == 0)
				fmt = RF_CSV;
			else if (strcmp(optarg, "json") == 0)
				fmt = RF_JSON;
			else if (strcmp(optarg, "html") == 0)
				fmt = RF_HTML;
			else {
				fprintf(stderr, "carewatch: --format takes table, csv, "
						"json or html\n");
				return 2;
			}
			break;
		case 'l':
			lang = optarg;
			break;
		case 'h':
			report_usage(stdout);
			return 0;
		default:
			report_usage(stderr);
			return 2;
		}
	}
	if (optind != argc || month == NULL) {
		report_usage(stderr);
		return 2;
	}
	if (report_parse_month(month, first, sizeof(first)) < 0) {
		fprintf(stderr, "carewatch: --month takes YYYY-MM\n");
		return 2;
	}
	if (!report_by_ok(by)) {
		fprintf(stderr, "carewatch: --by takes county, township or village\n");
		return 2;
	}
	if (strcmp(enc, "utf-8") != 0 && strcmp(enc, "gb18030") != 0) {
		fprintf(stderr, "carewatch: --encoding takes utf-8 or gb18030\n");
		return 2;
	}
	if (strcmp(enc, "gb18030") == 0 && fmt != RF_CSV) {
		fprintf(stderr, "carewatch: --encoding applies to --format csv\n");
		return 2;
	}
	if (lang != NULL && strcmp(lang, "zh") != 0 && strcmp(lang, "en") != 0) {
		fprintf(stderr, "carewatch: --lang takes zh or en\n");
		return 2;
	}
	if (lang != NULL && fmt != RF_HTML) {
		fprintf(stderr, "carewatch: --lang applies to --format html\n");
		return 2;
	}
	if (report_rule_json(&cli->conf, rule, sizeof(rule), line, sizeof(line)) < 0) {
		fprintf(stderr, "carewatch: %s\n", line);
		return 1;
	}
	params[0] = first;
	params[1] = by;
	params[2] = area; /* an area-code prefix; "" = the whole database */
	params[3] = rule;
	tz[0] = cli->conf.timezone;
	if ((c = cli_connect(cli)) == NULL)
		return 1;
	/* the month is in the configured zone, whatever the server's is */
	r = PQexecParams(c, "SELECT set_config('TimeZone', $1, false)", 1, NULL, tz, NULL,
			 NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK) {
		PQclear(r);
		r = PQexecParams(c, REPORT_SQL_VISIT_RATE, 4, NULL, params, NULL, NULL,
				 0);
	}
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		fprintf(stderr, "carewatch: visit-rate report: %s\n",
			cli_one_line(PQresultErrorMessage(r), line, sizeof(line)));
		PQclear(r);
		PQfinish(c);
		return 1;
	}
	if ((doc = json_loads(PQgetvalue(r, 0, 0), 0, &jerr)) == NULL) {
		fprintf(stderr,
			"carewatch: visit-rate report: bad JSON from the database\n");
		goto done;
	}
	if ((mem = open_memstream(&text, &textlen)) == NULL) {
		fprintf(stderr, "carewatch: out of memory\n");
		json_decref(doc);
		goto done;
	}
	if (fmt == RF_JSON)
		fprintf(mem, "%s\n", PQgetvalue(r, 0, 0));
	else if (fmt == RF_HTML) {
		if (report_html_extras(c, doc, first, params[2], rule) < 0) {
			json_decref(doc);
			fclose(mem);
			goto done;
		}
		report_html(mem, doc, lang != NULL && strcmp(lang, "en") == 0);
	} else
		render(mem, doc, fmt == RF_CSV);
	json_decref(doc);
	if (fclose(mem) != 0) {
		fprintf(stderr, "carewatch: out of memory\n");
		goto done;
	}
	out = stdout;
	if (out_path != NULL && (out = fopen(out_path, "w")) == NULL) {
		fprintf(stderr, "carewatch: %s: %s\n", out_path, strerror(errno));
		goto done;
	}
	if (fmt == RF_CSV && strcmp(enc, "gb18030") == 0) {
		size_t gblen;
		char *gb = to_gb18030(text, textlen, &gblen);

		if (gb == NULL) {
			fprintf(stderr,
				"carewatch: cannot convert the report to GB18030\n");
			if (out != stdout)
				fclose(out);
			goto done;
		}
		fwrite(gb, 1, gblen, out);
		free(gb);
	} else {
		if (fmt == RF_CSV)
			fputs("\xef\xbb\xbf", out); /* the BOM Excel needs for UTF-8 */
		fwrite(text, 1, textlen, out);
	}
	if ((out != stdout ? fclose(out) : fflush(out)) != 0) {
		fprintf(stderr, "carewatch: %s: %s\n", out_path ? out_path : "stdout",
			strerror(errno));
		goto done;
	}
	rc = 0;
done:
	free(text);
	PQclear(r);
	PQfinish(c);
	return rc;
}

int
cmd_report(struct cli *cli, int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		report_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "visit-rate") == 0)
		return visit_rate(cli, argc - 1, argv + 1);
	if (strcmp(argv[1], "at-risk") == 0)
		return report_at_risk(cli, argc - 1, argv + 1);
	if (strcmp(argv[1], "response") == 0)
		return report_response(cli, argc - 1, argv + 1);
	fprintf(stderr,
		"carewatch: report: %s is not a report (visit-rate, at-risk, response)\n",
		argv[1]);
	return 2;
}
