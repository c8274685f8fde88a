"""README's and the docs pages' examples run as they are written.

For each Markdown file (``README.md``, ``docs/**/*.md``) the test walks its fenced code blocks in order, in
a fresh temporary directory, as a reader following the page would:

- every ```` ```python ```` block is executed as written, the blocks of one page sharing one namespace
  (a block preceded by ``<!-- test: skip -->`` is not run);
- a shell block preceded by ``<!-- test: run -->`` has each of its ``deeplift-genomics ...`` commands run
  through ``deeplift_genomics.cli.main`` (comments and ``\\`` continuations as a shell reads them, globs
  expanded), and must exit 0. Such a block may hold nothing but ``deeplift-genomics`` commands.

The temporary directory starts with what the examples expect of a finished ``make run``: a simulated
dataset in ``results/data`` and a trained model in ``results/models/seed0`` (the stored test model,
trained on the default simulation). Data stays tiny: a ``simulate`` command without ``--n-per-class`` gets
``--n-per-class 20`` and a ``train`` command without ``--epochs`` gets ``--epochs 1``; everything else is
run with the flags the page gives.
"""

from __future__ import annotations

import glob
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from deeplift_genomics.cli import main

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "tests" / "data" / "benchmark_default_model"
RUN_MARK = "<!-- test: run -->"
SKIP_MARK = "<!-- test: skip -->"
TINY_FLAGS = {"simulate": ("--n-per-class", "20"), "train": ("--epochs", "1")}
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```([\w+-]*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


@dataclass
class Block:
    language: str
    code: str
    line: int
    mark: str | None  # the HTML comment on the line before the block, if any


def code_blocks(path: Path) -> list[Block]:
    """Fenced code blocks of a Markdown file, with the test marker (if any) just before each."""
    text = path.read_text(encoding="utf-8")
    blocks = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        mark = before if before in (RUN_MARK, SKIP_MARK) else None
        blocks.append(Block(match.group(1).lower(), match.group(2), text.count("\n", 0, match.start()) + 1, mark))
    return blocks


def shell_commands(code: str) -> list[list[str]]:
    """The commands of a shell block: continuations joined, comments dropped, words split as sh does."""
    commands = []
    for line in code.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if words:
            commands.append(words)
    return commands


def cli_argv(words: list[str]) -> list[str]:
    """``deeplift-genomics`` words -> ``main`` argv: globs expanded, tiny-data flags added where missing."""
    argv = []
    for word in words[1:]:
        argv.extend(sorted(glob.glob(word)) or [word] if any(c in word for c in "*?[") else [word])
    if argv and argv[0] in TINY_FLAGS:
        flag, value = TINY_FLAGS[argv[0]]
        if flag not in argv:
            argv += [flag, value]
    return argv


def example_pages() -> list[Path]:
    pages = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
    return [p for p in pages if any(b.language == "python" or b.mark == RUN_MARK for b in code_blocks(p))]


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> Path:
    """A directory laid out as `make run` leaves ``results/``, on tiny data."""
    root = tmp_path_factory.mktemp("finished_run")
    assert main(["simulate", "--out", str(root / "results" / "data"), "--n-per-class", "20", "-q"]) == 0
    shutil.copytree(MODEL, root / "results" / "models" / "seed0")
    return root


def test_the_pages_have_examples():
    """The test finds README's Python example and its runnable shell block (a renamed marker would hide them)."""
    readme = code_blocks(REPO / "README.md")
    assert any(b.language == "python" for b in readme)
    assert any(b.mark == RUN_MARK for b in readme)
    assert REPO / "README.md" in example_pages()


def test_readme_links_resolve():
    """README's relative links (into docs/, CHANGELOG.md) name files that exist, on GitHub as here.

    The docs pages' own links are checked by the strict site build (`make docs`).
    """
    text = (REPO / "README.md").read_text(encoding="utf-8")
    targets = [t.split("#", 1)[0] for t in _LINK.findall(text) if not re.match(r"[a-z]+:", t)]
    assert targets, "README links into the docs"
    missing = [t for t in targets if t and not (REPO / t).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


@pytest.mark.parametrize("page", [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))],
                         ids=lambda p: str(p.relative_to(REPO)))
def test_yaml_examples_parse(page: Path):
    for block in code_blocks(page):
        if block.language in ("yaml", "yml"):
            yaml.safe_load(block.code)


def _merged(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def test_workflow_page_configs_validate():
    """The workflow page's config snippets, merged over config/config.yaml, pass the workflow's schema."""
    import jsonschema

    schema = yaml.safe_load((REPO / "config" / "schema" / "config.schema.yaml").read_text())
    default = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    snippets = [yaml.safe_load(b.code) for b in code_blocks(REPO / "docs" / "workflow.md") if b.language == "yaml"]
    assert snippets, "docs/workflow.md shows a config snippet"
    for snippet in snippets:
        jsonschema.validate(_merged(default, snippet), schema)


@pytest.mark.parametrize("page", example_pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_examples_run_as_written(page: Path, finished_run: Path, tmp_path: Path, monkeypatch):
    shutil.copytree(finished_run, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__readme_example__"}
    where = page.relative_to(REPO)
    for block in code_blocks(page):
        if block.mark == SKIP_MARK:
            continue
        if block.language == "python":
            exec(compile(block.code, f"{where}:{block.line}", "exec"), namespace)  # noqa: S102
        elif block.mark == RUN_MARK:
            for words in shell_commands(block.code):
                assert words[0] == "deeplift-genomics", (
                    f"{where}:{block.line}: a block marked {RUN_MARK} may hold only deeplift-genomics "
                    f"commands, not {' '.join(words)!r}")
                argv = cli_argv(words)
                assert main(argv) == 0, f"{where}:{block.line}: `deeplift-genomics {' '.join(argv)}` failed"
