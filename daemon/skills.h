/* skills.h - type-specific skills (SPEC §4): which skill an alarm type wants
 * of its responder, and whether it is required or only preferred. */
#ifndef CW_SKILLS_H
#define CW_SKILLS_H

#include <stdbool.h>
#include <stddef.h>

#include "model.h"

/* Parses "[dispatch] skills": a comma-separated list of type:skill:mode
 * (mode prefer or require; an empty list wants nothing), e.g.
 * "fall:first_aid:prefer, gas:gas_safety:require". Fills skill_of and
 * required for every type (0 / false where not listed). Returns NULL, or
 * why the text is refused (written into err). */
const char *skills_parse(const char *s, unsigned skill_of[EV__COUNT],
			 bool required[EV__COUNT], char *err, size_t errlen);

/* The bits of a ';'-separated list of skills (as the load returns them);
 * unknown words are ignored. */
unsigned skills_bits(const char *list);

#endif
