/* actions.c - `carewatch ack|resolve|dispatch`: an operator's actions on a
 * live incident. They go to the running carewatchd over its HTTP API, which
 * applies them to the incident it holds, commits, and writes the audit row;
 * writing the database from here would go behind the daemon's back. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "http.h"
#include "token.h"
#include "util.h"
#include "validate.h"

#define ACTION_TIMEOUT_S 15   /* seconds for the whole exchange */
#define TOKEN_FILE_MAX	 4096 /* bytes of a token file */
#define ERROR_SHOWN_MAX	 300  /* bytes of the daemon's reason shown */

/* What one action sends and how its arguments were given. */
struct action {
	const char *name; /* ack, resolve, dispatch: also the path's last part */
	const char *id;
	const char *token_file;
	json_t *body;
};

/* Reads the token from file: its first line, without the line break. The
 * file must be the user's alone: a token readable by others is a token
 * others can use. 0, or -1 with a one-line reason printed. */
static int
token_from_file(const char *what, const char *path, char *tok, size_t len)
{
	char buf[TOKEN_FILE_MAX + 1];
	struct stat st;
	ssize_t n;
	size_t got = 0, k;
	int fd, rc = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "carewatch: %s: --token-file %s: %s\n", what, path,
			strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "carewatch: %s: --token-file %s: not a regular file\n",
			what, path);
		goto out;
	}
	if (st.st_mode & (S_IRGRP | S_IROTH)) {
		fprintf(stderr,
			"carewatch: %s: --token-file %s is readable by group or others "
			"(mode %03o): refused; chmod 600 it\n",
			what, path, (unsigned)(st.st_mode & 0777));
		goto out;
	}
	while (got < sizeof(buf) - 1) {
		n = read(fd, buf + got, sizeof(buf) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	k = strcspn(buf, "\r\n");
	buf[k] = '\0';
	while (k > 0 && (buf[k - 1] == ' ' || buf[k - 1] == '\t'))
		buf[--k] = '\0';
	if (!token_sendable(buf) || k >= len) {
		fprintf(stderr,
			"carewatch: %s: --token-file %s: expected a token on its first "
			"line (as carewatch user add printed it)\n",
			what, path);
		goto out;
	}
	memcpy(tok, buf, k + 1);
	rc = 0;
out:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	return rc;
}

/* The token: --token-file, else $CAREWATCH_TOKEN. 0, or -1 with the reason
 * printed. */
static int
token_get(const char *what, const char *file, char *tok, size_t len)
{
	const char *env = getenv("CAREWATCH_TOKEN");

	if (file != NULL)
		return token_from_file(what, file, tok, len);
	if (env == NULL || *env == '\0') {
		fprintf(
		    stderr,
		    "carewatch: %s: no token: set CAREWATCH_TOKEN or give --token-file "
		    "FILE (carewatch user add makes one)\n",
		    what);
		return -1;
	}
	if (!token_sendable(env) || strlen(env) >= len) {
		fprintf(stderr,
			"carewatch: %s: CAREWATCH_TOKEN is not a token (blanks or line "
			"breaks in it?)\n",
			what);
		return -1;
	}
	str_copy(tok, env, len);
	return 0;
}

/* Copies the daemon's reason for a refusal into buf as one printable line:
 * its {"error": ...}, else the start of the body, else the reason phrase. */
static const char *
refusal(const struct http_reply *rep, char *buf, size_t len)
{
	json_t *j = json_loads(rep->body != NULL ? rep->body : "", 0, NULL);
	const char *e = json_string_value(json_object_get(j, "error"));
	size_t i, n;

	if (e != NULL && *e != '\0')
		snprintf(buf, len, "%.*s", ERROR_SHOWN_MAX, e);
	else if (rep->body != NULL && rep->body_len > 0)
		snprintf(buf, len, "%.*s", ERROR_SHOWN_MAX, rep->body);
	else
		snprintf(buf, len, "%s", rep->reason);
	json_decref(j);
	n = strlen(buf);
	for (i = 0; i < n; i++) {
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = ' ';
	}
	while (n > 0 && buf[n - 1] == ' ')
		buf[--n] = '\0';
	return buf;
}

/* Sends the action and prints its one line: the confirmation (stdout) or
 * the reason (stderr). Returns the exit status. */
static int
action_send(const struct cli *cli, const struct action *a)
{
	char tok[TOKEN_SEND_MAX + 1], user[128], path[96], err[512],
	    why[ERROR_SHOWN_MAX + 8];
	char *headers = NULL, *body = NULL;
	enum http_result hr = HTTP_UNREACHABLE;
	struct http_reply rep;
	json_t *res = NULL, *inc, *ack;
	const char *listen = cli->conf.http_listen, *by;
	size_t hlen;
	int rc = 1;

	if (strcmp(listen, "off") == 0) {
		fprintf(
		    stderr,
		    "carewatch: %s: [http] listen is off: carewatchd serves no HTTP API "
		    "to send it to\n",
		    a->name);
		return 1;
	}
	if (token_get(a->name, a->token_file, tok, sizeof(tok)) < 0)
		return 1;
	cli_unix_user(user, sizeof(user));
	hlen = strlen(tok) + strlen(user) + 96;
	headers = xcalloc(1, hlen);
	snprintf(headers, hlen,
		 "Authorization: Bearer %s\r\n"
		 "X-Carewatch-Client: cli; user=%s\r\n",
		 tok, user);
	snprintf(path, sizeof(path), "/api/v1/incidents/%s/%s", a->id, a->name);
	body = json_dumps(a->body, JSON_COMPACT);
	hr = http_post(listen, path, headers, body, ACTION_TIMEOUT_S, &rep, err,
		       sizeof(err));
	explicit_bzero(tok, sizeof(tok));
	explicit_bzero(headers, hlen);
	if (hr == HTTP_UNREACHABLE) {
		fprintf(stderr, "carewatch: cannot reach carewatchd at %s: %s\n", listen,
			err);
		goto out;
	}
	if (hr == HTTP_FAILED) {
		fprintf(stderr, "carewatch: %s %s: carewatchd at %s: %s\n", a->name,
			a->id, listen, err);
		goto out;
	}
	if (rep.status < 200 || rep.status > 299) {
		fprintf(stderr, "carewatch: %s %s: %d %s\n", a->name, a->id, rep.status,
			refusal(&rep, why, sizeof(why)));
		goto out;
	}
	res = json_loads(rep.body, 0, NULL);
	inc = json_object_get(res, "incident");
	rc = 0;
	if (strcmp(a->name, "ack") == 0) {
		ack = json_object_get(inc, "ack");
		by = json_string_value(json_object_get(ack, "by"));
		if (by != NULL)
			printf("incident %s acknowledged by %s\n", a->id, by);
		else
			printf("incident %s acknowledged\n", a->id);
	} else if (strcmp(a->name, "resolve") == 0) {
		printf("incident %s resolved: %s\n", a->id,
		       json_string_value(json_object_get(a->body, "outcome")));
	} else {
		printf("incident %s offered to %s (manual dispatch)\n", a->id,
		       json_string_value(json_object_get(a->body, "responder")));
	}
out:
	if (hr == HTTP_OK)
		http_reply_free(&rep);
	json_decref(res);
	free(body);
	free(headers);
	return rc;
}

/* True when s is an incident id: a positive whole number. */
static bool
incident_id_valid(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > 18 || s[0] == '0')
		return false;
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
	}
	return true;
}

/* Sets a text member of the body; -1 with a message when it is not UTF-8
 * (jansson refuses such strings). */
static int
body_text(struct action *a, const char *key, const char *value)
{
	json_t *v = json_string(value);

	if (v == NULL) {
		fprintf(stderr, "carewatch: %s: --%s is not valid UTF-8\n", a->name, key);
		return -1;
	}
	json_object_set_new(a->body, key, v);
	return 0;
}

/* Parses an action's command line: ID, --token-file, and the options named
 * in opts (note, outcome, responder) into the body. Returns 0, or the exit
 * status of a usage error. */
static int
action_parse(struct action *a, int argc, char **argv, const char *usage)
{
	static const struct option opts[] = {{"note", required_argument, NULL, 'n'},
					     {"outcome", required_argument, NULL, 'o'},
					     {"responder", required_argument, NULL, 'r'},
					     {"token-file", required_argument, NULL, 't'},
					     {NULL, 0, NULL, 0}};
	char reason[256];
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			if (strcmp(a->name, "dispatch") == 0)
				goto usage;
			if (body_text(a, "note", optarg) < 0)
				return 2;
			break;
		case 'o':
			if (strcmp(a->name, "resolve") != 0)
				goto usage;
			if (validate_word(optarg, validate_outcomes, reason,
					  sizeof(reason)) != NULL) {
				fprintf(stderr, "carewatch: resolve: --outcome: %s\n",
					reason);
				return 2;
			}
			body_text(a, "outcome", optarg);
			break;
		case 'r':
			if (strcmp(a->name, "dispatch") != 0)
				goto usage;
			if (!id_valid(optarg, strlen(optarg), 64)) {
				fprintf(
				    stderr,
				    "carewatch: dispatch: --responder: expected a "
				    "station "
				    "or volunteer id (1 to 64 letters, digits or _ . : "
				    "-)\n");
				return 2;
			}
			body_text(a, "responder", optarg);
			break;
		case 't':
			a->token_file = optarg;
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc - 1)
		goto usage;
	a->id = argv[optind];
	if (!incident_id_valid(a->id)) {
		fprintf(stderr, "carewatch: %s: incident id must be a positive number\n",
			a->name);
		return 2;
	}
	if (strcmp(a->name, "resolve") == 0 &&
	    json_object_get(a->body, "outcome") == NULL) {
		validate_word("", validate_outcomes, reason, sizeof(reason));
		fprintf(stderr, "carewatch: resolve: --outcome is required: %s\n",
			reason);
		return 2;
	}
	if (strcmp(a->name, "dispatch") == 0 &&
	    json_object_get(a->body, "responder") == NULL) {
		fprintf(stderr, "carewatch: dispatch: --responder is required\n");
		return 2;
	}
	return 0;
usage:
	fprintf(stderr, "carewatch: usage: %s\n", usage);
	return 2;
}

/* Parses and sends one action. */
static int
action_run(struct cli *cli, const char *name, int argc, char **argv, const char *usage)
{
	struct action a = {.name = name, .body = json_object()};
	int rc = action_parse(&a, argc, argv, usage);

	if (rc == 0)
		rc = action_send(cli, &a);
	json_decref(a.body);
	return rc;
}

int
cmd_ack(struct cli *cli, int argc, char **argv)
{
	return action_run(cli, "ack", argc, argv,
			  "carewatch ack ID [--note TEXT] [--token-file FILE]");
}

int
cmd_resolve(struct cli *cli, int argc, char **argv)
{
	return action_run(cli, "resolve", argc, argv,
			  "carewatch resolve ID --outcome OUTCOME [--note TEXT] "
			  "[--token-file FILE]");
}

int
cmd_dispatch(struct cli *cli, int argc, char **argv)
{
	return action_run(cli, "dispatch", argc, argv,
			  "carewatch dispatch ID --responder ID [--token-file FILE]");
}
