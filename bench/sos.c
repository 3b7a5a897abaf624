/* sos.c - cw-sos: publish-to-offer latency of an SOS under background load,
 * for make bench (SPEC section 9).
 *
 * One client publishes heartbeats of the devices in a devices CSV at a
 * steady rate (QoS 1, {prefix}/dev/{id}/event) and, spaced out among them,
 * SOS events from sos_button devices of as many different elders. Another
 * client, subscribed to {prefix}/dispatch/# before anything is sent, notes
 * when the first offer naming each SOS (its "alarm" field) arrives. Both
 * times come from this process's monotonic clock. The ceiling: a third
 * client subscribed to the device events notes when the broker alone
 * delivered each SOS, under the same load.
 *
 * Prints RESULT lines: latency p50, p99 and max in ms, offers missing, and
 * the background rate achieved. Every wait is bounded. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>

#include "util.h"

#define SOS_ID_MAX    64
#define SOS_DEV_MAX   1000000
#define SOS_CONNECT_S 10.0

struct sos_dev {
	char id[SOS_ID_MAX + 1];
	char elder[SOS_ID_MAX + 1];
	bool button;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static double *t_pub, *t_offer, *t_echo;
static size_t nsos, offered, echoed, foreign, subacks;
static char runid[17];
static bool pub_up;
static unsigned long acked;

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
sleep_until(double t)
{
	double d = t - mono();
	struct timespec ts;

	if (d <= 0)
		return;
	ts.tv_sec = (time_t)d;
	ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void
sub_connect_cb(struct mosquitto *m, void *arg, int rc)
{
	if (rc == 0)
		mosquitto_subscribe(m, NULL, (const char *)arg, 1);
}

static void
sub_subscribe_cb(struct mosquitto *m, void *arg, int mid, int n, const int *q)
{
	(void)m;
	(void)arg;
	(void)mid;
	pthread_mutex_lock(&lock);
	if (n > 0 && q[0] <= 2)
		subacks++;
	pthread_mutex_unlock(&lock);
}

/* An offer: finds "alarm": "sos-RUN-N" and notes when N was first
 * offered; an SOS event itself ("id": "sos-RUN-N"): when the broker
 * delivered it. */
static void
sub_message_cb(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
	double now = mono();
	char want[40], buf[4096];
	const char *p;
	size_t len, wl;
	unsigned long n;
	char *end;
	bool echo;

	(void)m;
	(void)arg;
	len = (size_t)msg->payloadlen < sizeof(buf) - 1 ? (size_t)msg->payloadlen
							: sizeof(buf) - 1;
	memcpy(buf, msg->payload, len);
	buf[len] = '\0';
	snprintf(want, sizeof(want), "sos-%s-", runid);
	wl = strlen(want);
	echo = strstr(msg->topic, "/dispatch/") == NULL;
	p = strstr(buf, echo ? "\"id\"" : "\"alarm\"");
	if (p) {
		p += echo ? 4 : 7;
		while (*p == ' ' || *p == ':' || *p == '"')
			p++;
	}
	pthread_mutex_lock(&lock);
	if (p == NULL || strncmp(p, want, wl) != 0) {
		foreign += !echo;
	} else if (echo) {
		n = strtoul(p + wl, &end, 10);
		if (*end == '"' && n < nsos && t_echo[n] == 0) {
			t_echo[n] = now;
			echoed++;
		}
	} else {
		n = strtoul(p + wl, &end, 10);
		if (*end == '"' && n < nsos && t_offer[n] == 0) {
			t_offer[n] = now;
			offered++;
		}
	}
	pthread_mutex_unlock(&lock);
}

static void
pub_connect_cb(struct mosquitto *m, void *arg, int rc)
{
	(void)m;
	(void)arg;
	pthread_mutex_lock(&lock);
	pub_up = rc == 0;
	pthread_mutex_unlock(&lock);
}

static void
pub_publish_cb(struct mosquitto *m, void *arg, int mid)
{
	(void)m;
	(void)arg;
	(void)mid;
	pthread_mutex_lock(&lock);
	acked++;
	pthread_mutex_unlock(&lock);
}

/* Reads id,kind,elder_id,... (a header line first); no quoted fields. */
static struct sos_dev *
read_devices(const char *path, size_t *n)
{
	FILE *f = fopen(path, "r");
	struct sos_dev *v = NULL;
	size_t cap = 0, line = 0;
	char buf[1024];

	*n = 0;
	if (f == NULL) {
		fprintf(stderr, "cw-sos: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	while (fgets(buf, sizeof(buf), f) && *n < SOS_DEV_MAX) {
		char *id, *kind, *elder, *save = NULL;

		if (line++ == 0)
			continue;
		id = strtok_r(buf, ",\r\n", &save);
		kind = strtok_r(NULL, ",\r\n", &save);
		elder = strtok_r(NULL, ",\r\n", &save);
		if (!id || !kind || !elder || strlen(id) > SOS_ID_MAX ||
		    strlen(elder) > SOS_ID_MAX) {
			fprintf(stderr, "cw-sos: %s:%zu: not id,kind,elder_id,...\n",
				path, line);
			exit(1);
		}
		if (*n == cap) {
			cap = cap ? cap * 2 : 1024;
			v = xrealloc(v, cap * sizeof(*v));
		}
		str_copy(v[*n].id, id, sizeof(v[*n].id));
		str_copy(v[*n].elder, elder, sizeof(v[*n].elder));
		v[*n].button = strcmp(kind, "sos_button") == 0;
		(*n)++;
	}
	fclose(f);
	return v;
}

static int
dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static struct mosquitto *
client(const char *role)
{
	char cid[64];
	struct mosquitto *m;

	snprintf(cid, sizeof(cid), "cw-sos-%s-%s", role, runid);
	m = mosquitto_new(cid, true, NULL);
	if (m == NULL) {
		fprintf(stderr, "cw-sos: mosquitto_new failed\n");
		exit(1);
	}
	mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
	mosquitto_max_inflight_messages_set(m, 2000);
	return m;
}

static void
client_start(struct mosquitto *m, const char *host, int port)
{
	if (mosquitto_connect(m, host, port, 30) != MOSQ_ERR_SUCCESS ||
	    mosquitto_loop_start(m) != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "cw-sos: cannot connect to %s:%d\n", host, port);
		exit(1);
	}
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: cw-sos --port PORT --devices CSV [--host H] [--prefix P] "
		   "[--rate EV_PER_S] [--sos N] [--interval S] [--wait S]\n");
}

int
main(int argc, char **argv)
{
	const char *host = "127.0.0.1", *devpath = NULL, *prefix = "carewatch";
	double rate = 1000, interval = 0.1, wait_s = 10, t0, t_end, next_hb, *lat;
	unsigned long nhb = 0, pending;
	size_t ndev, i, j, k, nsend, *sosdev;
	struct mosquitto *pub, *sub, *echo;
	struct sos_dev *dev;
	char topic[320], payload[256], subtopic[320], echotopic[320];
	int port = 0, c, rc = 0;
	static const struct option opts[] = {{"host", required_argument, NULL, 'H'},
					     {"port", required_argument, NULL, 'p'},
					     {"devices", required_argument, NULL, 'd'},
					     {"prefix", required_argument, NULL, 'P'},
					     {"rate", required_argument, NULL, 'r'},
					     {"sos", required_argument, NULL, 's'},
					     {"interval", required_argument, NULL, 'i'},
					     {"wait", required_argument, NULL, 'w'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};

	nsos = 200;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'H':
			host = optarg;
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 'd':
			devpath = optarg;
			break;
		case 'P':
			prefix = optarg;
			break;
		case 'r':
			rate = atof(optarg);
			break;
		case 's':
			nsos = (size_t)atol(optarg);
			break;
		case 'i':
			interval = atof(optarg);
			break;
		case 'w':
			wait_s = atof(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (port <= 0 || port > 65535 || devpath == NULL ||
	    !(rate >= 0 && rate <= 100000) || nsos < 1 || nsos > 100000 ||
	    !(interval > 0 && interval <= 60) || !(wait_s > 0 && wait_s <= 600)) {
		usage(stderr);
		return 2;
	}
	snprintf(runid, sizeof(runid), "%08lx",
		 (unsigned long)(mono() * 1e6) & 0xffffffffUL);
	dev = read_devices(devpath, &ndev);
	if (ndev == 0) {
		fprintf(stderr, "cw-sos: %s lists no device\n", devpath);
		return 1;
	}
	/* SOS buttons of distinct elders, spread over the list */
	sosdev = xcalloc(nsos, sizeof(*sosdev));
	for (i = 0, j = 0; i < ndev && j < nsos; i++) {
		size_t pick = (i * 7919) % ndev, m;
		bool dup = false;

		if (!dev[pick].button)
			continue;
		for (m = 0; m < j && !dup; m++)
			dup = strcmp(dev[sosdev[m]].elder, dev[pick].elder) == 0;
		if (!dup)
			sosdev[j++] = pick;
	}
	if (j < nsos) {
		fprintf(stderr, "cw-sos: only %zu elders with an sos_button in %s\n", j,
			devpath);
		return 1;
	}
	t_pub = xcalloc(nsos, sizeof(*t_pub));
	t_offer = xcalloc(nsos, sizeof(*t_offer));
	t_echo = xcalloc(nsos, sizeof(*t_echo));

	mosquitto_lib_init();
	snprintf(subtopic, sizeof(subtopic), "%s/dispatch/#", prefix);
	sub = client("sub");
	mosquitto_connect_callback_set(sub, sub_connect_cb);
	mosquitto_user_data_set(sub, subtopic);
	mosquitto_subscribe_callback_set(sub, sub_subscribe_cb);
	mosquitto_message_callback_set(sub, sub_message_cb);
	client_start(sub, host, port);
	snprintf(echotopic, sizeof(echotopic), "%s/dev/+/event", prefix);
	echo = client("echo");
	mosquitto_connect_callback_set(echo, sub_connect_cb);
	mosquitto_user_data_set(echo, echotopic);
	mosquitto_subscribe_callback_set(echo, sub_subscribe_cb);
	mosquitto_message_callback_set(echo, sub_message_cb);
	client_start(echo, host, port);
	pub = client("pub");
	mosquitto_connect_callback_set(pub, pub_connect_cb);
	mosquitto_publish_callback_set(pub, pub_publish_cb);
	client_start(pub, host, port);
	t0 = mono();
	for (;;) {
		bool ready;

		pthread_mutex_lock(&lock);
		ready = subacks == 2 && pub_up;
		pthread_mutex_unlock(&lock);
		if (ready)
			break;
		if (mono() - t0 > SOS_CONNECT_S) {
			fprintf(stderr, "cw-sos: no subscription after %.0f s\n",
				SOS_CONNECT_S);
			return 1;
		}
		sleep_until(mono() + 0.01);
	}

	/* 1 s of background alone, then an SOS every interval among it */
	t0 = mono() + 0.05;
	t_end = t0 + 1.0 + (double)nsos * interval;
	next_hb = t0;
	nsend = 0;
	while (nsend < nsos || (rate > 0 && next_hb < t_end)) {
		double t_sos = t0 + 1.0 + (double)nsend * interval;
		bool do_sos = nsend < nsos && (rate <= 0 || t_sos <= next_hb);
		double t = do_sos ? t_sos : next_hb;
		int mrc;

		sleep_until(t);
		if (do_sos) {
			const struct sos_dev *d = &dev[sosdev[nsend]];

			snprintf(topic, sizeof(topic), "%s/dev/%s/event", prefix, d->id);
			snprintf(payload, sizeof(payload),
				 "{\"id\":\"sos-%s-%zu\",\"type\":\"sos\"}", runid,
				 nsend);
			t_pub[nsend] = mono();
			mrc = mosquitto_publish(pub, NULL, topic, (int)strlen(payload),
						payload, 1, false);
			nsend++;
		} else {
			const struct sos_dev *d = &dev[nhb % ndev];

			snprintf(topic, sizeof(topic), "%s/dev/%s/event", prefix, d->id);
			snprintf(payload, sizeof(payload),
				 "{\"id\":\"hb-%s-%lu\",\"type\":\"heartbeat\","
				 "\"battery\":90}",
				 runid, nhb);
			mrc = mosquitto_publish(pub, NULL, topic, (int)strlen(payload),
						payload, 1, false);
			nhb++;
			next_hb = t0 + (double)nhb / rate;
		}
		if (mrc != MOSQ_ERR_SUCCESS) {
			fprintf(stderr, "cw-sos: publish failed: %s\n",
				mosquitto_strerror(mrc));
			return 1;
		}
	}
	t_end = mono();
	/* the offers of the last SOS, and the broker's acknowledgements */
	for (;;) {
		size_t got;

		pthread_mutex_lock(&lock);
		got = offered;
		pending = nhb + nsos - acked;
		pthread_mutex_unlock(&lock);
		if ((got == nsos && pending == 0) || mono() - t_end > wait_s)
			break;
		sleep_until(mono() + 0.01);
	}
	mosquitto_disconnect(pub);
	mosquitto_disconnect(sub);
	mosquitto_disconnect(echo);
	mosquitto_loop_stop(pub, false);
	mosquitto_loop_stop(sub, false);
	mosquitto_loop_stop(echo, false);

	lat = xcalloc(nsos, sizeof(*lat));
	pthread_mutex_lock(&lock);
	for (i = 0, j = 0; i < nsos; i++)
		if (t_offer[i] > 0)
			lat[j++] = (t_offer[i] - t_pub[i]) * 1e3;
	pthread_mutex_unlock(&lock);
	/* the slow ones, with when they were sent: a stall shows as a run */
	for (i = 0, k = 0; i < nsos; i++)
		if (t_offer[i] > 0 && (t_offer[i] - t_pub[i]) * 1e3 > 50)
			k++;
	if (k) {
		printf("over 50 ms: %zu, sent at (s into the run) / latency (ms):", k);
		for (i = 0; i < nsos; i++)
			if (t_offer[i] > 0 && (t_offer[i] - t_pub[i]) * 1e3 > 50)
				printf(" %.1f/%.0f", t_pub[i] - t0,
				       (t_offer[i] - t_pub[i]) * 1e3);
		printf("\n");
	}
	qsort(lat, j, sizeof(*lat), dbl_cmp);
	printf("sos=%zu offered=%zu background=%lu heartbeats in %.1f s (%.0f ev/s), "
	       "unacknowledged %lu, other offers %zu\n",
	       nsos, j, nhb, t_end - t0, (double)nhb / (t_end - t0), pending, foreign);
	if (j == 0) {
		fprintf(stderr, "cw-sos: no SOS was offered\n");
		rc = 1;
	} else {
		size_t k50 = (size_t)ceil(0.5 * (double)j),
		       k99 = (size_t)ceil(0.99 * (double)j);

		printf("publish to offer: min %.2f ms, p50 %.2f ms, p99 %.2f ms, max "
		       "%.2f ms\n",
		       lat[0], lat[k50 - 1], lat[k99 - 1], lat[j - 1]);
		printf("RESULT sos_p50_ms=%.3f\nRESULT sos_p99_ms=%.3f\nRESULT "
		       "sos_max_ms=%.3f\n",
		       lat[k50 - 1], lat[k99 - 1], lat[j - 1]);
	}
	/* the ceiling: the broker alone, same SOS, same load */
	for (i = 0, k = 0; i < nsos; i++)
		if (t_echo[i] > 0)
			lat[k++] = (t_echo[i] - t_pub[i]) * 1e3;
	if (k) {
		qsort(lat, k, sizeof(*lat), dbl_cmp);
		printf("broker alone (ceiling): %zu SOS delivered, p50 %.2f ms, p99 %.2f "
		       "ms, "
		       "max %.2f ms\n",
		       k, lat[(size_t)ceil(0.5 * (double)k) - 1],
		       lat[(size_t)ceil(0.99 * (double)k) - 1], lat[k - 1]);
		printf("RESULT echo_p50_ms=%.3f\nRESULT echo_p99_ms=%.3f\n",
		       lat[(size_t)ceil(0.5 * (double)k) - 1],
		       lat[(size_t)ceil(0.99 * (double)k) - 1]);
	}
	printf("RESULT sos_missing=%zu\nRESULT sos_background_rate=%.1f\n", nsos - j,
	       (double)nhb / (t_end - t0));
	mosquitto_destroy(pub);
	mosquitto_destroy(sub);
	mosquitto_destroy(echo);
	mosquitto_lib_cleanup();
	free(lat);
	free(t_pub);
	free(t_offer);
	free(t_echo);
	free(sosdev);
	free(dev);
	return rc;
}
