/* bench-paint.c: is painting fluid on a large picture while a job runs on the CPU engine? (issue 5,
 * "Responsiveness"). A benchmark, not a test: `meson test -C build --benchmark paint-during-job` (or run
 * build/tests/app/bench-app-paint under xvfb-run), reported in docs/performance.md.
 *
 * The editor opens a 2048 x 2048 picture (fitted to the window) on the bundled model (or
 * $IMAGEBART_BENCH_MODEL) and a brush stroke is fed pointer positions at 120 Hz along a circle, as a stylus
 * would, for a few seconds twice: with no job, then while jobs run back to back on the CPU engine with the
 * editor's default threads (every core; $IMAGEBART_BENCH_THREADS sets another number). Printed for each phase: the intervals between the canvas's frames (a frame
 * longer than 33 ms at 60 Hz is at least one dropped frame) and the time the UI thread spends on each
 * pointer position (the mask update and the redraw it queues). A long frame's paint is given from its start on
 * CLOCK_MONOTONIC, to find it in a profile (`perf record -k mono`). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ib-application.h"
#include "ib-loaded-model.h"
#include "ib-main-window.h"
#include "ib-shell-test.h"

#define PICTURE_SIDE 2048
#define PHASE_SECONDS 6
#define POINTER_HZ 120

typedef struct
{
  IbCanvas *canvas;
  GArray *frame_times;      /* gint64 µs, at each paint of the canvas's frame clock */
  GArray *event_costs;      /* gint64 µs spent in each extend_stroke */
  GArray *generate_costs;   /* gint64 µs of each Generate action (the next job's start) */
  GArray *layout_costs;     /* gint64 µs per frame that needed a layout, from before-paint to its end */
  GArray *paint_costs;      /* gint64 µs per frame in GTK's paint (snapshot and rendering) */
  gint64 frame_start;
  gint64 layout_end;
  GString *since_frame;     /* the runner's events and generate calls since the last frame */
  GString *long_frames;     /* for each frame over 33 ms: its interval and what happened in it */
  gboolean level_in_frame;  /* a level finished since the last frame */
  GArray *level_intervals;  /* gint64 µs: the interval of each frame right after a finished level */
  GArray *level_paints;     /* gint64 µs: and its paint */
  gint64 phase_start;
  double angle;
  int n_jobs_done;
  int n_jobs_started;       /* in this phase and before: the first job of the window is 1 */
  gboolean keep_generating;
  IbMainWindow *window;
} Bench;

static void
after_paint_cb (GdkFrameClock *clock,
                Bench         *bench)
{
  gint64 now = g_get_monotonic_time ();
  if (bench->frame_times->len > 0)
    {
      gint64 interval = now - g_array_index (bench->frame_times, gint64, bench->frame_times->len - 1);
      /* The frame's own work (layout, then snapshot and rendering): what is left of the interval went to
       * other work on the UI thread, or the thread waited for a core. */
      gint64 layout = bench->layout_end - bench->frame_start, paint = now - bench->layout_end;
      if (interval > 33333)
        g_string_append_printf (bench->long_frames, "  %.0f ms (layout %.1f, paint %.1f from %.3f s):%s\n",
                                interval / 1000.0, layout / 1000.0, paint / 1000.0, bench->layout_end / 1e6,
                                bench->since_frame->len > 0 ? bench->since_frame->str : " (no job event)");
      if (bench->level_in_frame)
        {
          g_array_append_val (bench->level_intervals, interval);
          g_array_append_val (bench->level_paints, paint);
        }
    }
  bench->level_in_frame = FALSE;
  g_string_truncate (bench->since_frame, 0);
  g_array_append_val (bench->frame_times, now);
}

static void
note (Bench      *bench,
      const char *what)
{
  g_string_append_printf (bench->since_frame, " %s", what);
}

/* When the running emission of the runner's level-finished or done began: an emission hook runs before every
 * handler, and the bench's own handler, connected last, after the window's. */
static gint64 emission_start;

static gboolean
emission_hook (GSignalInvocationHint *hint,
               guint                  n_params,
               const GValue          *params,
               gpointer               data)
{
  emission_start = g_get_monotonic_time ();
  return TRUE;
}

static void
note_level_finished_cb (IbJobRunner *runner,
                        int          level,
                        GPtrArray   *previews,
                        Bench       *bench)
{
  g_autofree char *text = g_strdup_printf ("level-finished (job %d, level %d; its handlers %.1f ms)",
                                           bench->n_jobs_started, level,
                                           (g_get_monotonic_time () - emission_start) / 1000.0);
  note (bench, text);
  bench->level_in_frame = TRUE;
}

static void
note_started_cb (Bench *bench)
{
  bench->n_jobs_started++;
  note (bench, "started");
}

/* Connected after GTK's own handlers, so each runs when GTK's work of that phase is done. */
static void
before_paint_cb (GdkFrameClock *clock,
                 Bench         *bench)
{
  bench->frame_start = bench->layout_end = g_get_monotonic_time ();
}

static void
layout_cb (GdkFrameClock *clock,
           Bench         *bench)
{
  bench->layout_end = g_get_monotonic_time ();
  gint64 cost = bench->layout_end - bench->frame_start;
  g_array_append_val (bench->layout_costs, cost);
}

static void
paint_cb (GdkFrameClock *clock,
          Bench         *bench)
{
  gint64 cost = g_get_monotonic_time () - bench->layout_end;
  g_array_append_val (bench->paint_costs, cost);
}

static gboolean
pointer_cb (gpointer user_data)
{
  Bench *bench = user_data;
  double x, y;

  bench->angle += 2 * G_PI / (POINTER_HZ * 1.5);
  ib_canvas_picture_to_widget (bench->canvas, PICTURE_SIDE * (0.5 + 0.3 * cos (bench->angle)),
                               PICTURE_SIDE * (0.5 + 0.3 * sin (bench->angle)), &x, &y);
  gint64 start = g_get_monotonic_time ();
  ib_canvas_extend_stroke (bench->canvas, x, y, 1.0);
  gint64 cost = g_get_monotonic_time () - start;
  g_array_append_val (bench->event_costs, cost);
  return G_SOURCE_CONTINUE;
}

static int
compare_gint64 (gconstpointer a,
                gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;
  return (x > y) - (x < y);
}

static double
percentile_ms (GArray *sorted,
               double  p)
{
  if (sorted->len == 0)
    return 0;
  guint i = MIN (sorted->len - 1, (guint) (p * (sorted->len - 1) + 0.5));
  return g_array_index (sorted, gint64, i) / 1000.0;
}

static void
report (const char *phase,
        Bench      *bench)
{
  g_autoptr(GArray) intervals = g_array_new (FALSE, FALSE, sizeof (gint64));
  guint n_long = 0;

  for (guint i = 1; i < bench->frame_times->len; i++)
    {
      gint64 interval = g_array_index (bench->frame_times, gint64, i) - g_array_index (bench->frame_times, gint64, i - 1);
      g_array_append_val (intervals, interval);
      n_long += interval > 33333;
    }
  g_array_sort (intervals, compare_gint64);
  g_array_sort (bench->event_costs, compare_gint64);
  g_array_sort (bench->layout_costs, compare_gint64);
  g_array_sort (bench->paint_costs, compare_gint64);
  g_print ("%-12s frames %4u (%.1f per s): interval p50 %.1f ms, p95 %.1f ms, max %.1f ms, %u over 33 ms | "
           "pointer events %4u: UI-thread cost p50 %.2f ms, p95 %.2f ms, max %.2f ms | jobs done %d\n",
           phase, bench->frame_times->len, bench->frame_times->len / (double) PHASE_SECONDS,
           percentile_ms (intervals, 0.5), percentile_ms (intervals, 0.95), percentile_ms (intervals, 1.0),
           n_long, bench->event_costs->len, percentile_ms (bench->event_costs, 0.5),
           percentile_ms (bench->event_costs, 0.95), percentile_ms (bench->event_costs, 1.0), bench->n_jobs_done);
  if (bench->long_frames->len > 0)
    g_print ("%-12s frames over 33 ms, with the job events before them:\n%s", "", bench->long_frames->str);
  g_print ("%-12s per frame: layout p50 %.1f ms, p95 %.1f ms | paint (snapshot + render) p50 %.1f ms, p95 %.1f ms\n",
           "", percentile_ms (bench->layout_costs, 0.5), percentile_ms (bench->layout_costs, 0.95),
           percentile_ms (bench->paint_costs, 0.5), percentile_ms (bench->paint_costs, 0.95));
  if (bench->level_intervals->len > 0)
    {
      g_array_sort (bench->level_intervals, compare_gint64);
      g_array_sort (bench->level_paints, compare_gint64);
      g_print ("%-12s the frames right after a finished level: %u, interval p50 %.1f ms, max %.1f ms | "
               "paint p50 %.1f ms, max %.1f ms\n", "", bench->level_intervals->len,
               percentile_ms (bench->level_intervals, 0.5), percentile_ms (bench->level_intervals, 1.0),
               percentile_ms (bench->level_paints, 0.5), percentile_ms (bench->level_paints, 1.0));
    }
  if (bench->generate_costs->len > 0)
    {
      g_array_sort (bench->generate_costs, compare_gint64);
      g_print ("%-12s the next job's Generate, on the UI thread: %u, p50 %.1f ms, max %.1f ms\n", "",
               bench->generate_costs->len, percentile_ms (bench->generate_costs, 0.5),
               percentile_ms (bench->generate_costs, 1.0));
    }
}

static void
run_phase (Bench      *bench,
           const char *name)
{
  double x, y;

  g_array_set_size (bench->frame_times, 0);
  g_array_set_size (bench->event_costs, 0);
  g_array_set_size (bench->generate_costs, 0);
  g_array_set_size (bench->layout_costs, 0);
  g_array_set_size (bench->paint_costs, 0);
  g_array_set_size (bench->level_intervals, 0);
  g_array_set_size (bench->level_paints, 0);
  g_string_truncate (bench->long_frames, 0);
  ib_canvas_picture_to_widget (bench->canvas, PICTURE_SIDE * 0.8, PICTURE_SIDE * 0.5, &x, &y);
  ib_canvas_begin_stroke (bench->canvas, x, y, 1.0, FALSE);
  guint pointer = g_timeout_add (1000 / POINTER_HZ, pointer_cb, bench);
  ib_shell_test_spin (PHASE_SECONDS * 1000);
  g_source_remove (pointer);
  ib_canvas_end_stroke (bench->canvas);
  report (name, bench);
}

static gboolean
generate_again_cb (gpointer user_data)
{
  Bench *bench = user_data;
  if (bench->keep_generating)
    {
      gint64 start = g_get_monotonic_time ();
      g_action_group_activate_action (G_ACTION_GROUP (bench->window), "generate", NULL);
      gint64 cost = g_get_monotonic_time () - start;
      g_array_append_val (bench->generate_costs, cost);
      g_autofree char *text = g_strdup_printf ("generate (%.1f ms)", cost / 1000.0);
      note (bench, text);
    }
  return G_SOURCE_REMOVE;
}

static void
job_ended_cb (IbJobRunner *runner,
              gpointer     result_or_error,
              Bench       *bench)
{
  bench->n_jobs_done++;
  double handlers_ms = (g_get_monotonic_time () - emission_start) / 1000.0;
  g_autofree char *text = g_strdup_printf ("done (its handlers %.1f ms)", handlers_ms);
  note (bench, text);
  g_idle_add (generate_again_cb, bench);
}

/* The process's resident memory now and at its peak (Linux's VmRSS and VmHWM). */
static void
print_memory (void)
{
  g_autofree char *status = NULL;
  if (!g_file_get_contents ("/proc/self/status", &status, NULL, NULL))
    return;
  g_auto (GStrv) lines = g_strsplit (status, "\n", -1);
  for (char **line = lines; *line != NULL; line++)
    if (g_str_has_prefix (*line, "VmRSS:") || g_str_has_prefix (*line, "VmHWM:"))
      g_print ("%-12s %s\n", "", *line);
}

static void
bench_body (IbApplication *application,
            gpointer       data)
{
  IbMainWindow *window = ib_shell_test_main_window (application);
  IbJobRunner *runner = ib_main_window_get_runner (window);
  Bench bench = { 0 };

  ib_shell_test_wait_ready (application);
  gtk_window_set_default_size (GTK_WINDOW (window), 1400, 1000);
  ib_shell_test_spin (500);
  bench.window = window;
  bench.canvas = ib_main_window_get_canvas (window);
  bench.frame_times = g_array_new (FALSE, FALSE, sizeof (gint64));
  bench.event_costs = g_array_new (FALSE, FALSE, sizeof (gint64));
  bench.generate_costs = g_array_new (FALSE, FALSE, sizeof (gint64));
  bench.layout_costs = g_array_new (FALSE, FALSE, sizeof (gint64));
  bench.paint_costs = g_array_new (FALSE, FALSE, sizeof (gint64));
  bench.level_intervals = g_array_new (FALSE, FALSE, sizeof (gint64));
  bench.level_paints = g_array_new (FALSE, FALSE, sizeof (gint64));
  bench.since_frame = g_string_new (NULL);
  bench.long_frames = g_string_new (NULL);
  GdkFrameClock *clock = gtk_widget_get_frame_clock (GTK_WIDGET (bench.canvas));
  gulong paint_handler = g_signal_connect (clock, "after-paint", G_CALLBACK (after_paint_cb), &bench);
  g_signal_connect (clock, "before-paint", G_CALLBACK (before_paint_cb), &bench);
  g_signal_connect (clock, "layout", G_CALLBACK (layout_cb), &bench);
  g_signal_connect (clock, "paint", G_CALLBACK (paint_cb), &bench);

  g_print ("picture %d x %d, canvas %d x %d px, model %s\n", PICTURE_SIDE, PICTURE_SIDE,
           gtk_widget_get_width (GTK_WIDGET (bench.canvas)), gtk_widget_get_height (GTK_WIDGET (bench.canvas)),
           ib_loaded_model_get_path (ib_application_get_model (application)));
  run_phase (&bench, "no job");

  /* Something masked for the jobs to re-make: the stroke above. */
  g_signal_connect (runner, "done", G_CALLBACK (job_ended_cb), &bench);
  g_signal_connect (runner, "level-finished", G_CALLBACK (note_level_finished_cb), &bench);
  g_signal_add_emission_hook (g_signal_lookup ("level-finished", IB_TYPE_JOB_RUNNER), 0, emission_hook, NULL, NULL);
  g_signal_add_emission_hook (g_signal_lookup ("done", IB_TYPE_JOB_RUNNER), 0, emission_hook, NULL, NULL);
  g_signal_connect_swapped (runner, "started", G_CALLBACK (note_started_cb), &bench);
  g_signal_connect (runner, "failed", G_CALLBACK (job_ended_cb), &bench);
  bench.keep_generating = TRUE;
  g_action_group_activate_action (G_ACTION_GROUP (window), "generate", NULL);
  g_assert_true (ib_job_runner_get_running (runner));
  ib_shell_test_spin (300);
  run_phase (&bench, "job running");
  print_memory ();
  bench.keep_generating = FALSE;
  g_signal_handlers_disconnect_by_data (runner, &bench);
  g_action_group_activate_action (G_ACTION_GROUP (window), "cancel", NULL);
  g_signal_handler_disconnect (clock, paint_handler);
  g_signal_handlers_disconnect_by_data (clock, &bench);
  g_array_unref (bench.frame_times);
  g_array_unref (bench.event_costs);
  g_array_unref (bench.generate_costs);
  g_array_unref (bench.layout_costs);
  g_array_unref (bench.paint_costs);
  g_array_unref (bench.level_intervals);
  g_array_unref (bench.level_paints);
  g_string_free (bench.since_frame, TRUE);
  g_string_free (bench.long_frames, TRUE);
}

int
main (int   argc,
      char *argv[])
{
  ib_shell_test_init (&argc, &argv);
  g_autoptr(GSettings) settings = g_settings_new ("org.imagebart.Studio");
  g_settings_set_string (settings, "engine", "cpu");
  /* The editor's default (0: every core), or $IMAGEBART_BENCH_THREADS. */
  const char *threads = g_getenv ("IMAGEBART_BENCH_THREADS");
  g_settings_set_int (settings, "threads", threads != NULL ? atoi (threads) : 0);
  g_settings_set_int (settings, "default-variants", 4);

  g_autofree char *picture = ib_shell_test_write_picture (PICTURE_SIDE, PICTURE_SIDE);
  const char *model = g_getenv ("IMAGEBART_BENCH_MODEL");
  const char *with_model[] = { "--model", model, picture, NULL };
  const char *bundled[] = { picture, NULL };
  ib_shell_test_run (model != NULL ? with_model : bundled, bench_body, NULL);
  ib_shell_test_cleanup ();
  return 0;
}
