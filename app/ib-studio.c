/* ib-studio.c: once-per-process set-up of the editor: resources and translations. */
#include "ib-studio.h"

#include <gio/gio.h>
#include <glib/gi18n.h>
#include <locale.h>

#include "ib-studio-config.h"
#include "ib-studio-resources.h"

void
ib_studio_init (void)
{
  static gsize initialized = 0;

  if (g_once_init_enter (&initialized))
    {
      /* Registered by hand: a static library would drop an unreferenced constructor. With
       * --manual-register, ib_studio_get_resource () is NULL until this has run. */
      ib_studio_register_resource ();
      bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
      bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
      textdomain (GETTEXT_PACKAGE);
      g_once_init_leave (&initialized, 1);
    }
}
