/* ib-ops-image.c: the CPU engine's image ops on CHW f32 tensors (batch 1): GroupNorm, 2-D convolution,
 * nearest 2x upsampling and the vector quantizer's nearest-code search.
 *
 * A convolution is im2col + cblas_sgemm. The whole im2col matrix of a big layer does not fit in memory
 * (3x3 over 256 channels at 256x256 is 2.3 GB), so it is built a few columns (output pixels) at a time in
 * a bounded scratch; f16/bf16 weights are widened one block of output channels at a time into the same
 * scratch. 1x1 convolutions multiply the input directly.
 *
 * As in ib-ops.c, all parallelism is one OpenMP team and OpenBLAS runs single-threaded inside it: each
 * thread takes its own range of output pixels and runs im2col and sgemm on it, with no barrier between. */
#include "ib-ops.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <omp.h>
#include <string.h>

/* Scratch bounds of one convolution, in floats: 48 MiB of im2col columns, 16 MiB of widened weights. */
#define COL_SCRATCH_MAX    ((gsize) (48u << 20) / sizeof (float))
#define WEIGHT_SCRATCH_MAX ((gsize) (16u << 20) / sizeof (float))

/* Below this many elements, or multiply-adds, a loop is not worth waking the other threads for. */
#define PARALLEL_MIN      32768
#define PARALLEL_MIN_MACS (1u << 18)

/* A thread's share of a convolution is at least this many output pixels; split points fall on multiples
 * of it, so that no two threads write the same cache line of the output. */
#define PIXEL_GRAIN 16

/* The distance blocks of ib_nearest_code, all threads together, in floats (16 MiB). */
#define DISTANCE_BLOCK_MAX ((gsize) 4u << 20)

/* GroupNorm */

#define SUM_BLOCK 1024

/* Sums of d = x - shift and of d^2, in f32 over blocks of SUM_BLOCK with eight independent lanes (the
 * vectorizer keeps them in registers), blocks added in f64: accurate over millions of elements at nearly
 * the speed of f32, as long as the shift is near the mean. */
static void
shifted_sums (const float *x,
              gsize        n,
              float        shift,
              double      *sum,
              double      *sum_squares)
{
  double total = 0.0, total_squares = 0.0;

  for (gsize start = 0; start < n; start += SUM_BLOCK)
    {
      gsize len = MIN (SUM_BLOCK, n - start);
      const float *p = x + start;
      float lanes[8] = { 0 }, lanes_squares[8] = { 0 };
      float s = 0.0f, s2 = 0.0f;
      gsize i = 0;

      for (; i + 8 <= len; i += 8)
        for (int l = 0; l < 8; l++)
          {
            float d = p[i + l] - shift;
            lanes[l] += d;
            lanes_squares[l] += d * d;
          }
      for (; i < len; i++)
        {
          float d = p[i] - shift;
          s += d;
          s2 += d * d;
        }
      for (int l = 0; l < 8; l++)
        {
          s += lanes[l];
          s2 += lanes_squares[l];
        }
      total += s;
      total_squares += s2;
    }
  *sum = total;
  *sum_squares = total_squares;
}

void
ib_group_norm (float          *y,
               const float    *x,
               int             channels,
               int             hw,
               int             groups,
               const IbTensor *gamma,
               const IbTensor *beta,
               float           eps)
{
  g_return_if_fail (y != NULL && x != NULL);
  g_return_if_fail (channels > 0 && hw > 0 && groups > 0 && channels % groups == 0);
  g_return_if_fail (gamma != NULL && gamma->n_elements == channels);
  g_return_if_fail (beta != NULL && beta->n_elements == channels);

  int per_group = channels / groups;
  gsize group_len = (gsize) per_group * (gsize) hw;
  gboolean parallel = group_len * (gsize) groups >= PARALLEL_MIN;

#pragma omp parallel for schedule(dynamic, 1) num_threads(ib_get_num_threads ()) if (parallel)
  for (int g = 0; g < groups; g++)
    {
      const float *xg = x + (gsize) g * group_len;
      float *yg = y + (gsize) g * group_len;
      double sum, sum_squares;

      /* Two passes: a first estimate of the mean from deviations from the first element, then the
       * moments of the deviations from that estimate, which are small, so nothing cancels. */
      shifted_sums (xg, group_len, xg[0], &sum, &sum_squares);
      float mean_f = (float) ((double) xg[0] + sum / (double) group_len);
      shifted_sums (xg, group_len, mean_f, &sum, &sum_squares);
      double shift_error = sum / (double) group_len;      /* mean - mean_f */
      double variance = sum_squares / (double) group_len - shift_error * shift_error;
      double inv_std = 1.0 / sqrt (MAX (variance, 0.0) + (double) eps);

      /* (x - mean_f) * scale + shift rather than x * scale + shift: x - mean_f is exact for x near the
       * mean, so a large mean does not cancel away the digits of the result. */
      for (int c = 0; c < per_group; c++)
        {
          int channel = g * per_group + c;
          double scale = (double) ib_tensor_get_f32 (gamma, channel) * inv_std;
          float scale_f = (float) scale;
          float shift_f = (float) ((double) ib_tensor_get_f32 (beta, channel) - shift_error * scale);
          const float *xc = xg + (gsize) c * hw;
          float *yc = yg + (gsize) c * hw;

          for (int i = 0; i < hw; i++)
            yc[i] = (xc[i] - mean_f) * scale_f + shift_f;
        }
    }
}

/* Convolution */

typedef struct
{
  int c_in;
  int h;
  int w;
  int c_out;
  int k;
  int oh;
  int ow;
  gsize n_pix;        /* oh * ow */
  gsize patch;        /* c_in * k * k: rows of the im2col matrix, columns of the weight matrix */
  gboolean pointwise; /* 1x1, stride 1, no padding: the input is its own im2col matrix */
} ConvShape;

static gboolean
conv_shape_init (ConvShape            *s,
                 int                   c_in,
                 int                   h,
                 int                   w,
                 const IbTensor       *weight,
                 const IbConvGeometry *g)
{
  if (weight == NULL || g == NULL || weight->n_dims != 4 || c_in <= 0 || h <= 0 || w <= 0)
    return FALSE;
  if (weight->shape[1] != c_in || weight->shape[2] != weight->shape[3] || weight->shape[0] > G_MAXINT)
    return FALSE;
  if (weight->dtype != IB_DTYPE_F32 && weight->dtype != IB_DTYPE_F16 && weight->dtype != IB_DTYPE_BF16)
    return FALSE;
  if (g->stride < 1 || g->pad_top < 0 || g->pad_left < 0 || g->pad_bottom < 0 || g->pad_right < 0)
    return FALSE;

  s->c_in = c_in;
  s->h = h;
  s->w = w;
  s->c_out = (int) weight->shape[0];
  s->k = (int) weight->shape[2];

  int64_t span_h = (int64_t) h + g->pad_top + g->pad_bottom;
  int64_t span_w = (int64_t) w + g->pad_left + g->pad_right;
  if (span_h < s->k || span_w < s->k)
    return FALSE;
  s->oh = (int) ((span_h - s->k) / g->stride + 1);
  s->ow = (int) ((span_w - s->k) / g->stride + 1);
  s->n_pix = (gsize) s->oh * (gsize) s->ow;
  s->patch = (gsize) c_in * (gsize) s->k * (gsize) s->k;
  /* cblas takes int sizes and leading dimensions. */
  if (s->n_pix > G_MAXINT || s->patch > G_MAXINT || (gsize) h * (gsize) w > G_MAXINT)
    return FALSE;
  s->pointwise = s->k == 1 && g->stride == 1
                 && g->pad_top == 0 && g->pad_left == 0 && g->pad_bottom == 0 && g->pad_right == 0;
  return TRUE;
}

/* Weight rows held in scratch at once: all of them when they fit in WEIGHT_SCRATCH_MAX, at least one. */
static gsize
weight_block_rows (const ConvShape *s,
                   const IbTensor  *weight,
                   gsize            n_scratch)
{
  if (weight->dtype == IB_DTYPE_F32)
    return (gsize) s->c_out;

  gsize reserved = s->pointwise ? 0 : s->patch;   /* one im2col column */
  gsize room = n_scratch > reserved ? MIN (n_scratch - reserved, WEIGHT_SCRATCH_MAX) : 0;
  return CLAMP (room / s->patch, 1, (gsize) s->c_out);
}

gsize
ib_conv2d_scratch_size (int                   c_in,
                        int                   h,
                        int                   w,
                        const IbTensor       *weight,
                        const IbConvGeometry *geometry)
{
  ConvShape s;

  g_return_val_if_fail (conv_shape_init (&s, c_in, h, w, weight, geometry), 0);

  gsize weight_floats = 0;
  if (weight->dtype != IB_DTYPE_F32)
    weight_floats = weight_block_rows (&s, weight, G_MAXSIZE) * s.patch;

  gsize col_floats = 0;
  if (!s.pointwise)
    col_floats = s.patch * CLAMP (COL_SCRATCH_MAX / s.patch, 1, s.n_pix);

  return weight_floats + col_floats;
}

static void
widen_weight_rows (const IbTensor *weight,
                   int             first,
                   int             n,
                   gsize           patch,
                   float          *dst)
{
#pragma omp parallel for num_threads(ib_get_num_threads ()) if ((gsize) n * patch >= PARALLEL_MIN)
  for (int r = 0; r < n; r++)
    ib_tensor_rows_f32 (weight, first + r, 1, dst + (gsize) r * patch);
}

/* First output column ox with 0 <= ox * stride + offset, and one past the last with ox * stride + offset
 * < w: the columns whose tap lands inside the input row. */
static void
valid_columns (int  w,
               int  stride,
               int  offset,
               int *lo,
               int *hi)
{
  *lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  *hi = w - 1 - offset < 0 ? 0 : (w - 1 - offset) / stride + 1;
}

/* Columns p0 .. p0 + n - 1 (output pixels in raster order) of the im2col matrix, as a patch x n matrix:
 * row (ci, ky, kx) holds input pixel (ci, oy * stride - pad_top + ky, ox * stride - pad_left + kx), or 0
 * in the padding. */
static void
im2col_strip (float                *col,
              const float          *x,
              const ConvShape      *s,
              const IbConvGeometry *g,
              gsize                 p0,
              gsize                 n)
{
  int kk = s->k * s->k;
  int n_rows = (int) s->patch;

  for (int r = 0; r < n_rows; r++)
    {
      int ci = r / kk;
      int ky = (r % kk) / s->k;
      int kx = r % s->k;
      int offset = kx - g->pad_left;
      const float *plane = x + (gsize) ci * (gsize) s->h * (gsize) s->w;
      float *dst = col + (gsize) r * n;
      gsize p = p0;
      gsize end = p0 + n;
      int lo, hi;

      valid_columns (s->w, g->stride, offset, &lo, &hi);
      while (p < end)
        {
          int oy = (int) (p / (gsize) s->ow);
          int ox0 = (int) (p % (gsize) s->ow);
          int ox1 = (int) MIN ((gsize) s->ow, (gsize) ox0 + (end - p));
          int iy = oy * g->stride - g->pad_top + ky;
          int count = ox1 - ox0;

          if (iy < 0 || iy >= s->h)
            {
              memset (dst, 0, (gsize) count * sizeof (float));
            }
          else
            {
              const float *row = plane + (gsize) iy * (gsize) s->w;
              int a = CLAMP (lo, ox0, ox1);
              int b = CLAMP (hi, a, ox1);

              memset (dst, 0, (gsize) (a - ox0) * sizeof (float));
              if (g->stride == 1)
                {
                  memcpy (dst + (a - ox0), row + a + offset, (gsize) (b - a) * sizeof (float));
                }
              else
                {
                  for (int ox = a; ox < b; ox++)
                    dst[ox - ox0] = row[ox * g->stride + offset];
                }
              memset (dst + (b - ox0), 0, (gsize) (ox1 - b) * sizeof (float));
            }
          dst += count;
          p += (gsize) count;
        }
    }
}

/* Rows co0 .. co0 + m - 1, columns p0 .. p0 + n - 1 of the output, set to the bias: the sgemm then
 * accumulates onto it (beta = 1), which spares OpenBLAS its pass that zeroes the output. */
static void
fill_bias (float          *y,
          const IbTensor *bias,
          gsize           co0,
          gsize           m,
          gsize           n_pix,
          gsize           p0,
          gsize           n)
{
  for (gsize co = co0; co < co0 + m; co++)
    {
      float b = ib_tensor_get_f32 (bias, (int64_t) co);
      float *row = y + co * n_pix + p0;

      for (gsize i = 0; i < n; i++)
        row[i] = b;
    }
}

/* Where thread t of n_threads starts in n_pix output pixels. */
static gsize
split_point (gsize n_pix,
             int   t,
             int   n_threads)
{
  if (t >= n_threads)
    return n_pix;
  return MIN (n_pix, (n_pix * (gsize) t / (gsize) n_threads + PIXEL_GRAIN / 2) / PIXEL_GRAIN * PIXEL_GRAIN);
}

void
ib_conv2d_with_scratch (float                *y,
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
                        int                  *out_w)
{
  ConvShape s;

  g_return_if_fail (y != NULL && x != NULL);
  g_return_if_fail (conv_shape_init (&s, c_in, h, w, weight, geometry));
  g_return_if_fail (bias == NULL || bias->n_elements == s.c_out);

  gboolean f32_weight = weight->dtype == IB_DTYPE_F32;
  gsize block_rows = weight_block_rows (&s, weight, n_scratch);
  gsize weight_floats = f32_weight ? 0 : block_rows * s.patch;
  g_return_if_fail (n_scratch >= weight_floats + (s.pointwise ? 0 : s.patch));
  g_return_if_fail (n_scratch == 0 || scratch != NULL);

  /* Each thread needs room for at least one im2col column of its own. */
  gsize col_floats = n_scratch - weight_floats;
  int n_threads = ib_get_num_threads ();
  n_threads = (int) MIN ((gsize) n_threads, MAX (1, s.n_pix / PIXEL_GRAIN));
  if (!s.pointwise)
    n_threads = (int) MIN ((gsize) n_threads, col_floats / s.patch);
  if ((double) s.c_out * (double) s.patch * (double) s.n_pix < PARALLEL_MIN_MACS)
    n_threads = 1;
  /* Pixels per im2col pass of one thread. */
  gsize chunk = s.pointwise ? s.n_pix : MIN (s.n_pix, col_floats / (gsize) n_threads / s.patch);

  float *weight_buf = scratch;
  float *col = scratch != NULL ? scratch + weight_floats : NULL;   /* none for pointwise f32 (NULL + 0 is UB) */

  /* All weights fit in one block unless a layer has over 16 MiB of them; then im2col runs once per block. */
  for (gsize co0 = 0; co0 < (gsize) s.c_out; co0 += block_rows)
    {
      gsize m = MIN (block_rows, (gsize) s.c_out - co0);
      const float *a_matrix = weight_buf;

      if (f32_weight)
        a_matrix = ib_tensor_f32_data (weight) + co0 * s.patch;
      else
        widen_weight_rows (weight, (int) co0, (int) m, s.patch, weight_buf);

#pragma omp parallel num_threads(n_threads)
      {
        int t = omp_get_thread_num ();
        int nt = omp_get_num_threads ();
        gsize lo = split_point (s.n_pix, t, nt);
        gsize hi = split_point (s.n_pix, t + 1, nt);
        float *own_col = col != NULL ? col + (gsize) t * chunk * s.patch : NULL;

        for (gsize p0 = lo; p0 < hi; p0 += chunk)
          {
            gsize n = MIN (chunk, hi - p0);
            const float *b_matrix;
            gsize ldb;

            if (s.pointwise)
              {
                b_matrix = x + p0;
                ldb = s.n_pix;
              }
            else
              {
                im2col_strip (own_col, x, &s, geometry, p0, n);
                b_matrix = own_col;
                ldb = n;
              }

            if (bias != NULL)
              fill_bias (y, bias, co0, m, s.n_pix, p0, n);
            cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans,
                         (int) m, (int) n, (int) s.patch,
                         1.0f, a_matrix, (int) s.patch,
                         b_matrix, (int) ldb,
                         bias != NULL ? 1.0f : 0.0f, y + co0 * s.n_pix + p0, (int) s.n_pix);
          }
      }
    }

  if (out_h != NULL)
    *out_h = s.oh;
  if (out_w != NULL)
    *out_w = s.ow;
}

void
ib_conv2d (float                *y,
           const float          *x,
           int                   c_in,
           int                   h,
           int                   w,
           const IbTensor       *weight,
           const IbTensor       *bias,
           const IbConvGeometry *geometry,
           int                  *out_h,
           int                  *out_w)
{
  gsize n_scratch = ib_conv2d_scratch_size (c_in, h, w, weight, geometry);
  g_autofree float *scratch = n_scratch > 0 ? g_new (float, n_scratch) : NULL;

  ib_conv2d_with_scratch (y, x, c_in, h, w, weight, bias, geometry, scratch, n_scratch, out_h, out_w);
}

/* Upsampling */

void
ib_upsample_nearest2x (float       *y,
                       const float *x,
                       int          c,
                       int          h,
                       int          w)
{
  g_return_if_fail (y != NULL && x != NULL && c > 0 && h > 0 && w > 0);

  /* Input row r (channel r / h, row r % h) becomes output rows 2r and 2r + 1 of the same channel. */
  int64_t n_rows = (int64_t) c * h;
  gsize w2 = (gsize) w * 2;

#pragma omp parallel for num_threads(ib_get_num_threads ()) if ((gsize) n_rows * (gsize) w >= PARALLEL_MIN)
  for (int64_t r = 0; r < n_rows; r++)
    {
      const float *src = x + (gsize) r * (gsize) w;
      float *dst = y + (gsize) r * 2 * w2;

      for (int j = 0; j < w; j++)
        {
          dst[2 * j] = src[j];
          dst[2 * j + 1] = src[j];
        }
      memcpy (dst + w2, dst, w2 * sizeof (float));
    }
}

/* Nearest code */

static double
squared_distance_f64 (const float *a,
                      const float *b,
                      int          dim)
{
  double total = 0.0;

  for (int i = 0; i < dim; i++)
    {
      double d = (double) a[i] - (double) b[i];
      total += d * d;
    }
  return total;
}

/* dots[j] = z . e_j from the sgemm; norms[j] = ||e_j||^2. The f32 distances ||e||^2 - 2 z.e (||z||^2 is
 * the same for every code) pick the best code up to their rounding error; every code within that error of
 * the best is compared again in f64, so near ties and duplicate rows resolve exactly, to the lowest
 * position. */
static int32_t
nearest_in_row (const float *z,
                const float *dots,
                const float *codes,
                const float *norms,
                int          n_codes,
                int          dim,
                float        max_norm)
{
  float best = INFINITY;
  int32_t best_j = 0;

  for (int j = 0; j < n_codes; j++)
    {
      float d = norms[j] - 2.0f * dots[j];
      if (d < best)
        {
          best = d;
          best_j = j;
        }
    }
  if (!isfinite (best))
    return best_j;

  /* |fl(z.e) - z.e| <= dim u ||z|| ||e|| (u = FLT_EPSILON / 2); two codes, the factor 2 of the product and
   * the rounded norms, with a margin. */
  double z_norm = 0.0;
  for (int i = 0; i < dim; i++)
    z_norm += (double) z[i] * (double) z[i];
  float tolerance = (float) (4.0 * (dim + 2) * FLT_EPSILON * sqrt (z_norm * (double) max_norm)
                             + 4.0 * FLT_EPSILON * (double) max_norm) + FLT_MIN;

  double best_exact = INFINITY;
  int32_t best_exact_j = best_j;
  for (int j = 0; j < n_codes; j++)
    {
      if (norms[j] - 2.0f * dots[j] <= best + tolerance)
        {
          double d = squared_distance_f64 (z, codes + (gsize) j * dim, dim);
          if (d < best_exact)
            {
              best_exact = d;
              best_exact_j = j;
            }
        }
    }
  return best_exact_j;
}

void
ib_nearest_code (int32_t       *indices,
                 const float   *z,
                 int            n,
                 int            dim,
                 const float   *codebook,
                 const int32_t *candidates,
                 int            n_candidates)
{
  g_return_if_fail (indices != NULL && z != NULL && codebook != NULL);
  g_return_if_fail (n >= 0 && dim > 0 && n_candidates > 0);

  if (n == 0)
    return;

  /* The listed rows side by side, so that all distances of a block are one sgemm. */
  g_autofree float *gathered = NULL;
  const float *codes = codebook;
  if (candidates != NULL)
    {
      gathered = g_new (float, (gsize) n_candidates * dim);
#pragma omp parallel for num_threads(ib_get_num_threads ()) \
  if ((gsize) n_candidates * dim >= PARALLEL_MIN)
      for (int j = 0; j < n_candidates; j++)
        memcpy (gathered + (gsize) j * dim, codebook + (gsize) candidates[j] * dim,
                (gsize) dim * sizeof (float));
      codes = gathered;
    }

  g_autofree float *norms = g_new (float, n_candidates);
  float max_norm = 0.0f;
  for (int j = 0; j < n_candidates; j++)
    {
      double e_norm = 0.0;
      const float *e = codes + (gsize) j * dim;
      for (int i = 0; i < dim; i++)
        e_norm += (double) e[i] * (double) e[i];
      norms[j] = (float) e_norm;
      max_norm = MAX (max_norm, norms[j]);
    }

  /* Each thread takes a range of the vectors, a block of rows at a time: an sgemm for the products with
   * every code, then the search. */
  int n_threads = MIN (ib_get_num_threads (), n);
  if ((double) n * n_candidates * dim < PARALLEL_MIN_MACS)
    n_threads = 1;
  gsize block = CLAMP (DISTANCE_BLOCK_MAX / (gsize) n_threads / (gsize) n_candidates, 1,
                       ((gsize) n + n_threads - 1) / (gsize) n_threads);
  g_autofree float *dots = g_new (float, (gsize) n_threads * block * (gsize) n_candidates);

#pragma omp parallel num_threads(n_threads)
  {
    int t = omp_get_thread_num ();
    int nt = omp_get_num_threads ();
    gsize lo = (gsize) n * t / nt;
    gsize hi = (gsize) n * (t + 1) / nt;
    float *own_dots = dots + (gsize) t * block * (gsize) n_candidates;

    for (gsize i0 = lo; i0 < hi; i0 += block)
      {
        int m = (int) MIN (block, hi - i0);

        cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans,
                     m, n_candidates, dim,
                     1.0f, z + i0 * dim, dim,
                     codes, dim,
                     0.0f, own_dots, n_candidates);
        for (int i = 0; i < m; i++)
          indices[i0 + i] = nearest_in_row (z + (i0 + i) * dim, own_dots + (gsize) i * n_candidates,
                                            codes, norms, n_candidates, dim, max_norm);
      }
  }
}
