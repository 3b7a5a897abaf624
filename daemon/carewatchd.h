/* carewatchd.h - the daemon's one context and what its modules share.
 *
 * The life of a message: route.c sorts what the broker delivers into the
 * batch being built; writer.c commits one batch at a time, runs the core on
 * what committed, and publishes what the commit allows (the outbox holds it
 * while the broker is away); timers.c runs the incidents' deadlines and
 * watches progress; restore.c loads the world at start, replays what was
 * stored but not handled, and reloads reference data on SIGHUP. engine.c
 * ties them together. */
#ifndef CW_CAREWATCHD_H
#define CW_CAREWATCHD_H

/* how long reading waits for the PUBACK of an urgent offer (engine) */
#define URGENT_OUT_US 200000

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "conf.h"
#include "engine.h"
#include "ingest.h"
#include "metrics.h"
#include "model.h"
#include "render.h"

/* Batch statements, in the order they run in one transaction. */
enum q_kind {
	Q_EVENTS,
	Q_DEAD,
	Q_REPLIES,
	Q_STATUS,
	Q_INC,
	Q_OFFERS,
	Q_HIST,
	Q_HANDLED,
	Q_VISITS,
	Q_AUDIT,
	Q_POSITIONS,
	Q_RATE_LIMITED,
	Q_Z2M,
	Q__COUNT
};

/* A received event waiting for its commit. */
struct pend_ev {
	struct device *dev;
	struct devevent ev;
	char *key;
	bool process; /* may open or touch an incident */
	bool returned;
};

struct commit_cb {
	commit_fn fn;
	void *arg;
};

struct batch {
	json_t *rows[Q__COUNT];
	char *text[Q__COUNT];
	int qkind[Q__COUNT]; /* statement i carries rows of kind qkind[i] */
	int nq;
	VEC(struct pub) pubs;
	VEC(struct pend_ev) evs;
	VEC(struct commit_cb) on_commit;
	struct hmap evkeys;
	/* rows by key, so that a later change of the same row replaces it:
	 * one statement may not touch a row twice, and the last state wins */
	struct hmap rowkeys;
	VEC(char *) rowkey_store;
	size_t inbound; /* broker messages it carries */
	bool replay;	/* carries the start-up replay */
	bool urgent;	/* carries a priority-1 alarm read in a backlog */
};

enum eng_phase { PH_INIT, PH_LOADING, PH_RUNNING, PH_STOPPING };

/* The search for the row PostgreSQL rejects in a failed batch (writer.c):
 * trial runs of the batch with a prefix of one statement's rows, each
 * rolled back, until prefix lo passes and prefix hi = lo + 1 fails. */
struct bisect {
	bool on;
	bool verified; /* the whole statement failed in a trial too */
	int q;	       /* the failing statement's index in the batch */
	size_t lo, hi, trying;
	char sqlstate[8];
	char *prefix; /* the trial's rows of statement q, serialised */
	unsigned trials;
};

struct engine {
	struct event_base *base;
	struct conf conf;
	struct world w;
	struct resolver *dns; /* host names looked up on the loop */
	struct db *db;	      /* the writer: batches, lock, start-up load */
	struct reader *rd;    /* read-only: reloads, later API reads and reports */
	struct mqtt *mqtt;
	struct mqtt *mqtt_out; /* offers and notices: mqtt_new_publisher */
	struct batch *next, *flight;
	/* Heartbeats read ahead of the commits while the broker holds a
	 * backlog, oldest first; each is sent only when next (alarms, replies,
	 * the core's rows) has nothing to write, so an SOS read behind them
	 * is stored and offered first (route.c). */
	struct batch **bulk;
	size_t nbulk, bulk_cap, bulk_inbound;
	struct batch *inb; /* where the message being routed is counted */
	bool flight_failed;
	double flight_since; /* monotonic, like progress_at and stop_deadline */
	/* wall minus monotonic clock at the last engine_now(): a change is a
	 * step of the wall clock */
	double clock_offset;
	bool clock_known;
	struct bisect bis;
	/* the database-outage spool (writer.c, spool.c); NULL when its
	 * directory cannot hold a journal */
	struct spool *sp;
	bool spool_flight;    /* the batch in flight is being journaled */
	bool spool_stuck;     /* the last append failed (full, disk error) */
	bool spool_warned;    /* "near full" was logged for this outage */
	bool spool_full_said; /* and "full" */
	double spool_since;   /* monotonic start of this outage; 0 = none */
	bool wb_active;	      /* the journal is being written back */
	bool wb_broken;	      /* a record could not be read: left alone */
	uint64_t wb_off, wb_next_off;
	char *wb_rec; /* the record the write-back job reads from */
	size_t wb_len;
	unsigned long wb_batches, wb_rejected;
	double wb_started;
	struct event *retry_ev, *stop_ev;
	/* An urgent batch's offers went out on the publisher session: reading
	 * waits for the broker's PUBACK of them (at most URGENT_OUT_US), since a
	 * broker busy writing a backlog to us routes nothing else meanwhile. */
	bool urgent_out;
	struct event *urgent_ev;
	double urgent_at; /* monotonic time the last urgent batch began */
	enum eng_phase phase;
	bool mqtt_started;
	bool reload_wanted, reloading;
	bool locked, locking; /* this session holds the single-writer lock */
	double lock_wait_since, lock_logged_at;
	long lock_pid;	 /* backend pid of the session that last held it */
	int exit_status; /* 1 once the lock was lost to another daemon */
	double stop_deadline;
	/* keys of events this process has run the core on */
	struct hmap recent;
	char **ring;
	size_t ring_pos;
	/* messages held while the broker is away, in order */
	VEC(struct pub) outbox;
	double degraded_since; /* timers were held since then; 0 = healthy */
	bool ever_connected;   /* the broker session came up once */
	double progress_at;    /* last commit, or last moment with nothing to do
				  (monotonic) */
	bool stalled;	       /* reported as stalled: the watchdog is withheld */
	struct http *http;     /* the operators' API; NULL when [http] listen = off */
	/* device supervision (silence.c) */
	struct supervisor *sv;
	struct event *sv_ev;
	double sv_up_since;  /* the broker session is up since; 0 = down */
	bool sv_broker_lost; /* it went down since supervision started */
	bool sv_checked;     /* restored storms checked after the first sweep */
	double started_at;
	/* counters */
	unsigned long n_events, n_dead, n_batches, n_replies;
	struct metrics m;
	struct zbridge *zb; /* zigbee2mqtt names and field states (z2mroute.c) */
};

/* batch.c */
struct batch *batch_new(void);
void batch_free(struct batch *b);
bool batch_has_rows(const struct batch *b);
bool batch_merge(struct batch *dst, struct batch *src);
void batch_add(struct batch *b, enum q_kind q, json_t *row);
void batch_keyed(struct batch *b, enum q_kind q, const char *key, json_t *row);
void batch_pub(struct batch *b, struct pub *p);
void batch_on_commit(struct batch *b, commit_fn fn, void *arg);
void batch_committed(struct batch *b, bool ok);
int batch_queries(struct batch *b, const char **sql, const char **param, int max);
void batch_requeue(struct batch *b);
/* The batch's statements as one spool record: per statement its kind's
 * name and its rows' JSON text; a malloc'd buffer of *len bytes. */
char *batch_encode(struct batch *b, size_t *len);
/* Reads a spool record back into statements (kinds, SQL, one parameter
 * each, pointing into rec, which must stay): how many, or -1 when the
 * record is not one. */
int batch_decode(char *rec, size_t len, int *kind, const char **sql, const char **param,
		 int max);
const char *batch_kind_name(enum q_kind q);

/* route.c */
void route_message_cb(void *arg, const char *topic, const void *payload, int len);
void route_update_hold(struct engine *e);
void dead_letter(struct engine *e, const char *topic, const char *reason,
		 const void *payload, size_t len, double now);

/* position.c */
void route_owntracks(struct engine *e, const char *topic, const void *payload, int len,
		     double now);

/* limit.c */
bool route_limited(struct engine *e, const char *topic, struct device *d, int type,
		   const void *payload, int len, double now);
void route_dead(struct engine *e, const char *topic, const char *reason,
		const void *payload, size_t len, double now, bool show_topic);
void route_device_event(struct engine *e, struct device *d, struct devevent *ev,
			double now);

/* z2mroute.c */
bool z2m_route(struct engine *e, const char *topic, const void *payload, int len,
	       double now);
int z2m_topic_kind(struct engine *e, const char *topic); /* enum z2m_topic */
void z2m_index(struct engine *e);
void z2m_load_states(struct engine *e, PGresult *r);
void z2m_free(struct engine *e);

/* writer.c */
void engine_kick(struct engine *e);
bool engine_pending(const struct engine *e); /* rows wait in next or bulk */
void engine_mqtt_start(struct engine *e);    /* both broker sessions */
void engine_drain(struct engine *e);
void publish_now(struct engine *e, struct pub *p);
void outbox_flush(struct engine *e);
void retry_later(struct engine *e, double secs);
void writer_free(struct engine *e);
/* Notes an event key the core has run on (this process or, restored at
 * start, an earlier one): a copy of it arriving while the database is
 * down is not run again. */
void writer_recent_add(struct engine *e, const char *key);

/* timers.c */
extern struct engine *timers_engine;
void timers_arm(struct engine *e, struct incident *inc);
void timers_free(struct engine *e, struct incident *inc);
bool engine_healthy(const struct engine *e);

/* The wall-clock time the core decides with. A step of the wall clock
 * (NTP at boot, an operator's date -s) is noticed here, before the time is
 * used: every pending deadline and supervision silence is moved by the
 * step, so that each keeps the length it had left. Times recorded stay
 * true wall-clock times. */
double engine_now(struct engine *e);

/* writer.c: whether received batches go to the spool now (PostgreSQL
 * unreachable while the daemon runs, and the journal takes them) */
bool spool_usable(const struct engine *e);
/* writer.c: writes the journal back (start-up, or the database's return);
 * at its end restore_load() runs when loading was waiting for it */
void writeback_start(struct engine *e);
const char *engine_stall_reason(struct engine *e, double now);

/* silence.c: device supervision. supervise_heard: any message from d (an
 * event, a status, a zigbee2mqtt state) counts as hearing it. */
extern const char *const SQL_LOAD_SEEN;
void supervise_heard(struct engine *e, struct device *d, double now);
/* After the core ran on a device_offline event: its device was heard again
 * meanwhile, so the ticket just opened is closed. */
void supervise_after_event(struct engine *e, struct device *d, const struct devevent *ev,
			   double now);
void supervise_status(struct engine *e, struct device *d, bool online, double now);
void silence_new(struct engine *e);
void silence_free(struct engine *e);
void silence_load(struct engine *e, PGresult *seen);
void silence_sync(struct engine *e);

/* restore.c */
void restore_lock(struct engine *e);
void restore_load(struct engine *e);
bool restore_reload(struct engine *e);

#endif
