/* check_csv.c - unit tests for the CSV reader, file reading and GB18030 input */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_run.h"
#include "csv.h"

/* Opens a reader over a NUL-terminated literal; fails the test on error. */
static void
open_text(struct csv_reader *r, const char *text)
{
	ck_assert_int_eq(csv_open(r, text, strlen(text)), 0);
}

/* Reads the next record and checks its line and field count. */
static void
expect_record(struct csv_reader *r, int line, int nfields)
{
	ck_assert_int_eq(csv_next(r), 1);
	ck_assert_int_eq(r->rec_line, line);
	ck_assert_int_eq(r->nfields, nfields);
}

/* Plain records, UTF-8 text, and the end of input. */
START_TEST(test_plain)
{
	struct csv_reader r;

	open_text(&r, "code,name,parent_code\n140426000000,黎城县,140400000000\n");
	expect_record(&r, 1, 3);
	ck_assert_str_eq(r.fields[0], "code");
	ck_assert_str_eq(r.fields[2], "parent_code");
	expect_record(&r, 2, 3);
	ck_assert_str_eq(r.fields[1], "黎城县");
	ck_assert_uint_eq(r.lens[1], strlen("黎城县"));
	ck_assert_int_eq(csv_next(&r), 0);
	ck_assert_int_eq(csv_next(&r), 0);
	csv_close(&r);
}
END_TEST

/* Empty fields, quoted or not, and a last line without a break. */
START_TEST(test_empty_fields)
{
	struct csv_reader r;

	open_text(&r, ",a,,\n\"\",b");
	expect_record(&r, 1, 4);
	ck_assert_str_eq(r.fields[0], "");
	ck_assert_str_eq(r.fields[1], "a");
	ck_assert_str_eq(r.fields[2], "");
	ck_assert_str_eq(r.fields[3], "");
	/* The last record may lack a line break. */
	expect_record(&r, 2, 2);
	ck_assert_str_eq(r.fields[0], "");
	ck_assert_str_eq(r.fields[1], "b");
	ck_assert_int_eq(csv_next(&r), 0);
	csv_close(&r);
}
END_TEST

/* Commas and doubled quotes inside quoted fields. */
START_TEST(test_quoting)
{
	struct csv_reader r;

	open_text(&r, "\"a,b\",\"say \"\"hi\"\"\",\"\"\"\",x\n");
	expect_record(&r, 1, 4);
	ck_assert_str_eq(r.fields[0], "a,b");
	ck_assert_str_eq(r.fields[1], "say \"hi\"");
	ck_assert_str_eq(r.fields[2], "\"");
	ck_assert_str_eq(r.fields[3], "x");
	ck_assert_int_eq(csv_next(&r), 0);
	csv_close(&r);
}
END_TEST

/* Line breaks inside quotes keep later line numbers right. */
START_TEST(test_embedded_newlines)
{
	struct csv_reader r;

	open_text(&r, "id,notes\n"
		      "E1,\"first line\nsecond line\nthird\"\n"
		      "E2,plain\n"
		      "E3,\"a\r\nb\"\n"
		      "E4,last\n");
	expect_record(&r, 1, 2);
	expect_record(&r, 2, 2);
	ck_assert_str_eq(r.fields[1], "first line\nsecond line\nthird");
	/* Line numbers of later records count the breaks inside quotes. */
	expect_record(&r, 5, 2);
	ck_assert_str_eq(r.fields[0], "E2");
	expect_record(&r, 6, 2);
	ck_assert_str_eq(r.fields[1], "a\nb");
	expect_record(&r, 8, 2);
	ck_assert_str_eq(r.fields[0], "E4");
	ck_assert_int_eq(csv_next(&r), 0);
	csv_close(&r);
}
END_TEST

/* CRLF line ends and skipped blank lines. */
START_TEST(test_crlf_and_blank_lines)
{
	struct csv_reader r;

	open_text(&r, "a,b\r\n1,2\r\n\r\n\r\n3,\"4\"\r\n\r\n");
	expect_record(&r, 1, 2);
	expect_record(&r, 2, 2);
	ck_assert_str_eq(r.fields[1], "2");
	expect_record(&r, 5, 2);
	ck_assert_str_eq(r.fields[0], "3");
	ck_assert_str_eq(r.fields[1], "4");
	ck_assert_int_eq(csv_next(&r), 0);
	csv_close(&r);
}
END_TEST

/* A UTF-8 byte order mark is not part of the first column name. */
START_TEST(test_bom)
{
	struct csv_reader r;

	open_text(&r, "\xef\xbb\xbfid,name\nS1,站\n");
	expect_record(&r, 1, 2);
	ck_assert_str_eq(r.fields[0], "id");
	expect_record(&r, 2, 2);
	ck_assert_int_eq(csv_next(&r), 0);
	csv_close(&r);
}
END_TEST

/* Malformed quoting is an error with the right line. */
START_TEST(test_bad_quotes)
{
	struct csv_reader r;

	open_text(&r, "a,b\n1,\"open\n2,3\n");
	expect_record(&r, 1, 2);
	ck_assert_int_eq(csv_next(&r), -1);
	ck_assert_int_eq(r.err_line, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "never closed"));
	csv_close(&r);

	open_text(&r, "a,b\n1,\"x\"y\n");
	expect_record(&r, 1, 2);
	ck_assert_int_eq(csv_next(&r), -1);
	ck_assert_int_eq(r.err_line, 2);
	csv_close(&r);

	open_text(&r, "a,b\n\n1,x\"y\n");
	expect_record(&r, 1, 2);
	ck_assert_int_eq(csv_next(&r), -1);
	ck_assert_int_eq(r.err_line, 3);
	csv_close(&r);
}
END_TEST

/* Invalid UTF-8 is rejected with its line. */
START_TEST(test_invalid_utf8)
{
	struct csv_reader r;
	int line = 0;

	/* A stray GBK byte pair on line 3. */
	ck_assert_int_eq(csv_open(&r, "a\nb\n\xc0\xe8\n", 7), -1);
	ck_assert_int_eq(r.err_line, 3);
	/* Overlong, surrogate, above U+10FFFF, truncated, NUL. */
	ck_assert_int_eq(csv_check_utf8("\xc0\xaf", 2, &line), -1);
	ck_assert_int_eq(csv_check_utf8("\xe0\x80\xaf", 3, &line), -1);
	ck_assert_int_eq(csv_check_utf8("\xed\xa0\x80", 3, &line), -1);
	ck_assert_int_eq(csv_check_utf8("\xf4\x90\x80\x80", 4, &line), -1);
	ck_assert_int_eq(csv_check_utf8("ok\r\n\xe9\xbb", 6, &line), -1);
	ck_assert_int_eq(line, 2);
	ck_assert_int_eq(csv_check_utf8("a\0b", 3, &line), -1);
	/* Well-formed: 2, 3 and 4 byte sequences. */
	ck_assert_int_eq(csv_check_utf8("\xc2\xa9\xe9\xbb\x8e\xf0\x9f\x98\x80", 9, &line),
			 0);
	ck_assert_int_eq(csv_check_utf8("", 0, &line), 0);
}
END_TEST

/* Field size and field count limits. */
START_TEST(test_limits)
{
	struct csv_reader r;
	size_t n = CSV_FIELD_MAX + 10, i;
	char *big = malloc(n + 8);

	ck_assert_ptr_nonnull(big);
	/* An unquoted field one byte too long. */
	memset(big, 'x', CSV_FIELD_MAX + 1);
	memcpy(big + CSV_FIELD_MAX + 1, "\n", 2);
	ck_assert_int_eq(csv_open(&r, big, strlen(big)), 0);
	ck_assert_int_eq(csv_next(&r), -1);
	ck_assert_ptr_nonnull(strstr(r.err, "longer than"));
	csv_close(&r);
	/* Exactly the limit is fine, quoted or not. */
	big[0] = '"';
	memset(big + 1, 'y', CSV_FIELD_MAX);
	memcpy(big + 1 + CSV_FIELD_MAX, "\"\n", 3);
	ck_assert_int_eq(csv_open(&r, big, strlen(big)), 0);
	ck_assert_int_eq(csv_next(&r), 1);
	ck_assert_uint_eq(r.lens[0], CSV_FIELD_MAX);
	csv_close(&r);
	/* A quoted field one byte too long. */
	memcpy(big + 1 + CSV_FIELD_MAX, "y\"\n", 4);
	ck_assert_int_eq(csv_open(&r, big, strlen(big)), 0);
	ck_assert_int_eq(csv_next(&r), -1);
	csv_close(&r);
	free(big);

	/* Too many fields. */
	big = malloc(2 * CSV_FIELDS_MAX + 8);
	ck_assert_ptr_nonnull(big);
	for (i = 0; i <= CSV_FIELDS_MAX; i++) {
		big[2 * i] = 'a';
		big[2 * i + 1] = ',';
	}
	big[2 * CSV_FIELDS_MAX + 1] = '\0';
	ck_assert_int_eq(csv_open(&r, big, strlen(big)), 0);
	ck_assert_int_eq(csv_next(&r), -1);
	ck_assert_ptr_nonnull(strstr(r.err, "fields"));
	csv_close(&r);
	big[2 * CSV_FIELDS_MAX - 1] = '\0';
	ck_assert_int_eq(csv_open(&r, big, strlen(big)), 0);
	ck_assert_int_eq(csv_next(&r), 1);
	ck_assert_int_eq(r.nfields, CSV_FIELDS_MAX);
	csv_close(&r);
	free(big);
}
END_TEST

/* Header columns are found by their exact name, past a byte order mark. */
START_TEST(test_column)
{
	struct csv_reader r;

	open_text(&r, "\xef\xbb\xbfid,kind,elder_id,id\nD1,smoke,E1,x\n");
	expect_record(&r, 1, 4);
	ck_assert_int_eq(csv_column(&r, "id"), 0);
	ck_assert_int_eq(csv_column(&r, "kind"), 1);
	ck_assert_int_eq(csv_column(&r, "elder_id"), 2);
	/* Case matters; a prefix or an absent name is no match. */
	ck_assert_int_eq(csv_column(&r, "Kind"), -1);
	ck_assert_int_eq(csv_column(&r, "elder"), -1);
	ck_assert_int_eq(csv_column(&r, "lat"), -1);
	ck_assert_int_eq(csv_column(&r, ""), -1);
	csv_close(&r);

	/* A quoted header name is the same name. */
	open_text(&r, "\"name\",\"id\"\n");
	expect_record(&r, 1, 2);
	ck_assert_int_eq(csv_column(&r, "id"), 1);
	ck_assert_int_eq(csv_next(&r), 0);
	csv_close(&r);
}
END_TEST

/* Writes len bytes of text to a new temporary file, named in path. */
static void
write_temp(char *path, const char *text, size_t len)
{
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
}

/* A whole file is read, NUL-terminated, ready for the reader. */
START_TEST(test_read_file)
{
	const char text[] = "id,kind\r\nD1,\"smoke\"\r\n";
	char path[] = "/tmp/check_csv_XXXXXX", err[128], *buf;
	struct csv_reader r;
	size_t len = 1, big = 3 * 65536 + 7, i;
	char *data;

	write_temp(path, text, sizeof(text) - 1);
	buf = csv_read_file(path, &len, err, sizeof(err));
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(len, sizeof(text) - 1);
	ck_assert_str_eq(buf, text);
	ck_assert_int_eq(csv_open(&r, buf, len), 0);
	expect_record(&r, 1, 2);
	ck_assert_int_eq(csv_column(&r, "kind"), 1);
	expect_record(&r, 2, 2);
	ck_assert_str_eq(r.fields[1], "smoke");
	ck_assert_int_eq(csv_next(&r), 0);
	csv_close(&r);
	free(buf);
	unlink(path);

	/* Empty, and larger than the first buffer. */
	memcpy(path + strlen(path) - 6, "XXXXXX", 6);
	write_temp(path, "", 0);
	buf = csv_read_file(path, &len, err, sizeof(err));
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(len, 0);
	ck_assert_str_eq(buf, "");
	free(buf);
	unlink(path);

	data = malloc(big);
	ck_assert_ptr_nonnull(data);
	for (i = 0; i < big; i++)
		data[i] = (char)('a' + i % 26);
	memcpy(path + strlen(path) - 6, "XXXXXX", 6);
	write_temp(path, data, big);
	buf = csv_read_file(path, &len, err, sizeof(err));
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(len, big);
	ck_assert_int_eq(memcmp(buf, data, big), 0);
	ck_assert_int_eq(buf[big], '\0');
	free(buf);
	free(data);
	unlink(path);
}
END_TEST

/* A file that cannot be read is NULL with the reason, not the path. */
START_TEST(test_read_file_missing)
{
	char err[128] = "", *buf;
	size_t len = 1;

	buf = csv_read_file("/nonexistent/check_csv/none.csv", &len, err, sizeof(err));
	ck_assert_ptr_null(buf);
	ck_assert_uint_eq(len, 0);
	ck_assert_str_eq(err, strerror(ENOENT));
	/* A directory opens but does not read. */
	err[0] = '\0';
	ck_assert_ptr_null(csv_read_file("/tmp", &len, err, sizeof(err)));
	ck_assert_str_eq(err, strerror(EISDIR));
}
END_TEST

/* GB18030 input converts to the right UTF-8. */
START_TEST(test_gb18030)
{
	/* "id,name\nS1,黎城县\n" in GB18030, then U+1F600, which GB18030
	 * writes as a four-byte sequence. */
	const char gb[] = "id,name\nS1,\xc0\xe8\xb3\xc7\xcf\xd8\n"
			  "S2,\x94\x39\xfc\x36\n";
	char *out = NULL, err[128];
	size_t outlen = 0;
	int line = -1;
	struct csv_reader r;

	ck_assert_int_eq(
	    csv_to_utf8(gb, sizeof(gb) - 1, &out, &outlen, &line, err, sizeof(err)), 0);
	ck_assert_str_eq(out, "id,name\nS1,黎城县\nS2,\xf0\x9f\x98\x80\n");
	ck_assert_uint_eq(outlen, strlen(out));
	ck_assert_int_eq(csv_open(&r, out, outlen), 0);
	expect_record(&r, 1, 2);
	expect_record(&r, 2, 2);
	ck_assert_str_eq(r.fields[1], "黎城县");
	csv_close(&r);
	free(out);
}
END_TEST

/* Bad GB18030 input is an error with its line. */
START_TEST(test_gb18030_invalid)
{
	char *out = NULL, err[128];
	size_t outlen = 0;
	int line = 0;

	/* 0xFF never starts a GB18030 character. */
	ck_assert_int_eq(
	    csv_to_utf8("a\nb\n\xff\xff\n", 7, &out, &outlen, &line, err, sizeof(err)),
	    -1);
	ck_assert_int_eq(line, 3);
	ck_assert_ptr_null(out);
	ck_assert_ptr_nonnull(strstr(err, "GB18030"));
	/* A lead byte with nothing after it. */
	ck_assert_int_eq(csv_to_utf8("ab\xc0", 3, &out, &outlen, &line, err, sizeof(err)),
			 -1);
	ck_assert_int_eq(line, 1);
}
END_TEST

/* Builds the suite of every CSV test. */
static Suite *
csv_suite(void)
{
	Suite *s = suite_create("csv");
	TCase *tc = tcase_create("reader");

	tcase_add_test(tc, test_plain);
	tcase_add_test(tc, test_empty_fields);
	tcase_add_test(tc, test_quoting);
	tcase_add_test(tc, test_embedded_newlines);
	tcase_add_test(tc, test_crlf_and_blank_lines);
	tcase_add_test(tc, test_bom);
	tcase_add_test(tc, test_bad_quotes);
	tcase_add_test(tc, test_invalid_utf8);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_column);
	suite_add_tcase(s, tc);
	tc = tcase_create("file");
	tcase_add_test(tc, test_read_file);
	tcase_add_test(tc, test_read_file_missing);
	suite_add_tcase(s, tc);
	tc = tcase_create("encoding");
	tcase_add_test(tc, test_gb18030);
	tcase_add_test(tc, test_gb18030_invalid);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(csv_suite());
}
