"""Explanations: shares computed by hand."""

import numpy as np
import pytest

from fedrec.serving.explain import PROFILE, Member, explain, shares

ITEM = np.array([1.0, 0.0])


def _members():
    return [
        Member("“Blue Train”", np.array([3.0, 9.0])),  # term 3
        Member("“Kind of Blue”", np.array([-2.0, 0.0])),  # term -2: pulls away, no share
        Member(PROFILE, np.array([1.0, 5.0])),  # term 1
    ]


def test_shares_of_the_positive_part():
    member, popularity = shares(_members(), ITEM, popularity=1.0)
    # positive part: 3 + 0 + 1 + popularity 1 = 5
    np.testing.assert_allclose(member, [0.6, 0.0, 0.2])
    assert popularity == pytest.approx(0.2)


def test_the_sentence_names_the_largest_reasons():
    text = explain(_members(), ITEM, constant=0.5, popularity=1.0, scenario=None)
    assert text == (
        "Because you liked “Blue Train” (60%) and it matches your profile (20%), "
        "and it is popular (20%)."
    )


def test_a_profile_first_sentence():
    members = [Member("“A”", np.array([1.0, 0.0])), Member(PROFILE, np.array([3.0, 0.0]))]
    text = explain(members, ITEM, constant=0.0, popularity=0.0, scenario=None)
    assert text == "Because it matches your profile (75%) and you liked “A” (25%)."


def test_cold_start_and_nothing_positive():
    cold = explain([], ITEM, 0.0, 2.0, "music")
    assert cold == "Popular in music: nothing is known about you yet."
    against = [Member("“A”", np.array([-1.0, 0.0]))]
    assert "nothing you told us" in explain(against, ITEM, 0.0, 0.0, None)
