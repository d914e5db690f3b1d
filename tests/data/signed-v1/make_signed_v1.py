"""How tests/data/signed-v1 was made: a record signed by the code of commit 4dc8cc7 (before the typed record).

Run with that commit's package first on the path (``git archive 4dc8cc7 | tar -x -C /tmp/apex-head``, then
``PYTHONPATH=/tmp/apex-head python tests/data/signed-v1/make_signed_v1.py OUT``). It builds a small project whose
checks cover sections 2 and 3, runs it with 3.1.1 failing and 2.1.2 failing under a waiver, signs section 2 as
Database Admin (section 3 is refused), fixes 3.1.1, reruns with --apex-rerun (revision 2), signs section 3 as
Platform Engineering Lead and exports the archive. Only the public keys and trust.toml are kept.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from pytest_apexready.catalog import load_catalog

CHECKS = '''
from pathlib import Path
from pytest_apexready import check, fail_check

IDS = {ids!r}

def _make(item_id):
    @check(item_id)
    def test(evidence):
        evidence.record("probe", {{"item": item_id, "ok": True}}, source="the test project")
        failing = Path(__file__).with_name("failing.txt").read_text().split()
        if item_id in failing:
            fail_check(item_id, observed="bad", expected="good", where="the test project")
    return test

for _id in IDS:
    globals()["test_" + _id.replace(".", "_")] = _make(_id)
'''


def sh(*args: str, cwd: Path, ok: tuple[int, ...] = (0,)) -> None:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    print("$", " ".join(args), "->", proc.returncode)
    print(proc.stdout[-1500:], proc.stderr[-1500:])
    if proc.returncode not in ok:
        raise SystemExit(f"unexpected exit {proc.returncode}")


def main(out: Path) -> None:
    work = out.parent / (out.name + ".work")
    shutil.rmtree(work, ignore_errors=True)
    proj = work / "proj"
    (proj / "environments").mkdir(parents=True)
    catalog = load_catalog()
    sections = (2, 3)
    ids = [i.id for i in catalog.items if i.section in sections and i.kind == "automated"]
    (proj / "environments/local.toml").write_text('description = "signed-v1 test data"\n')
    (proj / "attestations").mkdir()
    (proj / "attestations/local.toml").write_text("".join(
        f'[[attestation]]\nitem = "{i.id}"\nattested_by = "Sam Ortiz (Ops)"\ndate = 2026-01-01\n'
        f'evidence = "wiki/{i.id}"\nexpires = 2099-12-31\n\n'
        for i in catalog.items if i.section in sections and i.kind == "attestation"))
    (proj / "waivers").mkdir()
    (proj / "waivers/local.toml").write_text('[[waiver]]\nitem = "2.1.2"\njustification = "ticket OPS-1"\n'
                                             'approved_by = "Dana Lee (Database Admin)"\nexpires = 2099-12-31\n')
    (proj / "pytest.ini").write_text("[pytest]\n")
    (proj / "test_checks.py").write_text(CHECKS.format(ids=ids))
    (proj / "failing.txt").write_text("2.1.2 3.1.1")
    py = sys.executable
    sh(py, "-m", "pytest", "-p", "no:cacheprovider", "-q", cwd=proj, ok=(1,))
    env_pp = "SIGNED_V1_PP"
    os.environ[env_pp] = "signed-v1-passphrase"
    for name, role in (("dana", "Database Admin"), ("pat", "Platform Engineering Lead")):
        sh(py, "-m", "pytest_apexready", "keygen", f"keys/{name}", "--passphrase-env", env_pp, cwd=work)
        sh(py, "-m", "pytest_apexready", "trust", "trusted", f"keys/{name}.pub", "--role", role, cwd=work)
    sign = (py, "-m", "pytest_apexready", "sign", "proj/reports", "--passphrase-env", env_pp)
    sh(*sign, "--role", "Database Admin", "--name", "Dana Lee", "--key", "keys/dana.key", cwd=work)
    sh(*sign, "--role", "Platform Engineering Lead", "--name", "Pat Kim", "--key", "keys/pat.key", cwd=work, ok=(1,))
    (proj / "failing.txt").write_text("2.1.2")
    sh(py, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--apex-rerun", "reports", cwd=proj, ok=(1,))
    sh(*sign, "--role", "Platform Engineering Lead", "--name", "Pat Kim", "--key", "keys/pat.key", cwd=work)
    sh(py, "-m", "pytest_apexready", "export", "proj/reports", "--trust", "trusted", cwd=work)
    for target in ("proj/reports", "proj/reports/checklist.signed.json"):
        sh(py, "-m", "pytest_apexready", "verify", target, "--trust", "trusted", cwd=work)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    shutil.copytree(work / "trusted", out / "trusted")
    for name in ("checklist.json", "checklist.md", "checklist.html", "checklist.signed.json", "revisions"):
        src = proj / "reports" / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, out / name)


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve())
