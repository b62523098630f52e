/* test-resample.c: the Lanczos-3 resampler against a naive two-dimensional f64 reference, exact copies for
 * one-to-one mappings, the mirror rule, flat images, antialiasing, and the RGBA8 path. */
#include <math.h>
#include <string.h>

#include <glib.h>

#include "ib-resample.h"

static float *
random_image (int     width,
              int     height,
              int     n_channels,
              guint32 seed)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);
  float *image = g_new (float, (gsize) width * height * n_channels);
  for (gsize i = 0; i < (gsize) width * height * n_channels; i++)
    image[i] = (float) g_rand_double_range (rand, -1.0, 1.0);
  return image;
}

/* The same filter written as one direct sum over both axes, in f64. */
static void
reference_resample (const float  *src,
                    int           src_width,
                    int           src_height,
                    int           n_channels,
                    const IbRect *rect,
                    double       *dst,
                    int           dst_width,
                    int           dst_height)
{
  double scale_x = rect->width / dst_width, scale_y = rect->height / dst_height;
  double stretch_x = MAX (scale_x, 1.0), stretch_y = MAX (scale_y, 1.0);
  for (int y = 0; y < dst_height; y++)
    for (int x = 0; x < dst_width; x++)
      {
        double cx = rect->x + (x + 0.5) * scale_x - 0.5, cy = rect->y + (y + 0.5) * scale_y - 0.5;
        double sum[8] = { 0 }, total = 0;
        for (int j = (int) floor (cy - 3 * stretch_y) - 1; j <= (int) ceil (cy + 3 * stretch_y) + 1; j++)
          for (int i = (int) floor (cx - 3 * stretch_x) - 1; i <= (int) ceil (cx + 3 * stretch_x) + 1; i++)
            {
              double w = ib_lanczos3 ((i - cx) / stretch_x) * ib_lanczos3 ((j - cy) / stretch_y);
              int si = ib_resample_mirror (i, src_width), sj = ib_resample_mirror (j, src_height);
              for (int c = 0; c < n_channels; c++)
                sum[c] += w * src[((gsize) sj * src_width + si) * n_channels + c];
              total += w;
            }
        for (int c = 0; c < n_channels; c++)
          dst[((gsize) y * dst_width + x) * n_channels + c] = sum[c] / total;
      }
}

static void
test_kernel (void)
{
  g_assert_cmpfloat (ib_lanczos3 (0.0), ==, 1.0);
  for (int k = 1; k <= 4; k++)
    {
      g_assert_cmpfloat (ib_lanczos3 (k), ==, 0.0);
      g_assert_cmpfloat (ib_lanczos3 (-k), ==, 0.0);
    }
  g_assert_cmpfloat (ib_lanczos3 (3.5), ==, 0.0);
  for (double x = 0.05; x < 3.0; x += 0.1)
    {
      g_assert_cmpfloat (ib_lanczos3 (x), ==, ib_lanczos3 (-x));
      /* sinc(x) sinc(x / 3) from its definition. */
      double px = G_PI * x, expected = sin (px) / px * sin (px / 3) / (px / 3);
      g_assert_cmpfloat (fabs (ib_lanczos3 (x) - expected), <, 1e-12);
    }
  g_assert_cmpfloat (ib_lanczos3 (0.5), >, 0.5);
  g_assert_cmpfloat (ib_lanczos3 (1.5), <, 0.0);   /* the negative lobe that keeps edges sharp */
}

static void
test_mirror (void)
{
  static const int expected[] = { 2, 1, 0, 0, 1, 2, 2, 1, 0, 0, 1 };   /* i = -3 .. 7 for n = 3 */
  for (int i = -3; i <= 7; i++)
    g_assert_cmpint (ib_resample_mirror (i, 3), ==, expected[i + 3]);
  for (int i = -5; i <= 5; i++)
    g_assert_cmpint (ib_resample_mirror (i, 1), ==, 0);
  g_assert_cmpint (ib_resample_mirror (G_MININT, 7), >=, 0);
  g_assert_cmpint (ib_resample_mirror (G_MAXINT, 7), <, 7);
}

/* One-to-one mappings are exact copies, with the mirror outside the image. */
static void
test_identity (void)
{
  const int w = 13, h = 7, c = 3;
  g_autofree float *src = random_image (w, h, c, 1);
  g_autofree float *dst = g_new (float, w * h * c);

  IbRect whole = { 0, 0, w, h };
  ib_resample_f32 (src, w, h, w * c, c, &whole, dst, w, h);
  g_assert_cmpmem (src, w * h * c * sizeof (float), dst, w * h * c * sizeof (float));

  /* A window sticking out on every side. */
  const int ow = 21, oh = 12;
  g_autofree float *out = g_new (float, ow * oh * c);
  IbRect shifted = { -4, -3, ow, oh };
  ib_resample_f32 (src, w, h, w * c, c, &shifted, out, ow, oh);
  for (int y = 0; y < oh; y++)
    for (int x = 0; x < ow; x++)
      for (int k = 0; k < c; k++)
        {
          int sx = ib_resample_mirror (x - 4, w), sy = ib_resample_mirror (y - 3, h);
          g_assert_cmpfloat (out[(y * ow + x) * c + k], ==, src[(sy * w + sx) * c + k]);
        }
}

static void
test_against_reference (void)
{
  static const struct { int sw, sh, c; IbRect rect; int dw, dh; } cases[] = {
    { 7, 5, 3, { 0, 0, 7, 5 }, 3, 11 },              /* shrink one axis, stretch the other */
    { 13, 9, 1, { 1.25, -0.5, 10.5, 7.75 }, 17, 4 },   /* fractional rectangle */
    { 40, 31, 3, { 0, 0, 40, 31 }, 9, 7 },             /* strong shrink: widened kernel */
    { 6, 6, 4, { -3, -3, 12, 12 }, 25, 25 },           /* mostly padding */
    { 1, 1, 3, { 0, 0, 1, 1 }, 5, 3 },                 /* a single pixel */
    { 16, 1, 2, { 2, 0, 12, 1 }, 5, 2 },               /* one row */
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      int sw = cases[i].sw, sh = cases[i].sh, c = cases[i].c, dw = cases[i].dw, dh = cases[i].dh;
      g_autofree float *src = random_image (sw, sh, c, 10 + i);
      /* A guard after the output must come back untouched. */
      g_autofree float *dst = g_new (float, dw * dh * c + 16);
      g_autofree double *expected = g_new (double, dw * dh * c);
      for (int k = 0; k < 16; k++)
        dst[dw * dh * c + k] = -777.0f;
      ib_resample_f32 (src, sw, sh, sw * c, c, &cases[i].rect, dst, dw, dh);
      reference_resample (src, sw, sh, c, &cases[i].rect, expected, dw, dh);
      for (int k = 0; k < dw * dh * c; k++)
        g_assert_cmpfloat (fabs (dst[k] - expected[k]), <, 2e-5);
      for (int k = 0; k < 16; k++)
        g_assert_cmpfloat (dst[dw * dh * c + k], ==, -777.0f);
    }
}

static void
test_flat_stays_flat (void)
{
  const int w = 37, h = 23;
  g_autofree float *src = g_new (float, w * h);
  for (int i = 0; i < w * h; i++)
    src[i] = 0.3125f;
  static const int sizes[][2] = { { 5, 3 }, { 37, 23 }, { 100, 71 }, { 1, 1 } };
  for (gsize s = 0; s < G_N_ELEMENTS (sizes); s++)
    {
      int dw = sizes[s][0], dh = sizes[s][1];
      g_autofree float *dst = g_new (float, dw * dh);
      IbRect rect = { -2.5, 1.75, w + 3.0, h - 4.0 };
      ib_resample_f32 (src, w, h, w, 1, &rect, dst, dw, dh);
      for (int i = 0; i < dw * dh; i++)
        g_assert_cmpfloat (fabs (dst[i] - 0.3125f), <, 1e-6);
    }
}

/* A one-pixel checkerboard shrunk 4x must come out grey, not as a moire pattern. */
static void
test_antialias (void)
{
  const int n = 64, m = 16;
  g_autofree float *src = g_new (float, n * n);
  g_autofree float *dst = g_new (float, m * m);
  for (int y = 0; y < n; y++)
    for (int x = 0; x < n; x++)
      src[y * n + x] = (x + y) % 2 ? 1.0f : -1.0f;
  IbRect rect = { 0, 0, n, n };
  ib_resample_f32 (src, n, n, n, 1, &rect, dst, m, m);
  /* (The mirror breaks the alternation at the border, so look inside.) */
  for (int y = 1; y < m - 1; y++)
    for (int x = 1; x < m - 1; x++)
      g_assert_cmpfloat (fabs (dst[y * m + x]), <, 0.01);

  /* And a smooth image survives a round trip through a 2x shrink and stretch. */
  for (int y = 0; y < n; y++)
    for (int x = 0; x < n; x++)
      src[y * n + x] = (float) (sin (x * 0.15) * cos (y * 0.11));
  g_autofree float *half = g_new (float, 32 * 32), *back = g_new (float, n * n);
  IbRect small = { 0, 0, 32, 32 };
  ib_resample_f32 (src, n, n, n, 1, &rect, half, 32, 32);
  ib_resample_f32 (half, 32, 32, 32, 1, &small, back, n, n);
  for (int y = 4; y < n - 4; y++)
    for (int x = 4; x < n - 4; x++)
      g_assert_cmpfloat (fabs (back[y * n + x] - src[y * n + x]), <, 0.02);
}

static void
test_rgba8 (void)
{
  const int w = 11, h = 9, stride = w * 4 + 3;
  g_autoptr (GRand) rand = g_rand_new_with_seed (4);
  g_autofree guint8 *rgba = g_new (guint8, stride * h);
  g_autofree float *rgb = g_new (float, w * h * 3);
  for (int i = 0; i < stride * h; i++)
    rgba[i] = (guint8) g_rand_int_range (rand, 0, 256);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int c = 0; c < 3; c++)
        rgb[(y * w + x) * 3 + c] = rgba[y * stride + x * 4 + c] / 127.5f - 1.0f;

  IbRect rect = { 0.5, -1, 8, 12 };
  g_autofree float *a = g_new (float, 6 * 5 * 3), *b = g_new (float, 6 * 5 * 3);
  ib_resample_rgba8_to_rgb (rgba, w, h, stride, &rect, a, 6, 5);
  ib_resample_f32 (rgb, w, h, w * 3, 3, &rect, b, 6, 5);
  g_assert_cmpmem (a, 6 * 5 * 3 * sizeof (float), b, 6 * 5 * 3 * sizeof (float));

  /* 0 and 255 map to -1 and 1 exactly. */
  guint8 extremes[8] = { 0, 255, 0, 17, 255, 0, 255, 99 };
  float out[6];
  IbRect whole = { 0, 0, 2, 1 };
  ib_resample_rgba8_to_rgb (extremes, 2, 1, 8, &whole, out, 2, 1);
  g_assert_cmpfloat (out[0], ==, -1.0f);
  g_assert_cmpfloat (out[1], ==, 1.0f);
  g_assert_cmpfloat (out[3], ==, 1.0f);
  g_assert_cmpfloat (out[4], ==, -1.0f);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/model/resample/kernel", test_kernel);
  g_test_add_func ("/model/resample/mirror", test_mirror);
  g_test_add_func ("/model/resample/identity", test_identity);
  g_test_add_func ("/model/resample/against-reference", test_against_reference);
  g_test_add_func ("/model/resample/flat-stays-flat", test_flat_stays_flat);
  g_test_add_func ("/model/resample/antialias", test_antialias);
  g_test_add_func ("/model/resample/rgba8", test_rgba8);
  return g_test_run ();
}
