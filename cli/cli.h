/* cli.h - the carewatch command-line tool: shared state and commands */
#ifndef CW_CLI_H
#define CW_CLI_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "conf.h"

struct cli {
	struct conf conf;
	bool have_conf; /* -c FILE was given; else libpq's environment rules */
};

/* Connects (blocking: this is a command, not the daemon) with the
 * configuration's conninfo when -c was given, else libpq's environment.
 * Prints a one-line reason and returns NULL on failure. */
PGconn *cli_connect(const struct cli *cli);

/* Reads the key for id_number protection from [privacy] id_key_file into
 * buf; returns 0, or -1 when none is configured or it cannot be read
 * (reason in err). */
int cli_read_key(const struct cli *cli, char *buf, size_t len, char *err, size_t errlen);

/* Each command takes the arguments after its name (argv[0] is the command
 * name) and returns the process exit status; errors are one line on stderr. */
int cmd_migrate(struct cli *cli, int argc, char **argv);
int cmd_import(struct cli *cli, int argc, char **argv);
int cmd_incidents(struct cli *cli, int argc, char **argv);
int cmd_incident(struct cli *cli, int argc, char **argv);

#endif
