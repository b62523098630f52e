/* ib-generate-test.h: what the tests of app/generate share: finding a widget by the name its .ui file gives. */
#pragma once

#include <gtk/gtk.h>

/* The first descendant (or root itself) with this widget name; NULL when none. */
static inline GtkWidget *
ib_test_find_widget (GtkWidget  *root,
                     const char *name)
{
  if (g_strcmp0 (gtk_widget_get_name (root), name) == 0)
    return root;
  for (GtkWidget *child = gtk_widget_get_first_child (root); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = ib_test_find_widget (child, name);
      if (found != NULL)
        return found;
    }
  return NULL;
}
