/* Demo data: see node_demo_seed in node.h. (Being written.) */
#include "node/node.h"

gs_err node_demo_seed(node *n, const node_seed_opts *o,
                      node_seed_result *res)
{
  (void)n;
  (void)o;
  (void)res;
  return GS_EINVAL;
}
