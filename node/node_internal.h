/* Internals shared by the node module's files. */
#ifndef GS_NODE_INTERNAL_H
#define GS_NODE_INTERNAL_H

#include "node/node.h"

struct node {
  store *st;
  node_clock clk;
  uint8_t sk[CRDT_SK_LEN];
  uint8_t pk[CRDT_KEY_LEN];
  char name[NODE_NAME_MAX + 1];
  char dir[4096];
  bool has_net;      /* network.key was loaded */
  node_network net;  /* the network, when has_net */
};

/* out := dir "/" file; GS_EINVAL if it does not fit. */
gs_err node__path_join(char *out, size_t cap, const char *dir,
                       const char *file);
/* Secret files: created 0600 with O_EXCL, written whole and fsynced;
 * read back refusing a file others may read (GS_EKEYMODE) or of another
 * size (GS_ECORRUPT); GS_ENOTINIT when absent. */
gs_err node__secret_write(const char *path, const uint8_t *buf, size_t n);
gs_err node__secret_read(const char *path, uint8_t *buf, size_t n);
/* fsync a directory, so that files just created in it persist. */
gs_err node__fsync_dir(const char *dir);
/* Load the network of n, if it has one (called by node_open). */
gs_err node__network_load(node *n);

#endif
