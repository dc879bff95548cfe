/*
 * Small helpers shared by the example programs: command line parsing (cnats
 * style flags), error reporting and a counter to wait for asynchronous events.
 *
 * Common options:
 *   -s, -url <urls>     server URL(s), comma separated (default nats://127.0.0.1:4222)
 *   -subj <subject>     subject (default depends on the example)
 *   -count <n>          number of messages/requests
 *   -txt <text>         message payload
 *   -queue <group>      queue group name (alias: -name)
 *   -timeout <ms>       how long to wait (default depends on the example)
 *   -interval <ms>      pause between two publications (default 0)
 *   -sync               use a synchronous subscription
 *   -print              print received messages (default for most examples)
 *   -quiet              do not print received messages
 *   -gd                 use the library's global message delivery thread pool
 *   -creds <file>       user credentials file
 *   -h, -help           show usage
 */
#ifndef NATS_EXAMPLES_H
#define NATS_EXAMPLES_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <errno.h>

#include <nats/nats.h>

#define EXAMPLE_DEFAULT_URL "nats://127.0.0.1:4222"

typedef struct
{
    const char  *urls;
    const char  *subj;
    const char  *txt;
    const char  *queue;
    const char  *creds;
    int64_t     count;
    int64_t     timeout;
    int64_t     interval;
    bool        sync;
    bool        print;
    bool        gd;
} exampleArgs;

/* Prints the failing operation, the status text and the library's last
 * error for this thread, then exits with status 1. */
static inline void
exitOnError(natsStatus s, const char *what)
{
    const char *txt;

    if (s == NATS_OK)
        return;
    fflush(stdout);
    txt = nats_GetLastError(NULL);
    fprintf(stderr, "Error: %s: %u - %s%s%s\n", what, (unsigned) s, natsStatus_GetText(s),
            (txt != NULL ? " - " : ""), (txt != NULL ? txt : ""));
    exit(1);
}

static inline void
printUsageAndExit(const char *prog, const char *usage, int code)
{
    printf("\nUsage: %s [options]\n\n"
           "The options are:\n\n"
           "-h, -help          show this help\n"
           "-s, -url <urls>    server URL(s), comma separated (default %s)\n"
           "-creds <file>      user credentials file\n"
           "-gd                use global message delivery\n"
           "%s\n",
           prog, EXAMPLE_DEFAULT_URL, usage);
    exit(code);
}

static inline const char*
_exampleNextArg(int *i, int argc, char **argv, const char *usage)
{
    if (*i + 1 >= argc)
    {
        printf("Missing value for option '%s'\n", argv[*i]);
        printUsageAndExit(argv[0], usage, 1);
    }
    (*i)++;
    return argv[*i];
}

static inline int64_t
_exampleNumber(const char *s, const char *opt)
{
    char        *end = NULL;
    long long   v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if ((errno != 0) || (end == s) || (*end != '\0') || (v < 0))
    {
        printf("Invalid value '%s' for option '%s'\n", s, opt);
        exit(1);
    }
    return (int64_t) v;
}

/* Splits "a,b,c" and calls natsOptions_SetServers(). */
static inline natsStatus
_exampleSetServers(natsOptions *opts, const char *urls)
{
    char        *copy = strdup(urls);
    const char  *list[64];
    int         count = 0;
    char        *p;
    natsStatus  s;

    if (copy == NULL)
        return NATS_NO_MEMORY;
    for (p = copy; (p != NULL) && (count < 64); )
    {
        char *comma = strchr(p, ',');

        if (comma != NULL)
            *comma = '\0';
        list[count++] = p;
        p = (comma != NULL ? comma + 1 : NULL);
    }
    s = natsOptions_SetServers(opts, list, count);
    free(copy);
    return s;
}

/*
 * Parses the command line into `args` (whose fields hold the example's
 * defaults on entry) and creates the connection options in `*newOpts`.
 */
static inline natsStatus
parseArgs(int argc, char **argv, const char *usage, exampleArgs *args, natsOptions **newOpts)
{
    natsOptions *opts = NULL;
    natsStatus  s;
    const char  *name;
    int         i;

    if (args->urls == NULL)
        args->urls = EXAMPLE_DEFAULT_URL;

    for (i = 1; i < argc; i++)
    {
        const char *a = argv[i];

        if ((strcasecmp(a, "-h") == 0) || (strcasecmp(a, "-help") == 0))
            printUsageAndExit(argv[0], usage, 0);
        else if ((strcasecmp(a, "-s") == 0) || (strcasecmp(a, "-url") == 0))
            args->urls = _exampleNextArg(&i, argc, argv, usage);
        else if (strcasecmp(a, "-subj") == 0)
            args->subj = _exampleNextArg(&i, argc, argv, usage);
        else if (strcasecmp(a, "-txt") == 0)
            args->txt = _exampleNextArg(&i, argc, argv, usage);
        else if ((strcasecmp(a, "-queue") == 0) || (strcasecmp(a, "-name") == 0))
            args->queue = _exampleNextArg(&i, argc, argv, usage);
        else if (strcasecmp(a, "-creds") == 0)
            args->creds = _exampleNextArg(&i, argc, argv, usage);
        else if (strcasecmp(a, "-count") == 0)
            args->count = _exampleNumber(_exampleNextArg(&i, argc, argv, usage), a);
        else if (strcasecmp(a, "-timeout") == 0)
            args->timeout = _exampleNumber(_exampleNextArg(&i, argc, argv, usage), a);
        else if (strcasecmp(a, "-interval") == 0)
            args->interval = _exampleNumber(_exampleNextArg(&i, argc, argv, usage), a);
        else if (strcasecmp(a, "-sync") == 0)
            args->sync = true;
        else if (strcasecmp(a, "-print") == 0)
            args->print = true;
        else if (strcasecmp(a, "-quiet") == 0)
            args->print = false;
        else if (strcasecmp(a, "-gd") == 0)
            args->gd = true;
        else
        {
            printf("Unknown option: '%s'\n", a);
            printUsageAndExit(argv[0], usage, 1);
        }
    }

    s = natsOptions_Create(&opts);
    if (s == NATS_OK)
        s = _exampleSetServers(opts, args->urls);
    /* Name the connection after the program (visible in the server's monitoring). */
    name = strrchr(argv[0], '/');
    name = (name != NULL ? name + 1 : argv[0]);
    if (s == NATS_OK)
        s = natsOptions_SetName(opts, name);
    if ((s == NATS_OK) && args->gd)
        s = natsOptions_UseGlobalMessageDelivery(opts, true);
    if ((s == NATS_OK) && (args->creds != NULL))
        s = natsOptions_SetUserCredentialsFromFiles(opts, args->creds, NULL);

    if (s == NATS_OK)
        *newOpts = opts;
    else
        natsOptions_Destroy(opts);
    return s;
}

/* ---------------------------------------------------------------------- */
/* A counter that callbacks increment and the main thread waits on.       */
/* ---------------------------------------------------------------------- */

typedef struct
{
    pthread_mutex_t mu;
    pthread_cond_t  cond;
    int64_t         value;
} exampleCounter;

static inline void
counterInit(exampleCounter *c)
{
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cond, NULL);
    c->value = 0;
}

static inline void
counterDestroy(exampleCounter *c)
{
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->mu);
}

static inline int64_t
counterAdd(exampleCounter *c, int64_t n)
{
    int64_t v;

    pthread_mutex_lock(&c->mu);
    c->value += n;
    v = c->value;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
    return v;
}

static inline int64_t
counterGet(exampleCounter *c)
{
    int64_t v;

    pthread_mutex_lock(&c->mu);
    v = c->value;
    pthread_mutex_unlock(&c->mu);
    return v;
}

/* Waits until the counter reaches `target` or `timeoutMs` elapses
 * (0 means wait forever). Returns true if the target was reached. */
static inline bool
counterWait(exampleCounter *c, int64_t target, int64_t timeoutMs)
{
    struct timespec ts;
    int             rc = 0;
    bool            ok;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec  += (time_t) (timeoutMs / 1000);
    ts.tv_nsec += (long) ((timeoutMs % 1000) * 1000000);
    if (ts.tv_nsec >= 1000000000L)
    {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&c->mu);
    while ((c->value < target) && (rc != ETIMEDOUT))
    {
        if (timeoutMs > 0)
            rc = pthread_cond_timedwait(&c->cond, &c->mu, &ts);
        else
            pthread_cond_wait(&c->cond, &c->mu);
    }
    ok = (c->value >= target);
    pthread_mutex_unlock(&c->mu);
    return ok;
}

/* Prints the connection's statistics. */
static inline void
printStats(natsConnection *nc)
{
    natsStatistics  *stats = NULL;
    uint64_t        inMsgs = 0, inBytes = 0, outMsgs = 0, outBytes = 0, reconnects = 0;

    if (natsStatistics_Create(&stats) != NATS_OK)
        return;
    if ((natsConnection_GetStats(nc, stats) == NATS_OK)
        && (natsStatistics_GetCounts(stats, &inMsgs, &inBytes, &outMsgs, &outBytes, &reconnects) == NATS_OK))
    {
        printf("Stats: in %" PRIu64 " msgs (%" PRIu64 " bytes), out %" PRIu64 " msgs (%" PRIu64
               " bytes), %" PRIu64 " reconnect(s)\n",
               inMsgs, inBytes, outMsgs, outBytes, reconnects);
    }
    natsStatistics_Destroy(stats);
}

#endif /* NATS_EXAMPLES_H */
