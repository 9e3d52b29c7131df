"""A real `cablepin cable run` process over TCP, driven by the app's CableLink."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from cablepin.app.errors import CableRefused, LinkError
from cablepin.app.link import CableLink
from cablepin.cable.provision import COMMAND_KEY, init_keys
from cablepin.protocol import pki
from cablepin.protocol.advert import decode_advert
from cablepin.protocol.batch import unpack_records
from cablepin.protocol.chain import genesis, verify_batch
from cablepin.protocol.commands import Command, CommandKind, open_receipt, sign_command
from cablepin.protocol.errors import CertificateError

from .conftest import SERIAL, Deployment, RunningCable, cablepin

pytestmark = pytest.mark.slow


def device_key(state: Path) -> pki.Ed25519PublicKey:  # type: ignore[name-defined]
    return pki.device_public_key(pki.load_certificate((state / "device.pem").read_bytes()))


def test_p3_hello_auth_charge_while_running_and_read_a_verified_chain(
    deployment: Deployment, running: RunningCable
) -> None:
    with CableLink(running.address, SERIAL, deployment.ca_pem, timeout=10) as link:
        hello = link.request("hello")
        assert hello["serial"] == SERIAL
        assert hello["pin_default"] is True
        assert link.request("auth", pin="0000")["via"] == "pin"
        # `cable charge` writes while `cable run` serves (the flash lock)
        charged = cablepin(
            "cable",
            "charge",
            "--state",
            str(running.state),
            "--wh",
            "7400",
            "--count",
            "3",
            env=deployment.env,
        )
        assert [r[0] for r in charged["records"]] == [1, 2, 3]
        assert link.request("hello")["head"]["seq"] == 3
        answer = link.request("read", after_seq=0, limit=500)
        records = unpack_records(answer["batch"])
        assert answer["more"] is False
        hashes = verify_batch(
            serial=SERIAL,
            epoch=0,
            previous=(0, genesis(SERIAL, 0)),
            records=records,
            head_sig=answer["head_sig"],
            device_key=device_key(running.state),
        )
        assert len(hashes) == 3
        assert link.bytes_sent > 0
        assert link.bytes_received > link.bytes_sent


def test_p9_wrong_pin_over_the_wire_says_how_long_to_wait(
    deployment: Deployment, running: RunningCable
) -> None:
    with CableLink(running.address, SERIAL, deployment.ca_pem) as link:
        bond = link.request("auth", pin="0000")["bond"]
        link.request("set_pin", new="5927")
    with CableLink(running.address, SERIAL, deployment.ca_pem) as link:
        with pytest.raises(CableRefused) as refused:
            link.request("auth", pin="1111")
        assert refused.value.code == "wrong_pin"
        assert refused.value.details == {"attempts_before_wait": 4, "wait_s": 0}
        with pytest.raises(CableRefused) as old_bond:
            link.request("auth", bond=bond)
        assert old_bond.value.code == "unknown_bond"
        assert link.request("auth", pin="5927")["via"] == "pin"
    status = cablepin("cable", "status", "--state", str(running.state), env=deployment.env)
    assert status["failures"] == 0
    assert "5927" not in str(status)


def test_p9_waits_pass_on_the_simulated_clock(deployment: Deployment) -> None:
    serial = "CBL-00000079"
    cable = RunningCable(deployment.provision(serial), deployment.env)
    offset = Path(deployment.env["CABLEPIN_CLOCK_OFFSET_FILE"])
    try:
        with CableLink(cable.address, serial, deployment.ca_pem) as link:
            link.request("auth", pin="0000")
            link.request("set_pin", new="5927")
            waits = []
            for _ in range(5):
                with pytest.raises(CableRefused) as wrong:
                    link.request("auth", pin="1111")
                waits.append(wrong.value.details["wait_s"])
            assert waits == [0, 0, 0, 0, 60]
            with pytest.raises(CableRefused) as locked:
                link.request("auth", pin="5927")
            assert locked.value.code == "locked"
            offset.write_text("61")
            assert link.request("hello")["wait_s"] == 0
            assert link.request("auth", pin="5927")["via"] == "pin"
    finally:
        offset.write_text("0")
        assert cable.stop() == 0


def test_h2_a_cloud_signed_wipe_over_the_wire(deployment: Deployment) -> None:
    serial = "CBL-00000077"
    state = deployment.provision(serial)
    cablepin("cable", "charge", "--state", str(state), "--wh", "1000", env=deployment.env)
    cloud = pki.load_private_key((deployment.keys / COMMAND_KEY).read_bytes())
    cable = RunningCable(state, deployment.env)
    try:
        with CableLink(cable.address, serial, deployment.ca_pem) as link:
            hello = link.request("hello")
            now = int(time.time())
            blob = sign_command(
                Command("w-1", CommandKind.WIPE, serial, hello["nonce"], 0, now, now + 600), cloud
            )
            answer = link.request("command", cmd=blob)
            receipt = open_receipt(answer["receipt"], device_key(state))
            assert (receipt.kind, receipt.epoch) == (CommandKind.WIPE, 1)
            again = link.request("hello")
            assert (again["epoch"], again["head"]["seq"], again["receipt"]) == (
                1,
                0,
                answer["receipt"],
            )
            with pytest.raises(CableRefused) as replay:
                link.request("command", cmd=blob)
            assert replay.value.code == "command_rejected"
    finally:
        assert cable.stop() == 0


def test_cable_run_advertises_while_running_and_cleans_up_on_sigterm(
    deployment: Deployment,
) -> None:
    serial = "CBL-00000078"
    cable = RunningCable(deployment.provision_with_cli(serial), deployment.env)
    advert_file = Path(deployment.env["CABLEPIN_RADIO"]) / f"{serial}.advert"
    advert = decode_advert(advert_file.read_bytes())
    assert (advert.serial, advert.address) == (serial, cable.address)
    assert cable.stop() == 0
    assert not advert_file.exists()


def test_the_app_refuses_a_cable_that_is_not_genuine(
    deployment: Deployment, running: RunningCable, tmp_path: Path
) -> None:
    other = tmp_path / "other-keys"
    init_keys(other, dt.datetime.now(dt.UTC))
    with pytest.raises(CertificateError):
        CableLink(running.address, SERIAL, (other / "factory-ca.pem").read_bytes()).open()
    with pytest.raises(CertificateError):
        CableLink(running.address, "CBL-00000001", deployment.ca_pem).open()


def test_link_errors_say_what_to_do(deployment: Deployment) -> None:
    with pytest.raises(LinkError, match="check that it is running"):
        CableLink("127.0.0.1:1", SERIAL, deployment.ca_pem, timeout=2).open()
    with pytest.raises(LinkError, match="HOST:PORT"):
        CableLink("nowhere", SERIAL, deployment.ca_pem).open()


def test_cli_refuses_to_overwrite_keys_or_cables(
    deployment: Deployment, running: RunningCable
) -> None:
    fresh = cablepin("keys", "init", "--dir", str(deployment.root / "k2"), env=deployment.env)
    assert fresh["files"] == ["factory-ca.pem", "factory-ca.key", "command.pem", "command.key"]
    again = cablepin("keys", "init", "--dir", str(deployment.keys), env=deployment.env, check=False)
    assert again["_rc"] != 0
    assert again["error"] == "already_exists"
    twice = cablepin(
        "factory",
        "provision",
        "--serial",
        SERIAL,
        "--keys",
        str(deployment.keys),
        "--state",
        str(running.state),
        env=deployment.env,
        check=False,
    )
    assert twice["error"] == "already_exists"
    for private in ("factory-ca.key", "command.key"):
        assert (deployment.keys / private).stat().st_mode & 0o777 == 0o600
    assert (running.state / "device.key").stat().st_mode & 0o777 == 0o600
    missing = cablepin(
        "cable", "status", "--state", str(deployment.root / "none"), env=deployment.env, check=False
    )
    assert missing["error"] == "not_provisioned"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_openssl_verifies_the_cable_certificate_chain(
    deployment: Deployment, running: RunningCable
) -> None:
    host, port = running.address.rsplit(":", 1)
    done = subprocess.run(
        [
            "openssl",
            "s_client",
            "-connect",
            f"{host}:{port}",
            "-CAfile",
            str(deployment.keys / "factory-ca.pem"),
            "-verify_return_error",
            "-servername",
            SERIAL,
            "-verify_hostname",
            SERIAL,
            "-tls1_3",
        ],
        input="",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "Verify return code: 0 (ok)" in done.stdout, done.stdout + done.stderr
    assert f"CN = {SERIAL}" in done.stdout
