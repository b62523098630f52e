/* test-shm-pool.c: under GTK's cairo renderer on X11 (the tests' Xvfb), the kept pool of cairo's shared
 * memory: a segment large enough for a frame of the whole screen, and frames of changing sizes drawn from it,
 * neither making a segment nor destroying one. */
#include <gtk/gtk.h>
#include <stdio.h>
#include <unistd.h>
#ifdef GDK_WINDOWING_X11
#include <gdk/x11/gdkx.h>
#endif

#include "ib-shm-pool.h"
#include "ib-studio.h"

/* "id:size" of each System V shared-memory segment this process made, in /proc's order. */
static char *
own_segments (gsize *largest)
{
  g_autofree char *table = NULL;
  GString *segments = g_string_new (NULL);

  *largest = 0;
  g_assert_true (g_file_get_contents ("/proc/sysvipc/shm", &table, NULL, NULL));
  g_auto (GStrv) lines = g_strsplit (table, "\n", -1);
  for (char **line = lines + 1; *line != NULL; line++)
    {
      long long key, id, size, creator;
      unsigned perms;
      if (sscanf (*line, "%lld %lld %o %lld %lld", &key, &id, &perms, &size, &creator) != 5 || creator != getpid ())
        continue;
      g_string_append_printf (segments, "%lld:%lld ", id, size);
      *largest = MAX (*largest, (gsize) size);
    }
  return g_string_free (segments, FALSE);
}

static void
draw_cb (GtkDrawingArea *area,
         cairo_t        *cr,
         int             width,
         int             height,
         gpointer        data)
{
  int *n_drawn = data;
  cairo_set_source_rgb (cr, (*n_drawn)++ % 2, 0.5, 0.25);
  cairo_paint (cr);
}

/* Draws the area (width x height of the window) anew and waits until it has been. */
static void
draw_frame (GtkWidget *area,
            int        width,
            int        height,
            int       *n_drawn)
{
  int before = *n_drawn;
  gint64 deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;

  gtk_widget_set_size_request (area, width, height);
  gtk_widget_queue_draw (area);
  while (*n_drawn == before)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, TRUE);
    }
}

static void
test_kept (void)
{
#ifdef GDK_WINDOWING_X11
  gboolean x11 = GDK_IS_X11_DISPLAY (gdk_display_get_default ());
#else
  gboolean x11 = FALSE;
#endif
  if (!x11)
    {
      g_test_skip ("cairo's shared-memory pools belong to its X11 backend");
      return;
    }
  int n_drawn = 0;
  GtkWidget *window = gtk_window_new ();
  GtkWidget *area = gtk_drawing_area_new ();
  gtk_drawing_area_set_draw_func (GTK_DRAWING_AREA (area), draw_cb, &n_drawn, NULL);
  gtk_widget_set_halign (area, GTK_ALIGN_START);
  gtk_widget_set_valign (area, GTK_ALIGN_START);
  gtk_window_set_child (GTK_WINDOW (window), area);
  gtk_window_set_default_size (GTK_WINDOW (window), 900, 700);
  gtk_window_present (GTK_WINDOW (window));
  draw_frame (area, 900, 700, &n_drawn);
  g_assert_true (ib_keep_shm_pool (window));
  g_assert_true (ib_keep_shm_pool (window));           /* once per display */

  /* A segment with room for a frame of the whole screen (Xvfb's, the display's only monitor). */
  GdkMonitor *monitor = g_list_model_get_item (gdk_display_get_monitors (gdk_display_get_default ()), 0);
  GdkRectangle screen;
  gdk_monitor_get_geometry (monitor, &screen);
  g_object_unref (monitor);
  gsize largest;
  g_autofree char *kept = own_segments (&largest);
  g_assert_cmpuint (largest, >=, (gsize) screen.width * screen.height * 4);

  /* Small frames and window-wide ones, alternating: the same segments throughout. */
  for (int i = 0; i < 6; i++)
    {
      draw_frame (area, 40 + i, 30, &n_drawn);
      draw_frame (area, 900, 700, &n_drawn);
      draw_frame (area, 200, 100 + i, &n_drawn);
    }
  g_autofree char *after = own_segments (&largest);
  g_assert_cmpstr (after, ==, kept);
  gtk_window_destroy (GTK_WINDOW (window));
}

int
main (int    argc,
      char **argv)
{
  ib_studio_init ();
  gtk_test_init (&argc, &argv, NULL);
  g_test_add_func ("/app/shm-pool/kept", test_kept);
  return g_test_run ();
}
