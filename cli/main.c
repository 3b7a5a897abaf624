/* main.c - carewatch, the command-line tool: global options, then the
 * command, each in a file of its own */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"

static void
usage(FILE *f)
{
	fprintf(
	    f, "usage: carewatch [-c FILE] COMMAND [ARGS]\n"
	       "\n"
	       "Commands:\n"
	       "  db migrate                      apply the schema migrations in order "
	       "(idempotent);\n"
	       "                                  create the id-number key if missing "
	       "and\n"
	       "                                  record its fingerprint\n"
	       "  import KIND FILE.csv [--encoding utf-8|gb18030]\n"
	       "                                  load or update areas, stations, "
	       "volunteers,\n"
	       "                                  elders or devices (one transaction per "
	       "file)\n"
	       "  incidents [--state open|all] [--format table|json]\n"
	       "                                  list incidents\n"
	       "  incident ID [--format table|json]\n"
	       "                                  one incident: alarms, offers, history\n"
	       "\n"
	       "Options:\n"
	       "  -c FILE     the daemon's configuration, for [database], [privacy] and\n"
	       "              [spool] (the id-number key is [privacy] id_key_file, or\n"
	       "              {[spool] dir}/id.key); without it the defaults and the "
	       "libpq\n"
	       "              environment (PGHOST, PGDATABASE, ...) apply\n"
	       "  -h, --help  this text\n"
	       "\n"
	       "Exit status 0 on success; otherwise non-zero with a one-line reason on "
	       "stderr.\n");
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
