/* test-level-strip.c: IbLevelStrip fed by hand (cells per level, progress, thumbnails per variant, clicks,
 * a resumed job keeping the coarser levels, a new start level) and following a real IbJobRunner together
 * with an IbVariantGallery. */
#include <string.h>

#include <gtk/gtk.h>

#include "../ib-test-model.h"
#include "ib-generate-test.h"
#include "ib-level-strip.h"
#include "ib-studio.h"
#include "ib-thumbnail.h"
#include "ib-variant-gallery.h"


/* A part of a level's cell: "level-picture", "level-button", "level-progress" or "level-resample". */
static GtkWidget *
cell_part (GtkWidget  *strip,
           int         level,
           const char *part)
{
  g_autofree char *name = g_strdup_printf ("level-%d", level);
  GtkWidget *cell = ib_test_find_widget (strip, name);
  g_assert_nonnull (cell);
  GtkWidget *widget = ib_test_find_widget (cell, part);
  g_assert_nonnull (widget);
  return widget;
}

static int
shown_width (GtkWidget *strip,
             int        level)
{
  GdkPaintable *paintable = GDK_PAINTABLE (ib_thumbnail_get_texture (IB_THUMBNAIL (cell_part (strip, level, "level-picture"))));
  return paintable != NULL ? gdk_paintable_get_intrinsic_width (paintable) : 0;
}

/* Two variants told apart by their widths. */
static GPtrArray *
previews_new (void)
{
  GPtrArray *previews = g_ptr_array_new_with_free_func ((GDestroyNotify) ib_edit_image_unref);
  for (int v = 0; v < 2; v++)
    {
      IbEditImage *image = ib_edit_image_new (2, 3, 10 + v, 8);
      memset (image->pixels, 200, (gsize) image->stride * image->height);
      g_ptr_array_add (previews, image);
    }
  return previews;
}

/* level-activated, resample-from, accepted: the last argument heard. */
static void
count_cb (GtkWidget *widget,
          int        value,
          int       *last)
{
  *last = value;
}

static void
test_feed (void)
{
  GtkWidget *strip = g_object_ref_sink (ib_level_strip_new ());
  IbLevelStrip *self = IB_LEVEL_STRIP (strip);
  g_autoptr (GPtrArray) previews = previews_new ();
  int activated = 0, resampled = 0;
  g_signal_connect (strip, "level-activated", G_CALLBACK (count_cb), &activated);
  g_signal_connect (strip, "resample-from", G_CALLBACK (count_cb), &resampled);

  g_assert_true (gtk_widget_get_visible (ib_test_find_widget (strip, "placeholder")));
  ib_level_strip_begin (self, 3, 3);
  g_assert_false (gtk_widget_get_visible (ib_test_find_widget (strip, "placeholder")));
  /* Coarse to fine, empty. */
  GtkWidget *cells = ib_test_find_widget (strip, "cells-box");
  g_assert_cmpstr (gtk_widget_get_name (gtk_widget_get_first_child (cells)), ==, "level-3");
  g_assert_cmpstr (gtk_widget_get_name (gtk_widget_get_last_child (cells)), ==, "level-1");
  for (int t = 1; t <= 3; t++)
    {
      g_assert_cmpint (shown_width (strip, t), ==, 0);
      g_assert_false (gtk_widget_get_sensitive (cell_part (strip, t, "level-resample")));
    }

  ib_level_strip_level_started (self, 3, 1);
  GtkProgressBar *progress = GTK_PROGRESS_BAR (cell_part (strip, 3, "level-progress"));
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (progress)));
  ib_level_strip_progress (self, 3, 5, 16);
  g_assert_cmpstr (gtk_progress_bar_get_text (progress), ==, "5/16");
  g_assert_cmpfloat_with_epsilon (gtk_progress_bar_get_fraction (progress), 5.0 / 16, 1e-9);
  /* A click on a level still running does nothing. */
  g_signal_emit_by_name (cell_part (strip, 3, "level-button"), "clicked");
  g_assert_cmpint (activated, ==, 0);

  ib_level_strip_level_finished (self, 3, previews);
  g_assert_false (gtk_widget_get_visible (GTK_WIDGET (progress)));
  g_assert_cmpint (shown_width (strip, 3), ==, 10);
  g_assert_true (ib_level_strip_get_preview (self, 3) == g_ptr_array_index (previews, 0));
  g_assert_null (ib_level_strip_get_preview (self, 2));
  ib_level_strip_set_variant (self, 1);
  g_assert_cmpint (shown_width (strip, 3), ==, 11);
  g_assert_true (ib_level_strip_get_preview (self, 3) == g_ptr_array_index (previews, 1));
  g_signal_emit_by_name (cell_part (strip, 3, "level-button"), "clicked");
  g_assert_cmpint (activated, ==, 3);
  g_assert_true (gtk_widget_get_sensitive (cell_part (strip, 3, "level-resample")));
  g_signal_emit_by_name (cell_part (strip, 3, "level-resample"), "clicked");
  g_assert_cmpint (resampled, ==, 3);
  ib_level_strip_level_finished (self, 2, previews);
  ib_level_strip_level_started (self, 1, 1);
  ib_level_strip_end (self);
  g_assert_false (gtk_widget_get_visible (cell_part (strip, 1, "level-progress")));

  /* Resumed at level 2 from variant 1: level 3 keeps variant 1's thumbnail for every variant. */
  ib_level_strip_begin (self, 3, 2);
  g_assert_true (ib_level_strip_get_preview (self, 3) == g_ptr_array_index (previews, 1));
  ib_level_strip_set_variant (self, 0);
  g_assert_cmpint (shown_width (strip, 3), ==, 11);
  g_assert_null (ib_level_strip_get_preview (self, 2));
  g_assert_cmpint (shown_width (strip, 2), ==, 0);

  /* Another strength: other cells. */
  ib_level_strip_begin (self, 2, 2);
  g_assert_null (ib_test_find_widget (strip, "level-3"));
  g_assert_null (ib_level_strip_get_preview (self, 2));
  ib_level_strip_clear (self);
  g_assert_null (ib_test_find_widget (strip, "level-2"));
  g_assert_true (gtk_widget_get_visible (ib_test_find_widget (strip, "placeholder")));
  g_object_unref (strip);
}

static int
natural_height (GtkWidget *widget)
{
  int minimum, natural;
  gtk_widget_measure (widget, GTK_ORIENTATION_VERTICAL, -1, &minimum, &natural, NULL, NULL);
  return natural;
}

/* The strip is as tall with its placeholder as with its cells, running or finished, whatever the previews'
 * shape: the canvas above it must keep its size while a job runs. */
static void
test_constant_height (void)
{
  GtkWidget *window = gtk_window_new ();
  GtkWidget *strip = ib_level_strip_new ();
  IbLevelStrip *self = IB_LEVEL_STRIP (strip);
  g_autoptr (GPtrArray) tall = g_ptr_array_new_with_free_func ((GDestroyNotify) ib_edit_image_unref);
  IbEditImage *image = ib_edit_image_new (0, 0, 8, 30);

  memset (image->pixels, 90, (gsize) image->stride * image->height);
  g_ptr_array_add (tall, image);
  gtk_window_set_child (GTK_WINDOW (window), strip);
  int height = natural_height (strip);
  g_assert_cmpint (height, >=, 72);

  ib_level_strip_begin (self, 3, 3);
  g_assert_cmpint (natural_height (strip), ==, height);
  ib_level_strip_level_started (self, 3, 1);
  ib_level_strip_progress (self, 3, 12, 64);
  g_assert_true (gtk_widget_get_visible (cell_part (strip, 3, "level-progress")));
  g_assert_cmpint (natural_height (strip), ==, height);
  ib_level_strip_level_finished (self, 3, tall);
  g_assert_cmpint (natural_height (strip), ==, height);
  ib_level_strip_level_started (self, 2, 1);
  g_assert_cmpint (natural_height (strip), ==, height);
  ib_level_strip_end (self);
  g_assert_cmpint (natural_height (strip), ==, height);
  ib_level_strip_clear (self);
  g_assert_cmpint (natural_height (strip), ==, height);
  gtk_window_destroy (GTK_WINDOW (window));
}

static void
ended_cb (IbJobRunner *runner,
          gpointer     unused,
          gboolean    *ended)
{
  *ended = TRUE;
}

/* The shell's wiring: strip and gallery following one runner through a real job. */
static void
test_follow_runner (void)
{
  IbTestModelSpec spec;
  ib_test_model_spec_init (&spec);
  g_autoptr (GBytes) bytes = ib_test_model_build (&spec);
  g_autoptr (GError) error = NULL;
  IbModelFile *file = ib_model_file_new_from_bytes (bytes, "test model", &error);
  g_assert_no_error (error);
  int width = 20, height = 18;
  g_autofree guint8 *rgba = g_malloc ((gsize) width * height * 4);
  g_autofree guint8 *mask = g_malloc0 ((gsize) width * height);
  memset (rgba, 90, (gsize) width * height * 4);
  for (int y = 4; y < 12; y++)
    memset (mask + y * width + 3, 255, 9);
  IbEditRequest request;
  ib_edit_request_init (&request, ib_model_file_get_config (file));
  request.image = rgba;
  request.width = request.mask_width = width;
  request.height = request.mask_height = height;
  request.stride = width * 4;
  request.mask = mask;
  request.mask_stride = width;
  request.settings.n_variants = 3;

  IbJobRunner *runner = ib_job_runner_new ();
  GtkWidget *strip = g_object_ref_sink (ib_level_strip_new ());
  GtkWidget *gallery = g_object_ref_sink (ib_variant_gallery_new ());
  ib_level_strip_set_runner (IB_LEVEL_STRIP (strip), runner);
  ib_variant_gallery_set_runner (IB_VARIANT_GALLERY (gallery), runner);
  gboolean ended = FALSE;
  g_signal_connect (runner, "done", G_CALLBACK (ended_cb), &ended);
  g_assert_true (ib_job_runner_start (runner, file, &request, &error));
  g_assert_no_error (error);
  gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  while (!ended)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, TRUE);
    }

  for (int t = 1; t <= 2; t++)
    {
      IbEditImage *preview = ib_level_strip_get_preview (IB_LEVEL_STRIP (strip), t);
      g_assert_nonnull (preview);
      g_assert_cmpint (preview->x, ==, 3);
      g_assert_cmpint (preview->width, ==, 9);
      g_assert_cmpint (shown_width (strip, t), ==, 9);
    }
  g_assert_cmpint (ib_variant_gallery_get_selected (IB_VARIANT_GALLERY (gallery)), ==, 0);
  g_assert_nonnull (ib_test_find_widget (gallery, "variant-2"));
  int accepted = -1;
  g_signal_connect (gallery, "accepted", G_CALLBACK (count_cb), &accepted);
  ib_variant_gallery_set_selected (IB_VARIANT_GALLERY (gallery), 2);
  gtk_widget_activate_action (gallery, "gallery.accept", NULL);
  g_assert_cmpint (accepted, ==, 2);

  /* A new job empties both. */
  request.settings.start_level = 1;
  g_assert_true (ib_job_runner_start (runner, file, &request, &error));
  g_assert_null (ib_level_strip_get_preview (IB_LEVEL_STRIP (strip), 1));
  g_assert_null (ib_test_find_widget (gallery, "variant-0"));
  accepted = -1;
  gtk_widget_activate_action (gallery, "gallery.accept", NULL);
  g_assert_cmpint (accepted, ==, -1);
  /* The widgets let go of the runner; the runner stops before the model file closes. */
  g_object_unref (strip);
  g_object_unref (gallery);
  g_object_unref (runner);
  ib_model_file_free (file);
}

int
main (int    argc,
      char **argv)
{
  ib_studio_init ();
  gtk_test_init (&argc, &argv, NULL);
  g_test_add_func ("/app/level-strip/feed", test_feed);
  g_test_add_func ("/app/level-strip/constant-height", test_constant_height);
  g_test_add_func ("/app/level-strip/follow-runner", test_follow_runner);
  return g_test_run ();
}
