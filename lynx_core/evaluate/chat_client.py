"""One chat completion from an OpenAI-compatible endpoint, on aiohttp: the GPT judge's wire.

The judge sends one kind of request (`POST <base_url>/chat/completions` with a bearer key)
thousands of times, `concurrency` at once. The `openai` SDK spends about 1.3 ms of CPU on
each (request building, response models), which on a 2-core machine kept the judge at 0.75
of the ideal rate; this client is a plain asyncio POST over one bounded connection pool
(`bench/judge_throughput.py`, `bench/README.md`), as evaluation harnesses such as
lm-evaluation-harness do. What the SDK did that matters here is kept: every failure is
classified, as retryable (`RETRYABLE`: rate limits, server errors, timeouts, dropped
connections, a 200 that is not a completion) or final (`ChatError`: e.g. 401, 400), and the
key goes in one header, never into an error or a log. Where it differs from the SDK: the
timeout bounds connecting and each wait for bytes, not DNS or a whole request; the proxy is
the one the environment names for the URL's scheme (not ALL_PROXY); certificates come from
the system's store.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import urllib.request
from dataclasses import dataclass

import aiohttp

OPENAI_URL = "https://api.openai.com/v1"


class ChatError(Exception):
    """A request that got no completion; its type names why in counts and messages."""


class RateLimitError(ChatError):
    """HTTP 429."""


class InternalServerError(ChatError):
    """HTTP 5xx."""


class APITimeoutError(ChatError):
    """No whole answer within the timeout."""


class APIConnectionError(ChatError):
    """The connection failed or was closed before an answer."""


class MalformedReply(ChatError):
    """A 200 answer that is not a chat completion (a cut-off body, JSON of another shape)."""


class RequestRefused(ChatError):
    """Any other status (400, 401, 404, …): asking again would get the same answer."""


RETRYABLE = (
    RateLimitError,
    InternalServerError,
    APITimeoutError,
    APIConnectionError,
    MalformedReply,
)


@dataclass(frozen=True)
class Completion:
    text: str  # the first choice's message ("" when the server sent none)
    model: str  # the model as the server reported it


def _status_error(status: int, body: str) -> ChatError:
    kind = (
        RateLimitError
        if status == 429
        else InternalServerError
        if status >= 500
        else RequestRefused
    )
    return kind(f"HTTP {status}: {body[:200]}")


def parse_completion(raw: bytes, requested_model: str) -> Completion:
    """The reply's text and model; `MalformedReply` unless it is a chat completion."""
    try:
        reply = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise MalformedReply(f"a reply that is not JSON ({err})") from None
    choices = reply.get("choices") if isinstance(reply, dict) else None
    first = choices[0] if isinstance(choices, list) and choices else None
    message = first.get("message") if isinstance(first, dict) else None
    if not isinstance(message, dict):
        raise MalformedReply("a reply without choices[0].message")
    return Completion(str(message.get("content") or ""), str(reply.get("model") or requested_model))


def proxy_for(url: str) -> str | None:
    """The proxy the environment names for `url` (HTTPS_PROXY, NO_PROXY, …), as the openai
    SDK would use it; read once per client, not per request as aiohttp's `trust_env` does
    (which cost a tenth of the judge's rate)."""
    parts = urllib.parse.urlsplit(url)
    if urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return urllib.request.getproxies().get(parts.scheme)


class ChatClient:
    """Chat completions over one aiohttp session whose pool holds at most `connections`
    connections; open it inside the event loop that uses it (`async with`)."""

    def __init__(self, key: str, base_url: str | None, connections: int, timeout_s: float):
        self.url = (base_url or OPENAI_URL).rstrip("/") + "/chat/completions"
        self._headers = {"Authorization": f"Bearer {key}"}
        self._connections = connections
        # per phase, as the openai SDK counts it: connecting, then each wait for bytes
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=timeout_s, sock_read=timeout_s
        )
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ChatClient:
        connector = aiohttp.TCPConnector(limit=self._connections)
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers=self._headers,
            timeout=self._timeout,
            proxy=proxy_for(self.url),
        )
        return self

    async def __aexit__(self, *exc) -> None:
        if self._session is not None:
            await self._session.close()

    async def complete(self, model: str, prompt: str, max_tokens: int) -> Completion:
        """One completion at temperature 0; raises a `ChatError` saying why there is none."""
        assert self._session is not None, "open the client with `async with` first"
        body = {
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "temperature": 0,
            "max_tokens": max_tokens,
        }
        try:
            async with self._session.post(self.url, json=body) as response:
                raw = await response.read()
        except asyncio.TimeoutError:
            raise APITimeoutError(f"no answer within {self._timeout.sock_read} s") from None
        except aiohttp.ClientError as err:  # refused, reset, closed mid-answer
            raise APIConnectionError(type(err).__name__) from None
        if response.status != 200:
            raise _status_error(response.status, raw.decode(errors="replace"))
        return parse_completion(raw, model)
