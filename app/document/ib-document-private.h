/* ib-document-private.h: what app/document's own files use of IbDocument beyond its public API. */
#pragma once

#include "ib-document.h"
#include "ib-project-file.h"

G_BEGIN_DECLS

/* A document of a project (recovery): its title, history and file as the project says, modified as told. */
IbDocument *ib_document_new_from_project  (IbProject  *project,
                                           GFile      *file,
                                           gboolean    modified);
/* Grows with every change; equal values mean nothing changed in between. */
guint64     ib_document_get_change_serial (IbDocument *doc);
/* After a save to file of the state at change serial: the file becomes the document's, its name the title,
 * and the document unmodified if nothing changed since. */
void        ib_document_set_saved         (IbDocument *doc,
                                           GFile      *file,
                                           guint64     serial);

G_END_DECLS
