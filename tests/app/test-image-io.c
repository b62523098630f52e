/* test-image-io.c: reading pictures (formats, orientation, size limits, damaged files) and atomic writes
 * (disk full, cancellation, permissions, a process killed in the middle of a save). */
#include <errno.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ib-atomic-file.h"
#include "ib-image-io.h"
#include "ib-studio.h"

/* Fixtures made with PIL: a 16-bit greyscale PNG ramp, a CMYK JPEG of red, a two-frame GIF (red, blue). */
static const guint8 png16_grey[] = {
  0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00,
  0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 0x10, 0x00, 0x00, 0x00, 0x00, 0xd8, 0xff, 0xcd, 0xdc, 0x00, 0x00, 0x00,
  0x13, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x64, 0x60, 0x30, 0x86, 0x03, 0x26, 0x06, 0x24, 0x80, 0x9b,
  0x03, 0x00, 0x59, 0xab, 0x02, 0x06, 0x08, 0x38, 0x97, 0x53, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44,
  0xae, 0x42, 0x60, 0x82
};
static const guint8 jpeg_cmyk[] = {
  0xff, 0xd8, 0xff, 0xee, 0x00, 0x0e, 0x41, 0x64, 0x6f, 0x62, 0x65, 0x00, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00,
  0xff, 0xdb, 0x00, 0x43, 0x00, 0x02, 0x01, 0x01, 0x01, 0x01, 0x01, 0x02, 0x01, 0x01, 0x01, 0x02, 0x02, 0x02,
  0x02, 0x02, 0x04, 0x03, 0x02, 0x02, 0x02, 0x02, 0x05, 0x04, 0x04, 0x03, 0x04, 0x06, 0x05, 0x06, 0x06, 0x06,
  0x05, 0x06, 0x06, 0x06, 0x07, 0x09, 0x08, 0x06, 0x07, 0x09, 0x07, 0x06, 0x06, 0x08, 0x0b, 0x08, 0x09, 0x0a,
  0x0a, 0x0a, 0x0a, 0x0a, 0x06, 0x08, 0x0b, 0x0c, 0x0b, 0x0a, 0x0c, 0x09, 0x0a, 0x0a, 0x0a, 0xff, 0xc0, 0x00,
  0x14, 0x08, 0x00, 0x08, 0x00, 0x08, 0x04, 0x43, 0x11, 0x00, 0x4d, 0x11, 0x00, 0x59, 0x11, 0x00, 0x4b, 0x11,
  0x00, 0xff, 0xc4, 0x00, 0x1f, 0x00, 0x00, 0x01, 0x05, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0xff, 0xc4,
  0x00, 0xb5, 0x10, 0x00, 0x02, 0x01, 0x03, 0x03, 0x02, 0x04, 0x03, 0x05, 0x05, 0x04, 0x04, 0x00, 0x00, 0x01,
  0x7d, 0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22,
  0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33, 0x62,
  0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36,
  0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58,
  0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a,
  0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2,
  0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2,
  0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1,
  0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9,
  0xfa, 0xff, 0xda, 0x00, 0x0e, 0x04, 0x43, 0x00, 0x4d, 0x00, 0x59, 0x00, 0x4b, 0x00, 0x00, 0x3f, 0x00, 0xfd,
  0xfc, 0xaf, 0xe7, 0xfe, 0xbf, 0x9f, 0xfa, 0xfd, 0xfc, 0xaf, 0xff, 0xd9
};
/* Two 4 × 4 frames, red then blue, lossless (PIL). */
static const guint8 webp_animated[] = {
  0x52, 0x49, 0x46, 0x46, 0x84, 0x00, 0x00, 0x00, 0x57, 0x45, 0x42, 0x50,
  0x56, 0x50, 0x38, 0x58, 0x0a, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
  0x03, 0x00, 0x00, 0x03, 0x00, 0x00, 0x41, 0x4e, 0x49, 0x4d, 0x06, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x41, 0x4e, 0x4d, 0x46,
  0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00,
  0x00, 0x03, 0x00, 0x00, 0x64, 0x00, 0x00, 0x02, 0x56, 0x50, 0x38, 0x4c,
  0x0f, 0x00, 0x00, 0x00, 0x2f, 0x03, 0xc0, 0x00, 0x00, 0x07, 0x10, 0xfd,
  0x8f, 0xfe, 0x07, 0x22, 0xa2, 0xff, 0x01, 0x00, 0x41, 0x4e, 0x4d, 0x46,
  0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00,
  0x00, 0x03, 0x00, 0x00, 0x64, 0x00, 0x00, 0x00, 0x56, 0x50, 0x38, 0x4c,
  0x0f, 0x00, 0x00, 0x00, 0x2f, 0x03, 0xc0, 0x00, 0x00, 0x07, 0x10, 0xd1,
  0xff, 0xfe, 0x07, 0x22, 0xa2, 0xff, 0x01, 0x00
};
static const guint8 gif_animated[] = {
  0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x04, 0x00, 0x04, 0x00, 0x81, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x21, 0xff, 0x0b, 0x4e, 0x45, 0x54, 0x53, 0x43, 0x41, 0x50, 0x45,
  0x32, 0x2e, 0x30, 0x03, 0x01, 0x00, 0x00, 0x00, 0x21, 0xf9, 0x04, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x2c, 0x00,
  0x00, 0x00, 0x00, 0x04, 0x00, 0x04, 0x00, 0x00, 0x08, 0x09, 0x00, 0x01, 0x08, 0x1c, 0x48, 0xb0, 0x20, 0x80,
  0x80, 0x00, 0x21, 0xf9, 0x04, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x04,
  0x00, 0x81, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x09, 0x00, 0x01,
  0x08, 0x1c, 0x48, 0xb0, 0x20, 0x80, 0x80, 0x00, 0x3b
};

static IbEditImage *
make_picture (int     width,
              int     height,
              guint32 seed,
              gboolean with_alpha)
{
  IbEditImage *image = ib_edit_image_new (0, 0, width, height);
  GRand *rand = g_rand_new_with_seed (seed);
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      {
        guint8 *p = image->pixels + (gsize) y * image->stride + x * 4;
        p[0] = (guint8) (x * 255 / MAX (1, width - 1));
        p[1] = (guint8) (y * 255 / MAX (1, height - 1));
        p[2] = (guint8) g_rand_int_range (rand, 0, 256);
        p[3] = with_alpha ? (guint8) g_rand_int_range (rand, 0, 256) : 255;
      }
  g_rand_free (rand);
  return image;
}

static char *
picture_hash (const IbEditImage *image)
{
  return ib_edit_hash_pixels (image->pixels, image->width, image->height, image->stride, 4);
}

static void
assert_same_pixels (const IbEditImage *a,
                    const IbEditImage *b)
{
  g_assert_cmpint (a->width, ==, b->width);
  g_assert_cmpint (a->height, ==, b->height);
  for (int y = 0; y < a->height; y++)
    g_assert_cmpmem (a->pixels + (gsize) y * a->stride, a->width * 4, b->pixels + (gsize) y * b->stride,
                     b->width * 4);
}

static GBytes *
encode_with_pixbuf (const IbEditImage *image,
                    const char        *type)
{
  /* The pictures given here are opaque: their RGB goes to the encoder as it is. */
  g_autoptr (GdkPixbuf) rgb = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, image->width, image->height);
  for (int y = 0; y < image->height; y++)
    for (int x = 0; x < image->width; x++)
      memcpy (gdk_pixbuf_get_pixels (rgb) + (gsize) y * gdk_pixbuf_get_rowstride (rgb) + x * 3,
              image->pixels + (gsize) y * image->stride + x * 4, 3);
  char *buffer = NULL;
  gsize length = 0;
  g_autoptr (GError) error = NULL;
  gboolean saved = g_str_equal (type, "jpeg")
    ? gdk_pixbuf_save_to_buffer (rgb, &buffer, &length, type, &error, "quality", "98", NULL)
    : gdk_pixbuf_save_to_buffer (rgb, &buffer, &length, type, &error, NULL);
  g_assert_no_error (error);
  g_assert_true (saved);
  return g_bytes_new_take (buffer, length);
}

static void
test_formats (void)
{
  const char *types[] = { "png", "jpeg", "webp", "tiff", "bmp" };
  g_autoptr (IbEditImage) picture = make_picture (37, 23, 1, FALSE);

  for (guint i = 0; i < G_N_ELEMENTS (types); i++)
    {
      g_autoptr (GBytes) bytes = encode_with_pixbuf (picture, types[i]);
      g_autoptr (GError) error = NULL;
      IbImageInfo info = { 0 };
      g_autoptr (IbEditImage) loaded = ib_image_io_load_from_bytes (bytes, "picture", &info, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (info.format, ==, types[i]);
      g_assert_false (info.animated);
      g_assert_null (info.recipe);
      if (g_str_equal (types[i], "jpeg") || g_str_equal (types[i], "webp"))
        {
          /* Lossy: the red ramp survives on average. */
          g_assert_cmpint (loaded->width, ==, 37);
          g_assert_cmpint (loaded->height, ==, 23);
          gint64 error_sum = 0;
          for (int p = 0; p < 37 * 23; p++)
            {
              g_assert_cmpint (loaded->pixels[p * 4 + 3], ==, 255);
              error_sum += ABS (loaded->pixels[p * 4] - picture->pixels[p * 4]);
            }
          g_assert_cmpint (error_sum / (37 * 23), <, 16);
        }
      else
        assert_same_pixels (loaded, picture);
      ib_image_info_clear (&info);
    }
}

/* JPEG with an EXIF APP1 segment saying "rotate 90° clockwise" (orientation 6). */
static GBytes *
jpeg_with_orientation (GBytes *jpeg,
                       int     orientation)
{
  static const guint8 app1_head[] = { 0xff, 0xe1, 0x00, 34, 'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 0x2a, 0, 8, 0,
                                      0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0 };
  gsize length;
  const guint8 *data = g_bytes_get_data (jpeg, &length);
  GByteArray *out = g_byte_array_new ();
  g_byte_array_append (out, data, 2);
  g_byte_array_append (out, app1_head, sizeof app1_head);
  guint8 tail[] = { (guint8) orientation, 0, 0, 0, 0, 0, 0, 0 };
  g_byte_array_append (out, tail, sizeof tail);
  g_byte_array_append (out, data + 2, length - 2);
  return g_byte_array_free_to_bytes (out);
}

static void
test_exif_orientation (void)
{
  /* Left half red, right half blue: turned clockwise, the top is red and the bottom blue. */
  g_autoptr (IbEditImage) picture = ib_edit_image_new (0, 0, 40, 20);
  for (int y = 0; y < 20; y++)
    for (int x = 0; x < 40; x++)
      {
        guint8 *p = picture->pixels + (gsize) y * picture->stride + x * 4;
        p[0] = x < 20 ? 255 : 0;
        p[1] = 0;
        p[2] = x < 20 ? 0 : 255;
        p[3] = 255;
      }
  g_autoptr (GBytes) plain = encode_with_pixbuf (picture, "jpeg");
  g_autoptr (GBytes) rotated = jpeg_with_orientation (plain, 6);
  g_autoptr (GError) error = NULL;
  g_autoptr (IbEditImage) loaded = ib_image_io_load_from_bytes (rotated, "rotated.jpg", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (loaded->width, ==, 20);
  g_assert_cmpint (loaded->height, ==, 40);
  const guint8 *top = loaded->pixels + (gsize) 5 * loaded->stride + 10 * 4;
  const guint8 *bottom = loaded->pixels + (gsize) 35 * loaded->stride + 10 * 4;
  g_assert_cmpint (top[0], >, 200);
  g_assert_cmpint (top[2], <, 60);
  g_assert_cmpint (bottom[0], <, 60);
  g_assert_cmpint (bottom[2], >, 200);
}

static guint32
crc32 (const guint8 *data,
       gsize         length)
{
  guint32 crc = 0xffffffff;
  for (gsize i = 0; i < length; i++)
    {
      crc ^= data[i];
      for (int k = 0; k < 8; k++)
        crc = (crc >> 1) ^ (0xedb88320 & -(crc & 1));
    }
  return ~crc;
}

/* A PNG claiming width × height: signature, IHDR, the start of an IDAT (libpng reports the size when it
 * reaches the first IDAT) and IEND. */
static GBytes *
png_header (guint32 width,
            guint32 height)
{
  guint8 data[8 + 25 + 20 + 12] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R' };
  guint32 be_width = GUINT32_TO_BE (width), be_height = GUINT32_TO_BE (height);
  memcpy (data + 16, &be_width, 4);
  memcpy (data + 20, &be_height, 4);
  data[24] = 8;   /* bit depth */
  data[25] = 6;   /* RGBA */
  guint32 crc = GUINT32_TO_BE (crc32 (data + 12, 17));
  memcpy (data + 29, &crc, 4);
  static const guint8 idat[] = { 0, 0, 0, 8, 'I', 'D', 'A', 'T', 0x78, 0x9c, 0x63, 0x60, 0, 0, 0, 0 };
  memcpy (data + 33, idat, sizeof idat);
  crc = GUINT32_TO_BE (crc32 (data + 37, 12));
  memcpy (data + 49, &crc, 4);
  static const guint8 iend[] = { 0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82 };
  memcpy (data + 53, iend, sizeof iend);
  return g_bytes_new (data, sizeof data);
}

static void
test_too_large (void)
{
  const guint32 sizes[][2] = { { IB_EDIT_MAX_SIDE + 1, 16 }, { 16, IB_EDIT_MAX_SIDE + 1 }, { 20000, 20000 },
                               { 30000, 30000 } };
  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      g_autoptr (GBytes) bytes = png_header (sizes[i][0], sizes[i][1]);
      g_autoptr (GError) error = NULL;
      g_autoptr (IbEditImage) loaded = ib_image_io_load_from_bytes (bytes, "huge.png", NULL, &error);
      g_assert_null (loaded);
      g_assert_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_TOO_LARGE);
      g_assert_nonnull (strstr (error->message, "huge.png"));
    }

  /* A JPEG and a BMP whose headers claim 40000 × 20000: refused from the header alone. */
  g_autoptr (IbEditImage) small = make_picture (16, 16, 9, FALSE);
  const char *types[] = { "jpeg", "bmp" };
  for (guint i = 0; i < G_N_ELEMENTS (types); i++)
    {
      g_autoptr (GBytes) encoded = encode_with_pixbuf (small, types[i]);
      gsize length;
      guint8 *data = g_memdup2 (g_bytes_get_data (encoded, NULL), g_bytes_get_size (encoded));
      length = g_bytes_get_size (encoded);
      if (i == 0)
        {
          guint8 *sof = NULL;
          for (gsize k = 0; k + 9 < length && sof == NULL; k++)
            if (data[k] == 0xff && data[k + 1] == 0xc0)
              sof = data + k;
          g_assert_nonnull (sof);
          sof[5] = 20000 >> 8;
          sof[6] = 20000 & 0xff;
          sof[7] = 40000 >> 8;
          sof[8] = 40000 & 0xff;
        }
      else
        {
          guint32 width = GUINT32_TO_LE (40000), height = GUINT32_TO_LE (20000);
          memcpy (data + 18, &width, 4);
          memcpy (data + 22, &height, 4);
        }
      g_autoptr (GBytes) huge = g_bytes_new_take (data, length);
      g_autoptr (GError) error = NULL;
      g_assert_null (ib_image_io_load_from_bytes (huge, "huge", NULL, &error));
      g_assert_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_TOO_LARGE);
    }
}

/* Animated WebPs that libwebp's animation decoder refuses (found by fuzzing: GdkPixbuf's loader then went on
 * with an iterator it never made, criticals that are fatal here). The intake reads the first frame as a still
 * picture: a frame off its canvas and a frame cut short are refused with a message; every single-byte change
 * of the animation either reads or is refused, never a critical. A first frame smaller than its canvas is
 * placed at its offset, the rest transparent. */
static void
test_animated_webp (void)
{
  g_autoptr (GError) error = NULL;
  guint8 changed[sizeof webp_animated];

  /* The canvas 1 pixel wide under 4-pixel frames. */
  memcpy (changed, webp_animated, sizeof changed);
  changed[24] = 0;
  g_autoptr (GBytes) off_canvas = g_bytes_new (changed, sizeof changed);
  g_assert_null (ib_image_io_load_from_bytes (off_canvas, "off-canvas.webp", NULL, &error));
  g_assert_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_CORRUPT);
  g_assert_nonnull (strstr (error->message, "canvas"));
  g_clear_error (&error);

  /* The first frame's chunk claims more bytes than the file has. */
  memcpy (changed, webp_animated, sizeof changed);
  g_assert_true (memcmp (changed + 44, "ANMF", 4) == 0);
  changed[50] = 0x7f;
  g_autoptr (GBytes) cut = g_bytes_new (changed, sizeof changed);
  g_assert_null (ib_image_io_load_from_bytes (cut, "cut.webp", NULL, &error));
  g_assert_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_CORRUPT);
  g_clear_error (&error);

  for (gsize i = 12; i < sizeof webp_animated; i++)
    for (guint v = 0; v < 4; v++)
      {
        static const guint8 values[] = { 0x00, 0xff, 0x7f, 0x01 };
        memcpy (changed, webp_animated, sizeof changed);
        changed[i] = values[v];
        g_autoptr (GBytes) bytes = g_bytes_new (changed, sizeof changed);
        g_autoptr (IbEditImage) image = ib_image_io_load_from_bytes (bytes, "changed.webp", NULL, &error);
        g_assert_true ((image == NULL) == (error != NULL));
        g_clear_error (&error);
      }

  /* A 6 x 6 canvas, the 4 x 4 red first frame at (2, 2). */
  memcpy (changed, webp_animated, sizeof changed);
  changed[24] = changed[27] = 5;
  changed[52] = changed[55] = 1;
  g_autoptr (GBytes) placed = g_bytes_new (changed, sizeof changed);
  IbImageInfo info = { 0 };
  g_autoptr (IbEditImage) image = ib_image_io_load_from_bytes (placed, "placed.webp", &info, &error);
  g_assert_no_error (error);
  g_assert_cmpint (image->width, ==, 6);
  g_assert_cmpint (image->height, ==, 6);
  g_assert_true (info.animated && info.has_alpha);
  ib_image_info_clear (&info);
  for (int y = 0; y < 6; y++)
    for (int x = 0; x < 6; x++)
      {
        const guint8 *p = image->pixels + (gsize) y * image->stride + x * 4;
        gboolean inside = x >= 2 && y >= 2;
        g_assert_cmpint (p[3], ==, inside ? 255 : 0);
        if (inside)
          g_assert_cmpint (p[0], ==, 255);
      }
}

/* Zero-size pictures: a PNG header of 0 pixels in either direction (which the format forbids), and a BMP of
 * 0 × 0 written as a 1 × 1 with its size changed: refused with a message that names the file. */
static void
test_zero_size (void)
{
  const guint32 sizes[][2] = { { 0, 16 }, { 16, 0 }, { 0, 0 } };
  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      g_autoptr (GBytes) bytes = png_header (sizes[i][0], sizes[i][1]);
      g_autoptr (GError) error = NULL;
      g_assert_null (ib_image_io_load_from_bytes (bytes, "empty.png", NULL, &error));
      g_assert_nonnull (error);
      g_assert_nonnull (strstr (error->message, "empty.png"));
      g_test_message ("%u x %u PNG: %s", sizes[i][0], sizes[i][1], error->message);
    }

  g_autoptr (IbEditImage) one = make_picture (1, 1, 3, FALSE);
  g_autoptr (GBytes) encoded = encode_with_pixbuf (one, "bmp");
  guint8 *data = g_memdup2 (g_bytes_get_data (encoded, NULL), g_bytes_get_size (encoded));
  memset (data + 18, 0, 8);   /* BITMAPINFOHEADER width and height */
  g_autoptr (GBytes) empty = g_bytes_new_take (data, g_bytes_get_size (encoded));
  g_autoptr (GError) error = NULL;
  g_assert_null (ib_image_io_load_from_bytes (empty, "empty.bmp", NULL, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "empty.bmp"));
  g_test_message ("0 x 0 BMP: %s", error->message);
}

/* A 36-byte GIF whose screen and frame claim 11266 × 14850 pixels (found by fuzzing: the loader spent seconds
 * and 650 MB on it): refused from the header as damaged, at once. */
static void
test_size_beyond_file (void)
{
  static const guint8 gif[] = {
    'G', 'I', 'F', '8', '9', 'a', 0x02, 0x2c, 0x02, 0x3a, 0x00, 0x00, 0x00,
    0x2c, 0x00, 0x00, 0x00, 0x00, 0x02, 0x2c, 0x02, 0x3a, 0x00,
    0x02, 0x02, 0x44, 0x01, 0x00, 0x3b, 0, 0, 0, 0, 0, 0, 0,
  };
  g_autoptr (GBytes) bytes = g_bytes_new_static (gif, sizeof gif);
  g_autoptr (GError) error = NULL;
  gint64 start = g_get_monotonic_time ();
  g_autoptr (IbEditImage) loaded = ib_image_io_load_from_bytes (bytes, "claims-too-much.gif", NULL, &error);
  g_assert_null (loaded);
  g_assert_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_CORRUPT);
  g_assert_nonnull (strstr (error->message, "claims-too-much.gif"));
  g_test_message ("refused in %.1f ms: %s", (g_get_monotonic_time () - start) / 1000.0, error->message);

  /* A GIF whose frame is 0 × 0 pixels (found by fuzzing: GdkPixbuf's loader asked for an empty pixbuf, a critical
   * warning, fatal in a test): refused as damaged before the loader sees it. */
  static const guint8 empty_frame[] = {
    'G', 'I', 'F', '8', '9', 'a', 0x02, 0x00, 0x02, 0x00, 0x80, 0x00, 0x00, 0xff, 0x00, 0x21,
    0x00, 0x00, 0xff, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x24, 0x84,
    0x1d, 0x05, 0x00, 0x3b,
  };
  g_autoptr (GBytes) empty_frame_bytes = g_bytes_new_static (empty_frame, sizeof empty_frame);
  g_clear_error (&error);
  g_assert_null (ib_image_io_load_from_bytes (empty_frame_bytes, "empty-frame.gif", NULL, &error));
  g_assert_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_CORRUPT);
  g_assert_nonnull (strstr (error->message, "GIF"));

  /* A BMP whose pixel offset and header size point far past its 90 bytes (found by fuzzing: GdkPixbuf's loader
   * asked for 3 GB for it): refused before the loader sees it. */
  static const guint8 bmp_start[] = {
    'B', 'M', 0x5a, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x00, 0x34, 0x25, 0xa0, 0x02, 0x74, 0xba,
  };
  guint8 bmp[90] = { 0 };
  memcpy (bmp, bmp_start, sizeof bmp_start);
  g_autoptr (GBytes) bmp_bytes = g_bytes_new (bmp, sizeof bmp);
  g_clear_error (&error);
  g_autoptr (IbEditImage) bmp_loaded = ib_image_io_load_from_bytes (bmp_bytes, "points-past-end.bmp", NULL, &error);
  g_assert_null (bmp_loaded);
  g_assert_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_CORRUPT);
  g_assert_nonnull (strstr (error->message, "BMP"));

  /* Extended WebP headers whose canvas the loader would allocate before it reports a size (found by fuzzing:
   * 4162 × 131073 made it ask for 2 GB): beyond the largest picture, too large; within it but more than the
   * file could fill, damaged. Both before the loader sees them. */
  guint8 webp[64] = { 'R', 'I', 'F', 'F', 56, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', 'X', 10, 0, 0, 0, 0x10 };
  const struct { guint32 width, height; int code; } canvases[] = {
    { 4162, 131073, IB_DOCUMENT_ERROR_TOO_LARGE },
    { 8000, 8000, IB_DOCUMENT_ERROR_CORRUPT },
  };
  for (guint i = 0; i < G_N_ELEMENTS (canvases); i++)
    {
      guint32 w = canvases[i].width - 1, h = canvases[i].height - 1;
      guint8 size_bytes[6] = { w, w >> 8, w >> 16, h, h >> 8, h >> 16 };
      memcpy (webp + 24, size_bytes, sizeof size_bytes);
      g_autoptr (GBytes) webp_bytes = g_bytes_new (webp, sizeof webp);
      g_clear_error (&error);
      g_autoptr (IbEditImage) webp_loaded = ib_image_io_load_from_bytes (webp_bytes, "canvas.webp", NULL, &error);
      g_assert_null (webp_loaded);
      g_assert_error (error, IB_DOCUMENT_ERROR, canvases[i].code);
      g_assert_nonnull (strstr (error->message, "canvas.webp"));
    }
}

static void
test_damaged (void)
{
  g_autoptr (IbEditImage) picture = make_picture (64, 48, 2, FALSE);
  const char *types[] = { "png", "jpeg", "bmp", "tiff", "webp" };
  for (guint i = 0; i < G_N_ELEMENTS (types); i++)
    {
      g_autoptr (GBytes) bytes = encode_with_pixbuf (picture, types[i]);
      gsize length = g_bytes_get_size (bytes);
      /* Cut in the header, in the pixel data and just before the end: never a picture, always a message. */
      gsize cuts[] = { 0, 1, 7, 20, length / 3, length / 2, length - 40 };
      for (guint c = 0; c < G_N_ELEMENTS (cuts); c++)
        {
          g_autoptr (GBytes) cut = g_bytes_new_from_bytes (bytes, 0, cuts[c]);
          g_autoptr (GError) error = NULL;
          g_autoptr (IbEditImage) loaded = ib_image_io_load_from_bytes (cut, "cut-picture", NULL, &error);
          if (loaded != NULL)
            g_error ("%s cut at %zu of %zu bytes was read", types[i], cuts[c], length);
          g_assert_nonnull (error);
          g_assert_true (error->domain == IB_DOCUMENT_ERROR);
          g_assert_nonnull (strstr (error->message, "cut-picture"));
        }
    }

  /* Data after a JPEG's end (a motion photo's video) does not make it incomplete, markers or not. */
  g_autoptr (GBytes) jpeg = encode_with_pixbuf (picture, "jpeg");
  GByteArray *trailing = g_byte_array_new ();
  g_byte_array_append (trailing, g_bytes_get_data (jpeg, NULL), g_bytes_get_size (jpeg));
  static const guint8 tail[] = { 0xff, 0xda, 0x00, 0x08, 1, 2, 3, 4, 5, 6, 0xff, 0xda, 7, 8 };
  g_byte_array_append (trailing, tail, sizeof tail);
  g_autoptr (GBytes) with_tail = g_byte_array_free_to_bytes (trailing);
  g_autoptr (GError) tail_error = NULL;
  g_autoptr (IbEditImage) tailed = ib_image_io_load_from_bytes (with_tail, "motion.jpg", NULL, &tail_error);
  g_assert_no_error (tail_error);
  g_assert_cmpint (tailed->width, ==, 64);

  static const char garbage[] = "This is a text file, not a picture at all.\n";
  g_autoptr (GBytes) text = g_bytes_new_static (garbage, sizeof garbage - 1);
  g_autoptr (GError) error = NULL;
  g_assert_null (ib_image_io_load_from_bytes (text, "notes.txt", NULL, &error));
  g_assert_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_FORMAT);
  g_clear_error (&error);

  g_autoptr (GBytes) empty = g_bytes_new_static ("", 0);
  g_assert_null (ib_image_io_load_from_bytes (empty, "empty.png", NULL, &error));
  g_assert_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_EMPTY);
  g_clear_error (&error);

  g_autoptr (GBytes) zero = png_header (0, 10);
  g_assert_null (ib_image_io_load_from_bytes (zero, "zero.png", NULL, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);

  static const char svg[] = "<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'><rect width='10' "
                            "height='10'/></svg>";
  g_autoptr (GBytes) vector = g_bytes_new_static (svg, sizeof svg - 1);
  g_assert_null (ib_image_io_load_from_bytes (vector, "drawing.svg", NULL, &error));
  g_assert_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_FORMAT);
}

static void
test_special_pictures (void)
{
  g_autoptr (GError) error = NULL;
  IbImageInfo info = { 0 };

  g_autoptr (GBytes) grey16 = g_bytes_new_static (png16_grey, sizeof png16_grey);
  g_autoptr (IbEditImage) ramp = ib_image_io_load_from_bytes (grey16, "ramp16.png", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (ramp->width, ==, 6);
  g_assert_cmpint (ramp->height, ==, 4);
  for (int x = 0; x < 6; x++)
    {
      const guint8 *p = ramp->pixels + (gsize) 2 * ramp->stride + x * 4;
      g_assert_cmpint (p[0], ==, x * 51);
      g_assert_cmpint (p[1], ==, p[0]);
      g_assert_cmpint (p[3], ==, 255);
    }

  g_autoptr (GBytes) cmyk = g_bytes_new_static (jpeg_cmyk, sizeof jpeg_cmyk);
  g_autoptr (IbEditImage) red = ib_image_io_load_from_bytes (cmyk, "cmyk.jpg", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (red->width, ==, 8);
  g_assert_cmpint (red->pixels[0], >, 200);
  g_assert_cmpint (red->pixels[1], <, 60);

  g_autoptr (GBytes) gif = g_bytes_new_static (gif_animated, sizeof gif_animated);
  g_autoptr (IbEditImage) first = ib_image_io_load_from_bytes (gif, "moving.gif", &info, &error);
  g_assert_no_error (error);
  g_assert_true (info.animated);
  g_assert_cmpstr (info.format, ==, "gif");
  g_assert_cmpint (first->pixels[0], ==, 255);
  g_assert_cmpint (first->pixels[2], ==, 0);
  ib_image_info_clear (&info);

  g_autoptr (GBytes) half_gif = g_bytes_new_static (gif_animated, sizeof gif_animated / 2);
  g_assert_null (ib_image_io_load_from_bytes (half_gif, "half.gif", NULL, &error));
  g_assert_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_CORRUPT);
  g_clear_error (&error);

  /* An animated WebP gives its first frame; the same file without its ANIM chunk (renamed) says it is animated
   * but holds no animation (found by fuzzing: the loader's criticals, fatal here): refused as damaged. */
  g_autoptr (GBytes) webp = g_bytes_new_static (webp_animated, sizeof webp_animated);
  g_autoptr (IbEditImage) first_webp = ib_image_io_load_from_bytes (webp, "moving.webp", &info, &error);
  g_assert_no_error (error);
  g_assert_true (info.animated);
  g_assert_cmpstr (info.format, ==, "webp");
  g_assert_cmpint (first_webp->pixels[0], ==, 255);
  g_assert_cmpint (first_webp->pixels[2], ==, 0);
  ib_image_info_clear (&info);
  guint8 no_anim[sizeof webp_animated];
  memcpy (no_anim, webp_animated, sizeof no_anim);
  g_assert_true (memcmp (no_anim + 30, "ANIM", 4) == 0);
  no_anim[33] = 'X';
  g_autoptr (GBytes) no_anim_bytes = g_bytes_new (no_anim, sizeof no_anim);
  g_assert_null (ib_image_io_load_from_bytes (no_anim_bytes, "no-anim.webp", NULL, &error));
  g_assert_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_CORRUPT);
  g_assert_nonnull (strstr (error->message, "WebP"));
}

static char *
make_folder (void)
{
  g_autoptr (GError) error = NULL;
  char *folder = g_dir_make_tmp ("test-image-io-XXXXXX", &error);
  g_assert_no_error (error);
  return folder;
}

static void
remove_folder (const char *folder)
{
  g_autoptr (GDir) dir = g_dir_open (folder, 0, NULL);
  const char *name;
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (folder, name, NULL);
      g_unlink (path);
    }
  g_rmdir (folder);
}

static int
count_files (const char *folder)
{
  g_autoptr (GDir) dir = g_dir_open (folder, 0, NULL);
  int n = 0;
  while (g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

static void
test_png_recipe (void)
{
  g_autofree char *folder = make_folder ();
  g_autofree char *path = g_build_filename (folder, "result.png", NULL);
  g_autoptr (GFile) file = g_file_new_for_path (path);
  const char *recipe = "{\"format\": \"imagebart-studio-recipe\", \"seed\": \"12\"}";
  g_autoptr (GError) error = NULL;

  for (int alpha = 0; alpha < 2; alpha++)
    {
      g_autoptr (IbEditImage) picture = make_picture (33, 17, 3, alpha);
      g_assert_true (ib_image_io_save_png (picture, recipe, file, NULL, &error));
      g_assert_no_error (error);
      IbImageInfo info = { 0 };
      g_autoptr (IbEditImage) loaded = ib_image_io_load (file, &info, NULL, &error);
      g_assert_no_error (error);
      assert_same_pixels (loaded, picture);
      g_assert_cmpstr (info.recipe, ==, recipe);
      g_assert_cmpint (info.has_alpha, ==, alpha);
      ib_image_info_clear (&info);
    }
  g_assert_cmpint (count_files (folder), ==, 1);
  remove_folder (folder);
}

static void
test_jpeg_quality (void)
{
  g_autoptr (IbEditImage) picture = make_picture (96, 64, 4, TRUE);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) low = ib_image_io_encode_jpeg (picture, 10, &error);
  g_assert_no_error (error);
  g_autoptr (GBytes) high = ib_image_io_encode_jpeg (picture, 95, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (low), <, g_bytes_get_size (high));
  g_autoptr (IbEditImage) loaded = ib_image_io_load_from_bytes (high, "export.jpg", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (loaded->width, ==, 96);
  g_assert_cmpint (loaded->height, ==, 64);
}

static void
test_texture (void)
{
  g_autoptr (IbEditImage) picture = make_picture (21, 13, 5, FALSE);
  g_autoptr (GdkTexture) texture = ib_image_io_to_texture (picture);
  g_assert_cmpint (gdk_texture_get_width (texture), ==, 21);
  g_autoptr (GError) error = NULL;
  g_autoptr (IbEditImage) back = ib_image_io_load_texture (texture, &error);
  g_assert_no_error (error);
  assert_same_pixels (back, picture);

  /* Translucent pixels go through premultiplication: equal within rounding. */
  g_autoptr (IbEditImage) translucent = make_picture (9, 7, 6, TRUE);
  g_autoptr (GdkTexture) texture2 = ib_image_io_to_texture (translucent);
  g_autoptr (IbEditImage) back2 = ib_image_io_load_texture (texture2, &error);
  g_assert_no_error (error);
  for (int i = 0; i < 9 * 7 * 4; i += 4)
    {
      int a = translucent->pixels[i + 3];
      g_assert_cmpint (back2->pixels[i + 3], ==, a);
      if (a > 32)
        for (int c = 0; c < 3; c++)
          g_assert_cmpint (ABS (back2->pixels[i + c] - translucent->pixels[i + c]), <=, 255 / a + 1);
    }
}

static void
test_atomic_write (void)
{
  g_autofree char *folder = make_folder ();
  g_autofree char *path = g_build_filename (folder, "file.bin", NULL);
  g_autoptr (GFile) file = g_file_new_for_path (path);
  g_autoptr (GError) error = NULL;

  g_assert_true (ib_atomic_file_write (file, "old contents", 12, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (path, 0640), ==, 0);
  g_assert_true (ib_atomic_file_write (file, "new", 3, NULL, &error));
  g_autofree char *contents = NULL;
  gsize length;
  g_assert_true (g_file_get_contents (path, &contents, &length, NULL));
  g_assert_cmpmem (contents, length, "new", 3);
  GStatBuf st;
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0640);

  /* Through a symbolic link: the target changes, the link stays a link. */
  g_autofree char *link_path = g_build_filename (folder, "link.bin", NULL);
  g_assert_cmpint (symlink ("file.bin", link_path), ==, 0);
  g_autoptr (GFile) link = g_file_new_for_path (link_path);
  g_assert_true (ib_atomic_file_write (link, "via", 3, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_test (link_path, G_FILE_TEST_IS_SYMLINK));
  g_clear_pointer (&contents, g_free);
  g_assert_true (g_file_get_contents (path, &contents, &length, NULL));
  g_assert_cmpmem (contents, length, "via", 3);
  g_assert_true (ib_atomic_file_write (file, "new", 3, NULL, &error));
  g_assert_cmpint (g_unlink (link_path), ==, 0);

  /* Cancelled: the old file stays and no temporary file is left. */
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_cancellable_cancel (cancellable);
  g_assert_false (ib_atomic_file_write (file, "newer", 5, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_clear_pointer (&contents, g_free);
  g_assert_true (g_file_get_contents (path, &contents, &length, NULL));
  g_assert_cmpmem (contents, length, "new", 3);
  g_assert_cmpint (count_files (folder), ==, 1);

  /* A missing folder: an error naming the file. */
  g_autofree char *missing = g_build_filename (folder, "no-such-folder", "file.bin", NULL);
  g_autoptr (GFile) nowhere = g_file_new_for_path (missing);
  g_assert_false (ib_atomic_file_write (nowhere, "x", 1, NULL, &error));
  g_assert_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "file.bin"));
  g_clear_error (&error);

  /* A folder without write permission (root may write anyway). */
  if (geteuid () != 0)
    {
      g_assert_cmpint (g_chmod (folder, 0500), ==, 0);
      g_assert_false (ib_atomic_file_write (file, "newest", 6, NULL, &error));
      g_assert_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_IO);
      g_clear_error (&error);
      g_assert_cmpint (g_chmod (folder, 0700), ==, 0);
      g_clear_pointer (&contents, g_free);
      g_assert_true (g_file_get_contents (path, &contents, &length, NULL));
      g_assert_cmpmem (contents, length, "new", 3);
    }
  remove_folder (folder);
}

static void
test_fault_write (void)
{
#ifdef NDEBUG
  g_test_skip ("fault injection is compiled only without NDEBUG");
#else
  g_autofree char *folder = make_folder ();
  g_autofree char *path = g_build_filename (folder, "picture.png", NULL);
  g_autoptr (GFile) file = g_file_new_for_path (path);
  g_autoptr (GError) error = NULL;
  g_autoptr (IbEditImage) old_picture = make_picture (200, 150, 7, FALSE);
  g_autoptr (IbEditImage) new_picture = make_picture (200, 150, 8, FALSE);
  g_assert_true (ib_image_io_save_png (old_picture, NULL, file, NULL, &error));
  g_assert_no_error (error);

  /* The disk fills up at the start, in the middle and one byte before the end. */
  g_autoptr (GBytes) encoded = ib_image_io_encode_png (new_picture, NULL, &error);
  gsize size = g_bytes_get_size (encoded);
  gsize budgets[] = { 0, 1, size / 2, size - 1 };
  for (guint i = 0; i < G_N_ELEMENTS (budgets); i++)
    {
      g_autofree char *budget = g_strdup_printf ("%zu", budgets[i]);
      g_setenv ("IMAGEBART_FAULT_WRITE", budget, TRUE);
      g_assert_false (ib_image_io_save_png (new_picture, NULL, file, NULL, &error));
      g_unsetenv ("IMAGEBART_FAULT_WRITE");
      g_assert_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_NO_SPACE);
      g_assert_nonnull (strstr (error->message, "picture.png"));
      g_clear_error (&error);
      g_autoptr (IbEditImage) loaded = ib_image_io_load (file, NULL, NULL, &error);
      g_assert_no_error (error);
      assert_same_pixels (loaded, old_picture);
      g_assert_cmpint (count_files (folder), ==, 1);
    }

  /* Exactly enough room: the save goes through. */
  g_autofree char *enough = g_strdup_printf ("%zu", size);
  g_setenv ("IMAGEBART_FAULT_WRITE", enough, TRUE);
  g_assert_true (ib_image_io_save_png (new_picture, NULL, file, NULL, &error));
  g_unsetenv ("IMAGEBART_FAULT_WRITE");
  g_assert_no_error (error);
  g_autoptr (IbEditImage) loaded = ib_image_io_load (file, NULL, NULL, &error);
  assert_same_pixels (loaded, new_picture);
  remove_folder (folder);
#endif
}

#define KILL_SIDE 768

/* The helper process: writes the files a and b (two encoded pictures) in turn to path until it is killed. */
static int
save_loop (const char *path,
           const char *a_path,
           const char *b_path)
{
  g_autoptr (GFile) file = g_file_new_for_path (path);
  g_autoptr (GFile) a = g_file_new_for_path (a_path);
  g_autoptr (GFile) b = g_file_new_for_path (b_path);
  GBytes *encoded[2] = { g_file_load_bytes (a, NULL, NULL, NULL), g_file_load_bytes (b, NULL, NULL, NULL) };
  for (guint i = 1;; i++)
    {
      g_autoptr (GError) error = NULL;
      if (!ib_atomic_file_write_bytes (file, encoded[i % 2], NULL, &error))
        g_error ("%s", error->message);
      if (i == 1)
        {
          /* Tell the parent the loop is going. */
          if (write (STDOUT_FILENO, "1", 1) != 1)
            return 1;
        }
    }
  return 0;
}

static void
test_kill_during_save (void)
{
  g_autofree char *folder = make_folder ();
  g_autofree char *path = g_build_filename (folder, "picture.png", NULL);
  g_autoptr (GFile) file = g_file_new_for_path (path);
  g_autoptr (IbEditImage) a = make_picture (KILL_SIDE, KILL_SIDE, 11, FALSE);
  g_autoptr (IbEditImage) b = make_picture (KILL_SIDE, KILL_SIDE, 12, FALSE);
  g_autofree char *hash_a = picture_hash (a), *hash_b = picture_hash (b);
  g_autoptr (GError) error = NULL;
  g_assert_true (ib_image_io_save_png (a, NULL, file, NULL, &error));
  g_autofree char *a_path = g_build_filename (folder, "a.png", NULL);
  g_autofree char *b_path = g_build_filename (folder, "b.png", NULL);
  g_autoptr (GFile) a_file = g_file_new_for_path (a_path);
  g_autoptr (GFile) b_file = g_file_new_for_path (b_path);
  g_assert_true (ib_image_io_save_png (a, NULL, a_file, NULL, &error));
  g_assert_true (ib_image_io_save_png (b, NULL, b_file, NULL, &error));

  g_autofree char *self = g_file_read_link ("/proc/self/exe", &error);
  g_assert_no_error (error);
  GRand *rand = g_rand_new_with_seed (42);
  int seen_b = 0;
  for (int round = 0; round < 8; round++)
    {
      char *argv[] = { self, "--save-loop", path, a_path, b_path, NULL };
      GPid pid;
      int out_fd;
      g_assert_true (g_spawn_async_with_pipes (NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid,
                                               NULL, &out_fd, NULL, &error));
      g_assert_no_error (error);
      char started;
      g_assert_cmpint (read (out_fd, &started, 1), ==, 1);
      close (out_fd);
      g_usleep (g_rand_int_range (rand, 0, 150000));
      g_assert_cmpint (kill (pid, SIGKILL), ==, 0);
      int status;
      g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
      g_assert_true (WIFSIGNALED (status));
      g_spawn_close_pid (pid);

      g_autoptr (IbEditImage) loaded = ib_image_io_load (file, NULL, NULL, &error);
      g_assert_no_error (error);
      g_autofree char *hash = picture_hash (loaded);
      g_assert_true (g_str_equal (hash, hash_a) || g_str_equal (hash, hash_b));
      seen_b += g_str_equal (hash, hash_b);
    }
  g_test_message ("the killed saver left the second picture %d times of 8", seen_b);
  g_rand_free (rand);
  remove_folder (folder);
}

int
main (int   argc,
      char *argv[])
{
  if (argc == 5 && g_str_equal (argv[1], "--save-loop"))
    return save_loop (argv[2], argv[3], argv[4]);

  ib_studio_init ();
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/app/image-io/formats", test_formats);
  g_test_add_func ("/app/image-io/exif-orientation", test_exif_orientation);
  g_test_add_func ("/app/image-io/too-large", test_too_large);
  g_test_add_func ("/app/image-io/zero-size", test_zero_size);
  g_test_add_func ("/app/image-io/animated-webp", test_animated_webp);
  g_test_add_func ("/app/image-io/damaged", test_damaged);
  g_test_add_func ("/app/image-io/size-beyond-file", test_size_beyond_file);
  g_test_add_func ("/app/image-io/special-pictures", test_special_pictures);
  g_test_add_func ("/app/image-io/png-recipe", test_png_recipe);
  g_test_add_func ("/app/image-io/jpeg-quality", test_jpeg_quality);
  g_test_add_func ("/app/image-io/texture", test_texture);
  g_test_add_func ("/app/atomic-file/write", test_atomic_write);
  g_test_add_func ("/app/atomic-file/disk-full", test_fault_write);
  g_test_add_func ("/app/atomic-file/kill-during-save", test_kill_during_save);
  return g_test_run ();
}
