/*
 * The load driver in C for the closed-loop levels (full flows, transaction_id answers, PIN+OTP, wrong PINs),
 * with its SMTP sink (flow-driver.ts builds and runs it; where there is no C compiler the benchmark drives
 * them from Node.js as before, scenarios.ts's fullFlow and driveRequests). In the transaction_id levels the
 * Node.js driver spent 0.04-0.05 ms an answer, a fifth of a core at 5,900 answers/s beside an event loop
 * that has one; in the KDF-bound ones 0.4-0.7 ms a request, taken from the KDF.
 *
 * Why C: on a 2-core machine the driver's CPU is taken from the server's KDF, whose rate is the bound
 * the full flows are held against. The Node.js driver and sink spent 0.6-0.9 ms of CPU per flow, 0.41-0.58
 * of it in user space (V8, libuv and the driver's JavaScript, each wake-up starting from caches Argon2id
 * had just filled); the system calls and loopback TCP both drivers make are the same.
 *
 * One full flow, as scenarios.ts's fullFlow: POST /validate/check user + PIN, which must answer
 * CHALLENGE with a transaction_id; wait for that user's mail at this sink and read the code from it;
 * POST /validate/check user + transaction_id + code, which must answer ACCEPT. Anything else, or no mail
 * within MAIL_TIMEOUT_MS, is an error, and only successful flows count.
 *
 * Usage: flow-driver [HTTP_HOST HTTP_PORT]. It listens for SMTP on 127.0.0.1, an ephemeral port, prints
 * "ready SMTP_PORT", then reads commands from stdin, one per line:
 *   target HTTP_HOST HTTP_PORT   the server the next runs go to (for a server that needs the sink's port first)
 *   run CONCURRENCY DURATION_MS PIN USER[,USER...]
 *     CONCURRENCY workers, each with its own keep-alive connection, run flows back to back until
 *     DURATION_MS have passed; worker w takes users w, w+c, w+2c, ... (bench/scenarios.ts userPicker), so
 *     no user has two flows in flight. Mails go to USER@bench.test. Prints one line of JSON: completed,
 *     errors, elapsedMs, cpuMs (this process's, during the run), mails received, and the latencies in ms
 *     of each successful flow: flow (whole), pin (PIN-only request), mail (PIN request sent -> mail
 *     received), answer (the answer request).
 *   requests CONCURRENCY DURATION_MS EXPECT ONCE|CYCLE FILE
 *     single requests (scenarios.ts's transaction_id answers, PIN+OTP in one pass and wrong PINs): FILE
 *     holds one form body a line for POST /validate/check (letters, digits and . _ - = & % only), and each
 *     answer must be HTTP 200 with "authentication":"EXPECT" (ACCEPT, REJECT, ...) to count. ONCE: each
 *     body is sent once, taken from the end of the file (a pool of challenges made beforehand, as the
 *     Node.js driver's pool.pop()); the level ends early, marked "exhausted", when they run out. CYCLE:
 *     worker w sends bodies w, w+c, w+2c, ... round and round (userPicker's order). CONCURRENCY workers,
 *     each with its own keep-alive connection, send back to back until DURATION_MS have passed. Prints one
 *     line of JSON as run does, with "exhausted" and each successful request's latency as "flow".
 *   users USER[,USER...]   sets the users whose mail the sink keeps (run sets them too)
 *   peek USER              prints {"mails": received in all, "codes": [codes queued for USER]} (for tests)
 *   quit (or the end of stdin): exits.
 * The sink keeps accepting mail between runs. It speaks what the server uses of SMTP: EHLO/HELO, MAIL,
 * RCPT, DATA, BDAT (CHUNKING), RSET, NOOP, QUIT, with PIPELINING; no TLS, no AUTH (bench/smtp-sink.ts is
 * its Node.js twin).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_WORKERS 1024
#define MAX_USERS 100000
#define MAX_MAILS_QUEUED 4
#define MAIL_TIMEOUT_MS 10000.0
#define REQUEST_TIMEOUT_MS 30000.0
#define MAX_SMTP 256
#define MAX_MESSAGE (1 << 20)

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

/* A growable byte buffer. */
typedef struct {
  char *data;
  size_t len, cap;
} buf_t;

static void buf_reserve(buf_t *b, size_t more) {
  if (b->len + more + 1 <= b->cap) return;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + more + 1) cap *= 2;
  b->data = realloc(b->data, cap);
  if (!b->data) die("realloc");
  b->cap = cap;
}

static void buf_add(buf_t *b, const char *data, size_t len) {
  buf_reserve(b, len);
  memcpy(b->data + b->len, data, len);
  b->len += len;
  b->data[b->len] = 0;
}

static void buf_str(buf_t *b, const char *text) {
  buf_add(b, text, strlen(text));
}

static void buf_drop_front(buf_t *b, size_t n) {
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
  if (b->data) b->data[b->len] = 0;
}

/* Reads all a non-blocking fd has into b: 1 while it stays open, 0 once closed or failed. */
static int read_available(int fd, buf_t *b) {
  for (;;) {
    buf_reserve(b, 16384);
    ssize_t n = read(fd, b->data + b->len, b->cap - b->len - 1);
    if (n > 0) {
      b->len += (size_t)n;
      b->data[b->len] = 0;
      continue;
    }
    return n < 0 && errno == EAGAIN;
  }
}

/* A growable list of latencies. */
typedef struct {
  double *v;
  size_t len, cap;
} list_t;

static void list_add(list_t *l, double x) {
  if (l->len == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 1024;
    l->v = realloc(l->v, l->cap * sizeof(double));
    if (!l->v) die("realloc");
  }
  l->v[l->len++] = x;
}

/* ---- users and their mail ---- */

typedef struct {
  char name[64];
  char codes[MAX_MAILS_QUEUED][16];
  double received_at[MAX_MAILS_QUEUED];
  int queued;
  int waiting_worker; /* -1: nobody waits for this user's mail */
} user_t;

static user_t *users;
static int user_count;
static long mails_received;

/* Users by name: an open-addressed hash of indexes into users, -1 for an empty slot. */
static int *user_hash;
static int user_hash_size;

static int user_index(const char *name, size_t len) {
  unsigned h = 2166136261u;
  for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)name[i]) * 16777619u;
  for (int probe = 0; probe < user_hash_size; probe++) {
    int slot = (int)((h + (unsigned)probe) % (unsigned)user_hash_size);
    int index = user_hash[slot];
    if (index < 0) return -1;
    if (strlen(users[index].name) == len && memcmp(users[index].name, name, len) == 0) return index;
  }
  return -1;
}

static void set_users(char *list) {
  free(users);
  free(user_hash);
  int n = 1;
  for (char *p = list; *p; p++) n += *p == ',';
  if (n > MAX_USERS) n = MAX_USERS;
  users = calloc((size_t)n, sizeof(user_t));
  user_hash_size = n * 2 + 1;
  user_hash = malloc((size_t)user_hash_size * sizeof(int));
  if (!users || !user_hash) die("calloc");
  for (int i = 0; i < user_hash_size; i++) user_hash[i] = -1;
  user_count = 0;
  for (char *save = NULL, *name = strtok_r(list, ",", &save); name && user_count < n; name = strtok_r(NULL, ",", &save)) {
    if (strlen(name) >= sizeof users[0].name) continue;
    user_t *u = &users[user_count];
    strcpy(u->name, name);
    u->waiting_worker = -1;
    unsigned h = 2166136261u;
    for (const char *c = name; *c; c++) h = (h ^ (unsigned char)*c) * 16777619u;
    for (int probe = 0;; probe++) {
      int slot = (int)((h + (unsigned)probe) % (unsigned)user_hash_size);
      if (user_hash[slot] < 0) {
        user_hash[slot] = user_count;
        break;
      }
    }
    user_count++;
  }
}

/* ---- single requests: form bodies read from a file ---- */

enum run_kind { RUN_FLOWS, RUN_ONCE, RUN_CYCLE };
static enum run_kind run_kind;
typedef struct {
  char text[256];
} body_t;
static body_t *bodies;
static long body_count;
static long bodies_left; /* RUN_ONCE: taken from the end */
static char expected[16]; /* the "authentication" a request must get */
static int pool_ran_out;

static int is_body_char(int c) {
  return isalnum(c) || c == '.' || c == '_' || c == '-' || c == '=' || c == '&' || c == '%';
}

/* Reads FILE into bodies: how many, or -1 (with the reason in error) when a line is empty, too long or not a plain form body. */
static long load_bodies(const char *path, char *error, size_t error_size) {
  FILE *file = fopen(path, "r");
  if (!file) {
    snprintf(error, error_size, "cannot open the requests file");
    return -1;
  }
  free(bodies);
  bodies = NULL;
  long count = 0, capacity = 0;
  char line[512];
  while (fgets(line, sizeof line, file)) {
    size_t len = strcspn(line, "\r\n");
    int ok = len > 0 && len < sizeof bodies[0].text;
    for (size_t i = 0; ok && i < len; i++) ok = is_body_char((unsigned char)line[i]);
    if (!ok) {
      snprintf(error, error_size, "line %ld is not a form body of letters, digits and . _ - = & %%", count + 1);
      fclose(file);
      return -1;
    }
    if (count == capacity) {
      capacity = capacity ? capacity * 2 : 4096;
      bodies = realloc(bodies, (size_t)capacity * sizeof(body_t));
      if (!bodies) die("realloc");
    }
    memcpy(bodies[count].text, line, len);
    bodies[count].text[len] = 0;
    count++;
  }
  fclose(file);
  return count;
}

/* ---- the code in a mail ---- */

static int b64_value(int c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

static int has_header_value(const char *headers, size_t len, const char *name, const char *value) {
  size_t name_len = strlen(name), value_len = strlen(value);
  for (size_t i = 0; i + name_len < len; i++) {
    if ((i == 0 || headers[i - 1] == '\n') && strncasecmp(headers + i, name, name_len) == 0) {
      size_t j = i + name_len;
      while (j < len && (headers[j] == ' ' || headers[j] == '\t')) j++;
      return j + value_len <= len && strncasecmp(headers + j, value, value_len) == 0;
    }
  }
  return 0;
}

static int is_word(int c) {
  return isalnum(c) || c == '_';
}

/* The first run of 4 to 10 digits in the body (base64 decoded, quoted-printable soft breaks undone), as smtp-sink.ts's codeIn. */
static int code_in(const char *message, size_t len, char *code, size_t code_size) {
  const char *split = memmem(message, len, "\r\n\r\n", 4);
  const char *headers = split ? message : "";
  size_t headers_len = split ? (size_t)(split - message) : 0;
  const char *body = split ? split + 4 : message;
  size_t body_len = len - (size_t)(body - message);
  char *text = malloc(body_len + 1);
  if (!text) die("malloc");
  size_t text_len = 0;
  if (has_header_value(headers, headers_len, "content-transfer-encoding:", "base64")) {
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < body_len; i++) {
      int v = b64_value((unsigned char)body[i]);
      if (v < 0) continue;
      acc = (acc << 6) | (unsigned)v;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        text[text_len++] = (char)((acc >> bits) & 0xff);
      }
    }
  } else {
    for (size_t i = 0; i < body_len; i++) {
      if (body[i] == '=' && i + 1 < body_len && body[i + 1] == '\n') { i += 1; continue; }
      if (body[i] == '=' && i + 2 < body_len && body[i + 1] == '\r' && body[i + 2] == '\n') { i += 2; continue; }
      text[text_len++] = body[i];
    }
  }
  int found = 0;
  for (size_t i = 0; i < text_len && !found; i++) {
    if (!isdigit((unsigned char)text[i]) || (i > 0 && is_word((unsigned char)text[i - 1]))) continue;
    size_t j = i;
    while (j < text_len && isdigit((unsigned char)text[j])) j++;
    size_t run = j - i;
    if (run >= 4 && run <= 10 && (j == text_len || !is_word((unsigned char)text[j])) && run < code_size) {
      memcpy(code, text + i, run);
      code[run] = 0;
      found = 1;
    }
    i = j;
  }
  free(text);
  return found;
}

/* ---- workers: one full flow at a time each ---- */

enum worker_state { W_IDLE, W_PIN, W_MAIL, W_ANSWER };

typedef struct {
  int fd;
  enum worker_state state;
  int user;
  unsigned long flows_started;
  double flow_start, pin_sent, answer_sent, mail_at;
  char transaction_id[32];
  buf_t in;
  buf_t out;
} worker_t;

static int epfd;
static char http_host[64] = "127.0.0.1";
static int http_port;
static char pin[64];
static worker_t workers[MAX_WORKERS];
static int concurrency;
static int running; /* a run is under way */
static double deadline;
static long completed, errors;
static list_t lat_flow, lat_pin, lat_mail, lat_answer;

/* epoll data: what an fd is. */
enum kind { K_STDIN = 1, K_LISTEN, K_SMTP, K_WORKER };
#define TAG(kind, index) (((uint64_t)(kind) << 32) | (uint32_t)(index))

static void worker_watch(worker_t *w, int index) {
  struct epoll_event ev = { .events = EPOLLIN | (w->out.len ? EPOLLOUT : 0), .data.u64 = TAG(K_WORKER, index) };
  if (epoll_ctl(epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0) die("epoll_ctl mod");
}

static int worker_connect(worker_t *w, int index) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)http_port) };
  inet_pton(AF_INET, http_host, &addr.sin_addr);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  w->fd = fd;
  w->in.len = 0;
  w->out.len = 0;
  struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG(K_WORKER, index) };
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl add");
  return 0;
}

static void worker_close(worker_t *w) {
  if (w->fd >= 0) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, w->fd, NULL);
    close(w->fd);
  }
  w->fd = -1;
}

static void worker_send(worker_t *w, int index, const char *body) {
  char request[1024];
  int n = snprintf(request, sizeof request,
                   "POST /validate/check HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %zu\r\n\r\n%s",
                   http_host, http_port, strlen(body), body);
  if (w->fd < 0 && worker_connect(w, index) < 0) {
    /* Could not connect: an error, and the main loop tries again (no recursion while the server is down). */
    errors++;
    w->state = W_IDLE;
    return;
  }
  w->in.len = 0;
  buf_add(&w->out, request, (size_t)n);
  ssize_t sent = write(w->fd, w->out.data, w->out.len);
  if (sent > 0) buf_drop_front(&w->out, (size_t)sent);
  if (w->out.len) worker_watch(w, index);
}

static void start_next(int index);

/* scenarios.ts's userPicker: worker `index` of `concurrency` takes items index, index+c, index+2c, ... of
 * `count`, within its slots, turn after turn, so no item is in two workers' hands while there are enough. */
static long picked(int index, long count, unsigned long turn) {
  long slots = count / concurrency > 0 ? count / concurrency : 1;
  return (index % count + (long)concurrency * (long)(turn % (unsigned long)slots)) % count;
}

/* A flow (or a single request) that failed: counted, its connection renewed (it may be out of step), and the next begun. */
static void flow_failed(int index) {
  worker_t *w = &workers[index];
  errors++;
  if (w->user >= 0 && users[w->user].waiting_worker == index) users[w->user].waiting_worker = -1;
  worker_close(w);
  w->state = W_IDLE;
  start_next(index);
}

static void start_flow(int index) {
  worker_t *w = &workers[index];
  w->state = W_IDLE;
  if (!running || now_ms() >= deadline) return;
  w->user = (int)picked(index, user_count, w->flows_started++);
  char body[256];
  snprintf(body, sizeof body, "user=%s&pass=%s", users[w->user].name, pin);
  w->flow_start = now_ms();
  w->pin_sent = w->flow_start;
  w->state = W_PIN;
  worker_send(w, index, body);
}

/* The next request of a requests run, if there is time (and, sending each once, a body left). */
static void start_request(int index) {
  worker_t *w = &workers[index];
  w->state = W_IDLE;
  w->user = -1;
  if (!running || now_ms() >= deadline) return;
  const char *body;
  if (run_kind == RUN_ONCE) {
    if (bodies_left == 0) {
      pool_ran_out = 1;
      return;
    }
    body = bodies[--bodies_left].text;
  } else {
    body = bodies[picked(index, body_count, w->flows_started++)].text;
  }
  w->flow_start = w->answer_sent = now_ms();
  w->state = W_ANSWER;
  worker_send(w, index, body);
}

static void start_next(int index) {
  if (run_kind == RUN_FLOWS) start_flow(index);
  else start_request(index);
}

static void send_answer(int index) {
  worker_t *w = &workers[index];
  user_t *u = &users[w->user];
  char code[16];
  strcpy(code, u->codes[0]);
  w->mail_at = u->received_at[0];
  memmove(&u->codes[0], &u->codes[1], sizeof u->codes[0] * (MAX_MAILS_QUEUED - 1));
  memmove(&u->received_at[0], &u->received_at[1], sizeof u->received_at[0] * (MAX_MAILS_QUEUED - 1));
  u->queued--;
  char body[256];
  snprintf(body, sizeof body, "user=%s&transaction_id=%s&pass=%s", u->name, w->transaction_id, code);
  w->answer_sent = now_ms();
  w->state = W_ANSWER;
  worker_send(w, index, body);
}

/* The JSON string value of "key":"..." in body, or 0. */
static int json_string(const char *body, const char *key, char *out, size_t out_size) {
  char pattern[64];
  snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
  const char *at = strstr(body, pattern);
  if (!at) return 0;
  at += strlen(pattern);
  const char *end = strchr(at, '"');
  if (!end || (size_t)(end - at) >= out_size) return 0;
  memcpy(out, at, (size_t)(end - at));
  out[end - at] = 0;
  return 1;
}

/* A complete response in w->in: its status and body, or 0 while incomplete; -1 when it cannot be framed. */
static int take_response(worker_t *w, int *status, char **body) {
  char *head_end = strstr(w->in.data, "\r\n\r\n");
  if (!head_end) return 0;
  if (w->in.len < 12) return -1;
  *status = atoi(w->in.data + 9);
  long length = -1;
  for (char *line = strstr(w->in.data, "\r\n"); line && line < head_end; line = strstr(line + 2, "\r\n")) {
    if (strncasecmp(line + 2, "content-length:", 15) == 0) length = strtol(line + 17, NULL, 10);
  }
  if (length < 0) return -1; /* fastify frames its JSON with Content-Length; anything else is an error here */
  size_t start = (size_t)(head_end + 4 - w->in.data);
  if (w->in.len < start + (size_t)length) return 0;
  *body = w->in.data + start;
  (*body)[length] = 0;
  return 1;
}

/* The answer to a worker's request: 0 while incomplete, else 1 (the flow went on, or failed). */
static int on_response(int index) {
  worker_t *w = &workers[index];
  int status;
  char *body;
  int framed = take_response(w, &status, &body);
  if (framed == 0) return 0;
  if (framed < 0 || status != 200) { flow_failed(index); return 1; }
  char authentication[32];
  if (!json_string(body, "authentication", authentication, sizeof authentication)) { flow_failed(index); return 1; }
  double now = now_ms();
  if (w->state == W_PIN) {
    if (strcmp(authentication, "CHALLENGE") != 0 || !json_string(body, "transaction_id", w->transaction_id, sizeof w->transaction_id)) {
      flow_failed(index);
      return 1;
    }
    list_add(&lat_pin, now - w->pin_sent);
    w->in.len = 0;
    user_t *u = &users[w->user];
    if (u->queued > 0) send_answer(index);
    else {
      w->state = W_MAIL;
      u->waiting_worker = index;
    }
  } else if (w->state == W_ANSWER) {
    if (strcmp(authentication, run_kind == RUN_FLOWS ? "ACCEPT" : expected) != 0) { flow_failed(index); return 1; }
    list_add(&lat_flow, now - w->flow_start);
    if (run_kind == RUN_FLOWS) {
      list_add(&lat_answer, now - w->answer_sent);
      list_add(&lat_mail, w->mail_at - w->pin_sent);
    }
    completed++;
    w->in.len = 0;
    start_next(index);
  } else {
    flow_failed(index); /* bytes nobody asked for */
  }
  return 1;
}

static void on_worker_event(int index, uint32_t events) {
  worker_t *w = &workers[index];
  if (w->fd < 0) return;
  if (events & EPOLLOUT && w->out.len) {
    ssize_t sent = write(w->fd, w->out.data, w->out.len);
    if (sent > 0) buf_drop_front(&w->out, (size_t)sent);
    else if (sent < 0 && errno != EAGAIN) { flow_failed(index); return; }
    worker_watch(w, index);
  }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
    const int is_open = read_available(w->fd, &w->in);
    if (!is_open) worker_close(w); /* the next request connects again */
    if (w->state == W_PIN || w->state == W_ANSWER) {
      if (!on_response(index) && !is_open) flow_failed(index); /* closed before its answer was whole */
    } else if (w->in.len) flow_failed(index); /* bytes nobody asked for */
  }
}

/* ---- the SMTP sink ---- */

typedef struct {
  int fd;
  buf_t in, message;
  int in_data;
  long chunk_remaining; /* -1 outside a BDAT chunk */
  int last_chunk, has_sender;
  char recipients[8][128];
  int recipient_count;
} smtp_t;

static smtp_t smtp[MAX_SMTP];

static void smtp_close(int index) {
  smtp_t *s = &smtp[index];
  epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, NULL);
  close(s->fd);
  s->fd = -1;
}

static void smtp_reply(smtp_t *s, const char *text) {
  size_t len = strlen(text), done = 0;
  for (int waits = 0; done < len;) {
    ssize_t n = write(s->fd, text + done, len - done);
    if (n > 0) done += (size_t)n;
    else if (n < 0 && errno == EAGAIN && waits++ < 1000) {
      /* Replies are a few lines; a full socket buffer means the peer stopped reading: wait up to 1 s. */
      struct timespec pause = { 0, 1000000 };
      nanosleep(&pause, NULL);
    } else return;
  }
}

/* A whole message: each recipient's code, queued for the user, and any worker waiting for it woken. */
static void smtp_accept_message(smtp_t *s) {
  char code[16];
  double at = now_ms();
  mails_received++;
  int has_code = code_in(s->message.data ? s->message.data : "", s->message.len, code, sizeof code);
  for (int r = 0; r < s->recipient_count; r++) {
    const char *address = s->recipients[r];
    const char *at_sign = strchr(address, '@');
    int index = user_index(address, at_sign ? (size_t)(at_sign - address) : strlen(address));
    if (index < 0) continue;
    user_t *u = &users[index];
    if (u->queued == MAX_MAILS_QUEUED) {
      memmove(&u->codes[0], &u->codes[1], sizeof u->codes[0] * (MAX_MAILS_QUEUED - 1));
      memmove(&u->received_at[0], &u->received_at[1], sizeof u->received_at[0] * (MAX_MAILS_QUEUED - 1));
      u->queued--;
    }
    strcpy(u->codes[u->queued], has_code ? code : "");
    u->received_at[u->queued] = at;
    u->queued++;
    int waiting = u->waiting_worker;
    if (waiting >= 0 && workers[waiting].state == W_MAIL && workers[waiting].user == index) {
      u->waiting_worker = -1;
      send_answer(waiting);
    }
  }
  s->recipient_count = 0;
  s->has_sender = 0;
  s->message.len = 0;
}

static void smtp_command(smtp_t *s, char *line, buf_t *replies) {
  if (strncasecmp(line, "EHLO", 4) == 0) buf_str(replies, "250-sink\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-8BITMIME\r\n250 SIZE 10485760\r\n");
  else if (strncasecmp(line, "HELO", 4) == 0) buf_str(replies, "250 sink\r\n");
  else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
    s->has_sender = 1;
    s->recipient_count = 0;
    buf_str(replies, "250 OK\r\n");
  } else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
    if (!s->has_sender) { buf_str(replies, "503 need MAIL\r\n"); return; }
    char *start = strchr(line, '<');
    char *end = start ? strchr(start, '>') : NULL;
    if (start && end && end - start - 1 < 128 && s->recipient_count < 8) {
      memcpy(s->recipients[s->recipient_count], start + 1, (size_t)(end - start - 1));
      s->recipients[s->recipient_count][end - start - 1] = 0;
      s->recipient_count++;
    }
    buf_str(replies, "250 OK\r\n");
  } else if (strncasecmp(line, "DATA", 4) == 0) {
    if (!s->has_sender || s->recipient_count == 0) { buf_str(replies, "503 need MAIL and RCPT\r\n"); return; }
    s->in_data = 1;
    s->message.len = 0;
    buf_str(&s->message, "\r\n"); /* so that an empty message ends at its first byte like any other */
    buf_str(replies, "354 go ahead\r\n");
  } else if (strncasecmp(line, "BDAT ", 5) == 0) {
    char *after;
    long size = strtol(line + 5, &after, 10);
    if (size < 0 || size > MAX_MESSAGE) { buf_str(replies, "552 too big\r\n"); return; }
    while (*after == ' ') after++;
    s->last_chunk = strncasecmp(after, "LAST", 4) == 0;
    s->chunk_remaining = size;
  } else if (strncasecmp(line, "RSET", 4) == 0) {
    s->has_sender = 0;
    s->recipient_count = 0;
    s->message.len = 0;
    buf_str(replies, "250 OK\r\n");
  } else if (strncasecmp(line, "NOOP", 4) == 0) buf_str(replies, "250 OK\r\n");
  else if (strncasecmp(line, "QUIT", 4) == 0) buf_str(replies, "221 bye\r\n");
  else buf_str(replies, "502 unknown command\r\n");
}

static void on_smtp_event(int index) {
  smtp_t *s = &smtp[index];
  if (!read_available(s->fd, &s->in)) {
    smtp_close(index);
    return;
  }
  buf_t replies = { 0 };
  int quit = 0;
  for (;;) {
    if (s->chunk_remaining >= 0) {
      size_t take = s->in.len < (size_t)s->chunk_remaining ? s->in.len : (size_t)s->chunk_remaining;
      buf_add(&s->message, s->in.data, take);
      buf_drop_front(&s->in, take);
      s->chunk_remaining -= (long)take;
      if (s->chunk_remaining > 0) break;
      s->chunk_remaining = -1;
      if (!s->has_sender || s->recipient_count == 0) {
        s->message.len = 0;
        buf_str(&replies, "503 need MAIL and RCPT\r\n");
      } else if (s->last_chunk) {
        smtp_accept_message(s);
        buf_str(&replies, "250 OK queued\r\n");
      } else buf_str(&replies, "250 chunk OK\r\n");
      continue;
    }
    if (s->in_data) {
      /* The message so far with what came: its end is CRLF.CRLF, the CRLF before it the message's own. */
      size_t before = s->message.len;
      buf_add(&s->message, s->in.data, s->in.len);
      size_t from = before >= 4 ? before - 4 : 0;
      char *end = memmem(s->message.data + from, s->message.len - from, "\r\n.\r\n", 5);
      if (!end) {
        s->in.len = 0;
        break;
      }
      size_t message_end = (size_t)(end - s->message.data);
      size_t consumed = message_end + 5 - before;
      buf_drop_front(&s->in, consumed);
      s->message.len = message_end;
      buf_drop_front(&s->message, 2); /* the CRLF DATA put first */
      s->in_data = 0;
      smtp_accept_message(s);
      buf_str(&replies, "250 OK queued\r\n");
      continue;
    }
    char *eol = strstr(s->in.data ? s->in.data : "", "\r\n");
    if (!eol) break;
    *eol = 0;
    char line[1024];
    snprintf(line, sizeof line, "%s", s->in.data);
    buf_drop_front(&s->in, (size_t)(eol - s->in.data) + 2);
    smtp_command(s, line, &replies);
    if (strncasecmp(line, "QUIT", 4) == 0) {
      quit = 1;
      break;
    }
  }
  if (replies.len) smtp_reply(s, replies.data);
  free(replies.data);
  if (quit) smtp_close(index);
}

static void on_listen(int listen_fd) {
  for (;;) {
    int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    int index = -1;
    for (int i = 0; i < MAX_SMTP; i++)
      if (smtp[i].fd < 0) { index = i; break; }
    if (index < 0) { close(fd); continue; }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    smtp_t *s = &smtp[index];
    s->fd = fd;
    s->in.len = 0;
    s->message.len = 0;
    s->in_data = 0;
    s->chunk_remaining = -1;
    s->has_sender = 0;
    s->recipient_count = 0;
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG(K_SMTP, index) };
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl smtp");
    smtp_reply(s, "220 sink ESMTP\r\n");
  }
}

/* ---- runs ---- */

static void set_target(const char *host, const char *port) {
  snprintf(http_host, sizeof http_host, "%s", host);
  http_port = atoi(port);
}

static double cpu_ms(void) {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return (double)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e3 + (double)(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e3;
}

static double run_started, run_cpu_started;
static long run_mails_started;

static void print_list(const char *name, const list_t *l) {
  printf(",\"%s\":[", name);
  for (size_t i = 0; i < l->len; i++) printf(i ? ",%.3f" : "%.3f", l->v[i]);
  printf("]");
}

static void finish_run(void) {
  running = 0;
  for (int i = 0; i < concurrency; i++) worker_close(&workers[i]);
  printf("{\"completed\":%ld,\"errors\":%ld,\"elapsedMs\":%.3f,\"cpuMs\":%.3f,\"mails\":%ld,\"exhausted\":%d", completed, errors,
         now_ms() - run_started, cpu_ms() - run_cpu_started, mails_received - run_mails_started, pool_ran_out);
  print_list("flow", &lat_flow);
  print_list("pin", &lat_pin);
  print_list("mail", &lat_mail);
  print_list("answer", &lat_answer);
  printf("}\n");
  fflush(stdout);
}

static void begin_run(enum run_kind kind, int workers_wanted, double duration_ms) {
  run_kind = kind;
  concurrency = workers_wanted;
  completed = errors = 0;
  pool_ran_out = 0;
  lat_flow.len = lat_pin.len = lat_mail.len = lat_answer.len = 0;
  run_started = now_ms();
  run_cpu_started = cpu_ms();
  run_mails_started = mails_received;
  deadline = run_started + duration_ms;
  running = 1;
  for (int i = 0; i < concurrency; i++) {
    workers[i].fd = -1;
    workers[i].flows_started = 0;
    workers[i].user = -1;
    workers[i].state = W_IDLE;
  }
  for (int i = 0; i < concurrency; i++) start_next(i);
}

static void start_run(char *args) {
  char *save = NULL;
  char *c = strtok_r(args, " ", &save), *duration = strtok_r(NULL, " ", &save), *p = strtok_r(NULL, " ", &save), *list = strtok_r(NULL, " ", &save);
  if (!c || !duration || !p || !list || http_port <= 0 || atoi(c) < 1 || atoi(c) > MAX_WORKERS || strlen(p) >= sizeof pin) {
    printf("{\"error\":\"usage: run CONCURRENCY DURATION_MS PIN USER[,USER...], after a target\"}\n");
    fflush(stdout);
    return;
  }
  set_users(list);
  if (user_count == 0) {
    printf("{\"error\":\"no users\"}\n");
    fflush(stdout);
    return;
  }
  strcpy(pin, p);
  begin_run(RUN_FLOWS, atoi(c), atof(duration));
}

static void start_requests(char *args) {
  char *save = NULL;
  char *c = strtok_r(args, " ", &save), *duration = strtok_r(NULL, " ", &save), *expect = strtok_r(NULL, " ", &save),
       *mode = strtok_r(NULL, " ", &save), *path = strtok_r(NULL, "", &save);
  int is_once = mode && strcmp(mode, "ONCE") == 0, is_cycle = mode && strcmp(mode, "CYCLE") == 0;
  if (!c || !duration || !expect || !path || strlen(expect) >= sizeof expected || !(is_once || is_cycle) || http_port <= 0 || atoi(c) < 1 ||
      atoi(c) > MAX_WORKERS) {
    printf("{\"error\":\"usage: requests CONCURRENCY DURATION_MS EXPECT ONCE|CYCLE FILE, after a target\"}\n");
    fflush(stdout);
    return;
  }
  char error[128];
  long count = load_bodies(path, error, sizeof error);
  if (count < 0 || (is_cycle && count == 0)) {
    printf("{\"error\":\"%s\"}\n", count < 0 ? error : "no requests to cycle through");
    fflush(stdout);
    return;
  }
  strcpy(expected, expect);
  body_count = bodies_left = count;
  begin_run(is_once ? RUN_ONCE : RUN_CYCLE, atoi(c), atof(duration));
}

/* The codes queued for one user, as JSON: what the sink read from that user's mails and no flow took yet. */
static void peek(const char *name) {
  int index = users ? user_index(name, strlen(name)) : -1;
  printf("{\"mails\":%ld,\"codes\":[", mails_received);
  for (int i = 0; index >= 0 && i < users[index].queued; i++) printf(i ? ",\"%s\"" : "\"%s\"", users[index].codes[i]);
  printf("]}\n");
  fflush(stdout);
}

static int all_idle(void) {
  for (int i = 0; i < concurrency; i++)
    if (workers[i].state != W_IDLE) return 0;
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 1 && argc != 3) {
    fprintf(stderr, "usage: %s [HTTP_HOST HTTP_PORT]\n", argv[0]);
    return 2;
  }
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGPIPE, SIG_IGN);
  if (argc == 3) set_target(argv[1], argv[2]);
  for (int i = 0; i < MAX_SMTP; i++) smtp[i].fd = -1;
  for (int i = 0; i < MAX_WORKERS; i++) workers[i].fd = -1;

  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) die("epoll_create1");
  int listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = 0 };
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listen_fd, 128) < 0) die("smtp listen");
  socklen_t addr_len = sizeof addr;
  getsockname(listen_fd, (struct sockaddr *)&addr, &addr_len);
  struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG(K_LISTEN, 0) };
  epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &ev);
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
  ev.data.u64 = TAG(K_STDIN, 0);
  epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &ev);
  printf("ready %d\n", ntohs(addr.sin_port));
  fflush(stdout);

  buf_t commands = { 0 };
  struct epoll_event events[64];
  for (;;) {
    int n = epoll_wait(epfd, events, 64, running ? 100 : 1000);
    for (int i = 0; i < n; i++) {
      int kind = (int)(events[i].data.u64 >> 32), index = (int)(uint32_t)events[i].data.u64;
      if (kind == K_WORKER) on_worker_event(index, events[i].events);
      else if (kind == K_SMTP && smtp[index].fd >= 0) on_smtp_event(index);
      else if (kind == K_LISTEN) on_listen(listen_fd);
      else if (kind == K_STDIN) {
        char chunk[65536];
        ssize_t got;
        while ((got = read(0, chunk, sizeof chunk)) > 0) buf_add(&commands, chunk, (size_t)got);
        if (got == 0) return 0;
        char *eol;
        while (commands.len && (eol = memchr(commands.data, '\n', commands.len))) {
          *eol = 0;
          if (strncmp(commands.data, "run ", 4) == 0 && !running) start_run(commands.data + 4);
          else if (strncmp(commands.data, "requests ", 9) == 0 && !running) start_requests(commands.data + 9);
          else if (strncmp(commands.data, "users ", 6) == 0 && !running) set_users(commands.data + 6);
          else if (strncmp(commands.data, "target ", 7) == 0 && !running) {
            char host[64], port[16];
            if (sscanf(commands.data + 7, "%63s %15s", host, port) == 2) set_target(host, port);
          }
          else if (strncmp(commands.data, "peek ", 5) == 0) peek(commands.data + 5);
          else if (strcmp(commands.data, "quit") == 0) return 0;
          buf_drop_front(&commands, (size_t)(eol - commands.data) + 1);
        }
      }
    }
    if (running) {
      double now = now_ms();
      for (int w = 0; w < concurrency; w++) {
        worker_t *worker = &workers[w];
        if (worker->state == W_MAIL && now - worker->pin_sent > MAIL_TIMEOUT_MS) flow_failed(w);
        else if (worker->state == W_PIN && now - worker->pin_sent > REQUEST_TIMEOUT_MS) flow_failed(w);
        else if (worker->state == W_ANSWER && now - worker->answer_sent > REQUEST_TIMEOUT_MS) flow_failed(w);
        else if (worker->state == W_IDLE && now < deadline && !pool_ran_out) start_next(w); /* its last connect failed */
      }
      if ((now >= deadline || pool_ran_out) && all_idle()) finish_run();
    }
  }
}
