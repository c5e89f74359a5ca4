"""Notifications: alert changes to Alertmanager, WeCom and DingTalk group robots and a webhook.

The layers: ``_item`` (what an alert change says) → ``text`` (the Chinese strings and
templates) → ``channels`` (wire formats) → ``policy`` (grouping, rate limit, resend; pure) →
``worker`` (one channel's queue, task and retries) → ``notifier`` (every channel behind the
ingest pipeline's hook).
"""

from gateway.notify._item import NotifyItem, evidence_url, from_alert, printed_port
from gateway.notify.channels import DeliveryError, TransientDeliveryError, dingtalk_sign
from gateway.notify.notifier import Notifier
from gateway.notify.policy import GroupPolicy, ResendPolicy
from gateway.notify.worker import NotifyWorker

__all__ = [
    "DeliveryError",
    "GroupPolicy",
    "Notifier",
    "NotifyItem",
    "NotifyWorker",
    "ResendPolicy",
    "TransientDeliveryError",
    "dingtalk_sign",
    "evidence_url",
    "from_alert",
    "printed_port",
]
