"""Profile values as the pages show them: counts with separators, ratios to three figures, shares in percent,
"not recorded" where registration could not know a value."""
from __future__ import annotations

import math

from leaderboard.domain.arch_profile import FIELDS, ArchProfile

NOT_RECORDED = "not recorded"


def field_text(profile: ArchProfile, name: str) -> str:
    value = profile.value(name)
    if name == "sliding_window" and not profile.has_sliding_window:
        return "none"
    if value is None:
        return NOT_RECORDED
    unit = FIELDS[name].unit
    if isinstance(value, bool):
        return "yes" if value else "no"
    if unit == "share":
        return f"{100 * value:.1f} %"
    if unit == "ratio":
        return "∞ (every block local)" if math.isinf(value) else f"{value:.3g}"
    if unit == "tokens":
        return f"{value:,} tokens"
    return f"{value:,}"


def profile_rows(profile: ArchProfile) -> list[tuple[str, str]]:
    """(label, text) for the architecture profile table, with what each ratio and share is made of."""
    def of(name: str) -> str:
        return field_text(profile, name)

    ffn = of("ffn_ratio")
    if profile.ffn_ratio is not None:
        ffn += f" ({profile.feed_forward_length:,} / {profile.embedding_length:,})"
    gqa = of("gqa_ratio")
    if profile.gqa_ratio is not None:
        gqa += f" ({profile.head_count} heads / {profile.head_count_kv} KV head{'s' if profile.head_count_kv > 1 else ''})"
    tensor_bytes = f" of {profile.tensor_bytes:,} tensor bytes" if profile.tensor_bytes else ""
    return [
        ("architecture", profile.architecture),
        ("blocks × width", f"{profile.block_count} × {profile.embedding_length:,}"),
        (FIELDS["ffn_ratio"].label, ffn),
        (FIELDS["gqa_ratio"].label, gqa),
        ("sliding-window layout", profile.swa_pattern()),
        (FIELDS["sliding_window"].label, of("sliding_window")),
        (FIELDS["embedding_share"].label, of("embedding_share") + (tensor_bytes if profile.embedding_share is not None else "")),
        (FIELDS["output_share"].label, of("output_share") + (" (tied to the token embedding)"
                                                             if profile.tied_embeddings else "")),
        (FIELDS["tied_embeddings"].label, of("tied_embeddings")),
        (FIELDS["vocab_size"].label, of("vocab_size")),
    ]
