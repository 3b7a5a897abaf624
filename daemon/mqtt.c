/* mqtt.c - libmosquitto without its thread: libevent watches the socket and
 * we call mosquitto_loop_read/write/misc ourselves.
 *
 * Acknowledge after commit. libmosquitto 2.0 queues the PUBACK for a QoS 1
 * message before it calls on_message. With mosquitto_threaded_set(true) it
 * only queues outgoing packets and never writes them itself, so nothing
 * reaches the broker until we call mosquitto_loop_write(). We call it only
 * when every message handed to the message callback has been committed
 * (unacked == 0). The queue is FIFO, so a flush sends exactly the PUBACKs of
 * committed messages plus whatever we published after them. A reconnect may
 * drop queued PUBACKs; the broker then redelivers, and the store's inserts are
 * idempotent on (device, event id). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <mosquitto.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "mqtt.h"
#include "netread.h"
#include "resolve.h"
#include "util.h"
#include "z2m.h"

#define MQTT_TICK_MS   200
#define MQTT_READS_MAX 2000 /* packets per read pass, so timers still run */

struct mqtt {
	struct event_base *base;
	struct mosquitto *mosq;
	struct mqtt_cbs cbs;
	void *arg;
	char host[CONF_STR_MAX];
	int port, keepalive;
	char prefix[CONF_STR_MAX];
	bool owntracks;		     /* also subscribe owntracks/+/+ */
	char z2m_base[CONF_STR_MAX]; /* comma-separated bridge bases */
	struct event *rev, *wev, *tick;
	bool sock_open, connected, hold, stopping;
	bool started; /* mqtt_start() was called */
	struct resolver *res;
	struct resolve_req *lookup;  /* of host, in flight */
	int attempt;		     /* failed tries since the last session */
	char addr[RESOLVE_ADDR_LEN]; /* the address last tried */
	bool tls;		     /* mqtt.cafile: the certificate names host */
	bool publisher;		     /* mqtt_new_publisher: no subscriptions */
	size_t unacked;
	size_t pending;	    /* FIONREAD after the last read pass, and netread's */
	int buffered_fd;    /* the socket netread buffers, or -1 */
	size_t unconfirmed; /* QoS 1 messages published, no PUBACK yet */
	double backoff, next_try;
	unsigned rng;
};

static void mqtt_kick(struct mqtt *m);
static bool mqtt_flush(struct mqtt *m);
static bool mqtt_tls_name(struct mqtt *m);

/* Drops the socket's events and plans the next attempt with jitter. */
static void
mqtt_lost(struct mqtt *m, int rc)
{
	int err = errno; /* before anything below can change it */
	double jitter;

	if (m->rev)
		event_del(m->rev);
	if (m->wev)
		event_del(m->wev);
	if (!m->connected)
		m->attempt++; /* the next try takes the name's next address */
	if (rc == MOSQ_ERR_TLS && mosquitto_ssl_get(m->mosq) != NULL) {
		long v = SSL_get_verify_result(mosquitto_ssl_get(m->mosq));

		if (v != X509_V_OK)
			log_warn("event=mqtt_tls_refused host=%s reason=\"%s\"", m->host,
				 X509_verify_cert_error_string(v));
	}
	if (m->sock_open)
		log_warn("event=mqtt_down reason=\"%s\" unacked=%zu",
			 rc == MOSQ_ERR_ERRNO ? strerror(err) : mosquitto_strerror(rc),
			 m->unacked);
	if (m->buffered_fd >= 0)
		netread_detach(m->buffered_fd); /* what it holds died with the socket */
	m->buffered_fd = -1;
	m->unconfirmed = 0; /* sent again after the reconnect; not waited for */
	m->sock_open = false;
	m->connected = false;
	m->rng = m->rng * 1103515245u + 12345u;
	jitter = 0.5 + (double)(m->rng >> 16 & 0x7fff) / 32768.0; /* 0.5 .. 1.5 */
	m->next_try = now_mono() + m->backoff * jitter;
	m->backoff = m->backoff * 2 > 30 ? 30 : m->backoff * 2;
}

/* What waits to be read: in the kernel and in netread's buffer (the
 * backlog route.c sorts by). */
static void
mqtt_measure_pending(struct mqtt *m)
{
	int fd = mosquitto_socket(m->mosq), avail = 0;

	m->pending = 0;
	if (!m->sock_open || fd < 0)
		return;
	if (ioctl(fd, FIONREAD, &avail) == 0 && avail > 0)
		m->pending = (size_t)avail;
	m->pending += netread_buffered(fd);
}

/* Input that waits where libevent cannot see it (netread's buffer, or a TLS
 * record already decrypted) is read on the loop's next turn: the socket may
 * never become readable for it. */
static void
mqtt_read_again(struct mqtt *m)
{
	void *ssl;

	if (m->hold || !m->sock_open || m->rev == NULL)
		return;
	ssl = mosquitto_ssl_get(m->mosq);
	if (netread_buffered(mosquitto_socket(m->mosq)) > 0 ||
	    (ssl != NULL && SSL_pending(ssl) > 0))
		event_active(m->rev, EV_READ, 0);
}

/* The broker confirmed a message we published (PUBACK): it has passed it
 * on to the subscribers that are online. */
static void
mqtt_on_publish(struct mosquitto *mosq, void *arg, int mid)
{
	struct mqtt *m = arg;

	(void)mosq;
	(void)mid;
	if (m->unconfirmed > 0)
		m->unconfirmed--;
	if (m->cbs.published)
		m->cbs.published(m->arg);
}

static void
mqtt_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mqtt *m = arg;
	int i, rc, avail;

	/* what the gate lets out goes before more is read: under a steady
	 * stream, reads would otherwise starve the write event, and with it
	 * the PUBACKs (the broker's window) and the offers */
	if (!mqtt_flush(m))
		return;
	for (i = 0; i < MQTT_READS_MAX && !m->hold && m->sock_open; i++) {
		rc = mosquitto_loop_read(m->mosq, 1);
		if (rc != MOSQ_ERR_SUCCESS) {
			mqtt_lost(m, rc);
			break;
		}
		/* libmosquitto has no buffer of its own on plain TCP: what
		 * waits is in netread's buffer or in the kernel */
		if (netread_buffered(fd) > 0)
			continue;
		avail = 0;
		if (ioctl(fd, FIONREAD, &avail) < 0 || avail <= 0) {
			/* over TLS, a record already decrypted may hold more
			 * packets while the socket holds nothing */
			void *ssl = mosquitto_ssl_get(m->mosq);

			if (ssl == NULL || SSL_pending(ssl) <= 0)
				break;
		}
	}
	mqtt_measure_pending(m);
	mqtt_read_again(m);
	if (m->cbs.read_done)
		m->cbs.read_done(m->arg);
	mqtt_kick(m);
}

static void
mqtt_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mqtt *m = arg;
	int rc;

	if (!m->sock_open || m->unacked > 0)
		return;
	rc = mosquitto_loop_write(m->mosq, 1);
	if (rc != MOSQ_ERR_SUCCESS) {
		mqtt_lost(m, rc);
		return;
	}
	mqtt_kick(m);
}

/* Writes what is queued now, when the gate is open; false when the
 * connection broke. */
static bool
mqtt_flush(struct mqtt *m)
{
	int rc;

	if (!m->sock_open || m->unacked > 0 || !mosquitto_want_write(m->mosq))
		return true;
	rc = mosquitto_loop_write(m->mosq, 1);
	if (rc != MOSQ_ERR_SUCCESS) {
		mqtt_lost(m, rc);
		return false;
	}
	return true;
}

/* Arms the write event when something is queued and writing is allowed. */
static void
mqtt_kick(struct mqtt *m)
{
	if (m->sock_open && m->unacked == 0 && mosquitto_want_write(m->mosq))
		event_add(m->wev, NULL);
}

static void
mqtt_watch(struct mqtt *m)
{
	int fd = mosquitto_socket(m->mosq);

	if (m->rev)
		event_free(m->rev);
	if (m->wev)
		event_free(m->wev);
	m->rev = event_new(m->base, fd, EV_READ | EV_PERSIST, mqtt_read_cb, m);
	m->wev = event_new(m->base, fd, EV_WRITE, mqtt_write_cb, m);
	m->sock_open = true;
	/* the session that receives the events reads through a buffer; the
	 * publisher's receives only its PUBACKs */
	if (!m->publisher) {
		netread_attach(fd);
		m->buffered_fd = fd;
	}
	if (!m->hold)
		event_add(m->rev, NULL);
	mqtt_kick(m);
}

static void
mqtt_connect_addr(struct mqtt *m, const char *addr)
{
	int rc;

	rc = mosquitto_connect_async(m->mosq, addr, m->port, m->keepalive);
	if (rc == MOSQ_ERR_SUCCESS && m->tls && !mqtt_tls_name(m)) {
		log_err("event=mqtt_tls_refused host=%s reason=\"hostname mismatch or "
			"not checkable\"",
			m->host);
		mosquitto_disconnect(m->mosq);
		rc = MOSQ_ERR_TLS;
	}
	if (rc != MOSQ_ERR_SUCCESS || mosquitto_socket(m->mosq) < 0) {
		if (rc == MOSQ_ERR_ERRNO)
			log_warn("event=mqtt_connect_failed addr=%s reason=\"%s\"", addr,
				 strerror(errno));
		else
			log_warn("event=mqtt_connect_failed addr=%s reason=\"%s\"", addr,
				 mosquitto_strerror(rc));
		mqtt_lost(m, rc);
		return;
	}
	mqtt_watch(m);
}

static void
mqtt_resolved(void *arg, const char *err, char addrs[][RESOLVE_ADDR_LEN], int n)
{
	struct mqtt *m = arg;
	const char *a;

	m->lookup = NULL;
	if (err != NULL) {
		log_warn("event=mqtt_resolve_failed host=%s reason=\"%s\"", m->host, err);
		m->attempt--; /* the lookup failed, not an address */
		mqtt_lost(m, MOSQ_ERR_EAI);
		return;
	}
	a = addrs[m->attempt % n];
	if (strcmp(a, m->addr) != 0)
		log_info("event=mqtt_resolved host=%s addr=%s addrs=%d", m->host, a, n);
	str_copy(m->addr, a, sizeof(m->addr));
	mqtt_connect_addr(m, a);
}

/* A name is looked up first, on the loop, each time: a broker that moved
 * (failover by DNS) is found again. libmosquitto is given the address. */
static void
mqtt_try_connect(struct mqtt *m)
{
	if (m->lookup != NULL)
		return;
	if (!resolve_is_name(m->host)) {
		mqtt_connect_addr(m, m->host);
		return;
	}
	m->next_try = now_mono() + 3600; /* until the answer plans otherwise */
	m->lookup = resolve_start(m->res, m->host, mqtt_resolved, m);
}

static void
mqtt_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mqtt *m = arg;
	int rc;

	if (m->stopping)
		return;
	if (m->sock_open) {
		rc = mosquitto_loop_misc(m->mosq);
		if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN) {
			mqtt_lost(m, rc);
			return;
		}
		if (mosquitto_socket(m->mosq) < 0) { /* keepalive expired */
			mqtt_lost(m, MOSQ_ERR_KEEPALIVE);
			return;
		}
		/* Held during a commit, the socket is not looked at: a backlog
		 * arriving meanwhile (a reconnect's queue coming in behind the
		 * first packets) would go unseen until the commit returns, and
		 * a slow commit would keep the alarms in it unread. */
		if (m->hold && !m->publisher) {
			mqtt_measure_pending(m);
			if (m->cbs.read_done)
				m->cbs.read_done(m->arg);
		}
		mqtt_kick(m);
	} else if (m->started && m->lookup == NULL && now_mono() >= m->next_try) {
		mqtt_try_connect(m);
	}
}

/* Every bridge base, whole: friendly names may hold '/', so "base/+" would
 * miss some; z2mroute.c splits the name from the suffix. */
static void
mqtt_subscribe_z2m(struct mqtt *m, struct mosquitto *mosq)
{
	char base[CONF_STR_MAX], t[CONF_STR_MAX + 4];
	const char *pos = m->z2m_base;
	int rc;

	while (z2m_base_next(&pos, base, sizeof(base))) {
		snprintf(t, sizeof(t), "%s/#", base);
		rc = mosquitto_subscribe(mosq, NULL, t, 1);
		if (rc != MOSQ_ERR_SUCCESS)
			log_err("event=mqtt_subscribe_failed reason=\"%s\"",
				mosquitto_strerror(rc));
	}
}

static void
mqtt_on_connect(struct mosquitto *mosq, void *arg, int rc)
{
	struct mqtt *m = arg;
	char t[5][CONF_STR_MAX + 32];
	char *subs[5];
	int i, n = 4;

	if (rc != 0) {
		log_warn("event=mqtt_refused reason=\"%s\"",
			 mosquitto_connack_string(rc));
		return; /* the broker closes; the read path reconnects */
	}
	m->connected = true;
	m->backoff = 1;
	m->attempt = 0;
	if (m->publisher) {
		log_info("event=mqtt_out_up");
		if (m->cbs.connected)
			m->cbs.connected(m->arg);
		return;
	}
	snprintf(t[0], sizeof(t[0]), "%s/dev/+/event", m->prefix);
	snprintf(t[1], sizeof(t[1]), "%s/dev/+/status", m->prefix);
	snprintf(t[2], sizeof(t[2]), "%s/resp/+/reply", m->prefix);
	snprintf(t[3], sizeof(t[3]), "%s/resp/+/visit", m->prefix);
	if (m->owntracks) /* the phones' fixed topic tree, not under the prefix */
		snprintf(t[n++], sizeof(t[0]), "owntracks/+/+");
	for (i = 0; i < n; i++)
		subs[i] = t[i];
	rc = mosquitto_subscribe_multiple(mosq, NULL, n, subs, 1, 0, NULL);
	if (rc != MOSQ_ERR_SUCCESS)
		log_err("event=mqtt_subscribe_failed reason=\"%s\"",
			mosquitto_strerror(rc));
	mqtt_subscribe_z2m(m, mosq);
	log_info("event=mqtt_up unacked=%zu", m->unacked);
	if (m->cbs.connected)
		m->cbs.connected(m->arg);
}

static void
mqtt_on_message(struct mosquitto *mosq, void *arg, const struct mosquitto_message *msg)
{
	struct mqtt *m = arg;

	if (m->publisher)
		return; /* nothing subscribed: nothing to acknowledge either */
	m->unacked++;
	m->cbs.message(m->arg, msg->topic, msg->payload, msg->payloadlen);
}

static void
mqtt_on_log(struct mosquitto *mosq, void *arg, int level, const char *str)
{
	if (level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING))
		log_warn("event=mosquitto_log msg=\"%s\"", str);
}

static int
mqtt_read_password(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return -1;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return 0;
}

/* TLS with the broker's certificate checked against mqtt.host, although
 * libmosquitto is given an address: right after connect_async the name is
 * set on the connection and its context (see mqtt_tls_name), so OpenSSL
 * checks it while it verifies the chain, before the CONNECT (and its
 * password) is written. libmosquitto's own check, which would compare the
 * certificate with the address, is turned off. (MOSQ_OPT_SSL_CTX with
 * defaults would be neater, but libmosquitto 2.0.11 then never sets up the
 * ex-data index its verify callback needs, and refuses every certificate.) */
static void
mqtt_tls(struct mqtt *m, const char *cafile)
{
	if (mosquitto_tls_set(m->mosq, cafile, NULL, NULL, NULL, NULL) !=
		MOSQ_ERR_SUCCESS ||
	    mosquitto_tls_insecure_set(m->mosq, true) != MOSQ_ERR_SUCCESS)
		fatal("event=config_error reason=\"bad mqtt.cafile\"");
	m->tls = true;
}

/* Names the host the certificate must be for; false when it cannot, or
 * when the certificate is already in and names another host. */
static bool
mqtt_tls_name(struct mqtt *m)
{
	SSL *ssl = mosquitto_ssl_get(m->mosq);
	X509_VERIFY_PARAM *vp[2];
	X509 *peer;
	bool name = resolve_is_name(m->host);
	int i, ok;

	if (ssl == NULL)
		return false;
	/* on this connection, and on the context the next ones are made from */
	vp[0] = SSL_get0_param(ssl);
	vp[1] = SSL_CTX_get0_param(SSL_get_SSL_CTX(ssl));
	for (i = 0; i < 2; i++) {
		X509_VERIFY_PARAM_set_hostflags(vp[i],
						X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		ok = name ? X509_VERIFY_PARAM_set1_host(vp[i], m->host, 0)
			  : X509_VERIFY_PARAM_set1_ip_asc(vp[i], m->host);
		if (ok != 1)
			return false;
	}
	if (name)
		SSL_set_tlsext_host_name(ssl, m->host);
	/* libmosquitto 2.0.11 calls SSL_connect inside connect_async: on a
	 * quick loopback the server's certificate may have been verified
	 * before the name was set. Nothing has been written since (the
	 * CONNECT waits for our loop_write), so check it here. */
	peer = SSL_get0_peer_certificate(ssl);
	if (peer != NULL)
		return name ? X509_check_host(peer, m->host, 0,
					      X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
					      NULL) == 1
			    : X509_check_ip_asc(peer, m->host, 0) == 1;
	return true;
}

static struct mqtt *
mqtt_create(struct event_base *base, const struct conf *c, struct resolver *res,
	    const struct mqtt_cbs *cbs, void *arg, bool publisher)
{
	struct mqtt *m = xcalloc(1, sizeof(*m));
	char pw[256] = "", id[CONF_STR_MAX + 8];
	struct timeval tv = {0, MQTT_TICK_MS * 1000};

	m->base = base;
	m->buffered_fd = -1;
	m->res = res;
	m->cbs = *cbs;
	m->arg = arg;
	str_copy(m->host, c->mqtt_host, sizeof(m->host));
	str_copy(m->prefix, c->topic_prefix, sizeof(m->prefix));
	m->owntracks = c->owntracks;
	str_copy(m->z2m_base, c->z2m_base, sizeof(m->z2m_base));
	m->port = c->mqtt_port;
	m->keepalive = c->mqtt_keepalive;
	m->backoff = 1;
	m->rng = (unsigned)getpid() ^ (unsigned)now_wall();
	/* clean_session = false: the broker keeps our subscriptions and queues
	 * events for us while we are down. */
	m->publisher = publisher;
	snprintf(id, sizeof(id), "%s%s", c->mqtt_client_id, publisher ? "-out" : "");
	m->mosq = mosquitto_new(id, false, m);
	if (m->mosq == NULL)
		fatal("event=mqtt_init_failed reason=\"%s\"", strerror(errno));
	mosquitto_threaded_set(m->mosq, true); /* queue only: see the top */
	mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
	/* an offer written right after a PUBACK must not wait for the broker's
	 * delayed ACK (Nagle): about 40 ms on every SOS, measured by cw-sos */
	mosquitto_int_option(m->mosq, MOSQ_OPT_TCP_NODELAY, 1);
	/* A wide window drains a backlog of event acks quickly so that an offer
	 * behind them goes out soon; not unlimited: libmosquitto scans its
	 * in-flight list on every PUBACK, and ingest fell from ~30,000 to
	 * ~5,000 ev/s with no cap (measured with make bench). */
	mosquitto_max_inflight_messages_set(m->mosq, 1000);
	if (c->mqtt_username[0]) {
		if (c->mqtt_password_file[0] &&
		    mqtt_read_password(c->mqtt_password_file, pw, sizeof(pw)) < 0)
			fatal("event=config_error reason=\"cannot read %s\"",
			      c->mqtt_password_file);
		mosquitto_username_pw_set(m->mosq, c->mqtt_username, pw[0] ? pw : NULL);
		memset(pw, 0, sizeof(pw));
	}
	if (c->mqtt_cafile[0])
		mqtt_tls(m, c->mqtt_cafile);
	mosquitto_connect_callback_set(m->mosq, mqtt_on_connect);
	mosquitto_publish_callback_set(m->mosq, mqtt_on_publish);
	mosquitto_message_callback_set(m->mosq, mqtt_on_message);
	mosquitto_log_callback_set(m->mosq, mqtt_on_log);
	m->tick = event_new(base, -1, EV_PERSIST, mqtt_tick_cb, m);
	event_add(m->tick, &tv);
	return m;
}

struct mqtt *
mqtt_new(struct event_base *base, const struct conf *c, struct resolver *res,
	 const struct mqtt_cbs *cbs, void *arg)
{
	return mqtt_create(base, c, res, cbs, arg, false);
}

struct mqtt *
mqtt_new_publisher(struct event_base *base, const struct conf *c, struct resolver *res,
		   const struct mqtt_cbs *cbs, void *arg)
{
	return mqtt_create(base, c, res, cbs, arg, true);
}

int
mqtt_start(struct mqtt *m)
{
	m->started = true;
	mqtt_try_connect(m);
	return 0;
}

int
mqtt_publish(struct mqtt *m, const char *topic, const char *payload, bool retain)
{
	int rc;

	rc = mosquitto_publish(m->mosq, NULL, topic, (int)strlen(payload), payload, 1,
			       retain);
	if (rc == MOSQ_ERR_SUCCESS)
		m->unconfirmed++;
	if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN) {
		log_err("event=publish_failed topic=%s reason=\"%s\"", topic,
			mosquitto_strerror(rc));
		return -1;
	}
	mqtt_kick(m);
	return 0;
}

void
mqtt_committed(struct mqtt *m, size_t n)
{
	m->unacked = n > m->unacked ? 0 : m->unacked - n;
	if (mqtt_flush(m)) /* at once: see mqtt_read_cb */
		mqtt_kick(m);
}

void
mqtt_hold(struct mqtt *m, bool hold)
{
	if (m->hold == hold)
		return;
	m->hold = hold;
	if (!m->sock_open || m->rev == NULL)
		return;
	if (hold) {
		event_del(m->rev);
	} else {
		event_add(m->rev, NULL);
		mqtt_read_again(m);
	}
}

size_t
mqtt_backlog(const struct mqtt *m)
{
	return m->sock_open ? m->pending : 0;
}

size_t
mqtt_unconfirmed(const struct mqtt *m)
{
	return m->unconfirmed;
}

size_t
mqtt_unacked(const struct mqtt *m)
{
	return m->unacked;
}

bool
mqtt_connected(const struct mqtt *m)
{
	return m->connected;
}

void
mqtt_stop(struct mqtt *m)
{
	int i;

	m->stopping = true;
	if (m->sock_open && m->unacked == 0) {
		mosquitto_disconnect(m->mosq);
		for (i = 0; i < 100 && m->sock_open && mosquitto_want_write(m->mosq); i++)
			if (mosquitto_loop_write(m->mosq, 1) != MOSQ_ERR_SUCCESS)
				break;
	}
	if (m->rev)
		event_del(m->rev);
	if (m->wev)
		event_del(m->wev);
	if (m->buffered_fd >= 0)
		netread_detach(m->buffered_fd);
	m->buffered_fd = -1;
	m->sock_open = false;
}

void
mqtt_free(struct mqtt *m)
{
	if (m == NULL)
		return;
	if (m->rev)
		event_free(m->rev);
	if (m->wev)
		event_free(m->wev);
	if (m->tick)
		event_free(m->tick);
	resolve_cancel(m->lookup);
	mosquitto_destroy(m->mosq);
	free(m);
}
