// rng.comp: raw Philox words for positions first .. first + n - 1 at one draw index (tests compare them with
// ib_rng_philox bit for bit).
#version 450
#extension GL_GOOGLE_include_directive : require

layout (local_size_x_id = 0) in;

layout (std430, binding = 0) writeonly buffer Out { uvec4 words[]; };

layout (push_constant) uniform Push
{
  uint n, first, draw, level, variant, seed_lo, seed_hi;
} p;

#include "philox.glsl"

void
main ()
{
  uint i = gl_GlobalInvocationID.x;
  if (i < p.n)
    words[i] = philox (uvec2 (p.seed_lo, p.seed_hi), p.first + i, p.draw, p.level, p.variant);
}
