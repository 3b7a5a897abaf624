/* engine.h - carewatchd's one context: routes messages into batches, commits
 * them, runs the core on what committed, and publishes the results. */
#ifndef CW_ENGINE_H
#define CW_ENGINE_H

#include <stdbool.h>

#include <event2/event.h>

#include "conf.h"

struct engine;

struct engine *engine_new(struct event_base *base, const struct conf *c);
void engine_free(struct engine *e);

/* Connects to the database, loads the world, replays unhandled events,
 * then connects to the broker. */
void engine_start(struct engine *e);

/* Applies the reloadable part of a new configuration. */
void engine_reload(struct engine *e, const struct conf *c);

/* Stops reading, finishes what is in flight (bounded), disconnects, and
 * ends the event loop. */
void engine_stop(struct engine *e);

/* True once the world is loaded and the broker session is up. */
bool engine_ready(const struct engine *e);

/* One-line status for logs and systemd. */
void engine_status(const struct engine *e, char *buf, size_t len);

#endif
