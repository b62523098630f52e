// finish-logits.comp: the variants' logit post-processing, in the CPU engine's order of operations
// (ib-transformer.c finish_logits): Scaled multiplies by exp(log_scalors[t-1]); ResidualScaled then adds
// log((1 - alpha) / K) to every logit and log(alpha + (1 - alpha) / K) - log((1 - alpha) / K) to x_t's token,
// on the rows whose position is inside x_t.
#version 450

layout (local_size_x_id = 0) in;

layout (std430, binding = 0) readonly buffer Src { int src[]; };
layout (std430, binding = 1) buffer Logits { float logits[]; };

layout (push_constant) uniform Push
{
  uint n, n_vocab, first_pos, xt_size, xt_base, residual;
  float scalor, hit, miss;
} p;

void
main ()
{
  uint row = gl_WorkGroupID.y;
  uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  if (row >= p.n)
    return;
  bool with_residual = p.residual != 0u && p.first_pos + row < p.xt_size;
  int hit = with_residual ? src[p.xt_base + p.first_pos + row] : -1;
  float bonus = p.hit - p.miss;
  for (uint j = gl_GlobalInvocationID.x; j < p.n_vocab; j += stride)
    {
      uint index = row * p.n_vocab + j;
      float value = logits[index] * p.scalor;
      if (with_residual)
        {
          value += p.miss;
          if (int (j) == hit)
            value += bonus;
        }
      logits[index] = value;
    }
}
