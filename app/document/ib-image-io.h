/* ib-image-io.h: pictures in and out of the editor, as RGBA8 IbEditImage (model/ib-edit-job.h).
 *
 * Reading: PNG, JPEG, WebP, TIFF, BMP and GIF through GdkPixbuf, with the EXIF orientation applied. The size
 * is looked at before any pixel is allocated: more than IB_EDIT_MAX_SIDE per side or IB_EDIT_MAX_PIXELS in
 * all is refused, and so are empty, truncated and corrupt files and other formats (SVG, icons). Animated
 * pictures give their first frame, and IbImageInfo.animated says so (the shell tells the user). 16-bit and
 * CMYK pictures are converted to 8-bit RGB by the loaders; greyscale and pictures without alpha get an opaque
 * alpha channel. Every error message names the file and the problem.
 *
 * Writing: PNG (with an edit recipe in the IB_EDIT_RECIPE_PNG_KEY text chunk, as `imagebart inpaint` writes
 * it) and JPEG with a quality, always atomically (ib-atomic-file.h). */
#pragma once

#include <gdk/gdk.h>
#include <gio/gio.h>

#include "ib-document-error.h"
#include "ib-edit-job.h"

G_BEGIN_DECLS

typedef struct
{
  char *format;            /* GdkPixbuf's name: "png", "jpeg", "webp", "tiff", "bmp", "gif" */
  gboolean animated;       /* only the first frame was read */
  gboolean has_alpha;      /* the file had an alpha channel */
  char *recipe;            /* the edit recipe of its PNG text chunk, or NULL */
} IbImageInfo;

void         ib_image_info_clear          (IbImageInfo   *info);

/* info may be NULL; when given it is filled on success (clear it with ib_image_info_clear). */
IbEditImage *ib_image_io_load             (GFile         *file,
                                           IbImageInfo   *info,
                                           GCancellable  *cancellable,
                                           GError       **error);

/* The same from a file's bytes; name is used in messages (a file name or "the clipboard"). */
IbEditImage *ib_image_io_load_from_bytes  (GBytes        *bytes,
                                           const char    *name,
                                           IbImageInfo   *info,
                                           GError       **error);

/* A texture (clipboard, drag and drop) as straight RGBA8, with the same size limits. */
IbEditImage *ib_image_io_load_texture     (GdkTexture    *texture,
                                           GError       **error);

/* A texture of the picture for display (non-premultiplied RGBA8, no copy of the pixels is kept by the
 * picture: the texture holds a reference to it). */
GdkTexture  *ib_image_io_to_texture       (IbEditImage   *image);

/* Encoders: PNG with the recipe (may be NULL) in its text chunk, without alpha when every pixel is opaque;
 * JPEG at quality 1..100, composited over white. */
GBytes      *ib_image_io_encode_png       (const IbEditImage *image,
                                           const char    *recipe,
                                           GError       **error);
GBytes      *ib_image_io_encode_jpeg      (const IbEditImage *image,
                                           int            quality,
                                           GError       **error);

/* Encode and write atomically. */
gboolean     ib_image_io_save_png         (const IbEditImage *image,
                                           const char    *recipe,
                                           GFile         *file,
                                           GCancellable  *cancellable,
                                           GError       **error);
gboolean     ib_image_io_save_jpeg        (const IbEditImage *image,
                                           int            quality,
                                           GFile         *file,
                                           GCancellable  *cancellable,
                                           GError       **error);

/* A copy of a region of image, at the same place (x, y) in picture coordinates. */
IbEditImage *ib_image_io_copy_region      (const IbEditImage *image,
                                           const GdkRectangle *area);

/* "“name”" of a file for messages: its display name. */
char        *ib_image_io_file_name        (GFile         *file);

G_END_DECLS
