/* check_util.c - unit tests for the shared helpers: trimming, reading a file
 * whole */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_run.h"
#include "util.h"

/* Writes len bytes of text into a new temporary file named from path. */
static void
write_temp(char *path, const char *text, size_t len)
{
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
}

/* A file comes back whole and NUL-terminated, also when it is empty or
 * larger than the first buffer. */
START_TEST(test_file_read)
{
	char path[] = "/tmp/check_util_XXXXXX", err[128] = "", *buf, *data;
	size_t len = 1, big = 5 * 65536 + 3, i;

	write_temp(path, "CREATE TABLE t ();\n", 19);
	buf = file_read(path, 1024, &len, err, sizeof(err));
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(len, 19);
	ck_assert_str_eq(buf, "CREATE TABLE t ();\n");
	free(buf);
	unlink(path);

	memcpy(path + strlen(path) - 6, "XXXXXX", 6);
	write_temp(path, "", 0);
	buf = file_read(path, 1024, &len, err, sizeof(err));
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(len, 0);
	ck_assert_str_eq(buf, "");
	free(buf);
	unlink(path);

	data = malloc(big);
	ck_assert_ptr_nonnull(data);
	for (i = 0; i < big; i++)
		data[i] = (char)('0' + i % 10);
	memcpy(path + strlen(path) - 6, "XXXXXX", 6);
	write_temp(path, data, big);
	buf = file_read(path, 1UL << 20, &len, err, sizeof(err));
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(len, big);
	ck_assert_int_eq(memcmp(buf, data, big), 0);
	ck_assert_int_eq(buf[big], '\0');
	free(buf);
	free(data);
	unlink(path);
}
END_TEST

/* Exactly max bytes is fine; one more is refused with the limit named. */
START_TEST(test_file_read_limit)
{
	char path[] = "/tmp/check_util_XXXXXX", err[128] = "", *buf;
	size_t len = 1;

	write_temp(path, "0123456789", 10);
	buf = file_read(path, 10, &len, err, sizeof(err));
	ck_assert_ptr_nonnull(buf);
	ck_assert_str_eq(buf, "0123456789");
	free(buf);
	ck_assert_ptr_null(file_read(path, 9, &len, err, sizeof(err)));
	ck_assert_uint_eq(len, 0);
	ck_assert_str_eq(err, "larger than 9 bytes");
	ck_assert_ptr_null(file_read(path, 0, &len, err, sizeof(err)));
	unlink(path);
}
END_TEST

/* A stream already open (standard input for "-") reads the same way, from
 * where it stands. */
START_TEST(test_file_read_stream)
{
	FILE *f = tmpfile();
	char err[128] = "", *buf;
	size_t len = 0;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs("skip;id,kind\nD1,smoke\n", f), 0);
	ck_assert_int_eq(fseek(f, 5, SEEK_SET), 0);
	buf = file_read_stream(f, 100, &len, err, sizeof(err));
	ck_assert_ptr_nonnull(buf);
	ck_assert_str_eq(buf, "id,kind\nD1,smoke\n");
	ck_assert_uint_eq(len, strlen(buf));
	free(buf);
	fclose(f);
}
END_TEST

/* What cannot be read is NULL with the reason and without the path. */
START_TEST(test_file_read_errors)
{
	char err[128] = "";
	size_t len = 1;

	ck_assert_ptr_null(
	    file_read("/nonexistent/check_util", 100, &len, err, sizeof(err)));
	ck_assert_uint_eq(len, 0);
	ck_assert_str_eq(err, strerror(ENOENT));
	/* A directory opens but does not read. */
	err[0] = '\0';
	ck_assert_ptr_null(file_read("/tmp", 100, &len, err, sizeof(err)));
	ck_assert_str_eq(err, strerror(EISDIR));
}
END_TEST

/* Blanks (spaces, tabs) go from both ends; inner ones and other bytes stay. */
START_TEST(test_str_trim)
{
	char a[] = "  \t 黎城县 东关村 \t ", b[] = "", c[] = " \t ", d[] = "x\n";

	ck_assert_str_eq(str_trim(a), "黎城县 东关村");
	ck_assert_str_eq(str_trim(b), "");
	ck_assert_str_eq(str_trim(c), "");
	ck_assert_str_eq(str_trim(d), "x\n");
}
END_TEST

/* Builds the suite of every util test. */
static Suite *
util_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("strings");

	tcase_add_test(tc, test_str_trim);
	suite_add_tcase(s, tc);
	tc = tcase_create("file");

	tcase_add_test(tc, test_file_read);
	tcase_add_test(tc, test_file_read_limit);
	tcase_add_test(tc, test_file_read_stream);
	tcase_add_test(tc, test_file_read_errors);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(util_suite());
}
