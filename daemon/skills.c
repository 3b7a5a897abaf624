/* skills.c - the skills rule of [dispatch] and responders' skill bits */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "ingest.h"
#include "skills.h"
#include "util.h"
#include "validate.h"

/* Bit of one skill word of n bytes, 0 when unknown. */
static unsigned
skill_bit(const char *w, size_t n)
{
	size_t i;

	for (i = 0; validate_skills[i] != NULL; i++)
		if (strlen(validate_skills[i]) == n &&
		    strncmp(validate_skills[i], w, n) == 0)
			return 1u << i;
	return 0;
}

unsigned
skills_bits(const char *list)
{
	unsigned bits = 0;
	const char *p = list, *e;

	while (p && *p) {
		e = strchr(p, ';');
		if (e == NULL)
			e = p + strlen(p);
		bits |= skill_bit(p, (size_t)(e - p));
		p = *e ? e + 1 : e;
	}
	return bits;
}

const char *
skills_parse(const char *s, unsigned skill_of[EV__COUNT], bool required[EV__COUNT],
	     char *err, size_t errlen)
{
	char item[128], type[64], skill[64], mode[64];
	const char *p = s, *e;
	size_t n;
	int t;

	memset(skill_of, 0, EV__COUNT * sizeof(*skill_of));
	memset(required, 0, EV__COUNT * sizeof(*required));
	while (p && *p) {
		e = strchr(p, ',');
		if (e == NULL)
			e = p + strlen(p);
		n = (size_t)(e - p);
		while (n > 0 && (*p == ' ' || *p == '\t'))
			p++, n--;
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n >= sizeof(item)) {
			snprintf(err, errlen, "an item is too long");
			return err;
		}
		memcpy(item, p, n);
		item[n] = '\0';
		p = *e ? e + 1 : e;
		if (n == 0)
			continue;
		if (sscanf(item, "%63[^:]:%63[^:]:%63s", type, skill, mode) != 3) {
			snprintf(err, errlen, "\"%s\" is not type:skill:prefer|require",
				 item);
			return err;
		}
		if ((t = ev_type_parse(type)) < 0) {
			snprintf(err, errlen, "unknown event type \"%s\"", type);
			return err;
		}
		if ((skill_of[t] = skill_bit(skill, strlen(skill))) == 0) {
			snprintf(err, errlen, "unknown skill \"%s\"", skill);
			return err;
		}
		if (strcmp(mode, "require") == 0)
			required[t] = true;
		else if (strcmp(mode, "prefer") != 0) {
			snprintf(err, errlen, "mode \"%s\" is neither prefer nor require",
				 mode);
			return err;
		}
	}
	return NULL;
}
