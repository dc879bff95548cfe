/* Process measurements shared by natsbench.c and rawclient.c (Linux). */
#ifndef BENCH_MEASURE_H
#define BENCH_MEASURE_H

#include <dirent.h>
#include <stdint.h>
#include <sys/resource.h>
#include <time.h>

static int64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* peak resident set size so far, in kilobytes (-1 on failure) */
static long
peak_rss_kb(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

/* user + system CPU time of the whole process so far, in milliseconds (-1 on failure) */
static double
process_cpu_ms(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return (double) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3
         + (double) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* threads of this process (entries of /proc/self/task), -1 on failure */
static int
thread_count(void)
{
    DIR           *d = opendir("/proc/self/task");
    struct dirent *e;
    int            n = 0;
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

#endif
