/* ib-edit-engine.h: the networks an edit runs (the VQGAN and each level's transformer), on the CPU engine or
 * on the Vulkan engine, behind one interface.
 *
 * Both engines draw from the same counter-based streams, so an edit gives the same tokens on either wherever
 * their logits agree; the pixels differ only by the rounding of the networks. */
#pragma once

#include <gio/gio.h>
#include <stdint.h>

#include "ib-edit-job.h"
#include "ib-model-file.h"
#include "ib-sampler.h"
#include "ib-vulkan-device.h"

G_BEGIN_DECLS

typedef struct _IbEditEngine IbEditEngine;

/* backend AUTO: the Vulkan engine when a real GPU exists (lavapipe and other CPU implementations are far
 * slower than the CPU engine) or when vk_options names a device, else the CPU engine; a Vulkan engine that
 * fails to start then falls back to the CPU one. VULKAN: that engine or an error. vk_options may be NULL
 * (the best device). The file must outlive the engine. */
IbEditEngine  *ib_edit_engine_new            (IbModelFile             *file,
                                              IbEditBackend            backend,
                                              const IbVkDeviceOptions *vk_options,
                                              GError                 **error);
void           ib_edit_engine_free           (IbEditEngine            *engine);

/* IB_EDIT_BACKEND_CPU or IB_EDIT_BACKEND_VULKAN: what AUTO resolved to. */
IbEditBackend  ib_edit_engine_get_backend    (IbEditEngine            *engine);
/* The Vulkan device's name, or NULL on the CPU engine. */
const char    *ib_edit_engine_get_device_name (IbEditEngine           *engine);
/* The Vulkan device (tests read its validation messages), or NULL. */
IbVkDevice    *ib_edit_engine_get_device     (IbEditEngine            *engine);

/* As ib_vqgan_encode and ib_vqgan_decode (model/ib-vqgan.h), cancellable between blocks. */
gboolean       ib_edit_engine_encode         (IbEditEngine            *engine,
                                              const float             *image,
                                              int32_t                 *tokens,
                                              GCancellable            *cancellable,
                                              GError                 **error);
gboolean       ib_edit_engine_decode         (IbEditEngine            *engine,
                                              const int32_t           *tokens,
                                              float                   *image,
                                              GCancellable            *cancellable,
                                              GError                 **error);

/* As ib_sample_level_batch (model/ib-sampler.h) at level t: n_batch sequences in lockstep, known tokens
 * forced. Level t's transformer is bound (uploaded, on Vulkan) on first use and kept until another level is
 * asked for, so a level's chain repeats share it. */
gboolean       ib_edit_engine_sample_level   (IbEditEngine            *engine,
                                              int                      t,
                                              const int32_t           *conditioning,
                                              int                      n_conditioning,
                                              const int32_t           *x_t,
                                              int                      n_batch,
                                              int                      n_tokens,
                                              const IbLevelSampling   *sampling,
                                              const IbRngStream       *streams,
                                              const gboolean          *known,
                                              const int32_t           *known_tokens,
                                              int32_t                 *x_prev,
                                              IbSampleProgressFunc     progress,
                                              gpointer                 progress_data,
                                              GCancellable            *cancellable,
                                              GError                 **error);

/* As ib_stage_encode at level t (bound as for sampling): the encoder pass alone, for benchmarks. */
gboolean       ib_edit_engine_encode_level   (IbEditEngine            *engine,
                                              int                      t,
                                              const int32_t           *src,
                                              int                      n_src,
                                              float                   *context,
                                              GError                 **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (IbEditEngine, ib_edit_engine_free)

G_END_DECLS
