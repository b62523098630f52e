/* ib-config.c: parses the model config (JSON from the model file's metadata) and checks every value
 * before anything else reads it. The file may come from anyone: nothing here trusts it. */
#include "ib-config.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "ib-error.h"

#define MAX_RESOLUTION 8192
#define MAX_CHANNELS 8192
#define MAX_VOCAB (1 << 20)
#define MAX_SEQ_LEN (1 << 16)
#define MAX_DEPTH 512
#define MAX_HEADS 512
#define MAX_LABELS 100000

static gboolean
fail (GError    **error,
      const char *format,
      ...) G_GNUC_PRINTF (2, 3);

static gboolean
fail (GError    **error,
      const char *format,
      ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, IB_ERROR, IB_ERROR_INVALID, "Model config: %s", message);
  return FALSE;
}

static JsonObject *
get_object (JsonObject *parent,
            const char *member,
            gboolean    required,
            GError    **error)
{
  JsonNode *node = json_object_get_member (parent, member);
  if (node == NULL)
    {
      if (required)
        fail (error, "\"%s\" is missing", member);
      return NULL;
    }
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      fail (error, "\"%s\" must be an object", member);
      return NULL;
    }
  return json_node_get_object (node);
}

static JsonArray *
get_array (JsonObject *parent,
           const char *member,
           gboolean    required,
           GError    **error)
{
  JsonNode *node = json_object_get_member (parent, member);
  if (node == NULL)
    {
      if (required)
        fail (error, "\"%s\" is missing", member);
      return NULL;
    }
  if (!JSON_NODE_HOLDS_ARRAY (node))
    {
      fail (error, "\"%s\" must be an array", member);
      return NULL;
    }
  return json_node_get_array (node);
}

/* An integer value node in [min, max]; doubles with a fraction are refused. */
static gboolean
node_to_int (JsonNode   *node,
             const char *what,
             gint64      min,
             gint64      max,
             int        *out,
             GError    **error)
{
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return fail (error, "%s must be an integer", what);
  GType type = json_node_get_value_type (node);
  gint64 value;
  if (type == G_TYPE_INT64)
    value = json_node_get_int (node);
  else if (type == G_TYPE_DOUBLE)
    {
      double d = json_node_get_double (node);
      if (!isfinite (d) || d != floor (d) || d < (double) G_MININT32 || d > (double) G_MAXINT32)
        return fail (error, "%s must be an integer", what);
      value = (gint64) d;
    }
  else
    return fail (error, "%s must be an integer", what);
  if (value < min || value > max)
    return fail (error, "%s is %" G_GINT64_FORMAT ", outside %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT,
                 what, value, min, max);
  *out = (int) value;
  return TRUE;
}

static gboolean
get_int (JsonObject *object,
         const char *member,
         gint64      min,
         gint64      max,
         int        *out,
         GError    **error)
{
  return node_to_int (json_object_get_member (object, member), member, min, max, out, error);
}

static gboolean
get_int_or (JsonObject *object,
            const char *member,
            gint64      min,
            gint64      max,
            int         fallback,
            int        *out,
            GError    **error)
{
  if (!json_object_has_member (object, member))
    {
      *out = fallback;
      return TRUE;
    }
  return get_int (object, member, min, max, out, error);
}

static gboolean
node_to_double (JsonNode   *node,
                const char *what,
                double     *out,
                GError    **error)
{
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return fail (error, "%s must be a number", what);
  GType type = json_node_get_value_type (node);
  if (type == G_TYPE_INT64)
    *out = (double) json_node_get_int (node);
  else if (type == G_TYPE_DOUBLE)
    *out = json_node_get_double (node);
  else
    return fail (error, "%s must be a number", what);
  if (!isfinite (*out))
    return fail (error, "%s must be finite", what);
  return TRUE;
}

static char *
dup_string_or (JsonObject *object,
               const char *member,
               const char *fallback,
               GError    **error)
{
  JsonNode *node = json_object_get_member (object, member);
  if (node == NULL)
    return g_strdup (fallback);
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    {
      fail (error, "\"%s\" must be a string", member);
      return NULL;
    }
  return g_strdup (json_node_get_string (node));
}

static gboolean
get_int_list (JsonArray  *array,
              const char *what,
              int         max_length,
              gint64      min,
              gint64      max,
              int        *values,
              int        *n_values,
              GError    **error)
{
  guint length = json_array_get_length (array);
  if (length > (guint) max_length)
    return fail (error, "%s has %u entries, at most %d allowed", what, length, max_length);
  for (guint i = 0; i < length; i++)
    if (!node_to_int (json_array_get_element (array, i), what, min, max, &values[i], error))
      return FALSE;
  *n_values = (int) length;
  return TRUE;
}

static char **
dup_string_list (JsonArray  *array,
                 const char *what,
                 int         max_length,
                 int        *n_out,
                 GError    **error)
{
  guint length = json_array_get_length (array);
  if (length == 0 || length > (guint) max_length)
    {
      fail (error, "%s must have 1..%d entries", what, max_length);
      return NULL;
    }
  g_auto (GStrv) strings = g_new0 (char *, length + 1);
  for (guint i = 0; i < length; i++)
    {
      JsonNode *node = json_array_get_element (array, i);
      if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
        {
          fail (error, "%s must hold strings", what);
          return NULL;
        }
      strings[i] = g_strdup (json_node_get_string (node));
    }
  *n_out = (int) length;
  return g_steal_pointer (&strings);
}

static gboolean
parse_vqgan (JsonObject    *object,
             IbModelConfig *config,
             GError       **error)
{
  IbVqganConfig *v = &config->vqgan;
  JsonArray *array;

  if (!get_int (object, "resolution", 1, MAX_RESOLUTION, &v->resolution, error) ||
      !get_int (object, "in_channels", 3, 3, &v->in_channels, error) ||
      !get_int (object, "out_ch", 3, 3, &v->out_ch, error) ||
      !get_int (object, "ch", 1, MAX_CHANNELS, &v->ch, error) ||
      !get_int (object, "num_res_blocks", 0, 64, &v->num_res_blocks, error) ||
      !get_int (object, "z_channels", 1, MAX_CHANNELS, &v->z_channels, error) ||
      !get_int (object, "embed_dim", 1, MAX_CHANNELS, &v->embed_dim, error) ||
      !get_int (object, "n_embed", 1, MAX_VOCAB, &v->n_embed, error))
    return FALSE;

  if (!(array = get_array (object, "ch_mult", TRUE, error)) ||
      !get_int_list (array, "ch_mult", IB_MAX_CH_MULT, 1, 64, v->ch_mult, &v->n_ch_mult, error))
    return FALSE;
  if (v->n_ch_mult == 0)
    return fail (error, "ch_mult is empty");
  if (!(array = get_array (object, "attn_resolutions", TRUE, error)) ||
      !get_int_list (array, "attn_resolutions", IB_MAX_CH_MULT, 1, MAX_RESOLUTION,
                     v->attn_resolutions, &v->n_attn_resolutions, error))
    return FALSE;

  /* GroupNorm(32) needs every channel count to split into 32 groups. */
  for (int i = 0; i < v->n_ch_mult; i++)
    if ((gint64) v->ch * v->ch_mult[i] > MAX_CHANNELS || (v->ch * v->ch_mult[i]) % 32 != 0)
      return fail (error, "ch * ch_mult[%d] = %d must be a multiple of 32 and at most %d",
                   i, v->ch * v->ch_mult[i], MAX_CHANNELS);
  if (v->ch % 32 != 0)
    return fail (error, "ch = %d must be a multiple of 32", v->ch);

  int downsampling = 1 << (v->n_ch_mult - 1);
  if (v->resolution % downsampling != 0)
    return fail (error, "resolution %d is not divisible by 2^(len(ch_mult)-1) = %d", v->resolution, downsampling);

  array = get_array (object, "remap", FALSE, error);
  if (array == NULL && error && *error)
    return FALSE;
  if (array != NULL)
    {
      guint length = json_array_get_length (array);
      if (length == 0 || length > (guint) v->n_embed)
        return fail (error, "remap must have 1..n_embed (%d) entries", v->n_embed);
      v->remap = g_new (int32_t, length);
      v->n_remap = (int) length;
      g_autofree guint8 *seen = g_new0 (guint8, v->n_embed);
      for (guint i = 0; i < length; i++)
        {
          int row;
          if (!node_to_int (json_array_get_element (array, i), "remap entry", 0, v->n_embed - 1, &row, error))
            return FALSE;
          if (seen[row]++)
            return fail (error, "remap lists codebook row %d twice", row);
          v->remap[i] = row;
        }
    }
  return TRUE;
}

static gboolean
parse_variant (const char *name,
               IbVariant  *variant,
               GError    **error)
{
  if (g_strcmp0 (name, "plain") == 0)
    *variant = IB_VARIANT_PLAIN;
  else if (g_strcmp0 (name, "scaled") == 0)
    *variant = IB_VARIANT_SCALED;
  else if (g_strcmp0 (name, "residual_scaled") == 0)
    *variant = IB_VARIANT_RESIDUAL_SCALED;
  else if (g_strcmp0 (name, "gpt") == 0)
    *variant = IB_VARIANT_GPT;
  else
    return fail (error, "unknown level variant \"%s\" (plain, scaled, residual_scaled or gpt)", name ? name : "");
  return TRUE;
}

/* The official XTransformer's constructor arguments. */
static gboolean
parse_encoder_decoder_architecture (JsonObject    *object,
                                    IbLevelConfig *level,
                                    GError       **error)
{
  if (!get_int (object, "dim", 1, MAX_CHANNELS * 2, &level->dim, error) ||
      !get_int_or (object, "dim_head", 1, 1024, 64, &level->dim_head, error) ||
      !get_int (object, "enc_depth", 0, MAX_DEPTH, &level->enc_depth, error) ||
      !get_int (object, "dec_depth", 0, MAX_DEPTH, &level->dec_depth, error) ||
      !get_int (object, "enc_heads", 1, MAX_HEADS, &level->enc_heads, error) ||
      !get_int (object, "dec_heads", 1, MAX_HEADS, &level->dec_heads, error) ||
      !get_int (object, "enc_num_tokens", 1, MAX_VOCAB, &level->enc_num_tokens, error) ||
      !get_int (object, "dec_num_tokens", 1, MAX_VOCAB, &level->dec_num_tokens, error) ||
      !get_int (object, "enc_max_seq_len", 1, MAX_SEQ_LEN, &level->enc_max_seq_len, error) ||
      !get_int (object, "dec_max_seq_len", 1, MAX_SEQ_LEN, &level->dec_max_seq_len, error))
    return FALSE;
  if ((gint64) level->enc_heads * level->dim_head > MAX_CHANNELS * 2 ||
      (gint64) level->dec_heads * level->dim_head > MAX_CHANNELS * 2)
    return fail (error, "level %d: heads * dim_head is too large", level->t);
  return TRUE;
}

/* minGPT's constructor arguments (vocab_size, block_size, n_layer, n_head, n_embd, input_vocab_size,
 * n_unmasked), kept under their own names. */
static gboolean
parse_gpt_architecture (JsonObject    *object,
                        IbLevelConfig *level,
                        GError       **error)
{
  if (!get_int (object, "n_embd", 1, MAX_CHANNELS * 2, &level->dim, error) ||
      !get_int (object, "n_layer", 0, MAX_DEPTH, &level->dec_depth, error) ||
      !get_int (object, "n_head", 1, MAX_HEADS, &level->dec_heads, error) ||
      !get_int (object, "vocab_size", 1, MAX_VOCAB, &level->dec_num_tokens, error) ||
      !get_int_or (object, "input_vocab_size", 1, MAX_VOCAB, level->dec_num_tokens, &level->enc_num_tokens,
                   error) ||
      !get_int (object, "block_size", 1, MAX_SEQ_LEN, &level->dec_max_seq_len, error) ||
      !get_int_or (object, "n_unmasked", 0, level->dec_max_seq_len, 0, &level->n_unmasked, error))
    return FALSE;
  if (level->dim % level->dec_heads != 0)
    return fail (error, "level %d: n_embd %d is not a multiple of n_head %d", level->t, level->dim,
                 level->dec_heads);
  level->dim_head = level->dim / level->dec_heads;
  level->enc_max_seq_len = level->dec_max_seq_len;
  level->enc_depth = 0;
  level->enc_heads = 0;
  return TRUE;
}

static gboolean
parse_level (JsonNode      *node,
             IbModelConfig *config,
             IbLevelConfig *level,
             GError       **error)
{
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return fail (error, "each level must be an object");
  JsonObject *object = json_node_get_object (node);
  g_autofree char *variant = NULL;

  if (!get_int (object, "t", 1, config->n_levels, &level->t, error))
    return FALSE;
  if (!(level->prefix = dup_string_or (object, "prefix", NULL, error)))
    return error && *error ? FALSE : fail (error, "level %d has no prefix", level->t);
  if (!(variant = dup_string_or (object, "variant", "plain", error)) ||
      !parse_variant (variant, &level->variant, error))
    return FALSE;

  if (level->variant == IB_VARIANT_GPT ? !parse_gpt_architecture (object, level, error)
                                       : !parse_encoder_decoder_architecture (object, level, error))
    return FALSE;
  if (!get_int_or (object, "top_k", 0, MAX_VOCAB, 0, &level->top_k, error))
    return FALSE;

  level->temperature = 1.0;
  if (json_object_has_member (object, "temperature") &&
      !node_to_double (json_object_get_member (object, "temperature"), "temperature", &level->temperature, error))
    return FALSE;
  if (!(level->temperature > 0.0 && level->temperature <= 100.0))
    return fail (error, "level %d: temperature must be in (0, 100]", level->t);
  if (level->top_k > level->dec_num_tokens)
    return fail (error, "level %d: top_k %d exceeds the vocabulary (%d)", level->t, level->top_k, level->dec_num_tokens);

  level->scale_pos = 0;
  level->n_scales = config->n_levels;
  level->xt_start = 0;
  level->xt_size = 0;
  if (level->variant == IB_VARIANT_SCALED || level->variant == IB_VARIANT_RESIDUAL_SCALED)
    {
      if (!get_int (object, "scale_pos", 0, level->enc_max_seq_len - 1, &level->scale_pos, error) ||
          !get_int (object, "n_scales", 1, IB_MAX_LEVELS, &level->n_scales, error))
        return FALSE;
    }
  if (level->variant == IB_VARIANT_RESIDUAL_SCALED)
    {
      if (!get_int (object, "xt_start", 0, level->enc_max_seq_len - 1, &level->xt_start, error) ||
          !get_int (object, "xt_size", 1, level->enc_max_seq_len - level->xt_start, &level->xt_size, error))
        return FALSE;
      /* The residual reads alpha_t for t = src[scale_pos] in 1..n_scales. */
      if (level->n_scales > config->n_levels)
        return fail (error, "level %d: n_scales %d exceeds the schedule's %d levels",
                     level->t, level->n_scales, config->n_levels);
    }

  /* The decoder writes image tokens; the encoder reads scale tokens 1..T and image tokens. */
  if (level->dec_num_tokens != config->n_codes)
    return fail (error, "level %d: dec_num_tokens %d differs from the image vocabulary K = %d",
                 level->t, level->dec_num_tokens, config->n_codes);
  if (level->enc_num_tokens < config->n_codes || level->enc_num_tokens <= config->n_levels)
    return fail (error, "level %d: enc_num_tokens %d cannot hold the image tokens (%d) and scale tokens (1..%d)",
                 level->t, level->enc_num_tokens, config->n_codes, config->n_levels);
  int n_tokens = config->token_height * config->token_width;
  /* A gpt level's block holds the prefix and all image tokens but the last (conditioning checks it). */
  if (level->variant != IB_VARIANT_GPT && level->dec_max_seq_len < n_tokens)
    return fail (error, "level %d: dec_max_seq_len %d is shorter than the token grid (%d)",
                 level->t, level->dec_max_seq_len, n_tokens);
  return TRUE;
}

static gboolean
parse_conditioning (JsonObject    *object,
                    IbModelConfig *config,
                    GError       **error)
{
  IbConditioning *c = &config->conditioning;
  g_autofree char *kind = NULL;

  c->kind = IB_CONDITIONING_NONE;
  c->guidance = 1.0;
  if (object == NULL)
    return TRUE;
  if (!(kind = dup_string_or (object, "kind", "none", error)))
    return FALSE;
  if (!get_int_or (object, "token_offset", 0, MAX_VOCAB, 0, &c->token_offset, error))
    return FALSE;

  if (g_strcmp0 (kind, "none") == 0)
    return TRUE;
  if (g_strcmp0 (kind, "class") == 0)
    {
      JsonArray *labels = get_array (object, "labels", TRUE, error);
      c->kind = IB_CONDITIONING_CLASS;
      return labels != NULL &&
             (c->labels = dup_string_list (labels, "labels", MAX_LABELS, &c->n_labels, error)) != NULL;
    }
  if (g_strcmp0 (kind, "text") == 0)
    {
      JsonObject *tokenizer = get_object (object, "tokenizer", TRUE, error);
      JsonArray *vocab;
      c->kind = IB_CONDITIONING_TEXT;
      c->guidance = 1.0;
      if (json_object_has_member (object, "guidance") &&
          !node_to_double (json_object_get_member (object, "guidance"), "conditioning.guidance", &c->guidance, error))
        return FALSE;
      if (!(c->guidance >= 1.0 && c->guidance <= IB_MAX_GUIDANCE))
        return fail (error, "conditioning.guidance must be in [1, %g]", IB_MAX_GUIDANCE);
      if (tokenizer == NULL ||
          !get_int (tokenizer, "length", 1, 1024, &c->text_length, error) ||
          !get_int_or (tokenizer, "token_offset", 0, MAX_VOCAB, c->token_offset, &c->token_offset, error) ||
          !(vocab = get_array (tokenizer, "vocab", TRUE, error)))
        return FALSE;
      return (c->vocab = dup_string_list (vocab, "tokenizer vocab", MAX_VOCAB, &c->n_vocab, error)) != NULL;
    }
  return fail (error, "unknown conditioning kind \"%s\" (none, class or text)", kind);
}

/* Number of prefix tokens the conditioning puts after the scale token. */
static int
conditioning_length (const IbConditioning *c)
{
  switch (c->kind)
    {
    case IB_CONDITIONING_NONE: return 0;
    case IB_CONDITIONING_CLASS: return 1;
    case IB_CONDITIONING_TEXT: return c->text_length;
    default: g_assert_not_reached ();
    }
}

static gboolean
check_conditioning_fits (IbModelConfig *config,
                         GError       **error)
{
  IbConditioning *c = &config->conditioning;
  gint64 n_cond_tokens = c->kind == IB_CONDITIONING_CLASS ? c->n_labels
                       : c->kind == IB_CONDITIONING_TEXT ? c->n_vocab : 0;
  int n_tokens = config->token_height * config->token_width;

  for (int i = 0; i < config->n_levels; i++)
    {
      IbLevelConfig *level = &config->levels[i];
      /* A gpt level reads [t, conditioning..., x_{t-1} but its last token]; the others read x_t whole. */
      int n_sequence = level->variant == IB_VARIANT_GPT ? 1 + conditioning_length (c) + n_tokens - 1
                                                        : 1 + conditioning_length (c) + n_tokens;
      if (c->token_offset + n_cond_tokens > level->enc_num_tokens)
        return fail (error, "level %d: conditioning tokens %d..%" G_GINT64_FORMAT " exceed enc_num_tokens %d",
                     level->t, c->token_offset, c->token_offset + n_cond_tokens - 1, level->enc_num_tokens);
      if (n_sequence > level->enc_max_seq_len)
        return fail (error, "level %d reads %d tokens (the scale token, %d conditioning tokens, the image tokens) "
                     "but takes at most %d", level->t, n_sequence, conditioning_length (c), level->enc_max_seq_len);
    }
  return TRUE;
}

static gboolean
parse_schedule (JsonObject    *object,
                IbModelConfig *config,
                GError       **error)
{
  JsonArray *betas = get_array (object, "betas", TRUE, error);
  if (betas == NULL)
    return FALSE;
  if (!(config->schedule_name = dup_string_or (object, "name", "", error)))
    return FALSE;
  guint length = json_array_get_length (betas);
  if (length < 2 || length > IB_MAX_LEVELS + 1)
    return fail (error, "schedule.betas must have T + 1 entries, 2..%d", IB_MAX_LEVELS + 1);
  config->n_levels = (int) length - 1;
  config->betas = g_new (double, length);
  for (guint t = 0; t < length; t++)
    {
      if (!node_to_double (json_array_get_element (betas, t), "schedule.betas entry", &config->betas[t], error))
        return FALSE;
      if (t == 0 && config->betas[t] != 0.0)
        return fail (error, "schedule.betas[0] must be 0");
      if (t > 0 && !(config->betas[t] > 0.0 && config->betas[t] <= 1.0))
        return fail (error, "schedule.betas[%u] = %g is outside (0, 1]", t, config->betas[t]);
    }
  return TRUE;
}

static gboolean
parse_root (JsonObject    *root,
            IbModelConfig *config,
            GError       **error)
{
  g_autofree char *format = NULL;
  int version;
  JsonObject *object;
  JsonArray *levels;

  if (!(format = dup_string_or (root, "format", "", error)))
    return FALSE;
  if (g_strcmp0 (format, "imagebart-studio-model") != 0)
    return fail (error, "\"format\" is \"%s\", expected \"imagebart-studio-model\"", format);
  if (!get_int (root, "format_version", 1, 1000, &version, error))
    return FALSE;
  if (version != 1)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_UNSUPPORTED,
                   "Model config: format version %d is newer than this program reads (1)", version);
      return FALSE;
    }

  if (!(config->name = dup_string_or (root, "name", "", error)) ||
      !(config->license = dup_string_or (root, "license", "", error)) ||
      !(config->provenance = dup_string_or (root, "provenance", "", error)))
    return FALSE;

  if (!(object = get_object (root, "image", TRUE, error)) ||
      !get_int (object, "resolution", 1, MAX_RESOLUTION, &config->resolution, error))
    return FALSE;
  if (!(object = get_object (root, "tokens", TRUE, error)) ||
      !get_int (object, "height", 1, 1024, &config->token_height, error) ||
      !get_int (object, "width", 1, 1024, &config->token_width, error))
    return FALSE;

  if (!(object = get_object (root, "vqgan", TRUE, error)) || !parse_vqgan (object, config, error))
    return FALSE;
  IbVqganConfig *v = &config->vqgan;
  if (v->resolution != config->resolution)
    return fail (error, "vqgan.resolution %d differs from image.resolution %d", v->resolution, config->resolution);
  int side = v->resolution >> (v->n_ch_mult - 1);
  if (config->token_height != side || config->token_width != side)
    return fail (error, "the token grid %dx%d does not match the VQGAN's %dx%d",
                 config->token_height, config->token_width, side, side);
  config->n_codes = v->n_remap > 0 ? v->n_remap : v->n_embed;

  if (!(object = get_object (root, "schedule", TRUE, error)) || !parse_schedule (object, config, error))
    return FALSE;

  object = get_object (root, "conditioning", FALSE, error);
  if ((object == NULL && error && *error) || !parse_conditioning (object, config, error))
    return FALSE;

  if (!(levels = get_array (root, "levels", TRUE, error)))
    return FALSE;
  if (json_array_get_length (levels) != (guint) config->n_levels)
    return fail (error, "%u levels are described but the schedule has %d", json_array_get_length (levels),
                 config->n_levels);
  config->levels = g_new0 (IbLevelConfig, config->n_levels);
  for (int i = 0; i < config->n_levels; i++)
    {
      IbLevelConfig level = { 0 };
      gboolean ok = parse_level (json_array_get_element (levels, i), config, &level, error);
      if (ok && config->levels[level.t - 1].prefix != NULL)
        ok = fail (error, "level %d is described twice", level.t);
      if (!ok)
        {
          g_free (level.prefix);
          return FALSE;
        }
      config->levels[level.t - 1] = level;
    }
  return check_conditioning_fits (config, error);
}

IbModelConfig *
ib_model_config_parse (const char *json,
                       gsize       length,
                       GError    **error)
{
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  g_autoptr (GError) json_error = NULL;
  g_autoptr (IbModelConfig) config = g_new0 (IbModelConfig, 1);

  g_return_val_if_fail (json != NULL, NULL);

  if (length > G_MAXSSIZE || !json_parser_load_from_data (parser, json, (gssize) length, &json_error))
    {
      g_set_error (error, IB_ERROR, IB_ERROR_CORRUPT, "Model config is not valid JSON: %s",
                   json_error ? json_error->message : "too long");
      return NULL;
    }
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, IB_ERROR, IB_ERROR_CORRUPT, "Model config must be a JSON object");
      return NULL;
    }
  /* The parsers test for a set error to tell "absent" from "invalid": give them one to set. */
  g_autoptr (GError) local_error = NULL;
  if (!parse_root (json_node_get_object (root), config, &local_error))
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
  return g_steal_pointer (&config);
}

void
ib_model_config_free (IbModelConfig *config)
{
  if (config == NULL)
    return;
  g_free (config->name);
  g_free (config->license);
  g_free (config->provenance);
  g_free (config->vqgan.remap);
  g_free (config->schedule_name);
  g_free (config->betas);
  if (config->levels != NULL)
    for (int i = 0; i < config->n_levels; i++)
      g_free (config->levels[i].prefix);
  g_free (config->levels);
  g_strfreev (config->conditioning.labels);
  g_strfreev (config->conditioning.vocab);
  g_free (config);
}

const char *
ib_variant_name (IbVariant variant)
{
  switch (variant)
    {
    case IB_VARIANT_PLAIN: return "plain";
    case IB_VARIANT_SCALED: return "scaled";
    case IB_VARIANT_RESIDUAL_SCALED: return "residual_scaled";
    case IB_VARIANT_GPT: return "gpt";
    default: g_assert_not_reached ();
    }
}

const char *
ib_conditioning_name (IbConditioningKind kind)
{
  switch (kind)
    {
    case IB_CONDITIONING_NONE: return "none";
    case IB_CONDITIONING_CLASS: return "class";
    case IB_CONDITIONING_TEXT: return "text";
    default: g_assert_not_reached ();
    }
}

float
ib_model_config_alpha (const IbModelConfig *config,
                       int                  t)
{
  g_return_val_if_fail (t >= 0 && t <= config->n_levels, 1.0f);
  return 1.0f - (float) config->betas[t];
}
