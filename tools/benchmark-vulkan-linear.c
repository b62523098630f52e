/* benchmark-vulkan-linear: the Vulkan engine's linear layer on the shapes of a transformer level, with every
 * kernel that can run it: the tiled matrix product with each of its tiles and with the tile it would choose, each
 * with K split where the product is small (the default) and unsplit, and the matrix-vector kernel for up to 16
 * rows. Prints one line per shape and kernel: milliseconds a product
 * (the best of --repeats batches of --products products in a row, each behind a barrier on the one before, as
 * in a level), GFLOP/s and GB/s of weights read. The data behind the tile choice and the matrix-vector kernel's
 * reach (ib-vulkan-ops.c). A benchmark, not a test. */
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ib-ops.h"
#include "ib-vulkan-device.h"
#include "ib-vulkan-ops.h"

typedef struct
{
  IbVkDevice *device;
  IbVkArena *arena;
  IbDType dtype;
  int products, repeats;
} Bench;

static double
now (void)
{
  return g_get_monotonic_time () / 1e6;
}

/* A weight of out x in random values in dtype, on the device. */
static IbVkTensor *
random_weight (Bench   *bench,
               int      out,
               int      in,
               GError **error)
{
  gsize n = (gsize) out * in;
  g_autofree guint8 *bytes = g_malloc (n * ib_dtype_size (bench->dtype));
  g_autoptr (GRand) rand = g_rand_new_with_seed (7);

  for (gsize i = 0; i < n; i++)
    {
      float v = (float) g_rand_double_range (rand, -0.05, 0.05);
      if (bench->dtype == IB_DTYPE_F16)
        ((guint16 *) bytes)[i] = ib_f32_to_f16 (v);
      else
        ((float *) bytes)[i] = v;
    }
  IbTensor tensor = {
    .name = "benchmark", .dtype = bench->dtype, .n_dims = 2, .shape = { out, in }, .n_elements = (int64_t) n,
    .data = bytes,
  };
  return ib_vk_tensor_upload (bench->device, bench->arena, &tensor, FALSE, error);
}

/* Seconds per product of rows x in by weight, best of the repeats; -1 with error set on failure. */
static double
time_products (Bench            *bench,
               const IbVkView   *y,
               const IbVkView   *x,
               int               rows,
               const IbVkTensor *weight,
               IbVkLinearKernel  kernel,
               GError          **error)
{
  double best = INFINITY;

  /* A first batch compiles the pipeline and warms the caches. */
  for (int round = 0; round <= bench->repeats; round++)
    {
      double start = now ();
      for (int i = 0; i < bench->products; i++)
        if (!ib_vk_linear (bench->device, y, x, rows, weight, NULL, FALSE, kernel, error))
          return -1;
      if (!ib_vk_device_submit (bench->device, error))
        return -1;
      if (round > 0)
        best = MIN (best, (now () - start) / bench->products);
    }
  return best;
}

static gboolean
report (Bench            *bench,
        const IbVkView   *y,
        const IbVkView   *x,
        int               rows,
        int               in,
        int               out,
        const IbVkTensor *weight,
        IbVkLinearKernel  kernel,
        int               tile,
        gboolean          split_k,
        GError          **error)
{
  g_assert_true (ib_vk_set_matmul_kernel (bench->device, tile, split_k));
  double seconds = time_products (bench, y, x, rows, weight, kernel, error);
  ib_vk_set_matmul_kernel (bench->device, -1, TRUE);
  if (seconds < 0)
    return FALSE;
  g_autofree char *name = kernel == IB_VK_LINEAR_VECTOR ? g_strdup ("vector")
                          : tile < 0 ? g_strdup_printf ("tiled-auto%s", split_k ? "" : "-unsplit")
                                     : g_strdup_printf ("tile%d%s", tile, split_k ? "" : "-unsplit");
  printf ("rows %4d in %5d out %5d %-18s %8.4f ms %8.1f GFLOP/s %7.1f GB/s\n", rows, in, out, name, seconds * 1e3,
          2.0 * rows * in * out / seconds / 1e9, (double) in * out * ib_dtype_size (bench->dtype) / seconds / 1e9);
  fflush (stdout);
  return TRUE;
}

/* Every kernel on one shape. */
static gboolean
bench_shape (Bench   *bench,
             int      rows,
             int      in,
             int      out,
             GError **error)
{
  ib_vk_arena_reset (bench->arena);
  g_autoptr (IbVkTensor) weight = random_weight (bench, out, in, error);
  IbVkView x, y;
  if (weight == NULL || !ib_vk_arena_alloc (bench->arena, (guint64) rows * in * 4, &x, error) ||
      !ib_vk_arena_alloc (bench->arena, (guint64) rows * out * 4, &y, error))
    return FALSE;
  g_autofree float *values = g_new (float, (gsize) rows * in);
  for (gsize i = 0; i < (gsize) rows * in; i++)
    values[i] = (float) ((i * 7919) % 1000) / 1000.0f - 0.5f;
  if (!ib_vk_upload (bench->device, &x, 0, values, (guint64) rows * in * 4, error))
    return FALSE;

  if (rows <= 16 && !report (bench, &y, &x, rows, in, out, weight, IB_VK_LINEAR_VECTOR, -1, TRUE, error))
    return FALSE;
  for (int tile = -1; tile < ib_vk_matmul_tile_count (); tile++)
    for (int split_k = 1; split_k >= 0; split_k--)
      if (!report (bench, &y, &x, rows, in, out, weight, IB_VK_LINEAR_TILED, tile, split_k, error))
        {
          /* A tile this device cannot run. */
          if (!g_error_matches (*error, IB_VK_ERROR, IB_VK_ERROR_UNSUPPORTED))
            return FALSE;
          g_clear_error (error);
        }
  return TRUE;
}

int
main (int    argc,
      char **argv)
{
  int dim = 752, inner = 1024, ff = 3008, vocab = 548, tokens = 257, products = 20, repeats = 3;
  g_autofree char *selector = NULL, *dtype_name = NULL;
  g_auto (GStrv) row_list = NULL;
  GOptionEntry entries[] = {
    { "device", 0, 0, G_OPTION_ARG_STRING, &selector, "Vulkan device, by index or name (default: the best)",
      "DEVICE" },
    { "dim", 0, 0, G_OPTION_ARG_INT, &dim, "Model width (default 752, the FFHQ size's)", "N" },
    { "inner", 0, 0, G_OPTION_ARG_INT, &inner, "Attention width, heads x head size (default 1024)", "N" },
    { "ff", 0, 0, G_OPTION_ARG_INT, &ff, "Feed-forward width (default 3008)", "N" },
    { "vocab", 0, 0, G_OPTION_ARG_INT, &vocab, "Logits' width (default 548)", "N" },
    { "tokens", 0, 0, G_OPTION_ARG_INT, &tokens, "Encoder rows (default 257)", "N" },
    { "dtype", 0, 0, G_OPTION_ARG_STRING, &dtype_name, "Weights: f32 (default) or f16", "DTYPE" },
    { "products", 0, 0, G_OPTION_ARG_INT, &products, "Products in a batch (default 20)", "N" },
    { "repeats", 0, 0, G_OPTION_ARG_INT, &repeats, "Batches, the best counts (default 3)", "N" },
    { "decoder-rows", 0, 0, G_OPTION_ARG_STRING_ARRAY, &row_list, "Rows of a decoding step to try (repeatable; "
      "default 1, 4, 12, 16, 32)", "N" },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- time the Vulkan linear layer's kernels");
  g_autoptr (GError) error = NULL;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "%s\n", error->message);
      return 2;
    }
  Bench bench = { .products = products, .repeats = repeats, .dtype = IB_DTYPE_F32 };
  if (g_strcmp0 (dtype_name, "f16") == 0)
    bench.dtype = IB_DTYPE_F16;
  else if (dtype_name != NULL && g_strcmp0 (dtype_name, "f32") != 0)
    {
      fprintf (stderr, "--dtype takes f32 or f16, not %s\n", dtype_name);
      return 2;
    }
  if (dim < 1 || inner < 1 || ff < 1 || vocab < 1 || tokens < 1 || products < 1 || repeats < 1 || dim > 65536 ||
      inner > 65536 || ff > 65536 || vocab > 1 << 20 || tokens > 65536)
    {
      fprintf (stderr, "The sizes, --products and --repeats must be positive (and sizes at most 65536)\n");
      return 2;
    }

  IbVkDeviceOptions options = { .selector = selector };
  g_autoptr (IbVkDevice) device = ib_vk_device_new (&options, &error);
  if (device == NULL)
    {
      fprintf (stderr, "%s\n", error->message);
      return 1;
    }
  bench.device = device;
  bench.arena = ib_vk_arena_new (device, 64u << 20);
  printf ("device_name %s\nweights %s\n", ib_vk_device_get_name (device), ib_dtype_name (bench.dtype));

  /* The encoder's products over every token, then a decoding step's with a few rows (its catch-up on known
   * tokens), the logits' included. */
  const int encoder[][2] = { { dim, inner }, { inner, dim }, { dim, ff }, { ff, dim } };
  gboolean ok = TRUE;
  for (guint s = 0; s < G_N_ELEMENTS (encoder) && ok; s++)
    ok = bench_shape (&bench, tokens, encoder[s][0], encoder[s][1], &error);
  const int decoder[][2] = { { dim, inner }, { inner, dim }, { dim, ff }, { ff, dim }, { dim, vocab } };
  int default_rows[] = { 1, 4, 12, 16, 32 };
  int n_rows = row_list != NULL ? (int) g_strv_length (row_list) : (int) G_N_ELEMENTS (default_rows);
  for (int r = 0; r < n_rows && ok; r++)
    {
      int rows = row_list != NULL ? atoi (row_list[r]) : default_rows[r];
      if (rows < 1 || rows > 65536)
        continue;
      for (guint s = 0; s < G_N_ELEMENTS (decoder) && ok; s++)
        ok = bench_shape (&bench, rows, decoder[s][0], decoder[s][1], &error);
    }
  ib_vk_arena_free (bench.arena);
  if (!ok)
    {
      fprintf (stderr, "%s\n", error->message);
      return 1;
    }
  return 0;
}
