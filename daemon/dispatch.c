/* dispatch.c - grid index for nearest-responder queries */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "geo.h"
#include "util.h"

#define CELL_DEG_LAT 0.01 /* about 1.1 km */

struct dindex {
	double lat0, lon0, dlat, dlon; /* origin and cell size in degrees */
	double cell_m;		       /* smaller side of a cell in metres */
	int ncx, ncy;
	size_t n;
	size_t *start; /* ncx * ncy + 1 offsets into items */
	struct responder **items;
};

size_t
dindex_size(const struct dindex *ix)
{
	return ix ? ix->n : 0;
}

static int
clampi(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static void
dindex_cell(const struct dindex *ix, double lat, double lon, int *cx, int *cy)
{
	*cy = clampi((int)floor((lat - ix->lat0) / ix->dlat), 0, ix->ncy - 1);
	*cx = clampi((int)floor((lon - ix->lon0) / ix->dlon), 0, ix->ncx - 1);
}

struct dindex *
dindex_build(struct responder *const *list, size_t n)
{
	struct dindex *ix = xcalloc(1, sizeof(*ix));
	double minlat = 90, maxlat = -90, minlon = 180, maxlon = -180;
	size_t i, ncell, *fill;
	int cx, cy;

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
	while ((size_t)ix->ncx * (size_t)ix->ncy > 4000000) {
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
	ix->start = xcalloc(ncell + 1, sizeof(size_t));
	ix->items = xcalloc(n ? n : 1, sizeof(*ix->items));
	for (i = 0; i < n; i++) {
		dindex_cell(ix, list[i]->lat, list[i]->lon, &cx, &cy);
		ix->start[(size_t)cy * (size_t)ix->ncx + (size_t)cx + 1]++;
	}
	for (i = 0; i < ncell; i++)
		ix->start[i + 1] += ix->start[i];
	fill = xcalloc(ncell, sizeof(size_t));
	for (i = 0; i < n; i++) {
		size_t c;

		dindex_cell(ix, list[i]->lat, list[i]->lon, &cx, &cy);
		c = (size_t)cy * (size_t)ix->ncx + (size_t)cx;
		ix->items[ix->start[c] + fill[c]++] = list[i];
	}
	free(fill);
	return ix;
}

void
dindex_free(struct dindex *ix)
{
	if (ix == NULL)
		return;
	free(ix->start);
	free(ix->items);
	free(ix);
}

/* Considers every responder of cell (x, y) against the best so far. */
static void
dindex_scan_cell(const struct dindex *ix, int x, int y, double lat, double lon,
		 dindex_ok_fn ok, void *arg, struct responder **best, double *best_d)
{
	size_t c = (size_t)y * (size_t)ix->ncx + (size_t)x, i;

	for (i = ix->start[c]; i < ix->start[c + 1]; i++) {
		struct responder *r = ix->items[i];
		double d = geo_distance_m(lat, lon, r->lat, r->lon);

		if (d < *best_d && ok(r, d, arg)) {
			*best = r;
			*best_d = d;
		}
	}
}

struct responder *
dindex_nearest(const struct dindex *ix, double lat, double lon, dindex_ok_fn ok,
	       void *arg, double *dist_m)
{
	struct responder *best = NULL;
	double best_d = INFINITY;
	int cx, cy, k, kmax, x, y;

	if (ix == NULL || ix->n == 0)
		return NULL;
	dindex_cell(ix, lat, lon, &cx, &cy);
	kmax = ix->ncx > ix->ncy ? ix->ncx : ix->ncy;
	for (k = 0; k <= kmax; k++) {
		/* Everything in ring k is at least (k - 1) cells away. */
		if (best != NULL && best_d <= (k - 1) * ix->cell_m)
			break;
		for (y = cy - k; y <= cy + k; y++) {
			if (y < 0 || y >= ix->ncy)
				continue;
			if (y == cy - k || y == cy + k) {
				for (x = cx - k; x <= cx + k; x++)
					if (x >= 0 && x < ix->ncx)
						dindex_scan_cell(ix, x, y, lat, lon, ok,
								 arg, &best, &best_d);
			} else {
				if (cx - k >= 0)
					dindex_scan_cell(ix, cx - k, y, lat, lon, ok, arg,
							 &best, &best_d);
				if (k > 0 && cx + k < ix->ncx)
					dindex_scan_cell(ix, cx + k, y, lat, lon, ok, arg,
							 &best, &best_d);
			}
		}
	}
	if (best && dist_m)
		*dist_m = best_d;
	return best;
}
