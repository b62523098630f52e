/* ib-webp.c: a WebP's container as the picture intake reads it (ib-webp.h). Layout from the WebP
 * container specification: "RIFF" size "WEBP", then chunks of a four-letter tag, a 32-bit little-endian size
 * and that many bytes, padded to an even size. */
#include "ib-webp.h"

#include <string.h>

#define CHUNK_HEADER 8
#define VP8X_PAYLOAD 10
#define ANMF_HEADER 16          /* X/2, Y/2, width - 1, height - 1, duration (24 bits each), flags */
#define VP8X_ANIMATION 0x02
#define VP8X_ALPHA 0x10

static guint32
read_le24 (const guint8 *p)
{
  return (guint32) p[0] | (guint32) p[1] << 8 | (guint32) p[2] << 16;
}

static guint32
read_le32 (const guint8 *p)
{
  return read_le24 (p) | (guint32) p[3] << 24;
}

static void
write_le24 (guint8  *p,
            guint32  value)
{
  p[0] = value & 0xff;
  p[1] = (value >> 8) & 0xff;
  p[2] = (value >> 16) & 0xff;
}

static void
write_le32 (guint8  *p,
            guint32  value)
{
  write_le24 (p, value);
  p[3] = value >> 24;
}

gboolean
ib_webp_is_complete (GBytes *bytes)
{
  gsize length;
  const guint8 *data = g_bytes_get_data (bytes, &length);
  if (length < 12 || memcmp (data, "RIFF", 4) != 0)
    return FALSE;
  return (guint64) read_le32 (data + 4) + 8 <= length;
}

/* The VP8X header: RIFF, size, WEBP, VP8X, chunk size, flags, 3 reserved bytes, width - 1 and height - 1 in 24
 * bits each; NULL when the bytes are no extended WebP. */
static const guint8 *
vp8x_header (GBytes *bytes)
{
  gsize length;
  const guint8 *data = g_bytes_get_data (bytes, &length);
  if (length < 30 || memcmp (data, "RIFF", 4) != 0 || memcmp (data + 8, "WEBPVP8X", 8) != 0)
    return NULL;
  return data;
}

gboolean
ib_webp_canvas_size (GBytes *bytes,
                     gint64 *width,
                     gint64 *height)
{
  const guint8 *data = vp8x_header (bytes);
  if (data == NULL)
    return FALSE;
  *width = 1 + (gint64) read_le24 (data + 24);
  *height = 1 + (gint64) read_le24 (data + 27);
  return TRUE;
}

gboolean
ib_webp_is_animated (GBytes *bytes)
{
  const guint8 *data = vp8x_header (bytes);
  return data != NULL && (data[20] & VP8X_ANIMATION) != 0;
}

typedef struct
{
  const guint8 *tag;
  const guint8 *payload;
  gsize size;                      /* of the payload, without the padding */
} Chunk;

/* The chunk at *offset of data[0, end), and *offset moved past it; FALSE when it runs past end. */
static gboolean
next_chunk (const guint8 *data,
            gsize         end,
            gsize        *offset,
            Chunk        *chunk)
{
  if (end - *offset < CHUNK_HEADER)
    return FALSE;
  guint32 size = read_le32 (data + *offset + 4);
  if (size > end - *offset - CHUNK_HEADER)
    return FALSE;
  chunk->tag = data + *offset;
  chunk->payload = data + *offset + CHUNK_HEADER;
  chunk->size = size;
  *offset += CHUNK_HEADER + (gsize) size + (size & 1);
  if (*offset > end)
    *offset = end;                 /* a missing pad byte at the very end */
  return TRUE;
}

static void
append_chunk (GByteArray  *out,
              const Chunk *chunk)
{
  guint8 header[CHUNK_HEADER];
  memcpy (header, chunk->tag, 4);
  write_le32 (header + 4, (guint32) chunk->size);
  g_byte_array_append (out, header, CHUNK_HEADER);
  g_byte_array_append (out, chunk->payload, (guint) chunk->size);
  if (chunk->size & 1)
    g_byte_array_append (out, (const guint8 *) "", 1);
}

/* A still WebP of the frame's image chunks: a VP8X header with the alpha flag when an ALPH chunk comes with
 * lossy data (the container's rule), else the bitstream chunk alone. */
static GBytes *
still_file (const Chunk *alpha,
            const Chunk *picture,
            int          width,
            int          height)
{
  GByteArray *out = g_byte_array_new ();
  g_byte_array_append (out, (const guint8 *) "RIFF\0\0\0\0WEBP", 12);
  if (alpha != NULL)
    {
      guint8 vp8x[CHUNK_HEADER + VP8X_PAYLOAD] = { 'V', 'P', '8', 'X', VP8X_PAYLOAD, 0, 0, 0, VP8X_ALPHA };
      write_le24 (vp8x + CHUNK_HEADER + 4, (guint32) width - 1);
      write_le24 (vp8x + CHUNK_HEADER + 7, (guint32) height - 1);
      g_byte_array_append (out, vp8x, sizeof vp8x);
      append_chunk (out, alpha);
    }
  append_chunk (out, picture);
  write_le32 (out->data + 4, out->len - 8);
  return g_byte_array_free_to_bytes (out);
}

GBytes *
ib_webp_first_frame (GBytes             *bytes,
                     IbWebpFrame        *frame,
                     IbWebpFrameProblem *problem)
{
  g_return_val_if_fail (ib_webp_is_animated (bytes), NULL);

  gsize length;
  const guint8 *data = g_bytes_get_data (bytes, &length);
  /* The chunks end where the RIFF header says, or with the file when it is shorter. */
  gsize end = MIN (length, (gsize) read_le32 (data + 4) + 8);
  gint64 canvas_width, canvas_height;
  ib_webp_canvas_size (bytes, &canvas_width, &canvas_height);
  frame->canvas_width = (int) canvas_width;
  frame->canvas_height = (int) canvas_height;

  gboolean seen_anim = FALSE;
  Chunk chunk;
  for (gsize offset = 12; offset < end;)
    {
      if (!next_chunk (data, end, &offset, &chunk))
        {
          *problem = IB_WEBP_FRAME_CUT_SHORT;
          return NULL;
        }
      if (memcmp (chunk.tag, "ANIM", 4) == 0)
        seen_anim = TRUE;
      if (memcmp (chunk.tag, "ANMF", 4) != 0)
        continue;
      if (!seen_anim || chunk.size < ANMF_HEADER)
        break;
      frame->x = 2 * (int) read_le24 (chunk.payload);
      frame->y = 2 * (int) read_le24 (chunk.payload + 3);
      frame->width = 1 + (int) read_le24 (chunk.payload + 6);
      frame->height = 1 + (int) read_le24 (chunk.payload + 9);
      if ((gint64) frame->x + frame->width > frame->canvas_width ||
          (gint64) frame->y + frame->height > frame->canvas_height)
        {
          *problem = IB_WEBP_FRAME_OUTSIDE_CANVAS;
          return NULL;
        }
      /* The frame's own chunks: an optional ALPH, then VP8 or VP8L; others are skipped. */
      const guint8 *frame_data = chunk.payload + ANMF_HEADER;
      gsize frame_end = chunk.size - ANMF_HEADER;
      Chunk inner, alpha = { 0 };
      gboolean has_alpha = FALSE;
      for (gsize inner_offset = 0; inner_offset < frame_end;)
        {
          if (!next_chunk (frame_data, frame_end, &inner_offset, &inner))
            {
              *problem = IB_WEBP_FRAME_CUT_SHORT;
              return NULL;
            }
          if (memcmp (inner.tag, "ALPH", 4) == 0)
            {
              alpha = inner;
              has_alpha = TRUE;
            }
          else if (memcmp (inner.tag, "VP8 ", 4) == 0)
            return still_file (has_alpha ? &alpha : NULL, &inner, frame->width, frame->height);
          else if (memcmp (inner.tag, "VP8L", 4) == 0)
            return still_file (NULL, &inner, frame->width, frame->height);
        }
      *problem = IB_WEBP_FRAME_NO_PICTURE;
      return NULL;
    }
  *problem = IB_WEBP_FRAME_NO_ANIMATION;
  return NULL;
}
