/*
 * Authentication against real nats-server processes: user/password and token errors, the
 * token handler at reconnect, NKey users (signature callback, seed file), JWT operator mode
 * with a memory resolver (chained .creds file, JWT + seed files, memory, callbacks),
 * nats_Sign and natsConnection_Sign (signatures checked by an independent verifier),
 * expired and untrusted users, a user JWT expiring while connected (error handler), and
 * credentials rotated on disk between reconnects.
 *
 * The operator, account and user JWTs, the seeds, the .creds files and the server
 * configurations are made at start by the fixture tool (c_tests/tools/jwt_fixtures.rs, built
 * with cargo by c_tests/auth.cmake, path in NATS_TEST_JWT_FIXTURES) in a temporary directory;
 * see the tool for the list of files. Without the tool the program is skipped (exit 77).
 *
 * Against cnats older than 3.8 (e.g. Debian's 3.4.1) a signed connect fails now and then with
 * 'Authorization Violation': those versions send no signature when its first byte is 0
 * (1 in 256), fixed upstream by nats.c PR #705.
 */
#include "harness.h"

#include <ctype.h>
#include <stdarg.h>
#include <unistd.h>
#include <sys/wait.h>

static const char   *fxBin;
static char         dir[256];

/* ------------------------------------------------------------------------ */
/* Fixtures                                                                  */
/* ------------------------------------------------------------------------ */

static void
_path(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", dir, name);
}


/* Content of a fixture file, trailing white space removed (malloc'ed, NULL on error). */
static char*
_fx(const char *name)
{
    char    p[400];
    char    *s;
    size_t  n;

    _path(p, sizeof(p), name);
    s = h_read_file(p);
    if (s == NULL)
    {
        fprintf(stderr, "cannot read fixture %s\n", p);
        return NULL;
    }
    n = strlen(s);
    while ((n > 0) && isspace((unsigned char) s[n - 1]))
        s[--n] = '\0';
    return s;
}

static bool
_writeFile(const char *path, const char *content)
{
    FILE    *f = fopen(path, "wb");
    bool    ok;

    if (f == NULL)
        return false;
    ok = (fputs(content, f) >= 0);
    ok = (fclose(f) == 0) && ok;
    return ok;
}

/* Runs the fixture tool with the given arguments; returns its exit status (-1: not run). */
static int
_tool(const char *fmt, ...)
{
    char    args[1024];
    char    cmd[1600];
    va_list ap;
    int     rc;

    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof(cmd), "'%s' %s 2>>'%s/tool.log'", fxBin, args, dir);
    rc = system(cmd);
    if ((rc == -1) || !WIFEXITED(rc))
        return -1;
    return WEXITSTATUS(rc);
}

/* Exit status of the tool's verifier: 0 when `sig` is the signature of `msg` by `pubKey`. */
static int
_verify(const char *pubKey, const char *msg, const unsigned char *sig, int sigLen)
{
    char    hex[2 * 128 + 1];
    int     i;

    if ((sig == NULL) || (sigLen <= 0) || (sigLen > 128))
        return -1;
    for (i = 0; i < sigLen; i++)
        snprintf(hex + (2 * i), 3, "%02x", sig[i]);
    return _tool("verify '%s' '%s' %s", pubKey, msg, hex);
}

static bool
_makeFixtures(void)
{
    char tmpl[] = "/tmp/nats-ctest-auth-XXXXXX";

    if (mkdtemp(tmpl) == NULL)
        return false;
    snprintf(dir, sizeof(dir), "%s", tmpl);
    return (_tool("init '%s'", dir) == 0);
}

static void
_removeFixtures(void)
{
    char cmd[300];

    if (dir[0] == '\0')
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

/* Starts nats-server with the configuration in fixture file `confName`. */
static bool
_startWith(h_server *srv, const char *confName)
{
    char *conf = _fx(confName);
    bool ok;

    if (conf == NULL)
        return CHECK(false);
    ok = h_server_start(srv, NULL, conf);
    free(conf);
    return ok;
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

/* Case-insensitive strstr, NULL-safe. */
static bool
_contains(const char *hay, const char *needle)
{
    size_t n;

    if ((hay == NULL) || (needle == NULL))
        return false;
    n = strlen(needle);
    for (; *hay != '\0'; hay++)
    {
        size_t i;

        for (i = 0; i < n; i++)
        {
            if (tolower((unsigned char) hay[i]) != tolower((unsigned char) needle[i]))
                break;
        }
        if (i == n)
            return true;
    }
    return false;
}

static bool
_lastErrorContains(const char *needle)
{
    const char *txt = nats_GetLastError(NULL);

    if (_contains(txt, needle))
        return true;
    fprintf(stderr, "last error '%s' does not contain '%s'\n", (txt == NULL ? "(null)" : txt), needle);
    return false;
}

/* Subscribes to `subj`, publishes to it and checks the message comes back. */
static void
_exercise(natsConnection *nc, const char *subj)
{
    natsSubscription    *sub = NULL;
    natsMsg             *msg = NULL;

    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, subj));
    CHECK_OK(natsConnection_PublishString(nc, subj, "hello"));
    CHECK_OK(natsConnection_Flush(nc));
    if (CHECK_OK(natsSubscription_NextMsg(&msg, sub, 5000)))
        CHECK_STR(natsMsg_GetData(msg), "hello");
    natsMsg_Destroy(msg);
    natsSubscription_Destroy(sub);
}

/* Connects with `o`, expecting success, and checks pub/sub works on `subj`. */
static void
_connectAndExercise(natsOptions *o, const char *subj)
{
    natsConnection *nc = NULL;

    if (CHECK_OK(natsConnection_Connect(&nc, o)))
        _exercise(nc, subj);
    natsConnection_Destroy(nc);
}

/* Expects the connection to be refused by the server's authorization. */
static void
_connectRefused(natsOptions *o)
{
    natsConnection *nc = NULL;

    CHECK_STATUS(natsConnection_Connect(&nc, o), NATS_CONNECTION_AUTH_FAILED);
    CHECK(nc == NULL);
    CHECK(_lastErrorContains("authorization violation"));
    natsConnection_Destroy(nc);
}

/* Connection events: error handler calls (status, subscription and the connection's last
 * error text at the time), disconnected, reconnected and closed. */
#define MAX_ERRS 16

typedef struct
{
    h_waiter    errs;
    natsStatus  st[MAX_ERRS];
    bool        withSub[MAX_ERRS];
    char        text[MAX_ERRS][256];
    h_waiter    disc;
    h_waiter    reco;
    h_waiter    closed;
} events;

static void
_eventsInit(events *ev)
{
    memset(ev, 0, sizeof(*ev));
    h_waiter_init(&ev->errs);
    h_waiter_init(&ev->disc);
    h_waiter_init(&ev->reco);
    h_waiter_init(&ev->closed);
}

static void
_eventsDestroy(events *ev)
{
    h_waiter_destroy(&ev->errs);
    h_waiter_destroy(&ev->disc);
    h_waiter_destroy(&ev->reco);
    h_waiter_destroy(&ev->closed);
}

static void
_errHandler(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    events      *ev  = (events*) closure;
    const char  *txt = NULL;

    natsConnection_GetLastError(nc, &txt);
    pthread_mutex_lock(&ev->errs.mu);
    if (ev->errs.count < MAX_ERRS)
    {
        ev->st[ev->errs.count] = err;
        ev->withSub[ev->errs.count] = (sub != NULL);
        snprintf(ev->text[ev->errs.count], sizeof(ev->text[0]), "%s", (txt == NULL ? "" : txt));
    }
    ev->errs.count++;
    pthread_cond_broadcast(&ev->errs.cond);
    pthread_mutex_unlock(&ev->errs.mu);
}

static void
_discCb(natsConnection *nc, void *closure)
{
    (void) nc;
    h_waiter_add(&((events*) closure)->disc, 1);
}

static void
_recoCb(natsConnection *nc, void *closure)
{
    (void) nc;
    h_waiter_add(&((events*) closure)->reco, 1);
}

static void
_closedCb(natsConnection *nc, void *closure)
{
    (void) nc;
    h_waiter_add(&((events*) closure)->closed, 1);
}

/* Destroys a connection made with _setEvents() options, then waits for its closed callback
 * (callbacks run on a library thread and use `ev`). */
static void
_destroyConn(natsConnection *nc, events *ev)
{
    if (nc == NULL)
        return;
    natsConnection_Destroy(nc);
    CHECK(h_waiter_wait(&ev->closed, 1, 10000));
}

static void
_setEvents(natsOptions *o, events *ev)
{
    natsOptions_SetErrorHandler(o, _errHandler, ev);
    natsOptions_SetDisconnectedCB(o, _discCb, ev);
    natsOptions_SetReconnectedCB(o, _recoCb, ev);
    natsOptions_SetClosedCB(o, _closedCb, ev);
}

/* Signature callback: signs the nonce with nats_Sign and the seed in the closure, or fails
 * with a custom error text. Records the calls and the last nonce. */
typedef struct
{
    const char  *seed;
    bool        fail;
    h_waiter    calls;
    char        nonce[256];
} signer;

static natsStatus
_signCb(char **customErrTxt, unsigned char **signature, int *signatureLength,
        const char *nonce, void *closure)
{
    signer *sg = (signer*) closure;

    pthread_mutex_lock(&sg->calls.mu);
    snprintf(sg->nonce, sizeof(sg->nonce), "%s", (nonce == NULL ? "" : nonce));
    pthread_mutex_unlock(&sg->calls.mu);
    h_waiter_add(&sg->calls, 1);
    if (sg->fail)
    {
        *customErrTxt = strdup("signer is offline");
        return NATS_ERR;
    }
    return nats_Sign(sg->seed, nonce, signature, signatureLength);
}

/* User JWT callback: returns a copy of the JWT in the closure, or fails with a text. */
typedef struct
{
    const char  *jwt;
    bool        fail;
    h_waiter    calls;
} jwtSource;

static natsStatus
_jwtCb(char **userJWT, char **customErrTxt, void *closure)
{
    jwtSource *js = (jwtSource*) closure;

    h_waiter_add(&js->calls, 1);
    if (js->fail)
    {
        *customErrTxt = strdup("no JWT for you");
        return NATS_ERR;
    }
    *userJWT = strdup(js->jwt);
    return (*userJWT == NULL ? NATS_NO_MEMORY : NATS_OK);
}

static const char*
_tokenCb(void *closure)
{
    h_waiter    *w = (h_waiter*) closure;
    bool        wrong;

    pthread_mutex_lock(&w->mu);
    w->count++;
    wrong = w->flag;
    pthread_mutex_unlock(&w->mu);
    return (wrong ? "wrong-token" : "s3cr3t");
}

/* ------------------------------------------------------------------------ */
/* User/password and token                                                   */
/* ------------------------------------------------------------------------ */

static void
test_user_password_and_token(void)
{
    const char      *userArgs[]  = { "--user", "alice", "--pass", "wonderland", NULL };
    const char      *tokenArgs[] = { "--auth", "s3cr3t", NULL };
    h_server        srv;
    natsOptions     *o;
    natsConnection  *nc = NULL;
    events          ev;
    h_waiter        tok;

    REQUIRE(h_server_start(&srv, userArgs, NULL));
    o = h_opts(&srv, 5000);
    REQUIRE(o != NULL);
    CHECK_OK(natsOptions_SetUserInfo(o, "alice", "not-the-password"));
    _connectRefused(o);
    CHECK_OK(natsOptions_SetUserInfo(o, "alice", "wonderland"));
    _connectAndExercise(o, "auth.userpass");
    natsOptions_Destroy(o);
    h_server_destroy(&srv);

    /* The token handler is asked for a token at every connect, reconnects included. */
    _eventsInit(&ev);
    h_waiter_init(&tok);
    REQUIRE(h_server_start(&srv, tokenArgs, NULL));
    o = h_opts(&srv, 5000);
    REQUIRE(o != NULL);
    CHECK_OK(natsOptions_SetToken(o, "wrong-token"));
    _connectRefused(o);
    CHECK_OK(natsOptions_SetToken(o, NULL));
    CHECK_OK(natsOptions_SetTokenHandler(o, _tokenCb, &tok));
    CHECK_OK(natsOptions_SetAllowReconnect(o, true));
    CHECK_OK(natsOptions_SetReconnectWait(o, 50));
    _setEvents(o, &ev);
    if (CHECK_OK(natsConnection_Connect(&nc, o)))
    {
        CHECK_INT(h_waiter_get(&tok), 1);
        h_server_stop(&srv);
        CHECK(h_server_restart(&srv));
        CHECK(h_waiter_wait(&ev.reco, 1, 10000));
        CHECK(h_waiter_get(&tok) >= 2);
        _exercise(nc, "auth.token");
    }
    _destroyConn(nc, &ev);
    nc = NULL;

    /* A handler returning a token the server refuses. */
    h_waiter_set_flag(&tok);
    CHECK_OK(natsOptions_SetAllowReconnect(o, false));
    _connectRefused(o);
    natsOptions_Destroy(o);
    h_server_destroy(&srv);
    h_waiter_destroy(&tok);
    _eventsDestroy(&ev);
}

/* ------------------------------------------------------------------------ */
/* NKey users                                                                */
/* ------------------------------------------------------------------------ */

static void
test_nkey_signature_callback(void)
{
    h_server        srv;
    natsOptions     *o;
    natsConnection  *nc = NULL;
    events          ev;
    signer          sg;
    char            *pub   = _fx("nkey.pub");
    char            *seed  = _fx("nkey.seed");
    char            *other = _fx("other.seed");

    memset(&sg, 0, sizeof(sg));
    h_waiter_init(&sg.calls);
    _eventsInit(&ev);
    REQUIRE((pub != NULL) && (seed != NULL) && (other != NULL));
    REQUIRE(_startWith(&srv, "nkey-server.conf"));

    /* No credentials. */
    o = h_opts(&srv, 5000);
    REQUIRE(o != NULL);
    _connectRefused(o);

    /* The callback signs the server's nonce with the user's seed. */
    sg.seed = seed;
    CHECK_OK(natsOptions_SetNKey(o, pub, _signCb, &sg));
    CHECK_OK(natsOptions_SetAllowReconnect(o, true));
    CHECK_OK(natsOptions_SetReconnectWait(o, 50));
    _setEvents(o, &ev);
    if (CHECK_OK(natsConnection_Connect(&nc, o)))
    {
        char nonce[256];

        CHECK_INT(h_waiter_get(&sg.calls), 1);
        pthread_mutex_lock(&sg.calls.mu);
        snprintf(nonce, sizeof(nonce), "%s", sg.nonce);
        pthread_mutex_unlock(&sg.calls.mu);
        CHECK(strlen(nonce) > 0);
        _exercise(nc, "nkey.cb");

        /* Called again, with a new nonce, when reconnecting. */
        h_server_stop(&srv);
        CHECK(h_server_restart(&srv));
        CHECK(h_waiter_wait(&ev.reco, 1, 10000));
        CHECK_INT(h_waiter_get(&sg.calls), 2);
        pthread_mutex_lock(&sg.calls.mu);
        CHECK(strcmp(nonce, sg.nonce) != 0);
        pthread_mutex_unlock(&sg.calls.mu);
        _exercise(nc, "nkey.cb");
    }
    _destroyConn(nc, &ev);
    nc = NULL;
    CHECK_OK(natsOptions_SetAllowReconnect(o, false));

    /* Signed by the wrong key. */
    sg.seed = other;
    _connectRefused(o);

    /* The callback fails: its status and text are the connect's. */
    sg.fail = true;
    CHECK_STATUS(natsConnection_Connect(&nc, o), NATS_ERR);
    CHECK(nc == NULL);
    CHECK(_lastErrorContains("signer is offline"));

    natsOptions_Destroy(o);
    h_server_destroy(&srv);
    _eventsDestroy(&ev);
    h_waiter_destroy(&sg.calls);
    free(pub);
    free(seed);
    free(other);
}

static void
test_nkey_seed_file(void)
{
    h_server        srv;
    natsOptions     *o;
    natsConnection  *nc = NULL;
    char            *pub = _fx("nkey.pub");
    char            seedFile[400], otherFile[400], missing[400];

    REQUIRE(pub != NULL);
    _path(seedFile, sizeof(seedFile), "nkey.seed");
    _path(otherFile, sizeof(otherFile), "other.seed");
    _path(missing, sizeof(missing), "no-such.seed");
    REQUIRE(_startWith(&srv, "nkey-server.conf"));
    o = h_opts(&srv, 5000);
    REQUIRE(o != NULL);

    CHECK_OK(natsOptions_SetNKeyFromSeed(o, pub, seedFile));
    _connectAndExercise(o, "nkey.file");

    /* natsConnection_Sign signs with that seed (cnats keeps it as the user credentials). */
    if (CHECK_OK(natsConnection_Connect(&nc, o)))
    {
        const char      *msg = "sign me with the seed file";
        unsigned char   sig[64];

        memset(sig, 0, sizeof(sig));
        if (CHECK_OK(natsConnection_Sign(nc, (const unsigned char*) msg, (int) strlen(msg), sig)))
            CHECK_INT(_verify(pub, msg, sig, 64), 0);
    }
    natsConnection_Destroy(nc);
    nc = NULL;

    /* A seed that does not belong to the public key. */
    CHECK_OK(natsOptions_SetNKeyFromSeed(o, pub, otherFile));
    _connectRefused(o);

    /* The file is read when connecting. */
    CHECK_OK(natsOptions_SetNKeyFromSeed(o, pub, missing));
    CHECK_STATUS(natsConnection_Connect(&nc, o), NATS_ERR);
    CHECK(nc == NULL);
    CHECK(_lastErrorContains("no-such.seed"));

    natsOptions_Destroy(o);
    h_server_destroy(&srv);
    free(pub);
}

/* ------------------------------------------------------------------------ */
/* Signing                                                                   */
/* ------------------------------------------------------------------------ */

static void
test_nats_sign(void)
{
    char            *seed  = _fx("alice.seed");
    char            *pub   = _fx("alice.pub");
    char            *bob   = _fx("bob.pub");
    unsigned char   *sig   = NULL;
    unsigned char   *sig2  = NULL;
    int             len    = 0;
    int             len2   = 0;

    REQUIRE((seed != NULL) && (pub != NULL) && (bob != NULL));

    if (CHECK_OK(nats_Sign(seed, "the nonce", &sig, &len)))
    {
        CHECK_INT(len, 64);
        CHECK_INT(_verify(pub, "the nonce", sig, len), 0);
        /* The verifier does reject: other message, other key, altered signature. */
        CHECK_INT(_verify(pub, "the nonce!", sig, len), 1);
        CHECK_INT(_verify(bob, "the nonce", sig, len), 1);
        sig[10] ^= 0x01;
        CHECK_INT(_verify(pub, "the nonce", sig, len), 1);
        sig[10] ^= 0x01;
        /* Ed25519 signatures are deterministic. */
        if (CHECK_OK(nats_Sign(seed, "the nonce", &sig2, &len2)))
            CHECK((len2 == len) && (memcmp(sig, sig2, (size_t) len) == 0));
    }
    free(sig);
    free(sig2);

    sig = NULL;
    CHECK_STATUS(nats_Sign(NULL, "x", &sig, &len), NATS_INVALID_ARG);
    CHECK(_lastErrorContains("seed cannot be empty"));
    CHECK_STATUS(nats_Sign("", "x", &sig, &len), NATS_INVALID_ARG);
    CHECK_STATUS(nats_Sign(seed, NULL, &sig, &len), NATS_INVALID_ARG);
    CHECK(_lastErrorContains("input cannot be empty"));
    CHECK_STATUS(nats_Sign(seed, "", &sig, &len), NATS_INVALID_ARG);
    CHECK_STATUS(nats_Sign(seed, "x", NULL, &len), NATS_INVALID_ARG);
    CHECK(_lastErrorContains("cannot be NULL"));
    CHECK_STATUS(nats_Sign(seed, "x", &sig, NULL), NATS_INVALID_ARG);
    CHECK(sig == NULL);

    /* Not a seed: a public key, bad characters, a corrupted checksum. */
    CHECK_STATUS(nats_Sign(pub, "x", &sig, &len), NATS_ERR);
    CHECK_STATUS(nats_Sign("not a seed!", "x", &sig, &len), NATS_ERR);
    seed[10] = (seed[10] == 'A' ? 'B' : 'A');
    CHECK_STATUS(nats_Sign(seed, "x", &sig, &len), NATS_ERR);
    CHECK(sig == NULL);

    free(seed);
    free(pub);
    free(bob);
}

/* ------------------------------------------------------------------------ */
/* JWT operator mode                                                         */
/* ------------------------------------------------------------------------ */

static void
test_creds_chained_file(void)
{
    h_server        srv;
    natsOptions     *o;
    natsConnection  *nc = NULL;
    natsConnection  *plain = NULL;
    char            creds[400], missing[400];
    char            *pub = _fx("alice.pub");
    unsigned char   sig[64];
    const char      *msg = "signed by alice";

    REQUIRE(pub != NULL);
    _path(creds, sizeof(creds), "alice.creds");
    _path(missing, sizeof(missing), "no-such.creds");
    REQUIRE(_startWith(&srv, "server.conf"));
    o = h_opts(&srv, 5000);
    REQUIRE(o != NULL);

    /* Operator mode: a client without a user JWT is refused. */
    _connectRefused(o);

    CHECK_OK(natsOptions_SetUserCredentialsFromFiles(o, creds, NULL));
    if (CHECK_OK(natsConnection_Connect(&nc, o)))
    {
        _exercise(nc, "jwt.chained");

        memset(sig, 0, sizeof(sig));
        if (CHECK_OK(natsConnection_Sign(nc, (const unsigned char*) msg, (int) strlen(msg), sig)))
            CHECK_INT(_verify(pub, msg, sig, 64), 0);
        CHECK_STATUS(natsConnection_Sign(NULL, (const unsigned char*) msg, 3, sig), NATS_INVALID_ARG);
        CHECK_STATUS(natsConnection_Sign(nc, (const unsigned char*) msg, -1, sig), NATS_INVALID_ARG);
        CHECK_STATUS(natsConnection_Sign(nc, (const unsigned char*) msg, 3, NULL), NATS_INVALID_ARG);
    }
    natsConnection_Destroy(nc);
    nc = NULL;

    /* Signing needs user credentials. */
    {
        h_server plainSrv;

        if (CHECK(h_server_start(&plainSrv, NULL, NULL)))
        {
            if (CHECK_OK(natsConnection_ConnectTo(&plain, plainSrv.url)))
            {
                CHECK_STATUS(natsConnection_Sign(plain, (const unsigned char*) msg, 3, sig), NATS_ERR);
                CHECK(_lastErrorContains("no user credentials"));
            }
            natsConnection_Destroy(plain);
            h_server_destroy(&plainSrv);
        }
    }

    /* The file is read when connecting. */
    CHECK_OK(natsOptions_SetUserCredentialsFromFiles(o, missing, NULL));
    CHECK_STATUS(natsConnection_Connect(&nc, o), NATS_ERR);
    CHECK(nc == NULL);
    CHECK(_lastErrorContains("no-such.creds"));

    natsOptions_Destroy(o);
    h_server_destroy(&srv);
    free(pub);
}

static void
test_creds_jwt_and_seed_files(void)
{
    h_server    srv;
    natsOptions *o;
    char        jwt[400], seed[400], framedJwt[400], framedSeed[400], otherSeed[400];

    _path(jwt, sizeof(jwt), "alice.jwt");
    _path(seed, sizeof(seed), "alice.seed");
    _path(framedJwt, sizeof(framedJwt), "alice.jwt.framed");
    _path(framedSeed, sizeof(framedSeed), "alice.nk");
    _path(otherSeed, sizeof(otherSeed), "bob.nk");
    REQUIRE(_startWith(&srv, "server.conf"));
    o = h_opts(&srv, 5000);
    REQUIRE(o != NULL);

    /* A bare JWT and a raw seed line. */
    CHECK_OK(natsOptions_SetUserCredentialsFromFiles(o, jwt, seed));
    _connectAndExercise(o, "jwt.files");

    /* Both in their BEGIN/END frames. */
    CHECK_OK(natsOptions_SetUserCredentialsFromFiles(o, framedJwt, framedSeed));
    _connectAndExercise(o, "jwt.framed");

    /* Alice's JWT with Bob's seed: the nonce signature does not match the JWT. */
    CHECK_OK(natsOptions_SetUserCredentialsFromFiles(o, framedJwt, otherSeed));
    _connectRefused(o);

    natsOptions_Destroy(o);
    h_server_destroy(&srv);
}

#if HAVE_NATS_3_13
static void
test_creds_from_memory(void)
{
    h_server        srv;
    natsOptions     *o;
    natsConnection  *nc = NULL;
    char            *creds = _fx("alice.creds");
    char            *pub   = _fx("alice.pub");
    unsigned char   sig[64];
    const char      *msg   = "signed from memory";

    REQUIRE((creds != NULL) && (pub != NULL));
    REQUIRE(_startWith(&srv, "server.conf"));
    o = h_opts(&srv, 5000);
    REQUIRE(o != NULL);

    CHECK_OK(natsOptions_SetUserCredentialsFromMemory(o, creds));
    /* The content was copied. */
    memset(creds, 'x', strlen(creds));
    if (CHECK_OK(natsConnection_Connect(&nc, o)))
    {
        _exercise(nc, "jwt.memory");
        memset(sig, 0, sizeof(sig));
        if (CHECK_OK(natsConnection_Sign(nc, (const unsigned char*) msg, (int) strlen(msg), sig)))
            CHECK_INT(_verify(pub, msg, sig, 64), 0);
    }
    natsConnection_Destroy(nc);
    nc = NULL;

    /* Without credentials in the text, the connect fails before CONNECT is sent. */
    CHECK_OK(natsOptions_SetUserCredentialsFromMemory(o, "no credentials in here"));
    CHECK(natsConnection_Connect(&nc, o) != NATS_OK);
    CHECK(nc == NULL);

    /* NULL clears them. */
    CHECK_OK(natsOptions_SetUserCredentialsFromMemory(o, NULL));
    _connectRefused(o);

    natsOptions_Destroy(o);
    h_server_destroy(&srv);
    free(creds);
    free(pub);
}
#endif

static void
test_creds_callbacks(void)
{
    h_server        srv;
    natsOptions     *o;
    natsConnection  *nc = NULL;
    events          ev;
    signer          sg;
    jwtSource       js;
    char            *jwt  = _fx("alice.jwt");
    char            *seed = _fx("alice.seed");
    char            *bob  = _fx("bob.seed");
    unsigned char   sig[64];

    memset(&sg, 0, sizeof(sg));
    memset(&js, 0, sizeof(js));
    h_waiter_init(&sg.calls);
    h_waiter_init(&js.calls);
    _eventsInit(&ev);
    REQUIRE((jwt != NULL) && (seed != NULL) && (bob != NULL));
    REQUIRE(_startWith(&srv, "server.conf"));
    o = h_opts(&srv, 5000);
    REQUIRE(o != NULL);

    js.jwt = jwt;
    sg.seed = seed;
    CHECK_OK(natsOptions_SetUserCredentialsCallbacks(o, _jwtCb, &js, _signCb, &sg));
    CHECK_OK(natsOptions_SetAllowReconnect(o, true));
    CHECK_OK(natsOptions_SetReconnectWait(o, 50));
    _setEvents(o, &ev);
    if (CHECK_OK(natsConnection_Connect(&nc, o)))
    {
        CHECK_INT(h_waiter_get(&js.calls), 1);
        CHECK_INT(h_waiter_get(&sg.calls), 1);
        _exercise(nc, "jwt.callbacks");

        /* Both are called again when reconnecting. */
        h_server_stop(&srv);
        CHECK(h_server_restart(&srv));
        CHECK(h_waiter_wait(&ev.reco, 1, 10000));
        CHECK_INT(h_waiter_get(&js.calls), 2);
        CHECK_INT(h_waiter_get(&sg.calls), 2);
        _exercise(nc, "jwt.callbacks");

        /* natsConnection_Sign only knows credentials from files or memory. */
        CHECK_STATUS(natsConnection_Sign(nc, (const unsigned char*) "abc", 3, sig), NATS_ERR);
        CHECK(_lastErrorContains("no user credentials"));
    }
    _destroyConn(nc, &ev);
    nc = NULL;
    CHECK_OK(natsOptions_SetAllowReconnect(o, false));

    /* Alice's JWT, nonce signed by Bob. */
    sg.seed = bob;
    _connectRefused(o);
    sg.seed = seed;

    /* Failing callbacks: their status and text are the connect's. */
    js.fail = true;
    CHECK_STATUS(natsConnection_Connect(&nc, o), NATS_ERR);
    CHECK(nc == NULL);
    CHECK(_lastErrorContains("no JWT for you"));
    js.fail = false;
    sg.fail = true;
    CHECK_STATUS(natsConnection_Connect(&nc, o), NATS_ERR);
    CHECK(nc == NULL);
    CHECK(_lastErrorContains("signer is offline"));

    natsOptions_Destroy(o);
    h_server_destroy(&srv);
    _eventsDestroy(&ev);
    h_waiter_destroy(&sg.calls);
    h_waiter_destroy(&js.calls);
    free(jwt);
    free(seed);
    free(bob);
}

/* The last credentials set replace the others (NKey and user credentials are exclusive). */
static void
test_methods_replace_each_other(void)
{
    h_server    op, nk;
    natsOptions *o;
    signer      sg;
    char        creds[400], seedFile[400];
    char        *pub  = _fx("nkey.pub");
    char        *seed = _fx("nkey.seed");

    memset(&sg, 0, sizeof(sg));
    h_waiter_init(&sg.calls);
    REQUIRE((pub != NULL) && (seed != NULL));
    _path(creds, sizeof(creds), "alice.creds");
    _path(seedFile, sizeof(seedFile), "nkey.seed");
    REQUIRE(_startWith(&op, "server.conf"));
    REQUIRE(_startWith(&nk, "nkey-server.conf"));

    o = h_opts(&op, 5000);
    REQUIRE(o != NULL);
    CHECK_OK(natsOptions_SetNKeyFromSeed(o, pub, seedFile));
    CHECK_OK(natsOptions_SetUserCredentialsFromFiles(o, creds, NULL));
    _connectAndExercise(o, "replace.jwt");

    sg.seed = seed;
    CHECK_OK(natsOptions_SetURL(o, nk.url));
    CHECK_OK(natsOptions_SetNKey(o, pub, _signCb, &sg));
    _connectAndExercise(o, "replace.nkey");
    CHECK_INT(h_waiter_get(&sg.calls), 1);

    CHECK_OK(natsOptions_SetURL(o, op.url));
    CHECK_OK(natsOptions_SetUserCredentialsFromFiles(o, creds, NULL));
    _connectAndExercise(o, "replace.jwt2");
    /* The NKey's callback is no longer used. */
    CHECK_INT(h_waiter_get(&sg.calls), 1);

    natsOptions_Destroy(o);
    h_server_destroy(&op);
    h_server_destroy(&nk);
    h_waiter_destroy(&sg.calls);
    free(pub);
    free(seed);
}

static void
test_untrusted_and_expired_users(void)
{
    h_server    srv;
    natsOptions *o;
    events      ev;
    char        untrusted[400], expired[400];

    _eventsInit(&ev);
    _path(untrusted, sizeof(untrusted), "untrusted.creds");
    _path(expired, sizeof(expired), "expired.creds");
    REQUIRE(_startWith(&srv, "server.conf"));
    o = h_opts(&srv, 5000);
    REQUIRE(o != NULL);
    _setEvents(o, &ev);

    /* Signed by an account the operator does not know. */
    CHECK_OK(natsOptions_SetUserCredentialsFromFiles(o, untrusted, NULL));
    _connectRefused(o);

    /* A user JWT that expired a minute ago. */
    CHECK_OK(natsOptions_SetUserCredentialsFromFiles(o, expired, NULL));
    _connectRefused(o);

    /* A failed initial connect is reported by its status, not to the error handler. */
    h_sleep_ms(200);
    CHECK_INT(h_waiter_get(&ev.errs), 0);
    CHECK_INT(h_waiter_get(&ev.closed), 0);

    natsOptions_Destroy(o);
    h_server_destroy(&srv);
    _eventsDestroy(&ev);
}

/* Connects with a user whose JWT expires `expIn` seconds from now. */
static natsConnection*
_expiringConnection(h_server *srv, events *ev, bool reconnect)
{
    natsOptions     *o;
    natsConnection  *nc = NULL;
    char            creds[400];

    if (!CHECK_INT(_tool("user '%s' soon 3", dir), 0))
        return NULL;
    _path(creds, sizeof(creds), "soon.creds");
    o = h_opts(srv, 5000);
    if (o == NULL)
        return NULL;
    natsOptions_SetUserCredentialsFromFiles(o, creds, NULL);
    natsOptions_SetAllowReconnect(o, reconnect);
    natsOptions_SetReconnectWait(o, 300);
    _setEvents(o, ev);
    if (CHECK_OK(natsConnection_Connect(&nc, o)))
        _exercise(nc, "jwt.soon");
    natsOptions_Destroy(o);
    return nc;
}

/* The server ends the connection of a user whose JWT expires (-ERR 'User Authentication
 * Expired'): the error handler gets NATS_CONNECTION_AUTH_FAILED, and without reconnect the
 * connection is closed. */
static void
test_jwt_expires_while_connected(void)
{
    h_server        srv;
    natsConnection  *nc;
    events          ev;
    const char      *txt = NULL;

    _eventsInit(&ev);
    REQUIRE(_startWith(&srv, "server.conf"));
    nc = _expiringConnection(&srv, &ev, false);
    if (CHECK(nc != NULL))
    {
        CHECK_INT(natsConnection_Status(nc), NATS_CONN_STATUS_CONNECTED);
        CHECK(h_waiter_wait(&ev.closed, 1, 10000));
        CHECK(natsConnection_IsClosed(nc));
        CHECK(h_waiter_wait(&ev.errs, 1, 5000));
        pthread_mutex_lock(&ev.errs.mu);
        CHECK_STATUS(ev.st[0], NATS_CONNECTION_AUTH_FAILED);
        CHECK(!ev.withSub[0]);
        if (!CHECK(_contains(ev.text[0], "authentication expired")))
            fprintf(stderr, "error handler saw '%s'\n", ev.text[0]);
        pthread_mutex_unlock(&ev.errs.mu);
        /* The server's reason stays the connection's last error text. Its status: cnats
         * (3.4.1 to 3.13) ends with the status of the socket read that found the server had
         * closed (NATS_CONNECTION_CLOSED); this library keeps NATS_CONNECTION_AUTH_FAILED. */
        {
            natsStatus ls = natsConnection_GetLastError(nc, &txt);

            if (!CHECK((ls == NATS_CONNECTION_CLOSED) || (ls == NATS_CONNECTION_AUTH_FAILED)))
                fprintf(stderr, "last error status %d\n", (int) ls);
        }
        CHECK(_contains(txt, "authentication expired"));
        CHECK_STATUS(natsConnection_PublishString(nc, "jwt.soon", "x"), NATS_CONNECTION_CLOSED);
    }
    _destroyConn(nc, &ev);
    h_server_destroy(&srv);
    _eventsDestroy(&ev);
}

/* Same with reconnect allowed: the expiry is reported, the reconnect attempts are refused
 * (reported too) and the library gives up after the second refusal in a row from the
 * server, closing the connection. (JWT expiry has a one-second granularity: a reconnect
 * within the expiry second may be accepted, then expired again.) */
static void
test_jwt_expires_with_reconnect(void)
{
    h_server        srv;
    natsConnection  *nc;
    events          ev;
    const char      *txt = NULL;
    int             i, n;

    _eventsInit(&ev);
    REQUIRE(_startWith(&srv, "server.conf"));
    nc = _expiringConnection(&srv, &ev, true);
    if (CHECK(nc != NULL))
    {
        CHECK(h_waiter_wait(&ev.disc, 1, 10000));
        CHECK(h_waiter_wait(&ev.closed, 1, 15000));
        CHECK(natsConnection_IsClosed(nc));
        CHECK_STATUS(natsConnection_GetLastError(nc, &txt), NATS_CONNECTION_AUTH_FAILED);

        /* The expiry, then at least one refused reconnect. (The texts are not checked here:
         * cnats clears the connection's error when a reconnect attempt starts, so the text an
         * error handler reads may already be empty.) */
        n = h_waiter_get(&ev.errs);
        CHECK(n >= 2);
        pthread_mutex_lock(&ev.errs.mu);
        for (i = 0; (i < n) && (i < MAX_ERRS); i++)
        {
            CHECK_STATUS(ev.st[i], NATS_CONNECTION_AUTH_FAILED);
            CHECK(!ev.withSub[i]);
        }
        pthread_mutex_unlock(&ev.errs.mu);
    }
    _destroyConn(nc, &ev);
    h_server_destroy(&srv);
    _eventsDestroy(&ev);
}

/* The .creds file is read again at each reconnect: it is rewritten with Bob's credentials
 * while the server restarts with Alice revoked, so the connection can only come back as
 * Bob, who may not publish to "rot.denied". */
static void
test_creds_rotated_on_disk(void)
{
    h_server            srv;
    natsOptions         *o;
    natsConnection      *nc = NULL;
    natsSubscription    *sub = NULL;
    natsMsg             *msg = NULL;
    events              ev;
    char                rot[400];
    char                *alice    = _fx("alice.creds");
    char                *bob      = _fx("bob.creds");
    char                *alicePub = _fx("alice.pub");
    char                *bobPub   = _fx("bob.pub");
    char                *revoked  = _fx("server-revoked.conf");
    unsigned char       sig[64];
    const char          *m = "who signs this";

    _eventsInit(&ev);
    REQUIRE((alice != NULL) && (bob != NULL) && (alicePub != NULL) && (bobPub != NULL) && (revoked != NULL));
    _path(rot, sizeof(rot), "rotating.creds");
    REQUIRE(_writeFile(rot, alice));
    REQUIRE(_startWith(&srv, "server.conf"));
    o = h_opts(&srv, 5000);
    REQUIRE(o != NULL);
    CHECK_OK(natsOptions_SetUserCredentialsFromFiles(o, rot, NULL));
    CHECK_OK(natsOptions_SetAllowReconnect(o, true));
    CHECK_OK(natsOptions_SetReconnectWait(o, 100));
    CHECK_OK(natsOptions_SetMaxReconnect(o, 100));
    _setEvents(o, &ev);
    REQUIRE_OK(natsConnection_Connect(&nc, o));

    /* As Alice, "rot.denied" is allowed. */
    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "rot.denied"));
    CHECK_OK(natsConnection_PublishString(nc, "rot.denied", "from alice"));
    CHECK_OK(natsConnection_Flush(nc));
    if (CHECK_OK(natsSubscription_NextMsg(&msg, sub, 5000)))
        CHECK_STR(natsMsg_GetData(msg), "from alice");
    natsMsg_Destroy(msg);
    msg = NULL;
    if (CHECK_OK(natsConnection_Sign(nc, (const unsigned char*) m, (int) strlen(m), sig)))
        CHECK_INT(_verify(alicePub, m, sig, 64), 0);

    /* Rotate: Bob's credentials in the file, Alice revoked by the restarted server. */
    REQUIRE(_writeFile(rot, bob));
    h_server_stop(&srv);
    REQUIRE(_writeFile(srv.config, revoked));
    CHECK(h_server_restart(&srv));
    CHECK(h_waiter_wait(&ev.reco, 1, 10000));
    CHECK_INT(natsConnection_Status(nc), NATS_CONN_STATUS_CONNECTED);
    CHECK_INT(h_waiter_get(&ev.closed), 0);

    /* Now as Bob: the publish is refused by the server, the subscription gets nothing. */
    CHECK_OK(natsConnection_PublishString(nc, "rot.denied", "from bob"));
    CHECK_OK(natsConnection_Flush(nc));
    if (CHECK(h_waiter_wait(&ev.errs, 1, 5000)))
    {
        pthread_mutex_lock(&ev.errs.mu);
        CHECK_STATUS(ev.st[0], NATS_NOT_PERMITTED);
        if (!CHECK(_contains(ev.text[0], "rot.denied")))
            fprintf(stderr, "error handler saw '%s'\n", ev.text[0]);
        pthread_mutex_unlock(&ev.errs.mu);
    }
    CHECK_STATUS(natsSubscription_NextMsg(&msg, sub, 300), NATS_TIMEOUT);
    natsMsg_Destroy(msg);
    msg = NULL;
    _exercise(nc, "rot.allowed");
    /* natsConnection_Sign reads the file too. */
    if (CHECK_OK(natsConnection_Sign(nc, (const unsigned char*) m, (int) strlen(m), sig)))
    {
        CHECK_INT(_verify(bobPub, m, sig, 64), 0);
        CHECK_INT(_verify(alicePub, m, sig, 64), 1);
    }

    /* Alice's credentials are really refused by the restarted server. */
    {
        natsOptions *a = h_opts(&srv, 5000);
        char        aliceFile[400];

        _path(aliceFile, sizeof(aliceFile), "alice.creds");
        if (CHECK(a != NULL))
        {
            CHECK_OK(natsOptions_SetUserCredentialsFromFiles(a, aliceFile, NULL));
            _connectRefused(a);
        }
        natsOptions_Destroy(a);
    }

    natsSubscription_Destroy(sub);
    _destroyConn(nc, &ev);
    natsOptions_Destroy(o);
    h_server_destroy(&srv);
    _eventsDestroy(&ev);
    free(alice);
    free(bob);
    free(alicePub);
    free(bobPub);
    free(revoked);
}

int
main(void)
{
    fxBin = getenv("NATS_TEST_JWT_FIXTURES");
#ifdef NATS_TEST_JWT_FIXTURES
    if ((fxBin == NULL) || (fxBin[0] == '\0'))
        fxBin = NATS_TEST_JWT_FIXTURES;
#endif
    if ((fxBin == NULL) || (fxBin[0] == '\0'))
    {
        printf("no JWT fixture tool (NATS_TEST_JWT_FIXTURES): skipping the authentication tests\n");
        return H_SKIP_CODE;
    }
    if (!_makeFixtures())
    {
        fprintf(stderr, "fixture tool '%s' failed (see %s/tool.log)\n", fxBin, dir);
        CHECK(false);
        return h_finish();
    }
    RUN_TEST(test_user_password_and_token);
    RUN_TEST(test_nkey_signature_callback);
    RUN_TEST(test_nkey_seed_file);
    RUN_TEST(test_nats_sign);
    RUN_TEST(test_creds_chained_file);
    RUN_TEST(test_creds_jwt_and_seed_files);
#if HAVE_NATS_3_13
    RUN_TEST(test_creds_from_memory);
#endif
    RUN_TEST(test_creds_callbacks);
    RUN_TEST(test_methods_replace_each_other);
    RUN_TEST(test_untrusted_and_expired_users);
    RUN_TEST(test_jwt_expires_while_connected);
    RUN_TEST(test_jwt_expires_with_reconnect);
    RUN_TEST(test_creds_rotated_on_disk);
    _removeFixtures();
    return h_finish();
}
