/* z2mroute.c - zigbee2mqtt bridges into the batch being built: friendly
 * names to devices (external_id), state payloads to the edges of their
 * fields (z2m.c) and those edges to device events, availability to the
 * device's status. A field's new state is written in the same batch as the
 * event its change raised, so a restart (which loads the states) neither
 * raises it again nor misses the next change. Friendly names may name a
 * person: they are never logged. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carewatchd.h"
#include "log.h"
#include "store.h"
#include "util.h"
#include "z2m.h"

struct zdev {
	char id[ID_MAX + 1];
	struct z2m_state st;
	int battery; /* last recorded, -1 = none */
};

struct zbridge {
	struct hmap names;  /* friendly name -> struct device */
	struct hmap states; /* device id -> struct zdev */
};

static struct zbridge *
zb_get(struct engine *e)
{
	if (e->zb == NULL) {
		e->zb = xcalloc(1, sizeof(*e->zb));
		hmap_init(&e->zb->names);
		hmap_init(&e->zb->states);
	}
	return e->zb;
}

static struct zdev *
zdev_get(struct zbridge *zb, const char *id)
{
	struct zdev *z = hmap_get(&zb->states, id);

	if (z == NULL) {
		z = xcalloc(1, sizeof(*z));
		str_copy(z->id, id, sizeof(z->id));
		z->battery = -1;
		hmap_put(&zb->states, z->id, z);
	}
	return z;
}

/* Rebuilds the friendly-name map after devices were (re)loaded: the keys
 * point into the devices, whose names a reload may have replaced. */
void
z2m_index(struct engine *e)
{
	struct zbridge *zb = zb_get(e);
	struct device *d;
	size_t pos = 0;

	hmap_free(&zb->names);
	hmap_init(&zb->names);
	while ((d = hmap_next(&e->w.devices, &pos)) != NULL)
		if (d->z2m_name != NULL && d->z2m_name[0] != '\0')
			hmap_put(&zb->names, d->z2m_name, d);
}

/* The durable states (SQL_LOAD_Z2M), at start. */
void
z2m_load_states(struct engine *e, PGresult *r)
{
	struct zbridge *zb = zb_get(e);
	int i, f;

	for (i = 0; i < PQntuples(r); i++) {
		struct zdev *z = zdev_get(zb, PQgetvalue(r, i, 0));
		const char *field = PQgetvalue(r, i, 1);
		int value = atoi(PQgetvalue(r, i, 2));

		if (strcmp(field, "battery") == 0) {
			z->battery = value;
			continue;
		}
		if ((f = z2m_field_parse(field)) < 0)
			continue;
		z->st.known |= (uint16_t)(1u << f);
		if (value)
			z->st.on |= (uint16_t)(1u << f);
		z->st.seq[f] = (uint32_t)strtoul(PQgetvalue(r, i, 3), NULL, 10);
	}
	log_info("event=z2m_states_loaded devices=%zu names=%zu", zb->states.len,
		 zb->names.len);
}

void
z2m_free(struct engine *e)
{
	struct zdev *z;
	size_t pos = 0;

	if (e->zb == NULL)
		return;
	while ((z = hmap_next(&e->zb->states, &pos)) != NULL)
		free(z);
	hmap_free(&e->zb->states);
	hmap_free(&e->zb->names);
	free(e->zb);
	e->zb = NULL;
}

/* One field's state into the batch; the last one of the batch wins. */
static void
z2m_state_row(struct engine *e, const char *dev, const char *field, int value,
	      uint32_t seq, double now)
{
	char key[ID_MAX + 40];

	snprintf(key, sizeof(key), "z%s\x1f%s", dev, field);
	batch_keyed(e->next, Q_Z2M, key,
		    json_pack("{s:s, s:s, s:i, s:I, s:f}", "d", dev, "f", field, "v",
			      value, "s", (json_int_t)seq, "at", now));
}

/* What a topic is to the bridges (enum z2m_topic), before its payload is
 * looked at. */
int
z2m_topic_kind(struct engine *e, const char *topic)
{
	char name[Z2M_NAME_MAX + 1];

	return (int)z2m_topic_parse(e->conf.z2m_base, topic, name);
}

static void
z2m_availability(struct engine *e, const char *topic, struct device *d,
		 const void *payload, int len, double now)
{
	char key[ID_MAX + 2];
	const char *why;
	bool online;

	if ((why = ingest_parse_status(payload, (size_t)len, &online)) != NULL) {
		route_dead(e, topic, why, payload, (size_t)len, now, false);
		return;
	}
	snprintf(key, sizeof(key), "s%s", d->id);
	batch_keyed(e->next, Q_STATUS, key, store_status_row(d->id, online, now));
	supervise_status(e, d, online, now);
	log_debug("event=z2m_availability device=%s online=%d", d->id, online);
}

static void
z2m_state(struct engine *e, const char *topic, struct device *d, const void *payload,
	  int len, double now)
{
	struct z2m_edge ed[Z2M__COUNT];
	struct z2m_reading r;
	struct devevent ev;
	struct zdev *z;
	const char *why;
	int i, n;

	if ((why = z2m_read(payload, (size_t)len, &r)) != NULL) {
		route_dead(e, topic, why, payload, (size_t)len, now, false);
		return;
	}
	z = zdev_get(zb_get(e), d->id);
	n = z2m_apply(&z->st, &r, ed);
	for (i = 0; i < n; i++) {
		z2m_state_row(e, d->id, z2m_field_name(ed[i].field), ed[i].on, ed[i].seq,
			      now);
		log_debug("event=z2m_edge device=%s field=%s on=%d seq=%u", d->id,
			  z2m_field_name(ed[i].field), ed[i].on, (unsigned)ed[i].seq);
		if (!ed[i].event)
			continue;
		z2m_edge_event(&ed[i], r.battery, &ev);
		route_device_event(e, d, &ev, now);
	}
	if (r.battery >= 0 && r.battery != z->battery) {
		z->battery = r.battery;
		z2m_state_row(e, d->id, "battery", r.battery, 0, now);
	}
}

/* NAME/action, the plain-text copy of an action that zigbee2mqtt can
 * publish beside the state (Home Assistant's event entities): the state
 * message carries the same press, so the copy is ignored. */
static bool
z2m_action_topic(struct engine *e, char *name)
{
	size_t n = strlen(name), sl = strlen("/action");
	bool known;

	if (n <= sl || strcmp(name + n - sl, "/action") != 0)
		return false;
	name[n - sl] = '\0';
	known = hmap_get(&zb_get(e)->names, name) != NULL;
	name[n - sl] = '/';
	return known;
}

/* Takes a message under one of the bridges' bases; false when the topic is
 * under none of them. */
bool
z2m_route(struct engine *e, const char *topic, const void *payload, int len, double now)
{
	char name[Z2M_NAME_MAX + 1];
	struct device *d;

	switch (z2m_topic_parse(e->conf.z2m_base, topic, name)) {
	case Z2M_T_NONE:
		return false;
	case Z2M_T_IGNORE:
		return true;
	case Z2M_T_BAD:
		route_dead(e, topic, "bad friendly name", payload, (size_t)len, now,
			   false);
		return true;
	case Z2M_T_AVAIL:
		if ((d = hmap_get(&zb_get(e)->names, name)) == NULL)
			break;
		z2m_availability(e, topic, d, payload, len, now);
		return true;
	case Z2M_T_STATE:
		if ((d = hmap_get(&zb_get(e)->names, name)) != NULL) {
			/* any state message is the device talking, edge or not */
			supervise_heard(e, d, now);
			z2m_state(e, topic, d, payload, len, now);
			return true;
		}
		if (z2m_action_topic(e, name))
			return true;
		break;
	}
	route_dead(e, topic, "unknown device", payload, (size_t)len, now, false);
	return true;
}
