/* A process that exits while the library is busy must exit cleanly: status 0, no crash, no
 * hang (ctest TIMEOUT and an alarm), no valgrind error.
 *
 *     exit_live return     main returns with everything below still alive
 *     exit_live exit       main calls exit(0)
 *     exit_live callback   exit(0) is called from inside a message handler (a library
 *                          thread) while the main thread is blocked in a request
 *
 * Alive at exit: a connection with asynchronous subscriptions (one delivery thread per
 * subscription, and the global pool) holding thousands of undelivered messages behind slow
 * handlers; a connection draining; a connection reconnecting (its server is gone, reconnect
 * wait 1 ms); a connection retrying its first connect to a closed port; a thread blocked in
 * natsConnection_Request and one in natsSubscription_NextMsg. Nothing is destroyed. */
#include "harness.h"

#include <signal.h>
#include <unistd.h>

static volatile int gExitInCallback = 0;
static volatile int gDelivered      = 0;
static const char   *gMode          = "";

static void
_slowHandler(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void) nc; (void) sub; (void) closure;
    natsMsg_Destroy(msg);
    __sync_fetch_and_add(&gDelivered, 1);
    /* exit() must be called once: the first handler past the mark does it. */
    if (gExitInCallback && (gDelivered > 200) && __sync_bool_compare_and_swap(&gExitInCallback, 1, 2))
    {
        printf("exit_live(%s): calling exit(0) from a message handler, %d delivered\n",
               gMode, gDelivered);
        fflush(stdout);
        exit(0);
    }
    h_sleep_ms(1);
}

static void
_connected(natsConnection *nc, void *closure)
{
    (void) nc; (void) closure;
}

/* Never answers: a request to it waits for its whole timeout. */
static void
_silent(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void) nc; (void) sub; (void) closure;
    natsMsg_Destroy(msg);
}

static void*
_requester(void *arg)
{
    natsMsg *reply = NULL;

    natsConnection_RequestString(&reply, (natsConnection*) arg, "exit.silent", "?", 600000);
    natsMsg_Destroy(reply);
    return NULL;
}

static void*
_nextMsg(void *arg)
{
    natsMsg *m = NULL;

    natsSubscription_NextMsg(&m, (natsSubscription*) arg, 600000);
    natsMsg_Destroy(m);
    return NULL;
}

static int
fail(const char *what, natsStatus s)
{
    fprintf(stderr, "exit_live(%s): %s failed: %d (%s)\n", gMode, what, (int) s,
            natsStatus_GetText(s));
    return 1;
}

int
main(int argc, char **argv)
{
    static h_server     srvMain, srvGone;
    natsOptions         *opts = NULL;
    /* Static: the program leaves them alive on purpose, and they stay reachable after main
     * returns, so valgrind reports the library's memory errors, not the program's leaks. */
    static natsConnection   *nc = NULL, *ncPool = NULL, *ncDrain = NULL, *ncReco = NULL, *ncRetry = NULL;
    static natsSubscription *sub = NULL, *syncSub = NULL;
    natsStatus          s;
    pthread_t           t;
    char                closedUrl[64];
    const char          *vg = getenv("LD_PRELOAD");
    bool                valgrind = (vg != NULL) && (strstr(vg, "vgpreload") != NULL);
    int                 i, n = (valgrind ? 2000 : 20000);

    if (argc != 2)
    {
        fprintf(stderr, "usage: %s return|exit|callback\n", argv[0]);
        return 2;
    }
    gMode = argv[1];
    if ((strcmp(gMode, "return") != 0) && (strcmp(gMode, "exit") != 0)
        && (strcmp(gMode, "callback") != 0))
    {
        fprintf(stderr, "unknown mode '%s'\n", gMode);
        return 2;
    }
    /* A hang anywhere, exit included, ends the process with SIGALRM (a failure). */
    alarm(valgrind ? 240 : 60);

    if (!h_server_start(&srvMain, NULL, NULL) || !h_server_start(&srvGone, NULL, NULL))
        return 1;
    if ((s = nats_SetMessageDeliveryPoolSize(2)) != NATS_OK)
        return fail("nats_SetMessageDeliveryPoolSize", s);

    /* Subscriptions with a backlog: per-subscription threads on nc, the pool on ncPool. */
    if ((s = natsConnection_ConnectTo(&nc, srvMain.url)) != NATS_OK)
        return fail("connect", s);
    if ((s = natsOptions_Create(&opts)) != NATS_OK)
        return fail("options", s);
    natsOptions_SetURL(opts, srvMain.url);
    natsOptions_UseGlobalMessageDelivery(opts, true);
    if ((s = natsConnection_Connect(&ncPool, opts)) != NATS_OK)
        return fail("connect (pool)", s);
    natsOptions_Destroy(opts);
    for (i = 0; i < 3; i++)
    {
        if ((s = natsConnection_Subscribe(&sub, nc, "exit.flood", _slowHandler, NULL)) != NATS_OK)
            return fail("subscribe", s);
        natsSubscription_SetPendingLimits(sub, -1, -1);
        if ((s = natsConnection_Subscribe(&sub, ncPool, "exit.flood", _slowHandler, NULL)) != NATS_OK)
            return fail("subscribe (pool)", s);
        natsSubscription_SetPendingLimits(sub, -1, -1);
    }
    if ((s = natsConnection_Subscribe(&sub, nc, "exit.silent", _silent, NULL)) != NATS_OK)
        return fail("subscribe (silent)", s);
    natsConnection_Flush(nc);
    natsConnection_Flush(ncPool);

    /* A connection draining (its handler is slow, the drain timeout long). */
    if ((s = natsConnection_ConnectTo(&ncDrain, srvMain.url)) != NATS_OK)
        return fail("connect (drain)", s);
    if ((s = natsConnection_Subscribe(&sub, ncDrain, "exit.flood", _slowHandler, NULL)) != NATS_OK)
        return fail("subscribe (drain)", s);
    natsSubscription_SetPendingLimits(sub, -1, -1);
    natsConnection_Flush(ncDrain);

    /* A connection whose server goes away: reconnecting, 1 ms between attempts. */
    natsOptions_Create(&opts);
    natsOptions_SetURL(opts, srvGone.url);
    natsOptions_SetMaxReconnect(opts, -1);
    natsOptions_SetReconnectWait(opts, 1);
    if ((s = natsConnection_Connect(&ncReco, opts)) != NATS_OK)
        return fail("connect (reconnect)", s);
    natsConnection_SubscribeSync(&sub, ncReco, "exit.reco");
    natsConnection_Flush(ncReco);
    h_server_stop(&srvGone);

    /* A connection that never connected, retrying in the background. */
    snprintf(closedUrl, sizeof(closedUrl), "nats://127.0.0.1:%d", h_closed_port());
    natsOptions_SetURL(opts, closedUrl);
    natsOptions_SetRetryOnFailedConnect(opts, true, _connected, NULL);
    s = natsConnection_Connect(&ncRetry, opts);
    natsOptions_Destroy(opts);
    if (s != NATS_NOT_YET_CONNECTED)
        return fail("connect (retry, expected not yet connected)", s);

    /* The flood, published from the main connection. */
    for (i = 0; i < n; i++)
        natsConnection_PublishString(ncPool, "exit.flood", "0123456789");
    natsConnection_Flush(ncPool);
    if ((s = natsConnection_DrainTimeout(ncDrain, 600000)) != NATS_OK)
        return fail("drain", s);

    /* Threads blocked in the library. */
    {
        natsConnection_SubscribeSync(&syncSub, nc, "exit.nothing");
        if (pthread_create(&t, NULL, _nextMsg, syncSub) != 0)
            return 1;
        pthread_detach(t);
    }
    if (pthread_create(&t, NULL, _requester, nc) != 0)
        return 1;
    pthread_detach(t);
    h_sleep_ms(50);

    if (!natsConnection_IsReconnecting(ncReco))
        return fail("the connection whose server left is not reconnecting", NATS_ERR);
    if (natsConnection_Status(ncDrain) == NATS_CONN_STATUS_CLOSED)
        return fail("the draining connection is already closed", NATS_ERR);
    if (gDelivered >= 7 * n)
        return fail("no delivery is pending", NATS_ERR);

    if (strcmp(gMode, "callback") == 0)
    {
        natsMsg *reply = NULL;

        gExitInCallback = 1;
        /* Blocked here when a handler calls exit(). */
        natsConnection_RequestString(&reply, nc, "exit.silent", "?", 600000);
        fprintf(stderr, "exit_live(callback): the request returned; no handler called exit()\n");
        return 1;
    }
    printf("exit_live(%s): leaving with live connections, %d of %d deliveries done\n",
           gMode, gDelivered, 7 * n);
    fflush(stdout);
    if (strcmp(gMode, "exit") == 0)
        exit(0);
    return 0;
}
