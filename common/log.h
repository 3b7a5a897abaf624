/* log.h - the one logging API of carewatch (stderr, systemd <N> prefixes) */
#ifndef CW_LOG_H
#define CW_LOG_H

#include <stdarg.h>
#include <stddef.h>

#define CW_PRINTF(a, b) __attribute__((format(printf, a, b)))

enum log_level { LOG_LVL_ERR = 3, LOG_LVL_WARN = 4, LOG_LVL_INFO = 6, LOG_LVL_DEBUG = 7 };

void log_init(const char *progname, int verbose);
void log_set_verbose(int verbose);
void log_warn(const char *fmt, ...) CW_PRINTF(1, 2);
void log_err(const char *fmt, ...) CW_PRINTF(1, 2);
void log_info(const char *fmt, ...) CW_PRINTF(1, 2);
void log_debug(const char *fmt, ...) CW_PRINTF(1, 2);
void fatal(const char *fmt, ...) CW_PRINTF(1, 2) __attribute__((noreturn));

/* Copies untrusted text into buf for a log line: quotes, backslashes, control
 * bytes and non-ASCII bytes are escaped, and the result is cut to fit. */
const char *log_esc(char *buf, size_t size, const char *s, size_t len);

#endif
