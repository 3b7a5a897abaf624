/* ingest.h - topics and payloads in, classified: pure functions */
#ifndef CW_INGEST_H
#define CW_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "model.h"

enum topic_kind {
	TOPIC_UNKNOWN,
	TOPIC_DEV_EVENT,
	TOPIC_DEV_STATUS,
	TOPIC_RESP_REPLY,
	TOPIC_RESP_VISIT,
};

/* Splits "{prefix}/dev/{id}/event" and friends; the id goes into id (which
 * must hold ID_MAX + 1). Returns the kind, TOPIC_UNKNOWN when it is none of
 * ours or the id is not acceptable. */
enum topic_kind topic_parse(const char *prefix, const char *topic, char *id);

struct devevent {
	char id[ID_MAX + 1];
	enum ev_type type;
	bool clear;
	double ts;	 /* the device's own clock; 0 when absent; never decides */
	double received; /* when the daemon received it: priority and opening time */
	int battery;	 /* -1 when absent */
	double lat, lon;
	bool has_pos;
	char *data; /* the "data" object re-serialised, or NULL; caller frees */
};

/* Parses a device event payload. Returns NULL on success, else a short
 * reason for the dead letter. */
const char *ingest_parse_event(const char *payload, size_t len, struct devevent *ev);

/* Parses a status payload ("online", "offline", {"state":"online"}). */
const char *ingest_parse_status(const char *payload, size_t len, bool *online);

enum reply_action { REPLY_ACCEPT, REPLY_DECLINE, REPLY_ARRIVED, REPLY_DONE };

struct reply {
	int64_t incident;
	enum reply_action action;
	char outcome[OUTCOME_MAX];
	char note[512];
};

const char *ingest_parse_reply(const char *payload, size_t len, struct reply *r);

/* Reads an API request body: empty is {}, else a JSON object (duplicate
 * keys refused) whose keys are all in allowed (NULL terminated). Returns
 * it (the caller decrefs), or NULL with the reason for a 400 in why. */
json_t *ingest_body(const char *body, size_t len, const char *const *allowed, char *why,
		    size_t whylen);

/* Parses a visit record ({"id","elder","at","kind","in_person","note"}) into
 * v (responder_id is left to the caller) and checks it with validate_visit():
 * kind, a phone visit not in person, at no later than now plus the skew. */
const char *ingest_parse_visit(const char *payload, size_t len, double now,
			       struct visit *v);

const char *ev_type_name(enum ev_type t);
int ev_type_parse(const char *s); /* -1 when unknown */
const char *reply_action_name(enum reply_action a);
bool outcome_valid(const char *s);

/* Local calendar facts of a moment, in the configured time zone. */
struct localtime_cw {
	int y, m, d;
	int minute; /* of the day */
};
void local_time(double t, struct localtime_cw *lt);

/* Age in whole years on the local date lt; -1 when the birth date is unknown. */
int elder_age(const struct elder *e, const struct localtime_cw *lt);

/* Priority of an event per SPEC §4: 1 life, 2 welfare, 3 technical, 0 when
 * it opens nothing (heartbeat, motion, test, a clear, a door by day).
 * e may be NULL (no risk raise). */
int classify_priority(enum ev_type t, bool clear, const struct elder *e,
		      const struct localtime_cw *lt, int night_from, int night_to);

/* Parses "a;b;c" categories into the bit set; unknown names are ignored. */
unsigned elder_cats_parse(const char *s);

#endif
