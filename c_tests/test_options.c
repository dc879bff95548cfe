/* natsOptions: argument validation of the setters and their effect when connecting. */
#include "harness.h"

#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

static const char*
_tokenCb(void *closure)
{
    h_waiter *w = (h_waiter*) closure;

    if (w != NULL)
        h_waiter_add(w, 1);
    return "s3cr3t";
}

static void
_connCb(natsConnection *nc, void *closure)
{
    (void) nc;
    h_waiter_add((h_waiter*) closure, 1);
}

static void
_errCb(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    (void) nc; (void) sub; (void) err; (void) closure;
}

static void
_msgCb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void) nc; (void) sub; (void) closure;
    natsMsg_Destroy(msg);
}

static int64_t
_reconnectDelayCb(natsConnection *nc, int attempts, void *closure)
{
    (void) nc; (void) attempts; (void) closure;
    return 10;
}

static natsStatus
_jwtCb(char **userJWT, char **customErrTxt, void *closure)
{
    (void) userJWT; (void) customErrTxt; (void) closure;
    return NATS_ERR;
}

static natsStatus
_sigCb(char **customErrTxt, unsigned char **signature, int *signatureLength,
       const char *nonce, void *closure)
{
    (void) customErrTxt; (void) signature; (void) signatureLength; (void) nonce; (void) closure;
    return NATS_ERR;
}

static natsStatus
_evAttach(void **userData, void *loop, natsConnection *nc, natsSock socket)
{
    (void) userData; (void) loop; (void) nc; (void) socket;
    return NATS_OK;
}

static natsStatus
_evAddRemove(void *userData, bool add)
{
    (void) userData; (void) add;
    return NATS_OK;
}

static natsStatus
_evDetach(void *userData)
{
    (void) userData;
    return NATS_OK;
}

static void
test_create_destroy(void)
{
    natsOptions *opts = NULL;

    REQUIRE_OK(natsOptions_Create(&opts));
    REQUIRE(opts != NULL);
    natsOptions_Destroy(opts);
    natsOptions_Destroy(NULL);
}

/* Every setter rejects a NULL options object with NATS_INVALID_ARG. */
static void
test_null_options(void)
{
    const char  *servers[] = { "nats://127.0.0.1:4222" };
    int         loop       = 0;

    CHECK_STATUS(natsOptions_SetURL(NULL, "nats://127.0.0.1:4222"), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetServers(NULL, servers, 1), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetUserInfo(NULL, "u", "p"), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetToken(NULL, "t"), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetTokenHandler(NULL, _tokenCb, NULL), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetNoRandomize(NULL, true), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetTimeout(NULL, 1000), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetName(NULL, "name"), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetVerbose(NULL, true), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetPedantic(NULL, true), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetPingInterval(NULL, 1000), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetMaxPingsOut(NULL, 2), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetIOBufSize(NULL, 1024), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetAllowReconnect(NULL, true), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetMaxReconnect(NULL, 10), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetReconnectWait(NULL, 100), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetReconnectJitter(NULL, 10, 10), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetCustomReconnectDelay(NULL, _reconnectDelayCb, NULL), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetReconnectBufSize(NULL, 1024), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetMaxPendingMsgs(NULL, 100), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetErrorHandler(NULL, _errCb, NULL), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetClosedCB(NULL, _connCb, NULL), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetDisconnectedCB(NULL, _connCb, NULL), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetReconnectedCB(NULL, _connCb, NULL), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetDiscoveredServersCB(NULL, _connCb, NULL), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetIgnoreDiscoveredServers(NULL, true), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetLameDuckModeCB(NULL, _connCb, NULL), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetEventLoop(NULL, &loop, _evAttach, _evAddRemove, _evAddRemove, _evDetach), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_UseGlobalMessageDelivery(NULL, true), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_IPResolutionOrder(NULL, 4), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetSendAsap(NULL, true), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_UseOldRequestStyle(NULL, true), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetFailRequestsOnDisconnect(NULL, true), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetNoEcho(NULL, true), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetRetryOnFailedConnect(NULL, true, _connCb, NULL), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetUserCredentialsCallbacks(NULL, _jwtCb, NULL, _sigCb, NULL), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetUserCredentialsFromFiles(NULL, "user.creds", NULL), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetNKey(NULL, "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4", _sigCb, NULL), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetNKeyFromSeed(NULL, "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4", "seed.nk"), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetWriteDeadline(NULL, 1000), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_DisableNoResponders(NULL, true), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetCustomInboxPrefix(NULL, "my.prefix"), NATS_INVALID_ARG);
#if HAVE_NATS_3_13
    CHECK_STATUS(natsOptions_SetMaxPendingBytes(NULL, 1024), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetIgnoreAuthErrorAbort(NULL, true), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetUserCredentialsFromMemory(NULL, "creds"), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetMessageBufferPadding(NULL, 16), NATS_INVALID_ARG);
#endif
}

/* Values rejected (and accepted) by the setters, as in cnats' opts.c. */
static void
test_invalid_values(void)
{
    natsOptions *opts      = NULL;
    const char  *servers[] = { "nats://127.0.0.1:1", "nats://127.0.0.1:2" };
    int         loop       = 0;

    REQUIRE_OK(natsOptions_Create(&opts));

    CHECK_STATUS(natsOptions_SetTimeout(opts, -1), NATS_INVALID_ARG);
    CHECK_OK(natsOptions_SetTimeout(opts, 0));
    CHECK_OK(natsOptions_SetTimeout(opts, 2000));

    CHECK_STATUS(natsOptions_SetServers(opts, servers, 0), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetServers(opts, servers, -1), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetServers(opts, NULL, 2), NATS_INVALID_ARG);
    CHECK_OK(natsOptions_SetServers(opts, servers, 2));
    CHECK_OK(natsOptions_SetServers(opts, NULL, 0));   /* clears the list */

    CHECK_OK(natsOptions_SetURL(opts, "nats://127.0.0.1:4222"));
    CHECK_OK(natsOptions_SetURL(opts, NULL));

    CHECK_STATUS(natsOptions_SetIOBufSize(opts, -1), NATS_INVALID_ARG);
    CHECK_OK(natsOptions_SetIOBufSize(opts, 0));

    CHECK_STATUS(natsOptions_SetReconnectWait(opts, -1), NATS_INVALID_ARG);
    CHECK_OK(natsOptions_SetReconnectWait(opts, 0));

    CHECK_STATUS(natsOptions_SetReconnectJitter(opts, -1, 0), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetReconnectJitter(opts, 0, -1), NATS_INVALID_ARG);
    CHECK_OK(natsOptions_SetReconnectJitter(opts, 0, 0));

    CHECK_STATUS(natsOptions_SetReconnectBufSize(opts, -1), NATS_INVALID_ARG);
    CHECK_OK(natsOptions_SetReconnectBufSize(opts, 0));

    CHECK_STATUS(natsOptions_SetMaxPendingMsgs(opts, 0), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetMaxPendingMsgs(opts, -1), NATS_INVALID_ARG);
    CHECK_OK(natsOptions_SetMaxPendingMsgs(opts, 1));

    CHECK_STATUS(natsOptions_SetWriteDeadline(opts, -1), NATS_INVALID_ARG);
    CHECK_OK(natsOptions_SetWriteDeadline(opts, 0));

    CHECK_STATUS(natsOptions_IPResolutionOrder(opts, 5), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_IPResolutionOrder(opts, 44), NATS_INVALID_ARG);
    CHECK_OK(natsOptions_IPResolutionOrder(opts, 0));
    CHECK_OK(natsOptions_IPResolutionOrder(opts, 4));
    CHECK_OK(natsOptions_IPResolutionOrder(opts, 6));
    CHECK_OK(natsOptions_IPResolutionOrder(opts, 46));
    CHECK_OK(natsOptions_IPResolutionOrder(opts, 64));

    /* Any callback of the event loop missing => invalid. */
    CHECK_STATUS(natsOptions_SetEventLoop(opts, NULL, _evAttach, _evAddRemove, _evAddRemove, _evDetach), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetEventLoop(opts, &loop, NULL, _evAddRemove, _evAddRemove, _evDetach), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetEventLoop(opts, &loop, _evAttach, NULL, _evAddRemove, _evDetach), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetEventLoop(opts, &loop, _evAttach, _evAddRemove, NULL, _evDetach), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetEventLoop(opts, &loop, _evAttach, _evAddRemove, _evAddRemove, NULL), NATS_INVALID_ARG);

    /* User credentials callbacks: both or none. */
    CHECK_STATUS(natsOptions_SetUserCredentialsCallbacks(opts, _jwtCb, NULL, NULL, NULL), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetUserCredentialsCallbacks(opts, NULL, NULL, _sigCb, NULL), NATS_INVALID_ARG);
    CHECK_OK(natsOptions_SetUserCredentialsCallbacks(opts, _jwtCb, NULL, _sigCb, NULL));
    CHECK_OK(natsOptions_SetUserCredentialsCallbacks(opts, NULL, NULL, NULL, NULL));

    /* A seed file without a user file is invalid; both NULL unsets. */
    CHECK_STATUS(natsOptions_SetUserCredentialsFromFiles(opts, NULL, "seed.nk"), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetUserCredentialsFromFiles(opts, "", "seed.nk"), NATS_INVALID_ARG);
    CHECK_OK(natsOptions_SetUserCredentialsFromFiles(opts, NULL, NULL));

    /* NKey needs a signature callback / seed file. */
    CHECK_STATUS(natsOptions_SetNKey(opts, "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4", NULL, NULL), NATS_INVALID_ARG);
    CHECK_OK(natsOptions_SetNKey(opts, NULL, NULL, NULL));
    CHECK_STATUS(natsOptions_SetNKeyFromSeed(opts, "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4", NULL), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetNKeyFromSeed(opts, "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4", ""), NATS_INVALID_ARG);
    CHECK_OK(natsOptions_SetNKeyFromSeed(opts, NULL, NULL));

    /* Inbox prefix must be a valid subject without wildcards. */
    CHECK_STATUS(natsOptions_SetCustomInboxPrefix(opts, "bad..prefix"), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetCustomInboxPrefix(opts, "bad.*"), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetCustomInboxPrefix(opts, "bad.>"), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetCustomInboxPrefix(opts, "with space"), NATS_INVALID_ARG);
    CHECK_OK(natsOptions_SetCustomInboxPrefix(opts, "good.prefix"));
    CHECK_OK(natsOptions_SetCustomInboxPrefix(opts, NULL));
    CHECK_OK(natsOptions_SetCustomInboxPrefix(opts, ""));

    /* Token and token handler are mutually exclusive. */
    CHECK_OK(natsOptions_SetToken(opts, "token"));
    CHECK_STATUS(natsOptions_SetTokenHandler(opts, _tokenCb, NULL), NATS_ILLEGAL_STATE);
    CHECK_OK(natsOptions_SetToken(opts, NULL));
    CHECK_OK(natsOptions_SetTokenHandler(opts, _tokenCb, NULL));
    CHECK_STATUS(natsOptions_SetToken(opts, "token"), NATS_ILLEGAL_STATE);
    CHECK_OK(natsOptions_SetTokenHandler(opts, NULL, NULL));
    CHECK_OK(natsOptions_SetToken(opts, "token"));

    /* Setters without validation accept any value. */
    CHECK_OK(natsOptions_SetPingInterval(opts, 0));
    CHECK_OK(natsOptions_SetMaxPingsOut(opts, 0));
    CHECK_OK(natsOptions_SetMaxReconnect(opts, -1));
    CHECK_OK(natsOptions_SetName(opts, NULL));
    CHECK_OK(natsOptions_SetUserInfo(opts, NULL, NULL));
    /* NULL error handler restores the default one. */
    CHECK_OK(natsOptions_SetErrorHandler(opts, NULL, NULL));
    CHECK_OK(natsOptions_SetClosedCB(opts, NULL, NULL));
    CHECK_OK(natsOptions_SetRetryOnFailedConnect(opts, false, NULL, NULL));

#if HAVE_NATS_3_13
    CHECK_STATUS(natsOptions_SetMaxPendingBytes(opts, 0), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetMaxPendingBytes(opts, -1), NATS_INVALID_ARG);
    CHECK_OK(natsOptions_SetMaxPendingBytes(opts, 1024));
    CHECK_STATUS(natsOptions_SetMessageBufferPadding(opts, -1), NATS_INVALID_ARG);
    CHECK_OK(natsOptions_SetMessageBufferPadding(opts, 0));
    CHECK_OK(natsOptions_SetIgnoreAuthErrorAbort(opts, true));
#endif

    natsOptions_Destroy(opts);
}

static void
test_connect_with_url(void)
{
    natsOptions     *opts = NULL;
    natsConnection  *nc   = NULL;
    char            buf[128];

    REQUIRE_OK(natsOptions_Create(&opts));
    REQUIRE_OK(natsOptions_SetURL(opts, h_url()));
    REQUIRE_OK(natsConnection_Connect(&nc, opts));

    /* The options are cloned: changing or destroying them does not affect the connection. */
    CHECK_OK(natsOptions_SetURL(opts, "nats://127.0.0.1:1"));
    natsOptions_Destroy(opts);

    CHECK_OK(natsConnection_Flush(nc));
    CHECK_OK(natsConnection_GetConnectedUrl(nc, buf, sizeof(buf)));
    CHECK_STR(buf, h_url());
    natsConnection_Destroy(nc);
}

static void
test_connect_with_servers(void)
{
    natsOptions     *opts = NULL;
    natsConnection  *nc   = NULL;
    char            bad[64];
    const char      *servers[2];
    char            buf[128];
    char            **list = NULL;
    int             count  = 0;
    int             i;

    snprintf(bad, sizeof(bad), "nats://127.0.0.1:%d", h_closed_port());
    servers[0] = bad;
    servers[1] = h_url();

    REQUIRE_OK(natsOptions_Create(&opts));
    REQUIRE_OK(natsOptions_SetServers(opts, servers, 2));
    REQUIRE_OK(natsOptions_SetNoRandomize(opts, true));
    REQUIRE_OK(natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);

    CHECK_OK(natsConnection_GetConnectedUrl(nc, buf, sizeof(buf)));
    CHECK_STR(buf, h_url());

    /* Both configured servers are known; the user frees strings and array. */
    CHECK_OK(natsConnection_GetServers(nc, &list, &count));
    CHECK_INT(count, 2);
    if (count == 2)
    {
        CHECK_STR(list[0], bad);
        CHECK_STR(list[1], h_url());
    }
    for (i = 0; i < count; i++)
        free(list[i]);
    free(list);

    natsConnection_Destroy(nc);
}

static void
test_connect_name(void)
{
#if HAVE_NATS_3_13
    natsOptions     *opts = NULL;
    natsConnection  *nc   = NULL;

    REQUIRE_OK(natsOptions_Create(&opts));
    REQUIRE_OK(natsOptions_SetURL(opts, h_url()));
    REQUIRE_OK(natsOptions_SetName(opts, "my-c-client"));
    REQUIRE_OK(natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);
    CHECK_STR(natsConnection_GetName(nc), "my-c-client");
    natsConnection_Destroy(nc);

    REQUIRE_OK(h_connect(&nc));
    CHECK(natsConnection_GetName(nc) == NULL);
    natsConnection_Destroy(nc);
    CHECK(natsConnection_GetName(NULL) == NULL);
#else
    /* natsConnection_GetName() does not exist before 3.13: only check that the
     * option is accepted when connecting. */
    natsOptions     *opts = NULL;
    natsConnection  *nc   = NULL;

    REQUIRE_OK(natsOptions_Create(&opts));
    REQUIRE_OK(natsOptions_SetURL(opts, h_url()));
    REQUIRE_OK(natsOptions_SetName(opts, "my-c-client"));
    CHECK_OK(natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);
    natsConnection_Destroy(nc);
#endif
}

static void
test_no_echo(void)
{
    natsOptions         *opts   = NULL;
    natsConnection      *nc     = NULL;
    natsConnection      *other  = NULL;
    natsSubscription    *own    = NULL;
    natsSubscription    *oth    = NULL;
    natsMsg             *msg    = NULL;

    REQUIRE_OK(natsOptions_Create(&opts));
    REQUIRE_OK(natsOptions_SetURL(opts, h_url()));
    REQUIRE_OK(natsOptions_SetNoEcho(opts, true));
    REQUIRE_OK(natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);
    REQUIRE_OK(h_connect(&other));

    REQUIRE_OK(natsConnection_SubscribeSync(&own, nc, "noecho.subj"));
    REQUIRE_OK(natsConnection_SubscribeSync(&oth, other, "noecho.subj"));
    REQUIRE_OK(natsConnection_Flush(nc));
    REQUIRE_OK(natsConnection_Flush(other));

    REQUIRE_OK(natsConnection_PublishString(nc, "noecho.subj", "hello"));
    REQUIRE_OK(natsConnection_Flush(nc));

    /* The other connection gets it... */
    CHECK_OK(natsSubscription_NextMsg(&msg, oth, 2000));
    natsMsg_Destroy(msg);
    msg = NULL;
    /* ...but not the publishing connection (the flush above guarantees that
     * the server already processed the message). */
    CHECK_STATUS(natsSubscription_NextMsg(&msg, own, 100), NATS_TIMEOUT);
    CHECK(msg == NULL);

    /* Without NoEcho, own messages are received. */
    REQUIRE_OK(natsConnection_PublishString(other, "noecho.subj", "echo"));
    REQUIRE_OK(natsConnection_Flush(other));
    CHECK_OK(natsSubscription_NextMsg(&msg, oth, 2000));
    natsMsg_Destroy(msg);

    natsSubscription_Destroy(own);
    natsSubscription_Destroy(oth);
    natsConnection_Destroy(nc);
    natsConnection_Destroy(other);
}

static natsStatus
_connectOpts(natsConnection **nc, const char *url, const char *user, const char *pass,
             const char *token)
{
    natsOptions *opts = NULL;
    natsStatus  s;

    *nc = NULL;
    s = natsOptions_Create(&opts);
    if (s == NATS_OK)
        s = natsOptions_SetURL(opts, url);
    if ((s == NATS_OK) && (user != NULL))
        s = natsOptions_SetUserInfo(opts, user, pass);
    if ((s == NATS_OK) && (token != NULL))
        s = natsOptions_SetToken(opts, token);
    if (s == NATS_OK)
        s = natsOptions_SetAllowReconnect(opts, false);
    if (s == NATS_OK)
        s = natsConnection_Connect(nc, opts);
    natsOptions_Destroy(opts);
    return s;
}

static void
test_auth_user_password(void)
{
    const char      *args[] = { "--user", "alice", "--pass", "wonderland", NULL };
    h_server        srv;
    natsConnection  *nc = NULL;
    char            url[128];

    REQUIRE(h_server_start(&srv, args, NULL));

    CHECK_STATUS(natsConnection_ConnectTo(&nc, srv.url), NATS_CONNECTION_AUTH_FAILED);
    CHECK(nc == NULL);

    CHECK_STATUS(_connectOpts(&nc, srv.url, "alice", "wrong", NULL), NATS_CONNECTION_AUTH_FAILED);
    CHECK(nc == NULL);

    CHECK_OK(_connectOpts(&nc, srv.url, "alice", "wonderland", NULL));
    if (nc != NULL)
        CHECK_OK(natsConnection_Flush(nc));
    natsConnection_Destroy(nc);
    nc = NULL;

    /* Credentials in the URL. */
    snprintf(url, sizeof(url), "nats://alice:wonderland@127.0.0.1:%d", srv.port);
    CHECK_OK(natsConnection_ConnectTo(&nc, url));
    natsConnection_Destroy(nc);

    h_server_destroy(&srv);
}

static void
test_auth_token(void)
{
    const char      *args[] = { "--auth", "s3cr3t", NULL };
    h_server        srv;
    natsConnection  *nc   = NULL;
    natsOptions     *opts = NULL;
    h_waiter        w;
    char            url[128];

    REQUIRE(h_server_start(&srv, args, NULL));

    CHECK_STATUS(natsConnection_ConnectTo(&nc, srv.url), NATS_CONNECTION_AUTH_FAILED);
    CHECK_STATUS(_connectOpts(&nc, srv.url, NULL, NULL, "bad"), NATS_CONNECTION_AUTH_FAILED);

    CHECK_OK(_connectOpts(&nc, srv.url, NULL, NULL, "s3cr3t"));
    natsConnection_Destroy(nc);
    nc = NULL;

    /* Token in the URL. */
    snprintf(url, sizeof(url), "nats://s3cr3t@127.0.0.1:%d", srv.port);
    CHECK_OK(natsConnection_ConnectTo(&nc, url));
    natsConnection_Destroy(nc);
    nc = NULL;

    /* Token handler, invoked when connecting. */
    h_waiter_init(&w);
    REQUIRE_OK(natsOptions_Create(&opts));
    CHECK_OK(natsOptions_SetURL(opts, srv.url));
    CHECK_OK(natsOptions_SetTokenHandler(opts, _tokenCb, &w));
    CHECK_OK(natsConnection_Connect(&nc, opts));
    CHECK(h_waiter_get(&w) >= 1);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(opts);
    h_waiter_destroy(&w);

    h_server_destroy(&srv);
}

static void
test_verbose_pedantic(void)
{
    natsOptions         *opts = NULL;
    natsConnection      *nc   = NULL;
    natsSubscription    *sub  = NULL;
    natsMsg             *msg  = NULL;

    REQUIRE_OK(natsOptions_Create(&opts));
    REQUIRE_OK(natsOptions_SetURL(opts, h_url()));
    REQUIRE_OK(natsOptions_SetVerbose(opts, true));
    REQUIRE_OK(natsOptions_SetPedantic(opts, true));
    REQUIRE_OK(natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);

    /* The server acknowledges every protocol with +OK: the client must cope. */
    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "verbose.subj"));
    CHECK_OK(natsConnection_PublishString(nc, "verbose.subj", "v"));
    CHECK_OK(natsConnection_Flush(nc));
    CHECK_OK(natsSubscription_NextMsg(&msg, sub, 2000));
    if (msg != NULL)
        CHECK_STR(natsMsg_GetData(msg), "v");
    natsMsg_Destroy(msg);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
}

static void
test_max_pending_msgs_option(void)
{
    natsOptions         *opts = NULL;
    natsConnection      *nc   = NULL;
    natsSubscription    *sub  = NULL;
    int                 msgs  = 0;
    int                 bytes = 0;

    REQUIRE_OK(natsOptions_Create(&opts));
    REQUIRE_OK(natsOptions_SetURL(opts, h_url()));
    REQUIRE_OK(natsOptions_SetMaxPendingMsgs(opts, 10));
    REQUIRE_OK(natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);

    REQUIRE_OK(natsConnection_Subscribe(&sub, nc, "pending.limits", _msgCb, NULL));
    CHECK_OK(natsSubscription_GetPendingLimits(sub, &msgs, &bytes));
    CHECK_INT(msgs, 10);
    /* Without an explicit bytes limit, it is maxPendingMsgs * 1024. */
    CHECK_INT(bytes, 10 * 1024);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);

    /* Defaults: 65536 messages and 65536 * 1024 bytes. */
    REQUIRE_OK(h_connect(&nc));
    REQUIRE_OK(natsConnection_Subscribe(&sub, nc, "pending.limits", _msgCb, NULL));
    CHECK_OK(natsSubscription_GetPendingLimits(sub, &msgs, &bytes));
    CHECK_INT(msgs, 65536);
    CHECK_INT(bytes, 65536 * 1024);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);

#if HAVE_NATS_3_13
    REQUIRE_OK(natsOptions_Create(&opts));
    REQUIRE_OK(natsOptions_SetURL(opts, h_url()));
    REQUIRE_OK(natsOptions_SetMaxPendingMsgs(opts, 10));
    REQUIRE_OK(natsOptions_SetMaxPendingBytes(opts, 5000));
    REQUIRE_OK(natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);
    REQUIRE_OK(natsConnection_Subscribe(&sub, nc, "pending.limits", _msgCb, NULL));
    CHECK_OK(natsSubscription_GetPendingLimits(sub, &msgs, &bytes));
    CHECK_INT(msgs, 10);
    CHECK_INT(bytes, 5000);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
#endif
}

static void
test_small_io_buffer_and_send_asap(void)
{
    natsOptions         *opts = NULL;
    natsConnection      *nc   = NULL;
    natsSubscription    *sub  = NULL;
    natsMsg             *msg  = NULL;
    char                *big  = NULL;
    int                 size  = 100 * 1024;
    int                 i;

    big = (char*) malloc(size);
    REQUIRE(big != NULL);
    for (i = 0; i < size; i++)
        big[i] = (char) ('a' + (i % 26));

    REQUIRE_OK(natsOptions_Create(&opts));
    REQUIRE_OK(natsOptions_SetURL(opts, h_url()));
    REQUIRE_OK(natsOptions_SetIOBufSize(opts, 256));
    REQUIRE_OK(natsOptions_SetSendAsap(opts, true));
    REQUIRE_OK(natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);

    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "iobuf.big"));
    CHECK_OK(natsConnection_Publish(nc, "iobuf.big", big, size));
    CHECK_OK(natsSubscription_NextMsg(&msg, sub, 5000));
    if (msg != NULL)
    {
        CHECK_INT(natsMsg_GetDataLength(msg), size);
        CHECK(memcmp(natsMsg_GetData(msg), big, size) == 0);
    }
    natsMsg_Destroy(msg);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    free(big);
}

/* A peer that accepts TCP connections but never sends INFO: the connect
 * timeout option must bound the connection attempt. */
static void
test_connect_timeout(void)
{
    struct sockaddr_in  addr;
    socklen_t           len = sizeof(addr);
    int                 fd;
    natsOptions         *opts = NULL;
    natsConnection      *nc   = NULL;
    char                url[64];
    natsStatus          s;
    int64_t             start, elapsed;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    memset(&addr, 0, sizeof(addr));
    addr.sin_family      = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd, (struct sockaddr*) &addr, sizeof(addr)) == 0);
    REQUIRE(getsockname(fd, (struct sockaddr*) &addr, &len) == 0);
    REQUIRE(listen(fd, 8) == 0);
    snprintf(url, sizeof(url), "nats://127.0.0.1:%d", ntohs(addr.sin_port));

    REQUIRE_OK(natsOptions_Create(&opts));
    REQUIRE_OK(natsOptions_SetURL(opts, url));
    REQUIRE_OK(natsOptions_SetTimeout(opts, 300));
    start = h_now_ms();
    s = natsConnection_Connect(&nc, opts);
    elapsed = h_now_ms() - start;
    CHECK_STATUS(s, NATS_TIMEOUT);
    CHECK(nc == NULL);
    CHECK(elapsed >= 250);
    CHECK(elapsed < 3000);
    natsOptions_Destroy(opts);
    close(fd);
}

/* RetryOnFailedConnect with a connected callback: Connect returns
 * NATS_NOT_YET_CONNECTED and the library keeps trying in the background. */
static void
test_retry_on_failed_connect(void)
{
    natsOptions         *opts = NULL;
    natsConnection      *nc   = NULL;
    natsSubscription    *sub  = NULL;
    natsMsg             *msg  = NULL;
    h_waiter            connected;
    h_server            srv;
    char                url[64];
    int                 port = h_free_port();

    h_waiter_init(&connected);
    snprintf(url, sizeof(url), "nats://127.0.0.1:%d", port);

    REQUIRE_OK(natsOptions_Create(&opts));
    REQUIRE_OK(natsOptions_SetURL(opts, url));
    REQUIRE_OK(natsOptions_SetMaxReconnect(opts, -1));
    REQUIRE_OK(natsOptions_SetReconnectWait(opts, 50));
    REQUIRE_OK(natsOptions_SetRetryOnFailedConnect(opts, true, _connCb, &connected));
    CHECK_STATUS(natsConnection_Connect(&nc, opts), NATS_NOT_YET_CONNECTED);
    natsOptions_Destroy(opts);
    REQUIRE(nc != NULL);
    CHECK(!natsConnection_IsClosed(nc));
    CHECK_INT(natsConnection_Status(nc), NATS_CONN_STATUS_RECONNECTING);

    /* Subscriptions and publications are accepted (and buffered) meanwhile. */
    CHECK_OK(natsConnection_SubscribeSync(&sub, nc, "retry.subj"));
    CHECK_OK(natsConnection_PublishString(nc, "retry.subj", "early"));

    if (h_server_start_on_port(&srv, port, NULL, NULL))
    {
        CHECK(h_waiter_wait(&connected, 1, 10000));
        CHECK_INT(natsConnection_Status(nc), NATS_CONN_STATUS_CONNECTED);
        if (sub != NULL)
        {
            CHECK_OK(natsSubscription_NextMsg(&msg, sub, 5000));
            if (msg != NULL)
                CHECK_STR(natsMsg_GetData(msg), "early");
            natsMsg_Destroy(msg);
        }
        natsSubscription_Destroy(sub);
        natsConnection_Destroy(nc);
        h_server_destroy(&srv);
    }
    else
    {
        natsSubscription_Destroy(sub);
        natsConnection_Destroy(nc);
    }
    h_waiter_destroy(&connected);
}

int
main(void)
{
    if (!h_default_server_start())
        return h_finish();

    RUN_TEST(test_create_destroy);
    RUN_TEST(test_null_options);
    RUN_TEST(test_invalid_values);
    RUN_TEST(test_connect_with_url);
    RUN_TEST(test_connect_with_servers);
    RUN_TEST(test_connect_name);
    RUN_TEST(test_no_echo);
    RUN_TEST(test_auth_user_password);
    RUN_TEST(test_auth_token);
    RUN_TEST(test_verbose_pedantic);
    RUN_TEST(test_max_pending_msgs_option);
    RUN_TEST(test_small_io_buffer_and_send_asap);
    RUN_TEST(test_connect_timeout);
    RUN_TEST(test_retry_on_failed_connect);
    return h_finish();
}
