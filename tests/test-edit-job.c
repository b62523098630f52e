/* test-edit-job.c: whole edits on small random models: the pixels outside the mask, the known tokens at every
 * level, reproducibility, the empty and the full mask, cancellation, the order of events on the caller's
 * main context, variants, chain repeats, conditioning, recipes, resuming from a level and bad inputs. */
#include <math.h>
#include <string.h>

#include <glib.h>

#include "ib-alloc.h"
#include "ib-edit-job.h"
#include "ib-edit-recipe.h"
#include "ib-error.h"
#include "ib-model-file.h"
#include "ib-sampler.h"
#include "ib-test-model.h"
#include "ib-transformer.h"
#include "ib-vqgan.h"

typedef struct
{
  GBytes *bytes;
  IbModelFile *file;
} Model;

static void
model_free (Model *model)
{
  ib_model_file_free (model->file);
  g_bytes_unref (model->bytes);
  g_free (model);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Model, model_free)

static Model *
model_from_json (const char *json,
                 guint32     seed)
{
  Model *model = g_new0 (Model, 1);
  g_autoptr (GError) error = NULL;
  model->bytes = ib_test_model_build_from_config (json, IB_DTYPE_F32, seed);
  model->file = ib_model_file_new_from_bytes (model->bytes, "test model", &error);
  g_assert_no_error (error);
  return model;
}

static Model *
model_new (int      n_levels,
           gboolean gpt_top)
{
  IbTestModelSpec spec;
  ib_test_model_spec_init (&spec);
  spec.n_levels = n_levels;
  spec.gpt_top = gpt_top;
  g_autofree char *json = ib_test_model_config_json (&spec);
  return model_from_json (json, 3);
}

typedef struct
{
  int width;
  int height;
  guint8 *rgba;
  guint8 *mask;
} Picture;

static void
picture_free (Picture *picture)
{
  g_free (picture->rgba);
  g_free (picture->mask);
  g_free (picture);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Picture, picture_free)

/* Smooth colours with some noise, varying alpha; an empty mask. */
static Picture *
picture_new (int     width,
             int     height,
             guint32 seed)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);
  Picture *picture = g_new0 (Picture, 1);
  picture->width = width;
  picture->height = height;
  picture->rgba = g_new (guint8, (gsize) width * height * 4);
  picture->mask = g_new0 (guint8, (gsize) width * height);
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      {
        guint8 *p = picture->rgba + ((gsize) y * width + x) * 4;
        p[0] = (guint8) CLAMP (128 + 100 * sin (x * 0.3) + g_rand_int_range (rand, -20, 20), 0, 255);
        p[1] = (guint8) CLAMP (128 + 100 * cos (y * 0.2) + g_rand_int_range (rand, -20, 20), 0, 255);
        p[2] = (guint8) g_rand_int_range (rand, 0, 256);
        p[3] = (guint8) g_rand_int_range (rand, 200, 256);
      }
  return picture;
}

static void
mask_rect (Picture *picture,
           int      x,
           int      y,
           int      width,
           int      height,
           guint8   value)
{
  for (int j = y; j < y + height; j++)
    memset (picture->mask + (gsize) j * picture->width + x, value, width);
}

static void
request_init (IbEditRequest *request,
              Model         *model,
              Picture       *picture)
{
  ib_edit_request_init (request, ib_model_file_get_config (model->file));
  request->image = picture->rgba;
  request->width = picture->width;
  request->height = picture->height;
  request->stride = picture->width * 4;
  request->mask = picture->mask;
  request->mask_width = picture->width;
  request->mask_height = picture->height;
  request->mask_stride = picture->width;
}

/* Events, recorded */

typedef struct
{
  IbEditEventKind kind;
  int level;
  int variant;
  int pass;
  int n_passes;
  int n_done;
  int n_total;
  int n_variants;
  gboolean has_previews;
  IbEditImage **previews;
  int32_t **tokens;
  int n_tokens;
} Recorded;

typedef struct
{
  GArray *events;               /* Recorded */
  GCancellable *cancellable;
  int cancel_at_level;          /* cancel at the second token of this level (0: never) */
  gulong slow_receiver_us;      /* sleep this long in each progress event */
  gboolean destroyed;
  gboolean done_callback;
  GMainLoop *loop;
  IbEditResult *result;
  GError *error;
  GThread *main_thread;
} Recorder;

static void
recorded_clear (gpointer data)
{
  Recorded *r = data;
  for (int v = 0; v < r->n_variants; v++)
    {
      if (r->previews != NULL)
        ib_edit_image_unref (r->previews[v]);
      if (r->tokens != NULL)
        g_free (r->tokens[v]);
    }
  g_free (r->previews);
  g_free (r->tokens);
}

static void
recorder_init (Recorder *recorder)
{
  memset (recorder, 0, sizeof *recorder);
  recorder->events = g_array_new (FALSE, TRUE, sizeof (Recorded));
  g_array_set_clear_func (recorder->events, recorded_clear);
  recorder->cancellable = g_cancellable_new ();
  recorder->main_thread = g_thread_self ();
}

static void
recorder_clear (Recorder *recorder)
{
  g_array_unref (recorder->events);
  g_clear_object (&recorder->cancellable);
  g_clear_pointer (&recorder->loop, g_main_loop_unref);
  g_clear_pointer (&recorder->result, ib_edit_result_unref);
  g_clear_error (&recorder->error);
}

static void
record_cb (IbEditJob         *job,
           const IbEditEvent *event,
           gpointer           user_data)
{
  Recorder *recorder = user_data;
  Recorded r = {
    .kind = event->kind, .level = event->level, .variant = event->variant, .pass = event->pass,
    .n_passes = event->n_passes, .n_done = event->n_done, .n_total = event->n_total,
    .n_variants = event->n_variants, .has_previews = event->previews != NULL, .n_tokens = event->n_tokens,
  };
  /* Always on the thread that started the run. */
  g_assert_true (g_thread_self () == recorder->main_thread);
  g_assert_true (IB_IS_EDIT_JOB (job));
  if (event->previews != NULL)
    {
      r.previews = g_new (IbEditImage *, event->n_variants);
      for (int v = 0; v < event->n_variants; v++)
        r.previews[v] = ib_edit_image_ref (event->previews[v]);
    }
  if (event->tokens != NULL)
    {
      r.tokens = g_new (int32_t *, event->n_variants);
      for (int v = 0; v < event->n_variants; v++)
        r.tokens[v] = g_memdup2 (event->tokens[v], event->n_tokens * sizeof (int32_t));
    }
  g_array_append_val (recorder->events, r);
  /* >= 2: on a worker thread progress may be coalesced past 2. */
  if (event->kind == IB_EDIT_EVENT_PROGRESS && event->level == recorder->cancel_at_level && event->n_done >= 2 &&
      !g_cancellable_is_cancelled (recorder->cancellable))
    g_cancellable_cancel (recorder->cancellable);
  if (event->kind == IB_EDIT_EVENT_PROGRESS && recorder->slow_receiver_us > 0)
    g_usleep (recorder->slow_receiver_us);
}

static void
destroy_cb (gpointer user_data)
{
  Recorder *recorder = user_data;
  g_assert_false (recorder->destroyed);
  recorder->destroyed = TRUE;
}

static void
finished_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  Recorder *recorder = user_data;
  recorder->done_callback = TRUE;
  /* The last event and the destroy notify came first. */
  g_assert_true (recorder->destroyed);
  g_assert_cmpuint (recorder->events->len, >, 0);
  recorder->result = ib_edit_job_run_finish (IB_EDIT_JOB (source), result, &recorder->error);
  g_main_loop_quit (recorder->loop);
}

static IbEditResult *
run_async (IbEditJob *job,
           Recorder  *recorder,
           GError   **error)
{
  recorder->loop = g_main_loop_new (NULL, FALSE);
  ib_edit_job_run_async (job, record_cb, recorder, destroy_cb, recorder->cancellable, finished_cb, recorder);
  g_main_loop_run (recorder->loop);
  g_assert_true (recorder->done_callback);
  if (recorder->error != NULL)
    g_propagate_error (error, g_steal_pointer (&recorder->error));
  return recorder->result ? ib_edit_result_ref (recorder->result) : NULL;
}

static IbEditResult *
run_sync (Model         *model,
          IbEditRequest *request)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (IbEditJob) job = ib_edit_job_new (model->file, request, &error);
  g_assert_no_error (error);
  IbEditResult *result = ib_edit_job_run (job, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (result);
  return result;
}

/* Every pixel where the mask is 0 is the input's, bit for bit; the alpha channel everywhere. Returns how many
 * masked pixels changed. */
static int
check_outside (const Picture     *picture,
               const IbEditImage *image)
{
  int changed = 0;
  g_assert_cmpint (image->width, ==, picture->width);
  g_assert_cmpint (image->height, ==, picture->height);
  for (gsize p = 0; p < (gsize) picture->width * picture->height; p++)
    {
      const guint8 *in = picture->rgba + p * 4, *out = image->pixels + p * 4;
      if (picture->mask[p] == 0)
        g_assert_cmpmem (in, 4, out, 4);
      else
        changed += memcmp (in, out, 3) != 0;
      g_assert_cmpint (in[3], ==, out[3]);
    }
  return changed;
}

static void
test_outside_bit_identical (void)
{
  g_autoptr (Model) model = model_new (2, FALSE);
  static const struct { int w, h; int x, y, mw, mh; } cases[] = {
    { 16, 16, 5, 5, 4, 6 },         /* native */
    { 37, 23, 0, 10, 9, 13 },       /* odd, larger, touching the left and bottom border */
    { 9, 7, 1, 1, 3, 2 },           /* smaller than native: padded */
    { 100, 60, 30, 5, 50, 40 },     /* scaled down */
    { 64, 20, 60, 0, 4, 20 },       /* a stripe on the right border, top to bottom */
    { 5, 40, 0, 0, 5, 40 },         /* everything of a thin image */
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (Picture) picture = picture_new (cases[i].w, cases[i].h, 100 + i);
      mask_rect (picture, cases[i].x, cases[i].y, cases[i].mw, cases[i].mh, 255);
      /* Soft and ragged edges too. */
      picture->mask[cases[i].y * cases[i].w + cases[i].x] = 77;
      IbEditRequest request;
      request_init (&request, model, picture);
      request.settings.seed = 9 + i;
      request.settings.feather = i % 2 ? 2.0 : 0.0;
      g_autoptr (IbEditResult) result = run_sync (model, &request);
      g_assert_cmpint (result->n_variants, ==, 1);
      g_assert_cmpint (check_outside (picture, result->images[0]), >, 0);
      g_assert_cmpint (result->n_unknown, >, 0);
    }
}

static void
check_known_tokens (const Recorder     *recorder,
                    const IbEditResult *result)
{
  int n_levels_seen = 0;
  for (guint e = 0; e < recorder->events->len; e++)
    {
      const Recorded *r = &g_array_index (recorder->events, Recorded, e);
      if (r->kind != IB_EDIT_EVENT_LEVEL_FINISHED)
        continue;
      n_levels_seen++;
      g_assert_nonnull (r->tokens);
      g_assert_cmpint (r->n_tokens, ==, result->n_tokens);
      for (int v = 0; v < r->n_variants; v++)
        for (int i = 0; i < r->n_tokens; i++)
          if (!result->unknown[i])
            g_assert_cmpint (r->tokens[v][i], ==, result->encoded[i]);
    }
  g_assert_cmpint (n_levels_seen, >, 0);
  for (int v = 0; v < result->n_variants; v++)
    for (int i = 0; i < result->n_tokens; i++)
      if (!result->unknown[i])
        g_assert_cmpint (result->tokens[v][i], ==, result->encoded[i]);
}

static void
test_known_tokens_unchanged (void)
{
  for (int gpt = 0; gpt <= 1; gpt++)
    {
      g_autoptr (Model) model = model_new (3, gpt);
      g_autoptr (Picture) picture = picture_new (40, 30, 7);
      mask_rect (picture, 12, 9, 10, 8, 255);
      IbEditRequest request;
      request_init (&request, model, picture);
      request.settings.n_variants = 2;
      request.settings.repeats[1] = 3;
      g_autoptr (GError) error = NULL;
      g_autoptr (IbEditJob) job = ib_edit_job_new (model->file, &request, &error);
      g_assert_no_error (error);
      Recorder recorder;
      recorder_init (&recorder);
      g_autoptr (IbEditResult) result = ib_edit_job_run (job, record_cb, &recorder, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpint (result->n_unknown, >, 0);
      g_assert_cmpint (result->n_unknown, <, result->n_tokens);
      check_known_tokens (&recorder, result);
      /* The levels' work buffers, kept from one level to the next, went back when the job ended. */
      g_assert_cmpuint (ib_work_kept_bytes (), ==, 0);
      recorder_clear (&recorder);
    }
}

static void
test_reproducible (void)
{
  g_autoptr (Model) model = model_new (2, FALSE);
  g_autoptr (Picture) picture = picture_new (30, 21, 8);
  mask_rect (picture, 3, 4, 9, 9, 255);
  IbEditRequest request;
  request_init (&request, model, picture);
  request.settings.seed = 1234;
  request.settings.n_variants = 2;
  g_autoptr (IbEditResult) a = run_sync (model, &request);
  g_autoptr (IbEditResult) b = run_sync (model, &request);
  request.settings.seed = 1235;
  g_autoptr (IbEditResult) c = run_sync (model, &request);
  gsize bytes = (gsize) picture->width * picture->height * 4;
  for (int v = 0; v < 2; v++)
    {
      g_assert_cmpmem (a->images[v]->pixels, bytes, b->images[v]->pixels, bytes);
      g_assert_cmpmem (a->tokens[v], a->n_tokens * sizeof (int32_t), b->tokens[v], b->n_tokens * sizeof (int32_t));
      g_assert_true (memcmp (a->images[v]->pixels, c->images[v]->pixels, bytes) != 0);
    }
  g_assert_cmpstr (a->recipe, ==, b->recipe);
  g_assert_cmpstr (a->recipe, !=, c->recipe);
  /* Variants are different draws. */
  g_assert_true (memcmp (a->images[0]->pixels, a->images[1]->pixels, bytes) != 0);

  /* Variant 0 of several is the single-variant result. */
  request.settings.seed = 1234;
  request.settings.n_variants = 1;
  g_autoptr (IbEditResult) single = run_sync (model, &request);
  g_assert_cmpmem (single->images[0]->pixels, bytes, a->images[0]->pixels, bytes);
}

/* A picture given with its immutable owner is kept by reference: the job outlives the caller's reference (under
 * ASan a reference that was not taken would read freed memory) and gives the same result as from a copy. */
static void
test_shared_picture (void)
{
  g_autoptr (Model) model = model_new (2, FALSE);
  g_autoptr (Picture) picture = picture_new (30, 21, 8);
  mask_rect (picture, 3, 4, 9, 9, 255);
  IbEditRequest request;
  request_init (&request, model, picture);
  request.settings.seed = 77;
  g_autoptr (IbEditResult) copied = run_sync (model, &request);
  gsize bytes = (gsize) picture->width * picture->height * 4;

  IbEditImage *owner = ib_edit_image_new (0, 0, picture->width, picture->height);
  for (int y = 0; y < picture->height; y++)
    memcpy (owner->pixels + (gsize) y * owner->stride, picture->rgba + (gsize) y * picture->width * 4,
            (gsize) picture->width * 4);
  request.image = owner->pixels;
  request.stride = owner->stride;
  request.image_owner = owner;
  g_autoptr (GError) error = NULL;
  g_autoptr (IbEditJob) job = ib_edit_job_new (model->file, &request, &error);
  g_assert_no_error (error);
  ib_edit_image_unref (owner);
  g_autoptr (IbEditResult) shared = ib_edit_job_run (job, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (shared->images[0]->pixels, bytes, copied->images[0]->pixels, bytes);
  g_assert_cmpstr (shared->recipe, ==, copied->recipe);
}

static void
test_empty_mask (void)
{
  g_autoptr (Model) model = model_new (2, FALSE);
  g_autoptr (Picture) picture = picture_new (300, 200, 9);
  IbEditRequest request;
  request_init (&request, model, picture);
  request.settings.n_variants = 2;
  g_autoptr (GError) error = NULL;
  g_autoptr (IbEditJob) job = ib_edit_job_new (model->file, &request, &error);
  Recorder recorder;
  recorder_init (&recorder);
  g_autoptr (IbEditResult) result = ib_edit_job_run (job, record_cb, &recorder, NULL, &error);
  g_assert_no_error (error);
  /* Done and nothing else: no level ran, so no network ran. */
  g_assert_cmpuint (recorder.events->len, ==, 1);
  g_assert_cmpint (g_array_index (recorder.events, Recorded, 0).kind, ==, IB_EDIT_EVENT_DONE);
  g_assert_cmpint (result->window.mask_box.width, ==, 0);
  g_assert_null (result->tokens);
  for (int v = 0; v < 2; v++)
    g_assert_cmpmem (result->images[v]->pixels, 300 * 200 * 4, picture->rgba, 300 * 200 * 4);
  g_assert_nonnull (result->recipe);
  recorder_clear (&recorder);
}

/* A full mask over a native-sized image from level T is an unconditional sample: ib_sample_chain's tokens,
 * decoded. */
static void
test_full_mask_is_sample (void)
{
  for (int gpt = 0; gpt <= 1; gpt++)
    {
      g_autoptr (Model) model = model_new (3, gpt);
      const IbModelConfig *config = ib_model_file_get_config (model->file);
      g_autoptr (Picture) picture = picture_new (16, 16, 10);
      mask_rect (picture, 0, 0, 16, 16, 255);
      IbEditRequest request;
      request_init (&request, model, picture);
      request.settings.seed = 77;
      request.settings.feather = 0;
      g_autoptr (IbEditResult) result = run_sync (model, &request);
      g_assert_cmpint (result->n_unknown, ==, 16);

      int32_t tokens[16];
      g_autoptr (GError) error = NULL;
      g_assert_true (ib_sample_chain (model->file, 77, tokens, NULL, &error));
      g_assert_cmpmem (result->tokens[0], sizeof tokens, tokens, sizeof tokens);

      g_autoptr (IbVqgan) vqgan = ib_vqgan_new (model->file, &error);
      float image[3 * 16 * 16];
      g_assert_true (ib_vqgan_decode (vqgan, tokens, image, NULL, &error));
      g_assert_cmpint (config->resolution, ==, 16);
      for (int p = 0; p < 256; p++)
        for (int c = 0; c < 3; c++)
          {
            double expected = CLAMP ((image[c * 256 + p] + 1.0) * 127.5, 0.0, 255.0);
            g_assert_cmpfloat (fabs (result->images[0]->pixels[p * 4 + c] - expected), <=, 0.5 + 1e-3);
          }
    }
}

/* Cancelled at the second token of level T: nothing after that token, the last event says cancelled, and
 * the job runs again as if it never had been. */
static void
test_cancel_mid_level (void)
{
  g_autoptr (Model) model = model_new (2, FALSE);
  g_autoptr (Picture) picture = picture_new (20, 20, 11);
  mask_rect (picture, 2, 2, 14, 14, 255);
  IbEditRequest request;
  request_init (&request, model, picture);
  g_autoptr (GError) error = NULL;
  g_autoptr (IbEditJob) job = ib_edit_job_new (model->file, &request, &error);
  g_autoptr (IbEditResult) before = ib_edit_job_run (job, NULL, NULL, NULL, &error);
  g_assert_no_error (error);

  Recorder recorder;
  recorder_init (&recorder);
  recorder.cancel_at_level = 2;
  g_autoptr (IbEditResult) result = ib_edit_job_run (job, record_cb, &recorder, recorder.cancellable, &error);
  g_assert_null (result);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  GArray *events = recorder.events;
  const Recorded *last = &g_array_index (events, Recorded, events->len - 1);
  const Recorded *before_last = &g_array_index (events, Recorded, events->len - 2);
  g_assert_cmpint (last->kind, ==, IB_EDIT_EVENT_CANCELLED);
  g_assert_cmpint (before_last->kind, ==, IB_EDIT_EVENT_PROGRESS);
  g_assert_cmpint (before_last->n_done, ==, 2);
  for (guint e = 0; e < events->len; e++)
    g_assert_cmpint (g_array_index (events, Recorded, e).kind, !=, IB_EDIT_EVENT_LEVEL_FINISHED);
  recorder_clear (&recorder);

  g_clear_error (&error);
  g_autoptr (IbEditResult) after = ib_edit_job_run (job, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  gsize bytes = 20 * 20 * 4;
  g_assert_cmpmem (before->images[0]->pixels, bytes, after->images[0]->pixels, bytes);
}

/* On a worker thread, events come to this thread's main context in order: per level started, progress
 * through every masked token of every pass and variant, finished with previews; then done; then the
 * callback. */
static void
test_events_in_order (void)
{
  g_autoptr (Model) model = model_new (3, FALSE);
  g_autoptr (Picture) picture = picture_new (24, 18, 12);
  mask_rect (picture, 5, 3, 8, 7, 255);
  IbEditRequest request;
  request_init (&request, model, picture);
  request.settings.n_variants = 2;
  request.settings.start_level = 2;
  request.settings.repeats[1] = 2;
  g_autoptr (GError) error = NULL;
  g_autoptr (IbEditJob) job = ib_edit_job_new (model->file, &request, &error);
  Recorder recorder;
  recorder_init (&recorder);
  g_autoptr (IbEditResult) result = run_async (job, &recorder, &error);
  g_assert_no_error (error);
  g_assert_nonnull (result);
  g_assert_true (recorder.destroyed);

  GArray *events = recorder.events;
  guint e = 0;
  int m = result->n_unknown;
  g_assert_cmpint (m, >, 0);
  for (int t = 2; t >= 1; t--)
    {
      int n_passes = t == 2 ? 2 : 1;
      const Recorded *r = &g_array_index (events, Recorded, e++);
      g_assert_cmpint (r->kind, ==, IB_EDIT_EVENT_LEVEL_STARTED);
      g_assert_cmpint (r->level, ==, t);
      g_assert_cmpint (r->n_passes, ==, n_passes);
      /* The two variants run in lockstep; progress is coalesced while the receiver is busy: increasing counts
       * per pass, ending at every masked token. */
      for (int pass = 0; pass < n_passes; pass++)
        {
          int last_done = 0;
          do
            {
              r = &g_array_index (events, Recorded, e++);
              g_assert_cmpint (r->kind, ==, IB_EDIT_EVENT_PROGRESS);
              g_assert_cmpint (r->level, ==, t);
              g_assert_cmpint (r->variant, ==, -1);
              g_assert_cmpint (r->n_variants, ==, 2);
              g_assert_cmpint (r->pass, ==, pass);
              g_assert_cmpint (r->n_done, >, last_done);
              g_assert_cmpint (r->n_total, ==, m);
              last_done = r->n_done;
            }
          while (last_done < m);
        }
      r = &g_array_index (events, Recorded, e++);
      g_assert_cmpint (r->kind, ==, IB_EDIT_EVENT_LEVEL_FINISHED);
      g_assert_cmpint (r->level, ==, t);
      g_assert_true (r->has_previews);
      for (int v = 0; v < 2; v++)
        {
          const IbEditImage *preview = r->previews[v];
          const IbBox *box = &result->window.mask_box;
          g_assert_cmpint (preview->x, ==, box->x);
          g_assert_cmpint (preview->y, ==, box->y);
          g_assert_cmpint (preview->width, ==, box->width);
          g_assert_cmpint (preview->height, ==, box->height);
          /* The last level's preview is the result's box. */
          if (t == 1)
            for (int y = 0; y < box->height; y++)
              g_assert_cmpmem (preview->pixels + y * preview->stride, box->width * 4,
                               result->images[v]->pixels + ((box->y + y) * 24 + box->x) * 4, box->width * 4);
        }
    }
  const Recorded *done = &g_array_index (events, Recorded, e++);
  g_assert_cmpint (done->kind, ==, IB_EDIT_EVENT_DONE);
  g_assert_cmpuint (e, ==, events->len);
  check_known_tokens (&recorder, result);
  recorder_clear (&recorder);
}

static void
test_previews_off (void)
{
  g_autoptr (Model) model = model_new (3, FALSE);
  g_autoptr (Picture) picture = picture_new (16, 16, 13);
  mask_rect (picture, 4, 4, 4, 4, 255);
  IbEditRequest request;
  request_init (&request, model, picture);
  request.settings.level_previews = FALSE;
  g_autoptr (GError) error = NULL;
  g_autoptr (IbEditJob) job = ib_edit_job_new (model->file, &request, &error);
  Recorder recorder;
  recorder_init (&recorder);
  g_autoptr (IbEditResult) result = ib_edit_job_run (job, record_cb, &recorder, NULL, &error);
  g_assert_no_error (error);
  int finished = 0;
  for (guint e = 0; e < recorder.events->len; e++)
    {
      const Recorded *r = &g_array_index (recorder.events, Recorded, e);
      if (r->kind == IB_EDIT_EVENT_LEVEL_FINISHED)
        {
          finished++;
          g_assert_cmpint (r->has_previews, ==, r->level == 1);
        }
    }
  g_assert_cmpint (finished, ==, 3);
  recorder_clear (&recorder);
}

static void
test_cancel_async (void)
{
  g_autoptr (Model) model = model_new (2, FALSE);
  g_autoptr (Picture) picture = picture_new (20, 20, 14);
  mask_rect (picture, 0, 0, 20, 20, 255);
  IbEditRequest request;
  request_init (&request, model, picture);
  request.settings.repeats[0] = request.settings.repeats[1] = 20;
  g_autoptr (GError) error = NULL;
  g_autoptr (IbEditJob) job = ib_edit_job_new (model->file, &request, &error);
  Recorder recorder;
  recorder_init (&recorder);
  recorder.cancel_at_level = 2;
  g_autoptr (IbEditResult) result = run_async (job, &recorder, &error);
  g_assert_null (result);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_true (recorder.destroyed);
  GArray *events = recorder.events;
  g_assert_cmpint (g_array_index (events, Recorded, events->len - 1).kind, ==, IB_EDIT_EVENT_CANCELLED);
  for (guint e = 0; e + 1 < events->len; e++)
    g_assert_cmpint (g_array_index (events, Recorded, e).kind, <=, IB_EDIT_EVENT_LEVEL_FINISHED);
  recorder_clear (&recorder);
}

/* Cancelled before it starts: one event, cancelled, and no level. */
static void
test_cancel_before_start (void)
{
  g_autoptr (Model) model = model_new (2, FALSE);
  g_autoptr (Picture) picture = picture_new (16, 16, 15);
  mask_rect (picture, 1, 1, 3, 3, 255);
  IbEditRequest request;
  request_init (&request, model, picture);
  g_autoptr (GError) error = NULL;
  g_autoptr (IbEditJob) job = ib_edit_job_new (model->file, &request, &error);
  Recorder recorder;
  recorder_init (&recorder);
  g_cancellable_cancel (recorder.cancellable);
  g_autoptr (IbEditResult) result = ib_edit_job_run (job, record_cb, &recorder, recorder.cancellable, &error);
  g_assert_null (result);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (recorder.events->len, ==, 1);
  g_assert_cmpint (g_array_index (recorder.events, Recorded, 0).kind, ==, IB_EDIT_EVENT_CANCELLED);
  recorder_clear (&recorder);
}

static void
test_chain_repeats (void)
{
  g_autoptr (Model) model = model_new (2, FALSE);
  g_autoptr (Picture) picture = picture_new (16, 16, 16);
  mask_rect (picture, 2, 6, 12, 5, 255);
  IbEditRequest request;
  request_init (&request, model, picture);
  request.settings.seed = 5;
  g_autoptr (IbEditResult) once = run_sync (model, &request);
  request.settings.repeats[1] = 4;
  request.settings.repeats[0] = 2;
  g_autoptr (IbEditResult) repeated = run_sync (model, &request);
  g_autoptr (IbEditResult) again = run_sync (model, &request);
  g_assert_true (memcmp (once->tokens[0], repeated->tokens[0], 16 * sizeof (int32_t)) != 0);
  g_assert_cmpmem (repeated->tokens[0], 16 * sizeof (int32_t), again->tokens[0], 16 * sizeof (int32_t));
  for (int i = 0; i < 16; i++)
    if (!repeated->unknown[i])
      g_assert_cmpint (repeated->tokens[0][i], ==, repeated->encoded[i]);
}

/* Lower start levels keep more of the original tokens (strength). */
static void
test_start_level (void)
{
  g_autoptr (Model) model = model_new (4, FALSE);
  g_autoptr (Picture) picture = picture_new (16, 16, 17);
  mask_rect (picture, 0, 0, 16, 16, 255);
  IbEditRequest request;
  request_init (&request, model, picture);
  request.settings.start_level = 1;
  request.settings.top_k[0] = 1;            /* greedy: the model's own choice, no chance */
  Recorder recorder;
  recorder_init (&recorder);
  g_autoptr (GError) error = NULL;
  g_autoptr (IbEditJob) job = ib_edit_job_new (model->file, &request, &error);
  g_autoptr (IbEditResult) result = ib_edit_job_run (job, record_cb, &recorder, NULL, &error);
  g_assert_no_error (error);
  int n_levels = 0;
  for (guint e = 0; e < recorder.events->len; e++)
    n_levels += g_array_index (recorder.events, Recorded, e).kind == IB_EDIT_EVENT_LEVEL_STARTED;
  g_assert_cmpint (n_levels, ==, 1);
  recorder_clear (&recorder);
}

static void
test_class_conditional (void)
{
  IbTestModelSpec spec;
  ib_test_model_spec_init (&spec);
  g_autofree char *json = ib_test_model_config_json (&spec);
  g_autoptr (GString) conditional = g_string_new (json);
  g_string_replace (conditional, "{\"kind\": \"none\"}", "{\"kind\": \"class\", \"labels\": [\"a\", \"b\", \"c\"]}", 0);
  g_string_replace (conditional, "\"enc_max_seq_len\": 17", "\"enc_max_seq_len\": 18", 0);
  g_autoptr (Model) model = model_from_json (conditional->str, 4);
  g_autoptr (Picture) picture = picture_new (16, 16, 18);
  mask_rect (picture, 0, 0, 16, 16, 255);
  IbEditRequest request;
  request_init (&request, model, picture);
  g_assert_cmpint (request.conditioning.kind, ==, IB_CONDITIONING_CLASS);

  g_autoptr (GError) error = NULL;
  request.conditioning.class_id = 3;
  g_assert_null (ib_edit_job_new (model->file, &request, &error));
  g_assert_error (error, IB_ERROR, IB_ERROR_ARGUMENT);
  g_clear_error (&error);
  request.conditioning.kind = IB_CONDITIONING_NONE;
  g_assert_null (ib_edit_job_new (model->file, &request, &error));
  g_assert_error (error, IB_ERROR, IB_ERROR_ARGUMENT);
  g_clear_error (&error);

  /* The class is the prefix token after the scale token: the same chain run by hand. */
  request.conditioning.kind = IB_CONDITIONING_CLASS;
  request.settings.seed = 21;
  for (int class_id = 0; class_id < 3; class_id += 2)
    {
      request.conditioning.class_id = class_id;
      g_autoptr (IbEditResult) result = run_sync (model, &request);
      int32_t tokens[16], next[16], prefix = class_id;
      IbRngStream noise = { .seed = 21, .level = 3 };
      for (int i = 0; i < 16; i++)
        tokens[i] = (int32_t) ib_rng_below (&noise, i, 0, 10);
      for (int t = 2; t >= 1; t--)
        {
          g_autoptr (IbStage) stage = ib_stage_new (model->file, t, &error);
          IbLevelSampling sampling = { .top_k = request.settings.top_k[t - 1],
                                       .temperature = request.settings.temperature[t - 1] };
          IbRngStream stream = { .seed = 21, .level = t };
          g_assert_true (ib_sample_level (stage, &prefix, 1, tokens, 16, &sampling, &stream, NULL, NULL, next, NULL,
                                          &error));
          memcpy (tokens, next, sizeof tokens);
        }
      g_assert_cmpmem (result->tokens[0], sizeof tokens, tokens, sizeof tokens);
      if (class_id == 2)
        g_assert_nonnull (strstr (result->recipe, "\"class\":2"));
    }
}

/* A text-conditional model with a default guidance: the guidance changes the edit, is recorded in the
 * recipe and replayed from it; an empty prompt is not guided; bad guidance is refused. */
static void
test_text_guidance (void)
{
  IbTestModelSpec spec;
  ib_test_model_spec_init (&spec);
  spec.n_prefix = 2;
  g_autofree char *json = ib_test_model_config_json (&spec);
  g_autoptr (GString) text = g_string_new (json);
  g_assert_cmpuint (g_string_replace (text, "{\"kind\": \"none\"}",
                                      "{\"kind\": \"text\", \"token_offset\": 4, \"guidance\": 2.5, \"tokenizer\": "
                                      "{\"vocab\": [\"<pad>\", \"<unk>\", \"cat\", \"dog\"], \"length\": 2}}", 0), ==, 1);
  g_autoptr (Model) model = model_from_json (text->str, 5);
  const IbModelConfig *config = ib_model_file_get_config (model->file);
  g_autoptr (Picture) picture = picture_new (16, 16, 23);
  mask_rect (picture, 4, 0, 12, 16, 255);
  IbEditRequest request;
  request_init (&request, model, picture);
  g_assert_cmpfloat (request.settings.guidance, ==, 2.5f);
  request.conditioning.n_text_tokens = 2;
  request.conditioning.text_tokens[0] = 2;
  request.conditioning.text_tokens[1] = 3;
  request.settings.seed = 77;
  request.settings.n_variants = 2;
  request.settings.top_k[0] = request.settings.top_k[1] = 0;
  /* The random model's prompt moves its logits by a few hundredths: the strongest guidance shows. */
  request.settings.guidance = (float) IB_MAX_GUIDANCE;

  g_autoptr (IbEditResult) guided = run_sync (model, &request);
  g_assert_nonnull (strstr (guided->recipe, "\"guidance\":20"));
  request.settings.guidance = 1.0f;
  g_autoptr (IbEditResult) plain = run_sync (model, &request);
  int differences = 0;
  for (int v = 0; v < 2; v++)
    for (int i = 0; i < guided->n_tokens; i++)
      differences += guided->tokens[v][i] != plain->tokens[v][i];
  g_assert_cmpint (differences, >, 0);

  /* The recipe brings the guidance back, and with it the same tokens. */
  IbEditRequest replay;
  request_init (&replay, model, picture);
  replay.settings.guidance = 1.0f;
  IbEditRecipeHashes hashes;
  g_autoptr (GError) error = NULL;
  g_assert_true (ib_edit_recipe_parse (guided->recipe, -1, config, &replay.conditioning, &replay.settings, &hashes,
                                       &error));
  g_assert_no_error (error);
  ib_edit_recipe_hashes_clear (&hashes);
  g_assert_cmpfloat (replay.settings.guidance, ==, (float) IB_MAX_GUIDANCE);
  g_autoptr (IbEditResult) replayed = run_sync (model, &replay);
  for (int v = 0; v < 2; v++)
    g_assert_cmpmem (replayed->tokens[v], guided->n_tokens * sizeof (int32_t), guided->tokens[v],
                     guided->n_tokens * sizeof (int32_t));

  /* The empty prompt is its own null: guidance leaves it as it is. */
  request.conditioning.text_tokens[0] = request.conditioning.text_tokens[1] = 0;
  g_autoptr (IbEditResult) empty_plain = run_sync (model, &request);
  request.settings.guidance = 4.0f;
  g_autoptr (IbEditResult) empty_guided = run_sync (model, &request);
  g_assert_cmpmem (empty_plain->tokens[0], guided->n_tokens * sizeof (int32_t), empty_guided->tokens[0],
                   guided->n_tokens * sizeof (int32_t));

  float bad[] = { 0.5f, 0.0f, -2.0f, (float) IB_MAX_GUIDANCE + 1.0f, NAN, INFINITY };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      request.settings.guidance = bad[i];
      g_assert_null (ib_edit_job_new (model->file, &request, &error));
      g_assert_error (error, IB_ERROR, IB_ERROR_ARGUMENT);
      g_clear_error (&error);
    }

  /* A model without a prompt has nothing to guide by. */
  g_autoptr (Model) unconditional = model_new (2, FALSE);
  IbEditRequest other;
  request_init (&other, unconditional, picture);
  g_assert_cmpfloat (other.settings.guidance, ==, 1.0f);
  other.settings.guidance = 2.0f;
  g_assert_null (ib_edit_job_new (unconditional->file, &other, &error));
  g_assert_error (error, IB_ERROR, IB_ERROR_ARGUMENT);
}

/* A recipe read back makes the same pixels. */
static void
test_recipe_replays (void)
{
  g_autoptr (Model) model = model_new (3, TRUE);
  const IbModelConfig *config = ib_model_file_get_config (model->file);
  g_autoptr (Picture) picture = picture_new (50, 33, 19);
  mask_rect (picture, 20, 10, 15, 12, 255);
  IbEditRequest request;
  request_init (&request, model, picture);
  request.settings.seed = 987654321987654321u;
  request.settings.n_variants = 2;
  request.settings.feather = 3.5;
  request.settings.temperature[2] = 0.8f;
  request.settings.top_k[1] = 3;
  request.settings.repeats[1] = 2;
  request.settings.start_level = 3;
  g_autoptr (IbEditResult) original = run_sync (model, &request);

  IbEditRequest replay;
  request_init (&replay, model, picture);
  IbEditRecipeHashes hashes;
  g_autoptr (GError) error = NULL;
  g_assert_true (ib_edit_recipe_parse (original->recipe, -1, config, &replay.conditioning, &replay.settings,
                                       &hashes, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (hashes.model_sha256, ==, ib_model_file_get_sha256 (model->file));
  g_autofree char *image_hash = ib_edit_hash_pixels (picture->rgba, 50, 33, 200, 4);
  g_autofree char *mask_hash = ib_edit_hash_pixels (picture->mask, 50, 33, 50, 1);
  g_assert_cmpstr (hashes.image_sha256, ==, image_hash);
  g_assert_cmpstr (hashes.mask_sha256, ==, mask_hash);
  ib_edit_recipe_hashes_clear (&hashes);

  g_autoptr (IbEditResult) replayed = run_sync (model, &replay);
  for (int v = 0; v < 2; v++)
    g_assert_cmpmem (original->images[v]->pixels, 50 * 33 * 4, replayed->images[v]->pixels, 50 * 33 * 4);
  g_assert_cmpstr (original->recipe, ==, replayed->recipe);
}

/* The tokens of a recorded LEVEL_FINISHED event of this level (x_{t-1}, per variant). */
static const Recorded *
finished_level (const Recorder *recorder,
                int             level)
{
  for (guint e = 0; e < recorder->events->len; e++)
    {
      const Recorded *r = &g_array_index (recorder->events, Recorded, e);
      if (r->kind == IB_EDIT_EVENT_LEVEL_FINISHED && r->level == level)
        return r;
    }
  g_assert_not_reached ();
}

/* Resuming at level t from x_t of an earlier run: the same seed makes the same finer levels, another seed
 * redraws only unknown tokens; only levels t .. 1 run; the recipe records it; foreign tokens are refused. */
static void
test_resume (void)
{
  g_autoptr (Model) model = model_new (3, FALSE);
  g_autoptr (Picture) picture = picture_new (24, 20, 22);
  mask_rect (picture, 6, 4, 10, 9, 255);
  IbEditRequest request;
  request_init (&request, model, picture);
  request.settings.seed = 77;
  request.settings.n_variants = 2;
  g_autoptr (GError) error = NULL;
  g_autoptr (IbEditJob) job = ib_edit_job_new (model->file, &request, &error);
  g_assert_no_error (error);
  Recorder original;
  recorder_init (&original);
  g_autoptr (IbEditResult) first = ib_edit_job_run (job, record_cb, &original, NULL, &error);
  g_assert_no_error (error);
  int n_tokens = first->n_tokens;

  /* x_2 per variant, from level 3's end. */
  const Recorded *level3 = finished_level (&original, 3);
  g_autofree int32_t *x2 = g_new (int32_t, 2 * n_tokens);
  for (int v = 0; v < 2; v++)
    memcpy (x2 + v * n_tokens, level3->tokens[v], n_tokens * sizeof (int32_t));
  request.resume_tokens = x2;
  request.n_resume_tokens = 2 * n_tokens;
  request.resume_level = 2;
  g_autoptr (IbEditJob) same_job = ib_edit_job_new (model->file, &request, &error);
  g_assert_no_error (error);
  Recorder resumed;
  recorder_init (&resumed);
  g_autoptr (IbEditResult) same = ib_edit_job_run (same_job, record_cb, &resumed, NULL, &error);
  g_assert_no_error (error);
  for (int v = 0; v < 2; v++)
    {
      g_assert_cmpmem (same->tokens[v], n_tokens * sizeof (int32_t), first->tokens[v], n_tokens * sizeof (int32_t));
      g_assert_cmpmem (finished_level (&resumed, 2)->tokens[v], n_tokens * sizeof (int32_t),
                       finished_level (&original, 2)->tokens[v], n_tokens * sizeof (int32_t));
    }
  /* Levels 2 and 1 only, then done. */
  int levels_started = 0;
  for (guint e = 0; e < resumed.events->len; e++)
    {
      const Recorded *r = &g_array_index (resumed.events, Recorded, e);
      if (r->kind == IB_EDIT_EVENT_LEVEL_STARTED)
        g_assert_cmpint (r->level, ==, 2 - levels_started++);
    }
  g_assert_cmpint (levels_started, ==, 2);
  g_assert_cmpint (g_array_index (resumed.events, Recorded, resumed.events->len - 1).kind, ==, IB_EDIT_EVENT_DONE);
  g_assert_nonnull (strstr (same->recipe, "\"resume\":{\"level\":2,\"tokens\":["));

  /* Another seed, variant 0's x_2 shared by both variants: only unknown tokens change. */
  request.settings.seed = 78;
  request.n_resume_tokens = n_tokens;
  g_autoptr (IbEditResult) other = run_sync (model, &request);
  int changed = 0;
  for (int v = 0; v < 2; v++)
    for (int i = 0; i < n_tokens; i++)
      {
        if (!other->unknown[i])
          g_assert_cmpint (other->tokens[v][i], ==, first->encoded[i]);
        changed += other->tokens[v][i] != first->tokens[v][i];
      }
  g_assert_cmpint (changed, >, 0);
  check_outside (picture, other->images[0]);

  /* Bad requests, and tokens whose known part is not this window's. */
  for (int i = 0; i < 4; i++)
    {
      IbEditRequest bad = request;
      int32_t saved = x2[0];
      switch (i)
        {
        case 0: bad.resume_level = 0; break;
        case 1: bad.resume_level = 4; break;
        case 2: bad.n_resume_tokens = n_tokens + 1; break;
        case 3: x2[0] = ib_model_file_get_config (model->file)->n_codes; break;
        default: g_assert_not_reached ();
        }
      g_autoptr (IbEditJob) refused = ib_edit_job_new (model->file, &bad, &error);
      g_assert_null (refused);
      g_assert_error (error, IB_ERROR, IB_ERROR_ARGUMENT);
      g_clear_error (&error);
      x2[0] = saved;
    }
  int known = 0;
  while (first->unknown[known])
    known++;
  x2[known] = (x2[known] + 1) % ib_model_file_get_config (model->file)->n_codes;
  g_autoptr (IbEditJob) foreign = ib_edit_job_new (model->file, &request, &error);
  g_assert_no_error (error);
  g_autoptr (IbEditResult) none = ib_edit_job_run (foreign, NULL, NULL, NULL, &error);
  g_assert_null (none);
  g_assert_error (error, IB_ERROR, IB_ERROR_ARGUMENT);

  /* The same failure on a worker thread: FAILED comes last, then the callback with the error. */
  g_clear_error (&error);
  Recorder failing;
  recorder_init (&failing);
  g_autoptr (IbEditResult) none_async = run_async (foreign, &failing, &error);
  g_assert_null (none_async);
  g_assert_error (error, IB_ERROR, IB_ERROR_ARGUMENT);
  g_assert_true (failing.destroyed);
  g_assert_cmpint (g_array_index (failing.events, Recorded, failing.events->len - 1).kind, ==, IB_EDIT_EVENT_FAILED);
  for (guint e = 0; e + 1 < failing.events->len; e++)
    g_assert_cmpint (g_array_index (failing.events, Recorded, e).kind, <=, IB_EDIT_EVENT_LEVEL_FINISHED);
  recorder_clear (&failing);
  recorder_clear (&original);
  recorder_clear (&resumed);
}

/* A receiver slower than the worker gets fewer progress events than tokens, with increasing counts that end at
 * every masked token of each pass, and no event of any other kind is lost. */
static void
test_progress_coalesced (void)
{
  g_autoptr (Model) model = model_new (2, FALSE);
  g_autoptr (Picture) picture = picture_new (20, 20, 15);
  mask_rect (picture, 0, 0, 20, 20, 255);
  IbEditRequest request;
  request_init (&request, model, picture);
  g_autoptr (GError) error = NULL;
  g_autoptr (IbEditJob) job = ib_edit_job_new (model->file, &request, &error);
  Recorder recorder;
  recorder_init (&recorder);
  recorder.slow_receiver_us = 100000;
  g_autoptr (IbEditResult) result = run_async (job, &recorder, &error);
  g_assert_no_error (error);
  int m = result->n_unknown, n_progress = 0, n_finished = 0, last_done = 0;
  for (guint e = 0; e < recorder.events->len; e++)
    {
      const Recorded *r = &g_array_index (recorder.events, Recorded, e);
      if (r->kind == IB_EDIT_EVENT_LEVEL_STARTED)
        last_done = 0;
      else if (r->kind == IB_EDIT_EVENT_PROGRESS)
        {
          g_assert_cmpint (r->n_done, >, last_done);
          last_done = r->n_done;
          n_progress++;
        }
      else if (r->kind == IB_EDIT_EVENT_LEVEL_FINISHED)
        {
          g_assert_cmpint (last_done, ==, m);
          n_finished++;
        }
    }
  g_assert_cmpint (n_finished, ==, 2);
  g_assert_cmpint (n_progress, <, 2 * m);
  g_test_message ("%d progress events for %d tokens", n_progress, 2 * m);
  recorder_clear (&recorder);
}

static void
test_bad_inputs (void)
{
  g_autoptr (Model) model = model_new (2, FALSE);
  g_autoptr (Picture) picture = picture_new (20, 10, 20);
  mask_rect (picture, 1, 1, 3, 3, 255);
  IbEditRequest good;
  request_init (&good, model, picture);

  struct { const char *what; int code; } expected[] = {
    { "no image", IB_ERROR_ARGUMENT },
    { "mask size", IB_ERROR_ARGUMENT },
    { "zero width", IB_ERROR_ARGUMENT },
    { "huge", IB_ERROR_ARGUMENT },
    { "stride", IB_ERROR_ARGUMENT },
    { "mask stride", IB_ERROR_ARGUMENT },
    { "start level 0", IB_ERROR_ARGUMENT },
    { "start level T + 1", IB_ERROR_ARGUMENT },
    { "no variants", IB_ERROR_ARGUMENT },
    { "many variants", IB_ERROR_ARGUMENT },
    { "NaN feather", IB_ERROR_ARGUMENT },
    { "negative feather", IB_ERROR_ARGUMENT },
    { "zero temperature", IB_ERROR_ARGUMENT },
    { "infinite temperature", IB_ERROR_ARGUMENT },
    { "top-k past K", IB_ERROR_ARGUMENT },
    { "negative top-k", IB_ERROR_ARGUMENT },
    { "no passes", IB_ERROR_ARGUMENT },
    { "too many passes", IB_ERROR_ARGUMENT },
    { "class for unconditional", IB_ERROR_ARGUMENT },
    { "device name unterminated", IB_ERROR_ARGUMENT },
    { "conditioning kind outside the enum", IB_ERROR_ARGUMENT },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      IbEditRequest r = good;
      switch (i)
        {
        case 0: r.image = NULL; break;
        case 1: r.mask_width = 19; break;
        case 2: r.width = r.mask_width = 0; break;
        case 3: r.width = r.mask_width = 40000; break;
        case 4: r.stride = 79; break;
        case 5: r.mask_stride = 19; break;
        case 6: r.settings.start_level = 0; break;
        case 7: r.settings.start_level = 3; break;
        case 8: r.settings.n_variants = 0; break;
        case 9: r.settings.n_variants = IB_EDIT_MAX_VARIANTS + 1; break;
        case 10: r.settings.feather = NAN; break;
        case 11: r.settings.feather = -1; break;
        case 12: r.settings.temperature[0] = 0.0f; break;
        case 13: r.settings.temperature[1] = INFINITY; break;
        case 14: r.settings.top_k[0] = 11; break;
        case 15: r.settings.top_k[1] = -1; break;
        case 16: r.settings.repeats[0] = 0; break;
        case 17: r.settings.repeats[1] = 1000; break;
        case 18: r.conditioning.kind = IB_CONDITIONING_CLASS; break;
        case 19: memset (r.settings.device, 'x', sizeof r.settings.device); break;
        case 20: r.conditioning.kind = (IbConditioningKind) 7; break;
        default: g_assert_not_reached ();
        }
      g_autoptr (GError) error = NULL;
      g_autoptr (IbEditJob) job = ib_edit_job_new (model->file, &r, &error);
      g_test_message ("%s: %s", expected[i].what, error ? error->message : "(accepted)");
      g_assert_null (job);
      g_assert_error (error, IB_ERROR, expected[i].code);
    }
  g_autoptr (GError) error = NULL;
  g_autoptr (IbEditJob) job = ib_edit_job_new (model->file, &good, &error);
  g_assert_no_error (error);
  g_assert_nonnull (job);
  /* As asked: AUTO is resolved when the job runs, and the recipe records the engine that ran. */
  g_assert_cmpint (ib_edit_job_get_settings (job)->backend, ==, IB_EDIT_BACKEND_AUTO);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/model/edit/job/outside-bit-identical", test_outside_bit_identical);
  g_test_add_func ("/model/edit/job/known-tokens-unchanged", test_known_tokens_unchanged);
  g_test_add_func ("/model/edit/job/reproducible", test_reproducible);
  g_test_add_func ("/model/edit/job/shared-picture", test_shared_picture);
  g_test_add_func ("/model/edit/job/empty-mask", test_empty_mask);
  g_test_add_func ("/model/edit/job/full-mask-is-sample", test_full_mask_is_sample);
  g_test_add_func ("/model/edit/job/cancel-mid-level", test_cancel_mid_level);
  g_test_add_func ("/model/edit/job/cancel-before-start", test_cancel_before_start);
  g_test_add_func ("/model/edit/job/cancel-async", test_cancel_async);
  g_test_add_func ("/model/edit/job/events-in-order", test_events_in_order);
  g_test_add_func ("/model/edit/job/previews-off", test_previews_off);
  g_test_add_func ("/model/edit/job/chain-repeats", test_chain_repeats);
  g_test_add_func ("/model/edit/job/start-level", test_start_level);
  g_test_add_func ("/model/edit/job/class-conditional", test_class_conditional);
  g_test_add_func ("/model/edit/job/text-guidance", test_text_guidance);
  g_test_add_func ("/model/edit/job/recipe-replays", test_recipe_replays);
  g_test_add_func ("/model/edit/job/bad-inputs", test_bad_inputs);
  g_test_add_func ("/model/edit/job/resume", test_resume);
  g_test_add_func ("/model/edit/job/progress-coalesced", test_progress_coalesced);
  return g_test_run ();
}
