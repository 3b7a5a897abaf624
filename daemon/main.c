/* main.c - carewatchd: options, configuration, signals, the event loop */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <mosquitto.h>

#include "conf.h"
#include "engine.h"
#include "log.h"
#include "sdnotify.h"
#include "skills.h"
#include "util.h"

#define DEFAULT_CONF "/etc/carewatch/carewatchd.conf"

struct daemon_ctx {
	struct event_base *base;
	struct engine *engine;
	const char *conf_path;
	struct event *watchdog;
	bool ready_sent;
	bool standby_said; /* READY=1 was sent as the standby */
};

static void
usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: carewatchd [-n] [-v] [-c FILE]\n"
	    "\n"
	    "The carewatch alarm and dispatch daemon. Runs in the foreground and logs\n"
	    "to stderr with <N> priority prefixes (journald style).\n"
	    "\n"
	    "  -c FILE   configuration (default " DEFAULT_CONF ")\n"
	    "  -n        check the configuration and exit (0 = valid)\n"
	    "  -v        debug logging\n"
	    "  -h, --help  this text\n"
	    "\n"
	    "Signals: SIGHUP reloads the reloadable settings; SIGTERM/SIGINT stop\n"
	    "cleanly after the batch in flight is committed.\n"
	    "\n"
	    "A second carewatchd on the same database waits as the standby. Exit\n"
	    "status 1 after the writer's lock was lost to another daemon.\n");
}

/* libevent's own messages (evdns: a name server that stopped answering;
 * evhttp) go to the journal in our format, not raw to stderr. */
static void
libevent_log_cb(int severity, const char *msg)
{
	char buf[300];

	log_esc(buf, sizeof(buf), msg, strlen(msg));
	if (severity >= EVENT_LOG_ERR)
		log_err("event=libevent msg=\"%s\"", buf);
	else if (severity >= EVENT_LOG_WARN)
		log_warn("event=libevent msg=\"%s\"", buf);
	else if (severity >= EVENT_LOG_MSG)
		log_info("event=libevent msg=\"%s\"", buf);
}

static void
sig_term_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon_ctx *d = arg;

	log_info("event=stopping signal=%d", (int)sig);
	sdnotify_send("STOPPING=1");
	engine_stop(d->engine);
}

/* The checks of values that only the daemon knows how to read (conf.c
 * checks the rest): -n and a reload refuse them like any bad value. */
static int
conf_check_daemon(const struct conf *c, char *err, size_t errlen)
{
	unsigned skill_of[EV__COUNT];
	bool required[EV__COUNT];
	char why[200];

	if (skills_parse(c->skills, skill_of, required, why, sizeof(why)) != NULL) {
		snprintf(err, errlen, "[dispatch] skills: %s", why);
		return -1;
	}
	return 0;
}

static void
sig_hup_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon_ctx *d = arg;
	struct conf *c = xcalloc(1, sizeof(*c));
	char err[512];

	sdnotify_send("RELOADING=1");
	/* parse into a new struct, validate, then apply */
	if (conf_load(c, d->conf_path, err, sizeof(err)) < 0 ||
	    conf_check_daemon(c, err, sizeof(err)) < 0)
		log_err("event=reload_failed reason=\"%s\"", err);
	else
		engine_reload(d->engine, c);
	free(c);
	if (d->ready_sent)
		sdnotify_send("READY=1");
}

/* Watchdog and readiness: a loop timer, so a stuck loop stops the pings,
 * and so does a loop that turns without getting anything committed. */
static void
watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon_ctx *d = arg;
	char status[256], msg[300];

	/* A standby is started as it should be: ready, so that systemd's start
	 * timeout does not kill it while it waits for the lock. Its status
	 * says so, and says it again once it is the active one. */
	if (!d->ready_sent && (engine_ready(d->engine) || engine_standby(d->engine))) {
		d->ready_sent = true;
		d->standby_said = !engine_ready(d->engine);
		engine_status(d->engine, status, sizeof(status));
		snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", status);
		sdnotify_send(msg);
	} else if (d->standby_said && engine_ready(d->engine)) {
		d->standby_said = false;
		engine_status(d->engine, status, sizeof(status));
		snprintf(msg, sizeof(msg), "STATUS=%s", status);
		sdnotify_send(msg);
	}
	/* A turning loop is not enough: a daemon whose writes are stuck on a
	 * reachable database must not look alive, so that systemd restarts
	 * it. */
	if (engine_progressing(d->engine)) {
		sdnotify_send("WATCHDOG=1");
	} else if (d->ready_sent) {
		engine_status(d->engine, status, sizeof(status));
		snprintf(msg, sizeof(msg), "STATUS=%s", status);
		sdnotify_send(msg);
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	struct daemon_ctx d;
	struct conf *c;
	struct event *ev_term, *ev_int, *ev_hup;
	const char *path = DEFAULT_CONF;
	bool check_only = false, verbose = false;
	char err[512];
	double wd;
	int ch, status;

	while ((ch = getopt_long(argc, argv, "c:nvh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'n':
			check_only = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	log_init("carewatchd", verbose);
	c = xcalloc(1, sizeof(*c));
	if (conf_load(c, path, err, sizeof(err)) < 0 ||
	    conf_check_daemon(c, err, sizeof(err)) < 0) {
		fprintf(stderr, "carewatchd: %s\n", err);
		return 1;
	}
	if (check_only) {
		printf("carewatchd: %s: configuration ok\n", path);
		free(c);
		return 0;
	}
	if (c->verbose)
		log_set_verbose(1);
	/* Local time (on-duty hours, night) follows the configured zone. */
	setenv("TZ", c->timezone, 1);
	tzset();
	signal(SIGPIPE, SIG_IGN);
	mosquitto_lib_init();
	event_set_log_callback(libevent_log_cb);

	memset(&d, 0, sizeof(d));
	d.conf_path = path;
	if ((d.base = event_base_new()) == NULL)
		fatal("event=init_failed what=event_base");
	d.engine = engine_new(d.base, c);
	ev_term = evsignal_new(d.base, SIGTERM, sig_term_cb, &d);
	ev_int = evsignal_new(d.base, SIGINT, sig_term_cb, &d);
	ev_hup = evsignal_new(d.base, SIGHUP, sig_hup_cb, &d);
	event_add(ev_term, NULL);
	event_add(ev_int, NULL);
	event_add(ev_hup, NULL);
	/* Pings at least twice a second: READY=1 goes out soon after the
	 * broker session is up, WATCHDOG=1 well within WatchdogSec. */
	wd = sdnotify_watchdog_interval();
	if (wd <= 0 || wd > 0.5)
		wd = 0.5;
	{
		struct timeval tv = {(long)wd, (long)((wd - (double)(long)wd) * 1e6)};

		d.watchdog = event_new(d.base, -1, EV_PERSIST, watchdog_cb, &d);
		event_add(d.watchdog, &tv);
	}
	log_info("event=starting version=%s config=%s", PACKAGE_VERSION, path);
	engine_start(d.engine);
	event_base_dispatch(d.base);

	status = engine_exit_status(d.engine);
	engine_free(d.engine);
	event_free(ev_term);
	event_free(ev_int);
	event_free(ev_hup);
	event_free(d.watchdog);
	event_base_free(d.base);
	mosquitto_lib_cleanup();
	free(c);
	log_info("event=exit status=%d", status);
	return status;
}
