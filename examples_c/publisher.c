/* Publishes messages on a subject.
 *
 *   publisher [-s url] [-subj foo] [-txt hello] [-count 1]
 */
#include "examples.h"

static const char *usage =
    "-subj <subject>    subject to publish on (default: foo)\n"
    "-txt <text>        payload (default: hello)\n"
    "-count <n>         number of messages (default: 1)\n"
    "-interval <ms>     pause between two messages (default: 0)\n";

int
main(int argc, char **argv)
{
    exampleArgs     args = { .subj = "foo", .txt = "hello", .count = 1 };
    natsOptions     *opts = NULL;
    natsConnection  *nc   = NULL;
    natsStatus      s;
    int64_t         i, start, elapsed;

    exitOnError(parseArgs(argc, argv, usage, &args, &opts), "parsing arguments");

    printf("Connecting to %s\n", args.urls);
    exitOnError(natsConnection_Connect(&nc, opts), "connecting");

    printf("Publishing %" PRId64 " message(s) on '%s' with payload '%s'\n",
           args.count, args.subj, args.txt);
    start = nats_Now();
    for (i = 0, s = NATS_OK; (s == NATS_OK) && (i < args.count); i++)
    {
        if ((i > 0) && (args.interval > 0))
            nats_Sleep(args.interval);
        s = natsConnection_PublishString(nc, args.subj, args.txt);
    }
    exitOnError(s, "publishing");

    /* Publish calls are buffered: flush to make sure the server got them all. */
    exitOnError(natsConnection_FlushTimeout(nc, 5000), "flushing");
    elapsed = nats_Now() - start;

    printf("Published %" PRId64 " message(s) in %" PRId64 " ms\n", args.count, elapsed);
    printStats(nc);

    natsConnection_Destroy(nc);
    natsOptions_Destroy(opts);
    nats_CloseAndWait(0);
    return 0;
}
