from pathlib import Path

import pytest

from compliance.settings import ProfileError, load_settings, reset_settings

PROFILE = Path(__file__).resolve().parent.parent / "data" / "district.toml"


def test_sample_profile_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DC_PROFILE", str(PROFILE))
    s = load_settings()
    assert s.district.time_zone == "America/Los_Angeles"
    assert {site.id for site in s.sites} >= {"lincoln-es", "washington-ms"}
    assert s.database_url.startswith("sqlite:///")
    monkeypatch.setenv("DC_SITES_BASE_URL", "http://127.0.0.1:9999")
    assert load_settings().site_roots(load_settings().site("lincoln-es")) == ["http://127.0.0.1:9999/lincoln-es/"]


def test_environment_overrides_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DC_PROFILE", str(PROFILE))
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    monkeypatch.setenv("DC_QUOTAS__GMAIL_DAILY_PER_SENDER", "500")
    s = load_settings()
    assert s.database_url == "postgresql://postgres@127.0.0.1:5432/test"
    assert s.quotas.gmail_daily_per_sender == 500


def test_invalid_profile_names_each_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = PROFILE.read_text().replace('"America/Los_Angeles"', '"Mars/Olympus"', 1)
    bad = bad.replace('site_admin = "principal.lincoln@standard-sd.org"', 'site_admin = "not-an-email"')
    path = tmp_path / "bad.toml"
    path.write_text(bad)
    monkeypatch.setenv("DC_PROFILE", str(path))
    with pytest.raises(ProfileError) as info:
        load_settings()
    message = str(info.value)
    assert str(path) in message
    assert "district.time_zone" in message and "Mars/Olympus" in message
    assert "sites.0.site_admin" in message


def test_missing_and_unparsable_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DC_PROFILE", str(tmp_path / "absent.toml"))
    with pytest.raises(ProfileError, match="not found"):
        load_settings()
    broken = tmp_path / "broken.toml"
    broken.write_text("[district\nname=")
    monkeypatch.setenv("DC_PROFILE", str(broken))
    with pytest.raises(ProfileError, match="not valid TOML"):
        load_settings()


def test_production_refuses_the_public_demo_token_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from compliance.shell.cli import app

    monkeypatch.setenv("DC_PROFILE", str(PROFILE))
    monkeypatch.setenv("DC_ENVIRONMENT", "production")
    monkeypatch.delenv("DC_TOKEN_SECRET", raising=False)
    reset_settings()
    try:
        settings = load_settings()
        [problem] = settings.secret_problems()
        assert "DC_TOKEN_SECRET is the public demo secret" in problem
        with pytest.raises(ProfileError, match="refusing to run in environment 'production'"):
            settings.require_safe_secrets()
        refused = CliRunner().invoke(app, ["check-profile"])
        assert refused.exit_code == 2 and "public demo secret" in refused.output

        monkeypatch.setenv("DC_TOKEN_SECRET", "a-long-random-production-secret-0123456789")
        reset_settings()
        assert load_settings().secret_problems() == []
        accepted = CliRunner().invoke(app, ["check-profile"])
        assert accepted.exit_code == 0, accepted.output

        for environment in ("demo", "test"):  # the sample district and the suite may use the demo secret
            monkeypatch.delenv("DC_TOKEN_SECRET")
            monkeypatch.setenv("DC_ENVIRONMENT", environment)
            reset_settings()
            assert load_settings().secret_problems() == []
            monkeypatch.setenv("DC_TOKEN_SECRET", "a-long-random-production-secret-0123456789")
    finally:
        reset_settings()


def test_retired_token_keys_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DC_PROFILE", str(PROFILE))
    monkeypatch.setenv("DC_TOKEN_KEY_ID", "k2027")
    monkeypatch.setenv("DC_TOKEN_RETIRED_KEYS", '{"": "the-original-secret-0123456789"}')
    settings = load_settings()
    assert settings.token_key_id == "k2027" and list(settings.token_retired_keys) == [""]
    monkeypatch.setenv("DC_TOKEN_RETIRED_KEYS", '{"k2027": "the-original-secret-0123456789"}')
    with pytest.raises(ProfileError, match="also in token_retired_keys"):
        load_settings()
