/* natsConnection management: connect, status, getters, stats, close, reconnect. */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static void
_connCb(natsConnection *nc, void *closure)
{
    (void) nc;
    h_waiter_add((h_waiter*) closure, 1);
}

static void
test_connect_basic(void)
{
    natsConnection *nc = NULL;

    REQUIRE_OK(natsConnection_ConnectTo(&nc, h_url()));
    REQUIRE(nc != NULL);
    CHECK_INT(natsConnection_Status(nc), NATS_CONN_STATUS_CONNECTED);
    CHECK(!natsConnection_IsClosed(nc));
    CHECK(!natsConnection_IsReconnecting(nc));
    CHECK_OK(natsConnection_Flush(nc));
    CHECK_OK(natsConnection_FlushTimeout(nc, 1000));
    CHECK_STATUS(natsConnection_FlushTimeout(nc, 0), NATS_INVALID_TIMEOUT);
    CHECK_STATUS(natsConnection_FlushTimeout(nc, -1), NATS_INVALID_TIMEOUT);
    CHECK_STATUS(natsConnection_Flush(NULL), NATS_INVALID_ARG);
    CHECK_STATUS(natsConnection_FlushTimeout(NULL, 1000), NATS_INVALID_ARG);
    /* Nothing pending after a flush. */
    CHECK_INT(natsConnection_Buffered(nc), 0);
#if HAVE_NATS_3_13
    CHECK(!natsConnection_IsDraining(nc));
#endif
    natsConnection_Destroy(nc);
}

static void
test_connect_url_list(void)
{
    natsConnection  *nc = NULL;
    char            urls[256];
    char            buf[128];
    int             bad = h_closed_port();

    /* First URL has nothing listening; spaces around URLs are trimmed. */
    snprintf(urls, sizeof(urls), "nats://127.0.0.1:%d, %s", bad, h_url());
    REQUIRE_OK(natsConnection_ConnectTo(&nc, urls));
    CHECK_OK(natsConnection_GetConnectedUrl(nc, buf, sizeof(buf)));
    CHECK_STR(buf, h_url());
    natsConnection_Destroy(nc);
    nc = NULL;

    /* host:port without scheme is accepted. */
    snprintf(urls, sizeof(urls), "127.0.0.1:%d", h_default_server()->port);
    REQUIRE_OK(natsConnection_ConnectTo(&nc, urls));
    CHECK_OK(natsConnection_GetConnectedUrl(nc, buf, sizeof(buf)));
    CHECK_STR(buf, h_url());
    natsConnection_Destroy(nc);
}

static void
test_connect_failure(void)
{
    natsConnection  *nc = NULL;
    char            urls[128];
    int64_t         start;

    snprintf(urls, sizeof(urls), "nats://127.0.0.1:%d", h_closed_port());
    start = h_now_ms();
    CHECK_STATUS(natsConnection_ConnectTo(&nc, urls), NATS_NO_SERVER);
    CHECK(nc == NULL);
    /* Connection refused is immediate. */
    CHECK(h_now_ms() - start < 2000);

    snprintf(urls, sizeof(urls), "nats://127.0.0.1:%d,nats://127.0.0.1:%d",
             h_closed_port(), h_closed_port());
    CHECK_STATUS(natsConnection_ConnectTo(&nc, urls), NATS_NO_SERVER);
    CHECK(nc == NULL);
}

static void
test_getters(void)
{
    natsConnection  *nc  = NULL;
    natsConnection  *nc2 = NULL;
    char            buf[256];
    char            small[8];
    uint64_t        cid  = 0;
    uint64_t        cid2 = 0;
    char            *ip  = NULL;
    int64_t         rtt  = 0;
    const char      *lastErr = NULL;
    char            **servers = NULL;
    int             count = -1;
    size_t          len;

    REQUIRE_OK(h_connect(&nc));

    /* Server default max_payload is 1MB. */
    CHECK_INT(natsConnection_GetMaxPayload(nc), 1024 * 1024);

    CHECK_OK(natsConnection_GetConnectedUrl(nc, buf, sizeof(buf)));
    CHECK_STR(buf, h_url());
    len = strlen(h_url());
    /* The buffer must hold the URL and the terminating NUL. */
    CHECK_STATUS(natsConnection_GetConnectedUrl(nc, small, sizeof(small)), NATS_INSUFFICIENT_BUFFER);
    CHECK_STATUS(natsConnection_GetConnectedUrl(nc, buf, len), NATS_INSUFFICIENT_BUFFER);
    CHECK_OK(natsConnection_GetConnectedUrl(nc, buf, len + 1));
    CHECK_STR(buf, h_url());
    CHECK_STATUS(natsConnection_GetConnectedUrl(NULL, buf, sizeof(buf)), NATS_INVALID_ARG);
    CHECK_STATUS(natsConnection_GetConnectedUrl(nc, NULL, sizeof(buf)), NATS_INVALID_ARG);

    /* Server IDs are 56 characters public nkeys starting with 'N'. */
    CHECK_OK(natsConnection_GetConnectedServerId(nc, buf, sizeof(buf)));
    CHECK_INT(strlen(buf), 56);
    CHECK(buf[0] == 'N');
    CHECK_STATUS(natsConnection_GetConnectedServerId(nc, small, sizeof(small)), NATS_INSUFFICIENT_BUFFER);
    CHECK_STATUS(natsConnection_GetConnectedServerId(NULL, buf, sizeof(buf)), NATS_INVALID_ARG);

    CHECK_OK(natsConnection_GetClientID(nc, &cid));
    CHECK(cid > 0);
    REQUIRE_OK(h_connect(&nc2));
    CHECK_OK(natsConnection_GetClientID(nc2, &cid2));
    CHECK(cid2 > 0);
    CHECK(cid2 != cid);
    natsConnection_Destroy(nc2);
    CHECK_STATUS(natsConnection_GetClientID(nc, NULL), NATS_INVALID_ARG);

    /* Client IP as seen by the server, allocated for the caller. */
    CHECK_OK(natsConnection_GetClientIP(nc, &ip));
    CHECK_STR(ip, "127.0.0.1");
    free(ip);
    CHECK_STATUS(natsConnection_GetClientIP(nc, NULL), NATS_INVALID_ARG);

    CHECK_OK(natsConnection_GetRTT(nc, &rtt));
    CHECK(rtt > 0);
    CHECK(rtt < INT64_C(1000000000));
    CHECK_STATUS(natsConnection_GetRTT(nc, NULL), NATS_INVALID_ARG);

    CHECK_OK(natsConnection_HasHeaderSupport(nc));
    CHECK_STATUS(natsConnection_HasHeaderSupport(NULL), NATS_INVALID_ARG);

    /* No error on a healthy connection: NATS_OK and an empty string. */
    CHECK_OK(natsConnection_GetLastError(nc, &lastErr));
    CHECK_STR(lastErr, "");

    /* A single server without cluster: nothing discovered. */
    CHECK_OK(natsConnection_GetDiscoveredServers(nc, &servers, &count));
    CHECK_INT(count, 0);
    free(servers);
    servers = NULL;
    CHECK_OK(natsConnection_GetServers(nc, &servers, &count));
    CHECK_INT(count, 1);
    if (count == 1)
    {
        CHECK_STR(servers[0], h_url());
        free(servers[0]);
    }
    free(servers);

#if HAVE_NATS_3_13
    {
        int port = 0;

        ip = NULL;
        CHECK_OK(natsConnection_GetLocalIPAndPort(nc, &ip, &port));
        CHECK_STR(ip, "127.0.0.1");
        CHECK(port > 0);
        CHECK(port != h_default_server()->port);
        free(ip);
        CHECK_STATUS(natsConnection_GetLocalIPAndPort(nc, NULL, &port), NATS_INVALID_ARG);

        CHECK_OK(natsConnection_ReadLastError(nc, buf, sizeof(buf)));
        CHECK_STR(buf, "");
        CHECK_STATUS(natsConnection_ReadLastError(NULL, buf, sizeof(buf)), NATS_INVALID_ARG);
    }
#endif

    natsConnection_Destroy(nc);
}

static void
test_stats(void)
{
    natsConnection      *nc    = NULL;
    natsSubscription    *sub   = NULL;
    natsStatistics      *stats = NULL;
    natsMsg             *msg   = NULL;
    uint64_t            inMsgs = 0, inBytes = 0, outMsgs = 0, outBytes = 0, reconnects = 9;
    int                 i;

    REQUIRE_OK(h_connect(&nc));
    REQUIRE_OK(natsStatistics_Create(&stats));

    CHECK_OK(natsConnection_GetStats(nc, stats));
    CHECK_OK(natsStatistics_GetCounts(stats, &inMsgs, &inBytes, &outMsgs, &outBytes, &reconnects));
    CHECK_INT(inMsgs, 0);
    CHECK_INT(outMsgs, 0);
    CHECK_INT(reconnects, 0);

    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "stats.subj"));
    for (i = 0; i < 3; i++)
        CHECK_OK(natsConnection_PublishString(nc, "stats.subj", "12345"));
    CHECK_OK(natsConnection_Publish(nc, "stats.other", "1234567890", 10));
    CHECK_OK(natsConnection_Flush(nc));
    for (i = 0; i < 3; i++)
    {
        CHECK_OK(natsSubscription_NextMsg(&msg, sub, 2000));
        natsMsg_Destroy(msg);
        msg = NULL;
    }

    CHECK_OK(natsConnection_GetStats(nc, stats));
    CHECK_OK(natsStatistics_GetCounts(stats, &inMsgs, &inBytes, &outMsgs, &outBytes, &reconnects));
    /* Only payloads count; PING/PONG, SUB and protocol overhead do not. */
    CHECK_INT(outMsgs, 4);
    CHECK_INT(outBytes, 25);
    CHECK_INT(inMsgs, 3);
    CHECK_INT(inBytes, 15);
    CHECK_INT(reconnects, 0);

    CHECK_STATUS(natsConnection_GetStats(NULL, stats), NATS_INVALID_ARG);
    CHECK_STATUS(natsConnection_GetStats(nc, NULL), NATS_INVALID_ARG);

    natsStatistics_Destroy(stats);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
}

static void
test_closed_connection(void)
{
    natsConnection      *nc  = NULL;
    natsSubscription    *sub = NULL;
    natsMsg             *msg = NULL;
    natsMsg             *rep = NULL;
    char                buf[128];
    char                *ip  = NULL;
    uint64_t            cid  = 0;
    int64_t             rtt  = 0;

    REQUIRE_OK(h_connect(&nc));
    REQUIRE_OK(natsMsg_Create(&msg, "closed.subj", NULL, "x", 1));

    natsConnection_Close(nc);
    CHECK_INT(natsConnection_Status(nc), NATS_CONN_STATUS_CLOSED);
    CHECK(natsConnection_IsClosed(nc));
    CHECK(!natsConnection_IsReconnecting(nc));
    /* Closing again is harmless. */
    natsConnection_Close(nc);

    CHECK_STATUS(natsConnection_Publish(nc, "closed.subj", "x", 1), NATS_CONNECTION_CLOSED);
    CHECK_STATUS(natsConnection_PublishString(nc, "closed.subj", "x"), NATS_CONNECTION_CLOSED);
    CHECK_STATUS(natsConnection_PublishMsg(nc, msg), NATS_CONNECTION_CLOSED);
    CHECK_STATUS(natsConnection_PublishRequestString(nc, "closed.subj", "reply", "x"), NATS_CONNECTION_CLOSED);
    CHECK_STATUS(natsConnection_RequestString(&rep, nc, "closed.subj", "x", 100), NATS_CONNECTION_CLOSED);
    CHECK(rep == NULL);
    CHECK_STATUS(natsConnection_SubscribeSync(&sub, nc, "closed.subj"), NATS_CONNECTION_CLOSED);
    CHECK(sub == NULL);
    CHECK_STATUS(natsConnection_Flush(nc), NATS_CONNECTION_CLOSED);
    CHECK_STATUS(natsConnection_FlushTimeout(nc, 100), NATS_CONNECTION_CLOSED);
    CHECK_STATUS(natsConnection_Drain(nc), NATS_CONNECTION_CLOSED);
    CHECK_STATUS(natsConnection_GetClientID(nc, &cid), NATS_CONNECTION_CLOSED);
    CHECK_STATUS(natsConnection_GetClientIP(nc, &ip), NATS_CONNECTION_CLOSED);
    CHECK(ip == NULL);
    CHECK_STATUS(natsConnection_GetRTT(nc, &rtt), NATS_CONNECTION_CLOSED);
    CHECK_INT(natsConnection_Buffered(nc), -1);
    /* No connected server anymore: OK with an empty string. */
    strcpy(buf, "junk");
    CHECK_OK(natsConnection_GetConnectedUrl(nc, buf, sizeof(buf)));
    CHECK_STR(buf, "");
    strcpy(buf, "junk");
    CHECK_OK(natsConnection_GetConnectedServerId(nc, buf, sizeof(buf)));
    CHECK_STR(buf, "");
    /* The server pool is still there. */
    {
        char    **servers = NULL;
        int     count     = 0;

        if (CHECK_OK(natsConnection_GetServers(nc, &servers, &count)))
        {
            CHECK_INT(count, 1);
            if (count > 0)
                CHECK_STR(servers[0], h_url());
            for (int i = 0; i < count; i++)
                free(servers[i]);
            free(servers);
        }
        CHECK_OK(natsConnection_GetDiscoveredServers(nc, &servers, &count));
        CHECK_INT(count, 0);
        free(servers);
    }
#if HAVE_NATS_3_13
    {
        int port = 0;
        CHECK_STATUS(natsConnection_GetLocalIPAndPort(nc, &ip, &port), NATS_CONNECTION_CLOSED);
    }
#endif

    natsMsg_Destroy(msg);
    natsConnection_Destroy(nc);

    /* NULL connection. */
    natsConnection_Close(NULL);
    natsConnection_Destroy(NULL);
    CHECK(natsConnection_IsClosed(NULL));
    CHECK(!natsConnection_IsReconnecting(NULL));
    CHECK_INT(natsConnection_Status(NULL), NATS_CONN_STATUS_CLOSED);
#if HAVE_NATS_3_13
    /* cnats 3.4.1 returned NATS_INVALID_ARG (16) here; 3.13 returns -1. */
    CHECK_INT(natsConnection_Buffered(NULL), -1);
#endif
    CHECK_INT(natsConnection_GetMaxPayload(NULL), 0);
    CHECK_STATUS(natsConnection_Publish(NULL, "x", "x", 1), NATS_INVALID_ARG);
}

/* Server restart: disconnected and reconnected callbacks, buffered publish,
 * subscription re-established, reconnect counter. */
static void
test_reconnect(void)
{
    h_server            srv;
    natsOptions         *opts  = NULL;
    natsConnection      *nc    = NULL;
    natsSubscription    *sub   = NULL;
    natsMsg             *msg   = NULL;
    natsStatistics      *stats = NULL;
    uint64_t            reconnects = 0;
    h_waiter            disc, reco;

    REQUIRE(h_server_start(&srv, NULL, NULL));
    h_waiter_init(&disc);
    h_waiter_init(&reco);

    REQUIRE_OK(natsOptions_Create(&opts));
    CHECK_OK(natsOptions_SetURL(opts, srv.url));
    CHECK_OK(natsOptions_SetReconnectWait(opts, 50));
    CHECK_OK(natsOptions_SetMaxReconnect(opts, 200));
    CHECK_OK(natsOptions_SetDisconnectedCB(opts, _connCb, &disc));
    CHECK_OK(natsOptions_SetReconnectedCB(opts, _connCb, &reco));
    REQUIRE_OK(natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);

    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "reconnect.subj"));
    REQUIRE_OK(natsConnection_Flush(nc));

    h_server_stop(&srv);
    CHECK(h_waiter_wait(&disc, 1, 5000));
    CHECK(natsConnection_IsReconnecting(nc));
    CHECK_INT(natsConnection_Status(nc), NATS_CONN_STATUS_RECONNECTING);
    CHECK(!natsConnection_IsClosed(nc));

    /* Published while disconnected: buffered and sent after reconnect. */
    CHECK_OK(natsConnection_PublishString(nc, "reconnect.subj", "while-down"));

    CHECK(h_server_restart(&srv));
    CHECK(h_waiter_wait(&reco, 1, 10000));
    CHECK_INT(natsConnection_Status(nc), NATS_CONN_STATUS_CONNECTED);
    CHECK_OK(natsConnection_Flush(nc));

    CHECK_OK(natsSubscription_NextMsg(&msg, sub, 5000));
    if (msg != NULL)
        CHECK_STR(natsMsg_GetData(msg), "while-down");
    natsMsg_Destroy(msg);
    msg = NULL;

    /* The subscription was re-established on the new server. */
    CHECK_OK(natsConnection_PublishString(nc, "reconnect.subj", "after"));
    CHECK_OK(natsSubscription_NextMsg(&msg, sub, 5000));
    if (msg != NULL)
        CHECK_STR(natsMsg_GetData(msg), "after");
    natsMsg_Destroy(msg);

    REQUIRE_OK(natsStatistics_Create(&stats));
    CHECK_OK(natsConnection_GetStats(nc, stats));
    CHECK_OK(natsStatistics_GetCounts(stats, NULL, NULL, NULL, NULL, &reconnects));
    CHECK_INT(reconnects, 1);
    CHECK_INT(h_waiter_get(&disc), 1);
    CHECK_INT(h_waiter_get(&reco), 1);
    natsStatistics_Destroy(stats);

    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    h_server_destroy(&srv);
    h_waiter_destroy(&disc);
    h_waiter_destroy(&reco);
}

/* With reconnect disabled, losing the server closes the connection. */
static void
test_no_reconnect(void)
{
    h_server        srv;
    natsOptions     *opts = NULL;
    natsConnection  *nc   = NULL;
    h_waiter        disc, closed;

    REQUIRE(h_server_start(&srv, NULL, NULL));
    h_waiter_init(&disc);
    h_waiter_init(&closed);

    REQUIRE_OK(natsOptions_Create(&opts));
    CHECK_OK(natsOptions_SetURL(opts, srv.url));
    CHECK_OK(natsOptions_SetAllowReconnect(opts, false));
    CHECK_OK(natsOptions_SetDisconnectedCB(opts, _connCb, &disc));
    CHECK_OK(natsOptions_SetClosedCB(opts, _connCb, &closed));
    REQUIRE_OK(natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);

    h_server_stop(&srv);
    CHECK(h_waiter_wait(&closed, 1, 5000));
    CHECK(natsConnection_IsClosed(nc));
    CHECK_INT(natsConnection_Status(nc), NATS_CONN_STATUS_CLOSED);
    CHECK_STATUS(natsConnection_PublishString(nc, "x", "y"), NATS_CONNECTION_CLOSED);
    CHECK_INT(h_waiter_get(&disc), 1);

    natsConnection_Destroy(nc);
    CHECK_INT(h_waiter_get(&closed), 1);
    h_server_destroy(&srv);
    h_waiter_destroy(&disc);
    h_waiter_destroy(&closed);
}

#if HAVE_NATS_3_13
/* natsConnection_Reconnect() drops the connection and reconnects. */
static void
test_force_reconnect(void)
{
    natsOptions         *opts  = NULL;
    natsConnection      *nc    = NULL;
    natsSubscription    *sub   = NULL;
    natsMsg             *msg   = NULL;
    h_waiter            reco;

    h_waiter_init(&reco);
    REQUIRE_OK(natsOptions_Create(&opts));
    CHECK_OK(natsOptions_SetURL(opts, h_url()));
    CHECK_OK(natsOptions_SetReconnectWait(opts, 50));
    CHECK_OK(natsOptions_SetReconnectedCB(opts, _connCb, &reco));
    REQUIRE_OK(natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);
    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "force.reconnect"));

    CHECK_OK(natsConnection_Reconnect(nc));
    CHECK(h_waiter_wait(&reco, 1, 5000));
    CHECK_OK(natsConnection_PublishString(nc, "force.reconnect", "x"));
    CHECK_OK(natsSubscription_NextMsg(&msg, sub, 5000));
    natsMsg_Destroy(msg);
    CHECK_STATUS(natsConnection_Reconnect(NULL), NATS_INVALID_ARG);

    natsConnection_Close(nc);
    CHECK_STATUS(natsConnection_Reconnect(nc), NATS_CONNECTION_CLOSED);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    h_waiter_destroy(&reco);
}
#endif

#if HAVE_NATS_3_13
typedef struct
{
    pthread_mutex_t mu;
    int             calls;
    int             port_asked;     /* port the library asked for */
    char            host_asked[64];
    int             real_port;      /* where the "proxy" really connects */
    bool            fail;
} proxy_state;

/* A stand-in proxy: connects to the real server whatever the library asked for. */
static natsStatus
_proxyCb(natsSock *fd, char *host, int port, void *closure)
{
    proxy_state         *ps = (proxy_state*) closure;
    struct sockaddr_in  sa;
    int                 s;

    pthread_mutex_lock(&ps->mu);
    ps->calls++;
    ps->port_asked = port;
    snprintf(ps->host_asked, sizeof(ps->host_asked), "%s", host);
    pthread_mutex_unlock(&ps->mu);
    if (ps->fail)
        return NATS_ERR;

    s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        return NATS_SYS_ERROR;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t) ps->real_port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(s, (struct sockaddr*) &sa, sizeof(sa)) != 0)
    {
        close(s);
        return NATS_NO_SERVER;
    }
    *fd = s;
    return NATS_OK;
}

static int
_proxyCalls(proxy_state *ps)
{
    int n;

    pthread_mutex_lock(&ps->mu);
    n = ps->calls;
    pthread_mutex_unlock(&ps->mu);
    return n;
}

static void
test_proxy_conn_handler(void)
{
    h_server            srv;
    proxy_state         ps;
    natsOptions         *opts = NULL;
    natsConnection      *nc   = NULL;
    natsSubscription    *sub  = NULL;
    natsMsg             *msg  = NULL;
    h_waiter            reco;
    char                url[64];
    int                 nowhere = h_closed_port();

    memset(&ps, 0, sizeof(ps));
    pthread_mutex_init(&ps.mu, NULL);
    h_waiter_init(&reco);
    REQUIRE(h_server_start(&srv, NULL, NULL));
    ps.real_port = srv.port;

    CHECK_STATUS(natsOptions_SetProxyConnHandler(NULL, _proxyCb, &ps), NATS_INVALID_ARG);

    /* The URL names a port nothing listens on: only the handler's socket can work. */
    snprintf(url, sizeof(url), "nats://127.0.0.1:%d", nowhere);
    REQUIRE_OK(natsOptions_Create(&opts));
    CHECK_OK(natsOptions_SetURL(opts, url));
    CHECK_OK(natsOptions_SetReconnectWait(opts, 50));
    CHECK_OK(natsOptions_SetMaxReconnect(opts, 200));
    CHECK_OK(natsOptions_SetReconnectedCB(opts, _connCb, &reco));
    CHECK_OK(natsOptions_SetProxyConnHandler(opts, _proxyCb, &ps));
    REQUIRE_OK(natsConnection_Connect(&nc, opts));
    CHECK_INT(_proxyCalls(&ps), 1);
    CHECK_STR(ps.host_asked, "127.0.0.1");
    CHECK_INT(ps.port_asked, nowhere);

    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "proxy.subj"));
    CHECK_OK(natsConnection_PublishString(nc, "proxy.subj", "via proxy"));
    CHECK_OK(natsSubscription_NextMsg(&msg, sub, 5000));
    if (msg != NULL)
        CHECK_STR(natsMsg_GetData(msg), "via proxy");
    natsMsg_Destroy(msg);
    msg = NULL;

    /* Reconnects go through the handler too. */
    h_server_stop(&srv);
    CHECK(h_server_restart(&srv));
    CHECK(h_waiter_wait(&reco, 1, 10000));
    CHECK(_proxyCalls(&ps) >= 2);
    CHECK_OK(natsConnection_PublishString(nc, "proxy.subj", "again"));
    CHECK_OK(natsSubscription_NextMsg(&msg, sub, 5000));
    if (msg != NULL)
        CHECK_STR(natsMsg_GetData(msg), "again");
    natsMsg_Destroy(msg);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    nc = NULL;

    /* A handler that fails: no connection, and it was asked. */
    ps.fail = true;
    ps.calls = 0;
    CHECK_OK(natsOptions_SetMaxReconnect(opts, 0));
    CHECK(natsConnection_Connect(&nc, opts) != NATS_OK);
    CHECK(nc == NULL);
    CHECK(_proxyCalls(&ps) >= 1);

    /* Removed: the library connects by itself again (to the real server's URL). */
    CHECK_OK(natsOptions_SetProxyConnHandler(opts, NULL, NULL));
    CHECK_OK(natsOptions_SetURL(opts, srv.url));
    ps.calls = 0;
    CHECK_OK(natsConnection_Connect(&nc, opts));
    CHECK_INT(_proxyCalls(&ps), 0);
    natsConnection_Destroy(nc);

    natsOptions_Destroy(opts);
    h_server_destroy(&srv);
    h_waiter_destroy(&reco);
    pthread_mutex_destroy(&ps.mu);
}
#endif

int
main(void)
{
    if (!h_default_server_start())
        return h_finish();

    RUN_TEST(test_connect_basic);
    RUN_TEST(test_connect_url_list);
    RUN_TEST(test_connect_failure);
    RUN_TEST(test_getters);
    RUN_TEST(test_stats);
    RUN_TEST(test_closed_connection);
    RUN_TEST(test_reconnect);
    RUN_TEST(test_no_reconnect);
#if HAVE_NATS_3_13
    RUN_TEST(test_force_reconnect);
    RUN_TEST(test_proxy_conn_handler);
#endif
    return h_finish();
}
