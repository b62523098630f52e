/* ib-model-layout.h: every tensor a config implies, with its shape.
 *
 * One enumeration serves the loader (which checks a file against it) and whatever writes model files in C
 * (tests, fuzz seeds), so the two cannot drift apart. It mirrors taming's VQModel, the official
 * XTransformer (wrap_decoder=False) and minGPT's GPT; docs/model-format.md lists the names. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "ib-config.h"

G_BEGIN_DECLS

/* Return FALSE (with error set) to stop the enumeration. */
typedef gboolean (*IbLayoutFunc) (const char    *name,
                                  int            n_dims,
                                  const int64_t *shape,
                                  gpointer       user_data,
                                  GError       **error);

/* Visits the VQGAN's tensors, then each level's in order t = 1..T. Levels that share a prefix are
 * visited once per level (their shapes must agree). */
gboolean ib_model_layout_foreach (const IbModelConfig *config,
                                  IbLayoutFunc         func,
                                  gpointer             user_data,
                                  GError             **error);

G_END_DECLS
