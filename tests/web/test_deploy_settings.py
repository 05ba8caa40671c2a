"""Production settings come from the environment and pass Django's deployment checklist."""
import subprocess
import sys

from tests.conftest import REPO

PRODUCTION_ENV = {
    "PATH": "/usr/bin:/bin",
    "DJANGO_SETTINGS_MODULE": "leaderboard.settings",
    "LEADERBOARD_SECRET_KEY": "k3y-" + "x7Qp2vR9sL4mN8bW1cY6dF3hJ0gT5aZe" * 2,
    "LEADERBOARD_ALLOWED_HOSTS": "quants.example.org",
    "LEADERBOARD_HTTPS": "1",
    "LEADERBOARD_VAR_DIR": "/nonexistent",
}


def _manage(*args, env):
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True)


def test_production_settings_pass_check_deploy_with_zero_warnings():
    done = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "System check identified no issues (0 silenced)." in done.stdout


def test_without_a_secret_key_nothing_is_signed_with_a_known_one():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "LEADERBOARD_SECRET_KEY"}
    done = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert done.returncode != 0 and "SECRET_KEY" in done.stderr
