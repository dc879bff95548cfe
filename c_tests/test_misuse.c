/*
 * API misuse: every exported function called with NULL for each pointer argument, -1 for
 * each integer and 0 for each buffer size (the generated sweep, misuse_generated.inc, made
 * from include/nats/nats.h by tools/gen_misuse.py), then by hand: negative sizes, counts
 * and timeouts, subscriptions and messages used after their connection was closed or
 * destroyed, the documented double-destroy paths, messages destroyed after their callback
 * returned, subject validation before anything reaches the wire (proved by a subscriber on
 * ">" on a second connection), and closing the library twice.
 *
 * The library must return an error status (recorded as the thread's last error) and never
 * crash. Where cnats behaves differently, the expectation for cnats is used when the test
 * is built against the system cnats (NATS_TEST_AGAINST_SYSTEM) or run with
 * NATS_MISUSE_CNATS=1 (for a cnats given with -DNATS_LIBRARY); calls on which cnats itself
 * crashes are skipped there. `test_misuse --probe` runs every generated call in a child
 * process of its own and reports those that crash (to check that list against a cnats).
 */
#include "harness.h"

#include <limits.h>
#include <signal.h>
#include <unistd.h>
#include <sys/wait.h>

/* ------------------------------------------------------------------------ */
/* Which library: this one, or a cnats                                       */
/* ------------------------------------------------------------------------ */

/* The build defines NATS_TEST_THIS_LIBRARY for this library (c_tests/CMakeLists.txt) and
 * not for the system cnats. */
#ifdef NATS_TEST_THIS_LIBRARY
static bool g_cnats = false;
#else
static bool g_cnats = true;
#endif

/* ------------------------------------------------------------------------ */
/* Fixtures of the generated sweep                                           */
/* ------------------------------------------------------------------------ */

#define FX_OPTS         0x01
#define FX_SUB          0x02
#define FX_ASUB         0x04
#define FX_MSG          0x08
#define FX_HDR          0x10
#define FX_STATS        0x20
#define FX_FRESH_NC     0x40

/* Values that only need to look plausible: the sweep never gets as far as using them. */
#define MISUSE_NKEY_PUB  "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4"
#define MISUSE_NKEY_SEED "SUAMISUSETESTSEEDNOTAREALKEYNOTAREALKEYNOTAREALKEYNOTAREA"

typedef struct
{
    natsConnection      *nc;
    natsOptions         *opts;
    natsSubscription    *sub;
    natsMsg             *msg;
#if HAVE_NATS_3_13
    natsHeader          *hdr;
    natsHeader          *out_hdr;
#endif
    natsStatistics      *stats;
    natsMsgList         list;

    /* Out-values, released after each call. */
    natsConnection      *out_nc;
    natsSubscription    *out_sub;
    natsMsg             *out_msg;
    natsOptions         *out_opts;
    natsStatistics      *out_stats;
    natsInbox           *out_inbox;
    char                *out_str;
    char                **out_strs;
    int                 out_count;
    const char          *out_cstr;
    const char          **out_cstrs;
    unsigned char       *out_sig;
    uint64_t            out_u64[5];
    int64_t             out_i64[2];
    int                 out_int[4];

    char                buf[256];
    unsigned char       sig[64];

} misuse_fx;

typedef struct
{
    const char  *func;
    const char  *what;
    int         fixtures;
    const char  *cnatsCrash;    /* non-NULL: cnats crashes on this call (the reason) */
    void        (*fn)(misuse_fx *fx);

} misuse_call;

typedef struct
{
    const char  *func;
    int         calls;
    const char  *reason;        /* why there is no call, if none */

} misuse_func;

static natsConnection       *g_nc           = NULL;   /* shared live connection */
static const misuse_call    *g_cur          = NULL;   /* call being checked */
static const char           *misuse_servers[1];
static int                  misuse_closure  = 0;

static void
misuse_msg_cb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void) nc; (void) sub; (void) closure;
    natsMsg_Destroy(msg);
}

static void
misuse_conn_cb(natsConnection *nc, void *closure)
{
    (void) nc; (void) closure;
}

static void
misuse_err_cb(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    (void) nc; (void) sub; (void) err; (void) closure;
}

static const char*
misuse_token_cb(void *closure)
{
    (void) closure;
    return "token";
}

#if HAVE_NATS_3_13
static natsStatus
misuse_proxy_cb(natsSock *fd, char *host, int port, void *closure)
{
    (void) fd; (void) host; (void) port; (void) closure;
    return NATS_ERR;
}
#endif

static int64_t
misuse_delay_cb(natsConnection *nc, int attempts, void *closure)
{
    (void) nc; (void) attempts; (void) closure;
    return 100;
}

static natsStatus
misuse_jwt_cb(char **userJWT, char **customErrTxt, void *closure)
{
    (void) userJWT; (void) customErrTxt; (void) closure;
    return NATS_ERR;
}

static natsStatus
misuse_sig_cb(char **customErrTxt, unsigned char **signature, int *signatureLength,
              const char *nonce, void *closure)
{
    (void) customErrTxt; (void) signature; (void) signatureLength; (void) nonce; (void) closure;
    return NATS_ERR;
}

static void
misuse_complete_cb(void *closure)
{
    (void) closure;
}

static natsStatus
misuse_ev_attach(void **userData, void *loop, natsConnection *nc, natsSock sock)
{
    (void) userData; (void) loop; (void) nc; (void) sock;
    return NATS_ERR;
}

static natsStatus
misuse_ev_add_remove(void *userData, bool add)
{
    (void) userData; (void) add;
    return NATS_ERR;
}

static natsStatus
misuse_ev_detach(void *userData)
{
    (void) userData;
    return NATS_OK;
}

/* ------------------------------------------------------------------------ */
/* Checks of the generated calls                                             */
/* ------------------------------------------------------------------------ */

/* Before each call the thread's last error is set to this status, so that a call that
 * must not record an error can be told from one that records the same status. */
#define MISUSE_SENTINEL NATS_INVALID_TIMEOUT

static const char *
_label(void)
{
    static char lbl[200];

    if (g_cur == NULL)
        return "?";
    snprintf(lbl, sizeof(lbl), "%s (%s)", g_cur->func, g_cur->what);
    return lbl;
}

static bool
_setSentinel(void)
{
    natsStatus  ls = NATS_OK;

    (void) natsConnection_FlushTimeout(g_nc, 0);
    (void) nats_GetLastError(&ls);
    return (ls == MISUSE_SENTINEL);
}

/* The call left the thread's last error alone. */
static void
_unchanged(int line)
{
    natsStatus  ls  = NATS_OK;

    (void) nats_GetLastError(&ls);
    if (!h_check(ls == MISUSE_SENTINEL, "misuse_generated.inc", line,
                 "the thread's last error is left alone"))
    {
        fprintf(stderr, "  in %s: last error is now %d (%s)\n", _label(), (int) ls,
                natsStatus_GetText(ls));
    }
}

/* The call recorded `s` as the thread's last error, with a text. */
static void
_recorded(natsStatus s, int line)
{
    natsStatus  ls  = NATS_OK;
    const char  *t  = nats_GetLastError(&ls);

    if (!h_check((ls == s) && (t != NULL) && (t[0] != '\0'), "misuse_generated.inc", line,
                 "the status is recorded as the thread's last error, with a text"))
    {
        fprintf(stderr, "  in %s: last error %d (%s) '%s'\n", _label(), (int) ls,
                natsStatus_GetText(ls), (t == NULL ? "(null)" : t));
    }
}

static void
mx_status_at(natsStatus s, natsStatus expected, bool recorded, int line)
{
    if (!h_check_status(s, expected, "misuse_generated.inc", line, _label()))
        return;
    if (expected == NATS_OK)
        _unchanged(line);
    else if (!recorded)
        _unchanged(line);
    else if ((expected == NATS_INVALID_ARG) || (expected == NATS_INVALID_SUBJECT)
             || (expected == NATS_INVALID_TIMEOUT))
    {
        _recorded(expected, line);
    }
}
#define mx_status(s, e, rec) mx_status_at((s), (e), (rec), __LINE__)

static void
mx_status_oneof_at(natsStatus s, natsStatus a, natsStatus b, int line)
{
    if (!h_check((s == a) || (s == b), "misuse_generated.inc", line, _label()))
        fprintf(stderr, "  got %d (%s), expected %d or %d\n", (int) s, natsStatus_GetText(s),
                (int) a, (int) b);
}
#define mx_status_oneof(s, a, b) mx_status_oneof_at((s), (a), (b), __LINE__)

static void
mx_ret_at(bool ok, const char *cond, int line)
{
    if (!h_check(ok, "misuse_generated.inc", line, cond))
        fprintf(stderr, "  in %s\n", _label());
    _unchanged(line);
}
#define mx_ret(ok, cond) mx_ret_at((ok), (cond), __LINE__)

/* Same, without looking at the thread's last error. */
static void
mx_ret_any_at(bool ok, const char *cond, int line)
{
    if (!h_check(ok, "misuse_generated.inc", line, cond))
        fprintf(stderr, "  in %s\n", _label());
}
#define mx_ret_any(ok, cond) mx_ret_any_at((ok), (cond), __LINE__)

#define mx_noop() _unchanged(__LINE__)

#include "misuse_generated.inc"

static bool
_fxSetup(misuse_fx *fx, int f)
{
    memset(fx, 0, sizeof(*fx));
    fx->nc = g_nc;
    if ((f & FX_FRESH_NC) && !CHECK_OK(h_connect(&fx->nc)))
        return false;
    if (f & FX_OPTS)
    {
        if (!CHECK_OK(natsOptions_Create(&fx->opts))
            || !CHECK_OK(natsOptions_SetURL(fx->opts, h_url())))
        {
            return false;
        }
    }
    if ((f & FX_SUB) && !CHECK_OK(natsConnection_SubscribeSync(&fx->sub, fx->nc, "misuse.sub")))
        return false;
    if ((f & FX_ASUB)
        && !CHECK_OK(natsConnection_Subscribe(&fx->sub, fx->nc, "misuse.asub", misuse_msg_cb, NULL)))
    {
        return false;
    }
    if (f & FX_MSG)
    {
        if (!CHECK_OK(natsMsg_Create(&fx->msg, "misuse.msg", "misuse.reply", "payload", 7))
            || !CHECK_OK(natsMsgHeader_Set(fx->msg, "Key", "val")))
        {
            return false;
        }
    }
#if HAVE_NATS_3_13
    if (f & FX_HDR)
    {
        if (!CHECK_OK(natsHeader_New(&fx->hdr)) || !CHECK_OK(natsHeader_Set(fx->hdr, "Key", "val")))
            return false;
    }
#endif
    if ((f & FX_STATS) && !CHECK_OK(natsStatistics_Create(&fx->stats)))
        return false;
    return CHECK(_setSentinel());
}

static void
_fxTeardown(misuse_fx *fx, int f)
{
    int i;

    natsConnection_Destroy(fx->out_nc);
    natsSubscription_Destroy(fx->out_sub);
    natsMsg_Destroy(fx->out_msg);
    natsOptions_Destroy(fx->out_opts);
    natsStatistics_Destroy(fx->out_stats);
    natsInbox_Destroy(fx->out_inbox);
#if HAVE_NATS_3_13
    natsHeader_Destroy(fx->out_hdr);
    natsHeader_Destroy(fx->hdr);
#endif
    free(fx->out_str);
    if (fx->out_strs != NULL)
    {
        for (i = 0; i < fx->out_count; i++)
            free(fx->out_strs[i]);
        free(fx->out_strs);
    }
    free((void*) fx->out_cstrs);
    free(fx->out_sig);

    natsSubscription_Destroy(fx->sub);
    natsMsg_Destroy(fx->msg);
    natsOptions_Destroy(fx->opts);
    natsStatistics_Destroy(fx->stats);
    natsMsgList_Destroy(&fx->list);
    if (f & FX_FRESH_NC)
        natsConnection_Destroy(fx->nc);
}

static int
_callsCount(void)
{
    return (int) (sizeof(misuse_calls) / sizeof(misuse_calls[0]));
}

static void
test_generated_sweep(void)
{
    misuse_fx   fx;
    int         n       = _callsCount();
    int         skipped = 0;
    int         funcs   = 0;
    int         i;

    REQUIRE_OK(h_connect(&g_nc));
    misuse_servers[0] = h_url();

    /* The sentinel mechanism itself works. */
    REQUIRE(_setSentinel());

    for (i = 0; i < n; i++)
    {
        const misuse_call *c = &misuse_calls[i];

        if (g_cnats && (c->cnatsCrash != NULL))
        {
            skipped++;
            continue;
        }
        g_cur = c;
        if (_fxSetup(&fx, c->fixtures))
            c->fn(&fx);
        _fxTeardown(&fx, c->fixtures);
        g_cur = NULL;
    }

    /* Coverage (that it matches the header is checked by c_test_misuse_coverage). */
    for (i = 0; i < MISUSE_HEADER_FUNCTIONS; i++)
    {
        const misuse_func *f = &misuse_funcs[i];

        if (f->calls > 0)
            funcs++;
        else
            printf("    no call for %s: %s\n", f->func, f->reason);
    }
    printf("    sweep: %d calls compiled, %d run, %d skipped (cnats crashes on them); "
           "%d of the header's %d functions have calls\n", n, n - skipped, skipped, funcs,
           MISUSE_HEADER_FUNCTIONS);

    /* The shared connection went through all of it unharmed. */
    CHECK_INT(natsConnection_Status(g_nc), NATS_CONN_STATUS_CONNECTED);
    CHECK_OK(natsConnection_Flush(g_nc));
    natsConnection_Destroy(g_nc);
    g_nc = NULL;
}

/* ------------------------------------------------------------------------ */
/* Helpers of the hand-written tests                                         */
/* ------------------------------------------------------------------------ */

/* Publishes `marker` on nc and returns how many messages `all` received before it
 * (-1 if the marker did not arrive). Messages received are destroyed. */
static int
_countUntilMarker(natsConnection *nc, natsSubscription *all, const char *marker)
{
    natsMsg *m     = NULL;
    int     before = 0;

    if (!CHECK_OK(natsConnection_PublishString(nc, marker, "end"))
        || !CHECK_OK(natsConnection_Flush(nc)))
    {
        return -1;
    }
    for (;;)
    {
        if (natsSubscription_NextMsg(&m, all, 5000) != NATS_OK)
            return -1;
        if (strcmp(natsMsg_GetSubject(m), marker) == 0)
        {
            natsMsg_Destroy(m);
            return before;
        }
        if (before < 10)
            printf("    '>' subscriber received '%s' (%d bytes)\n", natsMsg_GetSubject(m),
                   natsMsg_GetDataLength(m));
        before++;
        natsMsg_Destroy(m);
    }
}

/* ------------------------------------------------------------------------ */
/* Negative sizes, counts and timeouts                                       */
/* ------------------------------------------------------------------------ */

static void
test_negative_sizes(void)
{
    natsConnection      *nc     = NULL;
    natsConnection      *watch  = NULL;
    natsSubscription    *all    = NULL;
    natsSubscription    *sub    = NULL;
    natsMsg             *m      = NULL;
    natsMsg             *r      = NULL;
    natsOptions         *opts   = NULL;
    unsigned char       sig[64];
    const int           lens[]  = { -1, -1000, INT_MIN };
    int                 i, leaked;

    REQUIRE_OK(h_connect(&nc));
    REQUIRE_OK(h_connect(&watch));
    REQUIRE_OK(natsConnection_SubscribeSync(&all, watch, "neg.>"));
    REQUIRE_OK(natsConnection_Flush(watch));

    for (i = 0; i < (int) (sizeof(lens) / sizeof(lens[0])); i++)
    {
        const int   len = lens[i];
        natsStatus  s;

        /* cnats publishes an empty payload for a negative length; this library refuses. */
        s = natsConnection_Publish(nc, "neg.pub", "abc", len);
        if (!g_cnats)
            CHECK_STATUS(s, NATS_INVALID_ARG);
        s = natsConnection_PublishRequest(nc, "neg.preq", "neg.reply", "abc", len);
        if (!g_cnats)
            CHECK_STATUS(s, NATS_INVALID_ARG);
#if HAVE_NATS_3_13
        s = natsConnection_Send(nc, "neg.send", "abc", len);
        if (!g_cnats)
            CHECK_STATUS(s, NATS_INVALID_ARG);
        s = natsConnection_SendRequest(nc, "neg.sreq", "neg.reply", "abc", len);
        if (!g_cnats)
            CHECK_STATUS(s, NATS_INVALID_ARG);
#endif
        if (!g_cnats)
        {
            /* cnats memcpy()s the negative length. */
            CHECK_STATUS(natsMsg_Create(&m, "neg.msg", NULL, "abc", len), NATS_INVALID_ARG);
            CHECK(m == NULL);
            CHECK_STATUS(natsConnection_Request(&r, nc, "neg.req", "abc", len, 500), NATS_INVALID_ARG);
            CHECK(r == NULL);
        }
        /* Same in both: a negative payload length to sign is refused. */
        CHECK_STATUS(natsConnection_Sign(nc, (const unsigned char*) "abc", len, sig), NATS_INVALID_ARG);
    }
    /* Nothing of the above reached the server, and the connection is unharmed. */
    leaked = _countUntilMarker(nc, all, "neg.marker");
    if (!g_cnats)
        CHECK_INT(leaked, 0);
    else
        printf("    cnats: %d empty message(s) published for negative lengths\n", leaked);
    CHECK_INT(natsConnection_Status(nc), NATS_CONN_STATUS_CONNECTED);

    /* Limits: 0 and negative maximums of the options are refused. */
    REQUIRE_OK(natsOptions_Create(&opts));
    CHECK_STATUS(natsOptions_SetMaxPendingMsgs(opts, 0), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetMaxPendingMsgs(opts, -1), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetMaxPendingMsgs(opts, INT_MIN), NATS_INVALID_ARG);
#if HAVE_NATS_3_13
    CHECK_STATUS(natsOptions_SetMaxPendingBytes(opts, 0), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetMaxPendingBytes(opts, -1), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetMessageBufferPadding(opts, INT_MIN), NATS_INVALID_ARG);
#endif
    CHECK_STATUS(natsOptions_SetIOBufSize(opts, INT_MIN), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetReconnectBufSize(opts, INT_MIN), NATS_INVALID_ARG);
    misuse_servers[0] = h_url();
    CHECK_STATUS(natsOptions_SetServers(opts, misuse_servers, -1), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetServers(opts, misuse_servers, 0), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetServers(opts, NULL, -1), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetServers(opts, NULL, 1), NATS_INVALID_ARG);
    /* Negative timeouts. */
    CHECK_STATUS(natsOptions_SetTimeout(opts, -1), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetReconnectWait(opts, INT64_MIN), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetReconnectJitter(opts, -1, -1), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetWriteDeadline(opts, -1), NATS_INVALID_ARG);
    natsOptions_Destroy(opts);

    /* Pending limits of a subscription: 0 is refused, negative means "no limit". */
    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "neg.limits"));
    CHECK_STATUS(natsSubscription_SetPendingLimits(sub, 0, 1000), NATS_INVALID_ARG);
    CHECK_STATUS(natsSubscription_SetPendingLimits(sub, 1000, 0), NATS_INVALID_ARG);
    CHECK_OK(natsSubscription_SetPendingLimits(sub, -1, INT_MIN));
    {
        int ml = 0, bl = 0;
        int64_t dropped = -1;
        int pending = 0;

        CHECK_OK(natsSubscription_GetPendingLimits(sub, &ml, &bl));
        CHECK_INT(ml, -1);
        CHECK_INT(bl, INT_MIN);
        for (i = 0; i < 20; i++)
            CHECK_OK(natsConnection_PublishString(nc, "neg.limits", "x"));
        CHECK_OK(natsConnection_Flush(nc));
        /* Without limits nothing is dropped. */
        for (i = 0; (i < 500) && (pending < 20); i++)
        {
            CHECK_OK(natsSubscription_GetPending(sub, &pending, NULL));
            if (pending < 20)
                h_sleep_ms(10);
        }
        CHECK_INT(pending, 20);
        CHECK_OK(natsSubscription_GetDropped(sub, &dropped));
        CHECK_INT(dropped, 0);
    }
    /* A negative NextMsg timeout polls: a pending message is returned at once... */
    {
        int64_t start = h_now_ms();

        CHECK_OK(natsSubscription_NextMsg(&m, sub, -1));
        CHECK(m != NULL);
        natsMsg_Destroy(m);
        m = NULL;
        CHECK(h_now_ms() - start < 1000);
    }
    natsSubscription_Destroy(sub);
    sub = NULL;
    /* ... and an empty subscription times out at once. */
    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "neg.empty"));
    {
        int64_t start = h_now_ms();

        CHECK_STATUS(natsSubscription_NextMsg(&m, sub, -1), NATS_TIMEOUT);
        CHECK(m == NULL);
        CHECK_STATUS(natsSubscription_NextMsg(&m, sub, INT64_MIN), NATS_TIMEOUT);
        CHECK(h_now_ms() - start < 1000);
    }
    natsSubscription_Destroy(sub);
    sub = NULL;
    /* A negative drain timeout means "no limit": the drain of an asynchronous
     * subscription completes. (cnats completes the drain of a synchronous one only at its
     * next NextMsg call when there is no timeout.) */
    REQUIRE_OK(natsConnection_Subscribe(&sub, nc, "neg.drain", misuse_msg_cb, NULL));
    CHECK_OK(natsSubscription_DrainTimeout(sub, -1));
    if (!CHECK_OK(natsSubscription_WaitForDrainCompletion(sub, 5000)))
    {
        natsSubscription_Destroy(sub);
        return;
    }
    /* Already complete: a wait without limit returns at once. */
    CHECK_OK(natsSubscription_WaitForDrainCompletion(sub, -1));
    CHECK_OK(natsSubscription_DrainCompletionStatus(sub));
    natsSubscription_Destroy(sub);
    sub = NULL;

    CHECK_STATUS(natsConnection_FlushTimeout(nc, 0), NATS_INVALID_TIMEOUT);
    CHECK_STATUS(natsConnection_FlushTimeout(nc, INT64_MIN), NATS_INVALID_TIMEOUT);
    CHECK_STATUS(natsConnection_SubscribeTimeout(&sub, nc, "neg.tmo", 0, misuse_msg_cb, NULL),
                 NATS_INVALID_ARG);
    CHECK_STATUS(natsConnection_SubscribeTimeout(&sub, nc, "neg.tmo", -1, misuse_msg_cb, NULL),
                 NATS_INVALID_ARG);
    CHECK_STATUS(natsConnection_QueueSubscribeTimeout(&sub, nc, "neg.tmo", "q", -1, misuse_msg_cb, NULL),
                 NATS_INVALID_ARG);
    CHECK(sub == NULL);
    {
        natsStatus s = natsConnection_RequestString(&r, nc, "neg.req", "x", -1);

        /* cnats sends the request and times out at once (unless the no-responders reply
         * wins the race); this library refuses. */
        if (!g_cnats)
            CHECK_STATUS(s, NATS_INVALID_TIMEOUT);
        else
            CHECK((s == NATS_TIMEOUT) || (s == NATS_NO_RESPONDERS));
        CHECK(r == NULL);
    }

    natsSubscription_Destroy(all);
    natsConnection_Destroy(watch);

    /* A negative connection drain timeout means "no limit": the connection closes. */
    CHECK_OK(natsConnection_DrainTimeout(nc, -1));
    for (i = 0; (i < 500) && !natsConnection_IsClosed(nc); i++)
        h_sleep_ms(10);
    CHECK(natsConnection_IsClosed(nc));
    natsConnection_Destroy(nc);
}

/* natsMsgList: the list owns its messages and its array; sizes that do not match. */
static void
test_msg_list_sizes(void)
{
    natsMsgList list;
    natsMsg     *a = NULL;
    natsMsg     *b = NULL;

    /* A negative count: no message is destroyed (the library cannot know how many there
     * are), the array is released and the list reset. */
    REQUIRE_OK(natsMsg_Create(&a, "list.a", NULL, "a", 1));
    list.Msgs = (natsMsg**) calloc(1, sizeof(natsMsg*));
    REQUIRE(list.Msgs != NULL);
    list.Msgs[0] = a;
    list.Count = -1;
    natsMsgList_Destroy(&list);
    CHECK(list.Msgs == NULL);
    CHECK_INT(list.Count, 0);
    /* `a` is still ours. */
    CHECK_STR(natsMsg_GetSubject(a), "list.a");
    natsMsg_Destroy(a);
    a = NULL;

    /* No array, a positive count: nothing to release (must not crash). */
    list.Msgs = NULL;
    list.Count = 5;
    natsMsgList_Destroy(&list);

    /* NULL entries are skipped; destroying the list twice is harmless (it is reset). */
    REQUIRE_OK(natsMsg_Create(&a, "list.a", NULL, "a", 1));
    REQUIRE_OK(natsMsg_Create(&b, "list.b", "list.reply", NULL, 0));
    list.Msgs = (natsMsg**) calloc(3, sizeof(natsMsg*));
    REQUIRE(list.Msgs != NULL);
    list.Msgs[0] = a;
    list.Msgs[1] = NULL;
    list.Msgs[2] = b;
    list.Count = 3;
    natsMsgList_Destroy(&list);
    CHECK(list.Msgs == NULL);
    CHECK_INT(list.Count, 0);
    natsMsgList_Destroy(&list);
    CHECK(list.Msgs == NULL);

    /* An empty array with a 0 count. */
    list.Msgs = (natsMsg**) calloc(1, sizeof(natsMsg*));
    REQUIRE(list.Msgs != NULL);
    list.Count = 0;
    natsMsgList_Destroy(&list);
    CHECK(list.Msgs == NULL);
}

/* ------------------------------------------------------------------------ */
/* Handles used through their still-live owners                              */
/* ------------------------------------------------------------------------ */

static void
test_sub_after_conn_closed(void)
{
    natsConnection      *nc     = NULL;
    natsSubscription    *sub    = NULL;
    natsSubscription    *asub   = NULL;
    natsSubscription    *other  = NULL;
    natsMsg             *m      = NULL;
    int                 a = 0, b = 0, c = 0, d = 0;
    int64_t             e = 0, f = 0;
    uint64_t            q = 0;

    REQUIRE_OK(h_connect(&nc));
    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "closed.sub"));
    REQUIRE_OK(natsConnection_Subscribe(&asub, nc, "closed.asub", misuse_msg_cb, NULL));
    CHECK_OK(natsConnection_PublishString(nc, "closed.sub", "pending"));
    CHECK_OK(natsConnection_Flush(nc));

    natsConnection_Close(nc);

    /* The connection handle is still valid (not destroyed) but closed. */
    CHECK(natsConnection_IsClosed(nc));
    CHECK_INT(natsConnection_Status(nc), NATS_CONN_STATUS_CLOSED);
    CHECK_INT(natsConnection_Buffered(nc), -1);
    CHECK_STATUS(natsConnection_PublishString(nc, "closed.x", "x"), NATS_CONNECTION_CLOSED);
    CHECK_STATUS(natsConnection_Flush(nc), NATS_CONNECTION_CLOSED);
    CHECK_STATUS(natsConnection_FlushTimeout(nc, 100), NATS_CONNECTION_CLOSED);
    CHECK_STATUS(natsConnection_SubscribeSync(&other, nc, "closed.y"), NATS_CONNECTION_CLOSED);
    CHECK(other == NULL);
    CHECK_STATUS(natsConnection_RequestString(&m, nc, "closed.req", "x", 100), NATS_CONNECTION_CLOSED);
    CHECK(m == NULL);
    CHECK_STATUS(natsConnection_Drain(nc), NATS_CONNECTION_CLOSED);
    {
        int64_t     rtt  = 0;
        uint64_t    cid  = 0;
        char        *ip  = NULL;
        int         port = 0;

        CHECK_STATUS(natsConnection_GetRTT(nc, &rtt), NATS_CONNECTION_CLOSED);
        CHECK_STATUS(natsConnection_GetClientID(nc, &cid), NATS_CONNECTION_CLOSED);
        CHECK_STATUS(natsConnection_GetClientIP(nc, &ip), NATS_CONNECTION_CLOSED);
        CHECK(ip == NULL);
        CHECK_STATUS(natsConnection_GetLocalIPAndPort(nc, &ip, &port), NATS_CONNECTION_CLOSED);
        CHECK(ip == NULL);
    }
#if HAVE_NATS_3_13
    CHECK_STATUS(natsConnection_Reconnect(nc), NATS_CONNECTION_CLOSED);
#endif

    /* Subscriptions of a closed connection: the ones that talk to the server report the
     * closed connection, the others an invalid subscription (cnats). */
    CHECK_STATUS(natsSubscription_NextMsg(&m, sub, 100), NATS_CONNECTION_CLOSED);
    CHECK(m == NULL);
    CHECK_STATUS(natsSubscription_Unsubscribe(sub), NATS_CONNECTION_CLOSED);
    CHECK_STATUS(natsSubscription_AutoUnsubscribe(sub, 5), NATS_CONNECTION_CLOSED);
    CHECK_STATUS(natsSubscription_Drain(sub), NATS_CONNECTION_CLOSED);
    CHECK_STATUS(natsSubscription_DrainTimeout(sub, 100), NATS_CONNECTION_CLOSED);
    CHECK_STATUS(natsSubscription_GetPending(sub, &a, &b), NATS_INVALID_SUBSCRIPTION);
    CHECK_STATUS(natsSubscription_SetPendingLimits(sub, 10, 10), NATS_INVALID_SUBSCRIPTION);
    CHECK_STATUS(natsSubscription_GetPendingLimits(sub, &a, &b), NATS_INVALID_SUBSCRIPTION);
    CHECK_STATUS(natsSubscription_GetDelivered(sub, &e), NATS_INVALID_SUBSCRIPTION);
    CHECK_STATUS(natsSubscription_GetDropped(sub, &e), NATS_INVALID_SUBSCRIPTION);
    CHECK_STATUS(natsSubscription_GetMaxPending(sub, &a, &b), NATS_INVALID_SUBSCRIPTION);
    CHECK_STATUS(natsSubscription_ClearMaxPending(sub), NATS_INVALID_SUBSCRIPTION);
    CHECK_STATUS(natsSubscription_GetStats(sub, &a, &b, &c, &d, &e, &f), NATS_INVALID_SUBSCRIPTION);
    CHECK_STATUS(natsSubscription_QueuedMsgs(sub, &q), NATS_INVALID_SUBSCRIPTION);
    CHECK_STATUS(natsSubscription_WaitForDrainCompletion(sub, 100), NATS_ILLEGAL_STATE);
    CHECK_STATUS(natsSubscription_DrainCompletionStatus(sub), NATS_ILLEGAL_STATE);
    CHECK_STATUS(natsSubscription_SetOnCompleteCB(asub, misuse_complete_cb, NULL),
                 NATS_INVALID_SUBSCRIPTION);
    CHECK(!natsSubscription_IsValid(sub));
    CHECK(!natsSubscription_IsValid(asub));
    CHECK_INT(natsSubscription_GetID(sub), 0);
    CHECK(natsSubscription_GetSubject(sub) == NULL);
#if HAVE_NATS_3_13
    CHECK(natsSubscription_GetConnection(sub) == nc);
#endif

    /* Closing again is a no-op; then the documented releases, in any order. */
    natsConnection_Close(nc);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    natsSubscription_Destroy(asub);
}

static void
test_sub_and_msg_after_conn_destroyed(void)
{
    natsConnection      *nc     = NULL;
    natsSubscription    *sub    = NULL;
    natsSubscription    *asub   = NULL;
    natsMsg             *kept   = NULL;
    natsMsg             *m      = NULL;
    int                 a = 0;

    REQUIRE_OK(h_connect(&nc));
    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "gone.sub"));
    REQUIRE_OK(natsConnection_Subscribe(&asub, nc, "gone.asub", misuse_msg_cb, NULL));
    CHECK_OK(natsConnection_PublishString(nc, "gone.sub", "one"));
    CHECK_OK(natsConnection_PublishString(nc, "gone.sub", "two"));
    CHECK_OK(natsConnection_Flush(nc));
    REQUIRE_OK(natsSubscription_NextMsg(&kept, sub, 5000));

    /* The user's connection handle is released; the subscriptions keep the connection
     * object alive (cnats: by reference count) until they are destroyed. */
    natsConnection_Destroy(nc);
    nc = NULL;

    CHECK_STATUS(natsSubscription_NextMsg(&m, sub, 100), NATS_CONNECTION_CLOSED);
    CHECK(m == NULL);
    CHECK_STATUS(natsSubscription_Unsubscribe(sub), NATS_CONNECTION_CLOSED);
    CHECK_STATUS(natsSubscription_Unsubscribe(asub), NATS_CONNECTION_CLOSED);
    CHECK_STATUS(natsSubscription_GetPending(sub, &a, NULL), NATS_INVALID_SUBSCRIPTION);
    CHECK_STATUS(natsSubscription_SetOnCompleteCB(asub, misuse_complete_cb, NULL),
                 NATS_INVALID_SUBSCRIPTION);
    CHECK(!natsSubscription_IsValid(sub));
    CHECK(!natsSubscription_IsValid(asub));

    natsSubscription_Destroy(sub);
    natsSubscription_Destroy(asub);

    /* A message belongs to the user: it outlives its subscription and connection. */
    CHECK_STR(natsMsg_GetSubject(kept), "gone.sub");
    CHECK_STR(natsMsg_GetData(kept), "one");
    CHECK_INT(natsMsg_GetDataLength(kept), 3);
    natsMsg_Destroy(kept);
}

static void
_closedCb(natsConnection *nc, void *closure)
{
    (void) nc;
    h_waiter_add((h_waiter*) closure, 1);
}

/* natsOptions_Destroy right after connecting: the connection uses its own copy. */
static void
test_options_destroyed_after_connect(void)
{
    natsOptions         *opts   = NULL;
    natsConnection      *nc1    = NULL;
    natsConnection      *nc2    = NULL;
    natsSubscription    *sub    = NULL;
    natsMsg             *m      = NULL;
    h_waiter            closed;

    h_waiter_init(&closed);
    REQUIRE_OK(natsOptions_Create(&opts));
    CHECK_OK(natsOptions_SetURL(opts, h_url()));
    CHECK_OK(natsOptions_SetName(opts, "misuse-opts"));
    CHECK_OK(natsOptions_SetClosedCB(opts, _closedCb, &closed));
    if (!CHECK_OK(natsConnection_Connect(&nc1, opts)) || !CHECK_OK(natsConnection_Connect(&nc2, opts)))
    {
        natsOptions_Destroy(opts);
        natsConnection_Destroy(nc1);
        natsConnection_Destroy(nc2);
        h_waiter_destroy(&closed);
        return;
    }
    natsOptions_Destroy(opts);
    opts = NULL;

#if HAVE_NATS_3_13
    CHECK_STR(natsConnection_GetName(nc1), "misuse-opts");
    CHECK_STR(natsConnection_GetName(nc2), "misuse-opts");
#endif
    CHECK_OK(natsConnection_SubscribeSync(&sub, nc2, "opts.gone"));
    CHECK_OK(natsConnection_Flush(nc2));
    CHECK_OK(natsConnection_PublishString(nc1, "opts.gone", "still works"));
    CHECK_OK(natsConnection_Flush(nc1));
    if (CHECK_OK(natsSubscription_NextMsg(&m, sub, 5000)))
        CHECK_STR(natsMsg_GetData(m), "still works");
    natsMsg_Destroy(m);
    natsSubscription_Destroy(sub);

    /* The callbacks of the destroyed options still run: closed, once per connection. */
    natsConnection_Close(nc1);
    natsConnection_Close(nc2);
    CHECK(h_waiter_wait(&closed, 2, 5000));
    natsConnection_Destroy(nc1);
    natsConnection_Destroy(nc2);
    h_sleep_ms(50);
    CHECK_INT(h_waiter_get(&closed), 2);
    h_waiter_destroy(&closed);
}

/* ------------------------------------------------------------------------ */
/* Destroy twice through the documented paths                                */
/* ------------------------------------------------------------------------ */

static void
test_double_destroy_paths(void)
{
    natsConnection      *nc     = NULL;
    natsConnection      *nc2    = NULL;
    natsSubscription    *sub    = NULL;
    natsMsg             *m      = NULL;
    natsStatus          ls      = NATS_OK;

    REQUIRE_OK(h_connect(&nc));

    /* Unsubscribe, then Destroy (which must not unsubscribe again). Unsubscribing twice
     * reports the invalid subscription. */
    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "dd.unsub"));
    CHECK_OK(natsSubscription_Unsubscribe(sub));
    CHECK(!natsSubscription_IsValid(sub));
    CHECK_STATUS(natsSubscription_Unsubscribe(sub), NATS_INVALID_SUBSCRIPTION);
    CHECK_STATUS(natsSubscription_AutoUnsubscribe(sub, 3), NATS_INVALID_SUBSCRIPTION);
    CHECK_STATUS(natsSubscription_Drain(sub), NATS_INVALID_SUBSCRIPTION);
    natsSubscription_Destroy(sub);
    sub = NULL;

    /* AutoUnsubscribe reached, then Destroy. */
    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "dd.auto"));
    CHECK_OK(natsSubscription_AutoUnsubscribe(sub, 1));
    CHECK_OK(natsConnection_PublishString(nc, "dd.auto", "1"));
    CHECK_OK(natsConnection_PublishString(nc, "dd.auto", "2"));
    CHECK_OK(natsConnection_Flush(nc));
    CHECK_OK(natsSubscription_NextMsg(&m, sub, 5000));
    natsMsg_Destroy(m);
    m = NULL;
    CHECK_STATUS(natsSubscription_NextMsg(&m, sub, 100), NATS_MAX_DELIVERED_MSGS);
    CHECK(m == NULL);
    CHECK(!natsSubscription_IsValid(sub));
    CHECK_STATUS(natsSubscription_Unsubscribe(sub), NATS_INVALID_SUBSCRIPTION);
    natsSubscription_Destroy(sub);
    sub = NULL;

    /* Drained, then Destroy. */
    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "dd.drain"));
    CHECK_OK(natsSubscription_DrainTimeout(sub, 2000));
    CHECK_OK(natsSubscription_WaitForDrainCompletion(sub, 5000));
    {
        /* cnats keeps a drained synchronous subscription registered until its next NextMsg
         * call and accepts this Unsubscribe; this library reports it invalid. */
        natsStatus s = natsSubscription_Unsubscribe(sub);

        if (!g_cnats)
            CHECK_STATUS(s, NATS_INVALID_SUBSCRIPTION);
    }
    natsSubscription_Destroy(sub);
    sub = NULL;

    /* The connection still works after all of that. */
    CHECK_OK(natsConnection_Flush(nc));

    /* Close twice, then Destroy. */
    natsConnection_Close(nc);
    natsConnection_Close(nc);
    CHECK(natsConnection_IsClosed(nc));
    natsConnection_Destroy(nc);
    nc = NULL;

    /* Drain, then Destroy at once (Destroy closes the draining connection). */
    REQUIRE_OK(h_connect(&nc2));
    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc2, "dd.conn.drain"));
    CHECK_OK(natsConnection_Drain(nc2));
    natsConnection_Destroy(nc2);
    natsSubscription_Destroy(sub);
    sub = NULL;

    /* Releasing NULL is a no-op everywhere, and records no error. */
    CHECK_STATUS(natsConnection_FlushTimeout(NULL, 1), NATS_INVALID_ARG);
    natsMsg_Destroy(NULL);
    natsInbox_Destroy(NULL);
    natsStatistics_Destroy(NULL);
    natsOptions_Destroy(NULL);
    natsSubscription_Destroy(NULL);
    natsConnection_Close(NULL);
    natsConnection_Destroy(NULL);
    natsMsgList_Destroy(NULL);
#if HAVE_NATS_3_13
    natsHeader_Destroy(NULL);
#endif
    (void) nats_GetLastError(&ls);
    CHECK_INT(ls, NATS_INVALID_ARG);
}

/* ------------------------------------------------------------------------ */
/* natsMsg_Destroy after the message callback returned                       */
/* ------------------------------------------------------------------------ */

#define KEEP_MAX 5

typedef struct
{
    h_waiter    w;
    natsMsg     *msgs[KEEP_MAX];
    int         nulls;

} keepState;

/* Keeps the messages: the callback owns them and hands them over to the test. */
static void
_keepCb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    keepState   *st = (keepState*) closure;

    (void) nc; (void) sub;
    pthread_mutex_lock(&st->w.mu);
    if (msg == NULL)
        st->nulls++;
    else if (st->w.count < KEEP_MAX)
        st->msgs[st->w.count] = msg;
    else
        natsMsg_Destroy(msg);
    pthread_mutex_unlock(&st->w.mu);
    if (msg != NULL)
        h_waiter_add(&st->w, 1);
}

/* Timeout callback: the message is NULL on timeouts; destroying NULL is harmless. */
static void
_timeoutCb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void) nc; (void) sub;
    natsMsg_Destroy(msg);
    h_waiter_add((h_waiter*) closure, 1);
}

static void
test_msg_destroy_after_callback(void)
{
    natsConnection      *nc     = NULL;
    natsSubscription    *sub    = NULL;
    natsSubscription    *tsub   = NULL;
    keepState           st;
    h_waiter            tmo;
    char                data[16];
    int                 i;

    memset(&st, 0, sizeof(st));
    h_waiter_init(&st.w);
    h_waiter_init(&tmo);

    REQUIRE_OK(h_connect(&nc));
    REQUIRE_OK(natsConnection_Subscribe(&sub, nc, "keep.>", _keepCb, &st));
    REQUIRE_OK(natsConnection_SubscribeTimeout(&tsub, nc, "keep.never", 20, _timeoutCb, &tmo));
    for (i = 0; i < KEEP_MAX; i++)
    {
        snprintf(data, sizeof(data), "m%d", i);
        CHECK_OK(natsConnection_PublishString(nc, "keep.it", data));
    }
    CHECK_OK(natsConnection_Flush(nc));
    CHECK(h_waiter_wait(&st.w, KEEP_MAX, 5000));
    CHECK(h_waiter_wait(&tmo, 2, 5000));

    /* The callbacks have returned; the subscriptions and the connection go away. */
    natsSubscription_Destroy(sub);
    natsSubscription_Destroy(tsub);
    natsConnection_Destroy(nc);

    /* The kept messages are intact and the user destroys them now. */
    for (i = 0; i < KEEP_MAX; i++)
    {
        natsMsg *m = st.msgs[i];

        if (!CHECK(m != NULL))
            continue;
        snprintf(data, sizeof(data), "m%d", i);
        CHECK_STR(natsMsg_GetSubject(m), "keep.it");
        CHECK_STR(natsMsg_GetData(m), data);
        natsMsg_Destroy(m);
    }
    h_waiter_destroy(&st.w);
    h_waiter_destroy(&tmo);
}

/* ------------------------------------------------------------------------ */
/* Subject validation before anything reaches the wire                       */
/* ------------------------------------------------------------------------ */

static void
test_subject_validation_wire(void)
{
    natsConnection      *nc     = NULL;
    natsConnection      *watch  = NULL;
    natsSubscription    *all    = NULL;
    natsSubscription    *sub    = NULL;
    natsMsg             *m      = NULL;
    natsMsg             *r      = NULL;
    /* Whitespace anywhere: space, tab, CR, LF, and a protocol injection attempt. */
    const char          *bad[]  = {
        "wire bad", "wire\tbad", "wire\rbad", "wire\nbad", " wire", "wire ", "wire\r\n",
        "wire.x\r\nPUB wire.injected 1\r\nX", "wire\x0b" "bad", "wire\f" "bad", NULL };
    /* Empty tokens: refused by subscribe in both libraries. */
    const char          *emptyTok[] = { "wire..bad", ".wire", "wire.", "..", ".", NULL };
    int                 i, leaked;

    REQUIRE_OK(h_connect(&nc));
    REQUIRE_OK(h_connect(&watch));
    REQUIRE_OK(natsConnection_SubscribeSync(&all, watch, ">"));
    REQUIRE_OK(natsConnection_Flush(watch));

    for (i = 0; bad[i] != NULL; i++)
    {
        const char *b = bad[i];
        natsStatus s1, s2, s3, s4, s5, s6, s7;

        /* Publish family: cnats only refuses NULL or empty subjects and would send these;
         * this library refuses whitespace (NATS_INVALID_SUBJECT, or NATS_INVALID_ARG for
         * a reply subject). */
        s1 = natsConnection_Publish(nc, b, "x", 1);
        s2 = natsConnection_PublishString(nc, b, "x");
        s3 = natsConnection_PublishRequest(nc, b, "wire.reply", "x", 1);
        s4 = natsConnection_PublishRequestString(nc, "wire.ok", b, "x");
        s5 = natsConnection_PublishRequest(nc, "wire.ok", b, "x", 1);
        s6 = NATS_INVALID_SUBJECT;
        s7 = NATS_INVALID_ARG;
#if HAVE_NATS_3_13
        s6 = natsConnection_Send(nc, b, "x", 1);
        s7 = natsConnection_SendRequest(nc, "wire.ok", b, "x", 1);
#endif
        if (!g_cnats)
        {
            CHECK_STATUS(s1, NATS_INVALID_SUBJECT);
            CHECK_STATUS(s2, NATS_INVALID_SUBJECT);
            CHECK_STATUS(s3, NATS_INVALID_SUBJECT);
            CHECK_STATUS(s4, NATS_INVALID_ARG);
            CHECK_STATUS(s5, NATS_INVALID_ARG);
            CHECK_STATUS(s6, NATS_INVALID_SUBJECT);
            CHECK_STATUS(s7, NATS_INVALID_ARG);
        }
        /* A message object with such a subject or reply can be created, not published. */
        if (CHECK_OK(natsMsg_Create(&m, b, NULL, "x", 1)))
        {
            s1 = natsConnection_PublishMsg(nc, m);
            s2 = natsConnection_RequestMsg(&r, nc, m, 200);
            if (!g_cnats)
            {
                CHECK_STATUS(s1, NATS_INVALID_SUBJECT);
                CHECK_STATUS(s2, NATS_INVALID_SUBJECT);
                CHECK(r == NULL);
            }
            natsMsg_Destroy(r);
            r = NULL;
            natsMsg_Destroy(m);
            m = NULL;
        }
        if (CHECK_OK(natsMsg_Create(&m, "wire.ok", b, "x", 1)))
        {
            s1 = natsConnection_PublishMsg(nc, m);
            if (!g_cnats)
                CHECK_STATUS(s1, NATS_INVALID_ARG);
            natsMsg_Destroy(m);
            m = NULL;
        }
        /* Requests. */
        s1 = natsConnection_Request(&r, nc, b, "x", 1, 200);
        natsMsg_Destroy(r);
        r = NULL;
        s2 = natsConnection_RequestString(&r, nc, b, "x", 200);
        natsMsg_Destroy(r);
        r = NULL;
        if (!g_cnats)
        {
            CHECK_STATUS(s1, NATS_INVALID_SUBJECT);
            CHECK_STATUS(s2, NATS_INVALID_SUBJECT);
        }
        /* Subscriptions and queue names: refused by both libraries. */
        CHECK_STATUS(natsConnection_SubscribeSync(&sub, nc, b), NATS_INVALID_SUBJECT);
        CHECK_STATUS(natsConnection_Subscribe(&sub, nc, b, misuse_msg_cb, NULL), NATS_INVALID_SUBJECT);
        CHECK_STATUS(natsConnection_QueueSubscribeSync(&sub, nc, b, "q"), NATS_INVALID_SUBJECT);
        CHECK_STATUS(natsConnection_QueueSubscribeSync(&sub, nc, "wire.ok", b), NATS_INVALID_QUEUE_NAME);
        CHECK_STATUS(natsConnection_QueueSubscribe(&sub, nc, "wire.ok", b, misuse_msg_cb, NULL),
                     NATS_INVALID_QUEUE_NAME);
        CHECK(sub == NULL);
    }
    for (i = 0; emptyTok[i] != NULL; i++)
    {
        CHECK_STATUS(natsConnection_SubscribeSync(&sub, nc, emptyTok[i]), NATS_INVALID_SUBJECT);
        CHECK_STATUS(natsConnection_QueueSubscribeSync(&sub, nc, emptyTok[i], "q"), NATS_INVALID_SUBJECT);
        CHECK_STATUS(natsConnection_SubscribeTimeout(&sub, nc, emptyTok[i], 100, misuse_msg_cb, NULL),
                     NATS_INVALID_SUBJECT);
        CHECK(sub == NULL);
    }
    /* A '>' that is not the last token. */
    CHECK_STATUS(natsConnection_SubscribeSync(&sub, nc, "wire.>.x"), NATS_INVALID_SUBJECT);
    CHECK(sub == NULL);

    /* Empty tokens on publish: this library refuses them before anything reaches the wire
     * (NATS_INVALID_SUBJECT); cnats only refuses a NULL or empty subject and sends them.
     * Either way no subscriber may receive them: the server drops them (checked below
     * with the '>' subscriber), and the connection stays up. */
    for (i = 0; emptyTok[i] != NULL; i++)
    {
        natsStatus s = natsConnection_PublishString(nc, emptyTok[i], "x");

        if (g_cnats)
            CHECK((s == NATS_OK) || (s == NATS_INVALID_SUBJECT));
        else
            CHECK_STATUS(s, NATS_INVALID_SUBJECT);
    }

    /* The last error names the problem. */
    {
        natsStatus ls = NATS_OK;

        CHECK_STATUS(natsConnection_SubscribeSync(&sub, nc, "wire\r\nbad"), NATS_INVALID_SUBJECT);
        (void) nats_GetLastError(&ls);
        CHECK_INT(ls, NATS_INVALID_SUBJECT);
    }

    /* Nothing reached the wire: the '>' subscriber of the other connection sees only the
     * marker, and both connections are still connected (no protocol error). */
    if (!g_cnats)
    {
        leaked = _countUntilMarker(nc, all, "wire.marker");
        CHECK_INT(leaked, 0);
        CHECK_INT(natsConnection_Status(nc), NATS_CONN_STATUS_CONNECTED);
        CHECK_INT(natsConnection_Status(watch), NATS_CONN_STATUS_CONNECTED);

        /* Valid subjects go through. */
        CHECK_OK(natsConnection_PublishString(nc, "wire.fine", "ok"));
        CHECK_OK(natsConnection_Flush(nc));
        if (CHECK_OK(natsSubscription_NextMsg(&m, all, 5000)))
            CHECK_STR(natsMsg_GetSubject(m), "wire.fine");
        natsMsg_Destroy(m);
    }
    else
    {
        /* cnats writes them: report what the server and the '>' subscriber saw. */
        (void) natsConnection_FlushTimeout(nc, 2000);
        leaked = 0;
        while (natsSubscription_NextMsg(&m, all, 500) == NATS_OK)
        {
            if (leaked < 5)
                printf("    cnats: '>' subscriber received '%s'\n", natsMsg_GetSubject(m));
            leaked++;
            natsMsg_Destroy(m);
            m = NULL;
        }
        printf("    cnats: %d message(s) reached the '>' subscriber; publisher status %d "
               "(2 = connected)\n", leaked, (int) natsConnection_Status(nc));
    }

    natsSubscription_Destroy(all);
    natsConnection_Destroy(watch);
    natsConnection_Destroy(nc);
}

/* ------------------------------------------------------------------------ */
/* Library close twice (last: it closes the library)                         */
/* ------------------------------------------------------------------------ */

static void
test_library_close_twice(void)
{
    natsOptions *opts = NULL;
    natsStatus  s;

    nats_Close();
    nats_Close();
    /* Closed: nothing to wait for. cnats may still be tearing down (NATS_ILLEGAL_STATE). */
    s = nats_CloseAndWait(-1);
    if (!g_cnats)
        CHECK_STATUS(s, NATS_NOT_INITIALIZED);
    else
        CHECK((s == NATS_NOT_INITIALIZED) || (s == NATS_ILLEGAL_STATE));

    /* The library opens again on use; a negative timeout waits without limit, and with
     * nothing left open returns at once. */
    if (g_cnats)
    {
        /* cnats refuses to open (NATS_FAILED_TO_INITIALIZE) until its threads are gone. */
        int64_t deadline = h_now_ms() + 10000;

        while ((nats_Open(-1) == NATS_FAILED_TO_INITIALIZE) && (h_now_ms() < deadline))
            h_sleep_ms(10);
    }
    CHECK_OK(nats_Open(-1));
    REQUIRE_OK(natsOptions_Create(&opts));
    natsOptions_Destroy(opts);
    {
        int64_t start = h_now_ms();

        CHECK_OK(nats_CloseAndWait(-1));
        CHECK(h_now_ms() - start < 10000);
    }
    nats_Close();
}

/* ------------------------------------------------------------------------ */
/* --probe: run each generated call in a child process                       */
/* ------------------------------------------------------------------------ */

static int
probe(void)
{
    int         n       = _callsCount();
    int         crashes = 0, wrong = 0, listed = 0;
    int         i;

    if (!CHECK_OK(h_connect(&g_nc)))
        return 1;
    misuse_servers[0] = h_url();
    fflush(stdout);
    fflush(stderr);
    for (i = 0; i < n; i++)
    {
        const misuse_call   *c  = &misuse_calls[i];
        pid_t               pid;
        int                 st  = 0;

        fflush(stdout);
        fflush(stderr);
        pid = fork();

        if (pid == 0)
        {
            misuse_fx fx;

            alarm(20);
            h_failed = 0;
            g_cur = c;
            if (_fxSetup(&fx, c->fixtures))
                c->fn(&fx);
            fflush(stdout);
            fflush(stderr);
            _exit(h_failed == 0 ? 0 : 3);
        }
        if (pid < 0 || waitpid(pid, &st, 0) < 0)
        {
            perror("fork/waitpid");
            return 1;
        }
        listed += (c->cnatsCrash != NULL ? 1 : 0);
        if (WIFSIGNALED(st))
        {
            crashes++;
            printf("PROBE crash (signal %d)%s: %s (%s)\n", WTERMSIG(st),
                   (c->cnatsCrash != NULL ? " [listed]" : " [NOT LISTED]"), c->func, c->what);
        }
        else if (WEXITSTATUS(st) != 0)
        {
            wrong++;
            printf("PROBE unexpected result%s: %s (%s)\n",
                   (c->cnatsCrash != NULL ? " [listed as crash]" : ""), c->func, c->what);
        }
        else if (c->cnatsCrash != NULL)
        {
            printf("PROBE listed as crash but did not crash: %s (%s)\n", c->func, c->what);
        }
    }
    printf("PROBE: %d calls, %d crashed, %d other unexpected results, %d listed as cnats crashes\n",
           n, crashes, wrong, listed);
    natsConnection_Destroy(g_nc);
    return 0;
}

int
main(int argc, char **argv)
{
    const char *env = getenv("NATS_MISUSE_CNATS");

    if ((env != NULL) && (env[0] != '\0'))
        g_cnats = (strcmp(env, "0") != 0);

    if (!h_default_server_start())
        return h_finish();

    if ((argc > 1) && (strcmp(argv[1], "--probe") == 0))
        return probe();

    printf("testing %s %s (expectations: %s)\n", (g_cnats ? "cnats" : "this library"),
           nats_GetVersion(), (g_cnats ? "cnats" : "this library"));

    RUN_TEST(test_generated_sweep);
    RUN_TEST(test_negative_sizes);
    RUN_TEST(test_msg_list_sizes);
    RUN_TEST(test_sub_after_conn_closed);
    RUN_TEST(test_sub_and_msg_after_conn_destroyed);
    RUN_TEST(test_options_destroyed_after_connect);
    RUN_TEST(test_double_destroy_paths);
    RUN_TEST(test_msg_destroy_after_callback);
    RUN_TEST(test_subject_validation_wire);
    RUN_TEST(test_library_close_twice);
    return h_finish();
}
