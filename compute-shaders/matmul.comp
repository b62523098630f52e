// matmul.comp: tiled matrix product with weights in PyTorch layout, f32 accumulation.
//   linear:         Y[m, n0 + n] (+)= sum_k X[m, k] W[n, k] + bias[n0 + n]     (x: M rows of K)
//   conv (-DCONV):  Y[n0 + n - y_row0, m] (+)= sum_k im2col(X)[k, m] W[n, w_k0 + k] + bias[n0 + n]
//                   (m: output pixel; X holds the input channels of this partial sum, Y the output channels
//                   from y_row0 on: a feature map split across buffer ranges is summed part by part)
// W is one chunk of the weight, rows of ldw values from its row w_row0 on; n0 is the first row's index in the
// whole weight. Each workgroup computes a BM x BN
// tile, each thread TM x TN of it, stepping through K in slices of BK staged in shared memory. A thread's rows
// and columns are spread BM / TM and BN / TN apart, so that neighbouring threads read neighbouring words of the
// staged slices (no bank conflicts) and write neighbouring outputs; the slices are stored k-major with one
// word of padding per row of k, so that staging them (neighbouring threads at neighbouring k) does not
// conflict either.
// With SPLIT_K (linear only), workgroup z takes only K values z k_per_split .. (z + 1) k_per_split - 1 and writes its
// raw sums to P[(z M + m) N + n] (the Y binding), for matmul-reduce.comp to add up with the bias: a product of few
// rows then fills the GPU with short chains of K slices instead of a few workgroups walking all of K.
#version 450
#extension GL_GOOGLE_include_directive : require

layout (local_size_x_id = 0) in;
layout (constant_id = 1) const uint BM = 64;
layout (constant_id = 2) const uint BN = 64;
layout (constant_id = 3) const uint BK = 16;
layout (constant_id = 4) const uint TM = 4;
layout (constant_id = 5) const uint TN = 4;
layout (constant_id = 6) const bool SPLIT_K = false;

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
  uint k_per_split; // a multiple of BK; K when the product is not split
} p;

#include "weights.glsl"

const uint AS_STRIDE = BM + 1;
const uint BS_STRIDE = BN + 1;
shared float As[BK * AS_STRIDE];
shared float Bs[BK * BS_STRIDE];

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
  uint row_step = BM / TM, col_step = BN / TN;
  uint ty = tid / col_step, tx = tid % col_step;
  float acc[TM * TN];

  for (uint i = 0; i < TM * TN; i++)
    acc[i] = 0.0;

  uint k_begin = gl_WorkGroupID.z * p.k_per_split, k_end = min (k_begin + p.k_per_split, p.K);
  for (uint k0 = k_begin; k0 < k_end; k0 += BK)
    {
      for (uint i = tid; i < BM * BK; i += threads)
        {
          uint m = i / BK, k = i - m * BK;
          uint gm = m_base + m, gk = k0 + k;
          As[k * AS_STRIDE + m] = gm < p.M && gk < k_end ? input_at (gm, gk) : 0.0;
        }
      for (uint i = tid; i < BN * BK; i += threads)
        {
          uint n = i / BK, k = i - n * BK;
          uint gn = n_base + n, gk = k0 + k;
          Bs[k * BS_STRIDE + n] = gn < p.N && gk < k_end ? weight_at ((p.w_row0 + gn) * p.ldw + p.w_k0 + gk) : 0.0;
        }
      barrier ();
      for (uint k = 0; k < BK; k++)
        {
          float a[TM], b[TN];
          for (uint i = 0; i < TM; i++)
            a[i] = As[k * AS_STRIDE + ty + i * row_step];
          for (uint j = 0; j < TN; j++)
            b[j] = Bs[k * BS_STRIDE + tx + j * col_step];
          for (uint i = 0; i < TM; i++)
            for (uint j = 0; j < TN; j++)
              acc[i * TN + j] = fma (a[i], b[j], acc[i * TN + j]);
        }
      barrier ();
    }

  for (uint i = 0; i < TM; i++)
    for (uint j = 0; j < TN; j++)
      {
        uint gm = m_base + ty + i * row_step, gn = n_base + tx + j * col_step;
        if (gm >= p.M || gn >= p.N)
          continue;
        float value = acc[i * TN + j];
        if (SPLIT_K)
          {
            Y[(gl_WorkGroupID.z * p.M + gm) * p.N + gn] = value;
            continue;
          }
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
