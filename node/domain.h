/*
 * node/domain.h: the one checked write path and the queries every front
 * end (cli/, web/) uses (DESIGN.md section 8; CONVENTIONS rule 16).
 *
 * A front end never builds ops, checks the schema or reads the store: it
 * resolves what a person typed into records (node_resolve), edits a
 * record through a node_edit (typed values, set adds and removes, domain
 * verbs), commits it (node_edit_commit, or many at once in a node_batch)
 * and reads records through node_get / node_query / node_history. Every
 * refusal is one node_reason: a gs_err code and one human sentence, which
 * every front end shows as it is.
 *
 * Ownership: values passed in are copied (a node_edit owns its copies);
 * records passed to callbacks are borrowed for the call; results said to
 * be malloc'd are the caller's to free with the function named.
 */
#ifndef GS_NODE_DOMAIN_H
#define GS_NODE_DOMAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crdt/crdt.h"
#include "node/node.h"
#include "node/schema.h"

typedef struct node node;
typedef struct node_coll node_coll;
typedef struct node_field node_field;

#define NODE_PHONE_MAX 64 /* bytes of a phone as stored, with its NUL */

/* ---- refusals ---- */

#define NODE_REASON_MAX 512

/* Why something was refused: code is the gs_err returned with it (GS_OK
 * when nothing was refused); text one sentence for a person, never
 * empty when code is not GS_OK; field the field (or "scope") the person
 * must give or change, "" when none, so that a front end can point at
 * its own control (the CLI's --FIELD, a form's input). GS_EINVAL means
 * what was given is not of the right form (a usage error); other codes
 * are refusals of well-formed requests (schema, permission...). */
typedef struct node_reason {
  gs_err code;
  char field[CRDT_NAME_MAX + 1];
  char text[NODE_REASON_MAX];
} node_reason;

/* Set r (when non-NULL; field "") and return code. */
gs_err node_reason_set(node_reason *r, gs_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same, naming the field concerned. */
gs_err node_reason_for(node_reason *r, const char *field, gs_err code,
                       const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- finding records by what a person says ---- */

#define NODE_HIT_NAME_MAX 96
#define NODE_HIT_DETAIL_MAX 160

/* A record found, copied out. name is its name, title or description
 * (cut at a UTF-8 boundary; "" when none); detail what tells it apart
 * from another of the same name (scope, birth year, phone ending). */
typedef struct node_hit {
  char coll[CRDT_NAME_MAX + 1];
  uint8_t id[CRDT_ID_LEN];
  char scope[CRDT_SCOPE_MAX + 1]; /* "" when not held here */
  char name[NODE_HIT_NAME_MAX];
  char detail[NODE_HIT_DETAIL_MAX];
  bool deleted;
  bool held; /* false: a reference to a record this node does not hold */
} node_hit;

/* Candidates of an ambiguous name; v is malloc'd (node_hits_free). */
typedef struct node_hits {
  node_hit *v;
  size_t n;
} node_hits;
void node_hits_free(node_hits *h);

enum {
  NODE_RESOLVE_LIVE = 1 << 0, /* refuse a deleted record */
};

#define NODE_CANDIDATES_MAX 20

/* Resolve text to one record of the collections refs ("resident" or
 * "unit|team"; NULL: any collection of the schema): a 26-character id,
 * "COLL/ID", or a name (the record's name or title, exactly). Returns
 * GS_OK with *out; GS_ENOTFOUND; GS_EAMBIG with the candidates (at most
 * NODE_CANDIDATES_MAX) in *cands when cands is non-NULL; GS_EINVAL for
 * text of the wrong form; GS_EPERM (LIVE) for a deleted record. An id
 * of a single collection that this node does not hold resolves to a
 * reference that is not held (out->held false). why says what to do. */
gs_err node_resolve(node *n, const char *refs, const char *text,
                    unsigned flags, node_hit *out, node_hits *cands,
                    node_reason *why);

/* Asked to choose among the candidates of an ambiguous text (a front
 * end in a terminal offers a numbered choice): returns the index of the
 * one meant, or -1 for none (the text stays ambiguous). text is what was
 * typed, field the field it was given for ("" when none). */
typedef int (*node_choose_cb)(void *ctx, const char *field, const char *text,
                              const node_hits *cands);

/* node_resolve, and when text is ambiguous and choose is non-NULL, the
 * candidate choose picks. Same results otherwise. */
gs_err node_resolve_choose(node *n, const char *refs, const char *text,
                           unsigned flags, node_choose_cb choose, void *cctx,
                           const char *field, node_hit *out,
                           node_reason *why);

/* ---- reading ---- */

/* A record, copied out: *out is the caller's (crdt_record_free).
 * GS_ENOTFOUND when this node does not hold it. */
gs_err node_get(node *n, const char *coll, const uint8_t id[CRDT_ID_LEN],
                crdt_record **out);
/* The human name of (coll, id) into buf ("" when not held or unnamed). */
void node_record_name(node *n, const char *coll,
                      const uint8_t id[CRDT_ID_LEN], char *buf, size_t cap);
/* The display name of r itself (name, title, what or description). */
void node_name_of(const crdt_record *r, char *buf, size_t cap);

/* ---- showing records (node/display.c) ---- */

/* What a person reads for value v of field of coll, into buf: an allowed
 * value's Chinese label (node_schema_label), a reference's record name
 * (node_record_name; COLL/ID when this node holds no name for it), any
 * other value as node_value_text writes it. n may be NULL (no names). */
void node_display_text(node *n, const char *coll, const char *field,
                       const crdt_value *v, char *buf, size_t cap);

/* Who wrote a change, for a person: the node's name when it is this node
 * (the names of other nodes are not replicated), else the first 12
 * characters of its key. */
void node_author_text(node *n, const uint8_t origin[CRDT_KEY_LEN], char *buf,
                      size_t cap);

/* ---- what changed (node/changes.c) ---- */

#define NODE_CHANGES_MAX 10000 /* items one call returns at most */

/* One record one change touched. */
typedef struct node_change_item {
  uint64_t ms;  /* when (the change's HLC time, Unix ms) */
  uint64_t seq; /* in its feed */
  uint8_t origin[CRDT_KEY_LEN];
  char author[NODE_NAME_MAX + 16]; /* node_author_text */
  char scope[CRDT_SCOPE_MAX + 1];  /* the grid it was written in */
  char coll[CRDT_NAME_MAX + 1];
  uint8_t id[CRDT_ID_LEN];
  char name[NODE_HIT_NAME_MAX];    /* the record's name now ("" if none) */
  char fields[160];                /* fields written, "name,phone" */
  bool deleted, restored;
} node_change_item;
typedef int (*node_change_item_cb)(void *ctx, const node_change_item *it);

/* Every record changed at or after since_ms in scopes under prefix (NULL
 * or "": all; the node's own "_" scopes never), oldest first, by any
 * author; at most NODE_CHANGES_MAX items (*truncated, optional, says
 * when more were left out). Items are borrowed for the call. */
gs_err node_changes(node *n, const char *prefix, uint64_t since_ms,
                    node_change_item_cb cb, void *ctx, bool *truncated,
                    node_reason *why);
/* The start (local midnight, Unix ms) of the day text names as a date
 * people write (node_date_parse: 昨天, 2026/12/5...). */
gs_err node_day_start_ms(node *n, const char *text, uint64_t *out,
                         node_reason *why);

/* ---- questions volunteers ask (node/questions.c) ---- */

#define NODE_QUESTION_ROWS_MAX 100000 /* households one question reads */

/* A household not visited lately. */
typedef struct node_unvisited_item {
  uint8_t id[CRDT_ID_LEN];
  char scope[CRDT_SCOPE_MAX + 1];
  char building[NODE_HIT_NAME_MAX]; /* its building's name */
  char address[NODE_HIT_NAME_MAX];  /* "5号楼2单元301" */
  char last[11];                    /* last visit, "" when never */
  long days;                        /* since the last visit; -1: never */
} node_unvisited_item;
typedef int (*node_unvisited_cb)(void *ctx, const node_unvisited_item *it);

/* Households under prefix (NULL or "": all), of the building named
 * building when non-NULL (node_resolve: "5", "5号楼"), with no visit in
 * the last days days (1..3660; today counts as one) by the node's clock:
 * a visit counts for the household it names, or for the household of
 * the resident it names. In order of building, stairwell and room. */
gs_err node_unvisited(node *n, const char *prefix, const char *building,
                      int days, node_unvisited_cb cb, void *ctx,
                      node_reason *why);

/* A building's contact sheet: the building, then one row per resident
 * living there (by household or by the resident's own building), and
 * one per household where nobody is recorded, by stairwell and room. */
typedef struct node_contact_head {
  uint8_t id[CRDT_ID_LEN];
  char name[NODE_HIT_NAME_MAX];
  char scope[CRDT_SCOPE_MAX + 1];
  char leader[NODE_HIT_NAME_MAX]; /* the building leader (楼栋长) */
  char phone[NODE_PHONE_MAX];
  /* its self-management squad (a team naming the building, the first
   * by id): its name, and its members as "NAME PHONE" joined by "; ",
   * residents first, then the outsiders ("" when none) */
  char squad[NODE_HIT_NAME_MAX];
  char squad_members[512];
} node_contact_head;

typedef struct node_contact_row {
  char address[NODE_HIT_NAME_MAX]; /* "5号楼2单元301" */
  char unit[32], room[64];
  bool has_household, has_resident;
  uint8_t household[CRDT_ID_LEN], resident[CRDT_ID_LEN];
  char name[NODE_HIT_NAME_MAX];   /* "" for a household without residents */
  char phone[NODE_PHONE_MAX];
  char household_phone[NODE_PHONE_MAX];
  int birth_year;                 /* 0: unknown */
  char tags[160];                 /* labels: "独居、老年人" */
} node_contact_row;
typedef int (*node_contact_cb)(void *ctx, const node_contact_row *row);

/* The contact sheet of the building text names (node_resolve: "5",
 * "5号楼"): *head, then cb per row. */
gs_err node_contact_sheet(node *n, const char *building,
                          node_contact_head *head, node_contact_cb cb,
                          void *ctx, node_reason *why);

/* ---- dates as people write them (node/dates.c) ---- */

/* Read a date as a person writes it: 2026-12-05, 2026/12/05, 2026/12/5,
 * 2026.12.5, 2026年12月5日, 今天, 昨天, 前天, today, yesterday (the node's
 * clock, local time). true with out "YYYY-MM-DD" for a valid date. */
bool node_date_parse(node *n, const char *text, char out[11]);

/* ---- phones as people type them (node/phones.c) ---- */

/* The n bytes of p without spaces, tabs and dashes into out (cap bytes,
 * NUL-terminated): how a phone is stored and compared. false (out
 * unusable) when it does not fit. */
bool node_phone_norm(const char *p, size_t n, char *out, size_t cap);
/* true when text is digits with spaces, dashes or '+' (a phone typed). */
bool node_phone_like(const char *text);

/* Records and changes passed to callbacks are borrowed for the call; a
 * callback returns non-zero to stop. */
typedef int (*node_record_cb)(void *ctx, const crdt_record *r);
typedef int (*node_change_cb)(void *ctx, const crdt_change *c);

/* Every change that touched (coll, id), oldest first. GS_ENOTFOUND when
 * none. */
gs_err node_history(node *n, const char *coll, const uint8_t id[CRDT_ID_LEN],
                    node_change_cb cb, void *ctx);

/* One condition of a query: FIELD=V (equal; a set holds V), FIELD~V (text
 * contains V), FIELD<V, <=, >, >= (numbers and dates), FIELD!=V. */
typedef enum node_qop {
  NODE_Q_EQ,
  NODE_Q_NE,
  NODE_Q_CONTAINS,
  NODE_Q_LT,
  NODE_Q_LE,
  NODE_Q_GT,
  NODE_Q_GE,
} node_qop;

typedef struct node_cond {
  const char *field; /* borrowed */
  size_t field_len;
  node_qop op;
  const char *value; /* as a person typed it; borrowed */
} node_cond;

/* Parse "FIELD<op>VALUE" (borrowing text). false when it is not one. */
bool node_cond_parse(const char *text, node_cond *out);
/* The condition of field and expr as an option gives it (--birth-year
 * '<1946', --age '>=65', --tag 独居): expr starting with <=, >=, !=, <, >,
 * = or ~ is that comparison, else equality (borrowing both). false for a
 * bad field name. A resident's "age" (this year's, from birth_year) is a
 * field of queries too. */
bool node_cond_value(const char *field, const char *expr, node_cond *out);

/* The condition of a search for text in coll (`resident find 王`): the
 * phone contains it when it is all digits and coll has a phone, else
 * the record's name (or description, what, title) contains it. */
void node_find_cond(const node_coll *c, const char *text, node_cond *out);
/* The field a record's one free text fills: name, description, what,
 * title or notes, the first the collection has; NULL when none. */
const char *node_main_text(const node_coll *c);

typedef struct node_query {
  const char *coll;       /* required */
  const char *prefix;     /* scope prefix; NULL or "": all */
  const node_cond *conds; /* all must hold */
  size_t nconds;
  bool deleted;           /* include deleted records */
  bool moved;             /* include the old records of residents who moved
                           * to another grid (status "moved"; hidden unless
                           * asked for, or a condition names status) */
  size_t offset, limit;   /* skip offset matches; limit 0: no limit */
  node_choose_cb choose;  /* NULL: an ambiguous reference is refused */
  void *choose_ctx;
} node_query;

/* Run q: cb gets each matching record in id order (creation order),
 * after offset, at most limit. *matched (optional) counts every match,
 * also those skipped or past the limit (for paging). Conditions are
 * checked against the schema first: an unknown field, a value that is
 * not allowed, or an operator the field's type has no use for is
 * GS_EINVAL with why, never a silent empty result. A reference value is
 * resolved like node_resolve (a name, COLL/ID or an id). */
gs_err node_query_run(node *n, const node_query *q, node_record_cb cb,
                      void *ctx, size_t *matched, node_reason *why);

/* ---- ledgers to hand on (node/export.c) ---- */

#define NODE_EXPORT_ROWS_MAX 200000 /* records one export writes at most */

typedef enum node_export_fmt { NODE_EXPORT_CSV, NODE_EXPORT_XLSX } node_export_fmt;
enum { NODE_EXPORT_PER_GRID = 1 << 0 }; /* .xlsx: one sheet per grid */

/* Write the records of q to path ("-": standard output, CSV only) as a
 * ledger: a column 网格 (the scope), then one per field of the schema
 * (a free-form collection: per field seen, at most 64) headed by its
 * Chinese label; cells as a person reads them (labels, names of linked
 * records, sets joined by 、), numbers as numbers, dates as dates. CSV is
 * RFC 4180 in UTF-8 with a BOM, a text cell that a spreadsheet would take
 * for a formula (=, +, -, @ first) prefixed with '; .xlsx (cells written
 * as strings, never formulas) needs libxlsxwriter at build time
 * (GS_EINVAL without it). *rows (optional) gets how many were written;
 * more than NODE_EXPORT_ROWS_MAX is GS_ETOOBIG. A file error is a
 * negative errno. */
gs_err node_export_query(node *n, const node_query *q, node_export_fmt fmt,
                         const char *path, unsigned flags, size_t *rows,
                         node_reason *why);
/* true when this build writes .xlsx. */
bool node_export_xlsx_available(void);

/* ---- writing: the one checked path ---- */

typedef struct node_edit node_edit;

/* A new record of coll. scope: where it goes; NULL: where the first
 * record it refers to lives, else the one scope this node may write,
 * else refused at commit ("where does it belong?"). */
gs_err node_edit_new(node *n, const char *coll, const char *scope,
                     node_edit **out, node_reason *why);
/* The one scope this node's membership lets it write in (a leader with
 * one grid), into out: the default of a new record that refers to no
 * held record. false (out "") when it has none, several, or everything. */
bool node_write_scope(node *n, char out[CRDT_SCOPE_MAX + 1]);

/* An edit of (coll, id). GS_ENOTFOUND when this node does not hold it,
 * unless create: then it is made with this id (never for a collection
 * written once, whose ids name their author). */
gs_err node_edit_open(node *n, const char *coll, const uint8_t id[CRDT_ID_LEN],
                      bool create, node_edit **out, node_reason *why);
void node_edit_free(node_edit *e);

/* The record's id (known from the start; a new one's is made here). */
const uint8_t *node_edit_id(const node_edit *e);
/* true when the edit makes a new record. */
bool node_edit_creates(const node_edit *e);
/* The scope the edit writes in: the record's, the one given, or the
 * default (see node_edit_new); "" while still unknown. */
const char *node_edit_scope(const node_edit *e);
/* Give the scope of a new record (checked at commit). */
gs_err node_edit_set_scope(node_edit *e, const char *scope, node_reason *why);

/* Set field to v (copied). A field is set whole once per edit. */
gs_err node_edit_set(node_edit *e, const char *field, const crdt_value *v,
                     node_reason *why);
/* Add elem to the set field; remove it (every copy this node has seen:
 * the observed-remove). Removing what the set does not hold is no op. */
gs_err node_edit_add(node_edit *e, const char *field, const crdt_value *elem,
                     node_reason *why);
gs_err node_edit_remove(node_edit *e, const char *field,
                        const crdt_value *elem, node_reason *why);
/* The set field holds exactly elems afterwards (adds and removes against
 * what the record holds when the edit commits). */
gs_err node_edit_assign(node_edit *e, const char *field,
                        const crdt_value *elems, size_t n, node_reason *why);
/* Delete (true) or restore (false) the record. */
gs_err node_edit_delete(node_edit *e, bool del, node_reason *why);

/* Resolve ambiguous references of later node_edit_text calls with
 * choose (NULL: refuse them with the candidates in the reason). */
void node_edit_set_chooser(node_edit *e, node_choose_cb choose, void *ctx);

/* What a person typed for field, read by the field's type in the schema:
 * op '=' sets, '+' adds to a set, '-' removes from it. Whole and decimal
 * numbers, true/false, dates (2026-12-05), allowed values, and references
 * resolved by name, COLL/ID or id (NODE_RESOLVE_LIVE). A field outside
 * the schema (free-form collections) takes the text as it is. */
gs_err node_edit_text(node_edit *e, const char *field, char op,
                      const char *text, node_reason *why);

/* A domain verb of the schema on this record (appeal accept, task done:
 * node_schema_verbs): sets the status, the verb's date (date, or today
 * when NULL), clears what the verb clears. GS_EINVAL for a verb the
 * collection does not have. */
gs_err node_edit_verb(node_edit *e, const char *verb, const char *date,
                      node_reason *why);
/* Who a verb's --to names (appeal: assignee; task: unit): set by
 * resolving text like node_edit_text. */
gs_err node_edit_verb_to(node_edit *e, const char *verb, const char *text,
                         node_reason *why);

/* What a commit did. */
typedef struct node_committed {
  uint8_t id[CRDT_ID_LEN];
  char scope[CRDT_SCOPE_MAX + 1];
  bool created;
  bool changed; /* false: nothing to write (e.g. already deleted) */
  uint64_t seq;  /* of the change written; 0 when none */
} node_committed;

/* Check and write e as one durable change: in one write transaction, the
 * record as it is now, defaults (a new record's status, required dates
 * today, its scope), the schema, permission, immutability, status moves
 * and what they need, and the time-bank overdraft check, then the
 * change. e stays the caller's (free it). */
gs_err node_edit_commit(node_edit *e, node_committed *res, node_reason *why);

/* ---- writing many records at once (load, demo data) ---- */

typedef struct node_batch node_batch;

enum {
  NODE_BATCH_IMPORT = 1 << 0, /* whole records: any status, no moves, no
                                 defaults */
  NODE_BATCH_NEW_ONLY = 1 << 1, /* refuse edits of held records */
  NODE_BATCH_CHECK = 1 << 2, /* check only: every check of a put and of
                                the commit (the time bank), nothing
                                queued or written (a load's first pass) */
};

/* Begin a batch: every edit put into it is checked as node_edit_commit
 * checks it, packed into changes per scope, and written in one
 * transaction by node_batch_commit (all or nothing). The time-bank check
 * runs over the whole batch at commit, inside the transaction. */
gs_err node_batch_begin(node *n, unsigned flags, node_batch **out);
/* Check e and queue it (e stays the caller's; what the batch needs of it
 * is taken). On a refusal nothing of e is queued; the batch goes on. */
gs_err node_batch_put(node_batch *b, node_edit *e, node_committed *res,
                      node_reason *why);
/* Records and changes queued so far. */
uint64_t node_batch_records(const node_batch *b);
uint64_t node_batch_changes(const node_batch *b);
/* Write everything durably and free b (also on failure); *changes
 * (optional) gets how many changes were written. */
gs_err node_batch_commit(node_batch *b, uint64_t *changes, node_reason *why);
/* Discard b; NULL is a no-op. */
void node_batch_abort(node_batch *b);
/* A load written in several batches (issue 20) marks in each how far it
 * got: lines of its input and records stored, under digest (of what is
 * loaded), written in the batch's transaction when it commits; lines 0
 * deletes the mark (the load's last batch). A NODE_BATCH_CHECK batch
 * writes nothing. node_load_mark reads it: GS_ENOTFOUND when none. */
gs_err node_batch_mark(node_batch *b, const uint8_t digest[CRDT_HASH_LEN],
                       uint64_t lines, uint64_t records);
gs_err node_load_mark(node *n, const uint8_t digest[CRDT_HASH_LEN],
                      uint64_t *lines, uint64_t *records);
/* Does the node hold the mark of any load (one not finished)? */
gs_err node_load_marks_any(node *n, bool *any);

/* ---- the time bank ---- */

/* A time-bank account: one person's (or unit's, team's) entries. Hours
 * are in hundredths (centi-hours), rounded per entry. */
typedef struct node_balance {
  char coll[CRDT_NAME_MAX + 1]; /* the person's collection */
  uint8_t id[CRDT_ID_LEN];
  int64_t deposits, spends, adjusts; /* centi-hours; adjusts signed */
  int64_t balance;                   /* deposits - spends + adjusts */
  uint64_t entries;
} node_balance;

/* Every account with entries under prefix (NULL or "": all), sorted by
 * person, each summing all its entries this node holds (in any scope);
 * *out is malloc'd (caller frees), NULL when *count is 0. */
gs_err node_timebank_balances(node *n, const char *prefix,
                              node_balance **out, size_t *count);
/* One person's account over everything this node holds (zero when the
 * person has no entries). */
gs_err node_timebank_balance(node *n, const char *coll,
                             const uint8_t id[CRDT_ID_LEN], node_balance *out);
/* Hours (centi-hours) as text: "2", "1.5", "-0.25". */
void node_hours_text(int64_t centi, char *buf, size_t cap);


/* A new time-bank entry of kind ("deposit", "spend", "adjust") for the
 * person (a resident, unit or team resolved by the caller) of hours
 * (text: "2", "1.5"): an edit the caller may add fields to (service,
 * note) and commits. Its scope is the person's unless set. */
gs_err node_timebank_entry(node *n, const node_hit *person, const char *kind,
                           const char *hours, node_edit **out,
                           node_reason *why);


/* ---- the domain's own steps (issue 16) ---- */

/* Move the resident id to another grid: to is a new resident (from
 * node_edit_new with the target scope, holding what the caller gives
 * anew: household, phone...); the move copies into it every field the
 * person carries that the caller did not give (name, tags, passbook...;
 * not the address), links it back (moved_from), and marks the old record
 * moved (status "moved", moved_to, moved_out = date or today, the
 * reason), both in one transaction. The old record keeps its history and
 * the references to it; new references to it are written as its
 * continuation (node_resident_current); time-bank accounts follow the
 * link. to stays the caller's. */
gs_err node_resident_move(node *n, const uint8_t id[CRDT_ID_LEN],
                          node_edit *to, const char *date,
                          const char *reason, node_committed *res,
                          node_reason *why);
/* The record that continues h when h is a resident who moved to another
 * grid (following moved_to, at most 16 links, while held); h unchanged
 * otherwise. */
gs_err node_resident_current(node *n, node_hit *h);

/* A new appeal opened from the visit's finding in one step: in the
 * visit's scope, naming the visit (source "visit"), its household and
 * resident, opened on the visit's date by its visitor; category (NULL:
 * from the finding: hazard, fire-hazard, theft, fraud, stray dogs ->
 * safety; dispute; fall, health -> elderly-care; need -> other) and
 * description (NULL: the visit's notes). A visit without a finding
 * other than "none" is refused. The caller may add fields and commits. */
gs_err node_visit_appeal(node *n, const uint8_t visit[CRDT_ID_LEN],
                         const char *category, const char *description,
                         node_edit **out, node_reason *why);

/* One entry of a time-bank account, as its passbook shows it. */
typedef struct node_passbook_line {
  uint8_t id[CRDT_ID_LEN];
  char date[11];
  char kind[16];                    /* deposit, spend, adjust */
  char service[24];                 /* code, "" when none */
  int64_t centihours;               /* signed: a spend is negative */
  int64_t balance;                  /* after this entry */
  char served[NODE_HIT_NAME_MAX];   /* the person served, by name */
  char goods[128];                  /* a spend's goods */
  char note[128];
  bool correction;                  /* an adjust that corrects an entry */
} node_passbook_line;
typedef int (*node_passbook_cb)(void *ctx, const node_passbook_line *l);

#define NODE_PASSBOOK_MAX 100000 /* entries one passbook lists at most */

/* The account of text (a resident, unit or team by name or id, or a
 * passbook number 储蓄卡) into *who. */
gs_err node_passbook_find(node *n, const char *text, node_choose_cb choose,
                          void *cctx, node_hit *who, node_reason *why);
/* Every entry of the account of (coll, id), and of the records it
 * continues (a resident who moved), by date then entry, each with the
 * balance after it; *total (optional) the balance. */
gs_err node_passbook(node *n, const char *coll, const uint8_t id[CRDT_ID_LEN],
                     node_passbook_cb cb, void *ctx, int64_t *total,
                     node_reason *why);

/* Residents living here (moved ones excluded) aged at least min_age
 * this year (from birth_year), under prefix: the red senior card list,
 * oldest first. */
typedef struct node_senior {
  uint8_t id[CRDT_ID_LEN];
  char scope[CRDT_SCOPE_MAX + 1];
  char name[NODE_HIT_NAME_MAX];
  char address[NODE_HIT_NAME_MAX];
  char phone[NODE_PHONE_MAX];
  char emergency[NODE_HIT_NAME_MAX]; /* "NAME PHONE" */
  int birth_year, age;
  bool alone;
} node_senior;
typedef int (*node_senior_cb)(void *ctx, const node_senior *s);
gs_err node_seniors(node *n, const char *prefix, int min_age,
                    node_senior_cb cb, void *ctx, node_reason *why);

/* true when r is a resident who moved out or to another grid (out of
 * rosters; the record stays). */
bool node_resident_gone(const crdt_record *r);

/* ---- what a person must decide: the conflict inbox (node/inbox.c,
 * issue 16) ---- */

typedef enum node_inbox_kind {
  NODE_INBOX_STATUS_RACE, /* concurrent status moves on one appeal */
  NODE_INBOX_OVERDRAWN,   /* a time-bank account below zero */
  NODE_INBOX_INVITE_TWICE, /* one invite claimed by two keys */
  NODE_INBOX_BAD_FEED,    /* a fork or a quarantined feed */
  NODE_INBOX_HELD,        /* changes held, not applied */
  NODE_INBOX_CLOCK,       /* a clock that is wrong here or on a peer */
} node_inbox_kind;

#define NODE_INBOX_REFS_MAX 2
#define NODE_INBOX_TEXT_MAX 1024
#define NODE_INBOX_APPEALS_MAX 100000 /* appeals one call reads at most */

typedef struct node_inbox_ref {
  char coll[CRDT_NAME_MAX + 1];
  uint8_t id[CRDT_ID_LEN];
} node_inbox_ref;

/* One thing to decide: kind (code: node_inbox_code), what happened in
 * one sentence naming the records by name, the command or step that
 * settles it, and the records concerned. */
typedef struct node_inbox_item {
  node_inbox_kind kind;
  char what[NODE_INBOX_TEXT_MAX];
  char action[NODE_INBOX_TEXT_MAX];
  node_inbox_ref refs[NODE_INBOX_REFS_MAX];
  size_t nrefs;
} node_inbox_item;
typedef int (*node_inbox_cb)(void *ctx, const node_inbox_item *it);

/* The code of kind: "status_race", "overdrawn", "invite_twice",
 * "bad_feed", "held", "clock". */
const char *node_inbox_code(node_inbox_kind kind);

/* Everything a person must decide under prefix (NULL or "": all): items
 * borrowed for the call, cb returns non-zero to stop. Status races: two
 * status sets of one appeal by different authors, next to each other in
 * stamp order, where the later is not a move allowed from the earlier
 * (its author had not seen it), or is allowed both from the earlier and
 * from the status before it and came less than 24 h later (which came
 * first cannot be told from the data). */
gs_err node_inbox(node *n, const char *prefix, node_inbox_cb cb, void *ctx);
/* The same as a JSON array (*out the caller's, json_decref) of objects
 * {kind, what, action, refs: [{collection, id, name}]}. GS_EINVAL for a
 * bad prefix. */
struct json_t;
gs_err node_inbox_json(node *n, const char *prefix, struct json_t **out);

#endif
