/* ib-canvas-magnify.c: magnified picture pixels as crisp squares under GTK's GPU renderers.
 *
 * GTK 4.8 filters every texture node linearly (a node's scaling filter came with 4.10), so a picture magnified
 * 8 times showed each pixel as a blurred blob rather than the square that the mask is painted over. From zoom 2
 * the canvas therefore draws, instead of the texture, a texture of the part the view shows at the view's device
 * pixels, each the surface pixel under its centre (nearest filtering), which the renderer draws one to one.
 * The textures are kept per surface while the view stays the same, so a frame of painting re-makes only the
 * mask tiles the brush changed; a frame that pans or zooms re-makes what shows, about one view of pixels. */
#include "ib-canvas-private.h"

#include <math.h>
#include <string.h>

/* A surface's magnified texture and the view it was made for. */
typedef struct
{
  cairo_surface_t *surface;     /* referenced, so that no other surface takes its address while cached */
  double zoom, origin_x, origin_y;
  double x, y, width, height;
  int view_width, view_height, scale;
  GdkTexture *texture;          /* NULL when none of it shows */
  graphene_rect_t bounds;
  guint frame;                  /* the last frame that drew it */
} Magnified;

static void
magnified_free (Magnified *m)
{
  cairo_surface_destroy (m->surface);
  g_clear_object (&m->texture);
  g_free (m);
}

static gboolean
same_view (const Magnified *a,
           const Magnified *b)
{
  return a->zoom == b->zoom && a->origin_x == b->origin_x && a->origin_y == b->origin_y && a->x == b->x &&
         a->y == b->y && a->width == b->width && a->height == b->height && a->view_width == b->view_width &&
         a->view_height == b->view_height && a->scale == b->scale;
}

/* The source index under each of n device pixels from first on, along an axis where the surface's n_source
 * pixels span device pixels [start, end); -1 outside it. */
static void
source_indices (int   *indices,
                int    first,
                int    n,
                double start,
                double end,
                int    n_source)
{
  for (int i = 0; i < n; i++)
    {
      double u = (first + i + 0.5 - start) / (end - start) * n_source;
      indices[i] = u >= 0 && u < n_source ? (int) u : -1;
    }
}

/* m's texture (m has none) and bounds (widget coordinates) for its view: the visible device pixels of the surface's
 * rectangle, each the nearest surface pixel; transparent where a device pixel's centre lies outside it. */
static void
magnify (Magnified *m)
{
  int sw = cairo_image_surface_get_width (m->surface), sh = cairo_image_surface_get_height (m->surface);
  int s = m->scale;
  double left = (m->origin_x + m->x * m->zoom) * s, right = (m->origin_x + (m->x + m->width) * m->zoom) * s;
  double top = (m->origin_y + m->y * m->zoom) * s, bottom = (m->origin_y + (m->y + m->height) * m->zoom) * s;
  int x0 = (int) MAX (0, floor (left)), x1 = (int) MIN ((double) m->view_width * s, ceil (right));
  int y0 = (int) MAX (0, floor (top)), y1 = (int) MIN ((double) m->view_height * s, ceil (bottom));

  if (x0 >= x1 || y0 >= y1 || sw <= 0 || sh <= 0)
    return;
  int width = x1 - x0, height = y1 - y0;
  g_autofree int *columns = g_new (int, width);
  g_autofree int *rows = g_new (int, height);
  source_indices (columns, x0, width, left, right, sw);
  source_indices (rows, y0, height, top, bottom, sh);

  cairo_surface_flush (m->surface);
  const guint8 *source = cairo_image_surface_get_data (m->surface);
  int source_stride = cairo_image_surface_get_stride (m->surface);
  guint32 *pixels = g_malloc ((gsize) width * height * 4);
  for (int j = 0; j < height; j++)
    {
      guint32 *out = pixels + (gsize) j * width;

      /* Magnified, most rows repeat the one above. */
      if (j > 0 && rows[j] == rows[j - 1])
        memcpy (out, out - width, (gsize) width * 4);
      else if (rows[j] < 0)
        memset (out, 0, (gsize) width * 4);
      else
        {
          const guint32 *in = (const guint32 *) (source + (gsize) rows[j] * source_stride);
          for (int i = 0; i < width; i++)
            out[i] = columns[i] >= 0 ? in[columns[i]] : 0;
        }
    }
  g_autoptr (GBytes) bytes = g_bytes_new_take (pixels, (gsize) width * height * 4);
  m->texture = gdk_memory_texture_new (width, height, GDK_MEMORY_DEFAULT, bytes, (gsize) width * 4);
  m->bounds = GRAPHENE_RECT_INIT ((float) x0 / s, (float) y0 / s, (float) width / s, (float) height / s);
}

void
ib_canvas_magnify_begin_frame (IbCanvas *self)
{
  if (self->magnified == NULL)
    self->magnified = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) magnified_free);
  self->magnify_frame++;
}

void
ib_canvas_append_magnified (IbCanvas        *self,
                            GtkSnapshot     *snapshot,
                            cairo_surface_t *surface,
                            double           x,
                            double           y,
                            double           width,
                            double           height)
{
  GtkWidget *widget = GTK_WIDGET (self);
  Magnified want = {
    .zoom = self->zoom, .x = x, .y = y, .width = width, .height = height,
    .view_width = gtk_widget_get_width (widget), .view_height = gtk_widget_get_height (widget),
    .scale = gtk_widget_get_scale_factor (widget),
  };

  g_return_if_fail (cairo_image_surface_get_format (surface) == CAIRO_FORMAT_ARGB32);
  ib_canvas_picture_to_widget (self, 0, 0, &want.origin_x, &want.origin_y);
  Magnified *m = g_hash_table_lookup (self->magnified, surface);
  if (m == NULL || !same_view (m, &want))
    {
      if (m == NULL)
        {
          m = g_new0 (Magnified, 1);
          m->surface = cairo_surface_reference (surface);
          g_hash_table_insert (self->magnified, surface, m);
        }
      g_clear_object (&m->texture);
      want.surface = m->surface;
      *m = want;
      magnify (m);
      self->n_magnified++;
    }
  m->frame = self->magnify_frame;
  if (m->texture != NULL)
    gtk_snapshot_append_texture (snapshot, m->texture, &m->bounds);
}

static gboolean
not_drawn (gpointer key,
           gpointer value,
           gpointer user_data)
{
  const Magnified *m = value;
  const IbCanvas *self = user_data;

  return m->frame != self->magnify_frame;
}

void
ib_canvas_magnify_end_frame (IbCanvas *self)
{
  g_hash_table_foreach_remove (self->magnified, not_drawn, self);
}

void
ib_canvas_magnify_free (IbCanvas *self)
{
  g_clear_pointer (&self->magnified, g_hash_table_unref);
}

guint
ib_canvas_get_n_magnified (IbCanvas *self)
{
  g_return_val_if_fail (IB_IS_CANVAS (self), 0);
  return self->n_magnified;
}
