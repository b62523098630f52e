/* ib-vulkan-ops.c: recording the Vulkan engine's kernels: argument and range checks, tile and workgroup
 * sizes chosen from the device's limits, one dispatch per weight chunk. */
#include "ib-vulkan-ops.h"

#include <math.h>

#include "ib-vulkan-private.h"

/* The matrix-vector kernel takes up to this many rows in one pass over the weights: an edit's decoding step
 * that catches up on a few known tokens costs about what a one-token step does. */
#define LINEAR_VECTOR_MAX_ROWS 16

static gboolean
check_view (const IbVkView *view,
            guint64         n_floats,
            const char     *op,
            const char     *what,
            GError        **error)
{
  if (view == NULL || view->buffer == NULL || n_floats > view->size / 4)
    {
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_ARGUMENT,
                   "%s: %s needs %" G_GUINT64_FORMAT " floats; its view holds %" G_GUINT64_FORMAT, op, what, n_floats,
                   view && view->buffer ? view->size / 4 : 0);
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_vector (const IbVkTensor *t,
              int64_t           n,
              const char       *op,
              const char       *what,
              GError          **error)
{
  if (t == NULL || t->dtype != IB_DTYPE_F32 || t->n_chunks != 1 || t->rows * t->row_len != n)
    {
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_ARGUMENT, "%s: %s must be %" G_GINT64_FORMAT " f32 values in one chunk",
                   op, what, n);
      return FALSE;
    }
  return TRUE;
}

uint32_t
ib_vk_threads_for (IbVkDevice *d,
                   uint32_t    wanted)
{
  uint32_t limit = MIN (wanted, MIN (d->limits.max_invocations, d->limits.max_group_size[0]));
  uint32_t t = 1;

  while (t * 2 <= limit)
    t *= 2;
  return t;
}

/* n workgroups as x * y with x within the device's limit; the shaders rebuild the index as y * nx + x. */
static gboolean
groups_for (IbVkDevice *d,
            guint64     n,
            uint32_t    groups[3],
            GError    **error)
{
  guint64 x = MIN (MAX (n, 1), (guint64) d->limits.max_group_count[0]);
  guint64 y = (n + x - 1) / x;

  if (y > d->limits.max_group_count[1])
    {
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_UNSUPPORTED, "%" G_GUINT64_FORMAT " workgroups are too many for this GPU",
                   n);
      return FALSE;
    }
  groups[0] = (uint32_t) x;
  groups[1] = (uint32_t) MAX (y, 1);
  groups[2] = 1;
  return n > 0;
}

static const char *
weight_suffix (IbDType dtype)
{
  switch (dtype)
    {
    case IB_DTYPE_F16: return "f16";
    case IB_DTYPE_BF16: return "bf16";
    default: return "f32";
    }
}

/* The most bytes one dispatch may take of the scratch ring. */
static guint64
scratch_capacity (IbVkDevice *d)
{
  return MIN (d->scratch->size, d->limits.max_range);
}

/* The next bytes of the scratch ring (at most scratch_capacity), for one dispatch's partial results. */
static IbVkView
take_scratch (IbVkDevice *d,
              guint64     bytes)
{
  if (d->scratch_next + bytes > d->scratch->size)
    d->scratch_next = 0;
  IbVkView view = { .buffer = d->scratch, .offset = d->scratch_next, .size = bytes };
  d->scratch_next += (bytes + d->limits.offset_alignment - 1) / d->limits.offset_alignment * d->limits.offset_alignment;
  return view;
}

/* Tiles of the matrix product, largest first: threads = (bm / tm) * (bn / tn). Big tiles reuse each staged
 * value more; tiles of fewer rows waste less on products of few rows (choose_tile). A 128 x 128 tile with 8 x 8
 * values a thread ran 10 times slower than these on an H200 (its accumulators spilled), so there is none. */
typedef struct
{
  uint32_t threads, bm, bn, bk, tm, tn;
  gboolean fallback;            /* only where no other tile fits the device */
} Tile;

static const Tile tiles[] = {
  { 256, 64, 128, 16, 4, 8, FALSE },
  { 256, 64, 64, 16, 4, 4, FALSE },
  { 128, 32, 64, 16, 4, 4, FALSE },
  { 16, 16, 16, 8, 4, 4, TRUE },
};
#define FIRST_CONV_TILE 1

/* A linear product with fewer workgroups than this splits its K (below). */
#define MATMUL_FILL_GROUPS 256
/* Split-K: each split walks at least this many K values (the partial sums' extra pass costs about as much as
 * a few slices of K); a product splits into as many as give MATMUL_SPLIT_GROUPS workgroups. */
#define MATMUL_MIN_SPLIT_K 128
#define MATMUL_SPLIT_GROUPS 1024

int
ib_vk_matmul_tile_count (void)
{
  return G_N_ELEMENTS (tiles);
}

void
ib_vk_set_attention_kernel (IbVkDevice *d,
                            gboolean    split_keys,
                            gboolean    row_blocks)
{
  g_return_if_fail (d != NULL);
  d->attention_unsplit = !split_keys;
  d->attention_by_row = !row_blocks;
}

gboolean
ib_vk_set_matmul_kernel (IbVkDevice *d,
                         int         tile,
                         gboolean    split_k)
{
  g_return_val_if_fail (d != NULL, FALSE);
  if (tile < -1 || tile >= (int) G_N_ELEMENTS (tiles))
    return FALSE;
  d->matmul_tile = tile;
  d->matmul_unsplit = !split_k;
  return TRUE;
}

static gboolean
tile_fits (IbVkDevice *d,
           const Tile *tile)
{
  return tile->threads <= d->limits.max_invocations && tile->threads <= d->limits.max_group_size[0] &&
         (tile->bm + 1 + tile->bn + 1) * tile->bk * 4 <= d->limits.max_shared_bytes;
}

static guint64
tile_groups (const Tile *tile,
             guint64     m,
             guint64     n)
{
  return ((m + tile->bm - 1) / tile->bm) * ((n + tile->bn - 1) / tile->bn);
}

/* The tile for a product of m rows: the device's forced one (IMAGEBART_VK_MATMUL_TILE, for benchmarks and
 * tests), else the largest that fits the device's limits and that the rows fill (a decoder's prefill of a few
 * rows takes a tile of fewer rows: a larger one would mostly compute padding). A linear product then splits its
 * K to fill the GPU. Convolutions start from FIRST_CONV_TILE, the tile they had before the split (they are not
 * split, and were not measured with the others). On an H200 (docs/performance.md), the widest 257-row products
 * of the FFHQ size's encoder ran 1.2 times faster with the 64 x 128 tile than with the 32 x 64 one (the others
 * alike), and 12- to 16-row products 1.3 to 1.6 times slower. */
static const Tile *
choose_tile (IbVkDevice *d,
             guint64     m,
             gboolean    conv,
             GError    **error)
{
  if (d->matmul_tile >= 0)
    {
      if (d->matmul_tile < (int) G_N_ELEMENTS (tiles) && tile_fits (d, &tiles[d->matmul_tile]))
        return &tiles[d->matmul_tile];
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_UNSUPPORTED, "Matrix-product tile %d does not exist on this GPU",
                   d->matmul_tile);
      return NULL;
    }
  const Tile *chosen = NULL;
  for (gsize i = conv ? FIRST_CONV_TILE : 0; i < G_N_ELEMENTS (tiles); i++)
    {
      if (!tile_fits (d, &tiles[i]) || (tiles[i].fallback && chosen != NULL))
        continue;
      chosen = &tiles[i];
      if (m >= chosen->bm)
        break;
    }
  if (chosen == NULL)
    g_set_error_literal (error, IB_VK_ERROR, IB_VK_ERROR_UNSUPPORTED,
                         "The GPU's workgroups are too small for the matrix product");
  return chosen;
}

typedef struct
{
  uint32_t m, n, k, ldy, n0, flags;
  uint32_t ldw, w_row0, w_k0, y_row0;
  uint32_t c_in, h, w, ksize, stride, pad_top, pad_left, out_w;
  uint32_t k_per_split;
} MatmulPush;

/* How many workgroups share the K of an m x n x k linear product with this tile: enough to fill the GPU, each
 * with at least MATMUL_MIN_SPLIT_K values, and partial sums that fit the scratch ring. Sets *k_per_split, a
 * multiple of the tile's K slice. */
static uint32_t
matmul_splits (IbVkDevice *d,
               const Tile *tile,
               guint64     m,
               guint64     n,
               guint64     k,
               uint32_t   *k_per_split)
{
  guint64 groups = tile_groups (tile, m, n);
  guint64 splits = 1;

  if (!d->matmul_unsplit && groups < MATMUL_FILL_GROUPS)
    {
      splits = MIN ((MATMUL_SPLIT_GROUPS + groups - 1) / groups, k / MATMUL_MIN_SPLIT_K);
      splits = MIN (splits, d->limits.max_group_count[2]);
      splits = MIN (splits, scratch_capacity (d) / (m * n * 4));
      splits = MAX (splits, 1);
    }
  guint64 per_split = ((k + splits - 1) / splits + tile->bk - 1) / tile->bk * tile->bk;
  *k_per_split = (uint32_t) per_split;
  /* Rounding the share up to whole slices may leave the last splits nothing. */
  return (uint32_t) ((k + per_split - 1) / per_split);
}

/* A split product's second pass: y's rows m (n0 .. n0 + n - 1) from the partial sums, with the bias and what y held
 * (push's flags). */
static gboolean
reduce_splits (IbVkDevice       *d,
               const IbVkView   *partials,
               const IbVkTensor *bias,
               const IbVkView   *y,
               const MatmulPush *push,
               uint32_t          splits,
               GError          **error)
{
  struct
  {
    uint32_t m, n, ldy, n0, flags, splits;
  } reduce = { push->m, push->n, push->ldy, push->n0, push->flags, splits };
  uint32_t threads = ib_vk_threads_for (d, 256);
  uint32_t spec[] = { threads };
  uint32_t groups[3];
  const IbVkView *bindings[] = { partials, bias ? &bias->chunks[0] : partials, y };

  if (!groups_for (d, ((guint64) push->m * push->n + threads - 1) / threads, groups, error))
    return FALSE;
  return ib_vk_dispatch (d, "matmul_reduce", spec, 1, bindings, 3, 1u << 2, &reduce, sizeof reduce, groups, error);
}

gboolean
ib_vk_linear (IbVkDevice       *d,
              const IbVkView   *y,
              const IbVkView   *x,
              int               n,
              const IbVkTensor *weight,
              const IbVkTensor *bias,
              gboolean          accumulate,
              IbVkLinearKernel  kernel,
              GError          **error)
{
  g_return_val_if_fail (d != NULL && weight != NULL && n >= 0, FALSE);
  int64_t in = weight->row_len, out = weight->rows;

  if (!check_view (x, (guint64) n * in, "linear", "x", error) ||
      !check_view (y, (guint64) n * out, "linear", "y", error) ||
      (bias != NULL && !check_vector (bias, out, "linear", "the bias", error)))
    return FALSE;
  if (n == 0)
    return TRUE;
  if (kernel == IB_VK_LINEAR_AUTO)
    kernel = n <= LINEAR_VECTOR_MAX_ROWS ? IB_VK_LINEAR_VECTOR : IB_VK_LINEAR_TILED;

  const Tile *tile = NULL;
  uint32_t vector_threads = ib_vk_threads_for (d, 128);
  if (kernel == IB_VK_LINEAR_TILED && !(tile = choose_tile (d, (guint64) n, FALSE, error)))
    return FALSE;
  if (kernel == IB_VK_LINEAR_VECTOR && (vector_threads < LINEAR_VECTOR_MAX_ROWS ||
                                        LINEAR_VECTOR_MAX_ROWS * vector_threads * 4 > d->limits.max_shared_bytes))
    {
      g_set_error_literal (error, IB_VK_ERROR, IB_VK_ERROR_UNSUPPORTED, "The GPU's workgroups are too small for the matrix-vector kernel");
      return FALSE;
    }
  g_autofree char *name = g_strdup_printf ("%s_%s", kernel == IB_VK_LINEAR_TILED ? "matmul" : "matvec",
                                           weight_suffix (weight->dtype));

  for (int c = 0; c < weight->n_chunks; c++)
    {
      int64_t n0 = c * weight->rows_per_chunk, rows = MIN (weight->rows_per_chunk, out - n0);
      const IbVkView *bindings[] = { x, &weight->chunks[c], bias ? &bias->chunks[0] : x, y };
      MatmulPush push = {
        .k = (uint32_t) in,
        .ldy = (uint32_t) out,
        .n0 = (uint32_t) n0,
        .n = (uint32_t) rows,
        .flags = (accumulate ? 1u : 0u) | (bias ? 2u : 0u),
        .ldw = (uint32_t) in,
      };
      uint32_t groups[3];

      if (kernel == IB_VK_LINEAR_TILED)
        {
          uint32_t splits = matmul_splits (d, tile, (guint64) n, (guint64) rows, (guint64) in, &push.k_per_split);
          uint32_t spec[] = { tile->threads, tile->bm, tile->bn, tile->bk, tile->tm, tile->tn, splits > 1 };
          push.m = (uint32_t) n;
          groups[0] = (uint32_t) ((rows + tile->bn - 1) / tile->bn);
          groups[1] = (uint32_t) ((n + tile->bm - 1) / tile->bm);
          groups[2] = splits;
          /* A split product writes its partial sums to scratch; the reduce writes y. */
          IbVkView partials;
          if (splits > 1)
            {
              partials = take_scratch (d, (guint64) splits * n * rows * 4);
              bindings[3] = &partials;
            }
          ib_vk_profile_work (d, 2.0 * n * rows * in, (double) rows * in * ib_dtype_size (weight->dtype));
          if (!ib_vk_dispatch (d, name, spec, G_N_ELEMENTS (spec), bindings, 4, 1u << 3, &push, sizeof push, groups,
                               error) ||
              (splits > 1 && !reduce_splits (d, &partials, bias, y, &push, splits, error)))
            return FALSE;
        }
      else
        {
          /* Rows a pass: the power of two that holds n (a one-token step reduces one row, not sixteen). */
          uint32_t per_pass = 1;
          while (per_pass < (uint32_t) MIN (n, LINEAR_VECTOR_MAX_ROWS))
            per_pass *= 2;
          uint32_t spec[] = { vector_threads, per_pass };
          if (!groups_for (d, (guint64) rows, groups, error))
            return FALSE;
          for (int m0 = 0; m0 < n; m0 += (int) per_pass)
            {
              struct
              {
                uint32_t m, n, k, ldy, n0, flags, m0;
              } vpush = { (uint32_t) MIN ((int) per_pass, n - m0), push.n, push.k, push.ldy, push.n0,
                          push.flags, (uint32_t) m0 };
              ib_vk_profile_work (d, 2.0 * vpush.m * rows * in, (double) rows * in * ib_dtype_size (weight->dtype));
              if (!ib_vk_dispatch (d, name, spec, G_N_ELEMENTS (spec), bindings, 4, 1u << 3, &vpush, sizeof vpush,
                                   groups, error))
                return FALSE;
            }
        }
    }
  return TRUE;
}

/* The square kernel's side that a weight row of c_in channels holds. */
static int
conv_kernel_side (const IbVkTensor *weight,
                  int               c_in)
{
  return (int) lround (sqrt ((double) (weight->row_len / c_in)));
}

void
ib_vk_conv2d_output_size (const IbVkTensor     *weight,
                          int                   c_in,
                          int                   h,
                          int                   w,
                          const IbConvGeometry *g,
                          int                  *out_h,
                          int                  *out_w)
{
  int ksize = conv_kernel_side (weight, c_in);

  *out_h = (h + g->pad_top + g->pad_bottom - ksize) / g->stride + 1;
  *out_w = (w + g->pad_left + g->pad_right - ksize) / g->stride + 1;
}

gboolean
ib_vk_conv2d_channels (IbVkDevice           *d,
                       const IbVkChannels   *y,
                       const IbVkChannels   *x,
                       int                   c_in,
                       int                   h,
                       int                   w,
                       const IbVkTensor     *weight,
                       const IbVkTensor     *bias,
                       const IbConvGeometry *g,
                       gboolean              accumulate,
                       GError              **error)
{
  g_return_val_if_fail (d != NULL && y != NULL && x != NULL && weight != NULL && g != NULL, FALSE);
  g_return_val_if_fail (c_in > 0 && h > 0 && w > 0, FALSE);
  int64_t out = weight->rows, k_len = weight->row_len;
  int ksize = conv_kernel_side (weight, c_in);
  if ((int64_t) ksize * ksize * c_in != k_len || g->stride < 1 || g->pad_top < 0 || g->pad_left < 0 ||
      g->pad_bottom < 0 || g->pad_right < 0 || h + g->pad_top + g->pad_bottom < ksize ||
      w + g->pad_left + g->pad_right < ksize)
    {
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_ARGUMENT,
                   "conv2d: a weight row of %" G_GINT64_FORMAT " values does not fit %d input channels, or the geometry "
                   "does not fit a %dx%d input", k_len, c_in, h, w);
      return FALSE;
    }
  if (x->first < 0 || x->count < 1 || x->first + x->count > c_in || y->first < 0 || y->count < 1 ||
      y->first + y->count > out)
    {
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_ARGUMENT,
                   "conv2d: channels %d to %d in and %d to %d out are not within the weight's %d and %" G_GINT64_FORMAT,
                   x->first, x->first + x->count - 1, y->first, y->first + y->count - 1, c_in, out);
      return FALSE;
    }
  int oh, ow;
  ib_vk_conv2d_output_size (weight, c_in, h, w, g, &oh, &ow);
  guint64 pixels = (guint64) oh * ow;
  const Tile *tile = choose_tile (d, pixels, TRUE, error);
  if (tile == NULL)
    return FALSE;
  if (!check_view (x->view, (guint64) x->count * h * w, "conv2d", "x", error) ||
      !check_view (y->view, (guint64) y->count * pixels, "conv2d", "y", error) ||
      (bias != NULL && !check_vector (bias, out, "conv2d", "the bias", error)))
    return FALSE;
  if ((pixels + tile->bm - 1) / tile->bm > d->limits.max_group_count[1])
    {
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_UNSUPPORTED, "conv2d: %" G_GUINT64_FORMAT " output pixels are too many",
                   pixels);
      return FALSE;
    }
  g_autofree char *name = g_strdup_printf ("conv_%s", weight_suffix (weight->dtype));
  uint32_t spec[] = { tile->threads, tile->bm, tile->bn, tile->bk, tile->tm, tile->tn };
  int64_t kk = (int64_t) ksize * ksize, y_end = y->first + y->count;
  /* One dispatch per weight chunk that holds some of y's channels, for those rows only. */
  for (int c = 0; c < weight->n_chunks; c++)
    {
      int64_t chunk0 = c * weight->rows_per_chunk, chunk_end = MIN (chunk0 + weight->rows_per_chunk, out);
      int64_t n0 = MAX (chunk0, y->first), rows = MIN (chunk_end, y_end) - n0;
      if (rows <= 0)
        continue;
      const IbVkView *bindings[] = { x->view, &weight->chunks[c], bias ? &bias->chunks[0] : x->view, y->view };
      MatmulPush push = {
        .m = (uint32_t) pixels, .n = (uint32_t) rows, .k = (uint32_t) (x->count * kk), .ldy = (uint32_t) pixels,
        .n0 = (uint32_t) n0, .flags = (accumulate ? 1u : 0u) | (bias ? 2u : 0u),
        .ldw = (uint32_t) k_len, .w_row0 = (uint32_t) (n0 - chunk0), .w_k0 = (uint32_t) (x->first * kk),
        .y_row0 = (uint32_t) y->first,
        .c_in = (uint32_t) x->count, .h = (uint32_t) h, .w = (uint32_t) w, .ksize = (uint32_t) ksize,
        .stride = (uint32_t) g->stride, .pad_top = (uint32_t) g->pad_top, .pad_left = (uint32_t) g->pad_left,
        .out_w = (uint32_t) ow, .k_per_split = (uint32_t) (x->count * kk),
      };
      uint32_t groups[3] = { (uint32_t) ((rows + tile->bn - 1) / tile->bn),
                             (uint32_t) ((pixels + tile->bm - 1) / tile->bm), 1 };
      ib_vk_profile_work (d, 2.0 * pixels * rows * push.k, (double) rows * push.k * ib_dtype_size (weight->dtype));
      if (!ib_vk_dispatch (d, name, spec, G_N_ELEMENTS (spec), bindings, 4, 1u << 3, &push, sizeof push, groups, error))
        return FALSE;
    }
  return TRUE;
}

gboolean
ib_vk_conv2d (IbVkDevice           *d,
              const IbVkView       *y,
              const IbVkView       *x,
              int                   c_in,
              int                   h,
              int                   w,
              const IbVkTensor     *weight,
              const IbVkTensor     *bias,
              const IbConvGeometry *g,
              gboolean              accumulate,
              int                  *out_h,
              int                  *out_w,
              GError              **error)
{
  g_return_val_if_fail (weight != NULL && g != NULL, FALSE);
  IbVkChannels ys = { y, 0, (int) weight->rows }, xs = { x, 0, c_in };

  if (!ib_vk_conv2d_channels (d, &ys, &xs, c_in, h, w, weight, bias, g, accumulate, error))
    return FALSE;
  int oh, ow;
  ib_vk_conv2d_output_size (weight, c_in, h, w, g, &oh, &ow);
  if (out_h != NULL)
    *out_h = oh;
  if (out_w != NULL)
    *out_w = ow;
  return TRUE;
}

gboolean
ib_vk_layer_norm (IbVkDevice       *d,
                  const IbVkView   *y,
                  const IbVkView   *x,
                  int               n_rows,
                  int               dim,
                  const IbVkTensor *gamma,
                  const IbVkTensor *beta,
                  float             eps,
                  GError          **error)
{
  struct
  {
    uint32_t n_rows, dim;
    float eps;
  } push = { (uint32_t) n_rows, (uint32_t) dim, eps };
  uint32_t spec[] = { ib_vk_threads_for (d, 128) };
  uint32_t groups[3];

  g_return_val_if_fail (n_rows >= 0 && dim > 0, FALSE);
  if (!check_view (x, (guint64) n_rows * dim, "layer norm", "x", error) ||
      !check_view (y, (guint64) n_rows * dim, "layer norm", "y", error) ||
      !check_vector (gamma, dim, "layer norm", "gamma", error) || !check_vector (beta, dim, "layer norm", "beta", error))
    return FALSE;
  if (!groups_for (d, (guint64) n_rows, groups, error))
    return error == NULL || *error == NULL;
  const IbVkView *bindings[] = { x, &gamma->chunks[0], &beta->chunks[0], y };
  return ib_vk_dispatch (d, "layer_norm", spec, 1, bindings, 4, 1u << 3, &push, sizeof push, groups, error);
}

static gboolean
unary (IbVkDevice     *d,
       const IbVkView *x,
       gsize           n,
       uint32_t        op,
       const char     *what,
       GError        **error)
{
  uint32_t threads = ib_vk_threads_for (d, 256);
  uint32_t spec[] = { threads, op };
  uint32_t push = (uint32_t) n;
  uint32_t groups[3] = { (uint32_t) MIN ((n + threads - 1) / threads, d->limits.max_group_count[0]), 1, 1 };

  if (!check_view (x, n, what, "x", error))
    return FALSE;
  const IbVkView *bindings[] = { x };
  return n == 0 || ib_vk_dispatch (d, "unary", spec, 2, bindings, 1, 1u, &push, sizeof push, groups, error);
}

gboolean
ib_vk_gelu (IbVkDevice     *d,
            const IbVkView *x,
            gsize           n,
            GError        **error)
{
  return unary (d, x, n, 0, "gelu", error);
}

gboolean
ib_vk_swish (IbVkDevice     *d,
             const IbVkView *x,
             gsize           n,
             GError        **error)
{
  return unary (d, x, n, 1, "swish", error);
}

gboolean
ib_vk_axpby (IbVkDevice     *d,
             const IbVkView *y,
             float           a,
             const IbVkView *x,
             float           b,
             gsize           n,
             GError        **error)
{
  uint32_t threads = ib_vk_threads_for (d, 256);
  uint32_t spec[] = { threads };
  struct { uint32_t n; float a, b; } push = { (uint32_t) n, a, b };
  uint32_t groups[3] = { (uint32_t) MIN ((n + threads - 1) / threads, d->limits.max_group_count[0]), 1, 1 };

  if (!check_view (x, n, "add", "x", error) || !check_view (y, n, "add", "y", error))
    return FALSE;
  const IbVkView *bindings[] = { x, y };
  return n == 0 || ib_vk_dispatch (d, "add", spec, 1, bindings, 2, 1u << 1, &push, sizeof push, groups, error);
}

gboolean
ib_vk_add (IbVkDevice     *d,
           const IbVkView *y,
           const IbVkView *x,
           gsize           n,
           GError        **error)
{
  return ib_vk_axpby (d, y, 1.0f, x, 1.0f, n, error);
}

gboolean
ib_vk_transpose (IbVkDevice     *d,
                 const IbVkView *y,
                 const IbVkView *x,
                 int             rows,
                 int             cols,
                 GError        **error)
{
  g_return_val_if_fail (rows >= 0 && cols >= 0, FALSE);
  guint64 n = (guint64) rows * cols;
  uint32_t threads = ib_vk_threads_for (d, 256);
  uint32_t spec[] = { threads };
  uint32_t push[] = { (uint32_t) rows, (uint32_t) cols };
  uint32_t groups[3] = { (uint32_t) MIN ((n + threads - 1) / threads, d->limits.max_group_count[0]), 1, 1 };

  if (!check_view (x, n, "transpose", "x", error) || !check_view (y, n, "transpose", "y", error))
    return FALSE;
  if (n > G_MAXUINT32)
    {
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_UNSUPPORTED, "transpose: %" G_GUINT64_FORMAT " elements are too many", n);
      return FALSE;
    }
  const IbVkView *bindings[] = { x, y };
  return n == 0 || ib_vk_dispatch (d, "transpose", spec, 1, bindings, 2, 1u << 1, push, sizeof push, groups, error);
}

/* Split-K attention: how many workgroups share each (row, head)'s keys. A decoding step has one query row, so
 * one workgroup per head would leave most of a GPU idle while each walks every key; splitting the keys fills it.
 * Rows enough to fill the device on their own, or few keys, stay whole. The partial states must fit the scratch
 * and one buffer range. */
#define ATTENTION_FILL_GROUPS 512       /* workgroups that keep a large GPU busy */
#define ATTENTION_MIN_SPLIT_KEYS 16     /* fewer keys per split and the merge costs more than it saves */
#define ATTENTION_MAX_SPLITS 64

static uint32_t
attention_splits (IbVkDevice               *d,
                  const IbVkAttentionShape *s)
{
  guint64 row_heads = (guint64) s->n_q * s->heads;
  if (d->attention_unsplit || row_heads >= ATTENTION_FILL_GROUPS / 2)
    return 1;
  guint64 splits = MIN (((guint64) s->n_kv + ATTENTION_MIN_SPLIT_KEYS - 1) / ATTENTION_MIN_SPLIT_KEYS,
                        (ATTENTION_FILL_GROUPS + row_heads - 1) / row_heads);
  splits = MIN (splits, ATTENTION_MAX_SPLITS);
  splits = MIN (splits, scratch_capacity (d) / (row_heads * (s->dim_head + 2) * 4));
  return (uint32_t) MAX (splits, 1);
}

/* attention-rows.comp: QB query rows a workgroup of QB x 8 threads, KB keys a block in shared memory. */
#define ATTENTION_ROWS_QB 16
#define ATTENTION_ROWS_KB 32
#define ATTENTION_ROWS_MIN_ROWS 16      /* a block's worth; fewer rows go one a workgroup, with split keys */
#define ATTENTION_ROWS_MAX_DH 128

/* Whether attention-rows.comp takes this attention (many rows, heads it holds in shared memory, not switched off),
 * and its specialization. */
static gboolean
rows_kernel_fits (IbVkDevice               *d,
                  const IbVkAttentionShape *s,
                  uint32_t                  spec[4])
{
  uint32_t threads = ATTENTION_ROWS_QB * 8, max_dh = s->dim_head <= 64 ? 64 : ATTENTION_ROWS_MAX_DH;
  guint64 shared = ((guint64) ATTENTION_ROWS_QB * (max_dh + 1) + ATTENTION_ROWS_KB * (max_dh + 1) +
                    ATTENTION_ROWS_KB * max_dh + ATTENTION_ROWS_QB * (ATTENTION_ROWS_KB + 1)) * 4;

  if (d->attention_by_row || s->n_q < ATTENTION_ROWS_MIN_ROWS || s->dim_head > ATTENTION_ROWS_MAX_DH ||
      threads > d->limits.max_invocations || threads > d->limits.max_group_size[0] ||
      shared > d->limits.max_shared_bytes)
    return FALSE;
  spec[0] = threads;
  spec[1] = ATTENTION_ROWS_QB;
  spec[2] = ATTENTION_ROWS_KB;
  spec[3] = max_dh;
  return TRUE;
}

gboolean
ib_vk_attention (IbVkDevice               *d,
                 const IbVkView           *out,
                 const IbVkView           *q,
                 const IbVkView           *k,
                 const IbVkView           *v,
                 const IbVkAttentionShape *s,
                 GError                  **error)
{
  g_return_val_if_fail (s != NULL && s->n_q >= 0 && s->n_kv >= 0 && s->heads > 0 && s->dim_head > 0, FALSE);
  g_return_val_if_fail (s->q_stride >= s->heads * s->dim_head && s->kv_stride >= s->heads * s->dim_head, FALSE);
  int width = s->heads * s->dim_head;
  uint32_t threads = ib_vk_threads_for (d, 64);
  /* Shared memory: the query row and the weighted sum (dim_head rounded up each), a block of scores, and the
   * reduction scratch. More keys than a block holds go block by block (the online softmax). */
  uint32_t max_dh = (uint32_t) ((s->dim_head + 63) / 64 * 64);
  guint64 fixed = (2 * (guint64) max_dh + threads) * 4;
  guint64 capacity = d->limits.max_shared_bytes > fixed ? (d->limits.max_shared_bytes - fixed) / 4 : 0;
  uint32_t max_kv = (uint32_t) MIN (capacity, 4096) & ~63u;

  if (s->n_q == 0)
    return TRUE;
  if (max_kv < 64)
    {
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_UNSUPPORTED,
                   "attention with heads of %d values needs more shared memory than this GPU has", s->dim_head);
      return FALSE;
    }
  if (!check_view (out, (guint64) s->n_q * width, "attention", "out", error) ||
      !check_view (q, s->q_base + (guint64) (s->n_q - 1) * s->q_stride + width, "attention", "q", error) ||
      (s->n_kv > 0 &&
       (!check_view (k, s->k_base + (guint64) (s->n_kv - 1) * s->kv_stride + width, "attention", "k", error) ||
        !check_view (v, s->v_base + (guint64) (s->n_kv - 1) * s->kv_stride + width, "attention", "v", error))))
    return FALSE;
  if ((uint32_t) s->n_q > d->limits.max_group_count[0] || (uint32_t) s->heads > d->limits.max_group_count[1])
    {
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_UNSUPPORTED, "attention: %d rows of %d heads are too many workgroups",
                   s->n_q, s->heads);
      return FALSE;
    }
  uint32_t rows_spec[4];
  gboolean by_rows = rows_kernel_fits (d, s, rows_spec);
  uint32_t splits = by_rows ? 1 : attention_splits (d, s);
  uint32_t keys_per_split = splits > 1 ? (uint32_t) ((s->n_kv + splits - 1) / splits) : (uint32_t) MAX (s->n_kv, 1);
  struct
  {
    uint32_t n_q, n_kv, q_stride, kv_stride, out_stride, dim_head;
    uint32_t q_base, k_base, v_base;
    uint32_t causal, q_offset, n_unmasked;
    uint32_t keys_per_split;
    float scale;
  } push = {
    (uint32_t) s->n_q, (uint32_t) s->n_kv, (uint32_t) s->q_stride, (uint32_t) s->kv_stride, (uint32_t) width,
    (uint32_t) s->dim_head, (uint32_t) s->q_base, (uint32_t) s->k_base, (uint32_t) s->v_base, s->causal ? 1u : 0u,
    (uint32_t) s->q_offset, (uint32_t) MAX (s->n_unmasked, 0), keys_per_split, 1.0f / sqrtf ((float) s->dim_head),
  };
  uint32_t spec[] = { threads, max_kv, max_dh, splits > 1 };
  uint32_t groups[3] = { (uint32_t) s->n_q, (uint32_t) s->heads, splits };
  const IbVkView *bindings[] = { q, k, v, out };
  IbVkView partials;
  if (splits > 1)
    {
      partials = take_scratch (d, (guint64) s->n_q * s->heads * splits * (s->dim_head + 2) * 4);
      bindings[3] = &partials;
    }
  /* Scores and the weighted sum: the keys each row sees, as the shader counts them. */
  double pairs = 0.0;
  for (int r = 0; r < s->n_q; r++)
    pairs += s->causal ? MIN (MAX (s->q_offset + r + 1, s->n_unmasked), s->n_kv) : s->n_kv;
  ib_vk_profile_work (d, 4.0 * pairs * width, 0.0);
  if (by_rows)
    {
      uint32_t row_groups[3] = { (s->n_q + ATTENTION_ROWS_QB - 1) / ATTENTION_ROWS_QB, (uint32_t) s->heads, 1 };
      return ib_vk_dispatch (d, "attention_rows", rows_spec, 4, bindings, 4, 1u << 3, &push, sizeof push, row_groups,
                             error);
    }
  if (!ib_vk_dispatch (d, "attention", spec, 4, bindings, 4, 1u << 3, &push, sizeof push, groups, error))
    return FALSE;
  if (splits == 1)
    return TRUE;

  struct
  {
    uint32_t splits, dim_head, out_stride;
  } merge = { splits, (uint32_t) s->dim_head, (uint32_t) width };
  uint32_t merge_spec[] = { threads };
  uint32_t merge_groups[3] = { (uint32_t) s->n_q, (uint32_t) s->heads, 1 };
  const IbVkView *merge_bindings[] = { &partials, out };
  return ib_vk_dispatch (d, "attention_combine", merge_spec, 1, merge_bindings, 2, 1u << 1, &merge, sizeof merge,
                         merge_groups, error);
}

gboolean
ib_vk_embed (IbVkDevice       *d,
             const IbVkView   *y,
             const IbVkView   *tokens,
             guint             token_base,
             int               n,
             const IbVkTensor *table,
             const IbVkTensor *positions,
             int               pos0,
             GError          **error)
{
  g_return_val_if_fail (table != NULL && positions != NULL && n >= 0 && pos0 >= 0, FALSE);
  int64_t dim = table->row_len;

  if (table->dtype != IB_DTYPE_F32 || table->n_chunks != 1 || positions->dtype != IB_DTYPE_F32 ||
      positions->n_chunks != 1 || positions->row_len != dim)
    {
      g_set_error_literal (error, IB_VK_ERROR, IB_VK_ERROR_ARGUMENT,
                           "embed: the tables must be f32, in one chunk, with rows of the same length");
      return FALSE;
    }
  if (pos0 + n > positions->rows)
    {
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_ARGUMENT, "embed: positions %d..%d are past the table's %" G_GINT64_FORMAT,
                   pos0, pos0 + n - 1, positions->rows);
      return FALSE;
    }
  if (!check_view (y, (guint64) n * dim, "embed", "y", error) ||
      !check_view (tokens, (guint64) token_base + n, "embed", "tokens", error))
    return FALSE;
  if (n == 0)
    return TRUE;
  uint32_t threads = ib_vk_threads_for (d, 128);
  struct
  {
    uint32_t n, dim, pos0, n_table, token_base;
  } push = { (uint32_t) n, (uint32_t) dim, (uint32_t) pos0, (uint32_t) table->rows, token_base };
  uint32_t spec[] = { threads };
  uint32_t groups[3] = { (uint32_t) MIN ((dim + threads - 1) / threads, 64), (uint32_t) n, 1 };
  if (groups[1] > d->limits.max_group_count[1])
    {
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_UNSUPPORTED, "embed: %d rows are too many workgroups", n);
      return FALSE;
    }
  const IbVkView *bindings[] = { tokens, &table->chunks[0], &positions->chunks[0], y };
  return ib_vk_dispatch (d, "embed", spec, 1, bindings, 4, 1u << 3, &push, sizeof push, groups, error);
}
