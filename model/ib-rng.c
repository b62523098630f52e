/* ib-rng.c: Philox-4x32-10, the counter-based generator of ib-rng.h. */
#include "ib-rng.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline void
mul_hi_lo (uint32_t  a,
           uint32_t  b,
           uint32_t *hi,
           uint32_t *lo)
{
  uint64_t product = (uint64_t) a * b;
  *hi = (uint32_t) (product >> 32);
  *lo = (uint32_t) product;
}

void
ib_rng_philox (const IbRngStream *stream,
               uint32_t           position,
               uint32_t           draw,
               uint32_t           out[4])
{
  uint32_t c0 = position, c1 = draw, c2 = stream->level, c3 = stream->variant;
  uint32_t k0 = (uint32_t) stream->seed, k1 = (uint32_t) (stream->seed >> 32);

  for (int round = 0; round < 10; round++)
    {
      uint32_t hi0, lo0, hi1, lo1;
      mul_hi_lo (PHILOX_M0, c0, &hi0, &lo0);
      mul_hi_lo (PHILOX_M1, c2, &hi1, &lo1);
      c0 = hi1 ^ c1 ^ k0;
      c1 = lo1;
      c2 = hi0 ^ c3 ^ k1;
      c3 = lo0;
      k0 += PHILOX_W0;
      k1 += PHILOX_W1;
    }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

float
ib_rng_uniform (const IbRngStream *stream,
                uint32_t           position,
                uint32_t           draw)
{
  uint32_t words[4];
  ib_rng_philox (stream, position, draw, words);
  return (float) (words[0] >> 8) * 0x1p-24f;
}

uint32_t
ib_rng_below (const IbRngStream *stream,
              uint32_t           position,
              uint32_t           draw,
              uint32_t           n)
{
  uint32_t words[4];
  ib_rng_philox (stream, position, draw, words);
  uint64_t wide = ((uint64_t) words[0] << 32) | words[1];
  /* (wide * n) >> 64 without 128-bit arithmetic: split wide into halves. */
  uint64_t high = (wide >> 32) * n, low = (wide & 0xffffffffu) * n;
  return (uint32_t) ((high + (low >> 32)) >> 32);
}
