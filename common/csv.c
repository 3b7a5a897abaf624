/* csv.c - RFC 4180 records from a memory buffer; UTF-8 checks; GB18030 input */
#include "config.h"

#include <errno.h>
#include <iconv.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "log.h"
#include "util.h"

static int csv_fail(struct csv_reader *r, int line, const char *fmt, ...) CW_PRINTF(3, 4);

/* Records the reason and line of a parse error; always returns -1. */
static int
csv_fail(struct csv_reader *r, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	r->err_line = line;
	return -1;
}

/* Appends one byte to the current record's store, growing it as needed. */
static void
csv_put(struct csv_reader *r, char c)
{
	if (r->store_len == r->store_cap) {
		r->store_cap = r->store_cap ? r->store_cap * 2 : 1024;
		r->store = xrealloc(r->store, r->store_cap);
	}
	r->store[r->store_len++] = c;
}

/* Consumes a line break at pos (CRLF, LF or a lone CR) and counts it. */
static void
csv_eat_newline(struct csv_reader *r)
{
	if (r->buf[r->pos] == '\r' && r->pos + 1 < r->len && r->buf[r->pos + 1] == '\n')
		r->pos++;
	r->pos++;
	r->line++;
}

/* Starts reading a buffer: BOM skipped, UTF-8 checked up front. */
int
csv_open(struct csv_reader *r, const char *buf, size_t len)
{
	memset(r, 0, sizeof(*r));
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) {
		buf += 3;
		len -= 3;
	}
	if (csv_check_utf8(buf, len, &r->err_line) < 0) {
		snprintf(r->err, sizeof(r->err), "not valid UTF-8 text");
		return -1;
	}
	r->buf = buf;
	r->len = len;
	r->line = 1;
	r->fields = xcalloc(CSV_FIELDS_MAX, sizeof(*r->fields));
	r->lens = xcalloc(CSV_FIELDS_MAX, sizeof(*r->lens));
	r->offs = xcalloc(CSV_FIELDS_MAX, sizeof(*r->offs));
	return 0;
}

/* Reads one quoted field starting at the opening quote into the store. */
static int
csv_quoted(struct csv_reader *r, size_t start)
{
	int open_line = r->line;
	bool quote2;
	char c;

	r->pos++;
	for (;;) {
		if (r->pos >= r->len)
			return csv_fail(r, open_line, "quoted field never closed");
		c = r->buf[r->pos];
		quote2 = c == '"' && r->pos + 1 < r->len && r->buf[r->pos + 1] == '"';
		if (c == '"' && !quote2) {
			r->pos++;
			break;
		}
		if (r->store_len - start >= CSV_FIELD_MAX)
			return csv_fail(r, open_line, "field longer than %d bytes",
					CSV_FIELD_MAX);
		if (quote2) {
			csv_put(r, '"');
			r->pos += 2;
			continue;
		}
		if (c == '\r' || c == '\n') {
			/* Line breaks inside a field are kept as LF whatever the file
			 * used. */
			csv_eat_newline(r);
			csv_put(r, '\n');
			continue;
		}
		csv_put(r, c);
		r->pos++;
	}
	if (r->pos < r->len) {
		c = r->buf[r->pos];
		if (c != ',' && c != '\r' && c != '\n')
			return csv_fail(r, r->line,
					"text after the closing quote of a field");
	}
	return 0;
}

/* Reads one unquoted field up to a comma, a line break or the end. */
static int
csv_plain(struct csv_reader *r, size_t start)
{
	char c;

	while (r->pos < r->len) {
		c = r->buf[r->pos];
		if (c == ',' || c == '\r' || c == '\n')
			break;
		if (c == '"')
			return csv_fail(
			    r, r->line,
			    "quote inside an unquoted field (quote the whole field "
			    "and double the quote)");
		if (r->store_len - start >= CSV_FIELD_MAX)
			return csv_fail(r, r->line, "field longer than %d bytes",
					CSV_FIELD_MAX);
		csv_put(r, c);
		r->pos++;
	}
	return 0;
}

/* Reads the next record into the reader's store. */
int
csv_next(struct csv_reader *r)
{
	size_t start;
	int i;

	/* Empty lines separate nothing; a trailing one is common. */
	while (r->pos < r->len && (r->buf[r->pos] == '\r' || r->buf[r->pos] == '\n'))
		csv_eat_newline(r);
	if (r->pos >= r->len)
		return 0;
	r->rec_line = r->line;
	r->nfields = 0;
	r->store_len = 0;
	for (;;) {
		if (r->nfields == CSV_FIELDS_MAX)
			return csv_fail(r, r->rec_line, "more than %d fields in a record",
					CSV_FIELDS_MAX);
		start = r->store_len;
		r->offs[r->nfields] = start;
		if (r->pos < r->len && r->buf[r->pos] == '"') {
			if (csv_quoted(r, start) < 0)
				return -1;
		} else if (csv_plain(r, start) < 0) {
			return -1;
		}
		r->lens[r->nfields] = r->store_len - start;
		csv_put(r, '\0');
		r->nfields++;
		if (r->pos >= r->len)
			break;
		if (r->buf[r->pos] == ',') {
			r->pos++;
			continue;
		}
		csv_eat_newline(r);
		break;
	}
	/* Pointers only now: the store may have moved while it grew. */
	for (i = 0; i < r->nfields; i++)
		r->fields[i] = r->store + r->offs[i];
	return 1;
}

/* Frees the record store; the caller's buffer is untouched. */
void
csv_close(struct csv_reader *r)
{
	/* The text may hold personal data: leave none of it in freed memory. */
	if (r->store != NULL)
		explicit_bzero(r->store, r->store_cap);
	free(r->fields);
	free(r->lens);
	free(r->offs);
	free(r->store);
	r->fields = NULL;
	r->lens = NULL;
	r->offs = NULL;
	r->store = NULL;
	r->nfields = 0;
}

/* Finds a header column by its exact name. */
int
csv_column(const struct csv_reader *r, const char *name)
{
	int i;

	for (i = 0; i < r->nfields; i++) {
		if (strcmp(r->fields[i], name) == 0)
			return i;
	}
	return -1;
}

/* Reads a file whole for csv_open(), up to CSV_FILE_MAX bytes. */
char *
csv_read_file(const char *path, size_t *len, char *err, size_t errlen)
{
	return file_read(path, (size_t)CSV_FILE_MAX, len, err, errlen);
}

/* Line number (from 1) of byte offset off: LF, CRLF and a lone CR each end a
 * line, as in the reader. */
static int
csv_line_at(const char *buf, size_t off)
{
	int line = 1;
	size_t i;

	for (i = 0; i < off; i++) {
		if (buf[i] == '\n' ||
		    (buf[i] == '\r' && (i + 1 >= off || buf[i + 1] != '\n')))
			line++;
	}
	return line;
}

/* Validates UTF-8 so that no later step sees malformed text. */
int
csv_check_utf8(const char *buf, size_t len, int *line)
{
	const unsigned char *s = (const unsigned char *)buf;
	unsigned char c, lo, hi;
	size_t i = 0, n, k;

	while (i < len) {
		c = s[i];
		if (c >= 0x01 && c < 0x80) {
			i++;
			continue;
		}
		/* Table 3-7 of the Unicode standard: well-formed byte sequences. */
		lo = 0x80;
		hi = 0xbf;
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else {
			goto bad; /* NUL, a stray continuation byte, C0/C1, F5..FF */
		}
		if (i + n >= len)
			goto bad; /* cut short by the end of the text */
		if (s[i + 1] < lo || s[i + 1] > hi)
			goto bad;
		for (k = 2; k <= n; k++) {
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				goto bad;
		}
		i += n + 1;
	}
	return 0;
bad:
	*line = csv_line_at(buf, i);
	return -1;
}

/* Converts a spreadsheet's GB18030 (GBK) export to UTF-8. */
int
csv_to_utf8(const char *in, size_t len, char **out, size_t *outlen, int *line, char *err,
	    size_t errlen)
{
	iconv_t cd;
	char *src = (char *)in, *dst, *res;
	size_t left = len, cap, room, done;
	int rc = -1;

	*line = 0;
	*out = NULL;
	*outlen = 0;
	cd = iconv_open("UTF-8", "GB18030");
	if (cd == (iconv_t)-1) {
		snprintf(err, errlen, "cannot convert from GB18030: %s", strerror(errno));
		return -1;
	}
	/* Two bytes of GB18030 become at most three of UTF-8, four stay four. */
	cap = len + len / 2 + 16;
	res = xcalloc(1, cap);
	dst = res;
	room = cap - 1;
	while (left > 0) {
		if (iconv(cd, &src, &left, &dst, &room) != (size_t)-1)
			continue;
		if (errno == E2BIG) {
			done = (size_t)(dst - res);
			cap *= 2;
			res = xrealloc(res, cap);
			dst = res + done;
			room = cap - 1 - done;
			continue;
		}
		*line = csv_line_at(in, (size_t)(src - in));
		snprintf(err, errlen, "%s",
			 errno == EINVAL ? "text ends inside a GB18030 character"
					 : "not valid GB18030 text");
		free(res);
		goto out;
	}
	*dst = '\0';
	*out = res;
	*outlen = (size_t)(dst - res);
	rc = 0;
out:
	iconv_close(cd);
	return rc;
}
