/* ib-generate-error.h: the error domain of app/generate (settings the user gave, a job not ready). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define IB_GENERATE_ERROR (ib_generate_error_quark ())
GQuark ib_generate_error_quark (void);

typedef enum
{
  IB_GENERATE_ERROR_INPUT,       /* a prompt, class or setting the model cannot take */
  IB_GENERATE_ERROR_NOT_READY,   /* no model, or no finished level to resample from */
} IbGenerateError;

G_END_DECLS
