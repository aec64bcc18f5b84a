/* Internals of the web module: the JSON API as a function of a request,
 * so that it can be tested without HTTP, and the embedded files. */
#ifndef GS_WEB_INTERNAL_H
#define GS_WEB_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct node node;
typedef struct node_server node_server;

/* One query argument (borrowed). */
typedef struct web_arg {
  const char *key, *value;
} web_arg;

/* A request to the API, as the server has checked it (Host, CSRF, size):
 * path starts with "/api/". Everything is borrowed. */
typedef struct web_req {
  const char *method;
  const char *path;
  const web_arg *args;
  size_t nargs;
  const char *body; /* NULL or bodylen bytes of JSON */
  size_t bodylen;
  node_server *srv; /* the serving node on this loop, or NULL */
} web_req;

/* The answer: an HTTP status and a JSON document (owned by the caller,
 * never NULL). Errors are {"error": {"code", "text", "field"}}. */
typedef struct web_resp {
  unsigned status;
  json_t *json;
  /* instead of json (NULL then): raw_len bytes to download as raw_name
   * (raw malloc'd, the caller's) */
  unsigned char *raw;
  size_t raw_len;
  const char *raw_type;
  char raw_name[64];
  bool joined; /* the node joined a network (the serving node may start) */
} web_resp;

void web__api(node *n, const web_req *rq, web_resp *out);
/* The network and door-knocking calls (web/api_net.c): true when rq was
 * one of them (out filled). seg: the path's ns segments after /api/. */
bool web__api_net(node *n, const web_req *rq, char **seg, size_t ns,
                  web_resp *out);

/* The first value of key among the request's arguments, or NULL. */
const char *web__arg(const web_req *rq, const char *key);

/* The app's files, embedded at build time (web/embed.py). */
typedef struct web_file {
  const char *path; /* "/index.html" */
  const char *type; /* Content-Type */
  const unsigned char *data;
  size_t len;
} web_file;
extern const web_file web__files[];
extern const size_t web__nfiles;

#endif
