/* ib-tokenizer.h: the word-level prompt tokenizer of text-conditional models.
 *
 * The twin of tools/imagebart/tokenizer.py; both follow the same rules, pinned by
 * data/tokenizer-test-vectors.json:
 *
 *  1. The prompt (UTF-8; invalid bytes become U+FFFD) is normalized to NFKD and every non-spacing mark
 *     (Unicode category Mn) is deleted: "piñata" -> "pinata".
 *  2. ASCII letters A-Z are lowercased. No other case mapping is done.
 *  3. Words are the maximal runs of ASCII [a-z0-9]; every other character separates words.
 *  4. A word is its index in the vocabulary, or IB_TOKENIZER_UNK when it is not there.
 *  5. The first `length` words are kept, the rest dropped; the ids are padded with IB_TOKENIZER_PAD.
 *
 * A vocabulary is valid when vocab[0] is "<pad>", vocab[1] is "<unk>" and every other entry is a distinct,
 * non-empty run of [a-z0-9]. The ids are vocabulary indices: the engine adds the model's token_offset. */
#pragma once

#include <glib.h>
#include <stdint.h>

G_BEGIN_DECLS

#define IB_TOKENIZER_PAD 0
#define IB_TOKENIZER_UNK 1

typedef struct _IbTokenizer IbTokenizer;

/* Copies the vocabulary; checks it (IB_ERROR_INVALID) and that 1 <= length <= 1024. */
IbTokenizer *ib_tokenizer_new        (const char *const *vocab,
                                      int                n_vocab,
                                      int                length,
                                      GError           **error);
void         ib_tokenizer_free       (IbTokenizer       *self);

int          ib_tokenizer_get_length (const IbTokenizer *self);
int          ib_tokenizer_get_n_vocab (const IbTokenizer *self);

/* The words of a prompt (rules 1-3), a NULL-terminated array. */
char       **ib_tokenizer_split      (const char        *text);

/* Writes exactly ib_tokenizer_get_length() ids to `ids`; returns the number of words that were unknown
 * (UNK), so a caller can warn about them. Words past the length are dropped silently; *n_dropped, when
 * not NULL, receives their number. */
int          ib_tokenizer_encode     (const IbTokenizer *self,
                                      const char        *text,
                                      int32_t           *ids,
                                      int               *n_dropped);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (IbTokenizer, ib_tokenizer_free)

G_END_DECLS
