/* fuzz_csv.c - libFuzzer target for CSV import files: the first byte says
 * UTF-8 or GB18030; GB18030 input goes through the iconv conversion first,
 * as `carewatch import` does, then every record is read, with the header
 * lookup and the field checks an import row meets. */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_fields(const struct csv_reader *r)
{
	char out[128], reason[160];
	enum area_level level;
	double d;
	long l;
	bool b;
	int i, ymd;

	for (i = 0; i < r->nfields; i++) {
		const char *f = r->fields[i];

		switch (i % 8) {
		case 0:
			(void)validate_area_code(f, &level);
			break;
		case 1:
			(void)validate_number(f, -90, 90, &d);
			break;
		case 2:
			(void)validate_integer(f, 0, 4, &l);
			break;
		case 3:
			(void)validate_text(f, 64, false, reason, sizeof(reason));
			break;
		case 4:
			(void)validate_bool(f, &b);
			break;
		case 5:
			(void)validate_date(f, out, sizeof(out), &ymd);
			break;
		case 6:
			(void)validate_id_number(f, out, sizeof(out));
			validate_mask_id_number(f, out, sizeof(out));
			break;
		default:
			(void)validate_contacts(f, out, sizeof(out), reason,
						sizeof(reason));
			(void)validate_phone(f);
			break;
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct csv_reader r;
	const char *buf;
	char *conv = NULL, err[160];
	size_t len, convlen;
	int line, rc, n = 0;

	if (size == 0)
		return 0;
	buf = (const char *)data + 1;
	len = size - 1;
	if (data[0] & 1) {
		if (csv_to_utf8(buf, len, &conv, &convlen, &line, err, sizeof(err)) < 0)
			return 0;
		buf = conv;
		len = convlen;
	}
	if (csv_open(&r, buf, len) == 0) {
		while (n++ < 100000 && (rc = csv_next(&r)) == 1) {
			(void)csv_column(&r, "area_code");
			check_fields(&r);
		}
		csv_close(&r);
	}
	free(conv);
	return 0;
}
