"""Celery tasks: thin interfaces that take an id and call a service. Safe to run twice."""

from celery import shared_task

from . import services


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_order_confirmation(order_id: str) -> bool:
    return services.order_email_send(order_id=order_id, kind="confirmation")


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_order_cancellation(order_id: str) -> bool:
    return services.order_email_send(order_id=order_id, kind="cancellation")
