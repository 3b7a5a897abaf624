/* sdnotify.c - systemd's $NOTIFY_SOCKET datagram protocol, without libsystemd */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include "sdnotify.h"

/* Fills sa from a $NOTIFY_SOCKET value: a file-system path ("/run/...") or
 * an abstract name ("@..."), and returns the address length; -1 otherwise. */
static socklen_t
sdnotify_addr(const char *path, struct sockaddr_un *sa)
{
	size_t len = strlen(path);

	if (path[0] != '/' && path[0] != '@') {
		errno = EAFNOSUPPORT; /* e.g. "vsock:...", not for a local daemon */
		return (socklen_t)-1;
	}
	if (len < 2 || len >= sizeof(sa->sun_path)) {
		errno = ENAMETOOLONG;
		return (socklen_t)-1;
	}
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, len);
	if (path[0] == '@') {
		/* Abstract names are not NUL-terminated: their length is exact. */
		sa->sun_path[0] = '\0';
		return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	}
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
}

int
sdnotify_send(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	socklen_t salen;
	size_t len;
	ssize_t n;
	int fd, saved;

	if (path == NULL || path[0] == '\0')
		return 0;
	if (state == NULL || (len = strlen(state)) == 0) {
		errno = EINVAL;
		return -1;
	}
	if ((salen = sdnotify_addr(path, &sa)) == (socklen_t)-1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	/* A datagram goes whole or not at all; MSG_NOSIGNAL keeps a vanished
	 * manager from killing us with SIGPIPE. */
	n = sendto(fd, state, len, MSG_NOSIGNAL, (const struct sockaddr *)&sa, salen);
	saved = errno;
	close(fd);
	if (n < 0) {
		errno = saved;
		return -1;
	}
	if ((size_t)n != len) {
		errno = EMSGSIZE;
		return -1;
	}
	return 1;
}

/* Parses a whole decimal number without sign into out; -1 when s is not one. */
static int
sdnotify_parse_ull(const char *s, unsigned long long *out)
{
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	return 0;
}

double
sdnotify_watchdog_interval(void)
{
	unsigned long long usec, pid;
	const char *p;

	if (sdnotify_parse_ull(getenv("WATCHDOG_USEC"), &usec) < 0 || usec == 0)
		return 0;
	/* WATCHDOG_PID names the process the watchdog is meant for: a child
	 * that inherited the environment must not ping on our behalf. */
	if ((p = getenv("WATCHDOG_PID")) != NULL && p[0] != '\0') {
		if (sdnotify_parse_ull(p, &pid) < 0 ||
		    pid != (unsigned long long)getpid())
			return 0;
	}
	return (double)usec / 2e6;
}
