/* hmap.c - linear probing with tombstones; grows at 70 % load */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "util.h"

static const char hmap_tombstone[] = "";

uint64_t
hmap_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 1099511628211ULL;
	}
	return h;
}

void
hmap_init(struct hmap *m)
{
	memset(m, 0, sizeof(*m));
}

void
hmap_free(struct hmap *m)
{
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

static struct hmap_slot *
hmap_find(const struct hmap *m, const char *key)
{
	size_t i, mask;

	if (m->cap == 0)
		return NULL;
	mask = m->cap - 1;
	for (i = hmap_hash(key) & mask;; i = (i + 1) & mask) {
		struct hmap_slot *s = &m->slots[i];

		if (s->key == NULL)
			return NULL;
		if (s->key != hmap_tombstone && strcmp(s->key, key) == 0)
			return s;
	}
}

void *
hmap_get(const struct hmap *m, const char *key)
{
	struct hmap_slot *s = hmap_find(m, key);

	return s ? s->val : NULL;
}

static void
hmap_grow(struct hmap *m)
{
	struct hmap_slot *old = m->slots;
	size_t oldcap = m->cap, i;

	/* double only when live keys fill it; tombstones alone just rehash */
	if (oldcap == 0)
		m->cap = 64;
	else if ((m->len + 1) * 2 >= oldcap)
		m->cap = oldcap * 2;
	m->slots = xcalloc(m->cap, sizeof(*m->slots));
	m->len = 0;
	m->tomb = 0;
	for (i = 0; i < oldcap; i++)
		if (old[i].key && old[i].key != hmap_tombstone)
			hmap_put(m, old[i].key, old[i].val);
	free(old);
}

void
hmap_put(struct hmap *m, const char *key, void *val)
{
	struct hmap_slot *s;
	size_t i, mask;

	if ((s = hmap_find(m, key)) != NULL) {
		s->key = key;
		s->val = val;
		return;
	}
	if ((m->len + m->tomb + 1) * 10 >= m->cap * 7)
		hmap_grow(m);
	mask = m->cap - 1;
	for (i = hmap_hash(key) & mask;; i = (i + 1) & mask) {
		s = &m->slots[i];
		if (s->key == NULL || s->key == hmap_tombstone) {
			if (s->key == hmap_tombstone)
				m->tomb--;
			s->key = key;
			s->val = val;
			m->len++;
			return;
		}
	}
}

void *
hmap_del(struct hmap *m, const char *key)
{
	struct hmap_slot *s = hmap_find(m, key);
	void *v;

	if (s == NULL)
		return NULL;
	v = s->val;
	s->key = hmap_tombstone;
	s->val = NULL;
	m->len--;
	m->tomb++;
	return v;
}

void *
hmap_next(const struct hmap *m, size_t *pos)
{
	while (*pos < m->cap) {
		struct hmap_slot *s = &m->slots[(*pos)++];

		if (s->key && s->key != hmap_tombstone)
			return s->val;
	}
	return NULL;
}
