/* test-vulkan-transformer.c: the stage transformer on the Vulkan engine (model/ib-vulkan-transformer.c)
 * against the CPU engine's (model/ib-transformer.c) on small random models built in memory: every variant
 * (ResidualScaled, Scaled, Plain, and a minGPT top level with unmasked leading positions) in f32, f16 and bf16
 * weights; full logits, the encoder's context, and KV-cache decoding in ragged chunks; bad inputs refused.
 * The validation layer is on: any message fails. */
#include <math.h>
#include <string.h>

#include "ib-error.h"
#include "ib-model-file.h"
#include "ib-sampler.h"
#include "ib-test-model.h"
#include "ib-test-vulkan.h"
#include "ib-transformer.h"
#include "ib-vulkan-transformer.h"

/* Normalized-error bounds (||vk - cpu|| / ||cpu||, and max |vk - cpu| / max |cpu|). Both engines read the same
 * weights and accumulate in f32; only the order of the sums differs. */
#define REL_BOUND 1e-5
#define MAX_BOUND 1e-4

typedef struct
{
  IbVariant variant;
  gboolean gpt_top;
  IbDType dtype;
} Case;

static double worst_rel, worst_max;

static void
compare (const char  *what,
         const float *vk,
         const float *cpu,
         gsize        n)
{
  double rel = ib_test_relative_error (vk, cpu, n), max = ib_test_max_error (vk, cpu, n);

  g_test_message ("%s: relative error %.2e, max error %.2e", what, rel, max);
  worst_rel = MAX (worst_rel, rel);
  worst_max = MAX (worst_max, max);
  g_assert_cmpfloat (rel, <, REL_BOUND);
  g_assert_cmpfloat (max, <, MAX_BOUND);
}

/* A valid src for level c: tokens below both vocabularies, the scale token t where the variant reads one. */
static int32_t *
make_src (const IbLevelConfig *c,
          GRand               *rand,
          int                  n_src)
{
  int32_t *src = g_new (int32_t, n_src);
  int limit = MIN (c->enc_num_tokens, c->dec_num_tokens);

  for (int i = 0; i < n_src; i++)
    src[i] = g_rand_int_range (rand, 0, limit);
  if (c->variant == IB_VARIANT_SCALED || c->variant == IB_VARIANT_RESIDUAL_SCALED)
    src[c->scale_pos] = c->t;
  return src;
}

static void
test_level (IbModelFile *file,
            int          t,
            GRand       *rand)
{
  IbVkDevice *device = ib_test_vulkan_device ();
  g_autoptr (GError) error = NULL;
  g_autoptr (IbStage) cpu = ib_stage_new (file, t, &error);
  g_assert_no_error (error);
  g_autoptr (IbVkStage) vk = ib_vk_stage_new (device, file, t, &error);
  g_assert_no_error (error);

  const IbLevelConfig *c = ib_stage_get_config (cpu);
  gboolean gpt = c->variant == IB_VARIANT_GPT;
  /* A minGPT level: a short conditioning (at least its unmasked positions); else the whole encoder input. */
  int n_src = gpt ? MAX (c->n_unmasked, 1) + 2 : c->enc_max_seq_len;
  int capacity = gpt ? c->dec_max_seq_len - (n_src - 1) : c->dec_max_seq_len;
  int n_tgt = gpt ? capacity : MIN (capacity, MAX (c->xt_size, 12) + 2);
  int n_vocab = c->dec_num_tokens;
  g_autofree int32_t *src = make_src (c, rand, n_src);
  g_autofree int32_t *tgt = make_src (c, rand, n_tgt);
  g_autofree float *want = g_new (float, (gsize) n_tgt * n_vocab);
  g_autofree float *got = g_new (float, (gsize) n_tgt * n_vocab);
  g_autofree char *label = g_strdup_printf ("level %d (%s)", t, ib_variant_name (c->variant));

  /* Full recomputation. */
  g_assert_true (ib_stage_logits (cpu, src, n_src, tgt, n_tgt, want, &error));
  g_assert_no_error (error);
  memset (got, 0, (gsize) n_tgt * n_vocab * sizeof (float));
  g_assert_true (ib_vk_stage_logits (vk, src, n_src, tgt, n_tgt, got, &error));
  g_assert_no_error (error);
  g_autofree char *what = g_strdup_printf ("%s logits", label);
  compare (what, got, want, (gsize) n_tgt * n_vocab);
  ib_test_vulkan_assert_clean ();

  /* The encoder's context. */
  if (!gpt)
    {
      g_autofree float *ctx_want = g_new (float, (gsize) n_src * c->dim);
      g_autofree float *ctx_got = g_new (float, (gsize) n_src * c->dim);
      g_assert_true (ib_stage_encode (cpu, src, n_src, ctx_want, &error));
      g_assert_true (ib_vk_stage_encode (vk, src, n_src, ctx_got, &error));
      g_assert_no_error (error);
      g_autofree char *cw = g_strdup_printf ("%s context", label);
      compare (cw, ctx_got, ctx_want, (gsize) n_src * c->dim);
    }

  /* KV-cache decoding in ragged chunks (3, 1, 1, 2, 1, ...), one without logits, against the full pass; then
   * a rewind and a replay. */
  g_autoptr (IbVkDecoder) decoder = ib_vk_decoder_new (vk, src, n_src, &error);
  g_assert_no_error (error);
  memset (got, 0, (gsize) n_tgt * n_vocab * sizeof (float));
  static const int chunks[] = { 3, 1, 1, 2, 1 };
  for (int pos = 0, i = 0; pos < n_tgt; i++)
    {
      int n = MIN (chunks[i % G_N_ELEMENTS (chunks)], n_tgt - pos);
      g_assert_true (ib_vk_decoder_feed (decoder, tgt + pos, n, got + (gsize) pos * n_vocab, &error));
      g_assert_no_error (error);
      pos += n;
      g_assert_cmpint (ib_vk_decoder_get_position (decoder), ==, pos);
    }
  g_autofree char *dw = g_strdup_printf ("%s decoded with the cache", label);
  compare (dw, got, want, (gsize) n_tgt * n_vocab);

  int back = MIN (2, n_tgt - 1);
  ib_vk_decoder_rewind (decoder, back);
  g_assert_true (ib_vk_decoder_feed (decoder, tgt + back, 1, NULL, &error));
  g_assert_true (ib_vk_decoder_feed (decoder, tgt + back + 1, n_tgt - back - 1, got, &error));
  g_assert_no_error (error);
  g_autofree char *rw = g_strdup_printf ("%s after a rewind", label);
  compare (rw, got, want + (gsize) (back + 1) * n_vocab, (gsize) (n_tgt - back - 1) * n_vocab);

  /* Bad inputs: refused, the device still clean and usable. */
  int32_t bad = n_vocab;
  g_assert_false (ib_vk_decoder_feed (decoder, &bad, 1, got, &error));
  g_assert_error (error, IB_ERROR, IB_ERROR_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (ib_vk_stage_logits (vk, src, 0, tgt, 1, got, &error));
  g_assert_error (error, IB_ERROR, IB_ERROR_ARGUMENT);
  g_clear_error (&error);
  if (!gpt)
    {
      g_assert_false (ib_vk_decoder_feed (decoder, tgt, capacity, got, &error));
      g_assert_error (error, IB_ERROR, IB_ERROR_ARGUMENT);
      g_clear_error (&error);
    }
  ib_test_vulkan_assert_clean ();
}

static void
test_case (gconstpointer data)
{
  const Case *tc = data;
  IbTestModelSpec spec;
  g_autoptr (GError) error = NULL;

  ib_test_model_spec_init (&spec);
  spec.variant = tc->variant;
  spec.dtype = tc->dtype;
  spec.gpt_top = tc->gpt_top;
  spec.n_unmasked = tc->gpt_top ? 2 : 0;
  spec.seed = 11 + (guint32) tc->variant * 3 + (guint32) tc->dtype;
  /* Only the transformers are run: the smallest VQGAN the layout allows. */
  spec.n_ch_mult = 3;
  spec.num_res_blocks = 0;
  spec.attn_resolution = 0;
  g_autoptr (GBytes) bytes = ib_test_model_build (&spec);
  g_autoptr (IbModelFile) file = ib_model_file_new_from_bytes (bytes, "test-vulkan-transformer", &error);
  g_assert_no_error (error);
  g_autoptr (GRand) rand = g_rand_new_with_seed (spec.seed);

  for (int t = 1; t <= ib_model_file_get_config (file)->n_levels; t++)
    test_level (file, t, rand);
}

/* A level decoded on the device (draws on the device, no round trip per token) against ib_sample_level on the
 * CPU, with the same stream: the same tokens, free and forced, whatever the submission size. */
static guint sampled_tokens, sampled_differences;

static void
sample_level_case (IbModelFile *file,
                   int          t,
                   GRand       *rand)
{
  IbVkDevice *device = ib_test_vulkan_device ();
  g_autoptr (GError) error = NULL;
  g_autoptr (IbStage) cpu = ib_stage_new (file, t, &error);
  g_autoptr (IbVkStage) vk = ib_vk_stage_new (device, file, t, &error);
  g_assert_no_error (error);
  const IbModelConfig *model = ib_model_file_get_config (file);
  int n = model->token_height * model->token_width;
  g_autofree int32_t *x_t = g_new (int32_t, n);
  g_autofree int32_t *want = g_new (int32_t, n);
  g_autofree int32_t *got = g_new (int32_t, n);
  g_autofree gboolean *known = g_new0 (gboolean, n);
  g_autofree int32_t *known_tokens = g_new0 (int32_t, n);

  for (int i = 0; i < n; i++)
    x_t[i] = g_rand_int_range (rand, 0, model->n_codes);
  for (int pass = 0; pass < 3; pass++)
    {
      /* Pass 0: every token free; 1: a leading run, a middle run and a trailing run forced; 2: all but one. */
      for (int i = 0; i < n; i++)
        {
          known[i] = pass == 1 ? (i < 2 || (i >= 5 && i < 8) || i >= n - 2) : pass == 2 ? i != n / 2 : FALSE;
          known_tokens[i] = (i * 3 + 1) % model->n_codes;
        }
      for (guint variant = 0; variant < 2; variant++)
        {
          IbRngStream stream = { .seed = 1234 + pass, .level = (uint32_t) t, .variant = variant };
          IbLevelSampling sampling = { .top_k = variant == 0 ? 0 : 3, .temperature = variant == 0 ? 1.0f : 0.8f };
          g_assert_true (ib_sample_level (cpu, NULL, 0, x_t, n, &sampling, &stream, known, known_tokens, want, NULL,
                                          &error));
          g_assert_no_error (error);
          memset (got, 0xff, (gsize) n * sizeof (int32_t));
          g_assert_true (ib_vk_sample_level (vk, NULL, 0, x_t, n, sampling.top_k, sampling.temperature, &stream, known,
                                             known_tokens, 1 + 2 * pass + variant, got, NULL, &error));
          g_assert_no_error (error);
          for (int i = 0; i < n; i++)
            {
              sampled_tokens++;
              if (known[i])
                g_assert_cmpint (got[i], ==, known_tokens[i]);
              if (got[i] != want[i])
                {
                  g_test_message ("level %d pass %d variant %u position %d: %d on the GPU, %d on the CPU", t, pass,
                                  variant, i, got[i], want[i]);
                  sampled_differences++;
                }
            }
        }
    }
  /* Equal logits give equal draws; the logits agree to ~1e-7, so a different draw needs u within that of a
   * boundary of the cumulative distribution: none is expected on these models. */
  g_assert_cmpuint (sampled_differences, ==, 0);
  ib_test_vulkan_assert_clean ();
}

static void
count_progress (int      n_done,
                int      n_total,
                gpointer data)
{
  int *last = data;

  g_assert_cmpint (n_done, >, *last);
  g_assert_cmpint (n_done, <=, n_total);
  *last = n_done;
}

/* Sequences in lockstep (an edit's variants): each draws what ib_sample_level draws with its stream. */
static void
sample_batch_case (IbModelFile *file,
                   int          t,
                   GRand       *rand)
{
  IbVkDevice *device = ib_test_vulkan_device ();
  g_autoptr (GError) error = NULL;
  g_autoptr (IbStage) cpu = ib_stage_new (file, t, &error);
  g_autoptr (IbVkStage) vk = ib_vk_stage_new (device, file, t, &error);
  g_assert_no_error (error);
  const IbModelConfig *model = ib_model_file_get_config (file);
  int n = model->token_height * model->token_width, n_batch = 3;
  g_autofree int32_t *x_t = g_new (int32_t, (gsize) n_batch * n);
  g_autofree int32_t *got = g_new (int32_t, (gsize) n_batch * n);
  g_autofree int32_t *want = g_new (int32_t, n);
  g_autofree gboolean *known = g_new0 (gboolean, n);
  g_autofree int32_t *known_tokens = g_new0 (int32_t, n);
  IbRngStream streams[3];

  for (int i = 0; i < n_batch * n; i++)
    x_t[i] = g_rand_int_range (rand, 0, model->n_codes);
  for (int i = 0; i < n; i++)
    {
      known[i] = i % 5 == 2 || i == 0;
      known_tokens[i] = (i * 5 + 2) % model->n_codes;
    }
  for (int b = 0; b < n_batch; b++)
    streams[b] = (IbRngStream) { .seed = 99, .level = (uint32_t) t, .variant = (uint32_t) b };
  int last = 0;
  IbLevelSampling batch_sampling = { .top_k = 4, .temperature = 0.9f };
  g_assert_true (ib_vk_sample_level_batch (vk, NULL, 0, x_t, n_batch, n, &batch_sampling, streams, known, known_tokens,
                                           5, got, count_progress, &last, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (last, >, 0);
  for (int b = 0; b < n_batch; b++)
    {
      IbLevelSampling sampling = { .top_k = 4, .temperature = 0.9f };
      g_assert_true (ib_sample_level (cpu, NULL, 0, x_t + (gsize) b * n, n, &sampling, &streams[b], known,
                                      known_tokens, want, NULL, &error));
      g_assert_no_error (error);
      g_assert_cmpmem (got + (gsize) b * n, n * sizeof (int32_t), want, n * sizeof (int32_t));
    }
  ib_test_vulkan_assert_clean ();
}

static void
test_sample (gconstpointer data)
{
  const Case *tc = data;
  IbTestModelSpec spec;
  g_autoptr (GError) error = NULL;

  ib_test_model_spec_init (&spec);
  spec.variant = tc->variant;
  spec.dtype = tc->dtype;
  spec.gpt_top = tc->gpt_top;
  spec.n_unmasked = tc->gpt_top ? 1 : 0;
  spec.seed = 5 + (guint32) tc->variant;
  spec.num_res_blocks = 0;
  spec.attn_resolution = 0;
  g_autoptr (GBytes) bytes = ib_test_model_build (&spec);
  g_autoptr (IbModelFile) file = ib_model_file_new_from_bytes (bytes, "test-vulkan-sample", &error);
  g_assert_no_error (error);
  g_autoptr (GRand) rand = g_rand_new_with_seed (spec.seed);

  for (int t = 1; t <= ib_model_file_get_config (file)->n_levels; t++)
    {
      sample_level_case (file, t, rand);
      sample_batch_case (file, t, rand);
    }

  /* The whole chain, as ib_sample_chain. */
  const IbModelConfig *model = ib_model_file_get_config (file);
  int n = model->token_height * model->token_width;
  g_autofree int32_t *want = g_new (int32_t, n);
  g_autofree int32_t *got = g_new (int32_t, n);
  for (guint64 seed = 1; seed <= 3; seed++)
    {
      g_assert_true (ib_sample_chain (file, seed, want, NULL, &error));
      g_assert_true (ib_vk_sample_chain (ib_test_vulkan_device (), file, seed, got, NULL, &error));
      g_assert_no_error (error);
      g_assert_cmpmem (got, n * sizeof (int32_t), want, n * sizeof (int32_t));
    }
  ib_test_vulkan_assert_clean ();
}

/* Classifier-free guidance: the device mixes the two decoders' logits and draws what the CPU engine draws. */
static void
test_sample_guided (void)
{
  enum { B = 2, P = 2 };
  IbTestModelSpec spec;
  g_autoptr (GError) error = NULL;

  ib_test_model_spec_init (&spec);
  spec.n_prefix = P;
  spec.seed = 41;
  g_autoptr (GBytes) bytes = ib_test_model_build (&spec);
  g_autoptr (IbModelFile) file = ib_model_file_new_from_bytes (bytes, "test-vulkan-guided", &error);
  g_assert_no_error (error);
  const IbModelConfig *model = ib_model_file_get_config (file);
  int n = model->token_height * model->token_width;
  int32_t prefix[P] = { 7, 8 }, null_prefix[P] = { 3, 3 };
  g_autofree int32_t *x_t = g_new (int32_t, B * n);
  g_autofree int32_t *want = g_new (int32_t, B * n);
  g_autofree int32_t *got = g_new (int32_t, B * n);
  g_autofree gboolean *known = g_new0 (gboolean, n);
  g_autofree int32_t *known_tokens = g_new0 (int32_t, n);
  IbRngStream streams[B];

  for (int i = 0; i < B * n; i++)
    x_t[i] = (i * 5 + 1) % model->n_codes;
  for (int i = 0; i < n; i++)
    {
      known[i] = i % 4 == 3;
      known_tokens[i] = (i * 3) % model->n_codes;
    }
  for (int b = 0; b < B; b++)
    streams[b] = (IbRngStream) { .seed = 8, .level = 1, .variant = (uint32_t) b };
  IbLevelSampling sampling = { .top_k = 0, .temperature = 1.0f, .guidance = 2.5f, .null_conditioning = null_prefix };
  for (int t = 1; t <= model->n_levels; t++)
    {
      g_autoptr (IbStage) cpu = ib_stage_new (file, t, &error);
      g_autoptr (IbVkStage) vk = ib_vk_stage_new (ib_test_vulkan_device (), file, t, &error);
      g_assert_no_error (error);
      g_assert_true (ib_sample_level_batch (cpu, prefix, P, x_t, B, n, &sampling, streams, known, known_tokens, want,
                                            NULL, NULL, NULL, &error));
      g_assert_true (ib_vk_sample_level_batch (vk, prefix, P, x_t, B, n, &sampling, streams, known, known_tokens, 3,
                                               got, NULL, NULL, NULL, &error));
      g_assert_no_error (error);
      g_assert_cmpmem (got, B * n * sizeof (int32_t), want, B * n * sizeof (int32_t));
    }
  ib_test_vulkan_assert_clean ();
}

int
main (int    argc,
      char **argv)
{
  static const Case cases[] = {
    { IB_VARIANT_RESIDUAL_SCALED, FALSE, IB_DTYPE_F32 },
    { IB_VARIANT_SCALED, FALSE, IB_DTYPE_F32 },
    { IB_VARIANT_PLAIN, FALSE, IB_DTYPE_F32 },
    { IB_VARIANT_RESIDUAL_SCALED, TRUE, IB_DTYPE_F32 },
    { IB_VARIANT_RESIDUAL_SCALED, FALSE, IB_DTYPE_F16 },
    { IB_VARIANT_PLAIN, TRUE, IB_DTYPE_F16 },
    { IB_VARIANT_SCALED, FALSE, IB_DTYPE_BF16 },
    { IB_VARIANT_PLAIN, TRUE, IB_DTYPE_BF16 },
  };

  g_test_init (&argc, &argv, NULL);
  ib_test_vulkan_device ();
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const Case *tc = &cases[i];
      g_autofree char *path = g_strdup_printf ("/vulkan/transformer/%s%s/%s", ib_variant_name (tc->variant),
                                               tc->gpt_top ? "+gpt" : "", ib_dtype_name (tc->dtype));
      g_test_add_data_func (path, tc, test_case);
    }
  static const Case sample_cases[] = {
    { IB_VARIANT_RESIDUAL_SCALED, FALSE, IB_DTYPE_F32 },
    { IB_VARIANT_SCALED, TRUE, IB_DTYPE_F16 },
    { IB_VARIANT_PLAIN, FALSE, IB_DTYPE_BF16 },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (sample_cases); i++)
    {
      const Case *tc = &sample_cases[i];
      g_autofree char *path = g_strdup_printf ("/vulkan/sample/%s%s/%s", ib_variant_name (tc->variant),
                                               tc->gpt_top ? "+gpt" : "", ib_dtype_name (tc->dtype));
      g_test_add_data_func (path, tc, test_sample);
    }
  g_test_add_func ("/vulkan/sample/guided", test_sample_guided);
  int status = g_test_run ();
  g_test_message ("worst relative error %.2e, worst max error %.2e; %u of %u sampled tokens differ", worst_rel,
                  worst_max, sampled_differences, sampled_tokens);
  ib_test_vulkan_finish ();
  return status;
}
