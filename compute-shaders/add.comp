// add.comp: y = a * y + b * x over n elements (a = b = 1: the residual add).
#version 450

layout (local_size_x_id = 0) in;

layout (std430, binding = 0) readonly buffer XBuffer { float X[]; };
layout (std430, binding = 1) buffer YBuffer { float Y[]; };

layout (push_constant) uniform Push
{
  uint n;
  float a;
  float b;
} p;

void
main ()
{
  uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < p.n; i += stride)
    Y[i] = p.a * Y[i] + p.b * X[i];
}
