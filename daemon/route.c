/* route.c - what the broker delivers, sorted into the batch being built:
 * device events and status, responder replies and visit records; anything
 * else is a dead letter. Nothing here acknowledges: the commit does. */
#include "config.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carewatchd.h"
#include "incident.h"
#include "log.h"
#include "mqtt.h"
#include "store.h"
#include "util.h"
#include "z2m.h"

#define DEAD_KEEP 65536 /* bytes of a rejected payload kept */

/* Bytes waiting at our socket that make a backlog: about 250
 * events. Below it, reading pauses while received messages are in flight,
 * so that every commit opens the ack gate (mqtt.c): PUBACKs, acks and
 * keepalives go out at least once a commit. */
#define BACKLOG_BYTES (32 * 1024)
/* Messages read ahead of the commits in a backlog at most (memory: about
 * 1 KiB each while they wait). The ack gate stays shut until all are
 * committed; then it opens and reading resumes. */
#define READAHEAD_MAX 60000

/* Pauses reading while a batch of received messages waits for its commit
 * (see mqtt.c), or while the next batch is full. In a backlog (the broker
 * sending what queued while we were away, or a storm) reading goes on
 * ahead of the commits, heartbeats into the bulk batches, so that an alarm
 * behind them is read, stored and offered before them. */
void
route_update_hold(struct engine *e)
{
	bool backlog = e->mqtt && mqtt_backlog(e->mqtt) >= BACKLOG_BYTES &&
		       e->bulk_inbound < READAHEAD_MAX;
	/* A life alarm found in a backlog is committed and offered before
	 * more is read: reading on would take the CPU its commit needs from
	 * PostgreSQL (a storm keeps both cores busy) and delay the offer by
	 * a third of a second. */
	bool urgent;

	if (e->urgent_out &&
	    (e->mqtt_out == NULL || mqtt_unconfirmed(e->mqtt_out) == 0)) {
		e->urgent_out = false;
		evtimer_del(e->urgent_ev);
	}
	urgent = e->next->urgent || (e->flight && e->flight->urgent) || e->urgent_out;
	bool hold = e->phase != PH_RUNNING || e->wb_active || urgent ||
		    (e->flight && e->flight->inbound > 0 && !backlog) ||
		    e->next->inbound >= (size_t)e->conf.batch_max ||
		    e->bulk_inbound >= READAHEAD_MAX;

	if (e->mqtt)
		mqtt_hold(e->mqtt, hold);
}

/* The bulk batch taking heartbeats now: the newest, or a new one when it
 * is full. The message being routed is counted there. */
static struct batch *
route_bulk(struct engine *e)
{
	struct batch *b;

	if (e->nbulk > 0 && e->bulk[e->nbulk - 1]->inbound < (size_t)e->conf.batch_max)
		b = e->bulk[e->nbulk - 1];
	else {
		if (e->nbulk == e->bulk_cap) {
			e->bulk_cap = e->bulk_cap ? e->bulk_cap * 2 : 8;
			e->bulk = xrealloc(e->bulk, e->bulk_cap * sizeof(*e->bulk));
		}
		b = e->bulk[e->nbulk++] = batch_new();
	}
	e->inb = b;
	return b;
}

/* Rejects a message: stored whole (base64) and announced on the deadletter
 * topic once stored. show_topic = false keeps the topic out of the log (a
 * zigbee2mqtt friendly name may hold a person's name). */
void
route_dead(struct engine *e, const char *topic, const char *reason, const void *payload,
	   size_t len, double now, bool show_topic)
{
	char esc[160];
	struct pub p;
	json_t *row;
	size_t keep = len > DEAD_KEEP ? DEAD_KEEP : len;

	row = store_dead_row(topic, len > keep ? "oversize (truncated)" : reason, payload,
			     keep, now);
	render_dead(e->conf.topic_prefix, json_string_value(json_object_get(row, "t")),
		    reason, json_string_value(json_object_get(row, "p")), &p);
	batch_add(e->next, Q_DEAD, row);
	batch_pub(e->next, &p);
	e->n_dead++;
	metrics_dead(&e->m, reason);
	/* an OwnTracks user name may be a person's name: not in the log */
	if (strncmp(topic, "owntracks/", 10) == 0)
		topic = "owntracks/+/+";
	if (!show_topic) {
		log_warn("event=dead_letter reason=\"%s\" topic_bytes=%zu bytes=%zu",
			 reason, strlen(topic), len);
		return;
	}
	log_warn("event=dead_letter reason=\"%s\" topic=\"%s\" bytes=%zu", reason,
		 log_esc(esc, sizeof(esc), topic, strlen(topic)), len);
}

void
dead_letter(struct engine *e, const char *topic, const char *reason, const void *payload,
	    size_t len, double now)
{
	route_dead(e, topic, reason, payload, len, now, true);
}

static void
route_event(struct engine *e, const char *topic, const char *dev_id, const void *payload,
	    int len, double now)
{
	struct devevent ev;
	struct device *d;
	const char *why;

	if ((d = hmap_get(&e->w.devices, dev_id)) == NULL) {
		dead_letter(e, topic, "unknown device", payload, (size_t)len, now);
		return;
	}
	if ((why = ingest_parse_event(payload, (size_t)len, &ev)) != NULL) {
		dead_letter(e, topic, why, payload, (size_t)len, now);
		return;
	}
	if (route_limited(e, topic, d, (int)ev.type, payload, len, now)) {
		free(ev.data);
		return;
	}
	route_device_event(e, d, &ev, now);
}

/* A parsed event of a known device into the next batch (takes ev->data):
 * native events and the edges of zigbee2mqtt fields alike. */
void
route_device_event(struct engine *e, struct device *d, struct devevent *ev, double now)
{
	struct localtime_cw lt;
	struct pend_ev pe;
	struct batch *b;
	char key[2 * ID_MAX + 2], esc[4 * ID_MAX + 8];
	int prio;

	memset(&pe, 0, sizeof(pe));
	pe.ev = *ev;
	pe.ev.received = now;
	snprintf(key, sizeof(key), "%s/%s", d->id, pe.ev.id);
	/* by receive time: a device's clock must not decide a priority */
	local_time(now, &lt);
	prio = classify_priority(pe.ev.type, pe.ev.clear, d->elder, &lt,
				 e->w.p.night_from, e->w.p.night_to);
	pe.process = prio > 0 || pe.ev.clear;
	/* what the core acts on goes in next, in order; heartbeats in bulk
	 * (the order between a device's heartbeat and its alarm does not
	 * matter: a heartbeat only says the device was heard) */
	b = pe.process ? e->next : route_bulk(e);
	/* urgent: a life alarm in a backlog that will open an incident (its
	 * elder has none open), at most one a second, so that a flood of
	 * alarms (one device's, or a village's smoke) is still read and
	 * committed in batches through the alarms-first lane */
	if (prio == 1 && d->elder != NULL && d->elder->open_alarm == NULL && e->mqtt &&
	    mqtt_backlog(e->mqtt) >= BACKLOG_BYTES && now_mono() - e->urgent_at >= 1.0) {
		b->urgent = true;
		e->urgent_at = now_mono();
	}
	if (hmap_get(&b->evkeys, key) != NULL) {
		/* the same event twice in one batch: the copy changes nothing */
		free(pe.ev.data);
		return;
	}
	pe.dev = d;
	pe.key = xstrdup(key);
	supervise_heard(e, d, now);
	batch_add(b, Q_EVENTS, store_event_row(d->id, &pe.ev, now, !pe.process));
	VEC_PUSH(b->evs, pe);
	/* the value is the event's index + 1 (0 would read as absent) */
	hmap_put(&b->evkeys, pe.key, (void *)(uintptr_t)b->evs.n);
	e->n_events++;
	e->m.events[pe.ev.type]++;
	/* event ids come from devices: escaped like any untrusted text */
	log_esc(esc, sizeof(esc), pe.ev.id, strlen(pe.ev.id));
	if (prio > 0)
		log_info("event=alarm device=%s id=\"%s\" type=%s priority=%d", d->id,
			 esc, ev_type_name(pe.ev.type), prio);
	else
		log_debug("event=device_event device=%s id=\"%s\" type=%s", d->id, esc,
			  ev_type_name(pe.ev.type));
}

static void
route_status(struct engine *e, const char *topic, const char *dev_id, const void *payload,
	     int len, double now)
{
	const char *why;
	char key[ID_MAX + 2];
	struct device *d;
	bool online;

	if ((d = hmap_get(&e->w.devices, dev_id)) == NULL) {
		dead_letter(e, topic, "unknown device", payload, (size_t)len, now);
		return;
	}
	if ((why = ingest_parse_status(payload, (size_t)len, &online)) != NULL) {
		dead_letter(e, topic, why, payload, (size_t)len, now);
		return;
	}
	/* one row per device and batch: the last status received wins */
	snprintf(key, sizeof(key), "s%s", dev_id);
	batch_keyed(e->next, Q_STATUS, key, store_status_row(dev_id, online, now));
	supervise_status(e, d, online, now);
}

static void
route_reply(struct engine *e, const char *topic, const char *resp_id, const void *payload,
	    int len, double now)
{
	struct reply r;
	const char *why;

	if ((why = ingest_parse_reply(payload, (size_t)len, &r)) != NULL) {
		dead_letter(e, topic, why, payload, (size_t)len, now);
		return;
	}
	/* Replies act at once; their effects commit in the same batch as the
	 * reply row, and nothing is published before that commit. */
	why = incident_on_reply(&e->w, resp_id, &r, now);
	if (why != NULL)
		log_warn("event=reply_rejected responder=%s incident=%" PRId64
			 " action=%s reason=\"%s\"",
			 resp_id, r.incident, reply_action_name(r.action), why);
	batch_add(e->next, Q_REPLIES, store_reply_row(resp_id, &r, now, why));
	e->n_replies++;
	e->m.replies++;
	engine_drain(e);
}

/* A visit record: stored (idempotent on responder and visit id), counted by
 * the visit-rate report when in person. */
static void
route_visit(struct engine *e, const char *topic, const char *resp_id, const void *payload,
	    int len, double now)
{
	struct visit v;
	const char *why;
	char id[sizeof(v.id) + ID_MAX + 2];

	/* a bad kind, a phone call said to be in person or a time in the future
	 * is dead-lettered with that reason, like an unknown elder: never a
	 * failed batch */
	if ((why = ingest_parse_visit(payload, (size_t)len, now, &v)) != NULL) {
		dead_letter(e, topic, why, payload, (size_t)len, now);
		return;
	}
	if (hmap_get(&e->w.elders, v.elder_id) == NULL) {
		dead_letter(e, topic, "unknown elder", payload, (size_t)len, now);
		return;
	}
	/* visit ids are the responder's own: keep them apart per responder */
	snprintf(id, sizeof(id), "%s:%s", resp_id, v.id);
	str_copy(v.id, id, sizeof(v.id));
	str_copy(v.responder_id, resp_id, sizeof(v.responder_id));
	batch_add(e->next, Q_VISITS, store_visit_row(&v));
	e->m.visits++;
	log_info("event=visit responder=%s elder=%s kind=%s in_person=%d", resp_id,
		 v.elder_id, v.kind, v.in_person);
}

/* Every message lands in a batch, as a row or as a dead letter. */
static void
route_message(struct engine *e, const char *topic, const void *payload, int len)
{
	char id[ID_MAX + 1];
	double now = engine_now(e);
	enum z2m_topic zt;

	/* A bridge's own retained lists (bridge/devices) are large, and
	 * ignored; a friendly name may name a person: its topic is not logged. */
	if (len > e->conf.payload_max &&
	    (zt = z2m_topic_kind(e, topic)) != Z2M_T_IGNORE) {
		route_dead(e, topic, "oversize", payload, (size_t)len, now,
			   zt == Z2M_T_NONE);
		return;
	}
	if (e->conf.owntracks && strncmp(topic, "owntracks/", 10) == 0) {
		route_owntracks(e, topic, payload, len, now);
		return;
	}
	switch (topic_parse(e->conf.topic_prefix, topic, id)) {
	case TOPIC_DEV_EVENT:
		route_event(e, topic, id, payload, len, now);
		break;
	case TOPIC_DEV_STATUS:
		route_status(e, topic, id, payload, len, now);
		break;
	case TOPIC_RESP_REPLY:
		route_reply(e, topic, id, payload, len, now);
		break;
	case TOPIC_RESP_VISIT:
		route_visit(e, topic, id, payload, len, now);
		break;
	default:
		if (!z2m_route(e, topic, payload, len, now))
			dead_letter(e, topic, "unknown topic", payload, (size_t)len, now);
		break;
	}
}

/* The broker's message callback. The message is counted, for the ack gate,
 * in the batch its rows went to: a bulk batch when it made a heartbeat
 * there (bulk goes after next), otherwise next. */
void
route_message_cb(void *arg, const char *topic, const void *payload, int len)
{
	struct engine *e = arg;
	struct batch *b;

	e->inb = NULL;
	route_message(e, topic, payload, len);
	b = e->inb != NULL ? e->inb : e->next;
	b->inbound++;
	if (b != e->next)
		e->bulk_inbound++;
	e->inb = NULL;
	if (b->inbound >= (size_t)e->conf.batch_max || e->bulk_inbound >= READAHEAD_MAX ||
	    e->next->urgent)
		route_update_hold(e);
}
