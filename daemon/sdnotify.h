/* sdnotify.h - systemd's $NOTIFY_SOCKET protocol, without libsystemd */
#ifndef CW_SDNOTIFY_H
#define CW_SDNOTIFY_H

/* Sends one notification ("READY=1", "STOPPING=1", "WATCHDOG=1",
 * "RELOADING=1", "STATUS=...", several separated by newlines) to the
 * service manager. Returns 1 when sent, 0 when not run by systemd
 * (NOTIFY_SOCKET unset or empty), -1 on error with errno set. */
int sdnotify_send(const char *state);

/* Seconds between two WATCHDOG=1 pings: half of $WATCHDOG_USEC when the
 * watchdog is enabled for this process ($WATCHDOG_PID, when set, names us);
 * 0 when there is no watchdog. */
double sdnotify_watchdog_interval(void);

#endif
