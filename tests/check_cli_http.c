/* check_cli_http.c - unit tests for the command line's HTTP client
 * (cli/http.c): where [http] listen points, and reading a reply however
 * it is framed, cut or malformed */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "http.h"

/* Checks that hostport splits into host and port. */
static void
split_ok(const char *hostport, const char *host, const char *port)
{
	char h[HTTP_HOST_MAX], p[8];

	ck_assert_msg(http_split_hostport(hostport, h, sizeof(h), p, sizeof(p)) == 0,
		      "%s refused", hostport);
	ck_assert_str_eq(h, host);
	ck_assert_str_eq(p, port);
}

/* Addresses, wildcards and ports as [http] listen may give them. */
START_TEST(test_split)
{
	static const char *const bad[] = {"127.0.0.1", "h:0",  "h:65536",   "h:80x",
					  "h:",	       "h:-1", "[::1]8080", "[::1",
					  "",	       "h: 80"};
	char h[HTTP_HOST_MAX], p[8];
	size_t i;

	split_ok("127.0.0.1:8080", "127.0.0.1", "8080");
	split_ok("localhost:80", "localhost", "80");
	split_ok("[::1]:8080", "::1", "8080");
	/* the daemon listening everywhere is reached on loopback */
	split_ok("0.0.0.0:8080", "127.0.0.1", "8080");
	split_ok(":8080", "127.0.0.1", "8080");
	split_ok("*:8080", "127.0.0.1", "8080");
	split_ok("[::]:8080", "::1", "8080");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(http_split_hostport(bad[i], h, sizeof(h), p, sizeof(p)) < 0,
			      "'%s' accepted", bad[i]);
}
END_TEST

/* Parses text as a reply: the result, with rep filled when 1. */
static int
parse(const char *text, bool eof, struct http_reply *rep, char *err, size_t errlen)
{
	return http_parse_reply(text, strlen(text), eof, rep, err, errlen);
}

/* A body framed by Content-Length: complete without waiting for the
 * close, and only that many bytes. */
START_TEST(test_content_length)
{
	static const char full[] = "HTTP/1.1 409 Conflict\r\n"
				   "content-length: 34\r\n"
				   "Connection: close\r\n\r\n"
				   "{\"error\":\"already acknowledged\"}\r\n";
	struct http_reply rep;
	char err[128];

	ck_assert_int_eq(parse(full, false, &rep, err, sizeof(err)), 1);
	ck_assert_int_eq(rep.status, 409);
	ck_assert_str_eq(rep.reason, "Conflict");
	ck_assert_uint_eq(rep.body_len, 34);
	ck_assert_str_eq(rep.body, "{\"error\":\"already acknowledged\"}\r\n");
	http_reply_free(&rep);

	/* short of the length: more is needed, or at the close, cut short */
	ck_assert_int_eq(
	    http_parse_reply(full, sizeof(full) - 5, false, &rep, err, sizeof(err)), 0);
	ck_assert_int_eq(
	    http_parse_reply(full, sizeof(full) - 5, true, &rep, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "cut short"));
	/* in the headers, the same */
	ck_assert_int_eq(
	    parse("HTTP/1.1 200 OK\r\nContent-Le", false, &rep, err, sizeof(err)), 0);
	ck_assert_int_eq(
	    parse("HTTP/1.1 200 OK\r\nContent-Le", true, &rep, err, sizeof(err)), -1);
}
END_TEST

/* A chunked body is put together, with chunk extensions ignored; it is
 * complete at the last chunk. */
START_TEST(test_chunked)
{
	static const char full[] = "HTTP/1.1 200 OK\r\n"
				   "Transfer-Encoding: chunked\r\n\r\n"
				   "b\r\n{\"ok\":true,\r\n"
				   "1;ext=1\r\n \r\n"
				   "e\r\n\"incident\":{}}\r\n"
				   "0\r\n\r\n";
	struct http_reply rep;
	char err[128];

	ck_assert_int_eq(parse(full, false, &rep, err, sizeof(err)), 1);
	ck_assert_int_eq(rep.status, 200);
	ck_assert_str_eq(rep.body, "{\"ok\":true, \"incident\":{}}");
	ck_assert_uint_eq(rep.body_len, strlen(rep.body));
	http_reply_free(&rep);

	ck_assert_int_eq(
	    http_parse_reply(full, sizeof(full) - 10, false, &rep, err, sizeof(err)), 0);
	ck_assert_int_eq(
	    http_parse_reply(full, sizeof(full) - 10, true, &rep, err, sizeof(err)), -1);
	ck_assert_int_eq(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			       "zz\r\nab\r\n0\r\n\r\n",
			       false, &rep, err, sizeof(err)),
			 -1);
	ck_assert_ptr_nonnull(strstr(err, "bad chunk"));
	/* a chunk that does not end where its size says */
	ck_assert_int_eq(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			       "2\r\nabc\r\n0\r\n\r\n",
			       false, &rep, err, sizeof(err)),
			 -1);
}
END_TEST

/* Without a length the body runs to the close; some statuses have none. */
START_TEST(test_until_close)
{
	struct http_reply rep;
	char err[128];

	ck_assert_int_eq(
	    parse("HTTP/1.0 503 Service Unavailable\r\n\r\n{\"error\":\"stopping\"}",
		  false, &rep, err, sizeof(err)),
	    0);
	ck_assert_int_eq(
	    parse("HTTP/1.0 503 Service Unavailable\r\n\r\n{\"error\":\"stopping\"}",
		  true, &rep, err, sizeof(err)),
	    1);
	ck_assert_int_eq(rep.status, 503);
	ck_assert_str_eq(rep.body, "{\"error\":\"stopping\"}");
	http_reply_free(&rep);

	ck_assert_int_eq(
	    parse("HTTP/1.1 204 No Content\r\n\r\n", false, &rep, err, sizeof(err)), 1);
	ck_assert_int_eq(rep.status, 204);
	ck_assert_uint_eq(rep.body_len, 0);
	ck_assert_str_eq(rep.body, "");
	http_reply_free(&rep);
}
END_TEST

/* What is not an HTTP/1 reply is refused with a reason, never read past. */
START_TEST(test_malformed)
{
	static const char *const bad[] = {
	    "SSH-2.0-OpenSSH_9.2\r\n\r\n",
	    "HTTP/2 200 OK\r\n\r\n",
	    "HTTP/1.1 20 OK\r\n\r\n",
	    "HTTP/1.1 2000 OK\r\n\r\n",
	    "HTTP/1.1 abc OK\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n",
	};
	struct http_reply rep;
	char err[128], *big;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(parse(bad[i], true, &rep, err, sizeof(err)) == -1,
			      "accepted: %s", bad[i]);
		ck_assert(err[0] != '\0');
	}
	/* headers without an end, past the limit */
	big = malloc(HTTP_HEAD_MAX + 32);
	ck_assert_ptr_nonnull(big);
	strcpy(big, "HTTP/1.1 200 OK\r\nX: ");
	memset(big + strlen(big), 'a', HTTP_HEAD_MAX);
	big[HTTP_HEAD_MAX + 20] = '\0';
	ck_assert_int_eq(parse(big, false, &rep, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "headers larger"));
	free(big);
}
END_TEST

static Suite *
http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("http");

	tcase_add_test(tc, test_split);
	tcase_add_test(tc, test_content_length);
	tcase_add_test(tc, test_chunked);
	tcase_add_test(tc, test_until_close);
	tcase_add_test(tc, test_malformed);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(http_suite());
}
