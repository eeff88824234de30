"""The structure measures of issue 22 ("one place per idea") for the Python code in `layers/` and `functions/`:

    .venv/bin/python scripts/structure_report.py [--root PATH] [--check]

1. Files: the 10 largest (lines), and every file under `layers/common/sales_assistant/services/` over 300 lines.
2. Functions and methods: the 15 longest (`end_lineno - lineno + 1` from `ast`, so decorators are not counted),
   and every function under the services folder over 50 lines.
3. `typing.Protocol` classes: how many, which ones live outside the ports (`services/ports.py` and any module under
   `services/ports/`), and any Protocol name defined more than once.
4. Duplicated blocks, found by a small detector of our own. Each file becomes a list of code lines: every physical
   line, stripped, with comments cut off (`tokenize`), and without blank lines, docstrings (`ast`) or the import
   header (`ast`: the module's top-level `import`/`from` statements). Every window of 6 consecutive code lines is
   hashed; a window found in two places is a duplicate, and the overlapping windows of one pair of places merge
   into one block. A block is counted once per pair of places (a block in three places counts three times); a
   file's window that overlaps itself (a run of repeated lines) is not a duplicate.
   pylint's duplicate-code check (R0801; min-similarity-lines=6, comments, docstrings and imports ignored) is
   stricter, so it reports fewer: it only compares different files (our "across files" figure), drops function
   signatures (its default ignore-signatures) and imports anywhere, needs MORE than 6 common lines, counts only
   lines with a letter or digit (not a lone `)`), and reports a block found in several files once.

`--root` measures another checkout (default: this repository). `--check` exits 1 when the issue's limits are
broken (a services file over 300 lines, a services function over 50 lines, a Protocol outside the ports, a Protocol
name defined twice), printing each breach; without it the script always exits 0.
"""

from __future__ import annotations

import argparse
import ast
import io
import itertools
import sys
import tokenize
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("layers", "functions")
SERVICES = Path("layers/common/sales_assistant/services")
PORTS_MODULE, PORTS_PACKAGE = SERVICES / "ports.py", SERVICES / "ports"
MAX_SERVICE_FILE_LINES = 300
MAX_SERVICE_FUNCTION_LINES = 50
LARGEST_FILES, LONGEST_FUNCTIONS = 10, 15
WINDOW = 6  # code lines, as pylint's min-similarity-lines


@dataclass(frozen=True)
class Source:
    path: Path  # relative to the root
    text: str
    tree: ast.Module

    @property
    def lines(self) -> int:
        return len(self.text.splitlines())


@dataclass(frozen=True)
class Function:
    path: Path
    line: int
    name: str  # Class.method for methods
    lines: int


@dataclass(frozen=True)
class Block:
    """The same code lines in two places: [first_start, first_end] of one file and [second_start, ...] of another."""

    first: Path
    first_start: int
    first_end: int
    second: Path
    second_start: int
    second_end: int
    code_lines: int


def read_sources(root: Path) -> list[Source]:
    paths = sorted(
        path
        for folder in FOLDERS
        for path in (root / folder).rglob("*.py")
        if not any(part.startswith((".", "__pycache__")) for part in path.relative_to(root).parts)
    )
    return [Source(path.relative_to(root), text, ast.parse(text)) for path in paths for text in [path.read_text()]]


def in_services(path: Path) -> bool:
    return path.is_relative_to(SERVICES)


def in_ports(path: Path) -> bool:
    return path == PORTS_MODULE or path.is_relative_to(PORTS_PACKAGE)


def functions(source: Source) -> list[Function]:
    found: list[Function] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (child.end_lineno or child.lineno) - child.lineno + 1
                found.append(Function(source.path, child.lineno, prefix + child.name, lines))
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(source.tree, "")
    return found


def is_protocol_base(base: ast.expr) -> bool:
    if isinstance(base, ast.Subscript):  # Protocol[T]
        base = base.value
    return (isinstance(base, ast.Name) and base.id == "Protocol") or (
        isinstance(base, ast.Attribute) and base.attr == "Protocol"
    )


def protocols(source: Source) -> list[tuple[str, int]]:
    """(name, line) of every class that has Protocol among its bases."""
    return [
        (node.name, node.lineno)
        for node in ast.walk(source.tree)
        if isinstance(node, ast.ClassDef) and any(is_protocol_base(base) for base in node.bases)
    ]


def ignored_rows(tree: ast.Module) -> set[int]:
    """The rows of docstrings and of the module's top-level imports."""
    spans: list[ast.stmt] = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                spans.append(first)
    return {row for node in spans for row in range(node.lineno, (node.end_lineno or node.lineno) + 1)}


def code_lines(source: Source) -> list[tuple[int, str]]:
    """(row, normalised text) of every line that counts: stripped, comments cut, no blanks, docstrings or imports."""
    comments = {
        token.start[0]: token.start[1]
        for token in tokenize.generate_tokens(io.StringIO(source.text).readline)
        if token.type == tokenize.COMMENT
    }
    skipped = ignored_rows(source.tree)
    normalised = (
        (row, line[: comments.get(row, len(line))].strip())
        for row, line in enumerate(source.text.splitlines(), 1)
        if row not in skipped
    )
    return [(row, text) for row, text in normalised if text]


def duplicate_blocks(sources: list[Source]) -> list[Block]:
    lines = {source.path: code_lines(source) for source in sources}
    places: defaultdict[tuple[str, ...], list[tuple[Path, int]]] = defaultdict(list)
    for path, rows in lines.items():
        texts = [text for _, text in rows]
        for start in range(len(texts) - WINDOW + 1):
            places[tuple(texts[start : start + WINDOW])].append((path, start))

    # windows of one pair of places, by their diagonal (first file, second file, shift): start indexes in the first
    diagonals: defaultdict[tuple[Path, Path, int], list[int]] = defaultdict(list)
    for found in places.values():
        for (first, i), (second, j) in itertools.combinations(found, 2):
            if first != second or j - i >= WINDOW:
                diagonals[first, second, j - i].append(i)

    blocks = []
    for (first, second, shift), starts in diagonals.items():
        for run in runs(sorted(starts)):
            end = run[-1] + WINDOW - 1
            blocks.append(
                Block(
                    first,
                    lines[first][run[0]][0],
                    lines[first][end][0],
                    second,
                    lines[second][run[0] + shift][0],
                    lines[second][end + shift][0],
                    end - run[0] + 1,
                )
            )
    return sorted(blocks, key=lambda block: (block.first, block.first_start, block.second, block.second_start))


def runs(starts: list[int]) -> Iterator[list[int]]:
    """Sorted window starts grouped into runs of overlapping windows."""
    run: list[int] = []
    for start in starts:
        if run and start > run[-1] + WINDOW - 1:
            yield run
            run = []
        run.append(start)
    if run:
        yield run


def breaches(sources: list[Source]) -> list[str]:
    found = [
        f"{source.path}: {source.lines} lines (services files: at most {MAX_SERVICE_FILE_LINES})"
        for source in sources
        if in_services(source.path) and source.lines > MAX_SERVICE_FILE_LINES
    ]
    found += [
        f"{f.path}:{f.line} {f.name}: {f.lines} lines (services functions: at most {MAX_SERVICE_FUNCTION_LINES})"
        for source in sources
        if in_services(source.path)
        for f in functions(source)
        if f.lines > MAX_SERVICE_FUNCTION_LINES
    ]
    definitions = protocol_definitions(sources)
    found += [
        f"{path}:{line} Protocol {name} lives outside the ports"
        for name, places in definitions.items()
        for path, line in places
        if not in_ports(path)
    ]
    found += [
        f"Protocol {name} is defined {len(places)} times: {', '.join(f'{path}:{line}' for path, line in places)}"
        for name, places in definitions.items()
        if len(places) > 1
    ]
    return found


def protocol_definitions(sources: list[Source]) -> dict[str, list[tuple[Path, int]]]:
    definitions: defaultdict[str, list[tuple[Path, int]]] = defaultdict(list)
    for source in sources:
        for name, line in protocols(source):
            definitions[name].append((source.path, line))
    return dict(sorted(definitions.items()))


def report(sources: list[Source]) -> Iterator[str]:
    yield f"{len(sources)} Python files in {' and '.join(FOLDERS)}, {sum(s.lines for s in sources)} lines"

    yield f"\n## The {LARGEST_FILES} largest files (lines)"
    for source in sorted(sources, key=lambda s: -s.lines)[:LARGEST_FILES]:
        yield f"{source.lines:6}  {source.path}"
    yield f"\n## Services files over {MAX_SERVICE_FILE_LINES} lines"
    for source in sorted(sources, key=lambda s: -s.lines):
        if in_services(source.path) and source.lines > MAX_SERVICE_FILE_LINES:
            yield f"{source.lines:6}  {source.path}"

    every = sorted((f for source in sources for f in functions(source)), key=lambda f: -f.lines)
    yield f"\n## The {LONGEST_FUNCTIONS} longest functions and methods (lines, decorators excluded)"
    for f in every[:LONGEST_FUNCTIONS]:
        yield f"{f.lines:6}  {f.path}:{f.line} {f.name}"
    yield f"\n## Services functions over {MAX_SERVICE_FUNCTION_LINES} lines"
    for f in every:
        if in_services(f.path) and f.lines > MAX_SERVICE_FUNCTION_LINES:
            yield f"{f.lines:6}  {f.path}:{f.line} {f.name}"

    definitions = protocol_definitions(sources)
    places = [(name, path, line) for name, found in definitions.items() for path, line in found]
    outside = sorted((path, line, name) for name, path, line in places if not in_ports(path))
    yield "\n## typing.Protocol classes"
    yield f"{len(places)} Protocol classes, {len(outside)} outside the ports"
    for path, line, name in outside:
        yield f"  outside the ports: {path}:{line} {name}"
    for name, found in definitions.items():
        if len(found) > 1:
            yield f"  defined {len(found)} times: {name} at {', '.join(f'{path}:{line}' for path, line in found)}"

    blocks = duplicate_blocks(sources)
    across = sum(block.first != block.second for block in blocks)
    yield f"\n## Duplicated blocks ({WINDOW}+ code lines of the same shape)"
    yield f"{len(blocks)} duplicated blocks: {across} across files, {len(blocks) - across} within a file"
    for b in blocks:
        yield (
            f"  {b.code_lines:3} lines  {b.first}:{b.first_start}-{b.first_end}"
            f"  =  {b.second}:{b.second_start}-{b.second_end}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to measure (default: this one)")
    parser.add_argument("--check", action="store_true", help="exit 1 when the issue's limits are broken")
    args = parser.parse_args(argv)
    sources = read_sources(args.root)
    for line in report(sources):
        print(line)
    if not args.check:
        return 0
    found = breaches(sources)
    print(f"\n## Check: {len(found)} breaches of the limits")
    for breach in found:
        print(f"  {breach}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
