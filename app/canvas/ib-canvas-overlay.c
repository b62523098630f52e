/* ib-canvas-overlay.c: the canvas's mask overlay and token grid.
 *
 * The mask is drawn as tiles of IB_CANVAS_TILE^2 mask pixels, textures already in the tint's colour and
 * opacity: a change of the mask re-makes only the tiles it touched (a stroke on a 4K picture costs a few tiles,
 * not the picture). A change of colour or opacity re-makes them all, which is rare; a colour-matrix node
 * instead would cost GTK's cairo renderer a per-pixel pass over the view on every frame of painting. Zoomed
 * out, tiles are made at the picture pyramid's level for the zoom (each texel the mean of 2^level x 2^level
 * mask pixels), so that drawing shrinks them by at most half: a full-resolution tile costs the cairo
 * renderer a filtered pass over four or more times the pixels on every frame. */
#include "ib-canvas-private.h"

#include <string.h>

#include "ib-edit-window.h"
#include "ib-texture-pyramid.h"

void
ib_canvas_overlay_free (IbCanvas *self)
{
  for (int i = 0; i < self->tiles_x * self->tiles_y; i++)
    {
      g_clear_object (&self->tiles[i]);
      g_clear_pointer (&self->tile_surfaces[i], cairo_surface_destroy);
    }
  g_clear_pointer (&self->tiles, g_free);
  g_clear_pointer (&self->tile_surfaces, g_free);
  g_clear_pointer (&self->tiles_dirty, g_free);
  g_clear_pointer (&self->grid_unknown, g_free);
  self->tiles_x = self->tiles_y = 0;
  self->grid_valid = FALSE;
}

/* For a new mask: every tile to be made. */
void
ib_canvas_overlay_reset (IbCanvas *self)
{
  ib_canvas_overlay_free (self);
  if (self->mask == NULL)
    return;
  self->tiles_x = (ib_mask_get_width (self->mask) + IB_CANVAS_TILE - 1) / IB_CANVAS_TILE;
  self->tiles_y = (ib_mask_get_height (self->mask) + IB_CANVAS_TILE - 1) / IB_CANVAS_TILE;
  self->tiles = g_new0 (GdkTexture *, (gsize) self->tiles_x * self->tiles_y);
  self->tile_surfaces = g_new0 (cairo_surface_t *, (gsize) self->tiles_x * self->tiles_y);
  self->tiles_dirty = g_new (gboolean, (gsize) self->tiles_x * self->tiles_y);
  for (int i = 0; i < self->tiles_x * self->tiles_y; i++)
    self->tiles_dirty[i] = TRUE;
}

void
ib_canvas_overlay_invalidate (IbCanvas *self,
                              int       x,
                              int       y,
                              int       width,
                              int       height)
{
  int tx0, ty0, tx1, ty1;

  self->grid_valid = FALSE;
  if (self->tiles == NULL || width <= 0 || height <= 0)
    return;
  tx0 = CLAMP (x / IB_CANVAS_TILE, 0, self->tiles_x - 1);
  ty0 = CLAMP (y / IB_CANVAS_TILE, 0, self->tiles_y - 1);
  tx1 = CLAMP ((x + width - 1) / IB_CANVAS_TILE, 0, self->tiles_x - 1);
  ty1 = CLAMP ((y + height - 1) / IB_CANVAS_TILE, 0, self->tiles_y - 1);
  for (int ty = ty0; ty <= ty1; ty++)
    for (int tx = tx0; tx <= tx1; tx++)
      self->tiles_dirty[ty * self->tiles_x + tx] = TRUE;
}

/* Every tile to be made again in the current colour and opacity. */
void
ib_canvas_overlay_recolour (IbCanvas *self)
{
  for (int i = 0; i < self->tiles_x * self->tiles_y; i++)
    self->tiles_dirty[i] = TRUE;
}

/* The tile's pixels: the tint, premultiplied, with the mask times the opacity as its alpha; NULL where the
 * tile is all zero. */
static cairo_surface_t *
make_tile (IbCanvas *self,
           int       x0,
           int       y0,
           int       width,
           int       height,
           guint     level)
{
  int stride, block = 1 << level;
  int out_width = (width + block - 1) / block, out_height = (height + block - 1) / block;
  const guint8 *data = ib_mask_get_data (self->mask, &stride);
  cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, out_width, out_height);
  guint8 *rgba = cairo_image_surface_get_data (surface);
  int out_stride = cairo_image_surface_get_stride (surface);
  g_autofree guint *sums = g_new (guint, out_width);
  gboolean any = FALSE;
  guint8 tint[256][4];

  /* Cairo's premultiplied ARGB32, a native 32-bit word (GDK_MEMORY_DEFAULT for the texture). */
  for (int m = 0; m < 256; m++)
    {
      double alpha = m / 255.0 * self->mask_opacity * self->mask_colour.alpha;
      guint32 argb = (guint32) (alpha * 255 + 0.5) << 24 | (guint32) (self->mask_colour.red * alpha * 255 + 0.5) << 16
                     | (guint32) (self->mask_colour.green * alpha * 255 + 0.5) << 8
                     | (guint32) (self->mask_colour.blue * alpha * 255 + 0.5);
      memcpy (tint[m], &argb, 4);
    }
  for (int oy = 0; oy < out_height; oy++)
    {
      int rows = MIN (block, height - oy * block);
      guint8 *dst = rgba + (gsize) oy * out_stride;

      memset (sums, 0, (gsize) out_width * sizeof (guint));
      for (int y = 0; y < rows; y++)
        {
          const guint8 *src = data + (gsize) (y0 + oy * block + y) * stride + x0;
          for (int x = 0; x < width; x++)
            sums[x >> level] += src[x];
        }
      for (int ox = 0; ox < out_width; ox++)
        {
          int columns = MIN (block, width - ox * block);
          guint n = (guint) (rows * columns), mean = (sums[ox] + n / 2) / n;
          memcpy (dst + 4 * ox, tint[mean], 4);
          any |= sums[ox] != 0;
        }
    }
  if (!any)
    {
      cairo_surface_destroy (surface);
      return NULL;
    }
  cairo_surface_mark_dirty (surface);
  return surface;
}

void
ib_canvas_snapshot_mask (IbCanvas    *self,
                         GtkSnapshot *snapshot,
                         cairo_t     *cr)
{
  int mw, mh, vw = gtk_widget_get_width (GTK_WIDGET (self)), vh = gtk_widget_get_height (GTK_WIDGET (self));
  double ox, oy, z = self->zoom;

  if (self->mask == NULL || self->tiles == NULL)
    return;
  mw = ib_mask_get_width (self->mask);
  mh = ib_mask_get_height (self->mask);
  ib_canvas_picture_to_widget (self, 0, 0, &ox, &oy);
  /* Another zoom level: every tile again, at its resolution (the visible ones now, the rest when they show). */
  guint level = MIN (ib_texture_pyramid_level_for_zoom (z), (guint) IB_CANVAS_TILE_LEVELS);
  if (level != self->tiles_level)
    {
      ib_canvas_overlay_recolour (self);
      self->tiles_level = level;
    }

  for (int ty = 0; ty < self->tiles_y; ty++)
    for (int tx = 0; tx < self->tiles_x; tx++)
      {
        int i = ty * self->tiles_x + tx;
        int x0 = tx * IB_CANVAS_TILE, y0 = ty * IB_CANVAS_TILE;
        int w = MIN (IB_CANVAS_TILE, mw - x0), h = MIN (IB_CANVAS_TILE, mh - y0);
        graphene_rect_t bounds = GRAPHENE_RECT_INIT (ox + x0 * z, oy + y0 * z, w * z, h * z);

        /* Off-screen tiles wait until they show. */
        if (bounds.origin.x > vw || bounds.origin.y > vh || bounds.origin.x + bounds.size.width < 0
            || bounds.origin.y + bounds.size.height < 0)
          continue;
        if (self->tiles_dirty[i])
          {
            g_clear_object (&self->tiles[i]);
            g_clear_pointer (&self->tile_surfaces[i], cairo_surface_destroy);
            self->tile_surfaces[i] = make_tile (self, x0, y0, w, h, level);
            if (self->tile_surfaces[i] != NULL)
              self->tiles[i] = ib_texture_new_for_surface (self->tile_surfaces[i]);
            self->tiles_dirty[i] = FALSE;
            self->n_tile_builds++;
          }
        if (self->tiles[i] == NULL)
          continue;
        if (cr != NULL)
          ib_canvas_paint_surface (self, cr, self->tile_surfaces[i], x0, y0, w, h);
        else if (z >= IB_CANVAS_NEAREST_ZOOM)
          ib_canvas_append_magnified (self, snapshot, self->tile_surfaces[i], x0, y0, w, h);
        else
          gtk_snapshot_append_texture (snapshot, self->tiles[i], &bounds);
      }
}

guint
ib_canvas_get_n_tile_builds (IbCanvas *self)
{
  g_return_val_if_fail (IB_IS_CANVAS (self), 0);
  return self->n_tile_builds;
}

gboolean
ib_canvas_get_token_grid (IbCanvas        *self,
                          int             *window_x,
                          int             *window_y,
                          int             *window_side,
                          int             *grid_side,
                          const gboolean **unknown)
{
  g_return_val_if_fail (IB_IS_CANVAS (self), FALSE);

  if (self->mask == NULL || self->native_size <= 0 || self->grid_side <= 0)
    return FALSE;
  if (!self->grid_valid)
    {
      int stride, w = ib_mask_get_width (self->mask), h = ib_mask_get_height (self->mask);
      const guint8 *data = ib_mask_get_data (self->mask, &stride);
      GdkRectangle b;
      IbEditWindow window;

      self->grid_valid = TRUE;
      self->grid_empty = !ib_mask_get_bounds (self->mask, &b);
      if (!self->grid_empty)
        {
          /* What the edit job does (ib-edit-job.c), so that the user sees the tokens it will redo. */
          IbBox box = { b.x, b.y, b.width, b.height };
          ib_edit_window_choose (w, h, &box, self->native_size, &window);
          g_free (self->grid_unknown);
          self->grid_unknown = g_new (gboolean, (gsize) self->grid_side * self->grid_side);
          ib_edit_window_token_mask (&window, data, w, h, stride, self->grid_side, self->grid_side,
                                     self->grid_unknown);
          self->grid_x = window.x;
          self->grid_y = window.y;
          self->grid_window_side = window.side;
        }
    }
  if (self->grid_empty)
    return FALSE;
  if (window_x != NULL)
    *window_x = self->grid_x;
  if (window_y != NULL)
    *window_y = self->grid_y;
  if (window_side != NULL)
    *window_side = self->grid_window_side;
  if (grid_side != NULL)
    *grid_side = self->grid_side;
  if (unknown != NULL)
    *unknown = self->grid_unknown;
  return TRUE;
}

void
ib_canvas_snapshot_token_grid (IbCanvas    *self,
                               GtkSnapshot *snapshot)
{
  int wx, wy, side, n;
  const gboolean *unknown;
  double x0, y0, cell;
  GdkRGBA fill = self->grid_colour, line = self->grid_colour;

  if (!ib_canvas_get_token_grid (self, &wx, &wy, &side, &n, &unknown))
    return;
  ib_canvas_picture_to_widget (self, wx, wy, &x0, &y0);
  cell = side * self->zoom / n;
  fill.alpha *= 0.3f;
  line.alpha *= 0.6f;

  for (int ty = 0; ty < n; ty++)
    for (int tx = 0; tx < n; tx++)
      if (unknown[ty * n + tx])
        gtk_snapshot_append_color (snapshot, &fill,
                                   &GRAPHENE_RECT_INIT (x0 + tx * cell, y0 + ty * cell, cell, cell));
  /* Lines only while cells are a few pixels wide; below that they would cover everything. */
  if (cell >= 4)
    for (int i = 0; i <= n; i++)
      {
        gtk_snapshot_append_color (snapshot, &line, &GRAPHENE_RECT_INIT (x0 + i * cell - 0.5, y0, 1, n * cell));
        gtk_snapshot_append_color (snapshot, &line, &GRAPHENE_RECT_INIT (x0, y0 + i * cell - 0.5, n * cell, 1));
      }
  else
    {
      GskRoundedRect outline;
      float width = 2;

      gsk_rounded_rect_init_from_rect (&outline, &GRAPHENE_RECT_INIT (x0 - 1, y0 - 1, n * cell + 2, n * cell + 2), 0);
      gtk_snapshot_append_border (snapshot, &outline, (float[4]) { width, width, width, width },
                                  (GdkRGBA[4]) { self->grid_colour, self->grid_colour, self->grid_colour,
                                                 self->grid_colour });
    }
}
