/* ib-canvas.c: the canvas widget: its properties and actions, the view (zoom, scroll adjustments, the
 * widget <-> picture mapping) and drawing. Input is in ib-canvas-input.c, the overlays in
 * ib-canvas-overlay.c. */
#include "ib-canvas-private.h"

#include <math.h>

#define BRUSH_MIN 1.0
#define BRUSH_MAX 2000.0

enum
{
  PROP_0,
  PROP_ZOOM,
  PROP_TOOL,
  PROP_BRUSH_SIZE,
  PROP_BRUSH_HARDNESS,
  PROP_SHOW_MASK,
  PROP_MASK_COLOUR,
  PROP_MASK_OPACITY,
  PROP_SHOW_TOKEN_GRID,
  PROP_GRID_COLOUR,
  PROP_SHOW_ORIGINAL,
  N_PROPS,
  /* GtkScrollable's */
  PROP_HADJUSTMENT = N_PROPS,
  PROP_VADJUSTMENT,
  PROP_HSCROLL_POLICY,
  PROP_VSCROLL_POLICY,
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_ENUM_TYPE (IbCanvasTool, ib_canvas_tool,
  G_DEFINE_ENUM_VALUE (IB_CANVAS_TOOL_BRUSH, "brush"),
  G_DEFINE_ENUM_VALUE (IB_CANVAS_TOOL_ERASER, "eraser"),
  G_DEFINE_ENUM_VALUE (IB_CANVAS_TOOL_RECTANGLE, "rectangle"),
  G_DEFINE_ENUM_VALUE (IB_CANVAS_TOOL_LASSO, "lasso"))

G_DEFINE_FINAL_TYPE_WITH_CODE (IbCanvas, ib_canvas, GTK_TYPE_WIDGET,
                               G_IMPLEMENT_INTERFACE (GTK_TYPE_SCROLLABLE, NULL))


double
ib_canvas_get_picture_width (IbCanvas *self)
{
  if (self->picture != NULL)
    return gdk_texture_get_width (self->picture);
  return self->mask != NULL ? ib_mask_get_width (self->mask) : 0;
}

double
ib_canvas_get_picture_height (IbCanvas *self)
{
  if (self->picture != NULL)
    return gdk_texture_get_height (self->picture);
  return self->mask != NULL ? ib_mask_get_height (self->mask) : 0;
}

/* Where the picture's origin is on one axis: scrolled when larger than the view, centred when smaller. */
static double
axis_origin (GtkAdjustment *adj,
             double         content,
             double         page)
{
  if (content < page)
    return (page - content) / 2;
  return -gtk_adjustment_get_value (adj);
}

void
ib_canvas_picture_to_widget (IbCanvas *self,
                             double    picture_x,
                             double    picture_y,
                             double   *x,
                             double   *y)
{
  GtkWidget *widget = GTK_WIDGET (self);

  g_return_if_fail (IB_IS_CANVAS (self));
  *x = picture_x * self->zoom + axis_origin (self->hadjustment, ib_canvas_get_picture_width (self) * self->zoom,
                                             gtk_widget_get_width (widget));
  *y = picture_y * self->zoom + axis_origin (self->vadjustment, ib_canvas_get_picture_height (self) * self->zoom,
                                             gtk_widget_get_height (widget));
}

void
ib_canvas_widget_to_picture (IbCanvas *self,
                             double    x,
                             double    y,
                             double   *picture_x,
                             double   *picture_y)
{
  double ox, oy;

  g_return_if_fail (IB_IS_CANVAS (self));
  ib_canvas_picture_to_widget (self, 0, 0, &ox, &oy);
  *picture_x = (x - ox) / self->zoom;
  *picture_y = (y - oy) / self->zoom;
}

static void
configure_axis (GtkAdjustment *adj,
                double         content,
                double         page)
{
  double upper = MAX (content, page);

  gtk_adjustment_configure (adj, CLAMP (gtk_adjustment_get_value (adj), 0, upper - page), 0, upper,
                            page * 0.1, page * 0.9, page);
}

void
ib_canvas_update_adjustments (IbCanvas *self)
{
  GtkWidget *widget = GTK_WIDGET (self);

  if (self->hadjustment == NULL || self->vadjustment == NULL)
    return;                     /* in init, between the two */
  configure_axis (self->hadjustment, ib_canvas_get_picture_width (self) * self->zoom,
                  gtk_widget_get_width (widget));
  configure_axis (self->vadjustment, ib_canvas_get_picture_height (self) * self->zoom,
                  gtk_widget_get_height (widget));
}

static void
adjustment_value_changed_cb (GtkAdjustment *adj,
                             IbCanvas      *self)
{
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
set_adjustment (IbCanvas       *self,
                GtkAdjustment **slot,
                GtkAdjustment  *adj,
                guint           prop_id)
{
  if (adj == NULL)
    adj = gtk_adjustment_new (0, 0, 0, 0, 0, 0);
  if (*slot == adj)
    return;
  if (*slot != NULL)
    {
      g_signal_handlers_disconnect_by_func (*slot, adjustment_value_changed_cb, self);
      g_object_unref (*slot);
    }
  *slot = g_object_ref_sink (adj);
  g_signal_connect (adj, "value-changed", G_CALLBACK (adjustment_value_changed_cb), self);
  ib_canvas_update_adjustments (self);
  g_object_notify (G_OBJECT (self), prop_id == PROP_HADJUSTMENT ? "hadjustment" : "vadjustment");
}

double
ib_canvas_get_zoom (IbCanvas *self)
{
  g_return_val_if_fail (IB_IS_CANVAS (self), 1.0);
  return self->zoom;
}

static void
apply_zoom (IbCanvas *self,
            double    zoom,
            double    x,
            double    y)
{
  double px, py;

  zoom = CLAMP (zoom, IB_CANVAS_ZOOM_MIN, IB_CANVAS_ZOOM_MAX);
  ib_canvas_widget_to_picture (self, x, y, &px, &py);
  if (zoom != self->zoom)
    {
      self->zoom = zoom;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ZOOM]);
    }
  ib_canvas_update_adjustments (self);
  /* The adjustment clamps to its range: a point near the picture's edge may move. */
  gtk_adjustment_set_value (self->hadjustment, px * zoom - x);
  gtk_adjustment_set_value (self->vadjustment, py * zoom - y);
  ib_canvas_update_cursor (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
ib_canvas_zoom_at (IbCanvas *self,
                   double    zoom,
                   double    x,
                   double    y)
{
  g_return_if_fail (IB_IS_CANVAS (self));
  self->fitting = FALSE;
  apply_zoom (self, zoom, x, y);
}

void
ib_canvas_set_zoom (IbCanvas *self,
                    double    zoom)
{
  GtkWidget *widget = GTK_WIDGET (self);

  g_return_if_fail (IB_IS_CANVAS (self));
  ib_canvas_zoom_at (self, zoom, gtk_widget_get_width (widget) / 2.0, gtk_widget_get_height (widget) / 2.0);
}

static void
fit (IbCanvas *self)
{
  GtkWidget *widget = GTK_WIDGET (self);
  double pw = ib_canvas_get_picture_width (self), ph = ib_canvas_get_picture_height (self);
  int vw = gtk_widget_get_width (widget), vh = gtk_widget_get_height (widget);

  if (pw <= 0 || ph <= 0 || vw <= 0 || vh <= 0)
    return;
  apply_zoom (self, MIN (vw / pw, vh / ph), vw / 2.0, vh / 2.0);
}

void
ib_canvas_zoom_fit (IbCanvas *self)
{
  g_return_if_fail (IB_IS_CANVAS (self));
  self->fitting = TRUE;
  fit (self);
}

void
ib_canvas_pan (IbCanvas *self,
               double    dx,
               double    dy)
{
  g_return_if_fail (IB_IS_CANVAS (self));
  gtk_adjustment_set_value (self->hadjustment, gtk_adjustment_get_value (self->hadjustment) + dx);
  gtk_adjustment_set_value (self->vadjustment, gtk_adjustment_get_value (self->vadjustment) + dy);
}

static void
mask_changed_cb (IbMask   *mask,
                 int       x,
                 int       y,
                 int       width,
                 int       height,
                 IbCanvas *self)
{
  ib_canvas_overlay_invalidate (self, x, y, width, height);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
ib_canvas_set_picture (IbCanvas   *self,
                       GdkTexture *picture)
{
  gboolean same_size;

  g_return_if_fail (IB_IS_CANVAS (self));
  g_return_if_fail (picture == NULL || GDK_IS_TEXTURE (picture));

  same_size = self->picture != NULL && picture != NULL
              && gdk_texture_get_width (self->picture) == gdk_texture_get_width (picture)
              && gdk_texture_get_height (self->picture) == gdk_texture_get_height (picture);
  if (!g_set_object (&self->picture, picture))
    return;
  g_clear_pointer (&self->picture_pyramid, ib_texture_pyramid_free);
  /* A new picture starts fitted; the same size again (an accepted result, an undo) keeps the view. */
  if (!same_size)
    ib_canvas_zoom_fit (self);
  ib_canvas_update_adjustments (self);
  gtk_widget_queue_resize (GTK_WIDGET (self));
}

GdkTexture *
ib_canvas_get_picture (IbCanvas *self)
{
  g_return_val_if_fail (IB_IS_CANVAS (self), NULL);
  return self->picture;
}

void
ib_canvas_set_mask (IbCanvas *self,
                    IbMask   *mask)
{
  g_return_if_fail (IB_IS_CANVAS (self));
  g_return_if_fail (mask == NULL || IB_IS_MASK (mask));

  if (self->mask == mask)
    return;
  if (self->stroking)
    ib_canvas_end_stroke (self);
  if (self->mask != NULL)
    g_clear_signal_handler (&self->mask_changed_id, self->mask);
  g_set_object (&self->mask, mask);
  if (mask != NULL)
    self->mask_changed_id = g_signal_connect (mask, "changed", G_CALLBACK (mask_changed_cb), self);
  ib_canvas_overlay_reset (self);
  ib_canvas_update_actions (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

IbMask *
ib_canvas_get_mask (IbCanvas *self)
{
  g_return_val_if_fail (IB_IS_CANVAS (self), NULL);
  return self->mask;
}

static IbTexturePyramid *preview_pyramid (IbCanvas *self);

void
ib_canvas_set_preview (IbCanvas    *self,
                       IbEditImage *region)
{
  ib_canvas_set_preview_with_level (self, region, 0, NULL);
}

void
ib_canvas_set_preview_with_level (IbCanvas        *self,
                                  IbEditImage     *region,
                                  guint            level,
                                  cairo_surface_t *surface)
{
  g_return_if_fail (IB_IS_CANVAS (self));

  if (region == self->preview)
    return;
  if (region != NULL)
    ib_edit_image_ref (region);
  g_clear_pointer (&self->preview, ib_edit_image_unref);
  g_clear_pointer (&self->preview_pyramid, ib_texture_pyramid_free);
  self->preview = region;
  if (region != NULL && surface != NULL && level == ib_canvas_get_drawn_level (self))
    ib_texture_pyramid_set_surface (preview_pyramid (self), level, surface);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

guint
ib_canvas_get_drawn_level (IbCanvas *self)
{
  g_return_val_if_fail (IB_IS_CANVAS (self), 0);
  return ib_texture_pyramid_level_for_zoom (self->zoom);
}

IbEditImage *
ib_canvas_get_preview (IbCanvas *self)
{
  g_return_val_if_fail (IB_IS_CANVAS (self), NULL);
  return self->preview;
}

/* The preview's pyramid, made from its pixels at the first draw. */
static IbTexturePyramid *
preview_pyramid (IbCanvas *self)
{
  IbEditImage *p = self->preview;

  if (self->preview_pyramid == NULL)
    self->preview_pyramid = ib_texture_pyramid_new_for_rgba (p->pixels, p->width, p->height, p->stride);
  return self->preview_pyramid;
}

void
ib_canvas_set_model_geometry (IbCanvas *self,
                              int       native_size,
                              int       grid_side)
{
  g_return_if_fail (IB_IS_CANVAS (self));
  g_return_if_fail (native_size >= 0 && grid_side >= 0);

  self->native_size = native_size;
  self->grid_side = grid_side;
  self->grid_valid = FALSE;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

IbCanvasTool
ib_canvas_get_tool (IbCanvas *self)
{
  g_return_val_if_fail (IB_IS_CANVAS (self), IB_CANVAS_TOOL_BRUSH);
  return self->tool;
}

void
ib_canvas_set_tool (IbCanvas     *self,
                    IbCanvasTool  tool)
{
  g_return_if_fail (IB_IS_CANVAS (self));
  g_return_if_fail (tool <= IB_CANVAS_TOOL_LASSO);

  if (self->tool == tool)
    return;
  /* A stroke finishes with the tool it began with. */
  if (self->stroking)
    ib_canvas_end_stroke (self);
  self->tool = tool;
  ib_canvas_update_cursor (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TOOL]);
}

double
ib_canvas_get_brush_size (IbCanvas *self)
{
  g_return_val_if_fail (IB_IS_CANVAS (self), 0);
  return self->brush_size;
}

void
ib_canvas_set_brush_size (IbCanvas *self,
                          double    size)
{
  g_return_if_fail (IB_IS_CANVAS (self));

  size = CLAMP (size, BRUSH_MIN, BRUSH_MAX);
  if (self->brush_size == size)
    return;
  self->brush_size = size;
  gtk_widget_queue_draw (GTK_WIDGET (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BRUSH_SIZE]);
}

double
ib_canvas_get_brush_hardness (IbCanvas *self)
{
  g_return_val_if_fail (IB_IS_CANVAS (self), 0);
  return self->brush_hardness;
}

void
ib_canvas_set_brush_hardness (IbCanvas *self,
                              double    hardness)
{
  g_return_if_fail (IB_IS_CANVAS (self));

  hardness = CLAMP (hardness, 0.0, 1.0);
  if (self->brush_hardness == hardness)
    return;
  self->brush_hardness = hardness;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BRUSH_HARDNESS]);
}

gboolean
ib_canvas_get_show_original (IbCanvas *self)
{
  g_return_val_if_fail (IB_IS_CANVAS (self), FALSE);
  return self->show_original;
}

void
ib_canvas_set_show_original (IbCanvas *self,
                             gboolean  show_original)
{
  g_return_if_fail (IB_IS_CANVAS (self));

  show_original = !!show_original;
  if (self->show_original == show_original)
    return;
  self->show_original = show_original;
  gtk_widget_queue_draw (GTK_WIDGET (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SHOW_ORIGINAL]);
}

static void
set_boolean (IbCanvas *self,
             gboolean *field,
             gboolean  value,
             guint     prop_id)
{
  value = !!value;
  if (*field == value)
    return;
  *field = value;
  gtk_widget_queue_draw (GTK_WIDGET (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop_id]);
}

static void
set_colour (IbCanvas      *self,
            GdkRGBA       *field,
            const GdkRGBA *value,
            guint          prop_id)
{
  if (value == NULL || gdk_rgba_equal (field, value))
    return;
  *field = *value;
  gtk_widget_queue_draw (GTK_WIDGET (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop_id]);
}

/* Drawing. */

/* texture over the picture's rectangle at (x, y) of width x height picture pixels. */
static void
append_picture_texture (IbCanvas    *self,
                        GtkSnapshot *snapshot,
                        GdkTexture  *texture,
                        double       x,
                        double       y,
                        int          width,
                        int          height)
{
  double wx, wy;

  ib_canvas_picture_to_widget (self, x, y, &wx, &wy);
  gtk_snapshot_append_texture (snapshot, texture, &GRAPHENE_RECT_INIT (wx, wy, width * self->zoom, height * self->zoom));
}

/* The picture or a preview (which may be as large) of width x height picture pixels at (x, y) as a texture
 * node, from the level of its pyramid that suits the zoom (see ib-texture-pyramid.h). */
static void
append_pyramid (IbCanvas         *self,
                GtkSnapshot      *snapshot,
                IbTexturePyramid *pyramid,
                double            x,
                double            y,
                int               width,
                int               height)
{
  if (self->zoom >= IB_CANVAS_NEAREST_ZOOM)
    ib_canvas_append_magnified (self, snapshot, ib_texture_pyramid_get_surface (pyramid, 0), x, y, width, height);
  else
    append_picture_texture (self, snapshot, ib_texture_pyramid_for_zoom (pyramid, self->zoom), x, y, width, height);
}

void
ib_canvas_paint_surface (IbCanvas        *self,
                         cairo_t         *cr,
                         cairo_surface_t *surface,
                         double           x,
                         double           y,
                         double           width,
                         double           height)
{
  int sw = cairo_image_surface_get_width (surface), sh = cairo_image_surface_get_height (surface);
  double wx, wy;

  ib_canvas_picture_to_widget (self, x, y, &wx, &wy);
  cairo_save (cr);
  cairo_translate (cr, wx, wy);
  cairo_scale (cr, width * self->zoom / sw, height * self->zoom / sh);
  cairo_set_source_surface (cr, surface, 0, 0);
  /* Magnified twice or more, every picture pixel shows as the square it is, to be judged and masked exactly.
   * Below that, bilinear: the pyramid level shrinks by at most half, and cairo's GOOD filter would take
   * pixman's separable-convolution path, several times slower once it shrinks by more than a quarter. */
  cairo_pattern_set_filter (cairo_get_source (cr),
                            self->zoom >= IB_CANVAS_NEAREST_ZOOM ? CAIRO_FILTER_NEAREST : CAIRO_FILTER_BILINEAR);
  cairo_pattern_set_extend (cairo_get_source (cr), CAIRO_EXTEND_PAD);
  cairo_rectangle (cr, 0, 0, sw, sh);
  cairo_fill (cr);
  cairo_restore (cr);
}

/* The picture or a preview painted from its pyramid's level for the zoom. */
static void
paint_pyramid (IbCanvas         *self,
               cairo_t          *cr,
               IbTexturePyramid *pyramid,
               double            x,
               double            y,
               int               width,
               int               height)
{
  ib_canvas_paint_surface (self, cr,
                           ib_texture_pyramid_get_surface (pyramid, ib_texture_pyramid_level_for_zoom (self->zoom)),
                           x, y, width, height);
}

/* The picture's pyramid, made at the first draw. */
static IbTexturePyramid *
picture_pyramid (IbCanvas *self)
{
  if (self->picture_pyramid == NULL)
    self->picture_pyramid = ib_texture_pyramid_new (self->picture);
  return self->picture_pyramid;
}

/* Under GTK's cairo renderer (no GPU, remote displays) the picture, preview and mask are painted in one cairo
 * node from our own image surfaces: the renderer replays it clipped to the frame's damage, so a frame of
 * painting costs the pixels the brush touched. Texture nodes instead cost GTK 4.8's cairo renderer a
 * conversion of every texel of every texture on every frame (most of a 2048 x 2048 picture's 28 ms a frame,
 * docs/performance.md). The GPU renderers draw textures. */
static gboolean
renders_with_cairo (IbCanvas *self)
{
  return !self->texture_nodes_only && ib_widget_renders_with_cairo (GTK_WIDGET (self));
}

void
ib_canvas_set_texture_nodes_only (IbCanvas *self,
                                  gboolean  only)
{
  g_return_if_fail (IB_IS_CANVAS (self));
  self->texture_nodes_only = only;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
ib_canvas_snapshot (GtkWidget   *widget,
                    GtkSnapshot *snapshot)
{
  IbCanvas *self = IB_CANVAS (widget);
  graphene_rect_t view = GRAPHENE_RECT_INIT (0, 0, gtk_widget_get_width (widget), gtk_widget_get_height (widget));
  /* A preview is shown to be judged: the tint would colour it, so it steps aside unless the user paints. */
  gboolean show_preview = !self->show_original && self->preview != NULL;
  gboolean show_mask = !self->show_original && self->show_mask &&
                       (self->preview == NULL || ib_canvas_is_stroking (self));

  gtk_snapshot_push_clip (snapshot, &view);
  if (renders_with_cairo (self))
    {
      cairo_t *cr = gtk_snapshot_append_cairo (snapshot, &view);
      if (self->picture != NULL)
        paint_pyramid (self, cr, picture_pyramid (self), 0, 0, gdk_texture_get_width (self->picture),
                       gdk_texture_get_height (self->picture));
      if (show_preview)
        paint_pyramid (self, cr, preview_pyramid (self), self->preview->x, self->preview->y, self->preview->width,
                       self->preview->height);
      if (show_mask)
        ib_canvas_snapshot_mask (self, snapshot, cr);
      cairo_destroy (cr);
    }
  else
    {
      ib_canvas_magnify_begin_frame (self);
      if (self->picture != NULL)
        append_pyramid (self, snapshot, picture_pyramid (self), 0, 0, gdk_texture_get_width (self->picture),
                        gdk_texture_get_height (self->picture));
      if (show_preview)
        append_pyramid (self, snapshot, preview_pyramid (self), self->preview->x, self->preview->y,
                        self->preview->width, self->preview->height);
      if (show_mask)
        ib_canvas_snapshot_mask (self, snapshot, NULL);
      ib_canvas_magnify_end_frame (self);
    }
  if (!self->show_original && self->show_token_grid)
    ib_canvas_snapshot_token_grid (self, snapshot);
  ib_canvas_snapshot_tool (self, snapshot);
  gtk_snapshot_pop (snapshot);
}

static void
ib_canvas_measure (GtkWidget      *widget,
                   GtkOrientation  orientation,
                   int             for_size,
                   int            *minimum,
                   int            *natural,
                   int            *minimum_baseline,
                   int            *natural_baseline)
{
  IbCanvas *self = IB_CANVAS (widget);
  double content = orientation == GTK_ORIENTATION_HORIZONTAL ? ib_canvas_get_picture_width (self)
                                                             : ib_canvas_get_picture_height (self);

  /* Scrollable: any size will do; natural is the picture at the current zoom, within reason. */
  *minimum = 0;
  *natural = (int) MIN (ceil (content * self->zoom), 1024);
}

static void
ib_canvas_size_allocate (GtkWidget *widget,
                         int        width,
                         int        height,
                         int        baseline)
{
  IbCanvas *self = IB_CANVAS (widget);

  if (self->fitting)
    fit (self);
  ib_canvas_update_adjustments (self);
}

/* GObject. */

static void
ib_canvas_get_property (GObject    *object,
                        guint       prop_id,
                        GValue     *value,
                        GParamSpec *pspec)
{
  IbCanvas *self = IB_CANVAS (object);

  switch (prop_id)
    {
    case PROP_ZOOM:
      g_value_set_double (value, self->zoom);
      break;
    case PROP_TOOL:
      g_value_set_enum (value, self->tool);
      break;
    case PROP_BRUSH_SIZE:
      g_value_set_double (value, self->brush_size);
      break;
    case PROP_BRUSH_HARDNESS:
      g_value_set_double (value, self->brush_hardness);
      break;
    case PROP_SHOW_MASK:
      g_value_set_boolean (value, self->show_mask);
      break;
    case PROP_MASK_COLOUR:
      g_value_set_boxed (value, &self->mask_colour);
      break;
    case PROP_MASK_OPACITY:
      g_value_set_double (value, self->mask_opacity);
      break;
    case PROP_SHOW_TOKEN_GRID:
      g_value_set_boolean (value, self->show_token_grid);
      break;
    case PROP_GRID_COLOUR:
      g_value_set_boxed (value, &self->grid_colour);
      break;
    case PROP_SHOW_ORIGINAL:
      g_value_set_boolean (value, self->show_original);
      break;
    case PROP_HADJUSTMENT:
      g_value_set_object (value, self->hadjustment);
      break;
    case PROP_VADJUSTMENT:
      g_value_set_object (value, self->vadjustment);
      break;
    case PROP_HSCROLL_POLICY:
      g_value_set_enum (value, self->hscroll_policy);
      break;
    case PROP_VSCROLL_POLICY:
      g_value_set_enum (value, self->vscroll_policy);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ib_canvas_set_property (GObject      *object,
                        guint         prop_id,
                        const GValue *value,
                        GParamSpec   *pspec)
{
  IbCanvas *self = IB_CANVAS (object);

  switch (prop_id)
    {
    case PROP_ZOOM:
      ib_canvas_set_zoom (self, g_value_get_double (value));
      break;
    case PROP_TOOL:
      ib_canvas_set_tool (self, g_value_get_enum (value));
      break;
    case PROP_BRUSH_SIZE:
      ib_canvas_set_brush_size (self, g_value_get_double (value));
      break;
    case PROP_BRUSH_HARDNESS:
      ib_canvas_set_brush_hardness (self, g_value_get_double (value));
      break;
    case PROP_SHOW_MASK:
      set_boolean (self, &self->show_mask, g_value_get_boolean (value), prop_id);
      break;
    case PROP_MASK_COLOUR:
      if (g_value_get_boxed (value) != NULL && !gdk_rgba_equal (&self->mask_colour, g_value_get_boxed (value)))
        ib_canvas_overlay_recolour (self);
      set_colour (self, &self->mask_colour, g_value_get_boxed (value), prop_id);
      break;
    case PROP_MASK_OPACITY:
      if (self->mask_opacity != g_value_get_double (value))
        {
          self->mask_opacity = g_value_get_double (value);
          ib_canvas_overlay_recolour (self);
          gtk_widget_queue_draw (GTK_WIDGET (self));
          g_object_notify_by_pspec (object, pspec);
        }
      break;
    case PROP_SHOW_TOKEN_GRID:
      set_boolean (self, &self->show_token_grid, g_value_get_boolean (value), prop_id);
      break;
    case PROP_GRID_COLOUR:
      set_colour (self, &self->grid_colour, g_value_get_boxed (value), prop_id);
      break;
    case PROP_SHOW_ORIGINAL:
      ib_canvas_set_show_original (self, g_value_get_boolean (value));
      break;
    case PROP_HADJUSTMENT:
      set_adjustment (self, &self->hadjustment, g_value_get_object (value), prop_id);
      break;
    case PROP_VADJUSTMENT:
      set_adjustment (self, &self->vadjustment, g_value_get_object (value), prop_id);
      break;
    case PROP_HSCROLL_POLICY:
      self->hscroll_policy = g_value_get_enum (value);
      break;
    case PROP_VSCROLL_POLICY:
      self->vscroll_policy = g_value_get_enum (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ib_canvas_dispose (GObject *object)
{
  IbCanvas *self = IB_CANVAS (object);

  if (self->stroking)
    ib_canvas_end_stroke (self);
  if (self->mask != NULL)
    g_clear_signal_handler (&self->mask_changed_id, self->mask);
  g_clear_object (&self->mask);
  g_clear_object (&self->picture);
  g_clear_pointer (&self->picture_pyramid, ib_texture_pyramid_free);
  g_clear_pointer (&self->preview, ib_edit_image_unref);
  g_clear_pointer (&self->preview_pyramid, ib_texture_pyramid_free);
  ib_canvas_overlay_free (self);
  ib_canvas_magnify_free (self);
  if (self->hadjustment != NULL)
    g_signal_handlers_disconnect_by_func (self->hadjustment, adjustment_value_changed_cb, self);
  if (self->vadjustment != NULL)
    g_signal_handlers_disconnect_by_func (self->vadjustment, adjustment_value_changed_cb, self);
  g_clear_object (&self->hadjustment);
  g_clear_object (&self->vadjustment);
  g_clear_pointer (&self->lasso, g_array_unref);
  G_OBJECT_CLASS (ib_canvas_parent_class)->dispose (object);
}

static void
ib_canvas_class_init (IbCanvasClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  const GParamFlags flags = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

  object_class->get_property = ib_canvas_get_property;
  object_class->set_property = ib_canvas_set_property;
  object_class->dispose = ib_canvas_dispose;
  widget_class->snapshot = ib_canvas_snapshot;
  widget_class->measure = ib_canvas_measure;
  widget_class->size_allocate = ib_canvas_size_allocate;

  properties[PROP_ZOOM] =
    g_param_spec_double ("zoom", NULL, NULL, IB_CANVAS_ZOOM_MIN, IB_CANVAS_ZOOM_MAX, 1.0, flags);
  properties[PROP_TOOL] =
    g_param_spec_enum ("tool", NULL, NULL, IB_TYPE_CANVAS_TOOL, IB_CANVAS_TOOL_BRUSH, flags);
  properties[PROP_BRUSH_SIZE] =
    g_param_spec_double ("brush-size", NULL, NULL, BRUSH_MIN, BRUSH_MAX, 40.0, flags);
  properties[PROP_BRUSH_HARDNESS] =
    g_param_spec_double ("brush-hardness", NULL, NULL, 0.0, 1.0, 0.8, flags);
  properties[PROP_SHOW_MASK] =
    g_param_spec_boolean ("show-mask", NULL, NULL, TRUE, flags);
  properties[PROP_MASK_COLOUR] =
    g_param_spec_boxed ("mask-colour", NULL, NULL, GDK_TYPE_RGBA, flags);
  properties[PROP_MASK_OPACITY] =
    g_param_spec_double ("mask-opacity", NULL, NULL, 0.0, 1.0, 0.5, flags);
  properties[PROP_SHOW_TOKEN_GRID] =
    g_param_spec_boolean ("show-token-grid", NULL, NULL, FALSE, flags);
  properties[PROP_GRID_COLOUR] =
    g_param_spec_boxed ("grid-colour", NULL, NULL, GDK_TYPE_RGBA, flags);
  /* Before/after: the picture alone, without preview, mask and grid. */
  properties[PROP_SHOW_ORIGINAL] =
    g_param_spec_boolean ("show-original", NULL, NULL, FALSE, flags);
  g_object_class_install_properties (object_class, N_PROPS, properties);
  g_object_class_override_property (object_class, PROP_HADJUSTMENT, "hadjustment");
  g_object_class_override_property (object_class, PROP_VADJUSTMENT, "vadjustment");
  g_object_class_override_property (object_class, PROP_HSCROLL_POLICY, "hscroll-policy");
  g_object_class_override_property (object_class, PROP_VSCROLL_POLICY, "vscroll-policy");

  ib_canvas_class_install_actions (widget_class);

  gtk_widget_class_set_css_name (widget_class, "ibcanvas");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void
ib_canvas_init (IbCanvas *self)
{
  self->zoom = 1.0;
  self->tool = IB_CANVAS_TOOL_BRUSH;
  self->brush_size = 40.0;
  self->brush_hardness = 0.8;
  self->show_mask = TRUE;
  self->mask_opacity = 0.5;
  gdk_rgba_parse (&self->mask_colour, "#e01b24");
  gdk_rgba_parse (&self->grid_colour, "#3584e4");
  self->lasso = g_array_new (FALSE, FALSE, sizeof (double));
  set_adjustment (self, &self->hadjustment, NULL, PROP_HADJUSTMENT);
  set_adjustment (self, &self->vadjustment, NULL, PROP_VADJUSTMENT);
  gtk_widget_set_focusable (GTK_WIDGET (self), TRUE);
  gtk_widget_set_overflow (GTK_WIDGET (self), GTK_OVERFLOW_HIDDEN);
  ib_canvas_setup_input (self);
  ib_canvas_update_actions (self);
}

GtkWidget *
ib_canvas_new (void)
{
  return g_object_new (IB_TYPE_CANVAS, NULL);
}
