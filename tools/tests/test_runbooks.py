"""Every command in runbooks/ names something that exists here and holds under Argo CD and KEDA.

A command is each line of a shell code block and each inline code span that starts like one.
It must name a make target of the Makefile, a file or console script of this repository, or a
CLI from the short allowed list with a subcommand it has. And it must not be of the kinds that
read well but do not hold on the platform this repository deploys (issue #14):

- an undo of the Rollout: the environments sync with automated sync and selfHeal
  (argocd/apps/templates/applicationset.yaml), so the template it writes is put back within
  seconds. The guard is that runbooks never undo: they revert in git first (runbooks/rollback.md),
  after which an undo has nothing left to do;
- a manual scale: KEDA's HPA owns the replicas (rollouts/templates/scaledobject.yaml) and resets them;
- an exec into the Argo Rollouts controller: its image is distroless, with no shell or wget;
- `kubectl logs -l ... --since` without `--tail`: with a selector kubectl shows 10 lines a pod.

The old commands that did exactly these are kept below as inputs the check must refuse.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from functools import cache
from itertools import dropwhile
from pathlib import Path

import pytest
import yaml

from gitops.paths import ENVIRONMENTS, REPO_ROOT, namespace

RUNBOOKS = sorted((REPO_ROOT / "runbooks").glob("*.md"))
# Fenced blocks, also indented under a list item.
_SHELL_BLOCK = re.compile(r"^[ \t]*```(?:sh|bash|shell|console)?\n(.*?)^[ \t]*```", re.MULTILINE | re.DOTALL)
_ANY_BLOCK = re.compile(r"^[ \t]*```.*?^[ \t]*```", re.MULTILINE | re.DOTALL)
_INLINE = re.compile(r"`([^`]+)`")
_PLACEHOLDER = re.compile(r"<[A-Za-z][^<>|;&]*>")  # <pod>, <n>, <image@digest>: the reader fills them in
_SUBSTITUTION = re.compile(r"\$\(([^()]*)\)")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_OPERATORS = {"|", "||", "&&", ";", "&", "(", ")"}
_REDIRECTIONS = {">", ">>", "<", "2>", "2>>"}
FILL = "PLACEHOLDER"

# kubectl's own verbs that read, or write only what git does not hold (a pod, an annotation).
KUBECTL_VERBS = {"get", "describe", "logs", "delete", "annotate", "port-forward", "run", "events", "explain"}
# Verbs whose live change Argo CD's self-heal puts back, or that the platform cannot serve.
KUBECTL_REFUSED = {
    "scale": "KEDA's HPA owns the replica count and resets it: raise the bounds in git, or pause KEDA "
    "(runbooks/scale-out.md)",
    "exec": "the Argo Rollouts controller's image is distroless (no shell, no wget): port-forward its "
    "metrics Service and curl locally, or run a throwaway pod",
    "top": "the platform installs no metrics-server: read cAdvisor's series in Prometheus",
    **dict.fromkeys(
        ("patch", "edit", "set", "apply", "replace"),
        "Argo CD's self-heal reverts a live change to what git holds: change git",
    ),
}
# The plugin's subcommands (argo-rollouts v1.8.3 docs/generated/kubectl-argo-rollouts/) that
# write only status (abort, retry, promote) or read.
ROLLOUTS_VERBS = {"get", "list", "status", "abort", "retry", "promote", "pause", "lint", "version"}
ROLLOUTS_REFUSED = {
    "undo": "undo writes spec.template, which Argo CD's self-heal puts back within seconds: revert the "
    "digest in git first (runbooks/rollback.md)",
    "set": "set image writes spec.template, which Argo CD's self-heal puts back: change git",
}
# Other CLIs an on-call may need, each with the subcommands it is used with (None: any).
ALLOWED: dict[str, set[str] | None] = {
    "argocd": {"app"},
    "git": {"log", "show", "diff", "fetch", "switch", "revert", "push", "commit", "status"},
    "curl": None,
    "jq": None,
    "grep": None,
    "install": None,
    "sha256sum": None,
    "promtool": {"check", "test", "query"},
    "amtool": {"check-config", "alert", "silence", "config"},
    "helm": {"template", "get", "history", "list", "status"},
    "cosign": {"verify"},
    "gh": {"pr", "workflow", "run"},
}
ARGOCD_APP_VERBS = {"sync", "get", "diff", "history", "wait", "list", "resources", "manifests"}
_KUBECTL_VALUE_FLAGS = {"-n", "--namespace", "--context", "--kubeconfig", "-l", "--selector"}


@cache
def make_targets() -> frozenset[str]:
    text = (REPO_ROOT / "Makefile").read_text()
    return frozenset(re.findall(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", text, flags=re.MULTILINE))


@cache
def console_scripts() -> frozenset[str]:
    names: set[str] = set()
    for project in ("tools/pyproject.toml", "services/classifier/pyproject.toml"):
        names |= set(tomllib.loads((REPO_ROOT / project).read_text())["project"]["scripts"])
    return frozenset(names)


@cache
def platform_applications() -> tuple[dict[str, object], ...]:
    """The add-ons' Applications (platform/*.yaml)."""
    return tuple(
        document
        for path in sorted((REPO_ROOT / "platform").glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document and document.get("kind") == "Application"
    )


@cache
def known_namespaces() -> frozenset[str]:
    """NS (the runbooks' stand-in), the environments', and those the platform installs into."""
    names = {"NS", FILL, "argocd", *(namespace(env) for env in ENVIRONMENTS)}
    names |= {app["spec"]["destination"]["namespace"] for app in platform_applications()}  # type: ignore[index]
    return frozenset(names)


@cache
def top_level_folders() -> frozenset[str]:
    return frozenset(p.name for p in REPO_ROOT.iterdir() if p.is_dir() and not p.name.startswith("."))


def _starts_a_command(words: list[str]) -> bool:
    """An inline span is a command if it starts with something that runs, or reads like one
    (a lower-case word, then an option): `no such host` is prose, `wget -qO- URL` a command."""
    words = list(dropwhile(_ASSIGNMENT.match, words))  # FOO=bar command ...
    if not words:
        return False
    head = words[0]
    if head in {"make", "kubectl", "source", *ALLOWED, *console_scripts()} or head.startswith(
        (".venv/", "./")
    ):
        return True
    return bool(re.fullmatch(r"[a-z][\w.-]*", head)) and any(re.match(r"--?[A-Za-z]", w) for w in words[1:])


def commands_in(markdown: str) -> Iterator[str]:
    """The runnable text of a runbook: shell block lines (continuations joined, comments dropped)
    and inline spans that start like a command."""
    for block in _SHELL_BLOCK.findall(markdown):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip() and not line.strip().startswith("#"):
                yield line.strip()
    for span in _INLINE.findall(_ANY_BLOCK.sub("", markdown)):
        text = " ".join(span.split())
        try:
            words = shlex.split(_PLACEHOLDER.sub(FILL, text))
        except ValueError:
            continue
        if _starts_a_command(words):
            yield text


def simple_commands(line: str) -> Iterator[list[str]]:
    """Each command of a pipeline or list, command substitutions included, redirections dropped."""
    line = _PLACEHOLDER.sub(FILL, line)
    for inner in _SUBSTITUTION.findall(line):
        yield from simple_commands(inner)
    lexer = shlex.shlex(_SUBSTITUTION.sub(FILL, line), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    command: list[str] = []
    skip_next = False
    for token in lexer:
        if skip_next:
            skip_next = False
        elif token in _OPERATORS:
            if command:
                yield command
            command = []
        elif token in _REDIRECTIONS:
            skip_next = True
        else:
            command.append(token)
    if command:
        yield command


def _repository_paths(args: list[str]) -> list[str]:
    """Arguments that name a path in this repository (placeholders match anything) but none is there."""
    missing = []
    for arg in args:
        path = arg.split("=", 1)[-1]
        if path.split("/", 1)[0] in top_level_folders() and "/" in path:
            pattern = path.replace(FILL, "*").rstrip("/")
            if not any(REPO_ROOT.glob(pattern)):
                missing.append(f"{arg} is not in the repository")
    return missing


def _kubectl(args: list[str]) -> list[str]:
    problems, words, value_of = [], [], None
    for arg in args:
        if value_of is not None:
            if value_of in {"-n", "--namespace"} and arg not in known_namespaces():
                problems.append(f"namespace {arg} is not one the platform deploys")
            value_of = None
        elif arg in _KUBECTL_VALUE_FLAGS:
            value_of = arg
        elif arg == "--":
            break
        elif not arg.startswith("-"):
            words.append(arg)
    verb = words[0] if words else ""
    if verb == "argo":
        if words[1:2] != ["rollouts"]:
            return [*problems, "the plugin is `kubectl argo rollouts`"]
        sub = words[2] if len(words) > 2 else ""
        if not sub:  # the plugin named, as in "the `kubectl argo rollouts` plugin"
            return problems
        if sub in ROLLOUTS_REFUSED:
            return [*problems, f"kubectl argo rollouts {sub}: {ROLLOUTS_REFUSED[sub]}"]
        if sub not in ROLLOUTS_VERBS:
            return [*problems, f"kubectl argo rollouts {sub!r} is not an allowed subcommand"]
        return problems
    if verb in KUBECTL_REFUSED:
        return [*problems, f"kubectl {verb}: {KUBECTL_REFUSED[verb]}"]
    if verb not in KUBECTL_VERBS:
        return [*problems, f"kubectl {verb!r} is not an allowed subcommand"]
    selector = any(a in {"-l", "--selector"} or a.startswith("--selector=") for a in args)
    since, tail = (any(a.startswith(flag) for a in args) for flag in ("--since", "--tail"))
    if verb == "logs" and selector and since and not tail:
        problems.append(
            "kubectl logs -l shows the last 10 lines of each pod whatever --since says: add --tail=-1"
        )
    return problems


def _console_script(name: str, args: list[str]) -> list[str]:
    """The repository's own entry points, asked by their real parser whether the subcommand exists."""
    if name not in console_scripts():
        return [f"{name} is not a console script of this repository"]
    positional = [a for a in args if not a.startswith("-")][:1]
    script = Path(sys.executable).parent / name
    result = subprocess.run([script, *positional, "--help"], capture_output=True, text=True, check=False)
    return [] if result.returncode == 0 else [f"{name} {' '.join(positional)}: {result.stderr.strip()}"]


def problems_of(command: list[str]) -> list[str]:
    """Why a simple command would not run here, or would not hold; empty if it is fine."""
    words = list(dropwhile(_ASSIGNMENT.match, command))
    if not words:
        return []
    head, args = words[0], words[1:]
    problems = _repository_paths(args)
    if head == "make":
        targets = [a for a in args if not a.startswith("-") and "=" not in a]
        return problems + [
            f"make {t}: no such target in the Makefile" for t in targets if t not in make_targets()
        ]
    if head in {"source", "."}:
        return problems + ([] if args and (REPO_ROOT / args[0]).is_file() else [f"{head} needs a file here"])
    if head.startswith(".venv/bin/") or head in console_scripts():
        return problems + _console_script(head.removeprefix(".venv/bin/"), args)
    if "/" in head:
        path = REPO_ROOT / head.removeprefix("./")
        ok = path.is_file() and os.access(path, os.X_OK)
        return problems + ([] if ok else [f"{head} is not an executable file of this repository"])
    if head == "kubectl":
        return problems + _kubectl(args)
    if head not in ALLOWED:
        return [*problems, f"{head}: not a make target, a file or console script here, or an allowed CLI"]
    subcommands = ALLOWED[head]
    positional = [a for a in args if not a.startswith("-")]
    if subcommands is not None and (not positional or positional[0] not in subcommands):
        return [*problems, f"{head} {positional[:1]}: not an allowed subcommand"]
    if head == "argocd":
        return problems + _argocd(positional[1:])
    return problems


def _argocd(words: list[str]) -> list[str]:
    """`argocd app VERB NAME`: the Applications the ApplicationSet makes are classifier-<folder>;
    the platform's are named in platform/*.yaml."""
    if not words or words[0] not in ARGOCD_APP_VERBS:
        return [f"argocd app {words[:1]}: not an allowed subcommand"]
    apps = {namespace(env) for env in ENVIRONMENTS} | {namespace(FILL)}
    apps |= {app["metadata"]["name"] for app in platform_applications()}  # type: ignore[index]
    return [f"argocd app {words[0]} {name}: no such Application" for name in words[1:2] if name not in apps]


def problems_in(markdown: str) -> list[str]:
    return [
        f"`{line}`: {problem}"
        for line in commands_in(markdown)
        for command in simple_commands(line)
        for problem in problems_of(command)
    ]


@pytest.mark.parametrize("page", RUNBOOKS, ids=lambda p: p.name)
def test_every_command_in_the_runbook_would_run_and_hold(page: Path) -> None:
    assert problems_in(page.read_text()) == []


def test_the_runbooks_commands_are_all_found() -> None:
    """The check reads what it should: blocks and spans, every kind of command the pages use."""
    lines = [line for page in RUNBOOKS for line in commands_in(page.read_text())]
    heads = {command[0] for line in lines for command in simple_commands(line)}
    assert {"kubectl", "git", "argocd", "make", "curl", "cosign", "jq", "source"} <= heads
    assert ".venv/bin/gitops-promote" in heads
    assert len(lines) > 50
    assert "kubectl argo rollouts abort classifier -n NS" in lines  # an inline span
    assert "make promote FROM=dev TO=staging STATUS=status.json SIGNATURE=signature.json" in lines  # a block


# What the runbooks said before issue #14, each with the reason it must be refused.
OLD_COMMANDS = [
    ("`kubectl argo rollouts undo classifier -n NS`", "self-heal"),
    (
        "```sh\nkubectl argo rollouts undo classifier -n NS        # runs the previous revision through the "
        "canary steps\ngit revert <merge commit of the promotion PR>      # so Argo CD does not re-apply the "
        "bad digest\n```\n",
        "revert the digest in git first",
    ),
    (
        "`kubectl -n argo-rollouts exec deploy/argo-rollouts -- wget -qO- "
        "http://kube-prometheus-stack-prometheus.monitoring.svc:9090/-/ready`",
        "distroless",
    ),
    ("`kubectl scale rollout classifier -n NS --replicas=<n>`", "KEDA"),
    (
        "`kubectl logs -n NS -l app.kubernetes.io/name=classifier --since=24h | jq 'select(.status >= 500)'`",
        "--tail=-1",
    ),
    ("`kubectl top pods -n NS`", "metrics-server"),
    ("Never `promote --full` past a failed analysis", "not a make target"),
]


@pytest.mark.parametrize(("markdown", "reason"), OLD_COMMANDS, ids=[r for _, r in OLD_COMMANDS])
def test_the_old_commands_are_refused(markdown: str, reason: str) -> None:
    problems = problems_in(markdown)
    assert any(reason in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("make promotion FROM=dev", "no such target"),
        ("cluster/cluster-start.sh", "not an executable file"),
        (".venv/bin/gitops-promote publish dev", "gitops-promote publish"),
        ("git log -- environments/qa/values.yaml", "not in the repository"),
        ("argocd app sync classifier-qa", "no such Application"),
        ("kubectl get pods -n prometheus", "namespace prometheus"),
        ("wget -qO- http://127.0.0.1:9090/-/ready", "not a make target"),
    ],
)
def test_a_command_naming_nothing_here_is_refused(command: str, reason: str) -> None:
    problems = problems_in(f"```sh\n{command}\n```\n")
    assert any(reason in problem for problem in problems), problems


def test_the_plugin_is_installed_as_the_runbooks_say() -> None:
    """`make cluster-up` does not install the kubectl plugin (cluster/cluster-up.sh); the runbooks
    install the version cluster/versions.env pins, from the release the e2e workflow downloads."""
    readme = (REPO_ROOT / "runbooks/README.md").read_text()
    cluster_up = (REPO_ROOT / "cluster/cluster-up.sh").read_text()
    claims = re.compile(r"plugin(?:(?!\bnot\b)[^.])*installed by `make cluster-up`")
    assert claims.search(
        "the `kubectl argo rollouts` plugin is installed by `make cluster-up`"
    )  # the old text
    if "kubectl-argo-rollouts" not in cluster_up:
        for page in [*RUNBOOKS, REPO_ROOT / "README.md"]:
            assert not claims.search(page.read_text()), (
                f"{page.name} says make cluster-up installs the plugin"
            )
    versions = (REPO_ROOT / "cluster/versions.env").read_text()
    assert re.search(r"^ARGO_ROLLOUTS_PLUGIN=v\d", versions, flags=re.MULTILINE)
    e2e = (REPO_ROOT / ".github/workflows/e2e.yml").read_text()
    url = 'base="https://github.com/argoproj/argo-rollouts/releases/download/${ARGO_ROLLOUTS_PLUGIN}"'
    checked = "grep ' kubectl-argo-rollouts-linux-amd64$' argo-rollouts-checksums.txt | sha256sum --check"
    for text in (e2e, readme):
        assert url in text
        assert checked in text
