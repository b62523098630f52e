// group-norm.comp: GroupNorm over CHW f32 (batch 1), one workgroup per group, mean and variance in two passes
// (f32), optionally followed by swish (the VQGAN's GroupNorm -> swish pairs). y may be x. X and Y may hold a
// range of whole groups of a larger map, from its channel channel0 on (which picks gamma and beta).
#version 450
#extension GL_GOOGLE_include_directive : require

layout (local_size_x_id = 0) in;

layout (std430, binding = 0) readonly buffer XBuffer { float X[]; };
layout (std430, binding = 1) readonly buffer GammaBuffer { float Gamma[]; };
layout (std430, binding = 2) readonly buffer BetaBuffer { float Beta[]; };
layout (std430, binding = 3) buffer YBuffer { float Y[]; };

layout (push_constant) uniform Push
{
  uint channels, hw, groups;
  float eps;
  uint swish;
  uint channel0;
} p;

#include "reduce.glsl"

void
main ()
{
  uint g = gl_WorkGroupID.x;
  uint tid = gl_LocalInvocationID.x, threads = gl_WorkGroupSize.x;
  uint per_group = p.channels / p.groups;
  uint len = per_group * p.hw, base = g * len;

  float sum = 0.0;
  for (uint i = tid; i < len; i += threads)
    sum += X[base + i];
  float mean = workgroup_sum (sum) / float (len);
  float squares = 0.0;
  for (uint i = tid; i < len; i += threads)
    {
      float d = X[base + i] - mean;
      squares += d * d;
    }
  float inv = 1.0 / sqrt (workgroup_sum (squares) / float (len) + p.eps);
  for (uint i = tid; i < len; i += threads)
    {
      uint c = p.channel0 + g * per_group + i / p.hw;
      float value = (X[base + i] - mean) * inv * Gamma[c] + Beta[c];
      if (p.swish != 0u)
        value = value / (1.0 + exp (-value));
      Y[base + i] = value;
    }
}
