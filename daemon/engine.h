/* engine.h - carewatchd's one context, as main.c and the later HTTP and
 * metrics adapters see it. */
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

/* True while another carewatchd holds the database's single-writer lock
 * and this one waits for it (the standby of an active/standby pair). */
bool engine_standby(const struct engine *e);

/* The process's exit status once the loop has ended: 0 after a stop, 1
 * after the writer's lock was lost to another daemon (lock_lost). */
int engine_exit_status(const struct engine *e);

/* Told once the change it waits for is durable (ok = true), or that it
 * never will be (ok = false: the daemon stopped first). */
typedef void (*commit_fn)(void *arg, bool ok);

/* Calls fn when what the core has produced so far (drained into the batch
 * being built) is committed: an HTTP request answers 2xx only then. */
void engine_after_commit(struct engine *e, commit_fn fn, void *arg);

/* False while work waits on a reachable database and nothing commits (see
 * timers.c): the watchdog is withheld then. Logs a stall once. */
bool engine_progressing(struct engine *e);

/* One-line status for logs and systemd. */
void engine_status(const struct engine *e, char *buf, size_t len);

#endif
