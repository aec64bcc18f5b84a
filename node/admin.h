/*
 * admin: looking after a node directory (issue 21): backups that never
 * fork a feed, restore, offline compaction, and the doctor's checks.
 *
 * A backup file ("gridsync backup v1", all integers big-endian):
 *   header   "GSBACKUP" | version u8 = 1 | 3 zero bytes | backup id (16
 *            random bytes) | created u64 (Unix ms) | node key (32) |
 *            files u16 (at most NODE_BACKUP_FILES_MAX), then per file:
 *            name length u8 (1..NODE_BACKUP_NAME_MAX; letters, digits,
 *            '.', '_', '-') | size u32 (at most NODE_BACKUP_FILE_MAX) |
 *            the bytes
 *   store    LMDB's compacting copy of data.mdb, as of one read
 *            transaction (consistent while other processes write)
 *   trailer  store length u64 | BLAKE2b-256 of every byte before it |
 *            "GSBKEND1"
 * The files are the node directory's small files (identity.key,
 * network.key, ui.password, ...: every regular file but data.mdb,
 * lock.mdb, ui.addr, seal.lock, unlock.sock, *.part, *.log, *.tmp and
 * earlier backups, up to the size bound) copied as they are on disk, so a sealed node's keys stay
 * sealed and its values (sealed in the store) too: a backup is as
 * sealed as the node. A backup is written to FILE.part, fsynced and
 * renamed: a file named FILE is always whole, and a cut one has no
 * valid trailer.
 *
 * A restore brings the data back under a NEW identity key: the restored
 * node is a new origin, so nothing it writes can fork a feed of the node
 * that was backed up (which may still be alive, or be restored twice).
 * The network key and membership are not restored: a new key has no
 * claim, so the restored node joins its network again with a fresh
 * invite (`gridsync join CODE`), keeping every record it holds.
 */
#ifndef GS_NODE_ADMIN_H
#define GS_NODE_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crdt/crdt.h"

typedef struct node node;

#define NODE_BACKUP_FILES_MAX 16
#define NODE_BACKUP_NAME_MAX 64
#define NODE_BACKUP_FILE_MAX (64u * 1024)

/* Progress of a long copy: done of about total bytes (total may be 0
 * when unknown, and done may pass it: it is an estimate). Called at most
 * a few times a second, and once at the end. */
typedef void (*node_copy_progress_cb)(void *ctx, uint64_t done, uint64_t total);

typedef struct node_backup_info {
  uint8_t id[16];               /* this backup's random id */
  uint8_t node_pk[CRDT_KEY_LEN]; /* the node backed up */
  uint64_t created_ms;
  uint64_t store_bytes;         /* the compacted store */
  uint64_t file_bytes;          /* the whole backup file */
  size_t nfiles;                /* key and small files */
  char names[NODE_BACKUP_FILES_MAX][NODE_BACKUP_NAME_MAX + 1];
} node_backup_info;

/* Write a backup of n to file (via file.part; an existing file is
 * replaced only once the new one is whole). progress may be NULL.
 * *out (optional) describes what was written. */
gs_err node_backup(node *n, const char *file, node_copy_progress_cb progress,
                   void *pctx, node_backup_info *out);

/* Read and check a backup file whole (its trailer and checksum): GS_OK
 * with *out, GS_ETRUNC for a cut file (no trailer, or lengths that do
 * not add up), GS_ECORRUPT for a checksum that does not match,
 * GS_EDECODE or GS_EVERSION for a file that is not a backup of this
 * format. */
gs_err node_backup_check(const char *file, node_backup_info *out);

typedef struct node_restore_info {
  node_backup_info backup;
  uint8_t new_pk[CRDT_KEY_LEN]; /* the restored node's own new key */
  bool had_network;             /* the backed-up node was a member */
  bool sealed;                  /* opened with the backed-up node's
                                 * passphrase (its seal.key restored) */
} node_restore_info;

/* Restore the backup in file as a new node in dir, which must not exist
 * or be an empty directory (else GS_EEXIST: a node there, alive or not,
 * is never overwritten). A sealed backup (it carries seal.key) needs the
 * backed-up node's passphrase, asked (node_set_pass_source) before the
 * store is copied: GS_EPASS when wrong, GS_ELOCKED when none is given,
 * and nothing is left; the restored node keeps that seal.key (the same
 * data key and passphrase) and its new identity.key is sealed under it. Built in a sibling directory and renamed into
 * place, so dir holds either the whole node or nothing; the backup is
 * checked on the way (a cut or altered one: GS_ETRUNC / GS_ECORRUPT, and
 * nothing is left). The store's meta "restored_from" records the backup
 * id, the old key and the time. */
gs_err node_restore(const char *file, const char *dir,
                    node_copy_progress_cb progress, void *pctx,
                    node_restore_info *out);

/* Compact the store of the node in dir offline: GS_EBUSY when another
 * process has it open (serve, ui, a load); the copy goes to
 * data.mdb.compact.part and replaces data.mdb once whole and synced.
 * *before and *after (optional) get the file sizes. A sealed store is
 * opened with the node's data key (from its running serve, else its
 * passphrase: GS_ELOCKED, GS_EPASS); a directory of an earlier build (no
 * seal.key) is first sealed in place as node_open seals it (a new
 * passphrase; progress through node_set_seal_progress). */
gs_err node_compact(const char *dir, node_copy_progress_cb progress, void *pctx,
                    uint64_t *before, uint64_t *after);

/* true when a process other than this one has dir's store open (LMDB's
 * shared lock on lock.mdb). */
bool node_store_in_use(const char *dir);

/* ---- the doctor ---- */

#define NODE_DOCTOR_MAX 24
#define NODE_DOCTOR_TEXT 512

typedef struct node_finding {
  const char *check; /* stable name: "store", "key_mode", "ui_addr"... */
  bool ok;           /* false: something to fix */
  bool warn;         /* ok, but worth a word (an open node): fix says how */
  char text[NODE_DOCTOR_TEXT]; /* what was found, for people (translated) */
  char fix[NODE_DOCTOR_TEXT];  /* what to do ("" when ok) */
} node_finding;

typedef struct node_doctor_report {
  node_finding f[NODE_DOCTOR_MAX + 1]; /* the last: scratch (admin.c) */
  size_t n;
  size_t problems; /* findings not ok */
} node_doctor_report;

/* Check the node directory dir: the store opens and its format, free
 * disk space, the key files' modes, the directory's mode, the clock (by
 * itself and against the peers met), a stale ui.addr, whether serve is
 * running, what an interrupted compaction left, and the passphrase
 * state ("passphrase": sealed; an open node, ok with warn set; locked
 * (no passphrase given, no serve running: the front end's source must
 * not prompt without a terminal) or wrong: not ok). The node is opened
 * once (its passphrase asked at most once); a directory without
 * seal.key is never opened as a node (that would seal it). Never
 * changes anything.
 * A node already open in this process is passed as n (else NULL: dir is
 * opened here when it can be). */
void node_doctor(const char *dir, node *n, node_doctor_report *out);

#endif
