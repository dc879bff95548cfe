/* Draining subscriptions and connections. */
#include "harness.h"

typedef struct
{
    h_waiter    w;          /* count: messages handled; flag: release blocked callback */
    int64_t     delayMs;    /* per message delay */
    bool        block;      /* block in the callback until the flag is set */
} drainState;

static void
_drainCb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    drainState *st = (drainState*) closure;

    (void) nc; (void) sub;
    natsMsg_Destroy(msg);
    if (st->block)
        h_waiter_wait_flag(&st->w, 10000);
    if (st->delayMs > 0)
        h_sleep_ms(st->delayMs);
    h_waiter_add(&st->w, 1);
}

static void
_completeCb(void *closure)
{
    h_waiter_add((h_waiter*) closure, 1);
}

static void
_connCb(natsConnection *nc, void *closure)
{
    (void) nc;
    h_waiter_add((h_waiter*) closure, 1);
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
_publishN(natsConnection *nc, const char *subj, int n)
{
    char    buf[16];
    int     i;

    for (i = 0; i < n; i++)
    {
        snprintf(buf, sizeof(buf), "%d", i);
        CHECK_OK(natsConnection_PublishString(nc, subj, buf));
    }
    CHECK_OK(natsConnection_Flush(nc));
}

static void
test_sub_drain_async(void)
{
    natsConnection      *nc  = NULL;
    natsSubscription    *sub = NULL;
    drainState          st;
    h_waiter            done;
    int                 pending = 0;
    subRef              ref;

    memset(&st, 0, sizeof(st));
    h_waiter_init(&st.w);
    h_waiter_init(&done);
    st.delayMs = 2;

    REQUIRE_OK(h_connect(&nc));
    REQUIRE_OK(natsConnection_Subscribe(&sub, nc, "drain.sub", _drainCb, &st));
    CHECK_OK(natsSubscription_SetOnCompleteCB(sub, _completeCb, &done));

    /* Not draining yet. */
    CHECK_STATUS(natsSubscription_WaitForDrainCompletion(sub, 100), NATS_ILLEGAL_STATE);
    CHECK_STATUS(natsSubscription_DrainCompletionStatus(sub), NATS_ILLEGAL_STATE);

    _publishN(nc, "drain.sub", 50);
    /* All 50 are in the library (delivered or pending); most are still pending. */
    CHECK_OK(natsSubscription_GetPending(sub, &pending, NULL));
    CHECK(pending > 0);

    CHECK_OK(natsSubscription_Drain(sub));
    /* Messages published after the drain started are not received. */
    _publishN(nc, "drain.sub", 10);

    CHECK_OK(natsSubscription_WaitForDrainCompletion(sub, 10000));
    CHECK_INT(h_waiter_get(&st.w), 50);
    CHECK_OK(natsSubscription_DrainCompletionStatus(sub));
    /* cnats marks the drain complete just before removing the subscription,
     * so it becomes invalid right after (not necessarily before the wait returns). */
    ref.sub = sub;
    CHECK(h_wait_until(_subInvalid, &ref, 5000));
    CHECK(h_waiter_wait(&done, 1, 5000));
    /* Waiting again is fine once complete. */
    CHECK_OK(natsSubscription_WaitForDrainCompletion(sub, 100));

    _publishN(nc, "drain.sub", 5);
    h_sleep_ms(20);
    CHECK_INT(h_waiter_get(&st.w), 50);
    CHECK_INT(h_waiter_get(&done), 1);

    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    h_waiter_destroy(&st.w);
    h_waiter_destroy(&done);
}

static void
test_sub_drain_sync(void)
{
    natsConnection      *nc  = NULL;
    natsSubscription    *sub = NULL;
    natsMsg             *msg = NULL;
    int                 i;

    REQUIRE_OK(h_connect(&nc));
    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "drain.sync"));
    _publishN(nc, "drain.sync", 5);
    CHECK_OK(natsSubscription_Drain(sub));
    /* Pending messages can still be consumed. */
    for (i = 0; i < 5; i++)
    {
        CHECK_OK(natsSubscription_NextMsg(&msg, sub, 2000));
        if (msg != NULL)
        {
            char expected[8];
            snprintf(expected, sizeof(expected), "%d", i);
            CHECK_STR(natsMsg_GetData(msg), expected);
        }
        natsMsg_Destroy(msg);
        msg = NULL;
    }
    CHECK_OK(natsSubscription_WaitForDrainCompletion(sub, 5000));
    CHECK_OK(natsSubscription_DrainCompletionStatus(sub));
    /* Depending on whether the last NextMsg() call happened before or after
     * the library switched the subscription to "draining", the subscription
     * is removed by that call or by the next one (which then reports a timeout). */
    {
        natsStatus s = natsSubscription_NextMsg(&msg, sub, 10);
        CHECK((s == NATS_INVALID_SUBSCRIPTION) || (s == NATS_TIMEOUT));
        CHECK(msg == NULL);
    }
    CHECK(!natsSubscription_IsValid(sub));
    CHECK_STATUS(natsSubscription_NextMsg(&msg, sub, 10), NATS_INVALID_SUBSCRIPTION);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
}

/* With a drain timeout, a subscription that cannot finish is forcibly closed. */
static void
test_sub_drain_timeout(void)
{
    natsConnection      *nc  = NULL;
    natsSubscription    *sub = NULL;
    drainState          st;
    int64_t             start;
    subRef              ref;

    memset(&st, 0, sizeof(st));
    h_waiter_init(&st.w);
    st.block = true;

    REQUIRE_OK(h_connect(&nc));
    REQUIRE_OK(natsConnection_Subscribe(&sub, nc, "drain.timeout", _drainCb, &st));
    _publishN(nc, "drain.timeout", 5);

    start = h_now_ms();
    CHECK_OK(natsSubscription_DrainTimeout(sub, 200));
    /* Waiting less than needed times out (the drain continues). */
    CHECK_STATUS(natsSubscription_WaitForDrainCompletion(sub, 20), NATS_TIMEOUT);
    /* When the drain timeout elapses, the subscription is forcibly closed. */
    ref.sub = sub;
    CHECK(h_wait_until(_subInvalid, &ref, 5000));
    CHECK(h_now_ms() - start >= 150);
    /* The drain is complete only once the message handler has returned. */
    CHECK_STATUS(natsSubscription_DrainCompletionStatus(sub), NATS_ILLEGAL_STATE);

    /* Release the handler: the remaining pending messages are not delivered. */
    h_waiter_set_flag(&st.w);
    CHECK_OK(natsSubscription_WaitForDrainCompletion(sub, 5000));
    CHECK_STATUS(natsSubscription_DrainCompletionStatus(sub), NATS_TIMEOUT);
    CHECK(h_waiter_wait(&st.w, 1, 5000));
    h_sleep_ms(50);
    CHECK_INT(h_waiter_get(&st.w), 1);

    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    h_waiter_destroy(&st.w);
}

static void
test_drain_invalid(void)
{
    natsConnection      *nc  = NULL;
    natsSubscription    *sub = NULL;

    CHECK_STATUS(natsSubscription_Drain(NULL), NATS_INVALID_ARG);
    CHECK_STATUS(natsSubscription_DrainTimeout(NULL, 100), NATS_INVALID_ARG);
    CHECK_STATUS(natsSubscription_WaitForDrainCompletion(NULL, 100), NATS_INVALID_ARG);
    CHECK_STATUS(natsSubscription_DrainCompletionStatus(NULL), NATS_INVALID_ARG);
    CHECK_STATUS(natsConnection_Drain(NULL), NATS_INVALID_ARG);
    CHECK_STATUS(natsConnection_DrainTimeout(NULL, 100), NATS_INVALID_ARG);

    REQUIRE_OK(h_connect(&nc));
    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "drain.invalid"));
    CHECK_OK(natsSubscription_Unsubscribe(sub));
    CHECK_STATUS(natsSubscription_Drain(sub), NATS_INVALID_SUBSCRIPTION);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
}

static void
test_conn_drain(void)
{
    natsOptions         *opts = NULL;
    natsConnection      *nc   = NULL;
    natsSubscription    *s1   = NULL;
    natsSubscription    *s2   = NULL;
    natsSubscription    *s3   = NULL;
    drainState          st1, st2;
    h_waiter            closed;

    memset(&st1, 0, sizeof(st1));
    memset(&st2, 0, sizeof(st2));
    h_waiter_init(&st1.w);
    h_waiter_init(&st2.w);
    h_waiter_init(&closed);
    st1.block = true;   /* keeps the connection draining until released */

    REQUIRE_OK(natsOptions_Create(&opts));
    REQUIRE_OK(natsOptions_SetURL(opts, h_url()));
    REQUIRE_OK(natsOptions_SetClosedCB(opts, _connCb, &closed));
    REQUIRE_OK(natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);

    REQUIRE_OK(natsConnection_Subscribe(&s1, nc, "drain.conn.1", _drainCb, &st1));
    REQUIRE_OK(natsConnection_Subscribe(&s2, nc, "drain.conn.2", _drainCb, &st2));
    _publishN(nc, "drain.conn.1", 20);
    _publishN(nc, "drain.conn.2", 30);

    CHECK_OK(natsConnection_Drain(nc));
#if HAVE_NATS_3_13
    CHECK(natsConnection_IsDraining(nc));
#endif
    CHECK_INT(natsConnection_Status(nc), NATS_CONN_STATUS_DRAINING_SUBS);
    /* No new subscriptions while draining; subscriptions can't drain individually. */
    CHECK_STATUS(natsConnection_SubscribeSync(&s3, nc, "drain.conn.3"), NATS_DRAINING);
    CHECK(s3 == NULL);
    CHECK_STATUS(natsSubscription_Drain(s1), NATS_DRAINING);
    /* Publishing is still allowed while subscriptions drain. */
    CHECK_OK(natsConnection_PublishString(nc, "drain.other", "x"));
    /* Draining again is a no-op. */
    CHECK_OK(natsConnection_Drain(nc));

    h_waiter_set_flag(&st1.w);
    CHECK(h_waiter_wait(&closed, 1, 10000));
    CHECK(natsConnection_IsClosed(nc));
    CHECK_INT(natsConnection_Status(nc), NATS_CONN_STATUS_CLOSED);
    /* Everything received before the drain was delivered. */
    CHECK_INT(h_waiter_get(&st1.w), 20);
    CHECK_INT(h_waiter_get(&st2.w), 30);
    CHECK_STATUS(natsConnection_PublishString(nc, "drain.other", "x"), NATS_CONNECTION_CLOSED);
    CHECK_STATUS(natsConnection_Drain(nc), NATS_CONNECTION_CLOSED);
    CHECK_OK(natsSubscription_DrainCompletionStatus(s1));
    CHECK_OK(natsSubscription_DrainCompletionStatus(s2));

    natsSubscription_Destroy(s1);
    natsSubscription_Destroy(s2);
    natsConnection_Destroy(nc);
    CHECK_INT(h_waiter_get(&closed), 1);
    h_waiter_destroy(&st1.w);
    h_waiter_destroy(&st2.w);
    h_waiter_destroy(&closed);
}

typedef struct
{
    h_waiter            w;
    natsStatus          err;
    natsSubscription    *sub;
} errState;

static void
_errCb(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    errState *es = (errState*) closure;

    (void) nc;
    pthread_mutex_lock(&es->w.mu);
    if (es->w.count == 0)
    {
        es->err = err;
        es->sub = sub;
    }
    pthread_mutex_unlock(&es->w.mu);
    h_waiter_add(&es->w, 1);
}

/* A connection drain that cannot complete in time closes the connection and
 * reports NATS_TIMEOUT to the error handler. */
static void
test_conn_drain_timeout(void)
{
    natsOptions         *opts = NULL;
    natsConnection      *nc   = NULL;
    natsSubscription    *sub  = NULL;
    drainState          st;
    errState            es;
    h_waiter            closed;
    int64_t             start, elapsed;

    memset(&st, 0, sizeof(st));
    memset(&es, 0, sizeof(es));
    h_waiter_init(&st.w);
    h_waiter_init(&es.w);
    h_waiter_init(&closed);
    st.block = true;

    REQUIRE_OK(natsOptions_Create(&opts));
    REQUIRE_OK(natsOptions_SetURL(opts, h_url()));
    REQUIRE_OK(natsOptions_SetClosedCB(opts, _connCb, &closed));
    REQUIRE_OK(natsOptions_SetErrorHandler(opts, _errCb, &es));
    REQUIRE_OK(natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);

    REQUIRE_OK(natsConnection_Subscribe(&sub, nc, "drain.conn.timeout", _drainCb, &st));
    _publishN(nc, "drain.conn.timeout", 5);

    start = h_now_ms();
    CHECK_OK(natsConnection_DrainTimeout(nc, 200));
    CHECK(h_waiter_wait(&closed, 1, 5000));
    elapsed = h_now_ms() - start;
    CHECK(elapsed >= 150);
    CHECK(h_waiter_wait(&es.w, 1, 5000));
    pthread_mutex_lock(&es.w.mu);
    CHECK_STATUS(es.err, NATS_TIMEOUT);
    CHECK(es.sub == NULL);
    pthread_mutex_unlock(&es.w.mu);
    CHECK(natsConnection_IsClosed(nc));

    /* Once the handler returns, the subscription's drain is complete, with
     * the timeout as its status. */
    h_waiter_set_flag(&st.w);
    CHECK_OK(natsSubscription_WaitForDrainCompletion(sub, 5000));
    CHECK_STATUS(natsSubscription_DrainCompletionStatus(sub), NATS_TIMEOUT);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    h_waiter_destroy(&st.w);
    h_waiter_destroy(&es.w);
    h_waiter_destroy(&closed);
}

int
main(void)
{
    if (!h_default_server_start())
        return h_finish();

    RUN_TEST(test_sub_drain_async);
    RUN_TEST(test_sub_drain_sync);
    RUN_TEST(test_sub_drain_timeout);
    RUN_TEST(test_drain_invalid);
    RUN_TEST(test_conn_drain);
    RUN_TEST(test_conn_drain_timeout);
    return h_finish();
}
