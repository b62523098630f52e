/* ib-about.c: the About window. Its legal sections are the attribution the licences of the bundled data
 * require (CC-BY 4.0 asks for it wherever the work is shown), so they are kept in step with README.md's
 * "Credits and licences" and data/README.md. */
#include "ib-about.h"

#include <glib/gi18n.h>

#include "ib-studio-config.h"

#define IB_WEBSITE "https://github.com/imagebart-studio/imagebart-studio"

AdwAboutWindow *
ib_about_window_new (void)
{
  static const char *developers[] = {
    "The ImageBART Studio developers " IB_WEBSITE,
    NULL
  };
  static const char *method_authors[] = {
    "Patrick Esser",
    "Robin Rombach",
    "Andreas Blattmann",
    "Björn Ommer",
    NULL
  };
  AdwAboutWindow *about;

  about = ADW_ABOUT_WINDOW (adw_about_window_new ());
  adw_about_window_set_application_name (about, _("ImageBART Studio"));
  adw_about_window_set_application_icon (about, APP_ID);
  adw_about_window_set_version (about, APP_VERSION);
  adw_about_window_set_developer_name (about, _("The ImageBART Studio developers"));
  adw_about_window_set_developers (about, developers);
  adw_about_window_set_comments (about,
                                 _("Repaint parts of a picture with the ImageBART generative model, "
                                   "coarse to fine, on your own computer."));
  adw_about_window_set_website (about, IB_WEBSITE);
  adw_about_window_set_issue_url (about, IB_WEBSITE "/issues");
  adw_about_window_set_copyright (about, _("© 2026 The ImageBART Studio developers"));
  adw_about_window_set_license_type (about, GTK_LICENSE_MIT_X11);
  /* Translators: the title of a list of people in the About window's credits. */
  adw_about_window_add_credit_section (about, _("ImageBART method"), method_authors);
  /* Translators: "translator-credits" is replaced by your names, one per line, as in any GNOME application. */
  adw_about_window_set_translator_credits (about, _("translator-credits"));

  adw_about_window_add_legal_section (about,
                                      _("Twemoji art"),
                                      _("Copyright © Twitter, Inc and other contributors. "
                                        "From https://github.com/twitter/twemoji, "
                                        "through the npm package emoji-datasource-twitter 16.0.0."),
                                      GTK_LICENSE_CUSTOM,
                                      _("Licensed under <a href=\"https://creativecommons.org/licenses/by/4.0/\">"
                                        "Creative Commons Attribution 4.0 International (CC-BY 4.0)</a>."));
  adw_about_window_add_legal_section (about,
                                      _("Noto Emoji art"),
                                      _("Copyright © Google. "
                                        "From https://github.com/googlefonts/noto-emoji, "
                                        "through the npm package emoji-datasource-google 16.0.0."),
                                      GTK_LICENSE_APACHE_2_0,
                                      NULL);
  adw_about_window_add_legal_section (about,
                                      _("Default model"),
                                      _("Trained by the ImageBART Studio developers on the Twemoji and Noto "
                                        "Emoji art above."),
                                      GTK_LICENSE_CUSTOM,
                                      _("A work derived from that art: the Twemoji part under CC-BY 4.0 "
                                        "(attribution as above), the Noto Emoji part under the Apache "
                                        "License 2.0. The training tools are part of this application "
                                        "(MIT)."));
  adw_about_window_add_legal_section (about,
                                      _("ImageBART"),
                                      _("The method and its reference code "
                                        "(https://github.com/CompVis/imagebart) by Patrick Esser, Robin "
                                        "Rombach, Andreas Blattmann and Björn Ommer: “ImageBART: "
                                        "Bidirectional Context with Multinomial Diffusion for Autoregressive "
                                        "Image Synthesis”, NeurIPS 2021. This application’s code is its own, "
                                        "following that architecture."),
                                      GTK_LICENSE_MIT_X11,
                                      NULL);
  adw_about_window_add_legal_section (about,
                                      _("Taming Transformers"),
                                      _("The VQGAN architecture and its reference code "
                                        "(https://github.com/CompVis/taming-transformers) by Patrick Esser, "
                                        "Robin Rombach and Björn Ommer."),
                                      GTK_LICENSE_MIT_X11,
                                      NULL);
  return about;
}

void
ib_about_show (GtkWindow *parent)
{
  AdwAboutWindow *about;

  g_return_if_fail (parent == NULL || GTK_IS_WINDOW (parent));

  about = ib_about_window_new ();
  if (parent != NULL)
    {
      gtk_window_set_transient_for (GTK_WINDOW (about), parent);
      gtk_window_set_modal (GTK_WINDOW (about), TRUE);
    }
  gtk_window_present (GTK_WINDOW (about));
}
