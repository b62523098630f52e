/* ib-main-window.h: the editor's window: one picture (IbDocument), its canvas, the generate panel, the level
 * strip and the variant gallery, and the window's actions (win.* in app/README.md). */
#pragma once

#include <adwaita.h>

#include "ib-application.h"

G_BEGIN_DECLS

#define IB_TYPE_MAIN_WINDOW (ib_main_window_get_type ())
G_DECLARE_FINAL_TYPE (IbMainWindow, ib_main_window, IB, MAIN_WINDOW, AdwApplicationWindow)

IbMainWindow *ib_main_window_new          (IbApplication *application);

/* A short notice over the window. */
void          ib_main_window_add_toast    (IbMainWindow  *self,
                                           const char    *message);

G_END_DECLS
