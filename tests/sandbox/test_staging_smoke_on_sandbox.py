"""10.1.1 on the sandbox: the sandbox plays staging (the real suites, ``-m "app or golive"``, signed by a CI key for
the Platform Engineering Lead, kept in a store), then the real 10.1.1 check reads that store and passes.
Its failing directions are in tests/test_staging_record.py."""

from __future__ import annotations

from checkrun import run_checks
from pytest_apexready.cli import main as cli_main


def test_10_1_1_passes_on_the_sandboxs_signed_staging_run(tmp_path):
    keys, trusted, store = tmp_path / "keys", tmp_path / "trusted", tmp_path / "store"
    assert cli_main(["keygen", str(keys / "ci")]) == 0
    assert cli_main(["trust", str(trusted), str(keys / "ci.pub"), "--role", "Platform Engineering Lead"]) == 0
    staging_dir = tmp_path / "staging-run"
    staging_dir.mkdir()
    (staging_dir / "staging.toml").write_text('extends = "local"\ndescription = "the sandbox as staging"\n')
    staging = run_checks(staging_dir, "app or golive", staging_dir / "staging.toml",
                         f"--apex-sign-key={keys / 'ci.key'}", "--apex-signer", "Platform Engineering Lead=CI Bot",
                         f"--apex-store={store}")
    assert staging.record["environment"]["name"] == "staging"
    assert [s["ready"] for s in staging.record["sections"] if s["number"] == 3] == [True], staging.output[-3000:]
    assert (store / "staging" / "latest").is_file()
    production = run_checks(tmp_path, "golive",
                            f'extends = "local"\n[evidence]\nstaging_store = "{store}"\ntrust = "{trusted}"\n',
                            "-k", "staging_smoke")
    item = production.items["10.1.1"]
    assert item["outcome"] == "passed", item["reason"]
    assert {e["name"] for e in item["evidence"]} >= {"staging_record", "verification", "finished"}
