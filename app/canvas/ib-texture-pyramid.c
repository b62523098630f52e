/* ib-texture-pyramid.c: a picture at halving sizes (see ib-texture-pyramid.h). */
#include "ib-texture-pyramid.h"

#include <math.h>

struct _IbTexturePyramid
{
  GPtrArray *levels;            /* GdkTexture, level 0 first; grown on demand */
  guint n_levels;               /* down to 1 x 1 */
};

/* Level 0: the picture's pixels in the format the cairo renderer draws from without converting. */
static GdkTexture *
native_copy (GdkTexture *picture)
{
  int width = gdk_texture_get_width (picture), height = gdk_texture_get_height (picture);
  gsize stride = (gsize) width * 4;
  guint8 *pixels = g_malloc (stride * height);

  gdk_texture_download (picture, pixels, stride);
  g_autoptr (GBytes) bytes = g_bytes_new_take (pixels, stride * height);
  return gdk_memory_texture_new (width, height, GDK_MEMORY_DEFAULT, bytes, stride);
}

/* The next level: each pixel the mean of a 2 x 2 block (premultiplied, so colours mix by coverage); an odd
 * last row or column is its own neighbour. */
static GdkTexture *
halve (GdkTexture *level)
{
  int width = gdk_texture_get_width (level), height = gdk_texture_get_height (level);
  int out_width = (width + 1) / 2, out_height = (height + 1) / 2;
  gsize stride = (gsize) width * 4, out_stride = (gsize) out_width * 4;
  g_autofree guint8 *src = g_malloc (stride * height);
  guint8 *dst = g_malloc (out_stride * out_height);

  gdk_texture_download (level, src, stride);
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
  g_autoptr (GBytes) bytes = g_bytes_new_take (dst, out_stride * out_height);
  return gdk_memory_texture_new (out_width, out_height, GDK_MEMORY_DEFAULT, bytes, out_stride);
}

IbTexturePyramid *
ib_texture_pyramid_new (GdkTexture *picture)
{
  g_return_val_if_fail (GDK_IS_TEXTURE (picture), NULL);

  IbTexturePyramid *self = g_new0 (IbTexturePyramid, 1);
  int side = MAX (gdk_texture_get_width (picture), gdk_texture_get_height (picture));

  self->levels = g_ptr_array_new_with_free_func (g_object_unref);
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

GdkTexture *
ib_texture_pyramid_get_level (IbTexturePyramid *self,
                              guint             level)
{
  g_return_val_if_fail (self != NULL, NULL);

  level = MIN (level, self->n_levels - 1);
  while (self->levels->len <= level)
    g_ptr_array_add (self->levels, halve (g_ptr_array_index (self->levels, self->levels->len - 1)));
  return g_ptr_array_index (self->levels, level);
}

GdkTexture *
ib_texture_pyramid_for_zoom (IbTexturePyramid *self,
                             double            zoom)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (zoom > 0, NULL);

  /* The largest n with 2^-n >= zoom; the epsilon keeps zoom 0.5 exactly on level 1. */
  guint level = zoom >= 1 ? 0 : (guint) floor (-log2 (zoom) + 1e-9);
  return ib_texture_pyramid_get_level (self, level);
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
