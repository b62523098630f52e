/* ib-image-io.c: reading pictures through GdkPixbuf with the size checked first, writing PNG and JPEG. */
#include "ib-image-io.h"

#include <glib/gi18n.h>
#include <string.h>

#include "ib-atomic-file.h"
#include "ib-edit-recipe.h"
#include "ib-webp.h"

/* Formats read; everything else GdkPixbuf knows (SVG, icons, XPM) is not a photograph to edit. */
static const char *const supported_formats[] = { "png", "jpeg", "webp", "tiff", "bmp", "gif", NULL };

/* Uncompressed TIFF or BMP of the largest accepted picture, plus headers: files beyond are refused unread. */
#define MAX_FILE_SIZE ((guint64) IB_EDIT_MAX_PIXELS * 4 + ((guint64) 64 << 20))

void
ib_image_info_clear (IbImageInfo *info)
{
  g_clear_pointer (&info->format, g_free);
  g_clear_pointer (&info->recipe, g_free);
  info->animated = FALSE;
  info->has_alpha = FALSE;
}

char *
ib_image_io_file_name (GFile *file)
{
  g_autoptr (GFileInfo) info = g_file_query_info (file, G_FILE_ATTRIBUTE_STANDARD_DISPLAY_NAME,
                                                  G_FILE_QUERY_INFO_NONE, NULL, NULL);
  if (info != NULL)
    return g_strdup (g_file_info_get_display_name (info));
  return g_file_get_basename (file);
}

static gboolean
size_is_acceptable (gint64       width,
                    gint64       height,
                    const char  *name,
                    GError     **error)
{
  if (width <= 0 || height <= 0)
    {
      g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_EMPTY,
                   _("“%s” has no pixels (its size is %lld × %lld)."), name, (long long) width, (long long) height);
      return FALSE;
    }
  if (width > IB_EDIT_MAX_SIDE || height > IB_EDIT_MAX_SIDE || width * height > IB_EDIT_MAX_PIXELS)
    {
      g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_TOO_LARGE,
                   _("“%s” is too large to edit: %lld × %lld pixels (at most %d pixels per side and %d "
                     "megapixels). Scale it down first."),
                   name, (long long) width, (long long) height, IB_EDIT_MAX_SIDE,
                   (int) (IB_EDIT_MAX_PIXELS / 1000000));
      return FALSE;
    }
  return TRUE;
}

/* No format this program reads packs more pixels into a byte than this (deflate and LZW top out near a few
 * thousand; lossless WebP's long back-references near twenty thousand): a header that claims more is
 * damaged or hostile, and believing it would cost gigabytes before the loader noticed. */
#define MAX_PIXELS_PER_BYTE 65536

typedef struct
{
  const char *name;
  gsize n_bytes;              /* of the whole file */
  GError *error;              /* set by size_prepared_cb when the picture is refused */
  int height;
  guint8 *rows_seen;          /* per row of the (first) frame: whether the loader decoded it */
} LoadState;

/* Some loaders (PNG) close without an error on a truncated file and leave the missing rows blank; the rows
 * they reported decoding tell. */
static void
area_updated_cb (GdkPixbufLoader *loader,
                 int              x,
                 int              y,
                 int              width,
                 int              height,
                 gpointer         user_data)
{
  LoadState *state = user_data;
  if (state->rows_seen == NULL || width <= 0)
    return;
  for (int row = MAX (0, y); row < MIN (state->height, y + height); row++)
    state->rows_seen[row] = 1;
}

static gboolean
all_rows_seen (const LoadState *state)
{
  if (state->rows_seen == NULL)
    return FALSE;
  return memchr (state->rows_seen, 0, state->height) == NULL;
}

/* Called once the loader knows the size and before it allocates: a refused picture is shrunk to nothing so
 * that the loader allocates nothing and fails, and the refusal is reported instead of its error. */
static void
size_prepared_cb (GdkPixbufLoader *loader,
                  int              width,
                  int              height,
                  gpointer         user_data)
{
  LoadState *state = user_data;
  GdkPixbufFormat *format = gdk_pixbuf_loader_get_format (loader);
  g_autofree char *format_name = format != NULL ? gdk_pixbuf_format_get_name (format) : NULL;

  if (state->error != NULL)
    return;
  if (format_name == NULL || !g_strv_contains (supported_formats, format_name))
    g_set_error (&state->error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_FORMAT,
                 _("“%s” is a %s file, not a picture this program edits (PNG, JPEG, WebP, TIFF, BMP or GIF)."),
                 state->name, format_name != NULL ? format_name : "?");
  else if (!size_is_acceptable (width, height, state->name, &state->error))
    ;
  else if ((guint64) width * (guint64) height > (guint64) state->n_bytes * MAX_PIXELS_PER_BYTE)
    g_set_error (&state->error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_CORRUPT,
                 _("“%s” claims %d × %d pixels in only %lu bytes: the file is damaged."), state->name, width,
                 height, (unsigned long) state->n_bytes);
  else if (state->rows_seen == NULL)
    {
      state->height = height;
      state->rows_seen = g_malloc0 (height);
    }
  if (state->error != NULL)
    gdk_pixbuf_loader_set_size (loader, 0, 0);
}

/* libjpeg fills a truncated JPEG up with grey after a mere warning, so completeness is checked here by
 * walking the markers to the end-of-image marker: segments by their lengths, entropy-coded data up to the
 * next marker that is neither a stuffed FF 00 nor a restart. What follows the end (a motion photo's video,
 * a second picture) is not looked at. */
static gboolean
jpeg_is_complete (GBytes *bytes)
{
  gsize length;
  const guint8 *data = g_bytes_get_data (bytes, &length);
  gsize i = 2;

  if (length < 4 || data[0] != 0xff || data[1] != 0xd8)
    return FALSE;
  while (i + 1 < length)
    {
      guint8 marker = data[i + 1];
      if (data[i] != 0xff)
        return FALSE;
      if (marker == 0xd9)
        return TRUE;
      if (marker == 0xff)
        {
          i++;
          continue;
        }
      if (marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7))
        {
          i += 2;
          continue;
        }
      if (i + 4 > length)
        return FALSE;
      gsize segment = (gsize) data[i + 2] << 8 | data[i + 3];
      if (segment < 2 || segment > length - i - 2)
        return FALSE;
      i += 2 + segment;
      if (marker == 0xda)
        while (i + 1 < length &&
               !(data[i] == 0xff && data[i + 1] != 0x00 && (data[i + 1] < 0xd0 || data[i + 1] > 0xd7)))
          i++;
    }
  return FALSE;
}

/* A little-endian 32-bit field (RIFF and BMP headers). */
static guint32
read_le32 (const guint8 *p)
{
  return (guint32) p[0] | (guint32) p[1] << 8 | (guint32) p[2] << 16 | (guint32) p[3] << 24;
}

/* The pixbuf as straight RGBA8, alpha added when missing. */
static IbEditImage *
image_from_pixbuf (GdkPixbuf  *pixbuf,
                   const char *name,
                   GError    **error)
{
  int width = gdk_pixbuf_get_width (pixbuf), height = gdk_pixbuf_get_height (pixbuf);
  int channels = gdk_pixbuf_get_n_channels (pixbuf), stride = gdk_pixbuf_get_rowstride (pixbuf);

  if (!size_is_acceptable (width, height, name, error))
    return NULL;
  if (gdk_pixbuf_get_bits_per_sample (pixbuf) != 8 || gdk_pixbuf_get_colorspace (pixbuf) != GDK_COLORSPACE_RGB ||
      (channels != 3 && channels != 4))
    {
      g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_FORMAT,
                   _("“%s” uses a pixel layout this program cannot read (%d channels of %d bits)."), name, channels,
                   gdk_pixbuf_get_bits_per_sample (pixbuf));
      return NULL;
    }

  const guint8 *pixels = gdk_pixbuf_read_pixels (pixbuf);
  IbEditImage *image = ib_edit_image_new (0, 0, width, height);
  for (int y = 0; y < height; y++)
    {
      const guint8 *src = pixels + (gsize) y * stride;
      guint8 *dst = image->pixels + (gsize) y * image->stride;
      if (channels == 4)
        memcpy (dst, src, (gsize) width * 4);
      else
        for (int x = 0; x < width; x++, src += 3, dst += 4)
          {
            dst[0] = src[0];
            dst[1] = src[1];
            dst[2] = src[2];
            dst[3] = 255;
          }
    }
  return image;
}

/* GdkPixbuf's BMP loader allocates what the header's pixel offset and header size claim before it checks them
 * (a 90-byte file made it ask for 3 GB; found by fuzzing): a BMP whose header points past its own end is
 * refused before the loader sees it. Not a BMP: TRUE. */
static gboolean
bmp_header_fits (GBytes *bytes)
{
  gsize length;
  const guint8 *data = g_bytes_get_data (bytes, &length);

  if (length < 2 || data[0] != 'B' || data[1] != 'M')
    return TRUE;
  if (length < 18)
    return FALSE;
  guint32 pixel_offset = read_le32 (data + 10);
  guint32 header_size = read_le32 (data + 14);
  if (pixel_offset > length || header_size > length - 14)
    return FALSE;
  /* The palette it reads before the picture's size is known: as many entries as the file can hold. */
  if (header_size >= 40 && length >= 50)
    {
      guint32 n_colours = read_le32 (data + 46);
      if (n_colours > length / 3)
        return FALSE;
    }
  return TRUE;
}

/* Skips a GIF's data sub-blocks (a length byte, that many bytes; a zero length ends them) from i; past the
 * end of the bytes when they are cut short. */
static gsize
gif_skip_sub_blocks (const guint8 *data,
                     gsize         length,
                     gsize         i)
{
  while (i < length && data[i] != 0)
    i += (gsize) data[i] + 1;
  return i + 1;
}

/* GdkPixbuf's GIF loader asks for an empty pixbuf, with criticals on the console, for a frame of zero width or
 * height (36- and 47-byte files; found by fuzzing): such a GIF is refused before the loader sees it. Walks the
 * blocks to the trailer as the loader does, stray bytes skipped; what it does not follow (not a GIF, cut
 * short) is left to the loader, which reports it: TRUE. */
static gboolean
gif_frames_have_pixels (GBytes *bytes)
{
  gsize length;
  const guint8 *data = g_bytes_get_data (bytes, &length);

  if (length < 13 || memcmp (data, "GIF8", 4) != 0)
    return TRUE;
  gsize i = 13;
  if (data[10] & 0x80)  /* the global colour table */
    i += 3 * ((gsize) 2 << (data[10] & 7));
  while (i < length)
    {
      switch (data[i])
        {
        case 0x21:  /* an extension: its label, then sub-blocks */
          i = gif_skip_sub_blocks (data, length, i + 2);
          break;
        case 0x2c:  /* a frame: position, size, flags, its own colour table, LZW code size, sub-blocks */
          if (i + 10 > length)
            return TRUE;
          if ((data[i + 5] | data[i + 6] << 8) == 0 || (data[i + 7] | data[i + 8] << 8) == 0)
            return FALSE;
          if (data[i + 9] & 0x80)
            i += 3 * ((gsize) 2 << (data[i + 9] & 7));
          i = gif_skip_sub_blocks (data, length, i + 11);
          break;
        case 0x3b:  /* the trailer */
          return TRUE;
        default:  /* a stray byte: the loader skips it and reads on, so do we */
          i++;
        }
    }
  return TRUE;
}

/* What a header claims that some loader would believe and allocate for before it reports the picture's size:
 * checked here, before any loader sees the file. */
static gboolean
header_claims_are_believable (GBytes      *bytes,
                              const char  *name,
                              GError     **error)
{
  gint64 width, height;

  if (!bmp_header_fits (bytes))
    {
      g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_CORRUPT,
                   _("“%s” is a damaged BMP file: its header points past the end of the file."), name);
      return FALSE;
    }
  /* libjpeg, under GdkPixbuf's loader, can spin for minutes on a JPEG that ends early (185 bytes, arithmetic
   * coded; found by fuzzing). Such a file was refused after loading anyway (jpeg_is_complete): it is now
   * refused before the loader sees it. */
  if (g_bytes_get_size (bytes) >= 2 && memcmp (g_bytes_get_data (bytes, NULL), "\xff\xd8", 2) == 0 &&
      !jpeg_is_complete (bytes))
    {
      g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_CORRUPT,
                   _("“%s” is damaged or incomplete and cannot be read: %s"), name,
                   _("the file ends before the picture is complete"));
      return FALSE;
    }
  if (!gif_frames_have_pixels (bytes))
    {
      g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_CORRUPT,
                   _("“%s” is a damaged GIF file: one of its frames has no pixels."), name);
      return FALSE;
    }
  if (ib_webp_canvas_size (bytes, &width, &height))
    {
      if (!size_is_acceptable (width, height, name, error))
        return FALSE;
      if ((guint64) width * (guint64) height > (guint64) g_bytes_get_size (bytes) * MAX_PIXELS_PER_BYTE)
        {
          g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_CORRUPT,
                       _("“%s” claims %d × %d pixels in only %lu bytes: the file is damaged."), name, (int) width,
                       (int) height, (unsigned long) g_bytes_get_size (bytes));
          return FALSE;
        }
    }
  return TRUE;
}

static void
set_webp_frame_error (GError             **error,
                      const char          *name,
                      IbWebpFrameProblem   problem)
{
  switch (problem)
    {
    case IB_WEBP_FRAME_NO_ANIMATION:
      g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_CORRUPT,
                   _("“%s” is a damaged WebP file: it says it is animated but holds no animation."), name);
      break;
    case IB_WEBP_FRAME_OUTSIDE_CANVAS:
      g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_CORRUPT,
                   _("“%s” is a damaged WebP file: its first frame does not fit its canvas."), name);
      break;
    case IB_WEBP_FRAME_NO_PICTURE:
      g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_CORRUPT,
                   _("“%s” is a damaged WebP file: its first frame holds no picture."), name);
      break;
    case IB_WEBP_FRAME_CUT_SHORT:
    case IB_WEBP_FRAME_OK:
    default:
      g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_CORRUPT,
                   _("“%s” is damaged or incomplete and cannot be read: %s"), name,
                   _("the file ends before the picture is complete"));
      break;
    }
}

/* An animated WebP: its first frame, read as a still picture (ib-webp.h) and placed on the canvas,
 * which is transparent where the frame does not cover it. */
static IbEditImage *
load_webp_first_frame (GBytes      *bytes,
                       const char  *name,
                       IbImageInfo *info,
                       GError     **error)
{
  IbWebpFrame frame;
  IbWebpFrameProblem problem = IB_WEBP_FRAME_OK;
  g_autoptr (GBytes) still = ib_webp_is_complete (bytes) ? ib_webp_first_frame (bytes, &frame, &problem) : NULL;
  if (still == NULL)
    {
      set_webp_frame_error (error, name, problem);
      return NULL;
    }
  IbImageInfo still_info = { 0 };
  g_autoptr (IbEditImage) picture = ib_image_io_load_from_bytes (still, name, &still_info, error);
  gboolean still_has_alpha = still_info.has_alpha;
  ib_image_info_clear (&still_info);
  if (picture == NULL)
    return NULL;
  if (picture->width != frame.width || picture->height != frame.height)
    {
      g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_CORRUPT,
                   _("“%s” is a damaged WebP file: its first frame is not the size its header says."), name);
      return NULL;
    }

  gboolean covers = frame.width == frame.canvas_width && frame.height == frame.canvas_height;
  IbEditImage *image = covers ? ib_edit_image_ref (picture)
                              : ib_edit_image_new (0, 0, frame.canvas_width, frame.canvas_height);
  if (!covers)
    {
      memset (image->pixels, 0, (gsize) image->stride * image->height);
      for (int y = 0; y < frame.height; y++)
        memcpy (image->pixels + (gsize) (frame.y + y) * image->stride + (gsize) frame.x * 4,
                picture->pixels + (gsize) y * picture->stride, (gsize) frame.width * 4);
    }
  if (info != NULL)
    {
      info->format = g_strdup ("webp");
      info->animated = TRUE;
      info->has_alpha = still_has_alpha || !covers;
    }
  return image;
}

IbEditImage *
ib_image_io_load_from_bytes (GBytes      *bytes,
                             const char  *name,
                             IbImageInfo *info,
                             GError     **error)
{
  g_return_val_if_fail (bytes != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);

  if (g_bytes_get_size (bytes) == 0)
    {
      g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_EMPTY, _("“%s” is empty (0 bytes)."), name);
      return NULL;
    }
  if (!header_claims_are_believable (bytes, name, error))
    return NULL;
  if (ib_webp_is_animated (bytes))
    return load_webp_first_frame (bytes, name, info, error);

  LoadState state = { name, g_bytes_get_size (bytes), NULL, 0, NULL };
  g_autoptr (GdkPixbufLoader) loader = gdk_pixbuf_loader_new ();
  g_signal_connect (loader, "size-prepared", G_CALLBACK (size_prepared_cb), &state);
  g_signal_connect (loader, "area-updated", G_CALLBACK (area_updated_cb), &state);

  g_autoptr (GError) local = NULL;
  gboolean written = gdk_pixbuf_loader_write_bytes (loader, bytes, &local);
  /* Always close: a loader finalized open warns. Its error is the second one if writing already failed. */
  gboolean closed = gdk_pixbuf_loader_close (loader, written ? &local : NULL);
  gboolean complete = all_rows_seen (&state);
  g_free (state.rows_seen);
  if (state.error != NULL)
    {
      g_propagate_error (error, state.error);
      return NULL;
    }
  GdkPixbuf *first = gdk_pixbuf_loader_get_pixbuf (loader);
  GdkPixbufFormat *format = gdk_pixbuf_loader_get_format (loader);
  g_autofree char *format_name = format != NULL ? gdk_pixbuf_format_get_name (format) : NULL;
  GdkPixbufAnimation *animation = gdk_pixbuf_loader_get_animation (loader);
  gboolean animated = animation != NULL && !gdk_pixbuf_animation_is_static_image (animation);
  /* A GIF's first frame may cover part of its canvas only; its loader reports truncation itself. A JPEG's
   * markers were walked to its end before loading. A WebP's loader decodes what it has of a cut file: its
   * RIFF header says whether it is whole. (Animated WebPs do not come here: load_webp_first_frame.) */
  if (g_strcmp0 (format_name, "gif") == 0)
    complete = TRUE;
  else if (complete && g_strcmp0 (format_name, "webp") == 0)
    complete = ib_webp_is_complete (bytes);
  if (!written || !closed || first == NULL || !complete)
    {
      if (local != NULL && g_error_matches (local, GDK_PIXBUF_ERROR, GDK_PIXBUF_ERROR_UNKNOWN_TYPE))
        g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_FORMAT,
                     _("“%s” is not a picture this program reads (PNG, JPEG, WebP, TIFF, BMP or GIF)."), name);
      else
        g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_CORRUPT,
                     _("“%s” is damaged or incomplete and cannot be read: %s"), name,
                     local != NULL ? local->message : _("the file ends before the picture is complete"));
      return NULL;
    }

  g_autoptr (GdkPixbuf) oriented = gdk_pixbuf_apply_embedded_orientation (first);
  if (oriented == NULL)
    {
      g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_IO, _("Not enough memory to read “%s”."), name);
      return NULL;
    }
  IbEditImage *image = image_from_pixbuf (oriented, name, error);
  if (image == NULL)
    return NULL;

  if (info != NULL)
    {
      info->format = g_steal_pointer (&format_name);
      info->animated = animated;
      info->has_alpha = gdk_pixbuf_get_has_alpha (first);
      info->recipe = g_strdup (gdk_pixbuf_get_option (first, "tEXt::" IB_EDIT_RECIPE_PNG_KEY));
    }
  return image;
}

IbEditImage *
ib_image_io_load (GFile        *file,
                  IbImageInfo  *info,
                  GCancellable *cancellable,
                  GError      **error)
{
  g_return_val_if_fail (G_IS_FILE (file), NULL);

  g_autofree char *name = ib_image_io_file_name (file);
  g_autoptr (GError) local = NULL;
  g_autoptr (GFileInfo) file_info = g_file_query_info (file, G_FILE_ATTRIBUTE_STANDARD_SIZE ","
                                                       G_FILE_ATTRIBUTE_STANDARD_TYPE,
                                                       G_FILE_QUERY_INFO_NONE, cancellable, &local);
  if (file_info == NULL)
    {
      g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_IO, _("Could not open “%s”: %s"), name,
                   local->message);
      return NULL;
    }
  if (g_file_info_get_file_type (file_info) == G_FILE_TYPE_DIRECTORY)
    {
      g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_FORMAT, _("“%s” is a folder, not a picture."),
                   name);
      return NULL;
    }
  if ((guint64) g_file_info_get_size (file_info) > MAX_FILE_SIZE)
    {
      g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_TOO_LARGE,
                   _("“%s” is too large to open (%llu MB)."), name,
                   (unsigned long long) g_file_info_get_size (file_info) >> 20);
      return NULL;
    }

  g_autoptr (GBytes) bytes = g_file_load_bytes (file, cancellable, NULL, &local);
  if (bytes == NULL)
    {
      g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_IO, _("Could not read “%s”: %s"), name,
                   local->message);
      return NULL;
    }
  return ib_image_io_load_from_bytes (bytes, name, info, error);
}

IbEditImage *
ib_image_io_load_texture (GdkTexture *texture,
                          GError    **error)
{
  g_return_val_if_fail (GDK_IS_TEXTURE (texture), NULL);

  int width = gdk_texture_get_width (texture), height = gdk_texture_get_height (texture);
  if (!size_is_acceptable (width, height, _("The pasted picture"), error))
    return NULL;

  /* GTK 4.8 downloads premultiplied native-endian ARGB (Cairo's layout); straighten it. */
  IbEditImage *image = ib_edit_image_new (0, 0, width, height);
  gdk_texture_download (texture, image->pixels, image->stride);
  for (int y = 0; y < height; y++)
    {
      guint8 *p = image->pixels + (gsize) y * image->stride;
      for (int x = 0; x < width; x++, p += 4)
        {
          guint32 argb;
          memcpy (&argb, p, 4);
          guint a = argb >> 24, r = (argb >> 16) & 0xff, g = (argb >> 8) & 0xff, b = argb & 0xff;
          if (a != 0 && a != 255)
            {
              r = MIN (255, (r * 255 + a / 2) / a);
              g = MIN (255, (g * 255 + a / 2) / a);
              b = MIN (255, (b * 255 + a / 2) / a);
            }
          p[0] = r;
          p[1] = g;
          p[2] = b;
          p[3] = a;
        }
    }
  return image;
}

GdkTexture *
ib_image_io_to_texture (IbEditImage *image)
{
  g_return_val_if_fail (image != NULL, NULL);
  g_autoptr (GBytes) bytes = g_bytes_new_with_free_func (image->pixels, (gsize) image->stride * image->height,
                                                         (GDestroyNotify) ib_edit_image_unref,
                                                         ib_edit_image_ref (image));
  return gdk_memory_texture_new (image->width, image->height, GDK_MEMORY_R8G8B8A8, bytes, image->stride);
}

static gboolean
is_opaque (const IbEditImage *image)
{
  for (int y = 0; y < image->height; y++)
    {
      const guint8 *p = image->pixels + (gsize) y * image->stride;
      for (int x = 0; x < image->width; x++)
        if (p[x * 4 + 3] != 255)
          return FALSE;
    }
  return TRUE;
}

/* RGB or RGBA copy of image; opaque_over_white composites onto white first (JPEG has no alpha). */
static GdkPixbuf *
pixbuf_from_image (const IbEditImage *image,
                   gboolean           with_alpha,
                   GError           **error)
{
  GdkPixbuf *pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, with_alpha, 8, image->width, image->height);
  if (pixbuf == NULL)
    {
      g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_IO, _("Not enough memory to encode the picture."));
      return NULL;
    }
  int stride = gdk_pixbuf_get_rowstride (pixbuf);
  guint8 *pixels = gdk_pixbuf_get_pixels (pixbuf);
  for (int y = 0; y < image->height; y++)
    {
      const guint8 *src = image->pixels + (gsize) y * image->stride;
      guint8 *dst = pixels + (gsize) y * stride;
      if (with_alpha)
        memcpy (dst, src, (gsize) image->width * 4);
      else
        for (int x = 0; x < image->width; x++, src += 4, dst += 3)
          for (int c = 0; c < 3; c++)
            dst[c] = (guint8) ((src[c] * src[3] + 255 * (255 - src[3]) + 127) / 255);
    }
  return pixbuf;
}

static GBytes *
encode (const IbEditImage *image,
        gboolean           with_alpha,
        const char        *type,
        char             **keys,
        char             **values,
        GError           **error)
{
  g_autoptr (GdkPixbuf) pixbuf = pixbuf_from_image (image, with_alpha, error);
  if (pixbuf == NULL)
    return NULL;
  char *buffer = NULL;
  gsize length = 0;
  g_autoptr (GError) local = NULL;
  if (!gdk_pixbuf_save_to_bufferv (pixbuf, &buffer, &length, type, keys, values, &local))
    {
      g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_IO, _("Could not encode the picture as %s: %s"),
                   type, local->message);
      return NULL;
    }
  return g_bytes_new_take (buffer, length);
}

GBytes *
ib_image_io_encode_png (const IbEditImage *image,
                        const char        *recipe,
                        GError           **error)
{
  g_return_val_if_fail (image != NULL, NULL);
  char *keys[] = { "tEXt::" IB_EDIT_RECIPE_PNG_KEY, NULL };
  char *values[] = { (char *) recipe, NULL };
  return encode (image, !is_opaque (image), "png", recipe != NULL ? keys : NULL, recipe != NULL ? values : NULL,
                 error);
}

GBytes *
ib_image_io_encode_jpeg (const IbEditImage *image,
                         int                quality,
                         GError           **error)
{
  g_return_val_if_fail (image != NULL, NULL);
  g_return_val_if_fail (quality >= 1 && quality <= 100, NULL);
  g_autofree char *quality_text = g_strdup_printf ("%d", quality);
  char *keys[] = { "quality", NULL };
  char *values[] = { quality_text, NULL };
  return encode (image, FALSE, "jpeg", keys, values, error);
}

gboolean
ib_image_io_save_png (const IbEditImage *image,
                      const char        *recipe,
                      GFile             *file,
                      GCancellable      *cancellable,
                      GError           **error)
{
  g_autoptr (GBytes) bytes = ib_image_io_encode_png (image, recipe, error);
  return bytes != NULL && ib_atomic_file_write_bytes (file, bytes, cancellable, error);
}

gboolean
ib_image_io_save_jpeg (const IbEditImage *image,
                       int                quality,
                       GFile             *file,
                       GCancellable      *cancellable,
                       GError           **error)
{
  g_autoptr (GBytes) bytes = ib_image_io_encode_jpeg (image, quality, error);
  return bytes != NULL && ib_atomic_file_write_bytes (file, bytes, cancellable, error);
}

IbEditImage *
ib_image_io_copy_region (const IbEditImage  *image,
                         const GdkRectangle *area)
{
  g_return_val_if_fail (image != NULL && area != NULL, NULL);
  g_return_val_if_fail (area->x >= image->x && area->y >= image->y && area->width > 0 && area->height > 0, NULL);
  g_return_val_if_fail (area->x - image->x <= image->width - area->width, NULL);
  g_return_val_if_fail (area->y - image->y <= image->height - area->height, NULL);

  IbEditImage *copy = ib_edit_image_new (area->x, area->y, area->width, area->height);
  for (int y = 0; y < area->height; y++)
    memcpy (copy->pixels + (gsize) y * copy->stride,
            image->pixels + (gsize) (area->y - image->y + y) * image->stride + (gsize) (area->x - image->x) * 4,
            (gsize) area->width * 4);
  return copy;
}
