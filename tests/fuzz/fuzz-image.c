/* fuzz-image.c: libFuzzer harness for the editor's picture intake (ib_image_io_load_from_bytes,
 * app/document/ib-image-io.h): format sniffing, the size checks before any pixel is allocated, GdkPixbuf's
 * loaders, the EXIF orientation, the conversion to RGBA8 and the recipe text chunk. The loaders are not
 * instrumented for coverage, but ASan still checks every byte our code reads from what they return. */
#include <gio/gio.h>
#include <stdint.h>

#include "fuzz-common.h"
#include "ib-image-io.h"
#include "ib-studio.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  ib_studio_init ();
  g_autoptr (GBytes) bytes = g_bytes_new (data, size);
  g_autoptr (GError) error = NULL;
  IbImageInfo info = { NULL };

  g_autoptr (IbEditImage) image = ib_image_io_load_from_bytes (bytes, "fuzzed picture", &info, &error);
  if (image == NULL)
    {
      g_assert (error != NULL && error->message != NULL);
      return 0;
    }
  g_assert (image->width >= 1 && image->height >= 1);
  g_assert (image->width <= IB_EDIT_MAX_SIDE && image->height <= IB_EDIT_MAX_SIDE);
  g_assert (image->stride >= image->width * 4);
  /* Every pixel row must be readable: a wrong stride or height would be an overflow here. */
  guint sum = 0;
  for (int y = 0; y < image->height; y++)
    sum += image->pixels[(gsize) y * image->stride + (gsize) image->width * 4 - 1];
  (void) sum;
  ib_image_info_clear (&info);
  return 0;
}
