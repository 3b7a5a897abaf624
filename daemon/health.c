/* health.c - the progress rule behind the watchdog */
#include "config.h"

#include <stddef.h>

#include "health.h"

const char *
health_stalled(const struct health_in *h)
{
	if (!h->db_up || !h->work_waiting)
		return NULL;
	if (h->now - h->progress_at <= h->limit_s)
		return NULL;
	if (h->job_in_flight && h->flight_since > 0)
		return "commit overdue";
	if (h->job_in_flight)
		return "database job overdue";
	return "rows waiting, nothing sent";
}
