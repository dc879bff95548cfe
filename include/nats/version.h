/*
 * version.h - compile-time version of the NATS C client API.
 *
 * Part of the Rust re-implementation of the NATS C client; it reports the
 * cnats release whose C ABI it implements. The numeric form packs the
 * version as 0xMMmmpp (major, minor, patch), e.g. 3.13.0 -> 0x030D00.
 *
 * Licensed under the Apache License, Version 2.0.
 */

#ifndef VERSION_H_
#define VERSION_H_

#ifdef __cplusplus
extern "C" {
#endif

#define NATS_VERSION_MAJOR  3
#define NATS_VERSION_MINOR  13
#define NATS_VERSION_PATCH  0

/* Human readable form of the version above. */
#define NATS_VERSION_STRING "3.13.0"

/* Version as a single number: one byte each for major, minor and patch. */
#define NATS_VERSION_NUMBER ((NATS_VERSION_MAJOR << 16) | \
                             (NATS_VERSION_MINOR <<  8) | \
                             NATS_VERSION_PATCH)

/* Oldest library version that code built with this header may run against;
 * checked at run time by nats_CheckCompatibility(). */
#define NATS_VERSION_REQUIRED_NUMBER 0x030D00

#ifdef __cplusplus
}
#endif

#endif /* VERSION_H_ */
