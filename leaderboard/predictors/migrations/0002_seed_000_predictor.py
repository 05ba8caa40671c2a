"""Seed 000's predictor, registered so the site measures its hit rate: an FFN expansion ratio in
3.0–5.5, or sliding-window attention, means stock Q2_K fails."""
from django.db import migrations

NAME = "FFN ratio danger zone or sliding window ⇒ Q2_K fails (seed 000)"
RULE = "3.0 <= ffn_ratio <= 5.5 or has_sliding_window"
SOURCE = (
    "Seed document 000 (Grey Liquid Labs, published work, May 2026; shared/seeds/000_fbd6c6cc5a03c1d6.txt): "
    "\"FFN ratio 3.0–5.5x = danger zone. Models in this range consistently fail Q2_K. Below 3.0x or above 5.5x, "
    "they pass. Predictable from config.json in 30 seconds. 100% accuracy across 6 models.\" and "
    "\"SWA = failure amplifier. 100% correlation between Sliding Window Attention presence and Q2_K failure.\" "
    "The lab judged failure by hand (incoherent output); the site judges it by the failure definition above."
)


def register(apps, schema_editor):
    Predictor = apps.get_model("predictors", "Predictor")
    Predictor.objects.update_or_create(name=NAME, defaults={"rule": RULE, "predicts": "Q2_K fails",
                                                            "outcome": "q2k_fails", "source": SOURCE})


def unregister(apps, schema_editor):
    apps.get_model("predictors", "Predictor").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):

    dependencies = [("predictors", "0001_initial")]

    operations = [migrations.RunPython(register, unregister)]
