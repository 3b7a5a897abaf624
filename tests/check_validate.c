/* check_validate.c - unit tests for the pure value checks of reference data */
#include "config.h"

#include <check.h>
#include <math.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "validate.h"

/* Asserts that a check failed with a reason containing want. */
#define ck_assert_reason(why, want)                                                      \
	do {                                                                             \
		const char *why_ = (why);                                                \
		ck_assert_msg(why_ != NULL, "accepted, expected \"%s\"", (want));        \
		ck_assert_msg(strstr(why_, (want)) != NULL,                              \
			      "reason \"%s\", expected \"%s\"", why_, (want));           \
	} while (0)

/* Real 身份证号 vectors: GB 11643's own example, whose check character is
 * X, and others whose check digit was computed by hand (ISO 7064 MOD 11-2). */
START_TEST(test_id_number_valid)
{
	char out[VALIDATE_ID_NUMBER_LEN];

	ck_assert_ptr_null(validate_id_number("11010519491231002X", out, sizeof(out)));
	ck_assert_str_eq(out, "11010519491231002X");
	/* a lower-case x is written upper-case */
	ck_assert_ptr_null(validate_id_number("11010519491231002x", out, sizeof(out)));
	ck_assert_str_eq(out, "11010519491231002X");
	ck_assert_ptr_null(validate_id_number("440524188001010014", out, sizeof(out)));
	ck_assert_str_eq(out, "440524188001010014");
	ck_assert_ptr_null(validate_id_number("140426194803021230", out, sizeof(out)));
	/* born on a leap day of a leap year */
	ck_assert_ptr_null(validate_id_number("140102200002291231", out, sizeof(out)));
	/* the 15-digit form of before 1999: all digits, birth date YYMMDD */
	ck_assert_ptr_null(validate_id_number("140426480302123", out, sizeof(out)));
	ck_assert_str_eq(out, "140426480302123");
}
END_TEST

/* A wrong check character, wrong shapes, and birth dates that do not exist
 * even where the check digit is right. */
START_TEST(test_id_number_invalid)
{
	char out[VALIDATE_ID_NUMBER_LEN];

	ck_assert_reason(validate_id_number("110105194912310021", out, sizeof(out)),
			 "invalid check digit");
	ck_assert_reason(validate_id_number("140426194803021234", out, sizeof(out)),
			 "invalid check digit");
	/* X where the digit 4 belongs */
	ck_assert_reason(validate_id_number("44052418800101001X", out, sizeof(out)),
			 "invalid check digit");
	/* two neighbouring digits swapped: the check digit notices */
	ck_assert_reason(validate_id_number("440524188010010014", out, sizeof(out)),
			 "invalid check digit");
	ck_assert_reason(validate_id_number("1101051949123100X2", out, sizeof(out)),
			 "17 digits");
	ck_assert_reason(validate_id_number("11010519491231002", out, sizeof(out)),
			 "18 characters");
	ck_assert_reason(validate_id_number("11010519491231002XX", out, sizeof(out)),
			 "18 characters");
	ck_assert_reason(validate_id_number("14042648030212X", out, sizeof(out)),
			 "all digits");
	/* right check digits, impossible birth dates: 1900 was no leap year,
	 * there is no month 13 */
	ck_assert_reason(validate_id_number("140102190002291235", out, sizeof(out)),
			 "birth date");
	ck_assert_reason(validate_id_number("140102195013011238", out, sizeof(out)),
			 "birth date");
	ck_assert_reason(validate_id_number("140426480230123", out, sizeof(out)),
			 "birth date");
}
END_TEST

/* The masked form keeps 4 characters each side: 1401**********1234. */
START_TEST(test_id_number_mask)
{
	char out[VALIDATE_ID_NUMBER_LEN];

	validate_mask_id_number("140102200002291231", out, sizeof(out));
	ck_assert_str_eq(out, "1401**********1231");
	validate_mask_id_number("11010519491231002X", out, sizeof(out));
	ck_assert_str_eq(out, "1101**********002X");
	validate_mask_id_number("140426480302123", out, sizeof(out));
	ck_assert_str_eq(out, "1404*******2123");
	ck_assert_ptr_null(strstr(out, "480302"));
}
END_TEST

/* Calendar dates: real days only, both spreadsheet separators. */
START_TEST(test_date)
{
	char out[16];
	int ymd = 0;

	ck_assert_ptr_null(validate_date("1948-03-02", out, sizeof(out), &ymd));
	ck_assert_str_eq(out, "1948-03-02");
	ck_assert_int_eq(ymd, 19480302);
	ck_assert_ptr_null(validate_date("1948/3/2", out, sizeof(out), NULL));
	ck_assert_str_eq(out, "1948-03-02");
	ck_assert_ptr_null(validate_date("2024-02-29", out, sizeof(out), NULL));
	ck_assert_ptr_null(validate_date("2000-02-29", out, sizeof(out), NULL));
	ck_assert_reason(validate_date("2026-02-29", out, sizeof(out), NULL),
			 "no such date");
	ck_assert_reason(validate_date("1900-02-29", out, sizeof(out), NULL),
			 "no such date");
	ck_assert_reason(validate_date("1900-13-01", out, sizeof(out), NULL),
			 "no such date");
	ck_assert_reason(validate_date("1948-04-31", out, sizeof(out), NULL),
			 "no such date");
	ck_assert_reason(validate_date("1948-00-10", out, sizeof(out), NULL),
			 "no such date");
	ck_assert_reason(validate_date("1948-01-00", out, sizeof(out), NULL),
			 "no such date");
	ck_assert_reason(validate_date("1948-03/02", out, sizeof(out), NULL),
			 "YYYY-MM-DD");
	ck_assert_reason(validate_date("1948-03-002", out, sizeof(out), NULL),
			 "YYYY-MM-DD");
	ck_assert_reason(validate_date("1948-+3-02", out, sizeof(out), NULL),
			 "YYYY-MM-DD");
	ck_assert_reason(validate_date("19480302", out, sizeof(out), NULL), "YYYY-MM-DD");
	ck_assert_reason(validate_date("1948-03-02 ", out, sizeof(out), NULL),
			 "YYYY-MM-DD");
	ck_assert_reason(validate_date("", out, sizeof(out), NULL), "YYYY-MM-DD");
}
END_TEST

/* Birth dates: not before 1880 and not after today. */
START_TEST(test_birth_date)
{
	char out[16];

	ck_assert_ptr_null(validate_birth_date("1948-03-02", 20261122, out, sizeof(out)));
	ck_assert_ptr_null(validate_birth_date("2026-11-22", 20261122, out, sizeof(out)));
	ck_assert_reason(validate_birth_date("2026-11-23", 20261122, out, sizeof(out)),
			 "future");
	ck_assert_reason(validate_birth_date("1879-12-31", 20261122, out, sizeof(out)),
			 "1880");
	ck_assert_reason(validate_birth_date("2026-02-29", 20261122, out, sizeof(out)),
			 "no such date");
}
END_TEST

/* Contacts, in order, normalised; full-width separators taken. */
START_TEST(test_contacts_valid)
{
	char out[256], reason[128];

	ck_assert_ptr_null(validate_contacts("李明:13900000009", out, sizeof(out), reason,
					     sizeof(reason)));
	ck_assert_str_eq(out, "李明:13900000009");
	ck_assert_ptr_null(
	    validate_contacts(" 李明 : 13900000009 ; 王芳（邻居）:0355-6000001;", out,
			      sizeof(out), reason, sizeof(reason)));
	ck_assert_str_eq(out, "李明:13900000009;王芳（邻居）:0355-6000001");
	ck_assert_ptr_null(validate_contacts("李明：13900000009；网格员:(0355) 600 0002",
					     out, sizeof(out), reason, sizeof(reason)));
	ck_assert_str_eq(out, "李明:13900000009;网格员:(0355) 600 0002");
}
END_TEST

/* Bad contacts name which one is wrong, never its number. */
START_TEST(test_contacts_invalid)
{
	char out[256], reason[128], many[512] = "";
	int i;

	ck_assert_reason(validate_contacts("李明 13900000009", out, sizeof(out), reason,
					   sizeof(reason)),
			 "contact 1: expected name:phone");
	ck_assert_reason(validate_contacts("李明:13900000009;王芳:call me", out,
					   sizeof(out), reason, sizeof(reason)),
			 "contact 2: telephone");
	ck_assert_ptr_null(strstr(reason, "call me"));
	ck_assert_reason(
	    validate_contacts(":13900000009", out, sizeof(out), reason, sizeof(reason)),
	    "contact 1: the name");
	ck_assert_reason(
	    validate_contacts("李明:12", out, sizeof(out), reason, sizeof(reason)),
	    "3 to 20 digits");
	ck_assert_reason(
	    validate_contacts(";;", out, sizeof(out), reason, sizeof(reason)),
	    "name:phone");
	for (i = 0; i < 11; i++)
		strcat(many, "a:13900000001;");
	ck_assert_reason(
	    validate_contacts(many, out, sizeof(out), reason, sizeof(reason)),
	    "more than 10 contacts");
	/* does not fit the output */
	ck_assert_reason(
	    validate_contacts("李明:13900000009", out, 8, reason, sizeof(reason)),
	    "too long");
}
END_TEST

/* Telephone numbers: digits with + - ( ) and spaces, 3 to 20 digits. */
START_TEST(test_phone)
{
	ck_assert_ptr_null(validate_phone("13900000001"));
	ck_assert_ptr_null(validate_phone("+86 (0355) 600-0000"));
	ck_assert_ptr_null(validate_phone("120"));
	ck_assert_reason(validate_phone("12"), "3 to 20 digits");
	ck_assert_reason(validate_phone("123456789012345678901"), "3 to 20 digits");
	ck_assert_reason(validate_phone("139-0000-000x"), "only digits");
	ck_assert_reason(validate_phone("1390000000１"), "only digits");
	ck_assert_reason(validate_phone("1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7"),
			 "longer than 32");
}
END_TEST

/* Booleans and genders, in English and Chinese. */
START_TEST(test_bool_gender)
{
	bool b = false;
	char g = '?';

	ck_assert_ptr_null(validate_bool("yes", &b));
	ck_assert(b);
	ck_assert_ptr_null(validate_bool("NO", &b));
	ck_assert(!b);
	ck_assert_ptr_null(validate_bool("是", &b));
	ck_assert(b);
	ck_assert_ptr_null(validate_bool("否", &b));
	ck_assert(!b);
	ck_assert_reason(validate_bool("true", &b), "yes or no");
	ck_assert_reason(validate_bool("1", &b), "yes or no");
	ck_assert_reason(validate_bool("y", &b), "yes or no");
	ck_assert_ptr_null(validate_gender("f", &g));
	ck_assert_int_eq(g, 'F');
	ck_assert_ptr_null(validate_gender("男", &g));
	ck_assert_int_eq(g, 'M');
	ck_assert_reason(validate_gender("X", &g), "F or M");
}
END_TEST

/* Skill and category lists become array literals without repeats; an
 * unknown item is named by its position. */
START_TEST(test_lists)
{
	char out[256], reason[512];

	ck_assert_ptr_null(validate_list("first_aid; nursing;first_aid;", validate_skills,
					 "skill", out, sizeof(out), reason,
					 sizeof(reason)));
	ck_assert_str_eq(out, "{first_aid,nursing}");
	ck_assert_ptr_null(validate_list("", validate_skills, "skill", out, sizeof(out),
					 reason, sizeof(reason)));
	ck_assert_str_eq(out, "{}");
	ck_assert_ptr_null(validate_list("living_alone;special_family",
					 validate_categories, "category", out,
					 sizeof(out), reason, sizeof(reason)));
	ck_assert_str_eq(out, "{living_alone,special_family}");
	ck_assert_reason(validate_list("living_alone;elderly", validate_categories,
				       "category", out, sizeof(out), reason,
				       sizeof(reason)),
			 "item 2 is not a known category");
	ck_assert_reason(validate_list("first_aid,nursing", validate_skills, "skill", out,
				       sizeof(out), reason, sizeof(reason)),
			 "item 1 is not a known skill");
	ck_assert_reason(validate_list("first_aid;nursing", validate_skills, "skill", out,
				       12, reason, sizeof(reason)),
			 "too long");
}
END_TEST

/* Kinds from their lists. */
START_TEST(test_words)
{
	char reason[512];

	ck_assert_ptr_null(validate_word("village_station", validate_station_kinds,
					 reason, sizeof(reason)));
	ck_assert_ptr_null(
	    validate_word("fall_radar", validate_device_kinds, reason, sizeof(reason)));
	ck_assert_ptr_null(
	    validate_word("zigbee2mqtt", validate_ecosystems, reason, sizeof(reason)));
	ck_assert_reason(validate_word("Village_Station", validate_station_kinds, reason,
				       sizeof(reason)),
			 "expected one of: county_center, regional_center");
	ck_assert_reason(
	    validate_word("zigbee", validate_ecosystems, reason, sizeof(reason)),
	    "native, zigbee2mqtt");
	/* SPEC §5's outcomes, all six, and nothing else */
	ck_assert_ptr_null(
	    validate_word("transferred_119", validate_outcomes, reason, sizeof(reason)));
	ck_assert_reason(
	    validate_word("resolved", validate_outcomes, reason, sizeof(reason)),
	    "expected one of: emergency_handled, false_alarm, test, "
	    "no_access, transferred_120, transferred_119");
}
END_TEST

/* Duty hours are normalised; from == to is refused. */
START_TEST(test_hours)
{
	char out[32];

	ck_assert_ptr_null(validate_hours("24h", out, sizeof(out)));
	ck_assert_str_eq(out, "24h");
	ck_assert_ptr_null(validate_hours("8:00-18:00", out, sizeof(out)));
	ck_assert_str_eq(out, "08:00-18:00");
	ck_assert_ptr_null(validate_hours("22:00-06:30", out, sizeof(out)));
	ck_assert_str_eq(out, "22:00-06:30");
	ck_assert_reason(validate_hours("08:00-08:00", out, sizeof(out)), "empty");
	ck_assert_reason(validate_hours("08:00-25:00", out, sizeof(out)), "HH:MM-HH:MM");
	ck_assert_reason(validate_hours("08:60-09:00", out, sizeof(out)), "HH:MM-HH:MM");
	ck_assert_reason(validate_hours("8-18", out, sizeof(out)), "HH:MM-HH:MM");
	ck_assert_reason(validate_hours("24H", out, sizeof(out)), "HH:MM-HH:MM");
}
END_TEST

/* Area codes and their levels from the trailing zeros. */
START_TEST(test_area_code)
{
	enum area_level lv = AREA_VILLAGE;

	ck_assert_ptr_null(validate_area_code("140000000000", &lv));
	ck_assert_int_eq(lv, AREA_PROVINCE);
	ck_assert_ptr_null(validate_area_code("140400000000", &lv));
	ck_assert_int_eq(lv, AREA_CITY);
	ck_assert_ptr_null(validate_area_code("140426000000", &lv));
	ck_assert_int_eq(lv, AREA_COUNTY);
	ck_assert_str_eq(validate_area_level_name(lv), "county");
	ck_assert_ptr_null(validate_area_code("140426100000", &lv));
	ck_assert_int_eq(lv, AREA_TOWNSHIP);
	ck_assert_int_eq(validate_area_digits(lv), 9);
	ck_assert_ptr_null(validate_area_code("140426100200", &lv));
	ck_assert_int_eq(lv, AREA_VILLAGE);
	ck_assert_reason(validate_area_code("000000000000", &lv), "12-digit");
	ck_assert_reason(validate_area_code("14042610020", &lv), "12-digit");
	ck_assert_reason(validate_area_code("1404261002000", &lv), "12-digit");
	ck_assert_reason(validate_area_code("14042610020x", &lv), "12-digit");
}
END_TEST

/* Numbers: plain decimals within their range, nothing else. */
START_TEST(test_numbers)
{
	double d = 0;
	long l = 0;
	char reason[64];

	ck_assert_int_eq(validate_number("36.19", -90, 90, &d), 0);
	ck_assert_double_eq_tol(d, 36.19, 1e-9);
	ck_assert_int_eq(validate_number("-180", -180, 180, &d), 0);
	ck_assert_int_eq(validate_number("90.0001", -90, 90, &d), -1);
	ck_assert_int_eq(validate_number("nan", -90, 90, &d), -1);
	ck_assert_int_eq(validate_number("0x10", 0, 100, &d), -1);
	ck_assert_int_eq(validate_number("north", -90, 90, &d), -1);
	ck_assert_int_eq(validate_number("", -90, 90, &d), -1);
	ck_assert_int_eq(validate_integer("4", 0, 4, &l), 0);
	ck_assert_int_eq(l, 4);
	ck_assert_int_eq(validate_integer("5", 0, 4, &l), -1);
	ck_assert_int_eq(validate_integer("-1", 0, 4, &l), -1);
	ck_assert_int_eq(validate_integer("2.5", 0, 4, &l), -1);
	ck_assert_int_eq(validate_integer("99999999999999999999", 0, 4, &l), -1);
	ck_assert_ptr_null(
	    validate_text("东关村 1 号", 200, false, reason, sizeof(reason)));
	ck_assert_reason(validate_text("a\nb", 200, false, reason, sizeof(reason)),
			 "line break");
	ck_assert_ptr_null(validate_text("a\nb\tc", 200, true, reason, sizeof(reason)));
	ck_assert_reason(validate_text("a\rb", 200, true, reason, sizeof(reason)),
			 "control");
	ck_assert_reason(validate_text("abcd", 3, false, reason, sizeof(reason)),
			 "longer than 3 bytes");
}
END_TEST

/* validate_visit(): what every way in (MQTT, HTTP, visit add, import)
 * checks of a visit record. */
START_TEST(test_visit)
{
	const double now = 1795140000; /* 2026-11-20T02:00:00Z */
	bool ip = false;

	ck_assert_ptr_null(validate_visit("routine", -1, now - 86400, now, &ip));
	ck_assert(ip);
	ck_assert_ptr_null(validate_visit("patrol", 1, now, now, &ip));
	ck_assert(ip);
	ck_assert_ptr_null(validate_visit("alarm_followup", -1, now, now, &ip));
	ck_assert_ptr_null(validate_visit("home_service", 0, now, now, &ip));
	ck_assert(!ip);
	/* a phone call is recorded, never in person */
	ip = true;
	ck_assert_ptr_null(validate_visit("phone", -1, now, now, &ip));
	ck_assert(!ip);
	ip = true;
	ck_assert_ptr_null(validate_visit("phone", 0, now, now, &ip));
	ck_assert(!ip);
	ck_assert_reason(validate_visit("phone", 1, now, now, &ip),
			 "a phone visit is not in person");
	ck_assert_reason(validate_visit("chat", -1, now, now, &ip), "unknown visit kind");
	ck_assert_reason(validate_visit("Routine", -1, now, now, &ip),
			 "unknown visit kind");
	ck_assert_reason(validate_visit(NULL, -1, now, now, &ip), "unknown visit kind");
	ck_assert_reason(validate_visit("", -1, now, now, &ip), "unknown visit kind");
	/* the clock skew: 300 s ahead is taken, a second more is not */
	ck_assert_int_eq(VALIDATE_VISIT_SKEW_S, 300);
	ck_assert_ptr_null(validate_visit("routine", -1, now + 300, now, &ip));
	ck_assert_reason(validate_visit("routine", -1, now + 301, now, &ip), "future");
	ck_assert_reason(validate_visit("routine", -1, now + 86400, now, &ip), "future");
	ck_assert_reason(validate_visit("routine", -1, NAN, now, &ip), "future");
	/* a refused visit leaves *in_person as it was */
	ip = true;
	ck_assert_ptr_nonnull(validate_visit("phone", 1, now, now, &ip));
	ck_assert(ip);
}
END_TEST

/* validate_boolean(): yes/no as people, TRUE/FALSE as Excel, 1/0. */
START_TEST(test_boolean)
{
	static const char *const yes[] = {"yes",  "YES", "true", "TRUE",
					  "True", "1",	 "是"};
	static const char *const no[] = {"no", "No", "false", "FALSE", "0", "否"};
	static const char *const bad[] = {"y", "n", "2", "", "yes ", "ja", "01"};
	bool b;
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		b = false;
		ck_assert_msg(validate_boolean(yes[i], &b) == NULL && b, "%s", yes[i]);
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		b = true;
		ck_assert_msg(validate_boolean(no[i], &b) == NULL && !b, "%s", no[i]);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_reason(validate_boolean(bad[i], &b), "expected yes or no");
}
END_TEST

/* validate_visit_time(): RFC 3339, or a local time in TZ as typed or as
 * Excel saves it; Asia/Shanghai is UTC+8 all year. */
START_TEST(test_visit_time)
{
	double at = 0;

	setenv("TZ", "Asia/Shanghai", 1);
	tzset();
	/* 23:59 local on 30 November is 15:59 UTC */
	ck_assert_ptr_null(validate_visit_time("2026-11-30 23:59", &at));
	ck_assert_double_eq(at, 1796054340);
	ck_assert_ptr_null(validate_visit_time("2026-11-30 23:59:30", &at));
	ck_assert_double_eq(at, 1796054370);
	ck_assert_ptr_null(validate_visit_time("2026-11-30T23:59", &at));
	ck_assert_double_eq(at, 1796054340);
	/* Excel: 2026/11/30 8:05 */
	ck_assert_ptr_null(validate_visit_time("2026/11/30 8:05", &at));
	ck_assert_double_eq(at, 1795997100);
	/* RFC 3339 carries its own offset, whatever TZ says */
	ck_assert_ptr_null(validate_visit_time("2026-11-20T10:00:00+08:00", &at));
	ck_assert_double_eq(at, 1795140000);
	ck_assert_ptr_null(validate_visit_time("2026-11-20T02:00:00Z", &at));
	ck_assert_double_eq(at, 1795140000);
	ck_assert_reason(validate_visit_time("2026-11-31 10:00", &at), "expected a time");
	ck_assert_reason(validate_visit_time("2026-11-30 24:00", &at), "expected a time");
	ck_assert_reason(validate_visit_time("2026-11-30 10:60", &at), "expected a time");
	ck_assert_reason(validate_visit_time("2026-11-30 9:5", &at), "expected a time");
	ck_assert_reason(validate_visit_time("2026-11-30", &at), "expected a time");
	ck_assert_reason(validate_visit_time("2026-11-30 10:00 pm", &at),
			 "expected a time");
	ck_assert_reason(validate_visit_time("yesterday", &at), "expected a time");
	ck_assert_reason(validate_visit_time("", &at), "expected a time");
	/* a local time a daylight-saving change skips does not exist */
	setenv("TZ", "America/New_York", 1);
	tzset();
	ck_assert_reason(validate_visit_time("2026-03-08 02:30", &at),
			 "no such local time");
	ck_assert_ptr_null(validate_visit_time("2026-03-08 03:30", &at));
	ck_assert_double_eq(at, 1772955000);
}
END_TEST

/* Builds the suite of every validate test. */
static Suite *
validate_suite(void)
{
	Suite *s = suite_create("validate");
	TCase *tc = tcase_create("id_number");

	tcase_add_test(tc, test_id_number_valid);
	tcase_add_test(tc, test_id_number_invalid);
	tcase_add_test(tc, test_id_number_mask);
	suite_add_tcase(s, tc);
	tc = tcase_create("dates");
	tcase_add_test(tc, test_date);
	tcase_add_test(tc, test_birth_date);
	suite_add_tcase(s, tc);
	tc = tcase_create("contacts");
	tcase_add_test(tc, test_contacts_valid);
	tcase_add_test(tc, test_contacts_invalid);
	tcase_add_test(tc, test_phone);
	suite_add_tcase(s, tc);
	tc = tcase_create("values");
	tcase_add_test(tc, test_bool_gender);
	tcase_add_test(tc, test_lists);
	tcase_add_test(tc, test_words);
	tcase_add_test(tc, test_hours);
	tcase_add_test(tc, test_area_code);
	tcase_add_test(tc, test_numbers);
	suite_add_tcase(s, tc);
	tc = tcase_create("visits");
	tcase_add_test(tc, test_visit);
	tcase_add_test(tc, test_boolean);
	tcase_add_test(tc, test_visit_time);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(validate_suite());
}
