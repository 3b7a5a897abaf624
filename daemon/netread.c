/* netread.c - one read() system call for many MQTT packets.
 *
 * libmosquitto reads a packet from a plain TCP socket with two or three
 * read() calls of its own (the first byte, the remaining length, the rest),
 * and has no buffer in between. In a storm that is three system calls for
 * every 120-byte event, a fifth of the daemon's time in perf. This file
 * defines read() for the daemon: for the one socket registered here (the
 * broker session that receives events) it reads up to NETREAD_SIZE bytes at
 * once and hands them out from the buffer; every other descriptor goes
 * straight to the system call. libmosquitto, a shared library, calls read()
 * through its PLT, so the executable's definition is the one it gets.
 *
 * The buffer changes when the socket is readable: bytes may wait here while
 * the kernel holds none, and libevent would never call us for them. mqtt.c
 * therefore counts netread_buffered() as pending input and activates its
 * read event itself when bytes wait here (mqtt_read_cb, mqtt_hold). When
 * libmosquitto stops using read() (a later version, or a TLS build that
 * reads otherwise), the buffer stays empty and nothing changes.
 *
 * Only the event loop's thread reads the registered socket. Other threads
 * (the spool's writer) only compare their descriptor with it. */
#include "config.h"

#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include "netread.h"

/* <unistd.h> is left out on purpose: with _FORTIFY_SOURCE it brings an
 * inline read() of its own, which this file replaces. */
extern long syscall(long number, ...);
ssize_t read(int fd, void *dst, size_t n);

#define NETREAD_SIZE (64 * 1024)

static _Atomic int nr_fd = -1;
static size_t nr_off, nr_len;
static unsigned char nr_buf[NETREAD_SIZE];

static ssize_t
sys_read(int fd, void *dst, size_t n)
{
	return (ssize_t)syscall(SYS_read, fd, dst, n);
}

ssize_t
read(int fd, void *dst, size_t n)
{
	size_t k;
	ssize_t r;

	if (fd < 0 || fd != atomic_load_explicit(&nr_fd, memory_order_relaxed) || n == 0)
		return sys_read(fd, dst, n);
	if (nr_off == nr_len) {
		if (n >= NETREAD_SIZE)
			return sys_read(fd, dst, n);
		r = sys_read(fd, nr_buf, NETREAD_SIZE);
		if (r <= 0)
			return r; /* errno is the system call's */
		nr_off = 0;
		nr_len = (size_t)r;
	}
	k = nr_len - nr_off < n ? nr_len - nr_off : n;
	memcpy(dst, nr_buf + nr_off, k);
	nr_off += k;
	return (ssize_t)k;
}

void
netread_attach(int fd)
{
	nr_off = nr_len = 0;
	atomic_store(&nr_fd, fd);
}

void
netread_detach(int fd)
{
	if (fd >= 0 && atomic_load(&nr_fd) != fd)
		return;
	atomic_store(&nr_fd, -1);
	nr_off = nr_len = 0;
}

size_t
netread_buffered(int fd)
{
	return fd >= 0 && atomic_load_explicit(&nr_fd, memory_order_relaxed) == fd
		   ? nr_len - nr_off
		   : 0;
}
