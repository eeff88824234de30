"""The structure report (scripts/structure_report.py) on tiny checkouts: it finds copy-paste twins of 6 code lines
or more, whatever their comments say, and `--check` names a Protocol declared outside the ports."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.structure_report import Block, duplicate_blocks, main, read_sources

LEAD_PRICE = '''def lead_price(lead):
    """The price a salesperson quotes."""
    price = lead.price
    discount = lead.discount
    taxes = price * 0.1
    net = price - discount
    return net + taxes
'''


def checkout(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_six_line_block_copied_into_another_file_is_one_duplicated_block(tmp_path: Path) -> None:
    root = checkout(
        tmp_path,
        {
            "layers/common/sales_assistant/services/quotes.py": "import math\n\n" + LEAD_PRICE,
            "functions/quote/app.py": "from decimal import Decimal\n\nLIMIT = 3\n\n\n" + LEAD_PRICE,
        },
    )

    assert duplicate_blocks(read_sources(root)) == [
        Block(Path("functions/quote/app.py"), 6, 12, Path("layers/common/sales_assistant/services/quotes.py"), 3, 9, 6)
    ]


def test_five_shared_lines_are_not_a_duplicate(tmp_path: Path) -> None:
    five_lines = LEAD_PRICE.replace("    taxes = price * 0.1\n", "").replace("net + taxes", "net")
    root = checkout(
        tmp_path,
        {
            "layers/common/sales_assistant/services/quotes.py": five_lines + "\nRATE = 1\n",
            "functions/quote/app.py": five_lines + "\nRATE = 2\n",
        },
    )

    assert duplicate_blocks(read_sources(root)) == []


def test_a_copy_that_differs_only_in_comments_and_docstring_is_still_the_same_shape(tmp_path: Path) -> None:
    commented = (
        LEAD_PRICE.replace(
            '"""The price a salesperson quotes."""', '"""What the lead pays,\n    all taxes included."""'
        )
        .replace("    discount =", "    # the salesperson's discount\n\n    discount =")
        .replace("price * 0.1", "price * 0.1  # ten percent")
    )
    root = checkout(tmp_path, {"layers/common/sales_assistant/services/quotes.py": LEAD_PRICE + "\n\n" + commented})

    [block] = duplicate_blocks(read_sources(root))

    assert (block.first_start, block.first_end, block.second_start, block.second_end) == (1, 7, 10, 19)
    assert block.first == block.second and block.code_lines == 6


SLOT_FINDER = (
    "from typing import Protocol\n\n\nclass SlotFinder(Protocol):\n    def free_slots(self) -> list[str]: ...\n"
)


def test_check_names_a_protocol_declared_outside_the_ports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = checkout(tmp_path, {"layers/common/sales_assistant/services/scheduling.py": SLOT_FINDER})

    assert main(["--root", str(root), "--check"]) == 1
    breach = "layers/common/sales_assistant/services/scheduling.py:4 Protocol SlotFinder lives outside the ports"
    assert breach in capsys.readouterr().out


def test_check_passes_when_every_protocol_lives_in_the_ports_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = checkout(tmp_path, {"layers/common/sales_assistant/services/ports/agenda.py": SLOT_FINDER})

    assert main(["--root", str(root), "--check"]) == 0
    assert "1 Protocol classes, 0 outside the ports" in capsys.readouterr().out


def test_check_names_a_protocol_defined_twice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = checkout(
        tmp_path,
        {
            "layers/common/sales_assistant/services/ports.py": SLOT_FINDER,
            "layers/common/sales_assistant/services/ports/agenda.py": SLOT_FINDER,
        },
    )

    assert main(["--root", str(root), "--check"]) == 1
    assert "Protocol SlotFinder is defined 2 times" in capsys.readouterr().out


def test_the_project_keeps_to_the_limits(capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 22's limits on this very checkout: no services file over 300 lines, no services function over 50,
    every Protocol in services/ports/, each name once."""
    assert main(["--check"]) == 0, capsys.readouterr().out
