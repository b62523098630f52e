/* ib-edit-composite.c: feathering, colour matching and compositing of an edit (see ib-edit-composite.h). */
#include "ib-edit-composite.h"

#include <math.h>
#include <string.h>

#define FAR 1e20

/* One-dimensional squared Euclidean distance transform of f (Felzenszwalb and Huttenlocher, "Distance
 * transforms of sampled functions", 2012): d[q] = min_p (q - p)^2 + f[p]. v, z: n and n + 1 entries. */
static void
distance_1d (const double *f,
             int           n,
             double       *d,
             int          *v,
             double       *z)
{
  int k = 0;
  v[0] = 0;
  z[0] = -INFINITY;
  z[1] = INFINITY;
  for (int q = 1; q < n; q++)
    {
      double s;
      for (;;)
        {
          int p = v[k];
          s = ((f[q] + (double) q * q) - (f[p] + (double) p * p)) / (2.0 * (q - p));
          if (s > z[k])
            break;
          k--;
        }
      k++;
      v[k] = q;
      z[k] = s;
      z[k + 1] = INFINITY;
    }
  k = 0;
  for (int q = 0; q < n; q++)
    {
      while (z[k + 1] < q)
        k++;
      double delta = q - v[k];
      d[q] = delta * delta + f[v[k]];
    }
}

float *
ib_edit_feather (const guint8 *mask,
                 int           width,
                 int           height,
                 int           stride,
                 const IbBox  *box,
                 double        radius)
{
  g_return_val_if_fail (mask != NULL && box != NULL && box->width > 0 && box->height > 0, NULL);

  float *alpha = g_new (float, (gsize) box->width * box->height);
  if (radius <= 0.0)
    {
      for (int y = 0; y < box->height; y++)
        for (int x = 0; x < box->width; x++)
          alpha[(gsize) y * box->width + x] = mask[(gsize) (box->y + y) * stride + box->x + x] / 255.0f;
      return alpha;
    }

  /* The box grown by one pixel (inside the image): every pixel around the box is unmasked, so the nearest
   * unmasked pixel of any pixel in the box lies in this grid. */
  int gx0 = MAX (box->x - 1, 0), gy0 = MAX (box->y - 1, 0);
  int gx1 = MIN (box->x + box->width + 1, width), gy1 = MIN (box->y + box->height + 1, height);
  int gw = gx1 - gx0, gh = gy1 - gy0, longest = MAX (gw, gh);
  g_autofree double *grid = g_new (double, (gsize) gw * gh);
  g_autofree double *f = g_new (double, longest), *d = g_new (double, longest), *z = g_new (double, longest + 1);
  g_autofree int *v = g_new (int, longest);

  for (int y = 0; y < gh; y++)
    for (int x = 0; x < gw; x++)
      grid[(gsize) y * gw + x] = mask[(gsize) (gy0 + y) * stride + gx0 + x] != 0 ? FAR : 0.0;
  for (int x = 0; x < gw; x++)
    {
      for (int y = 0; y < gh; y++)
        f[y] = grid[(gsize) y * gw + x];
      distance_1d (f, gh, d, v, z);
      for (int y = 0; y < gh; y++)
        grid[(gsize) y * gw + x] = d[y];
    }
  for (int y = 0; y < gh; y++)
    {
      memcpy (f, grid + (gsize) y * gw, gw * sizeof (double));
      distance_1d (f, gw, grid + (gsize) y * gw, v, z);
    }

  for (int y = 0; y < box->height; y++)
    for (int x = 0; x < box->width; x++)
      {
        guint8 m = mask[(gsize) (box->y + y) * stride + box->x + x];
        float a = 0.0f;
        if (m != 0)
          {
            double distance = sqrt (grid[(gsize) (box->y + y - gy0) * gw + box->x + x - gx0]);
            double t = CLAMP ((distance - 0.5) / radius, 0.0, 1.0);
            a = (float) (m / 255.0 * t * t * (3.0 - 2.0 * t));
          }
        alpha[(gsize) y * box->width + x] = a;
      }
  return alpha;
}

/* Separable Gaussian blur of n_channels planes (native x native each), in place; the image's outside counts as
 * zero, which is what a normalized convolution needs. */
static void
blur_planes (float  *planes,
             int     n_channels,
             int     native,
             double  sigma)
{
  int radius = (int) ceil (3.0 * sigma);
  g_autofree float *kernel = g_new (float, 2 * radius + 1);
  g_autofree float *line = g_new (float, native);
  for (int k = -radius; k <= radius; k++)
    kernel[k + radius] = (float) exp (-0.5 * k * k / (sigma * sigma));

  for (int c = 0; c < n_channels; c++)
    {
      float *plane = planes + (gsize) c * native * native;
      for (int pass = 0; pass < 2; pass++)
        for (int j = 0; j < native; j++)
          {
            /* pass 0: row j; pass 1: column j. */
            gsize step = pass == 0 ? 1 : (gsize) native, base = pass == 0 ? (gsize) j * native : (gsize) j;
            for (int i = 0; i < native; i++)
              {
                float sum = 0.0f;
                for (int k = MAX (-radius, -i); k <= MIN (radius, native - 1 - i); k++)
                  sum += kernel[k + radius] * plane[base + (i + k) * step];
                line[i] = sum;
              }
            for (int i = 0; i < native; i++)
              plane[base + i * step] = line[i];
          }
    }
}

gboolean
ib_edit_match_colours (const float    *original,
                       float          *decoded,
                       int             native,
                       const gboolean *unknown,
                       int             token_width,
                       int             token_height,
                       int             ring_tokens)
{
  int patch_w = native / token_width, patch_h = native / token_height;
  gsize n_pixels = (gsize) native * native;
  g_autofree guint8 *ring = g_new0 (guint8, n_pixels);
  double sum_o[3] = { 0 }, sum_d[3] = { 0 }, sq_o[3] = { 0 }, sq_d[3] = { 0 };
  gsize n = 0;

  for (int ty = 0; ty < token_height; ty++)
    for (int tx = 0; tx < token_width; tx++)
      {
        if (unknown[ty * token_width + tx])
          continue;
        gboolean near = FALSE;
        for (int dy = -ring_tokens; dy <= ring_tokens && !near; dy++)
          for (int dx = -ring_tokens; dx <= ring_tokens; dx++)
            {
              int ny = ty + dy, nx = tx + dx;
              if (ny >= 0 && ny < token_height && nx >= 0 && nx < token_width && unknown[ny * token_width + nx])
                {
                  near = TRUE;
                  break;
                }
            }
        if (!near)
          continue;
        for (int y = ty * patch_h; y < (ty + 1) * patch_h; y++)
          for (int x = tx * patch_w; x < (tx + 1) * patch_w; x++)
            {
              const float *o = original + ((gsize) y * native + x) * 3;
              const float *p = decoded + ((gsize) y * native + x) * 3;
              for (int c = 0; c < 3; c++)
                {
                  sum_o[c] += o[c];
                  sq_o[c] += (double) o[c] * o[c];
                  sum_d[c] += p[c];
                  sq_d[c] += (double) p[c] * p[c];
                }
              ring[(gsize) y * native + x] = 1;
              n++;
            }
      }
  /* Too few samples for a standard deviation to mean anything. */
  if (n < (gsize) MAX (patch_w * patch_h, 4))
    return FALSE;

  /* First the whole window: per channel, the ring's mean and standard deviation. */
  float gain[3], offset[3];
  for (int c = 0; c < 3; c++)
    {
      double mean_o = sum_o[c] / n, mean_d = sum_d[c] / n;
      double std_o = sqrt (MAX (sq_o[c] / n - mean_o * mean_o, 0.0));
      double std_d = sqrt (MAX (sq_d[c] / n - mean_d * mean_d, 0.0));
      /* A flat ring says nothing about contrast: match the mean only. */
      double g = std_d > 1e-3 && std_o > 1e-3 ? CLAMP (std_o / std_d, 0.5, 2.0) : 1.0;
      gain[c] = (float) g;
      offset[c] = (float) (mean_o - g * mean_d);
    }
  for (gsize i = 0; i < n_pixels; i++)
    for (int c = 0; c < 3; c++)
      decoded[i * 3 + c] = decoded[i * 3 + c] * gain[c] + offset[c];

  /* Then what is left, locally: the residual on the ring, smoothed over about a token by a normalized
   * convolution (blurred residual over blurred ring), is taken off everywhere. It fades inside the edit, far
   * from the ring, where the blurred ring's weight is small next to the floor added to it. */
  g_autofree float *planes = g_new (float, 4 * n_pixels);
  for (gsize i = 0; i < n_pixels; i++)
    {
      for (int c = 0; c < 3; c++)
        planes[c * n_pixels + i] = ring[i] ? original[i * 3 + c] - decoded[i * 3 + c] : 0.0f;
      planes[3 * n_pixels + i] = ring[i];
    }
  blur_planes (planes, 4, native, MAX (patch_w, patch_h));
  float peak = 0.0f;
  for (gsize i = 0; i < n_pixels; i++)
    peak = MAX (peak, planes[3 * n_pixels + i]);
  float floor_weight = 0.05f * peak;
  for (gsize i = 0; i < n_pixels; i++)
    {
      float weight = planes[3 * n_pixels + i];
      for (int c = 0; c < 3; c++)
        decoded[i * 3 + c] += planes[c * n_pixels + i] / (weight + floor_weight);
    }
  return TRUE;
}

#define STRIP_ROWS 128

void
ib_edit_composite (const IbEditWindow *window,
                   const float        *decoded,
                   const float        *alpha,
                   const guint8       *rgba,
                   int                 width,
                   int                 height,
                   int                 stride,
                   guint8             *out,
                   int                 out_stride)
{
  const IbBox *box = &window->mask_box;
  g_return_if_fail (box->width > 0 && box->height > 0 && box->x >= 0 && box->y >= 0);
  g_return_if_fail (box->x + box->width <= width && box->y + box->height <= height);

  double scale = ib_edit_window_scale (window);
  int strip_rows = MIN (STRIP_ROWS, box->height);
  g_autofree float *strip = g_new (float, (gsize) box->width * strip_rows * 3);

  /* The decoded window mapped back onto the box, a strip of rows at a time (each strip's rectangle continues
   * the previous one, so the samples are those of the whole box). */
  for (int r0 = 0; r0 < box->height; r0 += strip_rows)
    {
      int rows = MIN (strip_rows, box->height - r0);
      IbRect rect = {
        (box->x - window->x) / scale, (box->y + r0 - window->y) / scale, box->width / scale, rows / scale,
      };
      ib_resample_f32 (decoded, window->native, window->native, window->native * 3, 3, &rect, strip,
                       box->width, rows);
      for (int y = 0; y < rows; y++)
        {
          const guint8 *in = rgba + (gsize) (box->y + r0 + y) * stride + (gsize) box->x * 4;
          guint8 *dst = out + (gsize) (r0 + y) * out_stride;
          const float *a = alpha + (gsize) (r0 + y) * box->width;
          const float *p = strip + (gsize) y * box->width * 3;
          for (int x = 0; x < box->width; x++)
            {
              if (a[x] <= 0.0f)
                {
                  memcpy (dst + x * 4, in + x * 4, 4);
                  continue;
                }
              for (int c = 0; c < 3; c++)
                {
                  float value = CLAMP ((p[x * 3 + c] + 1.0f) * 127.5f, 0.0f, 255.0f);
                  float blended = in[x * 4 + c] + a[x] * (value - in[x * 4 + c]);
                  dst[x * 4 + c] = (guint8) CLAMP (lrintf (blended), 0, 255);
                }
              dst[x * 4 + 3] = in[x * 4 + 3];
            }
        }
    }
}
