"""Rules for the GitHub Actions workflows that write to git and build images: each class of
mistake here lints clean (actionlint) yet does not work as designed on GitHub."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from gitops.action_pins import COMMIT, TAG, USES, WORKFLOWS
from gitops.policies import Problem
from gitops.policies.base import registrar

APP_TOKEN_ACTION = "actions/create-github-app-token@"
Workflow = dict[str, Any]
WorkflowRule = Callable[[Workflow], Iterator[Problem]]
RULES: dict[str, WorkflowRule] = {}
rule = registrar(RULES)


def check(root: Path) -> list[Problem]:
    found = []
    for path in sorted((root / WORKFLOWS).glob("*.yml")):
        # YAML 1.1 reads the key `on` as True.
        workflow = {
            "on" if key is True else str(key): value
            for key, value in yaml.safe_load(path.read_text()).items()
        }
        scope = str(path.relative_to(root))
        found += [dataclasses.replace(p, scope=scope) for r in RULES.values() for p in r(workflow)]
        found += [dataclasses.replace(p, scope=scope) for p in unpinned_actions(path.read_text())]
    return found


def unpinned_actions(text: str) -> Iterator[Problem]:
    """Every action by a full commit SHA with its release tag as a comment (GitHub's "Security
    hardening for GitHub Actions": a full-length commit SHA is the only immutable reference; the
    tag comment is what Renovate's pinDigests keeps up to date and the `action-pins` CI job checks
    against upstream). Local actions and reusable workflows (``./``) and ``docker://`` are exempt."""
    for number, line in enumerate(text.splitlines(), start=1):
        found = USES.match(line)
        if not found or found["action"].startswith(("./", "docker://")):
            continue
        action, ref, tag = found["action"], found["ref"] or "", found["tag"] or ""
        if not COMMIT.fullmatch(ref):
            message = f"line {number}: {action}@{ref or '(no ref)'} is not pinned to a full commit SHA"
            yield Problem("workflow-action-pinned", action, message)
        elif not TAG.fullmatch(tag):
            message = f"line {number}: {action}@{ref} has no `# vX.Y.Z` comment naming the tag it is"
            yield Problem("workflow-action-pinned", action, message)


@rule("workflow-read-only-default")
def read_only_by_default(workflow: Workflow) -> Iterator[Problem]:
    """The workflow's own permissions are read-only, so a job that needs a write asks for it
    itself (GitHub's "Security hardening": least privilege for GITHUB_TOKEN); with none set,
    GITHUB_TOKEN gets the repository's default, which may be read-write."""
    permissions = workflow.get("permissions")
    read_only = permissions in ("read-all", {}) or (
        isinstance(permissions, dict) and set(permissions.values()) <= {"read", "none"}
    )
    if not read_only:
        message = f"top-level permissions are {permissions!r}: make them read-only, grant writes per job"
        yield Problem("workflow-read-only-default", "permissions", message)


def _steps(workflow: Workflow) -> Iterator[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    """(job name, step, the job's steps) for every step."""
    for name, job in (workflow.get("jobs") or {}).items():
        for step in job.get("steps") or []:
            yield name, step, job["steps"]


@rule("workflow-writes-with-app-token")
def writes_that_trigger_ci(workflow: Workflow) -> Iterator[Problem]:
    """A push or pull request made with GITHUB_TOKEN starts no workflow (GitHub docs, "Triggering
    a workflow from a workflow"): it gets no CI checks and cannot merge where they are required."""
    for job, step, steps in _steps(workflow):
        run = str(step.get("run", ""))
        if "git push" not in run and "gh pr create" not in run:
            continue
        app_steps = [s.get("id") for s in steps if str(s.get("uses", "")).startswith(APP_TOKEN_ACTION)]
        credentials = " ".join(
            [str(v) for v in (step.get("env") or {}).values()]
            + [
                str((s.get("with") or {}).get("token", ""))
                for s in steps
                if "actions/checkout@" in str(s.get("uses"))
            ]
        )
        if not any(f"steps.{i}.outputs.token" in credentials for i in app_steps if i):
            message = (
                "pushes or opens a pull request without a GitHub App's token: with GITHUB_TOKEN GitHub "
                "starts no workflow for it, so it gets no CI checks"
            )
            yield Problem("workflow-writes-with-app-token", f"job {job}", message)
        if "github.token" in credentials or "secrets.GITHUB_TOKEN" in credentials:
            message = "hands GITHUB_TOKEN to a push or `gh pr create`: use the App's token"
            yield Problem("workflow-writes-with-app-token", f"job {job}", message)


@rule("workflow-push-main-retries")
def pushes_to_main_follow_main(workflow: Workflow) -> Iterator[Problem]:
    """A job pushing to main works on main as it is (not the commit that triggered it) and
    rebases and retries when main moved meanwhile, instead of failing the push."""
    for job, step, steps in _steps(workflow):
        run = str(step.get("run", ""))
        if not re.search(r"git push \S+ \S*:?(refs/heads/)?main\b", run):
            continue
        checkout = next((s for s in steps if "actions/checkout@" in str(s.get("uses"))), {})
        if (checkout.get("with") or {}).get("ref") != "main":
            message = "pushes to main from the commit that triggered it: check out `ref: main`"
            yield Problem("workflow-push-main-retries", f"job {job}", message)
        if "git pull --rebase" not in run:
            message = "pushes to main once: a push is rejected if main moved; rebase and retry"
            yield Problem("workflow-push-main-retries", f"job {job}", message)


@rule("workflow-load-without-attestations")
def loaded_images_carry_no_attestations(workflow: Workflow) -> Iterator[Problem]:
    """buildx refuses `load` with SBOM or provenance attestations: the docker exporter cannot carry
    them (docker/buildx #1511, "build: error when using docker exporter and attestations")."""
    for job, step, _ in _steps(workflow):
        if not str(step.get("uses", "")).startswith("docker/build-push-action@"):
            continue
        inputs = step.get("with") or {}
        for ref in ("refs/heads/main", "refs/pull/1/merge"):
            load = _evaluate(inputs.get("load", False), ref)
            attested = _evaluate(inputs.get("sbom", False), ref) or _evaluate(
                inputs.get("provenance", False), ref
            )
            if load and attested:
                message = (
                    f"on {ref} loads the image with SBOM or provenance attestations: buildx refuses that"
                )
                yield Problem("workflow-load-without-attestations", f"job {job}", message)


@rule("workflow-no-licensed-actions")
def no_action_that_needs_a_licence(workflow: Workflow) -> Iterator[Problem]:
    """gitleaks-action needs a paid GITLEAKS_LICENSE for repositories owned by an organisation
    (gitleaks/gitleaks-action README) and fails without it: run the gitleaks binary."""
    for job, step, _ in _steps(workflow):
        if str(step.get("uses", "")).startswith("gitleaks/gitleaks-action@"):
            yield Problem(
                "workflow-no-licensed-actions", f"job {job}", "uses gitleaks-action, which needs a licence"
            )


def _evaluate(value: Any, ref: str) -> bool:
    """A `with:` value for a given github.ref: literals, or one `${{ }}` expression of ==, !=,
    &&, || and ! over github.ref and string literals (GitHub's expression syntax)."""
    text = str(value).strip()
    found = re.fullmatch(r"\$\{\{(.*)\}\}", text, flags=re.S)
    if not found:
        return text.lower() not in {"false", "", "0"}
    expression = found.group(1)
    if re.search(r"[a-z_]+\.[a-z_.]+", expression.replace("github.ref", "")):
        raise ValueError(f"expression not modelled: {text}")
    python = (
        expression.replace("github.ref", "ref")
        .replace("&&", " and ")
        .replace("||", " or ")
        .replace("!=", " __ne__ ")
        .replace("!", " not ")
        .replace(" __ne__ ", " != ")
        .replace("true", "True")
        .replace("false", "False")
    )
    result = eval(python, {"__builtins__": {}}, {"ref": ref})
    return bool(result) and str(result).lower() != "false"


@rule("workflow-no-deploy-loop")
def a_deploy_does_not_retrigger_itself(workflow: Workflow) -> Iterator[Problem]:
    """A workflow that runs on push to main and commits to environments/ through deploy-dev (with
    an App token, whose push starts workflows) must not build again for that commit: the image's
    revision label changes, so each bump would build and bump again, forever."""
    triggers = workflow.get("on")
    push = triggers.get("push") if isinstance(triggers, dict) else None
    jobs = workflow.get("jobs") or {}
    callers = [name for name, job in jobs.items() if str(job.get("uses", "")).endswith("/deploy-dev.yml")]
    if not isinstance(push, dict) or not callers:
        return
    if any(str(p).startswith("environments/") for p in push.get("paths-ignore") or []):
        return
    for caller in callers:
        chain, pending = set(), [caller]
        while pending:
            name = pending.pop()
            chain.add(name)
            needs = jobs.get(name, {}).get("needs") or []
            pending += [n for n in ([needs] if isinstance(needs, str) else needs) if n not in chain]
        if not any("needs." in str(jobs[name].get("if", "")) for name in chain):
            message = (
                "commits to environments/ on every push, and that commit triggers this workflow again: skip "
                "the build when a push only changes environments/"
            )
            yield Problem("workflow-no-deploy-loop", f"job {caller}", message)


PULL_REQUEST = "refs/pull/1/merge"


def _writes(permissions: Any) -> list[str]:
    """The scopes a `permissions` value grants write on (`write-all`: every one)."""
    if permissions == "write-all":
        return ["all"]
    if isinstance(permissions, dict):
        return sorted(str(scope) for scope, level in permissions.items() if level == "write")
    return []


# A job's container and service containers: "the image to use ... docker://, or a registry image"
# (GitHub docs, "Workflow syntax", jobs.<job_id>.container.image and services.<id>.image).
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


@rule("workflow-image-by-digest")
def job_containers_by_digest(workflow: Workflow) -> Iterator[Problem]:
    """A job's container, service and `docker://` step images by digest: a tag moves, and the job
    would run whatever it names on the day (OpenSSF Scorecard Pinned-Dependencies). An image from
    an expression is not checked here."""
    for name, job in (workflow.get("jobs") or {}).items():
        container = job.get("container")
        images = [("container", container.get("image") if isinstance(container, dict) else container)]
        images += [
            (f"service {key}", (service or {}).get("image"))
            for key, service in (job.get("services") or {}).items()
        ]
        images += [
            (f"step {step.get('name') or index}", str(step["uses"]).removeprefix("docker://"))
            for index, step in enumerate(job.get("steps") or [])
            if str(step.get("uses", "")).startswith("docker://")
        ]
        for what, image in images:
            if image and "${{" not in str(image) and not DIGEST.search(str(image)):
                message = f"{what} image {image} is not pinned by digest (name:tag@sha256:...)"
                yield Problem("workflow-image-by-digest", f"job {name}", message)


@rule("workflow-pr-no-write")
def pull_requests_get_no_write_token(workflow: Workflow) -> Iterator[Problem]:
    """A job that can run for a pull request holds no write scope: the pull request's code runs in
    it, so a write token there lets an unmerged change push packages or sign as this repository
    (GitHub's "Security hardening for GitHub Actions", least privilege; OpenSSF Scorecard
    Token-Permissions). A job runs for one unless its `if`, or a job it needs, rules it out; a job
    without `permissions` has the workflow's (GitHub docs, "Assigning permissions to jobs")."""
    triggers = workflow.get("on")
    names = set(triggers) if isinstance(triggers, dict) else set(triggers or [])
    if not {"pull_request", "pull_request_target"} & names:
        return
    jobs = workflow.get("jobs") or {}
    for name, job in jobs.items():
        writes = _writes(job.get("permissions", workflow.get("permissions")))
        if writes and _may_run_for_a_pull_request(name, jobs):
            message = f"may run for a pull request with {', '.join(writes)}: write; run it on main only"
            yield Problem("workflow-pr-no-write", f"job {name}", message)


def _may_run_for_a_pull_request(name: str, jobs: dict[str, Any], seen: frozenset[str] = frozenset()) -> bool:
    """False when the job's `if` is false on a pull request's ref, or a job it needs never runs for
    one (a job whose need is skipped is skipped). Conditions on other jobs' outputs count as true."""
    job = jobs.get(name) or {}
    condition = str(job.get("if", "true"))
    condition = re.sub(
        r"needs\.[\w.-]+\s*(==|!=)\s*'[^']*'", "true", condition.removeprefix("${{").removesuffix("}}")
    )
    try:
        runs = _evaluate("${{ " + condition + " }}", PULL_REQUEST)
    except (ValueError, SyntaxError, NameError):
        runs = True  # a condition this model cannot read: assume it may run
    needs = job.get("needs") or []
    needs = [needs] if isinstance(needs, str) else needs
    return runs and all(
        _may_run_for_a_pull_request(need, jobs, seen | {name}) for need in needs if need not in seen
    )
