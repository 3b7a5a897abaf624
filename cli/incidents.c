/* incidents.c - `carewatch incidents` and `carewatch incident ID` */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "util.h"

/* Incidents as JSON built by PostgreSQL, so both formats share one query.
 * Times are RFC 3339 in the configured zone. */
static const char SQL_LIST[] =
    "SELECT coalesce(json_agg(row_to_json(x) ORDER BY x.id DESC), '[]') FROM ("
    " SELECT i.id, i.kind, i.state, i.priority, i.type, i.escalated, i.elder_id,"
    "  i.area_code, i.responder_id, i.station_id, i.alarm_device, i.alarm_event,"
    "  i.alarm_count, i.outcome,"
    "  to_char(i.opened_at AT TIME ZONE $2, 'YYYY-MM-DD\"T\"HH24:MI:SS') AS opened_at,"
    "  to_char(i.resolved_at AT TIME ZONE $2, 'YYYY-MM-DD\"T\"HH24:MI:SS') AS "
    "resolved_at,"
    "  i.acked_by,"
    "  to_char(i.acked_at AT TIME ZONE $2, 'YYYY-MM-DD\"T\"HH24:MI:SS') AS acked_at"
    " FROM incidents i WHERE ($1 = 'all' OR i.state <> 'resolved')"
    " ORDER BY i.id DESC LIMIT 1000) x";

static const char SQL_ONE[] =
    "SELECT row_to_json(x) FROM ("
    " SELECT i.id, i.kind, i.state, i.priority, i.type, i.escalated,"
    "  to_char(i.escalated_at AT TIME ZONE $2, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS') AS "
    "escalated_at,"
    "  i.elder_id, i.area_code, i.station_id, i.responder_id, i.alarm_device,"
    "  i.alarm_event, i.alarm_count, i.outcome, i.resolved_by,"
    "  to_char(i.opened_at AT TIME ZONE $2, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS') AS opened_at,"
    "  to_char(i.accepted_at AT TIME ZONE $2, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS') AS "
    "accepted_at,"
    "  to_char(i.arrived_at AT TIME ZONE $2, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS') AS "
    "arrived_at,"
    "  to_char(i.resolved_at AT TIME ZONE $2, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS') AS "
    "resolved_at,"
    "  json_build_object('by', i.acked_by, 'at',"
    "   to_char(i.acked_at AT TIME ZONE $2, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS'),"
    "   'note', i.ack_note) AS ack,"
    "  (SELECT coalesce(json_agg(json_build_object('device', e.device_id, 'id', "
    "e.event_id,"
    "    'type', e.type, 'state', e.state, 'received_at',"
    "    to_char(e.received_at AT TIME ZONE $2, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS'))"
    "    ORDER BY e.seq), '[]') FROM events e WHERE e.incident_id = i.id) AS alarms,"
    "  (SELECT coalesce(json_agg(json_build_object('offer', o.seq, 'responder',"
    "    o.responder_id, 'kind', o.responder_kind, 'distance_m', o.distance_m,"
    "    'forced', o.forced, 'answer', o.answer, 'offered_at',"
    "    to_char(o.offered_at AT TIME ZONE $2, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS'),"
    "    'deadline', to_char(o.deadline AT TIME ZONE $2, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS'),"
    "    'answered_at',"
    "    to_char(o.answered_at AT TIME ZONE $2, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS'))"
    "    ORDER BY o.seq), '[]') FROM offers o WHERE o.incident_id = i.id) AS offers,"
    "  (SELECT coalesce(json_agg(json_build_object('at',"
    "    to_char(h.at AT TIME ZONE $2, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS'), 'what', h.what,"
    "    'actor', h.actor, 'detail', h.detail) ORDER BY h.seq), '[]')"
    "    FROM incident_history h WHERE h.incident_id = i.id) AS history"
    " FROM incidents i WHERE i.id = $1) x";

static const char *
s_or_dash(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s && *s ? s : "-";
}

/* Runs a query returning one JSON text cell; prints the reason on failure. */
static json_t *
query_json(PGconn *c, const char *sql, const char *p1, const char *tz)
{
	const char *params[2] = {p1, tz};
	PGresult *r = PQexecParams(c, sql, 2, NULL, params, NULL, NULL, 0);
	json_t *j = NULL;

	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		char msg[512];

		fprintf(stderr, "carewatch: %s\n",
			cli_one_line(PQresultErrorMessage(r), msg, sizeof(msg)));
	} else if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) {
		j = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
	}
	PQclear(r);
	return j;
}

int
cmd_incidents(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"state", required_argument, NULL, 's'},
					     {"format", required_argument, NULL, 'f'},
					     {NULL, 0, NULL, 0}};
	const char *state = "open";
	bool json = false;
	json_t *list, *it;
	PGconn *c;
	size_t i;
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 's') {
			state = optarg;
			if (strcmp(state, "open") != 0 && strcmp(state, "all") != 0) {
				fprintf(stderr, "carewatch: --state takes open or all\n");
				return 2;
			}
		} else if (ch == 'f') {
			if (cli_parse_format(optarg, &json) < 0)
				return 2;
		} else {
			return 2;
		}
	}
	if ((c = cli_connect(cli)) == NULL)
		return 1;
	list = query_json(c, SQL_LIST, state, cli->conf.timezone);
	PQfinish(c);
	if (list == NULL)
		return 1;
	if (json) {
		char *s = json_dumps(list, JSON_INDENT(2));

		puts(s);
		free(s);
	} else {
		printf("%-8s %-6s %-9s %-3s %-14s %-4s %-10s %-10s %-19s %s\n", "ID",
		       "KIND", "STATE", "PRI", "TYPE", "ESC", "ELDER", "RESPONDER",
		       "OPENED", "ACK");
		json_array_foreach(list, i, it)
		{
			printf(
			    "%-8lld %-6s %-9s %-3lld %-14s %-4s %-10s %-10s %-19s %s\n",
			    (long long)json_integer_value(json_object_get(it, "id")),
			    s_or_dash(it, "kind"), s_or_dash(it, "state"),
			    (long long)json_integer_value(
				json_object_get(it, "priority")),
			    s_or_dash(it, "type"),
			    json_is_true(json_object_get(it, "escalated")) ? "yes" : "no",
			    s_or_dash(it, "elder_id"), s_or_dash(it, "responder_id"),
			    s_or_dash(it, "opened_at"), s_or_dash(it, "acked_by"));
		}
		printf("(%zu incidents)\n", json_array_size(list));
	}
	json_decref(list);
	return 0;
}

int
cmd_incident(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"format", required_argument, NULL, 'f'},
					     {NULL, 0, NULL, 0}};
	bool json = false;
	json_t *inc, *arr, *it, *ack;
	const char *id;
	char *end;
	PGconn *c;
	size_t i;
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch != 'f' || cli_parse_format(optarg, &json) < 0)
			return 2;
	}
	if (optind != argc - 1) {
		fprintf(
		    stderr,
		    "carewatch: usage: carewatch incident ID [--format table|json]\n");
		return 2;
	}
	id = argv[optind];
	if (strtoll(id, &end, 10) <= 0 || *end != '\0') {
		fprintf(stderr, "carewatch: incident id must be a positive number\n");
		return 2;
	}
	if ((c = cli_connect(cli)) == NULL)
		return 1;
	inc = query_json(c, SQL_ONE, id, cli->conf.timezone);
	PQfinish(c);
	if (inc == NULL) {
		fprintf(stderr, "carewatch: no incident %s\n", id);
		return 1;
	}
	if (json) {
		char *s = json_dumps(inc, JSON_INDENT(2));

		puts(s);
		free(s);
		json_decref(inc);
		return 0;
	}
	ack = json_object_get(inc, "ack");
	printf("incident %s  %s  priority %lld  %s  state %s%s\n", id,
	       s_or_dash(inc, "kind"),
	       (long long)json_integer_value(json_object_get(inc, "priority")),
	       s_or_dash(inc, "type"), s_or_dash(inc, "state"),
	       json_is_true(json_object_get(inc, "escalated")) ? "  ESCALATED" : "");
	printf("  elder %s  area %s  opened %s\n", s_or_dash(inc, "elder_id"),
	       s_or_dash(inc, "area_code"), s_or_dash(inc, "opened_at"));
	printf("  responder %s  accepted %s  arrived %s\n",
	       s_or_dash(inc, "responder_id"), s_or_dash(inc, "accepted_at"),
	       s_or_dash(inc, "arrived_at"));
	printf("  resolved %s  outcome %s  by %s\n", s_or_dash(inc, "resolved_at"),
	       s_or_dash(inc, "outcome"), s_or_dash(inc, "resolved_by"));
	printf("  acknowledged %s by %s\n", s_or_dash(ack, "at"), s_or_dash(ack, "by"));
	arr = json_object_get(inc, "alarms");
	printf("alarms (%zu):\n", json_array_size(arr));
	json_array_foreach(arr, i, it)
	{
		printf("  %s  %-12s %-6s device %s event %s\n",
		       s_or_dash(it, "received_at"), s_or_dash(it, "type"),
		       s_or_dash(it, "state"), s_or_dash(it, "device"),
		       s_or_dash(it, "id"));
	}
	arr = json_object_get(inc, "offers");
	printf("offers (%zu):\n", json_array_size(arr));
	json_array_foreach(arr, i, it)
	{
		printf("  #%lld %-10s %-9s %6lld m  offered %s  answer %-9s %s%s\n",
		       (long long)json_integer_value(json_object_get(it, "offer")),
		       s_or_dash(it, "responder"), s_or_dash(it, "kind"),
		       (long long)json_integer_value(json_object_get(it, "distance_m")),
		       s_or_dash(it, "offered_at"), s_or_dash(it, "answer"),
		       s_or_dash(it, "answered_at"),
		       json_is_true(json_object_get(it, "forced")) ? "  (escalation)"
								   : "");
	}
	arr = json_object_get(inc, "history");
	printf("history (%zu):\n", json_array_size(arr));
	json_array_foreach(arr, i, it)
	{
		printf("  %s  %-12s %-10s %s\n", s_or_dash(it, "at"),
		       s_or_dash(it, "what"), s_or_dash(it, "actor"),
		       s_or_dash(it, "detail"));
	}
	json_decref(inc);
	return 0;
}
