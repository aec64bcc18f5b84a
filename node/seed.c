/*
 * Demo data (node_demo_seed in node.h): a community the size of a real
 * one, generated from a seed.
 *
 * A model of the community is built in memory first: grids, buildings,
 * households and residents, units and teams, the meeting calendar; then
 * the records are written scope by scope, and the year's visits, appeals,
 * meetings with their action items and time-bank entries are generated
 * and written in turn. Every record is checked against the schema before
 * it is queued (NODE_SCHEMA_IMPORT), so the seed fails loudly when the
 * schema moves away from it.
 *
 * Determinism: randomness comes from two xoshiro256** streams seeded with
 * splitmix64 from the seed, one for content and one for the ten random
 * bytes of each id; dates are whole days in plain calendar arithmetic (no
 * time zone enters, except in the default until: today in local time).
 * The same seed, until and size therefore give the same records, ids
 * included. Only the changes' stamps and origin differ between nodes.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node/node.h"
#include "node/seed.h"
#include "node/domain.h"
#include "node/node_internal.h"
#include "node/schema.h"
#include "node/member.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The community of node.h, and its proportions when scaled. */
#define DEF_ROOT "gongrencun/qinghejv"
#define DEF_HOUSEHOLDS 5235
#define DEF_BUILDINGS 19
#define DEF_GRIDS 15
#define DEF_APPEALS 1500
#define DEF_MEETINGS 60
#define DEF_VISITS 4000
#define DEF_TIMEBANK 3000
#define MAX_HOUSEHOLDS 50000 /* one transaction: ~650 MB of memory at the top */
#define YEAR_DAYS 365
#define DAY_MS 86400000LL

/* One change: as `load` does (cli/cmd_load.c), well under
 * CRDT_CHANGE_MAX. */
#define REC_OPS 96        /* ops of one record */
#define REC_TEXT 8192     /* string bytes of one record */
#define TEAM_MEMBERS 60   /* members written per team */
#define MEETING_APPEALS 6
#define FIXES_MAX 64      /* visits corrected by their author */

/* ------------------------------------------------------------------ */
/* Randomness: xoshiro256** seeded by splitmix64.                       */

typedef struct rng {
  uint64_t s[4];
} rng;

static uint64_t splitmix64(uint64_t *x)
{
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static void rng_seed(rng *r, uint64_t seed)
{
  uint64_t x = seed;
  for (int i = 0; i < 4; i++)
    r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k)
{
  return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(rng *r)
{
  uint64_t *s = r->s;
  uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return out;
}

/* Uniform in [0, n) (n > 0; the bias of a 32x32 multiply is negligible
 * here). */
static uint32_t below(rng *r, uint32_t n)
{
  return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* Uniform in [lo, hi]. */
static int32_t between(rng *r, int32_t lo, int32_t hi)
{
  return lo + (int32_t)below(r, (uint32_t)(hi - lo + 1));
}

static double unit(rng *r)
{
  return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static bool chance(rng *r, double p)
{
  return unit(r) < p;
}

/* An index drawn by weight. */
static unsigned weighted(rng *r, const uint16_t *w, unsigned n)
{
  uint32_t sum = 0;
  for (unsigned i = 0; i < n; i++)
    sum += w[i];
  uint32_t x = below(r, sum);
  for (unsigned i = 0; i < n; i++) {
    if (x < w[i])
      return i;
    x -= w[i];
  }
  return n - 1;
}

/* ------------------------------------------------------------------ */
/* Days: days since 1970-01-01 in the proleptic Gregorian calendar.     */

static int32_t days_from_civil(int y, int m, int d)
{
  return (int32_t)node_days_from_civil(y, m, d);
}

static void civil_from_days(int32_t z, int *y, int *m, int *d)
{
  z += 719468;
  int era = (z >= 0 ? z : z - 146096) / 146097;
  int doe = z - era * 146097;
  int yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = yoe + era * 400 + (*m <= 2);
}

static void day_text(int32_t day, char out[11])
{
  int y, m, d;
  civil_from_days(day, &y, &m, &d);
  const int v[3] = {y, m, d}, w[3] = {4, 2, 2};
  size_t k = 0;
  for (int i = 0; i < 3; i++) {
    for (int j = w[i] - 1, x = v[i]; j >= 0; j--, x /= 10)
      out[k + (size_t)j] = (char)('0' + x % 10);
    k += (size_t)w[i];
    out[k++] = i < 2 ? '-' : '\0';
  }
}

static bool weekend(int32_t day)
{
  return (day + 3) % 7 >= 5; /* 1970-01-01 was a Thursday */
}

/* ------------------------------------------------------------------ */
/* What the records say.                                                */

static const char *const surnames[] = {
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙",
    "马", "朱", "胡", "郭", "何", "林", "高", "罗", "郑", "梁", "谢", "宋",
    "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾", "肖", "田", "董", "袁",
    "潘", "于", "蒋", "蔡", "余", "杜", "叶", "程", "苏", "魏", "吕", "丁",
    "任", "沈"};
/* Per thousand of the population, roughly as in the 2020 census. */
static const uint16_t surname_w[N(surnames)] = {
    71, 70, 67, 54, 46, 31, 25, 23, 20, 19, 15, 15, 13, 13, 12, 11, 11,
    10, 10, 9,  9,  8,  7,  7,  7,  6,  6,  6,  6,  6,  5,  5,  5,  5,
    5,  5,  4,  4,  4,  4,  4,  4,  4,  4,  3,  3,  3,  3,  3,  3};

static const char *const old_f[] = {
    "秀英", "桂英", "秀兰", "玉兰", "桂兰", "秀珍", "凤英", "玉珍", "玉英",
    "兰英", "淑珍", "淑兰", "淑英", "桂珍", "凤兰", "素珍", "秀云", "桂芳",
    "玉梅", "凤珍", "金凤", "秀芳", "丽华", "淑芬", "翠兰", "春兰", "美英",
    "玉芬", "桂香", "秀荣"};
static const char *const old_m[] = {
    "建国", "建华", "国强", "德明", "志强", "国华", "建军", "文明", "福林",
    "永林", "德胜", "国庆", "振华", "建平", "长富", "宝山", "永祥", "德福",
    "树林", "玉林", "保国", "志明", "广才", "富贵", "建民", "国栋", "德华",
    "明德", "永强", "春生"};
static const char *const mid_f[] = {
    "丽", "静", "敏", "燕", "艳", "娟", "霞", "红梅", "丽娟", "秀梅",
    "海燕", "晓红", "雪梅", "玉霞", "丽丽", "春燕", "桂红", "小红", "慧",
    "玲"};
static const char *const mid_m[] = {
    "伟", "勇", "军", "强", "磊", "涛", "斌", "刚", "建", "峰",
    "海涛", "志刚", "晓东", "春雷", "海军", "卫东", "永刚", "文军", "立新",
    "红军"};
static const char *const young_f[] = {
    "婷", "雪", "欣怡", "佳怡", "子涵", "思雨", "梓涵", "雨涵", "诗涵",
    "欣然", "梦瑶", "佳琪", "可欣", "一诺", "悦"};
static const char *const young_m[] = {
    "浩", "宇", "浩然", "子轩", "宇轩", "俊杰", "梓豪", "浩宇", "皓轩",
    "子豪", "博文", "一鸣", "宇航", "晨", "天佑"};

/* Resident tags (values of the schema's resident.tags). */
enum {
  T_ELDERLY, T_ALONE, T_DISABLED, T_LOWINCOME, T_FLOATING, T_PARTY,
  T_VETERAN, T_CHILD, T_SPECIAL, T_VOLUNTEER, T_RENTER, T_UNEMPLOYED,
  T_COUNT
};
static const char *const tag_names[T_COUNT] = {
    "elderly",      "lives-alone", "disabled",  "low-income",
    "floating",     "party-member", "veteran",  "child",
    "special-care", "volunteer",   "renter",    "unemployed"};

/* Appeal categories (schema values) and how often each comes. */
enum { C_REPAIR, C_ENV, C_SAFETY, C_ELDER, C_PARKING, C_DISPUTE, C_OTHER,
       C_COUNT };
static const char *const cat_names[C_COUNT] = {
    "repair", "environment", "safety", "elderly-care", "parking-charging",
    "dispute", "other"};
static const uint16_t cat_w[C_COUNT] = {340, 190, 120, 110, 100, 80, 60};
#define CB(c) (1u << (c))

/* Where an appeal's text puts it. */
enum { L_STAIR, L_HOME, L_BUILDING, L_COMPOUND };

typedef struct tmpl {
  unsigned char cat, loc;
  const char *text;
} tmpl;

static const tmpl appeal_texts[] = {
    {C_REPAIR, L_STAIR, "楼道灯坏了，晚上上下楼看不见"},
    {C_REPAIR, L_HOME, "下水道堵塞，厨房污水反流"},
    {C_REPAIR, L_HOME, "楼顶防水层老化，下雨天屋里漏水"},
    {C_REPAIR, L_STAIR, "单元门门禁损坏，门关不上"},
    {C_REPAIR, L_HOME, "自来水管锈蚀漏水，墙面渗水"},
    {C_REPAIR, L_STAIR, "楼梯扶手松动，老人上下楼不安全"},
    {C_REPAIR, L_BUILDING, "化粪池满溢，楼前有异味"},
    {C_REPAIR, L_STAIR, "楼道窗户玻璃破损，冬天漏风"},
    {C_REPAIR, L_HOME, "暖气不热，室温只有十几度"},
    {C_REPAIR, L_STAIR, "楼道墙皮大面积脱落"},
    {C_REPAIR, L_BUILDING, "雨水管断裂，下雨时外墙被水冲刷"},
    {C_REPAIR, L_STAIR, "信报箱损坏，信件经常丢失"},
    {C_ENV, L_STAIR, "楼道堆放杂物，影响通行"},
    {C_ENV, L_BUILDING, "垃圾桶满溢无人清运，气味很大"},
    {C_ENV, L_COMPOUND, "绿化带杂草丛生，蚊虫多"},
    {C_ENV, L_BUILDING, "有住户在楼下养鸡，噪音和异味扰民"},
    {C_ENV, L_BUILDING, "楼顶有人违规搭建花棚"},
    {C_ENV, L_COMPOUND, "流浪猫狗多，担心伤人"},
    {C_ENV, L_BUILDING, "装修垃圾长期堆在楼下"},
    {C_ENV, L_COMPOUND, "路面破损积水，雨后出行不便"},
    {C_ENV, L_BUILDING, "楼下小饭馆油烟扰民"},
    {C_ENV, L_STAIR, "楼道里乱贴小广告"},
    {C_SAFETY, L_BUILDING, "电动车飞线充电，存在火灾隐患"},
    {C_SAFETY, L_STAIR, "楼道内停放电动车，堵塞疏散通道"},
    {C_SAFETY, L_BUILDING, "外墙瓷砖松动，有坠落风险"},
    {C_SAFETY, L_STAIR, "电表箱门损坏，电线外露"},
    {C_SAFETY, L_COMPOUND, "消防通道被私家车占用"},
    {C_SAFETY, L_STAIR, "楼道灭火器过期"},
    {C_SAFETY, L_HOME, "燃气管道老化，屋里闻到燃气味"},
    {C_SAFETY, L_COMPOUND, "围墙破损，外来人员随意进出"},
    {C_SAFETY, L_COMPOUND, "井盖缺失，夜间行人容易跌落"},
    {C_SAFETY, L_BUILDING, "老旧电线私拉乱接"},
    {C_ELDER, L_HOME, "独居老人行动不便，希望有人帮忙买菜"},
    {C_ELDER, L_HOME, "老人申请社区助餐服务"},
    {C_ELDER, L_HOME, "希望社区医生上门量血压"},
    {C_ELDER, L_HOME, "老人希望家里安装扶手和防滑垫"},
    {C_ELDER, L_HOME, "失能老人需要定期上门照护"},
    {C_ELDER, L_HOME, "老人咨询高龄津贴怎么申领"},
    {C_ELDER, L_HOME, "独居老人家里的紧急呼叫器坏了"},
    {C_ELDER, L_HOME, "希望有志愿者陪老人去医院复查"},
    {C_PARKING, L_COMPOUND, "小区缺少电动车充电桩，希望增设"},
    {C_PARKING, L_COMPOUND, "外来车辆乱停乱放，影响居民出行"},
    {C_PARKING, L_COMPOUND, "充电桩损坏，无法充电"},
    {C_PARKING, L_BUILDING, "楼下僵尸车长期占用车位"},
    {C_PARKING, L_BUILDING, "希望规划非机动车停放区"},
    {C_PARKING, L_COMPOUND, "夜间停车难，车辆占用人行道"},
    {C_DISPUTE, L_HOME, "邻里噪音纠纷，楼上夜间噪音大"},
    {C_DISPUTE, L_HOME, "楼上漏水殃及楼下，双方协商未果"},
    {C_DISPUTE, L_STAIR, "邻居在楼道堆物引发争执"},
    {C_DISPUTE, L_HOME, "相邻住户因空调外机位置发生矛盾"},
    {C_DISPUTE, L_HOME, "家庭赡养纠纷，请求社区调解"},
    {C_DISPUTE, L_HOME, "租户与房东因押金发生纠纷"},
    {C_DISPUTE, L_HOME, "邻居养狗扰民，多次沟通无果"},
    {C_OTHER, L_COMPOUND, "咨询老旧小区改造进度"},
    {C_OTHER, L_COMPOUND, "希望开设老年人智能手机培训班"},
    {C_OTHER, L_HOME, "咨询居住证办理流程"},
    {C_OTHER, L_COMPOUND, "建议小区内增设休闲座椅"},
    {C_OTHER, L_COMPOUND, "希望组织暑期青少年托管活动"},
    {C_OTHER, L_HOME, "咨询医保缴费事宜"},
};

static const char *const resolutions[C_COUNT][3] = {
    {"物业已上门维修，恢复正常", "已更换损坏部件", "联系专业维修人员处理完毕"},
    {"已组织人员清理完毕", "已联系环卫清运", "已约谈相关住户整改"},
    {"隐患已整改", "已清理通道并设置警示标识", "已更换老化线路"},
    {"已安排志愿者定期上门", "已协助办理相关服务", "社区医生已上门服务"},
    {"已增设充电设施", "已施划停车位并加强管理", "已清理长期占用车位的车辆"},
    {"经调解双方达成一致", "已签订调解协议", "双方互相谅解，握手言和"},
    {"已答复居民", "已协调相关单位办理", "已纳入社区工作计划"},
};

static const char *const sources[] = {"visit", "meeting", "phone",
                                      "walk-in", "other"};
enum { S_VISIT, S_MEETING, S_PHONE, S_WALKIN, S_OTHER };
static const char *const statuses[] = {"open",     "accepted", "assigned",
                                       "resolved", "closed",   "reopened"};
enum { ST_OPEN, ST_ACCEPTED, ST_ASSIGNED, ST_RESOLVED, ST_CLOSED,
       ST_REOPENED };

/* Co-building units: kind (schema value) and the categories they take. */
typedef struct unit_def {
  const char *name, *kind;
  unsigned cats;
} unit_def;

static const unit_def unit_defs[] = {
    {"清河物业服务站", "property",
     CB(C_REPAIR) | CB(C_ENV) | CB(C_SAFETY) | CB(C_PARKING)},
    {"工人村街道社区卫生服务中心", "hospital", CB(C_ELDER)},
    {"工人村第二小学", "school", CB(C_OTHER)},
    {"清河幼儿园", "school", CB(C_OTHER)},
    {"工人村派出所", "government", CB(C_SAFETY) | CB(C_DISPUTE)},
    {"街道综合行政执法队", "government",
     CB(C_ENV) | CB(C_PARKING) | CB(C_SAFETY)},
    {"工人村街道司法所", "government", CB(C_DISPUTE)},
    {"清河社区人民调解委员会", "social-org", CB(C_DISPUTE)},
    {"国网供电服务站", "company", CB(C_REPAIR) | CB(C_PARKING)},
    {"自来水公司维修站", "company", CB(C_REPAIR)},
    {"燃气公司清河服务网点", "company", CB(C_SAFETY) | CB(C_REPAIR)},
    {"工人村消防救援站", "government", CB(C_SAFETY)},
    {"阳光社会工作服务中心", "social-org", CB(C_ELDER) | CB(C_OTHER)},
    {"清河养老服务驿站", "social-org", CB(C_ELDER)},
    {"华联超市清河店", "company", CB(C_OTHER) | CB(C_ELDER)},
    {"爱心家政服务公司", "company", CB(C_ELDER) | CB(C_ENV)},
    {"建设银行清河支行", "company", CB(C_OTHER)},
    {"绿能充电科技公司", "company", CB(C_PARKING)},
    {"老街坊便民维修部", "company", CB(C_REPAIR)},
    {"明理律师事务所", "company", CB(C_DISPUTE) | CB(C_OTHER)},
};

/* Time-bank services (schema values). */
enum { SV_ERRAND, SV_COMPANY, SV_CLEANING, SV_REPAIR, SV_PATROL,
       SV_TUTORING, SV_HEALTH, SV_OTHER, SV_COUNT };
static const char *const service_names[SV_COUNT] = {
    "errand", "companionship", "cleaning", "repair",
    "patrol", "tutoring",      "health",   "other"};
static const char *const service_notes[SV_COUNT][3] = {
    {"帮独居老人买菜", "代取快递和药品", "代缴水电费"},
    {"陪独居老人聊天", "陪老人散步", "节日看望空巢老人"},
    {"楼道清扫", "帮老人打扫卫生", "垃圾分类督导"},
    {"帮邻居修水龙头", "给老人换灯泡", "修理自行车"},
    {"夜间治安巡逻", "节假日安全巡查", "防火巡查"},
    {"辅导小学生作业", "周末兴趣班授课", "暑期托管看护"},
    {"陪老人就医", "给老人量血压", "健康讲座服务"},
    {"社区活动服务", "协助登记信息", "文艺演出服务"},
};
/* What volunteers spend hours on. */
static const struct {
  unsigned char service;
  const char *note;
} spends[] = {
    {SV_OTHER, "兑换理发服务"},   {SV_REPAIR, "兑换家电维修"},
    {SV_CLEANING, "兑换保洁服务"}, {SV_ERRAND, "兑换助餐服务"},
    {SV_HEALTH, "兑换陪诊服务"},   {SV_OTHER, "兑换生活用品"},
};

typedef struct team_def {
  const char *name, *purpose;
  unsigned char services[2];
  uint16_t weight; /* share of volunteers */
  unsigned cats;   /* appeals and tasks it takes */
} team_def;

static const team_def team_defs[] = {
    {"平安巡逻队", "夜间巡逻，防火防盗", {SV_PATROL, SV_PATROL}, 20,
     CB(C_SAFETY)},
    {"助老服务队", "为独居老人买菜、陪诊、聊天", {SV_ERRAND, SV_COMPANY}, 22,
     CB(C_ELDER)},
    {"环境卫生志愿队", "楼道清扫，垃圾分类督导", {SV_CLEANING, SV_CLEANING},
     14, CB(C_ENV)},
    {"邻里调解队", "调解邻里矛盾纠纷", {SV_OTHER, SV_COMPANY}, 8,
     CB(C_DISPUTE)},
    {"党员先锋队", "带头参与社区治理和志愿服务", {SV_OTHER, SV_PATROL}, 12,
     CB(C_OTHER)},
    {"便民维修队", "为老人和困难家庭义务维修", {SV_REPAIR, SV_REPAIR}, 9,
     CB(C_REPAIR)},
    {"青少年课业辅导队", "为社区孩子辅导功课", {SV_TUTORING, SV_TUTORING},
     7, CB(C_OTHER)},
    {"健康守护队", "陪同就医，测量血压", {SV_HEALTH, SV_COMPANY}, 8,
     CB(C_ELDER)},
};

static const char *const meeting_kinds[] = {
    "four-party", "round-table", "neighbours", "hearing", "other"};
enum { MK_FOUR_PARTY, MK_ROUND_TABLE, MK_NEIGHBOURS, MK_HEARING, MK_OTHER };
static const char *const meeting_titles[] = {
    "四方联席会", "圆桌议事会", "邻里议事会", "居民听证会", "居民代表会议"};
static const uint16_t meeting_w[] = {25, 30, 25, 10, 10};

typedef struct topic {
  const char *name;
  unsigned char cat;
  const char *decision;
  const char *tasks[3];
} topic;

static const topic topics[] = {
    {"楼道堆物清理", C_ENV, "开展楼道堆物集中清理，限期一周",
     {"组织志愿者清理楼道杂物", "张贴楼道堆物清理通知",
      "对拒不清理的住户上门劝导"}},
    {"电动车集中充电", C_PARKING, "在小区空地建设电动车集中充电棚",
     {"联系供电部门勘察充电棚选址", "制定充电棚使用管理办法",
      "安装充电桩并通电测试"}},
    {"加装电梯", C_OTHER, "启动加装电梯意向征集",
     {"入户征集加装电梯意见", "联系设计单位出具初步方案",
      "公示加装电梯意向结果"}},
    {"停车秩序整治", C_PARKING, "施划停车位，外来车辆登记进入",
     {"施划停车标线", "清理长期占用车位的僵尸车", "在小区门口设车辆登记点"}},
    {"老旧小区改造", C_REPAIR, "汇总居民改造需求，形成清单报街道",
     {"汇总改造需求清单", "组织居民代表查看改造样板", "公示改造方案"}},
    {"独居老人关爱", C_ELDER, "建立独居老人每日探访机制",
     {"为独居老人安装紧急呼叫器", "安排志愿者与独居老人结对",
      "开展老人健康义诊"}},
    {"垃圾分类", C_ENV, "设置分类投放点，志愿者定时督导",
     {"更换分类垃圾桶", "开展垃圾分类入户宣传", "安排志愿者早晚督导投放"}},
    {"邻里纠纷调解", C_DISPUTE, "双方同意由调解委员会主持协商",
     {"回访调解协议履行情况", "组织双方再次协商", NULL}},
    {"消防安全隐患整治", C_SAFETY, "开展消防安全隐患排查整治",
     {"更换过期灭火器", "清理消防通道占用", "检查楼道电线私拉乱接"}},
    {"公共设施维修", C_REPAIR, "由物业牵头维修楼道灯和单元门",
     {"更换损坏的楼道灯", "维修单元门门禁", "修补破损路面"}},
    {"绿化环境提升", C_ENV, "清理绿化带杂草，补种花木",
     {"清理绿化带杂草", "补种绿植", NULL}},
    {"物业服务费收缴", C_OTHER, "公示物业服务内容及收费标准",
     {"张贴物业收费公示", "收集居民对物业服务的意见", NULL}},
};

static const char *const visit_alone[] = {
    "独居老人，精神状态良好，叮嘱按时服药", "独居老人，家中整洁，生活能自理",
    "看望独居老人，了解近期身体状况", "老人反映腿脚不便，下楼困难",
    "独居老人，子女每周来看望一次"};
static const char *const visit_general[] = {
    "入户走访，核实家庭人口信息", "宣传反诈知识，发放宣传册",
    "提醒住户不要把电动车推进楼道充电", "宣传垃圾分类知识",
    "走访了解住户近期诉求", "宣传医保缴费政策",
    "开展消防安全宣传，检查燃气使用", "走访慰问，住户无特殊需求"};
static const char *const visit_renter = "核实出租房屋及租户信息";

enum { F_HAZARD, F_DISPUTE, F_NEED, F_HEALTH, F_NONE };
static const char *const finding_names[] = {"hazard", "dispute", "need",
                                            "health", "none"};
static const char *const followups[4][3] = {
    {"已通知物业处理", "三日内复查整改情况", "提醒住户注意用电安全"},
    {"约双方到社区调解", "下周回访", "请楼栋长协助沟通"},
    {"登记诉求，转社区办理", "联系志愿者帮忙", "下周再次上门"},
    {"联系社区医生上门", "告知家属注意老人身体", "纳入重点关注名单"},
};

static const char *const phone_prefixes[] = {
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150",
    "151", "152", "153", "155", "156", "157", "158", "159", "180", "181",
    "182", "185", "186", "187", "188", "189"};

/* ------------------------------------------------------------------ */
/* The model.                                                           */

typedef struct m_grid {
  uint8_t id[CRDT_ID_LEN];
  char worker[16], phone[12];
  uint32_t b0, b1, h0, h1, r0, r1; /* its buildings, households, residents */
} m_grid;

typedef struct m_building {
  uint8_t id[CRDT_ID_LEN];
  uint32_t grid, h0, h1;
  int32_t leader; /* a resident, or -1 */
  uint16_t built;
  uint8_t units, floors, doors;
} m_building;

typedef struct m_household {
  uint8_t id[CRDT_ID_LEN];
  uint32_t building, r0;
  uint16_t room;
  uint8_t nres, unit, size;
} m_household;

typedef struct m_resident {
  uint8_t id[CRDT_ID_LEN];
  uint32_t household;
  char name[16], phone[12];
  uint16_t birth, tags;
  uint8_t female;
  int8_t team; /* -1: none */
} m_resident;

typedef struct m_unit {
  uint8_t id[CRDT_ID_LEN];
  char contact[16], phone[12];
} m_unit;

typedef struct m_team {
  uint8_t id[CRDT_ID_LEN];
  uint32_t *members; /* residents; the first leads */
  size_t n;
} m_team;

typedef struct m_meeting {
  uint8_t id[CRDT_ID_LEN];
  int32_t day, grid; /* grid -1: the whole community (root scope) */
  uint32_t building; /* where, for a grid's meeting */
  uint32_t appeals[MEETING_APPEALS];
  uint8_t kind, ntopics, topics[3], nappeals;
} m_meeting;

typedef struct m_appeal {
  uint8_t id[CRDT_ID_LEN], visit[CRDT_ID_LEN];
  uint32_t grid, household, resident;
  int32_t meeting; /* opened at this meeting, or -1 */
  int32_t opened, accepted, assigned, resolved, closed; /* -1: not (yet) */
  int16_t assignee; /* unit index, or -1 - team index */
  uint8_t cat, text, source, status, note, by_leader;
  uint8_t feedback; /* 0 none, 1 satisfied, 2 unsatisfied */
  bool has_visit;
} m_appeal;

/* A resident moving to another grid's household. */
typedef struct m_move {
  uint32_t resident, household;
  uint8_t id[CRDT_ID_LEN]; /* of the record that continues them */
  int32_t day;
  uint8_t reason;
} m_move;

/* A visit its author corrects. */
typedef struct m_fix {
  uint8_t id[CRDT_ID_LEN], household[CRDT_ID_LEN], resident[CRDT_ID_LEN];
  char by[16];
  int32_t day;
  uint32_t grid;
  bool had_finding;
} m_fix;

typedef struct seeder {
  node *n;
  node_batch *b; /* the one checked write path, in batch form */
  const node_seed_opts *o;
  node_seed_result *res;
  rng r, idr;
  /* issue 16's records draw from streams of their own, so that the
   * records above stay what they were for a seed */
  rng r2, idr2;
  struct m_move *moves;
  size_t nmoves;
  struct m_fix *fixes; /* visits to correct (FIXES_MAX) */
  uint8_t knock_team[CRDT_ID_LEN]; /* 天天敲门组 */
  size_t nfixes;
  int32_t start, until; /* the year: days [start, until] */
  int year;             /* until's year: ages are counted from it */
  uint64_t base_ms;     /* registry records' ids */

  /* scopes: 0 the root, 1 + g grid g */
  char (*scopes)[CRDT_SCOPE_MAX + 1];
  size_t nscopes;

  m_grid *grids;
  m_building *buildings;
  m_household *households;
  m_resident *residents;
  size_t ngrids, nbuildings, nhouseholds, nresidents, cap_residents;
  m_unit units[N(unit_defs)];
  m_team teams[N(team_defs)];
  m_meeting *meetings;
  size_t nmeetings;
  m_appeal *appeals;
  size_t nappeals, cap_appeals;
  size_t nvisits, ntimebank; /* targets */

  /* the record being built */
  const char *coll;
  uint8_t id[CRDT_ID_LEN];
  crdt_op rops[REC_OPS];
  size_t nrops, rbytes, rused;
  char rtext[REC_TEXT];
  gs_err rerr;

  uint64_t done, total; /* records written, planned */
  const char *phase;
} seeder;

/* ------------------------------------------------------------------ */
/* Writing: records are built one at a time, checked against the       */
/* schema, and queued into the change of their scope.                   */

/* The id generator's random bytes come from the seeded generator, so
 * that a seed gives the same ids on every run (crdt_rng). */
static void id_fill(void *ctx, void *buf, size_t n)
{
  uint8_t *p = buf;
  rng *r = ctx;
  while (n > 0) {
    uint64_t x = rng_next(r);
    size_t k = n < 8 ? n : 8;
    memcpy(p, &x, k);
    p += k;
    n -= k;
  }
}

static void new_id(seeder *s, uint64_t ms, uint8_t id[CRDT_ID_LEN])
{
  crdt_rng g = {id_fill, &s->idr};
  crdt_id_new(ms, &g, id);
}

/* An id for a record of day (a time in office hours, China time). */
static void day_id(seeder *s, int32_t day, uint8_t id[CRDT_ID_LEN])
{
  uint64_t tod = 3600000ULL + (uint64_t)below(&s->r, 9 * 3600000U);
  new_id(s, (uint64_t)day * DAY_MS + tod, id);
}

/* The same for a record written once (visit, time-bank entry): its id
 * names this node as its author (crdt_id_owned), as node_id_for's do. */
static void day_id_owned(seeder *s, int32_t day, uint8_t id[CRDT_ID_LEN])
{
  static const uint8_t none[CRDT_ID_LEN];
  uint64_t tod = 3600000ULL + (uint64_t)below(&s->r, 9 * 3600000U);
  crdt_rng g = {id_fill, &s->idr};
  crdt_id_owned((uint64_t)day * DAY_MS + tod, &g, none, node_pk(s->n), id);
}

/* An id for a registry record (grid, building...): the day before the
 * year, one second apart in the order they are made. */
static void reg_id(seeder *s, uint8_t id[CRDT_ID_LEN])
{
  new_id(s, s->base_ms, id);
  s->base_ms += 1000;
}

static void progress(seeder *s)
{
  if (s->o->progress)
    s->o->progress(s->o->ctx, s->phase,
                   s->done, s->total > s->done ? s->total : s->done);
}

static void rec_begin(seeder *s, const char *coll,
                      const uint8_t id[CRDT_ID_LEN])
{
  s->coll = coll;
  memcpy(s->id, id, CRDT_ID_LEN);
  s->nrops = s->rbytes = s->rused = 0;
  s->rerr = GS_OK;
}

static crdt_op *rec_op(seeder *s, crdt_op_kind kind, const char *field)
{
  if (s->rerr)
    return NULL;
  if (s->nrops == REC_OPS) {
    s->rerr = GS_ETOOBIG;
    return NULL;
  }
  crdt_op *op = &s->rops[s->nrops++];
  memset(op, 0, sizeof *op);
  op->kind = kind;
  op->coll = s->coll;
  op->coll_len = strlen(s->coll);
  memcpy(op->id, s->id, CRDT_ID_LEN);
  op->field = field;
  op->field_len = strlen(field);
  s->rbytes += 24 + op->coll_len + op->field_len;
  return op;
}

/* A string value (formatted), copied into the record's text. */
static void rec_vstr(seeder *s, crdt_op_kind kind, const char *field,
                     const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
static void rec_vstr(seeder *s, crdt_op_kind kind, const char *field,
                     const char *fmt, va_list ap)
{
  crdt_op *op = rec_op(s, kind, field);
  if (!op)
    return;
  size_t room = REC_TEXT - s->rused;
  int k = vsnprintf(s->rtext + s->rused, room, fmt, ap);
  if (k < 0 || (size_t)k >= room) {
    s->rerr = GS_ETOOBIG;
    return;
  }
  op->value.type = CRDT_STR;
  op->value.u.s.p = s->rtext + s->rused;
  op->value.u.s.n = (size_t)k;
  s->rused += (size_t)k;
  s->rbytes += (size_t)k + 5;
}

static void rec_str(seeder *s, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void rec_str(seeder *s, const char *field, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  rec_vstr(s, CRDT_OP_SET, field, fmt, ap);
  va_end(ap);
}

static void rec_add(seeder *s, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void rec_add(seeder *s, const char *field, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  rec_vstr(s, CRDT_OP_ADD, field, fmt, ap);
  va_end(ap);
}

static void rec_date(seeder *s, const char *field, int32_t day)
{
  char t[11];
  day_text(day, t);
  rec_str(s, field, "%s", t);
}

static void rec_int(seeder *s, const char *field, int64_t v)
{
  crdt_op *op = rec_op(s, CRDT_OP_SET, field);
  if (!op)
    return;
  op->value.type = CRDT_INT;
  op->value.u.i = v;
  s->rbytes += 9;
}

/* Hours in hundredths: whole hours as an integer, else a float. */
static void rec_hours(seeder *s, const char *field, int64_t centi)
{
  crdt_op *op = rec_op(s, CRDT_OP_SET, field);
  if (!op)
    return;
  if (centi % 100 == 0) {
    op->value.type = CRDT_INT;
    op->value.u.i = centi / 100;
  } else {
    op->value.type = CRDT_FLOAT;
    op->value.u.f = (double)centi / 100.0;
  }
  s->rbytes += 9;
}

static void rec_refop(seeder *s, crdt_op_kind kind, const char *field,
                      const char *coll, const uint8_t id[CRDT_ID_LEN])
{
  crdt_op *op = rec_op(s, kind, field);
  if (!op)
    return;
  op->value.type = CRDT_REF;
  op->value.u.ref.coll = coll;
  op->value.u.ref.coll_len = strlen(coll);
  memcpy(op->value.u.ref.id, id, CRDT_ID_LEN);
  s->rbytes += strlen(coll) + CRDT_ID_LEN + 6;
}

static void rec_ref(seeder *s, const char *field, const char *coll,
                    const uint8_t id[CRDT_ID_LEN])
{
  rec_refop(s, CRDT_OP_SET, field, coll, id);
}

static void rec_add_ref(seeder *s, const char *field, const char *coll,
                        const uint8_t id[CRDT_ID_LEN])
{
  rec_refop(s, CRDT_OP_ADD, field, coll, id);
}

/* Queue the record in scope (index into s->scopes) through the one
 * checked write path: schema, permission, the time bank, then packed into
 * the change of its scope. */
static gs_err rec_end(seeder *s, size_t scope)
{
  node_reason why;
  gs_err err = s->rerr;
  if (err)
    return err;
  if ((err = node__batch_put_ops(s->b, s->scopes[scope], s->rops, s->nrops,
                                 &why)) != GS_OK)
    return err;
  s->done++;
  if (s->done % 1000 == 0)
    progress(s);
  return GS_OK;
}

/* ------------------------------------------------------------------ */
/* People.                                                              */

static void person_name(seeder *s, bool female, int age, char out[16])
{
  const char *sur = surnames[weighted(&s->r, surname_w, N(surnames))];
  const char *given;
  if (age >= 55)
    given = female ? old_f[below(&s->r, N(old_f))]
                   : old_m[below(&s->r, N(old_m))];
  else if (age >= 30)
    given = female ? mid_f[below(&s->r, N(mid_f))]
                   : mid_m[below(&s->r, N(mid_m))];
  else
    given = female ? young_f[below(&s->r, N(young_f))]
                   : young_m[below(&s->r, N(young_m))];
  snprintf(out, 16, "%s%s", sur, given);
}

static void phone(seeder *s, char out[12])
{
  snprintf(out, 12, "%s%04u%04u",
           phone_prefixes[below(&s->r, N(phone_prefixes))],
           (unsigned)below(&s->r, 10000), (unsigned)below(&s->r, 10000));
}

static int age_of(const seeder *s, const m_resident *p)
{
  return s->year - (int)p->birth;
}

/* ---- issue 16's draws: the second streams ---- */

static void phone2(seeder *s, char out[12])
{
  snprintf(out, 12, "%s%04u%04u",
           phone_prefixes[below(&s->r2, N(phone_prefixes))],
           (unsigned)below(&s->r2, 10000), (unsigned)below(&s->r2, 10000));
}

static void new_id2(seeder *s, uint64_t ms, uint8_t id[CRDT_ID_LEN])
{
  crdt_rng g = {id_fill, &s->idr2};
  crdt_id_new(ms, &g, id);
}

static void day_id2(seeder *s, int32_t day, uint8_t id[CRDT_ID_LEN])
{
  uint64_t tod = 3600000ULL + (uint64_t)below(&s->r2, 9 * 3600000U);
  new_id2(s, (uint64_t)day * DAY_MS + tod, id);
}

static void day_id2_owned(seeder *s, int32_t day, uint8_t id[CRDT_ID_LEN])
{
  static const uint8_t none[CRDT_ID_LEN];
  uint64_t tod = 3600000ULL + (uint64_t)below(&s->r2, 9 * 3600000U);
  crdt_rng g = {id_fill, &s->idr2};
  crdt_id_owned((uint64_t)day * DAY_MS + tod, &g, none, node_pk(s->n), id);
}

/* The resident's surname: the first character (UTF-8, 3 bytes). */
static void surname_of(const m_resident *p, char out[8])
{
  size_t k = strlen(p->name) >= 3 ? 3 : strlen(p->name);
  memcpy(out, p->name, k);
  out[k] = '\0';
}

static const char *const kin_given[] = {"建华", "丽娟", "志强", "海燕",
                                        "晓东", "秀梅", "国栋", "春燕"};
static const char *const kin_what[] = {"儿子", "女儿", "侄子", "外甥女"};
static const char *const move_reasons[] = {"搬到子女家同住", "购买新房",
                                           "租住到别处", "工作调动"};
static const char *const out_reasons[] = {"迁往外地", "入住养老院",
                                          "房屋出售", "随子女迁居"};

static const m_move *move_of(const seeder *s, uint32_t r)
{
  for (size_t i = 0; i < s->nmoves; i++)
    if (s->moves[i].resident == r)
      return &s->moves[i];
  return NULL;
}

/* An age: about 45% born 66 or more years before until's year (before
 * 1961 for a year ending in 2026), a few past 90. */
static int draw_age(seeder *s, bool alone)
{
  static const uint16_t old_w[] = {24, 26, 20, 15, 10, 5};
  static const uint8_t old_lo[] = {66, 70, 75, 80, 85, 90},
                       old_hi[] = {69, 74, 79, 84, 89, 97};
  double u = unit(&s->r);
  if (u < (alone ? 0.65 : 0.47)) {
    unsigned b = weighted(&s->r, old_w, N(old_w));
    return between(&s->r, old_lo[b], old_hi[b]);
  }
  if (u < (alone ? 0.92 : 0.84))
    return between(&s->r, 30, 65);
  if (u < 0.96 || alone)
    return between(&s->r, 18, 29);
  return between(&s->r, 3, 17);
}

static int clamp_birth(int y)
{
  return y < 1900 ? 1900 : y > 2100 ? 2100 : y;
}

static void make_resident(seeder *s, m_resident *p, uint32_t hh, int age,
                          int female, bool alone)
{
  memset(p, 0, sizeof *p);
  p->household = hh;
  p->team = -1;
  if (female < 0)
    female = chance(&s->r, age >= 65 ? 0.56 : 0.5);
  p->female = (uint8_t)female;
  p->birth = (uint16_t)clamp_birth(s->year - age);
  age = s->year - p->birth;
  person_name(s, p->female, age, p->name);
  if (age >= 16 && chance(&s->r, age >= 80 ? 0.7 : 0.95))
    phone(s, p->phone);

  bool old = age >= 60, adult = age >= 18, working = adult && age < 60;
  unsigned t = 0;
  if (old)
    t |= 1u << T_ELDERLY;
  if (alone)
    t |= 1u << T_ALONE;
  if (age < 14)
    t |= 1u << T_CHILD;
  if (chance(&s->r, old ? 0.045 : 0.015))
    t |= 1u << T_DISABLED;
  if (chance(&s->r, old ? 0.05 : 0.03))
    t |= 1u << T_LOWINCOME;
  if (chance(&s->r, working ? 0.17 : adult ? 0.01 : 0.04))
    t |= 1u << T_FLOATING;
  if ((t & (1u << T_FLOATING)) ? chance(&s->r, 0.8) : chance(&s->r, 0.03))
    t |= 1u << T_RENTER;
  if (adult && chance(&s->r, old ? 0.14 : 0.08))
    t |= 1u << T_PARTY;
  if (!p->female && old && chance(&s->r, 0.035))
    t |= 1u << T_VETERAN;
  if (chance(&s->r, age >= 50 && age <= 75 ? 0.11 : adult ? 0.035 : 0.0))
    t |= 1u << T_VOLUNTEER;
  if (working && chance(&s->r, 0.03))
    t |= 1u << T_UNEMPLOYED;
  if (old && ((alone && age >= 80) || (t & (1u << T_DISABLED))))
    t |= 1u << T_SPECIAL;
  p->tags = (uint16_t)t;
}

/* ------------------------------------------------------------------ */
/* The registry: grids, buildings, households, residents.               */

static const char *const cn_digits[] = {"", "一", "二", "三", "四",
                                        "五", "六", "七", "八", "九"};

/* "第七网格" for n in 1..99, "第123网格" beyond. */
static void grid_name(unsigned n, char *out, size_t cap)
{
  if (n >= 100)
    snprintf(out, cap, "第%u网格", n);
  else if (n < 10)
    snprintf(out, cap, "第%s网格", cn_digits[n]);
  else
    snprintf(out, cap, "第%s十%s网格", n / 10 == 1 ? "" : cn_digits[n / 10],
             cn_digits[n % 10]);
}

static gs_err model_registry(seeder *s, unsigned hh_total)
{
  size_t nb = ((size_t)hh_total * 4 + 551) / 1102; /* round(hh/275.5) */
  if (nb < 1)
    nb = 1;
  size_t ng = (nb * DEF_GRIDS * 2 + DEF_BUILDINGS) / (2 * DEF_BUILDINGS);
  if (ng < 1)
    ng = 1;
  s->ngrids = ng;
  s->nbuildings = nb;
  s->nhouseholds = hh_total;
  s->cap_residents = (size_t)hh_total * 3; /* at most 3 a household */
  s->grids = calloc(ng, sizeof *s->grids);
  s->buildings = calloc(nb, sizeof *s->buildings);
  s->households = calloc(hh_total, sizeof *s->households);
  s->residents = calloc(s->cap_residents, sizeof *s->residents);
  double *wts = calloc(nb, sizeof *wts);
  gs_err err = GS_ENOMEM;
  if (!s->grids || !s->buildings || !s->households || !s->residents || !wts)
    goto out;

  for (size_t g = 0; g < ng; g++) {
    m_grid *gr = &s->grids[g];
    reg_id(s, gr->id);
    person_name(s, chance(&s->r, 0.7), between(&s->r, 26, 50), gr->worker);
    phone(s, gr->phone);
    gr->b0 = UINT32_MAX;
  }
  /* buildings over grids in order; sizes vary by a third */
  double wsum = 0;
  for (size_t b = 0; b < nb; b++)
    wsum += wts[b] = 0.7 + 0.6 * unit(&s->r);
  double acc = 0;
  uint32_t h = 0;
  for (size_t b = 0; b < nb; b++) {
    m_building *bd = &s->buildings[b];
    reg_id(s, bd->id);
    bd->grid = (uint32_t)(b * ng / nb);
    acc += wts[b];
    uint32_t end = (uint32_t)((double)hh_total * acc / wsum + 0.5);
    if (b + 1 == nb)
      end = hh_total;
    if (end <= h)
      end = h + 1;
    if (end > hh_total - (uint32_t)(nb - 1 - b))
      end = hh_total - (uint32_t)(nb - 1 - b);
    bd->h0 = h;
    bd->h1 = end;
    h = end;
    bd->units = (uint8_t)between(&s->r, 4, 6);
    bd->floors = (uint8_t)between(&s->r, 5, 7);
    uint32_t per = (uint32_t)bd->units * bd->floors;
    uint32_t doors = (bd->h1 - bd->h0 + per - 1) / per;
    bd->doors = (uint8_t)(doors > 99 ? 99 : doors);
    bd->built = (uint16_t)clamp_birth(s->year - between(&s->r, 28, 47));
    bd->leader = -1;
    m_grid *gr = &s->grids[bd->grid];
    if (gr->b0 == UINT32_MAX)
      gr->b0 = (uint32_t)b, gr->h0 = bd->h0;
    gr->b1 = (uint32_t)b + 1;
    gr->h1 = bd->h1;
  }

  /* households and the residents registered in each */
  static const uint16_t size_w[] = {17, 38, 28, 12, 5};
  size_t nr = 0;
  for (size_t b = 0; b < nb; b++) {
    m_building *bd = &s->buildings[b];
    uint32_t cnt = bd->h1 - bd->h0;
    uint32_t slots = (uint32_t)bd->units * bd->floors * bd->doors;
    for (uint32_t k = 0; k < cnt; k++) {
      m_household *hh = &s->households[bd->h0 + k];
      uint32_t slot = (uint32_t)((uint64_t)k * slots / cnt);
      uint32_t per_unit = (uint32_t)bd->floors * bd->doors;
      hh->building = (uint32_t)b;
      hh->unit = (uint8_t)(1 + slot / per_unit);
      uint32_t in_unit = slot % per_unit;
      uint32_t floor = 1 + in_unit / bd->doors, door = 1 + in_unit % bd->doors;
      hh->room = (uint16_t)(floor * 100 + door);
      hh->size = (uint8_t)(1 + weighted(&s->r, size_w, N(size_w)));
      bool alone = hh->size == 1;
      unsigned nres = alone ? 1 : chance(&s->r, 0.2) ? 2 : 1;
      if (nres == 2 && hh->size >= 4 && chance(&s->r, 0.15))
        nres = 3;
      hh->r0 = (uint32_t)nr;
      hh->nres = (uint8_t)nres;
      reg_id(s, hh->id);
      int head_age = draw_age(s, alone);
      m_resident *head = &s->residents[nr++];
      make_resident(s, head, bd->h0 + k, head_age, -1, alone);
      reg_id(s, head->id);
      for (unsigned j = 1; j < nres; j++) {
        m_resident *p = &s->residents[nr];
        int age;
        int female = -1;
        if (j == 1 && head_age >= 22 && chance(&s->r, 0.75)) {
          age = head_age + between(&s->r, -4, 3); /* a spouse */
          female = !head->female;
        } else {
          age = head_age - between(&s->r, 24, 34); /* a child */
          if (age < 1)
            age = between(&s->r, 1, 12);
        }
        if (age < 1)
          age = 1;
        make_resident(s, p, bd->h0 + k, age, female, false);
        reg_id(s, p->id);
        nr++;
      }
    }
  }
  s->nresidents = nr;
  err = GS_OK;
out:
  free(wts);
  return err;
}

/* Grid ranges of residents, building leaders. */
static void model_leaders(seeder *s)
{
  for (size_t g = 0; g < s->ngrids; g++) {
    m_grid *gr = &s->grids[g];
    gr->r0 = s->households[gr->h0].r0;
    const m_household *last = &s->households[gr->h1 - 1];
    gr->r1 = last->r0 + last->nres;
  }
  for (size_t b = 0; b < s->nbuildings; b++) {
    m_building *bd = &s->buildings[b];
    uint32_t r0 = s->households[bd->h0].r0;
    const m_household *last = &s->households[bd->h1 - 1];
    uint32_t r1 = last->r0 + last->nres, nr = r1 - r0;
    /* a retired volunteer or party member if any, else someone 40-75 */
    int32_t best = -1;
    int best_rank = -1;
    uint32_t off = below(&s->r, nr);
    for (uint32_t k = 0; k < nr; k++) {
      uint32_t i = r0 + (off + k) % nr;
      const m_resident *p = &s->residents[i];
      int age = age_of(s, p), rank = 0;
      if (age >= 40 && age <= 75)
        rank = 1 + ((p->tags & ((1u << T_VOLUNTEER) | (1u << T_PARTY))) &&
                    age >= 50);
      if (rank > best_rank) {
        best = (int32_t)i;
        best_rank = rank;
      }
    }
    bd->leader = best;
  }
}

static gs_err model_units_teams(seeder *s)
{
  for (size_t u = 0; u < N(unit_defs); u++) {
    reg_id(s, s->units[u].id);
    person_name(s, chance(&s->r, 0.5), between(&s->r, 28, 55),
                s->units[u].contact);
    phone(s, s->units[u].phone);
  }
  uint16_t w[N(team_defs)];
  for (size_t t = 0; t < N(team_defs); t++) {
    reg_id(s, s->teams[t].id);
    w[t] = team_defs[t].weight;
    if (!(s->teams[t].members = calloc(TEAM_MEMBERS, sizeof(uint32_t))))
      return GS_ENOMEM;
  }
  for (size_t i = 0; i < s->nresidents; i++) {
    m_resident *p = &s->residents[i];
    if (!(p->tags & (1u << T_VOLUNTEER)) || !chance(&s->r, 0.75))
      continue;
    unsigned t = weighted(&s->r, w, N(team_defs));
    if (age_of(s, p) < 18 || s->teams[t].n == TEAM_MEMBERS)
      continue;
    s->teams[t].members[s->teams[t].n++] = (uint32_t)i;
    p->team = (int8_t)t;
  }
  /* the leader: a member in the middle of the list comes first */
  for (size_t t = 0; t < N(team_defs); t++) {
    m_team *tm = &s->teams[t];
    if (tm->n > 1) {
      uint32_t k = below(&s->r, (uint32_t)tm->n), tmp = tm->members[0];
      tm->members[0] = tm->members[k];
      tm->members[k] = tmp;
    }
  }
  return GS_OK;
}

static int cmp_i32(const void *a, const void *b)
{
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

/* A random working day of the year (weekends now and then). */
static int32_t work_day(seeder *s)
{
  int32_t d = s->start + (int32_t)below(&s->r, YEAR_DAYS);
  if (weekend(d) && chance(&s->r, 0.85))
    d = s->start + (int32_t)below(&s->r, YEAR_DAYS);
  return d;
}

/* A household drawn uniformly from [h0, h1). */
static uint32_t some_household(seeder *s, uint32_t h0, uint32_t h1)
{
  return h0 + below(&s->r, h1 - h0);
}

static gs_err model_meetings(seeder *s, size_t count)
{
  int32_t *days = calloc(count ? count : 1, sizeof *days);
  s->meetings = calloc(count ? count : 1, sizeof *s->meetings);
  if (!days || !s->meetings) {
    free(days);
    return GS_ENOMEM;
  }
  for (size_t i = 0; i < count; i++)
    days[i] = work_day(s);
  qsort(days, count, sizeof *days, cmp_i32);
  for (size_t i = 0; i < count; i++) {
    m_meeting *m = &s->meetings[i];
    m->day = days[i];
    day_id(s, m->day, m->id);
    m->kind = (uint8_t)weighted(&s->r, meeting_w, N(meeting_w));
    if (m->kind == MK_FOUR_PARTY ||
        (m->kind != MK_NEIGHBOURS && chance(&s->r, 0.15))) {
      m->grid = -1; /* four-party meetings are the community's */
      m->building = 0;
    } else {
      uint32_t hh = some_household(s, 0, (uint32_t)s->nhouseholds);
      m->building = s->households[hh].building;
      m->grid = (int32_t)s->buildings[m->building].grid;
    }
    m->ntopics = (uint8_t)(1 + below(&s->r, 3));
    for (unsigned k = 0; k < m->ntopics; k++) {
      unsigned t;
      bool dup;
      do {
        t = below(&s->r, N(topics));
        dup = false;
        for (unsigned j = 0; j < k; j++)
          dup = dup || m->topics[j] == t;
      } while (dup);
      m->topics[k] = (uint8_t)t;
    }
  }
  s->nmeetings = count;
  free(days);
  return GS_OK;
}

static gs_err write_registry(seeder *s)
{
  gs_err err = GS_OK;
  s->phase = "residents";
  for (size_t g = 0; g < s->ngrids && !err; g++) {
    const m_grid *gr = &s->grids[g];
    size_t sc = 1 + g;
    char name[48], note[256];
    size_t off = 0;
    grid_name((unsigned)g + 1, name, sizeof name);
    note[0] = '\0';
    for (uint32_t b = gr->b0; b < gr->b1 && off < 200; b++)
      off += (size_t)snprintf(note + off, sizeof note - off, "%s%u号楼",
                              off ? "、" : "含", b + 1);
    rec_begin(s, "grid", gr->id);
    rec_str(s, "name", "%s", name);
    rec_str(s, "worker", "%s", gr->worker);
    rec_str(s, "phone", "%s", gr->phone);
    rec_str(s, "note", "%s", note);
    if ((err = rec_end(s, sc)) != GS_OK)
      break;
    s->res->grids++;
    for (uint32_t b = gr->b0; b < gr->b1 && !err; b++) {
      const m_building *bd = &s->buildings[b];
      rec_begin(s, "building", bd->id);
      rec_str(s, "name", "%u号楼", b + 1);
      rec_ref(s, "grid", "grid", gr->id);
      rec_int(s, "units", bd->units);
      rec_int(s, "floors", bd->floors);
      rec_int(s, "built", bd->built);
      if (bd->leader >= 0) {
        const m_resident *l = &s->residents[bd->leader];
        rec_str(s, "leader", "%s", l->name);
        if (l->phone[0])
          rec_str(s, "phone", "%s", l->phone);
      }
      if (bd->floors >= 6)
        rec_str(s, "note", "无电梯");
      if ((err = rec_end(s, sc)) != GS_OK)
        break;
      s->res->buildings++;
    }
    for (uint32_t h = gr->h0; h < gr->h1 && !err; h++) {
      const m_household *hh = &s->households[h];
      const m_resident *head = &s->residents[hh->r0];
      rec_begin(s, "household", hh->id);
      rec_ref(s, "building", "building", s->buildings[hh->building].id);
      rec_str(s, "unit", "%u", hh->unit);
      rec_str(s, "room", "%u", hh->room);
      if (head->phone[0] && (h % 2 == 0))
        rec_str(s, "phone", "%s", head->phone);
      rec_int(s, "size", hh->size);
      if (head->tags & (1u << T_RENTER))
        rec_str(s, "note", "出租房");
      if ((err = rec_end(s, sc)) != GS_OK)
        break;
      s->res->households++;
      for (uint32_t r = hh->r0; r < hh->r0 + hh->nres && !err; r++) {
        const m_resident *p = &s->residents[r];
        rec_begin(s, "resident", p->id);
        rec_str(s, "name", "%s", p->name);
        rec_str(s, "gender", "%s", p->female ? "女" : "男");
        rec_int(s, "birth_year", p->birth);
        if (p->phone[0])
          rec_str(s, "phone", "%s", p->phone);
        rec_ref(s, "household", "household", hh->id);
        rec_str(s, "building", "%u号楼", hh->building + 1);
        rec_str(s, "unit", "%u", hh->unit);
        rec_str(s, "room", "%u", hh->room);
        for (int t = 0; t < T_COUNT; t++)
          if (p->tags & (1u << t))
            rec_add(s, "tags", "%s", tag_names[t]);
        if (p->tags & (1u << T_SPECIAL))
          rec_str(s, "note", "%s",
                  (p->tags & (1u << T_ALONE)) ? "高龄独居，每周探访"
                                               : "行动不便，需定期探访");
        /* issue 16: who to call, the passbook, moving out */
        if (age_of(s, p) >= 70 && chance(&s->r2, 0.6)) {
          char sur[8], ph[12];
          surname_of(p, sur);
          phone2(s, ph);
          rec_str(s, "emergency_contact", "%s%s（%s）", sur,
                  kin_given[below(&s->r2, N(kin_given))],
                  kin_what[below(&s->r2, N(kin_what))]);
          rec_str(s, "emergency_phone", "%s", ph);
        }
        if (p->tags & (1u << T_VOLUNTEER))
          rec_str(s, "passbook", "QH%06u", r + 1);
        const m_move *mv = move_of(s, r);
        if (mv) {
          rec_str(s, "status", "moved");
          rec_ref(s, "moved_to", "resident", mv->id);
          rec_date(s, "moved_out", mv->day);
          rec_str(s, "move_reason", "%s", move_reasons[mv->reason]);
        } else if (!(p->tags & (1u << T_VOLUNTEER)) && age_of(s, p) >= 18 &&
                   chance(&s->r2, 0.004)) {
          rec_str(s, "status", "moved-out");
          rec_date(s, "moved_out", s->until - between(&s->r2, 3, 90));
          rec_str(s, "move_reason", "%s",
                  out_reasons[below(&s->r2, N(out_reasons))]);
          s->res->moved_out++;
        }
        if ((err = rec_end(s, sc)) != GS_OK)
          break;
        s->res->residents++;
      }
    }
  }
  if (err)
    return err;

  s->phase = "units";
  for (size_t u = 0; u < N(unit_defs); u++) {
    rec_begin(s, "unit", s->units[u].id);
    rec_str(s, "name", "%s", unit_defs[u].name);
    rec_str(s, "kind", "%s", unit_defs[u].kind);
    rec_str(s, "contact", "%s", s->units[u].contact);
    rec_str(s, "phone", "%s", s->units[u].phone);
    if ((err = rec_end(s, 0)) != GS_OK)
      return err;
    s->res->units++;
  }
  s->phase = "teams";
  for (size_t t = 0; t < N(team_defs); t++) {
    const m_team *tm = &s->teams[t];
    rec_begin(s, "team", tm->id);
    rec_str(s, "name", "%s", team_defs[t].name);
    rec_str(s, "purpose", "%s", team_defs[t].purpose);
    rec_str(s, "kind", "%s", t == 0 ? "patrol" : "volunteer");
    if (tm->n)
      rec_ref(s, "leader", "resident", s->residents[tm->members[0]].id);
    for (size_t k = 0; k < tm->n; k++)
      rec_add_ref(s, "members", "resident", s->residents[tm->members[k]].id);
    if ((err = rec_end(s, 0)) != GS_OK)
      return err;
    s->res->teams++;
  }
  return GS_OK;
}

/* Who takes work of category cat: a team taking it with chance team_p
 * (when there is one), else a unit taking it. Returns a unit's index, or
 * -1 - a team's. */
static int claimer(seeder *s, unsigned cat, double team_p)
{
  int units[N(unit_defs)], teams[N(team_defs)];
  unsigned nu = 0, nt = 0;
  for (size_t u = 0; u < N(unit_defs); u++)
    if (unit_defs[u].cats & CB(cat))
      units[nu++] = (int)u;
  for (size_t t = 0; t < N(team_defs); t++)
    if (team_defs[t].cats & CB(cat))
      teams[nt++] = -1 - (int)t;
  if (nt && (nu == 0 || chance(&s->r, team_p)))
    return teams[below(&s->r, nt)];
  return nu ? units[below(&s->r, nu)] : 0;
}

static void rec_claimer(seeder *s, const char *field, int who)
{
  if (who >= 0)
    rec_ref(s, field, "unit", s->units[who].id);
  else
    rec_ref(s, field, "team", s->teams[-1 - who].id);
}

/* ------------------------------------------------------------------ */
/* Appeals.                                                             */

/* A template of category cat. */
static uint8_t appeal_text(seeder *s, unsigned cat)
{
  unsigned n = 0, pick;
  for (size_t i = 0; i < N(appeal_texts); i++)
    n += appeal_texts[i].cat == cat;
  pick = below(&s->r, n);
  for (size_t i = 0; i < N(appeal_texts); i++)
    if (appeal_texts[i].cat == cat && pick-- == 0)
      return (uint8_t)i;
  return 0;
}

/* Someone of household hh to speak for an appeal of category cat: the
 * elderly one for elderly care. */
static uint32_t appeal_person(seeder *s, uint32_t hh, unsigned cat)
{
  const m_household *h = &s->households[hh];
  uint32_t r = h->r0 + below(&s->r, h->nres);
  if (cat == C_ELDER)
    for (uint32_t i = h->r0; i < h->r0 + h->nres; i++)
      if (s->residents[i].tags & (1u << T_ELDERLY))
        r = i;
  return r;
}

/* A new appeal in the model (NULL when the target is reached). */
static m_appeal *appeal_new(seeder *s, uint32_t hh, unsigned cat,
                            int32_t day, unsigned source)
{
  if (s->nappeals == s->cap_appeals)
    return NULL;
  m_appeal *a = &s->appeals[s->nappeals++];
  memset(a, 0, sizeof *a);
  day_id(s, day, a->id);
  a->household = hh;
  a->grid = s->buildings[s->households[hh].building].grid;
  a->resident = appeal_person(s, hh, cat);
  a->cat = (uint8_t)cat;
  a->text = appeal_text(s, cat);
  a->opened = day;
  a->source = (uint8_t)source;
  a->meeting = -1;
  a->by_leader = chance(&s->r, 0.2);
  return a;
}

/* Days an appeal takes from assignment to resolution, by category. */
static int32_t fix_days(seeder *s, unsigned cat)
{
  static const uint8_t lo[C_COUNT] = {1, 1, 0, 1, 5, 3, 2};
  static const uint8_t mean[C_COUNT] = {5, 4, 3, 4, 20, 10, 7};
  double u = unit(&s->r);
  int32_t d = lo[cat] + (int32_t)(-(double)mean[cat] * log(1.0 - u));
  return d > 120 ? 120 : d;
}

/* The appeal's course through its states up to until: every date set is
 * on or after the one before and on or before until. */
static void appeal_course(seeder *s, m_appeal *a)
{
  static const uint16_t accept_w[] = {45, 25, 12, 12, 6};
  static const uint8_t accept_lo[] = {0, 1, 2, 3, 8},
                       accept_hi[] = {0, 1, 2, 7, 20};
  a->accepted = a->assigned = a->resolved = a->closed = -1;
  a->assignee = -1;
  a->status = ST_OPEN;
  unsigned w = weighted(&s->r, accept_w, N(accept_w));
  int32_t d = a->opened + between(&s->r, accept_lo[w], accept_hi[w]);
  if (d > s->until)
    return;
  a->accepted = d;
  a->status = ST_ACCEPTED;
  d += chance(&s->r, 0.4) ? 0 : between(&s->r, 1, 7);
  if (d > s->until)
    return;
  a->assigned = d;
  a->status = ST_ASSIGNED;
  a->assignee = (int16_t)claimer(s, a->cat, 0.25);
  if (chance(&s->r, a->cat == C_PARKING ? 0.15 : 0.03))
    return; /* a hard one: still with its assignee */
  d += fix_days(s, a->cat);
  if (d > s->until)
    return;
  a->resolved = d;
  a->status = ST_RESOLVED;
  a->note = (uint8_t)below(&s->r, 3);
  d += chance(&s->r, 0.7) ? between(&s->r, 0, 2) : between(&s->r, 3, 10);
  if (d > s->until)
    return;
  a->closed = d;
  a->status = ST_CLOSED;
  a->feedback = chance(&s->r, 0.92) ? 1 : 2;
  if (chance(&s->r, 0.01) && d + 3 <= s->until) {
    a->status = ST_REOPENED; /* it came back */
    a->feedback = 2;
  }
}

static gs_err write_appeal(seeder *s, const m_appeal *a)
{
  const m_household *hh = &s->households[a->household];
  const m_grid *gr = &s->grids[a->grid];
  const m_building *bd = &s->buildings[hh->building];
  const tmpl *t = &appeal_texts[a->text];
  rec_begin(s, "appeal", a->id);
  rec_str(s, "category", "%s", cat_names[a->cat]);
  switch (t->loc) {
  case L_STAIR:
    rec_str(s, "description", "%u号楼%u单元%s", hh->building + 1, hh->unit,
            t->text);
    break;
  case L_HOME:
    rec_str(s, "description", "%u号楼%u单元%u室%s", hh->building + 1,
            hh->unit, hh->room, t->text);
    break;
  case L_BUILDING:
    rec_str(s, "description", "%u号楼%s", hh->building + 1, t->text);
    break;
  default:
    rec_str(s, "description", "%s", t->text);
    break;
  }
  rec_ref(s, "resident", "resident", s->residents[a->resident].id);
  rec_ref(s, "household", "household", hh->id);
  rec_str(s, "opened_by", "%s",
          a->by_leader && bd->leader >= 0 ? s->residents[bd->leader].name
                                          : gr->worker);
  rec_date(s, "opened", a->opened);
  rec_str(s, "source", "%s", sources[a->source]);
  if (a->has_visit)
    rec_ref(s, "visit", "visit", a->visit);
  if (a->meeting >= 0)
    rec_ref(s, "meeting", "meeting", s->meetings[a->meeting].id);
  rec_str(s, "status", "%s", statuses[a->status]);
  if (a->assigned >= 0)
    rec_claimer(s, "assignee", a->assignee);
  if (a->accepted >= 0)
    rec_date(s, "accepted", a->accepted);
  if (a->assigned >= 0)
    rec_date(s, "assigned", a->assigned);
  if (a->resolved >= 0)
    rec_date(s, "resolved", a->resolved);
  if (a->closed >= 0)
    rec_date(s, "closed", a->closed);
  if (a->feedback)
    rec_str(s, "feedback", "%s", a->feedback == 1 ? "satisfied"
                                                  : "unsatisfied");
  if (a->status == ST_REOPENED)
    rec_str(s, "note", "居民反映问题再次出现，重新受理");
  else if (a->resolved >= 0)
    rec_str(s, "note", "%s", resolutions[a->cat][a->note]);
  gs_err err = rec_end(s, 1 + a->grid);
  if (!err)
    s->res->appeals++;
  return err;
}

/* ------------------------------------------------------------------ */
/* Visits: the year's door-knocking in one grid, in date order. Some    */
/* visits bring up a need that becomes an appeal.                       */

/* Someone there needs looking after: special care, disabled, or old and
 * alone. */
static bool household_priority(const seeder *s, uint32_t h)
{
  const m_household *hh = &s->households[h];
  const unsigned alone_old = (1u << T_ALONE) | (1u << T_ELDERLY);
  for (uint32_t r = hh->r0; r < hh->r0 + hh->nres; r++) {
    unsigned t = s->residents[r].tags;
    if ((t & ((1u << T_SPECIAL) | (1u << T_DISABLED))) ||
        (t & alone_old) == alone_old)
      return true;
  }
  return false;
}

static gs_err visits_of_grid(seeder *s, size_t g, size_t count,
                             double spawn)
{
  const m_grid *gr = &s->grids[g];
  int32_t *days = calloc(count ? count : 1, sizeof *days);
  if (!days)
    return GS_ENOMEM;
  for (size_t i = 0; i < count; i++)
    days[i] = work_day(s);
  qsort(days, count, sizeof *days, cmp_i32);
  gs_err err = GS_OK;
  for (size_t i = 0; i < count; i++) {
    uint32_t h = some_household(s, gr->h0, gr->h1);
    if (!household_priority(s, h) && chance(&s->r, 0.5))
      h = some_household(s, gr->h0, gr->h1); /* the vulnerable first */
    const m_household *hh = &s->households[h];
    const m_building *bd = &s->buildings[hh->building];
    uint32_t r = hh->r0 + below(&s->r, hh->nres);
    const m_resident *p = &s->residents[r];
    uint8_t id[CRDT_ID_LEN];
    day_id_owned(s, days[i], id);

    int finding = F_NONE;
    m_appeal *a = NULL;
    if (chance(&s->r, spawn)) {
      unsigned cat = weighted(&s->r, cat_w, C_COUNT);
      if ((a = appeal_new(s, h, cat, days[i], S_VISIT)) != NULL) {
        if (cat != C_ELDER)
          a->resident = r; /* who told the visitor */
        a->has_visit = true;
        memcpy(a->visit, id, CRDT_ID_LEN);
        finding = cat == C_SAFETY    ? F_HAZARD
                  : cat == C_DISPUTE ? F_DISPUTE
                  : cat == C_ELDER && chance(&s->r, 0.5) ? F_HEALTH
                                                          : F_NEED;
      }
    }
    if (!a) {
      double u = unit(&s->r);
      bool old = p->tags & (1u << T_ELDERLY);
      finding = u < 0.78   ? F_NONE
                : u < 0.86 ? (old ? F_HEALTH : F_NONE)
                : u < 0.92 ? F_NEED
                : u < 0.97 ? F_HAZARD
                           : F_DISPUTE;
    }

    rec_begin(s, "visit", id);
    rec_str(s, "by", "%s",
            bd->leader >= 0 && chance(&s->r, 0.25)
                ? s->residents[bd->leader].name
                : gr->worker);
    rec_date(s, "date", days[i]);
    rec_ref(s, "household", "household", hh->id);
    rec_ref(s, "resident", "resident", p->id);
    if (a)
      rec_str(s, "notes", "住户反映：%s。已登记诉求",
              appeal_texts[a->text].text);
    else if ((p->tags & (1u << T_ALONE)) && (p->tags & (1u << T_ELDERLY)))
      rec_str(s, "notes", "%s", visit_alone[below(&s->r, N(visit_alone))]);
    else if (p->tags & (1u << T_RENTER) && chance(&s->r, 0.5))
      rec_str(s, "notes", "%s", visit_renter);
    else
      rec_str(s, "notes", "%s",
              visit_general[below(&s->r, N(visit_general))]);
    /* issue 16: the door-knocking team and who came along; findings
     * the first schema had no word for */
    static const char *const more_f[] = {"fall", "fraud", "stray-dog",
                                         "theft", "fire-hazard"};
    static const char *const more_up[] = {
        "已联系家属，建议安装紧急呼叫器", "已宣传防诈骗知识，提醒勿转账",
        "已通知物业联系犬只收容", "已报告派出所并提醒加装门锁",
        "已督促清理楼道杂物和飞线充电"};
    int extra = -1;
    if (finding == F_NONE && chance(&s->r2, 0.05))
      extra = (int)below(&s->r2, N(more_f));
    if (chance(&s->r2, 0.3)) {
      rec_ref(s, "team", "team", s->knock_team);
      if (chance(&s->r2, 0.3))
        rec_add(s, "companions", "社区民警");
      if (chance(&s->r2, 0.3))
        rec_add(s, "companions", "物业管家");
    }
    if (extra >= 0) {
      rec_add(s, "findings", "%s", more_f[extra]);
      rec_add(s, "followups", "%s", more_up[extra]);
    } else
      rec_add(s, "findings", "%s", finding_names[finding]);
    if (finding != F_NONE) {
      unsigned f0 = below(&s->r, 3);
      rec_add(s, "followups", "%s", followups[finding][f0]);
      if (chance(&s->r, 0.3))
        rec_add(s, "followups", "%s", followups[finding][(f0 + 1) % 3]);
    }
    if (s->nfixes < FIXES_MAX && chance(&s->r2, 0.01)) {
      m_fix *fx = &s->fixes[s->nfixes++];
      memcpy(fx->id, id, CRDT_ID_LEN);
      memcpy(fx->household, hh->id, CRDT_ID_LEN);
      memcpy(fx->resident, p->id, CRDT_ID_LEN);
      snprintf(fx->by, sizeof fx->by, "%s", gr->worker);
      fx->day = days[i];
      fx->grid = (uint32_t)g;
      fx->had_finding = finding != F_NONE || extra >= 0;
    }
    if ((err = rec_end(s, 1 + g)) != GS_OK)
      break;
    s->res->visits++;
  }
  free(days);
  return err;
}

/* ------------------------------------------------------------------ */
/* Meetings and their action items.                                     */

/* Link appeals of the meeting's grid (any, for the community's) on its
 * topics, opened in the 60 days before it and not resolved by then (three
 * at most, drawn evenly), and those opened at it. */
static void meeting_link(seeder *s, size_t mi)
{
  m_meeting *m = &s->meetings[mi];
  uint32_t pick[3];
  size_t np = 0, cand = 0;
  m->nappeals = 0;
  for (size_t i = 0; i < s->nappeals; i++) {
    const m_appeal *a = &s->appeals[i];
    if (a->meeting == (int32_t)mi) {
      if (m->nappeals < MEETING_APPEALS - 3)
        m->appeals[m->nappeals++] = (uint32_t)i;
      continue;
    }
    if ((m->grid >= 0 && a->grid != (uint32_t)m->grid) ||
        a->opened > m->day || a->opened < m->day - 60 ||
        (a->resolved >= 0 && a->resolved <= m->day))
      continue;
    bool fits = false;
    for (unsigned k = 0; k < m->ntopics; k++)
      fits = fits || topics[m->topics[k]].cat == a->cat;
    if (!fits)
      continue;
    cand++;
    if (np < 3)
      pick[np++] = (uint32_t)i;
    else {
      uint32_t j = below(&s->r, (uint32_t)cand);
      if (j < 3)
        pick[j] = (uint32_t)i;
    }
  }
  for (size_t k = 0; k < np; k++)
    m->appeals[m->nappeals++] = pick[k];
}

static gs_err write_meeting(seeder *s, size_t mi)
{
  const m_meeting *m = &s->meetings[mi];
  size_t sc = m->grid >= 0 ? 1 + (size_t)m->grid : 0;
  const char *kind_title = meeting_titles[m->kind];
  const topic *t0 = &topics[m->topics[0]];
  gs_err err;

  rec_begin(s, "meeting", m->id);
  rec_str(s, "kind", "%s", meeting_kinds[m->kind]);
  if (m->kind == MK_NEIGHBOURS && m->grid >= 0)
    rec_str(s, "title", "%u号楼%s：%s", m->building + 1, kind_title,
            t0->name);
  else
    rec_str(s, "title", "%s：%s", kind_title, t0->name);
  rec_date(s, "date", m->day);
  if (m->grid < 0)
    rec_str(s, "place", "社区党群服务中心会议室");
  else {
    unsigned p = below(&s->r, 3);
    if (p == 0)
      rec_str(s, "place", "社区党群服务中心议事厅");
    else if (p == 1)
      rec_str(s, "place", "%u号楼下小广场", m->building + 1);
    else
      rec_str(s, "place", "物业服务站会议室");
  }
  /* who came */
  if (m->grid >= 0) {
    const m_grid *gr = &s->grids[m->grid];
    rec_add(s, "participants", "%s（网格员）", gr->worker);
    for (uint32_t b = gr->b0; b < gr->b1 && b < gr->b0 + 3; b++)
      if (s->buildings[b].leader >= 0)
        rec_add(s, "participants", "%s（楼栋长）",
                s->residents[s->buildings[b].leader].name);
  } else {
    for (size_t g = 0; g < s->ngrids && g < 4; g++)
      rec_add(s, "participants", "%s（网格员）", s->grids[g].worker);
  }
  unsigned nu = m->kind == MK_FOUR_PARTY ? 3 : 1 + below(&s->r, 2);
  for (unsigned k = 0; k < nu; k++) {
    int u = claimer(s, topics[m->topics[k % m->ntopics]].cat, 0.0);
    if (u >= 0) {
      rec_add(s, "participants", "%s（%s）", s->units[u].contact,
              unit_defs[u].name);
      rec_add_ref(s, "attendees", "unit", s->units[u].id);
    }
  }
  /* issue 16: who called it */
  if (m->grid >= 0 && s->buildings[m->building].leader >= 0 &&
      m->kind == MK_NEIGHBOURS)
    rec_ref(s, "convener", "resident",
            s->residents[s->buildings[m->building].leader].id);
  else
    rec_ref(s, "convener", "unit", s->units[0].id);
  uint32_t r0 = m->grid >= 0 ? s->grids[m->grid].r0 : 0;
  uint32_t r1 = m->grid >= 0 ? s->grids[m->grid].r1
                             : (uint32_t)s->nresidents;
  unsigned nres = 2 + below(&s->r, 4);
  for (unsigned k = 0; k < nres; k++) {
    const m_resident *p = &s->residents[r0 + below(&s->r, r1 - r0)];
    if (age_of(s, p) >= 18)
      rec_add(s, "participants", "%s（居民代表）", p->name);
  }
  for (unsigned k = 0; k < m->ntopics; k++)
    rec_add(s, "topics", "%s", topics[m->topics[k]].name);
  for (unsigned k = 0; k < m->nappeals; k++)
    rec_add_ref(s, "appeals", "appeal", s->appeals[m->appeals[k]].id);
  for (unsigned k = 0; k < m->ntopics; k++)
    rec_add(s, "decisions", "%s", topics[m->topics[k]].decision);
  if (chance(&s->r, 0.4))
    rec_add(s, "decisions", "下次会议听取落实情况汇报");
  if ((err = rec_end(s, sc)) != GS_OK)
    return err;
  s->res->meetings++;

  /* one to four action items from its topics */
  const char *whats[9];
  unsigned cats[9], nw = 0;
  for (unsigned k = 0; k < m->ntopics; k++)
    for (unsigned j = 0; j < 3; j++)
      if (topics[m->topics[k]].tasks[j]) {
        whats[nw] = topics[m->topics[k]].tasks[j];
        cats[nw++] = topics[m->topics[k]].cat;
      }
  unsigned ntasks = 1 + below(&s->r, 4);
  if (ntasks > nw)
    ntasks = nw;
  for (unsigned k = 0; k < ntasks; k++) {
    unsigned j = k + below(&s->r, nw - k); /* a partial shuffle */
    const char *w = whats[j];
    unsigned c = cats[j];
    whats[j] = whats[k];
    cats[j] = cats[k];
    whats[k] = w;
    cats[k] = c;

    uint8_t id[CRDT_ID_LEN];
    new_id(s, (uint64_t)m->day * DAY_MS + 36000000ULL + k, id);
    int32_t due = m->day + between(&s->r, 7, 30);
    int32_t claimed = chance(&s->r, 0.08)
                          ? INT32_MAX
                          : m->day + (int32_t)below(&s->r, 6);
    int32_t done = claimed == INT32_MAX
                       ? INT32_MAX
                       : claimed + between(&s->r, 1, due - claimed + 7);
    if (chance(&s->r, 0.05))
      done = INT32_MAX; /* never finished */
    rec_begin(s, "task", id);
    if (m->grid >= 0)
      rec_str(s, "what", "%u号楼：%s", m->building + 1, w);
    else
      rec_str(s, "what", "%s", w);
    rec_ref(s, "meeting", "meeting", m->id);
    if (m->nappeals && chance(&s->r, 0.5))
      rec_ref(s, "appeal", "appeal",
              s->appeals[m->appeals[below(&s->r, m->nappeals)]].id);
    rec_date(s, "due", due);
    rec_str(s, "kind", "decision"); /* each with the unit responsible */
    if (claimed <= s->until) {
      int who = claimer(s, c, 0.3);
      rec_claimer(s, "unit", who);
      if (who >= 0)
        rec_add_ref(s, "claimants", "unit", s->units[who].id);
      else
        rec_add_ref(s, "claimants", "team", s->teams[-1 - who].id);
    }
    if (done <= s->until) {
      rec_str(s, "status", "done");
      rec_date(s, "done", done);
    } else {
      rec_str(s, "status", "%s", claimed <= s->until ? "claimed" : "open");
    }
    if ((err = rec_end(s, sc)) != GS_OK)
      return err;
    s->res->tasks++;
  }
  return GS_OK;
}

/* ------------------------------------------------------------------ */
/* The time bank: each volunteer's entries in date order; a spend never */
/* takes more than the account holds at that day.                       */

static gs_err write_timebank(seeder *s)
{
  size_t nvol = 0;
  for (size_t i = 0; i < s->nresidents; i++)
    nvol += (s->residents[i].tags & (1u << T_VOLUNTEER)) != 0;
  if (nvol == 0 || s->ntimebank == 0)
    return GS_OK;
  uint32_t *vol = calloc(nvol, sizeof *vol);
  double *w = calloc(nvol, sizeof *w);
  int32_t *days = calloc(YEAR_DAYS, sizeof *days);
  gs_err err = GS_ENOMEM;
  if (!vol || !w || !days)
    goto out;
  double wsum = 0;
  for (size_t i = 0, k = 0; i < s->nresidents; i++)
    if (s->residents[i].tags & (1u << T_VOLUNTEER)) {
      vol[k] = (uint32_t)i;
      w[k] = (0.3 + unit(&s->r)) * (chance(&s->r, 0.1) ? 4.0 : 1.0);
      wsum += w[k++];
    }
  static const uint16_t dep_w[] = {10, 30, 15, 25, 10, 6, 4};
  static const int64_t dep_h[] = {50, 100, 150, 200, 300, 400, 250};
  static const int64_t spend_h[] = {50, 100, 100, 150, 200, 300};
  double acc = 0;
  size_t before = 0;
  err = GS_OK;
  for (size_t v = 0; v < nvol && !err; v++) {
    acc += w[v];
    size_t upto = v + 1 == nvol ? s->ntimebank
                                : (size_t)((double)s->ntimebank * acc / wsum +
                                           0.5);
    size_t k = upto > before ? upto - before : 0;
    before = upto > before ? upto : before;
    if (k > YEAR_DAYS)
      k = YEAR_DAYS;
    /* k distinct days: a partial shuffle of the year */
    for (int32_t d = 0; d < YEAR_DAYS; d++)
      days[d] = s->start + d;
    for (size_t j = 0; j < k; j++) {
      size_t x = j + below(&s->r, (uint32_t)(YEAR_DAYS - j));
      int32_t tmp = days[j];
      days[j] = days[x];
      days[x] = tmp;
    }
    qsort(days, k, sizeof *days, cmp_i32);

    const m_resident *p = &s->residents[vol[v]];
    const m_household *hh = &s->households[p->household];
    uint32_t g = s->buildings[hh->building].grid;
    const team_def *td = p->team >= 0 ? &team_defs[p->team] : NULL;
    int64_t balance = 0;
    uint8_t last_dep[CRDT_ID_LEN];
    int32_t last_dep_day = -1;
    for (size_t j = 0; j < k && !err; j++) {
      uint8_t id[CRDT_ID_LEN];
      day_id_owned(s, days[j], id);
      rec_begin(s, "timebank", id);
      rec_ref(s, "person", "resident", p->id);
      if (balance >= 50 && chance(&s->r, 0.22)) {
        int64_t h = spend_h[below(&s->r, N(spend_h))];
        if (h > balance)
          h = balance - balance % 50;
        unsigned sp = below(&s->r, N(spends));
        rec_str(s, "kind", "spend");
        rec_hours(s, "hours", h);
        rec_str(s, "service", "%s", service_names[spends[sp].service]);
        rec_str(s, "note", "%s", spends[sp].note);
        if (spends[sp].service == SV_OTHER && sp == N(spends) - 1) {
          static const char *const goods[] = {"大米一袋", "食用油一桶",
                                              "洗衣液两瓶", "鸡蛋一箱"};
          rec_str(s, "goods", "%s", goods[below(&s->r2, N(goods))]);
          rec_ref(s, "sponsor", "unit", s->units[14].id); /* 华联超市 */
        }
        balance -= h;
      } else {
        int64_t h = dep_h[weighted(&s->r, dep_w, N(dep_w))];
        unsigned sv = td ? td->services[below(&s->r, 2)]
                         : below(&s->r, SV_COUNT);
        rec_str(s, "kind", "deposit");
        rec_hours(s, "hours", h);
        rec_str(s, "service", "%s", service_names[sv]);
        rec_str(s, "note", "%s", service_notes[sv][below(&s->r, 3)]);
        if ((sv == SV_ERRAND || sv == SV_COMPANY || sv == SV_CLEANING ||
             sv == SV_HEALTH) &&
            chance(&s->r2, 0.7)) {
          const m_grid *gr = &s->grids[g];
          const m_household *to =
              &s->households[gr->h0 + below(&s->r2, gr->h1 - gr->h0)];
          rec_ref(s, "served", "resident", s->residents[to->r0].id);
        }
        memcpy(last_dep, id, CRDT_ID_LEN);
        last_dep_day = days[j];
        balance += h;
      }
      rec_date(s, "date", days[j]);
      rec_str(s, "by", "%s", s->grids[g].worker);
      if ((err = rec_end(s, 1 + g)) != GS_OK)
        break;
      s->res->timebank++;
    }
    /* issue 16: now and then a deposit recorded short is corrected on a
     * later day of its own (a correction adds, so no account goes below
     * zero) */
    if (!err && last_dep_day >= 0 && chance(&s->r2, 0.05)) {
      int32_t d = last_dep_day + 1;
      for (size_t j = 0; j < k && d <= s->until; j++)
        if (days[j] == d)
          d++;
      if (d <= s->until) {
        uint8_t id[CRDT_ID_LEN];
        day_id2_owned(s, d, id);
        rec_begin(s, "timebank", id);
        rec_ref(s, "person", "resident", p->id);
        rec_str(s, "kind", "adjust");
        rec_hours(s, "hours", 50 * (1 + (int64_t)below(&s->r2, 2)));
        rec_ref(s, "corrects", "timebank", last_dep);
        rec_date(s, "date", d);
        rec_str(s, "by", "%s", s->grids[g].worker);
        rec_str(s, "note", "补录：实际服务时长比登记的多");
        if ((err = rec_end(s, 1 + g)) != GS_OK)
          break;
        s->res->timebank++;
      }
    }
  }
out:
  free(vol);
  free(w);
  free(days);
  return err;
}

/* ------------------------------------------------------------------ */
/* Issue 16: moves, squads, corrections, micro-wishes, the co-building   */
/* list, the offices' tallies, in-service party members. Drawn from the  */
/* second streams.                                                       */

/* Choose who moves to another grid (before the registry is written: the
 * old record names its continuation). */
static gs_err model_moves(seeder *s)
{
  if (s->ngrids < 2)
    return GS_OK;
  size_t want = s->nresidents / 300 + 1;
  if (!(s->moves = calloc(want, sizeof *s->moves)))
    return GS_ENOMEM;
  for (size_t tries = 0; s->nmoves < want && tries < want * 20; tries++) {
    uint32_t r = below(&s->r2, (uint32_t)s->nresidents);
    const m_resident *p = &s->residents[r];
    if ((p->tags & (1u << T_VOLUNTEER)) || age_of(s, p) < 18 ||
        move_of(s, r))
      continue;
    uint32_t g = s->buildings[s->households[p->household].building].grid;
    uint32_t tg = (g + 1 + below(&s->r2, (uint32_t)s->ngrids - 1)) %
                  (uint32_t)s->ngrids;
    const m_grid *to = &s->grids[tg];
    m_move *mv = &s->moves[s->nmoves++];
    mv->resident = r;
    mv->household = to->h0 + below(&s->r2, to->h1 - to->h0);
    mv->day = s->until - between(&s->r2, 5, 60);
    mv->reason = (uint8_t)below(&s->r2, N(move_reasons));
    new_id2(s, (uint64_t)mv->day * DAY_MS + 36000000ULL, mv->id);
  }
  return GS_OK;
}

static gs_err write_moves(seeder *s)
{
  gs_err err = GS_OK;
  for (size_t i = 0; i < s->nmoves && !err; i++) {
    const m_move *mv = &s->moves[i];
    const m_resident *p = &s->residents[mv->resident];
    const m_household *hh = &s->households[mv->household];
    uint32_t g = s->buildings[hh->building].grid;
    rec_begin(s, "resident", mv->id);
    rec_str(s, "name", "%s", p->name);
    rec_str(s, "gender", "%s", p->female ? "女" : "男");
    rec_int(s, "birth_year", p->birth);
    if (p->phone[0])
      rec_str(s, "phone", "%s", p->phone);
    rec_ref(s, "household", "household", hh->id);
    rec_str(s, "building", "%u号楼", hh->building + 1);
    rec_str(s, "unit", "%u", hh->unit);
    rec_str(s, "room", "%u", hh->room);
    for (int t = 0; t < T_COUNT; t++)
      if (p->tags & (1u << t))
        rec_add(s, "tags", "%s", tag_names[t]);
    rec_ref(s, "moved_from", "resident", p->id);
    if ((err = rec_end(s, 1 + g)) == GS_OK) {
      s->res->residents++;
      s->res->moved++;
    }
  }
  return err;
}

/* The 119 self-management squad of each building, and 天天敲门组. */
static gs_err write_squads(seeder *s)
{
  gs_err err;
  static const char *const roles[] = {"物业保安", "物业电工", "消防站联络员"};
  static const char *const given[] = {"张师傅", "刘师傅", "王师傅", "赵师傅"};
  for (size_t b = 0; b < s->nbuildings; b++) {
    const m_building *bd = &s->buildings[b];
    uint8_t id[CRDT_ID_LEN];
    new_id2(s, s->base_ms, id);
    s->base_ms += 1000;
    rec_begin(s, "team", id);
    rec_str(s, "name", "%zu号楼119自管小组", b + 1);
    rec_str(s, "kind", "fire-squad");
    rec_ref(s, "building", "building", bd->id);
    rec_str(s, "purpose", "楼栋消防自查、初起火灾处置、疏散引导");
    if (bd->leader >= 0)
      rec_ref(s, "leader", "resident", s->residents[bd->leader].id);
    for (int k = 0; k < 3 && bd->h1 > bd->h0; k++) {
      const m_household *hh =
          &s->households[bd->h0 + below(&s->r2, bd->h1 - bd->h0)];
      const m_resident *p = &s->residents[hh->r0];
      if (age_of(s, p) >= 18 && age_of(s, p) < 75)
        rec_add_ref(s, "members", "resident", p->id);
    }
    char ph[12];
    phone2(s, ph);
    rec_add(s, "outsiders", "%s %s %s", roles[below(&s->r2, N(roles))],
            given[below(&s->r2, N(given))], ph);
    if ((err = rec_end(s, 1 + bd->grid)) != GS_OK)
      return err;
    s->res->teams++;
  }
  rec_begin(s, "team", s->knock_team);
  rec_str(s, "name", "天天敲门组");
  rec_str(s, "kind", "door-knocking");
  rec_str(s, "purpose", "每天敲门看望独居和高龄老人");
  for (size_t t = 0; t < N(team_defs); t++)
    if (s->teams[t].n && (t == 1 || t == 7)) /* 助老, 健康守护 */
      rec_add_ref(s, "members", "resident",
                  s->residents[s->teams[t].members[0]].id);
  rec_add(s, "outsiders", "社区民警 李警官 110");
  if ((err = rec_end(s, 0)) != GS_OK)
    return err;
  s->res->teams++;
  return GS_OK;
}

static gs_err write_fixes(seeder *s)
{
  for (size_t i = 0; i < s->nfixes; i++) {
    const m_fix *fx = &s->fixes[i];
    uint8_t id[CRDT_ID_LEN];
    day_id2_owned(s, fx->day, id);
    rec_begin(s, "visit", id);
    rec_str(s, "by", "%s", fx->by);
    rec_date(s, "date", fx->day);
    rec_ref(s, "household", "household", fx->household);
    rec_ref(s, "resident", "resident", fx->resident);
    rec_ref(s, "corrects", "visit", fx->id);
    if (fx->had_finding) {
      rec_str(s, "notes", "更正：经复核，情况已当场处理，无异常");
      rec_add(s, "findings", "none");
    } else {
      rec_str(s, "notes", "补记：楼道堆放杂物，存在消防隐患");
      rec_add(s, "findings", "fire-hazard");
      rec_add(s, "followups", "已督促清理楼道杂物");
    }
    gs_err err = rec_end(s, 1 + fx->grid);
    if (err)
      return err;
    s->res->visits++;
  }
  return GS_OK;
}

static const char *const wish_texts[] = {
    "楼道装一盏声控灯",     "想要一台收音机听戏",   "希望有人教用智能手机",
    "孩子想要一套课外书",   "想换一个新的助行器",   "冬天想要一床厚棉被",
    "希望有人帮忙修好轮椅", "想给老伴过一次生日",
};

static gs_err write_wishes(seeder *s, size_t count)
{
  static const int helpers[] = {14, 15, 12, 13, 16}; /* companies, orgs */
  static const char *const donors[] = {"华联超市清河店", "爱心人士王女士",
                                       "清河小学家委会", "匿名捐赠"};
  for (size_t i = 0; i < count; i++) {
    uint32_t h = below(&s->r2, (uint32_t)s->nhouseholds);
    const m_household *hh = &s->households[h];
    uint32_t g = s->buildings[hh->building].grid;
    int32_t opened = s->start + (int32_t)below(&s->r2, YEAR_DAYS);
    uint8_t id[CRDT_ID_LEN];
    day_id2(s, opened, id);
    rec_begin(s, "appeal", id);
    rec_str(s, "category", "micro-wish");
    rec_str(s, "description", "%s", wish_texts[below(&s->r2, N(wish_texts))]);
    rec_ref(s, "resident", "resident", s->residents[hh->r0].id);
    rec_ref(s, "household", "household", hh->id);
    rec_str(s, "opened_by", "%s", s->grids[g].worker);
    rec_date(s, "opened", opened);
    rec_str(s, "source", "%s", chance(&s->r2, 0.5) ? "visit" : "walk-in");
    /* who fulfils it: a unit, a team or a volunteer */
    unsigned w = below(&s->r2, 3);
    int unit = helpers[below(&s->r2, N(helpers))];
    if (w == 0)
      rec_ref(s, "fulfiller", "unit", s->units[unit].id);
    else if (w == 1)
      rec_ref(s, "fulfiller", "team", s->teams[1].id);
    else if (s->teams[1].n)
      rec_ref(s, "fulfiller", "resident",
              s->residents[s->teams[1].members[below(
                  &s->r2, (uint32_t)s->teams[1].n)]].id);
    if (chance(&s->r2, 0.5))
      rec_str(s, "donor", "%s", donors[below(&s->r2, N(donors))]);
    int32_t resolved = opened + between(&s->r2, 3, 20);
    if (resolved + 2 <= s->until) {
      rec_str(s, "status", "closed");
      rec_date(s, "accepted", opened);
      rec_date(s, "assigned", opened + 1);
      if (w == 0)
        rec_ref(s, "assignee", "unit", s->units[unit].id);
      else
        rec_ref(s, "assignee", "team", s->teams[1].id);
      rec_date(s, "resolved", resolved);
      rec_date(s, "closed", resolved + 2);
      rec_str(s, "feedback", "satisfied");
      rec_str(s, "note", "心愿已实现");
    } else {
      rec_str(s, "status", "accepted");
      rec_date(s, "accepted", opened);
    }
    gs_err err = rec_end(s, 1 + g);
    if (err)
      return err;
    s->res->appeals++;
    s->res->wishes++;
  }
  return GS_OK;
}

/* The year's co-building list (共建清单), in the community's scope. */
static gs_err write_cobuild(seeder *s)
{
  static const struct {
    const char *what, *resources;
    int cost; /* yuan; 0: none */
    int units[3];
  } items[] = {
      {"老旧小区楼道照明改造", "物业出人工，供电站出材料", 18000, {0, 8, -1}},
      {"独居老人助餐服务", "每周三次送餐上门", 0, {13, 14, -1}},
      {"青少年暑期托管班", "学校提供教室和志愿教师", 0, {2, 12, -1}},
      {"电动车集中充电棚建设", NULL, 56000, {17, 0, 5}},
      {"法律咨询进社区", "每月一次律师坐班", 0, {19, 6, -1}},
      {"社区义诊和健康讲座", "每季度一次", 3000, {1, -1, -1}},
  };
  for (size_t i = 0; i < N(items); i++) {
    uint8_t id[CRDT_ID_LEN];
    new_id2(s, s->base_ms, id);
    s->base_ms += 1000;
    rec_begin(s, "task", id);
    rec_str(s, "what", "%s", items[i].what);
    rec_str(s, "kind", "co-building");
    rec_int(s, "year", s->year);
    if (items[i].cost)
      rec_int(s, "cost", items[i].cost);
    if (items[i].resources)
      rec_str(s, "resources", "%s", items[i].resources);
    rec_ref(s, "unit", "unit", s->units[items[i].units[0]].id);
    for (int k = 0; k < 3 && items[i].units[k] >= 0; k++)
      rec_add_ref(s, "claimants", "unit", s->units[items[i].units[k]].id);
    bool done = chance(&s->r2, 0.5);
    rec_str(s, "status", done ? "done" : "claimed");
    if (done)
      rec_date(s, "done", s->until - between(&s->r2, 1, 200));
    gs_err err = rec_end(s, 0);
    if (err)
      return err;
    s->res->tasks++;
  }
  return GS_OK;
}

/* Each grid's month: lectures, activities, errands run by staff, now
 * and then a theft or a fight stopped. */
static gs_err write_activities(seeder *s)
{
  static const char *const lectures[] = {"防范电信诈骗讲座", "消防安全知识讲座",
                                         "老年人健康养生讲座",
                                         "垃圾分类知识讲座"};
  static const char *const acts[] = {"邻里百家宴", "重阳节敬老活动",
                                     "社区文艺演出", "亲子读书会",
                                     "义务理发"};
  for (size_t g = 0; g < s->ngrids; g++)
    for (int m = 0; m < 12; m++) {
      int32_t base = s->start + m * 30;
      struct {
        const char *kind, *title;
        int lo, hi;
        double p;
      } k[] = {
          {"lecture", lectures[below(&s->r2, N(lectures))], 15, 60, 0.5},
          {"activity", acts[below(&s->r2, N(acts))], 20, 120, 0.6},
          {"errand", "工作人员为居民代办事项", 2, 15, 0.9},
          {"theft-stopped", "巡逻中制止盗窃电动车电瓶", 1, 1, 0.08},
          {"fight-stopped", "制止邻里冲突并调解", 1, 1, 0.08},
      };
      for (size_t j = 0; j < N(k); j++) {
        if (!chance(&s->r2, k[j].p))
          continue;
        int32_t day = base + (int32_t)below(&s->r2, 30);
        if (day > s->until)
          continue;
        uint8_t id[CRDT_ID_LEN];
        day_id2(s, day, id);
        rec_begin(s, "activity", id);
        rec_str(s, "kind", "%s", k[j].kind);
        rec_str(s, "title", "%s", k[j].title);
        rec_date(s, "date", day);
        rec_int(s, "count", between(&s->r2, k[j].lo, k[j].hi));
        if (j == 0)
          rec_ref(s, "organizer", "unit", s->units[12].id);
        else if (j == 3)
          rec_ref(s, "organizer", "team", s->teams[0].id);
        rec_str(s, "place", "%s", j < 2 ? "社区党群服务中心" : "本网格");
        gs_err err = rec_end(s, 1 + g);
        if (err)
          return err;
        s->res->activities++;
      }
    }
  return GS_OK;
}

/* In-service party members reporting to the community (双报到). */
static gs_err write_party(seeder *s)
{
  static const int employers[] = {1, 2, 4, 8, 16};
  static const char *const whats[] = {"参加楼道清扫", "为老人代购药品",
                                      "参与夜间巡逻", "辅导孩子功课",
                                      "参与垃圾分类督导"};
  for (size_t r = 0; r < s->nresidents; r++) {
    const m_resident *p = &s->residents[r];
    int age = age_of(s, p);
    if (!(p->tags & (1u << T_PARTY)) || age < 25 || age > 60 ||
        !chance(&s->r2, 0.35))
      continue;
    uint32_t g = s->buildings[s->households[p->household].building].grid;
    int emp = employers[below(&s->r2, N(employers))];
    unsigned months = 2 + below(&s->r2, 5);
    for (unsigned k = 0; k < months; k++) {
      int32_t day = s->until - (int32_t)(k * 30 + below(&s->r2, 20));
      if (day < s->start)
        break;
      char t[11];
      day_text(day, t);
      uint8_t id[CRDT_ID_LEN];
      day_id2(s, day, id);
      rec_begin(s, "party_report", id);
      rec_ref(s, "member", "resident", p->id);
      rec_ref(s, "employer", "unit", s->units[emp].id);
      rec_str(s, "month", "%.7s", t);
      rec_str(s, "what", "%s", whats[below(&s->r2, N(whats))]);
      rec_int(s, "hours", between(&s->r2, 2, 4));
      gs_err err = rec_end(s, 1 + g);
      if (err)
        return err;
      s->res->party_reports++;
    }
  }
  return GS_OK;
}

/* Companies deposit their staff's hours into the time bank too. */
static gs_err write_unit_hours(seeder *s)
{
  static const int companies[] = {14, 16};
  for (size_t i = 0; i < N(companies); i++)
    for (int k = 0; k < 4; k++) {
      int32_t day = s->start + 40 + k * 80 + (int32_t)i * 7;
      if (day > s->until)
        break;
      uint8_t id[CRDT_ID_LEN];
      day_id2_owned(s, day, id);
      rec_begin(s, "timebank", id);
      rec_ref(s, "person", "unit", s->units[companies[i]].id);
      rec_str(s, "kind", "deposit");
      rec_hours(s, "hours", 100 * between(&s->r2, 4, 12));
      rec_str(s, "service", "cleaning");
      rec_date(s, "date", day);
      rec_str(s, "note", "企业志愿者集体服务");
      /* where the company's record is (the community): a time-bank entry
       * goes in its person's scope or above, or every node holding only a
       * grid would hold it, and all of this node's later changes */
      gs_err err = rec_end(s, 0);
      if (err)
        return err;
      s->res->timebank++;
    }
  return GS_OK;
}

static size_t scaled(size_t total, unsigned h, size_t min);

static gs_err write_issue16(seeder *s)
{
  gs_err err;
  size_t wishes = scaled(40, (unsigned)s->nhouseholds, 2);
  if ((err = write_moves(s)) != GS_OK || (err = write_squads(s)) != GS_OK ||
      (err = write_fixes(s)) != GS_OK ||
      (err = write_wishes(s, wishes)) != GS_OK ||
      (err = write_cobuild(s)) != GS_OK ||
      (err = write_activities(s)) != GS_OK ||
      (err = write_party(s)) != GS_OK || (err = write_unit_hours(s)) != GS_OK)
    return err;
  return GS_OK;
}

/* ------------------------------------------------------------------ */

/* round(total * h / DEF_HOUSEHOLDS), at least min. */
static size_t scaled(size_t total, unsigned h, size_t min)
{
  size_t v = (size_t)(((uint64_t)total * h * 2 + DEF_HOUSEHOLDS) /
                      (2 * DEF_HOUSEHOLDS));
  return v < min ? min : v;
}

static gs_err parse_until(node *n, const char *text, int32_t *day)
{
  if (!text) {
    time_t t = (time_t)(node_now(n) / 1000);
    struct tm tm;
    if (!localtime_r(&t, &tm))
      return GS_EINVAL;
    *day = days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    return GS_OK;
  }
  if (!node_date_valid(text, strlen(text)))
    return GS_EINVAL;
  *day = days_from_civil(atoi(text), atoi(text + 5), atoi(text + 8));
  return GS_OK;
}

static void seeder_free(seeder *s)
{
  if (!s)
    return;
  node_batch_abort(s->b);
  for (size_t t = 0; t < N(team_defs); t++)
    free(s->teams[t].members);
  free(s->scopes);
  free(s->grids);
  free(s->buildings);
  free(s->households);
  free(s->residents);
  free(s->meetings);
  free(s->appeals);
  free(s->moves);
  free(s->fixes);
  free(s);
}

gs_err node_demo_seed(node *n, const node_seed_opts *o,
                      node_seed_result *res)
{
  node_seed_result local;
  seeder *s = NULL;
  const char *root = o && o->root ? o->root : DEF_ROOT;
  unsigned hh_total = o && o->households ? o->households : DEF_HOUSEHOLDS;
  size_t rl = strlen(root);
  char why[256];
  int y, m, d;
  gs_err err;

  if (!res)
    res = &local;
  memset(res, 0, sizeof *res);
  if (!n || !o || hh_total > MAX_HOUSEHOLDS) {
    err = GS_EINVAL;
    goto out;
  }
  if (!crdt_scope_valid(root, rl) || rl + 8 > CRDT_SCOPE_MAX) {
    err = GS_ESCOPE;
    goto out;
  }
  if (!(s = calloc(1, sizeof *s))) {
    err = GS_ENOMEM;
    goto out;
  }
  s->n = n;
  s->o = o;
  s->res = res;
  if ((err = parse_until(n, o->until, &s->until)) != GS_OK)
    goto out;
  s->start = s->until - (YEAR_DAYS - 1);
  if (s->start < days_from_civil(1970, 1, 2)) {
    err = GS_EINVAL; /* ids count milliseconds from 1970 */
    goto out;
  }
  civil_from_days(s->until, &y, &m, &d);
  s->year = y;
  s->base_ms = (uint64_t)(s->start - 1) * DAY_MS + 3600000ULL;
  rng_seed(&s->r, o->seed);
  rng_seed(&s->idr, o->seed ^ 0x6772696473796e63ULL); /* "gridsync" */
  rng_seed(&s->r2, o->seed ^ 0x6973737565313600ULL);   /* "issue16" */
  rng_seed(&s->idr2, o->seed ^ 0x6964733136000000ULL);

  /* the community in memory */
  if ((err = model_registry(s, hh_total)) != GS_OK)
    goto out;
  model_leaders(s);
  if ((err = model_units_teams(s)) != GS_OK ||
      (err = model_meetings(s, scaled(DEF_MEETINGS, hh_total, 2))) != GS_OK)
    goto out;
  s->cap_appeals = scaled(DEF_APPEALS, hh_total, 1);
  s->nvisits = scaled(DEF_VISITS, hh_total, 1);
  s->ntimebank = scaled(DEF_TIMEBANK, hh_total, 0);
  if (!(s->appeals = calloc(s->cap_appeals, sizeof *s->appeals))) {
    err = GS_ENOMEM;
    goto out;
  }
  s->nscopes = 1 + s->ngrids;
  if (!(s->scopes = calloc(s->nscopes, sizeof *s->scopes))) {
    err = GS_ENOMEM;
    goto out;
  }
  snprintf(s->scopes[0], sizeof s->scopes[0], "%s", root);
  for (size_t g = 0; g < s->ngrids; g++) {
    snprintf(s->scopes[1 + g], sizeof s->scopes[0], "%s/g%02zu", root, g + 1);
    if (!crdt_scope_valid(s->scopes[1 + g], strlen(s->scopes[1 + g]))) {
      err = GS_ESCOPE; /* too deep */
      goto out;
    }
  }
  s->total = 1 + s->ngrids + s->nbuildings + s->nhouseholds + s->nresidents +
             N(unit_defs) + N(team_defs) + s->nvisits + s->cap_appeals +
             s->nmeetings * 3 + s->ntimebank;

  if ((err = node_may_write(n, root, rl, why, sizeof why)) != GS_OK)
    goto out;
  if ((err = node_batch_begin(n, NODE_BATCH_IMPORT, &s->b)) != GS_OK)
    goto out;
  if (!(s->fixes = calloc(FIXES_MAX, sizeof *s->fixes)) ||
      (err = model_moves(s)) != GS_OK) {
    err = err ? err : GS_ENOMEM;
    goto out;
  }
  new_id2(s, s->base_ms - 500, s->knock_team);
  s->phase = "residents";
  progress(s);
  if ((err = write_registry(s)) != GS_OK)
    goto out;

  /* visits, grid by grid; about a third of the appeals come from them */
  s->phase = "visits";
  progress(s);
  double spawn = 0.35 * (double)s->cap_appeals / (double)s->nvisits;
  size_t vdone = 0;
  for (size_t g = 0; g < s->ngrids; g++) {
    size_t upto = (size_t)(((uint64_t)s->nvisits * s->grids[g].h1 * 2 +
                            s->nhouseholds) /
                           (2 * s->nhouseholds));
    if ((err = visits_of_grid(s, g, upto - vdone, spawn)) != GS_OK)
      goto out;
    vdone = upto;
  }

  /* the other appeals: phoned in, walked in, raised at a meeting */
  static const uint16_t src_w[] = {0, 8, 40, 35, 17};
  while (s->nappeals < s->cap_appeals) {
    unsigned src = weighted(&s->r, src_w, N(src_w));
    unsigned cat = weighted(&s->r, cat_w, C_COUNT);
    int32_t mi = -1, day;
    uint32_t h;
    if (src == S_MEETING && s->nmeetings) {
      mi = (int32_t)below(&s->r, (uint32_t)s->nmeetings);
      if (s->meetings[mi].grid < 0)
        mi = -1;
    }
    if (src == S_MEETING && mi < 0)
      src = S_WALKIN;
    if (mi >= 0) {
      const m_grid *gr = &s->grids[s->meetings[mi].grid];
      h = some_household(s, gr->h0, gr->h1);
      day = s->meetings[mi].day;
    } else {
      h = some_household(s, 0, (uint32_t)s->nhouseholds);
      day = work_day(s);
    }
    m_appeal *a = appeal_new(s, h, cat, day, src);
    if (a)
      a->meeting = mi;
  }
  for (size_t i = 0; i < s->nappeals; i++)
    appeal_course(s, &s->appeals[i]);
  s->phase = "appeals";
  progress(s);
  for (size_t g = 0; g < s->ngrids; g++)
    for (size_t i = 0; i < s->nappeals; i++)
      if (s->appeals[i].grid == g &&
          (err = write_appeal(s, &s->appeals[i])) != GS_OK)
        goto out;

  s->phase = "meetings";
  progress(s);
  for (size_t i = 0; i < s->nmeetings; i++)
    meeting_link(s, i);
  for (size_t sc = 0; sc < s->nscopes; sc++)
    for (size_t i = 0; i < s->nmeetings; i++)
      if ((size_t)(s->meetings[i].grid + 1) == sc &&
          (err = write_meeting(s, i)) != GS_OK)
        goto out;

  s->phase = "time bank";
  progress(s);
  if ((err = write_timebank(s)) != GS_OK)
    goto out;
  s->phase = "activities";
  progress(s);
  if ((err = write_issue16(s)) != GS_OK)
    goto out;
  node_reason cw;
  err = node_batch_commit(s->b, &res->changes, &cw);
  s->b = NULL;
  if (err)
    goto out;
  s->total = s->done;
  s->phase = "done";
  progress(s);
out:
  if (err && res)
    memset(res, 0, sizeof *res);
  seeder_free(s);
  return err;
}
