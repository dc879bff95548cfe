/*
 * nats.h - legacy entry point kept for source compatibility.
 *
 * Older code includes <nats.h>; the real public header is <nats/nats.h>.
 * Like cnats, this forwarder is installed as <prefix>/include/nats.h and
 * emits a deprecation diagnostic when used.
 *
 * Licensed under the Apache License, Version 2.0.
 */

#ifndef NATS_COMPAT_TOPLEVEL_NATS_H_
#define NATS_COMPAT_TOPLEVEL_NATS_H_

#if defined(_WIN32)
#pragma message ("`#include <nats.h>` is deprecated, use `#include <nats/nats.h>` instead")
#else
#warning "`#include <nats.h>` is deprecated, use `#include <nats/nats.h>` instead"
#endif

#include <nats/nats.h>

#endif /* NATS_COMPAT_TOPLEVEL_NATS_H_ */
