/* token.h - the API tokens `carewatch user add` makes: their shape, their
 * stored hash, and what the command line accepts to send. No database. */
#ifndef CW_TOKEN_H
#define CW_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#define TOKEN_PREFIX	   "cw_"
#define TOKEN_RANDOM_BYTES 32  /* from getrandom(2) */
#define TOKEN_LEN	   46  /* "cw_" and 43 base64url characters */
#define TOKEN_HASH_LEN	   65  /* hex SHA-256 and its NUL */
#define TOKEN_SEND_MAX	   512 /* bytes of a token the command line sends */

/* Encodes n bytes as base64url without padding (RFC 4648 §5) into out:
 * 0, or -1 when out (len bytes) cannot hold it and its NUL. */
int token_encode(const unsigned char *raw, size_t n, char *out, size_t len);

/* Makes a new token into out (at least TOKEN_LEN + 1 bytes): TOKEN_PREFIX
 * and the base64url of TOKEN_RANDOM_BYTES from getrandom(2). 0, or -1 with
 * the reason in err. */
int token_make(char *out, size_t len, char *err, size_t errlen);

/* Writes the hex SHA-256 of the whole token text into hex (at least
 * TOKEN_HASH_LEN bytes): what users.token_sha256 holds. 0 or -1. */
int token_hash(const char *token, char *hex, size_t len);

/* True when s can go into an Authorization header as it is: 1 to
 * TOKEN_SEND_MAX visible ASCII characters (no blank, no line break). */
bool token_sendable(const char *s);

#endif
