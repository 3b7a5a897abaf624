/* main.c - carewatch, the command-line tool: global options, then the
 * command, each in a file of its own */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"

/* The help text: every command on one line, then what they share. */
static void
usage(FILE *f)
{
	static const char *const commands[][2] = {
	    {"db migrate", "apply migrations; make the id key"},
	    {"import KIND FILE.csv [--encoding E]", "load reference data"},
	    {"incidents [--state S] [--format F]", "list incidents"},
	    {"incident ID [--format F]", "one incident in full"},
	    {"ack ID [--note TEXT]", "acknowledge (through carewatchd)"},
	    {"resolve ID --outcome O [--note TEXT]", "close (through carewatchd)"},
	    {"dispatch ID --responder ID", "offer to a responder (carewatchd)"},
	    {"user add NAME --role R [--area CODE]", "make an account; print its token"},
	    {"user list [--format F]", "list accounts (never a token)"},
	    {"user revoke NAME", "revoke an account's token"},
	    {"audit [--since T] [--limit N] [--format F]", "list the audit log"},
	    {"audit verify", "recompute the audit hash chain"},
	    {"report visit-rate --month YYYY-MM [...]", "monthly visit rate (report -h)"},
	    {"report at-risk --date YYYY-MM-DD [...]",
	     "targets not yet visited this month"},
	    {"report response --from D --to D [...]",
	     "alarm response times, false alarms"},
	    {"broker passwd -o FILE [...]", "mosquitto password file (broker -h)"},
	    {"broker acl [-o FILE]", "mosquitto ACL file"},
	    {"visit add --elder ID --at TIME --kind K", "record a visit (visit -h)"},
	};
	static const char *const rest[] = {
	    "",
	    "Values:",
	    "  KIND  areas, stations, volunteers, elders, devices, visits",
	    "  E     utf-8 (default) or gb18030",
	    "  F     table (default) or json",
	    "  S     open (default) or all",
	    "  O     emergency_handled, false_alarm, test, no_access, transferred_120,",
	    "        transferred_119",
	    "  R     operator, supervisor, auditor; --area CODE (a row of areas) limits",
	    "        the account to that area and everything under it",
	    "  T     RFC 3339 (2026-11-20T08:00:00+08:00) or a day (2026-11-20)",
	    "  N     how many of the newest rows (default 100)",
	    "",
	    "Options:",
	    "  -c FILE   the daemon's configuration: [database] for the commands that",
	    "            read the database, [http] listen for ack, resolve and dispatch,",
	    "            [privacy] and [spool] for the id-number key ([privacy]",
	    "            id_key_file, or {[spool] dir}/id.key); without it the defaults",
	    "            and the libpq environment (PGHOST, PGDATABASE, ...) apply",
	    "  --token-file FILE",
	    "            ack, resolve and dispatch: the API token on the file's first",
	    "            line; the file must not be readable by group or others.",
	    "            Without it the token is taken from $CAREWATCH_TOKEN",
	    "  -h, --help  this text",
	    "",
	    "Exit status 0 on success; otherwise non-zero with a one-line reason on",
	    "stderr.",
	};
	size_t i;

	fprintf(f, "usage: carewatch [-c FILE] COMMAND [ARGS]\n\nCommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-42s %s\n", commands[i][0], commands[i][1]);
	for (i = 0; i < sizeof(rest) / sizeof(rest[0]); i++)
		fprintf(f, "%s\n", rest[i]);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	struct cli cli;
	char err[512];
	int ch;

	memset(&cli, 0, sizeof(cli));
	conf_defaults(&cli.conf);
	log_init("carewatch", 0);
	/* options stop at the command, whose own options follow it */
	while ((ch = getopt_long(argc, argv, "+c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			if (conf_load(&cli.conf, optarg, err, sizeof(err)) < 0) {
				fprintf(stderr, "carewatch: %s\n", err);
				return 1;
			}
			cli.have_conf = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return 2;
	}
	optind = 0; /* each command parses its own options */
	if (strcmp(argv[0], "db") == 0)
		return cmd_migrate(&cli, argc, argv);
	if (strcmp(argv[0], "import") == 0)
		return cmd_import(&cli, argc, argv);
	if (strcmp(argv[0], "incidents") == 0)
		return cmd_incidents(&cli, argc, argv);
	if (strcmp(argv[0], "incident") == 0)
		return cmd_incident(&cli, argc, argv);
	if (strcmp(argv[0], "user") == 0)
		return cmd_user(&cli, argc, argv);
	if (strcmp(argv[0], "report") == 0)
		return cmd_report(&cli, argc, argv);
	if (strcmp(argv[0], "broker") == 0)
		return cmd_broker(&cli, argc, argv);
	if (strcmp(argv[0], "visit") == 0)
		return cmd_visit(&cli, argc, argv);
	if (strcmp(argv[0], "audit") == 0)
		return cmd_audit(&cli, argc, argv);
	if (strcmp(argv[0], "ack") == 0)
		return cmd_ack(&cli, argc, argv);
	if (strcmp(argv[0], "resolve") == 0)
		return cmd_resolve(&cli, argc, argv);
	if (strcmp(argv[0], "dispatch") == 0)
		return cmd_dispatch(&cli, argc, argv);
	if (strcmp(argv[0], "help") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "carewatch: unknown command '%s' (see carewatch --help)\n",
		argv[0]);
	return 2;
}
