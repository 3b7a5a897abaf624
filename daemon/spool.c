/* spool.c - the journal's writer thread: see spool.h.
 *
 * The loop hands one job (append and fdatasync, or clear) to the thread
 * under a mutex and returns at once. The thread does the blocking I/O,
 * records the outcome, and writes to an eventfd the loop watches; the
 * loop's callback calls the job's done. The thread touches only the
 * journal and the job; the size the loop reads is copied under the mutex. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "journal.h"
#include "log.h"
#include "spool.h"
#include "util.h"

enum job { J_NONE, J_APPEND, J_CLEAR };

struct spool {
	struct journal j;
	uint64_t max;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int efd;
	struct event *ev;
	/* under mu */
	enum job job;
	bool running; /* a job was handed over and not yet reported */
	bool stop;
	char *rec;
	size_t len;
	bool ok;
	char err[256];
	uint64_t size; /* journal bytes as of the last job */
	/* the loop's own */
	spool_done_fn done;
	void *arg;
};

static void *
writer_main(void *arg)
{
	struct spool *sp = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&sp->mu);
	for (;;) {
		enum job job;
		char err[256] = "";
		bool ok;

		while (sp->job == J_NONE && !sp->stop)
			pthread_cond_wait(&sp->cv, &sp->mu);
		if (sp->job == J_NONE) /* stop, and nothing left to do */
			break;
		job = sp->job;
		pthread_mutex_unlock(&sp->mu);
		if (job == J_APPEND)
			ok = journal_append(&sp->j, sp->rec, sp->len, err, sizeof(err)) ==
				 0 &&
			     journal_sync(&sp->j, err, sizeof(err)) == 0;
		else
			ok = journal_clear(&sp->j, err, sizeof(err)) == 0;
		pthread_mutex_lock(&sp->mu);
		free(sp->rec);
		sp->rec = NULL;
		sp->ok = ok;
		str_copy(sp->err, err, sizeof(sp->err));
		sp->size = sp->j.size;
		sp->job = J_NONE;
		/* the loop learns of it through the eventfd */
		while (write(sp->efd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
	}
	pthread_mutex_unlock(&sp->mu);
	return NULL;
}

static void
done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct spool *sp = arg;
	spool_done_fn done;
	uint64_t n;
	char err[256];
	bool ok;

	if (read(sp->efd, &n, sizeof(n)) < 0)
		return;
	pthread_mutex_lock(&sp->mu);
	if (!sp->running || sp->job != J_NONE) {
		pthread_mutex_unlock(&sp->mu);
		return;
	}
	sp->running = false;
	ok = sp->ok;
	str_copy(err, sp->err, sizeof(err));
	pthread_mutex_unlock(&sp->mu);
	done = sp->done;
	sp->done = NULL;
	if (done)
		done(sp->arg, ok, ok ? NULL : err);
}

struct spool *
spool_new(struct event_base *base, const char *dir, uint64_t max_bytes, uint64_t *dropped,
	  char *err, size_t errlen)
{
	struct spool *sp = xcalloc(1, sizeof(*sp));

	if (journal_open(&sp->j, dir, dropped, err, errlen) < 0) {
		free(sp);
		return NULL;
	}
	sp->max = max_bytes;
	sp->size = sp->j.size;
	sp->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (sp->efd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		journal_close(&sp->j);
		free(sp);
		return NULL;
	}
	pthread_mutex_init(&sp->mu, NULL);
	pthread_cond_init(&sp->cv, NULL);
	sp->ev = event_new(base, sp->efd, EV_READ | EV_PERSIST, done_cb, sp);
	event_add(sp->ev, NULL);
	if (pthread_create(&sp->thread, NULL, writer_main, sp) != 0) {
		snprintf(err, errlen, "cannot start the spool's writer thread");
		event_free(sp->ev);
		close(sp->efd);
		journal_close(&sp->j);
		free(sp);
		return NULL;
	}
	return sp;
}

void
spool_free(struct spool *sp)
{
	if (sp == NULL)
		return;
	pthread_mutex_lock(&sp->mu);
	sp->stop = true;
	pthread_cond_signal(&sp->cv);
	pthread_mutex_unlock(&sp->mu);
	pthread_join(sp->thread, NULL); /* after the job it has, if any */
	event_free(sp->ev);
	close(sp->efd);
	free(sp->rec);
	journal_close(&sp->j);
	pthread_mutex_destroy(&sp->mu);
	pthread_cond_destroy(&sp->cv);
	free(sp);
}

static int
hand_over(struct spool *sp, enum job job, char *rec, size_t len, spool_done_fn done,
	  void *arg)
{
	pthread_mutex_lock(&sp->mu);
	if (sp->running) {
		pthread_mutex_unlock(&sp->mu);
		free(rec);
		return -1;
	}
	if (job == J_APPEND && sp->size + JOURNAL_HDR + len > sp->max) {
		pthread_mutex_unlock(&sp->mu);
		free(rec);
		return -1;
	}
	sp->job = job;
	sp->rec = rec;
	sp->len = len;
	sp->running = true;
	sp->done = done;
	sp->arg = arg;
	pthread_cond_signal(&sp->cv);
	pthread_mutex_unlock(&sp->mu);
	return 0;
}

int
spool_append(struct spool *sp, char *rec, size_t len, spool_done_fn done, void *arg)
{
	return hand_over(sp, J_APPEND, rec, len, done, arg);
}

int
spool_clear(struct spool *sp, spool_done_fn done, void *arg)
{
	return hand_over(sp, J_CLEAR, NULL, 0, done, arg);
}

int
spool_next(struct spool *sp, uint64_t *off, char **rec, size_t *len, char *err,
	   size_t errlen)
{
	if (spool_busy(sp)) {
		snprintf(err, errlen, "the spool is busy");
		return -1;
	}
	return journal_next(&sp->j, off, rec, len, err, errlen);
}

bool
spool_busy(const struct spool *sp)
{
	bool b;

	pthread_mutex_lock((pthread_mutex_t *)&sp->mu);
	b = sp->running;
	pthread_mutex_unlock((pthread_mutex_t *)&sp->mu);
	return b;
}

uint64_t
spool_bytes(const struct spool *sp)
{
	uint64_t n;

	pthread_mutex_lock((pthread_mutex_t *)&sp->mu);
	n = sp->size;
	pthread_mutex_unlock((pthread_mutex_t *)&sp->mu);
	return n;
}

uint64_t
spool_max(const struct spool *sp)
{
	return sp->max;
}
