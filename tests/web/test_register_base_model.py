"""An admin registers a base model from a path (or URL); architecture and inventory come from the GGUF."""
import pytest
from django.core.management import CommandError, call_command

from leaderboard.basemodels.models import BaseModel
from leaderboard.files.store import sha256_of

pytestmark = pytest.mark.django_db


def test_it_reads_architecture_and_inventory(tiny_models, capsys):
    call_command("register_base_model", str(tiny_models["wide"]), "--name", "tiny", "--family", "test")
    model = BaseModel.objects.get(name="tiny")
    arch = model.architecture
    assert (arch.name, arch.block_count, arch.embedding_length, arch.feed_forward_length) == ("llama", 12, 256, 512)
    assert arch.ffn_ratio == 2.0 and (arch.head_count, arch.head_count_kv, arch.vocab_size) == (4, 2, 259)
    assert len(model.tensors) == 2 + 12 * 9 + 1
    assert model.tensors[0] == {"name": "token_embd.weight", "shape": [256, 259], "type": "f16"}
    assert model.sha256 == sha256_of(tiny_models["wide"])
    assert "registered tiny" in capsys.readouterr().out


def test_a_wrong_sha256_is_refused_and_nothing_is_saved(tiny_models):
    with pytest.raises(CommandError, match="sha256 mismatch"):
        call_command("register_base_model", str(tiny_models["wide"]), "--sha256", "0" * 64)
    assert not BaseModel.objects.exists()


def test_a_missing_file_is_a_clear_error():
    with pytest.raises(CommandError, match="no such file"):
        call_command("register_base_model", "/nowhere/model.gguf")


def test_only_https_urls_are_fetched():
    with pytest.raises(CommandError, match="no such file"):
        call_command("register_base_model", "ftp://example.invalid/model.gguf")


def test_the_base_model_page_shows_the_facts(client, tiny_models):
    call_command("register_base_model", str(tiny_models["narrow"]), "--name", "narrow")
    model = BaseModel.objects.get()
    page = client.get(f"/models/{model.pk}/").content.decode()
    assert "FFN length / ratio" in page and "128 / 2.00" in page
    assert "blk.1.ffn_down.weight" in page
