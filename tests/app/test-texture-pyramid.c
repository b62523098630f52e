/* test-texture-pyramid.c: the canvas's picture pyramid: level sizes down to 1 x 1, each pixel the mean of
 * its 2 x 2 block (odd edges their own neighbours), premultiplied (from a texture or from straight RGBA
 * pixels), the level chosen for a zoom, thumbnails, and surfaces scaled to a size. */
#include <gtk/gtk.h>
#include <math.h>

#include "ib-texture-pyramid.h"

/* RGBA (straight alpha) of pixel (x, y) of the test picture. */
static void
picture_pixel (int     x,
               int     y,
               guint8 *rgba)
{
  rgba[0] = (guint8) (x * 37 + y * 11);
  rgba[1] = (guint8) (x * 5 + y * 53);
  rgba[2] = (guint8) (x * y);
  rgba[3] = (x + y) % 3 == 0 ? 255 : 128;
}

/* The test picture's straight RGBA rows, stride bytes apart (a little more than a row). */
static guint8 *
make_pixels (int    width,
             int    height,
             gsize *stride)
{
  *stride = (gsize) width * 4 + 12;
  guint8 *pixels = g_malloc0 (*stride * height);
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      picture_pixel (x, y, pixels + y * *stride + (gsize) x * 4);
  return pixels;
}

static GdkTexture *
make_picture (int width,
              int height)
{
  gsize stride;
  guint8 *pixels = make_pixels (width, height, &stride);
  g_autoptr (GBytes) bytes = g_bytes_new_take (pixels, stride * height);
  return gdk_memory_texture_new (width, height, GDK_MEMORY_R8G8B8A8, bytes, stride);
}

/* A texture's pixels as premultiplied RGBA floats in 0..255. */
static float *
premultiplied (GdkTexture *texture)
{
  int width = gdk_texture_get_width (texture), height = gdk_texture_get_height (texture);
  g_autofree guint8 *bgra = g_malloc ((gsize) width * height * 4);
  float *out = g_new (float, (gsize) width * height * 4);

  gdk_texture_download (texture, bgra, (gsize) width * 4);     /* premultiplied B G R A on little-endian */
  for (gsize i = 0; i < (gsize) width * height; i++)
    {
      out[4 * i + 0] = bgra[4 * i + 2];
      out[4 * i + 1] = bgra[4 * i + 1];
      out[4 * i + 2] = bgra[4 * i + 0];
      out[4 * i + 3] = bgra[4 * i + 3];
    }
  return out;
}

/* Each texel of texture is the mean of its block x block block of original (premultiplied floats of a width x
 * height picture), clipped at the edges; every 5th column and 7th row is checked. */
static void
assert_block_means (GdkTexture  *texture,
                    const float *original,
                    int          width,
                    int          height,
                    int          block,
                    const char  *what)
{
  int w = gdk_texture_get_width (texture), h = gdk_texture_get_height (texture);
  g_autofree float *here = premultiplied (texture);

  g_assert_cmpint (w, ==, (width + block - 1) / block);
  g_assert_cmpint (h, ==, (height + block - 1) / block);
  for (int y = 0; y < h; y += 7)
    for (int x = 0; x < w; x += 5)
      for (int c = 0; c < 4; c++)
        {
          double sum = 0;
          int n = 0;
          for (int yy = y * block; yy < MIN ((y + 1) * block, height); yy++)
            for (int xx = x * block; xx < MIN ((x + 1) * block, width); xx++, n++)
              sum += original[((gsize) yy * width + xx) * 4 + c];
          if (fabs (here[((gsize) y * w + x) * 4 + c] - sum / n) > 1.0)
            g_error ("%s: pixel (%d, %d) channel %d: %g, expected %g", what, x, y, c, here[((gsize) y * w + x) * 4 + c],
                     sum / n);
        }
}

/* data: the pyramid made from the pixels (ib_texture_pyramid_new_for_rgba), else from a texture. */
static void
test_levels (gconstpointer data)
{
  const int width = 37, height = 20;
  gsize stride;
  g_autofree guint8 *pixels = make_pixels (width, height, &stride);
  g_autoptr (GdkTexture) picture = make_picture (width, height);
  g_autoptr (IbTexturePyramid) pyramid = data != NULL ? ib_texture_pyramid_new_for_rgba (pixels, width, height, stride)
                                                      : ib_texture_pyramid_new (picture);
  const int sizes[][2] = { { 37, 20 }, { 19, 10 }, { 10, 5 }, { 5, 3 }, { 3, 2 }, { 2, 1 }, { 1, 1 } };

  for (guint level = 0; level < G_N_ELEMENTS (sizes); level++)
    {
      GdkTexture *texture = ib_texture_pyramid_get_level (pyramid, level);
      g_assert_cmpint (gdk_texture_get_width (texture), ==, sizes[level][0]);
      g_assert_cmpint (gdk_texture_get_height (texture), ==, sizes[level][1]);
    }
  /* Past the last level: the 1 x 1 one. */
  g_assert_true (ib_texture_pyramid_get_level (pyramid, 40) == ib_texture_pyramid_get_level (pyramid, 6));

  /* Level 0 is the picture; each further level the mean of 2 x 2 blocks of the one before. */
  g_autofree float *original = premultiplied (picture);
  g_autofree float *level0 = premultiplied (ib_texture_pyramid_get_level (pyramid, 0));
  for (int i = 0; i < width * height * 4; i++)
    g_assert_cmpfloat (fabsf (original[i] - level0[i]), <=, 0.5f);
  /* From the pixels, each level is made from them: the mean of its 2^n x 2^n block. */
  if (data != NULL)
    {
      for (guint level = 1; level < G_N_ELEMENTS (sizes); level++)
        assert_block_means (ib_texture_pyramid_get_level (pyramid, level), original, width, height, 1 << level,
                            "level from the pixels");
      return;
    }
  for (guint level = 1; level < G_N_ELEMENTS (sizes); level++)
    {
      g_autofree float *above = premultiplied (ib_texture_pyramid_get_level (pyramid, level - 1));
      g_autofree float *here = premultiplied (ib_texture_pyramid_get_level (pyramid, level));
      int aw = sizes[level - 1][0], ah = sizes[level - 1][1], w = sizes[level][0], h = sizes[level][1];
      for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
          for (int c = 0; c < 4; c++)
            {
              int x0 = 2 * x, x1 = MIN (2 * x + 1, aw - 1), y0 = 2 * y, y1 = MIN (2 * y + 1, ah - 1);
              float mean = (above[(y0 * aw + x0) * 4 + c] + above[(y0 * aw + x1) * 4 + c] +
                            above[(y1 * aw + x0) * 4 + c] + above[(y1 * aw + x1) * 4 + c]) / 4;
              if (fabsf (here[(y * w + x) * 4 + c] - mean) > 1.0f)
                g_error ("level %u pixel (%d, %d) channel %d: %g, expected %g", level, x, y, c,
                         here[(y * w + x) * 4 + c], mean);
            }
    }
}

/* Never shrunk by more than 2x when drawn: the level whose scale is the smallest still at least the zoom. */
static void
test_for_zoom (void)
{
  g_autoptr (GdkTexture) picture = make_picture (64, 48);
  g_autoptr (IbTexturePyramid) pyramid = ib_texture_pyramid_new (picture);
  const struct { double zoom; int width; } cases[] = {
    { 4.0, 64 }, { 1.0, 64 }, { 0.99, 64 }, { 0.5, 32 }, { 0.3, 32 }, { 0.25, 16 }, { 0.2, 16 }, { 0.01, 1 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    g_assert_cmpint (gdk_texture_get_width (ib_texture_pyramid_for_zoom (pyramid, cases[i].zoom)), ==,
                     cases[i].width);
}

/* Thumbnails: the smallest level still as large as asked for (small pictures as they are), each texel the mean
 * of its block of the picture. */
static void
test_thumbnail (void)
{
  const int width = 300, height = 200;
  gsize stride;
  g_autofree guint8 *pixels = make_pixels (width, height, &stride);
  g_autoptr (GdkTexture) picture = make_picture (width, height);
  g_autofree float *original = premultiplied (picture);
  const struct { int max_side; int width; int block; } cases[] = {
    { 400, 300, 1 }, { 300, 300, 1 }, { 150, 150, 2 }, { 144, 150, 2 }, { 100, 150, 2 }, { 75, 75, 4 }, { 1, 1, 512 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GdkTexture) thumbnail = ib_texture_thumbnail_for_rgba (pixels, width, height, stride,
                                                                         cases[i].max_side);
      g_assert_cmpint (gdk_texture_get_width (thumbnail), ==, cases[i].width);
      assert_block_means (thumbnail, original, width, height, cases[i].block, "thumbnail");
    }
}

/* A level made elsewhere (the job runner's worker) is the level the pyramid draws: the same surface, and the
 * same pixels as the pyramid makes itself; one for another size is refused. */
static void
test_prepared_level (void)
{
  const int width = 300, height = 200;
  gsize stride;
  g_autofree guint8 *pixels = make_pixels (width, height, &stride);
  g_autoptr (IbTexturePyramid) own = ib_texture_pyramid_new_for_rgba (pixels, width, height, stride);
  g_autoptr (IbTexturePyramid) given = ib_texture_pyramid_new_for_rgba (pixels, width, height, stride);
  cairo_surface_t *made = ib_texture_level_surface_for_rgba (pixels, width, height, stride, 2);

  ib_texture_pyramid_set_surface (given, 2, made);
  g_assert_true (ib_texture_pyramid_get_surface (given, 2) == made);
  cairo_surface_t *expected = ib_texture_pyramid_get_surface (own, 2);
  int rows = cairo_image_surface_get_height (made), row_bytes = cairo_image_surface_get_width (made) * 4;
  g_assert_cmpint (rows, ==, 50);
  for (int y = 0; y < rows; y++)
    g_assert_cmpmem (cairo_image_surface_get_data (made) + y * cairo_image_surface_get_stride (made), row_bytes,
                     cairo_image_surface_get_data (expected) + y * cairo_image_surface_get_stride (expected),
                     row_bytes);
  cairo_surface_destroy (made);

  if (g_test_undefined ())
    {
      cairo_surface_t *wrong = ib_texture_level_surface_for_rgba (pixels, width, height, stride, 1);
      g_test_expect_message (G_LOG_DOMAIN, G_LOG_LEVEL_CRITICAL, "*cairo_image_surface_get_width*");
      ib_texture_pyramid_set_surface (given, 3, wrong);
      g_test_assert_expected_messages ();
      g_assert_true (ib_texture_pyramid_get_surface (given, 3) != wrong);
      cairo_surface_destroy (wrong);
    }
}

/* An opaque ARGB32 surface: a one-pixel checkerboard of black and white, with its left half's white red. */
static cairo_surface_t *
make_checkerboard (int width,
                   int height)
{
  cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, width, height);
  guint8 *data = cairo_image_surface_get_data (surface);

  cairo_surface_flush (surface);
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      {
        gboolean light = (x + y) % 2 == 0;
        guint32 white = x < width / 2 ? 0xffff0000u : 0xffffffffu;
        ((guint32 *) (data + (gsize) y * cairo_image_surface_get_stride (surface)))[x] = light ? white : 0xff000000u;
      }
  cairo_surface_mark_dirty (surface);
  return surface;
}

/* Scaled to any size, shrunk by far or enlarged: the size asked for, and a fine pattern shrinks to its mean
 * (shrunk straight by a bilinear filter it would alias into stripes), on each side of the colour edge. */
static void
test_scaled (void)
{
  const int side = 320;
  cairo_surface_t *source = make_checkerboard (side, side);
  const int sizes[] = { 146, 72, 9, 400 };

  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      int n = sizes[i];
      cairo_surface_t *scaled = ib_surface_scaled (source, n, n);
      g_assert_cmpint (cairo_image_surface_get_width (scaled), ==, n);
      g_assert_cmpint (cairo_image_surface_get_height (scaled), ==, n);
      if (n < side / 2)
        for (int y = 0; y < n; y++)
          for (int x = 0; x < n; x++)
            {
              if (ABS (2 * x + 1 - n) <= 2)
                continue;                       /* the edge's pixels mix both sides */
              const guint8 *p = cairo_image_surface_get_data (scaled) + (gsize) y * cairo_image_surface_get_stride (scaled);
              guint32 pixel = ((const guint32 *) p)[x];
              int a = pixel >> 24, r = (pixel >> 16) & 0xff, g = (pixel >> 8) & 0xff, b = pixel & 0xff;
              g_assert_cmpint (a, ==, 255);
              g_assert_cmpint (ABS (r - 128), <=, 8);
              g_assert_cmpint (ABS (g - (2 * x < n ? 0 : 128)), <=, 8);
              g_assert_cmpint (ABS (b - (2 * x < n ? 0 : 128)), <=, 8);
            }
      cairo_surface_destroy (scaled);
    }
  cairo_surface_destroy (source);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_data_func ("/app/canvas/pyramid/levels", NULL, test_levels);
  g_test_add_data_func ("/app/canvas/pyramid/levels-from-pixels", GINT_TO_POINTER (TRUE), test_levels);
  g_test_add_func ("/app/canvas/pyramid/for-zoom", test_for_zoom);
  g_test_add_func ("/app/canvas/pyramid/thumbnail", test_thumbnail);
  g_test_add_func ("/app/canvas/pyramid/prepared-level", test_prepared_level);
  g_test_add_func ("/app/canvas/pyramid/scaled", test_scaled);
  return g_test_run ();
}
