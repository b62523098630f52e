// upsample.comp: nearest-neighbour 2x upsampling of CHW f32: y[y_c0 + c, 2h, 2w] = x[x_c0 + c, h, w] for c < n_c
// (the channel offsets select a range of a feature map split across buffer ranges).
#version 450

layout (local_size_x_id = 0) in;

layout (std430, binding = 0) readonly buffer XBuffer { float X[]; };
layout (std430, binding = 1) writeonly buffer YBuffer { float Y[]; };

layout (push_constant) uniform Push
{
  uint c, h, w;
  uint x_c0, y_c0;
} p;

void
main ()
{
  uint ow = 2u * p.w, plane = 4u * p.h * p.w, n = p.c * plane;
  uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < n; i += stride)
    {
      uint c = i / plane, r = i - c * plane;
      uint oy = r / ow, ox = r - oy * ow;
      Y[p.y_c0 * plane + i] = X[((p.x_c0 + c) * p.h + oy / 2u) * p.w + ox / 2u];
    }
}
