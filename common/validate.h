/* validate.h - pure checks of single values of reference data (SPEC §2)
 * and of the words SPEC §5 allows: what the importer checks per field, what
 * the command line checks before it asks the daemon, and what the visits
 * API and the reports will check too. No I/O, no database.
 *
 * Checks that fail return a reason: a static string, or one written into the
 * caller's reason buffer. A reason never quotes the value, because values
 * may be personal data (id numbers, phones). On success they return NULL and,
 * where a value has a normal form, write it into out. */
#ifndef CW_VALIDATE_H
#define CW_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#define VALIDATE_NAME_MAX      200  /* bytes in a name */
#define VALIDATE_TEXT_MAX      1000 /* bytes in a one-line text (an address) */
#define VALIDATE_PHONE_MAX     32   /* characters in a telephone number */
#define VALIDATE_CONTACTS_MAX  10   /* contacts of one elder */
#define VALIDATE_ID_NUMBER_LEN 19   /* an 18-character id number and its NUL */

/* The words SPEC §2 allows, each list NULL-terminated. */
extern const char *const validate_station_kinds[];
extern const char *const validate_device_kinds[];
extern const char *const validate_ecosystems[];
extern const char *const validate_skills[];
/* in the order of the daemon's category bits (daemon/model.h) */
extern const char *const validate_categories[];
/* SPEC §5: how an incident ends (resolve, a responder's done) */
extern const char *const validate_outcomes[];

/* Levels of a 12-digit statistical division code (统计用区划代码). */
enum area_level {
	AREA_PROVINCE,
	AREA_CITY,
	AREA_COUNTY,
	AREA_TOWNSHIP,
	AREA_VILLAGE,
};

/* Checks a 12-digit area code and sets *level from its trailing zeros:
 * county = 6 digits + 000000, township = 9 + 000, village = all 12. */
const char *validate_area_code(const char *s, enum area_level *level);

/* "province", "city", "county", "township" or "village". */
const char *validate_area_level_name(enum area_level level);

/* How many leading digits of a code are its own at this level (2 for a
 * province ... 12 for a village): a child's code starts with them. */
int validate_area_digits(enum area_level level);

/* Parses a plain decimal number (no hex, inf or nan) within [lo, hi]; 0, or
 * -1 when s is not one. */
int validate_number(const char *s, double lo, double hi, double *out);

/* Parses a whole number of plain digits within [lo, hi]; 0 or -1. */
int validate_integer(const char *s, long lo, long hi, long *out);

/* Checks one line of text (multiline: tabs and line feeds allowed too) of
 * at most max bytes, without control characters. */
const char *validate_text(const char *s, size_t max, bool multiline, char *reason,
			  size_t rlen);

/* Checks a telephone number: 3 to 20 digits, with + - ( ) and spaces. */
const char *validate_phone(const char *s);

/* Checks that s is one of the words of list (validate_station_kinds ...). */
const char *validate_word(const char *s, const char *const *list, char *reason,
			  size_t rlen);

/* Checks a ;-separated list of words of allowed (validate_skills,
 * validate_categories), what naming one in the reason; writes it without
 * repeats as a PostgreSQL array literal ({first_aid,nursing}) into out. */
const char *validate_list(const char *s, const char *const *allowed, const char *what,
			  char *out, size_t len, char *reason, size_t rlen);

/* Checks a boolean: yes / no (any case), 是 / 否. */
const char *validate_bool(const char *s, bool *out);

/* Checks a gender: F / M (any case), 女 / 男; *out becomes 'F' or 'M'. */
const char *validate_gender(const char *s, char *out);

/* Checks duty hours, HH:MM-HH:MM (local time, may wrap past midnight) or
 * 24h; writes HH:MM-HH:MM with two-digit fields, or 24h, into out. */
const char *validate_hours(const char *s, char *out, size_t len);

/* Checks a calendar date YYYY-MM-DD (YYYY/M/D, as spreadsheets save it, is
 * taken too) that exists (no 2026-02-29); writes YYYY-MM-DD into out and
 * yyyymmdd into *ymd when ymd is not NULL. */
const char *validate_date(const char *s, char *out, size_t len, int *ymd);

/* validate_date() for a birth date: not before 1880 and not after today
 * (today as yyyymmdd, in the local time of the data). */
const char *validate_birth_date(const char *s, int today, char *out, size_t len);

/* Checks contacts "name:phone;name:phone" (full-width ： and ； as Chinese
 * input methods type them are taken too): at most VALIDATE_CONTACTS_MAX,
 * each a one-line name and a telephone number. Writes them normalised
 * (ASCII separators, no blanks around them) into out. */
const char *validate_contacts(const char *s, char *out, size_t len, char *reason,
			      size_t rlen);

/* Checks a 身份证号 (GB 11643): 17 digits and the ISO 7064 MOD 11-2 check
 * character, or the 15-digit form issued before 1999; the birth date inside
 * must exist. Writes it with an upper-case X into out (at least
 * VALIDATE_ID_NUMBER_LEN bytes). */
const char *validate_id_number(const char *s, char *out, size_t len);

/* Masks an id number for display: the first 4 and last 4 characters, a star
 * for each one between (1401**********1234). */
void validate_mask_id_number(const char *s, char *out, size_t len);

/* --- visit records (issue 8): every way in (MQTT, HTTP, `carewatch visit
 * add`, `carewatch import visits`) checks them with validate_visit() ---- */

#define VALIDATE_VISIT_SKEW_S 300 /* a visit may be this far in the future */
#define VALIDATE_VISIT_ID_MAX 40  /* bytes in a visit id, before its key prefix */

/* routine, patrol, alarm_followup, home_service, phone */
extern const char *const validate_visit_kinds[];

/* Checks a visit's kind (one of validate_visit_kinds), whether it was in
 * person (1, 0, or -1 when not said: then it is unless the kind is phone;
 * a phone visit said to be in person is refused) and its time at (epoch
 * seconds), which may be at most VALIDATE_VISIT_SKEW_S past now. Sets
 * *in_person_out to what is stored. */
const char *validate_visit(const char *kind, int in_person, double at, double now,
			   bool *in_person_out);

/* Checks a boolean as spreadsheets and people write it: yes / no, true /
 * false (any case, Excel's TRUE / FALSE), 1 / 0, 是 / 否. */
const char *validate_boolean(const char *s, bool *out);

/* Parses a visit time: RFC 3339 with an offset (2026-11-20T08:00:00+08:00),
 * or a local time in the process's zone (TZ), YYYY-MM-DD HH:MM[:SS], with
 * YYYY/M/D and H:MM as Excel saves them. A local time that does not exist
 * (a daylight-saving gap) is refused. *at gets epoch seconds. */
const char *validate_visit_time(const char *s, double *at);

#endif
