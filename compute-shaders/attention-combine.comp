// attention-combine.comp: merges the split-K partial softmax states of attention.comp (PARTIAL) into the output,
// one workgroup per (query row, head). Split s holds its keys' maximum m_s, the sum l_s of exp(score - m_s) and
// the weighted sum a_s of the values with those weights; with M the largest m_s,
//   out = sum_s exp(m_s - M) a_s / sum_s exp(m_s - M) l_s,
// which is the softmax over all keys. A row without keys (every l_s = 0) gets zeros, as attention.comp gives it.
//   P[((r heads + h) splits + s) (dim_head + 2)] = (m_s, l_s, a_s[0..dim_head-1]); out row r at O[r out_stride + h dh]
#version 450

layout (local_size_x_id = 0) in;

layout (std430, binding = 0) readonly buffer PBuffer { float P[]; };
layout (std430, binding = 1) writeonly buffer OBuffer { float O[]; };

layout (push_constant) uniform Push
{
  uint splits, dim_head, out_stride;
} p;

void
main ()
{
  uint r = gl_WorkGroupID.x, h = gl_WorkGroupID.y;
  uint tid = gl_LocalInvocationID.x, threads = gl_WorkGroupSize.x;
  uint dh = p.dim_head, state = dh + 2u;
  uint first = (r * gl_NumWorkGroups.y + h) * p.splits * state;

  // Every thread finds M and the total itself: a few dozen reads that the cache serves, no barrier.
  float m = -3.402823466e38;
  for (uint s = 0u; s < p.splits; s++)
    if (P[first + s * state + 1u] > 0.0)
      m = max (m, P[first + s * state]);
  float total = 0.0;
  for (uint s = 0u; s < p.splits; s++)
    total += exp (P[first + s * state] - m) * P[first + s * state + 1u];
  float inv = total > 0.0 ? 1.0 / total : 0.0;

  for (uint d = tid; d < dh; d += threads)
    {
      float a = 0.0;
      for (uint s = 0u; s < p.splits; s++)
        a = fma (exp (P[first + s * state] - m), P[first + s * state + 2u + d], a);
      O[r * p.out_stride + h * dh + d] = a * inv;
    }
}
