// Proves that the public header can be used from C++ (extern "C" linkage,
// no C-only constructs) with strict warnings, and that the symbols link.
#include <nats/nats.h>

#include <cstdio>
#include <cstring>

namespace
{
// Callback types must be usable with C++ functions of C linkage-compatible
// signatures.
void onMsg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void) nc; (void) sub; (void) closure;
    natsMsg_Destroy(msg);
}

void onClosed(natsConnection *nc, void *closure)
{
    (void) nc; (void) closure;
}
}

int main()
{
    const char *v = nats_GetVersion();

    if ((v == nullptr) || (std::strcmp(v, NATS_VERSION_STRING) != 0))
    {
        std::printf("unexpected version '%s' (header says '%s')\n", (v ? v : "(null)"), NATS_VERSION_STRING);
        return 1;
    }
    if (nats_GetVersionNumber() != NATS_VERSION_NUMBER)
    {
        std::printf("unexpected version number\n");
        return 1;
    }
    if (!nats_CheckCompatibility())
        return 1;

    natsMsgHandler          mh = onMsg;
    natsConnectionHandler   ch = onClosed;
    (void) mh;

    natsOptions *opts = nullptr;
    natsStatus  s     = natsOptions_Create(&opts);
    if (s == NATS_OK)
        s = natsOptions_SetClosedCB(opts, ch, nullptr);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(opts, -1);   // invalid on purpose
    if (s != NATS_INVALID_ARG)
    {
        std::printf("expected NATS_INVALID_ARG, got %d (%s)\n", (int) s, natsStatus_GetText(s));
        return 1;
    }
    natsOptions_Destroy(opts);
    nats_CloseAndWait(0);

    std::printf("C++ header test OK, library version %s\n", v);
    std::printf("1 passed, 0 failed\n");
    return 0;
}
