"""Expected reachability between the lab's pods, and the truth-table printout.

Reach is the oracle a case states in its own terms ("everything into x is
denied, except from x/b"), like upstream's Reachability. It never looks at
policies: the expectation is written by hand next to the policy it judges.
Self-connections (a pod to itself) are not probed, as upstream ignores
loopback.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .model import FAMILIES, PODS


def _matches(spec, pod: str) -> bool:
    if isinstance(spec, (list, tuple)):
        return any(_matches(s, pod) for s in spec)
    if spec == "*":
        return True
    ns, name = spec.split("/")
    pns, pname = pod.split("/")
    return ns in ("*", pns) and name in ("*", pname)


class Reach:
    """A from x to matrix of allowed/denied over the lab's pods.

    Selectors: "x/a" one pod, "x/*" a namespace, "*/a" a pod name in every
    namespace, "*" everything, or a list of those. Later calls override
    earlier ones, so a case reads as "deny this, then allow that".
    """

    def __init__(self, default: bool = True) -> None:
        self.cells = {(s, d): default for s in PODS for d in PODS if s != d}

    def set(self, frm, to, allowed: bool) -> "Reach":
        for spec in (frm, to):
            # A misspelt selector ("x/d") would silently weaken a table.
            if not any(_matches(spec, p) for p in PODS):
                raise ValueError(f"selector {spec!r} matches no pod of the lab")
        for (s, d) in self.cells:
            if _matches(frm, s) and _matches(to, d):
                self.cells[(s, d)] = allowed
        return self

    def allow(self, frm="*", to="*") -> "Reach":
        return self.set(frm, to, True)

    def deny(self, frm="*", to="*") -> "Reach":
        return self.set(frm, to, False)

    def __getitem__(self, pair: tuple[str, str]) -> bool:
        return self.cells[pair]

    def copy(self) -> "Reach":
        out = Reach()
        out.cells = dict(self.cells)
        return out


def allow_all() -> Reach:
    return Reach(True)


@dataclass
class Check:
    """Probe every pod pair on one port/protocol (both families) against expect."""

    proto: str
    port: int
    expect: Reach

    @property
    def label(self) -> str:
        return f"{self.proto.lower()}/{self.port}"


@dataclass
class Outcome:
    allowed: bool
    detail: str  # "connected", "echoed", "timeout", an errno text, ...


@dataclass
class CheckResult:
    check: Check
    # (src, dst, family) -> Outcome
    observed: dict[tuple[str, str, int], Outcome] = field(default_factory=dict)

    def mismatches(self) -> list[tuple[str, str, int, bool, Outcome]]:
        out = []
        for (s, d, fam), o in sorted(self.observed.items()):
            want = self.check.expect[(s, d)]
            if o.allowed != want:
                out.append((s, d, fam, want, o))
        return out

    def ok(self) -> bool:
        return not self.mismatches()

    def render(self, title: str = "") -> str:
        bad = {(s, d) for s, d, _f, _w, _o in self.mismatches()}
        head = f"{self.check.label}" + (f"  {title}" if title else "")
        lines = [head, "      " + " ".join(f"{p:>3}" for p in PODS)]
        for s in PODS:
            row = []
            for d in PODS:
                if s == d:
                    row.append(" - ")
                    continue
                fams = [self.observed.get((s, d, f)) for f in FAMILIES]
                if any(o is None for o in fams):
                    c = "?"
                elif all(o.allowed for o in fams):
                    c = "."
                elif not any(o.allowed for o in fams):
                    c = "X"
                else:
                    c = "~"
                row.append(f" {c}{'!' if (s, d) in bad else ' '}")
            lines.append(f"{s:>5} " + " ".join(row))
        return "\n".join(lines)

    def diff(self) -> list[str]:
        return [
            f"{s} -> {d} {self.check.label} IPv{fam}: expected {'allowed' if want else 'denied'}, "
            f"observed {'allowed' if o.allowed else 'denied'} ({o.detail})"
            for s, d, fam, want, o in self.mismatches()
        ]


LEGEND = "(rows from, columns to; '.' allowed, 'X' denied, '~' IPv4 and IPv6 differ, '!' not as expected)"
