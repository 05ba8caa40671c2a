from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.authtoken.views import obtain_auth_token

from leaderboard.api import experiments, imatrices, leaderboard, predictors, sweeps, views
from leaderboard.api.transfer import RecipeTransfer

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="api_token"),
    path("base-models/", views.BaseModelList.as_view(), name="api_base_models"),
    path("base-models/<int:pk>/", views.BaseModelDetail.as_view(), name="api_base_model"),
    path("recipes/", views.RecipeListCreate.as_view(), name="api_recipes"),
    path("recipes/<int:pk>/", views.RecipeDetail.as_view(), name="api_recipe"),
    path("recipes/<int:pk>/withdraw/", views.RecipeWithdraw.as_view(), name="api_recipe_withdraw"),
    path("recipes/<int:pk>/runs/", views.RecipeRuns.as_view(), name="api_recipe_runs"),
    path("recipes/<int:pk>/transfer/", RecipeTransfer.as_view(), name="api_recipe_transfer"),
    path("runs/<int:pk>/", views.RunDetail.as_view(), name="api_run"),
    path("leaderboard/", leaderboard.Leaderboard.as_view(), name="api_leaderboard"),
    path("leaderboard/best/", leaderboard.BestUnder.as_view(), name="api_best_under"),
    path("compare/", leaderboard.Compare.as_view(), name="api_compare"),
    path("predictors/", predictors.Predictors.as_view(), name="api_predictors"),
    path("base-model-proposals/", views.BaseModelProposals.as_view(), name="api_base_model_proposals"),
    path("experiments/", experiments.ExperimentListCreate.as_view(), name="api_experiments"),
    path("experiments/<int:pk>/", experiments.ExperimentDetail.as_view(), name="api_experiment"),
    path("experiments/<int:pk>/reproductions/", experiments.ExperimentReproductions.as_view(),
         name="api_experiment_reproductions"),
    path("experiments/<int:pk>/withdraw/", experiments.ExperimentWithdraw.as_view(), name="api_experiment_withdraw"),
    path("experiments/<int:pk>/export/", experiments.ExperimentExport.as_view(), name="api_experiment_export"),
    path("sweeps/", sweeps.SweepListCreate.as_view(), name="api_sweeps"),
    path("sweeps/<int:pk>/", sweeps.SweepDetail.as_view(), name="api_sweep"),
    path("sweeps/<int:pk>/start/", sweeps.SweepStart.as_view(), name="api_sweep_start"),
    path("sweeps/<int:pk>/stop/", sweeps.SweepStop.as_view(), name="api_sweep_stop"),
    path("sweeps/<int:pk>/retry/", sweeps.SweepRetry.as_view(), name="api_sweep_retry"),
    path("sweeps/<int:pk>/combine/", sweeps.SweepCombine.as_view(), name="api_sweep_combine"),
    path("allocations/", include("leaderboard.api.allocations")),
    path("imatrices/", imatrices.ImatrixListCreate.as_view(), name="api_imatrices"),
    path("imatrices/<int:pk>/", imatrices.ImatrixDetail.as_view(), name="api_imatrix"),
    path("damage-probes/", imatrices.DamageProbeCreate.as_view(), name="api_damage_probes"),
    path("damage-probes/<int:pk>/", imatrices.DamageProbeDetail.as_view(), name="api_damage_probe"),
    path("schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api_schema"), name="api_docs"),
]
