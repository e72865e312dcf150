"""The shared curated folder and CLI-trained tokenizer (built once per session)."""

from __future__ import annotations

import pytest

from tests.tokenizer.support import Artifacts, build


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory) -> Artifacts:
    return build(tmp_path_factory.getbasetemp() / "tokpack", pack=False)
