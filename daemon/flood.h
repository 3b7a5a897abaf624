/* flood.h - flood control (SPEC §8): a token bucket per device, so that a
 * broken sensor or a hostile client cannot starve the others. */
#ifndef CW_FLOOD_H
#define CW_FLOOD_H

#include <stdbool.h>

struct flood_params {
	double rate;	 /* events per second a device may keep up; <= 0 = off */
	double burst;	 /* events it may send at once */
	double window_s; /* one dead-letter summary per device and window */
};

/* Per-device state: 40 bytes, kept in struct device. */
struct flood_dev {
	double tokens, at; /* bucket level as of at */
	double window_at;  /* start of the current window; 0 = none yet */
	unsigned types;	   /* event types seen from the device in the window */
	unsigned dropped;  /* dropped in the current window */
};

/* Decides on one event of type (0..31) received at now: true = take it.
 * A type the device has not sent in this window is always taken, even from
 * an empty bucket: an SOS from a chattering button is never dropped. */
bool flood_admit(struct flood_dev *f, const struct flood_params *p, int type, double now);

/* True when the last refused event was the first of its window (the one
 * that opens the window's dead letter). */
bool flood_first_drop(const struct flood_dev *f);

#endif
