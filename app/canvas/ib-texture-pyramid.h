/* ib-texture-pyramid.h: a picture at halving sizes, for drawing it zoomed out.
 *
 * GTK's cairo renderer (software rendering: no GPU, remote displays) converts the whole texture it draws and
 * filters it down to the view on every frame, so a 2048 x 2048 picture fitted to a window cost about 35 ms a
 * frame of painting. Drawn from the level just above the zoom (never shrunk by more than 2x), in the
 * renderer's own pixel format, it costs a fraction of that; the GL renderer gains a filtered picture. Each
 * level is also a cairo image surface sharing the texture's memory, which the canvas paints itself under the
 * cairo renderer (see ib-canvas.c). */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

typedef struct _IbTexturePyramid IbTexturePyramid;

/* Level 0 is the picture itself in GDK_MEMORY_DEFAULT (premultiplied, native-endian ARGB); each further level
 * halves both sides (rounding up) by averaging 2 x 2 pixels. Levels are made when first asked for. */
IbTexturePyramid *ib_texture_pyramid_new        (GdkTexture       *picture);
/* The same from straight-alpha RGBA8 pixels (an IbEditImage's), which must stay as they are while the pyramid
 * lives: each level is made from them when first asked for, in one pass, premultiplied by a loop of our own
 * (GTK 4.8 converts a texture's pixels through floats), each texel the mean of its 2^n x 2^n block. A preview
 * then costs the canvas one pass over its pixels for the level it shows, not a conversion and a halving. */
IbTexturePyramid *ib_texture_pyramid_new_for_rgba (const guint8   *rgba,
                                                   int             width,
                                                   int             height,
                                                   gsize           stride);
void              ib_texture_pyramid_free       (IbTexturePyramid *self);

/* The level n to draw at zoom: the smallest scale 2^-n at least zoom (0 for zoom >= 1), so that drawing it
 * shrinks by at most half. Anything drawn at a zoom (the mask overlay too) is cheapest from its level n. */
guint             ib_texture_pyramid_level_for_zoom (double        zoom);

/* That level of the pyramid. Borrowed. Draw it over the picture's bounds at that zoom. */
GdkTexture       *ib_texture_pyramid_for_zoom   (IbTexturePyramid *self,
                                                 double            zoom);

/* Level n (clamped to the last, a 1 x 1 picture), borrowed: as a texture, and as the cairo image surface
 * (ARGB32) whose memory the texture reads. */
GdkTexture       *ib_texture_pyramid_get_level  (IbTexturePyramid *self,
                                                 guint             level);
cairo_surface_t  *ib_texture_pyramid_get_surface (IbTexturePyramid *self,
                                                  guint             level);

/* A texture (GDK_MEMORY_DEFAULT) that reads the pixels of surface, a filled ARGB32 image surface that must not
 * change afterwards: the canvas paints the surface itself under GTK's cairo renderer and the texture under the
 * others, with one copy of the pixels. */
GdkTexture       *ib_texture_new_for_surface    (cairo_surface_t  *surface);
/* The surface a texture of ib_texture_new_for_surface reads (borrowed), or NULL for any other texture. */
cairo_surface_t  *ib_texture_get_surface        (GdkTexture       *texture);

/* Whether widget's window draws with GTK's cairo renderer (no GPU, remote displays), which converts every
 * texel of a texture node on every frame that draws it: widgets that can then paint their own image surfaces
 * in a cairo node instead (the canvas, the thumbnails). FALSE before the widget is in a window. */
gboolean          ib_widget_renders_with_cairo  (GtkWidget        *widget);

/* A thumbnail of straight-alpha RGBA8 pixels (an IbEditImage's) for widgets at most max_side pixels across
 * (IbThumbnail in the level strip and the gallery): the smallest level whose larger side is still at least
 * max_side (level 0 when the pixels are that small already), made in one pass, as a new texture. The renderer
 * then never filters the whole picture down on each frame. */
GdkTexture       *ib_texture_thumbnail_for_rgba (const guint8     *rgba,
                                                 int               width,
                                                 int               height,
                                                 gsize             stride,
                                                 int               max_side);
/* Its pixels, as a new ARGB32 image surface: only cairo and our own loop, so any thread may make them (the job
 * runner's worker does, ib-job-runner.h), and ib_texture_new_for_surface turns them into the texture. */
cairo_surface_t  *ib_thumbnail_surface_for_rgba (const guint8     *rgba,
                                                 int               width,
                                                 int               height,
                                                 gsize             stride,
                                                 int               max_side);

/* Level n of straight-alpha RGBA8 pixels as a new ARGB32 image surface, what a pyramid for them makes when
 * that level is first asked for; any thread may make it (the job runner's worker does for the canvas). */
cairo_surface_t  *ib_texture_level_surface_for_rgba (const guint8   *rgba,
                                                     int             width,
                                                     int             height,
                                                     gsize           stride,
                                                     guint           level);

/* An ARGB32 surface halved (each pixel the mean of 2 x 2), and scaled to width x height by halving and then
 * bilinear filtering, which never shrinks by more than half: a fraction of the time of cairo's GOOD filter. */
cairo_surface_t  *ib_surface_halve              (cairo_surface_t  *surface);
cairo_surface_t  *ib_surface_scaled             (cairo_surface_t  *source,
                                                 int               width,
                                                 int               height);

/* Takes surface (a new reference), made by ib_texture_level_surface_for_rgba from the pixels of this pyramid
 * for RGBA, as its level n, so that the first draw at that level makes nothing. Ignored if it is made. */
void              ib_texture_pyramid_set_surface (IbTexturePyramid *self,
                                                  guint             level,
                                                  cairo_surface_t  *surface);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (IbTexturePyramid, ib_texture_pyramid_free)

G_END_DECLS
