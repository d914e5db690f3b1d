"""``apexready``: init, keygen, trust, sign, verify, show, export. See README and ``docs/signing.md``.

Exit status: 0 success; 1 a section was refused or verification failed; 2 a usage problem.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import signing
from ._version import __version__


def _passphrase(env_var: str | None, ask: bool, confirm: bool = False) -> bytes | None:
    if env_var:
        value = os.environ.get(env_var)
        if not value:
            raise signing.SigningError(f"environment variable {env_var} (passphrase) is not set or empty")
        return value.encode("utf-8")
    if ask:
        first = getpass.getpass("passphrase: ")
        if confirm and getpass.getpass("passphrase again: ") != first:
            raise signing.SigningError("the passphrases differ")
        return first.encode("utf-8") or None
    return None


def cmd_keygen(args: argparse.Namespace) -> int:
    passphrase = _passphrase(args.passphrase_env, args.ask_passphrase, confirm=True)
    key_path, pub_path, fp = signing.write_keypair(Path(args.out), passphrase, args.force)
    print(f"private key: {key_path} (mode 0600{', encrypted' if passphrase else ', NOT encrypted'})")
    print(f"public key:  {pub_path}")
    print(f"fingerprint: {fp}")
    return 0


def cmd_trust(args: argparse.Namespace) -> int:
    dest, fp = signing.add_trust(Path(args.keys_dir), Path(args.public_key), args.role)
    print(f"trusted {dest} ({fp}) for: {', '.join(args.role)}")
    return 0


def _load_key(args: argparse.Namespace) -> Ed25519PrivateKey:
    try:
        return signing.load_private_key(args.key, _passphrase(args.passphrase_env, False))
    except signing.SigningError as exc:
        if "is encrypted" in str(exc) and sys.stdin.isatty() and not args.passphrase_env:
            return signing.load_private_key(args.key, _passphrase(None, True))
        raise


def cmd_sign(args: argparse.Namespace) -> int:
    record, outdir, _ = signing.load_record(Path(args.report_dir))
    key = _load_key(args)
    result = signing.sign_role(record, args.role, args.name, key)
    fp = signing.fingerprint(key.public_key())
    for sec in result.signed:
        print(f"signed section {sec.number} ({sec.title}) as {args.name} ({args.role}), key {fp}")
    for sec, blocking in result.refused:
        print(f"REFUSED section {sec.number} ({sec.title}): not ready to sign; blocked by "
              f"{', '.join(blocking)}", file=sys.stderr)
    if result.signed:
        paths = signing.write_signed(result.record, outdir, signing.public_keys_for_archive(key))
        print("written: " + ", ".join(str(p) for p in paths))
    return 1 if result.refused else 0


def cmd_verify(args: argparse.Namespace) -> int:
    trust = signing.load_trust(Path(args.trust))
    result = signing.verify_path(Path(args.path), trust)
    if not args.quiet:
        for line in result.valid:
            print(f"ok: {line}")
        for line in result.notes:
            print(f"note: {line}")
    for line in result.problems:
        print(f"FAILED: {line}", file=sys.stderr)
    if not result.problems and not result.valid:
        print("FAILED: the record carries no valid signature", file=sys.stderr)
    print("verification " + ("passed" if result.ok else "FAILED"))
    return 0 if result.ok else 1


def cmd_show(args: argparse.Namespace) -> int:
    record = signing.load_document(Path(args.path))
    env, run, rev = record.environment, record.run, record.revision
    print(f"environment {env.name}; run {run.started} to {run.finished}; pytest-apexready "
          f"{run.tool_version}" + (f", commit {run.git_commit[:12]}" if run.git_commit else ""))
    if rev is not None:
        print(f"revision {rev.number} {rev.id}" + (f" (previous {rev.previous})" if rev.previous else ""))
    print("outcomes: " + ", ".join(f"{o.value} {n}" for o, n in record.summary.outcomes.items() if n))
    for sec in record.sections:
        counts = ", ".join(f"{o.value} {n}" for o, n in sec.counts.items() if n)
        blocking = sec.blocking
        state = "ready" if sec.ready else f"NOT ready (blocked by {len(blocking)}: " \
            f"{', '.join(blocking[:8])}{', ...' if len(blocking) > 8 else ''})"
        print(f"{sec.number:>2}. {sec.title} [{sec.sign_off_role}]: {counts}; {state}")
        for sig in sec.signatures:
            print(f"      {sig.state}: {sig.name} ({sig.role}) {sig.date} key {sig.fingerprint} "
                  f"(revision {sig.revision})")
    if args.trust:
        result = signing.verify_record(record, signing.load_trust(Path(args.trust)))
        for line in result.problems:
            print(f"FAILED: {line}")
        print("verification " + ("passed" if result.ok else "FAILED"))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    record, outdir, _ = signing.load_record(Path(args.report_dir))
    trust = signing.load_trust(Path(args.trust)) if args.trust else None
    dest = signing.export_archive(record, outdir, Path(args.output) if args.output else None, trust)
    print(f"written: {dest}")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from .scaffold import ScaffoldError, scaffold

    directory = Path(args.directory)
    try:
        written = scaffold(directory, args.force)
    except ScaffoldError as exc:
        print(f"apexready init: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"written: {path}")
    print(f"next: fill in {directory / 'environments'}/staging.toml (hosts; secrets stay ${{VAR}}), then "
          f"cd {directory} && pytest --env staging")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="apexready", description="Sign off and verify the ApexMediation checklist.")
    p.add_argument("--version", action="version", version=f"pytest-apexready {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    k = sub.add_parser("keygen", help="create an ed25519 key pair: OUT.key (mode 0600) and OUT.pub")
    k.add_argument("out", metavar="OUT", help="path prefix, e.g. keys/dana")
    k.add_argument("--passphrase-env", metavar="VAR", help="encrypt the private key with the passphrase in VAR")
    k.add_argument("--ask-passphrase", action="store_true", help="prompt for a passphrase to encrypt the key")
    k.add_argument("--force", action="store_true", help="replace existing files")
    k.set_defaults(func=cmd_keygen)

    t = sub.add_parser("trust", help="trust a public key for roles (writes KEYS_DIR/trust.toml)")
    t.add_argument("keys_dir", metavar="KEYS_DIR")
    t.add_argument("public_key", metavar="PUBLIC_KEY")
    t.add_argument("--role", action="append", required=True, help="a role this key signs for (repeatable)")
    t.set_defaults(func=cmd_trust)

    s = sub.add_parser("sign", help="sign the ready sections of a role")
    s.add_argument("report_dir", metavar="REPORT_DIR")
    s.add_argument("--role", required=True)
    s.add_argument("--name", required=True)
    s.add_argument("--key", required=True, help="private key PEM file, or env:VAR")
    s.add_argument("--passphrase-env", metavar="VAR", help="the key's passphrase is in VAR (else prompted on a tty)")
    s.set_defaults(func=cmd_sign)

    v = sub.add_parser("verify", help="check every signature against trusted keys and the record")
    v.add_argument("path", metavar="REPORT_DIR", help="a report directory, checklist.json or checklist.signed.json")
    v.add_argument("--trust", required=True, metavar="KEYS_DIR", help="directory with trust.toml and public keys")
    v.add_argument("-q", "--quiet", action="store_true")
    v.set_defaults(func=cmd_verify)

    w = sub.add_parser("show", help="summary of outcomes and signatures")
    w.add_argument("path", metavar="REPORT_DIR")
    w.add_argument("--trust", metavar="KEYS_DIR", help="also verify")
    w.set_defaults(func=cmd_show)

    e = sub.add_parser("export", help=f"write the signed record as one file ({signing.ARCHIVE_NAME})")
    e.add_argument("report_dir", metavar="REPORT_DIR")
    e.add_argument("-o", "--output", metavar="FILE")
    e.add_argument("--trust", metavar="KEYS_DIR", help="include the signers' public keys from here")
    e.set_defaults(func=cmd_export)
    i = sub.add_parser("init", help="scaffold a repository that runs the packaged checklist: profiles, waivers, "
                                    "attestations, trusted keys, pytest settings, CI")
    i.add_argument("directory", metavar="DIR", nargs="?", default=".", help="where to write (default: .)")
    i.add_argument("--force", action="store_true", help="replace files that already exist")
    i.set_defaults(func=cmd_init)
    from .continuous import add_cli  # diff, history, schedule (pytest_apexready/history.py, phases.py)

    add_cli(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except signing.SigningError as exc:
        print(f"apexready {args.command}: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError, KeyError) as exc:
        print(f"apexready {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
