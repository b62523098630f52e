/* ib-edit-job.h: an edit of a picture under a mask, run on a worker thread.
 *
 * A job takes an RGBA image of any size, an 8-bit mask of the same size (0 = keep, anything else =
 * re-synthesize, 255 fully), the conditioning and the settings, all validated and copied by
 * ib_edit_job_new. Running it picks the work window (ib-edit-window.h), encodes it, noises the unknown tokens
 * to the start level and runs the levels down to 1 with the known tokens forced (ib-edit-chain.h), then
 * decodes and composites (ib-edit-composite.h). Outside the mask the result is the input, bit for bit.
 *
 * Events report each level as it starts and finishes (with the previews of every variant already composited),
 * the progress through the masked tokens, and the end: done, failed or cancelled. A cancelled run stops
 * within one decoding step and leaves nothing behind; the job itself never changes and may be run again.
 * Same job, same backend: same pixels. */
#pragma once

#include <gio/gio.h>
#include <glib-object.h>
#include <stdint.h>

#include "ib-config.h"
#include "ib-edit-window.h"
#include "ib-model-file.h"

G_BEGIN_DECLS

#define IB_EDIT_MAX_VARIANTS 16
#define IB_EDIT_MAX_FEATHER 1024
#define IB_EDIT_MAX_TEMPERATURE 100.0f
#define IB_EDIT_MAX_TEXT_TOKENS 1024
#define IB_EDIT_MAX_SIDE 32768               /* pixels per side of the image */
#define IB_EDIT_MAX_PIXELS ((gint64) 1 << 28)
#define IB_EDIT_MAX_DEVICE 64                /* bytes of a device selector, with its NUL */

typedef enum
{
  IB_EDIT_BACKEND_AUTO,
  IB_EDIT_BACKEND_CPU,
  IB_EDIT_BACKEND_VULKAN,
} IbEditBackend;

typedef struct
{
  guint64 seed;
  int start_level;                          /* 1..T: the strength; T re-synthesizes from pure noise */
  int n_variants;                           /* 1..IB_EDIT_MAX_VARIANTS results from seeds' variant streams */
  double feather;                           /* blend ramp inside the mask's edge, pixels */
  gboolean match_colours;                   /* match the decoded colours to the original around the edit */
  gboolean level_previews;                  /* decode every level for LEVEL_FINISHED (else only the last) */
  IbEditBackend backend;                    /* AUTO: Vulkan on a real GPU, else the CPU engine */
  char device[IB_EDIT_MAX_DEVICE];          /* the Vulkan device: "" the best, else as IbVkDeviceOptions.selector */
  float temperature[IB_MAX_LEVELS];         /* [t - 1], > 0 */
  int top_k[IB_MAX_LEVELS];                 /* [t - 1], 0 = no cut */
  int repeats[IB_MAX_LEVELS];               /* [t - 1], the chain schedule: passes of level t, >= 1 */
  float guidance;                           /* text models: classifier-free guidance, 1 (none) .. IB_MAX_GUIDANCE */
} IbEditSettings;

typedef struct
{
  IbConditioningKind kind;                  /* must be what the model takes */
  int class_id;                             /* class: 0 .. n_labels - 1 */
  int n_text_tokens;                        /* text: exactly the model's text length */
  int32_t text_tokens[IB_EDIT_MAX_TEXT_TOKENS]; /* vocabulary indices */
} IbEditConditioning;

/* RGBA pixels, a region of the user's image at (x, y). Immutable once handed out; reference counted. */
typedef struct
{
  int x;
  int y;
  int width;
  int height;
  int stride;
  guint8 *pixels;
  /*< private >*/
  gatomicrefcount ref_count;
} IbEditImage;

IbEditImage *ib_edit_image_new      (int                  x,
                                     int                  y,
                                     int                  width,
                                     int                  height);
IbEditImage *ib_edit_image_ref      (IbEditImage         *image);
void      ib_edit_image_unref       (IbEditImage         *image);

typedef struct
{
  const guint8 *image;                      /* RGBA, 8 bits per channel */
  int width;
  int height;
  int stride;                               /* bytes between rows */
  /* Optional: the image that holds those pixels (image == image_owner->pixels, same size). It never changes, so
   * a job keeps a reference instead of a copy when its rows are tight (stride 4 * width). */
  IbEditImage *image_owner;
  const guint8 *mask;
  int mask_width;
  int mask_height;
  int mask_stride;
  IbEditConditioning conditioning;
  IbEditSettings settings;
  /* Optional, "resample from here": when resume_tokens is not NULL the chain starts at level resume_level
   * (1 .. start_level) from these tokens instead of noising the encoded window to start_level, and runs the
   * levels resume_level .. 1 only (a new seed redraws just those). They are x_t of an earlier run on the same
   * model, picture and mask: the tokens of that run's LEVEL_FINISHED event of level t + 1. n_resume_tokens is
   * the window's number of tokens (one x_t for every variant) or n_variants times it (one per variant, variant
   * after variant). Copied by ib_edit_job_new; a run fails (IB_ERROR_ARGUMENT) when their known tokens are not
   * the window's. The recipe records the level and the tokens. */
  const int32_t *resume_tokens;
  int n_resume_tokens;
  int resume_level;
} IbEditRequest;

/* Defaults for the model: start at T, one variant, seed 0, feather 4 px, colour matching, level previews,
 * each level's own temperature and top-k, one pass per level, the model's guidance, no conditioning (class 0 or no text for
 * conditional models, which must be set). Images to be set. */
void      ib_edit_request_init      (IbEditRequest       *request,
                                     const IbModelConfig *config);


typedef struct
{
  int n_variants;
  IbEditImage **images;                     /* the whole picture per variant */
  char *recipe;                             /* JSON (ib-edit-recipe.h) */
  IbEditWindow window;                      /* window.mask_box.width == 0: the mask was empty */
  int n_tokens;
  int n_unknown;                            /* re-synthesized tokens */
  int32_t **tokens;                         /* the final x_0 per variant (NULL for an empty mask) */
  int32_t *encoded;                         /* the window's tokens, the known ones (NULL for an empty mask) */
  gboolean *unknown;                        /* which tokens were re-synthesized (NULL for an empty mask) */
  /*< private >*/
  gatomicrefcount ref_count;
} IbEditResult;

IbEditResult *ib_edit_result_ref    (IbEditResult        *result);
void      ib_edit_result_unref      (IbEditResult        *result);

typedef enum
{
  IB_EDIT_EVENT_LEVEL_STARTED,              /* level, n_passes */
  IB_EDIT_EVENT_PROGRESS,                   /* level, pass, n_done of n_total masked tokens (all variants) */
  IB_EDIT_EVENT_LEVEL_FINISHED,             /* level, previews */
  IB_EDIT_EVENT_DONE,                       /* result */
  IB_EDIT_EVENT_FAILED,                     /* error */
  IB_EDIT_EVENT_CANCELLED,
} IbEditEventKind;

typedef struct
{
  IbEditEventKind kind;
  int level;                                /* t: the level turning x_t into x_{t-1} */
  int start_level;
  int variant;                              /* -1: the variants run in lockstep, progress is for all */
  int n_variants;
  int pass;                                 /* PROGRESS: 0-based chain repeat */
  int n_passes;                             /* passes of this level */
  int n_done;                               /* PROGRESS: tokens drawn in this pass, for every variant */
  int n_total;                              /* PROGRESS: masked tokens of the window */
  /* LEVEL_FINISHED: per variant, x_{t-1} decoded and composited: the mask's bounding box of the result
   * (outside it the result is the input). NULL when level previews are off, except at level 1. */
  IbEditImage **previews;
  int n_tokens;                             /* LEVEL_FINISHED: x_{t-1} per variant, n_tokens each */
  int32_t **tokens;
  IbEditResult *result;                     /* DONE */
  const GError *error;                      /* FAILED */
} IbEditEvent;

#define IB_TYPE_EDIT_JOB (ib_edit_job_get_type ())
G_DECLARE_FINAL_TYPE (IbEditJob, ib_edit_job, IB, EDIT_JOB, GObject)

/* Events are borrowed for the call: take references to keep previews or the result. */
typedef void (*IbEditEventFunc) (IbEditJob         *job,
                                 const IbEditEvent *event,
                                 gpointer           user_data);

/* Validates everything (sizes, the mask against the image, conditioning against the model, every
 * setting) and copies the pixels. The model file must outlive every run of the job. */
IbEditJob    *ib_edit_job_new        (IbModelFile         *file,
                                      const IbEditRequest *request,
                                      GError             **error);

/* The settings as asked; backend AUTO is resolved by each run (its recipe names the engine that ran). */
const IbEditSettings *ib_edit_job_get_settings (IbEditJob *job);

/* Runs in the calling thread, events delivered from it. NULL with G_IO_ERROR_CANCELLED when cancelled. */
IbEditResult *ib_edit_job_run        (IbEditJob           *job,
                                      IbEditEventFunc      event_func,
                                      gpointer             user_data,
                                      GCancellable        *cancellable,
                                      GError             **error);

/* Runs on a worker thread; events are delivered in order in the thread-default main context of the caller,
 * the last of them (done, failed or cancelled) before callback. user_data_destroy runs after that last
 * event. Progress is coalesced: while one progress event of a pass waits for delivery, newer counts update
 * it, so a busy receiver sees increasing counts ending at the pass's total, not every token. */
void          ib_edit_job_run_async  (IbEditJob           *job,
                                      IbEditEventFunc      event_func,
                                      gpointer             user_data,
                                      GDestroyNotify       user_data_destroy,
                                      GCancellable        *cancellable,
                                      GAsyncReadyCallback  callback,
                                      gpointer             callback_data);
IbEditResult *ib_edit_job_run_finish (IbEditJob           *job,
                                      GAsyncResult        *result,
                                      GError             **error);

/* SHA-256 (lowercase hex) of "rgba8 WxH\n" or "gray8 WxH\n" and the rows without padding. */
char         *ib_edit_hash_pixels    (const guint8        *pixels,
                                      int                  width,
                                      int                  height,
                                      int                  stride,
                                      int                  bytes_per_pixel);

const char   *ib_edit_backend_name   (IbEditBackend        backend);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (IbEditImage, ib_edit_image_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (IbEditResult, ib_edit_result_unref)

G_END_DECLS
