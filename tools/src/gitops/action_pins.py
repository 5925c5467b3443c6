"""Check each pinned action against upstream: its commit exists and is the commit its tag comment
names. Offline rules (workflow_policies.unpinned_actions) see only the form of a pin; a pin to a
commit that does not exist passes them, and the job that uses it fails at set-up (issue #20's
review: GitHub downloads every action of a job in its "Set up job" step, before the first step).

    gitops-action-pins             # every workflow under .github/workflows, against github.com
    gitops-action-pins --remote '/mirrors/{owner}+{name}'   # local mirrors

Standard library only, so CI runs it with a bare python3.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

GITHUB = "https://github.com/{repo}"
WORKFLOWS = Path(".github/workflows")
# `uses: owner/repo[/path]@<commit> # <tag>`: the reference, then the comment (YAML drops it).
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<action>[^\s@#]+)(?:@(?P<ref>[^\s#]+))?\s*(?:#\s*(?P<tag>\S+))?")
COMMIT = re.compile(r"[0-9a-f]{40}")
TAG = re.compile(r"v\d+(\.\d+){0,2}")


@dataclass(frozen=True, slots=True)
class Pin:
    workflow: str
    line: int
    repo: str  # owner/name: the git repository an action such as owner/name/path lives in
    commit: str
    tag: str

    def __str__(self) -> str:
        return f"{self.workflow}:{self.line}: {self.repo}@{self.commit} # {self.tag}"


def pins(root: Path) -> list[Pin]:
    found = []
    for path in sorted((root / WORKFLOWS).glob("*.yml")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = USES.match(line)
            if match and match["ref"] and not match["action"].startswith(("./", "docker://")):
                repo = "/".join(match["action"].split("/")[:2])
                found.append(Pin(str(path.relative_to(root)), number, repo, match["ref"], match["tag"] or ""))
    return found


def tag_commit(remote: str, tag: str) -> str | None:
    """The commit a tag points at (an annotated tag's peeled ``^{}`` entry wins), or None."""
    listing = subprocess.run(
        ["git", "ls-remote", "--tags", remote, f"refs/tags/{tag}", f"refs/tags/{tag}^{{}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    refs: dict[str, str] = {}
    for line in listing.splitlines():
        commit, ref = line.split("\t")
        refs[ref] = commit
    return refs.get(f"refs/tags/{tag}^{{}}") or refs.get(f"refs/tags/{tag}")


def problems(root: Path, remote_template: str = GITHUB) -> list[str]:
    """One line per pin whose tag is missing upstream or names another commit."""
    found = []
    for pin in pins(root):
        owner, name = pin.repo.split("/")
        commit = tag_commit(remote_template.format(repo=pin.repo, owner=owner, name=name), pin.tag)
        if commit is None:
            found.append(f"{pin}: no tag {pin.tag} upstream")
        elif commit != pin.commit:
            found.append(f"{pin}: upstream {pin.tag} is {commit}, not the pinned commit")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=Path.cwd())
    parser.add_argument("--remote", default=GITHUB, help="git URL template: {repo}, or {owner} and {name}")
    args = parser.parse_args()
    found = problems(args.root, args.remote)
    for line in found:
        print(line)
    checked = len(pins(args.root))
    print(f"{checked} pins checked, {len(found)} wrong", file=sys.stderr)
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
