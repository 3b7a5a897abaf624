/* import.c - `carewatch import KIND FILE.csv`: check a whole file, then upsert
 * it in one transaction or not at all */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "cli.h"
#include "csv.h"
#include "log.h"
#include "util.h"
#include "validate.h"

#define IMPORT_ERRORS_SHOWN 50	 /* row errors printed before a summary */
#define IMPORT_BATCH	    1000 /* statements per pipeline sync */
#define IMPORT_PARAMS_MAX   24
#define IMPORT_SQL_MAX	    4096
#define ID_MAX		    64
#define PROGRESS_EVERY_S    0.2 /* a terminal's progress line: at most 5 a second */

enum col_type {
	T_ID,		/* 1..64 of [A-Za-z0-9_.:-] */
	T_CODE,		/* 12-digit statistical division code */
	T_NAME,		/* one line, <= 200 bytes */
	T_TEXT,		/* one line, <= 1000 bytes */
	T_NOTES,	/* several lines */
	T_LAT,		/* -90..90 */
	T_LON,		/* -180..180 */
	T_PHONE,	/* digits, + - ( ) and spaces */
	T_STATION_KIND, /* county_center ... */
	T_DEVICE_KIND,	/* sos_button ... */
	T_ECOSYSTEM,	/* native, zigbee2mqtt */
	T_CAPACITY,	/* 0..1000 */
	T_SKILLS,	/* ;-list of skills */
	T_CATEGORIES,	/* ;-list of categories */
	T_HOURS,	/* HH:MM-HH:MM or 24h */
	T_KM,		/* 0..1000 km */
	T_BOOL,		/* yes / no */
	T_DATE,		/* YYYY-MM-DD */
	T_DAY,		/* YYYY-MM-DD, any calendar date */
	T_GENDER,	/* F / M */
	T_CAPABILITY,	/* 0..4 */
	T_CONTACTS,	/* name:phone;name:phone */
	T_IDNUM,	/* 身份证号 */
	T_SECONDS,	/* heartbeat period */
	T_EXTID,	/* zigbee2mqtt friendly name */
	T_VISIT_ID,	/* 1..40 of [A-Za-z0-9_.:-] */
	T_VISIT_AT,	/* RFC 3339, or YYYY-MM-DD HH:MM local; stored as epoch */
	T_VISIT_KIND,	/* routine ... phone */
	T_BOOLEAN,	/* yes / no, true / false, 1 / 0 */
};

#define C_REQ	   1 /* the header must have it */
#define C_NONEMPTY 2 /* every row must fill it */

struct column {
	const char *name;
	enum col_type type;
	int flags;
	const char *def; /* stored for an empty field; NULL stores SQL NULL */
	const char *ref; /* table (with key) it must exist in, checked up front */
	const char *ref_what;
};

struct kind {
	const char *name;
	const char *table;
	const struct column *cols;
	size_t ncols;
};

#define REQ	 (C_REQ | C_NONEMPTY)
#define AREA_REF "areas a WHERE a.code = v::char(12)"

static const struct column area_cols[] = {
    {"code", T_CODE, REQ, NULL, NULL, NULL},
    {"name", T_NAME, REQ, NULL, NULL, NULL},
    {"parent_code", T_CODE, C_REQ, NULL, AREA_REF, "area"},
};

static const struct column station_cols[] = {
    {"id", T_ID, REQ, NULL, NULL, NULL},
    {"name", T_NAME, REQ, NULL, NULL, NULL},
    {"kind", T_STATION_KIND, REQ, NULL, NULL, NULL},
    {"area_code", T_CODE, REQ, NULL, AREA_REF, "area"},
    {"lat", T_LAT, REQ, NULL, NULL, NULL},
    {"lon", T_LON, REQ, NULL, NULL, NULL},
    {"phone", T_PHONE, 0, NULL, NULL, NULL},
    {"capacity", T_CAPACITY, 0, "2", NULL, NULL},
    {"skills", T_SKILLS, 0, "{}", NULL, NULL},
    {"on_duty", T_HOURS, 0, "24h", NULL, NULL},
};

static const struct column volunteer_cols[] = {
    {"id", T_ID, REQ, NULL, NULL, NULL},
    {"name", T_NAME, REQ, NULL, NULL, NULL},
    {"area_code", T_CODE, REQ, NULL, AREA_REF, "area"},
    {"lat", T_LAT, REQ, NULL, NULL, NULL},
    {"lon", T_LON, REQ, NULL, NULL, NULL},
    {"phone", T_PHONE, 0, NULL, NULL, NULL},
    {"skills", T_SKILLS, 0, "{}", NULL, NULL},
    {"max_km", T_KM, 0, NULL, NULL, NULL},
    {"owntracks_user", T_ID, 0, NULL, NULL, NULL},
    {"active", T_BOOL, 0, "true", NULL, NULL},
};

static const struct column elder_cols[] = {
    {"id", T_ID, REQ, NULL, NULL, NULL},
    {"name", T_NAME, REQ, NULL, NULL, NULL},
    {"birth_date", T_DATE, REQ, NULL, NULL, NULL},
    {"area_code", T_CODE, REQ, NULL, AREA_REF, "area"},
    {"lat", T_LAT, REQ, NULL, NULL, NULL},
    {"lon", T_LON, REQ, NULL, NULL, NULL},
    {"gender", T_GENDER, 0, NULL, NULL, NULL},
    {"phone", T_PHONE, 0, NULL, NULL, NULL},
    {"address", T_TEXT, 0, NULL, NULL, NULL},
    {"categories", T_CATEGORIES, 0, "{}", NULL, NULL},
    {"capability_level", T_CAPABILITY, 0, NULL, NULL, NULL},
    {"visit_consent", T_BOOL, 0, "true", NULL, NULL},
    {"station_id", T_ID, 0, NULL, "stations s WHERE s.id = v", "station"},
    {"contacts", T_CONTACTS, 0, NULL, NULL, NULL},
    {"notes", T_NOTES, 0, NULL, NULL, NULL},
    {"id_number", T_IDNUM, 0, NULL, NULL, NULL},
    /* the visit report's active months: empty registered_on is "before any
     * report", empty deactivated_on "still served" */
    {"registered_on", T_DAY, 0, "1900-01-01", NULL, NULL},
    {"deactivated_on", T_DAY, 0, NULL, NULL, NULL},
};

static const struct column device_cols[] = {
    {"id", T_ID, REQ, NULL, NULL, NULL},
    {"kind", T_DEVICE_KIND, REQ, NULL, NULL, NULL},
    {"elder_id", T_ID, REQ, NULL, "elders e WHERE e.id = v", "elder"},
    {"ecosystem", T_ECOSYSTEM, 0, "native", NULL, NULL},
    {"external_id", T_EXTID, 0, NULL, NULL, NULL},
    {"heartbeat_s", T_SECONDS, 0, NULL, NULL, NULL},
};

/* Visit sheets (issue 8). The row's key is the one every way in uses:
 * RESPONDER:id with a responder (the same visit sent over MQTT by that
 * responder), @desk:id without (the same as `carewatch visit add`). */
static const struct column visit_cols[] = {
    {"id", T_VISIT_ID, REQ, NULL, NULL, NULL},
    {"elder_id", T_ID, REQ, NULL, "elders e WHERE e.id = v", "elder"},
    {"at", T_VISIT_AT, REQ, NULL, NULL, NULL},
    {"kind", T_VISIT_KIND, REQ, NULL, NULL, NULL},
    {"in_person", T_BOOLEAN, 0, NULL, NULL, NULL},
    {"responder_id", T_ID, 0, NULL,
     "(SELECT id FROM stations UNION ALL SELECT id FROM volunteers) s WHERE s.id = v",
     "responder (station or volunteer)"},
    {"note", T_TEXT, 0, NULL, NULL, NULL},
};

/* Other names a header may use for a column. */
static const struct {
	const char *kind, *alias, *name;
} column_aliases[] = {
    {"visits", "elder", "elder_id"},
    {"visits", "responder", "responder_id"},
};

#define KIND(nm, cols)                                                                   \
	{                                                                                \
		nm, nm, cols, sizeof(cols) / sizeof(cols[0])                             \
	}

static const struct kind kinds[] = {
    KIND("areas", area_cols),		KIND("stations", station_cols),
    KIND("volunteers", volunteer_cols), KIND("elders", elder_cols),
    KIND("devices", device_cols),	KIND("visits", visit_cols),
};

#define KIND_COLS_MAX 18

/* A set of strings with an int each (first line seen, or a flag). */
struct strmap {
	char **keys;
	int *vals;
	size_t cap, n;
};

/* One data row: the value of every column of the kind (NULL for SQL NULL or
 * a column the file does not have), then one derived value (an area's level,
 * an elder's masked id number). */
struct row {
	int line;
	int level;
	char **vals;
};

/* The progress line on a terminal (stderr): none when it is not one. */
struct progress {
	bool tty;
	bool shown;  /* a line is on the screen */
	double next; /* when the next update may be drawn (monotonic) */
};

struct import {
	const char *path;
	const struct kind *kind;
	int hdr[KIND_COLS_MAX]; /* field index of each kind column, or -1 */
	int nfields;		/* fields in the header */
	struct row *rows;
	size_t nrows, cap;
	int errors;
	bool id_numbers; /* some row has a non-empty id_number */
	int today;	 /* yyyymmdd, local time: no birth date after it */
	double now;	 /* no visit later than this (plus the skew) */
	int differ;	 /* visits already there with another elder, time, kind */
	struct strmap unique;
	struct progress prog;
};

/* Draws "\r  DONE/TOTAL rows" (TOTAL 0: not known yet) on a terminal, at
 * most every PROGRESS_EVERY_S unless force. */
static void
progress_show(struct progress *p, const char *what, size_t done, size_t total, bool force)
{
	double t;

	if (!p->tty)
		return;
	t = now_mono();
	if (!force && t < p->next)
		return;
	p->next = t + PROGRESS_EVERY_S;
	if (total > 0)
		fprintf(stderr, "\r  %s %zu/%zu rows", what, done, total);
	else
		fprintf(stderr, "\r  %s %zu rows", what, done);
	p->shown = true;
}

/* Clears the progress line, so that a message starts on a clean line. */
static void
progress_clear(struct progress *p)
{
	if (!p->shown)
		return;
	fprintf(stderr, "\r\033[K");
	p->shown = false;
}

static void import_error(struct import *im, int line, const char *col, const char *fmt,
			 ...) CW_PRINTF(4, 5);

/* Reports one problem as "FILE:LINE: column COL: reason" (the first few
 * only) and counts it. Reasons never carry the field's value. */
static void
import_error(struct import *im, int line, const char *col, const char *fmt, ...)
{
	char reason[512];
	va_list ap;

	im->errors++;
	if (im->errors > IMPORT_ERRORS_SHOWN)
		return;
	progress_clear(&im->prog);
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (col != NULL)
		fprintf(stderr, "%s:%d: column %s: %s\n", im->path, line, col, reason);
	else
		fprintf(stderr, "%s:%d: %s\n", im->path, line, reason);
}

/* FNV-1a, for the string set. */
static uint64_t
strmap_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

/* Slot of key in m: where it is, or the empty slot where it would go. */
static size_t
strmap_slot(const struct strmap *m, const char *key)
{
	size_t i = (size_t)strmap_hash(key) & (m->cap - 1);

	while (m->keys[i] != NULL && strcmp(m->keys[i], key) != 0)
		i = (i + 1) & (m->cap - 1);
	return i;
}

/* Value stored for key, or 0 when key is absent. */
static int
strmap_get(const struct strmap *m, const char *key)
{
	size_t i;

	if (m->cap == 0)
		return 0;
	i = strmap_slot(m, key);
	return m->keys[i] != NULL ? m->vals[i] : 0;
}

/* Adds key with val unless present; returns the value it already had, or 0. */
static int
strmap_add(struct strmap *m, const char *key, int val)
{
	size_t i, j, oldcap = m->cap;
	char **oldkeys = m->keys;
	int *oldvals = m->vals;

	if (m->cap == 0 || (m->n + 1) * 2 > m->cap) {
		m->cap = m->cap ? m->cap * 2 : 64;
		m->keys = xcalloc(m->cap, sizeof(*m->keys));
		m->vals = xcalloc(m->cap, sizeof(*m->vals));
		for (j = 0; j < oldcap; j++) {
			if (oldkeys[j] == NULL)
				continue;
			i = strmap_slot(m, oldkeys[j]);
			m->keys[i] = oldkeys[j];
			m->vals[i] = oldvals[j];
		}
		free(oldkeys);
		free(oldvals);
	}
	i = strmap_slot(m, key);
	if (m->keys[i] != NULL)
		return m->vals[i];
	m->keys[i] = xstrdup(key);
	m->vals[i] = val;
	m->n++;
	return 0;
}

/* Frees every key and the tables. */
static void
strmap_free(struct strmap *m)
{
	size_t i;

	for (i = 0; i < m->cap; i++)
		free(m->keys[i]);
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

/* Checks one non-empty field of column c and writes the value to store into
 * out; returns NULL, or the reason it is wrong (maybe written into reason).
 * today (yyyymmdd) bounds birth dates. */
static const char *
check_value(const struct column *c, const char *v, int today, char *out, size_t len,
	    char *reason, size_t rlen)
{
	double at;
	enum area_level level;
	const char *why = NULL;
	double d;
	long l;
	bool b;
	char g;

	switch (c->type) {
	case T_ID:
		if (!id_valid(v, strlen(v), ID_MAX))
			return "expected 1 to 64 letters, digits or _ . : -";
		break;
	case T_CODE:
		why = validate_area_code(v, &level);
		break;
	case T_NAME:
		why = validate_text(v, VALIDATE_NAME_MAX, false, reason, rlen);
		break;
	case T_TEXT:
	case T_EXTID:
		why = validate_text(v, VALIDATE_TEXT_MAX, false, reason, rlen);
		if (why == NULL && c->type == T_EXTID && strpbrk(v, "+#") != NULL)
			return "may not contain + or # (MQTT wildcards)";
		break;
	case T_NOTES:
		why = validate_text(v, CSV_FIELD_MAX, true, reason, rlen);
		break;
	case T_LAT:
		if (validate_number(v, -90, 90, &d) < 0)
			return "expected a latitude in decimal degrees, -90 to 90";
		break;
	case T_LON:
		if (validate_number(v, -180, 180, &d) < 0)
			return "expected a longitude in decimal degrees, -180 to 180";
		break;
	case T_PHONE:
		why = validate_phone(v);
		break;
	case T_STATION_KIND:
		why = validate_word(v, validate_station_kinds, reason, rlen);
		break;
	case T_DEVICE_KIND:
		why = validate_word(v, validate_device_kinds, reason, rlen);
		break;
	case T_ECOSYSTEM:
		why = validate_word(v, validate_ecosystems, reason, rlen);
		break;
	case T_CAPACITY:
		if (validate_integer(v, 0, 1000, &l) < 0)
			return "expected a whole number from 0 to 1000";
		break;
	case T_SKILLS:
		return validate_list(v, validate_skills, "skill", out, len, reason, rlen);
	case T_CATEGORIES:
		return validate_list(v, validate_categories, "category", out, len, reason,
				     rlen);
	case T_HOURS:
		return validate_hours(v, out, len);
	case T_KM:
		if (validate_number(v, 0, 1000, &d) < 0)
			return "expected a distance in km from 0 to 1000";
		break;
	case T_BOOL:
		if ((why = validate_bool(v, &b)) == NULL)
			str_copy(out, b ? "true" : "false", len);
		return why;
	case T_DATE:
		return validate_birth_date(v, today, out, len);
	case T_DAY:
		return validate_date(v, out, len, NULL);
	case T_GENDER:
		if ((why = validate_gender(v, &g)) == NULL)
			str_copy(out, g == 'F' ? "F" : "M", len);
		return why;
	case T_CAPABILITY:
		if (validate_integer(v, 0, 4, &l) < 0)
			return "expected a capability level from 0 to 4";
		break;
	case T_CONTACTS:
		return validate_contacts(v, out, len, reason, rlen);
	case T_IDNUM:
		return validate_id_number(v, out, len);
	case T_SECONDS:
		if (validate_integer(v, 1, 7 * 86400, &l) < 0)
			return "expected a whole number of seconds from 1 to 604800";
		break;
	case T_VISIT_ID:
		if (!id_valid(v, strlen(v), VALIDATE_VISIT_ID_MAX))
			return "expected 1 to 40 letters, digits or _ . : -";
		break;
	case T_VISIT_AT:
		if ((why = validate_visit_time(v, &at)) == NULL)
			snprintf(out, len, "%.3f", at);
		return why;
	case T_VISIT_KIND:
		why = validate_word(v, validate_visit_kinds, reason, rlen);
		break;
	case T_BOOLEAN:
		if ((why = validate_boolean(v, &b)) == NULL)
			str_copy(out, b ? "true" : "false", len);
		return why;
	}
	if (why != NULL)
		return why;
	if (str_copy(out, v, len) < 0)
		return "too long";
	return NULL;
}

/* Index of column name in kind k, or -1. */
static int
kind_column(const struct kind *k, const char *name)
{
	size_t i;

	for (i = 0; i < k->ncols; i++) {
		if (strcmp(k->cols[i].name, name) == 0)
			return (int)i;
	}
	return -1;
}

/* Copies a header name for a message: control bytes become '?', and it is cut
 * to at most 64 bytes on a character boundary. */
static const char *
header_name(const char *s, char *buf, size_t len)
{
	size_t i, max = len - 1 < 64 ? len - 1 : 64;

	for (i = 0; s[i] != '\0' && i < max; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	while (i > 0 && s[i] != '\0' && ((unsigned char)s[i] & 0xc0) == 0x80)
		i--;
	buf[i] = '\0';
	return buf;
}

/* Maps the header record to the kind's columns; reports unknown, repeated
 * and missing columns. */
static int
import_header(struct import *im, struct csv_reader *r)
{
	const struct kind *k = im->kind;
	char name[80], all[512];
	size_t i, o = 0;
	int f, c, before = im->errors;

	for (i = 0; i < k->ncols; i++)
		im->hdr[i] = -1;
	for (i = 0; i < k->ncols; i++)
		o += (size_t)snprintf(all + o, sizeof(all) - o, "%s%s", i ? ", " : "",
				      k->cols[i].name);
	im->nfields = r->nfields;
	for (f = 0; f < r->nfields; f++) {
		char *h = str_trim(r->fields[f]);

		if (*h == '\0') {
			import_error(im, r->rec_line, NULL, "header field %d is empty",
				     f + 1);
			continue;
		}
		c = -1;
		for (i = 0; i < k->ncols; i++) {
			if (strcasecmp(k->cols[i].name, h) == 0)
				c = (int)i;
		}
		for (i = 0;
		     c < 0 && i < sizeof(column_aliases) / sizeof(column_aliases[0]);
		     i++) {
			if (strcmp(column_aliases[i].kind, k->name) == 0 &&
			    strcasecmp(column_aliases[i].alias, h) == 0)
				c = kind_column(k, column_aliases[i].name);
		}
		if (c < 0) {
			import_error(im, r->rec_line, NULL,
				     "unknown column \"%s\" (%s takes: %s)",
				     header_name(h, name, sizeof(name)), k->name, all);
			continue;
		}
		if (im->hdr[c] >= 0) {
			import_error(im, r->rec_line, NULL, "column %s appears twice",
				     k->cols[c].name);
			continue;
		}
		im->hdr[c] = f;
	}
	for (i = 0; i < k->ncols; i++) {
		if ((k->cols[i].flags & C_REQ) && im->hdr[i] < 0)
			import_error(im, r->rec_line, NULL, "missing required column %s",
				     k->cols[i].name);
	}
	return im->errors > before ? -1 : 0;
}

/* A visit's rules across columns: its key (kept as the row's derived value)
 * once in the file, and validate_visit() over kind, in_person and at, which
 * also fills in in_person when the row leaves it empty. */
static void
import_visit_rules(struct import *im, struct row *row)
{
	const struct kind *k = im->kind;
	int ip = kind_column(k, "in_person"), rs = kind_column(k, "responder_id"),
	    at = kind_column(k, "at"), kd = kind_column(k, "kind"), first, said = -1;
	char key[VALIDATE_VISIT_ID_MAX + ID_MAX + 8], ukey[sizeof(key) + 8];
	const char *why, *col;
	bool stored;

	if (row->vals[rs] != NULL)
		snprintf(key, sizeof(key), "%s:%s", row->vals[rs], row->vals[0]);
	else
		snprintf(key, sizeof(key), "@desk:%s", row->vals[0]);
	row->vals[k->ncols] = xstrdup(key);
	snprintf(ukey, sizeof(ukey), "key\x1f%s", key);
	if ((first = strmap_add(&im->unique, ukey, row->line)) != 0)
		import_error(im, row->line, "id", "repeats the visit on line %d", first);
	if (row->vals[ip] != NULL)
		said = strcmp(row->vals[ip], "true") == 0;
	why = validate_visit(row->vals[kd], said, strtod(row->vals[at], NULL), im->now,
			     &stored);
	if (why != NULL) {
		col = strstr(why, "phone") != NULL    ? "in_person"
		      : strstr(why, "future") != NULL ? "at"
						      : "kind";
		import_error(im, row->line, col, "%s", why);
		return;
	}
	free(row->vals[ip]);
	row->vals[ip] = xstrdup(stored ? "true" : "false");
}

/* Checks what spans columns of one row: an area's level and parent, a
 * zigbee2mqtt device's name, values that must be unique in the file. */
static void
import_row_rules(struct import *im, struct row *row)
{
	const struct kind *k = im->kind;
	char key[ID_MAX * 2 + 300];
	int first, n, eco = kind_column(k, "ecosystem"),
		      ext = kind_column(k, "external_id");
	enum area_level lv, plv;
	const char *kv = row->vals[0];

	if (kv == NULL)
		return; /* the key column is already reported */
	if (strcmp(k->name, "visits") == 0) {
		import_visit_rules(im, row);
		return;
	}
	snprintf(key, sizeof(key), "key\x1f%s", kv);
	if ((first = strmap_add(&im->unique, key, row->line)) != 0)
		import_error(im, row->line, k->cols[0].name, "repeats the row on line %d",
			     first);
	/* codes were checked with the row: only their levels are wanted */
	if (strcmp(k->name, "areas") == 0 && validate_area_code(kv, &lv) == NULL) {
		row->level = (int)lv;
		row->vals[k->ncols] = xstrdup(validate_area_level_name(lv));
		if (row->vals[2] == NULL ||
		    validate_area_code(row->vals[2], &plv) != NULL)
			return;
		n = validate_area_digits(plv);
		if (plv >= lv)
			import_error(im, row->line, "parent_code",
				     "the parent must be a higher level than this %s",
				     validate_area_level_name(lv));
		else if (strncmp(kv, row->vals[2], (size_t)n) != 0)
			import_error(
			    im, row->line, "parent_code",
			    "the code does not start with the parent's first %d digits",
			    n);
	}
	if (eco >= 0 && row->vals[eco] != NULL &&
	    strcmp(row->vals[eco], "zigbee2mqtt") == 0) {
		if (ext < 0 || row->vals[ext] == NULL) {
			import_error(im, row->line, "external_id",
				     "required when ecosystem is zigbee2mqtt");
			return;
		}
	}
	if (ext >= 0 && row->vals[ext] != NULL) {
		snprintf(key, sizeof(key), "ext\x1f%s\x1f%s",
			 row->vals[eco] != NULL ? row->vals[eco] : "native",
			 row->vals[ext]);
		if ((first = strmap_add(&im->unique, key, row->line)) != 0)
			import_error(im, row->line, "external_id",
				     "repeats the device on line %d", first);
	}
	n = kind_column(k, "owntracks_user");
	if (n >= 0 && row->vals[n] != NULL) {
		snprintf(key, sizeof(key), "ot\x1f%s", row->vals[n]);
		if ((first = strmap_add(&im->unique, key, row->line)) != 0)
			import_error(im, row->line, "owntracks_user",
				     "repeats the volunteer on line %d", first);
	}
}

/* Checks one data record and keeps it as a row. */
static void
import_record(struct import *im, struct csv_reader *r, char *scratch, size_t scratchlen)
{
	const struct kind *k = im->kind;
	char reason[512];
	const char *why;
	struct row row;
	size_t i;
	int before = im->errors;

	if (r->nfields != im->nfields) {
		import_error(im, r->rec_line, NULL, "%d fields, but the header has %d",
			     r->nfields, im->nfields);
		return;
	}
	row.line = r->rec_line;
	row.level = 0;
	row.vals = xcalloc(k->ncols + 1, sizeof(*row.vals));
	for (i = 0; i < k->ncols; i++) {
		const struct column *c = &k->cols[i];
		char *v;

		if (im->hdr[i] < 0)
			continue;
		v = str_trim(r->fields[im->hdr[i]]);
		if (*v == '\0') {
			if (c->flags & C_NONEMPTY)
				import_error(im, row.line, c->name, "must not be empty");
			else if (c->def != NULL)
				row.vals[i] = xstrdup(c->def);
			continue;
		}
		why = check_value(c, v, im->today, scratch, scratchlen, reason,
				  sizeof(reason));
		if (why != NULL) {
			import_error(im, row.line, c->name, "%s", why);
			continue;
		}
		row.vals[i] = xstrdup(scratch);
		if (c->type == T_IDNUM) {
			char masked[VALIDATE_ID_NUMBER_LEN];

			validate_mask_id_number(scratch, masked, sizeof(masked));
			row.vals[k->ncols] = xstrdup(masked);
			im->id_numbers = true;
		}
	}
	if (im->errors == before)
		import_row_rules(im, &row);
	if (im->nrows == im->cap) {
		im->cap = im->cap ? im->cap * 2 : 256;
		im->rows = xrealloc(im->rows, im->cap * sizeof(*im->rows));
	}
	im->rows[im->nrows++] = row;
}

/* Frees every kept row. */
static void
import_free(struct import *im)
{
	size_t i, j;

	for (i = 0; i < im->nrows; i++) {
		for (j = 0; j <= im->kind->ncols; j++) {
			if (im->rows[i].vals[j] != NULL) {
				/* id numbers do not linger in freed memory */
				explicit_bzero(im->rows[i].vals[j],
					       strlen(im->rows[i].vals[j]));
				free(im->rows[i].vals[j]);
			}
		}
		free(im->rows[i].vals);
	}
	free(im->rows);
	im->rows = NULL;
	im->nrows = 0;
	strmap_free(&im->unique);
}

/* Orders area rows so that a parent comes before its children. */
static int
area_row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->level != y->level)
		return x->level - y->level;
	return x->line - y->line;
}

/* Runs a statement without results; prints the server's reason on failure. */
static int
db_exec(PGconn *conn, const char *path, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	int rc = 0;

	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		fprintf(stderr, "%s: database: %s", path, PQerrorMessage(conn));
		rc = -1;
	}
	PQclear(res);
	return rc;
}

/* Checks that every reference to another table (an area, a station, an
 * elder) exists in the database or, for an area's parent, in the file; reports
 * each row that refers to nothing. */
static int
import_check_refs(struct import *im, PGconn *conn)
{
	const struct kind *k = im->kind;
	struct strmap want = {0}, missing = {0};
	char sql[256], *arr = NULL;
	const char *param;
	size_t i, r, alen, acap;
	int before = im->errors, t;
	bool self;
	PGresult *res;

	for (i = 0; i < k->ncols; i++) {
		const struct column *c = &k->cols[i];
		char key[ID_MAX + 8];

		if (c->ref == NULL || im->hdr[i] < 0)
			continue;
		self = strcmp(c->name, "parent_code") == 0;
		acap = 256;
		alen = 0;
		arr = xcalloc(1, acap);
		arr[alen++] = '{';
		for (r = 0; r < im->nrows; r++) {
			const char *v = im->rows[r].vals[i];

			/* An area's parent may come from the same file. */
			snprintf(key, sizeof(key), "key\x1f%s", v != NULL ? v : "");
			if (v == NULL || (self && strmap_get(&im->unique, key) != 0) ||
			    strmap_add(&want, v, 1) != 0)
				continue;
			/* Values are ids or digits: nothing in them needs escaping. */
			if (alen + strlen(v) + 8 > acap) {
				acap = acap * 2 + strlen(v);
				arr = xrealloc(arr, acap);
			}
			alen += (size_t)snprintf(arr + alen, acap - alen, "%s\"%s\"",
						 alen > 1 ? "," : "", v);
		}
		arr[alen++] = '}';
		arr[alen] = '\0';
		snprintf(sql, sizeof(sql),
			 "SELECT v FROM unnest($1::text[]) AS v "
			 "WHERE NOT EXISTS (SELECT 1 FROM %s)",
			 c->ref);
		param = arr;
		res = PQexecParams(conn, sql, 1, NULL, &param, NULL, NULL, 0);
		free(arr);
		arr = NULL;
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			fprintf(stderr, "%s: database: %s", im->path,
				PQerrorMessage(conn));
			PQclear(res);
			im->errors++;
			break;
		}
		for (t = 0; t < PQntuples(res); t++)
			strmap_add(&missing, PQgetvalue(res, t, 0), 1);
		PQclear(res);
		for (r = 0; r < im->nrows && missing.n > 0; r++) {
			const char *v = im->rows[r].vals[i];

			if (v != NULL && strmap_get(&missing, v) != 0)
				import_error(
				    im, im->rows[r].line, c->name,
				    self ? "no such %s in this file or the database"
					 : "no such %s in the database",
				    c->ref_what);
		}
		strmap_free(&want);
		strmap_free(&missing);
	}
	strmap_free(&want);
	strmap_free(&missing);
	return im->errors > before ? -1 : 0;
}

/* Builds the upsert for the columns the file has, and says how many
 * parameters it takes. The id number is encrypted by pgcrypto under the key
 * passed as the last parameter. */
static int
import_sql(const struct import *im, char *sql, size_t len, int *nparams)
{
	const struct kind *k = im->kind;
	char cols[1024], vals[1024], sets[2048];
	size_t i, oc = 0, ov = 0, os = 0;
	int n = 0;
	bool areas = strcmp(k->name, "areas") == 0;

	/* a visit is recorded once: a sheet typed again, or a visit the
	 * responder already sent, is left as it is. t: new; f: there, the
	 * same elder, time and kind; d: there, but another visit */
	if (strcmp(k->name, "visits") == 0) {
		*nparams = 7;
		return str_copy(
		    sql,
		    "WITH ins AS (INSERT INTO visits (id, elder_id, responder_id, at, "
		    "kind, in_person, note) VALUES ($1, $2, $3, "
		    "to_timestamp($4::double precision), $5, $6::boolean, $7) "
		    "ON CONFLICT (id) DO NOTHING RETURNING 1) "
		    "SELECT CASE WHEN EXISTS (SELECT 1 FROM ins) THEN 't' "
		    "WHEN EXISTS (SELECT 1 FROM visits v WHERE v.id = $1 AND "
		    "v.elder_id = $2 AND v.at = to_timestamp($4::double precision) "
		    "AND v.kind = $5) THEN 'f' ELSE 'd' END",
		    len);
	}
	cols[0] = vals[0] = sets[0] = '\0';
	for (i = 0; i < k->ncols; i++) {
		const char *name = k->cols[i].name;

		if (im->hdr[i] < 0)
			continue;
		if (k->cols[i].type == T_IDNUM) {
			oc += (size_t)snprintf(cols + oc, sizeof(cols) - oc,
					       ", id_number_enc, id_number_masked");
			ov += (size_t)snprintf(
			    vals + ov, sizeof(vals) - ov,
			    ", pgp_sym_encrypt($%d::text, $%d::text), $%d", n + 1, n + 3,
			    n + 2);
			os += (size_t)snprintf(
			    sets + os, sizeof(sets) - os,
			    ", id_number_enc = EXCLUDED.id_number_enc, "
			    "id_number_masked = EXCLUDED.id_number_masked");
			n += 3;
			continue;
		}
		oc += (size_t)snprintf(cols + oc, sizeof(cols) - oc, "%s%s",
				       n ? ", " : "", name);
		ov += (size_t)snprintf(vals + ov, sizeof(vals) - ov, "%s$%d",
				       n ? ", " : "", n + 1);
		if (i > 0)
			os += (size_t)snprintf(sets + os, sizeof(sets) - os,
					       "%s%s = EXCLUDED.%s", os ? ", " : "", name,
					       name);
		n++;
	}
	if (areas) {
		oc += (size_t)snprintf(cols + oc, sizeof(cols) - oc, ", level");
		ov += (size_t)snprintf(vals + ov, sizeof(vals) - ov, ", $%d", n + 1);
		os += (size_t)snprintf(sets + os, sizeof(sets) - os,
				       ", level = EXCLUDED.level");
		n++;
	} else {
		oc += (size_t)snprintf(cols + oc, sizeof(cols) - oc, ", updated_at");
		ov += (size_t)snprintf(vals + ov, sizeof(vals) - ov, ", now()");
		os += (size_t)snprintf(sets + os, sizeof(sets) - os,
				       ", updated_at = now()");
	}
	if (oc >= sizeof(cols) || ov >= sizeof(vals) || os >= sizeof(sets) ||
	    n > IMPORT_PARAMS_MAX)
		return -1;
	*nparams = n;
	if ((size_t)snprintf(
		sql, len,
		"INSERT INTO %s (%s) VALUES (%s) ON CONFLICT (%s) DO UPDATE SET %s "
		"RETURNING (xmax = 0)",
		k->table, cols, vals, k->cols[0].name, sets) >= len)
		return -1;
	return 0;
}

/* Fills the parameters of one row in the order import_sql() uses. */
static void
import_params(const struct import *im, const struct row *row, const char *key,
	      const char **params)
{
	const struct kind *k = im->kind;
	size_t i;
	int n = 0;

	if (strcmp(k->name, "visits") == 0) {
		/* the order of import_sql(): key, then the columns but the id */
		params[n++] = row->vals[k->ncols];
		params[n++] = row->vals[kind_column(k, "elder_id")];
		params[n++] = row->vals[kind_column(k, "responder_id")];
		params[n++] = row->vals[kind_column(k, "at")];
		params[n++] = row->vals[kind_column(k, "kind")];
		params[n++] = row->vals[kind_column(k, "in_person")];
		params[n++] = row->vals[kind_column(k, "note")];
		return;
	}
	for (i = 0; i < k->ncols; i++) {
		if (im->hdr[i] < 0)
			continue;
		params[n++] = row->vals[i];
		if (k->cols[i].type == T_IDNUM) {
			params[n++] = row->vals[k->ncols];
			params[n++] = key;
		}
	}
	if (strcmp(k->name, "areas") == 0)
		params[n++] = row->vals[k->ncols];
}

/* Names the CSV column a failed statement is about, from the column or the
 * constraint the server names (elders_area_code_fkey -> area_code). */
static const char *
db_error_column(const struct kind *k, const PGresult *res)
{
	const char *col = PQresultErrorField(res, PG_DIAG_COLUMN_NAME);
	const char *con = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
	const char *best = NULL;
	size_t i;

	if (col != NULL && strncmp(col, "id_number", 9) == 0)
		return "id_number";
	if (col != NULL && kind_column(k, col) >= 0)
		return k->cols[kind_column(k, col)].name;
	if (con == NULL)
		return NULL;
	for (i = 0; i < k->ncols; i++) {
		const char *name = k->cols[i].name, *p = strstr(con, name);
		size_t n = strlen(name);

		if (p == NULL || p == con || p[-1] != '_' ||
		    (p[n] != '_' && p[n] != '\0'))
			continue;
		if (best == NULL || n > strlen(best))
			best = name;
	}
	return best;
}

/* Reports a failed row statement with its line and column; the server's
 * detail is left out because it quotes the values. */
static void
import_db_error(struct import *im, const struct row *row, const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *con = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
	const char *col = db_error_column(im->kind, res);

	if (state == NULL)
		state = "";
	if (strcmp(state, "23503") == 0)
		import_error(im, row->line, col, "refers to a row that does not exist");
	else if (strcmp(state, "23505") == 0)
		import_error(im, row->line, col,
			     "already used by another row in the database");
	else if (strcmp(state, "23514") == 0)
		import_error(im, row->line, col, "rejected by the database check %s",
			     con != NULL ? con : "");
	else if (strcmp(state, "23502") == 0)
		import_error(im, row->line, col, "must not be empty");
	else if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0)
		import_error(im, row->line, col,
			     "value rejected by the database (SQLSTATE %s)", state);
	else
		import_error(im, row->line, NULL, "database: %s",
			     msg != NULL ? msg : PQresultErrorMessage(res));
}

/* Says that a visit's key is already recorded for another visit (its sheet
 * number used twice, or a corrected sheet): it is left as it is. */
static void
import_differs(struct import *im, const struct row *row)
{
	if (++im->differ > IMPORT_ERRORS_SHOWN)
		return;
	progress_clear(&im->prog);
	fprintf(stderr,
		"%s:%d: column id: already recorded with another elder, time or kind; "
		"left as it is\n",
		im->path, row->line);
}

/* Sends the upserts in pipelined batches and counts new and updated rows;
 * stops at the first failed row. */
static int
import_apply(struct import *im, PGconn *conn, const char *key, long *added, long *updated)
{
	char sql[IMPORT_SQL_MAX];
	const char *params[IMPORT_PARAMS_MAX];
	size_t start, end, r;
	int nparams, rc = 0, st;
	PGresult *res;

	if (import_sql(im, sql, sizeof(sql), &nparams) < 0) {
		fprintf(stderr, "%s: internal error: statement too long\n", im->path);
		return -1;
	}
	res = PQprepare(conn, "cw_import", sql, nparams, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		fprintf(stderr, "%s: database: %s", im->path, PQerrorMessage(conn));
		PQclear(res);
		return -1;
	}
	PQclear(res);
	if (PQenterPipelineMode(conn) != 1) {
		fprintf(stderr, "%s: database: %s", im->path, PQerrorMessage(conn));
		return -1;
	}
	for (start = 0; start < im->nrows && rc == 0; start = end) {
		end = start + IMPORT_BATCH < im->nrows ? start + IMPORT_BATCH : im->nrows;
		for (r = start; r < end; r++) {
			import_params(im, &im->rows[r], key, params);
			if (PQsendQueryPrepared(conn, "cw_import", nparams, params, NULL,
						NULL, 0) != 1)
				goto conn_fail;
		}
		if (PQpipelineSync(conn) != 1)
			goto conn_fail;
		progress_show(&im->prog, "stored", end, im->nrows, end == im->nrows);
		for (r = start; r < end; r++) {
			while ((res = PQgetResult(conn)) != NULL) {
				st = PQresultStatus(res);
				if (st == PGRES_TUPLES_OK && PQntuples(res) == 1) {
					if (strcmp(PQgetvalue(res, 0, 0), "t") == 0)
						(*added)++;
					else
						(*updated)++;
					if (strcmp(PQgetvalue(res, 0, 0), "d") == 0)
						import_differs(im, &im->rows[r]);
				} else if (st == PGRES_FATAL_ERROR) {
					import_db_error(im, &im->rows[r], res);
					rc = -1;
				} else if (st != PGRES_PIPELINE_ABORTED) {
					import_error(im, im->rows[r].line, NULL,
						     "database: unexpected %s",
						     PQresStatus((ExecStatusType)st));
					rc = -1;
				}
				PQclear(res);
			}
		}
		/* The sync's own result closes the batch. */
		res = PQgetResult(conn);
		if (res == NULL || PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
			PQclear(res);
			goto conn_fail;
		}
		PQclear(res);
	}
	if (PQexitPipelineMode(conn) != 1)
		goto conn_fail;
	return rc;
conn_fail:
	progress_clear(&im->prog);
	fprintf(stderr, "%s: database: %s", im->path, PQerrorMessage(conn));
	return -1;
}

/* Reads the key that protects id numbers into key; -1 with a one-line
 * reason in err when there is none. */
static int
import_key(struct cli *cli, char *key, size_t len, char *err, size_t errlen)
{
	char why[CONF_STR_MAX + 128];
	bool missing;

	if (cli_key_read(cli, key, len, &missing, why, sizeof(why)) == 0)
		return 0;
	if (missing)
		snprintf(err, errlen,
			 "column id_number has values, but there is no id-number key: %s "
			 "(run `carewatch db migrate` to create it, or set [privacy] "
			 "id_key_file)",
			 why);
	else
		snprintf(err, errlen,
			 "column id_number has values, but the id-number key cannot be "
			 "used: %s",
			 why);
	return -1;
}

/* Connects and applies the checked rows in one transaction; -1 leaves the
 * database as it was, -2 too after a problem with the key, reported as
 * "FILE: nothing imported: reason" on one line. */
static int
import_db(struct import *im, struct cli *cli)
{
	char key[CLI_KEY_MAX] = "", err[2 * CONF_STR_MAX + 256];
	long added = 0, updated = 0;
	PGconn *conn = NULL;
	int rc = -1;

	/* messages from here on start on a clean line */
	progress_clear(&im->prog);
	if (im->id_numbers && import_key(cli, key, sizeof(key), err, sizeof(err)) < 0) {
		rc = -2;
		goto key_fail;
	}
	conn = cli_connect(cli);
	if (conn == NULL)
		goto out;
	/* The text checked above is UTF-8, whatever the server's default. */
	if (PQsetClientEncoding(conn, "UTF8") != 0) {
		fprintf(stderr, "%s: database: %s", im->path, PQerrorMessage(conn));
		goto out;
	}
	if (db_exec(conn, im->path, "BEGIN") < 0)
		goto out;
	/* id numbers under another key than the stored ones could never be
	 * read back together with them */
	if (im->id_numbers && cli_key_check(cli, conn, key, err, sizeof(err)) < 0) {
		rc = -2;
		db_exec(conn, im->path, "ROLLBACK");
		goto key_fail;
	}
	if (import_check_refs(im, conn) < 0)
		goto rollback;
	if (strcmp(im->kind->name, "areas") == 0)
		qsort(im->rows, im->nrows, sizeof(*im->rows), area_row_cmp);
	rc = import_apply(im, conn, im->id_numbers ? key : NULL, &added, &updated);
	progress_clear(&im->prog);
	if (rc < 0)
		goto rollback;
	rc = -1;
	if (db_exec(conn, im->path, "COMMIT") < 0)
		goto out;
	if (strcmp(im->kind->name, "visits") != 0)
		printf("imported %s: %zu rows (%ld new, %ld updated)\n", im->kind->name,
		       im->nrows, added, updated);
	else if (im->differ == 0)
		printf("imported visits: %zu rows (%ld new, %ld already present)\n",
		       im->nrows, added, updated);
	else
		printf("imported visits: %zu rows (%ld new, %ld already present, %d of "
		       "them recorded otherwise: left as they were)\n",
		       im->nrows, added, updated, im->differ);
	rc = 0;
	goto out;
key_fail:
	fprintf(stderr, "%s: nothing imported: %s\n", im->path, err);
	goto out;
rollback:
	if (PQstatus(conn) == CONNECTION_OK && PQpipelineStatus(conn) == PQ_PIPELINE_OFF)
		db_exec(conn, im->path, "ROLLBACK");
out:
	explicit_bzero(key, sizeof(key));
	if (conn != NULL)
		PQfinish(conn);
	return rc;
}

/* Prints how to call the command. */
static void
import_usage(FILE *f)
{
	fprintf(f, "usage: carewatch import KIND FILE.csv [--encoding utf-8|gb18030]\n"
		   "  KIND: areas, stations, volunteers, elders, devices, visits\n"
		   "  FILE.csv: a header row, then one row per record; - reads stdin\n"
		   "  visits: id,elder_id,at,kind[,in_person,responder_id,note]; at is\n"
		   "    YYYY-MM-DD HH:MM in [dispatch] timezone or RFC 3339; a visit\n"
		   "    already recorded is left as it is\n");
}

/* Checks the whole file; prints every problem (the first few) and returns -1
 * when there is any. */
static int
import_check(struct import *im, char *text, size_t len)
{
	struct csv_reader r;
	char *scratch;
	int n;

	if (csv_open(&r, text, len) < 0) {
		fprintf(stderr, "%s:%d: %s%s\n", im->path, r.err_line, r.err,
			" (if it was saved as GBK/GB18030, add --encoding gb18030)");
		return -1;
	}
	n = csv_next(&r);
	if (n <= 0) {
		if (n == 0)
			fprintf(stderr, "%s: empty file, expected a header row\n",
				im->path);
		else
			fprintf(stderr, "%s:%d: %s\n", im->path, r.err_line, r.err);
		csv_close(&r);
		return -1;
	}
	if (import_header(im, &r) < 0) {
		csv_close(&r);
		return -1;
	}
	scratch = xcalloc(1, CSV_FIELD_MAX + 64);
	while ((n = csv_next(&r)) == 1) {
		import_record(im, &r, scratch, CSV_FIELD_MAX + 64);
		progress_show(&im->prog, "checked", im->nrows, 0, false);
	}
	progress_show(&im->prog, "checked", im->nrows, 0, true);
	if (n < 0)
		import_error(im, r.err_line, NULL, "%s", r.err);
	explicit_bzero(scratch, CSV_FIELD_MAX + 64);
	free(scratch);
	csv_close(&r);
	return im->errors > 0 ? -1 : 0;
}

/* carewatch import KIND FILE.csv [--encoding utf-8|gb18030] */
int
cmd_import(struct cli *cli, int argc, char **argv)
{
	const char *kind = NULL, *path = NULL, *enc = "utf-8";
	struct import im;
	char *raw = NULL, *text = NULL, err[256];
	size_t rawlen = 0, len = 0, i;
	int a, line, db = 0, rc = 1;
	struct tm tm;
	time_t now;

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "-h") == 0 || strcmp(argv[a], "--help") == 0) {
			import_usage(stdout);
			return 0;
		} else if (strcmp(argv[a], "--encoding") == 0 && a + 1 < argc) {
			enc = argv[++a];
		} else if (strncmp(argv[a], "--encoding=", 11) == 0) {
			enc = argv[a] + 11;
		} else if (argv[a][0] == '-' && argv[a][1] != '\0') {
			fprintf(stderr, "carewatch import: unknown option %s\n", argv[a]);
			import_usage(stderr);
			return 2;
		} else if (kind == NULL) {
			kind = argv[a];
		} else if (path == NULL) {
			path = argv[a];
		} else {
			import_usage(stderr);
			return 2;
		}
	}
	if (kind == NULL || path == NULL) {
		import_usage(stderr);
		return 2;
	}
	memset(&im, 0, sizeof(im));
	im.path = path;
	im.prog.tty = isatty(STDERR_FILENO) == 1;
	/* dates and local times are the configured zone's */
	setenv("TZ", cli->conf.timezone, 1);
	tzset();
	im.now = now_wall();
	now = time(NULL);
	localtime_r(&now, &tm);
	im.today = (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strcmp(kinds[i].name, kind) == 0)
			im.kind = &kinds[i];
	}
	if (im.kind == NULL) {
		fprintf(stderr, "carewatch import: unknown kind \"%s\"\n", kind);
		import_usage(stderr);
		return 2;
	}
	if (strcasecmp(enc, "utf-8") != 0 && strcasecmp(enc, "utf8") != 0 &&
	    strcasecmp(enc, "gb18030") != 0 && strcasecmp(enc, "gbk") != 0) {
		fprintf(stderr, "carewatch import: --encoding takes utf-8 or gb18030\n");
		return 2;
	}
	if (strcmp(path, "-") == 0)
		raw = file_read_stream(stdin, (size_t)CSV_FILE_MAX, &rawlen, err,
				       sizeof(err));
	else
		raw = csv_read_file(path, &rawlen, err, sizeof(err));
	if (raw == NULL) {
		fprintf(stderr, "%s: %s\n", path, err);
		return 1;
	}
	if (strncasecmp(enc, "gb", 2) == 0) {
		if (csv_to_utf8(raw, rawlen, &text, &len, &line, err, sizeof(err)) < 0) {
			if (line > 0)
				fprintf(stderr, "%s:%d: %s\n", path, line, err);
			else
				fprintf(stderr, "%s: %s\n", path, err);
			goto out;
		}
	} else {
		text = raw;
		len = rawlen;
		raw = NULL;
	}
	if (import_check(&im, text, len) < 0 || (db = import_db(&im, cli)) < 0) {
		progress_clear(&im.prog);
		if (db == -2)
			goto out; /* reported on one line */
		if (im.errors > IMPORT_ERRORS_SHOWN)
			fprintf(stderr, "%s: %d more problems not shown\n", path,
				im.errors - IMPORT_ERRORS_SHOWN);
		fprintf(stderr, "%s: nothing imported\n", path);
		goto out;
	}
	rc = 0;
out:
	progress_clear(&im.prog);
	import_free(&im);
	if (raw != NULL)
		explicit_bzero(raw, rawlen);
	if (text != NULL)
		explicit_bzero(text, len);
	free(raw);
	free(text);
	return rc;
}
