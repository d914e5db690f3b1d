"""3.1.1 and 3.2.1, part "registry": the image tag each workload runs is pushed to its ECR repository.

The tag is read where it runs: the containers of the backend Deployments (``[targets.kubernetes]
backend``) and of the console Deployment (``console``), the same objects the part "k8s" reads.
A profile without ``[targets.kubernetes]`` names the running images in ``[targets.aws] images``
instead; then which image is the backend's and which the console's is not known, so both items
look up every one of them (stricter, never a pass on less).

Each repository is read with ecr:DescribeImages once per run (paginated, through the aws client's
cache: both items share the answer). An image counts as pushed when ECR lists its tag (or digest)
with an ``imagePushedAt``.
"""

from __future__ import annotations

from typing import Any

from pytest_apexready import Finding, check, fail_check
from pytest_apexready import k8s_objects as k8s
from pytest_apexready.rules.images import ImageRef, parse_image
from pytest_apexready.suites import DEFAULTS

#: how many of a repository's tags a finding shows (a busy repository lists thousands)
SHOWN_TAGS = 10


@check("3.1.1", part="registry")
def test_backend_image_pushed(aws, apex_profile, request, evidence):
    def backend(kubernetes: Any) -> list[str]:
        return list(kubernetes.settings.get("backend", DEFAULTS["backend"]))

    _pushed(aws, _running_images(apex_profile, request, evidence, backend), evidence)


@check("3.2.1", part="registry")
def test_console_image_pushed(aws, apex_profile, request, evidence):
    def console(kubernetes: Any) -> list[str]:
        return [kubernetes.settings.get("console", "console")]

    _pushed(aws, _running_images(apex_profile, request, evidence, console), evidence)


def _running_images(apex_profile: Any, request: Any, evidence: Any, deployments: Any) -> dict[str, str]:
    """image reference -> where it was read."""
    if apex_profile.target("kubernetes") is None:
        aws = request.getfixturevalue("aws")
        images = aws.setting("images", 'the images running, as "repository:tag"')
        evidence.note("no [targets.kubernetes] in the profile: the running images are the profile's "
                      "[targets.aws] images, all of them looked up (which workload runs which is not known)")
        return {str(i): "profile [targets.aws] images" for i in images}
    kubernetes = request.getfixturevalue("kubernetes")
    found: dict[str, str] = {}
    for name in deployments(kubernetes):
        dep = k8s.deployment(kubernetes, name)
        for c in k8s.containers(dep):
            found.setdefault(c["image"], k8s.where(kubernetes, f"GET deployment {name} container {c['name']}"))
    return found


def _pushed(aws: Any, images: dict[str, str], evidence: Any) -> None:
    if not images:
        fail_check("running images", observed="none", expected="at least one image to look up",
                   where=", ".join(sorted(set(images.values()))) or "the profile")
    findings: list[Finding] = []
    seen: dict[str, Any] = {}
    for image, read_at in images.items():
        ref = parse_image(image)
        registry = aws.account
        if ref.ecr:
            registry, region = ref.ecr
            if region != aws.region:
                findings.append(Finding(f"registry of {image}", f"ECR in {region}", f"ECR in {aws.region} "
                                        "(the region [targets.aws] reads)", f"{read_at}; {aws.where}"))
                continue
        arn = f"arn:aws:ecr:{aws.region}:{registry}:repository/{ref.repository}"
        where = aws.at("ecr:DescribeImages", arn)
        detail, listed = _lookup(aws, ref, registry)
        seen[image] = {"read_from": read_at, "repository": arn, "digest": detail and detail.get("imageDigest"),
                       "pushed_at": str(detail["imagePushedAt"]) if detail and detail.get("imagePushedAt") else None}
        wanted = f"tag {ref.tag}" if ref.tag else f"digest {ref.digest}" if ref.digest else None
        if wanted is None:
            findings.append(Finding(f"{image} in ECR", "no tag and no digest: nothing to look up",
                                    "a tagged image (git SHA or release version)", f"{read_at}"))
        elif detail is None:
            findings.append(Finding(f"{image} in ECR", f"{wanted} not listed (tags listed: {listed or 'none'})",
                                    f"{wanted} pushed to {ref.repository}", where))
        elif not detail.get("imagePushedAt"):
            findings.append(Finding(f"push of {image}", "no imagePushedAt", "a push time", where))
    evidence.record("images_in_registry", seen, source="ecr:DescribeImages")
    fail_check(findings=findings)


def _lookup(aws: Any, ref: ImageRef, registry: str) -> tuple[dict[str, Any] | None, list[str]]:
    """(the image detail matching the tag or digest, or None; the newest tags listed).

    No such repository is an error, as in 5.1.5: far more often the wrong region or account than an
    image nobody pushed (which leaves the repository behind)."""
    params: dict[str, Any] = {"repositoryName": ref.repository}
    if registry != aws.account:  # another account's registry (a shared one): read it by its id
        params["registryId"] = registry
    answer = aws.read_or({"RepositoryNotFoundException"}, "ecr", "describe_images", **params)
    if answer is None:
        raise aws.not_found("ECR repository", ref.repository, "ecr:DescribeImages")
    details = answer.get("imageDetails", [])
    match = next((d for d in details if (ref.tag and ref.tag in (d.get("imageTags") or []))
                  or (not ref.tag and ref.digest and d.get("imageDigest") == ref.digest)), None)
    newest = sorted(details, key=lambda d: str(d.get("imagePushedAt", "")), reverse=True)
    listed = [t for d in newest for t in d.get("imageTags") or []][:SHOWN_TAGS]
    return match, listed
