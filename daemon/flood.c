/* flood.c - per-device token bucket */
#include "config.h"

#include <math.h>

#include "flood.h"

bool
flood_admit(struct flood_dev *f, const struct flood_params *p, int type, double now)
{
	unsigned bit = 1u << (type & 31);

	if (p->rate <= 0)
		return true;
	if (f->window_at == 0 || now - f->window_at >= p->window_s ||
	    now < f->window_at) {
		f->window_at = now;
		f->types = 0;
		f->dropped = 0;
	}
	if (f->at == 0) {
		f->tokens = p->burst;
	} else if (now > f->at) {
		f->tokens = fmin(p->burst, f->tokens + (now - f->at) * p->rate);
	}
	f->at = now;
	if (f->tokens >= 1) {
		f->tokens -= 1;
		f->types |= bit;
		return true;
	}
	if (!(f->types & bit)) {
		f->types |= bit; /* a new alarm type: taken, bucket or not */
		return true;
	}
	f->dropped++;
	return false;
}

bool
flood_first_drop(const struct flood_dev *f)
{
	return f->dropped == 1;
}
