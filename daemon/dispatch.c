/* dispatch.c - grid index for nearest-responder queries
 *
 * Each responder has up to two entries in the grid: its home, and its live
 * position (OwnTracks) once it has one. Exactly one of them counts at a
 * time, decided at query time by the age of the fix, so a fix going stale
 * needs no timer and no move. A new fix moves the live entry between two
 * cells' arrays (swap-remove, append): O(1), never a rebuild. */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "geo.h"
#include "util.h"

#define CELL_DEG_LAT 0.01    /* about 1.1 km */
#define CELLS_MAX    1000000 /* grid size cap for absurd inputs */
#define NOWHERE	     UINT32_MAX

struct dentry {
	struct responder *r;
	uint32_t cell, slot; /* where it is; cell = NOWHERE when not placed */
	bool live;
};

struct dcell {
	struct dentry **v;
	uint32_t n, cap;
};

struct dindex {
	double lat0, lon0, dlat, dlon; /* origin and cell size in degrees */
	double cell_m;		       /* smaller side of a cell in metres */
	int ncx, ncy;
	size_t n;
	struct dcell *cells;
	struct dentry *ent; /* 2n: home of responder i at 2i, live at 2i + 1 */
	double fresh_after;
};

size_t
dindex_size(const struct dindex *ix)
{
	return ix ? ix->n : 0;
}

bool
responder_live(const struct responder *r, double fresh_after)
{
	return r->live_at > 0 && r->live_at >= fresh_after;
}

void
responder_position(const struct responder *r, double fresh_after, double *lat,
		   double *lon)
{
	bool live = responder_live(r, fresh_after);

	*lat = live ? r->live_lat : r->lat;
	*lon = live ? r->live_lon : r->lon;
}

void
dindex_set_fresh_after(struct dindex *ix, double t)
{
	if (ix)
		ix->fresh_after = t;
}

static int
clampi(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* Positions outside the grid fall into its edge cells: clamping never
 * brings two points closer in cells than they are, so the ring bound of
 * dindex_nearest still holds. */
static uint32_t
dindex_cell(const struct dindex *ix, double lat, double lon)
{
	double fy = floor((lat - ix->lat0) / ix->dlat);
	double fx = floor((lon - ix->lon0) / ix->dlon);
	int cy, cx;

	/* NaN or far away: clamp in double first, then in int */
	cy = clampi(isfinite(fy) ? (int)fmax(-1, fmin(fy, ix->ncy)) : 0, 0, ix->ncy - 1);
	cx = clampi(isfinite(fx) ? (int)fmax(-1, fmin(fx, ix->ncx)) : 0, 0, ix->ncx - 1);
	return (uint32_t)cy * (uint32_t)ix->ncx + (uint32_t)cx;
}

static void
cell_put(struct dindex *ix, struct dentry *e, uint32_t c)
{
	struct dcell *cl = &ix->cells[c];

	if (cl->n == cl->cap) {
		cl->cap = cl->cap ? cl->cap * 2 : 4;
		cl->v = xrealloc(cl->v, cl->cap * sizeof(*cl->v));
	}
	e->cell = c;
	e->slot = cl->n;
	cl->v[cl->n++] = e;
}

static void
cell_take(struct dindex *ix, struct dentry *e)
{
	struct dcell *cl;

	if (e->cell == NOWHERE)
		return;
	cl = &ix->cells[e->cell];
	/* the last entry fills the hole */
	cl->v[e->slot] = cl->v[--cl->n];
	cl->v[e->slot]->slot = e->slot;
	e->cell = NOWHERE;
}

struct dindex *
dindex_build(struct responder *const *list, size_t n)
{
	struct dindex *ix = xcalloc(1, sizeof(*ix));
	double minlat = 90, maxlat = -90, minlon = 180, maxlon = -180;
	size_t i, ncell;

	ix->n = n;
	for (i = 0; i < n; i++) {
		minlat = fmin(minlat, list[i]->lat);
		maxlat = fmax(maxlat, list[i]->lat);
		minlon = fmin(minlon, list[i]->lon);
		maxlon = fmax(maxlon, list[i]->lon);
	}
	if (n == 0)
		minlat = maxlat = minlon = maxlon = 0;
	ix->dlat = CELL_DEG_LAT;
	ix->dlon = CELL_DEG_LAT / fmax(0.1, cos((minlat + maxlat) / 2 * M_PI / 180));
	ix->lat0 = minlat;
	ix->lon0 = minlon;
	ix->ncy = (int)((maxlat - minlat) / ix->dlat) + 1;
	ix->ncx = (int)((maxlon - minlon) / ix->dlon) + 1;
	/* A county spans tens of km; cap the grid for absurd inputs. */
	while ((size_t)ix->ncx * (size_t)ix->ncy > CELLS_MAX) {
		ix->dlat *= 2;
		ix->dlon *= 2;
		ix->ncy = (int)((maxlat - minlat) / ix->dlat) + 1;
		ix->ncx = (int)((maxlon - minlon) / ix->dlon) + 1;
	}
	ix->cell_m =
	    fmin(geo_distance_m(minlat, minlon, minlat + ix->dlat, minlon),
		 /* cells are narrowest at the latitude farthest from the equator */
		 geo_distance_m(fabs(maxlat) > fabs(minlat) ? maxlat : minlat, minlon,
				fabs(maxlat) > fabs(minlat) ? maxlat : minlat,
				minlon + ix->dlon));
	ncell = (size_t)ix->ncx * (size_t)ix->ncy;
	ix->cells = xcalloc(ncell, sizeof(*ix->cells));
	ix->ent = xcalloc(n ? 2 * n : 1, sizeof(*ix->ent));
	for (i = 0; i < n; i++) {
		struct dentry *h = &ix->ent[2 * i], *l = &ix->ent[2 * i + 1];

		list[i]->ix_slot = i;
		h->r = l->r = list[i];
		l->live = true;
		l->cell = NOWHERE;
		cell_put(ix, h, dindex_cell(ix, list[i]->lat, list[i]->lon));
		if (list[i]->live_at > 0)
			cell_put(ix, l,
				 dindex_cell(ix, list[i]->live_lat, list[i]->live_lon));
	}
	return ix;
}

int
dindex_move(struct dindex *ix, struct responder *r)
{
	struct dentry *l;
	uint32_t c;

	if (ix == NULL || r->ix_slot >= ix->n || ix->ent[2 * r->ix_slot].r != r)
		return -1;
	l = &ix->ent[2 * r->ix_slot + 1];
	c = dindex_cell(ix, r->live_lat, r->live_lon);
	if (l->cell == c)
		return 0;
	cell_take(ix, l);
	cell_put(ix, l, c);
	return 0;
}

void
dindex_free(struct dindex *ix)
{
	size_t i, ncell;

	if (ix == NULL)
		return;
	ncell = (size_t)ix->ncx * (size_t)ix->ncy;
	for (i = 0; i < ncell; i++)
		free(ix->cells[i].v);
	free(ix->cells);
	free(ix->ent);
	free(ix);
}

/* The best so far of one search. */
struct dbest {
	struct responder *r;
	double d;	/* metres */
	double hav;	/* geo_hav of d: compared first (no atan2) */
	double cos_lat; /* of the searched point */
};

/* Considers every entry of cell (x, y) that counts now against the best so
 * far: a live entry while its fix is fresh, else the home entry. Entries
 * farther north or south than the best are skipped on their latitude
 * alone, the rest compared by their haversine; metres are computed only
 * for one that may become the best. */
static void
dindex_scan_cell(const struct dindex *ix, int x, int y, double lat, double lon,
		 dindex_ok_fn ok, void *arg, struct dbest *b)
{
	const struct dcell *cl = &ix->cells[(size_t)y * (size_t)ix->ncx + (size_t)x];
	uint32_t i;

	for (i = 0; i < cl->n; i++) {
		const struct dentry *e = cl->v[i];
		struct responder *r = e->r;
		double rlat, rlon, h, d;

		if (e->live != responder_live(r, ix->fresh_after))
			continue;
		rlat = e->live ? r->live_lat : r->lat;
		rlon = e->live ? r->live_lon : r->lon;
		/* a centimetre of slack for rounding */
		if (fabs(rlat - lat) * GEO_M_PER_DEG_LAT > b->d + 0.01)
			continue;
		h = geo_hav(lat, lon, rlat, rlon, b->cos_lat);
		if (h >= b->hav)
			continue;
		d = geo_hav_m(h);
		if (ok(r, d, arg)) {
			b->r = r;
			b->d = d;
			b->hav = h;
		}
	}
}

struct responder *
dindex_nearest(const struct dindex *ix, double lat, double lon, dindex_ok_fn ok,
	       void *arg, double *dist_m)
{
	struct dbest b = {NULL, INFINITY, INFINITY, cos(lat * M_PI / 180)};
	int cx, cy, k, kmax, x, y;
	uint32_t c;

	if (ix == NULL || ix->n == 0)
		return NULL;
	c = dindex_cell(ix, lat, lon);
	cy = (int)(c / (uint32_t)ix->ncx);
	cx = (int)(c % (uint32_t)ix->ncx);
	kmax = ix->ncx > ix->ncy ? ix->ncx : ix->ncy;
	for (k = 0; k <= kmax; k++) {
		/* Everything in ring k is at least (k - 1) cells away. */
		if (b.r != NULL && b.d <= (k - 1) * ix->cell_m)
			break;
		for (y = cy - k; y <= cy + k; y++) {
			if (y < 0 || y >= ix->ncy)
				continue;
			if (y == cy - k || y == cy + k) {
				for (x = cx - k; x <= cx + k; x++)
					if (x >= 0 && x < ix->ncx)
						dindex_scan_cell(ix, x, y, lat, lon, ok,
								 arg, &b);
			} else {
				if (cx - k >= 0)
					dindex_scan_cell(ix, cx - k, y, lat, lon, ok, arg,
							 &b);
				if (k > 0 && cx + k < ix->ncx)
					dindex_scan_cell(ix, cx + k, y, lat, lon, ok, arg,
							 &b);
			}
		}
	}
	if (b.r && dist_m)
		*dist_m = b.d;
	return b.r;
}
