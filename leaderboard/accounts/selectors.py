from leaderboard.basemodels.models import BaseModelProposal
from leaderboard.recipes.selectors import recipe_list
from leaderboard.runs.models import Run


def submissions_of(user) -> dict:
    return {
        "recipes": recipe_list().filter(submitter=user),
        "runs": Run.objects.filter(requested_by=user).select_related("recipe", "arm__experiment", "profile__corpus")[:50],
        "proposals": BaseModelProposal.objects.filter(proposed_by=user).select_related("base_model"),
    }
