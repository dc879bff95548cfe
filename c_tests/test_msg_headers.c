/* Messages and headers: natsMsg_Create, natsMsgHeader_*, headers through the
 * server (HPUB/HMSG), "no responders" messages, natsHeader_* (3.13). */
#include "harness.h"

static bool
_contains(const char **arr, int n, const char *s)
{
    int i;

    for (i = 0; i < n; i++)
        if ((arr[i] != NULL) && (strcmp(arr[i], s) == 0))
            return true;
    return false;
}

static void
test_msg_create(void)
{
    natsMsg *msg = NULL;

    REQUIRE_OK(natsMsg_Create(&msg, "hdr.subj", "hdr.reply", "payload", 7));
    CHECK_STR(natsMsg_GetSubject(msg), "hdr.subj");
    CHECK_STR(natsMsg_GetReply(msg), "hdr.reply");
    CHECK_INT(natsMsg_GetDataLength(msg), 7);
    CHECK(memcmp(natsMsg_GetData(msg), "payload", 7) == 0);
    CHECK(!natsMsg_IsNoResponders(msg));
    natsMsg_Destroy(msg);
    msg = NULL;

    /* No reply, no data. */
    REQUIRE_OK(natsMsg_Create(&msg, "hdr.subj", NULL, NULL, 0));
    CHECK(natsMsg_GetReply(msg) == NULL);
    CHECK_INT(natsMsg_GetDataLength(msg), 0);
    natsMsg_Destroy(msg);

    CHECK_STATUS(natsMsg_Create(&msg, NULL, NULL, NULL, 0), NATS_INVALID_ARG);
    CHECK_STATUS(natsMsg_Create(&msg, "", NULL, NULL, 0), NATS_INVALID_ARG);
    CHECK_STATUS(natsMsg_Create(&msg, "a", "", NULL, 0), NATS_INVALID_ARG);
    CHECK(!natsMsg_IsNoResponders(NULL));
}

static void
test_header_api(void)
{
    natsMsg     *msg    = NULL;
    const char  *val    = NULL;
    const char  **vals  = NULL;
    const char  **keys  = NULL;
    int         count   = 0;

    REQUIRE_OK(natsMsg_Create(&msg, "hdr.subj", NULL, "data", 4));

    /* No header yet. */
    CHECK_STATUS(natsMsgHeader_Get(msg, "k1", &val), NATS_NOT_FOUND);
    CHECK(val == NULL);
    CHECK_STATUS(natsMsgHeader_Values(msg, "k1", &vals, &count), NATS_NOT_FOUND);
    CHECK_STATUS(natsMsgHeader_Keys(msg, &keys, &count), NATS_NOT_FOUND);
    CHECK(keys == NULL);
    CHECK_INT(count, 0);
    CHECK_STATUS(natsMsgHeader_Delete(msg, "k1"), NATS_NOT_FOUND);

    CHECK_OK(natsMsgHeader_Set(msg, "k1", "v1"));
    CHECK_OK(natsMsgHeader_Get(msg, "k1", &val));
    CHECK_STR(val, "v1");

    /* Add appends. Get returns the first value. */
    CHECK_OK(natsMsgHeader_Add(msg, "k1", "v2"));
    CHECK_OK(natsMsgHeader_Get(msg, "k1", &val));
    CHECK_STR(val, "v1");
    CHECK_OK(natsMsgHeader_Values(msg, "k1", &vals, &count));
    CHECK_INT(count, 2);
    if (count == 2)
    {
        CHECK_STR(vals[0], "v1");
        CHECK_STR(vals[1], "v2");
    }
    /* The array belongs to the caller, the strings to the message. */
    free((void*) vals);
    vals = NULL;

    /* Set replaces all values. */
    CHECK_OK(natsMsgHeader_Set(msg, "k1", "v3"));
    CHECK_OK(natsMsgHeader_Values(msg, "k1", &vals, &count));
    CHECK_INT(count, 1);
    if (count == 1)
        CHECK_STR(vals[0], "v3");
    free((void*) vals);
    vals = NULL;

    /* Keys are case sensitive (since cnats v3.0.0). */
    CHECK_OK(natsMsgHeader_Set(msg, "Key-Two", "x"));
    CHECK_STATUS(natsMsgHeader_Get(msg, "key-two", &val), NATS_NOT_FOUND);
    CHECK_OK(natsMsgHeader_Get(msg, "Key-Two", &val));
    CHECK_STR(val, "x");

    /* Empty values are allowed. */
    CHECK_OK(natsMsgHeader_Add(msg, "Empty", ""));
    CHECK_OK(natsMsgHeader_Get(msg, "Empty", &val));
    CHECK_STR(val, "");

    CHECK_OK(natsMsgHeader_Keys(msg, &keys, &count));
    CHECK_INT(count, 3);
    if (count == 3)
    {
        CHECK(_contains(keys, count, "k1"));
        CHECK(_contains(keys, count, "Key-Two"));
        CHECK(_contains(keys, count, "Empty"));
    }
    free((void*) keys);
    keys = NULL;

    CHECK_OK(natsMsgHeader_Delete(msg, "k1"));
    CHECK_STATUS(natsMsgHeader_Get(msg, "k1", &val), NATS_NOT_FOUND);
    CHECK_STATUS(natsMsgHeader_Delete(msg, "k1"), NATS_NOT_FOUND);
    CHECK_OK(natsMsgHeader_Keys(msg, &keys, &count));
    CHECK_INT(count, 2);
    free((void*) keys);

    /* Invalid arguments. */
    CHECK_STATUS(natsMsgHeader_Set(NULL, "k", "v"), NATS_INVALID_ARG);
    CHECK_STATUS(natsMsgHeader_Set(msg, NULL, "v"), NATS_INVALID_ARG);
    CHECK_STATUS(natsMsgHeader_Set(msg, "", "v"), NATS_INVALID_ARG);
    CHECK_STATUS(natsMsgHeader_Add(msg, "", "v"), NATS_INVALID_ARG);
    CHECK_STATUS(natsMsgHeader_Get(msg, "Empty", NULL), NATS_INVALID_ARG);
    CHECK_STATUS(natsMsgHeader_Get(NULL, "Empty", &val), NATS_INVALID_ARG);
    CHECK_STATUS(natsMsgHeader_Values(msg, "Empty", NULL, &count), NATS_INVALID_ARG);
    CHECK_STATUS(natsMsgHeader_Values(msg, "Empty", &vals, NULL), NATS_INVALID_ARG);
    CHECK_STATUS(natsMsgHeader_Keys(NULL, &keys, &count), NATS_INVALID_ARG);
    CHECK_STATUS(natsMsgHeader_Keys(msg, NULL, &count), NATS_INVALID_ARG);
    CHECK_STATUS(natsMsgHeader_Delete(msg, ""), NATS_INVALID_ARG);
    CHECK_STATUS(natsMsgHeader_Delete(NULL, "k"), NATS_INVALID_ARG);

    natsMsg_Destroy(msg);
}

static void
test_headers_round_trip(void)
{
    natsConnection      *nc   = NULL;
    natsSubscription    *sub  = NULL;
    natsMsg             *out  = NULL;
    natsMsg             *in   = NULL;
    const char          *val  = NULL;
    const char          **vals = NULL;
    const char          **keys = NULL;
    int                 count = 0;

    REQUIRE_OK(h_connect(&nc));
    REQUIRE_OK(natsConnection_HasHeaderSupport(nc));
    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "hdr.rt"));

    REQUIRE_OK(natsMsg_Create(&out, "hdr.rt", "hdr.reply", "body", 4));
    CHECK_OK(natsMsgHeader_Set(out, "Single", "one"));
    CHECK_OK(natsMsgHeader_Add(out, "Multi", "a"));
    CHECK_OK(natsMsgHeader_Add(out, "Multi", "b"));
    CHECK_OK(natsMsgHeader_Add(out, "Multi", "c"));
    CHECK_OK(natsMsgHeader_Set(out, "With-Space", "hello world"));
    CHECK_OK(natsMsgHeader_Set(out, "CaseKey", "Case"));
    CHECK_OK(natsConnection_PublishMsg(nc, out));

    /* Headers only, no payload. */
    natsMsg_Destroy(out);
    out = NULL;
    REQUIRE_OK(natsMsg_Create(&out, "hdr.rt", NULL, NULL, 0));
    CHECK_OK(natsMsgHeader_Set(out, "Only", "headers"));
    CHECK_OK(natsConnection_PublishMsg(nc, out));
    natsMsg_Destroy(out);

    /* A plain message has no headers. */
    CHECK_OK(natsConnection_PublishString(nc, "hdr.rt", "plain"));
    CHECK_OK(natsConnection_Flush(nc));

    REQUIRE_OK(natsSubscription_NextMsg(&in, sub, 2000));
    CHECK_STR(natsMsg_GetSubject(in), "hdr.rt");
    CHECK_STR(natsMsg_GetReply(in), "hdr.reply");
    CHECK_INT(natsMsg_GetDataLength(in), 4);
    CHECK_STR(natsMsg_GetData(in), "body");
    CHECK_OK(natsMsgHeader_Get(in, "Single", &val));
    CHECK_STR(val, "one");
    CHECK_OK(natsMsgHeader_Values(in, "Multi", &vals, &count));
    CHECK_INT(count, 3);
    if (count == 3)
    {
        CHECK_STR(vals[0], "a");
        CHECK_STR(vals[1], "b");
        CHECK_STR(vals[2], "c");
    }
    free((void*) vals);
    CHECK_OK(natsMsgHeader_Get(in, "With-Space", &val));
    CHECK_STR(val, "hello world");
    CHECK_OK(natsMsgHeader_Get(in, "CaseKey", &val));
    CHECK_STR(val, "Case");
    CHECK_STATUS(natsMsgHeader_Get(in, "casekey", &val), NATS_NOT_FOUND);
    CHECK_STATUS(natsMsgHeader_Get(in, "Missing", &val), NATS_NOT_FOUND);
    CHECK_OK(natsMsgHeader_Keys(in, &keys, &count));
    CHECK_INT(count, 4);
    free((void*) keys);
    keys = NULL;
    /* Received headers can be modified. */
    CHECK_OK(natsMsgHeader_Set(in, "Single", "changed"));
    CHECK_OK(natsMsgHeader_Get(in, "Single", &val));
    CHECK_STR(val, "changed");
    natsMsg_Destroy(in);
    in = NULL;

    REQUIRE_OK(natsSubscription_NextMsg(&in, sub, 2000));
    CHECK_INT(natsMsg_GetDataLength(in), 0);
    CHECK_OK(natsMsgHeader_Get(in, "Only", &val));
    CHECK_STR(val, "headers");
    /* Not a "no responders" message: no Status 503 header. */
    CHECK(!natsMsg_IsNoResponders(in));
    natsMsg_Destroy(in);
    in = NULL;

    REQUIRE_OK(natsSubscription_NextMsg(&in, sub, 2000));
    CHECK_STR(natsMsg_GetData(in), "plain");
    CHECK_STATUS(natsMsgHeader_Keys(in, &keys, &count), NATS_NOT_FOUND);
    CHECK_STATUS(natsMsgHeader_Get(in, "Single", &val), NATS_NOT_FOUND);
    natsMsg_Destroy(in);

    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
}

/* A received message can be re-published as is (with its headers). */
static void
test_republish_received(void)
{
    natsConnection      *nc   = NULL;
    natsSubscription    *s1   = NULL;
    natsSubscription    *s2   = NULL;
    natsMsg             *out  = NULL;
    natsMsg             *in   = NULL;
    natsMsg             *fwd  = NULL;
    const char          *val  = NULL;

    REQUIRE_OK(h_connect(&nc));
    REQUIRE_OK(natsConnection_SubscribeSync(&s1, nc, "hdr.fwd1"));
    REQUIRE_OK(natsConnection_SubscribeSync(&s2, nc, "hdr.fwd2"));
    REQUIRE_OK(natsMsg_Create(&out, "hdr.fwd1", NULL, "fwd", 3));
    CHECK_OK(natsMsgHeader_Set(out, "Hop", "1"));
    CHECK_OK(natsConnection_PublishMsg(nc, out));
    natsMsg_Destroy(out);
    REQUIRE_OK(natsSubscription_NextMsg(&in, s1, 2000));

    /* Copy the received data and headers into a new message. */
    REQUIRE_OK(natsMsg_Create(&fwd, "hdr.fwd2", NULL, natsMsg_GetData(in), natsMsg_GetDataLength(in)));
    CHECK_OK(natsMsgHeader_Get(in, "Hop", &val));
    CHECK_OK(natsMsgHeader_Set(fwd, "Hop", val));
    CHECK_OK(natsMsgHeader_Add(fwd, "Hop", "2"));
    CHECK_OK(natsConnection_PublishMsg(nc, fwd));
    natsMsg_Destroy(fwd);
    natsMsg_Destroy(in);
    in = NULL;

    REQUIRE_OK(natsSubscription_NextMsg(&in, s2, 2000));
    {
        const char  **vals = NULL;
        int         count  = 0;

        CHECK_STR(natsMsg_GetData(in), "fwd");
        CHECK_OK(natsMsgHeader_Values(in, "Hop", &vals, &count));
        CHECK_INT(count, 2);
        if (count == 2)
        {
            CHECK_STR(vals[0], "1");
            CHECK_STR(vals[1], "2");
        }
        free((void*) vals);
    }
    natsMsg_Destroy(in);
    natsSubscription_Destroy(s1);
    natsSubscription_Destroy(s2);
    natsConnection_Destroy(nc);
}

typedef struct
{
    h_waiter    w;
    bool        noResponders;
    char        status[16];
    int         dataLen;
} noRespState;

static void
_noRespCb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    noRespState *st = (noRespState*) closure;
    const char  *v  = NULL;

    (void) nc; (void) sub;
    pthread_mutex_lock(&st->w.mu);
    st->noResponders = natsMsg_IsNoResponders(msg);
    st->dataLen      = natsMsg_GetDataLength(msg);
    if (natsMsgHeader_Get(msg, "Status", &v) == NATS_OK)
        snprintf(st->status, sizeof(st->status), "%s", v);
    pthread_mutex_unlock(&st->w.mu);
    natsMsg_Destroy(msg);
    h_waiter_add(&st->w, 1);
}

static void
test_no_responders_message(void)
{
    natsConnection      *nc    = NULL;
    natsSubscription    *async = NULL;
    natsSubscription    *sync  = NULL;
    natsInbox           *inbox = NULL;
    natsInbox           *inbox2 = NULL;
    natsMsg             *msg   = NULL;
    noRespState         st;

    memset(&st, 0, sizeof(st));
    h_waiter_init(&st.w);
    REQUIRE_OK(h_connect(&nc));

    /* Async subscription on the reply inbox: the 503 message is delivered and
     * can be recognized with natsMsg_IsNoResponders(). */
    REQUIRE_OK(natsInbox_Create(&inbox));
    REQUIRE_OK(natsConnection_Subscribe(&async, nc, (const char*) inbox, _noRespCb, &st));
    CHECK_OK(natsConnection_PublishRequestString(nc, "hdr.nobody", (const char*) inbox, "anyone?"));
    CHECK(h_waiter_wait(&st.w, 1, 5000));
    pthread_mutex_lock(&st.w.mu);
    CHECK(st.noResponders);
    CHECK_INT(st.dataLen, 0);
    CHECK(strncmp(st.status, "503", 3) == 0);
    pthread_mutex_unlock(&st.w.mu);

    /* Sync subscription: NextMsg() returns NATS_NO_RESPONDERS instead. */
    REQUIRE_OK(natsInbox_Create(&inbox2));
    REQUIRE_OK(natsConnection_SubscribeSync(&sync, nc, (const char*) inbox2));
    CHECK_OK(natsConnection_PublishRequestString(nc, "hdr.nobody", (const char*) inbox2, "anyone?"));
    CHECK_STATUS(natsSubscription_NextMsg(&msg, sync, 5000), NATS_NO_RESPONDERS);
    CHECK(msg == NULL);

    natsSubscription_Destroy(async);
    natsSubscription_Destroy(sync);
    natsInbox_Destroy(inbox);
    natsInbox_Destroy(inbox2);
    natsConnection_Destroy(nc);
    h_waiter_destroy(&st.w);
}

#if HAVE_NATS_3_13
static void
test_standalone_header(void)
{
    natsHeader  *h     = NULL;
    const char  *val   = NULL;
    const char  **vals = NULL;
    const char  **keys = NULL;
    int         count  = 0;

    REQUIRE_OK(natsHeader_New(&h));
    CHECK_INT(natsHeader_KeysCount(h), 0);
    CHECK_STATUS(natsHeader_Get(h, "a", &val), NATS_NOT_FOUND);
    CHECK_STATUS(natsHeader_Keys(h, &keys, &count), NATS_NOT_FOUND);
    CHECK_STATUS(natsHeader_Delete(h, "a"), NATS_NOT_FOUND);

    CHECK_OK(natsHeader_Set(h, "a", "1"));
    CHECK_OK(natsHeader_Add(h, "a", "2"));
    CHECK_OK(natsHeader_Add(h, "b", ""));
    CHECK_INT(natsHeader_KeysCount(h), 2);
    CHECK_OK(natsHeader_Get(h, "a", &val));
    CHECK_STR(val, "1");
    CHECK_OK(natsHeader_Values(h, "a", &vals, &count));
    CHECK_INT(count, 2);
    if (count == 2)
    {
        CHECK_STR(vals[0], "1");
        CHECK_STR(vals[1], "2");
    }
    free((void*) vals);
    CHECK_OK(natsHeader_Keys(h, &keys, &count));
    CHECK_INT(count, 2);
    if (count == 2)
    {
        CHECK(_contains(keys, count, "a"));
        CHECK(_contains(keys, count, "b"));
    }
    free((void*) keys);
    CHECK_OK(natsHeader_Set(h, "a", "3"));
    CHECK_OK(natsHeader_Values(h, "a", &vals, &count));
    CHECK_INT(count, 1);
    free((void*) vals);
    CHECK_OK(natsHeader_Delete(h, "a"));
    CHECK_INT(natsHeader_KeysCount(h), 1);

    /* Standalone headers refuse NULL values (messages' headers accept them). */
    CHECK_STATUS(natsHeader_Set(h, "c", NULL), NATS_INVALID_ARG);
    CHECK_STATUS(natsHeader_Set(h, "", "v"), NATS_INVALID_ARG);
    CHECK_STATUS(natsHeader_Set(NULL, "c", "v"), NATS_INVALID_ARG);
    CHECK_STATUS(natsHeader_New(NULL), NATS_INVALID_ARG);
    CHECK_INT(natsHeader_KeysCount(NULL), 0);
    natsHeader_Destroy(h);
    natsHeader_Destroy(NULL);
}
#endif

int
main(void)
{
    /* cnats quirk: natsMsg_Create() does not initialize the library, but
     * natsMsg_Destroy() uses the library's garbage collector, so a message
     * created before any other library call crashes cnats when destroyed.
     * Open the library explicitly, as a careful user would. */
    if (!CHECK_OK(nats_Open(-1)))
        return h_finish();
    if (!h_default_server_start())
        return h_finish();

    RUN_TEST(test_msg_create);
    RUN_TEST(test_header_api);
    RUN_TEST(test_headers_round_trip);
    RUN_TEST(test_republish_received);
    RUN_TEST(test_no_responders_message);
#if HAVE_NATS_3_13
    RUN_TEST(test_standalone_header);
#endif
    return h_finish();
}
