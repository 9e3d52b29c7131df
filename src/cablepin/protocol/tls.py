"""TLS 1.3 without sockets: ``ssl.SSLObject`` over two ``MemoryBIO`` s.

The cable is the TLS server with its device certificate; the app is the
client and trusts only the factory CA, with the cable's serial as the
expected host name (the device certificate carries it as a DNS name), so
after the handshake the app *knows* which cable it talks to and a fake cable
cannot ask for a PIN. The PIN only ever travels inside this channel.

Bytes in (``receive_data``), bytes out (``data_to_send``); nothing here
opens a socket or reads a clock.
"""

from __future__ import annotations

import contextlib
import ssl
from pathlib import Path

from cablepin.protocol.errors import CertificateError, TLSError

__all__ = ["TLSChannel", "app_tls_context", "cable_tls_context"]

READ_CHUNK = 16 * 1024


def cable_tls_context(cert_chain_path: Path | str, key_path: Path | str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(str(cert_chain_path), str(key_path))
    # Session tickets cost ~500 bytes on a slow link and buy nothing: the app reconnects rarely.
    context.num_tickets = 0
    return context


def app_tls_context(factory_ca_pem: bytes) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname on
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    try:
        context.load_verify_locations(cadata=factory_ca_pem.decode("ascii"))
    except (ssl.SSLError, UnicodeDecodeError) as e:
        raise CertificateError(
            "the factory CA certificate is unreadable; log in again to fetch it"
        ) from e
    return context


class TLSChannel:
    """One end of a TLS connection over memory buffers."""

    def __init__(
        self, context: ssl.SSLContext, *, server_side: bool, server_hostname: str | None = None
    ) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(
            self._incoming, self._outgoing, server_side=server_side, server_hostname=server_hostname
        )
        self.handshake_complete = False
        self.peer_closed = False

    def receive_data(self, data: bytes) -> None:
        if data:
            self._incoming.write(data)
        else:
            self._incoming.write_eof()

    def data_to_send(self) -> bytes:
        return self._outgoing.read()

    def do_handshake(self) -> bool:
        """Advance the handshake; True once it is complete."""
        if self.handshake_complete:
            return True
        try:
            self._tls.do_handshake()
        except ssl.SSLWantReadError:
            return False
        except ssl.SSLCertVerificationError as e:
            raise CertificateError(
                f"this is not a genuine cable of ours ({e.verify_message}); "
                "do not enter a PIN and check the serial"
            ) from e
        except (ssl.SSLError, ssl.SSLEOFError) as e:
            raise TLSError(f"the secure channel could not be set up: {e.reason or e}") from e
        self.handshake_complete = True
        return True

    def peer_certificate_der(self) -> bytes:
        der = self._tls.getpeercert(binary_form=True)
        if der is None:
            raise CertificateError("the peer presented no certificate")
        return der

    def send(self, plaintext: bytes) -> None:
        try:
            self._tls.write(plaintext)
        except ssl.SSLError as e:
            raise TLSError(f"cannot send on the secure channel: {e.reason or e}") from e

    def receive(self) -> bytes:
        """All plaintext that is available now (b"" if none)."""
        chunks: list[bytes] = []
        while True:
            try:
                chunk = self._tls.read(READ_CHUNK)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                self.peer_closed = True
                break
            except ssl.SSLEOFError:
                self.peer_closed = True
                break
            except ssl.SSLError as e:
                raise TLSError(f"the secure channel failed: {e.reason or e}") from e
            if not chunk:
                self.peer_closed = True
                break
            chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        # close_notify is queued either way; the peer may already be gone.
        with contextlib.suppress(ssl.SSLError):
            self._tls.unwrap()
