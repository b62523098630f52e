/* fuzz-model-header.c: libFuzzer harness for the model-file loader with the input as the JSON header only:
 * the harness puts the length in front and a data section of zeros (as long as the tiny seed models') behind
 * it. Whole files are ~300 KB, most of it weights the loader only measures, which makes fuzz-model-file slow
 * (about 200 runs a second); here the mutations all land in the header, the table and the config. A file the
 * loader accepts is then bound as the editor binds it (fuzz_check_loaded_model), as in fuzz-model-file. */
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "fuzz-common.h"
#include "ib-model-file.h"

#define DATA_SECTION_BYTES (320 * 1024)
#define MAX_HEADER_BYTES (1024 * 1024)

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  if (size > MAX_HEADER_BYTES)
    return 0;
  /* One buffer for every run: a fresh 320 KB allocation each time would cost more than the parse. */
  static guint8 *file_bytes;
  if (file_bytes == NULL)
    file_bytes = g_malloc (8 + MAX_HEADER_BYTES + DATA_SECTION_BYTES);
  gsize total = 8 + size + DATA_SECTION_BYTES;
  for (int i = 0; i < 8; i++)
    file_bytes[i] = (guint8) ((guint64) size >> (8 * i));
  memcpy (file_bytes + 8, data, size);
  memset (file_bytes + 8 + size, 0, DATA_SECTION_BYTES);

  g_autoptr (GBytes) bytes = g_bytes_new_static (file_bytes, total);
  g_autoptr (GError) error = NULL;
  g_autoptr (IbModelFile) file = ib_model_file_new_from_bytes (bytes, "fuzzed model", &error);
  if (file == NULL)
    g_assert (error != NULL && error->message != NULL);
  else
    fuzz_check_loaded_model (file);
  return 0;
}
