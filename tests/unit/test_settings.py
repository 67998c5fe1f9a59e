"""The functions' configuration from their environment: this project's own rules, refused clearly."""

import pytest

from bulk_import.settings import get_settings


@pytest.fixture
def fresh_settings():
    get_settings.cache_clear()
    yield get_settings
    get_settings.cache_clear()


@pytest.mark.parametrize(("text", "enabled"), [("true", True), ("TRUE", True), (" false ", False)])
def test_a_boolean_is_true_or_false_whatever_its_case(monkeypatch, fresh_settings, text, enabled):
    monkeypatch.setenv("ROCKETCHAT_API_ENABLE_CORS", text)
    assert fresh_settings().rocketchat_api_enable_cors is enabled


@pytest.mark.parametrize("text", ["yes", "1", "on", ""])
def test_any_other_boolean_spelling_is_refused_naming_the_variable(monkeypatch, fresh_settings, text):
    monkeypatch.setenv("ROCKETCHAT_API_ENABLE_CORS", text)
    with pytest.raises(ValueError, match="ROCKETCHAT_API_ENABLE_CORS must be true or false"):
        fresh_settings()
