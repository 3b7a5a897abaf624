/* geo.c - haversine distance */
#include "config.h"

#include <math.h>

#include "geo.h"

#define EARTH_RADIUS_M 6371008.8
#define DEG2RAD	       (M_PI / 180.0)

double
geo_distance_m(double lat1, double lon1, double lat2, double lon2)
{
	double dlat = (lat2 - lat1) * DEG2RAD, dlon = (lon2 - lon1) * DEG2RAD;
	double a = sin(dlat / 2) * sin(dlat / 2) + cos(lat1 * DEG2RAD) *
						       cos(lat2 * DEG2RAD) *
						       sin(dlon / 2) * sin(dlon / 2);

	return 2 * EARTH_RADIUS_M * atan2(sqrt(a), sqrt(1 - a));
}
