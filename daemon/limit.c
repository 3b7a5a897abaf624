/* limit.c - flood control at the door (SPEC §8): a device sending more than
 * its bucket allows has the excess dropped before it costs a row. Nothing
 * the broker delivered is lost silently: a dropped event is acknowledged
 * with the batch that carries it, and that batch also adds it to the one
 * dead letter (reason rate_limited) its device gets per window. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "carewatchd.h"
#include "log.h"
#include "store.h"
#include "util.h"

#define RATE_KEEP 4096 /* bytes of the first dropped payload kept */

bool
route_limited(struct engine *e, const char *topic, struct device *d, int type,
	      const void *payload, int len, double now)
{
	struct flood_params p = {e->conf.flood_rate, e->conf.flood_burst,
				 e->conf.flood_window_s};
	char key[ID_MAX + 48];
	size_t keep = (size_t)len > RATE_KEEP ? RATE_KEEP : (size_t)len;
	void *at;
	json_t *row;

	if (flood_admit(&d->flood, &p, type, now))
		return false;
	e->m.rate_limited++;
	snprintf(key, sizeof(key), "rl/%s/%.3f", d->id, d->flood.window_at);
	at = hmap_get(&e->next->rowkeys, key);
	if (at != NULL) {
		/* this batch already counts the window: one more */
		row = json_array_get(e->next->rows[Q_RATE_LIMITED],
				     (size_t)(uintptr_t)at - 1);
		json_object_set_new(
		    row, "n",
		    json_integer(json_integer_value(json_object_get(row, "n")) + 1));
		return true;
	}
	row = store_dead_row(topic, "rate_limited", payload, keep, now);
	json_object_del(row, "r");
	json_object_set_new(row, "n", json_integer(1));
	json_object_set_new(row, "k", json_string(key));
	if (flood_first_drop(&d->flood)) {
		struct pub pb;

		/* announced once per window, like the row it opens */
		render_dead(e->conf.topic_prefix,
			    json_string_value(json_object_get(row, "t")), "rate_limited",
			    json_string_value(json_object_get(row, "p")), &pb);
		batch_pub(e->next, &pb);
		e->n_dead++;
		metrics_dead(&e->m, "rate_limited");
		log_warn(
		    "event=rate_limited device=%s rate=%.1f burst=%.0f window_s=%.1f",
		    d->id, p.rate, p.burst, p.window_s);
	}
	batch_keyed(e->next, Q_RATE_LIMITED, key, row);
	return true;
}
