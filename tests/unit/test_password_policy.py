"""The password policy: Connectware's rules JSON (min, lower, upper, numeric, symbol; Unicode categories),
our fixed rules, and the setting that refuses to start when malformed."""

from __future__ import annotations

from pathlib import Path

import pytest

from admittance.identity import PasswordPolicy
from admittance.kernel.errors import InvalidInput
from admittance.settings import SettingsError, load_settings

DEV = {"ADMITTANCE_DEV_MODE": "true"}


def test_default_setting_is_min_eight() -> None:
    settings = load_settings(DEV)
    policy = settings.passwords
    assert policy.min_length == 8
    policy.check("abcdefgh", "someone")
    with pytest.raises(InvalidInput, match="at least 8 characters"):
        policy.check("abcdefg", "someone")


@pytest.mark.parametrize(
    ("rules", "password", "message"),
    [
        ('{"min": 5}', "abcd", "at least 5 characters"),
        ('{"lower": 2}', "ABCDEFGh", "2 lower-case letters"),
        ('{"upper": 1}', "abcdefgh", "1 upper-case letters"),
        ('{"numeric": 2}', "abcdefg1", "2 digits"),
        ('{"symbol": 1}', "abcdefg1", "1 symbols"),
        ('{"min": 0}', "", "at least 1 characters"),
    ],
)
def test_each_rule_refuses_with_its_message(rules: str, password: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        PasswordPolicy.from_rules(rules).check(password, "someone")


def test_unicode_categories_count() -> None:
    policy = PasswordPolicy.from_rules('{"min": 4, "lower": 1, "upper": 1, "numeric": 1, "symbol": 1}')
    policy.check("ßÄ٣€", "someone")  # Ll, Lu, Nd (Arabic-Indic three), Sc
    policy.check("éÉ7¿", "someone")  # Ll, Lu, Nd, Po
    with pytest.raises(InvalidInput, match="symbols"):
        policy.check("éÉ77", "someone")


def test_zero_disables_a_rule_and_fixed_rules_stay() -> None:
    policy = PasswordPolicy.from_rules('{"min": 5, "upper": 0, "symbol": 0}')
    policy.check("abcde", "someone")
    with pytest.raises(InvalidInput, match="differ from the username"):
        policy.check("Someone", "someone")
    with pytest.raises(InvalidInput, match="control characters"):
        policy.check("abc\tdef", "someone")
    with pytest.raises(InvalidInput, match="at most 128"):
        policy.check("a" * 129, "someone")


@pytest.mark.parametrize(
    "rules",
    ["", "not json", "[]", '"min"', '{"min": -1}', '{"min": 1.5}', '{"min": "8"}', '{"min": true}', '{"length": 8}'],
)
def test_a_malformed_setting_refuses_to_start(rules: str) -> None:
    with pytest.raises(SettingsError, match="password_policy"):
        load_settings(DEV | {"ADMITTANCE_PASSWORD_POLICY": rules})


def test_the_setting_takes_json_or_a_toml_table(tmp_path: Path) -> None:
    settings = load_settings(DEV | {"ADMITTANCE_PASSWORD_POLICY": '{"min": 12, "upper": 1}'})
    assert settings.passwords.min_upper == 1
    config = tmp_path / "admittance.toml"
    config.write_text("[admittance]\npassword_policy = { min = 10, numeric = 2 }\n", encoding="utf-8")
    policy = load_settings(DEV, config_file=config).passwords
    assert (policy.min_length, policy.min_numeric) == (10, 2)
