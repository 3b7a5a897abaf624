/* reader.h - a second, read-only database connection with a queue, for
 * reloads, API reads and reports: they never hold up an alarm's commit,
 * which has the writer connection to itself. */
#ifndef CW_READER_H
#define CW_READER_H

#include <stdbool.h>

#include <event2/event.h>

#include "db.h"

struct reader;

/* Connects lazily with conninfo; every transaction is read-only and each
 * read is bounded by timeout_s. */
struct resolver;
struct reader *reader_new(struct event_base *base, const char *conninfo,
			  struct resolver *res, double timeout_s);
void reader_free(struct reader *rd);

/* Queues n statements (copied: texts and params may go once this returns)
 * to run as one read-only transaction; done is called once, never from
 * inside this call. A read whose session breaks is answered with ok =
 * false, lost = true, and not retried. Returns -1 when the queue is full. */
int reader_query(struct reader *rd, const struct db_query *q, int n, db_done_fn done,
		 void *arg);

size_t reader_queued(const struct reader *rd);

#endif
