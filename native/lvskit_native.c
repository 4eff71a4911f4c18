/*
 * lvskit_native: the few socket features Node does not expose, for lvskit's BGP and VRRP drivers.
 *
 * Plain C on Node-API (node_api.h) and libuv (uv.h), no other dependency. The surface is small and
 * file-descriptor based; src/util/native.ts validates arguments and wraps it in typed classes:
 *
 *   socket(domain, type, protocol) -> fd        non-blocking, close-on-exec (AF_PACKET: protocol in host order)
 *   close(fd)
 *   setInt(fd, level, name, value) / getInt(fd, level, name)
 *   bindToDevice(fd, ifname)                    SO_BINDTODEVICE ('' unbinds)
 *   bindInet(fd, address, port, scopeId)        IPv4 or IPv6 literal
 *   bindPacket(fd, ifindex, protocol)           AF_PACKET, sockaddr_ll
 *   connect(fd, address, port, scopeId) -> bool true: connected, false: in progress (EINPROGRESS)
 *   membership(fd, group, ifindex, join)        IP_ADD/DROP_MEMBERSHIP (ip_mreqn), IPV6_JOIN/LEAVE_GROUP
 *   sendInet(fd, data, dst, scopeId, src, ifindex) -> bytes   sendmsg with IP_PKTINFO / IPV6_PKTINFO
 *   sendPacket(fd, data, ifindex, protocol, dstMac) -> bytes  sendto with sockaddr_ll
 *   tcpMd5Sig(fd, address, prefixLength, key, ifindex)        TCP_MD5SIG / TCP_MD5SIG_EXT (RFC 2385)
 *   ifNameToIndex(name) / ifIndexToName(index)
 *   watch(fd, mode, callback) -> watcher        uv_poll on the fd, see WATCH_* below
 *   unwatch(watcher), watchRef(watcher, bool)
 *   constants                                   the option numbers the TS layer needs
 *
 * Failing system calls throw an Error with `errno` (positive) and `syscall`; src/util/native.ts turns it
 * into a NativeSocketError (ERR_NATIVE_<ERRNO>). Nothing here blocks the event loop: every socket is
 * non-blocking, and receiving is driven by uv_poll readiness with a bounded number of reads per wake-up.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef IP_MINTTL
#define IP_MINTTL 21
#endif
#ifndef IPV6_MINHOPCOUNT
#define IPV6_MINHOPCOUNT 73
#endif
#ifndef TCP_MD5SIG_EXT
#define TCP_MD5SIG_EXT 32
#endif
#ifndef TCP_MD5SIG_FLAG_PREFIX
#define TCP_MD5SIG_FLAG_PREFIX 1
#endif
#ifndef TCP_MD5SIG_FLAG_IFINDEX
#define TCP_MD5SIG_FLAG_IFINDEX 2
#endif
#ifndef SO_DOMAIN
#define SO_DOMAIN 39
#endif

/* Watch modes. */
#define WATCH_DATAGRAM 1  /* inet datagrams (raw or UDP): recvmsg with PKTINFO / TTL / HOPLIMIT */
#define WATCH_PACKET 2    /* AF_PACKET frames: recvfrom with sockaddr_ll */
#define WATCH_WRITABLE 3  /* once writable (a non-blocking connect finished): report SO_ERROR, then stop */

/* At most this many datagrams are read per readiness event, so a flood cannot starve the loop. */
#define MAX_READS_PER_WAKE 64
#define RX_BUF_SIZE 65536

static __thread unsigned char rx_buf[RX_BUF_SIZE];

/* ------------------------------------------------------------------------------------------- */
/* errors and argument helpers */

static napi_value make_errno_error(napi_env env, int err, const char *syscall) {
  char buf[256];
  napi_value msg, e, v;
  snprintf(buf, sizeof buf, "%s: %s", syscall, strerror(err));
  napi_create_string_utf8(env, buf, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &e);
  napi_create_int32(env, err, &v);
  napi_set_named_property(env, e, "errno", v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, e, "syscall", v);
  return e;
}

static napi_value throw_errno(napi_env env, int err, const char *syscall) {
  napi_throw(env, make_errno_error(env, err, syscall));
  return NULL;
}

static napi_value throw_type(napi_env env, const char *what) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", what);
  return NULL;
}

/* Fetch exactly `n` arguments; returns 0 and throws when fewer were passed. */
static int get_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < n) {
    throw_type(env, "lvskit_native: too few arguments");
    return 0;
  }
  return 1;
}

static int get_i32(napi_env env, napi_value v, int32_t *out, const char *name) {
  napi_valuetype t;
  char buf[128];
  if (napi_typeof(env, v, &t) == napi_ok && t == napi_number && napi_get_value_int32(env, v, out) == napi_ok) return 1;
  snprintf(buf, sizeof buf, "lvskit_native: %s must be a number", name);
  throw_type(env, buf);
  return 0;
}

static int get_bool(napi_env env, napi_value v, bool *out, const char *name) {
  char buf[128];
  if (napi_get_value_bool(env, v, out) == napi_ok) return 1;
  snprintf(buf, sizeof buf, "lvskit_native: %s must be a boolean", name);
  throw_type(env, buf);
  return 0;
}

/* A string argument into buf (NUL-terminated); fails if it does not fit. */
static int get_str(napi_env env, napi_value v, char *buf, size_t size, const char *name) {
  size_t len = 0;
  char msg[128];
  napi_valuetype t;
  if (napi_typeof(env, v, &t) == napi_ok && t == napi_string &&
      napi_get_value_string_utf8(env, v, NULL, 0, &len) == napi_ok && len < size &&
      napi_get_value_string_utf8(env, v, buf, size, &len) == napi_ok) {
    return 1;
  }
  snprintf(msg, sizeof msg, "lvskit_native: %s must be a string shorter than %zu bytes", name, size);
  throw_type(env, msg);
  return 0;
}

/* A Buffer / TypedArray argument (borrowed pointer; valid for the duration of the call). */
static int get_bytes(napi_env env, napi_value v, void **data, size_t *len, const char *name) {
  bool is;
  char msg[128];
  if (napi_is_buffer(env, v, &is) == napi_ok && is) {
    return napi_get_buffer_info(env, v, data, len) == napi_ok;
  }
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t length, offset;
    napi_value ab;
    if (napi_get_typedarray_info(env, v, &type, &length, data, &ab, &offset) == napi_ok && type == napi_uint8_array) {
      *len = length;
      return 1;
    }
  }
  snprintf(msg, sizeof msg, "lvskit_native: %s must be a Uint8Array", name);
  throw_type(env, msg);
  return 0;
}

static int is_null_or_undefined(napi_env env, napi_value v) {
  napi_valuetype t;
  return napi_typeof(env, v, &t) == napi_ok && (t == napi_null || t == napi_undefined);
}

/* Parse an IPv4 or IPv6 literal into a sockaddr; returns the family or 0 (and throws). */
static int parse_addr(napi_env env, napi_value v, int port, uint32_t scope_id, struct sockaddr_storage *ss,
                      socklen_t *sslen, const char *name) {
  char buf[INET6_ADDRSTRLEN + 1];
  char msg[128];
  if (!get_str(env, v, buf, sizeof buf, name)) return 0;
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *sin = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, buf, &sin->sin_addr) == 1) {
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    *sslen = sizeof *sin;
    return AF_INET;
  }
  if (inet_pton(AF_INET6, buf, &sin6->sin6_addr) == 1) {
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons((uint16_t)port);
    sin6->sin6_scope_id = scope_id;
    *sslen = sizeof *sin6;
    return AF_INET6;
  }
  snprintf(msg, sizeof msg, "lvskit_native: %s is not an IP address literal", name);
  throw_type(env, msg);
  return 0;
}

static napi_value num(napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}

static napi_value undefined(napi_env env) {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}

/* ------------------------------------------------------------------------------------------- */
/* plain socket calls */

static napi_value js_socket(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t domain, type, protocol;
  if (!get_args(env, info, 3, argv) || !get_i32(env, argv[0], &domain, "domain") ||
      !get_i32(env, argv[1], &type, "type") || !get_i32(env, argv[2], &protocol, "protocol")) {
    return NULL;
  }
  if (domain == AF_PACKET) protocol = htons((uint16_t)protocol);
  int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) return throw_errno(env, errno, "socket");
  return num(env, fd);
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!get_args(env, info, 1, argv) || !get_i32(env, argv[0], &fd, "fd")) return NULL;
  /* Linux releases the descriptor even when close() reports EINTR: never retry. */
  if (close(fd) < 0 && errno != EINTR) return throw_errno(env, errno, "close");
  return undefined(env);
}

static napi_value js_set_int(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t fd, level, name, value;
  if (!get_args(env, info, 4, argv) || !get_i32(env, argv[0], &fd, "fd") || !get_i32(env, argv[1], &level, "level") ||
      !get_i32(env, argv[2], &name, "name") || !get_i32(env, argv[3], &value, "value")) {
    return NULL;
  }
  int v = value;
  if (setsockopt(fd, level, name, &v, sizeof v) < 0) return throw_errno(env, errno, "setsockopt");
  return undefined(env);
}

static napi_value js_get_int(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t fd, level, name;
  if (!get_args(env, info, 3, argv) || !get_i32(env, argv[0], &fd, "fd") || !get_i32(env, argv[1], &level, "level") ||
      !get_i32(env, argv[2], &name, "name")) {
    return NULL;
  }
  int v = 0;
  socklen_t len = sizeof v;
  if (getsockopt(fd, level, name, &v, &len) < 0) return throw_errno(env, errno, "getsockopt");
  return num(env, v);
}

static napi_value js_bind_to_device(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  char name[IF_NAMESIZE];
  if (!get_args(env, info, 2, argv) || !get_i32(env, argv[0], &fd, "fd") || !get_str(env, argv[1], name, sizeof name, "ifname")) {
    return NULL;
  }
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name, (socklen_t)strlen(name)) < 0) {
    return throw_errno(env, errno, "setsockopt");
  }
  return undefined(env);
}

static napi_value js_bind_inet(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t fd, port, scope;
  struct sockaddr_storage ss;
  socklen_t sslen;
  if (!get_args(env, info, 4, argv) || !get_i32(env, argv[0], &fd, "fd") || !get_i32(env, argv[2], &port, "port") ||
      !get_i32(env, argv[3], &scope, "scopeId") || !parse_addr(env, argv[1], port, (uint32_t)scope, &ss, &sslen, "address")) {
    return NULL;
  }
  if (bind(fd, (struct sockaddr *)&ss, sslen) < 0) return throw_errno(env, errno, "bind");
  return undefined(env);
}

static napi_value js_bind_packet(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t fd, ifindex, protocol;
  if (!get_args(env, info, 3, argv) || !get_i32(env, argv[0], &fd, "fd") || !get_i32(env, argv[1], &ifindex, "ifindex") ||
      !get_i32(env, argv[2], &protocol, "protocol")) {
    return NULL;
  }
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons((uint16_t)protocol);
  sll.sll_ifindex = ifindex;
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) return throw_errno(env, errno, "bind");
  return undefined(env);
}

static napi_value js_connect(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t fd, port, scope;
  struct sockaddr_storage ss;
  socklen_t sslen;
  napi_value result;
  if (!get_args(env, info, 4, argv) || !get_i32(env, argv[0], &fd, "fd") || !get_i32(env, argv[2], &port, "port") ||
      !get_i32(env, argv[3], &scope, "scopeId") || !parse_addr(env, argv[1], port, (uint32_t)scope, &ss, &sslen, "address")) {
    return NULL;
  }
  int rc;
  do {
    rc = connect(fd, (struct sockaddr *)&ss, sslen);
  } while (rc < 0 && errno == EINTR);
  if (rc == 0) {
    napi_get_boolean(env, true, &result);
    return result;
  }
  if (errno == EINPROGRESS) {
    napi_get_boolean(env, false, &result);
    return result;
  }
  return throw_errno(env, errno, "connect");
}

static napi_value js_membership(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t fd, ifindex;
  bool join;
  struct sockaddr_storage ss;
  socklen_t sslen;
  if (!get_args(env, info, 4, argv) || !get_i32(env, argv[0], &fd, "fd") || !get_i32(env, argv[2], &ifindex, "ifindex") ||
      !get_bool(env, argv[3], &join, "join") || !parse_addr(env, argv[1], 0, 0, &ss, &sslen, "group")) {
    return NULL;
  }
  if (ss.ss_family == AF_INET) {
    struct ip_mreqn mreq;
    memset(&mreq, 0, sizeof mreq);
    mreq.imr_multiaddr = ((struct sockaddr_in *)&ss)->sin_addr;
    mreq.imr_ifindex = ifindex;
    if (setsockopt(fd, IPPROTO_IP, join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP, &mreq, sizeof mreq) < 0) {
      return throw_errno(env, errno, "setsockopt");
    }
  } else {
    struct ipv6_mreq mreq;
    memset(&mreq, 0, sizeof mreq);
    mreq.ipv6mr_multiaddr = ((struct sockaddr_in6 *)&ss)->sin6_addr;
    mreq.ipv6mr_interface = (unsigned)ifindex;
    if (setsockopt(fd, IPPROTO_IPV6, join ? IPV6_JOIN_GROUP : IPV6_LEAVE_GROUP, &mreq, sizeof mreq) < 0) {
      return throw_errno(env, errno, "setsockopt");
    }
  }
  return undefined(env);
}

static napi_value js_send_inet(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  int32_t fd, scope, ifindex;
  void *data;
  size_t len;
  struct sockaddr_storage dst, src;
  socklen_t dstlen, srclen;
  int have_src = 0;
  if (!get_args(env, info, 6, argv) || !get_i32(env, argv[0], &fd, "fd") || !get_bytes(env, argv[1], &data, &len, "data") ||
      !get_i32(env, argv[3], &scope, "scopeId") || !get_i32(env, argv[5], &ifindex, "ifindex") ||
      !parse_addr(env, argv[2], 0, (uint32_t)scope, &dst, &dstlen, "destination")) {
    return NULL;
  }
  if (!is_null_or_undefined(env, argv[4])) {
    if (!parse_addr(env, argv[4], 0, 0, &src, &srclen, "source")) return NULL;
    if (src.ss_family != dst.ss_family) return throw_type(env, "lvskit_native: source and destination families differ");
    have_src = 1;
  }

  struct iovec iov = {.iov_base = data, .iov_len = len};
  union {
    char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
    struct cmsghdr align;
  } control;
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  memset(&control, 0, sizeof control);
  msg.msg_name = &dst;
  msg.msg_namelen = dstlen;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (have_src || ifindex > 0) {
    msg.msg_control = control.buf;
    struct cmsghdr *c = (struct cmsghdr *)control.buf;
    if (dst.ss_family == AF_INET) {
      struct in_pktinfo pi;
      memset(&pi, 0, sizeof pi);
      pi.ipi_ifindex = ifindex;
      if (have_src) pi.ipi_spec_dst = ((struct sockaddr_in *)&src)->sin_addr;
      msg.msg_controllen = CMSG_SPACE(sizeof pi);
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof pi);
      memcpy(CMSG_DATA(c), &pi, sizeof pi);
    } else {
      struct in6_pktinfo pi;
      memset(&pi, 0, sizeof pi);
      pi.ipi6_ifindex = (unsigned)ifindex;
      if (have_src) pi.ipi6_addr = ((struct sockaddr_in6 *)&src)->sin6_addr;
      msg.msg_controllen = CMSG_SPACE(sizeof pi);
      c->cmsg_level = IPPROTO_IPV6;
      c->cmsg_type = IPV6_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof pi);
      memcpy(CMSG_DATA(c), &pi, sizeof pi);
    }
  }
  ssize_t n;
  do {
    n = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return throw_errno(env, errno, "sendmsg");
  return num(env, (double)n);
}

static napi_value js_send_packet(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  int32_t fd, ifindex, protocol;
  void *data, *mac = NULL;
  size_t len, maclen = 0;
  if (!get_args(env, info, 5, argv) || !get_i32(env, argv[0], &fd, "fd") || !get_bytes(env, argv[1], &data, &len, "data") ||
      !get_i32(env, argv[2], &ifindex, "ifindex") || !get_i32(env, argv[3], &protocol, "protocol") ||
      !get_bytes(env, argv[4], &mac, &maclen, "dstMac")) {
    return NULL;
  }
  if (maclen > 8) return throw_type(env, "lvskit_native: dstMac longer than 8 bytes");
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons((uint16_t)protocol);
  sll.sll_ifindex = ifindex;
  sll.sll_halen = (unsigned char)maclen;
  if (maclen > 0) memcpy(sll.sll_addr, mac, maclen);
  ssize_t n;
  do {
    n = sendto(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sll, sizeof sll);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return throw_errno(env, errno, "sendto");
  return num(env, (double)n);
}

/*
 * RFC 2385 key for one peer (or, with prefixLength >= 0, a prefix of peers: TCP_MD5SIG_EXT) on a TCP
 * socket. An empty key deletes it. On an AF_INET6 socket an IPv4 peer is given as ::ffff:a.b.c.d, which
 * is how the kernel looks up keys for v4-mapped connections.
 */
static napi_value js_tcp_md5sig(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  int32_t fd, prefix, ifindex;
  void *key;
  size_t keylen;
  struct sockaddr_storage ss;
  socklen_t sslen;
  if (!get_args(env, info, 5, argv) || !get_i32(env, argv[0], &fd, "fd") || !get_i32(env, argv[2], &prefix, "prefixLength") ||
      !get_bytes(env, argv[3], &key, &keylen, "key") || !get_i32(env, argv[4], &ifindex, "ifindex") ||
      !parse_addr(env, argv[1], 0, 0, &ss, &sslen, "address")) {
    return NULL;
  }
  if (keylen > TCP_MD5SIG_MAXKEYLEN) return throw_type(env, "lvskit_native: key longer than 80 bytes");
  int domain = 0;
  socklen_t dlen = sizeof domain;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dlen) < 0) return throw_errno(env, errno, "getsockopt");
  if (domain == AF_INET6 && ss.ss_family == AF_INET) {
    struct in_addr a4 = ((struct sockaddr_in *)&ss)->sin_addr;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    memset(&ss, 0, sizeof ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_addr.s6_addr[10] = 0xff;
    sin6->sin6_addr.s6_addr[11] = 0xff;
    memcpy(&sin6->sin6_addr.s6_addr[12], &a4, 4);
    if (prefix >= 0) prefix += 96;
  } else if (domain == AF_INET && ss.ss_family == AF_INET6) {
    return throw_errno(env, EAFNOSUPPORT, "setsockopt");
  }
  struct tcp_md5sig sig;
  memset(&sig, 0, sizeof sig);
  memcpy(&sig.tcpm_addr, &ss, sizeof sig.tcpm_addr < sizeof ss ? sizeof sig.tcpm_addr : sizeof ss);
  sig.tcpm_keylen = (uint16_t)keylen;
  if (keylen > 0) memcpy(sig.tcpm_key, key, keylen);
  int opt = TCP_MD5SIG;
  if (prefix >= 0) {
    opt = TCP_MD5SIG_EXT;
    sig.tcpm_flags |= TCP_MD5SIG_FLAG_PREFIX;
    sig.tcpm_prefixlen = (uint8_t)prefix;
  }
  if (ifindex > 0) {
    /* glibc names the field __tcpm_pad; the kernel (5.6+) reads it as tcpm_ifindex. */
    int32_t idx = ifindex;
    opt = TCP_MD5SIG_EXT;
    sig.tcpm_flags |= TCP_MD5SIG_FLAG_IFINDEX;
    memcpy(&sig.__tcpm_pad, &idx, sizeof idx);
  }
  if (setsockopt(fd, IPPROTO_TCP, opt, &sig, sizeof sig) < 0) return throw_errno(env, errno, "setsockopt");
  return undefined(env);
}

static napi_value js_if_name_to_index(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  char name[IF_NAMESIZE];
  if (!get_args(env, info, 1, argv) || !get_str(env, argv[0], name, sizeof name, "ifname")) return NULL;
  unsigned idx = if_nametoindex(name);
  if (idx == 0) return throw_errno(env, errno == 0 ? ENODEV : errno, "if_nametoindex");
  return num(env, idx);
}

static napi_value js_if_index_to_name(napi_env env, napi_callback_info info) {
  napi_value argv[1], out;
  int32_t idx;
  char name[IF_NAMESIZE];
  if (!get_args(env, info, 1, argv) || !get_i32(env, argv[0], &idx, "ifindex")) return NULL;
  if (if_indextoname((unsigned)idx, name) == NULL) return throw_errno(env, errno, "if_indextoname");
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &out);
  return out;
}

/* ------------------------------------------------------------------------------------------- */
/* watchers: uv_poll on a descriptor, results delivered to a JS callback */

typedef struct watcher {
  napi_env env;
  int fd;
  int mode;
  int domain;
  int type;
  int active;
  uv_poll_t *poll;            /* freed by its close callback */
  napi_ref callback;          /* strong while active */
  napi_async_context actx;
} watcher_t;

static void free_poll(uv_handle_t *h) { free(h); }

static void cleanup_hook(void *arg);

/* Stop polling and let go of the callback. Safe to call twice, and from inside the callback. */
static void watcher_stop(watcher_t *w) {
  if (!w->active) return;
  w->active = 0;
  napi_remove_env_cleanup_hook(w->env, cleanup_hook, w);
  if (w->poll != NULL) {
    uv_poll_stop(w->poll);
    w->poll->data = NULL;
    uv_close((uv_handle_t *)w->poll, free_poll);
    w->poll = NULL;
  }
  if (w->callback != NULL) {
    napi_delete_reference(w->env, w->callback);
    w->callback = NULL;
  }
  if (w->actx != NULL) {
    napi_async_destroy(w->env, w->actx);
    w->actx = NULL;
  }
}

static void cleanup_hook(void *arg) {
  watcher_t *w = arg;
  /* Environment teardown: the hook is being removed by Node itself, so only stop the poll. */
  w->active = 0;
  if (w->poll != NULL) {
    uv_poll_stop(w->poll);
    w->poll->data = NULL;
    uv_close((uv_handle_t *)w->poll, free_poll);
    w->poll = NULL;
  }
}

static void watcher_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  watcher_t *w = data;
  watcher_stop(w);
  free(w);
}

/* Call the JS callback with (err, value); routes an exception it throws to 'uncaughtException'. Returns 0 if it threw. */
static int deliver(watcher_t *w, napi_value err, napi_value value) {
  napi_env env = w->env;
  napi_value cb, recv, argv[2], result;
  if (w->callback == NULL || napi_get_reference_value(env, w->callback, &cb) != napi_ok || cb == NULL) return 0;
  napi_get_global(env, &recv); /* napi_make_callback converts recv to an object: undefined throws */
  argv[0] = err != NULL ? err : undefined(env);
  argv[1] = value != NULL ? value : undefined(env);
  napi_status st = napi_make_callback(env, w->actx, recv, cb, 2, argv, &result);
  if (st == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
    return 0;
  }
  return st == napi_ok;
}

static void set_str(napi_env env, napi_value obj, const char *key, const char *s) {
  napi_value v;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, obj, key, v);
}

static void set_num(napi_env env, napi_value obj, const char *key, double d) {
  napi_set_named_property(env, obj, key, num(env, d));
}

static void set_buf(napi_env env, napi_value obj, const char *key, const void *p, size_t n) {
  napi_value v;
  void *unused;
  napi_create_buffer_copy(env, n, p, &unused, &v);
  napi_set_named_property(env, obj, key, v);
}

/*
 * One inet datagram -> { data, src, dst, ttl, ifindex } (dst / ttl / ifindex are -1 / '' when unknown).
 * A raw IPv4 socket receives the IP header too: src, dst and TTL come from it and `data` is what follows.
 * IPv6 raw sockets never see the IPv6 header: hop limit and destination come from ancillary data.
 */
static napi_value datagram_object(watcher_t *w, const unsigned char *buf, size_t n, struct msghdr *msg,
                                  struct sockaddr_storage *from) {
  napi_env env = w->env;
  napi_value obj;
  char src[INET6_ADDRSTRLEN] = "", dst[INET6_ADDRSTRLEN] = "";
  int ttl = -1, ifindex = -1;
  uint32_t scope = 0;
  const unsigned char *payload = buf;
  size_t plen = n;

  for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c != NULL; c = CMSG_NXTHDR(msg, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      struct in_pktinfo pi;
      memcpy(&pi, CMSG_DATA(c), sizeof pi);
      ifindex = pi.ipi_ifindex;
      inet_ntop(AF_INET, &pi.ipi_addr, dst, sizeof dst);
    } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) {
      int v;
      memcpy(&v, CMSG_DATA(c), sizeof v);
      ttl = v;
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      struct in6_pktinfo pi;
      memcpy(&pi, CMSG_DATA(c), sizeof pi);
      ifindex = (int)pi.ipi6_ifindex;
      inet_ntop(AF_INET6, &pi.ipi6_addr, dst, sizeof dst);
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT) {
      int v;
      memcpy(&v, CMSG_DATA(c), sizeof v);
      ttl = v;
    }
  }
  if (from->ss_family == AF_INET) {
    inet_ntop(AF_INET, &((struct sockaddr_in *)from)->sin_addr, src, sizeof src);
  } else if (from->ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)from)->sin6_addr, src, sizeof src);
    scope = ((struct sockaddr_in6 *)from)->sin6_scope_id;
  }
  if (w->domain == AF_INET && w->type == SOCK_RAW && n >= 20 && (buf[0] >> 4) == 4) {
    size_t ihl = (size_t)(buf[0] & 0x0f) * 4;
    if (ihl >= 20 && ihl <= n) {
      ttl = buf[8];
      inet_ntop(AF_INET, buf + 12, src, sizeof src);
      inet_ntop(AF_INET, buf + 16, dst, sizeof dst);
      payload = buf + ihl;
      plen = n - ihl;
    }
  }
  napi_create_object(env, &obj);
  set_buf(env, obj, "data", payload, plen);
  set_str(env, obj, "src", src);
  set_str(env, obj, "dst", dst);
  set_num(env, obj, "ttl", ttl);
  set_num(env, obj, "ifindex", ifindex);
  set_num(env, obj, "scopeId", scope);
  if (msg->msg_flags & MSG_TRUNC) {
    napi_value t;
    napi_get_boolean(env, true, &t);
    napi_set_named_property(env, obj, "truncated", t);
  }
  return obj;
}

static napi_value packet_object(watcher_t *w, const unsigned char *buf, size_t n, struct sockaddr_ll *sll, int truncated) {
  napi_env env = w->env;
  napi_value obj;
  napi_create_object(env, &obj);
  set_buf(env, obj, "data", buf, n);
  set_num(env, obj, "ifindex", sll->sll_ifindex);
  set_num(env, obj, "protocol", ntohs(sll->sll_protocol));
  set_num(env, obj, "pktType", sll->sll_pkttype);
  set_buf(env, obj, "srcMac", sll->sll_addr, sll->sll_halen <= 8 ? sll->sll_halen : 8);
  if (truncated) {
    napi_value t;
    napi_get_boolean(env, true, &t);
    napi_set_named_property(env, obj, "truncated", t);
  }
  return obj;
}

static void on_poll(uv_poll_t *h, int status, int events) {
  (void)events;
  watcher_t *w = h->data;
  if (w == NULL || !w->active) return;
  napi_env env = w->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;

  if (w->mode == WATCH_WRITABLE) {
    /* libuv reports POLLERR as status UV_EBADF; the real outcome of the connect is in SO_ERROR. */
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(w->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err == 0 && status < 0) err = -status;
    /*
     * One-shot. Close the poll handle before calling back: the callback hands the descriptor to Node,
     * and uv_poll_stop / uv_close of a poll handle remove its fd from epoll, which must not happen once
     * Node's own handle watches the same fd.
     */
    uv_poll_stop(h);
    h->data = NULL;
    uv_close((uv_handle_t *)h, free_poll);
    w->poll = NULL;
    deliver(w, err != 0 ? make_errno_error(env, err, "connect") : NULL, NULL);
    watcher_stop(w);
  } else if (status < 0) {
    /*
     * POLLERR (libuv says UV_EBADF and has stopped the handle): fetch and clear the socket's pending
     * error, report it, and poll again. A pending error is consumed by SO_ERROR, so this cannot spin.
     */
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(w->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    deliver(w, make_errno_error(env, err != 0 ? err : -status, err != 0 ? "recvmsg" : "poll"), NULL);
    if (w->active && w->poll != NULL && (err != 0 && err != EBADF)) uv_poll_start(w->poll, UV_READABLE, on_poll);
  } else {
    for (int i = 0; i < MAX_READS_PER_WAKE && w->active; i++) {
      ssize_t n;
      if (w->mode == WATCH_PACKET) {
        struct sockaddr_ll sll;
        socklen_t sl = sizeof sll;
        memset(&sll, 0, sizeof sll);
        n = recvfrom(w->fd, rx_buf, sizeof rx_buf, MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *)&sll, &sl);
        if (n < 0) {
          if (errno == EINTR) continue;
          if (errno != EAGAIN && errno != EWOULDBLOCK) deliver(w, make_errno_error(env, errno, "recvfrom"), NULL);
          break;
        }
        int truncated = (size_t)n > sizeof rx_buf;
        size_t got = truncated ? sizeof rx_buf : (size_t)n;
        napi_handle_scope inner;
        napi_open_handle_scope(env, &inner);
        int ok = deliver(w, NULL, packet_object(w, rx_buf, got, &sll, truncated));
        napi_close_handle_scope(env, inner);
        if (!ok) break;
      } else {
        struct sockaddr_storage from;
        union {
          char buf[512];
          struct cmsghdr align;
        } control;
        struct iovec iov = {.iov_base = rx_buf, .iov_len = sizeof rx_buf};
        struct msghdr msg;
        memset(&msg, 0, sizeof msg);
        memset(&from, 0, sizeof from);
        msg.msg_name = &from;
        msg.msg_namelen = sizeof from;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.buf;
        msg.msg_controllen = sizeof control.buf;
        n = recvmsg(w->fd, &msg, MSG_DONTWAIT);
        if (n < 0) {
          if (errno == EINTR) continue;
          if (errno != EAGAIN && errno != EWOULDBLOCK) deliver(w, make_errno_error(env, errno, "recvmsg"), NULL);
          break;
        }
        napi_handle_scope inner;
        napi_open_handle_scope(env, &inner);
        int ok = deliver(w, NULL, datagram_object(w, rx_buf, (size_t)n, &msg, &from));
        napi_close_handle_scope(env, inner);
        if (!ok) break;
      }
    }
  }
  napi_close_handle_scope(env, scope);
}

static napi_value js_watch(napi_env env, napi_callback_info info) {
  napi_value argv[3], external, resource_name;
  int32_t fd, mode;
  napi_valuetype t;
  if (!get_args(env, info, 3, argv) || !get_i32(env, argv[0], &fd, "fd") || !get_i32(env, argv[1], &mode, "mode")) return NULL;
  if (napi_typeof(env, argv[2], &t) != napi_ok || t != napi_function) return throw_type(env, "lvskit_native: callback must be a function");
  if (mode != WATCH_DATAGRAM && mode != WATCH_PACKET && mode != WATCH_WRITABLE) return throw_type(env, "lvskit_native: bad watch mode");

  int domain = 0, type = 0;
  socklen_t len = sizeof domain;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0) return throw_errno(env, errno, "getsockopt");
  len = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) return throw_errno(env, errno, "getsockopt");

  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return throw_type(env, "lvskit_native: no event loop");
  watcher_t *w = calloc(1, sizeof *w);
  uv_poll_t *p = calloc(1, sizeof *p);
  if (w == NULL || p == NULL) {
    free(w);
    free(p);
    return throw_errno(env, ENOMEM, "watch");
  }
  w->env = env;
  w->fd = fd;
  w->mode = mode;
  w->domain = domain;
  w->type = type;
  int rc = uv_poll_init_socket(loop, p, fd);
  if (rc < 0) {
    free(w);
    free(p);
    return throw_errno(env, -rc, "uv_poll_init");
  }
  p->data = w;
  w->poll = p;
  rc = uv_poll_start(p, mode == WATCH_WRITABLE ? UV_WRITABLE : UV_READABLE, on_poll);
  if (rc < 0) {
    uv_close((uv_handle_t *)p, free_poll);
    free(w);
    return throw_errno(env, -rc, "uv_poll_start");
  }
  w->active = 1;
  napi_create_reference(env, argv[2], 1, &w->callback);
  napi_create_string_utf8(env, "lvskit:socket", NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, NULL, resource_name, &w->actx);
  napi_add_env_cleanup_hook(env, cleanup_hook, w);
  if (napi_create_external(env, w, watcher_finalize, NULL, &external) != napi_ok) {
    watcher_stop(w);
    free(w);
    return throw_type(env, "lvskit_native: cannot create watcher");
  }
  return external;
}

static watcher_t *get_watcher(napi_env env, napi_value v) {
  napi_valuetype t;
  void *data = NULL;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_get_value_external(env, v, &data) != napi_ok) {
    throw_type(env, "lvskit_native: not a watcher");
    return NULL;
  }
  return data;
}

static napi_value js_unwatch(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  watcher_t *w = get_watcher(env, argv[0]);
  if (w == NULL) return NULL;
  watcher_stop(w);
  return undefined(env);
}

static napi_value js_watch_ref(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  bool ref;
  if (!get_args(env, info, 2, argv) || !get_bool(env, argv[1], &ref, "ref")) return NULL;
  watcher_t *w = get_watcher(env, argv[0]);
  if (w == NULL) return NULL;
  if (w->poll != NULL) {
    if (ref) uv_ref((uv_handle_t *)w->poll);
    else uv_unref((uv_handle_t *)w->poll);
  }
  return undefined(env);
}

/* ------------------------------------------------------------------------------------------- */
/* module */

static void add_const(napi_env env, napi_value obj, const char *name, int value) { set_num(env, obj, name, value); }

static napi_value constants(napi_env env) {
  napi_value c;
  napi_create_object(env, &c);
#define C(x) add_const(env, c, #x, x)
  C(AF_INET); C(AF_INET6); C(AF_PACKET);
  C(SOCK_RAW); C(SOCK_DGRAM); C(SOCK_STREAM);
  C(SOL_SOCKET); C(IPPROTO_IP); C(IPPROTO_IPV6); C(IPPROTO_TCP); C(IPPROTO_RAW);
  C(SO_REUSEADDR); C(SO_RCVBUF); C(SO_SNDBUF); C(SO_DOMAIN); C(SO_TYPE); C(SO_ERROR);
  C(IP_TTL); C(IP_MULTICAST_TTL); C(IP_MULTICAST_LOOP); C(IP_MULTICAST_ALL); C(IP_PKTINFO); C(IP_RECVTTL);
  C(IP_MINTTL); C(IP_FREEBIND);
  C(IPV6_UNICAST_HOPS); C(IPV6_MULTICAST_HOPS); C(IPV6_MULTICAST_LOOP); C(IPV6_MULTICAST_IF);
  C(IPV6_RECVPKTINFO); C(IPV6_RECVHOPLIMIT); C(IPV6_CHECKSUM); C(IPV6_V6ONLY); C(IPV6_MINHOPCOUNT);
  C(TCP_MD5SIG); C(TCP_MD5SIG_EXT); C(TCP_MD5SIG_MAXKEYLEN);
  C(ETH_P_ALL); C(ETH_P_ARP); C(ETH_P_IP); C(ETH_P_IPV6);
  C(WATCH_DATAGRAM); C(WATCH_PACKET); C(WATCH_WRITABLE);
#undef C
  return c;
}

void lvskit_probe_register(napi_env env, napi_value exports); /* native/lvskit_probe.c */
void lvskit_nldump_register(napi_env env, napi_value exports); /* native/lvskit_nldump.c */

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
#define F(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL}
      F("socket", js_socket),
      F("close", js_close),
      F("setInt", js_set_int),
      F("getInt", js_get_int),
      F("bindToDevice", js_bind_to_device),
      F("bindInet", js_bind_inet),
      F("bindPacket", js_bind_packet),
      F("connect", js_connect),
      F("membership", js_membership),
      F("sendInet", js_send_inet),
      F("sendPacket", js_send_packet),
      F("tcpMd5Sig", js_tcp_md5sig),
      F("ifNameToIndex", js_if_name_to_index),
      F("ifIndexToName", js_if_index_to_name),
      F("watch", js_watch),
      F("unwatch", js_unwatch),
      F("watchRef", js_watch_ref),
#undef F
      {"constants", NULL, NULL, NULL, NULL, constants(env), napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  lvskit_probe_register(env, exports);
  lvskit_nldump_register(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
