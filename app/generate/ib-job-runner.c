/* ib-job-runner.c: edit jobs on one worker thread, their events as signals on the UI thread (see
 * ib-job-runner.h).
 *
 * The worker runs ib_edit_job_run itself rather than ib_edit_job_run_async: the runner must be able to wait
 * for it to let go of the model file (ib_job_runner_stop, dispose), and progress is throttled where it is
 * made, so that a fast level does not flood the UI's main context with events that would be dropped. */
#include "ib-job-runner.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "ib-generate-error.h"
#include "ib-texture-pyramid.h"

/* At most about 15 progress updates a second. */
#define PROGRESS_INTERVAL_US (G_USEC_PER_SEC / 15)

/* How much nicer than the UI the worker runs (IMAGEBART_JOB_NICE overrides it; 0 keeps the UI's priority). */
#define JOB_NICE_DELTA 10

G_DEFINE_BOXED_TYPE (IbEditResult, ib_edit_result, ib_edit_result_ref, ib_edit_result_unref)
G_DEFINE_BOXED_TYPE (IbEditImage, ib_edit_image, ib_edit_image_ref, ib_edit_image_unref)

/* One job's run, shared by the runner (UI thread) and the worker. */
typedef struct
{
  gatomicrefcount ref_count;
  IbEditJob *job;
  GCancellable *cancellable;
  GMainContext *context;        /* where its events go */
  IbJobRunner *runner;          /* UI thread only; NULL once the run is stale */
  gint64 last_progress_us;      /* worker only */
  gint canvas_level;            /* atomic: the pyramid level to make previews at for the canvas, or -1 */
  gint canvas_variant;          /* atomic: the variant the canvas shows, the only one made at that level */
} Run;

static Run *
run_ref (Run *run)
{
  g_atomic_ref_count_inc (&run->ref_count);
  return run;
}

static void
run_unref (Run *run)
{
  if (!g_atomic_ref_count_dec (&run->ref_count))
    return;
  g_object_unref (run->job);
  g_object_unref (run->cancellable);
  g_main_context_unref (run->context);
  g_free (run);
}

/* x_t of every variant of the last job, variant after variant: what "resample from here" starts from. */
typedef struct
{
  int n_variants;
  int32_t *tokens;
} LevelTokens;

/* What the worker is given, in order: a run, or something to free. */
typedef struct
{
  Run *run;                     /* or NULL */
  gpointer garbage;             /* without a run: freed by destroy */
  GDestroyNotify destroy;
} Task;

/* The worker thread and what it shares with the runner; outlives nothing but the thread. */
typedef struct
{
  GThread *thread;
  GAsyncQueue *queue;           /* Task *, or &quit */
  GMutex lock;
  GCond idle;
  int pending;                  /* runs queued or running, under lock */
} Worker;

static char quit;

struct _IbJobRunner
{
  GObject parent_instance;

  GThread *owner;               /* the UI thread */
  Worker *worker;
  Run *current;                 /* NULL when not running */

  int start_level;              /* of the last job, 0 before the first */
  int n_tokens;
  LevelTokens levels[IB_MAX_LEVELS + 1]; /* [t]: x_t */
  int resume_variant;           /* set by fill_resume for the next start, else -1 */
  GPtrArray *thumbnails;        /* GdkTexture per preview, during a level-finished emission */
  int canvas_level;             /* see ib_job_runner_set_canvas_level; -1: none */
  int canvas_variant;           /* see ib_job_runner_set_canvas_variant */
  GPtrArray *canvas_surfaces;   /* cairo_surface_t per preview, during a level-finished emission, or NULL */
  int canvas_surfaces_level;
};

G_DEFINE_FINAL_TYPE (IbJobRunner, ib_job_runner, G_TYPE_OBJECT)

enum
{
  PROP_0,
  PROP_RUNNING,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

enum
{
  SIGNAL_STARTED,
  SIGNAL_LEVEL_STARTED,
  SIGNAL_PROGRESS,
  SIGNAL_LEVEL_FINISHED,
  SIGNAL_DONE,
  SIGNAL_FAILED,
  SIGNAL_CANCELLED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

#define ASSERT_OWNER(self) g_assert (g_thread_self () == (self)->owner)

/* The worker */

typedef struct
{
  Run *run;
  IbEditEventKind kind;
  int level;
  int n_passes;
  int n_done;                   /* over all passes of the level */
  int n_total;
  GPtrArray *previews;          /* IbEditImage */
  GPtrArray *thumbnails;        /* cairo_surface_t per preview, made by the worker */
  GPtrArray *canvas_surfaces;   /* cairo_surface_t per preview at canvas_level, made by the worker, or NULL */
  int canvas_level;
  int n_variants;
  int n_tokens;
  int32_t *tokens;              /* LEVEL_FINISHED: x_{level-1} of every variant */
  IbEditResult *result;
  GError *error;
} Delivery;

static void
delivery_free (gpointer data)
{
  Delivery *delivery = data;
  run_unref (delivery->run);
  g_clear_pointer (&delivery->previews, g_ptr_array_unref);
  g_clear_pointer (&delivery->thumbnails, g_ptr_array_unref);
  g_clear_pointer (&delivery->canvas_surfaces, g_ptr_array_unref);
  g_free (delivery->tokens);
  g_clear_pointer (&delivery->result, ib_edit_result_unref);
  g_clear_error (&delivery->error);
  g_free (delivery);
}

static gboolean deliver_cb (gpointer data);

/* Worker thread: copies what the UI needs of an event and queues it to the run's main context. An idle source,
 * not g_main_context_invoke, which could run it here when nobody owns the context. */
static void
post (Run               *run,
      const IbEditEvent *event)
{
  Delivery *delivery = g_new0 (Delivery, 1);
  delivery->run = run_ref (run);
  delivery->kind = event->kind;
  delivery->level = event->level;
  delivery->n_passes = event->n_passes;
  delivery->n_variants = event->n_variants;
  if (event->kind == IB_EDIT_EVENT_PROGRESS)
    {
      delivery->n_done = event->pass * event->n_total + event->n_done;
      delivery->n_total = event->n_passes * event->n_total;
    }
  if (event->kind == IB_EDIT_EVENT_LEVEL_FINISHED)
    {
      delivery->previews = g_ptr_array_new_with_free_func ((GDestroyNotify) ib_edit_image_unref);
      /* The thumbnails too, here: a pass over each preview's pixels that would otherwise hold up a frame. */
      delivery->thumbnails = g_ptr_array_new_with_free_func ((GDestroyNotify) cairo_surface_destroy);
      /* And the level the canvas will draw: premultiplying it in a frame made that frame late. */
      delivery->canvas_level = g_atomic_int_get (&run->canvas_level);
      int canvas_variant = g_atomic_int_get (&run->canvas_variant);
      if (delivery->canvas_level >= 0)
        delivery->canvas_surfaces = g_ptr_array_new_with_free_func ((GDestroyNotify) cairo_surface_destroy);
      for (int v = 0; event->previews != NULL && v < event->n_variants; v++)
        {
          IbEditImage *preview = event->previews[v];
          g_ptr_array_add (delivery->previews, ib_edit_image_ref (preview));
          g_ptr_array_add (delivery->thumbnails,
                           ib_thumbnail_surface_for_rgba (preview->pixels, preview->width, preview->height,
                                                          preview->stride, IB_JOB_RUNNER_THUMBNAIL_SIDE));
          /* Only the shown variant's: the canvas makes another's itself if the user picks it mid-job. */
          if (delivery->canvas_surfaces != NULL)
            g_ptr_array_add (delivery->canvas_surfaces, v != canvas_variant ? NULL
                             : ib_texture_level_surface_for_rgba (preview->pixels, preview->width, preview->height,
                                                                  preview->stride, (guint) delivery->canvas_level));
        }
      if (event->tokens != NULL)
        {
          delivery->n_tokens = event->n_tokens;
          delivery->tokens = g_new (int32_t, (gsize) event->n_variants * event->n_tokens);
          for (int v = 0; v < event->n_variants; v++)
            memcpy (delivery->tokens + (gsize) v * event->n_tokens, event->tokens[v],
                    (gsize) event->n_tokens * sizeof (int32_t));
        }
    }
  if (event->result != NULL)
    delivery->result = ib_edit_result_ref (event->result);
  if (event->error != NULL)
    delivery->error = g_error_copy (event->error);

  GSource *source = g_idle_source_new ();
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, deliver_cb, delivery, delivery_free);
  g_source_set_static_name (source, "[imagebart] job runner event");
  g_source_attach (source, run->context);
  g_source_unref (source);
}

static void
worker_event_cb (IbEditJob         *job,
                 const IbEditEvent *event,
                 gpointer           user_data)
{
  Run *run = user_data;

  /* Stale: the UI has said goodbye to this run (the engine's own cancelled event included). */
  if (g_cancellable_is_cancelled (run->cancellable))
    return;
  if (event->kind == IB_EDIT_EVENT_PROGRESS)
    {
      gint64 now = g_get_monotonic_time ();
      if (event->n_done < event->n_total && now - run->last_progress_us < PROGRESS_INTERVAL_US)
        return;
      run->last_progress_us = now;
    }
  post (run, event);
}

/* Lowers the calling thread's priority by IMAGEBART_JOB_NICE (default JOB_NICE_DELTA). On Linux a nice value
 * belongs to a thread, and threads inherit it from the thread that starts them: the OpenMP threads that the
 * job's first parallel region starts here run nicer too. With a job on every core the UI thread (and the
 * display server) then still get one when a frame is due (docs/performance.md, the editor's paint benchmark). */
static void
lower_own_priority (void)
{
#ifdef __linux__
  const char *value = g_getenv ("IMAGEBART_JOB_NICE");
  int delta = value != NULL ? CLAMP (atoi (value), 0, 19) : JOB_NICE_DELTA;
  id_t self = (id_t) syscall (SYS_gettid);

  errno = 0;
  int nice = getpriority (PRIO_PROCESS, self);
  if (delta > 0 && errno == 0 && setpriority (PRIO_PROCESS, self, MIN (nice + delta, 19)) != 0)
    g_debug ("The job thread keeps its priority: %s", g_strerror (errno));
#endif
}

static gpointer
worker_main (gpointer data)
{
  Worker *worker = data;

  lower_own_priority ();
  for (;;)
    {
      gpointer item = g_async_queue_pop (worker->queue);
      if (item == &quit)
        break;
      Task *task = item;
      Run *run = task->run;
      if (run == NULL)
        {
          task->destroy (task->garbage);
          g_free (task);
          continue;
        }
      g_free (task);
      if (!g_cancellable_is_cancelled (run->cancellable))
        {
          IbEditResult *result = ib_edit_job_run (run->job, worker_event_cb, run, run->cancellable, NULL);
          g_clear_pointer (&result, ib_edit_result_unref);
        }
      run_unref (run);
      g_mutex_lock (&worker->lock);
      worker->pending--;
      g_cond_broadcast (&worker->idle);
      g_mutex_unlock (&worker->lock);
    }
  return NULL;
}

static Worker *
worker_new (GError **error)
{
  Worker *worker = g_new0 (Worker, 1);
  worker->queue = g_async_queue_new ();
  g_mutex_init (&worker->lock);
  g_cond_init (&worker->idle);
  worker->thread = g_thread_try_new ("ib-job-runner", worker_main, worker, error);
  if (worker->thread == NULL)
    {
      g_async_queue_unref (worker->queue);
      g_mutex_clear (&worker->lock);
      g_cond_clear (&worker->idle);
      g_free (worker);
      return NULL;
    }
  return worker;
}

static void
worker_wait_idle (Worker *worker)
{
  g_mutex_lock (&worker->lock);
  while (worker->pending > 0)
    g_cond_wait (&worker->idle, &worker->lock);
  g_mutex_unlock (&worker->lock);
}

static void
worker_free (Worker *worker)
{
  g_async_queue_push (worker->queue, &quit);
  g_thread_join (worker->thread);
  g_async_queue_unref (worker->queue);
  g_mutex_clear (&worker->lock);
  g_cond_clear (&worker->idle);
  g_free (worker);
}

/* The UI thread */

static void
level_tokens_clear (LevelTokens *level)
{
  g_clear_pointer (&level->tokens, g_free);
  level->n_variants = 0;
}

static void
set_running (IbJobRunner *self,
             Run         *run)
{
  gboolean was_running = self->current != NULL;

  if (self->current != NULL)
    {
      /* From here on the worker drops its events and the ones already queued are not emitted. */
      self->current->runner = NULL;
      g_cancellable_cancel (self->current->cancellable);
      g_clear_pointer (&self->current, run_unref);
    }
  self->current = run;
  if (was_running != (run != NULL))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RUNNING]);
}

static gboolean
deliver_cb (gpointer data)
{
  Delivery *delivery = data;
  IbJobRunner *self = delivery->run->runner;

  if (self == NULL || self->current != delivery->run)
    return G_SOURCE_REMOVE;
  ASSERT_OWNER (self);
  g_assert (g_main_context_is_owner (delivery->run->context));

  switch (delivery->kind)
    {
    case IB_EDIT_EVENT_LEVEL_STARTED:
      g_signal_emit (self, signals[SIGNAL_LEVEL_STARTED], 0, delivery->level, delivery->n_passes);
      break;
    case IB_EDIT_EVENT_PROGRESS:
      g_signal_emit (self, signals[SIGNAL_PROGRESS], 0, delivery->level, delivery->n_done, delivery->n_total);
      break;
    case IB_EDIT_EVENT_LEVEL_FINISHED:
      if (delivery->tokens != NULL && delivery->level >= 2 && delivery->n_tokens == self->n_tokens)
        {
          LevelTokens *x = &self->levels[delivery->level - 1];
          level_tokens_clear (x);
          x->n_variants = delivery->n_variants;
          x->tokens = g_steal_pointer (&delivery->tokens);
        }
      self->thumbnails = g_ptr_array_new_with_free_func (g_object_unref);
      for (guint v = 0; v < delivery->thumbnails->len; v++)
        g_ptr_array_add (self->thumbnails, ib_texture_new_for_surface (g_ptr_array_index (delivery->thumbnails, v)));
      self->canvas_surfaces = delivery->canvas_surfaces;
      self->canvas_surfaces_level = delivery->canvas_level;
      g_signal_emit (self, signals[SIGNAL_LEVEL_FINISHED], 0, delivery->level, delivery->previews);
      g_clear_pointer (&self->thumbnails, g_ptr_array_unref);
      self->canvas_surfaces = NULL;
      break;
    case IB_EDIT_EVENT_DONE:
      {
        /* Not running any more before anyone hears of it, so that a handler may start the next job. */
        g_autoptr (IbEditResult) result = g_steal_pointer (&delivery->result);
        g_object_ref (self);
        set_running (self, NULL);
        g_signal_emit (self, signals[SIGNAL_DONE], 0, result);
        g_object_unref (self);
      }
      break;
    case IB_EDIT_EVENT_FAILED:
      {
        g_autoptr (GError) error = g_steal_pointer (&delivery->error);
        g_object_ref (self);
        set_running (self, NULL);
        g_signal_emit (self, signals[SIGNAL_FAILED], 0, error);
        g_object_unref (self);
      }
      break;
    case IB_EDIT_EVENT_CANCELLED:
      /* Only ever after ib_job_runner_cancel, which has reported it: the run is stale by now. */
      g_assert_not_reached ();
    }
  return G_SOURCE_REMOVE;
}

gboolean
ib_job_runner_start (IbJobRunner         *self,
                     IbModelFile         *file,
                     const IbEditRequest *request,
                     GError             **error)
{
  g_return_val_if_fail (IB_IS_JOB_RUNNER (self), FALSE);
  g_return_val_if_fail (file != NULL && request != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  ASSERT_OWNER (self);

  int resume_variant = self->resume_variant;
  self->resume_variant = -1;
  /* Copies the request, the tokens to resume from included: they may be ours, changed below. */
  g_autoptr (IbEditJob) job = ib_edit_job_new (file, request, error);
  if (job == NULL)
    return FALSE;
  if (self->worker == NULL && (self->worker = worker_new (error)) == NULL)
    return FALSE;

  const IbModelConfig *config = ib_model_file_get_config (file);
  int n_tokens = config->token_height * config->token_width;
  int n_variants = request->settings.n_variants;
  int top_level = request->resume_tokens != NULL ? request->resume_level : request->settings.start_level;
  for (int t = 1; t <= IB_MAX_LEVELS; t++)
    {
      LevelTokens *x = &self->levels[t];
      /* Kept when resuming from our own tokens: x_t above the resumed level is that variant's, in every new
       * variant. */
      if (t >= top_level && request->resume_tokens != NULL && resume_variant >= 0 && n_tokens == self->n_tokens &&
          x->tokens != NULL && resume_variant < x->n_variants)
        {
          int32_t *kept = g_new (int32_t, (gsize) n_variants * n_tokens);
          for (int v = 0; v < n_variants; v++)
            memcpy (kept + (gsize) v * n_tokens, x->tokens + (gsize) resume_variant * n_tokens,
                    (gsize) n_tokens * sizeof (int32_t));
          level_tokens_clear (x);
          x->tokens = kept;
          x->n_variants = n_variants;
        }
      else
        level_tokens_clear (x);
    }
  self->start_level = request->settings.start_level;
  self->n_tokens = n_tokens;

  Run *run = g_new0 (Run, 1);
  g_atomic_ref_count_init (&run->ref_count);
  run->job = g_steal_pointer (&job);
  run->cancellable = g_cancellable_new ();
  run->context = g_main_context_ref_thread_default ();
  run->runner = self;
  run->canvas_level = self->canvas_level;
  run->canvas_variant = self->canvas_variant;
  set_running (self, run);

  g_mutex_lock (&self->worker->lock);
  self->worker->pending++;
  g_mutex_unlock (&self->worker->lock);
  Task *task = g_new0 (Task, 1);
  task->run = run_ref (run);
  g_async_queue_push (self->worker->queue, task);
  g_signal_emit (self, signals[SIGNAL_STARTED], 0, request->settings.start_level, top_level);
  return TRUE;
}

void
ib_job_runner_cancel (IbJobRunner *self)
{
  g_return_if_fail (IB_IS_JOB_RUNNER (self));
  ASSERT_OWNER (self);

  if (self->current == NULL)
    return;
  g_object_ref (self);
  set_running (self, NULL);
  g_signal_emit (self, signals[SIGNAL_CANCELLED], 0);
  g_object_unref (self);
}

void
ib_job_runner_stop (IbJobRunner *self)
{
  g_return_if_fail (IB_IS_JOB_RUNNER (self));
  ASSERT_OWNER (self);

  ib_job_runner_cancel (self);
  if (self->worker != NULL)
    worker_wait_idle (self->worker);
}

void
ib_job_runner_release (IbJobRunner    *self,
                       gpointer        data,
                       GDestroyNotify  destroy)
{
  g_return_if_fail (IB_IS_JOB_RUNNER (self));
  g_return_if_fail (destroy != NULL);
  ASSERT_OWNER (self);

  if (data == NULL)
    return;
  if (self->worker == NULL)
    {
      destroy (data);
      return;
    }
  Task *task = g_new0 (Task, 1);
  task->garbage = data;
  task->destroy = destroy;
  g_async_queue_push (self->worker->queue, task);
}

GPtrArray *
ib_job_runner_get_thumbnails (IbJobRunner *self)
{
  g_return_val_if_fail (IB_IS_JOB_RUNNER (self), NULL);
  return self->thumbnails;
}

void
ib_job_runner_set_canvas_level (IbJobRunner *self,
                                int          level)
{
  g_return_if_fail (IB_IS_JOB_RUNNER (self));
  ASSERT_OWNER (self);

  self->canvas_level = MAX (level, -1);
  if (self->current != NULL)
    g_atomic_int_set (&self->current->canvas_level, self->canvas_level);
}

void
ib_job_runner_set_canvas_variant (IbJobRunner *self,
                                  int          variant)
{
  g_return_if_fail (IB_IS_JOB_RUNNER (self));
  g_return_if_fail (variant >= 0);
  ASSERT_OWNER (self);

  self->canvas_variant = variant;
  if (self->current != NULL)
    g_atomic_int_set (&self->current->canvas_variant, variant);
}

cairo_surface_t *
ib_job_runner_get_canvas_surface (IbJobRunner *self,
                                  guint        variant,
                                  guint       *level)
{
  g_return_val_if_fail (IB_IS_JOB_RUNNER (self) && level != NULL, NULL);
  if (self->canvas_surfaces == NULL || variant >= self->canvas_surfaces->len)
    return NULL;
  *level = (guint) self->canvas_surfaces_level;
  return g_ptr_array_index (self->canvas_surfaces, variant);
}

gboolean
ib_job_runner_get_running (IbJobRunner *self)
{
  g_return_val_if_fail (IB_IS_JOB_RUNNER (self), FALSE);
  return self->current != NULL;
}

gboolean
ib_job_runner_fill_resume (IbJobRunner   *self,
                           int            level,
                           int            variant,
                           IbEditRequest *request,
                           GError       **error)
{
  g_return_val_if_fail (IB_IS_JOB_RUNNER (self), FALSE);
  g_return_val_if_fail (request != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  ASSERT_OWNER (self);

  if (self->start_level == 0 || level < 1 || level > self->start_level)
    {
      g_set_error (error, IB_GENERATE_ERROR, IB_GENERATE_ERROR_NOT_READY,
                   _("There is no level %d to resample from: generate first"), level);
      return FALSE;
    }
  request->settings.start_level = self->start_level;
  request->resume_tokens = NULL;
  request->n_resume_tokens = 0;
  request->resume_level = 0;
  /* At the start level nothing is kept: a new generation. */
  if (level == self->start_level)
    return TRUE;

  const LevelTokens *x = &self->levels[level];
  if (x->tokens == NULL || variant < 0 || variant >= x->n_variants)
    {
      g_set_error (error, IB_GENERATE_ERROR, IB_GENERATE_ERROR_NOT_READY,
                   _("Level %d has not finished yet; wait for it or generate again"), level);
      return FALSE;
    }
  request->resume_tokens = x->tokens + (gsize) variant * self->n_tokens;
  request->n_resume_tokens = self->n_tokens;
  request->resume_level = level;
  self->resume_variant = variant;
  return TRUE;
}

/* GObject */

static void
ib_job_runner_dispose (GObject *object)
{
  IbJobRunner *self = IB_JOB_RUNNER (object);

  /* Quitting during a job: cancel it and wait the one decoding step it takes the worker to notice. */
  if (self->current != NULL)
    {
      self->current->runner = NULL;
      g_cancellable_cancel (self->current->cancellable);
      g_clear_pointer (&self->current, run_unref);
    }
  g_clear_pointer (&self->worker, worker_free);
  G_OBJECT_CLASS (ib_job_runner_parent_class)->dispose (object);
}

static void
ib_job_runner_finalize (GObject *object)
{
  IbJobRunner *self = IB_JOB_RUNNER (object);

  for (int t = 0; t <= IB_MAX_LEVELS; t++)
    level_tokens_clear (&self->levels[t]);
  G_OBJECT_CLASS (ib_job_runner_parent_class)->finalize (object);
}

static void
ib_job_runner_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  IbJobRunner *self = IB_JOB_RUNNER (object);

  switch (prop_id)
    {
    case PROP_RUNNING:
      g_value_set_boolean (value, self->current != NULL);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ib_job_runner_class_init (IbJobRunnerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = ib_job_runner_dispose;
  object_class->finalize = ib_job_runner_finalize;
  object_class->get_property = ib_job_runner_get_property;

  properties[PROP_RUNNING] =
    g_param_spec_boolean ("running", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  signals[SIGNAL_STARTED] =
    g_signal_new ("started", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, G_TYPE_INT, G_TYPE_INT);
  signals[SIGNAL_LEVEL_STARTED] =
    g_signal_new ("level-started", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, G_TYPE_INT, G_TYPE_INT);
  signals[SIGNAL_PROGRESS] =
    g_signal_new ("progress", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 3, G_TYPE_INT, G_TYPE_INT, G_TYPE_INT);
  signals[SIGNAL_LEVEL_FINISHED] =
    g_signal_new ("level-finished", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, G_TYPE_INT, G_TYPE_PTR_ARRAY | G_SIGNAL_TYPE_STATIC_SCOPE);
  signals[SIGNAL_DONE] =
    g_signal_new ("done", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, IB_TYPE_EDIT_RESULT | G_SIGNAL_TYPE_STATIC_SCOPE);
  signals[SIGNAL_FAILED] =
    g_signal_new ("failed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_ERROR | G_SIGNAL_TYPE_STATIC_SCOPE);
  signals[SIGNAL_CANCELLED] =
    g_signal_new ("cancelled", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 0);
}

static void
ib_job_runner_init (IbJobRunner *self)
{
  self->owner = g_thread_self ();
  self->resume_variant = -1;
  self->canvas_level = -1;
}

IbJobRunner *
ib_job_runner_new (void)
{
  return g_object_new (IB_TYPE_JOB_RUNNER, NULL);
}
