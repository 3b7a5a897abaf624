/* reader.c - the read-only connection: a FIFO of read jobs on its own
 * libpq session, one in flight at a time. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "reader.h"
#include "util.h"

#define READER_QUEUE_MAX 1024

struct read_job {
	struct db_query q[DB_QUERY_MAX];
	int n;
	db_done_fn done;
	void *arg;
	struct read_job *next;
};

struct reader {
	struct event_base *base;
	struct db *db;
	struct read_job *head, *tail, *flight;
	struct event *kick;
	size_t queued;
	bool started;
};

static void
job_free(struct read_job *j)
{
	int i, k;

	for (i = 0; i < j->n; i++) {
		free((char *)j->q[i].sql);
		for (k = 0; k < j->q[i].nparams; k++)
			free((char *)j->q[i].params[k]);
	}
	free(j);
}

static void reader_next(struct reader *rd);

static void
reader_done_cb(void *arg, bool ok, bool lost, PGresult **res, int n, const char *err)
{
	struct reader *rd = arg;
	struct read_job *j = rd->flight;

	rd->flight = NULL;
	j->done(j->arg, ok, lost, res, n, err);
	job_free(j);
	event_active(rd->kick, 0, 0); /* the next one, after db has cleaned up */
}

/* Starts the job at the head of the queue when the session is idle. */
static void
reader_next(struct reader *rd)
{
	struct read_job *j = rd->head;

	if (j == NULL || rd->flight != NULL || !db_idle(rd->db))
		return;
	rd->head = j->next;
	if (rd->head == NULL)
		rd->tail = NULL;
	rd->queued--;
	rd->flight = j;
	if (db_run(rd->db, j->q, j->n, reader_done_cb, rd) < 0) {
		/* the session broke while sending: the read is answered, not
		 * retried (its caller may ask again) */
		rd->flight = NULL;
		j->done(j->arg, false, true, NULL, 0, "connection lost");
		job_free(j);
	}
}

static void
reader_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	reader_next(arg);
}

static void
reader_state_cb(void *arg, bool up)
{
	struct reader *rd = arg;

	if (up)
		event_active(rd->kick, 0, 0);
}

struct reader *
reader_new(struct event_base *base, const char *conninfo, struct resolver *res,
	   double timeout_s)
{
	struct reader *rd = xcalloc(1, sizeof(*rd));
	char setup[160];

	snprintf(setup, sizeof(setup),
		 "SELECT set_config('default_transaction_read_only', 'on', false), "
		 "set_config('statement_timeout', '%ld', false)",
		 (long)(timeout_s * 1000));
	rd->base = base;
	rd->db = db_new(base, conninfo, res, setup, timeout_s + 2, reader_state_cb, rd);
	rd->kick = event_new(base, -1, 0, reader_kick_cb, rd);
	return rd;
}

int
reader_query(struct reader *rd, const struct db_query *q, int n, db_done_fn done,
	     void *arg)
{
	struct read_job *j;
	int i, k;

	if (n < 1 || n > DB_QUERY_MAX || rd->queued >= READER_QUEUE_MAX)
		return -1;
	j = xcalloc(1, sizeof(*j));
	for (i = 0; i < n; i++) {
		j->q[i].sql = xstrdup(q[i].sql);
		j->q[i].nparams = q[i].nparams;
		for (k = 0; k < q[i].nparams; k++)
			j->q[i].params[k] =
			    q[i].params[k] ? xstrdup(q[i].params[k]) : NULL;
	}
	j->n = n;
	j->done = done;
	j->arg = arg;
	if (rd->tail)
		rd->tail->next = j;
	else
		rd->head = j;
	rd->tail = j;
	rd->queued++;
	if (!rd->started) {
		rd->started = true;
		db_start(rd->db);
	}
	event_active(rd->kick, 0, 0);
	return 0;
}

size_t
reader_queued(const struct reader *rd)
{
	return rd->queued + (rd->flight != NULL);
}

void
reader_free(struct reader *rd)
{
	struct read_job *j, *nx;

	if (rd == NULL)
		return;
	for (j = rd->head; j; j = nx) {
		nx = j->next;
		job_free(j);
	}
	db_free(rd->db); /* a job in flight is dropped without its answer */
	if (rd->flight)
		job_free(rd->flight);
	event_free(rd->kick);
	free(rd);
}
