/* Internals of the net module shared with its tests and fuzz targets. */
#ifndef GS_NET_INTERNAL_H
#define GS_NET_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "crdt/gs_err.h"

struct net_noise_cs;

/* The next frame (4-byte big-endian length, then the body) in buf[0..n):
 * 1 with *frame, *flen (the body) and *used (bytes to skip) when it is
 * complete; 0 when more bytes are needed; GS_EPROTO when the length is
 * over NET_FRAME_MAX or under min_len, decided from the length alone so
 * a peer cannot make us wait for (or buffer) a body we would refuse. */
int net__frame_next(const uint8_t *buf, size_t n, size_t min_len,
                    const uint8_t **frame, size_t *flen, size_t *used);

/* A transport cipher with key k and nonce 0 (tests and fuzzing). */
gs_err net__noise_cs_from_key(const uint8_t k[32], struct net_noise_cs **out);
/* Set the nonce counter of cs to n (tests: nonce exhaustion). */
void net__noise_cs_set_nonce(struct net_noise_cs *cs, uint64_t n);

#endif
