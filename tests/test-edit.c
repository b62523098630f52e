/* test-edit.c: the pieces of an edit that need no network: the work window, the token mask, the feather,
 * colour matching, compositing, the start noise and re-noising of the chain, and the recipe. */
#include <math.h>
#include <string.h>

#include <glib.h>

#include "ib-edit-chain.h"
#include "ib-edit-composite.h"
#include "ib-edit-recipe.h"
#include "ib-edit-window.h"
#include "ib-error.h"
#include "ib-test-model.h"

static guint8 *
random_rgba (int     width,
             int     height,
             guint32 seed)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);
  guint8 *rgba = g_new (guint8, (gsize) width * height * 4);
  for (gsize i = 0; i < (gsize) width * height * 4; i++)
    rgba[i] = (guint8) g_rand_int_range (rand, 0, 256);
  return rgba;
}

static void
fill_rect (guint8 *mask,
           int     stride,
           int     x,
           int     y,
           int     width,
           int     height,
           guint8  value)
{
  for (int j = y; j < y + height; j++)
    memset (mask + (gsize) j * stride + x, value, width);
}

/* Window */

static void
test_bounding_box (void)
{
  guint8 mask[6 * 5] = { 0 };
  IbBox box = ib_mask_bounding_box (mask, 6, 5, 6);
  g_assert_cmpint (box.width, ==, 0);

  mask[1 * 6 + 4] = 1;
  mask[3 * 6 + 2] = 255;
  box = ib_mask_bounding_box (mask, 6, 5, 6);
  g_assert_cmpint (box.x, ==, 2);
  g_assert_cmpint (box.y, ==, 1);
  g_assert_cmpint (box.width, ==, 3);
  g_assert_cmpint (box.height, ==, 3);

  memset (mask, 9, sizeof mask);
  box = ib_mask_bounding_box (mask, 6, 5, 6);
  g_assert_cmpint (box.x, ==, 0);
  g_assert_cmpint (box.width, ==, 6);
  g_assert_cmpint (box.height, ==, 5);
}

/* Rows scanned eight bytes at a time: every width up to 41, a few set pixels anywhere (word edges, row ends,
 * a stride wider than the row with bytes set in its padding), against a pixel-by-pixel box. */
static void
test_bounding_box_words (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (7);
  for (int width = 1; width <= 41; width++)
    for (int trial = 0; trial < 40; trial++)
      {
        int height = g_rand_int_range (rand, 1, 6), stride = width + g_rand_int_range (rand, 0, 9);
        g_autofree guint8 *mask = g_new0 (guint8, (gsize) stride * height);
        for (int k = g_rand_int_range (rand, 0, 4); k > 0; k--)
          mask[g_rand_int_range (rand, 0, height) * stride + g_rand_int_range (rand, 0, width)] = 1 + trial;
        for (int y = 0; y < height; y++)
          memset (mask + y * stride + width, 0xff, stride - width);   /* padding: never part of the mask */
        int x0 = width, y0 = height, x1 = -1, y1 = -1;
        for (int y = 0; y < height; y++)
          for (int x = 0; x < width; x++)
            if (mask[y * stride + x] != 0)
              {
                x0 = MIN (x0, x), x1 = MAX (x1, x), y0 = MIN (y0, y), y1 = MAX (y1, y);
              }
        IbBox box = ib_mask_bounding_box (mask, width, height, stride);
        if (x1 < 0)
          {
            g_assert_cmpint (box.width, ==, 0);
            continue;
          }
        g_assert_cmpint (box.x, ==, x0);
        g_assert_cmpint (box.y, ==, y0);
        g_assert_cmpint (box.width, ==, x1 - x0 + 1);
        g_assert_cmpint (box.height, ==, y1 - y0 + 1);
      }
}

/* Whatever the case, the window is square, at least native, holds the box, and lies inside the image on
 * every axis the image is at least as long as the window. */
static void
check_window (const IbEditWindow *w,
              int                 width,
              int                 height,
              int                 native)
{
  const IbBox *b = &w->mask_box;
  g_assert_cmpint (w->side, >=, native);
  g_assert_cmpint (w->x, <=, b->x);
  g_assert_cmpint (w->y, <=, b->y);
  g_assert_cmpint (w->x + w->side, >=, b->x + b->width);
  g_assert_cmpint (w->y + w->side, >=, b->y + b->height);
  if (w->side <= width)
    g_assert_true (w->x >= 0 && w->x + w->side <= width);
  else
    g_assert_true (w->x <= 0 && w->x + w->side >= width);
  if (w->side <= height)
    g_assert_true (w->y >= 0 && w->y + w->side <= height);
  else
    g_assert_true (w->y <= 0 && w->y + w->side >= height);
}

static void
test_window_choose (void)
{
  IbEditWindow w;

  /* A small mask in a large image: native size, centred on the mask. */
  IbBox small = { 500, 300, 20, 10 };
  ib_edit_window_choose (2000, 1000, &small, 256, &w);
  check_window (&w, 2000, 1000, 256);
  g_assert_cmpint (w.side, ==, 256);
  g_assert_cmpint (w.x, ==, 510 - 128);
  g_assert_cmpfloat (ib_edit_window_scale (&w), ==, 1.0);

  /* Near a corner: moved inside the image. */
  IbBox corner = { 0, 990, 5, 10 };
  ib_edit_window_choose (2000, 1000, &corner, 256, &w);
  check_window (&w, 2000, 1000, 256);
  g_assert_cmpint (w.x, ==, 0);
  g_assert_cmpint (w.y, ==, 1000 - 256);

  /* A large mask: a quarter of context on each side, scaled down. */
  IbBox large = { 600, 200, 400, 300 };
  ib_edit_window_choose (2000, 1000, &large, 256, &w);
  check_window (&w, 2000, 1000, 256);
  g_assert_cmpint (w.side, ==, 600);
  g_assert_cmpfloat (ib_edit_window_scale (&w), ==, 600.0 / 256);

  /* Context shrinks rather than padding the window... */
  IbBox tall = { 100, 50, 100, 900 };
  ib_edit_window_choose (2000, 1000, &tall, 256, &w);
  check_window (&w, 2000, 1000, 256);
  g_assert_cmpint (w.side, ==, 1000);
  g_assert_cmpint (w.y, ==, 0);

  /* ...but a mask wider than the image is tall pads the short axis. */
  IbBox wide = { 100, 10, 1500, 50 };
  ib_edit_window_choose (2000, 1000, &wide, 256, &w);
  check_window (&w, 2000, 1000, 256);
  g_assert_cmpint (w.side, ==, 2000);
  g_assert_cmpint (w.x, ==, 0);
  g_assert_cmpint (w.y, ==, -500);

  /* An image smaller than native: padded around it, never stretched. */
  IbBox tiny = { 2, 3, 4, 4 };
  ib_edit_window_choose (9, 7, &tiny, 16, &w);
  check_window (&w, 9, 7, 16);
  g_assert_cmpint (w.side, ==, 16);
  g_assert_cmpint (w.x, ==, -3);
  g_assert_cmpint (w.y, ==, -4);

  /* The whole of an odd image. */
  IbBox all = { 0, 0, 37, 23 };
  ib_edit_window_choose (37, 23, &all, 16, &w);
  check_window (&w, 37, 23, 16);
  g_assert_cmpint (w.side, ==, 37);
  g_assert_cmpint (w.y, ==, -7);
}

/* Native-sized image, window = image: token (i, j) covers pixels [4j, 4j + 4). */
static void
test_token_mask (void)
{
  enum { N = 16, T = 4 };
  guint8 mask[N * N] = { 0 };
  gboolean unknown[T * T];
  IbEditWindow w = { .x = 0, .y = 0, .side = N, .native = N };

  g_assert_cmpint (ib_edit_window_token_mask (&w, mask, N, N, N, T, T, unknown), ==, 0);

  mask[5 * N + 7] = 1;                 /* one faint pixel in token (1, 1) */
  g_assert_cmpint (ib_edit_window_token_mask (&w, mask, N, N, N, T, T, unknown), ==, 1);
  g_assert_true (unknown[1 * T + 1]);

  mask[5 * N + 7] = 0;
  mask[8 * N + 12] = 255;              /* the corner pixel of token (2, 3) */
  g_assert_cmpint (ib_edit_window_token_mask (&w, mask, N, N, N, T, T, unknown), ==, 1);
  g_assert_true (unknown[2 * T + 3]);

  /* Scaled 2x: a 32-pixel image, a pixel in [8, 16) belongs to token 1. */
  guint8 big[32 * 32] = { 0 };
  big[15 * 32 + 16] = 255;
  IbEditWindow scaled = { .x = 0, .y = 0, .side = 32, .native = N };
  g_assert_cmpint (ib_edit_window_token_mask (&scaled, big, 32, 32, 32, T, T, unknown), ==, 1);
  g_assert_true (unknown[1 * T + 2]);

  /* Padding mirrors the mask: a 6x6 image at window (5, 5). Image column 1 reappears at -2 and 10 (window 3
   * and 15), so tokens 0, 1 and 3 of each axis see it. */
  guint8 six[36] = { 0 };
  six[1 * 6 + 1] = 255;
  IbEditWindow padded = { .x = -5, .y = -5, .side = N, .native = N };
  g_assert_cmpint (ib_edit_window_token_mask (&padded, six, 6, 6, 6, T, T, unknown), ==, 9);
  for (int ty = 0; ty < T; ty++)
    for (int tx = 0; tx < T; tx++)
      g_assert_cmpint (unknown[ty * T + tx], ==, ty != 2 && tx != 2);
}

/* Compositing */

static void
test_feather (void)
{
  enum { W = 40, H = 30 };
  guint8 mask[W * H] = { 0 };
  fill_rect (mask, W, 10, 5, 20, 20, 255);
  mask[12 * W + 15] = 0;               /* a hole inside */
  mask[0 * W + 0] = 128;               /* a soft pixel in the corner */
  IbBox box = ib_mask_bounding_box (mask, W, H, W);

  g_autofree float *hard = ib_edit_feather (mask, W, H, W, &box, 0.0);
  for (int y = 0; y < box.height; y++)
    for (int x = 0; x < box.width; x++)
      g_assert_cmpfloat (hard[y * box.width + x], ==, mask[(box.y + y) * W + box.x + x] / 255.0f);

  g_autofree float *soft = ib_edit_feather (mask, W, H, W, &box, 4.0);
  for (int y = 0; y < box.height; y++)
    for (int x = 0; x < box.width; x++)
      {
        float a = soft[y * box.width + x];
        guint8 m = mask[(box.y + y) * W + box.x + x];
        g_assert_cmpfloat (a, >=, 0.0f);
        g_assert_cmpfloat (a, <=, m / 255.0f);
        if (m == 0)
          g_assert_cmpfloat (a, ==, 0.0f);
      }
  /* Ramp: along row 20 from the left edge (x = 10) inwards, rising to 1 after the radius. */
  float previous = 0.0f;
  for (int x = 10; x < 20; x++)
    {
      float a = soft[(20 - box.y) * box.width + x - box.x];
      g_assert_cmpfloat (a, >=, previous);
      previous = a;
    }
  g_assert_cmpfloat (soft[(20 - box.y) * box.width + 10 - box.x], <, 0.1f);
  g_assert_cmpfloat (soft[(20 - box.y) * box.width + 15 - box.x], ==, 1.0f);
  /* The hole pulls its neighbours down too. */
  g_assert_cmpfloat (soft[(12 - box.y) * box.width + 16 - box.x], <, 0.2f);

  /* The image border is not an edge: a mask touching it is full strength there. */
  guint8 edge[W * H] = { 0 };
  fill_rect (edge, W, 0, 0, 10, H, 255);
  IbBox edge_box = ib_mask_bounding_box (edge, W, H, W);
  g_autofree float *at_border = ib_edit_feather (edge, W, H, W, &edge_box, 3.0);
  g_assert_cmpfloat (at_border[0], ==, 1.0f);
  g_assert_cmpfloat (at_border[9], <, 0.1f);

  /* A full mask has no edge at all. */
  guint8 full[W * H];
  memset (full, 255, sizeof full);
  IbBox full_box = ib_mask_bounding_box (full, W, H, W);
  g_autofree float *everywhere = ib_edit_feather (full, W, H, W, &full_box, 8.0);
  for (int i = 0; i < W * H; i++)
    g_assert_cmpfloat (everywhere[i], ==, 1.0f);
}

static void
test_match_colours (void)
{
  enum { N = 16, T = 4 };
  g_autoptr (GRand) rand = g_rand_new_with_seed (3);
  g_autofree float *original = g_new (float, N * N * 3), *decoded = g_new (float, N * N * 3);
  gboolean unknown[T * T] = { FALSE };
  unknown[1 * T + 1] = unknown[1 * T + 2] = TRUE;

  /* The decoded window is the original with a tint and less contrast, per channel. */
  const float gain[3] = { 0.8f, 1.1f, 0.9f }, offset[3] = { 0.1f, -0.05f, 0.2f };
  for (int i = 0; i < N * N; i++)
    for (int c = 0; c < 3; c++)
      {
        original[i * 3 + c] = (float) g_rand_double_range (rand, -0.8, 0.8);
        decoded[i * 3 + c] = original[i * 3 + c] * gain[c] + offset[c];
      }
  g_assert_true (ib_edit_match_colours (original, decoded, N, unknown, T, T, 2));
  for (int i = 0; i < N * N * 3; i++)
    g_assert_cmpfloat (fabs (decoded[i] - original[i]), <, 1e-4);

  /* Nothing known near the unknown tokens: untouched. */
  gboolean all[T * T];
  for (int i = 0; i < T * T; i++)
    all[i] = TRUE;
  decoded[0] = 0.5f;
  g_assert_false (ib_edit_match_colours (original, decoded, N, all, T, T, 2));
  g_assert_cmpfloat (decoded[0], ==, 0.5f);
}

/* A tint that varies across the window (the VQGAN's reconstruction error is not one colour): the local
 * step takes it off around the edit and just inside it, where a seam would show. */
static void
test_match_colours_local (void)
{
  enum { N = 64, T = 8 };
  g_autoptr (GRand) rand = g_rand_new_with_seed (6);
  g_autofree float *original = g_new (float, N * N * 3), *decoded = g_new (float, N * N * 3);
  gboolean unknown[T * T] = { FALSE };
  for (int ty = 3; ty <= 4; ty++)
    for (int tx = 2; tx <= 5; tx++)
      unknown[ty * T + tx] = TRUE;
  for (int y = 0; y < N; y++)
    for (int x = 0; x < N; x++)
      for (int c = 0; c < 3; c++)
        {
          float tint = c == 0 ? 0.25f * x / N : c == 1 ? -0.2f * y / N : 0.1f * (x + y) / (2 * N);
          original[(y * N + x) * 3 + c] = (float) g_rand_double_range (rand, -0.6, 0.6);
          decoded[(y * N + x) * 3 + c] = original[(y * N + x) * 3 + c] + tint;
        }

  /* Mean error over the ring (known tokens next to the unknown ones) and the unknown tokens' outer pixels. */
  double before[2] = { 0 }, after[2] = { 0 };
  for (int pass = 0; pass < 2; pass++)
    {
      double *error = pass == 0 ? before : after;
      int counts[2] = { 0 };
      if (pass == 1)
        g_assert_true (ib_edit_match_colours (original, decoded, N, unknown, T, T, 1));
      for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++)
          {
            int ty = y / 8, tx = x / 8;
            gboolean inside = unknown[ty * T + tx];
            gboolean ring = !inside && ty >= 2 && ty <= 5 && tx >= 1 && tx <= 6;
            gboolean edge = inside && (y % 8 < 2 || y % 8 > 5 || (tx == 2 && x % 8 < 2) || (tx == 5 && x % 8 > 5));
            int k = ring ? 0 : edge ? 1 : -1;
            if (k < 0)
              continue;
            for (int c = 0; c < 3; c++)
              error[k] += fabs (decoded[(y * N + x) * 3 + c] - original[(y * N + x) * 3 + c]);
            counts[k] += 3;
          }
      error[0] /= counts[0];
      error[1] /= counts[1];
    }
  g_test_message ("ring %.4f -> %.4f, edge %.4f -> %.4f", before[0], after[0], before[1], after[1]);
  g_assert_cmpfloat (after[0], <, 0.15 * before[0]);
  g_assert_cmpfloat (after[1], <, 0.3 * before[1]);
}

/* Outside the mask the composite is the input, bit for bit, whatever the window, scale and feather. */
static void
test_composite_outside_is_input (void)
{
  static const struct { int w, h, native; int bx, by, bw, bh; double feather; } cases[] = {
    { 16, 16, 16, 3, 4, 5, 6, 0.0 },
    { 37, 23, 16, 0, 0, 11, 23, 2.5 },     /* touching the border */
    { 9, 7, 16, 2, 1, 5, 5, 1.0 },         /* smaller than native */
    { 100, 60, 16, 40, 10, 50, 45, 3.0 },  /* scaled down */
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      int w = cases[i].w, h = cases[i].h, n = cases[i].native;
      g_autofree guint8 *rgba = random_rgba (w, h, 20 + i);
      g_autofree guint8 *mask = g_new0 (guint8, w * h);
      g_autoptr (GRand) rand = g_rand_new_with_seed (40 + i);
      /* A ragged mask: random values, many zeros, inside the box. */
      for (int y = cases[i].by; y < cases[i].by + cases[i].bh; y++)
        for (int x = cases[i].bx; x < cases[i].bx + cases[i].bw; x++)
          mask[y * w + x] = g_rand_boolean (rand) ? (guint8) g_rand_int_range (rand, 1, 256) : 0;
      mask[cases[i].by * w + cases[i].bx] = 255;
      IbBox box = ib_mask_bounding_box (mask, w, h, w);
      IbEditWindow window;
      ib_edit_window_choose (w, h, &box, n, &window);
      g_autofree float *decoded = g_new (float, n * n * 3);
      for (int k = 0; k < n * n * 3; k++)
        decoded[k] = (float) g_rand_double_range (rand, -1.2, 1.2);
      g_autofree float *alpha = ib_edit_feather (mask, w, h, w, &box, cases[i].feather);
      g_autofree guint8 *out = g_memdup2 (rgba, (gsize) w * h * 4);
      ib_edit_composite (&window, decoded, alpha, rgba, w, h, w * 4, out + (box.y * w + box.x) * 4, w * 4);
      int changed = 0;
      for (int p = 0; p < w * h; p++)
        {
          if (mask[p] == 0)
            g_assert_cmpmem (out + p * 4, 4, rgba + p * 4, 4);
          else
            changed += memcmp (out + p * 4, rgba + p * 4, 3) != 0;
          g_assert_cmpint (out[p * 4 + 3], ==, rgba[p * 4 + 3]);
        }
      g_assert_cmpint (changed, >, 0);
    }
}

/* Where the window maps one to one and the mask is hard, the masked pixels are the decoded ones. */
static void
test_composite_exact_inside (void)
{
  enum { N = 16 };
  g_autofree guint8 *rgba = random_rgba (N, N, 5);
  guint8 mask[N * N] = { 0 };
  fill_rect (mask, N, 4, 4, 8, 8, 255);
  IbBox box = ib_mask_bounding_box (mask, N, N, N);
  IbEditWindow window;
  ib_edit_window_choose (N, N, &box, N, &window);
  g_assert_cmpint (window.x, ==, 0);
  g_autofree float *decoded = g_new (float, N * N * 3);
  for (int k = 0; k < N * N * 3; k++)
    decoded[k] = (k % 256) / 127.5f - 1.0f;
  g_autofree float *alpha = ib_edit_feather (mask, N, N, N, &box, 0.0);
  g_autofree guint8 *patch = g_new (guint8, box.width * box.height * 4);
  ib_edit_composite (&window, decoded, alpha, rgba, N, N, N * 4, patch, box.width * 4);
  for (int y = 0; y < box.height; y++)
    for (int x = 0; x < box.width; x++)
      for (int c = 0; c < 3; c++)
        g_assert_cmpint (patch[(y * box.width + x) * 4 + c], ==, (((box.y + y) * N + box.x + x) * 3 + c) % 256);
}

/* Chain */

static IbModelConfig *
test_config (int n_levels)
{
  IbTestModelSpec spec;
  ib_test_model_spec_init (&spec);
  spec.n_levels = n_levels;
  g_autofree char *json = ib_test_model_config_json (&spec);
  g_autoptr (GError) error = NULL;
  IbModelConfig *config = ib_model_config_parse (json, strlen (json), &error);
  g_assert_no_error (error);
  return config;
}

static void
test_noise (void)
{
  g_autoptr (IbModelConfig) config = test_config (4);   /* geometric: betas 1/4, 1/3, 1/2, 1 */
  enum { N = 4000 };
  g_autofree int32_t *x0 = g_new (int32_t, N), *x_t = g_new (int32_t, N);
  g_autofree gboolean *unknown = g_new (gboolean, N);
  for (int i = 0; i < N; i++)
    {
      x0[i] = i % config->n_codes;
      unknown[i] = i % 3 != 0;
    }
  g_assert_cmpfloat (fabs (ib_edit_alphacum (config, 2) - 0.75 * 2.0 / 3.0), <, 1e-7);
  g_assert_cmpfloat (ib_edit_alphacum (config, 4), ==, 0.0);

  /* Level 2: a token survives with probability alphacum (or is redrawn to itself, 1/K). */
  ib_edit_noise_to_level (config, 2, x0, unknown, N, 7, 0, x_t);
  int n_unknown = 0, kept = 0;
  for (int i = 0; i < N; i++)
    {
      g_assert_cmpint (x_t[i], >=, 0);
      g_assert_cmpint (x_t[i], <, config->n_codes);
      if (!unknown[i])
        g_assert_cmpint (x_t[i], ==, x0[i]);
      else
        {
          n_unknown++;
          kept += x_t[i] == x0[i];
        }
    }
  double expected = 0.5 + 0.5 / config->n_codes;
  g_assert_cmpfloat (fabs ((double) kept / n_unknown - expected), <, 0.04);

  /* Level T with beta_T = 1 is exactly ib_sample_chain's x_T where everything is unknown. */
  for (int i = 0; i < N; i++)
    unknown[i] = TRUE;
  ib_edit_noise_to_level (config, 4, x0, unknown, N, 7, 0, x_t);
  IbRngStream noise = { .seed = 7, .level = 5, .variant = 0 };
  for (int i = 0; i < N; i++)
    g_assert_cmpint (x_t[i], ==, (int32_t) ib_rng_below (&noise, i, 0, config->n_codes));

  /* Another variant, other noise. */
  g_autofree int32_t *other = g_new (int32_t, N);
  ib_edit_noise_to_level (config, 4, x0, unknown, N, 7, 1, other);
  g_assert_true (memcmp (x_t, other, N * sizeof (int32_t)) != 0);
}

static void
test_renoise (void)
{
  g_autoptr (IbModelConfig) config = test_config (4);
  enum { N = 6000 };
  g_autofree int32_t *x = g_new (int32_t, N), *out = g_new (int32_t, N);
  g_autofree gboolean *unknown = g_new (gboolean, N);
  for (int i = 0; i < N; i++)
    {
      x[i] = (i * 7) % config->n_codes;
      unknown[i] = i % 2 == 0;
    }
  /* Level 3 (beta 1/2), pass 0 of 4: beta' = 3/4 * 1/2; pass 2 of 4: 1/4 * 1/2. */
  for (int pass = 0; pass < 3; pass += 2)
    {
      ib_edit_renoise (config, 3, pass, 4, x, unknown, N, 11, 0, out);
      double beta = (1.0 - (pass + 1) / 4.0) * 0.5;
      int changed = 0;
      for (int i = 0; i < N; i++)
        {
          if (!unknown[i])
            g_assert_cmpint (out[i], ==, x[i]);
          else
            changed += out[i] != x[i];
        }
      double expected = beta * (1.0 - 1.0 / config->n_codes);
      g_assert_cmpfloat (fabs (changed / (N / 2.0) - expected), <, 0.03);
    }
  /* Each pass has its own stream, distinct from the sampler's draws. */
  IbRngStream a = ib_edit_level_stream (1, 3, 0, 0), b = ib_edit_level_stream (1, 3, 1, 0);
  g_assert_cmpuint (a.level, ==, 3);
  g_assert_cmpuint (a.level, !=, b.level);
}

/* Recipe */

static void
test_recipe_round_trip (void)
{
  g_autoptr (IbModelConfig) config = test_config (3);
  IbEditRequest request;
  ib_edit_request_init (&request, config);
  IbEditSettings *s = &request.settings;
  s->seed = G_MAXUINT64 - 5;           /* more than a JSON number holds exactly */
  s->start_level = 2;
  s->n_variants = 3;
  s->feather = 2.5;
  s->match_colours = FALSE;
  s->backend = IB_EDIT_BACKEND_CPU;
  s->temperature[0] = 0.7f;
  s->temperature[1] = 1.0f / 3.0f;
  s->top_k[2] = 0;
  s->repeats[1] = 4;
  IbEditRecipeHashes hashes = {
    .model_sha256 = (char *) "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    .image_sha256 = (char *) "1111111111111111111111111111111111111111111111111111111111111111",
    .mask_sha256 = (char *) "2222222222222222222222222222222222222222222222222222222222222222",
    .width = 640,
    .height = 480,
  };
  g_autofree char *json = ib_edit_recipe_build (config, &hashes, &request.conditioning, s);

  IbEditRequest parsed;
  ib_edit_request_init (&parsed, config);
  IbEditRecipeHashes read;
  g_autoptr (GError) error = NULL;
  g_assert_true (ib_edit_recipe_parse (json, -1, config, &parsed.conditioning, &parsed.settings, &read, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (parsed.settings.seed, ==, s->seed);
  g_assert_cmpint (parsed.settings.start_level, ==, 2);
  g_assert_cmpint (parsed.settings.n_variants, ==, 3);
  g_assert_cmpfloat (parsed.settings.feather, ==, 2.5);
  g_assert_false (parsed.settings.match_colours);
  for (int t = 0; t < 3; t++)
    {
      g_assert_cmpfloat (parsed.settings.temperature[t], ==, s->temperature[t]);
      g_assert_cmpint (parsed.settings.top_k[t], ==, s->top_k[t]);
      g_assert_cmpint (parsed.settings.repeats[t], ==, s->repeats[t]);
    }
  g_assert_cmpint (parsed.conditioning.kind, ==, IB_CONDITIONING_NONE);
  g_assert_cmpstr (read.model_sha256, ==, hashes.model_sha256);
  g_assert_cmpstr (read.image_sha256, ==, hashes.image_sha256);
  g_assert_cmpstr (read.mask_sha256, ==, hashes.mask_sha256);
  g_assert_cmpint (read.width, ==, 640);
  g_assert_cmpint (read.height, ==, 480);
  ib_edit_recipe_hashes_clear (&read);
}

static void
test_recipe_rejects (void)
{
  g_autoptr (IbModelConfig) config = test_config (2);
  const char *good_levels = "\"levels\": [{\"t\": 2, \"temperature\": 1, \"top_k\": 5, \"repeats\": 1},"
                            " {\"t\": 1, \"temperature\": 1.0, \"top_k\": 5, \"repeats\": 1}]";
  const char *hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  g_autofree char *good = g_strdup_printf (
    "{\"format\": \"imagebart-studio-recipe\", \"format_version\": 1, \"model\": {\"sha256\": \"%s\", "
    "\"name\": \"m\"}, \"image\": {\"sha256\": \"%s\", \"width\": 4, \"height\": 4}, \"mask\": {\"sha256\": "
    "\"%s\"}, \"conditioning\": {\"kind\": \"none\"}, \"seed\": \"5\", \"start_level\": 2, \"variants\": 1, "
    "\"feather\": 0, \"match_colours\": true, \"backend\": \"cpu\", %s}", hash, hash, hash, good_levels);
  IbEditRequest request;
  IbEditRecipeHashes read;
  g_autoptr (GError) error = NULL;

  ib_edit_request_init (&request, config);
  g_assert_true (ib_edit_recipe_parse (good, -1, config, &request.conditioning, &request.settings, &read, &error));
  g_assert_no_error (error);
  ib_edit_recipe_hashes_clear (&read);

  const char *replacements[][2] = {
    { "\"seed\": \"5\"", "\"seed\": 5" },
    { "\"seed\": \"5\"", "\"seed\": \"-5\"" },
    { "\"format_version\": 1", "\"format_version\": \"1\"" },
    { "imagebart-studio-recipe", "something-else" },
    { "\"start_level\": 2", "\"start_level\": 99999999999" },
    { "\"kind\": \"none\"", "\"kind\": \"telepathy\"" },
    { "\"backend\": \"cpu\"", "\"backend\": \"abacus\"" },
    { "\"t\": 2,", "\"t\": 1," },
    { "\"t\": 2,", "\"t\": 3," },
    { "\"repeats\": 1}]", "\"repeats\": \"many\"}]" },
    { "\"width\": 4", "\"width\": 4.5" },
    { "0123456789abcdef\", \"name\"", "0123456789abcdeX\", \"name\"" },
    { "\"match_colours\": true", "\"match_colours\": 1" },
    { "{\"format\"", "[{\"format\"" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (replacements); i++)
    {
      g_autoptr (GString) bad = g_string_new (good);
      g_assert_cmpuint (g_string_replace (bad, replacements[i][0], replacements[i][1], 1), ==, 1);
      g_clear_error (&error);
      g_assert_false (ib_edit_recipe_parse (bad->str, -1, config, &request.conditioning, &request.settings, &read,
                                            &error));
      g_assert_nonnull (error);
      g_assert_null (read.model_sha256);
    }
  g_clear_error (&error);
  g_assert_false (ib_edit_recipe_parse ("{\"format\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
                                        -1, config, &request.conditioning, &request.settings, &read, &error));
  g_clear_error (&error);
  g_assert_false (ib_edit_recipe_parse ("not json", -1, config, &request.conditioning, &request.settings, &read,
                                        &error));
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/model/edit/window/bounding-box", test_bounding_box);
  g_test_add_func ("/model/edit/window/bounding-box-words", test_bounding_box_words);
  g_test_add_func ("/model/edit/window/choose", test_window_choose);
  g_test_add_func ("/model/edit/window/token-mask", test_token_mask);
  g_test_add_func ("/model/edit/composite/feather", test_feather);
  g_test_add_func ("/model/edit/composite/match-colours", test_match_colours);
  g_test_add_func ("/model/edit/composite/match-colours-local", test_match_colours_local);
  g_test_add_func ("/model/edit/composite/outside-is-input", test_composite_outside_is_input);
  g_test_add_func ("/model/edit/composite/exact-inside", test_composite_exact_inside);
  g_test_add_func ("/model/edit/chain/noise", test_noise);
  g_test_add_func ("/model/edit/chain/renoise", test_renoise);
  g_test_add_func ("/model/edit/recipe/round-trip", test_recipe_round_trip);
  g_test_add_func ("/model/edit/recipe/rejects", test_recipe_rejects);
  return g_test_run ();
}
