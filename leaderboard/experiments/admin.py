from django.contrib import admin

from leaderboard.experiments.models import Experiment

admin.site.register(Experiment)
