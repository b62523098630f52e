/* ib-vulkan-ops.h: the Vulkan engine's kernels, each the GPU twin of a CPU op of ib-ops.h.
 *
 * Activations are f32 views (row-major, as on the CPU); weights are IbVkTensors (ib_vk_tensor_upload).
 * Biases, norm parameters and embedding tables must be f32 (upload them widened). Every op only records
 * into the device's current batch: results are there after ib_vk_device_submit (or an ib_vk_download).
 * Every op checks that what it reads and writes lies inside the views it is given. */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "ib-ops.h"
#include "ib-vulkan-device.h"

G_BEGIN_DECLS

typedef enum
{
  IB_VK_LINEAR_AUTO,            /* matrix-vector for up to 16 rows, else tiled */
  IB_VK_LINEAR_TILED,
  IB_VK_LINEAR_VECTOR,
} IbVkLinearKernel;

/* y[n, out] (+)= x[n, in] W^T + b (ib_linear / ib_linear_add). bias: NULL or [out]. */
gboolean  ib_vk_linear        (IbVkDevice       *device,
                               const IbVkView   *y,
                               const IbVkView   *x,
                               int               n,
                               const IbVkTensor *weight,
                               const IbVkTensor *bias,
                               gboolean          accumulate,
                               IbVkLinearKernel  kernel,
                               GError          **error);

/* The matrix product's kernels, for benchmarks and tests: how many tiles there are, and forcing a tile on a device
 * (-1: chosen per product, the default) and whether linear products may split their K (the default). FALSE, and
 * nothing changed, for a tile out of range. */
int       ib_vk_matmul_tile_count (void);
gboolean  ib_vk_set_matmul_kernel (IbVkDevice       *device,
                                   int               tile,
                                   gboolean          split_k);

/* The attention's kernels, for benchmarks and tests: whether a few rows may split their keys over several
 * workgroups, and whether many rows go in blocks that share each key (both the default). */
void      ib_vk_set_attention_kernel (IbVkDevice    *device,
                                      gboolean       split_keys,
                                      gboolean       row_blocks);

/* ib_layer_norm: rows of dim; y may be x. */
gboolean  ib_vk_layer_norm    (IbVkDevice       *device,
                               const IbVkView   *y,
                               const IbVkView   *x,
                               int               n_rows,
                               int               dim,
                               const IbVkTensor *gamma,
                               const IbVkTensor *beta,
                               float             eps,
                               GError          **error);

/* In place on the first n floats of x. */
gboolean  ib_vk_gelu          (IbVkDevice       *device,
                               const IbVkView   *x,
                               gsize             n,
                               GError          **error);
gboolean  ib_vk_swish         (IbVkDevice       *device,
                               const IbVkView   *x,
                               gsize             n,
                               GError          **error);

/* y += x, n floats. */
gboolean  ib_vk_add           (IbVkDevice       *device,
                               const IbVkView   *y,
                               const IbVkView   *x,
                               gsize             n,
                               GError          **error);
/* y = a * y + b * x, n floats. */
gboolean  ib_vk_axpby         (IbVkDevice       *device,
                               const IbVkView   *y,
                               float             a,
                               const IbVkView   *x,
                               float             b,
                               gsize             n,
                               GError          **error);

/* y = x^T: x is rows x cols, y cols x rows (both row-major). y must not overlap x. */
gboolean  ib_vk_transpose     (IbVkDevice       *device,
                               const IbVkView   *y,
                               const IbVkView   *x,
                               int               rows,
                               int               cols,
                               GError          **error);

/* ib_attention, with q, k and v each given as a view plus a first element (q_base, k_base, v_base), so
 * that they may sit side by side in one buffer. out: n_q rows of heads * dim_head. */
typedef struct
{
  int n_q;
  int q_stride;
  int n_kv;
  int kv_stride;
  int heads;
  int dim_head;
  bool causal;
  int q_offset;
  int n_unmasked;               /* causal: rows at positions below it see keys 0..n_unmasked - 1 too (minGPT) */
  guint64 q_base;
  guint64 k_base;
  guint64 v_base;
} IbVkAttentionShape;

gboolean  ib_vk_attention     (IbVkDevice               *device,
                               const IbVkView           *out,
                               const IbVkView           *q,
                               const IbVkView           *k,
                               const IbVkView           *v,
                               const IbVkAttentionShape *shape,
                               GError                  **error);

/* y[i] = table[tokens[token_base + i]] + positions[pos0 + i], n rows of dim (the transformers' input). */
gboolean  ib_vk_embed         (IbVkDevice       *device,
                               const IbVkView   *y,
                               const IbVkView   *tokens,
                               guint             token_base,
                               int               n,
                               const IbVkTensor *table,
                               const IbVkTensor *positions,
                               int               pos0,
                               GError          **error);

/* Image ops on CHW f32 (batch 1), twins of ib-ops.h's. */

/* Channels [first, first + count) of a CHW feature map, held from the start of view: a map larger than one
 * buffer range lies in several views, a range of whole channels in each. */
typedef struct
{
  const IbVkView *view;
  int first;
  int count;
} IbVkChannels;

/* ib_group_norm, optionally followed by swish in the same pass; y may be x. gamma, beta: [channels] f32. */
gboolean  ib_vk_group_norm    (IbVkDevice       *device,
                               const IbVkView   *y,
                               const IbVkView   *x,
                               int               channels,
                               int               hw,
                               int               groups,
                               const IbVkTensor *gamma,
                               const IbVkTensor *beta,
                               float             eps,
                               gboolean          then_swish,
                               GError          **error);
/* The groups x holds, of a map of channels in groups: x's channels must be whole groups, y's the same ones
 * (y->view may be x->view). */
gboolean  ib_vk_group_norm_channels (IbVkDevice         *device,
                                     const IbVkChannels *y,
                                     const IbVkChannels *x,
                                     int                 channels,
                                     int                 hw,
                                     int                 groups,
                                     const IbVkTensor   *gamma,
                                     const IbVkTensor   *beta,
                                     float               eps,
                                     gboolean            then_swish,
                                     GError            **error);

/* ib_conv2d: weight [out, c_in, k, k] (any float dtype), bias NULL or [out] f32; geometry as on the CPU.
 * accumulate adds to y (a residual). y must not overlap x. */
gboolean  ib_vk_conv2d        (IbVkDevice           *device,
                               const IbVkView       *y,
                               const IbVkView       *x,
                               int                   c_in,
                               int                   h,
                               int                   w,
                               const IbVkTensor     *weight,
                               const IbVkTensor     *bias,
                               const IbConvGeometry *geometry,
                               gboolean              accumulate,
                               int                  *out_h,
                               int                  *out_w,
                               GError              **error);

/* The output size of a convolution by weight (rows of c_in channels times a square kernel) over h x w. */
void      ib_vk_conv2d_output_size (const IbVkTensor     *weight,
                                    int                   c_in,
                                    int                   h,
                                    int                   w,
                                    const IbConvGeometry *geometry,
                                    int                  *out_h,
                                    int                  *out_w);

/* The part of a convolution that reads x's channels (of c_in) and writes y's (of the weight's rows): with
 * accumulate, added to y. The bias, when not NULL, is added too (pass it with one part of the input only).
 * Summing the parts over every input range gives ib_vk_conv2d's result, up to rounding. */
gboolean  ib_vk_conv2d_channels (IbVkDevice         *device,
                                 const IbVkChannels *y,
                                 const IbVkChannels *x,
                                 int                 c_in,
                                 int                 h,
                                 int                 w,
                                 const IbVkTensor   *weight,
                                 const IbVkTensor   *bias,
                                 const IbConvGeometry *geometry,
                                 gboolean            accumulate,
                                 GError            **error);

/* ib_upsample_nearest2x: y is c x 2h x 2w. */
gboolean  ib_vk_upsample_nearest2x (IbVkDevice     *device,
                                    const IbVkView *y,
                                    const IbVkView *x,
                                    int             c,
                                    int             h,
                                    int             w,
                                    GError        **error);

/* y's channels from x's: channels [first, first + count) of a map, where x->first <= first and y->first <= first
 * and both hold all of them. */
gboolean  ib_vk_upsample_nearest2x_channels (IbVkDevice         *device,
                                             const IbVkChannels *y,
                                             const IbVkChannels *x,
                                             int                 first,
                                             int                 count,
                                             int                 h,
                                             int                 w,
                                             GError            **error);

/* ib_nearest_code: indices (int32, n) of the nearest codebook row (f32, rows of dim) among candidates (int32,
 * n_candidates; NULL: all rows, n_candidates of them). */
gboolean  ib_vk_nearest_code  (IbVkDevice       *device,
                               const IbVkView   *indices,
                               const IbVkView   *z,
                               int               n,
                               int               dim,
                               const IbVkTensor *codebook,
                               const IbVkView   *candidates,
                               int               n_candidates,
                               GError          **error);

G_END_DECLS
