"""What lives beside the package: benchmarks/ and docs/experiments/ use the installed package, read
the bench cache only through tts_cli.bench.cache, and are listed in their READMEs (that the package
never imports them is an import contract in pyproject.toml)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tts_cli.bench.cache import CACHE_FILE

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("benchmarks", "docs/experiments")


def scripts(folder: str) -> list[Path]:
    return sorted(p for p in (ROOT / folder).iterdir() if p.suffix in (".py", ".sh") and p.name != "__init__.py")


@pytest.mark.parametrize("folder", FOLDERS)
def test_scripts_neither_patch_sys_path_nor_parse_the_bench_cache(folder):
    for script in scripts(folder):
        text = script.read_text(encoding="utf-8")
        assert "sys.path" not in text, f"{script.name} changes sys.path: import the installed package instead"
        assert CACHE_FILE not in text, f"{script.name} reads the bench cache itself: use tts_cli.bench.cache.CacheQuery"


@pytest.mark.parametrize("folder", FOLDERS)
def test_every_script_is_in_its_readme(folder):
    readme = (ROOT / folder / "README.md").read_text(encoding="utf-8")
    missing = [script.name for script in scripts(folder) if f"`{script.name}`" not in readme]
    assert not missing, f"{folder}/README.md does not describe {missing}"

