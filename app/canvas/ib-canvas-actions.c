/* ib-canvas-actions.c: the canvas's widget actions (canvas.*, as listed in app/README.md) and their key
 * bindings, which act while the focus is in the canvas so that typing elsewhere never paints or zooms. */
#include "ib-canvas-private.h"

#include <math.h>

#define ZOOM_STEP G_SQRT2
#define BRUSH_STEP 1.2
#define HARDNESS_STEP 0.1

/* The next zoom up (direction 1) or down (-1) on the ladder of powers of sqrt(2), so that steps from any
 * zoom (say a fit) land on 100 %, 200 %, 50 %. */
static double
next_zoom (double zoom,
           int    direction)
{
  double k = log (zoom) / log (ZOOM_STEP);

  k = direction > 0 ? floor (k + 1e-6) + 1 : ceil (k - 1e-6) - 1;
  return pow (ZOOM_STEP, k);
}

static void
zoom_step (IbCanvas *self,
           int       direction)
{
  GtkWidget *widget = GTK_WIDGET (self);
  double zoom = next_zoom (self->zoom, direction);

  /* Around the pointer when it is over the canvas, as Ctrl+scroll does; else around the centre. */
  if (self->pointer_inside)
    ib_canvas_zoom_at (self, zoom, self->pointer_x, self->pointer_y);
  else
    ib_canvas_zoom_at (self, zoom, gtk_widget_get_width (widget) / 2.0, gtk_widget_get_height (widget) / 2.0);
}

static void
zoom_action (GtkWidget  *widget,
             const char *action_name,
             GVariant   *parameter)
{
  IbCanvas *self = IB_CANVAS (widget);

  if (g_str_equal (action_name, "canvas.zoom-in"))
    zoom_step (self, 1);
  else if (g_str_equal (action_name, "canvas.zoom-out"))
    zoom_step (self, -1);
  else if (g_str_equal (action_name, "canvas.zoom-fit"))
    ib_canvas_zoom_fit (self);
  else
    ib_canvas_set_zoom (self, 1.0);
}

static void
brush_action (GtkWidget  *widget,
              const char *action_name,
              GVariant   *parameter)
{
  IbCanvas *self = IB_CANVAS (widget);
  double size = self->brush_size;

  /* Proportional steps, at least a pixel, so that small brushes still change. */
  if (g_str_equal (action_name, "canvas.brush-larger"))
    ib_canvas_set_brush_size (self, MAX (round (size * BRUSH_STEP), size + 1));
  else if (g_str_equal (action_name, "canvas.brush-smaller"))
    ib_canvas_set_brush_size (self, MIN (round (size / BRUSH_STEP), size - 1));
  else if (g_str_equal (action_name, "canvas.brush-harder"))
    ib_canvas_set_brush_hardness (self, round ((self->brush_hardness + HARDNESS_STEP) * 10) / 10);
  else
    ib_canvas_set_brush_hardness (self, round ((self->brush_hardness - HARDNESS_STEP) * 10) / 10);
}

static void
mask_action (GtkWidget  *widget,
             const char *action_name,
             GVariant   *parameter)
{
  IbCanvas *self = IB_CANVAS (widget);

  if (self->mask == NULL)
    return;
  if (self->stroking)
    ib_canvas_end_stroke (self);
  if (g_str_equal (action_name, "canvas.mask-clear"))
    ib_mask_clear (self->mask);
  else if (g_str_equal (action_name, "canvas.mask-invert"))
    ib_mask_invert (self->mask);
  else if (g_str_equal (action_name, "canvas.mask-grow"))
    ib_mask_grow (self->mask, IB_CANVAS_GROW_STEP);
  else
    ib_mask_shrink (self->mask, IB_CANVAS_GROW_STEP);
}

void
ib_canvas_update_actions (IbCanvas *self)
{
  const char *mask_actions[] = { "canvas.mask-clear", "canvas.mask-invert", "canvas.mask-grow",
                                 "canvas.mask-shrink" };

  for (guint i = 0; i < G_N_ELEMENTS (mask_actions); i++)
    gtk_widget_action_set_enabled (GTK_WIDGET (self), mask_actions[i], self->mask != NULL);
}

static void
add_binding (GtkWidgetClass *widget_class,
             guint           keyval,
             GdkModifierType mods,
             const char     *action,
             const char     *tool)
{
  if (tool != NULL)
    gtk_widget_class_add_binding_action (widget_class, keyval, mods, action, "s", tool);
  else
    gtk_widget_class_add_binding_action (widget_class, keyval, mods, action, NULL);
}

void
ib_canvas_class_install_actions (GtkWidgetClass *widget_class)
{
  const struct { guint keyval; GdkModifierType mods; const char *action; const char *tool; } bindings[] = {
    { GDK_KEY_plus, GDK_CONTROL_MASK, "canvas.zoom-in" }, { GDK_KEY_plus, 0, "canvas.zoom-in" },
    { GDK_KEY_equal, GDK_CONTROL_MASK, "canvas.zoom-in" }, { GDK_KEY_KP_Add, 0, "canvas.zoom-in" },
    { GDK_KEY_minus, GDK_CONTROL_MASK, "canvas.zoom-out" }, { GDK_KEY_minus, 0, "canvas.zoom-out" },
    { GDK_KEY_KP_Subtract, 0, "canvas.zoom-out" },
    { GDK_KEY_0, GDK_CONTROL_MASK, "canvas.zoom-fit" }, { GDK_KEY_1, GDK_CONTROL_MASK, "canvas.zoom-100" },
    { GDK_KEY_b, 0, "canvas.tool", "brush" }, { GDK_KEY_e, 0, "canvas.tool", "eraser" },
    { GDK_KEY_r, 0, "canvas.tool", "rectangle" }, { GDK_KEY_l, 0, "canvas.tool", "lasso" },
    { GDK_KEY_bracketleft, 0, "canvas.brush-smaller" }, { GDK_KEY_bracketright, 0, "canvas.brush-larger" },
    { GDK_KEY_braceleft, 0, "canvas.brush-softer" }, { GDK_KEY_braceright, 0, "canvas.brush-harder" },
    { GDK_KEY_a, GDK_CONTROL_MASK | GDK_SHIFT_MASK, "canvas.mask-clear" },
    { GDK_KEY_i, GDK_CONTROL_MASK, "canvas.mask-invert" },
    { GDK_KEY_bracketright, GDK_CONTROL_MASK, "canvas.mask-grow" },
    { GDK_KEY_bracketleft, GDK_CONTROL_MASK, "canvas.mask-shrink" },
    { GDK_KEY_m, 0, "canvas.show-mask" }, { GDK_KEY_g, 0, "canvas.show-token-grid" },
  };

  gtk_widget_class_install_action (widget_class, "canvas.zoom-in", NULL, zoom_action);
  gtk_widget_class_install_action (widget_class, "canvas.zoom-out", NULL, zoom_action);
  gtk_widget_class_install_action (widget_class, "canvas.zoom-fit", NULL, zoom_action);
  gtk_widget_class_install_action (widget_class, "canvas.zoom-100", NULL, zoom_action);
  gtk_widget_class_install_property_action (widget_class, "canvas.tool", "tool");
  gtk_widget_class_install_action (widget_class, "canvas.brush-smaller", NULL, brush_action);
  gtk_widget_class_install_action (widget_class, "canvas.brush-larger", NULL, brush_action);
  gtk_widget_class_install_action (widget_class, "canvas.brush-softer", NULL, brush_action);
  gtk_widget_class_install_action (widget_class, "canvas.brush-harder", NULL, brush_action);
  gtk_widget_class_install_action (widget_class, "canvas.mask-clear", NULL, mask_action);
  gtk_widget_class_install_action (widget_class, "canvas.mask-invert", NULL, mask_action);
  gtk_widget_class_install_action (widget_class, "canvas.mask-grow", NULL, mask_action);
  gtk_widget_class_install_action (widget_class, "canvas.mask-shrink", NULL, mask_action);
  gtk_widget_class_install_property_action (widget_class, "canvas.show-mask", "show-mask");
  gtk_widget_class_install_property_action (widget_class, "canvas.show-token-grid", "show-token-grid");
  for (guint i = 0; i < G_N_ELEMENTS (bindings); i++)
    add_binding (widget_class, bindings[i].keyval, bindings[i].mods, bindings[i].action, bindings[i].tool);
}
