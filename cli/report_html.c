/* report_html.c - `carewatch report visit-rate --format html`: the monthly
 * visit rate as the page a township or county prints, signs and stamps.
 * One self-contained file (inline CSS, inline SVG charts, no URL of any
 * kind, so it opens the same on a closed network and in ten years), A4
 * print rules, Chinese by default. It is drawn from the report's JSON
 * document (report_visit_rate_json()) plus the twelve months' trend and
 * the time it was produced (report_html_extras()). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "report.h"
#include "report_html.h"
#include "report_out.h"
#include "util.h"

struct page {
	FILE *f;
	bool en;
};

/* Beyond this many bars the area chart leaves out the finest level (the
 * table below it still lists every area). */
#define CHART_MAX_BARS 40

int
report_html_extras(PGconn *c, json_t *doc, const char *first, const char *scope,
		   const char *rule)
{
	const char *params[3] = {first, scope, rule};
	char line[512];
	json_error_t jerr;
	json_t *x;
	PGresult *r;

	r = PQexecParams(c, REPORT_SQL_VISIT_EXTRAS, 3, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		fprintf(stderr, "carewatch: visit-rate trend: %s\n",
			cli_one_line(PQresultErrorMessage(r), line, sizeof(line)));
		PQclear(r);
		return -1;
	}
	x = json_loads(PQgetvalue(r, 0, 0), 0, &jerr);
	PQclear(r);
	if (x == NULL || !json_is_object(x)) {
		fprintf(stderr,
			"carewatch: visit-rate trend: bad JSON from the database\n");
		json_decref(x);
		return -1;
	}
	json_object_update(doc, x);
	json_decref(x);
	return 0;
}

static const char *
tr(const struct page *p, const char *zh, const char *en)
{
	return p->en ? en : zh;
}

/* Text for HTML (element content and attribute values alike): the five
 * characters that matter escaped, control characters as blanks. */
static void
esc(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		switch (ch) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		default:
			fputc(ch < 0x20 || ch == 0x7f ? ' ' : ch, f);
		}
	}
}

/* Text inside a CSS string in the <style> element: anything but letters,
 * digits, blanks and UTF-8 as a CSS hex escape, so that neither a quote nor
 * "</style>" can end it early. */
static void
css_str(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch >= 0x80 || (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= 'a' && ch <= 'z') || ch == ' ')
			fputc(ch, f);
		else
			fprintf(f, "\\%06x", ch < 0x20 || ch == 0x7f ? ' ' : ch);
	}
}

static bool
has_rate(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return v != NULL && json_is_number(v);
}

/* A rate as a percentage with one decimal, or a dash when there is none. */
static const char *
pct(json_t *o, const char *k, char *buf, size_t len)
{
	if (!has_rate(o, k))
		return "\xe2\x80\x94";
	snprintf(buf, len, "%.1f%%", json_number_value(json_object_get(o, k)) * 100.0);
	return buf;
}

static long long
count(json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

/* "2026-11" as 2026年11月 or November 2026. */
static void
month_name(const struct page *p, const char *ym, char *buf, size_t len)
{
	static const char *const names[] = {
	    "January", "February", "March",	"April",   "May",      "June",
	    "July",    "August",   "September", "October", "November", "December"};
	int y, m;

	if (sscanf(ym, "%4d-%2d", &y, &m) != 2 || m < 1 || m > 12)
		snprintf(buf, len, "%s", ym);
	else if (p->en)
		snprintf(buf, len, "%s %d", names[m - 1], y);
	else
		snprintf(buf, len, "%d\xe5\xb9\xb4%d\xe6\x9c\x88", y, m); /* 年 月 */
}

/* A category code as its name; age_N_plus and capability_N_plus are the
 * rule's derived ones; an unknown code is shown as it is. */
static void
category_name(const struct page *p, const char *code, char *buf, size_t len)
{
	static const struct {
		const char *code, *zh, *en;
	} names[] = {
	    {"extreme_poverty", "特困人员", "Extreme poverty"},
	    {"low_income", "低保、低收入", "Low income"},
	    {"econ_hardship", "经济困难", "Economic hardship"},
	    {"disabled", "失能", "Disabled"},
	    {"dementia", "失智", "Dementia"},
	    {"severe_disability", "重度残疾", "Severe disability"},
	    {"living_alone", "独居", "Living alone"},
	    {"empty_nest", "空巢", "Empty nest"},
	    {"left_behind", "留守", "Left behind"},
	    {"special_family", "计划生育特殊家庭", "Family-planning special family"},
	};
	size_t i;
	int n, k = 0;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(code, names[i].code) == 0) {
			snprintf(buf, len, "%s", p->en ? names[i].en : names[i].zh);
			return;
		}
	if (sscanf(code, "age_%d_plus%n", &n, &k) == 1 && code[k] == '\0')
		snprintf(buf, len, p->en ? "Aged %d or over" : "%d周岁及以上", n);
	else if (sscanf(code, "capability_%d_plus%n", &n, &k) == 1 && code[k] == '\0')
		snprintf(buf, len,
			 p->en ? "Capability level %d or worse" : "能力等级%d级及以上",
			 n);
	else
		snprintf(buf, len, "%s", code);
}

static const char *
level_name(const struct page *p, const char *level)
{
	if (strcmp(level, "county") == 0)
		return tr(p, "县（市、区）", "County");
	if (strcmp(level, "township") == 0)
		return tr(p, "乡（镇、街道）", "Township");
	if (strcmp(level, "village") == 0)
		return tr(p, "村（社区）", "Village");
	return tr(p, "合计", "Total");
}

static int
level_rank(const char *level)
{
	if (strcmp(level, "county") == 0)
		return 0;
	if (strcmp(level, "township") == 0)
		return 1;
	if (strcmp(level, "village") == 0)
		return 2;
	return -1;
}

/* The counties of the report, "、"-separated, the first three and how many
 * more when there are more (a province's report): the top of the areas it
 * lists. Empty when no area had a target elder. */
static void
counties(const struct page *p, json_t *doc, char *buf, size_t len)
{
	json_t *a;
	size_t i, o = 0, k = 0, more = 0;

	buf[0] = '\0';
	json_array_foreach(json_object_get(doc, "areas"), i, a)
	{
		int n;

		if (strcmp(jstr(a, "level"), "county") != 0)
			continue;
		if (k++ >= 3) {
			more++;
			continue;
		}
		n = snprintf(buf + o, len - o, "%s%s", o ? "、" : "", jstr(a, "name"));
		if (n < 0 || (size_t)n >= len - o) {
			buf[o] = '\0';
			return;
		}
		o += (size_t)n;
	}
	if (more > 0)
		snprintf(buf + o, len - o,
			 p->en ? " and %zu more counties" : "等%zu个县（市、区）",
			 p->en ? more : more + 3);
}

/* --- charts ---------------------------------------------------------------- */

struct bar {
	const char *label; /* escaped when written */
	int indent;	   /* 0, 1, 2: county, township, village */
	json_t *row;	   /* its "rate" is drawn */
};

#define BAR_W	   720 /* the chart's width in SVG units (the page's 180 mm) */
#define BAR_X0	   190 /* where 0 % is */
#define BAR_X1	   640 /* where 100 % is */
#define BAR_ROW	   22
#define BAR_TOP	   26
#define BAR_BOTTOM 24

/* A horizontal bar per row against the 100 % target line; values at the
 * right, a dash for a row without a target. */
static void
svg_bars(const struct page *p, const struct bar *bars, size_t n, const char *title)
{
	static const char *const tone[] = {"#1f3b5c", "#4f6f94", "#93a9c4"};
	int h = BAR_TOP + (int)n * BAR_ROW + BAR_BOTTOM, y0 = BAR_TOP,
	    y1 = y0 + (int)n * BAR_ROW;
	char buf[32];
	size_t i;
	int g;

	fprintf(p->f,
		"<svg class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"",
		BAR_W, h);
	esc(p->f, title);
	fprintf(p->f, "\" preserveAspectRatio=\"xMidYMin meet\">\n");
	for (g = 0; g <= 4; g++) {
		int x = BAR_X0 + (BAR_X1 - BAR_X0) * g / 4;

		if (g < 4)
			fprintf(p->f,
				"<line class=\"grid\" x1=\"%d\" y1=\"%d\" x2=\"%d\" "
				"y2=\"%d\"/>",
				x, y0 - 4, x, y1);
		fprintf(p->f, "<text class=\"axis\" x=\"%d\" y=\"%d\">%d%%</text>\n", x,
			y1 + 15, g * 25);
	}
	for (i = 0; i < n; i++) {
		int y = y0 + (int)i * BAR_ROW,
		    ind = bars[i].indent < 0 ? 0 : bars[i].indent;
		double r = has_rate(bars[i].row, "rate")
			       ? json_number_value(json_object_get(bars[i].row, "rate"))
			       : 0.0;

		if (r < 0)
			r = 0;
		if (r > 1)
			r = 1;
		fprintf(p->f, "<text class=\"lbl%s\" x=\"%d\" y=\"%d\">",
			ind == 0 ? " top" : "", 4 + ind * 14, y + BAR_ROW / 2 + 4);
		esc(p->f, bars[i].label);
		fprintf(p->f,
			"</text><rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" "
			"fill=\"%s\"/>",
			BAR_X0, y + 4, (BAR_X1 - BAR_X0) * r, BAR_ROW - 8,
			tone[ind > 2 ? 2 : ind]);
		fprintf(p->f, "<text class=\"val\" x=\"%d\" y=\"%d\">%s</text>\n",
			BAR_W - 4, y + BAR_ROW / 2 + 4,
			pct(bars[i].row, "rate", buf, sizeof(buf)));
	}
	fprintf(p->f,
		"<line class=\"target\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
		"<text class=\"target-lbl\" x=\"%d\" y=\"%d\">%s 100%%</text>\n</svg>\n",
		BAR_X1, y0 - 8, BAR_X1, y1 + 2, BAR_X1, y0 - 11, tr(p, "目标", "Target"));
}

#define TR_W	720
#define TR_H	210
#define TR_X0	56
#define TR_X1	704
#define TR_Y0	30  /* 100 % */
#define TR_Y1	170 /* 0 % */
#define TR_Y(r) (TR_Y1 - (TR_Y1 - TR_Y0) * (r))

/* The twelve months' total rate: a line through the months that had
 * target elders (broken where one had none), each point labelled. */
static void
svg_trend(const struct page *p, json_t *trend)
{
	size_t n = json_array_size(trend), i;
	double step = n > 1 ? (double)(TR_X1 - TR_X0 - 40) / (double)(n - 1) : 0;
	char buf[32];
	bool open = false;
	int g;
	json_t *m;

	fprintf(
	    p->f,
	    "<svg class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"%s\" "
	    "preserveAspectRatio=\"xMidYMin meet\">\n",
	    TR_W, TR_H, tr(p, "近12个月探访率走势", "Visit rate, last 12 months"));
	for (g = 0; g <= 4; g++) {
		double y = TR_Y(g / 4.0);

		if (g < 4)
			fprintf(p->f,
				"<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" "
				"y2=\"%.1f\"/>",
				TR_X0, y, TR_X1, y);
		fprintf(p->f, "<text class=\"axis-y\" x=\"%d\" y=\"%.1f\">%d%%</text>\n",
			TR_X0 - 6, y + 4, g * 25);
	}
	fprintf(p->f,
		"<line class=\"target\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
		"<text class=\"target-lbl end\" x=\"%d\" y=\"%d\">%s 100%%</text>\n",
		TR_X0, TR_Y0, TR_X1, TR_Y0, TR_X1, TR_Y0 - 6, tr(p, "目标", "Target"));
	/* the line, in pieces between months without a rate */
	json_array_foreach(trend, i, m)
	{
		double x = TR_X0 + 20 + step * (double)i;

		if (!has_rate(m, "rate")) {
			if (open)
				fputs("\"/>\n", p->f);
			open = false;
			continue;
		}
		if (!open)
			fputs("<polyline class=\"trend\" points=\"", p->f);
		fprintf(p->f, "%s%.1f,%.1f", open ? " " : "", x,
			TR_Y(json_number_value(json_object_get(m, "rate"))));
		open = true;
	}
	if (open)
		fputs("\"/>\n", p->f);
	json_array_foreach(trend, i, m)
	{
		double x = TR_X0 + 20 + step * (double)i;
		const char *ym = jstr(m, "month");
		bool last = i + 1 == n;

		if (has_rate(m, "rate")) {
			double y = TR_Y(json_number_value(json_object_get(m, "rate")));

			fprintf(
			    p->f,
			    "<circle class=\"pt%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"%s\"/>"
			    "<text class=\"pt-val%s\" x=\"%.1f\" y=\"%.1f\">%s</text>",
			    last ? " last" : "", x, y, last ? "4" : "3",
			    last ? " last" : "", x, y > TR_Y0 + 16 ? y - 8 : y + 16,
			    pct(m, "rate", buf, sizeof(buf)));
		}
		/* 2026-11 as "11月" (or "Nov"), with the year under January and
		 * the first month */
		fprintf(p->f, "<text class=\"axis\" x=\"%.1f\" y=\"%d\">", x, TR_Y1 + 16);
		if (strlen(ym) == 7) {
			static const char *const abbr[] = {"Jan", "Feb", "Mar", "Apr",
							   "May", "Jun", "Jul", "Aug",
							   "Sep", "Oct", "Nov", "Dec"};
			int mo = atoi(ym + 5);

			if (mo >= 1 && mo <= 12 && p->en)
				fputs(abbr[mo - 1], p->f);
			else if (mo >= 1 && mo <= 12)
				fprintf(p->f, "%d月", mo);
			if (mo == 1 || i == 0)
				fprintf(p->f,
					"</text><text class=\"axis yr\" x=\"%.1f\" "
					"y=\"%d\">%.4s",
					x, TR_Y1 + 30, ym);
		}
		fputs("</text>\n", p->f);
	}
	fputs("</svg>\n", p->f);
}

/* --- the page -------------------------------------------------------------- */

/* Sober and printable: black on white, one muted blue, full-grid tables as
 * on a paper form; A4 with the county, month and page number in the
 * margins. No web font: the reader's own Chinese fonts, by name. */
static const char page_css[] =
    "@page{size:A4;margin:18mm 15mm 16mm 15mm}\n"
    "*{box-sizing:border-box}\n"
    "html{-webkit-print-color-adjust:exact;print-color-adjust:exact}\n"
    "body{margin:0;color:#111;background:#e9e9e6;font:10.5pt/1.5 \"Noto Sans CJK SC\","
    "\"Source Han Sans SC\",\"Microsoft YaHei\",\"PingFang SC\",\"WenQuanYi Zen Hei\","
    "\"SimHei\",sans-serif}\n"
    ".sheet{width:210mm;margin:8mm auto;padding:16mm 15mm;background:#fff;"
    "box-shadow:0 1px 4px rgba(0,0,0,.25)}\n"
    "@media print{body{background:#fff}.sheet{width:auto;margin:0;padding:0;"
    "box-shadow:none}}\n"
    "h1{font-size:19pt;font-weight:700;text-align:center;"
    "margin:0 0 2mm;font-family:\"Noto Serif CJK SC\",\"Source Han Serif SC\","
    "\"SimSun\",\"Songti SC\",serif}\n"
    "h1:lang(zh){letter-spacing:.06em}\n"
    ".sub{text-align:center;font-size:12pt;margin:0 0 5mm}\n"
    ".meta{display:grid;grid-template-columns:1fr 1fr;gap:1mm 8mm;border-top:2px solid "
    "#111;"
    "border-bottom:1px solid #111;padding:2mm 1mm;margin-bottom:5mm;font-size:10pt}\n"
    ".meta b{font-weight:400;color:#555;margin-right:2mm}\n"
    ".summary{display:grid;grid-template-columns:repeat(4,1fr);border:1px solid #111;"
    "margin-bottom:6mm;break-inside:avoid}\n"
    ".summary>div{padding:2mm 3mm;border-left:1px solid #111}\n"
    ".summary>div:first-child{border-left:0}\n"
    ".summary .k{font-size:9pt;color:#444}\n"
    ".summary .v{font-size:17pt;font-weight:700;line-height:1.25}\n"
    ".summary .d{font-size:8.5pt;color:#444}\n"
    "h2{font-size:13pt;margin:6mm 0 2mm;padding-bottom:1mm;border-bottom:1px solid #111;"
    "break-after:avoid}\n"
    "h2+p.note,figure{break-inside:avoid}\n"
    "figure{margin:0 0 3mm}\n"
    "figcaption,p.note{font-size:9pt;color:#444;margin:1mm 0 2mm}\n"
    "svg.chart{display:block;width:100%;height:auto}\n"
    "svg text{font-size:12.5px;fill:#111}\n"
    "svg .axis{text-anchor:middle;fill:#555;font-size:10px}\n"
    "svg .axis-y{text-anchor:end;fill:#555;font-size:10px}\n"
    "svg .yr{fill:#777}\n"
    "svg .lbl.top{font-weight:700}\n"
    "svg .val{text-anchor:end;font-variant-numeric:tabular-nums}\n"
    "svg .grid{stroke:#d4d4d4;stroke-width:1}\n"
    "svg .target{stroke:#a3262a;stroke-width:1.5;stroke-dasharray:5 3}\n"
    "svg .target-lbl{fill:#a3262a;font-size:10.5px;text-anchor:middle}\n"
    "svg .target-lbl.end{text-anchor:end}\n"
    "svg .trend{fill:none;stroke:#1f3b5c;stroke-width:2}\n"
    "svg .pt{fill:#1f3b5c}\n"
    "svg .pt.last{fill:#fff;stroke:#1f3b5c;stroke-width:2}\n"
    "svg .pt-val{text-anchor:middle;font-size:10.5px;paint-order:stroke;stroke:#fff;"
    "stroke-width:3px;stroke-linejoin:round}\n"
    "svg .pt-val.last{font-weight:700}\n"
    "table{width:100%;border-collapse:collapse;margin:0 0 3mm;font-size:9.5pt}\n"
    "thead{display:table-header-group}\n"
    "tr{break-inside:avoid}\n"
    "th,td{border:1px solid #333;padding:1mm 1.6mm;vertical-align:middle}\n"
    "th{background:#eeeeea;font-weight:700;text-align:center}\n"
    "td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
    "td.c{text-align:center;white-space:nowrap}\n"
    "tr.l0 td,tr.total td{font-weight:700}\n"
    "tr.total td{background:#f4f4f1}\n"
    "tr.l1 td.name{padding-left:5mm}\n"
    "tr.l2 td.name{padding-left:9mm}\n"
    "table.trend td,table.trend th{padding:.8mm 1mm;font-size:8.5pt}\n"
    "table.trend th{white-space:nowrap}\n"
    /* the categories (a dozen rows at most) and the trend with the
     * signatures each fit on a page: kept whole */
    "section.categories,.closing{break-inside:avoid}\n"
    ".sign{display:grid;grid-template-columns:1fr 1fr 1fr 1.3fr;gap:5mm;margin:7mm 0 0;"
    "align-items:end}\n"
    ".sign>div{border-bottom:1px solid #111;padding:5mm 0 1mm}\n"
    ".sign>div.seal{border:0;text-align:center;line-height:2;padding:0}\n"
    ".appendix{break-before:page}\n"
    "@media screen{.appendix{margin-top:12mm;padding-top:8mm;border-top:1px dashed "
    "#999}}\n"
    ".empty{padding:3mm;border:1px solid #333;text-align:center}\n";

/* The margins of every printed page: the county and month at the top, the
 * page number at the bottom (CSS page-margin boxes). */
static void
page_margins(const struct page *p, const char *county, const char *month)
{
	fputs("@page{@top-left{content:\"", p->f);
	css_str(p->f, county);
	fputs(" ", p->f);
	css_str(p->f, month);
	fprintf(p->f, " %s\";font-size:8.5pt;color:#555}",
		tr(p, "月探访率报告", "visit rate report"));
	fprintf(
	    p->f,
	    "@bottom-center{content:\"%s\" counter(page) \"%s\" counter(pages) \"%s\";"
	    "font-size:8.5pt;color:#555}}\n",
	    tr(p, "第 ", "Page "), tr(p, " 页  共 ", " of "), tr(p, " 页", ""));
}

static void
rate_cells(const struct page *p, json_t *o, bool consenting)
{
	char buf[32];

	if (consenting)
		fprintf(p->f,
			"<td class=\"n\">%lld</td><td class=\"n\">%lld</td>"
			"<td class=\"n rate-c\">%s</td>",
			count(o, "target_consenting"), count(o, "visited_consenting"),
			pct(o, "rate_consenting", buf, sizeof(buf)));
	else
		fprintf(p->f,
			"<td class=\"n\">%lld</td><td class=\"n\">%lld</td>"
			"<td class=\"n rate\">%s</td>",
			count(o, "target"), count(o, "visited"),
			pct(o, "rate", buf, sizeof(buf)));
}

/* The header of a table of rates, with the without-declined group. */
static void
rate_head(const struct page *p, const char *first, const char *second)
{
	fprintf(p->f, "<thead><tr><th rowspan=\"2\">%s</th>", first);
	if (second != NULL)
		fprintf(p->f, "<th rowspan=\"2\">%s</th>", second);
	fprintf(
	    p->f,
	    "<th rowspan=\"2\">%s</th><th rowspan=\"2\">%s</th><th rowspan=\"2\">%s</th>"
	    "<th colspan=\"3\">%s</th></tr>\n<tr><th>%s</th><th>%s</th><th>%s</th>"
	    "</tr></thead>\n",
	    tr(p, "应探访人数", "Target"), tr(p, "已探访人数", "Visited"),
	    tr(p, "探访率", "Rate"),
	    tr(p, "不含拒绝探访者", "Without those who declined"),
	    tr(p, "应探访", "Target"), tr(p, "已探访", "Visited"),
	    tr(p, "探访率", "Rate"));
}

static void
section_areas(const struct page *p, json_t *doc, size_t counties_n)
{
	json_t *areas = json_object_get(doc, "areas"), *a;
	size_t n = json_array_size(areas), i, nb = 0, per[3] = {0, 0, 0};
	struct bar *bars = xcalloc(n + 1, sizeof(*bars));
	int finest = 2;

	fprintf(p->f, "<section class=\"areas\"><h2>%s</h2>\n",
		tr(p, "一、各地区探访率", "1. Visit rate by area"));
	json_array_foreach(areas, i, a)
	{
		int lv = level_rank(jstr(a, "level"));

		if (lv >= 0)
			per[lv]++;
	}
	/* the chart keeps to a page: without villages, or townships, if need
	 * be (the table lists them all) */
	while (finest > 0 &&
	       per[0] + (finest >= 1 ? per[1] : 0) + (finest >= 2 ? per[2] : 0) >
		   CHART_MAX_BARS)
		finest--;
	json_array_foreach(areas, i, a)
	{
		int lv = level_rank(jstr(a, "level"));

		/* the total repeats the county's bar when there is one county,
		 * and stands alone (with no target) when there is none */
		if ((lv < 0 && counties_n <= 1) || lv > finest)
			continue;
		bars[nb].label = lv < 0 ? tr(p, "合计", "Total") : jstr(a, "name");
		bars[nb].indent = lv < 0 ? 0 : lv;
		bars[nb].row = a;
		nb++;
	}
	if (nb > 0) {
		fputs("<figure>", p->f);
		svg_bars(p, bars, nb, tr(p, "各地区探访率", "Visit rate by area"));
		fprintf(
		    p->f, "<figcaption>%s%s</figcaption></figure>\n",
		    tr(p, "条形为本月探访率（已探访 ÷ 应探访），红色虚线为 100% 目标。",
		       "Bars: this month's rate (visited / target); dashed red line: the "
		       "100 % "
		       "target."),
		    finest < 2 ? tr(p, "图中略去村级，详见下表。",
				    " Villages are left out of the chart; see the table.")
			       : "");
	}
	fputs("<table class=\"areas\">", p->f);
	rate_head(p, tr(p, "地区", "Area"), tr(p, "级别", "Level"));
	fputs("<tbody>\n", p->f);
	json_array_foreach(areas, i, a)
	{
		const char *level = jstr(a, "level");
		int lv = level_rank(level);

		fprintf(p->f, "<tr class=\"%s%d\" data-level=\"",
			lv < 0 ? "total l" : "l", lv < 0 ? 0 : lv);
		esc(p->f, level);
		fputs("\" data-code=\"", p->f);
		esc(p->f, jstr(a, "code"));
		fputs("\"><td class=\"name\">", p->f);
		esc(p->f, lv < 0 ? tr(p, "合计", "Total") : jstr(a, "name"));
		fprintf(p->f, "</td><td class=\"c\">%s</td>", level_name(p, level));
		rate_cells(p, a, false);
		rate_cells(p, a, true);
		fputs("</tr>\n", p->f);
	}
	if (n == 0)
		fprintf(p->f, "<tr><td colspan=\"8\" class=\"c\">%s</td></tr>\n",
			tr(p, "本月无应探访对象", "No target elders this month"));
	fprintf(
	    p->f, "</tbody></table>\n<p class=\"note\">%s</p></section>\n",
	    tr(p,
	       "“不含拒绝探访者”：应探访对象中除去本人不同意上门探访者后的人数与"
	       "探访率。探访率为“—”表示该范围内无此类对象。",
	       "\"Without those who declined\": the same counts without the elders who "
	       "declined home visits. A dash: no such elder in that area."));
	free(bars);
}

static void
section_categories(const struct page *p, json_t *doc)
{
	json_t *cats = json_object_get(doc, "categories"), *c;
	size_t n = json_array_size(cats), i;
	struct bar *bars = xcalloc(n + 1, sizeof(*bars));
	char(*names)[96] = xcalloc(n + 1, sizeof(*names));

	fprintf(p->f, "<section class=\"categories\"><h2>%s</h2>\n",
		tr(p, "二、分类别探访率", "2. Visit rate by category"));
	json_array_foreach(cats, i, c)
	{
		category_name(p, jstr(c, "category"), names[i], sizeof(names[i]));
		bars[i].label = names[i];
		bars[i].indent = 1;
		bars[i].row = c;
	}
	if (n > 0) {
		fputs("<figure>", p->f);
		svg_bars(p, bars, n, tr(p, "分类别探访率", "Visit rate by category"));
		fputs("</figure>\n", p->f);
	}
	fputs("<table class=\"categories\">", p->f);
	rate_head(p, tr(p, "类别", "Category"), NULL);
	fputs("<tbody>\n", p->f);
	json_array_foreach(cats, i, c)
	{
		fputs("<tr data-category=\"", p->f);
		esc(p->f, jstr(c, "category"));
		fputs("\"><td class=\"name\">", p->f);
		esc(p->f, names[i]);
		fputs("</td>", p->f);
		rate_cells(p, c, false);
		rate_cells(p, c, true);
		fputs("</tr>\n", p->f);
	}
	if (n == 0)
		fprintf(p->f, "<tr><td colspan=\"7\" class=\"c\">%s</td></tr>\n",
			tr(p, "本月无应探访对象", "No target elders this month"));
	fprintf(
	    p->f, "</tbody></table>\n<p class=\"note\">%s</p></section>\n",
	    tr(p,
	       "一名老人属于多个类别时在每个类别中各计一次，故各类别人数之和可大于合计。"
	       "年龄按当月最后一天计算。",
	       "An elder in several categories counts in each, so the categories add up "
	       "to more than the total. Age is taken at the month's last day."));
	free(names);
	free(bars);
}

static void
section_trend(const struct page *p, json_t *doc)
{
	json_t *trend = json_object_get(doc, "trend"), *m;
	char buf[32];
	size_t i;

	fprintf(p->f, "<section class=\"trend\"><h2>%s</h2>\n",
		tr(p, "三、近12个月探访率走势", "3. Visit rate over the last 12 months"));
	if (json_array_size(trend) == 0) {
		fprintf(p->f, "<p class=\"empty\">%s</p></section>\n",
			tr(p, "无数据", "No data"));
		return;
	}
	fputs("<figure>", p->f);
	svg_trend(p, trend);
	fprintf(p->f, "<figcaption>%s</figcaption></figure>\n",
		tr(p,
		   "全部应探访对象的月探访率；每月按当月的对象与规则计算，空缺表示当月无"
		   "应探访对象。",
		   "The total rate of each month, counted with that month's targets and "
		   "rule; a "
		   "gap: no target elder that month."));
	fprintf(p->f, "<table class=\"trend\"><thead><tr><th>%s</th>",
		tr(p, "月份", "Month"));
	json_array_foreach(trend, i, m)
	{
		const char *ym = jstr(m, "month");

		fputs("<th>", p->f);
		esc(p->f, strlen(ym) == 7 ? ym + 2 : ym); /* 26-11: twelve fit */
		fputs("</th>", p->f);
	}
	fprintf(p->f, "</tr></thead><tbody>\n<tr><th>%s</th>", tr(p, "应探访", "Target"));
	json_array_foreach(trend, i, m)
	    fprintf(p->f, "<td class=\"n\">%lld</td>", count(m, "target"));
	fprintf(p->f, "</tr>\n<tr><th>%s</th>", tr(p, "已探访", "Visited"));
	json_array_foreach(trend, i, m)
	    fprintf(p->f, "<td class=\"n\">%lld</td>", count(m, "visited"));
	fprintf(p->f, "</tr>\n<tr><th>%s</th>", tr(p, "探访率", "Rate"));
	json_array_foreach(trend, i, m)
	{
		fputs("<td class=\"n trend-rate\" data-month=\"", p->f);
		esc(p->f, jstr(m, "month"));
		fprintf(p->f, "\">%s</td>", pct(m, "rate", buf, sizeof(buf)));
	}
	fputs("</tr>\n</tbody></table></section>\n", p->f);
}

/* The name of the area with this code among the report's rows, or NULL. */
static const char *
area_name(json_t *doc, const char *code)
{
	json_t *a;
	size_t i;

	json_array_foreach(json_object_get(doc, "areas"), i,
			   a) if (strcmp(jstr(a, "code"), code) == 0) return jstr(a,
										  "name");
	return NULL;
}

static void
section_missing(const struct page *p, json_t *doc, const char *month)
{
	json_t *list = json_object_get(doc, "not_visited"), *e;
	size_t n = json_array_size(list), i;

	fprintf(p->f, "<section class=\"appendix\"><h2>%s",
		tr(p, "附表　", "Appendix: "));
	esc(p->f, month);
	fprintf(p->f,
		p->en ? " target elders not visited (%zu)</h2>\n"
		      : "应探访未探访对象名单（%zu 人）</h2>\n",
		n);
	if (n == 0) {
		fprintf(p->f, "<p class=\"empty\">%s</p></section>\n",
			/* every target elder has a category */
			json_array_size(json_object_get(doc, "categories")) == 0
			    ? tr(p, "本月无应探访对象。", "No target elders this month.")
			    : tr(p, "本月应探访对象均已探访。",
				 "Every target elder was visited this month."));
		return;
	}
	fprintf(p->f,
		"<table class=\"missing\"><thead><tr><th>%s</th><th>%s</th><th>%s</th>"
		"<th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th></tr></"
		"thead><tbody>\n",
		tr(p, "序号", "No."), tr(p, "编号", "ID"), tr(p, "姓名", "Name"),
		tr(p, "乡（镇）", "Township"), tr(p, "村（社区）", "Village"),
		tr(p, "服务站", "Station"), tr(p, "最近一次探访", "Last visit"),
		tr(p, "同意探访", "Consents"));
	json_array_foreach(list, i, e)
	{
		const char *tw = jstr(e, "township"), *twn = area_name(doc, tw);
		const char *vn = jstr(e, "village_name"), *sn = jstr(e, "station_name");
		bool consent = json_is_true(json_object_get(e, "consent"));

		fprintf(p->f, "<tr data-elder-id=\"");
		esc(p->f, jstr(e, "elder_id"));
		fprintf(p->f, "\"><td class=\"c\">%zu</td><td class=\"c id\">", i + 1);
		esc(p->f, jstr(e, "elder_id"));
		fputs("</td><td class=\"c nm\">", p->f);
		esc(p->f, jstr(e, "name"));
		fputs("</td><td>", p->f);
		esc(p->f, twn != NULL ? twn : tw);
		fputs("</td><td>", p->f);
		esc(p->f, *vn ? vn : jstr(e, "village"));
		fputs("</td><td>", p->f);
		esc(p->f, *sn			   ? sn
			  : *jstr(e, "station_id") ? jstr(e, "station_id")
						   : "—");
		fputs("</td><td class=\"c last\">", p->f);
		esc(p->f, *jstr(e, "last_visit") ? jstr(e, "last_visit")
						 : tr(p, "无记录", "none on record"));
		fprintf(p->f, "</td><td class=\"c consent\">%s</td></tr>\n",
			consent ? tr(p, "是", "yes") : tr(p, "否", "no"));
	}
	fprintf(
	    p->f, "</tbody></table>\n<p class=\"note\">%s</p></section>\n",
	    tr(p,
	       "“最近一次探访”为截至本月末最近一次计入探访率的探访日期。“同意探访”为否者"
	       "本人不同意上门探访，宜以电话等方式关爱。",
	       "\"Last visit\": the latest visit that counts, up to the month's end. "
	       "\"Consents\" no: the elder declined home visits; reach them another "
	       "way."));
}

void
report_html(FILE *f, json_t *doc, bool en)
{
	struct page pg = {f, en}, *p = &pg;
	json_t *rule = json_object_get(doc, "rule"), *a, *total = NULL;
	char county[512], month[64], buf[32], buf2[32];
	size_t i, ncounties = 0;

	counties(p, doc, county, sizeof(county));
	month_name(p, jstr(doc, "month"), month, sizeof(month));
	json_array_foreach(json_object_get(doc, "areas"), i, a)
	{
		if (strcmp(jstr(a, "level"), "total") == 0)
			total = a;
		else if (strcmp(jstr(a, "level"), "county") == 0)
			ncounties++;
	}

	fprintf(f, "<!DOCTYPE html>\n<html lang=\"%s\"><head><meta charset=\"utf-8\">\n",
		tr(p, "zh-CN", "en"));
	fputs("<meta name=\"viewport\" content=\"width=device-width, "
	      "initial-scale=1\">\n<title>",
	      f);
	esc(f, county);
	fprintf(f, " %s %s</title>\n<style>\n%s", month,
		tr(p, "月探访率报告", "visit rate report"), page_css);
	page_margins(p, county, month);
	fputs(
	    "</style></head>\n<body><main class=\"sheet\">\n<header>\n<h1 id=\"title\">",
	    f);
	if (en) {
		fputs("Monthly visit rate report", f);
		if (*county) {
			fputs(": ", f);
			esc(f, county);
		}
	} else {
		esc(f, county);
		fputs("老年人月探访率报告", f);
	}
	fputs("</h1>\n<p class=\"sub\" id=\"month\">", f);
	esc(f, month);
	fprintf(f, "</p>\n<div class=\"meta\"><div><b>%s</b><span id=\"meta-area\">",
		tr(p, "统计范围", "Area"));
	esc(f, *county ? county : "—");
	fprintf(f, "</span></div><div><b>%s</b><span id=\"meta-month\">",
		tr(p, "统计月份", "Month"));
	esc(f, jstr(doc, "month"));
	fprintf(f, "</span></div><div><b>%s</b><span id=\"meta-rule\">",
		tr(p, "认定规则版本", "Target rule version"));
	esc(f, jstr(rule, "version"));
	fprintf(f, "</span></div><div><b>%s</b><span id=\"meta-tz\">",
		tr(p, "时区", "Time zone"));
	esc(f, jstr(doc, "timezone"));
	fprintf(f, "</span></div><div><b>%s</b><span id=\"meta-produced\">",
		tr(p, "制表时间", "Produced"));
	esc(f, jstr(doc, "produced"));
	fprintf(f, "</span>%s</div><div><b>%s</b>%s</div></div>\n</header>\n",
		tr(p, "（当地时间）", " (local time)"), tr(p, "目标", "Target"),
		tr(p, "应探访对象每月探访率 100%",
		   "every target elder visited each month (100 %)"));

	/* the four figures a reader looks for first */
	fprintf(f,
		"<div class=\"summary\"><div><div class=\"k\">%s</div><div class=\"v\" "
		"id=\"sum-rate\">%s</div><div class=\"d\">%s %lld / %s %lld</div></div>",
		tr(p, "本月探访率", "Visit rate"),
		total ? pct(total, "rate", buf, sizeof(buf)) : "—",
		tr(p, "已探访", "visited"), total ? count(total, "visited") : 0,
		tr(p, "应探访", "target"), total ? count(total, "target") : 0);
	fprintf(
	    f,
	    "<div><div class=\"k\">%s</div><div class=\"v\" id=\"sum-rate-c\">%s</div>"
	    "<div class=\"d\">%lld / %lld</div></div>",
	    tr(p, "不含拒绝探访者", "Without those who declined"),
	    total ? pct(total, "rate_consenting", buf2, sizeof(buf2)) : "—",
	    total ? count(total, "visited_consenting") : 0,
	    total ? count(total, "target_consenting") : 0);
	fprintf(
	    f,
	    "<div><div class=\"k\">%s</div><div class=\"v\" id=\"sum-missing\">%zu</div>"
	    "<div class=\"d\">%s</div></div>",
	    tr(p, "未探访人数", "Not visited"),
	    json_array_size(json_object_get(doc, "not_visited")),
	    tr(p, "名单见附表", "listed in the appendix"));
	fprintf(f,
		"<div><div class=\"k\">%s</div><div class=\"v\" "
		"id=\"sum-declined\">%lld</div>"
		"<div class=\"d\">%s</div></div></div>\n",
		tr(p, "拒绝探访人数", "Declined visits"),
		total ? count(total, "target") - count(total, "target_consenting") : 0,
		tr(p, "本人不同意上门探访", "elders who declined home visits"));

	section_areas(p, doc, ncounties);
	section_categories(p, doc);
	/* the trend and the signatures stay together: never a page with only
	 * the lines to sign on */
	fputs("<div class=\"closing\">\n", f);
	section_trend(p, doc);
	fprintf(f,
		"<div class=\"sign\"><div>%s</div><div>%s</div><div>%s</div>"
		"<div class=\"seal\">%s<br>%s</div></div></div>\n",
		tr(p, "制表人：", "Prepared by:"), tr(p, "审核人：", "Checked by:"),
		tr(p, "负责人：", "Approved by:"), tr(p, "（单位盖章）", "(seal)"),
		tr(p, "年　　月　　日", "Date:"));
	section_missing(p, doc, month);
	fputs("</main></body></html>\n", f);
}
