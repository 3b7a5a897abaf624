/* mqtt.h - the libmosquitto adapter, driven by libevent, and the one place
 * that enforces "acknowledge only after commit". */
#ifndef CW_MQTT_H
#define CW_MQTT_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>

#include "conf.h"

struct mqtt_cbs {
	/* A message arrived; it stays unacknowledged until mqtt_committed(). */
	void (*message)(void *arg, const char *topic, const void *payload, int len);
	/* The session is up (subscriptions sent). */
	void (*connected)(void *arg);
	/* A read pass ended: a good moment to batch what arrived. */
	void (*read_done)(void *arg);
	/* The broker confirmed a message we published (optional). */
	void (*published)(void *arg);
};

struct resolver;

/* mqtt.host, when a name, is looked up through res on every (re)connect. */
struct mqtt *mqtt_new(struct event_base *base, const struct conf *c, struct resolver *res,
		      const struct mqtt_cbs *cbs, void *arg);

/* A second session only for what the daemon tells people (offers,
 * cancellations, station notices): client id "{client_id}-out", no
 * subscriptions, no ack gate. On the main session those would queue behind
 * the event acks of a backlog (libmosquitto's in-flight window) and behind
 * the gate. cbs->message is not used; cbs->connected is called when it is
 * up. */
struct mqtt *mqtt_new_publisher(struct event_base *base, const struct conf *c,
				struct resolver *res, const struct mqtt_cbs *cbs,
				void *arg);
void mqtt_free(struct mqtt *m);

/* Connects (asynchronously) and keeps reconnecting with backoff and jitter. */
int mqtt_start(struct mqtt *m);

/* Queues a QoS 1 message; libmosquitto keeps it across reconnects. */
int mqtt_publish(struct mqtt *m, const char *topic, const char *payload, bool retain);

/* n messages handed to the message callback are now durable: once every
 * message received so far is, queued packets (their PUBACKs among them)
 * may be written. */
void mqtt_committed(struct mqtt *m, size_t n);

/* Bytes the broker has sent that are not read yet, after the last read
 * pass: a backlog when large. */
size_t mqtt_backlog(const struct mqtt *m);

/* Stops or resumes reading from the broker. */
void mqtt_hold(struct mqtt *m, bool hold);

/* Messages published and not yet confirmed by the broker (PUBACK). */
size_t mqtt_unconfirmed(const struct mqtt *m);
size_t mqtt_unacked(const struct mqtt *m);
bool mqtt_connected(const struct mqtt *m);

/* Sends DISCONNECT once everything is flushed (or now, if it cannot be). */
void mqtt_stop(struct mqtt *m);

#endif
