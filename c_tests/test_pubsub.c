/* Publishing and subscribing: message fields, sync/async subscriptions,
 * wildcards, queue groups, subscription timeouts, subject validation, max payload. */
#include "harness.h"

static pthread_t mainThread;

static void
test_publish_sync_sub(void)
{
    natsConnection      *nc  = NULL;
    natsSubscription    *sub = NULL;
    natsMsg             *msg = NULL;
    const char          bin[] = { 'a', '\0', 'b', '\r', '\n', 'c' };

    REQUIRE_OK(h_connect(&nc));
    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "ps.basic"));

    CHECK_OK(natsConnection_Publish(nc, "ps.basic", "hello", 5));
    CHECK_OK(natsConnection_PublishString(nc, "ps.basic", "world!"));
    CHECK_OK(natsConnection_Publish(nc, "ps.basic", bin, (int) sizeof(bin)));
    CHECK_OK(natsConnection_Publish(nc, "ps.basic", NULL, 0));
    CHECK_OK(natsConnection_PublishString(nc, "ps.basic", NULL));
    CHECK_OK(natsConnection_Flush(nc));

    REQUIRE_OK(natsSubscription_NextMsg(&msg, sub, 2000));
    CHECK_STR(natsMsg_GetSubject(msg), "ps.basic");
    CHECK(natsMsg_GetReply(msg) == NULL);
    CHECK_INT(natsMsg_GetDataLength(msg), 5);
    CHECK(memcmp(natsMsg_GetData(msg), "hello", 5) == 0);
    /* The library NUL-terminates received payloads. */
    CHECK(natsMsg_GetData(msg)[5] == '\0');
    natsMsg_Destroy(msg);

    REQUIRE_OK(natsSubscription_NextMsg(&msg, sub, 2000));
    CHECK_STR(natsMsg_GetData(msg), "world!");
    CHECK_INT(natsMsg_GetDataLength(msg), 6);
    natsMsg_Destroy(msg);

    REQUIRE_OK(natsSubscription_NextMsg(&msg, sub, 2000));
    CHECK_INT(natsMsg_GetDataLength(msg), (int) sizeof(bin));
    CHECK(memcmp(natsMsg_GetData(msg), bin, sizeof(bin)) == 0);
    CHECK(natsMsg_GetData(msg)[sizeof(bin)] == '\0');
    natsMsg_Destroy(msg);

    REQUIRE_OK(natsSubscription_NextMsg(&msg, sub, 2000));
    CHECK_INT(natsMsg_GetDataLength(msg), 0);
    natsMsg_Destroy(msg);

    REQUIRE_OK(natsSubscription_NextMsg(&msg, sub, 2000));
    CHECK_INT(natsMsg_GetDataLength(msg), 0);
    natsMsg_Destroy(msg);

    /* NULL message accessors. */
    CHECK(natsMsg_GetSubject(NULL) == NULL);
    CHECK(natsMsg_GetReply(NULL) == NULL);
    CHECK(natsMsg_GetData(NULL) == NULL);
    CHECK_INT(natsMsg_GetDataLength(NULL), 0);
    natsMsg_Destroy(NULL);

    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
}

static void
test_publish_variants(void)
{
    natsConnection      *nc  = NULL;
    natsSubscription    *sub = NULL;
    natsMsg             *out = NULL;
    natsMsg             *msg = NULL;

    REQUIRE_OK(h_connect(&nc));
    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "ps.variants"));

    REQUIRE_OK(natsMsg_Create(&out, "ps.variants", "my.reply", "msg", 3));
    CHECK_STR(natsMsg_GetSubject(out), "ps.variants");
    CHECK_STR(natsMsg_GetReply(out), "my.reply");
    CHECK_OK(natsConnection_PublishMsg(nc, out));
    /* The message still belongs to the caller and can be sent again. */
    CHECK_OK(natsConnection_PublishMsg(nc, out));
    natsMsg_Destroy(out);

    CHECK_OK(natsConnection_PublishRequest(nc, "ps.variants", "reply.one", "req", 3));
    CHECK_OK(natsConnection_PublishRequestString(nc, "ps.variants", "reply.two", "reqstr"));
    CHECK_OK(natsConnection_Flush(nc));

    REQUIRE_OK(natsSubscription_NextMsg(&msg, sub, 2000));
    CHECK_STR(natsMsg_GetReply(msg), "my.reply");
    CHECK_STR(natsMsg_GetData(msg), "msg");
    natsMsg_Destroy(msg);
    REQUIRE_OK(natsSubscription_NextMsg(&msg, sub, 2000));
    CHECK_STR(natsMsg_GetReply(msg), "my.reply");
    natsMsg_Destroy(msg);
    REQUIRE_OK(natsSubscription_NextMsg(&msg, sub, 2000));
    CHECK_STR(natsMsg_GetReply(msg), "reply.one");
    CHECK_STR(natsMsg_GetData(msg), "req");
    natsMsg_Destroy(msg);
    REQUIRE_OK(natsSubscription_NextMsg(&msg, sub, 2000));
    CHECK_STR(natsMsg_GetReply(msg), "reply.two");
    CHECK_STR(natsMsg_GetData(msg), "reqstr");
    natsMsg_Destroy(msg);

    /* Argument validation. */
    CHECK_STATUS(natsConnection_PublishRequest(nc, "ps.variants", NULL, "x", 1), NATS_INVALID_ARG);
    CHECK_STATUS(natsConnection_PublishRequest(nc, "ps.variants", "", "x", 1), NATS_INVALID_ARG);
    CHECK_STATUS(natsConnection_PublishRequestString(nc, "ps.variants", NULL, "x"), NATS_INVALID_ARG);
#if HAVE_NATS_3_13
    /* cnats 3.4.1 crashed on a NULL message; 3.13 returns NATS_INVALID_ARG. */
    CHECK_STATUS(natsConnection_PublishMsg(nc, NULL), NATS_INVALID_ARG);
    CHECK_STATUS(natsConnection_PublishMsg(NULL, NULL), NATS_INVALID_ARG);
#endif
    CHECK_STATUS(natsConnection_Publish(NULL, "ps.variants", "x", 1), NATS_INVALID_ARG);

    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
}

static void
test_next_msg_timeout(void)
{
    natsConnection      *nc  = NULL;
    natsSubscription    *sub = NULL;
    natsMsg             *msg = NULL;
    int64_t             start, elapsed;

    REQUIRE_OK(h_connect(&nc));
    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "ps.timeout"));

    start = h_now_ms();
    CHECK_STATUS(natsSubscription_NextMsg(&msg, sub, 100), NATS_TIMEOUT);
    elapsed = h_now_ms() - start;
    CHECK(msg == NULL);
    CHECK(elapsed >= 90);
    CHECK(elapsed < 2000);

    /* Timeout 0: only what is already pending. */
    start = h_now_ms();
    CHECK_STATUS(natsSubscription_NextMsg(&msg, sub, 0), NATS_TIMEOUT);
    CHECK(h_now_ms() - start < 1000);

    CHECK_OK(natsConnection_PublishString(nc, "ps.timeout", "now"));
    CHECK_OK(natsConnection_Flush(nc));
    CHECK_OK(natsSubscription_NextMsg(&msg, sub, 0));
    natsMsg_Destroy(msg);

    CHECK_STATUS(natsSubscription_NextMsg(NULL, sub, 100), NATS_INVALID_ARG);
    CHECK_STATUS(natsSubscription_NextMsg(&msg, NULL, 100), NATS_INVALID_ARG);

    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
}

typedef struct
{
    h_waiter            w;
    natsConnection      *nc;
    natsSubscription    *sub;
    bool                wrongArgs;
    bool                onMainThread;
    bool                badMsg;
    int                 lastSeq;
    bool                outOfOrder;
} asyncState;

static void
_asyncCb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    asyncState *st = (asyncState*) closure;
    int        seq;

    pthread_mutex_lock(&st->w.mu);
    if ((nc != st->nc) || ((st->sub != NULL) && (sub != st->sub)))
        st->wrongArgs = true;
    if (pthread_equal(pthread_self(), mainThread))
        st->onMainThread = true;
    if ((msg == NULL) || (strcmp(natsMsg_GetSubject(msg), "ps.async") != 0))
        st->badMsg = true;
    else
    {
        seq = atoi(natsMsg_GetData(msg));
        if (seq != st->lastSeq + 1)
            st->outOfOrder = true;
        st->lastSeq = seq;
    }
    pthread_mutex_unlock(&st->w.mu);

    natsMsg_Destroy(msg);
    h_waiter_add(&st->w, 1);
}

static void
test_async_subscribe(void)
{
    natsConnection      *nc  = NULL;
    natsSubscription    *sub = NULL;
    asyncState          st;
    char                buf[16];
    int                 i;
    const int           total = 1000;

    memset(&st, 0, sizeof(st));
    h_waiter_init(&st.w);

    REQUIRE_OK(h_connect(&nc));
    st.nc = nc;
    pthread_mutex_lock(&st.w.mu);
    REQUIRE_OK(natsConnection_Subscribe(&sub, nc, "ps.async", _asyncCb, &st));
    st.sub = sub;
    pthread_mutex_unlock(&st.w.mu);

    for (i = 1; i <= total; i++)
    {
        snprintf(buf, sizeof(buf), "%d", i);
        CHECK_OK(natsConnection_PublishString(nc, "ps.async", buf));
    }
    CHECK_OK(natsConnection_Flush(nc));
    CHECK(h_waiter_wait(&st.w, total, 10000));
    CHECK_INT(h_waiter_get(&st.w), total);
    CHECK(!st.wrongArgs);
    /* Callbacks run on a library thread, in order. */
    CHECK(!st.onMainThread);
    CHECK(!st.badMsg);
    CHECK(!st.outOfOrder);
    CHECK_INT(st.lastSeq, total);

    /* A NULL callback is invalid. */
    {
        natsSubscription *bad = NULL;
        CHECK_STATUS(natsConnection_Subscribe(&bad, nc, "ps.async", NULL, NULL), NATS_INVALID_ARG);
        CHECK(bad == NULL);
    }
    /* NextMsg is not for asynchronous subscriptions. */
    {
        natsMsg *msg = NULL;
        CHECK_STATUS(natsSubscription_NextMsg(&msg, sub, 10), NATS_ILLEGAL_STATE);
    }

    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    h_waiter_destroy(&st.w);
}

static int
_drainCount(natsSubscription *sub)
{
    natsMsg *msg = NULL;
    int     n    = 0;

    while (natsSubscription_NextMsg(&msg, sub, 0) == NATS_OK)
    {
        natsMsg_Destroy(msg);
        msg = NULL;
        n++;
    }
    return n;
}

static void
test_wildcards(void)
{
    natsConnection      *nc   = NULL;
    natsSubscription    *star = NULL;
    natsSubscription    *gt   = NULL;
    natsSubscription    *mid  = NULL;

    REQUIRE_OK(h_connect(&nc));
    REQUIRE_OK(natsConnection_SubscribeSync(&star, nc, "wc.*"));
    REQUIRE_OK(natsConnection_SubscribeSync(&gt, nc, "wc.>"));
    REQUIRE_OK(natsConnection_SubscribeSync(&mid, nc, "wc.*.end"));

    CHECK_OK(natsConnection_PublishString(nc, "wc", "0"));
    CHECK_OK(natsConnection_PublishString(nc, "wc.a", "1"));
    CHECK_OK(natsConnection_PublishString(nc, "wc.b", "2"));
    CHECK_OK(natsConnection_PublishString(nc, "wc.a.b", "3"));
    CHECK_OK(natsConnection_PublishString(nc, "wc.a.end", "4"));
    CHECK_OK(natsConnection_PublishString(nc, "wc.a.b.end", "5"));
    CHECK_OK(natsConnection_PublishString(nc, "other.a", "6"));
    /* Flush on the same connection: everything routed to us has arrived. */
    CHECK_OK(natsConnection_Flush(nc));

    CHECK_INT(_drainCount(star), 2);     /* wc.a wc.b */
    CHECK_INT(_drainCount(gt), 5);       /* all but wc and other.a */
    CHECK_INT(_drainCount(mid), 1);      /* wc.a.end */

    natsSubscription_Destroy(star);
    natsSubscription_Destroy(gt);
    natsSubscription_Destroy(mid);
    natsConnection_Destroy(nc);
}

static void
test_queue_sync(void)
{
    natsConnection      *nc    = NULL;
    natsSubscription    *qs[3] = { NULL, NULL, NULL };
    natsSubscription    *all   = NULL;
    natsMsg             *msg   = NULL;
    int                 seen[30];
    int                 perSub[3] = { 0, 0, 0 };
    char                buf[16];
    int                 i, total = 0;
    bool                once = true;

    memset(seen, 0, sizeof(seen));
    REQUIRE_OK(h_connect(&nc));
    for (i = 0; i < 3; i++)
        REQUIRE_OK(natsConnection_QueueSubscribeSync(&qs[i], nc, "ps.queue", "workers"));
    REQUIRE_OK(natsConnection_SubscribeSync(&all, nc, "ps.queue"));

    for (i = 0; i < 30; i++)
    {
        snprintf(buf, sizeof(buf), "%d", i);
        CHECK_OK(natsConnection_PublishString(nc, "ps.queue", buf));
    }
    CHECK_OK(natsConnection_Flush(nc));

    for (i = 0; i < 3; i++)
    {
        while (natsSubscription_NextMsg(&msg, qs[i], 0) == NATS_OK)
        {
            int idx = atoi(natsMsg_GetData(msg));
            if ((idx >= 0) && (idx < 30))
                seen[idx]++;
            perSub[i]++;
            total++;
            natsMsg_Destroy(msg);
            msg = NULL;
        }
    }
    /* Each message delivered to exactly one member of the group... */
    CHECK_INT(total, 30);
    for (i = 0; i < 30; i++)
        once = once && (seen[i] == 1);
    CHECK(once);
    /* ...while a plain subscriber gets every message. */
    CHECK_INT(_drainCount(all), 30);

    /* Invalid queue names / groups. */
    {
        natsSubscription *bad = NULL;
        CHECK_STATUS(natsConnection_QueueSubscribeSync(&bad, nc, "ps.queue", NULL), NATS_INVALID_ARG);
        CHECK_STATUS(natsConnection_QueueSubscribeSync(&bad, nc, "ps.queue", ""), NATS_INVALID_ARG);
        CHECK_STATUS(natsConnection_QueueSubscribeSync(&bad, nc, "ps.queue", "bad queue"), NATS_INVALID_QUEUE_NAME);
        CHECK_STATUS(natsConnection_QueueSubscribeSync(&bad, nc, "ps.queue", "bad\tqueue"), NATS_INVALID_QUEUE_NAME);
        CHECK(bad == NULL);
    }

    for (i = 0; i < 3; i++)
        natsSubscription_Destroy(qs[i]);
    natsSubscription_Destroy(all);
    natsConnection_Destroy(nc);
}

typedef struct
{
    h_waiter    w;
    int         seen[60];
    int         perSub[3];
} queueState;

typedef struct
{
    queueState  *st;
    int         idx;
} queueMember;

static void
_queueCb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    queueMember *m = (queueMember*) closure;
    int         idx;

    (void) nc; (void) sub;
    idx = atoi(natsMsg_GetData(msg));
    pthread_mutex_lock(&m->st->w.mu);
    if ((idx >= 0) && (idx < 60))
        m->st->seen[idx]++;
    m->st->perSub[m->idx]++;
    pthread_mutex_unlock(&m->st->w.mu);
    natsMsg_Destroy(msg);
    h_waiter_add(&m->st->w, 1);
}

static void
test_queue_async(void)
{
    natsConnection      *pub   = NULL;
    natsConnection      *ncs[3] = { NULL, NULL, NULL };
    natsSubscription    *qs[3]  = { NULL, NULL, NULL };
    queueState          st;
    queueMember         members[3];
    char                buf[16];
    int                 i;
    bool                once = true;

    memset(&st, 0, sizeof(st));
    h_waiter_init(&st.w);

    REQUIRE_OK(h_connect(&pub));
    for (i = 0; i < 3; i++)
    {
        members[i].st  = &st;
        members[i].idx = i;
        REQUIRE_OK(h_connect(&ncs[i]));
        REQUIRE_OK(natsConnection_QueueSubscribe(&qs[i], ncs[i], "ps.aqueue", "grp", _queueCb, &members[i]));
        REQUIRE_OK(natsConnection_Flush(ncs[i]));
    }
    for (i = 0; i < 60; i++)
    {
        snprintf(buf, sizeof(buf), "%d", i);
        CHECK_OK(natsConnection_PublishString(pub, "ps.aqueue", buf));
    }
    CHECK_OK(natsConnection_Flush(pub));
    CHECK(h_waiter_wait(&st.w, 60, 5000));
    /* Make sure every subscriber connection processed what the server sent. */
    for (i = 0; i < 3; i++)
        CHECK_OK(natsConnection_Flush(ncs[i]));
    CHECK_INT(h_waiter_get(&st.w), 60);
    pthread_mutex_lock(&st.w.mu);
    for (i = 0; i < 60; i++)
        once = once && (st.seen[i] == 1);
    pthread_mutex_unlock(&st.w.mu);
    CHECK(once);

    {
        natsSubscription *bad = NULL;
        CHECK_STATUS(natsConnection_QueueSubscribe(&bad, pub, "ps.aqueue", "grp", NULL, NULL), NATS_INVALID_ARG);
        CHECK_STATUS(natsConnection_QueueSubscribe(&bad, pub, "ps.aqueue", "", _queueCb, NULL), NATS_INVALID_ARG);
    }

    for (i = 0; i < 3; i++)
    {
        natsSubscription_Destroy(qs[i]);
        natsConnection_Destroy(ncs[i]);
    }
    natsConnection_Destroy(pub);
    h_waiter_destroy(&st.w);
}

typedef struct
{
    h_waiter    w;
    int         nullCount;
    int         msgCount;
    int64_t     firstNullAt;
} timeoutState;

static void
_timeoutCb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    timeoutState *st = (timeoutState*) closure;

    (void) nc; (void) sub;
    pthread_mutex_lock(&st->w.mu);
    if (msg == NULL)
    {
        if (st->nullCount++ == 0)
            st->firstNullAt = h_now_ms();
    }
    else
        st->msgCount++;
    pthread_mutex_unlock(&st->w.mu);
    natsMsg_Destroy(msg);
    h_waiter_add(&st->w, 1);
}

static void
_completeCb(void *closure)
{
    h_waiter_add((h_waiter*) closure, 1);
}

static void
test_subscribe_timeout(void)
{
    natsConnection      *nc  = NULL;
    natsSubscription    *sub = NULL;
    natsSubscription    *bad = NULL;
    timeoutState        st;
    h_waiter            done;
    int64_t             start;
    int                 nulls;

    memset(&st, 0, sizeof(st));
    h_waiter_init(&st.w);
    h_waiter_init(&done);
    REQUIRE_OK(h_connect(&nc));

    CHECK_STATUS(natsConnection_SubscribeTimeout(&bad, nc, "ps.tmo", 0, _timeoutCb, &st), NATS_INVALID_ARG);
    CHECK_STATUS(natsConnection_SubscribeTimeout(&bad, nc, "ps.tmo", -1, _timeoutCb, &st), NATS_INVALID_ARG);
    CHECK_STATUS(natsConnection_SubscribeTimeout(&bad, nc, "ps.tmo", 100, NULL, NULL), NATS_INVALID_ARG);
    CHECK_STATUS(natsConnection_QueueSubscribeTimeout(&bad, nc, "ps.tmo", "q", 0, _timeoutCb, &st), NATS_INVALID_ARG);
    CHECK_STATUS(natsConnection_QueueSubscribeTimeout(&bad, nc, "ps.tmo", "", 100, _timeoutCb, &st), NATS_INVALID_ARG);

    start = h_now_ms();
    REQUIRE_OK(natsConnection_SubscribeTimeout(&sub, nc, "ps.tmo", 100, _timeoutCb, &st));

    /* No message: the callback is invoked with a NULL message. */
    CHECK(h_waiter_wait(&st.w, 1, 5000));
    pthread_mutex_lock(&st.w.mu);
    CHECK_INT(st.nullCount, 1);
    CHECK_INT(st.msgCount, 0);
    CHECK(st.firstNullAt - start >= 90);
    pthread_mutex_unlock(&st.w.mu);

    /* Messages are still delivered, then timeouts fire again. */
    CHECK_OK(natsConnection_PublishString(nc, "ps.tmo", "m"));
    CHECK_OK(natsConnection_Flush(nc));
    pthread_mutex_lock(&st.w.mu);
    nulls = st.nullCount;
    pthread_mutex_unlock(&st.w.mu);
    CHECK(h_waiter_wait(&st.w, nulls + 2, 5000));
    pthread_mutex_lock(&st.w.mu);
    CHECK_INT(st.msgCount, 1);
    CHECK(st.nullCount >= nulls + 1);
    pthread_mutex_unlock(&st.w.mu);

    /* The handler keeps firing on timeouts: unsubscribe and wait for the
     * completion callback before reusing/releasing its state. */
    CHECK_OK(natsSubscription_SetOnCompleteCB(sub, _completeCb, &done));
    CHECK_OK(natsSubscription_Unsubscribe(sub));
    CHECK(h_waiter_wait(&done, 1, 5000));
    natsSubscription_Destroy(sub);

    /* Queue variant. */
    pthread_mutex_lock(&st.w.mu);
    st.nullCount = 0;
    st.msgCount  = 0;
    pthread_mutex_unlock(&st.w.mu);
    sub = NULL;
    REQUIRE_OK(natsConnection_QueueSubscribeTimeout(&sub, nc, "ps.tmo", "q", 50, _timeoutCb, &st));
    CHECK(h_waiter_wait(&st.w, h_waiter_get(&st.w) + 1, 5000));
    pthread_mutex_lock(&st.w.mu);
    CHECK(st.nullCount >= 1);
    pthread_mutex_unlock(&st.w.mu);
    CHECK_OK(natsSubscription_SetOnCompleteCB(sub, _completeCb, &done));
    CHECK_OK(natsSubscription_Unsubscribe(sub));
    CHECK(h_waiter_wait(&done, 2, 5000));
    natsSubscription_Destroy(sub);

    natsConnection_Destroy(nc);
    h_waiter_destroy(&st.w);
    h_waiter_destroy(&done);
}

static void
test_invalid_subjects(void)
{
    natsConnection      *nc  = NULL;
    natsSubscription    *sub = NULL;
    const char          *bad[] = { "", "foo bar", "foo\r\nbar", "foo\tbar", "foo..bar",
                                   ".foo", "foo.", "foo.>.bar", NULL };
    int                 i;

    REQUIRE_OK(h_connect(&nc));

    for (i = 0; bad[i] != NULL; i++)
    {
        if (!CHECK_STATUS(natsConnection_SubscribeSync(&sub, nc, bad[i]), NATS_INVALID_SUBJECT))
            fprintf(stderr, "  subject: '%s'\n", bad[i]);
        CHECK_STATUS(natsConnection_QueueSubscribeSync(&sub, nc, bad[i], "q"), NATS_INVALID_SUBJECT);
        CHECK(sub == NULL);
    }
    CHECK_STATUS(natsConnection_SubscribeSync(&sub, nc, NULL), NATS_INVALID_SUBJECT);

    /* Valid ones, including wildcards. */
    CHECK_OK(natsConnection_SubscribeSync(&sub, nc, "foo.*.bar.>"));
    natsSubscription_Destroy(sub);
    sub = NULL;
    CHECK_OK(natsConnection_SubscribeSync(&sub, nc, ">"));
    natsSubscription_Destroy(sub);

    /* Publishing: cnats only rejects NULL or empty subjects (it does not
     * validate the subject's content when publishing). */
    CHECK_STATUS(natsConnection_Publish(nc, NULL, "x", 1), NATS_INVALID_SUBJECT);
    CHECK_STATUS(natsConnection_Publish(nc, "", "x", 1), NATS_INVALID_SUBJECT);
    CHECK_STATUS(natsConnection_PublishString(nc, "", "x"), NATS_INVALID_SUBJECT);
    CHECK_STATUS(natsConnection_PublishRequestString(nc, "", "reply", "x"), NATS_INVALID_SUBJECT);
    {
        natsMsg *rep = NULL;
        CHECK_STATUS(natsConnection_RequestString(&rep, nc, "", "x", 100), NATS_INVALID_SUBJECT);
        CHECK(rep == NULL);
    }
    /* natsMsg_Create refuses NULL/empty subjects. */
    {
        natsMsg *m = NULL;
        CHECK_STATUS(natsMsg_Create(&m, NULL, NULL, "x", 1), NATS_INVALID_ARG);
        CHECK_STATUS(natsMsg_Create(&m, "", NULL, "x", 1), NATS_INVALID_ARG);
        CHECK_STATUS(natsMsg_Create(&m, "ok", "", "x", 1), NATS_INVALID_ARG);
        CHECK(m == NULL);
    }
    CHECK_OK(natsConnection_Flush(nc));
    natsConnection_Destroy(nc);
}

static void
test_max_payload(void)
{
    natsConnection      *nc   = NULL;
    natsSubscription    *sub  = NULL;
    natsMsg             *msg  = NULL;
    int64_t             max;
    char                *data = NULL;
    int                 i;

    REQUIRE_OK(h_connect(&nc));
    max = natsConnection_GetMaxPayload(nc);
    REQUIRE(max == 1024 * 1024);
    data = (char*) malloc((size_t) max + 1);
    REQUIRE(data != NULL);
    for (i = 0; i < (int) max + 1; i++)
        data[i] = (char) (i % 251);

    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "ps.big"));
    CHECK_STATUS(natsConnection_Publish(nc, "ps.big", data, (int) max + 1), NATS_MAX_PAYLOAD);
    /* The connection is still usable. */
    CHECK_OK(natsConnection_Publish(nc, "ps.big", data, (int) max));
    CHECK_OK(natsConnection_Flush(nc));
    REQUIRE_OK(natsSubscription_NextMsg(&msg, sub, 5000));
    CHECK_INT(natsMsg_GetDataLength(msg), max);
    CHECK(memcmp(natsMsg_GetData(msg), data, (size_t) max) == 0);
    natsMsg_Destroy(msg);
    /* And nothing else (the oversized message was not sent). */
    CHECK_STATUS(natsSubscription_NextMsg(&msg, sub, 0), NATS_TIMEOUT);
    CHECK(!natsConnection_IsClosed(nc));

    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    free(data);
}

/* Many medium-size messages: the parser must handle messages split across reads. */
static void
test_many_large_messages(void)
{
    natsConnection      *nc   = NULL;
    natsSubscription    *sub  = NULL;
    natsMsg             *msg  = NULL;
    const int           size  = 70000;
    const int           count = 50;
    char                *data = NULL;
    int                 i;
    bool                ok = true;

    data = (char*) malloc(size);
    REQUIRE(data != NULL);
    REQUIRE_OK(h_connect(&nc));
    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "ps.many"));
    for (i = 0; i < count; i++)
    {
        memset(data, 'A' + (i % 26), size);
        CHECK_OK(natsConnection_Publish(nc, "ps.many", data, size));
    }
    CHECK_OK(natsConnection_Flush(nc));
    for (i = 0; i < count; i++)
    {
        if (natsSubscription_NextMsg(&msg, sub, 5000) != NATS_OK)
        {
            ok = false;
            break;
        }
        memset(data, 'A' + (i % 26), size);
        if ((natsMsg_GetDataLength(msg) != size) || (memcmp(natsMsg_GetData(msg), data, size) != 0))
            ok = false;
        natsMsg_Destroy(msg);
        msg = NULL;
    }
    CHECK(ok);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    free(data);
}

#if HAVE_NATS_3_13
static void
test_send_variants(void)
{
    natsConnection      *nc  = NULL;
    natsSubscription    *sub = NULL;
    natsMsg             *msg = NULL;
    natsMsg             *out = NULL;

    REQUIRE_OK(h_connect(&nc));
    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "ps.send"));
    CHECK_OK(natsConnection_Send(nc, "ps.send", "s1", 2));
    CHECK_OK(natsConnection_SendRequest(nc, "ps.send", "rep", "s2", 2));
    REQUIRE_OK(natsMsg_Create(&out, "ps.send", NULL, "s3", 2));
    CHECK_OK(natsMsgHeader_Set(out, "K", "V"));
    CHECK_OK(natsConnection_SendMsg(nc, out));
    natsMsg_Destroy(out);

    CHECK_OK(natsSubscription_NextMsg(&msg, sub, 2000));
    if (msg != NULL)
        CHECK_STR(natsMsg_GetData(msg), "s1");
    natsMsg_Destroy(msg);
    msg = NULL;
    CHECK_OK(natsSubscription_NextMsg(&msg, sub, 2000));
    if (msg != NULL)
    {
        CHECK_STR(natsMsg_GetData(msg), "s2");
        CHECK_STR(natsMsg_GetReply(msg), "rep");
    }
    natsMsg_Destroy(msg);
    msg = NULL;
    CHECK_OK(natsSubscription_NextMsg(&msg, sub, 2000));
    if (msg != NULL)
    {
        const char *v = NULL;
        CHECK_STR(natsMsg_GetData(msg), "s3");
        CHECK_OK(natsMsgHeader_Get(msg, "K", &v));
        CHECK_STR(v, "V");
    }
    natsMsg_Destroy(msg);

    CHECK_STATUS(natsConnection_SendRequest(nc, "ps.send", "", "x", 1), NATS_INVALID_ARG);
    CHECK_STATUS(natsConnection_SendMsg(nc, NULL), NATS_INVALID_ARG);
    CHECK_STATUS(natsConnection_Send(nc, "", "x", 1), NATS_INVALID_SUBJECT);

    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
}
#endif

int
main(void)
{
    mainThread = pthread_self();
    if (!h_default_server_start())
        return h_finish();

    RUN_TEST(test_publish_sync_sub);
    RUN_TEST(test_publish_variants);
    RUN_TEST(test_next_msg_timeout);
    RUN_TEST(test_async_subscribe);
    RUN_TEST(test_wildcards);
    RUN_TEST(test_queue_sync);
    RUN_TEST(test_queue_async);
    RUN_TEST(test_subscribe_timeout);
    RUN_TEST(test_invalid_subjects);
    RUN_TEST(test_max_payload);
    RUN_TEST(test_many_large_messages);
#if HAVE_NATS_3_13
    RUN_TEST(test_send_variants);
#endif
    return h_finish();
}
