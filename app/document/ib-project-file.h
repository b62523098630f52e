/* ib-project-file.h: the editor's project file (.ibproj): picture, mask, original picture, undo history,
 * model and settings, so that a session can be resumed with its undo steps. Format: docs/project-format.md.
 *
 * The loader takes hostile input: every length and offset is checked with overflow-safe arithmetic before
 * use, sizes are capped (IB_EDIT_MAX_SIDE, IB_EDIT_MAX_PIXELS, a compression ratio, counts), each chunk's
 * SHA-256 is verified, and a damaged file is an IB_DOCUMENT_ERROR_CORRUPT or _FORMAT, never a crash. */
#pragma once

#include <gio/gio.h>

#include "ib-document-error.h"
#include "ib-edit-job.h"
#include "ib-history.h"

G_BEGIN_DECLS

#define IB_PROJECT_FILE_MAGIC "\211IBPROJ\n"   /* 8 bytes */
#define IB_PROJECT_FILE_VERSION 1

/* What a project holds. Pixels are shared by reference: a snapshot of a document is cheap. */
struct _IbProject
{
  IbEditImage *picture;         /* the picture now (x, y = 0) */
  IbEditImage *original;        /* as first opened, same size */
  GBytes *mask;                 /* width × height bytes, packed */
  IbHistoryStep **steps;        /* oldest first; mask steps made from pixels */
  guint n_steps;
  guint n_done;                 /* the first n_done are done, the rest undone */
  char *title;
  char *source_uri;             /* the picture the project was started from, or NULL */
  char *file_uri;               /* the file the document was last saved to (recovery files), or NULL */
  char *recipe;                 /* JSON of the last accepted result, or NULL */
  char *settings;               /* JSON of the generation settings, or NULL */
  char *model_path;
  char *model_sha256;
  gint64 saved_time;            /* microseconds since the epoch (g_get_real_time), set when encoded */
};
typedef struct _IbProject IbProject;

IbProject  *ib_project_new                  (void);
void        ib_project_free                 (IbProject     *project);

/* Encodes a project. Mask steps must be made from pixels (ib_document_snapshot converts). */
GBytes     *ib_project_file_save_to_bytes   (IbProject     *project,
                                             GError       **error);
/* Decodes bytes from anywhere (a file, a fuzzer): never trusts them. name is used in messages. */
IbProject  *ib_project_file_load_from_bytes (GBytes        *bytes,
                                             const char    *name,
                                             GError       **error);

gboolean    ib_project_file_save            (IbProject     *project,
                                             GFile         *file,
                                             GCancellable  *cancellable,
                                             GError       **error);
IbProject  *ib_project_file_load            (GFile         *file,
                                             GCancellable  *cancellable,
                                             GError       **error);

/* What a recovery list shows, read from the header and table of contents only (no pixels): any of the
 * outputs may be NULL. */
gboolean    ib_project_file_read_summary    (GFile         *file,
                                             char         **title,
                                             gint64        *saved_time,
                                             char         **file_uri,
                                             char         **source_uri,
                                             GError       **error);

/* Whether bytes start like a project file (the magic), to tell projects from pictures. */
gboolean    ib_project_file_has_magic       (const guint8  *data,
                                             gsize          length);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (IbProject, ib_project_free)

G_END_DECLS
