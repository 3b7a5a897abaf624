/* fuzz_z2m.c - libFuzzer target for zigbee2mqtt: the topic splitter, the
 * state payload reader, and the edge detector fed with what it read (two
 * readings per input, so repeated and changed values both happen). */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest.h"
#include "z2m.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct z2m_reading r;
	struct z2m_state st;
	struct z2m_edge edges[Z2M__COUNT];
	struct devevent ev;
	char name[Z2M_NAME_MAX + 1], *topic;
	int i, n, round;

	if (size > 0 && data[0] == 'T') {
		if ((topic = malloc(size)) == NULL)
			return 0;
		memcpy(topic, data + 1, size - 1);
		topic[size - 1] = '\0';
		(void)z2m_topic_parse("zigbee2mqtt, z2m/site-2", topic, name);
		free(topic);
		return 0;
	}
	memset(&st, 0, sizeof(st));
	for (round = 0; round < 2; round++) {
		if (z2m_read((const char *)data, size, &r) != NULL)
			return 0;
		n = z2m_apply(&st, &r, edges);
		for (i = 0; i < n; i++) {
			memset(&ev, 0, sizeof(ev));
			z2m_edge_event(&edges[i], r.battery, &ev);
			free(ev.data);
		}
	}
	return 0;
}
