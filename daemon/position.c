/* position.c - the volunteers' live positions from OwnTracks (SPEC §3, §4).
 *
 * A fix moves the volunteer in the dispatch index at once (O(1)) and is
 * written with the next batch, one row per volunteer and batch (the latest
 * wins), so a restart ranks from the same place. Only the latest position
 * is kept, in memory and in volunteers.live_*: no history. Positions are
 * personal data: no log line carries one, nor the OwnTracks user name. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "carewatchd.h"
#include "dispatch.h"
#include "log.h"
#include "owntracks.h"
#include "store.h"
#include "util.h"

#define FUTURE_SLACK_S 60 /* a phone clock ahead by more is not believed */

void
route_owntracks(struct engine *e, const char *topic, const void *payload, int len,
		double now)
{
	char user[REF_ID_MAX + 1], key[REF_ID_MAX + 8];
	struct responder *r;
	struct ot_fix fix;
	const char *why;

	if (owntracks_topic(topic, user, sizeof(user)) < 0) {
		/* a user name longer than any id can be nobody's */
		e->m.owntracks_unknown++;
		return;
	}
	switch (owntracks_parse(payload, (size_t)len, &fix, &why)) {
	case OT_MALFORMED:
		dead_letter(e, topic, why, payload, (size_t)len, now);
		return;
	case OT_IGNORED:
		e->m.owntracks_ignored++;
		return;
	case OT_LOCATION:
		break;
	}
	if ((r = hmap_get(&e->w.owntracks, user)) == NULL) {
		e->m.owntracks_unknown++;
		log_debug("event=owntracks_unknown_user");
		return;
	}
	if (fix.tst > now + FUTURE_SLACK_S)
		fix.tst = now;
	/* too old to rank from, or older than the fix already held */
	if (fix.tst < now - e->w.p.position_max_age_s || fix.tst <= r->live_at) {
		e->m.positions_stale++;
		log_debug("event=position_stale volunteer=%s", r->id);
		return;
	}
	r->live_lat = fix.lat;
	r->live_lon = fix.lon;
	r->live_at = fix.tst;
	dindex_move(e->w.index, r);
	snprintf(key, sizeof(key), "pos/%s", r->id);
	batch_keyed(e->next, Q_POSITIONS, key, store_position_row(r));
	e->m.positions++;
}
