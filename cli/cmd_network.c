/* Network commands: network create and rotate-key, invite, join, revoke,
 * readmit, members. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "node/node.h"
#include "node/member.h"

#define DAY_MS (24ULL * 3600 * 1000)

void cli_network_id_text(const node_network *net, char out[17])
{
  static const char d[] = "0123456789abcdef";
  for (size_t i = 0; i < 8; i++) {
    out[2 * i] = d[net->id[i] >> 4];
    out[2 * i + 1] = d[net->id[i] & 15];
  }
  out[16] = '\0';
}

/* network rotate-key [--grace HOURS] */
static int cmd_rotate(cli_ctx *ctx)
{
  const char *hours = NULL;
  for (int i = 2; i < ctx->argc; i++) {
    int m = cli_opt(ctx, &i, "--grace", &hours);
    if (m < 0)
      return CLI_USAGE;
    if (m == 0)
      return cli_usage("network", "unexpected argument '%s'", ctx->argv[i]);
  }
  uint64_t grace = NODE_ROTATE_GRACE_MS;
  if (hours) {
    char *end;
    unsigned long long h = strtoull(hours, &end, 10);
    if (!*hours || *end || *hours == '-' ||
        h > NODE_ROTATE_GRACE_MAX_MS / 3600000)
      return cli_usage("network", "--grace takes 0 to %llu hours",
                       (unsigned long long)(NODE_ROTATE_GRACE_MAX_MS /
                                            3600000));
    grace = (uint64_t)h * 3600000;
  }
  node *n = cli_open(ctx, 0);
  if (!n)
    return CLI_FAIL;
  node_rotate_info ri;
  int rc = CLI_OK;
  gs_err err = node_network_rotate(n, grace, &ri);
  if (err == GS_ENOTFOUND)
    rc = cli_fail("network rotate-key: this node has no network");
  else if (err == GS_EPERM)
    rc = cli_fail("network rotate-key: only the node that created the "
                  "network can rotate its key");
  else if (err)
    rc = cli_fail("network rotate-key: %s", gs_i18n_strerror(err));
  else {
    char when[40];
    (ctx->json ? node_time_text : node_time_local)(ri.grace_until, when, sizeof when);
    if (ctx->json)
      rc = cli_json_out(json_pack("{s:I, s:s, s:I, s:I}", "epoch",
                                  (json_int_t)ri.epoch, "old_key_until",
                                  when, "members", (json_int_t)ri.sealed,
                                  "left_out", (json_int_t)ri.skipped));
    else
      printf(_("made network key %" PRIu64 ", sealed to %zu members (%zu "
             "revoked or unconfirmed nodes left out); sync it to the "
             "others: the old key stops working %s\n"),
             ri.epoch, ri.sealed, ri.skipped, when);
  }
  return rc;
}

int cli_cmd_network(cli_ctx *ctx)
{
  if (ctx->argc >= 2 && strcmp(ctx->argv[1], "rotate-key") == 0)
    return cmd_rotate(ctx);
  if (ctx->argc < 2 || strcmp(ctx->argv[1], "create") != 0)
    return cli_usage("network", "subcommands: 'create NAME', 'rotate-key "
                                "[--grace HOURS]'");
  if (ctx->argc != 3)
    return cli_usage("network", ctx->argc < 3 ? "the network needs a name"
                                              : "too many arguments");
  const char *name = ctx->argv[2];
  size_t nn = strlen(name);
  if (nn == 0 || nn > NODE_NAME_MAX || !crdt_utf8_valid(name, nn))
    return cli_usage("network", "the name must be 1 to %d bytes of UTF-8",
                     NODE_NAME_MAX);
  node *n = cli_open(ctx, 0);
  if (!n)
    return CLI_FAIL;
  int rc;
  gs_err err = node_network_create(n, name);
  if (err == GS_EEXIST) {
    rc = cli_fail("network: this node already belongs to network \"%s\"",
                  node_net(n)->name);
  } else if (err) {
    rc = cli_fail("network: cannot create: %s", gs_i18n_strerror(err));
  } else {
    char id[17];
    cli_network_id_text(node_net(n), id);
    if (ctx->json)
      rc = cli_json_out(json_pack("{s:s, s:s, s:s}", "network", name, "id",
                                  id, "role", "admin"));
    else {
      printf(_("created network \"%s\" (%s); this node is its admin\n"
             "invite others with: gridsync invite --role ROLE --scope "
             "PREFIX\n"),
             name, id);
      rc = CLI_OK;
    }
  }
  return rc;
}

int cli_cmd_invite(cli_ctx *ctx)
{
  const char *role = NULL, *days = NULL, *v, *qr_file = NULL, *who = NULL;
  bool qr = false;
  const char **scopes = calloc((size_t)ctx->argc, sizeof *scopes);
  size_t ns = 0;
  int rc = CLI_USAGE;
  node *n = NULL;
  char *code = NULL;

  if (!scopes)
    return cli_fail("out of memory");
  for (int i = 1; i < ctx->argc; i++) {
    int m;
    if (strcmp(ctx->argv[i], "--qr") == 0) { /* issue 18 */
      qr = true;
      continue;
    }
    if ((m = cli_opt(ctx, &i, "--role", &role)) != 0 ||
        (m = cli_opt(ctx, &i, "--qr-file", &qr_file)) != 0 ||
        (m = cli_opt(ctx, &i, "--for", &who)) != 0 ||
        (m = cli_opt(ctx, &i, "--expires", &days)) != 0) {
      if (m < 0)
        goto out;
      continue;
    }
    if ((m = cli_opt(ctx, &i, "--scope", &v)) != 0) {
      if (m < 0)
        goto out;
      scopes[ns++] = v;
      continue;
    }
    rc = cli_usage("invite", "unexpected argument '%s'", ctx->argv[i]);
    goto out;
  }
  if (!role || !node_role_valid(role)) {
    rc = cli_usage("invite", "give --role admin, office, leader or reader");
    goto out;
  }
  if (ns == 0 || ns > NODE_SCOPES_MAX) {
    rc = cli_usage("invite", "give 1 to %d --scope PREFIX", NODE_SCOPES_MAX);
    goto out;
  }
  for (size_t i = 0; i < ns; i++)
    if (!*scopes[i] || !crdt_scope_valid(scopes[i], strlen(scopes[i]))) {
      rc = cli_usage("invite", "bad scope '%s' (e.g. street/community/grid)",
                     scopes[i]);
      goto out;
    }
  if (who && !node_member_name_valid(who)) {
    rc = cli_usage("invite", "--for says whom the invite is for: at most "
                             "%d bytes of text (about 20 Chinese "
                             "characters), without line breaks",
                   NODE_MEMBER_NAME_MAX);
    goto out;
  }
  unsigned long long nd = 7;
  if (days) {
    char *end;
    nd = strtoull(days, &end, 10);
    if (!*days || *end || *days == '-' || nd < 1 || nd > 365) {
      rc = cli_usage("invite", "--expires takes 1 to 365 days");
      goto out;
    }
  }
  rc = CLI_FAIL;
  if (!(n = cli_open(ctx, 0)))
    goto out;
  uint64_t expires = node_now(n) + nd * DAY_MS;
  gs_err err = node_invite_for(n, role, scopes, ns, expires, who, &code);
  if (err == GS_ENOTFOUND) {
    rc = cli_fail("invite: this node has no network (create one with "
                  "'gridsync network create NAME')");
    goto out;
  }
  if (err == GS_EPERM) {
    rc = cli_fail("invite: only the node that created the network can "
                  "invite (this node is %s)",
                  node_net(n)->role);
    goto out;
  }
  if (err) {
    rc = cli_fail("invite: %s", gs_i18n_strerror(err));
    goto out;
  }
  char when[40];
  (ctx->json ? node_time_text : node_time_local)(expires, when, sizeof when);
  if ((rc = cli_qr_out("invite", code, qr && !ctx->json, qr_file)) != CLI_OK)
    goto out;
  if (ctx->json) {
    json_t *js = json_array();
    for (size_t i = 0; i < ns; i++)
      json_array_append_new(js, json_string(scopes[i]));
    rc = cli_json_out(json_pack("{s:s, s:s, s:o, s:s, s:s*, s:s}", "code",
                                code, "role", role, "scopes", js, "expires",
                                when, "qr_file", qr_file, "for",
                                who ? who : ""));
  } else {
    printf("%s\n", code);
    fprintf(stderr,
            _("This code carries the network key. Give it only to the person "
            "it is for: show it once, to be typed or scanned, not by chat "
            "or e-mail. It expires %s.\n"),
            when);
    rc = CLI_OK;
  }
out:
  if (code) {
    crdt_wipe(code, strlen(code));
    free(code);
  }
  free(scopes);
  return rc;
}

int cli_cmd_join(cli_ctx *ctx)
{
  if (ctx->argc != 2)
    return cli_usage("join", ctx->argc < 2 ? _("give the invite code")
                                           : _("too many arguments (quote the "
                                             "code if it has spaces)"));
  node *n = cli_open(ctx, 0);
  if (!n)
    return CLI_FAIL;
  int rc;
  gs_err err = node_join(n, ctx->argv[1]);
  switch (err) {
  case GS_OK: {
    const node_network *net = node_net(n);
    char id[17];
    cli_network_id_text(net, id);
    if (ctx->json) {
      json_t *js = json_array();
      for (size_t i = 0; i < net->nscopes; i++)
        json_array_append_new(js, json_string(net->scopes[i]));
      rc = cli_json_out(json_pack("{s:s, s:s, s:s, s:o}", "network",
                                  net->name, "id", id, "role", net->role,
                                  "scopes", js));
    } else {
      printf(_("joined network \"%s\" (%s) as %s of"), net->name, id,
             net->role);
      for (size_t i = 0; i < net->nscopes; i++)
        printf(" %s", net->scopes[i]);
      printf("\n");
      rc = CLI_OK;
    }
    break;
  }
  case GS_EEXIST: {
    node_member_info self;
    if (node_member_get(n, node_pk(n), &self) == GS_OK &&
        self.state != NODE_MEMBER_VALID &&
        memcmp(node_net(n)->admin, node_pk(n), CRDT_KEY_LEN) != 0)
      rc = cli_fail("join: this node joined with this code already (or the "
                    "code is of another network): ask the admin for a new "
                    "invite");
    else
      rc = cli_fail("join: this node already belongs to network \"%s\"",
                    node_net(n)->name);
    break;
  }
  case GS_ETIMEOUT:
    rc = cli_fail("join: the invite code has expired; ask for a new one");
    break;
  case GS_ESIG:
    rc = cli_fail("join: the invite code's signature is wrong (altered or "
                  "forged code)");
    break;
  case GS_EDECODE:
  case GS_ETOOBIG:
  case GS_EUTF8:
  case GS_ESCOPE:
  case GS_ETRUNC:
  case GS_ETRAILING:
    rc = cli_fail("join: this is not a valid invite code (mistyped?)");
    break;
  default:
    rc = cli_fail("join: %s", gs_i18n_strerror(err));
    break;
  }
  return rc;
}

int cli_cmd_revoke(cli_ctx *ctx)
{
  uint8_t key[CRDT_KEY_LEN];
  if (ctx->argc != 2)
    return cli_usage("revoke", "give the node id ('gridsync id' on it)");
  if (crdt_base32_decode(ctx->argv[1], strlen(ctx->argv[1]), key,
                         CRDT_KEY_LEN) != GS_OK)
    return cli_usage("revoke", "'%s' is not a node id (52 characters)",
                     ctx->argv[1]);
  node *n = cli_open(ctx, 0);
  if (!n)
    return CLI_FAIL;
  size_t kept = 0;
  int rc = CLI_OK;
  gs_err err = node_revoke(n, key, &kept);
  if (err == GS_ENOTFOUND)
    rc = cli_fail("revoke: this node has no network");
  else if (err == GS_EPERM)
    rc = cli_fail("revoke: only the network's admin can revoke");
  else if (err == GS_EINVAL)
    rc = cli_fail("revoke: the admin cannot revoke itself");
  else if (err)
    rc = cli_fail("revoke: %s", gs_i18n_strerror(err));
  else if (ctx->json)
    rc = cli_json_out(json_pack("{s:s, s:I}", "revoked", ctx->argv[1],
                                "feeds_kept", (json_int_t)kept));
  else
    printf(_("revoked %s: what it wrote before now (%zu feeds held here) "
           "stays; everything after is refused once this reaches the "
           "others (sync it)\n"),
           ctx->argv[1], kept);
  return rc;
}

int cli_cmd_readmit(cli_ctx *ctx)
{
  uint8_t key[CRDT_KEY_LEN];
  if (ctx->argc != 2)
    return cli_usage("readmit", "give the node id of the key to keep "
                                "('gridsync id' on it)");
  if (crdt_base32_decode(ctx->argv[1], strlen(ctx->argv[1]), key,
                         CRDT_KEY_LEN) != GS_OK)
    return cli_usage("readmit", "'%s' is not a node id (52 characters)",
                     ctx->argv[1]);
  node *n = cli_open(ctx, 0);
  if (!n)
    return CLI_FAIL;
  int rc = CLI_OK;
  gs_err err = node_readmit(n, key);
  if (err == GS_ENOTFOUND)
    rc = cli_fail("readmit: this node knows no claim of %s (sync with the "
                  "office first)",
                  ctx->argv[1]);
  else if (err == GS_EPERM)
    rc = cli_fail("readmit: only the network's admin can re-admit a node");
  else if (err == GS_EINVAL)
    rc = cli_fail("readmit: the invite of %s was used once only: there is "
                  "nothing to decide",
                  ctx->argv[1]);
  else if (err)
    rc = cli_fail("readmit: %s", gs_i18n_strerror(err));
  else if (ctx->json)
    rc = cli_json_out(json_pack("{s:s}", "readmitted", ctx->argv[1]));
  else
    printf(_("re-admitted %s: its changes count again, and the other node "
           "that used its invite stays out, once this reaches the others "
           "(sync it; revoke the other node too)\n"),
           ctx->argv[1]);
  return rc;
}

static const char *state_text(node_member_state s)
{
  switch (s) {
  case NODE_MEMBER_VALID:
    return _("member");
  case NODE_MEMBER_UNWITNESSED:
    return _("not confirmed yet");
  case NODE_MEMBER_LEAKED:
    return _("invite used twice: held");
  case NODE_MEMBER_VOID:
    return _("void");
  default:
    return _("unknown");
  }
}

static const char *state_code(node_member_state s)
{
  static const char *const codes[] = {"valid", "unconfirmed", "leaked",
                                      "void", "none"};
  return (unsigned)s < 5 ? codes[s] : "none";
}

typedef struct members_out {
  bool json;
  json_t *arr;
  node *n;
} members_out;

static int on_member_row(void *ctx, const node_member_info *m)
{
  members_out *mo = ctx;
  char id[CRDT_KEY_TEXT_LEN + 1], other[CRDT_KEY_TEXT_LEN + 1] = "";
  /* named as the app names it (node_member_label) */
  char label[NODE_NAME_MAX + NODE_MEMBER_NAME_MAX + 64], grid[NODE_NAME_MAX + 1];
  node_member_label(mo->n, m, label, sizeof label, grid, sizeof grid);
  crdt_base32_encode(m->key, CRDT_KEY_LEN, id);
  if (m->has_other)
    crdt_base32_encode(m->other, CRDT_KEY_LEN, other);
  if (mo->json) {
    json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:s, s:s, s:s}", "id", id,
                          "role", m->role, "state", state_code(m->state),
                          "revoked", m->revoked, "for", m->name, "grid",
                          grid, "label", label);
    if (m->has_other)
      json_object_set_new(o, "same_invite_as", json_string(other));
    json_array_append_new(mo->arr, o);
  } else {
    printf("%s  %s  %-7s %s%s%s%s\n", label, id, m->role,
           state_text(m->state), m->revoked ? _(", revoked") : "",
           m->has_other ? _(", with ") : "", m->has_other ? other : "");
  }
  return 0;
}

int cli_cmd_members(cli_ctx *ctx)
{
  if (ctx->argc != 1)
    return cli_usage("members", "no arguments");
  node *n = cli_open(ctx, 0);
  if (!n)
    return CLI_FAIL;
  members_out mo = {.json = ctx->json, .arr = ctx->json ? json_array() : NULL,
                    .n = n};
  gs_err err = node_members(n, on_member_row, &mo);
  int rc = CLI_OK;
  if (err) {
    json_decref(mo.arr);
    rc = cli_fail("members: cannot read the store: %s", gs_i18n_strerror(err));
  } else if (ctx->json) {
    rc = cli_json_out(json_pack("{s:o}", "members", mo.arr));
  }
  return rc;
}
