/* check_netread.c - unit tests for netread.c, the read buffer under
 * libmosquitto's socket: built with it, so read() here is netread's. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check_run.h"
#include "netread.h"

/* A connected pair of stream sockets; the reading end non-blocking, as
 * libmosquitto's is. */
static void
pair(int sv[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK), 0);
}

static int
kernel_pending(int fd)
{
	int n = -1;

	ck_assert_int_eq(ioctl(fd, FIONREAD, &n), 0);
	return n;
}

/* Small reads, as libmosquitto makes them, are served from one system
 * call, in order; the kernel is empty after the first. */
START_TEST(test_small_reads_in_order)
{
	int sv[2];
	char buf[64];

	pair(sv);
	netread_attach(sv[0]);
	ck_assert_int_eq(write(sv[1],
			       "\x30\x0a"
			       "0123456789",
			       12),
			 12);
	ck_assert_int_eq(read(sv[0], buf, 1), 1);
	ck_assert_int_eq((unsigned char)buf[0], 0x30);
	ck_assert_int_eq(kernel_pending(sv[0]), 0);
	ck_assert_uint_eq(netread_buffered(sv[0]), 11);
	ck_assert_int_eq(read(sv[0], buf, 1), 1);
	ck_assert_int_eq(buf[0], 0x0a);
	ck_assert_int_eq(read(sv[0], buf, 4), 4);
	ck_assert_int_eq(memcmp(buf, "0123", 4), 0);
	/* a read asks for more than is buffered: it gets what is buffered */
	ck_assert_int_eq(read(sv[0], buf, sizeof(buf)), 6);
	ck_assert_int_eq(memcmp(buf, "456789", 6), 0);
	ck_assert_uint_eq(netread_buffered(sv[0]), 0);
	/* empty: the socket's own answer */
	errno = 0;
	ck_assert_int_eq(read(sv[0], buf, 1), -1);
	ck_assert_int_eq(errno, EAGAIN);
	/* then the next bytes, and the end */
	ck_assert_int_eq(write(sv[1], "ab", 2), 2);
	ck_assert_int_eq(read(sv[0], buf, 1), 1);
	ck_assert_int_eq(buf[0], 'a');
	close(sv[1]);
	ck_assert_int_eq(read(sv[0], buf, 8), 1);
	ck_assert_int_eq(buf[0], 'b');
	ck_assert_int_eq(read(sv[0], buf, 8), 0);
	netread_detach(sv[0]);
	close(sv[0]);
}
END_TEST

/* Every other descriptor reads straight from the kernel. */
START_TEST(test_other_fds_untouched)
{
	int a[2], b[2];
	char c;

	pair(a);
	pair(b);
	netread_attach(a[0]);
	ck_assert_int_eq(write(b[1], "xyz", 3), 3);
	ck_assert_int_eq(read(b[0], &c, 1), 1);
	ck_assert_int_eq(c, 'x');
	ck_assert_int_eq(kernel_pending(b[0]), 2);
	ck_assert_uint_eq(netread_buffered(b[0]), 0);
	netread_detach(a[0]);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}
END_TEST

/* Detaching drops what the buffer held (the socket is closing); attaching
 * a new socket, perhaps under the same number, starts empty. */
START_TEST(test_detach_and_reattach)
{
	int sv[2], sv2[2];
	char c;

	pair(sv);
	netread_attach(sv[0]);
	ck_assert_int_eq(write(sv[1], "hello", 5), 5);
	ck_assert_int_eq(read(sv[0], &c, 1), 1);
	ck_assert_uint_eq(netread_buffered(sv[0]), 4);
	netread_detach(sv[0]);
	ck_assert_uint_eq(netread_buffered(sv[0]), 0);
	errno = 0;
	ck_assert_int_eq(read(sv[0], &c, 1), -1);
	ck_assert_int_eq(errno, EAGAIN);
	/* a second attach of another socket does not see the first's bytes */
	netread_attach(sv[0]);
	ck_assert_int_eq(write(sv[1], "AB", 2), 2);
	ck_assert_int_eq(read(sv[0], &c, 1), 1);
	pair(sv2);
	netread_attach(sv2[0]);
	ck_assert_uint_eq(netread_buffered(sv[0]), 0);
	ck_assert_uint_eq(netread_buffered(sv2[0]), 0);
	ck_assert_int_eq(write(sv2[1], "Z", 1), 1);
	ck_assert_int_eq(read(sv2[0], &c, 1), 1);
	ck_assert_int_eq(c, 'Z');
	/* detaching a socket that is not the buffered one changes nothing */
	ck_assert_int_eq(write(sv2[1], "YX", 2), 2);
	ck_assert_int_eq(read(sv2[0], &c, 1), 1);
	netread_detach(sv[0]);
	ck_assert_uint_eq(netread_buffered(sv2[0]), 1);
	netread_detach(-1);
	ck_assert_uint_eq(netread_buffered(sv2[0]), 0);
	close(sv[0]);
	close(sv[1]);
	close(sv2[0]);
	close(sv2[1]);
}
END_TEST

/* A read as large as the buffer, with nothing buffered, goes straight to
 * the kernel: nothing is left behind in the buffer. */
START_TEST(test_large_read_direct)
{
	static char big[70000], out[70000];
	int sv[2], i, got = 0, r;

	pair(sv);
	for (i = 0; i < (int)sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	netread_attach(sv[0]);
	ck_assert_int_eq(write(sv[1], big, 4096), 4096);
	r = (int)read(sv[0], out, sizeof(out));
	ck_assert_int_eq(r, 4096);
	ck_assert_uint_eq(netread_buffered(sv[0]), 0);
	ck_assert_int_eq(memcmp(out, big, 4096), 0);
	/* and small reads after it still come in order */
	ck_assert_int_eq(write(sv[1], big + 4096, 100), 100);
	while (got < 100 && (r = (int)read(sv[0], out + got, 7)) > 0)
		got += r;
	ck_assert_int_eq(got, 100);
	ck_assert_int_eq(memcmp(out, big + 4096, 100), 0);
	netread_detach(sv[0]);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

static Suite *
netread_suite(void)
{
	Suite *s = suite_create("netread");
	TCase *tc = tcase_create("reads");

	tcase_add_test(tc, test_small_reads_in_order);
	tcase_add_test(tc, test_other_fds_untouched);
	tcase_add_test(tc, test_detach_and_reattach);
	tcase_add_test(tc, test_large_read_direct);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(netread_suite());
}
