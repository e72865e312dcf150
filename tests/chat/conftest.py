"""A real tokenizer with the chat markers (trained once per session) and sample conversations."""

from __future__ import annotations

import pytest

from tests.tokenizer.support import Artifacts, build


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory) -> Artifacts:
    # The same folder and builder as the session-wide fixture, without packing: chat needs the
    # tokenizer only.
    return build(tmp_path_factory.getbasetemp() / "tokpack", pack=False)


@pytest.fixture(scope="session")
def tokenizer(artifacts):
    from tritter.tokenizer.model import Tokenizer

    return Tokenizer.load(artifacts.tokenizer)
