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

/* The Unix user running the command (getpwuid(geteuid())), or "uid N",
 * in visible ASCII; returns buf. It is who the audit log names for what is
 * done here, and the user= of the header the daemon's audit row records. */
const char *cli_unix_user(char *buf, size_t len);

/* Parses --format table|json into *json; -1 with a message when it is
 * neither. */
int cli_parse_format(const char *s, bool *json);

/* Prints s ("-" when NULL or empty) padded to width bytes, control
 * characters as blanks, for the table formats. */
void cli_print_field(const char *s, int width);

/* key.c */

#define CLI_KEY_MAX    1024 /* bytes of a key file */
#define CLI_KEY_FP_LEN 65   /* a fingerprint: hex SHA-256 and its NUL */

/* Writes the path of the id-number key into buf and returns it:
 * [privacy] id_key_file, or {[spool] dir}/id.key when that is empty. */
const char *cli_key_path(const struct cli *cli, char *buf, size_t len);

/* Reads the id-number key (the file's one line of text, at least 16 bytes)
 * into key (CLI_KEY_MAX bytes). Returns 0, or -1 with a one-line reason
 * naming the file in err, and *missing set when the file does not exist. */
int cli_key_read(const struct cli *cli, char *key, size_t len, bool *missing, char *err,
		 size_t errlen);

/* Creates a new key at path: 32 random bytes, base64, mode 0600, never over
 * an existing file (then that one is kept and 0 returned), fsynced; makes
 * its directory with mode 0700 when it is missing. Returns 0, or -1 with a
 * one-line reason in err. */
int cli_key_create(const char *path, char *err, size_t errlen);

/* Writes the key's fingerprint, the hex SHA-256 of its text, into hex (at
 * least CLI_KEY_FP_LEN bytes); 0 or -1. */
int cli_key_fingerprint(const char *key, char *hex, size_t len);

/* Reads the fingerprint recorded in the database (table id_key) into hex:
 * 1 when there is one, 0 when none is recorded, -1 with the reason in err. */
int cli_key_recorded(PGconn *c, char *hex, size_t len, char *err, size_t errlen);

/* Checks that key is the one whose fingerprint the database recorded: 0, or
 * -1 with a one-line reason naming the key file (never the key) in err. */
int cli_key_check(const struct cli *cli, PGconn *c, const char *key, char *err,
		  size_t errlen);

/* audit.c */

/* Appends one row to audit_log for something done here: actor the Unix
 * user, source cli, peer "local (unix user X)", no role and no incident.
 * body is the JSON of the arguments (never a token); result one line. The
 * trigger numbers and chains it. 0, or -1 with the reason in err. */
int cli_audit_write(PGconn *c, const char *action, const char *body, int status,
		    const char *result, char *err, size_t errlen);

/* migrate.c, import.c, incidents.c, users.c, audit.c, actions.c */

/* Each command takes the arguments after its name (argv[0] is the command
 * name) and returns the process exit status; errors are one line on stderr. */
int cmd_migrate(struct cli *cli, int argc, char **argv);
int cmd_import(struct cli *cli, int argc, char **argv);
int cmd_incidents(struct cli *cli, int argc, char **argv);
int cmd_incident(struct cli *cli, int argc, char **argv);
int cmd_user(struct cli *cli, int argc, char **argv);
int cmd_audit(struct cli *cli, int argc, char **argv);
int cmd_ack(struct cli *cli, int argc, char **argv);
int cmd_resolve(struct cli *cli, int argc, char **argv);
int cmd_dispatch(struct cli *cli, int argc, char **argv);
int cmd_report(struct cli *cli, int argc, char **argv); /* report.c */
int cmd_broker(struct cli *cli, int argc, char **argv); /* broker.c */
int cmd_visit(struct cli *cli, int argc, char **argv);	/* visits.c */

#endif
