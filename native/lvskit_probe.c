/*
 * lvskit_probe: a native engine for lvskit/monitors' plain HTTP and TCP-connect checks.
 *
 * Node's net.Socket costs more CPU per connection than a whole health check may (stream machinery, a
 * handle and several objects per connection); at 10,000 checks a second that is most of the checker's
 * time. Here a check is a slot in a table, a socket, and a few system calls, all on the main thread:
 *
 *   probeInit(records, text, callback)   one epoll descriptor, watched by a uv_poll on Node's loop
 *   probePrepare(address, port, flags, maxBody, bodyStatuses, request) -> Buffer | null
 *                                        a check's connection facts packed once per target (null: the
 *                                        address is not a plain IPv4/IPv6 literal)
 *   probeStart(prepared) -> id >= 0 | -errno
 *                                        socket (non-blocking, close-on-exec), SO_LINGER 0 when the check
 *                                        closes with a reset, connect, epoll_ctl ADD (edge triggered)
 *   probeCancel(id)                      close at once, report nothing (deadline passed, monitor stopped)
 *   probeActive() -> number              probes in flight (for tests)
 *
 * On readiness the request is written (partial writes resumed), the answer read into one shared 64 KiB
 * buffer and fed to a per-probe HTTP/1.x state machine that follows src/monitors/http-client.ts step by
 * step (head up to 32 KiB, status line, Content-Length / Transfer-Encoding / Location, body framing by
 * length, chunked coding or close, counted up to the body cap); the socket is closed as soon as the
 * answer is known. Results go to JS in batches: each record is 8 int32 in `records` (a shared
 * Int32Array: id, code, status, a, b, text offset, text length, 0) plus bytes in `text` (a shared
 * Uint8Array: a Location value, or the first 61 bytes of what did not parse); one callback(count) per
 * epoll wake-up, not one per probe. JS (src/monitors/native-probe.ts) turns codes into the same
 * results and reasons the Node path gives. Deadlines stay in JS (the monitors' deadline queue calls
 * probeCancel). Bounded everywhere: head 32 KiB + 4, chunk lines 4 KiB, 16 reads per probe per wake
 * (then the probe is switched to level-triggered so the rest is read on the next wake), 256 events
 * per epoll_wait, 4 epoll_waits per wake. Every descriptor is closed on every path, and at
 * environment teardown.
 *
 * One engine per process, owned by the first Node environment that calls probeInit (another, e.g. a
 * worker thread, gets an error and lvskit uses Node's sockets there).
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* flags (probePrepare) */
#define PF_HTTP 1  /* an HTTP exchange; else connect only */
#define PF_RESET 2 /* close with a RST (SO_LINGER 0) */
#define PF_HEAD 4  /* HEAD request: no body */

/* result codes (records[1]); native-probe.ts has the same list */
enum {
  R_ERROR = 1,          /* a = errno, b = syscall (1 connect, 2 write, 3 read) */
  R_HANGUP = 2,         /* closed before any response */
  R_NOT_HTTP = 3,       /* text = first bytes */
  R_EOF_IN_HEAD = 4,    /* a = head bytes */
  R_HEAD_TOO_LONG = 5,  /* */
  R_BAD_STATUS = 6,     /* text = status line start */
  R_STATUS = 7,         /* status, text = Location (b = 1 when present) */
  R_BAD_LENGTH = 8,     /* status */
  R_BODY = 9,           /* status, a = body bytes, b = 1 capped | 2 has Location, text = Location */
  R_BROKEN = 10,        /* status, a = why (below), b = errno | syscall << 16 | 2 has Location << 24, text */
  R_CONNECTED = 11,     /* TCP connect check succeeded */
};
enum { WHY_END = 0, WHY_ERRNO = 1, WHY_LINE_LONG = 2, WHY_DATA_LONG = 3, WHY_BAD_SIZE = 4 };
enum { SYS_CONNECT = 1, SYS_WRITE = 2, SYS_READ = 3 };

#define MAX_HEAD 32768
#define HEAD_CAP (MAX_HEAD + 4)
#define MAX_LINE 4096
#define PREVIEW 61
#define RX_SIZE 65536
#define READS_PER_WAKE 16
#define EVENTS 256
#define WAITS_PER_WAKE 4
#define RECORD_INTS 8
#define MAX_SLOTS 65536
#define PREP_MAGIC 0x6c767062u

typedef struct prepared {
  uint32_t magic;
  uint32_t flags;
  uint32_t max_body;
  uint32_t req_len;
  uint32_t salen;
  uint32_t pad;
  struct sockaddr_in6 sa; /* or a sockaddr_in */
  uint8_t body_ok[128];   /* bit per status 0..999: read the body (the judge needs it) */
  /* request bytes follow */
} prepared_t;

enum { S_FREE = 0, S_CONNECTING, S_OPEN, S_DONE };
enum { P_HEAD = 0, P_BODY };
enum { F_LENGTH = 0, F_CHUNKED, F_CLOSE };
enum { C_SIZE = 0, C_DATA, C_DATA_END, C_TRAILER };

typedef struct probe {
  int fd;
  uint16_t gen;
  uint8_t state, phase, framing, chunk;
  bool level; /* switched to level-triggered */
  uint32_t flags, max_body;
  uint8_t body_ok[128];
  uint8_t *req;
  uint32_t req_len, req_off, req_cap;
  uint8_t *head;
  uint32_t head_len, head_alloc;
  uint32_t status;
  uint64_t remaining;
  uint64_t bytes;
  uint64_t length;
  bool length_set, length_bad, te_set, te_chunked, has_loc;
  uint32_t loc_off, loc_len;
  uint8_t *line;
  uint32_t line_len; /* bytes of the current chunk line so far (kept up to MAX_LINE) */
  int32_t next_free;
} probe_t;

typedef struct engine {
  napi_env env;
  int epfd;
  uv_poll_t *poll;
  bool ref;
  napi_ref cb, rec_ref, text_ref;
  napi_async_context actx;
  int32_t *rec;
  size_t rec_cap; /* records */
  uint8_t *text;
  size_t text_cap;
  size_t count, text_used;
  probe_t **slots;
  int32_t nslots, free_head;
  int32_t active;
  int32_t *deferred; /* slots done in this batch, freed after the callback */
  size_t ndeferred;
} engine_t;

static engine_t *E = NULL;
static uint8_t rx[RX_SIZE];

/* ------------------------------------------------------------------------------------------- */
/* helpers */

static napi_value p_throw(napi_env env, const char *msg) {
  napi_throw_error(env, "ERR_NATIVE_PROBE", msg);
  return NULL;
}

static napi_value p_int(napi_env env, int32_t v) {
  napi_value r;
  napi_create_int32(env, v, &r);
  return r;
}

static int p_bytes(napi_env env, napi_value v, void **data, size_t *len) {
  bool is = false;
  if (napi_is_buffer(env, v, &is) == napi_ok && is) return napi_get_buffer_info(env, v, data, len) == napi_ok;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t n, off;
    napi_value ab;
    if (napi_get_typedarray_info(env, v, &type, &n, data, &ab, &off) == napi_ok && type == napi_uint8_array) {
      *len = n;
      return 1;
    }
  }
  return 0;
}

/* JS String.prototype.trim's white space within latin1: TAB LF VT FF CR SP NBSP. */
static inline bool js_space(uint8_t c) { return c == 9 || c == 10 || c == 11 || c == 12 || c == 13 || c == 32 || c == 0xa0; }

static void trim(const uint8_t *s, uint32_t *a, uint32_t *b) {
  while (*a < *b && js_space(s[*a])) (*a)++;
  while (*b > *a && js_space(s[*b - 1])) (*b)--;
}

static void update_ref(engine_t *e) {
  bool want = e->active > 0;
  if (want == e->ref || e->poll == NULL) return;
  e->ref = want;
  if (want) uv_ref((uv_handle_t *)e->poll);
  else uv_unref((uv_handle_t *)e->poll);
}

static inline int32_t probe_id(int32_t slot, probe_t *p) { return (int32_t)(((uint32_t)(p->gen & 0x7fff) << 16) | (uint32_t)slot); }

/* Close the descriptor and give back what the probe allocated beyond its small buffers. */
static void probe_release_fd(engine_t *e, probe_t *p) {
  if (p->fd >= 0) {
    close(p->fd);
    p->fd = -1;
    e->active--;
  }
  if (p->head_alloc > 1024) {
    free(p->head);
    p->head = NULL;
    p->head_alloc = 0;
  }
  free(p->line);
  p->line = NULL;
  if (p->req_cap > 512) {
    free(p->req);
    p->req = NULL;
    p->req_cap = 0;
  }
}

static void slot_free(engine_t *e, int32_t slot) {
  probe_t *p = e->slots[slot];
  p->state = S_FREE;
  p->next_free = e->free_head;
  e->free_head = slot;
}

/* ------------------------------------------------------------------------------------------- */
/* results */

static void flush(engine_t *e);

/* Record a result for the probe in `slot` and close it; the slot is freed after the batch is delivered. */
static void finish(engine_t *e, int32_t slot, int code, int32_t status, int32_t a, int32_t b, const uint8_t *t, uint32_t tlen) {
  probe_t *p = e->slots[slot];
  if (tlen > e->text_cap - e->text_used) tlen = 0; /* cannot happen: the batch is flushed before it could */
  int32_t *r = e->rec + e->count * RECORD_INTS;
  r[0] = probe_id(slot, p);
  r[1] = code;
  r[2] = status;
  r[3] = a;
  r[4] = b;
  r[5] = (int32_t)e->text_used;
  r[6] = (int32_t)tlen;
  r[7] = 0;
  if (tlen > 0) memcpy(e->text + e->text_used, t, tlen);
  e->text_used += tlen;
  e->count++;
  p->state = S_DONE;
  probe_release_fd(e, p);
  e->deferred[e->ndeferred++] = slot;
}

static void finish_loc(engine_t *e, int32_t slot, int code, int32_t a, int32_t b) {
  probe_t *p = e->slots[slot];
  if (p->has_loc) finish(e, slot, code, (int32_t)p->status, a, b, p->head + p->loc_off, p->loc_len);
  else finish(e, slot, code, (int32_t)p->status, a, b, NULL, 0);
}

static void complete(engine_t *e, int32_t slot, bool capped) {
  probe_t *p = e->slots[slot];
  finish_loc(e, slot, R_BODY, (int32_t)p->bytes, (capped ? 1 : 0) | (p->has_loc ? 2 : 0));
}

static void broken(engine_t *e, int32_t slot, int why, int32_t b, const uint8_t *t, uint32_t tlen) {
  probe_t *p = e->slots[slot];
  b |= p->has_loc ? (2 << 24) : 0;
  if (t != NULL) finish(e, slot, R_BROKEN, (int32_t)p->status, why, b, t, tlen);
  else finish_loc(e, slot, R_BROKEN, why, b);
}

/* ------------------------------------------------------------------------------------------- */
/* the HTTP state machine (src/monitors/http-client.ts, Exchange) */

static bool looks_http(const uint8_t *s, uint32_t n) {
  static const char H[] = "HTTP/";
  for (uint32_t i = 0; i < n && i < 5; i++)
    if (s[i] != (uint8_t)H[i]) return false;
  return true;
}

static bool digits_1_15(const uint8_t *s, uint32_t a, uint32_t b, uint64_t *v) {
  if (b <= a || b - a > 15) return false;
  uint64_t x = 0;
  for (uint32_t i = a; i < b; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    x = x * 10 + (uint64_t)(s[i] - '0');
  }
  *v = x;
  return true;
}

static void content_length(probe_t *p, const uint8_t *s, uint32_t a, uint32_t b) {
  /* RFC 9112 §6.3: a list of equal values is that value; anything else is an error. */
  uint32_t start = a;
  for (uint32_t i = a; i <= b; i++) {
    if (i < b && s[i] != ',') continue;
    uint32_t x = start, y = i;
    trim(s, &x, &y);
    uint64_t v;
    if (!digits_1_15(s, x, y, &v) || (p->length_set && v != p->length)) p->length_bad = true;
    else {
      p->length = v;
      p->length_set = true;
    }
    start = i + 1;
  }
}

static bool ieq(const uint8_t *s, const char *lower, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    uint8_t c = s[i];
    if (c >= 'A' && c <= 'Z') c = (uint8_t)(c + 32);
    if (c != (uint8_t)lower[i]) return false;
  }
  return true;
}

static void transfer_encoding(probe_t *p, const uint8_t *s, uint32_t a, uint32_t b) {
  /* te = the values joined with ", "; chunked when /(?:^|,)\s*chunked\s*$/i matches it: decided by the last value. */
  trim(s, &a, &b);
  p->te_set = true;
  p->te_chunked = false;
  if (b - a < 7 || !ieq(s + b - 7, "chunked", 7)) return;
  uint32_t x = a, y = b - 7;
  trim(s, &x, &y);
  p->te_chunked = y == x || s[y - 1] == ',';
}

static void start_head(probe_t *p, uint32_t status) {
  p->status = status;
  p->length_set = p->length_bad = p->te_set = p->te_chunked = p->has_loc = false;
  p->length = 0;
}

/* The final response's head is read (http-client.ts onHead). */
static void on_head(engine_t *e, int32_t slot) {
  probe_t *p = e->slots[slot];
  uint32_t st = p->status;
  if (!(p->body_ok[st >> 3] & (1u << (st & 7)))) {
    finish_loc(e, slot, R_STATUS, 0, p->has_loc ? 1 : 0);
    return;
  }
  if ((p->flags & PF_HEAD) || st == 204 || st == 304 || st < 200) {
    complete(e, slot, false);
    return;
  }
  if (p->te_set) {
    p->framing = p->te_chunked ? F_CHUNKED : F_CLOSE;
  } else if (p->length_bad) {
    finish(e, slot, R_BAD_LENGTH, (int32_t)st, 0, 0, NULL, 0);
    return;
  } else if (p->length_set) {
    p->framing = F_LENGTH;
    p->remaining = p->length;
    if (p->length == 0) {
      complete(e, slot, false);
      return;
    }
  } else {
    p->framing = F_CLOSE;
  }
  p->phase = P_BODY;
  p->chunk = C_SIZE;
  p->line_len = 0;
  if (p->max_body == 0) complete(e, slot, true);
}

/* The head is head[0..idx) (http-client.ts onHeadText). Returns false when the probe finished. */
static bool on_head_text(engine_t *e, int32_t slot, uint32_t idx) {
  probe_t *p = e->slots[slot];
  const uint8_t *h = p->head;
  uint32_t l0 = idx; /* the status line: up to the first CRLF */
  for (uint32_t i = 0; i + 1 < idx; i++)
    if (h[i] == '\r' && h[i + 1] == '\n') {
      l0 = i;
      break;
    }
  /* ^HTTP/1\.[01] (\d{3})(?: |$) on the status line */
  bool good = l0 >= 12 && memcmp(h, "HTTP/1.", 7) == 0 && (h[7] == '0' || h[7] == '1') && h[8] == ' ' &&
              h[9] >= '0' && h[9] <= '9' && h[10] >= '0' && h[10] <= '9' && h[11] >= '0' && h[11] <= '9' &&
              (l0 == 12 || h[12] == ' ');
  if (!good) {
    finish(e, slot, R_BAD_STATUS, 0, 0, 0, h, l0 < PREVIEW ? l0 : PREVIEW);
    return false;
  }
  uint32_t status = (uint32_t)(h[9] - '0') * 100 + (uint32_t)(h[10] - '0') * 10 + (uint32_t)(h[11] - '0');
  /* RFC 9110 §15.2: interim 1xx responses precede the final one (101 is taken as final). */
  if (status >= 100 && status < 200 && status != 101) return true;
  start_head(p, status);
  uint32_t pos = l0 + 2;
  while (pos < idx) {
    uint32_t le = pos;
    int64_t colon = -1;
    for (; le < idx; le++) {
      if (h[le] == '\r' && le + 1 < idx && h[le + 1] == '\n') break;
      if (h[le] == ':' && colon < 0) colon = le;
    }
    if (colon > (int64_t)pos) {
      uint32_t n = (uint32_t)colon - pos, va = (uint32_t)colon + 1, vb = le;
      if (n == 14 && ieq(h + pos, "content-length", 14)) content_length(p, h, va, vb);
      else if (n == 17 && ieq(h + pos, "transfer-encoding", 17)) transfer_encoding(p, h, va, vb);
      else if (n == 8 && ieq(h + pos, "location", 8)) {
        trim(h, &va, &vb);
        p->has_loc = true;
        p->loc_off = va;
        p->loc_len = vb - va;
      }
    }
    pos = le + 2;
  }
  on_head(e, slot);
  return false;
}

static bool head_room(probe_t *p, uint32_t need) {
  if (need <= p->head_alloc) return true;
  uint32_t n = p->head_alloc < 1024 ? 1024 : p->head_alloc;
  while (n < need) n *= 2;
  if (n > HEAD_CAP) n = HEAD_CAP;
  uint8_t *h = realloc(p->head, n);
  if (h == NULL) return false;
  p->head = h;
  p->head_alloc = n;
  return true;
}

/* Head bytes from buf[at..end); returns where the head's consumption ended (http-client.ts feedHead). */
static uint32_t feed_head(engine_t *e, int32_t slot, const uint8_t *buf, uint32_t at, uint32_t end) {
  probe_t *p = e->slots[slot];
  uint32_t before = p->head_len;
  uint32_t take = end - at;
  if (take > HEAD_CAP - before) take = HEAD_CAP - before;
  if (!head_room(p, before + take)) {
    finish(e, slot, R_HEAD_TOO_LONG, 0, 0, 0, NULL, 0);
    return end;
  }
  memcpy(p->head + before, buf + at, take);
  p->head_len = before + take;
  const uint8_t *h = p->head;
  if (!looks_http(h, p->head_len)) {
    finish(e, slot, R_NOT_HTTP, 0, 0, 0, h, p->head_len < PREVIEW ? p->head_len : PREVIEW);
    return end;
  }
  uint32_t from = before > 3 ? before - 3 : 0;
  int64_t idx = -1;
  for (uint32_t i = from; i + 3 < p->head_len; i++) {
    if (h[i] == '\r' && h[i + 1] == '\n' && h[i + 2] == '\r' && h[i + 3] == '\n') {
      idx = i;
      break;
    }
  }
  if (idx < 0) {
    /* Everything past HEAD_CAP was dropped: head_len is then > MAX_HEAD as the full text's would be. */
    if (p->head_len > MAX_HEAD) finish(e, slot, R_HEAD_TOO_LONG, 0, 0, 0, NULL, 0);
    return end;
  }
  uint32_t rest = at + ((uint32_t)idx + 4 - before);
  if (on_head_text(e, slot, (uint32_t)idx)) {
    p->head_len = 0; /* an interim response: the next head starts here */
  }
  return rest;
}

/* Count body bytes; true once the cap is reached (then the probe is finished). */
static bool take(engine_t *e, int32_t slot, uint64_t len) {
  probe_t *p = e->slots[slot];
  uint64_t room = p->max_body - p->bytes;
  uint64_t n = len < room ? len : room;
  p->bytes += n;
  bool more = p->framing == F_LENGTH ? p->remaining > 0 : true;
  if (p->bytes >= p->max_body && (len > n || more)) {
    complete(e, slot, true);
    return true;
  }
  return false;
}

static void feed_body(engine_t *e, int32_t slot, const uint8_t *buf, uint32_t at, uint32_t end) {
  probe_t *p = e->slots[slot];
  if (p->framing == F_LENGTH) {
    uint64_t n = end - at;
    if (n > p->remaining) n = p->remaining;
    p->remaining -= n;
    if (take(e, slot, n)) return;
    if (p->remaining == 0) complete(e, slot, false);
    return;
  }
  if (p->framing == F_CLOSE) {
    take(e, slot, end - at);
    return;
  }
  /* RFC 9112 §7.1 chunked coding */
  while (at < end && p->state == S_OPEN) {
    if (p->chunk == C_DATA) {
      uint64_t n = end - at;
      if (n > p->remaining) n = p->remaining;
      p->remaining -= n;
      if (take(e, slot, n)) return;
      at += (uint32_t)n;
      if (p->remaining == 0) p->chunk = C_DATA_END;
      continue;
    }
    const uint8_t *nl = memchr(buf + at, '\n', end - at);
    uint32_t stop = nl == NULL ? end : (uint32_t)(nl - buf);
    uint32_t add = stop - at;
    if (p->line == NULL) {
      p->line = malloc(MAX_LINE);
      if (p->line == NULL) {
        broken(e, slot, WHY_LINE_LONG, 0, NULL, 0);
        return;
      }
    }
    if (add > MAX_LINE - p->line_len) {
      broken(e, slot, WHY_LINE_LONG, 0, NULL, 0);
      return;
    }
    memcpy(p->line + p->line_len, buf + at, add);
    p->line_len += add;
    at = stop;
    if (stop == end) return;
    at++; /* the LF */
    uint32_t ll = p->line_len;
    if (ll > 0 && p->line[ll - 1] == '\r') ll--;
    p->line_len = 0;
    if (p->chunk == C_DATA_END) {
      if (ll != 0) {
        broken(e, slot, WHY_DATA_LONG, 0, NULL, 0);
        return;
      }
      p->chunk = C_SIZE;
    } else if (p->chunk == C_SIZE) {
      uint32_t a = 0, b = ll;
      for (uint32_t i = 0; i < ll; i++)
        if (p->line[i] == ';') {
          b = i;
          break;
        }
      trim(p->line, &a, &b);
      bool ok = b > a && b - a <= 12;
      uint64_t v = 0;
      for (uint32_t i = a; ok && i < b; i++) {
        uint8_t c = p->line[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) ok = false;
        else v = v * 16 + (uint64_t)d;
      }
      if (!ok) {
        broken(e, slot, WHY_BAD_SIZE, 0, p->line, ll < PREVIEW ? ll : PREVIEW);
        return;
      }
      p->remaining = v;
      p->chunk = v == 0 ? C_TRAILER : C_DATA;
    } else if (ll == 0) {
      complete(e, slot, false);
      return;
    }
  }
}

static void feed(engine_t *e, int32_t slot, const uint8_t *buf, uint32_t n) {
  probe_t *p = e->slots[slot];
  uint32_t at = 0;
  while (at < n && p->state == S_OPEN && p->phase == P_HEAD) at = feed_head(e, slot, buf, at, n);
  if (at < n && p->state == S_OPEN && p->phase == P_BODY) feed_body(e, slot, buf, at, n);
}

/* The server closed its side (http-client.ts onEnd). */
static void on_end(engine_t *e, int32_t slot) {
  probe_t *p = e->slots[slot];
  if (p->phase == P_HEAD) {
    if (p->head_len == 0) finish(e, slot, R_HANGUP, 0, 0, 0, NULL, 0);
    else if (!looks_http(p->head, p->head_len)) finish(e, slot, R_NOT_HTTP, 0, 0, 0, p->head, p->head_len < PREVIEW ? p->head_len : PREVIEW);
    else finish(e, slot, R_EOF_IN_HEAD, 0, (int32_t)p->head_len, 0, NULL, 0);
  } else if (p->framing == F_CLOSE) {
    complete(e, slot, false);
  } else {
    broken(e, slot, WHY_END, 0, NULL, 0);
  }
}

/* A socket error (http-client.ts onError). */
static void on_error(engine_t *e, int32_t slot, int err, int sys) {
  probe_t *p = e->slots[slot];
  if (p->phase == P_HEAD) finish(e, slot, R_ERROR, 0, err, sys, NULL, 0);
  else broken(e, slot, WHY_ERRNO, err | (sys << 16), NULL, 0);
}

/* ------------------------------------------------------------------------------------------- */
/* I/O */

static void write_request(engine_t *e, int32_t slot) {
  probe_t *p = e->slots[slot];
  while (p->req_off < p->req_len) {
    ssize_t w = send(p->fd, p->req + p->req_off, p->req_len - p->req_off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) {
      p->req_off += (uint32_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return; /* EPOLLOUT comes again */
    on_error(e, slot, w < 0 ? errno : EPIPE, SYS_WRITE);
    return;
  }
}

static void handle(engine_t *e, int32_t slot, uint32_t ev) {
  probe_t *p = e->slots[slot];
  if (p->state == S_CONNECTING) {
    if (ev & (EPOLLERR | EPOLLHUP)) {
      int err = 0;
      socklen_t len = sizeof err;
      if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
      if (err != 0) {
        finish(e, slot, R_ERROR, 0, err, SYS_CONNECT, NULL, 0);
        return;
      }
    }
    if (!(ev & (EPOLLOUT | EPOLLIN | EPOLLERR | EPOLLHUP))) return;
    p->state = S_OPEN;
    if (!(p->flags & PF_HTTP)) {
      finish(e, slot, R_CONNECTED, 0, 0, 0, NULL, 0);
      return;
    }
    write_request(e, slot);
    if (p->state != S_OPEN) return;
  } else if (p->state == S_OPEN && (ev & EPOLLOUT) && p->req_off < p->req_len) {
    write_request(e, slot);
    if (p->state != S_OPEN) return;
  }
  if (p->state != S_OPEN) return;
  /* Read until the answer is known, EAGAIN, EOF or an error: edge triggered, so nothing may be left
     unread unless the probe is switched to level-triggered (after READS_PER_WAKE full reads). */
  for (int i = 0; i < READS_PER_WAKE; i++) {
    ssize_t r = recv(p->fd, rx, RX_SIZE, MSG_DONTWAIT);
    if (r > 0) {
      feed(e, slot, rx, (uint32_t)r);
      if (p->state != S_OPEN) return;
      continue;
    }
    if (r == 0) {
      on_end(e, slot);
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    on_error(e, slot, errno, SYS_READ);
    return;
  }
  if (!p->level) {
    struct epoll_event ee;
    ee.events = EPOLLIN | EPOLLRDHUP | (p->req_off < p->req_len ? EPOLLOUT : 0);
    ee.data.u64 = ((uint64_t)p->gen << 32) | (uint32_t)slot;
    if (epoll_ctl(e->epfd, EPOLL_CTL_MOD, p->fd, &ee) == 0) p->level = true;
    else on_error(e, slot, errno, SYS_READ);
  }
}

static void deliver(engine_t *e) {
  napi_env env = e->env;
  napi_value cb, recv, argv[1], result;
  if (napi_get_reference_value(env, e->cb, &cb) != napi_ok || cb == NULL) return;
  napi_get_global(env, &recv);
  napi_create_int32(env, (int32_t)e->count, &argv[0]);
  napi_status st = napi_make_callback(env, e->actx, recv, cb, 1, argv, &result);
  if (st == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
}

static void flush(engine_t *e) {
  if (e->count > 0) {
    napi_handle_scope scope;
    napi_open_handle_scope(e->env, &scope);
    deliver(e);
    napi_close_handle_scope(e->env, scope);
  }
  e->count = 0;
  e->text_used = 0;
  for (size_t i = 0; i < e->ndeferred; i++) slot_free(e, e->deferred[i]);
  e->ndeferred = 0;
  update_ref(e);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  (void)status;
  (void)events;
  engine_t *e = h->data;
  if (e == NULL) return;
  struct epoll_event evs[EVENTS];
  for (int w = 0; w < WAITS_PER_WAKE; w++) {
    int n = epoll_wait(e->epfd, evs, EVENTS, 0);
    if (n <= 0) break;
    for (int i = 0; i < n; i++) {
      /* Room for one more record and its longest text, else deliver what is there first. */
      if (e->count + 1 > e->rec_cap || e->text_used + HEAD_CAP > e->text_cap) flush(e);
      uint32_t slot = (uint32_t)evs[i].data.u64;
      uint16_t gen = (uint16_t)(evs[i].data.u64 >> 32);
      if ((int32_t)slot >= e->nslots) continue;
      probe_t *p = e->slots[slot];
      if (p->gen != gen || (p->state != S_CONNECTING && p->state != S_OPEN)) continue;
      handle(e, (int32_t)slot, evs[i].events);
    }
    if (n < EVENTS) break;
  }
  flush(e);
}

/* ------------------------------------------------------------------------------------------- */
/* the JS surface */

static void engine_teardown(void *arg) {
  engine_t *e = arg;
  for (int32_t i = 0; i < e->nslots; i++) {
    probe_t *p = e->slots[i];
    if (p->fd >= 0) close(p->fd);
    free(p->head);
    free(p->line);
    free(p->req);
    free(p);
  }
  free(e->slots);
  free(e->deferred);
  if (e->poll != NULL) {
    uv_poll_stop(e->poll);
    e->poll->data = NULL;
    uv_close((uv_handle_t *)e->poll, (uv_close_cb)free);
  }
  close(e->epfd);
  if (E == e) E = NULL;
  free(e);
}

static napi_value js_probe_init(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3) return p_throw(env, "probeInit: 3 arguments");
  napi_typedarray_type type;
  size_t rlen, tlen, off;
  void *rdata, *tdata;
  napi_value ab;
  napi_valuetype t;
  if (napi_get_typedarray_info(env, argv[0], &type, &rlen, &rdata, &ab, &off) != napi_ok || type != napi_int32_array ||
      rlen < RECORD_INTS * 16)
    return p_throw(env, "probeInit: records must be an Int32Array of at least 128 elements");
  if (napi_get_typedarray_info(env, argv[1], &type, &tlen, &tdata, &ab, &off) != napi_ok || type != napi_uint8_array || tlen < 2 * HEAD_CAP)
    return p_throw(env, "probeInit: text must be a Uint8Array of at least 65544 bytes");
  if (napi_typeof(env, argv[2], &t) != napi_ok || t != napi_function) return p_throw(env, "probeInit: callback must be a function");
  engine_t *e = E;
  if (e != NULL && e->env != env) return p_throw(env, "probeInit: the probe engine belongs to another Node environment");
  if (e == NULL) {
    e = calloc(1, sizeof *e);
    if (e == NULL) return p_throw(env, "probeInit: out of memory");
    e->env = env;
    e->free_head = -1;
    e->epfd = epoll_create1(EPOLL_CLOEXEC);
    uv_loop_t *loop;
    e->poll = calloc(1, sizeof *e->poll);
    if (e->epfd < 0 || e->poll == NULL || napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init(loop, e->poll, e->epfd) != 0) {
      if (e->epfd >= 0) close(e->epfd);
      free(e->poll);
      free(e);
      return p_throw(env, "probeInit: cannot create the epoll descriptor or its poll handle");
    }
    e->poll->data = e;
    uv_poll_start(e->poll, UV_READABLE, on_poll);
    uv_unref((uv_handle_t *)e->poll);
    napi_value name;
    napi_create_string_utf8(env, "lvskit:probe", NAPI_AUTO_LENGTH, &name);
    napi_async_init(env, NULL, name, &e->actx);
    napi_add_env_cleanup_hook(env, engine_teardown, e);
    E = e;
  } else {
    /* A fresh copy of the JS side (module reloaded): results go to it from now on. */
    napi_delete_reference(env, e->cb);
    napi_delete_reference(env, e->rec_ref);
    napi_delete_reference(env, e->text_ref);
  }
  e->rec = rdata;
  e->rec_cap = rlen / RECORD_INTS;
  e->text = tdata;
  e->text_cap = tlen;
  napi_create_reference(env, argv[2], 1, &e->cb);
  napi_create_reference(env, argv[0], 1, &e->rec_ref);
  napi_create_reference(env, argv[1], 1, &e->text_ref);
  free(e->deferred);
  e->deferred = malloc(sizeof(int32_t) * e->rec_cap);
  e->ndeferred = 0;
  if (e->deferred == NULL) return p_throw(env, "probeInit: out of memory");
  return p_int(env, 0);
}

static napi_value js_probe_prepare(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6], out;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 6) return p_throw(env, "probePrepare: 6 arguments");
  char addr[INET6_ADDRSTRLEN + 1];
  size_t alen = 0;
  int32_t port, flags, max_body;
  if (napi_get_value_string_utf8(env, argv[0], addr, sizeof addr, &alen) != napi_ok || alen >= sizeof addr - 1 || napi_get_value_int32(env, argv[1], &port) != napi_ok ||
      napi_get_value_int32(env, argv[2], &flags) != napi_ok || napi_get_value_int32(env, argv[3], &max_body) != napi_ok ||
      port < 1 || port > 65535 || max_body < 0)
    return p_throw(env, "probePrepare: (address, port 1..65535, flags, maxBody >= 0, bodyStatuses, request)");
  void *okmap = NULL, *req = NULL;
  size_t oklen = 0, reqlen = 0;
  if (!p_bytes(env, argv[4], &okmap, &oklen) || oklen < 125) return p_throw(env, "probePrepare: bodyStatuses must be a Uint8Array of 125 bytes");
  if (!p_bytes(env, argv[5], &req, &reqlen) || reqlen > 1 << 20) return p_throw(env, "probePrepare: request must be a Uint8Array of at most 1 MiB");
  prepared_t pr;
  memset(&pr, 0, sizeof pr);
  struct sockaddr_in *s4 = (struct sockaddr_in *)&pr.sa;
  if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    pr.salen = sizeof *s4;
  } else if (inet_pton(AF_INET6, addr, &pr.sa.sin6_addr) == 1) {
    pr.sa.sin6_family = AF_INET6;
    pr.sa.sin6_port = htons((uint16_t)port);
    pr.salen = sizeof pr.sa;
  } else {
    napi_get_null(env, &out);
    return out;
  }
  pr.magic = PREP_MAGIC;
  pr.flags = (uint32_t)flags;
  pr.max_body = (uint32_t)max_body;
  pr.req_len = (uint32_t)reqlen;
  memcpy(pr.body_ok, okmap, 125);
  void *data;
  if (napi_create_buffer(env, sizeof pr + reqlen, &data, &out) != napi_ok) return p_throw(env, "probePrepare: cannot allocate");
  memcpy(data, &pr, sizeof pr);
  if (reqlen > 0) memcpy((uint8_t *)data + sizeof pr, req, reqlen);
  return out;
}

static int32_t new_slot(engine_t *e) {
  if (e->free_head >= 0) {
    int32_t s = e->free_head;
    e->free_head = e->slots[s]->next_free;
    return s;
  }
  if (e->nslots >= MAX_SLOTS) return -1;
  int32_t n = e->nslots == 0 ? 256 : e->nslots * 2;
  if (n > MAX_SLOTS) n = MAX_SLOTS;
  probe_t **s = realloc(e->slots, sizeof *s * (size_t)n);
  if (s == NULL) return -1;
  e->slots = s;
  for (int32_t i = e->nslots; i < n; i++) {
    probe_t *p = calloc(1, sizeof *p);
    if (p == NULL) {
      n = i;
      break;
    }
    p->fd = -1;
    s[i] = p;
  }
  if (n == e->nslots) return -1;
  /* push all but the first new slot on the free list, lowest first out */
  for (int32_t i = n - 1; i > e->nslots; i--) {
    s[i]->next_free = e->free_head;
    e->free_head = i;
  }
  int32_t first = e->nslots;
  e->nslots = n;
  return first;
}

static napi_value js_probe_start(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  engine_t *e = E;
  if (e == NULL || e->env != env) return p_throw(env, "probeStart: probeInit first");
  void *data;
  size_t len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || !p_bytes(env, argv[0], &data, &len) || len < sizeof(prepared_t))
    return p_throw(env, "probeStart: a Buffer from probePrepare");
  prepared_t pr;
  memcpy(&pr, data, sizeof pr);
  if (pr.magic != PREP_MAGIC || len != sizeof pr + pr.req_len || (pr.salen != sizeof(struct sockaddr_in) && pr.salen != sizeof(struct sockaddr_in6)))
    return p_throw(env, "probeStart: a Buffer from probePrepare");
  int fd = socket(pr.sa.sin6_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return p_int(env, -errno);
  if (pr.flags & PF_RESET) {
    /* SO_LINGER 0: close() sends a RST (no TIME_WAIT on either side), as HAProxy's checks end. */
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  if (connect(fd, (struct sockaddr *)&pr.sa, pr.salen) < 0 && errno != EINPROGRESS) {
    int err = errno;
    close(fd);
    return p_int(env, -err);
  }
  int32_t slot = new_slot(e);
  if (slot < 0) {
    close(fd);
    return p_int(env, -ENOMEM);
  }
  probe_t *p = e->slots[slot];
  p->gen = (uint16_t)((p->gen + 1) & 0x7fff);
  p->fd = fd;
  p->state = S_CONNECTING;
  p->phase = P_HEAD;
  p->level = false;
  p->flags = pr.flags;
  p->max_body = pr.max_body;
  memcpy(p->body_ok, pr.body_ok, sizeof p->body_ok);
  p->head_len = 0;
  p->status = 0;
  p->bytes = 0;
  p->remaining = 0;
  p->line_len = 0;
  p->has_loc = false;
  p->req_off = 0;
  if (p->req_cap < pr.req_len || p->req == NULL) {
    free(p->req);
    p->req_cap = pr.req_len > 512 ? pr.req_len : 512;
    p->req = malloc(p->req_cap);
  }
  p->req_len = pr.req_len;
  if (p->req == NULL) {
    p->req_len = p->req_cap = 0;
    close(fd);
    p->fd = -1;
    slot_free(e, slot);
    return p_int(env, -ENOMEM);
  }
  memcpy(p->req, (uint8_t *)data + sizeof pr, pr.req_len);
  struct epoll_event ee;
  ee.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ee.data.u64 = ((uint64_t)p->gen << 32) | (uint32_t)slot;
  if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ee) < 0) {
    int err = errno;
    close(fd);
    p->fd = -1;
    slot_free(e, slot);
    return p_int(env, -err);
  }
  e->active++;
  update_ref(e);
  return p_int(env, probe_id(slot, p));
}

static napi_value js_probe_cancel(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t id;
  engine_t *e = E;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_get_value_int32(env, argv[0], &id) != napi_ok)
    return p_throw(env, "probeCancel: an id");
  if (e == NULL || e->env != env || id < 0) return NULL;
  int32_t slot = id & 0xffff;
  if (slot >= e->nslots) return NULL;
  probe_t *p = e->slots[slot];
  if (probe_id(slot, p) != id || (p->state != S_CONNECTING && p->state != S_OPEN)) return NULL;
  probe_release_fd(e, p);
  slot_free(e, slot);
  update_ref(e);
  return NULL;
}

static napi_value js_probe_active(napi_env env, napi_callback_info info) {
  (void)info;
  return p_int(env, E != NULL && E->env == env ? E->active : 0);
}

/* Called once from lvskit_native.c's module init. */
void lvskit_probe_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"probeInit", NULL, js_probe_init, NULL, NULL, NULL, napi_enumerable, NULL},
      {"probePrepare", NULL, js_probe_prepare, NULL, NULL, NULL, napi_enumerable, NULL},
      {"probeStart", NULL, js_probe_start, NULL, NULL, NULL, napi_enumerable, NULL},
      {"probeCancel", NULL, js_probe_cancel, NULL, NULL, NULL, napi_enumerable, NULL},
      {"probeActive", NULL, js_probe_active, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
