"""The static checks a security review runs over template.yaml, in CI: cfn-lint and checkov. Every
checkov finding is fixed or suppressed in the template, on its resource, with the reason
(`Metadata: checkov: skip:`); cfn-lint (also run by `sam validate --lint`) finds nothing."""

import json
import subprocess

from tests.support.stack import ROOT

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
CFN_LINT = ROOT / ".venv" / "bin" / "cfn-lint"


def checkov_report() -> dict:
    assert CHECKOV.exists(), "make test installs checkov in .venv-checkov (a venv of its own: it pins an older boto3)"
    run = subprocess.run(
        [
            str(CHECKOV),
            "--file",
            "template.yaml",
            "--framework",
            "cloudformation",
            "--output",
            "json",
            "--skip-download",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(run.stdout)
    return report[0] if isinstance(report, list) else report


def test_checkov_finds_nothing_the_template_does_not_explain():
    results = checkov_report()["results"]
    failed = sorted(
        f"{check['check_id']} {check['resource']}: {check['check_name']}" for check in results["failed_checks"]
    )
    assert failed == []
    unexplained = [
        f"{check['check_id']} {check['resource']}"
        for check in results["skipped_checks"]
        if len(check["check_result"].get("suppress_comment") or "") < 20
    ]
    assert unexplained == []
    assert results["passed_checks"]  # it did check the template


def test_cfn_lint_finds_nothing():
    run = subprocess.run([str(CFN_LINT), "template.yaml"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert (run.returncode, run.stdout) == (0, "")
