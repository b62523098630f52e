/* main.c: imagebart-studio, the editor. Everything lives in the library (app/); see app/README.md. */
#include <unistd.h>

#include "ib-application.h"
#include "ib-studio.h"

/* The CPU engine's OpenMP threads spin between products by default, taking the cores the UI thread needs to
 * paint while a job runs. libgomp reads its wait policy when it is loaded, before main, so the first start
 * asks for the passive one and runs itself again (docs/performance.md measures both policies). */
static void
ensure_passive_openmp (char **argv)
{
  if (g_getenv ("OMP_WAIT_POLICY") != NULL)
    return;
  g_setenv ("OMP_WAIT_POLICY", "passive", TRUE);
  execv ("/proc/self/exe", argv);
  /* No /proc: go on with the spinning policy. */
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(IbApplication) application = NULL;

  ensure_passive_openmp (argv);
  ib_studio_init ();
  application = ib_application_new ();
  return g_application_run (G_APPLICATION (application), argc, argv);
}
