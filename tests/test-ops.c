/* test-ops.c: the CPU engine's transformer ops (model/ib-ops.c) against naive double-precision
 * references, at sizes that are not multiples of any block, with f32/f16/bf16 weights, under one and
 * several threads, with guard regions after every output. */
#include <math.h>
#include <string.h>

#include "ib-ops.h"

#define GUARD 37
#define SENTINEL_BITS 0x7fc0beefu

/* Buffers */

static float
sentinel (void)
{
  guint32 bits = SENTINEL_BITS;
  float f;

  memcpy (&f, &bits, sizeof f);
  return f;
}

/* n floats followed by GUARD sentinels. */
static float *
guarded_new (gsize n)
{
  float *p = g_new (float, n + GUARD);
  float s = sentinel ();

  for (gsize i = 0; i < n + GUARD; i++)
    p[i] = s;
  return p;
}

static void
assert_guard (const float *p,
              gsize        n)
{
  for (gsize i = n; i < n + GUARD; i++)
    {
      guint32 bits;

      memcpy (&bits, p + i, sizeof bits);
      if (bits != SENTINEL_BITS)
        g_error ("guard element %" G_GSIZE_FORMAT " after an output of %" G_GSIZE_FORMAT " was written",
                 i - n, n);
    }
}

static void
fill_random (GRand *rand,
             float *p,
             gsize  n,
             double scale)
{
  for (gsize i = 0; i < n; i++)
    p[i] = (float) (g_rand_double_range (rand, -1.0, 1.0) * scale);
}

/* A tensor that owns its bytes (freed with test_tensor_free); values rounded to the dtype. */
typedef struct
{
  IbTensor tensor;
  gpointer bytes;
  float *values;                 /* the values as the dtype stores them, widened */
} TestTensor;

static TestTensor *
test_tensor_new (IbDType      dtype,
                 int          n_dims,
                 const int64_t *shape,
                 const float *values)
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
  t->values = g_new (float, n);
  t->bytes = g_malloc (n * ib_dtype_size (dtype));
  for (int64_t i = 0; i < n; i++)
    {
      switch (dtype)
        {
        case IB_DTYPE_F32:
          ((float *) t->bytes)[i] = values[i];
          t->values[i] = values[i];
          break;
        case IB_DTYPE_F16:
          ((guint16 *) t->bytes)[i] = ib_f32_to_f16 (values[i]);
          t->values[i] = ib_f16_to_f32 (((guint16 *) t->bytes)[i]);
          break;
        case IB_DTYPE_BF16:
          ((guint16 *) t->bytes)[i] = ib_f32_to_bf16 (values[i]);
          t->values[i] = ib_bf16_to_f32 (((guint16 *) t->bytes)[i]);
          break;
        default:
          g_assert_not_reached ();
        }
    }
  t->tensor.data = t->bytes;
  return t;
}

static void
test_tensor_free (TestTensor *t)
{
  if (t == NULL)
    return;
  g_free (t->bytes);
  g_free (t->values);
  g_free (t);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestTensor, test_tensor_free)

static TestTensor *
random_tensor (GRand  *rand,
               IbDType dtype,
               int64_t rows,
               int64_t cols,
               double  scale)
{
  int64_t shape[2] = { rows, cols };
  int n_dims = cols > 0 ? 2 : 1;
  int64_t n = rows * MAX (cols, 1);
  g_autofree float *v = g_new (float, n);

  fill_random (rand, v, (gsize) n, scale);
  return test_tensor_new (dtype, n_dims, shape, v);
}

static const int thread_counts[] = { 1, 3 };

/* Linear */

typedef struct
{
  int n, in, out;
} LinearCase;

static const LinearCase linear_cases[] = {
  { 1, 1, 1 }, { 1, 3, 17 }, { 1, 17, 3 }, { 1, 129, 129 }, { 1, 752, 300 }, { 1, 37, 1100 },
  { 2, 17, 129 }, { 3, 129, 17 }, { 4, 64, 64 }, { 5, 33, 7 }, { 7, 129, 40 }, { 8, 31, 129 },
  { 9, 17, 129 }, { 9, 129, 17 }, { 17, 3, 1 }, { 17, 129, 1100 }, { 129, 1, 3 }, { 40, 752, 129 },
  { 257, 64, 33 },
};

static void
check_linear (IbDType dtype,
              bool    accumulate)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (1234 + dtype);

  for (guint t = 0; t < G_N_ELEMENTS (thread_counts); t++)
    {
      ib_set_num_threads (thread_counts[t]);
      for (guint c = 0; c < G_N_ELEMENTS (linear_cases); c++)
        for (int with_bias = 0; with_bias < 2; with_bias++)
          {
            const LinearCase *lc = &linear_cases[c];
            g_autoptr (TestTensor) w = random_tensor (rand, dtype, lc->out, lc->in, 1.0);
            g_autoptr (TestTensor) b = random_tensor (rand, dtype, lc->out, 0, 1.0);
            g_autofree float *x = g_new (float, (gsize) lc->n * lc->in);
            g_autofree float *y = guarded_new ((gsize) lc->n * lc->out);
            g_autofree float *y0 = g_new (float, (gsize) lc->n * lc->out);

            fill_random (rand, x, (gsize) lc->n * lc->in, 2.0);
            if (accumulate)
              {
                fill_random (rand, y0, (gsize) lc->n * lc->out, 3.0);
                memcpy (y, y0, (gsize) lc->n * lc->out * sizeof (float));
                ib_linear_add (y, x, lc->n, &w->tensor, with_bias ? &b->tensor : NULL);
              }
            else
              ib_linear (y, x, lc->n, &w->tensor, with_bias ? &b->tensor : NULL);

            assert_guard (y, (gsize) lc->n * lc->out);
            for (int i = 0; i < lc->n; i++)
              for (int o = 0; o < lc->out; o++)
                {
                  double ref = 0.0, magnitude = 0.0;

                  for (int k = 0; k < lc->in; k++)
                    {
                      double p = (double) w->values[(gsize) o * lc->in + k] * x[(gsize) i * lc->in + k];
                      ref += p;
                      magnitude += fabs (p);
                    }
                  if (with_bias)
                    {
                      ref += b->values[o];
                      magnitude += fabs (b->values[o]);
                    }
                  if (accumulate)
                    {
                      ref += y0[(gsize) i * lc->out + o];
                      magnitude += fabs (y0[(gsize) i * lc->out + o]);
                    }
                  double err = fabs (y[(gsize) i * lc->out + o] - ref);
                  if (!(err <= 2e-6 * magnitude + 1e-30))
                    g_error ("linear %s n=%d in=%d out=%d bias=%d threads=%d: y[%d,%d] = %.9g, expected %.9g",
                             ib_dtype_name (dtype), lc->n, lc->in, lc->out, with_bias, thread_counts[t], i, o,
                             y[(gsize) i * lc->out + o], ref);
                }
          }
    }
  ib_set_num_threads (0);
}

static void
test_linear_f32 (void)
{
  check_linear (IB_DTYPE_F32, false);
}

static void
test_linear_f16 (void)
{
  check_linear (IB_DTYPE_F16, false);
}

static void
test_linear_bf16 (void)
{
  check_linear (IB_DTYPE_BF16, false);
}

static void
test_linear_add_f32 (void)
{
  check_linear (IB_DTYPE_F32, true);
}

static void
test_linear_add_f16 (void)
{
  check_linear (IB_DTYPE_F16, true);
}

static void
test_linear_add_bf16 (void)
{
  check_linear (IB_DTYPE_BF16, true);
}

/* sgemm */

static void
test_sgemm (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (77);
  static const int sizes[][3] = {
    { 1, 1, 1 }, { 3, 17, 1 }, { 17, 3, 129 }, { 129, 65, 17 }, { 5, 300, 64 }, { 300, 5, 64 },
    { 200, 150, 90 }, { 4, 4, 0 },
  };

  for (guint t = 0; t < G_N_ELEMENTS (thread_counts); t++)
    {
      ib_set_num_threads (thread_counts[t]);
      for (guint s = 0; s < G_N_ELEMENTS (sizes); s++)
        for (int variant = 0; variant < 8; variant++)
          {
            int m = sizes[s][0], n = sizes[s][1], k = sizes[s][2];
            bool ta = variant & 1, tb = variant & 2;
            float beta = variant & 4 ? 0.5f : 0.0f, alpha = 1.5f;
            /* Leading dimensions with padding. */
            int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 5;
            int a_rows = ta ? k : m, b_rows = tb ? n : k;
            g_autofree float *a = g_new (float, (gsize) MAX (a_rows, 1) * lda);
            g_autofree float *b = g_new (float, (gsize) MAX (b_rows, 1) * ldb);
            g_autofree float *c = guarded_new ((gsize) m * ldc);
            g_autofree float *c0 = g_new (float, (gsize) m * ldc);

            fill_random (rand, a, (gsize) MAX (a_rows, 1) * lda, 1.0);
            fill_random (rand, b, (gsize) MAX (b_rows, 1) * ldb, 1.0);
            fill_random (rand, c0, (gsize) m * ldc, 1.0);
            for (int i = 0; i < m; i++)
              memcpy (c + (gsize) i * ldc, c0 + (gsize) i * ldc, (gsize) n * sizeof (float));
            if (beta == 0.0f)
              c[0] = NAN;        /* beta = 0 overwrites */

            ib_sgemm (ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

            for (int i = 0; i < m; i++)
              for (int j = 0; j < n; j++)
                {
                  double ref = 0.0, magnitude = 0.0;

                  for (int l = 0; l < k; l++)
                    {
                      double av = ta ? a[(gsize) l * lda + i] : a[(gsize) i * lda + l];
                      double bv = tb ? b[(gsize) j * ldb + l] : b[(gsize) l * ldb + j];
                      ref += alpha * av * bv;
                      magnitude += fabs (alpha * av * bv);
                    }
                  ref += beta * c0[(gsize) i * ldc + j];
                  magnitude += fabs (beta * c0[(gsize) i * ldc + j]);
                  double err = fabs (c[(gsize) i * ldc + j] - ref);
                  if (!(err <= 2e-6 * magnitude + 1e-30))
                    g_error ("sgemm %dx%dx%d ta=%d tb=%d beta=%g: c[%d,%d] = %.9g, expected %.9g",
                             m, n, k, ta, tb, beta, i, j, c[(gsize) i * ldc + j], ref);
                }
            /* The padding between rows of C is not part of C. */
            for (int i = 0; i < m; i++)
              for (int j = n; j < ldc; j++)
                {
                  guint32 bits;

                  memcpy (&bits, c + (gsize) i * ldc + j, sizeof bits);
                  g_assert_cmphex (bits, ==, SENTINEL_BITS);
                }
            assert_guard (c, (gsize) m * ldc);
          }
    }
  ib_set_num_threads (0);
}

/* LayerNorm */

static void
test_layer_norm (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (99);
  static const int sizes[][2] = { { 1, 1 }, { 1, 3 }, { 3, 17 }, { 17, 129 }, { 129, 752 }, { 2, 1000 } };
  static const IbDType dtypes[] = { IB_DTYPE_F32, IB_DTYPE_F16, IB_DTYPE_BF16 };

  for (guint t = 0; t < G_N_ELEMENTS (thread_counts); t++)
    {
      ib_set_num_threads (thread_counts[t]);
      for (guint s = 0; s < G_N_ELEMENTS (sizes); s++)
        for (guint d = 0; d < G_N_ELEMENTS (dtypes); d++)
          for (int in_place = 0; in_place < 2; in_place++)
            {
              int rows = sizes[s][0], dim = sizes[s][1];
              gsize n = (gsize) rows * dim;
              g_autoptr (TestTensor) gamma = random_tensor (rand, dtypes[d], dim, 0, 2.0);
              g_autoptr (TestTensor) beta = random_tensor (rand, dtypes[d], dim, 0, 1.0);
              g_autofree float *x = g_new (float, n);
              g_autofree float *y = guarded_new (n);

              /* An offset much larger than the spread: a one-pass variance would lose it. */
              fill_random (rand, x, n, 1.0);
              for (gsize i = 0; i < n; i++)
                x[i] += 100.0f;
              if (in_place)
                memcpy (y, x, n * sizeof (float));
              ib_layer_norm (y, in_place ? y : x, rows, dim, &gamma->tensor, &beta->tensor, 1e-5f);
              assert_guard (y, n);

              for (int r = 0; r < rows; r++)
                {
                  const float *xr = x + (gsize) r * dim;
                  double mean = 0.0, var = 0.0;

                  for (int i = 0; i < dim; i++)
                    mean += xr[i];
                  mean /= dim;
                  for (int i = 0; i < dim; i++)
                    var += (xr[i] - mean) * (xr[i] - mean);
                  var /= dim;
                  double rstd = 1.0 / sqrt (var + 1e-5);
                  for (int i = 0; i < dim; i++)
                    {
                      double ref = (xr[i] - mean) * rstd * gamma->values[i] + beta->values[i];
                      /* x holds 100 + u: its rounding already moves the normalized value by ~1e-5. */
                      double tol = 3e-5 * (fabs (gamma->values[i]) + 1.0) + 1e-6 * fabs (ref);
                      if (!(fabs (y[(gsize) r * dim + i] - ref) <= tol))
                        g_error ("layer norm %dx%d: y[%d,%d] = %.9g, expected %.9g", rows, dim, r, i,
                                 y[(gsize) r * dim + i], ref);
                    }
                }
            }
    }

  /* Without gamma and beta. */
  float x[4] = { 1, 2, 3, 4 }, y[4];
  ib_layer_norm (y, x, 1, 4, NULL, NULL, 0.0f);
  g_assert_cmpfloat_with_epsilon (y[0], -1.5 / sqrt (1.25), 1e-6);
  g_assert_cmpfloat_with_epsilon (y[3], 1.5 / sqrt (1.25), 1e-6);
  ib_set_num_threads (0);
}

/* Elementwise */

static double
gelu_ref (double x)
{
  return 0.5 * x * erfc (-x / sqrt (2.0));
}

static double
swish_ref (double x)
{
  return x / (1.0 + exp (-x));
}

static void
check_elementwise (void (*fn) (float *, gsize),
                   double (*ref) (double),
                   const char *name,
                   double      rel_tol,
                   double      tail_tol)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (5);
  static const gsize sizes[] = { 1, 3, 17, 129, 100003 };
  static const float specials[] = {
    0.0f, -0.0f, 1e-30f, -1e-30f, 1e-7f, -1e-7f, 0.5f, -0.5f, 1.0f, -1.0f, 3.0f, -3.0f, 5.5f, -5.5f, 9.0f,
    -9.0f, 12.0f, -12.0f, 30.0f, 80.0f, 100.0f, -100.0f, 1e10f, -1e10f,
  };

  for (guint t = 0; t < G_N_ELEMENTS (thread_counts); t++)
    {
      ib_set_num_threads (thread_counts[t]);
      for (guint s = 0; s < G_N_ELEMENTS (sizes); s++)
        {
          gsize n = sizes[s];
          g_autofree float *x = g_new (float, n);
          g_autofree float *y = guarded_new (n);

          fill_random (rand, x, n, 8.0);
          for (gsize i = 0; i < MIN (n, G_N_ELEMENTS (specials)); i++)
            x[i] = specials[i];
          memcpy (y, x, n * sizeof (float));
          fn (y, n);
          assert_guard (y, n);
          for (gsize i = 0; i < n; i++)
            {
              double r = ref (x[i]);
              /* Deep in the negative tail the result is a tiny fraction of x, known to a few ulp of
               * exp(-x^2/2) only; tail_tol bounds that relative to x. Below 1e-35 the kernels may flush
               * what libm keeps as a denormal. */
              if (!(fabs (y[i] - r) <= rel_tol * fabs (r) + tail_tol * fabs (x[i]) + 1e-35))
                g_error ("%s(%.9g) = %.9g, expected %.9g", name, x[i], y[i], r);
            }
        }
    }

  /* NaN stays NaN. */
  float v = NAN;
  fn (&v, 1);
  g_assert_true (isnan (v));
  ib_set_num_threads (0);
}

static void
test_gelu (void)
{
  check_elementwise (ib_gelu, gelu_ref, "gelu", 1e-6, 1e-12);
}

static void
test_swish (void)
{
  check_elementwise (ib_swish, swish_ref, "swish", 1e-6, 1e-12);
}

static void
test_add (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (6);
  static const gsize sizes[] = { 1, 3, 17, 129, 300007 };

  for (guint t = 0; t < G_N_ELEMENTS (thread_counts); t++)
    {
      ib_set_num_threads (thread_counts[t]);
      for (guint s = 0; s < G_N_ELEMENTS (sizes); s++)
        {
          gsize n = sizes[s];
          g_autofree float *x = g_new (float, n);
          g_autofree float *y0 = g_new (float, n);
          g_autofree float *y = guarded_new (n);

          fill_random (rand, x, n, 1.0);
          fill_random (rand, y0, n, 1.0);
          memcpy (y, y0, n * sizeof (float));
          ib_add (y, x, n);
          assert_guard (y, n);
          for (gsize i = 0; i < n; i++)
            g_assert_cmpfloat (y[i], ==, y0[i] + x[i]);
        }
    }
  ib_set_num_threads (0);
}

/* Attention */

typedef struct
{
  int n_q, n_kv, heads, dim_head;
  bool causal;
  int q_offset;
} AttentionCase;

static const AttentionCase attention_cases[] = {
  /* cross / encoder attention */
  { 1, 1, 1, 1, false, 0 }, { 1, 17, 3, 17, false, 0 }, { 7, 129, 2, 64, false, 0 },
  { 8, 3, 1, 64, false, 0 }, { 65, 17, 3, 17, false, 0 }, { 130, 257, 2, 64, false, 0 },
  { 129, 129, 16, 8, false, 0 },
  /* causal self-attention, full sequence */
  { 1, 1, 1, 64, true, 0 }, { 17, 17, 3, 17, true, 0 }, { 129, 129, 2, 64, true, 0 },
  { 8, 8, 1, 3, true, 0 },
  /* causal with a KV cache: the queries are the last n_q positions */
  { 1, 17, 3, 64, true, 16 }, { 1, 256, 2, 64, true, 255 }, { 3, 20, 2, 17, true, 17 },
  { 9, 140, 3, 64, true, 131 }, { 70, 200, 1, 33, true, 130 },
  /* causal with keys beyond the queries' reach (ignored) */
  { 5, 40, 2, 16, true, 3 }, { 20, 64, 2, 16, true, 10 },
};

static void
test_attention (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (4242);

  for (guint t = 0; t < G_N_ELEMENTS (thread_counts); t++)
    {
      ib_set_num_threads (thread_counts[t]);
      for (guint c = 0; c < G_N_ELEMENTS (attention_cases); c++)
        {
          const AttentionCase *ac = &attention_cases[c];
          int inner = ac->heads * ac->dim_head;
          int q_stride = inner + 5, kv_stride = 3 * inner + 2;   /* padded, as in packed q/k/v buffers */
          gsize n_out = (gsize) ac->n_q * inner;
          g_autofree float *q = g_new (float, (gsize) ac->n_q * q_stride);
          g_autofree float *k = g_new (float, (gsize) ac->n_kv * kv_stride);
          g_autofree float *v = g_new (float, (gsize) ac->n_kv * kv_stride);
          g_autofree float *out = guarded_new (n_out);
          g_autofree double *p = g_new (double, ac->n_kv);

          fill_random (rand, q, (gsize) ac->n_q * q_stride, 3.0);
          fill_random (rand, k, (gsize) ac->n_kv * kv_stride, 3.0);
          fill_random (rand, v, (gsize) ac->n_kv * kv_stride, 1.0);

          ib_attention (out, q, ac->n_q, q_stride, k, v, ac->n_kv, kv_stride, ac->heads, ac->dim_head,
                        ac->causal, ac->q_offset);
          assert_guard (out, n_out);

          for (int r = 0; r < ac->n_q; r++)
            for (int h = 0; h < ac->heads; h++)
              {
                int visible = ac->causal ? MIN (ac->n_kv, ac->q_offset + r + 1) : ac->n_kv;
                const float *qr = q + (gsize) r * q_stride + h * ac->dim_head;
                double max = -INFINITY, sum = 0.0;

                for (int j = 0; j < visible; j++)
                  {
                    const float *kj = k + (gsize) j * kv_stride + h * ac->dim_head;
                    double s = 0.0;

                    for (int d = 0; d < ac->dim_head; d++)
                      s += (double) qr[d] * kj[d];
                    p[j] = s / sqrt (ac->dim_head);
                    max = MAX (max, p[j]);
                  }
                for (int j = 0; j < visible; j++)
                  {
                    p[j] = exp (p[j] - max);
                    sum += p[j];
                  }
                for (int d = 0; d < ac->dim_head; d++)
                  {
                    double ref = 0.0, magnitude = 0.0;

                    for (int j = 0; j < visible; j++)
                      {
                        double vj = v[(gsize) j * kv_stride + h * ac->dim_head + d];
                        ref += p[j] / sum * vj;
                        magnitude += p[j] / sum * fabs (vj);
                      }
                    float got = out[(gsize) r * inner + h * ac->dim_head + d];
                    /* Scores of |s| ~ 10 carry ~1e-6 absolute f32 error into the weights. */
                    if (!(fabs (got - ref) <= 2e-5 * magnitude + 1e-7))
                      g_error ("attention case %u threads %d: out[%d, head %d, %d] = %.9g, expected %.9g", c,
                               thread_counts[t], r, h, d, got, ref);
                  }
              }
        }
    }
  ib_set_num_threads (0);
}

/* A query that sees no key at all gives zeros, not NaN. */
static void
test_attention_no_keys (void)
{
  float q[4] = { 1, 2, 3, 4 }, k[4] = { 1, 1, 1, 1 }, v[4] = { 5, 6, 7, 8 };
  float out[4 + GUARD];

  for (int i = 0; i < 4 + GUARD; i++)
    out[i] = sentinel ();
  ib_attention (out, q, 1, 4, k, v, 0, 4, 1, 4, false, 0);
  assert_guard (out, 4);
  for (int i = 0; i < 4; i++)
    g_assert_cmpfloat (out[i], ==, 0.0f);
}

static void
test_threads (void)
{
  ib_set_num_threads (3);
  g_assert_cmpint (ib_get_num_threads (), ==, 3);
  ib_set_num_threads (1);
  g_assert_cmpint (ib_get_num_threads (), ==, 1);
  ib_set_num_threads (0);
  g_assert_cmpint (ib_get_num_threads (), >=, 1);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/model/ops/threads", test_threads);
  g_test_add_func ("/model/ops/linear/f32", test_linear_f32);
  g_test_add_func ("/model/ops/linear/f16", test_linear_f16);
  g_test_add_func ("/model/ops/linear/bf16", test_linear_bf16);
  g_test_add_func ("/model/ops/linear-add/f32", test_linear_add_f32);
  g_test_add_func ("/model/ops/linear-add/f16", test_linear_add_f16);
  g_test_add_func ("/model/ops/linear-add/bf16", test_linear_add_bf16);
  g_test_add_func ("/model/ops/sgemm", test_sgemm);
  g_test_add_func ("/model/ops/layer-norm", test_layer_norm);
  g_test_add_func ("/model/ops/gelu", test_gelu);
  g_test_add_func ("/model/ops/swish", test_swish);
  g_test_add_func ("/model/ops/add", test_add);
  g_test_add_func ("/model/ops/attention", test_attention);
  g_test_add_func ("/model/ops/attention/no-keys", test_attention_no_keys);

  return g_test_run ();
}
