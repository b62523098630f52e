/* ib-mask-region.c: rectangles of a mask as bytes.
 *
 * IbMask has no call that sets arbitrary pixels; what it has is IbMaskChange undo/redo, which writes a
 * change's rectangle exactly and does not count as a new change. So a write is made of two changes taken
 * from scratch masks of the same size: one that sets the rectangle to 0 (erasing the rectangle of a full
 * mask; redone here), and one whose "before" holds the values (clearing a mask holding them; undone here).
 * It costs scratch masks of the whole size, which is acceptable for undoing steps restored from a project. */
#include "ib-mask-region.h"

#include <string.h>

GBytes *
ib_mask_region_read (IbMask             *mask,
                     const GdkRectangle *rect)
{
  int stride;
  const guint8 *data = ib_mask_get_data (mask, &stride);
  g_return_val_if_fail (rect->x >= 0 && rect->y >= 0 && rect->width > 0 && rect->height > 0, NULL);
  g_return_val_if_fail (rect->x + rect->width <= ib_mask_get_width (mask), NULL);
  g_return_val_if_fail (rect->y + rect->height <= ib_mask_get_height (mask), NULL);

  guint8 *out = g_malloc ((gsize) rect->width * rect->height);
  for (int y = 0; y < rect->height; y++)
    memcpy (out + (gsize) y * rect->width, data + (gsize) (rect->y + y) * stride + rect->x, rect->width);
  return g_bytes_new_take (out, (gsize) rect->width * rect->height);
}

static void
capture_cb (IbMask       *mask,
            IbMaskChange *change,
            gpointer      user_data)
{
  IbMaskChange **slot = user_data;
  g_clear_pointer (slot, ib_mask_change_unref);
  *slot = ib_mask_change_ref (change);
}

void
ib_mask_region_write (IbMask             *mask,
                      const GdkRectangle *rect,
                      GBytes             *values)
{
  int width = ib_mask_get_width (mask), height = ib_mask_get_height (mask);
  g_return_if_fail (rect->x >= 0 && rect->y >= 0 && rect->width > 0 && rect->height > 0);
  g_return_if_fail (rect->x + rect->width <= width && rect->y + rect->height <= height);
  g_return_if_fail (g_bytes_get_size (values) == (gsize) rect->width * rect->height);

  g_autoptr (IbMaskChange) to_zero = NULL;
  g_autoptr (IbMaskChange) from_values = NULL;

  g_autoptr (IbMask) full = ib_mask_new (width, height);
  ib_mask_fill (full);
  g_signal_connect (full, "change-committed", G_CALLBACK (capture_cb), &to_zero);
  ib_mask_fill_rectangle (full, rect->x, rect->y, rect->x + rect->width, rect->y + rect->height,
                          IB_MASK_MODE_ERASE);

  const guint8 *src = g_bytes_get_data (values, NULL);
  g_autofree guint8 *layout = g_malloc0 ((gsize) width * height);
  for (int y = 0; y < rect->height; y++)
    memcpy (layout + (gsize) (rect->y + y) * width + rect->x, src + (gsize) y * rect->width, rect->width);
  g_autoptr (IbMask) holding = ib_mask_new_from_data (width, height, layout, width);
  g_signal_connect (holding, "change-committed", G_CALLBACK (capture_cb), &from_values);
  ib_mask_clear (holding);

  g_return_if_fail (to_zero != NULL);
  ib_mask_change_redo (to_zero, mask);
  /* No change when every value is 0: the rectangle is already right. */
  if (from_values != NULL)
    ib_mask_change_undo (from_values, mask);
}
