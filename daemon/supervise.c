/* supervise.c - silent devices and power-cut storms (see supervise.h) */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "supervise.h"
#include "util.h"

enum sv_state {
	ST_IDLE,     /* not watched (heartbeat_s turned off) */
	ST_WATCHING, /* heard lately */
	ST_HELD,     /* silent; held for the storm window */
	ST_RAISED,   /* silent; its own ticket raised */
	ST_STORM,    /* silent; listed in its village's storm */
};

#define F_IN_HEAP      0x01 /* has one heap entry */
#define F_OFFLINE      0x02 /* the silence started with an offline status */
#define F_COARSE       0x04 /* heard_ms restored from a coalesced last_seen */
#define F_LATE_AT_LOAD 0x08 /* its deadline passed while the daemon was down */

/* One watched device: 32 bytes. */
struct sv_slot {
	struct device *dev;
	int64_t heard_ms;  /* the silence start */
	int64_t stored_ms; /* last_seen as last written */
	uint8_t state, flags;
};

/* One deadline: 16 bytes. It may be earlier than the slot's real one (a
 * device heard since); it is then moved when it surfaces. */
struct sv_ent {
	int64_t at_ms;
	uint32_t slot;
};

struct village {
	char code[AREA_LEN + 1];
	VEC(uint32_t) held;    /* silent devices in their hold */
	VEC(uint32_t) members; /* devices listed in the open storm */
	int64_t storm_id;
	bool storm;
	int silent, joined;
};

struct supervisor {
	struct sv_params p;
	VEC(struct sv_slot) slots;
	VEC(struct sv_ent) heap;
	struct hmap villages;
	VEC(struct sv_verdict) out;
};

static int64_t
to_ms(double t)
{
	return (int64_t)llround(t * 1000.0);
}

/* --- the heap ------------------------------------------------------------- */

static void
heap_up(struct supervisor *sv, size_t i)
{
	struct sv_ent x = sv->heap.v[i];

	while (i > 0) {
		size_t up = (i - 1) / 2;

		if (sv->heap.v[up].at_ms <= x.at_ms)
			break;
		sv->heap.v[i] = sv->heap.v[up];
		i = up;
	}
	sv->heap.v[i] = x;
}

static void
heap_down(struct supervisor *sv, size_t i)
{
	struct sv_ent x = sv->heap.v[i];
	size_t n = sv->heap.n;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && sv->heap.v[c + 1].at_ms < sv->heap.v[c].at_ms)
			c++;
		if (x.at_ms <= sv->heap.v[c].at_ms)
			break;
		sv->heap.v[i] = sv->heap.v[c];
		i = c;
	}
	sv->heap.v[i] = x;
}

static void
heap_push(struct supervisor *sv, uint32_t slot, int64_t at_ms)
{
	struct sv_ent x = {at_ms, slot};

	VEC_PUSH(sv->heap, x);
	heap_up(sv, sv->heap.n - 1);
	sv->slots.v[slot].flags |= F_IN_HEAP;
}

/* Replaces the top entry by one for the same slot at a later time. */
static void
heap_retop(struct supervisor *sv, int64_t at_ms)
{
	sv->heap.v[0].at_ms = at_ms;
	heap_down(sv, 0);
}

static void
heap_pop(struct supervisor *sv)
{
	sv->slots.v[sv->heap.v[0].slot].flags &= (uint8_t)~F_IN_HEAP;
	sv->heap.v[0] = sv->heap.v[--sv->heap.n];
	if (sv->heap.n > 0)
		heap_down(sv, 0);
}

/* --- life ----------------------------------------------------------------- */

struct supervisor *
sv_new(const struct sv_params *p)
{
	struct supervisor *sv = xcalloc(1, sizeof(*sv));

	sv->p = *p;
	hmap_init(&sv->villages);
	return sv;
}

void
sv_set_params(struct supervisor *sv, const struct sv_params *p)
{
	sv->p = *p;
}

void
sv_free(struct supervisor *sv)
{
	struct village *v;
	size_t pos = 0;

	if (sv == NULL)
		return;
	while ((v = hmap_next(&sv->villages, &pos)) != NULL) {
		free(v->held.v);
		free(v->members.v);
		free(v);
	}
	hmap_free(&sv->villages);
	free(sv->slots.v);
	free(sv->heap.v);
	free(sv->out.v);
	free(sv);
}

static struct sv_slot *
slot_of(const struct supervisor *sv, const struct device *d)
{
	if (d->sv_slot == 0 || d->sv_slot > sv->slots.n)
		return NULL;
	return &sv->slots.v[d->sv_slot - 1];
}

/* When the slot's silence has lasted long enough. */
static int64_t
due_ms(const struct sv_slot *s)
{
	int64_t hb = (int64_t)s->dev->heartbeat_s * 1000;

	return s->heard_ms + hb * 3 / 2 + ((s->flags & F_COARSE) ? hb / 2 : 0);
}

void
sv_watch(struct supervisor *sv, struct device *d, double last_seen, bool online,
	 double now)
{
	struct sv_slot s, *old;
	uint32_t i;

	if (d->heartbeat_s <= 0)
		return;
	if ((old = slot_of(sv, d)) != NULL) {
		if (old->state == ST_IDLE) { /* supervision turned on again */
			old->state = ST_WATCHING;
			old->heard_ms = to_ms(now);
			if (!(old->flags & F_IN_HEAP))
				heap_push(sv, d->sv_slot - 1, due_ms(old));
		}
		return;
	}
	memset(&s, 0, sizeof(s));
	s.dev = d;
	s.state = ST_WATCHING;
	if (last_seen > 0) {
		s.heard_ms = s.stored_ms = to_ms(last_seen);
		s.flags = online ? F_COARSE : F_OFFLINE;
	} else {
		s.heard_ms = to_ms(now); /* never heard: its silence starts now */
	}
	i = (uint32_t)sv->slots.n;
	VEC_PUSH(sv->slots, s);
	d->sv_slot = i + 1;
	if (due_ms(&sv->slots.v[i]) <= to_ms(now))
		sv->slots.v[i].flags |= F_LATE_AT_LOAD;
	heap_push(sv, i, due_ms(&sv->slots.v[i]));
}

/* --- verdicts and villages ------------------------------------------------- */

static struct sv_verdict *
verdict(struct supervisor *sv, enum sv_kind k, struct sv_slot *s)
{
	struct sv_verdict v;

	memset(&v, 0, sizeof(v));
	v.kind = k;
	if (s) {
		v.dev = s->dev;
		v.since = (double)s->heard_ms / 1000.0;
	}
	VEC_PUSH(sv->out, v);
	return &sv->out.v[sv->out.n - 1];
}

static struct village *
village_of(struct supervisor *sv, const char *code, bool add)
{
	struct village *v = hmap_get(&sv->villages, code);

	if (v == NULL && add) {
		v = xcalloc(1, sizeof(*v));
		str_copy(v->code, code, sizeof(v->code));
		hmap_put(&sv->villages, v->code, v);
	}
	return v;
}

static struct village *
slot_village(struct supervisor *sv, const struct sv_slot *s, bool add)
{
	if (s->dev->elder == NULL || s->dev->elder->area_code[0] == '\0')
		return NULL;
	return village_of(sv, s->dev->elder->area_code, add);
}

static void
list_remove(uint32_t *v, size_t *n, uint32_t x)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (v[i] == x) {
			v[i] = v[--*n];
			return;
		}
}

static struct sv_verdict *
storm_verdict(struct supervisor *sv, enum sv_kind k, struct sv_slot *s, struct village *v)
{
	struct sv_verdict *o = verdict(sv, k, s);

	o->area = v->code;
	o->storm_id = v->storm_id;
	o->silent = v->silent;
	o->joined = v->joined;
	return o;
}

/* Lists slot i in its village's open storm. */
static void
storm_join(struct supervisor *sv, struct village *v, uint32_t i, bool quiet)
{
	struct sv_slot *s = &sv->slots.v[i];

	s->state = ST_STORM;
	VEC_PUSH(v->members, i);
	v->silent++;
	if (!quiet || v->silent > v->joined)
		v->joined++;
	storm_verdict(sv, SV_STORM_JOIN, s, v)->quiet = quiet;
}

/* The storm is over once at least 80% of the devices it listed are heard
 * again: the power is back. The few still silent are then dead for another
 * reason (a battery, a fault) and get tickets of their own. */
static void
storm_check_clear(struct supervisor *sv, struct village *v)
{
	size_t k;

	if (!v->storm || v->silent * 5 > v->joined)
		return;
	storm_verdict(sv, SV_STORM_CLEAR, NULL, v);
	for (k = 0; k < v->members.n; k++) {
		struct sv_slot *s = &sv->slots.v[v->members.v[k]];

		if (s->state != ST_STORM)
			continue;
		s->state = ST_RAISED;
		verdict(sv, SV_RAISE, s);
	}
	v->members.n = 0;
	v->storm = false;
	v->storm_id = 0;
	v->silent = v->joined = 0;
}

/* --- hearing -------------------------------------------------------------- */

int
sv_heard(struct supervisor *sv, struct device *d, bool alive, double now)
{
	struct sv_slot *s = slot_of(sv, d);
	int64_t t = to_ms(now);
	struct village *v;
	uint32_t i;
	bool changed = false;

	if (s == NULL || s->state == ST_IDLE)
		return 0;
	i = d->sv_slot - 1;
	if (!alive) {
		/* The device (or its will) says it is gone: the silence starts
		 * now, unless it started already. */
		if ((s->flags & F_OFFLINE) || s->state != ST_WATCHING)
			return 0;
		s->flags = (uint8_t)((s->flags & ~F_COARSE) | F_OFFLINE);
		s->heard_ms = s->stored_ms = t;
		return SV_STORE;
	}
	s->flags &= (uint8_t) ~(F_OFFLINE | F_COARSE | F_LATE_AT_LOAD);
	/* verdicts first: they carry the silence start */
	switch (s->state) {
	case ST_HELD:
		if ((v = slot_village(sv, s, false)) != NULL)
			list_remove(v->held.v, &v->held.n, i);
		changed = true;
		break;
	case ST_RAISED:
		verdict(sv, SV_BACK, s);
		changed = true;
		break;
	case ST_STORM:
		if ((v = slot_village(sv, s, false)) != NULL && v->storm) {
			list_remove(v->members.v, &v->members.n, i);
			v->silent--;
			s->state = ST_WATCHING;
			storm_verdict(sv, SV_STORM_BACK, s, v);
			storm_check_clear(sv, v);
		}
		changed = true;
		break;
	default:
		break;
	}
	s->heard_ms = t;
	s->state = ST_WATCHING;
	if (!(s->flags & F_IN_HEAP))
		heap_push(sv, i, due_ms(s));
	/* last_seen is written when it changes state, and otherwise when the
	 * stored one is half a heartbeat old: a chatty device costs at most two
	 * rows a heartbeat, and a restart finds it at most half a heartbeat late */
	if (changed || t - s->stored_ms >= (int64_t)d->heartbeat_s * 500) {
		s->stored_ms = t;
		return SV_STORE;
	}
	return 0;
}

bool
sv_silent(const struct supervisor *sv, const struct device *d)
{
	const struct sv_slot *s = slot_of(sv, d);

	return s != NULL &&
	       (s->state == ST_HELD || s->state == ST_RAISED || s->state == ST_STORM);
}

double
sv_since(const struct supervisor *sv, const struct device *d)
{
	const struct sv_slot *s = slot_of(sv, d);

	return s ? (double)s->heard_ms / 1000.0 : 0;
}

/* --- the sweep ------------------------------------------------------------ */

/* Slot i has been silent long enough. */
static void
found_silent(struct supervisor *sv, uint32_t i, int64_t now_ms)
{
	struct sv_slot *s = &sv->slots.v[i];
	struct village *v = NULL;
	size_t k;

	if (sv->p.storm_devices > 0)
		v = slot_village(sv, s, true);
	if (v == NULL) {
		s->state = ST_RAISED;
		verdict(sv, SV_RAISE, s);
		return;
	}
	if (v->storm) {
		storm_join(sv, v, i, (s->flags & F_LATE_AT_LOAD) != 0);
		return;
	}
	s->state = ST_HELD;
	VEC_PUSH(v->held, i);
	heap_push(sv, i, now_ms + to_ms(sv->p.storm_window_s));
	if (v->held.n <= (size_t)sv->p.storm_devices)
		return;
	/* more than storm_devices at once: a power cut, one area incident */
	v->storm = true;
	storm_verdict(sv, SV_STORM_OPEN, s, v);
	for (k = 0; k < v->held.n; k++)
		storm_join(sv, v, v->held.v[k], false);
	v->held.n = 0;
}

size_t
sv_sweep(struct supervisor *sv, double now)
{
	int64_t t = to_ms(now);
	size_t looked = 0;

	while (sv->heap.n > 0 && sv->heap.v[0].at_ms <= t) {
		uint32_t i = sv->heap.v[0].slot;
		struct sv_slot *s = &sv->slots.v[i];
		struct village *v;
		int64_t due;

		looked++;
		if (s->dev->heartbeat_s <= 0) { /* supervision turned off */
			if ((s->state == ST_HELD) && (v = slot_village(sv, s, false)))
				list_remove(v->held.v, &v->held.n, i);
			s->state = ST_IDLE;
			heap_pop(sv);
			continue;
		}
		switch (s->state) {
		case ST_WATCHING:
			if ((due = due_ms(s)) > t) {
				heap_retop(sv, due); /* heard since: lazily moved */
				continue;
			}
			heap_pop(sv);
			found_silent(sv, i, t);
			break;
		case ST_HELD: /* the hold is over and no storm came: a ticket */
			heap_pop(sv);
			if ((v = slot_village(sv, s, false)) != NULL)
				list_remove(v->held.v, &v->held.n, i);
			s->state = ST_RAISED;
			verdict(sv, SV_RAISE, s);
			break;
		default: /* raised or in a storm: nothing timed until heard */
			heap_pop(sv);
			break;
		}
	}
	return looked;
}

double
sv_next(const struct supervisor *sv)
{
	return sv->heap.n ? (double)sv->heap.v[0].at_ms / 1000.0 : 0;
}

void
sv_touch_all(struct supervisor *sv, double now)
{
	int64_t t = to_ms(now);
	size_t i;

	for (i = 0; i < sv->slots.n; i++) {
		struct sv_slot *s = &sv->slots.v[i];

		if (s->state == ST_WATCHING && !(s->flags & F_OFFLINE) && s->heard_ms < t)
			s->heard_ms = t;
	}
}

void
sv_shift(struct supervisor *sv, double delta)
{
	int64_t d = to_ms(delta);
	size_t i;

	for (i = 0; i < sv->slots.n; i++) {
		sv->slots.v[i].heard_ms += d;
		if (sv->slots.v[i].stored_ms != 0)
			sv->slots.v[i].stored_ms += d;
	}
	/* the same shift for every key keeps the heap's order */
	for (i = 0; i < sv->heap.n; i++)
		sv->heap.v[i].at_ms += d;
}

/* --- storms --------------------------------------------------------------- */

void
sv_storm_restore(struct supervisor *sv, const char *area, int64_t id, int joined)
{
	struct village *v = village_of(sv, area, true);

	v->storm = true;
	v->storm_id = id;
	v->joined = joined;
}

void
sv_storms_check(struct supervisor *sv)
{
	struct village *v;
	size_t pos = 0;

	while ((v = hmap_next(&sv->villages, &pos)) != NULL)
		storm_check_clear(sv, v);
}

void
sv_storm_set(struct supervisor *sv, const char *area, int64_t id)
{
	struct village *v = village_of(sv, area, false);

	if (v != NULL)
		v->storm_id = id;
}

/* --- the rest ------------------------------------------------------------- */

const struct sv_verdict *
sv_verdicts(const struct supervisor *sv, size_t *n)
{
	*n = sv->out.n;
	return sv->out.v;
}

void
sv_verdicts_clear(struct supervisor *sv)
{
	sv->out.n = 0;
}

size_t
sv_watched(const struct supervisor *sv)
{
	return sv->slots.n;
}

size_t
sv_bytes_per_device(void)
{
	return sizeof(struct sv_slot) + sizeof(struct sv_ent);
}

size_t
sv_bytes(const struct supervisor *sv)
{
	return sv->slots.cap * sizeof(struct sv_slot) +
	       sv->heap.cap * sizeof(struct sv_ent);
}
