/* ingest.c - parse what arrives, decide what it means. No I/O. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "conf.h"
#include "ingest.h"
#include "log.h"
#include "util.h"
#include "validate.h"

static const char *const ev_names[EV__COUNT] = {
    [EV_SOS] = "sos",
    [EV_FALL] = "fall",
    [EV_SMOKE] = "smoke",
    [EV_GAS] = "gas",
    [EV_CO] = "co",
    [EV_WATER_LEAK] = "water_leak",
    [EV_INACTIVITY] = "inactivity",
    [EV_DOOR] = "door",
    [EV_MOTION] = "motion",
    [EV_HEARTBEAT] = "heartbeat",
    [EV_LOW_BATTERY] = "low_battery",
    [EV_TAMPER] = "tamper",
    [EV_TEST] = "test",
    [EV_OFFLINE] = "device_offline",
};

const char *
ev_type_name(enum ev_type t)
{
	return (unsigned)t < EV__COUNT ? ev_names[t] : "unknown";
}

int
ev_type_parse(const char *s)
{
	int i;

	/* device_offline is raised by the daemon, never accepted from a device */
	for (i = 0; i < EV_OFFLINE; i++)
		if (strcmp(s, ev_names[i]) == 0)
			return i;
	return -1;
}

static const char *const reply_names[] = {"accept", "decline", "arrived", "done"};

const char *
reply_action_name(enum reply_action a)
{
	return reply_names[a];
}

bool
outcome_valid(const char *s)
{
	size_t i;

	for (i = 0; validate_outcomes[i] != NULL; i++)
		if (strcmp(s, validate_outcomes[i]) == 0)
			return true;
	return false;
}

/* Matches "{prefix}/{a}/{id}/{b}" and copies id. */
static bool
topic_match(const char *prefix, const char *topic, const char *a, const char *b, char *id)
{
	size_t pl = strlen(prefix), al = strlen(a), bl = strlen(b), tl = strlen(topic);
	const char *p, *slash;

	if (tl < pl + al + bl + 4 || strncmp(topic, prefix, pl) != 0 || topic[pl] != '/')
		return false;
	p = topic + pl + 1;
	if (strncmp(p, a, al) != 0 || p[al] != '/')
		return false;
	p += al + 1;
	if ((slash = strchr(p, '/')) == NULL || strcmp(slash + 1, b) != 0)
		return false;
	if (!id_valid(p, (size_t)(slash - p), ID_MAX))
		return false;
	memcpy(id, p, (size_t)(slash - p));
	id[slash - p] = '\0';
	return true;
}

enum topic_kind
topic_parse(const char *prefix, const char *topic, char *id)
{
	if (topic_match(prefix, topic, "dev", "event", id))
		return TOPIC_DEV_EVENT;
	if (topic_match(prefix, topic, "dev", "status", id))
		return TOPIC_DEV_STATUS;
	if (topic_match(prefix, topic, "resp", "reply", id))
		return strlen(id) <= REF_ID_MAX ? TOPIC_RESP_REPLY : TOPIC_UNKNOWN;
	if (topic_match(prefix, topic, "resp", "visit", id))
		return strlen(id) <= REF_ID_MAX ? TOPIC_RESP_VISIT : TOPIC_UNKNOWN;
	return TOPIC_UNKNOWN;
}

/* True when s has no control characters (ids end up in logs and topics). */
static bool
text_printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* Loads a JSON object; jansson rejects invalid UTF-8 and NUL in strings. */
static json_t *
ingest_load(const char *payload, size_t len, const char **why)
{
	json_error_t err;
	json_t *root;

	root = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &err);
	if (root == NULL) {
		*why = "bad json";
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		*why = "not a json object";
		return NULL;
	}
	return root;
}

const char *
ingest_parse_event(const char *payload, size_t len, struct devevent *ev)
{
	const char *why = NULL, *s;
	json_t *root, *v;

	memset(ev, 0, sizeof(*ev));
	ev->battery = -1;
	if ((root = ingest_load(payload, len, &why)) == NULL)
		return why;

	v = json_object_get(root, "id");
	if (!json_is_string(v)) {
		why = "missing id";
		goto out;
	}
	s = json_string_value(v);
	if (json_string_length(v) == 0 || json_string_length(v) > ID_MAX ||
	    strlen(s) != json_string_length(v) || !text_printable(s)) {
		why = "bad id";
		goto out;
	}
	strcpy(ev->id, s);

	v = json_object_get(root, "type");
	if (!json_is_string(v)) {
		why = "missing type";
		goto out;
	}
	{
		int t = ev_type_parse(json_string_value(v));

		if (t < 0) {
			why = "unknown type";
			goto out;
		}
		ev->type = (enum ev_type)t;
	}

	v = json_object_get(root, "state");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v)) {
			why = "bad state";
			goto out;
		}
		s = json_string_value(v);
		if (strcmp(s, "clear") == 0)
			ev->clear = true;
		else if (strcmp(s, "alarm") != 0) {
			why = "bad state";
			goto out;
		}
	}

	v = json_object_get(root, "ts");
	if (json_is_string(v)) {
		if (time_parse_rfc3339(json_string_value(v), &ev->ts) < 0) {
			why = "bad ts";
			goto out;
		}
	} else if (json_is_integer(v)) {
		json_int_t ms = json_integer_value(v);

		/* epoch milliseconds; accept 2000..2100 only */
		if (ms < 946684800000LL || ms > 4102444800000LL) {
			why = "bad ts";
			goto out;
		}
		ev->ts = (double)ms / 1000.0;
	} else if (v != NULL && !json_is_null(v)) {
		why = "bad ts";
		goto out;
	}

	v = json_object_get(root, "battery");
	if (json_is_integer(v) && json_integer_value(v) >= 0 &&
	    json_integer_value(v) <= 100)
		ev->battery = (int)json_integer_value(v);
	else if (v != NULL && !json_is_null(v)) {
		why = "bad battery";
		goto out;
	}

	{
		json_t *la = json_object_get(root, "lat"),
		       *lo = json_object_get(root, "lon");

		if (json_is_number(la) && json_is_number(lo)) {
			ev->lat = json_number_value(la);
			ev->lon = json_number_value(lo);
			if (fabs(ev->lat) > 90 || fabs(ev->lon) > 180) {
				why = "bad position";
				goto out;
			}
			ev->has_pos = true;
		}
	}

	v = json_object_get(root, "data");
	if (json_is_object(v) && json_object_size(v) > 0)
		ev->data = json_dumps(v, JSON_COMPACT);
out:
	json_decref(root);
	return why;
}

const char *
ingest_parse_status(const char *payload, size_t len, bool *online)
{
	const char *why = NULL, *s;
	json_t *root;

	if (len == 6 && memcmp(payload, "online", 6) == 0) {
		*online = true;
		return NULL;
	}
	if (len == 7 && memcmp(payload, "offline", 7) == 0) {
		*online = false;
		return NULL;
	}
	if ((root = ingest_load(payload, len, &why)) == NULL)
		return why;
	s = json_string_value(json_object_get(root, "state"));
	if (s && strcmp(s, "online") == 0)
		*online = true;
	else if (s && strcmp(s, "offline") == 0)
		*online = false;
	else
		why = "bad status";
	json_decref(root);
	return why;
}

const char *
ingest_parse_reply(const char *payload, size_t len, struct reply *r)
{
	const char *why = NULL, *s;
	json_t *root, *v;
	size_t i;

	memset(r, 0, sizeof(*r));
	if ((root = ingest_load(payload, len, &why)) == NULL)
		return why;
	v = json_object_get(root, "incident");
	if (!json_is_integer(v) || json_integer_value(v) <= 0) {
		why = "missing incident";
		goto out;
	}
	r->incident = json_integer_value(v);
	s = json_string_value(json_object_get(root, "action"));
	if (s == NULL) {
		why = "missing action";
		goto out;
	}
	for (i = 0; i < 4; i++)
		if (strcmp(s, reply_names[i]) == 0)
			break;
	if (i == 4) {
		why = "unknown action";
		goto out;
	}
	r->action = (enum reply_action)i;
	v = json_object_get(root, "outcome");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v) || !outcome_valid(json_string_value(v))) {
			why = "unknown outcome";
			goto out;
		}
		strcpy(r->outcome, json_string_value(v));
	}
	v = json_object_get(root, "note");
	if (json_is_string(v))
		str_copy(r->note, json_string_value(v), sizeof(r->note));
out:
	json_decref(root);
	return why;
}

json_t *
ingest_body(const char *body, size_t len, const char *const *allowed, char *why,
	    size_t whylen)
{
	json_error_t err;
	const char *key;
	json_t *o, *v;
	size_t i;

	if (len == 0)
		return json_object();
	if ((o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err)) == NULL) {
		snprintf(why, whylen, "bad JSON: %s", err.text);
		return NULL;
	}
	if (!json_is_object(o)) {
		snprintf(why, whylen, "a JSON object expected");
		json_decref(o);
		return NULL;
	}
	json_object_foreach(o, key, v)
	{
		for (i = 0; allowed[i] && strcmp(allowed[i], key) != 0; i++)
			;
		if (allowed[i] == NULL) {
			char esc[80];

			snprintf(why, whylen, "unknown field \"%s\"",
				 log_esc(esc, sizeof(esc), key, strlen(key)));
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

const char *
ingest_parse_visit(const char *payload, size_t len, double now, struct visit *v)
{
	const char *why = NULL, *s, *kind;
	json_t *root, *o;
	int in_person = -1;

	memset(v, 0, sizeof(*v));
	v->in_person = true;
	if ((root = ingest_load(payload, len, &why)) == NULL)
		return why;
	s = json_string_value(json_object_get(root, "id"));
	if (s == NULL || !id_valid(s, strlen(s), VALIDATE_VISIT_ID_MAX)) {
		why = "missing or bad id";
		goto out;
	}
	strcpy(v->id, s);
	s = json_string_value(json_object_get(root, "elder"));
	if (s == NULL || !id_valid(s, strlen(s), REF_ID_MAX)) {
		why = "missing or bad elder";
		goto out;
	}
	strcpy(v->elder_id, s);
	s = json_string_value(json_object_get(root, "at"));
	if (s == NULL || time_parse_rfc3339(s, &v->at) < 0) {
		why = "missing or bad at";
		goto out;
	}
	o = json_object_get(root, "kind");
	if (o != NULL && !json_is_string(o)) {
		why = "unknown visit kind";
		goto out;
	}
	kind = o != NULL ? json_string_value(o) : "routine";
	o = json_object_get(root, "in_person");
	if (o != NULL && !json_is_boolean(o)) {
		why = "bad in_person";
		goto out;
	}
	if (o != NULL)
		in_person = json_is_true(o) ? 1 : 0;
	/* the checks every way in shares: kind, phone not in person, time */
	if ((why = validate_visit(kind, in_person, v->at, now, &v->in_person)) != NULL)
		goto out;
	str_copy(v->kind, kind, sizeof(v->kind));
	s = json_string_value(json_object_get(root, "note"));
	if (s != NULL)
		str_copy(v->note, s, sizeof(v->note));
out:
	json_decref(root);
	return why;
}

void
local_time(double t, struct localtime_cw *lt)
{
	time_t s = (time_t)t;
	struct tm tm;

	localtime_r(&s, &tm);
	lt->y = tm.tm_year + 1900;
	lt->m = tm.tm_mon + 1;
	lt->d = tm.tm_mday;
	lt->minute = tm.tm_hour * 60 + tm.tm_min;
}

int
elder_age(const struct elder *e, const struct localtime_cw *lt)
{
	int age;

	if (e->birth_y <= 0)
		return -1;
	age = lt->y - e->birth_y;
	if (lt->m < e->birth_m || (lt->m == e->birth_m && lt->d < e->birth_d))
		age--;
	return age;
}

int
classify_priority(enum ev_type t, bool clear, const struct elder *e,
		  const struct localtime_cw *lt, int night_from, int night_to)
{
	int prio;

	if (clear)
		return 0;
	switch (t) {
	case EV_SOS:
	case EV_FALL:
	case EV_SMOKE:
	case EV_GAS:
	case EV_CO:
		return 1;
	case EV_WATER_LEAK:
	case EV_INACTIVITY:
		prio = 2;
		break;
	case EV_DOOR:
		if (!conf_in_hours(night_from, night_to, lt->minute))
			return 0;
		prio = 2;
		break;
	case EV_LOW_BATTERY:
	case EV_TAMPER:
	case EV_OFFLINE:
		return 3;
	default:
		return 0;
	}
	/* Risk raise: living alone, disabled (or capability >= 2), or 80+. */
	if (e != NULL && ((e->cats & (CAT_LIVING_ALONE | CAT_DISABLED)) ||
			  e->capability >= 2 || elder_age(e, lt) >= 80))
		prio = 1;
	return prio;
}

unsigned
elder_cats_parse(const char *s)
{
	unsigned bits = 0;
	size_t i;

	/* validate_categories lists them in the order of enum elder_cat's bits:
	 * one list for the importer and the daemon */
	while (s && *s) {
		const char *e = strpbrk(s, ";,{}");
		size_t n = e ? (size_t)(e - s) : strlen(s);

		for (i = 0; validate_categories[i] != NULL; i++)
			if (strlen(validate_categories[i]) == n &&
			    strncmp(s, validate_categories[i], n) == 0)
				bits |= 1u << i;
		s = e ? e + 1 : NULL;
	}
	return bits;
}
