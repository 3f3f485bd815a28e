
import pytest

from callcenter.config import Settings


def test_defaults_need_no_file(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CALLCENTER_CONFIG", raising=False)
    s = Settings()
    assert s.database_url == "sqlite:///callcenter.db"
    assert (s.agi_host, s.agi_port) == ("127.0.0.1", 4573)
    assert s.is_sqlite


def test_file_then_environment_override(monkeypatch, tmp_path):
    cfg = tmp_path / "site.toml"
    cfg.write_text('agi_port = 5000\nvip_queue = "vipq"\nunmasked_roles = ["admin"]\n', encoding="utf-8")
    monkeypatch.setenv("CALLCENTER_CONFIG", str(cfg))
    monkeypatch.setenv("CALLCENTER_AGI_PORT", "6000")
    s = Settings()
    assert s.agi_port == 6000          # environment beats the file
    assert s.vip_queue == "vipq"       # the file beats the default
    assert s.unmasked_roles == ["admin"]


def test_comma_separated_roles_from_environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CALLCENTER_UNMASKED_ROLES", "agent, admin")
    assert Settings().unmasked_roles == ["agent", "admin"]


def test_missing_config_file_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("CALLCENTER_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(FileNotFoundError, match="nope.toml"):
        Settings()


def test_unknown_key_in_file_is_rejected(monkeypatch, tmp_path):
    cfg = tmp_path / "site.toml"
    cfg.write_text("agi_prot = 5000\n", encoding="utf-8")
    monkeypatch.setenv("CALLCENTER_CONFIG", str(cfg))
    with pytest.raises(Exception, match="agi_prot"):
        Settings()
