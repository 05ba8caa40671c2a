from leaderboard.domain.settings_check import missing_in_production, settings_problems, unknown_variables

KNOWN = ("DB_PASSWORD", "DB_HOST", "SECRET_KEY", "ALLOWED_HOSTS", "NUM_PROXIES")


def test_a_variable_no_setting_reads_is_named_with_the_nearest_real_one():
    found = unknown_variables({"LEADERBOARD_DB_PASWORD": "x", "LEADERBOARD_DB_HOST": "db", "HOME": "/root"}, KNOWN)
    assert found == ["LEADERBOARD_DB_PASWORD is set but no setting reads it (did you mean LEADERBOARD_DB_PASSWORD?)"]


def test_a_far_off_name_gets_no_guess():
    assert unknown_variables({"LEADERBOARD_COLOUR": "blue"}, KNOWN) == [
        "LEADERBOARD_COLOUR is set but no setting reads it"]


def test_debug_expects_nothing():
    assert missing_in_production({}, debug=True, https=True, has_key_file=False) == []


def test_production_expects_a_key_and_a_public_site_more():
    assert missing_in_production({}, debug=False, https=False, has_key_file=True) == []  # e.g. a worker machine
    local = missing_in_production({}, debug=False, https=False, has_key_file=False)
    assert [m.split()[0] for m in local] == ["LEADERBOARD_SECRET_KEY"]
    public = missing_in_production({"LEADERBOARD_SECRET_KEY": "k"}, debug=False, https=True, has_key_file=False)
    assert [m.split()[0] for m in public] == ["LEADERBOARD_ALLOWED_HOSTS", "LEADERBOARD_DB_PASSWORD",
                                              "LEADERBOARD_NUM_PROXIES"]


def test_a_complete_environment_has_no_problem():
    environ = {"LEADERBOARD_SECRET_KEY": "k", "LEADERBOARD_ALLOWED_HOSTS": "h", "LEADERBOARD_DB_PASSWORD": "p",
               "LEADERBOARD_NUM_PROXIES": "1"}
    assert settings_problems(environ, KNOWN, debug=False, https=True, has_key_file=False) == []
