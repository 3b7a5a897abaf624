/* supervise.c - bench of device supervision's core at province scale: one
 * million supervised devices in 3,000 villages, heartbeat 60 s.
 * Prints the memory per device, the cost of hearing a device, and the
 * sweep cost per 1-s tick in steady state (everyone talking), with nothing
 * due, and during a province-wide power cut (everyone silent). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "supervise.h"
#include "util.h"

#define T0 1795312800.0

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The moment within each heartbeat at which device i talks. */
static double
phase(size_t i, int hb)
{
	return (double)((i * 2654435761u) % ((unsigned)hb * 1000)) / 1000.0;
}

int
main(int argc, char **argv)
{
	size_t n = argc > 1 ? (size_t)atol(argv[1]) : 1000000, nv = 3000, i;
	struct sv_params p = {10, 60};
	struct elder *villages;
	struct device *devs;
	struct supervisor *sv;
	double t, t0, worst = 0, total = 0, heard_s;
	size_t looked = 0, ticks = 0, nverd;
	const int hb = 60;

	villages = xcalloc(nv, sizeof(*villages));
	for (i = 0; i < nv; i++)
		snprintf(villages[i].area_code, sizeof(villages[i].area_code), "14%010zu",
			 i);
	devs = xcalloc(n, sizeof(*devs));
	sv = sv_new(&p);
	for (i = 0; i < n; i++) {
		snprintf(devs[i].id, sizeof(devs[i].id), "D%zu", i);
		devs[i].heartbeat_s = hb;
		devs[i].elder = &villages[i % nv];
		sv_watch(sv, &devs[i], T0 - hb + phase(i, hb), true, T0);
	}
	printf("devices=%zu villages=%zu heartbeat_s=%d\n", n, nv, hb);
	printf("memory: %zu bytes per device by sizeof (slot + heap entry); "
	       "%.1f bytes per device allocated (vector slack included)\n",
	       sv_bytes_per_device(), (double)sv_bytes(sv) / (double)n);

	/* steady state: every device heard once per heartbeat, in the second
	 * of its phase, one sweep per simulated second, for three heartbeats */
	size_t *order = xcalloc(n, sizeof(*order)), start[61];
	memset(start, 0, sizeof(start));
	for (i = 0; i < n; i++)
		start[(size_t)phase(i, hb) + 1]++;
	for (i = 1; i <= (size_t)hb; i++)
		start[i] += start[i - 1];
	for (i = 0; i < n; i++)
		order[start[(size_t)phase(i, hb)]++] = i;
	/* start[s] is now the end of second s's devices */
	heard_s = 0;
	for (t = T0 + 1; t <= T0 + 3 * hb; t += 1) {
		size_t sec = (size_t)(t - 1 - T0) % (size_t)hb, k;
		size_t from = sec ? start[sec - 1] : 0;
		double a = mono(), b;

		for (k = from; k < start[sec]; k++)
			sv_heard(sv, &devs[order[k]], true, t);
		b = mono();
		heard_s += b - a;
		looked += sv_sweep(sv, t);
		a = mono() - b;
		total += a;
		if (a > worst)
			worst = a;
		ticks++;
		sv_verdicts(sv, &nverd);
		if (nverd) {
			fprintf(stderr, "unexpected verdicts in steady state: %zu\n",
				nverd);
			return 1;
		}
	}
	printf("steady state: %zu ticks of 1 s, %zu entries surfaced (lazy re-arm), "
	       "sweep mean %.3f ms, worst %.3f ms per tick\n",
	       ticks, looked, total / (double)ticks * 1e3, worst * 1e3);
	printf("hearing a device: %.0f ns each\n", heard_s / ((double)n * 3) * 1e9);

	/* nothing due */
	t0 = mono();
	for (i = 0; i < 1000000; i++)
		sv_sweep(sv, T0 + 3 * hb);
	printf("tick with nothing due: %.1f ns\n", (mono() - t0) / 1e6 * 1e9);

	/* a power cut everywhere: nobody heard after T0 + 3 hb */
	worst = total = 0;
	ticks = looked = 0;
	size_t verdicts = 0;
	for (t = T0 + 3 * hb + 1; t <= T0 + 3 * hb + 2 * hb + 61; t += 1) {
		double a = mono();

		looked += sv_sweep(sv, t);
		a = mono() - a;
		total += a;
		if (a > worst)
			worst = a;
		ticks++;
		sv_verdicts(sv, &nverd);
		verdicts += nverd;
		sv_verdicts_clear(sv);
	}
	printf("power cut, all %zu devices silent: %zu ticks, %zu entries, %zu "
	       "verdicts (storms), sweep mean %.3f ms, worst %.3f ms per tick\n",
	       n, ticks, looked, verdicts, total / (double)ticks * 1e3, worst * 1e3);
	sv_free(sv);
	free(order);
	free(devs);
	free(villages);
	return 0;
}
