/*
 * Command-line tests: run the built gridsync binary on a temporary node
 * directory and check its output, exit codes and error lines.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef GS_GRIDSYNC_EXE
#error "GS_GRIDSYNC_EXE must name the built gridsync binary"
#endif

extern char **environ;

typedef struct run_out {
  int code;
  char *out, *err;
  size_t outlen, errlen;
} run_out;

static char tmpdir[256];
static char nodedir[300];

static void cli_setup(void)
{
  snprintf(tmpdir, sizeof tmpdir, "/tmp/gs-cli-XXXXXX");
  cr_assert_not_null(mkdtemp(tmpdir));
  snprintf(nodedir, sizeof nodedir, "%s/node", tmpdir);
}

static void cli_teardown(void)
{
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  cr_assert_eq(system(cmd), 0);
}

static void slurp(int fd, char **buf, size_t *len)
{
  size_t cap = 4096, n = 0;
  char *b = malloc(cap);
  ssize_t r;
  cr_assert_not_null(b);
  while ((r = read(fd, b + n, cap - n - 1)) > 0) {
    n += (size_t)r;
    if (cap - n < 2) {
      cap *= 2;
      b = realloc(b, cap);
      cr_assert_not_null(b);
    }
  }
  b[n] = '\0';
  *buf = b;
  *len = n;
}

static void run_free(run_out *r)
{
  free(r->out);
  free(r->err);
}

/* Run gridsync with argv (NULL-terminated) and stdin text (may be NULL),
 * capturing stdout and stderr. */
static run_out runv(const char *in, const char *const *argv)
{
  int po[2], pe[2], pi[2];
  run_out r = {0};
  cr_assert_eq(pipe(po), 0);
  cr_assert_eq(pipe(pe), 0);
  cr_assert_eq(pipe(pi), 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pi[0], 0);
  posix_spawn_file_actions_adddup2(&fa, po[1], 1);
  posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
  posix_spawn_file_actions_addclose(&fa, pi[1]);
  posix_spawn_file_actions_addclose(&fa, po[0]);
  posix_spawn_file_actions_addclose(&fa, pe[0]);
  const char *args[64];
  size_t k = 0;
  args[k++] = GS_GRIDSYNC_EXE;
  for (size_t i = 0; argv[i]; i++) {
    cr_assert_lt(k, 63);
    args[k++] = argv[i];
  }
  args[k] = NULL;
  pid_t pid;
  cr_assert_eq(posix_spawn(&pid, GS_GRIDSYNC_EXE, &fa, NULL,
                           (char *const *)args, environ),
               0);
  posix_spawn_file_actions_destroy(&fa);
  close(pi[0]);
  close(po[1]);
  close(pe[1]);
  if (in) {
    size_t n = strlen(in), off = 0;
    while (off < n) {
      ssize_t w = write(pi[1], in + off, n - off);
      cr_assert_gt(w, 0);
      off += (size_t)w;
    }
  }
  close(pi[1]);
  /* stdout first: outputs here are small enough for the stderr pipe */
  slurp(po[0], &r.out, &r.outlen);
  slurp(pe[0], &r.err, &r.errlen);
  close(po[0]);
  close(pe[0]);
  int st;
  cr_assert_eq(waitpid(pid, &st, 0), pid);
  cr_assert(WIFEXITED(st), "gridsync died by a signal");
  r.code = WEXITSTATUS(st);
  return r;
}

#define RUN(...) runv(NULL, (const char *const[]){"--dir", nodedir, __VA_ARGS__, NULL})
#define RUN_IN(in, ...)                                                        \
  runv(in, (const char *const[]){"--dir", nodedir, __VA_ARGS__, NULL})

/* The one line of a failure: stderr ends in exactly one newline for
 * cli_fail (usage errors add a usage line). */
static size_t lines(const char *s)
{
  size_t n = 0;
  for (; *s; s++)
    n += *s == '\n';
  return n;
}

static void init_node(void)
{
  run_out r = RUN("init", "--name", "社区办公室");
  cr_assert_eq(r.code, 0, "init failed: %s", r.err);
  run_free(&r);
}

/* put and return the printed id (static buffer). */
static const char *put_ok(const char *const *args)
{
  static char id[64];
  const char *full[40] = {"--dir", nodedir, "put"};
  size_t k = 3;
  for (size_t i = 0; args[i]; i++)
    full[k++] = args[i];
  full[k] = NULL;
  run_out r = runv(NULL, full);
  cr_assert_eq(r.code, 0, "put failed: %s", r.err);
  cr_assert_eq(r.outlen, 27, "put printed '%s'", r.out);
  memcpy(id, r.out, 26);
  id[26] = '\0';
  run_free(&r);
  return id;
}
#define PUT(...) put_ok((const char *const[]){__VA_ARGS__, NULL})

static json_t *json_of(run_out *r)
{
  json_error_t je;
  json_t *j = json_loads(r->out, 0, &je);
  cr_assert_not_null(j, "not JSON (%s): %s", je.text, r->out);
  return j;
}

static json_t *get_json(const char *coll, const char *id)
{
  run_out r = RUN("--json", "get", coll, id);
  cr_assert_eq(r.code, 0, "get failed: %s", r.err);
  json_t *j = json_of(&r);
  run_free(&r);
  return j;
}

static size_t list_count(const char *const *extra)
{
  const char *full[20] = {"--dir", nodedir, "--json", "list"};
  size_t k = 4;
  for (size_t i = 0; extra[i]; i++)
    full[k++] = extra[i];
  full[k] = NULL;
  run_out r = runv(NULL, full);
  cr_assert_eq(r.code, 0, "list failed: %s", r.err);
  json_t *j = json_of(&r);
  cr_assert(json_is_array(j));
  size_t n = json_array_size(j);
  json_decref(j);
  run_free(&r);
  return n;
}
#define LIST_COUNT(...) list_count((const char *const[]){__VA_ARGS__, NULL})

static char *digest(const char *scope)
{
  run_out r = scope ? RUN("--json", "status", "--scope", scope)
                    : RUN("--json", "status");
  cr_assert_eq(r.code, 0, "status failed: %s", r.err);
  json_t *j = json_of(&r);
  const char *d = json_string_value(json_object_get(j, "digest"));
  cr_assert_not_null(d);
  cr_assert_eq(strlen(d), 64);
  char *out = strdup(d);
  json_decref(j);
  run_free(&r);
  return out;
}

TestSuite(cli, .init = cli_setup, .fini = cli_teardown, .timeout = 120);

Test(cli, init_id_and_second_init_refused)
{
  init_node();
  struct stat st;
  cr_assert_eq(stat(nodedir, &st), 0);
  cr_assert_eq(st.st_mode & 0777, 0700);
  char key[400];
  snprintf(key, sizeof key, "%s/identity.key", nodedir);
  cr_assert_eq(stat(key, &st), 0);
  cr_assert_eq(st.st_mode & 0777, 0600);

  run_out a = RUN("id");
  cr_assert_eq(a.code, 0);
  cr_assert_eq(a.outlen, 53, "id printed '%s'", a.out);
  run_out b = RUN("--json", "id");
  json_t *j = json_of(&b);
  cr_assert_eq(strncmp(json_string_value(json_object_get(j, "id")), a.out,
                       52),
               0);
  cr_assert_str_eq(json_string_value(json_object_get(j, "name")),
                   "社区办公室");
  json_decref(j);

  run_out c = RUN("init");
  cr_assert_eq(c.code, 1);
  cr_assert_eq(lines(c.err), 1, "stderr: %s", c.err);
  cr_assert_not_null(strstr(c.err, "already holds a node"));
  run_out d = RUN("id"); /* identity unchanged */
  cr_assert_str_eq(d.out, a.out);
  run_free(&a), run_free(&b), run_free(&c), run_free(&d);
}

Test(cli, missing_node_directory)
{
  run_out r = RUN("status");
  cr_assert_eq(r.code, 1);
  cr_assert_eq(lines(r.err), 1);
  cr_assert_not_null(strstr(r.err, "no node in"), "stderr: %s", r.err);
  cr_assert_not_null(strstr(r.err, "gridsync init"));
  struct stat st;
  cr_assert_neq(stat(nodedir, &st), 0, "a read command created the dir");
  run_free(&r);
}

Test(cli, chinese_text_round_trips_exactly)
{
  init_node();
  const char *name = "欧阳娜娜·张（曾用名：小芳）😀";
  const char *note = "独居老人，行动不便；每周三上门。\t第二行\n第三行";
  char a1[200], a2[300];
  snprintf(a1, sizeof a1, "name=%s", name);
  snprintf(a2, sizeof a2, "note=%s", note);
  const char *id = PUT("x_resident", "--scope", "gongrencun/qinghejv/g07", a1,
                       a2, "tags+=独居", "tags+=党员");
  char idc[32];
  strcpy(idc, id);
  json_t *j = get_json("x_resident", idc);
  json_t *f = json_object_get(j, "fields");
  cr_assert_str_eq(json_string_value(json_object_get(f, "name")), name);
  cr_assert_str_eq(json_string_value(json_object_get(f, "note")), note);
  json_t *tags = json_object_get(f, "tags");
  cr_assert_eq(json_array_size(tags), 2);
  cr_assert_str_eq(json_string_value(json_object_get(j, "scope")),
                   "gongrencun/qinghejv/g07");
  cr_assert(json_is_false(json_object_get(j, "deleted")));
  json_decref(j);

  /* the human form shows the same bytes */
  run_out r = RUN("get", "x_resident", idc);
  cr_assert_eq(r.code, 0);
  cr_assert_not_null(strstr(r.out, name));
  cr_assert_not_null(strstr(r.out, "独居"));
  run_free(&r);
}

Test(cli, json_values_of_every_type)
{
  init_node();
  char ref_target[32];
  strcpy(ref_target, PUT("x_household", "--scope", "a/b/g1", "room=101"));
  char ref[80];
  snprintf(ref, sizeof ref, "home:={\"$ref\":\"household/%s\"}", ref_target);
  const char *id = PUT("x_resident", "--scope", "a/b/g1", "age:=81",
                       "score:=-2.5", "alive:=true", "gone:=false",
                       "phone:=null", "photo:={\"$hex\":\"00ff10\"}", ref,
                       "big:=9007199254740993");
  char idc[32];
  strcpy(idc, id);
  json_t *j = get_json("x_resident", idc);
  json_t *f = json_object_get(j, "fields");
  cr_assert_eq(json_integer_value(json_object_get(f, "age")), 81);
  cr_assert_eq(json_integer_value(json_object_get(f, "big")),
               9007199254740993LL);
  cr_assert_float_eq(json_real_value(json_object_get(f, "score")), -2.5,
                     1e-12);
  cr_assert(json_is_true(json_object_get(f, "alive")));
  cr_assert(json_is_false(json_object_get(f, "gone")));
  cr_assert(json_is_null(json_object_get(f, "phone")));
  cr_assert_str_eq(
      json_string_value(json_object_get(json_object_get(f, "photo"), "$hex")),
      "00ff10");
  char want[80];
  snprintf(want, sizeof want, "household/%s", ref_target);
  cr_assert_str_eq(
      json_string_value(json_object_get(json_object_get(f, "home"), "$ref")),
      want);
  json_decref(j);
}

Test(cli, malformed_input_is_refused_and_nothing_stored)
{
  init_node();
  char *before = digest(NULL);
  struct {
    const char *arg, *says;
  } bad[] = {
      {"x:={bad", "not JSON"},
      {"x:={\"$ref\":\"nope\"}", "bad reference"},
      {"x:={\"$hex\":\"abc\"}", "odd number"},
      {"x:={\"a\":1}", "an object must be"},
      {"x:=[1,2]", "set elements must be"},
      {"Bad=1", "is not FIELD=TEXT"},
      {"noequals", "is not FIELD=TEXT"},
      {"=value", "is not FIELD=TEXT"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    run_out r = RUN("put", "x_resident", "--scope", "a/b/c", bad[i].arg);
    cr_assert_eq(r.code, 2, "%s: exit %d", bad[i].arg, r.code);
    cr_assert_not_null(strstr(r.err, bad[i].says), "%s: stderr %s",
                       bad[i].arg, r.err);
    cr_assert_eq(strncmp(r.err, "gridsync: ", 10), 0);
    run_free(&r);
  }
  /* empty and bad scopes */
  run_out e = RUN("put", "x_resident", "--scope", "", "name=x");
  cr_assert_eq(e.code, 2);
  cr_assert_not_null(strstr(e.err, "scope is empty"), "%s", e.err);
  run_free(&e);
  run_out s = RUN("put", "x_resident", "--scope", "a//b", "name=x");
  cr_assert_eq(s.code, 2);
  cr_assert_not_null(strstr(s.err, "bad scope"), "%s", s.err);
  run_free(&s);
  run_out ns = RUN("put", "x_resident", "name=x");
  cr_assert_eq(ns.code, 2);
  cr_assert_not_null(strstr(ns.err, "needs a scope"), "%s", ns.err);
  cr_assert_not_null(strstr(ns.err, "give --scope"), "%s", ns.err);
  run_free(&ns);
  /* a field given twice */
  run_out tw = RUN("put", "x_resident", "--scope", "a/b", "n=1", "n=2");
  cr_assert_eq(tw.code, 2);
  run_free(&tw);
  /* invalid UTF-8 text */
  run_out u = RUN("put", "x_resident", "--scope", "a/b", "n=\xff\xfe");
  cr_assert_eq(u.code, 2, "invalid UTF-8 accepted");
  run_free(&u);
  /* text over the limit */
  char *big = malloc(16384 + 16);
  strcpy(big, "n=");
  memset(big + 2, 'x', 16385);
  big[16387] = '\0';
  run_out t = RUN("put", "x_resident", "--scope", "a/b", big);
  cr_assert_eq(t.code, 2);
  cr_assert_not_null(strstr(t.err, "16384"));
  run_free(&t);
  free(big);

  char *after = digest(NULL);
  cr_assert_str_eq(before, after, "a refused put changed the state");
  cr_assert_eq(LIST_COUNT("x_resident"), 0);
  free(before);
  free(after);
}

Test(cli, unknown_record_and_bad_ids)
{
  init_node();
  const char *id = PUT("x_resident", "--scope", "a/b", "name=x");
  char other[32];
  strcpy(other, id);
  other[20] = other[20] == '0' ? '1' : '0'; /* another, valid id */
  run_out r = RUN("get", "x_resident", other);
  cr_assert_eq(r.code, 1);
  cr_assert_eq(lines(r.err), 1);
  cr_assert_not_null(strstr(r.err, "no x_resident record with id"), "%s",
                     r.err);
  run_free(&r);
  run_out c = RUN("get", "x_household", id); /* right id, other collection */
  cr_assert_eq(c.code, 1);
  run_free(&c);
  run_out b = RUN("get", "x_resident", "not-an-id");
  cr_assert_eq(b.code, 2);
  cr_assert_not_null(strstr(b.err, "bad record id"));
  run_free(&b);
  run_out d = RUN("delete", "x_resident", other);
  cr_assert_eq(d.code, 1);
  run_free(&d);
  run_out h = RUN("history", "x_resident", other);
  cr_assert_eq(h.code, 1);
  run_free(&h);
}

Test(cli, usage_errors_and_help)
{
  run_out a = RUN("frobnicate");
  cr_assert_eq(a.code, 2);
  cr_assert_not_null(strstr(a.err, "unknown command"));
  run_out b = runv(NULL, (const char *const[]){"--help", NULL});
  cr_assert_eq(b.code, 0);
  cr_assert_not_null(strstr(b.out, "usage: gridsync"));
  cr_assert_not_null(strstr(b.out, "history"));
  run_out c = runv(NULL, (const char *const[]){"help", "put", NULL});
  cr_assert_eq(c.code, 0);
  cr_assert_not_null(strstr(c.out, "FIELD:=JSON"));
  run_out d = runv(NULL, (const char *const[]){NULL});
  cr_assert_eq(d.code, 2);
  run_out e = RUN("get", "x_resident");
  cr_assert_eq(e.code, 2);
  cr_assert_not_null(strstr(e.err, "usage: gridsync get"));
  run_out f = RUN("list");
  cr_assert_eq(f.code, 2);
  run_out g = runv(NULL, (const char *const[]){"--dir", NULL});
  cr_assert_eq(g.code, 2);
  run_free(&a), run_free(&b), run_free(&c), run_free(&d), run_free(&e);
  run_free(&f), run_free(&g);
}

Test(cli, sets_updates_and_field_semantics)
{
  init_node();
  const char *id0 = PUT("x_resident", "--scope", "a/b/g1", "name=李四",
                        "tags+=elderly", "tags+=lives-alone");
  char id[32];
  strcpy(id, id0);
  cr_assert_str_eq(PUT("x_resident", "--id", id, "tags-=elderly",
                       "tags+=disabled", "phone=139"),
                   id);
  json_t *j = get_json("x_resident", id);
  json_t *f = json_object_get(j, "fields");
  json_t *tags = json_object_get(f, "tags");
  cr_assert_eq(json_array_size(tags), 2);
  cr_assert_str_eq(json_string_value(json_array_get(tags, 0)), "disabled");
  cr_assert_str_eq(json_string_value(json_array_get(tags, 1)),
                   "lives-alone");
  cr_assert_str_eq(json_string_value(json_object_get(f, "phone")), "139");
  cr_assert_str_eq(json_string_value(json_object_get(f, "name")), "李四");
  json_decref(j);
  /* assigning a whole set */
  PUT("x_resident", "--id", id, "tags:=[\"low-income\"]");
  j = get_json("x_resident", id);
  tags = json_object_get(json_object_get(j, "fields"), "tags");
  cr_assert_eq(json_array_size(tags), 1);
  cr_assert_str_eq(json_string_value(json_array_get(tags, 0)), "low-income");
  json_decref(j);
  /* an update cannot move the record to another scope */
  run_out r = RUN("put", "x_resident", "--id", id, "--scope", "a/b/g2", "x=1");
  cr_assert_eq(r.code, 1);
  cr_assert_not_null(strstr(r.err, "lives in scope a/b/g1"), "%s", r.err);
  run_free(&r);
  /* overwrite */
  PUT("x_resident", "--id", id, "name=李四四");
  j = get_json("x_resident", id);
  cr_assert_str_eq(
      json_string_value(json_object_get(json_object_get(j, "fields"), "name")),
      "李四四");
  json_decref(j);
}

Test(cli, delete_restore_list_where)
{
  init_node();
  char ids[3][32];
  strcpy(ids[0], PUT("x_resident", "--scope", "s/c/g01", "name=甲",
                     "tags+=elderly"));
  strcpy(ids[1], PUT("x_resident", "--scope", "s/c/g02", "name=乙"));
  strcpy(ids[2], PUT("x_resident", "--scope", "s/c/g010", "name=丙",
                     "tags+=elderly"));
  cr_assert_eq(LIST_COUNT("x_resident"), 3);
  cr_assert_eq(LIST_COUNT("x_resident", "--scope", "s/c/g01"), 1,
               "scope prefixes are segment-wise");
  cr_assert_eq(LIST_COUNT("x_resident", "--scope", "s/c"), 3);
  cr_assert_eq(LIST_COUNT("x_resident", "--where", "tags=elderly"), 2);
  cr_assert_eq(LIST_COUNT("x_resident", "--where", "name=乙"), 1);
  cr_assert_eq(LIST_COUNT("x_resident", "--where", "name=乙", "--where",
                          "tags=elderly"),
               0);
  cr_assert_eq(LIST_COUNT("x_household"), 0);

  run_out d = RUN("delete", "x_resident", ids[1]);
  cr_assert_eq(d.code, 0, "%s", d.err);
  run_free(&d);
  cr_assert_eq(LIST_COUNT("x_resident"), 2);
  cr_assert_eq(LIST_COUNT("x_resident", "--deleted"), 3);
  json_t *j = get_json("x_resident", ids[1]);
  cr_assert(json_is_true(json_object_get(j, "deleted")));
  json_decref(j);
  run_out again = RUN("--json", "delete", "x_resident", ids[1]);
  cr_assert_eq(again.code, 0);
  json_t *ja = json_of(&again);
  cr_assert(json_is_false(json_object_get(ja, "changed")));
  json_decref(ja);
  run_free(&again);
  run_out r = RUN("restore", "x_resident", ids[1]);
  cr_assert_eq(r.code, 0);
  run_free(&r);
  cr_assert_eq(LIST_COUNT("x_resident"), 3);
  j = get_json("x_resident", ids[1]);
  cr_assert(json_is_false(json_object_get(j, "deleted")));
  cr_assert_str_eq(
      json_string_value(json_object_get(json_object_get(j, "fields"), "name")),
      "乙", "restore lost the fields");
  json_decref(j);
}

Test(cli, history_lists_every_change)
{
  init_node();
  char id[32];
  strcpy(id, PUT("x_appeal", "--scope", "s/c/g01", "status=open",
                 "desc=楼道灯坏了"));
  PUT("x_appeal", "--id", id, "status=accepted");
  run_out d = RUN("delete", "x_appeal", id);
  run_free(&d);
  PUT("x_appeal", "--scope", "s/c/g01", "status=open"); /* another record */
  run_out r = RUN("--json", "history", "x_appeal", id);
  cr_assert_eq(r.code, 0, "%s", r.err);
  json_t *j = json_of(&r);
  cr_assert_eq(json_array_size(j), 3);
  json_t *first = json_array_get(j, 0);
  cr_assert_eq(json_integer_value(json_object_get(first, "seq")), 1);
  cr_assert_eq(json_array_size(json_object_get(first, "ops")), 2);
  json_t *second = json_array_get(j, 1);
  json_t *op = json_array_get(json_object_get(second, "ops"), 0);
  cr_assert_str_eq(json_string_value(json_object_get(op, "op")), "set");
  cr_assert_str_eq(json_string_value(json_object_get(op, "value")),
                   "accepted");
  json_t *third = json_array_get(j, 2);
  op = json_array_get(json_object_get(third, "ops"), 0);
  cr_assert_str_eq(json_string_value(json_object_get(op, "op")), "delete");
  json_decref(j);
  run_free(&r);
  run_out h = RUN("history", "x_appeal", id);
  cr_assert_eq(h.code, 0);
  cr_assert_not_null(strstr(h.out, "楼道灯坏了"));
  cr_assert_not_null(strstr(h.out, "delete"));
  run_free(&h);
}

Test(cli, status_digest_follows_state)
{
  init_node();
  char *d0 = digest(NULL);
  PUT("x_resident", "--scope", "s/c/g01", "name=甲");
  char *d1 = digest(NULL);
  char *g02a = digest("s/c/g02");
  cr_assert_str_neq(d0, d1);
  PUT("x_resident", "--scope", "s/c/g01", "name=乙");
  char *g02b = digest("s/c/g02");
  cr_assert_str_eq(g02a, g02b, "a write in g01 changed the digest of g02");
  char *d2 = digest(NULL);
  cr_assert_str_neq(d1, d2);
  char *d2b = digest(NULL);
  cr_assert_str_eq(d2, d2b, "digest is not stable");
  free(d2b);
  run_out r = RUN("--json", "status");
  json_t *j = json_of(&r);
  cr_assert_eq(json_integer_value(json_object_get(j, "records")), 2);
  cr_assert_eq(json_integer_value(json_object_get(j, "changes")), 2);
  json_decref(j);
  run_free(&r);
  run_out h = RUN("status");
  cr_assert_eq(h.code, 0);
  cr_assert_not_null(strstr(h.out, "digest"));
  cr_assert_not_null(strstr(h.out, "社区办公室"));
  run_free(&h);
  free(d0), free(d1), free(d2), free(g02a), free(g02b);
}

Test(cli, key_file_readable_by_others_is_refused)
{
  init_node();
  char key[400];
  snprintf(key, sizeof key, "%s/identity.key", nodedir);
  cr_assert_eq(chmod(key, 0644), 0);
  run_out r = RUN("id");
  cr_assert_eq(r.code, 1);
  cr_assert_not_null(strstr(r.err, "chmod 600"), "%s", r.err);
  cr_assert_eq(r.outlen, 0);
  run_free(&r);
}

Test(cli, clock_before_2024_warns)
{
  init_node();
  setenv("GRIDSYNC_NOW_MS", "946684800000", 1); /* 2000-01-01 */
  run_out r = RUN("--json", "status");
  unsetenv("GRIDSYNC_NOW_MS");
  json_t *j = json_of(&r);
  cr_assert_geq(json_array_size(json_object_get(j, "warnings")), 1);
  cr_assert_not_null(strstr(json_string_value(json_array_get(
                                json_object_get(j, "warnings"), 0)),
                            "before 2024"));
  json_decref(j);
  run_free(&r);
}

Test(cli, load_is_all_or_nothing)
{
  init_node();
  size_t n = 3000;
  char *good = malloc(n * 120 + 64), *p = good;
  for (size_t i = 0; i < n; i++)
    p += sprintf(p, "{\"name\":\"居民%zu\",\"room\":%zu,\"tags\":[\"t%zu\"]}\n",
                 i, i, i % 7);
  run_out r = RUN_IN(good, "--json", "load", "x_resident", "--scope", "s/c/g01",
                     "-");
  cr_assert_eq(r.code, 0, "load failed: %s", r.err);
  json_t *j = json_of(&r);
  cr_assert_eq(json_integer_value(json_object_get(j, "records")), (long)n);
  cr_assert_gt(json_integer_value(json_object_get(j, "changes")), 1);
  json_decref(j);
  run_free(&r);
  cr_assert_eq(LIST_COUNT("x_resident"), n);
  cr_assert_eq(LIST_COUNT("x_resident", "--where", "name=居民2999"), 1);
  char *before = digest(NULL);

  /* a bad line half-way: nothing of the file is stored */
  strcpy(good + strlen(good) / 2, "\n{\"name\": oops}\n");
  run_out b = RUN_IN(good, "load", "x_resident", "--scope", "s/c/g02", "-");
  cr_assert_eq(b.code, 1);
  cr_assert_not_null(strstr(b.err, "line"), "%s", b.err);
  cr_assert_not_null(strstr(b.err, "nothing was stored"), "%s", b.err);
  run_free(&b);
  char *after = digest(NULL);
  cr_assert_str_eq(before, after);
  free(before), free(after), free(good);
}

Test(cli, network_invite_join_commands)
{
  init_node();
  char other[400];
  snprintf(other, sizeof other, "%s/other", tmpdir);
  run_out i0 = runv(NULL, (const char *const[]){"--dir", other, "init", NULL});
  cr_assert_eq(i0.code, 0);
  run_free(&i0);

  run_out nc = RUN("network", "create", "工人村街道");
  cr_assert_eq(nc.code, 0, "%s", nc.err);
  run_free(&nc);
  run_out again = RUN("network", "create", "x");
  cr_assert_eq(again.code, 1);
  cr_assert_not_null(strstr(again.err, "already belongs"));
  run_free(&again);
  run_out bad = RUN("invite", "--role", "chief", "--scope", "a/b");
  cr_assert_eq(bad.code, 2);
  run_free(&bad);
  run_out nosc = RUN("invite", "--role", "leader");
  cr_assert_eq(nosc.code, 2);
  run_free(&nosc);

  run_out inv = RUN("invite", "--role", "leader", "--scope", "s/c/g01",
                    "--expires", "2");
  cr_assert_eq(inv.code, 0, "%s", inv.err);
  cr_assert_eq(lines(inv.out), 1, "the code is one line");
  cr_assert_not_null(strstr(inv.err, "network key"), "no warning: %s",
                     inv.err);
  inv.out[inv.outlen - 1] = '\0';

  /* three days later the code has expired */
  setenv("GRIDSYNC_NOW_MS", "4102444800000", 1); /* 2100 */
  run_out late = runv(NULL, (const char *const[]){"--dir", other, "join",
                                                  inv.out, NULL});
  unsetenv("GRIDSYNC_NOW_MS");
  cr_assert_eq(late.code, 1);
  cr_assert_not_null(strstr(late.err, "expired"), "%s", late.err);
  run_free(&late);

  run_out j = runv(NULL, (const char *const[]){"--dir", other, "--json",
                                               "join", inv.out, NULL});
  cr_assert_eq(j.code, 0, "%s", j.err);
  json_t *jj = json_of(&j);
  cr_assert_str_eq(json_string_value(json_object_get(jj, "role")), "leader");
  cr_assert_str_eq(json_string_value(json_object_get(jj, "network")),
                   "工人村街道");
  json_decref(jj);
  run_free(&j);
  run_out st = runv(NULL, (const char *const[]){"--dir", other, "--json",
                                                "status", NULL});
  jj = json_of(&st);
  cr_assert_str_eq(json_string_value(json_object_get(
                       json_object_get(jj, "network"), "role")),
                   "leader");
  json_decref(jj);
  run_free(&st);
  /* the leader writes its grid, and is refused elsewhere with a reason */
  run_out okp = runv(NULL, (const char *const[]){"--dir", other, "put",
                                                 "x_resident", "--scope",
                                                 "s/c/g01/b7", "name=甲",
                                                 NULL});
  cr_assert_eq(okp.code, 0, "%s", okp.err);
  run_free(&okp);
  run_out no = runv(NULL, (const char *const[]){"--dir", other, "put",
                                                "x_resident", "--scope",
                                                "s/c/g02", "name=乙", NULL});
  cr_assert_eq(no.code, 1);
  cr_assert_eq(lines(no.err), 1, "%s", no.err);
  cr_assert_not_null(strstr(no.err, "may not write s/c/g02"), "%s", no.err);
  run_free(&no);
  run_out res = runv(NULL, (const char *const[]){"--dir", other, "put",
                                                 "member", "--scope", "_net",
                                                 "x=1", NULL});
  cr_assert_eq(res.code, 1);
  cr_assert_not_null(strstr(res.err, "reserved"), "%s", res.err);
  run_free(&res);
  run_out garbage = RUN("join", "GS1NOTACODE");
  cr_assert_eq(garbage.code, 1);
  run_free(&garbage);
  run_free(&inv);
}
