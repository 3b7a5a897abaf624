/* fuzz_http.c - libFuzzer target for HTTP request bodies: the body reader
 * every POST of the API uses (ingest_body), with each endpoint's allowed
 * keys, then what the endpoint reads from the object: the visit record
 * through ingest_parse_visit, an outcome, strings. The first byte picks
 * the endpoint. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const ack[] = {"note", NULL};
	static const char *const resolve[] = {"outcome", "note", NULL};
	static const char *const dispatch[] = {"responder", NULL};
	static const char *const visit[] = {"id",	 "elder", "at",	       "kind",
					    "in_person", "note",  "responder", NULL};
	static const char *const *const keys[] = {ack, resolve, dispatch, visit};
	char why[200], *text;
	struct visit v;
	json_t *o, *f;
	int which;

	if (size == 0)
		return 0;
	which = data[0] % 4;
	o = ingest_body((const char *)data + 1, size - 1, keys[which], why, sizeof(why));
	if (o == NULL)
		return 0;
	if ((f = json_object_get(o, "outcome")) != NULL && json_is_string(f))
		(void)outcome_valid(json_string_value(f));
	if (which == 3) {
		json_object_del(o, "responder");
		if ((text = json_dumps(o, JSON_COMPACT)) != NULL) {
			(void)ingest_parse_visit(text, strlen(text), 1.8e9, &v);
			free(text);
		}
	}
	json_decref(o);
	return 0;
}
