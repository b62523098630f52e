/* ib-ops.c: the CPU engine's operations on f32 activations: linear layers, LayerNorm, GELU, swish,
 * addition and multi-head attention (the image ops are in ib-ops-image.c).
 *
 * All parallelism comes from one OpenMP team. OpenBLAS is switched to a single thread and called from
 * inside the team on disjoint blocks: two thread pools that spin on the same cores slow each other down
 * (a 257x3008x752 sgemm on two cores drops from 190 to 112 GFLOP/s when one small OpenMP loop runs
 * between calls, while splitting it over OpenMP threads that each run single-threaded OpenBLAS keeps 194).
 *
 * The one-token decoding step is a matrix-vector product per weight, bound by memory bandwidth: it runs
 * fused widen+dot kernels (AVX2/F16C when the CPU has them, picked at run time) split over the threads by
 * rows of the weight, so f16/bf16 weights are read at half the bytes of f32 and never widened to memory.
 * Its attention reads the cache and context front to back, split over the threads by keys.
 *
 * IMAGEBART_NO_SIMD=1 in the environment selects the portable kernels (for testing them). */
#include "ib-ops.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define IB_HAVE_X86 1
#endif

/* Below this much work (elements or multiply-adds) waking the other threads costs more than it saves. */
#define PARALLEL_MIN_ELEMENTS 16384
#define PARALLEL_MIN_MACS     (1u << 16)

/* Batches up to this many rows go through the fused dot kernels instead of sgemm. */
#define SMALL_BATCH 8

/* f16/bf16 weight rows are widened for sgemm in blocks of about this many floats per thread. */
#define WIDEN_BLOCK_FLOATS (64u * 1024u)

/* Attention with at least this many query rows uses sgemm per head; fewer use direct loops. */
#define ATTENTION_GEMM_MIN_ROWS 8
/* Query rows per work item of the sgemm attention. */
#define ATTENTION_ROW_BLOCK 64

/* Threads and one-time setup */

static int ops_threads;          /* set by ib_set_num_threads; 0: OpenMP's default */
static int default_threads = 1;

typedef void (*DotFn) (const void  *w,
                       int          in,
                       const float *x,
                       int          ldx,
                       int          nx,
                       float       *out);
typedef void (*WidenFn) (const void *src,
                         float      *dst,
                         gsize       n);

static DotFn dot_fns[3];         /* by IB_DTYPE_F32, F16, BF16 */
static WidenFn widen_fns[3];

static void select_kernels (void);

static void
ops_init (void)
{
  static gsize initialized = 0;

  if (g_once_init_enter (&initialized))
    {
      /* Our OpenMP team is the only pool of threads; see the file comment. */
      openblas_set_num_threads (1);
      default_threads = MAX (1, omp_get_max_threads ());
      select_kernels ();
      g_once_init_leave (&initialized, 1);
    }
}

void
ib_set_num_threads (int n)
{
  ops_init ();
  if (n <= 0)
    n = omp_get_num_procs ();
  g_atomic_int_set (&ops_threads, MAX (n, 1));
}

int
ib_get_num_threads (void)
{
  int n;

  ops_init ();
  n = g_atomic_int_get (&ops_threads);
  return n > 0 ? n : default_threads;
}

/* Scratch memory: per thread, kept between calls so the hot paths allocate nothing. Slot 0 holds what
 * a whole op needs (widened biases and norms), slot 1 what each thread of its team needs. */

#define N_SCRATCH_SLOTS 2

typedef struct
{
  float *data[N_SCRATCH_SLOTS];
  gsize size[N_SCRATCH_SLOTS];
} Scratch;

static void
scratch_free (gpointer data)
{
  Scratch *scratch = data;

  for (int i = 0; i < N_SCRATCH_SLOTS; i++)
    g_aligned_free (scratch->data[i]);
  g_free (scratch);
}

static GPrivate scratch_key = G_PRIVATE_INIT (scratch_free);

static float *
thread_scratch (int   slot,
                gsize n_floats)
{
  Scratch *scratch = g_private_get (&scratch_key);

  if (scratch == NULL)
    {
      scratch = g_new0 (Scratch, 1);
      g_private_set (&scratch_key, scratch);
    }
  if (scratch->size[slot] < n_floats)
    {
      gsize size = MAX (n_floats, 1024);

      g_aligned_free (scratch->data[slot]);
      scratch->data[slot] = g_aligned_alloc (size, sizeof (float), 64);
      scratch->size[slot] = size;
    }
  return scratch->data[slot];
}

/* The part [*lo, *hi) of 0..total that member `part` of `parts` takes; boundaries are multiples of
 * align (except the last) so that threads do not share cache lines of their outputs. */
static void
split_range (int  total,
             int  parts,
             int  part,
             int  align,
             int *lo,
             int *hi)
{
  int64_t units = (total + align - 1) / align;

  *lo = (int) MIN ((int64_t) total, units * part / parts * align);
  *hi = (int) MIN ((int64_t) total, units * (part + 1) / parts * align);
}

/* How many threads a job of `work` units should use, at most one per `min_per_thread` units. */
static int
threads_for (double work,
             double min_per_thread)
{
  int n = ib_get_num_threads ();
  double useful = work / min_per_thread;

  if (useful < n)
    n = MAX (1, (int) useful);
  return n;
}

/* Vectorizable math: the loops below use these instead of libm calls, which the compiler cannot
 * vectorize. Relative errors are a few ulp; tests/test-ops.c checks them against double precision.
 * Without trapping math the compiler may turn the clamps and selects into vector blends (nothing here
 * reads the floating-point exception flags). */
#ifndef __clang__   /* clang has no per-function optimize pragma; it vectorizes these loops anyway */
#pragma GCC push_options
#pragma GCC optimize ("no-trapping-math")
#endif

/* e^x by Cody-Waite reduction to |r| <= ln2/2 and a degree-7 Taylor polynomial (truncation < 1e-8). */
static inline float
exp_f32 (float x)
{
  const float log2e = 1.44269504088896341f;
  const float ln2_hi = 0.693145751953125f;
  const float ln2_lo = 1.42860682030941723212e-6f;
  /* NaN takes the lower bound here (so the conversion to int below is defined) and is passed on at the
   * end. */
  float clamped = x > -87.0f ? (x < 88.0f ? x : 88.0f) : -87.0f;
  float n = floorf (clamped * log2e + 0.5f);
  float r = clamped - n * ln2_hi - n * ln2_lo;
  float p = 1.0f / 5040.0f;

  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;

  uint32_t bits = (uint32_t) ((int32_t) n + 127) << 23;
  float scale;
  memcpy (&scale, &bits, sizeof scale);
  float result = p * scale;
  return x != x ? x : result;
}

/* erfc(|x| / sqrt 2) with relative error of a few 1e-7 everywhere: Numerical Recipes' erfcc (a Chebyshev
 * fit of erfc(z) exp(z^2), relative error below 1.2e-7) times exp(-x^2/2), that exponent carried in
 * two parts because its rounding in one f32 (up to 2e-6 at |x| = 6) would dominate. Keeps GELU
 * accurate relative to its value deep in the negative tail too, where 1 + erf(x) would cancel. */
static inline float
erfc_scaled_f32 (float ax)
{
  float z = ax * 0.70710678118654752f;
  float t = 1.0f / (1.0f + 0.5f * z);
  float p = 0.17087277f;

  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t - 1.26551223f;

  /* x^2 / 2 = s1 + s2 + s3 exactly, from ax = a_hi + a_lo with 12 significant bits each (masked, so no
   * contraction into FMAs can change it). */
  uint32_t bits;
  memcpy (&bits, &ax, sizeof bits);
  bits &= 0xfffff000u;
  float a_hi;
  memcpy (&a_hi, &bits, sizeof a_hi);
  float a_lo = ax - a_hi;
  float s1 = 0.5f * a_hi * a_hi, s2 = a_hi * a_lo, s3 = 0.5f * a_lo * a_lo;

  /* p - s1 - s2 = hi + lo by two TwoSums; lo (rounding errors and s3, below 1e-5) enters to first order. */
  float h1 = p - s1;
  float back1 = h1 - p;
  float e1 = (p - (h1 - back1)) + (-s1 - back1);
  float hi = h1 - s2;
  float back2 = hi - h1;
  float e2 = (h1 - (hi - back2)) + (-s2 - back2);
  float lo = (e1 + e2) - s3;

  return t * (exp_f32 (hi) * (1.0f + lo));
}

/* The elementwise kernels, one clone per instruction set, picked by the loader. */
#ifdef IB_HAVE_X86
#define IB_CLONES __attribute__ ((target_clones ("avx512f", "avx2", "default")))
#else
#define IB_CLONES
#endif

IB_CLONES static void
gelu_kernel (float *x,
             gsize  n)
{
#pragma omp simd
  for (gsize i = 0; i < n; i++)
    {
      float v = x[i];
      float e = erfc_scaled_f32 (fabsf (v));
      /* Phi(v) = erfc(-v / sqrt 2) / 2 */
      float phi = v >= 0.0f ? 1.0f - 0.5f * e : 0.5f * e;
      x[i] = v * phi;
    }
}

IB_CLONES static void
swish_kernel (float *x,
              gsize  n)
{
#pragma omp simd
  for (gsize i = 0; i < n; i++)
    x[i] = x[i] / (1.0f + exp_f32 (-x[i]));
}

IB_CLONES static void
add_kernel (float       *y,
            const float *x,
            gsize        n)
{
#pragma omp simd
  for (gsize i = 0; i < n; i++)
    y[i] += x[i];
}

/* s[j] = exp(s[j] - max) for j < n, returns the sum. */
IB_CLONES static float
exp_shift_sum_kernel (float *s,
                      int    n,
                      float  max)
{
  float sum = 0.0f;

#pragma omp simd reduction(+:sum)
  for (int j = 0; j < n; j++)
    {
      float e = exp_f32 (s[j] - max);
      s[j] = e;
      sum += e;
    }
  return sum;
}

#ifndef __clang__
#pragma GCC pop_options
#endif

typedef void (*ElementwiseFn) (float *x,
                               gsize  n);

static void
run_elementwise (ElementwiseFn fn,
                 float        *x,
                 gsize         n)
{
  int n_threads = threads_for ((double) n, PARALLEL_MIN_ELEMENTS);

  if (n_threads <= 1)
    {
      fn (x, n);
      return;
    }

#pragma omp parallel num_threads(n_threads)
  {
    gsize parts = (gsize) omp_get_num_threads (), part = (gsize) omp_get_thread_num ();
    gsize units = (n + 15) / 16;
    gsize begin = MIN (n, units * part / parts * 16), end = MIN (n, units * (part + 1) / parts * 16);

    if (begin < end)
      fn (x + begin, end - begin);
  }
}

void
ib_gelu (float *x,
         gsize  n)
{
  g_return_if_fail (x != NULL || n == 0);
  run_elementwise (gelu_kernel, x, n);
}

void
ib_swish (float *x,
          gsize  n)
{
  g_return_if_fail (x != NULL || n == 0);
  run_elementwise (swish_kernel, x, n);
}

void
ib_add (float       *y,
        const float *x,
        gsize        n)
{
  g_return_if_fail ((y != NULL && x != NULL) || n == 0);

  int n_threads = threads_for ((double) n, 4 * PARALLEL_MIN_ELEMENTS);
  if (n_threads <= 1 || n > (gsize) G_MAXINT)
    {
      add_kernel (y, x, n);
      return;
    }

#pragma omp parallel num_threads(n_threads)
  {
    int lo, hi;

    split_range ((int) n, omp_get_num_threads (), omp_get_thread_num (), 16, &lo, &hi);
    if (lo < hi)
      add_kernel (y + lo, x + lo, (gsize) (hi - lo));
  }
}

/* Weight access */

static inline float
weight_scalar (IbDType     dtype,
               const void *w,
               gsize       i)
{
  switch (dtype)
    {
    case IB_DTYPE_F32:
      return ((const float *) w)[i];
    case IB_DTYPE_F16:
      return ib_f16_to_f32 (((const uint16_t *) w)[i]);
    case IB_DTYPE_BF16:
      return ib_bf16_to_f32 (((const uint16_t *) w)[i]);
    default:
      g_assert_not_reached ();
    }
}

static inline gboolean
is_float_dtype (IbDType dtype)
{
  return dtype == IB_DTYPE_F32 || dtype == IB_DTYPE_F16 || dtype == IB_DTYPE_BF16;
}

/* A small float tensor (bias, norm) as f32: in place when f32, else widened into scratch (the calling
 * thread's slot 0, which the op's team leaves alone). */
static const float *
small_tensor_f32 (const IbTensor *t,
                  float          *scratch)
{
  if (t == NULL)
    return NULL;
  if (t->dtype == IB_DTYPE_F32)
    return t->data;
  widen_fns[t->dtype] (t->data, scratch, (gsize) t->n_elements);
  return scratch;
}

/* Portable kernels */

static void
dot_generic (IbDType      dtype,
             const void  *w,
             int          in,
             const float *x,
             int          ldx,
             int          nx,
             float       *out)
{
  float acc[SMALL_BATCH] = { 0 };
  float buf[256];

  g_assert (nx <= SMALL_BATCH);
  for (int c0 = 0; c0 < in; c0 += 256)
    {
      int len = MIN (256, in - c0);

      for (int c = 0; c < len; c++)
        buf[c] = weight_scalar (dtype, w, (gsize) (c0 + c));
      for (int i = 0; i < nx; i++)
        {
          const float *xi = x + (gsize) i * ldx + c0;
          float s = 0.0f;

#pragma omp simd reduction(+:s)
          for (int c = 0; c < len; c++)
            s += buf[c] * xi[c];
          acc[i] += s;
        }
    }
  for (int i = 0; i < nx; i++)
    out[i] = acc[i];
}

static void
dot_f32_generic (const void  *w,
                 int          in,
                 const float *x,
                 int          ldx,
                 int          nx,
                 float       *out)
{
  dot_generic (IB_DTYPE_F32, w, in, x, ldx, nx, out);
}

static void
dot_f16_generic (const void  *w,
                 int          in,
                 const float *x,
                 int          ldx,
                 int          nx,
                 float       *out)
{
  dot_generic (IB_DTYPE_F16, w, in, x, ldx, nx, out);
}

static void
dot_bf16_generic (const void  *w,
                  int          in,
                  const float *x,
                  int          ldx,
                  int          nx,
                  float       *out)
{
  dot_generic (IB_DTYPE_BF16, w, in, x, ldx, nx, out);
}

static void
widen_f32_generic (const void *src,
                   float      *dst,
                   gsize       n)
{
  memcpy (dst, src, n * sizeof (float));
}

static void
widen_f16_generic (const void *src,
                   float      *dst,
                   gsize       n)
{
  const uint16_t *h = src;

  for (gsize i = 0; i < n; i++)
    dst[i] = ib_f16_to_f32 (h[i]);
}

static void
widen_bf16_generic (const void *src,
                    float      *dst,
                    gsize       n)
{
  const uint16_t *b = src;

  for (gsize i = 0; i < n; i++)
    dst[i] = ib_bf16_to_f32 (b[i]);
}

/* AVX2 + FMA + F16C kernels */

#ifdef IB_HAVE_X86

#define IB_AVX2 __attribute__ ((target ("avx2,fma,f16c")))

IB_AVX2 static inline float
hsum256 (__m256 v)
{
  __m128 s = _mm_add_ps (_mm256_castps256_ps128 (v), _mm256_extractf128_ps (v, 1));
  s = _mm_add_ps (s, _mm_movehl_ps (s, s));
  s = _mm_add_ss (s, _mm_movehdup_ps (s));
  return _mm_cvtss_f32 (s);
}

IB_AVX2 static inline __m256
load8_f32 (const void *w,
           int         c)
{
  return _mm256_loadu_ps ((const float *) w + c);
}

IB_AVX2 static inline __m256
load8_f16 (const void *w,
           int         c)
{
  return _mm256_cvtph_ps (_mm_loadu_si128 ((const __m128i *) ((const uint16_t *) w + c)));
}

IB_AVX2 static inline __m256
load8_bf16 (const void *w,
            int         c)
{
  __m256i wide = _mm256_cvtepu16_epi32 (_mm_loadu_si128 ((const __m128i *) ((const uint16_t *) w + c)));
  return _mm256_castsi256_ps (_mm256_slli_epi32 (wide, 16));
}

IB_AVX2 static inline float
load1_f32 (const void *w,
           int         c)
{
  return ((const float *) w)[c];
}

IB_AVX2 static inline float
load1_f16 (const void *w,
           int         c)
{
  return _cvtsh_ss (((const uint16_t *) w)[c]);
}

IB_AVX2 static inline float
load1_bf16 (const void *w,
            int         c)
{
  return ib_bf16_to_f32 (((const uint16_t *) w)[c]);
}

/* One weight row against nx <= SMALL_BATCH activation rows. The single-row case, the decoding step,
 * keeps four independent accumulators so that the FMA latency does not limit the stream of weights. */
#define DEFINE_DOT_AVX2(SUFFIX)                                                                    \
  IB_AVX2 static void                                                                              \
  dot_##SUFFIX##_avx2 (const void  *w,                                                             \
                       int          in,                                                            \
                       const float *x,                                                             \
                       int          ldx,                                                           \
                       int          nx,                                                            \
                       float       *out)                                                           \
  {                                                                                                \
    int c = 0;                                                                                     \
                                                                                                   \
    if (nx == 1)                                                                                   \
      {                                                                                            \
        __m256 a0 = _mm256_setzero_ps (), a1 = _mm256_setzero_ps ();                               \
        __m256 a2 = _mm256_setzero_ps (), a3 = _mm256_setzero_ps ();                               \
        for (; c + 32 <= in; c += 32)                                                              \
          {                                                                                        \
            a0 = _mm256_fmadd_ps (load8_##SUFFIX (w, c), _mm256_loadu_ps (x + c), a0);             \
            a1 = _mm256_fmadd_ps (load8_##SUFFIX (w, c + 8), _mm256_loadu_ps (x + c + 8), a1);     \
            a2 = _mm256_fmadd_ps (load8_##SUFFIX (w, c + 16), _mm256_loadu_ps (x + c + 16), a2);   \
            a3 = _mm256_fmadd_ps (load8_##SUFFIX (w, c + 24), _mm256_loadu_ps (x + c + 24), a3);   \
          }                                                                                        \
        for (; c + 8 <= in; c += 8)                                                                \
          a0 = _mm256_fmadd_ps (load8_##SUFFIX (w, c), _mm256_loadu_ps (x + c), a0);               \
        float s = hsum256 (_mm256_add_ps (_mm256_add_ps (a0, a1), _mm256_add_ps (a2, a3)));        \
        for (; c < in; c++)                                                                        \
          s += load1_##SUFFIX (w, c) * x[c];                                                       \
        out[0] = s;                                                                                \
        return;                                                                                    \
      }                                                                                            \
                                                                                                   \
    for (int i0 = 0; i0 < nx; i0 += 4)                                                             \
      {                                                                                            \
        int m = MIN (4, nx - i0);                                                                  \
        /* Rows past m repeat the last one; their sums are dropped. */                             \
        const float *x0 = x + (gsize) i0 * ldx;                                                    \
        const float *x1 = x + (gsize) (i0 + MIN (1, m - 1)) * ldx;                                 \
        const float *x2 = x + (gsize) (i0 + MIN (2, m - 1)) * ldx;                                 \
        const float *x3 = x + (gsize) (i0 + MIN (3, m - 1)) * ldx;                                 \
        __m256 a0 = _mm256_setzero_ps (), a1 = _mm256_setzero_ps ();                               \
        __m256 a2 = _mm256_setzero_ps (), a3 = _mm256_setzero_ps ();                               \
        for (c = 0; c + 8 <= in; c += 8)                                                           \
          {                                                                                        \
            __m256 wv = load8_##SUFFIX (w, c);                                                     \
            a0 = _mm256_fmadd_ps (wv, _mm256_loadu_ps (x0 + c), a0);                               \
            a1 = _mm256_fmadd_ps (wv, _mm256_loadu_ps (x1 + c), a1);                               \
            a2 = _mm256_fmadd_ps (wv, _mm256_loadu_ps (x2 + c), a2);                               \
            a3 = _mm256_fmadd_ps (wv, _mm256_loadu_ps (x3 + c), a3);                               \
          }                                                                                        \
        float s[4] = { hsum256 (a0), hsum256 (a1), hsum256 (a2), hsum256 (a3) };                   \
        for (; c < in; c++)                                                                        \
          {                                                                                        \
            float wc = load1_##SUFFIX (w, c);                                                      \
            s[0] += wc * x0[c];                                                                    \
            s[1] += wc * x1[c];                                                                    \
            s[2] += wc * x2[c];                                                                    \
            s[3] += wc * x3[c];                                                                    \
          }                                                                                        \
        for (int i = 0; i < m; i++)                                                                \
          out[i0 + i] = s[i];                                                                      \
      }                                                                                            \
  }

DEFINE_DOT_AVX2 (f32)
DEFINE_DOT_AVX2 (f16)
DEFINE_DOT_AVX2 (bf16)

IB_AVX2 static void
widen_f16_avx2 (const void *src,
                float      *dst,
                gsize       n)
{
  gsize i = 0;

  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps (dst + i, load8_f16 ((const uint16_t *) src + i, 0));
  for (; i < n; i++)
    dst[i] = load1_f16 (src, (int) i);
}

IB_AVX2 static void
widen_bf16_avx2 (const void *src,
                 float      *dst,
                 gsize       n)
{
  gsize i = 0;

  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps (dst + i, load8_bf16 ((const uint16_t *) src + i, 0));
  for (; i < n; i++)
    dst[i] = ib_bf16_to_f32 (((const uint16_t *) src)[i]);
}

#endif /* IB_HAVE_X86 */

/* clang before 15 does not know "f16c" here; every CPU with AVX2 and FMA has F16C. */
#if defined(__clang__) && __clang_major__ < 15
#define CPU_HAS_F16C() TRUE
#else
#define CPU_HAS_F16C() __builtin_cpu_supports ("f16c")
#endif

static void
select_kernels (void)
{
  dot_fns[IB_DTYPE_F32] = dot_f32_generic;
  dot_fns[IB_DTYPE_F16] = dot_f16_generic;
  dot_fns[IB_DTYPE_BF16] = dot_bf16_generic;
  widen_fns[IB_DTYPE_F32] = widen_f32_generic;
  widen_fns[IB_DTYPE_F16] = widen_f16_generic;
  widen_fns[IB_DTYPE_BF16] = widen_bf16_generic;

#ifdef IB_HAVE_X86
  __builtin_cpu_init ();
  if (__builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma") && CPU_HAS_F16C () &&
      g_getenv ("IMAGEBART_NO_SIMD") == NULL)
    {
      dot_fns[IB_DTYPE_F32] = dot_f32_avx2;
      dot_fns[IB_DTYPE_F16] = dot_f16_avx2;
      dot_fns[IB_DTYPE_BF16] = dot_bf16_avx2;
      widen_fns[IB_DTYPE_F16] = widen_f16_avx2;
      widen_fns[IB_DTYPE_BF16] = widen_bf16_avx2;
    }
#endif
}

/* sgemm */

static void
sgemm_block (bool         trans_a,
             bool         trans_b,
             int          m,
             int          n,
             int          k,
             float        alpha,
             const float *a,
             int          lda,
             const float *b,
             int          ldb,
             float        beta,
             float       *c,
             int          ldc)
{
  if (m <= 0 || n <= 0)
    return;
  if (k <= 0)
    {
      /* BLAS leaves C alone for k = 0 only when beta = 1; make it C = beta C explicitly. */
      for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
          c[(gsize) i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[(gsize) i * ldc + j];
      return;
    }
  cblas_sgemm (CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
               m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void
ib_sgemm (bool         trans_a,
          bool         trans_b,
          int          m,
          int          n,
          int          k,
          float        alpha,
          const float *a,
          int          lda,
          const float *b,
          int          ldb,
          float        beta,
          float       *c,
          int          ldc)
{
  g_return_if_fail (m >= 0 && n >= 0 && k >= 0);

  ops_init ();
  int n_threads = threads_for ((double) m * n * k, 2 * PARALLEL_MIN_MACS);
  if (n_threads <= 1)
    {
      sgemm_block (trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
      return;
    }

  /* Split the larger output dimension; each thread's block is an ordinary sgemm. */
  bool split_n = n >= m;

#pragma omp parallel num_threads(n_threads)
  {
    int lo, hi;

    if (split_n)
      {
        split_range (n, omp_get_num_threads (), omp_get_thread_num (), 16, &lo, &hi);
        if (lo < hi)
          sgemm_block (trans_a, trans_b, m, hi - lo, k, alpha, a, lda,
                       trans_b ? b + (gsize) lo * ldb : b + lo, ldb, beta, c + lo, ldc);
      }
    else
      {
        split_range (m, omp_get_num_threads (), omp_get_thread_num (), 4, &lo, &hi);
        if (lo < hi)
          sgemm_block (trans_a, trans_b, hi - lo, n, k, alpha,
                       trans_a ? a + lo : a + (gsize) lo * lda, lda, b, ldb, beta,
                       c + (gsize) lo * ldc, ldc);
      }
  }
}

/* Linear layers */

/* Rows [r0, r1) of the output for a small batch:
 * y[i, r] = (accumulate ? y[i, r] : 0) + W[r] . x[i] + b[r]. */
static void
linear_rows_small (float          *y,
                   const float    *x,
                   int             n,
                   const IbTensor *weight,
                   int             in,
                   const float    *bias,
                   bool            accumulate,
                   int             out,
                   int             r0,
                   int             r1)
{
  DotFn dot = dot_fns[weight->dtype];
  gsize row_bytes = (gsize) in * ib_dtype_size (weight->dtype);
  const char *w = weight->data;
  float sums[SMALL_BATCH];

  for (int r = r0; r < r1; r++)
    {
      float b = bias != NULL ? bias[r] : 0.0f;

      dot (w + (gsize) r * row_bytes, in, x, in, n, sums);
      for (int i = 0; i < n; i++)
        {
          float *yi = y + (gsize) i * out + r;
          *yi = (accumulate ? *yi : 0.0f) + sums[i] + b;
        }
    }
}

/* Columns [c0, c1) of the output for a batch through sgemm, the weight rows widened block by block when
 * they are not f32. Bias and accumulation are applied first, so sgemm runs with beta = 1 where needed. */
static void
linear_cols_gemm (float          *y,
                  const float    *x,
                  int             n,
                  const IbTensor *weight,
                  int             in,
                  const float    *bias,
                  bool            accumulate,
                  int             out,
                  int             c0,
                  int             c1)
{
  int width = c1 - c0;
  float beta = 0.0f;

  if (width <= 0)
    return;
  if (bias != NULL)
    {
      for (int i = 0; i < n; i++)
        {
          float *yi = y + (gsize) i * out + c0;

          if (accumulate)
            add_kernel (yi, bias + c0, (gsize) width);
          else
            memcpy (yi, bias + c0, (gsize) width * sizeof (float));
        }
      beta = 1.0f;
    }
  else if (accumulate)
    beta = 1.0f;

  if (weight->dtype == IB_DTYPE_F32)
    {
      sgemm_block (false, true, n, width, in, 1.0f, x, in, (const float *) weight->data + (gsize) c0 * in, in,
                   beta, y + c0, out);
      return;
    }

  int block = (int) CLAMP (WIDEN_BLOCK_FLOATS / (gsize) in, 16, 1024) / 16 * 16;
  float *widened = thread_scratch (1, (gsize) MIN (block, width) * in);
  gsize row_bytes = (gsize) in * ib_dtype_size (weight->dtype);

  for (int r = c0; r < c1; r += block)
    {
      int rows = MIN (block, c1 - r);

      widen_fns[weight->dtype] ((const char *) weight->data + (gsize) r * row_bytes, widened,
                                (gsize) rows * in);
      sgemm_block (false, true, n, rows, in, 1.0f, x, in, widened, in, beta, y + r, out);
    }
}

static void
linear (float          *y,
        const float    *x,
        int             n,
        const IbTensor *weight,
        const IbTensor *bias,
        bool            accumulate)
{
  g_return_if_fail (y != NULL && x != NULL && weight != NULL);
  g_return_if_fail (weight->n_dims == 2 && is_float_dtype (weight->dtype));
  g_return_if_fail (weight->shape[0] <= G_MAXINT && weight->shape[1] <= G_MAXINT);
  g_return_if_fail (bias == NULL || (bias->n_elements == weight->shape[0] && is_float_dtype (bias->dtype)));
  g_return_if_fail (n >= 0);

  int out = (int) weight->shape[0];
  int in = (int) weight->shape[1];

  ops_init ();
  if (n == 0)
    return;

  const float *b = small_tensor_f32 (bias, bias != NULL ? thread_scratch (0, (gsize) out) : NULL);
  double macs = (double) n * out * in;

  if (n <= SMALL_BATCH)
    {
      /* Bandwidth-bound: one contiguous stretch of weight rows per thread keeps the prefetchers on long
       * streams (blocks handed out dynamically measured slower); boundaries on whole cache lines of y. */
      int n_threads = threads_for (macs, PARALLEL_MIN_MACS);
      if (n_threads <= 1)
        {
          linear_rows_small (y, x, n, weight, in, b, accumulate, out, 0, out);
          return;
        }
#pragma omp parallel num_threads(n_threads)
      {
        int lo, hi;

        split_range (out, omp_get_num_threads (), omp_get_thread_num (), 16, &lo, &hi);
        linear_rows_small (y, x, n, weight, in, b, accumulate, out, lo, hi);
      }
      return;
    }

  int n_threads = threads_for (macs, 4 * PARALLEL_MIN_MACS);
  if (n_threads <= 1)
    {
      linear_cols_gemm (y, x, n, weight, in, b, accumulate, out, 0, out);
      return;
    }
#pragma omp parallel num_threads(n_threads)
  {
    int lo, hi;

    split_range (out, omp_get_num_threads (), omp_get_thread_num (), 16, &lo, &hi);
    linear_cols_gemm (y, x, n, weight, in, b, accumulate, out, lo, hi);
  }
}

void
ib_linear (float          *y,
           const float    *x,
           int             n,
           const IbTensor *weight,
           const IbTensor *bias)
{
  linear (y, x, n, weight, bias, false);
}

void
ib_linear_add (float          *y,
               const float    *x,
               int             n,
               const IbTensor *weight,
               const IbTensor *bias)
{
  linear (y, x, n, weight, bias, true);
}

/* LayerNorm */

static void
layer_norm_row (float       *y,
                const float *x,
                int          dim,
                const float *gamma,
                const float *beta,
                float        eps)
{
  /* Summing x - x[0] keeps a large common offset out of the f32 sum; the second pass then measures the
   * spread around the exact-enough mean. */
  float shift = x[0], sum = 0.0f;

#pragma omp simd reduction(+:sum)
  for (int i = 0; i < dim; i++)
    sum += x[i] - shift;
  float mean = shift + sum / (float) dim;

  float squares = 0.0f;
#pragma omp simd reduction(+:squares)
  for (int i = 0; i < dim; i++)
    {
      float d = x[i] - mean;
      squares += d * d;
    }
  float rstd = 1.0f / sqrtf (squares / (float) dim + eps);

  if (gamma != NULL && beta != NULL)
    {
#pragma omp simd
      for (int i = 0; i < dim; i++)
        y[i] = (x[i] - mean) * rstd * gamma[i] + beta[i];
    }
  else
    {
      for (int i = 0; i < dim; i++)
        y[i] = (x[i] - mean) * rstd * (gamma != NULL ? gamma[i] : 1.0f) + (beta != NULL ? beta[i] : 0.0f);
    }
}

void
ib_layer_norm (float          *y,
               const float    *x,
               int             n_rows,
               int             dim,
               const IbTensor *gamma,
               const IbTensor *beta,
               float           eps)
{
  g_return_if_fail (y != NULL && x != NULL && n_rows >= 0 && dim > 0);
  g_return_if_fail (gamma == NULL || (gamma->n_elements == dim && is_float_dtype (gamma->dtype)));
  g_return_if_fail (beta == NULL || (beta->n_elements == dim && is_float_dtype (beta->dtype)));

  ops_init ();
  float *scratch = thread_scratch (0, 2 * (gsize) dim);
  const float *g = small_tensor_f32 (gamma, scratch);
  const float *b = small_tensor_f32 (beta, scratch + dim);
  int n_threads = threads_for ((double) n_rows * dim, PARALLEL_MIN_ELEMENTS);

#pragma omp parallel for schedule(static) num_threads(n_threads) if (n_threads > 1)
  for (int r = 0; r < n_rows; r++)
    layer_norm_row (y + (gsize) r * dim, x + (gsize) r * dim, dim, g, b, eps);
}

/* Attention */

static inline float
dot_f32 (const float *a,
         const float *b,
         int          n)
{
  float s = 0.0f;

#pragma omp simd reduction(+:s)
  for (int i = 0; i < n; i++)
    s += a[i] * b[i];
  return s;
}

/* One query row against keys [j0, j1), all heads, without the final normalization: per head h the
 * largest score max[h], sum[h] = sum_j exp(s_j - max[h]) and o[h] = sum_j exp(s_j - max[h]) v_j. The
 * heads' rows lie side by side in k and v, so the loops run over keys outside and heads inside: a
 * decoding step walks its megabytes of cache and context front to back (a walk per head would jump a
 * page per key, which the prefetchers do not follow). scores is scratch of heads * (j1 - j0) floats. */
IB_CLONES static void
attention_partial (const float *qr,
                   const float *k,
                   const float *v,
                   int          kv_stride,
                   int          j0,
                   int          j1,
                   int          heads,
                   int          dim_head,
                   float        scale,
                   float       *scores,
                   float       *max,
                   float       *sum,
                   float       *o)
{
  int n = j1 - j0;

  memset (o, 0, (gsize) heads * dim_head * sizeof (float));
  if (n <= 0)
    {
      for (int h = 0; h < heads; h++)
        {
          max[h] = -INFINITY;
          sum[h] = 0.0f;
        }
      return;
    }

  for (int j = 0; j < n; j++)
    {
      const float *kj = k + (gsize) (j0 + j) * kv_stride;

      for (int h = 0; h < heads; h++)
        scores[(gsize) h * n + j] = scale * dot_f32 (qr + (gsize) h * dim_head, kj + (gsize) h * dim_head,
                                                     dim_head);
    }
  for (int h = 0; h < heads; h++)
    {
      float *s = scores + (gsize) h * n;
      float m = -INFINITY;

      for (int j = 0; j < n; j++)
        m = MAX (m, s[j]);
      max[h] = m;
      sum[h] = exp_shift_sum_kernel (s, n, m);
    }
  for (int j = 0; j < n; j++)
    {
      const float *vj = v + (gsize) (j0 + j) * kv_stride;

      for (int h = 0; h < heads; h++)
        {
          float p = scores[(gsize) h * n + j];
          float *oh = o + (gsize) h * dim_head;
          const float *vjh = vj + (gsize) h * dim_head;

#pragma omp simd
          for (int d = 0; d < dim_head; d++)
            oh[d] += p * vjh[d];
        }
    }
}

/* out[h] = the parts' o[h] rescaled to a common maximum and normalized, for heads [h0, h1); part u lies at
 * parts + u * part_size as o (heads * dim_head), max (heads), sum (heads). */
static void
attention_combine (float       *out,
                   const float *parts,
                   int          n_parts,
                   gsize        part_size,
                   int          heads,
                   int          dim_head,
                   int          h0,
                   int          h1)
{
  gsize o_size = (gsize) heads * dim_head;

  for (int h = h0; h < h1; h++)
    {
      float *oh = out + (gsize) h * dim_head;
      float m = -INFINITY, total = 0.0f;

      for (int u = 0; u < n_parts; u++)
        m = MAX (m, parts[u * part_size + o_size + h]);
      memset (oh, 0, (gsize) dim_head * sizeof (float));
      if (m == -INFINITY)
        continue;                /* no key visible: zeros, as an empty softmax has nothing to weigh */
      for (int u = 0; u < n_parts; u++)
        {
          const float *part = parts + u * part_size;
          float sum = part[o_size + heads + h];

          if (sum == 0.0f)
            continue;
          float w = expf (part[o_size + h] - m);
          total += w * sum;
          for (int d = 0; d < dim_head; d++)
            oh[d] += w * part[(gsize) h * dim_head + d];
        }
      float inv = 1.0f / total;
      for (int d = 0; d < dim_head; d++)
        oh[d] *= inv;
    }
}

/* Query rows [r0, r1) of head h by two sgemms around a softmax; scores is scratch of
 * (r1 - r0) * n_kv floats. */
static void
attention_block_gemm (float       *out,
                      int          out_stride,
                      const float *q,
                      int          q_stride,
                      const float *k,
                      const float *v,
                      int          n_kv,
                      int          kv_stride,
                      int          h,
                      int          dim_head,
                      bool         causal,
                      int          q_offset,
                      int          r0,
                      int          r1,
                      float        scale,
                      float       *scores)
{
  int rows = r1 - r0;
  /* Keys any row of the block can see. */
  int n_keys = causal ? MIN (n_kv, q_offset + r1) : n_kv;

  if (n_keys <= 0)
    {
      for (int r = r0; r < r1; r++)
        memset (out + (gsize) r * out_stride + (gsize) h * dim_head, 0, (gsize) dim_head * sizeof (float));
      return;
    }

  sgemm_block (false, true, rows, n_keys, dim_head, scale,
               q + (gsize) r0 * q_stride + (gsize) h * dim_head, q_stride,
               k + (gsize) h * dim_head, kv_stride, 0.0f, scores, n_keys);

  float inv_sums[ATTENTION_ROW_BLOCK];
  for (int i = 0; i < rows; i++)
    {
      float *s = scores + (gsize) i * n_keys;
      int visible = causal ? CLAMP (q_offset + r0 + i + 1, 0, n_keys) : n_keys;
      float max = -INFINITY;

      for (int j = 0; j < visible; j++)
        max = MAX (max, s[j]);
      float sum = visible > 0 ? exp_shift_sum_kernel (s, visible, max) : 0.0f;
      inv_sums[i] = sum > 0.0f ? 1.0f / sum : 0.0f;
      for (int j = visible; j < n_keys; j++)
        s[j] = 0.0f;
    }

  float *o = out + (gsize) r0 * out_stride + (gsize) h * dim_head;
  sgemm_block (false, false, rows, dim_head, n_keys, 1.0f, scores, n_keys,
               v + (gsize) h * dim_head, kv_stride, 0.0f, o, out_stride);
  for (int i = 0; i < rows; i++)
    {
      float *oi = o + (gsize) i * out_stride;
#pragma omp simd
      for (int d = 0; d < dim_head; d++)
        oi[d] *= inv_sums[i];
    }
}

void
ib_attention (float       *out,
              const float *q,
              int          n_q,
              int          q_stride,
              const float *k,
              const float *v,
              int          n_kv,
              int          kv_stride,
              int          heads,
              int          dim_head,
              bool         causal,
              int          q_offset)
{
  g_return_if_fail (out != NULL && q != NULL && k != NULL && v != NULL);
  g_return_if_fail (n_q >= 0 && n_kv >= 0 && heads > 0 && dim_head > 0 && q_offset >= 0);
  g_return_if_fail (q_stride >= heads * dim_head && kv_stride >= heads * dim_head);

  ops_init ();
  if (n_q == 0)
    return;

  int out_stride = heads * dim_head;
  float scale = 1.0f / sqrtf ((float) dim_head);
  /* Work, in multiply-adds, of the whole call (two products per visible key). */
  double macs = 2.0 * n_q * (double) n_kv * heads * dim_head;
  int n_threads = threads_for (macs, PARALLEL_MIN_MACS);

  if (n_q < ATTENTION_GEMM_MIN_ROWS)
    {
      /* Each thread takes a contiguous range of keys for all heads (one stretch of memory), then the
       * threads' partial softmaxes are combined, each thread combining some heads. */
      gsize part_size = (gsize) heads * (dim_head + 2);
      float *parts = thread_scratch (0, (gsize) n_threads * part_size);

#pragma omp parallel num_threads(n_threads) if (n_threads > 1)
      {
        int n_parts = omp_get_num_threads (), u = omp_get_thread_num ();
        float *part = parts + u * part_size;
        gsize o_size = (gsize) heads * dim_head;

        for (int r = 0; r < n_q; r++)
          {
            int n_keys = causal ? CLAMP (q_offset + r + 1, 0, n_kv) : n_kv;
            int j0, j1, h0, h1;

            split_range (n_keys, n_parts, u, 1, &j0, &j1);
            float *scores = thread_scratch (1, (gsize) heads * MAX (j1 - j0, 1));
            attention_partial (q + (gsize) r * q_stride, k, v, kv_stride, j0, j1, heads, dim_head, scale,
                               scores, part + o_size, part + o_size + heads, part);
#pragma omp barrier
            split_range (heads, n_parts, u, 1, &h0, &h1);
            attention_combine (out + (gsize) r * out_stride, parts, n_parts, part_size, heads, dim_head,
                               h0, h1);
#pragma omp barrier
          }
      }
      return;
    }

  int n_blocks = (n_q + ATTENTION_ROW_BLOCK - 1) / ATTENTION_ROW_BLOCK;
  int n_items = heads * n_blocks;

#pragma omp parallel num_threads(n_threads) if (n_threads > 1)
  {
    float *scores = thread_scratch (1, (gsize) ATTENTION_ROW_BLOCK * MAX (n_kv, 1));

    /* Later blocks see more keys under a causal mask: hand out the big items first. */
#pragma omp for schedule(dynamic, 1)
    for (int item = 0; item < n_items; item++)
      {
        int block = n_blocks - 1 - item / heads, h = item % heads;
        int r0 = block * ATTENTION_ROW_BLOCK, r1 = MIN (n_q, r0 + ATTENTION_ROW_BLOCK);

        attention_block_gemm (out, out_stride, q, q_stride, k, v, n_kv, kv_stride, h, dim_head, causal,
                              q_offset, r0, r1, scale, scores);
      }
  }
}
