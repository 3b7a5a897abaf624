/* fakebroker.c - a one-client MQTT 3.1.1 broker that checks the order of the
 * real carewatchd's packets against PostgreSQL (SPEC.md section 8: an event
 * is acknowledged to the broker only after it is committed).
 *
 *   tests/fakebroker --port N --conninfo STR [--prefix P] [--device D]
 *                    [--count N] [--timeout S]
 *
 * It serves one connection on 127.0.0.1:N: CONNECT, SUBSCRIBE, PINGREQ, QoS 1
 * PUBLISH from the daemon (answered at once) and DISCONNECT. Once the daemon
 * has subscribed to {prefix}/dev/+/event it locks the events table in its own
 * transaction, sends N QoS 1 events of device D (packet ids 1..N), and waits
 * until PostgreSQL shows the daemon's INSERT INTO events waiting on that lock.
 * While the lock is held no PUBACK may arrive: none of the events can be
 * committed. After the rollback every PUBACK must come in the order of the
 * PUBLISHes, each only once its row is committed, and every {prefix}/dev/D/ack
 * only once its event's row is committed.
 *
 * Every wait has a deadline. Exit status 0 when all of that holds, 1 with a
 * line saying what did not, 2 on bad usage. Blocking libpq is fine here: the
 * daemon, not this program, is under test. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "util.h"

#define FB_PACKET_MAX  65536 /* the daemon's packets are small: larger is malformed */
#define FB_COUNT_MAX   1000
#define FB_ID_MAX      32
#define FB_TOPIC_MAX   512
#define FB_ACCEPT_S    20.0 /* the daemon connects (it starts after us) */
#define FB_SUBSCRIBE_S 10.0
#define FB_BLOCKED_S   10.0 /* the daemon's insert waits on our lock */
#define FB_HOLD_S      1.0  /* no PUBACK may arrive while the lock is held */
#define FB_DRAIN_S     15.0 /* default: every PUBACK and ack after the rollback */
#define FB_WRITE_S     5.0
#define FB_POLL_S      0.05 /* between pg_stat_activity queries */

/* MQTT control packet types (3.1.1 section 2.2.1). */
enum {
	MQ_CONNECT = 1,
	MQ_CONNACK,
	MQ_PUBLISH,
	MQ_PUBACK,
	MQ_PUBREC,
	MQ_PUBREL,
	MQ_PUBCOMP,
	MQ_SUBSCRIBE,
	MQ_SUBACK,
	MQ_UNSUBSCRIBE,
	MQ_UNSUBACK,
	MQ_PINGREQ,
	MQ_PINGRESP,
	MQ_DISCONNECT
};

static const char *const mq_names[16] = {
    "reserved(0)", "CONNECT",  "CONNACK",    "PUBLISH",	    "PUBACK",	   "PUBREC",
    "PUBREL",	   "PUBCOMP",  "SUBSCRIBE",  "SUBACK",	    "UNSUBSCRIBE", "UNSUBACK",
    "PINGREQ",	   "PINGRESP", "DISCONNECT", "reserved(15)"};

/* Where the test is: a PUBACK is a failure until the lock is released. */
enum phase { PH_CONNECT, PH_SUBSCRIBE, PH_LOCKED, PH_RELEASED };

struct packet {
	int type, flags;
	const unsigned char *body;
	size_t len;
};

struct fb {
	/* options */
	int port, count;
	const char *conninfo, *prefix, *device;
	double drain_s;

	int lsock, sock;
	unsigned char in[FB_PACKET_MAX + 8];
	size_t in_len, in_used; /* in_used: bytes of the packet being handled */
	PGconn *lockc;		/* holds the lock on events */
	PGconn *qc;		/* autocommit: sees what is committed */
	int lock_pid;

	enum phase phase;
	int keepalive;	/* seconds, from CONNECT */
	double last_in; /* monotonic time of the daemon's last packet */
	char event_filter[FB_TOPIC_MAX], ack_topic[FB_TOPIC_MAX];
	bool subscribed;

	int pubacks;	 /* PUBACKs for our events, in order: ids 1..pubacks */
	int acks;	 /* distinct events the daemon published an ack for */
	bool *acked;	 /* per event (index = packet id - 1) */
	int publishes;	 /* PUBLISH packets from the daemon */
	double released; /* when the lock was released */
};

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Prints what went wrong and exits 1; the lock goes with the connection. */
static void
fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("fakebroker: FAIL: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Progress on stdout, one line each, flushed so the test log keeps order. */
static void
say(const char *fmt, ...)
{
	va_list ap;

	fputs("fakebroker: ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: fakebroker --port N --conninfo STR [--prefix P] [--device D]\n"
		   "                  [--count N] [--timeout S]\n"
		   "  --port N       listen on 127.0.0.1:N for one client (carewatchd)\n"
		   "  --conninfo STR libpq connection string of the daemon's database\n"
		   "  --prefix P     the daemon's topic_prefix (default carewatch)\n"
		   "  --device D     a registered device (default D1)\n"
		   "  --count N      events to send (default 20, at most 1000)\n"
		   "  --timeout S    seconds for every PUBACK and ack after the lock is\n"
		   "                 released (default 15)\n");
}

/* --- PostgreSQL -------------------------------------------------------------- */

static PGconn *
db_connect(const char *conninfo)
{
	PGconn *c = PQconnectdb(conninfo);

	if (PQstatus(c) != CONNECTION_OK)
		fail("cannot connect to PostgreSQL: %s", PQerrorMessage(c));
	return c;
}

/* Runs a command that returns no rows; fails the test on error. */
static void
db_command(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fail("%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
}

/* Runs a query whose answer is one number; fails the test on error. */
static long
db_count(PGconn *c, const char *sql, int n, const char *const *params)
{
	PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
	long v;

	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		fail("%s: %s", sql, PQerrorMessage(c));
	v = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return v;
}

static void
event_id(int i, char *buf, size_t len)
{
	snprintf(buf, len, "ord-%03d", i);
}

/* True when event i (1..count) is committed, as any other session sees it. */
static bool
event_committed(struct fb *fb, int i)
{
	char id[FB_ID_MAX];
	const char *p[2] = {fb->device, id};

	event_id(i, id, sizeof(id));
	return db_count(
		   fb->qc,
		   "SELECT count(*) FROM events WHERE device_id = $1 AND event_id = $2",
		   2, p) == 1;
}

/* True when the daemon's INSERT INTO events waits for our lock. */
static bool
insert_blocked(struct fb *fb)
{
	char pid[16];
	const char *p[1] = {pid};

	snprintf(pid, sizeof(pid), "%d", fb->lock_pid);
	return db_count(
		   fb->qc,
		   "SELECT count(*) FROM pg_stat_activity WHERE datname = "
		   "current_database() "
		   "AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO events%' "
		   "AND $1::int = ANY (pg_blocking_pids(pid))",
		   1, p) > 0;
}

/* The database must know the device and hold none of our events yet, or a
 * committed row would prove nothing. */
static void
db_prepare(struct fb *fb)
{
	const char *p[1] = {fb->device};

	fb->lockc = db_connect(fb->conninfo);
	fb->qc = db_connect(fb->conninfo);
	fb->lock_pid = PQbackendPID(fb->lockc);
	if (db_count(fb->qc, "SELECT count(*) FROM devices WHERE id = $1", 1, p) != 1)
		fail("device %s is not registered in the database", fb->device);
	if (db_count(fb->qc,
		     "SELECT count(*) FROM events WHERE device_id = $1 AND event_id LIKE "
		     "'ord-%'",
		     1, p) != 0)
		fail("events of this test are already stored: use a fresh database");
}

/* --- the socket -------------------------------------------------------------- */

static void
listen_on(struct fb *fb)
{
	struct sockaddr_in a;
	int on = 1;

	fb->lsock = socket(AF_INET, SOCK_STREAM, 0);
	if (fb->lsock < 0)
		fail("socket: %s", strerror(errno));
	setsockopt(fb->lsock, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)fb->port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fb->lsock, (struct sockaddr *)&a, sizeof(a)) < 0)
		fail("bind 127.0.0.1:%d: %s", fb->port, strerror(errno));
	if (listen(fb->lsock, 1) < 0)
		fail("listen: %s", strerror(errno));
	say("listening on 127.0.0.1:%d", fb->port);
}

/* Waits for the one client; a second one is never accepted. */
static void
accept_client(struct fb *fb)
{
	struct pollfd p = {.fd = fb->lsock, .events = POLLIN};
	int on = 1, rc;

	rc = poll(&p, 1, (int)(FB_ACCEPT_S * 1000));
	if (rc < 0)
		fail("poll: %s", strerror(errno));
	if (rc == 0)
		fail("the daemon did not connect within %.0f s", FB_ACCEPT_S);
	fb->sock = accept(fb->lsock, NULL, NULL);
	if (fb->sock < 0)
		fail("accept: %s", strerror(errno));
	setsockopt(fb->sock, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	fb->last_in = now_mono();
}

/* Writes all of buf, within FB_WRITE_S. */
static void
send_all(struct fb *fb, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	double deadline = now_mono() + FB_WRITE_S;
	struct pollfd pfd = {.fd = fb->sock, .events = POLLOUT};
	ssize_t n;

	while (len > 0) {
		if (now_mono() > deadline)
			fail("the daemon did not read for %.0f s", FB_WRITE_S);
		if (poll(&pfd, 1, 100) < 0 && errno != EINTR)
			fail("poll: %s", strerror(errno));
		n = send(fb->sock, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			continue;
		if (n < 0)
			fail("send to the daemon: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

/* Sends a packet with a body of up to 127 bytes (remaining length in one
 * byte: every packet but our PUBLISHes). */
static void
send_small(struct fb *fb, int type, int flags, const unsigned char *body, size_t len)
{
	unsigned char b[2 + 127];

	b[0] = (unsigned char)(type << 4 | flags);
	b[1] = (unsigned char)len;
	memcpy(b + 2, body, len);
	send_all(fb, b, 2 + len);
}

/* Fails when the daemon has sent nothing for 1.5 times its keepalive, as a
 * broker would disconnect it (MQTT 3.1.1 section 3.1.2.10). */
static void
check_keepalive(struct fb *fb)
{
	double quiet = now_mono() - fb->last_in;

	if (fb->keepalive > 0 && quiet > 1.5 * fb->keepalive)
		fail("no packet from the daemon for %.1f s (keepalive %d s): a broker "
		     "would "
		     "disconnect it",
		     quiet, fb->keepalive);
}

/* Sets *p to the next complete packet in the input, if there is one; fails
 * on a malformed fixed header. */
static bool
packet_parse(struct fb *fb, struct packet *p)
{
	size_t rem = 0, i;
	unsigned mult = 1;

	for (i = 1; i < fb->in_len; i++) {
		rem += (fb->in[i] & 0x7f) * (size_t)mult;
		if (!(fb->in[i] & 0x80))
			break;
		mult *= 128;
		if (i == 4)
			fail("malformed packet: remaining length longer than 4 bytes");
	}
	if (i >= fb->in_len)
		return false; /* the length is not complete yet */
	if (rem > FB_PACKET_MAX)
		fail("%s packet of %zu bytes: more than this test allows (%d)",
		     mq_names[fb->in[0] >> 4], rem, FB_PACKET_MAX);
	if (fb->in_len < i + 1 + rem)
		return false;
	p->type = fb->in[0] >> 4;
	p->flags = fb->in[0] & 0x0f;
	p->body = fb->in + i + 1;
	p->len = rem;
	fb->in_used = i + 1 + rem;
	return true;
}

/* Reads the next packet from the daemon. Returns false when the deadline
 * passes first; fails when the daemon closes the connection. */
static bool
packet_read(struct fb *fb, struct packet *p, double deadline)
{
	struct pollfd pfd = {.fd = fb->sock, .events = POLLIN};
	ssize_t n;
	double left;
	int rc;

	if (fb->in_used > 0) { /* drop the packet handled last */
		memmove(fb->in, fb->in + fb->in_used, fb->in_len - fb->in_used);
		fb->in_len -= fb->in_used;
		fb->in_used = 0;
	}
	for (;;) {
		if (packet_parse(fb, p)) {
			fb->last_in = now_mono();
			return true;
		}
		check_keepalive(fb);
		left = deadline - now_mono();
		if (left <= 0)
			return false;
		if (fb->keepalive > 0 &&
		    left > fb->last_in + 1.5 * fb->keepalive - now_mono())
			left = fb->last_in + 1.5 * fb->keepalive - now_mono() + 0.01;
		rc = poll(&pfd, 1, (int)(left * 1000) + 1);
		if (rc < 0 && errno != EINTR)
			fail("poll: %s", strerror(errno));
		if (rc <= 0)
			continue;
		n = recv(fb->sock, fb->in + fb->in_len, sizeof(fb->in) - fb->in_len,
			 MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			fail("the daemon closed the connection without DISCONNECT "
			     "(%d of %d PUBACKs, %d of %d acks)",
			     fb->pubacks, fb->count, fb->acks, fb->count);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			fail("recv from the daemon: %s", strerror(errno));
		if (n > 0)
			fb->in_len += (size_t)n;
	}
}

/* --- packets from the daemon -------------------------------------------------- */

/* Reads a big-endian 16-bit number at *off, advancing it. */
static unsigned
get16(const struct packet *p, size_t *off, const char *what)
{
	unsigned v;

	if (*off + 2 > p->len)
		fail("malformed %s: truncated %s", mq_names[p->type], what);
	v = (unsigned)p->body[*off] << 8 | p->body[*off + 1];
	*off += 2;
	return v;
}

/* Reads a length-prefixed UTF-8 string at *off into buf, advancing *off. */
static void
get_string(const struct packet *p, size_t *off, char *buf, size_t len, const char *what)
{
	unsigned n = get16(p, off, what);

	if (*off + n > p->len)
		fail("malformed %s: %s runs past the packet", mq_names[p->type], what);
	if (n >= len)
		fail("%s: %s of %u bytes is longer than this test allows",
		     mq_names[p->type], what, n);
	if (memchr(p->body + *off, '\0', n) != NULL)
		fail("malformed %s: NUL in %s", mq_names[p->type], what);
	memcpy(buf, p->body + *off, n);
	buf[n] = '\0';
	*off += n;
}

static void
on_connect(struct fb *fb, const struct packet *p)
{
	static const unsigned char connack[2] = {0, 0}; /* no session present, accepted */
	char proto[8], client[FB_TOPIC_MAX];
	size_t off = 0;
	int level, flags;

	if (fb->phase != PH_CONNECT)
		fail("a second CONNECT on the same connection");
	get_string(p, &off, proto, sizeof(proto), "protocol name");
	if (off + 4 > p->len)
		fail("malformed CONNECT: truncated variable header");
	level = p->body[off];
	flags = p->body[off + 1];
	off += 2;
	fb->keepalive = (int)get16(p, &off, "keepalive");
	get_string(p, &off, client, sizeof(client), "client id");
	if (strcmp(proto, "MQTT") != 0 || level != 4)
		fail("CONNECT for protocol %s level %d, not MQTT 3.1.1", proto, level);
	if (flags & 0x01)
		fail("malformed CONNECT: reserved flag set");
	if (flags & 0x02)
		fail("CONNECT with clean session: the daemon must keep a persistent "
		     "session "
		     "(SPEC section 3)");
	send_small(fb, MQ_CONNACK, 0, connack, sizeof(connack));
	fb->phase = PH_SUBSCRIBE;
	say("CONNECT client_id=%s keepalive=%d; CONNACK sent", client, fb->keepalive);
}

static void
on_subscribe(struct fb *fb, const struct packet *p)
{
	unsigned char suback[2 + 32];
	char filter[FB_TOPIC_MAX];
	size_t off = 0, n = 0;
	unsigned id;

	if (p->flags != 0x2)
		fail("malformed SUBSCRIBE: fixed header flags %#x, not 0x2", p->flags);
	id = get16(p, &off, "packet id");
	suback[0] = (unsigned char)(id >> 8);
	suback[1] = (unsigned char)(id & 0xff);
	while (off < p->len) {
		get_string(p, &off, filter, sizeof(filter), "topic filter");
		if (off >= p->len)
			fail("malformed SUBSCRIBE: no QoS after %s", filter);
		if (p->body[off++] > 2)
			fail("malformed SUBSCRIBE: QoS above 2 for %s", filter);
		if (n == sizeof(suback) - 2)
			fail("SUBSCRIBE with more than %zu filters", sizeof(suback) - 2);
		suback[2 + n++] = 1; /* granted QoS 1 */
		if (strcmp(filter, fb->event_filter) == 0)
			fb->subscribed = true;
		say("SUBSCRIBE %s", filter);
	}
	if (n == 0)
		fail("malformed SUBSCRIBE: no topic filter");
	send_small(fb, MQ_SUBACK, 0, suback, 2 + n);
}

/* The daemon acknowledged an event: it must be the next one in order (MQTT
 * 3.1.1 section 4.6) and its row must be committed already. */
static void
on_puback(struct fb *fb, const struct packet *p)
{
	size_t off = 0;
	unsigned id;

	if (p->flags != 0 || p->len != 2)
		fail("malformed PUBACK: flags %#x, %zu bytes", p->flags, p->len);
	id = get16(p, &off, "packet id");
	if (fb->phase == PH_LOCKED)
		fail("PUBACK for packet %u while the events table is locked: the event "
		     "cannot be committed yet, so it was acknowledged before its commit",
		     id);
	if (id < 1 || id > (unsigned)fb->count)
		fail("PUBACK for packet id %u, which we never sent", id);
	if ((int)id <= fb->pubacks)
		fail("a second PUBACK for packet %u", id);
	if ((int)id != fb->pubacks + 1)
		fail("PUBACK for packet %u before packet %d: out of order", id,
		     fb->pubacks + 1);
	if (!event_committed(fb, (int)id))
		fail("PUBACK for packet %u arrived, but its event is not committed", id);
	fb->pubacks++;
}

/* Handles the daemon's own ack of event "id" on {prefix}/dev/D/ack. */
static void
on_ack_message(struct fb *fb, const char *payload, size_t len)
{
	json_t *o = json_loadb(payload, len, 0, NULL);
	const char *id = json_string_value(json_object_get(o, "id"));
	char want[FB_ID_MAX];
	int i;

	if (id == NULL)
		fail("ack without an id: %.*s", (int)len, payload);
	for (i = 1; i <= fb->count; i++) {
		event_id(i, want, sizeof(want));
		if (strcmp(id, want) == 0)
			break;
	}
	if (i > fb->count)
		fail("ack for event %s, which we never sent", id);
	if (fb->acked[i - 1])
		fail("a second ack for %s although the event was delivered once", id);
	if (!event_committed(fb, i))
		fail("ack for %s published before its event was committed", id);
	fb->acked[i - 1] = true;
	fb->acks++;
	json_decref(o);
}

/* A PUBLISH from the daemon: QoS 1 (SPEC section 3), answered at once. */
static void
on_publish(struct fb *fb, const struct packet *p)
{
	char topic[FB_TOPIC_MAX];
	unsigned char puback[2];
	size_t off = 0;
	int qos = (p->flags >> 1) & 3;
	unsigned id;

	if (fb->phase < PH_SUBSCRIBE)
		fail("PUBLISH before CONNECT");
	if (qos == 3)
		fail("malformed PUBLISH: QoS 3");
	get_string(p, &off, topic, sizeof(topic), "topic");
	if (topic[0] == '\0' || strpbrk(topic, "+#") != NULL)
		fail("malformed PUBLISH: topic \"%s\"", topic);
	if (qos != 1)
		fail("PUBLISH to %s at QoS %d: the daemon publishes at QoS 1 (SPEC "
		     "section 3)",
		     topic, qos);
	id = get16(p, &off, "packet id");
	if (id == 0)
		fail("malformed PUBLISH: packet id 0");
	fb->publishes++;
	if (strcmp(topic, fb->ack_topic) == 0)
		on_ack_message(fb, (const char *)p->body + off, p->len - off);
	puback[0] = (unsigned char)(id >> 8);
	puback[1] = (unsigned char)(id & 0xff);
	send_small(fb, MQ_PUBACK, 0, puback, sizeof(puback));
}

/* Handles one packet from the daemon; anything a client may not send, or
 * this test does not expect, fails. */
static void
packet_handle(struct fb *fb, const struct packet *p)
{
	if (fb->phase == PH_CONNECT && p->type != MQ_CONNECT)
		fail("%s before CONNECT", mq_names[p->type]);
	switch (p->type) {
	case MQ_CONNECT:
		on_connect(fb, p);
		break;
	case MQ_SUBSCRIBE:
		on_subscribe(fb, p);
		break;
	case MQ_PUBLISH:
		on_publish(fb, p);
		break;
	case MQ_PUBACK:
		on_puback(fb, p);
		break;
	case MQ_PINGREQ:
		if (p->flags != 0 || p->len != 0)
			fail("malformed PINGREQ");
		send_small(fb, MQ_PINGRESP, 0, NULL, 0);
		say("PINGREQ; PINGRESP sent");
		break;
	case MQ_DISCONNECT:
		fail("DISCONNECT after %d of %d PUBACKs and %d of %d acks", fb->pubacks,
		     fb->count, fb->acks, fb->count);
	default:
		fail("unexpected %s packet from the daemon (QoS 2 and unsubscribing are "
		     "not part of its contract; the rest are server packets)",
		     mq_names[p->type]);
	}
}

/* Handles packets until the deadline. */
static void
serve_until(struct fb *fb, double deadline)
{
	struct packet p;

	while (packet_read(fb, &p, deadline))
		packet_handle(fb, &p);
}

/* --- the test ---------------------------------------------------------------- */

/* Sends events 1..count as one write, so the daemon may read them together. */
static void
send_events(struct fb *fb)
{
	char topic[FB_TOPIC_MAX], payload[128], id[FB_ID_MAX];
	size_t cap = (size_t)fb->count * (FB_TOPIC_MAX + 160), len = 0, tl, pl, rem;
	unsigned char *buf = xcalloc(1, cap);
	int i;

	snprintf(topic, sizeof(topic), "%s/dev/%s/event", fb->prefix, fb->device);
	tl = strlen(topic);
	for (i = 1; i <= fb->count; i++) {
		event_id(i, id, sizeof(id));
		/* alarms (acknowledged after their incident is stored) and
		 * heartbeats (acknowledged once stored) take both ack paths */
		snprintf(payload, sizeof(payload), "{\"id\":\"%s\",\"type\":\"%s\"}", id,
			 i % 2 ? "sos" : "heartbeat");
		pl = strlen(payload);
		rem = 2 + tl + 2 + pl;
		buf[len++] = MQ_PUBLISH << 4 | 1 << 1; /* QoS 1 */
		do {				       /* remaining length */
			buf[len++] =
			    (unsigned char)((rem & 0x7f) | (rem > 0x7f ? 0x80 : 0));
			rem >>= 7;
		} while (rem > 0);
		buf[len++] = (unsigned char)(tl >> 8);
		buf[len++] = (unsigned char)(tl & 0xff);
		memcpy(buf + len, topic, tl);
		len += tl;
		buf[len++] = (unsigned char)(i >> 8);
		buf[len++] = (unsigned char)(i & 0xff);
		memcpy(buf + len, payload, pl);
		len += pl;
	}
	send_all(fb, buf, len);
	free(buf);
}

/* Serves the daemon, polling PostgreSQL, until its insert waits on our lock. */
static void
wait_blocked(struct fb *fb)
{
	double deadline = now_mono() + FB_BLOCKED_S, t0 = now_mono();

	for (;;) {
		if (insert_blocked(fb))
			break;
		if (now_mono() > deadline)
			fail("the daemon's INSERT INTO events did not wait on our lock "
			     "within "
			     "%.0f s (%d PUBLISHes sent; is it using this database?)",
			     FB_BLOCKED_S, fb->count);
		serve_until(fb, now_mono() + FB_POLL_S);
	}
	say("the daemon's INSERT INTO events waits on our lock (after %.0f ms)",
	    (now_mono() - t0) * 1000);
}

static void
parse_options(struct fb *fb, int argc, char **argv)
{
	static const struct option opts[] = {{"port", required_argument, NULL, 'p'},
					     {"conninfo", required_argument, NULL, 'd'},
					     {"prefix", required_argument, NULL, 'P'},
					     {"device", required_argument, NULL, 'D'},
					     {"count", required_argument, NULL, 'n'},
					     {"timeout", required_argument, NULL, 't'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	int c;

	fb->prefix = "carewatch";
	fb->device = "D1";
	fb->count = 20;
	fb->drain_s = FB_DRAIN_S;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			fb->port =
			    (int)opt_number("fakebroker", "port", optarg, 1, 65535);
			break;
		case 'd':
			fb->conninfo = optarg;
			break;
		case 'P':
			fb->prefix = optarg;
			break;
		case 'D':
			fb->device = optarg;
			break;
		case 'n':
			fb->count = (int)opt_number("fakebroker", "count", optarg, 1,
						    FB_COUNT_MAX);
			break;
		case 't':
			fb->drain_s = opt_number("fakebroker", "timeout", optarg, 1, 600);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc || fb->port == 0 || fb->conninfo == NULL) {
		usage(stderr);
		exit(2);
	}
	if (strlen(fb->prefix) + strlen(fb->device) + 16 > FB_TOPIC_MAX)
		fail("--prefix and --device are too long");
}

int
main(int argc, char **argv)
{
	struct fb fb;
	double t_lock, deadline;

	memset(&fb, 0, sizeof(fb));
	fb.lsock = fb.sock = -1;
	signal(SIGPIPE, SIG_IGN);
	parse_options(&fb, argc, argv);
	fb.acked = xcalloc((size_t)fb.count, sizeof(*fb.acked));
	snprintf(fb.event_filter, sizeof(fb.event_filter), "%s/dev/+/event", fb.prefix);
	snprintf(fb.ack_topic, sizeof(fb.ack_topic), "%s/dev/%s/ack", fb.prefix,
		 fb.device);
	db_prepare(&fb);
	listen_on(&fb);
	accept_client(&fb);

	/* 1. CONNECT and SUBSCRIBE to the device events */
	deadline = now_mono() + FB_SUBSCRIBE_S;
	while (!fb.subscribed) {
		struct packet p;

		if (!packet_read(&fb, &p, deadline))
			fail("the daemon did not subscribe to %s within %.0f s",
			     fb.event_filter, FB_SUBSCRIBE_S);
		packet_handle(&fb, &p);
	}

	/* 2. lock events, send the events, see the daemon's insert wait */
	db_command(fb.lockc, "BEGIN");
	db_command(fb.lockc, "LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE");
	fb.phase = PH_LOCKED;
	t_lock = now_mono();
	send_events(&fb);
	say("events locked; %d QoS 1 PUBLISHes sent to %s/dev/%s/event", fb.count,
	    fb.prefix, fb.device);
	wait_blocked(&fb);

	/* 3. while the lock is held, nothing can be committed: no PUBACK */
	serve_until(&fb, now_mono() + FB_HOLD_S);
	if (!insert_blocked(&fb))
		fail("the daemon's insert stopped waiting on our lock while we held it");
	db_command(fb.lockc, "ROLLBACK");
	fb.phase = PH_RELEASED;
	fb.released = now_mono();
	say("no PUBACK in %.1f s under the lock; lock released", fb.released - t_lock);

	/* 4. every PUBACK and ack, each after its commit */
	deadline = fb.released + fb.drain_s;
	while (fb.pubacks < fb.count || fb.acks < fb.count) {
		struct packet p;

		if (!packet_read(&fb, &p, deadline))
			fail("after %.0f s only %d of %d PUBACKs and %d of %d acks "
			     "arrived",
			     fb.drain_s, fb.pubacks, fb.count, fb.acks, fb.count);
		packet_handle(&fb, &p);
	}
	say("ok: %d PUBACKs in order and %d acks, each after its event was committed, "
	    "within %.0f ms of the release; %d PUBLISHes from the daemon",
	    fb.pubacks, fb.acks, (now_mono() - fb.released) * 1000, fb.publishes);
	close(fb.sock);
	close(fb.lsock);
	PQfinish(fb.lockc);
	PQfinish(fb.qc);
	free(fb.acked);
	return 0;
}
