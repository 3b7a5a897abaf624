/* conf.c - INI reader driven by a table of keys (name, type, default, reloadable) */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "util.h"

enum conf_type { CT_STR, CT_INT, CT_DBL, CT_BOOL, CT_HOURS };

struct conf_key {
	const char *section;
	const char *name;
	enum conf_type type;
	size_t off;
	const char *def;
	bool reloadable;
	double min, max;
};

#define K(sec, nm, ty, field, def, rel, lo, hi)                                          \
	{                                                                                \
		sec, nm, ty, offsetof(struct conf, field), def, rel, lo, hi              \
	}

/* Sorted by section, then key; every key has a default. */
static const struct conf_key conf_keys[] = {
    K("daemon", "batch_max", CT_INT, batch_max, "1000", true, 1, 10000),
    K("daemon", "flood_burst", CT_DBL, flood_burst, "60", true, 1, 1000000),
    K("daemon", "flood_rate", CT_DBL, flood_rate, "5", true, 0, 1000000),
    K("daemon", "flood_window_s", CT_DBL, flood_window_s, "10", true, 0.1, 86400),
    K("daemon", "payload_max", CT_INT, payload_max, "4096", true, 64, 65536),
    K("daemon", "resolv_conf", CT_STR, resolv_conf, "/etc/resolv.conf", false, 0, 0),
    K("daemon", "verbose", CT_BOOL, verbose, "off", true, 0, 0),
    K("database", "commit_timeout_s", CT_DBL, commit_timeout_s, "10", false, 0.5, 300),
    K("database", "conninfo", CT_STR, db_conninfo, "dbname=carewatch", false, 0, 0),
    K("dispatch", "escalate_after_s", CT_DBL, escalate_after_s, "300", true, 0.05, 86400),
    K("dispatch", "max_offers", CT_INT, max_offers, "3", true, 1, 100),
    K("dispatch", "night", CT_HOURS, night, "23:00-05:00", true, 0, 0),
    K("dispatch", "offer_timeout_p1_s", CT_DBL, offer_timeout_p1_s, "60", true, 0.05,
      86400),
    K("dispatch", "offer_timeout_p2_s", CT_DBL, offer_timeout_p2_s, "300", true, 0.05,
      86400),
    K("dispatch", "position_max_age_s", CT_DBL, position_max_age_s, "1800", true, 0,
      864000),
    K("dispatch", "retry_s", CT_DBL, retry_s, "30", true, 0.05, 3600),
    K("dispatch", "storm_devices", CT_INT, storm_devices, "10", true, 0, 1000000),
    K("dispatch", "storm_window_s", CT_DBL, storm_window_s, "60", true, 0.05, 86400),
    K("dispatch", "skills", CT_STR, skills,
      "fall:first_aid:prefer, gas:gas_safety:prefer", true, 0, 0),
    K("dispatch", "timezone", CT_STR, timezone, "Asia/Shanghai", false, 0, 0),
    K("dispatch", "volunteer_max_km", CT_DBL, volunteer_max_km, "5", true, 0, 1000),
    K("http", "listen", CT_STR, http_listen, "127.0.0.1:8080", false, 0, 0),
    K("http", "max_connections", CT_INT, http_max_connections, "256", false, 8, 65536),
    K("mqtt", "cafile", CT_STR, mqtt_cafile, "", false, 0, 0),
    K("mqtt", "client_id", CT_STR, mqtt_client_id, "carewatchd", false, 0, 0),
    K("mqtt", "host", CT_STR, mqtt_host, "127.0.0.1", false, 0, 0),
    K("mqtt", "keepalive", CT_INT, mqtt_keepalive, "30", false, 5, 3600),
    K("mqtt", "owntracks", CT_BOOL, owntracks, "on", false, 0, 0),
    K("mqtt", "password_file", CT_STR, mqtt_password_file, "", false, 0, 0),
    K("mqtt", "port", CT_INT, mqtt_port, "1883", false, 1, 65535),
    K("mqtt", "publish_session", CT_BOOL, publish_session, "on", false, 0, 0),
    K("mqtt", "topic_prefix", CT_STR, topic_prefix, "carewatch", false, 0, 0),
    K("mqtt", "username", CT_STR, mqtt_username, "", false, 0, 0),
    K("mqtt", "z2m_base", CT_STR, z2m_base, "zigbee2mqtt", false, 0, 0),
    K("privacy", "id_key_file", CT_STR, id_key_file, "", true, 0, 0),
    K("reports", "ack_target2_s", CT_INT, ack_target2_s, "180", true, 1, 86400),
    K("reports", "ack_target_s", CT_INT, ack_target_s, "60", true, 1, 86400),
    K("reports", "arrival_target2_min", CT_INT, arrival_target2_min, "60", true, 1, 1440),
    K("reports", "arrival_target_min", CT_INT, arrival_target_min, "45", true, 1, 1440),
    K("reports", "false_alarm_top", CT_INT, false_alarm_top, "10", true, 1, 1000),
    K("reports", "visit_economic", CT_STR, visit_economic, "low_income, econ_hardship",
      true, 0, 0),
    K("reports", "visit_min_age", CT_INT, visit_min_age, "80", true, 0, 150),
    K("reports", "visit_min_capability", CT_INT, visit_min_capability, "2", true, 0, 4),
    K("reports", "visit_phone_counts", CT_BOOL, visit_phone_counts, "off", true, 0, 0),
    K("reports", "visit_rule_version", CT_STR, visit_rule_version, "2026", true, 0, 0),
    K("reports", "visit_special", CT_STR, visit_special,
      "extreme_poverty, special_family", true, 0, 0),
    K("reports", "visit_with", CT_STR, visit_with,
      "living_alone, empty_nest, left_behind, disabled, severe_disability", true, 0, 0),
    K("spool", "dir", CT_STR, spool_dir, "/var/lib/carewatch", false, 0, 0),
    K("spool", "max_mb", CT_INT, spool_max_mb, "1024", false, 1, 1048576),
};

#define NKEYS (sizeof(conf_keys) / sizeof(conf_keys[0]))

static char *
conf_trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int
conf_parse_hours(const char *s, int *from_min, int *to_min)
{
	int h1, m1, h2, m2, n = 0;

	if (strcmp(s, "24h") == 0) {
		*from_min = 0;
		*to_min = 24 * 60;
		return 0;
	}
	if (sscanf(s, "%2d:%2d-%2d:%2d%n", &h1, &m1, &h2, &m2, &n) != 4 || s[n] != '\0')
		return -1;
	if (h1 < 0 || h1 > 24 || h2 < 0 || h2 > 24 || m1 < 0 || m1 > 59 || m2 < 0 ||
	    m2 > 59)
		return -1;
	*from_min = h1 * 60 + m1;
	*to_min = h2 * 60 + m2;
	if (*from_min > 24 * 60 || *to_min > 24 * 60)
		return -1;
	return 0;
}

bool
conf_in_hours(int from_min, int to_min, int m)
{
	if (from_min == to_min)
		return false;
	if (from_min < to_min)
		return m >= from_min && m < to_min;
	return m >= from_min || m < to_min;
}

/* Stores the text value v for key k into c; returns a reason on error. */
static const char *
conf_set(struct conf *c, const struct conf_key *k, const char *v)
{
	char *p = (char *)c + k->off, *end;
	long l;
	double d;
	int a, b;

	switch (k->type) {
	case CT_STR:
	case CT_HOURS:
		if (strlen(v) >= CONF_STR_MAX)
			return "value too long";
		if (k->type == CT_HOURS && conf_parse_hours(v, &a, &b) < 0)
			return "expected HH:MM-HH:MM or 24h";
		strcpy(p, v);
		return NULL;
	case CT_INT:
		errno = 0;
		l = strtol(v, &end, 10);
		if (errno || end == v || *end != '\0')
			return "expected a whole number";
		if (l < k->min || l > k->max)
			return "number out of range";
		*(int *)(void *)p = (int)l;
		return NULL;
	case CT_DBL:
		errno = 0;
		d = strtod(v, &end);
		if (errno || end == v || *end != '\0' || !isfinite(d))
			return "expected a number";
		if (d < k->min || d > k->max)
			return "number out of range";
		*(double *)(void *)p = d;
		return NULL;
	case CT_BOOL:
		if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true") ||
		    !strcmp(v, "1"))
			*(bool *)(void *)p = true;
		else if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false") ||
			 !strcmp(v, "0"))
			*(bool *)(void *)p = false;
		else
			return "expected on or off";
		return NULL;
	}
	return "bad key type";
}

void
conf_defaults(struct conf *c)
{
	size_t i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < NKEYS; i++)
		if (conf_set(c, &conf_keys[i], conf_keys[i].def) != NULL)
			abort(); /* a default that does not parse is a bug */
}

static const struct conf_key *
conf_find(const char *section, const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (!strcmp(conf_keys[i].section, section) &&
		    !strcmp(conf_keys[i].name, name))
			return &conf_keys[i];
	return NULL;
}

static bool
conf_section_known(const char *section)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (!strcmp(conf_keys[i].section, section))
			return true;
	return false;
}

int
conf_parse(struct conf *c, const char *name, const char *text, char *err, size_t errlen)
{
	char section[64] = "";
	char line[1024];
	const char *p = text, *nl;
	int lineno = 0;

	conf_defaults(c);
	while (*p) {
		char *s, *eq, *hash, *key, *val;
		const struct conf_key *k;
		const char *why;
		size_t len;

		lineno++;
		nl = strchr(p, '\n');
		len = nl ? (size_t)(nl - p) : strlen(p);
		if (len >= sizeof(line)) {
			snprintf(err, errlen, "%s:%d: line too long", name, lineno);
			return -1;
		}
		memcpy(line, p, len);
		line[len] = '\0';
		p = nl ? nl + 1 : p + len;

		/* '#' starts a comment anywhere; values never need one. */
		if ((hash = strchr(line, '#')) != NULL)
			*hash = '\0';
		if ((hash = strchr(line, ';')) != NULL && hash == conf_trim(line))
			*hash = '\0';
		s = conf_trim(line);
		if (*s == '\0')
			continue;
		if (*s == '[') {
			char *e = strchr(s, ']');

			if (e == NULL || e[1] != '\0' ||
			    (size_t)(e - s - 1) >= sizeof(section)) {
				snprintf(err, errlen, "%s:%d: bad section header", name,
					 lineno);
				return -1;
			}
			*e = '\0';
			snprintf(section, sizeof(section), "%s", conf_trim(s + 1));
			if (!conf_section_known(section)) {
				snprintf(err, errlen, "%s:%d: unknown section [%s]", name,
					 lineno, section);
				return -1;
			}
			continue;
		}
		if ((eq = strchr(s, '=')) == NULL) {
			snprintf(err, errlen, "%s:%d: expected key = value", name,
				 lineno);
			return -1;
		}
		*eq = '\0';
		key = conf_trim(s);
		val = conf_trim(eq + 1);
		if (section[0] == '\0') {
			snprintf(err, errlen, "%s:%d: key %s outside a section", name,
				 lineno, key);
			return -1;
		}
		if ((k = conf_find(section, key)) == NULL) {
			snprintf(err, errlen, "%s:%d: unknown key %s in [%s]", name,
				 lineno, key, section);
			return -1;
		}
		if ((why = conf_set(c, k, val)) != NULL) {
			snprintf(err, errlen, "%s:%d: %s.%s: %s", name, lineno, section,
				 key, why);
			return -1;
		}
	}
	return 0;
}

int
conf_load(struct conf *c, const char *path, char *err, size_t errlen)
{
	char why[128];
	size_t n;
	char *buf;
	int rc;

	if ((buf = file_read(path, 1 << 20, &n, why, sizeof(why))) == NULL) {
		snprintf(err, errlen, "%s: %s", path, why);
		return -1;
	}
	rc = conf_parse(c, path, buf, err, errlen);
	free(buf);
	return rc;
}

bool
conf_needs_restart(const struct conf *old, const struct conf *new_conf, char *key,
		   size_t keylen)
{
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		const struct conf_key *k = &conf_keys[i];
		const char *a = (const char *)old + k->off,
			   *b = (const char *)new_conf + k->off;
		bool differs;

		if (k->reloadable)
			continue;
		switch (k->type) {
		case CT_STR:
		case CT_HOURS:
			differs = strcmp(a, b) != 0; /* bytes past the NUL do not count */
			break;
		case CT_INT:
			differs = memcmp(a, b, sizeof(int)) != 0;
			break;
		case CT_DBL:
			differs = memcmp(a, b, sizeof(double)) != 0;
			break;
		default:
			differs = memcmp(a, b, sizeof(bool)) != 0;
			break;
		}
		if (differs) {
			snprintf(key, keylen, "%s.%s", k->section, k->name);
			return true;
		}
	}
	return false;
}

/* Size of a key's value in struct conf. */
static size_t
conf_size(const struct conf_key *k)
{
	switch (k->type) {
	case CT_STR:
	case CT_HOURS:
		return CONF_STR_MAX;
	case CT_INT:
		return sizeof(int);
	case CT_DBL:
		return sizeof(double);
	default:
		return sizeof(bool);
	}
}

int
conf_apply_reloadable(struct conf *running, const struct conf *parsed)
{
	size_t i;
	int n = 0;

	for (i = 0; i < NKEYS; i++) {
		const struct conf_key *k = &conf_keys[i];

		if (!k->reloadable)
			continue;
		memcpy((char *)running + k->off, (const char *)parsed + k->off,
		       conf_size(k));
		n++;
	}
	return n;
}
