/*
 * Minimal consumer of an installed libnats: exercises the public header,
 * the version macros and a few library calls that need no server.
 * Built three ways by ../run.sh: find_package shared, find_package static, pkg-config.
 */
#include <stdio.h>
#include <string.h>

#include <nats/nats.h>

int main(void)
{
    natsStatus  s;
    const char  *txt;
    const char  *ver;

    s = nats_Open(-1);
    if (s != NATS_OK)
    {
        fprintf(stderr, "FAIL: nats_Open(-1) returned %d\n", (int) s);
        return 1;
    }

    ver = nats_GetVersion();
    printf("header version: %s, library version: %s\n",
           NATS_VERSION_STRING, (ver != NULL ? ver : "(null)"));
    if ((ver == NULL) || (strcmp(ver, NATS_VERSION_STRING) != 0))
    {
        fprintf(stderr, "FAIL: nats_GetVersion() does not match NATS_VERSION_STRING\n");
        return 1;
    }
    if (nats_GetVersionNumber() != NATS_VERSION_NUMBER)
    {
        fprintf(stderr, "FAIL: nats_GetVersionNumber()=0x%06x, header has 0x%06x\n",
                (unsigned) nats_GetVersionNumber(), (unsigned) NATS_VERSION_NUMBER);
        return 1;
    }

    /* Exits the process itself if header and library disagree. */
    if (!nats_CheckCompatibility())
    {
        fprintf(stderr, "FAIL: nats_CheckCompatibility() returned false\n");
        return 1;
    }

    txt = natsStatus_GetText(NATS_OK);
    if ((txt == NULL) || (txt[0] == '\0'))
    {
        fprintf(stderr, "FAIL: natsStatus_GetText(NATS_OK) returned an empty text\n");
        return 1;
    }
    printf("natsStatus_GetText(NATS_OK) = \"%s\"\n", txt);

    nats_Close();
    printf("OK\n");
    return 0;
}
