/* imagebart-cli.h: what the command-line tool's commands share (cli/imagebart.c), for the commands that
 * live in files of their own. */
#pragma once

#include <glib.h>

#include "ib-edit-job.h"
#include "ib-model-file.h"

G_BEGIN_DECLS

/* Parses the command's entries and the common ones (--backend, --threads, ...) and applies the latter. */
gboolean      ib_cli_parse_options   (GOptionContext  *context,
                                      GOptionEntry    *entries,
                                      int             *argc,
                                      char          ***argv,
                                      GError         **error);

/* As ib_cli_parse_options for a command that runs an edit job: --backend and --device are checked, not
 * opened (the job opens its engine); ib_cli_apply_engine_options then puts them into the job's settings. */
gboolean      ib_cli_parse_edit_options (GOptionContext  *context,
                                         GOptionEntry    *entries,
                                         int             *argc,
                                         char          ***argv,
                                         GError         **error);
/* --backend (when given) and --device (when given) into settings. */
void          ib_cli_apply_engine_options (IbEditSettings *settings);

/* The optional MODEL positional argument (else the bundled default) and n_required arguments after it. */
IbModelFile  *ib_cli_open_model      (int              argc,
                                      char           **argv,
                                      int              n_required,
                                      char          ***rest,
                                      GError         **error);

/* Writes a whole file atomically (a temporary file renamed into place). */
gboolean      ib_cli_write_file      (const char      *path,
                                      const void      *data,
                                      gsize            length,
                                      GError         **error);

/* imagebart inpaint (cli/imagebart-inpaint.c). */
int           ib_cli_run_inpaint     (int              argc,
                                      char           **argv);

/* A conditioned model's sample (cli/imagebart-inpaint.c): what to condition on, as the options gave it (NULL
 * where not given). */
typedef struct
{
  const char *prompt;
  const char *text_tokens;
  const char *class_id;
  const char *guidance;
} IbCliConditioning;

/* imagebart sample on a text- or class-conditional model: the edit engine on a blank picture, all of it masked,
 * written to OUT (a PNG with its recipe). The messages name "imagebart sample". */
int           ib_cli_run_conditioned_sample (IbModelFile             *file,
                                             const IbCliConditioning *conditioning,
                                             const char              *seed,
                                             const char              *out);

G_END_DECLS
