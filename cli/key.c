/* key.c - the key that protects id numbers (身份证号) in the database */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

int
cli_read_key(const struct cli *cli, char *buf, size_t len, char *err, size_t errlen)
{
	FILE *f;
	size_t n;

	if (!cli->have_conf || cli->conf.id_key_file[0] == '\0') {
		snprintf(err, errlen,
			 "no [privacy] id_key_file configured (use -c FILE)");
		return -1;
	}
	if ((f = fopen(cli->conf.id_key_file, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", cli->conf.id_key_file, strerror(errno));
		return -1;
	}
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	if (n < 16) {
		snprintf(err, errlen, "%s: key shorter than 16 bytes",
			 cli->conf.id_key_file);
		return -1;
	}
	return 0;
}
