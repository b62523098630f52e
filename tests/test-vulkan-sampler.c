/* test-vulkan-sampler.c: the device-side draws against the CPU sampler: Philox words bit for bit, the same
 * token as ib_sample_token for the same logits (top-k with ties, temperatures, one-token vocabularies), forced
 * tokens, and the variants' logit post-processing. Validation layer on. */
#include <math.h>
#include <string.h>

#include "ib-rng.h"
#include "ib-sampler.h"
#include "ib-test-vulkan.h"
#include "ib-vulkan-sampler.h"

static void
test_philox (void)
{
  IbVkDevice *device = ib_test_vulkan_device ();
  static const IbRngStream streams[] = {
    { 0, 0, 0 }, { 1, 1, 0 }, { 0x123456789abcdef0ull, 4, 2 }, { G_MAXUINT64, G_MAXUINT32, G_MAXUINT32 },
  };
  const guint n = 1000;

  for (guint s = 0; s < G_N_ELEMENTS (streams); s++)
    for (guint draw = 0; draw < 3; draw += 2)
      {
        g_autoptr (GError) error = NULL;
        guint first = s * 77777u;
        IbVkView out = ib_test_vulkan_guarded (4 * n);
        g_assert_true (ib_vk_rng_words (device, &out, &streams[s], first, n, draw, &error));
        g_assert_no_error (error);
        g_autofree float *got = ib_test_vulkan_read (&out, 4 * n);
        for (guint i = 0; i < n; i++)
          {
            uint32_t want[4];
            ib_rng_philox (&streams[s], first + i, draw, want);
            if (memcmp (got + 4 * i, want, sizeof want) != 0)
              g_error ("Philox words differ at stream %u, position %u, draw %u", s, first + i, draw);
          }
        ib_test_vulkan_reset ();
      }
}

typedef struct
{
  int n_vocab, top_k;
  float temperature;
  int ties;                     /* logits drawn from this many distinct values (0: all distinct) */
} SampleCase;

static const SampleCase sample_cases[] = {
  { 1, 0, 1.0f, 0 }, { 7, 0, 1.0f, 0 }, { 7, 3, 0.7f, 0 }, { 548, 100, 1.0f, 0 }, { 548, 548, 1.0f, 0 },
  { 548, 1, 1.0f, 0 }, { 973, 100, 1.3f, 0 }, { 1000, 17, 0.5f, 12 }, { 1027, 0, 2.0f, 0 }, { 300, 5, 1.0f, 3 },
  { 300, 600, 0.9f, 0 }, { 64, 10, 1.0f, 1 },
};

static void
test_same_token (void)
{
  IbVkDevice *device = ib_test_vulkan_device ();
  g_autoptr (GRand) rand = g_rand_new_with_seed (21);
  const int n_rows = 64;
  guint agree = 0, total = 0;

  for (guint c = 0; c < G_N_ELEMENTS (sample_cases); c++)
    {
      const SampleCase *sc = &sample_cases[c];
      gsize n = (gsize) n_rows * sc->n_vocab;
      g_autofree float *logits = g_new (float, n);
      g_autofree float *scratch = g_new (float, sc->n_vocab);
      g_autoptr (GError) error = NULL;
      IbVkSampling sampling = {
        .top_k = sc->top_k, .temperature = sc->temperature,
        .stream = { .seed = 1000 + c, .level = 3, .variant = 0 }, .first_position = 5,
      };

      for (gsize i = 0; i < n; i++)
        logits[i] = sc->ties > 0 ? (float) g_rand_int_range (rand, 0, sc->ties) * 0.75f
                                 : (float) g_rand_double_range (rand, -6.0, 6.0);
      IbVkView ld = ib_test_vulkan_guarded (n), td = ib_test_vulkan_guarded (n_rows + 1);
      ib_test_vulkan_write (&ld, logits, n * sizeof (float));
      g_assert_true (ib_vk_sample_tokens (device, &td, 1, &ld, n_rows, sc->n_vocab, &sampling, NULL, &error));
      g_assert_no_error (error);
      g_autofree float *got = ib_test_vulkan_read (&td, n_rows + 1);
      for (int r = 0; r < n_rows; r++)
        {
          float u = ib_rng_uniform (&sampling.stream, sampling.first_position + r, 0);
          int want = ib_sample_token (logits + (gsize) r * sc->n_vocab, sc->n_vocab, sc->top_k, sc->temperature, u,
                                      scratch);
          int32_t token;
          memcpy (&token, got + 1 + r, sizeof token);
          g_assert_cmpint (token, >=, 0);
          g_assert_cmpint (token, <, sc->n_vocab);
          total++;
          if (token == want)
            agree++;
          else
            g_test_message ("case %u row %d: GPU drew %d, CPU %d (u = %.9g)", c, r, token, want, u);
        }
      ib_test_vulkan_reset ();
    }
  /* exp() may differ in the last bit between the two; a token can flip only when u falls within that of a
   * boundary: never in this sweep. */
  g_test_message ("%u of %u draws agree", agree, total);
  g_assert_cmpuint (agree, ==, total);
}

static void
test_forced (void)
{
  IbVkDevice *device = ib_test_vulkan_device ();
  const int n_rows = 10, n_vocab = 50, first = 3;
  float logits[10 * 50];
  int32_t forced[3 + 10];
  float scratch[50];
  g_autoptr (GError) error = NULL;
  IbVkSampling sampling = { .top_k = 0, .temperature = 1.0f, .stream = { 9, 1, 0 }, .first_position = first };

  for (int i = 0; i < n_rows * n_vocab; i++)
    logits[i] = sinf ((float) i);
  for (int i = 0; i < first + n_rows; i++)
    forced[i] = i % 3 == 0 ? 40 + i % 7 : -1;
  IbVkView ld = ib_test_vulkan_guarded (G_N_ELEMENTS (logits)), fd = ib_test_vulkan_guarded (G_N_ELEMENTS (forced));
  IbVkView td = ib_test_vulkan_guarded (n_rows);
  ib_test_vulkan_write (&ld, logits, sizeof logits);
  ib_test_vulkan_write (&fd, forced, sizeof forced);
  g_assert_true (ib_vk_sample_tokens (device, &td, 0, &ld, n_rows, n_vocab, &sampling, &fd, &error));
  g_assert_no_error (error);
  g_autofree float *got = ib_test_vulkan_read (&td, n_rows);
  for (int r = 0; r < n_rows; r++)
    {
      int32_t token, want = forced[first + r];
      memcpy (&token, got + r, sizeof token);
      if (want < 0)
        want = ib_sample_token (logits + r * n_vocab, n_vocab, 0, 1.0f, ib_rng_uniform (&sampling.stream, first + r, 0),
                                scratch);
      g_assert_cmpint (token, ==, want);
    }
  ib_test_vulkan_reset ();

  /* A temperature of 0 is refused. */
  sampling.temperature = 0.0f;
  g_assert_false (ib_vk_sample_tokens (device, &td, 0, &ld, n_rows, n_vocab, &sampling, NULL, &error));
  g_assert_error (error, IB_VK_ERROR, IB_VK_ERROR_ARGUMENT);
}

static void
test_finish_logits (void)
{
  IbVkDevice *device = ib_test_vulkan_device ();
  g_autoptr (GRand) rand = g_rand_new_with_seed (22);
  static const int shapes[][4] = { /* n, n_vocab, first_pos, xt_size */ { 1, 1, 0, 1 }, { 5, 548, 0, 256 },
                                   { 7, 33, 250, 256 }, { 3, 1000, 300, 256 }, { 1, 973, 255, 256 } };

  for (guint s = 0; s < G_N_ELEMENTS (shapes); s++)
    for (int residual = 0; residual < 2; residual++)
      {
        int n = shapes[s][0], n_vocab = shapes[s][1], first_pos = shapes[s][2], xt_size = shapes[s][3];
        int xt_start = 2, n_src = xt_start + xt_size;
        gsize total = (gsize) n * n_vocab;
        g_autofree float *logits = g_new (float, total);
        g_autofree float *want = g_new (float, total);
        g_autofree int32_t *src = g_new (int32_t, n_src);
        g_autoptr (GError) error = NULL;
        float alpha = 0.6f, miss = (1.0f - alpha) / (float) n_vocab;
        IbVkLogitsFinish finish = {
          .scalor = expf (0.37f), .residual = residual, .hit = logf (alpha + miss), .miss = logf (miss),
          .xt_base = (guint) xt_start, .xt_size = xt_size,
        };

        for (gsize i = 0; i < total; i++)
          logits[i] = (float) g_rand_double_range (rand, -5, 5);
        for (int i = 0; i < n_src; i++)
          src[i] = g_rand_int_range (rand, 0, n_vocab);
        /* The CPU engine's finish_logits, operation for operation. */
        for (gsize i = 0; i < total; i++)
          want[i] = logits[i] * finish.scalor;
        for (int i = 0; residual && i < n && first_pos + i < xt_size; i++)
          {
            float *row = want + (gsize) i * n_vocab;
            for (int j = 0; j < n_vocab; j++)
              row[j] += finish.miss;
            row[src[xt_start + first_pos + i]] += finish.hit - finish.miss;
          }
        IbVkView ld = ib_test_vulkan_guarded (total), sd = ib_test_vulkan_guarded (n_src);
        ib_test_vulkan_write (&ld, logits, total * sizeof (float));
        ib_test_vulkan_write (&sd, src, n_src * sizeof (int32_t));
        g_assert_true (ib_vk_finish_logits (device, &ld, n, n_vocab, first_pos, &sd, &finish, &error));
        g_assert_no_error (error);
        g_autofree float *got = ib_test_vulkan_read (&ld, total);
        g_assert_cmpfloat (ib_test_max_error (got, want, total), <=, 1e-6);
        ib_test_vulkan_reset ();
      }
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  ib_test_vulkan_device ();
  g_test_add_func ("/vulkan/rng/philox", test_philox);
  g_test_add_func ("/vulkan/sampler/same-token", test_same_token);
  g_test_add_func ("/vulkan/sampler/forced", test_forced);
  g_test_add_func ("/vulkan/finish-logits", test_finish_logits);

  int status = g_test_run ();
  ib_test_vulkan_finish ();
  return status;
}
