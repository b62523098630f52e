/* ib-document-error.h: the error domain of app/document (pictures, projects, recovery, saving). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define IB_DOCUMENT_ERROR (ib_document_error_quark ())

typedef enum
{
  IB_DOCUMENT_ERROR_IO,           /* the file could not be opened, read or written */
  IB_DOCUMENT_ERROR_NO_SPACE,     /* the disk is full (the old file is intact) */
  IB_DOCUMENT_ERROR_FORMAT,       /* not a picture or project this program reads */
  IB_DOCUMENT_ERROR_CORRUPT,      /* truncated or damaged */
  IB_DOCUMENT_ERROR_TOO_LARGE,    /* over IB_EDIT_MAX_SIDE per side or IB_EDIT_MAX_PIXELS */
  IB_DOCUMENT_ERROR_EMPTY,        /* zero pixels */
  IB_DOCUMENT_ERROR_INVALID,      /* an argument a caller should not have passed (bad JSON, sizes) */
} IbDocumentError;

GQuark ib_document_error_quark (void);

G_END_DECLS
