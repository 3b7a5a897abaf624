/* dispatch.h - nearest available responder: a uniform grid over positions */
#ifndef CW_DISPATCH_H
#define CW_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "model.h"

/* Decides whether r may be offered at distance dist_m; arg is the caller's. */
typedef bool (*dindex_ok_fn)(const struct responder *r, double dist_m, void *arg);

/* Builds an index over the responders' home positions (the array is copied;
 * the responders must outlive the index). */
struct dindex *dindex_build(struct responder *const *list, size_t n);
void dindex_free(struct dindex *ix);
size_t dindex_size(const struct dindex *ix);

/* Returns the nearest responder to (lat, lon) that ok accepts, or NULL;
 * *dist_m gets its great-circle distance. Visits grid rings outward and stops
 * once no unvisited cell can hold anything nearer. */
struct responder *dindex_nearest(const struct dindex *ix, double lat, double lon,
				 dindex_ok_fn ok, void *arg, double *dist_m);

#endif
