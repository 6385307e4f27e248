"""Text tokenizers for the reply path: sentences for TTS, words for synced transcription."""

from .sentences import (
    DEFAULT_FIRST_CLAUSE_WORDS,
    DEFAULT_MIN_SENTENCE_LEN,
    SentenceStream,
    split_sentences,
)
from .words import Word, WordStream, split_words

__all__ = [
    "DEFAULT_FIRST_CLAUSE_WORDS", "DEFAULT_MIN_SENTENCE_LEN", "SentenceStream", "Word",
    "WordStream", "split_sentences", "split_words",
]
