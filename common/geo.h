/* geo.h - great-circle distance on WGS-84 coordinates */
#ifndef CW_GEO_H
#define CW_GEO_H

/* Great-circle distance in metres between two points (haversine, mean
 * earth radius). */
double geo_distance_m(double lat1, double lon1, double lat2, double lon2);

#endif
