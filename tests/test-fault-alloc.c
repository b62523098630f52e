/* test-fault-alloc.c: every large allocation of loading, the VQGAN, the transformer and a whole edit job is
 * made to fail in turn (ib-alloc.h's fault injection): each ends with an IB_ERROR_NO_MEMORY that says what
 * could not be allocated, never a crash, a leak (LeakSanitizer in the sanitizer build) or a result. Skipped in
 * release builds, where the switch is compiled out. */
#include <string.h>

#include "ib-alloc.h"
#include "ib-edit-job.h"
#include "ib-error.h"
#include "ib-model-file.h"
#include "ib-test-model.h"
#include "ib-transformer.h"
#include "ib-vqgan.h"

typedef gboolean (*Scenario) (gpointer  data,
                              GError  **error);

/* Runs the scenario once to count its allocation points, then once per point with that one failing. */
static guint
fail_each_allocation (Scenario scenario,
                      gpointer data)
{
  g_autoptr (GError) error = NULL;

  ib_alloc_fault_set (0);
  g_assert_true (scenario (data, &error));
  g_assert_no_error (error);
  guint n_points = ib_alloc_fault_count ();
  g_assert_cmpuint (n_points, >, 0);

  for (guint n = 1; n <= n_points; n++)
    {
      g_autoptr (GError) fault_error = NULL;
      ib_alloc_fault_set (n);
      gboolean ok = scenario (data, &fault_error);
      guint reached = ib_alloc_fault_count ();
      ib_alloc_fault_set (0);
      if (ok)
        g_error ("allocation %u of %u failed and yet the scenario succeeded (%u reached)", n, n_points, reached);
      g_assert_error (fault_error, IB_ERROR, IB_ERROR_NO_MEMORY);
      g_assert_nonnull (strstr (fault_error->message, "memory"));
    }
  g_test_message ("%u allocation points failed in turn", n_points);
  return n_points;
}

static gboolean
skip_in_release (void)
{
  if (ib_alloc_faults_enabled ())
    return FALSE;
  g_test_skip ("fault injection is compiled out of release (NDEBUG) builds");
  return TRUE;
}

/* A valid model whose data section starts one byte off, so that every tensor needs an aligned copy. */
static GBytes *
misaligned_model (void)
{
  IbTestModelSpec spec;
  ib_test_model_spec_init (&spec);
  g_autoptr (GBytes) bytes = ib_test_model_build (&spec);
  gsize size;
  const guint8 *data = g_bytes_get_data (bytes, &size);
  guint64 length = 0;
  for (int i = 7; i >= 0; i--)
    length = (length << 8) | data[i];

  guint8 *shifted = g_malloc (size + 1);
  guint64 new_length = length + 1;
  for (int i = 0; i < 8; i++)
    shifted[i] = (guint8) (new_length >> (8 * i));
  memcpy (shifted + 8, data + 8, length);
  shifted[8 + length] = ' ';   /* JSON allows trailing white space */
  memcpy (shifted + 9 + length, data + 8 + length, size - 8 - length);
  return g_bytes_new_take (shifted, size + 1);
}

static gboolean
load_scenario (gpointer data,
               GError **error)
{
  g_autoptr (IbModelFile) file = ib_model_file_new_from_bytes (data, "misaligned model", error);
  return file != NULL;
}

static void
test_load (void)
{
  if (skip_in_release ())
    return;
  g_autoptr (GBytes) bytes = misaligned_model ();
  fail_each_allocation (load_scenario, bytes);
}

static IbModelFile *
small_model (gboolean gpt_top)
{
  IbTestModelSpec spec;
  ib_test_model_spec_init (&spec);
  spec.gpt_top = gpt_top;
  GBytes *bytes = ib_test_model_build (&spec);
  g_autoptr (GError) error = NULL;
  IbModelFile *file = ib_model_file_new_from_bytes (bytes, "test model", &error);
  g_assert_no_error (error);
  g_bytes_unref (bytes);    /* the file holds its own reference */
  return file;
}

static gboolean
vqgan_scenario (gpointer data,
                GError **error)
{
  IbModelFile *file = data;
  const IbModelConfig *config = ib_model_file_get_config (file);
  int resolution = config->vqgan.resolution, n_tokens = config->token_height * config->token_width;
  g_autofree float *image = g_new0 (float, 3 * resolution * resolution);
  g_autofree int32_t *tokens = g_new0 (int32_t, n_tokens);
  g_autoptr (IbVqgan) vqgan = ib_vqgan_new (file, error);

  return vqgan != NULL && ib_vqgan_encode (vqgan, image, tokens, NULL, error) &&
         ib_vqgan_decode (vqgan, tokens, image, NULL, error);
}

static void
test_vqgan (void)
{
  if (skip_in_release ())
    return;
  g_autoptr (IbModelFile) file = small_model (FALSE);
  fail_each_allocation (vqgan_scenario, file);
}

/* Every level: the stage, the full logits, a decoder fed a few tokens. */
static gboolean
transformer_scenario (gpointer data,
                      GError **error)
{
  IbModelFile *file = data;
  const IbModelConfig *config = ib_model_file_get_config (file);
  int n_tokens = config->token_height * config->token_width;

  for (int t = 1; t <= config->n_levels; t++)
    {
      g_autoptr (IbStage) stage = ib_stage_new (file, t, error);
      if (stage == NULL)
        return FALSE;
      const IbLevelConfig *level = ib_stage_get_config (stage);
      gboolean gpt = level->variant == IB_VARIANT_GPT;
      int n_src = gpt ? 1 : 1 + n_tokens;
      g_autofree int32_t *src = g_new0 (int32_t, n_src);
      g_autofree int32_t *tgt = g_new0 (int32_t, n_tokens);
      g_autofree float *logits = g_new (float, (gsize) n_tokens * level->dec_num_tokens);
      src[0] = t;
      if (!ib_stage_logits (stage, src, n_src, tgt, n_tokens, logits, error))
        return FALSE;

      g_autofree float *context = NULL;
      if (!gpt)
        {
          context = g_new (float, (gsize) n_src * level->dim);
          if (!ib_stage_encode (stage, src, n_src, context, error))
            return FALSE;
        }
      g_autoptr (IbDecoder) decoder = ib_decoder_new (stage, src, n_src, context, error);
      if (decoder == NULL || !ib_decoder_feed (decoder, tgt, 3, logits, error))
        return FALSE;
    }
  return TRUE;
}

static void
test_transformer (void)
{
  if (skip_in_release ())
    return;
  g_autoptr (IbModelFile) file = small_model (TRUE);
  fail_each_allocation (transformer_scenario, file);
}

/* A whole edit, run in this thread: window, encode, the levels, decode, composite. */
static gboolean
edit_scenario (gpointer data,
               GError **error)
{
  IbModelFile *file = data;
  int width = 24, height = 20;
  g_autofree guint8 *rgba = g_new (guint8, width * height * 4);
  g_autofree guint8 *mask = g_new0 (guint8, width * height);
  IbEditRequest request;

  for (int i = 0; i < width * height * 4; i++)
    rgba[i] = (guint8) (i * 7);
  for (int y = 4; y < 14; y++)
    memset (mask + y * width + 5, 255, 12);
  ib_edit_request_init (&request, ib_model_file_get_config (file));
  request.image = rgba;
  request.width = request.mask_width = width;
  request.height = request.mask_height = height;
  request.stride = width * 4;
  request.mask = mask;
  request.mask_stride = width;
  request.settings.n_variants = 2;
  g_autoptr (IbEditJob) job = ib_edit_job_new (file, &request, error);
  if (job == NULL)
    return FALSE;
  g_autoptr (IbEditResult) result = ib_edit_job_run (job, NULL, NULL, NULL, error);
  return result != NULL;
}

static void
test_edit_job (void)
{
  if (skip_in_release ())
    return;
  g_autoptr (IbModelFile) file = small_model (TRUE);
  fail_each_allocation (edit_scenario, file);
}

/* Work buffers come back for a request of about their size, not for a much smaller one; ib_work_trim and the
 * end of an edit job give them back; a failed allocation point fails a reused buffer as well. */
static void
test_work_reuse (void)
{
  GError *error = NULL;

  ib_work_trim ();
  guint8 *first = ib_work_alloc (1000, 1000, "a test", &error);
  g_assert_no_error (error);
  memset (first, 7, 1000 * 1000);
  ib_work_free (first);
  if (!ib_work_keeps_buffers ())
    {
      g_assert_cmpuint (ib_work_kept_bytes (), ==, 0);
      g_test_skip ("sanitizer builds keep no work buffers");
      return;
    }
  g_assert_cmpuint (ib_work_kept_bytes (), ==, 1000 * 1000);

  guint8 *small = ib_work_alloc (100, 1000, "a test", &error);     /* a tenth: not that block */
  g_assert_true (small != first);
  guint8 *again = ib_work_alloc (600, 1000, "a test", &error);     /* more than half of it: that block */
  g_assert_true (again == first);
  g_assert_cmpuint (ib_work_kept_bytes (), ==, 0);
  ib_work_free (again);
  ib_work_free (small);
  g_assert_cmpuint (ib_work_kept_bytes (), ==, 1000 * 1000 + 100 * 1000);
  again = ib_work_alloc (1000, 1000, "a test", &error);            /* its capacity is still the first size */
  g_assert_true (again == first);
  ib_work_free (again);

  if (ib_alloc_faults_enabled ())
    {
      ib_alloc_fault_set (1);
      g_assert_null (ib_work_alloc (1000, 1000, "a test", &error));
      g_assert_error (error, IB_ERROR, IB_ERROR_NO_MEMORY);
      g_clear_error (&error);
      ib_alloc_fault_set (0);
    }
  g_assert_null (ib_work_alloc (G_MAXSIZE / 2, 4, "a test", &error));   /* overflow */
  g_assert_error (error, IB_ERROR, IB_ERROR_NO_MEMORY);
  g_clear_error (&error);

  ib_work_trim ();
  g_assert_cmpuint (ib_work_kept_bytes (), ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/model/alloc/work-reuse", test_work_reuse);
  g_test_add_func ("/model/fault/alloc/load", test_load);
  g_test_add_func ("/model/fault/alloc/vqgan", test_vqgan);
  g_test_add_func ("/model/fault/alloc/transformer", test_transformer);
  g_test_add_func ("/model/fault/alloc/edit-job", test_edit_job);
  return g_test_run ();
}
