/* render.c - effects and acknowledgements as MQTT topics and JSON payloads */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "incident.h"
#include "ingest.h"
#include "log.h"
#include "render.h"
#include "util.h"

void
pub_free(struct pub *p)
{
	free(p->topic);
	free(p->payload);
	p->topic = p->payload = NULL;
}

/* Fills p with topic {prefix}/{sub}/{id} and obj as compact JSON; takes the
 * reference to obj. */
static void
pub_set(struct pub *p, const char *prefix, const char *sub, const char *id, json_t *obj)
{
	char topic[CW_TOPIC_MAX];

	if (id != NULL)
		snprintf(topic, sizeof(topic), "%s/%s/%s", prefix, sub, id);
	else
		snprintf(topic, sizeof(topic), "%s/%s", prefix, sub);
	p->topic = xstrdup(topic);
	p->ack = false;
	p->payload = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(10));
	if (p->payload == NULL)
		fatal("event=oom what=json");
	json_decref(obj);
}

static json_t *
jstr(const char *s)
{
	return json_string(s ? s : "");
}

/* The elder block of an offer: what a responder needs, never id_number. */
static json_t *
elder_json(const struct elder *e)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_string(e->id));
	json_object_set_new(o, "name", jstr(e->name));
	json_object_set_new(o, "address", jstr(e->address));
	json_object_set_new(o, "lat", json_real(e->lat));
	json_object_set_new(o, "lon", json_real(e->lon));
	json_object_set_new(o, "phone", jstr(e->phone));
	json_object_set_new(o, "notes", jstr(e->notes));
	json_object_set_new(o, "contacts", jstr(e->contacts));
	return o;
}

/* What every message about an incident starts with. */
static json_t *
incident_head(const struct effect *fx)
{
	json_t *o = json_object();

	json_object_set_new(o, "incident", json_integer(fx->incident_id));
	json_object_set_new(o, "priority", json_integer(fx->priority));
	json_object_set_new(o, "type", json_string(ev_type_name(fx->type)));
	json_object_set_new(o, "alarm", json_string(fx->alarm));
	if (fx->escalated)
		json_object_set_new(o, "escalated", json_true());
	if (fx->elder)
		json_object_set_new(o, "elder", elder_json(fx->elder));
	return o;
}

int
render_effect(const char *prefix, const struct effect *fx, struct pub *p)
{
	json_t *o;

	switch (fx->kind) {
	case FX_OFFER:
		o = incident_head(fx);
		json_object_set_new(o, "offer", json_integer(fx->offer_seq));
		json_object_set_new(o, "respond_within_s",
				    json_integer(fx->respond_within_s));
		json_object_set_new(o, "distance_m", json_integer(fx->distance_m));
		if (fx->forced)
			json_object_set_new(o, "forced", json_true());
		break;
	case FX_OFFER_WITHDRAWN:
		o = json_object();
		json_object_set_new(o, "incident", json_integer(fx->incident_id));
		json_object_set_new(o, "offer", json_integer(fx->offer_seq));
		json_object_set_new(o, "priority", json_integer(fx->priority));
		json_object_set_new(o, "type", json_string(ev_type_name(fx->type)));
		json_object_set_new(o, "cancelled", json_true());
		break;
	case FX_INFO:
		o = incident_head(fx);
		json_object_set_new(o, "info", json_string(fx->reason));
		break;
	case FX_TICKET:
		o = incident_head(fx);
		json_object_set_new(o, "ticket", json_true());
		json_object_set_new(o, "device", json_string(fx->device));
		json_object_set_new(o, "event_type",
				    json_string(ev_type_name(fx->event_type)));
		json_object_set_new(o, "alarm_count", json_integer(fx->alarm_count));
		break;
	default:
		return -1;
	}
	pub_set(p, prefix, "dispatch", fx->to, o);
	return 0;
}

void
render_ack(const char *prefix, const char *device_id, const char *event_id,
	   int64_t incident, struct pub *p)
{
	char sub[ID_MAX + 8];
	json_t *o = json_object();

	json_object_set_new(o, "id", json_string(event_id));
	if (incident)
		json_object_set_new(o, "incident", json_integer(incident));
	snprintf(sub, sizeof(sub), "dev/%s", device_id);
	pub_set(p, prefix, sub, "ack", o);
	p->ack = true;
}

void
render_dead(const char *prefix, const char *topic, const char *reason,
	    const char *payload_b64, struct pub *p)
{
	json_t *o = json_object();

	json_object_set_new(o, "topic", json_string(topic));
	json_object_set_new(o, "reason", json_string(reason));
	json_object_set_new(o, "payload_b64", json_string(payload_b64));
	pub_set(p, prefix, "deadletter", NULL, o);
}
