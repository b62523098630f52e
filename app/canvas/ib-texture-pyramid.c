/* ib-texture-pyramid.c: a picture at halving sizes (see ib-texture-pyramid.h). */
#include "ib-texture-pyramid.h"

#include <math.h>
#include <string.h>

struct _IbTexturePyramid
{
  struct _Level **levels;       /* n_levels, level 0 first; NULL until asked for */
  guint n_levels;               /* down to 1 x 1 */
  const guint8 *rgba;           /* the caller's pixels of a pyramid for RGBA: each level made from them */
  int width;
  int height;
  gsize stride;
};

typedef struct _Level
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

G_DEFINE_QUARK (ib-texture-surface, surface)

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
  GdkTexture *texture = gdk_memory_texture_new (cairo_image_surface_get_width (surface), height, GDK_MEMORY_DEFAULT,
                                                bytes, stride);
  g_object_set_qdata_full (G_OBJECT (texture), surface_quark (), cairo_surface_reference (surface),
                           (GDestroyNotify) cairo_surface_destroy);
  return texture;
}

cairo_surface_t *
ib_texture_get_surface (GdkTexture *texture)
{
  g_return_val_if_fail (GDK_IS_TEXTURE (texture), NULL);
  return g_object_get_qdata (G_OBJECT (texture), surface_quark ());
}

gboolean
ib_widget_renders_with_cairo (GtkWidget *widget)
{
  GtkNative *native = gtk_widget_get_native (widget);
  GskRenderer *renderer = native != NULL ? gtk_native_get_renderer (native) : NULL;
  return renderer != NULL && GSK_IS_CAIRO_RENDERER (renderer);
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

/* Straight-alpha RGBA8 into cairo's premultiplied ARGB32, by our own loop: GTK 4.8 converts a texture's pixels
 * through floats (80 ms for 2048 x 2048 on the development machine, a few here). With level > 0, each texel the
 * mean of a 2^level x 2^level block of premultiplied pixels (clipped at the edges), made in the same pass. */
static cairo_surface_t *
premultiply_rgba (const guint8 *rgba,
                  int           width,
                  int           height,
                  gsize         stride,
                  guint         level)
{
  int block = 1 << level;
  int out_width = (width + block - 1) / block, out_height = (height + block - 1) / block;
  cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, out_width, out_height);
  guint8 *dst = cairo_image_surface_get_data (surface);
  gsize out_stride = cairo_image_surface_get_stride (surface);
  /* Per texel: the sums of colour x alpha and of alpha (a block may hold 2^28 pixels). */
  g_autofree guint64 *sums = g_new (guint64, (gsize) out_width * 4);

  cairo_surface_flush (surface);
  for (int oy = 0; oy < out_height; oy++)
    {
      int rows = MIN (block, height - oy * block);
      guint32 *out = (guint32 *) (dst + (gsize) oy * out_stride);

      memset (sums, 0, (gsize) out_width * 4 * sizeof (guint64));
      for (int y = 0; y < rows; y++)
        {
          const guint8 *src = rgba + (gsize) (oy * block + y) * stride;
          for (int x = 0; x < width; x++, src += 4)
            {
              guint64 *sum = sums + (gsize) (x >> level) * 4;
              guint32 a = src[3];
              sum[0] += src[0] * a;
              sum[1] += src[1] * a;
              sum[2] += src[2] * a;
              sum[3] += a;
            }
        }
      for (int ox = 0; ox < out_width; ox++)
        {
          guint64 n = (guint64) rows * MIN (block, width - ox * block), *sum = sums + (gsize) ox * 4;
          guint64 n255 = 255 * n;
          guint32 r = (guint32) ((sum[0] + n255 / 2) / n255), g = (guint32) ((sum[1] + n255 / 2) / n255);
          guint32 b = (guint32) ((sum[2] + n255 / 2) / n255), a = (guint32) ((sum[3] + n / 2) / n);
          out[ox] = a << 24 | r << 16 | g << 8 | b;
        }
    }
  cairo_surface_mark_dirty (surface);
  return surface;
}

/* The next level: each pixel the mean of a 2 x 2 block (premultiplied, so colours mix by coverage); an odd
 * last row or column is its own neighbour. */
cairo_surface_t *
ib_surface_halve (cairo_surface_t *from)
{
  g_return_val_if_fail (cairo_image_surface_get_format (from) == CAIRO_FORMAT_ARGB32, NULL);

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
  return surface;
}

/* Halved while a half still covers width x height, then drawn bilinear, which shrinks by at most half there.
 * Cairo's GOOD filter shrinks by more in one convolution: 317 to 146 pixels square took it 1.0 ms on the
 * development machine, and this 0.17 ms (317 to 72: 0.63 against 0.15 ms). */
cairo_surface_t *
ib_surface_scaled (cairo_surface_t *source,
                   int              width,
                   int              height)
{
  g_return_val_if_fail (cairo_image_surface_get_format (source) == CAIRO_FORMAT_ARGB32, NULL);
  g_return_val_if_fail (width > 0 && height > 0, NULL);

  cairo_surface_t *from = cairo_surface_reference (source);
  while ((cairo_image_surface_get_width (from) + 1) / 2 >= width
         && (cairo_image_surface_get_height (from) + 1) / 2 >= height)
    {
      cairo_surface_t *half = ib_surface_halve (from);
      cairo_surface_destroy (from);
      from = half;
    }

  cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, width, height);
  cairo_t *cr = cairo_create (surface);
  cairo_scale (cr, (double) width / cairo_image_surface_get_width (from),
               (double) height / cairo_image_surface_get_height (from));
  cairo_set_source_surface (cr, from, 0, 0);
  cairo_pattern_set_extend (cairo_get_source (cr), CAIRO_EXTEND_PAD);
  cairo_pattern_set_filter (cairo_get_source (cr), CAIRO_FILTER_BILINEAR);
  cairo_set_operator (cr, CAIRO_OPERATOR_SOURCE);
  cairo_paint (cr);
  cairo_destroy (cr);
  cairo_surface_destroy (from);
  return surface;
}

static IbTexturePyramid *
pyramid_new (int width,
             int height)
{
  IbTexturePyramid *self = g_new0 (IbTexturePyramid, 1);
  int side = MAX (width, height);

  self->width = width;
  self->height = height;
  self->n_levels = 1;
  while (side > 1)
    {
      side = (side + 1) / 2;
      self->n_levels++;
    }
  self->levels = g_new0 (Level *, self->n_levels);
  return self;
}

IbTexturePyramid *
ib_texture_pyramid_new (GdkTexture *picture)
{
  g_return_val_if_fail (GDK_IS_TEXTURE (picture), NULL);

  IbTexturePyramid *self = pyramid_new (gdk_texture_get_width (picture), gdk_texture_get_height (picture));
  self->levels[0] = native_copy (picture);
  return self;
}

IbTexturePyramid *
ib_texture_pyramid_new_for_rgba (const guint8 *rgba,
                                 int           width,
                                 int           height,
                                 gsize         stride)
{
  g_return_val_if_fail (rgba != NULL && width > 0 && height > 0 && stride >= (gsize) width * 4, NULL);

  IbTexturePyramid *self = pyramid_new (width, height);
  self->rgba = rgba;
  self->stride = stride;
  return self;
}

void
ib_texture_pyramid_free (IbTexturePyramid *self)
{
  if (self == NULL)
    return;
  for (guint i = 0; i < self->n_levels; i++)
    if (self->levels[i] != NULL)
      level_free (self->levels[i]);
  g_free (self->levels);
  g_free (self);
}

/* Made when first asked for: from the pixels in one pass (a pyramid for RGBA), else by halving the nearest level
 * above, which exists (level 0 always does). */
static Level *
get_level (IbTexturePyramid *self,
           guint             level)
{
  level = MIN (level, self->n_levels - 1);
  if (self->levels[level] != NULL)
    return self->levels[level];
  if (self->rgba != NULL)
    return self->levels[level] = level_new (premultiply_rgba (self->rgba, self->width, self->height, self->stride,
                                                              level));
  guint above = level;
  while (self->levels[above] == NULL)
    above--;
  for (; above < level; above++)
    self->levels[above + 1] = level_new (ib_surface_halve (self->levels[above]->surface));
  return self->levels[level];
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

cairo_surface_t *
ib_texture_level_surface_for_rgba (const guint8 *rgba,
                                   int           width,
                                   int           height,
                                   gsize         stride,
                                   guint         level)
{
  g_return_val_if_fail (rgba != NULL && width > 0 && height > 0 && stride >= (gsize) width * 4, NULL);
  return premultiply_rgba (rgba, width, height, stride, level);
}

void
ib_texture_pyramid_set_surface (IbTexturePyramid *self,
                                guint             level,
                                cairo_surface_t  *surface)
{
  g_return_if_fail (self != NULL && self->rgba != NULL && surface != NULL);
  int block = 1 << MIN (level, 30u);

  g_return_if_fail (level < self->n_levels);
  g_return_if_fail (cairo_image_surface_get_width (surface) == (self->width + block - 1) / block &&
                    cairo_image_surface_get_height (surface) == (self->height + block - 1) / block);
  if (self->levels[level] == NULL)
    self->levels[level] = level_new (cairo_surface_reference (surface));
}

cairo_surface_t *
ib_thumbnail_surface_for_rgba (const guint8 *rgba,
                               int           width,
                               int           height,
                               gsize         stride,
                               int           max_side)
{
  g_return_val_if_fail (rgba != NULL && width > 0 && height > 0 && stride >= (gsize) width * 4, NULL);
  g_return_val_if_fail (max_side > 0, NULL);

  int side = MAX (width, height);
  guint level = 0;
  while (side > 1 && (side + 1) / 2 >= max_side)
    {
      side = (side + 1) / 2;
      level++;
    }
  /* Straight to that level in one pass over the pixels: no level above it is needed. */
  return premultiply_rgba (rgba, width, height, stride, level);
}

GdkTexture *
ib_texture_thumbnail_for_rgba (const guint8 *rgba,
                               int           width,
                               int           height,
                               gsize         stride,
                               int           max_side)
{
  cairo_surface_t *surface = ib_thumbnail_surface_for_rgba (rgba, width, height, stride, max_side);
  GdkTexture *texture = surface != NULL ? ib_texture_new_for_surface (surface) : NULL;
  cairo_surface_destroy (surface);
  return texture;
}
