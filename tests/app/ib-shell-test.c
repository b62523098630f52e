/* ib-shell-test.c: running the real application inside a test. */
#include "ib-shell-test.h"

#include <glib/gstdio.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "../ib-test-model.h"
#include "ib-recovery-dialog.h"
#include "ib-studio.h"

static char *temp_dir;
static int child_pipe = -1;

static const char *get_temp_dir (void);

void
ib_shell_test_init (int    *argc,
                    char ***argv)
{
  g_autofree char *state = NULL;

  /* Before anything asks GLib for the user's folders (it keeps the first answer). A test's child process is
   * given its parent's folder, so that the parent sees what the child left. */
  if (g_getenv (IB_SHELL_TEST_STATE_ENV) != NULL)
    state = g_strdup (g_getenv (IB_SHELL_TEST_STATE_ENV));
  else
    state = g_build_filename (get_temp_dir (), "state", NULL);
  g_setenv ("XDG_STATE_HOME", state, TRUE);
  ib_studio_init ();
  gtk_test_init (argc, argv, NULL);
  adw_init ();
}

typedef struct
{
  IbShellTestBody body;
  gpointer data;
} Run;

static gboolean
run_body_cb (gpointer user_data)
{
  GApplication *application = g_application_get_default ();
  Run *run = user_data;
  g_autoptr(GList) windows = NULL;

  g_application_hold (application);
  run->body (IB_APPLICATION (application), run->data);
  /* Destroying (not closing) skips the unsaved-work question. */
  windows = g_list_copy (gtk_application_get_windows (GTK_APPLICATION (application)));
  for (GList *l = windows; l != NULL; l = l->next)
    gtk_window_destroy (l->data);
  g_application_release (application);
  g_application_quit (application);
  return G_SOURCE_REMOVE;
}

static void
startup_cb (GApplication *application,
            Run          *run)
{
  /* Runs after activate or open, which g_application_run calls before it iterates. */
  g_idle_add (run_body_cb, run);
}

void
ib_shell_test_run (const char * const *argv,
                   IbShellTestBody     body,
                   gpointer            data)
{
  g_autoptr(IbApplication) application = ib_application_new ();
  g_autoptr(GPtrArray) args = g_ptr_array_new ();
  Run run = { body, data };
  int status;

  g_application_set_flags (G_APPLICATION (application),
                           g_application_get_flags (G_APPLICATION (application)) | G_APPLICATION_NON_UNIQUE);
  g_signal_connect_after (application, "startup", G_CALLBACK (startup_cb), &run);
  g_ptr_array_add (args, (gpointer) "imagebart-studio");
  for (int i = 0; argv != NULL && argv[i] != NULL; i++)
    g_ptr_array_add (args, (gpointer) argv[i]);
  g_ptr_array_add (args, NULL);
  status = g_application_run (G_APPLICATION (application), (int) args->len - 1, (char **) args->pdata);
  g_assert_cmpint (status, ==, 0);
}

void
ib_shell_test_run_on_picture (int              n_levels,
                              guint32          seed,
                              int              width,
                              int              height,
                              IbShellTestBody  body,
                              gpointer         data)
{
  g_autofree char *model = ib_shell_test_write_model (n_levels, seed);
  g_autofree char *picture = ib_shell_test_write_picture (width, height);
  const char *argv[] = { "--model", model, picture, NULL };

  ib_shell_test_run (argv, body, data);
}

GPid
ib_shell_test_spawn_child (const char         *mode,
                           const char * const *env_changes,
                           int                *from_child)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *self = g_file_read_link ("/proc/self/exe", &error);
  g_assert_no_error (error);
  char *argv[] = { self, (char *) "--child", (char *) mode, NULL };
  g_auto(GStrv) envp = g_get_environ ();
  GPid pid;

  for (int i = 0; env_changes != NULL && env_changes[i] != NULL; i++)
    {
      const char *equals = strchr (env_changes[i], '=');
      if (equals == NULL)
        envp = g_environ_unsetenv (envp, env_changes[i]);
      else
        {
          g_autofree char *name = g_strndup (env_changes[i], equals - env_changes[i]);
          envp = g_environ_setenv (envp, name, equals + 1, TRUE);
        }
    }
  g_assert_true (g_spawn_async_with_pipes (NULL, argv, envp, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid, NULL,
                                           from_child, NULL, &error));
  g_assert_no_error (error);
  return pid;
}

const char *
ib_shell_test_child_mode (int    argc,
                          char **argv)
{
  if (argc < 3 || !g_str_equal (argv[1], "--child"))
    return NULL;
  child_pipe = dup (STDOUT_FILENO);
  g_assert_cmpint (dup2 (STDERR_FILENO, STDOUT_FILENO), ==, STDOUT_FILENO);
#ifdef __linux__
  prctl (PR_SET_PDEATHSIG, SIGKILL);   /* never outlive a parent that failed before it waited */
#endif
  return argv[2];
}

int
ib_shell_test_child_pipe (void)
{
  g_assert_cmpint (child_pipe, >=, 0);
  return child_pipe;
}

void
ib_shell_test_spin (guint ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) ms * 1000;

  while (g_get_monotonic_time () < end)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (2000);
}

static const char *
get_temp_dir (void)
{
  if (temp_dir == NULL)
    {
      g_autoptr(GError) error = NULL;

      temp_dir = g_dir_make_tmp ("ib-shell-test-XXXXXX", &error);
      g_assert_no_error (error);
    }
  return temp_dir;
}

char *
ib_shell_test_write_model (int     n_levels,
                           guint32 seed)
{
  IbTestModelSpec spec;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *name = g_strdup_printf ("model-%d-%u.safetensors", n_levels, seed);
  char *path = g_build_filename (get_temp_dir (), name, NULL);

  ib_test_model_spec_init (&spec);
  spec.n_levels = n_levels;
  spec.seed = seed;
  bytes = ib_test_model_build (&spec);
  g_file_set_contents (path, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), &error);
  g_assert_no_error (error);
  return path;
}

char *
ib_shell_test_write_picture (int width,
                             int height)
{
  g_autoptr(GdkPixbuf) pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, width, height);
  g_autofree char *name = g_strdup_printf ("picture-%dx%d.png", width, height);
  char *path = g_build_filename (get_temp_dir (), name, NULL);
  guint8 *pixels = gdk_pixbuf_get_pixels (pixbuf);
  int stride = gdk_pixbuf_get_rowstride (pixbuf);
  g_autoptr(GError) error = NULL;

  /* A small landscape: sky, a sun, two rows of hills; every pixel differs from its neighbours a little. */
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      {
        guint8 *p = pixels + (gsize) y * stride + (gsize) x * 3;
        double u = (double) x / MAX (width - 1, 1);
        double v = (double) y / MAX (height - 1, 1);
        double sun = hypot (u - 0.3, (v - 0.3) * height / MAX (width, 1));
        double far_hill = 0.55 + 0.08 * sin (u * 9.0);
        double near_hill = 0.7 + 0.1 * sin (u * 5.0 + 1.0);
        double r, g, b;

        if (v > near_hill)
          r = 60 + 40 * v, g = 140 - 30 * v, b = 50;
        else if (v > far_hill)
          r = 70, g = 110, b = 90 + 30 * v;
        else if (sun < 0.09)
          r = 250, g = 220, b = 90;
        else
          r = 120 + 100 * v, g = 170 + 60 * v, b = 235;
        p[0] = (guint8) CLAMP (r + ((x * 7 + y * 13) % 9) - 4, 0, 255);
        p[1] = (guint8) CLAMP (g + ((x * 11 + y * 5) % 9) - 4, 0, 255);
        p[2] = (guint8) CLAMP (b + ((x * 3 + y * 17) % 9) - 4, 0, 255);
      }
  gdk_pixbuf_save (pixbuf, path, "png", &error, NULL);
  g_assert_no_error (error);
  return path;
}

char *
ib_shell_test_sample_picture (char **mask_path)
{
  const char *root = g_getenv ("IMAGEBART_SOURCE_ROOT");
  g_assert_nonnull (root);
  g_autofree char *samples = g_build_filename (root, "data", "samples", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GDir) dir = g_dir_open (samples, 0, &error);
  g_assert_no_error (error);
  g_autofree char *first = NULL;
  for (const char *name; (name = g_dir_read_name (dir)) != NULL;)
    if (g_str_has_suffix (name, ".png") && !g_str_has_suffix (name, ".mask.png") &&
        (first == NULL || strcmp (name, first) < 0))
      {
        g_free (first);
        first = g_strdup (name);
      }
  g_assert_nonnull (first);
  char *picture = g_build_filename (samples, first, NULL);
  g_autofree char *stem = g_strndup (picture, strlen (picture) - strlen (".png"));
  *mask_path = g_strconcat (stem, ".mask.png", NULL);
  return picture;
}

GtkWindow *
ib_shell_test_find_toplevel (GType      type,
                             GtkWindow *parent)
{
  GListModel *toplevels = gtk_window_get_toplevels ();

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GtkWindow) window = g_list_model_get_item (toplevels, i);

      if (G_TYPE_CHECK_INSTANCE_TYPE (window, type)
          && (parent == NULL || gtk_window_get_transient_for (window) == parent))
        return window;
    }
  return NULL;
}

GtkWidget *
ib_shell_test_find_widget (GtkWidget *root,
                           GType      type)
{
  if (G_TYPE_CHECK_INSTANCE_TYPE (root, type))
    return root;
  for (GtkWidget *child = gtk_widget_get_first_child (root); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = ib_shell_test_find_widget (child, type);

      if (found != NULL)
        return found;
    }
  return NULL;
}

IbMainWindow *
ib_shell_test_main_window (IbApplication *application)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (application));

  g_assert_true (IB_IS_MAIN_WINDOW (window));
  return IB_MAIN_WINDOW (window);
}

void
ib_shell_test_wait_ready (IbApplication *application)
{
  IbMainWindow *window = ib_shell_test_main_window (application);

  IB_SHELL_TEST_WAIT_FOR (ib_application_get_model (application) != NULL, 30000);
  IB_SHELL_TEST_WAIT_FOR (ib_main_window_get_document (window) != NULL, 10000);
  IB_SHELL_TEST_WAIT_FOR (gtk_widget_get_width (GTK_WIDGET (ib_main_window_get_canvas (window))) > 0
                          && gtk_widget_get_mapped (GTK_WIDGET (ib_main_window_get_canvas (window))), 10000);
  ib_shell_test_spin (50);
}

IbDocument *
ib_shell_test_restore_offered (IbApplication *application,
                               guint          timeout_ms)
{
  IbMainWindow *window = ib_shell_test_main_window (application);
  GtkWindow *dialog = NULL;

  IB_SHELL_TEST_WAIT_FOR ((dialog = ib_shell_test_find_toplevel (IB_TYPE_RECOVERY_DIALOG, NULL)) != NULL,
                          timeout_ms);
  adw_message_dialog_response (ADW_MESSAGE_DIALOG (dialog), "restore");
  IB_SHELL_TEST_WAIT_FOR (ib_main_window_get_document (window) != NULL, 10000);
  IbDocument *document = ib_main_window_get_document (window);
  g_assert_true (ib_document_get_modified (document));
  return document;
}

void
ib_shell_test_stroke (IbCanvas *canvas,
                      int       picture_width,
                      int       picture_height)
{
  double x0, y0, x1, y1;

  ib_canvas_picture_to_widget (canvas, picture_width * 0.3, picture_height * 0.5, &x0, &y0);
  ib_canvas_picture_to_widget (canvas, picture_width * 0.7, picture_height * 0.5, &x1, &y1);
  ib_canvas_begin_stroke (canvas, x0, y0, 1.0, FALSE);
  for (int i = 1; i <= 10; i++)
    ib_canvas_extend_stroke (canvas, x0 + (x1 - x0) * i / 10, y0 + (y1 - y0) * i / 10, 1.0);
  ib_canvas_end_stroke (canvas);
}

gsize
ib_shell_test_count_differences (IbEditImage       *a,
                                 IbEditImage       *b,
                                 IbMask            *mask,
                                 IbShellTestRegion  region)
{
  const guint8 *mask_data = NULL;
  int mask_stride = 0;
  gsize n = 0;

  g_assert_cmpint (a->width, ==, b->width);
  g_assert_cmpint (a->height, ==, b->height);
  if (mask != NULL)
    mask_data = ib_mask_get_data (mask, &mask_stride);
  for (int y = 0; y < a->height; y++)
    for (int x = 0; x < a->width; x++)
      {
        gboolean inside = mask_data != NULL && mask_data[(gsize) y * mask_stride + x] != 0;

        if ((region == IB_SHELL_TEST_OUTSIDE_MASK && inside) || (region == IB_SHELL_TEST_INSIDE_MASK && !inside))
          continue;
        if (memcmp (a->pixels + (gsize) y * a->stride + (gsize) x * 4,
                    b->pixels + (gsize) y * b->stride + (gsize) x * 4, 4) != 0)
          n++;
      }
  return n;
}

static void
remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR))
        remove_tree (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

void
ib_shell_test_cleanup (void)
{
  if (temp_dir != NULL)
    remove_tree (temp_dir);
  g_clear_pointer (&temp_dir, g_free);
}
