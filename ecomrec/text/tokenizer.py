"""Words in, ids out: the tokenizer and vocabulary of the description models.

Product descriptions are short, clean English, so a rule is enough: a token is a run of
letters and digits, possibly joined by hyphens or apostrophes (``budget-friendly``,
``2-in-1``), or a single punctuation mark. Case is kept (brands are names).
:func:`detokenize` inverts :func:`tokenize` for text whose punctuation follows English
spacing, which the round-trip test checks on every ShopSim description.

>>> tokenize("Meet the Pixon smartphone: a budget-friendly design.")
['Meet', 'the', 'Pixon', 'smartphone', ':', 'a', 'budget-friendly', 'design', '.']
>>> detokenize(['Meet', 'the', 'Pixon', 'smartphone', ':', 'a', 'budget-friendly', 'design', '.'])
'Meet the Pixon smartphone: a budget-friendly design.'
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

_TOKEN = re.compile(r"[A-Za-z0-9]+(?:[-'][A-Za-z0-9]+)*|[^\sA-Za-z0-9]")
_NO_SPACE_BEFORE = re.compile(r" ([.,:;!?)])")

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)


def tokenize(text: str) -> list[str]:
    """Split `text` into word and punctuation tokens."""
    return _TOKEN.findall(text)


def detokenize(tokens: Sequence[str]) -> str:
    """Join tokens with spaces, then remove the space before closing punctuation."""
    return _NO_SPACE_BEFORE.sub(r"\1", " ".join(tokens))


class Vocabulary:
    """A token <-> id mapping with four reserved ids: pad 0, bos 1, eos 2, unk 3.

    Build it from training texts with :meth:`from_texts`; tokens seen fewer than
    `min_count` times (and tokens never seen) map to ``<unk>``.
    """

    def __init__(self, tokens: Iterable[str]) -> None:
        self.itos: list[str] = list(SPECIALS)
        for token in tokens:
            if token not in SPECIALS and token not in self.itos:
                self.itos.append(token)
        self.stoi: dict[str, int] = {token: i for i, token in enumerate(self.itos)}

    pad_id, bos_id, eos_id, unk_id = 0, 1, 2, 3

    @classmethod
    def from_texts(cls, texts: Iterable[str], min_count: int = 1) -> Vocabulary:
        """Tokens of `texts` by decreasing frequency (ties alphabetical)."""
        counts = Counter(token for text in texts for token in tokenize(text))
        kept = sorted(
            (t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t)
        )
        return cls(kept)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def encode(self, text: str, bos: bool = False, eos: bool = True) -> list[int]:
        """Token ids of `text`, optionally framed by ``<bos>`` and ``<eos>``."""
        ids = [self.stoi.get(token, self.unk_id) for token in tokenize(text)]
        return ([self.bos_id] if bos else []) + ids + ([self.eos_id] if eos else [])

    def tokens(self, ids: Iterable[int]) -> list[str]:
        """Tokens of `ids`, stopping at the first ``<eos>`` and skipping pad and bos."""
        out = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if i not in (self.pad_id, self.bos_id):
                out.append(self.itos[i])
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """Text of `ids` (see :meth:`tokens`)."""
        return detokenize(self.tokens(ids))
