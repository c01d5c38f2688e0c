from django.db import models


class ClusterRing(models.Model):
    """The ring of active nodes: one row, its version growing with each change of the
    active set. In the database so that it survives the loss of Redis's data."""

    version = models.BigIntegerField(default=0)
    members = models.JSONField(default=list)  # node ids, sorted
    changed = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "cluster ring"

    def __str__(self) -> str:
        return f"ring {self.version}: {', '.join(self.members) or 'no node'}"
