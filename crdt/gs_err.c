#include "crdt/gs_err.h"

#include <stdio.h>
#include <string.h>

/* LMDB's codes (lmdb.h), named here so crdt/ needs no LMDB. */
#define GS__MDB_MAP(X)                                                    \
  X(-30799, "MDB_KEYEXIST", "key/data pair already exists")               \
  X(-30798, "MDB_NOTFOUND", "no matching key/data pair found")            \
  X(-30797, "MDB_PAGE_NOTFOUND", "requested page not found")              \
  X(-30796, "MDB_CORRUPTED", "located page was wrong type")               \
  X(-30795, "MDB_PANIC", "update of meta page failed or environment had fatal error") \
  X(-30794, "MDB_VERSION_MISMATCH", "database environment version mismatch") \
  X(-30793, "MDB_INVALID", "file is not an LMDB file")                    \
  X(-30792, "MDB_MAP_FULL", "environment mapsize limit reached")          \
  X(-30791, "MDB_DBS_FULL", "environment maxdbs limit reached")           \
  X(-30790, "MDB_READERS_FULL", "environment maxreaders limit reached")   \
  X(-30789, "MDB_TLS_FULL", "thread-local storage keys full")             \
  X(-30788, "MDB_TXN_FULL", "transaction has too many dirty pages")       \
  X(-30787, "MDB_CURSOR_FULL", "internal error - cursor stack limit reached") \
  X(-30786, "MDB_PAGE_FULL", "internal error - page has no more space")   \
  X(-30785, "MDB_MAP_RESIZED", "database contents grew beyond environment mapsize") \
  X(-30784, "MDB_INCOMPATIBLE", "operation and DB incompatible, or DB flags changed") \
  X(-30783, "MDB_BAD_RSLOT", "invalid reuse of reader locktable slot")    \
  X(-30782, "MDB_BAD_TXN", "transaction must abort, has a child, or is invalid") \
  X(-30781, "MDB_BAD_VALSIZE", "unsupported size of key/DB name/data, or wrong DUPFIXED size") \
  X(-30780, "MDB_BAD_DBI", "the specified DBI handle was closed/changed unexpectedly")

const char *gs_strerror(gs_err err)
{
  switch (err) {
  case GS_OK:
    return "success";
#define GS__ERR_TEXT(name, code, text) case code: return text;
  GS_ERR_MAP(GS__ERR_TEXT)
#undef GS__ERR_TEXT
#define GS__MDB_TEXT(code, name, text) case code: return text;
  GS__MDB_MAP(GS__MDB_TEXT)
#undef GS__MDB_TEXT
  case -4095:
    return "end of file";
  default:
    break;
  }
  if (err < 0 && err > -4096)
    return strerror(-err);
  return "unknown error";
}

const char *gs_errname(gs_err err)
{
  switch (err) {
  case GS_OK:
    return "GS_OK";
#define GS__ERR_NAME(name, code, text) case code: return "GS_" #name;
  GS_ERR_MAP(GS__ERR_NAME)
#undef GS__ERR_NAME
#define GS__MDB_NAME(code, name, text) case code: return name;
  GS__MDB_MAP(GS__MDB_NAME)
#undef GS__MDB_NAME
  case -4095:
    return "EOF";
  default:
    break;
  }
  if (err < 0 && err > -4096) {
    const char *n = strerrorname_np(-err);
    return n ? n : "ERRNO";
  }
  return "UNKNOWN";
}
