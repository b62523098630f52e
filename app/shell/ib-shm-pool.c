/* ib-shm-pool.c: cairo's X11 shared memory, kept for the frames of GTK's cairo renderer (ib-shm-pool.h). */
#include "ib-shm-pool.h"

#include "ib-texture-pyramid.h"

#if defined(GDK_WINDOWING_X11) && defined(IB_HAVE_CAIRO_XLIB)
#include <cairo-xlib.h>
#include <gdk/x11/gdkx.h>
#endif

#define KEPT_KEY "ib-shm-pool-kept"

#if defined(GDK_WINDOWING_X11) && defined(IB_HAVE_CAIRO_XLIB)
/* The device pixels of the display's largest monitor (at least 1 x 1). */
static void
largest_monitor (GdkDisplay *display,
                 int        *width,
                 int        *height)
{
  GListModel *monitors = gdk_display_get_monitors (display);
  gint64 largest = 0;

  *width = *height = 1;
  for (guint i = 0; i < g_list_model_get_n_items (monitors); i++)
    {
      g_autoptr (GdkMonitor) monitor = g_list_model_get_item (monitors, i);
      GdkRectangle geometry;
      int scale = gdk_monitor_get_scale_factor (monitor);
      gdk_monitor_get_geometry (monitor, &geometry);
      if ((gint64) geometry.width * scale * geometry.height * scale > largest)
        {
          *width = geometry.width * scale;
          *height = geometry.height * scale;
          largest = (gint64) *width * *height;
        }
    }
}

/* A surface in a pool with room for a frame the size of the largest monitor, made by asking cairo for an image
 * of that size (a new pool, whose first block it also pages in) and then for a small one from the same pool,
 * the newest, which cairo searches first; the large one is given back to the pool for the frames. */
static cairo_surface_t *
hold_pool (GdkDisplay *display)
{
  Display *xdisplay = gdk_x11_display_get_xdisplay (display);
  int screen = DefaultScreen (xdisplay), width, height;
  cairo_surface_t *root = cairo_xlib_surface_create (xdisplay, RootWindow (xdisplay, screen),
                                                     DefaultVisual (xdisplay, screen), 1, 1);

  largest_monitor (display, &width, &height);
  cairo_surface_t *frame = cairo_surface_create_similar_image (root, CAIRO_FORMAT_ARGB32, width, height);
  cairo_surface_t *held = cairo_surface_create_similar_image (root, CAIRO_FORMAT_ARGB32, 64, 64);
  cairo_surface_destroy (frame);
  cairo_surface_destroy (root);
  return held;
}
#endif

gboolean
ib_keep_shm_pool (GtkWidget *widget)
{
  g_return_val_if_fail (GTK_IS_WIDGET (widget), FALSE);

  GdkDisplay *display = gtk_widget_get_display (widget);
  if (g_object_get_data (G_OBJECT (display), KEPT_KEY) != NULL)
    return TRUE;
#if defined(GDK_WINDOWING_X11) && defined(IB_HAVE_CAIRO_XLIB)
  if (GDK_IS_X11_DISPLAY (display) && ib_widget_renders_with_cairo (widget))
    {
      g_object_set_data_full (G_OBJECT (display), KEPT_KEY, hold_pool (display),
                              (GDestroyNotify) cairo_surface_destroy);
      return TRUE;
    }
#endif
  return FALSE;
}
