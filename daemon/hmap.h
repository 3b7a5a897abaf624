/* hmap.h - string-keyed open-addressing hash map of pointers */
#ifndef CW_HMAP_H
#define CW_HMAP_H

#include <stddef.h>
#include <stdint.h>

struct hmap_slot {
	const char *key; /* owned by the value; NULL = empty */
	void *val;
};

struct hmap {
	struct hmap_slot *slots;
	size_t cap, len, tomb;
};

void hmap_init(struct hmap *m);
void hmap_free(struct hmap *m);
void *hmap_get(const struct hmap *m, const char *key);
/* Inserts or replaces; key must stay valid while it is in the map. */
void hmap_put(struct hmap *m, const char *key, void *val);
void *hmap_del(struct hmap *m, const char *key);

/* Iterates: returns the next value after *pos, or NULL at the end. */
void *hmap_next(const struct hmap *m, size_t *pos);

uint64_t hmap_hash(const char *s);

#endif
