/* ib-rng.h: the counter-based random generator shared by every backend.
 *
 * Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011): a draw is a pure
 * function of (seed, level, position, variant, draw index), so the CPU engine and a GPU kernel that
 * implements the same 32-bit arithmetic draw the same token whenever their logits agree, in any order. */
#pragma once

#include <glib.h>
#include <stdint.h>

G_BEGIN_DECLS

typedef struct
{
  uint64_t seed;
  uint32_t level;
  uint32_t variant;
} IbRngStream;

/* Four independent 32-bit words for (stream, position, draw). */
void   ib_rng_philox        (const IbRngStream *stream,
                             uint32_t           position,
                             uint32_t           draw,
                             uint32_t           out[4]);

/* A uniform number in [0, 1) with 24 random bits: exact in f32 on every backend. */
float  ib_rng_uniform       (const IbRngStream *stream,
                             uint32_t           position,
                             uint32_t           draw);

/* A uniform integer in [0, n) (n >= 1), by 64-bit multiply-shift of two words (bias < 2^-32 n). */
uint32_t ib_rng_below       (const IbRngStream *stream,
                             uint32_t           position,
                             uint32_t           draw,
                             uint32_t           n);

G_END_DECLS
