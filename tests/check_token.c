/* check_token.c - unit tests for the API tokens of `carewatch user add`:
 * base64url, the token's shape, the stored hash, what may be sent */
#include "config.h"

#include <check.h>
#include <string.h>

#include "check_run.h"
#include "token.h"

/* RFC 4648's test vectors, then the two characters base64url changes. */
START_TEST(test_encode)
{
	static const struct {
		const char *in, *out;
	} v[] = {{"", ""},
		 {"f", "Zg"},
		 {"fo", "Zm8"},
		 {"foo", "Zm9v"},
		 {"foob", "Zm9vYg"},
		 {"fooba", "Zm9vYmE"},
		 {"foobar", "Zm9vYmFy"}};
	static const unsigned char url[] = {0xfb, 0xff};
	char out[64];
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		ck_assert_int_eq(token_encode((const unsigned char *)v[i].in,
					      strlen(v[i].in), out, sizeof(out)),
				 0);
		ck_assert_str_eq(out, v[i].out);
	}
	ck_assert_int_eq(token_encode(url, sizeof(url), out, sizeof(out)), 0);
	ck_assert_str_eq(out, "-_8"); /* "+/8=" in plain base64 */
	/* too small a buffer is refused, not overrun */
	ck_assert_int_eq(token_encode((const unsigned char *)"foobar", 6, out, 8), -1);
}
END_TEST

/* A token is cw_ and 43 base64url characters; no two are alike. */
START_TEST(test_make)
{
	char a[TOKEN_LEN + 1], b[TOKEN_LEN + 1], err[128];
	size_t i;

	ck_assert_int_eq(token_make(a, sizeof(a), err, sizeof(err)), 0);
	ck_assert_int_eq(token_make(b, sizeof(b), err, sizeof(err)), 0);
	ck_assert_uint_eq(strlen(a), TOKEN_LEN);
	ck_assert_int_eq(strncmp(a, "cw_", 3), 0);
	for (i = 3; i < TOKEN_LEN; i++)
		ck_assert_msg(
		    strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			   "0123456789-_",
			   a[i]) != NULL,
		    "character %zu of the token is not base64url", i);
	ck_assert_str_ne(a, b);
	ck_assert_int_eq(token_make(a, TOKEN_LEN, err, sizeof(err)), -1);
}
END_TEST

/* The stored hash is the hex SHA-256 of the whole token text, prefix and
 * all (computed apart from this code with Python's hashlib). */
START_TEST(test_hash)
{
	char hex[TOKEN_HASH_LEN];

	ck_assert_int_eq(token_hash("cw_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", hex,
				    sizeof(hex)),
			 0);
	ck_assert_str_eq(
	    hex, "7caafc0fe33c038481b8ba5cbb271acf5616537485a78c20c22165ebd9b95c27");
	ck_assert_int_eq(token_hash("x", hex, TOKEN_HASH_LEN - 1), -1);
}
END_TEST

/* Nothing that could end or split a header line is sent. */
START_TEST(test_sendable)
{
	char big[TOKEN_SEND_MAX + 2];

	ck_assert(token_sendable("cw_AAAA-_"));
	ck_assert(!token_sendable(""));
	ck_assert(!token_sendable("cw_a\r\nX-Evil: 1"));
	ck_assert(!token_sendable("cw_a b"));
	ck_assert(!token_sendable("cw_\xc3\xa9"));
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert(!token_sendable(big));
	big[TOKEN_SEND_MAX] = '\0';
	ck_assert(token_sendable(big));
}
END_TEST

static Suite *
token_suite(void)
{
	Suite *s = suite_create("token");
	TCase *tc = tcase_create("token");

	tcase_add_test(tc, test_encode);
	tcase_add_test(tc, test_make);
	tcase_add_test(tc, test_hash);
	tcase_add_test(tc, test_sendable);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(token_suite());
}
