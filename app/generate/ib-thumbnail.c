/* ib-thumbnail.c: a small texture drawn to fit (see ib-thumbnail.h). */
#include "ib-thumbnail.h"

#include <math.h>

#include "ib-texture-pyramid.h"

struct _IbThumbnail
{
  GtkWidget parent_instance;

  GdkTexture *texture;
  cairo_surface_t *drawn;       /* under the cairo renderer: the texture at the size drawn, or NULL */
  int minimum_size;
  int natural_size;
};

G_DEFINE_FINAL_TYPE (IbThumbnail, ib_thumbnail, GTK_TYPE_WIDGET)

static void
ib_thumbnail_measure (GtkWidget      *widget,
                      GtkOrientation  orientation,
                      int             for_size,
                      int            *minimum,
                      int            *natural,
                      int            *minimum_baseline,
                      int            *natural_baseline)
{
  IbThumbnail *self = IB_THUMBNAIL (widget);

  *minimum = self->minimum_size;
  *natural = MAX (self->minimum_size, self->natural_size);
  /* As tall as the texture's shape asks at the width given, as GtkPicture is: no empty bands above and below. */
  if (orientation == GTK_ORIENTATION_VERTICAL && for_size >= 0)
    {
      double aspect = self->texture != NULL
        ? (double) gdk_texture_get_height (self->texture) / gdk_texture_get_width (self->texture) : 1.0;
      *natural = MAX (self->minimum_size, (int) ceil (for_size * aspect));
    }
  *minimum_baseline = *natural_baseline = -1;
}

static GtkSizeRequestMode
ib_thumbnail_get_request_mode (GtkWidget *widget)
{
  return GTK_SIZE_REQUEST_HEIGHT_FOR_WIDTH;
}

/* The texture's surface at width x height device pixels, made once for each texture and size, so that the cairo
 * renderer copies it without scaling. */
static cairo_surface_t *
drawn_surface (IbThumbnail     *self,
               cairo_surface_t *source,
               int              width,
               int              height)
{
  if (self->drawn == NULL || cairo_image_surface_get_width (self->drawn) != width
      || cairo_image_surface_get_height (self->drawn) != height)
    {
      g_clear_pointer (&self->drawn, cairo_surface_destroy);
      self->drawn = ib_surface_scaled (source, width, height);
    }
  return self->drawn;
}

/* The texture fitted into the widget, centred: its bounds, whole device pixels. */
static void
fitted_bounds (IbThumbnail     *self,
               int              scale,
               graphene_rect_t *bounds)
{
  int width = gtk_widget_get_width (GTK_WIDGET (self)) * scale;
  int height = gtk_widget_get_height (GTK_WIDGET (self)) * scale;
  int texture_width = gdk_texture_get_width (self->texture), texture_height = gdk_texture_get_height (self->texture);
  double fit = MIN ((double) width / texture_width, (double) height / texture_height);
  int drawn_width = MAX (1, (int) round (texture_width * fit));
  int drawn_height = MAX (1, (int) round (texture_height * fit));

  graphene_rect_init (bounds,
                      (double) ((width - drawn_width) / 2) / scale, (double) ((height - drawn_height) / 2) / scale,
                      (double) drawn_width / scale, (double) drawn_height / scale);
}

static void
ib_thumbnail_snapshot (GtkWidget   *widget,
                       GtkSnapshot *snapshot)
{
  IbThumbnail *self = IB_THUMBNAIL (widget);
  if (self->texture == NULL)
    return;

  int scale = gtk_widget_get_scale_factor (widget);
  graphene_rect_t bounds;
  fitted_bounds (self, scale, &bounds);
  cairo_surface_t *source = ib_texture_get_surface (self->texture);
  if (source == NULL || !ib_widget_renders_with_cairo (widget))
    {
      gtk_snapshot_append_texture (snapshot, self->texture, &bounds);
      return;
    }

  cairo_surface_t *drawn = drawn_surface (self, source, (int) round (bounds.size.width * scale),
                                          (int) round (bounds.size.height * scale));
  cairo_t *cr = gtk_snapshot_append_cairo (snapshot, &bounds);
  cairo_translate (cr, bounds.origin.x, bounds.origin.y);
  cairo_scale (cr, 1.0 / scale, 1.0 / scale);
  cairo_set_source_surface (cr, drawn, 0, 0);
  cairo_paint (cr);
  cairo_destroy (cr);
}

static void
ib_thumbnail_dispose (GObject *object)
{
  IbThumbnail *self = IB_THUMBNAIL (object);

  g_clear_object (&self->texture);
  g_clear_pointer (&self->drawn, cairo_surface_destroy);
  G_OBJECT_CLASS (ib_thumbnail_parent_class)->dispose (object);
}

static void
ib_thumbnail_class_init (IbThumbnailClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = ib_thumbnail_dispose;
  widget_class->measure = ib_thumbnail_measure;
  widget_class->get_request_mode = ib_thumbnail_get_request_mode;
  widget_class->snapshot = ib_thumbnail_snapshot;
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void
ib_thumbnail_init (IbThumbnail *self)
{
}

GtkWidget *
ib_thumbnail_new (int minimum_size,
                  int natural_size)
{
  IbThumbnail *self = g_object_new (IB_TYPE_THUMBNAIL, NULL);

  self->minimum_size = minimum_size;
  self->natural_size = natural_size;
  return GTK_WIDGET (self);
}

void
ib_thumbnail_set_texture (IbThumbnail *self,
                          GdkTexture  *texture)
{
  g_return_if_fail (IB_IS_THUMBNAIL (self));
  g_return_if_fail (texture == NULL || GDK_IS_TEXTURE (texture));

  GdkTexture *old = self->texture;
  gboolean same_shape = old != NULL && texture != NULL && gdk_texture_get_width (old) == gdk_texture_get_width (texture)
                        && gdk_texture_get_height (old) == gdk_texture_get_height (texture);
  if (!g_set_object (&self->texture, texture))
    return;
  g_clear_pointer (&self->drawn, cairo_surface_destroy);
  /* Only a new shape changes the size asked for: each level's new thumbnail must not re-lay out the window. */
  if (same_shape)
    gtk_widget_queue_draw (GTK_WIDGET (self));
  else
    gtk_widget_queue_resize (GTK_WIDGET (self));
}

GdkTexture *
ib_thumbnail_get_texture (IbThumbnail *self)
{
  g_return_val_if_fail (IB_IS_THUMBNAIL (self), NULL);
  return self->texture;
}
