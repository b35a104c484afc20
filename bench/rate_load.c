/* rate_load: a fixed-rate HTTP/1.1 load generator that measures latency
 * without coordinated omission (what wrk2 does; Debian has no wrk2).
 * Used by scripts/bench for "p99 at 10,000 req/s". It is a tool, not a
 * microbenchmark: scripts/bench does not run it bare.
 *
 *   bench_rate_load --port P [--host 127.0.0.1] --path /x [--header 'K: V']...
 *                   [--rate 10000] [--duration 10] [--warmup 1] [--connections 64]
 *                   [--vary N] [--lines FILE]
 *
 * --vary N: the path holds "{}", replaced in request i by
 * (i * 2654435761) mod N (Knuth's multiplicative hash: consecutive requests
 * spread over all N values), e.g. /v1/recommendations?user_id=c{} to ask
 * for N different shoppers.
 * --lines FILE: the path holds "{q}", replaced in request i by line
 * (i * 40503) mod L of FILE (L lines, already URL-encoded; at most
 * LINES_MAX), e.g. /v1/search?q={q} with a file of queries. Both holes may
 * be used together.
 *
 * Algorithm: request i is due at t0 + i / rate (t0 = after all connections
 * are open). Due requests enter a FIFO of intended start times; each idle
 * keep-alive connection takes the oldest one and writes the request (one
 * request in flight per connection, no pipelining). Latency = time the whole
 * response has been read - intended start time, so a stalled server or a
 * shortage of idle connections shows up in the latency instead of silently
 * lowering the offered rate. One thread, epoll (level-triggered), timeouts
 * with nanosecond resolution through epoll_pwait2.
 *
 * Responses: status line, headers until CRLF CRLF (at most RBUF_MAX bytes),
 * Content-Length body (chunked encoding is counted as an error; the servers
 * measured here send Content-Length). "Connection: close" (or an HTTP/1.0
 * answer without keep-alive) or any error closes the connection and a new
 * one is opened.
 *
 * Bounds: at most LAT_MAX recorded samples and PENDING_MAX queued requests
 * (overflow stops the run with an error); the run ends at warmup + duration
 * + DRAIN_S seconds whatever happens; a request older than REQ_TIMEOUT_S is
 * counted as a timeout and its connection reopened.
 *
 * Output: one line on stdout,
 *   RESULT rate=R duration=S connections=C sent=N completed=N errors=N
 *          non2xx=N timeouts=N late=N achieved=R p50_us=.. p90_us=.. p99_us=..
 *          p999_us=.. max_us=..
 * (counts cover the measured window only, after warmup; "late" = requests
 * that waited more than 1 ms for an idle connection). Exit 0 if the run
 * completed, 1 on a setup error (cannot connect), 2 on bad arguments. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"

#define CONN_MAX 1024
#define HEADERS_MAX 16
#define REQ_MAX 8192           /* bytes of the request (line + headers) */
#define RBUF_MAX 65536         /* bytes of response headers buffered */
#define LAT_MAX 20000000u      /* latency samples kept */
#define PENDING_MAX (1u << 21) /* due requests waiting for a connection */
#define DRAIN_S 3              /* seconds to wait for in-flight responses */
#define REQ_TIMEOUT_S 5
#define RATE_MAX 1000000
#define DURATION_MAX 600

enum cstate { C_CLOSED, C_CONNECTING, C_IDLE, C_BUSY };

struct conn {
    int fd;
    enum cstate st;
    size_t wr_off; /* bytes of the request written */
    size_t hlen;   /* bytes in hbuf while headers are incomplete */
    int headers_done;
    long long body_left; /* body bytes still to read */
    int status;
    int close_after;
    int64_t intended; /* ns, intended start of the in-flight request */
    char req[REQ_MAX];
    size_t req_len;
    int measured; /* the in-flight request is in the measured window */
    char hbuf[RBUF_MAX];
};

struct run {
    const char *host;
    int port;
    char req[REQ_MAX];
    size_t req_len;
    const char *path_tpl; /* --vary / --lines: the path with its holes */
    char hdrs[REQ_MAX];   /* " HTTP/1.1\r\nHost...\r\n\r\n" after the path */
    long vary;
    char **lines; /* --lines */
    size_t n_lines;
    uint64_t seqno;
    int epfd;
    struct conn *conns;
    int nconn;
    int64_t *pending; /* ring of intended times */
    uint32_t p_head, p_len;
    int64_t *lat;
    uint32_t nlat;
    int64_t measure_from; /* ns: requests intended before this are warmup */
    uint64_t sent, completed, errors, non2xx, timeouts, late, overflow;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int conn_open(struct run *r, struct conn *c)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)r->port);
    if (inet_pton(AF_INET, r->host, &sa.sin_addr) != 1) return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    c->fd = fd;
    c->st = C_CONNECTING;
    c->hlen = 0;
    c->headers_done = 0;
    c->wr_off = 0;
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
    if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        close(fd);
        c->fd = -1;
        c->st = C_CLOSED;
        return -1;
    }
    return 0;
}

static void conn_close(struct run *r, struct conn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(r->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->st = C_CLOSED;
}

/* A request failed on c: count it, reopen the connection. */
static void conn_fail(struct run *r, struct conn *c, int timeout)
{
    if (c->st == C_BUSY && c->measured) {
        if (timeout)
            r->timeouts++;
        else
            r->errors++;
    }
    conn_close(r, c);
    conn_open(r, c);
}

static void want_write(struct run *r, struct conn *c, int on)
{
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(r->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_write(struct run *r, struct conn *c)
{
    while (c->wr_off < c->req_len) {
        ssize_t n = write(c->fd, c->req + c->wr_off, c->req_len - c->wr_off);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                want_write(r, c, 1);
                return;
            }
            if (errno == EINTR) continue;
            conn_fail(r, c, 0);
            return;
        }
        c->wr_off += (size_t)n;
    }
    want_write(r, c, 0);
}

static void conn_send(struct run *r, struct conn *c, int64_t intended, int64_t now)
{
    c->st = C_BUSY;
    c->intended = intended;
    c->measured = intended >= r->measure_from;
    c->wr_off = 0;
    c->hlen = 0;
    c->headers_done = 0;
    c->body_left = 0;
    c->status = 0;
    c->close_after = 0;
    if (c->measured) {
        r->sent++;
        if (now - intended > 1000000) r->late++;
    }
    if (r->vary > 0 || r->n_lines > 0) {
        uint64_t i = r->seqno++;
        char num[32] = "", path[REQ_MAX];
        if (r->vary > 0)
            snprintf(num, sizeof num, "%llu", (unsigned long long)((i * 2654435761ULL) % (unsigned long long)r->vary));
        const char *line = r->n_lines ? r->lines[(i * 40503ULL) % r->n_lines] : "";
        size_t o = 0;
        for (const char *s = r->path_tpl; *s && o + 1 < sizeof path; s++) {
            const char *ins = NULL;
            if (s[0] == '{' && s[1] == '}' && r->vary > 0)
                ins = num, s += 1;
            else if (s[0] == '{' && s[1] == 'q' && s[2] == '}' && r->n_lines)
                ins = line, s += 2;
            if (!ins) {
                path[o++] = *s;
                continue;
            }
            size_t l = strlen(ins);
            if (o + l + 1 >= sizeof path) break;
            memcpy(path + o, ins, l);
            o += l;
        }
        path[o] = '\0';
        int n = snprintf(c->req, sizeof c->req, "GET %s%s", path, r->hdrs);
        c->req_len = n > 0 && (size_t)n < sizeof c->req ? (size_t)n : 0;
    } else {
        memcpy(c->req, r->req, r->req_len);
        c->req_len = r->req_len;
    }
    conn_write(r, c);
}

/* Parse the headers in c->hbuf[0..end). 0 ok, -1 malformed/unsupported. */
static int parse_headers(struct conn *c, size_t end)
{
    char *p = c->hbuf;
    if (end < 12 || memcmp(p, "HTTP/1.", 7) != 0) return -1;
    c->status = atoi(p + 9);
    int http10 = p[7] == '0', keep_alive = 0;
    long long clen = -1;
    char *line = memchr(p, '\n', end);
    while (line && (size_t)(line - p) + 1 < end) {
        line++;
        char *eol = memchr(line, '\n', end - (size_t)(line - p));
        if (!eol) break;
        size_t len = (size_t)(eol - line);
        if (len >= 15 && strncasecmp(line, "content-length:", 15) == 0) clen = atoll(line + 15);
        if (len >= 18 && strncasecmp(line, "transfer-encoding:", 18) == 0) return -1;
        if (len >= 11 && strncasecmp(line, "connection:", 11) == 0) {
            const char *v = line + 11;
            while (*v == ' ') v++;
            if (strncasecmp(v, "close", 5) == 0) c->close_after = 1;
            if (strncasecmp(v, "keep-alive", 10) == 0) keep_alive = 1;
        }
        line = eol;
    }
    if (clen < 0) return -1;
    if (http10 && !keep_alive) c->close_after = 1; /* HTTP/1.0 closes by default */
    c->body_left = clen;
    return 0;
}

static void complete(struct run *r, struct conn *c, int64_t now)
{
    if (c->measured) {
        r->completed++;
        if (c->status < 200 || c->status > 299) r->non2xx++;
        if (r->nlat < LAT_MAX) r->lat[r->nlat++] = now - c->intended;
    }
    c->st = C_IDLE;
    if (c->close_after) {
        conn_close(r, c);
        conn_open(r, c);
    }
}

static void conn_read(struct run *r, struct conn *c)
{
    char tmp[65536];
    for (int rounds = 0; rounds < 64; rounds++) {
        ssize_t n = read(c->fd, tmp, sizeof tmp);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            if (errno == EINTR) continue;
            conn_fail(r, c, 0);
            return;
        }
        if (n == 0 || c->st != C_BUSY) { /* closed by peer, or bytes nobody asked for */
            conn_fail(r, c, 0);
            return;
        }
        size_t off = 0, len = (size_t)n;
        if (!c->headers_done) {
            size_t room = RBUF_MAX - c->hlen;
            size_t take = len < room ? len : room;
            memcpy(c->hbuf + c->hlen, tmp, take);
            size_t scan_from = c->hlen > 3 ? c->hlen - 3 : 0;
            c->hlen += take;
            char *end = memmem(c->hbuf + scan_from, c->hlen - scan_from, "\r\n\r\n", 4);
            if (!end) {
                if (c->hlen == RBUF_MAX) conn_fail(r, c, 0);
                continue;
            }
            size_t hend = (size_t)(end - c->hbuf) + 4;
            if (parse_headers(c, hend) != 0) {
                conn_fail(r, c, 0);
                return;
            }
            c->headers_done = 1;
            /* body bytes already in hbuf after the headers */
            size_t extra_in_hbuf = c->hlen - hend;
            off = take; /* bytes of tmp consumed into hbuf */
            c->body_left -= (long long)extra_in_hbuf;
        }
        c->body_left -= (long long)(len - off);
        if (c->body_left < 0) { /* more than Content-Length: unexpected */
            conn_fail(r, c, 0);
            return;
        }
        if (c->body_left == 0) {
            complete(r, c, now_ns());
            return;
        }
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double pct_us(const int64_t *v, uint32_t n, double p)
{
    if (n == 0) return 0;
    uint32_t i = (uint32_t)(p * (double)(n - 1) + 0.5);
    return (double)v[i] / 1000.0;
}

static int usage(void)
{
    fputs(
        "usage: bench_rate_load --port P --path /x [--host 127.0.0.1] [--header 'K: V']... [--vary N] [--lines FILE]\n"
        "                       [--rate 10000] [--duration 10] [--warmup 1] [--connections 64]\n",
        stderr);
    return 2;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

#define LINES_MAX 1000000
#define LINE_BYTES_MAX 1024

/* --lines FILE into r->lines (kept for the whole run; freed at exit). */
static int load_lines(const char *path, struct run *r)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "bench_rate_load: cannot read %s\n", path);
        return -1;
    }
    char buf[LINE_BYTES_MAX];
    size_t cap = 0;
    while (fgets(buf, sizeof buf, f) && r->n_lines < LINES_MAX) {
        buf[strcspn(buf, "\r\n")] = '\0';
        if (!buf[0]) continue;
        if (r->n_lines == cap) {
            cap = cap ? cap * 2 : 1024;
            char **nl = tl_realloc(r->lines, cap * sizeof *nl);
            if (!nl) break;
            r->lines = nl;
        }
        if (!(r->lines[r->n_lines] = tl_strdup(buf))) break;
        r->n_lines++;
    }
    fclose(f);
    if (!r->n_lines) {
        fprintf(stderr, "bench_rate_load: %s has no lines\n", path);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *path = NULL, *headers[HEADERS_MAX];
    int nh = 0;
    long port = 0, rate = 10000, duration = 10, warmup = 1, nconn = 64, r_vary = 0;
    const char *lines_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) return usage();
        const char *v = argv[++i];
        int bad = 0;
        if (strcmp(a, "--host") == 0)
            host = v;
        else if (strcmp(a, "--path") == 0)
            path = v;
        else if (strcmp(a, "--header") == 0) {
            if (nh >= HEADERS_MAX) return usage();
            headers[nh++] = v;
        } else if (strcmp(a, "--port") == 0)
            bad = parse_long(v, 1, 65535, &port);
        else if (strcmp(a, "--rate") == 0)
            bad = parse_long(v, 1, RATE_MAX, &rate);
        else if (strcmp(a, "--duration") == 0)
            bad = parse_long(v, 1, DURATION_MAX, &duration);
        else if (strcmp(a, "--warmup") == 0)
            bad = parse_long(v, 0, DURATION_MAX, &warmup);
        else if (strcmp(a, "--connections") == 0)
            bad = parse_long(v, 1, CONN_MAX, &nconn);
        else if (strcmp(a, "--vary") == 0)
            bad = parse_long(v, 1, 1000000000L, &r_vary);
        else if (strcmp(a, "--lines") == 0)
            lines_path = v;
        else
            return usage();
        if (bad) {
            fprintf(stderr, "bench_rate_load: bad value for %s: '%s'\n", a, v);
            return 2;
        }
    }
    if (!port || !path || path[0] != '/') return usage();

    static struct run r;
    r.host = host;
    r.port = (int)port;
    int n = snprintf(r.req, sizeof r.req, "GET %s HTTP/1.1\r\nHost: %s:%ld\r\n", path, host, port);
    for (int i = 0; i < nh && n > 0 && (size_t)n < sizeof r.req; i++)
        n += snprintf(r.req + n, sizeof r.req - (size_t)n, "%s\r\n", headers[i]);
    if (n > 0 && (size_t)n < sizeof r.req) n += snprintf(r.req + n, sizeof r.req - (size_t)n, "\r\n");
    if (n <= 0 || (size_t)n >= sizeof r.req) {
        fputs("bench_rate_load: request too long\n", stderr);
        return 2;
    }
    r.req_len = (size_t)n;
    if (r_vary > 0 && !strstr(path, "{}")) {
        fputs("bench_rate_load: --vary needs \"{}\" in the path\n", stderr);
        return 2;
    }
    if (lines_path) {
        if (!strstr(path, "{q}")) {
            fputs("bench_rate_load: --lines needs \"{q}\" in the path\n", stderr);
            return 2;
        }
        if (load_lines(lines_path, &r) != 0) return 2;
    }
    if (r_vary > 0 || r.n_lines) {
        r.vary = r_vary;
        r.path_tpl = path;
        /* what follows the path in r.req */
        snprintf(r.hdrs, sizeof r.hdrs, "%s", r.req + 4 + strlen(path));
    }

    uint64_t want = (uint64_t)rate * (uint64_t)duration + 16;
    uint32_t lat_cap = want < LAT_MAX ? (uint32_t)want : LAT_MAX;
    r.lat = tl_malloc(sizeof *r.lat * lat_cap);
    r.pending = tl_malloc(sizeof *r.pending * PENDING_MAX);
    r.conns = tl_calloc((size_t)nconn, sizeof *r.conns);
    r.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!r.lat || !r.pending || !r.conns || r.epfd < 0) {
        fputs("bench_rate_load: out of memory\n", stderr);
        return 1;
    }
    r.nconn = (int)nconn;
    for (int i = 0; i < r.nconn; i++) {
        r.conns[i].fd = -1;
        if (conn_open(&r, &r.conns[i]) != 0) {
            fprintf(stderr, "bench_rate_load: cannot connect to %s:%ld\n", host, port);
            return 1;
        }
    }

    struct epoll_event evs[256];
    /* Wait (at most 2 s) until every connection is established. */
    int64_t deadline = now_ns() + 2000000000LL;
    int connected = 0;
    while (connected < r.nconn && now_ns() < deadline) {
        int k = epoll_wait(r.epfd, evs, 256, 100);
        for (int i = 0; i < k; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->st != C_CONNECTING) continue;
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
            if (soerr || (evs[i].events & (EPOLLERR | EPOLLHUP))) {
                fprintf(stderr, "bench_rate_load: cannot connect to %s:%ld: %s\n", host, port, strerror(soerr));
                return 1;
            }
            c->st = C_IDLE;
            want_write(&r, c, 0);
            connected++;
        }
    }
    if (connected < r.nconn) {
        fprintf(stderr, "bench_rate_load: only %d of %d connections opened\n", connected, r.nconn);
        return 1;
    }

    const int64_t period = 1000000000LL / rate;
    const int64_t t0 = now_ns();
    r.measure_from = t0 + warmup * 1000000000LL;
    const int64_t send_end = r.measure_from + duration * 1000000000LL;
    const int64_t hard_end = send_end + DRAIN_S * 1000000000LL;
    uint64_t next_i = 0;
    int64_t last_sweep = t0;
    for (;;) {
        int64_t now = now_ns();
        if (now >= hard_end) break;
        /* enqueue due requests */
        while (now < send_end) {
            int64_t due = t0 + (int64_t)next_i * period;
            if (due > now || due >= send_end) break;
            if (r.p_len == PENDING_MAX) {
                r.overflow++;
                break;
            }
            r.pending[(r.p_head + r.p_len) % PENDING_MAX] = due;
            r.p_len++;
            next_i++;
        }
        if (r.overflow) break;
        /* hand them to idle connections */
        for (int i = 0; i < r.nconn && r.p_len > 0; i++) {
            struct conn *c = &r.conns[i];
            if (c->st != C_IDLE) continue;
            int64_t intended = r.pending[r.p_head];
            r.p_head = (r.p_head + 1) % PENDING_MAX;
            r.p_len--;
            conn_send(&r, c, intended, now);
        }
        /* done? */
        int busy = 0;
        for (int i = 0; i < r.nconn; i++) busy += r.conns[i].st == C_BUSY;
        if (now >= send_end && busy == 0) break;
        /* time out stuck requests (every 100 ms) */
        if (now - last_sweep > 100000000LL) {
            last_sweep = now;
            for (int i = 0; i < r.nconn; i++) {
                struct conn *c = &r.conns[i];
                if (c->st == C_BUSY && now - c->intended > REQ_TIMEOUT_S * 1000000000LL) conn_fail(&r, c, 1);
                if (c->st == C_CLOSED) conn_open(&r, c);
            }
        }
        int64_t next_due = t0 + (int64_t)next_i * period;
        int64_t wait = now < send_end ? next_due - now : 10000000LL;
        if (wait < 0) wait = 0;
        if (wait > 10000000LL) wait = 10000000LL;
        struct timespec to = {.tv_sec = 0, .tv_nsec = (long)wait};
        int k = epoll_pwait2(r.epfd, evs, 256, &to, NULL);
        if (k < 0 && errno != EINTR) {
            perror("bench_rate_load: epoll_pwait2");
            return 1;
        }
        for (int i = 0; i < k; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->st == C_CONNECTING) {
                int soerr = 0;
                socklen_t sl = sizeof soerr;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
                if (soerr || (evs[i].events & (EPOLLERR | EPOLLHUP))) {
                    conn_close(&r, c); /* retried by the sweep */
                    continue;
                }
                c->st = C_IDLE;
                want_write(&r, c, 0);
                continue;
            }
            if (c->st == C_CLOSED) continue;
            if ((evs[i].events & EPOLLOUT) && c->st == C_BUSY && c->wr_off < r.req_len) conn_write(&r, c);
            if ((c->st == C_BUSY || c->st == C_IDLE) && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                conn_read(&r, c);
        }
    }
    /* requests still in flight or queued at the hard end are timeouts */
    for (int i = 0; i < r.nconn; i++) {
        struct conn *c = &r.conns[i];
        if (c->st == C_BUSY && c->measured) r.timeouts++;
        conn_close(&r, c);
    }
    for (uint32_t i = 0; i < r.p_len; i++)
        if (r.pending[(r.p_head + i) % PENDING_MAX] >= r.measure_from) r.timeouts++;
    close(r.epfd);

    qsort(r.lat, r.nlat, sizeof *r.lat, cmp_i64);
    printf("RESULT rate=%ld duration=%ld connections=%d sent=%llu completed=%llu errors=%llu non2xx=%llu "
           "timeouts=%llu late=%llu achieved=%.1f p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f\n",
           rate, duration, r.nconn, (unsigned long long)r.sent, (unsigned long long)r.completed,
           (unsigned long long)r.errors, (unsigned long long)r.non2xx, (unsigned long long)r.timeouts,
           (unsigned long long)r.late, (double)r.completed / (double)duration, pct_us(r.lat, r.nlat, 0.50),
           pct_us(r.lat, r.nlat, 0.90), pct_us(r.lat, r.nlat, 0.99), pct_us(r.lat, r.nlat, 0.999),
           r.nlat ? (double)r.lat[r.nlat - 1] / 1000.0 : 0.0);
    if (r.overflow) fputs("bench_rate_load: pending queue overflowed; run stopped early\n", stderr);
    tl_free(r.lat);
    tl_free(r.pending);
    tl_free(r.conns);
    return r.overflow ? 1 : 0;
}
