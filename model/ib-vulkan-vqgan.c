/* ib-vulkan-vqgan.c: the VQGAN (taming-transformers VQModel: Encoder, the remapped quantizer, Decoder) on the
 * Vulkan engine, layer for layer the CPU engine's (model/ib-vqgan.c).
 *
 * Feature maps are CHW f32 in three device buffers the layers rotate through. A map larger than the device binds in
 * one buffer range (maxStorageBufferRange: 128 MiB on lavapipe and some GPUs) lies in several views, a range of
 * whole GroupNorm groups in each (Layout): the convolution sums its input parts into each output part, the norms,
 * additions and upsampling run part by part. The attention blocks and the
 * quantizer work on position-major rows: the GroupNorm output is transposed to hw x C, the 1x1 q/k/v/proj
 * convolutions run as linear layers on those rows (a [C, C, 1, 1] weight is a [C, C] matrix), the single-head
 * attention kernel takes them as they are, and the result is transposed back and added. Each resolution is
 * one submission, so that none runs long enough to trip a driver's watchdog. */
#include "ib-vulkan-vqgan.h"

#include <string.h>

#include "ib-error.h"
#include "ib-ops.h"
#include "ib-vqgan.h"
#include "ib-vulkan-ops.h"
#include "ib-vulkan-private.h"

#define TENSOR_PREFIX "first_stage_model."
#define NORM_GROUPS 32
#define NORM_EPS 1e-6f

static const IbConvGeometry same_3x3 = { 1, 1, 1, 1, 1 };
static const IbConvGeometry pointwise = { 1, 0, 0, 0, 0 };
static const IbConvGeometry downsample_3x3 = { 2, 0, 0, 1, 1 };

typedef struct
{
  IbVkTensor *weight, *bias;
} Conv;

typedef struct
{
  IbVkTensor *weight, *bias;
} Norm;

typedef struct
{
  int c_in, c_out;
  Norm norm1;
  Conv conv1;
  Norm norm2;
  Conv conv2;
  Conv nin_shortcut;            /* weight NULL when c_in == c_out */
} ResnetBlock;

typedef struct
{
  int channels;
  Norm norm;
  Conv q, k, v, proj_out;
} AttnBlock;

typedef struct
{
  int n_blocks;
  ResnetBlock *blocks;
  AttnBlock *attn;
  Conv resample;
} Level;

typedef struct
{
  ResnetBlock block_1;
  AttnBlock attn_1;
  ResnetBlock block_2;
} Mid;

/* How a feature map of channels x hw lies in a buffer: per_part channels in each of n_parts views (all of them
 * in one when they fit a buffer range). Parts hold whole GroupNorm groups, so that each normalizes alone. */
typedef struct
{
  int channels, hw, per_part, n_parts;
} Layout;

/* One of the rotating buffers: the parts of whatever map it holds, each of the VQGAN's part_bytes. */
typedef struct
{
  IbVkView *parts;
} Buffer;

struct _IbVkVqgan
{
  IbVkDevice *device;
  IbModelFile *file;            /* while uploading only */
  GError **error;               /* while uploading only */
  IbVkArena *weights;
  IbVkArena *work;
  GPtrArray *tensors;

  int in_channels, out_ch, ch, z_channels, embed_dim, n_levels, num_res_blocks;
  int ch_mult[IB_MAX_CH_MULT];
  int n_attn;
  int attn_resolutions[IB_MAX_CH_MULT];
  int resolution, token_side, n_codes;

  Conv enc_conv_in;
  Level *down;
  Mid enc_mid;
  Norm enc_norm_out;
  Conv enc_conv_out;
  Conv quant_conv;
  Conv post_quant_conv;
  Conv dec_conv_in;
  Mid dec_mid;
  Level *up;
  Norm dec_norm_out;
  Conv dec_conv_out;
  IbVkTensor *codebook;         /* the used rows, in token order, f32 */
  IbVkTensor *zeros;            /* n_tokens x embed_dim zeros: the "positions" of the codebook lookup */

  guint64 part_bytes;           /* the largest part of any feature map */
  int n_parts;                  /* the most parts of any feature map */
  gboolean unsplittable;        /* some map has a group larger than one buffer range */
  guint64 max_attention;

  Buffer buffers[3];
  IbVkView attn_q, attn_k, attn_v;
  IbVkView tokens;              /* int32, one per token */
};

/* Uploading */

static IbVkTensor *
upload (IbVkVqgan  *self,
        gboolean    widen,
        const char *format,
        ...) G_GNUC_PRINTF (3, 4);

static IbVkTensor *
upload (IbVkVqgan  *self,
        gboolean    widen,
        const char *format,
        ...)
{
  va_list args;

  va_start (args, format);
  g_autofree char *suffix = g_strdup_vprintf (format, args);
  va_end (args);
  g_autofree char *name = g_strconcat (TENSOR_PREFIX, suffix, NULL);
  const IbTensor *t = ib_model_file_lookup (self->file, name);
  if (t == NULL)
    {
      g_set_error (self->error, IB_ERROR, IB_ERROR_INVALID, "The model has no tensor %s", name);
      return NULL;
    }
  IbVkTensor *vt = ib_vk_tensor_upload (self->device, self->weights, t, widen, self->error);
  if (vt != NULL)
    g_ptr_array_add (self->tensors, vt);
  return vt;
}

/* Where a map lies: n_parts 0 when even one group is larger than a buffer range. */
static Layout
layout_of (IbVkVqgan *self,
           int        channels,
           int        hw)
{
  guint64 range = ib_vk_device_max_range (self->device), channel_bytes = (guint64) hw * 4;
  Layout l = { channels, hw, channels, 1 };

  if ((guint64) channels * channel_bytes <= range)
    return l;
  int unit = channels % NORM_GROUPS == 0 ? channels / NORM_GROUPS : 1;
  guint64 units_per_part = range / (channel_bytes * unit);
  if (units_per_part == 0)
    {
      l.per_part = l.n_parts = 0;
      return l;
    }
  /* As few parts as the range allows, as even as whole groups allow. */
  int units = channels / unit;
  l.n_parts = (int) ((units + units_per_part - 1) / units_per_part);
  l.per_part = unit * ((units + l.n_parts - 1) / l.n_parts);
  l.n_parts = (channels + l.per_part - 1) / l.per_part;
  return l;
}

static void
note (IbVkVqgan *self,
      int        channels,
      int        h,
      int        w)
{
  Layout l = layout_of (self, channels, h * w);

  if (l.n_parts == 0)
    self->unsplittable = TRUE;
  self->part_bytes = MAX (self->part_bytes, (guint64) l.per_part * l.hw * 4);
  self->n_parts = MAX (self->n_parts, l.n_parts);
}

static gboolean
upload_conv (IbVkVqgan            *self,
             Conv                 *conv,
             const char           *name,
             int                   c_in,
             int                   c_out,
             int                   kernel,
             int                   side,
             const IbConvGeometry *g)
{
  int out = (side + g->pad_top + g->pad_bottom - kernel) / g->stride + 1;

  note (self, c_in, side, side);
  note (self, c_out, out, out);
  return (conv->weight = upload (self, FALSE, "%s.weight", name)) &&
         (conv->bias = upload (self, TRUE, "%s.bias", name));
}

static gboolean
upload_norm (IbVkVqgan  *self,
             Norm       *norm,
             const char *name)
{
  return (norm->weight = upload (self, TRUE, "%s.weight", name)) && (norm->bias = upload (self, TRUE, "%s.bias", name));
}

static gboolean
upload_resnet_block (IbVkVqgan   *self,
                     ResnetBlock *block,
                     const char  *name,
                     int          c_in,
                     int          c_out,
                     int          side)
{
  g_autofree char *norm1 = g_strdup_printf ("%s.norm1", name);
  g_autofree char *conv1 = g_strdup_printf ("%s.conv1", name);
  g_autofree char *norm2 = g_strdup_printf ("%s.norm2", name);
  g_autofree char *conv2 = g_strdup_printf ("%s.conv2", name);
  g_autofree char *shortcut = g_strdup_printf ("%s.nin_shortcut", name);

  block->c_in = c_in;
  block->c_out = c_out;
  return upload_norm (self, &block->norm1, norm1) &&
         upload_conv (self, &block->conv1, conv1, c_in, c_out, 3, side, &same_3x3) &&
         upload_norm (self, &block->norm2, norm2) &&
         upload_conv (self, &block->conv2, conv2, c_out, c_out, 3, side, &same_3x3) &&
         (c_in == c_out || upload_conv (self, &block->nin_shortcut, shortcut, c_in, c_out, 1, side, &pointwise));
}

static gboolean
upload_attn_block (IbVkVqgan  *self,
                   AttnBlock  *attn,
                   const char *name,
                   int         channels,
                   int         side)
{
  g_autofree char *norm = g_strdup_printf ("%s.norm", name);
  g_autofree char *q = g_strdup_printf ("%s.q", name);
  g_autofree char *k = g_strdup_printf ("%s.k", name);
  g_autofree char *v = g_strdup_printf ("%s.v", name);
  g_autofree char *proj_out = g_strdup_printf ("%s.proj_out", name);

  attn->channels = channels;
  self->max_attention = MAX (self->max_attention, (guint64) channels * side * side);
  return upload_norm (self, &attn->norm, norm) &&
         upload_conv (self, &attn->q, q, channels, channels, 1, side, &pointwise) &&
         upload_conv (self, &attn->k, k, channels, channels, 1, side, &pointwise) &&
         upload_conv (self, &attn->v, v, channels, channels, 1, side, &pointwise) &&
         upload_conv (self, &attn->proj_out, proj_out, channels, channels, 1, side, &pointwise);
}

static gboolean
upload_mid (IbVkVqgan  *self,
            Mid        *mid,
            const char *stack,
            int         channels,
            int         side)
{
  g_autofree char *block_1 = g_strdup_printf ("%s.mid.block_1", stack);
  g_autofree char *attn_1 = g_strdup_printf ("%s.mid.attn_1", stack);
  g_autofree char *block_2 = g_strdup_printf ("%s.mid.block_2", stack);

  return upload_resnet_block (self, &mid->block_1, block_1, channels, channels, side) &&
         upload_attn_block (self, &mid->attn_1, attn_1, channels, side) &&
         upload_resnet_block (self, &mid->block_2, block_2, channels, channels, side);
}

static gboolean
has_attention_at (IbVkVqgan *self,
                  int        side)
{
  for (int i = 0; i < self->n_attn; i++)
    if (self->attn_resolutions[i] == side)
      return TRUE;
  return FALSE;
}

static gboolean
upload_encoder (IbVkVqgan *self)
{
  int side = self->resolution, block_in = self->ch;

  if (!upload_conv (self, &self->enc_conv_in, "encoder.conv_in", self->in_channels, self->ch, 3, side, &same_3x3))
    return FALSE;
  self->down = g_new0 (Level, self->n_levels);
  for (int i = 0; i < self->n_levels; i++)
    {
      Level *level = &self->down[i];
      int block_out = self->ch * self->ch_mult[i];

      level->n_blocks = self->num_res_blocks;
      level->blocks = g_new0 (ResnetBlock, MAX (level->n_blocks, 1));
      if (has_attention_at (self, side))
        level->attn = g_new0 (AttnBlock, MAX (level->n_blocks, 1));
      for (int j = 0; j < level->n_blocks; j++)
        {
          g_autofree char *block = g_strdup_printf ("encoder.down.%d.block.%d", i, j);
          g_autofree char *attn = g_strdup_printf ("encoder.down.%d.attn.%d", i, j);

          if (!upload_resnet_block (self, &level->blocks[j], block, block_in, block_out, side))
            return FALSE;
          block_in = block_out;
          if (level->attn != NULL && !upload_attn_block (self, &level->attn[j], attn, block_in, side))
            return FALSE;
        }
      if (i != self->n_levels - 1)
        {
          g_autofree char *down = g_strdup_printf ("encoder.down.%d.downsample.conv", i);

          if (!upload_conv (self, &level->resample, down, block_in, block_in, 3, side, &downsample_3x3))
            return FALSE;
          side /= 2;
        }
    }
  return upload_mid (self, &self->enc_mid, "encoder", block_in, side) &&
         upload_norm (self, &self->enc_norm_out, "encoder.norm_out") &&
         upload_conv (self, &self->enc_conv_out, "encoder.conv_out", block_in, self->z_channels, 3, side, &same_3x3) &&
         upload_conv (self, &self->quant_conv, "quant_conv", self->z_channels, self->embed_dim, 1, side, &pointwise);
}

static gboolean
upload_decoder (IbVkVqgan *self)
{
  int side = self->token_side, block_in = self->ch * self->ch_mult[self->n_levels - 1];

  if (!upload_conv (self, &self->post_quant_conv, "post_quant_conv", self->embed_dim, self->z_channels, 1, side,
                    &pointwise) ||
      !upload_conv (self, &self->dec_conv_in, "decoder.conv_in", self->z_channels, block_in, 3, side, &same_3x3) ||
      !upload_mid (self, &self->dec_mid, "decoder", block_in, side))
    return FALSE;
  self->up = g_new0 (Level, self->n_levels);
  for (int i = self->n_levels - 1; i >= 0; i--)
    {
      Level *level = &self->up[i];
      int block_out = self->ch * self->ch_mult[i];

      level->n_blocks = self->num_res_blocks + 1;
      level->blocks = g_new0 (ResnetBlock, level->n_blocks);
      if (has_attention_at (self, side))
        level->attn = g_new0 (AttnBlock, level->n_blocks);
      for (int j = 0; j < level->n_blocks; j++)
        {
          g_autofree char *block = g_strdup_printf ("decoder.up.%d.block.%d", i, j);
          g_autofree char *attn = g_strdup_printf ("decoder.up.%d.attn.%d", i, j);

          if (!upload_resnet_block (self, &level->blocks[j], block, block_in, block_out, side))
            return FALSE;
          block_in = block_out;
          if (level->attn != NULL && !upload_attn_block (self, &level->attn[j], attn, block_in, side))
            return FALSE;
        }
      if (i != 0)
        {
          g_autofree char *up = g_strdup_printf ("decoder.up.%d.upsample.conv", i);

          note (self, block_in, 2 * side, 2 * side);
          side *= 2;
          if (!upload_conv (self, &level->resample, up, block_in, block_in, 3, side, &same_3x3))
            return FALSE;
        }
    }
  return upload_norm (self, &self->dec_norm_out, "decoder.norm_out") &&
         upload_conv (self, &self->dec_conv_out, "decoder.conv_out", block_in, self->out_ch, 3, side, &same_3x3);
}

/* The used codebook rows in token order (f32), and a table of zeros for the lookup's positions. */
static gboolean
upload_codebook (IbVkVqgan           *self,
                 const IbVqganConfig *c)
{
  g_autofree char *name = g_strconcat (TENSOR_PREFIX, "quantize.embedding.weight", NULL);
  const IbTensor *embedding = ib_model_file_lookup (self->file, name);
  int n_tokens = self->token_side * self->token_side;

  g_assert (embedding != NULL);
  g_autofree float *rows = g_new (float, (gsize) self->n_codes * self->embed_dim);
  for (int i = 0; i < self->n_codes; i++)
    ib_tensor_rows_f32 (embedding, c->n_remap > 0 ? c->remap[i] : i, 1, rows + (gsize) i * self->embed_dim);
  g_autofree float *zeros = g_new0 (float, (gsize) n_tokens * self->embed_dim);
  IbTensor codebook = {
    .name = "codebook", .dtype = IB_DTYPE_F32, .n_dims = 2, .shape = { self->n_codes, self->embed_dim },
    .n_elements = (int64_t) self->n_codes * self->embed_dim, .data = rows,
  };
  IbTensor zero_table = {
    .name = "zeros", .dtype = IB_DTYPE_F32, .n_dims = 2, .shape = { n_tokens, self->embed_dim },
    .n_elements = (int64_t) n_tokens * self->embed_dim, .data = zeros,
  };
  if (!(self->codebook = ib_vk_tensor_upload (self->device, self->weights, &codebook, FALSE, self->error)))
    return FALSE;
  g_ptr_array_add (self->tensors, self->codebook);
  if (!(self->zeros = ib_vk_tensor_upload (self->device, self->weights, &zero_table, FALSE, self->error)))
    return FALSE;
  g_ptr_array_add (self->tensors, self->zeros);
  /* The host arrays are read when the batch runs: run it now. */
  return ib_vk_device_submit (self->device, self->error);
}

static void
level_clear (Level *level)
{
  g_clear_pointer (&level->blocks, g_free);
  g_clear_pointer (&level->attn, g_free);
}

void
ib_vk_vqgan_free (IbVkVqgan *self)
{
  if (self == NULL)
    return;
  for (int i = 0; i < self->n_levels; i++)
    {
      if (self->down != NULL)
        level_clear (&self->down[i]);
      if (self->up != NULL)
        level_clear (&self->up[i]);
    }
  g_free (self->down);
  g_free (self->up);
  for (int i = 0; i < 3; i++)
    g_free (self->buffers[i].parts);
  if (self->tensors != NULL)
    g_ptr_array_unref (self->tensors);
  g_clear_pointer (&self->work, ib_vk_arena_free);
  g_clear_pointer (&self->weights, ib_vk_arena_free);
  g_free (self);
}

/* Feature maps split across buffer ranges; what cannot be split must fit one: a GroupNorm group, an attention
 * block's map (its rows are transposed whole) and the latent. */
static gboolean
fits_device (IbVkVqgan *self,
             GError   **error)
{
  guint64 range = ib_vk_device_max_range (self->device);
  guint64 latent = (guint64) MAX (self->embed_dim, self->z_channels) * self->token_side * self->token_side * 4;
  const char *what = NULL;

  if (self->unsplittable)
    what = "a normalization group of a feature map";
  else if (self->max_attention * 4 > range)
    what = "an attention block's feature map";
  else if (latent > range)
    what = "the latent";
  if (what == NULL)
    return TRUE;
  g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_UNSUPPORTED,
               "The VQGAN at %d px needs %s in one buffer range, more than this GPU binds (%" G_GUINT64_FORMAT
               " KiB); use the CPU engine for encoding and decoding images", self->resolution, what, range >> 10);
  return FALSE;
}

IbVkVqgan *
ib_vk_vqgan_new (IbVkDevice  *device,
                 IbModelFile *file,
                 GError     **error)
{
  g_return_val_if_fail (device != NULL && file != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  /* The CPU tokenizer checks every tensor, the channels and the geometry. */
  g_autoptr (IbVqgan) check = ib_vqgan_new (file, error);
  if (check == NULL)
    return NULL;

  const IbModelConfig *model = ib_model_file_get_config (file);
  const IbVqganConfig *c = &model->vqgan;
  g_autoptr (IbVkVqgan) self = g_new0 (IbVkVqgan, 1);

  self->device = device;
  self->file = file;
  self->error = error;
  self->in_channels = c->in_channels;
  self->out_ch = c->out_ch;
  self->ch = c->ch;
  self->z_channels = c->z_channels;
  self->embed_dim = c->embed_dim;
  self->n_levels = c->n_ch_mult;
  self->num_res_blocks = c->num_res_blocks;
  memcpy (self->ch_mult, c->ch_mult, sizeof self->ch_mult);
  self->n_attn = c->n_attn_resolutions;
  memcpy (self->attn_resolutions, c->attn_resolutions, sizeof self->attn_resolutions);
  self->resolution = c->resolution;
  self->token_side = model->token_height;
  self->n_codes = c->n_remap > 0 ? c->n_remap : c->n_embed;
  self->tensors = g_ptr_array_new_with_free_func ((GDestroyNotify) ib_vk_tensor_free);
  self->weights = ib_vk_arena_new (device, 32u << 20);
  self->work = ib_vk_arena_new (device, 8u << 20);

  if (!ib_vk_call_done (device, upload_encoder (self) && upload_decoder (self) && upload_codebook (self, c)))
    return NULL;
  int n_tokens = self->token_side * self->token_side;
  note (self, self->embed_dim, self->token_side, self->token_side);
  self->max_attention = MAX (self->max_attention, 1);
  if (!fits_device (self, error))
    return NULL;
  for (int i = 0; i < 3; i++)
    {
      self->buffers[i].parts = g_new0 (IbVkView, self->n_parts);
      for (int p = 0; p < self->n_parts; p++)
        if (!ib_vk_arena_alloc (self->work, self->part_bytes, &self->buffers[i].parts[p], error))
          return NULL;
    }
  if (!ib_vk_arena_alloc (self->work, self->max_attention * 4, &self->attn_q, error) ||
      !ib_vk_arena_alloc (self->work, self->max_attention * 4, &self->attn_k, error) ||
      !ib_vk_arena_alloc (self->work, self->max_attention * 4, &self->attn_v, error) ||
      !ib_vk_arena_alloc (self->work, (guint64) n_tokens * 4, &self->tokens, error))
    return NULL;
  self->file = NULL;
  self->error = NULL;
  return g_steal_pointer (&self);
}

/* Running: the three feature maps rotate as on the CPU. */

typedef struct
{
  IbVkVqgan *self;
  const Buffer *cur, *tmp1, *tmp2;
  GError **error;
  GCancellable *cancellable;    /* checked after each submission */
} Run;

/* One resolution's work, submitted; then a cancelled call stops. */
static gboolean
submit_resolution (Run *run)
{
  return ib_vk_device_submit (run->self->device, run->error) &&
         !g_cancellable_set_error_if_cancelled (run->cancellable, run->error);
}

static void
swap (const Buffer **a,
      const Buffer **b)
{
  const Buffer *t = *a;
  *a = *b;
  *b = t;
}

/* Part i of the map laid out as l in buffer b. */
static IbVkChannels
part_of (const Buffer *b,
         const Layout *l,
         int           i)
{
  IbVkChannels part = { &b->parts[i], i * l->per_part, MIN (l->per_part, l->channels - i * l->per_part) };

  return part;
}

/* y = conv(x), or y += conv(x): each output part sums the products of every input part. */
static gboolean
conv (Run                  *run,
      const Buffer         *y,
      const Buffer         *x,
      int                   c_in,
      int                   side,
      const Conv           *layer,
      const IbConvGeometry *g,
      gboolean              accumulate)
{
  IbVkVqgan *self = run->self;
  int out_side, out_width;
  ib_vk_conv2d_output_size (layer->weight, c_in, side, side, g, &out_side, &out_width);
  Layout lx = layout_of (self, c_in, side * side);
  Layout ly = layout_of (self, (int) layer->weight->rows, out_side * out_side);

  for (int j = 0; j < ly.n_parts; j++)
    for (int i = 0; i < lx.n_parts; i++)
      {
        IbVkChannels ys = part_of (y, &ly, j), xs = part_of (x, &lx, i);

        if (!ib_vk_conv2d_channels (self->device, &ys, &xs, c_in, side, side, layer->weight,
                                    i == 0 ? layer->bias : NULL, g, accumulate || i > 0, run->error))
          return FALSE;
      }
  return TRUE;
}

static gboolean
norm (Run          *run,
      const Buffer *y,
      const Buffer *x,
      int           channels,
      int           side,
      const Norm   *n,
      gboolean      then_swish)
{
  Layout l = layout_of (run->self, channels, side * side);

  for (int i = 0; i < l.n_parts; i++)
    {
      IbVkChannels ys = part_of (y, &l, i), xs = part_of (x, &l, i);

      if (!ib_vk_group_norm_channels (run->self->device, &ys, &xs, channels, side * side, NORM_GROUPS, n->weight,
                                      n->bias, NORM_EPS, then_swish, run->error))
        return FALSE;
    }
  return TRUE;
}

/* y += x, maps of channels x side x side. */
static gboolean
add (Run          *run,
     const Buffer *y,
     const Buffer *x,
     int           channels,
     int           side)
{
  Layout l = layout_of (run->self, channels, side * side);

  for (int i = 0; i < l.n_parts; i++)
    {
      IbVkChannels part = part_of (y, &l, i);

      if (!ib_vk_add (run->self->device, part.view, &x->parts[i], (gsize) part.count * l.hw, run->error))
        return FALSE;
    }
  return TRUE;
}

/* y = nearest 2x upsampling of x (channels x side x side): each output part from the input parts it overlaps. */
static gboolean
upsample (Run          *run,
          const Buffer *y,
          const Buffer *x,
          int           channels,
          int           side)
{
  Layout lx = layout_of (run->self, channels, side * side), ly = layout_of (run->self, channels, 4 * side * side);

  for (int j = 0; j < ly.n_parts; j++)
    for (int i = 0; i < lx.n_parts; i++)
      {
        IbVkChannels ys = part_of (y, &ly, j), xs = part_of (x, &lx, i);
        int first = MAX (ys.first, xs.first), end = MIN (ys.first + ys.count, xs.first + xs.count);

        if (first < end &&
            !ib_vk_upsample_nearest2x_channels (run->self->device, &ys, &xs, first, end - first, side, side,
                                                run->error))
          return FALSE;
      }
  return TRUE;
}

/* Host pixels (channels x side x side) copied into the parts of a buffer (upload), or out of them. */
static gboolean
copy_map (Run          *run,
          const Buffer *buffer,
          float        *data,
          int           channels,
          int           side,
          gboolean      upload)
{
  Layout l = layout_of (run->self, channels, side * side);

  for (int i = 0; i < l.n_parts; i++)
    {
      IbVkChannels part = part_of (buffer, &l, i);
      float *host = data + (gsize) part.first * l.hw;
      guint64 bytes = (guint64) part.count * l.hw * 4;

      if (!(upload ? ib_vk_upload (run->self->device, part.view, 0, host, bytes, run->error)
                   : ib_vk_download (run->self->device, part.view, 0, host, bytes, run->error)))
        return FALSE;
    }
  return TRUE;
}

/* h = conv2(swish(GN2(conv1(swish(GN1(x)))))); x + h, or nin_shortcut(x) + h, into a new cur. */
static gboolean
resnet_block (Run               *run,
              const ResnetBlock *block,
              int                side)
{
  const Buffer *x = run->cur, *a = run->tmp1, *t = run->tmp2;

  if (!norm (run, a, x, block->c_in, side, &block->norm1, TRUE) ||
      !conv (run, t, a, block->c_in, side, &block->conv1, &same_3x3, FALSE) ||
      !norm (run, t, t, block->c_out, side, &block->norm2, TRUE) ||
      !conv (run, a, t, block->c_out, side, &block->conv2, &same_3x3, FALSE))
    return FALSE;
  if (block->nin_shortcut.weight != NULL)
    {
      if (!conv (run, t, x, block->c_in, side, &block->nin_shortcut, &pointwise, FALSE) ||
          !add (run, a, t, block->c_out, side))
        return FALSE;
    }
  else if (!add (run, a, x, block->c_out, side))
    return FALSE;
  run->cur = a;
  run->tmp1 = x;
  return TRUE;
}

/* x + proj_out(attention(q(h), k(h), v(h))), h = GN(x), on position-major rows. Its maps fit one buffer range
 * (checked when the VQGAN is made), so they are the buffers' first parts. */
static gboolean
attn_block (Run             *run,
            const AttnBlock *attn,
            int              side)
{
  IbVkVqgan *self = run->self;
  IbVkDevice *d = self->device;
  const IbVkView *x = &run->cur->parts[0], *h = &run->tmp1->parts[0], *rows = &run->tmp2->parts[0];
  int c = attn->channels, hw = side * side;
  IbVkAttentionShape shape = { .n_q = hw, .q_stride = c, .n_kv = hw, .kv_stride = c, .heads = 1, .dim_head = c };

  return norm (run, run->tmp1, run->cur, c, side, &attn->norm, FALSE) &&
         ib_vk_transpose (d, rows, h, c, hw, run->error) &&
         ib_vk_linear (d, &self->attn_q, rows, hw, attn->q.weight, attn->q.bias, FALSE, IB_VK_LINEAR_AUTO, run->error) &&
         ib_vk_linear (d, &self->attn_k, rows, hw, attn->k.weight, attn->k.bias, FALSE, IB_VK_LINEAR_AUTO, run->error) &&
         ib_vk_linear (d, &self->attn_v, rows, hw, attn->v.weight, attn->v.bias, FALSE, IB_VK_LINEAR_AUTO, run->error) &&
         ib_vk_attention (d, h, &self->attn_q, &self->attn_k, &self->attn_v, &shape, run->error) &&
         ib_vk_linear (d, rows, h, hw, attn->proj_out.weight, attn->proj_out.bias, FALSE, IB_VK_LINEAR_AUTO,
                       run->error) &&
         ib_vk_transpose (d, h, rows, hw, c, run->error) &&
         ib_vk_add (d, x, h, (gsize) c * hw, run->error);
}

static gboolean
mid (Run       *run,
     const Mid *m,
     int        side)
{
  return resnet_block (run, &m->block_1, side) && attn_block (run, &m->attn_1, side) &&
         resnet_block (run, &m->block_2, side);
}

static gboolean
level_blocks (Run         *run,
              const Level *level,
              int          side)
{
  for (int j = 0; j < level->n_blocks; j++)
    if (!resnet_block (run, &level->blocks[j], side) ||
        (level->attn != NULL && !attn_block (run, &level->attn[j], side)))
      return FALSE;
  return TRUE;
}

/* The image (uploaded into tmp2) -> quant_conv output, embed_dim x th x tw, in the returned buffer's first
 * part (the latent fits one). */
static const Buffer *
encoder (Run         *run,
         const float *image)
{
  IbVkVqgan *self = run->self;
  int side = self->resolution, channels = self->ch;
  const Buffer *in = run->tmp2;

  if (!copy_map (run, in, (float *) image, self->in_channels, side, TRUE) ||
      !conv (run, run->cur, in, self->in_channels, side, &self->enc_conv_in, &same_3x3, FALSE))
    return NULL;
  for (int i = 0; i < self->n_levels; i++)
    {
      const Level *level = &self->down[i];

      if (!level_blocks (run, level, side))
        return NULL;
      if (level->n_blocks > 0)
        channels = level->blocks[level->n_blocks - 1].c_out;
      if (level->resample.weight != NULL)
        {
          if (!conv (run, run->tmp1, run->cur, channels, side, &level->resample, &downsample_3x3, FALSE))
            return NULL;
          swap (&run->cur, &run->tmp1);
          side /= 2;
        }
      /* One submission per resolution: no single one long enough for a driver's watchdog. */
      if (!submit_resolution (run))
        return NULL;
    }
  if (!mid (run, &self->enc_mid, side) ||
      !norm (run, run->tmp1, run->cur, channels, side, &self->enc_norm_out, TRUE) ||
      !conv (run, run->tmp2, run->tmp1, channels, side, &self->enc_conv_out, &same_3x3, FALSE) ||
      !conv (run, run->tmp1, run->tmp2, self->z_channels, side, &self->quant_conv, &pointwise, FALSE))
    return NULL;
  return run->tmp1;
}

gboolean
ib_vk_vqgan_encode_latent (IbVkVqgan   *self,
                           const float *image,
                           float       *latent,
                           GError     **error)
{
  g_return_val_if_fail (self != NULL && image != NULL && latent != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  Run run = { self, &self->buffers[0], &self->buffers[1], &self->buffers[2], error };
  const Buffer *z = encoder (&run, image);
  int n = self->token_side * self->token_side;
  return ib_vk_call_done (self->device,
                          z != NULL && ib_vk_download (self->device, &z->parts[0], 0, latent,
                                                       (guint64) self->embed_dim * n * 4, error));
}

gboolean
ib_vk_vqgan_encode (IbVkVqgan    *self,
                    const float  *image,
                    int32_t      *tokens,
                    GCancellable *cancellable,
                    GError      **error)
{
  g_return_val_if_fail (self != NULL && image != NULL && tokens != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  Run run = { self, &self->buffers[0], &self->buffers[1], &self->buffers[2], error, cancellable };
  const Buffer *z = encoder (&run, image);
  int n = self->token_side * self->token_side, dim = self->embed_dim;
  const IbVkView *rows = &(z == run.tmp2 ? run.tmp1 : run.tmp2)->parts[0];
  return ib_vk_call_done (self->device,
                          z != NULL && ib_vk_transpose (self->device, rows, &z->parts[0], dim, n, error) &&
                          ib_vk_nearest_code (self->device, &self->tokens, rows, n, dim, self->codebook, NULL,
                                              self->n_codes, error) &&
                          ib_vk_download (self->device, &self->tokens, 0, tokens, (guint64) n * 4, error));
}

static gboolean
decode (IbVkVqgan     *self,
        const int32_t *tokens,
        float         *image,
        GCancellable  *cancellable,
        GError       **error)
{
  int n = self->token_side * self->token_side, dim = self->embed_dim, side = self->token_side;
  IbVkDevice *d = self->device;

  for (int p = 0; p < n; p++)
    if (tokens[p] < 0 || tokens[p] >= self->n_codes)
      {
        g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT, "Token %d at row %d, column %d is not an image token (0 to %d)",
                     tokens[p], p / side, p % side, self->n_codes - 1);
        return FALSE;
      }

  Run run = { self, &self->buffers[0], &self->buffers[1], &self->buffers[2], error, cancellable };
  int channels = self->dec_mid.block_1.c_in;

  /* z_q: the tokens' codebook rows, position-major, then CHW. */
  if (!ib_vk_upload (d, &self->tokens, 0, tokens, (guint64) n * 4, error) ||
      !ib_vk_embed (d, &run.tmp1->parts[0], &self->tokens, 0, n, self->codebook, self->zeros, 0, error) ||
      !ib_vk_transpose (d, &run.tmp2->parts[0], &run.tmp1->parts[0], n, dim, error) ||
      !conv (&run, run.tmp1, run.tmp2, dim, side, &self->post_quant_conv, &pointwise, FALSE) ||
      !conv (&run, run.cur, run.tmp1, self->z_channels, side, &self->dec_conv_in, &same_3x3, FALSE) ||
      !mid (&run, &self->dec_mid, side))
    return FALSE;
  for (int i = self->n_levels - 1; i >= 0; i--)
    {
      const Level *level = &self->up[i];

      if (!level_blocks (&run, level, side))
        return FALSE;
      channels = level->blocks[level->n_blocks - 1].c_out;
      if (level->resample.weight != NULL)
        {
          if (!upsample (&run, run.tmp1, run.cur, channels, side))
            return FALSE;
          side *= 2;
          if (!conv (&run, run.cur, run.tmp1, channels, side, &level->resample, &same_3x3, FALSE))
            return FALSE;
        }
      if (!submit_resolution (&run))
        return FALSE;
    }
  return norm (&run, run.tmp1, run.cur, channels, side, &self->dec_norm_out, TRUE) &&
         conv (&run, run.tmp2, run.tmp1, channels, side, &self->dec_conv_out, &same_3x3, FALSE) &&
         copy_map (&run, run.tmp2, image, self->out_ch, side, FALSE);
}

gboolean
ib_vk_vqgan_decode (IbVkVqgan     *self,
                    const int32_t *tokens,
                    float         *image,
                    GCancellable  *cancellable,
                    GError       **error)
{
  g_return_val_if_fail (self != NULL && tokens != NULL && image != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return ib_vk_call_done (self->device, decode (self, tokens, image, cancellable, error));
}
