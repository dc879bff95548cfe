/*
 * rawclient: a raw-socket NATS client giving the ceiling for natsbench.
 *
 *   rawclient [-url nats://127.0.0.1:PORT] [-n N] [-size S] [-lib raw] [-stall S] pub|pubsub|req
 *
 *   pub     writes pre-encoded "PUB bench S\r\n<payload>\r\n" frames in big
 *           batches, then PING and waits for the PONG
 *   pubsub  a raw subscriber socket (SUB bench 1) counts MSG frames (control
 *           lines parsed, payloads skipped) while the raw publisher writes
 *   req     a raw replier socket and a raw requester socket; N sequential
 *           round trips, per-request latency
 *
 * Prints the same RESULT line as natsbench (lib=raw). Only 127.0.0.1 is used.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "measure.h"

static const char *g_url   = "nats://127.0.0.1:4222";
static long        g_n     = 100000;
static int         g_size  = 128;
static const char *g_lib   = "raw";
static const char *g_mode  = NULL;
static int         g_stall = 30;
static int         g_port  = 4222;

static void
fail(const char *what)
{
    printf("RESULT lib=%s mode=%s size=%d n=%ld k=1 asap=0 status=error error=%s:%s\n",
           g_lib, g_mode, g_size, g_n, what, strerror(errno));
    fflush(stdout);
    exit(1);
}

/* ------------------------------------------------------------------ */
/* connection with a tiny protocol parser                             */
/* ------------------------------------------------------------------ */

typedef struct rconn rconn;
typedef void (*msg_cb)(rconn *c, const char *subj, const char *reply, long size);

struct rconn
{
    int       fd;
    char     *buf;
    size_t    cap, start, end;
    long long skip;     /* payload bytes (incl. CRLF) still to skip */
    long      msgs;     /* MSG frames seen                          */
    long      pongs;
    msg_cb    on_msg;
    void     *user;
    char     *wbuf;     /* scratch for replies                      */
};

static void
write_all(int fd, const char *p, size_t n)
{
    while (n > 0)
    {
        ssize_t w = write(fd, p, n);
        if (w < 0)
        {
            if (errno == EINTR)
                continue;
            fail("write");
        }
        p += w;
        n -= (size_t) w;
    }
}

static void
handle_line(rconn *c, char *line, size_t len)
{
    line[len] = '\0';
    if (len >= 4 && memcmp(line, "MSG ", 4) == 0)
    {
        /* MSG <subject> <sid> [reply-to] <#bytes> */
        char *tok[5];
        int   nt = 0;
        char *p  = line + 4;
        while (*p && nt < 5)
        {
            while (*p == ' ' || *p == '\t') p++;
            if (!*p) break;
            tok[nt++] = p;
            while (*p && *p != ' ' && *p != '\t') p++;
            if (*p) *p++ = '\0';
        }
        if (nt < 3)
        {
            fprintf(stderr, "rawclient: bad MSG line\n");
            exit(1);
        }
        long size = atol(tok[nt - 1]);
        c->msgs++;
        c->skip = (long long) size + 2;
        if (c->on_msg)
            c->on_msg(c, tok[0], nt == 4 ? tok[2] : NULL, size);
    }
    else if (len >= 4 && memcmp(line, "PING", 4) == 0)
        write_all(c->fd, "PONG\r\n", 6);
    else if (len >= 4 && memcmp(line, "PONG", 4) == 0)
        c->pongs++;
    else if (len >= 4 && memcmp(line, "-ERR", 4) == 0)
        fprintf(stderr, "rawclient: server error: %s\n", line);
    /* INFO, +OK: ignored */
}

/* Read and parse until done(c) is true. Returns false on stall/EOF. */
static bool
pump(rconn *c, bool (*done)(rconn *), int stall_ms)
{
    for (;;)
    {
        /* consume what is buffered */
        while (c->start < c->end)
        {
            if (c->skip > 0)
            {
                size_t avail = c->end - c->start;
                size_t take  = (size_t) c->skip < avail ? (size_t) c->skip : avail;
                c->start += take;
                c->skip  -= (long long) take;
                continue;
            }
            char *s  = c->buf + c->start;
            char *nl = memchr(s, '\n', c->end - c->start);
            if (nl == NULL)
                break;
            size_t len = (size_t) (nl - s);
            if (len > 0 && s[len - 1] == '\r')
                len--;
            c->start = (size_t) (nl - c->buf) + 1;
            handle_line(c, s, len);
        }
        if (c->skip == 0 && done(c))
            return true;
        if (c->start == c->end)
            c->start = c->end = 0;
        else if (c->start > 0 && c->skip == 0)
        {
            memmove(c->buf, c->buf + c->start, c->end - c->start);
            c->end -= c->start;
            c->start = 0;
        }
        if (c->end == c->cap)
        {
            fprintf(stderr, "rawclient: control line too long\n");
            exit(1);
        }
        if (stall_ms > 0)
        {
            struct pollfd pfd = { c->fd, POLLIN, 0 };
            int           pr  = poll(&pfd, 1, stall_ms);
            if (pr == 0)
                return false;
        }
        ssize_t r = read(c->fd, c->buf + c->end, c->cap - c->end);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        c->end += (size_t) r;
    }
}

static bool done_pong(rconn *c) { return c->pongs > 0; }

static rconn *
rconnect(const char *subline)
{
    rconn             *c = calloc(1, sizeof(*c));
    struct sockaddr_in sa;
    int                one = 1;
    const char        *hello = "CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1,"
                               "\"name\":\"rawclient\",\"lang\":\"c-raw\",\"version\":\"0\"}\r\n";

    c->cap = 1 << 20;
    c->buf = malloc(c->cap);
    c->fd  = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        fail("socket");
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port   = htons((uint16_t) g_port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *) &sa, sizeof(sa)) != 0)
        fail("connect");
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    write_all(c->fd, hello, strlen(hello));
    if (subline != NULL)
        write_all(c->fd, subline, strlen(subline));
    write_all(c->fd, "PING\r\n", 6);
    if (!pump(c, done_pong, 10000))
        fail("handshake");
    c->pongs = 0;
    return c;
}

static char *
make_payload(int size)
{
    char *p = malloc(size > 0 ? (size_t) size : 1);
    for (int i = 0; i < size; i++)
        p[i] = (char) ('a' + (i % 26));
    return p;
}

static void
print_result(const char *status, double secs, long received, bool lat,
             double p50, double p90, double p99, double mx, double avg, const char *extra)
{
    double mps = secs > 0 ? (double) received / secs : 0;
    printf("RESULT lib=%s mode=%s size=%d n=%ld k=1 asap=0 status=%s secs=%.6f msgs_per_sec=%.0f "
           "mb_per_sec=%.2f received=%ld",
           g_lib, g_mode, g_size, g_n, status, secs, mps, mps * g_size / (1024.0 * 1024.0), received);
    if (lat)
        printf(" p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f avg_us=%.1f", p50, p90, p99, mx, avg);
    printf(" async_errs=0 slow_consumer=0 disconnects=0 rss_kb=%ld cpu_ms=%.1f threads=%d%s%s\n",
           peak_rss_kb(), process_cpu_ms(), thread_count(), extra[0] ? " " : "", extra);
    fflush(stdout);
}

/* ------------------------------------------------------------------ */
/* publishing in batches                                              */
/* ------------------------------------------------------------------ */

static void
publish_raw(rconn *c)
{
    char   hdr[64];
    int    hl      = snprintf(hdr, sizeof(hdr), "PUB bench %d\r\n", g_size);
    size_t frame   = (size_t) hl + (size_t) g_size + 2;
    size_t per     = (256 * 1024) / frame;
    char  *payload = make_payload(g_size);
    char  *batch;
    long   left    = g_n;

    if (per < 1)
        per = 1;
    batch = malloc(per * frame);
    for (size_t i = 0; i < per; i++)
    {
        char *f = batch + i * frame;
        memcpy(f, hdr, (size_t) hl);
        memcpy(f + hl, payload, (size_t) g_size);
        memcpy(f + hl + g_size, "\r\n", 2);
    }
    while (left > 0)
    {
        long k = left < (long) per ? left : (long) per;
        write_all(c->fd, batch, (size_t) k * frame);
        left -= k;
    }
    free(batch);
    free(payload);
}

/* ------------------------------------------------------------------ */
/* modes                                                              */
/* ------------------------------------------------------------------ */

static int
mode_pub(void)
{
    rconn  *c = rconnect(NULL);
    int64_t t0 = now_ns();
    bool    ok;

    publish_raw(c);
    write_all(c->fd, "PING\r\n", 6);
    ok = pump(c, done_pong, g_stall * 1000);
    print_result(ok ? "ok" : "timeout", (double) (now_ns() - t0) / 1e9, g_n, false, 0, 0, 0, 0, 0, "");
    return ok ? 0 : 2;
}

static bool done_all(rconn *c) { return c->msgs >= g_n; }

typedef struct
{
    rconn  *c;
    bool    ok;
    int64_t end;
} subarg;

static void *
sub_thread(void *arg)
{
    subarg *sa = (subarg *) arg;
    sa->ok  = pump(sa->c, done_all, g_stall * 1000);
    sa->end = now_ns();
    return NULL;
}

static int
mode_pubsub(void)
{
    rconn    *s = rconnect("SUB bench 1\r\n");
    rconn    *p = rconnect(NULL);
    subarg    sa = { s, false, 0 };
    pthread_t th;
    int64_t   t0;
    char      extra[128];

    pthread_create(&th, NULL, sub_thread, &sa);
    t0 = now_ns();
    publish_raw(p);
    write_all(p->fd, "PING\r\n", 6);
    pump(p, done_pong, g_stall * 1000);
    pthread_join(th, NULL);
    snprintf(extra, sizeof(extra), "expected=%ld", g_n);
    print_result(sa.ok ? "ok" : "timeout", (double) (sa.end - t0) / 1e9, s->msgs, false, 0, 0, 0, 0, 0, extra);
    return sa.ok ? 0 : 2;
}

/* replier: answer every request immediately */
static char *g_payload;

static void
on_request(rconn *c, const char *subj, const char *reply, long size)
{
    (void) subj;
    if (reply == NULL)
        return;
    int hl = snprintf(c->wbuf, 256, "PUB %s %ld\r\n", reply, size);
    memcpy(c->wbuf + hl, g_payload, (size_t) size);
    memcpy(c->wbuf + hl + size, "\r\n", 2);
    /* the request payload itself is skipped by the parser */
    write_all(c->fd, c->wbuf, (size_t) hl + (size_t) size + 2);
}

static volatile int g_stop = 0;
static bool done_never(rconn *c) { (void) c; return g_stop; }

static void *
replier_thread(void *arg)
{
    rconn *c = (rconn *) arg;
    pump(c, done_never, 0);
    return NULL;
}

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return (x > y) - (x < y);
}

static double
pct_us(const int64_t *s, long n, double p)
{
    long idx = (long) ((double) (n - 1) * p + 0.5);
    if (idx >= n) idx = n - 1;
    return (double) s[idx] / 1000.0;
}

static long g_want;
static bool done_want(rconn *c) { return c->msgs >= g_want; }

static int
mode_req(void)
{
    rconn    *rep = rconnect("SUB bench.req 1\r\n");
    rconn    *req = rconnect("SUB _INBOX.raw.bench 1\r\n");
    pthread_t th;
    char      hdr[96];
    int       hl;
    size_t    flen;
    char     *frame;
    int64_t  *lat = malloc(sizeof(int64_t) * (size_t) g_n);
    long      warm = g_n / 10 < 100 ? g_n / 10 : 100;
    long      done = 0;
    int64_t   t0, t1, sum = 0;
    bool      ok = true;
    char      extra[128];

    g_payload = make_payload(g_size);
    rep->wbuf = malloc((size_t) g_size + 512);
    rep->on_msg = on_request;
    pthread_create(&th, NULL, replier_thread, rep);

    hl = snprintf(hdr, sizeof(hdr), "PUB bench.req _INBOX.raw.bench %d\r\n", g_size);
    flen = (size_t) hl + (size_t) g_size + 2;
    frame = malloc(flen);
    memcpy(frame, hdr, (size_t) hl);
    memcpy(frame + hl, g_payload, (size_t) g_size);
    memcpy(frame + hl + g_size, "\r\n", 2);

    for (long i = 0; i < warm && ok; i++)
    {
        g_want = req->msgs + 1;
        write_all(req->fd, frame, flen);
        ok = pump(req, done_want, 10000);
    }
    t0 = now_ns();
    for (long i = 0; i < g_n && ok; i++)
    {
        int64_t a = now_ns();
        g_want = req->msgs + 1;
        write_all(req->fd, frame, flen);
        ok = pump(req, done_want, g_stall * 1000);
        if (!ok)
            break;
        lat[i] = now_ns() - a;
        sum += lat[i];
        done++;
    }
    t1 = now_ns();
    snprintf(extra, sizeof(extra), "expected=%ld", g_n);
    if (done > 0)
    {
        qsort(lat, (size_t) done, sizeof(int64_t), cmp_i64);
        print_result(ok ? "ok" : "timeout", (double) (t1 - t0) / 1e9, done, true, pct_us(lat, done, .5),
                     pct_us(lat, done, .9), pct_us(lat, done, .99), (double) lat[done - 1] / 1000.0,
                     (double) sum / (double) done / 1000.0, extra);
    }
    else
        print_result("timeout", (double) (t1 - t0) / 1e9, 0, false, 0, 0, 0, 0, 0, extra);
    g_stop = 1;
    shutdown(rep->fd, SHUT_RDWR);
    pthread_join(th, NULL);
    return ok ? 0 : 2;
}

int
main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
    {
        const char *a = argv[i];
        if (a[0] == '-' && a[1] == '-')
            a++;
        if (strcmp(a, "-url") == 0 && i + 1 < argc)        g_url = argv[++i];
        else if (strcmp(a, "-n") == 0 && i + 1 < argc)     g_n = atol(argv[++i]);
        else if (strcmp(a, "-size") == 0 && i + 1 < argc)  g_size = atoi(argv[++i]);
        else if (strcmp(a, "-lib") == 0 && i + 1 < argc)   g_lib = argv[++i];
        else if (strcmp(a, "-stall") == 0 && i + 1 < argc) g_stall = atoi(argv[++i]);
        else if (strcmp(a, "-mode") == 0 && i + 1 < argc)  g_mode = argv[++i];
        else if (a[0] != '-' && g_mode == NULL)            g_mode = argv[i];
        else
        {
            fprintf(stderr, "usage: rawclient [-url nats://127.0.0.1:PORT] [-n N] [-size S] pub|pubsub|req\n");
            return 64;
        }
    }
    if (g_mode == NULL || g_n < 1 || g_size < 0)
    {
        fprintf(stderr, "usage: rawclient [-url nats://127.0.0.1:PORT] [-n N] [-size S] pub|pubsub|req\n");
        return 64;
    }
    /* only loopback: take the port from the URL */
    {
        const char *colon = strrchr(g_url, ':');
        if (colon != NULL && colon[1] >= '0' && colon[1] <= '9')
            g_port = atoi(colon + 1);
    }
    if (strcmp(g_mode, "pub") == 0)
        return mode_pub();
    if (strcmp(g_mode, "pubsub") == 0)
        return mode_pubsub();
    if (strcmp(g_mode, "req") == 0)
        return mode_req();
    fprintf(stderr, "rawclient: unknown mode %s\n", g_mode);
    return 64;
}
