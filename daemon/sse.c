/* sse.c - GET /api/v1/events: every committed incident change as one
 * Server-Sent Event whose id is the history row's seq.
 *
 * The events are the history rows each batch committed (the insert returns
 * them), so what a client sees live and what it is sent again after a
 * reconnect (Last-Event-ID: the rows after it, read from the database)
 * are the same rows in the same form. While that read runs, live events
 * for the client are held, then sent after the read's rows, skipping any
 * the read already carried. A client that does not keep up (more than
 * SSE_BUF_MAX bytes unsent) is closed: it reconnects and catches up. The
 * rows of a replay are queued at once, so they may stand above that
 * limit until the client has read its way back under it. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "carewatchd.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "reader.h"
#include "store.h"
#include "util.h"

#define SSE_MAX	       64	    /* clients at once */
#define SSE_BUF_MAX    (512 * 1024) /* unsent bytes before a client is closed */
#define SSE_REPLAY_MAX 5000	    /* rows sent again; beyond, a reset */
#define SSE_WRITE_S    60

struct held {
	int64_t seq;
	char *text;
};

struct sse_client {
	struct http *h;
	struct evhttp_request *req;
	struct evhttp_connection *evcon;
	char prefix[AREA_LEN + 1];
	int64_t last; /* the last seq sent */
	size_t burst; /* unsent bytes of a replay, tolerated above SSE_BUF_MAX */
	bool catching_up;
	bool reading; /* a replay read is under way: it frees a dead client */
	bool dead;
	VEC(struct held) held;
	struct sse_client *prev, *next;
};

static void
sse_unlink(struct http *h, struct sse_client *s)
{
	if (s->h == NULL)
		return;
	if (s->prev)
		s->prev->next = s->next;
	else if (h->sse == s)
		h->sse = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
	s->h = NULL;
	h->nsse--;
	http_conn_sse_gone(h, s);
}

static void
sse_free(struct sse_client *s)
{
	size_t i;

	if (s->reading) {
		s->dead = true; /* the read's callback frees it */
		return;
	}
	for (i = 0; i < s->held.n; i++)
		free(s->held.v[i].text);
	free(s->held.v);
	free(s);
}

/* Closes a client that cannot keep up, or at shutdown. */
static void
sse_close(struct http *h, struct sse_client *s, bool graceful)
{
	struct evhttp_connection *evcon = s->evcon;
	struct evhttp_request *req = s->req;

	sse_unlink(h, s);
	evhttp_connection_set_closecb(evcon, NULL, NULL);
	s->req = NULL;
	if (graceful)
		evhttp_send_reply_end(req);
	else
		evhttp_connection_free(evcon); /* frees req too */
	sse_free(s);
}

/* libevent closes the connection: the client went away. */
static void
sse_closed_cb(struct evhttp_connection *evcon, void *arg)
{
	struct sse_client *s = arg;
	struct http *h = s->h;

	(void)evcon;
	if (h == NULL)
		return;
	sse_unlink(h, s);
	/* A request the client abandoned is ours to free: answering it does. */
	if (s->req && evhttp_request_get_connection(s->req) == NULL)
		evhttp_send_reply_end(s->req);
	s->req = NULL;
	sse_free(s);
}

void
sse_drop_conn(struct http *h, struct sse_client *s)
{
	sse_unlink(h, s);
	s->req = NULL;
	sse_free(s);
}

/* Queues text for the client; closes it (and returns false) when it has
 * more than SSE_BUF_MAX bytes unsent, not counting a replay's burst. */
static bool
sse_write(struct sse_client *s, const char *text, size_t len, bool replayed)
{
	struct evbuffer *out =
	    bufferevent_get_output(evhttp_connection_get_bufferevent(s->evcon));
	struct evbuffer *b = evbuffer_new();
	size_t before = evbuffer_get_length(out), unsent;

	if (b == NULL)
		return false;
	evbuffer_add(b, text, len);
	evhttp_send_reply_chunk(s->req, b);
	evbuffer_free(b);
	unsent = evbuffer_get_length(out);
	if (replayed && unsent > before)
		s->burst += unsent - before; /* the row with its chunk framing */
	if (unsent <= SSE_BUF_MAX) {
		s->burst = 0; /* read back under the limit */
	} else if (unsent > SSE_BUF_MAX + s->burst) {
		s->h->e->m.sse_dropped++;
		log_warn("event=sse_slow_client closed=1 unsent_bytes=%zu", unsent);
		sse_close(s->h, s, false);
		return false;
	}
	return true;
}

static bool
sse_text(struct sse_client *s, const char *text)
{
	return sse_write(s, text, strlen(text), false);
}

/* Row i of a result with SQL_HISTORY_COLUMNS as one SSE event. */
static char *
sse_format(PGresult *r, int i, int64_t *seq, const char **area)
{
	json_t *o, *at;
	char *data, *ev = NULL;
	long long n = strtoll(PQgetvalue(r, i, 0), NULL, 10);

	*seq = n;
	*area = PQgetvalue(r, i, 11);
	at = api_time(strtod(PQgetvalue(r, i, 2), NULL));
	o = json_pack(
	    "{s:I,s:I,s:s,s:o,s:s,s:s,s:s,s:s,s:i,s:s,s:b,s:s,s:s}", "seq", (json_int_t)n,
	    "incident", (json_int_t)strtoll(PQgetvalue(r, i, 1), NULL, 10), "what",
	    PQgetvalue(r, i, 3), "at", at, "actor", PQgetvalue(r, i, 4), "detail",
	    PQgetvalue(r, i, 5), "kind", PQgetvalue(r, i, 6), "type", PQgetvalue(r, i, 7),
	    "priority", atoi(PQgetvalue(r, i, 8)), "state", PQgetvalue(r, i, 9),
	    "escalated", PQgetvalue(r, i, 10)[0] == 't', "area_code",
	    PQgetvalue(r, i, 11), "elder_id", PQgetvalue(r, i, 12));
	if (o == NULL)
		return NULL;
	data = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (data && asprintf(&ev, "id: %lld\nevent: incident\ndata: %s\n\n", n, data) < 0)
		ev = NULL;
	free(data);
	return ev;
}

static bool
in_scope(const struct sse_client *s, const char *area)
{
	return s->prefix[0] == '\0' || strncmp(area, s->prefix, strlen(s->prefix)) == 0;
}

void
http_history_committed(struct http *h, PGresult *r)
{
	struct sse_client *s, *next;
	const char *area;
	int64_t seq;
	char *text;
	int i;

	if (h->sse == NULL || PQresultStatus(r) != PGRES_TUPLES_OK)
		return;
	for (i = 0; i < PQntuples(r); i++) {
		if ((text = sse_format(r, i, &seq, &area)) == NULL)
			continue;
		for (s = h->sse; s; s = next) {
			next = s->next;
			if (!in_scope(s, area))
				continue;
			if (s->catching_up) {
				struct held x = {seq, xstrdup(text)};

				VEC_PUSH(s->held, x);
			} else if (seq > s->last) {
				s->last = seq;
				sse_write(s, text, strlen(text), false);
			}
		}
		free(text);
	}
}

static void
replay_done_cb(void *arg, bool ok, bool lost, PGresult **res, int n, const char *err)
{
	struct sse_client *s = arg;
	PGresult *r = n > 0 ? res[0] : NULL;
	const char *area;
	int64_t seq;
	char *text;
	size_t k;
	int i;

	(void)lost;
	s->reading = false;
	if (s->dead || s->h == NULL) {
		sse_free(s);
		return;
	}
	if (!ok || r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK ||
	    PQntuples(r) > SSE_REPLAY_MAX) {
		/* Too much or unreadable: the client reloads instead. */
		log_info("event=sse_reset reason=\"%s\"",
			 ok && r ? "too many missed events"
				 : (err ? err : "read failed"));
		if (!sse_text(s, "event: reset\ndata: {}\n\n"))
			return;
	} else {
		for (i = 0; i < PQntuples(r); i++) {
			if ((text = sse_format(r, i, &seq, &area)) == NULL)
				continue;
			if (seq > s->last) {
				s->last = seq;
				if (!sse_write(s, text, strlen(text), true)) {
					free(text);
					return;
				}
			}
			free(text);
		}
	}
	s->catching_up = false;
	for (k = 0; k < s->held.n; k++) {
		struct held *x = &s->held.v[k];

		if (x->seq > s->last) {
			s->last = x->seq;
			if (!sse_write(s, x->text, strlen(x->text), true))
				return; /* s is freed, with what it held */
		}
	}
	for (k = 0; k < s->held.n; k++)
		free(s->held.v[k].text);
	s->held.n = 0;
}

void
sse_open(struct call *c)
{
	struct http *h = c->h;
	struct sse_client *s;
	struct evkeyvalq *hd;
	struct timeval wr = {SSE_WRITE_S, 0};
	const char *last;
	char *end, from[24];
	long long n = -1;
	struct db_query q[2];

	if (h->nsse >= SSE_MAX) {
		http_error(c, 503, "too many event-stream clients (%d)", SSE_MAX);
		return;
	}
	last =
	    evhttp_find_header(evhttp_request_get_input_headers(c->req), "Last-Event-ID");
	if (last && *last) {
		errno = 0;
		n = strtoll(last, &end, 10);
		if (*end || n < 0 || errno == ERANGE) {
			http_error(c, 400, "bad Last-Event-ID");
			return;
		}
	}
	s = xcalloc(1, sizeof(*s));
	s->h = h;
	s->req = c->req;
	s->evcon = evhttp_request_get_connection(c->req);
	str_copy(s->prefix, c->user.prefix, sizeof(s->prefix));
	s->last = n > 0 ? n : 0;
	hd = evhttp_request_get_output_headers(c->req);
	evhttp_add_header(hd, "Content-Type", "text/event-stream; charset=utf-8");
	evhttp_add_header(hd, "Cache-Control", "no-store");
	evhttp_add_header(hd, "X-Accel-Buffering", "no");
	evhttp_add_header(hd, "Connection", "close");
	evhttp_send_reply_start(c->req, 200, "OK");
	/* no read timeout (the client sends nothing); a write that cannot
	 * progress for SSE_WRITE_S ends it */
	bufferevent_set_timeouts(evhttp_connection_get_bufferevent(s->evcon), NULL, &wr);
	evhttp_connection_set_closecb(s->evcon, sse_closed_cb, s);
	http_conn_answering(h, c->req, s);
	s->next = h->sse;
	if (h->sse)
		h->sse->prev = s;
	h->sse = s;
	h->nsse++;
	c->req = NULL; /* the stream owns it now */
	http_reply(c, 200, NULL);
	if (!sse_text(s, "retry: 3000\n: connected\n\n"))
		return;
	if (n < 0)
		return;
	/* Sent again: every change after the client's last one, in its scope. */
	snprintf(from, sizeof(from), "%lld", n);
	memset(q, 0, sizeof(q));
	q[0].sql = "SELECT " SQL_HISTORY_COLUMNS " FROM incident_history "
		   "WHERE seq > $1::bigint AND ($2 = '' OR area_code LIKE $2 || '%') "
		   "ORDER BY seq LIMIT 5001";
	q[0].nparams = 2;
	q[0].params[0] = from;
	q[0].params[1] = s->prefix;
	s->catching_up = true;
	if (reader_query(h->e->rd, q, 1, replay_done_cb, s) < 0) {
		s->catching_up = false;
		sse_text(s, "event: reset\ndata: {}\n\n");
		return;
	}
	s->reading = true;
}

void
sse_keepalive(struct http *h)
{
	struct sse_client *s, *next;

	for (s = h->sse; s; s = next) {
		next = s->next;
		sse_text(s, ": keep-alive\n\n");
	}
}

void
sse_free_all(struct http *h)
{
	while (h->sse)
		sse_close(h, h->sse, true);
}
