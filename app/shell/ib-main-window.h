/* ib-main-window.h: the editor's window: one picture (IbDocument), its canvas, the generate panel, the level
 * strip and the variant gallery, and the window's actions (win.* in app/README.md). */
#pragma once

#include <adwaita.h>

#include "ib-application.h"
#include "ib-canvas.h"
#include "ib-document.h"
#include "ib-generate-panel.h"
#include "ib-job-runner.h"

G_BEGIN_DECLS

#define IB_TYPE_MAIN_WINDOW (ib_main_window_get_type ())
G_DECLARE_FINAL_TYPE (IbMainWindow, ib_main_window, IB, MAIN_WINDOW, AdwApplicationWindow)

IbMainWindow *ib_main_window_new          (IbApplication *application);

/* Opens a picture or a project into this window; errors are shown to the user. */
void          ib_main_window_open_file    (IbMainWindow  *self,
                                           GFile         *file);
gboolean      ib_main_window_has_document (IbMainWindow  *self);
/* Shows document in this window (a restored or new one), replacing any other. */
void          ib_main_window_set_document (IbMainWindow  *self,
                                           IbDocument    *document);

/* A short notice over the window. */
void          ib_main_window_add_toast    (IbMainWindow  *self,
                                           const char    *message);

/* The window's parts, borrowed (the document is NULL while none is open). */
IbDocument      *ib_main_window_get_document (IbMainWindow *self);
IbCanvas        *ib_main_window_get_canvas   (IbMainWindow *self);
IbGeneratePanel *ib_main_window_get_panel    (IbMainWindow *self);
IbJobRunner     *ib_main_window_get_runner   (IbMainWindow *self);

G_END_DECLS
