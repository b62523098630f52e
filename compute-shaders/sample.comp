// sample.comp: draws one token per logits row on the device, as ib_sample_token does on the CPU: logits /
// temperature, keep those >= the k-th largest / temperature (ties kept), softmax, and the first token whose
// cumulative probability passes u, u from Philox at (seed, level, variant, position, draw 0).
// One workgroup per row. The k-th largest is found exactly by a radix select on order-preserving keys; the
// sums are in double where the device has it (-DUSE_DOUBLE), else in f32.
// A row whose position has forced[position] >= 0 takes that token (known tokens of an edit).
#version 450
#extension GL_GOOGLE_include_directive : require

layout (local_size_x_id = 0) in;

layout (std430, binding = 0) readonly buffer Logits { float logits[]; };
layout (std430, binding = 1) readonly buffer Forced { int forced[]; };
layout (std430, binding = 2) buffer Tokens { int tokens[]; };

layout (push_constant) uniform Push
{
  uint n_rows, n_vocab, top_k;
  float temperature;
  uint seed_lo, seed_hi, level, variant;
  uint first_position;      // row r draws for position first_position + r
  uint token_base;          // and writes tokens[token_base + r]
  uint use_forced;
} p;

#include "philox.glsl"
#include "reduce.glsl"

#ifdef USE_DOUBLE
#define acc_t double
#else
#define acc_t float
#endif

shared uint histogram[256];
shared uint chosen_digit, remaining;
shared acc_t partial[gl_WorkGroupSize.x];

// Order-preserving: larger floats give larger keys.
uint
key_of (float f)
{
  uint bits = floatBitsToUint (f);
  return (bits & 0x80000000u) != 0u ? ~bits : bits | 0x80000000u;
}

float
float_of (uint key)
{
  return uintBitsToFloat ((key & 0x80000000u) != 0u ? key & 0x7fffffffu : ~key);
}

// The k-th largest logit (k >= 1), exactly: one 8-bit digit of its key per pass, most significant first.
float
kth_largest (uint base, uint k)
{
  uint tid = gl_LocalInvocationID.x, threads = gl_WorkGroupSize.x;
  uint prefix = 0u, prefix_mask = 0u;
  if (tid == 0u)
    remaining = k;
  for (int shift = 24; shift >= 0; shift -= 8)
    {
      for (uint b = tid; b < 256u; b += threads)
        histogram[b] = 0u;
      barrier ();
      for (uint i = tid; i < p.n_vocab; i += threads)
        {
          uint key = key_of (logits[base + i]);
          if ((key & prefix_mask) == prefix)
            atomicAdd (histogram[(key >> shift) & 255u], 1u);
        }
      barrier ();
      if (tid == 0u)
        {
          uint above = 0u, digit = 0u;
          for (int b = 255; b >= 0; b--)
            {
              uint count = histogram[b];
              if (above + count >= remaining)
                {
                  digit = uint (b);
                  break;
                }
              above += count;
            }
          chosen_digit = digit;
          remaining -= above;
        }
      barrier ();
      prefix |= chosen_digit << shift;
      prefix_mask |= 255u << shift;
      barrier ();
    }
  return float_of (prefix);
}

void
main ()
{
  uint row = gl_WorkGroupID.x;
  uint tid = gl_LocalInvocationID.x, threads = gl_WorkGroupSize.x;
  uint base = row * p.n_vocab;
  uint position = p.first_position + row;

  if (row >= p.n_rows)
    return;
  if (p.use_forced != 0u && forced[position] >= 0)
    {
      if (tid == 0u)
        tokens[p.token_base + row] = forced[position];
      return;
    }

  float threshold = -uintBitsToFloat (0x7f800000u);          // -inf: keep everything
  if (p.top_k > 0u && p.top_k < p.n_vocab)
    threshold = kth_largest (base, p.top_k) / p.temperature;

  float local_max = -uintBitsToFloat (0x7f800000u);
  for (uint i = tid; i < p.n_vocab; i += threads)
    {
      float scaled = logits[base + i] / p.temperature;
      if (scaled >= threshold)
        local_max = max (local_max, scaled);
    }
  float max_value = workgroup_max (local_max);

  // Each thread sums a contiguous stretch, so that the stretches' sums in order are the running sum.
  uint stretch = (p.n_vocab + threads - 1u) / threads;
  uint first = min (tid * stretch, p.n_vocab), last = min (first + stretch, p.n_vocab);
  acc_t sum = acc_t (0);
  for (uint i = first; i < last; i++)
    {
      float scaled = logits[base + i] / p.temperature;
      if (scaled >= threshold)
        sum += acc_t (exp (scaled - max_value));
    }
  partial[tid] = sum;
  barrier ();

  if (tid == 0u)
    {
      acc_t total = acc_t (0);
      for (uint t = 0u; t < threads; t++)
        total += partial[t];
      acc_t target = acc_t (philox_uniform (uvec2 (p.seed_lo, p.seed_hi), position, 0u, p.level, p.variant)) * total;
      acc_t running = acc_t (0);
      int token = -1, last_kept = 0;
      for (uint t = 0u; t < threads && token < 0; t++)
        {
          if (running + partial[t] <= target && t + 1u < threads)
            {
              running += partial[t];
              // Remember the stretch's last kept token, in case u rounds up to the very end.
              uint s_first = min (t * stretch, p.n_vocab), s_last = min (s_first + stretch, p.n_vocab);
              for (uint i = s_last; i > s_first; i--)
                if (logits[base + i - 1u] / p.temperature >= threshold)
                  {
                    last_kept = int (i - 1u);
                    break;
                  }
              continue;
            }
          uint s_first = min (t * stretch, p.n_vocab), s_last = min (s_first + stretch, p.n_vocab);
          for (uint i = s_first; i < s_last; i++)
            {
              float scaled = logits[base + i] / p.temperature;
              if (scaled < threshold)
                continue;
              float e = exp (scaled - max_value);
              if (e <= 0.0)
                continue;
              running += acc_t (e);
              last_kept = int (i);
              if (running > target)
                {
                  token = int (i);
                  break;
                }
            }
        }
      tokens[p.token_base + row] = token >= 0 ? token : last_kept;
    }
}
