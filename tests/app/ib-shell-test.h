/* ib-shell-test.h: running the real application inside a test: g_application_run with a command line, the
 * test's body called from the main loop once the command line has been handled, and waiting for conditions
 * by iterating the main context. */
#pragma once

#include <adwaita.h>

#include "ib-application.h"
#include "ib-main-window.h"

G_BEGIN_DECLS

/* ib_studio_init, GTK and libadwaita for a test program; the user's state folder (crash recovery) is a
 * temporary one, so that tests neither see nor leave autosaves, or the folder IB_SHELL_TEST_STATE_ENV names
 * (a child process of a test). Call first in main. */
#define IB_SHELL_TEST_STATE_ENV "IB_SHELL_TEST_STATE_HOME"
void        ib_shell_test_init             (int                *argc,
                                            char             ***argv);

typedef void (*IbShellTestBody) (IbApplication *application,
                                 gpointer       data);

/* Runs the application (non-unique, so that tests never talk to each other) with argv (NULL-terminated,
 * without the program name); body runs once start-up, activate or open are done. Every window is destroyed
 * afterwards without asking about unsaved work. */
void        ib_shell_test_run              (const char * const *argv,
                                            IbShellTestBody     body,
                                            gpointer            data);

/* The same with --model (a random model of n_levels levels from seed) and a picture of width x height. */
void        ib_shell_test_run_on_picture   (int                 n_levels,
                                            guint32             seed,
                                            int                 width,
                                            int                 height,
                                            IbShellTestBody     body,
                                            gpointer            data);

/* Iterates the default main context until expr holds; fails the test after timeout_ms. */
#define IB_SHELL_TEST_WAIT_FOR(expr, timeout_ms) \
  G_STMT_START { \
    gint64 _deadline = g_get_monotonic_time () + (gint64) (timeout_ms) * 1000; \
    while (!(expr)) \
      { \
        if (g_get_monotonic_time () > _deadline) \
          g_error ("timed out after %d ms waiting for %s", (int) (timeout_ms), #expr); \
        if (!g_main_context_iteration (NULL, FALSE)) \
          g_usleep (2000); \
      } \
  } G_STMT_END

/* Lets pending events and idles run for about ms milliseconds. */
void        ib_shell_test_spin             (guint               ms);

/* A small random model file (tests/ib-test-model.h) with n_levels levels, written to a temporary folder that
 * the test removes; its path. */
char       *ib_shell_test_write_model      (int                 n_levels,
                                            guint32             seed);
/* A picture file (PNG) of width x height with a gradient and a few shapes; its path. */
char       *ib_shell_test_write_picture    (int                 width,
                                            int                 height);

/* The first of the bundled sample pictures (data/samples/, by name) and its mask's path (IMAGEBART_SOURCE_ROOT
 * names the source tree). */
char       *ib_shell_test_sample_picture   (char              **mask_path);

/* The first toplevel of type (e.g. ADW_TYPE_MESSAGE_DIALOG) that is transient for parent (any parent when
 * NULL), or NULL. */
GtkWindow  *ib_shell_test_find_toplevel    (GType               type,
                                            GtkWindow          *parent);
/* The first widget of type inside root (depth first), or NULL. */
GtkWidget  *ib_shell_test_find_widget      (GtkWidget          *root,
                                            GType               type);

/* The application's main window (the active one). */
IbMainWindow *ib_shell_test_main_window    (IbApplication      *application);
/* Waits until the model is loaded and the main window shows a document on a canvas with a size. */
void        ib_shell_test_wait_ready       (IbApplication      *application);
/* Waits (up to timeout_ms) for the crash-recovery dialog at start-up, restores what it offers, and returns
 * the main window's document, which must be modified. */
IbDocument *ib_shell_test_restore_offered  (IbApplication      *application,
                                            guint               timeout_ms);
/* A stroke of the canvas's current tool across the picture's centre, through the canvas's own entry points
 * (widget coordinates), as the pointer gestures drive it. */
void        ib_shell_test_stroke           (IbCanvas           *canvas,
                                            int                 picture_width,
                                            int                 picture_height);
/* How many pixels differ between two pictures of the same size; with mask, only those where the mask is 0
 * (outside) or not 0 (inside) count. */
typedef enum
{
  IB_SHELL_TEST_ALL,
  IB_SHELL_TEST_OUTSIDE_MASK,
  IB_SHELL_TEST_INSIDE_MASK,
} IbShellTestRegion;
gsize       ib_shell_test_count_differences (IbEditImage       *a,
                                            IbEditImage        *b,
                                            IbMask             *mask,
                                            IbShellTestRegion   region);

/* Tests that need a process of their own (what happens at start-up, a kill): the test program started again
 * as a child with the arguments --child MODE and env_changes applied to this process's environment
 * ("NAME=VALUE" sets, "NAME" unsets; NULL-terminated). Returns its pid; *from_child is the read end of a pipe
 * the child writes to (ib_shell_test_child_pipe). The child dies with its parent. */
GPid        ib_shell_test_spawn_child      (const char         *mode,
                                            const char * const *env_changes,
                                            int                *from_child);
/* First thing in main: the MODE when this process is such a child (its GLib test output then goes to stderr,
 * its stdout being the pipe), else NULL. Call ib_shell_test_init after it either way. */
const char *ib_shell_test_child_mode       (int                 argc,
                                            char              **argv);
/* In a child: the pipe to the parent. */
int         ib_shell_test_child_pipe       (void);

/* Removes the temporary files (call at the end of main). */
void        ib_shell_test_cleanup          (void);

G_END_DECLS
