/* test-edit-load.c: thousands of edit jobs started and cancelled at random points (before the start, at
 * once, after some events, after a delay, or never), up to four queued at once, on a tiny model: every run
 * ends with exactly one last event and its callback, cancelled runs with G_IO_ERROR_CANCELLED, and memory
 * comes back to where it was (RSS; LeakSanitizer in the sanitizer build checks the rest).
 * IMAGEBART_LOAD_CYCLES sets the number of runs (default 3000, 300 under AddressSanitizer). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "ib-edit-job.h"
#include "ib-model-file.h"
#include "ib-test-model.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

#define WIDTH 24
#define HEIGHT 20

typedef enum
{
  CANCEL_BEFORE_START,
  CANCEL_AT_ONCE,
  CANCEL_AFTER_EVENTS,
  CANCEL_AFTER_DELAY,
  CANCEL_NEVER,
} CancelMode;

typedef struct
{
  IbModelFile *file;
  guint8 rgba[WIDTH * HEIGHT * 4];
  guint8 mask[WIDTH * HEIGHT];
  GRand *rand;
  int n_started;
  int n_running;
  int n_done;
  int n_cancelled;
  int n_events;
} Load;

typedef struct
{
  Load *load;
  IbEditJob *job;
  GCancellable *cancellable;
  CancelMode mode;
  int cancel_after;             /* CANCEL_AFTER_EVENTS: events before cancelling */
  int n_events;
  int n_last_events;            /* done, failed, cancelled: exactly one */
  gboolean destroyed;
  gboolean finished;
} Cycle;

static void
cycle_maybe_free (Cycle *cycle)
{
  /* The run's user data is destroyed after its last event; the callback may come before or after. */
  if (!cycle->destroyed || !cycle->finished)
    return;
  cycle->load->n_running--;
  g_object_unref (cycle->job);
  g_object_unref (cycle->cancellable);
  g_free (cycle);
}

static void
event_cb (IbEditJob         *job,
          const IbEditEvent *event,
          gpointer           user_data)
{
  Cycle *cycle = user_data;

  g_assert_false (cycle->finished);
  g_assert_cmpint (cycle->n_last_events, ==, 0);
  cycle->n_events++;
  cycle->load->n_events++;
  if (event->kind == IB_EDIT_EVENT_DONE || event->kind == IB_EDIT_EVENT_FAILED ||
      event->kind == IB_EDIT_EVENT_CANCELLED)
    cycle->n_last_events++;
  if (event->kind == IB_EDIT_EVENT_FAILED)
    g_error ("an edit failed under load: %s", event->error->message);
  if (cycle->mode == CANCEL_AFTER_EVENTS && cycle->n_events == cycle->cancel_after)
    g_cancellable_cancel (cycle->cancellable);
}

static void
destroy_cb (gpointer user_data)
{
  Cycle *cycle = user_data;
  g_assert_false (cycle->destroyed);
  g_assert_cmpint (cycle->n_last_events, ==, 1);
  cycle->destroyed = TRUE;
  cycle_maybe_free (cycle);
}

static void
finished_cb (GObject      *source,
             GAsyncResult *res,
             gpointer      user_data)
{
  Cycle *cycle = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (IbEditResult) result = ib_edit_job_run_finish (IB_EDIT_JOB (source), res, &error);

  g_assert_false (cycle->finished);
  g_assert_cmpint (cycle->n_last_events, ==, 1);
  if (result != NULL)
    {
      g_assert_no_error (error);
      g_assert_cmpint (result->n_variants, >=, 1);
      cycle->load->n_done++;
    }
  else
    {
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      g_assert_true (cycle->mode != CANCEL_NEVER);
      cycle->load->n_cancelled++;
    }
  cycle->finished = TRUE;
  cycle_maybe_free (cycle);
}

static gboolean
cancel_timeout_cb (gpointer user_data)
{
  g_cancellable_cancel (user_data);
  return G_SOURCE_REMOVE;
}

static void
start_cycle (Load *load)
{
  IbEditRequest request;
  g_autoptr (GError) error = NULL;
  Cycle *cycle = g_new0 (Cycle, 1);
  guint32 draw = g_rand_int_range (load->rand, 0, 100);

  ib_edit_request_init (&request, ib_model_file_get_config (load->file));
  request.image = load->rgba;
  request.width = request.mask_width = WIDTH;
  request.height = request.mask_height = HEIGHT;
  request.stride = WIDTH * 4;
  request.mask = load->mask;
  request.mask_stride = WIDTH;
  request.settings.seed = (guint64) load->n_started;
  request.settings.n_variants = g_rand_int_range (load->rand, 1, 4);
  request.settings.level_previews = g_rand_boolean (load->rand);

  cycle->load = load;
  cycle->job = ib_edit_job_new (load->file, &request, &error);
  g_assert_no_error (error);
  cycle->cancellable = g_cancellable_new ();
  /* Mostly early cancellations (they are what a user does most and cost little); every 32nd run, the first
   * among them, to the end. */
  cycle->mode = load->n_started % 32 == 0 ? CANCEL_NEVER : draw < 10 ? CANCEL_BEFORE_START
                : draw < 35 ? CANCEL_AT_ONCE : draw < 75 ? CANCEL_AFTER_EVENTS : CANCEL_AFTER_DELAY;
  cycle->cancel_after = g_rand_int_range (load->rand, 1, 12);

  if (cycle->mode == CANCEL_BEFORE_START)
    g_cancellable_cancel (cycle->cancellable);
  load->n_started++;
  load->n_running++;
  ib_edit_job_run_async (cycle->job, event_cb, cycle, destroy_cb, cycle->cancellable, finished_cb, cycle);
  if (cycle->mode == CANCEL_AT_ONCE)
    g_cancellable_cancel (cycle->cancellable);
  else if (cycle->mode == CANCEL_AFTER_DELAY)
    g_timeout_add_full (G_PRIORITY_HIGH, g_rand_int_range (load->rand, 0, 4), cancel_timeout_cb,
                        g_object_ref (cycle->cancellable), g_object_unref);
}

/* Resident memory in bytes, after handing freed memory back to the system where the C library can. */
static gsize
resident_bytes (void)
{
  g_autofree char *statm = NULL;
  unsigned long size = 0, resident = 0;

#ifdef __GLIBC__
  malloc_trim (0);
#endif
  g_assert_true (g_file_get_contents ("/proc/self/statm", &statm, NULL, NULL));
  g_assert_cmpint (sscanf (statm, "%lu %lu", &size, &resident), ==, 2);
  return (gsize) resident * (gsize) sysconf (_SC_PAGESIZE);
}

/* Runs n cycles with up to max_parallel in flight, and waits for all of them. */
static void
run_cycles (Load *load,
            int   n,
            int   max_parallel)
{
  int target = load->n_started + n;
  while (load->n_started < target || load->n_running > 0)
    {
      while (load->n_started < target && load->n_running < max_parallel)
        start_cycle (load);
      g_main_context_iteration (NULL, TRUE);
    }
}

static void
test_start_cancel (void)
{
#ifdef UNDER_ASAN
  int n_cycles = 300;     /* the unoptimized sanitizer build runs the networks ~20x slower */
#else
  int n_cycles = 3000;
#endif
  const char *env = g_getenv ("IMAGEBART_LOAD_CYCLES");
  if (env != NULL)
    n_cycles = MAX (atoi (env), 10);

  IbTestModelSpec spec;
  ib_test_model_spec_init (&spec);
  spec.gpt_top = TRUE;
  g_autoptr (GBytes) bytes = ib_test_model_build (&spec);
  g_autoptr (GError) error = NULL;
  Load load = { .rand = g_rand_new_with_seed (20261126) };
  load.file = ib_model_file_new_from_bytes (bytes, "test model", &error);
  g_assert_no_error (error);
  for (int i = 0; i < WIDTH * HEIGHT * 4; i++)
    load.rgba[i] = (guint8) (i * 13);
  for (int y = 3; y < 15; y++)
    memset (load.mask + y * WIDTH + 4, 255, 14);

  /* Warm up: thread pools, per-thread allocator arenas, OpenMP and BLAS threads. */
  run_cycles (&load, MIN (100, n_cycles / 10), 4);
  gsize baseline = resident_bytes ();
  gint64 start = g_get_monotonic_time ();

  int phase = (n_cycles - load.n_started) / 4;
  for (int parallel = 1; parallel <= 4; parallel++)
    run_cycles (&load, parallel < 4 ? phase : n_cycles - load.n_started, parallel);

  /* Timers of runs that ended before their cancellation fired are still pending: let them go. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  gsize after = resident_bytes ();
  g_test_message ("%d runs (%d done, %d cancelled, %d events) in %.1f s; RSS %.1f MiB after warm-up, %.1f MiB "
                  "after", load.n_started, load.n_done, load.n_cancelled, load.n_events,
                  (g_get_monotonic_time () - start) / 1e6, baseline / 1048576.0, after / 1048576.0);
  g_assert_cmpint (load.n_started, ==, n_cycles);
  g_assert_cmpint (load.n_done + load.n_cancelled, ==, n_cycles);
  g_assert_cmpint (load.n_done, >, 0);
  g_assert_cmpint (load.n_cancelled, >, 0);
#ifndef UNDER_ASAN
  /* A leak of even one small buffer per run would show here: 3000 runs of a 24x20 picture. */
  g_assert_cmpuint (after, <, baseline + 16 * 1024 * 1024);
#endif
  ib_model_file_free (load.file);
  g_rand_free (load.rand);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/model/edit/load/start-cancel", test_start_cancel);
  return g_test_run ();
}
