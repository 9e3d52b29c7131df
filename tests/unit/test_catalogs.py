"""U1: every message the code and templates use has words in every catalog.

The message ids are extracted the way ``make messages`` does (``pybabel
extract`` with ``babel-<domain>.cfg``), so a string added to a page or to the
app without a German translation fails here, not in front of a user.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from cablepin.i18n import LOCALE_DIR

ROOT = Path(__file__).resolve().parents[2]
DOMAINS = ("portal", "app")

MessageId = str | tuple[str, ...]


def extracted(domain: str) -> dict[MessageId, str | None]:
    """Every message id of ``domain`` in the code and templates -> its gettext context."""
    with (ROOT / f"babel-{domain}.cfg").open(encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: dict[MessageId, str | None] = {}
    for _file, _line, message, _comments, context in extract_from_dir(
        ROOT / "src", method_map, options_map, keywords=DEFAULT_KEYWORDS
    ):
        found[message] = context
    return found


def catalogs(domain: str) -> dict[str, Catalog]:
    found = {}
    for path in sorted(LOCALE_DIR.glob(f"*/LC_MESSAGES/{domain}.po")):
        locale = path.parent.parent.name
        with path.open("rb") as po:
            found[locale] = read_po(po, locale=locale, domain=domain)
    return found


def untranslated(catalog: Catalog, wanted: dict[MessageId, str | None]) -> list[str]:
    """The message ids in ``wanted`` that ``catalog`` lacks, leaves empty or marks fuzzy."""
    missing = []
    for message_id, context in wanted.items():
        entry = catalog.get(message_id, context=context)
        strings = entry.string if entry is not None else ""
        texts = strings if isinstance(strings, tuple) else (strings,)
        if entry is None or entry.fuzzy or not all(text.strip() for text in texts):
            missing.append(message_id if isinstance(message_id, str) else message_id[0])
    return sorted(missing)


@pytest.mark.parametrize(
    ("domain", "samples"),
    [
        # from a template, from ctx.gettext in a route, from N_ in a table
        ("portal", ["Sign in", "Please choose who gets the cable.", "Driver assigned"]),
        # from explain(), from the CLI, from N_ in a table
        ("app", ["Repeat the new PIN: ", "No sessions yet.", "Log in again"]),
    ],
)
def test_u1_every_message_id_has_a_translation_in_every_catalog(
    domain: str, samples: list[str]
) -> None:
    wanted = extracted(domain)
    ids = {m if isinstance(m, str) else m[0] for m in wanted}
    for sample in samples:
        assert any(sample in message for message in ids), sample
    found = catalogs(domain)
    assert "de" in found
    for locale, catalog in found.items():
        assert untranslated(catalog, wanted) == [], locale
        # Placeholders (%(name)s) and plural forms agree with the message ids.
        assert [(m.id, errors) for m, errors in catalog.check() if errors] == [], locale
        # Nothing is kept that the code no longer says (run `make messages`).
        unused = sorted(str(m.id) for m in catalog if m.id and m.id not in wanted)
        assert unused == [], locale


def test_u1_the_completeness_check_finds_a_missing_or_empty_translation() -> None:
    wanted: dict[MessageId, str | None] = {
        "Sign in": None,
        "Password": None,
        ("%(num)s match", "%(num)s matches"): None,
        "Search": "button",
    }
    stub = Catalog(locale="fr")
    stub.add("Sign in", "Se connecter")
    stub.add("Password", "")
    stub[("%(num)s match", "%(num)s matches")] = Message(
        ("%(num)s match", "%(num)s matches"), ("%(num)s résultat", "")
    )
    stub.add("Search", "Rechercher")  # without the context the code asks for
    assert untranslated(stub, wanted) == ["%(num)s match", "Password", "Search"]


def test_m3_a_reimbursement_receipt_is_a_beleg_everywhere_in_german() -> None:
    """One word for the receipt a driver submits, as in the mails' subjects: "Beleg".
    "Quittung" stays only for the cable's acknowledgement of a command."""
    mixed = []
    for domain in DOMAINS:
        for message in read_po((LOCALE_DIR / "de" / "LC_MESSAGES" / f"{domain}.po").open("rb")):
            texts = message.string if isinstance(message.string, tuple) else (message.string,)
            msgid = message.id if isinstance(message.id, str) else message.id[0]
            if any("Quittung" in (t or "") for t in texts) and "cable" not in msgid:
                mixed.append(msgid)
    assert mixed == []
