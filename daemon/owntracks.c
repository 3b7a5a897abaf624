/* owntracks.c - OwnTracks topics and payloads */
#include "config.h"

#include <math.h>
#include <string.h>

#include <jansson.h>

#include "owntracks.h"

#define OT_BASE "owntracks/"

int
owntracks_topic(const char *topic, char *user, size_t len)
{
	const char *u, *slash;
	size_t n;

	if (strncmp(topic, OT_BASE, strlen(OT_BASE)) != 0)
		return -1;
	u = topic + strlen(OT_BASE);
	if ((slash = strchr(u, '/')) == NULL || strchr(slash + 1, '/') != NULL ||
	    slash[1] == '\0')
		return -1;
	n = (size_t)(slash - u);
	if (n == 0 || n >= len)
		return -1;
	memcpy(user, u, n);
	user[n] = '\0';
	return 0;
}

/* A JSON number (integer or real) into *v; false when absent or another kind. */
static bool
json_num(const json_t *o, const char *key, double *v)
{
	json_t *j = json_object_get(o, key);

	if (!json_is_number(j))
		return false;
	*v = json_number_value(j);
	return isfinite(*v);
}

enum ot_kind
owntracks_parse(const void *payload, size_t len, struct ot_fix *fix, const char **why)
{
	json_error_t jerr;
	json_t *o, *t;
	enum ot_kind k = OT_MALFORMED;

	*why = "bad json";
	o = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL)
		return OT_MALFORMED;
	if (!json_is_object(o)) {
		*why = "not an object";
		goto out;
	}
	t = json_object_get(o, "_type");
	if (!json_is_string(t)) {
		*why = "no _type";
		goto out;
	}
	if (strcmp(json_string_value(t), "location") != 0) {
		/* transition, waypoint(s), lwt, card, status, encrypted, ... */
		k = OT_IGNORED;
		goto out;
	}
	memset(fix, 0, sizeof(*fix));
	if (!json_num(o, "lat", &fix->lat) || !json_num(o, "lon", &fix->lon) ||
	    fabs(fix->lat) > 90 || fabs(fix->lon) > 180) {
		*why = "bad lat/lon";
		goto out;
	}
	if (!json_num(o, "tst", &fix->tst) || fix->tst <= 0 || fix->tst > 1e11) {
		*why = "bad tst";
		goto out;
	}
	if (!json_num(o, "acc", &fix->acc) || fix->acc < 0)
		fix->acc = -1;
	k = OT_LOCATION;
out:
	json_decref(o);
	return k;
}
