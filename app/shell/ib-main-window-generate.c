/* ib-main-window-generate.c: the window's jobs: win.generate builds the request from the document (picture
 * and mask) and the panel and starts it on the window's IbJobRunner; the newest level shows on the canvas;
 * the level strip and the variant gallery follow the runner; the finished variants wait for
 * win.accept-variant (an undoable step of the document) or win.reject-variant. A finished level can be shown
 * large (the strip's level-activated) or resampled from (resample-from: the same job resumed at that level). A failing model or device leaves the picture and the mask as they were and offers the
 * CPU engine. */
#include "ib-main-window-private.h"
#include "ib-ops.h"

#include <glib/gi18n.h>

#include "ib-engine-setting.h"
#include "ib-vulkan-device.h"

static void
show_variant (IbMainWindow *self,
              IbEditImage  *image)
{
  ib_canvas_set_preview (self->canvas, image);
}

/* A finished variant on the canvas: its last level's patch, which the strip keeps (the same pixels as the
 * whole result where the two differ from the picture, over the mask's box only, so that the canvas makes its
 * texture from a fraction of the pixels; 19 ms of a frame for a 2048 x 2048 picture), else the whole result
 * (a job that ran no level: an empty mask). The strip must show that variant already. */
static void
show_finished_variant (IbMainWindow *self,
                       int           variant)
{
  IbEditImage *patch = ib_level_strip_get_preview (self->strip, 1);

  show_variant (self, patch != NULL ? patch : self->result->images[variant]);
}

/* The last reference to a result frees its variants' pictures, tens of megabytes: on the runner's worker. */
static void
drop_result (IbMainWindow *self)
{
  if (self->runner != NULL)
    ib_job_runner_release (self->runner, g_steal_pointer (&self->result), (GDestroyNotify) ib_edit_result_unref);
  else
    g_clear_pointer (&self->result, ib_edit_result_unref);
}

void
ib_main_window_clear_results (IbMainWindow *self)
{
  drop_result (self);
  self->selected_variant = 0;
  if (self->canvas != NULL)
    ib_canvas_set_preview (self->canvas, NULL);
  if (self->runner == NULL)
    return;                              /* disposing */
  ib_job_runner_set_canvas_variant (self->runner, 0);
  if (!ib_job_runner_get_running (self->runner))
    {
      ib_level_strip_clear (self->strip);
      ib_variant_gallery_set_images (self->gallery, NULL, FALSE);
      /* The strip always shows, as tall with its placeholder as with its cells: a canvas that changed size
       * (and fitted zoom) during a job repainted whole in the middle of a level. The gallery in the side pane
       * moves nothing. */
      gtk_widget_set_visible (GTK_WIDGET (self->gallery), FALSE);
    }
  ib_main_window_update_actions (self);
}

/* Runner signals */

static void
started_cb (IbJobRunner  *runner,
            int           start_level,
            int           top_level,
            IbMainWindow *self)
{
  gtk_widget_set_visible (GTK_WIDGET (self->gallery), TRUE);
}

static void
level_finished_cb (IbJobRunner  *runner,
                   int           level,
                   GPtrArray    *previews,
                   IbMainWindow *self)
{
  if (previews->len == 0)
    return;
  guint variant = MIN ((guint) self->selected_variant, previews->len - 1), drawn_level = 0;
  /* With the level the canvas draws made by the runner's worker. */
  cairo_surface_t *surface = ib_job_runner_get_canvas_surface (runner, variant, &drawn_level);
  ib_canvas_set_preview_with_level (self->canvas, g_ptr_array_index (previews, variant), drawn_level, surface);
}

static void
canvas_zoom_cb (IbMainWindow *self)
{
  ib_job_runner_set_canvas_level (self->runner, (int) ib_canvas_get_drawn_level (self->canvas));
}

static void
done_cb (IbJobRunner  *runner,
         IbEditResult *result,
         IbMainWindow *self)
{
  drop_result (self);
  self->result = ib_edit_result_ref (result);
  self->selected_variant = MIN (self->selected_variant, result->n_variants - 1);
  ib_level_strip_set_variant (self->strip, self->selected_variant);
  show_finished_variant (self, self->selected_variant);
  ib_main_window_update_actions (self);
}

static void
cancelled_cb (IbJobRunner  *runner,
              IbMainWindow *self)
{
  ib_main_window_clear_results (self);
  ib_main_window_add_toast (self, _("Generation cancelled"));
}

static void generate (IbMainWindow *self);

static void
failed_response_cb (AdwMessageDialog *dialog,
                    const char       *response,
                    IbMainWindow     *self)
{
  GSettings *settings = ib_application_get_settings (self->application);

  if (g_strcmp0 (response, "cpu") != 0)
    return;
  if (settings != NULL)
    g_settings_set_string (settings, "engine", "cpu");
  self->retry_on_cpu = TRUE;
  generate (self);
}

static void
failed_cb (IbJobRunner  *runner,
           const GError *error,
           IbMainWindow *self)
{
  GtkWidget *dialog;

  ib_main_window_clear_results (self);
  dialog = adw_message_dialog_new (GTK_WINDOW (self), _("Generation Failed"), error->message);
  adw_message_dialog_add_response (ADW_MESSAGE_DIALOG (dialog), "close", _("_Close"));
  /* The GPU (or its driver) failed: the CPU engine always works, only slower. */
  if (!self->retry_on_cpu)
    {
      adw_message_dialog_format_body (ADW_MESSAGE_DIALOG (dialog), "%s\n\n%s", error->message,
                                      _("The picture and the mask are unchanged. The CPU engine is slower "
                                        "but works on every computer."));
      adw_message_dialog_add_response (ADW_MESSAGE_DIALOG (dialog), "cpu", _("Use the _CPU Engine"));
      adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "cpu", ADW_RESPONSE_SUGGESTED);
      adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "cpu");
    }
  g_signal_connect_object (dialog, "response", G_CALLBACK (failed_response_cb), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

/* The level strip and the gallery */

static void
level_activated_cb (IbLevelStrip *strip,
                    int           level,
                    IbMainWindow *self)
{
  IbEditImage *preview = ib_level_strip_get_preview (strip, level);

  if (preview != NULL)
    show_variant (self, preview);
}

static gboolean fill_request (IbMainWindow  *self,
                              IbEditRequest *request);
static void start (IbMainWindow        *self,
                   const IbEditRequest *request);

static void
resample_from_cb (IbLevelStrip *strip,
                  int           level,
                  IbMainWindow *self)
{
  IbEditRequest request;
  g_autoptr(GError) error = NULL;

  if (!fill_request (self, &request))
    return;
  if (!ib_job_runner_fill_resume (self->runner, level, self->selected_variant, &request, &error))
    {
      ib_main_window_show_error (self, _("Nothing Was Generated"), error->message);
      return;
    }
  start (self, &request);
}

static void
gallery_selected_cb (IbVariantGallery *gallery,
                     int               variant,
                     IbMainWindow     *self)
{
  if (variant < 0)
    return;
  self->selected_variant = variant;
  ib_job_runner_set_canvas_variant (self->runner, variant);
  ib_level_strip_set_variant (self->strip, variant);
  if (self->result != NULL && variant < self->result->n_variants)
    show_finished_variant (self, variant);
}

static void accept_variant (IbMainWindow *self,
                            int           variant);

static void
gallery_accepted_cb (IbVariantGallery *gallery,
                     int               variant,
                     IbMainWindow     *self)
{
  accept_variant (self, variant);
}

static void
gallery_rejected_cb (IbVariantGallery *gallery,
                     int               variant,
                     IbMainWindow     *self)
{
  /* The gallery has moved its selection to the next variant left ("selected"), or has none left. */
  if (ib_variant_gallery_get_selected (gallery) < 0)
    ib_main_window_clear_results (self);
}

/* Actions */

/* The engine preference: the backend and, for a chosen Vulkan device, its selector. */
static void
set_engine (IbMainWindow   *self,
            IbEditSettings *settings)
{
  GSettings *gsettings = ib_application_get_settings (self->application);
  g_autofree char *engine = gsettings != NULL ? g_settings_get_string (gsettings, "engine") : g_strdup ("auto");
  g_autofree char *selector = NULL;

  if (self->retry_on_cpu)
    {
      settings->backend = IB_EDIT_BACKEND_CPU;
      return;
    }
  ib_engine_setting_parse (engine, &settings->backend, &selector);
  g_strlcpy (settings->device, selector != NULL ? selector : "", sizeof settings->device);
}

/* The request for the document's picture and mask with the panel's settings; FALSE (and the user told)
 * when there is nothing to generate. */
static gboolean
fill_request (IbMainWindow  *self,
              IbEditRequest *request)
{
  GSettings *settings = ib_application_get_settings (self->application);
  IbEditImage *picture;
  IbMask *mask;
  g_autoptr(GError) error = NULL;

  if (self->document == NULL || self->model == NULL)
    return FALSE;
  mask = ib_document_get_mask (self->document);
  if (ib_mask_is_empty (mask))
    {
      ib_main_window_add_toast (self, _("Paint over what should change first"));
      return FALSE;
    }
  ib_edit_request_init (request, ib_loaded_model_get_config (self->model));
  if (!ib_generate_panel_fill_request (self->panel, request, &error))
    {
      ib_main_window_show_error (self, _("Nothing Was Generated"), error->message);
      return FALSE;
    }
  picture = ib_document_get_picture (self->document);
  request->image = picture->pixels;
  request->width = picture->width;
  request->height = picture->height;
  request->stride = picture->stride;
  request->image_owner = picture;
  request->mask = ib_mask_get_data (mask, &request->mask_stride);
  request->mask_width = ib_mask_get_width (mask);
  request->mask_height = ib_mask_get_height (mask);
  set_engine (self, &request->settings);
  /* The panel has no feather of its own: the preference's. */
  if (settings != NULL)
    request->settings.feather = g_settings_get_double (settings, "default-feather");
  /* The CPU engine's threads (0: every core); the ops read it at their next product. */
  if (settings != NULL)
    ib_set_num_threads (g_settings_get_int (settings, "threads"));
  return TRUE;
}

static void
start (IbMainWindow        *self,
       const IbEditRequest *request)
{
  g_autoptr(GError) error = NULL;

  /* The running job's previews replace these. */
  drop_result (self);
  ib_canvas_set_preview (self->canvas, NULL);
  if (!ib_job_runner_start (self->runner, ib_loaded_model_get_file (self->model), request, &error))
    {
      ib_main_window_show_error (self, _("Nothing Was Generated"), error->message);
      return;
    }
  /* The runner reads the model file until it lets go of the job: keep that model open. */
  g_set_object (&self->job_model, self->model);
  ib_main_window_update_actions (self);
}

static void
generate (IbMainWindow *self)
{
  IbEditRequest request;

  if (fill_request (self, &request))
    start (self, &request);
}

static void
generate_activated (GSimpleAction *action,
                    GVariant      *parameter,
                    gpointer       user_data)
{
  IbMainWindow *self = user_data;

  self->retry_on_cpu = FALSE;
  generate (self);
}

static void
cancel_activated (GSimpleAction *action,
                  GVariant      *parameter,
                  gpointer       user_data)
{
  IbMainWindow *self = user_data;

  ib_job_runner_cancel (self->runner);
}

static void
accept_variant (IbMainWindow *self,
                int           variant)
{
  g_autoptr(IbEditResult) result = NULL;

  if (self->result == NULL || self->document == NULL || variant < 0 || variant >= self->result->n_variants)
    return;
  result = ib_edit_result_ref (self->result);
  ib_document_apply_result (self->document, result->images[variant], result->recipe);
  if (self->job_model != NULL)
    ib_document_set_model (self->document, ib_loaded_model_get_path (self->job_model),
                           ib_loaded_model_peek_sha256 (self->job_model));
  ib_main_window_clear_results (self);
}

static void
accept_variant_activated (GSimpleAction *action,
                          GVariant      *parameter,
                          gpointer       user_data)
{
  IbMainWindow *self = user_data;

  accept_variant (self, self->selected_variant);
}

static void
reject_variant_activated (GSimpleAction *action,
                          GVariant      *parameter,
                          gpointer       user_data)
{
  IbMainWindow *self = user_data;

  /* The gallery drops the variant and emits "rejected". */
  gtk_widget_activate_action (GTK_WIDGET (self->gallery), "gallery.reject", NULL);
}

static const GActionEntry generate_actions[] = {
  { "generate", generate_activated },
  { "cancel", cancel_activated },
  { "accept-variant", accept_variant_activated },
  { "reject-variant", reject_variant_activated },
};

void
ib_main_window_generate_init (IbMainWindow *self)
{
  self->runner = ib_job_runner_new ();
  g_signal_connect_swapped (self->runner, "notify::running", G_CALLBACK (ib_main_window_update_actions), self);
  g_signal_connect (self->runner, "level-finished", G_CALLBACK (level_finished_cb), self);
  g_signal_connect (self->runner, "done", G_CALLBACK (done_cb), self);
  g_signal_connect (self->runner, "failed", G_CALLBACK (failed_cb), self);
  g_signal_connect (self->runner, "cancelled", G_CALLBACK (cancelled_cb), self);
  g_signal_connect (self->runner, "started", G_CALLBACK (started_cb), self);
  g_signal_connect_object (self->canvas, "notify::zoom", G_CALLBACK (canvas_zoom_cb), self, G_CONNECT_SWAPPED);
  canvas_zoom_cb (self);
  g_action_map_add_action_entries (G_ACTION_MAP (self), generate_actions, G_N_ELEMENTS (generate_actions), self);

  self->strip = IB_LEVEL_STRIP (ib_level_strip_new ());
  gtk_widget_set_hexpand (GTK_WIDGET (self->strip), TRUE);
  ib_level_strip_set_runner (self->strip, self->runner);
  g_signal_connect (self->strip, "level-activated", G_CALLBACK (level_activated_cb), self);
  g_signal_connect (self->strip, "resample-from", G_CALLBACK (resample_from_cb), self);
  gtk_box_append (self->results_slot, GTK_WIDGET (self->strip));
  /* The variants in the side pane, under the settings that made them; the strip under the canvas. */
  self->gallery = IB_VARIANT_GALLERY (ib_variant_gallery_new ());
  gtk_widget_set_margin_top (GTK_WIDGET (self->gallery), 12);
  gtk_widget_set_visible (GTK_WIDGET (self->gallery), FALSE);
  ib_variant_gallery_set_runner (self->gallery, self->runner);
  g_signal_connect (self->gallery, "selected", G_CALLBACK (gallery_selected_cb), self);
  g_signal_connect (self->gallery, "accepted", G_CALLBACK (gallery_accepted_cb), self);
  g_signal_connect (self->gallery, "rejected", G_CALLBACK (gallery_rejected_cb), self);
  gtk_box_append (self->panel_slot, GTK_WIDGET (self->gallery));
}

void
ib_main_window_generate_dispose (IbMainWindow *self)
{
  g_clear_pointer (&self->result, ib_edit_result_unref);
  if (self->strip != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->strip, self);
      g_signal_handlers_disconnect_by_data (self->gallery, self);
      ib_level_strip_set_runner (self->strip, NULL);
      ib_variant_gallery_set_runner (self->gallery, NULL);
      self->strip = NULL;
      self->gallery = NULL;
    }
  if (self->runner != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->runner, self);
      /* Waits (within a decoding step) until the worker lets go of the model file. */
      ib_job_runner_stop (self->runner);
      g_clear_object (&self->runner);
    }
  g_clear_object (&self->job_model);
}
