/* dispatch.h - nearest available responder: a uniform grid over positions */
#ifndef CW_DISPATCH_H
#define CW_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "model.h"

/* Decides whether r may be offered at distance dist_m; arg is the caller's. */
typedef bool (*dindex_ok_fn)(const struct responder *r, double dist_m, void *arg);

/* Builds an index over the responders' home positions and, for those with a
 * live fix, their live positions (the array is copied; the responders must
 * outlive the index, and each gets its handle in ix_slot). */
struct dindex *dindex_build(struct responder *const *list, size_t n);
void dindex_free(struct dindex *ix);
size_t dindex_size(const struct dindex *ix);

/* Moves r's live entry to r->live_lat/live_lon (set by the caller) in O(1):
 * out of its cell and into the new one, nothing rebuilt. Returns -1 when r
 * is not in this index. */
int dindex_move(struct dindex *ix, struct responder *r);

/* Live fixes taken at or after t are used from now on; an older one is not,
 * and its responder is found at home. */
void dindex_set_fresh_after(struct dindex *ix, double t);

/* Whether r's live fix is to be used (taken at or after fresh_after). */
bool responder_live(const struct responder *r, double fresh_after);

/* The position r is ranked from: its fresh live fix, else its home. */
void responder_position(const struct responder *r, double fresh_after, double *lat,
			double *lon);

/* Returns the nearest responder to (lat, lon) that ok accepts, or NULL;
 * *dist_m gets its great-circle distance. Visits grid rings outward and stops
 * once no unvisited cell can hold anything nearer. */
struct responder *dindex_nearest(const struct dindex *ix, double lat, double lon,
				 dindex_ok_fn ok, void *arg, double *dist_m);

#endif
