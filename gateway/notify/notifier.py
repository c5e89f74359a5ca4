"""The gateway's notifier: every configured channel behind one non-blocking :meth:`Notifier.submit`.

The ingest pipeline hands it each batch of published alerts (``notify=notifier.submit``); each
channel's :class:`~gateway.notify.worker.NotifyWorker` takes its copy from its own bounded
queue, so a slow or dead channel delays only itself and never ingest. Nobody is told about a
``pending`` alert, nor about the resolution of one that never fired.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Self

from chargewatch.clock import Clock
from chargewatch.messages import Alert
from chargewatch.retry import Backoff
from gateway.config import NotifyConfig, notify_secret
from gateway.ingest.state import AlertRow
from gateway.metrics import Metrics
from gateway.notify._item import SEVERITY_RANK, NotifyItem, from_alert, from_row
from gateway.notify.channels import Alertmanager, Channel, DingTalkRobot, Webhook, WeComRobot
from gateway.notify.policy import GroupPolicy, Policy, ResendPolicy
from gateway.notify.worker import NotifyWorker

_OPEN_KEEP = 10_000  # open alert ids remembered (when each began firing; None = still pending)


def channels(cfg: NotifyConfig) -> list[tuple[Channel, Policy, str]]:
    """(channel, policy, min_severity) of every configured channel; reads the secrets now, so a
    missing environment variable or file stops start-up with a ConfigError naming it."""
    out: list[tuple[Channel, Policy, str]] = []
    grouped = (cfg.group_s, cfg.rate_limit_s)
    if (am := cfg.alertmanager) is not None:
        out.append((Alertmanager(am.url, am.resend_s), ResendPolicy(am.resend_s), am.min_severity))
    if (w := cfg.wecom) is not None:
        key = notify_secret("wecom", w.key_env, w.key_file, "key")
        out.append((WeComRobot(w.url, key, cfg.max_items), GroupPolicy(*grouped), w.min_severity))
    if (d := cfg.dingtalk) is not None:
        token = notify_secret("dingtalk", d.access_token_env, d.access_token_file, "access_token")
        secret = notify_secret("dingtalk", d.secret_env, d.secret_file, "secret")
        robot = DingTalkRobot(d.url, token, secret, cfg.max_items)
        out.append((robot, GroupPolicy(*grouped), d.min_severity))
    if (h := cfg.webhook) is not None:
        token = notify_secret("webhook", h.token_env, h.token_file, "token")
        out.append((Webhook(h.url, token, cfg.max_items), GroupPolicy(*grouped), h.min_severity))
    return out


class Notifier:
    """``async with Notifier(...)`` runs one worker per channel; :meth:`submit` feeds them all."""

    def __init__(
        self,
        cfg: NotifyConfig,
        *,
        site: str,
        public_url: str,
        metrics: Metrics,
        clock: Clock,
        backoff: Backoff | None = None,
    ) -> None:
        self.site = site
        self.public_url = public_url
        r = cfg.retry
        policy = backoff or Backoff(initial=r.initial_s, cap=r.cap_s, attempts=r.attempts)
        self.workers: list[tuple[NotifyWorker, int]] = [
            (
                NotifyWorker(
                    channel,
                    pol,
                    clock=clock,
                    metrics=metrics,
                    backoff=policy,
                    queue_max=cfg.queue_max,
                    timeout_s=cfg.timeout_s,
                ),
                SEVERITY_RANK[floor],
            )
            for channel, pol, floor in channels(cfg)
        ]
        self._open: dict[str, float | None] = {}
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> Self:
        try:
            for w, _ in self.workers:
                await self._stack.enter_async_context(w)
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stack.aclose()

    def submit(self, alerts: Sequence[Alert]) -> None:
        """The pipeline's hook: queue each firing or resolved alert on every channel (never blocks)."""
        for alert in alerts:
            if alert.state == "resolved":
                began = self._open.pop(alert.id, alert.ts)
                if began is None:
                    continue  # it never fired: nobody was told, nothing to take back
            else:
                began = self._open.get(alert.id) or (alert.ts if alert.state == "firing" else None)
                self._remember(alert.id, began)
            item = from_alert(alert, self.site, self.public_url, first_ts=began)
            if item is not None:
                self._fan_out([item])

    def _remember(self, alert_id: str, began: float | None) -> None:
        self._open[alert_id] = began
        if len(self._open) > _OPEN_KEEP:
            del self._open[next(iter(self._open))]

    def seed(self, rows: Sequence[AlertRow]) -> None:
        """At start-up: alerts still firing in the alert book, so Alertmanager keeps seeing them
        (the chat robots were told before the restart and are not told again)."""
        items = [i for i in (from_row(r, self.site, self.public_url) for r in rows) if i is not None]
        for item in items:
            self._remember(item.id, item.first_ts)
        for w, floor in self.workers:
            if isinstance(w.policy, ResendPolicy):
                for item in items:
                    if SEVERITY_RANK[item.severity] >= floor:
                        w.submit(item)

    def _fan_out(self, items: Sequence[NotifyItem]) -> None:
        for w, floor in self.workers:
            for item in items:
                if SEVERITY_RANK[item.severity] >= floor:
                    w.submit(item)

    async def sync(self) -> None:
        """Until every worker has taken what was submitted and sent what is due now."""
        for w, _ in self.workers:
            await w.sync()
