/* positions.c - cw-positions: OwnTracks phones for the position bench.
 *
 *   cw-positions --host H --port P --users N --interval S --seconds D
 *
 * Publishes, at QoS 1, one _type=location message per user every S seconds
 * (spread evenly: N / S messages a second) to owntracks/ot-{i}/phone, for D
 * seconds, with the fields the OwnTracks apps send and tst = now. Waits for
 * every PUBACK, then prints how many it sent and over how long. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>

static volatile int acked;

static void
on_publish_cb(struct mosquitto *m, void *arg, int mid)
{
	(void)m;
	(void)arg;
	(void)mid;
	__atomic_add_fetch(&acked, 1, __ATOMIC_RELAXED);
}

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
	nanosleep(&ts, NULL);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"host", required_argument, NULL, 'H'},
	    {"port", required_argument, NULL, 'p'},
	    {"users", required_argument, NULL, 'u'},
	    {"interval", required_argument, NULL, 'i'},
	    {"seconds", required_argument, NULL, 's'},
	    {NULL, 0, NULL, 0},
	};
	const char *host = "127.0.0.1";
	int port = 1883, users = 10000, c, sent = 0;
	double interval = 30, seconds = 60, t0, rate;
	struct mosquitto *m;
	char topic[64], payload[512];

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'H':
			host = optarg;
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 'u':
			users = atoi(optarg);
			break;
		case 'i':
			interval = atof(optarg);
			break;
		case 's':
			seconds = atof(optarg);
			break;
		default:
			fprintf(stderr, "usage: cw-positions --host H --port P --users N "
					"--interval S --seconds D\n");
			return 2;
		}
	}
	if (users < 1 || interval <= 0 || seconds <= 0)
		return 2;
	rate = users / interval;
	mosquitto_lib_init();
	m = mosquitto_new(NULL, true, NULL);
	if (m == NULL)
		return 1;
	mosquitto_int_option(m, MOSQ_OPT_SEND_MAXIMUM, 1000);
	mosquitto_publish_callback_set(m, on_publish_cb);
	if (mosquitto_connect(m, host, port, 30) != MOSQ_ERR_SUCCESS ||
	    mosquitto_loop_start(m) != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "cw-positions: cannot connect to %s:%d\n", host, port);
		return 1;
	}
	t0 = mono();
	while (sent < (int)(rate * seconds)) {
		int u = sent % users;
		double lat = 36.2 + (double)((u * 7919 + sent) % 6000) / 10000.0;
		double lon = 113.1 + (double)((u * 104729 + sent) % 6000) / 10000.0;
		long tst = (long)time(NULL);

		sleep_until(t0 + sent / rate);
		snprintf(topic, sizeof(topic), "owntracks/ot-%d/phone", u);
		snprintf(payload, sizeof(payload),
			 "{\"_type\":\"location\",\"acc\":12,\"alt\":915,\"batt\":78,"
			 "\"bs\":1,\"conn\":\"m\",\"created_at\":%ld,\"lat\":%.6f,"
			 "\"lon\":%.6f,\"m\":1,\"t\":\"p\",\"tid\":\"ot\",\"tst\":%ld,"
			 "\"vac\":3,\"vel\":0}",
			 tst, lat, lon, tst);
		if (mosquitto_publish(m, NULL, topic, (int)strlen(payload), payload, 1,
				      false) != MOSQ_ERR_SUCCESS) {
			fprintf(stderr, "cw-positions: publish failed\n");
			return 1;
		}
		sent++;
	}
	while (__atomic_load_n(&acked, __ATOMIC_RELAXED) < sent &&
	       mono() < t0 + seconds + 60)
		sleep_until(mono() + 0.01);
	printf("sent=%d acked=%d seconds=%.2f rate=%.1f\n", sent, acked, mono() - t0,
	       rate);
	mosquitto_disconnect(m);
	mosquitto_loop_stop(m, false);
	mosquitto_destroy(m);
	mosquitto_lib_cleanup();
	return acked == sent ? 0 : 1;
}
