/* sim.c - cw-sim: simulated devices and responders for demos
 *
 * Publishes device events for the sample county at a steady rate and answers
 * the daemon's offers as the responders would (accept, decline, arrive, close,
 * or answer too late). One readable line per thing on stdout; no names,
 * phones or addresses are ever printed. libmosquitto runs its own network
 * thread; the main thread paces events and fires the delayed actions. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <mosquitto.h>

#include "csv.h"
#include "log.h"
#include "util.h"

#define SIM_ID_MAX	  64
#define SIM_KIND_MAX	  16
#define SIM_TOPIC_MAX	  320
#define SIM_PAYLOAD_MAX	  512
#define SIM_MAX_DEVICES	  500000
#define SIM_MAX_RESP	  200000
#define SIM_MAX_TIMERS	  1024
#define SIM_FIRE_BATCH	  64
#define SIM_SEEN_OFFERS	  256
#define SIM_STEP_NS	  50000000L  /* main loop step: 50 ms */
#define SIM_TZ_OFFSET	  (8 * 3600) /* event clocks run on +08:00 */
#define SIM_MAX_WAIT_S	  600.0	     /* longest delay the sim schedules */
#define SIM_EVENTS_A_STEP 1000

struct sim_device {
	char id[SIM_ID_MAX + 1];
	char kind[SIM_KIND_MAX];
	char elder[SIM_ID_MAX + 1];
	int heartbeat_s; /* 0: not supervised */
	double next_hb;	 /* monotonic: its next quiet heartbeat */
};

enum sim_timer_kind { TIMER_REPLY, TIMER_ARRIVED, TIMER_DONE, TIMER_CLEAR };

/* A delayed action: a responder's answer or visit step, or a device clearing
 * its alarm. */
struct sim_timer {
	double due; /* monotonic seconds */
	enum sim_timer_kind kind;
	long long incident;
	char responder[SIM_ID_MAX + 1];
	size_t device;		 /* TIMER_CLEAR */
	char type[SIM_KIND_MAX]; /* TIMER_CLEAR: the alarm type that ends */
	bool accept;		 /* TIMER_REPLY */
	bool late;		 /* TIMER_REPLY: sent after respond_within_s */
	double within_s;	 /* TIMER_REPLY */
	double delay_s;		 /* TIMER_REPLY */
	bool false_alarm;	 /* TIMER_DONE */
};

struct sim_seen {
	long long incident;
	long long offer;
	char responder[SIM_ID_MAX + 1];
};

struct sim {
	/* options */
	const char *host;
	int port;
	const char *sample;
	const char *prefix;
	double rate;
	uint64_t seed;
	double duration;

	/* reference data */
	struct sim_device *devices;
	size_t ndevices;
	char **responders; /* sorted, for bsearch */
	size_t nresponders;

	/* subscriptions */
	char sub_dispatch[SIM_TOPIC_MAX];
	char sub_ack[SIM_TOPIC_MAX];
	char sub_dead[SIM_TOPIC_MAX];

	struct mosquitto *mosq;

	/* Everything below is shared by the network thread's callbacks and the
	 * main thread, and so is stdout. */
	pthread_mutex_t lock;
	bool connected;
	uint64_t rng;
	uint64_t counter;
	struct sim_timer timers[SIM_MAX_TIMERS];
	size_t ntimers;
	struct sim_seen seen[SIM_SEEN_OFFERS];
	size_t seen_next;
	unsigned long n_events, n_alarms, n_offers, n_replies, n_acks, n_dead, n_dropped;
	unsigned long n_heartbeats; /* quiet ones of supervised devices */
	unsigned long n_published, n_puback;
};

static volatile sig_atomic_t sim_stop;

static void
sim_signal_cb(int sig)
{
	(void)sig;
	sim_stop = 1;
}

/* Uniform in [0, 1). Lock held. */
static double
sim_uniform(struct sim *s)
{
	return (double)(xorshift_next(&s->rng) >> 11) / 9007199254740992.0;
}

/* Formats t (epoch seconds) as RFC 3339 on the +08:00 clock. */
static void
sim_ts_format(double t, char *buf, size_t len)
{
	time_t secs = (time_t)t + SIM_TZ_OFFSET;
	struct tm tm;

	gmtime_r(&secs, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d+08:00", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static void sim_say(const char *tag, const char *fmt, ...) CW_PRINTF(2, 3);

/* Prints one line "HH:MM:SS  TAG        text" (+08:00 clock). Lock held. */
static void
sim_say(const char *tag, const char *fmt, ...)
{
	time_t secs = (time_t)now_wall() + SIM_TZ_OFFSET;
	struct tm tm;
	va_list ap;

	gmtime_r(&secs, &tm);
	printf("%02d:%02d:%02d  %-10s ", tm.tm_hour, tm.tm_min, tm.tm_sec, tag);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* Wipes and frees the text of a CSV file, which may hold names and phones. */
static void
sim_csv_free(char *text, size_t len)
{
	explicit_bzero(text, len);
	free(text);
}

/* Loads DIR/devices.csv (id, kind, elder_id). Returns 0, or -1 with a
 * message on stderr. */
static int
sim_load_devices(struct sim *s)
{
	char path[1024], err[CSV_ERR_MAX], *text;
	struct csv_reader r;
	int n, cid, ckind, celder, chb, rc = -1;
	size_t len, cap = 0, skipped = 0;

	snprintf(path, sizeof(path), "%s/devices.csv", s->sample);
	if ((text = csv_read_file(path, &len, err, sizeof(err))) == NULL) {
		fprintf(stderr, "cw-sim: %s: %s\n", path, err);
		return -1;
	}
	if (csv_open(&r, text, len) < 0) {
		fprintf(stderr, "cw-sim: %s:%d: %s\n", path, r.err_line, r.err);
		sim_csv_free(text, len);
		return -1;
	}
	n = csv_next(&r);
	cid = n > 0 ? csv_column(&r, "id") : -1;
	ckind = n > 0 ? csv_column(&r, "kind") : -1;
	celder = n > 0 ? csv_column(&r, "elder_id") : -1;
	chb = n > 0 ? csv_column(&r, "heartbeat_s") : -1; /* optional */
	if (n < 0) {
		fprintf(stderr, "cw-sim: %s:%d: %s\n", path, r.err_line, r.err);
		goto out;
	}
	if (cid < 0 || ckind < 0 || celder < 0) {
		fprintf(stderr, "cw-sim: %s: header needs id, kind and elder_id\n", path);
		goto out;
	}
	while ((n = csv_next(&r)) == 1) {
		char **f = r.fields;
		struct sim_device *d;

		if (r.nfields <= cid || r.nfields <= ckind || r.nfields <= celder ||
		    !id_valid(f[cid], strlen(f[cid]), SIM_ID_MAX) ||
		    !id_valid(f[celder], strlen(f[celder]), SIM_ID_MAX) ||
		    strlen(f[ckind]) >= SIM_KIND_MAX) {
			skipped++;
			continue;
		}
		if (s->ndevices >= SIM_MAX_DEVICES) {
			fprintf(stderr,
				"cw-sim: %s: more than %d devices, rest ignored\n", path,
				SIM_MAX_DEVICES);
			break;
		}
		if (s->ndevices == cap) {
			cap = cap ? cap * 2 : 1024;
			s->devices = xrealloc(s->devices, cap * sizeof(*s->devices));
		}
		d = &s->devices[s->ndevices++];
		str_copy(d->id, f[cid], sizeof(d->id));
		str_copy(d->kind, f[ckind], sizeof(d->kind));
		str_copy(d->elder, f[celder], sizeof(d->elder));
		d->heartbeat_s = chb >= 0 && r.nfields > chb ? atoi(f[chb]) : 0;
		if (d->heartbeat_s < 0)
			d->heartbeat_s = 0;
		/* spread over the first interval, as devices switched on at
		 * random times would be */
		d->next_hb = now_mono() + sim_uniform(s) * 0.9 * d->heartbeat_s;
	}
	if (n < 0) {
		fprintf(stderr, "cw-sim: %s:%d: %s\n", path, r.err_line, r.err);
		goto out;
	}
	if (skipped > 0)
		fprintf(stderr, "cw-sim: %s: %zu unusable rows skipped\n", path, skipped);
	if (s->ndevices == 0 && s->rate > 0) {
		fprintf(stderr, "cw-sim: %s: no devices\n", path);
		goto out;
	}
	rc = 0;
out:
	csv_close(&r);
	sim_csv_free(text, len);
	return rc;
}

/* Adds the ids of DIR/name (stations.csv, volunteers.csv) to the responders;
 * a file that cannot be read is only a warning. */
static void
sim_load_responders(struct sim *s, const char *name, size_t *cap)
{
	char path[1024], err[CSV_ERR_MAX], *text, *id;
	struct csv_reader r;
	size_t len;
	int n, cid;

	snprintf(path, sizeof(path), "%s/%s", s->sample, name);
	if ((text = csv_read_file(path, &len, err, sizeof(err))) == NULL) {
		fprintf(stderr, "cw-sim: %s: %s (no responders from it)\n", path, err);
		return;
	}
	if (csv_open(&r, text, len) < 0) {
		fprintf(stderr, "cw-sim: %s:%d: %s (no responders from it)\n", path,
			r.err_line, r.err);
		sim_csv_free(text, len);
		return;
	}
	n = csv_next(&r);
	if (n < 0) {
		fprintf(stderr, "cw-sim: %s:%d: %s (no responders from it)\n", path,
			r.err_line, r.err);
		goto out;
	}
	if (n == 0 || (cid = csv_column(&r, "id")) < 0) {
		fprintf(stderr, "cw-sim: %s: no id column\n", path);
		goto out;
	}
	while ((n = csv_next(&r)) == 1) {
		if (r.nfields <= cid)
			continue;
		id = r.fields[cid];
		if (!id_valid(id, strlen(id), SIM_ID_MAX))
			continue;
		if (s->nresponders >= SIM_MAX_RESP)
			break;
		if (s->nresponders == *cap) {
			*cap = *cap ? *cap * 2 : 256;
			s->responders = xrealloc(s->responders, *cap * sizeof(char *));
		}
		s->responders[s->nresponders++] = xstrdup(id);
	}
	if (n < 0)
		fprintf(stderr, "cw-sim: %s:%d: %s (no responders from the rest)\n", path,
			r.err_line, r.err);
out:
	csv_close(&r);
	sim_csv_free(text, len);
}

static int
sim_strcmp_cb(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* True when id is one of the simulated responders (all are, when no
 * responder list could be read). */
static bool
sim_is_responder(const struct sim *s, const char *id)
{
	if (s->nresponders == 0)
		return true;
	return bsearch(&id, s->responders, s->nresponders, sizeof(char *),
		       sim_strcmp_cb) != NULL;
}

/* The alarm type a device of this kind raises, or NULL when it has none. */
static const char *
sim_alarm_type(struct sim *s, const char *kind)
{
	static const struct {
		const char *kind, *type;
	} map[] = {
	    {"sos_button", "sos"}, {"smoke", "smoke"},		 {"gas", "gas"},
	    {"co", "co"},	   {"water_leak", "water_leak"}, {"fall_radar", "fall"},
	    {"door", "door"},	   {"motion", "motion"},
	};
	size_t i;

	if (strcmp(kind, "wearable") == 0)
		return sim_uniform(s) < 0.5 ? "sos" : "fall";
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(kind, map[i].kind) == 0)
			return map[i].type;
	return NULL;
}

/* True for alarms that describe a condition that can end (and so clear). */
static bool
sim_clears(const char *type)
{
	return strcmp(type, "smoke") == 0 || strcmp(type, "gas") == 0 ||
	       strcmp(type, "co") == 0 || strcmp(type, "water_leak") == 0 ||
	       strcmp(type, "door") == 0 || strcmp(type, "motion") == 0;
}

/* Publishes a QoS 1 message, reporting a failure on stdout. Lock held. */
static void
sim_publish(struct sim *s, const char *topic, const char *payload)
{
	int rc;

	rc = mosquitto_publish(s->mosq, NULL, topic, (int)strlen(payload), payload, 1,
			       false);
	if (rc != MOSQ_ERR_SUCCESS)
		sim_say("ERROR", "publish to %s failed: %s", topic,
			mosquitto_strerror(rc));
	else
		s->n_published++;
}

/* Queues a delayed action; when the list is full the action is dropped (the
 * list is bounded on purpose). Lock held. */
static void
sim_timer_add(struct sim *s, const struct sim_timer *t)
{
	if (s->ntimers >= SIM_MAX_TIMERS) {
		s->n_dropped++;
		sim_say("DROPPED", "timer list full (%d), action skipped",
			SIM_MAX_TIMERS);
		return;
	}
	s->timers[s->ntimers++] = *t;
}

/* Publishes one device event for device d: type, or a kind-typical mix when
 * type is NULL. Lock held. */
/* A supervised device's regular heartbeat, as real devices send them so that
 * the daemon does not find them silent: quiet (counted, not printed). */
static void
sim_heartbeats(struct sim *s, double now)
{
	char topic[SIM_TOPIC_MAX], payload[SIM_PAYLOAD_MAX], ts[80];
	size_t i;

	for (i = 0; i < s->ndevices; i++) {
		struct sim_device *d = &s->devices[i];

		if (d->heartbeat_s <= 0 || now < d->next_hb)
			continue;
		/* a little early each time: well inside 1.5 x heartbeat_s */
		d->next_hb = now + d->heartbeat_s * (0.8 + 0.15 * sim_uniform(s));
		sim_ts_format(now_wall(), ts, sizeof(ts));
		snprintf(topic, sizeof(topic), "%s/dev/%s/event", s->prefix, d->id);
		snprintf(payload, sizeof(payload),
			 "{\"id\":\"hb-%" PRIu64 "-%" PRIu64 "\",\"type\":\"heartbeat\","
			 "\"ts\":\"%s\",\"battery\":%d}",
			 s->seed, ++s->counter, ts, 40 + (int)(sim_uniform(s) * 60));
		sim_publish(s, topic, payload);
		s->n_heartbeats++;
	}
}

static void
sim_send_event(struct sim *s, size_t di, const char *type, bool clear)
{
	const struct sim_device *d = &s->devices[di];
	char topic[SIM_TOPIC_MAX], payload[SIM_PAYLOAD_MAX], ts[80], id[SIM_ID_MAX + 1];
	const char *tag;
	int battery;

	if (type == NULL) {
		double r = sim_uniform(s);
		const char *alarm = sim_alarm_type(s, d->kind);

		if (r < 0.6 || alarm == NULL)
			type = "heartbeat";
		else if (r < 0.7)
			type = "low_battery";
		else
			type = alarm;
	}
	battery = strcmp(type, "low_battery") == 0 ? 5 + (int)(sim_uniform(s) * 10)
						   : 40 + (int)(sim_uniform(s) * 60);
	snprintf(id, sizeof(id), "sim-%" PRIu64 "-%" PRIu64, s->seed, ++s->counter);
	sim_ts_format(now_wall(), ts, sizeof(ts));
	snprintf(topic, sizeof(topic), "%s/dev/%s/event", s->prefix, d->id);
	snprintf(payload, sizeof(payload),
		 "{\"id\":\"%s\",\"type\":\"%s\",\"ts\":\"%s\",\"state\":\"%s\","
		 "\"battery\":%d,\"data\":{}}",
		 id, type, ts, clear ? "clear" : "alarm", battery);
	sim_publish(s, topic, payload);
	s->n_events++;

	if (clear)
		tag = "CLEAR";
	else if (strcmp(type, "heartbeat") == 0 || strcmp(type, "low_battery") == 0)
		tag = "EVENT";
	else
		tag = "ALARM";
	if (strcmp(type, "low_battery") == 0)
		sim_say(tag, "%-11s %s (elder %s) battery %d%%  %s", type, d->id,
			d->elder, battery, id);
	else
		sim_say(tag, "%-11s %s (elder %s)  %s", type, d->id, d->elder, id);

	if (strcmp(tag, "ALARM") == 0) {
		s->n_alarms++;
		if (sim_clears(type) && sim_uniform(s) < 0.4) {
			struct sim_timer t = {0};

			t.kind = TIMER_CLEAR;
			t.due = now_mono() + 10 + sim_uniform(s) * 30;
			t.device = di;
			str_copy(t.type, type, sizeof(t.type));
			sim_timer_add(s, &t);
		}
	}
}

/* Sends a responder's reply to an incident. Lock held. */
static void
sim_send_reply(struct sim *s, const char *responder, long long incident,
	       const char *action, const char *outcome)
{
	char topic[SIM_TOPIC_MAX], payload[SIM_PAYLOAD_MAX];

	snprintf(topic, sizeof(topic), "%s/resp/%s/reply", s->prefix, responder);
	if (outcome != NULL)
		snprintf(payload, sizeof(payload),
			 "{\"incident\":%lld,\"action\":\"%s\",\"outcome\":\"%s\"}",
			 incident, action, outcome);
	else
		snprintf(payload, sizeof(payload),
			 "{\"incident\":%lld,\"action\":\"%s\"}", incident, action);
	sim_publish(s, topic, payload);
	s->n_replies++;
}

/* Carries out one delayed action. Lock held. */
static void
sim_timer_fire(struct sim *s, const struct sim_timer *t)
{
	struct sim_timer next = {0};

	switch (t->kind) {
	case TIMER_REPLY:
		sim_send_reply(s, t->responder, t->incident,
			       t->accept ? "accept" : "decline", NULL);
		if (t->late)
			sim_say("REPLY", "%s %s incident %lld (late: %.1f s > %.0f s)",
				t->responder, t->accept ? "accepts" : "declines",
				t->incident, t->delay_s, t->within_s);
		else
			sim_say("REPLY", "%s %s incident %lld", t->responder,
				t->accept ? "accepts" : "declines", t->incident);
		/* A late accept may still count (when nobody else took the
		 * incident), so the responder turns up either way; the daemon
		 * rejects the visit steps of an accept it did not take. */
		if (t->accept) {
			next.kind = TIMER_ARRIVED;
			next.due = now_mono() + 5 + sim_uniform(s) * 15;
			next.incident = t->incident;
			str_copy(next.responder, t->responder, sizeof(next.responder));
			sim_timer_add(s, &next);
		}
		break;
	case TIMER_ARRIVED:
		sim_send_reply(s, t->responder, t->incident, "arrived", NULL);
		sim_say("ARRIVED", "%s at incident %lld", t->responder, t->incident);
		next.kind = TIMER_DONE;
		next.due = now_mono() + 5 + sim_uniform(s) * 25;
		next.incident = t->incident;
		next.false_alarm = sim_uniform(s) < 0.15;
		str_copy(next.responder, t->responder, sizeof(next.responder));
		sim_timer_add(s, &next);
		break;
	case TIMER_DONE: {
		const char *outcome =
		    t->false_alarm ? "false_alarm" : "emergency_handled";

		sim_send_reply(s, t->responder, t->incident, "done", outcome);
		sim_say("DONE", "%s closes incident %lld (%s)", t->responder, t->incident,
			outcome);
		break;
	}
	case TIMER_CLEAR:
		sim_send_event(s, t->device, t->type, true);
		break;
	}
}

/* Fires every due timer. Fired entries are taken out first, so a timer may
 * add its follow-up while the list is being walked. Lock held. */
static void
sim_timers_run(struct sim *s, double now)
{
	struct sim_timer due[SIM_FIRE_BATCH];
	size_t i = 0, n = 0, k;

	while (i < s->ntimers && n < SIM_FIRE_BATCH) {
		if (s->timers[i].due <= now) {
			due[n++] = s->timers[i];
			s->timers[i] = s->timers[--s->ntimers];
		} else {
			i++;
		}
	}
	for (k = 0; k < n; k++)
		sim_timer_fire(s, &due[k]);
}

/* True when this offer was already seen (a QoS 1 redelivery); else
 * remembers it. Lock held. */
static bool
sim_offer_seen(struct sim *s, long long incident, long long offer, const char *responder)
{
	struct sim_seen *e;
	size_t i;

	for (i = 0; i < SIM_SEEN_OFFERS; i++) {
		e = &s->seen[i];
		if (e->incident == incident && e->offer == offer &&
		    strcmp(e->responder, responder) == 0)
			return true;
	}
	e = &s->seen[s->seen_next];
	s->seen_next = (s->seen_next + 1) % SIM_SEEN_OFFERS;
	e->incident = incident;
	e->offer = offer;
	str_copy(e->responder, responder, sizeof(e->responder));
	return false;
}

/* Copies a short string member of o, escaped for printing, or "?". */
static const char *
sim_json_str(json_t *o, const char *key, char *buf, size_t len)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_string(v))
		return "?";
	return log_esc(buf, len, json_string_value(v), json_string_length(v));
}

/* Schedules a responder's answer to an offer. Lock held. */
static void
sim_schedule_answer(struct sim *s, const char *responder, long long incident,
		    double within)
{
	struct sim_timer t = {0};
	double delay;

	if (within > SIM_MAX_WAIT_S)
		within = SIM_MAX_WAIT_S;
	/* Mostly 0.5-5 s; one answer in ten comes after the deadline. */
	if (sim_uniform(s) < 0.1)
		delay = within + 1 + sim_uniform(s) * 4;
	else
		delay = 0.5 + sim_uniform(s) * 4.5;
	t.kind = TIMER_REPLY;
	t.due = now_mono() + delay;
	t.incident = incident;
	t.accept = sim_uniform(s) < 0.7;
	t.late = delay > within;
	t.within_s = within;
	t.delay_s = delay;
	str_copy(t.responder, responder, sizeof(t.responder));
	sim_timer_add(s, &t);
}

/* A message on {prefix}/dispatch/{responder}: an offer (it has "offer"), a
 * maintenance ticket ("ticket": true) or a notice to the elder's station
 * ("info"). Prints it, never the elder's personal data; only offers are
 * answered (a ticket is closed by an operator). Lock held. */
static void
sim_on_dispatch(struct sim *s, const char *topic, const void *payload, int len)
{
	char responder[SIM_ID_MAX + 1], type[40], elder[80], dist[32], idbuf[80],
	    info[80];
	const char *r = strrchr(topic, '/') + 1, *tp, *ep;
	json_t *o, *v, *e;
	json_error_t err;
	long long incident, offer = -1;
	double within = 60;
	bool escalated;

	if (!id_valid(r, strlen(r), SIM_ID_MAX)) {
		sim_say("OFFER", "to an unusable responder id %s, ignored",
			log_esc(idbuf, sizeof(idbuf), r, strlen(r)));
		return;
	}
	str_copy(responder, r, sizeof(responder));
	o = json_loadb(payload, (size_t)len, 0, &err);
	v = o ? json_object_get(o, "incident") : NULL;
	if (!json_is_object(o) || !json_is_integer(v)) {
		sim_say("OFFER", "to %s unreadable (%d bytes), ignored", responder, len);
		json_decref(o);
		return;
	}
	incident = json_integer_value(v);
	tp = sim_json_str(o, "type", type, sizeof(type));
	e = json_object_get(o, "elder");
	ep = json_is_object(e) ? sim_json_str(e, "id", elder, sizeof(elder)) : "?";
	escalated = json_is_true(json_object_get(o, "escalated"));
	if (json_is_true(json_object_get(o, "cancelled"))) {
		/* an answer already planned is sent anyway; the daemon refuses it */
		sim_say("CANCELLED", "incident %lld offer %lld to %s", incident,
			(long long)json_integer_value(json_object_get(o, "offer")),
			responder);
		json_decref(o);
		return;
	}
	v = json_object_get(o, "offer");
	if (json_is_integer(v)) {
		offer = json_integer_value(v);
		s->n_offers++;
		v = json_object_get(o, "respond_within_s");
		if (json_is_number(v) && json_number_value(v) > 0)
			within = json_number_value(v);
		v = json_object_get(o, "distance_m");
		if (json_is_number(v))
			snprintf(dist, sizeof(dist), "%.0f m", json_number_value(v));
		else
			snprintf(dist, sizeof(dist), "? m");
		sim_say("OFFER",
			"incident %lld (%s, elder %s) \xE2\x86\x92 %s (%s, answer within "
			"%.0f s)",
			incident, tp, ep, responder, dist, within);
		if (escalated)
			sim_say("ESCALATED", "incident %lld (offer %lld, to %s)",
				incident, offer, responder);
	} else if (json_is_true(json_object_get(o, "ticket"))) {
		sim_say("TICKET",
			"incident %lld (%s, device %s, elder %s) \xE2\x86\x92 %s",
			incident, tp, sim_json_str(o, "device", idbuf, sizeof(idbuf)), ep,
			responder);
		json_decref(o);
		return;
	} else {
		sim_say(escalated ? "ESCALATED" : "NOTICE",
			"incident %lld (%s, elder %s) \xE2\x86\x92 %s (%s)", incident, tp,
			ep, responder, sim_json_str(o, "info", info, sizeof(info)));
		json_decref(o);
		return;
	}
	json_decref(o);

	if (!sim_is_responder(s, responder)) {
		sim_say("OFFER", "%s is not one of the simulated responders, no answer",
			responder);
		return;
	}
	if (sim_offer_seen(s, incident, offer, responder)) {
		sim_say("OFFER",
			"incident %lld offer %lld to %s seen before, no second answer",
			incident, offer, responder);
		return;
	}
	sim_schedule_answer(s, responder, incident, within);
}

/* An acknowledgement on {prefix}/dev/{device}/ack. Lock held. */
static void
sim_on_ack(struct sim *s, const char *topic, const void *payload, int len)
{
	char dev[80], id[80];
	const char *p = topic + strlen(s->prefix) + strlen("/dev/");
	const char *end = strrchr(topic, '/');
	json_t *o, *inc;
	json_error_t err;

	s->n_acks++;
	log_esc(dev, sizeof(dev), p, end > p ? (size_t)(end - p) : 0);
	o = json_loadb(payload, (size_t)len, 0, &err);
	if (!json_is_object(o)) {
		sim_say("ACK", "%s unreadable (%d bytes)", dev, len);
		json_decref(o);
		return;
	}
	sim_json_str(o, "id", id, sizeof(id));
	inc = json_object_get(o, "incident");
	if (strncmp(id, "hb-", 3) == 0) { /* a quiet heartbeat's: not printed */
		json_decref(o);
		return;
	}
	if (json_is_integer(inc))
		sim_say("ACK", "%s %s (incident %lld)", dev, id,
			(long long)json_integer_value(inc));
	else
		sim_say("ACK", "%s %s", dev, id);
	json_decref(o);
}

/* A dead letter on {prefix}/deadletter: the reason and the topic only. */
static void
sim_on_deadletter(struct sim *s, const void *payload, int len)
{
	char reason[160], topic[160];
	json_t *o;
	json_error_t err;

	s->n_dead++;
	o = json_loadb(payload, (size_t)len, 0, &err);
	if (!json_is_object(o)) {
		sim_say("DEADLETTER", "unreadable (%d bytes)", len);
		json_decref(o);
		return;
	}
	sim_say("DEADLETTER", "%s (topic %s)",
		sim_json_str(o, "reason", reason, sizeof(reason)),
		sim_json_str(o, "topic", topic, sizeof(topic)));
	json_decref(o);
}

static void
sim_message_cb(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
	struct sim *s = arg;
	bool match = false;

	(void)m;
	pthread_mutex_lock(&s->lock);
	if (mosquitto_topic_matches_sub(s->sub_dispatch, msg->topic, &match) == 0 &&
	    match)
		sim_on_dispatch(s, msg->topic, msg->payload, msg->payloadlen);
	else if (mosquitto_topic_matches_sub(s->sub_ack, msg->topic, &match) == 0 &&
		 match)
		sim_on_ack(s, msg->topic, msg->payload, msg->payloadlen);
	else if (mosquitto_topic_matches_sub(s->sub_dead, msg->topic, &match) == 0 &&
		 match)
		sim_on_deadletter(s, msg->payload, msg->payloadlen);
	pthread_mutex_unlock(&s->lock);
}

static void
sim_connect_cb(struct mosquitto *m, void *arg, int rc)
{
	struct sim *s = arg;
	const char *subs[3] = {s->sub_dispatch, s->sub_ack, s->sub_dead};
	int i;

	pthread_mutex_lock(&s->lock);
	if (rc != 0) {
		sim_say("REFUSED", "by %s:%d: %s", s->host, s->port,
			mosquitto_connack_string(rc));
		pthread_mutex_unlock(&s->lock);
		return;
	}
	s->connected = true;
	sim_say("CONNECTED", "to %s:%d", s->host, s->port);
	for (i = 0; i < 3; i++)
		if ((rc = mosquitto_subscribe(m, NULL, subs[i], 1)) != MOSQ_ERR_SUCCESS)
			sim_say("ERROR", "subscribe %s: %s", subs[i],
				mosquitto_strerror(rc));
	pthread_mutex_unlock(&s->lock);
}

static void
sim_disconnect_cb(struct mosquitto *m, void *arg, int rc)
{
	struct sim *s = arg;

	(void)m;
	pthread_mutex_lock(&s->lock);
	s->connected = false;
	if (rc != 0)
		sim_say("DISCONNECT", "from %s:%d (%s), reconnecting", s->host, s->port,
			mosquitto_strerror(rc));
	pthread_mutex_unlock(&s->lock);
}

static void
sim_publish_cb(struct mosquitto *m, void *arg, int mid)
{
	struct sim *s = arg;

	(void)m;
	(void)mid;
	pthread_mutex_lock(&s->lock);
	s->n_puback++;
	pthread_mutex_unlock(&s->lock);
}

/* Sleeps up to seconds in short steps; true when the run should end (a
 * signal, or --duration reached). */
static bool
sim_pause(const struct sim *s, double start, double seconds)
{
	double until = now_mono() + seconds;

	while (!sim_stop && now_mono() < until) {
		struct timespec step = {0, SIM_STEP_NS};

		if (s->duration > 0 && now_mono() - start >= s->duration)
			return true;
		nanosleep(&step, NULL);
	}
	return sim_stop || (s->duration > 0 && now_mono() - start >= s->duration);
}

static void
sim_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: cw-sim --host H --port P --sample DIR [options]\n"
	    "Simulates the devices and responders of a sample county over MQTT.\n"
	    "  --host H        broker host (default 127.0.0.1)\n"
	    "  --port P        broker port (default 1883)\n"
	    "  --sample DIR    folder with devices.csv, stations.csv, volunteers.csv\n"
	    "                  (default sql/sample)\n"
	    "  --prefix T      topic prefix (default carewatch)\n"
	    "  --rate R        device events per second (default 0.5; 0 = only answer\n"
	    "                  offers)\n"
	    "  --seed N        random seed; event ids are sim-N-<counter>, so a "
	    "repeated\n"
	    "                  seed repeats ids, which the daemon treats as "
	    "redeliveries\n"
	    "                  (default: from the clock)\n"
	    "  --duration S    stop after S seconds (default: until SIGINT/SIGTERM)\n");
}

/* Parses the command line into s; exits on a usage error. */
static void
sim_options(struct sim *s, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"host", required_argument, NULL, 'H'},
	    {"port", required_argument, NULL, 'p'},
	    {"sample", required_argument, NULL, 's'},
	    {"prefix", required_argument, NULL, 'P'},
	    {"rate", required_argument, NULL, 'r'},
	    {"seed", required_argument, NULL, 'S'},
	    {"duration", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	bool seeded = false;
	int c;

	s->host = "127.0.0.1";
	s->port = 1883;
	s->sample = "sql/sample";
	s->prefix = "carewatch";
	s->rate = 0.5;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'H':
			s->host = optarg;
			break;
		case 'p':
			s->port = (int)opt_number("cw-sim", "port", optarg, 1, 65535);
			break;
		case 's':
			s->sample = optarg;
			break;
		case 'P':
			s->prefix = optarg;
			break;
		case 'r':
			s->rate = opt_number("cw-sim", "rate", optarg, 0, 10000);
			break;
		case 'S':
			s->seed = (uint64_t)opt_number("cw-sim", "seed", optarg, 0,
						       9007199254740991.0);
			seeded = true;
			break;
		case 'd':
			s->duration = opt_number("cw-sim", "duration", optarg, 0, 1e9);
			break;
		case 'h':
			sim_usage(stdout);
			exit(0);
		default:
			sim_usage(stderr);
			exit(2);
		}
	}
	if (optind != argc) {
		sim_usage(stderr);
		exit(2);
	}
	if (strlen(s->prefix) == 0 || strlen(s->prefix) > 64 ||
	    strpbrk(s->prefix, "+#") != NULL) {
		fprintf(stderr, "cw-sim: --prefix: 1..64 characters without + or #\n");
		exit(2);
	}
	if (!seeded) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		s->seed = ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000) %
			  1000000000;
	}
	/* xorshift must not start at zero */
	s->rng = (s->seed ^ 0x9E3779B97F4A7C15ULL) | 1;
}

int
main(int argc, char **argv)
{
	struct sim *s = xcalloc(1, sizeof(*s));
	struct sigaction sa;
	sigset_t block, old;
	size_t cap = 0, i;
	double start, next_ev, period, now, wait_until;
	char client_id[64];
	bool warned = false;
	int rc;

	log_init("cw-sim", 0);
	sim_options(s, argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (sim_load_devices(s) < 0)
		return 1;
	sim_load_responders(s, "stations.csv", &cap);
	sim_load_responders(s, "volunteers.csv", &cap);
	if (s->nresponders > 0)
		qsort(s->responders, s->nresponders, sizeof(char *), sim_strcmp_cb);
	snprintf(s->sub_dispatch, sizeof(s->sub_dispatch), "%s/dispatch/+", s->prefix);
	snprintf(s->sub_ack, sizeof(s->sub_ack), "%s/dev/+/ack", s->prefix);
	snprintf(s->sub_dead, sizeof(s->sub_dead), "%s/deadletter", s->prefix);
	pthread_mutex_init(&s->lock, NULL);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sim_signal_cb;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	mosquitto_lib_init();
	snprintf(client_id, sizeof(client_id), "cw-sim-%ld", (long)getpid());
	if ((s->mosq = mosquitto_new(client_id, true, s)) == NULL) {
		fprintf(stderr, "cw-sim: mosquitto_new failed\n");
		return 1;
	}
	mosquitto_connect_callback_set(s->mosq, sim_connect_cb);
	mosquitto_disconnect_callback_set(s->mosq, sim_disconnect_cb);
	mosquitto_message_callback_set(s->mosq, sim_message_cb);
	mosquitto_publish_callback_set(s->mosq, sim_publish_cb);
	mosquitto_reconnect_delay_set(s->mosq, 1, 30, true);

	printf("cw-sim: %zu devices, %zu responders, %.2f events/s, seed %" PRIu64
	       ", broker %s:%d\n",
	       s->ndevices, s->nresponders, s->rate, s->seed, s->host, s->port);
	/* libmosquitto reconnects by itself only after a first connection, so
	 * wait for the broker here. */
	start = now_mono();
	while ((rc = mosquitto_connect_async(s->mosq, s->host, s->port, 30)) !=
	       MOSQ_ERR_SUCCESS) {
		if (rc == MOSQ_ERR_INVAL || rc == MOSQ_ERR_EAI || rc == MOSQ_ERR_NOMEM) {
			fprintf(stderr, "cw-sim: cannot connect to %s:%d: %s\n", s->host,
				s->port, mosquitto_strerror(rc));
			return 1;
		}
		if (!warned)
			printf("cw-sim: broker %s:%d not reachable yet (%s), retrying\n",
			       s->host, s->port, mosquitto_strerror(rc));
		warned = true;
		if (sim_pause(s, start, 1.0))
			goto out;
	}

	/* The network thread must not take the signals: the main thread waits
	 * on them. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	rc = mosquitto_loop_start(s->mosq);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "cw-sim: cannot start the network thread: %s\n",
			mosquitto_strerror(rc));
		return 1;
	}

	period = s->rate > 0 ? 1.0 / s->rate : 0;
	next_ev = start + period;
	while (!sim_stop) {
		struct timespec step = {0, SIM_STEP_NS};
		int n = 0;

		now = now_mono();
		if (s->duration > 0 && now - start >= s->duration)
			break;
		pthread_mutex_lock(&s->lock);
		while (period > 0 && now >= next_ev && n++ < SIM_EVENTS_A_STEP) {
			if (s->connected)
				sim_send_event(
				    s, (size_t)(xorshift_next(&s->rng) % s->ndevices),
				    NULL, false);
			next_ev += period;
		}
		if (period > 0 && next_ev < now)
			next_ev =
			    now + period; /* fell behind (e.g. while disconnected) */
		if (s->connected)
			sim_heartbeats(s, now);
		sim_timers_run(s, now);
		pthread_mutex_unlock(&s->lock);
		nanosleep(&step, NULL);
	}

	/* Give unacknowledged publishes a moment, then leave cleanly. */
	wait_until = now_mono() + 2;
	for (;;) {
		struct timespec step = {0, SIM_STEP_NS};
		bool pending;

		pthread_mutex_lock(&s->lock);
		pending = s->connected && s->n_puback < s->n_published;
		pthread_mutex_unlock(&s->lock);
		if (!pending || now_mono() >= wait_until)
			break;
		nanosleep(&step, NULL);
	}
	mosquitto_disconnect(s->mosq);
	mosquitto_loop_stop(s->mosq, false);
out:
	pthread_mutex_lock(&s->lock);
	printf("cw-sim: %lu events (%lu alarms), %lu quiet heartbeats, %lu offers, "
	       "%lu replies, %lu acks, %lu dead letters, %lu actions dropped, "
	       "%zu pending\n",
	       s->n_events, s->n_alarms, s->n_heartbeats, s->n_offers, s->n_replies,
	       s->n_acks, s->n_dead, s->n_dropped, s->ntimers);
	pthread_mutex_unlock(&s->lock);
	mosquitto_destroy(s->mosq);
	mosquitto_lib_cleanup();
	pthread_mutex_destroy(&s->lock);
	for (i = 0; i < s->nresponders; i++)
		free(s->responders[i]);
	free(s->responders);
	free(s->devices);
	free(s);
	return 0;
}
