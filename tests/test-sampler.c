/* test-sampler.c: the counter-based generator (known answers from the Philox paper's reference
 * implementation), token draws with temperature and top-k, and a whole level with forced tokens. */
#include <math.h>
#include <string.h>

#include "ib-error.h"
#include "ib-model-file.h"
#include "ib-rng.h"
#include "ib-sampler.h"
#include "ib-test-model.h"
#include "ib-transformer.h"

/* Random123's kat_vectors for philox4x32-10: counter (c0..c3), key (k0, k1) -> output. */
static void
test_philox_known_answers (void)
{
  static const struct { uint32_t counter[4]; uint32_t key[2]; uint32_t expected[4]; } cases[] = {
    { { 0, 0, 0, 0 }, { 0, 0 }, { 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8 } },
    { { 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff }, { 0xffffffff, 0xffffffff },
      { 0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd } },
    { { 0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344 }, { 0xa4093822, 0x299f31d0 },
      { 0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1 } },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      /* counter = (position, draw, level, variant), key = (seed low, seed high) */
      IbRngStream stream = {
        .seed = ((uint64_t) cases[i].key[1] << 32) | cases[i].key[0],
        .level = cases[i].counter[2],
        .variant = cases[i].counter[3],
      };
      uint32_t out[4];
      ib_rng_philox (&stream, cases[i].counter[0], cases[i].counter[1], out);
      for (int j = 0; j < 4; j++)
        g_assert_cmphex (out[j], ==, cases[i].expected[j]);
    }
}

static void
test_uniform_and_below (void)
{
  IbRngStream stream = { .seed = 42, .level = 3, .variant = 1 };
  double sum = 0;
  int counts[7] = { 0 };
  const int n = 70000;
  for (int i = 0; i < n; i++)
    {
      float u = ib_rng_uniform (&stream, (uint32_t) i, 0);
      g_assert_cmpfloat (u, >=, 0.0f);
      g_assert_cmpfloat (u, <, 1.0f);
      sum += u;
      uint32_t k = ib_rng_below (&stream, (uint32_t) i, 1, 7);
      g_assert_cmpuint (k, <, 7);
      counts[k]++;
    }
  g_assert_cmpfloat (fabs (sum / n - 0.5), <, 0.01);
  for (int k = 0; k < 7; k++)
    g_assert_cmpint (abs (counts[k] - n / 7), <, n / 7 / 10);
  /* Different streams differ. */
  IbRngStream other = stream;
  other.variant = 2;
  g_assert_cmpfloat (ib_rng_uniform (&stream, 5, 0), !=, ib_rng_uniform (&other, 5, 0));
}

static void
test_sample_token (void)
{
  float logits[5] = { 1.0f, 3.0f, 2.0f, 3.0f, -1.0f };
  float scratch[5];

  /* u = 0 picks the first kept token in index order; u -> 1 the last kept one. */
  g_assert_cmpint (ib_sample_token (logits, 5, 0, 1.0f, 0.0f, scratch), ==, 0);
  g_assert_cmpint (ib_sample_token (logits, 5, 0, 1.0f, 0.999999f, scratch), ==, 4);
  /* top-2: the two tokens tied at 3 remain, each with half the mass. */
  g_assert_cmpint (ib_sample_token (logits, 5, 2, 1.0f, 0.0f, scratch), ==, 1);
  g_assert_cmpint (ib_sample_token (logits, 5, 2, 1.0f, 0.49f, scratch), ==, 1);
  g_assert_cmpint (ib_sample_token (logits, 5, 2, 1.0f, 0.51f, scratch), ==, 3);
  g_assert_cmpint (ib_sample_token (logits, 5, 2, 1.0f, 0.999f, scratch), ==, 3);
  /* top-1 with a tie at the threshold keeps both, as the reference's "< k-th value" cut does. */
  g_assert_cmpint (ib_sample_token (logits, 5, 1, 1.0f, 0.9f, scratch), ==, 3);

  /* Frequencies follow softmax(logits / T) over the kept set. */
  IbRngStream stream = { .seed = 9 };
  const int n = 40000;
  int counts[5] = { 0 };
  for (int i = 0; i < n; i++)
    counts[ib_sample_token (logits, 5, 3, 2.0f, ib_rng_uniform (&stream, (uint32_t) i, 0), scratch)]++;
  double p1 = exp (1.5), p2 = exp (1.0), total = 2 * p1 + p2;
  g_assert_cmpint (counts[0], ==, 0);
  g_assert_cmpint (counts[4], ==, 0);
  g_assert_cmpfloat (fabs (counts[1] / (double) n - p1 / total), <, 0.01);
  g_assert_cmpfloat (fabs (counts[2] / (double) n - p2 / total), <, 0.01);
}

/* A level run with forced tokens keeps them, and the free ones equal what a step-by-step run on the full
 * logits would draw. */
static void
test_level_with_known_tokens (void)
{
  IbTestModelSpec spec;
  ib_test_model_spec_init (&spec);
  g_autoptr (GBytes) bytes = ib_test_model_build (&spec);
  g_autoptr (GError) error = NULL;
  g_autoptr (IbModelFile) file = ib_model_file_new_from_bytes (bytes, "test", &error);
  g_assert_no_error (error);
  g_autoptr (IbStage) stage = ib_stage_new (file, 2, &error);
  g_assert_no_error (error);

  enum { N = 16 };
  int32_t x_t[N], known_tokens[N], x_prev[N];
  gboolean known[N];
  for (int i = 0; i < N; i++)
    {
      x_t[i] = (i * 7) % 10;
      known[i] = i < 5 || (i >= 9 && i < 12);
      known_tokens[i] = (i * 3) % 10;
    }
  IbLevelSampling sampling = { .top_k = 0, .temperature = 1.0f };
  IbRngStream stream = { .seed = 5, .level = 2 };
  g_assert_true (ib_sample_level (stage, NULL, 0, x_t, N, &sampling, &stream, known, known_tokens, x_prev, NULL,
                                  &error));
  g_assert_no_error (error);

  /* Replay: full recomputation of the logits for the produced sequence, draw by draw. */
  int32_t src[1 + N], tgt[N];
  src[0] = 2;
  memcpy (src + 1, x_t, sizeof x_t);
  tgt[0] = 0;
  memcpy (tgt + 1, x_prev, (N - 1) * sizeof (int32_t));
  g_autofree float *logits = g_new (float, N * 10);
  float scratch[10];
  g_assert_true (ib_stage_logits (stage, src, 1 + N, tgt, N, logits, &error));
  for (int i = 0; i < N; i++)
    {
      if (known[i])
        g_assert_cmpint (x_prev[i], ==, known_tokens[i]);
      else
        g_assert_cmpint (x_prev[i], ==, ib_sample_token (logits + i * 10, 10, 0, 1.0f,
                                                          ib_rng_uniform (&stream, (uint32_t) i, 0), scratch));
    }

  /* Cancelled before the first free token: an error, nothing else. */
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_cancellable_cancel (cancellable);
  g_assert_false (ib_sample_level (stage, NULL, 0, x_t, N, &sampling, &stream, known, known_tokens, x_prev,
                                   cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

static void
count_progress_cb (int      n_done,
                   int      n_total,
                   gpointer user_data)
{
  int *calls = user_data;
  calls[0]++;
  g_assert_cmpint (n_done, ==, calls[0]);
  calls[1] = n_total;
}

/* Progress counts the free tokens only, one call each, and does not change the draws. */
static void
test_level_progress (void)
{
  IbTestModelSpec spec;
  ib_test_model_spec_init (&spec);
  g_autoptr (GBytes) bytes = ib_test_model_build (&spec);
  g_autoptr (GError) error = NULL;
  g_autoptr (IbModelFile) file = ib_model_file_new_from_bytes (bytes, "test", &error);
  g_autoptr (IbStage) stage = ib_stage_new (file, 1, &error);
  g_assert_no_error (error);

  enum { N = 16 };
  int32_t x_t[N], known_tokens[N], a[N], b[N];
  gboolean known[N];
  for (int i = 0; i < N; i++)
    {
      x_t[i] = i % 10;
      known[i] = i % 4 != 1;            /* the last free token is 13: 14 and 15 are never fed */
      known_tokens[i] = 9 - i % 10;
    }
  IbLevelSampling sampling = { .top_k = 3, .temperature = 0.9f };
  IbRngStream stream = { .seed = 8, .level = 1 };
  int calls[2] = { 0, 0 };
  g_assert_true (ib_sample_level_with_progress (stage, NULL, 0, x_t, N, &sampling, &stream, known, known_tokens, a,
                                                count_progress_cb, calls, NULL, &error));
  g_assert_true (ib_sample_level (stage, NULL, 0, x_t, N, &sampling, &stream, known, known_tokens, b, NULL,
                                  &error));
  g_assert_no_error (error);
  g_assert_cmpint (calls[0], ==, 4);
  g_assert_cmpint (calls[1], ==, 4);
  g_assert_cmpmem (a, sizeof a, b, sizeof b);
  for (int i = 14; i < N; i++)
    g_assert_cmpint (a[i], ==, known_tokens[i]);
}

static void
test_chain_is_reproducible (void)
{
  IbTestModelSpec spec;
  ib_test_model_spec_init (&spec);
  g_autoptr (GBytes) bytes = ib_test_model_build (&spec);
  g_autoptr (GError) error = NULL;
  g_autoptr (IbModelFile) file = ib_model_file_new_from_bytes (bytes, "test", &error);
  int32_t a[16], b[16], c[16];
  g_assert_true (ib_sample_chain (file, 11, a, NULL, &error));
  g_assert_true (ib_sample_chain (file, 11, b, NULL, &error));
  g_assert_true (ib_sample_chain (file, 12, c, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (a, sizeof a, b, sizeof b);
  g_assert_true (memcmp (a, c, sizeof a) != 0);
  for (int i = 0; i < 16; i++)
    g_assert_true (a[i] >= 0 && a[i] < 10);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/model/rng/philox-known-answers", test_philox_known_answers);
  g_test_add_func ("/model/rng/uniform-and-below", test_uniform_and_below);
  g_test_add_func ("/model/sampler/token", test_sample_token);
  g_test_add_func ("/model/sampler/level-with-known-tokens", test_level_with_known_tokens);
  g_test_add_func ("/model/sampler/level-progress", test_level_progress);
  g_test_add_func ("/model/sampler/chain-is-reproducible", test_chain_is_reproducible);
  return g_test_run ();
}
