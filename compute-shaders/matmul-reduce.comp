// matmul-reduce.comp: the second pass of a split-K linear product (matmul.comp with SPLIT_K): each output adds up
// its splits' partial sums in order, then the bias, then (flags & 1) what Y held.
//   Y[m, n0 + n] (+)= sum_z P[(z M + m) N + n] + bias[n0 + n]
#version 450

layout (local_size_x_id = 0) in;

layout (std430, binding = 0) readonly buffer PBuffer { float P[]; };
layout (std430, binding = 1) readonly buffer BiasBuffer { float Bias[]; };
layout (std430, binding = 2) buffer YBuffer { float Y[]; };

layout (push_constant) uniform Push
{
  uint M, N, ldy, n0, flags;   // flags: 1 add to Y, 2 add the bias
  uint splits;
} p;

void
main ()
{
  uint i = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
  if (i >= p.M * p.N)
    return;
  uint m = i / p.N, n = i - m * p.N;
  float value = 0.0;
  for (uint z = 0; z < p.splits; z++)
    value += P[(z * p.M + m) * p.N + n];
  if ((p.flags & 2u) != 0u)
    value += Bias[p.n0 + n];
  uint index = m * p.ldy + p.n0 + n;
  if ((p.flags & 1u) != 0u)
    value += Y[index];
  Y[index] = value;
}
