"""AWS through boto3, reading only (Describe, List and Get calls).

One boto3 session per run. Every client shares one botocore ``Config``: connect and read
timeouts, and retries in standard mode with a bounded number of attempts. Each API operation is
called once per run with the same parameters (paginated to the end, cached), so the number of
calls grows with the resource types the checks read, not with the items or the resources.

Errors are sorted by what they cost:

- the endpoint does not answer, the credentials are refused or expired, the region is not one:
  remembered, so every further item of the target errors at once with the same reason (one
  timeout for the target);
- AccessDenied on one operation: only the items that need it error, naming the denied action;
- throttling that outlasts the bounded retries: the item errors, naming the throttle.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..outcomes import TargetUnavailable
from .base import Target

__all__ = ["DEFAULT_ATTEMPTS", "Aws"]

DEFAULT_ATTEMPTS = 3

_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError",
           "UnauthorizedException", "Forbidden", "403"}
_CREDENTIALS = {"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException",
                "SignatureDoesNotMatch", "AuthFailure", "InvalidAccessKeyId", "RequestExpired",
                "InvalidSignatureException", "MissingAuthenticationToken"}
_THROTTLED = {"Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded",
              "TooManyRequestsException", "RequestThrottled", "RequestThrottledException", "SlowDown",
              "PriorRequestNotComplete", "BandwidthLimitExceeded", "ProvisionedThroughputExceededException"}
_GLOBAL = {"shield", "cloudfront", "route53", "iam"}

#: every IAM action the AWS checks use: the checker's minimal policy (README "AWS"); sts:AssumeRole
#: is needed too when the profile names a role_arn (granted on that role)
CHECKER_ACTIONS = (
    "sts:GetCallerIdentity",
    "ec2:DescribeVpcs", "ec2:DescribeSubnets", "ec2:DescribeRouteTables", "ec2:DescribeSecurityGroups",
    "ec2:DescribeNatGateways", "ec2:DescribeInstances",
    "eks:DescribeCluster",
    "rds:DescribeDBInstances",
    "elasticache:DescribeReplicationGroups", "elasticache:DescribeCacheClusters",
    "elasticache:DescribeCacheSubnetGroups",
    "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetHealth",
    "cloudfront:ListDistributions",
    "acm:ListCertificates", "acm:DescribeCertificate",
    "wafv2:ListWebACLs", "wafv2:GetWebACL", "wafv2:GetWebACLForResource",
    "shield:DescribeSubscription", "shield:ListProtections",
    "secretsmanager:ListSecrets",
    "ecr:DescribeRepositories", "ecr:DescribeImageScanFindings", "ecr:DescribeImages",
    "s3:ListBucket",
)


def checker_policy() -> dict[str, Any]:
    """The minimal IAM policy of the checker: only the reads above, on every resource."""
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "ApexreadyReadOnly", "Effect": "Allow", "Action": list(CHECKER_ACTIONS), "Resource": "*"}]}
#: operations whose IAM action is not "<prefix>:<Operation>"
_ACTIONS = {("s3", "ListObjectsV2"): "s3:ListBucket", ("s3", "ListObjectVersions"): "s3:ListBucketVersions"}


class Aws(Target):
    def __init__(self, name: str, settings: dict[str, Any]):
        super().__init__(name, settings)
        self.timeout = float(settings.get("connect_timeout", 5))
        self.read_timeout = float(settings.get("read_timeout", 10))
        self.max_attempts = int(settings.get("max_attempts", DEFAULT_ATTEMPTS))
        self.region: str = settings.get("region", "us-east-1")
        self.endpoint_url: str | None = settings.get("endpoint_url")
        self._clients: dict[str, Any] = {}
        self._cache: dict[tuple[str, str, str], Any] = {}
        self._identity: dict[str, Any] = {}
        self._lock = threading.RLock()
        #: IAM actions of the API calls sent, one per request (pages and retries included)
        self.calls: list[str] = []

    # ------------------------------------------------------------------ connection

    @property
    def where(self) -> str:
        account = self._identity.get("Account")
        return (f"aws {'account ' + account + ' ' if account else ''}{self.region}"
                + (f" at {self.endpoint_url}" if self.endpoint_url else ""))

    @property
    def probe_budget(self) -> float:
        """The start-up probe may take one connect and one read timeout (sts:GetCallerIdentity, one attempt)."""
        return self.timeout + self.read_timeout + 1

    def _config(self, attempts: int) -> Any:
        """``attempts`` counts every request, the first included (botocore's ``max_attempts`` counts only retries)."""
        from botocore.config import Config

        return Config(connect_timeout=self.timeout, read_timeout=self.read_timeout,
                      retries={"mode": "standard", "total_max_attempts": attempts}, user_agent_extra="pytest-apexready")

    def _connect(self) -> Any:
        import boto3

        s = self.settings
        keys = {k: s[k].reveal() for k in ("access_key_id", "secret_access_key") if k in s}
        session = boto3.session.Session(aws_access_key_id=keys.get("access_key_id"),
                                        aws_secret_access_key=keys.get("secret_access_key"),
                                        profile_name=s.get("profile"), region_name=self.region)
        known = {r for p in session.get_available_partitions() for r in session.get_available_regions("ec2", p)}
        if self.region not in known:
            raise TargetUnavailable(self.name, self.where, f"region {self.region!r} is not an AWS region; "
                                    "fix [targets.aws] region (for example us-east-1)")
        # one attempt: an endpoint that does not answer costs one timeout, not max_attempts of them
        sts = session.client("sts", endpoint_url=self.endpoint_url, config=self._config(1))
        role = s.get("role_arn")
        try:
            if role:
                creds = sts.assume_role(RoleArn=role, RoleSessionName="apexready")["Credentials"]
                self.calls.append("sts:AssumeRole")
                session = boto3.session.Session(aws_access_key_id=creds["AccessKeyId"],
                                                aws_secret_access_key=creds["SecretAccessKey"],
                                                aws_session_token=creds["SessionToken"], region_name=self.region)
                sts = session.client("sts", endpoint_url=self.endpoint_url, config=self._config(1))
            self.calls.append("sts:GetCallerIdentity")
            self._identity = dict(sts.get_caller_identity())
        except Exception as exc:
            raise TargetUnavailable(self.name, self.where, self._explain(exc, "sts:GetCallerIdentity")) from None
        self._identity.pop("ResponseMetadata", None)
        return session

    def _probe_read(self) -> None:
        """The start-up probe's cheap read is sts:GetCallerIdentity, already made by :meth:`_connect`."""

    def identity(self) -> dict[str, Any]:
        self.client()
        return dict(self._identity)

    @property
    def account(self) -> str:
        self.client()
        return str(self._identity.get("Account", ""))

    def api(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                # global services answer in us-east-1 whatever the profile's region
                region = "us-east-1" if service in _GLOBAL else self.region
                client = self.client().client(service, endpoint_url=self.endpoint_url, region_name=region,
                                              config=self._config(self.max_attempts))
                client.meta.events.register("before-call", self._count)
                self._clients[service] = client
            return self._clients[service]

    def _count(self, model: Any, **_: Any) -> None:
        self.calls.append(_action(model.service_model.signing_name, model.name))

    # ------------------------------------------------------------------ reading

    def read(self, service: str, operation: str, **params: Any) -> Any:
        """The full answer of a Describe/List/Get operation (all pages merged), read once per run.

        ``operation`` is the boto3 method name (``describe_db_instances``). The answer is cached by
        service, operation and parameters; later calls return the cached answer.
        """
        if not operation.startswith(("describe_", "list_", "get_")):
            raise ValueError(f"{service}.{operation}: the AWS target sends only Describe, List and Get calls")
        key = (service, operation, repr(sorted(params.items())))
        with self._lock:
            if key in self._cache:
                cached = self._cache[key]
                if isinstance(cached, TargetUnavailable):  # an operation that failed is not asked again
                    raise cached
                return cached
            client = self.api(service)
            action = _action(client.meta.service_model.signing_name,
                             client.meta.method_to_api_mapping.get(operation, operation))
            try:
                if client.can_paginate(operation):
                    answer = client.get_paginator(operation).paginate(**params).build_full_result()
                else:
                    answer = getattr(client, operation)(**params)
            except Exception as exc:  # botocore's errors, sorted by _error
                self._cache[key] = error = self._error(exc, action)
                raise error from None
            answer.pop("ResponseMetadata", None)
            self._cache[key] = answer
            return answer

    def read_or(self, missing: set[str], service: str, operation: str, **params: Any) -> Any | None:
        """Like :meth:`read`, but None when AWS answers one of the ``missing`` error codes (no such thing)."""
        try:
            return self.read(service, operation, **params)
        except TargetUnavailable as exc:
            if getattr(exc, "aws_code", None) in missing:
                return None
            raise

    def not_found(self, what: str, name: str, action: str) -> TargetUnavailable:
        """A resource the profile names is not there: most likely the wrong region or account."""
        return TargetUnavailable(self.name, self.where, f"{what} {name!r} not found ({action}); is [targets.aws] "
                                 f"region ({self.region}) or role_arn right, or the name in the profile?")

    def _error(self, exc: BaseException, action: str) -> TargetUnavailable:
        from botocore.exceptions import ClientError

        error = TargetUnavailable(self.name, self.where, self._explain(exc, action))
        error.aws_code = _code(exc) if isinstance(exc, ClientError) else ""  # type: ignore[attr-defined]
        if not isinstance(exc, ClientError) or _code(exc) in _CREDENTIALS:
            self._failure = error  # the endpoint or the identity fails everywhere: remembered for the target
        return error

    def _explain(self, exc: BaseException, action: str) -> str:
        from botocore.exceptions import ClientError, NoCredentialsError

        if isinstance(exc, TargetUnavailable):
            return exc.reason
        if isinstance(exc, NoCredentialsError):
            return ("no AWS credentials found (environment, shared config, SSO, instance or IRSA role); "
                    "set them, or name a profile in [targets.aws] profile")
        if isinstance(exc, ClientError):
            code, msg = _code(exc), exc.response.get("Error", {}).get("Message", "")
            attempts = exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) + 1
            if code in _DENIED:
                return f"AccessDenied: {action} was refused ({msg}); the checker's policy must allow {action}"
            if code in _THROTTLED:
                return (f"throttled: {action} answered {code} on all {attempts} attempts (retry mode standard, "
                        f"max_attempts {self.max_attempts}); run again later or raise [targets.aws] max_attempts")
            if code in _CREDENTIALS:
                return f"credentials refused: {action} answered {code} ({msg}); renew the credentials"
            return f"{action} answered {code}: {msg}"
        text = " ".join(str(exc).split())[:300]
        return f"{type(exc).__name__}: {text} (connect timeout {self.timeout:g} s, read timeout " \
               f"{self.read_timeout:g} s; every item of this target is reported with this one reason)"

    # ------------------------------------------------------------------ helpers for checks

    def setting(self, key: str, what: str) -> Any:
        """A resource name the profile must give; its absence is a clear error naming the key."""
        value = self.settings.get(key)
        if value in (None, "", [], {}):
            raise TargetUnavailable(self.name, self.where, f"the profile's [targets.aws] has no {key!r}: "
                                    f"set it to {what}")
        return value

    def at(self, action: str, arn: str = "") -> str:
        """Where a value was read: the API call, the resource ARN, the account and region."""
        return f"{action} {arn} ({self.where})".replace("  ", " ")

    def arn(self, service: str, resource: str, region: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if region else ''}:{self.account}:{resource}"


def tag(resource: dict[str, Any], key: str) -> str | None:
    for t in resource.get("Tags", resource.get("TagList", [])) or []:
        if t.get("Key") == key:
            return str(t.get("Value"))
    return None


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _action(prefix: str, operation: str) -> str:
    return _ACTIONS.get((prefix, operation), f"{prefix}:{operation}")


#: for tests: turn an operation name into its IAM action
action_of: Callable[[str, str], str] = _action
