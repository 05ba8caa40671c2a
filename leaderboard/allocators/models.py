from django.db import models

from leaderboard.recipes.models import Recipe


class AllocatorMethod(models.Model):
    """A budget allocator the site offers: a row per (name, version) of leaderboard.domain.allocation.METHODS.
    The site offers a method only while both exist: the row (so a moderator can add or retire one) and the
    code (so the rules it gives are the registry's)."""

    name = models.CharField(max_length=32, help_text="the registry's name, e.g. ashq1")
    version = models.PositiveIntegerField()
    summary = models.TextField(help_text="what the method does, in a sentence or two")
    enabled = models.BooleanField(default=True, help_text="offered on the budget form and the API")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "version"]
        constraints = [models.UniqueConstraint(fields=["name", "version"], name="one_allocator_method_version")]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class AllocatorInputs(models.Model):
    """What an allocator recipe was made from, so anyone can make its rules again: the allocator's own record
    (Allocation.inputs: method, version, budget in file bytes, tiers, the imatrix's sha256, options), the stock
    plan whose tensors it allocated and the file layout it priced them with."""

    recipe = models.OneToOneField(Recipe, on_delete=models.CASCADE, primary_key=True, related_name="allocator_inputs")
    method = models.ForeignKey(AllocatorMethod, on_delete=models.PROTECT, related_name="recipes")
    inputs = models.JSONField(help_text="Allocation.inputs: method, version, budget_bytes, tiers, importance_sha256, "
                                        "options")
    stock_recipe = models.ForeignKey(Recipe, on_delete=models.PROTECT, related_name="+",
                                     help_text="the stock recipe whose plan gave the tensors and their default types")
    header_bytes = models.BigIntegerField(help_text="the file's header as priced (FileLayout.header_bytes)")
    alignment = models.PositiveIntegerField()
    size_exact = models.BooleanField(help_text="whether the header was known exactly (else an upper bound)")
    budget_value = models.FloatField(help_text="the budget as asked")
    budget_unit = models.CharField(max_length=8, help_text="MiB or bpw")
    predicted_file_bytes = models.BigIntegerField()
    search = models.CharField(max_length=16, help_text="queue or knapsack")
    predicted_damage = models.FloatField(help_text="the method's objective for these rules")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"recipe #{self.recipe_id} by {self.method}"
