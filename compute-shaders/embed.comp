// embed.comp: token embedding plus learned position: Y[i] = E[tokens[i]] + P[pos0 + i], rows of dim floats.
// A token outside the table is clamped (the host checks tokens; this only keeps reads inside the buffer).
#version 450

layout (local_size_x_id = 0) in;

layout (std430, binding = 0) readonly buffer TokenBuffer { int tokens[]; };
layout (std430, binding = 1) readonly buffer EBuffer { float E[]; };
layout (std430, binding = 2) readonly buffer PBuffer { float P[]; };
layout (std430, binding = 3) writeonly buffer YBuffer { float Y[]; };

layout (push_constant) uniform Push
{
  uint n, dim, pos0, n_table, token_base;
} p;

void
main ()
{
  uint i = gl_WorkGroupID.y, stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  if (i >= p.n)
    return;
  uint token = uint (clamp (tokens[p.token_base + i], 0, int (p.n_table) - 1));
  for (uint d = gl_GlobalInvocationID.x; d < p.dim; d += stride)
    Y[i * p.dim + d] = E[token * p.dim + d] + P[(p.pos0 + i) * p.dim + d];
}
