/* cli: the gridsync command. Internal header of the cli module. */
#ifndef GS_CLI_H
#define GS_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "crdt/crdt.h"
#include "node/json.h"
#include "node/domain.h"
#include "node/member.h"
#include "crdt/gs_i18n.h"

/* issue 18: text as a QR code, drawn on stdout when term (after which the
 * caller prints the text) and/or written to file (.png or .svg) when
 * file is non-NULL; "cmd: ..." errors. CLI_OK or CLI_FAIL. */
/* issue 18: whether messages are in Chinese; an allowed value as people
 * read it (the schema's Chinese label under Chinese, else the code). */
bool cli_chinese(void);
const char *cli_value_label(const char *coll, const char *field,
                            const char *value);
/* The printf width that pads s to `cols` terminal columns: a CJK
 * character (3 bytes of UTF-8) takes 2, other characters 1. */
int cli_pad(const char *s, int cols);
int cli_qr_out(const char *cmd, const char *text, bool term, const char *file);

typedef struct node node;
typedef struct crdt_record crdt_record;

/* Exit codes of the contract (DESIGN.md section 9). */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* What every command gets. */
/* ---- the passphrase (cli/cmd_passphrase.c) ---- */
/* Set where node_init/node_open get a passphrase: file (first line; the
 * --passphrase-file option), new_file (--new-passphrase-file, for
 * `passphrase`), else GRIDSYNC_PASSPHRASE / GRIDSYNC_NEW_PASSPHRASE,
 * else a prompt on the terminal. */
void cli_pass_setup(const char *file, const char *new_file);
/* Print the failure for a passphrase error (GS_EPASS, GS_ELOCKED,
 * GS_EPASSSHORT) and return CLI_FAIL; 0 for any other err. */
int cli_pass_fail(const char *dir, gs_err err);
/* For a detached child (ui's serve): the passphrase of the node in dir,
 * got as a command gets it (file, variable, terminal), in a pipe whose
 * read end is returned (inherited: give the child
 * --passphrase-file /dev/fd/N); -1 when none is needed or there is none. */
int cli_pass_pipe(const char *dir);

typedef struct cli_ctx {
  const char *dir; /* node directory */
  bool json;       /* --json: one JSON document on stdout */
  int argc;        /* the command's own arguments (argv[0] = its name) */
  char **argv;
  node *node;      /* opened once by cli_open, closed by main */
} cli_ctx;

/* One failure line on stderr ("gridsync: what: why"); returns CLI_FAIL. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A usage error with a hint; returns CLI_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The node of ctx->dir, opened on first use with flags (one node handle
 * per process: later calls return the same handle, and main closes it),
 * or NULL after printing why not. */
node *cli_open(cli_ctx *ctx, unsigned flags);
struct node_reason;
/* Print a refusal of the domain layer as "gridsync: CMD: TEXT" with the
 * option to give when the reason names a field; exit 2 for a usage error
 * (GS_EINVAL), else 1. */
int cli_refused(const char *cmd, const struct node_reason *why);
/* Print doc (stolen) as the command's JSON output. */
int cli_json_out(json_t *doc);

/* Option parsing: when ctx->argv[*i] is option name, as "--name V" or
 * "--name=V", sets *val (borrowed from argv), advances *i past it and
 * returns 1; returns 0 when it is not; -1 (usage printed) when the value
 * is missing. */
int cli_opt(const cli_ctx *ctx, int *i, const char *name, const char **val);

/* One FIELD<op>VALUE argument of put. */
typedef struct cli_assign {
  const char *field;
  size_t flen;
  char op; /* '=' text, ':' JSON, '+' add, '-' remove */
  const char *val;
} cli_assign;

/* Parse "FIELD=TEXT", "FIELD:=JSON", "FIELD+=ELEM" or "FIELD-=ELEM" (a
 * borrows from the text). false when it is none of them. */
bool cli_parse_assign(const char *a, cli_assign *out);

/* Print one record (human form or --json); messages name cmd. */
int cli_show_record(cli_ctx *ctx, const char *cmd, const char *coll,
                    const char *idtext);

struct node_edit;
struct node_query;
/* Apply one FIELD<op>VALUE argument to an edit: '=' '+' '-' take the
 * text as the field's type reads it (node_edit_text); ':' JSON, an array
 * assigning a whole set. */
gs_err cli_edit_assign(struct node_edit *e, const cli_assign *a,
                       struct node_reason *why);
/* Print the records of q (human form or --json); messages name cmd. */
int cli_list_query(cli_ctx *ctx, const char *cmd, const struct node_query *q);

/* Choosing among namesakes (cli/choose.c): a node_choose_cb that, when
 * stdin and stderr are terminals (and not --json), lists the candidates
 * on stderr and reads a number from stdin; else -1 (still ambiguous).
 * vctx is the cli_ctx (or NULL). */
int cli_choose(void *vctx, const char *field, const char *text,
               const node_hits *cands);

/* Commands. */
int cli_cmd_init(cli_ctx *ctx);
int cli_cmd_passphrase(cli_ctx *ctx);
int cli_cmd_id(cli_ctx *ctx);
int cli_cmd_status(cli_ctx *ctx);
int cli_cmd_put(cli_ctx *ctx);
int cli_cmd_get(cli_ctx *ctx);
int cli_cmd_list(cli_ctx *ctx);
int cli_cmd_delete(cli_ctx *ctx);
int cli_cmd_restore(cli_ctx *ctx);
int cli_cmd_history(cli_ctx *ctx);
int cli_cmd_load(cli_ctx *ctx);
int cli_cmd_network(cli_ctx *ctx);
int cli_cmd_invite(cli_ctx *ctx);
int cli_cmd_join(cli_ctx *ctx);
int cli_cmd_revoke(cli_ctx *ctx);
int cli_cmd_readmit(cli_ctx *ctx);
int cli_cmd_members(cli_ctx *ctx);
int cli_cmd_export(cli_ctx *ctx);
int cli_cmd_import(cli_ctx *ctx);
int cli_cmd_bundle(cli_ctx *ctx);
int cli_cmd_vv(cli_ctx *ctx);
int cli_cmd_sync(cli_ctx *ctx);
int cli_cmd_serve(cli_ctx *ctx);
int cli_cmd_ui(cli_ctx *ctx); /* cmd_ui.c */
/* In the node directory while serve's app runs: "URL PID" (cmd_sync.c
 * writes it, cmd_ui.c reads it). */
#define CLI_UI_ADDR_FILE "ui.addr"
int cli_cmd_peers(cli_ctx *ctx);
int cli_cmd_demo(cli_ctx *ctx);
/* grid, building, resident, appeal...: argv[0] names the collection. */
int cli_cmd_domain(cli_ctx *ctx);
int cli_cmd_report(cli_ctx *ctx);
/* What changed since a day (cli/cmd_changes.c). */
int cli_cmd_changes(cli_ctx *ctx);
int cli_cmd_inbox(cli_ctx *ctx);
/* Looking after a node (cli/cmd_admin.c, issue 21); restore's two forms
 * are told apart by cli_cmd_restore_any. */
int cli_cmd_backup(cli_ctx *ctx);
int cli_cmd_restore_any(cli_ctx *ctx);
int cli_cmd_compact(cli_ctx *ctx);
int cli_cmd_doctor(cli_ctx *ctx);

struct node_network;
/* The network's public id as 16 hex digits. */
void cli_network_id_text(const struct node_network *net, char out[17]);

#endif
