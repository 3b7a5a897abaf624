/* metrics.c - counters and histograms in the Prometheus text format
 * (version 0.0.4): HELP and TYPE before each family, histograms as
 * cumulative _bucket{le=...} series with _sum and _count. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest.h"
#include "metrics.h"
#include "util.h"

static const double commit_le[HIST_BUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
static const double accept_le[HIST_BUCKETS] = {5,   10,	 15,  30,  45,	 60,   90,
					       120, 180, 300, 600, 1200, 1800, 3600};

static const char *const offer_names[OM__COUNT] = {"made", "accepted", "declined",
						   "timeout", "cancelled"};

void
metrics_init(struct metrics *m)
{
	memset(m, 0, sizeof(*m));
	m->commit_s.le = commit_le;
	m->accept_s.le = accept_le;
}

void
metrics_observe(struct histogram *h, double v)
{
	int i;

	for (i = 0; i < HIST_BUCKETS && v > h->le[i]; i++)
		;
	h->count[i]++;
	h->sum += v;
	h->n++;
}

void
metrics_dead(struct metrics *m, const char *reason)
{
	int i;

	for (i = 0; i < METRICS_REASONS; i++) {
		if (m->dead[i].reason[0] == '\0') {
			str_copy(m->dead[i].reason, reason, sizeof(m->dead[i].reason));
			m->dead[i].n = 1;
			return;
		}
		if (strcmp(m->dead[i].reason, reason) == 0) {
			m->dead[i].n++;
			return;
		}
	}
	m->dead_other++;
}

void
metrics_http(struct metrics *m, int code)
{
	int i;

	for (i = 0; i < METRICS_CODES; i++) {
		if (m->http[i].code == 0)
			m->http[i].code = code;
		if (m->http[i].code == code) {
			m->http[i].n++;
			return;
		}
	}
}

static void
family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A family of one unlabelled sample. Counters stay far below 2^53. */
static void
single(FILE *f, const char *name, const char *type, const char *help, double v)
{
	family(f, name, type, help);
	fprintf(f, "%s %.0f\n", name, v);
}

static void
histogram(FILE *f, const char *name, const char *help, const struct histogram *h)
{
	unsigned long cum = 0;
	int i;

	family(f, name, "histogram", help);
	for (i = 0; i < HIST_BUCKETS; i++) {
		cum += h->count[i];
		fprintf(f, "%s_bucket{le=\"%g\"} %lu\n", name, h->le[i], cum);
	}
	cum += h->count[HIST_BUCKETS];
	fprintf(f, "%s_bucket{le=\"+Inf\"} %lu\n%s_sum %.6f\n%s_count %lu\n", name, cum,
		name, h->sum, name, h->n);
}

/* A label value as the format wants it: backslash, quote and newline escaped. */
static void
label(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n') {
			fputs("\\n", f);
			continue;
		}
		fputc(*s, f);
	}
}

char *
metrics_render(const struct metrics *m, const struct metrics_gauges *g, size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	int i;

	if (f == NULL)
		return NULL;
	family(f, "carewatch_events_received_total", "counter",
	       "Device events received and stored, by type.");
	for (i = 0; i < EV__COUNT; i++)
		fprintf(f, "carewatch_events_received_total{type=\"%s\"} %lu\n",
			ev_type_name((enum ev_type)i), m->events[i]);
	single(f, "carewatch_replies_received_total", "counter",
	       "Responder replies received.", (double)m->replies);
	single(f, "carewatch_visits_received_total", "counter",
	       "Visit records received (MQTT and HTTP).", (double)m->visits);
	family(f, "carewatch_owntracks_messages_total", "counter",
	       "OwnTracks messages, by what became of them.");
	fprintf(f, "carewatch_owntracks_messages_total{result=\"position\"} %lu\n",
		m->positions);
	fprintf(f, "carewatch_owntracks_messages_total{result=\"stale\"} %lu\n",
		m->positions_stale);
	fprintf(f, "carewatch_owntracks_messages_total{result=\"ignored\"} %lu\n",
		m->owntracks_ignored);
	fprintf(f, "carewatch_owntracks_messages_total{result=\"unknown_user\"} %lu\n",
		m->owntracks_unknown);
	single(f, "carewatch_events_rate_limited_total", "counter",
	       "Device events dropped by the per-device token bucket.",
	       (double)m->rate_limited);
	family(f, "carewatch_dead_letters_total", "counter",
	       "Rejected messages, by reason.");
	for (i = 0; i < METRICS_REASONS && m->dead[i].reason[0]; i++) {
		fputs("carewatch_dead_letters_total{reason=\"", f);
		label(f, m->dead[i].reason);
		fprintf(f, "\"} %lu\n", m->dead[i].n);
	}
	if (m->dead_other)
		fprintf(f, "carewatch_dead_letters_total{reason=\"other\"} %lu\n",
			m->dead_other);
	single(f, "carewatch_batches_total", "counter", "Batches committed.",
	       (double)m->batches);
	single(f, "carewatch_batch_failures_total", "counter",
	       "Batches that failed and were sent again.", (double)m->batch_failures);
	histogram(f, "carewatch_batch_commit_seconds",
		  "Time from sending a batch to its commit.", &m->commit_s);
	family(f, "carewatch_offers_total", "counter",
	       "Offers made, and how they were answered.");
	for (i = 0; i < OM__COUNT; i++)
		fprintf(f, "carewatch_offers_total{answer=\"%s\"} %lu\n", offer_names[i],
			m->offers[i]);
	histogram(f, "carewatch_time_to_accept_seconds",
		  "Time from an incident's opening to a responder's accept.",
		  &m->accept_s);
	single(f, "carewatch_clock_steps_total", "counter",
	       "Steps of the wall clock; deadlines were moved to keep their length.",
	       (double)m->clock_steps);
	single(f, "carewatch_escalations_total", "counter", "Incidents escalated.",
	       (double)m->escalations);
	family(f, "carewatch_operator_actions_total", "counter",
	       "Operator actions applied, by action.");
	fprintf(f, "carewatch_operator_actions_total{action=\"ack\"} %lu\n", m->acks);
	fprintf(f, "carewatch_operator_actions_total{action=\"resolve\"} %lu\n",
		m->resolves);
	fprintf(f, "carewatch_operator_actions_total{action=\"dispatch\"} %lu\n",
		m->dispatches);
	family(f, "carewatch_open_incidents", "gauge", "Open incidents, by priority.");
	for (i = 1; i <= 3; i++)
		fprintf(f, "carewatch_open_incidents{priority=\"%d\"} %zu\n", i,
			g->open_by_priority[i]);
	single(f, "carewatch_escalated_open_incidents", "gauge",
	       "Open incidents that are escalated.", (double)g->escalated_open);
	single(f, "carewatch_broker_connected", "gauge", "1 when the MQTT session is up.",
	       (double)g->broker_up);
	single(f, "carewatch_database_connected", "gauge",
	       "1 when the writer's database session is up.", (double)g->database_up);
	single(f, "carewatch_outbox_messages", "gauge",
	       "Committed messages waiting for the broker.", (double)g->outbox);
	single(f, "carewatch_spool_bytes", "gauge",
	       "Bytes in the database-outage journal, not yet written back.",
	       g->spool_bytes);
	single(f, "carewatch_spool_max_bytes", "gauge",
	       "The journal's bound ([spool] max_mb); 0 when there is no spool.",
	       g->spool_max);
	single(f, "carewatch_spool_active", "gauge",
	       "1 while batches go to the journal because PostgreSQL is unreachable.",
	       (double)g->spool_active);
	single(f, "carewatch_spooled_batches_total", "counter",
	       "Batches made durable in the journal instead of PostgreSQL.",
	       (double)m->spooled_batches);
	single(f, "carewatch_spool_written_back_total", "counter",
	       "Journaled batches written back to PostgreSQL.",
	       (double)m->spool_written_back);
	family(f, "carewatch_http_requests_total", "counter",
	       "HTTP requests answered, by status code.");
	for (i = 0; i < METRICS_CODES && m->http[i].code; i++)
		fprintf(f, "carewatch_http_requests_total{code=\"%d\"} %lu\n",
			m->http[i].code, m->http[i].n);
	single(f, "carewatch_http_connections", "gauge", "Open HTTP connections.",
	       (double)g->http_connections);
	single(f, "carewatch_sse_clients", "gauge", "Connected event-stream clients.",
	       (double)g->sse_clients);
	single(f, "carewatch_sse_dropped_total", "counter",
	       "Event-stream clients closed for reading too slowly.",
	       (double)m->sse_dropped);
	single(f, "carewatch_uptime_seconds", "gauge",
	       "Seconds since the daemon started.", (double)g->uptime_s);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}
