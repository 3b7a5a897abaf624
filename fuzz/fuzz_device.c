/* fuzz_device.c - libFuzzer target for the device-facing parsers: the
 * topic splitter and the event, status, reply and visit payloads that
 * arrive over MQTT (and, for visits, through POST /api/v1/visits). The
 * first byte picks the parser, so one corpus covers all of them. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *payload = (const char *)data + 1;
	size_t len = size - 1;
	struct devevent ev;
	struct reply r;
	struct visit v;
	char id[256], *topic;
	bool online;

	if (size == 0)
		return 0;
	switch (data[0] % 5) {
	case 0:
		memset(&ev, 0, sizeof(ev));
		(void)ingest_parse_event(payload, len, &ev);
		free(ev.data);
		break;
	case 1:
		(void)ingest_parse_status(payload, len, &online);
		break;
	case 2:
		(void)ingest_parse_reply(payload, len, &r);
		break;
	case 3:
		(void)ingest_parse_visit(payload, len, 1.8e9, &v);
		break;
	default:
		/* topics are NUL-terminated strings from libmosquitto */
		if ((topic = malloc(len + 1)) == NULL)
			return 0;
		memcpy(topic, payload, len);
		topic[len] = '\0';
		(void)topic_parse("carewatch", topic, id);
		free(topic);
		break;
	}
	return 0;
}
