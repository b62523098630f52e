// matmul.comp: tiled matrix product with weights in PyTorch layout, f32 accumulation.
//   linear:         Y[m, n0 + n] (+)= sum_k X[m, k] W[n, k] + bias[n0 + n]     (x: M rows of K)
//   conv (-DCONV):  Y[n0 + n - y_row0, m] (+)= sum_k im2col(X)[k, m] W[n, w_k0 + k] + bias[n0 + n]
//                   (m: output pixel; X holds the input channels of this partial sum, Y the output channels
//                   from y_row0 on: a feature map split across buffer ranges is summed part by part)
// W is one chunk of the weight, rows of ldw values from its row w_row0 on; n0 is the first row's index in the
// whole weight. Each workgroup computes a BM x BN
// tile, each thread TM x TN of it, stepping through K in slices of BK staged in shared memory.
#version 450
#extension GL_GOOGLE_include_directive : require

layout (local_size_x_id = 0) in;
layout (constant_id = 1) const uint BM = 64;
layout (constant_id = 2) const uint BN = 64;
layout (constant_id = 3) const uint BK = 16;
layout (constant_id = 4) const uint TM = 4;
layout (constant_id = 5) const uint TN = 4;

layout (std430, binding = 0) readonly buffer XBuffer { float X[]; };
layout (std430, binding = 1) readonly buffer WBuffer { uint W[]; };
layout (std430, binding = 2) readonly buffer BiasBuffer { float Bias[]; };
layout (std430, binding = 3) buffer YBuffer { float Y[]; };

layout (push_constant) uniform Push
{
  uint M;           // input vectors (linear: rows of x; conv: output pixels)
  uint N;           // weight rows in this chunk
  uint K;
  uint ldy;         // linear: floats per output row; conv: floats per output channel
  uint n0;
  uint flags;       // 1: add to Y; 2: add the bias
  uint ldw, w_row0, w_k0;
  uint y_row0;      // conv only: the first output channel Y holds
  // conv only
  uint c_in, h, w, ksize, stride, pad_top, pad_left, out_w;
} p;

#include "weights.glsl"

shared float As[BK * BM];
shared float Bs[BK * BN];

float
input_at (uint m, uint k)
{
#ifdef CONV
  uint kk = p.ksize * p.ksize;
  uint ci = k / kk, r = k - ci * kk;
  uint ky = r / p.ksize, kx = r - ky * p.ksize;
  uint oy = m / p.out_w, ox = m - oy * p.out_w;
  int iy = int (oy * p.stride + ky) - int (p.pad_top);
  int ix = int (ox * p.stride + kx) - int (p.pad_left);
  if (iy < 0 || ix < 0 || iy >= int (p.h) || ix >= int (p.w))
    return 0.0;
  return X[(ci * p.h + uint (iy)) * p.w + uint (ix)];
#else
  return X[m * p.K + k];
#endif
}

void
main ()
{
  uint tid = gl_LocalInvocationID.x;
  uint threads = gl_WorkGroupSize.x;
  uint m_base = gl_WorkGroupID.y * BM, n_base = gl_WorkGroupID.x * BN;
  uint cols = BN / TN;
  uint tm = (tid / cols) * TM, tn = (tid % cols) * TN;
  float acc[TM * TN];

  for (uint i = 0; i < TM * TN; i++)
    acc[i] = 0.0;

  for (uint k0 = 0; k0 < p.K; k0 += BK)
    {
      for (uint i = tid; i < BM * BK; i += threads)
        {
          uint m = i / BK, k = i - m * BK;
          uint gm = m_base + m, gk = k0 + k;
          As[k * BM + m] = gm < p.M && gk < p.K ? input_at (gm, gk) : 0.0;
        }
      for (uint i = tid; i < BN * BK; i += threads)
        {
          uint n = i / BK, k = i - n * BK;
          uint gn = n_base + n, gk = k0 + k;
          Bs[k * BN + n] = gn < p.N && gk < p.K ? weight_at ((p.w_row0 + gn) * p.ldw + p.w_k0 + gk) : 0.0;
        }
      barrier ();
      for (uint k = 0; k < BK; k++)
        {
          float a[TM], b[TN];
          for (uint i = 0; i < TM; i++)
            a[i] = As[k * BM + tm + i];
          for (uint j = 0; j < TN; j++)
            b[j] = Bs[k * BN + tn + j];
          for (uint i = 0; i < TM; i++)
            for (uint j = 0; j < TN; j++)
              acc[i * TN + j] = fma (a[i], b[j], acc[i * TN + j]);
        }
      barrier ();
    }

  for (uint i = 0; i < TM; i++)
    for (uint j = 0; j < TN; j++)
      {
        uint gm = m_base + tm + i, gn = n_base + tn + j;
        if (gm >= p.M || gn >= p.N)
          continue;
        float value = acc[i * TN + j];
        if ((p.flags & 2u) != 0u)
          value += Bias[p.n0 + gn];
#ifdef CONV
        uint index = (p.n0 + gn - p.y_row0) * p.ldy + gm;
#else
        uint index = gm * p.ldy + p.n0 + gn;
#endif
        if ((p.flags & 1u) != 0u)
          value += Y[index];
        Y[index] = value;
      }
}
