/* fuzz-project-file.c: libFuzzer harness for the editor's project-file loader (ib_project_file_load_from_bytes,
 * app/document/ib-project-file.h): header, table of contents, zlib chunks and their hashes, the history steps.
 * A project it accepts must encode again. The chunks' SHA-256 checks stop most mutations early; the seeds
 * from make-seeds-app hold valid tables to mutate from. */
#include <gio/gio.h>
#include <stdint.h>

#include "fuzz-common.h"
#include "ib-project-file.h"
#include "ib-studio.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  ib_studio_init ();
  g_autoptr (GBytes) bytes = g_bytes_new (data, size);
  g_autoptr (GError) error = NULL;

  ib_project_file_has_magic (data, size);
  g_autoptr (IbProject) project = ib_project_file_load_from_bytes (bytes, "fuzzed project", &error);
  if (project == NULL)
    {
      g_assert (error != NULL && error->message != NULL);
      return 0;
    }
  g_assert (project->picture != NULL && project->picture->width > 0 && project->picture->height > 0);
  g_assert (project->n_done <= project->n_steps);
  g_autoptr (GBytes) again = ib_project_file_save_to_bytes (project, &error);
  if (again == NULL)
    g_error ("a project the loader accepted does not encode again: %s", error->message);
  return 0;
}
