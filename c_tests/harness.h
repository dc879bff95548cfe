/*
 * Minimal test harness for the C-ABI tests of the NATS C client.
 *
 * - starts/stops/restarts a local nats-server (127.0.0.1 only) on a free port,
 * - CHECK / CHECK_STATUS / REQUIRE macros that count passes and failures,
 * - a small mutex/condvar "waiter" to synchronise with asynchronous callbacks.
 *
 * Every test program must include this header FIRST (it sets the POSIX
 * feature macros needed under -std=c99).
 */
#ifndef NATS_C_TESTS_HARNESS_H
#define NATS_C_TESTS_HARNESS_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/types.h>

#include <nats/nats.h>

/* True when compiled against a header that declares the cnats >= 3.13 API. */
#if (NATS_VERSION_MAJOR > 3) || ((NATS_VERSION_MAJOR == 3) && (NATS_VERSION_MINOR >= 13))
#define HAVE_NATS_3_13 1
#else
#define HAVE_NATS_3_13 0
#endif

/* ------------------------------------------------------------------------ */
/* Check macros                                                              */
/* ------------------------------------------------------------------------ */

extern int h_passed;
extern int h_failed;

/* Records one check. Returns `ok`. Prints file:line on failure. */
bool h_check(bool ok, const char *file, int line, const char *expr);
/* Records one status check. Prints both statuses and the thread's last error
 * text (nats_GetLastError) on failure. Returns true if s == expected. */
bool h_check_status(natsStatus s, natsStatus expected, const char *file, int line,
                    const char *expr);
/* Records one string comparison (NULL-safe). */
bool h_check_str(const char *got, const char *expected, const char *file, int line,
                 const char *expr);
/* Records one integer comparison. */
bool h_check_int(long long got, long long expected, const char *file, int line,
                 const char *expr);

#define CHECK(cond) h_check((cond) ? true : false, __FILE__, __LINE__, #cond)
#define CHECK_STATUS(s, expected) h_check_status((s), (expected), __FILE__, __LINE__, #s)
#define CHECK_OK(s) CHECK_STATUS((s), NATS_OK)
#define CHECK_STR(got, expected) h_check_str((got), (expected), __FILE__, __LINE__, #got)
#define CHECK_INT(got, expected) \
    h_check_int((long long) (got), (long long) (expected), __FILE__, __LINE__, #got)

/* Like CHECK/CHECK_OK, but return from the current (void) function on failure,
 * to avoid dereferencing objects that were not created. */
#define REQUIRE(cond) do { if (!CHECK(cond)) return; } while (0)
#define REQUIRE_OK(s) do { if (!CHECK_OK(s)) return; } while (0)

/* Runs a test function, printing its name. */
#define RUN_TEST(fn) h_run_test(#fn, fn)
/* Runs one test and reports it; with H_TEST set in the environment, only the test of that
 * name runs. */
void h_run_test(const char *name, void (*fn)(void));

/* Prints "N passed, N failed" and returns the process exit code. */
int h_finish(void);

/* Exit code that ctest treats as "skipped" (SKIP_RETURN_CODE). */
#define H_SKIP_CODE 77

/* ------------------------------------------------------------------------ */
/* Server management                                                         */
/* ------------------------------------------------------------------------ */

#define H_MAX_SERVER_ARGS 32

typedef struct
{
    pid_t   pid;
    int     port;
    char    url[64];            /* nats://127.0.0.1:PORT */
    char    dir[256];           /* temporary directory (logs, config) */
    char    log[300];
    char    config[300];        /* config file path, empty if none */
    int     nargs;
    char    *args[H_MAX_SERVER_ARGS];
} h_server;

/* Returns the server binary: $NATS_SERVER_BIN or "nats-server" (found in PATH). */
const char *h_server_bin(void);

/* Returns a free TCP port on 127.0.0.1 (bind to port 0, read, close). */
int h_free_port(void);

/* Returns a TCP port on 127.0.0.1 on which nothing listens. */
int h_closed_port(void);

/*
 * Starts `nats-server -a 127.0.0.1 -p PORT [extra args...]`.
 * `extra` is a NULL-terminated list of arguments (may be NULL).
 * `config` is the content of a configuration file (may be NULL); when given,
 * it is written to a temporary directory and passed with `-c FILE`.
 * Waits up to 5 seconds for the port to accept TCP connections.
 * Returns true on success (and records a check).
 */
bool h_server_start(h_server *srv, const char *const *extra, const char *config);

/* Same as h_server_start() but on the given port. */
bool h_server_start_on_port(h_server *srv, int port, const char *const *extra, const char *config);

/* Stops the server (SIGTERM, then SIGKILL after 5 s), waits for it. The port is kept. */
void h_server_stop(h_server *srv);

/* Restarts a stopped server on the same port with the same arguments. */
bool h_server_restart(h_server *srv);

/* Stops the server if running and removes its temporary directory. */
void h_server_destroy(h_server *srv);

/* Convenience: one shared default server per test program. */
bool h_default_server_start(void);
const char *h_url(void);           /* URL of the default server */
h_server *h_default_server(void);
void h_default_server_stop(void);

/* Connects to the default server with default options. */
natsStatus h_connect(natsConnection **nc);

/* New options for `srv`: its URL, a connect timeout of `timeoutMs`, no reconnect. NULL when
 * the options cannot be created. */
natsOptions *h_opts(const h_server *srv, int64_t timeoutMs);

/* ------------------------------------------------------------------------ */
/* Waiting helpers                                                           */
/* ------------------------------------------------------------------------ */

/* Counter protected by a mutex with a condition variable. */
typedef struct
{
    pthread_mutex_t mu;
    pthread_cond_t  cond;
    int             count;
    bool            flag;       /* generic boolean, e.g. "release the callback" */
} h_waiter;

void h_waiter_init(h_waiter *w);
void h_waiter_destroy(h_waiter *w);
/* Adds n to the counter and wakes up waiters. */
void h_waiter_add(h_waiter *w, int n);
int  h_waiter_get(h_waiter *w);
/* Waits until count >= target or timeout (ms). Returns true if reached. */
bool h_waiter_wait(h_waiter *w, int target, int64_t timeoutMs);
/* Sets the flag and wakes up waiters. */
void h_waiter_set_flag(h_waiter *w);
/* Waits until the flag is set or timeout (ms). Returns true if set. */
bool h_waiter_wait_flag(h_waiter *w, int64_t timeoutMs);

/* Polls `pred(arg)` every millisecond until true or timeout (ms). */
bool h_wait_until(bool (*pred)(void *arg), void *arg, int64_t timeoutMs);

/* Monotonic clock in milliseconds (independent from the library). */
int64_t h_now_ms(void);
/* Sleeps for ms milliseconds (independent from the library). */
void h_sleep_ms(int64_t ms);


/* ------------------------------------------------------------------------ */
/* Small helpers shared by several programs                                  */
/* ------------------------------------------------------------------------ */

/* Reads a whole file into a malloc'ed NUL-terminated string (NULL on error). */
char *h_read_file(const char *path);

/* True when running under valgrind (its client request, its LD_PRELOAD, or
 * NATS_TEST_UNDER_VALGRIND set to a non-zero value). */
bool h_under_valgrind(void);

/* A numeric field of /proc/self/status ("Threads", "VmRSS" in kB...), -1 if unavailable. */
long h_proc_status(const char *field);

/* Descriptors the process has open (entries of /proc/self/fd), -1 if unavailable. */
int h_open_fds(void);

#endif /* NATS_C_TESTS_HARNESS_H */
