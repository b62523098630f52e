/* ib-vulkan-image.c: recording the VQGAN's image kernels other than the convolution (which shares the
 * matrix product in ib-vulkan-ops.c): GroupNorm (+ swish), nearest 2x upsampling, the nearest-code search. */
#include "ib-vulkan-ops.h"

#include "ib-vulkan-private.h"

static gboolean
check_view (const IbVkView *view,
            guint64         n,
            const char     *op,
            const char     *what,
            GError        **error)
{
  if (view == NULL || view->buffer == NULL || n > view->size / 4)
    {
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_ARGUMENT, "%s: %s needs %" G_GUINT64_FORMAT " values; its view is smaller",
                   op, what, n);
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_f32 (const IbVkTensor *t,
           int64_t           n,
           const char       *op,
           GError          **error)
{
  if (t == NULL || t->dtype != IB_DTYPE_F32 || t->n_chunks != 1 || t->rows * t->row_len != n)
    {
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_ARGUMENT, "%s: a parameter must be %" G_GINT64_FORMAT " f32 values in one chunk",
                   op, n);
      return FALSE;
    }
  return TRUE;
}

gboolean
ib_vk_group_norm_channels (IbVkDevice         *d,
                           const IbVkChannels *y,
                           const IbVkChannels *x,
                           int                 channels,
                           int                 hw,
                           int                 groups,
                           const IbVkTensor   *gamma,
                           const IbVkTensor   *beta,
                           float               eps,
                           gboolean            then_swish,
                           GError            **error)
{
  g_return_val_if_fail (y != NULL && x != NULL && channels > 0 && hw > 0 && groups > 0, FALSE);
  if (channels % groups != 0)
    {
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_ARGUMENT, "group norm: %d channels do not split into %d groups",
                   channels, groups);
      return FALSE;
    }
  int per_group = channels / groups;
  if (x->first != y->first || x->count != y->count || x->first < 0 || x->count < 1 ||
      x->first + x->count > channels || x->first % per_group != 0 || x->count % per_group != 0)
    {
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_ARGUMENT,
                   "group norm: channels %d to %d are not whole groups of %d channels", x->first,
                   x->first + x->count - 1, per_group);
      return FALSE;
    }
  guint64 n = (guint64) x->count * hw;
  if (!check_view (x->view, n, "group norm", "x", error) || !check_view (y->view, n, "group norm", "y", error) ||
      !check_f32 (gamma, channels, "group norm", error) || !check_f32 (beta, channels, "group norm", error))
    return FALSE;
  struct
  {
    uint32_t channels, hw, groups;
    float eps;
    uint32_t swish;
    uint32_t channel0;
  } push = { (uint32_t) x->count, (uint32_t) hw, (uint32_t) (x->count / per_group), eps, then_swish ? 1u : 0u,
             (uint32_t) x->first };
  uint32_t spec[] = { ib_vk_threads_for (d, 256) };
  uint32_t count[3] = { push.groups, 1, 1 };
  const IbVkView *bindings[] = { x->view, &gamma->chunks[0], &beta->chunks[0], y->view };
  return ib_vk_dispatch (d, "group_norm", spec, 1, bindings, 4, 1u << 3, &push, sizeof push, count, error);
}

gboolean
ib_vk_group_norm (IbVkDevice       *d,
                  const IbVkView   *y,
                  const IbVkView   *x,
                  int               channels,
                  int               hw,
                  int               groups,
                  const IbVkTensor *gamma,
                  const IbVkTensor *beta,
                  float             eps,
                  gboolean          then_swish,
                  GError          **error)
{
  IbVkChannels ys = { y, 0, channels }, xs = { x, 0, channels };

  return ib_vk_group_norm_channels (d, &ys, &xs, channels, hw, groups, gamma, beta, eps, then_swish, error);
}

gboolean
ib_vk_upsample_nearest2x_channels (IbVkDevice         *d,
                                   const IbVkChannels *y,
                                   const IbVkChannels *x,
                                   int                 first,
                                   int                 count,
                                   int                 h,
                                   int                 w,
                                   GError            **error)
{
  g_return_val_if_fail (y != NULL && x != NULL && count > 0 && h > 0 && w > 0, FALSE);
  if (first < x->first || first + count > x->first + x->count || first < y->first ||
      first + count > y->first + y->count)
    {
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_ARGUMENT, "upsample: channels %d to %d are not all in x and y",
                   first, first + count - 1);
      return FALSE;
    }
  guint64 plane = (guint64) h * w;
  if (!check_view (x->view, (guint64) x->count * plane, "upsample", "x", error) ||
      !check_view (y->view, (guint64) y->count * 4 * plane, "upsample", "y", error))
    return FALSE;
  uint32_t threads = ib_vk_threads_for (d, 256);
  guint64 n = 4 * plane * count;
  uint32_t push[] = { (uint32_t) count, (uint32_t) h, (uint32_t) w, (uint32_t) (first - x->first),
                      (uint32_t) (first - y->first) };
  uint32_t spec[] = { threads };
  uint32_t groups[3] = { (uint32_t) MIN ((n + threads - 1) / threads, d->limits.max_group_count[0]), 1, 1 };
  const IbVkView *bindings[] = { x->view, y->view };
  return ib_vk_dispatch (d, "upsample", spec, 1, bindings, 2, 1u << 1, push, sizeof push, groups, error);
}

gboolean
ib_vk_upsample_nearest2x (IbVkDevice     *d,
                          const IbVkView *y,
                          const IbVkView *x,
                          int             c,
                          int             h,
                          int             w,
                          GError        **error)
{
  IbVkChannels ys = { y, 0, c }, xs = { x, 0, c };

  return ib_vk_upsample_nearest2x_channels (d, &ys, &xs, 0, c, h, w, error);
}

gboolean
ib_vk_nearest_code (IbVkDevice       *d,
                    const IbVkView   *indices,
                    const IbVkView   *z,
                    int               n,
                    int               dim,
                    const IbVkTensor *codebook,
                    const IbVkView   *candidates,
                    int               n_candidates,
                    GError          **error)
{
  g_return_val_if_fail (codebook != NULL && n >= 0 && dim > 0 && n_candidates > 0, FALSE);
  if (codebook->dtype != IB_DTYPE_F32 || codebook->n_chunks != 1 || codebook->row_len != dim ||
      (candidates == NULL && n_candidates > codebook->rows))
    {
      g_set_error_literal (error, IB_VK_ERROR, IB_VK_ERROR_ARGUMENT,
                           "nearest code: the codebook must be f32 rows of dim values in one chunk");
      return FALSE;
    }
  if (!check_view (z, (guint64) n * dim, "nearest code", "z", error) ||
      !check_view (indices, (guint64) n, "nearest code", "indices", error) ||
      (candidates != NULL && !check_view (candidates, (guint64) n_candidates, "nearest code", "candidates", error)))
    return FALSE;
  if (n == 0)
    return TRUE;
  if ((uint32_t) n > d->limits.max_group_count[0])
    {
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_UNSUPPORTED, "nearest code: %d vectors are too many workgroups", n);
      return FALSE;
    }
  uint32_t push[] = { (uint32_t) n, (uint32_t) dim, (uint32_t) n_candidates, candidates != NULL,
                      (uint32_t) codebook->rows };
  uint32_t spec[] = { ib_vk_threads_for (d, 128) };
  uint32_t count[3] = { (uint32_t) n, 1, 1 };
  const IbVkView *bindings[] = { z, &codebook->chunks[0], candidates ? candidates : z, indices };
  return ib_vk_dispatch (d, "nearest_code", spec, 1, bindings, 4, 1u << 3, push, sizeof push, count, error);
}
