/* z2m.h - zigbee2mqtt bridges: topics, state payloads and their edges.
 * Pure functions over plain structs; the adapter is z2mroute.c. */
#ifndef CW_Z2M_H
#define CW_Z2M_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest.h"
#include "model.h"

#define Z2M_NAME_MAX 255 /* bytes of a friendly name we accept */

/* The fields whose edges mean something to us. */
enum z2m_field {
	Z2M_SMOKE,
	Z2M_GAS,
	Z2M_CO,
	Z2M_WATER_LEAK,
	Z2M_TAMPER,
	Z2M_BATTERY_LOW,
	Z2M_OPEN,	/* contact == false: the door is open */
	Z2M_OCCUPANCY,	/* occupancy or presence: activity, never an alarm */
	Z2M_SOS,	/* a level: sos, sos_alarm */
	Z2M_SOS_ACTION, /* a press: action sos / emergency / panic; each one counts */
	Z2M_FALL,	/* fall_down_status, fall_status, Owon's status */
	Z2M__COUNT
};

/* What the topic under a base is. */
enum z2m_topic {
	Z2M_T_NONE,   /* not under any base */
	Z2M_T_IGNORE, /* the bridge's own tree, /set, /get */
	Z2M_T_STATE,
	Z2M_T_AVAIL,
	Z2M_T_BAD, /* under a base, but no acceptable friendly name */
};

/* Splits topic against the comma-separated bases; for STATE and AVAIL the
 * friendly name (everything between the base and the known suffix) goes
 * into name, which must hold Z2M_NAME_MAX + 1. */
enum z2m_topic z2m_topic_parse(const char *bases, const char *topic, char *name);

/* Copies the next base of a comma-separated list into out (trimmed); returns
 * false at the end. *pos starts at the list. Empty entries are skipped. */
bool z2m_base_next(const char **pos, char *out, size_t cap);

/* What one state payload says, field by field. */
struct z2m_reading {
	uint16_t has; /* bit per field: the payload says something about it */
	uint16_t on;  /* bit per field: ... and it is active */
	int battery;  /* %, -1 when absent */
};

/* Reads a state payload (a JSON object). Returns NULL, or the reason for a
 * dead letter. Unknown fields and values are ignored. */
const char *z2m_read(const char *payload, size_t len, struct z2m_reading *r);

/* The last known state of one device's fields. seq counts each field's
 * changes, so an edge has a number that a redelivery reproduces. */
struct z2m_state {
	uint16_t known, on;
	uint32_t seq[Z2M__COUNT];
};

struct z2m_edge {
	enum z2m_field field;
	bool on;
	uint32_t seq;
	bool event; /* it becomes a device event (else only the state moves) */
};

/* Applies a reading to st and writes the edges into out (Z2M__COUNT at
 * most); returns how many. A repeated value is no edge. A field seen for
 * the first time is an edge only when it is active. An SOS press is an
 * edge every time: a button pressed twice sends the same payload twice. */
int z2m_apply(struct z2m_state *st, const struct z2m_reading *r, struct z2m_edge *out);

/* The device event of an edge: a deterministic id (field and sequence), its
 * type, alarm or clear. */
void z2m_edge_event(const struct z2m_edge *ed, int battery, struct devevent *ev);

const char *z2m_field_name(enum z2m_field f);
int z2m_field_parse(const char *s); /* -1 when unknown */

#endif
