/* check_journal.c - the spool's journal file: records come back whole and
 * in order, a torn or damaged tail is cut off, nothing else is lost */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_run.h"
#include "journal.h"

static char dir[] = "/tmp/cw-journal.XXXXXX";
static char path[4200];

static void
setup(void)
{
	strcpy(dir, "/tmp/cw-journal.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, JOURNAL_NAME);
}

static void
teardown(void)
{
	unlink(path);
	rmdir(dir);
}

struct seen {
	int n;
	char recs[16][64];
	size_t lens[16];
	int stop_at; /* return 7 on this record (1-based), 0 = never */
};

static int
collect(void *arg, const void *rec, size_t len)
{
	struct seen *s = arg;

	if (s->n < 16) {
		memcpy(s->recs[s->n], rec, len < 63 ? len : 63);
		s->lens[s->n] = len;
	}
	s->n++;
	return s->n == s->stop_at ? 7 : 0;
}

static void
open_ok(struct journal *j, uint64_t *dropped)
{
	char err[256] = "";

	ck_assert_msg(journal_open(j, dir, dropped, err, sizeof(err)) == 0, "%s", err);
}

static void
append_ok(struct journal *j, const char *s)
{
	char err[256] = "";

	ck_assert_msg(journal_append(j, s, strlen(s), err, sizeof(err)) == 0, "%s", err);
}

static void
read_all(struct journal *j, struct seen *s)
{
	char err[256] = "";

	memset(s, 0, sizeof(*s));
	ck_assert_int_eq(journal_read(j, collect, s, err, sizeof(err)), 0);
}

static off_t
file_size(void)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_size;
}

/* Appends raw bytes behind the journal's back, as a crash mid-write would
 * leave them. */
static void
raw_append(const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_APPEND);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

START_TEST(crc32c_check_value)
{
	/* the standard check value of CRC-32C (RFC 3720, iSCSI) */
	ck_assert_uint_eq(crc32c(0, "123456789", 9), 0xe3069283u);
	/* continuing over pieces gives the same */
	ck_assert_uint_eq(crc32c(crc32c(0, "1234", 4), "56789", 5), 0xe3069283u);
}
END_TEST

START_TEST(records_back_in_order)
{
	struct journal j;
	struct seen s;
	uint64_t dropped = 99;
	char err[256];

	open_ok(&j, &dropped);
	ck_assert_uint_eq(dropped, 0);
	append_ok(&j, "first");
	append_ok(&j, "");
	append_ok(&j, "third {\"rows\":[1,2]}");
	ck_assert_int_eq(journal_sync(&j, err, sizeof(err)), 0);
	ck_assert_uint_eq(j.size, 3 * JOURNAL_HDR + 5 + 0 + 20);
	journal_close(&j);
	open_ok(&j, &dropped);
	ck_assert_uint_eq(dropped, 0);
	read_all(&j, &s);
	ck_assert_int_eq(s.n, 3);
	ck_assert_str_eq(s.recs[0], "first");
	ck_assert_uint_eq(s.lens[1], 0);
	ck_assert_str_eq(s.recs[2], "third {\"rows\":[1,2]}");
	ck_assert_int_eq(stat(path, &(struct stat){0}), 0);
	journal_close(&j);
}
END_TEST

START_TEST(torn_tail_cut)
{
	struct journal j;
	struct seen s;
	uint64_t dropped;
	/* a header that promises 100 bytes, and 10 of them */
	unsigned char torn[JOURNAL_HDR + 10] = {'C', 'W', 'J', '1', 100, 0,
						0,   0,	  1,   2,   3,	 4};
	off_t whole;

	open_ok(&j, &dropped);
	append_ok(&j, "one");
	append_ok(&j, "two");
	journal_close(&j);
	whole = file_size();
	raw_append(torn, sizeof(torn));
	open_ok(&j, &dropped);
	ck_assert_uint_eq(dropped, sizeof(torn));
	ck_assert_int_eq(file_size(), whole);
	/* appending goes on after the whole records */
	append_ok(&j, "three");
	read_all(&j, &s);
	ck_assert_int_eq(s.n, 3);
	ck_assert_str_eq(s.recs[2], "three");
	journal_close(&j);
}
END_TEST

START_TEST(half_header_cut)
{
	struct journal j;
	struct seen s;
	uint64_t dropped;

	open_ok(&j, &dropped);
	append_ok(&j, "one");
	journal_close(&j);
	raw_append("CWJ", 3);
	open_ok(&j, &dropped);
	ck_assert_uint_eq(dropped, 3);
	read_all(&j, &s);
	ck_assert_int_eq(s.n, 1);
	journal_close(&j);
}
END_TEST

START_TEST(bad_crc_cut)
{
	struct journal j;
	struct seen s;
	uint64_t dropped;
	off_t whole;
	int fd;

	open_ok(&j, &dropped);
	append_ok(&j, "kept");
	whole = (off_t)j.size;
	append_ok(&j, "damaged");
	journal_close(&j);
	/* one byte of the last payload never reached the disk right */
	fd = open(path, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, "X", 1, whole + JOURNAL_HDR + 2), 1);
	close(fd);
	open_ok(&j, &dropped);
	ck_assert_uint_eq(dropped, JOURNAL_HDR + 7);
	read_all(&j, &s);
	ck_assert_int_eq(s.n, 1);
	ck_assert_str_eq(s.recs[0], "kept");
	journal_close(&j);
}
END_TEST

START_TEST(garbage_tail_cut)
{
	struct journal j;
	struct seen s;
	uint64_t dropped;
	unsigned char junk[300];
	size_t i;

	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 37 + 11);
	open_ok(&j, &dropped);
	append_ok(&j, "a");
	journal_close(&j);
	raw_append(junk, sizeof(junk));
	open_ok(&j, &dropped);
	ck_assert_uint_eq(dropped, sizeof(junk));
	read_all(&j, &s);
	ck_assert_int_eq(s.n, 1);
	journal_close(&j);
}
END_TEST

START_TEST(read_stops_on_request)
{
	struct journal j;
	struct seen s;
	uint64_t dropped;
	char err[256];

	open_ok(&j, &dropped);
	append_ok(&j, "1");
	append_ok(&j, "2");
	append_ok(&j, "3");
	memset(&s, 0, sizeof(s));
	s.stop_at = 2;
	ck_assert_int_eq(journal_read(&j, collect, &s, err, sizeof(err)), 7);
	ck_assert_int_eq(s.n, 2);
	journal_close(&j);
}
END_TEST

START_TEST(next_walks_records)
{
	struct journal j;
	uint64_t dropped, off = 0;
	char err[256] = "", *rec;
	size_t len;

	open_ok(&j, &dropped);
	append_ok(&j, "alpha");
	append_ok(&j, "");
	append_ok(&j, "gamma");
	ck_assert_int_eq(journal_next(&j, &off, &rec, &len, err, sizeof(err)), 1);
	ck_assert_str_eq(rec, "alpha");
	free(rec);
	ck_assert_int_eq(journal_next(&j, &off, &rec, &len, err, sizeof(err)), 1);
	ck_assert_uint_eq(len, 0);
	free(rec);
	ck_assert_int_eq(journal_next(&j, &off, &rec, &len, err, sizeof(err)), 1);
	ck_assert_str_eq(rec, "gamma");
	free(rec);
	ck_assert_uint_eq(off, j.size);
	ck_assert_int_eq(journal_next(&j, &off, &rec, &len, err, sizeof(err)), 0);
	/* an offset inside a record is refused, not misread */
	off = 3;
	ck_assert_int_eq(journal_next(&j, &off, &rec, &len, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "bad record at byte 3"));
	journal_close(&j);
}
END_TEST

START_TEST(clear_empties)
{
	struct journal j;
	struct seen s;
	uint64_t dropped;
	char err[256];

	open_ok(&j, &dropped);
	append_ok(&j, "1");
	ck_assert_int_eq(journal_clear(&j, err, sizeof(err)), 0);
	ck_assert_uint_eq(j.size, 0);
	ck_assert_int_eq(file_size(), 0);
	append_ok(&j, "after");
	read_all(&j, &s);
	ck_assert_int_eq(s.n, 1);
	ck_assert_str_eq(s.recs[0], "after");
	journal_close(&j);
}
END_TEST

START_TEST(oversize_refused)
{
	struct journal j;
	uint64_t dropped;
	char err[256] = "";
	static char big[1];

	open_ok(&j, &dropped);
	ck_assert_int_eq(
	    journal_append(&j, big, (size_t)JOURNAL_REC_MAX + 1, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "too large"));
	ck_assert_uint_eq(j.size, 0);
	ck_assert_int_eq(file_size(), 0);
	journal_close(&j);
}
END_TEST

START_TEST(unwritable_dir)
{
	struct journal j;
	uint64_t dropped;
	char err[256] = "";

	ck_assert_int_eq(
	    journal_open(&j, "/nonexistent/cw-spool", &dropped, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "No such file"));
	ck_assert_int_eq(j.fd, -1);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("journal");
	TCase *tc = tcase_create("journal");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, crc32c_check_value);
	tcase_add_test(tc, records_back_in_order);
	tcase_add_test(tc, torn_tail_cut);
	tcase_add_test(tc, half_header_cut);
	tcase_add_test(tc, bad_crc_cut);
	tcase_add_test(tc, garbage_tail_cut);
	tcase_add_test(tc, read_stops_on_request);
	tcase_add_test(tc, next_walks_records);
	tcase_add_test(tc, clear_empties);
	tcase_add_test(tc, oversize_refused);
	tcase_add_test(tc, unwritable_dir);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(suite());
}
