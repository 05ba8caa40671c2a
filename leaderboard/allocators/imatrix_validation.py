"""An imatrix request's fields -> an ImatrixAsk: the one validation path the imatrix form and the API share."""
from __future__ import annotations

from dataclasses import dataclass

from leaderboard.allocators.imatrix_jobs import MAX_CHUNKS
from leaderboard.allocators.models import CalibrationText
from leaderboard.basemodels.models import BaseModel
from leaderboard.domain.experiment_design import MAX_N_CTX, MIN_N_CTX
from leaderboard.recipes.validation import TRUE_WORDS, SubmissionInvalid, base_model_field, field_text


@dataclass(frozen=True)
class ImatrixAsk:
    base_model: BaseModel
    calibration: CalibrationText
    n_ctx: int
    n_chunks: int
    include_output: bool

    def request_arguments(self) -> dict:
        return {"base_model": self.base_model, "calibration": self.calibration, "n_ctx": self.n_ctx,
                "n_chunks": self.n_chunks, "include_output": self.include_output}


def _whole(data, name: str, default: int, low: int, high: int, errors: dict) -> int:
    text = field_text(data, name)
    if not text:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        errors[name] = [f"a whole number from {low} to {high}, not '{text[:20]}'"]
        return default
    return int(text)


def clean_imatrix_request(data) -> ImatrixAsk:
    if not hasattr(data, "get"):
        raise SubmissionInvalid({"non_field_errors": ["send the fields as a JSON object or a form"]})
    errors: dict[str, list[str]] = {}
    base_model = base_model_field(data, errors)
    if base_model is not None and not base_model.approved:
        errors["base_model"] = [f"{base_model.name} waits for a moderator's approval"]
    offered = CalibrationText.objects.filter(enabled=True)
    names = ", ".join(t.name for t in offered) or "none: an admin registers them (manage.py register_calibration)"
    ref = field_text(data, "calibration")
    calibration = None
    if not ref:
        errors["calibration"] = [f"This field is required (offered: {names})."]
    else:
        calibration = (offered.filter(pk=int(ref)).first() if ref.isdigit() else None) or offered.filter(name=ref).first()
        if calibration is None:
            errors["calibration"] = [f"unknown calibration text '{ref[:80]}' (offered: {names})"]
    n_ctx = _whole(data, "n_ctx", 512, MIN_N_CTX, MAX_N_CTX, errors)
    n_chunks = _whole(data, "n_chunks", 100, 1, MAX_CHUNKS, errors)
    include_output = field_text(data, "include_output").lower() in TRUE_WORDS
    if errors:
        raise SubmissionInvalid(errors)
    return ImatrixAsk(base_model=base_model, calibration=calibration, n_ctx=n_ctx, n_chunks=n_chunks,
                      include_output=include_output)
