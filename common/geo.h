/* geo.h - great-circle distance on WGS-84 coordinates */
#ifndef CW_GEO_H
#define CW_GEO_H

/* Great-circle distance in metres between two points (haversine, mean
 * earth radius). */
double geo_distance_m(double lat1, double lon1, double lat2, double lon2);

/* The same in two steps, for searches that compare many points with one:
 * geo_hav grows with the distance (cos_lat1 = cos of lat1 in radians, once
 * per search), geo_hav_m turns it into metres. geo_distance_m(p, q) ==
 * geo_hav_m(geo_hav(p, q, cos p.lat)). */
double geo_hav(double lat1, double lon1, double lat2, double lon2, double cos_lat1);
double geo_hav_m(double hav);

/* Metres per degree of latitude on the same sphere: the latitude
 * difference alone is a lower bound of the distance. */
#define GEO_M_PER_DEG_LAT 111195.08

#endif
