/* Receives messages on a subject (wildcards allowed), asynchronously by
 * default or synchronously with -sync, optionally as part of a queue group.
 * Exits after -count messages, or when no message arrives for -timeout ms.
 *
 *   subscriber [-s url] [-subj foo] [-count 1] [-queue grp] [-sync] [-timeout 10000]
 */
#include "examples.h"

static const char *usage =
    "-subj <subject>    subject to subscribe to (default: foo)\n"
    "-count <n>         number of messages to receive before exiting (default: 1)\n"
    "-queue <group>     join this queue group\n"
    "-sync              use a synchronous subscription\n"
    "-timeout <ms>      give up after this long without messages (default: 10000)\n"
    "-quiet             do not print messages\n";

static exampleCounter   received;
static bool             printMsgs = true;

static void
onMsg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void) nc; (void) sub; (void) closure;

    if (printMsgs)
        printf("Received msg: %s - %.*s\n",
               natsMsg_GetSubject(msg), natsMsg_GetDataLength(msg), natsMsg_GetData(msg));
    /* The handler owns the message. */
    natsMsg_Destroy(msg);
    counterAdd(&received, 1);
}

int
main(int argc, char **argv)
{
    exampleArgs         args = { .subj = "foo", .count = 1, .timeout = 10000, .print = true };
    natsOptions         *opts = NULL;
    natsConnection      *nc   = NULL;
    natsSubscription    *sub  = NULL;
    natsStatus          s     = NATS_OK;
    int64_t             count = 0;
    int64_t             dropped = 0;

    exitOnError(parseArgs(argc, argv, usage, &args, &opts), "parsing arguments");
    printMsgs = args.print;
    counterInit(&received);

    printf("Connecting to %s\n", args.urls);
    exitOnError(natsConnection_Connect(&nc, opts), "connecting");

    printf("Listening %ssynchronously on '%s'%s%s%s\n",
           (args.sync ? "" : "a"), args.subj,
           (args.queue != NULL ? " (queue group '" : ""),
           (args.queue != NULL ? args.queue : ""),
           (args.queue != NULL ? "')" : ""));

    if (args.sync)
    {
        if (args.queue != NULL)
            s = natsConnection_QueueSubscribeSync(&sub, nc, args.subj, args.queue);
        else
            s = natsConnection_SubscribeSync(&sub, nc, args.subj);
    }
    else
    {
        if (args.queue != NULL)
            s = natsConnection_QueueSubscribe(&sub, nc, args.subj, args.queue, onMsg, NULL);
        else
            s = natsConnection_Subscribe(&sub, nc, args.subj, onMsg, NULL);
    }
    exitOnError(s, "subscribing");
    /* Make sure the server has registered the interest before announcing it. */
    exitOnError(natsConnection_Flush(nc), "flushing");
    printf("Ready to receive %" PRId64 " message(s)\n", args.count);
    fflush(stdout);

    if (args.sync)
    {
        while ((s == NATS_OK) && (count < args.count))
        {
            natsMsg *msg = NULL;

            s = natsSubscription_NextMsg(&msg, sub, args.timeout);
            if (s == NATS_OK)
            {
                if (args.print)
                    printf("Received msg: %s - %.*s\n",
                           natsMsg_GetSubject(msg), natsMsg_GetDataLength(msg), natsMsg_GetData(msg));
                natsMsg_Destroy(msg);
                count++;
            }
        }
    }
    else
    {
        /* Wait for the messages, as long as they keep coming. */
        for (;;)
        {
            int64_t before = counterGet(&received);

            if (counterWait(&received, args.count, args.timeout))
                break;
            if (counterGet(&received) == before)
            {
                s = NATS_TIMEOUT;
                break;
            }
        }
        count = counterGet(&received);
    }

    natsSubscription_GetDropped(sub, &dropped);
    printf("Received %" PRId64 " message(s), dropped %" PRId64 "\n", count, dropped);
    printStats(nc);

    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(opts);
    counterDestroy(&received);
    nats_CloseAndWait(0);

    if (count < args.count)
    {
        printf("Timed out after %" PRId64 " ms without messages\n", args.timeout);
        return 1;
    }
    return 0;
}
