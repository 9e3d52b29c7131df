"""The cloud's pure rules, without a database."""

from __future__ import annotations

import datetime as dt

import pytest

from cablepin.cloud.domain import attribution, audit, commands, permissions, policy, throttle
from cablepin.cloud.domain.actor import Actor, Role
from cablepin.cloud.errors import (
    ChainBroken,
    Conflict,
    Forbidden,
    InvalidRequest,
    NotAssigned,
    ReasonRequired,
    StaleEpoch,
    WipePending,
)
from cablepin.protocol import pki
from cablepin.protocol.commands import (
    Command,
    CommandKind,
    check_binding,
    open_command,
    sign_command,
)
from cablepin.protocol.errors import CommandRejected

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
FM = Actor(1, "fm@a", "FM", Role.FLEET_MANAGER, org_id=1)
SUPPORT = Actor(2, "s@v", "S", Role.SUPPORT, org_id=None)
DRIVER = Actor(3, "d@a", "D", Role.DRIVER, org_id=1)


def test_p8_permission_expiry_defaults_to_seven_days_and_is_bounded() -> None:
    assert permissions.expiry(NOW, None) == NOW + dt.timedelta(days=7)
    assert permissions.expiry(NOW, 30) == NOW + dt.timedelta(days=30)
    for days in (0, 31, -1):
        with pytest.raises(InvalidRequest):
            permissions.expiry(NOW, days)


def test_p8_permission_is_bound_to_epoch_assignee_and_time() -> None:
    s = commands.State
    p = commands.Permission(s.PENDING, epoch=2, driver_id=3, expires_at=NOW)
    soon = NOW - dt.timedelta(seconds=1)
    assert commands.usable(p, cable_epoch=2, assignee_id=3, now=soon)
    assert not commands.usable(p, cable_epoch=3, assignee_id=3, now=soon)
    assert not commands.usable(p, cable_epoch=2, assignee_id=4, now=soon)
    assert not commands.usable(p, cable_epoch=2, assignee_id=3, now=NOW)
    done = commands.Permission(s.DONE, epoch=2, driver_id=3, expires_at=NOW)
    assert not commands.usable(done, cable_epoch=2, assignee_id=3, now=soon)


def test_p8_a_copy_handed_out_counts_until_its_lease_ends_whatever_the_cloud_did() -> None:
    s = commands.State
    until = NOW + dt.timedelta(seconds=90)
    for state in (s.ISSUED, s.CANCELLED, s.PENDING, s.EXPIRED):  # pending: released
        assert commands.copy_out_until(state, until, NOW) == until
    assert commands.copy_out_until(s.CANCELLED, NOW, NOW) is None  # its time is over
    assert commands.copy_out_until(s.PENDING, None, NOW) is None  # never handed out
    for used in (s.DONE, s.REVOKED_USED):  # the cable applies a command once
        assert commands.copy_out_until(used, until, NOW) is None


def test_p8_claim_only_pending_or_expired_lease() -> None:
    s, pin, wipe = commands.State, CommandKind.ALLOW_PIN_SET, CommandKind.WIPE
    assert commands.claimable(pin, s.PENDING, None, NOW)
    assert commands.claimable(pin, s.ISSUED, NOW - dt.timedelta(seconds=1), NOW)
    assert not commands.claimable(pin, s.ISSUED, NOW + dt.timedelta(seconds=1), NOW)
    assert not commands.claimable(pin, s.DONE, None, NOW)
    # A wipe may be handed to another connect while leased: each copy binds one nonce.
    assert commands.claimable(wipe, s.ISSUED, NOW + dt.timedelta(seconds=1), NOW)
    assert not commands.claimable(wipe, s.CANCELLED, None, NOW)


def test_r1_support_actions_need_a_reason() -> None:
    with pytest.raises(ReasonRequired):
        permissions.require_reason(SUPPORT, "  ")
    assert permissions.require_reason(SUPPORT, " ticket 1 ") == "ticket 1"
    assert permissions.require_reason(FM, None) is None


def test_h4_handover_state_machine() -> None:
    s, e, wipe = commands.State, commands.Event, CommandKind.WIPE
    assert commands.next_state(wipe, s.PENDING, e.CLAIM) is s.ISSUED
    assert commands.next_state(wipe, s.ISSUED, e.RECEIPT) is s.DONE
    assert commands.next_state(wipe, s.ISSUED, e.CANCEL) is s.CANCELLED
    assert commands.next_state(wipe, s.CANCELLED, e.RECEIPT) is s.DONE  # the cable's word wins
    for state, event in (
        (s.DONE, e.CANCEL),
        (s.DONE, e.CLAIM),
        (s.CANCELLED, e.CLAIM),
        (s.PENDING, e.EXPIRE),  # a wipe has no expiry
        (s.ISSUED, e.RELEASE),  # nor is it handed back
    ):
        with pytest.raises(Conflict):
            commands.next_state(wipe, state, event)


def test_p8_permission_state_machine() -> None:
    s, e, pin = commands.State, commands.Event, CommandKind.ALLOW_PIN_SET
    assert commands.next_state(pin, s.ISSUED, e.RELEASE) is s.PENDING
    # Red team finding 5: a revoked permission the cable took anyway is not "done".
    assert commands.next_state(pin, s.CANCELLED, e.RECEIPT) is s.REVOKED_USED
    assert commands.next_state(pin, s.ISSUED, e.RECEIPT) is s.DONE
    assert commands.next_state(pin, s.EXPIRED, e.RECEIPT) is s.DONE  # a copy out in time
    assert commands.next_state(pin, s.PENDING, e.EXPIRE) is s.EXPIRED
    for state, event in ((s.EXPIRED, e.CLAIM), (s.DONE, e.RECEIPT), (s.PENDING, e.RELEASE)):
        with pytest.raises(Conflict):
            commands.next_state(pin, state, event)


def test_every_kind_has_a_table_and_each_move_is_read_from_it() -> None:
    for kind in CommandKind:
        table = commands.TRANSITIONS[kind]
        assert table, f"{kind} has no transitions"
        for (state, event), to in table.items():
            assert state in commands.sources(kind, event)
            assert commands.moves(kind, event)[state] is to
        # done is final: nothing moves a command the cable has carried out
        carried_out = {commands.State.DONE, commands.State.REVOKED_USED}
        assert not any(state in carried_out for (state, _) in table)


FACTS = attribution.CableFacts(
    "CBL-00000001", epoch=1, head_seq=4, wipe_pending=False, assignee_id=3
)


@pytest.mark.parametrize(
    ("facts", "actor", "epoch", "first", "error"),
    [
        (FACTS.__class__(**{**FACTS.__dict__, "wipe_pending": True}), 3, 1, 5, WipePending),
        (FACTS, 4, 1, 5, NotAssigned),
        (FACTS, 3, 0, 5, StaleEpoch),
        (FACTS, 3, 1, 6, ChainBroken),
    ],
)
def test_h3_upload_refusals(
    facts: attribution.CableFacts, actor: int, epoch: int, first: int, error: type[Exception]
) -> None:
    with pytest.raises(error):
        attribution.check_upload(facts, actor_id=actor, batch_epoch=epoch, first_seq=first)


def test_s1_upload_continuing_or_overlapping_is_allowed() -> None:
    for first in (1, 3, 5):
        attribution.check_upload(FACTS, actor_id=3, batch_epoch=1, first_seq=first)
    assert attribution.previous_link_source(1, 4) == "genesis"
    assert attribution.previous_link_source(5, 4) == "head"
    assert attribution.previous_link_source(3, 4) == "stored"


def _chain(n: int) -> list[tuple[audit.AuditContent, str, str]]:
    rows, prev = [], audit.GENESIS
    for seq in range(1, n + 1):
        c = audit.AuditContent(seq, NOW, 1, "fleet_manager", 1, "x", "CBL", None, "{}")
        own = audit.event_hash(prev, c)
        rows.append((c, prev, own))
        prev = own
    return rows


def test_r2_audit_chain_names_first_broken_link() -> None:
    rows = _chain(5)
    assert audit.find_break(rows, head=(5, rows[-1][2])) is None
    altered = list(rows)
    c, p, h = altered[2]
    altered[2] = (audit.AuditContent(**{**c.__dict__, "reason": "edited"}), p, h)
    assert audit.find_break(altered) == audit.Broken(
        3, "its content does not match its hash (altered)"
    )
    dropped = rows[:2] + rows[3:]
    assert audit.find_break(dropped).seq == 3  # type: ignore[union-attr]
    reordered = [rows[0], rows[2], rows[1], *rows[3:]]
    assert audit.find_break(reordered).seq == 2  # type: ignore[union-attr]
    truncated = rows[:3]
    assert audit.find_break(truncated, head=(5, rows[-1][2])).seq == 4  # type: ignore[union-attr]


def test_r1_login_waits_grow_and_cap() -> None:
    assert [throttle.wait_after(n, 5) for n in (1, 4, 5, 6, 7)] == [0, 0, 30, 60, 120]
    assert throttle.wait_after(50, 5) == throttle.MAX_S
    assert throttle.is_burst(5, 5)
    assert not throttle.is_burst(6, 5)


def test_r1_role_table() -> None:
    policy.check_role(policy.FLEET, FM)
    with pytest.raises(Forbidden):
        policy.check_role(policy.FLEET, DRIVER)
    with pytest.raises(LookupError):
        policy.check_complete([("GET", "/api/v1/new-route-without-rule")])
    assert not SUPPORT.sees_org(None) or SUPPORT.sees_org(7)
    assert FM.sees_org(1)
    assert not FM.sees_org(2)


def test_h5_command_for_one_connection_is_refused_on_another() -> None:
    key = pki.generate_key()
    nonce = bytes(range(16))
    cmd = Command("c1", CommandKind.ALLOW_PIN_SET, "CBL-00000001", nonce, 2, 1000, 1600)
    opened = open_command(sign_command(cmd, key), key.public_key())
    check_binding(opened, serial="CBL-00000001", nonce=nonce, epoch=2, now=1100, open_s=1)
    for kwargs, reason in (
        ({"serial": "CBL-00000002"}, "wrong_serial"),
        ({"nonce": bytes(16)}, "wrong_nonce"),
        ({"epoch": 3}, "wrong_epoch"),
        ({"open_s": 600}, "expired"),
    ):
        args = {"serial": "CBL-00000001", "nonce": nonce, "epoch": 2, "now": 1100, "open_s": 1}
        args.update(kwargs)
        with pytest.raises(CommandRejected) as info:
            check_binding(opened, **args)  # type: ignore[arg-type]
        assert info.value.details["reason"] == reason
