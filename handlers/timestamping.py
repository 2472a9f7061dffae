"""RFC 3161 time-stamping of the chain's daily head: a request to a time-stamping authority (TSA)
over HTTP, and the token it answers with, checked to be about our hash and our request.

asn1crypto (``tsp``) reads and writes the DER structures: the ASN.1 is RFC 3161's and no hand
parsing of it is safe. The token is kept as DER; anyone can check it with OpenSSL alone::

    printf %s <head hash> > head.txt
    openssl ts -verify -data head.txt -in token.der -token_in -CAfile tsa-ca.pem

What is stamped is the head's hash as 64 ASCII hex characters (the token holds their SHA-256).
"""

from __future__ import annotations

import hashlib
import secrets

import aiohttp
from asn1crypto import algos, tsp

from monitor.core.errors import MonitorError


class TimestampError(MonitorError):
    """The time-stamping authority could not be reached or gave no usable token."""


def head_data(head_hash: str) -> bytes:
    """The bytes a head's token stamps: its hash in hex, ASCII."""
    return head_hash.encode("ascii")


def timestamp_request(data: bytes, nonce: int) -> bytes:
    """The DER ``TimeStampReq`` for ``data`` (SHA-256 imprint, with the TSA's certificate asked for)."""
    return tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": tsp.MessageImprint(
                {
                    "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                    "hashed_message": hashlib.sha256(data).digest(),
                }
            ),
            "nonce": nonce,
            "cert_req": True,
        }
    ).dump()


def token_from_reply(reply: bytes, data: bytes, nonce: int, url: str) -> bytes:
    """The DER ``TimeStampToken`` of a TSA's reply, once it is granted and about ``data`` and ``nonce``."""
    try:
        response = tsp.TimeStampResp.load(reply)
        status = response["status"]["status"].native
        token = response["time_stamp_token"]
        if status not in ("granted", "granted_with_mods") or token.native is None:
            detail = response["status"]["status_string"].native
            raise TimestampError(
                f"the time-stamping authority {url} refused the request: {status} {detail or ''}".strip()
            )
        info = token["content"]["encap_content_info"]["content"].parsed
        imprint = info["message_imprint"]
        digest_ok = imprint["hashed_message"].native == hashlib.sha256(data).digest()
        algorithm_ok = imprint["hash_algorithm"]["algorithm"].native == "sha256"
        if not (digest_ok and algorithm_ok and info["nonce"].native == nonce):
            raise TimestampError(f"the time-stamping authority {url} answered about another request")
        return token.dump()
    except (ValueError, TypeError, KeyError) as exc:
        raise TimestampError(
            f"the time-stamping authority {url} sent a reply that is not RFC 3161: {exc}"
        ) from None


async def request_token(url: str, data: bytes, *, timeout: float = 30.0) -> bytes:
    """Ask the TSA at ``url`` to stamp ``data``; returns the DER token."""
    nonce = secrets.randbits(63)
    request = timestamp_request(data, nonce)
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.post(url, data=request, headers={"Content-Type": "application/timestamp-query"}) as reply,
        ):
            body = await reply.read()
            if reply.status != 200:
                raise TimestampError(f"the time-stamping authority {url} answered HTTP {reply.status}")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise TimestampError(
            f"cannot reach the time-stamping authority {url}: {exc or type(exc).__name__}"
        ) from None
    return token_from_reply(body, data, nonce, url)
