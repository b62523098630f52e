/* ib-mask-region.h: reading and writing a rectangle of an IbMask as packed bytes, for undo steps restored
 * from project files (which hold pixels, not the canvas's IbMaskChange). */
#pragma once

#include "ib-mask.h"

G_BEGIN_DECLS

/* The rectangle's bytes, rect->width per row. */
GBytes  *ib_mask_region_read  (IbMask             *mask,
                               const GdkRectangle *rect);
/* Writes values (rect->width bytes per row) into the rectangle, emitting "changed" but no
 * "change-committed" (as undo does). Must not be called inside begin/end_change. */
void     ib_mask_region_write (IbMask             *mask,
                               const GdkRectangle *rect,
                               GBytes             *values);

G_END_DECLS
