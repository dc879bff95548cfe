/* natsSubscription: unsubscribe, auto-unsubscribe, pending/limits/statistics,
 * slow consumers, completion callback. */
#include "harness.h"

static void
_countCb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void) nc; (void) sub;
    natsMsg_Destroy(msg);
    h_waiter_add((h_waiter*) closure, 1);
}

static void
_publishN(natsConnection *nc, const char *subj, int n, const char *payload)
{
    int i;

    for (i = 0; i < n; i++)
        CHECK_OK(natsConnection_PublishString(nc, subj, payload));
    CHECK_OK(natsConnection_Flush(nc));
}

static void
test_unsubscribe(void)
{
    natsConnection      *nc  = NULL;
    natsSubscription    *sub = NULL;
    natsMsg             *msg = NULL;
    int                 a = 0, b = 0;
    int64_t             d = 0;
    uint64_t            q = 0;

    REQUIRE_OK(h_connect(&nc));
    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "sub.unsub"));
    CHECK(natsSubscription_IsValid(sub));

    CHECK_OK(natsSubscription_Unsubscribe(sub));
    CHECK(!natsSubscription_IsValid(sub));
    CHECK_STATUS(natsSubscription_NextMsg(&msg, sub, 100), NATS_INVALID_SUBSCRIPTION);
    CHECK(msg == NULL);
    CHECK_STATUS(natsSubscription_Unsubscribe(sub), NATS_INVALID_SUBSCRIPTION);
    CHECK_STATUS(natsSubscription_AutoUnsubscribe(sub, 10), NATS_INVALID_SUBSCRIPTION);
    /* Closed subscriptions report 0 / NULL. */
    CHECK_INT(natsSubscription_GetID(sub), 0);
    CHECK(natsSubscription_GetSubject(sub) == NULL);
    CHECK_STATUS(natsSubscription_GetPending(sub, &a, &b), NATS_INVALID_SUBSCRIPTION);
    CHECK_STATUS(natsSubscription_SetPendingLimits(sub, 10, 100), NATS_INVALID_SUBSCRIPTION);
    CHECK_STATUS(natsSubscription_GetPendingLimits(sub, &a, &b), NATS_INVALID_SUBSCRIPTION);
    CHECK_STATUS(natsSubscription_GetDelivered(sub, &d), NATS_INVALID_SUBSCRIPTION);
    CHECK_STATUS(natsSubscription_GetDropped(sub, &d), NATS_INVALID_SUBSCRIPTION);
    CHECK_STATUS(natsSubscription_GetMaxPending(sub, &a, &b), NATS_INVALID_SUBSCRIPTION);
    CHECK_STATUS(natsSubscription_ClearMaxPending(sub), NATS_INVALID_SUBSCRIPTION);
    CHECK_STATUS(natsSubscription_GetStats(sub, &a, &b, NULL, NULL, &d, NULL), NATS_INVALID_SUBSCRIPTION);
    CHECK_STATUS(natsSubscription_QueuedMsgs(sub, &q), NATS_INVALID_SUBSCRIPTION);
#if HAVE_NATS_3_13
    /* Still returns its connection. */
    CHECK(natsSubscription_GetConnection(sub) == nc);
#endif
    natsSubscription_Destroy(sub);

    /* NULL subscription. */
    CHECK_STATUS(natsSubscription_Unsubscribe(NULL), NATS_INVALID_ARG);
    CHECK_STATUS(natsSubscription_AutoUnsubscribe(NULL, 1), NATS_INVALID_ARG);
    CHECK(!natsSubscription_IsValid(NULL));
    CHECK_INT(natsSubscription_GetID(NULL), 0);
    CHECK(natsSubscription_GetSubject(NULL) == NULL);
    CHECK_STATUS(natsSubscription_GetPending(NULL, &a, &b), NATS_INVALID_ARG);
    natsSubscription_Destroy(NULL);

    natsConnection_Destroy(nc);
}

static void
test_unsubscribe_async(void)
{
    natsConnection      *nc  = NULL;
    natsSubscription    *sub = NULL;
    h_waiter            w;

    h_waiter_init(&w);
    REQUIRE_OK(h_connect(&nc));
    REQUIRE_OK(natsConnection_Subscribe(&sub, nc, "sub.unsub.async", _countCb, &w));
    _publishN(nc, "sub.unsub.async", 3, "x");
    CHECK(h_waiter_wait(&w, 3, 5000));

    CHECK_OK(natsSubscription_Unsubscribe(sub));
    CHECK(!natsSubscription_IsValid(sub));
    _publishN(nc, "sub.unsub.async", 3, "x");
    /* Negative check: give a (would-be) delivery a chance to happen. */
    h_sleep_ms(50);
    CHECK_INT(h_waiter_get(&w), 3);

    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    h_waiter_destroy(&w);
}

static void
test_auto_unsubscribe_sync(void)
{
    natsConnection      *nc  = NULL;
    natsSubscription    *sub = NULL;
    natsMsg             *msg = NULL;
    int                 i, pending = 0;

    REQUIRE_OK(h_connect(&nc));
    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "sub.autounsub"));
    REQUIRE_OK(natsSubscription_AutoUnsubscribe(sub, 5));
    _publishN(nc, "sub.autounsub", 10, "x");

    /* The server stops after 5 messages. */
    CHECK_OK(natsSubscription_GetPending(sub, &pending, NULL));
    CHECK_INT(pending, 5);
    for (i = 0; i < 5; i++)
    {
        CHECK(natsSubscription_IsValid(sub));
        CHECK_OK(natsSubscription_NextMsg(&msg, sub, 1000));
        natsMsg_Destroy(msg);
        msg = NULL;
    }
    /* Removed once the max has been delivered. */
    CHECK(!natsSubscription_IsValid(sub));
    CHECK_STATUS(natsSubscription_NextMsg(&msg, sub, 100), NATS_MAX_DELIVERED_MSGS);
    CHECK(msg == NULL);

    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
}

typedef struct
{
    natsSubscription *sub;
} subRef;

static bool
_subInvalid(void *arg)
{
    return !natsSubscription_IsValid(((subRef*) arg)->sub);
}

static void
test_auto_unsubscribe_async(void)
{
    natsConnection      *nc  = NULL;
    natsSubscription    *sub = NULL;
    h_waiter            w;
    subRef              ref;

    h_waiter_init(&w);
    REQUIRE_OK(h_connect(&nc));
    REQUIRE_OK(natsConnection_Subscribe(&sub, nc, "sub.autounsub.async", _countCb, &w));
    REQUIRE_OK(natsSubscription_AutoUnsubscribe(sub, 5));
    _publishN(nc, "sub.autounsub.async", 20, "x");

    CHECK(h_waiter_wait(&w, 5, 5000));
    ref.sub = sub;
    CHECK(h_wait_until(_subInvalid, &ref, 5000));
    _publishN(nc, "sub.autounsub.async", 5, "x");
    h_sleep_ms(50);
    /* Exactly 5 delivered. */
    CHECK_INT(h_waiter_get(&w), 5);

    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    h_waiter_destroy(&w);
}

/* AutoUnsubscribe with a max already reached removes the subscription at once. */
static void
test_auto_unsubscribe_already_reached(void)
{
    natsConnection      *nc  = NULL;
    natsSubscription    *sub = NULL;
    natsMsg             *msg = NULL;
    int                 i;

    REQUIRE_OK(h_connect(&nc));
    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "sub.autounsub.reached"));
    _publishN(nc, "sub.autounsub.reached", 3, "x");
    for (i = 0; i < 3; i++)
    {
        CHECK_OK(natsSubscription_NextMsg(&msg, sub, 1000));
        natsMsg_Destroy(msg);
        msg = NULL;
    }
    CHECK_OK(natsSubscription_AutoUnsubscribe(sub, 2));
    CHECK(!natsSubscription_IsValid(sub));
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
}

static void
test_pending_and_stats(void)
{
    natsConnection      *nc  = NULL;
    natsSubscription    *sub = NULL;
    natsMsg             *msg = NULL;
    int                 msgs = -1, bytes = -1, maxMsgs = -1, maxBytes = -1;
    int64_t             delivered = -1, dropped = -1;
    uint64_t            queued = 0;
    int                 i;

    REQUIRE_OK(h_connect(&nc));
    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "sub.pending"));

    /* Default limits. */
    CHECK_OK(natsSubscription_GetPendingLimits(sub, &msgs, &bytes));
    CHECK_INT(msgs, 65536);
    CHECK_INT(bytes, 65536 * 1024);
    CHECK_OK(natsSubscription_GetPendingLimits(sub, NULL, NULL));

    CHECK_STATUS(natsSubscription_SetPendingLimits(sub, 0, 100), NATS_INVALID_ARG);
    CHECK_STATUS(natsSubscription_SetPendingLimits(sub, 100, 0), NATS_INVALID_ARG);
    CHECK_STATUS(natsSubscription_SetPendingLimits(NULL, 100, 100), NATS_INVALID_ARG);
    /* Negative means "no limit". */
    CHECK_OK(natsSubscription_SetPendingLimits(sub, -1, -1));
    CHECK_OK(natsSubscription_GetPendingLimits(sub, &msgs, &bytes));
    CHECK_INT(msgs, -1);
    CHECK_INT(bytes, -1);
    CHECK_OK(natsSubscription_SetPendingLimits(sub, 100, 1000));
    CHECK_OK(natsSubscription_GetPendingLimits(sub, &msgs, &bytes));
    CHECK_INT(msgs, 100);
    CHECK_INT(bytes, 1000);

    CHECK_OK(natsSubscription_GetPending(sub, &msgs, &bytes));
    CHECK_INT(msgs, 0);
    CHECK_INT(bytes, 0);

    _publishN(nc, "sub.pending", 3, "0123456789");

    CHECK_OK(natsSubscription_GetPending(sub, &msgs, &bytes));
    CHECK_INT(msgs, 3);
    CHECK_INT(bytes, 30);
    CHECK_OK(natsSubscription_GetPending(sub, NULL, NULL));
    CHECK_OK(natsSubscription_QueuedMsgs(sub, &queued));
    CHECK_INT(queued, 3);
    CHECK_STATUS(natsSubscription_QueuedMsgs(sub, NULL), NATS_INVALID_ARG);
    CHECK_OK(natsSubscription_GetMaxPending(sub, &maxMsgs, &maxBytes));
    CHECK_INT(maxMsgs, 3);
    CHECK_INT(maxBytes, 30);

    for (i = 0; i < 2; i++)
    {
        CHECK_OK(natsSubscription_NextMsg(&msg, sub, 1000));
        natsMsg_Destroy(msg);
        msg = NULL;
    }
    CHECK_OK(natsSubscription_GetPending(sub, &msgs, &bytes));
    CHECK_INT(msgs, 1);
    CHECK_INT(bytes, 10);
    CHECK_OK(natsSubscription_GetDelivered(sub, &delivered));
    CHECK_INT(delivered, 2);
    CHECK_OK(natsSubscription_GetDropped(sub, &dropped));
    CHECK_INT(dropped, 0);
    CHECK_STATUS(natsSubscription_GetDelivered(sub, NULL), NATS_INVALID_ARG);
    CHECK_STATUS(natsSubscription_GetDropped(sub, NULL), NATS_INVALID_ARG);

    /* The maximum is a high-water mark... */
    CHECK_OK(natsSubscription_GetMaxPending(sub, &maxMsgs, &maxBytes));
    CHECK_INT(maxMsgs, 3);
    CHECK_INT(maxBytes, 30);
    /* ...that can be cleared. */
    CHECK_OK(natsSubscription_ClearMaxPending(sub));
    CHECK_OK(natsSubscription_GetMaxPending(sub, &maxMsgs, &maxBytes));
    CHECK_INT(maxMsgs, 0);
    CHECK_INT(maxBytes, 0);

    msgs = bytes = maxMsgs = maxBytes = -1;
    delivered = dropped = -1;
    CHECK_OK(natsSubscription_GetStats(sub, &msgs, &bytes, &maxMsgs, &maxBytes, &delivered, &dropped));
    CHECK_INT(msgs, 1);
    CHECK_INT(bytes, 10);
    CHECK_INT(maxMsgs, 0);
    CHECK_INT(maxBytes, 0);
    CHECK_INT(delivered, 2);
    CHECK_INT(dropped, 0);
    CHECK_OK(natsSubscription_GetStats(sub, NULL, NULL, NULL, NULL, NULL, NULL));

    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
}

static void
test_id_and_subject(void)
{
    natsConnection      *nc = NULL;
    natsSubscription    *a  = NULL;
    natsSubscription    *b  = NULL;
    natsSubscription    *q  = NULL;
    h_waiter            w;

    h_waiter_init(&w);
    REQUIRE_OK(h_connect(&nc));
    REQUIRE_OK(natsConnection_SubscribeSync(&a, nc, "sub.id.a"));
    REQUIRE_OK(natsConnection_Subscribe(&b, nc, "sub.id.*", _countCb, &w));
    REQUIRE_OK(natsConnection_QueueSubscribeSync(&q, nc, "sub.id.>", "grp"));

    CHECK(natsSubscription_GetID(a) > 0);
    CHECK(natsSubscription_GetID(b) > 0);
    CHECK(natsSubscription_GetID(q) > 0);
    CHECK(natsSubscription_GetID(a) != natsSubscription_GetID(b));
    CHECK(natsSubscription_GetID(b) != natsSubscription_GetID(q));
    CHECK_STR(natsSubscription_GetSubject(a), "sub.id.a");
    CHECK_STR(natsSubscription_GetSubject(b), "sub.id.*");
    CHECK_STR(natsSubscription_GetSubject(q), "sub.id.>");
#if HAVE_NATS_3_13
    CHECK(natsSubscription_GetConnection(a) == nc);
    CHECK(natsSubscription_GetConnection(NULL) == NULL);
#endif
    CHECK_OK(natsSubscription_NoDeliveryDelay(a));
    CHECK_OK(natsSubscription_NoDeliveryDelay(b));
    CHECK_STATUS(natsSubscription_NoDeliveryDelay(NULL), NATS_INVALID_ARG);

    natsSubscription_Destroy(a);
    natsSubscription_Destroy(b);
    natsSubscription_Destroy(q);
    natsConnection_Destroy(nc);
    h_waiter_destroy(&w);
}

typedef struct
{
    h_waiter            w;              /* count: messages entered in the callback; flag: release */
    h_waiter            done;           /* count: callbacks that returned */
    h_waiter            errs;           /* count: error handler invocations */
    natsSubscription    *errSub;
    natsStatus          errStatus;
    natsConnection      *errConn;
} slowState;

static void
_blockingCb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    slowState *st = (slowState*) closure;

    (void) nc; (void) sub;
    natsMsg_Destroy(msg);
    h_waiter_add(&st->w, 1);
    /* Block until released by the test. */
    h_waiter_wait_flag(&st->w, 10000);
    /* Last access to `st`: once the test sees all callbacks done, it may
     * release `st`. */
    h_waiter_add(&st->done, 1);
}

static void
_slowErrCb(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    slowState *st = (slowState*) closure;

    pthread_mutex_lock(&st->errs.mu);
    st->errConn   = nc;
    st->errSub    = sub;
    st->errStatus = err;
    pthread_mutex_unlock(&st->errs.mu);
    h_waiter_add(&st->errs, 1);
}

static void
test_slow_consumer_async(void)
{
    natsOptions         *opts = NULL;
    natsConnection      *nc   = NULL;
    natsSubscription    *sub  = NULL;
    slowState           st;
    int                 pending = -1;
    int64_t             dropped = -1, delivered = -1;
    const char          *lastErr = NULL;

    memset(&st, 0, sizeof(st));
    h_waiter_init(&st.w);
    h_waiter_init(&st.done);
    h_waiter_init(&st.errs);

    REQUIRE_OK(natsOptions_Create(&opts));
    REQUIRE_OK(natsOptions_SetURL(opts, h_url()));
    REQUIRE_OK(natsOptions_SetErrorHandler(opts, _slowErrCb, &st));
    REQUIRE_OK(natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);

    REQUIRE_OK(natsConnection_Subscribe(&sub, nc, "sub.slow", _blockingCb, &st));
    REQUIRE_OK(natsSubscription_SetPendingLimits(sub, 10, 1024 * 1024));

    /* First message: the callback takes it and blocks. */
    _publishN(nc, "sub.slow", 1, "first");
    CHECK(h_waiter_wait(&st.w, 1, 5000));

    /* 99 more: 10 fit in the pending queue, 89 are dropped. */
    _publishN(nc, "sub.slow", 99, "more");
    CHECK(h_waiter_wait(&st.errs, 1, 5000));

    CHECK_OK(natsSubscription_GetPending(sub, &pending, NULL));
    CHECK_OK(natsSubscription_GetDropped(sub, &dropped));
    CHECK_OK(natsSubscription_GetDelivered(sub, &delivered));
    CHECK_INT(pending, 10);
    CHECK_INT(dropped, 89);
    CHECK_INT(delivered, 1);
    CHECK_INT(delivered + pending + dropped, 100);

    pthread_mutex_lock(&st.errs.mu);
    CHECK_STATUS(st.errStatus, NATS_SLOW_CONSUMER);
    CHECK(st.errSub == sub);
    CHECK(st.errConn == nc);
    pthread_mutex_unlock(&st.errs.mu);
    /* The connection records the error. */
    CHECK_STATUS(natsConnection_GetLastError(nc, &lastErr), NATS_SLOW_CONSUMER);

    /* Release: the pending messages are delivered, the dropped ones are gone. */
    h_waiter_set_flag(&st.w);
    CHECK(h_waiter_wait(&st.done, 11, 5000));
    CHECK_OK(natsConnection_Flush(nc));
    CHECK_OK(natsSubscription_GetDelivered(sub, &delivered));
    CHECK_OK(natsSubscription_GetDropped(sub, &dropped));
    CHECK_OK(natsSubscription_GetPending(sub, &pending, NULL));
    CHECK_INT(delivered, 11);
    CHECK_INT(dropped, 89);
    CHECK_INT(pending, 0);
    CHECK_INT(dropped, 100 - delivered - pending);
    /* One report per slow consumer episode. */
    CHECK_INT(h_waiter_get(&st.errs), 1);

    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    h_waiter_destroy(&st.w);
    h_waiter_destroy(&st.done);
    h_waiter_destroy(&st.errs);
}

static void
test_slow_consumer_sync(void)
{
    natsConnection      *nc  = NULL;
    natsSubscription    *sub = NULL;
    natsMsg             *msg = NULL;
    int64_t             dropped = -1;
    int                 i;

    REQUIRE_OK(h_connect(&nc));
    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "sub.slow.sync"));
    REQUIRE_OK(natsSubscription_SetPendingLimits(sub, 5, -1));
    _publishN(nc, "sub.slow.sync", 10, "x");

    /* The next call reports the slow consumer condition once... */
    CHECK_STATUS(natsSubscription_NextMsg(&msg, sub, 1000), NATS_SLOW_CONSUMER);
    CHECK(msg == NULL);
    /* ...then the 5 messages that fit are returned. */
    for (i = 0; i < 5; i++)
    {
        CHECK_OK(natsSubscription_NextMsg(&msg, sub, 1000));
        natsMsg_Destroy(msg);
        msg = NULL;
    }
    CHECK_STATUS(natsSubscription_NextMsg(&msg, sub, 0), NATS_TIMEOUT);
    CHECK_OK(natsSubscription_GetDropped(sub, &dropped));
    CHECK_INT(dropped, 5);
    natsSubscription_Destroy(sub);

    /* Bytes limit: payload + headers size count. 3 x 30 bytes fit in 100. */
    sub = NULL;
    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "sub.slow.bytes"));
    REQUIRE_OK(natsSubscription_SetPendingLimits(sub, -1, 100));
    _publishN(nc, "sub.slow.bytes", 5, "012345678901234567890123456789");
    {
        int msgs = 0, bytes = 0;
        CHECK_OK(natsSubscription_GetPending(sub, &msgs, &bytes));
        CHECK_INT(msgs, 3);
        CHECK_INT(bytes, 90);
        CHECK_OK(natsSubscription_GetDropped(sub, &dropped));
        CHECK_INT(dropped, 2);
    }
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
}

static void
_completeCb(void *closure)
{
    h_waiter_add((h_waiter*) closure, 1);
}

/* The completion callback runs after the subscription is closed and the
 * message handler has returned. */
static void
test_on_complete_cb(void)
{
    natsConnection      *nc    = NULL;
    natsSubscription    *sync  = NULL;
    natsSubscription    *sub   = NULL;
    slowState           st;
    h_waiter            done;

    memset(&st, 0, sizeof(st));
    h_waiter_init(&st.w);
    h_waiter_init(&st.done);
    h_waiter_init(&done);
    REQUIRE_OK(h_connect(&nc));

    REQUIRE_OK(natsConnection_SubscribeSync(&sync, nc, "sub.complete.sync"));
    CHECK_STATUS(natsSubscription_SetOnCompleteCB(sync, _completeCb, &done), NATS_INVALID_SUBSCRIPTION);
    CHECK_STATUS(natsSubscription_SetOnCompleteCB(NULL, _completeCb, &done), NATS_INVALID_ARG);
    natsSubscription_Destroy(sync);

    REQUIRE_OK(natsConnection_Subscribe(&sub, nc, "sub.complete", _blockingCb, &st));
    CHECK_OK(natsSubscription_SetOnCompleteCB(sub, _completeCb, &done));
    _publishN(nc, "sub.complete", 1, "x");
    /* The handler is now running (blocked). */
    CHECK(h_waiter_wait(&st.w, 1, 5000));

    CHECK_OK(natsSubscription_Unsubscribe(sub));
    /* On a closed subscription, it is refused (and the registered one is kept). */
    CHECK_STATUS(natsSubscription_SetOnCompleteCB(sub, _completeCb, NULL), NATS_INVALID_SUBSCRIPTION);
    /* Not complete while the handler is still executing. */
    h_sleep_ms(50);
    CHECK_INT(h_waiter_get(&done), 0);

    h_waiter_set_flag(&st.w);
    CHECK(h_waiter_wait(&done, 1, 5000));
    natsSubscription_Destroy(sub);
    h_sleep_ms(20);
    CHECK_INT(h_waiter_get(&done), 1);
    CHECK_INT(h_waiter_get(&st.done), 1);
    natsConnection_Destroy(nc);
    h_waiter_destroy(&st.w);
    h_waiter_destroy(&st.done);
    h_waiter_destroy(&done);
}

int
main(void)
{
    if (!h_default_server_start())
        return h_finish();

    RUN_TEST(test_unsubscribe);
    RUN_TEST(test_unsubscribe_async);
    RUN_TEST(test_auto_unsubscribe_sync);
    RUN_TEST(test_auto_unsubscribe_async);
    RUN_TEST(test_auto_unsubscribe_already_reached);
    RUN_TEST(test_pending_and_stats);
    RUN_TEST(test_id_and_subject);
    RUN_TEST(test_slow_consumer_async);
    RUN_TEST(test_slow_consumer_sync);
    RUN_TEST(test_on_complete_cb);
    return h_finish();
}
