/* ib-document.h: one picture being edited: the picture, its mask, the undo history, the file it is saved
 * to, whether it is modified, and the recipe of the last accepted result. No widgets.
 *
 * A document opened from a picture (PNG, JPEG, ...) remembers it as its source and has no file: the first
 * save writes a project (.ibproj, ib-project-file.h) wherever the shell says, so that the original picture is
 * never overwritten without an explicit "save as" onto it. A document opened from a project has that project
 * as its file. ib_document_save_async writes a project, or a PNG with the recipe in its text chunk when the
 * file ends in .png; ib_document_export_async writes PNG or JPEG without changing the document's file. Every
 * write is atomic (ib-atomic-file.h).
 *
 * Every finished change of the mask ("change-committed") becomes an undo step; ib_document_apply_result
 * makes one step of the rectangle the result changed. The history's memory cap is set by the caller (the
 * GSettings key history-memory-mib). */
#pragma once

#include <gdk/gdk.h>
#include <gio/gio.h>

#include "ib-document-error.h"
#include "ib-edit-job.h"
#include "ib-history.h"
#include "ib-mask.h"

G_BEGIN_DECLS

#define IB_DOCUMENT_PROJECT_EXTENSION ".ibproj"

#define IB_TYPE_DOCUMENT (ib_document_get_type ())
G_DECLARE_FINAL_TYPE (IbDocument, ib_document, IB, DOCUMENT, GObject)

/* A picture (then the document has no file yet) or a project file (its file). */
IbDocument   *ib_document_new_from_file     (GFile               *file,
                                             GError             **error);
/* A pasted or dropped picture: no file, no source, titled "Pasted picture". */
IbDocument   *ib_document_new_from_texture  (GdkTexture          *texture,
                                             GError             **error);
/* Takes a reference to picture (whose x, y must be 0), titled title. */
IbDocument   *ib_document_new_from_picture  (IbEditImage         *picture,
                                             const char          *title);

/* Something the user should be told about how the file was opened (an animated picture of which only the
 * first frame was read), or NULL. */
const char   *ib_document_get_load_notice   (IbDocument          *doc);

/* RGBA8, borrowed: valid until the next change of the picture (apply_result, undo, redo). */
IbEditImage  *ib_document_get_picture       (IbDocument          *doc);
/* The picture for display, borrowed, made once per change of the picture. */
GdkTexture   *ib_document_get_texture       (IbDocument          *doc);
/* The picture as it was opened (for before/after), borrowed. */
IbEditImage  *ib_document_get_original     (IbDocument          *doc);
/* Same size as the picture, borrowed; the document's for its whole life. */
IbMask       *ib_document_get_mask          (IbDocument          *doc);
IbHistory    *ib_document_get_history       (IbDocument          *doc);

/* The file saves go to: a project or a PNG; NULL until the first save of a picture or a pasted one. */
GFile        *ib_document_get_file          (IbDocument          *doc);
/* The picture the document was opened from; NULL for pasted pictures and for projects. */
GFile        *ib_document_get_source        (IbDocument          *doc);
const char   *ib_document_get_title         (IbDocument          *doc);
gboolean      ib_document_get_modified      (IbDocument          *doc);
/* Where a first save should go: the source's folder and name with .ibproj (NULL for a pasted picture). */
GFile        *ib_document_suggest_project_file (IbDocument       *doc);

/* The recipe (JSON) of the last accepted result, or NULL. */
const char   *ib_document_get_recipe        (IbDocument          *doc);
/* The generation settings as JSON (the panel's), kept in projects; NULL when none were set. */
const char   *ib_document_get_settings_json (IbDocument          *doc);
void          ib_document_set_settings_json (IbDocument          *doc,
                                             const char          *json);
/* The model the last result was made with, kept in projects (NULL when unknown). */
void          ib_document_set_model         (IbDocument          *doc,
                                             const char          *path,
                                             const char          *sha256);
const char   *ib_document_get_model_path    (IbDocument          *doc);
const char   *ib_document_get_model_sha256  (IbDocument          *doc);

/* Takes picture, a whole picture of the same size (IbEditResult's images), as one undoable step covering
 * the rectangle where it differs from the current picture; recipe becomes the document's recipe. Nothing
 * happens when no pixel differs. */
void          ib_document_apply_result      (IbDocument          *doc,
                                             IbEditImage         *picture,
                                             const char          *recipe);

gboolean      ib_document_can_undo          (IbDocument          *doc);
gboolean      ib_document_can_redo          (IbDocument          *doc);
gboolean      ib_document_undo              (IbDocument          *doc);
gboolean      ib_document_redo              (IbDocument          *doc);

/* Saves to file (it becomes the document's file and the document unmodified): a project, or a PNG with
 * the recipe when file ends in .png. The document's state is taken when called; writing runs on a thread. */
void          ib_document_save_async        (IbDocument          *doc,
                                             GFile               *file,
                                             GCancellable        *cancellable,
                                             GAsyncReadyCallback  callback,
                                             gpointer             user_data);
gboolean      ib_document_save_finish       (IbDocument          *doc,
                                             GAsyncResult        *result,
                                             GError             **error);

typedef enum
{
  IB_EXPORT_PNG,
  IB_EXPORT_JPEG,
} IbExportFormat;

/* Writes the picture as PNG (with the recipe) or JPEG (quality 1..100); the document's file and modified
 * state do not change. */
void          ib_document_export_async      (IbDocument          *doc,
                                             GFile               *file,
                                             IbExportFormat       format,
                                             int                  quality,
                                             GCancellable        *cancellable,
                                             GAsyncReadyCallback  callback,
                                             gpointer             user_data);
gboolean      ib_document_export_finish     (IbDocument          *doc,
                                             GAsyncResult        *result,
                                             GError             **error);

/* The document as a project file's bytes, for saving and autosave (ib-recovery.h). Runs on the calling
 * thread; cheap to call on the main thread (it takes references), the encoding is the slow part. */
typedef struct _IbProject IbProject;
IbProject    *ib_document_snapshot          (IbDocument          *doc);

/* Properties: "file" (GFile), "title" (string), "modified", "can-undo", "can-redo" (boolean), "recipe"
 * (string), all read-only notifications. Signal "picture-changed" (int x, int y, int width, int height). */

G_END_DECLS
