/* libFuzzer target: one address-book entry of the peers db
 * (node__book_decode, netnode.c), the value a damaged or tampered store
 * hands the node for an address. What decodes must be usable as it is
 * shown: a NUL-terminated, valid UTF-8 note within its buffer, a key only
 * when the entry names one. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node/node_internal.h"
#include "node/netnode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  node_peer_info info;
  char note[NODE__BOOK_NOTE_MAX];
  uint8_t key[CRDT_KEY_LEN];
  memset(note, 'x', sizeof note); /* no NUL unless the decoder writes one */
  if (node__book_decode(data, size, &info, note, key) != GS_OK) {
    if (info.note || info.key || info.failures || info.last_ok_ms)
      abort(); /* a refusal leaves nothing half-filled */
    return 0;
  }
  size_t nl = strnlen(note, sizeof note);
  if (info.note != note || nl == sizeof note ||
      !crdt_utf8_valid(note, nl))
    abort();
  if (info.key && info.key != key)
    abort();
  if (info.addr)
    abort();
  return 0;
}
