/* util.h - small helpers shared by every program: time, strings, files */
#ifndef CW_UTIL_H
#define CW_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Wall-clock time in seconds since the epoch, with sub-second precision. */
double now_wall(void);

/* Monotonic seconds, for pacing and measuring intervals. */
double now_mono(void);

/* xorshift64*: one step of a small, seedable generator (state != 0). */
uint64_t xorshift_next(uint64_t *state);

/* Parses RFC 3339 ("2026-11-22T08:15:00+08:00", "...Z", fractions allowed)
 * into epoch seconds; -1 on error. */
int time_parse_rfc3339(const char *s, double *out);

/* True when y-m-d is a day of the (proleptic Gregorian) calendar. */
bool date_exists(int y, int m, int d);

/* Formats epoch seconds as RFC 3339 UTC with milliseconds. */
void time_format(double t, char *buf, size_t len);

/* Copies src into dst (size len) and always terminates; returns 0, or -1 when
 * src did not fit. */
int str_copy(char *dst, const char *src, size_t len);

/* Cuts ASCII spaces and tabs from both ends of s in place; returns the
 * first kept character. */
char *str_trim(char *s);

/* True when s is an identifier we accept in topics and keys: 1..maxlen of
 * [A-Za-z0-9_.:-]. */
bool id_valid(const char *s, size_t len, size_t maxlen);

/* Parses the value v of command-line option --opt as a number in [lo, hi];
 * prints "prog: --opt: ..." and exits 2 when it is not one. */
double opt_number(const char *prog, const char *opt, const char *v, double lo, double hi);

/* Reads the rest of f, at most max bytes, into a new NUL-terminated buffer
 * (free() it; *len is its length without the NUL). Returns the buffer, or
 * NULL with the reason in err: a read error, or more than max bytes. Buffers
 * outgrown on the way are wiped, as the text may hold personal data. */
char *file_read_stream(FILE *f, size_t max, size_t *len, char *err, size_t errlen);

/* file_read_stream() of the file at path; the reason in err never names the
 * path, so that callers can put it first. */
char *file_read(const char *path, size_t max, size_t *len, char *err, size_t errlen);

/* xmalloc family: abort with a message when memory runs out. */
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
