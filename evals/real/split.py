#!/usr/bin/env python3
"""Split evals/real/questions/*.jsonl into calibration.jsonl and heldout.jsonl, stratified by corpus and kind.

Rule: items are grouped into strata by (corpus, kind). Within a stratum, items are ordered by the sha256 of
their id, and the order alternates between the halves, starting with the half picked by the parity of the
sha256 of the stratum's name (so odd-sized strata do not all favour the same half). Consequences:

- rerunning gives byte-identical files (nothing depends on file order, time or randomness);
- every half gets floor(n/2) or ceil(n/2) items of each stratum, so both halves hold every corpus and kind
  that has at least two items;
- adding questions for another corpus (or another kind) never moves an existing item, because strata are
  per corpus and kind; adding items to an existing stratum can move items of that stratum only.

(A plain "held out iff sha256(id) is odd" rule would be stable even within a stratum, but with five items a
stratum it leaves about a third of the strata 4-1 or 5-0; alternation keeps every stratum within one item.)

The held-out half is for the final, reported measurement only: never tune thresholds, prompts or code on it.
Tune on calibration.jsonl.

Usage::

    python3 evals/real/split.py            # writes evals/real/calibration.jsonl and evals/real/heldout.jsonl
    python3 evals/real/split.py --check    # exits 1 if the files on disk differ from what it would write
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
HALVES = ("calibration", "heldout")


def digest(text: str) -> int:
    """The sha256 of ``text`` as an integer."""
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest(), 16)


def load(folder: Path) -> list[dict]:
    """Every item of ``folder``/*.jsonl, in file-name then line order; exits on bad JSON or duplicate ids."""
    items = []
    for path in sorted(folder.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                try:
                    items.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise SystemExit(f"split.py: {path}:{number}: invalid JSON ({exc.msg})") from None
    ids = [item["id"] for item in items]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise SystemExit(f"split.py: duplicate ids: {', '.join(duplicates)} (run check_questions.py)")
    return items


def split(items: list[dict]) -> dict[str, list[dict]]:
    """The items of each half, ordered by corpus then id (see the module docstring for the rule)."""
    strata: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for item in items:
        strata[(item["corpus"], item["kind"])].append(item)
    half_of: dict[str, str] = {}
    for (corpus, kind), members in strata.items():
        first = digest(f"{corpus}/{kind}") % 2
        for rank, item in enumerate(sorted(members, key=lambda it: (digest(it["id"]), it["id"]))):
            half_of[item["id"]] = HALVES[(rank + first) % 2]
    ordered = sorted(items, key=lambda it: (it["corpus"], it["id"]))
    return {half: [it for it in ordered if half_of[it["id"]] == half] for half in HALVES}


def render(items: list[dict]) -> str:
    """JSON Lines text of ``items``."""
    return "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items)


def report(halves: dict[str, list[dict]]) -> bool:
    """Print counts per corpus and kind in each half; True when every stratum is within one item."""
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for index, half in enumerate(HALVES):
        for item in halves[half]:
            counts[(item["corpus"], item["kind"])][index] += 1
    kinds = sorted({kind for _, kind in counts})
    corpora = sorted({corpus for corpus, _ in counts})
    width = max(len("corpus"), *map(len, corpora))
    print(f"{'corpus':<{width}} " + " ".join(f"{kind:>12}" for kind in kinds) + f" {'total':>9}")
    for corpus in corpora:
        cells = [counts.get((corpus, kind), [0, 0]) for kind in kinds]
        total = [sum(c[0] for c in cells), sum(c[1] for c in cells)]
        print(
            f"{corpus:<{width}} "
            + " ".join(f"{f'{c[0]}/{c[1]}':>12}" for c in cells)
            + f" {f'{total[0]}/{total[1]}':>9}"
        )
    cells = [[sum(counts.get((c, k), [0, 0])[i] for c in corpora) for i in (0, 1)] for k in kinds]
    print(
        f"{'all':<{width}} "
        + " ".join(f"{f'{c[0]}/{c[1]}':>12}" for c in cells)
        + f" {f'{len(halves[HALVES[0]])}/{len(halves[HALVES[1]])}':>9}"
    )
    print("(cells are calibration/heldout)")
    worst = max(abs(a - b) for a, b in counts.values())
    lonely = [f"{c}/{k}" for (c, k), (a, b) in counts.items() if a == 0 or b == 0]
    if lonely:
        print(f"note: these strata have items in one half only: {', '.join(sorted(lonely))}")
    print(f"largest imbalance within a stratum: {worst}")
    return worst <= 1


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, compare) the halves and report; 1 when out of date or unbalanced."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=Path, default=HERE / "questions", help="folder of *.jsonl files")
    parser.add_argument("--out", type=Path, default=HERE, help="where calibration.jsonl and heldout.jsonl go")
    parser.add_argument("--check", action="store_true", help="only check that the files on disk are up to date")
    args = parser.parse_args(argv)
    halves = split(load(args.questions))
    balanced = report(halves)
    stale = []
    for half in HALVES:
        path = args.out / f"{half}.jsonl"
        text = render(halves[half])
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            continue
        if args.check:
            stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path} ({len(halves[half])} items)")
    if stale:
        print(f"split.py: out of date: {', '.join(stale)} (run python3 evals/real/split.py)", file=sys.stderr)
        return 1
    return 0 if balanced else 1


if __name__ == "__main__":
    sys.exit(main())
