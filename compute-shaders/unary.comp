// unary.comp: element-wise activations in place. OP 0: exact GELU x/2 (1 + erf(x / sqrt 2)); OP 1: swish
// x sigmoid(x).
#version 450

layout (local_size_x_id = 0) in;
layout (constant_id = 1) const uint OP = 0;

layout (std430, binding = 0) buffer XBuffer { float X[]; };

layout (push_constant) uniform Push
{
  uint n;
} p;

// erf(x) to about 1.2e-7 relative error (Numerical Recipes' erfc Chebyshev fit); GLSL has no erf.
float
erf_approx (float x)
{
  float z = abs (x);
  float t = 1.0 / (1.0 + 0.5 * z);
  float r = t * exp (-z * z - 1.26551223 +
                     t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
                     t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 +
                     t * 0.17087277)))))))));
  return x >= 0.0 ? 1.0 - r : r - 1.0;
}

void
main ()
{
  uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < p.n; i += stride)
    {
      float x = X[i];
      if (OP == 0u)
        X[i] = 0.5 * x * (1.0 + erf_approx (x * 0.70710678118654752));
      else
        X[i] = x / (1.0 + exp (-x));
    }
}
