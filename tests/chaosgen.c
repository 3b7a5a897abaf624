/* chaosgen.c - the load side of tests/chaos.sh: publishes a known set of
 * device events at a steady rate (QoS 1, a persistent session, so a broker
 * restart loses nothing of its own), collects every event acknowledgement
 * the daemon sends, and answers offers as a responder would (accept, then
 * arrived, then done), so that responders come free again. It runs until
 * SIGTERM or the time is up, printing a line once every event has been
 * acknowledged, then writes what it saw and prints one summary line.
 *
 *   chaosgen HOST PORT PREFIX EVENTS RATE OUTDIR TIMEOUT_S
 *
 * EVENTS: one line per event, "DEVICE<TAB>PAYLOAD", the payload's "id"
 * unique. OUTDIR/acks: "DEVICE/ID" per acknowledgement received (repeats
 * kept); OUTDIR/offers: "RESPONDER INCIDENT OFFER" per offer message.
 * Exit 0 when every event was acknowledged, 1 otherwise. Two libmosquitto
 * clients, each with its own network thread; the main thread paces. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <mosquitto.h>

#define LINE_MAX_CG 1024
#define REPLIES_MAX 4096

struct ev {
	char *topic, *payload, *key; /* key: DEVICE/ID */
	bool acked;
	double sent_at; /* monotonic, the last time it was published */
	int tries;
};

/* A device that hears no acknowledgement sends the event again, as real
 * ones do: the daemon's ack message is published after the commit, from
 * memory, so a kill -9 in between loses it (the event itself is stored
 * and PUBACKed). The copy must be stored once and acknowledged. */
#define RETRY_AFTER_S 8.0
#define RETRIES_MAX   5

/* a reply to send later (arrived and done follow the accept) */
struct reply {
	double at;
	char topic[256], payload[256];
};

static struct {
	const char *prefix;
	struct ev *evs;
	size_t n, nacked, resent;
	struct reply replies[REPLIES_MAX];
	size_t nreplies;
	FILE *acks, *offers;
	pthread_mutex_t mu;
	struct mosquitto *pub, *sub;
	bool pub_up, sub_up;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER};

static volatile sig_atomic_t stop;

static void
on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
on_connect(struct mosquitto *m, void *arg, int rc)
{
	char topic[256];

	(void)arg;
	if (rc != 0)
		return;
	pthread_mutex_lock(&g.mu);
	if (m == g.sub) {
		snprintf(topic, sizeof(topic), "%s/dev/+/ack", g.prefix);
		mosquitto_subscribe(m, NULL, topic, 1);
		snprintf(topic, sizeof(topic), "%s/dispatch/+", g.prefix);
		mosquitto_subscribe(m, NULL, topic, 1);
		g.sub_up = true;
	} else {
		g.pub_up = true;
	}
	pthread_mutex_unlock(&g.mu);
}

static void
on_disconnect(struct mosquitto *m, void *arg, int rc)
{
	(void)arg;
	(void)rc;
	pthread_mutex_lock(&g.mu);
	if (m == g.sub)
		g.sub_up = false;
	else
		g.pub_up = false;
	pthread_mutex_unlock(&g.mu);
}

static struct ev *
find_ev(const char *key)
{
	size_t i;

	for (i = 0; i < g.n; i++)
		if (strcmp(g.evs[i].key, key) == 0)
			return &g.evs[i];
	return NULL;
}

static void
queue_reply(double at, const char *resp, long long inc, const char *action)
{
	struct reply *r;

	if (g.nreplies == REPLIES_MAX)
		return;
	r = &g.replies[g.nreplies++];
	r->at = at;
	snprintf(r->topic, sizeof(r->topic), "%s/resp/%s/reply", g.prefix, resp);
	if (strcmp(action, "done") == 0)
		snprintf(r->payload, sizeof(r->payload),
			 "{\"incident\":%lld,\"action\":\"done\",\"outcome\":\"emergency_"
			 "handled\"}",
			 inc);
	else
		snprintf(r->payload, sizeof(r->payload),
			 "{\"incident\":%lld,\"action\":\"%s\"}", inc, action);
}

static void
on_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
	size_t plen = strlen(g.prefix);
	const char *rest;
	char who[128];
	json_t *o;

	(void)m;
	(void)arg;
	if (strncmp(msg->topic, g.prefix, plen) != 0 || msg->topic[plen] != '/')
		return;
	rest = msg->topic + plen + 1;
	o = json_loadb(msg->payload, (size_t)msg->payloadlen, 0, NULL);
	if (o == NULL)
		return;
	pthread_mutex_lock(&g.mu);
	if (strncmp(rest, "dev/", 4) == 0 && sscanf(rest + 4, "%127[^/]", who) == 1) {
		const char *id = json_string_value(json_object_get(o, "id"));
		char key[256];
		struct ev *e;

		if (id != NULL) {
			snprintf(key, sizeof(key), "%s/%s", who, id);
			fprintf(g.acks, "%s\n", key);
			if ((e = find_ev(key)) != NULL && !e->acked) {
				e->acked = true;
				g.nacked++;
			}
		}
	} else if (strncmp(rest, "dispatch/", 9) == 0) {
		json_t *inc = json_object_get(o, "incident"),
		       *of = json_object_get(o, "offer");

		if (json_is_integer(inc) && json_is_integer(of) &&
		    json_object_get(o, "cancelled") == NULL) {
			double t = now();

			fprintf(g.offers, "%s %lld %lld\n", rest + 9,
				(long long)json_integer_value(inc),
				(long long)json_integer_value(of));
			/* stations too: a station's tablet answers like a volunteer */
			queue_reply(t, rest + 9, (long long)json_integer_value(inc),
				    "accept");
			queue_reply(t + 0.2, rest + 9, (long long)json_integer_value(inc),
				    "arrived");
			queue_reply(t + 0.4, rest + 9, (long long)json_integer_value(inc),
				    "done");
		}
	}
	pthread_mutex_unlock(&g.mu);
	json_decref(o);
}

static struct mosquitto *
client(const char *id, const char *host, int port)
{
	struct mosquitto *m = mosquitto_new(id, false, NULL);

	if (m == NULL)
		return NULL;
	mosquitto_connect_callback_set(m, on_connect);
	mosquitto_disconnect_callback_set(m, on_disconnect);
	mosquitto_message_callback_set(m, on_message);
	mosquitto_max_inflight_messages_set(m, 1000);
	mosquitto_reconnect_delay_set(m, 1, 2, false);
	mosquitto_connect_async(m, host, port, 10);
	mosquitto_loop_start(m);
	return m;
}

static int
load(const char *path)
{
	char line[LINE_MAX_CG], *tab;
	FILE *f = fopen(path, "r");
	size_t cap = 0;

	if (f == NULL) {
		fprintf(stderr, "chaosgen: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		json_t *o;
		const char *id;
		char buf[LINE_MAX_CG + 64];

		line[strcspn(line, "\r\n")] = '\0';
		if ((tab = strchr(line, '\t')) == NULL)
			continue;
		*tab = '\0';
		if ((o = json_loads(tab + 1, 0, NULL)) == NULL ||
		    (id = json_string_value(json_object_get(o, "id"))) == NULL) {
			fprintf(stderr, "chaosgen: a line without an id\n");
			json_decref(o);
			fclose(f);
			return -1;
		}
		if (g.n == cap) {
			cap = cap ? cap * 2 : 1024;
			g.evs = realloc(g.evs, cap * sizeof(*g.evs));
		}
		snprintf(buf, sizeof(buf), "%s/dev/%s/event", g.prefix, line);
		g.evs[g.n].topic = strdup(buf);
		g.evs[g.n].payload = strdup(tab + 1);
		snprintf(buf, sizeof(buf), "%s/%s", line, id);
		g.evs[g.n].key = strdup(buf);
		g.evs[g.n].acked = false;
		g.n++;
		json_decref(o);
	}
	fclose(f);
	return 0;
}

int
main(int argc, char **argv)
{
	char path[4096];
	double rate, deadline, t0, next;
	size_t sent = 0, i;
	bool said_done = false;
	int port, rc;

	if (argc != 8) {
		fprintf(
		    stderr,
		    "usage: chaosgen HOST PORT PREFIX EVENTS RATE OUTDIR TIMEOUT_S\n");
		return 2;
	}
	port = atoi(argv[2]);
	g.prefix = argv[3];
	rate = atof(argv[5]);
	if (load(argv[4]) < 0 || rate <= 0)
		return 2;
	snprintf(path, sizeof(path), "%s/acks", argv[6]);
	g.acks = fopen(path, "w");
	snprintf(path, sizeof(path), "%s/offers", argv[6]);
	g.offers = fopen(path, "w");
	if (g.acks == NULL || g.offers == NULL) {
		fprintf(stderr, "chaosgen: %s: %s\n", argv[6], strerror(errno));
		return 2;
	}
	setvbuf(g.acks, NULL, _IOLBF, 0);
	setvbuf(g.offers, NULL, _IOLBF, 0);
	signal(SIGTERM, on_term);
	mosquitto_lib_init();
	g.sub = client("chaosgen-sub", argv[1], port);
	g.pub = client("chaosgen-pub", argv[1], port);
	if (g.sub == NULL || g.pub == NULL)
		return 2;
	t0 = now();
	deadline = t0 + atof(argv[7]);
	next = t0;
	/* wait for the subscriptions before the first event */
	while (now() < deadline) {
		bool up;

		pthread_mutex_lock(&g.mu);
		up = g.sub_up && g.pub_up;
		pthread_mutex_unlock(&g.mu);
		if (up)
			break;
		usleep(20000);
	}
	while (now() < deadline) {
		double t = now();
		bool done, up;

		pthread_mutex_lock(&g.mu);
		up = g.pub_up;
		/* replies that are due */
		for (i = 0; i < g.nreplies;) {
			if (g.replies[i].at <= t && g.sub_up) {
				mosquitto_publish(g.sub, NULL, g.replies[i].topic,
						  (int)strlen(g.replies[i].payload),
						  g.replies[i].payload, 1, false);
				g.replies[i] = g.replies[--g.nreplies];
			} else {
				i++;
			}
		}
		done = sent == g.n && g.nacked == g.n;
		pthread_mutex_unlock(&g.mu);
		if (done && !said_done) {
			/* the script waits for this line, then for the incidents
			 * to close (the offers still need answers), then stops us */
			printf("chaosgen: all %zu events acknowledged after %.1f s\n",
			       g.n, now() - t0);
			fflush(stdout);
			said_done = true;
		}
		if (stop)
			break;
		/* the events, paced; while the broker is away they wait */
		while (up && sent < g.n && next <= t) {
			rc = mosquitto_publish(g.pub, NULL, g.evs[sent].topic,
					       (int)strlen(g.evs[sent].payload),
					       g.evs[sent].payload, 1, false);
			if (rc != MOSQ_ERR_SUCCESS)
				break;
			g.evs[sent].sent_at = t;
			sent++;
			next += 1.0 / rate;
		}
		/* the devices' retries */
		pthread_mutex_lock(&g.mu);
		for (i = 0; up && i < sent; i++) {
			struct ev *e = &g.evs[i];

			if (e->acked || e->tries >= RETRIES_MAX ||
			    t - e->sent_at < RETRY_AFTER_S)
				continue;
			if (mosquitto_publish(g.pub, NULL, e->topic,
					      (int)strlen(e->payload), e->payload, 1,
					      false) != MOSQ_ERR_SUCCESS)
				break;
			e->sent_at = t;
			e->tries++;
			g.resent++;
		}
		pthread_mutex_unlock(&g.mu);
		if (!up && next < t)
			next = t; /* no burst after the broker's return */
		usleep(5000);
	}
	pthread_mutex_lock(&g.mu);
	printf(
	    "chaosgen: %zu events, %zu published, %zu acknowledged in %.1f s; %zu sent "
	    "again by devices that heard no ack\n",
	    g.n, sent, g.nacked, now() - t0, g.resent);
	for (i = 0, rc = 0; i < g.n && rc < 10; i++) {
		if (!g.evs[i].acked) {
			printf("  not acknowledged: %s\n", g.evs[i].key);
			rc++;
		}
	}
	rc = g.nacked == g.n ? 0 : 1;
	pthread_mutex_unlock(&g.mu);
	mosquitto_loop_stop(g.pub, true);
	mosquitto_loop_stop(g.sub, true);
	fclose(g.acks);
	fclose(g.offers);
	return rc;
}
