#!/usr/bin/env python3
"""Generates c_tests/misuse_generated.inc, the API-misuse sweep of test_misuse.c.

It parses the prototypes of include/nats/nats.h and emits, for every exported function:

  * for each pointer parameter (pointers, strings, callbacks, closures), one call where
    that parameter is NULL and every other argument is a valid object or value;
    a data pointer followed by its length also gets a call with NULL data and a 0 length,
    a server array followed by its count a call with NULL and 0;
  * for each `int`, `int64_t` or `natsStatus` parameter, one call with -1;
  * for each `size_t` buffer size, one call with 0.

Expected results:

  * a function returning natsStatus returns NATS_INVALID_ARG for a NULL pointer and records
    it as the thread's last error (cnats: nats_setDefaultError(NATS_INVALID_ARG)), unless
    the EXCEPTIONS table below says otherwise, with a one-line reason;
  * every other function (getters, void functions) and every -1 / 0 call has an explicit
    entry in EXCEPTIONS: nothing is assumed for them;
  * where cnats behaves differently (a different status, or a crash on the NULL), the entry
    carries a `cnats=` expectation used when the test runs against cnats; calls on which
    cnats crashes are skipped there (this library must pass all of them).

Usage:
    c_tests/tools/gen_misuse.py            # regenerate c_tests/misuse_generated.inc
    c_tests/tools/gen_misuse.py --check    # fail if the committed file is stale (for ctest)
    c_tests/tools/gen_misuse.py --list     # print the calls and their expectations

--check fails when the header gained (or lost, or changed) a function the committed file
does not reflect, when a new parameter has no expectation, or when an EXCEPTIONS entry no
longer matches any call.
"""

import argparse
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
HEADER = os.path.join(REPO, "include", "nats", "nats.h")
OUTPUT = os.path.join(REPO, "c_tests", "misuse_generated.inc")

# ---------------------------------------------------------------------------------------
# Functions that Debian's cnats 3.4.1 does not declare: their calls are compiled only with
# a >= 3.13 header (#if HAVE_NATS_3_13, see harness.h).
# ---------------------------------------------------------------------------------------
SINCE_3_13 = {
    "natsConnection_ReadLastError", "natsConnection_GetName", "natsConnection_Reconnect",
    "natsConnection_Send", "natsConnection_SendMsg", "natsConnection_SendRequest",
    "natsHeader_New", "natsHeader_Set", "natsHeader_Add", "natsHeader_Get",
    "natsHeader_Values", "natsHeader_Keys", "natsHeader_KeysCount", "natsHeader_Delete",
    "natsHeader_Destroy", "nats_OpenWithConfig", "nats_NowMonotonicInNanoSeconds",
    "natsOptions_SetIgnoreAuthErrorAbort", "natsOptions_SetMaxPendingBytes",
    "natsOptions_SetUserCredentialsFromMemory", "natsOptions_SetMessageBufferPadding",
    "natsOptions_TLSHandshakeFirst", "natsOptions_AllowConcurrentTLSHandshakes",
    "natsOptions_LoadCATrustedCertificatesPath", "natsOptions_LoadCertificatesChainDynamic",
    "natsSubscription_GetConnection", "natsOptions_SetProxyConnHandler",
    "natsConnection_ProcessCloseEvent", "natsConnection_ProcessDetachedEvent",
}

# ---------------------------------------------------------------------------------------
# Valid arguments. Lookup order: (function, parameter), (type, parameter), type.
# Each value is (C expression, fixtures it needs). Fixtures are fields of the per-call
# `misuse_fx *fx` that test_misuse.c creates before the call and releases after it:
#   FX_OPTS  fx->opts   fresh natsOptions (URL = the test server)
#   FX_SUB   fx->sub    fresh synchronous subscription on "misuse.sub" (on fx->nc)
#   FX_ASUB  fx->sub    fresh asynchronous subscription (callback destroys its messages)
#   FX_MSG   fx->msg    fresh message "misuse.msg", reply "misuse.reply", header Key: val
#   FX_HDR   fx->hdr    fresh natsHeader with Key: val (3.13)
#   FX_STATS fx->stats  fresh natsStatistics
#   FX_FRESH_NC fx->nc  a connection of its own instead of the shared one (destroyed after)
# fx->nc is always a live connection to the test server. Out-values (fx->out_*) are
# released after the call whatever the result.
# ---------------------------------------------------------------------------------------
VALID_BY_FUNC_PARAM = {
    ("natsConnection_Sign", "message"): ("(const unsigned char*) \"payload\"", ()),
    ("natsConnection_Sign", "messageLen"): ("7", ()),
    ("natsSubscription_SetOnCompleteCB", "sub"): ("fx->sub", ("FX_ASUB",)),
    ("natsConnection_ConnectTo", "urls"): ("h_url()", ()),
    ("natsOptions_SetURL", "url"): ("h_url()", ()),
    ("natsSubscription_NextMsg", "timeout"): ("10", ()),
    ("natsSubscription_WaitForDrainCompletion", "timeout"): ("10", ()),
    ("natsConnection_Request", "timeout"): ("2000", ()),
    ("natsConnection_RequestString", "timeout"): ("2000", ()),
    ("natsConnection_RequestMsg", "timeout"): ("2000", ()),
    ("natsConnection_Publish", "subj"): ("\"misuse.pub\"", ()),
    ("natsOptions_SetNKey", "pubKey"): ("MISUSE_NKEY_PUB", ()),
    ("natsOptions_SetNKeyFromSeed", "pubKey"): ("MISUSE_NKEY_PUB", ()),
    ("natsOptions_SetNKeyFromSeed", "seedFile"): ("\"/nonexistent/misuse.nk\"", ()),
    ("natsOptions_LoadCATrustedCertificates", "fileName"): ("\"/nonexistent/ca.pem\"", ()),
    ("natsOptions_LoadCATrustedCertificatesPath", "path"): ("\"/nonexistent\"", ()),
    ("natsOptions_SetCATrustedCertificates", "certificates"): ("\"not a PEM\"", ()),
    ("natsOptions_SetCertificatesChain", "cert"): ("\"not a PEM\"", ()),
    ("natsOptions_SetCertificatesChain", "key"): ("\"not a PEM\"", ()),
    ("natsOptions_SetCiphers", "ciphers"): ("\"HIGH\"", ()),
    ("natsOptions_SetCipherSuites", "ciphers"): ("\"TLS_AES_128_GCM_SHA256\"", ()),
    ("natsOptions_SetExpectedHostname", "hostname"): ("\"localhost\"", ()),
    ("natsOptions_SetCustomInboxPrefix", "inboxPrefix"): ("\"misuse.inbox\"", ()),
    ("natsOptions_SetUserCredentialsFromMemory", "jwtAndSeedContent"): ("\"not a creds file\"", ()),
    ("natsConnection_GetLastError", "lastError"): ("&fx->out_cstr", ()),
    ("natsMsgHeader_Get", "value"): ("&fx->out_cstr", ()),
    ("natsHeader_Get", "value"): ("&fx->out_cstr", ()),
    ("nats_CheckCompatibilityImpl", "verString"): ("NATS_VERSION_STRING", ()),
    ("nats_Sign", "encodedSeed"): ("MISUSE_NKEY_SEED", ()),
    ("nats_Sign", "input"): ("\"nonce\"", ()),
    ("nats_Sign", "signature"): ("&fx->out_sig", ()),
    ("nats_Sign", "signatureLength"): ("&fx->out_int[0]", ()),
    ("natsOptions_SetReconnectJitter", "jitter"): ("100", ()),
    ("natsOptions_SetReconnectJitter", "jitterTLS"): ("1000", ()),
    ("natsSubscription_SetPendingLimits", "msgLimit"): ("1000", ()),
    ("natsSubscription_SetPendingLimits", "bytesLimit"): ("1000000", ()),
    ("natsSubscription_AutoUnsubscribe", "max"): ("1", ()),
    ("natsOptions_IPResolutionOrder", "order"): ("4", ()),
}

VALID_BY_TYPE_PARAM = {
    ("natsConnection **", "nc"): ("&fx->out_nc", ()),
    ("natsMsg **", "replyMsg"): ("&fx->out_msg", ()),
    ("natsMsg **", "nextMsg"): ("&fx->out_msg", ()),
    ("natsMsg **", "newMsg"): ("&fx->out_msg", ()),
    ("natsSubscription **", "sub"): ("&fx->out_sub", ()),
    ("const char *", "subj"): ("\"misuse.subj\"", ()),
    ("const char *", "subject"): ("\"misuse.subj\"", ()),
    ("const char *", "reply"): ("\"misuse.reply\"", ()),
    ("const char *", "queueGroup"): ("\"misuse.q\"", ()),
    ("const char *", "str"): ("\"payload\"", ()),
    ("const char *", "data"): ("\"payload\"", ()),
    ("const void *", "data"): ("\"payload\"", ()),
    ("int", "dataLen"): ("7", ()),
    ("const char *", "key"): ("\"Key\"", ()),
    ("const char *", "value"): ("\"val\"", ()),
    ("const char *", "user"): ("\"user\"", ()),
    ("const char *", "password"): ("\"pwd\"", ()),
    ("const char *", "token"): ("\"token\"", ()),
    ("const char *", "name"): ("\"misuse\"", ()),
    ("const char *", "userOrChainedFile"): ("\"/nonexistent/misuse.creds\"", ()),
    ("const char *", "seedFile"): ("\"/nonexistent/misuse.nk\"", ()),
    ("const char *", "certsFileName"): ("\"/nonexistent/cert.pem\"", ()),
    ("const char *", "keyFileName"): ("\"/nonexistent/key.pem\"", ()),
    ("const char **", "servers"): ("misuse_servers", ()),
    ("int", "serversCount"): ("1", ()),
    ("char *", "buffer"): ("fx->buf", ()),
    ("char *", "buf"): ("fx->buf", ()),
    ("size_t", "bufferSize"): ("sizeof(fx->buf)", ()),
    ("size_t", "bufLen"): ("sizeof(fx->buf)", ()),
    ("size_t", "n"): ("sizeof(fx->buf)", ()),
    ("char ***", "servers"): ("&fx->out_strs", ()),
    ("int *", "count"): ("&fx->out_count", ()),
    ("const char ***", "values"): ("&fx->out_cstrs", ()),
    ("const char ***", "keys"): ("&fx->out_cstrs", ()),
    ("char **", "ip"): ("&fx->out_str", ()),
    ("int *", "port"): ("&fx->out_int[0]", ()),
    ("int *", "msgLimit"): ("&fx->out_int[0]", ()),
    ("int *", "bytesLimit"): ("&fx->out_int[1]", ()),
    ("int *", "msgs"): ("&fx->out_int[0]", ()),
    ("int *", "bytes"): ("&fx->out_int[1]", ()),
    ("int *", "pendingMsgs"): ("&fx->out_int[0]", ()),
    ("int *", "pendingBytes"): ("&fx->out_int[1]", ()),
    ("int *", "maxPendingMsgs"): ("&fx->out_int[2]", ()),
    ("int *", "maxPendingBytes"): ("&fx->out_int[3]", ()),
    ("int64_t *", "msgs"): ("&fx->out_i64[0]", ()),
    ("int64_t *", "deliveredMsgs"): ("&fx->out_i64[0]", ()),
    ("int64_t *", "droppedMsgs"): ("&fx->out_i64[1]", ()),
    ("int64_t *", "rtt"): ("&fx->out_i64[0]", ()),
    ("uint64_t *", "cid"): ("&fx->out_u64[0]", ()),
    ("uint64_t *", "queuedMsgs"): ("&fx->out_u64[0]", ()),
    ("uint64_t *", "inMsgs"): ("&fx->out_u64[0]", ()),
    ("uint64_t *", "inBytes"): ("&fx->out_u64[1]", ()),
    ("uint64_t *", "outMsgs"): ("&fx->out_u64[2]", ()),
    ("uint64_t *", "outBytes"): ("&fx->out_u64[3]", ()),
    ("uint64_t *", "reconnects"): ("&fx->out_u64[4]", ()),
    ("int64_t", "timeout"): ("1000", ()),
}

VALID_BY_TYPE = {
    "natsConnection *": ("fx->nc", ()),
    "natsOptions *": ("fx->opts", ("FX_OPTS",)),
    "natsOptions **": ("&fx->out_opts", ()),
    "natsSubscription *": ("fx->sub", ("FX_SUB",)),
    "natsMsg *": ("fx->msg", ("FX_MSG",)),
    "const natsMsg *": ("fx->msg", ("FX_MSG",)),
    "natsHeader *": ("fx->hdr", ("FX_HDR",)),
    "natsHeader **": ("&fx->out_hdr", ()),
    "natsStatistics *": ("fx->stats", ("FX_STATS",)),
    "const natsStatistics *": ("fx->stats", ("FX_STATS",)),
    "natsStatistics **": ("&fx->out_stats", ()),
    "natsInbox **": ("&fx->out_inbox", ()),
    "uint8_t *": ("fx->sig", ()),
    "natsMsgHandler": ("misuse_msg_cb", ()),
    "natsConnectionHandler": ("misuse_conn_cb", ()),
    "natsErrHandler": ("misuse_err_cb", ()),
    "natsTokenHandler": ("misuse_token_cb", ()),
    "natsProxyConnHandler": ("misuse_proxy_cb", ()),
    "natsCustomReconnectDelayHandler": ("misuse_delay_cb", ()),
    "natsUserJWTHandler": ("misuse_jwt_cb", ()),
    "natsSignatureHandler": ("misuse_sig_cb", ()),
    "natsOnCompleteCB": ("misuse_complete_cb", ()),
    "natsEvLoop_Attach": ("misuse_ev_attach", ()),
    "natsEvLoop_ReadAddRemove": ("misuse_ev_add_remove", ()),
    "natsEvLoop_WriteAddRemove": ("misuse_ev_add_remove", ()),
    "natsEvLoop_Detach": ("misuse_ev_detach", ()),
    "void *": ("&misuse_closure", ()),
    "bool": ("true", ()),
    "int": ("1", ()),
    "int64_t": ("1000", ()),
    "uint32_t": ("NATS_VERSION_NUMBER", ()),
}

# Extra fixtures by function (beyond what the arguments need).
FIXTURES_BY_FUNC = {
    # DrainTimeout(nc, -1) drains and closes the connection: give it one of its own.
    "natsConnection_DrainTimeout": ("FX_FRESH_NC",),
}

# ---------------------------------------------------------------------------------------
# Expectations.
# ---------------------------------------------------------------------------------------


class Exp:
    """An expected outcome.

    kind: "status"  the natsStatus result is one of `statuses`; when `recorded`, the thread's
                    last error is that status with a text (error statuses only);
                    for NATS_OK the last error must be left alone;
          "ret"     the result `r` of a non-status function satisfies the C condition `cond`,
                    and (unless keep=False) the thread's last error is left alone;
          "noop"    a void function: the thread's last error is left alone;
          "crash"   (cnats only) cnats crashes or reads out of bounds: not called there;
          "skip"    not called at all (the reason says where it is covered instead).
    """

    def __init__(self, kind, statuses=(), recorded=True, cond=None, reason=None, keep=True):
        self.kind = kind
        self.statuses = tuple(statuses)
        self.recorded = recorded
        self.cond = cond
        self.reason = reason
        self.keep = keep

    def describe(self):
        if self.kind == "status":
            s = " or ".join(self.statuses)
            return s + ("" if self.recorded else " (not recorded)")
        if self.kind == "ret":
            return "returns " + self.cond
        return self.kind


def S(*statuses, recorded=True, why=None):
    return Exp("status", statuses, recorded=recorded, reason=why)


def R(cond, why=None, keep=True):
    return Exp("ret", cond=cond, reason=why, keep=keep)


def NOOP(why=None):
    return Exp("noop", reason=why)


def CRASH(why):
    return Exp("crash", reason=why)


def SKIP(why):
    return Exp("skip", reason=why)


INVALID_ARG = S("NATS_INVALID_ARG")

# Call labels: "p" = parameter p is NULL; "p+0" = pointer p NULL and its length 0;
# "-p" = integer p is -1; "0p" = size p is 0.
#
# Each entry: label -> (ours, cnats) where cnats=None means "same as ours".
# Everything not listed: natsStatus functions with a NULL pointer expect NATS_INVALID_ARG,
# recorded as the last error. Any other call must be listed (the generator fails otherwise).
C_NULL_OK_SETTER = "NULL clears/unsets the setting (cnats documents it)"
C_CB_REMOVE = "a NULL callback removes it (cnats)"
C_CLOSURE = "closures are opaque: NULL is a valid closure"
C_OPT_OUT = "optional out-parameter: cnats fills only the non-NULL ones"
C_GETTER_NULL = "cnats getters return a neutral value for a NULL handle"
C_DESTROY_NULL = "Destroy/Close of NULL is a no-op (cnats)"
CN_CRASH_OUT = "cnats writes through the NULL out-pointer without checking it"

EXCEPTIONS = {
    # --- natsConnection ---------------------------------------------------------------
    ("natsConnection_Connect", "nc"): (INVALID_ARG, CRASH(CN_CRASH_OUT + " (after connecting)")),
    ("natsConnection_Connect", "options"): (
        S("NATS_OK", "NATS_NO_SERVER", why="NULL options = default options, nats://localhost:4222 (documented)"), None),
    ("natsConnection_ConnectTo", "nc"): (INVALID_ARG, CRASH(CN_CRASH_OUT + " (after connecting)")),
    ("natsConnection_ConnectTo", "urls"): (
        S("NATS_OK", "NATS_NO_SERVER", why="NULL URL = the default URL nats://localhost:4222 (cnats)"), None),
    ("natsConnection_IsClosed", "nc"): (R("r == true", C_GETTER_NULL), None),
    ("natsConnection_IsReconnecting", "nc"): (R("r == false", C_GETTER_NULL), None),
    ("natsConnection_IsDraining", "nc"): (R("r == false", C_GETTER_NULL), None),
    ("natsConnection_Status", "nc"): (R("r == NATS_CONN_STATUS_CLOSED", C_GETTER_NULL), None),
    ("natsConnection_Buffered", "nc"): (
        R("r == -1", C_GETTER_NULL),
        R("(r == -1) || (r == (int) NATS_INVALID_ARG)",
          "cnats < 3.13 returns NATS_INVALID_ARG as the count and records it", keep=False)),
    ("natsConnection_GetMaxPayload", "nc"): (R("r == 0", C_GETTER_NULL), None),
    ("natsConnection_GetName", "nc"): (R("r == NULL", C_GETTER_NULL), None),
    ("natsConnection_Close", "nc"): (NOOP(C_DESTROY_NULL), None),
    ("natsConnection_ProcessReadEvent", "nc"): (NOOP("a NULL connection is ignored"), CRASH("cnats locks the NULL connection")),
    ("natsConnection_ProcessWriteEvent", "nc"): (NOOP("a NULL connection is ignored"), CRASH("cnats locks the NULL connection")),
    ("natsConnection_ProcessDetachedEvent", "nc"): (NOOP("a NULL connection is ignored"), CRASH("cnats releases the NULL connection")),
    ("natsConnection_ProcessCloseEvent", "socket"): (NOOP("a NULL socket is ignored (cnats)"), None),
    ("natsConnection_Destroy", "nc"): (NOOP(C_DESTROY_NULL), None),
    ("natsConnection_FlushTimeout", "-timeout"): (
        S("NATS_INVALID_TIMEOUT", why="cnats: timeout <= 0 is NATS_INVALID_TIMEOUT"), None),
    ("natsConnection_DrainTimeout", "-timeout"): (
        S("NATS_OK", why="timeout <= 0 means no time limit (cnats)"), None),
    ("natsConnection_GetConnectedUrl", "0bufferSize"): (
        INVALID_ARG, S("NATS_INSUFFICIENT_BUFFER", why="cnats writes buffer[0] and reports the URL does not fit")),
    ("natsConnection_GetConnectedServerId", "0bufferSize"): (
        INVALID_ARG, S("NATS_INSUFFICIENT_BUFFER", why="cnats writes buffer[0] and reports the id does not fit")),
    ("natsConnection_GetLastError", "lastError"): (INVALID_ARG, CRASH(CN_CRASH_OUT)),
    ("natsConnection_ReadLastError", "buf"): (
        S("NATS_OK", why="cnats copies the text only when buf is not NULL; returns the connection's status (OK)"), None),
    ("natsConnection_ReadLastError", "0n"): (
        S("NATS_OK", why="cnats copies nothing into a 0-byte buffer; returns the connection's status (OK)"), None),
    ("natsConnection_Sign", "message"): (
        INVALID_ARG, S("NATS_ERR", why="cnats checks for credentials (none here) before reading the payload")),
    ("natsConnection_Sign", "message+0"): (
        S("NATS_ERR", why="an empty payload is valid; the connection has no credentials to sign with"), None),
    ("natsConnection_Sign", "-messageLen"): (INVALID_ARG, None),
    ("natsConnection_Publish", "subj"): (S("NATS_INVALID_SUBJECT", why="cnats: NULL subject is NATS_INVALID_SUBJECT"), None),
    ("natsConnection_Publish", "data"): (INVALID_ARG, CRASH("cnats copies dataLen bytes from NULL")),
    ("natsConnection_Publish", "data+0"): (S("NATS_OK", why="data may be NULL with dataLen 0 (documented)"), None),
    ("natsConnection_Publish", "-dataLen"): (
        INVALID_ARG, S("NATS_OK", why="cnats sends an empty payload for a negative length")),
    ("natsConnection_PublishString", "subj"): (S("NATS_INVALID_SUBJECT", why="cnats: NULL subject is NATS_INVALID_SUBJECT"), None),
    ("natsConnection_PublishString", "str"): (S("NATS_OK", why="a NULL string is an empty payload (cnats)"), None),
    ("natsConnection_PublishMsg", "msg"): (INVALID_ARG, CRASH("cnats < 3.13 dereferences the NULL message")),
    ("natsConnection_PublishRequest", "subj"): (S("NATS_INVALID_SUBJECT", why="cnats: NULL subject is NATS_INVALID_SUBJECT"), None),
    ("natsConnection_PublishRequest", "data"): (INVALID_ARG, CRASH("cnats copies dataLen bytes from NULL")),
    ("natsConnection_PublishRequest", "data+0"): (S("NATS_OK", why="data may be NULL with dataLen 0 (documented)"), None),
    ("natsConnection_PublishRequest", "-dataLen"): (
        INVALID_ARG, S("NATS_OK", why="cnats sends an empty payload for a negative length")),
    ("natsConnection_PublishRequestString", "subj"): (S("NATS_INVALID_SUBJECT", why="cnats: NULL subject is NATS_INVALID_SUBJECT"), None),
    ("natsConnection_PublishRequestString", "str"): (S("NATS_OK", why="a NULL string is an empty payload (cnats)"), None),
    ("natsConnection_Send", "subj"): (S("NATS_INVALID_SUBJECT", why="cnats: NULL subject is NATS_INVALID_SUBJECT"), None),
    ("natsConnection_Send", "data"): (INVALID_ARG, CRASH("cnats copies dataLen bytes from NULL")),
    ("natsConnection_Send", "data+0"): (S("NATS_OK", why="data may be NULL with dataLen 0 (documented)"), None),
    ("natsConnection_Send", "-dataLen"): (
        INVALID_ARG, S("NATS_OK", why="cnats sends an empty payload for a negative length")),
    ("natsConnection_SendRequest", "subj"): (S("NATS_INVALID_SUBJECT", why="cnats: NULL subject is NATS_INVALID_SUBJECT"), None),
    ("natsConnection_SendRequest", "data"): (INVALID_ARG, CRASH("cnats copies dataLen bytes from NULL")),
    ("natsConnection_SendRequest", "data+0"): (S("NATS_OK", why="data may be NULL with dataLen 0 (documented)"), None),
    ("natsConnection_SendRequest", "-dataLen"): (
        INVALID_ARG, S("NATS_OK", why="cnats sends an empty payload for a negative length")),
    ("natsConnection_Request", "subj"): (S("NATS_INVALID_SUBJECT", why="cnats: NULL subject is NATS_INVALID_SUBJECT"), None),
    ("natsConnection_Request", "data"): (INVALID_ARG, CRASH("cnats copies dataLen bytes from NULL")),
    ("natsConnection_Request", "data+0"): (
        S("NATS_NO_RESPONDERS", why="an empty request is valid; nobody listens on the subject"), None),
    ("natsConnection_Request", "-dataLen"): (
        INVALID_ARG, S("NATS_NO_RESPONDERS", why="cnats sends an empty payload for a negative length")),
    ("natsConnection_Request", "-timeout"): (
        S("NATS_INVALID_TIMEOUT", why="this library refuses a timeout <= 0"),
        S("NATS_TIMEOUT", "NATS_NO_RESPONDERS",
          why="cnats sends the request and times out at once, unless the no-responders reply was quicker")),
    ("natsConnection_RequestString", "subj"): (S("NATS_INVALID_SUBJECT", why="cnats: NULL subject is NATS_INVALID_SUBJECT"), None),
    ("natsConnection_RequestString", "str"): (
        S("NATS_NO_RESPONDERS", why="a NULL string is an empty request; nobody listens on the subject"), None),
    ("natsConnection_RequestString", "-timeout"): (
        S("NATS_INVALID_TIMEOUT", why="this library refuses a timeout <= 0"),
        S("NATS_TIMEOUT", "NATS_NO_RESPONDERS",
          why="cnats sends the request and times out at once, unless the no-responders reply was quicker")),
    ("natsConnection_RequestMsg", "-timeout"): (
        S("NATS_INVALID_TIMEOUT", why="this library refuses a timeout <= 0"),
        S("NATS_TIMEOUT", "NATS_NO_RESPONDERS",
          why="cnats sends the request and times out at once, unless the no-responders reply was quicker")),
    ("natsConnection_Subscribe", "sub"): (INVALID_ARG, CRASH(CN_CRASH_OUT + " (after subscribing)")),
    ("natsConnection_Subscribe", "subject"): (S("NATS_INVALID_SUBJECT", why="cnats: NULL subject is NATS_INVALID_SUBJECT"), None),
    ("natsConnection_Subscribe", "cbClosure"): (S("NATS_OK", why=C_CLOSURE), None),
    ("natsConnection_SubscribeTimeout", "sub"): (INVALID_ARG, CRASH(CN_CRASH_OUT + " (after subscribing)")),
    ("natsConnection_SubscribeTimeout", "subject"): (S("NATS_INVALID_SUBJECT", why="cnats: NULL subject is NATS_INVALID_SUBJECT"), None),
    ("natsConnection_SubscribeTimeout", "cbClosure"): (S("NATS_OK", why=C_CLOSURE), None),
    ("natsConnection_SubscribeTimeout", "-timeout"): (S("NATS_INVALID_ARG", why="cnats: timeout must be > 0"), None),
    ("natsConnection_SubscribeSync", "sub"): (INVALID_ARG, CRASH(CN_CRASH_OUT + " (after subscribing)")),
    ("natsConnection_SubscribeSync", "subject"): (S("NATS_INVALID_SUBJECT", why="cnats: NULL subject is NATS_INVALID_SUBJECT"), None),
    ("natsConnection_QueueSubscribe", "sub"): (INVALID_ARG, CRASH(CN_CRASH_OUT + " (after subscribing)")),
    ("natsConnection_QueueSubscribe", "subject"): (S("NATS_INVALID_SUBJECT", why="cnats: NULL subject is NATS_INVALID_SUBJECT"), None),
    ("natsConnection_QueueSubscribe", "cbClosure"): (S("NATS_OK", why=C_CLOSURE), None),
    ("natsConnection_QueueSubscribeTimeout", "sub"): (INVALID_ARG, CRASH(CN_CRASH_OUT + " (after subscribing)")),
    ("natsConnection_QueueSubscribeTimeout", "subject"): (S("NATS_INVALID_SUBJECT", why="cnats: NULL subject is NATS_INVALID_SUBJECT"), None),
    ("natsConnection_QueueSubscribeTimeout", "cbClosure"): (S("NATS_OK", why=C_CLOSURE), None),
    ("natsConnection_QueueSubscribeTimeout", "-timeout"): (S("NATS_INVALID_ARG", why="cnats: timeout must be > 0"), None),
    ("natsConnection_QueueSubscribeSync", "sub"): (INVALID_ARG, CRASH(CN_CRASH_OUT + " (after subscribing)")),
    ("natsConnection_QueueSubscribeSync", "subject"): (S("NATS_INVALID_SUBJECT", why="cnats: NULL subject is NATS_INVALID_SUBJECT"), None),
    # --- natsMsg, headers -------------------------------------------------------------------
    ("natsMsg_Create", "newMsg"): (INVALID_ARG, CRASH(CN_CRASH_OUT)),
    ("natsMsg_Create", "reply"): (S("NATS_OK", why="a message without reply subject (documented)"), None),
    ("natsMsg_Create", "data"): (
        INVALID_ARG, S("NATS_OK", why="cnats skips the copy and leaves dataLen uninitialised bytes")),
    ("natsMsg_Create", "data+0"): (S("NATS_OK", why="data may be NULL with dataLen 0 (documented)"), None),
    ("natsMsg_Create", "-dataLen"): (INVALID_ARG, CRASH("cnats memcpy()s a negative length: heap corruption (glibc aborts)")),
    ("natsMsg_GetSubject", "msg"): (R("r == NULL", C_GETTER_NULL), None),
    ("natsMsg_GetReply", "msg"): (R("r == NULL", C_GETTER_NULL), None),
    ("natsMsg_GetData", "msg"): (R("r == NULL", C_GETTER_NULL), None),
    ("natsMsg_GetDataLength", "msg"): (R("r == 0", C_GETTER_NULL), None),
    ("natsMsg_IsNoResponders", "msg"): (R("r == false", C_GETTER_NULL), None),
    ("natsMsg_Destroy", "msg"): (NOOP(C_DESTROY_NULL), None),
    ("natsMsgHeader_Set", "value"): (S("NATS_OK", why="cnats accepts a NULL header value"), None),
    ("natsMsgHeader_Add", "value"): (S("NATS_OK", why="cnats accepts a NULL header value"), None),
    ("natsMsgList_Destroy", "list"): (NOOP(C_DESTROY_NULL), None),
    ("natsHeader_KeysCount", "h"): (R("r == 0", C_GETTER_NULL), None),
    ("natsHeader_Destroy", "h"): (NOOP(C_DESTROY_NULL), None),
    # --- library ------------------------------------------------------------------------------
    ("nats_OpenWithConfig", "config"): (
        S("NATS_OK", why="cnats: a NULL config opens the library with defaults, like nats_Open(-1)"), None),
    ("nats_Open", "-lockSpinCount"): (S("NATS_OK", why="-1 selects the default spin count (documented)"), None),
    ("nats_CheckCompatibilityImpl", "verString"): (
        R("r == true", "the version string is only printed when the versions are incompatible"), None),
    ("nats_Sleep", "-sleepTime"): (
        R("elapsed < 1000", "a negative sleep returns at once"),
        CRASH("hangs: cnats usleep()s -1000 as an unsigned number of microseconds (71 minutes)")),
    ("nats_GetLastError", "status"): (
        R("r != NULL", "the status out-pointer is optional; the text of the last error is returned"), None),
    ("nats_GetLastErrorStack", "buffer"): (
        S("NATS_INVALID_ARG", recorded=False, why="cnats returns NATS_INVALID_ARG without recording it"), None),
    ("nats_GetLastErrorStack", "0bufLen"): (
        S("NATS_INVALID_ARG", recorded=False, why="cnats returns NATS_INVALID_ARG without recording it"), None),
    ("nats_PrintLastErrorStack", "file"): (NOOP("nothing to print to"), CRASH("cnats fprintf()s to the NULL FILE")),
    ("nats_SetMessageDeliveryPoolSize", "-max"): (
        INVALID_ARG, S("NATS_ERR", why="cnats reports 'Pool size cannot be negative or zero' as NATS_ERR")),
    ("nats_CloseAndWait", "-timeout"): (
        SKIP("it closes the library: test_library_close_twice calls it last, after nats_Close"), None),
    ("natsStatus_GetText", "-s"): (
        R("r != NULL && r[0] != '\\0'", "an unknown status has a text"), CRASH("cnats indexes its text table out of bounds")),
    ("natsStatistics_Create", "newStats"): (INVALID_ARG, CRASH(CN_CRASH_OUT)),
    ("natsStatistics_GetCounts", "inMsgs"): (S("NATS_OK", why=C_OPT_OUT), None),
    ("natsStatistics_GetCounts", "inBytes"): (S("NATS_OK", why=C_OPT_OUT), None),
    ("natsStatistics_GetCounts", "outMsgs"): (S("NATS_OK", why=C_OPT_OUT), None),
    ("natsStatistics_GetCounts", "outBytes"): (S("NATS_OK", why=C_OPT_OUT), None),
    ("natsStatistics_GetCounts", "reconnects"): (S("NATS_OK", why=C_OPT_OUT), None),
    ("natsStatistics_Destroy", "stats"): (NOOP(C_DESTROY_NULL), None),
    ("natsInbox_Create", "newInbox"): (INVALID_ARG, CRASH(CN_CRASH_OUT)),
    ("natsInbox_Destroy", "inbox"): (NOOP(C_DESTROY_NULL), None),
    # --- natsOptions ----------------------------------------------------------------------------
    ("natsOptions_Create", "newOpts"): (INVALID_ARG, CRASH(CN_CRASH_OUT)),
    ("natsOptions_Destroy", "opts"): (NOOP(C_DESTROY_NULL), None),
    ("natsOptions_SetURL", "url"): (S("NATS_OK", why=C_NULL_OK_SETTER), None),
    ("natsOptions_SetServers", "servers+0"): (S("NATS_OK", why="NULL with a count of 0 clears the list (cnats)"), None),
    ("natsOptions_SetServers", "-serversCount"): (INVALID_ARG, None),
    ("natsOptions_SetUserInfo", "user"): (S("NATS_OK", why=C_NULL_OK_SETTER), None),
    ("natsOptions_SetUserInfo", "password"): (S("NATS_OK", why=C_NULL_OK_SETTER), None),
    ("natsOptions_SetToken", "token"): (S("NATS_OK", why=C_NULL_OK_SETTER), None),
    ("natsOptions_SetTokenHandler", "tokenCb"): (S("NATS_OK", why=C_CB_REMOVE), None),
    ("natsOptions_SetTokenHandler", "closure"): (S("NATS_OK", why=C_CLOSURE), None),
    ("natsOptions_SetProxyConnHandler", "proxyConnHandler"): (S("NATS_OK", why=C_CB_REMOVE), None),
    ("natsOptions_SetProxyConnHandler", "closure"): (S("NATS_OK", why=C_CLOSURE), None),
    ("natsOptions_SetTimeout", "-timeout"): (INVALID_ARG, None),
    ("natsOptions_SetName", "name"): (S("NATS_OK", why=C_NULL_OK_SETTER), None),
    ("natsOptions_SetPingInterval", "-interval"): (
        S("NATS_OK", why="cnats does not check the interval (<= 0 disables client PINGs here)"), None),
    ("natsOptions_SetMaxPingsOut", "-maxPingsOut"): (S("NATS_OK", why="cnats does not check the value"), None),
    ("natsOptions_SetIOBufSize", "-ioBufSize"): (INVALID_ARG, None),
    ("natsOptions_SetMaxReconnect", "-maxReconnect"): (S("NATS_OK", why="negative means no limit (cnats)"), None),
    ("natsOptions_SetReconnectWait", "-reconnectWait"): (INVALID_ARG, None),
    ("natsOptions_SetReconnectJitter", "-jitter"): (INVALID_ARG, None),
    ("natsOptions_SetReconnectJitter", "-jitterTLS"): (INVALID_ARG, None),
    ("natsOptions_SetCustomReconnectDelay", "cb"): (S("NATS_OK", why=C_CB_REMOVE), None),
    ("natsOptions_SetCustomReconnectDelay", "closure"): (S("NATS_OK", why=C_CLOSURE), None),
    ("natsOptions_SetReconnectBufSize", "-reconnectBufSize"): (INVALID_ARG, None),
    ("natsOptions_SetMaxPendingMsgs", "-maxPending"): (INVALID_ARG, None),
    ("natsOptions_SetMaxPendingBytes", "-maxPending"): (INVALID_ARG, None),
    ("natsOptions_SetErrorHandler", "errHandler"): (S("NATS_OK", why="NULL restores the default error handler (cnats)"), None),
    ("natsOptions_SetErrorHandler", "closure"): (S("NATS_OK", why=C_CLOSURE), None),
    ("natsOptions_SetClosedCB", "closedCb"): (S("NATS_OK", why=C_CB_REMOVE), None),
    ("natsOptions_SetClosedCB", "closure"): (S("NATS_OK", why=C_CLOSURE), None),
    ("natsOptions_SetDisconnectedCB", "disconnectedCb"): (S("NATS_OK", why=C_CB_REMOVE), None),
    ("natsOptions_SetDisconnectedCB", "closure"): (S("NATS_OK", why=C_CLOSURE), None),
    ("natsOptions_SetReconnectedCB", "reconnectedCb"): (S("NATS_OK", why=C_CB_REMOVE), None),
    ("natsOptions_SetReconnectedCB", "closure"): (S("NATS_OK", why=C_CLOSURE), None),
    ("natsOptions_SetDiscoveredServersCB", "discoveredServersCb"): (S("NATS_OK", why=C_CB_REMOVE), None),
    ("natsOptions_SetDiscoveredServersCB", "closure"): (S("NATS_OK", why=C_CLOSURE), None),
    ("natsOptions_SetLameDuckModeCB", "lameDuckCb"): (S("NATS_OK", why=C_CB_REMOVE), None),
    ("natsOptions_SetLameDuckModeCB", "closure"): (S("NATS_OK", why=C_CLOSURE), None),
    ("natsOptions_IPResolutionOrder", "-order"): (INVALID_ARG, None),
    ("natsOptions_SetWriteDeadline", "-deadline"): (INVALID_ARG, None),
    ("natsOptions_SetCustomInboxPrefix", "inboxPrefix"): (S("NATS_OK", why="NULL restores the default _INBOX prefix (cnats)"), None),
    ("natsOptions_SetRetryOnFailedConnect", "connectedCb"): (S("NATS_OK", why="the connected callback is optional (cnats)"), None),
    ("natsOptions_SetRetryOnFailedConnect", "closure"): (S("NATS_OK", why=C_CLOSURE), None),
    ("natsOptions_SetUserCredentialsFromFiles", "seedFile"): (
        S("NATS_OK", why="the seed may be in the chained user file (documented)"), None),
    ("natsOptions_SetUserCredentialsFromMemory", "jwtAndSeedContent"): (S("NATS_OK", why=C_NULL_OK_SETTER), None),
    ("natsOptions_SetUserCredentialsCallbacks", "ujwtClosure"): (S("NATS_OK", why=C_CLOSURE), None),
    ("natsOptions_SetUserCredentialsCallbacks", "sigClosure"): (S("NATS_OK", why=C_CLOSURE), None),
    ("natsOptions_SetNKey", "pubKey"): (S("NATS_OK", why="a NULL public key clears the NKey setting (cnats)"), None),
    ("natsOptions_SetNKey", "sigClosure"): (S("NATS_OK", why=C_CLOSURE), None),
    ("natsOptions_SetNKeyFromSeed", "pubKey"): (S("NATS_OK", why="a NULL public key clears the NKey setting (cnats)"), None),
    ("natsOptions_SetMessageBufferPadding", "-paddingSize"): (INVALID_ARG, None),
    ("natsOptions_SetCipherSuites", "ciphers"): (INVALID_ARG, CRASH("cnats passes NULL to OpenSSL's SSL_CTX_set_ciphersuites")),
    ("natsOptions_SetExpectedHostname", "hostname"): (
        S("NATS_OK", why="NULL resets the expected host name to the URL's (cnats)"), None),
    # --- natsSubscription ---------------------------------------------------------------------
    ("natsSubscription_NextMsg", "-timeout"): (
        S("NATS_TIMEOUT", why="a timeout <= 0 polls: no message is pending (cnats)"), None),
    ("natsSubscription_AutoUnsubscribe", "-max"): (
        S("NATS_OK", why="cnats accepts it (a full unsubscribe on the server)"), None),
    ("natsSubscription_GetConnection", "sub"): (R("r == NULL", C_GETTER_NULL), None),
    ("natsSubscription_GetID", "sub"): (R("r == 0", C_GETTER_NULL), None),
    ("natsSubscription_GetSubject", "sub"): (R("r == NULL", C_GETTER_NULL), None),
    ("natsSubscription_SetPendingLimits", "-msgLimit"): (S("NATS_OK", why="negative means no limit (documented)"), None),
    ("natsSubscription_SetPendingLimits", "-bytesLimit"): (S("NATS_OK", why="negative means no limit (documented)"), None),
    ("natsSubscription_GetPendingLimits", "msgLimit"): (S("NATS_OK", why=C_OPT_OUT), None),
    ("natsSubscription_GetPendingLimits", "bytesLimit"): (S("NATS_OK", why=C_OPT_OUT), None),
    ("natsSubscription_GetPending", "msgs"): (S("NATS_OK", why=C_OPT_OUT), None),
    ("natsSubscription_GetPending", "bytes"): (S("NATS_OK", why=C_OPT_OUT), None),
    ("natsSubscription_GetMaxPending", "msgs"): (S("NATS_OK", why=C_OPT_OUT), None),
    ("natsSubscription_GetMaxPending", "bytes"): (S("NATS_OK", why=C_OPT_OUT), None),
    ("natsSubscription_GetStats", "pendingMsgs"): (S("NATS_OK", why=C_OPT_OUT), None),
    ("natsSubscription_GetStats", "pendingBytes"): (S("NATS_OK", why=C_OPT_OUT), None),
    ("natsSubscription_GetStats", "maxPendingMsgs"): (S("NATS_OK", why=C_OPT_OUT), None),
    ("natsSubscription_GetStats", "maxPendingBytes"): (S("NATS_OK", why=C_OPT_OUT), None),
    ("natsSubscription_GetStats", "deliveredMsgs"): (S("NATS_OK", why=C_OPT_OUT), None),
    ("natsSubscription_GetStats", "droppedMsgs"): (S("NATS_OK", why=C_OPT_OUT), None),
    ("natsSubscription_IsValid", "sub"): (R("r == false", C_GETTER_NULL), None),
    ("natsSubscription_DrainTimeout", "-timeout"): (S("NATS_OK", why="timeout <= 0 means no time limit (cnats)"), None),
    ("natsSubscription_WaitForDrainCompletion", "-timeout"): (
        S("NATS_ILLEGAL_STATE", why="no drain was started (cnats); <= 0 would wait without limit"), None),
    ("natsSubscription_SetOnCompleteCB", "cb"): (S("NATS_OK", why=C_CB_REMOVE), None),
    ("natsSubscription_SetOnCompleteCB", "closure"): (S("NATS_OK", why=C_CLOSURE), None),
    ("natsSubscription_Destroy", "sub"): (NOOP(C_DESTROY_NULL), None),
}

# Functions without any pointer, integer or size parameter: nothing to misuse.
NO_MISUSE_REASON = "no pointer, integer or size parameter"

# ---------------------------------------------------------------------------------------
# Header parsing.
# ---------------------------------------------------------------------------------------


class Param:
    def __init__(self, ctype, name):
        self.ctype = ctype
        self.name = name


class Func:
    def __init__(self, ret, name, params):
        self.ret = ret
        self.name = name
        self.params = params


def norm_type(t):
    t = re.sub(r"\s+", " ", t.strip())
    t = re.sub(r"\s*\*", " *", t)
    t = t.replace("* *", "**").replace("* *", "**")
    return t


def parse_header(path):
    text = open(path, encoding="utf-8").read()
    callbacks = set(re.findall(r"typedef\s+[^;()]*\(\s*\*\s*(\w+)\s*\)\s*\(", text))
    funcs = []
    for m in re.finditer(r"^NATS_EXTERN\s+(.+?)\b(\w+)\((.*)\);\s*$", text, re.M):
        ret, name, plist = norm_type(m.group(1)), m.group(2), m.group(3).strip()
        params = []
        if plist and plist != "void":
            for p in plist.split(","):
                p = p.strip()
                pm = re.match(r"^(.*?)(\w+)$", p)
                if not pm:
                    raise SystemExit(f"cannot parse parameter '{p}' of {name}")
                params.append(Param(norm_type(pm.group(1)), pm.group(2)))
        funcs.append(Func(ret, name, params))
    # Every NATS_EXTERN line must have been understood.
    n_extern = len(re.findall(r"^NATS_EXTERN\b", text, re.M))
    if n_extern != len(funcs):
        raise SystemExit(f"parsed {len(funcs)} prototypes but the header has {n_extern} NATS_EXTERN lines")
    return funcs, callbacks


def is_pointer(p, callbacks):
    return "*" in p.ctype or p.ctype in callbacks


def valid_value(func, p):
    for key, table in (((func.name, p.name), VALID_BY_FUNC_PARAM),
                       ((p.ctype, p.name), VALID_BY_TYPE_PARAM),
                       (p.ctype, VALID_BY_TYPE)):
        if key in table:
            return table[key]
    raise SystemExit(f"no valid value for parameter '{p.ctype} {p.name}' of {func.name}: "
                     f"add one to VALID_BY_* in {os.path.basename(__file__)}")


# ---------------------------------------------------------------------------------------
# Call generation.
# ---------------------------------------------------------------------------------------


class Call:
    def __init__(self, func, label, args, fixtures, ours, cnats, note):
        self.func = func
        self.label = label
        self.args = args
        self.fixtures = fixtures
        self.ours = ours
        self.cnats = cnats
        self.note = note


def expectation(func, label, used):
    key = (func.name, label)
    if key in EXCEPTIONS:
        used.add(key)
        ours, cnats = EXCEPTIONS[key]
        return ours, (cnats if cnats is not None else ours)
    if func.ret == "natsStatus" and not label.startswith(("-", "0")) and not label.endswith("+0"):
        return INVALID_ARG, INVALID_ARG
    raise SystemExit(f"{func.name}: call '{label}' needs an entry in EXCEPTIONS "
                     f"(only NULL pointers of natsStatus functions default to NATS_INVALID_ARG)")


def build_calls(funcs, callbacks):
    calls = []
    used = set()
    for f in funcs:
        valid = {}
        fixtures_base = set(FIXTURES_BY_FUNC.get(f.name, ()))

        def make(label, override, note):
            args = []
            fx = set(fixtures_base)
            for i, p in enumerate(f.params):
                if i in override:
                    args.append(override[i])
                else:
                    if i not in valid:
                        valid[i] = valid_value(f, p)
                    expr, need = valid[i]
                    args.append(expr)
                    fx.update(need)
            ours, cnats = expectation(f, label, used)
            calls.append(Call(f, label, args, sorted(fx), ours, cnats, note))

        for i, p in enumerate(f.params):
            nxt = f.params[i + 1] if i + 1 < len(f.params) else None
            if is_pointer(p, callbacks):
                make(p.name, {i: "NULL"}, f"{p.name} = NULL")
                paired_len = (nxt is not None and nxt.ctype == "int"
                              and (nxt.name.lower().endswith("len") or nxt.name.endswith("Count")))
                if paired_len:
                    make(p.name + "+0", {i: "NULL", i + 1: "0"}, f"{p.name} = NULL, {nxt.name} = 0")
            elif p.ctype in ("int", "int64_t", "natsStatus"):
                make("-" + p.name, {i: "-1"}, f"{p.name} = -1")
            elif p.ctype == "size_t":
                make("0" + p.name, {i: "0"}, f"{p.name} = 0")
    stale = set(EXCEPTIONS) - used
    if stale:
        raise SystemExit("EXCEPTIONS entries that match no call (header changed?): " +
                         ", ".join(f"{a}/{b}" for a, b in sorted(stale)))
    return calls


# ---------------------------------------------------------------------------------------
# C output.
# ---------------------------------------------------------------------------------------


def c_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def c_ident(call):
    lab = call.label.replace("+0", "_len0").replace("-", "neg_")
    if lab.startswith("0"):
        lab = "zero_" + lab[1:]
    return f"mc_{call.func.name}__{lab}"


def emit_check(e, ret):
    """C statements checking the outcome `e` of a call whose result is `r` (if any)."""
    if e.kind == "status":
        if len(e.statuses) == 1:
            return [f"mx_status(r, {e.statuses[0]}, {'true' if e.recorded else 'false'});"]
        return [f"mx_status_oneof(r, {e.statuses[0]}, {e.statuses[1]});"]
    if e.kind == "ret":
        if not e.keep:
            return [f"mx_ret_any({e.cond}, {c_str(e.cond)});"]
        return [f"mx_ret({e.cond}, {c_str(e.cond)});"]
    if e.kind == "noop":
        return ["mx_noop();"]
    raise AssertionError(e.kind)


def emit(funcs, calls):
    out = []
    w = out.append
    w("/*")
    w(" * GENERATED by c_tests/tools/gen_misuse.py from include/nats/nats.h: do not edit.")
    w(" * Regenerate: python3 c_tests/tools/gen_misuse.py   (ctest checks it is up to date)")
    w(" *")
    w(" * For every function of the header: each pointer parameter NULL with the other")
    w(" * arguments valid, each int/int64_t/natsStatus parameter -1, each size_t size 0.")
    w(" * Included by test_misuse.c, which provides misuse_fx, the fixtures and mx_* checks.")
    w(" */")
    w("")
    w(f"#define MISUSE_HEADER_FUNCTIONS {len(funcs)}")
    w("")
    for c in calls:
        ours, cn = c.ours, c.cnats
        guard = c.func.name in SINCE_3_13
        if ours.kind == "skip":
            continue
        if guard:
            w("#if HAVE_NATS_3_13")
        w(f"/* {c.func.name}: {c.note} -> {ours.describe()}"
          + (f" [{ours.reason}]" if ours.reason else "")
          + ("" if cn is ours else f"; cnats: {cn.describe()}" + (f" [{cn.reason}]" if cn.reason else ""))
          + " */")
        w("static void")
        w(f"{c_ident(c)}(misuse_fx *fx)")
        w("{")
        call = f"{c.func.name}({', '.join(c.args)})"
        uses_elapsed = ours.kind == "ret" and "elapsed" in (ours.cond or "")
        if uses_elapsed:
            w("    int64_t start = h_now_ms();")
            w(f"    {call};")
            w("    int64_t elapsed = h_now_ms() - start;")
        elif c.func.ret == "void":
            w(f"    {call};")
        else:
            w(f"    {c.func.ret} r = {call};")
        body_ours = emit_check(ours, c.func.ret)
        if cn is ours or cn.kind == "crash":
            for line in body_ours:
                w("    " + line)
        else:
            w("    if (!g_cnats)")
            w("    {")
            for line in body_ours:
                w("        " + line)
            w("    }")
            w("    else")
            w("    {")
            for line in emit_check(cn, c.func.ret):
                w("        " + line)
            w("    }")
        if "fx" not in call and not any("fx" in line for line in body_ours):
            w("    (void) fx;")
        w("}")
        if guard:
            w("#endif")
        w("")
    w("static const misuse_call misuse_calls[] = {")
    for c in calls:
        if c.ours.kind == "skip":
            continue
        guard = c.func.name in SINCE_3_13
        if guard:
            w("#if HAVE_NATS_3_13")
        fx = "|".join(c.fixtures) if c.fixtures else "0"
        crash = c.cnats.kind == "crash"
        w(f"    {{ {c_str(c.func.name)}, {c_str(c.note)}, {fx}, "
          f"{c_str(c.cnats.reason) if crash else 'NULL'}, {c_ident(c)} }},")
        if guard:
            w("#endif")
    w("};")
    w("")
    w("/* Every function of the header, with its number of generated calls and, for those")
    w(" * without any, the reason. */")
    w("static const misuse_func misuse_funcs[] = {")
    per = {}
    skipped = {}
    for c in calls:
        if c.ours.kind == "skip":
            skipped[c.func.name] = f"{c.note}: {c.ours.reason}"
        else:
            per[c.func.name] = per.get(c.func.name, 0) + 1
    for f in funcs:
        n = per.get(f.name, 0)
        reason = skipped.get(f.name) or (None if n else NO_MISUSE_REASON)
        w(f"    {{ {c_str(f.name)}, {n}, {c_str(reason) if reason else 'NULL'} }},")
    w("};")
    w("")
    w("/* Exceptions to \"NULL gives NATS_INVALID_ARG, recorded as the last error\" and the")
    w(" * expectations of the -1 / 0 calls (see EXCEPTIONS in gen_misuse.py):")
    for c in calls:
        e, cn = c.ours, c.cnats
        default = (e is INVALID_ARG and cn is INVALID_ARG)
        if default:
            continue
        line = f" *   {c.func.name} ({c.note}): {e.describe()}"
        if e.reason:
            line += f" - {e.reason}"
        if cn is not e:
            line += f"; cnats: {cn.describe()}" + (f" - {cn.reason}" if cn.reason else "")
        w(line)
    w(" */")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="fail if the committed file is stale")
    ap.add_argument("--list", action="store_true", help="print the calls and expectations")
    ap.add_argument("--header", default=HEADER)
    ap.add_argument("--output", default=OUTPUT)
    a = ap.parse_args()

    funcs, callbacks = parse_header(a.header)
    calls = build_calls(funcs, callbacks)
    text = emit(funcs, calls)

    if a.list:
        for c in calls:
            cn = "" if c.cnats is c.ours else f"   | cnats: {c.cnats.describe()}"
            print(f"{c.func.name:45} {c.note:40} {c.ours.describe()}{cn}")
        nf = len({c.func.name for c in calls})
        print(f"{len(calls)} calls over {nf} of {len(funcs)} functions")
        return 0
    if a.check:
        try:
            cur = open(a.output, encoding="utf-8").read()
        except OSError:
            cur = None
        if cur != text:
            sys.stderr.write(f"{a.output} is not up to date with {a.header}: "
                             f"run python3 c_tests/tools/gen_misuse.py and commit the result\n")
            return 1
        ncalls = sum(1 for c in calls if c.ours.kind != "skip")
        print(f"misuse sweep up to date: {len(funcs)} functions, {ncalls} calls")
        return 0
    with open(a.output, "w", encoding="utf-8") as fh:
        fh.write(text)
    ncalls = sum(1 for c in calls if c.ours.kind != "skip")
    print(f"wrote {a.output}: {len(funcs)} functions, {ncalls} calls")
    return 0


if __name__ == "__main__":
    sys.exit(main())
