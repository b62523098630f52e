/* ib-edit-job.c: an edit job: validation, the run (window, encode, chain, decode, composite) and the delivery
 * of its events (see ib-edit-job.h). */
#include "ib-edit-job.h"
#include "ib-edit-engine.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "ib-alloc.h"
#include "ib-edit-chain.h"
#include "ib-edit-composite.h"
#include "ib-edit-recipe.h"
#include "ib-error.h"
#include "ib-tokenizer.h"
#include "ib-sampler.h"
#include "ib-transformer.h"

/* Known tokens within this many tokens of an unknown one are the colour matching's reference. */
#define COLOUR_RING_TOKENS 2

struct _IbEditJob
{
  GObject parent_instance;

  IbModelFile *file;
  const IbModelConfig *config;
  int width;
  int height;
  const guint8 *image;          /* RGBA, stride 4 * width: image_owner's pixels, or image_copy */
  IbEditImage *image_owner;
  guint8 *image_copy;
  guint8 *mask;                 /* stride width */
  IbEditConditioning conditioning;
  IbEditSettings settings;
  int n_conditioning;
  int32_t *conditioning_tokens; /* encoder tokens after the scale token */
  int32_t *null_conditioning;   /* the empty prompt's, when the edit is guided; else NULL */
  int resume_level;             /* 0: start from the encoded window noised to the start level */
  int n_resume_tokens;          /* n_tokens (shared by the variants) or n_variants * n_tokens */
  int32_t *resume_tokens;
};

G_DEFINE_FINAL_TYPE (IbEditJob, ib_edit_job, G_TYPE_OBJECT)

static void
ib_edit_job_finalize (GObject *object)
{
  IbEditJob *self = IB_EDIT_JOB (object);

  g_clear_pointer (&self->image_owner, ib_edit_image_unref);
  g_free (self->image_copy);
  g_free (self->mask);
  g_free (self->conditioning_tokens);
  g_free (self->null_conditioning);
  g_free (self->resume_tokens);
  G_OBJECT_CLASS (ib_edit_job_parent_class)->finalize (object);
}

static void
ib_edit_job_class_init (IbEditJobClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = ib_edit_job_finalize;
}

static void
ib_edit_job_init (IbEditJob *self)
{
}

/* Images and results */

IbEditImage *
ib_edit_image_new (int x,
                   int y,
                   int width,
                   int height)
{
  g_return_val_if_fail (width > 0 && height > 0, NULL);
  IbEditImage *image = g_new0 (IbEditImage, 1);
  image->x = x;
  image->y = y;
  image->width = width;
  image->height = height;
  image->stride = width * 4;
  image->pixels = g_malloc ((gsize) image->stride * height);
  g_atomic_ref_count_init (&image->ref_count);
  return image;
}

IbEditImage *
ib_edit_image_ref (IbEditImage *image)
{
  g_return_val_if_fail (image != NULL, NULL);
  g_atomic_ref_count_inc (&image->ref_count);
  return image;
}

void
ib_edit_image_unref (IbEditImage *image)
{
  if (image == NULL || !g_atomic_ref_count_dec (&image->ref_count))
    return;
  g_free (image->pixels);
  g_free (image);
}

static IbEditResult *
result_new (int n_variants)
{
  IbEditResult *result = g_new0 (IbEditResult, 1);
  result->n_variants = n_variants;
  result->images = g_new0 (IbEditImage *, n_variants);
  g_atomic_ref_count_init (&result->ref_count);
  return result;
}

IbEditResult *
ib_edit_result_ref (IbEditResult *result)
{
  g_return_val_if_fail (result != NULL, NULL);
  g_atomic_ref_count_inc (&result->ref_count);
  return result;
}

void
ib_edit_result_unref (IbEditResult *result)
{
  if (result == NULL || !g_atomic_ref_count_dec (&result->ref_count))
    return;
  for (int v = 0; v < result->n_variants; v++)
    {
      ib_edit_image_unref (result->images[v]);
      if (result->tokens != NULL)
        g_free (result->tokens[v]);
    }
  g_free (result->images);
  g_free (result->tokens);
  g_free (result->encoded);
  g_free (result->unknown);
  g_free (result->recipe);
  g_free (result);
}

const char *
ib_edit_backend_name (IbEditBackend backend)
{
  switch (backend)
    {
    case IB_EDIT_BACKEND_AUTO:
      return "auto";
    case IB_EDIT_BACKEND_CPU:
      return "cpu";
    case IB_EDIT_BACKEND_VULKAN:
      return "vulkan";
    }
  return "unknown";
}

char *
ib_edit_hash_pixels (const guint8 *pixels,
                     int           width,
                     int           height,
                     int           stride,
                     int           bytes_per_pixel)
{
  g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree char *header = g_strdup_printf ("%s %dx%d\n", bytes_per_pixel == 4 ? "rgba8" : "gray8", width, height);

  g_return_val_if_fail (bytes_per_pixel == 1 || bytes_per_pixel == 4, NULL);
  g_checksum_update (checksum, (const guchar *) header, -1);
  for (int y = 0; y < height; y++)
    g_checksum_update (checksum, pixels + (gsize) y * stride, (gssize) width * bytes_per_pixel);
  return g_strdup (g_checksum_get_string (checksum));
}

/* Requests */

void
ib_edit_request_init (IbEditRequest       *request,
                      const IbModelConfig *config)
{
  memset (request, 0, sizeof *request);
  request->conditioning.kind = config->conditioning.kind;
  IbEditSettings *settings = &request->settings;
  settings->seed = 0;
  settings->start_level = config->n_levels;
  settings->n_variants = 1;
  settings->feather = 4.0;
  settings->match_colours = TRUE;
  settings->level_previews = TRUE;
  settings->backend = IB_EDIT_BACKEND_AUTO;
  settings->guidance = config->conditioning.kind == IB_CONDITIONING_TEXT ? (float) config->conditioning.guidance : 1.0f;
  for (int t = 1; t <= config->n_levels; t++)
    {
      settings->temperature[t - 1] = (float) config->levels[t - 1].temperature;
      settings->top_k[t - 1] = config->levels[t - 1].top_k;
      settings->repeats[t - 1] = 1;
    }
}

static gboolean
bad_argument (GError    **error,
              const char *format,
              ...) G_GNUC_PRINTF (2, 3);

static gboolean
bad_argument (GError    **error,
              const char *format,
              ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error_literal (error, IB_ERROR, IB_ERROR_ARGUMENT, message);
  return FALSE;
}

static gboolean
validate_images (const IbEditRequest *request,
                 GError             **error)
{
  if (request->image == NULL || request->mask == NULL)
    return bad_argument (error, "An edit needs an image and a mask");
  if (request->width < 1 || request->height < 1 || request->width > IB_EDIT_MAX_SIDE ||
      request->height > IB_EDIT_MAX_SIDE || (gint64) request->width * request->height > IB_EDIT_MAX_PIXELS)
    return bad_argument (error, "The image is %dx%d pixels; an edit takes 1 to %d pixels a side and at most %"
                         G_GINT64_FORMAT " megapixels", request->width, request->height, IB_EDIT_MAX_SIDE,
                         IB_EDIT_MAX_PIXELS >> 20);
  if (request->mask_width != request->width || request->mask_height != request->height)
    return bad_argument (error, "The mask is %dx%d pixels but the image is %dx%d; they must be the same size",
                         request->mask_width, request->mask_height, request->width, request->height);
  if (request->stride < 4 * request->width)
    return bad_argument (error, "The image's row stride (%d bytes) is shorter than a row of %d RGBA pixels",
                         request->stride, request->width);
  if (request->mask_stride < request->mask_width)
    return bad_argument (error, "The mask's row stride (%d bytes) is shorter than a row of %d pixels",
                         request->mask_stride, request->mask_width);
  return TRUE;
}

static gboolean
validate_conditioning (const IbModelConfig      *config,
                       const IbEditConditioning *conditioning,
                       GError                  **error)
{
  const IbConditioning *model = &config->conditioning;

  /* Before anything names the kind: a value outside the enum is the caller's error, not an abort. */
  if ((guint) conditioning->kind > IB_CONDITIONING_TEXT)
    return bad_argument (error, "Conditioning kind %d is none of none, class and text", (int) conditioning->kind);
  if (conditioning->kind != model->kind)
    {
      if (model->kind == IB_CONDITIONING_NONE)
        return bad_argument (error, "This model is unconditional; it takes no %s conditioning",
                             ib_conditioning_name (conditioning->kind));
      return bad_argument (error, "This model is %s-conditional; give it a %s", ib_conditioning_name (model->kind),
                           model->kind == IB_CONDITIONING_CLASS ? "class" : "text");
    }
  if (conditioning->kind == IB_CONDITIONING_CLASS &&
      (conditioning->class_id < 0 || conditioning->class_id >= model->n_labels))
    return bad_argument (error, "Class %d is out of range: this model has classes 0 to %d", conditioning->class_id,
                         model->n_labels - 1);
  if (conditioning->kind == IB_CONDITIONING_TEXT)
    {
      if (conditioning->n_text_tokens != model->text_length)
        return bad_argument (error, "This model takes exactly %d text tokens, not %d", model->text_length,
                             conditioning->n_text_tokens);
      for (int i = 0; i < conditioning->n_text_tokens; i++)
        if (conditioning->text_tokens[i] < 0 || conditioning->text_tokens[i] >= model->n_vocab)
          return bad_argument (error, "Text token %d (%d) is not in the model's vocabulary of %d words", i + 1,
                               conditioning->text_tokens[i], model->n_vocab);
    }
  return TRUE;
}

static gboolean
validate_settings (const IbModelConfig  *config,
                   const IbEditSettings *settings,
                   GError              **error)
{
  if (settings->start_level < 1 || settings->start_level > config->n_levels)
    return bad_argument (error, "The start level must be between 1 and %d (this model's levels), not %d",
                         config->n_levels, settings->start_level);
  if (settings->n_variants < 1 || settings->n_variants > IB_EDIT_MAX_VARIANTS)
    return bad_argument (error, "The number of variants must be between 1 and %d, not %d", IB_EDIT_MAX_VARIANTS,
                         settings->n_variants);
  if (!isfinite (settings->feather) || settings->feather < 0 || settings->feather > IB_EDIT_MAX_FEATHER)
    return bad_argument (error, "The feather radius must be between 0 and %d pixels", IB_EDIT_MAX_FEATHER);
  if (settings->backend != IB_EDIT_BACKEND_CPU && settings->backend != IB_EDIT_BACKEND_AUTO &&
      settings->backend != IB_EDIT_BACKEND_VULKAN)
    return bad_argument (error, "Unknown backend %d", (int) settings->backend);
  if (!isfinite (settings->guidance) || settings->guidance < 1.0f || settings->guidance > IB_MAX_GUIDANCE)
    return bad_argument (error, "The guidance must be between 1 (none) and %g, not %g", IB_MAX_GUIDANCE,
                         (double) settings->guidance);
  if (settings->guidance != 1.0f && config->conditioning.kind != IB_CONDITIONING_TEXT)
    return bad_argument (error, "Only a text-conditional model can be guided by its prompt; this one is %s",
                         config->conditioning.kind == IB_CONDITIONING_NONE ? "unconditional" : "class-conditional");
  if (memchr (settings->device, '\0', sizeof settings->device) == NULL)
    return bad_argument (error, "The Vulkan device's name is longer than %d bytes", IB_EDIT_MAX_DEVICE - 1);
  for (int t = 1; t <= config->n_levels; t++)
    {
      const IbLevelConfig *level = &config->levels[t - 1];
      float temperature = settings->temperature[t - 1];
      if (!isfinite (temperature) || temperature <= 0.0f || temperature > IB_EDIT_MAX_TEMPERATURE)
        return bad_argument (error, "The temperature of level %d must be above 0 and at most %g, not %g", t,
                             (double) IB_EDIT_MAX_TEMPERATURE, (double) temperature);
      if (settings->top_k[t - 1] < 0 || settings->top_k[t - 1] > level->dec_num_tokens)
        return bad_argument (error, "The top-k of level %d must be between 0 (no cut) and %d, not %d", t,
                             level->dec_num_tokens, settings->top_k[t - 1]);
      if (settings->repeats[t - 1] < 1 || settings->repeats[t - 1] > IB_EDIT_MAX_REPEATS)
        return bad_argument (error, "Level %d must run between 1 and %d times, not %d", t, IB_EDIT_MAX_REPEATS,
                             settings->repeats[t - 1]);
    }
  return TRUE;
}

static gboolean
validate_resume (const IbModelConfig *config,
                 const IbEditRequest *request,
                 GError             **error)
{
  const IbEditSettings *settings = &request->settings;
  int n_tokens = config->token_height * config->token_width;

  if (request->resume_tokens == NULL)
    return TRUE;
  if (request->resume_level < 1 || request->resume_level > settings->start_level)
    return bad_argument (error, "An edit can resume from level 1 to %d (its start level), not %d",
                         settings->start_level, request->resume_level);
  /* n_variants is at most IB_EDIT_MAX_VARIANTS: the product fits an int for any grid the config allows. */
  if (request->n_resume_tokens != n_tokens && request->n_resume_tokens != settings->n_variants * n_tokens)
    return bad_argument (error, "Resuming takes %d tokens (or %d for %d variants), not %d", n_tokens,
                         settings->n_variants * n_tokens, settings->n_variants, request->n_resume_tokens);
  for (int i = 0; i < request->n_resume_tokens; i++)
    if (request->resume_tokens[i] < 0 || request->resume_tokens[i] >= config->n_codes)
      return bad_argument (error, "Token %d to resume from (%d) is not one of this model's %d image tokens", i,
                           request->resume_tokens[i], config->n_codes);
  return TRUE;
}

static gboolean
is_empty_prompt (const IbEditConditioning *conditioning)
{
  for (int i = 0; i < conditioning->n_text_tokens; i++)
    if (conditioning->text_tokens[i] != IB_TOKENIZER_PAD)
      return FALSE;
  return TRUE;
}

/* Every level the edit runs must take the scale token, the conditioning and the grid. */
static gboolean
validate_levels (const IbModelConfig *config,
                 int                  start_level,
                 const int32_t       *conditioning,
                 int                  n_conditioning,
                 GError             **error)
{
  int n_tokens = config->token_height * config->token_width;
  for (int t = 1; t <= start_level; t++)
    {
      const IbLevelConfig *level = &config->levels[t - 1];
      gboolean decoder_only = level->variant == IB_VARIANT_GPT;
      int n_src = 1 + n_conditioning + (decoder_only ? 0 : n_tokens);
      int n_sequence = decoder_only ? n_src + n_tokens - 1 : n_tokens;
      if (n_src > level->enc_max_seq_len || n_sequence > level->dec_max_seq_len)
        {
          g_set_error (error, IB_ERROR, IB_ERROR_INVALID,
                       "Level %d of this model cannot take its %d conditioning tokens and %d image tokens", t,
                       n_conditioning, n_tokens);
          return FALSE;
        }
      if (t >= level->enc_num_tokens)
        {
          g_set_error (error, IB_ERROR, IB_ERROR_INVALID, "Level %d of this model has no scale token %d", t, t);
          return FALSE;
        }
      for (int i = 0; i < n_conditioning; i++)
        if (conditioning[i] >= level->enc_num_tokens)
          {
            g_set_error (error, IB_ERROR, IB_ERROR_INVALID,
                         "Conditioning token %d is outside level %d's vocabulary of %d", conditioning[i], t,
                         level->enc_num_tokens);
            return FALSE;
          }
    }
  return TRUE;
}

IbEditJob *
ib_edit_job_new (IbModelFile         *file,
                 const IbEditRequest *request,
                 GError             **error)
{
  g_return_val_if_fail (file != NULL && request != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  const IbModelConfig *config = ib_model_file_get_config (file);
  if (!validate_images (request, error) || !validate_conditioning (config, &request->conditioning, error) ||
      !validate_settings (config, &request->settings, error) || !validate_resume (config, request, error))
    return NULL;

  g_autoptr (IbEditJob) self = g_object_new (IB_TYPE_EDIT_JOB, NULL);
  self->file = file;
  self->config = config;
  self->width = request->width;
  self->height = request->height;
  self->conditioning = request->conditioning;
  self->settings = request->settings;
  if (request->resume_tokens != NULL)
    {
      self->resume_level = request->resume_level;
      self->n_resume_tokens = request->n_resume_tokens;
      self->resume_tokens = g_memdup2 (request->resume_tokens, (gsize) request->n_resume_tokens * sizeof (int32_t));
    }

  const IbConditioning *model = &config->conditioning;
  if (model->kind == IB_CONDITIONING_CLASS)
    {
      self->n_conditioning = 1;
      self->conditioning_tokens = g_new (int32_t, 1);
      self->conditioning_tokens[0] = model->token_offset + request->conditioning.class_id;
    }
  else if (model->kind == IB_CONDITIONING_TEXT)
    {
      self->n_conditioning = request->conditioning.n_text_tokens;
      self->conditioning_tokens = g_new (int32_t, MAX (self->n_conditioning, 1));
      for (int i = 0; i < self->n_conditioning; i++)
        self->conditioning_tokens[i] = model->token_offset + request->conditioning.text_tokens[i];
      /* Guidance pushes away from the empty prompt; an empty prompt is its own null, so it needs none. */
      if (self->settings.guidance != 1.0f && !is_empty_prompt (&request->conditioning))
        {
          self->null_conditioning = g_new (int32_t, MAX (self->n_conditioning, 1));
          for (int i = 0; i < self->n_conditioning; i++)
            self->null_conditioning[i] = model->token_offset + IB_TOKENIZER_PAD;
        }
    }
  if (!validate_levels (config, self->settings.start_level, self->conditioning_tokens, self->n_conditioning,
                        error))
    return NULL;

  const IbEditImage *owner = request->image_owner;
  gsize image_bytes = (gsize) request->width * 4 * request->height;
  /* The picture by reference where it can be: copying a 2048 x 2048 picture held up the editor's frame. */
  gboolean shared = owner != NULL && owner->pixels == request->image && owner->width == request->width &&
                    owner->height == request->height && owner->stride == request->width * 4 &&
                    request->stride == request->width * 4;
  if (shared)
    self->image = (self->image_owner = ib_edit_image_ref (request->image_owner))->pixels;
  else
    self->image = self->image_copy = g_try_malloc (image_bytes);
  self->mask = g_try_malloc ((gsize) request->width * request->height);
  if (self->image == NULL || self->mask == NULL)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_NO_MEMORY, "Not enough memory for a copy of a %dx%d image",
                   request->width, request->height);
      return NULL;
    }
  for (int y = 0; y < request->height; y++)
    {
      if (!shared)
        memcpy (self->image_copy + (gsize) y * request->width * 4, request->image + (gsize) y * request->stride,
                (gsize) request->width * 4);
      memcpy (self->mask + (gsize) y * request->width, request->mask + (gsize) y * request->mask_stride,
              request->width);
    }
  return g_steal_pointer (&self);
}

const IbEditSettings *
ib_edit_job_get_settings (IbEditJob *job)
{
  g_return_val_if_fail (IB_IS_EDIT_JOB (job), NULL);
  return &job->settings;
}

/* Events */

typedef struct _QueuedEvent QueuedEvent;

typedef struct
{
  IbEditEventFunc func;
  gpointer data;
  GDestroyNotify destroy;
  /* Progress queued and not yet delivered: a newer progress of the same pass updates it rather than queueing
   * another, so that a busy receiver gets the latest count once, not a backlog of stale ones. */
  GMutex lock;
  QueuedEvent *pending_progress;
} Listener;

typedef struct
{
  IbEditJob *job;
  Listener *listener;
  GMainContext *context;        /* NULL: call the listener directly */
  /* What the sampler's progress is about. */
  int level;
  int pass;
  int n_passes;
  int n_unknown;
} Emitter;

struct _QueuedEvent
{
  IbEditJob *job;
  Listener *listener;
  IbEditEvent event;
  GError *error;
  gboolean last;
};

static void
queued_event_free (gpointer data)
{
  QueuedEvent *queued = data;
  if (queued->event.previews != NULL)
    for (int v = 0; v < queued->event.n_variants; v++)
      ib_edit_image_unref (queued->event.previews[v]);
  g_free (queued->event.previews);
  if (queued->event.tokens != NULL)
    for (int v = 0; v < queued->event.n_variants; v++)
      g_free (queued->event.tokens[v]);
  g_free (queued->event.tokens);
  g_clear_pointer (&queued->event.result, ib_edit_result_unref);
  g_clear_error (&queued->error);
  g_object_unref (queued->job);
  g_free (queued);
}

static gboolean
deliver_cb (gpointer data)
{
  QueuedEvent *queued = data;
  Listener *listener = queued->listener;

  /* A copy: the worker may still update a pending progress until it is taken off here. */
  g_mutex_lock (&listener->lock);
  IbEditEvent event = queued->event;
  if (listener->pending_progress == queued)
    listener->pending_progress = NULL;
  g_mutex_unlock (&listener->lock);

  if (listener->func != NULL)
    listener->func (queued->job, &event, listener->data);
  if (queued->last)
    {
      if (listener->destroy != NULL)
        listener->destroy (listener->data);
      g_mutex_clear (&listener->lock);
      g_free (listener);
    }
  return G_SOURCE_REMOVE;
}

/* TRUE when a queued progress of the same level and pass took the new count. */
static gboolean
coalesce_progress (Listener          *listener,
                   const IbEditEvent *event)
{
  gboolean taken = FALSE;

  g_mutex_lock (&listener->lock);
  QueuedEvent *pending = listener->pending_progress;
  if (pending != NULL && pending->event.level == event->level && pending->event.pass == event->pass)
    {
      pending->event.n_done = event->n_done;
      pending->event.n_total = event->n_total;
      taken = TRUE;
    }
  g_mutex_unlock (&listener->lock);
  return taken;
}

/* Sends an event (borrowed) to the listener: now, or queued to the caller's context in order. */
static void
emit (Emitter           *emitter,
      const IbEditEvent *event,
      gboolean           last)
{
  if (emitter->context == NULL)
    {
      if (emitter->listener->func != NULL)
        emitter->listener->func (emitter->job, event, emitter->listener->data);
      return;
    }
  if (event->kind == IB_EDIT_EVENT_PROGRESS && coalesce_progress (emitter->listener, event))
    return;

  QueuedEvent *queued = g_new0 (QueuedEvent, 1);
  queued->job = g_object_ref (emitter->job);
  queued->listener = emitter->listener;
  queued->event = *event;
  queued->last = last;
  if (event->previews != NULL)
    {
      queued->event.previews = g_new (IbEditImage *, event->n_variants);
      for (int v = 0; v < event->n_variants; v++)
        queued->event.previews[v] = ib_edit_image_ref (event->previews[v]);
    }
  if (event->tokens != NULL)
    {
      queued->event.tokens = g_new (int32_t *, event->n_variants);
      for (int v = 0; v < event->n_variants; v++)
        queued->event.tokens[v] = g_memdup2 (event->tokens[v], event->n_tokens * sizeof (int32_t));
    }
  if (event->result != NULL)
    queued->event.result = ib_edit_result_ref (event->result);
  if (event->error != NULL)
    queued->event.error = queued->error = g_error_copy (event->error);

  /* An idle source, not g_main_context_invoke: that could run the listener here, in the worker. Sources of
   * one priority are dispatched in the order they were attached. */
  g_mutex_lock (&emitter->listener->lock);
  emitter->listener->pending_progress = event->kind == IB_EDIT_EVENT_PROGRESS ? queued : NULL;
  g_mutex_unlock (&emitter->listener->lock);
  GSource *source = g_idle_source_new ();
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, deliver_cb, queued, queued_event_free);
  g_source_set_static_name (source, "[imagebart] edit event");
  g_source_attach (source, emitter->context);
  g_source_unref (source);
}

static void
progress_cb (int      n_done,
             int      n_total,
             gpointer user_data)
{
  Emitter *emitter = user_data;
  IbEditEvent event = {
    .kind = IB_EDIT_EVENT_PROGRESS,
    .level = emitter->level,
    .start_level = emitter->job->settings.start_level,
    .variant = -1,
    .n_variants = emitter->job->settings.n_variants,
    .pass = emitter->pass,
    .n_passes = emitter->n_passes,
    .n_done = n_done,
    .n_total = n_total,
  };
  emit (emitter, &event, FALSE);
}

/* The run */

typedef struct
{
  IbEditWindow window;
  int native;
  int n_tokens;
  float *original;              /* the window at native resolution, HWC */
  gboolean *unknown;
  int n_unknown;
  float *alpha;                 /* over the mask box */
  IbEditEngine *engine;
} Work;

static void
work_clear (Work *work)
{
  g_clear_pointer (&work->original, g_free);
  g_clear_pointer (&work->unknown, g_free);
  g_clear_pointer (&work->alpha, g_free);
  g_clear_pointer (&work->engine, ib_edit_engine_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Work, work_clear)

/* tokens -> the mask box of the result, composited. */
static IbEditImage *
decode_and_composite (IbEditJob    *job,
                      Work         *work,
                      const int32_t *tokens,
                      GCancellable *cancellable,
                      GError      **error)
{
  int native = work->native;
  gsize plane = (gsize) native * native;
  g_autofree float *chw = g_new (float, 3 * plane);
  g_autofree float *hwc = g_new (float, 3 * plane);
  const IbBox *box = &work->window.mask_box;

  if (!ib_edit_engine_decode (work->engine, tokens, chw, cancellable, error))
    return NULL;
  for (gsize i = 0; i < plane; i++)
    for (int c = 0; c < 3; c++)
      hwc[i * 3 + c] = chw[c * plane + i];
  if (job->settings.match_colours)
    ib_edit_match_colours (work->original, hwc, native, work->unknown, job->config->token_width,
                           job->config->token_height, COLOUR_RING_TOKENS);

  IbEditImage *patch = ib_edit_image_new (box->x, box->y, box->width, box->height);
  ib_edit_composite (&work->window, hwc, work->alpha, job->image, job->width, job->height, job->width * 4,
                     patch->pixels, patch->stride);
  return patch;
}

static IbEditImage *
whole_image (IbEditJob   *job,
             IbEditImage *patch)
{
  IbEditImage *image = ib_edit_image_new (0, 0, job->width, job->height);
  memcpy (image->pixels, job->image, (gsize) image->stride * job->height);
  if (patch != NULL)
    for (int y = 0; y < patch->height; y++)
      memcpy (image->pixels + (gsize) (patch->y + y) * image->stride + (gsize) patch->x * 4,
              patch->pixels + (gsize) y * patch->stride, (gsize) patch->width * 4);
  return image;
}

/* The recipe's "resume": {"level": t, "tokens": [...]}: without the tokens the result cannot be made again.
 * Added here rather than by ib_edit_recipe_build, whose readers ignore members they do not know. */
static char *
add_resume_to_recipe (IbEditJob *job,
                      char      *recipe)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autofree char *built = recipe;

  /* The builder's own output: it always parses. */
  if (!json_parser_load_from_data (parser, built, -1, NULL))
    g_assert_not_reached ();
  JsonObject *root = json_node_get_object (json_parser_get_root (parser));
  JsonObject *resume = json_object_new ();
  JsonArray *tokens = json_array_sized_new (job->n_resume_tokens);
  for (int i = 0; i < job->n_resume_tokens; i++)
    json_array_add_int_element (tokens, job->resume_tokens[i]);
  json_object_set_int_member (resume, "level", job->resume_level);
  json_object_set_array_member (resume, "tokens", tokens);
  json_object_set_object_member (root, "resume", resume);
  return json_to_string (json_parser_get_root (parser), FALSE);
}

/* The recipe of a run on backend (what AUTO resolved to: the engine that ran). */
static char *
make_recipe (IbEditJob     *job,
             IbEditBackend  backend)
{
  IbEditSettings settings = job->settings;
  settings.backend = backend;
  IbEditRecipeHashes hashes = {
    .model_sha256 = (char *) ib_model_file_get_sha256 (job->file),
    .image_sha256 = ib_edit_hash_pixels (job->image, job->width, job->height, job->width * 4, 4),
    .mask_sha256 = ib_edit_hash_pixels (job->mask, job->width, job->height, job->width, 1),
    .width = job->width,
    .height = job->height,
  };
  char *recipe = ib_edit_recipe_build (job->config, &hashes, &job->conditioning, &settings);
  g_free (hashes.image_sha256);
  g_free (hashes.mask_sha256);
  return job->resume_tokens != NULL ? add_resume_to_recipe (job, recipe) : recipe;
}

static gboolean
prepare (IbEditJob    *job,
         Work         *work,
         int32_t      *x0,
         GCancellable *cancellable,
         GError      **error)
{
  const IbModelConfig *config = job->config;
  int native = config->resolution;
  gsize plane = (gsize) native * native;

  work->native = native;
  work->n_tokens = config->token_height * config->token_width;
  ib_edit_window_choose (job->width, job->height, &work->window.mask_box, native, &work->window);
  work->original = g_new (float, 3 * plane);
  ib_edit_window_extract (&work->window, job->image, job->width, job->height, job->width * 4, work->original);
  work->unknown = g_new (gboolean, work->n_tokens);
  work->n_unknown = ib_edit_window_token_mask (&work->window, job->mask, job->width, job->height, job->width,
                                               config->token_width, config->token_height, work->unknown);
  work->alpha = ib_edit_feather (job->mask, job->width, job->height, job->width, &work->window.mask_box,
                                 job->settings.feather);

  IbVkDeviceOptions options = { .selector = job->settings.device };
  work->engine = ib_edit_engine_new (job->file, job->settings.backend, &options, error);
  if (work->engine == NULL)
    return FALSE;

  g_autofree float *chw = g_new (float, 3 * plane);
  for (gsize i = 0; i < plane; i++)
    for (int c = 0; c < 3; c++)
      chw[c * plane + i] = work->original[i * 3 + c];
  return ib_edit_engine_encode (work->engine, chw, x0, cancellable, error);
}

/* x_t from the tokens to resume from, whose known tokens must be the window's: else they are of another
 * picture or mask (or a model with another tokenizer). */
static gboolean
resume_tokens (IbEditJob     *job,
               Work          *work,
               const int32_t *x0,
               int32_t       *x_t,
               GError       **error)
{
  int n_tokens = work->n_tokens;
  for (int v = 0; v < job->settings.n_variants; v++)
    {
      const int32_t *from = job->resume_tokens + (job->n_resume_tokens == n_tokens ? 0 : (gsize) v * n_tokens);
      for (int i = 0; i < n_tokens; i++)
        if (!work->unknown[i] && from[i] != x0[i])
          return bad_argument (error, "The tokens to resume from belong to another picture, mask or model; "
                               "generate again from the start");
      memcpy (x_t + (gsize) v * n_tokens, from, n_tokens * sizeof (int32_t));
    }
  return TRUE;
}

static IbEditResult *
run (IbEditJob    *job,
     Emitter      *emitter,
     GCancellable *cancellable,
     GError      **error)
{
  const IbModelConfig *config = job->config;
  const IbEditSettings *settings = &job->settings;
  int n_variants = settings->n_variants, n_tokens = config->token_height * config->token_width;
  g_autoptr (IbEditResult) result = result_new (n_variants);
  g_auto (Work) work = { 0 };

  result->n_tokens = n_tokens;
  work.window.mask_box = ib_mask_bounding_box (job->mask, job->width, job->height, job->width);
  result->window.mask_box = work.window.mask_box;
  if (work.window.mask_box.width == 0)
    {
      /* Nothing to re-synthesize: the input, at once, and no engine started (the recipe says cpu for auto). */
      result->recipe = make_recipe (job, settings->backend == IB_EDIT_BACKEND_VULKAN ? IB_EDIT_BACKEND_VULKAN
                                                                                   : IB_EDIT_BACKEND_CPU);
      g_autoptr (IbEditImage) input = whole_image (job, NULL);
      for (int v = 0; v < n_variants; v++)
        result->images[v] = ib_edit_image_ref (input);
      return g_steal_pointer (&result);
    }

  g_autofree int32_t *x0 = g_new (int32_t, n_tokens);
  g_autofree gboolean *known = g_new (gboolean, n_tokens);
  g_autofree int32_t *x_t = g_new (int32_t, (gsize) n_variants * n_tokens);
  g_autofree int32_t *x_prev = g_new (int32_t, (gsize) n_variants * n_tokens);
  /* Each variant's newest decoded level; released on every way out, failures and cancellation included. */
  g_autoptr (GPtrArray) patch_array = g_ptr_array_new_full (n_variants, (GDestroyNotify) ib_edit_image_unref);
  g_ptr_array_set_size (patch_array, n_variants);
  IbEditImage **patches = (IbEditImage **) patch_array->pdata;
  g_autofree int32_t **level_tokens = g_new (int32_t *, n_variants);

  if (g_cancellable_set_error_if_cancelled (cancellable, error) || !prepare (job, &work, x0, cancellable, error))
    return NULL;
  result->recipe = make_recipe (job, ib_edit_engine_get_backend (work.engine));
  result->window = work.window;
  result->n_unknown = work.n_unknown;
  emitter->n_unknown = work.n_unknown;
  for (int i = 0; i < n_tokens; i++)
    known[i] = !work.unknown[i];
  result->encoded = g_memdup2 (x0, n_tokens * sizeof (int32_t));
  result->unknown = g_memdup2 (work.unknown, n_tokens * sizeof (gboolean));
  if (job->resume_tokens != NULL)
    {
      if (!resume_tokens (job, &work, x0, x_t, error))
        return NULL;
    }
  else
    for (int v = 0; v < n_variants; v++)
      ib_edit_noise_to_level (config, settings->start_level, x0, work.unknown, n_tokens, settings->seed, v,
                              x_t + (gsize) v * n_tokens);

  gboolean ok = TRUE;
  int top_level = job->resume_tokens != NULL ? job->resume_level : settings->start_level;
  for (int t = top_level; t >= 1 && ok; t--)
    {
      int n_passes = settings->repeats[t - 1];
      IbLevelSampling sampling = {
        .top_k = settings->top_k[t - 1], .temperature = settings->temperature[t - 1],
        .guidance = settings->guidance, .null_conditioning = job->null_conditioning,
      };
      IbEditEvent started = {
        .kind = IB_EDIT_EVENT_LEVEL_STARTED, .level = t, .start_level = settings->start_level,
        .n_variants = n_variants, .n_passes = n_passes, .n_total = work.n_unknown,
      };
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return NULL;
      emit (emitter, &started, FALSE);

      emitter->level = t;
      emitter->n_passes = n_passes;
      /* The variants run in lockstep: one decoding step per position for all of them. */
      for (int pass = 0; pass < n_passes; pass++)
        {
          IbRngStream streams[IB_EDIT_MAX_VARIANTS];
          for (int v = 0; v < n_variants; v++)
            {
              streams[v] = ib_edit_level_stream (settings->seed, t, pass, v);
              if (pass > 0)
                ib_edit_renoise (config, t, pass - 1, n_passes, x_prev + (gsize) v * n_tokens, work.unknown,
                                 n_tokens, settings->seed, v, x_t + (gsize) v * n_tokens);
            }
          emitter->pass = pass;
          if (!ib_edit_engine_sample_level (work.engine, t, job->conditioning_tokens, job->n_conditioning, x_t,
                                            n_variants, n_tokens, &sampling, streams, known, x0, x_prev, progress_cb,
                                            emitter, cancellable, error))
            return NULL;
        }
      memcpy (x_t, x_prev, (gsize) n_variants * n_tokens * sizeof (int32_t));

      IbEditEvent finished = {
        .kind = IB_EDIT_EVENT_LEVEL_FINISHED, .level = t, .start_level = settings->start_level,
        .n_variants = n_variants, .n_passes = n_passes, .n_total = work.n_unknown, .n_tokens = n_tokens,
        .tokens = level_tokens,
      };
      for (int v = 0; v < n_variants; v++)
        level_tokens[v] = x_t + (gsize) v * n_tokens;
      if (settings->level_previews || t == 1)
        {
          for (int v = 0; v < n_variants && ok; v++)
            {
              g_clear_pointer (&patches[v], ib_edit_image_unref);
              ok = !g_cancellable_set_error_if_cancelled (cancellable, error) &&
                   (patches[v] = decode_and_composite (job, &work, x_t + (gsize) v * n_tokens, cancellable, error)) != NULL;
            }
          finished.previews = patches;
        }
      if (ok)
        emit (emitter, &finished, FALSE);
    }

  if (ok)
    {
      result->tokens = g_new0 (int32_t *, n_variants);
      for (int v = 0; v < n_variants; v++)
        {
          result->images[v] = whole_image (job, patches[v]);
          result->tokens[v] = g_memdup2 (x_t + (gsize) v * n_tokens, n_tokens * sizeof (int32_t));
        }
    }
  return ok ? g_steal_pointer (&result) : NULL;
}

/* run() and then the last event: done, failed or cancelled. */
static IbEditResult *
run_and_report (IbEditJob    *job,
                Emitter      *emitter,
                GCancellable *cancellable,
                GError      **error)
{
  g_autoptr (GError) local = NULL;
  IbEditResult *result = run (job, emitter, cancellable, &local);
  IbEditEvent last = { .start_level = job->settings.start_level, .n_variants = job->settings.n_variants };

  ib_work_trim ();                      /* the levels' kept work buffers go back to the system */

  if (result != NULL)
    {
      last.kind = IB_EDIT_EVENT_DONE;
      last.result = result;
    }
  else if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    last.kind = IB_EDIT_EVENT_CANCELLED;
  else
    {
      last.kind = IB_EDIT_EVENT_FAILED;
      last.error = local;
    }
  emit (emitter, &last, TRUE);
  if (local != NULL)
    g_propagate_error (error, g_steal_pointer (&local));
  return result;
}

IbEditResult *
ib_edit_job_run (IbEditJob       *job,
                 IbEditEventFunc  event_func,
                 gpointer         user_data,
                 GCancellable    *cancellable,
                 GError         **error)
{
  g_return_val_if_fail (IB_IS_EDIT_JOB (job), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  Listener listener = { event_func, user_data, NULL, { 0 }, NULL };
  Emitter emitter = { .job = job, .listener = &listener, .context = NULL };
  return run_and_report (job, &emitter, cancellable, error);
}

static void
run_in_thread_cb (GTask        *task,
                  gpointer      source_object,
                  gpointer      task_data,
                  GCancellable *cancellable)
{
  IbEditJob *job = source_object;
  Emitter emitter = { .job = job, .listener = task_data, .context = g_task_get_context (task) };
  GError *error = NULL;

  /* The listener belongs to the queued events from here on: the last one frees it. */
  IbEditResult *result = run_and_report (job, &emitter, cancellable, &error);
  if (result != NULL)
    g_task_return_pointer (task, result, (GDestroyNotify) ib_edit_result_unref);
  else
    g_task_return_error (task, error);
}

void
ib_edit_job_run_async (IbEditJob           *job,
                       IbEditEventFunc      event_func,
                       gpointer             user_data,
                       GDestroyNotify       user_data_destroy,
                       GCancellable        *cancellable,
                       GAsyncReadyCallback  callback,
                       gpointer             callback_data)
{
  g_return_if_fail (IB_IS_EDIT_JOB (job));

  Listener *listener = g_new0 (Listener, 1);
  *listener = (Listener) { event_func, user_data, user_data_destroy, { 0 }, NULL };
  g_mutex_init (&listener->lock);
  g_autoptr (GTask) task = g_task_new (job, cancellable, callback, callback_data);
  g_task_set_source_tag (task, ib_edit_job_run_async);
  g_task_set_name (task, "[imagebart] edit job");
  g_task_set_task_data (task, listener, NULL);
  g_task_run_in_thread (task, run_in_thread_cb);
}

IbEditResult *
ib_edit_job_run_finish (IbEditJob    *job,
                        GAsyncResult *result,
                        GError      **error)
{
  g_return_val_if_fail (IB_IS_EDIT_JOB (job), NULL);
  g_return_val_if_fail (g_task_is_valid (result, job), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}
