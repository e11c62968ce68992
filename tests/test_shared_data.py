"""tests.helpers.shared_data: the one way real-data tests reach ../shared/data."""

import pytest

from tests.helpers import shared_data

MISSING = "no-such-folder-in-shared-data/styles.csv"


def test_a_present_path_is_returned(tmp_path, monkeypatch):
    monkeypatch.setattr("tests.helpers.SHARED_DATA", tmp_path)
    (tmp_path / "styles.csv").write_text("id\n")
    assert shared_data("styles.csv") == tmp_path / "styles.csv"


def test_a_missing_path_skips_with_the_path_as_reason(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="real data not present: .*no-such-folder-in-shared-data"):
        shared_data(MISSING)


@pytest.mark.parametrize("value", ["true", "TRUE", "1"])
def test_a_missing_path_fails_under_ci(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="CI=true but real data not present"):
        shared_data(MISSING)
