/*
 * lvskit_nldump: the whole IPVS table in one call, for lvskit/ipvs's `readTable`
 * (src/ipvs/native-dump.ts). Registered from lvskit_native.c's init.
 *
 * Why in C: reading the table takes one IPVS_CMD_GET_SERVICE dump and then one
 * IPVS_CMD_GET_DEST dump per service (kernel 6.1 has no dump of all destinations),
 * each a round trip of sendmsg + two or three recvmsg. Through the `netlink`
 * package every datagram costs a fresh 64 KiB buffer, a Node Buffer, an event and a
 * send-completion timer, and under a slow CPU (QEMU TCG) that per-datagram
 * JavaScript costs more than the kernel's own work; the package offers no way to
 * run a request loop below JavaScript. Here the loop runs on the libuv threadpool
 * (napi async work: the event loop is not blocked) on a netlink socket of its own,
 * and JavaScript gets one buffer to decode.
 *
 *   nlDumpTable(familyId, timeoutMs) -> { promise, job }
 *     promise resolves { data: ArrayBuffer, services, dumps, interrupted }:
 *       data holds records, each 4-aligned: u32 tag, u32 length, `length` bytes of
 *       the genl payload (header + attributes) as the kernel sent it. Tag 0xffffffff:
 *       an IPVS_CMD_GET_SERVICE dump entry; tag i: an entry of the i-th service's
 *       IPVS_CMD_GET_DEST dump (i counts the service records in order).
 *     rejects with an Error { errno, syscall, index }: the kernel's errno for a dump
 *       (index: the service's number, -1 for the service dump), or a failed system
 *       call; ETIMEDOUT when no reply came for timeoutMs; ECANCELED after nlDumpCancel.
 *   nlDumpCancel(job): stop at the next check (every 50 ms at most while waiting).
 *
 * The socket is closed at the end whatever happened, which ends any dump still
 * running in the kernel: nothing to drain, no EBUSY for anyone.
 */
#define _GNU_SOURCE
#include <node_api.h>

#include <errno.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* include/uapi/linux/ip_vs.h */
#define IPVS_CMD_GET_SERVICE 4
#define IPVS_CMD_GET_DEST 8
#define IPVS_CMD_ATTR_SERVICE 1
#define IPVS_SVC_ATTR_AF 1
#define IPVS_SVC_ATTR_PROTOCOL 2
#define IPVS_SVC_ATTR_ADDR 3
#define IPVS_SVC_ATTR_PORT 4
#define IPVS_SVC_ATTR_FWMARK 5
#define IPVS_GENL_VERSION 1

#define SERVICE_TAG 0xffffffffu
#define RECV_SIZE (64 * 1024)
#define SLICE_MS 50

typedef struct {
  uint16_t family;
  int timeout_ms;
  atomic_int cancel;
  /* result */
  uint8_t *out;
  size_t len, cap;
  uint32_t services, dumps;
  int interrupted;
  int err;
  const char *syscall;
  int32_t err_index;
  /* service records: offsets into out */
  size_t *svc_at;
  size_t svc_n, svc_cap;
  /* napi */
  napi_async_work work;
  napi_deferred deferred;
  /* Keeps the job's external (and so the job) alive while the work runs. */
  napi_ref self;
  int done;
} dump_job;

/* Tags the job's external, so nlDumpCancel accepts no other addon object. */
static const napi_type_tag JOB_TAG = {0x6c76736b69746e6cULL, 0x64756d706a6f6231ULL};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int reserve(dump_job *j, size_t more) {
  if (j->len + more <= j->cap) return 0;
  size_t cap = j->cap == 0 ? (1u << 20) : j->cap;
  while (cap < j->len + more) cap *= 2;
  uint8_t *p = realloc(j->out, cap);
  if (p == NULL) return ENOMEM;
  j->out = p;
  j->cap = cap;
  return 0;
}

static int append(dump_job *j, uint32_t tag, const uint8_t *payload, uint32_t n) {
  size_t padded = (n + 3u) & ~3u;
  if (reserve(j, 8 + padded)) return ENOMEM;
  if (tag == SERVICE_TAG) {
    if (j->svc_n == j->svc_cap) {
      size_t cap = j->svc_cap == 0 ? 1024 : j->svc_cap * 2;
      size_t *p = realloc(j->svc_at, cap * sizeof *p);
      if (p == NULL) return ENOMEM;
      j->svc_at = p;
      j->svc_cap = cap;
    }
    j->svc_at[j->svc_n++] = j->len;
  }
  memcpy(j->out + j->len, &tag, 4);
  memcpy(j->out + j->len + 4, &n, 4);
  memcpy(j->out + j->len + 8, payload, n);
  if (padded > n) memset(j->out + j->len + 8 + n, 0, padded - n);
  j->len += 8 + padded;
  return 0;
}

static void fail(dump_job *j, int err, const char *syscall, int32_t index) {
  if (j->err != 0) return;
  j->err = err;
  j->syscall = syscall;
  j->err_index = index;
}

/* Send one dump request (genl payload `req`, `n` bytes) with sequence number `seq`. */
static int send_dump(dump_job *j, int fd, uint32_t seq, const uint8_t *req, size_t n) {
  uint8_t buf[512];
  if (NLMSG_HDRLEN + n > sizeof buf) return EMSGSIZE;
  struct nlmsghdr *h = (struct nlmsghdr *)buf;
  h->nlmsg_len = NLMSG_HDRLEN + n;
  h->nlmsg_type = j->family;
  h->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  h->nlmsg_seq = seq;
  h->nlmsg_pid = 0;
  memcpy(buf + NLMSG_HDRLEN, req, n);
  struct sockaddr_nl to = {.nl_family = AF_NETLINK};
  for (;;) {
    ssize_t r = sendto(fd, buf, h->nlmsg_len, 0, (struct sockaddr *)&to, sizeof to);
    if (r >= 0) return 0;
    if (errno == EINTR) continue;
    return errno;
  }
}

/*
 * Read the dump with sequence number `seq` to its NLMSG_DONE, appending its data
 * messages with `tag`. Returns 0, or sets the job's error and returns it.
 */
static int read_dump(dump_job *j, int fd, uint8_t *rbuf, uint32_t seq, uint32_t tag, int32_t index) {
  int64_t last = now_ms();
  for (;;) {
    if (atomic_load(&j->cancel)) {
      fail(j, ECANCELED, "cancel", index);
      return ECANCELED;
    }
    struct iovec iov = {.iov_base = rbuf, .iov_len = RECV_SIZE};
    struct sockaddr_nl from;
    struct msghdr mh = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1};
    ssize_t r = recvmsg(fd, &mh, MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        int64_t waited = now_ms() - last;
        if (waited >= j->timeout_ms) {
          fail(j, ETIMEDOUT, "recvmsg", index);
          return ETIMEDOUT;
        }
        int slice = j->timeout_ms - (int)waited;
        if (slice > SLICE_MS) slice = SLICE_MS;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, slice) < 0 && errno != EINTR) {
          fail(j, errno, "poll", index);
          return errno;
        }
        continue;
      }
      int e = errno;
      fail(j, e, "recvmsg", index);
      return e;
    }
    last = now_ms();
    if (mh.msg_flags & MSG_TRUNC) {
      fail(j, EMSGSIZE, "recvmsg", index);
      return EMSGSIZE;
    }
    size_t left = (size_t)r;
    const uint8_t *p = rbuf;
    while (left >= NLMSG_HDRLEN) {
      const struct nlmsghdr *h = (const struct nlmsghdr *)p;
      if (h->nlmsg_len < NLMSG_HDRLEN || h->nlmsg_len > left) {
        fail(j, EPROTO, "recvmsg", index);
        return EPROTO;
      }
      size_t step = NLMSG_ALIGN(h->nlmsg_len);
      if (step > left) step = left;
      if (h->nlmsg_seq == seq && from.nl_pid == 0) {
        const uint8_t *data = p + NLMSG_HDRLEN;
        uint32_t n = h->nlmsg_len - NLMSG_HDRLEN;
        if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
          int32_t code = 0;
          if (n >= 4) memcpy(&code, data, 4);
          if (code != 0) {
            fail(j, -code, "kernel", index);
            return -code;
          }
          return 0; /* a DONE ends the dump; nothing of it follows in the datagram */
        }
        if (h->nlmsg_type == NLMSG_OVERRUN) {
          fail(j, ENOBUFS, "kernel", index);
          return ENOBUFS;
        }
        if (h->nlmsg_type == j->family) {
          if (h->nlmsg_flags & NLM_F_DUMP_INTR) j->interrupted = 1;
          if (append(j, tag, data, n)) {
            fail(j, ENOMEM, "malloc", index);
            return ENOMEM;
          }
        }
      }
      p += step;
      left -= step;
    }
  }
}

/* Copy the service identity attributes (AF, PROTOCOL, ADDR, PORT, FWMARK) of a service record into a GET_DEST request. */
static size_t dest_request(const uint8_t *rec, uint32_t n, uint8_t *req, size_t cap) {
  if (n < GENL_HDRLEN || cap < GENL_HDRLEN + NLA_HDRLEN) return 0;
  struct genlmsghdr g = {.cmd = IPVS_CMD_GET_DEST, .version = IPVS_GENL_VERSION};
  memcpy(req, &g, GENL_HDRLEN);
  size_t w = GENL_HDRLEN + NLA_HDRLEN; /* the nest's header is written last */
  size_t at = GENL_HDRLEN;
  int found = 0;
  while (at + NLA_HDRLEN <= n) {
    struct nlattr a;
    memcpy(&a, rec + at, sizeof a);
    if (a.nla_len < NLA_HDRLEN || at + a.nla_len > n) return 0;
    if ((a.nla_type & NLA_TYPE_MASK) == IPVS_CMD_ATTR_SERVICE) {
      size_t in = at + NLA_HDRLEN;
      size_t stop = at + a.nla_len;
      while (in + NLA_HDRLEN <= stop) {
        struct nlattr b;
        memcpy(&b, rec + in, sizeof b);
        if (b.nla_len < NLA_HDRLEN || in + b.nla_len > stop) return 0;
        int t = b.nla_type & NLA_TYPE_MASK;
        if (t == IPVS_SVC_ATTR_AF || t == IPVS_SVC_ATTR_PROTOCOL || t == IPVS_SVC_ATTR_ADDR || t == IPVS_SVC_ATTR_PORT || t == IPVS_SVC_ATTR_FWMARK) {
          size_t padded = NLA_ALIGN(b.nla_len);
          if (w + padded > cap) return 0;
          memcpy(req + w, rec + in, b.nla_len);
          if (padded > b.nla_len) memset(req + w + b.nla_len, 0, padded - b.nla_len);
          w += padded;
        }
        in += NLA_ALIGN(b.nla_len);
      }
      found = 1;
      break;
    }
    at += NLA_ALIGN(a.nla_len);
  }
  if (!found) return 0;
  struct nlattr nest = {.nla_len = (uint16_t)(w - GENL_HDRLEN), .nla_type = IPVS_CMD_ATTR_SERVICE | NLA_F_NESTED};
  memcpy(req + GENL_HDRLEN, &nest, sizeof nest);
  return w;
}

static void execute(napi_env env, void *data) {
  dump_job *j = data;
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_GENERIC);
  if (fd < 0) {
    fail(j, errno, "socket", -1);
    return;
  }
  uint8_t *rbuf = malloc(RECV_SIZE);
  if (rbuf == NULL) {
    fail(j, ENOMEM, "malloc", -1);
    close(fd);
    return;
  }
  int rcv = 1 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  struct sockaddr_nl self = {.nl_family = AF_NETLINK};
  if (bind(fd, (struct sockaddr *)&self, sizeof self) < 0) {
    fail(j, errno, "bind", -1);
    goto out;
  }
  uint32_t seq = (uint32_t)now_ms() * 7919u + 1;
  struct genlmsghdr g = {.cmd = IPVS_CMD_GET_SERVICE, .version = IPVS_GENL_VERSION};
  int e = send_dump(j, fd, seq, (const uint8_t *)&g, GENL_HDRLEN);
  if (e) {
    fail(j, e, "sendmsg", -1);
    goto out;
  }
  j->dumps = 1;
  if (read_dump(j, fd, rbuf, seq, SERVICE_TAG, -1)) goto out;
  j->services = (uint32_t)j->svc_n;
  for (size_t i = 0; i < j->svc_n; i++) {
    uint8_t req[256];
    uint32_t n;
    memcpy(&n, j->out + j->svc_at[i] + 4, 4);
    size_t rn = dest_request(j->out + j->svc_at[i] + 8, n, req, sizeof req);
    if (rn == 0) {
      fail(j, EPROTO, "service entry", (int32_t)i);
      goto out;
    }
    seq++;
    e = send_dump(j, fd, seq, req, rn);
    if (e) {
      fail(j, e, "sendmsg", (int32_t)i);
      goto out;
    }
    j->dumps++;
    if (read_dump(j, fd, rbuf, seq, (uint32_t)i, (int32_t)i)) goto out;
  }
out:
  free(rbuf);
  close(fd);
}

static void free_out(napi_env env, void *data, void *hint) { free(data); }

static void job_finalize(napi_env env, void *data, void *hint) {
  dump_job *j = data;
  /* Only reached once the work is complete: `self` holds the external until then. */
  free(j->out);
  free(j->svc_at);
  free(j);
}

static void complete(napi_env env, napi_status status, void *data) {
  dump_job *j = data;
  j->done = 1;
  napi_value result;
  if (status == napi_cancelled && j->err == 0) fail(j, ECANCELED, "cancel", -1);
  if (j->err != 0) {
    napi_value msg, err, v;
    char text[160];
    snprintf(text, sizeof text, "IPVS table dump failed: %s (%s)", strerror(j->err), j->syscall == NULL ? "?" : j->syscall);
    napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &err);
    napi_create_int32(env, j->err, &v);
    napi_set_named_property(env, err, "errno", v);
    napi_create_string_utf8(env, j->syscall == NULL ? "" : j->syscall, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, err, "syscall", v);
    napi_create_int32(env, j->err_index, &v);
    napi_set_named_property(env, err, "index", v);
    napi_reject_deferred(env, j->deferred, err);
  } else {
    napi_value buf, v;
    void *copy = NULL;
    if (j->len == 0) {
      napi_create_arraybuffer(env, 0, &copy, &buf);
    } else if (napi_create_external_arraybuffer(env, j->out, j->len, free_out, NULL, &buf) == napi_ok) {
      j->out = NULL; /* owned by the ArrayBuffer now */
    } else {
      napi_create_arraybuffer(env, j->len, &copy, &buf);
      memcpy(copy, j->out, j->len);
    }
    napi_create_object(env, &result);
    napi_set_named_property(env, result, "data", buf);
    napi_create_uint32(env, j->services, &v);
    napi_set_named_property(env, result, "services", v);
    napi_create_uint32(env, j->dumps, &v);
    napi_set_named_property(env, result, "dumps", v);
    napi_get_boolean(env, j->interrupted != 0, &v);
    napi_set_named_property(env, result, "interrupted", v);
    napi_resolve_deferred(env, j->deferred, result);
  }
  free(j->svc_at);
  j->svc_at = NULL;
  j->svc_n = j->svc_cap = 0;
  if (j->out != NULL) {
    free(j->out);
    j->out = NULL;
  }
  napi_delete_async_work(env, j->work);
  napi_delete_reference(env, j->self);
  j->self = NULL;
}

static napi_value js_dump_table(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t family = 0;
  int32_t timeout = 0;
  if (argc < 2 || napi_get_value_uint32(env, argv[0], &family) != napi_ok || napi_get_value_int32(env, argv[1], &timeout) != napi_ok ||
      family == 0 || family > 0xffff || timeout <= 0) {
    napi_throw_type_error(env, NULL, "nlDumpTable(familyId: 1..65535, timeoutMs: > 0)");
    return NULL;
  }
  dump_job *j = calloc(1, sizeof *j);
  if (j == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  j->family = (uint16_t)family;
  j->timeout_ms = timeout;
  atomic_init(&j->cancel, 0);
  napi_value promise, handle, name, result;
  if (napi_create_external(env, j, job_finalize, NULL, &handle) != napi_ok) {
    free(j);
    napi_throw_error(env, NULL, "napi_create_external failed");
    return NULL;
  }
  napi_type_tag_object(env, handle, &JOB_TAG);
  napi_create_reference(env, handle, 1, &j->self);
  napi_create_promise(env, &j->deferred, &promise);
  napi_create_string_utf8(env, "lvskit:nlDumpTable", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, handle, name, execute, complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "promise", promise);
  napi_set_named_property(env, result, "job", handle);
  return result;
}

static napi_value js_dump_cancel(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *p = NULL;
  napi_valuetype t;
  bool tagged = false;
  if (argc < 1 || napi_typeof(env, argv[0], &t) != napi_ok || t != napi_external || napi_check_object_type_tag(env, argv[0], &JOB_TAG, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env, argv[0], &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, NULL, "nlDumpCancel(job)");
    return NULL;
  }
  dump_job *j = p;
  if (!j->done) atomic_store(&j->cancel, 1);
  return NULL;
}

void lvskit_nldump_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"nlDumpTable", NULL, js_dump_table, NULL, NULL, NULL, napi_enumerable, NULL},
      {"nlDumpCancel", NULL, js_dump_cancel, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
