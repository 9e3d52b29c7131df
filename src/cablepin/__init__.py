"""cablepin: the system behind a PIN-protected smart EV charging cable.

Four parts share one package and nothing but the bytes in ``protocol``:

* ``protocol`` - sans-I/O wire protocol between app and cable (TLS 1.3 over
  memory BIOs, CBOR framing, signed commands, receipts, the session chain).
* ``cable`` - the cable's firmware rules and its simulator.
* ``app`` - the driver's app core.
* ``cloud`` - the FastAPI service: JSON API and the fleet portal.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
