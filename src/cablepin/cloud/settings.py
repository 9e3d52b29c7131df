"""The one settings class of the cloud service (environment prefix ``CABLEPIN_``).

Keys live in files (``CABLEPIN_KEYS``), never in the database or here.
No setting holds a PIN (P7).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cablepin.cloud.services.signin import SignInLimits

__all__ = ["Settings", "normalise_db_url"]


def normalise_db_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here (psycopg2 is not installed)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CABLEPIN_", extra="ignore")

    db: str = "sqlite:///./cablepin.db"
    # The base of every link the cloud hands out (invitations), never the request's Host
    # header. `cablepin serve` sets it from --host/--port when it is not configured.
    public_url: str = "http://127.0.0.1:8000"
    # Addresses of reverse proxies whose X-Forwarded-For/-Proto `serve` believes (comma
    # separated, "*" for any; uvicorn's default: a proxy on this host). Login throttling
    # per client and Secure cookies depend on it behind a proxy on another host.
    forwarded_allow_ips: str = "127.0.0.1,::1"
    keys: Path | None = None
    token_ttl_s: int = 14 * 24 * 3600
    # Attempts per e-mail address before login waits start (domain/throttle.py has the table).
    login_free_attempts: int = 5
    # Failed logins per client address before waits start (services/signin.py), so a flood
    # of made-up e-mail addresses from one client is slowed too.
    login_client_free_attempts: int = 30
    # argon2 computations one process runs at once (each takes argon2_memory_kib of memory).
    password_hash_slots: int = 2
    # argon2id cost (argon2-cffi's defaults, RFC 9106's second recommendation); tests lower it.
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    # Bearer token that may read /metrics (cloud/observability.py); unset: /metrics is off.
    metrics_token: str | None = None
    # D2: years an erased driver's receipts (and the sessions they prove) are kept after
    # the end of the calendar year they were made in: 8 for Buchungsbelege, §147 (3) AO
    # since BEG IV; `domain/retention.py` has the reasoning. The check runs every
    # retention_interval_s inside `serve` (0: only `cablepin admin retention`).
    retention_years: int = Field(default=8, ge=1, le=30)
    retention_interval_s: int = Field(default=6 * 3600, ge=0)

    # Mail (M7, ARCHITECTURE.md "The outbox"). Without smtp_host, mail waits in the outbox
    # and the portal says so. smtp_port defaults by smtp_tls: 25 (none), 587 (starttls),
    # 465 (tls). The password is read from smtp_password_file when a message is sent; it is
    # never stored in the database nor logged.
    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_tls: Literal["none", "starttls", "tls"] = "starttls"
    smtp_user: str | None = None
    smtp_password_file: Path | None = None
    smtp_timeout_s: float = 30.0
    mail_from: str = "cablepin <noreply@localhost>"
    # Who sends the outbox: "serve" (a thread inside `cablepin serve`, the default) or
    # "worker" (only `cablepin worker` processes, run apart; serve then sends nothing).
    mail_sender: Literal["serve", "worker"] = "serve"
    # How long a sender holds a claimed message; a sender that dies holding one leaves it
    # to the next sender after this long (ARCHITECTURE.md: at-least-once delivery).
    outbox_lease_s: int = 300
    # How often an idle sender looks for due messages.
    outbox_poll_s: float = 5.0

    def signin_limits(self) -> SignInLimits:
        return SignInLimits(
            free_attempts=self.login_free_attempts,
            client_free_attempts=self.login_client_free_attempts,
        )

    def db_url(self) -> str:
        return normalise_db_url(self.db)

    def smtp_port_or_default(self) -> int:
        if self.smtp_port is not None:
            return self.smtp_port
        return {"none": 25, "starttls": 587, "tls": 465}[self.smtp_tls]
