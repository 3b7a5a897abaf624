/* csv.h - RFC 4180 CSV reader over a memory buffer, GB18030 to UTF-8 */
#ifndef CW_CSV_H
#define CW_CSV_H

#include <stdbool.h>
#include <stddef.h>

#define CSV_FIELD_MAX  (64 * 1024) /* bytes in one field, after unquoting */
#define CSV_FIELDS_MAX 256	   /* fields in one record */
#define CSV_ERR_MAX    160
#define CSV_FILE_MAX   (256L << 20) /* bytes csv_read_file() reads at most */

/* A reader over a caller-owned buffer. The current record's fields are
 * NUL-terminated strings valid until the next csv_next() or csv_close(). */
struct csv_reader {
	const char *buf;
	size_t len;
	size_t pos;
	int line; /* line number at pos, from 1 */

	char **fields; /* the current record */
	size_t *lens;  /* their lengths in bytes */
	int nfields;   /* how many */
	int rec_line;  /* the line the current record starts on */

	char *store; /* field bytes of the current record, each NUL-terminated */
	size_t store_len, store_cap;
	size_t *offs; /* field offsets into store while a record is read */

	char err[CSV_ERR_MAX]; /* reason of the last error */
	int err_line;	       /* its line */
};

/* Prepares r over buf (len bytes, not copied): skips a UTF-8 byte order mark
 * and checks that the whole buffer is valid UTF-8 without NUL bytes. Returns
 * 0, or -1 with the reason in r->err and r->err_line (r needs no close). */
int csv_open(struct csv_reader *r, const char *buf, size_t len);

/* Reads the next record, skipping empty lines. Returns 1 with the record in
 * r->fields / r->nfields / r->rec_line, 0 at the end of the buffer, or -1 on
 * malformed input (reason in r->err, line in r->err_line). */
int csv_next(struct csv_reader *r);

/* Frees what the reader allocated (the buffer stays the caller's). */
void csv_close(struct csv_reader *r);

/* Index of the field of the current record that equals name (compared case
 * sensitively; meant for the header record), or -1 when there is none. A
 * UTF-8 byte order mark never gets in the way: csv_open() skips it. */
int csv_column(const struct csv_reader *r, const char *name);

/* Reads the whole file at path into a new NUL-terminated buffer (free() it;
 * *len is its length without the NUL) to give to csv_open(). Returns the
 * buffer, or NULL with the reason, without the path, in err: the file cannot
 * be read, or holds more than CSV_FILE_MAX bytes. */
char *csv_read_file(const char *path, size_t *len, char *err, size_t errlen);

/* Checks that buf is valid UTF-8 (shortest forms, no surrogates, nothing
 * above U+10FFFF) and holds no NUL byte. Returns 0, or -1 with the line of the
 * first bad byte in *line. */
int csv_check_utf8(const char *buf, size_t len, int *line);

/* Converts GB18030 text to UTF-8 with iconv into a new buffer *out (NUL
 * terminated, *outlen bytes without the NUL; free() it). Returns 0, or -1
 * with the reason in err and the line of the first bad byte in *line (0 when
 * no line applies). */
int csv_to_utf8(const char *in, size_t len, char **out, size_t *outlen, int *line,
		char *err, size_t errlen);

#endif
