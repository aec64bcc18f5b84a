/*
 * The limits: what the libraries under gridsync can do on this machine,
 * for scale in tests/bench/run.sh's table.
 *
 *   bench_limits [--json]
 *
 * - libsodium ChaCha20-Poly1305 (IETF) sealing 64 KiB frames: MB/s (the
 *   transport's per-byte cost);
 * - libsodium Ed25519 verification of a signature over 20 KB: verifies/s
 *   (a receiver checks one per contiguous run of a feed);
 * - BLAKE2b-256 over 20 KB messages: MB/s (the hash chain).
 * This benchmark calls libsodium directly on purpose: it measures the
 * library itself, not gridsync's use of it. No secret is kept.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
  int json = argc > 1 && strcmp(argv[1], "--json") == 0;
  if (argc > 1 && !json) {
    fprintf(stderr, "usage: bench_limits [--json]\n");
    return 2;
  }
  if (sodium_init() < 0)
    return 1;
  enum { FRAME = 65536, MSG = 20000 };
  unsigned char *buf = malloc(FRAME + crypto_aead_chacha20poly1305_ietf_ABYTES);
  unsigned char key[crypto_aead_chacha20poly1305_ietf_KEYBYTES];
  unsigned char nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES] = {0};
  randombytes_buf(key, sizeof key);
  randombytes_buf(buf, FRAME);

  /* ChaCha20-Poly1305: seal frames for about a second */
  size_t frames = 0;
  double t0 = now_s(), t;
  do {
    for (int i = 0; i < 64; i++, frames++) {
      nonce[0] = (unsigned char)frames;
      unsigned long long clen;
      crypto_aead_chacha20poly1305_ietf_encrypt(buf, &clen, buf, FRAME, NULL,
                                                0, NULL, nonce, key);
    }
    t = now_s() - t0;
  } while (t < 1.0);
  double aead_mbs = (double)frames * FRAME / t / 1e6;

  /* Ed25519 verify */
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  unsigned char sig[crypto_sign_BYTES];
  crypto_sign_keypair(pk, sk);
  crypto_sign_detached(sig, NULL, buf, MSG, sk);
  sodium_memzero(sk, sizeof sk);
  size_t verifies = 0;
  t0 = now_s();
  do {
    for (int i = 0; i < 64; i++, verifies++)
      if (crypto_sign_verify_detached(sig, buf, MSG, pk) != 0)
        return 1;
    t = now_s() - t0;
  } while (t < 1.0);
  double verify_rate = (double)verifies / t;

  /* BLAKE2b-256 */
  unsigned char h[32];
  size_t hashes = 0;
  t0 = now_s();
  do {
    for (int i = 0; i < 256; i++, hashes++)
      crypto_generichash(h, sizeof h, buf, MSG, NULL, 0);
    t = now_s() - t0;
  } while (t < 1.0);
  double blake_mbs = (double)hashes * MSG / t / 1e6;
  free(buf);

  if (json)
    printf("{\"chacha20poly1305_mb_s\": %.1f, \"ed25519_verify_per_s\": %.0f, "
           "\"blake2b_mb_s\": %.1f}\n",
           aead_mbs, verify_rate, blake_mbs);
  else
    printf("libsodium on this machine: ChaCha20-Poly1305 %.0f MB/s, Ed25519 "
           "verify (20 KB) %.0f/s, BLAKE2b %.0f MB/s\n",
           aead_mbs, verify_rate, blake_mbs);
  return 0;
}
