/* The unit binary run by hand (not by meson test) gets the test
 * environment of tests/meson.build too: nodes are sealed and need a
 * passphrase; set only what is not set already. */
#include <stdlib.h>

__attribute__((constructor)) static void gs_unit_env(void)
{
  setenv("GRIDSYNC_PASSPHRASE", "gridsync-test-passphrase", 0);
  setenv("GRIDSYNC_PWHASH_LIMITS", "1,8192", 0);
}
