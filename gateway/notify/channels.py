"""The wire formats: WeCom and DingTalk group robots, a generic JSON webhook, Alertmanager's v2 API.

A channel turns a list of alerts into one HTTP POST. Failures raise :class:`DeliveryError`;
:class:`TransientDeliveryError` (connection refused, timeout, 5xx, 429, the robots' "too
frequent" codes) is worth retrying under the shared policy, anything else is not. Secrets
(robot keys, tokens, the DingTalk signing secret) travel in the query or headers and never
appear in an error message or a log line.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import aiohttp

from chargewatch.errors import ChargeWatchError
from gateway.notify import text
from gateway.notify._item import NotifyItem, printed_port

WECOM_MAX_BYTES = 4096  # WeCom rejects longer markdown content
_WECOM_RETRY = {-1, 45009}  # system busy, too frequent
_DINGTALK_RETRY = {-1, 130101}  # system busy, sending too fast


class DeliveryError(ChargeWatchError):
    """A notification was not accepted by ``channel``."""

    def __init__(self, channel: str, detail: str) -> None:
        super().__init__(f"{channel}: {detail}")
        self.channel = channel


class TransientDeliveryError(DeliveryError):
    """A failure that may pass: retried with backoff."""


class Channel(Protocol):
    """One destination; ``name`` is the ``channel`` label of the notify metrics."""

    name: str

    async def send(self, http: aiohttp.ClientSession, items: Sequence[NotifyItem], now: float) -> None: ...


async def post_json(
    http: aiohttp.ClientSession,
    channel: str,
    url: str,
    body: Any,
    *,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """POST ``body`` as JSON; the response body on 2xx, else a DeliveryError (URL without query)."""
    data = json.dumps(body, ensure_ascii=False).encode()
    hdrs = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    try:
        async with http.post(url, data=data, params=params, headers=hdrs) as resp:
            payload = await resp.read()
            status = resp.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise TransientDeliveryError(channel, f"POST {url}: {type(exc).__name__} {exc}") from exc
    if status >= 500 or status == 429:
        raise TransientDeliveryError(channel, f"POST {url}: HTTP {status}")
    if status >= 300:
        raise DeliveryError(channel, f"POST {url}: HTTP {status} {payload[:200]!r}")
    return payload


def _robot_answer(channel: str, payload: bytes, retry_codes: set[int]) -> None:
    """The robots answer 200 with ``{"errcode": 0}`` on success, another code on failure."""
    try:
        answer = json.loads(payload)
        code = int(answer.get("errcode", -1))
    except (ValueError, AttributeError, TypeError) as exc:
        raise DeliveryError(channel, f"answer is not the robot's JSON: {payload[:200]!r}") from exc
    if code == 0:
        return
    error = TransientDeliveryError if code in retry_codes else DeliveryError
    raise error(channel, f"errcode {code}: {answer.get('errmsg', '')}")


class WeComRobot:
    """企业微信群机器人: ``POST {url}?key=…`` with a markdown message."""

    name = "wecom"

    def __init__(self, url: str, key: str, max_items: int) -> None:
        self.url = url
        self.key = key
        self.max_items = max_items

    def content(self, items: Sequence[NotifyItem]) -> str:
        """The markdown, with fewer alerts listed until it fits WeCom's 4096 bytes."""
        n = self.max_items
        content = text.markdown(items, n, colour=True)
        while len(content.encode()) > WECOM_MAX_BYTES and n > 1:
            n -= 1
            content = text.markdown(items, n, colour=True)
        return content

    async def send(self, http: aiohttp.ClientSession, items: Sequence[NotifyItem], now: float) -> None:
        body = {"msgtype": "markdown", "markdown": {"content": self.content(items)}}
        payload = await post_json(http, self.name, self.url, body, params={"key": self.key})
        _robot_answer(self.name, payload, _WECOM_RETRY)


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's signature: base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}"))."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class DingTalkRobot:
    """钉钉群机器人: ``POST {url}?access_token=…[&timestamp=…&sign=…]`` with a markdown message."""

    name = "dingtalk"

    def __init__(self, url: str, access_token: str, secret: str, max_items: int) -> None:
        self.url = url
        self.access_token = access_token
        self.secret = secret
        self.max_items = max_items

    async def send(self, http: aiohttp.ClientSession, items: Sequence[NotifyItem], now: float) -> None:
        params = {"access_token": self.access_token}
        if self.secret:
            ts = int(now * 1000)
            params |= {"timestamp": str(ts), "sign": dingtalk_sign(self.secret, ts)}
        body = {
            "msgtype": "markdown",
            "markdown": {
                "title": text.title(items),
                "text": text.markdown(items, self.max_items, colour=False),
            },
        }
        payload = await post_json(http, self.name, self.url, body, params=params)
        _robot_answer(self.name, payload, _DINGTALK_RETRY)


class Webhook:
    """Any HTTP endpoint: the alerts as JSON, plus the Chinese title and markdown text."""

    name = "webhook"

    def __init__(self, url: str, token: str, max_items: int) -> None:
        self.url = url
        self.token = token
        self.max_items = max_items

    async def send(self, http: aiohttp.ClientSession, items: Sequence[NotifyItem], now: float) -> None:
        body = {
            "version": 1,
            "site": items[0].site,
            "title": text.title(items),
            "text": text.markdown(items, self.max_items, colour=False),
            "alerts": [text.as_json(i) for i in text.ordered(items)],
        }
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        await post_json(http, self.name, self.url, body, headers=headers)


class Alertmanager:
    """Prometheus Alertmanager, ``POST {url}/api/v2/alerts``.

    A firing alert is posted with ``endsAt`` = now + 4 × the resend interval (Prometheus's
    rule), so alerts of a gateway that stopped re-posting expire instead of firing forever;
    a resolved one with ``endsAt`` = the time it resolved.
    """

    name = "alertmanager"

    def __init__(self, url: str, resend_s: float) -> None:
        self.url = url.rstrip("/") + "/api/v2/alerts"
        self.resend_s = resend_s

    def alert(self, item: NotifyItem, now: float) -> dict[str, Any]:
        """One alert of the v2 API's ``postableAlerts``."""
        labels = {
            "alertname": item.kind,
            "kind": item.kind,
            "severity": item.severity,
            "site": item.site,
            "device": item.device,
            "alert_id": item.id,
        }
        port = printed_port(item.port)
        if port is not None:
            labels["port"] = str(port)
        ends = now + 4 * self.resend_s if item.state == "firing" else item.ts
        return {
            "labels": labels,
            "annotations": {
                "summary": text.summary(item),
                "description": text.description(item),
                "summary_en": text.summary_en(item),
                "value": text.value(item),
                "evidence_url": item.url,
            },
            "startsAt": text.rfc3339(item.first_ts),
            "endsAt": text.rfc3339(max(ends, item.first_ts)),
            "generatorURL": item.url,
        }

    async def send(self, http: aiohttp.ClientSession, items: Sequence[NotifyItem], now: float) -> None:
        await post_json(http, self.name, self.url, [self.alert(i, now) for i in items])
