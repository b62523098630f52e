// matvec.comp: the linear layer for a few input vectors (one-token decoding): one workgroup per weight row,
// its threads split K and reduce in shared memory; f32 accumulation.
//   Y[m0 + m, n0 + n] (+)= sum_k X[m0 + m, k] W[n, k] + bias[n0 + n]   for m < M <= NV
#version 450
#extension GL_GOOGLE_include_directive : require

layout (local_size_x_id = 0) in;
layout (constant_id = 1) const uint NV = 4;

layout (std430, binding = 0) readonly buffer XBuffer { float X[]; };
layout (std430, binding = 1) readonly buffer WBuffer { uint W[]; };
layout (std430, binding = 2) readonly buffer BiasBuffer { float Bias[]; };
layout (std430, binding = 3) buffer YBuffer { float Y[]; };

layout (push_constant) uniform Push
{
  uint M, N, K, ldy, n0, flags;
  uint m0;          // the first input row of this dispatch
} p;

#include "weights.glsl"

shared float partial[NV * gl_WorkGroupSize.x];

void
main ()
{
  uint tid = gl_LocalInvocationID.x;
  uint threads = gl_WorkGroupSize.x;
  uint n = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
  float acc[NV];

  if (n >= p.N)
    return;                     // uniform across the workgroup
  for (uint m = 0; m < NV; m++)
    acc[m] = 0.0;
  for (uint k = tid; k < p.K; k += threads)
    {
      float wk = weight_at (n * p.K + k);
      for (uint m = 0; m < NV; m++)
        if (m < p.M)
          acc[m] = fma (wk, X[(p.m0 + m) * p.K + k], acc[m]);
    }
  for (uint m = 0; m < NV; m++)
    partial[m * threads + tid] = acc[m];
  barrier ();
  for (uint stride = threads / 2; stride > 0; stride /= 2)
    {
      if (tid < stride)
        for (uint m = 0; m < NV; m++)
          partial[m * threads + tid] += partial[m * threads + tid + stride];
      barrier ();
    }
  if (tid < p.M)
    {
      uint m = tid;
      float value = partial[m * threads];
      if ((p.flags & 2u) != 0u)
        value += Bias[p.n0 + n];
      uint index = (p.m0 + m) * p.ldy + p.n0 + n;
      if ((p.flags & 1u) != 0u)
        value += Y[index];
      Y[index] = value;
    }
}
