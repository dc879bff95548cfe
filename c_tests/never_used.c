/* A program that links the NATS library and never calls it exits cleanly (status 0, no
 * valgrind error). The library must do nothing when it is loaded: it is mapped into the
 * process, and no thread was started. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nats/nats.h>

/* Referenced (so the library is a real dependency of the program) but never called. */
static const char *(*volatile keepLinked)(void) = nats_GetVersion;

static long
status_field(const char *field)
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

static int
library_mapped(void)
{
    FILE    *f = fopen("/proc/self/maps", "r");
    char    line[1024];
    int     found = 0;

    if (f == NULL)
        return -1;
    while (!found && (fgets(line, sizeof(line), f) != NULL))
        found = (strstr(line, "libnats") != NULL);
    fclose(f);
    return found;
}

int
main(void)
{
    long    threads = status_field("Threads");
    int     mapped  = library_mapped();
    int     rc      = 0;

    (void) keepLinked;
    /* Only meaningful when linked with the shared library (the default build). */
    if (mapped == 0)
    {
        fprintf(stderr, "never_used: libnats is not mapped in the process\n");
        rc = 1;
    }
    if (threads != 1)
    {
        fprintf(stderr, "never_used: %ld threads at start, expected 1\n", threads);
        rc = 1;
    }
    printf("never_used: libnats mapped=%d, threads=%ld\n", mapped, threads);
    return rc;
}
