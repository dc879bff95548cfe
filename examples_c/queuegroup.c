/* Queue group demo: several subscribers join the same queue group; each
 * published message is delivered to exactly one of them.
 *
 *   queuegroup [-s url] [-subj foo] [-queue workers] [-count 30]
 */
#include "examples.h"

#define MEMBERS 3

static const char *usage =
    "-subj <subject>    subject (default: foo)\n"
    "-queue <group>     queue group name (default: workers)\n"
    "-count <n>         number of messages to publish (default: 30)\n"
    "-timeout <ms>      how long to wait for the messages (default: 5000)\n"
    "-print             print each message\n";

typedef struct
{
    int             id;
    exampleCounter  received;
} member;

static exampleCounter   total;
static bool             printMsgs = false;

static void
onMsg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    member *m = (member*) closure;

    (void) nc; (void) sub;
    if (printMsgs)
        printf("Member %d received: %.*s\n", m->id, natsMsg_GetDataLength(msg), natsMsg_GetData(msg));
    natsMsg_Destroy(msg);
    counterAdd(&m->received, 1);
    counterAdd(&total, 1);
}

int
main(int argc, char **argv)
{
    exampleArgs         args = { .subj = "foo", .queue = "workers", .count = 30, .timeout = 5000 };
    natsOptions         *opts = NULL;
    natsConnection      *pub  = NULL;
    natsConnection      *conns[MEMBERS];
    natsSubscription    *subs[MEMBERS];
    member              members[MEMBERS];
    char                buf[64];
    int64_t             i, sum = 0;
    int                 m;
    bool                ok;

    exitOnError(parseArgs(argc, argv, usage, &args, &opts), "parsing arguments");
    printMsgs = args.print;
    counterInit(&total);

    printf("Connecting %d queue subscribers to %s\n", MEMBERS, args.urls);
    for (m = 0; m < MEMBERS; m++)
    {
        members[m].id = m + 1;
        counterInit(&members[m].received);
        exitOnError(natsConnection_Connect(&conns[m], opts), "connecting");
        exitOnError(natsConnection_QueueSubscribe(&subs[m], conns[m], args.subj, args.queue,
                                                  onMsg, &members[m]), "subscribing");
        exitOnError(natsConnection_Flush(conns[m]), "flushing");
    }
    printf("%d members joined queue group '%s' on '%s'\n", MEMBERS, args.queue, args.subj);

    exitOnError(natsConnection_Connect(&pub, opts), "connecting");
    printf("Publishing %" PRId64 " messages\n", args.count);
    for (i = 0; i < args.count; i++)
    {
        snprintf(buf, sizeof(buf), "job #%" PRId64, i + 1);
        exitOnError(natsConnection_PublishString(pub, args.subj, buf), "publishing");
    }
    exitOnError(natsConnection_Flush(pub), "flushing");

    ok = counterWait(&total, args.count, args.timeout);
    for (m = 0; m < MEMBERS; m++)
    {
        int64_t n = counterGet(&members[m].received);

        printf("Member %d received %" PRId64 " message(s)\n", members[m].id, n);
        sum += n;
    }
    printf("Total: %" PRId64 " of %" PRId64 " (each message delivered once)\n", sum, args.count);

    for (m = 0; m < MEMBERS; m++)
    {
        natsSubscription_Destroy(subs[m]);
        natsConnection_Destroy(conns[m]);
        counterDestroy(&members[m].received);
    }
    natsConnection_Destroy(pub);
    natsOptions_Destroy(opts);
    counterDestroy(&total);
    nats_CloseAndWait(0);

    return ((ok && (sum == args.count)) ? 0 : 1);
}
