/* main.c: imagebart-studio, the editor. Everything lives in the library (app/); see app/README.md. */
#include "ib-application.h"
#include "ib-studio.h"

int
main (int   argc,
      char *argv[])
{
  g_autoptr(IbApplication) application = NULL;

  ib_studio_init ();
  application = ib_application_new ();
  return g_application_run (G_APPLICATION (application), argc, argv);
}
