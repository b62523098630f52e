/* ib-error.c: the model library's error domain. */
#include "ib-error.h"

G_DEFINE_QUARK (ib-error-quark, ib_error)
