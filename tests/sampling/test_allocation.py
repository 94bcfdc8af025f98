"""Allocation strategies against values worked out by hand (see the comments)."""

import pytest

from medsyn.errors import MedsynError
from medsyn.sampling.allocation import allocate, largest_remainder, parse_counts, triple_log


def test_triple_log_by_hand() -> None:
    # f(10) = ln(1 + ln(1 + ln 11)) = ln(1 + ln 3.397895) = ln 2.223156 = 0.798928
    assert triple_log(10) == pytest.approx(0.798928, abs=1e-5)
    assert triple_log(0) == 0.0


def test_paper() -> None:
    # w_A = f(10) f(5) = 0.798928 x 0.706395 = 0.564360; w_B = f(3) f(20) = 0.625800 x 0.874369 = 0.547180.
    # Budget 100: 50.773 / 49.227 -> floors 50 / 49, the one left goes to the larger remainder (A).
    got = allocate(["A", "B"], 100, "paper", long_counts={"A": 10, "B": 3}, kg_symptoms={"A": 5, "B": 20})
    assert got == {"A": 51, "B": 49}
    # Budget 10: 5.077 / 4.923 -> 5 / 4, the one left goes to B (0.923 > 0.077).
    assert allocate(
        ["A", "B"], 10, "paper", long_counts={"A": 10, "B": 3}, kg_symptoms={"A": 5, "B": 20}
    ) == {
        "A": 5,
        "B": 5,
    }
    # A code with no long real notes weighs 0 (the paper's rule).
    assert allocate(["A", "B"], 10, "paper", long_counts={"A": 10}, kg_symptoms={"A": 5, "B": 20}) == {
        "A": 10,
        "B": 0,
    }


def test_rare() -> None:
    # 0.5 x 50 / ln(0 + 5) = 15.53 -> 16; / ln 105 = 5.37 -> 5; / ln 1005 = 3.62 -> 4.
    real = {"A": 0, "B": 100, "C": 1000}
    assert allocate(["A", "B", "C"], None, "rare", real_counts=real) == {"A": 16, "B": 5, "C": 4}
    assert allocate(["A", "B", "C"], 1000, "rare", real_counts=real) == {"A": 16, "B": 5, "C": 4}
    # A budget below the total (25) scales down: 6.334 / 2.191 / 1.475 -> 6 / 2 / 1, +1 to C (.475).
    assert allocate(["A", "B", "C"], 10, "rare", real_counts=real) == {"A": 6, "B": 2, "C": 2}
    # The cap M: 2 x 10 / ln 5 = 12.43 > 10.
    assert allocate(["A"], None, "rare", real_counts={}, alpha=2, max_per_code=10) == {"A": 10}


def test_uniform_proportional_explicit() -> None:
    assert allocate(["A", "B", "C"], 10, "uniform") == {"A": 4, "B": 3, "C": 3}
    assert allocate(["A", "B"], 10, "proportional", real_counts={"A": 1, "B": 3}) == {"A": 3, "B": 7}
    assert allocate(["A", "B"], None, "explicit", explicit={"A": 2}) == {"A": 2, "B": 0}
    assert parse_counts("M54=10, I10=5") == {"M54": 10, "I10": 5}


def test_largest_remainder_sums_to_total() -> None:
    for total in (1, 7, 100, 12345):
        assert sum(largest_remainder([0.1, 0.7, 1.3, 2.9], total)) == total


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((["A"], 0, "uniform"), "positive integer, got 0"),
        ((["A"], -5, "uniform"), "positive integer, got -5"),
        ((["A"], None, "uniform"), "needs the number of notes"),
        ((["A"], 5, "zipf"), "unknown allocation 'zipf'; valid: paper, rare"),
        ((["A"], 5, "proportional"), "needs real notes"),
        ((["A"], 5, "explicit"), "needs per-code counts"),
    ],
)
def test_bad_input(args: tuple, message: str) -> None:
    with pytest.raises(MedsynError, match=message):
        allocate(*args)


def test_bad_counts() -> None:
    with pytest.raises(MedsynError, match=r"'M54:10' is not CODE=N"):
        parse_counts("M54:10")
