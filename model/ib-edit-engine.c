/* ib-edit-engine.c: one interface over the CPU and the Vulkan engine for what an edit runs. */
#include "ib-edit-engine.h"

#include "ib-error.h"
#include "ib-transformer.h"
#include "ib-vqgan.h"
#include "ib-vulkan-transformer.h"
#include "ib-vulkan-vqgan.h"

struct _IbEditEngine
{
  IbModelFile *file;
  IbVkDevice *device;           /* NULL: the CPU engine */
  IbVqgan *vqgan;
  IbVkVqgan *vk_vqgan;
  int stage_level;              /* the level bound below, 0 for none */
  IbStage *stage;
  IbVkStage *vk_stage;
};

/* The Vulkan device the backend asks for: NULL without error for the CPU engine. */
static IbVkDevice *
open_device (IbEditBackend            backend,
             const IbVkDeviceOptions *vk_options,
             GError                 **error)
{
  IbVkDeviceOptions defaults = { 0 };
  const IbVkDeviceOptions *options = vk_options != NULL ? vk_options : &defaults;
  gboolean named = options->selector != NULL && options->selector[0] != '\0';
  g_autoptr (GError) local = NULL;

  if (backend == IB_EDIT_BACKEND_CPU)
    return NULL;
  if (backend == IB_EDIT_BACKEND_AUTO && !named && !ib_vk_has_gpu ())
    return NULL;
  IbVkDevice *device = ib_vk_device_new (options, &local);
  if (device == NULL && backend == IB_EDIT_BACKEND_VULKAN)
    g_propagate_error (error, g_steal_pointer (&local));
  else if (device == NULL)
    g_message ("The Vulkan engine is not available (%s); using the CPU engine", local->message);
  return device;
}

IbEditEngine *
ib_edit_engine_new (IbModelFile             *file,
                    IbEditBackend            backend,
                    const IbVkDeviceOptions *vk_options,
                    GError                 **error)
{
  g_return_val_if_fail (file != NULL, NULL);

  g_autoptr (GError) local = NULL;
  IbVkDevice *device = open_device (backend, vk_options, &local);
  if (local != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local));
      return NULL;
    }

  g_autoptr (IbEditEngine) engine = g_new0 (IbEditEngine, 1);
  engine->file = file;
  engine->device = device;
  if (device != NULL)
    engine->vk_vqgan = ib_vk_vqgan_new (device, file, error);
  else
    engine->vqgan = ib_vqgan_new (file, error);
  if (engine->vqgan == NULL && engine->vk_vqgan == NULL)
    return NULL;
  return g_steal_pointer (&engine);
}

static void
unbind_stage (IbEditEngine *engine)
{
  g_clear_pointer (&engine->stage, ib_stage_free);
  g_clear_pointer (&engine->vk_stage, ib_vk_stage_free);
  engine->stage_level = 0;
}

void
ib_edit_engine_free (IbEditEngine *engine)
{
  if (engine == NULL)
    return;
  unbind_stage (engine);
  g_clear_pointer (&engine->vqgan, ib_vqgan_free);
  g_clear_pointer (&engine->vk_vqgan, ib_vk_vqgan_free);
  /* Last: the device's objects above need it. */
  g_clear_pointer (&engine->device, ib_vk_device_free);
  g_free (engine);
}

IbEditBackend
ib_edit_engine_get_backend (IbEditEngine *engine)
{
  return engine->device != NULL ? IB_EDIT_BACKEND_VULKAN : IB_EDIT_BACKEND_CPU;
}

const char *
ib_edit_engine_get_device_name (IbEditEngine *engine)
{
  return engine->device != NULL ? ib_vk_device_get_name (engine->device) : NULL;
}

IbVkDevice *
ib_edit_engine_get_device (IbEditEngine *engine)
{
  return engine->device;
}

gboolean
ib_edit_engine_encode (IbEditEngine *engine,
                       const float  *image,
                       int32_t      *tokens,
                       GCancellable *cancellable,
                       GError      **error)
{
  return engine->device != NULL ? ib_vk_vqgan_encode (engine->vk_vqgan, image, tokens, cancellable, error)
                                : ib_vqgan_encode (engine->vqgan, image, tokens, cancellable, error);
}

gboolean
ib_edit_engine_decode (IbEditEngine  *engine,
                       const int32_t *tokens,
                       float         *image,
                       GCancellable  *cancellable,
                       GError       **error)
{
  return engine->device != NULL ? ib_vk_vqgan_decode (engine->vk_vqgan, tokens, image, cancellable, error)
                                : ib_vqgan_decode (engine->vqgan, tokens, image, cancellable, error);
}

static gboolean
bind_stage (IbEditEngine *engine,
            int           t,
            GError      **error)
{
  if (engine->stage_level == t)
    return TRUE;
  /* One level's weights at a time: the previous level's memory goes before the next one's comes. */
  unbind_stage (engine);
  if (engine->device != NULL)
    engine->vk_stage = ib_vk_stage_new (engine->device, engine->file, t, error);
  else
    engine->stage = ib_stage_new (engine->file, t, error);
  if (engine->stage == NULL && engine->vk_stage == NULL)
    return FALSE;
  engine->stage_level = t;
  return TRUE;
}

gboolean
ib_edit_engine_sample_level (IbEditEngine          *engine,
                             int                    t,
                             const int32_t         *conditioning,
                             int                    n_conditioning,
                             const int32_t         *x_t,
                             int                    n_batch,
                             int                    n_tokens,
                             const IbLevelSampling *sampling,
                             const IbRngStream     *streams,
                             const gboolean        *known,
                             const int32_t         *known_tokens,
                             int32_t               *x_prev,
                             IbSampleProgressFunc   progress,
                             gpointer               progress_data,
                             GCancellable          *cancellable,
                             GError               **error)
{
  if (!bind_stage (engine, t, error))
    return FALSE;
  if (engine->device != NULL)
    return ib_vk_sample_level_batch (engine->vk_stage, conditioning, n_conditioning, x_t, n_batch, n_tokens,
                                     sampling, streams, known, known_tokens, 0,
                                     x_prev, progress, progress_data, cancellable, error);
  /* One sequence: the single-sequence decoder, which reports every drawn token rather than every position. */
  if (n_batch == 1)
    return ib_sample_level_with_progress (engine->stage, conditioning, n_conditioning, x_t, n_tokens, sampling,
                                          &streams[0], known, known_tokens, x_prev, progress, progress_data,
                                          cancellable, error);
  return ib_sample_level_batch (engine->stage, conditioning, n_conditioning, x_t, n_batch, n_tokens, sampling,
                                streams, known, known_tokens, x_prev, progress, progress_data, cancellable, error);
}

gboolean
ib_edit_engine_encode_level (IbEditEngine  *engine,
                             int            t,
                             const int32_t *src,
                             int            n_src,
                             float         *context,
                             GError       **error)
{
  if (!bind_stage (engine, t, error))
    return FALSE;
  return engine->device != NULL ? ib_vk_stage_encode (engine->vk_stage, src, n_src, context, error)
                                : ib_stage_encode (engine->stage, src, n_src, context, error);
}
