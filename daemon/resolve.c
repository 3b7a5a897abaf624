/* resolve.c - host names looked up on the loop with evdns.
 *
 * getaddrinfo() blocks the calling thread for as long as the name server
 * takes, up to its timeouts times its attempts: tens of seconds of no alarms
 * while a DNS server is away. libmosquitto and libpq both call it when given
 * a name, so the daemon looks names up here first and hands them numeric
 * addresses (libpq: hostaddr beside host; mqtt.c: the address, with the
 * name kept for the certificate check). */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/dns.h>
#include <event2/util.h>

#include "log.h"
#include "resolve.h"
#include "util.h"

struct resolver {
	struct evdns_base *dns;
};

struct resolve_req {
	struct evdns_getaddrinfo_request *r;
	resolve_fn fn;
	void *arg;
	bool in_start;	/* evdns_getaddrinfo has not returned yet */
	bool answered;	/* ... and it answered already */
	bool cancelled; /* the owner is gone: say nothing */
};

struct resolver *
resolver_new(struct event_base *base, const char *resolv_conf)
{
	struct resolver *r = xcalloc(1, sizeof(*r));
	int rc;

	/* no nameserver yet: the file decides; the loop does not wait on it */
	r->dns = evdns_base_new(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (r->dns == NULL) {
		free(r);
		log_err("event=resolver_failed reason=\"evdns_base_new\"");
		return NULL;
	}
	rc = evdns_base_resolv_conf_parse(r->dns, DNS_OPTIONS_ALL, resolv_conf);
	if (rc != 0)
		log_warn("event=resolver_config reason=\"%s: %s\"", resolv_conf,
			 rc == 1   ? "cannot open"
			 : rc == 6 ? "no nameserver"
				   : "not read fully");
	return r;
}

void
resolver_free(struct resolver *r)
{
	if (r == NULL)
		return;
	evdns_base_free(r->dns, 1); /* pending lookups fail: their owners are gone */
	free(r);
}

bool
resolve_is_name(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	if (host == NULL || host[0] == '\0' || host[0] == '/' || host[0] == '@')
		return false;
	return inet_pton(AF_INET, host, buf) != 1 && inet_pton(AF_INET6, host, buf) != 1;
}

/* Copies the answer's addresses, IPv4 first (a broker or a server bound to
 * 127.0.0.1 is more common than one on ::1), without repeats. */
static int
resolve_collect(struct evutil_addrinfo *res, char addrs[][RESOLVE_ADDR_LEN])
{
	static const int order[2] = {AF_INET, AF_INET6};
	struct evutil_addrinfo *ai;
	int n = 0, k, i;

	for (k = 0; k < 2; k++) {
		for (ai = res; ai != NULL && n < RESOLVE_ADDRS_MAX; ai = ai->ai_next) {
			const void *a;
			char s[RESOLVE_ADDR_LEN];
			bool seen = false;

			if (ai->ai_family != order[k])
				continue;
			a = ai->ai_family == AF_INET
				? (const void *)&((struct sockaddr_in *)ai->ai_addr)
				      ->sin_addr
				: (const void *)&((struct sockaddr_in6 *)ai->ai_addr)
				      ->sin6_addr;
			if (evutil_inet_ntop(ai->ai_family, a, s, sizeof(s)) == NULL)
				continue;
			for (i = 0; i < n && !seen; i++)
				seen = strcmp(addrs[i], s) == 0;
			if (!seen)
				str_copy(addrs[n++], s, RESOLVE_ADDR_LEN);
		}
	}
	return n;
}

static void
resolve_done(int result, struct evutil_addrinfo *res, void *arg)
{
	struct resolve_req *q = arg;
	char addrs[RESOLVE_ADDRS_MAX][RESOLVE_ADDR_LEN];
	int n = 0;

	if (!q->cancelled) {
		if (result == 0)
			n = resolve_collect(res, addrs);
		q->fn(q->arg,
		      result != 0 ? evutil_gai_strerror(result)
		      : n == 0	  ? "no IPv4 or IPv6 address"
				  : NULL,
		      addrs, n);
	}
	if (res != NULL)
		evutil_freeaddrinfo(res);
	if (q->in_start || q->r == NULL)
		q->answered = true; /* resolve_start frees it */
	else
		free(q);
}

struct resolve_req *
resolve_start(struct resolver *r, const char *host, resolve_fn fn, void *arg)
{
	struct resolve_req *q;
	struct evutil_addrinfo hints;

	if (r == NULL) {
		fn(arg, "no resolver", NULL, 0);
		return NULL;
	}
	q = xcalloc(1, sizeof(*q));
	q->fn = fn;
	q->arg = arg;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	q->in_start = true;
	q->r = evdns_getaddrinfo(r->dns, host, NULL, &hints, resolve_done, q);
	q->in_start = false;
	if (q->r == NULL && !q->answered)
		resolve_done(EVUTIL_EAI_FAIL, NULL, q); /* not expected: say so */
	if (q->answered) {
		free(q);
		return NULL;
	}
	return q;
}

void
resolve_cancel(struct resolve_req *q)
{
	if (q == NULL)
		return;
	q->cancelled = true;
	/* evdns still calls resolve_done (with EVUTIL_EAI_CANCEL), which frees q */
	evdns_getaddrinfo_cancel(q->r);
}
