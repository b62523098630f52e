/* ib-ops.h: the CPU engine's operations on f32 activations.
 *
 * Activations are f32, row-major. Weights are IbTensors (f32, f16 or bf16) in PyTorch layout:
 * Linear [out, in], Conv2d [out, in, kh, kw]. Matrix products go through OpenBLAS (cblas_sgemm);
 * f16/bf16 weights are widened a block of rows at a time into scratch memory, never stored twice.
 * Everything else is spread over ib_get_num_threads() threads. Each op has a naive reference in
 * tests/test-ops.c.
 *
 * Threads: the ops' OpenMP team is the only pool of threads. OpenBLAS is set to one thread (at the first
 * op or ib_set_num_threads) and called from inside the team on disjoint blocks, because two pools that
 * spin on the same cores slow each other down. Code outside ib-ops.c should multiply matrices with
 * ib_sgemm, which spreads the product over the team, rather than call cblas_sgemm from serial code. */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "ib-tensor.h"

G_BEGIN_DECLS

/* Threads used by the ops (and so by OpenBLAS, see above); n <= 0 means all cores. The default is
 * OpenMP's (OMP_NUM_THREADS or all cores). */
void  ib_set_num_threads     (int n);
int   ib_get_num_threads     (void);

/* Row-major C[m, n] = alpha op(A) op(B) + beta C, op(X) = X^T when trans_x, spread over the ops' threads.
 * beta = 0 overwrites C, also when k = 0. */
void  ib_sgemm               (bool            trans_a,
                              bool            trans_b,
                              int             m,
                              int             n,
                              int             k,
                              float           alpha,
                              const float    *a,
                              int             lda,
                              const float    *b,
                              int             ldb,
                              float           beta,
                              float          *c,
                              int             ldc);

/* y[n, out] = x[n, in] W^T + b. W: [out, in]; bias: [out] or NULL. */
void  ib_linear              (float          *y,
                              const float    *x,
                              int             n,
                              const IbTensor *weight,
                              const IbTensor *bias);

/* y[n, out] += x[n, in] W^T + b: a linear layer and a residual addition in one pass. */
void  ib_linear_add          (float          *y,
                              const float    *x,
                              int             n,
                              const IbTensor *weight,
                              const IbTensor *bias);

/* y[r] = LayerNorm(x[r]) * gamma + beta over rows of length dim (two-pass mean and variance). y may be x. */
void  ib_layer_norm          (float          *y,
                              const float    *x,
                              int             n_rows,
                              int             dim,
                              const IbTensor *gamma,
                              const IbTensor *beta,
                              float           eps);

/* In place: exact GELU x * 0.5 * (1 + erf(x / sqrt 2)); swish x * sigmoid(x). */
void  ib_gelu                (float          *x,
                              gsize           n);
void  ib_swish               (float          *x,
                              gsize           n);

/* y += x, n elements. */
void  ib_add                 (float          *y,
                              const float    *x,
                              gsize           n);

/* Multi-head scaled dot-product attention.
 * q: n_q rows, row r of head h at q[r * q_stride + h * dim_head]; k and v likewise with kv_stride;
 * out: n_q rows of heads * dim_head (stride heads * dim_head), heads side by side as PyTorch's
 * rearrange('b h n d -> b n (h d)').
 * causal: query r (absolute position q_offset + r) sees keys 0 .. q_offset + r.
 * Scores are scaled by 1/sqrt(dim_head); softmax in f32 with the row maximum subtracted. */
void  ib_attention           (float          *out,
                              const float    *q,
                              int             n_q,
                              int             q_stride,
                              const float    *k,
                              const float    *v,
                              int             n_kv,
                              int             kv_stride,
                              int             heads,
                              int             dim_head,
                              bool            causal,
                              int             q_offset);

/* Image ops on CHW f32 tensors (batch 1). */

/* GroupNorm over groups of channels/groups channels * hw pixels; y may be x. */
void  ib_group_norm          (float          *y,
                              const float    *x,
                              int             channels,
                              int             hw,
                              int             groups,
                              const IbTensor *gamma,
                              const IbTensor *beta,
                              float           eps);

/* 2-D convolution, square kernel, with explicit zero padding on each side (PyTorch's symmetric
 * padding=p is pad_top = pad_left = pad_bottom = pad_right = p; taming's Downsample pads right and bottom
 * by 1 and convolves with stride 2, padding 0). Output size: (h + pad_top + pad_bottom - k) / stride + 1. */
typedef struct
{
  int stride;
  int pad_top;
  int pad_left;
  int pad_bottom;
  int pad_right;
} IbConvGeometry;

void  ib_conv2d              (float                *y,
                              const float          *x,
                              int                   c_in,
                              int                   h,
                              int                   w,
                              const IbTensor       *weight,
                              const IbTensor       *bias,
                              const IbConvGeometry *geometry,
                              int                  *out_h,
                              int                  *out_w);

/* ib_conv2d with scratch memory owned by the caller, so that a network allocates it once for all its
 * layers. ib_conv2d_scratch_size() floats (at most 64 MiB) give full speed; less works, down to one im2col
 * column plus one widened weight row (the pixel strips and the weight blocks shrink). y must not overlap
 * x or scratch. */
gsize ib_conv2d_scratch_size (int                   c_in,
                              int                   h,
                              int                   w,
                              const IbTensor       *weight,
                              const IbConvGeometry *geometry);
void  ib_conv2d_with_scratch (float                *y,
                              const float          *x,
                              int                   c_in,
                              int                   h,
                              int                   w,
                              const IbTensor       *weight,
                              const IbTensor       *bias,
                              const IbConvGeometry *geometry,
                              float                *scratch,
                              gsize                 n_scratch,
                              int                  *out_h,
                              int                  *out_w);

/* Nearest-neighbour 2x upsampling: y is c x 2h x 2w. */
void  ib_upsample_nearest2x  (float          *y,
                              const float    *x,
                              int             c,
                              int             h,
                              int             w);

/* Nearest codebook row by squared L2 for each of n vectors z[i] (length dim), among the rows of
 * codebook (f32, n_codes x dim) listed in candidates (or all rows when candidates is NULL; n_candidates is
 * then the number of rows); writes the position in candidates (or the row). Ties go to the lowest position,
 * as torch.argmin does. */
void  ib_nearest_code        (int32_t        *indices,
                              const float    *z,
                              int             n,
                              int             dim,
                              const float    *codebook,
                              const int32_t  *candidates,
                              int             n_candidates);

G_END_DECLS
