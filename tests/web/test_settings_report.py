"""An operator finds every setting in docs/deploy.md, and a process says at start what its environment gets
wrong: a LEADERBOARD_ variable nothing reads, or one a production site needs."""
import re
import subprocess
import sys

from django.conf import settings

from tests.conftest import REPO
from tests.web import test_deploy_settings

# the deployment test's production environment, served over plain HTTP
PRODUCTION_ENV = {k: v for k, v in test_deploy_settings.PRODUCTION_ENV.items() if k != "LEADERBOARD_HTTPS"}


def _check(env):
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=REPO, env=env, capture_output=True, text=True)


def test_every_setting_the_code_reads_is_in_the_deploy_table():
    text = (REPO / "docs" / "deploy.md").read_text()
    section = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", section, re.M))
    assert documented == set(settings.SETTINGS_READ) | set(settings.READ_ELSEWHERE)


def test_a_misspelt_variable_is_reported_at_start_with_the_real_name():
    done = _check({**PRODUCTION_ENV, "LEADERBOARD_DB_PASWORD": "secret"})
    assert done.returncode == 0, done.stderr
    assert "LEADERBOARD_DB_PASWORD is set but no setting reads it (did you mean LEADERBOARD_DB_PASSWORD?)" in done.stderr


def test_a_public_site_without_its_database_password_is_reported_and_a_complete_one_is_quiet():
    done = _check({**PRODUCTION_ENV, "LEADERBOARD_HTTPS": "1"})
    assert "LEADERBOARD_DB_PASSWORD is unset on a public site" in done.stderr
    quiet = _check({**PRODUCTION_ENV, "LEADERBOARD_HTTPS": "1", "LEADERBOARD_DB_PASSWORD": "p",
                    "LEADERBOARD_NUM_PROXIES": "1"})
    assert quiet.returncode == 0 and "settings:" not in quiet.stderr, quiet.stderr
