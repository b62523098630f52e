/* test-ops-image.c: the image ops of the CPU engine (ib-ops-image.c) against naive f64 references:
 * GroupNorm, conv2d (every padding and stride the VQGAN uses and some it does not, f16/bf16 weights,
 * starved scratch), nearest 2x upsampling and the nearest-code search. Every output is followed by a
 * guard region that must come back untouched. */
#include <math.h>
#include <string.h>

#include <glib.h>

#include "ib-ops.h"

#define GUARD 37
#define SENTINEL (-12345.678f)

/* Test data */

typedef struct
{
  IbTensor tensor;
  gpointer data;
} TestTensor;

static void
test_tensor_free (TestTensor *t)
{
  g_free (t->data);
  g_free (t);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestTensor, test_tensor_free)

/* A tensor of the given dtype holding values (rounded to the dtype). */
static TestTensor *
test_tensor_new (IbDType      dtype,
                 const float *values,
                 int          n_dims,
                 const int64_t *shape)
{
  TestTensor *t = g_new0 (TestTensor, 1);
  int64_t n = 1;

  for (int i = 0; i < n_dims; i++)
    {
      t->tensor.shape[i] = shape[i];
      n *= shape[i];
    }
  t->tensor.name = "test";
  t->tensor.dtype = dtype;
  t->tensor.n_dims = n_dims;
  t->tensor.n_elements = n;
  t->data = g_malloc (n * ib_dtype_size (dtype));
  for (int64_t i = 0; i < n; i++)
    {
      if (dtype == IB_DTYPE_F32)
        ((float *) t->data)[i] = values[i];
      else if (dtype == IB_DTYPE_F16)
        ((uint16_t *) t->data)[i] = ib_f32_to_f16 (values[i]);
      else
        ((uint16_t *) t->data)[i] = ib_f32_to_bf16 (values[i]);
    }
  t->tensor.data = t->data;
  return t;
}

static TestTensor *
random_tensor (GRand   *rand,
               IbDType  dtype,
               double   lo,
               double   hi,
               int      n_dims,
               ...)
{
  int64_t shape[IB_TENSOR_MAX_DIMS];
  int64_t n = 1;
  va_list args;

  va_start (args, n_dims);
  for (int i = 0; i < n_dims; i++)
    {
      shape[i] = va_arg (args, int);
      n *= shape[i];
    }
  va_end (args);

  g_autofree float *values = g_new (float, n);
  for (int64_t i = 0; i < n; i++)
    values[i] = (float) g_rand_double_range (rand, lo, hi);
  return test_tensor_new (dtype, values, n_dims, shape);
}

static float *
random_floats (GRand  *rand,
               gsize   n,
               double  lo,
               double  hi)
{
  float *x = g_new (float, n);

  for (gsize i = 0; i < n; i++)
    x[i] = (float) g_rand_double_range (rand, lo, hi);
  return x;
}

/* n floats followed by GUARD sentinels. */
static float *
guarded_new (gsize n)
{
  float *x = g_new (float, n + GUARD);

  for (gsize i = 0; i < n + GUARD; i++)
    x[i] = SENTINEL;
  return x;
}

static void
assert_guard (const float *x,
              gsize        n)
{
  for (gsize i = n; i < n + GUARD; i++)
    if (x[i] != SENTINEL)
      g_error ("guard float %" G_GSIZE_FORMAT " after %" G_GSIZE_FORMAT " outputs was overwritten",
               i - n, n);
}

static const char *
dtype_label (IbDType dtype)
{
  return dtype == IB_DTYPE_F32 ? "f32" : dtype == IB_DTYPE_F16 ? "f16" : "bf16";
}

/* GroupNorm */

typedef struct
{
  const char *path;
  int channels;
  int hw;
  int groups;
  IbDType dtype;
  gboolean in_place;
  double offset;      /* added to every input: a large mean must not cost accuracy */
  double spread;
} GroupNormCase;

static const GroupNormCase group_norm_cases[] = {
  { "/model/ops/group-norm/groups32-ch32-1x1", 32, 1, 32, IB_DTYPE_F32, FALSE, 0.0, 1.0 },
  { "/model/ops/group-norm/groups32-ch32-3x5", 32, 15, 32, IB_DTYPE_F32, FALSE, 0.0, 1.0 },
  { "/model/ops/group-norm/groups32-ch64-3x5", 64, 15, 32, IB_DTYPE_F32, FALSE, 0.5, 2.0 },
  { "/model/ops/group-norm/groups32-ch96-7x9", 96, 63, 32, IB_DTYPE_F32, FALSE, -0.3, 1.0 },
  { "/model/ops/group-norm/groups32-ch128-37x29", 128, 37 * 29, 32, IB_DTYPE_F32, FALSE, 0.1, 3.0 },
  { "/model/ops/group-norm/groups1-ch3", 3, 15, 1, IB_DTYPE_F32, FALSE, 0.0, 1.0 },
  { "/model/ops/group-norm/groups3-ch9-in-place", 9, 11, 3, IB_DTYPE_F32, TRUE, 0.0, 1.0 },
  { "/model/ops/group-norm/groups32-ch64-in-place", 64, 17 * 19, 32, IB_DTYPE_F32, TRUE, 1.0, 1.0 },
  { "/model/ops/group-norm/f16-affine", 64, 15, 32, IB_DTYPE_F16, FALSE, 0.0, 1.0 },
  { "/model/ops/group-norm/bf16-affine", 96, 7, 32, IB_DTYPE_BF16, TRUE, 0.0, 1.0 },
  { "/model/ops/group-norm/large-mean", 64, 300, 32, IB_DTYPE_F32, FALSE, 1000.0, 0.01 },
};

static void
test_group_norm (gconstpointer data)
{
  const GroupNormCase *c = data;
  g_autoptr (GRand) rand = g_rand_new_with_seed (c->channels * 1000 + c->hw);
  gsize n = (gsize) c->channels * c->hw;
  g_autofree float *x = random_floats (rand, n, c->offset - c->spread, c->offset + c->spread);
  g_autoptr (TestTensor) gamma = random_tensor (rand, c->dtype, 0.5, 1.5, 1, c->channels);
  g_autoptr (TestTensor) beta = random_tensor (rand, c->dtype, -0.5, 0.5, 1, c->channels);
  g_autofree float *y = guarded_new (n);
  int per_group = c->channels / c->groups;
  float eps = 1e-6f;

  if (c->in_place)
    {
      memcpy (y, x, n * sizeof (float));
      ib_group_norm (y, y, c->channels, c->hw, c->groups, &gamma->tensor, &beta->tensor, eps);
    }
  else
    {
      ib_group_norm (y, x, c->channels, c->hw, c->groups, &gamma->tensor, &beta->tensor, eps);
    }
  assert_guard (y, n);

  double max_error = 0.0;
  for (int g = 0; g < c->groups; g++)
    {
      gsize start = (gsize) g * per_group * c->hw;
      gsize len = (gsize) per_group * c->hw;
      double mean = 0.0, variance = 0.0;

      for (gsize i = 0; i < len; i++)
        mean += x[start + i];
      mean /= len;
      for (gsize i = 0; i < len; i++)
        variance += (x[start + i] - mean) * (x[start + i] - mean);
      variance /= len;

      for (gsize i = 0; i < len; i++)
        {
          int channel = (int) ((start + i) / c->hw);
          double gm = ib_tensor_get_f32 (&gamma->tensor, channel);
          double bt = ib_tensor_get_f32 (&beta->tensor, channel);
          double normalized = (x[start + i] - mean) / sqrt (variance + eps);
          double expected = normalized * gm + bt;
          double bound = 1e-5 * (fabs (normalized * gm) + fabs (bt)) + 1e-6;
          double error = fabs (y[start + i] - expected);

          if (!(error <= bound))
            g_error ("%s: y[%" G_GSIZE_FORMAT "] = %.9g, expected %.9g", c->path, start + i,
                     y[start + i], expected);
          max_error = MAX (max_error, error);
        }
    }
  g_test_message ("%s weights, max error %.3g", dtype_label (c->dtype), max_error);
}

/* Convolution */

typedef struct
{
  const char *path;
  int c_in;
  int c_out;
  int h;
  int w;
  int k;
  IbConvGeometry geometry;
  IbDType dtype;
  gboolean bias;
  gssize n_scratch;   /* 0: ib_conv2d; > 0: ib_conv2d_with_scratch with that many floats;
                       * EXACT_SCRATCH: with exactly ib_conv2d_scratch_size() floats */
} ConvCase;

#define PAD(p) { 1, p, p, p, p }
#define DOWN { 2, 0, 0, 1, 1 }     /* taming's Downsample */
#define EXACT_SCRATCH (-1)

static const ConvCase conv_cases[] = {
  { "/model/ops/conv2d/pointwise-f32", 5, 7, 3, 5, 1, PAD (0), IB_DTYPE_F32, TRUE, 0 },
  { "/model/ops/conv2d/pointwise-f16", 37, 19, 4, 3, 1, PAD (0), IB_DTYPE_F16, TRUE, 0 },
  { "/model/ops/conv2d/pointwise-bf16", 33, 65, 5, 7, 1, PAD (0), IB_DTYPE_BF16, TRUE, 0 },
  { "/model/ops/conv2d/pointwise-1x1-image", 3, 2, 1, 1, 1, PAD (0), IB_DTYPE_F32, TRUE, 0 },
  { "/model/ops/conv2d/pointwise-large", 96, 64, 31, 33, 1, PAD (0), IB_DTYPE_F32, TRUE, 0 },
  { "/model/ops/conv2d/pointwise-f16-blocks", 37, 19, 4, 3, 1, PAD (0), IB_DTYPE_F16, TRUE, 2 * 37 + 5 },
  { "/model/ops/conv2d/pointwise-stride2", 6, 5, 7, 6, 1, { 2, 0, 0, 0, 0 }, IB_DTYPE_F32, TRUE, 0 },
  { "/model/ops/conv2d/pointwise-padded", 4, 3, 2, 3, 1, { 1, 1, 0, 2, 1 }, IB_DTYPE_F32, TRUE, 0 },
  { "/model/ops/conv2d/3x3-pad1-1x1-image", 4, 3, 1, 1, 3, PAD (1), IB_DTYPE_F32, TRUE, 0 },
  { "/model/ops/conv2d/3x3-pad1-3x5", 5, 6, 3, 5, 3, PAD (1), IB_DTYPE_F32, TRUE, 0 },
  { "/model/ops/conv2d/3x3-pad1-5x3", 3, 7, 5, 3, 3, PAD (1), IB_DTYPE_F32, TRUE, 0 },
  { "/model/ops/conv2d/3x3-pad1-1x7", 2, 3, 1, 7, 3, PAD (1), IB_DTYPE_F32, TRUE, 0 },
  { "/model/ops/conv2d/3x3-no-pad", 3, 4, 6, 5, 3, PAD (0), IB_DTYPE_F32, TRUE, 0 },
  { "/model/ops/conv2d/3x3-no-bias", 5, 6, 3, 5, 3, PAD (1), IB_DTYPE_F32, FALSE, 0 },
  { "/model/ops/conv2d/3x3-f16", 33, 17, 9, 7, 3, PAD (1), IB_DTYPE_F16, TRUE, 0 },
  { "/model/ops/conv2d/3x3-bf16", 19, 35, 7, 9, 3, PAD (1), IB_DTYPE_BF16, TRUE, 0 },
  { "/model/ops/conv2d/3x3-large", 32, 48, 29, 23, 3, PAD (1), IB_DTYPE_F32, TRUE, 0 },
  { "/model/ops/conv2d/stride2-pad-right-bottom", 6, 4, 8, 8, 3, DOWN, IB_DTYPE_F32, TRUE, 0 },
  { "/model/ops/conv2d/stride2-pad-right-bottom-odd", 3, 5, 7, 5, 3, DOWN, IB_DTYPE_F32, TRUE, 0 },
  { "/model/ops/conv2d/stride2-pad-right-bottom-2x2", 4, 4, 2, 2, 3, DOWN, IB_DTYPE_F32, TRUE, 0 },
  { "/model/ops/conv2d/stride2-pad-right-bottom-f16", 32, 32, 16, 16, 3, DOWN, IB_DTYPE_F16, TRUE, 0 },
  { "/model/ops/conv2d/asymmetric-pad", 3, 2, 4, 6, 3, { 1, 2, 0, 1, 3 }, IB_DTYPE_F32, TRUE, 0 },
  { "/model/ops/conv2d/pad-wider-than-image", 2, 2, 1, 2, 3, { 1, 3, 4, 2, 3 }, IB_DTYPE_F32, TRUE, 0 },
  { "/model/ops/conv2d/stride3-kernel5", 2, 3, 11, 9, 5, { 3, 2, 1, 0, 2 }, IB_DTYPE_F32, TRUE, 0 },
  { "/model/ops/conv2d/kernel2-stride2", 3, 3, 6, 7, 2, { 2, 0, 0, 0, 1 }, IB_DTYPE_BF16, TRUE, 0 },
  { "/model/ops/conv2d/strips-f32", 5, 6, 7, 9, 3, PAD (1), IB_DTYPE_F32, TRUE, 5 * 5 * 9 + 7 },
  { "/model/ops/conv2d/strips-one-pixel-f32", 5, 6, 3, 4, 3, PAD (1), IB_DTYPE_F32, TRUE, 5 * 9 },
  { "/model/ops/conv2d/strips-blocks-f16", 7, 9, 5, 6, 3, PAD (1), IB_DTYPE_F16, TRUE, 3 * 7 * 9 },
  { "/model/ops/conv2d/strips-row-blocks-bf16", 7, 9, 5, 6, 3, DOWN, IB_DTYPE_BF16, TRUE, 2 * 7 * 9 + 1 },
  { "/model/ops/conv2d/strips-many-f16", 16, 40, 23, 21, 3, PAD (1), IB_DTYPE_F16, TRUE, 200 * 16 * 9 },
  { "/model/ops/conv2d/exact-scratch-f16", 8, 5, 6, 6, 3, PAD (1), IB_DTYPE_F16, TRUE, EXACT_SCRATCH },
  { "/model/ops/conv2d/exact-scratch-downsample", 8, 5, 6, 6, 3, DOWN, IB_DTYPE_F32, TRUE,
    EXACT_SCRATCH },
  { "/model/ops/conv2d/exact-scratch-pointwise-bf16", 8, 5, 6, 6, 1, PAD (0), IB_DTYPE_BF16, TRUE,
    EXACT_SCRATCH },
};

static void
reference_conv2d (double               *y,
                  double               *magnitude,
                  const float          *x,
                  const ConvCase       *c,
                  const IbTensor       *weight,
                  const IbTensor       *bias,
                  int                   oh,
                  int                   ow)
{
  const IbConvGeometry *g = &c->geometry;

  for (int co = 0; co < c->c_out; co++)
    for (int oy = 0; oy < oh; oy++)
      for (int ox = 0; ox < ow; ox++)
        {
          double sum = bias != NULL ? ib_tensor_get_f32 (bias, co) : 0.0;
          double mag = fabs (sum);

          for (int ci = 0; ci < c->c_in; ci++)
            for (int ky = 0; ky < c->k; ky++)
              for (int kx = 0; kx < c->k; kx++)
                {
                  int iy = oy * g->stride + ky - g->pad_top;
                  int ix = ox * g->stride + kx - g->pad_left;
                  if (iy < 0 || iy >= c->h || ix < 0 || ix >= c->w)
                    continue;
                  int64_t at = ((int64_t) (co * c->c_in + ci) * c->k + ky) * c->k + kx;
                  double wv = ib_tensor_get_f32 (weight, at);
                  double xv = x[((gsize) ci * c->h + iy) * c->w + ix];
                  sum += wv * xv;
                  mag += fabs (wv * xv);
                }
          gsize at = ((gsize) co * oh + oy) * ow + ox;
          y[at] = sum;
          magnitude[at] = mag;
        }
}

static void
test_conv2d (gconstpointer data)
{
  const ConvCase *c = data;
  const IbConvGeometry *g = &c->geometry;
  g_autoptr (GRand) rand = g_rand_new_with_seed (c->c_in * 7919 + c->c_out * 31 + c->h * 7 + c->w);
  gsize n_in = (gsize) c->c_in * c->h * c->w;
  g_autofree float *x = random_floats (rand, n_in, -1.0, 1.0);
  g_autoptr (TestTensor) weight = random_tensor (rand, c->dtype, -0.5, 0.5, 4, c->c_out, c->c_in, c->k, c->k);
  g_autoptr (TestTensor) bias = random_tensor (rand, c->dtype, -0.5, 0.5, 1, c->c_out);
  int oh = (c->h + g->pad_top + g->pad_bottom - c->k) / g->stride + 1;
  int ow = (c->w + g->pad_left + g->pad_right - c->k) / g->stride + 1;
  gsize n_out = (gsize) c->c_out * oh * ow;
  g_autofree float *y = guarded_new (n_out);
  int got_h = -1, got_w = -1;
  const IbTensor *bias_tensor = c->bias ? &bias->tensor : NULL;
  g_autofree float *x_copy = g_memdup2 (x, n_in * sizeof (float));

  if (c->n_scratch == 0)
    {
      ib_conv2d (y, x, c->c_in, c->h, c->w, &weight->tensor, bias_tensor, g, &got_h, &got_w);
    }
  else
    {
      gsize n_scratch = c->n_scratch == EXACT_SCRATCH
                        ? ib_conv2d_scratch_size (c->c_in, c->h, c->w, &weight->tensor, g)
                        : (gsize) c->n_scratch;
      g_autofree float *scratch = guarded_new (n_scratch);

      ib_conv2d_with_scratch (y, x, c->c_in, c->h, c->w, &weight->tensor, bias_tensor, g,
                              scratch, n_scratch, &got_h, &got_w);
      assert_guard (scratch, n_scratch);
    }

  g_assert_cmpint (got_h, ==, oh);
  g_assert_cmpint (got_w, ==, ow);
  assert_guard (y, n_out);
  g_assert_true (memcmp (x, x_copy, n_in * sizeof (float)) == 0);

  g_autofree double *expected = g_new (double, n_out);
  g_autofree double *magnitude = g_new (double, n_out);
  reference_conv2d (expected, magnitude, x, c, &weight->tensor, bias_tensor, oh, ow);

  double max_error = 0.0;
  for (gsize i = 0; i < n_out; i++)
    {
      double error = fabs (y[i] - expected[i]);
      double bound = 2e-7 * (c->c_in * c->k * c->k + 4) * magnitude[i] + 1e-7;

      if (!(error <= bound))
        g_error ("%s: y[%" G_GSIZE_FORMAT "] = %.9g, expected %.9g", c->path, i, y[i], expected[i]);
      max_error = MAX (max_error, error);
    }
  g_test_message ("%dx%d -> %dx%d, %s weights, max error %.3g", c->h, c->w, oh, ow, dtype_label (c->dtype),
                  max_error);
}

static void
test_conv2d_scratch_size (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (5);
  const IbConvGeometry same = PAD (1);
  const IbConvGeometry point = PAD (0);

  /* 3x3 over 256 channels at 256x256: the im2col matrix would be 2.3 GB; the scratch stays bounded. */
  g_autoptr (TestTensor) big = random_tensor (rand, IB_DTYPE_F16, -1, 1, 4, 256, 256, 3, 3);
  gsize n = ib_conv2d_scratch_size (256, 256, 256, &big->tensor, &same);
  g_assert_cmpuint (n * sizeof (float), <=, (gsize) 64 << 20);
  g_assert_cmpuint (n, >=, 256 * 256 * 9 + 256 * 9);

  /* f32 1x1: the input is the im2col matrix and the weights are used in place. */
  g_autoptr (TestTensor) pointwise = random_tensor (rand, IB_DTYPE_F32, -1, 1, 4, 8, 4, 1, 1);
  g_assert_cmpuint (ib_conv2d_scratch_size (4, 5, 5, &pointwise->tensor, &point), ==, 0);

  /* A small image needs no more than its whole im2col matrix. */
  g_autoptr (TestTensor) small = random_tensor (rand, IB_DTYPE_F32, -1, 1, 4, 8, 4, 3, 3);
  g_assert_cmpuint (ib_conv2d_scratch_size (4, 5, 5, &small->tensor, &same), ==, 4 * 9 * 25);
}

/* Upsampling */

static void
upsample_case (int c,
               int h,
               int w)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (c * 100 + h * 10 + w);
  gsize n = (gsize) c * h * w;
  g_autofree float *x = random_floats (rand, n, -1.0, 1.0);
  g_autofree float *y = guarded_new (4 * n);

  ib_upsample_nearest2x (y, x, c, h, w);
  assert_guard (y, 4 * n);
  for (int ch = 0; ch < c; ch++)
    for (int oy = 0; oy < 2 * h; oy++)
      for (int ox = 0; ox < 2 * w; ox++)
        g_assert_cmpfloat (y[((gsize) ch * 2 * h + oy) * 2 * w + ox], ==,
                           x[((gsize) ch * h + oy / 2) * w + ox / 2]);
}

static void
test_upsample_small (void)
{
  upsample_case (1, 1, 1);
  upsample_case (3, 1, 1);
  upsample_case (2, 3, 5);
  upsample_case (5, 5, 3);
  upsample_case (1, 1, 9);
}

static void
test_upsample_large (void)
{
  upsample_case (64, 33, 31);
}

/* Nearest code */

static void
reference_nearest (int32_t       *indices,
                   const float   *z,
                   int            n,
                   int            dim,
                   const float   *codebook,
                   const int32_t *candidates,
                   int            n_candidates)
{
  for (int i = 0; i < n; i++)
    {
      double best = INFINITY;
      int32_t best_j = -1;

      for (int j = 0; j < n_candidates; j++)
        {
          const float *e = codebook + (gsize) (candidates ? candidates[j] : j) * dim;
          double d = 0.0;

          for (int k = 0; k < dim; k++)
            d += ((double) z[(gsize) i * dim + k] - e[k]) * ((double) z[(gsize) i * dim + k] - e[k]);
          if (d < best)
            {
              best = d;
              best_j = j;
            }
        }
      indices[i] = best_j;
    }
}

static void
nearest_case (const float   *z,
              int            n,
              int            dim,
              const float   *codebook,
              const int32_t *candidates,
              int            n_candidates)
{
  g_autofree int32_t *got = g_new (int32_t, n + GUARD);
  g_autofree int32_t *expected = g_new (int32_t, n);

  for (int i = 0; i < n + GUARD; i++)
    got[i] = -7;
  ib_nearest_code (got, z, n, dim, codebook, candidates, n_candidates);
  reference_nearest (expected, z, n, dim, codebook, candidates, n_candidates);
  for (int i = 0; i < n; i++)
    if (got[i] != expected[i])
      g_error ("vector %d: code %d, expected %d", i, got[i], expected[i]);
  for (int i = n; i < n + GUARD; i++)
    g_assert_cmpint (got[i], ==, -7);
}

static void
test_nearest_all_rows (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (11);
  int dims[] = { 1, 3, 8, 37, 256 };

  for (guint d = 0; d < G_N_ELEMENTS (dims); d++)
    {
      int dim = dims[d];
      int n_codes = 53;
      int n = 97;
      g_autofree float *codebook = random_floats (rand, (gsize) n_codes * dim, -1.0, 1.0);
      g_autofree float *z = random_floats (rand, (gsize) n * dim, -1.2, 1.2);

      nearest_case (z, n, dim, codebook, NULL, n_codes);
      nearest_case (z, 1, dim, codebook, NULL, n_codes);
      nearest_case (z, n, dim, codebook, NULL, 1);
    }
}

static void
test_nearest_candidates (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (12);
  int dim = 19, n_codes = 64, n = 200;
  g_autofree float *codebook = random_floats (rand, (gsize) n_codes * dim, -1.0, 1.0);
  g_autofree float *z = random_floats (rand, (gsize) n * dim, -1.0, 1.0);
  int32_t candidates[23];

  /* Unordered, sparse, like a remap list. */
  for (guint j = 0; j < G_N_ELEMENTS (candidates); j++)
    candidates[j] = (int32_t) ((j * 37 + 5) % n_codes);
  nearest_case (z, n, dim, codebook, candidates, G_N_ELEMENTS (candidates));
  nearest_case (z, n, dim, codebook, candidates + 20, 3);
}

static void
test_nearest_ties (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (13);
  int dim = 16, n_codes = 10;
  g_autofree float *codebook = random_floats (rand, (gsize) n_codes * dim, -1.0, 1.0);
  g_autofree float *z = g_new (float, 4 * dim);
  int32_t indices[4];

  /* Rows 2 and 7 are equal; z sits on them, then between rows 4 and 5 exactly. */
  memcpy (codebook + 7 * dim, codebook + 2 * dim, dim * sizeof (float));
  memcpy (z, codebook + 2 * dim, dim * sizeof (float));
  for (int k = 0; k < dim; k++)
    {
      codebook[4 * dim + k] = (float) (k % 3);
      codebook[5 * dim + k] = (float) (k % 3) + (k == 0 ? 2.0f : 0.0f);
      z[dim + k] = (float) (k % 3) + (k == 0 ? 1.0f : 0.0f);
      z[2 * dim + k] = codebook[7 * dim + k] + 1e-3f;
    }
  memcpy (z + 3 * dim, codebook + 9 * dim, dim * sizeof (float));

  ib_nearest_code (indices, z, 4, dim, codebook, NULL, n_codes);
  g_assert_cmpint (indices[0], ==, 2);
  g_assert_cmpint (indices[1], ==, 4);
  g_assert_cmpint (indices[2], ==, 2);
  g_assert_cmpint (indices[3], ==, 9);

  /* Positions count, not rows: the first listed of two equal rows wins, even the higher row. */
  const int32_t listed[] = { 9, 7, 5, 4, 2 };
  ib_nearest_code (indices, z, 4, dim, codebook, listed, G_N_ELEMENTS (listed));
  g_assert_cmpint (indices[0], ==, 1);
  g_assert_cmpint (indices[1], ==, 2);
  g_assert_cmpint (indices[2], ==, 1);
  g_assert_cmpint (indices[3], ==, 0);
}

static void
test_nearest_cancellation (void)
{
  /* Every coordinate near 300: ||z||^2 + ||e||^2 - 2 z.e loses most digits in f32, yet codes 0.01 apart
   * in distance must still be told apart, and exact ties still go to the lowest position. */
  g_autoptr (GRand) rand = g_rand_new_with_seed (14);
  int dim = 64, n_codes = 40, n = 120;
  g_autofree float *codebook = g_new (float, (gsize) n_codes * dim);
  g_autofree float *z = g_new (float, (gsize) n * dim);

  for (int j = 0; j < n_codes; j++)
    for (int k = 0; k < dim; k++)
      codebook[j * dim + k] = 300.0f + (float) g_rand_int_range (rand, -4, 5) * 0.125f;
  for (int j = 30; j < 40; j++)
    memcpy (codebook + j * dim, codebook + (j - 30) * dim, dim * sizeof (float));
  for (int i = 0; i < n; i++)
    {
      const float *base = codebook + (i % n_codes) * dim;
      for (int k = 0; k < dim; k++)
        z[i * dim + k] = base[k] + (i % 3 == 0 ? 0.0f : (float) g_rand_int_range (rand, -2, 3) * 0.0625f);
    }
  nearest_case (z, n, dim, codebook, NULL, n_codes);
}

static void
test_nearest_blocks (void)
{
  /* More distances than one block holds. */
  g_autoptr (GRand) rand = g_rand_new_with_seed (15);
  int dim = 3, n_codes = 2048, n = 2100;
  g_autofree float *codebook = random_floats (rand, (gsize) n_codes * dim, -1.0, 1.0);
  g_autofree float *z = random_floats (rand, (gsize) n * dim, -1.0, 1.0);

  nearest_case (z, n, dim, codebook, NULL, n_codes);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (group_norm_cases); i++)
    g_test_add_data_func (group_norm_cases[i].path, &group_norm_cases[i], test_group_norm);
  for (guint i = 0; i < G_N_ELEMENTS (conv_cases); i++)
    g_test_add_data_func (conv_cases[i].path, &conv_cases[i], test_conv2d);
  g_test_add_func ("/model/ops/conv2d/scratch-size", test_conv2d_scratch_size);
  g_test_add_func ("/model/ops/upsample-nearest2x/small", test_upsample_small);
  g_test_add_func ("/model/ops/upsample-nearest2x/large", test_upsample_large);
  g_test_add_func ("/model/ops/nearest-code/all-rows", test_nearest_all_rows);
  g_test_add_func ("/model/ops/nearest-code/candidates", test_nearest_candidates);
  g_test_add_func ("/model/ops/nearest-code/ties-lowest-position", test_nearest_ties);
  g_test_add_func ("/model/ops/nearest-code/cancellation", test_nearest_cancellation);
  g_test_add_func ("/model/ops/nearest-code/blocks", test_nearest_blocks);

  return g_test_run ();
}
