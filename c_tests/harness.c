/* Test harness implementation. See harness.h. */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

int h_passed = 0;
int h_failed = 0;

static pthread_mutex_t h_count_mu = PTHREAD_MUTEX_INITIALIZER;

/* ------------------------------------------------------------------------ */
/* Checks                                                                    */
/* ------------------------------------------------------------------------ */

static void
_record(bool ok)
{
    pthread_mutex_lock(&h_count_mu);
    if (ok)
        h_passed++;
    else
        h_failed++;
    pthread_mutex_unlock(&h_count_mu);
}

bool
h_check(bool ok, const char *file, int line, const char *expr)
{
    _record(ok);
    if (!ok)
    {
        fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, expr);
        fflush(stderr);
    }
    return ok;
}

bool
h_check_status(natsStatus s, natsStatus expected, const char *file, int line,
               const char *expr)
{
    bool ok = (s == expected);

    _record(ok);
    if (!ok)
    {
        natsStatus  ls   = NATS_OK;
        const char  *txt = nats_GetLastError(&ls);

        fprintf(stderr, "%s:%d: CHECK_STATUS failed: %s = %d (%s), expected %d (%s); "
                "last error: %d '%s'\n",
                file, line, expr,
                (int) s, natsStatus_GetText(s),
                (int) expected, natsStatus_GetText(expected),
                (int) ls, (txt == NULL ? "(null)" : txt));
        fflush(stderr);
    }
    return ok;
}

bool
h_check_str(const char *got, const char *expected, const char *file, int line,
            const char *expr)
{
    bool ok;

    if ((got == NULL) || (expected == NULL))
        ok = (got == expected);
    else
        ok = (strcmp(got, expected) == 0);

    _record(ok);
    if (!ok)
    {
        fprintf(stderr, "%s:%d: CHECK_STR failed: %s = '%s', expected '%s'\n",
                file, line, expr,
                (got == NULL ? "(null)" : got),
                (expected == NULL ? "(null)" : expected));
        fflush(stderr);
    }
    return ok;
}

bool
h_check_int(long long got, long long expected, const char *file, int line,
            const char *expr)
{
    bool ok = (got == expected);

    _record(ok);
    if (!ok)
    {
        fprintf(stderr, "%s:%d: CHECK_INT failed: %s = %lld, expected %lld\n",
                file, line, expr, got, expected);
        fflush(stderr);
    }
    return ok;
}

void
h_run_test(const char *name, void (*fn)(void))
{
    int         before;
    int64_t     start = h_now_ms();
    const char  *only = getenv("H_TEST");

    /* H_TEST=<name> runs that test alone (to debug one test, or run it under a tool). */
    if ((only != NULL) && (only[0] != '\0') && (strcmp(only, name) != 0))
        return;

    pthread_mutex_lock(&h_count_mu);
    before = h_failed;
    pthread_mutex_unlock(&h_count_mu);

    printf("=== %s\n", name);
    fflush(stdout);

    fn();

    pthread_mutex_lock(&h_count_mu);
    printf("--- %s: %s (%lld ms)\n", name, (h_failed == before ? "ok" : "FAILED"),
           (long long) (h_now_ms() - start));
    pthread_mutex_unlock(&h_count_mu);
    fflush(stdout);
}

int
h_finish(void)
{
    int p, f;

    h_default_server_stop();

    pthread_mutex_lock(&h_count_mu);
    p = h_passed;
    f = h_failed;
    pthread_mutex_unlock(&h_count_mu);

    printf("%d passed, %d failed\n", p, f);
    fflush(stdout);
    return (f == 0 ? 0 : 1);
}

/* ------------------------------------------------------------------------ */
/* Time                                                                      */
/* ------------------------------------------------------------------------ */

int64_t
h_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ((int64_t) ts.tv_sec * 1000) + (ts.tv_nsec / 1000000);
}

void
h_sleep_ms(int64_t ms)
{
    struct timespec ts;

    ts.tv_sec  = (time_t) (ms / 1000);
    ts.tv_nsec = (long) ((ms % 1000) * 1000000);
    while ((nanosleep(&ts, &ts) != 0) && (errno == EINTR))
        ;
}

/* ------------------------------------------------------------------------ */
/* Server                                                                    */
/* ------------------------------------------------------------------------ */

#define H_MAX_TRACKED 16
static h_server         *h_tracked[H_MAX_TRACKED];
static pthread_mutex_t  h_track_mu = PTHREAD_MUTEX_INITIALIZER;
static bool             h_atexit_set = false;

static void
_killTracked(void)
{
    int i;

    pthread_mutex_lock(&h_track_mu);
    for (i = 0; i < H_MAX_TRACKED; i++)
    {
        if ((h_tracked[i] != NULL) && (h_tracked[i]->pid > 0))
        {
            kill(h_tracked[i]->pid, SIGKILL);
            waitpid(h_tracked[i]->pid, NULL, 0);
            h_tracked[i]->pid = 0;
        }
    }
    pthread_mutex_unlock(&h_track_mu);
}

static void
_track(h_server *srv, bool add)
{
    int i;

    pthread_mutex_lock(&h_track_mu);
    if (!h_atexit_set)
    {
        atexit(_killTracked);
        h_atexit_set = true;
    }
    for (i = 0; i < H_MAX_TRACKED; i++)
    {
        if (add && (h_tracked[i] == NULL))
        {
            h_tracked[i] = srv;
            break;
        }
        if (!add && (h_tracked[i] == srv))
        {
            h_tracked[i] = NULL;
            break;
        }
    }
    pthread_mutex_unlock(&h_track_mu);
}

const char*
h_server_bin(void)
{
    const char *bin = getenv("NATS_SERVER_BIN");

    if ((bin != NULL) && (bin[0] != '\0'))
        return bin;
    return "nats-server";
}

static int
_bindEphemeral(void)
{
    struct sockaddr_in  addr;
    socklen_t           len = sizeof(addr);
    int                 fd;
    int                 port = -1;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;

    memset(&addr, 0, sizeof(addr));
    addr.sin_family      = AF_INET;
    addr.sin_port        = 0;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if ((bind(fd, (struct sockaddr*) &addr, sizeof(addr)) == 0)
        && (getsockname(fd, (struct sockaddr*) &addr, &len) == 0))
    {
        port = ntohs(addr.sin_port);
    }
    close(fd);
    return port;
}

int
h_free_port(void)
{
    return _bindEphemeral();
}

int
h_closed_port(void)
{
    return _bindEphemeral();
}

static bool
_portAccepts(int port)
{
    struct sockaddr_in  addr;
    int                 fd;
    bool                ok;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return false;

    memset(&addr, 0, sizeof(addr));
    addr.sin_family      = AF_INET;
    addr.sin_port        = htons((uint16_t) port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    ok = (connect(fd, (struct sockaddr*) &addr, sizeof(addr)) == 0);
    close(fd);
    return ok;
}

static void
_printLog(h_server *srv)
{
    FILE    *f = fopen(srv->log, "r");
    char    line[512];

    if (f == NULL)
        return;
    fprintf(stderr, "---- nats-server log (%s) ----\n", srv->log);
    while (fgets(line, sizeof(line), f) != NULL)
        fputs(line, stderr);
    fprintf(stderr, "---- end of log ----\n");
    fclose(f);
}

static bool
_spawn(h_server *srv)
{
    char    portStr[16];
    char    *argv[H_MAX_SERVER_ARGS + 12];
    int     argc = 0;
    int     i;
    pid_t   pid;
    int64_t deadline;

    snprintf(portStr, sizeof(portStr), "%d", srv->port);

    argv[argc++] = (char*) h_server_bin();
    argv[argc++] = (char*) "-a";
    argv[argc++] = (char*) "127.0.0.1";
    argv[argc++] = (char*) "-p";
    argv[argc++] = portStr;
    if (srv->config[0] != '\0')
    {
        argv[argc++] = (char*) "-c";
        argv[argc++] = srv->config;
    }
    for (i = 0; i < srv->nargs; i++)
        argv[argc++] = srv->args[i];
    argv[argc] = NULL;

    fflush(stdout);
    fflush(stderr);

    pid = fork();
    if (pid < 0)
    {
        fprintf(stderr, "fork failed: %s\n", strerror(errno));
        return false;
    }
    if (pid == 0)
    {
        int fd = open(srv->log, O_WRONLY | O_CREAT | O_APPEND, 0600);

#ifdef __linux__
        /* Do not leave servers behind if the test process dies. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
        if (fd >= 0)
        {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        execvp(argv[0], argv);
        fprintf(stderr, "unable to execute '%s': %s\n", argv[0], strerror(errno));
        _exit(127);
    }

    srv->pid = pid;
    _track(srv, true);

    deadline = h_now_ms() + 5000;
    while (h_now_ms() < deadline)
    {
        int status = 0;

        if (waitpid(pid, &status, WNOHANG) == pid)
        {
            srv->pid = 0;
            _track(srv, false);
            fprintf(stderr, "nats-server '%s' exited early (status %d)\n",
                    h_server_bin(), status);
            _printLog(srv);
            return false;
        }
        if (_portAccepts(srv->port))
            return true;
        h_sleep_ms(10);
    }
    fprintf(stderr, "nats-server did not accept connections on port %d within 5s\n", srv->port);
    _printLog(srv);
    h_server_stop(srv);
    return false;
}

static bool
_serverStart(h_server *srv, int port, const char *const *extra, const char *config)
{
    char    tmpl[] = "/tmp/nats-ctest-XXXXXX";
    int     i;
    bool    ok = false;

    memset(srv, 0, sizeof(*srv));

    if (mkdtemp(tmpl) == NULL)
    {
        fprintf(stderr, "mkdtemp failed: %s\n", strerror(errno));
        return CHECK(false);
    }
    snprintf(srv->dir, sizeof(srv->dir), "%s", tmpl);
    snprintf(srv->log, sizeof(srv->log), "%s/server.log", srv->dir);

    if (config != NULL)
    {
        FILE *f;

        snprintf(srv->config, sizeof(srv->config), "%s/server.conf", srv->dir);
        f = fopen(srv->config, "w");
        if (f == NULL)
            return CHECK(false);
        fputs(config, f);
        fclose(f);
    }

    for (i = 0; (extra != NULL) && (extra[i] != NULL) && (i < H_MAX_SERVER_ARGS); i++)
        srv->args[srv->nargs++] = strdup(extra[i]);

    /* A port picked as "free" may be taken between the pick and the server
     * bind: retry a few times with a new port (unless the port is imposed). */
    for (i = 0; i < 3; i++)
    {
        srv->port = (port > 0 ? port : h_free_port());
        snprintf(srv->url, sizeof(srv->url), "nats://127.0.0.1:%d", srv->port);
        ok = _spawn(srv);
        if (ok)
            break;
        if (port > 0)
            h_sleep_ms(100);
    }
    return CHECK(ok);
}

bool
h_server_start(h_server *srv, const char *const *extra, const char *config)
{
    return _serverStart(srv, 0, extra, config);
}

bool
h_server_start_on_port(h_server *srv, int port, const char *const *extra, const char *config)
{
    return _serverStart(srv, port, extra, config);
}

void
h_server_stop(h_server *srv)
{
    int64_t deadline;

    if (srv->pid <= 0)
        return;

    kill(srv->pid, SIGTERM);
    deadline = h_now_ms() + 5000;
    while (h_now_ms() < deadline)
    {
        if (waitpid(srv->pid, NULL, WNOHANG) == srv->pid)
        {
            srv->pid = 0;
            break;
        }
        h_sleep_ms(5);
    }
    if (srv->pid > 0)
    {
        kill(srv->pid, SIGKILL);
        waitpid(srv->pid, NULL, 0);
        srv->pid = 0;
    }
    _track(srv, false);
}

bool
h_server_restart(h_server *srv)
{
    int i;

    h_server_stop(srv);
    /* The port may be in TIME_WAIT for a short while; the server sets
     * SO_REUSEADDR, but retry a few times anyway. */
    for (i = 0; i < 3; i++)
    {
        if (_spawn(srv))
            return CHECK(true);
        h_sleep_ms(200);
    }
    return CHECK(false);
}

void
h_server_destroy(h_server *srv)
{
    int i;

    h_server_stop(srv);
    for (i = 0; i < srv->nargs; i++)
        free(srv->args[i]);
    srv->nargs = 0;
    if (srv->dir[0] != '\0')
    {
        unlink(srv->log);
        if (srv->config[0] != '\0')
            unlink(srv->config);
        rmdir(srv->dir);
        srv->dir[0] = '\0';
    }
}

static h_server h_default;
static bool     h_default_started = false;

bool
h_default_server_start(void)
{
    if (h_default_started)
        return true;
    h_default_started = h_server_start(&h_default, NULL, NULL);
    return h_default_started;
}

const char*
h_url(void)
{
    return h_default.url;
}

h_server*
h_default_server(void)
{
    return &h_default;
}

void
h_default_server_stop(void)
{
    if (!h_default_started)
        return;
    h_server_destroy(&h_default);
    h_default_started = false;
}

natsStatus
h_connect(natsConnection **nc)
{
    return natsConnection_ConnectTo(nc, h_url());
}

natsOptions *
h_opts(const h_server *srv, int64_t timeoutMs)
{
    natsOptions *o = NULL;

    if (natsOptions_Create(&o) != NATS_OK)
        return NULL;
    if ((natsOptions_SetURL(o, srv->url) != NATS_OK)
        || (natsOptions_SetTimeout(o, timeoutMs) != NATS_OK)
        || (natsOptions_SetAllowReconnect(o, false) != NATS_OK))
    {
        natsOptions_Destroy(o);
        return NULL;
    }
    return o;
}

/* ------------------------------------------------------------------------ */
/* Waiter                                                                    */
/* ------------------------------------------------------------------------ */

void
h_waiter_init(h_waiter *w)
{
    pthread_condattr_t attr;

    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &attr);
    pthread_condattr_destroy(&attr);
    w->count = 0;
    w->flag  = false;
}

void
h_waiter_destroy(h_waiter *w)
{
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->mu);
}

void
h_waiter_add(h_waiter *w, int n)
{
    pthread_mutex_lock(&w->mu);
    w->count += n;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mu);
}

int
h_waiter_get(h_waiter *w)
{
    int c;

    pthread_mutex_lock(&w->mu);
    c = w->count;
    pthread_mutex_unlock(&w->mu);
    return c;
}

static void
_deadline(struct timespec *ts, int64_t timeoutMs)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec  += (time_t) (timeoutMs / 1000);
    ts->tv_nsec += (long) ((timeoutMs % 1000) * 1000000);
    if (ts->tv_nsec >= 1000000000L)
    {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

bool
h_waiter_wait(h_waiter *w, int target, int64_t timeoutMs)
{
    struct timespec ts;
    bool            ok;
    int             rc = 0;

    _deadline(&ts, timeoutMs);
    pthread_mutex_lock(&w->mu);
    while ((w->count < target) && (rc != ETIMEDOUT))
        rc = pthread_cond_timedwait(&w->cond, &w->mu, &ts);
    ok = (w->count >= target);
    pthread_mutex_unlock(&w->mu);
    return ok;
}

void
h_waiter_set_flag(h_waiter *w)
{
    pthread_mutex_lock(&w->mu);
    w->flag = true;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mu);
}

bool
h_waiter_wait_flag(h_waiter *w, int64_t timeoutMs)
{
    struct timespec ts;
    bool            ok;
    int             rc = 0;

    _deadline(&ts, timeoutMs);
    pthread_mutex_lock(&w->mu);
    while (!w->flag && (rc != ETIMEDOUT))
        rc = pthread_cond_timedwait(&w->cond, &w->mu, &ts);
    ok = w->flag;
    pthread_mutex_unlock(&w->mu);
    return ok;
}

bool
h_wait_until(bool (*pred)(void *arg), void *arg, int64_t timeoutMs)
{
    int64_t deadline = h_now_ms() + timeoutMs;

    for (;;)
    {
        if (pred(arg))
            return true;
        if (h_now_ms() >= deadline)
            return false;
        h_sleep_ms(1);
    }
}

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */
/* ------------------------------------------------------------------------ */

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define H_HAVE_VALGRIND_H 1
#endif
#endif

char *
h_read_file(const char *path)
{
    FILE    *f = fopen(path, "rb");
    char    *buf;
    long    n;

    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = (n >= 0) ? (char*) malloc((size_t) n + 1) : NULL;
    if ((buf != NULL) && (fread(buf, 1, (size_t) n, f) != (size_t) n))
    {
        free(buf);
        buf = NULL;
    }
    if (buf != NULL)
        buf[n] = '\0';
    fclose(f);
    return buf;
}

bool
h_under_valgrind(void)
{
    const char *p = getenv("LD_PRELOAD");

#ifdef H_HAVE_VALGRIND_H
    if (RUNNING_ON_VALGRIND)
        return true;
#endif
    if ((p != NULL) && (strstr(p, "vgpreload") != NULL))
        return true;
    p = getenv("NATS_TEST_UNDER_VALGRIND");
    return (p != NULL) && (p[0] != '\0') && (p[0] != '0');
}

long
h_proc_status(const char *field)
{
    FILE    *f = fopen("/proc/self/status", "r");
    char    line[256];
    size_t  n = strlen(field);
    long    v = -1;

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
    {
        if ((strncmp(line, field, n) == 0) && (line[n] == ':'))
        {
            v = strtol(line + n + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

int
h_open_fds(void)
{
    DIR             *d = opendir("/proc/self/fd");
    struct dirent   *e;
    int             n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
    {
        if (e->d_name[0] != '.')
            n++;
    }
    closedir(d);
    return n - 1; /* the directory stream itself */
}
