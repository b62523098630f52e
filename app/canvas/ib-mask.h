/* ib-mask.h: the edit mask, one byte per picture pixel (0 keep .. 255 re-synthesize), with the editing
 * operations of the canvas's tools and undoable changes.
 *
 * Every operation emits "changed" with the tight rectangle of the pixels it really changed (nothing when it
 * changed none). Edits between ib_mask_begin_change and ib_mask_end_change are one undoable IbMaskChange,
 * which holds only the tight rectangle of the pixels that differ between begin and end; an operation called
 * outside begin/end is a change of its own. Painting combines by maximum (erasing by minimum), so that
 * overlapping dabs of one stroke never build up: a stroke is the union of its dabs.
 *
 * Coordinates are continuous picture pixels: pixel (x, y) covers [x, x + 1) x [y, y + 1) and its centre is
 * (x + 0.5, y + 0.5); shapes are sampled at pixel centres. */
#pragma once

#include <gdk/gdk.h>

G_BEGIN_DECLS

#define IB_TYPE_MASK (ib_mask_get_type ())
G_DECLARE_FINAL_TYPE (IbMask, ib_mask, IB, MASK, GObject)

#define IB_TYPE_MASK_CHANGE (ib_mask_change_get_type ())
typedef struct _IbMaskChange IbMaskChange;

typedef enum
{
  IB_MASK_MODE_PAINT,           /* raise pixels towards 255 */
  IB_MASK_MODE_ERASE,           /* lower pixels towards 0 */
} IbMaskMode;

typedef enum
{
  IB_MASK_FILL_EVEN_ODD,
  IB_MASK_FILL_NON_ZERO,
} IbMaskFillRule;

typedef struct
{
  double radius;                /* picture pixels, at full pressure */
  double hardness;              /* 0..1: the fraction of the radius painted at full strength; the rest fades */
  double opacity;               /* 0..1 */
  gboolean pressure_size;       /* pressure scales the radius */
  gboolean pressure_opacity;    /* pressure scales the opacity */
  IbMaskMode mode;
} IbMaskBrush;

/* The state of a stroke between its points, so that dabs keep an even spacing across segments. */
typedef struct
{
  double x;
  double y;
  double pressure;
  double to_next;               /* distance along the path to the next dab */
  double spacing;               /* of the last dab */
} IbMaskStroke;

IbMask        *ib_mask_new                  (int                  width,
                                             int                  height);
IbMask        *ib_mask_new_from_data        (int                  width,
                                             int                  height,
                                             const guint8        *data,
                                             int                  stride);
int            ib_mask_get_width            (IbMask              *mask);
int            ib_mask_get_height           (IbMask              *mask);
const guint8  *ib_mask_get_data             (IbMask              *mask,
                                             int                 *stride);
guint8         ib_mask_get_value            (IbMask              *mask,
                                             int                  x,
                                             int                  y);
gboolean       ib_mask_is_empty             (IbMask              *mask);
gboolean       ib_mask_get_bounds           (IbMask              *mask,
                                             GdkRectangle        *bounds);

void           ib_mask_begin_change         (IbMask              *mask);
void           ib_mask_end_change           (IbMask              *mask);

/* The dab's strength at distance d from its centre (0..1), for the brush radius r and hardness h. */
double         ib_mask_dab_falloff          (double               d,
                                             double               radius,
                                             double               hardness);
/* The radius and opacity that a brush has at a pressure (0..1). */
void           ib_mask_brush_at_pressure    (const IbMaskBrush   *brush,
                                             double               pressure,
                                             double              *radius,
                                             double              *opacity);

void           ib_mask_dab                  (IbMask              *mask,
                                             const IbMaskBrush   *brush,
                                             double               x,
                                             double               y,
                                             double               pressure);
/* Spacing of a stroke's dabs: a quarter of the radius, at least half a pixel. */
double         ib_mask_stroke_spacing       (double               radius);
/* Starts a stroke with a dab at (x, y). */
void           ib_mask_stroke_begin         (IbMask              *mask,
                                             IbMaskStroke        *stroke,
                                             const IbMaskBrush   *brush,
                                             double               x,
                                             double               y,
                                             double               pressure);
/* Continues it to (x, y), dabs spaced along the segment, pressure interpolated. */
void           ib_mask_stroke_line_to       (IbMask              *mask,
                                             IbMaskStroke        *stroke,
                                             const IbMaskBrush   *brush,
                                             double               x,
                                             double               y,
                                             double               pressure);
/* Ends it with a dab at its last point unless one is there already, so that it reaches the pointer. */
void           ib_mask_stroke_end           (IbMask              *mask,
                                             IbMaskStroke        *stroke,
                                             const IbMaskBrush   *brush);

/* Pixels whose centres lie in [min(x0, x1), max(x0, x1)) x [min(y0, y1), max(y0, y1)). */
void           ib_mask_fill_rectangle       (IbMask              *mask,
                                             double               x0,
                                             double               y0,
                                             double               x1,
                                             double               y1,
                                             IbMaskMode           mode);
/* Pixels whose centres lie inside the closed polygon xy[2 * i], xy[2 * i + 1] (i < n_points). */
void           ib_mask_fill_polygon         (IbMask              *mask,
                                             const double        *xy,
                                             int                  n_points,
                                             IbMaskFillRule       rule,
                                             IbMaskMode           mode);
/* Sets the rectangle (inside the mask) to data (stride bytes between rows): an edit like the others. */
void           ib_mask_set_pixels           (IbMask              *mask,
                                             const GdkRectangle  *rect,
                                             const guint8        *data,
                                             int                  stride);
void           ib_mask_clear                (IbMask              *mask);
void           ib_mask_fill                 (IbMask              *mask);
void           ib_mask_invert               (IbMask              *mask);
/* Grows (dilates) by radius pixels: each pixel takes the maximum within the Euclidean disc of that radius;
 * shrinking (eroding) takes the minimum, the picture's outside not counting as unmasked. */
void           ib_mask_grow                 (IbMask              *mask,
                                             int                  radius);
void           ib_mask_shrink               (IbMask              *mask,
                                             int                  radius);

GType          ib_mask_change_get_type      (void) G_GNUC_CONST;
IbMaskChange  *ib_mask_change_ref           (IbMaskChange        *change);
void           ib_mask_change_unref         (IbMaskChange        *change);
/* A change made from stored pixels (say a project's history), for a mask of that size: before and after
 * hold rect->width x rect->height bytes, rows packed. Applying it with undo or redo writes them exactly. */
IbMaskChange  *ib_mask_change_new           (int                  mask_width,
                                             int                  mask_height,
                                             const GdkRectangle  *rect,
                                             const guint8        *before,
                                             const guint8        *after);
/* A copy of the rectangle's pixels before or after the change, rows packed (rect.width bytes a row); g_free it. */
guint8        *ib_mask_change_dup_before    (IbMaskChange        *change);
guint8        *ib_mask_change_dup_after     (IbMaskChange        *change);
/* The memory the change holds: its pixels are kept packed (runs of one value as counts), so this is usually
 * far less than the rectangle's size. */
gsize          ib_mask_change_get_size      (IbMaskChange        *change);
void           ib_mask_change_get_rectangle (IbMaskChange        *change,
                                             GdkRectangle        *rect);
void           ib_mask_change_undo          (IbMaskChange        *change,
                                             IbMask              *mask);
void           ib_mask_change_redo          (IbMaskChange        *change,
                                             IbMask              *mask);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (IbMaskChange, ib_mask_change_unref)

G_END_DECLS
