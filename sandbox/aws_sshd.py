"""The bastion's host half: Debian's OpenSSH server, run as the sandbox's own sshd on 127.0.0.1.

Two servers: the compliant one (port 22022: keys only, no root login, no passwords) and a
drifted one (port 22023: passwords and root login allowed). Each gets a generated host key and
accepts the generated checker key for the system user ``apexcheck``. The host key is owned by
that user (mode 0600), which lets the checker run ``sshd -T`` (the effective configuration)
without root, while sshd (root) still accepts the key's permissions.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

from .common import HOST, SANDBOX_DIR, SandboxError, pid_alive, port_open, read_pidfile, stop_pid

SSHD = "/usr/sbin/sshd"
USER = "apexcheck"
SSHD_DIR = SANDBOX_DIR / "sshd"
PORTS = {"compliant": 22022, "drifted": 22023}

_SETTINGS = {
    "compliant": {"PasswordAuthentication": "no", "PermitRootLogin": "no", "KbdInteractiveAuthentication": "no",
                  "PubkeyAuthentication": "yes"},
    "drifted": {"PasswordAuthentication": "yes", "PermitRootLogin": "yes", "KbdInteractiveAuthentication": "yes",
                "PubkeyAuthentication": "yes"},
}


def available() -> str | None:
    """None when sshd can run here, else why not."""
    if not os.path.exists(SSHD):
        return f"{SSHD} missing (Debian package openssh-server; scripts/bootstrap.sh installs it)"
    if os.geteuid() != 0:
        return "sshd needs root to switch to the login user"
    return None


def _ensure_user() -> None:
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--create-home", "--shell", "/bin/sh", USER], check=True)
    # a locked account ('!') cannot log in even with a key: '*' allows key logins, no password
    subprocess.run(["usermod", "-p", "*", USER], check=True)


def start(directory: Path, port: int, flavour: str) -> int:
    """Start one sshd (idempotent); return its pid."""
    pidfile = directory / "sshd.pid"
    pid = read_pidfile(pidfile)
    if pid is not None and pid_alive(pid) and port_open(port):
        return pid
    _ensure_user()
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o755)
    for key in ("host_key", "checker_key"):
        if not (directory / key).exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"apexready-{key}", "-f",
                            str(directory / key)], check=True)
    user = pwd.getpwnam(USER)
    os.chown(directory / "host_key", user.pw_uid, user.pw_gid)
    shutil.copy(directory / "checker_key.pub", directory / "authorized_keys")
    os.chmod(directory / "authorized_keys", 0o644)
    host_pub = (directory / "host_key.pub").read_text().split()
    (directory / "known_hosts").write_text(f"[{HOST}]:{port} {host_pub[0]} {host_pub[1]}\n")
    lines = [f"Port {port}", f"ListenAddress {HOST}", f"HostKey {directory / 'host_key'}", f"PidFile {pidfile}",
             f"AuthorizedKeysFile {directory / 'authorized_keys'}", "UsePAM no", "StrictModes no",
             *(f"{k} {v}" for k, v in _SETTINGS[flavour].items())]
    (directory / "sshd_config").write_text("\n".join(lines) + "\n")
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    check = subprocess.run([SSHD, "-t", "-f", str(directory / "sshd_config")], capture_output=True, text=True)
    if check.returncode:
        raise SandboxError(f"sshd rejects {directory / 'sshd_config'}: {check.stderr.strip()}")
    subprocess.run([SSHD, "-f", str(directory / "sshd_config"), "-E", str(directory / "sshd.log")], check=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pid = read_pidfile(pidfile)
        if pid is not None and port_open(port):
            return pid
        time.sleep(0.05)
    raise SandboxError(f"sshd did not listen on {HOST}:{port} (see {directory / 'sshd.log'})")


def stop(directory: Path) -> bool:
    pid = read_pidfile(directory / "sshd.pid")
    if pid is not None and pid_alive(pid):
        stop_pid(pid, timeout=10)
        return True
    return False


def up() -> list[int]:
    pids = [start(SSHD_DIR / flavour, port, flavour) for flavour, port in PORTS.items()]
    # the profile's sshd_command runs in the user's home: a stable relative path to each config
    home = Path(pwd.getpwnam(USER).pw_dir)
    for flavour in PORTS:
        link = home / f"bastion-{flavour}.sshd_config"
        link.unlink(missing_ok=True)
        link.symlink_to(SSHD_DIR / flavour / "sshd_config")
    return pids


def down() -> bool:
    return any([stop(SSHD_DIR / flavour) for flavour in PORTS])


def running() -> dict[str, bool]:
    return {flavour: port_open(port) for flavour, port in PORTS.items()}
