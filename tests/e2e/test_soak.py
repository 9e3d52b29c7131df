"""The bounded soak test (issue 12): a fleet under load with faults, and nothing is lost.

SLOW (about 1-2 minutes, longer on a busy machine): PostgreSQL, two `cablepin
serve` processes, 100 cables served over real sockets, their drivers' apps,
and one `cablepin app connect` process that is killed mid-sync. The harness is
``soak/`` (shared with ``make soak``, which runs it longer and larger and
writes ``docs/soak.md``); what it does and checks is said there.

The checks are exact, whatever the timing: every session any cable recorded
is in the cloud once, on the account of the driver its epoch belongs to; no
receipt counts a session twice; every message of the outbox reached the SMTP
server (down for a while) exactly once; the audit chain verifies; no server answered
a 5xx other than the 503 that says "send it again"; and every operation that
failed, failed only in the ways the injected faults cause.
"""

from __future__ import annotations

import pytest
from soak.fleet import pg_problem
from soak.harness import FAULT_CODES, Config, run

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

EVERY_FAULT = {
    "app killed mid-sync",
    "SMTP server down",
    "API process killed",
    "database connections cut",
    "cable killed mid-wipe",
    "SMTP server back",
    "cable killed mid-record",
}
BOUNDED = Config(seconds=15, cables=60, drivers=8, workers=6)


def test_s1_h3_m3_nothing_lost_doubled_or_misattributed_under_load_with_faults() -> None:
    problem = pg_problem()
    if problem is not None:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 did not answer ({problem})")
    report = run(BOUNDED)
    summary = "\n".join(report.lines())
    injected = {fault.split(":")[0] for fault in report.faults}
    assert injected == EVERY_FAULT, summary
    assert report.sessions_checked > 0, summary
    assert report.operations["handover"] > 0, summary
    assert report.lost == 0, summary
    assert report.duplicated == 0, summary
    assert report.misattributed == 0, summary
    assert report.phantom == 0, summary
    assert report.pre_handover_on_new_driver == 0, summary
    assert report.cable_forgot == 0, summary
    assert report.receipt_double_counted == 0, summary
    assert report.mails > 0, summary
    assert report.mails_refused_then_sent > 0, summary  # SMTP was down while mail was due
    assert report.mail_lost == 0, summary
    assert report.mail_duplicated == 0, summary
    assert report.mail_unknown == 0, summary
    assert report.audit_ok, summary
    assert report.server_errors == [], summary
    assert report.problems == [], summary
    unexpected = {k for k in report.failed if k.split(":")[1] not in FAULT_CODES}
    assert not unexpected, summary
