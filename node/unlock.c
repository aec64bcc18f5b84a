/* Unlocked once per start (issue 19): a serving node hands its data key
 * to the CLI commands of the same user over a Unix socket in the node
 * directory, so that they need not ask for the passphrase again. */
#ifdef _WIN32
/* No unlock socket on Windows (docs/WINDOWS.md): its AF_UNIX sockets have
 * no SO_PEERCRED, so the serving node could not tell that a caller is
 * this user. Every command there gets the passphrase itself (a prompt,
 * GRIDSYNC_PASSPHRASE or --passphrase-file); serve starts no socket and
 * says nothing about it. */
#include "node/node.h"
#include "node/node_internal.h"

gs_err node_unlock_start(const node *n, struct uv_loop_s *loop,
                         node_unlock **out)
{
  (void)n, (void)loop;
  *out = NULL;
  return GS_OK;
}

void node_unlock_stop(node_unlock *u)
{
  (void)u;
}

gs_err node__unlock_ask(const char *dir, uint8_t key[CRDT_SEAL_KEY_LEN])
{
  (void)dir, (void)key;
  return GS_ENOTFOUND;
}
#else
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "node/node.h"
#include "node/node_internal.h"

struct node_unlock {
  uv_pipe_t pipe;
  const node *n;
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static gs_err sock_path(const char *dir, char *out, size_t cap)
{
  int k = snprintf(out, cap, "%s/%s", dir, NODE_UNLOCK_SOCK);
  return k < 0 || (size_t)k >= cap ? GS_ETOOBIG : GS_OK;
}

/* The uid of the process at the other end of fd, or -1. */
static long peer_uid(int fd)
{
  struct ucred cr;
  socklen_t len = sizeof cr;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0 ||
      len != sizeof cr)
    return -1;
  return (long)cr.uid;
}

static void on_client_closed(uv_handle_t *h)
{
  free(h);
}

static void on_connection(uv_stream_t *server, int status)
{
  node_unlock *u = server->data;
  if (status < 0)
    return;
  uv_pipe_t *c = malloc(sizeof *c);
  if (!c)
    return; /* the connection waits; the next one retries */
  uv_pipe_init(server->loop, c, 0);
  if (uv_accept(server, (uv_stream_t *)c) == 0) {
    uv_os_fd_t fd;
    /* only this user's processes get the key; 32 bytes always fit a new
     * socket's buffer, so one non-blocking send does */
    if (uv_fileno((uv_handle_t *)c, &fd) == 0 &&
        peer_uid(fd) == (long)geteuid())
      (void)!send(fd, u->n->dkey, CRDT_SEAL_KEY_LEN, MSG_NOSIGNAL);
  }
  uv_close((uv_handle_t *)c, on_client_closed);
}

gs_err node_unlock_start(const node *n, uv_loop_t *loop, node_unlock **out)
{
  *out = NULL;
  node_unlock *u = calloc(1, sizeof *u);
  if (!u)
    return GS_ENOMEM;
  gs_err err = sock_path(n->dir, u->path, sizeof u->path);
  if (err) {
    free(u);
    return err;
  }
  uint8_t probe[CRDT_SEAL_KEY_LEN];
  if (node__unlock_ask(n->dir, probe) == GS_OK) {
    crdt_wipe(probe, sizeof probe);
    free(u); /* another serve of this node answers already */
    return GS_EBUSY;
  }
  unlink(u->path); /* a stale socket of a process that was killed */
  u->n = n;
  uv_pipe_init(loop, &u->pipe, 0);
  u->pipe.data = u;
  mode_t old = umask(0177); /* the socket is made 0600 */
  int rc = uv_pipe_bind(&u->pipe, u->path);
  umask(old);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&u->pipe, 8, on_connection);
  if (rc) {
    node_unlock_stop(u);
    return rc;
  }
  *out = u;
  return GS_OK;
}

static void on_closed(uv_handle_t *h)
{
  free(h->data);
}

void node_unlock_stop(node_unlock *u)
{
  if (!u)
    return;
  unlink(u->path);
  uv_close((uv_handle_t *)&u->pipe, on_closed);
}

gs_err node__unlock_ask(const char *dir, uint8_t key[CRDT_SEAL_KEY_LEN])
{
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (sock_path(dir, sa.sun_path, sizeof sa.sun_path) != GS_OK)
    return GS_ENOTFOUND;
  struct stat sb;
  if (lstat(sa.sun_path, &sb) != 0 || !S_ISSOCK(sb.st_mode) ||
      sb.st_uid != geteuid())
    return GS_ENOTFOUND;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return GS_ENOTFOUND;
  gs_err err = GS_ENOTFOUND;
  struct timeval tv = {.tv_sec = 2};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
      peer_uid(fd) != (long)geteuid())
    goto out;
  size_t got = 0;
  while (got < CRDT_SEAL_KEY_LEN) {
    ssize_t r = recv(fd, key + got, CRDT_SEAL_KEY_LEN - got, 0);
    if (r <= 0)
      break;
    got += (size_t)r;
  }
  if (got == CRDT_SEAL_KEY_LEN)
    err = GS_OK;
  else
    crdt_wipe(key, CRDT_SEAL_KEY_LEN);
out:
  close(fd);
  return err;
}
#endif /* _WIN32 */
