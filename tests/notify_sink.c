/* notify_sink.c - stands in for systemd's notification socket in the
 * scenarios: binds a datagram socket at PATH and appends every message to
 * OUT as one line "<epoch seconds> <message>" (newlines inside a message
 * become spaces), until SIGTERM or SECS seconds have passed. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void
on_term(int sig)
{
	(void)sig;
	stop = 1;
}

int
main(int argc, char **argv)
{
	struct sockaddr_un sa;
	struct timespec t0, t;
	char buf[4096];
	double secs;
	FILE *out;
	int fd;

	if (argc != 4) {
		fprintf(stderr, "usage: notify_sink PATH OUT SECS\n");
		return 2;
	}
	secs = atof(argv[3]);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "notify_sink: path too long\n");
		return 2;
	}
	strcpy(sa.sun_path, argv[1]);
	unlink(argv[1]);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM, 0)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "notify_sink: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	if ((out = fopen(argv[2], "a")) == NULL) {
		fprintf(stderr, "notify_sink: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	signal(SIGTERM, on_term);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!stop) {
		struct pollfd p = {fd, POLLIN, 0};
		ssize_t n;
		ssize_t i;

		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((double)(t.tv_sec - t0.tv_sec) > secs)
			break;
		if (poll(&p, 1, 200) <= 0)
			continue;
		if ((n = recv(fd, buf, sizeof(buf) - 1, 0)) <= 0)
			continue;
		for (i = 0; i < n; i++)
			if (buf[i] == '\n')
				buf[i] = ' ';
		buf[n] = '\0';
		clock_gettime(CLOCK_REALTIME, &t);
		fprintf(out, "%ld.%03ld %s\n", (long)t.tv_sec, t.tv_nsec / 1000000, buf);
		fflush(out);
	}
	fclose(out);
	unlink(argv[1]);
	return 0;
}
