"""A PDF as a person sees it: pages as PNG images (``pdftoppm``) and its text (``pdftotext``).

Both come from poppler-utils (FEDGOV_POPPLER_DIR names the folder holding them, else
the PATH). Without them a test skips, except under ``CI=true``, where it fails. Read
the location once per session (:func:`poppler_tools` in a session fixture): the root
conftest clears FEDGOV_* variables before every test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from support.services import required


@dataclass(frozen=True)
class PopplerTools:
    pdftoppm: str | None
    pdftotext: str | None
    in_ci: bool

    def require(self) -> tuple[str, str]:
        reason = (
            "pdftoppm/pdftotext are missing: `apt-get install -y poppler-utils`, or export "
            "FEDGOV_POPPLER_DIR=/folder/with/them"
        )
        found = self.pdftoppm and self.pdftotext
        required("yes" if found else None, self.in_ci, reason)
        assert self.pdftoppm and self.pdftotext
        return self.pdftoppm, self.pdftotext


def poppler_tools(env: Mapping[str, str] | None = None) -> PopplerTools:
    env = os.environ if env is None else env
    folder = env.get("FEDGOV_POPPLER_DIR")
    return PopplerTools(
        pdftoppm=shutil.which("pdftoppm", path=folder),
        pdftotext=shutil.which("pdftotext", path=folder),
        in_ci=env.get("CI", "").lower() == "true",
    )


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise AssertionError(f"{argv[0]} exited {done.returncode}: {done.stderr.strip()}")


def pdf_pages(tools: PopplerTools, pdf: bytes, workdir: Path, *, dpi: int = 50) -> list[bytes]:
    """The PDF's pages as PNG images, in order (``pdftoppm -png``)."""
    pdftoppm, _ = tools.require()
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / "doc.pdf"
    source.write_bytes(pdf)
    _run([pdftoppm, "-png", "-r", str(dpi), str(source), str(workdir / "page")])
    pages = sorted(workdir.glob("page-*.png"), key=lambda p: int(p.stem.rpartition("-")[2]))
    return [p.read_bytes() for p in pages]


def pdf_text(tools: PopplerTools, pdf: bytes, workdir: Path) -> str:
    """The PDF's text in reading order (``pdftotext``)."""
    _, pdftotext = tools.require()
    workdir.mkdir(parents=True, exist_ok=True)
    source, target = workdir / "doc.pdf", workdir / "doc.txt"
    source.write_bytes(pdf)
    _run([pdftotext, "-enc", "UTF-8", str(source), str(target)])
    return target.read_text(encoding="utf-8")
