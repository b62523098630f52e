/* test-job-runner.c: IbJobRunner on small random models: the order of its signals, throttled progress with
 * the last update of every pass, cancelling, replacing a job, disposing during a job, failures, resampling
 * from a level, the worker's lower priority, and the texture helper. */
#include <string.h>

#include <glib.h>
#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "../ib-test-model.h"
#include "ib-edit-chain.h"
#include "ib-error.h"
#include "ib-generate-error.h"
#include "ib-job-runner.h"
#include "ib-studio.h"
#include "ib-texture-pyramid.h"

typedef struct
{
  GBytes *bytes;
  IbModelFile *file;
  int width;
  int height;
  guint8 *rgba;
  guint8 *mask;
} Fixture;

/* A random model (levels, resolution 16 or 32) and a 24x20 picture with a masked rectangle. */
static void
fixture_init (Fixture *fixture,
              int      n_levels,
              int      resolution)
{
  IbTestModelSpec spec;
  g_autoptr (GError) error = NULL;

  ib_test_model_spec_init (&spec);
  spec.n_levels = n_levels;
  spec.resolution = resolution;
  spec.attn_resolution = 0;
  fixture->bytes = ib_test_model_build (&spec);
  fixture->file = ib_model_file_new_from_bytes (fixture->bytes, "test model", &error);
  g_assert_no_error (error);
  fixture->width = 24;
  fixture->height = 20;
  fixture->rgba = g_new (guint8, 24 * 20 * 4);
  fixture->mask = g_new0 (guint8, 24 * 20);
  for (int i = 0; i < 24 * 20 * 4; i++)
    fixture->rgba[i] = (guint8) (i % 4 == 3 ? 255 : (i * 37) % 251);
  for (int y = 3; y < 15; y++)
    memset (fixture->mask + y * 24 + 4, 255, 14);
}

static void
fixture_clear (Fixture *fixture)
{
  ib_model_file_free (fixture->file);
  g_bytes_unref (fixture->bytes);
  g_free (fixture->rgba);
  g_free (fixture->mask);
}

static void
request_init (IbEditRequest *request,
              Fixture       *fixture)
{
  ib_edit_request_init (request, ib_model_file_get_config (fixture->file));
  request->image = fixture->rgba;
  request->width = fixture->width;
  request->height = fixture->height;
  request->stride = fixture->width * 4;
  request->mask = fixture->mask;
  request->mask_width = fixture->width;
  request->mask_height = fixture->height;
  request->mask_stride = fixture->width;
}

/* Signals, recorded */

typedef enum
{
  STARTED,
  LEVEL_STARTED,
  PROGRESS,
  LEVEL_FINISHED,
  DONE,
  FAILED,
  CANCELLED,
} Kind;

typedef struct
{
  Kind kind;
  int a;
  int b;
  int c;
} Event;

typedef struct
{
  GThread *main_thread;
  GArray *events;               /* Event */
  IbEditResult *result;
  GError *error;
  int n_ended;
  gboolean cancel_on_progress;
  int canvas_level;             /* what the test asked the runner for, -1: nothing */
  guint n_canvas_surfaces;
  int canvas_variant;
} Recorder;

static void
record (Recorder *recorder,
        Kind      kind,
        int       a,
        int       b,
        int       c)
{
  Event event = { kind, a, b, c };
  g_assert_true (g_thread_self () == recorder->main_thread);
  g_array_append_val (recorder->events, event);
}

static void
started_cb (IbJobRunner *runner,
            int          start_level,
            int          top_level,
            Recorder    *recorder)
{
  record (recorder, STARTED, start_level, top_level, 0);
}

static void
level_started_cb (IbJobRunner *runner,
                  int          level,
                  int          n_passes,
                  Recorder    *recorder)
{
  record (recorder, LEVEL_STARTED, level, n_passes, 0);
}

static void
progress_cb (IbJobRunner *runner,
             int          level,
             int          n_done,
             int          n_total,
             Recorder    *recorder)
{
  record (recorder, PROGRESS, level, n_done, n_total);
  if (recorder->cancel_on_progress)
    ib_job_runner_cancel (runner);
}

static void
level_finished_cb (IbJobRunner *runner,
                   int          level,
                   GPtrArray   *previews,
                   Recorder    *recorder)
{
  record (recorder, LEVEL_FINISHED, level, previews->len, 0);
  /* With each preview its thumbnail, made by the worker: the preview at a size at least 192 across (or the
   * preview itself, smaller), as opaque as the preview where it is opaque. */
  GPtrArray *thumbnails = ib_job_runner_get_thumbnails (runner);
  g_assert_nonnull (thumbnails);
  g_assert_cmpuint (thumbnails->len, ==, previews->len);
  for (guint v = 0; v < previews->len; v++)
    {
      IbEditImage *preview = g_ptr_array_index (previews, v);
      GdkTexture *thumbnail = g_ptr_array_index (thumbnails, v);
      int side = MAX (preview->width, preview->height);
      int thumb_side = MAX (gdk_texture_get_width (thumbnail), gdk_texture_get_height (thumbnail));
      g_assert_cmpint (thumb_side, <=, side);
      g_assert_cmpint (thumb_side, >=, MIN (side, IB_JOB_RUNNER_THUMBNAIL_SIDE));
      gsize stride = 4 * (gsize) gdk_texture_get_width (thumbnail);
      g_autofree guint8 *pixels = g_malloc (stride * gdk_texture_get_height (thumbnail));
      gdk_texture_download (thumbnail, pixels, stride);
      if (preview->pixels[3] == 255)
        g_assert_cmpint (pixels[3], >=, 250);     /* the first pixel's alpha */

      /* The level the canvas asked for, as the canvas's pyramid would make it, for the variant it shows;
       * none when it asked for none, nor for the other variants. */
      guint drawn_level = 99;
      cairo_surface_t *surface = ib_job_runner_get_canvas_surface (runner, v, &drawn_level);
      if (recorder->canvas_level < 0 || (int) v != recorder->canvas_variant)
        {
          g_assert_null (surface);
          continue;
        }
      g_assert_nonnull (surface);
      g_assert_cmpuint (drawn_level, ==, (guint) recorder->canvas_level);
      g_autoptr (IbTexturePyramid) pyramid = ib_texture_pyramid_new_for_rgba (preview->pixels, preview->width,
                                                                              preview->height, preview->stride);
      cairo_surface_t *own = ib_texture_pyramid_get_surface (pyramid, drawn_level);
      g_assert_cmpint (cairo_image_surface_get_width (surface), ==, cairo_image_surface_get_width (own));
      g_assert_cmpint (cairo_image_surface_get_height (surface), ==, cairo_image_surface_get_height (own));
      for (int y = 0; y < cairo_image_surface_get_height (own); y++)
        g_assert_cmpmem (cairo_image_surface_get_data (surface) + y * cairo_image_surface_get_stride (surface),
                         cairo_image_surface_get_width (own) * 4,
                         cairo_image_surface_get_data (own) + y * cairo_image_surface_get_stride (own),
                         cairo_image_surface_get_width (own) * 4);
      recorder->n_canvas_surfaces++;
    }
}

static void
done_cb (IbJobRunner  *runner,
         IbEditResult *result,
         Recorder     *recorder)
{
  g_assert_false (ib_job_runner_get_running (runner));
  g_assert_null (ib_job_runner_get_thumbnails (runner));      /* only during level-finished */
  record (recorder, DONE, result->n_variants, 0, 0);
  g_clear_pointer (&recorder->result, ib_edit_result_unref);
  recorder->result = ib_edit_result_ref (result);
  recorder->n_ended++;
}

static void
failed_cb (IbJobRunner *runner,
           GError      *error,
           Recorder    *recorder)
{
  record (recorder, FAILED, 0, 0, 0);
  g_clear_error (&recorder->error);
  recorder->error = g_error_copy (error);
  recorder->n_ended++;
}

static void
cancelled_cb (IbJobRunner *runner,
              Recorder    *recorder)
{
  g_assert_false (ib_job_runner_get_running (runner));
  record (recorder, CANCELLED, 0, 0, 0);
  recorder->n_ended++;
}

static void
recorder_init (Recorder    *recorder,
               IbJobRunner *runner)
{
  memset (recorder, 0, sizeof *recorder);
  recorder->main_thread = g_thread_self ();
  recorder->canvas_level = -1;
  recorder->events = g_array_new (FALSE, TRUE, sizeof (Event));
  g_signal_connect (runner, "started", G_CALLBACK (started_cb), recorder);
  g_signal_connect (runner, "level-started", G_CALLBACK (level_started_cb), recorder);
  g_signal_connect (runner, "progress", G_CALLBACK (progress_cb), recorder);
  g_signal_connect (runner, "level-finished", G_CALLBACK (level_finished_cb), recorder);
  g_signal_connect (runner, "done", G_CALLBACK (done_cb), recorder);
  g_signal_connect (runner, "failed", G_CALLBACK (failed_cb), recorder);
  g_signal_connect (runner, "cancelled", G_CALLBACK (cancelled_cb), recorder);
}

static void
recorder_clear (Recorder *recorder)
{
  g_array_unref (recorder->events);
  g_clear_pointer (&recorder->result, ib_edit_result_unref);
  g_clear_error (&recorder->error);
}

static const Event *
event_at (Recorder *recorder,
          guint     i)
{
  g_assert_cmpuint (i, <, recorder->events->len);
  return &g_array_index (recorder->events, Event, i);
}

/* How long stopping a runner may take here. That cancellation takes effect within one decoding step is
 * checked exactly, by counting events, in tests/test-edit-job.c; this bound only catches a worker that runs
 * on, and is loose because CI machines run these tests two at a time next to the sanitizer builds. */
#define STOP_LIMIT_USEC (10 * G_USEC_PER_SEC)

/* Runs the main context until the condition holds (a test failure after 60 s). */
#define WAIT_UNTIL(condition) \
  G_STMT_START { \
    gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC; \
    while (!(condition)) \
      { \
        g_assert_cmpint (g_get_monotonic_time (), <, deadline); \
        g_main_context_iteration (NULL, TRUE); \
      } \
  } G_STMT_END

/* Whatever is still queued, dispatched. */
static void
drain (IbJobRunner *runner)
{
  if (runner != NULL)
    ib_job_runner_stop (runner);
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

/* Each test: a model, a runner with a recorder, a request over the fixture's picture. */
typedef struct
{
  Fixture fixture;
  IbJobRunner *runner;
  Recorder recorder;
  IbEditRequest request;
} Test;

typedef struct
{
  int n_levels;
  int resolution;
} Model;

static const Model small_model = { 3, 16 };
static const Model two_levels = { 2, 16 };
static const Model larger_model = { 3, 32 };

static void
setup (Test          *test,
       gconstpointer  data)
{
  const Model *model = data;
  fixture_init (&test->fixture, model->n_levels, model->resolution);
  test->runner = ib_job_runner_new ();
  recorder_init (&test->recorder, test->runner);
  request_init (&test->request, &test->fixture);
}

static void
teardown (Test          *test,
          gconstpointer  data)
{
  g_clear_object (&test->runner);
  drain (NULL);
  recorder_clear (&test->recorder);
  fixture_clear (&test->fixture);
}

/* started, then level-started, progress and level-finished for every level in order, then done; progress
 * rises and ends at the total of each pass; at most ~15 updates a second. */
static void
test_events_in_order (Test          *test,
                     gconstpointer  data)
{
  IbJobRunner *runner = test->runner;
  Recorder *recorder = &test->recorder;
  Fixture *fixture = &test->fixture;
  IbEditRequest *request = &test->request;
  request->settings.n_variants = 2;
  request->settings.repeats[0] = 8;

  g_autoptr (GError) error = NULL;
  gint64 begin = g_get_monotonic_time ();
  /* The canvas draws variant 1 at level 1: its previews come with it made (checked in level_finished_cb). */
  ib_job_runner_set_canvas_level (runner, 1);
  ib_job_runner_set_canvas_variant (runner, 1);
  recorder->canvas_level = 1;
  recorder->canvas_variant = 1;
  g_assert_true (ib_job_runner_start (runner, fixture->file, request, &error));
  g_assert_no_error (error);
  g_assert_true (ib_job_runner_get_running (runner));
  WAIT_UNTIL (recorder->n_ended > 0);
  double seconds = (g_get_monotonic_time () - begin) / (double) G_USEC_PER_SEC;
  drain (runner);
  g_assert_false (ib_job_runner_get_running (runner));
  g_assert_cmpuint (recorder->n_canvas_surfaces, ==, 3);        /* three levels, of the shown variant */

  guint e = 0;
  const Event *event = event_at (recorder, e++);
  g_assert_cmpint (event->kind, ==, STARTED);
  g_assert_cmpint (event->a, ==, 3);
  g_assert_cmpint (event->b, ==, 3);
  int n_progress = 0, n_pass_ends = 0;
  for (int t = 3; t >= 1; t--)
    {
      int n_passes = t == 1 ? 8 : 1, last_done = 0, total = 0;
      event = event_at (recorder, e++);
      g_assert_cmpint (event->kind, ==, LEVEL_STARTED);
      g_assert_cmpint (event->a, ==, t);
      g_assert_cmpint (event->b, ==, n_passes);
      int pass_ends_seen = 0;
      while ((event = event_at (recorder, e++))->kind == PROGRESS)
        {
          g_assert_cmpint (event->a, ==, t);
          g_assert_cmpint (event->b, >, last_done);
          last_done = event->b;
          total = event->c;
          n_progress++;
          /* The last update of each pass is never dropped. */
          if (event->b % (total / n_passes) == 0)
            g_assert_cmpint (event->b, ==, ++pass_ends_seen * (total / n_passes));
        }
      g_assert_cmpint (pass_ends_seen, ==, n_passes);
      g_assert_cmpint (last_done, ==, total);
      n_pass_ends += n_passes;
      g_assert_cmpint (event->kind, ==, LEVEL_FINISHED);
      g_assert_cmpint (event->a, ==, t);
      g_assert_cmpint (event->b, ==, 2);
    }
  event = event_at (recorder, e++);
  g_assert_cmpint (event->kind, ==, DONE);
  g_assert_cmpint (event->a, ==, 2);
  g_assert_cmpuint (e, ==, recorder->events->len);
  g_assert_nonnull (recorder->result);
  g_assert_cmpint (recorder->result->n_unknown, >, 0);
  /* Unthrottled, level 1 alone would be 8 passes of every masked token. */
  g_test_message ("%d progress updates in %.2f s", n_progress, seconds);
  g_assert_cmpint (n_progress, <=, n_pass_ends + 2 + (int) (seconds * 16));
  g_assert_cmpint (n_progress, <, 8 * recorder->result->n_unknown);
}

/* A job long enough that cancelling and disposing happen in the middle of it. */
static void
long_request (IbEditRequest *request,
              Fixture       *fixture)
{
  request_init (request, fixture);
  memset (fixture->mask, 255, (gsize) fixture->width * fixture->height);
  for (int t = 1; t <= 3; t++)
    request->settings.repeats[t - 1] = IB_EDIT_MAX_REPEATS;
}

/* Cancelled from a progress handler: "cancelled" at once, running off, nothing after it; the worker lets go
 * within a decoding step. */
static void
test_cancel (Test          *test,
            gconstpointer  data)
{
  IbJobRunner *runner = test->runner;
  Recorder *recorder = &test->recorder;
  Fixture *fixture = &test->fixture;
  IbEditRequest *request = &test->request;
  recorder->cancel_on_progress = TRUE;
  long_request (request, fixture);

  g_autoptr (GError) error = NULL;
  g_assert_true (ib_job_runner_start (runner, fixture->file, request, &error));
  WAIT_UNTIL (recorder->n_ended > 0);
  gint64 begin = g_get_monotonic_time ();
  ib_job_runner_stop (runner);
  g_assert_cmpint (g_get_monotonic_time () - begin, <, STOP_LIMIT_USEC);
  guint n_events = recorder->events->len;
  drain (runner);
  g_assert_cmpuint (recorder->events->len, ==, n_events);
  g_assert_cmpint (event_at (recorder, n_events - 1)->kind, ==, CANCELLED);
  g_assert_cmpint (event_at (recorder, n_events - 2)->kind, ==, PROGRESS);
  g_assert_cmpint (recorder->n_ended, ==, 1);
  g_assert_false (ib_job_runner_get_running (runner));
  /* Cancelling when nothing runs says nothing. */
  ib_job_runner_cancel (runner);
  g_assert_cmpint (recorder->n_ended, ==, 1);
}

/* A second job replaces the first: none of the first's events after the second starts, no "cancelled". */
static void
test_replace (Test          *test,
             gconstpointer  data)
{
  IbJobRunner *runner = test->runner;
  Recorder *recorder = &test->recorder;
  Fixture *fixture = &test->fixture;
  IbEditRequest first;
  long_request (&first, fixture);
  first.settings.n_variants = 2;

  g_autoptr (GError) error = NULL;
  g_assert_true (ib_job_runner_start (runner, fixture->file, &first, &error));
  WAIT_UNTIL (recorder->events->len >= 3);
  guint second_start = recorder->events->len;
  IbEditRequest second;
  request_init (&second, fixture);
  second.settings.start_level = 1;
  g_assert_true (ib_job_runner_start (runner, fixture->file, &second, &error));
  g_assert_no_error (error);
  WAIT_UNTIL (recorder->n_ended > 0);
  drain (runner);

  const Event *event = event_at (recorder, second_start);
  g_assert_cmpint (event->kind, ==, STARTED);
  g_assert_cmpint (event->a, ==, 1);
  for (guint e = second_start + 1; e < recorder->events->len; e++)
    {
      event = event_at (recorder, e);
      g_assert_cmpint (event->kind, !=, CANCELLED);
      if (event->kind == LEVEL_STARTED || event->kind == PROGRESS)
        g_assert_cmpint (event->a, ==, 1);
      if (event->kind == LEVEL_FINISHED)
        g_assert_cmpint (event->b, ==, 1);
    }
  g_assert_cmpint (event_at (recorder, recorder->events->len - 1)->kind, ==, DONE);
  g_assert_cmpint (recorder->n_ended, ==, 1);
  g_assert_cmpint (recorder->result->n_variants, ==, 1);
}

/* Quitting during a job: the last reference dropped mid-run returns promptly, and nothing is emitted
 * afterwards. */
static void
test_dispose_during_run (Test          *test,
                        gconstpointer  data)
{
  IbJobRunner *runner = test->runner;
  Recorder *recorder = &test->recorder;
  Fixture *fixture = &test->fixture;
  IbEditRequest *request = &test->request;
  long_request (request, fixture);

  g_autoptr (GError) error = NULL;
  g_assert_true (ib_job_runner_start (runner, fixture->file, request, &error));
  WAIT_UNTIL (recorder->events->len >= 3 && event_at (recorder, recorder->events->len - 1)->kind == PROGRESS);
  g_assert_true (ib_job_runner_get_running (runner));
  gint64 begin = g_get_monotonic_time ();
  g_clear_object (&test->runner);
  g_assert_cmpint (g_get_monotonic_time () - begin, <, STOP_LIMIT_USEC);
  guint n_events = recorder->events->len;
  drain (NULL);
  g_assert_cmpuint (recorder->events->len, ==, n_events);
  g_assert_cmpint (recorder->n_ended, ==, 0);
}

/* What ib_job_runner_release was given, freed: on which thread. */
typedef struct
{
  GThread *thread;
  gint released;
} Garbage;

static void
garbage_release (gpointer data)
{
  Garbage *garbage = data;
  garbage->thread = g_thread_self ();
  g_atomic_int_set (&garbage->released, 1);
}

/* Released: at once before the runner has a worker; else on the worker; disposing the runner mid-run still
 * releases what it was given before it returns. */
static void
test_release (Test          *test,
              gconstpointer  data)
{
  Fixture *fixture = &test->fixture;
  IbEditRequest *request = &test->request;
  Garbage before = { 0 }, after_run = { 0 }, at_dispose = { 0 };

  ib_job_runner_release (test->runner, &before, garbage_release);
  g_assert_true (g_atomic_int_get (&before.released));
  g_assert_true (before.thread == g_thread_self ());

  g_autoptr (GError) error = NULL;
  g_assert_true (ib_job_runner_start (test->runner, fixture->file, request, &error));
  ib_job_runner_release (test->runner, &after_run, garbage_release);
  WAIT_UNTIL (test->recorder.n_ended == 1);
  g_assert_cmpint (event_at (&test->recorder, test->recorder.events->len - 1)->kind, ==, DONE);
  /* Released by the worker, which posts nothing for it: watched without the main context. */
  gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  while (!g_atomic_int_get (&after_run.released))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (1000);
    }
  g_assert_true (after_run.thread != g_thread_self ());

  long_request (request, fixture);
  g_assert_true (ib_job_runner_start (test->runner, fixture->file, request, &error));
  ib_job_runner_release (test->runner, &at_dispose, garbage_release);
  g_clear_object (&test->runner);
  g_assert_true (g_atomic_int_get (&at_dispose.released));
  g_assert_true (at_dispose.thread != g_thread_self ());
}

/* A request the job refuses is an error from start and nothing runs; a run that fails reports its error. */
static void
test_failures (Test          *test,
              gconstpointer  data)
{
  IbJobRunner *runner = test->runner;
  Recorder *recorder = &test->recorder;
  Fixture *fixture = &test->fixture;
  IbEditRequest *request = &test->request;

  g_autoptr (GError) error = NULL;
  request->settings.start_level = 3;
  g_assert_false (ib_job_runner_start (runner, fixture->file, request, &error));
  g_assert_error (error, IB_ERROR, IB_ERROR_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (ib_job_runner_get_running (runner));
  g_assert_cmpuint (recorder->events->len, ==, 0);

  /* Tokens to resume from whose known part is not this picture's: the run fails. */
  const IbModelConfig *config = ib_model_file_get_config (fixture->file);
  int n_tokens = config->token_height * config->token_width;
  g_autofree int32_t *tokens = g_new (int32_t, n_tokens);
  request->settings.start_level = 2;
  request->resume_tokens = tokens;
  request->n_resume_tokens = n_tokens;
  request->resume_level = 1;
  for (int i = 0; i < n_tokens; i++)
    tokens[i] = (i * 7 + 3) % config->n_codes;
  g_assert_true (ib_job_runner_start (runner, fixture->file, request, &error));
  g_assert_no_error (error);
  WAIT_UNTIL (recorder->n_ended > 0);
  drain (runner);
  g_assert_cmpint (event_at (recorder, recorder->events->len - 1)->kind, ==, FAILED);
  g_assert_error (recorder->error, IB_ERROR, IB_ERROR_ARGUMENT);
  g_assert_false (ib_job_runner_get_running (runner));
}

/* "Resample from here": from level 2 of variant 1, with the same seed, variant 1 comes out again and only
 * levels 2 and 1 run; at the start level it is a new generation; before a run it is an error. */
static void
test_resample (Test          *test,
              gconstpointer  data)
{
  IbJobRunner *runner = test->runner;
  Recorder *recorder = &test->recorder;
  Fixture *fixture = &test->fixture;
  IbEditRequest *request = &test->request;
  request->settings.n_variants = 2;
  request->settings.seed = 99;

  g_autoptr (GError) error = NULL;
  g_assert_false (ib_job_runner_fill_resume (runner, 2, 0, request, &error));
  g_assert_error (error, IB_GENERATE_ERROR, IB_GENERATE_ERROR_NOT_READY);
  g_clear_error (&error);

  g_assert_true (ib_job_runner_start (runner, fixture->file, request, &error));
  WAIT_UNTIL (recorder->n_ended > 0);
  g_autoptr (IbEditResult) first = ib_edit_result_ref (recorder->result);

  IbEditRequest again = *request;
  g_assert_true (ib_job_runner_fill_resume (runner, 2, 1, &again, &error));
  g_assert_no_error (error);
  g_assert_nonnull (again.resume_tokens);
  g_assert_cmpint (again.resume_level, ==, 2);
  g_array_set_size (recorder->events, 0);
  g_assert_true (ib_job_runner_start (runner, fixture->file, &again, &error));
  g_assert_no_error (error);
  WAIT_UNTIL (recorder->n_ended > 1);
  drain (runner);
  const Event *event = event_at (recorder, 0);
  g_assert_cmpint (event->kind, ==, STARTED);
  g_assert_cmpint (event->a, ==, 3);
  g_assert_cmpint (event->b, ==, 2);
  int levels = 0;
  for (guint e = 0; e < recorder->events->len; e++)
    if ((event = event_at (recorder, e))->kind == LEVEL_STARTED)
      g_assert_cmpint (event->a, ==, 2 - levels++);
  g_assert_cmpint (levels, ==, 2);
  gsize bytes = first->n_tokens * sizeof (int32_t);
  g_assert_cmpmem (recorder->result->tokens[1], bytes, first->tokens[1], bytes);

  /* The coarser level is kept for the new variants: resampling from level 3's output works again, now from
   * variant 0, which shares it. */
  g_assert_true (ib_job_runner_fill_resume (runner, 2, 0, &again, &error));
  g_assert_no_error (error);
  g_assert_true (ib_job_runner_fill_resume (runner, 3, 0, &again, &error));
  g_assert_null (again.resume_tokens);
  g_assert_cmpint (again.settings.start_level, ==, 3);
  g_assert_false (ib_job_runner_fill_resume (runner, 4, 0, &again, &error));
  g_assert_error (error, IB_GENERATE_ERROR, IB_GENERATE_ERROR_NOT_READY);
}

#ifdef __linux__
/* The nice value of thread tid of this process, from /proc (field 19 of its stat, the 17th after the name). */
static int
thread_nice (const char *tid)
{
  g_autofree char *path = g_strdup_printf ("/proc/self/task/%s/stat", tid), *stat = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_true (g_file_get_contents (path, &stat, NULL, &error));
  g_assert_no_error (error);
  const char *after_name = strrchr (stat, ')');
  g_assert_nonnull (after_name);
  g_auto (GStrv) fields = g_strsplit (after_name + 2, " ", -1);
  g_assert_cmpuint (g_strv_length (fields), >, 16);
  return atoi (fields[16]);
}
#endif

/* The worker, and the OpenMP threads its jobs start (named after it), run 10 nicer than the UI thread, so that
 * a job on every core leaves the UI a core when a frame is due. */
static void
test_background_priority (Test          *test,
                          gconstpointer  data)
{
#ifdef __linux__
  g_autoptr (GError) error = NULL;

  g_assert_true (ib_job_runner_start (test->runner, test->fixture.file, &test->request, &error));
  g_assert_no_error (error);
  WAIT_UNTIL (test->recorder.n_ended > 0);
  g_assert_nonnull (test->recorder.result);

  g_autofree char *own_tid = g_strdup_printf ("%ld", (long) syscall (SYS_gettid));
  int ui_nice = thread_nice (own_tid), workers = 0;
  g_autoptr (GDir) tasks = g_dir_open ("/proc/self/task", 0, &error);
  g_assert_no_error (error);
  for (const char *tid; (tid = g_dir_read_name (tasks)) != NULL;)
    {
      g_autofree char *path = g_strdup_printf ("/proc/self/task/%s/comm", tid), *comm = NULL;
      if (!g_file_get_contents (path, &comm, NULL, NULL) || !g_str_equal (g_strstrip (comm), "ib-job-runner"))
        continue;
      g_assert_cmpint (thread_nice (tid), ==, MIN (ui_nice + 10, 19));
      workers++;
    }
  g_assert_cmpint (workers, >=, 1);
#else
  g_test_skip ("thread priorities are read from /proc on Linux");
#endif
}

int
main (int    argc,
      char **argv)
{
  ib_studio_init ();
  g_test_init (&argc, &argv, NULL);
  g_unsetenv ("IMAGEBART_JOB_NICE");
  g_test_add ("/app/job-runner/events-in-order", Test, &small_model, setup, test_events_in_order, teardown);
  g_test_add ("/app/job-runner/cancel", Test, &larger_model, setup, test_cancel, teardown);
  g_test_add ("/app/job-runner/replace", Test, &larger_model, setup, test_replace, teardown);
  g_test_add ("/app/job-runner/dispose-during-run", Test, &larger_model, setup, test_dispose_during_run, teardown);
  g_test_add ("/app/job-runner/release", Test, &larger_model, setup, test_release, teardown);
  g_test_add ("/app/job-runner/failures", Test, &two_levels, setup, test_failures, teardown);
  g_test_add ("/app/job-runner/resample", Test, &small_model, setup, test_resample, teardown);
  g_test_add ("/app/job-runner/background-priority", Test, &small_model, setup, test_background_priority, teardown);
  return g_test_run ();
}
