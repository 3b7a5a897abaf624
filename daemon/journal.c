/* journal.c - the spool's append-only file: see journal.h.
 *
 * A record on disk: the magic "CWJ1", the payload's length and the CRC-32C
 * of length and payload (each 4 bytes, little endian), then the payload.
 * Records are appended whole with one write(2) each; a crash can leave the
 * last one cut short or with bytes never written. Such a tail was never
 * fsynced, so never acknowledged: reading stops at the first record that
 * is not whole and correct, and opening cuts the file there. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"

#define MAGIC 0x31574a43u /* "CWJ1" read as a little-endian word */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void
crc_init(void)
{
	uint32_t i, k, c;

	for (i = 0; i < 256; i++) {
		c = i;
		for (k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[i] = c;
	}
}

uint32_t
crc32c(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	pthread_once(&crc_once, crc_init);
	crc = ~crc;
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* The CRC of a record: its length field, then its payload. */
static uint32_t
rec_crc(const unsigned char *lenfield, const void *rec, size_t len)
{
	return crc32c(crc32c(0, lenfield, 4), rec, len);
}

/* Reads exactly len bytes at off; 1 when read, 0 at a short file, -1 on
 * error. */
static int
read_at(int fd, void *buf, size_t len, uint64_t off)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		got += (size_t)n;
	}
	return 1;
}

/* Walks the records from the start; calls fn (when not NULL) on each.
 * *end is where the whole records end. Returns 0, fn's non-zero return,
 * or -1 on an I/O error. */
static int
walk(struct journal *j, journal_rec_fn fn, void *arg, uint64_t *end, char *err,
     size_t errlen)
{
	unsigned char hdr[JOURNAL_HDR];
	uint64_t off = 0;
	char *buf = NULL;
	size_t cap = 0;
	int r, rc = 0;

	for (;;) {
		uint32_t len;

		r = read_at(j->fd, hdr, sizeof(hdr), off);
		if (r <= 0) {
			if (r < 0) {
				snprintf(err, errlen, "%s: %s", j->path, strerror(errno));
				rc = -1;
			}
			break;
		}
		len = get32(hdr + 4);
		if (get32(hdr) != MAGIC || len > JOURNAL_REC_MAX)
			break;
		if (len + 1 > cap) {
			char *nb = realloc(buf, len + 1);

			if (nb == NULL) {
				snprintf(err, errlen, "out of memory");
				rc = -1;
				break;
			}
			buf = nb;
			cap = len + 1;
		}
		r = read_at(j->fd, buf, len, off + JOURNAL_HDR);
		if (r < 0) {
			snprintf(err, errlen, "%s: %s", j->path, strerror(errno));
			rc = -1;
			break;
		}
		if (r == 0 || rec_crc(hdr + 4, buf, len) != get32(hdr + 8))
			break;
		buf[len] = '\0'; /* text records may be read as strings */
		if (fn != NULL && (rc = fn(arg, buf, len)) != 0)
			break;
		off += JOURNAL_HDR + len;
	}
	free(buf);
	*end = off;
	return rc;
}

int
journal_open(struct journal *j, const char *dir, uint64_t *dropped, char *err,
	     size_t errlen)
{
	struct stat st;
	uint64_t end;

	int dfd;

	*dropped = 0;
	j->size = 0;
	err[0] = '\0';
	if ((size_t)snprintf(j->path, sizeof(j->path), "%s/%s", dir, JOURNAL_NAME) >=
	    sizeof(j->path)) {
		snprintf(err, errlen, "spool directory path too long");
		j->fd = -1;
		return -1;
	}
	j->fd = open(j->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (j->fd < 0) {
		snprintf(err, errlen, "%s: %s", j->path, strerror(errno));
		return -1;
	}
	if (fstat(j->fd, &st) < 0 || walk(j, NULL, NULL, &end, err, errlen) < 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "%s: %s", j->path, strerror(errno));
		journal_close(j);
		return -1;
	}
	if ((uint64_t)st.st_size > end) {
		*dropped = (uint64_t)st.st_size - end;
		if (ftruncate(j->fd, (off_t)end) < 0 || fsync(j->fd) < 0) {
			snprintf(err, errlen, "%s: cutting a torn tail: %s", j->path,
				 strerror(errno));
			journal_close(j);
			return -1;
		}
	}
	/* a journal just made must still be there after a crash: its name too */
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	j->size = end;
	return 0;
}

int
journal_read(struct journal *j, journal_rec_fn fn, void *arg, char *err, size_t errlen)
{
	uint64_t end;

	return walk(j, fn, arg, &end, err, errlen);
}

int
journal_next(struct journal *j, uint64_t *off, char **rec, size_t *len, char *err,
	     size_t errlen)
{
	unsigned char hdr[JOURNAL_HDR];
	uint32_t n;
	char *buf;
	int r;

	if (*off >= j->size)
		return 0;
	if ((r = read_at(j->fd, hdr, sizeof(hdr), *off)) <= 0 || get32(hdr) != MAGIC ||
	    (n = get32(hdr + 4)) > JOURNAL_REC_MAX || *off + JOURNAL_HDR + n > j->size) {
		snprintf(err, errlen, "%s: bad record at byte %llu", j->path,
			 (unsigned long long)*off);
		return -1;
	}
	if ((buf = malloc((size_t)n + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (read_at(j->fd, buf, n, *off + JOURNAL_HDR) <= 0 ||
	    rec_crc(hdr + 4, buf, n) != get32(hdr + 8)) {
		snprintf(err, errlen, "%s: bad record at byte %llu", j->path,
			 (unsigned long long)*off);
		free(buf);
		return -1;
	}
	buf[n] = '\0';
	*rec = buf;
	*len = n;
	*off += JOURNAL_HDR + n;
	return 1;
}

int
journal_append(struct journal *j, const void *rec, size_t len, char *err, size_t errlen)
{
	unsigned char *buf;
	size_t total = JOURNAL_HDR + len, done = 0;
	ssize_t n;

	if (len > JOURNAL_REC_MAX) {
		snprintf(err, errlen, "a record of %zu bytes is too large", len);
		return -1;
	}
	if ((buf = malloc(total)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	put32(buf, MAGIC);
	put32(buf + 4, (uint32_t)len);
	put32(buf + 8, rec_crc(buf + 4, rec, len));
	memcpy(buf + JOURNAL_HDR, rec, len);
	while (done < total) {
		n = write(j->fd, buf + done, total - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "%s: %s", j->path,
				 n < 0 ? strerror(errno) : "short write");
			free(buf);
			/* a partial record would read as a torn tail: cut it */
			if (ftruncate(j->fd, (off_t)j->size) < 0)
				return -1;
			return -1;
		}
		done += (size_t)n;
	}
	free(buf);
	j->size += total;
	return 0;
}

int
journal_sync(struct journal *j, char *err, size_t errlen)
{
	if (fdatasync(j->fd) < 0) {
		snprintf(err, errlen, "%s: fdatasync: %s", j->path, strerror(errno));
		return -1;
	}
	return 0;
}

int
journal_clear(struct journal *j, char *err, size_t errlen)
{
	if (ftruncate(j->fd, 0) < 0 || fsync(j->fd) < 0) {
		snprintf(err, errlen, "%s: %s", j->path, strerror(errno));
		return -1;
	}
	j->size = 0;
	return 0;
}

void
journal_close(struct journal *j)
{
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
}
