// layer-norm.comp: y[r] = (x[r] - mean) / sqrt(var + eps) * gamma + beta, one workgroup per row, mean and
// variance in two passes (f32). y may be x: each element is read and written by the same thread.
#version 450
#extension GL_GOOGLE_include_directive : require

layout (local_size_x_id = 0) in;

layout (std430, binding = 0) readonly buffer XBuffer { float X[]; };
layout (std430, binding = 1) readonly buffer GammaBuffer { float Gamma[]; };
layout (std430, binding = 2) readonly buffer BetaBuffer { float Beta[]; };
layout (std430, binding = 3) buffer YBuffer { float Y[]; };

layout (push_constant) uniform Push
{
  uint n_rows, dim;
  float eps;
} p;

#include "reduce.glsl"

void
main ()
{
  uint row = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
  uint tid = gl_LocalInvocationID.x, threads = gl_WorkGroupSize.x;

  if (row >= p.n_rows)
    return;
  uint base = row * p.dim;
  float sum = 0.0;
  for (uint i = tid; i < p.dim; i += threads)
    sum += X[base + i];
  float mean = workgroup_sum (sum) / float (p.dim);
  float squares = 0.0;
  for (uint i = tid; i < p.dim; i += threads)
    {
      float d = X[base + i] - mean;
      squares += d * d;
    }
  float inv = 1.0 / sqrt (workgroup_sum (squares) / float (p.dim) + p.eps);
  for (uint i = tid; i < p.dim; i += threads)
    Y[base + i] = (X[base + i] - mean) * inv * Gamma[i] + Beta[i];
}
