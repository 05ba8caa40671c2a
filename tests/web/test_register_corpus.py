"""An admin registers an evaluation corpus: only UTF-8 text is accepted, not any readable file."""
import re

import pytest
from django.core.management import CommandError, call_command

from leaderboard.basemodels.models import EvalCorpus

pytestmark = pytest.mark.django_db


def test_a_text_corpus_is_registered(small_corpus, capsys):
    call_command("register_corpus", "wiki", str(small_corpus), "--n-ctx", "128", "--chunks", "4")
    assert EvalCorpus.objects.get().name == "wiki" and "registered corpus" in capsys.readouterr().out


@pytest.mark.parametrize("content,why", [
    (None, "contains NUL bytes"), (b"caf\xe9 au lait", "not UTF-8 (invalid continuation byte at byte 3)"),
    (b"ends inside \xe2\x82", "ends inside a UTF-8 character"),
])
def test_a_binary_or_non_utf8_file_is_refused(tiny_models, tmp_path, content, why):
    path = tiny_models["narrow"] if content is None else tmp_path / "corpus.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CommandError, match=re.escape(why)):
        call_command("register_corpus", "bad", str(path))
    assert not EvalCorpus.objects.exists()
