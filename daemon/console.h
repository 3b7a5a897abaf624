/* console.h - the operator console (GET /), compiled into the daemon.
 *
 * daemon/console/index.html is one self-contained page (HTML, CSS and script
 * inline, nothing fetched from elsewhere); the build turns it into
 * console_html.c with tools/cw-embed. Serve it as
 *   Content-Type: text/html; charset=utf-8
 * under a Content-Security-Policy that allows inline style and script and
 * connections to the daemon itself only ('self'). */
#ifndef CW_CONSOLE_H
#define CW_CONSOLE_H

#include <stddef.h>

/* The page's bytes (UTF-8), followed by one NUL that console_html_len does
 * not count. */
extern const unsigned char console_html[];
extern const size_t console_html_len;

#endif
