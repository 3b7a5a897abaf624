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

/* common.c */

/* Connects (blocking: this is a command, not the daemon) with the
 * configuration's conninfo when -c was given, else libpq's environment.
 * Prints a one-line reason and returns NULL on failure. */
PGconn *cli_connect(const struct cli *cli);

/* Runs a statement whose rows are not needed; prints "carewatch: what:
 * reason" on one line and returns -1 when it fails. */
int cli_exec(PGconn *c, const char *sql, const char *what);

/* Copies a (libpq) message into buf as one line, without trailing blanks;
 * returns buf. */
const char *cli_one_line(const char *msg, char *buf, size_t len);

/* key.c */

/* Reads the key for id_number protection from [privacy] id_key_file into
 * buf; returns 0, or -1 when none is configured or it cannot be read
 * (reason in err). */
int cli_read_key(const struct cli *cli, char *buf, size_t len, char *err, size_t errlen);

/* migrate.c, import.c, incidents.c */

/* Each command takes the arguments after its name (argv[0] is the command
 * name) and returns the process exit status; errors are one line on stderr. */
int cmd_migrate(struct cli *cli, int argc, char **argv);
int cmd_import(struct cli *cli, int argc, char **argv);
int cmd_incidents(struct cli *cli, int argc, char **argv);
int cmd_incident(struct cli *cli, int argc, char **argv);

#endif
