/* validate.c - pure checks of single values of reference data (SPEC §2) */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "conf.h"
#include "util.h"
#include "validate.h"

const char *const validate_station_kinds[] = {"county_center", "regional_center",
					      "village_station", "day_care", NULL};
const char *const validate_device_kinds[] = {"sos_button", "smoke",	 "gas",	   "co",
					     "water_leak", "fall_radar", "motion", "door",
					     "wearable",   "hub",	 NULL};
const char *const validate_ecosystems[] = {"native", "zigbee2mqtt", NULL};
const char *const validate_skills[] = {"first_aid",  "nursing", "fire_safety",
				       "gas_safety", "repair",	NULL};
const char *const validate_categories[] = {
    "extreme_poverty", "low_income", "econ_hardship",
    "disabled",	       "dementia",   "severe_disability",
    "living_alone",    "empty_nest", "left_behind",
    "special_family",  NULL};
const char *const validate_outcomes[] = {
    "emergency_handled", "false_alarm",	    "test", "no_access",
    "transferred_120",	 "transferred_119", NULL};

static const char *const area_level_names[] = {"province", "city", "county", "township",
					       "village"};
static const int area_level_digits[] = {2, 4, 6, 9, 12};

#define LIST_WORDS_MAX 16 /* words in one allowed list */

/* True when s is all ASCII digits and exactly n long. */
static bool
all_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
	}
	return s[n] == '\0';
}

/* Reads n digits at s as a number (the caller checked they are digits). */
static int
digits_value(const char *s, int n)
{
	int v = 0, i;

	for (i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/* Index of name in a NULL-terminated list, or -1. */
static int
word_index(const char *const *list, const char *name)
{
	int i;

	for (i = 0; list[i] != NULL; i++) {
		if (strcmp(list[i], name) == 0)
			return i;
	}
	return -1;
}

/* Writes "a, b, c" from a NULL-terminated list into buf, for reasons. */
static const char *
word_list(const char *const *list, char *buf, size_t len)
{
	size_t o = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; list[i] != NULL && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", list[i]);
	return buf;
}

const char *
validate_area_code(const char *s, enum area_level *level)
{
	int lv, i;

	if (!all_digits(s, 12))
		return "expected a 12-digit area code";
	for (lv = AREA_PROVINCE; lv < AREA_VILLAGE; lv++) {
		for (i = area_level_digits[lv]; i < 12 && s[i] == '0'; i++)
			;
		if (i == 12)
			break;
	}
	if (lv == AREA_PROVINCE && s[0] == '0' && s[1] == '0')
		return "expected a 12-digit area code";
	*level = (enum area_level)lv;
	return NULL;
}

const char *
validate_area_level_name(enum area_level level)
{
	return area_level_names[level];
}

int
validate_area_digits(enum area_level level)
{
	return area_level_digits[level];
}

int
validate_number(const char *s, double lo, double hi, double *out)
{
	const char *p;
	char *end;
	double d;

	for (p = s; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p) && strchr("+-.eE", *p) == NULL)
			return -1;
	}
	errno = 0;
	d = strtod(s, &end);
	if (errno || end == s || *end != '\0' || !isfinite(d) || d < lo || d > hi)
		return -1;
	*out = d;
	return 0;
}

int
validate_integer(const char *s, long lo, long hi, long *out)
{
	char *end;
	long l;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	l = strtol(s, &end, 10);
	if (errno || *end != '\0' || l < lo || l > hi)
		return -1;
	*out = l;
	return 0;
}

const char *
validate_text(const char *s, size_t max, bool multiline, char *reason, size_t rlen)
{
	const char *p;

	if (strlen(s) > max) {
		snprintf(reason, rlen, "longer than %zu bytes", max);
		return reason;
	}
	for (p = s; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (multiline && (c == '\n' || c == '\t'))
			continue;
		if (c < 0x20 || c == 0x7f)
			return multiline ? "contains a control character"
					 : "contains a line break or control character";
	}
	return NULL;
}

const char *
validate_phone(const char *s)
{
	int digits = 0;

	if (strlen(s) > VALIDATE_PHONE_MAX)
		return "telephone number longer than 32 characters";
	for (; *s != '\0'; s++) {
		if (isdigit((unsigned char)*s))
			digits++;
		else if (strchr("+-() ", *s) == NULL)
			return "telephone number may hold only digits, + - ( ) and "
			       "spaces";
	}
	if (digits < 3 || digits > 20)
		return "telephone number needs 3 to 20 digits";
	return NULL;
}

const char *
validate_word(const char *s, const char *const *list, char *reason, size_t rlen)
{
	char words[256];

	if (word_index(list, s) >= 0)
		return NULL;
	snprintf(reason, rlen, "expected one of: %s",
		 word_list(list, words, sizeof(words)));
	return reason;
}

const char *
validate_list(const char *s, const char *const *allowed, const char *what, char *out,
	      size_t len, char *reason, size_t rlen)
{
	bool used[LIST_WORDS_MAX] = {false};
	char *copy, *item, *save = NULL, words[256];
	const char *why = NULL;
	size_t o = 1;
	int n = 0, k;

	if (len < 3)
		return "too long";
	copy = xstrdup(s);

	out[0] = '{';
	out[1] = '\0';
	for (item = strtok_r(copy, ";", &save); item != NULL;
	     item = strtok_r(NULL, ";", &save)) {
		item = str_trim(item);
		if (*item == '\0')
			continue;
		n++;
		k = word_index(allowed, item);
		if (k < 0 || k >= LIST_WORDS_MAX) {
			snprintf(reason, rlen, "item %d is not a known %s (allowed: %s)",
				 n, what, word_list(allowed, words, sizeof(words)));
			why = reason;
			break;
		}
		if (used[k])
			continue;
		used[k] = true;
		/* room for the word, its comma and the closing brace */
		if (o + strlen(allowed[k]) + 3 > len) {
			why = "too long";
			break;
		}
		o += (size_t)snprintf(out + o, len - o, "%s%s", o > 1 ? "," : "",
				      allowed[k]);
	}
	if (why == NULL)
		snprintf(out + o, len - o, "}");
	free(copy);
	return why;
}

const char *
validate_bool(const char *s, bool *out)
{
	if (strcasecmp(s, "yes") == 0 || strcmp(s, "是") == 0)
		*out = true;
	else if (strcasecmp(s, "no") == 0 || strcmp(s, "否") == 0)
		*out = false;
	else
		return "expected yes or no";
	return NULL;
}

const char *
validate_gender(const char *s, char *out)
{
	if (strcasecmp(s, "F") == 0 || strcmp(s, "女") == 0)
		*out = 'F';
	else if (strcasecmp(s, "M") == 0 || strcmp(s, "男") == 0)
		*out = 'M';
	else
		return "expected F or M";
	return NULL;
}

const char *
validate_hours(const char *s, char *out, size_t len)
{
	int a, b;

	if (conf_parse_hours(s, &a, &b) < 0)
		return "expected HH:MM-HH:MM or 24h";
	if (strcmp(s, "24h") == 0) {
		str_copy(out, "24h", len);
		return NULL;
	}
	if (a == b)
		return "the hours are empty (from equals to); use 24h for all day";
	snprintf(out, len, "%02d:%02d-%02d:%02d", a / 60, a % 60, b / 60, b % 60);
	return NULL;
}

/* Reads 1 or 2 digits at *p into *v and advances; -1 when there are none
 * or more. */
static int
date_field(const char **p, int *v)
{
	int n = 0;

	*v = 0;
	while (isdigit((unsigned char)(*p)[n]) && n < 3) {
		*v = *v * 10 + ((*p)[n] - '0');
		n++;
	}
	if (n < 1 || n > 2)
		return -1;
	*p += n;
	return 0;
}

const char *
validate_date(const char *s, char *out, size_t len, int *ymd)
{
	const char *p = s + 4;
	int y, m, d;
	char sep;

	if (strlen(s) < 8 || !isdigit((unsigned char)s[0]) ||
	    !isdigit((unsigned char)s[1]) || !isdigit((unsigned char)s[2]) ||
	    !isdigit((unsigned char)s[3]) || (s[4] != '-' && s[4] != '/'))
		return "expected a date YYYY-MM-DD";
	y = digits_value(s, 4);
	sep = *p++;
	if (date_field(&p, &m) < 0 || *p++ != sep || date_field(&p, &d) < 0 || *p != '\0')
		return "expected a date YYYY-MM-DD";
	if (!date_exists(y, m, d))
		return "no such date";
	snprintf(out, len, "%04d-%02d-%02d", y, m, d);
	if (ymd != NULL)
		*ymd = y * 10000 + m * 100 + d;
	return NULL;
}

const char *
validate_birth_date(const char *s, int today, char *out, size_t len)
{
	const char *why;
	int ymd;

	if ((why = validate_date(s, out, len, &ymd)) != NULL)
		return why;
	if (ymd < 18800101)
		return "a birth date before 1880";
	if (ymd > today)
		return "date in the future";
	return NULL;
}

/* Replaces the full-width ：and ；that Chinese input methods type with ASCII
 * ones, in place. */
static void
ascii_punct(char *s)
{
	char *w = s;

	while (*s != '\0') {
		if (strncmp(s, "\xef\xbc\x9a", 3) == 0 ||
		    strncmp(s, "\xef\xbc\x9b", 3) == 0) {
			*w++ = s[2] == '\x9a' ? ':' : ';';
			s += 3;
		} else {
			*w++ = *s++;
		}
	}
	*w = '\0';
}

/* validate_contacts() over a copy it may cut up. */
static const char *
contacts_check(char *s, char *out, size_t len, char *reason, size_t rlen)
{
	char *item, *save = NULL, *colon, *name, *phone;
	const char *why;
	size_t o = 0;
	int n = 0;

	ascii_punct(s);
	out[0] = '\0';
	for (item = strtok_r(s, ";", &save); item != NULL;
	     item = strtok_r(NULL, ";", &save)) {
		item = str_trim(item);
		if (*item == '\0')
			continue;
		if (++n > VALIDATE_CONTACTS_MAX) {
			snprintf(reason, rlen, "more than %d contacts",
				 VALIDATE_CONTACTS_MAX);
			return reason;
		}
		if ((colon = strchr(item, ':')) == NULL) {
			snprintf(reason, rlen, "contact %d: expected name:phone", n);
			return reason;
		}
		*colon = '\0';
		name = str_trim(item);
		phone = str_trim(colon + 1);
		if (*name == '\0' ||
		    validate_text(name, VALIDATE_NAME_MAX, false, reason, rlen) != NULL) {
			snprintf(reason, rlen,
				 "contact %d: the name is empty, too long or holds a "
				 "control character",
				 n);
			return reason;
		}
		if ((why = validate_phone(phone)) != NULL) {
			snprintf(reason, rlen, "contact %d: %s", n, why);
			return reason;
		}
		if (o + strlen(name) + strlen(phone) + 3 > len)
			return "contacts too long";
		o += (size_t)snprintf(out + o, len - o, "%s%s:%s", o ? ";" : "", name,
				      phone);
	}
	if (n == 0)
		return "expected name:phone;name:phone";
	return NULL;
}

const char *
validate_contacts(const char *s, char *out, size_t len, char *reason, size_t rlen)
{
	char *copy = xstrdup(s);
	const char *why = contacts_check(copy, out, len, reason, rlen);

	/* phones are personal data */
	explicit_bzero(copy, strlen(s));
	free(copy);
	if (why != NULL && len > 0)
		out[0] = '\0';
	return why;
}

const char *
validate_id_number(const char *s, char *out, size_t len)
{
	static const int weight[17] = {7, 9, 10, 5,  8, 4, 2, 1, 6,
				       3, 7, 9,	 10, 5, 8, 4, 2};
	static const char check[] = "10X98765432";
	size_t n = strlen(s), i;
	int sum = 0;

	if (len < VALIDATE_ID_NUMBER_LEN)
		return "internal error: buffer too small";
	if (n == 15) {
		if (!all_digits(s, 15))
			return "a 15-character id number must be all digits";
		if (!date_exists(1900 + digits_value(s + 6, 2), digits_value(s + 8, 2),
				 digits_value(s + 10, 2)))
			return "the birth date in the id number does not exist";
		str_copy(out, s, len);
		return NULL;
	}
	if (n != 18)
		return "expected 18 characters (or 15 digits)";
	for (i = 0; i < 17; i++) {
		if (!isdigit((unsigned char)s[i]))
			return "expected 17 digits and a check character";
		sum += (s[i] - '0') * weight[i];
	}
	if (toupper((unsigned char)s[17]) != check[sum % 11])
		return "invalid check digit";
	if (digits_value(s + 6, 4) < 1800 ||
	    !date_exists(digits_value(s + 6, 4), digits_value(s + 10, 2),
			 digits_value(s + 12, 2)))
		return "the birth date in the id number does not exist";
	str_copy(out, s, len);
	out[17] = (char)toupper((unsigned char)out[17]);
	return NULL;
}

void
validate_mask_id_number(const char *s, char *out, size_t len)
{
	size_t n, i;

	str_copy(out, s, len);
	n = strlen(out);
	for (i = 4; i + 4 < n; i++)
		out[i] = '*';
}

/* --- visit records ------------------------------------------------------ */

const char *const validate_visit_kinds[] = {"routine",	    "patrol", "alarm_followup",
					    "home_service", "phone",  NULL};

const char *
validate_visit(const char *kind, int in_person, double at, double now,
	       bool *in_person_out)
{
	size_t i;
	bool phone;

	for (i = 0; validate_visit_kinds[i] != NULL; i++) {
		if (kind != NULL && strcmp(kind, validate_visit_kinds[i]) == 0)
			break;
	}
	if (validate_visit_kinds[i] == NULL)
		return "unknown visit kind (routine, patrol, alarm_followup, "
		       "home_service or phone)";
	/* a phone call is a visit, but not one in person: the visit rate
	 * counts it only when [reports] visit_phone_counts says so */
	phone = strcmp(kind, "phone") == 0;
	if (phone && in_person == 1)
		return "a phone visit is not in person";
	if (!isfinite(at) || at > now + VALIDATE_VISIT_SKEW_S)
		return "a visit in the future";
	*in_person_out = in_person < 0 ? !phone : in_person == 1;
	return NULL;
}

const char *
validate_boolean(const char *s, bool *out)
{
	if (strcasecmp(s, "yes") == 0 || strcasecmp(s, "true") == 0 ||
	    strcmp(s, "1") == 0 || strcmp(s, "是") == 0)
		*out = true;
	else if (strcasecmp(s, "no") == 0 || strcasecmp(s, "false") == 0 ||
		 strcmp(s, "0") == 0 || strcmp(s, "否") == 0)
		*out = false;
	else
		return "expected yes or no (true/false, 1/0)";
	return NULL;
}

/* Reads the H:MM or HH:MM[:SS] of a local time. */
static int
clock_parse(const char *p, int *h, int *mi, int *sec)
{
	int n = 0;

	*h = *mi = *sec = 0;
	if (!isdigit((unsigned char)*p))
		return -1;
	while (isdigit((unsigned char)*p) && n < 2)
		*h = *h * 10 + (*p++ - '0'), n++;
	if (*p++ != ':' || !isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]))
		return -1;
	*mi = (p[0] - '0') * 10 + (p[1] - '0');
	p += 2;
	if (*p == ':') {
		p++;
		if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]))
			return -1;
		*sec = (p[0] - '0') * 10 + (p[1] - '0');
		p += 2;
	}
	if (*p != '\0' || *h > 23 || *mi > 59 || *sec > 59)
		return -1;
	return 0;
}

const char *
validate_visit_time(const char *s, double *at)
{
	static const char expected[] =
	    "expected a time: YYYY-MM-DD HH:MM (local) or RFC 3339 "
	    "(2026-11-20T08:00:00+08:00)";
	char date[16], day[16];
	const char *sp;
	size_t n;
	int ymd, h, mi, sec;
	struct tm tm;
	time_t t;

	if (time_parse_rfc3339(s, at) == 0)
		return NULL;
	sp = strpbrk(s, " T");
	if (sp == NULL || (n = (size_t)(sp - s)) >= sizeof(date))
		return expected;
	memcpy(date, s, n);
	date[n] = '\0';
	while (*sp == ' ' || *sp == 'T')
		sp++;
	if (validate_date(date, day, sizeof(day), &ymd) != NULL ||
	    clock_parse(sp, &h, &mi, &sec) < 0)
		return expected;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = ymd / 10000 - 1900;
	tm.tm_mon = ymd / 100 % 100 - 1;
	tm.tm_mday = ymd % 100;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	tm.tm_isdst = -1;
	t = mktime(&tm);
	if (t == (time_t)-1 || tm.tm_hour != h || tm.tm_min != mi ||
	    tm.tm_mday != ymd % 100)
		return "no such local time (a daylight-saving gap)";
	*at = (double)t;
	return NULL;
}
