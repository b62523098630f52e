/* ib-vqgan.c: the VQGAN image tokenizer, taming-transformers' VQModel (Encoder, VectorQuantizer2 with a
 * remap, Decoder), on the CPU engine: batch 1, f32 activations in CHW, weights read in place from the
 * model file.
 *
 * Encoding quantizes to the nearest *used* codebook row (the reference picks a random used row when the
 * nearest row is unused, which is worse for editing). Each call allocates its feature maps once, three
 * buffers the size of the largest one plus bounded convolution scratch, and rotates through them. */
#include "ib-vqgan.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#include "ib-alloc.h"
#include "ib-error.h"
#include "ib-ops.h"

#define TENSOR_PREFIX "first_stage_model."
#define NORM_GROUPS 32
#define NORM_EPS 1e-6f

#define HUGE_PAGE_SIZE ((gsize) 2 << 20)

/* Attention scores are computed a block of query rows at a time: at most this many floats (16 MiB). */
#define SCORES_MAX ((gsize) 4 << 20)

static const IbConvGeometry same_3x3 = { 1, 1, 1, 1, 1 };
static const IbConvGeometry pointwise = { 1, 0, 0, 0, 0 };
/* taming's Downsample: zero padding right and bottom by 1, then a 3x3 convolution with stride 2. */
static const IbConvGeometry downsample_3x3 = { 2, 0, 0, 1, 1 };

typedef struct
{
  const IbTensor *weight;
  const IbTensor *bias;
} Conv;

typedef struct
{
  const IbTensor *weight;
  const IbTensor *bias;
} Norm;

typedef struct
{
  int c_in;
  int c_out;
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
  Conv q;
  Conv k;
  Conv v;
  Conv proj_out;
} AttnBlock;

typedef struct
{
  int n_blocks;
  ResnetBlock *blocks;
  AttnBlock *attn;              /* one per block, or NULL: no attention at this resolution */
  Conv resample;                /* downsample or upsample conv; weight NULL at the last level */
} Level;

typedef struct
{
  ResnetBlock block_1;
  AttnBlock attn_1;
  ResnetBlock block_2;
} Mid;

struct _IbVqgan
{
  IbModelFile *file;
  const IbVqganConfig *config;
  int resolution;
  int n_levels;
  int token_height;
  int token_width;
  int n_codes;                  /* K */
  int embed_dim;

  Conv enc_conv_in;
  Level *down;
  Mid enc_mid;
  Norm enc_norm_out;
  Conv enc_conv_out;
  Conv quant_conv;

  Conv post_quant_conv;
  Conv dec_conv_in;
  Mid dec_mid;
  Level *up;                    /* indexed like taming's decoder.up: up[0] is the finest level */
  Norm dec_norm_out;
  Conv dec_conv_out;

  float *codebook;              /* n_codes x embed_dim: the used rows, in token order */

  /* What one call needs, found while binding: floats of the largest feature map, of the largest
   * convolution scratch, of the largest attention operand and of its score block. */
  gsize max_activation;
  gsize max_conv_scratch;
  gsize max_attention;
  gsize max_scores;
};

/* Binding */

typedef struct
{
  IbVqgan *self;
  GError **error;
} Binder;

static gboolean
bind_tensor (Binder          *binder,
             const IbTensor **out,
             int              n_dims,
             const int64_t   *shape,
             const char      *format,
             ...) G_GNUC_PRINTF (5, 6);

/* The loader has checked names and shapes against the config already; checking again costs nothing and
 * keeps this file safe on its own. */
static gboolean
bind_tensor (Binder          *binder,
             const IbTensor **out,
             int              n_dims,
             const int64_t   *shape,
             const char      *format,
             ...)
{
  va_list args;

  va_start (args, format);
  g_autofree char *suffix = g_strdup_vprintf (format, args);
  va_end (args);

  g_autofree char *name = g_strconcat (TENSOR_PREFIX, suffix, NULL);
  const IbTensor *t = ib_model_file_lookup (binder->self->file, name);
  if (t == NULL)
    {
      g_set_error (binder->error, IB_ERROR, IB_ERROR_INVALID, "The model has no tensor %s", name);
      return FALSE;
    }

  gboolean shape_ok = t->n_dims == n_dims;
  for (int i = 0; shape_ok && i < n_dims; i++)
    shape_ok = t->shape[i] == shape[i];
  if (!shape_ok)
    {
      g_set_error (binder->error, IB_ERROR, IB_ERROR_INVALID, "Tensor %s does not have the shape the VQGAN "
                   "config implies", name);
      return FALSE;
    }
  if (t->dtype != IB_DTYPE_F32 && t->dtype != IB_DTYPE_F16 && t->dtype != IB_DTYPE_BF16)
    {
      g_set_error (binder->error, IB_ERROR, IB_ERROR_INVALID, "Tensor %s is %s, not a float type", name,
                   ib_dtype_name (t->dtype));
      return FALSE;
    }
  *out = t;
  return TRUE;
}

static void
note_activation (Binder *binder,
                 gsize   channels,
                 gsize   h,
                 gsize   w)
{
  binder->self->max_activation = MAX (binder->self->max_activation, channels * h * w);
}

/* Binds conv name (c_out x c_in x kernel x kernel, with bias) applied to a c_in x h x w input. */
static gboolean
bind_conv (Binder               *binder,
           Conv                 *conv,
           const char           *name,
           int                   c_in,
           int                   c_out,
           int                   kernel,
           int                   h,
           int                   w,
           const IbConvGeometry *geometry)
{
  const int64_t weight_shape[] = { c_out, c_in, kernel, kernel };
  const int64_t bias_shape[] = { c_out };

  if (!bind_tensor (binder, &conv->weight, 4, weight_shape, "%s.weight", name) ||
      !bind_tensor (binder, &conv->bias, 1, bias_shape, "%s.bias", name))
    return FALSE;

  int oh = (h + geometry->pad_top + geometry->pad_bottom - kernel) / geometry->stride + 1;
  int ow = (w + geometry->pad_left + geometry->pad_right - kernel) / geometry->stride + 1;
  gsize scratch = ib_conv2d_scratch_size (c_in, h, w, conv->weight, geometry);

  binder->self->max_conv_scratch = MAX (binder->self->max_conv_scratch, scratch);
  note_activation (binder, c_in, h, w);
  note_activation (binder, c_out, oh, ow);
  return TRUE;
}

static gboolean
bind_norm (Binder     *binder,
           Norm       *norm,
           const char *name,
           int         channels)
{
  const int64_t shape[] = { channels };

  if (channels % NORM_GROUPS != 0)
    {
      g_set_error (binder->error, IB_ERROR, IB_ERROR_INVALID,
                   "GroupNorm %s%s has %d channels, not a multiple of %d", TENSOR_PREFIX, name, channels,
                   NORM_GROUPS);
      return FALSE;
    }
  return bind_tensor (binder, &norm->weight, 1, shape, "%s.weight", name) &&
         bind_tensor (binder, &norm->bias, 1, shape, "%s.bias", name);
}

static gboolean
bind_resnet_block (Binder      *binder,
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
  return bind_norm (binder, &block->norm1, norm1, c_in) &&
         bind_conv (binder, &block->conv1, conv1, c_in, c_out, 3, side, side, &same_3x3) &&
         bind_norm (binder, &block->norm2, norm2, c_out) &&
         bind_conv (binder, &block->conv2, conv2, c_out, c_out, 3, side, side, &same_3x3) &&
         (c_in == c_out ||
          bind_conv (binder, &block->nin_shortcut, shortcut, c_in, c_out, 1, side, side, &pointwise));
}

static gboolean
bind_attn_block (Binder     *binder,
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
  IbVqgan *self = binder->self;
  gsize hw = (gsize) side * side;

  attn->channels = channels;
  self->max_attention = MAX (self->max_attention, (gsize) channels * hw);
  self->max_scores = MAX (self->max_scores, hw * CLAMP (SCORES_MAX / hw, 1, hw));
  return bind_norm (binder, &attn->norm, norm, channels) &&
         bind_conv (binder, &attn->q, q, channels, channels, 1, side, side, &pointwise) &&
         bind_conv (binder, &attn->k, k, channels, channels, 1, side, side, &pointwise) &&
         bind_conv (binder, &attn->v, v, channels, channels, 1, side, side, &pointwise) &&
         bind_conv (binder, &attn->proj_out, proj_out, channels, channels, 1, side, side, &pointwise);
}

static gboolean
bind_mid (Binder     *binder,
          Mid        *mid,
          const char *stack,
          int         channels,
          int         side)
{
  g_autofree char *block_1 = g_strdup_printf ("%s.mid.block_1", stack);
  g_autofree char *attn_1 = g_strdup_printf ("%s.mid.attn_1", stack);
  g_autofree char *block_2 = g_strdup_printf ("%s.mid.block_2", stack);

  return bind_resnet_block (binder, &mid->block_1, block_1, channels, channels, side) &&
         bind_attn_block (binder, &mid->attn_1, attn_1, channels, side) &&
         bind_resnet_block (binder, &mid->block_2, block_2, channels, channels, side);
}

static gboolean
has_attention_at (const IbVqganConfig *config,
                  int                  side)
{
  for (int i = 0; i < config->n_attn_resolutions; i++)
    if (config->attn_resolutions[i] == side)
      return TRUE;
  return FALSE;
}

/* taming Encoder: at each resolution num_res_blocks ResnetBlocks (each followed by an AttnBlock where the
 * resolution is listed), then a Downsample except after the last. */
static gboolean
bind_encoder (Binder *binder)
{
  IbVqgan *self = binder->self;
  const IbVqganConfig *c = self->config;
  int side = c->resolution;
  int block_in = c->ch;

  if (!bind_conv (binder, &self->enc_conv_in, "encoder.conv_in", c->in_channels, c->ch, 3, side, side,
                  &same_3x3))
    return FALSE;

  self->down = g_new0 (Level, self->n_levels);
  for (int i = 0; i < self->n_levels; i++)
    {
      Level *level = &self->down[i];
      int block_out = c->ch * c->ch_mult[i];

      level->n_blocks = c->num_res_blocks;
      level->blocks = g_new0 (ResnetBlock, level->n_blocks);
      if (has_attention_at (c, side))
        level->attn = g_new0 (AttnBlock, level->n_blocks);
      for (int j = 0; j < level->n_blocks; j++)
        {
          g_autofree char *block = g_strdup_printf ("encoder.down.%d.block.%d", i, j);
          g_autofree char *attn = g_strdup_printf ("encoder.down.%d.attn.%d", i, j);

          if (!bind_resnet_block (binder, &level->blocks[j], block, block_in, block_out, side))
            return FALSE;
          block_in = block_out;
          if (level->attn != NULL && !bind_attn_block (binder, &level->attn[j], attn, block_in, side))
            return FALSE;
        }
      if (i != self->n_levels - 1)
        {
          g_autofree char *down = g_strdup_printf ("encoder.down.%d.downsample.conv", i);

          if (!bind_conv (binder, &level->resample, down, block_in, block_in, 3, side, side, &downsample_3x3))
            return FALSE;
          side /= 2;
        }
    }

  return bind_mid (binder, &self->enc_mid, "encoder", block_in, side) &&
         bind_norm (binder, &self->enc_norm_out, "encoder.norm_out", block_in) &&
         bind_conv (binder, &self->enc_conv_out, "encoder.conv_out", block_in, c->z_channels, 3, side, side,
                    &same_3x3) &&
         bind_conv (binder, &self->quant_conv, "quant_conv", c->z_channels, c->embed_dim, 1, side, side,
                    &pointwise);
}

/* taming Decoder: from the coarsest resolution up, num_res_blocks + 1 ResnetBlocks (+ AttnBlocks) each,
 * then an Upsample (nearest 2x and a 3x3 convolution) except after the finest. */
static gboolean
bind_decoder (Binder *binder)
{
  IbVqgan *self = binder->self;
  const IbVqganConfig *c = self->config;
  int side = self->token_height;
  int block_in = c->ch * c->ch_mult[self->n_levels - 1];

  if (!bind_conv (binder, &self->post_quant_conv, "post_quant_conv", c->embed_dim, c->z_channels, 1, side,
                  side, &pointwise) ||
      !bind_conv (binder, &self->dec_conv_in, "decoder.conv_in", c->z_channels, block_in, 3, side, side,
                  &same_3x3) ||
      !bind_mid (binder, &self->dec_mid, "decoder", block_in, side))
    return FALSE;

  self->up = g_new0 (Level, self->n_levels);
  for (int i = self->n_levels - 1; i >= 0; i--)
    {
      Level *level = &self->up[i];
      int block_out = c->ch * c->ch_mult[i];

      level->n_blocks = c->num_res_blocks + 1;
      level->blocks = g_new0 (ResnetBlock, level->n_blocks);
      if (has_attention_at (c, side))
        level->attn = g_new0 (AttnBlock, level->n_blocks);
      for (int j = 0; j < level->n_blocks; j++)
        {
          g_autofree char *block = g_strdup_printf ("decoder.up.%d.block.%d", i, j);
          g_autofree char *attn = g_strdup_printf ("decoder.up.%d.attn.%d", i, j);

          if (!bind_resnet_block (binder, &level->blocks[j], block, block_in, block_out, side))
            return FALSE;
          block_in = block_out;
          if (level->attn != NULL && !bind_attn_block (binder, &level->attn[j], attn, block_in, side))
            return FALSE;
        }
      if (i != 0)
        {
          g_autofree char *up = g_strdup_printf ("decoder.up.%d.upsample.conv", i);

          side *= 2;
          if (!bind_conv (binder, &level->resample, up, block_in, block_in, 3, side, side, &same_3x3))
            return FALSE;
        }
    }

  return bind_norm (binder, &self->dec_norm_out, "decoder.norm_out", block_in) &&
         bind_conv (binder, &self->dec_conv_out, "decoder.conv_out", block_in, c->out_ch, 3, side, side,
                    &same_3x3);
}

/* The used codebook rows, widened to f32 in token order: small (K x embed_dim), and it turns both the
 * nearest-code search and the token lookup into plain indexing. */
static gboolean
bind_codebook (Binder *binder)
{
  IbVqgan *self = binder->self;
  const IbVqganConfig *c = self->config;
  const int64_t shape[] = { c->n_embed, c->embed_dim };
  const IbTensor *embedding;

  if (!bind_tensor (binder, &embedding, 2, shape, "quantize.embedding.weight"))
    return FALSE;

  self->codebook = ib_try_alloc_n ((gsize) self->n_codes * self->embed_dim, sizeof (float), "the VQGAN's codebook",
                                   binder->error);
  if (self->codebook == NULL)
    return FALSE;
  for (int i = 0; i < self->n_codes; i++)
    {
      int row = c->n_remap > 0 ? c->remap[i] : i;

      if (row < 0 || row >= c->n_embed)
        {
          g_set_error (binder->error, IB_ERROR, IB_ERROR_INVALID,
                       "VQGAN remap entry %d names codebook row %d of %d", i, row, c->n_embed);
          return FALSE;
        }
      ib_tensor_rows_f32 (embedding, row, 1, self->codebook + (gsize) i * self->embed_dim);
    }
  return TRUE;
}

static void
level_clear (Level *level)
{
  g_clear_pointer (&level->blocks, g_free);
  g_clear_pointer (&level->attn, g_free);
}

void
ib_vqgan_free (IbVqgan *self)
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
  g_free (self->codebook);
  g_free (self);
}

IbVqgan *
ib_vqgan_new (IbModelFile  *file,
              GError      **error)
{
  g_return_val_if_fail (file != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  const IbModelConfig *model_config = ib_model_file_get_config (file);
  const IbVqganConfig *c = &model_config->vqgan;
  g_autoptr (IbVqgan) self = g_new0 (IbVqgan, 1);
  Binder binder = { self, error };

  self->file = file;
  self->config = c;
  self->resolution = c->resolution;
  self->n_levels = c->n_ch_mult;
  self->token_height = model_config->token_height;
  self->token_width = model_config->token_width;
  self->n_codes = c->n_remap > 0 ? c->n_remap : c->n_embed;
  self->embed_dim = c->embed_dim;

  /* The API exchanges RGB images; the config format allows other channel counts. */
  if (c->in_channels != 3 || c->out_ch != 3)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_UNSUPPORTED, "The VQGAN reads %d and writes %d image channels; "
                   "only RGB (3) is supported", c->in_channels, c->out_ch);
      return NULL;
    }
  if (self->n_levels < 1 || self->n_levels > IB_MAX_CH_MULT
      || self->resolution % (1 << (self->n_levels - 1)) != 0
      || self->token_height != self->resolution >> (self->n_levels - 1)
      || self->token_width != self->token_height)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_INVALID,
                   "The VQGAN's resolution %d and %d levels do not give the %dx%d token grid",
                   self->resolution, self->n_levels, self->token_height, self->token_width);
      return NULL;
    }

  if (!bind_encoder (&binder) || !bind_codebook (&binder) || !bind_decoder (&binder))
    return NULL;
  note_activation (&binder, self->embed_dim, self->token_height, self->token_width);

  return g_steal_pointer (&self);
}

/* Running */

/* The memory of one call: three feature maps that the layers rotate through, the convolution scratch and
 * the attention operands. */
typedef struct
{
  float *memory;
  float *cur;                   /* the current feature map */
  float *tmp1;
  float *tmp2;
  float *conv_scratch;
  gsize n_conv_scratch;
  float *attn_k;
  float *attn_v;
  float *scores;
  gsize n_scores;
  GCancellable *cancellable;    /* checked after each block */
  GError **error;               /* where a cancellation is reported */
} Work;

/* After a block: a cancelled call stops there. A block at the full resolution is the longest wait (a
 * fraction of a second for a 256 px VQGAN on a few cores). */
static gboolean
work_cancelled (Work *work)
{
  return g_cancellable_set_error_if_cancelled (work->cancellable, work->error);
}

/* A fresh 160 MiB per call (at 256 px) would otherwise cost 40000 page faults; in huge pages it is 80. */
static float *
work_alloc (gsize bytes)
{
  if (ib_alloc_fault_point ())
    return NULL;
#ifdef MADV_HUGEPAGE
  void *memory = NULL;

  if (posix_memalign (&memory, HUGE_PAGE_SIZE, bytes) != 0)
    return NULL;
  if (bytes >= HUGE_PAGE_SIZE)
    madvise (memory, bytes, MADV_HUGEPAGE);
  return memory;
#else
  return g_try_malloc (bytes);
#endif
}

static void
work_free (float *memory)
{
#ifdef MADV_HUGEPAGE
  free (memory);
#else
  g_free (memory);
#endif
}

static gboolean
work_init (Work     *work,
           IbVqgan  *self,
           GError  **error)
{
  gsize sizes[] = {
    self->max_activation, self->max_activation, self->max_activation, self->max_conv_scratch,
    self->max_attention, self->max_attention, self->max_scores,
  };
  gsize total = 0;

  for (gsize i = 0; i < G_N_ELEMENTS (sizes); i++)
    if (!g_size_checked_add (&total, total, sizes[i]))
      total = G_MAXSIZE;
  work->memory = total <= G_MAXSIZE / sizeof (float) ? work_alloc (total * sizeof (float)) : NULL;
  if (work->memory == NULL)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_NO_MEMORY, "Not enough memory for the VQGAN's working buffers "
                   "(%" G_GSIZE_FORMAT " MiB)", total >> 18);
      return FALSE;
    }

  float *p = work->memory;
  work->cur = p, p += self->max_activation;
  work->tmp1 = p, p += self->max_activation;
  work->tmp2 = p, p += self->max_activation;
  work->conv_scratch = p, p += self->max_conv_scratch;
  work->n_conv_scratch = self->max_conv_scratch;
  work->attn_k = p, p += self->max_attention;
  work->attn_v = p, p += self->max_attention;
  work->scores = p;
  work->n_scores = self->max_scores;
  return TRUE;
}

static void
work_clear (Work *work)
{
  g_clear_pointer (&work->memory, work_free);
}

static void
swap_buffers (float **a,
              float **b)
{
  float *t = *a;
  *a = *b;
  *b = t;
}

static void
conv (Work                 *work,
      float                *y,
      const float          *x,
      int                   c_in,
      int                   h,
      int                   w,
      const Conv           *layer,
      const IbConvGeometry *geometry)
{
  ib_conv2d_with_scratch (y, x, c_in, h, w, layer->weight, layer->bias, geometry,
                          work->conv_scratch, work->n_conv_scratch, NULL, NULL);
}

static void
group_norm_swish (float       *y,
                  const float *x,
                  int          channels,
                  gsize        hw,
                  const Norm  *norm)
{
  ib_group_norm (y, x, channels, (int) hw, NORM_GROUPS, norm->weight, norm->bias, NORM_EPS);
  ib_swish (y, (gsize) channels * hw);
}

/* h = conv2(swish(GN2(conv1(swish(GN1(x)))))); x + h, or nin_shortcut(x) + h. Leaves the result in
 * work->cur. */
static void
resnet_block_forward (Work              *work,
                      const ResnetBlock *block,
                      int                side)
{
  gsize hw = (gsize) side * side;
  float *x = work->cur;
  float *a = work->tmp1;
  float *t = work->tmp2;

  group_norm_swish (a, x, block->c_in, hw, &block->norm1);
  conv (work, t, a, block->c_in, side, side, &block->conv1, &same_3x3);
  group_norm_swish (t, t, block->c_out, hw, &block->norm2);
  conv (work, a, t, block->c_out, side, side, &block->conv2, &same_3x3);
  if (block->nin_shortcut.weight != NULL)
    {
      conv (work, t, x, block->c_in, side, side, &block->nin_shortcut, &pointwise);
      ib_add (a, t, (gsize) block->c_out * hw);
    }
  else
    {
      ib_add (a, x, (gsize) block->c_out * hw);
    }
  work->cur = a;
  work->tmp1 = x;
}

/* softmax(q^T k / sqrt(C)) over all positions, in CHW: out[:, i] = sum_j v[:, j] p[i, j]. Each thread of
 * the team takes a range of query positions, a block of them at a time, with single-threaded sgemms (as
 * everywhere in the engine: one OpenMP team, OpenBLAS on one thread inside it). */
static void
attention_chw (Work        *work,
               float       *out,
               const float *q,
               const float *k,
               const float *v,
               int          channels,
               gsize        hw)
{
  float scale = 1.0f / sqrtf ((float) channels);
  int n_threads = (int) MIN ((gsize) ib_get_num_threads (), MIN (hw, work->n_scores / hw));

  if ((double) hw * (double) hw * channels < (double) (1 << 18))
    n_threads = 1;
  gsize per_thread = work->n_scores / (gsize) n_threads;
  gsize block = per_thread / hw;

#pragma omp parallel num_threads(n_threads)
  {
    int t = omp_get_thread_num ();
    int nt = omp_get_num_threads ();
    gsize lo = hw * (gsize) t / (gsize) nt;
    gsize hi = hw * (gsize) (t + 1) / (gsize) nt;
    float *scores = work->scores + (gsize) t * per_thread;

    for (gsize i0 = lo; i0 < hi; i0 += block)
      {
        gsize n = MIN (block, hi - i0);

        cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans,
                     (int) n, (int) hw, channels,
                     scale, q + i0, (int) hw,
                     k, (int) hw,
                     0.0f, scores, (int) hw);

        for (gsize i = 0; i < n; i++)
          {
            float *row = scores + i * hw;
            float max = row[0];
            double sum = 0.0;

            for (gsize j = 1; j < hw; j++)
              max = MAX (max, row[j]);
            for (gsize j = 0; j < hw; j++)
              {
                row[j] = expf (row[j] - max);
                sum += row[j];
              }
            float inv = (float) (1.0 / sum);
            for (gsize j = 0; j < hw; j++)
              row[j] *= inv;
          }

        cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans,
                     channels, (int) n, (int) hw,
                     1.0f, v, (int) hw,
                     scores, (int) hw,
                     0.0f, out + i0, (int) hw);
      }
  }
}

/* x + proj_out(attention(q(h), k(h), v(h))), h = GN(x); single head over all positions. The result stays
 * in work->cur. */
static void
attn_block_forward (Work            *work,
                    const AttnBlock *attn,
                    int              side)
{
  gsize hw = (gsize) side * side;
  int c = attn->channels;
  float *x = work->cur;
  float *h = work->tmp1;
  float *q = work->tmp2;

  ib_group_norm (h, x, c, (int) hw, NORM_GROUPS, attn->norm.weight, attn->norm.bias, NORM_EPS);
  conv (work, q, h, c, side, side, &attn->q, &pointwise);
  conv (work, work->attn_k, h, c, side, side, &attn->k, &pointwise);
  conv (work, work->attn_v, h, c, side, side, &attn->v, &pointwise);
  attention_chw (work, h, q, work->attn_k, work->attn_v, c, hw);
  conv (work, q, h, c, side, side, &attn->proj_out, &pointwise);
  ib_add (x, q, (gsize) c * hw);
}

static gboolean
mid_forward (Work      *work,
             const Mid *mid,
             int        side)
{
  resnet_block_forward (work, &mid->block_1, side);
  attn_block_forward (work, &mid->attn_1, side);
  resnet_block_forward (work, &mid->block_2, side);
  return !work_cancelled (work);
}

static gboolean
level_blocks_forward (Work        *work,
                      const Level *level,
                      int          side)
{
  for (int j = 0; j < level->n_blocks; j++)
    {
      resnet_block_forward (work, &level->blocks[j], side);
      if (level->attn != NULL)
        attn_block_forward (work, &level->attn[j], side);
      if (work_cancelled (work))
        return FALSE;
    }
  return TRUE;
}

/* image (3 x R x R) -> quant_conv output (embed_dim x th x tw), written to latent, or with latent NULL
 * to a free work buffer. Returns where it is, or NULL when cancelled. */
static float *
encoder_forward (IbVqgan     *self,
                 Work        *work,
                 const float *image,
                 float       *latent)
{
  const IbVqganConfig *c = self->config;
  int side = self->resolution;
  int channels = c->ch;

  conv (work, work->cur, image, c->in_channels, side, side, &self->enc_conv_in, &same_3x3);
  for (int i = 0; i < self->n_levels; i++)
    {
      const Level *level = &self->down[i];

      if (!level_blocks_forward (work, level, side))
        return NULL;
      channels = level->blocks[level->n_blocks - 1].c_out;
      if (level->resample.weight != NULL)
        {
          conv (work, work->tmp1, work->cur, channels, side, side, &level->resample, &downsample_3x3);
          swap_buffers (&work->cur, &work->tmp1);
          side /= 2;
        }
    }

  if (!mid_forward (work, &self->enc_mid, side))
    return NULL;
  group_norm_swish (work->tmp1, work->cur, channels, (gsize) side * side, &self->enc_norm_out);
  conv (work, work->tmp2, work->tmp1, channels, side, side, &self->enc_conv_out, &same_3x3);
  if (latent == NULL)
    latent = work->tmp1;
  conv (work, latent, work->tmp2, c->z_channels, side, side, &self->quant_conv, &pointwise);
  return latent;
}

/* z_q (embed_dim x th x tw, in work->tmp2) -> image (3 x R x R); FALSE when cancelled. */
static gboolean
decoder_forward (IbVqgan *self,
                 Work    *work,
                 float   *image)
{
  const IbVqganConfig *c = self->config;
  int side = self->token_height;
  int channels = self->dec_mid.block_1.c_in;

  conv (work, work->tmp1, work->tmp2, c->embed_dim, side, side, &self->post_quant_conv, &pointwise);
  conv (work, work->cur, work->tmp1, c->z_channels, side, side, &self->dec_conv_in, &same_3x3);
  if (!mid_forward (work, &self->dec_mid, side))
    return FALSE;

  for (int i = self->n_levels - 1; i >= 0; i--)
    {
      const Level *level = &self->up[i];

      if (!level_blocks_forward (work, level, side))
        return FALSE;
      channels = level->blocks[level->n_blocks - 1].c_out;
      if (level->resample.weight != NULL)
        {
          ib_upsample_nearest2x (work->tmp1, work->cur, channels, side, side);
          side *= 2;
          conv (work, work->cur, work->tmp1, channels, side, side, &level->resample, &same_3x3);
        }
    }

  group_norm_swish (work->tmp1, work->cur, channels, (gsize) side * side, &self->dec_norm_out);
  conv (work, image, work->tmp1, channels, side, side, &self->dec_conv_out, &same_3x3);
  return TRUE;
}

gboolean
ib_vqgan_encode_latent (IbVqgan      *self,
                        const float  *image,
                        float        *latent,
                        GError      **error)
{
  Work work = { 0 };

  g_return_val_if_fail (self != NULL && image != NULL && latent != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!work_init (&work, self, error))
    return FALSE;
  work.error = error;
  encoder_forward (self, &work, image, latent);
  work_clear (&work);
  return TRUE;
}

gboolean
ib_vqgan_encode (IbVqgan      *self,
                 const float  *image,
                 int32_t      *tokens,
                 GCancellable *cancellable,
                 GError      **error)
{
  Work work = { 0 };

  g_return_val_if_fail (self != NULL && image != NULL && tokens != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  gsize n = (gsize) self->token_height * self->token_width;
  int dim = self->embed_dim;

  if (!work_init (&work, self, error))
    return FALSE;
  work.cancellable = cancellable;
  work.error = error;

  /* Positions side by side, one embed_dim vector each, for the search. */
  const float *latent = encoder_forward (self, &work, image, NULL);
  if (latent == NULL)
    {
      work_clear (&work);
      return FALSE;
    }
  float *vectors = latent == work.tmp2 ? work.tmp1 : work.tmp2;
  for (gsize p = 0; p < n; p++)
    for (int d = 0; d < dim; d++)
      vectors[p * dim + d] = latent[(gsize) d * n + p];

  ib_nearest_code (tokens, vectors, (int) n, dim, self->codebook, NULL, self->n_codes);
  work_clear (&work);
  return TRUE;
}

gboolean
ib_vqgan_decode (IbVqgan        *self,
                 const int32_t  *tokens,
                 float          *image,
                 GCancellable   *cancellable,
                 GError        **error)
{
  Work work = { 0 };

  g_return_val_if_fail (self != NULL && tokens != NULL && image != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  gsize n = (gsize) self->token_height * self->token_width;
  int dim = self->embed_dim;

  for (gsize p = 0; p < n; p++)
    if (tokens[p] < 0 || tokens[p] >= self->n_codes)
      {
        g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT,
                     "Token %d at row %d, column %d is not an image token (0 to %d)",
                     tokens[p], (int) (p / self->token_width), (int) (p % self->token_width),
                     self->n_codes - 1);
        return FALSE;
      }

  if (!work_init (&work, self, error))
    return FALSE;

  /* z_q in CHW: channel d of position p is element d of the token's codebook row. */
  float *z_q = work.tmp2;
  for (int d = 0; d < dim; d++)
    for (gsize p = 0; p < n; p++)
      z_q[(gsize) d * n + p] = self->codebook[(gsize) tokens[p] * dim + d];

  work.cancellable = cancellable;
  work.error = error;
  gboolean done = decoder_forward (self, &work, image);
  work_clear (&work);
  return done;
}
