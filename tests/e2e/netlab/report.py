"""The end of every e2e check script: each problem on a FAIL line, one summary
line, and the exit status (1 when anything failed)."""

from __future__ import annotations


def finish(name: str, problems: list[str], summary: str) -> int:
    for line in problems:
        print("FAIL", line)
    print(f"{name}: {summary}")
    return 1 if problems else 0
