from django.db.models import QuerySet

from leaderboard.basemodels.models import BaseModel


def base_model_list() -> QuerySet[BaseModel]:
    return BaseModel.objects.select_related("architecture").filter(approved=True)
