/* incident.h - correlation, priorities and the incident/offer state machine.
 * Pure: it mutates the world and records effects (rows to persist, typed
 * effects to announce, timers to arm) in w->fx for the adapters to carry out. */
#ifndef CW_INCIDENT_H
#define CW_INCIDENT_H

#include "ingest.h"
#include "model.h"

void world_init(struct world *w);
void world_free(struct world *w);

/* (Re)builds the dispatch index from the responders map. */
void world_index(struct world *w);

struct incident *world_incident(const struct world *w, int64_t id);

/* A new device event, already durable. Opens or joins the elder's incident
 * and dispatches. Returns the incident id it touched, or 0. */
int64_t incident_on_event(struct world *w, struct device *d, const struct devevent *ev,
			  double now);

/* The station that holds the elder's maintenance tickets: the elder's own
 * station; without one, the township's regional center; else the county
 * center. NULL only when there is no station of those kinds at all. */
const struct responder *ticket_station(const struct world *w, const struct elder *e);

/* A responder's reply. Returns NULL when applied, else why it was not. */
const char *incident_on_reply(struct world *w, const char *responder_id,
			      const struct reply *r, double now);

/* Operator actions (SPEC §5), for the HTTP API and the command line. Each
 * returns NULL when applied (the incident is marked dirty), else a short
 * reason for the operator, valid until the next call; nothing is changed
 * then. operator_id is the acting operator (1..REF_ID_MAX bytes); a NULL
 * note is none, and a note longer than NOTE_MAX - 1 bytes is cut. */

/* Records that operator_id has seen the incident (alarm or ticket) and
 * phoned the elder: who, when, note. Its state and offers are unchanged; a
 * second acknowledgement, by anyone, is refused. */
const char *incident_ack(struct world *w, int64_t id, const char *operator_id,
			 const char *note, double now);

/* Closes the incident with one of the SPEC §5 outcomes: a pending offer is
 * withdrawn, the responder holding it is freed, and when a responder was on
 * site a completed in-person visit is recorded. */
const char *incident_resolve_op(struct world *w, int64_t id, const char *operator_id,
				const char *outcome, const char *note, double now);

/* Offers the alarm to responder_id now, whatever its rank, capacity or
 * distance: a pending offer to someone else is withdrawn first. The offer is
 * forced (it counts not towards max_offers) and has the usual window. */
const char *incident_dispatch_to(struct world *w, int64_t id, const char *responder_id,
				 const char *operator_id, double now);

/* A responder an operator may pick for a manual dispatch. */
struct candidate {
	const struct responder *r;
	int distance_m; /* great-circle, from the given point */
	bool busy;	/* holds or is offered an incident, or is full or off duty */
};

/* Fills out with up to max active responders nearest to (lat, lon), nearest
 * first; returns how many. */
size_t world_candidates(const struct world *w, double lat, double lon, double now,
			struct candidate *out, size_t max);

/* The incident's timer fired (offer deadline, escalation, retry). */
void incident_on_timer(struct world *w, struct incident *inc, double now);

/* Gives every pending offer a full answer window from now: called when the
 * daemon could not reach its responders for a while (database or broker
 * away), so that nobody times out on an offer never delivered. */
void incident_extend_offers(struct world *w, double now);

/* The wall clock stepped by delta seconds (positive: forward): moves every
 * pending deadline (offer answers, retries, escalations) by as much, so
 * that each still runs for the time it had left, and marks the incidents
 * changed so that the moved deadlines are stored. */
void world_shift_deadlines(struct world *w, double delta);

/* Publishes the pending offer again (after a restart: the first copy may
 * have been lost with the process), unless its deadline has passed. */
void incident_republish(struct world *w, struct incident *inc, double now);

/* Adds a rebuilt incident (from the database) to the world: links the elder,
 * counts what its responders hold, and computes its timer. */
void incident_restore(struct world *w, struct incident *inc);

/* Allocates an incident with an empty offer list. */
struct incident *incident_new(void);
void incident_free(struct incident *inc);

/* Adds one FX_CHANGED effect for every incident changed since the effects
 * were last cleared, with its state as it is now: the adapters call it once
 * before they take the effects. */
void effects_settle(struct world *w);

/* Frees what the effects hold and empties them (the dirty list is only
 * emptied: incidents belong to the world). */
void effects_clear(struct effects *fx);

const char *inc_state_name(enum inc_state s);
int inc_state_parse(const char *s);
const char *answer_name(enum offer_answer a);
int answer_parse(const char *s);

#endif

/* Supervision (supervise.c decides; these record it). */

/* Opens the priority-3 area incident of a power-cut storm in area_code for
 * the station that holds first's elder's tickets; devices are listed by
 * incident_area_join (alarm_count counts them). */
struct incident *incident_area_open(struct world *w, const char *area_code,
				    const struct device *first, const char *event_id,
				    double now);
/* Lists d (silent since since) in the storm; announce tells the station. */
void incident_area_join(struct world *w, struct incident *inc, const struct device *d,
			double since, bool announce, double now);
void incident_area_back(struct world *w, struct incident *inc, const struct device *d,
			double now);
/* Closes the storm with outcome device_back. */
void incident_area_clear(struct world *w, struct incident *inc, int silent, int listed,
			 double now);
/* d, found silent since since and ticketed, was heard again: recorded on the
 * elder's ticket, which closes itself (outcome device_back) when it carries
 * only that silence. */
void incident_device_back(struct world *w, const struct device *d, double since,
			  double now);
