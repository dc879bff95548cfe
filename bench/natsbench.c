/*
 * natsbench: one benchmark program for the public cnats API.
 *
 * Compiles unchanged against this repository's include/nats/nats.h and against
 * Debian's cnats 3.4.1 (/usr/include/nats/nats.h): it only calls functions that
 * exist in cnats 3.4.1.
 *
 *   natsbench [options] MODE [K]
 *
 * MODE:
 *   pub        publish N msgs of S bytes, then Flush
 *   pubsub     publisher connection + async subscriber connection
 *              (pending limits -1/-1); time until the subscriber got all N
 *   sync       like pubsub, subscriber uses SubscribeSync + NextMsg
 *   req        replier connection + requester; N sequential requests,
 *              latency percentiles (us)
 *   queue K    K async queue subscribers in one group (one subscriber
 *              connection); each message must arrive exactly once
 *   fanout K   K async subscribers (one subscriber connection), each gets all N
 *   threads    1 connection with 10 async subscriptions: thread count
 *   subs1000   1000 async subscriptions with global message delivery
 *
 * Options:
 *   -url URL   (default nats://127.0.0.1:4222)
 *   -n N       messages / requests (default 100000)
 *   -size S    payload size in bytes (default 128)
 *   -k K       subscriber count for queue/fanout (default 4)
 *   -asap      natsOptions_SetSendAsap(true) on every connection
 *   -lib NAME  label printed as lib=NAME (default: v<nats_GetVersion()>)
 *   -stall S   give up after S seconds without progress (default 30)
 *
 * Output: one line
 *   RESULT lib=.. mode=.. size=.. n=.. k=.. status=ok secs=.. msgs_per_sec=..
 *          mb_per_sec=.. [p50_us=.. p90_us=.. p99_us=.. max_us=..] received=..
 *          rss_kb=.. cpu_ms=.. threads=.. ...
 * cpu_ms is the process' user + system CPU time since it started.
 * status is ok, timeout (no progress for -stall seconds), badcount or error.
 * Benchmarks report; nothing here asserts timing.
 */
#include <nats/nats.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "measure.h"

/* ------------------------------------------------------------------ */
/* settings                                                           */
/* ------------------------------------------------------------------ */

static const char *g_url   = "nats://127.0.0.1:4222";
static long        g_n     = 100000;
static int         g_size  = 128;
static int         g_k     = 4;
static bool        g_asap  = false;
static const char *g_lib   = NULL;
static int         g_stall = 30;
static const char *g_mode  = NULL;

/* asynchronous events seen on any connection */
static volatile long g_async_errs   = 0;
static volatile long g_disconnects  = 0;
static volatile long g_slow         = 0;

/* ------------------------------------------------------------------ */
/* helpers                                                            */
/* ------------------------------------------------------------------ */

static void
die(const char *what, natsStatus s)
{
    printf("RESULT lib=%s mode=%s size=%d n=%ld k=%d status=error error=%s:%s\n",
           g_lib, g_mode, g_size, g_n, g_k, what, natsStatus_GetText(s));
    fflush(stdout);
    fprintf(stderr, "natsbench: %s failed: %s\n", what, natsStatus_GetText(s));
    nats_PrintLastErrorStack(stderr);
    exit(1);
}

#define CHECK(what, call) do { natsStatus _s = (call); if (_s != NATS_OK) die(what, _s); } while (0)

static void
on_err(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    (void) nc; (void) sub; (void) closure;
    __atomic_add_fetch(&g_async_errs, 1, __ATOMIC_RELAXED);
    if (err == NATS_SLOW_CONSUMER)
        __atomic_add_fetch(&g_slow, 1, __ATOMIC_RELAXED);
}

static void
on_disc(natsConnection *nc, void *closure)
{
    (void) nc; (void) closure;
    __atomic_add_fetch(&g_disconnects, 1, __ATOMIC_RELAXED);
}

static natsConnection *
connect_one(bool global)
{
    natsOptions    *opts = NULL;
    natsConnection *nc   = NULL;

    CHECK("natsOptions_Create", natsOptions_Create(&opts));
    CHECK("natsOptions_SetURL", natsOptions_SetURL(opts, g_url));
    CHECK("natsOptions_SetErrorHandler", natsOptions_SetErrorHandler(opts, on_err, NULL));
    CHECK("natsOptions_SetDisconnectedCB", natsOptions_SetDisconnectedCB(opts, on_disc, NULL));
    if (g_asap)
        CHECK("natsOptions_SetSendAsap", natsOptions_SetSendAsap(opts, true));
    if (global)
        CHECK("natsOptions_UseGlobalMessageDelivery", natsOptions_UseGlobalMessageDelivery(opts, true));
    CHECK("natsConnection_Connect", natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);
    return nc;
}

static char *
make_payload(int size)
{
    char *p = malloc(size > 0 ? (size_t) size : 1);
    int   i;
    for (i = 0; i < size; i++)
        p[i] = (char) ('a' + (i % 26));
    return p;
}

/* ------------------------------------------------------------------ */
/* counting subscribers                                               */
/* ------------------------------------------------------------------ */

typedef struct
{
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    long            target;   /* total deliveries expected          */
    long            got;      /* total deliveries so far (atomic)   */
    long            badsize;  /* deliveries with the wrong length   */
    long            dups;     /* queue mode: seen twice             */
    unsigned char  *seen;     /* queue mode: one byte per sequence  */
    int64_t         done_ns;  /* when got reached target            */
} counter;

typedef struct
{
    counter *c;
    long     got;             /* per subscription */
} subctx;

static counter g_cnt;

static void
counter_init(counter *c, long target)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->target = target;
}

static void
counter_hit(counter *c)
{
    long v = __atomic_add_fetch(&c->got, 1, __ATOMIC_ACQ_REL);
    if (v == c->target)
    {
        int64_t t = now_ns();
        pthread_mutex_lock(&c->mu);
        c->done_ns = t;
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
    }
}

/* Wait until the target is reached; false on stall. */
static bool
counter_wait(counter *c)
{
    long last = -1;
    int64_t last_progress = now_ns();

    pthread_mutex_lock(&c->mu);
    while (c->done_ns == 0)
    {
        struct timespec ts;
        long            cur;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
        if (c->done_ns != 0)
            break;
        cur = __atomic_load_n(&c->got, __ATOMIC_ACQUIRE);
        if (cur != last)
        {
            last = cur;
            last_progress = now_ns();
        }
        else if (now_ns() - last_progress > (int64_t) g_stall * 1000000000LL)
        {
            pthread_mutex_unlock(&c->mu);
            return false;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return true;
}

static void
on_msg_count(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    subctx *sc = (subctx *) closure;
    (void) nc; (void) sub;
    if (natsMsg_GetDataLength(msg) != g_size)
        __atomic_add_fetch(&sc->c->badsize, 1, __ATOMIC_RELAXED);
    sc->got++;
    natsMsg_Destroy(msg);
    counter_hit(sc->c);
}

static void
on_msg_queue(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    subctx *sc = (subctx *) closure;
    uint64_t seq = 0;
    (void) nc; (void) sub;
    if (natsMsg_GetDataLength(msg) != g_size)
        __atomic_add_fetch(&sc->c->badsize, 1, __ATOMIC_RELAXED);
    else
    {
        memcpy(&seq, natsMsg_GetData(msg), sizeof(seq));
        if (seq < (uint64_t) g_n)
        {
            if (__atomic_exchange_n(&sc->c->seen[seq], 1, __ATOMIC_RELAXED) != 0)
                __atomic_add_fetch(&sc->c->dups, 1, __ATOMIC_RELAXED);
        }
        else
            __atomic_add_fetch(&sc->c->badsize, 1, __ATOMIC_RELAXED);
    }
    sc->got++;
    natsMsg_Destroy(msg);
    counter_hit(sc->c);
}

/* ------------------------------------------------------------------ */
/* result line                                                        */
/* ------------------------------------------------------------------ */

typedef struct
{
    const char *status;
    double      secs;
    long        received;     /* deliveries counted                  */
    long        delivered_ok; /* total msgs used for msgs_per_sec    */
    bool        lat;
    double      p50, p90, p99, max, avg;
    char        extra[512];
} result;

static void
print_result(result *r, int threads)
{
    double mps = (r->secs > 0) ? (double) r->delivered_ok / r->secs : 0;
    double mbs = mps * (double) g_size / (1024.0 * 1024.0);

    printf("RESULT lib=%s mode=%s size=%d n=%ld k=%d asap=%d status=%s secs=%.6f "
           "msgs_per_sec=%.0f mb_per_sec=%.2f received=%ld",
           g_lib, g_mode, g_size, g_n, g_k, g_asap ? 1 : 0, r->status, r->secs,
           mps, mbs, r->received);
    if (r->lat)
        printf(" p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f avg_us=%.1f",
               r->p50, r->p90, r->p99, r->max, r->avg);
    printf(" async_errs=%ld slow_consumer=%ld disconnects=%ld rss_kb=%ld cpu_ms=%.1f threads=%d%s%s\n",
           __atomic_load_n(&g_async_errs, __ATOMIC_RELAXED),
           __atomic_load_n(&g_slow, __ATOMIC_RELAXED),
           __atomic_load_n(&g_disconnects, __ATOMIC_RELAXED),
           peak_rss_kb(), process_cpu_ms(), threads, r->extra[0] ? " " : "", r->extra);
    fflush(stdout);
}

/* ------------------------------------------------------------------ */
/* modes                                                              */
/* ------------------------------------------------------------------ */

static int
mode_pub(void)
{
    natsConnection *nc  = connect_one(false);
    char           *buf = make_payload(g_size);
    result          r;
    int64_t         t0, t1;
    long            i;
    int             threads;

    memset(&r, 0, sizeof(r));
    t0 = now_ns();
    for (i = 0; i < g_n; i++)
        CHECK("natsConnection_Publish", natsConnection_Publish(nc, "bench", buf, g_size));
    CHECK("natsConnection_FlushTimeout", natsConnection_FlushTimeout(nc, 120000));
    t1 = now_ns();
    threads = thread_count();

    r.status = "ok";
    r.secs = (double) (t1 - t0) / 1e9;
    r.received = g_n;
    r.delivered_ok = g_n;
    print_result(&r, threads);

    natsConnection_Destroy(nc);
    free(buf);
    return 0;
}

/* async subscribers (pubsub, queue, fanout) */
static int
mode_async_subs(int nsubs, bool queue)
{
    natsConnection    *snc, *pnc;
    natsSubscription **subs = calloc((size_t) nsubs, sizeof(*subs));
    subctx            *ctx  = calloc((size_t) nsubs, sizeof(*ctx));
    char              *buf  = make_payload(g_size);
    long               target = queue ? g_n : g_n * nsubs;
    result             r;
    int64_t            t0;
    long               i, mn = -1, mx = 0;
    int                threads;
    bool               ok;

    memset(&r, 0, sizeof(r));
    counter_init(&g_cnt, target);
    if (queue)
        g_cnt.seen = calloc((size_t) g_n, 1);

    snc = connect_one(false);
    for (i = 0; i < nsubs; i++)
    {
        ctx[i].c = &g_cnt;
        if (queue)
            CHECK("natsConnection_QueueSubscribe",
                  natsConnection_QueueSubscribe(&subs[i], snc, "bench", "bq", on_msg_queue, &ctx[i]));
        else
            CHECK("natsConnection_Subscribe",
                  natsConnection_Subscribe(&subs[i], snc, "bench", on_msg_count, &ctx[i]));
        CHECK("natsSubscription_SetPendingLimits", natsSubscription_SetPendingLimits(subs[i], -1, -1));
    }
    CHECK("natsConnection_Flush(sub)", natsConnection_FlushTimeout(snc, 10000));
    pnc = connect_one(false);

    t0 = now_ns();
    for (i = 0; i < g_n; i++)
    {
        if (queue)
        {
            uint64_t seq = (uint64_t) i;
            memcpy(buf, &seq, sizeof(seq));
        }
        CHECK("natsConnection_Publish", natsConnection_Publish(pnc, "bench", buf, g_size));
    }
    CHECK("natsConnection_FlushTimeout(pub)", natsConnection_FlushTimeout(pnc, 120000));

    ok = counter_wait(&g_cnt);
    threads = thread_count();
    r.received = __atomic_load_n(&g_cnt.got, __ATOMIC_ACQUIRE);
    if (!ok)
    {
        r.status = "timeout";
        r.secs = (double) (now_ns() - t0) / 1e9;
    }
    else
    {
        /* give a moment for extra (duplicate / unexpected) deliveries */
        nats_Sleep(50);
        r.received = __atomic_load_n(&g_cnt.got, __ATOMIC_ACQUIRE);
        r.secs = (double) (g_cnt.done_ns - t0) / 1e9;
        r.status = (r.received == target && g_cnt.badsize == 0 && g_cnt.dups == 0) ? "ok" : "badcount";
    }
    r.delivered_ok = r.received;
    for (i = 0; i < nsubs; i++)
    {
        if (mn < 0 || ctx[i].got < mn) mn = ctx[i].got;
        if (ctx[i].got > mx) mx = ctx[i].got;
    }
    snprintf(r.extra, sizeof(r.extra), "expected=%ld badsize=%ld dups=%ld per_sub_min=%ld per_sub_max=%ld",
             target, g_cnt.badsize, g_cnt.dups, mn, mx);
    print_result(&r, threads);

    natsConnection_Destroy(pnc);
    for (i = 0; i < nsubs; i++)
        natsSubscription_Destroy(subs[i]);
    natsConnection_Destroy(snc);
    free(subs); free(ctx); free(buf); free(g_cnt.seen);
    return (r.status[0] == 'o') ? 0 : 2;
}

typedef struct
{
    natsConnection *nc;
    const char     *buf;
    natsStatus      s;
} pubarg;

static void *
pub_thread(void *arg)
{
    pubarg *pa = (pubarg *) arg;
    long    i;
    for (i = 0; i < g_n && pa->s == NATS_OK; i++)
        pa->s = natsConnection_Publish(pa->nc, "bench", pa->buf, g_size);
    if (pa->s == NATS_OK)
        pa->s = natsConnection_FlushTimeout(pa->nc, 120000);
    return NULL;
}

static int
mode_sync(void)
{
    natsConnection   *snc, *pnc;
    natsSubscription *sub = NULL;
    char             *buf = make_payload(g_size);
    pubarg            pa;
    pthread_t         th;
    result            r;
    int64_t           t0, t1 = 0;
    long              got = 0, bad = 0;
    int               threads;
    natsStatus        s = NATS_OK;

    memset(&r, 0, sizeof(r));
    snc = connect_one(false);
    CHECK("natsConnection_SubscribeSync", natsConnection_SubscribeSync(&sub, snc, "bench"));
    CHECK("natsSubscription_SetPendingLimits", natsSubscription_SetPendingLimits(sub, -1, -1));
    CHECK("natsConnection_Flush(sub)", natsConnection_FlushTimeout(snc, 10000));
    pnc = connect_one(false);

    pa.nc = pnc; pa.buf = buf; pa.s = NATS_OK;
    t0 = now_ns();
    pthread_create(&th, NULL, pub_thread, &pa);
    while (got < g_n)
    {
        natsMsg *m = NULL;
        s = natsSubscription_NextMsg(&m, sub, (int64_t) g_stall * 1000);
        if (s != NATS_OK)
            break;
        if (natsMsg_GetDataLength(m) != g_size)
            bad++;
        natsMsg_Destroy(m);
        got++;
    }
    t1 = now_ns();
    pthread_join(th, NULL);
    threads = thread_count();

    r.received = got;
    r.delivered_ok = got;
    r.secs = (double) (t1 - t0) / 1e9;
    if (s == NATS_TIMEOUT)
        r.status = "timeout";
    else if (s != NATS_OK || pa.s != NATS_OK)
        r.status = "error";
    else
        r.status = (bad == 0) ? "ok" : "badcount";
    snprintf(r.extra, sizeof(r.extra), "expected=%ld badsize=%ld nextmsg=%s pubstatus=%s",
             g_n, bad, natsStatus_GetText(s), natsStatus_GetText(pa.s));
    print_result(&r, threads);

    natsConnection_Destroy(pnc);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(snc);
    free(buf);
    return (r.status[0] == 'o') ? 0 : 2;
}

static void
on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    const char *reply = natsMsg_GetReply(msg);
    (void) sub; (void) closure;
    if (reply != NULL)
        natsConnection_Publish(nc, reply, natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
    natsMsg_Destroy(msg);
}

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return (x > y) - (x < y);
}

static double
pct_us(const int64_t *sorted, long n, double p)
{
    long idx = (long) ((double) (n - 1) * p + 0.5);
    if (idx < 0) idx = 0;
    if (idx >= n) idx = n - 1;
    return (double) sorted[idx] / 1000.0;
}

static int
mode_req(void)
{
    natsConnection   *rnc, *qnc;
    natsSubscription *sub = NULL;
    char             *buf = make_payload(g_size);
    int64_t          *lat = malloc(sizeof(int64_t) * (size_t) (g_n > 0 ? g_n : 1));
    long              warm = g_n / 10 < 100 ? g_n / 10 : 100;
    long              i, done = 0, bad = 0;
    result            r;
    int64_t           t0, t1, sum = 0;
    int               threads;
    natsStatus        s = NATS_OK;

    memset(&r, 0, sizeof(r));
    rnc = connect_one(false);
    CHECK("natsConnection_Subscribe", natsConnection_Subscribe(&sub, rnc, "bench.req", on_request, NULL));
    CHECK("natsConnection_Flush(replier)", natsConnection_FlushTimeout(rnc, 10000));
    qnc = connect_one(false);

    for (i = 0; i < warm; i++)
    {
        natsMsg *m = NULL;
        CHECK("natsConnection_Request(warmup)",
              natsConnection_Request(&m, qnc, "bench.req", buf, g_size, 10000));
        natsMsg_Destroy(m);
    }

    t0 = now_ns();
    for (i = 0; i < g_n; i++)
    {
        natsMsg *m = NULL;
        int64_t  a = now_ns();
        s = natsConnection_Request(&m, qnc, "bench.req", buf, g_size, (int64_t) g_stall * 1000);
        lat[i] = now_ns() - a;
        if (s != NATS_OK)
            break;
        if (natsMsg_GetDataLength(m) != g_size)
            bad++;
        natsMsg_Destroy(m);
        sum += lat[i];
        done++;
    }
    t1 = now_ns();
    threads = thread_count();

    r.received = done;
    r.delivered_ok = done;
    r.secs = (double) (t1 - t0) / 1e9;
    if (s == NATS_TIMEOUT)
        r.status = "timeout";
    else if (s != NATS_OK)
        r.status = "error";
    else
        r.status = (bad == 0) ? "ok" : "badcount";
    if (done > 0)
    {
        qsort(lat, (size_t) done, sizeof(int64_t), cmp_i64);
        r.lat = true;
        r.p50 = pct_us(lat, done, 0.50);
        r.p90 = pct_us(lat, done, 0.90);
        r.p99 = pct_us(lat, done, 0.99);
        r.max = (double) lat[done - 1] / 1000.0;
        r.avg = (double) sum / (double) done / 1000.0;
    }
    snprintf(r.extra, sizeof(r.extra), "expected=%ld badsize=%ld reqstatus=%s", g_n, bad, natsStatus_GetText(s));
    print_result(&r, threads);

    natsConnection_Destroy(qnc);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(rnc);
    free(buf); free(lat);
    return (r.status[0] == 'o') ? 0 : 2;
}

static int
mode_threads(int nsubs, bool global, bool deliver)
{
    natsConnection    *nc = connect_one(global);
    natsSubscription **subs = calloc((size_t) nsubs, sizeof(*subs));
    subctx            *ctx  = calloc((size_t) nsubs, sizeof(*ctx));
    char              *buf  = make_payload(g_size);
    char               subj[64];
    result             r;
    int64_t            t0;
    int                i, threads;
    long               before_threads;
    bool               ok = true;

    memset(&r, 0, sizeof(r));
    counter_init(&g_cnt, deliver ? nsubs : 0);
    before_threads = thread_count();
    t0 = now_ns();
    for (i = 0; i < nsubs; i++)
    {
        ctx[i].c = &g_cnt;
        snprintf(subj, sizeof(subj), "bench.t.%d", i);
        CHECK("natsConnection_Subscribe", natsConnection_Subscribe(&subs[i], nc, subj, on_msg_count, &ctx[i]));
    }
    CHECK("natsConnection_Flush", natsConnection_FlushTimeout(nc, 30000));
    if (deliver)
    {
        /* one message to each subscription, on the same connection */
        for (i = 0; i < nsubs; i++)
        {
            snprintf(subj, sizeof(subj), "bench.t.%d", i);
            CHECK("natsConnection_Publish", natsConnection_Publish(nc, subj, buf, g_size));
        }
        CHECK("natsConnection_Flush", natsConnection_FlushTimeout(nc, 30000));
        ok = counter_wait(&g_cnt);
    }
    threads = thread_count();
    r.secs = (double) (now_ns() - t0) / 1e9;
    r.received = __atomic_load_n(&g_cnt.got, __ATOMIC_ACQUIRE);
    r.delivered_ok = r.received;
    r.status = !ok ? "timeout" : ((deliver && r.received != nsubs) || g_cnt.badsize ? "badcount" : "ok");
    snprintf(r.extra, sizeof(r.extra), "subs=%d global=%d threads_before_subs=%ld", nsubs, global ? 1 : 0,
             before_threads);
    print_result(&r, threads);

    for (i = 0; i < nsubs; i++)
        natsSubscription_Destroy(subs[i]);
    natsConnection_Destroy(nc);
    free(subs); free(ctx); free(buf);
    return (r.status[0] == 'o') ? 0 : 2;
}

/* ------------------------------------------------------------------ */
/* main                                                               */
/* ------------------------------------------------------------------ */

static void
usage(void)
{
    fprintf(stderr,
            "usage: natsbench [-url URL] [-n N] [-size S] [-k K] [-asap] [-lib NAME] [-stall SECS]\n"
            "                 pub|pubsub|sync|req|queue [K]|fanout [K]|threads|subs1000\n");
    exit(64);
}

int
main(int argc, char **argv)
{
    static char verlabel[64];
    int         i, rc = 0;

    for (i = 1; i < argc; i++)
    {
        const char *a = argv[i];
        if (a[0] == '-' && a[1] == '-')
            a++;
        if (strcmp(a, "-url") == 0 && i + 1 < argc)        g_url = argv[++i];
        else if (strcmp(a, "-n") == 0 && i + 1 < argc)     g_n = atol(argv[++i]);
        else if (strcmp(a, "-size") == 0 && i + 1 < argc)  g_size = atoi(argv[++i]);
        else if (strcmp(a, "-k") == 0 && i + 1 < argc)     g_k = atoi(argv[++i]);
        else if (strcmp(a, "-lib") == 0 && i + 1 < argc)   g_lib = argv[++i];
        else if (strcmp(a, "-stall") == 0 && i + 1 < argc) g_stall = atoi(argv[++i]);
        else if (strcmp(a, "-mode") == 0 && i + 1 < argc)  g_mode = argv[++i];
        else if (strcmp(a, "-asap") == 0)                  g_asap = true;
        else if (a[0] != '-' && g_mode == NULL)            g_mode = argv[i];
        else if (a[0] >= '0' && a[0] <= '9' && g_mode != NULL) g_k = atoi(a);
        else usage();
    }
    if (g_mode == NULL || g_n < 1 || g_size < 0 || g_k < 1)
        usage();
    if ((strcmp(g_mode, "queue") == 0) && g_size < 8)
    {
        fprintf(stderr, "queue mode needs -size >= 8 (sequence numbers)\n");
        return 64;
    }
    if (g_lib == NULL)
    {
        snprintf(verlabel, sizeof(verlabel), "v%s", nats_GetVersion());
        g_lib = verlabel;
    }

    if (strcmp(g_mode, "pub") == 0)            rc = mode_pub();
    else if (strcmp(g_mode, "pubsub") == 0)    { g_k = 1; rc = mode_async_subs(1, false); }
    else if (strcmp(g_mode, "sync") == 0)      { g_k = 1; rc = mode_sync(); }
    else if (strcmp(g_mode, "req") == 0)       { g_k = 1; rc = mode_req(); }
    else if (strcmp(g_mode, "queue") == 0)     rc = mode_async_subs(g_k, true);
    else if (strcmp(g_mode, "fanout") == 0)    rc = mode_async_subs(g_k, false);
    else if (strcmp(g_mode, "threads") == 0)   { g_k = 10; rc = mode_threads(10, false, false); }
    else if (strcmp(g_mode, "subs1000") == 0)  { g_k = 1000; rc = mode_threads(1000, true, true); }
    else usage();

    nats_Close();
    return rc;
}
