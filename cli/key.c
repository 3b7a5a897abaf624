/* key.c - the key that protects id numbers (身份证号) in the database: where
 * it lives, creating it once, and its fingerprint, recorded in the database
 * so that a wrong key is refused. The key is never printed or logged. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "cli.h"
#include "util.h"

#define KEY_RANDOM_BYTES 32 /* of a new key, written base64 */
#define KEY_MIN		 16 /* bytes of text in a key file at least */

const char *
cli_key_path(const struct cli *cli, char *buf, size_t len)
{
	if (cli->conf.id_key_file[0] != '\0')
		str_copy(buf, cli->conf.id_key_file, len);
	else
		snprintf(buf, len, "%s/id.key", cli->conf.spool_dir);
	return buf;
}

int
cli_key_read(const struct cli *cli, char *key, size_t len, bool *missing, char *err,
	     size_t errlen)
{
	char path[CONF_STR_MAX + 16], why[128];
	struct stat st;
	size_t n;
	char *text;

	*missing = false;
	key[0] = '\0';
	cli_key_path(cli, path, sizeof(path));
	if (stat(path, &st) < 0 && errno == ENOENT) {
		*missing = true;
		snprintf(err, errlen, "%s: %s", path, strerror(ENOENT));
		return -1;
	}
	if ((text = file_read(path, len - 1, &n, why, sizeof(why))) == NULL) {
		snprintf(err, errlen, "%s: %s", path, why);
		return -1;
	}
	/* one line of text; the line break is not part of the key */
	while (n > 0 &&
	       (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
		text[--n] = '\0';
	if (strlen(text) != n) {
		snprintf(err, errlen, "%s: the key holds a NUL byte", path);
	} else if (n < KEY_MIN) {
		snprintf(err, errlen, "%s: key shorter than %d bytes", path, KEY_MIN);
	} else {
		memcpy(key, text, n + 1);
		err[0] = '\0';
	}
	explicit_bzero(text, n);
	free(text);
	return key[0] != '\0' ? 0 : -1;
}

/* Makes what is written into directory dir durable: its entries. */
static int
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* Creates directory dir with mode 0700 unless it exists, durably. */
static int
key_dir(const char *dir, char *err, size_t errlen)
{
	char parent[CONF_STR_MAX + 16], *slash;
	struct stat st;

	if (stat(dir, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return 0;
		snprintf(err, errlen, "%s: not a directory", dir);
		return -1;
	}
	if (errno != ENOENT)
		goto fail;
	if (mkdir(dir, 0700) < 0) {
		if (errno == EEXIST) /* made meanwhile */
			return 0;
		goto fail;
	}
	/* exactly 0700, whatever the umask */
	if (chmod(dir, 0700) < 0)
		goto fail;
	str_copy(parent, dir, sizeof(parent));
	if ((slash = strrchr(parent, '/')) != NULL) {
		slash[slash == parent ? 1 : 0] = '\0';
		fsync_dir(parent);
	}
	return 0;
fail:
	snprintf(err, errlen, "%s: %s", dir, strerror(errno));
	return -1;
}

int
cli_key_create(const char *path, char *err, size_t errlen)
{
	unsigned char raw[KEY_RANDOM_BYTES];
	char text[4 * KEY_RANDOM_BYTES / 3 + 8], dir[CONF_STR_MAX + 16], *slash;
	size_t len, off = 0;
	ssize_t w;
	int fd, rc = -1;

	str_copy(dir, path, sizeof(dir));
	if ((slash = strrchr(dir, '/')) == NULL)
		str_copy(dir, ".", sizeof(dir));
	else
		slash[slash == dir ? 1 : 0] = '\0';
	if (key_dir(dir, err, errlen) < 0)
		return -1;
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		snprintf(err, errlen, "%s: OpenSSL has no random bytes to make a key",
			 path);
		return -1;
	}
	len = (size_t)EVP_EncodeBlock((unsigned char *)text, raw, sizeof(raw));
	text[len++] = '\n';
	/* never over an existing key: that would lose every id number */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == EEXIST)
			rc = 0; /* made meanwhile by another migrate: that one holds */
		else
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	while (off < len) {
		if ((w = write(fd, text + off, len - off)) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		off += (size_t)w;
	}
	if (off < len || fchmod(fd, 0600) < 0 || fsync(fd) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		goto out;
	}
	if (close(fd) < 0 || fsync_dir(dir) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		unlink(path);
		goto out;
	}
	rc = 0;
out:
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(text, sizeof(text));
	return rc;
}

int
cli_key_fingerprint(const char *key, char *hex, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;

	if (len < CLI_KEY_FP_LEN ||
	    EVP_Digest(key, strlen(key), md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen * 2 + 1 > CLI_KEY_FP_LEN)
		return -1;
	for (i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

int
cli_key_recorded(PGconn *c, char *hex, size_t len, char *err, size_t errlen)
{
	PGresult *r = PQexec(c, "SELECT fingerprint FROM id_key");
	const char *state;
	char msg[256];
	int rc = -1;

	if (PQresultStatus(r) == PGRES_TUPLES_OK) {
		rc = PQntuples(r) == 1;
		if (rc)
			str_copy(hex, PQgetvalue(r, 0, 0), len);
	} else {
		state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		if (state != NULL && strcmp(state, "42P01") == 0)
			snprintf(err, errlen,
				 "the database has no table id_key: run `carewatch db "
				 "migrate`");
		else
			snprintf(err, errlen, "database: %s",
				 cli_one_line(PQresultErrorMessage(r), msg, sizeof(msg)));
	}
	PQclear(r);
	return rc;
}

int
cli_key_check(const struct cli *cli, PGconn *c, const char *key, char *err, size_t errlen)
{
	char path[CONF_STR_MAX + 16], have[CLI_KEY_FP_LEN], want[CLI_KEY_FP_LEN];
	int rec;

	cli_key_path(cli, path, sizeof(path));
	if (cli_key_fingerprint(key, have, sizeof(have)) < 0) {
		snprintf(err, errlen, "%s: cannot compute the key's fingerprint", path);
		return -1;
	}
	if ((rec = cli_key_recorded(c, want, sizeof(want), err, errlen)) < 0)
		return -1;
	if (rec == 0) {
		snprintf(err, errlen,
			 "the database has no id-number key recorded: run `carewatch db "
			 "migrate` with %s in place",
			 path);
		return -1;
	}
	if (strcmp(have, want) != 0) {
		snprintf(
		    err, errlen,
		    "%s is not the key this database's id numbers are stored with "
		    "(fingerprint %.12s..., the database recorded %.12s...): restore "
		    "that key or point [privacy] id_key_file at it",
		    path, have, want);
		return -1;
	}
	return 0;
}
