/* Sends requests and prints the replies.
 *
 *   requestor [-s url] [-subj foo] [-txt hello] [-count 1] [-timeout 2000]
 */
#include "examples.h"

static const char *usage =
    "-subj <subject>    subject to send the requests to (default: foo)\n"
    "-txt <text>        request payload (default: hello)\n"
    "-count <n>         number of requests (default: 1)\n"
    "-timeout <ms>      how long to wait for each reply (default: 2000)\n";

int
main(int argc, char **argv)
{
    exampleArgs     args = { .subj = "foo", .txt = "hello", .count = 1, .timeout = 2000 };
    natsOptions     *opts = NULL;
    natsConnection  *nc   = NULL;
    natsStatus      s     = NATS_OK;
    int64_t         i;

    exitOnError(parseArgs(argc, argv, usage, &args, &opts), "parsing arguments");

    printf("Connecting to %s\n", args.urls);
    exitOnError(natsConnection_Connect(&nc, opts), "connecting");

    printf("Sending %" PRId64 " request(s) to '%s'\n", args.count, args.subj);
    for (i = 0; (s == NATS_OK) && (i < args.count); i++)
    {
        natsMsg *reply = NULL;

        s = natsConnection_RequestString(&reply, nc, args.subj, args.txt, args.timeout);
        if (s == NATS_OK)
        {
            printf("Received reply: %s - %.*s\n", natsMsg_GetSubject(reply),
                   natsMsg_GetDataLength(reply), natsMsg_GetData(reply));
            natsMsg_Destroy(reply);
        }
        else if (s == NATS_NO_RESPONDERS)
            printf("No responders on '%s'\n", args.subj);
        else if (s == NATS_TIMEOUT)
            printf("No reply within %" PRId64 " ms\n", args.timeout);
    }
    if ((s != NATS_NO_RESPONDERS) && (s != NATS_TIMEOUT))
        exitOnError(s, "requesting");
    printStats(nc);

    natsConnection_Destroy(nc);
    natsOptions_Destroy(opts);
    nats_CloseAndWait(0);
    return (s == NATS_OK ? 0 : 1);
}
