/* http.c - the command line's HTTP/1.1 client: connect, send one request,
 * read one reply, every step bounded by the same deadline */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "util.h"

int
http_split_hostport(const char *hostport, char *host, size_t hlen, char *port,
		    size_t plen)
{
	const char *colon, *end;
	char h[HTTP_HOST_MAX];
	size_t n;
	long p;
	char *e;

	if (hostport[0] == '[') {
		end = strchr(hostport, ']');
		if (end == NULL || end[1] != ':')
			return -1;
		n = (size_t)(end - hostport - 1);
		colon = end + 1;
		hostport++;
	} else {
		colon = strrchr(hostport, ':');
		if (colon == NULL)
			return -1;
		n = (size_t)(colon - hostport);
	}
	if (n >= sizeof(h))
		return -1;
	memcpy(h, hostport, n);
	h[n] = '\0';
	errno = 0;
	p = strtol(colon + 1, &e, 10);
	if (errno != 0 || e == colon + 1 || *e != '\0' || p < 1 || p > 65535 ||
	    !isdigit((unsigned char)colon[1]))
		return -1;
	/* the daemon listening everywhere is reached on loopback */
	if (h[0] == '\0' || strcmp(h, "*") == 0 || strcmp(h, "0.0.0.0") == 0)
		str_copy(h, "127.0.0.1", sizeof(h));
	else if (strcmp(h, "::") == 0)
		str_copy(h, "::1", sizeof(h));
	if (str_copy(host, h, hlen) < 0)
		return -1;
	snprintf(port, plen, "%ld", p);
	return 0;
}

/* Finds needle in the first len bytes of buf. */
static const char *
find(const char *buf, size_t len, const char *needle)
{
	size_t n = strlen(needle), i;

	for (i = 0; i + n <= len; i++) {
		if (memcmp(buf + i, needle, n) == 0)
			return buf + i;
	}
	return NULL;
}

/* Parses a whole number of decimal (base 10) or hex (16) digits from the
 * start of s, up to end; stops at the first other character, which *next
 * points at. -1 when there is no digit or it exceeds max. */
static long long
number(const char *s, const char *end, int base, size_t max, const char **next)
{
	long long v = 0;
	int d, digits = 0;

	for (; s < end; s++, digits++) {
		if (isdigit((unsigned char)*s))
			d = *s - '0';
		else if (base == 16 && isxdigit((unsigned char)*s))
			d = tolower((unsigned char)*s) - 'a' + 10;
		else
			break;
		v = v * base + d;
		if ((unsigned long long)v > max)
			return -1;
	}
	*next = s;
	return digits > 0 ? v : -1;
}

/* Decodes a chunked body from p to end into out (at least end - p bytes):
 * 1 when the last chunk was seen, 0 when more is needed, -1 when bad. */
static int
dechunk(const char *p, const char *end, char *out, size_t *outlen)
{
	const char *eol, *q;
	long long size;

	*outlen = 0;
	for (;;) {
		eol = find(p, (size_t)(end - p), "\r\n");
		if (eol == NULL)
			return 0;
		size = number(p, eol, 16, HTTP_REPLY_MAX, &q);
		/* chunk extensions (;name=value) are allowed and ignored */
		if (size < 0 || (q != eol && *q != ';' && *q != ' '))
			return -1;
		p = eol + 2;
		if (size == 0)
			return 1; /* trailers, if any, are not needed */
		if ((size_t)(end - p) < (size_t)size + 2)
			return 0;
		memcpy(out + *outlen, p, (size_t)size);
		*outlen += (size_t)size;
		p += size;
		if (p[0] != '\r' || p[1] != '\n')
			return -1;
		p += 2;
	}
}

/* True when the header line [line, eol) is name: (any case); *value then
 * points past the colon and blanks. */
static bool
header_is(const char *line, const char *eol, const char *name, const char **value)
{
	size_t n = strlen(name);

	if ((size_t)(eol - line) <= n || strncasecmp(line, name, n) != 0 ||
	    line[n] != ':')
		return false;
	for (line += n + 1; line < eol && (*line == ' ' || *line == '\t'); line++)
		;
	*value = line;
	return true;
}

int
http_parse_reply(const char *buf, size_t len, bool eof, struct http_reply *rep, char *err,
		 size_t errlen)
{
	const char *head_end, *line, *eol, *v, *q, *body, *end = buf + len, *r;
	long long clen = -1;
	bool chunked = false;
	size_t blen, i;
	char *out;
	int st;

	memset(rep, 0, sizeof(*rep));
	head_end = find(buf, len < HTTP_HEAD_MAX ? len : HTTP_HEAD_MAX, "\r\n\r\n");
	if (head_end == NULL) {
		if (len >= HTTP_HEAD_MAX) {
			snprintf(err, errlen, "reply headers larger than %d bytes",
				 HTTP_HEAD_MAX);
			return -1;
		}
		if (eof) {
			snprintf(err, errlen, "the reply was cut short in its headers");
			return -1;
		}
		return 0;
	}
	/* HTTP/1.x NNN reason */
	eol = find(buf, (size_t)(head_end + 2 - buf), "\r\n");
	if ((size_t)(eol - buf) < 12 || strncmp(buf, "HTTP/1.", 7) != 0 ||
	    !isdigit((unsigned char)buf[7]) || buf[8] != ' ' ||
	    number(buf + 9, buf + 12, 10, 999, &q) < 100 || q != buf + 12 ||
	    (eol > buf + 12 && buf[12] != ' ')) {
		snprintf(err, errlen, "not an HTTP/1 reply");
		return -1;
	}
	st = (int)number(buf + 9, buf + 12, 10, 999, &q);
	r = eol > buf + 13 ? buf + 13 : eol;
	snprintf(rep->reason, sizeof(rep->reason), "%.*s", (int)(eol - r), r);
	for (i = 0; rep->reason[i] != '\0'; i++) {
		if ((unsigned char)rep->reason[i] < 0x20)
			rep->reason[i] = ' ';
	}
	for (line = eol + 2; line < head_end + 2; line = eol + 2) {
		eol = find(line, (size_t)(head_end + 2 - line), "\r\n");
		if (header_is(line, eol, "Content-Length", &v)) {
			clen = number(v, eol, 10, HTTP_REPLY_MAX, &q);
			for (; q < eol && (*q == ' ' || *q == '\t'); q++)
				;
			if (clen < 0 || q != eol) {
				snprintf(err, errlen,
					 "a bad Content-Length in the reply");
				return -1;
			}
		} else if (header_is(line, eol, "Transfer-Encoding", &v)) {
			chunked = find(v, (size_t)(eol - v), "chunked") != NULL;
		}
	}
	body = head_end + 4;
	blen = (size_t)(end - body);
	out = xcalloc(1, blen + 1);
	if (st == 204 || st == 304 || st < 200) {
		blen = 0;
	} else if (chunked) {
		int d = dechunk(body, end, out, &blen);

		if (d < 0 || (d == 0 && eof)) {
			snprintf(err, errlen,
				 d < 0 ? "a bad chunk in the reply"
				       : "the reply was cut short");
			free(out);
			return -1;
		}
		if (d == 0) {
			free(out);
			return 0;
		}
	} else if (clen >= 0) {
		if (blen < (size_t)clen) {
			free(out);
			if (!eof)
				return 0;
			snprintf(err, errlen, "the reply was cut short");
			return -1;
		}
		blen = (size_t)clen;
		memcpy(out, body, blen);
	} else {
		/* no length: the body ends where the connection does */
		if (!eof) {
			free(out);
			return 0;
		}
		memcpy(out, body, blen);
	}
	out[blen] = '\0';
	rep->status = st;
	rep->body = out;
	rep->body_len = blen;
	return 1;
}

void
http_reply_free(struct http_reply *rep)
{
	free(rep->body);
	rep->body = NULL;
	rep->body_len = 0;
}

/* Milliseconds left until deadline (now_mono() seconds), at least 0. */
static int
ms_left(double deadline)
{
	double left = deadline - now_mono();

	return left <= 0 ? 0 : (int)(left * 1000) + 1;
}

/* Waits until fd is ready for events or the deadline passes: 1 ready, 0
 * timed out, -1 error (errno). */
static int
wait_fd(int fd, short events, double deadline)
{
	struct pollfd p = {.fd = fd, .events = events};
	int n;

	for (;;) {
		n = poll(&p, 1, ms_left(deadline));
		if (n < 0 && errno == EINTR)
			continue;
		return n;
	}
}

/* Connects to host:port, trying each address, within the deadline: the
 * socket (non-blocking), or -1 with the reason in err. */
static int
connect_to(const char *host, const char *port, double deadline, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL, *ai;
	int fd = -1, e = ECONNREFUSED, gai, so;
	socklen_t sl = sizeof(so);

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((gai = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "%s", gai_strerror(gai));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			int w = wait_fd(fd, POLLOUT, deadline);

			if (w == 0) {
				e = ETIMEDOUT;
			} else if (w > 0 &&
				   getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl) == 0) {
				if (so == 0)
					break;
				e = so;
			} else {
				e = errno;
			}
		} else {
			e = errno;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		snprintf(err, errlen, "%s", strerror(e));
	return fd;
}

/* Sends all of buf within the deadline: 0, or -1 with the reason. */
static int
send_all(int fd, const char *buf, size_t len, double deadline, char *err, size_t errlen)
{
	ssize_t n;
	int w;

	while (len > 0) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((w = wait_fd(fd, POLLOUT, deadline)) > 0)
				continue;
			if (w == 0) {
				snprintf(err, errlen, "sending the request timed out");
				return -1;
			}
		}
		snprintf(err, errlen, "sending the request: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Reads the reply until it is complete, the server closes, the cap or the
 * deadline: 0 with rep filled, or -1 with the reason. */
static int
read_reply(int fd, double deadline, double timeout_s, struct http_reply *rep, char *err,
	   size_t errlen)
{
	size_t cap = 8192, len = 0;
	char *buf = xcalloc(1, cap);
	bool eof = false;
	ssize_t n;
	int rc = -1, w, p;

	for (;;) {
		p = http_parse_reply(buf, len, eof, rep, err, errlen);
		if (p != 0) {
			rc = p > 0 ? 0 : -1;
			break;
		}
		if (len == cap) {
			if (len >= HTTP_REPLY_MAX) {
				snprintf(err, errlen, "reply larger than %lu bytes",
					 HTTP_REPLY_MAX);
				break;
			}
			cap = cap * 2 < HTTP_REPLY_MAX ? cap * 2 : HTTP_REPLY_MAX;
			buf = xrealloc(buf, cap);
		}
		n = recv(fd, buf + len, cap - len, 0);
		if (n > 0) {
			len += (size_t)n;
		} else if (n == 0) {
			eof = true;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if ((w = wait_fd(fd, POLLIN, deadline)) == 0) {
				snprintf(err, errlen, "no reply within %g s", timeout_s);
				break;
			}
			if (w < 0) {
				snprintf(err, errlen, "%s", strerror(errno));
				break;
			}
		} else if (errno != EINTR) {
			snprintf(err, errlen, "reading the reply: %s", strerror(errno));
			break;
		}
	}
	free(buf);
	return rc;
}

enum http_result
http_post(const char *hostport, const char *path, const char *headers, const char *body,
	  double timeout_s, struct http_reply *rep, char *err, size_t errlen)
{
	double deadline = now_mono() + timeout_s;
	char host[HTTP_HOST_MAX], port[8], *req;
	size_t blen = strlen(body), rlen;
	int fd, rc;

	memset(rep, 0, sizeof(*rep));
	if (http_split_hostport(hostport, host, sizeof(host), port, sizeof(port)) < 0) {
		snprintf(err, errlen, "not HOST:PORT");
		return HTTP_UNREACHABLE;
	}
	if ((fd = connect_to(host, port, deadline, err, errlen)) < 0)
		return HTTP_UNREACHABLE;
	rlen = strlen(path) + strlen(hostport) + (headers ? strlen(headers) : 0) + blen +
	       256;
	req = xcalloc(1, rlen);
	snprintf(req, rlen,
		 "POST %s HTTP/1.1\r\n"
		 "Host: %s\r\n"
		 "Content-Type: application/json\r\n"
		 "Accept: application/json\r\n"
		 "Content-Length: %zu\r\n"
		 "Connection: close\r\n"
		 "%s"
		 "\r\n"
		 "%s",
		 path, hostport, blen, headers ? headers : "", body);
	rc = send_all(fd, req, strlen(req), deadline, err, errlen);
	/* the request holds the token */
	explicit_bzero(req, rlen);
	free(req);
	if (rc == 0)
		rc = read_reply(fd, deadline, timeout_s, rep, err, errlen);
	close(fd);
	return rc == 0 ? HTTP_OK : HTTP_FAILED;
}
