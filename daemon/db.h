/* db.h - the asynchronous libpq adapter: one connection, pipelined jobs */
#ifndef CW_DB_H
#define CW_DB_H

#include <stdbool.h>

#include <event2/event.h>
#include <libpq-fe.h>

#define DB_QUERY_MAX 16

struct db_query {
	const char *sql;
	int nparams;
	const char *params[4];
};

/* Called once per job. ok: every statement succeeded and the implicit
 * transaction committed. res[i] is query i's last result (NULL for none);
 * the db frees them after the call. err says why on failure; lost is true
 * when the connection broke (outcome of the commit unknown). */
typedef void (*db_done_fn)(void *arg, bool ok, bool lost, PGresult **res, int n,
			   const char *err);

/* Told when the connection comes up (true) or goes down (false). */
typedef void (*db_state_fn)(void *arg, bool up);

/* setup_sql (may be NULL) runs first in every new session, which counts as
 * up only once it succeeded. A job that runs longer than job_timeout_s
 * (0 = no limit) drops the session: its done hears lost = true. */
struct resolver;

/* With res, host names in conninfo are looked up on the loop before every
 * connect and handed to libpq as hostaddr (host stays, for TLS and
 * .pgpass). */
struct db *db_new(struct event_base *base, const char *conninfo, struct resolver *res,
		  const char *setup_sql, double job_timeout_s, db_state_fn on_state,
		  void *arg);
void db_free(struct db *db);

/* Starts connecting (non-blocking); retries with backoff while it fails. */
void db_start(struct db *db);

bool db_up(const struct db *db);
bool db_idle(const struct db *db); /* up and no job in flight */
bool db_busy(const struct db *db); /* a job is in flight */

/* Sends n statements as one pipeline ending in one sync, so they run in one
 * implicit transaction. Only one job runs at a time. Returns 0 when the job
 * is under way (done is then called exactly once, never from inside
 * db_run), or -1 when it was not started: busy, down, or the session broke
 * while sending (done is not called). The query texts and params must stay
 * valid until done is called. */
int db_run(struct db *db, const struct db_query *q, int n, db_done_fn done, void *arg);

#endif
