/* ib-renderer-choice.h: which of GTK's renderers draws the editor's windows.
 *
 * GTK 4.8 draws with OpenGL whenever the display offers it, even when that OpenGL is Mesa's software
 * rasterizer (a machine without a GPU or without its driver, a virtual machine, a remote desktop). There a
 * frame of the canvas on a 2048 x 2048 picture takes about 80 ms, against 6 ms with GTK's cairo renderer,
 * which the canvas is built to make cheap (docs/performance.md). */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* Whether display's OpenGL runs on the CPU (llvmpipe, softpipe, swrast); FALSE without OpenGL at all. */
gboolean ib_display_has_software_gl      (GdkDisplay *display);

/* Before the first window is drawn: GTK's cairo renderer when OpenGL would run on the CPU, unless the
 * environment (GSK_RENDERER) already names a renderer. */
void     ib_prefer_cairo_on_software_gl  (GdkDisplay *display);

G_END_DECLS
