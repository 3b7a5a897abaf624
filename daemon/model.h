/* model.h - the daemon's in-memory world: reference data and incident state.
 * Plain structs only; no event loop, database or broker types here. */
#ifndef CW_MODEL_H
#define CW_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flood.h"
#include "hmap.h"

#define ID_MAX	    64 /* device and event ids */
#define REF_ID_MAX  64 /* elders, stations, volunteers: as the importer allows */
#define AREA_LEN    12
#define OUTCOME_MAX 24
#define NOTE_MAX    512 /* an operator's note, bytes with the NUL */

enum ev_type {
	EV_SOS,
	EV_FALL,
	EV_SMOKE,
	EV_GAS,
	EV_CO,
	EV_WATER_LEAK,
	EV_INACTIVITY,
	EV_DOOR,
	EV_MOTION,
	EV_HEARTBEAT,
	EV_LOW_BATTERY,
	EV_TAMPER,
	EV_TEST,
	EV_OFFLINE, /* raised by supervision, never by a device */
	EV__COUNT
};

/* Elder categories as a bit set (SPEC §2): bit i is validate_categories[i]
 * (common/validate.c), the list the importer checks against. */
enum elder_cat {
	CAT_EXTREME_POVERTY = 1 << 0,
	CAT_LOW_INCOME = 1 << 1,
	CAT_ECON_HARDSHIP = 1 << 2,
	CAT_DISABLED = 1 << 3,
	CAT_DEMENTIA = 1 << 4,
	CAT_SEVERE_DISABILITY = 1 << 5,
	CAT_LIVING_ALONE = 1 << 6,
	CAT_EMPTY_NEST = 1 << 7,
	CAT_LEFT_BEHIND = 1 << 8,
	CAT_SPECIAL_FAMILY = 1 << 9,
};

struct incident;

struct elder {
	char id[REF_ID_MAX + 1];
	char area_code[AREA_LEN + 1];
	char station_id[REF_ID_MAX + 1];
	double lat, lon;
	unsigned cats;
	int capability; /* -1 unknown */
	int birth_y, birth_m, birth_d;
	/* What a responder needs to help (sent in offers, never logged). */
	char *name, *address, *phone, *notes, *contacts;
	struct incident *open_alarm;  /* the open priority 1/2 incident */
	struct incident *open_ticket; /* the open technical ticket */
};

struct device {
	char id[ID_MAX + 1];
	char kind[16];
	char elder_id[REF_ID_MAX + 1];
	struct elder *elder;
	int heartbeat_s;	/* 0 = not supervised */
	uint32_t sv_slot;	/* supervise.c: its slot + 1; 0 = not watched */
	struct flood_dev flood; /* flood control's bucket */
	char *z2m_name;		/* zigbee2mqtt friendly name (external_id), or NULL */
};

enum responder_kind { RESP_STATION, RESP_VOLUNTEER };

struct responder {
	char id[REF_ID_MAX + 1];
	enum responder_kind kind;
	char station_kind[20];	      /* county_center, regional_center, ... */
	char area_code[AREA_LEN + 1]; /* stations: where it serves */
	double lat, lon;	      /* home position */
	int capacity;		      /* stations: incidents held at once */
	int duty_from, duty_to;	      /* minutes of the local day */
	bool active;
	double max_km; /* volunteers; <= 0 = the configured default */
	int holding;   /* incidents accepted and not resolved */
	int pending;   /* offers waiting for this responder's answer */
	unsigned mark; /* scratch for ranking: offered for the current incident */
	/* Skills as bits (bit i = validate_skills[i]); volunteers' live position
	 * (OwnTracks): only the latest fix is kept, live_at = 0 when none. */
	unsigned skills;
	char owntracks_user[REF_ID_MAX + 1];
	double live_lat, live_lon, live_at;
	size_t ix_slot; /* the dispatch index's handle for this responder */
};

enum inc_state { INC_OPEN, INC_OFFERED, INC_ACCEPTED, INC_ON_SITE, INC_RESOLVED };
enum inc_kind { INC_ALARM, INC_TICKET };
enum offer_answer { ANS_PENDING, ANS_ACCEPTED, ANS_DECLINED, ANS_TIMEOUT, ANS_CANCELLED };

struct offer {
	int seq;
	char responder_id[REF_ID_MAX + 1];
	enum responder_kind rkind;
	int distance_m;
	double offered_at, deadline, answered_at;
	enum offer_answer answer;
	bool forced; /* offered regardless of capacity: on escalation, or manual */
	bool manual; /* an operator chose the responder (offers.manual) */
};

struct incident {
	int64_t id;
	char key[24]; /* id as text, for the map */
	enum inc_kind kind;
	enum inc_state state;
	char elder_id[REF_ID_MAX + 1];
	struct elder *elder;
	char area_code[AREA_LEN + 1];
	enum ev_type type;
	int priority;
	bool escalated;
	double escalated_at;
	char station_id[REF_ID_MAX + 1];   /* tickets: the station that holds it */
	char responder_id[REF_ID_MAX + 1]; /* who accepted */
	char alarm_device[ID_MAX + 1], alarm_event[ID_MAX + 1];
	double opened_at, accepted_at, arrived_at, resolved_at;
	char outcome[OUTCOME_MAX];
	char resolved_by[REF_ID_MAX + 1];
	/* Operator acknowledgement (seen, elder phoned): apart from the state. */
	char acked_by[REF_ID_MAX + 1];
	double acked_at;
	char ack_note[NOTE_MAX];
	int alarm_count;
	struct offer *offers;
	int noffers, offers_cap;
	int pending_offer;  /* index into offers, -1 when none */
	double retry_at;    /* try dispatch again (nobody was available) */
	double escalate_at; /* stored: a raise starts the clock then, not at opening */
	double timer_at;    /* earliest of the deadlines above; 0 = none */
	bool dirty;
	void *timer; /* the adapter's timer handle */
};

/* Everything the core wants done outside it, in order. */
struct hist {
	int64_t incident_id;
	double at;
	char what[24];
	char actor[REF_ID_MAX + 1];
	char *detail;
};

/* What the core asks the adapters to tell the outside world. Each adapter
 * renders its own form (MQTT now; the event stream and the audit log next).
 * An effect is a snapshot: it stays valid after the incident is freed, and
 * elder points into the world (elders are updated in place, never freed
 * while the world lives), so render it before the next reload. */
enum fx_kind {
	FX_OFFER,	    /* an offer made, or sent again with a new window */
	FX_OFFER_WITHDRAWN, /* the responder must not set out for it */
	FX_INFO,	    /* a station is told of an incident it is not asked to take */
	FX_TICKET,	    /* a maintenance ticket opened, or a new alarm on it */
	FX_CHANGED,	    /* the incident's state, priority or flags changed */
};

struct effect {
	enum fx_kind kind;
	int64_t incident_id;
	char to[REF_ID_MAX + 1]; /* the responder or station addressed */
	int priority;
	enum ev_type type;
	enum inc_state state;
	bool escalated;
	bool acked;		/* an operator has acknowledged it */
	char alarm[ID_MAX + 1]; /* the event that opened the incident */
	const struct elder *elder;
	/* FX_OFFER, FX_OFFER_WITHDRAWN */
	int offer_seq;
	int distance_m;
	int respond_within_s;
	bool forced;
	/* FX_INFO */
	char reason[16];
	/* FX_TICKET */
	char device[ID_MAX + 1];
	enum ev_type event_type;
	int alarm_count;
};

struct handled {
	char device_id[ID_MAX + 1];
	char event_id[ID_MAX + 1];
	int64_t incident_id;
};

struct visit {
	char id[112]; /* responder:visit, or inc-N */
	char elder_id[REF_ID_MAX + 1];
	char responder_id[REF_ID_MAX + 1];
	double at;
	int64_t incident_id;
	char kind[20];
	bool in_person;
	char note[256];
};

#define VEC(T)                                                                           \
	struct {                                                                         \
		T *v;                                                                    \
		size_t n, cap;                                                           \
	}

#define VEC_PUSH(vec, item)                                                              \
	do {                                                                             \
		if ((vec).n == (vec).cap) {                                              \
			(vec).cap = (vec).cap ? (vec).cap * 2 : 16;                      \
			(vec).v = xrealloc((vec).v, (vec).cap * sizeof(*(vec).v));       \
		}                                                                        \
		(vec).v[(vec).n++] = (item);                                             \
	} while (0)

struct effects {
	VEC(struct incident *) dirty;
	VEC(struct hist) hist;
	VEC(struct effect) out;
	VEC(struct handled) handled;
	VEC(struct visit) visits;
};

struct dindex;

/* Dispatch parameters (from [dispatch]). */
struct dparams {
	double offer_timeout_s[4]; /* by priority */
	int max_offers;
	double escalate_after_s;
	double volunteer_max_km;
	double retry_s;
	int night_from, night_to;
	double position_max_age_s; /* an older live fix is not used */
	/* Type-specific skills (SPEC §4): the skill bit wanted for each type,
	 * 0 = none, and whether it is required or only preferred. */
	unsigned skill_of[EV__COUNT];
	bool skill_required[EV__COUNT];
};

struct world {
	struct hmap elders, devices, responders, incidents;
	struct dindex *index;
	struct hmap owntracks; /* owntracks_user -> volunteer */
	struct dparams p;
	int64_t next_incident_id;
	unsigned mark_gen;
	struct effects fx;
	size_t n_open;
	char why[REF_ID_MAX + 32]; /* a refusal that names someone, until the next */
};

#endif
