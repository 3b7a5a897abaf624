/* conf.h - carewatchd.conf: INI parsed through one declarative key table */
#ifndef CW_CONF_H
#define CW_CONF_H

#include <stdbool.h>
#include <stddef.h>

#define CONF_STR_MAX 512

struct conf {
	/* [mqtt] */
	char mqtt_host[CONF_STR_MAX];
	int mqtt_port;
	char mqtt_client_id[CONF_STR_MAX];
	char mqtt_username[CONF_STR_MAX];
	char mqtt_password_file[CONF_STR_MAX];
	char mqtt_cafile[CONF_STR_MAX];
	char topic_prefix[CONF_STR_MAX];
	char z2m_base[CONF_STR_MAX];
	bool owntracks;
	bool publish_session; /* offers on a second session, {client_id}-out */
	int mqtt_keepalive;
	/* [database] */
	char db_conninfo[CONF_STR_MAX];
	double commit_timeout_s;
	/* [http] */
	char http_listen[CONF_STR_MAX];
	int http_max_connections;
	/* [dispatch] */
	double offer_timeout_p1_s;
	double offer_timeout_p2_s;
	int max_offers;
	double escalate_after_s;
	double volunteer_max_km;
	double position_max_age_s;
	char timezone[CONF_STR_MAX];
	char night[CONF_STR_MAX];
	double retry_s;
	int storm_devices;	   /* supervision: a village's power-cut storm */
	double storm_window_s;	   /* how long a silent device waits for a storm */
	char skills[CONF_STR_MAX]; /* type:skill:prefer|require, ... */
	/* [spool] */
	char spool_dir[CONF_STR_MAX];
	int spool_max_mb; /* the journal's bound */
	/* [privacy] */
	char id_key_file[CONF_STR_MAX];
	/* [reports] the monthly visit target (SPEC §6), versioned */
	char visit_rule_version[CONF_STR_MAX];
	char visit_special[CONF_STR_MAX];  /* any of these alone */
	char visit_economic[CONF_STR_MAX]; /* any of these, together with */
	char visit_with[CONF_STR_MAX];	   /* any of these, or age or capability */
	int visit_min_age;		   /* at the month's last day */
	int visit_min_capability;
	bool visit_phone_counts; /* a phone visit counts as in person */
	/* [reports] the response report's targets (SPEC §6) */
	int ack_target_s, ack_target2_s;	     /* operator ack within */
	int arrival_target_min, arrival_target2_min; /* responder on site within */
	int false_alarm_top; /* devices and elders listed by false alarms */
	/* [daemon] */
	char resolv_conf[CONF_STR_MAX]; /* name servers for mqtt.host, conninfo */
	int batch_max;
	int payload_max;
	bool verbose;
	double flood_rate, flood_burst, flood_window_s; /* per-device token bucket */
};

/* Fills c with every default. */
void conf_defaults(struct conf *c);

/* Parses path into c (defaults first). On error writes "path:line: reason"
 * into err and returns -1. */
int conf_load(struct conf *c, const char *path, char *err, size_t errlen);

/* Parses INI text (for tests); name is used in messages. */
int conf_parse(struct conf *c, const char *name, const char *text, char *err,
	       size_t errlen);

/* True when the change from old to new touches a key that needs a restart;
 * the first such key is written into key. */
bool conf_needs_restart(const struct conf *old, const struct conf *new_conf, char *key,
			size_t keylen);

/* Copies the value of every reloadable key from parsed (a new, validated
 * configuration) into running, and nothing else: SIGHUP's swap. Returns how
 * many keys were copied. */
int conf_apply_reloadable(struct conf *running, const struct conf *parsed);

/* Parses "HH:MM-HH:MM" or "24h" into minutes of the day; -1 on error. */
int conf_parse_hours(const char *s, int *from_min, int *to_min);

/* True when minute-of-day m falls in [from, to), wrapping past midnight. */
bool conf_in_hours(int from_min, int to_min, int m);

#endif
