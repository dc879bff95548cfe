/* Connection events and resilient reconnect, against real nats-server
 * processes started by the test: server restart, cluster discovery and
 * failover, reconnect exhaustion, retry on failed initial connect, reconnect
 * buffer limit, forced reconnect, lame duck mode, stale connection detection,
 * closed-callback uniqueness when Close/Destroy race with the reconnect
 * logic, and ordering/threading of the connection events. */
#include "harness.h"

#include <ctype.h>
#include <signal.h>
#include <time.h>

static pthread_t mainThread;

/* ---------------------------------------------------------------------- */
/* Event recorder                                                          */
/* ---------------------------------------------------------------------- */

typedef enum
{
    EV_NONE = 0,
    EV_CONNECTED,
    EV_DISCONNECTED,
    EV_RECONNECTED,
    EV_CLOSED,
    EV_DISCOVERED,
    EV_LAME_DUCK,
    EV_COUNT
} evType;

static const char *evNames[EV_COUNT] =
{
    "none", "connected", "disconnected", "reconnected", "closed", "discovered", "lame-duck"
};

#define EV_MAX 64

typedef struct
{
    h_waiter        w;                  /* mutex/cond; w.count = total events */
    int             n;                  /* number of recorded events (<= EV_MAX) */
    evType          ev[EV_MAX];
    pthread_t       th[EV_MAX];
    natsConnStatus  st[EV_MAX];         /* natsConnection_Status() in the callback */
    int64_t         at[EV_MAX];         /* h_now_ms() when recorded */
    int             counts[EV_COUNT];
    bool            queryStatus;        /* call natsConnection_Status() in callbacks */
    bool            onMain;             /* a callback ran on the main thread */
    bool            wrongConn;          /* a callback got an unexpected connection */
    natsConnection  *nc;                /* expected connection (NULL: not checked) */
    bool            destroyed;          /* set by the test once Destroy returned */
    int             late;               /* events recorded after `destroyed` */
} evRec;

static void
ev_init(evRec *r, bool queryStatus)
{
    memset(r, 0, sizeof(*r));
    h_waiter_init(&r->w);
    r->queryStatus = queryStatus;
}

static void
ev_destroy(evRec *r)
{
    h_waiter_destroy(&r->w);
}

static void
ev_set_conn(evRec *r, natsConnection *nc)
{
    pthread_mutex_lock(&r->w.mu);
    r->nc = nc;
    pthread_mutex_unlock(&r->w.mu);
}

static void
ev_set_destroyed(evRec *r)
{
    pthread_mutex_lock(&r->w.mu);
    r->destroyed = true;
    pthread_mutex_unlock(&r->w.mu);
}

static void
ev_record(evRec *r, evType t, natsConnection *nc)
{
    natsConnStatus st = (natsConnStatus) -1;

    if (r->queryStatus)
        st = natsConnection_Status(nc);

    pthread_mutex_lock(&r->w.mu);
    if (r->n < EV_MAX)
    {
        r->ev[r->n] = t;
        r->th[r->n] = pthread_self();
        r->st[r->n] = st;
        r->at[r->n] = h_now_ms();
        r->n++;
    }
    r->counts[t]++;
    if (pthread_equal(pthread_self(), mainThread))
        r->onMain = true;
    if ((r->nc != NULL) && (nc != r->nc))
        r->wrongConn = true;
    if (r->destroyed)
        r->late++;
    r->w.count++;
    pthread_cond_broadcast(&r->w.cond);
    pthread_mutex_unlock(&r->w.mu);
}

static void _onConnected(natsConnection *nc, void *c)    { ev_record((evRec*) c, EV_CONNECTED, nc); }
static void _onDisconnected(natsConnection *nc, void *c) { ev_record((evRec*) c, EV_DISCONNECTED, nc); }
static void _onReconnected(natsConnection *nc, void *c)  { ev_record((evRec*) c, EV_RECONNECTED, nc); }
static void _onClosed(natsConnection *nc, void *c)       { ev_record((evRec*) c, EV_CLOSED, nc); }
static void _onDiscovered(natsConnection *nc, void *c)   { ev_record((evRec*) c, EV_DISCOVERED, nc); }
static void _onLameDuck(natsConnection *nc, void *c)     { ev_record((evRec*) c, EV_LAME_DUCK, nc); }

/* Installs the disconnected/reconnected/closed callbacks. */
static natsStatus
ev_install(natsOptions *opts, evRec *r)
{
    natsStatus s = natsOptions_SetDisconnectedCB(opts, _onDisconnected, r);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB(opts, _onReconnected, r);
    if (s == NATS_OK)
        s = natsOptions_SetClosedCB(opts, _onClosed, r);
    return s;
}

static int
ev_count(evRec *r, evType t)
{
    int c;

    pthread_mutex_lock(&r->w.mu);
    c = r->counts[t];
    pthread_mutex_unlock(&r->w.mu);
    return c;
}

/* Waits until at least n events of type t were recorded. */
static bool
ev_wait(evRec *r, evType t, int n, int64_t timeoutMs)
{
    int64_t deadline = h_now_ms() + timeoutMs;
    bool    ok;

    pthread_mutex_lock(&r->w.mu);
    while (r->counts[t] < n)
    {
        struct timespec ts;
        int64_t         left = deadline - h_now_ms();

        if (left <= 0)
            break;
        if (left > 50)
            left = 50;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec  += (time_t) (left / 1000);
        ts.tv_nsec += (long) ((left % 1000) * 1000000);
        if (ts.tv_nsec >= 1000000000L)
        {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&r->w.cond, &r->w.mu, &ts);
    }
    ok = (r->counts[t] >= n);
    pthread_mutex_unlock(&r->w.mu);
    if (!ok)
        fprintf(stderr, "timeout waiting for %d '%s' event(s) (got %d)\n",
                n, evNames[t], ev_count(r, t));
    return ok;
}

/* Destroys the connection, then waits for its closed callback: the callbacks
 * are invoked asynchronously and the closure must stay valid until then. */
static void
destroy_conn(natsConnection *nc, evRec *r)
{
    natsConnection_Destroy(nc);
    CHECK(ev_wait(r, EV_CLOSED, 1, 5000));
}

/* Prints the recorded sequence (for diagnostics). */
static void
ev_print(evRec *r, const char *label)
{
    int i;

    pthread_mutex_lock(&r->w.mu);
    fprintf(stderr, "%s events:", label);
    for (i = 0; i < r->n; i++)
        fprintf(stderr, " %s", evNames[r->ev[i]]);
    fprintf(stderr, "\n");
    pthread_mutex_unlock(&r->w.mu);
}

/* Checks that the recorded events, ignoring the types for which
 * skip[type] is true (skip may be NULL), are exactly `expected` (terminated
 * by EV_NONE). */
static bool
ev_check_sequence(evRec *r, const evType *expected, const bool *skip, const char *label)
{
    int     i, j = 0;
    bool    ok = true;

    pthread_mutex_lock(&r->w.mu);
    for (i = 0; i < r->n; i++)
    {
        if ((skip != NULL) && skip[r->ev[i]])
            continue;
        if (expected[j] == EV_NONE || expected[j] != r->ev[i])
        {
            ok = false;
            break;
        }
        j++;
    }
    if (ok && (expected[j] != EV_NONE))
        ok = false;
    pthread_mutex_unlock(&r->w.mu);
    if (!ok)
    {
        fprintf(stderr, "%s: unexpected event sequence, expected:", label);
        for (j = 0; expected[j] != EV_NONE; j++)
            fprintf(stderr, " %s", evNames[expected[j]]);
        fprintf(stderr, "\n");
        ev_print(r, label);
    }
    return CHECK(ok);
}

/* All recorded events ran on the same thread, which is not the main thread. */
static void
ev_check_one_library_thread(evRec *r)
{
    int     i;
    bool    same = true;
    bool    onMain;
    int     n;

    pthread_mutex_lock(&r->w.mu);
    n = r->n;
    for (i = 1; i < r->n; i++)
        if (!pthread_equal(r->th[i], r->th[0]))
            same = false;
    onMain = r->onMain;
    pthread_mutex_unlock(&r->w.mu);
    CHECK(n > 0);
    CHECK(same);
    CHECK(!onMain);
}

/* ---------------------------------------------------------------------- */
/* Helpers                                                                 */
/* ---------------------------------------------------------------------- */

/* Kills the server with SIGKILL (a crash), reaps it. */
static void
srv_crash(h_server *srv)
{
    if (srv->pid > 0)
        kill(srv->pid, SIGKILL);
    h_server_stop(srv);
}

/* Starts a cluster node: `--cluster_name NAME --cluster nats://127.0.0.1:CPORT
 * [--routes nats://127.0.0.1:RPORT]`. */
static bool
start_node(h_server *srv, const char *name, int clusterPort, int routePort, const char *config)
{
    char        cl[64], rt[64];
    const char  *args[8];
    int         n = 0;

    snprintf(cl, sizeof(cl), "nats://127.0.0.1:%d", clusterPort);
    args[n++] = "--cluster_name";
    args[n++] = name;
    args[n++] = "--cluster";
    args[n++] = cl;
    if (routePort > 0)
    {
        snprintf(rt, sizeof(rt), "nats://127.0.0.1:%d", routePort);
        args[n++] = "--routes";
        args[n++] = rt;
    }
    args[n] = NULL;
    return h_server_start(srv, args, config);
}

/* Receives one message on `sub` and checks its payload. */
static bool
expect_msg(natsSubscription *sub, const char *data, int64_t timeout)
{
    natsMsg     *msg = NULL;
    bool        ok;

    ok = CHECK_OK(natsSubscription_NextMsg(&msg, sub, timeout));
    if (ok)
        ok = CHECK_STR(natsMsg_GetData(msg), data);
    natsMsg_Destroy(msg);
    return ok;
}

/* No message on `sub` within `timeout`. */
static bool
expect_no_msg(natsSubscription *sub, int64_t timeout)
{
    natsMsg     *msg = NULL;
    natsStatus  s    = natsSubscription_NextMsg(&msg, sub, timeout);

    if (msg != NULL)
        fprintf(stderr, "unexpected message: '%s'\n", natsMsg_GetData(msg));
    natsMsg_Destroy(msg);
    return CHECK_STATUS(s, NATS_TIMEOUT);
}

static uint64_t
get_reconnects(natsConnection *nc)
{
    natsStatistics  *stats = NULL;
    uint64_t        reconnects = 0;

    if (natsStatistics_Create(&stats) != NATS_OK)
        return (uint64_t) -1;
    CHECK_OK(natsConnection_GetStats(nc, stats));
    CHECK_OK(natsStatistics_GetCounts(stats, NULL, NULL, NULL, NULL, &reconnects));
    natsStatistics_Destroy(stats);
    return reconnects;
}

static bool
list_has(char **list, int count, const char *url)
{
    int i;

    for (i = 0; i < count; i++)
        if ((list[i] != NULL) && (strcmp(list[i], url) == 0))
            return true;
    return false;
}

static void
free_list(char **list, int count)
{
    int i;

    for (i = 0; i < count; i++)
        free(list[i]);
    free(list);
}

static int
discovered_count(natsConnection *nc)
{
    char    **list = NULL;
    int     count  = 0;

    if (natsConnection_GetDiscoveredServers(nc, &list, &count) != NATS_OK)
        return -1;
    free_list(list, count);
    return count;
}

/* ---------------------------------------------------------------------- */
/* 1. Kill and restart of a single server                                 */
/* ---------------------------------------------------------------------- */

static void
_countMsgCb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void) nc; (void) sub;
    natsMsg_Destroy(msg);
    h_waiter_add((h_waiter*) closure, 1);
}

static void
test_restart_single_server(void)
{
    h_server            srv;
    natsOptions         *opts = NULL;
    natsConnection      *nc   = NULL;
    natsSubscription    *sub  = NULL;
    natsSubscription    *asub = NULL;
    static evRec        r;     /* static: callbacks may outlive the frame on failure */
    h_waiter            amsgs;
    char                buf[32];
    int                 i;
    const evType        seq[] = { EV_DISCONNECTED, EV_RECONNECTED, EV_NONE };

    ev_init(&r, true);
    h_waiter_init(&amsgs);
    REQUIRE(h_server_start(&srv, NULL, NULL));

    REQUIRE_OK(natsOptions_Create(&opts));
    CHECK_OK(natsOptions_SetURL(opts, srv.url));
    CHECK_OK(natsOptions_SetReconnectWait(opts, 50));
    CHECK_OK(natsOptions_SetMaxReconnect(opts, -1));
    CHECK_OK(ev_install(opts, &r));
    REQUIRE_OK(natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);
    ev_set_conn(&r, nc);

    CHECK_INT(natsConnection_Status(nc), NATS_CONN_STATUS_CONNECTED);
    CHECK(!natsConnection_IsReconnecting(nc));
    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "rc.restart"));
    REQUIRE_OK(natsConnection_Subscribe(&asub, nc, "rc.restart.async", _countMsgCb, &amsgs));
    CHECK_OK(natsConnection_PublishString(nc, "rc.restart", "before"));
    CHECK_OK(natsConnection_PublishString(nc, "rc.restart.async", "before"));
    CHECK_OK(natsConnection_Flush(nc));
    expect_msg(sub, "before", 2000);
    CHECK(h_waiter_wait(&amsgs, 1, 2000));

    h_server_stop(&srv);
    CHECK(ev_wait(&r, EV_DISCONNECTED, 1, 5000));
    /* The server is down: the connection is reconnecting. */
    CHECK_INT(natsConnection_Status(nc), NATS_CONN_STATUS_RECONNECTING);
    CHECK(natsConnection_IsReconnecting(nc));
    CHECK(!natsConnection_IsClosed(nc));
    CHECK_INT(ev_count(&r, EV_RECONNECTED), 0);

    /* Published while disconnected: buffered, sent once after reconnect. */
    for (i = 0; i < 10; i++)
    {
        snprintf(buf, sizeof(buf), "down-%d", i);
        CHECK_OK(natsConnection_PublishString(nc, "rc.restart", buf));
    }
    CHECK_OK(natsConnection_PublishString(nc, "rc.restart.async", "down"));
    CHECK(natsConnection_IsReconnecting(nc));

    CHECK(h_server_restart(&srv));
    CHECK(ev_wait(&r, EV_RECONNECTED, 1, 10000));
    CHECK_INT(natsConnection_Status(nc), NATS_CONN_STATUS_CONNECTED);
    CHECK(!natsConnection_IsReconnecting(nc));
    CHECK_OK(natsConnection_Flush(nc));

    for (i = 0; i < 10; i++)
    {
        snprintf(buf, sizeof(buf), "down-%d", i);
        if (!expect_msg(sub, buf, 5000))
            break;
    }
    CHECK(h_waiter_wait(&amsgs, 2, 5000));
    /* Exactly once: nothing else arrives. */
    expect_no_msg(sub, 200);
    CHECK_INT(h_waiter_get(&amsgs), 2);

    /* Subscriptions were re-established on the restarted server. */
    CHECK_OK(natsConnection_PublishString(nc, "rc.restart", "after"));
    CHECK_OK(natsConnection_PublishString(nc, "rc.restart.async", "after"));
    expect_msg(sub, "after", 5000);
    CHECK(h_waiter_wait(&amsgs, 3, 5000));

    CHECK_INT(get_reconnects(nc), 1);
    CHECK_INT(ev_count(&r, EV_DISCONNECTED), 1);
    CHECK_INT(ev_count(&r, EV_RECONNECTED), 1);
    CHECK_INT(ev_count(&r, EV_CLOSED), 0);
    ev_check_sequence(&r, seq, NULL, "restart");
    ev_check_one_library_thread(&r);
    /* Inside the disconnected callback, the connection is reconnecting;
     * inside the reconnected one, connected. */
    pthread_mutex_lock(&r.w.mu);
    if (r.n >= 2)
    {
        CHECK_INT(r.st[0], NATS_CONN_STATUS_RECONNECTING);
        CHECK_INT(r.st[1], NATS_CONN_STATUS_CONNECTED);
    }
    CHECK(!r.wrongConn);
    pthread_mutex_unlock(&r.w.mu);

    natsSubscription_Destroy(sub);
    natsSubscription_Destroy(asub);
    destroy_conn(nc, &r);
    h_server_destroy(&srv);
    h_waiter_destroy(&amsgs);
    ev_destroy(&r);
}

/* ---------------------------------------------------------------------- */
/* 2. Cluster: discovered servers and failover                            */
/* ---------------------------------------------------------------------- */

typedef struct
{
    natsConnection *nc;
    int target;
} discArg;

static bool
_hasDiscovered(void *arg)
{
    discArg *a = (discArg*) arg;

    return discovered_count(a->nc) >= a->target;
}

static void
test_cluster_discovery_and_failover(void)
{
    h_server            a, b, c;
    int                 ca = h_free_port(), cb = h_free_port(), cc = h_free_port();
    natsOptions         *opts = NULL;
    natsConnection      *nc   = NULL;
    natsSubscription    *sub  = NULL;
    static evRec        r;     /* static: callbacks may outlive the frame on failure */
    char                **list = NULL;
    int                 count  = 0;
    char                url[128];
    discArg             da;

    ev_init(&r, false);
    memset(&b, 0, sizeof(b));
    memset(&c, 0, sizeof(c));
    REQUIRE(start_node(&a, "rc_cluster", ca, 0, NULL));

    REQUIRE_OK(natsOptions_Create(&opts));
    CHECK_OK(natsOptions_SetURL(opts, a.url));
    CHECK_OK(natsOptions_SetReconnectWait(opts, 50));
    CHECK_OK(natsOptions_SetMaxReconnect(opts, -1));
    CHECK_OK(ev_install(opts, &r));
    CHECK_OK(natsOptions_SetDiscoveredServersCB(opts, _onDiscovered, &r));
    REQUIRE_OK(natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);
    ev_set_conn(&r, nc);

    /* Connected to a single server that knows no other: nothing discovered. */
    CHECK_INT(discovered_count(nc), 0);
    CHECK_OK(natsConnection_GetServers(nc, &list, &count));
    CHECK_INT(count, 1);
    if (count == 1)
        CHECK_STR(list[0], a.url);
    free_list(list, count);
    list = NULL;
    count = 0;

    /* Two more servers join the cluster: the client learns them from INFO. */
    CHECK(start_node(&b, "rc_cluster", cb, ca, NULL));
    CHECK(start_node(&c, "rc_cluster", cc, ca, NULL));
    CHECK(ev_wait(&r, EV_DISCOVERED, 1, 10000));
    da.nc = nc;
    da.target = 2;
    CHECK(h_wait_until(_hasDiscovered, &da, 10000));

    CHECK_OK(natsConnection_GetDiscoveredServers(nc, &list, &count));
    CHECK_INT(count, 2);
    CHECK(list_has(list, count, b.url));
    CHECK(list_has(list, count, c.url));
    CHECK(!list_has(list, count, a.url));
    free_list(list, count);
    list = NULL;
    count = 0;

    CHECK_OK(natsConnection_GetServers(nc, &list, &count));
    CHECK_INT(count, 3);
    CHECK(list_has(list, count, a.url));
    CHECK(list_has(list, count, b.url));
    CHECK(list_has(list, count, c.url));
    free_list(list, count);
    list = NULL;
    count = 0;

    CHECK_OK(natsConnection_GetConnectedUrl(nc, url, sizeof(url)));
    CHECK_STR(url, a.url);

    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "rc.cluster"));
    CHECK_OK(natsConnection_Flush(nc));

    /* The connected server crashes: the client fails over to B or C. */
    srv_crash(&a);
    CHECK(ev_wait(&r, EV_DISCONNECTED, 1, 5000));
    CHECK(ev_wait(&r, EV_RECONNECTED, 1, 10000));
    CHECK_INT(natsConnection_Status(nc), NATS_CONN_STATUS_CONNECTED);
    CHECK_OK(natsConnection_GetConnectedUrl(nc, url, sizeof(url)));
    CHECK((strcmp(url, b.url) == 0) || (strcmp(url, c.url) == 0));
    CHECK(strcmp(url, a.url) != 0);

    CHECK_OK(natsConnection_PublishString(nc, "rc.cluster", "failover"));
    expect_msg(sub, "failover", 5000);
    CHECK_INT(get_reconnects(nc), 1);
    CHECK_INT(ev_count(&r, EV_DISCONNECTED), 1);
    CHECK_INT(ev_count(&r, EV_RECONNECTED), 1);
    ev_check_one_library_thread(&r);
    pthread_mutex_lock(&r.w.mu);
    CHECK(!r.wrongConn);
    pthread_mutex_unlock(&r.w.mu);

    natsSubscription_Destroy(sub);
    destroy_conn(nc, &r);
    h_server_destroy(&a);
    h_server_destroy(&b);
    h_server_destroy(&c);
    ev_destroy(&r);
}

/* ---------------------------------------------------------------------- */
/* 3. Max reconnect exhausted                                             */
/* ---------------------------------------------------------------------- */

static void
test_max_reconnect_exhausted(void)
{
    h_server        srv;
    natsOptions     *opts = NULL;
    natsConnection  *nc   = NULL;
    static evRec    r;
    const char      *lastErr = NULL;
    const evType    seq[] = { EV_DISCONNECTED, EV_CLOSED, EV_NONE };

    ev_init(&r, false);
    REQUIRE(h_server_start(&srv, NULL, NULL));

    REQUIRE_OK(natsOptions_Create(&opts));
    CHECK_OK(natsOptions_SetURL(opts, srv.url));
    CHECK_OK(natsOptions_SetMaxReconnect(opts, 2));
    CHECK_OK(natsOptions_SetReconnectWait(opts, 50));
    CHECK_OK(ev_install(opts, &r));
    REQUIRE_OK(natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);
    ev_set_conn(&r, nc);

    /* The server goes away for good. */
    h_server_stop(&srv);
    CHECK(ev_wait(&r, EV_DISCONNECTED, 1, 5000));
    CHECK(ev_wait(&r, EV_CLOSED, 1, 5000));
    CHECK_INT(natsConnection_Status(nc), NATS_CONN_STATUS_CLOSED);
    CHECK(natsConnection_IsClosed(nc));
    /* (natsConnection_IsReconnecting() is not checked: cnats keeps returning
     * true for a connection closed after failed reconnect attempts, because
     * it tests for the presence of the reconnect buffer.) */
    CHECK_STATUS(natsConnection_GetLastError(nc, &lastErr), NATS_NO_SERVER);
    CHECK((lastErr != NULL) && (lastErr[0] != '\0'));
    CHECK_STATUS(natsConnection_PublishString(nc, "rc.x", "y"), NATS_CONNECTION_CLOSED);
    CHECK_STATUS(natsConnection_Flush(nc), NATS_CONNECTION_CLOSED);

    /* Closing (again) and destroying do not invoke the callbacks again. */
    natsConnection_Close(nc);
    natsConnection_Destroy(nc);
    ev_set_destroyed(&r);
    h_sleep_ms(200);
    CHECK_INT(ev_count(&r, EV_CLOSED), 1);
    CHECK_INT(ev_count(&r, EV_DISCONNECTED), 1);
    CHECK_INT(ev_count(&r, EV_RECONNECTED), 0);
    ev_check_sequence(&r, seq, NULL, "exhausted");
    ev_check_one_library_thread(&r);
    pthread_mutex_lock(&r.w.mu);
    CHECK_INT(r.late, 0);
    CHECK(!r.wrongConn);
    pthread_mutex_unlock(&r.w.mu);

    h_server_destroy(&srv);
    ev_destroy(&r);
}

static void
_ignoreErrors(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    (void) nc;
    (void) sub;
    (void) err;
    (void) closure;
}

/* natsConnection_GetLastError hands out a pointer to the connection's text. It must stay
 * readable while the connection records new errors on its own threads (here one
 * "Permissions Violation" from the server per publish): the text is overwritten in place,
 * never freed (cnats keeps it in a fixed buffer of the connection too). A freed text reads
 * as garbage, or under valgrind as an invalid read. */
static void
_sleepUs(long us)
{
    struct timespec ts = { 0, us * 1000 };

    nanosleep(&ts, NULL);
}

static void
test_last_error_text_readable_while_errors_change(void)
{
    h_server        srv;
    natsOptions     *opts = NULL;
    natsConnection  *nc   = NULL;
    int64_t         end;
    long            reads = 0, texts = 0, bad = 0;
    const char      *conf =
        "authorization {\n"
        "  users = [ { user: u, password: p, permissions: { publish: { deny: [\"forbidden\"] } } } ]\n"
        "}\n";

    REQUIRE(h_server_start(&srv, NULL, conf));
    REQUIRE_OK(natsOptions_Create(&opts));
    CHECK_OK(natsOptions_SetURL(opts, srv.url));
    CHECK_OK(natsOptions_SetUserInfo(opts, "u", "p"));
    /* Quiet: the default handler would print every violation. */
    CHECK_OK(natsOptions_SetErrorHandler(opts, _ignoreErrors, NULL));
    REQUIRE_OK(natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);

    end = h_now_ms() + 1500;
    while (h_now_ms() < end)
    {
        const char *t = NULL;

        natsConnection_PublishString(nc, "forbidden", "x");
        natsConnection_GetLastError(nc, &t);
        reads++;
        /* Read the text a little later, after more errors came in (this also keeps the
         * loop from starving the library's threads under valgrind). */
        _sleepUs(300);
        if ((t == NULL) || (t[0] == '\0'))
            continue;
        texts++;
        for (int i = 0; (i < 1024) && (t[i] != '\0'); i++)
        {
            if (!isprint((unsigned char) t[i]) || (i == 1023))
            {
                bad++;
                break;
            }
        }
    }
    if (!CHECK(texts > 0))
        fprintf(stderr, "no error text seen in %ld reads\n", reads);
    CHECK_INT(bad, 0);
    natsConnection_Destroy(nc);
    h_server_destroy(&srv);
}

/* cnats sleeps ReconnectWait (+ jitter, disabled here) before each attempt
 * to reconnect to a server it already tried: with one server and
 * MaxReconnect(2), the connection is closed after 2 waits. */
static void
test_reconnect_wait_between_attempts(void)
{
    h_server        srv;
    natsOptions     *opts = NULL;
    natsConnection  *nc   = NULL;
    static evRec    r;
    int64_t         tDisc = 0, tClosed = 0;
    int             i;

    ev_init(&r, false);
    REQUIRE(h_server_start(&srv, NULL, NULL));

    REQUIRE_OK(natsOptions_Create(&opts));
    CHECK_OK(natsOptions_SetURL(opts, srv.url));
    CHECK_OK(natsOptions_SetMaxReconnect(opts, 2));
    CHECK_OK(natsOptions_SetReconnectWait(opts, 150));
    CHECK_OK(natsOptions_SetReconnectJitter(opts, 0, 0));
    CHECK_OK(ev_install(opts, &r));
    REQUIRE_OK(natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);

    h_server_stop(&srv);
    CHECK(ev_wait(&r, EV_CLOSED, 1, 5000));
    pthread_mutex_lock(&r.w.mu);
    for (i = 0; i < r.n; i++)
    {
        if ((r.ev[i] == EV_DISCONNECTED) && (tDisc == 0))
            tDisc = r.at[i];
        if (r.ev[i] == EV_CLOSED)
            tClosed = r.at[i];
    }
    pthread_mutex_unlock(&r.w.mu);
    printf("MaxReconnect(2), ReconnectWait(150): closed %lld ms after the disconnection\n",
           (long long) (tClosed - tDisc));
    CHECK(tDisc > 0);
    CHECK(tClosed - tDisc >= 280);
    CHECK(tClosed - tDisc < 3000);

    destroy_conn(nc, &r);
    h_server_destroy(&srv);
    ev_destroy(&r);
}

/* ---------------------------------------------------------------------- */
/* 4. Retry on failed connect                                             */
/* ---------------------------------------------------------------------- */

static void
test_retry_on_failed_connect_async(void)
{
    h_server            srv;
    int                 port = h_free_port();
    char                url[64];
    natsOptions         *opts = NULL;
    natsConnection      *nc   = NULL;
    natsSubscription    *sub  = NULL;
    static evRec        r;     /* static: callbacks may outlive the frame on failure */
    natsStatus          s;
    char                cur[128];
    const evType        seq[] = { EV_CONNECTED, EV_DISCONNECTED, EV_CLOSED, EV_NONE };

    ev_init(&r, true);
    memset(&srv, 0, sizeof(srv));
    snprintf(url, sizeof(url), "nats://127.0.0.1:%d", port);

    REQUIRE_OK(natsOptions_Create(&opts));
    CHECK_OK(natsOptions_SetURL(opts, url));
    CHECK_OK(natsOptions_SetReconnectWait(opts, 50));
    CHECK_OK(natsOptions_SetMaxReconnect(opts, -1));
    CHECK_OK(ev_install(opts, &r));
    CHECK_OK(natsOptions_SetRetryOnFailedConnect(opts, true, _onConnected, &r));

    s = natsConnection_Connect(&nc, opts);
    natsOptions_Destroy(opts);
    CHECK_STATUS(s, NATS_NOT_YET_CONNECTED);
    REQUIRE(nc != NULL);
    ev_set_conn(&r, nc);
    CHECK_INT(natsConnection_Status(nc), NATS_CONN_STATUS_RECONNECTING);
    CHECK(natsConnection_IsReconnecting(nc));
    CHECK(!natsConnection_IsClosed(nc));

    /* Subscribing and publishing before the connection is established. */
    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "rc.late"));
    CHECK_OK(natsConnection_PublishString(nc, "rc.late", "early"));

    /* Let a few connect attempts fail. */
    h_sleep_ms(150);
    CHECK_INT(ev_count(&r, EV_CONNECTED), 0);
    CHECK_INT(natsConnection_Status(nc), NATS_CONN_STATUS_RECONNECTING);

    /* The server comes up: connected callback (not reconnected). */
    CHECK(h_server_start_on_port(&srv, port, NULL, NULL));
    CHECK(ev_wait(&r, EV_CONNECTED, 1, 10000));
    CHECK_INT(natsConnection_Status(nc), NATS_CONN_STATUS_CONNECTED);
    CHECK_OK(natsConnection_GetConnectedUrl(nc, cur, sizeof(cur)));
    CHECK_STR(cur, url);
    CHECK_INT(ev_count(&r, EV_RECONNECTED), 0);
    CHECK_INT(ev_count(&r, EV_DISCONNECTED), 0);

    expect_msg(sub, "early", 5000);
    CHECK_OK(natsConnection_PublishString(nc, "rc.late", "later"));
    expect_msg(sub, "later", 5000);
    expect_no_msg(sub, 100);

    pthread_mutex_lock(&r.w.mu);
    if (r.n >= 1)
        CHECK_INT(r.st[0], NATS_CONN_STATUS_CONNECTED);
    pthread_mutex_unlock(&r.w.mu);

    natsConnection_Close(nc);
    CHECK(ev_wait(&r, EV_CLOSED, 1, 5000));
    ev_check_sequence(&r, seq, NULL, "retry-async");
    ev_check_one_library_thread(&r);
    CHECK_INT(ev_count(&r, EV_CONNECTED), 1);
    pthread_mutex_lock(&r.w.mu);
    CHECK(!r.wrongConn);
    pthread_mutex_unlock(&r.w.mu);

    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    h_server_destroy(&srv);
    ev_destroy(&r);
}

typedef struct
{
    h_server    *srv;
    int         port;
    int64_t     delay;
    bool        ok;
    h_waiter    release;
} lateStart;

/* Starts the server after `delay` ms. The thread then stays alive until it is
 * released: the harness starts servers with PR_SET_PDEATHSIG, which Linux
 * delivers when the *thread* that forked the server exits. */
static void*
_lateStartThread(void *arg)
{
    lateStart *ls = (lateStart*) arg;

    h_sleep_ms(ls->delay);
    ls->ok = h_server_start_on_port(ls->srv, ls->port, NULL, NULL);
    h_waiter_wait_flag(&ls->release, 60000);
    return NULL;
}

static void
test_retry_on_failed_connect_blocking(void)
{
    h_server            srv;
    int                 port = h_free_port();
    char                url[64];
    natsOptions         *opts = NULL;
    natsConnection      *nc   = NULL;
    natsSubscription    *sub  = NULL;
    lateStart           ls;
    pthread_t           t;
    int64_t             start, elapsed;
    natsStatus          s;

    memset(&srv, 0, sizeof(srv));
    snprintf(url, sizeof(url), "nats://127.0.0.1:%d", port);

    /* Without a server and with few attempts, Connect fails eventually:
     * cnats tries the server, then MaxReconnect more times, sleeping
     * ReconnectWait between passes (3 attempts, 2 waits of 200 ms). */
    REQUIRE_OK(natsOptions_Create(&opts));
    CHECK_OK(natsOptions_SetURL(opts, url));
    CHECK_OK(natsOptions_SetRetryOnFailedConnect(opts, true, NULL, NULL));
    CHECK_OK(natsOptions_SetMaxReconnect(opts, 2));
    CHECK_OK(natsOptions_SetReconnectWait(opts, 200));
    start = h_now_ms();
    CHECK_STATUS(natsConnection_Connect(&nc, opts), NATS_NO_SERVER);
    elapsed = h_now_ms() - start;
    CHECK(nc == NULL);
    printf("retry on failed connect, MaxReconnect(2), ReconnectWait(200): failed after %lld ms\n",
           (long long) elapsed);
    CHECK(elapsed >= 380);
    CHECK(elapsed < 5000);
    natsOptions_Destroy(opts);
    opts = NULL;

    /* The server starts ~300 ms after Connect was called: Connect blocks
     * until it is up. */
    REQUIRE_OK(natsOptions_Create(&opts));
    CHECK_OK(natsOptions_SetURL(opts, url));
    CHECK_OK(natsOptions_SetRetryOnFailedConnect(opts, true, NULL, NULL));
    CHECK_OK(natsOptions_SetMaxReconnect(opts, 200));
    CHECK_OK(natsOptions_SetReconnectWait(opts, 50));

    ls.srv   = &srv;
    ls.port  = port;
    ls.delay = 300;
    ls.ok    = false;
    h_waiter_init(&ls.release);
    if (!CHECK(pthread_create(&t, NULL, _lateStartThread, &ls) == 0))
    {
        natsOptions_Destroy(opts);
        h_waiter_destroy(&ls.release);
        return;
    }
    start = h_now_ms();
    s = natsConnection_Connect(&nc, opts);
    elapsed = h_now_ms() - start;
    natsOptions_Destroy(opts);
    CHECK_OK(s);
    CHECK(elapsed >= 250);
    CHECK(elapsed < 10000);
    if (nc != NULL)
    {
        CHECK_INT(natsConnection_Status(nc), NATS_CONN_STATUS_CONNECTED);
        CHECK_OK(natsConnection_SubscribeSync(&sub, nc, "rc.blocking"));
        CHECK_OK(natsConnection_PublishString(nc, "rc.blocking", "hello"));
        if (sub != NULL)
            expect_msg(sub, "hello", 5000);
    }
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);

    /* Stop the server before its starting thread exits. */
    h_server_stop(&srv);
    h_waiter_set_flag(&ls.release);
    pthread_join(t, NULL);
    CHECK(ls.ok);
    h_server_destroy(&srv);
    h_waiter_destroy(&ls.release);
}

/* ---------------------------------------------------------------------- */
/* 5. Reconnect buffer overflow                                           */
/* ---------------------------------------------------------------------- */

static void
test_reconnect_buffer_overflow(void)
{
    h_server            srv;
    natsOptions         *opts = NULL;
    natsConnection      *nc   = NULL;
    natsConnection      *nc2  = NULL;
    natsSubscription    *sub  = NULL;
    natsSubscription    *sub2 = NULL;
    static evRec        r, r2;
    char                payload[101];
    char                *big = NULL;
    natsStatus          s = NATS_OK;
    int                 ok = 0, i;

    ev_init(&r, false);
    ev_init(&r2, false);
    memset(payload, 'p', 100);
    payload[100] = '\0';
    big = (char*) malloc(2001);
    REQUIRE(big != NULL);
    memset(big, 'B', 2000);
    big[2000] = '\0';
    if (!h_server_start(&srv, NULL, NULL))
    {
        free(big);
        return;
    }

    REQUIRE_OK(natsOptions_Create(&opts));
    CHECK_OK(natsOptions_SetURL(opts, srv.url));
    CHECK_OK(natsOptions_SetReconnectWait(opts, 50));
    CHECK_OK(natsOptions_SetMaxReconnect(opts, -1));
    CHECK_OK(natsOptions_SetReconnectBufSize(opts, 1024));
    CHECK_OK(ev_install(opts, &r));
    REQUIRE_OK(natsConnection_Connect(&nc, opts));
    /* A second connection, same options, other callbacks. */
    CHECK_OK(ev_install(opts, &r2));
    REQUIRE_OK(natsConnection_Connect(&nc2, opts));
    natsOptions_Destroy(opts);

    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "rc.buf"));
    REQUIRE_OK(natsConnection_SubscribeSync(&sub2, nc2, "rc.buf.big"));
    CHECK_OK(natsConnection_Flush(nc));
    CHECK_OK(natsConnection_Flush(nc2));

    h_server_stop(&srv);
    CHECK(ev_wait(&r, EV_DISCONNECTED, 1, 5000));
    CHECK(ev_wait(&r2, EV_DISCONNECTED, 1, 5000));

    /* "PUB rc.buf 100\r\n" + 100 bytes + "\r\n" = 118 bytes per message.
     * cnats accepts a message as long as the buffered bytes are below the
     * limit before adding it (it may go over by one message): 8 x 118 = 944
     * < 1024, so the 9th is accepted (1062 bytes), the 10th is refused. */
    for (i = 0; i < 100; i++)
    {
        s = natsConnection_PublishString(nc, "rc.buf", payload);
        if (s != NATS_OK)
            break;
        ok++;
    }
    printf("reconnect buffer: %d message(s) of 100 bytes accepted, then %d (%s)\n",
           ok, (int) s, natsStatus_GetText(s));
    CHECK_STATUS(s, NATS_INSUFFICIENT_BUFFER);
    CHECK_INT(ok, 9);
    /* Still full: it keeps failing, and the connection keeps reconnecting. */
    CHECK_STATUS(natsConnection_PublishString(nc, "rc.buf", payload), NATS_INSUFFICIENT_BUFFER);
    CHECK(natsConnection_IsReconnecting(nc));
    CHECK(!natsConnection_IsClosed(nc));

    /* Same rule: a message larger than the whole buffer is accepted while the
     * buffer is empty; then the buffer is over the limit. */
    CHECK_OK(natsConnection_PublishString(nc2, "rc.buf.big", big));
    CHECK_STATUS(natsConnection_PublishString(nc2, "rc.buf.big", "small"), NATS_INSUFFICIENT_BUFFER);

    /* After reconnect, exactly the accepted messages are delivered. */
    CHECK(h_server_restart(&srv));
    CHECK(ev_wait(&r, EV_RECONNECTED, 1, 10000));
    CHECK(ev_wait(&r2, EV_RECONNECTED, 1, 10000));
    CHECK_OK(natsConnection_Flush(nc));
    CHECK_OK(natsConnection_Flush(nc2));
    for (i = 0; i < ok; i++)
    {
        if (!expect_msg(sub, payload, 5000))
            break;
    }
    expect_no_msg(sub, 200);
    {
        natsMsg *msg = NULL;

        if (CHECK_OK(natsSubscription_NextMsg(&msg, sub2, 5000)))
        {
            if (CHECK_INT(natsMsg_GetDataLength(msg), 2000))
                CHECK(memcmp(natsMsg_GetData(msg), big, 2000) == 0);
        }
        natsMsg_Destroy(msg);
    }
    expect_no_msg(sub2, 50);

    /* And publishing works normally again. */
    CHECK_OK(natsConnection_PublishString(nc, "rc.buf", "again"));
    expect_msg(sub, "again", 5000);

    natsSubscription_Destroy(sub);
    natsSubscription_Destroy(sub2);
    destroy_conn(nc, &r);
    destroy_conn(nc2, &r2);
    h_server_destroy(&srv);
    ev_destroy(&r);
    ev_destroy(&r2);
    free(big);
}

/* ---------------------------------------------------------------------- */
/* 6. Forced reconnect                                                    */
/* ---------------------------------------------------------------------- */

#if HAVE_NATS_3_13
static void
test_forced_reconnect(void)
{
    natsOptions         *opts = NULL;
    natsConnection      *nc   = NULL;
    natsSubscription    *sub  = NULL;
    static evRec        r;     /* static: callbacks may outlive the frame on failure */
    const evType        seq[] = { EV_DISCONNECTED, EV_RECONNECTED, EV_NONE };

    ev_init(&r, false);
    REQUIRE_OK(natsOptions_Create(&opts));
    CHECK_OK(natsOptions_SetURL(opts, h_url()));
    CHECK_OK(natsOptions_SetReconnectWait(opts, 50));
    CHECK_OK(ev_install(opts, &r));
    REQUIRE_OK(natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);
    ev_set_conn(&r, nc);

    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "rc.forced"));
    CHECK_OK(natsConnection_Flush(nc));

    CHECK_OK(natsConnection_Reconnect(nc));
    CHECK(ev_wait(&r, EV_DISCONNECTED, 1, 5000));
    CHECK(ev_wait(&r, EV_RECONNECTED, 1, 5000));
    CHECK_INT(natsConnection_Status(nc), NATS_CONN_STATUS_CONNECTED);

    CHECK_OK(natsConnection_PublishString(nc, "rc.forced", "after"));
    expect_msg(sub, "after", 5000);
    expect_no_msg(sub, 100);
    CHECK_INT(get_reconnects(nc), 1);
    CHECK_INT(ev_count(&r, EV_DISCONNECTED), 1);
    CHECK_INT(ev_count(&r, EV_RECONNECTED), 1);
    ev_check_sequence(&r, seq, NULL, "forced");
    ev_check_one_library_thread(&r);

    natsSubscription_Destroy(sub);
    destroy_conn(nc, &r);
    ev_destroy(&r);
}
#endif

/* ---------------------------------------------------------------------- */
/* 7. Lame duck mode                                                      */
/* ---------------------------------------------------------------------- */

static bool
send_ldm(h_server *srv)
{
    char    cmd[512];
    int     rc;

    if (srv->pid <= 0)
        return false;
    snprintf(cmd, sizeof(cmd), "\"%s\" --signal ldm=%d >> \"%s\" 2>&1",
             h_server_bin(), (int) srv->pid, srv->log);
    fflush(stdout);
    fflush(stderr);
    rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "'%s' returned %d\n", cmd, rc);
    return (rc == 0);
}

static void
test_lame_duck_mode(void)
{
    /* The server waits lame_duck_grace_period before evicting clients
     * (lame_duck_duration must be >= 30s, but with one client the eviction
     * is immediate after the grace period). */
    const char *ldmConfig =
        "lame_duck_duration: \"30s\"\n"
        "lame_duck_grace_period: \"300ms\"\n";
    h_server            a, b;
    int                 ca = h_free_port(), cb = h_free_port();
    natsOptions         *opts = NULL;
    natsConnection      *nc   = NULL;
    natsSubscription    *sub  = NULL;
    static evRec        r;     /* static: callbacks may outlive the frame on failure */
    char                url[128];
    const char          *servers[2];
    const evType        seq[] = { EV_LAME_DUCK, EV_DISCONNECTED, EV_RECONNECTED, EV_NONE };
    bool                skip[EV_COUNT];

    ev_init(&r, false);
    memset(&b, 0, sizeof(b));
    memset(skip, 0, sizeof(skip));
    skip[EV_DISCOVERED] = true;
    REQUIRE(start_node(&a, "rc_ldm", ca, 0, ldmConfig));
    if (!start_node(&b, "rc_ldm", cb, ca, NULL))
    {
        h_server_destroy(&a);
        return;
    }

    servers[0] = a.url;
    servers[1] = b.url;
    REQUIRE_OK(natsOptions_Create(&opts));
    CHECK_OK(natsOptions_SetServers(opts, servers, 2));
    CHECK_OK(natsOptions_SetNoRandomize(opts, true));
    CHECK_OK(natsOptions_SetReconnectWait(opts, 50));
    CHECK_OK(natsOptions_SetMaxReconnect(opts, -1));
    CHECK_OK(ev_install(opts, &r));
    CHECK_OK(natsOptions_SetDiscoveredServersCB(opts, _onDiscovered, &r));
    CHECK_OK(natsOptions_SetLameDuckModeCB(opts, _onLameDuck, &r));
    REQUIRE_OK(natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);
    ev_set_conn(&r, nc);

    CHECK_OK(natsConnection_GetConnectedUrl(nc, url, sizeof(url)));
    CHECK_STR(url, a.url);
    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "rc.ldm"));
    CHECK_OK(natsConnection_Flush(nc));

    CHECK(send_ldm(&a));
    CHECK(ev_wait(&r, EV_LAME_DUCK, 1, 5000));
    /* After the grace period, the server evicts the client and exits: the
     * client moves on to the other server. */
    CHECK(ev_wait(&r, EV_DISCONNECTED, 1, 10000));
    CHECK(ev_wait(&r, EV_RECONNECTED, 1, 10000));
    CHECK_INT(natsConnection_Status(nc), NATS_CONN_STATUS_CONNECTED);
    CHECK_OK(natsConnection_GetConnectedUrl(nc, url, sizeof(url)));
    CHECK_STR(url, b.url);
    CHECK_OK(natsConnection_PublishString(nc, "rc.ldm", "moved"));
    expect_msg(sub, "moved", 5000);

    CHECK_INT(ev_count(&r, EV_LAME_DUCK), 1);
    ev_check_sequence(&r, seq, skip, "lame duck");
    ev_check_one_library_thread(&r);
    pthread_mutex_lock(&r.w.mu);
    CHECK(!r.wrongConn);
    pthread_mutex_unlock(&r.w.mu);

    natsSubscription_Destroy(sub);
    destroy_conn(nc, &r);
    h_server_destroy(&a);
    h_server_destroy(&b);
    ev_destroy(&r);
}

/* ---------------------------------------------------------------------- */
/* 8. Stale connection detection                                          */
/* ---------------------------------------------------------------------- */

static void
test_stale_connection(void)
{
    h_server            srv;
    natsOptions         *opts = NULL;
    natsConnection      *nc   = NULL;
    natsSubscription    *sub  = NULL;
    static evRec        r;     /* static: callbacks may outlive the frame on failure */
    int64_t             start, elapsed;
    bool                disc;

    ev_init(&r, false);
    REQUIRE(h_server_start(&srv, NULL, NULL));

    REQUIRE_OK(natsOptions_Create(&opts));
    CHECK_OK(natsOptions_SetURL(opts, srv.url));
    CHECK_OK(natsOptions_SetPingInterval(opts, 100));
    CHECK_OK(natsOptions_SetMaxPingsOut(opts, 2));
    CHECK_OK(natsOptions_SetReconnectWait(opts, 50));
    CHECK_OK(natsOptions_SetMaxReconnect(opts, -1));
    CHECK_OK(ev_install(opts, &r));
    REQUIRE_OK(natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);
    ev_set_conn(&r, nc);
    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "rc.stale"));
    CHECK_OK(natsConnection_Flush(nc));

    /* Pings keep flowing while the server is healthy. */
    h_sleep_ms(350);
    CHECK_INT(ev_count(&r, EV_DISCONNECTED), 0);

    /* The server freezes: no more PONGs. */
    start = h_now_ms();
    REQUIRE(kill(srv.pid, SIGSTOP) == 0);
    disc = ev_wait(&r, EV_DISCONNECTED, 1, 3000);
    elapsed = h_now_ms() - start;
    CHECK(disc);
    /* 100 ms ping interval, 2 pings out: detected after ~300 ms. */
    CHECK(elapsed < 1500);
    printf("stale connection detected after %lld ms\n", (long long) elapsed);
    CHECK(natsConnection_IsReconnecting(nc));

    kill(srv.pid, SIGCONT);
    /* The server is back: the client reconnects to it. */
    CHECK(ev_wait(&r, EV_RECONNECTED, 1, 10000));
    CHECK_OK(natsConnection_PublishString(nc, "rc.stale", "alive"));
    expect_msg(sub, "alive", 5000);

    natsSubscription_Destroy(sub);
    destroy_conn(nc, &r);
    h_server_destroy(&srv);
    ev_destroy(&r);
}

/* ---------------------------------------------------------------------- */
/* 9. Closed callback exactly once when Close/Destroy race a reconnect     */
/* ---------------------------------------------------------------------- */

#define RACE_CONNS 9

static evRec race[RACE_CONNS];

static void
test_close_destroy_race_reconnect(void)
{
    h_server        srv;
    natsOptions     *opts = NULL;
    natsConnection  *nc[RACE_CONNS];
    int             i;
    int64_t         t0;
    bool            allDisc = true;

    memset(nc, 0, sizeof(nc));
    REQUIRE(h_server_start(&srv, NULL, NULL));

    for (i = 0; i < RACE_CONNS; i++)
    {
        ev_init(&race[i], false);
        REQUIRE_OK(natsOptions_Create(&opts));
        CHECK_OK(natsOptions_SetURL(opts, srv.url));
        /* ~5 x 20 ms of failing reconnect attempts, then closed by the library. */
        CHECK_OK(natsOptions_SetMaxReconnect(opts, 5));
        CHECK_OK(natsOptions_SetReconnectWait(opts, 20));
        CHECK_OK(ev_install(opts, &race[i]));
        CHECK_OK(natsConnection_Connect(&nc[i], opts));
        natsOptions_Destroy(opts);
        opts = NULL;
        if (nc[i] != NULL)
            ev_set_conn(&race[i], nc[i]);
    }

    h_server_stop(&srv);
    for (i = 0; i < RACE_CONNS; i++)
        if ((nc[i] != NULL) && !ev_wait(&race[i], EV_DISCONNECTED, 1, 5000))
            allDisc = false;
    CHECK(allDisc);

    /* Close / Destroy at staggered times: some while reconnect attempts run,
     * some after the library gave up and closed the connection itself.
     *   i % 3 == 0: Close then Destroy right away;
     *   i % 3 == 1: Close, wait for the closed callback, then Destroy;
     *   i % 3 == 2: Destroy only. */
    t0 = h_now_ms();
    for (i = 0; i < RACE_CONNS; i++)
    {
        int64_t when = t0 + (int64_t) i * 20;

        if (nc[i] == NULL)
            continue;
        while (h_now_ms() < when)
            h_sleep_ms(1);
        switch (i % 3)
        {
            case 0:
                natsConnection_Close(nc[i]);
                CHECK(natsConnection_IsClosed(nc[i]));
                natsConnection_Destroy(nc[i]);
                break;
            case 1:
                natsConnection_Close(nc[i]);
                CHECK(natsConnection_IsClosed(nc[i]));
                CHECK(ev_wait(&race[i], EV_CLOSED, 1, 5000));
                natsConnection_Destroy(nc[i]);
                ev_set_destroyed(&race[i]);
                break;
            default:
                natsConnection_Destroy(nc[i]);
                break;
        }
        nc[i] = NULL;
    }

    /* Let any queued event be delivered, then count. */
    for (i = 0; i < RACE_CONNS; i++)
        CHECK(ev_wait(&race[i], EV_CLOSED, 1, 5000));
    h_sleep_ms(200);
    for (i = 0; i < RACE_CONNS; i++)
    {
        bool ok;

        pthread_mutex_lock(&race[i].w.mu);
        ok = CHECK_INT(race[i].counts[EV_CLOSED], 1);
        ok = CHECK_INT(race[i].counts[EV_DISCONNECTED], 1) && ok;
        ok = CHECK_INT(race[i].counts[EV_RECONNECTED], 0) && ok;
        ok = CHECK_INT(race[i].late, 0) && ok;
        ok = CHECK(!race[i].wrongConn) && ok;
        ok = CHECK(!race[i].onMain) && ok;
        pthread_mutex_unlock(&race[i].w.mu);
        if (!ok)
        {
            fprintf(stderr, "race connection #%d (mode %d)\n", i, i % 3);
            ev_print(&race[i], "race");
        }
    }
    for (i = 0; i < RACE_CONNS; i++)
        ev_destroy(&race[i]);
    h_server_destroy(&srv);
}

/* ---------------------------------------------------------------------- */
/* 10. Event ordering: all events of a connection on one library thread   */
/* ---------------------------------------------------------------------- */

static void
test_event_order_one_thread(void)
{
    h_server            a, b;
    int                 ca = h_free_port(), cb = h_free_port();
    natsOptions         *opts = NULL;
    natsConnection      *nc   = NULL;
    static evRec        r;     /* static: callbacks may outlive the frame on failure */
    char                url[128];
    const evType        seq[] = { EV_DISCONNECTED, EV_RECONNECTED, EV_DISCONNECTED, EV_CLOSED, EV_NONE };
    bool                skip[EV_COUNT];
    int                 firstDisc = -1, firstDiscovered = -1, i;

    ev_init(&r, false);
    memset(&b, 0, sizeof(b));
    memset(skip, 0, sizeof(skip));
    skip[EV_DISCOVERED] = true;
    REQUIRE(start_node(&a, "rc_order", ca, 0, NULL));

    REQUIRE_OK(natsOptions_Create(&opts));
    CHECK_OK(natsOptions_SetURL(opts, a.url));
    CHECK_OK(natsOptions_SetReconnectWait(opts, 50));
    CHECK_OK(natsOptions_SetMaxReconnect(opts, -1));
    CHECK_OK(ev_install(opts, &r));
    CHECK_OK(natsOptions_SetDiscoveredServersCB(opts, _onDiscovered, &r));
    CHECK_OK(natsOptions_SetLameDuckModeCB(opts, _onLameDuck, &r));
    REQUIRE_OK(natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);
    ev_set_conn(&r, nc);

    /* discovered (B joins), disconnected + reconnected (A dies, failover
     * to B), disconnected + closed (Close). */
    CHECK(start_node(&b, "rc_order", cb, ca, NULL));
    CHECK(ev_wait(&r, EV_DISCOVERED, 1, 10000));
    srv_crash(&a);
    CHECK(ev_wait(&r, EV_RECONNECTED, 1, 10000));
    CHECK_OK(natsConnection_GetConnectedUrl(nc, url, sizeof(url)));
    CHECK_STR(url, b.url);
    natsConnection_Close(nc);
    CHECK(ev_wait(&r, EV_CLOSED, 1, 5000));
    natsConnection_Destroy(nc);
    ev_set_destroyed(&r);
    h_sleep_ms(100);

    ev_check_sequence(&r, seq, skip, "order");
    ev_check_one_library_thread(&r);
    pthread_mutex_lock(&r.w.mu);
    for (i = 0; i < r.n; i++)
    {
        if ((r.ev[i] == EV_DISCONNECTED) && (firstDisc < 0))
            firstDisc = i;
        if ((r.ev[i] == EV_DISCOVERED) && (firstDiscovered < 0))
            firstDiscovered = i;
    }
    CHECK((firstDiscovered >= 0) && (firstDiscovered < firstDisc));
    CHECK_INT(r.counts[EV_LAME_DUCK], 0);
    CHECK_INT(r.late, 0);
    CHECK(!r.wrongConn);
    pthread_mutex_unlock(&r.w.mu);

    h_server_destroy(&a);
    h_server_destroy(&b);
    ev_destroy(&r);
}

int
main(void)
{
    /* Killed/stopped servers must not kill the test through SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    mainThread = pthread_self();
    if (!h_default_server_start())
        return h_finish();

    RUN_TEST(test_restart_single_server);
    RUN_TEST(test_cluster_discovery_and_failover);
    RUN_TEST(test_max_reconnect_exhausted);
    RUN_TEST(test_last_error_text_readable_while_errors_change);
    RUN_TEST(test_reconnect_wait_between_attempts);
    RUN_TEST(test_retry_on_failed_connect_async);
    RUN_TEST(test_retry_on_failed_connect_blocking);
    RUN_TEST(test_reconnect_buffer_overflow);
#if HAVE_NATS_3_13
    RUN_TEST(test_forced_reconnect);
#endif
    RUN_TEST(test_lame_duck_mode);
    RUN_TEST(test_stale_connection);
    RUN_TEST(test_close_destroy_race_reconnect);
    RUN_TEST(test_event_order_one_thread);
    return h_finish();
}
