/* store.h - what goes into PostgreSQL and what comes back: SQL text, row
 * builders, and the decoders of the loads' results.
 * Every batch statement takes one jsonb array parameter, so one fixed
 * statement carries any number of rows. */
#ifndef CW_STORE_H
#define CW_STORE_H

#include <jansson.h>
#include <libpq-fe.h>

#include "ingest.h"
#include "model.h"

extern const char *const SQL_INSERT_EVENTS;
extern const char *const SQL_INSERT_DEAD;
extern const char *const SQL_INSERT_REPLIES;
extern const char *const SQL_UPDATE_STATUS;
extern const char *const SQL_UPDATE_POSITIONS;
extern const char *const SQL_UPSERT_RATE_LIMITED;
extern const char *const SQL_UPSERT_INCIDENTS;
extern const char *const SQL_UPSERT_OFFERS;
/* What the live event stream sends of a history row, in this order: seq,
 * incident_id, at (epoch seconds), what, actor, detail, kind, type,
 * priority, state, escalated, area_code, elder_id. */
#define SQL_HISTORY_COLUMNS                                                              \
	"seq, incident_id, extract(epoch FROM at), what, coalesce(actor, ''), "          \
	"coalesce(detail, ''), coalesce(kind, ''), coalesce(type, ''), "                 \
	"coalesce(priority, 0), coalesce(state, ''), coalesce(escalated, false), "       \
	"coalesce(area_code, ''), coalesce(elder_id, '')"
extern const char *const SQL_INSERT_HISTORY;
extern const char *const SQL_MARK_HANDLED;
extern const char *const SQL_INSERT_VISITS;
extern const char *const SQL_INSERT_AUDIT;
extern const char *const SQL_UPSERT_Z2M;

extern const char *const SQL_LOAD_ELDERS;
extern const char *const SQL_LOAD_DEVICES;
extern const char *const SQL_LOAD_STATIONS;
extern const char *const SQL_LOAD_VOLUNTEERS;
extern const char *const SQL_LOAD_INCIDENTS;
extern const char *const SQL_LOAD_OFFERS;
extern const char *const SQL_LOAD_MAXID;
extern const char *const SQL_LOAD_RECENT;
extern const char *const SQL_LOAD_UNHANDLED;
extern const char *const SQL_LOAD_Z2M;

/* Row builders: each returns a new JSON object for one json_to_recordset row. */
json_t *store_event_row(const char *device_id, const struct devevent *ev, double received,
			bool handled);
json_t *store_dead_row(const char *topic, const char *reason, const void *payload,
		       size_t len, double received);
json_t *store_reply_row(const char *responder, const struct reply *r, double received,
			const char *result);
json_t *store_status_row(const char *device_id, bool online, double at);
json_t *store_position_row(const struct responder *r);
json_t *store_incident_row(const struct incident *inc);
json_t *store_offer_row(const struct incident *inc, const struct offer *of);
/* inc: the incident as it is after the change (NULL when it is gone) */
json_t *store_hist_row(const struct hist *h, const struct incident *inc);
json_t *store_handled_row(const struct handled *h);
json_t *store_visit_row(const struct visit *v);

/* Decoders of the loads' results, beside the SQL that asks for them. */
void store_load_elders(struct world *w, PGresult *r);
void store_load_devices(struct world *w, PGresult *r);
void store_load_responders(struct world *w, PGresult *stations, PGresult *volunteers);
struct incident **store_load_incidents(PGresult *incidents, PGresult *offers, int *count);
/* Row i of SQL_LOAD_UNHANDLED; -1 when its type is unknown (still marked
 * handled by the caller, so that it is not replayed for ever). */
int store_unhandled_event(PGresult *r, int i, char *device_id, size_t idlen,
			  struct devevent *ev);

/* Base64 of arbitrary bytes (dead letters carry the payload this way). */
char *store_base64(const void *data, size_t len);

#endif
