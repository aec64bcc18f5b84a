/*
 * The hybrid logical clock: ticks are strictly monotonic and carry from
 * the counter into the milliseconds; after observing a remote stamp the
 * next tick is later, whatever the local clock says (1970, 2000, years
 * ahead); invalid stamps are refused; the skew is reported.
 */
#include "crdt_test_util.h"

#define NOW 1790000000000ULL /* 2026-09 */
#define Y1970 0ULL
#define Y2000 946684800000ULL
#define Y3000 32503680000000ULL
#define MS_TOP (((uint64_t)1 << 47) - 1) /* largest ms of a valid stamp */

TestSuite(crdt_hlc);

Test(crdt_hlc, valid_range)
{
  cr_assert(!crdt_hlc_valid(0));
  cr_assert(crdt_hlc_valid(1));
  cr_assert(crdt_hlc_valid(CRDT_HLC_MAKE(NOW, 0)));
  cr_assert(crdt_hlc_valid(CRDT_HLC_LIMIT - 1));
  cr_assert(crdt_hlc_valid(CRDT_HLC_MAKE(MS_TOP, 0xffff)));
  cr_assert(!crdt_hlc_valid(CRDT_HLC_LIMIT));
  cr_assert(!crdt_hlc_valid(CRDT_HLC_LIMIT + 1));
  cr_assert(!crdt_hlc_valid(UINT64_MAX));
  /* a stamp near 2^48 ms does not fit a signed 64-bit integer */
  cr_assert(!crdt_hlc_valid(CRDT_HLC_MAKE(((uint64_t)1 << 48) - 1, 0)));
  cr_assert(!crdt_hlc_valid(CRDT_HLC_MAKE((uint64_t)1 << 47, 0)));
  cr_assert_eq(CRDT_HLC_MS(CRDT_HLC_MAKE(NOW, 5)), NOW);
  cr_assert_eq(CRDT_HLC_MAKE(NOW, 0x12345) & 0xffff, 0x2345,
               "the counter is 16 bits");
}

Test(crdt_hlc, tick_follows_the_physical_clock)
{
  crdt_hlc st = 0, t;
  cr_assert_eq(crdt_hlc_tick(&st, NOW, &t), GS_OK);
  cr_assert_eq(t, CRDT_HLC_MAKE(NOW, 0));
  cr_assert_eq(st, t, "the state holds the last stamp");
  cr_assert_eq(crdt_hlc_tick(&st, NOW, &t), GS_OK);
  cr_assert_eq(t, CRDT_HLC_MAKE(NOW, 1), "same ms: the counter counts");
  cr_assert_eq(crdt_hlc_tick(&st, NOW + 5, &t), GS_OK);
  cr_assert_eq(t, CRDT_HLC_MAKE(NOW + 5, 0), "clock moved: counter resets");
  cr_assert_eq(crdt_hlc_tick(&st, NOW - 1000, &t), GS_OK);
  cr_assert_eq(t, CRDT_HLC_MAKE(NOW + 5, 1), "clock went back: no going back");
  cr_assert_eq(crdt_hlc_ahead_ms(t, NOW - 1000), 1005);
}

Test(crdt_hlc, counter_overflow_carries_into_the_milliseconds)
{
  crdt_hlc st = CRDT_HLC_MAKE(NOW, 0xfffe), t;
  cr_assert_eq(crdt_hlc_tick(&st, NOW, &t), GS_OK);
  cr_assert_eq(t, CRDT_HLC_MAKE(NOW, 0xffff));
  cr_assert_eq(crdt_hlc_tick(&st, NOW, &t), GS_OK);
  cr_assert_eq(t, CRDT_HLC_MAKE(NOW + 1, 0), "counter carried");
  cr_assert_eq(crdt_hlc_tick(&st, Y1970, &t), GS_OK);
  cr_assert_eq(t, CRDT_HLC_MAKE(NOW + 1, 1));

  /* a fast writer: 200,000 writes in one millisecond never stall */
  st = 0;
  crdt_hlc prev = 0;
  for (int i = 0; i < 200000; i++) {
    cr_assert_eq(crdt_hlc_tick(&st, NOW, &t), GS_OK);
    if (t <= prev)
      cr_assert_fail("tick %d not after %llu", i, (unsigned long long)prev);
    prev = t;
  }
  cr_assert_eq(t, CRDT_HLC_MAKE(NOW, 0) + 199999);
  cr_assert_eq(CRDT_HLC_MS(t), NOW + 199999 / 65536);
  cr_assert_eq(crdt_hlc_ahead_ms(t, NOW), 199999 / 65536);
  /* the physical clock catching up takes over again */
  cr_assert_eq(crdt_hlc_tick(&st, NOW + 10, &t), GS_OK);
  cr_assert_eq(t, CRDT_HLC_MAKE(NOW + 10, 0));
}

Test(crdt_hlc, random_ticks_are_strictly_monotonic)
{
  static const uint64_t base[] = {Y1970, Y2000, NOW, Y3000};
  tu_rng r = {0x41c};
  for (int run = 0; run < 100; run++) {
    crdt_hlc st = 0, prev = 0, t;
    for (int i = 0; i < 100; i++) {
      uint64_t phys = base[tu_below(&r, 4)] + tu_below(&r, 3);
      cr_assert_eq(crdt_hlc_tick(&st, phys, &t), GS_OK);
      cr_assert_gt(t, prev, "run %d tick %d", run, i);
      cr_assert_geq(t, CRDT_HLC_MAKE(phys, 0), "behind the physical clock");
      cr_assert(crdt_hlc_valid(t));
      cr_assert_eq(st, t);
      prev = t;
    }
  }
}

/* The receive rule on random remote stamps and random, often very wrong,
 * local clocks: 10,000 cases. */
Test(crdt_hlc, observe_then_tick_is_after_the_remote_stamp)
{
  static const uint64_t clocks[] = {Y1970, 1, Y2000, NOW, Y3000, MS_TOP};
  tu_rng r = {0x0b5e};
  for (int i = 0; i < 10000; i++) {
    crdt_hlc st = 0, t;
    if (tu_below(&r, 2))
      cr_assert_eq(crdt_hlc_tick(&st, clocks[tu_below(&r, 4)], &t), GS_OK);
    uint64_t rms = clocks[tu_below(&r, 5)] + tu_below(&r, 1000);
    crdt_hlc remote = CRDT_HLC_MAKE(rms, tu_next(&r));
    if (!crdt_hlc_valid(remote))
      remote = 1;
    crdt_hlc before = st;
    cr_assert_eq(crdt_hlc_observe(&st, remote), GS_OK);
    cr_assert_eq(st, before > remote ? before : remote, "state is the max");
    uint64_t phys = clocks[tu_below(&r, 6)] + tu_below(&r, 3);
    cr_assert_eq(crdt_hlc_tick(&st, phys, &t), GS_OK);
    cr_assert_gt(t, remote, "case %d: write not after what it saw", i);
    cr_assert_gt(t, before);
  }
}

Test(crdt_hlc, clock_far_in_the_past)
{
  /* dead CMOS battery: the clock says 1970 (or 2000), stamps from 2026
   * were seen; writes still come after, and the skew shows */
  for (int k = 0; k < 2; k++) {
    uint64_t phys = k ? Y2000 : Y1970;
    crdt_hlc st = 0, t, seen = CRDT_HLC_MAKE(NOW, 7);
    cr_assert_eq(crdt_hlc_observe(&st, seen), GS_OK);
    cr_assert_eq(crdt_hlc_tick(&st, phys, &t), GS_OK);
    cr_assert_eq(t, seen + 1);
    cr_assert_eq(crdt_hlc_ahead_ms(t, phys), NOW - phys);
    crdt_hlc t2;
    cr_assert_eq(crdt_hlc_tick(&st, phys, &t2), GS_OK);
    cr_assert_gt(t2, t);
  }
  /* no history at all and a clock at 0: stamps are still valid */
  crdt_hlc st = 0, a, b;
  cr_assert_eq(crdt_hlc_tick(&st, 0, &a), GS_OK);
  cr_assert_eq(crdt_hlc_tick(&st, 0, &b), GS_OK);
  cr_assert(crdt_hlc_valid(a));
  cr_assert_gt(b, a);
}

Test(crdt_hlc, clock_far_in_the_future)
{
  /* a peer whose clock says year 3000 */
  crdt_hlc st = 0, t, far = CRDT_HLC_MAKE(Y3000, 3);
  cr_assert_eq(crdt_hlc_observe(&st, far), GS_OK);
  cr_assert_eq(crdt_hlc_tick(&st, NOW, &t), GS_OK);
  cr_assert_gt(t, far);
  cr_assert_eq(crdt_hlc_ahead_ms(t, NOW), Y3000 - NOW);

  /* a stamp at the very top of the valid range is accepted, later ticks
   * count up to the limit, and only then GS_ECLOCK (state unchanged) */
  st = 0;
  crdt_hlc top = CRDT_HLC_MAKE(MS_TOP, 0xfffd);
  cr_assert_eq(crdt_hlc_observe(&st, top), GS_OK);
  cr_assert_eq(crdt_hlc_ahead_ms(top, NOW), MS_TOP - NOW);
  cr_assert_eq(crdt_hlc_tick(&st, NOW, &t), GS_OK);
  cr_assert_eq(t, CRDT_HLC_LIMIT - 2);
  cr_assert_eq(crdt_hlc_tick(&st, NOW, &t), GS_OK);
  cr_assert_eq(t, CRDT_HLC_LIMIT - 1);
  cr_assert(crdt_hlc_valid(t));
  crdt_hlc out = 42;
  cr_assert_eq(crdt_hlc_tick(&st, NOW, &out), GS_ECLOCK);
  cr_assert_eq(st, CRDT_HLC_LIMIT - 1, "failed tick moved the state");
  cr_assert_eq(out, 42, "failed tick wrote a stamp");
  cr_assert_eq(crdt_hlc_tick(&st, UINT64_MAX, &out), GS_ECLOCK);

  /* near 2^48 ms: past the limit, refused, state unchanged */
  st = CRDT_HLC_MAKE(NOW, 0);
  cr_assert_eq(crdt_hlc_observe(&st, CRDT_HLC_MAKE(((uint64_t)1 << 48) - 1,
                                                   0)),
               GS_ECLOCK);
  cr_assert_eq(st, CRDT_HLC_MAKE(NOW, 0));
}

Test(crdt_hlc, a_broken_local_clock_cannot_exhaust_the_stamps)
{
  /* the node's own clock reads absurd values: ticks saturate far below
   * the limit and keep working */
  static const uint64_t absurd[] = {UINT64_MAX, (uint64_t)1 << 63,
                                    (uint64_t)1 << 48, MS_TOP + 1};
  for (size_t k = 0; k < 4; k++) {
    crdt_hlc st = 0, prev = 0, t;
    for (int i = 0; i < 1000; i++) {
      cr_assert_eq(crdt_hlc_tick(&st, absurd[k], &t), GS_OK, "clock %zu", k);
      cr_assert(crdt_hlc_valid(t));
      cr_assert_gt(t, prev);
      prev = t;
    }
    cr_assert_lt(t, CRDT_HLC_LIMIT - ((uint64_t)1 << 61),
                 "saturates far below the limit");
    /* and the clock coming back to normal does not reset anything */
    cr_assert_eq(crdt_hlc_tick(&st, NOW, &t), GS_OK);
    cr_assert_gt(t, prev);
  }
}

Test(crdt_hlc, invalid_remote_stamps_are_refused)
{
  crdt_hlc st = CRDT_HLC_MAKE(NOW, 9);
  static const crdt_hlc bad[] = {0, CRDT_HLC_LIMIT, CRDT_HLC_LIMIT + 1,
                                 UINT64_MAX, (uint64_t)1 << 63 | 5};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cr_assert_eq(crdt_hlc_observe(&st, bad[i]), GS_ECLOCK);
    cr_assert_eq(st, CRDT_HLC_MAKE(NOW, 9));
  }
  /* an older remote stamp does not move the clock back */
  cr_assert_eq(crdt_hlc_observe(&st, CRDT_HLC_MAKE(Y2000, 0)), GS_OK);
  cr_assert_eq(st, CRDT_HLC_MAKE(NOW, 9));
  cr_assert_eq(crdt_hlc_observe(&st, CRDT_HLC_MAKE(NOW, 9)), GS_OK);
  cr_assert_eq(st, CRDT_HLC_MAKE(NOW, 9));
}

Test(crdt_hlc, ahead_ms)
{
  cr_assert_eq(crdt_hlc_ahead_ms(CRDT_HLC_MAKE(NOW, 5), NOW), 0);
  cr_assert_eq(crdt_hlc_ahead_ms(CRDT_HLC_MAKE(NOW, 5), NOW + 1), 0);
  cr_assert_eq(crdt_hlc_ahead_ms(CRDT_HLC_MAKE(NOW, 5), Y2000), NOW - Y2000);
  cr_assert_eq(crdt_hlc_ahead_ms(CRDT_HLC_MAKE(NOW, 5), UINT64_MAX), 0);
  cr_assert_eq(crdt_hlc_ahead_ms(1, 0), 0);
}

Test(crdt_hlc, stamps_order_by_hlc_then_origin)
{
  crdt_stamp a = {.hlc = 5}, b = {.hlc = 5}, c = {.hlc = 6};
  memset(a.origin, 1, CRDT_KEY_LEN);
  memset(b.origin, 2, CRDT_KEY_LEN);
  memset(c.origin, 0, CRDT_KEY_LEN);
  cr_assert_lt(crdt_stamp_cmp(&a, &b), 0);
  cr_assert_gt(crdt_stamp_cmp(&b, &a), 0);
  cr_assert_lt(crdt_stamp_cmp(&b, &c), 0, "hlc decides before origin");
  cr_assert_eq(crdt_stamp_cmp(&a, &a), 0);
  b = a;
  b.origin[CRDT_KEY_LEN - 1] = 0xff; /* the last origin byte counts */
  cr_assert_lt(crdt_stamp_cmp(&a, &b), 0);
  /* 64-bit hlc compare, not a truncated difference */
  crdt_stamp lo = {.hlc = 1}, hi = {.hlc = CRDT_HLC_LIMIT - 1};
  cr_assert_lt(crdt_stamp_cmp(&lo, &hi), 0);
  cr_assert_gt(crdt_stamp_cmp(&hi, &lo), 0);

  /* a total order on random stamps: antisymmetric and transitive */
  tu_rng r = {0x57a};
  for (int i = 0; i < 10000; i++) {
    crdt_stamp s[3];
    for (int k = 0; k < 3; k++) {
      s[k].hlc = 1 + tu_below(&r, 3);
      memset(s[k].origin, 0, CRDT_KEY_LEN);
      s[k].origin[tu_below(&r, CRDT_KEY_LEN)] = (uint8_t)tu_below(&r, 3);
    }
    int ab = crdt_stamp_cmp(&s[0], &s[1]), ba = crdt_stamp_cmp(&s[1], &s[0]);
    cr_assert((ab > 0) == (ba < 0) && (ab == 0) == (ba == 0));
    int bc = crdt_stamp_cmp(&s[1], &s[2]), ac = crdt_stamp_cmp(&s[0], &s[2]);
    if (ab <= 0 && bc <= 0)
      cr_assert_leq(ac, 0);
    if (ab == 0)
      cr_assert(memcmp(&s[0].origin, &s[1].origin, CRDT_KEY_LEN) == 0 &&
                s[0].hlc == s[1].hlc);
  }
}
