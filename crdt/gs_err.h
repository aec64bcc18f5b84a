/*
 * gs_err: the one error type of gridsync.
 *
 * 0 is success. Negative values are errors, in three bands:
 *   - gridsync's own codes, GS_E* below, from -40000 down;
 *   - LMDB's codes (MDB_KEYEXIST .. MDB_BAD_DBI, -30799 .. -30780), passed
 *     through unchanged by storage/;
 *   - negated errno values and libuv's codes (-1 .. -4095), passed through
 *     unchanged.
 * gs_strerror() names a code from any band.
 */
#ifndef GS_ERR_H
#define GS_ERR_H

typedef int gs_err;

#define GS_ERR_MAP(X)                                                        \
  X(EINVAL,    -40001, "invalid argument")                                   \
  X(ENOMEM,    -40002, "out of memory")                                      \
  X(EDECODE,   -40003, "malformed encoding")                                 \
  X(ETRUNC,    -40004, "truncated input")                                    \
  X(ETRAILING, -40005, "trailing bytes after message")                       \
  X(ETOOBIG,   -40006, "value too large")                                    \
  X(EUTF8,     -40007, "invalid UTF-8 text")                                 \
  X(EVERSION,  -40008, "unsupported format version")                         \
  X(ESIG,      -40009, "bad signature")                                      \
  X(ECHAIN,    -40010, "broken hash chain (prev does not match)")            \
  X(EGAP,      -40011, "gap in feed (seq does not follow)")                  \
  X(EFORK,     -40012, "fork: a different change with the same seq exists")  \
  X(ENOTFOUND, -40013, "not found")                                          \
  X(EEXIST,    -40014, "already exists")                                     \
  X(ESCOPE,    -40015, "invalid scope")                                      \
  X(ENAME,     -40016, "invalid name")                                       \
  X(EPERM,     -40017, "permission denied")                                  \
  X(EKEYMODE,  -40018, "secret key file is readable by others")              \
  X(ECORRUPT,  -40019, "stored data is corrupt")                             \
  X(ECRYPTO,   -40020, "cryptographic failure")                              \
  X(EHANDSHAKE,-40021, "handshake failed")                                   \
  X(ECLOSED,   -40022, "connection closed")                                  \
  X(ETIMEOUT,  -40023, "timed out")                                          \
  X(EPROTO,    -40024, "protocol violation")                                 \
  X(ENOTINIT,  -40025, "node directory not initialised")                     \
  X(EAMBIG,    -40026, "ambiguous: more than one match")                     \
  X(ECLOCK,    -40027, "clock out of range")                             \
  X(ESCHEMA,   -40028, "does not fit the schema")                         \
  X(EHELD,     -40040, "held: depends on membership data not yet seen")      \
  X(EBUSY,     -40041, "already open in this process")                     \
  X(ESEAL,     -40050, "a sealed value does not open (changed or moved)")    \
  X(EPASS,     -40051, "wrong passphrase")                                   \
  X(ELOCKED,   -40052, "the node is locked: no passphrase given")          \
  X(EPASSSHORT,-40053, "passphrase too short (at least 8 characters)")

enum {
  GS_OK = 0,
#define GS__ERR_ENUM(name, code, text) GS_##name = (code),
  GS_ERR_MAP(GS__ERR_ENUM)
#undef GS__ERR_ENUM
};

/* A static, human-readable description of err; never NULL. */
const char *gs_strerror(gs_err err);

/* The symbolic name ("GS_EFORK", "MDB_MAP_FULL", "ENOENT"...) of err. */
const char *gs_errname(gs_err err);

#endif
