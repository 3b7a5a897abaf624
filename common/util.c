/* util.c - time parsing, small string helpers, reading a file whole */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "util.h"

double
now_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t
xorshift_next(uint64_t *state)
{
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * 0x2545F4914F6CDD1DULL;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (no time zone). */
static long
days_from_civil(int y, int m, int d)
{
	long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Reads exactly n decimal digits at *p (no sign, no blanks) and advances. */
static int
digits(const char **p, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static int
days_in_month(int y, int m)
{
	static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : dm[m - 1];
}

bool
date_exists(int y, int m, int d)
{
	return y >= 1 && m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

int
time_parse_rfc3339(const char *s, double *out)
{
	int y, mo, d, h, mi, sec, oh, om;
	double frac = 0;
	const char *p = s;
	long off = 0;

	if (digits(&p, 4, &y) < 0 || *p++ != '-' || digits(&p, 2, &mo) < 0 ||
	    *p++ != '-' || digits(&p, 2, &d) < 0)
		return -1;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return -1;
	p++;
	if (digits(&p, 2, &h) < 0 || *p++ != ':' || digits(&p, 2, &mi) < 0 ||
	    *p++ != ':' || digits(&p, 2, &sec) < 0)
		return -1;
	if (*p == '.') {
		double scale = 0.1;

		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p)) {
			frac += (*p - '0') * scale;
			scale /= 10;
			p++;
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1;

		p++;
		if (digits(&p, 2, &oh) < 0 || *p++ != ':' || digits(&p, 2, &om) < 0)
			return -1;
		if (oh > 23 || om > 59)
			return -1;
		off = sign * (oh * 3600L + om * 60L);
	} else {
		return -1;
	}
	if (*p != '\0')
		return -1;
	if (y < 1970 || !date_exists(y, mo, d) || h > 23 || mi > 59 || sec > 60)
		return -1;
	*out = (double)(days_from_civil(y, mo, d) * 86400L + h * 3600L + mi * 60L + sec -
			off) +
	       frac;
	return 0;
}

void
time_format(double t, char *buf, size_t len)
{
	time_t secs = (time_t)t;
	struct tm tm;
	int ms = (int)((t - (double)secs) * 1000);

	if (ms < 0)
		ms = 0;
	if (ms > 999)
		ms = 999;
	gmtime_r(&secs, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

int
str_copy(char *dst, const char *src, size_t len)
{
	size_t n = strlen(src);

	if (len == 0)
		return -1;
	if (n >= len) {
		memcpy(dst, src, len - 1);
		dst[len - 1] = '\0';
		return -1;
	}
	memcpy(dst, src, n + 1);
	return 0;
}

char *
str_trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

bool
id_valid(const char *s, size_t len, size_t maxlen)
{
	size_t i;

	if (len == 0 || len > maxlen)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!isalnum(c) && c != '_' && c != '-' && c != '.' && c != ':')
			return false;
	}
	return true;
}

double
opt_number(const char *prog, const char *opt, const char *v, double lo, double hi)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (errno != 0 || end == v || *end != '\0' || !(d >= lo && d <= hi)) {
		fprintf(stderr, "%s: --%s: expected a number from %g to %g\n", prog, opt,
			lo, hi);
		exit(2);
	}
	return d;
}

/* Moves the first used bytes of buf into a new buffer of cap bytes; the old
 * one is wiped first. */
static char *
file_grow(char *buf, size_t used, size_t cap)
{
	char *nbuf = xcalloc(1, cap);

	memcpy(nbuf, buf, used);
	explicit_bzero(buf, used);
	free(buf);
	return nbuf;
}

char *
file_read_stream(FILE *f, size_t max, size_t *len, char *err, size_t errlen)
{
	size_t used = 0, room = max < 65536 ? max : 65536, n; /* room: before the NUL */
	char *buf = xcalloc(1, room + 1);

	*len = 0;
	errno = 0;
	for (;;) {
		/* A short read is the end of the file or an error. */
		n = fread(buf + used, 1, room - used, f);
		used += n;
		if (used < room)
			break;
		if (room == max) {
			if (getc(f) == EOF)
				break;
			if (max >= (1UL << 20))
				snprintf(err, errlen, "larger than %zu MiB", max >> 20);
			else
				snprintf(err, errlen, "larger than %zu bytes", max);
			goto fail;
		}
		room = room < max / 2 ? room * 2 : max;
		buf = file_grow(buf, used, room + 1);
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s", strerror(errno != 0 ? errno : EIO));
		goto fail;
	}
	buf[used] = '\0';
	*len = used;
	return buf;
fail:
	explicit_bzero(buf, used);
	free(buf);
	return NULL;
}

char *
file_read(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
	FILE *f;
	char *buf;

	*len = 0;
	if ((f = fopen(path, "rb")) == NULL) {
		snprintf(err, errlen, "%s", strerror(errno));
		return NULL;
	}
	buf = file_read_stream(f, max, len, err, errlen);
	fclose(f);
	return buf;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		fatal("event=oom size=%zu", n * size);
	return p;
}

void *
xrealloc(void *p, size_t size)
{
	void *q = realloc(p, size ? size : 1);

	if (q == NULL)
		fatal("event=oom size=%zu", size);
	return q;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		fatal("event=oom");
	return p;
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (p == NULL)
		fatal("event=oom");
	return p;
}
