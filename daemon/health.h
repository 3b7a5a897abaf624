/* health.h - is the daemon making progress? A pure decision, so that the
 * watchdog's rule is unit-tested. */
#ifndef CW_HEALTH_H
#define CW_HEALTH_H

#include <stdbool.h>

struct health_in {
	double now;
	bool db_up;	     /* the writer session is up */
	bool work_waiting;   /* rows wait to be written (built or in flight) */
	double progress_at;  /* last commit, or last moment nothing waited */
	bool job_in_flight;  /* a database job is out */
	double flight_since; /* when the batch in flight was sent; 0 = none */
	double limit_s;	     /* longest acceptable time without progress */
};

/* NULL while the daemon makes progress, else why it is stuck. Waiting for
 * a database that is down is not stuck (that is degraded, and reported as
 * such); work waiting on a reachable database with no commit for longer
 * than limit_s is. */
const char *health_stalled(const struct health_in *h);

#endif
