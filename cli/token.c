/* token.c - making an API token and the hash the database keeps of it */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>

#include "token.h"

int
token_encode(const unsigned char *raw, size_t n, char *out, size_t len)
{
	unsigned char block[65]; /* 48 bytes make 64 characters and a NUL */
	size_t o = 0, take, k, i;

	/* libcrypto's base64 in whole blocks, made URL-safe: - and _ for + and
	 * /, and the '=' padding of the last block dropped */
	if (len == 0)
		return -1;
	for (i = 0; i < n; i += take) {
		take = n - i < 48 ? n - i : 48;
		k = (size_t)EVP_EncodeBlock(block, raw + i, (int)take);
		while (k > 0 && block[k - 1] == '=')
			k--;
		if (o + k + 1 > len)
			break;
		memcpy(out + o, block, k);
		o += k;
	}
	explicit_bzero(block, sizeof(block)); /* part of a token, maybe */
	if (i < n)
		return -1;
	out[o] = '\0';
	for (i = 0; i < o; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
	return 0;
}

int
token_make(char *out, size_t len, char *err, size_t errlen)
{
	unsigned char raw[TOKEN_RANDOM_BYTES];
	size_t got = 0, plen = strlen(TOKEN_PREFIX);
	ssize_t n;
	int rc = -1;

	while (got < sizeof(raw)) {
		n = getrandom(raw + got, sizeof(raw) - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "getrandom: %s", strerror(errno));
			goto out;
		}
		got += (size_t)n;
	}
	if (len < plen + 1) {
		snprintf(err, errlen, "no room for a token");
		goto out;
	}
	memcpy(out, TOKEN_PREFIX, plen);
	if (token_encode(raw, sizeof(raw), out + plen, len - plen) < 0) {
		snprintf(err, errlen, "no room for a token");
		goto out;
	}
	rc = 0;
out:
	explicit_bzero(raw, sizeof(raw));
	return rc;
}

int
token_hash(const char *token, char *hex, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;

	if (len < TOKEN_HASH_LEN ||
	    EVP_Digest(token, strlen(token), md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    2 * mdlen + 1 != TOKEN_HASH_LEN)
		return -1;
	for (i = 0; i < mdlen; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[2 * mdlen] = '\0';
	return 0;
}

bool
token_sendable(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++, n++) {
		if (*s < 0x21 || *s > 0x7e || n >= TOKEN_SEND_MAX)
			return false;
	}
	return n > 0;
}
