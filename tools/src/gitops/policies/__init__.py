"""The project's rules for one rendered environment. Each returns problems whose message says
what is wrong, where, and why it matters; `tools/tests/test_validate.py` breaks a copy of a real
environment for every rule and checks the message. Rules across Applications are in
`gitops.delivery_policies`."""

from gitops.policies import analysis_limits, autoscaling, availability, canary, network, pods, wiring
from gitops.policies.base import POLICIES, Context, Problem, check

__all__ = [
    "POLICIES",
    "Context",
    "Problem",
    "analysis_limits",
    "autoscaling",
    "availability",
    "canary",
    "check",
    "network",
    "pods",
    "wiring",
]
