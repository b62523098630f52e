/* ib-canvas-input.c: the canvas's input: strokes of the mask tools (the entry points the gestures and the
 * tests drive), the pointer gestures (stylus with pressure and eraser end, mouse drag), panning (space + drag,
 * middle drag, scroll), zooming (Ctrl + scroll, pinch) and the tool's outline. */
#include "ib-canvas-private.h"

#include <math.h>

#define WHEEL_PAN 64.0          /* widget pixels a wheel notch scrolls */
#define LASSO_MIN_STEP 1.0      /* widget pixels between lasso points */

gboolean
ib_canvas_is_stroking (IbCanvas *self)
{
  g_return_val_if_fail (IB_IS_CANVAS (self), FALSE);
  return self->stroking;
}

void
ib_canvas_begin_stroke (IbCanvas *self,
                        double    x,
                        double    y,
                        double    pressure,
                        gboolean  erase)
{
  double px, py;

  g_return_if_fail (IB_IS_CANVAS (self));

  if (self->stroking)
    ib_canvas_end_stroke (self);
  if (self->mask == NULL)
    return;
  ib_canvas_widget_to_picture (self, x, y, &px, &py);
  self->stroking = TRUE;
  self->stroke_erase = erase || self->tool == IB_CANVAS_TOOL_ERASER;
  ib_mask_begin_change (self->mask);

  switch (self->tool)
    {
    case IB_CANVAS_TOOL_BRUSH:
    case IB_CANVAS_TOOL_ERASER:
      self->brush = (IbMaskBrush) {
        .radius = self->brush_size / 2,
        .hardness = self->brush_hardness,
        .opacity = 1.0,
        .pressure_size = TRUE,
        .mode = self->stroke_erase ? IB_MASK_MODE_ERASE : IB_MASK_MODE_PAINT,
      };
      ib_mask_stroke_begin (self->mask, &self->stroke, &self->brush, px, py, pressure);
      break;
    case IB_CANVAS_TOOL_RECTANGLE:
      self->shape_x0 = self->shape_x1 = px;
      self->shape_y0 = self->shape_y1 = py;
      break;
    case IB_CANVAS_TOOL_LASSO:
      g_array_set_size (self->lasso, 0);
      g_array_append_vals (self->lasso, (double[2]) { px, py }, 2);
      break;
    default:
      g_assert_not_reached ();
    }
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
ib_canvas_extend_stroke (IbCanvas *self,
                         double    x,
                         double    y,
                         double    pressure)
{
  double px, py;

  g_return_if_fail (IB_IS_CANVAS (self));

  if (!self->stroking)
    return;
  ib_canvas_widget_to_picture (self, x, y, &px, &py);
  switch (self->tool)
    {
    case IB_CANVAS_TOOL_BRUSH:
    case IB_CANVAS_TOOL_ERASER:
      ib_mask_stroke_line_to (self->mask, &self->stroke, &self->brush, px, py, pressure);
      break;
    case IB_CANVAS_TOOL_RECTANGLE:
      self->shape_x1 = px;
      self->shape_y1 = py;
      break;
    case IB_CANVAS_TOOL_LASSO:
      {
        guint n = self->lasso->len;
        double *last = &g_array_index (self->lasso, double, n - 2);

        /* Pointer jitter would only add vertices. */
        if (hypot (px - last[0], py - last[1]) * self->zoom >= LASSO_MIN_STEP)
          g_array_append_vals (self->lasso, (double[2]) { px, py }, 2);
      }
      break;
    default:
      g_assert_not_reached ();
    }
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
ib_canvas_end_stroke (IbCanvas *self)
{
  IbMaskMode mode;

  g_return_if_fail (IB_IS_CANVAS (self));

  if (!self->stroking)
    return;
  mode = self->stroke_erase ? IB_MASK_MODE_ERASE : IB_MASK_MODE_PAINT;
  switch (self->tool)
    {
    case IB_CANVAS_TOOL_BRUSH:
    case IB_CANVAS_TOOL_ERASER:
      ib_mask_stroke_end (self->mask, &self->stroke, &self->brush);
      break;
    case IB_CANVAS_TOOL_RECTANGLE:
      ib_mask_fill_rectangle (self->mask, self->shape_x0, self->shape_y0, self->shape_x1, self->shape_y1, mode);
      break;
    case IB_CANVAS_TOOL_LASSO:
      ib_mask_fill_polygon (self->mask, (const double *) self->lasso->data, self->lasso->len / 2,
                            IB_MASK_FILL_NON_ZERO, mode);
      g_array_set_size (self->lasso, 0);
      break;
    default:
      g_assert_not_reached ();
    }
  /* Before ending the change: its "change-committed" handlers may look at the canvas. */
  self->stroking = FALSE;
  ib_mask_end_change (self->mask);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
ib_canvas_update_cursor (IbCanvas *self)
{
  const char *name = "crosshair";

  if (self->panning)
    name = "grabbing";
  else if (self->space_held)
    name = "grab";
  /* The brush draws its own outline (snapshot_tool); a large system cursor would hide the picture. */
  else if ((self->tool == IB_CANVAS_TOOL_BRUSH || self->tool == IB_CANVAS_TOOL_ERASER)
           && self->brush_size * self->zoom >= 6)
    name = "none";
  gtk_widget_set_cursor_from_name (GTK_WIDGET (self), name);
}

/* Panning. */

static void
pan_begin (IbCanvas *self,
           double    x,
           double    y)
{
  self->panning = TRUE;
  self->pan_last_x = x;
  self->pan_last_y = y;
  ib_canvas_update_cursor (self);
}

static void
pan_update (IbCanvas *self,
            double    x,
            double    y)
{
  ib_canvas_pan (self, self->pan_last_x - x, self->pan_last_y - y);
  self->pan_last_x = x;
  self->pan_last_y = y;
}

static void
pan_end (IbCanvas *self)
{
  self->panning = FALSE;
  ib_canvas_update_cursor (self);
}

/* The button or pen went up, or its gesture was cancelled: ends what that gesture began. Both gestures see
 * a pen's events until one of them claims them, so the other's end must not end the stroke. */
static void
release (IbCanvas   *self,
         GtkGesture *gesture)
{
  if (self->input_owner != gesture)
    return;
  self->input_owner = NULL;
  if (self->panning)
    pan_end (self);
  else
    ib_canvas_end_stroke (self);
}

/* Mouse: primary paints (secondary erases); middle, or space + any button, pans whatever the tool. Stylus
 * events go to the stylus gesture, which claims them. */

static void
drag_begin_cb (GtkGestureDrag *gesture,
               double          x,
               double          y,
               IbCanvas       *self)
{
  GdkEvent *event = gtk_event_controller_get_current_event (GTK_EVENT_CONTROLLER (gesture));
  guint button = gtk_gesture_single_get_current_button (GTK_GESTURE_SINGLE (gesture));

  if (event != NULL && gdk_event_get_device_tool (event) != NULL)
    {
      gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_DENIED);
      return;
    }
  gtk_widget_grab_focus (GTK_WIDGET (self));
  gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_CLAIMED);
  self->input_owner = GTK_GESTURE (gesture);
  if (button == GDK_BUTTON_MIDDLE || self->space_held)
    pan_begin (self, x, y);
  else
    ib_canvas_begin_stroke (self, x, y, 1.0, button == GDK_BUTTON_SECONDARY);
}

static void
drag_update_cb (GtkGestureDrag *gesture,
                double          dx,
                double          dy,
                IbCanvas       *self)
{
  double x0, y0;

  if (self->input_owner != GTK_GESTURE (gesture))
    return;
  gtk_gesture_drag_get_start_point (gesture, &x0, &y0);
  if (self->panning)
    pan_update (self, x0 + dx, y0 + dy);
  else
    ib_canvas_extend_stroke (self, x0 + dx, y0 + dy, 1.0);
}

static void
drag_end_cb (GtkGestureDrag *gesture,
             double          dx,
             double          dy,
             IbCanvas       *self)
{
  release (self, GTK_GESTURE (gesture));
}

/* Stylus: pressure and the eraser end. */

static double
stylus_pressure (GtkGestureStylus *gesture)
{
  double pressure;

  if (!gtk_gesture_stylus_get_axis (gesture, GDK_AXIS_PRESSURE, &pressure))
    return 1.0;
  return CLAMP (pressure, 0.0, 1.0);
}

static void
stylus_down_cb (GtkGestureStylus *gesture,
                double            x,
                double            y,
                IbCanvas         *self)
{
  GdkDeviceTool *tool = gtk_gesture_stylus_get_device_tool (gesture);
  gboolean eraser = tool != NULL && gdk_device_tool_get_tool_type (tool) == GDK_DEVICE_TOOL_TYPE_ERASER;

  gtk_widget_grab_focus (GTK_WIDGET (self));
  gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_CLAIMED);
  self->input_owner = GTK_GESTURE (gesture);
  if (self->space_held)
    pan_begin (self, x, y);
  else
    ib_canvas_begin_stroke (self, x, y, stylus_pressure (gesture), eraser);
}

static void
stylus_motion_cb (GtkGestureStylus *gesture,
                  double            x,
                  double            y,
                  IbCanvas         *self)
{
  g_autofree GdkTimeCoord *backlog = NULL;
  guint n_backlog = 0;

  self->pointer_x = x;
  self->pointer_y = y;
  if (self->input_owner != GTK_GESTURE (gesture))
    {
      gtk_widget_queue_draw (GTK_WIDGET (self));
      return;
    }
  if (self->panning)
    {
      pan_update (self, x, y);
      return;
    }
  /* The motion history between frames: fast strokes keep their curves. */
  if (gtk_gesture_stylus_get_backlog (gesture, &backlog, &n_backlog))
    for (guint i = 0; i < n_backlog; i++)
      {
        const double *axes = backlog[i].axes;
        gboolean has_pressure = (backlog[i].flags & GDK_AXIS_FLAG_PRESSURE) != 0;

        /* GTK gives the backlog in the widget's coordinates already. */
        if ((backlog[i].flags & (GDK_AXIS_FLAG_X | GDK_AXIS_FLAG_Y)) != (GDK_AXIS_FLAG_X | GDK_AXIS_FLAG_Y))
          continue;
        ib_canvas_extend_stroke (self, axes[GDK_AXIS_X], axes[GDK_AXIS_Y],
                                 has_pressure ? CLAMP (axes[GDK_AXIS_PRESSURE], 0.0, 1.0) : stylus_pressure (gesture));
      }
  ib_canvas_extend_stroke (self, x, y, stylus_pressure (gesture));
}

static void
stylus_up_cb (GtkGestureStylus *gesture,
              double            x,
              double            y,
              IbCanvas         *self)
{
  release (self, GTK_GESTURE (gesture));
}

/* Scroll: pans; with Ctrl, zooms around the pointer. */

static gboolean
scroll_cb (GtkEventControllerScroll *controller,
           double                    dx,
           double                    dy,
           IbCanvas                 *self)
{
  GdkModifierType state = gtk_event_controller_get_current_event_state (GTK_EVENT_CONTROLLER (controller));
  double step = gtk_event_controller_scroll_get_unit (controller) == GDK_SCROLL_UNIT_WHEEL ? WHEEL_PAN : 1.0;

  if (state & GDK_CONTROL_MASK)
    {
      /* A wheel notch is a step of sqrt(2); touchpads scroll in fractions of that. */
      double factor = pow (2.0, -dy / (step == 1.0 ? 100.0 : 2.0));
      ib_canvas_zoom_at (self, self->zoom * factor, self->pointer_x, self->pointer_y);
      return TRUE;
    }
  if ((state & GDK_SHIFT_MASK) && dx == 0)
    {
      dx = dy;
      dy = 0;
    }
  ib_canvas_pan (self, dx * step, dy * step);
  return TRUE;
}

static void
zoom_begin_cb (GtkGesture       *gesture,
               GdkEventSequence *sequence,
               IbCanvas         *self)
{
  /* The first finger of a pinch began a stroke: it was meant as a zoom. */
  if (self->stroking)
    ib_canvas_end_stroke (self);
  self->pinch_zoom = self->zoom;
}

static void
zoom_scale_changed_cb (GtkGestureZoom *gesture,
                       double          scale,
                       IbCanvas       *self)
{
  double cx, cy;

  if (gtk_gesture_get_bounding_box_center (GTK_GESTURE (gesture), &cx, &cy))
    ib_canvas_zoom_at (self, self->pinch_zoom * scale, cx, cy);
}

/* The pointer, for the brush outline and for zooming around it. */

static void
motion_cb (GtkEventControllerMotion *controller,
           double                    x,
           double                    y,
           IbCanvas                 *self)
{
  self->pointer_inside = TRUE;
  self->pointer_x = x;
  self->pointer_y = y;
  if (self->tool == IB_CANVAS_TOOL_BRUSH || self->tool == IB_CANVAS_TOOL_ERASER)
    gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
leave_cb (GtkEventControllerMotion *controller,
          IbCanvas                 *self)
{
  self->pointer_inside = FALSE;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

/* Space held: the primary button pans. */

static gboolean
key_pressed_cb (GtkEventControllerKey *controller,
                guint                  keyval,
                guint                  keycode,
                GdkModifierType        state,
                IbCanvas              *self)
{
  if (keyval != GDK_KEY_space)
    return FALSE;
  if (!self->space_held)
    {
      self->space_held = TRUE;
      ib_canvas_update_cursor (self);
    }
  return TRUE;
}

static void
key_released_cb (GtkEventControllerKey *controller,
                 guint                  keyval,
                 guint                  keycode,
                 GdkModifierType        state,
                 IbCanvas              *self)
{
  if (keyval != GDK_KEY_space)
    return;
  self->space_held = FALSE;
  ib_canvas_update_cursor (self);
}

/* The gesture lost its sequence (a pinch took it, a grab): what it began ends here. */
static void
cancel_cb (GtkGesture       *gesture,
           GdkEventSequence *sequence,
           IbCanvas         *self)
{
  release (self, gesture);
}

/* The release of space may go to another widget. */
static void
focus_leave_cb (GtkEventControllerFocus *controller,
                IbCanvas                *self)
{
  self->space_held = FALSE;
  ib_canvas_update_cursor (self);
}

void
ib_canvas_setup_input (IbCanvas *self)
{
  GtkWidget *widget = GTK_WIDGET (self);
  GtkGesture *gesture;
  GtkEventController *controller;

  gesture = gtk_gesture_stylus_new ();
  g_signal_connect (gesture, "down", G_CALLBACK (stylus_down_cb), self);
  g_signal_connect (gesture, "motion", G_CALLBACK (stylus_motion_cb), self);
  g_signal_connect (gesture, "up", G_CALLBACK (stylus_up_cb), self);
  g_signal_connect (gesture, "cancel", G_CALLBACK (cancel_cb), self);
  gtk_widget_add_controller (widget, GTK_EVENT_CONTROLLER (gesture));

  gesture = gtk_gesture_drag_new ();
  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (gesture), 0);
  gtk_gesture_single_set_exclusive (GTK_GESTURE_SINGLE (gesture), TRUE);
  g_signal_connect (gesture, "drag-begin", G_CALLBACK (drag_begin_cb), self);
  g_signal_connect (gesture, "drag-update", G_CALLBACK (drag_update_cb), self);
  g_signal_connect (gesture, "drag-end", G_CALLBACK (drag_end_cb), self);
  g_signal_connect (gesture, "cancel", G_CALLBACK (cancel_cb), self);
  gtk_widget_add_controller (widget, GTK_EVENT_CONTROLLER (gesture));

  gesture = gtk_gesture_zoom_new ();
  g_signal_connect (gesture, "begin", G_CALLBACK (zoom_begin_cb), self);
  g_signal_connect (gesture, "scale-changed", G_CALLBACK (zoom_scale_changed_cb), self);
  gtk_widget_add_controller (widget, GTK_EVENT_CONTROLLER (gesture));

  controller = gtk_event_controller_scroll_new (GTK_EVENT_CONTROLLER_SCROLL_BOTH_AXES);
  g_signal_connect (controller, "scroll", G_CALLBACK (scroll_cb), self);
  gtk_widget_add_controller (widget, controller);

  controller = gtk_event_controller_motion_new ();
  g_signal_connect (controller, "enter", G_CALLBACK (motion_cb), self);
  g_signal_connect (controller, "motion", G_CALLBACK (motion_cb), self);
  g_signal_connect (controller, "leave", G_CALLBACK (leave_cb), self);
  gtk_widget_add_controller (widget, controller);

  controller = gtk_event_controller_focus_new ();
  g_signal_connect (controller, "leave", G_CALLBACK (focus_leave_cb), self);
  gtk_widget_add_controller (widget, controller);

  controller = gtk_event_controller_key_new ();
  g_signal_connect (controller, "key-pressed", G_CALLBACK (key_pressed_cb), self);
  g_signal_connect (controller, "key-released", G_CALLBACK (key_released_cb), self);
  gtk_widget_add_controller (widget, controller);

  ib_canvas_update_cursor (self);
}

/* The tool's outline: the rectangle or lasso being drawn, the brush under the pointer. */
void
ib_canvas_snapshot_tool (IbCanvas    *self,
                         GtkSnapshot *snapshot)
{
  GtkWidget *widget = GTK_WIDGET (self);
  int w = gtk_widget_get_width (widget), h = gtk_widget_get_height (widget);
  gboolean brush = self->tool == IB_CANVAS_TOOL_BRUSH || self->tool == IB_CANVAS_TOOL_ERASER;
  cairo_t *cr;

  /* A shape while it is drawn; the brush under the pointer, painting or not. */
  if (brush ? !self->pointer_inside || self->panning || self->space_held : !self->stroking)
    return;
  cr = gtk_snapshot_append_cairo (snapshot, &GRAPHENE_RECT_INIT (0, 0, w, h));
  if (brush)
    cairo_arc (cr, self->pointer_x, self->pointer_y, MAX (self->brush_size * self->zoom / 2, 1.5), 0, 2 * G_PI);
  else if (self->tool == IB_CANVAS_TOOL_RECTANGLE)
    {
      double x0, y0, x1, y1;
      ib_canvas_picture_to_widget (self, self->shape_x0, self->shape_y0, &x0, &y0);
      ib_canvas_picture_to_widget (self, self->shape_x1, self->shape_y1, &x1, &y1);
      cairo_rectangle (cr, MIN (x0, x1), MIN (y0, y1), fabs (x1 - x0), fabs (y1 - y0));
    }
  else
    {
      for (guint i = 0; i + 1 < self->lasso->len; i += 2)
        {
          double x, y;
          ib_canvas_picture_to_widget (self, g_array_index (self->lasso, double, i),
                                       g_array_index (self->lasso, double, i + 1), &x, &y);
          cairo_line_to (cr, x, y);
        }
      cairo_close_path (cr);
    }
  /* Dark under light: visible on any picture. */
  cairo_set_line_width (cr, 3);
  cairo_set_source_rgba (cr, 0, 0, 0, 0.6);
  cairo_stroke_preserve (cr);
  cairo_set_line_width (cr, 1);
  cairo_set_source_rgba (cr, 1, 1, 1, 0.9);
  cairo_stroke (cr);
  cairo_destroy (cr);
}
