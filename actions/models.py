from django.db import models


class Action(models.Model):
    """An Action Jail action: enrichment logic an administrator keeps outside the code."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name
