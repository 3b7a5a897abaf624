/* fuzz_owntracks.c - libFuzzer target for OwnTracks: the topic and the
 * location payload. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "owntracks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ot_fix fix;
	const char *why = NULL;
	char user[64], *topic;

	if (size > 0 && data[0] == 'T') {
		if ((topic = malloc(size)) == NULL)
			return 0;
		memcpy(topic, data + 1, size - 1);
		topic[size - 1] = '\0';
		(void)owntracks_topic(topic, user, sizeof(user));
		free(topic);
		return 0;
	}
	(void)owntracks_parse(data, size, &fix, &why);
	return 0;
}
