/* gensample.c - deterministic generator of the sample county (黎城县) CSVs
 *
 * Writes areas, stations, volunteers, elders and devices in the column order
 * of SPEC §2. Every random choice comes from a seeded splitmix64 stream, one
 * stream per table, so the same seed gives byte-identical files and changing
 * --elders leaves areas, stations and volunteers as they were. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "geo.h"
#include "log.h"
#include "util.h"

#define DEFAULT_DIR    "sql/sample"
#define DEFAULT_SEED   20261122ULL
#define DEFAULT_ELDERS 5000
#define MAX_ELDERS     1000000

#define COUNTY_LAT     36.50
#define COUNTY_LON     113.39
#define COUNTY_CODE    "140426000000"
#define COUNTY_NAME    "黎城县"
#define KM_PER_DEG_LAT 111.2
#define HALF_SIDE_KM   14.5 /* village centres stay inside a ~30 km square */

#define MAX_AREAS      400
#define MAX_STATIONS   400
#define NUM_VOLUNTEERS 300
#define NUM_DAY_CARE   10

/* Age reference: category odds use the age reached during this year; the
 * summary line counts 高龄 (80+) on its 1 January. */
#define REF_YEAR 2026

/* The nominal shares below (smoke 40 %, gas 25 %, ... of elders) would give
 * ~10,700 devices for 5,000 elders; they are scaled so the total lands near
 * 8,000 while keeping their proportions. */
#define DEVICE_SCALE 0.5
/* Share of multi-sensor homes that run zigbee2mqtt (tuned for ~10 % of
 * devices). */
#define ZIGBEE_HOME_SHARE 0.5

/* One splitmix64 stream. */
struct rng {
	uint64_t s;
};

/* Open-addressing set of strings: keeps names, phones and ID numbers
 * unique. */
struct strset {
	char **slot;
	size_t cap, n;
};

enum level { LV_PROVINCE, LV_CITY, LV_COUNTY, LV_TOWNSHIP, LV_VILLAGE };

struct area {
	char code[13];
	char name[48];
	int parent;    /* index; -1 for the province */
	int township;  /* index of the township; -1 above township level */
	int level;     /* enum level */
	int community; /* urban 社区: flat addresses instead of 组/号 */
	double lat, lon;
	double weight;			    /* relative number of elders and volunteers */
	char grid_name[32], grid_phone[16]; /* the village's 网格员 */
};

enum st_kind { ST_COUNTY, ST_REGIONAL, ST_VILLAGE, ST_DAYCARE };

struct station {
	char id[16];
	int kind; /* enum st_kind */
	int area;
	double lat, lon;
};

/* Everything generated so far; later tables refer to earlier ones. */
struct county {
	struct area area[MAX_AREAS];
	int narea;
	struct station station[MAX_STATIONS];
	int nstation;
	struct strset names, phones, ids;
	int *village;	/* indices of village-level areas */
	double *vcumul; /* cumulative weights over village[] */
	int nvillage;
};

/* Fields of one CSV row, formatted into one buffer. */
#define ROW_MAX 20
struct row {
	char buf[4096];
	size_t used;
	const char *field[ROW_MAX];
	int n;
};

/* An output file written under a temporary name and renamed when complete,
 * so an interrupted run never leaves a half file behind. */
struct out {
	FILE *f;
	char tmp[PATH_MAX], path[PATH_MAX];
	long rows;
};

/* Elder categories in the order of SPEC §2; also the output order. */
enum {
	C_EXTREME_POVERTY = 1 << 0,
	C_LOW_INCOME = 1 << 1,
	C_ECON_HARDSHIP = 1 << 2,
	C_DISABLED = 1 << 3,
	C_DEMENTIA = 1 << 4,
	C_SEVERE_DISABILITY = 1 << 5,
	C_LIVING_ALONE = 1 << 6,
	C_EMPTY_NEST = 1 << 7,
	C_LEFT_BEHIND = 1 << 8,
	C_SPECIAL_FAMILY = 1 << 9,
};
static const char *const category_name[] = {
    "extreme_poverty",	 "low_income",	 "econ_hardship", "disabled",	 "dementia",
    "severe_disability", "living_alone", "empty_nest",	  "left_behind", "special_family",
};
#define NUM_CATEGORIES (int)(sizeof(category_name) / sizeof(category_name[0]))

static const char *const skill_name[] = {"first_aid", "nursing", "fire_safety",
					 "gas_safety", "repair"};
#define NUM_SKILLS   5
#define SK_FIRST_AID (1u << 0)
#define SK_NURSING   (1u << 1)
#define SK_ALL	     ((1u << NUM_SKILLS) - 1)

enum dev_kind {
	D_SOS,
	D_SMOKE,
	D_GAS,
	D_CO,
	D_WATER,
	D_FALL,
	D_MOTION,
	D_DOOR,
	D_WEARABLE,
	D_HUB,
	NUM_DEV_KINDS
};
static const struct dev_def {
	const char *kind;
	double share;	 /* of elders, before DEVICE_SCALE */
	int heartbeat_s; /* battery sensors report hourly, mains ones more often */
} dev_def[NUM_DEV_KINDS] = {
    [D_SOS] = {"sos_button", 1.0, 3600},    [D_SMOKE] = {"smoke", 0.40, 3600},
    [D_GAS] = {"gas", 0.25, 600},	    [D_CO] = {"co", 0.10, 3600},
    [D_WATER] = {"water_leak", 0.15, 3600}, [D_FALL] = {"fall_radar", 0.10, 300},
    [D_MOTION] = {"motion", 0.05, 3600},    [D_DOOR] = {"door", 0.05, 3600},
    [D_WEARABLE] = {"wearable", 0.03, 600}, [D_HUB] = {"hub", 0, 300},
};

/* The county's townships. Towns (镇) take codes 1xx and townships (乡) 2xx, as
 * in the statistical division codes; positions are km east/north of the
 * county seat. */
static const struct township_def {
	const char *code3;
	const char *name;
	const char *seat; /* seat village; NULL for the county seat's communities */
	double east_km, north_km;
} township_def[] = {
    {"100", "黎侯镇", NULL, 0.0, 0.0},
    {"101", "东阳关镇", "东阳关村", 10.5, -2.5},
    {"102", "上遥镇", "上遥村", -6.0, 8.5},
    {"103", "西井镇", "西井村", -10.0, 1.5},
    {"104", "黄崖洞镇", "黄崖洞村", 4.5, 10.5},
    {"200", "西仵乡", "西仵村", -5.5, -7.5},
    {"201", "程家山乡", "程家山村", 7.5, -9.5},
    {"202", "停河铺乡", "停河铺村", -11.0, -8.0},
};
#define NUM_TOWNSHIPS (int)(sizeof(township_def) / sizeof(township_def[0]))

/* The county seat's urban communities, codes 001... */
static const char *const seat_community[] = {"城东社区", "城西社区", "城南社区",
					     "城北社区", "新华社区", "育才社区"};
#define NUM_COMMUNITIES (int)(sizeof(seat_community) / sizeof(seat_community[0]))

static const char *const vname_head[] = {
    "王家", "李家", "张家", "赵家", "刘家", "郭家", "宋家", "孔家", "段家", "申家",
    "牛家", "杨家", "常家", "秦家", "侯家", "韩家", "靳家", "暴家", "东",   "西",
    "南",   "北",   "上",   "下",   "前",   "后",   "大",   "小",   "石",   "柏",
    "龙",   "凤",   "桃",   "杏",   "枣",   "柳",   "槐",   "黄",   "白",   "青",
    "马",   "平",   "长",   "新",   "高",   "古",   "仁",   "宁",   "安",   "三",
};
static const char *const vname_tail[] = {"庄", "沟", "坡", "岭", "峪", "堡",  "寨",
					 "窑", "坪", "河", "泉", "湾", "店",  "铺",
					 "峧", "垴", "掌", "园", "洼", "峪口"};

/* Repeats weight the commonest surnames; 申, 靳, 暴 are typical of the area. */
static const char *const surname[] = {
    "王", "王", "王", "李", "李", "李", "张", "张", "刘", "刘", "赵", "赵", "杨",
    "郭", "郭", "陈", "宋", "申", "申", "牛", "段", "孔", "武", "常", "韩", "马",
    "冯", "贾", "秦", "梁", "侯", "史", "崔", "郝", "程", "石", "田", "范", "魏",
    "周", "吴", "高", "霍", "任", "薛", "曹", "路", "靳", "暴", "暴", "李", "王",
};
static const char *const old_female[] = {
    "秀英", "桂英", "玉兰", "桂兰", "秀兰", "凤英", "翠花", "金花", "玉梅",
    "桂芳", "秀珍", "兰英", "桂香", "爱英", "淑珍", "玉珍", "改花", "改英",
    "银花", "桂珍", "巧云", "彩霞", "香莲", "菊英", "月娥", "春花", "玉英",
    "秀莲", "存花", "粉莲", "英",   "兰",   "梅",   "珍",   "花",
};
static const char *const old_male[] = {
    "建国", "福贵", "保平", "拴柱", "金锁", "满仓", "来福", "有才", "长生", "国庆",
    "文斌", "志明", "振华", "全胜", "海生", "二虎", "双喜", "根旺", "富贵", "太平",
    "永福", "天明", "保国", "国栋", "德胜", "成林", "春生", "玉林", "新民", "跃进",
    "卫东", "建军", "和平", "贵",   "福",   "生",   "林",   "旺",
};
static const char *const modern_male[] = {
    "伟", "强", "磊", "军", "洋", "勇", "杰", "涛", "明", "超", "刚", "鹏", "飞", "宇",
    "浩", "凯", "亮", "建", "辉", "鑫", "斌", "俊", "波", "志", "龙", "林", "峰", "海",
};
static const char *const modern_female[] = {
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "秀", "霞", "平", "华", "婷", "晶", "红",
    "丹", "慧", "晓", "燕", "玲", "萍", "琳", "洁", "雪", "梅", "宁", "英", "莉", "颖",
};
/* Repeats make sons and daughters the usual first contact. */
static const struct relation {
	const char *name;
	int female;
	int blood; /* carries the family surname */
} child_relation[] = {
    {"儿子", 0, 1}, {"儿子", 0, 1}, {"儿子", 0, 1}, {"女儿", 1, 1},
    {"女儿", 1, 1}, {"女儿", 1, 1}, {"儿媳", 1, 0}, {"女婿", 0, 0},
    {"侄子", 0, 1}, {"孙子", 0, 1}, {"孙女", 1, 1},
};
static const char *const mobile_prefix[] = {
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151",
    "152", "155", "156", "157", "158", "159", "177", "183", "186", "187", "188", "189"};
static const char *const note_text[] = {
    "糖尿病",	"高血压",     "行动不便",     "听力差",	    "视力差",
    "心脏病",	"脑梗后遗症", "慢阻肺",	      "使用轮椅",   "住二楼",
    "有助听器", "家中养狗",   "冬季烧煤取暖", "需大声敲门", "骨质疏松",
};
/* Rare notes with ASCII punctuation, typed as operators do; they also make
 * sure importers see quoted fields. */
static const char *const note_quoted[] = {
    "钥匙在邻居\"老李\"家",
    "糖尿病, 需按时注射胰岛素",
    "女儿在太原, 每周日来电",
};

#define NELEM(a) (int)(sizeof(a) / sizeof((a)[0]))

/* splitmix64 step. */
static uint64_t
rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Seeds stream number `stream` of `seed`; streams never overlap in practice. */
static void
rng_init(struct rng *r, uint64_t seed, uint64_t stream)
{
	r->s = seed ^ (stream * 0xd1342543de82ef95ULL);
	rng_next(r);
}

/* Uniform in [0, 1). */
static double
rng_unit(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform in [0, n); the bias for n far below 2^32 does not matter here. */
static int
rng_below(struct rng *r, int n)
{
	return (int)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* Uniform in [lo, hi]. */
static int
rng_range(struct rng *r, int lo, int hi)
{
	return lo + rng_below(r, hi - lo + 1);
}

static int
rng_chance(struct rng *r, double p)
{
	return rng_unit(r) < p;
}

static const char *
rng_pick(struct rng *r, const char *const *list, int n)
{
	return list[rng_below(r, n)];
}

/* FNV-1a. */
static uint64_t
str_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

/* Adds s; returns 1 when it was new, 0 when already present. */
static int
strset_add(struct strset *set, const char *s)
{
	size_t i;

	if (2 * (set->n + 1) > set->cap) {
		struct strset bigger = {NULL, set->cap ? 2 * set->cap : 256, 0};

		bigger.slot = xcalloc(bigger.cap, sizeof(char *));
		for (i = 0; i < set->cap; i++) {
			if (set->slot[i] != NULL) {
				size_t j = str_hash(set->slot[i]) & (bigger.cap - 1);

				while (bigger.slot[j] != NULL)
					j = (j + 1) & (bigger.cap - 1);
				bigger.slot[j] = set->slot[i];
				bigger.n++;
			}
		}
		free(set->slot);
		*set = bigger;
	}
	for (i = str_hash(s) & (set->cap - 1); set->slot[i] != NULL;
	     i = (i + 1) & (set->cap - 1))
		if (strcmp(set->slot[i], s) == 0)
			return 0;
	set->slot[i] = xstrdup(s);
	set->n++;
	return 1;
}

static void
strset_free(struct strset *set)
{
	size_t i;

	for (i = 0; i < set->cap; i++)
		free(set->slot[i]);
	free(set->slot);
	set->slot = NULL;
	set->cap = set->n = 0;
}

static void
row_reset(struct row *r)
{
	r->used = 0;
	r->n = 0;
}

/* Appends one formatted field. */
static void CW_PRINTF(2, 3) row_add(struct row *r, const char *fmt, ...)
{
	va_list ap;
	int len;

	if (r->n == ROW_MAX)
		fatal("event=bug reason=row_fields");
	va_start(ap, fmt);
	len = vsnprintf(r->buf + r->used, sizeof(r->buf) - r->used, fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= sizeof(r->buf) - r->used)
		fatal("event=bug reason=row_overflow");
	r->field[r->n++] = r->buf + r->used;
	r->used += (size_t)len + 1;
}

static void
row_add_str(struct row *r, const char *s)
{
	row_add(r, "%s", s);
}

/* Writes one field, quoted per RFC 4180 when it holds a comma, quote or line
 * break. */
static void
csv_put_field(FILE *f, const char *s)
{
	if (strpbrk(s, ",\"\r\n") == NULL) {
		fputs(s, f);
		return;
	}
	putc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			putc('"', f);
		putc(*s, f);
	}
	putc('"', f);
}

static void
out_row(struct out *o, const struct row *r)
{
	int i;

	for (i = 0; i < r->n; i++) {
		if (i > 0)
			putc(',', o->f);
		csv_put_field(o->f, r->field[i]);
	}
	putc('\n', o->f);
	o->rows++;
}

/* Opens DIR/NAME.tmp and writes the header (a comma-separated literal). */
static void
out_open(struct out *o, const char *dir, const char *name, const char *header)
{
	if ((size_t)snprintf(o->path, sizeof(o->path), "%s/%s", dir, name) >=
		sizeof(o->path) ||
	    (size_t)snprintf(o->tmp, sizeof(o->tmp), "%s.tmp", o->path) >= sizeof(o->tmp))
		fatal("event=path_too_long dir=%s", dir);
	o->f = fopen(o->tmp, "w");
	if (o->f == NULL)
		fatal("event=open_failed file=%s error=\"%s\"", o->tmp, strerror(errno));
	fprintf(o->f, "%s\n", header);
	o->rows = 0;
}

static void
out_close(struct out *o)
{
	int bad = ferror(o->f);

	if (fclose(o->f) != 0 || bad)
		fatal("event=write_failed file=%s error=\"%s\"", o->tmp, strerror(errno));
	if (rename(o->tmp, o->path) != 0)
		fatal("event=rename_failed file=%s error=\"%s\"", o->path,
		      strerror(errno));
	log_info("event=written file=%s rows=%ld", o->path, o->rows);
}

/* Moves a point by the given km east and north (flat earth is fine at
 * county scale). */
static void
offset_km(double lat, double lon, double east, double north, double *olat, double *olon)
{
	*olat = lat + north / KM_PER_DEG_LAT;
	*olon = lon + east / (KM_PER_DEG_LAT * cos(lat * M_PI / 180.0));
}

/* A point uniformly spread over the disc of radius_km around (lat, lon). */
static void
scatter(struct rng *r, double lat, double lon, double radius_km, double *olat,
	double *olon)
{
	double d = radius_km * sqrt(rng_unit(r)), a = 2 * M_PI * rng_unit(r);

	offset_km(lat, lon, d * cos(a), d * sin(a), olat, olon);
}

/* Joins the set bits of mask as names[i] separated by ';'. */
static void
join_mask(char *buf, size_t len, unsigned mask, const char *const *names, int n)
{
	size_t used = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		if (!(mask & (1u << i)))
			continue;
		used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ";" : "",
					 names[i]);
		if (used >= len)
			fatal("event=bug reason=join_overflow");
	}
}

/* A unique mobile number; only13 keeps to 13x as volunteers' phones are. */
static void
phone_mobile(struct county *c, struct rng *r, int only13, char *buf, size_t len)
{
	do {
		const char *pre = only13
				      ? mobile_prefix[rng_below(r, 10)]
				      : rng_pick(r, mobile_prefix, NELEM(mobile_prefix));

		int hi = rng_below(r, 10000), lo = rng_below(r, 10000);

		snprintf(buf, len, "%s%04d%04d", pre, hi, lo);
	} while (!strset_add(&c->phones, buf));
}

/* A unique fixed-line number of the county (area code 0355, 6xxxxxx). */
static void
phone_landline(struct county *c, struct rng *r, char *buf, size_t len)
{
	do
		snprintf(buf, len, "0355-6%06d", rng_below(r, 1000000));
	while (!strset_add(&c->phones, buf));
}

/* A name as people born after 1960 are named: surname (random when sur is
 * NULL) and one or two characters; female < 0 picks the gender at random. */
static void
name_modern(struct rng *r, const char *sur, int female, char *buf, size_t len)
{
	const char *const *set;
	const char *a, *b = "";
	int n;

	if (female < 0)
		female = rng_chance(r, 0.5);
	set = female ? modern_female : modern_male;
	n = female ? NELEM(modern_female) : NELEM(modern_male);
	a = rng_pick(r, set, n);
	if (rng_chance(r, 0.6))
		do
			b = rng_pick(r, set, n);
		while (b == a);
	snprintf(buf, len, "%s%s%s", sur ? sur : rng_pick(r, surname, NELEM(surname)), a,
		 b);
}

static void
name_elder(struct rng *r, int female, char *buf, size_t len)
{
	const char *given = female ? rng_pick(r, old_female, NELEM(old_female))
				   : rng_pick(r, old_male, NELEM(old_male));

	snprintf(buf, len, "%s%s", rng_pick(r, surname, NELEM(surname)), given);
}

static int
add_area(struct county *c, const char *code, const char *name, int parent, int level)
{
	struct area *a;

	if (c->narea == MAX_AREAS)
		fatal("event=bug reason=too_many_areas");
	a = &c->area[c->narea];
	memset(a, 0, sizeof(*a));
	str_copy(a->code, code, sizeof(a->code));
	str_copy(a->name, name, sizeof(a->name));
	a->parent = parent;
	a->level = level;
	a->township = level == LV_TOWNSHIP  ? c->narea
		      : level == LV_VILLAGE ? c->area[parent].township
					    : -1;
	a->lat = parent >= 0 ? c->area[parent].lat : COUNTY_LAT;
	a->lon = parent >= 0 ? c->area[parent].lon : COUNTY_LON;
	return c->narea++;
}

/* Places a village within [rmin, rmax] km of its township centre, inside the
 * county square, and gives it its size and grid worker. */
static void
place_village(struct county *c, struct rng *r, int idx, double rmin, double rmax,
	      double wmin, double wmax)
{
	struct area *v = &c->area[idx];
	const struct area *t = &c->area[v->township];
	double d = rmin + (rmax - rmin) * sqrt(rng_unit(r)), ang = 2 * M_PI * rng_unit(r);
	double east =
	    (t->lon - COUNTY_LON) * KM_PER_DEG_LAT * cos(COUNTY_LAT * M_PI / 180.0) +
	    d * cos(ang);
	double north = (t->lat - COUNTY_LAT) * KM_PER_DEG_LAT + d * sin(ang);

	east = fmax(-HALF_SIDE_KM, fmin(HALF_SIDE_KM, east));
	north = fmax(-HALF_SIDE_KM, fmin(HALF_SIDE_KM, north));
	offset_km(COUNTY_LAT, COUNTY_LON, east, north, &v->lat, &v->lon);
	v->weight = wmin + (wmax - wmin) * rng_unit(r);
	name_modern(r, NULL, -1, v->grid_name, sizeof(v->grid_name));
	phone_mobile(c, r, 0, v->grid_phone, sizeof(v->grid_phone));
}

/* A village name not yet used in the county, e.g. 王家庄村. */
static void
village_name(struct county *c, struct rng *r, char *buf, size_t len)
{
	do {
		const char *head = rng_pick(r, vname_head, NELEM(vname_head));

		snprintf(buf, len, "%s%s村", head,
			 rng_pick(r, vname_tail, NELEM(vname_tail)));
	} while (!strset_add(&c->names, buf));
}

/* Province, city, county, the townships and their villages, parents first. */
static void
gen_areas(struct county *c, struct rng *r)
{
	int prov, city, county, t, i;
	char code[32], name[48];
	double total = 0;

	prov = add_area(c, "140000000000", "山西省", -1, LV_PROVINCE);
	city = add_area(c, "140400000000", "长治市", prov, LV_CITY);
	county = add_area(c, COUNTY_CODE, COUNTY_NAME, city, LV_COUNTY);
	for (t = 0; t < NUM_TOWNSHIPS; t++) {
		const struct township_def *td = &township_def[t];

		snprintf(code, sizeof(code), "140426%s000", td->code3);
		i = add_area(c, code, td->name, county, LV_TOWNSHIP);
		offset_km(COUNTY_LAT, COUNTY_LON, td->east_km, td->north_km,
			  &c->area[i].lat, &c->area[i].lon);
		strset_add(&c->names, td->name);
		if (td->seat != NULL)
			strset_add(&c->names, td->seat);
	}
	for (t = 0; t < NUM_TOWNSHIPS; t++) {
		const struct township_def *td = &township_def[t];
		int tidx = county + 1 + t, nv, v, num = 200;

		if (td->seat == NULL) {
			/* The county seat: dense communities, then outlying villages. */
			for (v = 0; v < NUM_COMMUNITIES; v++) {
				snprintf(code, sizeof(code), "140426%s%03d", td->code3,
					 v + 1);
				i = add_area(c, code, seat_community[v], tidx,
					     LV_VILLAGE);
				c->area[i].community = 1;
				place_village(c, r, i, 0.2, 1.6, 2.5, 4.0);
			}
			nv = rng_range(r, 12, 18);
		} else {
			snprintf(code, sizeof(code), "140426%s%03d", td->code3, num++);
			i = add_area(c, code, td->seat, tidx, LV_VILLAGE);
			place_village(c, r, i, 0.0, 0.3, 2.0, 3.0);
			nv = rng_range(r, 15, 24);
		}
		for (v = 0; v < nv; v++) {
			snprintf(code, sizeof(code), "140426%s%03d", td->code3, num++);
			village_name(c, r, name, sizeof(name));
			i = add_area(c, code, name, tidx, LV_VILLAGE);
			place_village(c, r, i, 1.0, td->seat ? 5.5 : 6.5, 0.6, 1.4);
		}
	}
	c->village = xcalloc((size_t)c->narea, sizeof(int));
	c->vcumul = xcalloc((size_t)c->narea, sizeof(double));
	for (i = 0; i < c->narea; i++) {
		if (c->area[i].level != LV_VILLAGE)
			continue;
		total += c->area[i].weight;
		c->village[c->nvillage] = i;
		c->vcumul[c->nvillage++] = total;
	}
}

static void
write_areas(const struct county *c, const char *dir)
{
	struct out o;
	struct row row;
	int i;

	out_open(&o, dir, "areas.csv", "code,name,parent_code");
	for (i = 0; i < c->narea; i++) {
		const struct area *a = &c->area[i];

		row_reset(&row);
		row_add_str(&row, a->code);
		row_add_str(&row, a->name);
		row_add_str(&row, a->parent >= 0 ? c->area[a->parent].code : "");
		out_row(&o, &row);
	}
	out_close(&o);
}

/* A village drawn in proportion to its elder population. */
static int
pick_village(const struct county *c, struct rng *r)
{
	double x = rng_unit(r) * c->vcumul[c->nvillage - 1];
	int lo = 0, hi = c->nvillage - 1;

	while (lo < hi) {
		int mid = (lo + hi) / 2;

		if (c->vcumul[mid] > x)
			hi = mid;
		else
			lo = mid + 1;
	}
	return c->village[lo];
}

/* A random skill set; `must` is always included. */
static unsigned
random_skills(struct rng *r, unsigned must, double p)
{
	unsigned m = must;
	int i;

	for (i = 0; i < NUM_SKILLS; i++)
		if (rng_chance(r, p))
			m |= 1u << i;
	return m;
}

static void
station_row(struct county *c, struct rng *r, struct out *o, int kind, int area,
	    const char *name, int capacity, unsigned skills, const char *on_duty,
	    double radius_km)
{
	struct station *s;
	struct row row;
	char buf[128];

	if (c->nstation == MAX_STATIONS)
		fatal("event=bug reason=too_many_stations");
	s = &c->station[c->nstation++];
	snprintf(s->id, sizeof(s->id), "S%04d", c->nstation);
	s->kind = kind;
	s->area = area;
	scatter(r, c->area[area].lat, c->area[area].lon, radius_km, &s->lat, &s->lon);

	row_reset(&row);
	row_add_str(&row, s->id);
	row_add_str(&row, name);
	row_add_str(&row, kind == ST_COUNTY	? "county_center"
			  : kind == ST_REGIONAL ? "regional_center"
			  : kind == ST_VILLAGE	? "village_station"
						: "day_care");
	row_add_str(&row, c->area[area].code);
	row_add(&row, "%.6f", s->lat);
	row_add(&row, "%.6f", s->lon);
	phone_landline(c, r, buf, sizeof(buf));
	row_add_str(&row, buf);
	row_add(&row, "%d", capacity);
	join_mask(buf, sizeof(buf), skills, skill_name, NUM_SKILLS);
	row_add_str(&row, buf);
	row_add_str(&row, on_duty);
	out_row(o, &row);
}

/* The county center, one regional center per township, stations in about
 * half of the villages and a few day-care centres. */
static void
gen_stations(struct county *c, struct rng *r, const char *dir)
{
	struct out o;
	char name[96];
	int i, t, cap, has_regional[MAX_AREAS] = {0}, has_daycare[MAX_AREAS] = {0};
	unsigned skills;
	const char *duty;

	/* Arguments are drawn into locals first: C leaves the order in which
	 * call arguments are evaluated open, and output must not depend on the
	 * compiler. */

	out_open(&o, dir, "stations.csv",
		 "id,name,kind,area_code,lat,lon,phone,capacity,skills,on_duty");
	/* The county center sits in the county seat's first community. */
	station_row(c, r, &o, ST_COUNTY, c->village[0], "黎城县养老服务管理中心", 6,
		    SK_ALL, "24h", 0.3);
	for (t = 0; t < c->narea; t++) {
		const struct area *ta = &c->area[t];
		int seat = -1, skip;

		if (ta->level != LV_TOWNSHIP)
			continue;
		/* The seat is the township's first village; in the county seat the
		 * second community, as the county center has the first. */
		for (i = 0, skip = 0; i < c->narea && seat < 0; i++) {
			if (c->area[i].township != t || c->area[i].level != LV_VILLAGE)
				continue;
			if (c->area[i].community && skip++ == 0)
				continue;
			seat = i;
		}
		snprintf(name, sizeof(name), "%s区域养老服务中心", ta->name);
		cap = rng_range(r, 3, 4);
		skills = random_skills(r, SK_FIRST_AID | SK_NURSING, 0.5);
		duty = rng_chance(r, 0.85) ? "24h" : "07:30-19:30";
		station_row(c, r, &o, ST_REGIONAL, seat, name, cap, skills, duty, 0.4);
		has_regional[seat] = 1;
	}
	for (i = 0; i < c->nvillage; i++) {
		int v = c->village[i];
		double u;

		if (has_regional[v] || !rng_chance(r, 0.55))
			continue;
		snprintf(name, sizeof(name), "%s养老服务站", c->area[v].name);
		cap = rng_chance(r, 0.75) ? 2 : 3;
		skills = random_skills(r, SK_FIRST_AID, 0.3);
		u = rng_unit(r);
		duty = u < 0.55 ? "08:00-18:00" : u < 0.9 ? "07:30-19:30" : "24h";
		station_row(c, r, &o, ST_VILLAGE, v, name, cap, skills, duty, 0.5);
	}
	for (i = 0; i < NUM_DAY_CARE; i++) {
		int v;

		do
			v = pick_village(c, r);
		while (has_daycare[v]);
		has_daycare[v] = 1;
		snprintf(name, sizeof(name), "%s日间照料中心", c->area[v].name);
		station_row(c, r, &o, ST_DAYCARE, v, name, 2,
			    random_skills(r, SK_NURSING, 0.25), "08:00-18:00", 0.6);
	}
	out_close(&o);
}

static void
gen_volunteers(struct county *c, struct rng *r, const char *dir)
{
	struct out o;
	struct row row;
	char buf[64];
	int i;

	out_open(&o, dir, "volunteers.csv",
		 "id,name,area_code,lat,lon,phone,skills,max_km,owntracks_user,active");
	for (i = 1; i <= NUM_VOLUNTEERS; i++) {
		int v = pick_village(c, r);
		double lat, lon, u;

		row_reset(&row);
		row_add(&row, "V%04d", i);
		name_modern(r, NULL, -1, buf, sizeof(buf));
		row_add_str(&row, buf);
		row_add_str(&row, c->area[v].code);
		scatter(r, c->area[v].lat, c->area[v].lon, 1.5, &lat, &lon);
		row_add(&row, "%.6f", lat);
		row_add(&row, "%.6f", lon);
		phone_mobile(c, r, 1, buf, sizeof(buf));
		row_add_str(&row, buf);
		join_mask(buf, sizeof(buf),
			  random_skills(r, 0, rng_chance(r, 0.5) ? 0.4 : 0.15),
			  skill_name, NUM_SKILLS);
		row_add_str(&row, buf);
		u = rng_unit(r);
		row_add_str(&row, u < 0.8 ? "" : u < 0.9 ? "3" : "8");
		if (rng_chance(r, 1.0 / 3))
			row_add(&row, "vol%04d", i);
		else
			row_add_str(&row, "");
		row_add_str(&row, rng_chance(r, 0.95) ? "yes" : "no");
		out_row(&o, &row);
	}
	out_close(&o);
}

static int
days_in_month(int y, int m)
{
	static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return dm[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
}

/* Birth year 1930..1966: flat over the under-80s, thinning towards 1930, so
 * that about 30 % are 80 or older in REF_YEAR. */
static int
birth_year(struct rng *r)
{
	static double cumul[37];
	static int ready;
	double x;
	int i;

	if (!ready) {
		double total = 0;

		for (i = 0; i < 37; i++) {
			int y = 1930 + i;

			total += y >= 1946 ? 1.0 : 0.15 + 0.8 * (y - 1930) / 15.0;
			cumul[i] = total;
		}
		ready = 1;
	}
	x = rng_unit(r) * cumul[36];
	for (i = 0; i < 36 && cumul[i] <= x; i++)
		;
	return 1930 + i;
}

/* A fake but well-formed 身份证号: county code, birth date, sequence (odd for
 * men, even for women) and the ISO 7064 MOD 11-2 check character. */
static void
id_number(struct county *c, struct rng *r, int y, int m, int d, int female, char *buf,
	  size_t len)
{
	static const int weight[17] = {7, 9, 10, 5,  8, 4, 2, 1, 6,
				       3, 7, 9,	 10, 5, 8, 4, 2};
	static const char check[] = "10X98765432";

	do {
		int seq = rng_below(r, 500) * 2 + !female, sum = 0, i;

		snprintf(buf, len, "140426%04d%02d%02d%03d", y, m, d, seq);
		for (i = 0; i < 17; i++)
			sum += (buf[i] - '0') * weight[i];
		buf[17] = check[sum % 11];
		buf[18] = '\0';
	} while (!strset_add(&c->ids, buf));
}

/* Nearest village station or regional center: the elder's home station. */
static const struct station *
nearest_station(const struct county *c, double lat, double lon)
{
	const struct station *best = NULL;
	double best_m = 0;
	int i;

	for (i = 0; i < c->nstation; i++) {
		const struct station *s = &c->station[i];
		double m;

		if (s->kind != ST_VILLAGE && s->kind != ST_REGIONAL)
			continue;
		m = geo_distance_m(lat, lon, s->lat, s->lon);
		if (best == NULL || m < best_m) {
			best = s;
			best_m = m;
		}
	}
	return best;
}

/* Living arrangement, economic status and health flags. Disability and
 * dementia rise steeply with age; 特困 elders have no supporter, so they
 * live alone. */
static unsigned
elder_categories(struct rng *r, int age)
{
	unsigned m = 0;
	double u = rng_unit(r);

	if (u < 0.235)
		m |= C_LIVING_ALONE;
	else if (u < 0.585)
		m |= C_EMPTY_NEST;
	else if (u < 0.665)
		m |= C_LEFT_BEHIND;
	u = rng_unit(r);
	if (u < 0.03)
		m = (m & ~(unsigned)(C_EMPTY_NEST | C_LEFT_BEHIND)) | C_EXTREME_POVERTY |
		    C_LIVING_ALONE;
	else if (u < 0.15)
		m |= C_LOW_INCOME;
	else if (u < 0.25)
		m |= C_ECON_HARDSHIP;
	if (rng_chance(r, age >= 80 ? 0.15 : 0.04))
		m |= C_DISABLED;
	if (rng_chance(r, age >= 80 ? 0.065 : 0.015))
		m |= C_DEMENTIA;
	if (rng_chance(r, 0.02))
		m |= C_SEVERE_DISABILITY;
	if (rng_chance(r, 0.015))
		m |= C_SPECIAL_FAMILY;
	return m;
}

/* GB/T 42195 grade; -1 when not yet assessed (left empty). */
static int
elder_capability(struct rng *r, unsigned cats, int age)
{
	double u = rng_unit(r);

	if (cats & C_DISABLED)
		return u < 0.5 ? 2 : u < 0.8 ? 3 : 4;
	if (cats & (C_DEMENTIA | C_SEVERE_DISABILITY))
		return 1;
	if (u < 0.04)
		return -1;
	return rng_chance(r, age >= 80 ? 0.45 : age >= 70 ? 0.25 : 0.1);
}

static void
elder_contacts(struct county *c, struct rng *r, const char *elder_surname, int female,
	       const struct area *v, char *buf, size_t len)
{
	char name[64], phone[16];
	int second = rng_chance(r, 0.65);
	int third = rng_chance(r, 0.3);
	int n = 1 + second + third;
	const struct relation *rel = &child_relation[rng_below(r, NELEM(child_relation))];
	const char *sur = NULL;
	size_t used;

	/* Children carry the father's surname: the elder's for men, mostly
	 * another (the husband's) for women; in-laws bring their own. */
	if (rel->blood && (!female || rng_chance(r, 0.2)))
		sur = elder_surname;
	name_modern(r, sur, rel->female, name, sizeof(name));
	phone_mobile(c, r, 0, phone, sizeof(phone));
	used = (size_t)snprintf(buf, len, "%s（%s）:%s", name, rel->name, phone);
	if (n >= 2) {
		name_modern(r, NULL, -1, name, sizeof(name));
		phone_mobile(c, r, 0, phone, sizeof(phone));
		used += (size_t)snprintf(buf + used, len - used, ";%s（邻居）:%s", name,
					 phone);
	}
	if (n >= 3)
		used += (size_t)snprintf(buf + used, len - used, ";%s（网格员）:%s",
					 v->grid_name, v->grid_phone);
	if (used >= len)
		fatal("event=bug reason=contacts_overflow");
}

static void
elder_notes(struct rng *r, unsigned cats, int level, char *buf, size_t len)
{
	const char *part[5];
	int n = 0, i;
	size_t used = 0;

	if (rng_chance(r, 0.006))
		part[n++] = rng_pick(r, note_quoted, NELEM(note_quoted));
	if ((cats & C_DEMENTIA) && rng_chance(r, 0.6))
		part[n++] = "记忆力差，易走失";
	if (level >= 3 && rng_chance(r, 0.5))
		part[n++] = "卧床";
	if (rng_chance(r, 0.15)) {
		part[n++] = rng_pick(r, note_text, NELEM(note_text));
		if (rng_chance(r, 0.25)) {
			const char *p;

			do
				p = rng_pick(r, note_text, NELEM(note_text));
			while (p == part[n - 1]);
			part[n++] = p;
		}
	}
	buf[0] = '\0';
	for (i = 0; i < n; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? "，" : "",
					 part[i]);
	if (used >= len)
		fatal("event=bug reason=notes_overflow");
}

/* Everything the device generator needs to know about an elder. */
struct elder_info {
	char id[16];
	unsigned cats;
	int age;
};

struct dev_stats {
	long kind[NUM_DEV_KINDS];
	long zigbee, total;
};

static void
device_row(struct rng *r, struct out *o, long *next, int kind, const char *elder_id,
	   int zigbee, struct dev_stats *st)
{
	struct row row;
	char id[16];

	snprintf(id, sizeof(id), "D%06ld", (*next)++);
	row_reset(&row);
	row_add_str(&row, id);
	row_add_str(&row, dev_def[kind].kind);
	row_add_str(&row, elder_id);
	row_add_str(&row, zigbee ? "zigbee2mqtt" : "native");
	if (zigbee)
		row_add(&row, "z2m_%s", id);
	else
		row_add_str(&row, "");
	/* A few devices predate supervision and send no heartbeat. */
	if (kind != D_HUB && rng_chance(r, 0.07))
		row_add_str(&row, "");
	else
		row_add(&row, "%d", dev_def[kind].heartbeat_s);
	out_row(o, &row);
	st->kind[kind]++;
	st->total++;
	st->zigbee += zigbee;
}

/* Every elder has an SOS button; other sensors by the (scaled) shares, more
 * fall radars and door sensors where falls or wandering are likely. Homes
 * on zigbee2mqtt get a hub that is itself a native device. */
static void
gen_devices(struct rng *r, struct out *o, long *next, const struct elder_info *e,
	    struct dev_stats *st)
{
	int have[NUM_DEV_KINDS] = {0}, k, extra = 0, zigbee;

	have[D_SOS] = 1;
	for (k = D_SMOKE; k < D_HUB; k++) {
		double p = dev_def[k].share * DEVICE_SCALE;

		if (k == D_FALL && ((e->cats & C_DISABLED) ||
				    (e->age >= 80 && (e->cats & C_LIVING_ALONE))))
			p *= 2.5;
		if ((k == D_DOOR || k == D_WEARABLE) && (e->cats & C_DEMENTIA))
			p *= 4;
		have[k] = rng_chance(r, p);
		extra += have[k];
	}
	zigbee = extra >= 2 && rng_chance(r, ZIGBEE_HOME_SHARE);
	if (zigbee)
		device_row(r, o, next, D_HUB, e->id, 0, st);
	for (k = D_SOS; k < D_HUB; k++)
		if (have[k])
			device_row(r, o, next, k, e->id, zigbee && k != D_WEARABLE, st);
}

static void
gen_elders(struct county *c, struct rng *r, struct rng *rdev, const char *dir, int count)
{
	struct out oe, od;
	struct row row;
	struct dev_stats st;
	long next_dev = 1, cat_count[NUM_CATEGORIES] = {0}, old = 0;
	char buf[512], name[64], sur[8];
	int i, k;

	memset(&st, 0, sizeof(st));
	out_open(&oe, dir, "elders.csv",
		 "id,name,birth_date,area_code,lat,lon,gender,phone,address,categories,"
		 "capability_level,visit_consent,station_id,contacts,notes,id_number");
	out_open(&od, dir, "devices.csv",
		 "id,kind,elder_id,ecosystem,external_id,heartbeat_s");
	for (i = 1; i <= count; i++) {
		struct elder_info e;
		const struct area *v = &c->area[pick_village(c, r)];
		const struct area *t = &c->area[v->township];
		int female = rng_chance(r, 0.55), y = birth_year(r),
		    m = rng_range(r, 1, 12);
		int d = rng_range(r, 1, days_in_month(y, m)), level;
		double lat, lon, u;

		snprintf(e.id, sizeof(e.id), "E%05d", i);
		e.age = REF_YEAR - y; /* age reached during REF_YEAR */
		e.cats = elder_categories(r, e.age);
		level = elder_capability(r, e.cats, e.age);
		for (k = 0; k < NUM_CATEGORIES; k++)
			cat_count[k] += (e.cats >> k) & 1;
		old += e.age > 80 || (e.age == 80 && m == 1 && d == 1);

		row_reset(&row);
		row_add_str(&row, e.id);
		name_elder(r, female, name, sizeof(name));
		row_add_str(&row, name);
		row_add(&row, "%04d-%02d-%02d", y, m, d);
		row_add_str(&row, v->code);
		scatter(r, v->lat, v->lon, v->community ? 0.8 : 1.5, &lat, &lon);
		row_add(&row, "%.6f", lat);
		row_add(&row, "%.6f", lon);
		row_add_str(&row, female ? "F" : "M");
		u = rng_unit(r);
		buf[0] = '\0';
		if (u < 0.75)
			phone_mobile(c, r, 0, buf, sizeof(buf));
		else if (u < 0.85)
			phone_landline(c, r, buf, sizeof(buf));
		row_add_str(&row, buf);
		/* Drawn one by one: argument evaluation order is unspecified. */
		if (v->community) {
			int bld = rng_range(r, 1, 30), unit = rng_range(r, 1, 4);
			int storey = rng_range(r, 1, 6), room = rng_range(r, 1, 2);

			row_add(&row, "%s%s%s%d号楼%d单元%d%02d室", COUNTY_NAME, t->name,
				v->name, bld, unit, storey, room);
		} else {
			int group = rng_range(r, 1, 8), house = rng_range(r, 1, 90);

			row_add(&row, "%s%s%s%d组%d号", COUNTY_NAME, t->name, v->name,
				group, house);
		}
		join_mask(buf, sizeof(buf), e.cats, category_name, NUM_CATEGORIES);
		row_add_str(&row, buf);
		if (level >= 0)
			row_add(&row, "%d", level);
		else
			row_add_str(&row, "");
		row_add_str(&row, rng_chance(r, 0.95) ? "yes" : "no");
		row_add_str(&row, nearest_station(c, lat, lon)->id);
		/* The surname is the elder name's first character (3 UTF-8 bytes). */
		memcpy(sur, name, 3);
		sur[3] = '\0';
		elder_contacts(c, r, sur, female, v, buf, sizeof(buf));
		row_add_str(&row, buf);
		elder_notes(r, e.cats, level, buf, sizeof(buf));
		row_add_str(&row, buf);
		if (rng_chance(r, 0.97))
			id_number(c, r, y, m, d, female, buf, sizeof(buf));
		else
			buf[0] = '\0';
		row_add_str(&row, buf);
		out_row(&oe, &row);

		gen_devices(rdev, &od, &next_dev, &e, &st);
	}
	out_close(&oe);
	out_close(&od);
	for (k = 0; k < NUM_CATEGORIES; k++)
		log_info("event=share category=%s elders=%ld pct=%.1f", category_name[k],
			 cat_count[k], 100.0 * (double)cat_count[k] / count);
	log_info("event=share category=age80plus ref=%d-01-01 elders=%ld pct=%.1f",
		 REF_YEAR, old, 100.0 * (double)old / count);
	for (k = 0; k < NUM_DEV_KINDS; k++)
		log_info("event=devices kind=%s count=%ld", dev_def[k].kind, st.kind[k]);
	log_info("event=devices total=%ld zigbee2mqtt=%ld pct=%.1f", st.total, st.zigbee,
		 100.0 * (double)st.zigbee / (double)st.total);
}

static void
usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: cw-gensample [-o DIR] [--seed N] [--elders N]\n"
	    "Writes the sample county (areas, stations, volunteers, elders, devices)\n"
	    "as CSV files into DIR (default %s). The same seed gives identical files.\n"
	    "  -o DIR       output directory (created if missing)\n"
	    "  --seed N     random seed (default %llu)\n"
	    "  --elders N   number of elders, 1..%d (default %d)\n"
	    "  -h, --help   this text\n",
	    DEFAULT_DIR, (unsigned long long)DEFAULT_SEED, MAX_ELDERS, DEFAULT_ELDERS);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"seed", required_argument, NULL, 's'},
	    {"elders", required_argument, NULL, 'e'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *dir = DEFAULT_DIR;
	uint64_t seed = DEFAULT_SEED;
	int elders = DEFAULT_ELDERS, ch;
	struct county *c;
	struct rng r_area, r_station, r_vol, r_elder, r_dev;
	char *end;

	log_init("cw-gensample", 0);
	while ((ch = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'o':
			dir = optarg;
			break;
		case 's':
			errno = 0;
			seed = strtoull(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    optarg[0] == '-') {
				fprintf(stderr, "cw-gensample: bad --seed: %s\n", optarg);
				return 2;
			}
			break;
		case 'e': {
			long n;

			errno = 0;
			n = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' || n < 1 ||
			    n > MAX_ELDERS) {
				fprintf(stderr, "cw-gensample: --elders must be 1..%d\n",
					MAX_ELDERS);
				return 2;
			}
			elders = (int)n;
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		fatal("event=mkdir_failed dir=%s error=\"%s\"", dir, strerror(errno));

	c = xcalloc(1, sizeof(*c));
	rng_init(&r_area, seed, 1);
	rng_init(&r_station, seed, 2);
	rng_init(&r_vol, seed, 3);
	rng_init(&r_elder, seed, 4);
	rng_init(&r_dev, seed, 5);
	gen_areas(c, &r_area);
	write_areas(c, dir);
	gen_stations(c, &r_station, dir);
	gen_volunteers(c, &r_vol, dir);
	gen_elders(c, &r_elder, &r_dev, dir, elders);

	strset_free(&c->names);
	strset_free(&c->phones);
	strset_free(&c->ids);
	free(c->village);
	free(c->vcumul);
	free(c);
	return 0;
}
