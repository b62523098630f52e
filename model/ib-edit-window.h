/* ib-edit-window.h: where an edit looks. The model sees a square of its native resolution; the work window
 * is a square of the user's image around the mask's bounding box, with context on every side, resampled to
 * that square (scaled down when larger, padded by mirroring when the image is smaller, never stretched).
 * A token is re-synthesized when any pixel of its patch in the window is masked. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "ib-resample.h"

G_BEGIN_DECLS

typedef struct
{
  int x;                /* bounding box of the pixels with mask > 0 */
  int y;
  int width;            /* 0: the mask is empty */
  int height;
} IbBox;

typedef struct
{
  int x;                /* top-left corner in image pixels; negative or past the edge where padded */
  int y;
  int side;             /* in image pixels */
  int native;           /* the model's resolution */
  IbBox mask_box;
} IbEditWindow;

/* The bounding box of mask > 0 (mask: width x height bytes, stride bytes between rows); width 0 when empty. */
IbBox     ib_mask_bounding_box        (const guint8        *mask,
                                       int                  width,
                                       int                  height,
                                       int                  stride);

/* The window for a non-empty mask box in a width x height image: a square of side
 * max(native, box side + a quarter of it on each side), shrunk to the image's shorter side where that still
 * holds the box and native, otherwise extending past the image (padded) on the short axis; centred on the
 * box and moved inside the image where it fits. */
void      ib_edit_window_choose       (int                  width,
                                       int                  height,
                                       const IbBox         *mask_box,
                                       int                  native,
                                       IbEditWindow        *window);

/* Image pixels per native pixel (>= 1). */
double    ib_edit_window_scale        (const IbEditWindow  *window);

/* The window as a rectangle of the image (for ib_resample_*). */
IbRect    ib_edit_window_rect         (const IbEditWindow  *window);

/* The window's pixels at native resolution: native x native x 3 floats (HWC) in [-1, 1]. */
void      ib_edit_window_extract      (const IbEditWindow  *window,
                                       const guint8        *rgba,
                                       int                  width,
                                       int                  height,
                                       int                  stride,
                                       float               *native_rgb);

/* unknown[token_height * token_width]: TRUE where any image pixel of the token's patch has mask > 0 (the
 * mask mirrored into the padding, as the image is). Returns the number of unknown tokens. */
int       ib_edit_window_token_mask   (const IbEditWindow  *window,
                                       const guint8        *mask,
                                       int                  width,
                                       int                  height,
                                       int                  stride,
                                       int                  token_width,
                                       int                  token_height,
                                       gboolean            *unknown);

G_END_DECLS
