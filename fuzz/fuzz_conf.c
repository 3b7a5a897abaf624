/* fuzz_conf.c - libFuzzer target for the configuration file: the INI
 * parser with every key's value checks, then the reload comparison
 * against the defaults. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct conf base, c;
	char err[256], key[128], *text;

	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	conf_defaults(&base);
	conf_defaults(&c);
	if (conf_parse(&c, "fuzz.conf", text, err, sizeof(err)) == 0) {
		(void)conf_needs_restart(&base, &c, key, sizeof(key));
		(void)conf_apply_reloadable(&base, &c);
	}
	free(text);
	return 0;
}
