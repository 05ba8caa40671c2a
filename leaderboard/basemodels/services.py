"""Registering base models and evaluation corpora (admin actions)."""
from __future__ import annotations

import codecs
import logging
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction

from leaderboard import dispatch
from leaderboard.basemodels.models import Architecture, BaseModel, BaseModelProposal, EvalCorpus
from leaderboard.experiments.models import Arm
from leaderboard.files.gguf_meta import read_inventory
from leaderboard.files.store import FetchError, fetch_into_store, store_path, verified_sha256

log = logging.getLogger(__name__)


class NotABaseModel(ValueError):
    """The file is there but is not a model GGUF the site can read; str() is one sentence for the proposer."""


def _inventory(path: Path) -> dict:
    try:
        info = read_inventory(path)
    except (ValueError, KeyError, IndexError, TypeError) as exc:  # gguf's reader on a file that is not GGUF
        raise NotABaseModel("the file is not a GGUF model the site can read") from exc
    missing = [key for key in ("architecture", "block_count", "embedding_length") if info.get(key) is None]
    if missing:
        raise NotABaseModel(f"the GGUF file has no {', '.join(missing)} in its metadata, so it is not a model the site can measure")
    return info


def local_or_fetched(source: str, sha256: str | None, max_bytes: int | None = None) -> tuple[Path, str]:
    """A local file is hashed where it lies; a URL is streamed into the model store."""
    if source.startswith("https://"):
        return fetch_into_store(source, settings.MODEL_STORE, sha256, max_bytes=max_bytes)
    path = Path(source)
    return path, verified_sha256(path, sha256)


def _discard_if_unused(path: Path, digest: str) -> None:
    """Remove a file fetched into the store for a registration that failed, unless something registered
    uses it: a file that is no model would otherwise stay on the workers' disk for good."""
    if path != store_path(settings.MODEL_STORE, digest):  # a local source is the operator's file, not ours
        return
    if (BaseModel.objects.filter(sha256=digest).exists() or EvalCorpus.objects.filter(sha256=digest).exists()
            or Arm.objects.filter(gguf_sha256=digest).exists()):
        return
    path.unlink(missing_ok=True)


def canonical_source(source: str) -> str:
    return source if source.startswith("https://") else str(Path(source).resolve())


def base_model_register(*, source: str, sha256: str | None = None, name: str | None = None,
                        family: str = "", note: str = "", approved: bool = True, proposed_by=None,
                        max_bytes: int | None = None) -> BaseModel:
    """Read a GGUF's architecture and tensor inventory and register it (again: updates the row). A URL's
    file that then fails to register is removed from the store again (when nothing else uses it)."""
    path, digest = local_or_fetched(source, sha256, max_bytes)
    try:
        return _register(path, digest, source=source, name=name, family=family, note=note, approved=approved,
                         proposed_by=proposed_by)
    except BaseException:  # outside the transaction, which an IntegrityError leaves unusable
        _discard_if_unused(path, digest)
        raise


@transaction.atomic
def _register(path: Path, digest: str, *, source, name, family, note, approved, proposed_by) -> BaseModel:
    info = _inventory(path)
    arch, _ = Architecture.objects.get_or_create(
        name=info["architecture"], block_count=info["block_count"], embedding_length=info["embedding_length"],
        feed_forward_length=info["feed_forward_length"], head_count=info["head_count"],
        head_count_kv=info["head_count_kv"], sliding_window=info["sliding_window"], vocab_size=info["vocab_size"],
        defaults={"sliding_window_layers": info["sliding_window_layers"]},
    )
    model, _ = BaseModel.objects.update_or_create(
        sha256=digest,
        defaults=dict(name=name or info["name"], family=family or info["architecture"],
                      source=canonical_source(source),
                      size_bytes=path.stat().st_size, file_type=info["file_type"], architecture=arch,
                      tensors=info["tensors"], **({"note": note} if note else {}),
                      **({} if approved else {"approved": False}), **({"proposed_by": proposed_by} if proposed_by else {})),
    )
    return model


class NotACorpus(ValueError):
    pass


def check_text(path: Path) -> None:
    """An evaluation corpus is UTF-8 text: not a model, an archive or any other readable file."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            if b"\0" in block:
                raise NotACorpus(f"{path} is not a text corpus: it contains NUL bytes (a binary file?)")
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                raise NotACorpus(f"{path} is not a text corpus: not UTF-8 ({exc.reason} at byte {f.tell() - len(block) + exc.start})") from exc
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise NotACorpus(f"{path} is not a text corpus: it ends inside a UTF-8 character") from exc


def corpus_register(*, name: str, source: str, n_ctx: int = 512, n_chunks: int = 8,
                    make_default: bool = False, note: str = "") -> EvalCorpus:
    path, digest = local_or_fetched(source, None)
    check_text(path)
    with transaction.atomic():
        if make_default:
            EvalCorpus.objects.update(is_default=False)
        corpus, _ = EvalCorpus.objects.update_or_create(
            name=name, defaults=dict(source=canonical_source(source),
                                     sha256=digest, size_bytes=path.stat().st_size, n_ctx=n_ctx,
                                     n_chunks=n_chunks, is_default=make_default, note=note))
    return corpus


def base_model_propose(*, user, name: str, url: str, sha256: str, note: str = "") -> BaseModelProposal:
    """A user's proposal: a worker fetches and reads it; a moderator approves it before it is reproduced."""
    with transaction.atomic():
        proposal = BaseModelProposal.objects.create(name=name, url=url, sha256=sha256.lower(), note=note,
                                                    proposed_by=user)
        dispatch.enqueue(dispatch.FETCH_PROPOSAL_TASK, proposal.pk, queue="gpu")
    return proposal


def proposal_fetch(*, proposal_id: int) -> None:
    """The worker's side: fetch into the store, read the architecture, register unapproved."""
    proposal = BaseModelProposal.objects.select_related("proposed_by").get(pk=proposal_id)
    if proposal.state != BaseModelProposal.State.PENDING:
        return
    existing = BaseModel.objects.filter(sha256=proposal.sha256).first()
    if existing is not None:
        BaseModelProposal.objects.filter(pk=proposal.pk).update(
            state=BaseModelProposal.State.FAILED, base_model=existing,
            error=f"this file is already registered as {existing.name}")
        return
    try:
        model = base_model_register(source=proposal.url, sha256=proposal.sha256, name=proposal.name,
                                    note=proposal.note, approved=False, proposed_by=proposal.proposed_by,
                                    max_bytes=settings.PROPOSAL_MAX_BYTES)
    except (FetchError, NotABaseModel) as exc:  # the proposer's to fix: their sentence is the error
        log.warning("proposal %s failed: %s", proposal.pk, exc, exc_info=isinstance(exc, NotABaseModel))
        error = str(exc)
    except SoftTimeLimitExceeded:  # Celery's soft limit: say so, or the proposal stays pending for good
        log.warning("proposal %s: the fetch passed the task's soft time limit", proposal.pk)
        error = f"fetching the file took longer than the worker allows ({settings.RUN_SOFT_TIME_LIMIT} s)"
    except OSError:  # the worker's side (its disk, its store): the details are for the operators' log
        log.exception("proposal %s: storing %s failed", proposal.pk, proposal.url)
        error = "the worker could not store the file (the worker's log has the details)"
    except Exception:  # a bug or the database: the proposer gets a sentence, the operators the traceback
        log.exception("proposal %s: registering %s failed", proposal.pk, proposal.url)
        error = "the worker could not register the file (the worker's log has the details)"
    else:
        BaseModelProposal.objects.filter(pk=proposal.pk).update(state=BaseModelProposal.State.FETCHED,
                                                                base_model=model)
        return
    BaseModelProposal.objects.filter(pk=proposal.pk).update(state=BaseModelProposal.State.FAILED, error=error)


@transaction.atomic
def proposal_decide(*, proposal: BaseModelProposal, approve: bool) -> None:
    """A moderator's decision on a fetched proposal."""
    if proposal.state != BaseModelProposal.State.FETCHED:
        raise ValueError(f"proposal {proposal.pk} is {proposal.state}, not waiting for a decision")
    proposal.state = BaseModelProposal.State.APPROVED if approve else BaseModelProposal.State.REJECTED
    proposal.save(update_fields=["state"])
    if approve:
        BaseModel.objects.filter(pk=proposal.base_model_id).update(approved=True)
