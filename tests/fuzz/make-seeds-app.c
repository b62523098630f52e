/* make-seeds-app.c: the editor's seed corpora (tests/fuzz/corpus/project-file/, image/), written by the
 * editor's own code: projects from ib_project_file_save_to_bytes, pictures from ib-image-io's encoders and
 * GdkPixbuf's savers, and a GIF by hand (GdkPixbuf cannot write one). Run once by hand (`make-seeds-app
 * OUTDIR`); the results are committed. */
#include <string.h>

#include "fuzz-common.h"
#include "ib-history.h"
#include "ib-image-io.h"
#include "ib-project-file.h"
#include "ib-studio.h"

static IbEditImage *
pattern_image (int x,
               int y,
               int width,
               int height,
               int seed)
{
  IbEditImage *image = ib_edit_image_new (x, y, width, height);
  for (int j = 0; j < height; j++)
    for (int i = 0; i < width * 4; i++)
      image->pixels[(gsize) j * image->stride + i] = (guint8) (seed + 37 * i + 11 * j);
  return image;
}

static GBytes *
pattern_bytes (gsize length,
               int   seed)
{
  guint8 *data = g_malloc (length);
  for (gsize i = 0; i < length; i++)
    data[i] = (guint8) (((seed + i) % 3) * 127);
  return g_bytes_new_take (data, length);
}

static void
write_project (const char *outdir,
               const char *name,
               gboolean    with_steps)
{
  int width = 6, height = 5;
  g_autoptr (IbProject) project = ib_project_new ();
  project->picture = pattern_image (0, 0, width, height, 1);
  project->original = pattern_image (0, 0, width, height, 2);
  project->mask = pattern_bytes ((gsize) width * height, 3);
  project->title = g_strdup ("Br\u00fccke");
  project->source_uri = g_strdup ("file:///tmp/bridge.png");
  project->recipe = g_strdup ("{\"format\":\"imagebart-studio-recipe\",\"seed\":\"7\"}");
  project->settings = g_strdup ("{\"strength\":3}");
  project->model_path = g_strdup ("/models/default.safetensors");
  project->model_sha256 = g_strdup ("0123abcd");
  if (with_steps)
    {
      GdkRectangle rect = { 1, 1, 3, 2 };
      g_autoptr (GBytes) before = pattern_bytes (6, 4), after = pattern_bytes (6, 5);
      g_autoptr (IbEditImage) patch_before = pattern_image (2, 1, 2, 2, 6);
      g_autoptr (IbEditImage) patch_after = pattern_image (2, 1, 2, 2, 7);
      project->n_steps = 2;
      project->n_done = 1;
      project->steps = g_new0 (IbHistoryStep *, 2);
      project->steps[0] = ib_history_step_new_mask_pixels (&rect, before, after);
      project->steps[1] = ib_history_step_new_picture (patch_before, patch_after, NULL, project->recipe);
    }
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = ib_project_file_save_to_bytes (project, &error);
  if (bytes == NULL)
    g_error ("%s", error->message);
  fuzz_write_seed (outdir, "project-file", name, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
}

/* A 2x2 GIF89a, two colours, no animation. */
static const guint8 tiny_gif[] = {
  'G', 'I', 'F', '8', '9', 'a', 2, 0, 2, 0, 0x80, 0, 0,
  0xff, 0x00, 0x00, 0x00, 0x00, 0xff,
  0x2c, 0, 0, 0, 0, 2, 0, 2, 0, 0,
  0x02, 0x03, 0x84, 0x1d, 0x05, 0x00, 0x3b,
};

static void
write_pictures (const char *outdir)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (IbEditImage) image = pattern_image (0, 0, 5, 3, 9);
  g_autoptr (GBytes) png = ib_image_io_encode_png (image, "{\"format\":\"imagebart-studio-recipe\"}", &error);
  g_assert_no_error (error);
  fuzz_write_seed (outdir, "image", "recipe.png", g_bytes_get_data (png, NULL), g_bytes_get_size (png));
  g_autoptr (GBytes) jpeg = ib_image_io_encode_jpeg (image, 80, &error);
  g_assert_no_error (error);
  fuzz_write_seed (outdir, "image", "small.jpg", g_bytes_get_data (jpeg, NULL), g_bytes_get_size (jpeg));

  g_autoptr (GdkPixbuf) pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, TRUE, 8, 4, 3);
  gdk_pixbuf_fill (pixbuf, 0x80402010);
  static const char *const formats[][2] = { { "bmp", "small.bmp" }, { "tiff", "small.tiff" },
                                            { "webp", "small.webp" }, { "ico", "small.ico" } };
  for (gsize i = 0; i < G_N_ELEMENTS (formats); i++)
    {
      g_autofree char *buffer = NULL;
      gsize length;
      g_autoptr (GError) save_error = NULL;
      if (gdk_pixbuf_save_to_buffer (pixbuf, &buffer, &length, formats[i][0], &save_error, NULL))
        fuzz_write_seed (outdir, "image", formats[i][1], buffer, length);
      else
        g_printerr ("no %s seed: %s\n", formats[i][0], save_error->message);
    }
  fuzz_write_seed (outdir, "image", "tiny.gif", tiny_gif, sizeof tiny_gif);
}

int
main (int   argc,
      char *argv[])
{
  if (argc != 2)
    {
      g_printerr ("usage: %s OUTDIR\n", argv[0]);
      return 2;
    }
  ib_studio_init ();
  write_project (argv[1], "steps.ibproj", TRUE);
  write_project (argv[1], "plain.ibproj", FALSE);
  write_pictures (argv[1]);
  return 0;
}
