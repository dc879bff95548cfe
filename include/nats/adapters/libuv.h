/*
 * libuv adapter for the NATS C client library (header only).
 *
 * Lets a libuv loop poll a connection's socket:
 *
 *     natsLibuv_Init();                         // once
 *     uv_loop_t *loop = uv_default_loop();
 *     natsLibuv_SetThreadLocalLoop(loop);       // on the thread that will run uv_run()
 *     natsOptions_SetEventLoop(opts, (void*) loop,
 *                              natsLibuv_Attach, natsLibuv_Read,
 *                              natsLibuv_Write, natsLibuv_Detach);
 *     natsConnection_Connect(&nc, opts);
 *     uv_run(loop, UV_RUN_DEFAULT);
 *
 * libuv is not thread-safe, and the library calls these functions from its own threads as
 * well as from the loop's. A call made on the loop's thread (the one that called
 * natsLibuv_SetThreadLocalLoop) acts at once; any other call is queued and the loop is
 * woken to carry it out, in order. The first attach of a connection creates its wake-up
 * handle, which libuv allows only on the loop's thread: connect there (after
 * natsLibuv_SetThreadLocalLoop), or the attach fails with NATS_ILLEGAL_STATE, as with
 * cnats' adapter. While a connection is attached its wake-up handle keeps uv_run from
 * returning; after the connection is closed and detached, nothing of it is left in the
 * loop.
 *
 * Like the cnats header it replaces, it defines (non-static) functions: include it in one
 * source file of a program. Link with -luv.
 */
#ifndef NATS_ADAPTERS_LIBUV_H_
#define NATS_ADAPTERS_LIBUV_H_

#include <stdlib.h>
#include <uv.h>
#include "../nats.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a connection asked of the loop, kept until the loop's thread carries it out. */
typedef struct natsLibuvOp
{
    int                 kind;   /* one of the _NATS_LIBUV_* values below */
    bool                add;
    natsSock            fd;
    struct natsLibuvOp  *next;

} natsLibuvOp;

#define _NATS_LIBUV_ATTACH  1
#define _NATS_LIBUV_READ    2
#define _NATS_LIBUV_WRITE   3
#define _NATS_LIBUV_DETACH  4

/* The poll handle of one socket; it closes the socket once libuv let go of the handle. */
typedef struct
{
    uv_poll_t   handle;
    natsSock    fd;

} natsLibuvSocket;

/* What the adapter keeps for one connection, between attach and detach. */
typedef struct
{
    natsConnection      *nc;
    uv_loop_t           *loop;
    uv_async_t          wake;
    uv_mutex_t          mu;
    natsLibuvOp         *head;
    natsLibuvOp         *tail;
    natsLibuvSocket     *sock;      /* the session's socket; NULL between sessions */
    int                 events;     /* UV_READABLE / UV_WRITABLE polled for */
    bool                detached;

} natsLibuvConn;

natsStatus natsLibuv_Read(void *userData, bool add);
natsStatus natsLibuv_Write(void *userData, bool add);
natsStatus natsLibuv_Detach(void *userData);

static uv_once_t _natsLibuvOnce = UV_ONCE_INIT;
static uv_key_t  _natsLibuvLoopKey;

static void
_natsLibuv_makeKey(void)
{
    if (uv_key_create(&_natsLibuvLoopKey) != 0)
        abort();
}

/* Call once before anything else of this adapter. */
void
natsLibuv_Init(void)
{
    uv_once(&_natsLibuvOnce, _natsLibuv_makeKey);
}

/* Tells the adapter that the calling thread runs `loop` (uv_run). */
void
natsLibuv_SetThreadLocalLoop(uv_loop_t *loop)
{
    uv_key_set(&_natsLibuvLoopKey, (void*) loop);
}

static bool
_natsLibuv_onLoopThread(natsLibuvConn *c)
{
    return uv_key_get(&_natsLibuvLoopKey) == (void*) c->loop;
}

static void
_natsLibuv_onPoll(uv_poll_t *handle, int status, int events)
{
    natsLibuvConn *c = (natsLibuvConn*) handle->data;

    /* An error on the socket: a read tells the library what happened. */
    if ((status < 0) || (events & UV_READABLE))
        natsConnection_ProcessReadEvent(c->nc);
    if ((status == 0) && (events & UV_WRITABLE))
        natsConnection_ProcessWriteEvent(c->nc);
}

static void
_natsLibuv_socketClosed(uv_handle_t *handle)
{
    natsLibuvSocket *s = (natsLibuvSocket*) handle;

    natsConnection_ProcessCloseEvent(&s->fd);
    free(s);
}

static void
_natsLibuv_dropSocket(natsLibuvConn *c)
{
    if (c->sock == NULL)
        return;
    uv_poll_stop(&c->sock->handle);
    uv_close((uv_handle_t*) &c->sock->handle, _natsLibuv_socketClosed);
    c->sock   = NULL;
    c->events = 0;
}

static void
_natsLibuv_poll(natsLibuvConn *c)
{
    if (c->sock == NULL)
        return;
    if (c->events == 0)
        uv_poll_stop(&c->sock->handle);
    else
        uv_poll_start(&c->sock->handle, c->events, _natsLibuv_onPoll);
}

static void
_natsLibuv_connClosed(uv_handle_t *handle)
{
    natsLibuvConn   *c  = (natsLibuvConn*) handle->data;
    natsConnection  *nc = c->nc;

    uv_mutex_destroy(&c->mu);
    free(c);
    natsConnection_ProcessDetachedEvent(nc);
}

/* Carries out one operation; on the loop's thread only. */
static void
_natsLibuv_apply(natsLibuvConn *c, natsLibuvOp *op)
{
    switch (op->kind)
    {
        case _NATS_LIBUV_ATTACH:
        {
            natsLibuvSocket *s;

            _natsLibuv_dropSocket(c);
            s = (natsLibuvSocket*) calloc(1, sizeof(natsLibuvSocket));
            if (s == NULL)
                break;
            s->fd = op->fd;
            if (uv_poll_init_socket(c->loop, &s->handle, op->fd) != 0)
            {
                free(s);
                break;
            }
            s->handle.data = c;
            c->sock   = s;
            c->events = UV_READABLE;
            _natsLibuv_poll(c);
            break;
        }
        case _NATS_LIBUV_READ:
            if (!op->add)
            {
                /* The session is over: the socket is closed with its handle. */
                _natsLibuv_dropSocket(c);
                break;
            }
            c->events |= UV_READABLE;
            _natsLibuv_poll(c);
            break;
        case _NATS_LIBUV_WRITE:
            if (op->add)
                c->events |= UV_WRITABLE;
            else
                c->events &= ~UV_WRITABLE;
            _natsLibuv_poll(c);
            break;
        case _NATS_LIBUV_DETACH:
            _natsLibuv_dropSocket(c);
            c->detached = true;
            uv_close((uv_handle_t*) &c->wake, _natsLibuv_connClosed);
            break;
    }
}

/* Runs the queued operations, in order; on the loop's thread only. */
static void
_natsLibuv_drain(natsLibuvConn *c)
{
    for (;;)
    {
        natsLibuvOp *op;

        uv_mutex_lock(&c->mu);
        op = c->head;
        if (op != NULL)
        {
            c->head = op->next;
            if (c->head == NULL)
                c->tail = NULL;
        }
        uv_mutex_unlock(&c->mu);
        if (op == NULL)
            return;
        if (!c->detached)
            _natsLibuv_apply(c, op);
        free(op);
    }
}

static void
_natsLibuv_onWake(uv_async_t *handle)
{
    _natsLibuv_drain((natsLibuvConn*) handle->data);
}

/* Carries out an operation now on the loop's thread, else queues it and wakes the loop. */
static natsStatus
_natsLibuv_submit(natsLibuvConn *c, int kind, bool add, natsSock fd)
{
    natsLibuvOp *op   = (natsLibuvOp*) calloc(1, sizeof(natsLibuvOp));
    bool        here = _natsLibuv_onLoopThread(c);
    int         rc   = 0;

    if (op == NULL)
        return NATS_NO_MEMORY;
    op->kind = kind;
    op->add  = add;
    op->fd   = fd;
    /* The wake-up is sent under the lock: the loop cannot carry out (and so cannot free
     * the connection's state on) a detach before its sender is done with the handle. */
    uv_mutex_lock(&c->mu);
    if (c->tail == NULL)
        c->head = op;
    else
        c->tail->next = op;
    c->tail = op;
    if (!here)
        rc = uv_async_send(&c->wake);
    uv_mutex_unlock(&c->mu);
    if (here)
        _natsLibuv_drain(c);
    return (rc == 0) ? NATS_OK : NATS_ERR;
}

/* Called after each connect and reconnect: polls `socket` for input. `*userData` is NULL
 * the first time and what this function stored there afterwards. */
natsStatus
natsLibuv_Attach(void **userData, void *loop, natsConnection *nc, natsSock socket)
{
    natsLibuvConn *c = (natsLibuvConn*) *userData;

    if (c == NULL)
    {
        /* The wake-up handle is made here, and libuv allows that only on the loop's thread. */
        if (uv_key_get(&_natsLibuvLoopKey) != loop)
            return NATS_ILLEGAL_STATE;
        c = (natsLibuvConn*) calloc(1, sizeof(natsLibuvConn));
        if (c == NULL)
            return NATS_NO_MEMORY;
        c->nc   = nc;
        c->loop = (uv_loop_t*) loop;
        if (uv_mutex_init(&c->mu) != 0)
        {
            free(c);
            return NATS_ERR;
        }
        if (uv_async_init(c->loop, &c->wake, _natsLibuv_onWake) != 0)
        {
            uv_mutex_destroy(&c->mu);
            free(c);
            return NATS_ERR;
        }
        c->wake.data = c;
        *userData = c;
    }
    return _natsLibuv_submit(c, _NATS_LIBUV_ATTACH, true, socket);
}

/* Starts or stops polling for input. Stopping means the session is over: the socket is
 * closed once libuv let go of it. */
natsStatus
natsLibuv_Read(void *userData, bool add)
{
    return _natsLibuv_submit((natsLibuvConn*) userData, _NATS_LIBUV_READ, add, -1);
}

/* Starts or stops polling for room to write. */
natsStatus
natsLibuv_Write(void *userData, bool add)
{
    return _natsLibuv_submit((natsLibuvConn*) userData, _NATS_LIBUV_WRITE, add, -1);
}

/* The connection is closed: the loop lets go of its handles, frees what the adapter kept
 * and hands the connection back to the library. */
natsStatus
natsLibuv_Detach(void *userData)
{
    return _natsLibuv_submit((natsLibuvConn*) userData, _NATS_LIBUV_DETACH, false, -1);
}

#ifdef __cplusplus
}
#endif

#endif /* NATS_ADAPTERS_LIBUV_H_ */
