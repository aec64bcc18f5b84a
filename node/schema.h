/*
 * node/schema.h: the domain schema as data (node/schema.c, DESIGN.md
 * section 8): collections, typed fields, allowed values and their Chinese
 * labels, status moves, the domain verbs. Everything here is static.
 */
#ifndef GS_NODE_SCHEMA_H
#define GS_NODE_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crdt/crdt.h"

typedef struct node node;

/* Field types of the schema. */
typedef enum node_ftype {
  NODE_F_TEXT,  /* a string */
  NODE_F_INT,   /* an integer in [min, max] */
  NODE_F_NUM,   /* an integer or float in [min, max] */
  NODE_F_BOOL,
  NODE_F_DATE,  /* a string "YYYY-MM-DD" */
  NODE_F_ENUM,  /* a string among values */
  NODE_F_REF,   /* a ref to a record of collection ref (or refs: "a|b") */
  NODE_F_TAGS,  /* a set of strings among values */
  NODE_F_TEXTS, /* a set of strings */
  NODE_F_REFS,  /* a set of refs to records of collection ref */
} node_ftype;

enum { NODE_F_REQUIRED = 1 << 0 };

struct node_field {
  const char *name;
  node_ftype type;
  unsigned flags;
  const char *const *values; /* ENUM, TAGS: allowed, NULL-terminated */
  const char *ref;           /* REF, REFS: "coll" or "coll1|coll2" */
  double min, max;           /* INT, NUM (both 0: any) */
  const char *help;
  const char *after;         /* DATE: not before this date field */
};
typedef struct node_field node_field;

/* One status change a collection allows; entering `to` needs the fields
 * of needs (set by the same write, or held already). */
typedef struct node_move {
  const char *from, *to;
  const char *needs[2];
} node_move;

struct node_coll {
  const char *name;
  const char *help;
  const node_field *fields;
  size_t nfields;
  bool immutable;            /* written once: no edit, delete or restore */
  const char *status;        /* the field with a state machine, or NULL */
  const char *initial;       /* a new record's status */
  const node_move *moves;    /* allowed status changes */
  size_t nmoves;
};
typedef struct node_coll node_coll;

/* A domain verb: `gridsync appeal accept ID`. Entering `to` sets the
 * status, the date field `date` (when not NULL) to the verb's day, and
 * clears the fields of clears; to_field is the field a verb's --to names
 * (who does it). A collection's verbs are contiguous in the table. */
typedef struct node_verb {
  const char *coll, *name, *to, *date, *to_field;
  const char *clears[2];
  const char *help;
} node_verb;
/* The verbs of coll (*n of them; NULL when none), and one by name. */
const node_verb *node_schema_verbs(const char *coll, size_t *n);
const node_verb *node_schema_verb(const char *coll, const char *verb);

/* The Chinese label of a collection (field, code NULL), of a field of
 * it (code NULL) or of an allowed value: a static string; the name or
 * code itself when the schema has no label for it. */
const char *node_schema_label(const char *coll, const char *field,
                              const char *code);

/* The stable code of an allowed value of field f (ENUM, TAGS) of coll
 * given as text: the code itself or its Chinese label (微心愿 ->
 * micro-wish). A static string; NULL when text is neither. */
const char *node_schema_code(const char *coll, const node_field *f,
                             const char *text);

/* The schema's collections (static; *n gets how many). */
const node_coll *node_schema_all(size_t *n);
/* The collection called name, or NULL. Collections outside the schema
 * are free-form when their name starts with "x_" (see node_schema_check);
 * names starting with '_' are the node's own. */
const node_coll *node_schema_coll(const char *name, size_t n);
const node_field *node_schema_field(const node_coll *c, const char *name,
                                    size_t n);
/* true when c allows its status to go from `from` to `to`. */
bool node_schema_move_ok(const node_coll *c, const char *from, size_t fn,
                         const char *to, size_t tn);
/* Check the ops of one local write to one record (all of ops name the
 * same collection and id) against the schema, given the record's current
 * state cur (NULL when it is new): known collection, known fields, types,
 * allowed values, required fields of a new record, immutable records,
 * status moves. GS_OK, or GS_ESCHEMA with one clear sentence in why.
 * Received changes are not checked against the schema: a newer node may
 * know more fields, and convergence must not depend on the schema. */
enum { NODE_SCHEMA_IMPORT = 1 << 0 }; /* whole records of an import: any
                                        status, no moves checked */
gs_err node_schema_check(const crdt_record *cur, const crdt_op *ops,
                         size_t nops, unsigned flags, char *why,
                         size_t whylen);
/* true when text (n bytes) is a valid date "YYYY-MM-DD". */
bool node_date_valid(const char *text, size_t n);
/* Days since 1970-01-01 (proleptic Gregorian) of the civil date y-m-d. */
long node_days_from_civil(long y, long m, long d);

#endif
