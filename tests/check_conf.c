/* check_conf.c - unit tests for the carewatchd.conf reader (SPEC §7) */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_run.h"
#include "conf.h"

/* Parses text as "test.conf" and expects success. */
static void
parse_ok(struct conf *c, const char *text)
{
	char err[256] = "";
	int rc = conf_parse(c, "test.conf", text, err, sizeof(err));

	ck_assert_msg(rc == 0, "conf_parse failed: %s", err);
}

/* Parses text and expects an error whose message contains every one of the
 * given fragments (NULL-terminated list, at most three). */
static void
parse_err(const char *text, const char *want1, const char *want2, const char *want3)
{
	const char *want[3] = {want1, want2, want3};
	struct conf c;
	char err[256] = "";
	int i;

	ck_assert_int_eq(conf_parse(&c, "test.conf", text, err, sizeof(err)), -1);
	for (i = 0; i < 3; i++)
		if (want[i] != NULL)
			ck_assert_msg(strstr(err, want[i]) != NULL,
				      "error \"%s\" lacks \"%s\" (input: %s)", err,
				      want[i], text);
}

/* Every SPEC §7 key (and the extra ones) has its default. */
START_TEST(test_defaults)
{
	struct conf c;

	parse_ok(&c, "");
	ck_assert_str_eq(c.mqtt_host, "127.0.0.1");
	ck_assert_int_eq(c.mqtt_port, 1883);
	ck_assert_str_eq(c.mqtt_client_id, "carewatchd");
	ck_assert_str_eq(c.mqtt_username, "");
	ck_assert_str_eq(c.mqtt_password_file, "");
	ck_assert_str_eq(c.mqtt_cafile, "");
	ck_assert_str_eq(c.topic_prefix, "carewatch");
	ck_assert_str_eq(c.z2m_base, "zigbee2mqtt");
	ck_assert(c.owntracks);
	ck_assert_str_eq(c.db_conninfo, "dbname=carewatch");
	ck_assert_str_eq(c.http_listen, "127.0.0.1:8080");
	ck_assert_double_eq(c.offer_timeout_p1_s, 60);
	ck_assert_double_eq(c.offer_timeout_p2_s, 300);
	ck_assert_int_eq(c.max_offers, 3);
	ck_assert_double_eq(c.escalate_after_s, 300);
	ck_assert_double_eq(c.volunteer_max_km, 5);
	ck_assert_double_eq(c.position_max_age_s, 1800);
	ck_assert_str_eq(c.timezone, "Asia/Shanghai");
	ck_assert_str_eq(c.night, "23:00-05:00");
	ck_assert_double_eq(c.retry_s, 30);
	ck_assert_str_eq(c.spool_dir, "/var/lib/carewatch");
	ck_assert_int_eq(c.mqtt_keepalive, 30);
	ck_assert_int_eq(c.payload_max, 4096);
	ck_assert(!c.verbose);
}
END_TEST

/* conf_defaults gives the same struct as parsing an empty file. */
START_TEST(test_defaults_match_empty_parse)
{
	struct conf a, b;

	conf_defaults(&a);
	parse_ok(&b, "# nothing but a comment\n\n");
	ck_assert_int_eq(memcmp(&a, &b, sizeof(a)), 0);
}
END_TEST

/* The example block of SPEC §7, inline comments included, parses as is. */
START_TEST(test_spec_example)
{
	static const char text[] =
	    "[mqtt]\n"
	    "host = 127.0.0.1\n"
	    "port = 1883\n"
	    "client_id = carewatchd\n"
	    "username =\n"
	    "password_file =          # file holding the password (never in this file)\n"
	    "cafile =                 # TLS when set\n"
	    "topic_prefix = carewatch\n"
	    "z2m_base = zigbee2mqtt   # comma-separated for several bridges\n"
	    "owntracks = on\n"
	    "\n"
	    "[database]\n"
	    "conninfo = dbname=carewatch   # libpq connection string\n"
	    "\n"
	    "[http]\n"
	    "listen = 127.0.0.1:8080\n"
	    "\n"
	    "[dispatch]\n"
	    "offer_timeout_p1_s = 60\n"
	    "offer_timeout_p2_s = 300\n"
	    "max_offers = 3\n"
	    "escalate_after_s = 300\n"
	    "volunteer_max_km = 5\n"
	    "position_max_age_s = 1800\n"
	    "timezone = Asia/Shanghai\n"
	    "\n"
	    "[spool]\n"
	    "dir = /var/lib/carewatch     # local journal while the database is away\n";
	struct conf c, d;

	parse_ok(&c, text);
	conf_defaults(&d);
	ck_assert_str_eq(c.mqtt_password_file, "");
	ck_assert_str_eq(c.mqtt_cafile, "");
	ck_assert_str_eq(c.z2m_base, "zigbee2mqtt");
	ck_assert_str_eq(c.db_conninfo, "dbname=carewatch");
	ck_assert_str_eq(c.spool_dir, "/var/lib/carewatch");
	ck_assert_int_eq(memcmp(&c, &d, sizeof(c)), 0);
}
END_TEST

/* Values of every type are stored; whitespace around them is trimmed. */
START_TEST(test_values)
{
	struct conf c;

	parse_ok(&c, "[mqtt]\n"
		     "  host   =   broker.example.org  \n"
		     "port=8883\n"
		     "owntracks = off\n"
		     "z2m_base = zigbee2mqtt,z2m-north\n"
		     "[ dispatch ]\n"
		     "max_offers = 5\n"
		     "volunteer_max_km = 2.5\n"
		     "timezone = Asia/Urumqi\n"
		     "night = 21:30-05:45\n"
		     "[database]\n"
		     "conninfo = host=db.local dbname=cw user=cw\n"
		     "[daemon]\n"
		     "verbose = yes\n");
	ck_assert_str_eq(c.mqtt_host, "broker.example.org");
	ck_assert_int_eq(c.mqtt_port, 8883);
	ck_assert(!c.owntracks);
	ck_assert_str_eq(c.z2m_base, "zigbee2mqtt,z2m-north");
	ck_assert_int_eq(c.max_offers, 5);
	ck_assert_double_eq(c.volunteer_max_km, 2.5);
	ck_assert_str_eq(c.timezone, "Asia/Urumqi");
	ck_assert_str_eq(c.night, "21:30-05:45");
	ck_assert_str_eq(c.db_conninfo, "host=db.local dbname=cw user=cw");
	ck_assert(c.verbose);
	/* untouched keys keep their defaults */
	ck_assert_str_eq(c.mqtt_client_id, "carewatchd");
	ck_assert_double_eq(c.offer_timeout_p1_s, 60);
}
END_TEST

/* The [dispatch] timers take fractions of a second (SPEC §7). */
START_TEST(test_fractions)
{
	struct conf c;

	parse_ok(&c, "[dispatch]\n"
		     "offer_timeout_p1_s = 0.5\n"
		     "offer_timeout_p2_s = 1.25\n"
		     "escalate_after_s = 2.5\n"
		     "retry_s = 0.1\n"
		     "position_max_age_s = 0.75\n");
	ck_assert_double_eq_tol(c.offer_timeout_p1_s, 0.5, 1e-12);
	ck_assert_double_eq_tol(c.offer_timeout_p2_s, 1.25, 1e-12);
	ck_assert_double_eq_tol(c.escalate_after_s, 2.5, 1e-12);
	ck_assert_double_eq_tol(c.retry_s, 0.1, 1e-12);
	ck_assert_double_eq_tol(c.position_max_age_s, 0.75, 1e-12);
}
END_TEST

/* '#' starts a comment anywhere, ';' at the start of a line; blank lines,
 * CRLF line ends and a last line without a break are fine. */
START_TEST(test_comments)
{
	struct conf c;

	parse_ok(&c, "# carewatchd.conf\n"
		     "; an old-style comment\n"
		     "   # indented comment\n"
		     "\n"
		     "[mqtt] # the broker\n"
		     "port = 1884 # not the default\n"
		     "host = mqtt.local\r\n"
		     "#port = 9999\n"
		     "client_id = cw-a");
	ck_assert_int_eq(c.mqtt_port, 1884);
	ck_assert_str_eq(c.mqtt_host, "mqtt.local");
	ck_assert_str_eq(c.mqtt_client_id, "cw-a");
}
END_TEST

/* An unknown key names the key and its line. */
START_TEST(test_unknown_key)
{
	parse_err("[mqtt]\nhost = x\n\nhostname = y\n", "test.conf:4:", "hostname", NULL);
	parse_err("# top\n[dispatch]\nmax_offer = 3\n", "test.conf:3:", "max_offer",
		  NULL);
	/* a key of another section is unknown here */
	parse_err("[mqtt]\nconninfo = dbname=x\n", "test.conf:2:", "conninfo", NULL);
}
END_TEST

/* An unknown section, a broken header, a key outside any section, a line
 * that is not key = value. */
START_TEST(test_bad_structure)
{
	parse_err("[mqtt]\nport = 1883\n[bogus]\nx = 1\n", "test.conf:3:", "bogus", NULL);
	parse_err("[mqtt\nport = 1883\n", "test.conf:1:", NULL, NULL);
	parse_err("[mqtt]x\n", "test.conf:1:", NULL, NULL);
	parse_err("port = 1883\n", "test.conf:1:", "port", NULL);
	parse_err("[mqtt]\n\nport 1883\n", "test.conf:3:", NULL, NULL);
}
END_TEST

/* Bad values: not a number, out of range, bad bool, bad hours. */
START_TEST(test_bad_values)
{
	parse_err("[mqtt]\nport = abc\n", "test.conf:2:", "port", NULL);
	parse_err("[mqtt]\nport = 18x3\n", "test.conf:2:", "port", NULL);
	parse_err("[mqtt]\nport = 1883.5\n", "test.conf:2:", "port", NULL);
	parse_err("[mqtt]\nport =\n", "test.conf:2:", "port", NULL);
	parse_err("[mqtt]\n\nport = 0\n", "test.conf:3:", "range", NULL);
	parse_err("[mqtt]\nport = 70000\n", "test.conf:2:", "range", NULL);
	parse_err("[mqtt]\nport = 99999999999999999999\n", "test.conf:2:", "port", NULL);
	parse_err("[dispatch]\noffer_timeout_p1_s = soon\n",
		  "test.conf:2:", "offer_timeout_p1_s", NULL);
	parse_err("[dispatch]\noffer_timeout_p1_s = 60s\n", "test.conf:2:", NULL, NULL);
	parse_err("[dispatch]\noffer_timeout_p1_s = nan\n", "test.conf:2:", NULL, NULL);
	parse_err("[dispatch]\noffer_timeout_p1_s = 0\n", "test.conf:2:", "range", NULL);
	parse_err("[dispatch]\noffer_timeout_p1_s = -1\n", "test.conf:2:", "range", NULL);
	parse_err("[dispatch]\nvolunteer_max_km = -0.5\n", "test.conf:2:", "range", NULL);
	parse_err("[dispatch]\nmax_offers = 0\n", "test.conf:2:", "range", NULL);
	parse_err("[dispatch]\nmax_offers = 2.5\n", "test.conf:2:", "max_offers", NULL);
	parse_err("[mqtt]\nowntracks = maybe\n", "test.conf:2:", "owntracks", NULL);
	parse_err("[mqtt]\nowntracks =\n", "test.conf:2:", "owntracks", NULL);
	parse_err("[dispatch]\nnight = 22-06\n", "test.conf:2:", "night", NULL);
	parse_err("[dispatch]\nnight = 25:00-06:00\n", "test.conf:2:", "night", NULL);
	parse_err("[dispatch]\n#\n\nnight = always\n", "test.conf:4:", "night", NULL);
}
END_TEST

/* Accepted spellings of booleans. */
START_TEST(test_bools)
{
	static const char *const on[] = {"on", "yes", "true", "1"};
	static const char *const off[] = {"off", "no", "false", "0"};
	char text[64];
	struct conf c;
	size_t i;

	for (i = 0; i < 4; i++) {
		snprintf(text, sizeof(text), "[daemon]\nverbose = %s\n", on[i]);
		parse_ok(&c, text);
		ck_assert_msg(c.verbose, "%s", on[i]);
		snprintf(text, sizeof(text), "[mqtt]\nowntracks = %s\n", off[i]);
		parse_ok(&c, text);
		ck_assert_msg(!c.owntracks, "%s", off[i]);
	}
}
END_TEST

/* A line longer than the reader's buffer is an error, not a truncation. */
START_TEST(test_long_line)
{
	char *text = malloc(3000);
	struct conf c;
	char err[256];

	ck_assert_ptr_nonnull(text);
	strcpy(text, "[mqtt]\nhost = ");
	memset(text + strlen(text), 'a', 2000);
	text[14 + 2000] = '\0';
	strcat(text, "\n");
	ck_assert_int_eq(conf_parse(&c, "test.conf", text, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "test.conf:2:"));
	free(text);
}
END_TEST

/* conf_load reads a file and reports a missing one. */
START_TEST(test_load)
{
	char path[] = "/tmp/check_conf_XXXXXX";
	struct conf c;
	char err[256];
	FILE *f;
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	fputs("[dispatch]\nmax_offers = 4\nbogus = 1\n", f);
	fclose(f);
	ck_assert_int_eq(conf_load(&c, path, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, path));
	ck_assert_ptr_nonnull(strstr(err, ":3:"));
	ck_assert_ptr_nonnull(strstr(err, "bogus"));
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("[dispatch]\nmax_offers = 4\n", f);
	fclose(f);
	ck_assert_int_eq(conf_load(&c, path, err, sizeof(err)), 0);
	ck_assert_int_eq(c.max_offers, 4);
	unlink(path);
	ck_assert_int_eq(conf_load(&c, path, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, path));
}
END_TEST

/* The response report's targets: SPEC §6's 60 s / 180 s and 45 / 60 min
 * by default, each its own key, and nonsense refused with its line. */
START_TEST(test_response_targets)
{
	struct conf c;

	parse_ok(&c, "");
	ck_assert_int_eq(c.ack_target_s, 60);
	ck_assert_int_eq(c.ack_target2_s, 180);
	ck_assert_int_eq(c.arrival_target_min, 45);
	ck_assert_int_eq(c.arrival_target2_min, 60);
	ck_assert_int_eq(c.false_alarm_top, 10);
	parse_ok(&c, "[reports]\nack_target_s = 30\narrival_target2_min = 90\n"
		     "false_alarm_top = 3\n");
	ck_assert_int_eq(c.ack_target_s, 30);
	ck_assert_int_eq(c.ack_target2_s, 180);
	ck_assert_int_eq(c.arrival_target2_min, 90);
	ck_assert_int_eq(c.false_alarm_top, 3);
	parse_err("[reports]\n\nack_target_s = 0\n", "test.conf:3:", "ack_target_s",
		  NULL);
	parse_err("[reports]\narrival_target_min = soon\n",
		  "test.conf:2:", "arrival_target_min", NULL);
}
END_TEST

/* "HH:MM-HH:MM" and "24h" in minutes of the day. */
START_TEST(test_parse_hours)
{
	int from = -7, to = -7;

	ck_assert_int_eq(conf_parse_hours("08:00-18:00", &from, &to), 0);
	ck_assert_int_eq(from, 480);
	ck_assert_int_eq(to, 1080);
	ck_assert_int_eq(conf_parse_hours("24h", &from, &to), 0);
	ck_assert_int_eq(from, 0);
	ck_assert_int_eq(to, 1440);
	ck_assert_int_eq(conf_parse_hours("22:00-06:00", &from, &to), 0);
	ck_assert_int_eq(from, 1320);
	ck_assert_int_eq(to, 360);
	ck_assert_int_eq(conf_parse_hours("00:00-24:00", &from, &to), 0);
	ck_assert_int_eq(from, 0);
	ck_assert_int_eq(to, 1440);
	ck_assert_int_eq(conf_parse_hours("07:30-19:45", &from, &to), 0);
	ck_assert_int_eq(from, 450);
	ck_assert_int_eq(to, 1185);
}
END_TEST

/* Malformed hours are rejected. */
START_TEST(test_parse_hours_bad)
{
	static const char *const bad[] = {
	    "",
	    "24",
	    "24H",
	    "08:00",
	    "08:00-",
	    "8-18",
	    "08:00-18:00x",
	    "08:00-18:00-20:00",
	    "08:00 18:00",
	    "25:00-06:00",
	    "08:60-18:00",
	    "08:00-18:75",
	    "08:00-24:30",
	    "-1:00-06:00",
	    "08:00--6:00",
	    "ab:cd-ef:gh",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int from = -7, to = -7;

		ck_assert_msg(conf_parse_hours(bad[i], &from, &to) == -1,
			      "accepted \"%s\"", bad[i]);
	}
}
END_TEST

/* [from, to) membership, including ranges that wrap past midnight. */
START_TEST(test_in_hours)
{
	/* 08:00-18:00 */
	ck_assert(!conf_in_hours(480, 1080, 0));
	ck_assert(!conf_in_hours(480, 1080, 479));
	ck_assert(conf_in_hours(480, 1080, 480));
	ck_assert(conf_in_hours(480, 1080, 720));
	ck_assert(conf_in_hours(480, 1080, 1079));
	ck_assert(!conf_in_hours(480, 1080, 1080));
	ck_assert(!conf_in_hours(480, 1080, 1439));
	/* 22:00-06:00 wraps */
	ck_assert(!conf_in_hours(1320, 360, 1319));
	ck_assert(conf_in_hours(1320, 360, 1320));
	ck_assert(conf_in_hours(1320, 360, 1380));
	ck_assert(conf_in_hours(1320, 360, 1439));
	ck_assert(conf_in_hours(1320, 360, 0));
	ck_assert(conf_in_hours(1320, 360, 359));
	ck_assert(!conf_in_hours(1320, 360, 360));
	ck_assert(!conf_in_hours(1320, 360, 720));
	/* 24h covers the whole day */
	ck_assert(conf_in_hours(0, 1440, 0));
	ck_assert(conf_in_hours(0, 1440, 720));
	ck_assert(conf_in_hours(0, 1440, 1439));
	/* an empty range covers nothing */
	ck_assert(!conf_in_hours(600, 600, 600));
	ck_assert(!conf_in_hours(600, 600, 0));
}
END_TEST

/* Only non-reloadable keys need a restart; the first one is named. */
START_TEST(test_needs_restart)
{
	struct conf a, b;
	char key[64] = "";

	parse_ok(&a, "");
	parse_ok(&b, "");
	ck_assert(!conf_needs_restart(&a, &b, key, sizeof(key)));

	/* reloadable: dispatch timers, night, verbose */
	parse_ok(&b, "[dispatch]\noffer_timeout_p1_s = 30\nmax_offers = 5\n"
		     "night = 21:00-07:00\n[daemon]\nverbose = on\n");
	ck_assert(!conf_needs_restart(&a, &b, key, sizeof(key)));

	parse_ok(&b, "[mqtt]\nport = 8883\n");
	ck_assert(conf_needs_restart(&a, &b, key, sizeof(key)));
	ck_assert_str_eq(key, "mqtt.port");

	parse_ok(&b, "[dispatch]\ntimezone = UTC\n");
	ck_assert(conf_needs_restart(&a, &b, key, sizeof(key)));
	ck_assert_str_eq(key, "dispatch.timezone");

	parse_ok(&b, "[database]\nconninfo = dbname=other\n");
	ck_assert(conf_needs_restart(&a, &b, key, sizeof(key)));
	ck_assert_str_eq(key, "database.conninfo");

	parse_ok(&b, "[mqtt]\nowntracks = off\n");
	ck_assert(conf_needs_restart(&a, &b, key, sizeof(key)));
	ck_assert_str_eq(key, "mqtt.owntracks");

	/* the same non-default value on both sides is no change */
	parse_ok(&a, "[mqtt]\nhost = broker.local\n");
	parse_ok(&b, "[mqtt]\nhost = broker.local\n");
	ck_assert(!conf_needs_restart(&a, &b, key, sizeof(key)));
}
END_TEST

/* Regression: string keys once compared with memcmp over all CONF_STR_MAX
 * bytes, so bytes left behind the terminator by an earlier, longer value
 * made two equal strings look different. A file that sets a key
 * twice (the last one wins) yields the same host as the running config, yet
 * a restart is demanded for mqtt.host. */
START_TEST(test_needs_restart_stale_bytes)
{
	struct conf a, b;
	char key[64] = "";

	parse_ok(&a, "[mqtt]\nhost = broker\n");
	parse_ok(&b, "[mqtt]\nhost = broker.very-long-name.example\nhost = broker\n");
	ck_assert_str_eq(a.mqtt_host, b.mqtt_host);
	ck_assert_msg(!conf_needs_restart(&a, &b, key, sizeof(key)),
		      "equal configs reported as needing a restart for %s", key);
}
END_TEST

/* Builds the suite of every configuration test. */
/* SIGHUP's swap: reloadable keys come from the new file, the others stay
 * as the daemon started with them, whatever the new file says. */
START_TEST(test_apply_reloadable)
{
	struct conf run, neu;

	parse_ok(&run, "[mqtt]\nport = 1883\n[dispatch]\noffer_timeout_p1_s = 60\n");
	parse_ok(&neu, "[mqtt]\nport = 8883\nhost = 10.0.0.1\n[dispatch]\n"
		       "offer_timeout_p1_s = 0.5\nmax_offers = 7\nnight = 21:00-07:00\n"
		       "timezone = UTC\n[daemon]\nverbose = on\nbatch_max = 10\n"
		       "[database]\ncommit_timeout_s = 1\n");
	ck_assert_int_gt(conf_apply_reloadable(&run, &neu), 5);
	ck_assert_double_eq(run.offer_timeout_p1_s, 0.5);
	ck_assert_int_eq(run.max_offers, 7);
	ck_assert_str_eq(run.night, "21:00-07:00");
	ck_assert(run.verbose);
	ck_assert_int_eq(run.batch_max, 10);
	/* restart-only keys keep their running values */
	ck_assert_int_eq(run.mqtt_port, 1883);
	ck_assert_str_eq(run.mqtt_host, "127.0.0.1");
	ck_assert_str_eq(run.timezone, "Asia/Shanghai");
	ck_assert_double_eq(run.commit_timeout_s, 10);
}
END_TEST

static Suite *
conf_suite(void)
{
	Suite *s = suite_create("conf");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_defaults_match_empty_parse);
	tcase_add_test(tc, test_spec_example);
	tcase_add_test(tc, test_values);
	tcase_add_test(tc, test_fractions);
	tcase_add_test(tc, test_comments);
	tcase_add_test(tc, test_unknown_key);
	tcase_add_test(tc, test_bad_structure);
	tcase_add_test(tc, test_bad_values);
	tcase_add_test(tc, test_bools);
	tcase_add_test(tc, test_long_line);
	tcase_add_test(tc, test_load);
	tcase_add_test(tc, test_response_targets);
	suite_add_tcase(s, tc);
	tc = tcase_create("hours");
	tcase_add_test(tc, test_parse_hours);
	tcase_add_test(tc, test_parse_hours_bad);
	tcase_add_test(tc, test_in_hours);
	suite_add_tcase(s, tc);
	tc = tcase_create("reload");
	tcase_add_test(tc, test_needs_restart);
	tcase_add_test(tc, test_needs_restart_stale_bytes);
	tcase_add_test(tc, test_apply_reloadable);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(conf_suite());
}
