"""Celery tasks: they take ids, and call the same code the embedded pool runs."""

from __future__ import annotations

from celery import shared_task

from notifications.delivery import deliver
from notifications.runner import run_with_connection


@shared_task(name="notifications.deliver", acks_late=True, reject_on_worker_lost=True,
             ignore_result=True)
def deliver_task(notification_ids: list[int]) -> dict[str, int]:
    # acks_late + reject_on_worker_lost: a worker killed mid-delivery leaves the
    # message on the broker; the rows' claim keeps a second copy from sending twice.
    return run_with_connection(deliver, notification_ids)
