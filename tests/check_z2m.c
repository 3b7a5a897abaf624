/* check_z2m.c - unit tests for zigbee2mqtt topics, fields and edges, and
 * the replay of the converter corpus (tests/fixtures/z2m/corpus.jsonl). */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "check_run.h"
#include "z2m.h"

#define BASES "zigbee2mqtt, house2 ,,zigbee2mqtt/east/"

static enum z2m_topic
parse(const char *topic, char *name)
{
	return z2m_topic_parse(BASES, topic, name);
}

START_TEST(test_topic_names)
{
	char name[Z2M_NAME_MAX + 1];

	ck_assert_int_eq(parse("zigbee2mqtt/张家 客厅/烟感", name), Z2M_T_STATE);
	ck_assert_str_eq(name, "张家 客厅/烟感");
	ck_assert_int_eq(parse("zigbee2mqtt/张家 客厅/烟感/availability", name),
			 Z2M_T_AVAIL);
	ck_assert_str_eq(name, "张家 客厅/烟感");
	ck_assert_int_eq(parse("house2/door", name), Z2M_T_STATE);
	ck_assert_str_eq(name, "door");
	/* the longest base wins: one base may lie under another */
	ck_assert_int_eq(parse("zigbee2mqtt/east/kitchen", name), Z2M_T_STATE);
	ck_assert_str_eq(name, "kitchen");
}
END_TEST

START_TEST(test_topic_ignored)
{
	char name[Z2M_NAME_MAX + 1];

	ck_assert_int_eq(parse("zigbee2mqtt/bridge/state", name), Z2M_T_IGNORE);
	ck_assert_int_eq(parse("zigbee2mqtt/bridge/devices", name), Z2M_T_IGNORE);
	ck_assert_int_eq(parse("zigbee2mqtt/bridge", name), Z2M_T_IGNORE);
	ck_assert_int_eq(parse("house2/bridge/logging", name), Z2M_T_IGNORE);
	ck_assert_int_eq(parse("zigbee2mqtt/a b/set", name), Z2M_T_IGNORE);
	ck_assert_int_eq(parse("zigbee2mqtt/a b/get", name), Z2M_T_IGNORE);
	ck_assert_int_eq(parse("zigbee2mqtt/a/set/state", name), Z2M_T_IGNORE);
	/* "bridges" is a name, not the bridge's tree */
	ck_assert_int_eq(parse("zigbee2mqtt/bridges", name), Z2M_T_STATE);
}
END_TEST

START_TEST(test_topic_not_ours_or_bad)
{
	char name[Z2M_NAME_MAX + 1], longtopic[400];

	ck_assert_int_eq(parse("carewatch/dev/D1/event", name), Z2M_T_NONE);
	ck_assert_int_eq(parse("zigbee2mqttx/a", name), Z2M_T_NONE);
	ck_assert_int_eq(parse("zigbee2mqtt", name), Z2M_T_NONE);
	ck_assert_int_eq(parse("zigbee2mqtt/", name), Z2M_T_BAD);
	ck_assert_int_eq(parse("zigbee2mqtt//availability", name), Z2M_T_BAD);
	ck_assert_int_eq(parse("zigbee2mqtt/a\tb", name), Z2M_T_BAD);
	memset(longtopic, 'x', sizeof(longtopic));
	memcpy(longtopic, "house2/", 7);
	longtopic[sizeof(longtopic) - 1] = '\0';
	ck_assert_int_eq(parse(longtopic, name), Z2M_T_BAD);
}
END_TEST

START_TEST(test_base_list)
{
	const char *pos = " a ,, b/ ,c";
	char out[16];

	ck_assert(z2m_base_next(&pos, out, sizeof(out)));
	ck_assert_str_eq(out, "a");
	ck_assert(z2m_base_next(&pos, out, sizeof(out)));
	ck_assert_str_eq(out, "b");
	ck_assert(z2m_base_next(&pos, out, sizeof(out)));
	ck_assert_str_eq(out, "c");
	ck_assert(!z2m_base_next(&pos, out, sizeof(out)));
	pos = "";
	ck_assert(!z2m_base_next(&pos, out, sizeof(out)));
}
END_TEST

static struct z2m_reading
read_ok(const char *payload)
{
	struct z2m_reading r;

	ck_assert_ptr_null(z2m_read(payload, strlen(payload), &r));
	return r;
}

#define HAS(r, f) (((r).has >> (f)) & 1)
#define ON(r, f)  (((r).on >> (f)) & 1)

START_TEST(test_read_fields)
{
	struct z2m_reading r;

	r = read_ok("{\"smoke\":true,\"battery\":99.6,\"linkquality\":80}");
	ck_assert(HAS(r, Z2M_SMOKE) && ON(r, Z2M_SMOKE));
	ck_assert_int_eq(r.battery, 100);
	ck_assert(!HAS(r, Z2M_GAS));
	/* Tuya's "ON"/"OFF" */
	r = read_ok("{\"carbon_monoxide\":\"ON\",\"gas\":\"OFF\"}");
	ck_assert(HAS(r, Z2M_CO) && ON(r, Z2M_CO));
	ck_assert(HAS(r, Z2M_GAS) && !ON(r, Z2M_GAS));
	/* contact false = open */
	r = read_ok("{\"contact\":false}");
	ck_assert(HAS(r, Z2M_OPEN) && ON(r, Z2M_OPEN));
	r = read_ok("{\"contact\":true}");
	ck_assert(HAS(r, Z2M_OPEN) && !ON(r, Z2M_OPEN));
	/* unknown values say nothing */
	r = read_ok("{\"smoke\":3,\"water_leak\":\"maybe\",\"battery\":180}");
	ck_assert_int_eq(r.has, 0);
	ck_assert_int_eq(r.battery, -1);
	r = read_ok("{\"occupancy\":false,\"presence\":true}");
	ck_assert(HAS(r, Z2M_OCCUPANCY) && ON(r, Z2M_OCCUPANCY));
}
END_TEST

START_TEST(test_read_fall_and_sos)
{
	struct z2m_reading r;

	r = read_ok("{\"fall_down_status\":\"fall\"}");
	ck_assert(HAS(r, Z2M_FALL) && ON(r, Z2M_FALL));
	r = read_ok("{\"fall_down_status\":\"maybe_fall\"}");
	ck_assert(HAS(r, Z2M_FALL) && !ON(r, Z2M_FALL));
	r = read_ok("{\"fall_status\":\"fall_alarm\"}");
	ck_assert(HAS(r, Z2M_FALL) && ON(r, Z2M_FALL));
	r = read_ok("{\"fall_status\":\"unknown\"}");
	ck_assert(!HAS(r, Z2M_FALL));
	r = read_ok("{\"status\":\"falling\"}");
	ck_assert(ON(r, Z2M_FALL));
	r = read_ok("{\"status\":\"on\"}"); /* another device's status */
	ck_assert(!HAS(r, Z2M_FALL));
	r = read_ok("{\"action\":\"emergency\"}");
	ck_assert(ON(r, Z2M_SOS_ACTION));
	r = read_ok("{\"action\":\"sos_l1\"}");
	ck_assert(ON(r, Z2M_SOS_ACTION));
	r = read_ok("{\"action\":\"emergency_heating\"}");
	ck_assert(!HAS(r, Z2M_SOS_ACTION));
	r = read_ok("{\"action\":\"single\"}");
	ck_assert(!HAS(r, Z2M_SOS_ACTION));
	r = read_ok("{\"sos\":true}");
	ck_assert(ON(r, Z2M_SOS));
	/* a press that also sets the level is one alarm: the level's */
	r = read_ok("{\"action\":\"sos\",\"sos_alarm\":true}");
	ck_assert(ON(r, Z2M_SOS));
	ck_assert(!HAS(r, Z2M_SOS_ACTION));
}
END_TEST

START_TEST(test_read_rejects)
{
	struct z2m_reading r;

	ck_assert_str_eq(z2m_read("online", 6, &r), "bad json");
	ck_assert_str_eq(z2m_read("[1]", 3, &r), "not a json object");
	ck_assert_str_eq(z2m_read("{\"a\":1,\"a\":2}", 13, &r), "bad json");
	ck_assert_str_eq(z2m_read("\xff\xfe", 2, &r), "bad json");
}
END_TEST

static int
apply(struct z2m_state *st, const char *payload, struct z2m_edge *ed)
{
	struct z2m_reading r = read_ok(payload);

	return z2m_apply(st, &r, ed);
}

START_TEST(test_edges)
{
	struct z2m_state st;
	struct z2m_edge ed[Z2M__COUNT];
	struct devevent ev;

	memset(&st, 0, sizeof(st));
	/* first sight, inactive: kept, no event */
	ck_assert_int_eq(apply(&st, "{\"smoke\":false}", ed), 1);
	ck_assert(!ed[0].event);
	ck_assert_int_eq(ed[0].seq, 0);
	ck_assert_int_eq(apply(&st, "{\"smoke\":false,\"battery\":50}", ed), 0);
	/* true raises */
	ck_assert_int_eq(apply(&st, "{\"smoke\":true}", ed), 1);
	ck_assert(ed[0].event && ed[0].on);
	z2m_edge_event(&ed[0], 50, &ev);
	ck_assert_str_eq(ev.id, "z2m-smoke-1");
	ck_assert_int_eq(ev.type, EV_SMOKE);
	ck_assert(!ev.clear);
	ck_assert_int_eq(ev.battery, 50);
	/* a repeat raises nothing, nor does a payload without the field */
	ck_assert_int_eq(apply(&st, "{\"smoke\":true,\"linkquality\":3}", ed), 0);
	ck_assert_int_eq(apply(&st, "{\"linkquality\":3}", ed), 0);
	/* false clears */
	ck_assert_int_eq(apply(&st, "{\"smoke\":false}", ed), 1);
	z2m_edge_event(&ed[0], -1, &ev);
	ck_assert_str_eq(ev.id, "z2m-smoke-2");
	ck_assert(ev.clear);
	/* two fields in one payload */
	ck_assert_int_eq(apply(&st, "{\"smoke\":true,\"battery_low\":true}", ed), 2);
	z2m_edge_event(&ed[1], -1, &ev);
	ck_assert_int_eq(ev.type, EV_LOW_BATTERY);
	ck_assert_str_eq(ev.id, "z2m-battery_low-1");
}
END_TEST

START_TEST(test_edges_first_sight_active)
{
	struct z2m_state st;
	struct z2m_edge ed[Z2M__COUNT];

	memset(&st, 0, sizeof(st));
	ck_assert_int_eq(apply(&st, "{\"water_leak\":true}", ed), 1);
	ck_assert(ed[0].event && ed[0].on && ed[0].seq == 1);
}
END_TEST

START_TEST(test_edges_activity_and_presses)
{
	struct z2m_state st;
	struct z2m_edge ed[Z2M__COUNT];
	struct devevent ev;

	memset(&st, 0, sizeof(st));
	ck_assert_int_eq(apply(&st, "{\"occupancy\":true}", ed), 1);
	z2m_edge_event(&ed[0], -1, &ev);
	ck_assert_int_eq(ev.type, EV_MOTION);
	/* the end of activity is kept, not an event */
	ck_assert_int_eq(apply(&st, "{\"occupancy\":false}", ed), 1);
	ck_assert(!ed[0].event);
	/* each press is one, also the same payload twice */
	ck_assert_int_eq(apply(&st, "{\"action\":\"emergency\"}", ed), 1);
	z2m_edge_event(&ed[0], -1, &ev);
	ck_assert_str_eq(ev.id, "z2m-sos_action-1");
	ck_assert_int_eq(ev.type, EV_SOS);
	ck_assert_int_eq(apply(&st, "{\"action\":\"emergency\"}", ed), 1);
	ck_assert_int_eq(ed[0].seq, 2);
	ck_assert_int_eq(apply(&st, "{\"battery\":80}", ed), 0);
	/* a door opened: contact false */
	ck_assert_int_eq(apply(&st, "{\"contact\":false}", ed), 1);
	z2m_edge_event(&ed[0], -1, &ev);
	ck_assert_int_eq(ev.type, EV_DOOR);
	ck_assert(!ev.clear);
}
END_TEST

/* A restart loads the state as it was stored: the same payload again is no
 * edge, and the next change gets the next number. */
START_TEST(test_edges_after_restart)
{
	struct z2m_state st, loaded;
	struct z2m_edge ed[Z2M__COUNT];

	memset(&st, 0, sizeof(st));
	apply(&st, "{\"gas\":true}", ed);
	memset(&loaded, 0, sizeof(loaded));
	loaded.known = st.known;
	loaded.on = st.on;
	memcpy(loaded.seq, st.seq, sizeof(st.seq));
	ck_assert_int_eq(apply(&loaded, "{\"gas\":true}", ed), 0);
	ck_assert_int_eq(apply(&loaded, "{\"gas\":false}", ed), 1);
	ck_assert_int_eq(ed[0].seq, 2);
	ck_assert(ed[0].event);
}
END_TEST

START_TEST(test_field_names)
{
	int f;

	for (f = 0; f < Z2M__COUNT; f++)
		ck_assert_int_eq(z2m_field_parse(z2m_field_name((enum z2m_field)f)), f);
	ck_assert_int_eq(z2m_field_parse("battery"), -1);
}
END_TEST

/* Every payload of the corpus reads; each model raises the event types
 * its exposed alarm fields stand for, and no life alarm it does not have. */
START_TEST(test_corpus_replay)
{
	static const enum ev_type life[] = {EV_SOS, EV_FALL, EV_SMOKE, EV_GAS, EV_CO};
	FILE *f = fopen(Z2M_CORPUS, "r");
	char line[8192], model[128] = "";
	struct z2m_state st;
	bool raised[EV__COUNT], expected[EV__COUNT];
	int lines = 0, models = 0;

	ck_assert_ptr_nonnull(f);
	memset(&st, 0, sizeof(st));
	for (;;) {
		char *got = fgets(line, sizeof(line), f);
		json_t *j = got ? json_loads(line, 0, NULL) : NULL;
		const char *m = j ? json_string_value(json_object_get(j, "model")) : NULL;

		ck_assert(got == NULL || m != NULL);
		if (got == NULL || strcmp(m, model) != 0) {
			size_t i;

			for (i = 0; models > 0 && i < EV__COUNT; i++) {
				if (expected[i] && !raised[i])
					ck_abort_msg("%s: %s not raised", model,
						     ev_type_name((enum ev_type)i));
			}
			for (i = 0; models > 0 && i < sizeof(life) / sizeof(life[0]); i++)
				if (raised[life[i]] && !expected[life[i]])
					ck_abort_msg("%s: %s raised", model,
						     ev_type_name(life[i]));
			if (got == NULL)
				break;
			snprintf(model, sizeof(model), "%s", m);
			memset(&st, 0, sizeof(st));
			memset(raised, 0, sizeof(raised));
			memset(expected, 0, sizeof(expected));
			{
				json_t *ex = json_object_get(j, "expect"), *v;
				size_t k;

				json_array_foreach(ex, k, v)
				{
					int t = ev_type_parse(json_string_value(v));

					ck_assert_int_ge(t, 0);
					expected[t] = true;
				}
			}
			models++;
		}
		{
			char *p = json_dumps(json_object_get(j, "payload"), JSON_COMPACT);
			struct z2m_reading r;
			struct z2m_edge ed[Z2M__COUNT];
			struct devevent ev;
			int i, n;

			ck_assert_ptr_null(z2m_read(p, strlen(p), &r));
			n = z2m_apply(&st, &r, ed);
			for (i = 0; i < n; i++) {
				if (!ed[i].event || !ed[i].on)
					continue;
				z2m_edge_event(&ed[i], r.battery, &ev);
				raised[ev.type] = true;
			}
			free(p);
		}
		lines++;
		json_decref(j);
	}
	fclose(f);
	ck_assert_int_ge(models, 30);
	ck_assert_int_ge(lines, 300);
}
END_TEST

static Suite *
z2m_suite(void)
{
	Suite *s = suite_create("z2m");
	TCase *tc = tcase_create("topics");

	tcase_add_test(tc, test_topic_names);
	tcase_add_test(tc, test_topic_ignored);
	tcase_add_test(tc, test_topic_not_ours_or_bad);
	tcase_add_test(tc, test_base_list);
	suite_add_tcase(s, tc);

	tc = tcase_create("fields");
	tcase_add_test(tc, test_read_fields);
	tcase_add_test(tc, test_read_fall_and_sos);
	tcase_add_test(tc, test_read_rejects);
	tcase_add_test(tc, test_field_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("edges");
	tcase_add_test(tc, test_edges);
	tcase_add_test(tc, test_edges_first_sight_active);
	tcase_add_test(tc, test_edges_activity_and_presses);
	tcase_add_test(tc, test_edges_after_restart);
	suite_add_tcase(s, tc);

	tc = tcase_create("corpus");
	tcase_add_test(tc, test_corpus_replay);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(z2m_suite());
}
