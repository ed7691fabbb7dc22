"""Russell's tables as transcribed, and the angles derived from them."""

from __future__ import annotations

import numpy as np
import pytest

from emocirc import russell
from emocirc.errors import EmocircError
from tests.conftest import ROOT

# The seed report lives in the project's shared/ folder: beside the checkout, or
# inside it where a copy of the working tree carries one.
_SEED_NAME = "000_227da2f43087b86c.txt"
_SEED_CANDIDATES = [base / "shared" / "seed" / _SEED_NAME for base in (ROOT.parent, ROOT)]
SEED = next((path for path in _SEED_CANDIDATES if path.exists()), _SEED_CANDIDATES[0])


def _seed_rows(first: str, count: int) -> dict[str, list[int]]:
    """Parse the seed's tab-separated table rows: blank cells are 0, '-' is 0, '6 3 7' is 7."""
    lines = SEED.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(first + "\t"))
    rows = {}
    for line in lines[start : start + count]:
        cells = line.rstrip("\n").split("\t")
        name, values = cells[0], cells[1:9]
        parsed = []
        for v in values:
            v = v.replace(".", "").replace("-", "").strip()
            parsed.append(int(v.split()[-1]) if v else 0)
        rows[name] = parsed
    return rows


@pytest.mark.skipif(
    not SEED.exists(),
    reason=f"seed report {_SEED_NAME} not found in " + " or ".join(str(p.parent) for p in _SEED_CANDIDATES),
)
def test_tables_match_the_seed_text_cell_by_cell():
    fig4 = _seed_rows("Delighted", 27)  # "Happy" is printed with Cyrillic letters in the seed
    table = russell.category_frequency_table()
    for word, values in fig4.items():
        assert table.loc[word].tolist() == values, word
    assert table.loc["Happy"].tolist() == [21, 8, 2, 0, 0, 0, 0, 5]
    fig3 = _seed_rows("Aroused", 8)
    ordering = russell.circular_ordering_table()
    for word, values in fig3.items():
        assert ordering.loc[word].tolist() == values, word


def test_table_shapes_and_order():
    assert russell.category_frequency_table().shape == (28, 8)
    assert list(russell.category_frequency_table().columns) == list(russell.CATEGORIES)
    assert russell.circular_ordering_table().shape == (8, 8)


def test_exactly_alarmed_and_angry_fail_the_row_sum():
    assert russell.row_sum_problems() == {"Alarmed": 30, "Angry": 37}
    assert russell.row_sum_problems(russell.circular_ordering_table()) == {}


def test_circular_ordering_diagonal_is_each_terms_mode():
    # Russell's terms are listed in their circular order, so each term's most
    # frequent position is its own row number (the italic diagonal).
    t = russell.circular_ordering_table()
    assert [int(t.loc[w].to_numpy().argmax()) + 1 for w in t.index] == list(range(1, 9))


def test_category_anchors_at_45_degree_steps_counter_clockwise():
    assert russell.CATEGORY_ANGLES == {
        "pleasure": 0,
        "excitement": 45,
        "arousal": 90,
        "distress": 135,
        "misery": 180,
        "depression": 225,
        "sleepiness": 270,
        "contentment": 315,
    }


def test_circular_mean_known_values():
    angle, length = russell.circular_mean([0, 90])
    assert angle == pytest.approx(45.0)
    assert length == pytest.approx(np.sqrt(2) / 2)
    angle, length = russell.circular_mean([350, 10], [1, 1])
    assert min(angle, 360 - angle) == pytest.approx(0.0, abs=1e-9)
    assert np.isnan(russell.circular_mean([0, 180])[0])
    with pytest.raises(EmocircError):
        russell.circular_mean([0, 90], [1])


def test_word_angles_follow_the_circle():
    w = russell.word_angles()
    # A word sorted almost unanimously sits at its category's anchor.
    assert w.loc["Tired", "angle_deg"] == pytest.approx(267.2, abs=0.1)
    assert w.loc["Tired", "resultant_length"] > 0.95
    # Hand check of Happy: 21 at 0, 8 at 45, 2 at 90, 5 at 315.
    c = 21 + 8 * np.cos(np.pi / 4) + 5 * np.cos(-np.pi / 4)
    s = 8 * np.sin(np.pi / 4) + 2 + 5 * np.sin(-np.pi / 4)
    assert w.loc["Happy", "angle_deg"] == pytest.approx(np.degrees(np.arctan2(s, c)))
    # Quadrants: Angry high arousal unpleasant, Sad unpleasant low, Calm pleasant low.
    assert 90 < w.loc["Angry", "angle_deg"] < 135
    assert 180 < w.loc["Sad", "angle_deg"] < 225
    assert 270 < w.loc["Calm", "angle_deg"] < 360
    assert not w.loc["Alarmed", "row_sum_ok"] and w.loc["Happy", "row_sum_ok"]
    assert np.allclose(w["valence"] ** 2 + w["arousal"] ** 2, 1.0)


def test_expected_positions_both_references():
    labels = ["anger", "happiness", "sadness", "fear", "boredom", "disgust", "neutral"]
    r = russell.expected_positions(labels, "russell")
    assert r.loc["anger", "angle_deg"] == pytest.approx(russell.word_angles().loc["Angry", "angle_deg"])
    assert r.loc["disgust"].isna().all()  # not among Russell's 28 words
    assert r.loc["neutral", ["valence", "arousal"]].tolist() == [0.0, 0.0]
    assert np.isnan(r.loc["neutral", "angle_deg"])
    n = russell.expected_positions(labels, "nrc-vad")
    assert n.loc["disgust", "valence"] == pytest.approx(2 * 0.052 - 1)
    assert n.loc["happiness", "arousal"] == pytest.approx(2 * 0.732 - 1)
    assert np.isnan(n.loc["neutral", "angle_deg"])
    assert set(russell.expected_angles(labels, "nrc-vad")) == set(labels) - {"neutral"}
    with pytest.raises(EmocircError, match="reference"):
        russell.expected_positions(labels, "plutchik")


def test_synthetic_ratings_are_generated_at_nrc_vad_positions():
    """Documented in chapter 8: the synthetic corpora draw ratings around NRC VAD's positions."""
    from emocirc.russell import reference_table
    from emocirc.synthesis_rules import RULES

    labels = ["anger", "happiness", "sadness", "fear", "disgust", "boredom", "excitement"]
    table = reference_table(labels)
    assert np.allclose(RULES.loc[labels, "valence"], table["nrc-vad_valence"], atol=0.01)
    assert np.allclose(RULES.loc[labels, "arousal"], table["nrc-vad_arousal"], atol=0.01)
    # ...and not at Russell's: his angles put anger and sadness elsewhere on the 1-5 scale.
    assert not np.allclose(
        RULES.loc[["anger", "sadness"], "valence"],
        table.loc[["anger", "sadness"], "russell_valence"],
        atol=0.2,
    )
    assert np.isnan(table.loc["disgust", "russell_valence"])
