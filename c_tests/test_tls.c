/*
 * TLS: the natsOptions TLS setters (argument checks, errors) and TLS connections to
 * nats-server configured with a `tls {}` block: verified with a CA, host name checks, unknown
 * CA, skipped verification, mutual TLS (files, memory, dynamic), TLS handshake first,
 * automatic switch to TLS, cipher lists, reconnect over TLS.
 *
 * The certificates are made at start with the `openssl` command line tool (a CA, a server
 * certificate for localhost and 127.0.0.1, a client certificate, an unrelated CA) in a
 * temporary directory. Without `openssl` the program is skipped (exit 77).
 */
#include "harness.h"

#include <unistd.h>

static char dir[256];

static char caFile[300];
static char otherCaFile[300];
static char serverCert[300];
static char serverKey[300];
static char clientCert[300];
static char clientKey[300];

static void
_path(char *out, const char *name)
{
    snprintf(out, 300, "%s/%s", dir, name);
}

static bool
_run(const char *cmd)
{
    char full[2048];

    snprintf(full, sizeof(full), "cd '%s' && %s >>openssl.log 2>&1", dir, cmd);
    if (system(full) != 0)
    {
        fprintf(stderr, "command failed: %s (see %s/openssl.log)\n", cmd, dir);
        return false;
    }
    return true;
}

static bool
_makeCerts(void)
{
    char tmpl[] = "/tmp/nats-ctest-tls-XXXXXX";

    if (mkdtemp(tmpl) == NULL)
        return false;
    snprintf(dir, sizeof(dir), "%s", tmpl);

    _path(caFile, "ca.pem");
    _path(otherCaFile, "other-ca.pem");
    _path(serverCert, "server-cert.pem");
    _path(serverKey, "server-key.pem");
    _path(clientCert, "client-cert.pem");
    _path(clientKey, "client-key.pem");

    {
        char ext[300];
        FILE *e;

        _path(ext, "server.ext");
        e = fopen(ext, "w");
        if (e == NULL)
            return false;
        fputs("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
              "extendedKeyUsage=serverAuth\n"
              "keyUsage=critical,digitalSignature\n"
              "basicConstraints=critical,CA:FALSE\n", e);
        fclose(e);
        _path(ext, "client.ext");
        e = fopen(ext, "w");
        if (e == NULL)
            return false;
        fputs("subjectAltName=DNS:client.example\n"
              "extendedKeyUsage=clientAuth\n"
              "keyUsage=critical,digitalSignature\n"
              "basicConstraints=critical,CA:FALSE\n", e);
        fclose(e);
    }
#define EC "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
#define CA_EXT "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"
    return _run("openssl req -x509 " EC " -keyout ca-key.pem -out ca.pem -days 2 -subj /CN=nats-test-CA " CA_EXT)
        && _run("openssl req -x509 " EC " -keyout other-ca-key.pem -out other-ca.pem -days 2 -subj /CN=other-CA " CA_EXT)
        && _run("openssl req " EC " -keyout server-key.pem -out server.csr -subj /CN=localhost")
        && _run("openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial "
                "-out server-cert.pem -days 2 -extfile server.ext")
        && _run("openssl req " EC " -keyout client-key.pem -out client.csr -subj /CN=client")
        && _run("openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial "
                "-out client-cert.pem -days 2 -extfile client.ext");
}

static void
_removeCerts(void)
{
    char cmd[300];

    if (dir[0] == '\0')
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}


/* Starts nats-server with TLS. */
static bool
_startTLS(h_server *srv, bool verify, bool handshakeFirst, bool allowNonTLS)
{
    char conf[2048];

    snprintf(conf, sizeof(conf),
             "tls {\n  cert_file: \"%s\"\n  key_file: \"%s\"\n  ca_file: \"%s\"\n"
             "  verify: %s\n  timeout: 2\n%s}\n%s",
             serverCert, serverKey, caFile, verify ? "true" : "false",
             handshakeFirst ? "  handshake_first: true\n" : "",
             allowNonTLS ? "allow_non_tls: true\n" : "");
    return h_server_start(srv, NULL, conf);
}

/* Publish/subscribe and a flush on an open connection. */
static void
_exercise(natsConnection *nc)
{
    natsSubscription    *sub = NULL;
    natsMsg             *msg = NULL;

    REQUIRE_OK(natsConnection_SubscribeSync(&sub, nc, "tls.c"));
    CHECK_OK(natsConnection_PublishString(nc, "tls.c", "hello"));
    CHECK_OK(natsConnection_Flush(nc));
    if (CHECK_OK(natsSubscription_NextMsg(&msg, sub, 5000)))
        CHECK_STR(natsMsg_GetData(msg), "hello");
    natsMsg_Destroy(msg);
    natsSubscription_Destroy(sub);
}

static void
_connCb(natsConnection *nc, void *closure)
{
    (void) nc;
    h_waiter_add((h_waiter*) closure, 1);
}

static void
test_setters(void)
{
    natsOptions *o = NULL;
    char        *certPem, *keyPem;

    CHECK_STATUS(natsOptions_SetSecure(NULL, true), NATS_INVALID_ARG);
#if HAVE_NATS_3_13
    CHECK_STATUS(natsOptions_TLSHandshakeFirst(NULL), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_AllowConcurrentTLSHandshakes(NULL), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_LoadCATrustedCertificatesPath(NULL, dir), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_LoadCertificatesChainDynamic(NULL, clientCert, clientKey), NATS_INVALID_ARG);
#endif
    CHECK_STATUS(natsOptions_LoadCATrustedCertificates(NULL, caFile), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetCATrustedCertificates(NULL, "x"), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_LoadCertificatesChain(NULL, clientCert, clientKey), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetCertificatesChain(NULL, "c", "k"), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetCiphers(NULL, "HIGH"), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetCipherSuites(NULL, "TLS_AES_128_GCM_SHA256"), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetExpectedHostname(NULL, "localhost"), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SkipServerVerification(NULL, true), NATS_INVALID_ARG);

    REQUIRE_OK(natsOptions_Create(&o));
    CHECK_OK(natsOptions_SetSecure(o, true));
    CHECK_OK(natsOptions_SetSecure(o, false));
#if HAVE_NATS_3_13
    CHECK_OK(natsOptions_AllowConcurrentTLSHandshakes(o));
#endif

    CHECK_STATUS(natsOptions_LoadCATrustedCertificates(o, NULL), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_LoadCATrustedCertificates(o, ""), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_LoadCATrustedCertificates(o, "/nonexistent/ca.pem"), NATS_SSL_ERROR);
    CHECK(strstr(nats_GetLastError(NULL), "/nonexistent/ca.pem") != NULL);
    CHECK_OK(natsOptions_LoadCATrustedCertificates(o, caFile));
#if HAVE_NATS_3_13
    CHECK_STATUS(natsOptions_LoadCATrustedCertificatesPath(o, NULL), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_LoadCATrustedCertificatesPath(o, ""), NATS_INVALID_ARG);
    CHECK_OK(natsOptions_LoadCATrustedCertificatesPath(o, dir));
#endif

    CHECK_STATUS(natsOptions_SetCATrustedCertificates(o, NULL), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetCATrustedCertificates(o, ""), NATS_INVALID_ARG);
    CHECK(strstr(nats_GetLastError(NULL), "can't be NULL nor empty") != NULL);
    CHECK_STATUS(natsOptions_SetCATrustedCertificates(o, "not a certificate"), NATS_SSL_ERROR);

    CHECK_STATUS(natsOptions_LoadCertificatesChain(o, clientCert, NULL), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_LoadCertificatesChain(o, "", clientKey), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_LoadCertificatesChain(o, "/nonexistent/c.pem", clientKey), NATS_SSL_ERROR);
    /* A key that does not belong to the certificate. */
    CHECK_STATUS(natsOptions_LoadCertificatesChain(o, clientCert, serverKey), NATS_SSL_ERROR);
    CHECK_OK(natsOptions_LoadCertificatesChain(o, clientCert, clientKey));

#if HAVE_NATS_3_13
    CHECK_STATUS(natsOptions_LoadCertificatesChainDynamic(o, clientCert, ""), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_LoadCertificatesChainDynamic(o, clientCert, NULL), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_LoadCertificatesChainDynamic(o, "", clientKey), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_LoadCertificatesChainDynamic(o, NULL, clientKey), NATS_INVALID_ARG);
    CHECK_OK(natsOptions_LoadCertificatesChainDynamic(o, clientCert, clientKey));
#endif

    certPem = h_read_file(clientCert);
    keyPem = h_read_file(clientKey);
    REQUIRE((certPem != NULL) && (keyPem != NULL));
    CHECK_STATUS(natsOptions_SetCertificatesChain(o, certPem, NULL), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetCertificatesChain(o, "", keyPem), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetCertificatesChain(o, "garbage", keyPem), NATS_SSL_ERROR);
    CHECK_STATUS(natsOptions_SetCertificatesChain(o, certPem, "garbage"), NATS_SSL_ERROR);
    CHECK_OK(natsOptions_SetCertificatesChain(o, certPem, keyPem));
    free(certPem);
    free(keyPem);

    CHECK_STATUS(natsOptions_SetCiphers(o, NULL), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetCiphers(o, ""), NATS_INVALID_ARG);
    CHECK_STATUS(natsOptions_SetCiphers(o, "NO-SUCH-CIPHER"), NATS_SSL_ERROR);
    CHECK_OK(natsOptions_SetCiphers(o, "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256"));
    CHECK_OK(natsOptions_SetCiphers(o, "-ALL:HIGH"));
    CHECK_OK(natsOptions_SetCipherSuites(o, "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256"));
    CHECK_OK(natsOptions_SetCipherSuites(o, ""));
    CHECK_STATUS(natsOptions_SetCipherSuites(o, "NO_SUCH_SUITE"), NATS_SSL_ERROR);

    CHECK_OK(natsOptions_SetExpectedHostname(o, "localhost"));
    CHECK_OK(natsOptions_SetExpectedHostname(o, NULL));
    CHECK_OK(natsOptions_SkipServerVerification(o, true));
    CHECK_OK(natsOptions_SkipServerVerification(o, false));
#if HAVE_NATS_3_13
    CHECK_OK(natsOptions_TLSHandshakeFirst(o));
#endif
    natsOptions_Destroy(o);
}

static void
test_verified_connect(void)
{
    h_server        srv;
    natsOptions     *o;
    natsConnection  *nc = NULL;
    char            *ip = NULL;
    int             port = 0;

    REQUIRE(_startTLS(&srv, false, false, false));
    o = h_opts(&srv, 3000);
    REQUIRE(o != NULL);
    CHECK_OK(natsOptions_SetSecure(o, true));
    CHECK_OK(natsOptions_LoadCATrustedCertificates(o, caFile));
    if (CHECK_OK(natsConnection_Connect(&nc, o)))
    {
        _exercise(nc);
        CHECK_OK(natsConnection_GetLocalIPAndPort(nc, &ip, &port));
        CHECK_STR(ip, "127.0.0.1");
        CHECK(port > 0);
        free(ip);
    }
    natsConnection_Destroy(nc);
    nc = NULL;

    /* Wrong expected host name. */
    CHECK_OK(natsOptions_SetExpectedHostname(o, "wrong.example"));
    CHECK_STATUS(natsConnection_Connect(&nc, o), NATS_SSL_ERROR);
    CHECK(nc == NULL);
    CHECK(strstr(nats_GetLastError(NULL), "wrong.example") != NULL);

    /* The right one, with an IP address in the URL. */
    CHECK_OK(natsOptions_SetExpectedHostname(o, "localhost"));
    CHECK_OK(natsConnection_Connect(&nc, o));
    natsConnection_Destroy(nc);
    nc = NULL;
    natsOptions_Destroy(o);

    /* A CA given as PEM text. */
    o = h_opts(&srv, 3000);
    REQUIRE(o != NULL);
    {
        char *pem = h_read_file(caFile);

        REQUIRE(pem != NULL);
        CHECK_OK(natsOptions_SetSecure(o, true));
        CHECK_OK(natsOptions_SetCATrustedCertificates(o, pem));
        free(pem);
    }
    CHECK_OK(natsConnection_Connect(&nc, o));
    natsConnection_Destroy(nc);
    nc = NULL;
    natsOptions_Destroy(o);

    /* Unknown CA. */
    o = h_opts(&srv, 3000);
    REQUIRE(o != NULL);
    CHECK_OK(natsOptions_SetSecure(o, true));
    CHECK_OK(natsOptions_LoadCATrustedCertificates(o, otherCaFile));
    CHECK_STATUS(natsConnection_Connect(&nc, o), NATS_SSL_ERROR);
    natsOptions_Destroy(o);

    /* Default options and a tls:// URL: TLS with the system's roots only. */
    {
        char url[128];

        snprintf(url, sizeof(url), "tls://127.0.0.1:%d", srv.port);
        CHECK_STATUS(natsConnection_ConnectTo(&nc, url), NATS_SSL_ERROR);
    }
    h_server_destroy(&srv);
}

#if HAVE_NATS_3_13
static bool
_canChangeTLS(void *arg)
{
    return natsOptions_SkipServerVerification((natsOptions*) arg, true) == NATS_OK;
}
#endif

static void
test_auto_switch_and_options_in_use(void)
{
    h_server        srv;
    natsOptions     *o;
    natsConnection  *nc = NULL;

    REQUIRE(_startTLS(&srv, false, false, false));
    o = h_opts(&srv, 3000);
    REQUIRE(o != NULL);

    /* cnats test_SSLBasic: the client switches to TLS because the server requires it. */
    CHECK_OK(natsOptions_SkipServerVerification(o, true));
    if (CHECK_OK(natsConnection_Connect(&nc, o)))
        _exercise(nc);

#if HAVE_NATS_3_13
    /* TLS settings can't change while a connection uses them. */
    CHECK_STATUS(natsOptions_TLSHandshakeFirst(o), NATS_ILLEGAL_STATE);
    CHECK(strstr(nats_GetLastError(NULL), "can't be modified") != NULL);
#endif

    natsConnection_Destroy(nc);
    nc = NULL;
    /* cnats test_SSLBasic "Check ok after last connection destroyed". */
    CHECK_OK(natsOptions_SetSecure(o, true));
#if HAVE_NATS_3_13
    /* Once the connection is gone the TLS settings can change again (the connection may
     * take a moment to release them). */
    CHECK(h_wait_until(_canChangeTLS, o, 2000));
#endif
    natsOptions_Destroy(o);

    /* A client that wants TLS from a server without TLS. */
    {
        h_server plain;

        REQUIRE(h_server_start(&plain, NULL, NULL));
        o = h_opts(&plain, 3000);
        REQUIRE(o != NULL);
        CHECK_OK(natsOptions_SetSecure(o, true));
        CHECK_STATUS(natsConnection_Connect(&nc, o), NATS_SECURE_CONNECTION_WANTED);
        natsOptions_Destroy(o);
        h_server_destroy(&plain);
    }
    h_server_destroy(&srv);
}

static void
test_mutual_tls(void)
{
    h_server        srv;
    natsOptions     *o;
    natsConnection  *nc = NULL;
    char            dynCert[300], dynKey[300], cmd[1400];

    REQUIRE(_startTLS(&srv, true, false, false));
    o = h_opts(&srv, 3000);
    REQUIRE(o != NULL);
    CHECK_OK(natsOptions_SetSecure(o, true));
    CHECK_OK(natsOptions_LoadCATrustedCertificates(o, caFile));
    /* No client certificate. */
    CHECK(natsConnection_Connect(&nc, o) != NATS_OK);
    CHECK(nc == NULL);

    CHECK_OK(natsOptions_LoadCertificatesChain(o, clientCert, clientKey));
    if (CHECK_OK(natsConnection_Connect(&nc, o)))
        _exercise(nc);
    natsConnection_Destroy(nc);
    nc = NULL;

#if HAVE_NATS_3_13
    /* Dynamic: read at each handshake. */
    _path(dynCert, "dyn-cert.pem");
    _path(dynKey, "dyn-key.pem");
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && cp '%s' '%s'", clientCert, dynCert, clientKey, dynKey);
    REQUIRE(system(cmd) == 0);
    CHECK_OK(natsOptions_LoadCertificatesChainDynamic(o, dynCert, dynKey));
    if (CHECK_OK(natsConnection_Connect(&nc, o)))
        _exercise(nc);
    natsConnection_Destroy(nc);
    nc = NULL;
#else
    (void) dynCert; (void) dynKey; (void) cmd;
#endif
    natsOptions_Destroy(o);
    h_server_destroy(&srv);
}

#if HAVE_NATS_3_13
static void
test_handshake_first(void)
{
    h_server        srv;
    natsOptions     *o;
    natsConnection  *nc = NULL;

    REQUIRE(_startTLS(&srv, false, true, false));
    o = h_opts(&srv, 3000);
    REQUIRE(o != NULL);
    CHECK_OK(natsOptions_LoadCATrustedCertificates(o, caFile));
    CHECK_OK(natsOptions_TLSHandshakeFirst(o));
    if (CHECK_OK(natsConnection_Connect(&nc, o)))
        _exercise(nc);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(o);
    h_server_destroy(&srv);
}
#endif

static void
test_ciphers_and_reconnect(void)
{
    h_server        srv;
    natsOptions     *o;
    natsConnection  *nc = NULL;
    h_waiter        reco;

    h_waiter_init(&reco);
    REQUIRE(_startTLS(&srv, false, false, false));
    o = h_opts(&srv, 3000);
    REQUIRE(o != NULL);
    CHECK_OK(natsOptions_SetSecure(o, true));
    CHECK_OK(natsOptions_LoadCATrustedCertificates(o, caFile));

    /* cnats test_SSLCiphers. */
    CHECK_OK(natsOptions_SetCiphers(o, "-ALL:RSA"));
    CHECK_OK(natsOptions_SetCipherSuites(o, ""));
    CHECK(natsConnection_Connect(&nc, o) != NATS_OK);

    CHECK_OK(natsOptions_SetCiphers(o, "-ALL:HIGH"));
    CHECK_OK(natsOptions_SetCipherSuites(o, "TLS_AES_128_GCM_SHA256"));
    CHECK_OK(natsOptions_SetAllowReconnect(o, true));
    CHECK_OK(natsOptions_SetReconnectWait(o, 50));
    CHECK_OK(natsOptions_SetReconnectJitter(o, 0, 0));
    CHECK_OK(natsOptions_SetReconnectedCB(o, _connCb, &reco));
    if (CHECK_OK(natsConnection_Connect(&nc, o)))
    {
        CHECK_OK(natsConnection_PublishString(nc, "foo", "test"));
        CHECK_OK(natsConnection_Flush(nc));

        h_server_stop(&srv);
        CHECK(h_server_restart(&srv));
        CHECK(h_waiter_wait(&reco, 1, 5000));
        _exercise(nc);
    }
    natsConnection_Destroy(nc);
    natsOptions_Destroy(o);
    h_server_destroy(&srv);
    h_waiter_destroy(&reco);
}

int
main(void)
{
    if (system("openssl version >/dev/null 2>&1") != 0)
    {
        printf("openssl command not found: skipping the TLS tests\n");
        return H_SKIP_CODE;
    }
    if (!_makeCerts())
    {
        CHECK(false);
        _removeCerts();
        return h_finish();
    }
    RUN_TEST(test_setters);
    RUN_TEST(test_verified_connect);
    RUN_TEST(test_auto_switch_and_options_in_use);
    RUN_TEST(test_mutual_tls);
#if HAVE_NATS_3_13
    RUN_TEST(test_handshake_first);
#endif
    RUN_TEST(test_ciphers_and_reconnect);
    _removeCerts();
    return h_finish();
}
