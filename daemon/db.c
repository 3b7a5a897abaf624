/* db.c - libpq without blocking: PQconnectStart/Poll, pipeline mode, events
 * re-armed from libpq's own state (PQflush, PQisBusy). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "resolve.h"
#include "util.h"

#define DB_HOSTS_MAX 8

enum db_phase { DB_DOWN, DB_CONNECTING, DB_UP };

struct db {
	struct event_base *base;
	char *conninfo;
	/* host names looked up on the loop before libpq connects (it would
	 * call getaddrinfo and block): one entry per host of the conninfo */
	struct resolver *resolver;
	struct resolve_req *lookup;
	int nhosts, cur_host;
	char *hosts[DB_HOSTS_MAX];
	char addrs[DB_HOSTS_MAX][RESOLVE_ADDRS_MAX * RESOLVE_ADDR_LEN]; /* ','-joined */
	char *setup_sql;	/* run once per session before it counts as up */
	double job_timeout_s;	/* a job still running after this loses the session */
	struct event *deadline; /* of the job in flight */
	bool ready;		/* the session's setup statement has run */
	PGconn *conn;
	enum db_phase phase;
	PostgresPollingStatusType poll;
	struct event *rev, *wev, *retry;
	double backoff;
	db_state_fn on_state;
	void *arg;
	/* the job in flight */
	bool busy;
	int nq, cur;
	PGresult *res[DB_QUERY_MAX];
	bool failed;
	char err[256];
	db_done_fn done;
	void *done_arg;
};

static void db_io_cb(evutil_socket_t fd, short what, void *arg);

static void db_deadline_cb(evutil_socket_t fd, short what, void *arg);
static int db_send(struct db *db, const struct db_query *q, int n, db_done_fn done,
		   void *arg);

struct db *
db_new(struct event_base *base, const char *conninfo, struct resolver *res,
       const char *setup_sql, double job_timeout_s, db_state_fn on_state, void *arg)
{
	struct db *db = xcalloc(1, sizeof(*db));

	db->base = base;
	db->conninfo = xstrdup(conninfo);
	db->resolver = res;
	db->setup_sql = setup_sql ? xstrdup(setup_sql) : NULL;
	db->job_timeout_s = job_timeout_s;
	db->deadline = evtimer_new(base, db_deadline_cb, db);
	db->on_state = on_state;
	db->arg = arg;
	db->backoff = 0.5;
	return db;
}

static void
db_clear_results(struct db *db)
{
	int i;

	for (i = 0; i < DB_QUERY_MAX; i++) {
		if (db->res[i])
			PQclear(db->res[i]);
		db->res[i] = NULL;
	}
}

static void
db_events_free(struct db *db)
{
	if (db->rev) {
		event_free(db->rev);
		db->rev = NULL;
	}
	if (db->wev) {
		event_free(db->wev);
		db->wev = NULL;
	}
}

/* Ends the job in flight and tells its owner. */
static void
db_finish(struct db *db, bool ok, bool lost)
{
	db_done_fn done = db->done;

	if (!db->busy)
		return;
	evtimer_del(db->deadline);
	db->busy = false;
	db->done = NULL;
	done(db->done_arg, ok, lost, db->res, db->nq, ok ? NULL : db->err);
	db_clear_results(db);
}

static void
db_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	db_start(arg);
}

/* Drops the connection, fails the job in flight and schedules a retry. */
static void
db_lost(struct db *db, const char *why)
{
	struct timeval tv;
	bool was_up = db->phase == DB_UP && db->ready;

	log_warn("event=db_down reason=\"%s\" retry_in_s=%.1f", why, db->backoff);
	db_events_free(db);
	if (db->conn) {
		PQfinish(db->conn);
		db->conn = NULL;
	}
	db->phase = DB_DOWN;
	db->ready = false;
	if (db->busy) {
		snprintf(db->err, sizeof(db->err), "connection lost: %s", why);
		db_finish(db, false, true);
	}
	if (was_up && db->on_state)
		db->on_state(db->arg, false);
	if (db->retry == NULL)
		db->retry = evtimer_new(db->base, db_retry_cb, db);
	tv.tv_sec = (long)db->backoff;
	tv.tv_usec = (long)((db->backoff - (double)tv.tv_sec) * 1e6);
	evtimer_add(db->retry, &tv);
	db->backoff = db->backoff * 2 > 30 ? 30 : db->backoff * 2;
}

static void
db_watch(struct db *db, bool want_write)
{
	if (db->rev == NULL) {
		evutil_socket_t fd = PQsocket(db->conn);

		db->rev = event_new(db->base, fd, EV_READ | EV_PERSIST, db_io_cb, db);
		db->wev = event_new(db->base, fd, EV_WRITE, db_io_cb, db);
		event_add(db->rev, NULL);
	}
	if (want_write)
		event_add(db->wev, NULL);
	else
		event_del(db->wev);
}

/* Splits list at ',' into out (libpq's multi-host syntax). */
static int
db_split(const char *list, char **out, int max)
{
	const char *p = list, *c;
	int n = 0;

	while (n < max) {
		c = strchr(p, ',');
		out[n++] = xstrndup(p, c ? (size_t)(c - p) : strlen(p));
		if (c == NULL)
			break;
		p = c + 1;
	}
	return n;
}

static void
db_hosts_clear(struct db *db)
{
	int i;

	for (i = 0; i < db->nhosts; i++)
		free(db->hosts[i]);
	db->nhosts = 0;
}

/* The conninfo's hosts, when one of them is a name to look up; 0 when libpq
 * needs no lookup (hostaddr given, numeric hosts, Unix sockets). */
static int
db_plan_hosts(struct db *db, PQconninfoOption *opts)
{
	const char *host = NULL, *hostaddr = NULL;
	PQconninfoOption *o;
	int i;

	for (o = opts; o && o->keyword; o++) {
		if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "hostaddr") == 0)
			hostaddr = o->val;
	}
	if (host == NULL || host[0] == '\0')
		host = getenv("PGHOST");
	if (hostaddr == NULL || hostaddr[0] == '\0')
		hostaddr = getenv("PGHOSTADDR");
	db_hosts_clear(db);
	if (host == NULL || (hostaddr != NULL && hostaddr[0] != '\0'))
		return 0;
	db->nhosts = db_split(host, db->hosts, DB_HOSTS_MAX);
	for (i = 0; i < db->nhosts; i++)
		if (resolve_is_name(db->hosts[i]))
			return db->nhosts;
	db_hosts_clear(db);
	return 0;
}

/* Joins the entries of the looked-up hosts: host=a,a,b hostaddr=1,2,3
 * port=p,p,q (a name with two addresses is two entries). */
static void
db_join(struct db *db, const char *ports, char **host, char **addr, char **port)
{
	char *pv[DB_HOSTS_MAX];
	size_t cap = 64;
	int np = ports && ports[0] ? db_split(ports, pv, DB_HOSTS_MAX) : 0, i;
	bool first = true;

	for (i = 0; i < db->nhosts; i++)
		cap += (strlen(db->hosts[i]) + 8) * RESOLVE_ADDRS_MAX +
		       strlen(db->addrs[i]) +
		       (np ? strlen(pv[i < np ? i : 0]) + 1 : 0) * RESOLVE_ADDRS_MAX;
	*host = xcalloc(1, cap);
	*addr = xcalloc(1, cap);
	*port = xcalloc(1, cap);
	for (i = 0; i < db->nhosts; i++) {
		const char *a = db->addrs[i], *c;

		if (!resolve_is_name(db->hosts[i])) { /* as it was: libpq copes */
			a = "";
			c = NULL;
		}
		for (;;) {
			c = strchr(a, ',');
			if (!first) {
				strcat(*host, ",");
				strcat(*addr, ",");
				strcat(*port, ",");
			}
			first = false;
			strcat(*host, db->hosts[i]);
			{
				size_t al = strlen(*addr),
				       k = c ? (size_t)(c - a) : strlen(a);

				memcpy(*addr + al, a, k);
				(*addr)[al + k] = '\0';
			}
			if (np)
				strcat(*port, pv[np == 1 ? 0 : i < np ? i : 0]);
			if (c == NULL)
				break;
			a = c + 1;
		}
	}
	for (i = 0; i < np; i++)
		free(pv[i]);
}

static void
db_connect(struct db *db, PQconninfoOption *opts)
{
	const char *kw[64], *val[64];
	char *host = NULL, *addr = NULL, *port = NULL;
	const char *ports = NULL;
	PQconninfoOption *o;
	int n = 0;

	if (opts == NULL || db->nhosts == 0) {
		db->conn = PQconnectStart(db->conninfo);
	} else {
		for (o = opts; o->keyword && n < 60; o++) {
			if (strcmp(o->keyword, "port") == 0)
				ports = o->val;
			if (o->val == NULL || strcmp(o->keyword, "host") == 0 ||
			    strcmp(o->keyword, "hostaddr") == 0 ||
			    strcmp(o->keyword, "port") == 0)
				continue;
			kw[n] = o->keyword;
			val[n++] = o->val;
		}
		if (ports == NULL)
			ports = getenv("PGPORT");
		db_join(db, ports, &host, &addr, &port);
		kw[n] = "host";
		val[n++] = host;
		kw[n] = "hostaddr";
		val[n++] = addr;
		if (port[0]) {
			kw[n] = "port";
			val[n++] = port;
		}
		kw[n] = NULL;
		val[n] = NULL;
		db->conn = PQconnectStartParams(kw, val, 0);
		free(host);
		free(addr);
		free(port);
	}
	if (db->conn == NULL) {
		db_lost(db, "out of memory");
		return;
	}
	if (PQstatus(db->conn) == CONNECTION_BAD) {
		db_lost(db, PQerrorMessage(db->conn));
		return;
	}
	db->phase = DB_CONNECTING;
	db->poll = PGRES_POLLING_WRITING;
	db_watch(db, true);
}

static void db_lookup_next(struct db *db);

static void
db_resolved(void *arg, const char *err, char addrs[][RESOLVE_ADDR_LEN], int n)
{
	struct db *db = arg;
	char *a = db->addrs[db->cur_host];
	int i;

	db->lookup = NULL;
	a[0] = '\0';
	if (err != NULL)
		log_warn("event=db_resolve_failed host=%s reason=\"%s\"",
			 db->hosts[db->cur_host], err);
	for (i = 0; i < n; i++) {
		if (i > 0)
			strcat(a, ",");
		strcat(a, addrs[i]);
	}
	db->cur_host++;
	db_lookup_next(db);
}

/* Looks the next host name up, or connects once all have answered. */
static void
db_lookup_next(struct db *db)
{
	PQconninfoOption *opts;
	int i, found = 0;
	char *err = NULL;

	while (db->cur_host < db->nhosts && !resolve_is_name(db->hosts[db->cur_host]))
		db->addrs[db->cur_host++][0] = '\0';
	if (db->cur_host < db->nhosts) {
		db->phase = DB_CONNECTING; /* looking up counts as connecting */
		db->lookup =
		    resolve_start(db->resolver, db->hosts[db->cur_host], db_resolved, db);
		return;
	}
	/* a name that gave no address is left out; nothing left is an outage */
	for (i = 0; i < db->nhosts; i++) {
		if (resolve_is_name(db->hosts[i]) && db->addrs[i][0] == '\0') {
			free(db->hosts[i]);
			memmove(&db->hosts[i], &db->hosts[i + 1],
				(size_t)(db->nhosts - i - 1) * sizeof(db->hosts[0]));
			memmove(db->addrs[i], db->addrs[i + 1],
				(size_t)(db->nhosts - i - 1) * sizeof(db->addrs[0]));
			db->nhosts--;
			i--;
			continue;
		}
		found++;
	}
	db->phase = DB_DOWN;
	if (found == 0) {
		db_lost(db, "no database host name could be looked up");
		return;
	}
	opts = PQconninfoParse(db->conninfo, &err);
	if (opts == NULL) {
		db_lost(db, "bad conninfo");
		PQfreemem(err);
		return;
	}
	db_connect(db, opts);
	PQconninfoFree(opts);
}

void
db_start(struct db *db)
{
	PQconninfoOption *opts;
	char *err = NULL;

	if (db->phase != DB_DOWN || db->lookup != NULL)
		return;
	opts = db->resolver ? PQconninfoParse(db->conninfo, &err) : NULL;
	PQfreemem(err);
	if (opts != NULL && db_plan_hosts(db, opts) > 0) {
		PQconninfoFree(opts);
		db->cur_host = 0;
		db_lookup_next(db);
		return;
	}
	if (opts != NULL)
		PQconninfoFree(opts);
	db_connect(db, NULL);
}

/* The session's setup ran: it is up for its owner now. */
static void
db_setup_done(void *arg, bool ok, bool lost, PGresult **res, int n, const char *err)
{
	struct db *db = arg;

	if (!ok) {
		if (!lost)
			db_lost(db, err ? err : "session setup failed");
		return;
	}
	db->ready = true;
	db->backoff = 0.5;
	log_info("event=db_up server_version=%d", PQserverVersion(db->conn));
	if (db->on_state)
		db->on_state(db->arg, true);
}

/* A job ran past its deadline: the server or the network hangs. The
 * statement_timeout of the session setup normally ends a slow statement
 * first; this is for what it cannot see. Drop the session: the job's owner
 * hears that the outcome is unknown, and the connection is made again. */
static void
db_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db *db = arg;
	char why[64];

	snprintf(why, sizeof(why), "no answer within %.1f s", db->job_timeout_s);
	db_lost(db, why);
}

/* One step of the non-blocking connect. */
static void
db_connect_step(struct db *db)
{
	char msg[256];

	db->poll = PQconnectPoll(db->conn);
	/* the socket may change between attempts (several hosts) */
	db_events_free(db);
	switch (db->poll) {
	case PGRES_POLLING_READING:
		db_watch(db, false);
		return;
	case PGRES_POLLING_WRITING:
		db_watch(db, true);
		return;
	case PGRES_POLLING_OK:
		break;
	default:
		log_esc(msg, sizeof(msg), PQerrorMessage(db->conn),
			strlen(PQerrorMessage(db->conn)));
		db_lost(db, msg);
		return;
	}
	if (PQsetnonblocking(db->conn, 1) != 0 || PQenterPipelineMode(db->conn) != 1) {
		db_lost(db, "cannot enter pipeline mode");
		return;
	}
	db->phase = DB_UP;
	db_watch(db, false);
	if (db->setup_sql) {
		struct db_query q = {.sql = db->setup_sql};

		/* before the session counts as up; a failed send drops it and
		 * the connection is made again */
		db_send(db, &q, 1, db_setup_done, db);
		return;
	}
	db_setup_done(db, true, false, NULL, 0, NULL);
}

/* Reads every result that has fully arrived, in pipeline order. */
static void
db_read_results(struct db *db)
{
	PGresult *r;

	while (db->busy && !PQisBusy(db->conn)) {
		r = PQgetResult(db->conn);
		if (db->cur < db->nq) {
			if (r == NULL) { /* end of this statement's results */
				db->cur++;
				continue;
			}
			switch (PQresultStatus(r)) {
			case PGRES_FATAL_ERROR:
				if (!db->failed) {
					/* not the DETAIL: it may quote row values */
					const char *m = PQresultErrorField(
					    r, PG_DIAG_MESSAGE_PRIMARY);
					const char *st =
					    PQresultErrorField(r, PG_DIAG_SQLSTATE);
					char esc[200];

					db->failed = true;
					m = m ? m : "error";
					snprintf(db->err, sizeof(db->err),
						 "%s sqlstate=%s",
						 log_esc(esc, sizeof(esc), m, strlen(m)),
						 st ? st : "?");
				}
				break;
			case PGRES_PIPELINE_ABORTED:
				db->failed = true;
				break;
			default:
				break;
			}
			if (db->res[db->cur])
				PQclear(db->res[db->cur]);
			db->res[db->cur] = r;
			continue;
		}
		/* all statements read: what remains is the sync */
		if (r == NULL)
			break;
		if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
			PQclear(r);
			db_finish(db, !db->failed, false);
			return;
		}
		PQclear(r);
	}
}

static void
db_io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db *db = arg;
	int f;

	if (db->phase == DB_CONNECTING) {
		db_connect_step(db);
		return;
	}
	if (db->phase != DB_UP)
		return;
	if (what & EV_WRITE) {
		if ((f = PQflush(db->conn)) < 0) {
			db_lost(db, "flush failed");
			return;
		}
		if (f == 1)
			event_add(db->wev, NULL);
	}
	if (what & EV_READ) {
		if (PQconsumeInput(db->conn) == 0) {
			char msg[256];

			log_esc(msg, sizeof(msg), PQerrorMessage(db->conn),
				strlen(PQerrorMessage(db->conn)));
			db_lost(db, msg);
			return;
		}
		db_read_results(db);
		if (db->conn && PQstatus(db->conn) == CONNECTION_BAD)
			db_lost(db, "connection bad");
	}
}

bool
db_up(const struct db *db)
{
	return db->phase == DB_UP && db->ready;
}

bool
db_idle(const struct db *db)
{
	return db_up(db) && !db->busy;
}

bool
db_busy(const struct db *db)
{
	return db->busy;
}

/* Drops the session after a send failed inside db_run: the job is not
 * started, so its done is not called (its caller sees -1). */
static int
db_run_failed(struct db *db, const char *why)
{
	evtimer_del(db->deadline);
	db->busy = false;
	db->done = NULL;
	db_lost(db, why);
	return -1;
}

/* Sends a job on a connected session with nothing in flight (db_run's
 * contract; the session's setup job uses it before the session is up). */
static int
db_send(struct db *db, const struct db_query *q, int n, db_done_fn done, void *arg)
{
	struct timeval tv;
	int i, f;

	db->busy = true;
	db->failed = false;
	db->err[0] = '\0';
	db->nq = n;
	db->cur = 0;
	db->done = done;
	db->done_arg = arg;
	for (i = 0; i < n; i++)
		if (PQsendQueryParams(db->conn, q[i].sql, q[i].nparams, NULL, q[i].params,
				      NULL, NULL, 0) != 1)
			return db_run_failed(db, "send failed");
	if (PQpipelineSync(db->conn) != 1)
		return db_run_failed(db, "sync failed");
	if ((f = PQflush(db->conn)) < 0)
		return db_run_failed(db, "flush failed");
	if (f == 1)
		event_add(db->wev, NULL);
	if (db->job_timeout_s > 0) {
		tv.tv_sec = (long)db->job_timeout_s;
		tv.tv_usec = (long)((db->job_timeout_s - (double)tv.tv_sec) * 1e6);
		evtimer_add(db->deadline, &tv);
	}
	return 0;
}

int
db_run(struct db *db, const struct db_query *q, int n, db_done_fn done, void *arg)
{
	if (!db_idle(db) || n < 1 || n > DB_QUERY_MAX)
		return -1;
	return db_send(db, q, n, done, arg);
}

void
db_free(struct db *db)
{
	if (db == NULL)
		return;
	db_events_free(db);
	if (db->retry)
		event_free(db->retry);
	if (db->deadline)
		event_free(db->deadline);
	free(db->setup_sql);
	resolve_cancel(db->lookup);
	db_hosts_clear(db);
	if (db->conn)
		PQfinish(db->conn);
	db_clear_results(db);
	free(db->conninfo);
	free(db);
}
