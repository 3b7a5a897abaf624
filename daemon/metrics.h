/* metrics.h - the daemon's counters and histograms, rendered in the
 * Prometheus text format by GET /metrics. Plain data: the adapters count,
 * metrics.c only stores and prints. */
#ifndef CW_METRICS_H
#define CW_METRICS_H

#include <stddef.h>

#include "model.h"

#define METRICS_REASONS 32 /* distinct dead-letter reasons kept apart */
#define METRICS_CODES	16 /* distinct HTTP status codes kept apart */
#define HIST_BUCKETS	14

struct histogram {
	const double *le; /* upper bounds, HIST_BUCKETS of them (+Inf apart) */
	unsigned long count[HIST_BUCKETS + 1];
	double sum;
	unsigned long n;
};

enum offer_metric {
	OM_MADE,
	OM_ACCEPTED,
	OM_DECLINED,
	OM_TIMEOUT,
	OM_CANCELLED,
	OM__COUNT
};

struct metrics {
	unsigned long events[EV__COUNT];
	unsigned long replies, visits, status;
	struct {
		char reason[48];
		unsigned long n;
	} dead[METRICS_REASONS];
	unsigned long dead_other;
	unsigned long batches, batch_failures;
	unsigned long clock_steps; /* wall-clock steps seen (timers.c) */
	unsigned long spooled_batches, spool_written_back;
	struct histogram commit_s;
	unsigned long offers[OM__COUNT];
	struct histogram accept_s;
	unsigned long escalations, acks, resolves, dispatches;
	struct {
		int code;
		unsigned long n;
	} http[METRICS_CODES];
	unsigned long sse_dropped;
	/* OwnTracks: fixes used, stale ones, other _types, unknown users */
	unsigned long positions, positions_stale, owntracks_ignored, owntracks_unknown;
	unsigned long rate_limited; /* device events dropped by flood control */
};

void metrics_init(struct metrics *m);
void metrics_observe(struct histogram *h, double v);
void metrics_dead(struct metrics *m, const char *reason);
void metrics_http(struct metrics *m, int code);

/* Gauges read at scrape time. */
struct metrics_gauges {
	size_t open_by_priority[4]; /* index = priority 1..3 */
	size_t escalated_open;
	int broker_up, database_up;
	size_t sse_clients, http_connections;
	size_t outbox, batch_rows_waiting;
	double spool_bytes, spool_max; /* the outage journal; max 0 = none */
	int spool_active;
	double uptime_s;
};

/* Appends the whole exposition to a malloc'd string; *len gets its size. */
char *metrics_render(const struct metrics *m, const struct metrics_gauges *g,
		     size_t *len);

#endif
