/* ib-model-file.h: a mapped, validated model file (safetensors + our JSON config). */
#pragma once

#include <glib.h>

#include "ib-config.h"
#include "ib-tensor.h"

G_BEGIN_DECLS

typedef struct _IbModelFile IbModelFile;

/* Maps the file and checks the container, the config and every tensor the config implies (names, shapes,
 * float dtypes) before returning. Any problem is an IB_ERROR. */
IbModelFile         *ib_model_file_open        (const char     *path,
                                                GError        **error);
/* The same for a buffer already in memory (tests, fuzzing); the bytes are referenced, not copied. */
IbModelFile         *ib_model_file_new_from_bytes (GBytes      *bytes,
                                                   const char  *display_name,
                                                   GError     **error);
void                 ib_model_file_free        (IbModelFile    *file);

const IbModelConfig *ib_model_file_get_config  (IbModelFile    *file);
const char          *ib_model_file_get_path    (IbModelFile    *file);
/* SHA-256 of the whole file (lowercase hex), computed at the first call (seconds for a large model). */
const char          *ib_model_file_get_sha256  (IbModelFile    *file);

/* NULL when absent. */
const IbTensor      *ib_model_file_lookup      (IbModelFile    *file,
                                                const char     *name);
/* Like lookup, but with printf-style name building; NULL when absent. */
const IbTensor      *ib_model_file_lookupf     (IbModelFile    *file,
                                                const char     *format,
                                                ...) G_GNUC_PRINTF (2, 3);
guint                ib_model_file_n_tensors   (IbModelFile    *file);
const IbTensor      *ib_model_file_nth_tensor  (IbModelFile    *file,
                                                guint           i);

/* FALSE when brackets nest deeper than a model file ever needs (a guard for the JSON parser's stack). */
gboolean             ib_json_depth_is_sane     (const char     *json,
                                                gsize           length);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (IbModelFile, ib_model_file_free)

G_END_DECLS
