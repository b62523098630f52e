/* ib-tensor.c: dtype sizes and the widening of f16/bf16 weights to f32. */
#include "ib-tensor.h"

#include <math.h>
#include <string.h>

gsize
ib_dtype_size (IbDType dtype)
{
  switch (dtype)
    {
    case IB_DTYPE_F32: return 4;
    case IB_DTYPE_F16: return 2;
    case IB_DTYPE_BF16: return 2;
    case IB_DTYPE_I32: return 4;
    case IB_DTYPE_I64: return 8;
    default: g_assert_not_reached ();
    }
}

const char *
ib_dtype_name (IbDType dtype)
{
  switch (dtype)
    {
    case IB_DTYPE_F32: return "F32";
    case IB_DTYPE_F16: return "F16";
    case IB_DTYPE_BF16: return "BF16";
    case IB_DTYPE_I32: return "I32";
    case IB_DTYPE_I64: return "I64";
    default: g_assert_not_reached ();
    }
}

static inline float
bits_to_f32 (uint32_t bits)
{
  float f;
  memcpy (&f, &bits, sizeof f);
  return f;
}

static inline uint32_t
f32_to_bits (float f)
{
  uint32_t bits;
  memcpy (&bits, &f, sizeof bits);
  return bits;
}

float
ib_f16_to_f32 (uint16_t h)
{
  uint32_t sign = (uint32_t) (h & 0x8000) << 16;
  uint32_t exponent = (h >> 10) & 0x1f;
  uint32_t mantissa = h & 0x3ff;

  if (exponent == 0x1f)                 /* inf, nan */
    return bits_to_f32 (sign | 0x7f800000 | (mantissa << 13));
  if (exponent != 0)                    /* normal */
    return bits_to_f32 (sign | ((exponent + 112) << 23) | (mantissa << 13));
  if (mantissa == 0)
    return bits_to_f32 (sign);
  /* subnormal: mantissa * 2^-24, exact in f32 */
  float magnitude = (float) mantissa * 0x1p-24f;
  return sign ? -magnitude : magnitude;
}

uint16_t
ib_f32_to_f16 (float f)
{
  uint32_t bits = f32_to_bits (f);
  uint16_t sign = (bits >> 16) & 0x8000;
  float magnitude = fabsf (f);

  if (isnan (f))
    return sign | 0x7e00;
  if (magnitude >= 65520.0f)            /* rounds to infinity */
    return sign | 0x7c00;
  if (magnitude < 0x1p-14f)             /* subnormal or zero: round to nearest multiple of 2^-24 */
    return sign | (uint16_t) lrintf (magnitude * 0x1p24f);

  /* normal: round to nearest even on the 13 dropped mantissa bits */
  uint32_t abs_bits = bits & 0x7fffffff;
  uint32_t rounded = abs_bits + 0xfff + ((abs_bits >> 13) & 1);
  return sign | (uint16_t) ((rounded - (112u << 23)) >> 13);
}

float
ib_bf16_to_f32 (uint16_t b)
{
  return bits_to_f32 ((uint32_t) b << 16);
}

uint16_t
ib_f32_to_bf16 (float f)
{
  uint32_t bits = f32_to_bits (f);
  if (isnan (f))
    return (bits >> 16) | 0x40;
  bits += 0x7fff + ((bits >> 16) & 1);
  return bits >> 16;
}

const float *
ib_tensor_f32_data (const IbTensor *t)
{
  return t->dtype == IB_DTYPE_F32 ? t->data : NULL;
}

float
ib_tensor_get_f32 (const IbTensor *t,
                   int64_t         i)
{
  g_assert (i >= 0 && i < t->n_elements);
  switch (t->dtype)
    {
    case IB_DTYPE_F32:
      {
        float v;
        memcpy (&v, (const char *) t->data + i * 4, 4);
        return v;
      }
    case IB_DTYPE_F16:
      {
        uint16_t h;
        memcpy (&h, (const char *) t->data + i * 2, 2);
        return ib_f16_to_f32 (h);
      }
    case IB_DTYPE_BF16:
      {
        uint16_t b;
        memcpy (&b, (const char *) t->data + i * 2, 2);
        return ib_bf16_to_f32 (b);
      }
    default:
      g_assert_not_reached ();
    }
}

static void
widen_f16 (const uint16_t *src,
           float          *dst,
           gsize           n)
{
  for (gsize i = 0; i < n; i++)
    dst[i] = ib_f16_to_f32 (src[i]);
}

static void
widen_bf16 (const uint16_t *src,
            float          *dst,
            gsize           n)
{
  for (gsize i = 0; i < n; i++)
    dst[i] = ib_bf16_to_f32 (src[i]);
}

void
ib_tensor_rows_f32 (const IbTensor *t,
                    int64_t         first_row,
                    int64_t         n_rows,
                    float          *dst)
{
  int64_t row_len = t->n_elements / t->shape[0];
  gsize n = (gsize) (n_rows * row_len);
  gsize offset = (gsize) (first_row * row_len);

  g_assert (first_row >= 0 && n_rows >= 0 && first_row + n_rows <= t->shape[0]);
  switch (t->dtype)
    {
    case IB_DTYPE_F32:
      memcpy (dst, (const float *) t->data + offset, n * sizeof (float));
      break;
    case IB_DTYPE_F16:
      widen_f16 ((const uint16_t *) t->data + offset, dst, n);
      break;
    case IB_DTYPE_BF16:
      widen_bf16 ((const uint16_t *) t->data + offset, dst, n);
      break;
    default:
      g_assert_not_reached ();
    }
}

float *
ib_tensor_dup_f32 (const IbTensor *t)
{
  float *dst = g_new (float, t->n_elements);
  ib_tensor_rows_f32 (t, 0, t->shape[0], dst);
  return dst;
}
