/* Answers requests: the reply is "reply: <request payload>" or -txt.
 * Exits after -count requests, or when none arrives for -timeout ms.
 *
 *   replier [-s url] [-subj foo] [-queue grp] [-txt text] [-count 1] [-timeout 10000]
 */
#include "examples.h"

static const char *usage =
    "-subj <subject>    subject to listen on (default: foo)\n"
    "-queue <group>     join this queue group (to load balance between repliers)\n"
    "-txt <text>        fixed reply payload (default: echo the request)\n"
    "-count <n>         number of requests to answer before exiting (default: 1)\n"
    "-timeout <ms>      give up after this long without requests (default: 10000)\n";

static exampleCounter   answered;
static const char       *fixedReply = NULL;
static bool             printMsgs   = true;

static void
onRequest(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    char        buf[512];
    const char  *reply = natsMsg_GetReply(msg);
    natsMsg     *resp  = NULL;
    natsStatus  s;

    (void) sub; (void) closure;

    if (printMsgs)
        printf("Received request: %s - %.*s\n", natsMsg_GetSubject(msg),
               natsMsg_GetDataLength(msg), natsMsg_GetData(msg));
    if (reply == NULL)
    {
        printf("  (no reply subject, ignoring)\n");
        natsMsg_Destroy(msg);
        return;
    }
    if (fixedReply != NULL)
        snprintf(buf, sizeof(buf), "%s", fixedReply);
    else
        snprintf(buf, sizeof(buf), "reply: %.*s", natsMsg_GetDataLength(msg), natsMsg_GetData(msg));

    /* Build the reply as a message addressed to the request's reply subject. */
    s = natsMsg_Create(&resp, reply, NULL, buf, (int) strlen(buf));
    if (s == NATS_OK)
        s = natsConnection_PublishMsg(nc, resp);
    if (s == NATS_OK)
        s = natsConnection_Flush(nc);
    if (s != NATS_OK)
        printf("  error replying: %s\n", natsStatus_GetText(s));
    natsMsg_Destroy(resp);
    natsMsg_Destroy(msg);
    counterAdd(&answered, 1);
}

int
main(int argc, char **argv)
{
    exampleArgs         args = { .subj = "foo", .count = 1, .timeout = 10000, .print = true };
    natsOptions         *opts = NULL;
    natsConnection      *nc   = NULL;
    natsSubscription    *sub  = NULL;
    natsStatus          s;
    bool                done;

    exitOnError(parseArgs(argc, argv, usage, &args, &opts), "parsing arguments");
    fixedReply = args.txt;
    printMsgs  = args.print;
    counterInit(&answered);

    printf("Connecting to %s\n", args.urls);
    exitOnError(natsConnection_Connect(&nc, opts), "connecting");

    if (args.queue != NULL)
        s = natsConnection_QueueSubscribe(&sub, nc, args.subj, args.queue, onRequest, NULL);
    else
        s = natsConnection_Subscribe(&sub, nc, args.subj, onRequest, NULL);
    exitOnError(s, "subscribing");
    exitOnError(natsConnection_Flush(nc), "flushing");
    printf("Listening for requests on '%s'\n", args.subj);
    fflush(stdout);

    for (;;)
    {
        int64_t before = counterGet(&answered);

        done = counterWait(&answered, args.count, args.timeout);
        if (done || (counterGet(&answered) == before))
            break;
    }
    printf("Answered %" PRId64 " request(s)\n", counterGet(&answered));

    /* Drain: stop receiving, but finish the requests already received. */
    natsSubscription_Drain(sub);
    natsSubscription_WaitForDrainCompletion(sub, 5000);

    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(opts);
    counterDestroy(&answered);
    nats_CloseAndWait(0);

    if (!done)
    {
        printf("Timed out after %" PRId64 " ms without requests\n", args.timeout);
        return 1;
    }
    return 0;
}
