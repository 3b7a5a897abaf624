/* journal.h - the spool's append-only file (SPEC §8, issue 9): records
 * with a length and a CRC, appended, fsynced, read back in order. A torn
 * tail (a record cut short by a crash, never acknowledged) is detected and
 * cut off. Plain POSIX I/O, no event loop: the spool's writer thread calls
 * it. */
#ifndef CW_JOURNAL_H
#define CW_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#define JOURNAL_NAME	"spool.journal"
#define JOURNAL_REC_MAX (64u << 20) /* bytes of one record's payload */
#define JOURNAL_HDR	12	    /* magic, length, CRC-32C: 4 bytes each */

struct journal {
	int fd;	       /* -1 when closed */
	uint64_t size; /* bytes of whole records in the file */
	char path[4096];
};

/* CRC-32C (Castagnoli) of len bytes, continuing from crc (0 to start). */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/* Called for each whole record in order; a non-zero return stops the read
 * and is returned by journal_read. */
typedef int (*journal_rec_fn)(void *arg, const void *rec, size_t len);

/* Opens (creating it, mode 0600) dir/spool.journal. Whole records already
 * in it are kept; a torn tail after them is cut off and its byte count
 * put in *dropped. 0, or -1 with a one-line reason in err. */
int journal_open(struct journal *j, const char *dir, uint64_t *dropped, char *err,
		 size_t errlen);

/* Reads every whole record of the open journal from its start, in order.
 * Returns 0, fn's non-zero return, or -1 with the reason in err. */
int journal_read(struct journal *j, journal_rec_fn fn, void *arg, char *err,
		 size_t errlen);

/* Reads the record at *off into a new buffer *rec (NUL-terminated, *len
 * bytes without the NUL; free() it) and moves *off past it. Returns 1, 0
 * at the end of the whole records, or -1 with the reason in err. */
int journal_next(struct journal *j, uint64_t *off, char **rec, size_t *len, char *err,
		 size_t errlen);

/* Appends one record (not yet durable: journal_sync). 0, or -1 with the
 * reason in err; a failed append leaves the file as it was. */
int journal_append(struct journal *j, const void *rec, size_t len, char *err,
		   size_t errlen);

/* Makes every appended record durable (fdatasync). 0 or -1. */
int journal_sync(struct journal *j, char *err, size_t errlen);

/* Empties the journal once its records are written back, durably. */
int journal_clear(struct journal *j, char *err, size_t errlen);

void journal_close(struct journal *j);

#endif
