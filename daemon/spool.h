/* spool.h - the database-outage spool (SPEC §8, issue 9): the journal
 * (journal.h) written by one small thread, so that fsync never stalls the
 * event loop (STYLE.md §3); each job's end is handed back to the loop
 * through an eventfd. One job at a time, like a database job. */
#ifndef CW_SPOOL_H
#define CW_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

struct spool;

/* Called on the loop once a job is done: ok, or the one-line reason. */
typedef void (*spool_done_fn)(void *arg, bool ok, const char *err);

/* Opens dir's journal (cutting a torn tail, reported in *dropped) and
 * starts the writer thread. max_bytes bounds the journal. NULL with a
 * one-line reason in err when the directory cannot hold a journal. */
struct spool *spool_new(struct event_base *base, const char *dir, uint64_t max_bytes,
			uint64_t *dropped, char *err, size_t errlen);

/* Stops the thread after its job and closes the journal. */
void spool_free(struct spool *sp);

/* Appends rec (len bytes; taken, freed by the spool) and makes it durable:
 * written and fdatasynced. done is called on the loop, never from inside
 * this call. -1 when a job is running, or when the record would take the
 * journal past its bound (rec is freed; the caller keeps its data). */
int spool_append(struct spool *sp, char *rec, size_t len, spool_done_fn done, void *arg);

/* Empties the journal, durably, once it has been written back. */
int spool_clear(struct spool *sp, spool_done_fn done, void *arg);

/* Reads the record at *off on the loop (one pread; no job may run): 1 with
 * *rec (free() it), 0 at the end, -1 with the reason in err. */
int spool_next(struct spool *sp, uint64_t *off, char **rec, size_t *len, char *err,
	       size_t errlen);

bool spool_busy(const struct spool *sp);
uint64_t spool_bytes(const struct spool *sp); /* bytes of whole records */
uint64_t spool_max(const struct spool *sp);

#endif
