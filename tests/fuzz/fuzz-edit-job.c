/* fuzz-edit-job.c: libFuzzer harness for the intake of an edit job (ib_edit_job_new): fuzzed sizes, strides,
 * conditioning and settings against a tiny model. Validation and the copy of the pixels only, no run.
 *
 * The harness keeps the caller's side of the contract: when the geometry is one the header allows (strides
 * at least a row), the buffers are exactly as large as it says, so that ASan catches any read past what a
 * caller owes; otherwise they are one byte, and accepting the request would be the bug. */
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "fuzz-common.h"
#include "ib-edit-job.h"

#define MAX_BUFFER_BYTES (4u << 20)

typedef struct
{
  const uint8_t *data;
  size_t size;
} Reader;

static guint32
read_u32 (Reader *reader)
{
  guint32 value = 0;
  size_t n = MIN (reader->size, sizeof value);
  memcpy (&value, reader->data, n);
  reader->data += n;
  reader->size -= n;
  return value;
}

/* The bytes a caller must provide for rows of width pixels, stride apart; 0 when the geometry breaks the
 * header's contract. */
static gint64
needed_bytes (gint64 width,
              gint64 height,
              gint64 stride,
              gint64 bytes_per_pixel)
{
  if (width < 1 || height < 1 || stride < width * bytes_per_pixel)
    return 0;
  return stride * (height - 1) + width * bytes_per_pixel;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  IbModelFile *file = fuzz_test_model ();
  const IbModelConfig *config = ib_model_file_get_config (file);
  Reader reader = { data, size };
  IbEditRequest request;

  ib_edit_request_init (&request, config);
  request.width = (int) read_u32 (&reader);
  request.height = (int) read_u32 (&reader);
  request.stride = (int) read_u32 (&reader);
  request.mask_width = (int) read_u32 (&reader);
  request.mask_height = (int) read_u32 (&reader);
  request.mask_stride = (int) read_u32 (&reader);
  guint32 flags = read_u32 (&reader);

  IbEditSettings *settings = &request.settings;
  settings->seed = ((guint64) read_u32 (&reader) << 32) | read_u32 (&reader);
  settings->start_level = (int) read_u32 (&reader);
  settings->n_variants = (int) read_u32 (&reader);
  guint32 feather = read_u32 (&reader);
  float feather_value;
  memcpy (&feather_value, &feather, sizeof feather_value);
  settings->feather = feather_value;
  settings->match_colours = (flags & 4) != 0;
  settings->level_previews = (flags & 8) != 0;
  settings->backend = (IbEditBackend) read_u32 (&reader);
  for (int t = 0; t < IB_MAX_LEVELS && reader.size > 0; t++)
    {
      guint32 bits = read_u32 (&reader);
      memcpy (&settings->temperature[t], &bits, sizeof bits);
      settings->top_k[t] = (int) read_u32 (&reader);
      settings->repeats[t] = (int) read_u32 (&reader);
      if (t + 1 >= config->n_levels && (flags & 16) == 0)
        break;
    }
  IbEditConditioning *conditioning = &request.conditioning;
  /* Mostly one of the three kinds, sometimes a value outside the enum, which the validation refuses. */
  conditioning->kind = (IbConditioningKind) (read_u32 (&reader) % 4);
  conditioning->class_id = (int) read_u32 (&reader);
  conditioning->n_text_tokens = (int) read_u32 (&reader);
  for (int i = 0; i < IB_EDIT_MAX_TEXT_TOKENS && reader.size > 0; i++)
    conditioning->text_tokens[i] = (int32_t) read_u32 (&reader);

  gint64 image_bytes = needed_bytes (request.width, request.height, request.stride, 4);
  gint64 mask_bytes = needed_bytes (request.mask_width, request.mask_height, request.mask_stride, 1);
  /* A valid request too large for the fuzzer's memory limit is not what this harness is about. */
  if (image_bytes > MAX_BUFFER_BYTES || mask_bytes > MAX_BUFFER_BYTES)
    return 0;
  g_autofree guint8 *image = g_malloc ((gsize) MAX (image_bytes, 1));
  g_autofree guint8 *mask = g_malloc ((gsize) MAX (mask_bytes, 1));
  request.image = (flags & 1) ? NULL : image;
  request.mask = (flags & 2) ? NULL : mask;

  g_autoptr (GError) error = NULL;
  g_autoptr (IbEditJob) job = ib_edit_job_new (file, &request, &error);
  if (job == NULL)
    {
      g_assert (error != NULL && error->message != NULL);
      return 0;
    }
  /* Accepted: the caller's buffers were what the contract asks for, and the settings are in range. */
  g_assert (image_bytes > 0 && mask_bytes > 0);
  const IbEditSettings *accepted = ib_edit_job_get_settings (job);
  g_assert (accepted->start_level >= 1 && accepted->start_level <= config->n_levels);
  g_assert (accepted->n_variants >= 1 && accepted->n_variants <= IB_EDIT_MAX_VARIANTS);
  return 0;
}
