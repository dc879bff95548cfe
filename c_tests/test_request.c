/* Request/reply: new (muxed) and old request styles, no responders, timeouts,
 * concurrency, custom inbox prefix. */
#include "harness.h"

typedef struct
{
    pthread_mutex_t mu;
    int             count;
    char            lastReply[256];
} replierState;

/* Replies "echo:<data>" to the request's reply subject, with a header
 * "X-Rep" equal to the request's "X-Req" header when present. */
static void
_echoCb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    replierState    *st  = (replierState*) closure;
    natsMsg         *rep = NULL;
    const char      *hv  = NULL;
    char            buf[1024];
    int             n;

    (void) sub;
    if (natsMsg_GetReply(msg) != NULL)
    {
        /* Record before replying: the requestor checks it once it has the reply. */
        if (st != NULL)
        {
            pthread_mutex_lock(&st->mu);
            st->count++;
            snprintf(st->lastReply, sizeof(st->lastReply), "%s", natsMsg_GetReply(msg));
            pthread_mutex_unlock(&st->mu);
        }
        n = snprintf(buf, sizeof(buf), "echo:%.*s", natsMsg_GetDataLength(msg), natsMsg_GetData(msg));
        if (natsMsg_Create(&rep, natsMsg_GetReply(msg), NULL, buf, n) == NATS_OK)
        {
            if (natsMsgHeader_Get(msg, "X-Req", &hv) == NATS_OK)
                natsMsgHeader_Set(rep, "X-Rep", hv);
            natsConnection_PublishMsg(nc, rep);
            natsMsg_Destroy(rep);
        }
    }
    natsMsg_Destroy(msg);
}

static natsConnection   *srvConn = NULL;
static natsSubscription *echoSub = NULL;
static replierState     echoState;

static bool
_startReplier(void)
{
    pthread_mutex_init(&echoState.mu, NULL);
    if (!CHECK_OK(h_connect(&srvConn)))
        return false;
    if (!CHECK_OK(natsConnection_Subscribe(&echoSub, srvConn, "req.echo", _echoCb, &echoState)))
        return false;
    return CHECK_OK(natsConnection_Flush(srvConn));
}

static void
_stopReplier(void)
{
    natsSubscription_Destroy(echoSub);
    natsConnection_Destroy(srvConn);
    pthread_mutex_destroy(&echoState.mu);
}

static natsStatus
_connectWith(natsConnection **nc, bool oldStyle, const char *inboxPrefix, bool noResponders)
{
    natsOptions *opts = NULL;
    natsStatus  s;

    s = natsOptions_Create(&opts);
    if (s == NATS_OK)
        s = natsOptions_SetURL(opts, h_url());
    if ((s == NATS_OK) && oldStyle)
        s = natsOptions_UseOldRequestStyle(opts, true);
    if ((s == NATS_OK) && (inboxPrefix != NULL))
        s = natsOptions_SetCustomInboxPrefix(opts, inboxPrefix);
    if ((s == NATS_OK) && !noResponders)
        s = natsOptions_DisableNoResponders(opts, true);
    if (s == NATS_OK)
        s = natsConnection_Connect(nc, opts);
    natsOptions_Destroy(opts);
    return s;
}

static void
_basicRequests(natsConnection *nc)
{
    natsMsg     *reply = NULL;
    natsMsg     *req   = NULL;
    const char  *hv    = NULL;

    REQUIRE_OK(natsConnection_Request(&reply, nc, "req.echo", "abc", 3, 2000));
    CHECK_STR(natsMsg_GetData(reply), "echo:abc");
    CHECK_INT(natsMsg_GetDataLength(reply), 8);
    /* The reply arrives on the inbox used as the request's reply subject. */
    pthread_mutex_lock(&echoState.mu);
    CHECK_STR(natsMsg_GetSubject(reply), echoState.lastReply);
    pthread_mutex_unlock(&echoState.mu);
    natsMsg_Destroy(reply);
    reply = NULL;

    REQUIRE_OK(natsConnection_RequestString(&reply, nc, "req.echo", "hello", 2000));
    CHECK_STR(natsMsg_GetData(reply), "echo:hello");
    natsMsg_Destroy(reply);
    reply = NULL;

    /* Empty request. */
    REQUIRE_OK(natsConnection_Request(&reply, nc, "req.echo", NULL, 0, 2000));
    CHECK_STR(natsMsg_GetData(reply), "echo:");
    natsMsg_Destroy(reply);
    reply = NULL;

    /* RequestMsg with headers; the reply carries headers too. */
    REQUIRE_OK(natsMsg_Create(&req, "req.echo", NULL, "withhdr", 7));
    CHECK_OK(natsMsgHeader_Set(req, "X-Req", "42"));
    REQUIRE_OK(natsConnection_RequestMsg(&reply, nc, req, 2000));
    CHECK_STR(natsMsg_GetData(reply), "echo:withhdr");
    CHECK_OK(natsMsgHeader_Get(reply, "X-Rep", &hv));
    CHECK_STR(hv, "42");
    natsMsg_Destroy(reply);
    natsMsg_Destroy(req);
}

static void
test_request_basic(void)
{
    natsConnection *nc = NULL;

    REQUIRE_OK(h_connect(&nc));
    _basicRequests(nc);
    /* The reply subjects are inboxes. */
    pthread_mutex_lock(&echoState.mu);
    CHECK(strncmp(echoState.lastReply, "_INBOX.", 7) == 0);
    pthread_mutex_unlock(&echoState.mu);
    natsConnection_Destroy(nc);
}

static void
test_request_invalid_args(void)
{
    natsConnection  *nc    = NULL;
    natsMsg         *reply = NULL;

    REQUIRE_OK(h_connect(&nc));
    CHECK_STATUS(natsConnection_Request(NULL, nc, "req.echo", "x", 1, 1000), NATS_INVALID_ARG);
    CHECK_STATUS(natsConnection_RequestMsg(&reply, nc, NULL, 1000), NATS_INVALID_ARG);
    CHECK_STATUS(natsConnection_RequestString(&reply, NULL, "req.echo", "x", 1000), NATS_INVALID_ARG);
    CHECK(reply == NULL);
    natsConnection_Destroy(nc);
}

static void
_noResponders(natsConnection *nc)
{
    natsMsg     *reply = NULL;
    int64_t     start  = h_now_ms();

    /* The server answers immediately with a 503 status: no need to wait for the timeout. */
    CHECK_STATUS(natsConnection_RequestString(&reply, nc, "req.nobody.home", "x", 5000), NATS_NO_RESPONDERS);
    CHECK(reply == NULL);
    CHECK(h_now_ms() - start < 2000);
}

static void
test_no_responders(void)
{
    natsConnection *nc = NULL;

    REQUIRE_OK(h_connect(&nc));
    _noResponders(nc);
    natsConnection_Destroy(nc);
}

static void
test_disable_no_responders(void)
{
    natsConnection  *nc    = NULL;
    natsMsg         *reply = NULL;
    int64_t         start;

    REQUIRE_OK(_connectWith(&nc, false, NULL, false));
    start = h_now_ms();
    CHECK_STATUS(natsConnection_RequestString(&reply, nc, "req.nobody.home", "x", 200), NATS_TIMEOUT);
    CHECK(h_now_ms() - start >= 190);
    CHECK(reply == NULL);
    natsConnection_Destroy(nc);
}

static void
_timeoutRequest(natsConnection *nc)
{
    natsSubscription    *silent = NULL;
    natsMsg             *reply  = NULL;
    natsMsg             *req    = NULL;
    int64_t             start, elapsed;

    /* A responder that never replies. */
    REQUIRE_OK(natsConnection_SubscribeSync(&silent, srvConn, "req.silent"));
    REQUIRE_OK(natsConnection_Flush(srvConn));

    start = h_now_ms();
    CHECK_STATUS(natsConnection_RequestString(&reply, nc, "req.silent", "hello?", 200), NATS_TIMEOUT);
    elapsed = h_now_ms() - start;
    CHECK(reply == NULL);
    CHECK(elapsed >= 190);
    CHECK(elapsed < 3000);

    /* The responder did get the request, with a reply subject. */
    CHECK_OK(natsSubscription_NextMsg(&req, silent, 2000));
    if (req != NULL)
    {
        CHECK_STR(natsMsg_GetData(req), "hello?");
        CHECK(natsMsg_GetReply(req) != NULL);
    }
    natsMsg_Destroy(req);
    natsSubscription_Destroy(silent);

    /* A late reply to a timed out request does not break the next request. */
    {
        natsMsg *r = NULL;
        CHECK_OK(natsConnection_RequestString(&r, nc, "req.echo", "after-timeout", 2000));
        if (r != NULL)
            CHECK_STR(natsMsg_GetData(r), "echo:after-timeout");
        natsMsg_Destroy(r);
    }
}

static void
test_request_timeout(void)
{
    natsConnection *nc = NULL;

    REQUIRE_OK(h_connect(&nc));
    _timeoutRequest(nc);
    natsConnection_Destroy(nc);
}

typedef struct
{
    natsConnection  *nc;
    int             id;
    int             count;
    int             ok;
    int             wrong;
    natsStatus      firstErr;
} reqThread;

static void*
_requester(void *arg)
{
    reqThread   *rt = (reqThread*) arg;
    char        payload[64];
    char        expected[80];
    int         i;

    for (i = 0; i < rt->count; i++)
    {
        natsMsg     *reply = NULL;
        natsStatus  s;

        snprintf(payload, sizeof(payload), "t%d-r%d", rt->id, i);
        snprintf(expected, sizeof(expected), "echo:%s", payload);
        s = natsConnection_RequestString(&reply, rt->nc, "req.echo", payload, 5000);
        if (s == NATS_OK)
        {
            if (strcmp(natsMsg_GetData(reply), expected) == 0)
                rt->ok++;
            else
                rt->wrong++;
            natsMsg_Destroy(reply);
        }
        else if (rt->firstErr == NATS_OK)
            rt->firstErr = s;
    }
    nats_ReleaseThreadMemory();
    return NULL;
}

static void
_concurrent(natsConnection *nc, int nthreads, int perThread)
{
    pthread_t   th[16];
    reqThread   rt[16];
    int         i, ok = 0, wrong = 0;

    for (i = 0; i < nthreads; i++)
    {
        memset(&rt[i], 0, sizeof(rt[i]));
        rt[i].nc    = nc;
        rt[i].id    = i;
        rt[i].count = perThread;
        REQUIRE(pthread_create(&th[i], NULL, _requester, &rt[i]) == 0);
    }
    for (i = 0; i < nthreads; i++)
    {
        pthread_join(th[i], NULL);
        ok    += rt[i].ok;
        wrong += rt[i].wrong;
        CHECK_STATUS(rt[i].firstErr, NATS_OK);
    }
    /* Every request got its own reply. */
    CHECK_INT(ok, nthreads * perThread);
    CHECK_INT(wrong, 0);
}

static void
test_concurrent_requests(void)
{
    natsConnection *nc = NULL;

    REQUIRE_OK(h_connect(&nc));
    _concurrent(nc, 8, 50);
    natsConnection_Destroy(nc);
}

static void
test_old_request_style(void)
{
    natsConnection *nc = NULL;

    REQUIRE_OK(_connectWith(&nc, true, NULL, true));
    _basicRequests(nc);
    _noResponders(nc);
    _timeoutRequest(nc);
    _concurrent(nc, 4, 25);
    natsConnection_Destroy(nc);
}

static void
test_custom_inbox_prefix(void)
{
    natsConnection  *nc    = NULL;
    natsMsg         *reply = NULL;
    int             style;

    for (style = 0; style < 2; style++)
    {
        REQUIRE_OK(_connectWith(&nc, (style == 1), "my.inbox", true));
        REQUIRE_OK(natsConnection_RequestString(&reply, nc, "req.echo", "pfx", 2000));
        CHECK_STR(natsMsg_GetData(reply), "echo:pfx");
        natsMsg_Destroy(reply);
        reply = NULL;
        pthread_mutex_lock(&echoState.mu);
        CHECK(strncmp(echoState.lastReply, "my.inbox.", 9) == 0);
        pthread_mutex_unlock(&echoState.mu);
        natsConnection_Destroy(nc);
        nc = NULL;
    }
}

/* Two responders: the requestor gets exactly one reply per request. */
static void
test_multiple_responders(void)
{
    natsConnection      *nc     = NULL;
    natsSubscription    *second = NULL;
    natsMsg             *reply  = NULL;
    /* static: the second replier's handler may still run after the last
     * request returned (the reply of the first replier won). */
    static replierState st2;
    int                 i;

    memset(&st2, 0, sizeof(st2));
    pthread_mutex_init(&st2.mu, NULL);
    REQUIRE_OK(h_connect(&nc));
    REQUIRE_OK(natsConnection_Subscribe(&second, srvConn, "req.echo", _echoCb, &st2));
    REQUIRE_OK(natsConnection_Flush(srvConn));

    for (i = 0; i < 10; i++)
    {
        CHECK_OK(natsConnection_RequestString(&reply, nc, "req.echo", "multi", 2000));
        if (reply != NULL)
            CHECK_STR(natsMsg_GetData(reply), "echo:multi");
        natsMsg_Destroy(reply);
        reply = NULL;
    }
    natsSubscription_Destroy(second);
    natsConnection_Destroy(nc);
}

int
main(void)
{
    if (!h_default_server_start())
        return h_finish();
    if (!_startReplier())
        return h_finish();

    RUN_TEST(test_request_basic);
    RUN_TEST(test_request_invalid_args);
    RUN_TEST(test_no_responders);
    RUN_TEST(test_disable_no_responders);
    RUN_TEST(test_request_timeout);
    RUN_TEST(test_concurrent_requests);
    RUN_TEST(test_old_request_style);
    RUN_TEST(test_custom_inbox_prefix);
    RUN_TEST(test_multiple_responders);

    _stopReplier();
    return h_finish();
}
