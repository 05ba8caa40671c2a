from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from leaderboard import health
from leaderboard.accounts import views as account_views
from leaderboard.allocators import imatrix_views, probe_views, views as allocator_views
from leaderboard.basemodels import views as basemodel_views
from leaderboard.experiments import views as experiment_views
from leaderboard.frontiers import views as frontier_views
from leaderboard.predictors import views as predictor_views
from leaderboard.recipes import transfer_views as recipe_transfer_views
from leaderboard.recipes import views as recipe_views
from leaderboard.runs import views as run_views
from leaderboard.sweeps import views as sweep_views

urlpatterns = [
    path("", frontier_views.home, name="home"),
    path("architectures/<int:pk>/", frontier_views.architecture_detail, name="architecture_detail"),
    path("models/<int:pk>/", frontier_views.base_model_detail, name="base_model_detail"),
    path("models/propose/", basemodel_views.base_model_propose, name="base_model_propose"),
    path("<str:kind>/<int:pk>/table/", frontier_views.frontier_table, name="frontier_table"),
    path("compare/", frontier_views.compare, name="compare"),
    path("predictors/", predictor_views.predictor_list, name="predictors"),
    path("recipes/", recipe_views.recipe_list, name="recipe_list"),
    path("recipes/new/", recipe_views.recipe_new, name="recipe_new"),
    path("recipes/<int:pk>/", recipe_views.recipe_detail, name="recipe_detail"),
    path("recipes/<int:pk>/override.txt", recipe_views.recipe_override_file, name="recipe_override_file"),
    path("recipes/<int:pk>/imatrix.gguf", recipe_views.recipe_imatrix, name="recipe_imatrix"),
    path("recipes/<int:pk>/command.txt", recipe_views.recipe_command, name="recipe_command"),
    path("recipes/<int:pk>/reproduce/", recipe_views.recipe_reproduce, name="recipe_reproduce"),
    path("recipes/<int:pk>/edit/", recipe_views.recipe_edit, name="recipe_edit"),
    path("recipes/<int:pk>/withdraw/", recipe_views.recipe_withdraw, name="recipe_withdraw"),
    path("recipes/<int:pk>/transfer/", recipe_transfer_views.recipe_transfer, name="recipe_transfer"),
    path("runs/<int:pk>/", run_views.run_detail, name="run_detail"),
    path("sweeps/", sweep_views.sweep_list, name="sweep_list"),
    path("sweeps/new/", sweep_views.sweep_new, name="sweep_new"),
    path("sweeps/<int:pk>/", sweep_views.sweep_detail, name="sweep_detail"),
    path("sweeps/<int:pk>/start/", sweep_views.sweep_start, name="sweep_start"),
    path("sweeps/<int:pk>/stop/", sweep_views.sweep_stop, name="sweep_stop"),
    path("sweeps/<int:pk>/retry/", sweep_views.sweep_retry, name="sweep_retry"),
    path("sweeps/<int:pk>/combine/", sweep_views.sweep_combine, name="sweep_combine"),
    path("allocators/new/", allocator_views.allocation_new, name="allocation_new"),
    path("allocators/submit/", allocator_views.allocation_submit, name="allocation_submit"),
    path("imatrices/", imatrix_views.imatrix_list, name="imatrix_list"),
    path("imatrices/<int:pk>/", imatrix_views.imatrix_job, name="imatrix_job"),
    path("imatrices/<int:pk>/download/", imatrix_views.imatrix_download, name="imatrix_download"),
    path("allocators/probes/", probe_views.probe_new, name="probe_new"),
    path("allocators/probes/<int:pk>/", probe_views.probe_detail, name="damage_probe"),
    path("experiments/", experiment_views.experiment_board, name="experiment_board"),
    path("experiments/new/", experiment_views.experiment_new, name="experiment_new"),
    path("experiments/<int:pk>/", experiment_views.experiment_detail, name="experiment_detail"),
    path("experiments/<int:pk>/edit/", experiment_views.experiment_edit, name="experiment_edit"),
    path("experiments/<int:pk>/reproduce/", experiment_views.experiment_reproduce, name="experiment_reproduce"),
    path("experiments/<int:pk>/withdraw/", experiment_views.experiment_withdraw, name="experiment_withdraw"),
    path("experiments/<int:pk>/export.json", experiment_views.experiment_export, name="experiment_export"),
    path("accounts/register/", account_views.register, name="register"),
    path("accounts/me/", account_views.me, name="account"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/", include("leaderboard.api.urls")),
    path("admin/queues/", health.queues_page, name="admin_queues"),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
]
