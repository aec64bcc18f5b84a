/* libFuzzer target: the backup file reader (node/admin.c): the input is
 * a backup file as `gridsync restore` finds it; node_backup_check reads
 * its header and small files (bounded before anything is allocated),
 * then the store copy and trailer, and must end with an answer: a
 * checked backup whose figures add up to the file's size, or a refusal.
 * (The store copy itself is LMDB's file, opened by restore only once the
 * checksum matches; it is not fuzzed here.) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "node/admin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char path[64];
  int fd = memfd_create("fuzz-backup", MFD_CLOEXEC);
  if (fd < 0)
    abort();
  if (size && write(fd, data, size) != (ssize_t)size)
    abort();
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  node_backup_info info;
  gs_err err = node_backup_check(path, &info);
  if (err == GS_OK) {
    if (info.file_bytes != size || info.nfiles > NODE_BACKUP_FILES_MAX ||
        info.store_bytes > size)
      abort();
    for (size_t i = 0; i < info.nfiles; i++)
      if (strlen(info.names[i]) == 0 ||
          strlen(info.names[i]) > NODE_BACKUP_NAME_MAX ||
          strchr(info.names[i], '/'))
        abort();
  }
  close(fd);
  return 0;
}
