/* ib-mask.c: the mask's storage, its changes (undo/redo) and the whole-mask operations. The painting
 * operations (dabs, strokes, shapes, grow/shrink) are in ib-mask-paint.c.
 *
 * A change saves copy-on-write tiles of the pixels as they were at begin_change, the first time an operation
 * touches them; end_change compares those tiles with the mask to find the tight rectangle that differs, and
 * keeps only that rectangle's before and after, packed: a mask is mostly long runs of one value, so a change
 * of a 4K mask keeps kilobytes where its pixels are megabytes, and the undo history holds that many more. */
#include "ib-mask-private.h"

#include <string.h>

#include "ib-edit-window.h"

#define TILE 64

struct _IbMaskChange
{
  gatomicrefcount ref_count;
  int mask_width;
  int mask_height;
  GdkRectangle rect;
  guint8 *before;               /* rect.width x rect.height pixels, rows packed, then packed (see Packer) */
  gsize before_size;
  guint8 *after;
  gsize after_size;
};

G_DEFINE_BOXED_TYPE (IbMaskChange, ib_mask_change, ib_mask_change_ref, ib_mask_change_unref)

G_DEFINE_FINAL_TYPE (IbMask, ib_mask, G_TYPE_OBJECT)

enum
{
  SIGNAL_CHANGED,
  SIGNAL_CHANGE_COMMITTED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void
ib_mask_finalize (GObject *object)
{
  IbMask *self = IB_MASK (object);

  if (self->saved != NULL)
    {
      for (int i = 0; i < self->tiles_x * self->tiles_y; i++)
        g_free (self->saved[i]);
      g_free (self->saved);
    }
  g_free (self->data);
  G_OBJECT_CLASS (ib_mask_parent_class)->finalize (object);
}

static void
ib_mask_class_init (IbMaskClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = ib_mask_finalize;

  /* The pixels of the rectangle changed (an edit, undo or redo): for redraws. */
  signals[SIGNAL_CHANGED] =
    g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 4, G_TYPE_INT, G_TYPE_INT, G_TYPE_INT, G_TYPE_INT);
  /* One finished undoable change (not emitted by undo or redo). */
  signals[SIGNAL_CHANGE_COMMITTED] =
    g_signal_new ("change-committed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, IB_TYPE_MASK_CHANGE);
}

static void
ib_mask_init (IbMask *self)
{
}

IbMask *
ib_mask_new (int width,
             int height)
{
  IbMask *self;
  gsize size;

  g_return_val_if_fail (width > 0 && height > 0, NULL);
  if (!g_size_checked_mul (&size, width, height))
    g_return_val_if_reached (NULL);

  self = g_object_new (IB_TYPE_MASK, NULL);
  self->width = width;
  self->height = height;
  self->stride = width;
  self->data = g_malloc0 (size);
  self->tiles_x = (width + TILE - 1) / TILE;
  self->tiles_y = (height + TILE - 1) / TILE;
  self->bounds_valid = TRUE;    /* empty */
  return self;
}

IbMask *
ib_mask_new_from_data (int           width,
                       int           height,
                       const guint8 *data,
                       int           stride)
{
  IbMask *self;

  g_return_val_if_fail (data != NULL, NULL);
  g_return_val_if_fail (stride >= width, NULL);

  self = ib_mask_new (width, height);
  if (self == NULL)
    return NULL;
  for (int y = 0; y < height; y++)
    memcpy (self->data + (gsize) y * self->stride, data + (gsize) y * stride, width);
  self->bounds_valid = FALSE;
  return self;
}

int
ib_mask_get_width (IbMask *self)
{
  g_return_val_if_fail (IB_IS_MASK (self), 0);
  return self->width;
}

int
ib_mask_get_height (IbMask *self)
{
  g_return_val_if_fail (IB_IS_MASK (self), 0);
  return self->height;
}

const guint8 *
ib_mask_get_data (IbMask *self,
                  int    *stride)
{
  g_return_val_if_fail (IB_IS_MASK (self), NULL);
  if (stride != NULL)
    *stride = self->stride;
  return self->data;
}

guint8
ib_mask_get_value (IbMask *self,
                   int     x,
                   int     y)
{
  g_return_val_if_fail (IB_IS_MASK (self), 0);
  if (x < 0 || y < 0 || x >= self->width || y >= self->height)
    return 0;
  return self->data[(gsize) y * self->stride + x];
}

gboolean
ib_mask_get_bounds (IbMask       *self,
                    GdkRectangle *bounds)
{
  g_return_val_if_fail (IB_IS_MASK (self), FALSE);

  /* Cached: the canvas asks on every redraw of the token grid, a scan of a 4K mask is milliseconds. */
  if (!self->bounds_valid)
    {
      IbBox box = ib_mask_bounding_box (self->data, self->width, self->height, self->stride);
      self->bounds = (GdkRectangle) { box.x, box.y, box.width, box.height };
      self->bounds_valid = TRUE;
    }
  if (bounds != NULL)
    *bounds = self->bounds;
  return self->bounds.width > 0;
}

gboolean
ib_mask_is_empty (IbMask *self)
{
  g_return_val_if_fail (IB_IS_MASK (self), TRUE);
  return !ib_mask_get_bounds (self, NULL);
}

void
ib_mask_begin_change (IbMask *self)
{
  g_return_if_fail (IB_IS_MASK (self));

  if (self->change_depth++ > 0)
    return;
  g_assert (self->saved == NULL);
  self->saved = g_new0 (guint8 *, (gsize) self->tiles_x * self->tiles_y);
}

/* The tight box of the pixels that differ from the saved tiles; FALSE when none does. */
static gboolean
changed_box (IbMask       *self,
             GdkRectangle *rect)
{
  int x0 = G_MAXINT, y0 = G_MAXINT, x1 = -1, y1 = -1;

  for (int ty = 0; ty < self->tiles_y; ty++)
    for (int tx = 0; tx < self->tiles_x; tx++)
      {
        const guint8 *tile = self->saved[ty * self->tiles_x + tx];
        int w = MIN (TILE, self->width - tx * TILE);
        int h = MIN (TILE, self->height - ty * TILE);

        if (tile == NULL)
          continue;
        for (int y = 0; y < h; y++)
          {
            const guint8 *now = self->data + (gsize) (ty * TILE + y) * self->stride + tx * TILE;
            const guint8 *was = tile + y * TILE;
            if (memcmp (now, was, w) == 0)
              continue;
            for (int x = 0; x < w; x++)
              if (now[x] != was[x])
                {
                  x0 = MIN (x0, tx * TILE + x);
                  x1 = MAX (x1, tx * TILE + x);
                }
            y0 = MIN (y0, ty * TILE + y);
            y1 = MAX (y1, ty * TILE + y);
          }
      }
  if (x1 < 0)
    return FALSE;
  *rect = (GdkRectangle) { x0, y0, x1 - x0 + 1, y1 - y0 + 1 };
  return TRUE;
}

/* The packing of a change's pixels, one stream over the rectangle's rows: a byte c < 0x80 is followed by c + 1
 * literal bytes; 0x80 <= c < 0xff is a run of c - 0x80 + MIN_RUN copies of the byte that follows; 0xff is a
 * run whose length follows as a LEB128 number, then its byte. */
#define MIN_RUN 3
#define MAX_LITERAL 128
#define LONG_RUN 0xff

typedef struct
{
  GByteArray *out;
  guint8 literal[MAX_LITERAL];
  guint n_literal;
  guint8 run_value;
  gsize run_length;
} Packer;

static void
packer_init (Packer *packer)
{
  *packer = (Packer) { .out = g_byte_array_sized_new (4096) };
}

static void
packer_flush_literal (Packer *packer)
{
  if (packer->n_literal == 0)
    return;
  guint8 control = (guint8) (packer->n_literal - 1);
  g_byte_array_append (packer->out, &control, 1);
  g_byte_array_append (packer->out, packer->literal, packer->n_literal);
  packer->n_literal = 0;
}

static void
packer_flush_run (Packer *packer)
{
  gsize n = packer->run_length;

  packer->run_length = 0;
  if (n < MIN_RUN)
    {
      for (gsize i = 0; i < n; i++)
        {
          if (packer->n_literal == MAX_LITERAL)
            packer_flush_literal (packer);
          packer->literal[packer->n_literal++] = packer->run_value;
        }
      return;
    }
  packer_flush_literal (packer);
  if (n - MIN_RUN < LONG_RUN - 0x80)
    {
      guint8 run[2] = { (guint8) (0x80 + n - MIN_RUN), packer->run_value };
      g_byte_array_append (packer->out, run, 2);
      return;
    }
  guint8 run[2 + 10] = { LONG_RUN }, used = 1;
  for (; n >= 0x80; n >>= 7)
    run[used++] = (guint8) (0x80 | (n & 0x7f));
  run[used++] = (guint8) n;
  run[used++] = packer->run_value;
  g_byte_array_append (packer->out, run, used);
}

static void
packer_feed (Packer       *packer,
             const guint8 *data,
             gsize         n)
{
  for (gsize i = 0; i < n;)
    {
      if (packer->run_length > 0 && data[i] == packer->run_value)
        {
          gsize end = i + 1;
          while (end < n && data[end] == packer->run_value)
            end++;
          packer->run_length += end - i;
          i = end;
          continue;
        }
      packer_flush_run (packer);
      packer->run_value = data[i++];
      packer->run_length = 1;
    }
}

/* The packed bytes, exactly as large as they are; *size set. */
static guint8 *
packer_finish (Packer *packer,
               gsize  *size)
{
  packer_flush_run (packer);
  packer_flush_literal (packer);
  *size = packer->out->len;
  return g_realloc (g_byte_array_free (g_steal_pointer (&packer->out), FALSE), MAX (*size, 1));
}

/* Writes packed pixels into width x height pixels at dst (rows stride apart). */
static void
unpack_pixels (const guint8 *packed,
               gsize         size,
               guint8       *dst,
               gsize         stride,
               int           width,
               int           height)
{
  gsize at = 0, x = 0;
  int y = 0;

  while (at < size && y < height)
    {
      guint8 control = packed[at++];
      gsize n;
      const guint8 *literal = NULL;
      guint8 value = 0;

      if (control < 0x80)
        {
          n = (gsize) control + 1;
          literal = packed + at;
          at += n;
        }
      else if (control < LONG_RUN)
        n = (gsize) control - 0x80 + MIN_RUN;
      else
        {
          n = 0;
          for (int shift = 0; at < size; shift += 7)
            {
              guint8 part = packed[at++];
              n |= (gsize) (part & 0x7f) << shift;
              if (part < 0x80)
                break;
            }
        }
      /* A run's value follows its length; checked before it is read. */
      if (literal == NULL)
        {
          g_return_if_fail (at < size);
          value = packed[at++];
        }
      g_return_if_fail (at <= size);
      /* Across row ends: the stream has no rows. */
      while (n > 0 && y < height)
        {
          gsize chunk = MIN (n, (gsize) width - x);
          guint8 *out = dst + (gsize) y * stride + x;
          if (literal != NULL)
            {
              memcpy (out, literal, chunk);
              literal += chunk;
            }
          else
            memset (out, value, chunk);
          n -= chunk;
          x += chunk;
          if (x == (gsize) width)
            {
              x = 0;
              y++;
            }
        }
      g_return_if_fail (n == 0);
    }
  g_return_if_fail (at == size && y == height);
}

static IbMaskChange *
change_alloc (int                 mask_width,
              int                 mask_height,
              const GdkRectangle *rect)
{
  IbMaskChange *change = g_new0 (IbMaskChange, 1);

  g_atomic_ref_count_init (&change->ref_count);
  change->mask_width = mask_width;
  change->mask_height = mask_height;
  change->rect = *rect;
  return change;
}

IbMaskChange *
ib_mask_change_new (int                 mask_width,
                    int                 mask_height,
                    const GdkRectangle *rect,
                    const guint8       *before,
                    const guint8       *after)
{
  IbMaskChange *change;
  gsize n;

  g_return_val_if_fail (rect != NULL && before != NULL && after != NULL, NULL);
  g_return_val_if_fail (rect->x >= 0 && rect->y >= 0 && rect->width > 0 && rect->height > 0, NULL);
  /* Subtractions: no sum of untrusted sizes can overflow. */
  g_return_val_if_fail (rect->width <= mask_width - rect->x && rect->height <= mask_height - rect->y, NULL);

  change = change_alloc (mask_width, mask_height, rect);
  n = (gsize) rect->width * rect->height;
  Packer packer;
  packer_init (&packer);
  packer_feed (&packer, before, n);
  change->before = packer_finish (&packer, &change->before_size);
  packer_init (&packer);
  packer_feed (&packer, after, n);
  change->after = packer_finish (&packer, &change->after_size);
  return change;
}

static guint8 *
dup_pixels (IbMaskChange *change,
            const guint8 *packed,
            gsize         size)
{
  guint8 *pixels = g_malloc ((gsize) change->rect.width * change->rect.height);
  unpack_pixels (packed, size, pixels, change->rect.width, change->rect.width, change->rect.height);
  return pixels;
}

guint8 *
ib_mask_change_dup_before (IbMaskChange *change)
{
  g_return_val_if_fail (change != NULL, NULL);
  return dup_pixels (change, change->before, change->before_size);
}

guint8 *
ib_mask_change_dup_after (IbMaskChange *change)
{
  g_return_val_if_fail (change != NULL, NULL);
  return dup_pixels (change, change->after, change->after_size);
}

static IbMaskChange *
make_change (IbMask             *self,
             const GdkRectangle *rect)
{
  IbMaskChange *change = change_alloc (self->width, self->height, rect);
  g_autofree guint8 *before = g_malloc (rect->width);
  Packer packed_before, packed_after;

  packer_init (&packed_before);
  packer_init (&packed_after);
  for (int y = 0; y < rect->height; y++)
    {
      int py = rect->y + y;
      const guint8 *now = self->data + (gsize) py * self->stride;

      packer_feed (&packed_after, now + rect->x, rect->width);
      /* Before: the saved tile where one was saved, otherwise the pixels never changed. */
      for (int x = rect->x; x < rect->x + rect->width;)
        {
          int tx = x / TILE, end = MIN ((tx + 1) * TILE, rect->x + rect->width);
          const guint8 *tile = self->saved[(py / TILE) * self->tiles_x + tx];

          if (tile != NULL)
            memcpy (before + (x - rect->x), tile + (py % TILE) * TILE + (x - tx * TILE), end - x);
          else
            memcpy (before + (x - rect->x), now + x, end - x);
          x = end;
        }
      packer_feed (&packed_before, before, rect->width);
    }
  change->before = packer_finish (&packed_before, &change->before_size);
  change->after = packer_finish (&packed_after, &change->after_size);
  return change;
}

void
ib_mask_end_change (IbMask *self)
{
  GdkRectangle rect;

  g_return_if_fail (IB_IS_MASK (self));
  g_return_if_fail (self->change_depth > 0);

  if (--self->change_depth > 0)
    return;
  if (changed_box (self, &rect))
    {
      g_autoptr(IbMaskChange) change = make_change (self, &rect);
      g_signal_emit (self, signals[SIGNAL_CHANGE_COMMITTED], 0, change);
    }
  for (int i = 0; i < self->tiles_x * self->tiles_y; i++)
    g_free (self->saved[i]);
  g_clear_pointer (&self->saved, g_free);
}

gboolean
ib_mask_op_begin (IbMask *self)
{
  if (self->change_depth > 0)
    return FALSE;
  ib_mask_begin_change (self);
  return TRUE;
}

void
ib_mask_op_end (IbMask         *self,
                gboolean        own_change,
                const IbDirty  *dirty)
{
  if (dirty->x1 >= dirty->x0)
    {
      self->bounds_valid = FALSE;
      g_signal_emit (self, signals[SIGNAL_CHANGED], 0, dirty->x0, dirty->y0,
                     dirty->x1 - dirty->x0 + 1, dirty->y1 - dirty->y0 + 1);
    }
  if (own_change)
    ib_mask_end_change (self);
}

void
ib_mask_touch (IbMask *self,
               int     x0,
               int     y0,
               int     x1,
               int     y1)
{
  x0 = MAX (x0, 0);
  y0 = MAX (y0, 0);
  x1 = MIN (x1, self->width);
  y1 = MIN (y1, self->height);
  if (self->saved == NULL || x0 >= x1 || y0 >= y1)
    return;
  for (int ty = y0 / TILE; ty <= (y1 - 1) / TILE; ty++)
    for (int tx = x0 / TILE; tx <= (x1 - 1) / TILE; tx++)
      {
        guint8 **tile = &self->saved[ty * self->tiles_x + tx];
        int w = MIN (TILE, self->width - tx * TILE);
        int h = MIN (TILE, self->height - ty * TILE);

        if (*tile != NULL)
          continue;
        *tile = g_malloc (TILE * TILE);
        for (int y = 0; y < h; y++)
          memcpy (*tile + y * TILE, self->data + (gsize) (ty * TILE + y) * self->stride + tx * TILE, w);
      }
}

void
ib_mask_dirty_row (IbDirty *dirty,
                   int      y,
                   int      x0,
                   int      x1)
{
  dirty->x0 = MIN (dirty->x0, x0);
  dirty->x1 = MAX (dirty->x1, x1);
  dirty->y0 = MIN (dirty->y0, y);
  dirty->y1 = MAX (dirty->y1, y);
}

/* Applies fn to every pixel of the rectangle [x0, x1) x [y0, y1) (already clipped), tracking what changed. */
static void
map_pixels (IbMask *self,
            int     x0,
            int     y0,
            int     x1,
            int     y1,
            guint8 (*fn) (guint8))
{
  gboolean own = ib_mask_op_begin (self);
  IbDirty dirty = IB_DIRTY_INIT;

  ib_mask_touch (self, x0, y0, x1, y1);
  for (int y = y0; y < y1; y++)
    {
      guint8 *row = self->data + (gsize) y * self->stride;
      int first = -1, last = -1;

      for (int x = x0; x < x1; x++)
        {
          guint8 v = fn (row[x]);
          if (v == row[x])
            continue;
          row[x] = v;
          if (first < 0)
            first = x;
          last = x;
        }
      if (first >= 0)
        ib_mask_dirty_row (&dirty, y, first, last);
    }
  ib_mask_op_end (self, own, &dirty);
}

static guint8
zero (guint8 v)
{
  return 0;
}

static guint8
full (guint8 v)
{
  return 255;
}

static guint8
invert (guint8 v)
{
  return 255 - v;
}

void
ib_mask_set_pixels (IbMask             *self,
                    const GdkRectangle *rect,
                    const guint8       *data,
                    int                 stride)
{
  gboolean own;
  IbDirty dirty = IB_DIRTY_INIT;

  g_return_if_fail (IB_IS_MASK (self));
  g_return_if_fail (rect != NULL && data != NULL && stride >= rect->width);
  g_return_if_fail (rect->x >= 0 && rect->y >= 0 && rect->width >= 0 && rect->height >= 0);
  g_return_if_fail (rect->width <= self->width - rect->x && rect->height <= self->height - rect->y);

  own = ib_mask_op_begin (self);
  ib_mask_touch (self, rect->x, rect->y, rect->x + rect->width, rect->y + rect->height);
  for (int y = 0; y < rect->height; y++)
    {
      guint8 *row = self->data + (gsize) (rect->y + y) * self->stride;
      const guint8 *src = data + (gsize) y * stride;
      int first = -1, last = -1;

      for (int x = rect->x; x < rect->x + rect->width; x++)
        if (row[x] != src[x - rect->x])
          {
            row[x] = src[x - rect->x];
            if (first < 0)
              first = x;
            last = x;
          }
      if (first >= 0)
        ib_mask_dirty_row (&dirty, rect->y + y, first, last);
    }
  ib_mask_op_end (self, own, &dirty);
}

void
ib_mask_clear (IbMask *self)
{
  GdkRectangle b;

  g_return_if_fail (IB_IS_MASK (self));
  if (ib_mask_get_bounds (self, &b))
    map_pixels (self, b.x, b.y, b.x + b.width, b.y + b.height, zero);
}

void
ib_mask_fill (IbMask *self)
{
  g_return_if_fail (IB_IS_MASK (self));
  map_pixels (self, 0, 0, self->width, self->height, full);
}

void
ib_mask_invert (IbMask *self)
{
  g_return_if_fail (IB_IS_MASK (self));
  map_pixels (self, 0, 0, self->width, self->height, invert);
}

IbMaskChange *
ib_mask_change_ref (IbMaskChange *change)
{
  g_return_val_if_fail (change != NULL, NULL);
  g_atomic_ref_count_inc (&change->ref_count);
  return change;
}

void
ib_mask_change_unref (IbMaskChange *change)
{
  g_return_if_fail (change != NULL);
  if (!g_atomic_ref_count_dec (&change->ref_count))
    return;
  g_free (change->before);
  g_free (change->after);
  g_free (change);
}

gsize
ib_mask_change_get_size (IbMaskChange *change)
{
  g_return_val_if_fail (change != NULL, 0);
  return sizeof *change + change->before_size + change->after_size;
}

void
ib_mask_change_get_rectangle (IbMaskChange *change,
                              GdkRectangle *rect)
{
  g_return_if_fail (change != NULL && rect != NULL);
  *rect = change->rect;
}

static void
write_rect (IbMaskChange *change,
            IbMask       *mask,
            const guint8 *packed,
            gsize         size)
{
  const GdkRectangle *r = &change->rect;

  g_return_if_fail (IB_IS_MASK (mask));
  g_return_if_fail (mask->width == change->mask_width && mask->height == change->mask_height);
  /* Undo inside an open change would leave the change's saved tiles stale. */
  g_return_if_fail (mask->change_depth == 0);

  unpack_pixels (packed, size, mask->data + (gsize) r->y * mask->stride + r->x, mask->stride, r->width, r->height);
  mask->bounds_valid = FALSE;
  g_signal_emit (mask, signals[SIGNAL_CHANGED], 0, r->x, r->y, r->width, r->height);
}

void
ib_mask_change_undo (IbMaskChange *change,
                     IbMask       *mask)
{
  g_return_if_fail (change != NULL);
  write_rect (change, mask, change->before, change->before_size);
}

void
ib_mask_change_redo (IbMaskChange *change,
                     IbMask       *mask)
{
  g_return_if_fail (change != NULL);
  write_rect (change, mask, change->after, change->after_size);
}
