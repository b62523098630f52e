/* test-vulkan-image.c: the Vulkan engine's image kernels against the CPU engine's (model/ib-ops-image.c):
 * convolutions 3x3 and 1x1 with symmetric padding and the VQGAN downsampler's stride 2 with right/bottom
 * padding, f32/f16/bf16 weights, sizes that are not tile multiples; GroupNorm (+ swish), nearest 2x
 * upsampling, the nearest-code search with and without a candidate list. Guards after outputs, validation on. */
#include <math.h>
#include <string.h>

#include "ib-ops.h"
#include "ib-test-vulkan.h"
#include "ib-vulkan-ops.h"

#define TOLERANCE 2e-5

static void
fill_random (GRand *rand,
             float *p,
             gsize  n,
             double scale)
{
  for (gsize i = 0; i < n; i++)
    p[i] = (float) (g_rand_double_range (rand, -1.0, 1.0) * scale);
}

typedef struct
{
  IbTensor tensor;
  gpointer bytes;
} HostTensor;

static HostTensor *
host_tensor_new (GRand         *rand,
                 IbDType        dtype,
                 int            n_dims,
                 const int64_t *shape,
                 double         scale)
{
  HostTensor *t = g_new0 (HostTensor, 1);
  int64_t n = 1;

  for (int i = 0; i < n_dims; i++)
    n *= t->tensor.shape[i] = shape[i];
  g_autofree float *values = g_new (float, n);
  fill_random (rand, values, n, scale);
  t->tensor.name = "test";
  t->tensor.dtype = dtype;
  t->tensor.n_dims = n_dims;
  t->tensor.n_elements = n;
  t->bytes = g_malloc (n * ib_dtype_size (dtype));
  for (int64_t i = 0; i < n; i++)
    switch (dtype)
      {
      case IB_DTYPE_F32: ((float *) t->bytes)[i] = values[i]; break;
      case IB_DTYPE_F16: ((guint16 *) t->bytes)[i] = ib_f32_to_f16 (values[i]); break;
      case IB_DTYPE_BF16: ((guint16 *) t->bytes)[i] = ib_f32_to_bf16 (values[i]); break;
      default: g_assert_not_reached ();
      }
  t->tensor.data = t->bytes;
  return t;
}

static void
host_tensor_free (HostTensor *t)
{
  g_free (t->bytes);
  g_free (t);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HostTensor, host_tensor_free)

static IbVkTensor *
upload (const IbTensor *tensor,
        gboolean        widen)
{
  g_autoptr (GError) error = NULL;
  IbVkTensor *t = ib_vk_tensor_upload (ib_test_vulkan_device (), ib_test_vulkan_arena (), tensor, widen, &error);
  g_assert_no_error (error);
  return t;
}

static IbVkView
upload_floats (const void *values,
               gsize       n)
{
  IbVkView view = ib_test_vulkan_guarded (n);
  ib_test_vulkan_write (&view, values, n * 4);
  return view;
}

static void
assert_close (const float *got,
              const float *want,
              gsize        n,
              const char  *what)
{
  double rel = ib_test_relative_error (got, want, n), worst = ib_test_max_error (got, want, n);
  if (!(rel <= TOLERANCE && worst <= 10 * TOLERANCE))
    g_error ("%s: normalized error %.3g (max %.3g) above %.3g", what, rel, worst, TOLERANCE);
}

typedef struct
{
  int c_in, h, w, c_out, k;
  IbConvGeometry geometry;
} ConvCase;

static const ConvCase conv_cases[] = {
  { 1, 1, 1, 1, 1, { 1, 0, 0, 0, 0 } },
  { 3, 16, 16, 8, 3, { 1, 1, 1, 1, 1 } },                 /* conv_in */
  { 5, 7, 9, 6, 3, { 2, 0, 0, 1, 1 } },                   /* Downsample: stride 2, pad right/bottom */
  { 32, 8, 8, 64, 3, { 2, 0, 0, 1, 1 } },
  { 8, 5, 5, 3, 1, { 1, 0, 0, 0, 0 } },                   /* nin_shortcut, quant_conv */
  { 16, 9, 9, 17, 3, { 1, 1, 1, 1, 1 } },
  { 13, 11, 3, 70, 3, { 1, 1, 1, 1, 1 } },
  { 64, 16, 16, 3, 3, { 1, 1, 1, 1, 1 } },                /* conv_out */
};

/* The same convolution as a feature map split across views computes it: the input channels in two parts, the
 * output channels in three, each output part the sum of both input parts (the bias with the first). */
static void
conv2d_by_parts (const ConvCase   *cc,
                 const float      *x,
                 const IbVkTensor *weight,
                 const IbVkTensor *bias,
                 const float      *start,
                 const float      *want,
                 int               out_plane,
                 const char       *what)
{
  IbVkDevice *device = ib_test_vulkan_device ();
  g_autoptr (GError) error = NULL;
  gsize plane = (gsize) cc->h * cc->w;
  int in_cut = cc->c_in / 2, out_cuts[] = { 0, cc->c_out / 3, 2 * cc->c_out / 3, cc->c_out };
  IbVkView x0 = upload_floats (x, in_cut * plane);
  IbVkView x1 = upload_floats (x + in_cut * plane, (cc->c_in - in_cut) * plane);
  IbVkChannels xs[] = { { &x0, 0, in_cut }, { &x1, in_cut, cc->c_in - in_cut } };

  for (int j = 0; j < 3; j++)
    {
      int first = out_cuts[j], count = out_cuts[j + 1] - first;
      gsize n = (gsize) count * out_plane;
      IbVkView yv = ib_test_vulkan_guarded (n);
      IbVkChannels ys = { &yv, first, count };

      if (start != NULL)
        ib_test_vulkan_write (&yv, start + (gsize) first * out_plane, n * 4);
      for (int i = 0; i < 2; i++)
        {
          gboolean ok = ib_vk_conv2d_channels (device, &ys, &xs[i], cc->c_in, cc->h, cc->w, weight,
                                               i == 0 ? bias : NULL, &cc->geometry, start != NULL || i > 0, &error);
          g_assert_no_error (error);
          g_assert_true (ok);
        }
      g_autofree float *got = ib_test_vulkan_read (&yv, n);
      g_autofree char *part = g_strdup_printf ("%s, output channels %d to %d by parts", what, first, first + count - 1);
      assert_close (got, want + (gsize) first * out_plane, n, part);
    }

  /* A range past the weight's channels is refused. */
  IbVkChannels past = { &x1, in_cut + 1, cc->c_in - in_cut };
  IbVkChannels ys = { &x0, 0, 1 };
  g_assert_false (ib_vk_conv2d_channels (device, &ys, &past, cc->c_in, cc->h, cc->w, weight, NULL, &cc->geometry,
                                         FALSE, &error));
  g_assert_error (error, IB_VK_ERROR, IB_VK_ERROR_ARGUMENT);
}

/* Every convolution case with weights of dtype, against the CPU's; label names the tile choice. */
static void
check_conv2d (GRand      *rand,
              IbDType     dtype,
              const char *label)
{
  IbVkDevice *device = ib_test_vulkan_device ();

  for (guint c = 0; c < G_N_ELEMENTS (conv_cases); c++)
    {
      const ConvCase *cc = &conv_cases[c];
      int64_t wshape[4] = { cc->c_out, cc->c_in, cc->k, cc->k }, bshape[1] = { cc->c_out };
      g_autoptr (HostTensor) w = host_tensor_new (rand, dtype, 4, wshape, 0.5);
      g_autoptr (HostTensor) b = host_tensor_new (rand, IB_DTYPE_F32, 1, bshape, 0.5);
      gsize nx = (gsize) cc->c_in * cc->h * cc->w;
      g_autofree float *x = g_new (float, nx);
      int oh, ow, goh, gow;
      gboolean accumulate = c % 2 == 1;
      g_autoptr (GError) error = NULL;

      fill_random (rand, x, nx, 1.0);
      int ref_h = (cc->h + cc->geometry.pad_top + cc->geometry.pad_bottom - cc->k) / cc->geometry.stride + 1;
      int ref_w = (cc->w + cc->geometry.pad_left + cc->geometry.pad_right - cc->k) / cc->geometry.stride + 1;
      gsize ny = (gsize) cc->c_out * ref_h * ref_w;
      g_autofree float *want = g_new (float, ny);
      g_autofree float *start = g_new (float, ny);
      fill_random (rand, start, ny, 1.0);
      ib_conv2d (want, x, cc->c_in, cc->h, cc->w, &w->tensor, c % 3 ? &b->tensor : NULL, &cc->geometry, &oh, &ow);
      g_assert_cmpint (oh, ==, ref_h);
      if (accumulate)
        for (gsize i = 0; i < ny; i++)
          want[i] += start[i];

      g_autoptr (IbVkTensor) wd = upload (&w->tensor, FALSE);
      g_autoptr (IbVkTensor) bd = upload (&b->tensor, TRUE);
      IbVkView xd = upload_floats (x, nx), yd = ib_test_vulkan_guarded (ny);
      if (accumulate)
        ib_test_vulkan_write (&yd, start, ny * 4);
      g_assert_true (ib_vk_conv2d (device, &yd, &xd, cc->c_in, cc->h, cc->w, wd, c % 3 ? bd : NULL, &cc->geometry,
                                   accumulate, &goh, &gow, &error));
      g_assert_no_error (error);
      g_assert_cmpint (goh, ==, oh);
      g_assert_cmpint (gow, ==, ow);
      g_autofree float *got = ib_test_vulkan_read (&yd, ny);
      g_autofree char *what = g_strdup_printf ("conv %s case %u (%s)", ib_dtype_name (dtype), c, label);
      assert_close (got, want, ny, what);
      if (cc->c_in >= 2 && cc->c_out >= 3)
        conv2d_by_parts (cc, x, wd, c % 3 ? bd : NULL, accumulate ? start : NULL, want, oh * ow, what);
      ib_test_vulkan_reset ();
    }
}

static void
test_conv2d (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (31);

  for (IbDType dtype = IB_DTYPE_F32; dtype <= IB_DTYPE_BF16; dtype++)
    check_conv2d (rand, dtype, "tile chosen per product");
}

/* Each of the matrix product's tiles, forced (the automatic choice takes only some of them on a given GPU). */
static void
test_conv2d_tiles (void)
{
  IbVkDevice *device = ib_test_vulkan_device ();
  g_autoptr (GRand) rand = g_rand_new_with_seed (33);

  for (int tile = 0; tile < ib_vk_matmul_tile_count (); tile++)
    {
      g_autofree char *label = g_strdup_printf ("tile %d", tile);
      g_assert_true (ib_vk_set_matmul_kernel (device, tile, TRUE));
      check_conv2d (rand, IB_DTYPE_F32, label);
    }
  g_assert_true (ib_vk_set_matmul_kernel (device, -1, TRUE));
}

static void
test_group_norm (void)
{
  IbVkDevice *device = ib_test_vulkan_device ();
  g_autoptr (GRand) rand = g_rand_new_with_seed (32);
  static const int shapes[][3] = { /* channels, hw, groups */ { 32, 1, 32 }, { 64, 49, 32 }, { 96, 256, 32 },
                                   { 6, 17, 3 }, { 128, 1024, 32 } };

  for (guint s = 0; s < G_N_ELEMENTS (shapes); s++)
    for (int swish = 0; swish < 2; swish++)
      {
        int channels = shapes[s][0], hw = shapes[s][1], groups = shapes[s][2];
        gsize n = (gsize) channels * hw;
        int64_t shape[1] = { channels };
        g_autoptr (HostTensor) gamma = host_tensor_new (rand, IB_DTYPE_F32, 1, shape, 1.0);
        g_autoptr (HostTensor) beta = host_tensor_new (rand, IB_DTYPE_BF16, 1, shape, 1.0);
        g_autofree float *x = g_new (float, n), *want = g_new (float, n);
        g_autoptr (GError) error = NULL;

        fill_random (rand, x, n, 3.0);
        for (gsize i = 0; i < n; i++)
          x[i] += 2.0f;
        ib_group_norm (want, x, channels, hw, groups, &gamma->tensor, &beta->tensor, 1e-6f);
        if (swish)
          ib_swish (want, n);
        g_autoptr (IbVkTensor) gd = upload (&gamma->tensor, TRUE);
        g_autoptr (IbVkTensor) bd = upload (&beta->tensor, TRUE);
        IbVkView xd = upload_floats (x, n);
        IbVkView yd = swish ? xd : ib_test_vulkan_guarded (n);       /* in place once */
        g_assert_true (ib_vk_group_norm (device, &yd, &xd, channels, hw, groups, gd, bd, 1e-6f, swish, &error));
        g_assert_no_error (error);
        g_autofree float *got = ib_test_vulkan_read (&yd, n);
        assert_close (got, want, n, "group norm");
        ib_test_vulkan_reset ();
      }
}

static void
test_upsample (void)
{
  IbVkDevice *device = ib_test_vulkan_device ();
  g_autoptr (GRand) rand = g_rand_new_with_seed (33);
  static const int shapes[][3] = { { 1, 1, 1 }, { 3, 5, 7 }, { 16, 16, 16 } };

  for (guint s = 0; s < G_N_ELEMENTS (shapes); s++)
    {
      int c = shapes[s][0], h = shapes[s][1], w = shapes[s][2];
      gsize n = (gsize) c * h * w;
      g_autofree float *x = g_new (float, n), *want = g_new (float, 4 * n);
      g_autoptr (GError) error = NULL;

      fill_random (rand, x, n, 1.0);
      ib_upsample_nearest2x (want, x, c, h, w);
      IbVkView xd = upload_floats (x, n), yd = ib_test_vulkan_guarded (4 * n);
      g_assert_true (ib_vk_upsample_nearest2x (device, &yd, &xd, c, h, w, &error));
      g_assert_no_error (error);
      g_autofree float *got = ib_test_vulkan_read (&yd, 4 * n);
      g_assert_true (memcmp (got, want, 4 * n * sizeof (float)) == 0);
      ib_test_vulkan_reset ();
    }
}

static void
test_nearest_code (void)
{
  IbVkDevice *device = ib_test_vulkan_device ();
  g_autoptr (GRand) rand = g_rand_new_with_seed (34);
  static const int shapes[][3] = { /* n, dim, codes */ { 1, 1, 1 }, { 7, 3, 5 }, { 256, 32, 1024 }, { 33, 256, 100 } };

  for (guint s = 0; s < G_N_ELEMENTS (shapes); s++)
    for (int listed = 0; listed < 2; listed++)
      {
        int n = shapes[s][0], dim = shapes[s][1], n_codes = shapes[s][2];
        int64_t shape[2] = { n_codes, dim };
        g_autoptr (HostTensor) book = host_tensor_new (rand, IB_DTYPE_F32, 2, shape, 1.0);
        const float *codes = book->bytes;
        g_autofree float *z = g_new (float, (gsize) n * dim);
        g_autofree int32_t *want = g_new (int32_t, n);
        int n_candidates = listed ? MAX (1, n_codes / 2) : n_codes;
        g_autofree int32_t *candidates = g_new (int32_t, n_candidates);
        g_autoptr (GError) error = NULL;

        for (int j = 0; j < n_candidates; j++)
          candidates[j] = listed ? (j * 2 + 1) % n_codes : j;
        /* Each vector near some code, so that the nearest is clear of rounding. */
        for (int i = 0; i < n; i++)
          {
            int near = g_rand_int_range (rand, 0, n_codes);
            for (int d = 0; d < dim; d++)
              z[(gsize) i * dim + d] = codes[(gsize) near * dim + d] + (float) g_rand_double_range (rand, -0.3, 0.3);
          }
        ib_nearest_code (want, z, n, dim, codes, listed ? candidates : NULL, n_candidates);
        g_autoptr (IbVkTensor) bd = upload (&book->tensor, TRUE);
        IbVkView zd = upload_floats (z, (gsize) n * dim), cd = upload_floats (candidates, n_candidates);
        IbVkView out = ib_test_vulkan_guarded (n);
        g_assert_true (ib_vk_nearest_code (device, &out, &zd, n, dim, bd, listed ? &cd : NULL, n_candidates, &error));
        g_assert_no_error (error);
        g_autofree float *got = ib_test_vulkan_read (&out, n);
        g_assert_true (memcmp (got, want, n * sizeof (int32_t)) == 0);
        ib_test_vulkan_reset ();
      }
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  ib_set_num_threads (2);
  ib_test_vulkan_device ();
  g_test_add_func ("/vulkan/image/conv2d", test_conv2d);
  g_test_add_func ("/vulkan/image/conv2d/tiles", test_conv2d_tiles);
  g_test_add_func ("/vulkan/image/group-norm", test_group_norm);
  g_test_add_func ("/vulkan/image/upsample", test_upsample);
  g_test_add_func ("/vulkan/image/nearest-code", test_nearest_code);

  int status = g_test_run ();
  ib_test_vulkan_finish ();
  return status;
}
