/* z2m.c - what a zigbee2mqtt bridge publishes, read field by field, and
 * the edges of those fields (SPEC §3). No I/O.
 *
 * zigbee2mqtt publishes a device's whole state on every change, so a value
 * means something only when it differs from the last one: a field turning
 * active raises, turning inactive clears, a repeat says nothing. The field
 * names and values are those zigbee-herdsman-converters emit; see
 * tests/fixtures/z2m/ for the payloads of real models. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "util.h"
#include "z2m.h"

static const struct {
	const char *name; /* in event ids and the durable state */
	enum ev_type type;
	bool clears; /* the falling edge is a clear event */
} fields[Z2M__COUNT] = {
    [Z2M_SMOKE] = {"smoke", EV_SMOKE, true},
    [Z2M_GAS] = {"gas", EV_GAS, true},
    [Z2M_CO] = {"carbon_monoxide", EV_CO, true},
    [Z2M_WATER_LEAK] = {"water_leak", EV_WATER_LEAK, true},
    [Z2M_TAMPER] = {"tamper", EV_TAMPER, true},
    [Z2M_BATTERY_LOW] = {"battery_low", EV_LOW_BATTERY, true},
    [Z2M_OPEN] = {"contact", EV_DOOR, true},
    /* activity: each arrival is worth a record, its end is not */
    [Z2M_OCCUPANCY] = {"occupancy", EV_MOTION, false},
    [Z2M_SOS] = {"sos", EV_SOS, true},
    /* a press has no end to report */
    [Z2M_SOS_ACTION] = {"sos_action", EV_SOS, false},
    [Z2M_FALL] = {"fall", EV_FALL, true},
};

const char *
z2m_field_name(enum z2m_field f)
{
	return (unsigned)f < Z2M__COUNT ? fields[f].name : "unknown";
}

int
z2m_field_parse(const char *s)
{
	int i;

	for (i = 0; i < Z2M__COUNT; i++)
		if (strcmp(s, fields[i].name) == 0)
			return i;
	return -1;
}

bool
z2m_base_next(const char **pos, char *out, size_t cap)
{
	const char *p = *pos, *end;
	size_t n;

	while (p != NULL && *p != '\0') {
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		*pos = *end ? end + 1 : end;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		n = (size_t)(end - p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '/'))
			n--;
		if (n > 0 && n < cap) {
			memcpy(out, p, n);
			out[n] = '\0';
			return true;
		}
		p = *pos;
	}
	return false;
}

static bool
ends_with(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

enum z2m_topic
z2m_topic_parse(const char *bases, const char *topic, char *name)
{
	char base[256];
	const char *pos = bases, *rest = NULL;
	size_t best = 0, len, i;
	enum z2m_topic kind = Z2M_T_STATE;

	/* the longest base that matches: one base may lie under another */
	while (z2m_base_next(&pos, base, sizeof(base))) {
		size_t bl = strlen(base);

		if (bl > best && strncmp(topic, base, bl) == 0 && topic[bl] == '/') {
			best = bl;
			rest = topic + bl + 1;
		}
	}
	if (rest == NULL)
		return Z2M_T_NONE;
	len = strlen(rest);
	if (strncmp(rest, "bridge", 6) == 0 && (rest[6] == '\0' || rest[6] == '/'))
		return Z2M_T_IGNORE;
	/* commands to the bridge, from other clients: {name}/set[/attr] */
	if (ends_with(rest, len, "/set") || ends_with(rest, len, "/get") ||
	    strstr(rest, "/set/") != NULL || strstr(rest, "/get/") != NULL)
		return Z2M_T_IGNORE;
	if (ends_with(rest, len, "/availability")) {
		len -= strlen("/availability");
		kind = Z2M_T_AVAIL;
	}
	if (len == 0 || len > Z2M_NAME_MAX)
		return Z2M_T_BAD;
	for (i = 0; i < len; i++)
		if ((unsigned char)rest[i] < 0x20 || rest[i] == 0x7f)
			return Z2M_T_BAD;
	memcpy(name, rest, len);
	name[len] = '\0';
	return kind;
}

/* A two-state value: a JSON boolean, or the strings zigbee2mqtt and Tuya
 * converters use. Returns -1 when it is neither. */
static int
z2m_bool(const json_t *v)
{
	const char *s;

	if (json_is_boolean(v))
		return json_is_true(v);
	if (!json_is_string(v))
		return -1;
	s = json_string_value(v);
	if (strcasecmp(s, "ON") == 0 || strcasecmp(s, "true") == 0 ||
	    strcasecmp(s, "alarm") == 0)
		return 1;
	if (strcasecmp(s, "OFF") == 0 || strcasecmp(s, "false") == 0 ||
	    strcasecmp(s, "normal") == 0)
		return 0;
	return -1;
}

/* 1 when s is one of on[], 0 when one of off[], else -1. */
static int
z2m_enum(const json_t *v, const char *const *on, const char *const *off)
{
	const char *s = json_string_value(v);

	if (s == NULL)
		return -1;
	for (; *on; on++)
		if (strcmp(s, *on) == 0)
			return 1;
	for (; *off; off++)
		if (strcmp(s, *off) == 0)
			return 0;
	return -1;
}

/* An SOS press: the action values of call buttons and alarm keypads,
 * possibly with the endpoint postfix zigbee2mqtt adds ("emergency_l1"). */
static bool
z2m_sos_action(const char *s)
{
	static const char *const sos[] = {"sos", "emergency", "panic", "emergency_panic"};
	size_t i, n, k;

	for (i = 0; i < sizeof(sos) / sizeof(sos[0]); i++) {
		n = strlen(sos[i]);
		if (strncmp(s, sos[i], n) != 0)
			continue;
		if (s[n] == '\0')
			return true;
		if (s[n] != '_')
			continue;
		/* an endpoint name: short, letters and digits */
		for (k = n + 1; s[k] && k <= n + 4; k++)
			if (!((s[k] >= 'a' && s[k] <= 'z') ||
			      (s[k] >= '0' && s[k] <= '9')))
				break;
		if (s[k] == '\0' && k > n + 1 && k <= n + 4)
			return true;
	}
	return false;
}

#define HAS_BIT(r, f) (((r)->has >> (f)) & 1u)

static void
set(struct z2m_reading *r, enum z2m_field f, int val)
{
	if (val < 0)
		return;
	if (r->has & (1u << f)) {
		/* two keys for one field (occupancy and presence): active if any */
		if (val)
			r->on |= (uint16_t)(1u << f);
		return;
	}
	r->has |= (uint16_t)(1u << f);
	if (val)
		r->on |= (uint16_t)(1u << f);
}

const char *
z2m_read(const char *payload, size_t len, struct z2m_reading *r)
{
	/* Tuya radars (ZY-M100 family), Heiman's fall radar, Owon's OPS-31 */
	static const char *const tuya_on[] = {"fall", NULL};
	static const char *const tuya_off[] = {"none", "maybe_fall", NULL};
	static const char *const heiman_on[] = {"fall_alarm", NULL};
	static const char *const heiman_off[] = {"normal", "fall_warning", NULL};
	static const char *const owon_on[] = {"falling", NULL};
	static const char *const owon_off[] = {"unoccupied", "occupied",    "sitting",
					       "on_the_bed", "low_posture", NULL};
	json_error_t err;
	json_t *root, *v;

	memset(r, 0, sizeof(*r));
	r->battery = -1;
	root = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &err);
	if (root == NULL)
		return "bad json";
	if (!json_is_object(root)) {
		json_decref(root);
		return "not a json object";
	}
	set(r, Z2M_SMOKE, z2m_bool(json_object_get(root, "smoke")));
	set(r, Z2M_GAS, z2m_bool(json_object_get(root, "gas")));
	set(r, Z2M_CO, z2m_bool(json_object_get(root, "carbon_monoxide")));
	set(r, Z2M_WATER_LEAK, z2m_bool(json_object_get(root, "water_leak")));
	set(r, Z2M_TAMPER, z2m_bool(json_object_get(root, "tamper")));
	set(r, Z2M_BATTERY_LOW, z2m_bool(json_object_get(root, "battery_low")));
	if (json_is_boolean(v = json_object_get(root, "contact")))
		set(r, Z2M_OPEN, !json_is_true(v));
	set(r, Z2M_OCCUPANCY, z2m_bool(json_object_get(root, "occupancy")));
	if (json_is_boolean(v = json_object_get(root, "presence")))
		set(r, Z2M_OCCUPANCY, json_is_true(v));
	set(r, Z2M_SOS, z2m_bool(json_object_get(root, "sos")));
	set(r, Z2M_SOS, z2m_bool(json_object_get(root, "sos_alarm")));
	/* A press is the one message that carries it: zigbee2mqtt does not
	 * keep "action" in the state it re-sends. A device that also reports
	 * an SOS level (Daewoo's sos_alarm) is followed by the level alone,
	 * or each press would be two alarms. */
	v = json_object_get(root, "action");
	if (json_is_string(v) && z2m_sos_action(json_string_value(v)) &&
	    !HAS_BIT(r, Z2M_SOS))
		set(r, Z2M_SOS_ACTION, 1);
	set(r, Z2M_FALL,
	    z2m_enum(json_object_get(root, "fall_down_status"), tuya_on, tuya_off));
	set(r, Z2M_FALL,
	    z2m_enum(json_object_get(root, "fall_status"), heiman_on, heiman_off));
	set(r, Z2M_FALL, z2m_enum(json_object_get(root, "status"), owon_on, owon_off));
	v = json_object_get(root, "battery");
	if (json_is_number(v)) {
		double b = json_number_value(v);

		if (b >= 0 && b <= 100)
			r->battery = (int)lround(b);
	}
	json_decref(root);
	return NULL;
}

int
z2m_apply(struct z2m_state *st, const struct z2m_reading *r, struct z2m_edge *out)
{
	int f, n = 0;

	for (f = 0; f < Z2M__COUNT; f++) {
		uint16_t bit = (uint16_t)(1u << f);
		bool on = (r->on & bit) != 0, known = (st->known & bit) != 0;

		if (!(r->has & bit))
			continue;
		if (f == Z2M_SOS_ACTION) {
			/* every press counts, also the same press twice in a row:
			 * its number makes a redelivered copy the same event */
			st->known |= bit;
			st->seq[f]++;
			out[n++] =
			    (struct z2m_edge){(enum z2m_field)f, true, st->seq[f], true};
			continue;
		}
		if (known && ((st->on & bit) != 0) == on)
			continue; /* a repeat */
		st->known |= bit;
		if (on)
			st->on |= bit;
		else
			st->on &= (uint16_t)~bit;
		/* first sight of an inactive field: nothing happened, but the
		 * state is kept so that the next change is an edge */
		if (known || on)
			st->seq[f]++;
		out[n].field = (enum z2m_field)f;
		out[n].on = on;
		out[n].seq = st->seq[f];
		out[n].event = on ? true : known && fields[f].clears;
		n++;
	}
	return n;
}

void
z2m_edge_event(const struct z2m_edge *ed, int battery, struct devevent *ev)
{
	memset(ev, 0, sizeof(*ev));
	snprintf(ev->id, sizeof(ev->id), "z2m-%s-%u", fields[ed->field].name,
		 (unsigned)ed->seq);
	ev->type = fields[ed->field].type;
	ev->clear = !ed->on;
	ev->battery = battery;
}
