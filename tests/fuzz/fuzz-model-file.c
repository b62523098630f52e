/* fuzz-model-file.c: libFuzzer harness for the model-file loader from bytes: the safetensors header, the JSON
 * metadata, the config validation, the tensor table and the data section's length. A file the loader accepts
 * is bound by the VQGAN and every level, as opening a model in the editor does (fuzz_check_loaded_model).
 * fuzz-model-header does the same several times faster, with mutations only where the loader reads. */
#include <glib.h>
#include <stdint.h>

#include "fuzz-common.h"
#include "ib-model-file.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  /* Not copied: libFuzzer's buffer is already a fresh heap block of exactly the input (its base aligned as
   * malloc aligns, so that the tensors' alignment follows the header length as in a mapped file), and a
   * second copy of a 300 KB input was a third of each run's time. Everything below is freed before return. */
  g_autoptr (GBytes) bytes = g_bytes_new_static (data, size);
  g_autoptr (GError) error = NULL;
  g_autoptr (IbModelFile) file = ib_model_file_new_from_bytes (bytes, "fuzzed model", &error);

  if (file == NULL)
    {
      g_assert (error != NULL && error->message != NULL);
      return 0;
    }
  fuzz_check_loaded_model (file);
  return 0;
}
