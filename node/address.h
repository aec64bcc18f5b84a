/*
 * node/address.h (internal to node/): places as people say them, for
 * node_resolve (node/query.c) -- buildings by name or number ("5号楼",
 * "5"), households by address ("5号楼2单元301", "5-2-301"), residents by
 * place and name ("5号楼 李桂芳").
 */
#ifndef GS_NODE_ADDRESS_H
#define GS_NODE_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>

#include "crdt/crdt.h"

typedef struct node node;
typedef struct node_hit node_hit;

/* Called with each record text names as a place (borrowed for the call);
 * returns non-zero to stop. */
typedef int (*node__place_cb)(void *ctx, const crdt_record *r);

/* Every live record of the collections colls (nc of them) that text
 * names by place: a building by its name or number, a household by its
 * address, a resident by "PLACE NAME". GS_OK also when none. */
gs_err node__place_find(node *n, char colls[][CRDT_NAME_MAX + 1], size_t nc,
                        const char *text, node__place_cb cb, void *ctx);

/* true when building name bname is what a person means by text: the
 * same, or the same number ("5", "5号楼", "5栋", "5幢", "5号"). */
bool node__building_is(const char *bname, size_t bn, const char *text,
                       size_t tn);

/* The households of the building text names (node__building_is), ids
 * malloc'd into *ids (caller frees; NULL when *count is 0). */
gs_err node__households_in(node *n, const char *text,
                           uint8_t (**ids)[CRDT_ID_LEN], size_t *count);

/* Add to h->detail (and, for a household, h->name) the address that
 * tells h apart from namesakes; reads the store (call outside of any
 * store callback). */
void node__hit_address(node *n, node_hit *h);

#endif
