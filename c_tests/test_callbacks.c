/* Callbacks: re-entrancy (calling the library from message handlers), global
 * message delivery, connection event callbacks, error handler. */
#include "harness.h"

static pthread_t mainThread;

/* ---------------------------------------------------------------------- */

typedef struct
{
    h_waiter    w;
    natsStatus  unsubSts;
    bool        wrongSub;
    natsSubscription *expected;
} selfDestroyState;

static void
_selfDestroyCb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    selfDestroyState *st = (selfDestroyState*) closure;

    (void) nc;
    natsMsg_Destroy(msg);
    pthread_mutex_lock(&st->w.mu);
    st->unsubSts = natsSubscription_Unsubscribe(sub);
    pthread_mutex_unlock(&st->w.mu);
    natsSubscription_Destroy(sub);
    h_waiter_add(&st->w, 1);
}

static void
test_destroy_sub_in_callback(void)
{
    natsConnection      *nc  = NULL;
    natsSubscription    *sub = NULL;
    selfDestroyState    st;
    int                 i;

    memset(&st, 0, sizeof(st));
    h_waiter_init(&st.w);
    REQUIRE_OK(h_connect(&nc));
    REQUIRE_OK(natsConnection_Subscribe(&sub, nc, "cb.selfdestroy", _selfDestroyCb, &st));
    /* From now on, the subscription object belongs to the callback. */
    for (i = 0; i < 5; i++)
        CHECK_OK(natsConnection_PublishString(nc, "cb.selfdestroy", "x"));
    CHECK_OK(natsConnection_Flush(nc));
    CHECK(h_waiter_wait(&st.w, 1, 5000));
    CHECK_OK(natsConnection_PublishString(nc, "cb.selfdestroy", "x"));
    CHECK_OK(natsConnection_Flush(nc));
    h_sleep_ms(50);
    CHECK_INT(h_waiter_get(&st.w), 1);
    pthread_mutex_lock(&st.w.mu);
    CHECK_STATUS(st.unsubSts, NATS_OK);
    pthread_mutex_unlock(&st.w.mu);
    natsConnection_Destroy(nc);
    h_waiter_destroy(&st.w);
}

/* ---------------------------------------------------------------------- */

static void
_svcCb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    char buf[256];

    (void) sub; (void) closure;
    snprintf(buf, sizeof(buf), "svc:%s", natsMsg_GetData(msg));
    natsConnection_PublishString(nc, natsMsg_GetReply(msg), buf);
    natsMsg_Destroy(msg);
}

typedef struct
{
    h_waiter    w;
    natsStatus  firstErr;
    bool        onMainThread;
} reqInCbState;

/* Handler that performs a request and forwards the reply. */
static void
_forwardCb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    reqInCbState    *st    = (reqInCbState*) closure;
    natsMsg         *reply = NULL;
    natsStatus      s;

    (void) sub;
    s = natsConnection_RequestString(&reply, nc, "cb.svc", natsMsg_GetData(msg), 5000);
    if (s == NATS_OK)
        s = natsConnection_PublishString(nc, "cb.out", natsMsg_GetData(reply));
    if (s == NATS_OK)
        s = natsConnection_Flush(nc);
    pthread_mutex_lock(&st->w.mu);
    if ((s != NATS_OK) && (st->firstErr == NATS_OK))
        st->firstErr = s;
    if (pthread_equal(pthread_self(), mainThread))
        st->onMainThread = true;
    pthread_mutex_unlock(&st->w.mu);
    natsMsg_Destroy(reply);
    natsMsg_Destroy(msg);
    h_waiter_add(&st->w, 1);
}

static void
_requestInCallback(bool oldStyle, bool global)
{
    natsOptions         *opts = NULL;
    natsConnection      *nc   = NULL;
    natsConnection      *svcNc = NULL;
    natsSubscription    *svc  = NULL;
    natsSubscription    *fwd  = NULL;
    natsSubscription    *out  = NULL;
    natsMsg             *msg  = NULL;
    reqInCbState        st;
    char                buf[32];
    int                 i;

    memset(&st, 0, sizeof(st));
    h_waiter_init(&st.w);

    REQUIRE_OK(natsOptions_Create(&opts));
    REQUIRE_OK(natsOptions_SetURL(opts, h_url()));
    REQUIRE_OK(natsOptions_UseOldRequestStyle(opts, oldStyle));
    REQUIRE_OK(natsOptions_UseGlobalMessageDelivery(opts, global));
    REQUIRE_OK(natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);

    /* With per-subscription delivery threads, everything can be on a single
     * connection. With global delivery, subscriptions of the connection share
     * the pool's thread(s) (1 by default): a handler blocked in a request would
     * then prevent the service handler from running (a deadlock until the
     * request times out, in cnats too). So the service gets its own connection. */
    if (global)
    {
        REQUIRE_OK(h_connect(&svcNc));
        REQUIRE_OK(natsConnection_Subscribe(&svc, svcNc, "cb.svc", _svcCb, NULL));
        REQUIRE_OK(natsConnection_Flush(svcNc));
    }
    else
        REQUIRE_OK(natsConnection_Subscribe(&svc, nc, "cb.svc", _svcCb, NULL));
    REQUIRE_OK(natsConnection_Subscribe(&fwd, nc, "cb.in", _forwardCb, &st));
    REQUIRE_OK(natsConnection_SubscribeSync(&out, nc, "cb.out"));

    for (i = 0; i < 5; i++)
    {
        snprintf(buf, sizeof(buf), "m%d", i);
        CHECK_OK(natsConnection_PublishString(nc, "cb.in", buf));
    }
    CHECK(h_waiter_wait(&st.w, 5, 10000));
    for (i = 0; i < 5; i++)
    {
        char expected[32];

        snprintf(expected, sizeof(expected), "svc:m%d", i);
        CHECK_OK(natsSubscription_NextMsg(&msg, out, 5000));
        if (msg != NULL)
            CHECK_STR(natsMsg_GetData(msg), expected);
        natsMsg_Destroy(msg);
        msg = NULL;
    }
    pthread_mutex_lock(&st.w.mu);
    CHECK_STATUS(st.firstErr, NATS_OK);
    CHECK(!st.onMainThread);
    pthread_mutex_unlock(&st.w.mu);

    natsSubscription_Destroy(svc);
    natsSubscription_Destroy(fwd);
    natsSubscription_Destroy(out);
    natsConnection_Destroy(nc);
    natsConnection_Destroy(svcNc);
    h_waiter_destroy(&st.w);
}

static void
test_request_in_callback(void)
{
    _requestInCallback(false, false);
}

static void
test_old_style_request_in_callback(void)
{
    _requestInCallback(true, false);
}

static void
test_request_in_callback_global_delivery(void)
{
    _requestInCallback(false, true);
}

/* ---------------------------------------------------------------------- */

typedef struct
{
    h_waiter            w;
    int                 next[3];
    bool                outOfOrder;
    bool                onMainThread;
} globalState;

typedef struct
{
    globalState *st;
    int         idx;
} globalMember;

static void
_globalCb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    globalMember    *m = (globalMember*) closure;
    int             v  = atoi(natsMsg_GetData(msg));

    (void) nc; (void) sub;
    pthread_mutex_lock(&m->st->w.mu);
    if (v != m->st->next[m->idx])
        m->st->outOfOrder = true;
    m->st->next[m->idx] = v + 1;
    if (pthread_equal(pthread_self(), mainThread))
        m->st->onMainThread = true;
    pthread_mutex_unlock(&m->st->w.mu);
    natsMsg_Destroy(msg);
    h_waiter_add(&m->st->w, 1);
}

static void
_completeCb(void *closure)
{
    h_waiter_add((h_waiter*) closure, 1);
}

static void
test_global_delivery(void)
{
    natsOptions         *opts = NULL;
    natsConnection      *nc   = NULL;
    natsSubscription    *subs[3] = { NULL, NULL, NULL };
    globalState         st;
    globalMember        members[3];
    h_waiter            done;
    char                subj[32], buf[16];
    int                 i, j;

    memset(&st, 0, sizeof(st));
    h_waiter_init(&st.w);
    h_waiter_init(&done);

    CHECK_OK(nats_SetMessageDeliveryPoolSize(2));
    REQUIRE_OK(natsOptions_Create(&opts));
    REQUIRE_OK(natsOptions_SetURL(opts, h_url()));
    REQUIRE_OK(natsOptions_UseGlobalMessageDelivery(opts, true));
    REQUIRE_OK(natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);

    for (i = 0; i < 3; i++)
    {
        members[i].st  = &st;
        members[i].idx = i;
        snprintf(subj, sizeof(subj), "cb.global.%d", i);
        REQUIRE_OK(natsConnection_Subscribe(&subs[i], nc, subj, _globalCb, &members[i]));
    }
    CHECK_OK(natsSubscription_SetOnCompleteCB(subs[0], _completeCb, &done));
    for (j = 0; j < 100; j++)
    {
        for (i = 0; i < 3; i++)
        {
            snprintf(subj, sizeof(subj), "cb.global.%d", i);
            snprintf(buf, sizeof(buf), "%d", j);
            CHECK_OK(natsConnection_PublishString(nc, subj, buf));
        }
    }
    CHECK_OK(natsConnection_Flush(nc));
    CHECK(h_waiter_wait(&st.w, 300, 10000));
    CHECK_INT(h_waiter_get(&st.w), 300);
    pthread_mutex_lock(&st.w.mu);
    /* Per subscription ordering is preserved by the shared pool. */
    CHECK(!st.outOfOrder);
    CHECK(!st.onMainThread);
    for (i = 0; i < 3; i++)
        CHECK_INT(st.next[i], 100);
    pthread_mutex_unlock(&st.w.mu);

    CHECK_OK(natsSubscription_Unsubscribe(subs[0]));
    CHECK(h_waiter_wait(&done, 1, 5000));

    for (i = 0; i < 3; i++)
        natsSubscription_Destroy(subs[i]);
    natsConnection_Destroy(nc);
    h_waiter_destroy(&st.w);
    h_waiter_destroy(&done);
}

/* ---------------------------------------------------------------------- */

typedef struct
{
    h_waiter    w;
    natsStatus  flushSts;
    natsStatus  flushTimeoutSts;
    natsStatus  closeAndWaitSts;
} flushState;

static void
_flushCb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    flushState  *st = (flushState*) closure;
    natsStatus  a, b, c;

    (void) sub;
    a = natsConnection_Flush(nc);
    b = natsConnection_FlushTimeout(nc, 2000);
    /* Blocking library teardown from a library thread is refused. */
    c = nats_CloseAndWait(0);
    pthread_mutex_lock(&st->w.mu);
    st->flushSts        = a;
    st->flushTimeoutSts = b;
    st->closeAndWaitSts = c;
    pthread_mutex_unlock(&st->w.mu);
    natsMsg_Destroy(msg);
    h_waiter_add(&st->w, 1);
}

static void
test_flush_in_callback(void)
{
    natsConnection      *nc  = NULL;
    natsSubscription    *sub = NULL;
    flushState          st;

    memset(&st, 0, sizeof(st));
    h_waiter_init(&st.w);
    REQUIRE_OK(h_connect(&nc));
    REQUIRE_OK(natsConnection_Subscribe(&sub, nc, "cb.flush", _flushCb, &st));
    CHECK_OK(natsConnection_PublishString(nc, "cb.flush", "x"));
    CHECK(h_waiter_wait(&st.w, 1, 10000));
    pthread_mutex_lock(&st.w.mu);
    CHECK_STATUS(st.flushSts, NATS_OK);
    CHECK_STATUS(st.flushTimeoutSts, NATS_OK);
    CHECK_STATUS(st.closeAndWaitSts, NATS_ILLEGAL_STATE);
    pthread_mutex_unlock(&st.w.mu);
    /* The library is still usable. */
    CHECK_OK(natsConnection_Flush(nc));
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    h_waiter_destroy(&st.w);
}

/* ---------------------------------------------------------------------- */

typedef struct
{
    h_waiter    w;
    bool        onMainThread;
    natsConnection *nc;
    bool        wrongConn;
} connCbState;

static void
_connEventCb(natsConnection *nc, void *closure)
{
    connCbState *st = (connCbState*) closure;

    pthread_mutex_lock(&st->w.mu);
    if (pthread_equal(pthread_self(), mainThread))
        st->onMainThread = true;
    if ((st->nc != NULL) && (nc != st->nc))
        st->wrongConn = true;
    pthread_mutex_unlock(&st->w.mu);
    h_waiter_add(&st->w, 1);
}

static void
test_closed_cb_once(void)
{
    natsOptions     *opts = NULL;
    natsConnection  *nc   = NULL;
    connCbState     st;

    memset(&st, 0, sizeof(st));
    h_waiter_init(&st.w);
    REQUIRE_OK(natsOptions_Create(&opts));
    REQUIRE_OK(natsOptions_SetURL(opts, h_url()));
    REQUIRE_OK(natsOptions_SetClosedCB(opts, _connEventCb, &st));
    REQUIRE_OK(natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);
    pthread_mutex_lock(&st.w.mu);
    st.nc = nc;
    pthread_mutex_unlock(&st.w.mu);

    CHECK_INT(h_waiter_get(&st.w), 0);
    natsConnection_Close(nc);
    CHECK(h_waiter_wait(&st.w, 1, 5000));
    natsConnection_Close(nc);
    natsConnection_Destroy(nc);
    h_sleep_ms(50);
    CHECK_INT(h_waiter_get(&st.w), 1);
    pthread_mutex_lock(&st.w.mu);
    CHECK(!st.onMainThread);
    CHECK(!st.wrongConn);
    pthread_mutex_unlock(&st.w.mu);
    h_waiter_destroy(&st.w);

    /* Destroy without Close also invokes it once. */
    memset(&st, 0, sizeof(st));
    h_waiter_init(&st.w);
    REQUIRE_OK(natsOptions_Create(&opts));
    REQUIRE_OK(natsOptions_SetURL(opts, h_url()));
    REQUIRE_OK(natsOptions_SetClosedCB(opts, _connEventCb, &st));
    REQUIRE_OK(natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);
    natsConnection_Destroy(nc);
    CHECK(h_waiter_wait(&st.w, 1, 5000));
    h_sleep_ms(50);
    CHECK_INT(h_waiter_get(&st.w), 1);
    h_waiter_destroy(&st.w);
}

/* A message handler that closes its own connection. */
static void
_closeConnCb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void) sub; (void) closure;
    natsMsg_Destroy(msg);
    natsConnection_Close(nc);
}

static void
test_close_conn_in_callback(void)
{
    natsOptions         *opts = NULL;
    natsConnection      *nc   = NULL;
    natsSubscription    *sub  = NULL;
    connCbState         st;

    memset(&st, 0, sizeof(st));
    h_waiter_init(&st.w);
    REQUIRE_OK(natsOptions_Create(&opts));
    REQUIRE_OK(natsOptions_SetURL(opts, h_url()));
    REQUIRE_OK(natsOptions_SetClosedCB(opts, _connEventCb, &st));
    REQUIRE_OK(natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);

    REQUIRE_OK(natsConnection_Subscribe(&sub, nc, "cb.close", _closeConnCb, NULL));
    CHECK_OK(natsConnection_PublishString(nc, "cb.close", "bye"));
    CHECK(h_waiter_wait(&st.w, 1, 5000));
    CHECK(natsConnection_IsClosed(nc));
    CHECK(!natsSubscription_IsValid(sub));
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    h_waiter_destroy(&st.w);
}

/* ---------------------------------------------------------------------- */

typedef struct
{
    h_waiter            w;
    natsStatus          errs[8];
    natsSubscription    *subs[8];
} errState;

static void
_errCb(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    errState *es = (errState*) closure;

    (void) nc;
    pthread_mutex_lock(&es->w.mu);
    if (es->w.count < 8)
    {
        es->errs[es->w.count] = err;
        es->subs[es->w.count] = sub;
    }
    es->w.count++;
    pthread_cond_broadcast(&es->w.cond);
    pthread_mutex_unlock(&es->w.mu);
}

static void
test_error_handler_permissions(void)
{
    const char *config =
        "authorization {\n"
        "  users = [\n"
        "    { user: \"limited\", password: \"pw\",\n"
        "      permissions: { publish: { deny: [\"forbidden.>\"] },\n"
        "                     subscribe: { deny: [\"secret.>\"] } } }\n"
        "  ]\n"
        "}\n";
    h_server            srv;
    natsOptions         *opts = NULL;
    natsConnection      *nc   = NULL;
    natsSubscription    *sub  = NULL;
    natsSubscription    *ok   = NULL;
    natsMsg             *msg  = NULL;
    errState            es;
    const char          *lastErr = NULL;

    memset(&es, 0, sizeof(es));
    h_waiter_init(&es.w);
    REQUIRE(h_server_start(&srv, NULL, config));

    REQUIRE_OK(natsOptions_Create(&opts));
    REQUIRE_OK(natsOptions_SetURL(opts, srv.url));
    REQUIRE_OK(natsOptions_SetUserInfo(opts, "limited", "pw"));
    REQUIRE_OK(natsOptions_SetErrorHandler(opts, _errCb, &es));
    REQUIRE_OK(natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);

    /* Publish violation: reported asynchronously, without subscription. */
    CHECK_OK(natsConnection_PublishString(nc, "forbidden.topic", "x"));
    CHECK_OK(natsConnection_Flush(nc));
    CHECK(h_waiter_wait(&es.w, 1, 5000));
    pthread_mutex_lock(&es.w.mu);
    CHECK_STATUS(es.errs[0], NATS_NOT_PERMITTED);
    CHECK(es.subs[0] == NULL);
    pthread_mutex_unlock(&es.w.mu);
    CHECK_STATUS(natsConnection_GetLastError(nc, &lastErr), NATS_NOT_PERMITTED);
    CHECK((lastErr != NULL) && (strstr(lastErr, "Permissions Violation") != NULL));
    /* The connection stays up. */
    CHECK_INT(natsConnection_Status(nc), NATS_CONN_STATUS_CONNECTED);

    /* Subscribe violation. */
    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "secret.stuff"));
    CHECK_OK(natsConnection_Flush(nc));
    CHECK(h_waiter_wait(&es.w, 2, 5000));
    pthread_mutex_lock(&es.w.mu);
    CHECK_STATUS(es.errs[1], NATS_NOT_PERMITTED);
    pthread_mutex_unlock(&es.w.mu);

    /* Allowed traffic still flows. */
    REQUIRE_OK(natsConnection_SubscribeSync(&ok, nc, "allowed.topic"));
    CHECK_OK(natsConnection_PublishString(nc, "allowed.topic", "fine"));
    CHECK_OK(natsSubscription_NextMsg(&msg, ok, 2000));
    natsMsg_Destroy(msg);

    natsSubscription_Destroy(sub);
    natsSubscription_Destroy(ok);
    natsConnection_Destroy(nc);
    h_server_destroy(&srv);
    h_waiter_destroy(&es.w);
}

/* Disconnected / reconnected callbacks run on library threads. */
static void
test_reconnect_callbacks(void)
{
    h_server        srv;
    natsOptions     *opts = NULL;
    natsConnection  *nc   = NULL;
    connCbState     disc, reco, closed;

    memset(&disc, 0, sizeof(disc));
    memset(&reco, 0, sizeof(reco));
    memset(&closed, 0, sizeof(closed));
    h_waiter_init(&disc.w);
    h_waiter_init(&reco.w);
    h_waiter_init(&closed.w);
    REQUIRE(h_server_start(&srv, NULL, NULL));

    REQUIRE_OK(natsOptions_Create(&opts));
    REQUIRE_OK(natsOptions_SetURL(opts, srv.url));
    REQUIRE_OK(natsOptions_SetReconnectWait(opts, 50));
    REQUIRE_OK(natsOptions_SetMaxReconnect(opts, 100));
    REQUIRE_OK(natsOptions_SetDisconnectedCB(opts, _connEventCb, &disc));
    REQUIRE_OK(natsOptions_SetReconnectedCB(opts, _connEventCb, &reco));
    REQUIRE_OK(natsOptions_SetClosedCB(opts, _connEventCb, &closed));
    REQUIRE_OK(natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);

    h_server_stop(&srv);
    CHECK(h_waiter_wait(&disc.w, 1, 5000));
    CHECK(h_server_restart(&srv));
    CHECK(h_waiter_wait(&reco.w, 1, 10000));
    CHECK_OK(natsConnection_Flush(nc));
    natsConnection_Close(nc);
    CHECK(h_waiter_wait(&closed.w, 1, 5000));

    /* Closing a connected connection also reports a disconnection. */
    CHECK(h_waiter_wait(&disc.w, 2, 5000));
    CHECK_INT(h_waiter_get(&reco.w), 1);
    CHECK_INT(h_waiter_get(&closed.w), 1);
    CHECK(!disc.onMainThread);
    CHECK(!reco.onMainThread);
    CHECK(!closed.onMainThread);

    natsConnection_Destroy(nc);
    h_server_destroy(&srv);
    h_waiter_destroy(&disc.w);
    h_waiter_destroy(&reco.w);
    h_waiter_destroy(&closed.w);
}

int
main(void)
{
    mainThread = pthread_self();
    if (!h_default_server_start())
        return h_finish();

    RUN_TEST(test_destroy_sub_in_callback);
    RUN_TEST(test_request_in_callback);
    RUN_TEST(test_old_style_request_in_callback);
    RUN_TEST(test_request_in_callback_global_delivery);
    RUN_TEST(test_global_delivery);
    RUN_TEST(test_flush_in_callback);
    RUN_TEST(test_closed_cb_once);
    RUN_TEST(test_close_conn_in_callback);
    RUN_TEST(test_error_handler_permissions);
    RUN_TEST(test_reconnect_callbacks);
    return h_finish();
}
