/* Resources: many subscriptions, long runs of failed connects and reconnects, fork().
 *
 * - 10,000 asynchronous subscriptions on one connection with the global delivery pool: the
 *   thread count (/proc/self/status Threads:) stays bounded, every subscription gets its
 *   message; with one thread per subscription, the threads go away with the subscriptions;
 * - natsConnection_Connect failing thousands of times, and hours' worth of connect retries
 *   and reconnect attempts (reconnect wait 1 ms) against a closed port: VmRSS after a
 *   warm-up and at the end stay within a small margin, and no thread or descriptor leaks;
 * - a slow subscription (its callback blocked) receiving one message in a hundred on the
 *   same connection as a fast one: the messages it holds must not keep alive the read
 *   buffers the fast one consumed (VmRSS stays within tens of MB, not hundreds);
 * - fork() in a process with live connections: the child creates its own connection and
 *   everything works there (async delivery, global pool, events, request/reply, inboxes
 *   distinct from the parent's, nats_CloseAndWait); the parent checks the child's exit
 *   status with waitpid, and its own connection still works afterwards;
 * - fork() while six threads of the parent make requests without pause: every child uses
 *   the library (connect, subscribe, requests, destroy) and exits cleanly, in 200 rounds.
 *
 * Under valgrind (detected through LD_PRELOAD, or NATS_TEST_UNDER_VALGRIND=1) the loops are
 * scaled down and the memory growth checks skipped (valgrind's own memory dominates; its
 * leak check covers what they would find). */
#include "harness.h"

#include <errno.h>
#include <signal.h>
#include <unistd.h>
#include <sys/wait.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define HAVE_VALGRIND_H 1
#endif
#endif

static bool gValgrind = false;



static long threads_now(void) { return h_proc_status("Threads"); }
static long rss_kb(void)      { return h_proc_status("VmRSS"); }


/* Waits until the thread count is <= target (threads exit asynchronously). */
static long
wait_threads_at_most(long target, int64_t ms)
{
    int64_t deadline = h_now_ms() + ms;
    long    t        = threads_now();

    while ((t > target) && (h_now_ms() < deadline))
    {
        h_sleep_ms(10);
        t = threads_now();
    }
    return t;
}

/* ---------------------------------------------------------------------- */
/* Many subscriptions                                                      */
/* ---------------------------------------------------------------------- */

typedef struct
{
    pthread_mutex_t mu;
    pthread_cond_t  cond;
    int             msgs;
    int             complete;
} manyState;

static manyState many = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };

static void
_manyMsg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void) nc; (void) sub; (void) closure;
    natsMsg_Destroy(msg);
    pthread_mutex_lock(&many.mu);
    many.msgs++;
    pthread_cond_broadcast(&many.cond);
    pthread_mutex_unlock(&many.mu);
}

static void
_manyComplete(void *closure)
{
    (void) closure;
    pthread_mutex_lock(&many.mu);
    many.complete++;
    pthread_cond_broadcast(&many.cond);
    pthread_mutex_unlock(&many.mu);
}

static bool
many_wait(int *field, int target, int64_t ms)
{
    int64_t deadline = h_now_ms() + ms;
    bool    ok;

    pthread_mutex_lock(&many.mu);
    while ((*field < target) && (h_now_ms() < deadline))
    {
        pthread_mutex_unlock(&many.mu);
        h_sleep_ms(5);
        pthread_mutex_lock(&many.mu);
    }
    ok = (*field >= target);
    pthread_mutex_unlock(&many.mu);
    return ok;
}

static void
many_reset(void)
{
    pthread_mutex_lock(&many.mu);
    many.msgs     = 0;
    many.complete = 0;
    pthread_mutex_unlock(&many.mu);
}

static void
test_many_subs_global_pool(void)
{
    const int           n    = (gValgrind ? 5000 : 10000);
    natsOptions         *opts = NULL;
    natsConnection      *nc   = NULL;
    natsSubscription    **subs;
    char                subj[64];
    long                tStart, t100, tAll;
    int                 i, created = 0;
    int64_t             t0;

    subs = (natsSubscription**) calloc((size_t) n, sizeof(natsSubscription*));
    REQUIRE(subs != NULL);
    many_reset();
    CHECK_OK(nats_SetMessageDeliveryPoolSize(2));
    REQUIRE_OK(natsOptions_Create(&opts));
    CHECK_OK(natsOptions_SetURL(opts, h_url()));
    CHECK_OK(natsOptions_UseGlobalMessageDelivery(opts, true));
    REQUIRE_OK(natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);

    tStart = threads_now();
    t100   = -1;
    t0     = h_now_ms();
    for (i = 0; i < n; i++)
    {
        snprintf(subj, sizeof(subj), "res.many.%d", i);
        if (natsConnection_Subscribe(&subs[i], nc, subj, _manyMsg, NULL) != NATS_OK)
            break;
        created++;
        if (i == 99)
        {
            CHECK_OK(natsConnection_Flush(nc));
            t100 = threads_now();
        }
    }
    CHECK_INT(created, n);
    CHECK_OK(natsSubscription_SetOnCompleteCB(subs[0], _manyComplete, NULL));
    CHECK_OK(natsSubscription_SetOnCompleteCB(subs[n - 1], _manyComplete, NULL));
    CHECK_OK(natsConnection_FlushTimeout(nc, 30000));
    tAll = threads_now();
    printf("    %d subscriptions in %lld ms; threads: %ld at start, %ld after 100, %ld after %d\n",
           created, (long long) (h_now_ms() - t0), tStart, t100, tAll, n);
    /* The pool (2 threads, started by the first subscription) is all that was added. */
    CHECK(tAll <= tStart + 2);
    CHECK(tAll <= t100);

    for (i = 0; i < created; i++)
    {
        snprintf(subj, sizeof(subj), "res.many.%d", i);
        if (natsConnection_PublishString(nc, subj, "x") != NATS_OK)
            break;
    }
    CHECK_OK(natsConnection_FlushTimeout(nc, 30000));
    CHECK(many_wait(&many.msgs, created, 60000));
    CHECK_INT(many.msgs, created);
    CHECK(threads_now() <= tAll);

    t0 = h_now_ms();
    for (i = 0; i < created; i++)
        natsSubscription_Destroy(subs[i]);
    CHECK_OK(natsConnection_FlushTimeout(nc, 30000));
    printf("    destroyed them in %lld ms\n", (long long) (h_now_ms() - t0));
    CHECK(many_wait(&many.complete, 2, 10000));
    /* Gone from the server too: nothing is delivered any more. */
    CHECK_OK(natsConnection_PublishString(nc, "res.many.0", "y"));
    CHECK_OK(natsConnection_Flush(nc));
    h_sleep_ms(50);
    CHECK_INT(many.msgs, created);
    natsConnection_Destroy(nc);
    free(subs);
}

static void
test_per_sub_threads_released(void)
{
    const int           n    = (gValgrind ? 150 : 300);
    natsConnection      *nc   = NULL;
    natsSubscription    **subs;
    long                tBase, tPeak, tEnd;
    int                 i, created = 0;

    subs = (natsSubscription**) calloc((size_t) n, sizeof(natsSubscription*));
    REQUIRE(subs != NULL);
    many_reset();
    REQUIRE_OK(h_connect(&nc));
    CHECK_OK(natsConnection_Flush(nc));
    tBase = threads_now();
    for (i = 0; i < n; i++)
    {
        if (natsConnection_Subscribe(&subs[i], nc, "res.perSub", _manyMsg, NULL) != NATS_OK)
            break;
        created++;
    }
    CHECK_INT(created, n);
    CHECK_OK(natsConnection_PublishString(nc, "res.perSub", "x"));
    CHECK_OK(natsConnection_Flush(nc));
    CHECK(many_wait(&many.msgs, created, 30000));
    tPeak = threads_now();
    for (i = 0; i < created; i++)
        natsSubscription_Destroy(subs[i]);
    CHECK_OK(natsConnection_Flush(nc));
    /* One delivery thread per subscription, each gone with its subscription. */
    tEnd = wait_threads_at_most(tBase, 10000);
    printf("    threads: %ld before, %ld with %d subscriptions, %ld after destroying them\n",
           tBase, tPeak, n, tEnd);
    /* (a couple of idle runtime helper threads may come and go meanwhile) */
    CHECK(tPeak >= tBase + n - 2);
    CHECK(tEnd <= tBase);
    natsConnection_Destroy(nc);
    free(subs);
}

/* ---------------------------------------------------------------------- */
/* Failed connects and reconnects: no growth                               */
/* ---------------------------------------------------------------------- */

/* Margin for VmRSS growth between the end of the warm-up and the end of a run. */
#define RSS_MARGIN_KB 1024

static void
test_failed_connect_loop(void)
{
    const int   warm  = (gValgrind ? 100 : 500);
    const int   total = (gValgrind ? 1000 : 5000);
    char        url[64];
    natsOptions *opts = NULL;
    long        rss0 = 0, rss1, thr0 = 0, thr1;
    int         fd0 = 0, fd1;
    int         i, wrong = 0;
    int64_t     t0 = h_now_ms();

    snprintf(url, sizeof(url), "nats://127.0.0.1:%d", h_closed_port());
    REQUIRE_OK(natsOptions_Create(&opts));
    CHECK_OK(natsOptions_SetURL(opts, url));
    CHECK_OK(natsOptions_SetTimeout(opts, 1000));
    for (i = 0; i < total; i++)
    {
        natsConnection  *nc = NULL;
        natsStatus      s   = natsConnection_Connect(&nc, opts);

        if ((s != NATS_NO_SERVER) || (nc != NULL))
            wrong++;
        natsConnection_Destroy(nc);
        if (i == warm - 1)
        {
            rss0 = rss_kb();
            thr0 = threads_now();
            fd0  = h_open_fds();
        }
    }
    natsOptions_Destroy(opts);
    CHECK_INT(wrong, 0);
    rss1 = rss_kb();
    thr1 = wait_threads_at_most(thr0, 5000);
    fd1  = h_open_fds();
    printf("    %d failed connects in %lld ms; VmRSS %ld kB after %d, %ld kB after %d; "
           "threads %ld -> %ld; fds %d -> %d\n", total, (long long) (h_now_ms() - t0),
           rss0, warm, rss1, total, thr0, thr1, fd0, fd1);
    if (!gValgrind)
        CHECK(rss1 <= rss0 + RSS_MARGIN_KB);
    CHECK(thr1 <= thr0);
    CHECK(fd1 <= fd0);
}

typedef struct
{
    pthread_mutex_t mu;
    int             attempts;       /* passes over the server list (delay callback) */
    int             closed;
    int             connected;
    int             reconnected;
} retryState;

static retryState retryA = { PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0 };
static retryState retryB = { PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0 };

static int64_t
_delayCb(natsConnection *nc, int attempts, void *closure)
{
    retryState *r = (retryState*) closure;

    (void) nc; (void) attempts;
    pthread_mutex_lock(&r->mu);
    r->attempts++;
    pthread_mutex_unlock(&r->mu);
    return 1;
}

static void
_retryClosed(natsConnection *nc, void *closure)
{
    retryState *r = (retryState*) closure;

    (void) nc;
    pthread_mutex_lock(&r->mu);
    r->closed++;
    pthread_mutex_unlock(&r->mu);
}

static void
_retryConnected(natsConnection *nc, void *closure)
{
    retryState *r = (retryState*) closure;

    (void) nc;
    pthread_mutex_lock(&r->mu);
    r->connected++;
    pthread_mutex_unlock(&r->mu);
}

static void
_retryReconnected(natsConnection *nc, void *closure)
{
    retryState *r = (retryState*) closure;

    (void) nc;
    pthread_mutex_lock(&r->mu);
    r->reconnected++;
    pthread_mutex_unlock(&r->mu);
}

static int
retry_get(retryState *r, int *field)
{
    int v;

    pthread_mutex_lock(&r->mu);
    v = *field;
    pthread_mutex_unlock(&r->mu);
    return v;
}

static bool
retry_wait(retryState *r, int *field, int target, int64_t ms)
{
    int64_t deadline = h_now_ms() + ms;

    while ((retry_get(r, field) < target) && (h_now_ms() < deadline))
        h_sleep_ms(5);
    return retry_get(r, field) >= target;
}

static natsStatus
retry_opts(natsOptions **opts, const char *url, retryState *r)
{
    natsStatus s = natsOptions_Create(opts);

    if (s == NATS_OK)
        s = natsOptions_SetURL(*opts, url);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(*opts, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(*opts, 1);
    if (s == NATS_OK)
        s = natsOptions_SetCustomReconnectDelay(*opts, _delayCb, r);
    if (s == NATS_OK)
        s = natsOptions_SetClosedCB(*opts, _retryClosed, r);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB(*opts, _retryReconnected, r);
    return s;
}

/* Two connections retry at once, with a 1 ms wait, against closed ports: A from the start
 * (RetryOnFailedConnect, asynchronous with a connected callback), B after losing its
 * server. N thousand attempts each: at the default 2 s wait, hours of retrying. */
static void
test_retry_and_reconnect_loops(void)
{
    const int       warm  = (gValgrind ? 100 : 1000);
    const int       total = (gValgrind ? 1500 : 10000);
    h_server        srv;
    char            closedUrl[64];
    natsOptions     *opts = NULL;
    natsConnection  *a = NULL, *b = NULL;
    natsSubscription *sub = NULL;
    natsStatus      s;
    long            rss0, rss1, thr0, thr1;
    int             fd0, fd1;
    int64_t         t0;

    snprintf(closedUrl, sizeof(closedUrl), "nats://127.0.0.1:%d", h_closed_port());
    REQUIRE(h_server_start(&srv, NULL, NULL));

    /* B: connected, with a subscription, then its server goes away for good. */
    REQUIRE_OK(retry_opts(&opts, srv.url, &retryB));
    REQUIRE_OK(natsConnection_Connect(&b, opts));
    natsOptions_Destroy(opts);
    opts = NULL;
    CHECK_OK(natsConnection_SubscribeSync(&sub, b, "res.retry"));
    CHECK_OK(natsConnection_Flush(b));

    /* A: never connects. */
    REQUIRE_OK(retry_opts(&opts, closedUrl, &retryA));
    CHECK_OK(natsOptions_SetRetryOnFailedConnect(opts, true, _retryConnected, &retryA));
    s = natsConnection_Connect(&a, opts);
    natsOptions_Destroy(opts);
    CHECK_STATUS(s, NATS_NOT_YET_CONNECTED);
    REQUIRE(a != NULL);

    t0 = h_now_ms();
    h_server_stop(&srv);
    CHECK(retry_wait(&retryA, &retryA.attempts, warm, 60000));
    CHECK(retry_wait(&retryB, &retryB.attempts, warm, 60000));
    rss0 = rss_kb();
    thr0 = threads_now();
    fd0  = h_open_fds();
    CHECK(retry_wait(&retryA, &retryA.attempts, total, 300000));
    CHECK(retry_wait(&retryB, &retryB.attempts, total, 300000));
    rss1 = rss_kb();
    thr1 = threads_now();
    fd1  = h_open_fds();
    printf("    %d + %d attempts in %lld ms; VmRSS %ld kB after %d, %ld kB after %d; "
           "threads %ld -> %ld; fds %d -> %d\n",
           retry_get(&retryA, &retryA.attempts), retry_get(&retryB, &retryB.attempts),
           (long long) (h_now_ms() - t0), rss0, warm, rss1, total, thr0, thr1, fd0, fd1);
    if (!gValgrind)
        CHECK(rss1 <= rss0 + RSS_MARGIN_KB);
    CHECK(thr1 <= thr0);
    /* Each of the two connections may have an attempt's socket open at the moment of a
     * count; a leak would show as hundreds. */
    CHECK(fd1 <= fd0 + 2);
    CHECK(natsConnection_IsReconnecting(a));
    CHECK(natsConnection_IsReconnecting(b));
    CHECK_INT(retry_get(&retryA, &retryA.connected), 0);

    /* The server comes back: B reconnects with its subscription, A keeps trying. */
    CHECK(h_server_restart(&srv));
    CHECK(retry_wait(&retryB, &retryB.reconnected, 1, 10000));
    CHECK_OK(natsConnection_PublishString(b, "res.retry", "back"));
    {
        natsMsg *m = NULL;

        CHECK_OK(natsSubscription_NextMsg(&m, sub, 5000));
        natsMsg_Destroy(m);
    }
    natsSubscription_Destroy(sub);

    t0 = h_now_ms();
    natsConnection_Destroy(a);
    natsConnection_Destroy(b);
    CHECK(h_now_ms() - t0 < 5000);
    CHECK(retry_wait(&retryA, &retryA.closed, 1, 5000));
    CHECK(retry_wait(&retryB, &retryB.closed, 1, 5000));
    h_server_destroy(&srv);
}

/* ---------------------------------------------------------------------- */
/* fork()                                                                  */
/* ---------------------------------------------------------------------- */

typedef struct
{
    pthread_mutex_t mu;
    pthread_cond_t  cond;
    int             msgs;
    int             closed;
} forkState;

static forkState fst = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };

static void
_fMsg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void) nc; (void) sub; (void) closure;
    natsMsg_Destroy(msg);
    pthread_mutex_lock(&fst.mu);
    fst.msgs++;
    pthread_mutex_unlock(&fst.mu);
}

static void
_fClosed(natsConnection *nc, void *closure)
{
    (void) nc; (void) closure;
    pthread_mutex_lock(&fst.mu);
    fst.closed++;
    pthread_mutex_unlock(&fst.mu);
}

static void
_fEcho(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    char buf[128];

    (void) sub; (void) closure;
    snprintf(buf, sizeof(buf), "%d:%s", (int) getpid(), natsMsg_GetData(msg));
    if (natsMsg_GetReply(msg) != NULL)
        natsConnection_PublishString(nc, natsMsg_GetReply(msg), buf);
    natsMsg_Destroy(msg);
}

static bool
f_wait(int *field, int target, int64_t ms)
{
    int64_t deadline = h_now_ms() + ms;
    int     v;

    for (;;)
    {
        pthread_mutex_lock(&fst.mu);
        v = *field;
        pthread_mutex_unlock(&fst.mu);
        if ((v >= target) || (h_now_ms() >= deadline))
            break;
        h_sleep_ms(2);
    }
    return v >= target;
}

/* Child failure bits (the exit status). */
#define CF_CONNECT      0x01
#define CF_ASYNC        0x02
#define CF_GLOBAL       0x04
#define CF_REQUEST      0x08
#define CF_CLOSED_CB    0x10
#define CF_CLOSE_WAIT   0x20
#define CF_SYNC         0x40
#define CF_VALGRIND     0x80

static const char *cfNames[] =
{
    "connect", "async delivery", "global pool delivery", "request/reply",
    "closed callback", "nats_CloseAndWait", "sync subscription", "valgrind errors"
};

/* Runs in the child. Uses only its own, new connections. Writes its inbox, then one byte
 * (the failure bits) to `fd`. */
static int
child_main(const char *url, int fd)
{
    natsOptions         *opts = NULL;
    natsConnection      *nc   = NULL;
    natsSubscription    *as   = NULL, *gs = NULL, *ss = NULL, *svc = NULL;
    natsConnection      *gnc  = NULL;
    natsInbox           *inbox = NULL;
    natsMsg             *m    = NULL;
    char                expect[64];
    int                 fail  = 0;
    ssize_t             wr;

    /* A hang in the child ends it with SIGALRM, which the parent reports. */
    alarm(30);
    pthread_mutex_lock(&fst.mu);
    fst.msgs   = 0;
    fst.closed = 0;
    pthread_mutex_unlock(&fst.mu);

    if (natsInbox_Create(&inbox) == NATS_OK)
    {
        char buf[128];

        /* Fixed size record: the result byte follows. */
        memset(buf, 0, sizeof(buf));
        snprintf(buf, sizeof(buf), "%s", inbox);
        wr = write(fd, buf, sizeof(buf));
        (void) wr;
        natsInbox_Destroy(inbox);
    }

    if ((natsOptions_Create(&opts) != NATS_OK)
        || (natsOptions_SetURL(opts, url) != NATS_OK)
        || (natsOptions_SetClosedCB(opts, _fClosed, NULL) != NATS_OK)
        || (natsConnection_Connect(&nc, opts) != NATS_OK))
    {
        natsOptions_Destroy(opts);
        return CF_CONNECT;
    }
    /* Per-subscription delivery thread. */
    if ((natsConnection_Subscribe(&as, nc, "res.fork.child", _fMsg, NULL) != NATS_OK)
        || (natsConnection_PublishString(nc, "res.fork.child", "a") != NATS_OK)
        || (natsConnection_Flush(nc) != NATS_OK)
        || !f_wait(&fst.msgs, 1, 5000))
        fail |= CF_ASYNC;
    /* Global delivery pool, on a second connection. */
    if ((natsOptions_UseGlobalMessageDelivery(opts, true) != NATS_OK)
        || (natsConnection_Connect(&gnc, opts) != NATS_OK)
        || (natsConnection_Subscribe(&gs, gnc, "res.fork.child.g", _fMsg, NULL) != NATS_OK)
        || (natsConnection_Flush(gnc) != NATS_OK)
        || (natsConnection_PublishString(nc, "res.fork.child.g", "g") != NATS_OK)
        || (natsConnection_Flush(nc) != NATS_OK)
        || !f_wait(&fst.msgs, 2, 5000))
        fail |= CF_GLOBAL;
    natsOptions_Destroy(opts);
    /* Synchronous subscription. */
    if ((natsConnection_SubscribeSync(&ss, nc, "res.fork.sync") != NATS_OK)
        || (natsConnection_PublishString(nc, "res.fork.sync", "s") != NATS_OK)
        || (natsSubscription_NextMsg(&m, ss, 5000) != NATS_OK))
        fail |= CF_SYNC;
    natsMsg_Destroy(m);
    m = NULL;
    /* Request/reply, answered by this process. */
    snprintf(expect, sizeof(expect), "%d:q", (int) getpid());
    if ((natsConnection_Subscribe(&svc, nc, "res.fork.svc.child", _fEcho, NULL) != NATS_OK)
        || (natsConnection_RequestString(&m, nc, "res.fork.svc.child", "q", 5000) != NATS_OK)
        || (strcmp(natsMsg_GetData(m), expect) != 0))
        fail |= CF_REQUEST;
    natsMsg_Destroy(m);

    natsSubscription_Destroy(as);
    natsSubscription_Destroy(gs);
    natsSubscription_Destroy(ss);
    natsSubscription_Destroy(svc);
    natsConnection_Destroy(nc);
    natsConnection_Destroy(gnc);
    if (!f_wait(&fst.closed, 2, 5000))
        fail |= CF_CLOSED_CB;
    /* The library's threads of this process end (the parent's do not exist here). The
     * parent's connection is not destroyed: it is not this process's. */
    if (nats_CloseAndWait(10000) != NATS_OK)
        fail |= CF_CLOSE_WAIT;
#ifdef HAVE_VALGRIND_H
    /* Memory errors (not leaks) valgrind saw in this process. */
    if (VALGRIND_COUNT_ERRORS > 0)
        fail |= CF_VALGRIND;
#endif
    {
        unsigned char r = (unsigned char) fail;

        wr = write(fd, &r, 1);
        (void) wr;
    }
    return fail;
}

typedef struct
{
    natsConnection  *nc;
    volatile bool   stop;
} fpub;

static void*
_forkPublisher(void *arg)
{
    fpub *p = (fpub*) arg;

    while (!p->stop)
    {
        natsConnection_PublishString(p->nc, "res.fork.parent", "p");
        h_sleep_ms(1);
    }
    return NULL;
}

/* Forks with a pipe from the child to the parent. Each process keeps only its own end open
 * (pfd[1] in the child, pfd[0] in the parent). Returns 0 in the child, the child's pid in
 * the parent, -1 when pipe() or fork() failed (nothing is left open). */
static pid_t
_forkPiped(int pfd[2])
{
    pid_t pid;

    if (pipe(pfd) != 0)
        return -1;
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid == 0)
        close(pfd[0]);
    else
    {
        close(pfd[1]);
        if (pid < 0)
            close(pfd[0]);
    }
    return pid;
}

/* Ends a forked child with `code`, which the parent sees through waitpid.
 * Under valgrind, the leak check at the child's exit would report what the parent's threads
 * owned (their stacks are gone in a child) as lost: a fork artifact. There the child must
 * have reported its result, memory errors included, through its pipe: it ends by exec'ing
 * `true`, which valgrind (without --trace-children) runs natively, with no leak check of the
 * image it replaces (its exit status is then 0). */
static void
_endChild(int code)
{
    if (gValgrind)
    {
        execlp("true", "true", (char*) NULL);
        raise(SIGKILL);
    }
    /* _exit: the child must not run the parent's atexit handlers (they stop servers). */
    _exit(code);
}

static void
_forkOnce(int round)
{
    natsOptions         *opts = NULL;
    natsConnection      *nc   = NULL;
    natsSubscription    *as   = NULL, *svc = NULL;
    natsMsg             *reply = NULL;
    natsInbox           *mine  = NULL;
    fpub                pub;
    pthread_t           pth;
    bool                pubStarted;
    int                 pfd[2];
    char                childInbox[128];
    static char         prevChildInbox[128];
    int                 result;
    ssize_t             got = 0;
    pid_t               pid;
    int                 status = 0, i, before;
    bool                exited = false;
    int64_t             deadline;
    char                expect[64];

    /* The parent: a connection with async deliveries flowing, global pool delivery, the
     * event thread started (closed callback) and the request/reply machinery in use. */
    REQUIRE_OK(natsOptions_Create(&opts));
    CHECK_OK(natsOptions_SetURL(opts, h_url()));
    CHECK_OK(natsOptions_SetClosedCB(opts, _fClosed, NULL));
    CHECK_OK(natsOptions_UseGlobalMessageDelivery(opts, (round % 2) == 1));
    REQUIRE_OK(natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);
    REQUIRE_OK(natsConnection_Subscribe(&as, nc, "res.fork.parent", _fMsg, NULL));
    REQUIRE_OK(natsConnection_Subscribe(&svc, nc, "res.fork.svc", _fEcho, NULL));
    CHECK_OK(natsConnection_RequestString(&reply, nc, "res.fork.svc", "before", 5000));
    natsMsg_Destroy(reply);
    reply = NULL;
    pub.nc   = nc;
    pub.stop = false;
    pubStarted = (pthread_create(&pth, NULL, _forkPublisher, &pub) == 0);
    CHECK(pubStarted);
    CHECK(f_wait(&fst.msgs, 10, 5000));

    pid = _forkPiped(pfd);
    if (pid == 0)
    {
        int r = child_main(h_url(), pfd[1]);

        close(pfd[1]);
        _endChild(r);
    }
    REQUIRE(pid > 0);

    /* Inboxes (NUIDs) are unique across the processes: the parent, and children forked
     * from the same thread. */
    CHECK_OK(natsInbox_Create(&mine));
    memset(childInbox, 0, sizeof(childInbox));
    result = -1;
    for (;;)
    {
        unsigned char   r;
        ssize_t         n;

        if (got < (ssize_t) sizeof(childInbox))
            n = read(pfd[0], childInbox + got, sizeof(childInbox) - (size_t) got);
        else
            n = read(pfd[0], &r, 1);
        if ((n > 0) && (got < (ssize_t) sizeof(childInbox)))
            got += n;
        else if (n > 0)
            result = r;
        else if ((n < 0) && (errno == EINTR))
            continue;
        else
            break;
    }
    close(pfd[0]);
    childInbox[sizeof(childInbox) - 1] = '\0';
    CHECK(got == (ssize_t) sizeof(childInbox));
    if ((got > 0) && (mine != NULL))
    {
        if (!CHECK(strcmp(childInbox, mine) != 0))
            fprintf(stderr, "parent and child created the same inbox: %s\n", mine);
    }
    if ((got > 0) && (prevChildInbox[0] != '\0'))
    {
        if (!CHECK(strcmp(childInbox, prevChildInbox) != 0))
            fprintf(stderr, "two children created the same inbox: %s\n", childInbox);
    }
    snprintf(prevChildInbox, sizeof(prevChildInbox), "%s", childInbox);
    natsInbox_Destroy(mine);

    deadline = h_now_ms() + 40000;
    while (h_now_ms() < deadline)
    {
        pid_t w = waitpid(pid, &status, WNOHANG);

        if (w == pid)
        {
            exited = true;
            break;
        }
        h_sleep_ms(10);
    }
    if (!CHECK(exited))
    {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fprintf(stderr, "the child did not exit in time\n");
    }
    else if (WIFSIGNALED(status))
    {
        CHECK(false);
        fprintf(stderr, "the child was killed by signal %d%s\n", WTERMSIG(status),
                (WTERMSIG(status) == SIGALRM ? " (it hung)" : ""));
    }
    else
    {
        CHECK(WIFEXITED(status));
        /* Under valgrind the child ends with `true` (see the child). */
        CHECK_INT(WEXITSTATUS(status), (gValgrind ? 0 : result));
    }
    if (!CHECK_INT(result, 0) && (result > 0))
    {
        for (i = 0; i < 8; i++)
            if (result & (1 << i))
                fprintf(stderr, "child failed: %s\n", cfNames[i]);
    }

    /* The parent's connection is unaffected. */
    pthread_mutex_lock(&fst.mu);
    before = fst.msgs;
    pthread_mutex_unlock(&fst.mu);
    CHECK(f_wait(&fst.msgs, before + 10, 5000));
    snprintf(expect, sizeof(expect), "%d:after", (int) getpid());
    CHECK_OK(natsConnection_RequestString(&reply, nc, "res.fork.svc", "after", 5000));
    if (reply != NULL)
        CHECK_STR(natsMsg_GetData(reply), expect);
    natsMsg_Destroy(reply);
    pub.stop = true;
    if (pubStarted)
        pthread_join(pth, NULL);
    natsSubscription_Destroy(as);
    natsSubscription_Destroy(svc);
    pthread_mutex_lock(&fst.mu);
    before = fst.closed;
    pthread_mutex_unlock(&fst.mu);
    natsConnection_Destroy(nc);
    CHECK(f_wait(&fst.closed, before + 1, 5000));
}

/* ---- a slow subscription next to a fast one ---- */

typedef struct
{
    h_waiter fast;      /* messages the fast subscription got */
    h_waiter release;   /* flag: the slow callback may return */
    h_waiter slow;      /* messages the slow subscription got */
} pinState;

static void
_onFast(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void) nc; (void) sub;
    natsMsg_Destroy(msg);
    h_waiter_add(&((pinState *) closure)->fast, 1);
}

static void
_onSlow(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    pinState *st = (pinState *) closure;

    (void) nc; (void) sub;
    h_waiter_wait_flag(&st->release, 120000);
    natsMsg_Destroy(msg);
    h_waiter_add(&st->slow, 1);
}

static void
test_slow_subscription_does_not_pin_read_buffers(void)
{
    /* 1,000,000 messages of 128 B, one in 100 for the slow subscription: it ends up holding
     * 10,000 messages (1.3 MB of data). If each kept its whole read buffer alive, they
     * would hold on to nearly everything the fast subscription consumed (about 150 MB). */
    const int         total = (gValgrind ? 20000 : 1000000);
    const int         every = 100;
    const int         nslow = (total + every - 1) / every;
    natsConnection    *nc = NULL, *pub = NULL;
    natsSubscription  *fast = NULL, *slow = NULL;
    pinState          st;
    char              payload[128];
    long              rss0, rss1;
    int               pm = 0, pb = 0;

    memset(payload, 'p', sizeof(payload));
    h_waiter_init(&st.fast);
    h_waiter_init(&st.release);
    h_waiter_init(&st.slow);
    REQUIRE_OK(h_connect(&nc));
    REQUIRE_OK(h_connect(&pub));
    CHECK_OK(natsConnection_Subscribe(&fast, nc, "res.pin.fast", _onFast, &st));
    CHECK_OK(natsConnection_Subscribe(&slow, nc, "res.pin.slow", _onSlow, &st));
    CHECK_OK(natsSubscription_SetPendingLimits(fast, -1, -1));
    CHECK_OK(natsSubscription_SetPendingLimits(slow, -1, -1));
    CHECK_OK(natsConnection_Flush(nc));
    rss0 = rss_kb();
    for (int i = 0; i < total; i++)
    {
        natsStatus s = natsConnection_PublishString(pub, (i % every == 0) ? "res.pin.slow" : "res.pin.fast", payload);
        if (s != NATS_OK)
        {
            CHECK_OK(s);
            break;
        }
    }
    CHECK_OK(natsConnection_Flush(pub));
    CHECK(h_waiter_wait(&st.fast, total - nslow, 120000));
    /* One message is in the blocked callback; the rest wait behind it. */
    CHECK_OK(natsSubscription_GetPending(slow, &pm, &pb));
    CHECK(pm >= nslow - 1 && pm <= nslow);
    rss1 = rss_kb();
    printf("    slow subscription holds %d messages (%d bytes); VmRSS %ld kB -> %ld kB\n", pm, pb, rss0, rss1);
    if (!gValgrind)
        CHECK(rss1 - rss0 < 64 * 1024);

    h_waiter_set_flag(&st.release);
    CHECK(h_waiter_wait(&st.slow, nslow, 60000));
    natsSubscription_Destroy(fast);
    natsSubscription_Destroy(slow);
    natsConnection_Destroy(nc);
    natsConnection_Destroy(pub);
    h_waiter_destroy(&st.fast);
    h_waiter_destroy(&st.release);
    h_waiter_destroy(&st.slow);
}

static void
test_fork_child_usable(void)
{
    _forkOnce(0);   /* per-subscription delivery in the parent */
    _forkOnce(1);   /* global pool delivery in the parent */
}

/* ---- fork() while the parent's library threads lock and wait ---- */

typedef struct
{
    natsConnection  *nc;
    volatile bool   stop;
    int             ok;
} fbusy;

static void*
_forkRequester(void *arg)
{
    fbusy   *b = (fbusy*) arg;
    natsMsg *r = NULL;

    while (!b->stop)
    {
        if (natsConnection_RequestString(&r, b->nc, "res.fork.busy", "q", 5000) == NATS_OK)
        {
            __atomic_fetch_add(&b->ok, 1, __ATOMIC_RELAXED);
            natsMsg_Destroy(r);
            r = NULL;
        }
    }
    return NULL;
}

/* The child: its own connection, a service on it and requests to that service, which wait
 * on the library's locks and condition variables. Returns 0 when all of it worked. */
static int
_busyChild(const char *url)
{
    natsConnection      *nc  = NULL;
    natsSubscription    *svc = NULL;
    natsMsg             *r   = NULL;
    int                 i;

    alarm(30);
    if (natsConnection_ConnectTo(&nc, url) != NATS_OK)
        return 1;
    if (natsConnection_Subscribe(&svc, nc, "res.fork.busy.child", _fEcho, NULL) != NATS_OK)
        return 2;
    for (i = 0; i < 5; i++)
    {
        if (natsConnection_RequestString(&r, nc, "res.fork.busy.child", "c", 5000) != NATS_OK)
            return 3;
        natsMsg_Destroy(r);
        r = NULL;
    }
    natsSubscription_Destroy(svc);
    natsConnection_Destroy(nc);
    return 0;
}

static void
test_fork_while_library_threads_wait(void)
{
    /* Six threads of the parent make requests without pause, so that at any instant some
     * thread of the parent (a requester, the reader, the delivery thread, the writer) is
     * taking or releasing a lock or going to sleep on one. A fork() then copies that
     * instant into the child. A lock implementation with state shared across objects
     * (a process-wide table of sleeping threads) leaves that state half-updated in the
     * child, whose own waits then crash or hang: with such a lock, about one child in
     * ten of this loop died of SIGSEGV. */
    const int           rounds = (gValgrind ? 8 : 200);
    natsConnection      *nc    = NULL;
    natsSubscription    *svc   = NULL;
    fbusy               b;
    pthread_t           th[6];
    bool                started[6];
    int                 i, bad = 0;

    REQUIRE_OK(h_connect(&nc));
    REQUIRE_OK(natsConnection_Subscribe(&svc, nc, "res.fork.busy", _fEcho, NULL));
    CHECK_OK(natsConnection_Flush(nc));
    b.nc   = nc;
    b.stop = false;
    b.ok   = 0;
    for (i = 0; i < 6; i++)
        started[i] = (pthread_create(&th[i], NULL, _forkRequester, &b) == 0);

    for (i = 0; i < rounds; i++)
    {
        int     pfd[2];
        pid_t   pid;
        int     status = 0;
        char    res = -1;

        pid = _forkPiped(pfd);
        if (pid == 0)
        {
            ssize_t wr;

            res = (char) _busyChild(h_url());
            wr = write(pfd[1], &res, 1);
            (void) wr;
            _endChild(0);
        }
        REQUIRE(pid > 0);
        while ((read(pfd[0], &res, 1) < 0) && (errno == EINTR))
            ;
        close(pfd[0]);
        while ((waitpid(pid, &status, 0) < 0) && (errno == EINTR))
            ;
        if (WIFSIGNALED(status) || (res != 0))
        {
            bad++;
            fprintf(stderr, "fork round %d: child %s %d\n", i,
                    (WIFSIGNALED(status) ? "killed by signal" : "failed at step"),
                    (WIFSIGNALED(status) ? WTERMSIG(status) : (int) res));
        }
    }
    CHECK_INT(bad, 0);

    b.stop = true;
    for (i = 0; i < 6; i++)
        if (started[i])
            pthread_join(th[i], NULL);
    /* The requests went on around the forks. */
    CHECK(__atomic_load_n(&b.ok, __ATOMIC_RELAXED) > 0);
    natsSubscription_Destroy(svc);
    natsConnection_Destroy(nc);
}

int
main(void)
{
    gValgrind = h_under_valgrind();
    if (!h_default_server_start())
        return h_finish();

    RUN_TEST(test_many_subs_global_pool);
    RUN_TEST(test_per_sub_threads_released);
    RUN_TEST(test_failed_connect_loop);
    RUN_TEST(test_retry_and_reconnect_loops);
    RUN_TEST(test_slow_subscription_does_not_pin_read_buffers);
    RUN_TEST(test_fork_child_usable);
    RUN_TEST(test_fork_while_library_threads_wait);
    return h_finish();
}
