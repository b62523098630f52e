// nearest-code.comp: the quantizer's search: for each vector z[i] (dim floats), the nearest codebook row by
// squared L2 among the listed candidates (or all rows), ties to the lowest position as torch.argmin; writes the
// position. One workgroup per vector; squared distances summed directly in f32.
#version 450

layout (local_size_x_id = 0) in;

layout (std430, binding = 0) readonly buffer ZBuffer { float Z[]; };
layout (std430, binding = 1) readonly buffer CodeBuffer { float codes[]; };
layout (std430, binding = 2) readonly buffer CandidateBuffer { int candidates[]; };
layout (std430, binding = 3) writeonly buffer OutBuffer { int indices[]; };

layout (push_constant) uniform Push
{
  uint n, dim, n_candidates, use_candidates, n_codes;
} p;

shared float best_distance[gl_WorkGroupSize.x];
shared uint best_position[gl_WorkGroupSize.x];

void
main ()
{
  uint i = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
  uint tid = gl_LocalInvocationID.x, threads = gl_WorkGroupSize.x;
  if (i >= p.n)
    return;

  float best = uintBitsToFloat (0x7f800000u);
  uint where = 0xffffffffu;
  for (uint j = tid; j < p.n_candidates; j += threads)
    {
      // A listed row outside the codebook is clamped: reads stay inside the buffer whatever the list says.
      uint row = min (p.use_candidates != 0u ? uint (candidates[j]) : j, p.n_codes - 1u);
      float d2 = 0.0;
      for (uint k = 0; k < p.dim; k++)
        {
          float d = Z[i * p.dim + k] - codes[row * p.dim + k];
          d2 = fma (d, d, d2);
        }
      if (d2 < best)            // j grows: the first of equals stays
        {
          best = d2;
          where = j;
        }
    }
  best_distance[tid] = best;
  best_position[tid] = where;
  barrier ();
  for (uint stride = threads / 2u; stride > 0u; stride /= 2u)
    {
      if (tid < stride)
        {
          float other = best_distance[tid + stride];
          uint other_position = best_position[tid + stride];
          if (other < best_distance[tid] || (other == best_distance[tid] && other_position < best_position[tid]))
            {
              best_distance[tid] = other;
              best_position[tid] = other_position;
            }
        }
      barrier ();
    }
  if (tid == 0u)
    indices[i] = int (best_position[0] == 0xffffffffu ? 0u : best_position[0]);
}
