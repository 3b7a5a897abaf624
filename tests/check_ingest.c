/* check_ingest.c - unit tests for topics, payloads and classification */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check_run.h"
#include "ingest.h"
#include "util.h"

/* 2026-11-22T08:15:00+08:00 = 2026-11-22T00:15:00Z */
#define TS_0815 1795306500.0

static const int night_from = 22 * 60, night_to = 6 * 60;

/* Parses a NUL-terminated event payload. */
static const char *
parse_event(const char *payload, struct devevent *ev)
{
	return ingest_parse_event(payload, strlen(payload), ev);
}

/* Expects the event payload to be rejected with exactly the reason why. */
static void
event_rejected(const char *payload, const char *why)
{
	struct devevent ev;
	const char *got = parse_event(payload, &ev);

	ck_assert_msg(got != NULL, "accepted: %s", payload);
	ck_assert_msg(strcmp(got, why) == 0, "reason \"%s\", want \"%s\" for %s", got,
		      why, payload);
	ck_assert_ptr_null(ev.data);
}

/* A local date with a minute of the day. */
static struct localtime_cw
day(int y, int m, int d, int minute)
{
	struct localtime_cw lt;

	lt.y = y;
	lt.m = m;
	lt.d = d;
	lt.minute = minute;
	return lt;
}

/* An elder with no risk factor, born on the given date. */
static struct elder
elder_born(int y, int m, int d)
{
	struct elder e;

	memset(&e, 0, sizeof(e));
	strcpy(e.id, "E1001");
	e.capability = -1;
	e.birth_y = y;
	e.birth_m = m;
	e.birth_d = d;
	return e;
}

/* --- topics ---------------------------------------------------------------- */

/* Each kind of topic with its id. */
START_TEST(test_topic_kinds)
{
	char id[ID_MAX + 1];

	ck_assert_int_eq(topic_parse("carewatch", "carewatch/dev/d-0001/event", id),
			 TOPIC_DEV_EVENT);
	ck_assert_str_eq(id, "d-0001");
	ck_assert_int_eq(topic_parse("carewatch", "carewatch/dev/hub_7.a:1/status", id),
			 TOPIC_DEV_STATUS);
	ck_assert_str_eq(id, "hub_7.a:1");
	ck_assert_int_eq(topic_parse("carewatch", "carewatch/resp/S-140426/reply", id),
			 TOPIC_RESP_REPLY);
	ck_assert_str_eq(id, "S-140426");
	ck_assert_int_eq(topic_parse("carewatch", "carewatch/resp/V17/visit", id),
			 TOPIC_RESP_VISIT);
	ck_assert_str_eq(id, "V17");
	/* a prefix of several levels */
	ck_assert_int_eq(topic_parse("county/140426", "county/140426/dev/d1/event", id),
			 TOPIC_DEV_EVENT);
	ck_assert_str_eq(id, "d1");
}
END_TEST

/* Topics that are not ours, or not of a known shape. */
START_TEST(test_topic_wrong_shape)
{
	static const char *const bad[] = {
	    "other/dev/d1/event",
	    "carewatchx/dev/d1/event",
	    "carewatc/dev/d1/event",
	    "/carewatch/dev/d1/event",
	    "carewatch/dev/d1",
	    "carewatch/dev/d1/",
	    "carewatch/dev/d1/events",
	    "carewatch/dev/d1/Event",
	    "carewatch/devs/d1/event",
	    "carewatch/dev/d1/x/event",
	    "carewatch/dev/d1/event/extra",
	    "carewatch/dev/d1/event/",
	    "carewatch/resp/S1/event",
	    "carewatch/dev/S1/reply",
	    "carewatch/dispatch/S1",
	    "carewatch",
	    "",
	};
	char id[ID_MAX + 1];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(topic_parse("carewatch", bad[i], id) == TOPIC_UNKNOWN,
			      "accepted topic \"%s\"", bad[i]);
}
END_TEST

/* Ids with forbidden characters, empty, or too long. */
START_TEST(test_topic_bad_ids)
{
	static const char *const bad[] = {
	    "carewatch/dev//event",	"carewatch/dev/d 1/event",
	    "carewatch/dev/d+/event",	"carewatch/dev/+/event",
	    "carewatch/dev/#/event",	"carewatch/dev/d#1/event",
	    "carewatch/dev/d\t1/event", "carewatch/dev/设备/event",
	    "carewatch/resp//reply",	"carewatch/resp/S 1/reply",
	};
	char id[ID_MAX + 1], topic[256], longid[ID_MAX + 2];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(topic_parse("carewatch", bad[i], id) == TOPIC_UNKNOWN,
			      "accepted topic \"%s\"", bad[i]);

	/* device ids: 64 characters are fine, 65 are not */
	memset(longid, 'd', ID_MAX);
	longid[ID_MAX] = '\0';
	snprintf(topic, sizeof(topic), "carewatch/dev/%s/event", longid);
	ck_assert_int_eq(topic_parse("carewatch", topic, id), TOPIC_DEV_EVENT);
	ck_assert_str_eq(id, longid);
	longid[ID_MAX] = 'd';
	longid[ID_MAX + 1] = '\0';
	snprintf(topic, sizeof(topic), "carewatch/dev/%s/event", longid);
	ck_assert_int_eq(topic_parse("carewatch", topic, id), TOPIC_UNKNOWN);

	/* responder ids: 40 characters are fine, 41 are not */
	memset(longid, 'r', REF_ID_MAX);
	longid[REF_ID_MAX] = '\0';
	snprintf(topic, sizeof(topic), "carewatch/resp/%s/reply", longid);
	ck_assert_int_eq(topic_parse("carewatch", topic, id), TOPIC_RESP_REPLY);
	ck_assert_str_eq(id, longid);
	longid[REF_ID_MAX] = 'r';
	longid[REF_ID_MAX + 1] = '\0';
	snprintf(topic, sizeof(topic), "carewatch/resp/%s/reply", longid);
	ck_assert_int_eq(topic_parse("carewatch", topic, id), TOPIC_UNKNOWN);
	snprintf(topic, sizeof(topic), "carewatch/resp/%s/visit", longid);
	ck_assert_int_eq(topic_parse("carewatch", topic, id), TOPIC_UNKNOWN);
}
END_TEST

/* --- events ---------------------------------------------------------------- */

/* The smallest valid event: id and type; everything else defaulted. */
START_TEST(test_event_minimal)
{
	struct devevent ev;

	ck_assert_ptr_null(parse_event("{\"id\":\"e-1\",\"type\":\"sos\"}", &ev));
	ck_assert_str_eq(ev.id, "e-1");
	ck_assert_int_eq(ev.type, EV_SOS);
	ck_assert(!ev.clear);
	ck_assert_double_eq(ev.ts, 0);
	ck_assert_int_eq(ev.battery, -1);
	ck_assert(!ev.has_pos);
	ck_assert_ptr_null(ev.data);
}
END_TEST

/* Every field of SPEC §3. */
START_TEST(test_event_all_fields)
{
	struct devevent ev;

	ck_assert_ptr_null(
	    parse_event("{\"id\": \"e-000123\", \"type\": \"sos\", "
			"\"ts\": \"2026-11-22T08:15:00+08:00\", "
			"\"state\": \"alarm\", \"battery\": 76, \"lat\": 36.19, "
			"\"lon\": 113.12, \"data\": {\"button\": 2}}",
			&ev));
	ck_assert_str_eq(ev.id, "e-000123");
	ck_assert_int_eq(ev.type, EV_SOS);
	ck_assert(!ev.clear);
	ck_assert_double_eq(ev.ts, TS_0815);
	ck_assert_int_eq(ev.battery, 76);
	ck_assert(ev.has_pos);
	ck_assert_double_eq_tol(ev.lat, 36.19, 1e-9);
	ck_assert_double_eq_tol(ev.lon, 113.12, 1e-9);
	ck_assert_ptr_nonnull(ev.data);
	ck_assert_str_eq(ev.data, "{\"button\":2}");
	free(ev.data);
}
END_TEST

/* Every device event type parses; device_offline is the daemon's own. */
START_TEST(test_event_types)
{
	static const char *const names[] = {
	    "sos",	   "fall",	 "smoke", "gas",    "co",
	    "water_leak",  "inactivity", "door",  "motion", "heartbeat",
	    "low_battery", "tamper",	 "test"};
	char payload[128];
	struct devevent ev;
	int i;

	for (i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++) {
		snprintf(payload, sizeof(payload), "{\"id\":\"e%d\",\"type\":\"%s\"}", i,
			 names[i]);
		ck_assert_ptr_null(parse_event(payload, &ev));
		ck_assert_int_eq(ev.type, i);
		ck_assert_str_eq(ev_type_name(ev.type), names[i]);
		ck_assert_int_eq(ev_type_parse(names[i]), i);
	}
	ck_assert_str_eq(ev_type_name(EV_OFFLINE), "device_offline");
	ck_assert_int_eq(ev_type_parse("device_offline"), -1);
	event_rejected("{\"id\":\"e1\",\"type\":\"device_offline\"}", "unknown type");
}
END_TEST

/* RFC 3339 timestamps with an offset, Z and fractions. */
START_TEST(test_event_ts_rfc3339)
{
	struct devevent ev;

	ck_assert_ptr_null(parse_event(
	    "{\"id\":\"a\",\"type\":\"fall\",\"ts\":\"2026-11-22T08:15:00+08:00\"}",
	    &ev));
	ck_assert_double_eq(ev.ts, TS_0815);
	ck_assert_ptr_null(parse_event(
	    "{\"id\":\"a\",\"type\":\"fall\",\"ts\":\"2026-11-22T00:15:00Z\"}", &ev));
	ck_assert_double_eq(ev.ts, TS_0815);
	ck_assert_ptr_null(parse_event(
	    "{\"id\":\"a\",\"type\":\"fall\",\"ts\":\"2026-11-22T00:15:00.250Z\"}", &ev));
	ck_assert_double_eq_tol(ev.ts, TS_0815 + 0.25, 1e-6);
	ck_assert_ptr_null(parse_event(
	    "{\"id\":\"a\",\"type\":\"fall\",\"ts\":\"2026-11-22T08:15:00.5+08:00\"}",
	    &ev));
	ck_assert_double_eq_tol(ev.ts, TS_0815 + 0.5, 1e-6);
	event_rejected("{\"id\":\"a\",\"type\":\"fall\",\"ts\":\"2026-11-22 08:15\"}",
		       "bad ts");
	event_rejected("{\"id\":\"a\",\"type\":\"fall\",\"ts\":\"yesterday\"}", "bad ts");
	event_rejected("{\"id\":\"a\",\"type\":\"fall\",\"ts\":\"\"}", "bad ts");
}
END_TEST

/* Epoch-millisecond timestamps, and what is not one. */
START_TEST(test_event_ts_epoch_ms)
{
	struct devevent ev;

	ck_assert_ptr_null(
	    parse_event("{\"id\":\"a\",\"type\":\"gas\",\"ts\":1795306500250}", &ev));
	ck_assert_double_eq_tol(ev.ts, TS_0815 + 0.25, 1e-6);
	ck_assert_ptr_null(
	    parse_event("{\"id\":\"a\",\"type\":\"gas\",\"ts\":null}", &ev));
	ck_assert_double_eq(ev.ts, 0);
	/* seconds instead of milliseconds would be January 1970 */
	event_rejected("{\"id\":\"a\",\"type\":\"gas\",\"ts\":1795306500}", "bad ts");
	event_rejected("{\"id\":\"a\",\"type\":\"gas\",\"ts\":-1}", "bad ts");
	event_rejected("{\"id\":\"a\",\"type\":\"gas\",\"ts\":99999999999999}", "bad ts");
	event_rejected("{\"id\":\"a\",\"type\":\"gas\",\"ts\":1795306500250.5}",
		       "bad ts");
	event_rejected("{\"id\":\"a\",\"type\":\"gas\",\"ts\":true}", "bad ts");
	event_rejected("{\"id\":\"a\",\"type\":\"gas\",\"ts\":{}}", "bad ts");
}
END_TEST

/* state: clear, alarm, absent, and nonsense. */
START_TEST(test_event_state)
{
	struct devevent ev;

	ck_assert_ptr_null(
	    parse_event("{\"id\":\"a\",\"type\":\"smoke\",\"state\":\"clear\"}", &ev));
	ck_assert(ev.clear);
	ck_assert_int_eq(ev.type, EV_SMOKE);
	ck_assert_ptr_null(
	    parse_event("{\"id\":\"a\",\"type\":\"smoke\",\"state\":\"alarm\"}", &ev));
	ck_assert(!ev.clear);
	ck_assert_ptr_null(
	    parse_event("{\"id\":\"a\",\"type\":\"smoke\",\"state\":null}", &ev));
	ck_assert(!ev.clear);
	event_rejected("{\"id\":\"a\",\"type\":\"smoke\",\"state\":\"off\"}",
		       "bad state");
	event_rejected("{\"id\":\"a\",\"type\":\"smoke\",\"state\":1}", "bad state");
}
END_TEST

/* id: required, a non-empty string of at most 64 characters. */
START_TEST(test_event_bad_id)
{
	char payload[256], id[ID_MAX + 2];
	struct devevent ev;

	event_rejected("{\"type\":\"sos\"}", "missing id");
	event_rejected("{\"id\":123,\"type\":\"sos\"}", "missing id");
	event_rejected("{\"id\":null,\"type\":\"sos\"}", "missing id");
	event_rejected("{\"id\":\"\",\"type\":\"sos\"}", "bad id");

	memset(id, 'x', ID_MAX);
	id[ID_MAX] = '\0';
	snprintf(payload, sizeof(payload), "{\"id\":\"%s\",\"type\":\"sos\"}", id);
	ck_assert_ptr_null(parse_event(payload, &ev));
	ck_assert_str_eq(ev.id, id);
	id[ID_MAX] = 'x';
	id[ID_MAX + 1] = '\0';
	snprintf(payload, sizeof(payload), "{\"id\":\"%s\",\"type\":\"sos\"}", id);
	event_rejected(payload, "bad id");
	/* an escaped NUL inside the id */
	ck_assert_ptr_nonnull(
	    parse_event("{\"id\":\"a\\u0000b\",\"type\":\"sos\"}", &ev));
}
END_TEST

/* type: required, a known name. */
START_TEST(test_event_bad_type)
{
	event_rejected("{\"id\":\"a\"}", "missing type");
	event_rejected("{\"id\":\"a\",\"type\":7}", "missing type");
	event_rejected("{\"id\":\"a\",\"type\":\"earthquake\"}", "unknown type");
	event_rejected("{\"id\":\"a\",\"type\":\"SOS\"}", "unknown type");
	event_rejected("{\"id\":\"a\",\"type\":\"\"}", "unknown type");
}
END_TEST

/* Not JSON, not an object, binary, bad UTF-8, duplicate keys. */
START_TEST(test_event_garbage)
{
	static const char binary[] = "\xff\xfe\x00\x01";
	static const char nul_inside[] = "{\"id\":\"a\",\x00\"type\":\"sos\"}";
	static const char with_tail[] = "{\"id\":\"a\",\"type\":\"sos\"}trailing";
	struct devevent ev;

	event_rejected("", "bad json");
	event_rejected("{", "bad json");
	event_rejected("{\"id\":\"a\",\"type\":\"sos\",}", "bad json");
	event_rejected("sos", "bad json");
	event_rejected("[\"id\",\"type\"]", "not a json object");
	event_rejected("[]", "not a json object");
	ck_assert_str_eq(ingest_parse_event(binary, 4, &ev), "bad json");
	ck_assert_ptr_null(ev.data);
	/* the length counts, not the terminator */
	ck_assert_str_eq(ingest_parse_event(nul_inside, sizeof(nul_inside) - 1, &ev),
			 "bad json");
	/* invalid UTF-8 inside a string */
	event_rejected("{\"id\":\"e\xc3\x28\",\"type\":\"sos\"}", "bad json");
	event_rejected(
	    "{\"id\":\"e1\",\"type\":\"sos\",\"data\":{\"n\":\"\xed\xa0\x80\"}}",
	    "bad json");
	/* duplicate keys: which one would count is ambiguous */
	event_rejected("{\"id\":\"a\",\"type\":\"test\",\"type\":\"sos\"}", "bad json");
	/* only the first len bytes are read */
	ck_assert_ptr_null(ingest_parse_event(with_tail, strlen(with_tail) - 8, &ev));
	ck_assert_str_eq(ev.id, "a");
	ck_assert_ptr_nonnull(ingest_parse_event(with_tail, strlen(with_tail), &ev));
}
END_TEST

/* battery: an integer 0..100, or null. */
START_TEST(test_event_battery)
{
	struct devevent ev;

	ck_assert_ptr_null(
	    parse_event("{\"id\":\"a\",\"type\":\"sos\",\"battery\":0}", &ev));
	ck_assert_int_eq(ev.battery, 0);
	ck_assert_ptr_null(
	    parse_event("{\"id\":\"a\",\"type\":\"sos\",\"battery\":100}", &ev));
	ck_assert_int_eq(ev.battery, 100);
	ck_assert_ptr_null(
	    parse_event("{\"id\":\"a\",\"type\":\"sos\",\"battery\":null}", &ev));
	ck_assert_int_eq(ev.battery, -1);
	event_rejected("{\"id\":\"a\",\"type\":\"sos\",\"battery\":101}", "bad battery");
	event_rejected("{\"id\":\"a\",\"type\":\"sos\",\"battery\":-1}", "bad battery");
	event_rejected("{\"id\":\"a\",\"type\":\"sos\",\"battery\":\"76\"}",
		       "bad battery");
	event_rejected("{\"id\":\"a\",\"type\":\"sos\",\"battery\":76.5}", "bad battery");
}
END_TEST

/* lat/lon: both numbers within range, else no position or an error. */
START_TEST(test_event_position)
{
	struct devevent ev;

	ck_assert_ptr_null(
	    parse_event("{\"id\":\"a\",\"type\":\"sos\",\"lat\":-36,\"lon\":-113}", &ev));
	ck_assert(ev.has_pos);
	ck_assert_double_eq(ev.lat, -36);
	ck_assert_double_eq(ev.lon, -113);
	ck_assert_ptr_null(
	    parse_event("{\"id\":\"a\",\"type\":\"sos\",\"lat\":36.5}", &ev));
	ck_assert(!ev.has_pos);
	event_rejected("{\"id\":\"a\",\"type\":\"sos\",\"lat\":91,\"lon\":113}",
		       "bad position");
	event_rejected("{\"id\":\"a\",\"type\":\"sos\",\"lat\":36.5,\"lon\":180.5}",
		       "bad position");
	event_rejected("{\"id\":\"a\",\"type\":\"sos\",\"lat\":-90.01,\"lon\":0}",
		       "bad position");
}
END_TEST

/* data: re-serialised when a non-empty object, ignored otherwise. */
START_TEST(test_event_data)
{
	struct devevent ev;

	ck_assert_ptr_null(
	    parse_event("{\"id\":\"a\",\"type\":\"fall\",\"data\":{}}", &ev));
	ck_assert_ptr_null(ev.data);
	ck_assert_ptr_null(
	    parse_event("{\"id\":\"a\",\"type\":\"fall\",\"data\":[1]}", &ev));
	ck_assert_ptr_null(ev.data);
	ck_assert_ptr_null(parse_event(
	    "{\"id\":\"a\",\"type\":\"fall\",\"data\":{\"room\":\"卧室\",\"conf\":0.5}}",
	    &ev));
	ck_assert_ptr_nonnull(ev.data);
	ck_assert_ptr_nonnull(strstr(ev.data, "\"room\":\"卧室\""));
	ck_assert_ptr_nonnull(strstr(ev.data, "\"conf\":0.5"));
	free(ev.data);
}
END_TEST

/* --- status and replies ----------------------------------------------------- */

START_TEST(test_status)
{
	bool online = false;

	ck_assert_ptr_null(ingest_parse_status("online", 6, &online));
	ck_assert(online);
	ck_assert_ptr_null(ingest_parse_status("offline", 7, &online));
	ck_assert(!online);
	ck_assert_ptr_null(ingest_parse_status("{\"state\":\"online\"}", 18, &online));
	ck_assert(online);
	ck_assert_ptr_null(ingest_parse_status("{\"state\":\"offline\"}", 19, &online));
	ck_assert(!online);
	/* the length decides: "online" cut short is not online */
	ck_assert_ptr_nonnull(ingest_parse_status("online", 5, &online));
	ck_assert_ptr_nonnull(ingest_parse_status("ONLINE", 6, &online));
	ck_assert_ptr_nonnull(ingest_parse_status("", 0, &online));
	ck_assert_ptr_nonnull(ingest_parse_status("\xff\xfe\x00\x01", 4, &online));
	ck_assert_str_eq(ingest_parse_status("{\"state\":\"sleeping\"}", 20, &online),
			 "bad status");
	ck_assert_str_eq(ingest_parse_status("{\"state\":1}", 11, &online), "bad status");
	ck_assert_str_eq(ingest_parse_status("{}", 2, &online), "bad status");
	ck_assert_str_eq(ingest_parse_status("[\"online\"]", 10, &online),
			 "not a json object");
}
END_TEST

/* Parses a NUL-terminated reply payload. */
static const char *
parse_reply(const char *payload, struct reply *r)
{
	return ingest_parse_reply(payload, strlen(payload), r);
}

START_TEST(test_reply_actions)
{
	static const char *const names[] = {"accept", "decline", "arrived", "done"};
	char payload[128];
	struct reply r;
	int i;

	for (i = 0; i < 4; i++) {
		snprintf(payload, sizeof(payload),
			 "{\"incident\":1042,\"action\":\"%s\"}", names[i]);
		ck_assert_ptr_null(parse_reply(payload, &r));
		ck_assert_int_eq(r.incident, 1042);
		ck_assert_int_eq(r.action, i);
		ck_assert_str_eq(reply_action_name(r.action), names[i]);
		ck_assert_str_eq(r.outcome, "");
		ck_assert_str_eq(r.note, "");
	}
	ck_assert_ptr_null(parse_reply(
	    "{\"incident\": 1042, \"action\": \"accept\", \"note\": \"on my way\"}", &r));
	ck_assert_str_eq(r.note, "on my way");
}
END_TEST

START_TEST(test_reply_outcome)
{
	static const char *const ok[] = {
	    "emergency_handled", "false_alarm",	    "test",
	    "no_access",	 "transferred_120", "transferred_119"};
	char payload[128];
	struct reply r;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(payload, sizeof(payload),
			 "{\"incident\":7,\"action\":\"done\",\"outcome\":\"%s\"}",
			 ok[i]);
		ck_assert_ptr_null(parse_reply(payload, &r));
		ck_assert_int_eq(r.action, REPLY_DONE);
		ck_assert_str_eq(r.outcome, ok[i]);
		ck_assert(outcome_valid(ok[i]));
	}
	ck_assert_ptr_null(
	    parse_reply("{\"incident\":7,\"action\":\"done\",\"outcome\":null}", &r));
	ck_assert_str_eq(r.outcome, "");
	ck_assert_str_eq(
	    parse_reply("{\"incident\":7,\"action\":\"done\",\"outcome\":\"fixed\"}", &r),
	    "unknown outcome");
	ck_assert_str_eq(
	    parse_reply("{\"incident\":7,\"action\":\"done\",\"outcome\":3}", &r),
	    "unknown outcome");
	ck_assert(!outcome_valid(""));
	ck_assert(!outcome_valid("Test"));
}
END_TEST

START_TEST(test_reply_bad)
{
	struct reply r;

	ck_assert_str_eq(parse_reply("{\"action\":\"accept\"}", &r), "missing incident");
	ck_assert_str_eq(parse_reply("{\"incident\":\"1042\",\"action\":\"accept\"}", &r),
			 "missing incident");
	ck_assert_str_eq(parse_reply("{\"incident\":0,\"action\":\"accept\"}", &r),
			 "missing incident");
	ck_assert_str_eq(parse_reply("{\"incident\":-5,\"action\":\"accept\"}", &r),
			 "missing incident");
	ck_assert_str_eq(parse_reply("{\"incident\":1042.5,\"action\":\"accept\"}", &r),
			 "missing incident");
	ck_assert_str_eq(parse_reply("{\"incident\":1042}", &r), "missing action");
	ck_assert_str_eq(parse_reply("{\"incident\":1042,\"action\":\"maybe\"}", &r),
			 "unknown action");
	ck_assert_str_eq(parse_reply("{\"incident\":1042,\"action\":\"ACCEPT\"}", &r),
			 "unknown action");
	ck_assert_str_eq(parse_reply("accept", &r), "bad json");
	ck_assert_str_eq(parse_reply("[1042,\"accept\"]", &r), "not a json object");
	ck_assert_str_eq(ingest_parse_reply("\xff\xfe\x00\x01", 4, &r), "bad json");
}
END_TEST

/* --- time ------------------------------------------------------------------- */

START_TEST(test_rfc3339_valid)
{
	double t = -1;

	ck_assert_int_eq(time_parse_rfc3339("2026-11-22T08:15:00+08:00", &t), 0);
	ck_assert_double_eq(t, TS_0815);
	ck_assert_int_eq(time_parse_rfc3339("2026-11-22T00:15:00Z", &t), 0);
	ck_assert_double_eq(t, TS_0815);
	ck_assert_int_eq(time_parse_rfc3339("2026-11-21T19:15:00-05:00", &t), 0);
	ck_assert_double_eq(t, TS_0815);
	ck_assert_int_eq(time_parse_rfc3339("2026-11-22T05:45:00+05:30", &t), 0);
	ck_assert_double_eq(t, TS_0815);
	ck_assert_int_eq(time_parse_rfc3339("2026-11-22t00:15:00z", &t), 0);
	ck_assert_double_eq(t, TS_0815);
	ck_assert_int_eq(time_parse_rfc3339("2026-11-22 00:15:00Z", &t), 0);
	ck_assert_double_eq(t, TS_0815);
	ck_assert_int_eq(time_parse_rfc3339("2026-11-22T00:15:00.123Z", &t), 0);
	ck_assert_double_eq_tol(t, TS_0815 + 0.123, 1e-6);
	ck_assert_int_eq(time_parse_rfc3339("2026-11-22T00:15:00.000001+00:00", &t), 0);
	ck_assert_double_eq_tol(t, TS_0815 + 0.000001, 1e-7);
	ck_assert_int_eq(time_parse_rfc3339("1970-01-01T00:00:00Z", &t), 0);
	ck_assert_double_eq(t, 0);
	ck_assert_int_eq(time_parse_rfc3339("2000-01-01T00:00:00Z", &t), 0);
	ck_assert_double_eq(t, 946684800);
	ck_assert_int_eq(time_parse_rfc3339("2024-02-29T12:00:00Z", &t), 0);
	ck_assert_double_eq(t, 1709208000);
	ck_assert_int_eq(time_parse_rfc3339("2026-12-31T23:59:59+08:00", &t), 0);
	ck_assert_double_eq(t, 1798732799);
	/* a leap second is allowed by RFC 3339 */
	ck_assert_int_eq(time_parse_rfc3339("2016-12-31T23:59:60Z", &t), 0);
	ck_assert_double_eq(t, 1483228800);
}
END_TEST

START_TEST(test_rfc3339_invalid)
{
	static const char *const bad[] = {
	    "",
	    "2026-11-22",
	    "2026-11-22T08:15:00",
	    "2026-11-22T08:15Z",
	    "2026-11-22T8:15:00Z",
	    "2026-1-22T08:15:00Z",
	    "26-11-22T08:15:00Z",
	    "2026/11/22T08:15:00Z",
	    "2026-11-22X08:15:00Z",
	    "2026-13-01T00:00:00Z",
	    "2026-00-10T00:00:00Z",
	    "2026-11-00T00:00:00Z",
	    "2026-11-32T00:00:00Z",
	    "2026-11-22T24:00:00Z",
	    "2026-11-22T08:60:00Z",
	    "2026-11-22T08:15:61Z",
	    "2026-11-22T08:15:00+24:00",
	    "2026-11-22T08:15:00+08:60",
	    "2026-11-22T08:15:00+08",
	    "2026-11-22T08:15:00+0800",
	    "2026-11-22T08:15:00.Z",
	    "2026-11-22T08:15:00Zjunk",
	    "2026-11-22T08:15:00+08:00 ",
	    "1969-12-31T23:59:59Z",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		double t = -1;

		ck_assert_msg(time_parse_rfc3339(bad[i], &t) == -1, "accepted \"%s\"",
			      bad[i]);
	}
}
END_TEST

/* Regression: time_parse_rfc3339 once checked only 1 <= day <= 31, so
 * days that do not exist in their month were accepted and rolled over:
 * "2026-02-30" becomes 2026-03-02, "2026-04-31" becomes 2026-05-01. It should
 * return -1 for a day beyond the month's length (leap years considered). */
START_TEST(test_rfc3339_impossible_date)
{
	static const char *const bad[] = {
	    "2026-02-29T00:00:00Z",
	    "2026-02-30T00:00:00Z",
	    "2026-04-31T00:00:00Z",
	    "2100-02-29T00:00:00Z",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		double t = -1;

		ck_assert_msg(time_parse_rfc3339(bad[i], &t) == -1,
			      "accepted \"%s\" as %.0f", bad[i], t);
	}
}
END_TEST

/* Regression: time_parse_rfc3339 once read fields with sscanf "%2d",
 * which skips blanks and takes a sign, and never checked hour, minute,
 * second or offset for < 0. "2026-11-22T-1:15:00Z" is accepted as 23:15 the
 * day before, "08:15:-1" as 08:14:59, "2026-11- 2" as the 2nd, and an offset
 * "+-1:00" as -01:00. RFC 3339 fields are fixed-width digits only; each of
 * these should return -1. */
START_TEST(test_rfc3339_signs_and_blanks)
{
	static const char *const bad[] = {
	    "2026-11-22T-1:15:00Z", "2026-11-22T08:-5:00Z",	 "2026-11-22T08:15:-1Z",
	    "2026-11- 2T08:15:00Z", "2026-11-22T08:15:00+-1:00",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		double t = -1;

		ck_assert_msg(time_parse_rfc3339(bad[i], &t) == -1,
			      "accepted \"%s\" as %.0f", bad[i], t);
	}
}
END_TEST

/* local_time uses the zone of TZ (Asia/Shanghai in main). */
START_TEST(test_local_time)
{
	struct localtime_cw lt;

	local_time(TS_0815, &lt);
	ck_assert_int_eq(lt.y, 2026);
	ck_assert_int_eq(lt.m, 11);
	ck_assert_int_eq(lt.d, 22);
	ck_assert_int_eq(lt.minute, 8 * 60 + 15);
	/* 2026-11-22T23:30:00+08:00 is still the 22nd locally */
	local_time(TS_0815 + 15 * 3600 + 15 * 60, &lt);
	ck_assert_int_eq(lt.d, 22);
	ck_assert_int_eq(lt.minute, 23 * 60 + 30);
	/* 2026-11-22T16:30:00Z is the 23rd locally */
	local_time(TS_0815 + 16 * 3600 + 15 * 60, &lt);
	ck_assert_int_eq(lt.d, 23);
	ck_assert_int_eq(lt.minute, 30);
}
END_TEST

/* --- classification --------------------------------------------------------- */

/* Life-threatening types are priority 1, day or night, with or without an
 * elder. */
START_TEST(test_priority_life)
{
	static const enum ev_type p1[] = {EV_SOS, EV_FALL, EV_SMOKE, EV_GAS, EV_CO};
	struct localtime_cw noon = day(2026, 11, 22, 720),
			    night = day(2026, 11, 22, 1380);
	struct elder e = elder_born(1956, 5, 1);
	size_t i;

	for (i = 0; i < sizeof(p1) / sizeof(p1[0]); i++) {
		ck_assert_int_eq(
		    classify_priority(p1[i], false, NULL, &noon, night_from, night_to),
		    1);
		ck_assert_int_eq(
		    classify_priority(p1[i], false, &e, &night, night_from, night_to), 1);
	}
}
END_TEST

/* Welfare types are priority 2 for an elder without risk factors. */
START_TEST(test_priority_welfare)
{
	struct localtime_cw noon = day(2026, 11, 22, 720);
	struct elder e = elder_born(1956, 5, 1);

	ck_assert_int_eq(
	    classify_priority(EV_WATER_LEAK, false, NULL, &noon, night_from, night_to),
	    2);
	ck_assert_int_eq(
	    classify_priority(EV_INACTIVITY, false, NULL, &noon, night_from, night_to),
	    2);
	ck_assert_int_eq(
	    classify_priority(EV_WATER_LEAK, false, &e, &noon, night_from, night_to), 2);
	ck_assert_int_eq(
	    classify_priority(EV_INACTIVITY, false, &e, &noon, night_from, night_to), 2);
}
END_TEST

/* A door opening matters only at night (22:00-06:00 here). */
START_TEST(test_priority_door)
{
	static const struct {
		int minute, prio;
	} cases[] = {
	    {0, 2},	  {3 * 60, 2}, {359, 2},  {360, 0},  {8 * 60, 0},
	    {12 * 60, 0}, {1319, 0},   {1320, 2}, {1380, 2}, {1439, 2},
	};
	struct elder e = elder_born(1956, 5, 1);
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct localtime_cw lt = day(2026, 11, 22, cases[i].minute);

		ck_assert_msg(classify_priority(EV_DOOR, false, NULL, &lt, night_from,
						night_to) == cases[i].prio,
			      "door at minute %d", cases[i].minute);
		ck_assert_msg(classify_priority(EV_DOOR, false, &e, &lt, night_from,
						night_to) == cases[i].prio,
			      "door at minute %d", cases[i].minute);
	}
	/* another night window */
	{
		struct localtime_cw lt = day(2026, 11, 22, 21 * 60);

		ck_assert_int_eq(
		    classify_priority(EV_DOOR, false, NULL, &lt, 20 * 60, 7 * 60), 2);
		ck_assert_int_eq(
		    classify_priority(EV_DOOR, false, NULL, &lt, night_from, night_to),
		    0);
	}
}
END_TEST

/* Technical types are priority 3 and never raised. */
START_TEST(test_priority_technical)
{
	struct localtime_cw noon = day(2026, 11, 22, 720);
	struct elder e = elder_born(1930, 1, 1);

	e.cats = CAT_LIVING_ALONE | CAT_DISABLED;
	e.capability = 4;
	ck_assert_int_eq(
	    classify_priority(EV_LOW_BATTERY, false, NULL, &noon, night_from, night_to),
	    3);
	ck_assert_int_eq(
	    classify_priority(EV_TAMPER, false, NULL, &noon, night_from, night_to), 3);
	ck_assert_int_eq(
	    classify_priority(EV_OFFLINE, false, NULL, &noon, night_from, night_to), 3);
	ck_assert_int_eq(
	    classify_priority(EV_LOW_BATTERY, false, &e, &noon, night_from, night_to), 3);
	ck_assert_int_eq(
	    classify_priority(EV_TAMPER, false, &e, &noon, night_from, night_to), 3);
}
END_TEST

/* Heartbeat, motion and test open nothing; neither does any clear. */
START_TEST(test_priority_nothing)
{
	struct localtime_cw night = day(2026, 11, 22, 1380);
	struct elder e = elder_born(1930, 1, 1);
	int t;

	e.cats = CAT_LIVING_ALONE;
	ck_assert_int_eq(
	    classify_priority(EV_HEARTBEAT, false, &e, &night, night_from, night_to), 0);
	ck_assert_int_eq(
	    classify_priority(EV_MOTION, false, &e, &night, night_from, night_to), 0);
	ck_assert_int_eq(
	    classify_priority(EV_TEST, false, &e, &night, night_from, night_to), 0);
	for (t = 0; t < EV__COUNT; t++) {
		ck_assert_msg(classify_priority((enum ev_type)t, true, &e, &night,
						night_from, night_to) == 0,
			      "clear of %s", ev_type_name((enum ev_type)t));
		ck_assert_msg(classify_priority((enum ev_type)t, true, NULL, &night,
						night_from, night_to) == 0,
			      "clear of %s", ev_type_name((enum ev_type)t));
	}
}
END_TEST

/* living_alone, disabled and capability >= 2 raise priority 2 to 1. */
START_TEST(test_priority_raise_categories)
{
	struct localtime_cw noon = day(2026, 11, 22, 720),
			    night = day(2026, 11, 22, 1380);
	struct elder e = elder_born(1956, 5, 1); /* 70 */

	e.cats = CAT_LIVING_ALONE;
	ck_assert_int_eq(
	    classify_priority(EV_WATER_LEAK, false, &e, &noon, night_from, night_to), 1);
	ck_assert_int_eq(
	    classify_priority(EV_DOOR, false, &e, &night, night_from, night_to), 1);
	/* a door by day stays nothing, even for a risk elder */
	ck_assert_int_eq(
	    classify_priority(EV_DOOR, false, &e, &noon, night_from, night_to), 0);

	e.cats = CAT_DISABLED;
	ck_assert_int_eq(
	    classify_priority(EV_INACTIVITY, false, &e, &noon, night_from, night_to), 1);

	e.cats = 0;
	e.capability = 2;
	ck_assert_int_eq(
	    classify_priority(EV_INACTIVITY, false, &e, &noon, night_from, night_to), 1);
	e.capability = 4;
	ck_assert_int_eq(
	    classify_priority(EV_WATER_LEAK, false, &e, &noon, night_from, night_to), 1);
	e.capability = 1;
	ck_assert_int_eq(
	    classify_priority(EV_WATER_LEAK, false, &e, &noon, night_from, night_to), 2);
	e.capability = -1;
	ck_assert_int_eq(
	    classify_priority(EV_WATER_LEAK, false, &e, &noon, night_from, night_to), 2);

	/* categories that are not risk factors for dispatch */
	e.cats = CAT_EMPTY_NEST | CAT_LOW_INCOME | CAT_LEFT_BEHIND | CAT_SPECIAL_FAMILY;
	ck_assert_int_eq(
	    classify_priority(EV_WATER_LEAK, false, &e, &noon, night_from, night_to), 2);
}
END_TEST

/* 80+ raises priority 2 to 1 from the 80th birthday on. */
START_TEST(test_priority_raise_age)
{
	struct elder e = elder_born(1946, 11, 22);
	struct localtime_cw before = day(2026, 11, 21, 720), on = day(2026, 11, 22, 0),
			    month_before = day(2026, 10, 30, 720),
			    after = day(2027, 1, 5, 720);

	ck_assert_int_eq(elder_age(&e, &before), 79);
	ck_assert_int_eq(elder_age(&e, &on), 80);
	ck_assert_int_eq(elder_age(&e, &month_before), 79);
	ck_assert_int_eq(elder_age(&e, &after), 80);
	ck_assert_int_eq(
	    classify_priority(EV_WATER_LEAK, false, &e, &before, night_from, night_to),
	    2);
	ck_assert_int_eq(
	    classify_priority(EV_WATER_LEAK, false, &e, &on, night_from, night_to), 1);
	ck_assert_int_eq(classify_priority(EV_INACTIVITY, false, &e, &month_before,
					   night_from, night_to),
			 2);
	ck_assert_int_eq(
	    classify_priority(EV_INACTIVITY, false, &e, &after, night_from, night_to), 1);

	/* born on 29 February: 80 on the 29th in a leap year */
	e = elder_born(1944, 2, 29);
	before = day(2024, 2, 28, 720);
	on = day(2024, 2, 29, 720);
	ck_assert_int_eq(elder_age(&e, &before), 79);
	ck_assert_int_eq(elder_age(&e, &on), 80);
	e = elder_born(1945, 2, 28);
	ck_assert_int_eq(elder_age(&e, &(struct localtime_cw){2025, 2, 27, 0}), 79);
	ck_assert_int_eq(elder_age(&e, &(struct localtime_cw){2025, 2, 28, 0}), 80);

	/* unknown birth date: no age, no raise */
	e = elder_born(0, 0, 0);
	ck_assert_int_eq(elder_age(&e, &on), -1);
	ck_assert_int_eq(
	    classify_priority(EV_WATER_LEAK, false, &e, &on, night_from, night_to), 2);
}
END_TEST

/* An empty-nest elder of 70 is not raised. */
START_TEST(test_priority_no_raise)
{
	struct elder e = elder_born(1956, 3, 14);
	struct localtime_cw lt = day(2026, 11, 22, 600);

	e.cats = CAT_EMPTY_NEST;
	e.capability = 1;
	ck_assert_int_eq(elder_age(&e, &lt), 70);
	ck_assert_int_eq(
	    classify_priority(EV_WATER_LEAK, false, &e, &lt, night_from, night_to), 2);
	ck_assert_int_eq(
	    classify_priority(EV_INACTIVITY, false, &e, &lt, night_from, night_to), 2);
}
END_TEST

/* Categories as ";"-separated names (also "," and a Postgres array). */
START_TEST(test_cats_parse)
{
	ck_assert_uint_eq(elder_cats_parse(NULL), 0);
	ck_assert_uint_eq(elder_cats_parse(""), 0);
	ck_assert_uint_eq(elder_cats_parse("living_alone"), CAT_LIVING_ALONE);
	ck_assert_uint_eq(elder_cats_parse("living_alone;disabled"),
			  CAT_LIVING_ALONE | CAT_DISABLED);
	ck_assert_uint_eq(
	    elder_cats_parse("extreme_poverty;low_income;econ_hardship;disabled;"
			     "dementia;severe_disability;living_alone;empty_nest;"
			     "left_behind;special_family"),
	    CAT_EXTREME_POVERTY | CAT_LOW_INCOME | CAT_ECON_HARDSHIP | CAT_DISABLED |
		CAT_DEMENTIA | CAT_SEVERE_DISABILITY | CAT_LIVING_ALONE | CAT_EMPTY_NEST |
		CAT_LEFT_BEHIND | CAT_SPECIAL_FAMILY);
	ck_assert_uint_eq(elder_cats_parse("{empty_nest,low_income}"),
			  CAT_EMPTY_NEST | CAT_LOW_INCOME);
	ck_assert_uint_eq(elder_cats_parse("empty_nest;;unknown;left_behind;"),
			  CAT_EMPTY_NEST | CAT_LEFT_BEHIND);
	ck_assert_uint_eq(elder_cats_parse("living"), 0);
	ck_assert_uint_eq(elder_cats_parse("living_alone_x"), 0);
	ck_assert_uint_eq(elder_cats_parse("Living_Alone"), 0);
}
END_TEST

/* ingest_parse_visit() over a C string. */
static const char *
parse_visit(double now, struct visit *v, const char *payload)
{
	return ingest_parse_visit(payload, strlen(payload), now, v);
}

/* A visit record over MQTT: parsed, then validate_visit()'s rules; a time
 * past now plus the skew is refused (the daemon dead-letters it). */
START_TEST(test_parse_visit)
{
	const double now = 1795140000; /* 2026-11-20T02:00:00Z */
	struct visit v;
	const char *why;

	why = parse_visit(now, &v,
			  "{\"id\":\"v-1\",\"elder\":\"E1\","
			  "\"at\":\"2026-11-20T10:00:00+08:00\"}");
	ck_assert_ptr_null(why);
	ck_assert_str_eq(v.kind, "routine");
	ck_assert(v.in_person);
	ck_assert_double_eq(v.at, now);
	why = parse_visit(now, &v,
			  "{\"id\":\"v-2\",\"elder\":\"E1\",\"kind\":\"phone\","
			  "\"at\":\"2026-11-20T10:00:00+08:00\"}");
	ck_assert_ptr_null(why);
	ck_assert(!v.in_person);
	why = parse_visit(now, &v,
			  "{\"id\":\"v-3\",\"elder\":\"E1\","
			  "\"at\":\"2026-11-20T10:05:01+08:00\"}");
	ck_assert_str_eq(why, "a visit in the future");
	why = parse_visit(now, &v,
			  "{\"id\":\"v-4\",\"elder\":\"E1\",\"kind\":7,"
			  "\"at\":\"2026-11-20T10:00:00+08:00\"}");
	ck_assert_ptr_nonnull(why);
	ck_assert_ptr_nonnull(strstr(why, "unknown visit kind"));
}
END_TEST

/* Builds the suite of every ingest test. */
static Suite *
ingest_suite(void)
{
	Suite *s = suite_create("ingest");
	TCase *tc = tcase_create("topics");

	tcase_add_test(tc, test_topic_kinds);
	tcase_add_test(tc, test_topic_wrong_shape);
	tcase_add_test(tc, test_topic_bad_ids);
	suite_add_tcase(s, tc);

	tc = tcase_create("events");
	tcase_add_test(tc, test_event_minimal);
	tcase_add_test(tc, test_event_all_fields);
	tcase_add_test(tc, test_event_types);
	tcase_add_test(tc, test_event_ts_rfc3339);
	tcase_add_test(tc, test_event_ts_epoch_ms);
	tcase_add_test(tc, test_event_state);
	tcase_add_test(tc, test_event_bad_id);
	tcase_add_test(tc, test_event_bad_type);
	tcase_add_test(tc, test_event_garbage);
	tcase_add_test(tc, test_event_battery);
	tcase_add_test(tc, test_event_position);
	tcase_add_test(tc, test_event_data);
	suite_add_tcase(s, tc);

	tc = tcase_create("status_reply");
	tcase_add_test(tc, test_status);
	tcase_add_test(tc, test_reply_actions);
	tcase_add_test(tc, test_reply_outcome);
	tcase_add_test(tc, test_reply_bad);
	suite_add_tcase(s, tc);

	tc = tcase_create("time");
	tcase_add_test(tc, test_rfc3339_valid);
	tcase_add_test(tc, test_rfc3339_invalid);
	tcase_add_test(tc, test_rfc3339_impossible_date);
	tcase_add_test(tc, test_rfc3339_signs_and_blanks);
	tcase_add_test(tc, test_local_time);
	suite_add_tcase(s, tc);

	tc = tcase_create("classify");
	tcase_add_test(tc, test_priority_life);
	tcase_add_test(tc, test_priority_welfare);
	tcase_add_test(tc, test_priority_door);
	tcase_add_test(tc, test_priority_technical);
	tcase_add_test(tc, test_priority_nothing);
	tcase_add_test(tc, test_priority_raise_categories);
	tcase_add_test(tc, test_priority_raise_age);
	tcase_add_test(tc, test_priority_no_raise);
	tcase_add_test(tc, test_cats_parse);
	tcase_add_test(tc, test_parse_visit);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	setenv("TZ", "Asia/Shanghai", 1);
	tzset();
	return check_run(ingest_suite());
}
