/* resolve.h - host names looked up on the daemon's loop (libevent's evdns),
 * so that a slow or silent name server never stalls alarms. */
#ifndef CW_RESOLVE_H
#define CW_RESOLVE_H

#include <stdbool.h>

#include <event2/event.h>

#define RESOLVE_ADDRS_MAX 8
#define RESOLVE_ADDR_LEN  46 /* INET6_ADDRSTRLEN */

struct resolver;
struct resolve_req;

/* The answer: numeric addresses, IPv4 first. On failure n = 0 and err says
 * why. Called exactly once per resolve_start that returned non-NULL or
 * answered at once, never after resolve_cancel. */
typedef void (*resolve_fn)(void *arg, const char *err, char addrs[][RESOLVE_ADDR_LEN],
			   int n);

/* Reads resolv_conf (nameservers, options) and /etc/hosts once. NULL with a
 * logged reason when it cannot be read: lookups then fail, numeric hosts
 * still work. */
struct resolver *resolver_new(struct event_base *base, const char *resolv_conf);
void resolver_free(struct resolver *r);

/* Whether host needs a name server: not empty, not a numeric address, not
 * a path (a Unix socket). */
bool resolve_is_name(const char *host);

/* Looks host up. A numeric host or one in /etc/hosts is answered before
 * this returns (and NULL is returned); otherwise the answer comes later
 * from the loop, and the returned request may be cancelled. */
struct resolve_req *resolve_start(struct resolver *r, const char *host, resolve_fn fn,
				  void *arg);
void resolve_cancel(struct resolve_req *q);

#endif
