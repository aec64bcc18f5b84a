/* cli: the gridsync command. Internal header of the cli module. */
#ifndef GS_CLI_H
#define GS_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "crdt/crdt.h"

typedef struct node node;
typedef struct crdt_record crdt_record;

/* Exit codes of the contract (DESIGN.md section 9). */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* What every command gets. */
typedef struct cli_ctx {
  const char *dir; /* node directory */
  bool json;       /* --json: one JSON document on stdout */
  int argc;        /* the command's own arguments (argv[0] = its name) */
  char **argv;
} cli_ctx;

/* One failure line on stderr ("gridsync: what: why"); returns CLI_FAIL. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A usage error with a hint; returns CLI_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Open the node of ctx->dir, or print why not (returns NULL). */
node *cli_open(const cli_ctx *ctx, unsigned flags);
/* Print doc (stolen) as the command's JSON output. */
int cli_json_out(json_t *doc);

/* Option parsing: when ctx->argv[*i] is option name, as "--name V" or
 * "--name=V", sets *val (borrowed from argv), advances *i past it and
 * returns 1; returns 0 when it is not; -1 (usage printed) when the value
 * is missing. */
int cli_opt(const cli_ctx *ctx, int *i, const char *name, const char **val);

/* Values and records as JSON (cli/json.c). */
json_t *cli_value_json(const crdt_value *v);
/* Parse JSON text into a value; strings, bytes and ref collections borrow
 * from *keep, which the caller json_decref()s when done. GS_EINVAL with a
 * message in err (size errlen) when the JSON is no value. Arrays are not
 * values: see cli_json_array. */
gs_err cli_json_value(const char *text, crdt_value *out, json_t **keep,
                      char *err, size_t errlen);
/* The value of JSON j (not an array); strings borrow from j, and $hex
 * bytes are decoded into j (as "$bytes"), so j must outlive the value. */
gs_err cli_json_to_value(json_t *j, crdt_value *out, char *err,
                         size_t errlen);
json_t *cli_record_json(const crdt_record *r);
/* Human form of a value into buf (truncated to cap). */
void cli_value_text(const crdt_value *v, char *buf, size_t cap);
/* ISO 8601 UTC text of Unix ms. */
void cli_time_text(uint64_t ms, char *buf, size_t cap);
/* Parse "COLL/ID" into a ref value (coll borrowed from text). */
gs_err cli_parse_ref(const char *text, crdt_value *out);
/* Parse a 26-char id. */
gs_err cli_parse_id(const char *text, uint8_t id[CRDT_ID_LEN]);

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

/* The core of put, for the domain commands too: write the assignments to
 * (coll, idtext) — a new record in scope when idtext is NULL — after
 * checking them against the schema and the node's permissions. Prints
 * the id (or --json), unless idout (CRDT_ID_TEXT_LEN + 1 bytes) is given:
 * then the id goes there and nothing is printed on success. Op '*' adds
 * a set element given as JSON (a ref). Messages name cmd. */
int cli_put_record(cli_ctx *ctx, const char *cmd, const char *coll,
                   const char *idtext, const char *scope,
                   const cli_assign *as, size_t nas, char *idout);

/* Commands. */
int cli_cmd_init(cli_ctx *ctx);
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
int cli_cmd_peers(cli_ctx *ctx);
int cli_cmd_demo(cli_ctx *ctx);
/* grid, building, resident, appeal...: argv[0] names the collection. */
int cli_cmd_domain(cli_ctx *ctx);
int cli_cmd_report(cli_ctx *ctx);

struct node_network;
/* The network's public id as 16 hex digits. */
void cli_network_id_text(const struct node_network *net, char out[17]);

#endif
