/* http.h - the HTTP adapter (SPEC §5): evhttp on the daemon's one loop.
 * http.c runs the server (connections, limits, tokens, roles, the audit
 * rows, answers), api.c the endpoints, sse.c the live event stream. This
 * header is what the three share; the engine sees only http_new/http_free
 * and the two hooks at the end. */
#ifndef CW_HTTP_H
#define CW_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "model.h"

struct engine;

#define HTTP_BODY_MAX	 (64 * 1024) /* request bodies, bytes */
#define HTTP_HEADERS_MAX (8 * 1024)  /* request headers, bytes in all */

enum role { ROLE_AUDITOR = 1, ROLE_OPERATOR = 2, ROLE_SUPERVISOR = 4 };
#define ROLES_ANY   (ROLE_AUDITOR | ROLE_OPERATOR | ROLE_SUPERVISOR)
#define ROLES_ACT   (ROLE_OPERATOR | ROLE_SUPERVISOR)
#define ROLES_AUDIT (ROLE_AUDITOR | ROLE_SUPERVISOR)

struct user {
	char name[REF_ID_MAX + 1];
	int role;
	char prefix[AREA_LEN + 1]; /* area scope; "" = the whole county */
	char area[AREA_LEN + 1];   /* the area it was given, or "" */
	unsigned char hash[32];	   /* SHA-256 of the token */
};

/* One request, from its arrival to its answer. Calls that wait (for a
 * read or a commit) are on the server's list, so that a shutdown can
 * answer them; whatever they wait for frees them. */
struct call {
	struct http *h; /* NULL once the server is gone */
	struct evhttp_request *req;
	enum evhttp_cmd_type method;
	char path[256];
	struct evkeyvalq *query;
	struct user user;
	bool authed;
	char peer[160];
	const char *source; /* "http" or "cli" */
	char action[64];
	int64_t incident_id;
	char *body; /* the request body, NUL-terminated */
	size_t body_len;
	json_t *json; /* the body parsed, when it is JSON */
	bool audit;   /* an action: its answer is audited */
	bool audited; /* its audit row is written already */
	int answer_code;
	json_t *answer; /* the answer to send after the commit */
	struct call *prev, *next;
};

/* A connection the server tracks: to count connections, cut off those
 * that do not send a whole request in time, and find event streams whose
 * connection libevent freed. */
struct conn;
struct sse_client;

struct http {
	struct engine *e;
	struct evhttp *http;
	struct evhttp_bound_socket *sock;
	struct event *sweep_ev, *users_ev, *keepalive_ev, *bind_ev;
	struct conn **conns;
	size_t nconns, conns_cap, max_conns;
	bool listening_paused;
	struct user *users;
	size_t nusers;
	bool users_loaded, users_loading;
	double users_failed_logged;
	struct call *calls; /* waiting calls */
	struct sse_client *sse;
	size_t nsse;
	char listen[256];
};

/* http.c */
struct http *http_new(struct engine *e, struct event_base *base, const char *listen);
void http_free(struct http *h);

/* Sends the answer (body taken; NULL sends {}), audits it when the call is
 * an action or was refused for its token or role, and frees the call. */
void http_reply(struct call *c, int code, json_t *body);
/* Sends 200 with buf (not taken) as a body of another type than JSON. */
void http_reply_raw(struct call *c, const char *content_type, struct evbuffer *buf);
const char *http_role_name(int role);
void http_error(struct call *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Adds the call's audit row to the batch being built (once). */
void http_audit(struct call *c, int code, const char *result);

/* Answers code/answer once what the core has done so far is committed;
 * 503 when it never will be. */
void http_after_commit(struct call *c, int code, json_t *answer);

/* Whether an area code is inside the caller's scope. */
bool http_in_scope(const struct call *c, const char *area_code);

/* Marks the call's connection as one that is being answered (an event
 * stream, a call waiting): it is no longer timed as a slow request. */
void http_conn_answering(struct http *h, struct evhttp_request *req, void *sse);
/* Forgets the event stream s on its connection: s is unlinked and about to
 * be freed, and its address may be given to the next stream. */
void http_conn_sse_gone(struct http *h, const struct sse_client *s);
size_t http_connections(const struct http *h);

/* Runs a read on the reader connection as one read-only transaction whose
 * first statement sets the time zone: sql gets params[0..n-1] as $1..$n. */
int http_read(struct call *c, const char *sql, const char **params, int n,
	      void (*done)(struct call *c, PGresult *r, const char *err));

/* api.c: routes one authorised request. */
void api_route(struct call *c);
json_t *api_time(double t); /* RFC 3339 in the local zone, or null for 0 */

/* sse.c */
void sse_open(struct call *c);
void sse_keepalive(struct http *h);
void sse_drop_conn(struct http *h, struct sse_client *s); /* its connection is gone */
void sse_free_all(struct http *h);

/* The engine's hooks: history rows a batch committed (RETURNING of the
 * history insert), for the event stream. */
void http_history_committed(struct http *h, PGresult *res);

#endif
