/* broker.c - `carewatch broker passwd|acl`: the mosquitto password and ACL
 * files for least privilege (SPEC §8, issue 9), made from the devices,
 * responders and configuration in the database.
 *
 * Every MQTT client has its own account. Its username is what the ACL's
 * pattern rules substitute for %u: a native device's id, a responder's
 * (station or volunteer) id, a volunteer phone's owntracks_user. So one
 * name must not belong to two of them: both commands refuse when it does.
 * zigbee2mqtt bridges and the daemon get `user` rules of their own. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "cli.h"
#include "token.h"
#include "util.h"

#define PW_RANDOM_BYTES 24 /* a generated password: 32 base64url characters */
#define PW_SALT_BYTES	12 /* as mosquitto_passwd */
#define PW_ITERATIONS                                                                    \
	101		 /* mosquitto_passwd's default; the passwords are                \
			    random, so more rounds would buy nothing */
#define PW_HASH_BYTES 64 /* SHA-512 */
#define PW_LINE_MAX   256

/* Every account the configuration and the tables call for: name, kind.
 * Bridges are named after their base topic, '/' as '_'. */
static const char SQL_PRINCIPALS[] =
    "WITH p(name, kind) AS ("
    " SELECT id, 'device' FROM devices WHERE ecosystem = 'native'"
    " UNION ALL SELECT id, 'responder' FROM stations"
    " UNION ALL SELECT id, 'responder' FROM volunteers WHERE active"
    " UNION ALL SELECT owntracks_user, 'owntracks' FROM volunteers"
    "  WHERE active AND owntracks_user IS NOT NULL AND $1::boolean"
    " UNION ALL SELECT replace(btrim(b), '/', '_'), 'bridge'"
    "  FROM unnest(string_to_array($2, ',')) b WHERE btrim(b) <> ''"
    " UNION ALL SELECT $3, 'daemon')"
    "SELECT name, kind, (SELECT string_agg(DISTINCT q.kind, ' and ' ORDER BY q.kind)"
    "  FROM p q WHERE q.name = p.name) FROM p ORDER BY kind, name";

static void
broker_usage(FILE *f)
{
	fprintf(
	    f, "usage: carewatch broker passwd -o FILE [--new-credentials FILE]\n"
	       "       carewatch broker acl [-o FILE]\n"
	       "passwd  writes mosquitto's password_file: one account per native\n"
	       "        device, station, active volunteer, OwnTracks phone, zigbee2mqtt\n"
	       "        bridge ([mqtt] z2m_base) and the daemon ([mqtt] username,\n"
	       "        carewatchd when empty). An account that is new gets a random\n"
	       "        password, written once to --new-credentials (mode 0600, never\n"
	       "        over an existing file) for provisioning; only its hash is kept.\n"
	       "        The daemon's password is taken from [mqtt] password_file when\n"
	       "        set. Removed devices and inactive volunteers are left out.\n"
	       "acl     writes mosquitto's acl_file for [mqtt] topic_prefix, z2m_base\n"
	       "        and owntracks.\n"
	       "Both refuse when one name belongs to two kinds of client.\n");
}

static const char *
daemon_user(const struct cli *cli)
{
	return cli->conf.mqtt_username[0] ? cli->conf.mqtt_username : "carewatchd";
}

/* Runs SQL_PRINCIPALS; NULL after printing why, also when a name is
 * shared by two kinds. */
static PGresult *
principals(const struct cli *cli, PGconn *c)
{
	const char *params[3] = {cli->conf.owntracks ? "true" : "false",
				 cli->conf.z2m_base, daemon_user(cli)};
	char line[256];
	PGresult *r;
	int i;

	r = PQexecParams(c, SQL_PRINCIPALS, 3, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "carewatch: broker accounts: %s\n",
			cli_one_line(PQresultErrorMessage(r), line, sizeof(line)));
		PQclear(r);
		return NULL;
	}
	for (i = 0; i < PQntuples(r); i++) {
		if (strchr(PQgetvalue(r, i, 2), ' ') != NULL) {
			fprintf(
			    stderr,
			    "carewatch: MQTT username \"%s\" would be a %s: the ACL's "
			    "patterns need distinct names\n",
			    PQgetvalue(r, i, 0), PQgetvalue(r, i, 2));
			PQclear(r);
			return NULL;
		}
		if (strpbrk(PQgetvalue(r, i, 0), ":#+ \t\r\n") != NULL) {
			fprintf(stderr,
				"carewatch: \"%s\" (%s) cannot be an MQTT username: "
				"it holds ':', '#', '+' or a blank\n",
				PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
			PQclear(r);
			return NULL;
		}
	}
	return r;
}

/* mosquitto's "$7$" hash: PBKDF2-HMAC-SHA512 over a random salt, as
 * "$7$ITERATIONS$base64(salt)$base64(hash)". 0 or -1. */
static int
pw_hash(const char *pw, char *out, size_t len)
{
	unsigned char salt[PW_SALT_BYTES], h[PW_HASH_BYTES];
	char s64[4 * ((PW_SALT_BYTES + 2) / 3) + 1],
	    h64[4 * ((PW_HASH_BYTES + 2) / 3) + 1];

	if (RAND_bytes(salt, sizeof(salt)) != 1 ||
	    PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, sizeof(salt), PW_ITERATIONS,
			      EVP_sha512(), sizeof(h), h) != 1)
		return -1;
	EVP_EncodeBlock((unsigned char *)s64, salt, sizeof(salt));
	EVP_EncodeBlock((unsigned char *)h64, h, sizeof(h));
	return snprintf(out, len, "$7$%d$%s$%s", PW_ITERATIONS, s64, h64) < (int)len ? 0
										     : -1;
}

/* A new random password (base64url, no padding). */
static int
pw_new(char *out, size_t len)
{
	unsigned char raw[PW_RANDOM_BYTES];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -1;
	return token_encode(raw, sizeof(raw), out, len);
}

/* The daemon's password from [mqtt] password_file (first line), or "" when
 * none is configured; -1 when the file cannot be read. */
static int
daemon_password(const struct cli *cli, char *out, size_t len)
{
	char err[160], *text;
	size_t n;

	out[0] = '\0';
	if (cli->conf.mqtt_password_file[0] == '\0')
		return 0;
	text = file_read(cli->conf.mqtt_password_file, 4096, &n, err, sizeof(err));
	if (text == NULL) {
		fprintf(stderr, "carewatch: %s: %s\n", cli->conf.mqtt_password_file, err);
		return -1;
	}
	text[strcspn(text, "\r\n")] = '\0';
	n = (size_t)str_copy(out, text, len);
	free(text);
	if (out[0] == '\0') {
		fprintf(stderr, "carewatch: %s: empty\n", cli->conf.mqtt_password_file);
		return -1;
	}
	return (int)n >= 0 ? 0 : -1;
}

/* Opens path for writing through a temporary file beside it, renamed over
 * it by file_commit(). */
static FILE *
file_begin(const char *path, mode_t mode, char *tmp, size_t len)
{
	int fd;
	FILE *f;

	snprintf(tmp, len, "%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		fprintf(stderr, "carewatch: %s: %s\n", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	return f;
}

static int
file_commit(FILE *f, const char *tmp, const char *path)
{
	if (fflush(f) != 0 || fsync(fileno(f)) != 0 || fclose(f) != 0 ||
	    rename(tmp, path) != 0) {
		fprintf(stderr, "carewatch: %s: %s\n", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

static int
broker_passwd(struct cli *cli, PGconn *c, const char *out_path, const char *new_path)
{
	char hash[PW_LINE_MAX], pw[PW_LINE_MAX], dpw[PW_LINE_MAX], tmp[4096], line[256];
	const char *ins[3];
	PGresult *p = NULL, *r;
	FILE *pf = NULL, *nf = NULL;
	int i, made = 0, kept = 0, rc = 1, fd;

	if (daemon_password(cli, dpw, sizeof(dpw)) < 0)
		return 1;
	if ((p = principals(cli, c)) == NULL)
		return 1;
	if (cli_exec(c, "BEGIN", "begin") < 0)
		goto out;
	for (i = 0; i < PQntuples(p); i++) {
		const char *name = PQgetvalue(p, i, 0), *kind = PQgetvalue(p, i, 1);
		bool is_daemon = strcmp(kind, "daemon") == 0;
		bool fresh;

		ins[0] = name;
		r = PQexecParams(c, "SELECT 1 FROM mqtt_accounts WHERE name = $1", 1,
				 NULL, ins, NULL, NULL, 0);
		fresh = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 0;
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			fprintf(
			    stderr, "carewatch: broker accounts: %s\n",
			    cli_one_line(PQresultErrorMessage(r), line, sizeof(line)));
			PQclear(r);
			goto out;
		}
		PQclear(r);
		/* the daemon's account follows its configured password */
		if (!fresh && !(is_daemon && dpw[0])) {
			kept++;
			continue;
		}
		if (is_daemon && dpw[0])
			str_copy(pw, dpw, sizeof(pw));
		else if (pw_new(pw, sizeof(pw)) < 0)
			goto out;
		if (pw_hash(pw, hash, sizeof(hash)) < 0) {
			fprintf(stderr, "carewatch: cannot hash a password\n");
			goto out;
		}
		if (!(is_daemon && dpw[0])) {
			if (new_path == NULL) {
				fprintf(stderr,
					"carewatch: %s (%s) has no account yet: give "
					"--new-credentials FILE for its password\n",
					name, kind);
				goto out;
			}
			if (nf == NULL) {
				fd = open(new_path,
					  O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
				if (fd < 0 || (nf = fdopen(fd, "w")) == NULL) {
					fprintf(stderr, "carewatch: %s: %s\n", new_path,
						strerror(errno));
					if (fd >= 0)
						close(fd);
					goto out;
				}
				fputs("username,kind,password\n", nf);
			}
			fprintf(nf, "%s,%s,%s\n", name, kind, pw);
			made++;
		}
		ins[0] = name;
		ins[1] = kind;
		ins[2] = hash;
		r = PQexecParams(c,
				 "INSERT INTO mqtt_accounts (name, kind, pw_hash) VALUES "
				 "($1, $2, $3) ON CONFLICT (name) DO UPDATE SET kind = "
				 "EXCLUDED.kind, pw_hash = EXCLUDED.pw_hash",
				 3, NULL, ins, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			fprintf(
			    stderr, "carewatch: broker accounts: %s\n",
			    cli_one_line(PQresultErrorMessage(r), line, sizeof(line)));
			PQclear(r);
			goto out;
		}
		PQclear(r);
	}
	explicit_bzero(pw, sizeof(pw));
	explicit_bzero(dpw, sizeof(dpw));
	/* the file: every current principal's hash; old accounts stay in the
	 * table (a device may come back) but not in the file */
	r = PQexec(c, "SELECT a.name, a.pw_hash FROM mqtt_accounts a ORDER BY a.name");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		goto out;
	}
	if ((pf = file_begin(out_path, 0640, tmp, sizeof(tmp))) == NULL) {
		PQclear(r);
		goto out;
	}
	for (i = 0; i < PQntuples(r); i++) {
		int k;

		for (k = 0; k < PQntuples(p); k++)
			if (strcmp(PQgetvalue(p, k, 0), PQgetvalue(r, i, 0)) == 0)
				break;
		if (k < PQntuples(p))
			fprintf(pf, "%s:%s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
	}
	PQclear(r);
	if (nf != NULL && (fflush(nf) != 0 || fsync(fileno(nf)) != 0)) {
		fprintf(stderr, "carewatch: %s: %s\n", new_path, strerror(errno));
		fclose(pf);
		unlink(tmp);
		goto out;
	}
	if (file_commit(pf, tmp, out_path) < 0)
		goto out;
	if (cli_exec(c, "COMMIT", "commit") < 0)
		goto out;
	snprintf(line, sizeof(line), "{\"accounts\":%d,\"new\":%d}", PQntuples(p), made);
	if (cli_audit_write(c, "broker passwd", line, 0, "ok", tmp, 160) < 0)
		fprintf(stderr, "carewatch: audit: %s\n", tmp);
	printf("%s: %d accounts (%d new, %d kept)%s%s\n", out_path, PQntuples(p), made,
	       kept, made ? "; new passwords in " : "", made ? new_path : "");
	rc = 0;
out:
	if (nf != NULL && fclose(nf) != 0)
		rc = 1;
	if (rc != 0 && nf != NULL)
		unlink(new_path); /* nothing was committed: the passwords are void */
	PQclear(p);
	return rc;
}

static int
broker_acl(struct cli *cli, PGconn *c, const char *out_path)
{
	const char *pre = cli->conf.topic_prefix;
	char tmp[4096], list[CONF_STR_MAX], base[CONF_STR_MAX], user[CONF_STR_MAX];
	char *s, *b, *save = NULL;
	PGresult *p;
	FILE *f = stdout;

	if ((p = principals(cli, c)) == NULL)
		return 1;
	PQclear(p);
	if (out_path != NULL &&
	    (f = file_begin(out_path, 0640, tmp, sizeof(tmp))) == NULL)
		return 1;
	fprintf(f,
		"# carewatch ACL for mosquitto, written by `carewatch broker acl`.\n"
		"# Usernames: a device's id, a responder's id, a phone's "
		"owntracks_user (%%u).\n\n"
		"# Devices: publish their own events and status, read their own "
		"acks.\n"
		"pattern write %s/dev/%%u/event\n"
		"pattern write %s/dev/%%u/status\n"
		"pattern read %s/dev/%%u/ack\n\n"
		"# Responders: publish their own replies and visits, read their own "
		"offers.\n"
		"pattern write %s/resp/%%u/reply\n"
		"pattern write %s/resp/%%u/visit\n"
		"pattern read %s/dispatch/%%u\n",
		pre, pre, pre, pre, pre, pre);
	if (cli->conf.owntracks)
		fprintf(f, "\n# Volunteers' phones (OwnTracks): their own positions.\n"
			   "pattern write owntracks/%%u/#\n");
	fprintf(f,
		"\n# The daemon.\nuser %s\n"
		"topic read %s/dev/#\ntopic read %s/resp/#\n"
		"topic write %s/dispatch/#\ntopic write %s/dev/+/ack\n"
		"topic write %s/deadletter\n",
		daemon_user(cli), pre, pre, pre, pre, pre);
	if (cli->conf.owntracks)
		fprintf(f, "topic read owntracks/#\n");
	str_copy(list, cli->conf.z2m_base, sizeof(list));
	for (b = strtok_r(list, ",", &save); b != NULL; b = strtok_r(NULL, ",", &save))
		if (*(b = str_trim(b)) != '\0')
			fprintf(f, "topic read %s/#\n", b);
	str_copy(list, cli->conf.z2m_base, sizeof(list));
	for (b = strtok_r(list, ",", &save); b != NULL; b = strtok_r(NULL, ",", &save)) {
		if (*(b = str_trim(b)) == '\0')
			continue;
		str_copy(base, b, sizeof(base));
		str_copy(user, base, sizeof(user));
		for (s = user; *s; s++)
			if (*s == '/')
				*s = '_';
		fprintf(
		    f,
		    "\n# The zigbee2mqtt bridge of %s.\nuser %s\ntopic readwrite %s/#\n",
		    base, user, base);
	}
	if (out_path == NULL)
		return fflush(f) == 0 ? 0 : 1;
	if (file_commit(f, tmp, out_path) < 0)
		return 1;
	printf("%s written\n", out_path);
	return 0;
}

int
cmd_broker(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"new-credentials", required_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	const char *out = NULL, *fresh = NULL, *sub;
	PGconn *c;
	int ch, rc;

	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		broker_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	sub = argv[1];
	argc--;
	argv++;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'o':
			out = optarg;
			break;
		case 'n':
			fresh = optarg;
			break;
		case 'h':
			broker_usage(stdout);
			return 0;
		default:
			broker_usage(stderr);
			return 2;
		}
	}
	if (optind != argc || (strcmp(sub, "passwd") != 0 && strcmp(sub, "acl") != 0) ||
	    (strcmp(sub, "passwd") == 0 && out == NULL) ||
	    (strcmp(sub, "acl") == 0 && fresh != NULL)) {
		broker_usage(stderr);
		return 2;
	}
	if ((c = cli_connect(cli)) == NULL)
		return 1;
	rc = strcmp(sub, "passwd") == 0 ? broker_passwd(cli, c, out, fresh)
					: broker_acl(cli, c, out);
	PQfinish(c);
	return rc;
}
