"""The driver's app core: a library a phone shell could wrap (the CLI is one such shell).

``AppCore`` runs the connect flow (``flow``), the PIN change and the session
list over a ``Home`` (local state), a ``CloudClient`` and a link to the cable
(``CableLink``). Imports ``protocol`` only, never ``cable`` or ``cloud``.
"""

from cablepin.app.cloud import CloudClient
from cablepin.app.errors import (
    AppError,
    CableNotFound,
    CableRefused,
    CloudRefused,
    CloudUnreachable,
    HomeError,
    InvalidPinEntry,
    LinkError,
    NotAssignedToYou,
    NotLoggedIn,
    PinNeeded,
)
from cablepin.app.flow import AppCore, ChangeResult, ConnectResult, PinAsk
from cablepin.app.home import AppState, Home
from cablepin.app.i18n import Translator, detect_language, explain
from cablepin.app.link import CableLink
from cablepin.app.scan import find, scan

__all__ = [
    "AppCore",
    "AppError",
    "AppState",
    "CableLink",
    "CableNotFound",
    "CableRefused",
    "ChangeResult",
    "CloudClient",
    "CloudRefused",
    "CloudUnreachable",
    "ConnectResult",
    "Home",
    "HomeError",
    "InvalidPinEntry",
    "LinkError",
    "NotAssignedToYou",
    "NotLoggedIn",
    "PinAsk",
    "PinNeeded",
    "Translator",
    "detect_language",
    "explain",
    "find",
    "scan",
]
