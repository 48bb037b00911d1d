"""The refusal every layer reports the same way: where (`field`) and why (`message`)."""

from __future__ import annotations


class FieldError(ValueError):
    """Input refused at `field` (empty: the input as a whole), for `message`; it reads
    `field: message`. Subclasses say whose input it was."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message

    def __reduce__(self) -> tuple[type[FieldError], tuple[str, str]]:
        # The default reduce replays `args` (the text only) and would lose `field`.
        return (type(self), (self.field, self.message))
