/*
 * libevent adapter for the NATS C client library (header only).
 *
 * Lets a libevent event_base poll a connection's socket:
 *
 *     natsLibevent_Init();                      // once, before event_base_new()
 *     struct event_base *base = event_base_new();
 *     natsOptions_SetEventLoop(opts, (void*) base,
 *                              natsLibevent_Attach, natsLibevent_Read,
 *                              natsLibevent_Write, natsLibevent_Detach);
 *     natsConnection_Connect(&nc, opts);
 *     event_base_dispatch(base);
 *
 * The library calls these functions from its own threads as well as from the loop's, so
 * natsLibevent_Init() turns on libevent's thread support. While a connection is attached,
 * a timer keeps event_base_dispatch() from returning between a disconnect and the next
 * reconnect. Like the cnats header it replaces, it defines (non-static) functions: include
 * it in one source file of a program.
 *
 * Link with -levent -levent_pthreads.
 */
#ifndef NATS_ADAPTERS_LIBEVENT_H_
#define NATS_ADAPTERS_LIBEVENT_H_

#include <stdlib.h>
#include <event2/event.h>
#include <event2/thread.h>
#include "../nats.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the adapter keeps for one connection, between attach and detach. */
typedef struct
{
    natsConnection      *nc;
    struct event_base   *base;
    natsSock            fd;
    struct event        *onRead;
    struct event        *onWrite;
    struct event        *keepAlive;

} natsLibeventConn;

natsStatus natsLibevent_Read(void *userData, bool add);
natsStatus natsLibevent_Write(void *userData, bool add);
natsStatus natsLibevent_Detach(void *userData);

/* Turns on libevent's locking. Call once before creating the event_base. */
void
natsLibevent_Init(void)
{
    evthread_use_pthreads();
}

static void
_natsLibevent_onSocket(evutil_socket_t fd, short what, void *arg)
{
    natsLibeventConn *c = (natsLibeventConn*) arg;

    (void) fd;
    if (what & EV_READ)
        natsConnection_ProcessReadEvent(c->nc);
    if (what & EV_WRITE)
        natsConnection_ProcessWriteEvent(c->nc);
}

static void
_natsLibevent_onKeepAlive(evutil_socket_t fd, short what, void *arg)
{
    (void) fd; (void) what; (void) arg;
}

static void
_natsLibevent_freeSocketEvents(natsLibeventConn *c)
{
    if (c->onRead != NULL)
        event_free(c->onRead);
    if (c->onWrite != NULL)
        event_free(c->onWrite);
    c->onRead  = NULL;
    c->onWrite = NULL;
}

/* Called after each connect and reconnect: polls `socket` for input. `*userData` is NULL
 * the first time and what this function stored there afterwards. */
natsStatus
natsLibevent_Attach(void **userData, void *loop, natsConnection *nc, natsSock socket)
{
    natsLibeventConn *c = (natsLibeventConn*) *userData;
    bool             fresh = (c == NULL);

    if (fresh)
    {
        struct timeval day = { 86400, 0 };

        c = (natsLibeventConn*) calloc(1, sizeof(natsLibeventConn));
        if (c == NULL)
            return NATS_NO_MEMORY;
        c->nc   = nc;
        c->base = (struct event_base*) loop;
        c->fd   = -1;
        c->keepAlive = event_new(c->base, -1, EV_PERSIST, _natsLibevent_onKeepAlive, NULL);
        if ((c->keepAlive == NULL) || (event_add(c->keepAlive, &day) != 0))
        {
            if (c->keepAlive != NULL)
                event_free(c->keepAlive);
            free(c);
            return NATS_ERR;
        }
    }
    _natsLibevent_freeSocketEvents(c);
    c->fd      = socket;
    c->onRead  = event_new(c->base, socket, EV_READ | EV_PERSIST, _natsLibevent_onSocket, c);
    c->onWrite = event_new(c->base, socket, EV_WRITE | EV_PERSIST, _natsLibevent_onSocket, c);
    if ((c->onRead == NULL) || (c->onWrite == NULL) || (event_add(c->onRead, NULL) != 0))
    {
        _natsLibevent_freeSocketEvents(c);
        c->fd = -1;
        if (fresh)
        {
            event_free(c->keepAlive);
            free(c);
        }
        return NATS_ERR;
    }
    *userData = c;
    return NATS_OK;
}

/* Starts or stops polling for input. Stopping means the session is over: the socket is
 * closed here. */
natsStatus
natsLibevent_Read(void *userData, bool add)
{
    natsLibeventConn *c = (natsLibeventConn*) userData;

    if (c->onRead == NULL)
        return add ? NATS_ILLEGAL_STATE : NATS_OK;
    if (add)
        return (event_add(c->onRead, NULL) == 0) ? NATS_OK : NATS_ERR;
    if (event_del_noblock(c->onRead) != 0)
        return NATS_ERR;
    natsConnection_ProcessCloseEvent(&c->fd);
    return NATS_OK;
}

/* Starts or stops polling for room to write. */
natsStatus
natsLibevent_Write(void *userData, bool add)
{
    natsLibeventConn *c = (natsLibeventConn*) userData;
    int              rc;

    if (c->onWrite == NULL)
        return add ? NATS_ILLEGAL_STATE : NATS_OK;
    rc = add ? event_add(c->onWrite, NULL) : event_del_noblock(c->onWrite);
    return (rc == 0) ? NATS_OK : NATS_ERR;
}

/* The connection is closed: frees what the adapter kept, then hands the connection back
 * to the library. */
natsStatus
natsLibevent_Detach(void *userData)
{
    natsLibeventConn *c  = (natsLibeventConn*) userData;
    natsConnection   *nc = c->nc;

    _natsLibevent_freeSocketEvents(c);
    natsConnection_ProcessCloseEvent(&c->fd);
    event_free(c->keepAlive);
    /* Removing a timer from another thread does not wake the loop, which would sleep until
     * the removed timer's deadline. A new timer due now does: the loop runs it, and returns
     * if nothing else is left. */
    {
        struct timeval now = { 0, 0 };

        event_base_once(c->base, -1, EV_TIMEOUT, _natsLibevent_onKeepAlive, NULL, &now);
    }
    free(c);
    natsConnection_ProcessDetachedEvent(nc);
    return NATS_OK;
}

#ifdef __cplusplus
}
#endif

#endif /* NATS_ADAPTERS_LIBEVENT_H_ */
