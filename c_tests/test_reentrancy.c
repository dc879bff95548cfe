/* Re-entrancy: calling the library from inside its own callbacks, as a table-driven matrix
 *
 *     callback kind  x  action  x  delivery mode
 *
 *   kinds:   message handler, error handler (slow consumer), closed, disconnected,
 *            reconnected, and the subscription's completion callback (after an automatic
 *            unsubscribe);
 *   actions: destroy the subscription, destroy the connection, close, flush, drain the
 *            connection, drain the subscription, request, nats_CloseAndWait;
 *   modes:   one delivery thread per subscription, or the global delivery pool
 *            (nats_SetMessageDeliveryPoolSize + natsOptions_UseGlobalMessageDelivery).
 *
 * Every case runs against its own nats-server while another connection keeps publishing to
 * the case's asynchronous subscription (so the action always races message delivery), and
 * checks what can be observed:
 *   - the status the action returned inside the callback (table `expectSts`);
 *   - the closed callback ran exactly once, and no disconnected / reconnected / error
 *     callback ran after it;
 *   - the subscription's completion callback (natsSubscription_SetOnCompleteCB) ran exactly
 *     once and no message handler started after it; a subscription destroyed from its own
 *     message handler never sees its handler again (cnats' guarantees);
 *   - no callback ran on the main thread;
 *   - the process is still responsive: a new connection in the same delivery mode
 *     subscribes, publishes, receives and gets its closed callback.
 *
 * Then, outside the matrix: Close racing a reconnect that succeeds, Close and subscription
 * Destroy racing heavy delivery (both modes), Close racing natsConnection_Reconnect (3.13),
 * and finally nats_CloseAndWait from the main thread: once it returned NATS_OK no callback
 * runs any more.
 *
 * A watchdog ends the program (exit 2, naming the case) if a case hangs. */
#include "harness.h"

#include <errno.h>
#include <unistd.h>

static pthread_t mainThread;

/* ---------------------------------------------------------------------- */
/* Global callback accounting (for the final nats_CloseAndWait check)      */
/* ---------------------------------------------------------------------- */

static pthread_mutex_t  gCbMu = PTHREAD_MUTEX_INITIALIZER;
static int64_t          gCbTotal   = 0;     /* callbacks entered, all tests */
static int              gCbRunning = 0;     /* callbacks currently running */

static void
cb_enter(void)
{
    pthread_mutex_lock(&gCbMu);
    gCbTotal++;
    gCbRunning++;
    pthread_mutex_unlock(&gCbMu);
}

static void
cb_leave(void)
{
    pthread_mutex_lock(&gCbMu);
    gCbRunning--;
    pthread_mutex_unlock(&gCbMu);
}

/* ---------------------------------------------------------------------- */
/* Watchdog                                                                */
/* ---------------------------------------------------------------------- */

static pthread_mutex_t  wdMu = PTHREAD_MUTEX_INITIALIZER;
static int64_t          wdDeadline = 0;     /* 0: disarmed */
static char             wdWhat[128];

static void
wd_arm(const char *what, int64_t ms)
{
    pthread_mutex_lock(&wdMu);
    snprintf(wdWhat, sizeof(wdWhat), "%s", what);
    wdDeadline = h_now_ms() + ms;
    pthread_mutex_unlock(&wdMu);
}

static void
wd_disarm(void)
{
    pthread_mutex_lock(&wdMu);
    wdDeadline = 0;
    pthread_mutex_unlock(&wdMu);
}

static void*
wd_thread(void *arg)
{
    (void) arg;
    for (;;)
    {
        bool fire;

        h_sleep_ms(100);
        pthread_mutex_lock(&wdMu);
        fire = (wdDeadline != 0) && (h_now_ms() > wdDeadline);
        if (fire)
        {
            fprintf(stderr, "WATCHDOG: '%s' hung; giving up\n", wdWhat);
            fflush(stderr);
            printf("%d passed, %d failed (+ hang)\n", h_passed, h_failed + 1);
            fflush(stdout);
            _exit(2);
        }
        pthread_mutex_unlock(&wdMu);
    }
    return NULL;
}

/* Scale factor: 1 normally, larger timeouts under valgrind. */
static int gSlow = 1;



/* ---------------------------------------------------------------------- */
/* The matrix                                                              */
/* ---------------------------------------------------------------------- */

typedef enum
{
    K_MSG = 0,
    K_ERR,
    K_CLOSED,
    K_DISC,
    K_RECO,
    K_COMPLETE,
    K_COUNT
} cbKind;

static const char *kindNames[K_COUNT] =
{
    "msg", "error", "closed", "disconnected", "reconnected", "completion"
};

typedef enum
{
    A_DESTROY_SUB = 0,
    A_DESTROY_CONN,
    A_CLOSE,
    A_FLUSH,
    A_DRAIN,
    A_DRAIN_SUB,
    A_REQUEST,
    A_CLOSE_AND_WAIT,
    A_COUNT
} cbAction;

static const char *actionNames[A_COUNT] =
{
    "destroy-sub", "destroy-conn", "close", "flush", "drain", "drain-sub", "request",
    "close-and-wait"
};

typedef enum { M_PER_SUB = 0, M_GLOBAL, M_COUNT } deliveryMode;

static const char *modeNames[M_COUNT] = { "per-sub-thread", "global-pool" };

/* Expected status of the action, as returned inside the callback.
 * NO_STS: the action returns nothing (void); its outcome is checked through the events.
 * For A_CLOSE the status is that of a FlushTimeout made right after the Close, inside
 * the same callback. */
#define NO_STS (-1)
static const int expectSts[K_COUNT][A_COUNT] =
{
    /*               destroy-sub destroy-conn close                   flush                   drain                   drain-sub               request                 close-and-wait */
    /* msg    */   { NO_STS,     NO_STS,      NATS_CONNECTION_CLOSED, NATS_OK,                NATS_OK,                NATS_OK,                NATS_OK,                NATS_ILLEGAL_STATE },
    /* error  */   { NO_STS,     NO_STS,      NATS_CONNECTION_CLOSED, NATS_OK,                NATS_OK,                NATS_OK,                NATS_OK,                NATS_ILLEGAL_STATE },
    /* closed */   { NO_STS,     NO_STS,      NATS_CONNECTION_CLOSED, NATS_CONNECTION_CLOSED, NATS_CONNECTION_CLOSED, NATS_CONNECTION_CLOSED, NATS_CONNECTION_CLOSED, NATS_ILLEGAL_STATE },
    /* disc.  */   { NO_STS,     NO_STS,      NATS_CONNECTION_CLOSED, NATS_OK,                NATS_ILLEGAL_STATE,     NATS_OK,                NATS_OK,                NATS_ILLEGAL_STATE },
    /* reco.  */   { NO_STS,     NO_STS,      NATS_CONNECTION_CLOSED, NATS_OK,                NATS_OK,                NATS_OK,                NATS_OK,                NATS_ILLEGAL_STATE },
    /* compl. */   { NO_STS,     NO_STS,      NATS_CONNECTION_CLOSED, NATS_OK,                NATS_OK,                NATS_INVALID_SUBSCRIPTION, NATS_OK,             NATS_ILLEGAL_STATE },
};

/* True when the action, as expected for this kind, ends the connection. */
static bool
action_ends_conn(cbKind k, cbAction a)
{
    if ((a == A_DESTROY_CONN) || (a == A_CLOSE))
        return true;
    return (a == A_DRAIN) && (expectSts[k][a] == NATS_OK);
}

/* Actions that need a server to complete: from the disconnected callback, the server is
 * restarted while the action runs; otherwise only after it returned. */
static bool
action_needs_server(cbAction a)
{
    return (a == A_FLUSH) || (a == A_REQUEST) || (a == A_DRAIN_SUB);
}

typedef struct
{
    char            name[96];
    cbKind          kind;
    cbAction        action;
    deliveryMode    mode;

    h_waiter        w;              /* mu protects everything below */
    natsConnection  *nc;
    natsSubscription *sub;
    char            subj[64];
    char            svcSubj[64];
    char            slowSubj[64];

    bool            claimed;        /* the action was started by a callback */
    bool            entered;
    bool            done;
    int             sts;            /* status of the action (NO_STS if none) */
    bool            cbOwnsConn;     /* the callback destroyed the connection */
    bool            cbOwnsSub;      /* the callback destroyed the subscription */
    bool            selfDestroyed;  /* msg kind: the handler destroyed its own sub */
    bool            replyMismatch;

    int             msgs;
    int             msgsAfterSelfDestroy;
    int             msgsAfterComplete;
    int             complete;
    int             closed;
    int             disc;
    int             reco;
    int             errs;
    int             eventsAfterClosed;
    bool            onMain;
    volatile bool   stopPub;
} reCase;

static void
rc_note_thread(reCase *c)
{
    if (pthread_equal(pthread_self(), mainThread))
        c->onMain = true;
}

/* Runs the case's action from inside a callback (called without holding c->w.mu). */
static void
rc_do_action(reCase *c, natsConnection *nc)
{
    natsStatus  s = (natsStatus) NO_STS;
    natsMsg     *reply = NULL;

    switch (c->action)
    {
        case A_DESTROY_SUB:
        {
            natsSubscription *sub;

            pthread_mutex_lock(&c->w.mu);
            sub = c->sub;
            c->cbOwnsSub = true;
            pthread_mutex_unlock(&c->w.mu);
            natsSubscription_Destroy(sub);
            if (c->kind == K_MSG)
            {
                pthread_mutex_lock(&c->w.mu);
                c->selfDestroyed = true;
                pthread_mutex_unlock(&c->w.mu);
            }
            break;
        }
        case A_DESTROY_CONN:
            pthread_mutex_lock(&c->w.mu);
            c->cbOwnsConn = true;
            pthread_mutex_unlock(&c->w.mu);
            natsConnection_Destroy(nc);
            break;
        case A_CLOSE:
            natsConnection_Close(nc);
            s = natsConnection_FlushTimeout(nc, 1000);
            break;
        case A_FLUSH:
            s = natsConnection_FlushTimeout(nc, 10000 * gSlow);
            break;
        case A_DRAIN:
            s = natsConnection_DrainTimeout(nc, 10000 * gSlow);
            break;
        case A_DRAIN_SUB:
            s = natsSubscription_DrainTimeout(c->sub, 10000 * gSlow);
            break;
        case A_REQUEST:
            s = natsConnection_RequestString(&reply, nc, c->svcSubj, "ping", 10000 * gSlow);
            if ((s == NATS_OK) && ((reply == NULL) || (strcmp(natsMsg_GetData(reply), "pong") != 0)))
                c->replyMismatch = true;
            natsMsg_Destroy(reply);
            break;
        case A_CLOSE_AND_WAIT:
            s = nats_CloseAndWait(1000);
            break;
        default:
            break;
    }
    pthread_mutex_lock(&c->w.mu);
    c->sts  = (int) s;
    c->done = true;
    pthread_cond_broadcast(&c->w.cond);
    pthread_mutex_unlock(&c->w.mu);
}

/* True (once) when this callback of kind `k` must run the action. */
static bool
rc_claim(reCase *c, cbKind k)
{
    bool mine = false;

    pthread_mutex_lock(&c->w.mu);
    if ((c->kind == k) && !c->claimed)
    {
        c->claimed = true;
        c->entered = true;
        mine = true;
        pthread_cond_broadcast(&c->w.cond);
    }
    pthread_mutex_unlock(&c->w.mu);
    return mine;
}

static void
_rcMsg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    reCase *c = (reCase*) closure;

    (void) sub;
    cb_enter();
    pthread_mutex_lock(&c->w.mu);
    rc_note_thread(c);
    c->msgs++;
    if (c->selfDestroyed)
        c->msgsAfterSelfDestroy++;
    if (c->complete > 0)
        c->msgsAfterComplete++;
    pthread_mutex_unlock(&c->w.mu);
    natsMsg_Destroy(msg);
    if (rc_claim(c, K_MSG))
        rc_do_action(c, nc);
    cb_leave();
}

static void
_rcComplete(void *closure)
{
    reCase *c = (reCase*) closure;

    cb_enter();
    pthread_mutex_lock(&c->w.mu);
    rc_note_thread(c);
    c->complete++;
    pthread_cond_broadcast(&c->w.cond);
    pthread_mutex_unlock(&c->w.mu);
    if (rc_claim(c, K_COMPLETE))
        rc_do_action(c, c->nc);
    cb_leave();
}

static void
_rcErr(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    reCase *c = (reCase*) closure;
    bool   slow;

    (void) sub;
    cb_enter();
    pthread_mutex_lock(&c->w.mu);
    rc_note_thread(c);
    c->errs++;
    if (c->closed > 0)
        c->eventsAfterClosed++;
    slow = (err == NATS_SLOW_CONSUMER);
    pthread_cond_broadcast(&c->w.cond);
    pthread_mutex_unlock(&c->w.mu);
    if (slow && rc_claim(c, K_ERR))
        rc_do_action(c, nc);
    cb_leave();
}

static void
_rcClosed(natsConnection *nc, void *closure)
{
    reCase *c = (reCase*) closure;

    cb_enter();
    pthread_mutex_lock(&c->w.mu);
    rc_note_thread(c);
    c->closed++;
    pthread_cond_broadcast(&c->w.cond);
    pthread_mutex_unlock(&c->w.mu);
    if (rc_claim(c, K_CLOSED))
        rc_do_action(c, nc);
    cb_leave();
}

static void
_rcDisc(natsConnection *nc, void *closure)
{
    reCase *c = (reCase*) closure;

    cb_enter();
    pthread_mutex_lock(&c->w.mu);
    rc_note_thread(c);
    c->disc++;
    if (c->closed > 0)
        c->eventsAfterClosed++;
    pthread_cond_broadcast(&c->w.cond);
    pthread_mutex_unlock(&c->w.mu);
    if (rc_claim(c, K_DISC))
        rc_do_action(c, nc);
    cb_leave();
}

static void
_rcReco(natsConnection *nc, void *closure)
{
    reCase *c = (reCase*) closure;

    cb_enter();
    pthread_mutex_lock(&c->w.mu);
    rc_note_thread(c);
    c->reco++;
    if (c->closed > 0)
        c->eventsAfterClosed++;
    pthread_cond_broadcast(&c->w.cond);
    pthread_mutex_unlock(&c->w.mu);
    if (rc_claim(c, K_RECO))
        rc_do_action(c, nc);
    cb_leave();
}

/* Responder for the request action: replies "pong". */
static void
_svcCb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void) sub; (void) closure;
    cb_enter();
    if (natsMsg_GetReply(msg) != NULL)
        natsConnection_PublishString(nc, natsMsg_GetReply(msg), "pong");
    natsMsg_Destroy(msg);
    cb_leave();
}

/* Waits (up to ms) until *field >= target, under c->w.mu. */
static bool
rc_wait_int(reCase *c, int *field, int target, int64_t ms)
{
    int64_t deadline = h_now_ms() + ms;
    bool    ok;

    pthread_mutex_lock(&c->w.mu);
    while ((*field < target) && (h_now_ms() < deadline))
    {
        struct timespec ts;
        int64_t         until = h_now_ms() + 20;

        ts.tv_sec  = (time_t) (until / 1000);
        ts.tv_nsec = (long) ((until % 1000) * 1000000);
        pthread_cond_timedwait(&c->w.cond, &c->w.mu, &ts);
    }
    ok = (*field >= target);
    pthread_mutex_unlock(&c->w.mu);
    return ok;
}

static bool
rc_wait_bool(reCase *c, bool *field, int64_t ms)
{
    int64_t deadline = h_now_ms() + ms;
    bool    ok;

    pthread_mutex_lock(&c->w.mu);
    while (!*field && (h_now_ms() < deadline))
    {
        struct timespec ts;
        int64_t         until = h_now_ms() + 20;

        ts.tv_sec  = (time_t) (until / 1000);
        ts.tv_nsec = (long) ((until % 1000) * 1000000);
        pthread_cond_timedwait(&c->w.cond, &c->w.mu, &ts);
    }
    ok = *field;
    pthread_mutex_unlock(&c->w.mu);
    return ok;
}

typedef struct
{
    reCase          *c;
    natsConnection  *pub;
} pubArg;

/* Keeps publishing to the case's subscription until told to stop. */
static void*
_publisher(void *arg)
{
    pubArg  *pa = (pubArg*) arg;
    int     n   = 0;

    while (!pa->c->stopPub)
    {
        natsConnection_PublishString(pa->pub, pa->c->subj, "m");
        if ((++n % 8) == 0)
            h_sleep_ms(1);
    }
    return NULL;
}

/* ---- responsiveness probe ---------------------------------------------- */

typedef struct
{
    h_waiter    msgs;
    h_waiter    closed;
} probeState;

static void
_probeMsg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void) nc; (void) sub;
    cb_enter();
    natsMsg_Destroy(msg);
    h_waiter_add(&((probeState*) closure)->msgs, 1);
    cb_leave();
}

static void
_probeClosed(natsConnection *nc, void *closure)
{
    (void) nc;
    cb_enter();
    h_waiter_add(&((probeState*) closure)->closed, 1);
    cb_leave();
}

/* A new connection in the given mode can subscribe, publish, receive, and gets its closed
 * callback: library threads (I/O, delivery pool, event thread) are all alive. */
static bool
probe(const char *url, deliveryMode mode)
{
    natsOptions         *opts = NULL;
    natsConnection      *nc   = NULL;
    natsSubscription    *sub  = NULL;
    probeState          *ps   = (probeState*) calloc(1, sizeof(probeState));
    bool                ok    = false;

    /* Leaked on failure on purpose: a late callback may still use it. */
    if (ps == NULL)
        return false;
    h_waiter_init(&ps->msgs);
    h_waiter_init(&ps->closed);
    if ((natsOptions_Create(&opts) == NATS_OK)
        && (natsOptions_SetURL(opts, url) == NATS_OK)
        && (natsOptions_UseGlobalMessageDelivery(opts, mode == M_GLOBAL) == NATS_OK)
        && (natsOptions_SetClosedCB(opts, _probeClosed, ps) == NATS_OK)
        && (natsConnection_Connect(&nc, opts) == NATS_OK)
        && (natsConnection_Subscribe(&sub, nc, "re.probe", _probeMsg, ps) == NATS_OK)
        && (natsConnection_PublishString(nc, "re.probe", "p") == NATS_OK)
        && (natsConnection_Flush(nc) == NATS_OK))
    {
        ok = h_waiter_wait(&ps->msgs, 1, 5000 * gSlow);
    }
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(opts);
    if (ok)
        ok = h_waiter_wait(&ps->closed, 1, 5000 * gSlow);
    if (ok)
    {
        h_waiter_destroy(&ps->msgs);
        h_waiter_destroy(&ps->closed);
        free(ps);
    }
    return ok;
}

/* ---- one case ---------------------------------------------------------- */

static bool
rc_setup(reCase *c, h_server *srv, natsConnection **helper)
{
    natsOptions *opts = NULL;
    natsStatus  s;

    s = natsOptions_Create(&opts);
    if (s == NATS_OK)
        s = natsOptions_SetURL(opts, srv->url);
    if (s == NATS_OK)
        s = natsOptions_UseGlobalMessageDelivery(opts, c->mode == M_GLOBAL);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(opts, 20);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(opts, -1);
    if ((s == NATS_OK) && (c->kind == K_CLOSED))
        s = natsOptions_SetAllowReconnect(opts, false);
    if (s == NATS_OK)
        s = natsOptions_SetClosedCB(opts, _rcClosed, c);
    if (s == NATS_OK)
        s = natsOptions_SetDisconnectedCB(opts, _rcDisc, c);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB(opts, _rcReco, c);
    if (s == NATS_OK)
        s = natsOptions_SetErrorHandler(opts, _rcErr, c);
    if (s == NATS_OK)
        s = natsConnection_Connect(&c->nc, opts);
    natsOptions_Destroy(opts);
    if (!CHECK_OK(s))
        return false;

    /* The helper connection publishes to the case's subscription, and serves requests
     * made from message handlers (a handler blocked in a request must not wait for a
     * responder delivered by its own thread, which would be the case in the pool). */
    s = natsOptions_Create(&opts);
    if (s == NATS_OK)
        s = natsOptions_SetURL(opts, srv->url);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(opts, 20);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(opts, -1);
    if (s == NATS_OK)
        s = natsConnection_Connect(helper, opts);
    natsOptions_Destroy(opts);
    if (!CHECK_OK(s))
        return false;
    return true;
}

static void
run_case(reCase *c)
{
    h_server            srv;
    natsConnection      *helper = NULL;
    natsSubscription    *svc    = NULL;
    natsSubscription    *slow   = NULL;
    pthread_t           pubTh;
    bool                pubStarted = false;
    pubArg              pa;
    bool                ok;
    int                 exp = expectSts[c->kind][c->action];
    int                 i;

    wd_arm(c->name, 60000 * gSlow);
    h_waiter_init(&c->w);
    c->sts = NO_STS;
    snprintf(c->subj, sizeof(c->subj), "re.sub.%d.%d.%d", c->kind, c->action, c->mode);
    snprintf(c->svcSubj, sizeof(c->svcSubj), "re.svc.%d.%d.%d", c->kind, c->action, c->mode);
    snprintf(c->slowSubj, sizeof(c->slowSubj), "re.slow.%d.%d.%d", c->kind, c->action, c->mode);

    if (!h_server_start(&srv, NULL, NULL))
        return;
    if (!rc_setup(c, &srv, &helper))
    {
        natsConnection_Destroy(helper);
        natsConnection_Destroy(c->nc);
        h_server_destroy(&srv);
        return;
    }

    /* Responder: on the helper for callbacks that run on a delivery thread, else on the
     * connection itself (its subscriptions are re-sent first on a reconnect, before the
     * buffered request). */
    if ((c->kind == K_MSG) || (c->kind == K_COMPLETE))
        ok = CHECK_OK(natsConnection_Subscribe(&svc, helper, c->svcSubj, _svcCb, NULL))
             && CHECK_OK(natsConnection_Flush(helper));
    else
        ok = CHECK_OK(natsConnection_Subscribe(&svc, c->nc, c->svcSubj, _svcCb, NULL));
    if (ok && (c->kind == K_ERR))
    {
        ok = CHECK_OK(natsConnection_SubscribeSync(&slow, c->nc, c->slowSubj))
             && CHECK_OK(natsSubscription_SetPendingLimits(slow, 1, 1024));
    }
    if (ok)
    {
        natsSubscription *sub = NULL;

        ok = CHECK_OK(natsConnection_Subscribe(&sub, c->nc, c->subj, _rcMsg, c))
             && CHECK_OK(natsSubscription_SetOnCompleteCB(sub, _rcComplete, c))
             /* completion kind: the subscription ends itself after 20 messages */
             && ((c->kind != K_COMPLETE) || CHECK_OK(natsSubscription_AutoUnsubscribe(sub, 20)))
             && CHECK_OK(natsConnection_Flush(c->nc));
        pthread_mutex_lock(&c->w.mu);
        c->sub = sub;
        pthread_mutex_unlock(&c->w.mu);
    }
    if (ok)
    {
        pa.c   = c;
        pa.pub = helper;
        pubStarted = (pthread_create(&pubTh, NULL, _publisher, &pa) == 0);
        ok = CHECK(pubStarted);
    }
    if (ok)
    {
        /* Let some messages flow before the trigger. */
        ok = CHECK(rc_wait_int(c, &c->msgs, 1, 5000 * gSlow));
    }

    /* ---- trigger ---- */
    if (ok)
    {
        switch (c->kind)
        {
            case K_MSG:
            case K_COMPLETE:
                break;
            case K_ERR:
            {
                natsStatus  s = NATS_OK;
                natsMsg     *m;
                int64_t     dl = h_now_ms() + 10000 * gSlow;

                /* From the helper: the callback may destroy c->nc at any time now. */
                for (i = 0; i < 5; i++)
                    CHECK_OK(natsConnection_PublishString(helper, c->slowSubj, "s"));
                CHECK_OK(natsConnection_Flush(helper));
                /* One message stays pending, the others are dropped. Consume what is
                 * pending (after the slow consumer status), so that a drain of the
                 * connection is not held up by this synchronous subscription. */
                while (h_now_ms() < dl)
                {
                    bool done;

                    pthread_mutex_lock(&c->w.mu);
                    done = c->done;
                    pthread_mutex_unlock(&c->w.mu);
                    m = NULL;
                    s = natsSubscription_NextMsg(&m, slow, 50);
                    natsMsg_Destroy(m);
                    if (done && (s != NATS_OK) && (s != NATS_SLOW_CONSUMER))
                        break;
                }
                break;
            }
            case K_CLOSED:
                h_server_stop(&srv);
                break;
            case K_DISC:
                h_server_stop(&srv);
                CHECK(rc_wait_bool(c, &c->entered, 10000 * gSlow));
                if (action_needs_server(c->action))
                    CHECK(h_server_restart(&srv));
                break;
            case K_RECO:
                h_server_stop(&srv);
                CHECK(rc_wait_int(c, &c->disc, 1, 10000 * gSlow));
                CHECK(h_server_restart(&srv));
                break;
            default:
                break;
        }
        ok = CHECK(rc_wait_bool(c, &c->done, 30000 * gSlow));
        if (srv.pid <= 0)
            CHECK(h_server_restart(&srv));
        /* A connection that survived its disconnection reconnects. */
        if (ok && (c->kind == K_DISC) && !action_ends_conn(c->kind, c->action))
            CHECK(rc_wait_int(c, &c->reco, 1, 10000 * gSlow));
    }

    /* ---- the action's own outcome ---- */
    if (ok)
    {
        pthread_mutex_lock(&c->w.mu);
        if (exp != NO_STS)
            CHECK_STATUS((natsStatus) c->sts, (natsStatus) exp);
        CHECK(!c->replyMismatch);
        pthread_mutex_unlock(&c->w.mu);
    }

    /* ---- wind down: the connection ends exactly once, the subscription completes ---- */
    if (ok && action_ends_conn(c->kind, c->action))
        CHECK(rc_wait_int(c, &c->closed, 1, 15000 * gSlow));
    if (ok && (c->action == A_DRAIN_SUB) && (exp == NATS_OK))
        CHECK(rc_wait_int(c, &c->complete, 1, 15000 * gSlow));
    if (!c->cbOwnsConn)
        natsConnection_Close(c->nc);
    CHECK(rc_wait_int(c, &c->closed, 1, 10000 * gSlow));
    CHECK(rc_wait_int(c, &c->complete, 1, 10000 * gSlow));

    c->stopPub = true;
    if (pubStarted)
        pthread_join(pubTh, NULL);
    natsSubscription_Destroy(svc);
    natsSubscription_Destroy(slow);
    if (!c->cbOwnsSub)
        natsSubscription_Destroy(c->sub);
    if (!c->cbOwnsConn)
        natsConnection_Destroy(c->nc);
    natsConnection_Destroy(helper);

    /* Late callbacks would show up now. */
    h_sleep_ms(100);
    pthread_mutex_lock(&c->w.mu);
    CHECK_INT(c->closed, 1);
    CHECK_INT(c->complete, 1);
    CHECK_INT(c->msgsAfterComplete, 0);
    CHECK_INT(c->eventsAfterClosed, 0);
    CHECK(!c->onMain);
    if ((c->kind == K_MSG) && (c->action == A_DESTROY_SUB))
        CHECK_INT(c->msgsAfterSelfDestroy, 0);
    if (c->kind == K_DISC)
        CHECK_INT(c->reco, (action_ends_conn(c->kind, c->action) ? 0 : 1));
    if (c->kind == K_RECO)
        CHECK_INT(c->reco, 1);
    /* The automatic unsubscribe delivered exactly its 20 messages. */
    if (c->kind == K_COMPLETE)
        CHECK_INT(c->msgs, 20);
    pthread_mutex_unlock(&c->w.mu);

    /* The process is still responsive, in the same delivery mode. */
    CHECK(probe(srv.url, c->mode));
    h_server_destroy(&srv);
    wd_disarm();
}

#define NCASES (K_COUNT * A_COUNT * M_COUNT)
/* Static: a callback that runs late (on failure) must not touch a dead stack frame. */
static reCase cases[NCASES];

static void
test_reentrancy_matrix(void)
{
    int k, a, m, n = 0;
    int failedCases = 0;

    for (m = 0; m < M_COUNT; m++)
    {
        for (k = 0; k < K_COUNT; k++)
        {
            for (a = 0; a < A_COUNT; a++)
            {
                reCase  *c = &cases[n++];
                int     before = h_failed;
                int64_t t0 = h_now_ms();

                c->kind   = (cbKind) k;
                c->action = (cbAction) a;
                c->mode   = (deliveryMode) m;
                snprintf(c->name, sizeof(c->name), "%s callback / %s / %s",
                         kindNames[k], actionNames[a], modeNames[m]);
                run_case(c);
                printf("    case %-55s %s (%lld ms)\n", c->name,
                       (h_failed == before ? "ok" : "FAILED"), (long long) (h_now_ms() - t0));
                fflush(stdout);
                if (h_failed != before)
                {
                    failedCases++;
                    fprintf(stderr, "case '%s': sts=%d msgs=%d complete=%d closed=%d disc=%d reco=%d "
                            "errs=%d afterClosed=%d afterComplete=%d afterSelfDestroy=%d\n",
                            c->name, c->sts, c->msgs, c->complete, c->closed, c->disc, c->reco,
                            c->errs, c->eventsAfterClosed, c->msgsAfterComplete,
                            c->msgsAfterSelfDestroy);
                }
            }
        }
    }
    printf("    %d of %d cases failed\n", failedCases, NCASES);
}

/* ---------------------------------------------------------------------- */
/* Close racing a reconnect that succeeds                                  */
/* ---------------------------------------------------------------------- */

typedef struct
{
    h_waiter    w;
    int         disc, reco, closed, afterClosed;
} evCount;

static void
_ecDisc(natsConnection *nc, void *closure)
{
    evCount *e = (evCount*) closure;

    (void) nc;
    cb_enter();
    pthread_mutex_lock(&e->w.mu);
    e->disc++;
    if (e->closed)
        e->afterClosed++;
    pthread_cond_broadcast(&e->w.cond);
    pthread_mutex_unlock(&e->w.mu);
    cb_leave();
}

static void
_ecReco(natsConnection *nc, void *closure)
{
    evCount *e = (evCount*) closure;

    (void) nc;
    cb_enter();
    pthread_mutex_lock(&e->w.mu);
    e->reco++;
    if (e->closed)
        e->afterClosed++;
    pthread_cond_broadcast(&e->w.cond);
    pthread_mutex_unlock(&e->w.mu);
    cb_leave();
}

static void
_ecClosed(natsConnection *nc, void *closure)
{
    evCount *e = (evCount*) closure;

    (void) nc;
    cb_enter();
    pthread_mutex_lock(&e->w.mu);
    e->closed++;
    e->w.count++;
    pthread_cond_broadcast(&e->w.cond);
    pthread_mutex_unlock(&e->w.mu);
    cb_leave();
}

static int
ec_get(evCount *e, int *field)
{
    int v;

    pthread_mutex_lock(&e->w.mu);
    v = *field;
    pthread_mutex_unlock(&e->w.mu);
    return v;
}

static natsStatus
ec_connect(natsConnection **nc, const char *url, evCount *e, int reconnectWait)
{
    natsOptions *opts = NULL;
    natsStatus  s;

    s = natsOptions_Create(&opts);
    if (s == NATS_OK)
        s = natsOptions_SetURL(opts, url);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(opts, reconnectWait);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(opts, -1);
    if (s == NATS_OK)
        s = natsOptions_SetDisconnectedCB(opts, _ecDisc, e);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB(opts, _ecReco, e);
    if (s == NATS_OK)
        s = natsOptions_SetClosedCB(opts, _ecClosed, e);
    if (s == NATS_OK)
        s = natsConnection_Connect(nc, opts);
    natsOptions_Destroy(opts);
    return s;
}

#define RECO_ROUNDS 12
static evCount recoRace[RECO_ROUNDS];

static void*
_closer(void *arg)
{
    natsConnection_Close((natsConnection*) arg);
    return NULL;
}

/* The server comes back; Close is called at staggered times around the moment the
 * reconnect completes (before, during, after), from two threads at once. */
static void
test_close_races_successful_reconnect(void)
{
    h_server    srv;
    int         r;

    wd_arm("close races a successful reconnect", 120000 * gSlow);
    REQUIRE(h_server_start(&srv, NULL, NULL));
    for (r = 0; r < RECO_ROUNDS; r++)
    {
        evCount         *e  = &recoRace[r];
        natsConnection  *nc = NULL;
        pthread_t       t1, t2;
        int64_t         t0;
        bool            th;

        memset(e, 0, sizeof(*e));
        h_waiter_init(&e->w);
        if (!CHECK_OK(ec_connect(&nc, srv.url, e, 10)))
            break;
        h_server_stop(&srv);
        {
            int64_t dl = h_now_ms() + 5000 * gSlow;

            while ((ec_get(e, &e->disc) < 1) && (h_now_ms() < dl))
                h_sleep_ms(1);
            CHECK_INT(ec_get(e, &e->disc), 1);
        }
        CHECK(h_server_restart(&srv));
        /* 0..22 ms after the server is back (reconnect wait is 10 ms). */
        h_sleep_ms((r * 2) % 23);
        t0 = h_now_ms();
        th = (pthread_create(&t1, NULL, _closer, nc) == 0);
        if (th && (pthread_create(&t2, NULL, _closer, nc) != 0))
        {
            pthread_join(t1, NULL);
            th = false;
        }
        natsConnection_Close(nc);
        if (th)
        {
            pthread_join(t1, NULL);
            pthread_join(t2, NULL);
        }
        /* Close returns in bounded time (it waits at most for buffered data). */
        CHECK(h_now_ms() - t0 < 5000 * gSlow);
        CHECK(natsConnection_IsClosed(nc));
        CHECK_STATUS(natsConnection_Flush(nc), NATS_CONNECTION_CLOSED);
        natsConnection_Destroy(nc);
        CHECK(h_waiter_wait(&e->w, 1, 5000 * gSlow));
        h_sleep_ms(30);
        pthread_mutex_lock(&e->w.mu);
        CHECK_INT(e->closed, 1);
        CHECK(e->reco <= 1);
        CHECK_INT(e->afterClosed, 0);
        /* A close of a connected connection reports a disconnection too. */
        CHECK(e->disc == 1 + e->reco);
        pthread_mutex_unlock(&e->w.mu);
    }
    CHECK(probe(srv.url, M_PER_SUB));
    h_server_destroy(&srv);
    wd_disarm();
}

#if HAVE_NATS_3_13
/* natsConnection_Reconnect (3.13) racing Close. */
static evCount forcedRace[8];

static void
test_close_races_forced_reconnect(void)
{
    int i;

    wd_arm("close races natsConnection_Reconnect", 60000 * gSlow);
    for (i = 0; i < 8; i++)
    {
        evCount         *e  = &forcedRace[i];
        natsConnection  *nc = NULL;
        natsStatus      s;

        memset(e, 0, sizeof(*e));
        h_waiter_init(&e->w);
        if (!CHECK_OK(ec_connect(&nc, h_url(), e, 10)))
            break;
        s = natsConnection_Reconnect(nc);
        CHECK_OK(s);
        h_sleep_ms(i * 3);
        natsConnection_Close(nc);
        CHECK_STATUS(natsConnection_Reconnect(nc), NATS_CONNECTION_CLOSED);
        natsConnection_Destroy(nc);
        CHECK(h_waiter_wait(&e->w, 1, 5000 * gSlow));
        h_sleep_ms(30);
        pthread_mutex_lock(&e->w.mu);
        CHECK_INT(e->closed, 1);
        CHECK(e->reco <= 1);
        CHECK_INT(e->afterClosed, 0);
        pthread_mutex_unlock(&e->w.mu);
    }
    CHECK(probe(h_url(), M_PER_SUB));
    wd_disarm();
}
#endif

/* ---------------------------------------------------------------------- */
/* Close / subscription Destroy racing heavy delivery                      */
/* ---------------------------------------------------------------------- */

#define FLOOD_SUBS 6

typedef struct
{
    pthread_mutex_t mu;
    int             msgs;
    int             complete;
    int             afterComplete;
    int             running;        /* handlers in progress */
} floodSub;

static floodSub flood[M_COUNT][2][FLOOD_SUBS];

static void
_floodMsg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    floodSub *f = (floodSub*) closure;

    (void) nc; (void) sub;
    cb_enter();
    pthread_mutex_lock(&f->mu);
    f->msgs++;
    f->running++;
    if (f->complete > 0)
        f->afterComplete++;
    pthread_mutex_unlock(&f->mu);
    natsMsg_Destroy(msg);
    /* A slow handler, so that messages pile up. */
    if ((f->msgs % 16) == 0)
        h_sleep_ms(1);
    pthread_mutex_lock(&f->mu);
    f->running--;
    pthread_mutex_unlock(&f->mu);
    cb_leave();
}

static void
_floodComplete(void *closure)
{
    floodSub *f = (floodSub*) closure;

    cb_enter();
    pthread_mutex_lock(&f->mu);
    f->complete++;
    /* cnats: the completion callback runs after the last handler returned. */
    if (f->running != 0)
        f->afterComplete += 1000;
    pthread_mutex_unlock(&f->mu);
    cb_leave();
}

static int
flood_get(floodSub *f, int *field)
{
    int v;

    pthread_mutex_lock(&f->mu);
    v = *field;
    pthread_mutex_unlock(&f->mu);
    return v;
}

typedef struct
{
    natsConnection  *nc;
    volatile bool   stop;
} floodPub;

static void*
_floodPublisher(void *arg)
{
    floodPub *fp = (floodPub*) arg;

    while (!fp->stop)
    {
        int i;

        for (i = 0; i < 64; i++)
            natsConnection_PublishString(fp->nc, "re.flood", "0123456789abcdef");
        h_sleep_ms(1);
    }
    return NULL;
}

/* variant 0: Close the connection while handlers run; variant 1: Destroy each subscription
 * (from the main thread) while its handler runs, then Close. */
static void
_closeRacesDelivery(deliveryMode mode, int variant)
{
    natsOptions         *opts = NULL;
    natsConnection      *nc   = NULL;
    natsConnection      *pub  = NULL;
    natsSubscription    *subs[FLOOD_SUBS];
    evCount             *e    = (evCount*) calloc(1, sizeof(evCount));
    floodPub            fp;
    pthread_t           pth;
    bool                pubStarted = false;
    int                 i;
    int64_t             t0;

    memset(subs, 0, sizeof(subs));
    REQUIRE(e != NULL);
    h_waiter_init(&e->w);
    for (i = 0; i < FLOOD_SUBS; i++)
    {
        floodSub *f = &flood[mode][variant][i];

        memset(f, 0, sizeof(*f));
        pthread_mutex_init(&f->mu, NULL);
    }
    REQUIRE_OK(natsOptions_Create(&opts));
    CHECK_OK(natsOptions_SetURL(opts, h_url()));
    CHECK_OK(natsOptions_UseGlobalMessageDelivery(opts, mode == M_GLOBAL));
    CHECK_OK(natsOptions_SetMaxPendingMsgs(opts, 1000000));
    CHECK_OK(natsOptions_SetClosedCB(opts, _ecClosed, e));
    CHECK_OK(natsOptions_SetDisconnectedCB(opts, _ecDisc, e));
    REQUIRE_OK(natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);
    for (i = 0; i < FLOOD_SUBS; i++)
    {
        CHECK_OK(natsConnection_Subscribe(&subs[i], nc, "re.flood", _floodMsg, &flood[mode][variant][i]));
        if (subs[i] != NULL)
            CHECK_OK(natsSubscription_SetPendingLimits(subs[i], -1, -1));
        if (subs[i] != NULL)
            CHECK_OK(natsSubscription_SetOnCompleteCB(subs[i], _floodComplete, &flood[mode][variant][i]));
    }
    CHECK_OK(natsConnection_Flush(nc));
    REQUIRE_OK(h_connect(&pub));
    fp.nc   = pub;
    fp.stop = false;
    pubStarted = (pthread_create(&pth, NULL, _floodPublisher, &fp) == 0);
    CHECK(pubStarted);
    /* Wait until every handler has been busy for a while. */
    for (i = 0; i < FLOOD_SUBS; i++)
    {
        int64_t dl = h_now_ms() + 5000 * gSlow;

        while ((flood_get(&flood[mode][variant][i], &flood[mode][variant][i].msgs) < 200) && (h_now_ms() < dl))
            h_sleep_ms(1);
        CHECK(flood_get(&flood[mode][variant][i], &flood[mode][variant][i].msgs) >= 200);
    }

    t0 = h_now_ms();
    if (variant == 1)
    {
        for (i = 0; i < FLOOD_SUBS; i++)
        {
            natsSubscription_Destroy(subs[i]);
            subs[i] = NULL;
        }
        for (i = 0; i < FLOOD_SUBS; i++)
        {
            floodSub *f = &flood[mode][variant][i];
            int64_t  dl = h_now_ms() + 10000 * gSlow;

            while ((flood_get(f, &f->complete) < 1) && (h_now_ms() < dl))
                h_sleep_ms(1);
            CHECK_INT(flood_get(f, &f->complete), 1);
        }
        /* The connection is unaffected. */
        CHECK_OK(natsConnection_Flush(nc));
    }
    natsConnection_Close(nc);
    /* Close does not wait for the handlers' backlog. */
    CHECK(h_now_ms() - t0 < 10000 * gSlow);
    CHECK(natsConnection_IsClosed(nc));
    CHECK(h_waiter_wait(&e->w, 1, 5000 * gSlow));
    for (i = 0; i < FLOOD_SUBS; i++)
    {
        floodSub *f = &flood[mode][variant][i];
        int64_t  dl = h_now_ms() + 10000 * gSlow;

        while ((flood_get(f, &f->complete) < 1) && (h_now_ms() < dl))
            h_sleep_ms(1);
    }
    fp.stop = true;
    if (pubStarted)
        pthread_join(pth, NULL);
    for (i = 0; i < FLOOD_SUBS; i++)
        natsSubscription_Destroy(subs[i]);
    natsConnection_Destroy(nc);
    natsConnection_Destroy(pub);
    h_sleep_ms(100);
    for (i = 0; i < FLOOD_SUBS; i++)
    {
        floodSub *f = &flood[mode][variant][i];

        pthread_mutex_lock(&f->mu);
        CHECK_INT(f->complete, 1);
        CHECK_INT(f->afterComplete, 0);
        pthread_mutex_unlock(&f->mu);
    }
    pthread_mutex_lock(&e->w.mu);
    CHECK_INT(e->closed, 1);
    CHECK_INT(e->disc, 1);
    CHECK_INT(e->afterClosed, 0);
    pthread_mutex_unlock(&e->w.mu);
    CHECK(probe(h_url(), mode));
    /* e is leaked on purpose when a check failed (a late callback may use it). */
    if (h_failed == 0)
    {
        h_waiter_destroy(&e->w);
        free(e);
    }
}

static void
test_close_races_delivery(void)
{
    wd_arm("close races delivery", 120000 * gSlow);
    _closeRacesDelivery(M_PER_SUB, 0);
    _closeRacesDelivery(M_GLOBAL, 0);
    wd_disarm();
}

static void
test_sub_destroy_races_delivery(void)
{
    wd_arm("subscription destroy races delivery", 120000 * gSlow);
    _closeRacesDelivery(M_PER_SUB, 1);
    _closeRacesDelivery(M_GLOBAL, 1);
    wd_disarm();
}

/* ---------------------------------------------------------------------- */
/* After nats_CloseAndWait returned NATS_OK, no callback runs              */
/* ---------------------------------------------------------------------- */

static void
test_no_callback_after_close_and_wait(void)
{
    int64_t before, after;
    int     running;

    wd_arm("nats_CloseAndWait", 60000 * gSlow);
    /* Everything was destroyed by the tests above. */
    CHECK_OK(nats_CloseAndWait(20000 * gSlow));
    pthread_mutex_lock(&gCbMu);
    before  = gCbTotal;
    running = gCbRunning;
    pthread_mutex_unlock(&gCbMu);
    CHECK_INT(running, 0);
    h_sleep_ms(200);
    pthread_mutex_lock(&gCbMu);
    after = gCbTotal;
    pthread_mutex_unlock(&gCbMu);
    CHECK_INT(after, before);
    wd_disarm();
}

int
main(void)
{
    pthread_t wd;

    mainThread = pthread_self();
    if (h_under_valgrind())
        gSlow = 4;
    if (pthread_create(&wd, NULL, wd_thread, NULL) != 0)
        return 1;
    pthread_detach(wd);
    if (!h_default_server_start())
        return h_finish();
    /* Two pool threads: a pool handler blocked in a request must not starve the others. */
    CHECK_OK(nats_SetMessageDeliveryPoolSize(2));

    RUN_TEST(test_reentrancy_matrix);
    RUN_TEST(test_close_races_successful_reconnect);
#if HAVE_NATS_3_13
    RUN_TEST(test_close_races_forced_reconnect);
#endif
    RUN_TEST(test_close_races_delivery);
    RUN_TEST(test_sub_destroy_races_delivery);
    RUN_TEST(test_no_callback_after_close_and_wait);
    return h_finish();
}
