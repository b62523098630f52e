/* ib-main-window-private.h: the window's state, shared by ib-main-window.c (layout, documents, clipboard,
 * closing), ib-main-window-files.c (open, save, export dialogs) and ib-main-window-generate.c (jobs). */
#pragma once

#include "ib-canvas.h"
#include "ib-document.h"
#include "ib-generate-panel.h"
#include "ib-job-runner.h"
#include "ib-level-strip.h"
#include "ib-main-window.h"
#include "ib-variant-gallery.h"

G_BEGIN_DECLS

struct _IbMainWindow
{
  AdwApplicationWindow parent_instance;

  /* template */
  AdwToastOverlay *toast_overlay;
  AdwWindowTitle *window_title;
  GtkStack *main_stack;
  GtkStack *generate_stack;
  GtkSpinner *model_spinner;
  GtkBox *canvas_slot;
  GtkBox *results_slot;
  GtkBox *panel_slot;
  GMenu *model_section;

  IbApplication *application;          /* weak: the application outlives its windows */
  gulong model_handler;
  gulong loading_handler;
  gulong failed_handler;

  IbLoadedModel *model;                /* what the panel shows and the next job runs with */
  IbDocument *document;
  IbCanvas *canvas;
  IbGeneratePanel *panel;
  IbLevelStrip *strip;
  IbVariantGallery *gallery;

  IbJobRunner *runner;
  IbLoadedModel *job_model;            /* the last job's model: kept open until the runner lets go */
  IbEditResult *result;                /* the finished job's variants, until accepted or rejected */
  int selected_variant;
  gboolean retry_on_cpu;               /* the failure dialog's "Use the CPU Engine" runs the job again */

  GCancellable *cancellable;           /* saves and exports; cancelled when the window goes */
  gboolean close_confirmed;            /* the user answered the unsaved-work question */
};

/* ib-main-window.c */
void     ib_main_window_update_actions   (IbMainWindow *self);
void     ib_main_window_show_error       (IbMainWindow *self,
                                          const char   *heading,
                                          const char   *body);
/* For async callbacks, which must not keep a closed window alive (its dispose cancels what it started): a
 * weak reference, and the window it still points to (a new reference) or NULL, freeing the reference. */
GWeakRef *ib_main_window_weak_ref        (IbMainWindow *self);
IbMainWindow *ib_main_window_weak_ref_take (GWeakRef   *ref);
/* TRUE when the focus is in a text field: the clipboard and undo shortcuts are then the field's. */
gboolean ib_main_window_forward_to_text  (IbMainWindow *self,
                                          const char   *action_name);

/* ib-main-window-files.c */
void     ib_main_window_files_init       (IbMainWindow *self);
/* Saves (asking where when the document has no file yet); then closes the window when close is set. */
void     ib_main_window_save             (IbMainWindow *self,
                                          gboolean      close);
/* The unsaved-work question; closes the window unless the user cancels. */
void     ib_main_window_ask_to_close     (IbMainWindow *self);

/* ib-main-window-generate.c */
void     ib_main_window_generate_init    (IbMainWindow *self);
void     ib_main_window_generate_dispose (IbMainWindow *self);
/* Drops the preview and the pending variants (a new picture, a new model). */
void     ib_main_window_clear_results    (IbMainWindow *self);

G_END_DECLS
