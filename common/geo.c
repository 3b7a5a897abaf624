/* geo.c - haversine distance */
#include "config.h"

#include <math.h>

#include "geo.h"

#define EARTH_RADIUS_M 6371008.8
#define DEG2RAD	       (M_PI / 180.0)

double
geo_hav(double lat1, double lon1, double lat2, double lon2, double cos_lat1)
{
	double sdlat = sin((lat2 - lat1) * DEG2RAD / 2),
	       sdlon = sin((lon2 - lon1) * DEG2RAD / 2);

	return sdlat * sdlat + cos_lat1 * cos(lat2 * DEG2RAD) * sdlon * sdlon;
}

double
geo_hav_m(double a)
{
	if (a > 1)
		a = 1;
	return 2 * EARTH_RADIUS_M * atan2(sqrt(a), sqrt(1 - a));
}

double
geo_distance_m(double lat1, double lon1, double lat2, double lon2)
{
	return geo_hav_m(geo_hav(lat1, lon1, lat2, lon2, cos(lat1 * DEG2RAD)));
}
