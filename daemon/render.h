/* render.h - the MQTT form of what the daemon says: offers, withdrawals,
 * station notices, tickets (from the core's typed effects), event
 * acknowledgements and dead letters (SPEC §3). Pure: jansson only. */
#ifndef CW_RENDER_H
#define CW_RENDER_H

#include <stdbool.h>

#include <stddef.h>
#include <stdint.h>

#include "model.h"

#define CW_TOPIC_MAX 768 /* a 512-byte prefix, two ids and the words between */

/* A message ready for the broker; both strings are the holder's to free. */
struct pub {
	char *topic;
	char *payload;
	bool ack; /* an event's ack: on the main session (see publish_now) */
};

void pub_free(struct pub *p);

/* Renders fx under the topic prefix. Returns 0 and fills p, or -1 when the
 * effect has no MQTT form (FX_CHANGED). */
int render_effect(const char *prefix, const struct effect *fx, struct pub *p);

/* {prefix}/dev/{device}/ack: {"id": event, "incident": N} (no incident
 * when 0). */
void render_ack(const char *prefix, const char *device_id, const char *event_id,
		int64_t incident, struct pub *p);

/* {prefix}/deadletter: {"topic", "reason", "payload_b64"}. */
void render_dead(const char *prefix, const char *topic, const char *reason,
		 const char *payload_b64, struct pub *p);

#endif
