// attention.comp: multi-head scaled dot-product attention, one workgroup per (query row, head, split of the keys).
// The scores of up to MAX_KV keys live in shared memory; a row with more keys goes through them in blocks of
// MAX_KV with the online softmax: each block's maximum joins the running one, and the running sum and the
// weighted sum of the values are rescaled by exp(old max - new max). With one block this is exactly the
// two-pass softmax (the maximum first, then the exponentials and their sum), in f32.
//   q row r, head h at Q[q_base + r q_stride + h dh]; key/value j at K/V[k_base/v_base + j kv_stride + h dh]
//   out row r at O[r out_stride + h dh]; causal: row r (absolute position q_offset + r) sees keys 0..q_offset + r,
//   and positions below n_unmasked (minGPT's leading block) see keys 0..n_unmasked - 1 as well.
// With PARTIAL, workgroup z takes only keys z keys_per_split .. (z + 1) keys_per_split - 1 of its row and writes its
// softmax state unnormalized, (max, sum, weighted sum of dim_head values), as P[((r heads + h) splits + z) (dh + 2)],
// for attention-combine.comp to merge: a decoding step's one query row then fills the GPU (split-K, as in
// flash-decoding) instead of leaving it to one workgroup per head walking every key.
#version 450
#extension GL_GOOGLE_include_directive : require

layout (local_size_x_id = 0) in;
layout (constant_id = 1) const uint MAX_KV = 1024;
layout (constant_id = 2) const uint MAX_DH = 256;
layout (constant_id = 3) const bool PARTIAL = false;

layout (std430, binding = 0) readonly buffer QBuffer { float Q[]; };
layout (std430, binding = 1) readonly buffer KBuffer { float K[]; };
layout (std430, binding = 2) readonly buffer VBuffer { float V[]; };
layout (std430, binding = 3) writeonly buffer OBuffer { float O[]; };

layout (push_constant) uniform Push
{
  uint n_q, n_kv, q_stride, kv_stride, out_stride, dim_head;
  uint q_base, k_base, v_base;
  uint causal, q_offset, n_unmasked;
  uint keys_per_split;
  float scale;
} p;

#include "reduce.glsl"

shared float scores[MAX_KV];
shared float q[MAX_DH];
shared float acc[MAX_DH];      // the weighted sum of the values so far (each thread its own dimensions)

void
main ()
{
  uint r = gl_WorkGroupID.x, h = gl_WorkGroupID.y;
  uint tid = gl_LocalInvocationID.x, threads = gl_WorkGroupSize.x;
  uint dh = p.dim_head;
  uint n_keys = p.causal != 0u ? min (max (p.q_offset + r + 1u, p.n_unmasked), p.n_kv) : p.n_kv;
  uint first_key = min (gl_WorkGroupID.z * p.keys_per_split, n_keys);
  uint end_key = min (first_key + p.keys_per_split, n_keys);

  for (uint d = tid; d < dh; d += threads)
    {
      q[d] = Q[p.q_base + r * p.q_stride + h * dh + d];
      acc[d] = 0.0;
    }
  barrier ();

  float row_max = -3.402823466e38, row_sum = 0.0;
  for (uint j0 = first_key; j0 < end_key; j0 += MAX_KV)
    {
      uint block = min (MAX_KV, end_key - j0);
      float local_max = -3.402823466e38;
      for (uint j = tid; j < block; j += threads)
        {
          uint kb = p.k_base + (j0 + j) * p.kv_stride + h * dh;
          float s = 0.0;
          for (uint d = 0; d < dh; d++)
            s = fma (q[d], K[kb + d], s);
          s *= p.scale;
          scores[j] = s;
          local_max = max (local_max, s);
        }
      float new_max = max (row_max, workgroup_max (local_max));
      float local_sum = 0.0;
      for (uint j = tid; j < block; j += threads)
        {
          float e = exp (scores[j] - new_max);
          scores[j] = e;
          local_sum += e;
        }
      // 0 for the first block (row_max is the lowest float), so that one block is the plain two-pass softmax.
      float rescale = exp (row_max - new_max);
      row_sum = row_sum * rescale + workgroup_sum (local_sum);   // the sum's barrier publishes scores
      for (uint d = tid; d < dh; d += threads)
        {
          float a = 0.0;
          for (uint j = 0; j < block; j++)
            a = fma (scores[j], V[p.v_base + (j0 + j) * p.kv_stride + h * dh + d], a);
          acc[d] = acc[d] * rescale + a;
        }
      row_max = new_max;
      barrier ();   // the next block rewrites scores
    }
  if (PARTIAL)
    {
      // An empty split leaves (lowest float, 0, zeros): its weight in the merge is 0.
      uint base = ((r * gl_NumWorkGroups.y + h) * gl_NumWorkGroups.z + gl_WorkGroupID.z) * (dh + 2u);
      if (tid == 0u)
        {
          O[base] = row_max;
          O[base + 1u] = row_sum;
        }
      for (uint d = tid; d < dh; d += threads)
        O[base + 2u + d] = acc[d];
      return;
    }
  float inv = end_key > first_key ? 1.0 / row_sum : 0.0;
  for (uint d = tid; d < dh; d += threads)
    O[r * p.out_stride + h * dh + d] = acc[d] * inv;
}
