/* ib-canvas.h: the picture with its mask, where the user paints: zoom, pan, the mask tools, the overlays
 * (mask tint, the newest level's preview, the token grid of the work window) and before/after.
 *
 * Scrolling: IbCanvas implements GtkScrollable. Put it in a GtkScrolledWindow for scrollbars; alone, it
 * makes its own adjustments, so panning (space + drag, middle drag, scroll) works either way. The
 * adjustments count zoomed pixels; a picture smaller than the view is centred.
 *
 * Coordinates: widget pixels map to picture pixels by picture = (widget + scroll - centring) / zoom; a
 * picture pixel (x, y) covers [x, x + 1) x [y, y + 1). Brush sizes are diameters in picture pixels.
 *
 * Input: the primary button or a pen paints with the current tool (pen pressure scales the brush; the pen's
 * eraser end, or the secondary button, erases); middle drag or space + drag pans; scroll pans (Shift: across);
 * Ctrl + scroll and pinch zoom around the pointer. Each stroke is one undoable change of the mask.
 *
 * Actions (app/README.md): canvas.zoom-in, canvas.zoom-out, canvas.zoom-fit, canvas.zoom-100,
 * canvas.tool (s: brush, eraser, rectangle, lasso), canvas.brush-smaller/-larger/-softer/-harder,
 * canvas.mask-clear, canvas.mask-invert, canvas.mask-grow, canvas.mask-shrink, canvas.show-mask,
 * canvas.show-token-grid, with their key bindings while the canvas has the focus. */
#pragma once

#include <gtk/gtk.h>

#include "ib-edit-job.h"
#include "ib-mask.h"

G_BEGIN_DECLS

#define IB_TYPE_CANVAS (ib_canvas_get_type ())
G_DECLARE_FINAL_TYPE (IbCanvas, ib_canvas, IB, CANVAS, GtkWidget)

typedef enum
{
  IB_CANVAS_TOOL_BRUSH,
  IB_CANVAS_TOOL_ERASER,
  IB_CANVAS_TOOL_RECTANGLE,
  IB_CANVAS_TOOL_LASSO,
} IbCanvasTool;

#define IB_TYPE_CANVAS_TOOL (ib_canvas_tool_get_type ())
GType           ib_canvas_tool_get_type          (void) G_GNUC_CONST;

#define IB_CANVAS_ZOOM_MIN (1.0 / 64.0)
#define IB_CANVAS_ZOOM_MAX 64.0
/* How far canvas.mask-grow and canvas.mask-shrink move the mask's edge, in picture pixels. */
#define IB_CANVAS_GROW_STEP 4

GtkWidget      *ib_canvas_new                    (void);

void            ib_canvas_set_picture            (IbCanvas      *canvas,
                                                  GdkTexture    *picture);
GdkTexture     *ib_canvas_get_picture            (IbCanvas      *canvas);
void            ib_canvas_set_mask               (IbCanvas      *canvas,
                                                  IbMask        *mask);
IbMask         *ib_canvas_get_mask               (IbCanvas      *canvas);
/* The newest level's region (or a whole variant), drawn over the picture at its (x, y) in picture pixels;
 * NULL removes it. Referenced, not copied. While a preview is shown the mask's tint is hidden, except during a
 * stroke. */
void            ib_canvas_set_preview            (IbCanvas      *canvas,
                                                  IbEditImage   *region);
/* The same with the level of its pyramid that the canvas draws at its zoom already made (by
 * ib_texture_level_surface_for_rgba from the region's pixels, off the UI thread): a new level then costs a
 * frame no pass over its pixels. surface NULL, or made for another level than the zoom's: as above. */
void            ib_canvas_set_preview_with_level (IbCanvas        *canvas,
                                                  IbEditImage     *region,
                                                  guint            level,
                                                  cairo_surface_t *surface);
/* The pyramid level the canvas draws the picture and previews at, for its zoom. */
guint           ib_canvas_get_drawn_level        (IbCanvas      *canvas);
/* The region shown, borrowed, or NULL. */
IbEditImage    *ib_canvas_get_preview            (IbCanvas      *canvas);
/* The model's native resolution and token grid side, for the token grid overlay; 0 hides it. */
void            ib_canvas_set_model_geometry     (IbCanvas      *canvas,
                                                  int            native_size,
                                                  int            grid_side);

double          ib_canvas_get_zoom               (IbCanvas      *canvas);
/* Zooms keeping the view's centre fixed. */
void            ib_canvas_set_zoom               (IbCanvas      *canvas,
                                                  double         zoom);
/* Zooms keeping the point (x, y) of the widget fixed, as far as the scroll range allows. */
void            ib_canvas_zoom_at                (IbCanvas      *canvas,
                                                  double         zoom,
                                                  double         x,
                                                  double         y);
/* Fits the picture in the view (and keeps fitting it as the view resizes, until the next zoom). */
void            ib_canvas_zoom_fit               (IbCanvas      *canvas);
/* Scrolls by (dx, dy) widget pixels. */
void            ib_canvas_pan                    (IbCanvas      *canvas,
                                                  double         dx,
                                                  double         dy);
void            ib_canvas_widget_to_picture      (IbCanvas      *canvas,
                                                  double         x,
                                                  double         y,
                                                  double        *picture_x,
                                                  double        *picture_y);
void            ib_canvas_picture_to_widget      (IbCanvas      *canvas,
                                                  double         picture_x,
                                                  double         picture_y,
                                                  double        *x,
                                                  double        *y);

IbCanvasTool    ib_canvas_get_tool               (IbCanvas      *canvas);
void            ib_canvas_set_tool               (IbCanvas      *canvas,
                                                  IbCanvasTool   tool);
double          ib_canvas_get_brush_size         (IbCanvas      *canvas);
void            ib_canvas_set_brush_size         (IbCanvas      *canvas,
                                                  double         size);
double          ib_canvas_get_brush_hardness     (IbCanvas      *canvas);
void            ib_canvas_set_brush_hardness     (IbCanvas      *canvas,
                                                  double         hardness);
gboolean        ib_canvas_get_show_original      (IbCanvas      *canvas);
void            ib_canvas_set_show_original      (IbCanvas      *canvas,
                                                  gboolean       show_original);

/* A stroke of the current tool, in widget coordinates, as the pointer gestures drive it: one undoable change
 * of the mask from begin to end. erase: the stylus's eraser end or the secondary button (the brush and
 * shapes remove instead of add). pressure 0..1 (1 for a mouse). */
void            ib_canvas_begin_stroke           (IbCanvas      *canvas,
                                                  double         x,
                                                  double         y,
                                                  double         pressure,
                                                  gboolean       erase);
void            ib_canvas_extend_stroke          (IbCanvas      *canvas,
                                                  double         x,
                                                  double         y,
                                                  double         pressure);
void            ib_canvas_end_stroke             (IbCanvas      *canvas);
gboolean        ib_canvas_is_stroking            (IbCanvas      *canvas);

G_END_DECLS
