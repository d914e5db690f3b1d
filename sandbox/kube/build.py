"""Build a local Kubernetes control plane (kube-apiserver, kube-controller-manager,
kube-scheduler), etcd and kwok from source through the Go module proxy.

Usage:
    python -m sandbox.kube.build            # build (or reuse) everything, print paths
    python -m sandbox.kube.build --json     # same, machine-readable

Library:
    from sandbox.kube.build import ensure_binaries
    paths = ensure_binaries()               # {"kube-apiserver": Path, ...}

Binaries are cached per version under ``$APEX_K8S_CACHE`` (default
``<repo>/.cache/k8s/bin``): ``<cache>/<component>-<version>/<binary>``.  A second
call returns immediately.  If ``KUBEBUILDER_ASSETS`` points to a directory that
contains ``kube-apiserver`` and ``etcd`` those are used for these two binaries.

Technique: for every component a throwaway Go module is generated at run time in
``<cache>/.build/<component>-<version>``; for Kubernetes its go.mod requires
``k8s.io/kubernetes vX`` and pins every staging module (read from
k8s.io/kubernetes' own go.mod in the module cache) to the matching ``v0.X.Y``
with ``replace`` directives.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CACHE = REPO_ROOT / ".cache" / "k8s" / "bin"

K8S_VERSION = os.environ.get("APEX_K8S_VERSION", "v1.36.3")
KWOK_VERSION = os.environ.get("APEX_KWOK_VERSION", "v0.8.0")
ETCD_VERSION = os.environ.get("APEX_ETCD_VERSION", "v3.6.16")

K8S_BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
ALL_BINARIES = (*K8S_BINARIES, "etcd", "kwok")


def log(msg: str) -> None:
    print(f"[k8s-build {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    if cache_dir is None:
        cache_dir = os.environ.get("APEX_K8S_CACHE") or DEFAULT_CACHE
    return Path(cache_dir).resolve()


def go_env(cache: Path) -> dict:
    env = dict(os.environ)
    # the Go toolchain of this machine kind lives in /usr/local/go/bin, which a bare PATH may lack
    if shutil.which("go", path=env.get("PATH")) is None and Path("/usr/local/go/bin/go").exists():
        env["PATH"] = "/usr/local/go/bin:" + env.get("PATH", "")
    env.setdefault("GOFLAGS", "-mod=mod")
    if "-mod=" not in env["GOFLAGS"]:
        env["GOFLAGS"] += " -mod=mod"
    if "-buildvcs" not in env["GOFLAGS"]:
        env["GOFLAGS"] += " -buildvcs=false"  # the build dir sits inside the project's git work tree
    env.setdefault("GOMAXPROCS", "2")
    env.setdefault("GOTOOLCHAIN", "local")
    env.setdefault("CGO_ENABLED", "0")
    env.setdefault("GOPROXY", "https://proxy.golang.org")
    # GOSUMDB stays default (sum.golang.org is reached through the proxy).
    return env


def run(cmd: list[str], cwd: Path, env: dict, capture: bool = False) -> subprocess.CompletedProcess:
    log("$ " + " ".join(cmd) + f"   (in {cwd})")
    res = subprocess.run(cmd, cwd=cwd, env=env, text=True,
                         stdout=subprocess.PIPE if capture else None,
                         stderr=subprocess.PIPE if capture else None)
    if res.returncode != 0:
        if capture:
            sys.stderr.write(res.stdout or "")
            sys.stderr.write(res.stderr or "")
        raise BuildError(f"command failed ({res.returncode}): {' '.join(cmd)}"
                         + (f"\n{res.stderr.strip()[-4000:]}" if capture and res.stderr else ""))
    return res


class BuildError(RuntimeError):
    pass


def _write_module(workdir: Path, content: str) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    gomod = workdir / "go.mod"
    if not gomod.exists() or not (workdir / ".generated").exists() or \
            (workdir / ".generated").read_text() != content:
        # regenerate from scratch (go.sum is kept: it only speeds things up)
        gomod.write_text(content)
        (workdir / ".generated").write_text(content)


def _mod_download(module: str, env: dict, cwd: Path) -> dict:
    res = run(["go", "mod", "download", "-json", module], cwd=cwd, env=env, capture=True)
    return json.loads(res.stdout)


def _staging_modules(k8s_version: str, env: dict, cwd: Path) -> list[str]:
    info = _mod_download(f"k8s.io/kubernetes@{k8s_version}", env, cwd)
    text = Path(info["GoMod"]).read_text()
    mods = sorted(set(re.findall(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/", text, re.M)))
    if not mods:
        raise BuildError(f"no staging replace directives found in {info['GoMod']}")
    return mods


def _staging_version(k8s_version: str) -> str:
    m = re.match(r"v1\.(\d+)\.(\d+)(.*)$", k8s_version)
    if not m:
        raise BuildError(f"unexpected kubernetes version {k8s_version}")
    return f"v0.{m.group(1)}.{m.group(2)}{m.group(3)}"


def _have(dirpath: Path, names) -> bool:
    return all((dirpath / n).is_file() and os.access(dirpath / n, os.X_OK) for n in names)


def _go_version_line() -> str:
    out = subprocess.run(["go", "env", "GOVERSION"], text=True, capture_output=True,
                         env=go_env(Path("."))).stdout.strip()
    m = re.match(r"go(\d+\.\d+)", out)
    return m.group(1) if m else "1.26"


def build_kubernetes(cache: Path, version: str = K8S_VERSION) -> dict[str, Path]:
    out = cache / f"kubernetes-{version}"
    if _have(out, K8S_BINARIES):
        return {n: out / n for n in K8S_BINARIES}
    env = go_env(cache)
    work = cache / ".build" / f"kubernetes-{version}"
    work.mkdir(parents=True, exist_ok=True)
    # a minimal module so that `go mod download` has a context
    _write_module(work, f"module apexready.local/k8sbuild\n\ngo {_go_version_line()}\n")
    log(f"resolving staging modules of k8s.io/kubernetes@{version}")
    staging = _staging_modules(version, env, work)
    sv = _staging_version(version)
    log(f"{len(staging)} staging modules -> {sv}")
    lines = [
        "// Code generated by sandbox/kube/build.py at run time. DO NOT EDIT.",
        "module apexready.local/k8sbuild", "",
        f"go {_go_version_line()}", "",
        f"require k8s.io/kubernetes {version}", "",
        "replace (",
    ]
    lines += [f"\t{m} => {m} {sv}" for m in staging]
    lines += [")", ""]
    _write_module(work, "\n".join(lines))
    (work / "tools.go").write_text(
        "//go:build tools\n\npackage tools\n\nimport (\n"
        + "".join(f'\t_ "k8s.io/kubernetes/cmd/{b}"\n' for b in K8S_BINARIES) + ")\n")
    m = re.match(r"v(\d+)\.(\d+)", version)
    if m is None:
        raise BuildError(f"Kubernetes version {version!r} (APEX_K8S_VERSION) is not like v1.36.3")
    pkg = "k8s.io/component-base/version"
    cpkg = "k8s.io/client-go/pkg/version"
    ld = ["-s", "-w"]
    for p in (pkg, cpkg):
        ld += [f"-X {p}.gitVersion={version}", f"-X {p}.gitMajor={m.group(1)}",
               f"-X {p}.gitMinor={m.group(2)}", f"-X {p}.gitTreeState=clean",
               f"-X {p}.buildDate=1970-01-01T00:00:00Z"]
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    t0 = time.time()
    log(f"building {', '.join(K8S_BINARIES)} {version} (slow: several minutes on 2 cores)")
    run(["go", "build", "-p", env.get("GOMAXPROCS", "2"), "-trimpath", "-tags", "providerless",
         "-ldflags", " ".join(ld), "-o", str(tmp) + "/"]
        + [f"k8s.io/kubernetes/cmd/{b}" for b in K8S_BINARIES], cwd=work, env=env)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    log(f"kubernetes {version} built in {time.time() - t0:.0f}s")
    return {n: out / n for n in K8S_BINARIES}


def _build_simple(cache: Path, name: str, module: str, version: str, pkg: str,
                  ldflags: str = "-s -w") -> Path:
    out = cache / f"{name}-{version}"
    if _have(out, [name]):
        return out / name
    env = go_env(cache)
    work = cache / ".build" / f"{name}-{version}"
    _write_module(work, "// Code generated by sandbox/kube/build.py at run time. DO NOT EDIT.\n"
                        f"module apexready.local/{name}build\n\ngo {_go_version_line()}\n\n"
                        f"require {module} {version}\n")
    (work / "tools.go").write_text(f'//go:build tools\n\npackage tools\n\nimport _ "{pkg}"\n')
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    t0 = time.time()
    log(f"building {name} {module}@{version}")
    run(["go", "build", "-p", env.get("GOMAXPROCS", "2"), "-trimpath", "-ldflags", ldflags,
         "-o", str(tmp / name), pkg], cwd=work, env=env)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    log(f"{name} {version} built in {time.time() - t0:.0f}s")
    return out / name


def build_etcd(cache: Path, version: str = ETCD_VERSION) -> Path:
    return _build_simple(cache, "etcd", "go.etcd.io/etcd/server/v3", version,
                         "go.etcd.io/etcd/server/v3")


def build_kwok(cache: Path, version: str = KWOK_VERSION) -> Path:
    return _build_simple(cache, "kwok", "sigs.k8s.io/kwok", version, "sigs.k8s.io/kwok/cmd/kwok",
                         ldflags=f"-s -w -X sigs.k8s.io/kwok/pkg/consts.Version={version}")


def ensure_binaries(cache_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """Return {name: path} for kube-apiserver, kube-controller-manager,
    kube-scheduler, etcd and kwok, building whatever is missing."""
    cache = cache_root(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    result: dict[str, Path] = {}
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets and _have(Path(assets), ["kube-apiserver", "etcd"]):
        log(f"using kube-apiserver and etcd from KUBEBUILDER_ASSETS={assets}")
        result["kube-apiserver"] = Path(assets) / "kube-apiserver"
        result["etcd"] = Path(assets) / "etcd"
        for n in ("kube-controller-manager", "kube-scheduler", "kwok"):
            if _have(Path(assets), [n]):
                result[n] = Path(assets) / n
    if "etcd" not in result:
        result["etcd"] = build_etcd(cache)
    if "kwok" not in result:
        result["kwok"] = build_kwok(cache)
    if not all(n in result for n in K8S_BINARIES):
        for n, p in build_kubernetes(cache).items():
            result.setdefault(n, p)
    return {n: result[n] for n in ALL_BINARIES}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.time()
    try:
        paths = ensure_binaries(args.cache_dir)
    except BuildError as e:
        log(f"BUILD FAILED: {e}")
        return 1
    log(f"done in {time.time() - t0:.1f}s")
    if args.json:
        print(json.dumps({k: str(v) for k, v in paths.items()}, indent=2))
    else:
        for k, v in paths.items():
            print(f"{k}\t{v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
