/* ib-renderer-choice.c: GTK's cairo renderer where OpenGL would run on the CPU (ib-renderer-choice.h). */
#include "ib-renderer-choice.h"

#include <epoxy/gl.h>
#include <string.h>

/* The GL_RENDERER strings of Mesa's software rasterizers. */
static gboolean
names_software_rasterizer (const char *renderer)
{
  static const char *const software[] = { "llvmpipe", "softpipe", "software rasterizer", "swrast" };
  g_autofree char *lower = g_ascii_strdown (renderer, -1);

  for (gsize i = 0; i < G_N_ELEMENTS (software); i++)
    if (strstr (lower, software[i]) != NULL)
      return TRUE;
  return FALSE;
}

gboolean
ib_display_has_software_gl (GdkDisplay *display)
{
  g_return_val_if_fail (GDK_IS_DISPLAY (display), FALSE);

  g_autoptr (GdkGLContext) context = gdk_display_create_gl_context (display, NULL);
  if (context == NULL || !gdk_gl_context_realize (context, NULL))
    return FALSE;
  gdk_gl_context_make_current (context);
  const char *renderer = (const char *) glGetString (GL_RENDERER);
  gboolean software = renderer != NULL && names_software_rasterizer (renderer);
  gdk_gl_context_clear_current ();
  return software;
}

void
ib_prefer_cairo_on_software_gl (GdkDisplay *display)
{
  /* GTK reads the variable when it makes its first renderer, so this must run before any window is drawn. */
  if (g_getenv ("GSK_RENDERER") != NULL || display == NULL)
    return;
  if (ib_display_has_software_gl (display))
    g_setenv ("GSK_RENDERER", "cairo", TRUE);
}
