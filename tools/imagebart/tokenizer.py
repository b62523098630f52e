"""The word-level prompt tokenizer of text-conditional models; model/ib-tokenizer.c is its C twin.

The vocabulary is stored in the model file (conditioning.tokenizer.vocab, docs/model-format.md) and a
prompt becomes exactly `length` vocabulary indices (the engine adds token_offset). The rules, identical on
both sides and pinned by data/tokenizer-test-vectors.json:

 1. The prompt (UTF-8 text) is normalized to NFKD and every non-spacing mark (Unicode category Mn) is
    deleted: "piñata" -> "pinata", "Café" -> "Cafe".
 2. ASCII letters A-Z are lowercased. No other case mapping is done.
 3. Words are the maximal runs of ASCII [a-z0-9]; every other character separates words
    ("T-Rex's  toy!" -> "t", "rex", "s", "toy").
 4. A word is its index in the vocabulary, or UNK (1) when it is not there.
 5. The first `length` words are kept; the rest are dropped. The ids are padded with PAD (0) to `length`.

A vocabulary is valid when vocab[0] == "<pad>", vocab[1] == "<unk>", and every other entry is a distinct,
non-empty run of [a-z0-9] (a word rule 3 can produce).
"""

import re
import unicodedata
from collections import Counter

PAD = 0
UNK = 1
SPECIALS = ("<pad>", "<unk>")

_WORD = re.compile(r"[a-z0-9]+")
_ASCII_UPPER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


class TokenizerError(ValueError):
    pass


def words(text):
    """The words of a prompt (rules 1-3)."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return _WORD.findall(stripped.translate(_ASCII_UPPER))


def check_vocab(vocab):
    vocab = list(vocab)
    if len(vocab) < 2 or tuple(vocab[:2]) != SPECIALS:
        raise TokenizerError('a vocabulary starts with "<pad>", "<unk>"')
    seen = set()
    for i, word in enumerate(vocab[2:], start=2):
        if not isinstance(word, str) or not _WORD.fullmatch(word):
            raise TokenizerError(f"vocabulary entry {i} ({word!r}) is not a word of [a-z0-9]")
        if word in seen:
            raise TokenizerError(f"vocabulary entry {i} ({word!r}) is a duplicate")
        seen.add(word)
    return vocab


def build_vocab(texts, min_count=1, max_size=None):
    """A vocabulary of the words in `texts`: the specials, then words by falling count, ties alphabetical."""
    counts = Counter(w for text in texts for w in words(text))
    ranked = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    if max_size is not None:
        ranked = ranked[:max(0, max_size - len(SPECIALS))]
    return list(SPECIALS) + ranked


class Tokenizer:
    def __init__(self, vocab, length):
        self.vocab = check_vocab(vocab)
        if not 1 <= int(length) <= 1024:
            raise TokenizerError(f"length {length} is not in 1..1024")
        self.length = int(length)
        self.index = {w: i for i, w in enumerate(self.vocab)}

    @classmethod
    def from_config(cls, conditioning):
        """From a model config's `conditioning` dict (kind "text")."""
        tok = conditioning["tokenizer"]
        return cls(tok["vocab"], tok["length"])

    def config(self, token_offset):
        return {"vocab": list(self.vocab), "length": self.length, "token_offset": int(token_offset)}

    def encode(self, text):
        """`length` vocabulary indices (rules 4-5)."""
        ids = [self.index.get(w, UNK) for w in words(text)[:self.length]]
        return ids + [PAD] * (self.length - len(ids))

    def decode(self, ids):
        return " ".join(self.vocab[i] for i in ids if i != PAD)
