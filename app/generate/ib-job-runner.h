/* ib-job-runner.h: runs edit jobs (model/ib-edit-job.h) for the UI, one at a time, on one long-lived worker
 * thread, and reports them as signals on the thread that created the runner. The worker, and the threads its
 * jobs start, run at a lower priority than the UI (10 nicer on Linux; IMAGEBART_JOB_NICE sets how much).
 *
 * Starting a job replaces the one running: the old one is cancelled and none of its events is emitted any
 * more (no "cancelled" for it either). ib_job_runner_cancel emits "cancelled" at once; the worker stops within
 * one decoding step. Progress is throttled to about 15 updates a second, the last of each pass always sent.
 * Every signal is emitted on the runner's thread.
 *
 * Signals, in order for a job:
 *   "started" (int start_level, int top_level): a job was accepted; top_level is the first level it runs
 *      (the start level, or the level a resumed job starts from: the levels above it are kept).
 *   "level-started" (int level, int n_passes)
 *   "progress" (int level, int n_done, int n_total): tokens drawn in this level over all its passes.
 *   "level-finished" (int level, GPtrArray *previews): IbEditImage per variant, the mask's box of x_{level-1}
 *      decoded and composited (borrowed; ib_edit_image_ref to keep one). Empty when previews are off.
 *   "done" (IbEditResult *result), "failed" (GError *error) or "cancelled".
 * Property "running": a job was started and has not ended (done, failed or cancelled) yet. */
#pragma once

#include <gdk/gdk.h>
#include <glib-object.h>

#include "ib-edit-job.h"

G_BEGIN_DECLS

#define IB_TYPE_EDIT_RESULT (ib_edit_result_get_type ())
GType ib_edit_result_get_type (void) G_GNUC_CONST;

#define IB_TYPE_EDIT_IMAGE (ib_edit_image_get_type ())
GType ib_edit_image_get_type (void) G_GNUC_CONST;

#define IB_TYPE_JOB_RUNNER (ib_job_runner_get_type ())
G_DECLARE_FINAL_TYPE (IbJobRunner, ib_job_runner, IB, JOB_RUNNER, GObject)

IbJobRunner *ib_job_runner_new          (void);

/* Validates the request (ib_edit_job_new's errors) and starts it, replacing any job running. The model file
 * must stay open until the runner has let go of it: see ib_job_runner_stop. */
gboolean     ib_job_runner_start        (IbJobRunner         *self,
                                         IbModelFile         *file,
                                         const IbEditRequest *request,
                                         GError             **error);

/* Cancels the running job, if any: emits "cancelled" now and nothing more for that job. */
void         ib_job_runner_cancel       (IbJobRunner         *self);

/* Cancels and waits (within a decoding step) until the worker holds no job, e.g. before closing the model
 * file. Disposing the runner does this too. */
void         ib_job_runner_stop         (IbJobRunner         *self);

/* Calls destroy (data) on the worker, after the runs queued before it (at once if there is no worker yet;
 * disposing the runner waits for it). For a job's result, whose last reference frees the variants' pictures:
 * the worker allocated them, and glibc then unmaps its emptied heaps, 5 ms of the UI thread at the Generate
 * that starts the next job (docs/performance.md, the editor's paint benchmark). */
void         ib_job_runner_release      (IbJobRunner         *self,
                                         gpointer             data,
                                         GDestroyNotify       destroy);

gboolean     ib_job_runner_get_running  (IbJobRunner         *self);

/* Thumbnails of the previews, made by the worker (ib-texture-pyramid.h: at least this many pixels across, twice
 * the variant gallery's 96 so that they are sharp on a scale-2 display). */
#define IB_JOB_RUNNER_THUMBNAIL_SIDE 192

/* During the emission of "level-finished": a GdkTexture per preview (borrowed), its thumbnail; else NULL. */
GPtrArray   *ib_job_runner_get_thumbnails (IbJobRunner       *self);

/* The pyramid level (ib-texture-pyramid.h) the canvas draws previews at, which the worker then makes for each
 * preview (ib_texture_level_surface_for_rgba); -1 (at first): none. Follows the canvas's zoom, also while a
 * job runs: a level finished in between is made at the level asked for when it finished. */
void         ib_job_runner_set_canvas_level (IbJobRunner     *self,
                                             int              level);
/* The variant the canvas shows (0 at first): the worker makes only its preview at the canvas's level. */
void         ib_job_runner_set_canvas_variant (IbJobRunner   *self,
                                               int            variant);
/* During the emission of "level-finished": that variant's preview at *level (borrowed), or NULL (none asked
 * for, or not the canvas's variant). */
cairo_surface_t *ib_job_runner_get_canvas_surface (IbJobRunner *self,
                                                   guint        variant,
                                                   guint       *level);

/* "Resample from here": sets up request (filled by the panel for the same picture, mask and model) to run
 * again from level (1 .. the last job's start level) with the tokens that variant of the last job had there,
 * keeping the coarser levels. At the start level there is nothing to keep and no tokens are set; the start
 * level becomes the last job's. The tokens are borrowed until the next ib_job_runner_start, which copies them.
 * FALSE with an error when that level has not finished in the last job. */
gboolean     ib_job_runner_fill_resume  (IbJobRunner         *self,
                                         int                  level,
                                         int                  variant,
                                         IbEditRequest       *request,
                                         GError             **error);

G_END_DECLS
