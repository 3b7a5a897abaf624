/* http.h - a small blocking HTTP/1.1 client for the command line: one
 * request per connection (Connection: close), one deadline over all of it,
 * a cap on the reply. Only what carewatchd's API needs; no library. */
#ifndef CW_CLI_HTTP_H
#define CW_CLI_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_REPLY_MAX (1UL << 20) /* bytes of a reply, headers and body */
#define HTTP_HEAD_MAX  16384	   /* bytes of its status line and headers */
#define HTTP_HOST_MAX  256

struct http_reply {
	int status;
	char reason[64]; /* the status line's reason phrase */
	char *body;	 /* NUL-terminated (free with http_reply_free) */
	size_t body_len;
};

enum http_result {
	HTTP_OK = 0,
	HTTP_UNREACHABLE = -1, /* no connection: err says why */
	HTTP_FAILED = -2,      /* connected, but no complete reply: err says why */
};

/* Splits [http] listen ("127.0.0.1:8080", "[::1]:8080", "localhost:8080")
 * into the host to connect to and the port. A wildcard address the daemon
 * may listen on (0.0.0.0, ::, * or none) becomes the loopback address of
 * its family. 0, or -1 when there is no valid port. */
int http_split_hostport(const char *hostport, char *host, size_t hlen, char *port,
			size_t plen);

/* Parses the reply received so far, buf[0..len): 1 when it is complete
 * (rep filled: free it), 0 when more bytes are needed, -1 with the reason
 * in err when it is malformed, too large or (eof: the server closed) cut
 * short. Bodies come with Content-Length, chunked, or up to the close. */
int http_parse_reply(const char *buf, size_t len, bool eof, struct http_reply *rep,
		     char *err, size_t errlen);

/* POSTs a JSON body to path at hostport, with extra header lines (each
 * ending in \r\n; NULL for none), and reads the reply; all of it within
 * timeout_s seconds. */
enum http_result http_post(const char *hostport, const char *path, const char *headers,
			   const char *body, double timeout_s, struct http_reply *rep,
			   char *err, size_t errlen);

void http_reply_free(struct http_reply *rep);

#endif
