/* ib-error.h: the model library's error domain. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define IB_ERROR (ib_error_quark ())

typedef enum
{
  IB_ERROR_IO,            /* the file could not be opened, read or written */
  IB_ERROR_CORRUPT,       /* the container is broken: sizes, offsets, JSON */
  IB_ERROR_INVALID,       /* well-formed but inconsistent: config values, shapes, dtypes */
  IB_ERROR_UNSUPPORTED,   /* a feature this build does not have */
  IB_ERROR_ARGUMENT,      /* a caller's parameter is out of range */
  IB_ERROR_NO_MEMORY,     /* an allocation failed */
  IB_ERROR_CANCELLED,
} IbError;

GQuark ib_error_quark (void);

G_END_DECLS
