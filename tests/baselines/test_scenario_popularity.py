import numpy as np
import pytest
import scipy.sparse as sp

from fedrec.baselines import Popularity, ScenarioPopularity
from fedrec.errors import ConfigError

# 4 users x 4 items; items 0, 1 in scenario 0, items 2, 3 in scenario 1.
# Item counts 3, 1, 2, 2: N(0) = 4, N(1) = 4, P(0) = P(1) = 1/2.
SCENARIO = np.array([0, 0, 1, 1])
TRAIN = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 0, 1, 0], [1, 0, 1, 1], [0, 0, 0, 1]]))


def test_hand_computed_scores():
    model = ScenarioPopularity(SCENARIO).fit(TRAIN)
    # A user who saw item 0 and item 1 (both scenario 0): P(0|u) = (2 + 1/2) / 3 = 5/6,
    # P(1|u) = (0 + 1/2) / 3 = 1/6. Within-scenario shares 3/4, 1/4, 2/4, 2/4.
    scores = model.score(sp.csr_matrix(np.array([[1, 1, 0, 0]])))
    expected = [5 / 6 * 3 / 4, 5 / 6 * 1 / 4, 1 / 6 * 2 / 4, 1 / 6 * 2 / 4]
    np.testing.assert_allclose(scores[0], expected)


def test_no_history_is_popularity():
    model = ScenarioPopularity(SCENARIO).fit(TRAIN)
    scores = model.score(sp.csr_matrix((1, 4)))
    counts = Popularity().fit(TRAIN).counts
    np.testing.assert_allclose(scores[0], counts / counts.sum())


def test_within_one_scenario_any_user_gets_its_popularity():
    # Each scenario's more popular item sits at the higher index (counts 1 < 3 and
    # 2 < 4), so a scorer that ignored the counts would not rank them this way.
    scenario = np.array([0, 0, 1, 1])
    train = sp.csr_matrix(
        np.array([[0, 1, 1, 1], [1, 1, 1, 1], [0, 1, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]])
    )
    model = ScenarioPopularity(scenario).fit(train)
    histories = sp.csr_matrix(np.array([[0, 0, 1, 1], [1, 0, 0, 0], [0, 0, 0, 0]]))
    scores = model.score(histories)
    for s in (0, 1):
        inside = scores[:, np.equal(scenario, s)]
        assert (inside[:, 1] > inside[:, 0]).all()
        np.testing.assert_allclose(
            inside[:, 1] / inside[:, 0], model.counts[2 * s + 1] / model.counts[2 * s]
        )


def test_history_in_a_scenario_lifts_its_items():
    model = ScenarioPopularity(SCENARIO).fit(TRAIN)
    # Item 3 (scenario 1, count 2) is below item 0 (scenario 0, count 3) for nobody in
    # particular, above it for a user whose history is all scenario 1.
    nobody, fan = model.score(sp.csr_matrix(np.array([[0, 0, 0, 0], [0, 0, 1, 0]])))
    assert nobody[0] > nobody[3]
    assert fan[3] > fan[0]


def test_a_scenario_without_training_counts_scores_zero():
    # Items 2 and 3 (scenario 1) were never chosen: N(1) = 0, P(1) = 0.
    train = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 0, 0, 0]]))
    model = ScenarioPopularity(SCENARIO).fit(train)
    # History [0, 0, 1, 0]: P(0|u) = (0 + 1) / 2, P(1|u) = (1 + 0) / 2; within 2/3, 1/3.
    scores = model.score(sp.csr_matrix(np.array([[0, 0, 1, 0]])))
    np.testing.assert_allclose(scores[0], [1 / 3, 1 / 6, 0, 0])


def test_errors():
    with pytest.raises(ConfigError, match="item_scenario"):
        ScenarioPopularity(np.array([0.5, 1.0]))
    with pytest.raises(ConfigError, match="item_scenario"):
        ScenarioPopularity(np.array([-1, 0]))
    with pytest.raises(ConfigError, match="item_scenario"):
        ScenarioPopularity(np.array([[0, 1]]))
    with pytest.raises(ConfigError, match="same item index"):
        ScenarioPopularity(np.array([0, 1])).fit(TRAIN)
