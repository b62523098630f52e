/* ib-generate-error.c: the error domain of app/generate. */
#include "ib-generate-error.h"

G_DEFINE_QUARK (ib-generate-error-quark, ib_generate_error)
