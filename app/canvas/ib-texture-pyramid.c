/* ib-texture-pyramid.c: a picture at halving sizes (see ib-texture-pyramid.h). */
#include "ib-texture-pyramid.h"

#include <math.h>

struct _IbTexturePyramid
{
  GPtrArray *levels;            /* Level, level 0 first; grown on demand */
  guint n_levels;               /* down to 1 x 1 */
};

typedef struct
{
  cairo_surface_t *surface;
  GdkTexture *texture;          /* the surface's pixels */
} Level;

static void
level_free (Level *level)
{
  cairo_surface_destroy (level->surface);
  g_object_unref (level->texture);
  g_free (level);
}

static Level *
level_new (cairo_surface_t *surface)
{
  Level *level = g_new (Level, 1);
  level->surface = surface;
  level->texture = ib_texture_new_for_surface (surface);
  return level;
}

GdkTexture *
ib_texture_new_for_surface (cairo_surface_t *surface)
{
  g_return_val_if_fail (cairo_image_surface_get_format (surface) == CAIRO_FORMAT_ARGB32, NULL);

  int height = cairo_image_surface_get_height (surface), stride = cairo_image_surface_get_stride (surface);
  cairo_surface_flush (surface);
  /* The texture keeps the surface alive and reads its memory: no copy. */
  g_autoptr (GBytes) bytes = g_bytes_new_with_free_func (cairo_image_surface_get_data (surface),
                                                         (gsize) stride * height,
                                                         (GDestroyNotify) cairo_surface_destroy,
                                                         cairo_surface_reference (surface));
  return gdk_memory_texture_new (cairo_image_surface_get_width (surface), height, GDK_MEMORY_DEFAULT, bytes, stride);
}

/* Level 0: the picture's pixels in cairo's ARGB32 (GDK_MEMORY_DEFAULT), the format the cairo renderer draws
 * from without converting. */
static Level *
native_copy (GdkTexture *picture)
{
  cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, gdk_texture_get_width (picture),
                                                         gdk_texture_get_height (picture));
  cairo_surface_flush (surface);
  gdk_texture_download (picture, cairo_image_surface_get_data (surface), cairo_image_surface_get_stride (surface));
  cairo_surface_mark_dirty (surface);
  return level_new (surface);
}

/* The next level: each pixel the mean of a 2 x 2 block (premultiplied, so colours mix by coverage); an odd
 * last row or column is its own neighbour. */
static Level *
halve (const Level *level)
{
  cairo_surface_t *from = level->surface;
  int width = cairo_image_surface_get_width (from), height = cairo_image_surface_get_height (from);
  int out_width = (width + 1) / 2, out_height = (height + 1) / 2;
  cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, out_width, out_height);
  gsize stride = cairo_image_surface_get_stride (from), out_stride = cairo_image_surface_get_stride (surface);
  const guint8 *src = cairo_image_surface_get_data (from);
  guint8 *dst = cairo_image_surface_get_data (surface);

  cairo_surface_flush (surface);
  for (int y = 0; y < out_height; y++)
    {
      const guint8 *row0 = src + (gsize) (2 * y) * stride;
      const guint8 *row1 = src + (gsize) MIN (2 * y + 1, height - 1) * stride;
      guint8 *out = dst + (gsize) y * out_stride;

      for (int x = 0; x < out_width; x++)
        {
          int x0 = 2 * x * 4, x1 = MIN (2 * x + 1, width - 1) * 4;
          for (int c = 0; c < 4; c++)
            out[4 * x + c] = (guint8) ((row0[x0 + c] + row0[x1 + c] + row1[x0 + c] + row1[x1 + c] + 2) / 4);
        }
    }
  cairo_surface_mark_dirty (surface);
  return level_new (surface);
}

IbTexturePyramid *
ib_texture_pyramid_new (GdkTexture *picture)
{
  g_return_val_if_fail (GDK_IS_TEXTURE (picture), NULL);

  IbTexturePyramid *self = g_new0 (IbTexturePyramid, 1);
  int side = MAX (gdk_texture_get_width (picture), gdk_texture_get_height (picture));

  self->levels = g_ptr_array_new_with_free_func ((GDestroyNotify) level_free);
  g_ptr_array_add (self->levels, native_copy (picture));
  self->n_levels = 1;
  while (side > 1)
    {
      side = (side + 1) / 2;
      self->n_levels++;
    }
  return self;
}

void
ib_texture_pyramid_free (IbTexturePyramid *self)
{
  if (self == NULL)
    return;
  g_ptr_array_unref (self->levels);
  g_free (self);
}

static Level *
get_level (IbTexturePyramid *self,
           guint             level)
{
  level = MIN (level, self->n_levels - 1);
  while (self->levels->len <= level)
    g_ptr_array_add (self->levels, halve (g_ptr_array_index (self->levels, self->levels->len - 1)));
  return g_ptr_array_index (self->levels, level);
}

GdkTexture *
ib_texture_pyramid_get_level (IbTexturePyramid *self,
                              guint             level)
{
  g_return_val_if_fail (self != NULL, NULL);
  return get_level (self, level)->texture;
}

cairo_surface_t *
ib_texture_pyramid_get_surface (IbTexturePyramid *self,
                                guint             level)
{
  g_return_val_if_fail (self != NULL, NULL);
  return get_level (self, level)->surface;
}

guint
ib_texture_pyramid_level_for_zoom (double zoom)
{
  g_return_val_if_fail (zoom > 0, 0);

  /* The largest n with 2^-n >= zoom; the epsilon keeps zoom 0.5 exactly on level 1. */
  return zoom >= 1 ? 0 : (guint) floor (-log2 (zoom) + 1e-9);
}

GdkTexture *
ib_texture_pyramid_for_zoom (IbTexturePyramid *self,
                             double            zoom)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (zoom > 0, NULL);

  return ib_texture_pyramid_get_level (self, ib_texture_pyramid_level_for_zoom (zoom));
}

GdkTexture *
ib_texture_thumbnail (GdkTexture *picture,
                      int         max_side)
{
  g_return_val_if_fail (GDK_IS_TEXTURE (picture), NULL);
  g_return_val_if_fail (max_side > 0, NULL);

  int side = MAX (gdk_texture_get_width (picture), gdk_texture_get_height (picture));
  guint level = 0;
  if (side <= max_side)
    return g_object_ref (picture);
  while (side > 1 && (side + 1) / 2 >= max_side)
    {
      side = (side + 1) / 2;
      level++;
    }
  g_autoptr (IbTexturePyramid) pyramid = ib_texture_pyramid_new (picture);
  return g_object_ref (ib_texture_pyramid_get_level (pyramid, level));
}
