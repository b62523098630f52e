/* fuzz-common.h: what several fuzz harnesses share: the config and model they fuzz against, built once. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "ib-config.h"
#include "ib-model-file.h"

/* libFuzzer's entry point, which every harness defines. */
int            LLVMFuzzerTestOneInput (const uint8_t *data,
                                       size_t         size);

/* The default test model's config (ib_test_model_spec_init): two levels, unconditional. */
IbModelConfig *fuzz_test_config       (void);

/* A small model file with a decoder-only top level; kept for the life of the process. */
IbModelFile   *fuzz_test_model        (void);

/* What the editor does with a model file the loader accepted: every tensor found by its name, the VQGAN and
 * every level bound. So that binding never trusts more than the loader checked. */
void           fuzz_check_loaded_model (IbModelFile  *file);

/* Seed generators: writes OUTDIR/HARNESS/NAME, or dies. */
void           fuzz_write_seed        (const char    *outdir,
                                       const char    *harness,
                                       const char    *name,
                                       const void    *data,
                                       gsize          size);
