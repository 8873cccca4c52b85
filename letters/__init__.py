"""The procedure's letters as .docx files, filled from a case (Appendix 1, Flowcharts 1 and 2).

Pure: reads its own templates (letters/templates/) and nothing else. Sending and keeping the
documents is for the caller.
"""

from letters.compose import Addressee, ComposeError, Letter, LetterKind, compose

__all__ = ["Addressee", "ComposeError", "Letter", "LetterKind", "compose"]
