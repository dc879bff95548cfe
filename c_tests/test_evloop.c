/*
 * External event loop: connections whose socket an event loop polls, through an adapter
 * header (natsOptions_SetEventLoop and the natsConnection_Process*Event functions),
 * against a real nats-server. Built twice: with <nats/adapters/libevent.h> (test_evloop)
 * and, with NATS_TEST_LIBUV defined, with <nats/adapters/libuv.h> (test_evloop_uv).
 *
 * - publish, subscribe, flush and request with the loop on its own thread;
 * - the loop run by the thread that connected and publishes (single-threaded use);
 * - a server restart: the old socket is closed, the new one attached, traffic resumes;
 * - an attach that fails fails the connect, and leaves no socket open;
 * - the Process*Event functions on a connection without a loop do nothing.
 *
 * The adapter callbacks are wrapped to count the calls; each count is checked against
 * what the connection's life requires. Descriptors are counted in /proc/self/fd.
 */
#include "harness.h"

#include <fcntl.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* The adapter under test, and how the tests drive its loop                  */
/* ------------------------------------------------------------------------ */

#ifdef NATS_TEST_LIBUV
#include <nats/adapters/libuv.h>

typedef uv_loop_t testLoop;

#define ADAPTER_ATTACH  natsLibuv_Attach
#define ADAPTER_READ    natsLibuv_Read
#define ADAPTER_WRITE   natsLibuv_Write
#define ADAPTER_DETACH  natsLibuv_Detach

static void
_adapterInit(void)
{
    natsLibuv_Init();
}

static testLoop *
_loopNew(void)
{
    uv_loop_t *l = (uv_loop_t*) calloc(1, sizeof(uv_loop_t));

    if ((l != NULL) && (uv_loop_init(l) != 0))
    {
        free(l);
        l = NULL;
    }
    return l;
}

/* The calling thread runs the loop from now on. */
static void
_loopOwn(testLoop *l)
{
    natsLibuv_SetThreadLocalLoop(l);
}

/* Runs until nothing is left in the loop. */
static void
_loopRun(testLoop *l)
{
    uv_run(l, UV_RUN_DEFAULT);
}

/* Handles what is ready, without waiting. */
static void
_loopPoll(testLoop *l)
{
    uv_run(l, UV_RUN_NOWAIT);
}

/* Runs what is left; true when the loop then had nothing left. */
static bool
_loopRunsOut(testLoop *l)
{
    return uv_run(l, UV_RUN_DEFAULT) == 0;
}

static void
_loopFree(testLoop *l)
{
    uv_loop_close(l);
    free(l);
}
#else
#include <nats/adapters/libevent.h>

typedef struct event_base testLoop;

#define ADAPTER_ATTACH  natsLibevent_Attach
#define ADAPTER_READ    natsLibevent_Read
#define ADAPTER_WRITE   natsLibevent_Write
#define ADAPTER_DETACH  natsLibevent_Detach

static void
_adapterInit(void)
{
    natsLibevent_Init();
}

static testLoop *
_loopNew(void)
{
    return event_base_new();
}

static void
_loopOwn(testLoop *l)
{
    (void) l;
}

static void
_loopRun(testLoop *l)
{
    event_base_dispatch(l);
}

static void
_loopPoll(testLoop *l)
{
    event_base_loop(l, EVLOOP_NONBLOCK);
}

static bool
_loopRunsOut(testLoop *l)
{
    return event_base_loop(l, 0) == 1;
}

static void
_loopFree(testLoop *l)
{
    event_base_free(l);
}
#endif

/* ------------------------------------------------------------------------ */
/* Counting wrappers around the adapter                                      */
/* ------------------------------------------------------------------------ */

typedef struct
{
    int         attach, detach, readAdd, readRemove, writeAdd, writeRemove;
    int         failAttach;
    pthread_t   firstAttachThread;
} evCounts;

static evCounts counts;

static int
_get(int *v)
{
    return __atomic_load_n(v, __ATOMIC_SEQ_CST);
}

static void
_inc(int *v)
{
    __atomic_add_fetch(v, 1, __ATOMIC_SEQ_CST);
}

static natsStatus
_attach(void **userData, void *loop, natsConnection *nc, natsSock sock)
{
    if (__atomic_add_fetch(&counts.attach, 1, __ATOMIC_SEQ_CST) == 1)
        counts.firstAttachThread = pthread_self();
    if (_get(&counts.failAttach))
        return NATS_ERR;
    return ADAPTER_ATTACH(userData, loop, nc, sock);
}

static natsStatus
_read(void *userData, bool add)
{
    _inc(add ? &counts.readAdd : &counts.readRemove);
    return ADAPTER_READ(userData, add);
}

static natsStatus
_write(void *userData, bool add)
{
    _inc(add ? &counts.writeAdd : &counts.writeRemove);
    return ADAPTER_WRITE(userData, add);
}

static natsStatus
_detach(void *userData)
{
    _inc(&counts.detach);
    return ADAPTER_DETACH(userData);
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct
{
    testLoop            *base;
    pthread_t           th;
    int                 done;
} loopThread;

static void *
_runLoop(void *arg)
{
    loopThread *lt = (loopThread*) arg;

    _loopOwn(lt->base);
    _loopRun(lt->base);
    __atomic_store_n(&lt->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static bool
_loopDone(void *arg)
{
    return _get(&((loopThread*) arg)->done) != 0;
}

static bool
_writeAdded(void *arg)
{
    (void) arg;
    return _get(&counts.writeAdd) >= 1;
}

static natsOptions *
_loopOpts(const h_server *srv, testLoop *base)
{
    natsOptions *opts = h_opts(srv, 5000);

    if ((opts != NULL)
        && (natsOptions_SetEventLoop(opts, (void*) base, _attach, _read, _write, _detach) != NATS_OK))
    {
        natsOptions_Destroy(opts);
        opts = NULL;
    }
    return opts;
}

typedef struct
{
    h_waiter    w;
    int         badSize;
} received;

static void
_onMsg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    received *r = (received*) closure;

    (void) nc; (void) sub;
    if (natsMsg_GetDataLength(msg) != 5)
        __atomic_add_fetch(&r->badSize, 1, __ATOMIC_SEQ_CST);
    natsMsg_Destroy(msg);
    h_waiter_add(&r->w, 1);
}

static void
_onRequest(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void) sub; (void) closure;
    if (natsMsg_GetReply(msg) != NULL)
        natsConnection_PublishString(nc, natsMsg_GetReply(msg), "pong");
    natsMsg_Destroy(msg);
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                     */
/* ------------------------------------------------------------------------ */

/* What each loop test starts with: a server, a loop, options with the counting adapter, a
 * receiver, and the descriptors open before the loop existed. */
typedef struct
{
    h_server    srv;
    testLoop    *base;
    natsOptions *opts;
    loopThread  lt;
    bool        threaded;
    received    r;
    int         fds0;

} fixture;

static bool
_fxStart(fixture *fx)
{
    memset(fx, 0, sizeof(*fx));
    memset(&counts, 0, sizeof(counts));
    h_waiter_init(&fx->r.w);
    if (!CHECK(h_server_start(&fx->srv, NULL, NULL)))
        return false;
    fx->fds0 = h_open_fds();
    fx->base = _loopNew();
    fx->lt.base = fx->base;
    if (fx->base != NULL)
        fx->opts = _loopOpts(&fx->srv, fx->base);
    return CHECK(fx->opts != NULL);
}

/* Connects on the loop's behalf (cnats' libuv adapter wants the first attach made on the
 * loop's thread), then, if `threaded`, runs the loop on a thread of its own. */
static natsStatus
_fxConnect(fixture *fx, natsConnection **nc, bool threaded)
{
    natsStatus s;

    _loopOwn(fx->base);
    s = natsConnection_Connect(nc, fx->opts);
    if (threaded)
    {
        _loopOwn(NULL);
        if ((s == NATS_OK) && CHECK(pthread_create(&fx->lt.th, NULL, _runLoop, &fx->lt) == 0))
            fx->threaded = true;
    }
    return s;
}

/* Once the connection is destroyed: the loop's thread returns (nothing is left in the
 * loop), and after the loop is freed no descriptor of the test is left open. */
static void
_fxEnd(fixture *fx)
{
    if (fx->threaded)
    {
        CHECK(h_wait_until(_loopDone, &fx->lt, 10000));
        if (_loopDone(&fx->lt))
            pthread_join(fx->lt.th, NULL);
    }
    _loopOwn(NULL);
    if (fx->base != NULL)
    {
        _loopFree(fx->base);
#ifdef NATS_TEST_THIS_LIBRARY
        /* The sockets were closed by the adapter, through natsConnection_ProcessCloseEvent. */
        CHECK_INT(h_open_fds(), fx->fds0);
#endif
    }
    natsOptions_Destroy(fx->opts);
    h_waiter_destroy(&fx->r.w);
    h_server_destroy(&fx->srv);
}

static void
test_messages_with_the_loop_on_its_own_thread(void)
{
    fixture             fx;
    natsConnection      *nc   = NULL;
    natsSubscription    *sub  = NULL, *rsub = NULL;
    natsMsg             *reply = NULL;
    int                 i;

    if (_fxStart(&fx) && CHECK_OK(_fxConnect(&fx, &nc, true)))
    {
        /* Attached before Connect returned, on the connecting thread. */
        CHECK_INT(_get(&counts.attach), 1);
        CHECK(pthread_equal(counts.firstAttachThread, pthread_self()));
        CHECK_INT(_get(&counts.readAdd), 0);

        CHECK_OK(natsConnection_Subscribe(&sub, nc, "evloop.data", _onMsg, &fx.r));
        CHECK_OK(natsConnection_Subscribe(&rsub, nc, "evloop.help", _onRequest, NULL));
        CHECK_OK(natsConnection_FlushTimeout(nc, 5000));
        for (i = 0; i < 2000; i++)
            CHECK_OK(natsConnection_PublishString(nc, "evloop.data", "hello"));
        CHECK(h_waiter_wait(&fx.r.w, 2000, 10000));
        CHECK_INT(h_waiter_get(&fx.r.w), 2000);
        CHECK_INT(fx.r.badSize, 0);

        CHECK_OK(natsConnection_RequestString(&reply, nc, "evloop.help", "ping", 5000));
        if (reply != NULL)
            CHECK_STR(natsMsg_GetData(reply), "pong");
        natsMsg_Destroy(reply);

        /* Writes went through write events, and the loop stopped polling for them once the
         * buffer was out. */
        CHECK(_get(&counts.writeAdd) >= 1);
        CHECK(_get(&counts.writeRemove) >= 1);
        CHECK(natsConnection_Buffered(nc) == 0);

        natsSubscription_Destroy(sub);
        natsSubscription_Destroy(rsub);
        natsConnection_Destroy(nc);
        /* Detached once, and the socket left the loop once. */
        CHECK(h_wait_until(_loopDone, &fx.lt, 10000));
        CHECK_INT(_get(&counts.detach), 1);
        CHECK_INT(_get(&counts.attach), 1);
        CHECK_INT(_get(&counts.readRemove), 1);
    }
    _fxEnd(&fx);
}

static void
test_loop_run_by_the_publishing_thread(void)
{
    fixture             fx;
    natsConnection      *nc   = NULL;
    natsSubscription    *sub  = NULL;
    int64_t             deadline;
    int                 i;

    if (_fxStart(&fx) && CHECK_OK(_fxConnect(&fx, &nc, false)))
    {
        CHECK_OK(natsConnection_Subscribe(&sub, nc, "evloop.single", _onMsg, &fx.r));
        /* Nothing may block here: the loop is not running, and only the loop writes. */
        for (i = 0; i < 500; i++)
            CHECK_OK(natsConnection_PublishString(nc, "evloop.single", "hello"));
        CHECK(natsConnection_Buffered(nc) > 0);
        /* The loop is asked for write events (by a library thread). */
        CHECK(h_wait_until(_writeAdded, NULL, 5000));

        deadline = h_now_ms() + 10000;
        while ((h_waiter_get(&fx.r.w) < 500) && (h_now_ms() < deadline))
        {
            _loopPoll(fx.base);
            h_sleep_ms(1);
        }
        CHECK_INT(h_waiter_get(&fx.r.w), 500);
        CHECK_INT(natsConnection_Buffered(nc), 0);

        natsSubscription_Destroy(sub);
        natsConnection_Destroy(nc);
        CHECK_INT(_get(&counts.detach), 1);
        /* Nothing is left for the loop: it returns at once. */
        CHECK(_loopRunsOut(fx.base));
    }
    _fxEnd(&fx);
}

static h_waiter reconnected;
static h_waiter disconnected;

static void
_onReconnected(natsConnection *nc, void *closure)
{
    (void) nc; (void) closure;
    h_waiter_add(&reconnected, 1);
}

static void
_onDisconnected(natsConnection *nc, void *closure)
{
    (void) nc; (void) closure;
    h_waiter_add(&disconnected, 1);
}

static void
test_reconnect_attaches_the_new_socket(void)
{
    fixture             fx;
    natsConnection      *nc   = NULL;
    natsSubscription    *sub  = NULL;

    h_waiter_init(&reconnected);
    h_waiter_init(&disconnected);
    if (_fxStart(&fx)
        && CHECK_OK(natsOptions_SetAllowReconnect(fx.opts, true))
        && CHECK_OK(natsOptions_SetMaxReconnect(fx.opts, 100))
        && CHECK_OK(natsOptions_SetReconnectWait(fx.opts, 50))
        && CHECK_OK(natsOptions_SetReconnectedCB(fx.opts, _onReconnected, NULL))
        && CHECK_OK(natsOptions_SetDisconnectedCB(fx.opts, _onDisconnected, NULL))
        && CHECK_OK(_fxConnect(&fx, &nc, true)))
    {
        CHECK_OK(natsConnection_Subscribe(&sub, nc, "evloop.again", _onMsg, &fx.r));
        CHECK_OK(natsConnection_FlushTimeout(nc, 5000));

        CHECK(h_server_restart(&fx.srv));
        CHECK(h_waiter_wait(&disconnected, 1, 10000));
        CHECK(h_waiter_wait(&reconnected, 1, 10000));
        /* The old socket left the loop (and was closed), the new one was attached. */
        CHECK_INT(_get(&counts.attach), 2);
        CHECK(_get(&counts.readRemove) >= 1);

        /* The subscription was sent again on the new socket. */
        CHECK_OK(natsConnection_FlushTimeout(nc, 5000));
        CHECK_OK(natsConnection_PublishString(nc, "evloop.again", "hello"));
        CHECK(h_waiter_wait(&fx.r.w, 1, 10000));
        CHECK_INT(natsConnection_Status(nc), NATS_CONN_STATUS_CONNECTED);

        natsSubscription_Destroy(sub);
        natsConnection_Destroy(nc);
        CHECK(h_wait_until(_loopDone, &fx.lt, 10000));
        CHECK_INT(_get(&counts.detach), 1);
    }
    _fxEnd(&fx);
    h_waiter_destroy(&reconnected);
    h_waiter_destroy(&disconnected);
}

static void
test_failed_attach_fails_the_connect(void)
{
    fixture         fx;
    natsConnection  *nc = NULL;

    if (_fxStart(&fx))
    {
        counts.failAttach = 1;
        CHECK_STATUS(_fxConnect(&fx, &nc, false), NATS_ERR);
        CHECK(nc == NULL);
        CHECK(strstr(nats_GetLastError(NULL), "event loop") != NULL);
        CHECK_INT(_get(&counts.attach), 1);
        CHECK_INT(_get(&counts.detach), 0);
    }
    /* (No descriptor is left open: checked by _fxEnd.) */
    _fxEnd(&fx);
}

#ifdef NATS_TEST_LIBUV
static void
test_libuv_first_attach_off_the_loop_thread_is_refused(void)
{
    fixture         fx;
    natsConnection  *nc = NULL;

    if (_fxStart(&fx))
    {
        /* This thread never called natsLibuv_SetThreadLocalLoop: the adapter cannot make its
         * wake-up handle here. */
        CHECK_STATUS(natsConnection_Connect(&nc, fx.opts), NATS_ILLEGAL_STATE);
        CHECK(nc == NULL);
        CHECK_INT(_get(&counts.attach), 1);
        CHECK_INT(_get(&counts.detach), 0);
    }
    _fxEnd(&fx);
}
#endif

static void
test_process_events_without_a_loop(void)
{
    natsConnection  *nc = NULL;
    natsMsg         *m  = NULL;
    natsSubscription *sub = NULL;
    natsSock        sock = -1;
    int             p[2];

    REQUIRE_OK(h_connect(&nc));
    CHECK_OK(natsConnection_SubscribeSync(&sub, nc, "evloop.none"));
    /* Not attached to a loop: these change nothing. */
    natsConnection_ProcessReadEvent(nc);
    natsConnection_ProcessWriteEvent(nc);
#if HAVE_NATS_3_13
    natsConnection_ProcessDetachedEvent(nc);
#endif
    CHECK_OK(natsConnection_PublishString(nc, "evloop.none", "hello"));
    CHECK_OK(natsSubscription_NextMsg(&m, sub, 5000));
    natsMsg_Destroy(m);

#if HAVE_NATS_3_13
    natsConnection_ProcessCloseEvent(&sock);
    CHECK_INT(sock, -1);
    REQUIRE(pipe(p) == 0);
    sock = p[0];
    natsConnection_ProcessCloseEvent(&sock);
    CHECK_INT(sock, -1);
    CHECK(fcntl(p[0], F_GETFD) == -1);
    close(p[1]);
#else
    (void) sock; (void) p;
#endif

    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
}

int
main(void)
{
    _adapterInit();
    if (nats_Open(-1) != NATS_OK)
        return 1;
    if (!h_default_server_start())
        return 1;
    {
        /* The library's threads and their descriptors start with the first connection:
         * start them before the tests count descriptors. */
        natsConnection *nc = NULL;
        testLoop       *l;

        if (h_connect(&nc) != NATS_OK)
            return 1;
        natsConnection_Destroy(nc);
        /* libuv keeps a process-wide pipe from its first loop on. */
        if ((l = _loopNew()) == NULL)
            return 1;
        _loopFree(l);
    }

    RUN_TEST(test_messages_with_the_loop_on_its_own_thread);
    RUN_TEST(test_loop_run_by_the_publishing_thread);
    RUN_TEST(test_reconnect_attaches_the_new_socket);
    RUN_TEST(test_failed_attach_fails_the_connect);
#ifdef NATS_TEST_LIBUV
    RUN_TEST(test_libuv_first_attach_off_the_loop_thread_is_refused);
#endif
    RUN_TEST(test_process_events_without_a_loop);

    h_default_server_stop();
    nats_Close();
    return h_finish();
}
