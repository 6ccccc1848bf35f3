"""The note a quote carries when its version in another language has other figures or names, in the
answer's language (used by every renderer; depends on the messages only)."""
from __future__ import annotations

from bot.messages import language_name, t


def difference_details(d: dict, lang: str | None) -> str:
    none = t(lang, "diff_none")
    parts = []
    if "numbers" in d:
        parts.append(t(lang, "diff_numbers", here=", ".join(d["numbers"]["here"]) or none,
                       there=", ".join(d["numbers"]["there"]) or none))
    if "names" in d:
        parts.append(t(lang, "diff_names", here=", ".join(d["names"]["here"]) or none,
                       there=", ".join(d["names"]["there"]) or none))
    return "; ".join(parts)


def difference_lines(q, lang: str | None) -> list[str]:
    """One line per version that differs, e.g. "Note: the Swedish version differs: figures 25 here, 26 there."."""
    return [t(lang, "version_differs", language=language_name(d.get("language"), lang),
              details=difference_details(d, lang)) for d in getattr(q, "version_differences", None) or []]
