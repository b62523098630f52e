/* benchmark-level.h: what the CPU and Vulkan halves of benchmark-level share. */
#pragma once

#include <glib.h>

#include "ib-model-file.h"

G_BEGIN_DECLS

double  bench_now                (void);
/* Weight bytes one decoding step reads (decoder weights but the cross keys/values, plus the logits). */
double  bench_decoder_step_bytes (IbModelFile         *file,
                                  const IbLevelConfig *level);
/* Multiply-adds x 2 of the encoder over n tokens. */
double  bench_encoder_flops      (const IbLevelConfig *level,
                                  int                  n);
/* The level on the Vulkan engine (tools/benchmark-level-vulkan.c); prints "key value" lines; 0 on success. */
int     bench_vulkan_level       (IbModelFile         *file,
                                  int                  level,
                                  const char          *device,
                                  int                  steps,
                                  int                  repeats);

G_END_DECLS
