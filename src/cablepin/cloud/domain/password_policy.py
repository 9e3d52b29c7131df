"""The one password policy of the cloud (API, portal invitations, ``admin create-user``).

After NIST SP 800-63B-4 §3.1.1.2 for a password that is the only factor:

* at least ``MIN_LENGTH`` (15) characters, at most ``MAX_LENGTH`` (any
  characters, spaces and emoji included; nothing is truncated);
* no composition rules (no "one digit, one capital");
* refused if it is on a blocklist of common and breached passwords or an
  obvious variation of one (``qwertyuiopasdfgh``, ``aaaaaaaaaaaaaaa``,
  ``passwordpassword1``), or built from the user's own e-mail or name. The
  blocklist is zxcvbn's frequency lists (passwords from breaches, common
  words and names), which ship inside the package: it works offline.

The check is pure; callers turn a ``Refusal`` into the user's language.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Final

from zxcvbn import zxcvbn

__all__ = ["MAX_LENGTH", "MIN_LENGTH", "Refusal", "check"]

MIN_LENGTH: Final = 15
MAX_LENGTH: Final = 128
#: zxcvbn scores 0-4; below 3 means "guessed within about 10^8 tries" (a blocklist hit
#: or a predictable pattern of one).
MIN_SCORE: Final = 3
_ZXCVBN_MAX: Final = 72  # zxcvbn refuses longer input; the first 72 characters decide
_SERVICE_WORDS: Final = ("cablepin", "cable", "kabel", "ladekabel", "fuhrpark", "fleet")


class Refusal(enum.StrEnum):
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    COMMON = "common"
    PERSONAL = "personal"


def _personal_words(user_inputs: Sequence[str]) -> list[str]:
    words: list[str] = []
    for text in user_inputs:
        lowered = text.strip().lower()
        if not lowered:
            continue
        words.append(lowered)
        for part in lowered.replace("@", " ").replace(".", " ").replace("-", " ").split():
            if len(part) >= 3:
                words.append(part)
    return words


def check(password: str, *, user_inputs: Sequence[str] = ()) -> Refusal | None:
    """``None`` if ``password`` may be chosen, else why not."""
    if len(password) < MIN_LENGTH:
        return Refusal.TOO_SHORT
    if len(password) > MAX_LENGTH:
        return Refusal.TOO_LONG
    personal = _personal_words(user_inputs)
    head = password[:_ZXCVBN_MAX]
    general = zxcvbn(head, user_inputs=list(_SERVICE_WORDS))
    if general["score"] < MIN_SCORE:
        return Refusal.COMMON
    if personal:
        with_personal = zxcvbn(head, user_inputs=[*_SERVICE_WORDS, *personal])
        from_user = sum(
            len(match["token"])
            for match in with_personal["sequence"]
            if match.get("dictionary_name") == "user_inputs"
        )
        # Weak once the user's own words are known, or half of it is made of them.
        if with_personal["score"] < MIN_SCORE or 2 * from_user >= len(head):
            return Refusal.PERSONAL
    return None
