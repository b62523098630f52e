/* test-generate-e2e.c: a whole generation through the window, on a small random model: win.generate runs
 * every level, the variants arrive, accepting one changes the picture only inside the mask, undo restores
 * it; win.cancel stops a run midway and leaves the picture alone.
 *
 * IMAGEBART_SCREENSHOT=FILE.png (the random model) and IMAGEBART_BUNDLED_SCREENSHOT=FILE.png (the bundled
 * model on a sample picture: the README's screenshot, see docs/screenshots/) also save a picture of the main
 * window while the variants are shown. */
#include <math.h>
#include <string.h>

#include "ib-application.h"
#include "ib-generate-test.h"
#include "ib-level-strip.h"
#include "ib-loaded-model.h"
#include "ib-main-window.h"
#include "ib-shell-test.h"
#include "ib-variant-gallery.h"
#include "ib-vulkan-device.h"

#define N_LEVELS 3
#define N_VARIANTS 2
#define JOB_TIMEOUT_MS 240000

typedef struct
{
  GArray *levels_started;
  GArray *levels_finished;
  int n_progress;
  int n_done;
  int n_cancelled;
  int n_failed;
  IbEditResult *result;
  GtkWindow *cancel_window;   /* set: cancel through it when the first level starts */
} Events;

static void
level_started_cb (IbJobRunner *runner,
                  int          level,
                  int          n_passes,
                  Events      *events)
{
  g_array_append_val (events->levels_started, level);
  /* Here, not after waiting: a small model's whole job can be done before the wait would see this. */
  if (events->cancel_window != NULL && events->levels_started->len == 1)
    g_action_group_activate_action (G_ACTION_GROUP (events->cancel_window), "cancel", NULL);
}

static void
progress_cb (IbJobRunner *runner,
             int          level,
             int          n_done,
             int          n_total,
             Events      *events)
{
  events->n_progress++;
}

static void
level_finished_cb (IbJobRunner *runner,
                   int          level,
                   GPtrArray   *previews,
                   Events      *events)
{
  g_array_append_val (events->levels_finished, level);
}

static void
done_cb (IbJobRunner  *runner,
         IbEditResult *result,
         Events       *events)
{
  events->n_done++;
  g_clear_pointer (&events->result, ib_edit_result_unref);
  events->result = ib_edit_result_ref (result);
}

static void
cancelled_cb (IbJobRunner *runner,
              Events      *events)
{
  events->n_cancelled++;
}

static void
failed_cb (IbJobRunner  *runner,
           const GError *error,
           Events       *events)
{
  g_printerr ("job failed: %s\n", error->message);
  events->n_failed++;
}

static void
events_connect (Events      *events,
                IbJobRunner *runner)
{
  memset (events, 0, sizeof *events);
  events->levels_started = g_array_new (FALSE, FALSE, sizeof (int));
  events->levels_finished = g_array_new (FALSE, FALSE, sizeof (int));
  g_signal_connect (runner, "level-started", G_CALLBACK (level_started_cb), events);
  g_signal_connect (runner, "progress", G_CALLBACK (progress_cb), events);
  g_signal_connect (runner, "level-finished", G_CALLBACK (level_finished_cb), events);
  g_signal_connect (runner, "done", G_CALLBACK (done_cb), events);
  g_signal_connect (runner, "cancelled", G_CALLBACK (cancelled_cb), events);
  g_signal_connect (runner, "failed", G_CALLBACK (failed_cb), events);
}

static void
events_disconnect (Events      *events,
                   IbJobRunner *runner)
{
  g_signal_handlers_disconnect_by_data (runner, events);
  g_clear_pointer (&events->result, ib_edit_result_unref);
  g_array_unref (events->levels_started);
  g_array_unref (events->levels_finished);
}

/* The window's content as the user sees it, rendered by the window's own renderer. */
static void
save_screenshot (IbMainWindow *window,
                 const char   *path)
{
  GtkWidget *content = adw_application_window_get_content (ADW_APPLICATION_WINDOW (window));
  int width = gtk_widget_get_width (content);
  int height = gtk_widget_get_height (content);
  g_autoptr(GdkPaintable) paintable = gtk_widget_paintable_new (content);
  GtkSnapshot *snapshot = gtk_snapshot_new ();
  g_autoptr(GskRenderNode) node = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  GskRenderer *renderer = gtk_native_get_renderer (GTK_NATIVE (window));

  gdk_paintable_snapshot (paintable, snapshot, width, height);
  node = gtk_snapshot_free_to_node (snapshot);
  g_assert_nonnull (node);
  texture = gsk_renderer_render_texture (renderer, node, &GRAPHENE_RECT_INIT (0, 0, width, height));
  g_assert_true (gdk_texture_save_to_png (texture, path));
  g_test_message ("screenshot: %s (%dx%d)", path, width, height);
}

/* The mask: a disc right of the picture's centre, painted as one change. */
static void
paint_mask (IbMask *mask)
{
  int width = ib_mask_get_width (mask);
  int height = ib_mask_get_height (mask);
  double xy[2 * 24];

  for (int i = 0; i < 24; i++)
    {
      xy[2 * i] = width * 0.62 + width * 0.16 * cos (2 * G_PI * i / 24);
      xy[2 * i + 1] = height * 0.5 + height * 0.28 * sin (2 * G_PI * i / 24);
    }
  ib_mask_begin_change (mask);
  ib_mask_fill_polygon (mask, xy, 24, IB_MASK_FILL_NON_ZERO, IB_MASK_MODE_PAINT);
  ib_mask_end_change (mask);
}

/* A finished variant shows on the canvas as its last level's patch (the strip's), not the whole result: the
 * picture with the patch over it must be the result, pixel for pixel. */
static void
assert_canvas_shows (IbMainWindow *window,
                     IbLevelStrip *strip,
                     IbEditImage  *original,
                     IbEditImage  *result)
{
  IbCanvas *canvas = IB_CANVAS (ib_shell_test_find_widget (GTK_WIDGET (window), IB_TYPE_CANVAS));
  IbEditImage *patch = ib_canvas_get_preview (canvas);

  g_assert_true (patch != NULL && patch == ib_level_strip_get_preview (strip, 1));
  g_assert_cmpint (patch->width, <, result->width);
  for (int y = 0; y < result->height; y++)
    for (int x = 0; x < result->width; x++)
      {
        gboolean inside = x >= patch->x && x < patch->x + patch->width && y >= patch->y &&
                          y < patch->y + patch->height;
        const guint8 *shown = inside ? patch->pixels + (gsize) (y - patch->y) * patch->stride + (x - patch->x) * 4
                                     : original->pixels + (gsize) y * original->stride + x * 4;
        g_assert_cmpmem (shown, 4, result->pixels + (gsize) y * result->stride + x * 4, 4);
      }
}

/* The heights the canvas had at each frame: the level strip under it must not make it change size while a job
 * runs or when its result is taken (each change repainted the whole canvas at a new fitted zoom). */
typedef struct
{
  int min_height;
  int max_height;
} HeightRange;

static gboolean
record_height_tick (GtkWidget     *widget,
                    GdkFrameClock *clock,
                    gpointer       data)
{
  HeightRange *range = data;
  int height = gtk_widget_get_height (widget);

  range->min_height = MIN (range->min_height, height);
  range->max_height = MAX (range->max_height, height);
  return G_SOURCE_CONTINUE;
}

static void
generate_body (IbApplication *application,
               gpointer       data)
{
  IbMainWindow *window = ib_shell_test_main_window (application);
  IbJobRunner *runner = ib_main_window_get_runner (window);
  const char *screenshot = g_getenv ("IMAGEBART_SCREENSHOT");
  IbDocument *document;
  IbMask *mask;
  g_autoptr(IbEditImage) original = NULL;
  g_autoptr(IbEditImage) accepted = NULL;
  IbLevelStrip *strip;
  IbVariantGallery *gallery;
  Events events;
  GtkWidget *canvas;
  HeightRange heights;
  guint height_tick;

  ib_shell_test_wait_ready (application);
  document = ib_main_window_get_document (window);
  mask = ib_document_get_mask (document);
  original = ib_edit_image_ref (ib_document_get_picture (document));
  paint_mask (mask);
  events_connect (&events, runner);
  canvas = GTK_WIDGET (ib_shell_test_find_widget (GTK_WIDGET (window), IB_TYPE_CANVAS));
  ib_shell_test_spin (100);
  heights.min_height = heights.max_height = gtk_widget_get_height (canvas);
  g_assert_cmpint (heights.min_height, >, 0);
  height_tick = gtk_widget_add_tick_callback (canvas, record_height_tick, &heights, NULL);

  g_action_group_activate_action (G_ACTION_GROUP (window), "generate", NULL);
  g_assert_true (ib_job_runner_get_running (runner));
  g_assert_true (g_action_group_get_action_enabled (G_ACTION_GROUP (window), "cancel"));
  g_assert_false (g_action_group_get_action_enabled (G_ACTION_GROUP (window), "generate"));
  IB_SHELL_TEST_WAIT_FOR (events.n_done + events.n_failed > 0, JOB_TIMEOUT_MS);
  g_assert_cmpint (events.n_failed, ==, 0);
  g_assert_cmpint (events.n_cancelled, ==, 0);
  g_assert_false (ib_job_runner_get_running (runner));

  /* Every level, from the top down, each started and finished once. */
  g_assert_cmpuint (events.levels_started->len, ==, N_LEVELS);
  g_assert_cmpuint (events.levels_finished->len, ==, N_LEVELS);
  for (int i = 0; i < N_LEVELS; i++)
    {
      g_assert_cmpint (g_array_index (events.levels_started, int, i), ==, N_LEVELS - i);
      g_assert_cmpint (g_array_index (events.levels_finished, int, i), ==, N_LEVELS - i);
    }
  g_assert_cmpint (events.n_progress, >, 0);
  g_assert_cmpint (events.result->n_variants, ==, N_VARIANTS);

  /* The strip has every level's preview, the gallery the variants, the first one selected. */
  strip = IB_LEVEL_STRIP (ib_shell_test_find_widget (GTK_WIDGET (window), IB_TYPE_LEVEL_STRIP));
  gallery = IB_VARIANT_GALLERY (ib_shell_test_find_widget (GTK_WIDGET (window), IB_TYPE_VARIANT_GALLERY));
  g_assert_nonnull (strip);
  g_assert_nonnull (gallery);
  g_assert_true (gtk_widget_get_mapped (GTK_WIDGET (strip)));
  for (int level = 1; level <= N_LEVELS; level++)
    g_assert_nonnull (ib_level_strip_get_preview (strip, level));
  g_assert_cmpint (ib_variant_gallery_get_selected (gallery), ==, 0);
  assert_canvas_shows (window, strip, original, events.result->images[0]);

  /* The variants wait for a decision; the picture has not changed yet. */
  g_assert_true (g_action_group_get_action_enabled (G_ACTION_GROUP (window), "accept-variant"));
  g_assert_true (ib_document_get_picture (document) == original);
  if (screenshot != NULL && screenshot[0] != '\0')
    {
      ib_shell_test_spin (300);
      save_screenshot (window, screenshot);
    }

  /* Rejecting the first variant leaves the second, which accepting applies: inside the mask only. */
  g_action_group_activate_action (G_ACTION_GROUP (window), "reject-variant", NULL);
  g_assert_cmpint (ib_variant_gallery_get_selected (gallery), ==, 1);
  assert_canvas_shows (window, strip, original, events.result->images[1]);
  g_assert_true (g_action_group_get_action_enabled (G_ACTION_GROUP (window), "accept-variant"));
  g_action_group_activate_action (G_ACTION_GROUP (window), "accept-variant", NULL);
  accepted = ib_edit_image_ref (ib_document_get_picture (document));
  g_assert_false (g_action_group_get_action_enabled (G_ACTION_GROUP (window), "accept-variant"));
  g_assert_cmpuint (ib_shell_test_count_differences (accepted, events.result->images[1], NULL, IB_SHELL_TEST_ALL),
                    ==, 0);
  g_assert_cmpuint (ib_shell_test_count_differences (accepted, original, mask, IB_SHELL_TEST_OUTSIDE_MASK), ==, 0);
  g_assert_cmpuint (ib_shell_test_count_differences (accepted, original, mask, IB_SHELL_TEST_INSIDE_MASK), >, 0);
  ib_shell_test_spin (100);
  gtk_widget_remove_tick_callback (canvas, height_tick);
  record_height_tick (canvas, NULL, &heights);
  g_assert_cmpint (heights.min_height, ==, heights.max_height);

  g_action_group_activate_action (G_ACTION_GROUP (window), "undo", NULL);
  g_assert_cmpuint (ib_shell_test_count_differences (ib_document_get_picture (document), original, NULL,
                                                     IB_SHELL_TEST_ALL), ==, 0);
  g_assert_false (ib_mask_is_empty (mask));
  events_disconnect (&events, runner);
}

static void
test_generate (void)
{
  ib_shell_test_run_on_picture (N_LEVELS, 11, 240, 160, generate_body, NULL);
}

/* Cancelling as soon as the first level has started: the run ends as cancelled, nothing changes. */
static void
cancel_body (IbApplication *application,
             gpointer       data)
{
  IbMainWindow *window = ib_shell_test_main_window (application);
  IbJobRunner *runner = ib_main_window_get_runner (window);
  IbDocument *document;
  g_autoptr(IbEditImage) original = NULL;
  Events events;

  ib_shell_test_wait_ready (application);
  document = ib_main_window_get_document (window);
  original = ib_edit_image_ref (ib_document_get_picture (document));
  paint_mask (ib_document_get_mask (document));
  events_connect (&events, runner);

  events.cancel_window = GTK_WINDOW (window);
  g_action_group_activate_action (G_ACTION_GROUP (window), "generate", NULL);
  IB_SHELL_TEST_WAIT_FOR (events.levels_started->len > 0, JOB_TIMEOUT_MS);
  g_assert_cmpint (events.n_cancelled, ==, 1);
  g_assert_false (ib_job_runner_get_running (runner));
  g_assert_true (g_action_group_get_action_enabled (G_ACTION_GROUP (window), "generate"));
  g_assert_false (g_action_group_get_action_enabled (G_ACTION_GROUP (window), "accept-variant"));
  /* Nothing of the stopped run arrives later. */
  ib_shell_test_spin (1500);
  g_assert_cmpint (events.n_done, ==, 0);
  g_assert_true (ib_document_get_picture (document) == original);
  events_disconnect (&events, runner);
}

static void
test_cancel (void)
{
  ib_shell_test_run_on_picture (N_LEVELS, 12, 96, 64, cancel_body, NULL);
}

/* The Vulkan engine failing (an injected device loss, or a device that is not there): a dialog says so and
 * offers the CPU engine, the picture and the mask stay as they were, and taking the offer runs the same job
 * on the CPU. */
static void
device_failure_body (IbApplication *application,
                     gpointer       data)
{
  IbMainWindow *window = ib_shell_test_main_window (application);
  IbJobRunner *runner = ib_main_window_get_runner (window);
  GSettings *settings = ib_application_get_settings (application);
  IbDocument *document;
  IbMask *mask;
  g_autoptr(IbEditImage) original = NULL;
  g_autoptr(GBytes) mask_before = NULL;
  const guint8 *mask_data;
  int mask_stride;
  GtkWindow *dialog = NULL;
  g_autofree char *engine = NULL;
  Events events;

  ib_shell_test_wait_ready (application);
  document = ib_main_window_get_document (window);
  mask = ib_document_get_mask (document);
  original = ib_edit_image_ref (ib_document_get_picture (document));
  paint_mask (mask);
  mask_data = ib_mask_get_data (mask, &mask_stride);
  mask_before = g_bytes_new (mask_data, (gsize) mask_stride * ib_mask_get_height (mask));
  events_connect (&events, runner);

  g_action_group_activate_action (G_ACTION_GROUP (window), "generate", NULL);
  IB_SHELL_TEST_WAIT_FOR (events.n_failed + events.n_done > 0, JOB_TIMEOUT_MS);
  g_assert_cmpint (events.n_failed, ==, 1);
  dialog = ib_shell_test_find_toplevel (ADW_TYPE_MESSAGE_DIALOG, GTK_WINDOW (window));
  g_assert_nonnull (dialog);
  g_assert_true (adw_message_dialog_has_response (ADW_MESSAGE_DIALOG (dialog), "cpu"));
  g_assert_true (ib_document_get_picture (document) == original);
  mask_data = ib_mask_get_data (mask, &mask_stride);
  g_assert_cmpmem (mask_data, (gsize) mask_stride * ib_mask_get_height (mask),
                   g_bytes_get_data (mask_before, NULL), g_bytes_get_size (mask_before));

  adw_message_dialog_response (ADW_MESSAGE_DIALOG (dialog), "cpu");
  engine = g_settings_get_string (settings, "engine");
  g_assert_cmpstr (engine, ==, "cpu");
  IB_SHELL_TEST_WAIT_FOR (events.n_done > 0 || events.n_failed > 1, JOB_TIMEOUT_MS);
  g_assert_cmpint (events.n_failed, ==, 1);
  g_assert_cmpint (events.n_done, ==, 1);
  g_assert_true (g_action_group_get_action_enabled (G_ACTION_GROUP (window), "accept-variant"));
  events_disconnect (&events, runner);
}

static void
test_device_failure (void)
{
#ifdef NDEBUG
  g_test_skip ("Vulkan fault injection is compiled out of release builds");
#else
  g_autoptr(GPtrArray) devices = ib_vk_is_built () ? ib_vk_list_devices (NULL) : NULL;
  g_autoptr(GSettings) settings = g_settings_new ("org.imagebart.Studio");

  if (devices == NULL || devices->len == 0)
    {
      g_test_skip ("no Vulkan device");
      return;
    }
  g_settings_set_string (settings, "engine", "vulkan:0");
  g_setenv ("IMAGEBART_FAULT_VK_SUBMIT", "1", TRUE);
  ib_shell_test_run_on_picture (N_LEVELS, 13, 48, 32, device_failure_body, NULL);
  g_unsetenv ("IMAGEBART_FAULT_VK_SUBMIT");
  g_settings_set_string (settings, "engine", "cpu");
#endif
}

/* The preference names Vulkan device 63, which no machine has: the job is refused by the engine. */
static void
test_missing_device (void)
{
  g_autoptr(GSettings) settings = g_settings_new ("org.imagebart.Studio");

  g_settings_set_string (settings, "engine", "vulkan:63");
  ib_shell_test_run_on_picture (N_LEVELS, 18, 48, 32, device_failure_body, NULL);
  g_settings_set_string (settings, "engine", "cpu");
}

/* "Resample from here" on the strip: the same job again from that level, the coarser levels kept. */
static void
started_cb (IbJobRunner *runner,
            int          start_level,
            int          top_level,
            int         *top)
{
  *top = top_level;
}

static void
resample_body (IbApplication *application,
               gpointer       data)
{
  IbMainWindow *window = ib_shell_test_main_window (application);
  IbJobRunner *runner = ib_main_window_get_runner (window);
  IbDocument *document;
  IbLevelStrip *strip;
  int top_level = 0;
  Events events;

  ib_shell_test_wait_ready (application);
  document = ib_main_window_get_document (window);
  paint_mask (ib_document_get_mask (document));
  events_connect (&events, runner);
  g_signal_connect (runner, "started", G_CALLBACK (started_cb), &top_level);
  g_action_group_activate_action (G_ACTION_GROUP (window), "generate", NULL);
  IB_SHELL_TEST_WAIT_FOR (events.n_done > 0, JOB_TIMEOUT_MS);
  g_assert_cmpint (top_level, ==, N_LEVELS);

  strip = IB_LEVEL_STRIP (ib_shell_test_find_widget (GTK_WIDGET (window), IB_TYPE_LEVEL_STRIP));
  g_array_set_size (events.levels_started, 0);
  g_signal_emit_by_name (strip, "resample-from", 2);
  g_assert_true (ib_job_runner_get_running (runner));
  g_assert_cmpint (top_level, ==, 2);
  IB_SHELL_TEST_WAIT_FOR (events.n_done > 1 || events.n_failed > 0, JOB_TIMEOUT_MS);
  g_assert_cmpint (events.n_failed, ==, 0);
  g_assert_cmpuint (events.levels_started->len, ==, 2);
  g_assert_cmpint (g_array_index (events.levels_started, int, 0), ==, 2);
  g_assert_cmpint (g_array_index (events.levels_started, int, 1), ==, 1);
  g_assert_true (g_action_group_get_action_enabled (G_ACTION_GROUP (window), "accept-variant"));
  g_signal_handlers_disconnect_by_func (runner, started_cb, &top_level);
  events_disconnect (&events, runner);
}

static void
test_resample (void)
{
  ib_shell_test_run_on_picture (N_LEVELS, 15, 96, 64, resample_body, NULL);
}

/* Another model while a job runs: the job goes on with the model it started with (kept open until it ends),
 * the panel and the next job take the new one. */
static void
switch_model_body (IbApplication *application,
                   gpointer       data)
{
  const char *other = data;
  IbMainWindow *window = ib_shell_test_main_window (application);
  IbJobRunner *runner = ib_main_window_get_runner (window);
  IbLoadedModel *first;
  Events events;

  ib_shell_test_wait_ready (application);
  first = ib_application_get_model (application);
  paint_mask (ib_document_get_mask (ib_main_window_get_document (window)));
  events_connect (&events, runner);
  g_action_group_activate_action (G_ACTION_GROUP (window), "generate", NULL);
  IB_SHELL_TEST_WAIT_FOR (events.levels_started->len > 0, JOB_TIMEOUT_MS);

  ib_application_load_model (application, other);
  IB_SHELL_TEST_WAIT_FOR (ib_application_get_model (application) != first
                          && !ib_application_get_model_loading (application), JOB_TIMEOUT_MS);
  g_assert_cmpstr (ib_loaded_model_get_path (ib_application_get_model (application)), ==, other);
  IB_SHELL_TEST_WAIT_FOR (!ib_job_runner_get_running (runner), JOB_TIMEOUT_MS);
  g_assert_cmpint (events.n_failed, ==, 0);
  g_assert_cmpuint (events.levels_started->len, ==, N_LEVELS);

  /* The next job runs on the two-level model. */
  g_array_set_size (events.levels_started, 0);
  g_action_group_activate_action (G_ACTION_GROUP (window), "generate", NULL);
  IB_SHELL_TEST_WAIT_FOR (!ib_job_runner_get_running (runner), JOB_TIMEOUT_MS);
  g_assert_cmpint (events.n_failed, ==, 0);
  g_assert_cmpuint (events.levels_started->len, ==, 2);
  events_disconnect (&events, runner);
}

static void
test_switch_model (void)
{
  g_autofree char *other = ib_shell_test_write_model (2, 16);

  ib_shell_test_run_on_picture (N_LEVELS, 17, 96, 64, switch_model_body, other);
}

/* Quitting during a job with unsaved work: the question, then Discard ends the application promptly. */
static void
quit_body (IbApplication *application,
           gpointer       data)
{
  IbMainWindow *window = ib_shell_test_main_window (application);
  IbJobRunner *runner = ib_main_window_get_runner (window);
  GtkWindow *dialog;
  gint64 start;
  Events events;

  ib_shell_test_wait_ready (application);
  paint_mask (ib_document_get_mask (ib_main_window_get_document (window)));
  events_connect (&events, runner);
  g_action_group_activate_action (G_ACTION_GROUP (window), "generate", NULL);
  IB_SHELL_TEST_WAIT_FOR (events.levels_started->len > 0, JOB_TIMEOUT_MS);
  events_disconnect (&events, runner);

  g_action_group_activate_action (G_ACTION_GROUP (application), "quit", NULL);
  dialog = ib_shell_test_find_toplevel (ADW_TYPE_MESSAGE_DIALOG, GTK_WINDOW (window));
  g_assert_nonnull (dialog);
  start = g_get_monotonic_time ();
  adw_message_dialog_response (ADW_MESSAGE_DIALOG (dialog), "discard");
  IB_SHELL_TEST_WAIT_FOR (gtk_application_get_windows (GTK_APPLICATION (application)) == NULL, 10000);
  /* The worker stops within a decoding step (counted exactly in tests/test-edit-job.c); the window waited
   * for it to let go of the model. The bound is loose for loaded CI machines. */
  g_assert_cmpint (g_get_monotonic_time () - start, <, 15 * G_USEC_PER_SEC);
}

static void
test_quit_during_job (void)
{
  ib_shell_test_run_on_picture (N_LEVELS, 14, 96, 64, quit_body, NULL);
}

/* The bundled model, as a new user meets it: started without --model on one of the bundled sample pictures,
 * its mask and a prompt; generate runs every level of the bundled model to the end, and accepting the result
 * changes the picture inside the mask only. */
static void
bundled_body (IbApplication *application,
              gpointer       data)
{
  const char *mask_path = data;
  const char *screenshot = g_getenv ("IMAGEBART_BUNDLED_SCREENSHOT");
  IbMainWindow *window = ib_shell_test_main_window (application);
  IbJobRunner *runner = ib_main_window_get_runner (window);
  g_autoptr(GError) error = NULL;
  g_autoptr(GdkPixbuf) mask_pixbuf = NULL;
  g_autoptr(IbEditImage) original = NULL;
  g_autofree guint8 *mask_bytes = NULL;
  IbDocument *document;
  IbMask *mask;
  IbLoadedModel *model;
  Events events;
  int n_levels;

  ib_shell_test_wait_ready (application);
  model = ib_application_get_model (application);
  g_assert_true (g_str_has_suffix (ib_loaded_model_get_path (model), "data/models/default.safetensors"));
  n_levels = ib_loaded_model_get_config (model)->n_levels;
  g_assert_cmpint (ib_loaded_model_get_config (model)->conditioning.kind, ==, IB_CONDITIONING_TEXT);

  document = ib_main_window_get_document (window);
  mask = ib_document_get_mask (document);
  original = ib_edit_image_ref (ib_document_get_picture (document));
  mask_pixbuf = gdk_pixbuf_new_from_file (mask_path, &error);
  g_assert_no_error (error);
  int width = gdk_pixbuf_get_width (mask_pixbuf), height = gdk_pixbuf_get_height (mask_pixbuf);
  int channels = gdk_pixbuf_get_n_channels (mask_pixbuf), stride = gdk_pixbuf_get_rowstride (mask_pixbuf);
  g_assert_cmpint (width, ==, ib_mask_get_width (mask));
  g_assert_cmpint (height, ==, ib_mask_get_height (mask));
  mask_bytes = g_malloc ((gsize) width * height);
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      mask_bytes[y * width + x] = gdk_pixbuf_read_pixels (mask_pixbuf)[y * stride + x * channels];
  ib_mask_begin_change (mask);
  ib_mask_set_pixels (mask, &(GdkRectangle) { 0, 0, width, height }, mask_bytes, width);
  ib_mask_end_change (mask);
  g_assert_false (ib_mask_is_empty (mask));
  gtk_editable_set_text (GTK_EDITABLE (ib_test_find_widget (GTK_WIDGET (ib_main_window_get_panel (window)),
                                                            "prompt-entry")), "red apple");

  events_connect (&events, runner);
  g_action_group_activate_action (G_ACTION_GROUP (window), "generate", NULL);
  IB_SHELL_TEST_WAIT_FOR (events.n_done + events.n_failed > 0, JOB_TIMEOUT_MS);
  g_assert_cmpint (events.n_failed, ==, 0);
  g_assert_cmpuint (events.levels_started->len, ==, n_levels);
  g_assert_cmpuint (events.levels_finished->len, ==, n_levels);
  for (int i = 0; i < n_levels; i++)
    g_assert_cmpint (g_array_index (events.levels_finished, int, i), ==, n_levels - i);
  if (screenshot != NULL && screenshot[0] != '\0')
    {
      ib_shell_test_spin (300);
      save_screenshot (window, screenshot);
    }

  g_action_group_activate_action (G_ACTION_GROUP (window), "accept-variant", NULL);
  g_assert_cmpuint (ib_shell_test_count_differences (ib_document_get_picture (document), original, mask,
                                                     IB_SHELL_TEST_OUTSIDE_MASK), ==, 0);
  g_assert_cmpuint (ib_shell_test_count_differences (ib_document_get_picture (document), original, mask,
                                                     IB_SHELL_TEST_INSIDE_MASK), >, 0);
  events_disconnect (&events, runner);
}

static void
test_bundled_model (void)
{
  g_autofree char *mask = NULL;
  g_autofree char *picture = ib_shell_test_sample_picture (&mask);
  const char *argv[] = { picture, NULL };

  ib_shell_test_run (argv, bundled_body, mask);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GSettings) settings = NULL;
  int status;

  ib_shell_test_init (&argc, &argv);
  /* The in-memory settings backend is one per process: the application sees these. */
  settings = g_settings_new ("org.imagebart.Studio");
  g_settings_set_int (settings, "default-variants", N_VARIANTS);
  g_settings_set_string (settings, "engine", "cpu");

  g_test_add_func ("/app/generate-e2e/generate-accept-undo", test_generate);
  g_test_add_func ("/app/generate-e2e/cancel", test_cancel);
  g_test_add_func ("/app/generate-e2e/resample-from", test_resample);
  g_test_add_func ("/app/generate-e2e/switch-model", test_switch_model);
  g_test_add_func ("/app/generate-e2e/quit-during-job", test_quit_during_job);
  g_test_add_func ("/app/generate-e2e/device-failure", test_device_failure);
  g_test_add_func ("/app/generate-e2e/missing-device", test_missing_device);
  g_test_add_func ("/app/generate-e2e/bundled-model", test_bundled_model);
  status = g_test_run ();
  ib_shell_test_cleanup ();
  return status;
}
