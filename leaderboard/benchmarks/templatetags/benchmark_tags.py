from django import template

from leaderboard.benchmarks import selectors

register = template.Library()


@register.simple_tag
def run_benchmarks(run):
    return selectors.run_results(run)


@register.simple_tag
def recipe_benchmarks(recipe):
    return selectors.recipe_results(recipe)
