/* Hybrid logical clock and stamps. */
#include "crdt/crdt.h"

#include <string.h>

bool crdt_hlc_valid(crdt_hlc h)
{
  return h > 0 && h < CRDT_HLC_LIMIT;
}

gs_err crdt_hlc_tick(crdt_hlc *state, uint64_t phys_ms, crdt_hlc *out)
{
  /* Physical part saturates far below the limit, so a broken clock
   * reading cannot exhaust the stamp space by itself. */
  if (phys_ms > (CRDT_HLC_LIMIT >> 17))
    phys_ms = CRDT_HLC_LIMIT >> 17;
  crdt_hlc phys = CRDT_HLC_MAKE(phys_ms, 0);
  if (*state >= CRDT_HLC_LIMIT - 1)
    return GS_ECLOCK;
  crdt_hlc next = *state + 1; /* counter carries into the ms part */
  if (phys > next)
    next = phys;
  *state = next;
  *out = next;
  return GS_OK;
}

gs_err crdt_hlc_observe(crdt_hlc *state, crdt_hlc remote)
{
  if (!crdt_hlc_valid(remote))
    return GS_ECLOCK;
  if (remote > *state)
    *state = remote;
  return GS_OK;
}

uint64_t crdt_hlc_ahead_ms(crdt_hlc h, uint64_t phys_ms)
{
  uint64_t ms = CRDT_HLC_MS(h);
  return ms > phys_ms ? ms - phys_ms : 0;
}

int crdt_stamp_cmp(const crdt_stamp *a, const crdt_stamp *b)
{
  if (a->hlc != b->hlc)
    return a->hlc < b->hlc ? -1 : 1;
  return memcmp(a->origin, b->origin, CRDT_KEY_LEN);
}
