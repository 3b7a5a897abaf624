/* http.c - the operators' HTTP server: evhttp on the daemon's one loop.
 *
 * Limits. One request per connection (every answer says Connection: close).
 * A connection must deliver its whole request within HTTP_REQUEST_S of
 * being accepted, or it is closed (a slow-loris client holds nothing for
 * long); at most [http] max_connections are open at once, beyond which
 * the listener pauses and the kernel's backlog waits. Headers over
 * HTTP_HEADERS_MAX get 431, bodies over HTTP_BODY_MAX 413.
 *
 * Libevent frees a connection when it is done with it and tells nobody we
 * can rely on, so each connection's bufferevent (made here, by the bevcb)
 * carries one extra reference: a freed one is recognised by its cleared
 * callbacks on the next sweep, and only then released.
 *
 * Tokens: SHA-256 (libcrypto) of the presented token, compared with every
 * active user's hash in constant time. The users are read again every
 * USERS_REFRESH_S from the database, so a revoked token stops working
 * within a second without a restart.
 *
 * Audit: every action (POST) and every request refused for its token or
 * role is one audit_log row, in the batch being built: an applied action's
 * row commits with the change itself. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "carewatchd.h"
#include "csv.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "reader.h"
#include "store.h"
#include "util.h"

#define HTTP_REQUEST_S	10.0 /* to deliver a whole request */
#define HTTP_IO_S	30   /* libevent's read/write timeout */
#define USERS_REFRESH_S 0.5
#define SSE_KEEPALIVE_S 15
#define AUDIT_BODY_MAX	4096
#define BIND_RETRY_S	5

struct conn {
	struct bufferevent *bev; /* holds one reference of ours */
	double accepted_at;
	bool answering;		/* a request arrived: no longer timed */
	struct sse_client *sse; /* the event stream on it, if any */
};

static struct event_base *http_base;

/* --- connections ---------------------------------------------------------- */

static struct bufferevent *
bev_cb(struct event_base *base, void *arg)
{
	struct http *h = arg;
	struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	struct conn *c;

	if (bev == NULL)
		return NULL;
	bufferevent_incref(bev);
	c = xcalloc(1, sizeof(*c));
	c->bev = bev;
	c->accepted_at = now_mono();
	if (h->nconns == h->conns_cap) {
		h->conns_cap = h->conns_cap ? h->conns_cap * 2 : 64;
		h->conns = xrealloc(h->conns, h->conns_cap * sizeof(*h->conns));
	}
	h->conns[h->nconns++] = c;
	if (h->nconns >= h->max_conns && h->sock && !h->listening_paused) {
		evconnlistener_disable(evhttp_bound_socket_get_listener(h->sock));
		h->listening_paused = true;
		log_warn("event=http_busy connections=%zu (new ones wait)", h->nconns);
	}
	return bev;
}

/* Whether libevent has freed the connection of bev: bufferevent_free
 * clears every callback and its argument. */
static bool
bev_released(struct bufferevent *bev, struct evhttp_connection **evcon)
{
	bufferevent_data_cb rd, wr;
	bufferevent_event_cb ev;
	void *arg;

	bufferevent_getcb(bev, &rd, &wr, &ev, &arg);
	*evcon = arg;
	return ev == NULL && arg == NULL && rd == NULL && wr == NULL;
}

static struct conn *
conn_of(struct http *h, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev;
	size_t i;

	if (evcon == NULL)
		return NULL;
	bev = evhttp_connection_get_bufferevent(evcon);
	for (i = h->nconns; i-- > 0;)
		if (h->conns[i]->bev == bev)
			return h->conns[i];
	return NULL;
}

void
http_conn_answering(struct http *h, struct evhttp_request *req, void *sse)
{
	struct conn *c = conn_of(h, req);

	if (c == NULL)
		return;
	c->answering = true;
	if (sse)
		c->sse = sse;
}

void
http_conn_sse_gone(struct http *h, const struct sse_client *s)
{
	size_t i;

	for (i = 0; i < h->nconns; i++)
		if (h->conns[i]->sse == s)
			h->conns[i]->sse = NULL;
}

size_t
http_connections(const struct http *h)
{
	return h ? h->nconns : 0;
}

/* Releases connections libevent is done with and closes those that have
 * not delivered a request in time. */
static void
sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http *h = arg;
	struct evhttp_connection *evcon;
	double now = now_mono();
	size_t i = 0;

	(void)fd;
	(void)what;
	while (i < h->nconns) {
		struct conn *c = h->conns[i];

		if (bev_released(c->bev, &evcon)) {
			/* A stream still set here is one whose close was never
			 * reported: any other end clears c->sse. */
			if (c->sse)
				sse_drop_conn(h, c->sse);
			bufferevent_decref(c->bev);
			free(c);
			h->conns[i] = h->conns[--h->nconns];
			continue;
		}
		if (!c->answering && now - c->accepted_at > HTTP_REQUEST_S && evcon) {
			log_debug("event=http_slow_request closed=1");
			evhttp_connection_free(evcon); /* released on the next sweep */
		}
		i++;
	}
	if (h->listening_paused && h->nconns < h->max_conns && h->sock) {
		evconnlistener_enable(evhttp_bound_socket_get_listener(h->sock));
		h->listening_paused = false;
		log_info("event=http_accepting connections=%zu", h->nconns);
	}
}

/* --- users ------------------------------------------------------------- */

static int
role_parse(const char *s)
{
	if (strcmp(s, "operator") == 0)
		return ROLE_OPERATOR;
	if (strcmp(s, "supervisor") == 0)
		return ROLE_SUPERVISOR;
	if (strcmp(s, "auditor") == 0)
		return ROLE_AUDITOR;
	return 0;
}

const char *
http_role_name(int r)
{
	return r == ROLE_OPERATOR     ? "operator"
	       : r == ROLE_SUPERVISOR ? "supervisor"
				      : "auditor";
}

static int
hex_decode(const char *hex, unsigned char *out, size_t n)
{
	size_t i;
	unsigned v;

	if (strlen(hex) != 2 * n)
		return -1;
	for (i = 0; i < n; i++) {
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (unsigned char)v;
	}
	return 0;
}

static void
users_done_cb(void *arg, bool ok, bool lost, PGresult **res, int n, const char *err)
{
	struct http *h = arg;
	struct user *u;
	PGresult *r;
	int i, k = 0;

	(void)lost;
	h->users_loading = false;
	if (!ok || n < 1 || res[0] == NULL || PQresultStatus(res[0]) != PGRES_TUPLES_OK) {
		if (now_mono() - h->users_failed_logged > 60) {
			log_warn("event=users_unreadable reason=\"%s\" (the last list "
				 "read stays in force)",
				 err ? err : "no result");
			h->users_failed_logged = now_mono();
		}
		return;
	}
	r = res[0];
	u = xcalloc((size_t)PQntuples(r) + 1, sizeof(*u));
	for (i = 0; i < PQntuples(r); i++) {
		struct user *x = &u[k];

		if (str_copy(x->name, PQgetvalue(r, i, 0), sizeof(x->name)) < 0 ||
		    (x->role = role_parse(PQgetvalue(r, i, 1))) == 0 ||
		    str_copy(x->prefix, PQgetvalue(r, i, 2), sizeof(x->prefix)) < 0 ||
		    hex_decode(PQgetvalue(r, i, 3), x->hash, sizeof(x->hash)) < 0 ||
		    str_copy(x->area, PQgetvalue(r, i, 4), sizeof(x->area)) < 0)
			continue;
		k++;
	}
	OPENSSL_cleanse(h->users, h->nusers * sizeof(*h->users));
	free(h->users);
	h->users = u;
	h->nusers = (size_t)k;
	if (!h->users_loaded)
		log_info("event=users_loaded users=%d", k);
	h->users_loaded = true;
}

static void
users_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http *h = arg;
	struct db_query q = {"SELECT name, role, area_prefix, token_sha256, "
			     "coalesce(area_code, '') FROM users "
			     "WHERE revoked_at IS NULL",
			     0,
			     {NULL}};

	(void)fd;
	(void)what;
	if (h->users_loading)
		return;
	if (reader_query(h->e->rd, &q, 1, users_done_cb, h) == 0)
		h->users_loading = true;
}

/* Finds the user whose token this is: every hash is compared, in constant
 * time, whatever matched before. */
static bool
token_user(struct http *h, const char *token, struct user *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	bool found = false;
	size_t i;

	if (EVP_Digest(token, strlen(token), md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != 32)
		return false;
	for (i = 0; i < h->nusers; i++)
		if (CRYPTO_memcmp(md, h->users[i].hash, 32) == 0 && !found) {
			*out = h->users[i];
			found = true;
		}
	OPENSSL_cleanse(md, sizeof(md));
	return found;
}

/* --- answers -------------------------------------------------------------- */

static const char *
reason_phrase(int code)
{
	switch (code) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 413:
		return "Payload Too Large";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	default:
		return code < 400 ? "OK" : "Error";
	}
}

static void
call_unlink(struct call *c)
{
	if (c->h == NULL)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else if (c->h->calls == c)
		c->h->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

static void
call_free(struct call *c)
{
	call_unlink(c);
	if (c->query) {
		evhttp_clear_headers(c->query);
		free(c->query);
	}
	free(c->body);
	json_decref(c->json);
	json_decref(c->answer);
	free(c);
}

void
http_audit(struct call *c, int code, const char *result)
{
	struct engine *e;
	json_t *row;
	int line;

	if (c->audited || c->h == NULL)
		return;
	c->audited = true;
	e = c->h->e;
	row = json_object();
	json_object_set_new(row, "at", json_real(now_wall()));
	json_object_set_new(row, "a", json_string(c->authed ? c->user.name : "-"));
	json_object_set_new(row, "r",
			    c->authed ? json_string(http_role_name(c->user.role))
				      : json_null());
	json_object_set_new(row, "s", json_string(c->source));
	json_object_set_new(row, "p", json_string(c->peer));
	json_object_set_new(row, "w", json_string(c->action));
	json_object_set_new(row, "i",
			    c->incident_id ? json_integer(c->incident_id) : json_null());
	if (c->body_len == 0)
		json_object_set_new(row, "b", json_null());
	else if (c->body_len <= AUDIT_BODY_MAX &&
		 csv_check_utf8(c->body, c->body_len, &line) == 0 &&
		 memchr(c->body, '\0', c->body_len) == NULL)
		json_object_set_new(row, "b", json_string(c->body));
	else
		json_object_set_new(row, "b",
				    json_sprintf("(%zu bytes, not kept)", c->body_len));
	json_object_set_new(row, "c", json_integer(code));
	json_object_set_new(row, "x", json_string(result ? result : ""));
	batch_add(e->next, Q_AUDIT, row);
	engine_kick(e);
}

void
http_reply(struct call *c, int code, json_t *body)
{
	struct evkeyvalq *hd;
	struct evbuffer *buf;
	char *text;

	if (c->audit || code == 401 || code == 403) {
		json_t *err = body ? json_object_get(body, "error") : NULL;

		http_audit(c, code, err ? json_string_value(err) : "ok");
	}
	if (c->h)
		metrics_http(&c->h->e->m, code);
	if (c->req != NULL) {
		hd = evhttp_request_get_output_headers(c->req);
		evhttp_add_header(hd, "Content-Type", "application/json; charset=utf-8");
		evhttp_add_header(hd, "Cache-Control", "no-store");
		evhttp_add_header(hd, "X-Content-Type-Options", "nosniff");
		evhttp_add_header(hd, "Connection", "close");
		if (code == 401)
			evhttp_add_header(hd, "WWW-Authenticate",
					  "Bearer realm=\"carewatch\"");
		buf = evbuffer_new();
		if (body == NULL)
			body = json_object();
		text = json_dumps(body, JSON_COMPACT);
		if (buf && text) {
			evbuffer_add(buf, text, strlen(text));
			evbuffer_add(buf, "\n", 1);
		}
		evhttp_send_reply(c->req, code, reason_phrase(code), buf);
		if (buf)
			evbuffer_free(buf);
		free(text);
		c->req = NULL;
	}
	json_decref(body);
	call_free(c);
}

void
http_reply_raw(struct call *c, const char *content_type, struct evbuffer *buf)
{
	struct evkeyvalq *hd = evhttp_request_get_output_headers(c->req);

	evhttp_add_header(hd, "Content-Type", content_type);
	evhttp_add_header(hd, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(hd, "Connection", "close");
	evhttp_send_reply(c->req, 200, "OK", buf);
	c->req = NULL;
	http_reply(c, 200, NULL); /* counts and frees the call: the answer is sent */
}

void
http_error(struct call *c, int code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	http_reply(c, code, json_pack("{s:s}", "error", msg));
}

static void
commit_cb(void *arg, bool ok)
{
	struct call *c = arg;

	if (!ok) {
		json_decref(c->answer);
		c->answer = NULL;
		c->audit = false; /* its row went with the change */
		http_error(c, 503, "not committed: the daemon is stopping");
		return;
	}
	http_reply(c, c->answer_code, c->answer ? json_incref(c->answer) : NULL);
}

void
http_after_commit(struct call *c, int code, json_t *answer)
{
	struct engine *e = c->h->e;

	c->answer_code = code;
	c->answer = answer;
	http_audit(c, code, "ok");
	http_conn_answering(c->h, c->req, NULL);
	engine_after_commit(e, commit_cb, c);
}

bool
http_in_scope(const struct call *c, const char *area_code)
{
	size_t n = strlen(c->user.prefix);

	if (n == 0)
		return true;
	return area_code != NULL && strncmp(area_code, c->user.prefix, n) == 0;
}

/* --- reads ------------------------------------------------------------- */

struct read_ctx {
	struct call *c;
	void (*done)(struct call *c, PGresult *r, const char *err);
};

static void
read_done_cb(void *arg, bool ok, bool lost, PGresult **res, int n, const char *err)
{
	struct read_ctx *rc = arg;
	struct call *c = rc->c;
	void (*done)(struct call *, PGresult *, const char *) = rc->done;

	(void)lost;
	free(rc);
	if (c->h == NULL) { /* the server stopped meanwhile */
		call_free(c);
		return;
	}
	if (!ok || n < 2 || res[1] == NULL) {
		http_error(c, 503, "database read failed: %s", err ? err : "no result");
		return;
	}
	done(c, res[1], NULL); /* the result is the db's: done copies what it keeps */
}

int
http_read(struct call *c, const char *sql, const char **params, int n,
	  void (*done)(struct call *c, PGresult *r, const char *err))
{
	struct db_query q[2];
	struct read_ctx *rc;
	int i;

	memset(q, 0, sizeof(q));
	q[0].sql = "SELECT set_config('TimeZone', $1, true)";
	q[0].nparams = 1;
	q[0].params[0] = c->h->e->conf.timezone;
	q[1].sql = sql;
	q[1].nparams = n;
	for (i = 0; i < n && i < 4; i++)
		q[1].params[i] = params[i];
	rc = xcalloc(1, sizeof(*rc));
	rc->c = c;
	rc->done = done;
	if (reader_query(c->h->e->rd, q, 2, read_done_cb, rc) < 0) {
		free(rc);
		return -1;
	}
	http_conn_answering(c->h, c->req, NULL);
	return 0;
}

/* --- requests -------------------------------------------------------------- */

static size_t
headers_size(struct evhttp_request *req)
{
	struct evkeyvalq *hd = evhttp_request_get_input_headers(req);
	struct evkeyval *kv;
	size_t n = 0;

	for (kv = hd->tqh_first; kv != NULL; kv = kv->next.tqe_next)
		n += strlen(kv->key) + strlen(kv->value) + 4;
	return n;
}

static void
call_peer(struct call *c, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	const char *client = evhttp_find_header(evhttp_request_get_input_headers(req),
						"X-Carewatch-Client");
	char *addr = NULL, user[REF_ID_MAX + 1] = "";
	ev_uint16_t port = 0;
	const char *u;
	size_t i;

	if (evcon)
		evhttp_connection_get_peer(evcon, &addr, &port);
	snprintf(c->peer, sizeof(c->peer), "%s:%u", addr ? addr : "?", (unsigned)port);
	c->source = "http";
	/* The command-line tool says so, and names its Unix user: recorded
	 * as it says (it cannot be checked over TCP), beside the address. */
	if (client && strncmp(client, "cli", 3) == 0 &&
	    (client[3] == '\0' || client[3] == ';')) {
		c->source = "cli";
		if ((u = strstr(client, "user=")) != NULL) {
			u += 5;
			for (i = 0; u[i] && i < sizeof(user) - 1; i++)
				user[i] =
				    (isalnum((unsigned char)u[i]) || strchr("._-", u[i]))
					? u[i]
					: '?';
			user[i] = '\0';
			snprintf(c->peer + strlen(c->peer),
				 sizeof(c->peer) - strlen(c->peer), " (unix user %s)",
				 user);
		}
	}
}

/* Whether the request has Content-Length headers that disagree: libevent
 * reads the body by the first one, and RFC 9112 (6.3) wants such a
 * request refused, not guessed at. */
static bool
length_conflict(struct evhttp_request *req)
{
	struct evkeyvalq *hd = evhttp_request_get_input_headers(req);
	const char *first = NULL;
	struct evkeyval *kv;

	for (kv = hd->tqh_first; kv != NULL; kv = kv->next.tqe_next) {
		if (strcasecmp(kv->key, "Content-Length") != 0)
			continue;
		if (first && strcmp(first, kv->value) != 0)
			return true;
		first = kv->value;
	}
	return false;
}

/* Reads the body into c (NUL-terminated). */
static void
call_body(struct call *c, struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);

	c->body_len = evbuffer_get_length(in);
	c->body = xcalloc(1, c->body_len + 1);
	if (c->body_len)
		evbuffer_copyout(in, c->body, c->body_len);
}

static void
request_cb(struct evhttp_request *req, void *arg)
{
	struct http *h = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
	const char *auth;
	struct call *c = xcalloc(1, sizeof(*c));

	/* the whole request is in: from now on libevent's write timeout, not
	 * the request deadline, bounds the connection */
	http_conn_answering(h, req, NULL);
	c->h = h;
	c->req = req;
	c->method = evhttp_request_get_command(req);
	c->next = h->calls;
	if (h->calls)
		h->calls->prev = c;
	h->calls = c;
	call_peer(c, req);
	call_body(c, req);
	snprintf(c->action, sizeof(c->action), "%s %.40s",
		 c->method == EVHTTP_REQ_POST ? "POST" : "GET", path ? path : "?");
	if (path == NULL || str_copy(c->path, path, sizeof(c->path)) < 0) {
		http_error(c, 404, "no such path");
		return;
	}
	if (headers_size(req) > HTTP_HEADERS_MAX) {
		http_error(c, 431, "request headers over %d bytes", HTTP_HEADERS_MAX);
		return;
	}
	if (length_conflict(req)) {
		http_error(c, 400, "conflicting Content-Length headers");
		return;
	}
	if (c->body_len > HTTP_BODY_MAX) {
		http_error(c, 413, "request body over %d bytes", HTTP_BODY_MAX);
		return;
	}
	c->query = xcalloc(1, sizeof(*c->query));
	TAILQ_INIT(c->query);
	if (query && evhttp_parse_query_str(query, c->query) < 0) {
		http_error(c, 400, "bad query string");
		return;
	}
	if (evhttp_find_header(c->query, "token") ||
	    evhttp_find_header(c->query, "access_token")) {
		http_error(c, 400,
			   "a token in the URL is refused (it ends up in logs): "
			   "send Authorization: Bearer TOKEN");
		return;
	}
	/* The console page and the health check need no token. */
	if (strcmp(c->path, "/healthz") == 0 || strcmp(c->path, "/") == 0 ||
	    strcmp(c->path, "/index.html") == 0) {
		api_route(c);
		return;
	}
	auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	if (auth == NULL) {
		http_error(c, 401, "token required: Authorization: Bearer TOKEN");
		return;
	}
	if (strncasecmp(auth, "Bearer ", 7) != 0) {
		http_error(c, 401, "bad Authorization: Bearer TOKEN expected");
		return;
	}
	if (!h->users_loaded) {
		http_error(c, 503, "starting: the users are not read yet");
		return;
	}
	if (!token_user(h, auth + 7, &c->user)) {
		http_error(c, 401, "bad or revoked token");
		return;
	}
	c->authed = true;
	api_route(c);
}

/* --- life cycle ---------------------------------------------------------- */

static int
http_bind(struct http *h)
{
	char host[256];
	const char *colon = strrchr(h->listen, ':');
	long port;
	char *end;

	if (colon == NULL || colon == h->listen ||
	    (size_t)(colon - h->listen) >= sizeof(host))
		return -1;
	memcpy(host, h->listen, (size_t)(colon - h->listen));
	host[colon - h->listen] = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 1 || port > 65535)
		return -1;
	h->sock = evhttp_bind_socket_with_handle(h->http, host, (ev_uint16_t)port);
	return h->sock ? 0 : -1;
}

static void
bind_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http *h = arg;
	struct timeval tv = {BIND_RETRY_S, 0};

	(void)fd;
	(void)what;
	if (http_bind(h) == 0) {
		log_info("event=http_listening listen=%s", h->listen);
		return;
	}
	log_err("event=http_bind_failed listen=%s reason=\"%s\" retry_s=%d", h->listen,
		strerror(errno), BIND_RETRY_S);
	evtimer_add(h->bind_ev, &tv);
}

static void
keepalive_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sse_keepalive(arg);
}

struct http *
http_new(struct engine *e, struct event_base *base, const char *listen)
{
	struct http *h;
	struct timeval sweep = {0, 250000}, users = {0, (long)(USERS_REFRESH_S * 1e6)},
		       ka = {SSE_KEEPALIVE_S, 0};

	if (listen == NULL || listen[0] == '\0' || strcmp(listen, "off") == 0)
		return NULL;
	h = xcalloc(1, sizeof(*h));
	h->e = e;
	http_base = base;
	str_copy(h->listen, listen, sizeof(h->listen));
	h->max_conns = (size_t)e->conf.http_max_connections;
	h->http = evhttp_new(base);
	evhttp_set_gencb(h->http, request_cb, h);
	evhttp_set_bevcb(h->http, bev_cb, h);
	evhttp_set_timeout(h->http, HTTP_IO_S);
	/* libevent's own limits sit above ours, so that ours answer in JSON */
	evhttp_set_max_headers_size(h->http, 8 * HTTP_HEADERS_MAX);
	evhttp_set_max_body_size(h->http, 2 * HTTP_BODY_MAX);
	evhttp_set_allowed_methods(
	    h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
			 EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	h->sweep_ev = event_new(base, -1, EV_PERSIST, sweep_cb, h);
	event_add(h->sweep_ev, &sweep);
	h->users_ev = event_new(base, -1, EV_PERSIST, users_cb, h);
	event_add(h->users_ev, &users);
	h->keepalive_ev = event_new(base, -1, EV_PERSIST, keepalive_cb, h);
	event_add(h->keepalive_ev, &ka);
	h->bind_ev = evtimer_new(base, bind_cb, h);
	bind_cb(-1, 0, h);
	users_cb(-1, 0, h);
	return h;
}

void
http_free(struct http *h)
{
	struct call *c, *next;
	size_t i;

	if (h == NULL)
		return;
	sse_free_all(h);
	/* Calls that wait are answered now; what they wait for frees them. */
	for (c = h->calls; c; c = next) {
		next = c->next;
		if (c->req) {
			evhttp_send_error(c->req, 503, "Service Unavailable");
			c->req = NULL;
		}
		c->h = NULL;
		c->prev = c->next = NULL;
	}
	h->calls = NULL;
	evhttp_free(h->http);
	for (i = 0; i < h->nconns; i++) {
		bufferevent_decref(h->conns[i]->bev);
		free(h->conns[i]);
	}
	free(h->conns);
	event_free(h->sweep_ev);
	event_free(h->users_ev);
	event_free(h->keepalive_ev);
	event_free(h->bind_ev);
	OPENSSL_cleanse(h->users, h->nusers * sizeof(*h->users));
	free(h->users);
	free(h);
}
