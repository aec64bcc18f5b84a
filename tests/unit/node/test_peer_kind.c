/*
 * What went wrong with a peer (issue 17): the address book's failures
 * put into kinds a person can act on (node_peer_kind_of, node/address.c),
 * each with a code and a sentence, and the kind kept with the note in
 * the book's entry (node__book_decode), entries written before it read
 * as "other".
 */
#include <criterion/criterion.h>
#include <msgpack.h>
#include <string.h>
#include <uv.h>

#include "crdt/gs_i18n.h"
#include "node/netnode.h"
#include "node/node_internal.h"

TestSuite(node_peer_kind);

Test(node_peer_kind, classifies_where_it_failed)
{
  cr_assert_eq(node_peer_kind_of(GS_OK, false), NODE_PEER_OK);
  cr_assert_eq(node_peer_kind_of(GS_OK, true), NODE_PEER_OK);
  /* a closed port, no route, a name nobody knows */
  cr_assert_eq(node_peer_kind_of(UV_ECONNREFUSED, false),
               NODE_PEER_UNREACHABLE);
  cr_assert_eq(node_peer_kind_of(UV_EHOSTUNREACH, false),
               NODE_PEER_UNREACHABLE);
  cr_assert_eq(node_peer_kind_of(UV_ENETUNREACH, false),
               NODE_PEER_UNREACHABLE);
  cr_assert_eq(node_peer_kind_of(UV_EAI_NONAME, false),
               NODE_PEER_UNREACHABLE);
  cr_assert_eq(node_peer_kind_of(UV_ETIMEDOUT, false), NODE_PEER_TIMEOUT);
  cr_assert_eq(node_peer_kind_of(GS_ETIMEOUT, true), NODE_PEER_TIMEOUT);
  /* another network key: the handshake fails, or the other side hangs up
   * before it completes */
  cr_assert_eq(node_peer_kind_of(GS_EHANDSHAKE, false), NODE_PEER_KEY);
  cr_assert_eq(node_peer_kind_of(GS_ECLOSED, false), NODE_PEER_KEY);
  cr_assert_eq(node_peer_kind_of(UV_ECONNRESET, false), NODE_PEER_KEY);
  /* ... but a hang-up after it is the peer stopping the sync */
  cr_assert_eq(node_peer_kind_of(GS_ECLOSED, true), NODE_PEER_CLOSED);
  cr_assert_eq(node_peer_kind_of(UV_EOF, true), NODE_PEER_CLOSED);
  cr_assert_eq(node_peer_kind_of(GS_EPERM, true), NODE_PEER_REFUSED);
  cr_assert_eq(node_peer_kind_of(GS_EVERSION, false), NODE_PEER_VERSION);
  cr_assert_eq(node_peer_kind_of(GS_EPROTO, true), NODE_PEER_BADDATA);
  cr_assert_eq(node_peer_kind_of(GS_ESIG, true), NODE_PEER_BADDATA);
  cr_assert_eq(node_peer_kind_of(GS_ECRYPTO, true), NODE_PEER_BADDATA);
  cr_assert_eq(node_peer_kind_of(GS_ENOMEM, true), NODE_PEER_OTHER);
  cr_assert_eq(node_peer_kind_of(-12345, true), NODE_PEER_OTHER);
}

Test(node_peer_kind, every_kind_has_a_code_and_a_sentence)
{
  cr_assert_str_eq(node_peer_kind_code(NODE_PEER_OK), "ok");
  cr_assert_str_eq(node_peer_kind_text(NODE_PEER_OK), "");
  for (int k = 1; k <= NODE_PEER_KIND_MAX; k++) {
    const char *c = node_peer_kind_code((node_peer_kind)k);
    cr_assert(c && *c && strcmp(c, "ok") != 0);
    cr_assert(strlen(node_peer_kind_text((node_peer_kind)k)) > 20);
    for (int j = 0; j < k; j++)
      cr_assert_str_neq(c, node_peer_kind_code((node_peer_kind)j));
  }
  cr_assert_str_eq(node_peer_kind_code((node_peer_kind)99), "other");
  cr_assert_str_eq(node_peer_kind_text((node_peer_kind)99),
                   node_peer_kind_text(NODE_PEER_OTHER));
  cr_assert_str_eq(node_peer_kind_code(NODE_PEER_UNREACHABLE), "unreachable");
}

/* An entry [last_ok, last_try, failures, note, nil, found(, kind)]. */
static void entry(msgpack_sbuffer *sb, int n, uint64_t failures,
                  uint64_t kind)
{
  msgpack_packer pk;
  msgpack_sbuffer_init(sb);
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, (size_t)n);
  msgpack_pack_uint64(&pk, 0);
  msgpack_pack_uint64(&pk, 1000);
  msgpack_pack_uint64(&pk, failures);
  msgpack_pack_str(&pk, 14);
  msgpack_pack_str_body(&pk, "cannot connect", 14);
  msgpack_pack_nil(&pk);
  if (n >= 6)
    msgpack_pack_uint8(&pk, NODE_FOUND_TYPED);
  if (n >= 7)
    msgpack_pack_uint64(&pk, kind);
}

Test(node_peer_kind, kept_with_the_note_in_the_book)
{
  node_peer_info info;
  char note[NODE__BOOK_NOTE_MAX];
  uint8_t key[CRDT_KEY_LEN];
  msgpack_sbuffer sb;

  entry(&sb, 7, 2, NODE_PEER_UNREACHABLE);
  cr_assert_eq(node__book_decode((uint8_t *)sb.data, sb.size, &info, note,
                                 key),
               GS_OK);
  cr_assert_eq(info.kind, NODE_PEER_UNREACHABLE);
  cr_assert_str_eq(info.note, "cannot connect"); /* the raw note stays */
  cr_assert_eq(info.failures, 2);
  msgpack_sbuffer_destroy(&sb);

  /* written before kinds were kept: a failure is "other", none "ok" */
  entry(&sb, 6, 3, 0);
  cr_assert_eq(node__book_decode((uint8_t *)sb.data, sb.size, &info, note,
                                 key),
               GS_OK);
  cr_assert_eq(info.kind, NODE_PEER_OTHER);
  msgpack_sbuffer_destroy(&sb);
  entry(&sb, 5, 0, 0);
  cr_assert_eq(node__book_decode((uint8_t *)sb.data, sb.size, &info, note,
                                 key),
               GS_OK);
  cr_assert_eq(info.kind, NODE_PEER_OK);
  msgpack_sbuffer_destroy(&sb);

  /* a kind out of range is a damaged entry */
  entry(&sb, 7, 1, NODE_PEER_KIND_MAX + 1);
  cr_assert_eq(node__book_decode((uint8_t *)sb.data, sb.size, &info, note,
                                 key),
               GS_ECORRUPT);
  msgpack_sbuffer_destroy(&sb);
}
