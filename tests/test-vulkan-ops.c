/* test-vulkan-ops.c: the Vulkan engine's kernels (model/ib-vulkan-ops.c) against the CPU engine's ops
 * (model/ib-ops.c), on shape sweeps with one row, odd sizes and sizes that are not tile multiples, with f32,
 * f16 and bf16 weights, guard regions after every output, and the validation layer on. */
#include <math.h>
#include <string.h>

#include "ib-ops.h"
#include "ib-test-vulkan.h"
#include "ib-vulkan-ops.h"

/* f32 accumulation in a different order than OpenBLAS: a few ulps per term at most. */
#define LINEAR_TOLERANCE 2e-5
#define OP_TOLERANCE 2e-5

static void
fill_random (GRand *rand,
             float *p,
             gsize  n,
             double scale)
{
  for (gsize i = 0; i < n; i++)
    p[i] = (float) (g_rand_double_range (rand, -1.0, 1.0) * scale);
}

/* A host tensor that owns its bytes, values rounded to the dtype. */
typedef struct
{
  IbTensor tensor;
  gpointer bytes;
} HostTensor;

static HostTensor *
host_tensor_new (GRand  *rand,
                 IbDType dtype,
                 int64_t rows,
                 int64_t cols,
                 double  scale)
{
  HostTensor *t = g_new0 (HostTensor, 1);
  int64_t n = rows * MAX (cols, 1);
  g_autofree float *values = g_new (float, n);

  fill_random (rand, values, n, scale);
  t->tensor.name = "test";
  t->tensor.dtype = dtype;
  t->tensor.n_dims = cols > 0 ? 2 : 1;
  t->tensor.shape[0] = rows;
  t->tensor.shape[1] = cols;
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
upload (IbVkDevice     *device,
        const IbTensor *tensor,
        gboolean        widen)
{
  g_autoptr (GError) error = NULL;
  IbVkTensor *t = ib_vk_tensor_upload (device, ib_test_vulkan_arena (), tensor, widen, &error);
  g_assert_no_error (error);
  return t;
}

static IbVkView
upload_floats (const float *values,
               gsize        n)
{
  IbVkView view = ib_test_vulkan_guarded (n);
  ib_test_vulkan_write (&view, values, n * sizeof (float));
  return view;
}

static void
assert_close (const float *got,
              const float *want,
              gsize        n,
              double       tolerance,
              const char  *what)
{
  double rel = ib_test_relative_error (got, want, n), worst = ib_test_max_error (got, want, n);
  if (!(rel <= tolerance && worst <= 10 * tolerance))
    g_error ("%s: normalized error %.3g (max %.3g) above %.3g", what, rel, worst, tolerance);
}

/* Linear */

typedef struct
{
  int n, in, out;
} LinearCase;

static const LinearCase linear_cases[] = {
  { 1, 1, 1 }, { 1, 3, 17 }, { 1, 17, 3 }, { 1, 129, 129 }, { 1, 752, 300 }, { 2, 17, 129 }, { 3, 129, 17 },
  { 4, 64, 64 }, { 5, 33, 7 }, { 7, 129, 40 }, { 9, 17, 129 }, { 17, 129, 300 }, { 65, 1, 3 }, { 70, 752, 129 },
  { 129, 64, 65 },
};

static void
check_linear (IbVkDevice      *device,
              IbDType          dtype,
              IbVkLinearKernel kernel,
              const char      *label)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (77 + dtype * 3 + kernel);

  for (guint c = 0; c < G_N_ELEMENTS (linear_cases); c++)
    {
      const LinearCase *lc = &linear_cases[c];
      gboolean with_bias = c % 2 == 0, accumulate = c % 3 == 1;
      g_autoptr (HostTensor) w = host_tensor_new (rand, dtype, lc->out, lc->in, 1.0);
      g_autoptr (HostTensor) b = host_tensor_new (rand, dtype, lc->out, 0, 1.0);
      gsize nx = (gsize) lc->n * lc->in, ny = (gsize) lc->n * lc->out;
      g_autofree float *x = g_new (float, nx);
      g_autofree float *want = g_new (float, ny);
      g_autofree float *start = g_new (float, ny);
      g_autoptr (GError) error = NULL;

      fill_random (rand, x, nx, 2.0);
      fill_random (rand, start, ny, 3.0);
      memcpy (want, start, ny * sizeof (float));
      if (accumulate)
        ib_linear_add (want, x, lc->n, &w->tensor, with_bias ? &b->tensor : NULL);
      else
        ib_linear (want, x, lc->n, &w->tensor, with_bias ? &b->tensor : NULL);

      g_autoptr (IbVkTensor) wd = upload (device, &w->tensor, FALSE);
      g_autoptr (IbVkTensor) bd = upload (device, &b->tensor, TRUE);
      IbVkView xd = upload_floats (x, nx);
      IbVkView yd = ib_test_vulkan_guarded (ny);
      if (accumulate)
        ib_test_vulkan_write (&yd, start, ny * sizeof (float));
      g_assert_true (ib_vk_linear (device, &yd, &xd, lc->n, wd, with_bias ? bd : NULL, accumulate, kernel, &error));
      g_assert_no_error (error);
      g_autofree float *got = ib_test_vulkan_read (&yd, ny);
      g_autofree char *what = g_strdup_printf ("%s n %d in %d out %d%s%s", label, lc->n, lc->in, lc->out,
                                               with_bias ? " +bias" : "", accumulate ? " accumulate" : "");
      assert_close (got, want, ny, LINEAR_TOLERANCE, what);
      ib_test_vulkan_reset ();
    }
}

static void
test_linear (gconstpointer data)
{
  guint which = GPOINTER_TO_UINT (data);
  IbDType dtype = (IbDType) (which / 2);
  IbVkLinearKernel kernel = which % 2 ? IB_VK_LINEAR_VECTOR : IB_VK_LINEAR_TILED;
  g_autofree char *label = g_strdup_printf ("%s %s", ib_dtype_name (dtype), which % 2 ? "vector" : "tiled");

  check_linear (ib_test_vulkan_device (), dtype, kernel, label);
}

/* Each of the matrix product's tiles, forced (the automatic choice takes only some of them on a given GPU), with
 * K split where the product is small (the default) and unsplit; out-of-range tiles refused. */
static void
test_linear_tiles (void)
{
  IbVkDevice *device = ib_test_vulkan_device ();

  for (int tile = -1; tile < ib_vk_matmul_tile_count (); tile++)
    for (int split_k = 0; split_k <= 1; split_k++)
      {
        g_autofree char *label = g_strdup_printf ("f32 tile %d%s", tile, split_k ? " split-K" : "");
        g_assert_true (ib_vk_set_matmul_kernel (device, tile, split_k));
        check_linear (device, IB_DTYPE_F32, IB_VK_LINEAR_TILED, label);
      }
  g_assert_false (ib_vk_set_matmul_kernel (device, ib_vk_matmul_tile_count (), TRUE));
  g_assert_false (ib_vk_set_matmul_kernel (device, -2, TRUE));
  g_assert_true (ib_vk_set_matmul_kernel (device, -1, TRUE));
}

/* Weights larger than the storage range are split into chunks: a device that pretends the range is 4 KiB. */
static void
test_linear_split (void)
{
  g_autoptr (GError) error = NULL;
  IbVkDeviceOptions options = {
    .validation = TRUE,
    .no_disk_cache = TRUE,
    .max_range_override = 4096,
    .selector = g_getenv ("IMAGEBART_TEST_VULKAN_DEVICE"),
  };

  ib_test_vulkan_device ();
  g_autoptr (IbVkDevice) small = ib_vk_device_new (&options, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ib_vk_device_max_range (small), ==, 4096);
  g_autoptr (IbVkArena) arena = ib_vk_arena_new (small, 1u << 20);
  g_autoptr (GRand) rand = g_rand_new_with_seed (5);

  for (IbDType dtype = IB_DTYPE_F32; dtype <= IB_DTYPE_BF16; dtype++)
    for (int kernel = IB_VK_LINEAR_TILED; kernel <= IB_VK_LINEAR_VECTOR; kernel++)
      {
        /* 37 columns: an odd row length, so 16-bit chunks hold an even number of rows. */
        int n = kernel == IB_VK_LINEAR_TILED ? 9 : 3, in = 37, out = 101;
        g_autoptr (HostTensor) w = host_tensor_new (rand, dtype, out, in, 1.0);
        g_autoptr (HostTensor) b = host_tensor_new (rand, IB_DTYPE_F32, out, 0, 1.0);
        g_autofree float *x = g_new (float, n * in);
        g_autofree float *want = g_new (float, n * out);
        g_autofree float *got = g_new (float, n * out);
        IbVkView xd, yd;

        fill_random (rand, x, n * in, 1.0);
        ib_linear (want, x, n, &w->tensor, &b->tensor);
        g_autoptr (IbVkTensor) wd = ib_vk_tensor_upload (small, arena, &w->tensor, FALSE, &error);
        g_assert_no_error (error);
        g_assert_cmpint (wd->n_chunks, >, 1);
        for (int c = 0; c < wd->n_chunks; c++)
          g_assert_cmpuint (wd->chunks[c].size, <=, 4096);
        g_autoptr (IbVkTensor) bd = ib_vk_tensor_upload (small, arena, &b->tensor, TRUE, &error);
        g_assert_true (ib_vk_arena_alloc (arena, n * in * 4, &xd, &error) &&
                       ib_vk_arena_alloc (arena, n * out * 4, &yd, &error) &&
                       ib_vk_upload (small, &xd, 0, x, n * in * 4, &error) &&
                       ib_vk_linear (small, &yd, &xd, n, wd, bd, FALSE, kernel, &error) &&
                       ib_vk_download (small, &yd, 0, got, n * out * 4, &error));
        g_assert_no_error (error);
        assert_close (got, want, n * out, LINEAR_TOLERANCE, "split weights");
        ib_vk_arena_reset (arena);
      }
  /* More than the range in one view is refused, not silently truncated. */
  IbVkView too_big;
  g_assert_false (ib_vk_arena_alloc (arena, 4100, &too_big, &error));
  g_assert_error (error, IB_VK_ERROR, IB_VK_ERROR_ARGUMENT);
  g_assert_cmpuint (ib_vk_device_n_messages (small), ==, 0);
}

/* LayerNorm */

static void
test_layer_norm (void)
{
  static const int shapes[][2] = { { 1, 1 }, { 1, 7 }, { 3, 64 }, { 5, 129 }, { 2, 752 }, { 17, 300 }, { 1, 1000 } };
  IbVkDevice *device = ib_test_vulkan_device ();
  g_autoptr (GRand) rand = g_rand_new_with_seed (11);

  for (guint s = 0; s < G_N_ELEMENTS (shapes); s++)
    for (int in_place = 0; in_place < 2; in_place++)
      {
        int rows = shapes[s][0], dim = shapes[s][1];
        gsize n = (gsize) rows * dim;
        g_autoptr (HostTensor) gamma = host_tensor_new (rand, IB_DTYPE_BF16, dim, 0, 1.0);
        g_autoptr (HostTensor) beta = host_tensor_new (rand, IB_DTYPE_F32, dim, 0, 1.0);
        g_autofree float *x = g_new (float, n);
        g_autofree float *want = g_new (float, n);
        g_autoptr (GError) error = NULL;

        fill_random (rand, x, n, 4.0);
        for (gsize i = 0; i < n; i++)
          x[i] += 3.0f;                 /* an offset the two-pass variance must not lose precision to */
        ib_layer_norm (want, x, rows, dim, &gamma->tensor, &beta->tensor, 1e-5f);
        g_autoptr (IbVkTensor) gd = upload (device, &gamma->tensor, TRUE);
        g_autoptr (IbVkTensor) bd = upload (device, &beta->tensor, TRUE);
        IbVkView xd = upload_floats (x, n);
        IbVkView yd = in_place ? xd : ib_test_vulkan_guarded (n);
        g_assert_true (ib_vk_layer_norm (device, &yd, &xd, rows, dim, gd, bd, 1e-5f, &error));
        g_assert_no_error (error);
        g_autofree float *got = ib_test_vulkan_read (&yd, n);
        assert_close (got, want, n, OP_TOLERANCE, "layer norm");
        ib_test_vulkan_reset ();
      }
}

/* GELU, swish, add */

static void
test_elementwise (void)
{
  static const gsize sizes[] = { 1, 7, 255, 256, 257, 1000, 70001 };
  IbVkDevice *device = ib_test_vulkan_device ();
  g_autoptr (GRand) rand = g_rand_new_with_seed (12);

  for (guint s = 0; s < G_N_ELEMENTS (sizes); s++)
    for (int op = 0; op < 3; op++)
      {
        gsize n = sizes[s];
        g_autofree float *x = g_new (float, n);
        g_autofree float *y = g_new (float, n);
        g_autofree float *want = g_new (float, n);
        g_autoptr (GError) error = NULL;
        gboolean ok;

        fill_random (rand, x, n, 6.0);
        fill_random (rand, y, n, 6.0);
        IbVkView xd = upload_floats (x, n), yd = upload_floats (y, n);
        if (op == 0)
          {
            memcpy (want, x, n * sizeof (float));
            ib_gelu (want, n);
            ok = ib_vk_gelu (device, &xd, n, &error);
          }
        else if (op == 1)
          {
            memcpy (want, x, n * sizeof (float));
            ib_swish (want, n);
            ok = ib_vk_swish (device, &xd, n, &error);
          }
        else
          {
            memcpy (want, y, n * sizeof (float));
            ib_add (want, x, n);
            ok = ib_vk_add (device, &yd, &xd, n, &error);
          }
        g_assert_no_error (error);
        g_assert_true (ok);
        g_autofree float *got = ib_test_vulkan_read (op == 2 ? &yd : &xd, n);
        assert_close (got, want, n, OP_TOLERANCE, op == 0 ? "gelu" : op == 1 ? "swish" : "add");
        ib_test_vulkan_reset ();
      }
}

/* Attention */

typedef struct
{
  int n_q, n_kv, heads, dim_head;
  gboolean causal;
  int q_offset;
  gboolean fused;               /* q, k, v side by side in one buffer, as a fused QKV projection writes them */
  int n_unmasked;               /* minGPT: positions below it see keys 0..n_unmasked - 1 too */
} AttentionCase;

static const AttentionCase attention_cases[] = {
  { 1, 1, 1, 64, FALSE, 0, FALSE },     /* one key */
  { 1, 257, 4, 64, FALSE, 0, FALSE },   /* cross attention of one decoding step */
  { 1, 20, 3, 64, TRUE, 19, FALSE },    /* a KV-cache step */
  { 7, 7, 2, 64, TRUE, 0, TRUE },       /* causal self attention, fused */
  { 5, 12, 2, 32, TRUE, 7, FALSE },     /* a batched feed after a prefix */
  { 33, 33, 3, 64, FALSE, 0, TRUE },    /* encoder self attention */
  { 16, 16, 1, 96, FALSE, 0, FALSE },   /* one head over many channels (the VQGAN's attention) */
  { 3, 300, 1, 512, FALSE, 0, FALSE },
  { 6, 6, 2, 32, TRUE, 0, FALSE, 3 },   /* minGPT's prefill: the first 3 positions see each other */
  { 4, 9, 2, 32, TRUE, 5, FALSE, 7 },   /* unmasked positions past the rows' offset */
  { 3, 5000, 1, 64, FALSE, 0, FALSE },  /* more keys than shared memory holds: the softmax block by block */
  { 2, 4300, 2, 32, TRUE, 4298, FALSE },/* a KV-cache step past 4096 positions (a second block of 203 keys) */
  { 2, 8200, 1, 96, FALSE, 0, FALSE },  /* three blocks, the last of 8 keys */
  /* Few rows split their keys over several workgroups (split-K); these pin down where that changes. */
  { 2, 600, 2, 32, TRUE, 10, FALSE },   /* causal rows that see 11 and 12 of 600 keys: most splits empty */
  { 100, 40, 2, 32, FALSE, 0, FALSE },  /* 200 row-heads: still split, in 3 */
  { 300, 4200, 2, 32, FALSE, 0, FALSE },/* 600 row-heads fill a GPU unsplit: two blocks a row */
  /* Many rows go in blocks of 16 that share each block of 32 keys (attention-rows.comp). */
  { 257, 257, 4, 64, FALSE, 0, TRUE },  /* the FFHQ size's encoder: a last block of one row, one of one key */
  { 40, 61, 2, 64, TRUE, 21, FALSE },   /* a causal prefill after a prefix: rows of a block see different keys */
  { 20, 20, 2, 32, TRUE, 0, FALSE, 9 }, /* minGPT's prefill with many rows */
  { 17, 40, 1, 100, FALSE, 0, FALSE },  /* heads past 64 values, not a multiple of 8 */
};

/* The reference of a causal case with unmasked positions: each row on its own over the keys it sees. */
static void
attention_unmasked (float       *out,
                    const float *q,
                    const float *k,
                    const float *v,
                    int          stride,
                    const AttentionCase *ac)
{
  int width = ac->heads * ac->dim_head;

  for (int r = 0; r < ac->n_q; r++)
    {
      int n_keys = MIN (MAX (ac->q_offset + r + 1, ac->n_unmasked), ac->n_kv);
      ib_attention (out + (gsize) r * width, q + (gsize) r * stride, 1, stride, k, v, n_keys, stride, ac->heads,
                    ac->dim_head, false, 0);
    }
}

static void
check_attention (IbVkDevice *device,
                 const char *label)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (13);

  for (guint c = 0; c < G_N_ELEMENTS (attention_cases); c++)
    {
      const AttentionCase *ac = &attention_cases[c];
      int width = ac->heads * ac->dim_head;
      int stride = ac->fused ? 3 * width : width + 5;   /* a stride wider than the heads */
      gsize nq = (gsize) ac->n_q * stride, nkv = (gsize) ac->n_kv * stride, no = (gsize) ac->n_q * width;
      g_autofree float *q = g_new (float, ac->fused ? nkv : nq);
      g_autofree float *k = g_new (float, nkv);
      g_autofree float *v = g_new (float, nkv);
      g_autofree float *want = g_new (float, no);
      g_autoptr (GError) error = NULL;
      IbVkView qd, kd, vd;
      IbVkAttentionShape shape = {
        .n_q = ac->n_q, .q_stride = stride, .n_kv = ac->n_kv, .kv_stride = stride, .heads = ac->heads,
        .dim_head = ac->dim_head, .causal = ac->causal, .q_offset = ac->q_offset, .n_unmasked = ac->n_unmasked,
      };

      g_assert_true (!ac->fused || ac->n_q == ac->n_kv);
      if (ac->fused)
        {
          fill_random (rand, q, nkv, 1.0);
          ib_attention (want, q, ac->n_q, stride, q + width, q + 2 * width, ac->n_kv, stride, ac->heads,
                        ac->dim_head, ac->causal, ac->q_offset);
          qd = kd = vd = upload_floats (q, nkv);
          shape.k_base = width;
          shape.v_base = 2 * width;
        }
      else
        {
          fill_random (rand, q, nq, 1.0);
          fill_random (rand, k, nkv, 1.0);
          fill_random (rand, v, nkv, 1.0);
          if (ac->n_unmasked > 0)
            attention_unmasked (want, q, k, v, stride, ac);
          else
            ib_attention (want, q, ac->n_q, stride, k, v, ac->n_kv, stride, ac->heads, ac->dim_head, ac->causal,
                          ac->q_offset);
          qd = upload_floats (q, nq);
          kd = upload_floats (k, nkv);
          vd = upload_floats (v, nkv);
        }
      IbVkView od = ib_test_vulkan_guarded (no);
      g_assert_true (ib_vk_attention (device, &od, &qd, &kd, &vd, &shape, &error));
      g_assert_no_error (error);
      g_autofree float *got = ib_test_vulkan_read (&od, no);
      g_autofree char *what = g_strdup_printf ("attention case %u (%s)", c, label);
      assert_close (got, want, no, OP_TOLERANCE, what);
      ib_test_vulkan_reset ();
    }
}

/* Every case with the kernels chosen by shape (the default), then with one row a workgroup and no split keys. */
static void
test_attention (void)
{
  IbVkDevice *device = ib_test_vulkan_device ();

  check_attention (device, "kernels chosen by shape");
  ib_vk_set_attention_kernel (device, FALSE, FALSE);
  check_attention (device, "one row a workgroup, keys unsplit");
  ib_vk_set_attention_kernel (device, TRUE, TRUE);
}

/* Transpose */

static void
test_transpose (void)
{
  IbVkDevice *device = ib_test_vulkan_device ();
  g_autoptr (GRand) rand = g_rand_new_with_seed (15);
  static const int shapes[][2] = { { 1, 1 }, { 3, 7 }, { 64, 257 }, { 257, 6 }, { 1, 300 } };

  for (guint s = 0; s < G_N_ELEMENTS (shapes); s++)
    {
      int rows = shapes[s][0], cols = shapes[s][1];
      gsize n = (gsize) rows * cols;
      g_autofree float *x = g_new (float, n);
      g_autofree float *want = g_new (float, n);
      g_autoptr (GError) error = NULL;

      fill_random (rand, x, n, 1.0);
      for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
          want[(gsize) j * rows + i] = x[(gsize) i * cols + j];
      IbVkView xd = upload_floats (x, n);
      IbVkView yd = ib_test_vulkan_guarded (n);
      g_assert_true (ib_vk_transpose (device, &yd, &xd, rows, cols, &error));
      g_assert_no_error (error);
      g_autofree float *got = ib_test_vulkan_read (&yd, n);
      g_assert_cmpmem (got, n * sizeof (float), want, n * sizeof (float));
      ib_test_vulkan_reset ();
    }
}

/* Embedding + position */

static void
test_embed (void)
{
  IbVkDevice *device = ib_test_vulkan_device ();
  g_autoptr (GRand) rand = g_rand_new_with_seed (14);
  static const int shapes[][4] = { /* n, dim, pos0, table rows */ { 1, 1, 0, 3 }, { 1, 752, 256, 548 },
                                   { 17, 33, 3, 40 }, { 257, 64, 0, 300 } };

  for (guint s = 0; s < G_N_ELEMENTS (shapes); s++)
    {
      int n = shapes[s][0], dim = shapes[s][1], pos0 = shapes[s][2], rows = shapes[s][3];
      g_autoptr (HostTensor) table = host_tensor_new (rand, IB_DTYPE_F16, rows, dim, 1.0);
      g_autoptr (HostTensor) positions = host_tensor_new (rand, IB_DTYPE_F32, pos0 + n + 2, dim, 0.02);
      g_autofree int32_t *tokens = g_new (int32_t, n + 1);
      g_autofree float *want = g_new (float, (gsize) n * dim);
      g_autoptr (GError) error = NULL;

      tokens[0] = 12345;                /* not read: token_base is 1 */
      for (int i = 0; i < n; i++)
        tokens[i + 1] = g_rand_int_range (rand, 0, rows);
      for (int i = 0; i < n; i++)
        for (int d = 0; d < dim; d++)
          want[(gsize) i * dim + d] = ib_tensor_get_f32 (&table->tensor, (gsize) tokens[i + 1] * dim + d) +
                                      ib_tensor_get_f32 (&positions->tensor, (gsize) (pos0 + i) * dim + d);
      g_autoptr (IbVkTensor) td = upload (device, &table->tensor, TRUE);
      g_autoptr (IbVkTensor) pd = upload (device, &positions->tensor, TRUE);
      IbVkView tokd = ib_test_vulkan_guarded (n + 1);
      ib_test_vulkan_write (&tokd, tokens, (n + 1) * sizeof (int32_t));
      IbVkView yd = ib_test_vulkan_guarded ((gsize) n * dim);
      g_assert_true (ib_vk_embed (device, &yd, &tokd, 1, n, td, pd, pos0, &error));
      g_assert_no_error (error);
      g_autofree float *got = ib_test_vulkan_read (&yd, (gsize) n * dim);
      assert_close (got, want, (gsize) n * dim, 1e-7, "embed");
      ib_test_vulkan_reset ();
    }
}

/* Arguments outside the views are refused before anything is recorded. */
static void
test_bad_arguments (void)
{
  IbVkDevice *device = ib_test_vulkan_device ();
  g_autoptr (GRand) rand = g_rand_new_with_seed (15);
  g_autoptr (HostTensor) w = host_tensor_new (rand, IB_DTYPE_F32, 8, 8, 1.0);
  g_autoptr (IbVkTensor) wd = upload (device, &w->tensor, FALSE);
  g_autoptr (GError) error = NULL;
  IbVkView x = ib_test_vulkan_guarded (8), y = ib_test_vulkan_guarded (8);

  x.size = 8 * 4;
  y.size = 8 * 4;
  g_assert_false (ib_vk_linear (device, &y, &x, 2, wd, NULL, FALSE, IB_VK_LINEAR_AUTO, &error));
  g_assert_error (error, IB_VK_ERROR, IB_VK_ERROR_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (ib_vk_gelu (device, &x, 9, &error));
  g_assert_error (error, IB_VK_ERROR, IB_VK_ERROR_ARGUMENT);
  ib_test_vulkan_reset ();
}

/* Profiling */

static const IbVkKernelTime *
find_kernel (GArray     *profile,
             const char *name)
{
  for (guint i = 0; i < profile->len; i++)
    if (g_strcmp0 (g_array_index (profile, IbVkKernelTime, i).kernel, name) == 0)
      return &g_array_index (profile, IbVkKernelTime, i);
  return NULL;
}

/* Timestamps around each dispatch: counted per kernel with their work, results unchanged, and a batch with
 * more dispatches than the query pool holds still right. */
static void
test_profile (void)
{
  IbVkDevice *device = ib_test_vulkan_device ();
  g_autoptr (GRand) rand = g_rand_new_with_seed (16);
  const int n = 70, in = 75, out = 129, n_adds = 8200;
  g_autoptr (HostTensor) w = host_tensor_new (rand, IB_DTYPE_F32, out, in, 1.0);
  g_autofree float *x = g_new (float, (gsize) n * in), *want = g_new (float, (gsize) n * out);
  g_autoptr (GError) error = NULL;

  fill_random (rand, x, (gsize) n * in, 1.0);
  ib_linear (want, x, n, &w->tensor, NULL);
  g_autoptr (IbVkTensor) wd = upload (device, &w->tensor, FALSE);
  IbVkView xd = upload_floats (x, (gsize) n * in), yd = ib_test_vulkan_guarded ((gsize) n * out);
  IbVkView one = ib_test_vulkan_guarded (1), sum = ib_test_vulkan_guarded (1);
  float value = 1.0f;
  ib_test_vulkan_write (&one, &value, 4);
  value = 0.0f;
  ib_test_vulkan_write (&sum, &value, 4);
  ib_test_vulkan_reset ();

  g_assert_true (ib_vk_device_set_profiling (device, TRUE, &error));
  g_assert_no_error (error);
  g_assert_true (ib_vk_linear (device, &yd, &xd, n, wd, NULL, FALSE, IB_VK_LINEAR_TILED, &error));
  g_assert_true (ib_vk_linear (device, &yd, &xd, 1, wd, NULL, FALSE, IB_VK_LINEAR_VECTOR, &error));
  for (int i = 0; i < n_adds && error == NULL; i++)
    ib_vk_add (device, &sum, &one, 1, &error);
  g_assert_no_error (error);
  g_autofree float *got = ib_test_vulkan_read (&yd, (gsize) n * out);
  g_autofree float *total = ib_test_vulkan_read (&sum, 1);
  /* Row 0 came from the matrix-vector kernel, the rest from the tiled one: the CPU's either way. */
  assert_close (got, want, (gsize) n * out, LINEAR_TOLERANCE, "profiled linear");
  g_assert_cmpfloat (total[0], ==, (float) n_adds);

  g_autoptr (GArray) profile = ib_vk_device_get_profile (device);
  const IbVkKernelTime *matmul = find_kernel (profile, "matmul_f32"), *matvec = find_kernel (profile, "matvec_f32");
  const IbVkKernelTime *add = find_kernel (profile, "add");
  g_assert_nonnull (matmul);
  g_assert_nonnull (matvec);
  g_assert_nonnull (add);
  g_assert_cmpuint (matmul->dispatches, ==, 1);
  g_assert_cmpfloat (matmul->flops, ==, 2.0 * n * in * out);
  g_assert_cmpfloat (matmul->weight_bytes, ==, 4.0 * in * out);
  g_assert_cmpuint (matvec->dispatches, ==, 1);
  g_assert_cmpfloat (matvec->flops, ==, 2.0 * in * out);
  g_assert_cmpuint (add->dispatches, ==, n_adds);
  g_assert_cmpfloat (matmul->seconds, >, 0.0);
  g_assert_cmpfloat (add->seconds, >, 0.0);
  for (guint i = 1; i < profile->len; i++)
    g_assert_cmpfloat (g_array_index (profile, IbVkKernelTime, i - 1).seconds, >=,
                       g_array_index (profile, IbVkKernelTime, i).seconds);

  /* Off: nothing is counted any more. */
  g_assert_true (ib_vk_device_set_profiling (device, FALSE, &error));
  g_assert_true (ib_vk_linear (device, &yd, &xd, n, wd, NULL, FALSE, IB_VK_LINEAR_TILED, &error));
  g_assert_true (ib_vk_device_submit (device, &error));
  g_assert_no_error (error);
  g_autoptr (GArray) after = ib_vk_device_get_profile (device);
  g_assert_cmpuint (after->len, ==, 0);
  ib_test_vulkan_reset ();
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  ib_set_num_threads (2);
  ib_test_vulkan_device ();

  for (guint which = 0; which < 6; which++)
    {
      g_autofree char *path = g_strdup_printf ("/vulkan/linear/%s/%s", ib_dtype_name ((IbDType) (which / 2)),
                                               which % 2 ? "vector" : "tiled");
      g_test_add_data_func (path, GUINT_TO_POINTER (which), test_linear);
    }
  g_test_add_func ("/vulkan/linear/tiles", test_linear_tiles);
  g_test_add_func ("/vulkan/linear/split", test_linear_split);
  g_test_add_func ("/vulkan/layer-norm", test_layer_norm);
  g_test_add_func ("/vulkan/elementwise", test_elementwise);
  g_test_add_func ("/vulkan/attention", test_attention);
  g_test_add_func ("/vulkan/transpose", test_transpose);
  g_test_add_func ("/vulkan/embed", test_embed);
  g_test_add_func ("/vulkan/bad-arguments", test_bad_arguments);
  g_test_add_func ("/vulkan/profile", test_profile);

  int status = g_test_run ();
  ib_test_vulkan_finish ();
  return status;
}
