/* supervise.h - device supervision (SPEC §4): which supervised devices have
 * been silent too long, and which villages lost many of them at once (a
 * power cut). Pure: one binary heap of deadlines for every device, driven by
 * one timer of the adapter; it returns verdicts for the adapter to act on.
 *
 * A device with heartbeat_s is due when it has been silent for 1.5 x
 * heartbeat_s. Hearing a device costs O(1): its heap entry keeps the old,
 * earlier deadline and is moved down only when it surfaces (lazy re-arm).
 * A device found silent is held for storm_window_s: when more than
 * storm_devices devices of one village are held at once, they become one
 * area storm instead of tickets; otherwise the hold ends in a ticket. */
#ifndef CW_SUPERVISE_H
#define CW_SUPERVISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

struct supervisor;

struct sv_params {
	int storm_devices;     /* more than this many in a window: a storm; 0 = off */
	double storm_window_s; /* how long a silent device is held for grouping */
};

enum sv_kind {
	SV_RAISE, /* dev is silent: raise its offline ticket (since = silence start) */
	SV_BACK,  /* dev, silent with a ticket raised, was heard again */
	SV_STORM_OPEN,	/* area has a storm: open its incident (sv_storm_set) */
	SV_STORM_JOIN,	/* dev joins area's storm (quiet: restored, not new) */
	SV_STORM_BACK,	/* dev of area's storm was heard again */
	SV_STORM_CLEAR, /* area's storm is over (most devices back) */
};

struct sv_verdict {
	enum sv_kind kind;
	struct device *dev;
	double since;	  /* the silence start: last heard, or the offline status */
	const char *area; /* storms: the village code (valid until sv_free) */
	int64_t storm_id; /* storms: the incident, once set */
	int silent, joined;
	bool quiet;
};

/* What the caller should write after sv_heard (bits). */
#define SV_STORE 1 /* write last_seen (and online) now */

struct supervisor *sv_new(const struct sv_params *p);
void sv_free(struct supervisor *sv);
void sv_set_params(struct supervisor *sv, const struct sv_params *p);

/* Starts watching d (heartbeat_s > 0; a device watched already is left as
 * it is). last_seen: the stored last-heard time, 0 when never; online: the
 * stored status (false: the silence started with an offline status, stored
 * exactly). A time stored while the device kept talking may be up to half a
 * heartbeat old (see sv_heard), so such a device gets that half on top:
 * found late by at most that, never early. */
void sv_watch(struct supervisor *sv, struct device *d, double last_seen, bool online,
	      double now);

/* A message from d: alive is false only for an "offline" status, which
 * starts the silence (once: a repeated or retained copy changes nothing).
 * Returns SV_STORE bits; may add verdicts. */
int sv_heard(struct supervisor *sv, struct device *d, bool alive, double now);

/* Whether d is known to be silent now (found so, and not heard since). */
bool sv_silent(const struct supervisor *sv, const struct device *d);

/* The silence start as supervision knows it (what SV_STORE should write). */
double sv_since(const struct supervisor *sv, const struct device *d);

/* Pops every deadline that has passed; adds verdicts. Returns how many
 * heap entries it looked at. */
size_t sv_sweep(struct supervisor *sv, double now);

/* Restarts the silence of every device not known to be silent at now: the
 * daemon could hear nobody for a while (the broker was away), and devices
 * do not repeat what they said meanwhile. */
void sv_touch_all(struct supervisor *sv, double now);

/* The wall clock stepped by delta seconds: moves every silence start and
 * deadline by as much, so that a step neither finds devices silent nor
 * hides a silence. */
void sv_shift(struct supervisor *sv, double delta);

/* The earliest deadline, 0 when nothing is watched. */
double sv_next(const struct supervisor *sv);

/* A restored open storm incident of area, joined devices listed. */
void sv_storm_restore(struct supervisor *sv, const char *area, int64_t id, int joined);
/* Clears restored storms whose devices came back while the daemon was down
 * (after the first sweep since the load). */
void sv_storms_check(struct supervisor *sv);
/* The incident opened for area's storm (after SV_STORM_OPEN). */
void sv_storm_set(struct supervisor *sv, const char *area, int64_t id);

/* The verdicts added since the last sv_verdicts_clear. */
const struct sv_verdict *sv_verdicts(const struct supervisor *sv, size_t *n);
void sv_verdicts_clear(struct supervisor *sv);

size_t sv_watched(const struct supervisor *sv);
/* Bytes held per watched device (slot and heap entry), and in all. */
size_t sv_bytes_per_device(void);
size_t sv_bytes(const struct supervisor *sv);

#endif
