/* ib-application.h: the editor's application: its windows, the app-wide actions, the settings and the
 * model every window edits with.
 *
 * The model is opened off the UI thread at start-up: --model FILE, else the GSettings key model-path, else the
 * bundled default model (installed, or in the source tree when running from the build folder). Windows follow
 * the "model" property and the "model-failed" signal. */
#pragma once

#include <adwaita.h>

#include "ib-document.h"
#include "ib-loaded-model.h"

G_BEGIN_DECLS

#define IB_TYPE_APPLICATION (ib_application_get_type ())
G_DECLARE_FINAL_TYPE (IbApplication, ib_application, IB, APPLICATION, AdwApplication)

IbApplication *ib_application_new               (void);

/* NULL while none is loaded (at start, or after a failure). */
IbLoadedModel *ib_application_get_model         (IbApplication *self);
gboolean       ib_application_get_model_loading (IbApplication *self);
/* Opens path off the UI thread; on success it becomes the model and is remembered in recent-models. A load
 * in progress is abandoned. */
void           ib_application_load_model        (IbApplication *self,
                                                 const char    *path);
/* The model file start-up looks for: --model, model-path, the bundled one; NULL when there is none. */
char          *ib_application_find_default_model (IbApplication *self);

/* The recent models, as a menu of app.open-recent-model items. */
GMenuModel    *ib_application_get_recent_models_menu (IbApplication *self);

/* Crash recovery: a window's document is autosaved while it is modified (IbRecovery); forgetting it is a
 * clean close that removes its recovery file. */
void           ib_application_watch_document    (IbApplication *self,
                                                 IbDocument    *document);
void           ib_application_forget_document   (IbApplication *self,
                                                 IbDocument    *document);

/* The settings (org.imagebart.Studio), or NULL when the schema is not installed anywhere we look. */
GSettings     *ib_application_get_settings      (IbApplication *self);

G_END_DECLS
