/* Connection events demo: connects with disconnected / reconnected / closed
 * callbacks and an error handler that print each event, subscribes, publishes
 * a few messages, prints the received ones, then closes the connection.
 *
 * Use -interval to space the messages out (and -timeout to keep running
 * afterwards) while you stop and restart the server, to see the disconnected
 * and reconnected events. Messages published while the library reconnects are
 * buffered and sent once reconnected.
 *
 *   connevents [-s url] [-subj events.demo] [-count 3] [-interval 0] [-timeout 0]
 */
#include "examples.h"

static const char *usage =
    "-subj <subject>    subject used for the demo (default: events.demo)\n"
    "-count <n>         number of messages to publish (default: 3)\n"
    "-interval <ms>     pause between two messages (default: 0)\n"
    "-timeout <ms>      keep running (publishing every second) this long after the demo (default: 0)\n";

static exampleCounter disconnects;
static exampleCounter received;
static exampleCounter closedEvents;

static void
onDisconnected(natsConnection *nc, void *closure)
{
    (void) nc; (void) closure;
    printf("[event] disconnected\n");
    fflush(stdout);
    counterAdd(&disconnects, 1);
}

static void
onReconnected(natsConnection *nc, void *closure)
{
    char url[256];

    (void) closure;
    if (natsConnection_GetConnectedUrl(nc, url, sizeof(url)) != NATS_OK)
        url[0] = '\0';
    printf("[event] reconnected to %s\n", url);
    fflush(stdout);
}

static void
onClosed(natsConnection *nc, void *closure)
{
    (void) nc; (void) closure;
    printf("[event] connection closed\n");
    fflush(stdout);
    counterAdd(&closedEvents, 1);
}

static void
onError(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    (void) nc; (void) closure;
    printf("[event] error: %u - %s%s\n", (unsigned) err, natsStatus_GetText(err),
           (sub != NULL ? " (on a subscription)" : ""));
    fflush(stdout);
}

static void
onMsg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void) nc; (void) sub; (void) closure;
    printf("[msg] %s: %.*s\n", natsMsg_GetSubject(msg), natsMsg_GetDataLength(msg), natsMsg_GetData(msg));
    fflush(stdout);
    natsMsg_Destroy(msg);
    counterAdd(&received, 1);
}

static void
publishOne(natsConnection *nc, const char *subj, int64_t n)
{
    char        buf[64];
    natsStatus  s;

    snprintf(buf, sizeof(buf), "message %" PRId64, n);
    s = natsConnection_PublishString(nc, subj, buf);
    if (s == NATS_OK)
        printf("Published '%s'%s\n", buf,
               (natsConnection_IsReconnecting(nc) ? " (buffered while reconnecting)" : ""));
    else
        printf("Could not publish '%s': %s\n", buf, natsStatus_GetText(s));
    fflush(stdout);
}

int
main(int argc, char **argv)
{
    exampleArgs         args = { .subj = "events.demo", .count = 3, .timeout = 0, .interval = 0 };
    natsOptions         *opts = NULL;
    natsConnection      *nc   = NULL;
    natsSubscription    *sub  = NULL;
    natsStatus          s     = NATS_OK;
    char                url[256];
    char                id[128];
    int64_t             i, sent = 0, got, lost, deadline;
    int                 attempt;

    exitOnError(parseArgs(argc, argv, usage, &args, &opts), "parsing arguments");
    counterInit(&received);
    counterInit(&closedEvents);
    counterInit(&disconnects);

    exitOnError(natsOptions_SetDisconnectedCB(opts, onDisconnected, NULL), "setting options");
    exitOnError(natsOptions_SetReconnectedCB(opts, onReconnected, NULL), "setting options");
    exitOnError(natsOptions_SetClosedCB(opts, onClosed, NULL), "setting options");
    exitOnError(natsOptions_SetErrorHandler(opts, onError, NULL), "setting options");
    exitOnError(natsOptions_SetMaxReconnect(opts, -1), "setting options");
    exitOnError(natsOptions_SetReconnectWait(opts, 250), "setting options");

    printf("Library version %s\n", nats_GetVersion());
    printf("Connecting to %s\n", args.urls);
    exitOnError(natsConnection_Connect(&nc, opts), "connecting");
    exitOnError(natsConnection_GetConnectedUrl(nc, url, sizeof(url)), "getting URL");
    exitOnError(natsConnection_GetConnectedServerId(nc, id, sizeof(id)), "getting server id");
    printf("Connected to %s (server %s), max payload %" PRId64 " bytes\n",
           url, id, natsConnection_GetMaxPayload(nc));

    exitOnError(natsConnection_Subscribe(&sub, nc, args.subj, onMsg, NULL), "subscribing");
    exitOnError(natsConnection_Flush(nc), "flushing");
    printf("Subscribed to '%s'\n", args.subj);
    fflush(stdout);

    for (i = 0; i < args.count; i++)
    {
        if ((i > 0) && (args.interval > 0))
            nats_Sleep(args.interval);
        publishOne(nc, args.subj, ++sent);
    }

    /* Make sure the server got everything. A flush fails if the connection is
     * lost meanwhile (it is not retried by the library), so try again. */
    for (attempt = 0; attempt < 5; attempt++)
    {
        s = natsConnection_FlushTimeout(nc, 2000);
        if (s == NATS_OK)
            break;
        printf("Flush: %s, retrying\n", natsStatus_GetText(s));
    }

    counterWait(&received, args.count, 10000);
    got = counterGet(&received);
    if (got >= args.count)
        printf("Received all %" PRId64 " message(s)\n", args.count);
    else
        printf("Received %" PRId64 " of %" PRId64 " message(s)\n", got, args.count);

    if (args.timeout > 0)
    {
        printf("Running for %" PRId64 " ms: stop/restart the server to see the events\n", args.timeout);
        fflush(stdout);
        deadline = nats_Now() + args.timeout;
        while (nats_Now() < deadline)
        {
            nats_Sleep(args.interval > 0 ? args.interval : 1000);
            publishOne(nc, args.subj, ++sent);
        }
    }

    /* Number of times the connection was lost (before closing it ourselves). */
    lost = counterGet(&disconnects);

    printStats(nc);
    printf("Closing the connection\n");
    fflush(stdout);
    natsConnection_Close(nc);
    /* The closed callback runs on a library thread: wait for it. */
    counterWait(&closedEvents, 1, 5000);

    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(opts);
    counterDestroy(&received);
    counterDestroy(&closedEvents);
    counterDestroy(&disconnects);
    nats_CloseAndWait(0);
    printf("Done\n");

    /* Core NATS delivery is at-most-once: a message in flight when the
     * connection to the server is lost may be lost. Only report a failure
     * if messages are missing although the connection was never lost. */
    if ((got < args.count) && (lost == 0))
        return 1;
    return 0;
}
