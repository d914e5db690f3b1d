"""The routing-tree evaluator (pytest_apexready/rules/alert_routing.py) agrees with amtool.

``amtool config routes test`` (Debian prometheus-alertmanager) is the reference: for a set of
routing trees and label sets, the receivers must be the same, in the same order.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from pytest_apexready.rules import alert_routing as routing

TREE = {
    "route": {
        "receiver": "default",
        "routes": [
            {"matchers": ['severity="critical"'], "receiver": "slack", "continue": True},
            {"match": {"severity": "critical"}, "receiver": "pager",
             "routes": [{"match_re": {"team": "db|data"}, "receiver": "dba"}]},
            {"matchers": ['severity=~"warn.*"', 'team!="ai"'], "receiver": "email"},
            {"matchers": ['severity="warning", team="ai"'], "receiver": "ai-email"},
            {"matchers": ['env!~"prod|staging"'], "receiver": "dev"},
        ],
    },
    "receivers": [{"name": n} for n in ("default", "slack", "pager", "dba", "email", "ai-email", "dev")],
}
LABEL_SETS = [
    {"severity": "critical", "env": "prod"},
    {"severity": "critical", "team": "db", "env": "prod"},
    {"severity": "warning", "env": "prod"},
    {"severity": "warning", "team": "ai", "env": "prod"},
    {"severity": "info", "env": "dev"},
    {"severity": "info", "env": "prod"},
]


def amtool(config_path, labels: dict[str, str]) -> list[str]:
    out = subprocess.run(["amtool", "config", "routes", "test", f"--config.file={config_path}",
                          *(f"{k}={v}" for k, v in labels.items())], capture_output=True, text=True, check=True)
    return out.stdout.strip().split(",")


@pytest.mark.parametrize("labels", LABEL_SETS, ids=lambda d: ",".join(f"{k}={v}" for k, v in d.items()))
def test_receivers_match_amtool(labels, tmp_path):
    if shutil.which("amtool") is None:
        pytest.fail("amtool is missing: apt-get install prometheus-alertmanager (scripts/bootstrap.sh does)")
    path = tmp_path / "am.yml"
    path.write_text(yaml.safe_dump(TREE))
    assert routing.receivers_for(TREE, labels) == amtool(path, labels)


def test_integrations_name_channels_and_kinds():
    config = {"receivers": [{"name": "r", "slack_configs": [{"channel": "#platform-alerts"}],
                             "pagerduty_configs": [{"routing_key": "<secret>"}], "email_configs": [{"to": "a@b"}]}]}
    assert routing.integrations(config, "r") == ["slack:#platform-alerts", "pagerduty", "email:a@b"]
    assert routing.integrations(config, "missing") == []
