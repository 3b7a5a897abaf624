/* netread.h - a read buffer under libmosquitto's socket (see netread.c). */
#ifndef CW_NETREAD_H
#define CW_NETREAD_H

#include <stddef.h>

/* Buffers reads of fd from now on; what was buffered before is dropped. */
void netread_attach(int fd);
/* Stops buffering fd (or whatever is registered, with fd -1) and drops what
 * is buffered: the socket closed or is about to. */
void netread_detach(int fd);
/* Bytes of fd read from the kernel and not yet handed out. */
size_t netread_buffered(int fd);

#endif
