/* owntracks.h - OwnTracks messages (SPEC §3): the volunteers' phones report
 * their position on owntracks/{user}/{device}. Pure parsing only. */
#ifndef CW_OWNTRACKS_H
#define CW_OWNTRACKS_H

#include <stdbool.h>
#include <stddef.h>

enum ot_kind {
	OT_LOCATION,  /* a fix: lat, lon and its time tst */
	OT_IGNORED,   /* a well-formed message of another _type */
	OT_MALFORMED, /* not an OwnTracks message: dead-lettered */
};

struct ot_fix {
	double lat, lon;
	double tst; /* when the fix was taken, epoch seconds */
	double acc; /* metres; -1 when not given */
};

/* Copies the {user} of "owntracks/{user}/{device}" into user (len bytes);
 * -1 when the topic is not of that form or the user does not fit. */
int owntracks_topic(const char *topic, char *user, size_t len);

/* Reads one payload. OT_MALFORMED sets *why (a static reason). */
enum ot_kind owntracks_parse(const void *payload, size_t len, struct ot_fix *fix,
			     const char **why);

#endif
