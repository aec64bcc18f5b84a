/*
 * Ledgers to hand on (台账, node/domain.h): the records of a query as a
 * table with Chinese column headers and what a person reads in each cell
 * (labels, names of linked records, dates as dates), written as CSV or,
 * when built with libxlsxwriter, as an .xlsx workbook (one sheet, or one
 * per grid).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef GS_HAVE_XLSX
#include <xlsxwriter.h>
#endif

#include "crdt/gs_i18n.h"
#include "node/domain.h"
#include "node/json.h"
#include "node/report.h"
#include "node/schema.h"

#define FREE_COLS_MAX 64 /* columns of a free-form collection */

typedef enum ctype { C_EMPTY, C_TEXT, C_NUM, C_DATE } ctype;

typedef struct cell {
  ctype type;
  char *text; /* C_TEXT, C_DATE (YYYY-MM-DD); malloc'd */
  double num;
} cell;

typedef struct table {
  node *n;
  const node_coll *sc;
  char coll[CRDT_NAME_MAX + 1];
  char *cols[FREE_COLS_MAX + 1]; /* field names; [0] is the scope */
  size_t ncols;
  cell *cells; /* nrows * ncols */
  char **scopes;
  size_t nrows, cap, scap; /* cap: of cells; scap: of scopes */
  gs_err err;
} table;

static void table_free(table *t)
{
  for (size_t i = 0; i < t->nrows * t->ncols; i++)
    free(t->cells[i].text);
  for (size_t i = 0; i < t->nrows; i++)
    free(t->scopes[i]);
  for (size_t i = 1; i < t->ncols; i++)
    if (!t->sc)
      free(t->cols[i]);
  free(t->cells);
  free(t->scopes);
}

static char *dup_n(const char *p, size_t n)
{
  char *s = malloc(n + 1);
  if (s) {
    memcpy(s, p, n);
    s[n] = '\0';
  }
  return s;
}

/* The cell of field i of r. */
static gs_err fill_cell(table *t, const crdt_record *r, size_t fi,
                        const char *field, cell *c)
{
  static char buf[CRDT_TEXT_MAX + 64];
  crdt_field_view fv;
  const node_field *f =
      t->sc ? node_schema_field(t->sc, field, strlen(field)) : NULL;
  if (crdt_record_field(r, fi, &fv) != GS_OK)
    return GS_OK;
  if (!fv.is_set) {
    const crdt_value *v = &fv.value;
    if (v->type == CRDT_NIL)
      return GS_OK;
    if (v->type == CRDT_INT || v->type == CRDT_FLOAT) {
      c->type = C_NUM;
      c->num = v->type == CRDT_INT ? (double)v->u.i : v->u.f;
      return GS_OK;
    }
    if (f && f->type == NODE_F_DATE && v->type == CRDT_STR &&
        node_date_valid(v->u.s.p, v->u.s.n)) {
      c->type = C_DATE;
      return (c->text = dup_n(v->u.s.p, 10)) ? GS_OK : GS_ENOMEM;
    }
    node_display_text(t->n, t->coll, field, v, buf, sizeof buf);
    c->type = C_TEXT;
    return (c->text = dup_n(buf, strlen(buf))) ? GS_OK : GS_ENOMEM;
  }
  /* a set: its elements as read, joined by 、 */
  size_t len = 0, cap = 0;
  char *s = NULL;
  for (size_t j = 0; j < fv.nelems; j++) {
    crdt_value ev;
    if (crdt_record_elem(r, fi, j, &ev) != GS_OK)
      continue;
    node_display_text(t->n, t->coll, field, &ev, buf, sizeof buf);
    size_t k = strlen(buf);
    if (crdt_grow((void **)&s, &cap, len + k + 4, 1)) {
      free(s);
      return GS_ENOMEM;
    }
    if (len) {
      memcpy(s + len, "、", 3);
      len += 3;
    }
    memcpy(s + len, buf, k);
    len += k;
    s[len] = '\0';
  }
  if (s) {
    c->type = C_TEXT;
    c->text = s;
  }
  return GS_OK;
}

/* The column of field (n bytes); a free-form collection's new field gets
 * one (at most FREE_COLS_MAX). -1 when none. */
static long column(table *t, const char *field, size_t n)
{
  for (size_t i = 1; i < t->ncols; i++)
    if (strlen(t->cols[i]) == n && memcmp(t->cols[i], field, n) == 0)
      return (long)i;
  if (t->sc || t->ncols > FREE_COLS_MAX || t->nrows > 0)
    return -1;
  if (!(t->cols[t->ncols] = dup_n(field, n))) {
    t->err = GS_ENOMEM;
    return -1;
  }
  return (long)t->ncols++;
}

/* A free-form collection: its columns are the fields of its records, as
 * first seen (a first pass). */
static int on_cols(void *ctx, const crdt_record *r)
{
  table *t = ctx;
  for (size_t i = 0; i < crdt_record_nfields(r); i++) {
    crdt_field_view fv;
    if (crdt_record_field(r, i, &fv) == GS_OK)
      column(t, fv.name, fv.name_len);
  }
  return t->err != GS_OK;
}

static int on_row(void *ctx, const crdt_record *r)
{
  table *t = ctx;
  if (t->nrows >= NODE_EXPORT_ROWS_MAX) {
    t->err = GS_ETOOBIG;
    return 1;
  }
  if (crdt_grow((void **)&t->scopes, &t->scap, t->nrows + 1,
                sizeof *t->scopes) ||
      crdt_grow((void **)&t->cells, &t->cap, (t->nrows + 1) * t->ncols,
                sizeof *t->cells)) {
    t->err = GS_ENOMEM;
    return 1;
  }
  cell *row = &t->cells[t->nrows * t->ncols];
  memset(row, 0, t->ncols * sizeof *row);
  const char *s, *c;
  size_t sn, cn;
  uint8_t id[CRDT_ID_LEN];
  crdt_record_identity(r, &s, &sn, &c, &cn, id);
  t->scopes[t->nrows] = dup_n(s, sn);
  row[0].type = C_TEXT;
  row[0].text = dup_n(s, sn);
  t->nrows++;
  if (!t->scopes[t->nrows - 1] || !row[0].text) {
    t->err = GS_ENOMEM;
    return 1;
  }
  for (size_t i = 0; i < crdt_record_nfields(r); i++) {
    crdt_field_view fv;
    char field[CRDT_NAME_MAX + 1];
    if (crdt_record_field(r, i, &fv) != GS_OK)
      continue;
    long k = column(t, fv.name, fv.name_len);
    if (k < 0)
      continue;
    snprintf(field, sizeof field, "%.*s", (int)fv.name_len, fv.name);
    if ((t->err = fill_cell(t, r, i, field, &row[k])) != GS_OK)
      return 1;
  }
  return 0;
}

static const char *header(const table *t, size_t i)
{
  if (i == 0)
    return "网格";
  return t->sc ? node_schema_label(t->coll, t->cols[i], NULL) : t->cols[i];
}

/* ---- CSV (RFC 4180, UTF-8 with a BOM so that Excel reads it) ---- */

/* One CSV field. Text from records may come from any member of the
 * network: a cell that a spreadsheet would read as a formula (=, +, -,
 * @, tab or CR first) is written with a leading ' so that it stays
 * text. */
static void csv_field(FILE *f, const char *s, bool text)
{
  bool formula = text && *s && strchr("=+-@\t\r", *s);
  if (!formula && !strpbrk(s, ",\"\r\n")) {
    fputs(s, f);
    return;
  }
  fputc('"', f);
  if (formula)
    fputc('\'', f);
  for (; *s; s++) {
    if (*s == '"')
      fputc('"', f);
    fputc(*s, f);
  }
  fputc('"', f);
}

static gs_err write_csv(const table *t, const char *path, node_reason *why)
{
  bool out = strcmp(path, "-") == 0;
  FILE *f = out ? stdout : fopen(path, "wb");
  if (!f) {
    int e = errno;
    return node_reason_set(why, (gs_err)-e, "cannot write %s: %s", path,
                           strerror(e));
  }
  fputs("\xEF\xBB\xBF", f);
  for (size_t i = 0; i < t->ncols; i++) {
    if (i)
      fputc(',', f);
    csv_field(f, header(t, i), false);
  }
  fputs("\r\n", f);
  for (size_t r = 0; r < t->nrows; r++) {
    for (size_t i = 0; i < t->ncols; i++) {
      const cell *c = &t->cells[r * t->ncols + i];
      char num[40];
      if (i)
        fputc(',', f);
      if (c->type == C_NUM) {
        snprintf(num, sizeof num, "%.15g", c->num);
        fputs(num, f);
      } else if (c->text) {
        csv_field(f, c->text, c->type == C_TEXT);
      }
    }
    fputs("\r\n", f);
  }
  bool bad = ferror(f) != 0;
  if (out)
    bad |= fflush(f) != 0;
  else
    bad |= fclose(f) != 0;
  if (bad) {
    int e = errno ? errno : EIO;
    return node_reason_set(why, (gs_err)-e, "cannot write %s: %s", path,
                           strerror(e));
  }
  return GS_OK;
}

/* ---- .xlsx ---- */

bool node_export_xlsx_available(void)
{
#ifdef GS_HAVE_XLSX
  return true;
#else
  return false;
#endif
}

#ifdef GS_HAVE_XLSX
/* A sheet name from a scope: its last segment, made valid for Excel (at
 * most 31 characters, none of []:*?/\) and unique in the workbook. */
static void sheet_name(lxw_workbook *wb, const char *scope, char *out,
                       size_t cap)
{
  const char *p = strrchr(scope, '/');
  p = p ? p + 1 : scope;
  char base[32];
  size_t k = 0;
  for (; *p && k < 28; p++)
    base[k++] = strchr("[]:*?/\\'", *p) ? '_' : *p;
  base[k] = '\0';
  if (!k)
    snprintf(base, sizeof base, "grid");
  snprintf(out, cap, "%s", base);
  for (int i = 2; workbook_get_worksheet_by_name(wb, out) && i < 1000; i++)
    snprintf(out, cap, "%.24s_%d", base, i);
}

static void xlsx_header(const table *t, lxw_worksheet *ws, lxw_format *bold)
{
  for (size_t i = 0; i < t->ncols; i++) {
    worksheet_write_string(ws, 0, (lxw_col_t)i, header(t, i), bold);
    worksheet_set_column(ws, (lxw_col_t)i, (lxw_col_t)i, i == 0 ? 26 : 14,
                         NULL);
  }
  worksheet_freeze_panes(ws, 1, 0);
}

static lxw_error xlsx_row(const table *t, lxw_worksheet *ws, lxw_row_t at,
                          size_t r, lxw_format *date)
{
  lxw_error e = LXW_NO_ERROR;
  for (size_t i = 0; i < t->ncols && !e; i++) {
    const cell *c = &t->cells[r * t->ncols + i];
    lxw_col_t col = (lxw_col_t)i;
    if (c->type == C_NUM)
      e = worksheet_write_number(ws, at, col, c->num, NULL);
    else if (c->type == C_DATE) {
      lxw_datetime dt = {(int)strtol(c->text, NULL, 10),
                         (int)strtol(c->text + 5, NULL, 10),
                         (int)strtol(c->text + 8, NULL, 10), 0, 0, 0};
      e = worksheet_write_datetime(ws, at, col, &dt, date);
    } else if (c->type == C_TEXT && c->text[0])
      e = worksheet_write_string(ws, at, col, c->text, NULL);
  }
  return e;
}

static gs_err write_xlsx(const table *t, const char *path, bool per_grid,
                         node_reason *why)
{
  lxw_workbook *wb = workbook_new(path);
  if (!wb)
    return node_reason_set(why, (gs_err)-EIO, "cannot write %s", path);
  lxw_format *bold = workbook_add_format(wb);
  format_set_bold(bold);
  lxw_format *date = workbook_add_format(wb);
  format_set_num_format(date, "yyyy-mm-dd");
  lxw_error e = LXW_NO_ERROR;
  if (!per_grid) {
    lxw_worksheet *ws =
        workbook_add_worksheet(wb, node_schema_label(t->coll, NULL, NULL));
    if (!ws)
      ws = workbook_add_worksheet(wb, NULL);
    xlsx_header(t, ws, bold);
    for (size_t r = 0; r < t->nrows && !e; r++)
      e = xlsx_row(t, ws, (lxw_row_t)(r + 1), r, date);
  } else {
    /* one sheet per grid, in the order grids first appear */
    bool *done = calloc(t->nrows ? t->nrows : 1, sizeof *done);
    if (!done) {
      workbook_close(wb);
      return node_reason_set(why, GS_ENOMEM, "out of memory");
    }
    for (size_t r = 0; r < t->nrows && !e; r++) {
      if (done[r])
        continue;
      char name[40];
      sheet_name(wb, t->scopes[r], name, sizeof name);
      lxw_worksheet *ws = workbook_add_worksheet(wb, name);
      if (!ws) {
        e = LXW_ERROR_SHEETNAME_ALREADY_USED;
        break;
      }
      xlsx_header(t, ws, bold);
      lxw_row_t at = 1;
      for (size_t k = r; k < t->nrows && !e; k++)
        if (!done[k] && strcmp(t->scopes[k], t->scopes[r]) == 0) {
          done[k] = true;
          e = xlsx_row(t, ws, at++, k, date);
        }
    }
    if (t->nrows == 0) {
      lxw_worksheet *ws = workbook_add_worksheet(wb, NULL);
      xlsx_header(t, ws, bold);
    }
    free(done);
  }
  lxw_error ce = workbook_close(wb);
  if (e || ce)
    return node_reason_set(why, (gs_err)-EIO, "cannot write %s: %s", path,
                           lxw_strerror(e ? e : ce));
  return GS_OK;
}
#endif

gs_err node_export_query(node *n, const node_query *q, node_export_fmt fmt,
                         const char *path, unsigned flags, size_t *rows,
                         node_reason *why)
{
  table t = {.n = n};
  gs_err err;
  if (!path || !*path)
    return node_reason_set(why, GS_EINVAL, "which file? give a file name");
  if (fmt == NODE_EXPORT_XLSX && strcmp(path, "-") == 0)
    return node_reason_set(why, GS_EINVAL,
                           "an .xlsx workbook is written to a file, not to "
                           "standard output: give a file name");
#ifndef GS_HAVE_XLSX
  if (fmt == NODE_EXPORT_XLSX)
    return node_reason_set(why, GS_EINVAL,
                           "this gridsync was built without libxlsxwriter: "
                           "export to CSV instead (--csv FILE)");
#endif
  if (!q->coll || !crdt_name_valid(q->coll, strlen(q->coll)))
    return node_reason_set(why, GS_EINVAL, "bad collection name '%s'",
                           q->coll ? q->coll : "");
  snprintf(t.coll, sizeof t.coll, "%s", q->coll);
  t.sc = node_schema_coll(q->coll, strlen(q->coll));
  t.cols[0] = "scope";
  t.ncols = 1;
  if (t.sc)
    for (size_t i = 0; i < t.sc->nfields && t.ncols <= FREE_COLS_MAX; i++)
      t.cols[t.ncols++] = (char *)t.sc->fields[i].name;
  else if ((err = node_query_run(n, q, on_cols, &t, NULL, why)) != GS_OK ||
           (err = t.err) != GS_OK) {
    table_free(&t);
    return err == t.err ? node_reason_set(why, err, "out of memory") : err;
  }
  err = node_query_run(n, q, on_row, &t, NULL, why);
  if (!err && t.err)
    err = t.err == GS_ETOOBIG
              ? node_reason_set(why, GS_ETOOBIG,
                                "more than %d records: narrow the query "
                                "(--scope, --FIELD)",
                                NODE_EXPORT_ROWS_MAX)
              : node_reason_set(why, t.err, "out of memory");
  if (!err) {
#ifdef GS_HAVE_XLSX
    if (fmt == NODE_EXPORT_XLSX)
      err = write_xlsx(&t, path, (flags & NODE_EXPORT_PER_GRID) != 0, why);
    else
#endif
      err = write_csv(&t, path, why);
  }
  if (!err && rows)
    *rows = t.nrows;
  table_free(&t);
  return err;
}

/* ---- the report as a ledger ---- */

/* The report's columns: a Chinese header each, the figure of a row. */
typedef struct rcol {
  const char *zh;
  double (*get)(const node_report_row *r);
} rcol;

static double pending_of(const node_report_row *r)
{
  const char *const *st = node_report_statuses();
  uint64_t k = 0;
  for (int i = 0; st && st[i] && i < NODE_REPORT_VALUES; i++)
    if (strcmp(st[i], "resolved") && strcmp(st[i], "closed"))
      k += r->by_status[i];
  return (double)k;
}

#define RGET(f)                                                              \
  static double get_##f(const node_report_row *r) { return (double)r->f; }
RGET(appeals)
RGET(resolved)
RGET(visits)
RGET(hazards_found)
RGET(visit_hazards)
RGET(disputes_mediated)
RGET(wishes)
RGET(wishes_fulfilled)
RGET(meetings)
RGET(tasks_done)
RGET(errands_done)
RGET(staff_errands)
RGET(lectures)
RGET(activities)
RGET(attendance)
RGET(thefts_stopped)
RGET(fights_stopped)
RGET(party_reports)
RGET(residents)
RGET(households)
RGET(buildings)
#undef RGET

static double get_hours(const node_report_row *r)
{
  return (double)r->volunteer_centihours / 100.0;
}

static double get_corrected(const node_report_row *r)
{
  return (double)r->corrected_centihours / 100.0;
}

static double get_median(const node_report_row *r)
{
  return r->median_days;
}

static const rcol rcols[] = {
    {"诉求", get_appeals},
    {"未办结", pending_of},
    {"已办结", get_resolved},
    {"办结天数中位数", get_median},
    {"走访", get_visits},
    {"发现隐患", get_hazards_found},
    {"其中走访发现", get_visit_hazards},
    {"调解纠纷", get_disputes_mediated},
    {"微心愿", get_wishes},
    {"已实现微心愿", get_wishes_fulfilled},
    {"议事会", get_meetings},
    {"完成共建事项", get_tasks_done},
    {"志愿服务时长(小时)", get_hours},
    {"其中更正(小时)", get_corrected},
    {"志愿跑腿代办", get_errands_done},
    {"工作人员代办", get_staff_errands},
    {"讲座", get_lectures},
    {"活动", get_activities},
    {"参与人次", get_attendance},
    {"制止盗窃", get_thefts_stopped},
    {"制止打架", get_fights_stopped},
    {"在职党员报到", get_party_reports},
    {"居民", get_residents},
    {"住户", get_households},
    {"楼栋", get_buildings},
};

static gs_err report_row(table *t, const node_report_row *r,
                         const char *label)
{
  if (crdt_grow((void **)&t->scopes, &t->scap, t->nrows + 1,
                sizeof *t->scopes) ||
      crdt_grow((void **)&t->cells, &t->cap, (t->nrows + 1) * t->ncols,
                sizeof *t->cells))
    return GS_ENOMEM;
  cell *row = &t->cells[t->nrows * t->ncols];
  memset(row, 0, t->ncols * sizeof *row);
  t->scopes[t->nrows] = dup_n(label, strlen(label));
  row[0].type = C_TEXT;
  row[0].text = dup_n(label, strlen(label));
  t->nrows++;
  if (!t->scopes[t->nrows - 1] || !row[0].text)
    return GS_ENOMEM;
  for (size_t i = 0; i < sizeof rcols / sizeof *rcols; i++) {
    double v = rcols[i].get(r);
    if (v < 0)
      continue; /* no median */
    row[i + 1].type = C_NUM;
    row[i + 1].num = v;
  }
  return GS_OK;
}

gs_err node_export_report(node *n, const node_report *rep,
                          node_export_fmt fmt, const char *path,
                          node_reason *why)
{
  table t = {.n = n};
  gs_err err = GS_OK;
  if (!path || !*path)
    return node_reason_set(why, GS_EINVAL, _("which file? give a file name"));
  if (fmt == NODE_EXPORT_XLSX && strcmp(path, "-") == 0)
    return node_reason_set(why, GS_EINVAL,
                           _("an .xlsx workbook is written to a file, not "
                             "to standard output: give a file name"));
#ifndef GS_HAVE_XLSX
  if (fmt == NODE_EXPORT_XLSX)
    return node_reason_set(why, GS_EINVAL,
                           _("this gridsync was built without "
                             "libxlsxwriter: export to CSV instead (--csv "
                             "FILE)"));
#endif
  snprintf(t.coll, sizeof t.coll, "%s", "统计报表");
  t.cols[0] = "scope";
  t.ncols = 1;
  for (size_t i = 0; i < sizeof rcols / sizeof *rcols; i++)
    if (!(t.cols[t.ncols++] = dup_n(rcols[i].zh, strlen(rcols[i].zh))))
      err = GS_ENOMEM;
  for (size_t i = 0; !err && i < rep->nrows; i++)
    err = report_row(&t, &rep->rows[i], rep->rows[i].grid);
  if (!err)
    err = report_row(&t, &rep->total, "合计");
  if (err) {
    table_free(&t);
    return node_reason_set(why, err, _("out of memory"));
  }
#ifdef GS_HAVE_XLSX
  if (fmt == NODE_EXPORT_XLSX)
    err = write_xlsx(&t, path, false, why);
  else
#endif
    err = write_csv(&t, path, why);
  table_free(&t);
  return err;
}
