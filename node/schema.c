/*
 * The domain schema (DESIGN.md section 8): what grid volunteers record,
 * as data. The CLI's domain commands and `put`/`load` check every local
 * write against it; received changes are not (see node.h).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "crdt/gs_i18n.h"
#include "node/node.h"
#include "node/schema.h"
#include "crdt/gs_i18n.h" /* issue 18 */

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define REQ NODE_F_REQUIRED

/* ---- allowed values ---- */

static const char *const genders[] = {"男", "女", NULL};
static const char *const resident_tags[] = {
    "elderly",  "lives-alone", "disabled",    "low-income", "floating",
    "party-member", "veteran", "child",       "special-care", "volunteer",
    "renter",   "unemployed",  NULL};
static const char *const categories[] = {
    "repair",       "safety", "environment", "dispute", "elderly-care",
    "parking-charging", "micro-wish", "other", NULL};
static const char *const appeal_status[] = {
    "open", "accepted", "assigned", "resolved", "closed", "reopened", NULL};
static const char *const sources[] = {"visit", "meeting", "phone",
                                      "walk-in", "other", NULL};
static const char *const feedbacks[] = {"satisfied", "unsatisfied", NULL};
static const char *const meeting_kinds[] = {
    "four-party", "round-table", "neighbours", "hearing", "other", NULL};
static const char *const task_status[] = {"open", "claimed", "done", NULL};
static const char *const findings[] = {
    "hazard", "dispute", "need",  "health", "none",        "fall",
    "fraud",  "stray-dog", "theft", "fire-hazard", NULL};
static const char *const tb_kinds[] = {"deposit", "spend", "adjust", NULL};
static const char *const services[] = {
    "errand",   "companionship", "cleaning", "repair", "patrol",
    "tutoring", "health",        "other",    NULL};
static const char *const resident_status[] = {"living", "moved-out",
                                             "moved", NULL};
static const char *const task_kinds[] = {"action", "decision", "co-building",
                                         NULL};
static const char *const team_kinds[] = {"fire-squad", "door-knocking",
                                         "patrol", "volunteer", "other",
                                         NULL};
static const char *const activity_kinds[] = {
    "lecture", "activity", "errand", "theft-stopped", "fight-stopped",
    "other", NULL};
static const char *const unit_kinds[] = {
    "property", "company", "school", "hospital", "government",
    "social-org", "other", NULL};

/* ---- collections ---- */

static const node_field grid_f[] = {
    {"name", NODE_F_TEXT, REQ, NULL, NULL, 0, 0, N_("the grid's name, e.g. 第七网格"), NULL},
    {"worker", NODE_F_TEXT, 0, NULL, NULL, 0, 0, N_("its grid worker"), NULL},
    {"phone", NODE_F_TEXT, 0, NULL, NULL, 0, 0, N_("the grid worker's phone"), NULL},
    {"note", NODE_F_TEXT, 0, NULL, NULL, 0, 0, NULL, NULL},
};

static const node_field building_f[] = {
    {"name", NODE_F_TEXT, REQ, NULL, NULL, 0, 0, N_("e.g. 3号楼"), NULL},
    {"grid", NODE_F_REF, 0, NULL, "grid", 0, 0, N_("the grid it is in"), NULL},
    {"units", NODE_F_INT, 0, NULL, NULL, 1, 50, N_("stairwells (单元)"), NULL},
    {"floors", NODE_F_INT, 0, NULL, NULL, 1, 200, NULL, NULL},
    {"built", NODE_F_INT, 0, NULL, NULL, 1900, 2100, N_("year built"), NULL},
    {"leader", NODE_F_TEXT, 0, NULL, NULL, 0, 0, N_("the building leader (楼栋长)"), NULL},
    {"phone", NODE_F_TEXT, 0, NULL, NULL, 0, 0, N_("the leader's phone"), NULL},
    {"note", NODE_F_TEXT, 0, NULL, NULL, 0, 0, NULL, NULL},
};

static const node_field household_f[] = {
    {"building", NODE_F_REF, REQ, NULL, "building", 0, 0, NULL, NULL},
    {"unit", NODE_F_TEXT, 0, NULL, NULL, 0, 0, N_("stairwell (单元)"), NULL},
    {"room", NODE_F_TEXT, REQ, NULL, NULL, 0, 0, N_("e.g. 302"), NULL},
    {"phone", NODE_F_TEXT, 0, NULL, NULL, 0, 0, NULL, NULL},
    {"size", NODE_F_INT, 0, NULL, NULL, 0, 50, N_("people living there"), NULL},
    {"note", NODE_F_TEXT, 0, NULL, NULL, 0, 0, NULL, NULL},
};

static const node_field resident_f[] = {
    {"name", NODE_F_TEXT, REQ, NULL, NULL, 0, 0, NULL, NULL},
    {"gender", NODE_F_ENUM, 0, genders, NULL, 0, 0, NULL, NULL},
    {"birth_year", NODE_F_INT, 0, NULL, NULL, 1900, 2100, NULL, NULL},
    {"phone", NODE_F_TEXT, 0, NULL, NULL, 0, 0, NULL, NULL},
    {"household", NODE_F_REF, 0, NULL, "household", 0, 0, NULL, NULL},
    {"building", NODE_F_TEXT, 0, NULL, NULL, 0, 0, N_("building name or number"), NULL},
    {"unit", NODE_F_TEXT, 0, NULL, NULL, 0, 0, NULL, NULL},
    {"room", NODE_F_TEXT, 0, NULL, NULL, 0, 0, NULL, NULL},
    {"tags", NODE_F_TAGS, 0, resident_tags, NULL, 0, 0, NULL, NULL},
    {"note", NODE_F_TEXT, 0, NULL, NULL, 0, 0, NULL, NULL},
    {"emergency_contact", NODE_F_TEXT, 0, NULL, NULL, 0, 0,
     N_("who to call in an emergency"), NULL},
    {"emergency_phone", NODE_F_TEXT, 0, NULL, NULL, 0, 0, NULL, NULL},
    {"passbook", NODE_F_TEXT, 0, NULL, NULL, 0, 0,
     N_("time-bank passbook number (储蓄卡)"), NULL},
    {"status", NODE_F_ENUM, 0, resident_status, NULL, 0, 0,
     N_("none: living here"), NULL},
    {"moved_out", NODE_F_DATE, 0, NULL, NULL, 0, 0, N_("date moved out"), NULL},
    {"move_reason", NODE_F_TEXT, 0, NULL, NULL, 0, 0, NULL, NULL},
    {"moved_to", NODE_F_REF, 0, NULL, "resident", 0, 0,
     N_("the record that continues it in another grid"), NULL},
    {"moved_from", NODE_F_REF, 0, NULL, "resident", 0, 0,
     N_("the record it continues"), NULL},
};

static const node_move resident_moves[] = {
    {"living", "moved-out", {"moved_out"}},
    {"moved-out", "living", {NULL}},
    {"living", "moved", {"moved_to", "moved_out"}},
};

static const node_field appeal_f[] = {
    {"category", NODE_F_ENUM, REQ, categories, NULL, 0, 0, NULL, NULL},
    {"description", NODE_F_TEXT, REQ, NULL, NULL, 0, 0, NULL, NULL},
    {"resident", NODE_F_REF, 0, NULL, "resident", 0, 0, N_("who asked"), NULL},
    {"household", NODE_F_REF, 0, NULL, "household", 0, 0, NULL, NULL},
    {"opened_by", NODE_F_TEXT, 0, NULL, NULL, 0, 0, N_("who recorded it"), NULL},
    {"opened", NODE_F_DATE, REQ, NULL, NULL, 0, 0, N_("date recorded"), NULL},
    {"source", NODE_F_ENUM, 0, sources, NULL, 0, 0, NULL, NULL},
    {"visit", NODE_F_REF, 0, NULL, "visit", 0, 0, NULL, NULL},
    {"meeting", NODE_F_REF, 0, NULL, "meeting", 0, 0, NULL, NULL},
    {"status", NODE_F_ENUM, REQ, appeal_status, NULL, 0, 0, NULL, NULL},
    {"assignee", NODE_F_REF, 0, NULL, "unit|team", 0, 0, N_("who does it"), NULL},
    {"accepted", NODE_F_DATE, 0, NULL, NULL, 0, 0, NULL, "opened"},
    {"assigned", NODE_F_DATE, 0, NULL, NULL, 0, 0, NULL, "opened"},
    {"resolved", NODE_F_DATE, 0, NULL, NULL, 0, 0, NULL, "opened"},
    {"closed", NODE_F_DATE, 0, NULL, NULL, 0, 0, NULL, "opened"},
    {"feedback", NODE_F_ENUM, 0, feedbacks, NULL, 0, 0, N_("the resident's"), NULL},
    {"note", NODE_F_TEXT, 0, NULL, NULL, 0, 0, NULL, NULL},
    {"fulfiller", NODE_F_REF, 0, NULL, "unit|team|resident", 0, 0,
     N_("who fulfils a micro-wish (a unit, team or volunteer)"), NULL},
    {"donor", NODE_F_TEXT, 0, NULL, NULL, 0, 0, N_("who gave it, where given"),
     NULL},
};

static const node_move appeal_moves[] = {
    {"open", "accepted", {"accepted"}},
    {"accepted", "assigned", {"assigned", "assignee"}},
    {"assigned", "resolved", {"resolved"}},
    {"resolved", "closed", {"closed"}},
    {"resolved", "reopened", {NULL}},
    {"closed", "reopened", {NULL}},
    {"reopened", "accepted", {"accepted"}},
    {"reopened", "assigned", {"assigned", "assignee"}},
};

static const node_field meeting_f[] = {
    {"kind", NODE_F_ENUM, REQ, meeting_kinds, NULL, 0, 0, NULL, NULL},
    {"title", NODE_F_TEXT, 0, NULL, NULL, 0, 0, NULL, NULL},
    {"date", NODE_F_DATE, REQ, NULL, NULL, 0, 0, NULL, NULL},
    {"place", NODE_F_TEXT, 0, NULL, NULL, 0, 0, NULL, NULL},
    {"participants", NODE_F_TEXTS, 0, NULL, NULL, 0, 0, NULL, NULL},
    {"topics", NODE_F_TEXTS, 0, NULL, NULL, 0, 0, NULL, NULL},
    {"appeals", NODE_F_REFS, 0, NULL, "appeal", 0, 0, N_("linked appeals"), NULL},
    {"decisions", NODE_F_TEXTS, 0, NULL, NULL, 0, 0,
     N_("as text (a decision with a unit responsible is a task)"), NULL},
    {"note", NODE_F_TEXT, 0, NULL, NULL, 0, 0, NULL, NULL},
    {"convener", NODE_F_REF, 0, NULL, "unit|resident|team", 0, 0, NULL, NULL},
    {"attendees", NODE_F_REFS, 0, NULL, "unit|resident|team", 0, 0,
     N_("participating units, residents and teams"), NULL},
};

static const node_field task_f[] = {
    {"what", NODE_F_TEXT, REQ, NULL, NULL, 0, 0, N_("the action item"), NULL},
    {"meeting", NODE_F_REF, 0, NULL, "meeting", 0, 0, N_("decided at"), NULL},
    {"appeal", NODE_F_REF, 0, NULL, "appeal", 0, 0, NULL, NULL},
    {"unit", NODE_F_REF, 0, NULL, "unit|team", 0, 0, N_("who claimed it"), NULL},
    {"due", NODE_F_DATE, 0, NULL, NULL, 0, 0, NULL, NULL},
    {"status", NODE_F_ENUM, REQ, task_status, NULL, 0, 0, NULL, NULL},
    {"done", NODE_F_DATE, 0, NULL, NULL, 0, 0, NULL, NULL},
    {"note", NODE_F_TEXT, 0, NULL, NULL, 0, 0, NULL, NULL},
    {"kind", NODE_F_ENUM, 0, task_kinds, NULL, 0, 0,
     N_("none: an action item"), NULL},
    {"year", NODE_F_INT, 0, NULL, NULL, 2000, 2100,
     N_("the year of a co-building list"), NULL},
    {"claimants", NODE_F_REFS, 0, NULL, "unit|team", 0, 0,
     N_("every unit that claimed it"), NULL},
    {"cost", NODE_F_NUM, 0, NULL, NULL, 0, 1e9, N_("yuan"), NULL},
    {"resources", NODE_F_TEXT, 0, NULL, NULL, 0, 0, N_("what is given"), NULL},
};

static const node_move task_moves[] = {
    {"open", "claimed", {"unit"}},
    {"claimed", "done", {"done"}},
    {"claimed", "open", {NULL}},
    {"done", "claimed", {"unit"}},
};

static const node_field visit_f[] = {
    {"by", NODE_F_TEXT, REQ, NULL, NULL, 0, 0, N_("who knocked"), NULL},
    {"date", NODE_F_DATE, REQ, NULL, NULL, 0, 0, NULL, NULL},
    {"household", NODE_F_REF, 0, NULL, "household", 0, 0, NULL, NULL},
    {"resident", NODE_F_REF, 0, NULL, "resident", 0, 0, NULL, NULL},
    {"notes", NODE_F_TEXT, 0, NULL, NULL, 0, 0, NULL, NULL},
    {"findings", NODE_F_TAGS, 0, findings, NULL, 0, 0, NULL, NULL},
    {"followups", NODE_F_TEXTS, 0, NULL, NULL, 0, 0, NULL, NULL},
    {"team", NODE_F_REF, 0, NULL, "team", 0, 0, N_("e.g. 天天敲门组"), NULL},
    {"visitors", NODE_F_REFS, 0, NULL, "resident|unit|team", 0, 0,
     N_("who else came"), NULL},
    {"companions", NODE_F_TEXTS, 0, NULL, NULL, 0, 0,
     N_("others by name: police, property staff"), NULL},
    {"corrects", NODE_F_REF, 0, NULL, "visit", 0, 0,
     N_("the author's own visit this corrects"), NULL},
};

static const node_field timebank_f[] = {
    {"person", NODE_F_REF, REQ, NULL, "resident|unit|team", 0, 0,
     N_("whose hours"), NULL},
    {"kind", NODE_F_ENUM, REQ, tb_kinds, NULL, 0, 0, NULL, NULL},
    {"hours", NODE_F_NUM, REQ, NULL, NULL, -10000, 10000,
     N_("deposit and spend: more than 0; adjust: either sign"), NULL},
    {"service", NODE_F_ENUM, 0, services, NULL, 0, 0, NULL, NULL},
    {"date", NODE_F_DATE, REQ, NULL, NULL, 0, 0, NULL, NULL},
    {"by", NODE_F_TEXT, 0, NULL, NULL, 0, 0, N_("who recorded it"), NULL},
    {"note", NODE_F_TEXT, 0, NULL, NULL, 0, 0, NULL, NULL},
    {"served", NODE_F_REF, 0, NULL, "resident", 0, 0, N_("the person served"),
     NULL},
    {"goods", NODE_F_TEXT, 0, NULL, NULL, 0, 0,
     N_("a spend: the donation or goods exchanged"), NULL},
    {"sponsor", NODE_F_REF, 0, NULL, "unit", 0, 0,
     N_("the unit that sponsored it"), NULL},
    {"corrects", NODE_F_REF, 0, NULL, "timebank", 0, 0,
     N_("an adjust: the entry it corrects (its hours count net)"), NULL},
};

static const node_field team_f[] = {
    {"name", NODE_F_TEXT, REQ, NULL, NULL, 0, 0, NULL, NULL},
    {"leader", NODE_F_REF, 0, NULL, "resident", 0, 0, NULL, NULL},
    {"members", NODE_F_REFS, 0, NULL, "resident", 0, 0, NULL, NULL},
    {"purpose", NODE_F_TEXT, 0, NULL, NULL, 0, 0, NULL, NULL},
    {"note", NODE_F_TEXT, 0, NULL, NULL, 0, 0, NULL, NULL},
    {"kind", NODE_F_ENUM, 0, team_kinds, NULL, 0, 0, NULL, NULL},
    {"building", NODE_F_REF, 0, NULL, "building", 0, 0,
     N_("a building's own squad"), NULL},
    {"outsiders", NODE_F_TEXTS, 0, NULL, NULL, 0, 0,
     N_("members who are no residents: \"NAME PHONE\""), NULL},
    {"passbook", NODE_F_TEXT, 0, NULL, NULL, 0, 0, NULL, NULL},
};

static const node_field unit_f[] = {
    {"name", NODE_F_TEXT, REQ, NULL, NULL, 0, 0, NULL, NULL},
    {"kind", NODE_F_ENUM, 0, unit_kinds, NULL, 0, 0, NULL, NULL},
    {"contact", NODE_F_TEXT, 0, NULL, NULL, 0, 0, N_("a person to call"), NULL},
    {"phone", NODE_F_TEXT, 0, NULL, NULL, 0, 0, NULL, NULL},
    {"note", NODE_F_TEXT, 0, NULL, NULL, 0, 0, NULL, NULL},
    {"passbook", NODE_F_TEXT, 0, NULL, NULL, 0, 0, NULL, NULL},
};

static const node_field activity_f[] = {
    {"kind", NODE_F_ENUM, REQ, activity_kinds, NULL, 0, 0, NULL, NULL},
    {"title", NODE_F_TEXT, 0, NULL, NULL, 0, 0, NULL, NULL},
    {"date", NODE_F_DATE, REQ, NULL, NULL, 0, 0, NULL, NULL},
    {"count", NODE_F_INT, 0, NULL, NULL, 0, 100000,
     N_("attendance, errands run, thefts or fights stopped (none: 1)"), NULL},
    {"organizer", NODE_F_REF, 0, NULL, "unit|team", 0, 0, NULL, NULL},
    {"resident", NODE_F_REF, 0, NULL, "resident", 0, 0,
     N_("for whom (an errand)"), NULL},
    {"place", NODE_F_TEXT, 0, NULL, NULL, 0, 0, NULL, NULL},
    {"note", NODE_F_TEXT, 0, NULL, NULL, 0, 0, NULL, NULL},
};

static const node_field party_f[] = {
    {"member", NODE_F_REF, REQ, NULL, "resident", 0, 0,
     N_("the in-service party member"), NULL},
    {"employer", NODE_F_REF, 0, NULL, "unit", 0, 0, NULL, NULL},
    {"month", NODE_F_TEXT, REQ, NULL, NULL, 0, 0, N_("YYYY-MM"), NULL},
    {"what", NODE_F_TEXT, REQ, NULL, NULL, 0, 0, N_("the service given"), NULL},
    {"hours", NODE_F_NUM, 0, NULL, NULL, 0, 1000, NULL, NULL},
    {"note", NODE_F_TEXT, 0, NULL, NULL, 0, 0, NULL, NULL},
};

static const node_coll colls[] = {
    {"grid", N_("a grid (网格): a few buildings and their grid worker"), grid_f,
     N(grid_f), false, NULL, NULL, NULL, 0},
    {"building", N_("a building (楼栋) and its building leader"), building_f,
     N(building_f), false, NULL, NULL, NULL, 0},
    {"household", N_("a household (户): a flat in a building"), household_f,
     N(household_f), false, NULL, NULL, NULL, 0},
    {"resident", N_("a resident; moving out keeps the record (move-out, move)"),
     resident_f, N(resident_f), false, "status", "living", resident_moves,
     N(resident_moves)},
    {"appeal", N_("a need or micro-wish (诉求/微心愿) and how it was handled"),
     appeal_f, N(appeal_f), false, "status", "open", appeal_moves,
     N(appeal_moves)},
    {"meeting", N_("a deliberation meeting (议事会, 圆桌会议...)"), meeting_f,
     N(meeting_f), false, NULL, NULL, NULL, 0},
    {"task", N_("an action item claimed by a unit (the co-building list)"),
     task_f, N(task_f), false, "status", "open", task_moves, N(task_moves)},
    {"visit", N_("a door-knocking visit: immutable once written"), visit_f,
     N(visit_f), true, NULL, NULL, NULL, 0},
    {"timebank", N_("a time-bank entry (时间银行): immutable once written"),
     timebank_f, N(timebank_f), true, NULL, NULL, NULL, 0},
    {"team", N_("a volunteer team and its members"), team_f, N(team_f), false,
     NULL, NULL, NULL, 0},
    {"unit", N_("a co-building unit (共建单位): property company, company, "
             "school..."),
     unit_f, N(unit_f), false, NULL, NULL, NULL, 0},
    {"activity", N_("an activity or tally an office publishes: lectures, "
                 "errands run for residents (代办), thefts and fights stopped"),
     activity_f, N(activity_f), false, NULL, NULL, NULL, 0},
    {"party_report", N_("an in-service party member reporting to the community "
                     "(在职党员双报到): member, employer, month, service"),
     party_f, N(party_f), false, NULL, NULL, NULL, 0},
};

/* ---- Chinese labels (one source: the web app shows these; the CLI's
 * catalogue uses the same words) ---- */

typedef struct label {
  const char *coll;  /* NULL: any collection */
  const char *field; /* NULL: the collection itself */
  const char *code;  /* NULL: the field itself */
  const char *zh;
} label;

static const label labels[] = {
    /* collections */
    {"grid", NULL, NULL, "网格"},
    {"building", NULL, NULL, "楼栋"},
    {"household", NULL, NULL, "住户"},
    {"resident", NULL, NULL, "居民"},
    {"appeal", NULL, NULL, "诉求"},
    {"meeting", NULL, NULL, "议事会"},
    {"task", NULL, NULL, "共建事项"},
    {"visit", NULL, NULL, "走访"},
    {"timebank", NULL, NULL, "时间银行"},
    {"team", NULL, NULL, "志愿队"},
    {"unit", NULL, NULL, "共建单位"},
    {"activity", NULL, NULL, "活动台账"},
    {"party_report", NULL, NULL, "在职党员双报到"},
    /* fields (any collection) */
    {NULL, "name", NULL, "名称"},
    {"resident", "name", NULL, "姓名"},
    {"team", "name", NULL, "队名"},
    {NULL, "worker", NULL, "网格员"},
    {NULL, "phone", NULL, "电话"},
    {NULL, "note", NULL, "备注"},
    {NULL, "notes", NULL, "记录"},
    {NULL, "grid", NULL, "网格"},
    {NULL, "units", NULL, "单元数"},
    {NULL, "floors", NULL, "层数"},
    {NULL, "built", NULL, "建成年份"},
    {NULL, "leader", NULL, "负责人"},
    {"building", "leader", NULL, "楼栋长"},
    {NULL, "building", NULL, "楼栋"},
    {NULL, "unit", NULL, "单元"},
    {"task", "unit", NULL, "认领单位"},
    {NULL, "room", NULL, "房号"},
    {NULL, "size", NULL, "人数"},
    {NULL, "gender", NULL, "性别"},
    {NULL, "birth_year", NULL, "出生年份"},
    {NULL, "household", NULL, "住户"},
    {NULL, "tags", NULL, "标签"},
    {NULL, "category", NULL, "类别"},
    {NULL, "description", NULL, "内容"},
    {NULL, "resident", NULL, "居民"},
    {NULL, "opened_by", NULL, "登记人"},
    {NULL, "opened", NULL, "登记日期"},
    {NULL, "source", NULL, "来源"},
    {NULL, "visit", NULL, "走访"},
    {NULL, "meeting", NULL, "议事会"},
    {NULL, "status", NULL, "状态"},
    {NULL, "assignee", NULL, "承办"},
    {NULL, "accepted", NULL, "受理日期"},
    {NULL, "assigned", NULL, "交办日期"},
    {NULL, "resolved", NULL, "办结日期"},
    {NULL, "closed", NULL, "关闭日期"},
    {NULL, "feedback", NULL, "居民评价"},
    {NULL, "kind", NULL, "类型"},
    {NULL, "title", NULL, "议题"},
    {NULL, "date", NULL, "日期"},
    {NULL, "place", NULL, "地点"},
    {NULL, "participants", NULL, "参会"},
    {NULL, "topics", NULL, "议题"},
    {NULL, "appeals", NULL, "相关诉求"},
    {NULL, "decisions", NULL, "决议"},
    {NULL, "what", NULL, "事项"},
    {NULL, "appeal", NULL, "诉求"},
    {NULL, "due", NULL, "期限"},
    {NULL, "done", NULL, "完成日期"},
    {NULL, "by", NULL, "走访人"},
    {"timebank", "by", NULL, "登记人"},
    {NULL, "findings", NULL, "发现"},
    {NULL, "followups", NULL, "跟进"},
    {NULL, "person", NULL, "服务人"},
    {NULL, "hours", NULL, "时长(小时)"},
    {NULL, "service", NULL, "服务"},
    {NULL, "members", NULL, "成员"},
    {NULL, "purpose", NULL, "宗旨"},
    {NULL, "contact", NULL, "联系人"},
    {NULL, "emergency_contact", NULL, "紧急联系人"},
    {NULL, "emergency_phone", NULL, "紧急联系电话"},
    {NULL, "passbook", NULL, "储蓄卡号"},
    {"resident", "status", NULL, "居住状态"},
    {NULL, "moved_out", NULL, "迁出日期"},
    {NULL, "move_reason", NULL, "迁出原因"},
    {NULL, "moved_to", NULL, "迁往"},
    {NULL, "moved_from", NULL, "迁自"},
    {NULL, "fulfiller", NULL, "认领人"},
    {NULL, "donor", NULL, "捐赠人"},
    {NULL, "convener", NULL, "召集人"},
    {NULL, "attendees", NULL, "参会单位与个人"},
    {"task", "kind", NULL, "事项类型"},
    {NULL, "year", NULL, "年度"},
    {NULL, "claimants", NULL, "认领单位"},
    {NULL, "cost", NULL, "费用(元)"},
    {NULL, "resources", NULL, "资源"},
    {NULL, "team", NULL, "队伍"},
    {NULL, "visitors", NULL, "同行人员"},
    {NULL, "companions", NULL, "其他同行"},
    {NULL, "corrects", NULL, "更正对象"},
    {NULL, "served", NULL, "服务对象"},
    {NULL, "goods", NULL, "兑换物品"},
    {NULL, "sponsor", NULL, "赞助单位"},
    {"team", "kind", NULL, "队伍类型"},
    {"team", "building", NULL, "所属楼栋"},
    {NULL, "outsiders", NULL, "外部成员"},
    {"activity", "kind", NULL, "类型"},
    {NULL, "count", NULL, "数量/人次"},
    {NULL, "organizer", NULL, "组织方"},
    {"activity", "resident", NULL, "服务居民"},
    {NULL, "member", NULL, "党员"},
    {NULL, "employer", NULL, "工作单位"},
    {NULL, "month", NULL, "月份"},
    {"party_report", "what", NULL, "服务内容"},
    {"activity", "title", NULL, "名称"},
    /* values */
    {NULL, "tags", "elderly", "老年人"},
    {NULL, "tags", "lives-alone", "独居"},
    {NULL, "tags", "disabled", "残疾"},
    {NULL, "tags", "low-income", "低保"},
    {NULL, "tags", "floating", "流动人口"},
    {NULL, "tags", "party-member", "党员"},
    {NULL, "tags", "veteran", "退役军人"},
    {NULL, "tags", "child", "儿童"},
    {NULL, "tags", "special-care", "重点关爱"},
    {NULL, "tags", "volunteer", "志愿者"},
    {NULL, "tags", "renter", "租户"},
    {NULL, "tags", "unemployed", "失业"},
    {NULL, "category", "repair", "维修"},
    {NULL, "category", "safety", "安全"},
    {NULL, "category", "environment", "环境卫生"},
    {NULL, "category", "dispute", "矛盾纠纷"},
    {NULL, "category", "elderly-care", "养老助老"},
    {NULL, "category", "parking-charging", "停车充电"},
    {NULL, "category", "micro-wish", "微心愿"},
    {NULL, "category", "other", "其他"},
    {"appeal", "status", "open", "待受理"},
    {"appeal", "status", "accepted", "已受理"},
    {"appeal", "status", "assigned", "已交办"},
    {"appeal", "status", "resolved", "已办结"},
    {"appeal", "status", "closed", "已关闭"},
    {"appeal", "status", "reopened", "重新打开"},
    {NULL, "source", "visit", "走访"},
    {NULL, "source", "meeting", "议事会"},
    {NULL, "source", "phone", "电话"},
    {NULL, "source", "walk-in", "来访"},
    {NULL, "source", "other", "其他"},
    {NULL, "feedback", "satisfied", "满意"},
    {NULL, "feedback", "unsatisfied", "不满意"},
    {"meeting", "kind", "four-party", "四方议事会"},
    {"meeting", "kind", "round-table", "圆桌会议"},
    {"meeting", "kind", "neighbours", "邻里议事会"},
    {"meeting", "kind", "hearing", "听证会"},
    {"meeting", "kind", "other", "其他"},
    {"task", "status", "open", "待认领"},
    {"task", "status", "claimed", "已认领"},
    {"task", "status", "done", "已完成"},
    {NULL, "findings", "hazard", "安全隐患"},
    {NULL, "findings", "dispute", "矛盾纠纷"},
    {NULL, "findings", "need", "困难需求"},
    {NULL, "findings", "health", "健康问题"},
    {NULL, "findings", "none", "无异常"},
    {"timebank", "kind", "deposit", "存入"},
    {"timebank", "kind", "spend", "支取"},
    {"timebank", "kind", "adjust", "更正"},
    {NULL, "service", "errand", "代办跑腿"},
    {NULL, "service", "companionship", "陪伴聊天"},
    {NULL, "service", "cleaning", "清洁打扫"},
    {NULL, "service", "repair", "维修"},
    {NULL, "service", "patrol", "巡逻"},
    {NULL, "service", "tutoring", "辅导"},
    {NULL, "service", "health", "健康服务"},
    {NULL, "service", "other", "其他"},
    {"resident", "status", "living", "在住"},
    {"resident", "status", "moved-out", "已迁出"},
    {"resident", "status", "moved", "已迁往他处网格"},
    {NULL, "findings", "fall", "跌倒"},
    {NULL, "findings", "fraud", "诈骗"},
    {NULL, "findings", "stray-dog", "流浪犬"},
    {NULL, "findings", "theft", "盗窃"},
    {NULL, "findings", "fire-hazard", "火灾隐患"},
    {"task", "kind", "action", "行动事项"},
    {"task", "kind", "decision", "会议决议"},
    {"task", "kind", "co-building", "共建清单项目"},
    {"team", "kind", "fire-squad", "119自管小组"},
    {"team", "kind", "door-knocking", "敲门组"},
    {"team", "kind", "patrol", "巡逻队"},
    {"team", "kind", "volunteer", "志愿服务队"},
    {"team", "kind", "other", "其他"},
    {"activity", "kind", "lecture", "讲座"},
    {"activity", "kind", "activity", "活动"},
    {"activity", "kind", "errand", "代办"},
    {"activity", "kind", "theft-stopped", "制止盗窃"},
    {"activity", "kind", "fight-stopped", "制止打架"},
    {"activity", "kind", "other", "其他"},
    {"unit", "kind", "property", "物业"},
    {"unit", "kind", "company", "企业"},
    {"unit", "kind", "school", "学校"},
    {"unit", "kind", "hospital", "医院"},
    {"unit", "kind", "government", "机关单位"},
    {"unit", "kind", "social-org", "社会组织"},
    {"unit", "kind", "other", "其他"},
};

static bool opt_eq(const char *want, const char *have)
{
  if (!want || !have)
    return want == have;
  return strcmp(want, have) == 0;
}

const char *node_schema_label(const char *coll, const char *field,
                              const char *code)
{
  const char *any = NULL;
  for (size_t i = 0; i < N(labels); i++) {
    const label *l = &labels[i];
    if (!opt_eq(l->field, field) || !opt_eq(l->code, code))
      continue;
    if (l->coll && coll && strcmp(l->coll, coll) == 0)
      return l->zh;
    if (!l->coll && field)
      any = l->zh;
    if (!field && l->coll && coll && strcmp(l->coll, coll) == 0)
      return l->zh;
  }
  return any ? any : code ? code : field ? field : coll;
}

const char *node_schema_code(const char *coll, const node_field *f,
                             const char *text)
{
  if (!f || !f->values || !text)
    return NULL;
  for (const char *const *v = f->values; *v; v++)
    if (strcmp(*v, text) == 0)
      return *v;
  for (const char *const *v = f->values; *v; v++)
    if (strcmp(node_schema_label(coll, f->name, *v), text) == 0)
      return *v;
  return NULL;
}

/* The domain verbs (DESIGN.md section 8): each enters a status, keeps
 * its date in a field and clears what undoing needs cleared. */
static const node_verb verbs[] = {
    {"appeal", "accept", "accepted", "accepted", "assignee", {NULL},
     N_("the office takes the appeal on")},
    {"appeal", "assign", "assigned", "assigned", "assignee", {NULL},
     N_("hand it to a unit or team (--to)")},
    {"appeal", "resolve", "resolved", "resolved", "assignee", {NULL},
     N_("the work is done")},
    {"appeal", "close", "closed", "closed", "assignee", {NULL},
     N_("closed, with the resident's --feedback")},
    {"appeal", "reopen", "reopened", NULL, "assignee",
     {"closed", "feedback"}, N_("not done after all (--note why)")},
    {"resident", "move-out", "moved-out", "moved_out", NULL, {NULL},
     N_("moved away: the record stays, out of rosters (--move-reason WHY)")},
    {"resident", "return", "living", NULL, NULL, {"moved_out", "move_reason"},
     N_("lives here again")},
    {"task", "claim", "claimed", NULL, "unit", {NULL},
     N_("a unit or team takes the task on (--to)")},
    {"task", "done", "done", "done", "unit", {NULL}, N_("the task is done")},
    {"task", "reopen", "open", NULL, "unit", {NULL}, N_("back to open")},
};

const node_verb *node_schema_verbs(const char *coll, size_t *n)
{
  size_t first = N(verbs), k = 0;
  for (size_t i = 0; i < N(verbs); i++)
    if (strcmp(verbs[i].coll, coll) == 0) {
      if (first == N(verbs))
        first = i;
      k++;
    }
  *n = k;
  return k ? &verbs[first] : NULL;
}

const node_verb *node_schema_verb(const char *coll, const char *verb)
{
  for (size_t i = 0; i < N(verbs); i++)
    if (strcmp(verbs[i].coll, coll) == 0 && strcmp(verbs[i].name, verb) == 0)
      return &verbs[i];
  return NULL;
}

const node_coll *node_schema_all(size_t *n)
{
  *n = N(colls);
  return colls;
}

/* "a" or "an" before a collection's name. */
static const char *art(const char *name)
{
  return strchr("aeio", name[0]) ? "an" : "a";
}

static bool eq(const char *a, size_t an, const char *b)
{
  /* the first bytes first: most names looked up differ there, and a
   * record's check looks each of its fields up (issue 20) */
  if (an == 0)
    return b[0] == '\0';
  if (a[0] != b[0] || b[0] == '\0')
    return false;
  /* then byte by byte, stopping at b's end (issue 20: a strlen of b for
   * each name looked up was 7% of a load's check pass); b[an] is read
   * only when b holds an bytes before its NUL */
  for (size_t i = 1; i < an; i++)
    if (a[i] != b[i] || b[i] == '\0')
      return false;
  return b[an] == '\0';
}

const node_coll *node_schema_coll(const char *name, size_t n)
{
  for (size_t i = 0; i < N(colls); i++)
    if (eq(name, n, colls[i].name))
      return &colls[i];
  return NULL;
}

const node_field *node_schema_field(const node_coll *c, const char *name,
                                    size_t n)
{
  for (size_t i = 0; i < c->nfields; i++)
    if (eq(name, n, c->fields[i].name))
      return &c->fields[i];
  return NULL;
}

static const node_move *find_move(const node_coll *c, const char *from,
                                  size_t fn, const char *to, size_t tn)
{
  for (size_t i = 0; i < c->nmoves; i++)
    if (eq(from, fn, c->moves[i].from) && eq(to, tn, c->moves[i].to))
      return &c->moves[i];
  return NULL;
}

bool node_schema_move_ok(const node_coll *c, const char *from, size_t fn,
                         const char *to, size_t tn)
{
  return find_move(c, from, fn, to, tn) != NULL;
}

bool node_date_valid(const char *t, size_t n)
{
  static const int mdays[12] = {31, 29, 31, 30, 31, 30,
                                31, 31, 30, 31, 30, 31};
  if (n != 10 || t[4] != '-' || t[7] != '-')
    return false;
  int v[3] = {0, 0, 0}, k = 0;
  for (size_t i = 0; i < n; i++) {
    if (i == 4 || i == 7) {
      k++;
      continue;
    }
    if (t[i] < '0' || t[i] > '9')
      return false;
    v[k] = v[k] * 10 + (t[i] - '0');
  }
  if (v[0] < 1900 || v[0] > 2199 || v[1] < 1 || v[1] > 12 || v[2] < 1 ||
      v[2] > mdays[v[1] - 1])
    return false;
  bool leap = (v[0] % 4 == 0 && v[0] % 100 != 0) || v[0] % 400 == 0;
  return !(v[1] == 2 && v[2] == 29 && !leap);
}

long node_days_from_civil(long y, long m, long d)
{
  /* with March as the first month, so that leap days come last */
  y -= m <= 2;
  long era = (y >= 0 ? y : y - 399) / 400;
  long yoe = y - era * 400;
  long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static bool among(const char *const *values, const char *s, size_t n)
{
  for (; *values; values++)
    if (eq(s, n, *values))
      return true;
  return false;
}

/* "a|b|c" holds the name s? */
static bool ref_ok(const char *refs, const char *s, size_t n)
{
  const char *p = refs;
  while (*p) {
    const char *bar = strchr(p, '|');
    size_t len = bar ? (size_t)(bar - p) : strlen(p);
    if (len == n && memcmp(p, s, n) == 0)
      return true;
    p += len + (bar ? 1 : 0);
  }
  return false;
}

static void list_values(const char *const *values, char *buf, size_t cap)
{
  size_t off = 0;
  buf[0] = '\0';
  for (; *values && off < cap; values++) {
    int k = snprintf(buf + off, cap - off, "%s%s", off ? ", " : "", *values);
    if (k < 0)
      break;
    off += (size_t)k;
  }
}

/* Is v a good value (or set element, when elem) for field f? */
static bool value_ok(const node_field *f, const crdt_value *v, bool elem,
                     char *why, size_t whylen)
{
  char vals[400];
  const char *name = f->name;
  if (elem) {
    if (f->type == NODE_F_TAGS || f->type == NODE_F_TEXTS) {
      if (v->type != CRDT_STR)
        goto want_text;
      if (f->type == NODE_F_TAGS && !among(f->values, v->u.s.p, v->u.s.n))
        goto want_value;
      return true;
    }
    if (f->type == NODE_F_REFS) {
      if (v->type != CRDT_REF)
        goto want_ref;
      if (!ref_ok(f->ref, v->u.ref.coll, v->u.ref.coll_len))
        goto want_ref;
      return true;
    }
    snprintf(why, whylen, _("field '%s' is no set: give %s=VALUE"), name, name);
    return false;
  }
  if (v->type == CRDT_NIL)
    return true; /* clearing; required fields are checked by the caller */
  switch (f->type) {
  case NODE_F_TEXT:
    if (v->type != CRDT_STR)
      goto want_text;
    return true;
  case NODE_F_INT:
  case NODE_F_NUM: {
    double x;
    if (v->type == CRDT_INT)
      x = (double)v->u.i;
    else if (v->type == CRDT_FLOAT && f->type == NODE_F_NUM)
      x = v->u.f;
    else {
      snprintf(why, whylen, _("field '%s' takes %s, e.g. %s:=%s"), name,
               f->type == NODE_F_INT ? _("a whole number") : _("a number"), name,
               f->type == NODE_F_INT ? "1950" : "1.5");
      return false;
    }
    if ((f->min != 0 || f->max != 0) && (x < f->min || x > f->max)) {
      snprintf(why, whylen, _("field '%s' must be between %g and %g"), name,
               f->min, f->max);
      return false;
    }
    return true;
  }
  case NODE_F_BOOL:
    if (v->type != CRDT_BOOL) {
      snprintf(why, whylen, _("field '%s' takes true or false (%s:=true)"),
               name, name);
      return false;
    }
    return true;
  case NODE_F_DATE:
    if (v->type != CRDT_STR || !node_date_valid(v->u.s.p, v->u.s.n)) {
      snprintf(why, whylen, _("field '%s' takes a date YYYY-MM-DD (or "
                            "2026/12/5, 2026年12月5日, 今天, 昨天)"),
               name);
      return false;
    }
    return true;
  case NODE_F_ENUM:
    if (v->type != CRDT_STR)
      goto want_text;
    if (!among(f->values, v->u.s.p, v->u.s.n))
      goto want_value;
    return true;
  case NODE_F_REF:
    if (v->type != CRDT_REF || !ref_ok(f->ref, v->u.ref.coll,
                                       v->u.ref.coll_len))
      goto want_ref;
    return true;
  case NODE_F_TAGS:
  case NODE_F_TEXTS:
  case NODE_F_REFS:
    snprintf(why, whylen, _("field '%s' is a set: add with %s+=ELEM, remove "
                          "with %s-=ELEM"),
             name, name, name);
    return false;
  }
  return false;
want_text:
  snprintf(why, whylen, _("field '%s' takes text"), name);
  return false;
want_value:
  list_values(f->values, vals, sizeof vals);
  snprintf(why, whylen, _("field '%s' cannot be '%.*s': one of %s"), name,
           (int)(v->u.s.n > 64 ? 64 : v->u.s.n), v->u.s.p, vals);
  return false;
want_ref:
  snprintf(why, whylen, _("field '%s' takes a reference to a %s record, "
                        "e.g. %s:='{\"$ref\": \"%.*s/ID\"}'"),
           name, f->ref, name, (int)strcspn(f->ref, "|"), f->ref);
  return false;
}

/* The current value of field name in r as a string, or NULL. */
static const char *cur_text(const crdt_record *r, const char *name,
                            size_t *n)
{
  if (!r)
    return NULL;
  long i = crdt_record_find(r, name, strlen(name));
  crdt_field_view fv;
  if (i < 0 || crdt_record_field(r, (size_t)i, &fv) != GS_OK || fv.is_set ||
      fv.value.type != CRDT_STR)
    return NULL;
  *n = fv.value.u.s.n;
  return fv.value.u.s.p;
}

/* A time-bank entry: deposits and spends are of more than 0 hours, in
 * steps of at most a minute's precision; an adjustment is not 0. */
static bool timebank_ok(const crdt_op *ops, size_t nops, char *why,
                        size_t whylen)
{
  const crdt_value *kind = NULL, *hours = NULL;
  for (size_t i = 0; i < nops; i++) {
    if (eq(ops[i].field, ops[i].field_len, "kind"))
      kind = &ops[i].value;
    else if (eq(ops[i].field, ops[i].field_len, "hours"))
      hours = &ops[i].value;
  }
  if (!kind || !hours || kind->type != CRDT_STR)
    return true; /* required fields are checked elsewhere */
  double h = hours->type == CRDT_INT ? (double)hours->u.i : hours->u.f;
  bool adjust = eq(kind->u.s.p, kind->u.s.n, "adjust");
  double centi = h * 100.0;
  if (fabs(centi - nearbyint(centi)) > 1e-6) {
    snprintf(why, whylen, "%s", _("hours are counted to 0.01 h"));
    return false;
  }
  if (adjust ? h == 0 : h <= 0) {
    snprintf(why, whylen, "%s", adjust ? _("an adjustment of 0 hours changes nothing")
                                 : _("hours must be more than 0"));
    return false;
  }
  return true;
}

/* A party member's report names its month "YYYY-MM" (1900..2199). */
static bool month_ok(const crdt_op *ops, size_t nops, char *why,
                     size_t whylen)
{
  for (size_t i = 0; i < nops; i++) {
    const crdt_value *v = &ops[i].value;
    if (ops[i].kind != CRDT_OP_SET || !eq(ops[i].field, ops[i].field_len,
                                          "month") ||
        v->type != CRDT_STR)
      continue;
    char d[11];
    if (v->u.s.n == 7) {
      memcpy(d, v->u.s.p, 7);
      memcpy(d + 7, "-01", 4);
      if (node_date_valid(d, 10))
        continue;
    }
    snprintf(why, whylen, _("field 'month' takes a month YYYY-MM, e.g. "
                            "2026-11"));
    return false;
  }
  return true;
}

/* The text of field name as this write leaves it: set by ops, else held
 * in cur; NULL when neither (or cleared). */
static const char *given_text(const crdt_record *cur, const crdt_op *ops,
                              size_t nops, const char *name, size_t *n)
{
  for (size_t i = nops; i-- > 0;)
    if (ops[i].kind == CRDT_OP_SET &&
        eq(ops[i].field, ops[i].field_len, name)) {
      if (ops[i].value.type != CRDT_STR)
        return NULL;
      *n = ops[i].value.u.s.n;
      return ops[i].value.u.s.p;
    }
  return cur_text(cur, name, n);
}

/* true when this write leaves field name set (any value but nil). */
static bool given(const crdt_record *cur, const crdt_op *ops, size_t nops,
                  const char *name)
{
  for (size_t i = nops; i-- > 0;)
    if (ops[i].kind == CRDT_OP_SET &&
        eq(ops[i].field, ops[i].field_len, name))
      return ops[i].value.type != CRDT_NIL;
  if (!cur)
    return false;
  long k = crdt_record_find(cur, name, strlen(name));
  crdt_field_view fv;
  return k >= 0 && crdt_record_field(cur, (size_t)k, &fv) == GS_OK &&
         (fv.is_set ? fv.nelems > 0 : fv.value.type != CRDT_NIL);
}

gs_err node_schema_check(const crdt_record *cur, const crdt_op *ops,
                         size_t nops, unsigned flags, char *why,
                         size_t whylen)
{
  if (nops == 0)
    return GS_OK;
  const char *cname = ops[0].coll;
  size_t cn = ops[0].coll_len;
  const node_coll *c = node_schema_coll(cname, cn);
  if (!c) {
    if (cn > 2 && memcmp(cname, "x_", 2) == 0)
      return GS_OK; /* a free-form collection */
    char names[300];
    size_t off = 0;
    names[0] = '\0';
    for (size_t i = 0; i < N(colls); i++) {
      int k = snprintf(names + off, sizeof names - off, "%s%s",
                       i ? ", " : "", colls[i].name);
      if (k < 0 || (size_t)k >= sizeof names - off)
        break;
      off += (size_t)k;
    }
    snprintf(why, whylen, _("no collection '%.*s' in the schema (collections: "
                          "%s; free-form ones are named x_...)"),
             (int)cn, cname, names);
    return GS_ESCHEMA;
  }
  bool exists = cur != NULL;
  if (exists && c->immutable) {
    snprintf(why, whylen, _("%s %s is immutable once written: record a new "
                          "one instead"),
             art(c->name), c->name);
    return GS_ESCHEMA;
  }
  const crdt_value *status = NULL;
  /* the status field, looked up once (issue 20: its name compared with
   * each op's was 2% of a load) */
  const node_field *sf =
      c->status ? node_schema_field(c, c->status, strlen(c->status)) : NULL;
  for (size_t i = 0; i < nops; i++) {
    const crdt_op *op = &ops[i];
    if (op->kind == CRDT_OP_DELETE || op->kind == CRDT_OP_RESTORE) {
      if (c->immutable) {
        snprintf(why, whylen, _("%s %s is immutable: it cannot be deleted"),
                 art(c->name), c->name);
        return GS_ESCHEMA;
      }
      continue;
    }
    const node_field *f = node_schema_field(c, op->field, op->field_len);
    if (!f) {
      char names[400];
      size_t off = 0;
      names[0] = '\0';
      for (size_t k = 0; k < c->nfields; k++) {
        int m = snprintf(names + off, sizeof names - off, "%s%s",
                         k ? ", " : "", c->fields[k].name);
        if (m < 0 || (size_t)m >= sizeof names - off)
          break;
        off += (size_t)m;
      }
      snprintf(why, whylen, _("%s %s has no field '%.*s' (fields: %s)"),
               art(c->name), c->name,
               (int)op->field_len, op->field, names);
      return GS_ESCHEMA;
    }
    if (op->kind == CRDT_OP_REMOVE)
      continue; /* removing what is held is always allowed */
    if (!value_ok(f, &op->value, op->kind == CRDT_OP_ADD, why, whylen))
      return GS_ESCHEMA;
    if (op->kind == CRDT_OP_SET && (f->flags & REQ) &&
        op->value.type == CRDT_STR && op->value.u.s.n == 0) {
      snprintf(why, whylen, _("field '%s' of %s %s cannot be empty"), f->name,
               art(c->name), c->name);
      return GS_ESCHEMA;
    }
    if (op->kind == CRDT_OP_SET && f->after && op->value.type == CRDT_STR) {
      size_t an = 0;
      const char *a = given_text(cur, ops, nops, f->after, &an);
      if (a && an == op->value.u.s.n &&
          memcmp(op->value.u.s.p, a, an) < 0) {
        snprintf(why, whylen, _("%s date %.*s is before %s date %.*s"), f->name,
                 (int)op->value.u.s.n, op->value.u.s.p, f->after, (int)an,
                 a);
        return GS_ESCHEMA;
      }
    }
    if (op->kind == CRDT_OP_SET && op->value.type == CRDT_NIL &&
        (f->flags & REQ)) {
      snprintf(why, whylen, _("field '%s' of %s %s cannot be cleared"), f->name,
               art(c->name), c->name);
      return GS_ESCHEMA;
    }
    if (f == sf)
      status = &op->value;
  }
  if (!exists) {
    for (size_t k = 0; k < c->nfields; k++) {
      const node_field *f = &c->fields[k];
      if (!(f->flags & REQ))
        continue;
      bool given = false;
      for (size_t i = 0; i < nops && !given; i++)
        given = ops[i].kind == CRDT_OP_SET &&
                eq(ops[i].field, ops[i].field_len, f->name);
      if (!given) {
        snprintf(why, whylen, _("a new %s needs field '%s'"), c->name, f->name);
        return GS_ESCHEMA;
      }
    }
  }
  if (strcmp(c->name, "timebank") == 0 && !timebank_ok(ops, nops, why, whylen))
    return GS_ESCHEMA;
  if (strcmp(c->name, "party_report") == 0 &&
      !month_ok(ops, nops, why, whylen))
    return GS_ESCHEMA;
  if (status && !(flags & NODE_SCHEMA_IMPORT)) {
    if (!exists) {
      if (!eq(status->u.s.p, status->u.s.n, c->initial)) {
        snprintf(why, whylen, _("a new %s starts with %s '%s'"), c->name,
                 c->status, c->initial);
        return GS_ESCHEMA;
      }
    } else {
      size_t fn = 0;
      const char *from = cur_text(cur, c->status, &fn);
      if (!from) {
        from = c->initial;
        fn = strlen(from);
      }
      bool same = fn == status->u.s.n && memcmp(from, status->u.s.p, fn) == 0;
      const node_move *mv =
          same ? NULL
               : find_move(c, from, fn, status->u.s.p, status->u.s.n);
      for (size_t k = 0; mv && k < 2 && mv->needs[k]; k++)
        if (!given(cur, ops, nops, mv->needs[k])) {
          snprintf(why, whylen, _("%s %s that becomes %s needs field '%s'"),
                   art(c->name), c->name, mv->to, mv->needs[k]);
          return GS_ESCHEMA;
        }
      if (!same && !mv) {
        char to[40];
        snprintf(to, sizeof to, "%.*s",
                 (int)(status->u.s.n > 30 ? 30 : status->u.s.n),
                 status->u.s.p);
        char next[200];
        size_t off = 0;
        next[0] = '\0';
        for (size_t k = 0; k < c->nmoves; k++) {
          if (!eq(from, fn, c->moves[k].from))
            continue;
          int m = snprintf(next + off, sizeof next - off, "%s%s",
                           off ? _(" or ") : "", c->moves[k].to);
          if (m < 0 || (size_t)m >= sizeof next - off)
            break;
          off += (size_t)m;
        }
        /* gcc 12 under -fsanitize=undefined sees a null format on one of
         * its checking paths of this call (not of the others); it is not */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif
        snprintf(why, whylen, _("this %s is %.*s: it cannot become %s%s%s"),
                 c->name, (int)fn, from, to, off ? _(" (next: ") : "",
                 off ? next : "");
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
        if (off && strlen(why) + 2 < whylen)
          strcat(why, ")");
        return GS_ESCHEMA;
      }
    }
  }
  return GS_OK;
}
