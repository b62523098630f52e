// transpose.comp: Y = X^T for a rows x cols matrix (row-major both): Y[j rows + i] = X[i cols + j]. The VQGAN
// goes between CHW feature maps and position-major rows (the attention block, the quantizer) with it.
#version 450

layout (local_size_x_id = 0) in;

layout (std430, binding = 0) readonly buffer XBuffer { float X[]; };
layout (std430, binding = 1) writeonly buffer YBuffer { float Y[]; };

layout (push_constant) uniform Push
{
  uint rows, cols;
} p;

void
main ()
{
  uint n = p.rows * p.cols;
  uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  // Consecutive invocations write consecutive Y elements.
  for (uint o = gl_GlobalInvocationID.x; o < n; o += stride)
    {
      uint j = o / p.rows, i = o - j * p.rows;
      Y[o] = X[i * p.cols + j];
    }
}
