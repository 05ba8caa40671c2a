"""A KLD estimate below zero is shown as below the noise floor, never as a negative divergence."""
import pytest

from leaderboard.domain.divergence import BELOW_NOISE_FLOOR, kld_text


@pytest.mark.parametrize("value, shown", [
    (0.0075081, "0.007508"), (0.0, "0.000000"), (None, "—"),
    (-0.000018, BELOW_NOISE_FLOOR), (-1e-9, BELOW_NOISE_FLOOR), (-0.3, BELOW_NOISE_FLOOR),
])
def test_it_shows_a_kld(value, shown):
    assert kld_text(value) == shown


def test_it_takes_the_decimals():
    assert kld_text(0.0410281, 4) == "0.0410"
