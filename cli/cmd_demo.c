/* demo seed: a realistic community to try gridsync on. (Being written.) */
#include "cli/cli.h"

int cli_cmd_demo(cli_ctx *ctx)
{
  return cli_usage("demo", "not yet");
}
