"""What a process's LEADERBOARD_* environment gets wrong, said once at start: variables no setting reads (a
typo, or a setting that was renamed, silently ignored otherwise), and settings a production site is
expected to set but left at a development default. leaderboard/settings.py reports them; docs/deploy.md
lists every setting."""
from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

PREFIX = "LEADERBOARD_"


def unknown_variables(environ: Mapping[str, str], known: Iterable[str]) -> list[str]:
    """One sentence per LEADERBOARD_ variable that no setting reads, with the nearest known name."""
    names = {PREFIX + k for k in known}
    out = []
    for var in sorted(v for v in environ if v.startswith(PREFIX) and v not in names):
        near = difflib.get_close_matches(var, sorted(names), n=1, cutoff=0.8)
        out.append(f"{var} is set but no setting reads it" + (f" (did you mean {near[0]}?)" if near else ""))
    return out


def missing_in_production(environ: Mapping[str, str], *, debug: bool, https: bool, has_key_file: bool) -> list[str]:
    """What every process with DEBUG off needs (web, workers and beat alike: the secret key), and what a
    public site behind a TLS proxy (LEADERBOARD_HTTPS=1) must not leave at its development default. A worker
    machine serves no pages, so host names are asked of a public site only."""
    if debug:
        return []
    unset = lambda name: not environ.get(PREFIX + name)  # noqa: E731
    out = []
    if unset("SECRET_KEY") and not has_key_file:
        out.append(f"{PREFIX}SECRET_KEY is unset and there is no var/secret_key: nothing can be signed")
    if https:
        if unset("ALLOWED_HOSTS"):
            out.append(f"{PREFIX}ALLOWED_HOSTS is unset on a public site: only localhost is served")
        if unset("DB_PASSWORD"):
            out.append(f"{PREFIX}DB_PASSWORD is unset on a public site (LEADERBOARD_HTTPS=1)")
        if unset("NUM_PROXIES"):
            out.append(f"{PREFIX}NUM_PROXIES is unset behind a TLS proxy: rate limits would count the proxy's "
                       "address, not the client's")
    return out


def settings_problems(environ: Mapping[str, str], known: Iterable[str], *, debug: bool, https: bool,
                      has_key_file: bool) -> list[str]:
    return unknown_variables(environ, known) + missing_in_production(environ, debug=debug, https=https,
                                                                     has_key_file=has_key_file)
