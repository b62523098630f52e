/* ib-resample.c: separable Lanczos-3 resampling (see ib-resample.h).
 *
 * Each axis gets a table of taps (mirrored source indices and normalized weights) per output sample; the
 * horizontal pass filters only the source rows the vertical taps read, into a compact buffer, and the vertical
 * pass combines them. Weights are normalized per output, so flat areas stay exactly flat. */
#include "ib-resample.h"

#include <math.h>
#include <string.h>

#include "ib-ops.h"

double
ib_lanczos3 (double x)
{
  double a = fabs (x);
  if (a >= 3.0)
    return 0.0;
  /* Exact values at the integers, so that an aligned one-to-one mapping is a copy. */
  double nearest = round (a);
  if (fabs (a - nearest) < 1e-12)
    return nearest == 0.0 ? 1.0 : 0.0;
  double px = G_PI * a;
  return 3.0 * sin (px) * sin (px / 3.0) / (px * px);
}

int
ib_resample_mirror (int i,
                    int n)
{
  g_assert (n >= 1);
  gint64 period = 2 * (gint64) n;
  gint64 m = (gint64) i % period;
  if (m < 0)
    m += period;
  return (int) (m < n ? m : period - 1 - m);
}

typedef struct
{
  int n_out;
  int n_taps;           /* per output sample */
  int *index;           /* n_out x n_taps mirrored source indices */
  float *weight;        /* n_out x n_taps */
} Axis;

static void
axis_init (Axis   *axis,
           double  origin,
           double  extent,
           int     n_src,
           int     n_out)
{
  double scale = extent / n_out;
  double stretch = MAX (scale, 1.0);
  double radius = 3.0 * stretch;

  axis->n_out = n_out;
  axis->n_taps = (int) ceil (2.0 * radius) + 1;
  axis->index = g_new (int, (gsize) n_out * axis->n_taps);
  axis->weight = g_new (float, (gsize) n_out * axis->n_taps);
  g_autofree double *w = g_new (double, axis->n_taps);
  for (int i = 0; i < n_out; i++)
    {
      /* The output sample's centre in source index units (pixel j's centre is j). */
      double centre = origin + (i + 0.5) * scale - 0.5;
      double first = floor (centre - radius);
      int *index = axis->index + (gsize) i * axis->n_taps;
      float *weight = axis->weight + (gsize) i * axis->n_taps;
      double total = 0.0;
      for (int k = 0; k < axis->n_taps; k++)
        {
          w[k] = ib_lanczos3 ((first + k - centre) / stretch);
          total += w[k];
          index[k] = ib_resample_mirror ((int) first + k, n_src);
        }
      for (int k = 0; k < axis->n_taps; k++)
        weight[k] = (float) (w[k] / total);
    }
}

static void
axis_clear (Axis *axis)
{
  g_clear_pointer (&axis->index, g_free);
  g_clear_pointer (&axis->weight, g_free);
}

/* Writes source row y (already mirrored into range) as n_channels floats per pixel. */
typedef void (*RowFunc) (const void *src,
                         int         y,
                         float      *row,
                         gpointer    user_data);

typedef struct
{
  int width;
  int stride;           /* floats or bytes, by format */
  int n_channels;
} Source;

static void
row_f32 (const void *src,
         int         y,
         float      *row,
         gpointer    user_data)
{
  const Source *source = user_data;
  memcpy (row, (const float *) src + (gsize) y * source->stride,
          (gsize) source->width * source->n_channels * sizeof (float));
}

static void
row_rgba8 (const void *src,
           int         y,
           float      *row,
           gpointer    user_data)
{
  const Source *source = user_data;
  const guint8 *pixels = (const guint8 *) src + (gsize) y * source->stride;
  for (int x = 0; x < source->width; x++)
    for (int c = 0; c < 3; c++)
      row[x * 3 + c] = pixels[x * 4 + c] / 127.5f - 1.0f;
}

static void
resample (const void   *src,
          RowFunc       get_row,
          Source       *source,
          int           src_height,
          int           n_channels,
          const IbRect *rect,
          float        *dst,
          int           dst_width,
          int           dst_height)
{
  Axis horizontal, vertical;
  int src_width = source->width;

  axis_init (&horizontal, rect->x, rect->width, src_width, dst_width);
  axis_init (&vertical, rect->y, rect->height, src_height, dst_height);

  /* The source rows the vertical taps read, each given a slot in the intermediate buffer. */
  g_autofree int *slot = g_new (int, src_height);
  g_autofree int *rows = g_new (int, src_height);
  int n_rows = 0;
  for (int y = 0; y < src_height; y++)
    slot[y] = -1;
  for (gsize k = 0; k < (gsize) dst_height * vertical.n_taps; k++)
    if (slot[vertical.index[k]] < 0)
      {
        slot[vertical.index[k]] = 0;
        rows[n_rows++] = vertical.index[k];
      }
  for (int r = 0; r < n_rows; r++)
    slot[rows[r]] = r;

  gsize row_floats = (gsize) dst_width * n_channels;
  g_autofree float *middle = g_new (float, (gsize) n_rows * row_floats);

#pragma omp parallel num_threads (ib_get_num_threads ())
  {
    g_autofree float *line = g_new (float, (gsize) src_width * n_channels);
#pragma omp for schedule (static)
    for (int r = 0; r < n_rows; r++)
      {
        get_row (src, rows[r], line, source);
        float *out = middle + r * row_floats;
        for (int x = 0; x < dst_width; x++)
          {
            const int *index = horizontal.index + (gsize) x * horizontal.n_taps;
            const float *weight = horizontal.weight + (gsize) x * horizontal.n_taps;
            for (int c = 0; c < n_channels; c++)
              {
                float sum = 0.0f;
                for (int k = 0; k < horizontal.n_taps; k++)
                  sum += weight[k] * line[index[k] * n_channels + c];
                out[x * n_channels + c] = sum;
              }
          }
      }
  }

#pragma omp parallel for schedule (static) num_threads (ib_get_num_threads ())
  for (int y = 0; y < dst_height; y++)
    {
      const int *index = vertical.index + (gsize) y * vertical.n_taps;
      const float *weight = vertical.weight + (gsize) y * vertical.n_taps;
      float *out = dst + (gsize) y * row_floats;
      memset (out, 0, row_floats * sizeof (float));
      for (int k = 0; k < vertical.n_taps; k++)
        {
          if (weight[k] == 0.0f)
            continue;
          const float *in = middle + (gsize) slot[index[k]] * row_floats;
          for (gsize i = 0; i < row_floats; i++)
            out[i] += weight[k] * in[i];
        }
    }

  axis_clear (&horizontal);
  axis_clear (&vertical);
}

void
ib_resample_f32 (const float  *src,
                 int           src_width,
                 int           src_height,
                 int           src_stride,
                 int           n_channels,
                 const IbRect *rect,
                 float        *dst,
                 int           dst_width,
                 int           dst_height)
{
  g_return_if_fail (src != NULL && dst != NULL && rect != NULL);
  g_return_if_fail (src_width > 0 && src_height > 0 && dst_width > 0 && dst_height > 0 && n_channels > 0);
  g_return_if_fail (src_stride >= src_width * n_channels);
  g_return_if_fail (rect->width > 0 && rect->height > 0);

  Source source = { .width = src_width, .stride = src_stride, .n_channels = n_channels };
  resample (src, row_f32, &source, src_height, n_channels, rect, dst, dst_width, dst_height);
}

void
ib_resample_rgba8_to_rgb (const guint8 *src,
                          int           src_width,
                          int           src_height,
                          int           src_stride,
                          const IbRect *rect,
                          float        *dst,
                          int           dst_width,
                          int           dst_height)
{
  g_return_if_fail (src != NULL && dst != NULL && rect != NULL);
  g_return_if_fail (src_width > 0 && src_height > 0 && dst_width > 0 && dst_height > 0);
  g_return_if_fail (src_stride >= src_width * 4);
  g_return_if_fail (rect->width > 0 && rect->height > 0);

  Source source = { .width = src_width, .stride = src_stride, .n_channels = 3 };
  resample (src, row_rgba8, &source, src_height, 3, rect, dst, dst_width, dst_height);
}
