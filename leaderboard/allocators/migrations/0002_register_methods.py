"""The two allocators of leaderboard.domain.allocation's registry: ASHQ1 as published (seed 003) and the
measured-damage allocator, both version 1, with the registry's summaries."""
from django.db import migrations

from leaderboard.domain.allocation import METHODS

REGISTERED = (("ashq1", 1), ("measured", 1))


def register(apps, schema_editor):
    AllocatorMethod = apps.get_model("allocators", "AllocatorMethod")
    for name, version in REGISTERED:
        AllocatorMethod.objects.update_or_create(name=name, version=version,
                                                 defaults={"summary": METHODS[(name, version)].summary})


def unregister(apps, schema_editor):
    AllocatorMethod = apps.get_model("allocators", "AllocatorMethod")
    for name, version in REGISTERED:
        AllocatorMethod.objects.filter(name=name, version=version).delete()


class Migration(migrations.Migration):

    dependencies = [("allocators", "0001_initial")]

    operations = [migrations.RunPython(register, unregister)]
