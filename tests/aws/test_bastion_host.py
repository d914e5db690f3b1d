"""The bastion's host half of 1.2.4 through testinfra, against two real sshd of this test's own:
Debian's OpenSSH server with keys only and no root login (passes), and one allowing passwords and
root (fails with each observed setting). The checker logs in with a generated key and checks the
host key against a known_hosts file; it runs only ``sshd -T`` and reads the listening sockets.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from checkrun import run_checks
from netutil import free_port
from sandbox import aws_sshd

SUITE = ("tests_infra/test_aws_network.py",)

pytestmark = pytest.mark.skipif(aws_sshd.available() is not None, reason=str(aws_sshd.available()))


@pytest.fixture(scope="module")
def servers():
    # sshd -T runs as the checker's user, which must reach the config: not under pytest's 0700 tmp dirs
    root = Path(tempfile.mkdtemp(prefix="apex-sshd-"))
    os.chmod(root, 0o755)
    started = {}
    try:
        for flavour in ("compliant", "drifted"):
            port = free_port()
            aws_sshd.start(root / flavour, port, flavour)
            started[flavour] = (root / flavour, port)
        yield started
    finally:
        for directory, _ in started.values():
            aws_sshd.stop(directory)
        shutil.rmtree(root, ignore_errors=True)


def profile(directory: Path, port: int) -> str:
    return (f'description = "bastion self-test"\n[targets.hosts]\n'
            f'bastion = "ssh://{aws_sshd.USER}@127.0.0.1:{port}"\nidentity_file = "{directory / "checker_key"}"\n'
            f'known_hosts = "{directory / "known_hosts"}"\nconnect_timeout = 3\n'
            f'sshd_command = "{aws_sshd.SSHD} -T -f {directory / "sshd_config"}"\n')


def part(run, name="hosts"):
    return next(p for p in run.items["1.2.4"]["parts"] if p["name"] == name)


def test_compliant_bastion_passes(servers, tmp_path):
    run = run_checks(tmp_path, "hosts", profile(*servers["compliant"]), suites=SUITE)
    result = part(run)
    assert result["outcome"] == "passed", (result, run.output[-2000:])
    evidence = {e["name"]: e["value"] for e in result["evidence"]}
    assert evidence["sshd"]["passwordauthentication"] == "no"
    assert any(str(servers["compliant"][1]) in s for s in evidence["listening"]), evidence["listening"]


def test_drifted_bastion_fails_with_observed(servers, tmp_path):
    run = run_checks(tmp_path, "hosts", profile(*servers["drifted"]), suites=SUITE)
    result = part(run)
    assert result["outcome"] == "failed", result
    seen = {f["what"]: (f["observed"], f["expected"]) for f in result["findings"]}
    assert seen["sshd passwordauthentication"] == ("yes", "no"), seen
    assert seen["sshd permitrootlogin"] == ("yes", "no"), seen
    assert all("sshd -T on ssh://" in f["where"] for f in result["findings"])


def test_unknown_host_key_is_an_error_not_a_pass(servers, tmp_path):
    directory, port = servers["compliant"]
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    text = profile(directory, port).replace(str(directory / "known_hosts"), str(empty))
    run = run_checks(tmp_path, "hosts", text, suites=SUITE)
    result = part(run)
    assert result["outcome"] == "error" and "ssh to bastion failed" in result["reason"], result
