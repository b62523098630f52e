/* test-sampler-batch.c: sequences decoded in lockstep: ib_decoder_feed_batch against ib_decoder_feed one
 * sequence at a time (encoder-decoder and minGPT levels, sequences at different positions), and
 * ib_sample_level_batch against ib_sample_level per sequence, and classifier-free guidance against the full
 * transformer's logits. */
#include <math.h>
#include <string.h>

#include "ib-error.h"
#include "ib-model-file.h"
#include "ib-sampler.h"
#include "ib-test-model.h"
#include "ib-transformer.h"

static IbModelFile *
open_test_model (GBytes  **bytes,
                 gboolean  gpt_top)
{
  IbTestModelSpec spec;
  ib_test_model_spec_init (&spec);
  spec.gpt_top = gpt_top;
  spec.n_levels = 2;
  *bytes = ib_test_model_build (&spec);
  g_autoptr (GError) error = NULL;
  IbModelFile *file = ib_model_file_new_from_bytes (*bytes, "test", &error);
  g_assert_no_error (error);
  return file;
}

static void
assert_close (const float *a,
              const float *b,
              int          n)
{
  for (int i = 0; i < n; i++)
    g_assert_cmpfloat (fabs (a[i] - b[i]), <=, 1e-4 * (1.0 + fabs (b[i])));
}

/* Three sequences with their own src; before the batched steps they have been fed 0, 3 and 5 tokens. */
static void
check_feed_batch (IbModelFile *file,
                  int          t)
{
  enum { B = 3, N = 16, STEPS = 4 };
  g_autoptr (GError) error = NULL;
  g_autoptr (IbStage) stage = ib_stage_new (file, t, &error);
  g_assert_no_error (error);
  const IbLevelConfig *c = ib_stage_get_config (stage);
  gboolean decoder_only = c->variant == IB_VARIANT_GPT;
  int n_src = decoder_only ? 1 : 1 + N, V = c->dec_num_tokens;
  IbDecoder *batched[B], *single[B];
  int32_t tgt[B][N + 1];
  int start[B] = { 0, 3, 5 };
  if (decoder_only)
    start[1] = start[2] = 0;            /* minGPT decoders start together: tgt[0] is not read */

  for (int b = 0; b < B; b++)
    {
      int32_t src[1 + N];
      src[0] = t;
      for (int i = 0; i < N; i++)
        src[1 + i] = (i * (b + 2) + 1) % 10;
      for (int i = 0; i <= N; i++)
        tgt[b][i] = (i * 3 + b) % 10;
      tgt[b][0] = 0;
      g_autofree float *context = NULL;
      if (!decoder_only)
        {
          context = g_new (float, (gsize) n_src * c->dim);
          g_assert_true (ib_stage_encode (stage, src, n_src, context, &error));
        }
      batched[b] = ib_decoder_new (stage, src, n_src, context, &error);
      single[b] = ib_decoder_new (stage, src, n_src, context, &error);
      g_assert_no_error (error);
      g_assert_true (start[b] == 0 || ib_decoder_feed (batched[b], tgt[b], start[b], NULL, &error));
      g_assert_true (start[b] == 0 || ib_decoder_feed (single[b], tgt[b], start[b], NULL, &error));
    }

  g_autofree float *logits = g_new (float, B * V), *expected = g_new (float, V);
  for (int s = 0; s < STEPS; s++)
    {
      int32_t tokens[B];
      for (int b = 0; b < B; b++)
        tokens[b] = tgt[b][start[b] + s];
      g_assert_true (ib_decoder_feed_batch (batched, B, tokens, logits, &error));
      g_assert_no_error (error);
      for (int b = 0; b < B; b++)
        {
          g_assert_true (ib_decoder_feed (single[b], &tokens[b], 1, expected, &error));
          assert_close (logits + b * V, expected, V);
          g_assert_cmpint (ib_decoder_get_position (batched[b]), ==, start[b] + s + 1);
        }
    }
  /* And on one at a time afterwards: the batched steps left a consistent cache. */
  for (int b = 0; b < B; b++)
    {
      g_assert_true (ib_decoder_feed (batched[b], &tgt[b][start[b] + STEPS], 1, logits, &error));
      g_assert_true (ib_decoder_feed (single[b], &tgt[b][start[b] + STEPS], 1, expected, &error));
      assert_close (logits, expected, V);
      ib_decoder_free (batched[b]);
      ib_decoder_free (single[b]);
    }
}

static void
test_feed_batch (void)
{
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (IbModelFile) file = open_test_model (&bytes, FALSE);
  check_feed_batch (file, 1);
  check_feed_batch (file, 2);
}

static void
test_feed_batch_gpt (void)
{
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (IbModelFile) file = open_test_model (&bytes, TRUE);
  check_feed_batch (file, 2);
}

static void
test_feed_batch_refuses (void)
{
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (IbModelFile) file = open_test_model (&bytes, FALSE);
  g_autoptr (GError) error = NULL;
  g_autoptr (IbStage) one = ib_stage_new (file, 1, &error);
  g_autoptr (IbStage) two = ib_stage_new (file, 2, &error);
  int32_t src[17] = { 1 };
  g_autofree float *context = g_new (float, 17 * ib_stage_get_config (one)->dim);
  g_assert_true (ib_stage_encode (one, src, 17, context, &error));
  IbDecoder *decoders[2] = { ib_decoder_new (one, src, 17, context, &error), NULL };
  src[0] = 2;
  decoders[1] = ib_decoder_new (two, src, 17, context, &error);
  int32_t tokens[2] = { 0, 0 };
  g_assert_false (ib_decoder_feed_batch (decoders, 2, tokens, NULL, &error));
  g_assert_error (error, IB_ERROR, IB_ERROR_ARGUMENT);
  g_clear_error (&error);
  tokens[0] = 99;
  g_assert_false (ib_decoder_feed_batch (decoders, 1, tokens, NULL, &error));
  g_assert_error (error, IB_ERROR, IB_ERROR_ARGUMENT);
  ib_decoder_free (decoders[0]);
  ib_decoder_free (decoders[1]);
}

static void
count_cb (int      n_done,
          int      n_total,
          gpointer user_data)
{
  int *calls = user_data;
  g_assert_cmpint (n_done, ==, ++calls[0]);
  calls[1] = n_total;
}

/* The batch draws what one sequence at a time draws. */
static void
test_level_batch (void)
{
  for (int gpt = 0; gpt <= 1; gpt++)
    for (int t = 1; t <= 2; t++)
      {
        enum { B = 3, N = 16 };
        g_autoptr (GBytes) bytes = NULL;
        g_autoptr (IbModelFile) file = open_test_model (&bytes, gpt);
        g_autoptr (GError) error = NULL;
        g_autoptr (IbStage) stage = ib_stage_new (file, t, &error);
        int32_t x_t[B * N], x_prev[B * N], known_tokens[N], expected[N];
        gboolean known[N];
        IbRngStream streams[B];
        for (int i = 0; i < N; i++)
          {
            known[i] = i % 5 == 0 || i == 7 || i == 8;
            known_tokens[i] = (i * 7) % 10;
          }
        for (int b = 0; b < B; b++)
          {
            streams[b] = (IbRngStream) { .seed = 4, .level = (uint32_t) t, .variant = (uint32_t) b };
            for (int i = 0; i < N; i++)
              x_t[b * N + i] = (i + 3 * b) % 10;
          }
        IbLevelSampling sampling = { .top_k = 4, .temperature = 1.3f };
        int calls[2] = { 0, 0 };
        g_assert_true (ib_sample_level_batch (stage, NULL, 0, x_t, B, N, &sampling, streams, known, known_tokens,
                                              x_prev, count_cb, calls, NULL, &error));
        g_assert_no_error (error);
        g_assert_cmpint (calls[0], ==, 10);      /* 16 tokens, 6 known */
        g_assert_cmpint (calls[1], ==, 10);
        for (int b = 0; b < B; b++)
          {
            g_assert_true (ib_sample_level (stage, NULL, 0, x_t + b * N, N, &sampling, &streams[b], known,
                                            known_tokens, expected, NULL, &error));
            g_assert_cmpmem (x_prev + b * N, sizeof expected, expected, sizeof expected);
          }

        /* Cancelled: an error and no more steps. */
        g_autoptr (GCancellable) cancellable = g_cancellable_new ();
        g_cancellable_cancel (cancellable);
        g_assert_false (ib_sample_level_batch (stage, NULL, 0, x_t, B, N, &sampling, streams, known, known_tokens,
                                               x_prev, NULL, NULL, cancellable, &error));
        g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      }
}

/* A test model whose levels take two prefix tokens after the scale token (the conditioning). */
static IbModelFile *
open_prefixed_model (GBytes **bytes)
{
  IbTestModelSpec spec;
  ib_test_model_spec_init (&spec);
  spec.n_prefix = 2;
  *bytes = ib_test_model_build (&spec);
  g_autoptr (GError) error = NULL;
  IbModelFile *file = ib_model_file_new_from_bytes (*bytes, "test-prefixed", &error);
  g_assert_no_error (error);
  return file;
}

/* Guidance: every draw is what ib_sample_token gives for null + g * (conditioned - null), the logits of the
 * full transformer run once with each prefix over the tokens drawn so far; and it changes the draws. */
static void
test_level_guided (void)
{
  enum { B = 2, N = 16, P = 2 };
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (IbModelFile) file = open_prefixed_model (&bytes);
  g_autoptr (GError) error = NULL;
  int32_t prefix[P] = { 7, 8 }, null_prefix[P] = { 3, 3 };
  int32_t x_t[B * N], guided[B * N], plain[B * N], single[N], known_tokens[N];
  gboolean known[N];
  IbRngStream streams[B];
  for (int i = 0; i < N; i++)
    {
      known[i] = i % 6 == 1;
      known_tokens[i] = (i * 3) % 10;
    }
  for (int b = 0; b < B; b++)
    {
      streams[b] = (IbRngStream) { .seed = 11, .level = 1, .variant = (uint32_t) b };
      for (int i = 0; i < N; i++)
        x_t[b * N + i] = (i * 7 + b) % 10;
    }

  for (int t = 1; t <= 2; t++)
    {
      g_autoptr (IbStage) stage = ib_stage_new (file, t, &error);
      g_assert_no_error (error);
      int V = ib_stage_get_config (stage)->dec_num_tokens;
      IbLevelSampling sampling = { .top_k = 0, .temperature = 1.0f, .guidance = 3.0f, .null_conditioning = null_prefix };
      g_assert_true (ib_level_sampling_is_guided (&sampling));
      g_assert_true (ib_sample_level_batch (stage, prefix, P, x_t, B, N, &sampling, streams, known, known_tokens,
                                            guided, NULL, NULL, NULL, &error));
      g_assert_no_error (error);

      int differences = 0;
      for (int b = 0; b < B; b++)
        {
          int32_t src[1 + P + N], null_src[1 + P + N], tgt[N];
          float logits[N * 16], null_logits[N * 16], scratch[16];
          g_assert_cmpint (V, <=, 16);
          src[0] = null_src[0] = t;
          memcpy (src + 1, prefix, sizeof prefix);
          memcpy (null_src + 1, null_prefix, sizeof null_prefix);
          memcpy (src + 1 + P, x_t + b * N, N * sizeof (int32_t));
          memcpy (null_src + 1 + P, x_t + b * N, N * sizeof (int32_t));
          tgt[0] = 0;
          memcpy (tgt + 1, guided + b * N, (N - 1) * sizeof (int32_t));
          g_assert_true (ib_stage_logits (stage, src, 1 + P + N, tgt, N, logits, &error));
          g_assert_true (ib_stage_logits (stage, null_src, 1 + P + N, tgt, N, null_logits, &error));
          for (int i = 0; i < N; i++)
            {
              if (known[i])
                {
                  g_assert_cmpint (guided[b * N + i], ==, known_tokens[i]);
                  continue;
                }
              float mixed[16];
              for (int v = 0; v < V; v++)
                mixed[v] = null_logits[i * V + v] + 3.0f * (logits[i * V + v] - null_logits[i * V + v]);
              float u = ib_rng_uniform (&streams[b], (uint32_t) i, 0);
              g_assert_cmpint (guided[b * N + i], ==, ib_sample_token (mixed, V, 0, 1.0f, u, scratch));
            }
        }

      /* Without guidance the same streams draw other tokens somewhere. */
      IbLevelSampling unguided = { .top_k = 0, .temperature = 1.0f, .guidance = 1.0f, .null_conditioning = null_prefix };
      g_assert_false (ib_level_sampling_is_guided (&unguided));
      g_assert_true (ib_sample_level_batch (stage, prefix, P, x_t, B, N, &unguided, streams, known, known_tokens,
                                            plain, NULL, NULL, NULL, &error));
      for (int i = 0; i < B * N; i++)
        differences += plain[i] != guided[i];
      g_assert_cmpint (differences, >, 0);

      /* One sequence alone draws what it draws in the batch. */
      g_assert_true (ib_sample_level (stage, prefix, P, x_t, N, &sampling, &streams[0], known, known_tokens, single,
                                      NULL, &error));
      g_assert_cmpmem (single, sizeof single, guided, sizeof single);
    }
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/model/sampler/batch/feed", test_feed_batch);
  g_test_add_func ("/model/sampler/batch/feed-gpt", test_feed_batch_gpt);
  g_test_add_func ("/model/sampler/batch/feed-refuses", test_feed_batch_refuses);
  g_test_add_func ("/model/sampler/batch/level", test_level_batch);
  g_test_add_func ("/model/sampler/batch/level-guided", test_level_guided);
  return g_test_run ();
}
