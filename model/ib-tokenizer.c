/* ib-tokenizer.c: the word-level prompt tokenizer; the rules are in ib-tokenizer.h. */
#include "ib-tokenizer.h"

#include "ib-error.h"

#include <string.h>

#define MAX_LENGTH 1024

struct _IbTokenizer
{
  int length;
  int n_vocab;
  char **vocab;
  GHashTable *index;             /* word -> index + 1 (0 is "absent" for g_hash_table_lookup) */
};

static gboolean
is_word_char (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static gboolean
is_word (const char *s)
{
  if (*s == '\0')
    return FALSE;
  for (; *s != '\0'; s++)
    if (!is_word_char (*s))
      return FALSE;
  return TRUE;
}

IbTokenizer *
ib_tokenizer_new (const char *const *vocab,
                  int                n_vocab,
                  int                length,
                  GError           **error)
{
  g_autoptr (IbTokenizer) self = NULL;

  g_return_val_if_fail (vocab != NULL || n_vocab == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (length < 1 || length > MAX_LENGTH)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_INVALID, "The tokenizer length %d is not in 1..%d", length,
                   MAX_LENGTH);
      return NULL;
    }
  if (n_vocab < 2 || g_strcmp0 (vocab[0], "<pad>") != 0 || g_strcmp0 (vocab[1], "<unk>") != 0)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_INVALID,
                   "The tokenizer vocabulary must start with \"<pad>\", \"<unk>\"");
      return NULL;
    }

  self = g_new0 (IbTokenizer, 1);
  self->length = length;
  self->n_vocab = n_vocab;
  self->vocab = g_new0 (char *, (gsize) n_vocab + 1);
  self->index = g_hash_table_new (g_str_hash, g_str_equal);
  for (int i = 0; i < n_vocab; i++)
    {
      self->vocab[i] = g_strdup (vocab[i]);
      if (i < 2)
        continue;
      if (vocab[i] == NULL || !is_word (vocab[i]))
        {
          g_set_error (error, IB_ERROR, IB_ERROR_INVALID,
                       "Tokenizer vocabulary entry %d (\"%s\") is not a word of [a-z0-9]", i,
                       vocab[i] ? vocab[i] : "(null)");
          return NULL;
        }
      if (g_hash_table_contains (self->index, self->vocab[i]))
        {
          g_set_error (error, IB_ERROR, IB_ERROR_INVALID, "Tokenizer vocabulary entry %d (\"%s\") is a duplicate",
                       i, vocab[i]);
          return NULL;
        }
      g_hash_table_insert (self->index, self->vocab[i], GINT_TO_POINTER (i + 1));
    }
  return g_steal_pointer (&self);
}

void
ib_tokenizer_free (IbTokenizer *self)
{
  if (self == NULL)
    return;
  g_clear_pointer (&self->index, g_hash_table_unref);
  g_strfreev (self->vocab);
  g_free (self);
}

int
ib_tokenizer_get_length (const IbTokenizer *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->length;
}

int
ib_tokenizer_get_n_vocab (const IbTokenizer *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->n_vocab;
}

char **
ib_tokenizer_split (const char *text)
{
  g_autofree char *valid = NULL;
  g_autofree char *decomposed = NULL;
  g_autoptr (GPtrArray) words = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GString) word = g_string_new (NULL);

  g_return_val_if_fail (text != NULL, NULL);

  valid = g_utf8_make_valid (text, -1);
  decomposed = g_utf8_normalize (valid, -1, G_NORMALIZE_NFKD);
  for (const char *p = decomposed ? decomposed : ""; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);
      if (g_unichar_type (c) == G_UNICODE_NON_SPACING_MARK)
        continue;   /* deleted, not a separator: "n" + U+0303 stays inside its word */
      if (c >= 'A' && c <= 'Z')
        c += 'a' - 'A';
      if (c < 128 && is_word_char ((char) c))
        {
          g_string_append_c (word, (char) c);
          continue;
        }
      if (word->len > 0)
        {
          g_ptr_array_add (words, g_strdup (word->str));
          g_string_truncate (word, 0);
        }
    }
  if (word->len > 0)
    g_ptr_array_add (words, g_strdup (word->str));
  g_ptr_array_add (words, NULL);
  return (char **) g_ptr_array_steal (words, NULL);
}

int
ib_tokenizer_encode (const IbTokenizer *self,
                     const char        *text,
                     int32_t           *ids,
                     int               *n_dropped)
{
  g_auto (GStrv) words = NULL;
  int n_words, n_unknown = 0, i;

  g_return_val_if_fail (self != NULL && text != NULL && ids != NULL, 0);

  words = ib_tokenizer_split (text);
  n_words = (int) g_strv_length (words);
  for (i = 0; i < self->length && i < n_words; i++)
    {
      int index = GPOINTER_TO_INT (g_hash_table_lookup (self->index, words[i])) - 1;
      if (index < 0)
        {
          index = IB_TOKENIZER_UNK;
          n_unknown++;
        }
      ids[i] = index;
    }
  for (; i < self->length; i++)
    ids[i] = IB_TOKENIZER_PAD;
  if (n_dropped != NULL)
    *n_dropped = MAX (0, n_words - self->length);
  return n_unknown;
}
