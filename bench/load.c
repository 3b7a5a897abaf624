/* load.c - cw-load: throughput figures for make bench
 *
 *   echo:   the broker alone. One client publishes N QoS 1 messages shaped
 *           like device events, another with a persistent QoS 1 subscription
 *           receives them; the rate is N over first publish to last receipt.
 *   ingest: the whole pipeline. N QoS 1 device events go to
 *           {prefix}/dev/{id}/event; a running carewatchd stores them; the
 *           rate is N over first publish to the moment PostgreSQL holds all.
 *           With --rate R the events are paced at R a second instead, each
 *           device in turn (a province's heartbeats: every device once per
 *           ndevices / R seconds).
 *   --cpu NAME=PID reports the CPU the process PID and its children used,
 *           from the first publish to the last receipt (echo) or to all
 *           stored (ingest), as a share of one core and in microseconds a
 *           message.
 *
 * Both clients run in this one thread over poll(), so the figures measure the
 * broker (and the daemon), not our own locking. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <mosquitto.h>

#include "csv.h"
#include "log.h"
#include "util.h"

#define LOAD_ID_MAX	  64
#define LOAD_TOPIC_MAX	  320
#define LOAD_PAYLOAD_MAX  4096
#define LOAD_MAX_COUNT	  10000000UL
#define LOAD_MAX_DEVICES  1000000
#define LOAD_WINDOW	  1000 /* QoS 1 messages in flight */
#define LOAD_TIMEOUT_S	  300.0
#define LOAD_STALL_S	  30.0 /* no progress this long: give up early */
#define LOAD_DRAIN_S	  5.0  /* echo: all acknowledged, nothing arrives */
#define LOAD_CONNECT_S	  10.0
#define LOAD_DB_POLL_NS	  50000000L /* 50 ms between count queries */
#define LOAD_PROBE_NS	  10000000L /* 10 ms between looks for the last event */
#define LOAD_PROGRESS_S	  5.0
#define LOAD_ALARM_SHARE  0.05
#define LOAD_ECHO_DEVICES 1000
#define LOAD_TZ_OFFSET	  (8 * 3600)
#define LOAD_CPU_MAX	  8

struct load_device {
	char id[LOAD_ID_MAX + 1];
	const char *alarm; /* the alarm type of its kind, or NULL */
};

struct load {
	/* options */
	bool ingest;
	const char *host;
	int port;
	unsigned long count;
	int payload_bytes;
	const char *conninfo;
	const char *devices_arg;
	const char *prefix;
	int window;
	double timeout;
	double rate;	    /* events a second; 0: as fast as the window allows */
	double alarm_share; /* of the events of devices that can raise one */
	struct {
		const char *name;
		int pid;
		double start; /* CPU seconds when publishing began */
	} cpu[LOAD_CPU_MAX];
	int ncpu;
	char runid[17];

	struct load_device *devices;
	size_t ndevices;
	char id_prefix[40]; /* "load-<runid>-" */
	size_t id_prefix_len;
	char sub_topic[LOAD_TOPIC_MAX];
	char last_dev[LOAD_ID_MAX + 1]; /* the device of the last message */
	uint64_t rng;

	struct mosquitto *pub, *sub;
	bool pub_up, sub_up, sub_ready, lost;
	int sub_mid;
	unsigned long sent, acked, received, dups, foreign;
	unsigned char *seen; /* echo: one bit per message number */
	double t_first, t_last_rx;
	size_t payload_total;
};

/* Formats the current time as RFC 3339 with milliseconds on +08:00. */
static void
load_ts_now(char *buf, size_t len)
{
	struct timespec now;
	struct tm tm;
	time_t secs;

	clock_gettime(CLOCK_REALTIME, &now);
	secs = now.tv_sec + LOAD_TZ_OFFSET;
	gmtime_r(&secs, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ld+08:00", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 now.tv_nsec / 1000000);
}

/* The alarm type a device kind raises, or NULL (unknown kind, hub). */
static const char *
load_alarm_type(const char *kind)
{
	static const char *const map[][2] = {
	    {"sos_button", "sos"}, {"smoke", "smoke"},		 {"gas", "gas"},
	    {"co", "co"},	   {"water_leak", "water_leak"}, {"fall_radar", "fall"},
	    {"door", "door"},	   {"motion", "motion"},	 {"wearable", "sos"},
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(kind, map[i][0]) == 0)
			return map[i][1];
	return NULL;
}

/* Appends one device; ids that could not be a topic level are skipped. */
static void
load_add_device(struct load *l, const char *id, const char *alarm, size_t *cap)
{
	if (!id_valid(id, strlen(id), LOAD_ID_MAX) || l->ndevices >= LOAD_MAX_DEVICES)
		return;
	if (l->ndevices == *cap) {
		*cap = *cap ? *cap * 2 : 1024;
		l->devices = xrealloc(l->devices, *cap * sizeof(*l->devices));
	}
	str_copy(l->devices[l->ndevices].id, id, sizeof(l->devices[0].id));
	l->devices[l->ndevices].alarm = alarm;
	l->ndevices++;
}

/* Adds the devices of a devices.csv (an id column, a kind column if any).
 * Returns 0 or -1 with a message. */
static int
load_read_devices_csv(struct load *l, size_t *cap)
{
	const char *path = l->devices_arg;
	char err[CSV_ERR_MAX], *text;
	struct csv_reader r;
	int n, cid, ckind, rc = -1;
	size_t len;

	if ((text = csv_read_file(path, &len, err, sizeof(err))) == NULL) {
		fprintf(stderr, "cw-load: %s: %s\n", path, err);
		return -1;
	}
	if (csv_open(&r, text, len) < 0) {
		fprintf(stderr, "cw-load: %s:%d: %s\n", path, r.err_line, r.err);
		free(text);
		return -1;
	}
	n = csv_next(&r);
	cid = n > 0 ? csv_column(&r, "id") : -1;
	ckind = n > 0 ? csv_column(&r, "kind") : -1;
	if (n < 0) {
		fprintf(stderr, "cw-load: %s:%d: %s\n", path, r.err_line, r.err);
		goto out;
	}
	if (cid < 0) {
		fprintf(stderr, "cw-load: %s: no id column\n", path);
		goto out;
	}
	while ((n = csv_next(&r)) == 1) {
		if (r.nfields <= cid)
			continue;
		load_add_device(l, r.fields[cid],
				ckind >= 0 && r.nfields > ckind
				    ? load_alarm_type(r.fields[ckind])
				    : "sos",
				cap);
	}
	if (n < 0) {
		fprintf(stderr, "cw-load: %s:%d: %s\n", path, r.err_line, r.err);
		goto out;
	}
	rc = 0;
out:
	csv_close(&r);
	free(text);
	return rc;
}

/* Fills l->devices from --devices: a devices.csv (id, kind columns) or a
 * comma-separated list of ids. Returns 0 or -1 with a message. */
static int
load_read_devices(struct load *l)
{
	struct stat st;
	size_t cap = 0;

	if (stat(l->devices_arg, &st) == 0 && S_ISREG(st.st_mode)) {
		if (load_read_devices_csv(l, &cap) < 0)
			return -1;
	} else {
		char *list = xstrdup(l->devices_arg), *save = NULL, *tok;

		for (tok = strtok_r(list, ", ", &save); tok != NULL;
		     tok = strtok_r(NULL, ", ", &save))
			load_add_device(l, tok, "sos", &cap);
		free(list);
	}
	if (l->ndevices == 0) {
		fprintf(stderr, "cw-load: --devices %s: no usable device ids\n",
			l->devices_arg);
		return -1;
	}
	return 0;
}

/* Builds message number n: topic and payload (returns its length). Echo
 * messages look like events but go to a topic of their own, so that a
 * daemon's persistent session never receives them. */
static int
load_message(struct load *l, unsigned long n, char *topic, size_t tlen, char *payload,
	     size_t plen)
{
	char ts[64];
	const struct load_device *d =
	    &l->devices[l->rate > 0 ? n % l->ndevices
				    : xorshift_next(&l->rng) % l->ndevices];
	const char *type = "heartbeat";
	int len, pad;

	if (d->alarm != NULL &&
	    (double)(xorshift_next(&l->rng) >> 11) / 9007199254740992.0 < l->alarm_share)
		type = d->alarm;
	if (n + 1 == l->count)
		str_copy(l->last_dev, d->id, sizeof(l->last_dev));
	if (l->ingest)
		snprintf(topic, tlen, "%s/dev/%s/event", l->prefix, d->id);
	else
		snprintf(topic, tlen, "cw-load/%s/dev/%s/event", l->runid, d->id);
	load_ts_now(ts, sizeof(ts));
	len = snprintf(
	    payload, plen,
	    "{\"id\":\"%s%lu\",\"type\":\"%s\",\"ts\":\"%s\",\"state\":\"alarm\","
	    "\"battery\":%d,\"data\":{",
	    l->id_prefix, n, type, ts, 20 + (int)(xorshift_next(&l->rng) % 80));
	pad = l->payload_bytes - len - (int)strlen("\"pad\":\"\"}}");
	if (pad > 0 && len + pad + 16 < (int)plen) {
		len += snprintf(payload + len, plen - (size_t)len, "\"pad\":\"");
		memset(payload + len, 'x', (size_t)pad);
		len += pad;
		len += snprintf(payload + len, plen - (size_t)len, "\"}}");
	} else {
		len += snprintf(payload + len, plen - (size_t)len, "}}");
	}
	return len;
}

static void
load_connect_cb(struct mosquitto *m, void *arg, int rc)
{
	struct load *l = arg;

	if (rc != 0) {
		fprintf(stderr, "cw-load: broker refused %s: %s\n",
			m == l->sub ? "the subscriber" : "the publisher",
			mosquitto_connack_string(rc));
		l->lost = true;
		return;
	}
	if (m == l->sub)
		l->sub_up = true;
	else
		l->pub_up = true;
}

static void
load_disconnect_cb(struct mosquitto *m, void *arg, int rc)
{
	struct load *l = arg;

	if (rc != 0) {
		fprintf(stderr, "cw-load: %s lost its connection: %s\n",
			m == l->sub ? "the subscriber" : "the publisher",
			mosquitto_strerror(rc));
		l->lost = true;
	}
}

static void
load_publish_cb(struct mosquitto *m, void *arg, int mid)
{
	struct load *l = arg;

	(void)m;
	(void)mid;
	l->acked++;
}

static void
load_subscribe_cb(struct mosquitto *m, void *arg, int mid, int qos_count,
		  const int *granted_qos)
{
	struct load *l = arg;

	(void)m;
	if (mid != l->sub_mid)
		return;
	if (qos_count < 1 || granted_qos[0] != 1) {
		fprintf(stderr,
			"cw-load: the broker did not grant a QoS 1 subscription\n");
		l->lost = true;
		return;
	}
	l->sub_ready = true;
}

/* Echo subscriber: counts each message number once. */
static void
load_message_cb(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
	struct load *l = arg;
	const char *p = msg->payload;
	size_t skip = strlen("{\"id\":\"");
	unsigned long n = 0;
	size_t i;

	(void)m;
	if ((size_t)msg->payloadlen <= skip + l->id_prefix_len ||
	    memcmp(p, "{\"id\":\"", skip) != 0 ||
	    memcmp(p + skip, l->id_prefix, l->id_prefix_len) != 0) {
		l->foreign++;
		return;
	}
	for (i = skip + l->id_prefix_len;
	     i < (size_t)msg->payloadlen && p[i] >= '0' && p[i] <= '9'; i++)
		n = n * 10 + (unsigned long)(p[i] - '0');
	if (n >= l->count) {
		l->foreign++;
		return;
	}
	if (l->seen[n / 8] & (1u << (n % 8))) {
		l->dups++;
		return;
	}
	l->seen[n / 8] |= (unsigned char)(1u << (n % 8));
	l->received++;
	l->t_last_rx = now_mono();
}

/* Runs both clients' network work for up to timeout_ms. Returns -1 when a
 * connection is gone. */
static int
load_pump(struct load *l, int timeout_ms)
{
	static double last_misc;
	struct mosquitto *m[2];
	struct pollfd pfd[2];
	int n = 0, i, rc;
	double now;

	if (l->pub != NULL)
		m[n++] = l->pub;
	if (l->sub != NULL)
		m[n++] = l->sub;
	for (i = 0; i < n; i++) {
		pfd[i].fd = mosquitto_socket(m[i]);
		if (pfd[i].fd < 0)
			return -1;
		pfd[i].events = POLLIN | (mosquitto_want_write(m[i]) ? POLLOUT : 0);
		pfd[i].revents = 0;
	}
	if (poll(pfd, (nfds_t)n, timeout_ms) < 0 && errno != EINTR) {
		fprintf(stderr, "cw-load: poll: %s\n", strerror(errno));
		return -1;
	}
	now = now_mono();
	for (i = 0; i < n; i++) {
		if (pfd[i].revents & (POLLIN | POLLERR | POLLHUP)) {
			rc = mosquitto_loop_read(m[i], 1);
			if (rc != MOSQ_ERR_SUCCESS) {
				l->lost = true;
				return -1;
			}
		}
		if ((pfd[i].revents & POLLOUT) || mosquitto_want_write(m[i])) {
			rc = mosquitto_loop_write(m[i], 1);
			if (rc != MOSQ_ERR_SUCCESS) {
				l->lost = true;
				return -1;
			}
		}
		if (now - last_misc >= 1.0)
			mosquitto_loop_misc(m[i]);
	}
	if (now - last_misc >= 1.0)
		last_misc = now;
	return l->lost ? -1 : 0;
}

/* Reads utime + stime (+ cutime + cstime with children) of pid from
 * /proc/PID/stat in clock ticks, and its parent; -1 when it is gone. */
static long long
load_proc_ticks(int pid, bool with_reaped, int *ppid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	long long cut, cst;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* the command may hold spaces and parentheses: skip to the last ')' */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1,
		   " %*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld",
		   ppid, &ut, &st, &cut, &cst) != 5)
		return -1;
	return (long long)(ut + st) + (with_reaped ? cut + cst : 0);
}

/* CPU seconds used by pid, by its live children and by the children it
 * reaped (the backends of a postmaster that came and went). */
static double
load_cpu_seconds(int pid)
{
	long long total, t;
	int ppid, child;
	DIR *d;
	struct dirent *e;

	if ((total = load_proc_ticks(pid, true, &ppid)) < 0)
		return -1;
	if ((d = opendir("/proc")) != NULL) {
		while ((e = readdir(d)) != NULL) {
			if ((child = atoi(e->d_name)) <= 0 || child == pid)
				continue;
			if ((t = load_proc_ticks(child, false, &ppid)) >= 0 &&
			    ppid == pid)
				total += t;
		}
		closedir(d);
	}
	return (double)total / (double)sysconf(_SC_CLK_TCK);
}

/* Creates a client and connects it (blocking connect on loopback is fine in
 * a tool); waits for the CONNACK. Returns NULL with a message on failure. */
static struct mosquitto *
load_client(struct load *l, const char *role, bool clean, bool *up)
{
	char id[64];
	struct mosquitto *m;
	double deadline;
	int rc;

	snprintf(id, sizeof(id), "cw-load-%s-%s", role, l->runid);
	if ((m = mosquitto_new(id, clean, l)) == NULL) {
		fprintf(stderr, "cw-load: mosquitto_new failed\n");
		return NULL;
	}
	mosquitto_connect_callback_set(m, load_connect_cb);
	mosquitto_disconnect_callback_set(m, load_disconnect_cb);
	mosquitto_publish_callback_set(m, load_publish_cb);
	mosquitto_subscribe_callback_set(m, load_subscribe_cb);
	mosquitto_message_callback_set(m, load_message_cb);
	mosquitto_max_inflight_messages_set(m, (unsigned int)l->window);
	mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
	rc = mosquitto_connect(m, l->host, l->port, 60);
	if (rc != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "cw-load: cannot connect to %s:%d: %s\n", l->host,
			l->port, mosquitto_strerror(rc));
		mosquitto_destroy(m);
		return NULL;
	}
	if (strcmp(role, "sub") == 0)
		l->sub = m;
	else
		l->pub = m;
	deadline = now_mono() + LOAD_CONNECT_S;
	while (!*up) {
		if (load_pump(l, 100) < 0 || now_mono() > deadline) {
			fprintf(stderr, "cw-load: no CONNACK from %s:%d\n", l->host,
				l->port);
			return NULL;
		}
	}
	return m;
}

/* Closes a client, sending DISCONNECT first. */
static void
load_close(struct load *l, struct mosquitto **m)
{
	if (*m == NULL)
		return;
	mosquitto_disconnect(*m);
	mosquitto_loop_write(*m, 1);
	mosquitto_destroy(*m);
	*m = NULL;
	(void)l;
}

/* Prints each --cpu process's CPU over the last t seconds, as a share of
 * one core and per message. */
static void
load_cpu_report(struct load *l, double t)
{
	double end;
	int i;

	for (i = 0; i < l->ncpu; i++) {
		end = load_cpu_seconds(l->cpu[i].pid);
		if (l->cpu[i].start < 0 || end < 0) {
			fprintf(stderr, "cw-load: process %s (%d) is gone\n",
				l->cpu[i].name, l->cpu[i].pid);
			continue;
		}
		printf(
		    "cpu %s: %.2f s in %.2f s = %.1f %% of one core, %.1f us a message\n",
		    l->cpu[i].name, end - l->cpu[i].start, t,
		    100.0 * (end - l->cpu[i].start) / t,
		    1e6 * (end - l->cpu[i].start) / (double)l->count);
		printf("RESULT cpu_%s_pct=%.1f\n", l->cpu[i].name,
		       100.0 * (end - l->cpu[i].start) / t);
		printf("RESULT cpu_%s_us=%.1f\n", l->cpu[i].name,
		       1e6 * (end - l->cpu[i].start) / (double)l->count);
	}
}

/* Publishes until count messages are acknowledged by the broker and, in echo
 * mode, received by the subscriber. Returns 0, or -1 on timeout, stall or a
 * lost connection. */
static int
load_blast(struct load *l)
{
	char topic[LOAD_TOPIC_MAX], payload[LOAD_PAYLOAD_MAX];
	unsigned long progress = 0;
	double now, last_change, deadline, last_report;
	int len, rc;

	int i, wait_ms;

	for (i = 0; i < l->ncpu; i++)
		l->cpu[i].start = load_cpu_seconds(l->cpu[i].pid);
	l->t_first = now_mono();
	deadline = l->t_first + l->timeout;
	last_change = last_report = l->t_first;
	for (;;) {
		/* Without --rate only the publisher's window limits the pace: the
		 * broker must queue what the subscriber (or the daemon) has not
		 * yet taken (max_queued_messages 0), as it must for a real
		 * storm. With it, message n goes out n / rate s after the first. */
		while (l->sent < l->count &&
		       l->sent - l->acked < (unsigned long)l->window &&
		       (l->rate <= 0 ||
			(double)l->sent <= (now_mono() - l->t_first) * l->rate)) {
			len = load_message(l, l->sent, topic, sizeof(topic), payload,
					   sizeof(payload));
			rc = mosquitto_publish(l->pub, NULL, topic, len, payload, 1,
					       false);
			if (rc != MOSQ_ERR_SUCCESS) {
				fprintf(stderr, "cw-load: publish: %s\n",
					mosquitto_strerror(rc));
				return -1;
			}
			l->payload_total += (size_t)len;
			l->sent++;
		}
		if (l->acked >= l->count && (l->ingest || l->received >= l->count)) {
			if (!l->ingest) /* ingest: once all is durable */
				load_cpu_report(l, now_mono() - l->t_first);
			return 0;
		}
		wait_ms = 100;
		if (l->rate > 0 && l->sent < l->count &&
		    l->sent - l->acked < (unsigned long)l->window) {
			double next = l->t_first + (double)l->sent / l->rate;

			wait_ms = (int)((next - now_mono()) * 1000.0) + 1;
			wait_ms = wait_ms < 1 ? 1 : wait_ms > 100 ? 100 : wait_ms;
		}
		if (load_pump(l, wait_ms) < 0)
			return -1;
		now = now_mono();
		if (l->acked + l->received != progress) {
			progress = l->acked + l->received;
			last_change = now;
		}
		if (now - last_report >= LOAD_PROGRESS_S) {
			fprintf(stderr, "cw-load: %lu published, %lu acknowledged%s",
				l->sent, l->acked, l->ingest ? "\n" : "");
			if (!l->ingest)
				fprintf(stderr, ", %lu received\n", l->received);
			last_report = now;
		}
		/* Once the broker holds everything, a pause means it dropped some. */
		if (now > deadline || now - last_change > LOAD_STALL_S ||
		    (!l->ingest && l->acked >= l->count &&
		     now - last_change > LOAD_DRAIN_S)) {
			fprintf(stderr,
				"cw-load: %s after %.1f s: %lu of %lu published, "
				"%lu acknowledged, %lu received\n",
				now > deadline ? "timeout" : "no progress",
				now - l->t_first, l->sent, l->count, l->acked,
				l->received);
			if (!l->ingest && l->acked >= l->count)
				fprintf(stderr,
					"cw-load: the broker dropped messages for the "
					"subscriber: set max_queued_messages 0 in its "
					"configuration\n");
			return -1;
		}
	}
}

/* echo mode: see the top of the file. */
static int
load_echo(struct load *l)
{
	double t;
	bool wipe;
	int rc = 1;

	l->seen = xcalloc(l->count / 8 + 1, 1);
	snprintf(l->sub_topic, sizeof(l->sub_topic), "cw-load/%s/dev/+/event", l->runid);
	if (load_client(l, "sub", false, &l->sub_up) == NULL)
		goto out;
	if (mosquitto_subscribe(l->sub, &l->sub_mid, l->sub_topic, 1) != MOSQ_ERR_SUCCESS)
		goto out;
	t = now_mono() + LOAD_CONNECT_S;
	while (!l->sub_ready) {
		if (load_pump(l, 100) < 0 || now_mono() > t) {
			fprintf(stderr, "cw-load: no SUBACK\n");
			goto out;
		}
	}
	if (load_client(l, "pub", true, &l->pub_up) == NULL)
		goto out;
	if (load_blast(l) < 0)
		goto out;
	t = l->t_last_rx - l->t_first;
	if (t <= 0)
		t = 1e-6;
	printf(
	    "echo: %lu msgs in %.3f s = %.1f msg/s (payload %zu bytes, %d in flight%s)\n",
	    l->count, t, (double)l->count / t, l->payload_total / l->count, l->window,
	    l->dups ? ", duplicates seen" : "");
	printf("RESULT echo_rate=%.1f\n", (double)l->count / t);
	rc = 0;
out:
	wipe = l->sub_up;
	load_close(l, &l->pub);
	load_close(l, &l->sub);
	/* Drop the persistent session again: a clean-session connect with the
	 * same client id wipes it. */
	if (wipe) {
		l->sub_up = false;
		l->lost = false;
		load_client(l, "sub", true, &l->sub_up);
		load_close(l, &l->sub);
	}
	free(l->seen);
	return rc;
}

/* Runs a one-value count query; -1 on error (printed). */
static long long
load_db_count(PGconn *db, const char *sql, const char *param, const char *param2)
{
	const char *params[2] = {param, param2};
	PGresult *res;
	long long n;

	res = PQexecParams(db, sql,
			   param2  ? 2
			   : param ? 1
				   : 0,
			   NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		fprintf(stderr, "cw-load: query failed: %s", PQerrorMessage(db));
		PQclear(res);
		return -1;
	}
	n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return n;
}

static int
load_device_cmp_cb(const void *a, const void *b)
{
	return strcmp(((const struct load_device *)a)->id,
		      ((const struct load_device *)b)->id);
}

/* Keeps only the devices registered in the database: events for others are
 * dead-lettered, never stored, and the run would never finish. */
static int
load_keep_registered(struct load *l, PGconn *db)
{
	size_t i, k, len = 3;
	char *arr, *p;
	const char *params[1];
	bool *ok;
	PGresult *res;
	int r;

	for (i = 0; i < l->ndevices; i++)
		len += strlen(l->devices[i].id) + 3;
	arr = p = xcalloc(len, 1);
	*p++ = '{';
	for (i = 0; i < l->ndevices; i++)
		p += sprintf(p, "%s\"%s\"", i ? "," : "", l->devices[i].id);
	*p++ = '}';
	params[0] = arr;
	res = PQexecParams(db, "SELECT id FROM devices WHERE id = ANY($1::text[])", 1,
			   NULL, params, NULL, NULL, 0);
	free(arr);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(stderr, "cw-load: device check failed: %s", PQerrorMessage(db));
		PQclear(res);
		return -1;
	}
	qsort(l->devices, l->ndevices, sizeof(*l->devices), load_device_cmp_cb);
	ok = xcalloc(l->ndevices, sizeof(bool));
	for (r = 0; r < PQntuples(res); r++) {
		struct load_device key, *hit;

		str_copy(key.id, PQgetvalue(res, r, 0), sizeof(key.id));
		hit = bsearch(&key, l->devices, l->ndevices, sizeof(*l->devices),
			      load_device_cmp_cb);
		/* duplicates in the list sit next to their twin */
		while (hit != NULL && hit > l->devices &&
		       strcmp((hit - 1)->id, key.id) == 0)
			hit--;
		while (hit != NULL && hit < l->devices + l->ndevices &&
		       strcmp(hit->id, key.id) == 0)
			ok[hit++ - l->devices] = true;
	}
	PQclear(res);
	for (i = k = 0; i < l->ndevices; i++)
		if (ok[i])
			l->devices[k++] = l->devices[i];
	free(ok);
	if (k < l->ndevices)
		fprintf(stderr,
			"cw-load: %zu of %zu device ids are not registered; left out\n",
			l->ndevices - k, l->ndevices);
	l->ndevices = k;
	if (k == 0) {
		fprintf(
		    stderr,
		    "cw-load: none of the devices is registered (import them first)\n");
		return -1;
	}
	return 0;
}

/* ingest mode: see the top of the file. */
static int
load_ingest(struct load *l)
{
	static const char count_sql[] =
	    "SELECT count(*) FROM events WHERE event_id LIKE $1";
	static const char probe_sql[] =
	    "SELECT count(*) FROM events WHERE device_id = $1 AND event_id = $2";
	char like[64], last_id[64];
	bool last_stored = false;
	PGconn *db;
	long long n, last = -1;
	double t_pub, now, deadline, last_change, last_report, t;
	int rc = 1;

	snprintf(like, sizeof(like), "%s%%", l->id_prefix);
	db = PQconnectdb(l->conninfo);
	if (PQstatus(db) != CONNECTION_OK) {
		fprintf(stderr, "cw-load: database: %s", PQerrorMessage(db));
		goto out;
	}
	if (load_keep_registered(l, db) < 0)
		goto out;
	if ((n = load_db_count(db, count_sql, like, NULL)) < 0)
		goto out;
	if (n > 0) {
		fprintf(stderr,
			"cw-load: run id %s was used before (%lld events stored)\n",
			l->runid, n);
		goto out;
	}
	if (load_client(l, "pub", true, &l->pub_up) == NULL)
		goto out;
	if (load_blast(l) < 0)
		goto out;
	t_pub = now_mono() - l->t_first;
	load_close(l, &l->pub);

	/* Poll until the daemon has stored every event. Counting them is a
	 * sequential scan, which would take CPU from the daemon and the
	 * database being measured. So the last event is looked up by its key
	 * every LOAD_PROBE_NS, and the count runs once it is stored (then
	 * every LOAD_DB_POLL_NS while some are missing), and every
	 * LOAD_PROGRESS_S for the progress line and the stall check. */
	snprintf(last_id, sizeof(last_id), "%s%lu", l->id_prefix, l->count - 1);
	deadline = l->t_first + l->timeout;
	last_change = now_mono();
	last_report = 0;
	for (;;) {
		struct timespec step = {0, LOAD_DB_POLL_NS};

		now = now_mono();
		if (!last_stored && now - last_report < LOAD_PROGRESS_S) {
			if ((n = load_db_count(db, probe_sql, l->last_dev, last_id)) < 0)
				goto out;
			if (n != 1) {
				step.tv_nsec = LOAD_PROBE_NS;
				nanosleep(&step, NULL);
				continue;
			}
			last_stored = true;
		}
		if ((n = load_db_count(db, count_sql, like, NULL)) < 0)
			goto out;
		now = now_mono();
		if (n >= (long long)l->count)
			break;
		if (n != last) {
			last = n;
			last_change = now;
		}
		if (now - last_report >= LOAD_PROGRESS_S) {
			if (last_report > 0)
				fprintf(stderr, "cw-load: %lld of %lu stored\n", n,
					l->count);
			last_report = now;
		}
		if (now > deadline || now - last_change > LOAD_STALL_S) {
			fprintf(stderr,
				"cw-load: %s after %.1f s: %lld of %lu events stored "
				"(is carewatchd running and subscribed?)\n",
				now > deadline ? "timeout" : "no progress",
				now - l->t_first, n, l->count);
			goto out;
		}
		nanosleep(&step, NULL);
	}
	t = now - l->t_first;
	load_cpu_report(l, t);
	printf("ingest: %lu events durable in %.3f s = %.1f ev/s (published in %.3f s, "
	       "payload %zu bytes, %zu devices)\n",
	       l->count, t, (double)l->count / t, t_pub, l->payload_total / l->count,
	       l->ndevices);
	printf("RESULT ingest_rate=%.1f\n", (double)l->count / t);
	rc = 0;
out:
	load_close(l, &l->pub);
	PQfinish(db);
	return rc;
}

static void
load_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: cw-load echo --host H --port P --count N [--payload-bytes B]\n"
	    "       cw-load ingest --host H --port P --conninfo CI --count N --devices "
	    "FILE|LIST\n"
	    "Measures throughput: echo = the broker alone (publisher to subscriber),\n"
	    "ingest = device events until a running carewatchd has stored them all.\n"
	    "  --host H            broker host (default 127.0.0.1)\n"
	    "  --port P            broker port (default 1883)\n"
	    "  --count N           messages to send (default 50000)\n"
	    "  --payload-bytes B   echo: pad payloads to B bytes (default: as events)\n"
	    "  --conninfo CI       ingest: libpq connection string of the daemon's "
	    "database\n"
	    "  --devices FILE|LIST devices.csv (id, kind) or comma-separated ids;\n"
	    "                      echo uses D000000..D000999 without it\n"
	    "  --prefix T          topic prefix (default carewatch)\n"
	    "  --inflight W        QoS 1 messages in flight (default %d)\n"
	    "  --timeout S         give up after S seconds (default %.0f)\n"
	    "  --run-id ID         event ids are load-ID-<n> (default: random)\n"
	    "  --rate R            ingest: R events a second, each device in turn\n"
	    "                      (default: as fast as the window allows, devices\n"
	    "                      at random)\n"
	    "  --alarm-share F     share of alarms among the events of devices that\n"
	    "                      raise one (default %.2f)\n"
	    "  --cpu NAME=PID      report the CPU of PID and its children while\n"
	    "                      publishing (RESULT cpu_NAME_pct); repeatable\n"
	    "Prints a summary line and RESULT echo_rate=R or RESULT ingest_rate=R;\n"
	    "exits 1 on timeout or error.\n",
	    LOAD_WINDOW, LOAD_TIMEOUT_S, LOAD_ALARM_SHARE);
}

/* Parses the command line into l; exits on a usage error. */
static void
load_options(struct load *l, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"host", required_argument, NULL, 'H'},
	    {"port", required_argument, NULL, 'p'},
	    {"count", required_argument, NULL, 'n'},
	    {"payload-bytes", required_argument, NULL, 'b'},
	    {"conninfo", required_argument, NULL, 'c'},
	    {"devices", required_argument, NULL, 'd'},
	    {"prefix", required_argument, NULL, 'P'},
	    {"inflight", required_argument, NULL, 'w'},
	    {"timeout", required_argument, NULL, 't'},
	    {"run-id", required_argument, NULL, 'r'},
	    {"rate", required_argument, NULL, 'R'},
	    {"alarm-share", required_argument, NULL, 'a'},
	    {"cpu", required_argument, NULL, 'C'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *runid = NULL;
	int c;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		load_usage(argc < 2 ? stderr : stdout);
		exit(argc < 2 ? 2 : 0);
	}
	if (strcmp(argv[1], "ingest") == 0) {
		l->ingest = true;
	} else if (strcmp(argv[1], "echo") != 0) {
		fprintf(stderr, "cw-load: unknown mode %s (echo or ingest)\n", argv[1]);
		exit(2);
	}
	l->host = "127.0.0.1";
	l->port = 1883;
	l->count = 50000;
	l->prefix = "carewatch";
	l->window = LOAD_WINDOW;
	l->timeout = LOAD_TIMEOUT_S;
	l->alarm_share = LOAD_ALARM_SHARE;
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'H':
			l->host = optarg;
			break;
		case 'p':
			l->port = (int)opt_number("cw-load", "port", optarg, 1, 65535);
			break;
		case 'n':
			l->count = (unsigned long)opt_number("cw-load", "count", optarg,
							     1, (double)LOAD_MAX_COUNT);
			break;
		case 'b':
			l->payload_bytes = (int)opt_number(
			    "cw-load", "payload-bytes", optarg, 0, LOAD_PAYLOAD_MAX - 64);
			break;
		case 'c':
			l->conninfo = optarg;
			break;
		case 'd':
			l->devices_arg = optarg;
			break;
		case 'P':
			l->prefix = optarg;
			break;
		case 'w':
			l->window =
			    (int)opt_number("cw-load", "inflight", optarg, 1, 65535);
			break;
		case 't':
			l->timeout = opt_number("cw-load", "timeout", optarg, 1, 86400);
			break;
		case 'r':
			runid = optarg;
			break;
		case 'R':
			l->rate = opt_number("cw-load", "rate", optarg, 0, 1e6);
			break;
		case 'a':
			l->alarm_share =
			    opt_number("cw-load", "alarm-share", optarg, 0, 1);
			break;
		case 'C': {
			char *eq = strchr(optarg, '=');

			if (eq == NULL || eq == optarg || l->ncpu == LOAD_CPU_MAX) {
				fprintf(stderr, "cw-load: --cpu NAME=PID, at most %d\n",
					LOAD_CPU_MAX);
				exit(2);
			}
			*eq = '\0';
			l->cpu[l->ncpu].name = optarg;
			l->cpu[l->ncpu].pid =
			    (int)opt_number("cw-load", "cpu", eq + 1, 1, 4194304);
			l->ncpu++;
			break;
		}
		case 'h':
			load_usage(stdout);
			exit(0);
		default:
			load_usage(stderr);
			exit(2);
		}
	}
	if (optind != argc) {
		load_usage(stderr);
		exit(2);
	}
	if (l->ingest && (l->conninfo == NULL || l->devices_arg == NULL)) {
		fprintf(stderr, "cw-load: ingest needs --conninfo and --devices\n");
		exit(2);
	}
	if (strlen(l->prefix) == 0 || strlen(l->prefix) > 64 ||
	    strpbrk(l->prefix, "+#") != NULL) {
		fprintf(stderr, "cw-load: --prefix: 1..64 characters without + or #\n");
		exit(2);
	}
	if (runid != NULL) {
		if (!id_valid(runid, strlen(runid), sizeof(l->runid) - 1) ||
		    strpbrk(runid, "_%") != NULL) {
			fprintf(stderr, "cw-load: --run-id: 1..16 of [A-Za-z0-9.:-]\n");
			exit(2);
		}
		str_copy(l->runid, runid, sizeof(l->runid));
	}
}

int
main(int argc, char **argv)
{
	struct load l;
	struct timespec ts;
	size_t cap = 0;
	int i, rc;

	memset(&l, 0, sizeof(l));
	log_init("cw-load", 0);
	load_options(&l, argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);

	clock_gettime(CLOCK_REALTIME, &ts);
	l.rng = ((uint64_t)ts.tv_sec * 1000000007ULL) ^ (uint64_t)ts.tv_nsec ^
		((uint64_t)getpid() << 32) ^ 0x9E3779B97F4A7C15ULL;
	l.rng |= 1;
	if (l.runid[0] == '\0')
		snprintf(l.runid, sizeof(l.runid), "%08" PRIx32,
			 (uint32_t)(xorshift_next(&l.rng) >> 32));
	snprintf(l.id_prefix, sizeof(l.id_prefix), "load-%s-", l.runid);
	l.id_prefix_len = strlen(l.id_prefix);

	if (l.devices_arg != NULL) {
		if (load_read_devices(&l) < 0)
			return 1;
	} else {
		char id[16];

		for (i = 0; i < LOAD_ECHO_DEVICES; i++) {
			snprintf(id, sizeof(id), "D%06d", i);
			load_add_device(&l, id, "sos", &cap);
		}
	}

	if (l.ncpu > 0 && l.ncpu < LOAD_CPU_MAX) {
		l.cpu[l.ncpu].name = "load";
		l.cpu[l.ncpu].pid = (int)getpid();
		l.ncpu++;
	}
	mosquitto_lib_init();
	rc = l.ingest ? load_ingest(&l) : load_echo(&l);
	mosquitto_lib_cleanup();
	free(l.devices);
	return rc;
}
