/* Library-level API: open/close, version, time, status texts, last error,
 * statistics objects, delivery pool. No server needed. */
#include "harness.h"

static void
test_open(void)
{
    /* Explicit open, and opening again is a no-op that succeeds. */
    CHECK_OK(nats_Open(-1));
    CHECK_OK(nats_Open(-1));
}

static void
test_version(void)
{
    char        expected[32];
    uint32_t    num = nats_GetVersionNumber();
    const char  *v  = nats_GetVersion();

    REQUIRE(v != NULL);
    CHECK_STR(v, NATS_VERSION_STRING);
    CHECK_INT(num, NATS_VERSION_NUMBER);
    /* The number is 0xMMmmpp. */
    CHECK_INT(num, (uint32_t) ((NATS_VERSION_MAJOR << 16) | (NATS_VERSION_MINOR << 8) | NATS_VERSION_PATCH));
    snprintf(expected, sizeof(expected), "%u.%u.%u",
             (unsigned) ((num >> 16) & 0xFF), (unsigned) ((num >> 8) & 0xFF), (unsigned) (num & 0xFF));
    CHECK(strncmp(v, expected, strlen(expected)) == 0);
    /* Header and library agree: returns true (does not exit). */
    CHECK(nats_CheckCompatibility());
}

static void
test_time(void)
{
    int64_t ms, ns, prev, start, elapsed;
    int     i;
    bool    monotone = true;

    ms = nats_Now();
    ns = nats_NowInNanoSeconds();
    /* Wall clock in ms since the epoch: after 2020-01-01. */
    CHECK(ms > INT64_C(1577836800000));
    /* Both clocks tell the same time (within 1 s). */
    CHECK(((ns / 1000000) - ms) < 1000);
    CHECK(((ns / 1000000) - ms) > -1000);

    prev = nats_NowInNanoSeconds();
    for (i = 0; i < 1000; i++)
    {
        int64_t now = nats_NowInNanoSeconds();
        if (now < prev)
            monotone = false;
        prev = now;
    }
    CHECK(monotone);

    /* nats_Sleep sleeps at least the given number of milliseconds. */
    start = h_now_ms();
    nats_Sleep(50);
    elapsed = h_now_ms() - start;
    CHECK(elapsed >= 49);
    CHECK(elapsed < 2000);

#if HAVE_NATS_3_13
    {
        int64_t a = nats_NowMonotonicInNanoSeconds();
        int64_t b;

        nats_Sleep(10);
        b = nats_NowMonotonicInNanoSeconds();
        CHECK(b - a >= INT64_C(9000000));
        CHECK(b - a < INT64_C(2000000000));
    }
#endif
}

static void
test_status_text(void)
{
    CHECK_STR(natsStatus_GetText(NATS_OK), "OK");
    CHECK_STR(natsStatus_GetText(NATS_ERR), "Error");
    CHECK_STR(natsStatus_GetText(NATS_CONNECTION_CLOSED), "Connection Closed");
    CHECK_STR(natsStatus_GetText(NATS_NO_SERVER), "No server available for connection");
    CHECK_STR(natsStatus_GetText(NATS_NOT_FOUND), "Not Found");
    CHECK_STR(natsStatus_GetText(NATS_INVALID_SUBJECT), "Invalid Subject");
    CHECK_STR(natsStatus_GetText(NATS_INVALID_ARG), "Invalid Argument");
    CHECK_STR(natsStatus_GetText(NATS_INVALID_SUBSCRIPTION), "Invalid Subscription");
    CHECK_STR(natsStatus_GetText(NATS_INVALID_TIMEOUT), "Invalid Timeout");
    CHECK_STR(natsStatus_GetText(NATS_SLOW_CONSUMER), "Slow Consumer, messages dropped");
    CHECK_STR(natsStatus_GetText(NATS_MAX_PAYLOAD), "Maximum Payload Exceeded");
    CHECK_STR(natsStatus_GetText(NATS_INSUFFICIENT_BUFFER), "Insufficient Buffer");
    CHECK_STR(natsStatus_GetText(NATS_TIMEOUT), "Timeout");
    CHECK_STR(natsStatus_GetText(NATS_NO_RESPONDERS), "No responders available for request");
    CHECK_STR(natsStatus_GetText(NATS_DRAINING), "Draining in progress");
    CHECK_STR(natsStatus_GetText(NATS_CONNECTION_AUTH_FAILED), "Authentication Violation");
    /* Values are part of the ABI. */
    CHECK_INT(NATS_OK, 0);
    CHECK_INT(NATS_TIMEOUT, 26);
    CHECK_INT(NATS_NO_RESPONDERS, 34);
}

static void *
_otherThreadLastError(void *arg)
{
    natsStatus  s   = NATS_ERR;
    const char  *t  = nats_GetLastError(&s);
    bool        *ok = (bool*) arg;

    /* The last error is per thread: nothing failed in this thread. */
    *ok = ((t == NULL) && (s == NATS_OK));
    nats_ReleaseThreadMemory();
    return NULL;
}

static void
test_last_error(void)
{
    natsOptions *opts = NULL;
    natsStatus  s     = NATS_OK;
    const char  *txt;
    char        stack[512];
    char        tiny[4];
    pthread_t   t;
    bool        otherOk = false;

    REQUIRE_OK(natsOptions_Create(&opts));

    CHECK_STATUS(natsOptions_SetTimeout(opts, -1), NATS_INVALID_ARG);
    txt = nats_GetLastError(&s);
    CHECK_STATUS(s, NATS_INVALID_ARG);
    REQUIRE(txt != NULL);
    CHECK(strlen(txt) > 0);
    /* cnats sets the default error text of the status. */
    CHECK(strstr(txt, natsStatus_GetText(NATS_INVALID_ARG)) != NULL);
    /* status pointer is optional */
    CHECK(nats_GetLastError(NULL) != NULL);

    /* The stack contains the name of the failing public function. */
    CHECK_OK(nats_GetLastErrorStack(stack, sizeof(stack)));
    CHECK(strstr(stack, "natsOptions_SetTimeout") != NULL);
    CHECK_STATUS(nats_GetLastErrorStack(tiny, sizeof(tiny)), NATS_INSUFFICIENT_BUFFER);
    CHECK_STATUS(nats_GetLastErrorStack(NULL, 10), NATS_INVALID_ARG);
    CHECK_STATUS(nats_GetLastErrorStack(stack, 0), NATS_INVALID_ARG);

    /* Printing does not crash (goes to stderr). */
    nats_PrintLastErrorStack(stderr);

    /* Thread-local: another thread sees no error. */
    REQUIRE(pthread_create(&t, NULL, _otherThreadLastError, &otherOk) == 0);
    pthread_join(t, NULL);
    CHECK(otherOk);

    /* A new failure replaces the previous one. */
    CHECK_STATUS(natsOptions_SetMaxPendingMsgs(opts, 0), NATS_INVALID_ARG);
    CHECK_OK(nats_GetLastErrorStack(stack, sizeof(stack)));
    CHECK(strstr(stack, "natsOptions_SetMaxPendingMsgs") != NULL);
    CHECK(strstr(stack, "natsOptions_SetTimeout") == NULL);

    natsOptions_Destroy(opts);
}

static void
test_statistics(void)
{
    natsStatistics  *stats = NULL;
    uint64_t        inMsgs = 1, inBytes = 1, outMsgs = 1, outBytes = 1, reconnects = 1;

    REQUIRE_OK(natsStatistics_Create(&stats));
    REQUIRE(stats != NULL);
    CHECK_OK(natsStatistics_GetCounts(stats, &inMsgs, &inBytes, &outMsgs, &outBytes, &reconnects));
    CHECK_INT(inMsgs, 0);
    CHECK_INT(inBytes, 0);
    CHECK_INT(outMsgs, 0);
    CHECK_INT(outBytes, 0);
    CHECK_INT(reconnects, 0);
    /* Any output may be NULL. */
    CHECK_OK(natsStatistics_GetCounts(stats, NULL, NULL, NULL, NULL, NULL));
    CHECK_STATUS(natsStatistics_GetCounts(NULL, &inMsgs, NULL, NULL, NULL, NULL), NATS_INVALID_ARG);
    natsStatistics_Destroy(stats);
    natsStatistics_Destroy(NULL);
}

static void
test_inbox(void)
{
    natsInbox *a = NULL;
    natsInbox *b = NULL;

    REQUIRE_OK(natsInbox_Create(&a));
    REQUIRE_OK(natsInbox_Create(&b));
    /* natsInbox is a NUL-terminated string "_INBOX.<22 chars NUID>". */
    CHECK(strncmp((const char*) a, "_INBOX.", 7) == 0);
    CHECK_INT(strlen((const char*) a), 7 + 22);
    CHECK(strcmp((const char*) a, (const char*) b) != 0);
    natsInbox_Destroy(a);
    natsInbox_Destroy(b);
    natsInbox_Destroy(NULL);
}

static void
test_delivery_pool(void)
{
    CHECK_OK(nats_SetMessageDeliveryPoolSize(2));
    /* Shrinking is not an error. */
    CHECK_OK(nats_SetMessageDeliveryPoolSize(1));
}

static void
test_close_and_wait(void)
{
    natsOptions *opts = NULL;

    /* All objects destroyed: the library closes within the timeout. */
    CHECK_OK(nats_CloseAndWait(5000));
    /* Not open anymore. */
    CHECK_STATUS(nats_CloseAndWait(1000), NATS_NOT_INITIALIZED);
    /* It can be opened again, explicitly or implicitly. */
    CHECK_OK(nats_Open(-1));
    CHECK_OK(nats_CloseAndWait(0));
    REQUIRE_OK(natsOptions_Create(&opts));
    CHECK_OK(natsOptions_SetTimeout(opts, 1000));
    natsOptions_Destroy(opts);
    CHECK_OK(nats_CloseAndWait(5000));
}

static void
test_close(void)
{
    natsOptions *opts = NULL;

    REQUIRE_OK(natsOptions_Create(&opts));
    natsOptions_Destroy(opts);
    /* Non blocking close; must not crash. */
    nats_Close();
    CHECK(true);
}

int
main(void)
{
    RUN_TEST(test_open);
    RUN_TEST(test_version);
    RUN_TEST(test_time);
    RUN_TEST(test_status_text);
    RUN_TEST(test_last_error);
    RUN_TEST(test_statistics);
    RUN_TEST(test_inbox);
    RUN_TEST(test_delivery_pool);
    RUN_TEST(test_close_and_wait);
    RUN_TEST(test_close);
    return h_finish();
}
