"""The connect flow against a real cable (in memory) and a fake cloud, by requirement ID."""

from __future__ import annotations

import pytest

from cablepin.app.errors import (
    AppError,
    CableRefused,
    CloudRefused,
    InvalidPinEntry,
    LinkError,
    NotAssignedToYou,
    PinNeeded,
)
from cablepin.protocol.commands import CommandKind

from .conftest import SERIAL, Prompt, World


def set_pin(world: World, pin: str) -> None:
    """Another phone of the same driver sets a PIN (from 0000, P5)."""
    world.app("other").change_pin(SERIAL, None, pin)


def test_p1_p3_default_pin_connects_without_asking_and_syncs(world: World) -> None:
    world.charge(3)
    prompt = Prompt()
    notices: list[str] = []
    result = world.app(prompt=prompt, notice=notices.append).connect(SERIAL)
    assert (result.auth, result.pin_default, result.synced, result.epoch) == ("default", True, 3, 0)
    assert prompt.asked == []
    assert sorted(world.cloud.stored) == [(0, 1), (0, 2), (0, 3)]


def test_p6_default_pin_urges_a_change(world: World) -> None:
    notices: list[str] = []
    result = world.app(notice=notices.append).connect(SERIAL)
    assert notices == ["change_default_pin"] == result.notices


def test_p4_bonded_app_reconnects_without_the_pin(world: World) -> None:
    set_pin(world, "4826")
    world.app(prompt=Prompt({"pin": "4826"})).connect(SERIAL)
    prompt = Prompt()
    again = world.app(prompt=prompt).connect(SERIAL)
    assert again.auth == "bond"
    assert prompt.asked == []
    assert "change_default_pin" not in again.notices


def test_p3_unknown_app_must_give_the_pin(world: World) -> None:
    set_pin(world, "4826")
    with pytest.raises(PinNeeded) as need:
        world.app("stranger").connect(SERIAL)
    assert need.value.details == {"serial": SERIAL, "purpose": "pin"}
    result = world.app("stranger", Prompt({"pin": "4826"})).connect(SERIAL)
    assert result.auth == "pin"


def test_p9_wrong_pin_is_refused_and_counted(world: World) -> None:
    set_pin(world, "4826")
    with pytest.raises(CableRefused) as wrong:
        world.app("stranger", Prompt({"pin": "1357"})).connect(SERIAL)
    assert wrong.value.code == "wrong_pin"
    assert wrong.value.details["attempts_before_wait"] == 4


def test_p9_waiting_cable_is_not_asked_for_a_pin(world: World) -> None:
    set_pin(world, "4826")
    for _ in range(5):
        with pytest.raises(CableRefused):
            world.app("stranger", Prompt({"pin": "1357"})).connect(SERIAL)
    prompt = Prompt({"pin": "4826"})
    with pytest.raises(CableRefused) as locked:
        world.app("stranger", prompt).connect(SERIAL)
    assert locked.value.code == "locked"
    assert locked.value.details["wait_s"] == 60
    assert prompt.asked == []


def test_p2_typo_costs_no_attempt(world: World) -> None:
    set_pin(world, "4826")
    with pytest.raises(InvalidPinEntry):
        world.app("stranger", Prompt({"pin": "48a6"})).connect(SERIAL)
    assert world.cable.state().failures == 0


def test_p4_revoked_bond_is_dropped_and_the_pin_asked(world: World) -> None:
    first = world.app("first")
    first.connect(SERIAL)  # bonded with 0000
    set_pin(world, "4826")  # revokes every other bond
    prompt = Prompt({"pin": "4826"})
    result = world.app("first", prompt).connect(SERIAL)
    assert (result.auth, prompt.asked) == ("pin", ["pin"])


def test_p5_change_needs_the_current_pin_except_from_default(world: World) -> None:
    app = world.app()
    assert app.change_pin(SERIAL, None, "4826").auth == "default"
    stranger = world.app("stranger")
    with pytest.raises(PinNeeded) as need:
        stranger.change_pin(SERIAL, None, "5937")
    assert need.value.details["purpose"] == "current"
    with pytest.raises(CableRefused) as wrong:
        stranger.change_pin(SERIAL, "1357", "5937")
    assert wrong.value.code == "wrong_pin"
    assert stranger.change_pin(SERIAL, "4826", "5937").auth == "pin"
    assert world.app("third", Prompt({"pin": "5937"})).connect(SERIAL).auth == "pin"


def test_p5_bonded_app_still_needs_the_current_pin_to_change_it(world: World) -> None:
    app = world.app()
    app.change_pin(SERIAL, None, "4826")
    with pytest.raises(PinNeeded):
        app.change_pin(SERIAL, None, "5937")
    assert app.change_pin(SERIAL, "4826", "5937").auth == "bond"


def test_p8_allowed_driver_sets_a_new_pin_without_the_old(world: World) -> None:
    set_pin(world, "4826")
    world.charge(2)
    for _ in range(5):
        with pytest.raises(CableRefused):
            world.app("forgetful", Prompt({"pin": "1357"})).connect(SERIAL)
    world.cloud.order(CommandKind.ALLOW_PIN_SET)
    result = world.app("forgetful", Prompt({"new": "5937"})).connect(SERIAL)
    assert (result.auth, result.commands, result.synced) == ("allowed", ["allow_pin_set"], 2)
    assert world.cloud.pending == []
    again = world.app("forgetful").connect(SERIAL)
    assert (again.auth, again.commands) == ("bond", [])
    assert world.app("x", Prompt({"pin": "5937"})).connect(SERIAL).auth == "pin"


def test_p8_permission_is_not_spent_when_no_new_pin_is_given(world: World) -> None:
    world.cloud.order(CommandKind.ALLOW_PIN_SET)
    result = world.app().connect(SERIAL)
    assert result.commands == []
    assert "pin_set_allowed" in result.notices
    assert len(world.cloud.pending) == 1
    changed = world.app().change_pin(SERIAL, None, "5937")
    assert (changed.auth, changed.commands) == ("allowed", ["allow_pin_set"])
    assert world.cloud.pending == []


@pytest.mark.parametrize("choice", ["1234", "0000", "47"])
def test_p8_u2_a_weak_or_malformed_new_pin_does_not_spend_the_permission(
    world: World, choice: str
) -> None:
    world.cloud.order(CommandKind.ALLOW_PIN_SET)
    with pytest.raises(AppError) as refused:
        world.app().change_pin(SERIAL, None, choice)
    assert refused.value.code in ("weak_pin", "invalid_pin")
    assert "cable:command" not in world.events  # nothing was relayed to the cable
    assert len(world.cloud.pending) == 1
    changed = world.app().change_pin(SERIAL, None, "5937")  # the driver tries again
    assert (changed.auth, changed.commands) == ("allowed", ["allow_pin_set"])


def test_p8_u2_a_weak_pin_typed_at_the_prompt_keeps_the_permission(world: World) -> None:
    world.cloud.order(CommandKind.ALLOW_PIN_SET)
    with pytest.raises(AppError) as refused:
        world.app("p", Prompt({"new": "1111"})).connect(SERIAL)
    assert refused.value.code == "weak_pin"
    assert len(world.cloud.pending) == 1
    # Handed back at once: the driver's next try gets the permission, not "needs the PIN".
    retry = world.app("p", Prompt({"new": "5937"})).connect(SERIAL)
    assert (retry.auth, retry.commands) == ("allowed", ["allow_pin_set"])


def test_h2_wipe_is_relayed_and_receipted_before_anything_is_read(world: World) -> None:
    world.charge(4)
    world.app("old").connect(SERIAL)
    world.charge(2)  # unsynced sessions of the previous driver
    world.cloud.order(CommandKind.WIPE)
    world.events.clear()
    result = world.app("new").connect(SERIAL)
    assert result.commands == ["wipe"]
    assert (result.epoch, result.pin_default, result.synced) == (1, True, 0)
    assert "cable_reset" in result.notices
    receipt = world.events.index("cloud:receipt:wipe")
    assert "cable:read" not in world.events[:receipt]
    assert all(key[0] == 0 for key in world.cloud.stored)
    assert len(world.cloud.stored) == 4  # the unsynced two died with the wipe, as H2 says
    world.charge(1)
    assert world.app("new").connect(SERIAL).synced == 1
    assert (1, 1) in world.cloud.stored


def test_h2_nothing_is_read_when_the_receipt_is_refused(world: World) -> None:
    world.charge(2)
    world.cloud.order(CommandKind.WIPE)

    def refuse(serial: str, receipt: bytes) -> dict[str, object]:
        raise CloudRefused.kind("cloud_error")("down")

    world.cloud.post_receipt = refuse  # type: ignore[method-assign]
    with pytest.raises(CloudRefused):
        world.app().connect(SERIAL)
    assert "cable:read" not in world.events
    assert world.cloud.stored == {}


def test_s3_unassigned_cable_is_neither_authenticated_nor_synced(world: World) -> None:
    world.charge(2)
    world.cloud.assigned = False
    world.cloud.order(CommandKind.WIPE)
    result = world.app().connect(SERIAL)
    assert (result.assigned, result.auth, result.synced, result.commands) == (
        False,
        None,
        0,
        ["wipe"],
    )
    assert "cable:auth" not in world.events
    with pytest.raises(NotAssignedToYou):
        world.app().change_pin(SERIAL, None, "5937")


@pytest.mark.parametrize("drop_after", [1, 2, 3, 4, 5])
def test_s1_sync_interrupted_anywhere_is_finished_by_the_next_connect(
    world: World, drop_after: int
) -> None:
    world.charge(7)
    world.drop_after = drop_after  # hello, auth, read, read, ... then the link breaks
    with pytest.raises(LinkError):
        world.app(batch=2).connect(SERIAL)
    world.drop_after = None
    world.app(batch=2).connect(SERIAL)
    assert sorted(world.cloud.stored) == [(0, s) for s in range(1, 8)]


def test_s1_lost_answer_duplicates_nothing(world: World) -> None:
    world.charge(5)
    world.cloud.fail_upload_after_store = 1
    with pytest.raises(CloudRefused):
        world.app(batch=2).connect(SERIAL)
    result = world.app(batch=2).connect(SERIAL)
    assert len(world.cloud.stored) == 5
    assert result.synced == 3
    assert result.duplicates == 0  # it resumed after the stored head, not before


def test_s1_progress_counts_up_to_the_total(world: World) -> None:
    world.charge(5)
    seen: list[tuple[int, int]] = []
    world.app(batch=2, progress=lambda done, total: seen.append((done, total))).connect(SERIAL)
    assert seen == [(0, 5), (2, 5), (4, 5), (5, 5)]


def test_the_link_is_closed_after_every_visit(world: World) -> None:
    world.app().connect(SERIAL)
    set_pin(world, "4826")
    with pytest.raises(PinNeeded):
        world.app("stranger").connect(SERIAL)
    assert all(link.closed for link in world.links)


# -- B1: the quick visit (one exchange after the handshake) --------------------------------------


def bonded(world: World, name: str = "phone") -> None:
    """An app that has connected once (PIN 0000: it holds a bond now)."""
    world.app(name).connect(SERIAL)
    world.events.clear()


def test_b1_bonded_app_syncs_in_one_exchange_and_uploads_after_the_link_closed(
    world: World,
) -> None:
    bonded(world)
    world.charge(5)
    result = world.app().connect(SERIAL)
    assert (result.auth, result.synced, result.commands) == ("bond", 5, [])
    assert world.events == [
        "cloud:challenge",  # before the link
        "link:flight",  # the one exchange: hello, auth, read
        "cable:hello",
        "cable:auth",
        "cable:read",
        "cloud:connect",  # after the link was closed
        "cloud:upload",
    ]
    assert world.links[-1].closed


def test_b1_a_long_sync_pipelines_its_reads(world: World) -> None:
    bonded(world)
    world.charge(25)
    result = world.app(batch=2).connect(SERIAL)
    assert result.synced == 25
    assert world.events.count("link:flight") == 2  # 1 + the 12 other reads in one flight
    assert sorted(world.cloud.stored) == [(0, s) for s in range(1, 26)]


def test_h2_a_bonded_app_relays_a_waiting_wipe_before_it_reads(world: World) -> None:
    world.charge(2)
    bonded(world)
    world.charge(1)
    world.cloud.order(CommandKind.WIPE)
    result = world.app().connect(SERIAL)
    assert result.commands == ["wipe"]
    receipt = world.events.index("cloud:receipt:wipe")
    assert "cable:read" not in world.events[:receipt]
    assert sorted(world.cloud.stored) == [(0, 1), (0, 2)]  # the third died with the wipe


def test_h2_a_wipe_ordered_during_the_quick_visit_is_relayed_before_any_upload(
    world: World,
) -> None:
    bonded(world)
    world.charge(3)
    ahead = world.cloud.before_link

    def then_a_handover(serial: str) -> object:
        answer = ahead(serial)
        world.cloud.order(CommandKind.WIPE)  # the fleet manager, a moment later
        return answer

    world.cloud.before_link = then_a_handover  # type: ignore[assignment]
    result = world.app().connect(SERIAL)
    assert (result.commands, result.epoch, result.synced) == (["wipe"], 1, 0)
    assert "cloud:upload" not in world.events[: world.events.index("cloud:receipt:wipe")]
    assert world.cloud.stored == {}  # what the quick visit read was never uploaded


def test_p8_a_permission_handed_out_after_the_quick_visit_goes_back(world: World) -> None:
    bonded(world)
    ahead = world.cloud.before_link

    def then_a_permission(serial: str) -> object:
        answer = ahead(serial)
        world.cloud.order(CommandKind.ALLOW_PIN_SET)
        return answer

    world.cloud.before_link = then_a_permission  # type: ignore[assignment]
    result = world.app(prompt=Prompt({"new": "5937"})).connect(SERIAL)
    assert "cloud:release" in world.events  # the copy signed for the closed link
    assert (result.auth, result.commands) == ("allowed", ["allow_pin_set"])


def test_p4_a_revoked_bond_makes_the_quick_visit_fall_back(world: World) -> None:
    bonded(world)
    set_pin(world, "4826")
    world.events.clear()
    result = world.app(prompt=Prompt({"pin": "4826"})).connect(SERIAL)
    assert result.auth == "pin"
    assert world.events.count("cable:auth") == 3  # quick: bond; step by step: bond, then PIN
