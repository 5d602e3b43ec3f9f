"""Share links: made by a family member who may read the record, opened with a code passed on apart,
limited in time and tries, revocable, each opening audited as a read on the maker's behalf."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from helpers import create_account, created_id, post, run_db
from medcard.access import accounts
from medcard.access.gate import Gate
from medcard.access.requester import Requester
from medcard.core.errors import Forbidden, NotFound
from medcard.core.identifiers import enp_check_digit, system_uri
from medcard.core.time import today_moscow
from medcard.sharing import links

KEY = b"k" * 32
REGISTRY = Requester("system", "registry")


def _child(http: httpx.Client, years: int) -> str:
    today = today_moscow()
    head = f"{7700000000000000 + uuid.uuid4().int % 10**9:016d}"[:15]
    return created_id(post(http, "/Patient", {
        "resourceType": "Patient", "gender": "male", "birthDate": today.replace(year=today.year - years).isoformat(),
        "name": [{"family": "Орлов", "given": ["Илья"]}],
        "identifier": [{"system": system_uri("enp"), "value": head + enp_check_digit(head)}]}))


def _requester(url: str, account_id: str) -> Requester:
    async def work(conn: psycopg.AsyncConnection[Any]) -> Requester:
        account = await accounts.get(conn, account_id)
        assert account is not None
        return account.requester()

    return run_db(url, work)


def _parent(url: str, child: str) -> Requester:
    account = create_account(url, "family", f"p-{uuid.uuid4().hex[:8]}@example.ru")

    async def work(conn: psycopg.AsyncConnection[Any]) -> str:
        return await accounts.link(conn, REGISTRY, account, child, "parent", "свидетельство II-МЮ 100200")

    run_db(url, work)
    return _requester(url, account)


def _make(url: str, who: Requester, child: str, days: int = 7) -> links.Made:
    async def work(conn: psycopg.AsyncConnection[Any]) -> links.Made:
        return await links.make(conn, KEY, who, child, "extract", days, "Доктор Петрова, ортопед")

    return run_db(url, work)


def _open(url: str, secret: str, code: str, now: datetime | None = None) -> tuple[links.ShareLink, Requester]:
    async def work(conn: psycopg.AsyncConnection[Any]) -> tuple[links.ShareLink, Requester]:
        return await links.open_with(conn, KEY, secret, code, now or datetime.now(UTC))

    return run_db(url, work)


def _try(url: str, secret: str, code: str) -> Exception | None:
    """Open in a transaction of its own that commits even when the code is wrong (as the page does)."""
    async def go() -> Exception | None:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            try:
                await links.open_with(conn, KEY, secret, code, datetime.now(UTC))
            except (links.WrongCode, NotFound) as exc:
                return exc
            return None

    return asyncio.run(go())


def test_a_parent_shares_the_extract_and_the_doctor_opens_it_with_the_code(
        http: httpx.Client, database_url: str) -> None:
    child = _child(http, 6)
    parent = _parent(database_url, child)
    made = _make(database_url, parent, child)
    assert len(made.code) == 6
    assert made.code.isdigit()
    assert len(made.secret) >= 40

    with psycopg.connect(database_url) as conn:  # only hashes are kept
        stored = conn.execute("SELECT secret_hash, code_hash FROM share_link").fetchone()
    assert stored is not None
    assert made.secret.encode() not in bytes(stored[0])
    assert made.code.encode() not in bytes(stored[1])

    link, reader = _open(database_url, made.secret, f"{made.code[:3]} {made.code[3:]}")  # spaces are forgiven
    assert (link.patient_id, link.part) == (child, "extract")
    assert reader.account_id == parent.account_id
    assert reader.purpose == links.PURPOSE

    async def read(conn: psycopg.AsyncConnection[Any]) -> None:  # the page reads through the gate
        gate = Gate(conn, reader)
        await gate.check(child, "Patient", "read", entity=f"Patient/{child}")
        await gate.flush(conn)

    run_db(database_url, read)
    with psycopg.connect(database_url) as conn:
        purpose, name = conn.execute("SELECT purpose, agent_name FROM audit_event WHERE patient_id = %s "
                                     "AND account_id = %s", (child, parent.account_id)).fetchone()
    assert purpose == "PATRQT"
    assert "Доктор Петрова" in name


def test_wrong_codes_are_counted_and_stop_the_link(http: httpx.Client, database_url: str) -> None:
    child = _child(http, 4)
    made = _make(database_url, _parent(database_url, child), child)
    wrong = f"{(int(made.code) + 1) % 10**6:06d}"
    lefts = [_try(database_url, made.secret, wrong) for _ in range(links.MAX_FAILURES)]
    assert [e.left for e in lefts if isinstance(e, links.WrongCode)] == list(range(links.MAX_FAILURES - 1, -1, -1))
    assert isinstance(_try(database_url, made.secret, made.code), NotFound)  # even the right code now


def test_links_end_when_their_days_pass_or_when_revoked(http: httpx.Client, database_url: str) -> None:
    child = _child(http, 9)
    parent = _parent(database_url, child)
    made = _make(database_url, parent, child, days=3)
    with pytest.raises(NotFound):
        _open(database_url, made.secret, made.code, now=datetime.now(UTC) + timedelta(days=3, minutes=1))
    _open(database_url, made.secret, made.code, now=datetime.now(UTC) + timedelta(days=2))

    async def revoke(conn: psycopg.AsyncConnection[Any]) -> None:
        await links.revoke(conn, parent, made.link.id)

    run_db(database_url, revoke)
    with pytest.raises(NotFound):
        _open(database_url, made.secret, made.code)
    with pytest.raises(NotFound):
        _open(database_url, "not-a-secret", made.code)


def test_only_a_family_member_who_may_read_the_record_makes_or_revokes_a_link(
        http: httpx.Client, database_url: str) -> None:
    child, other = _child(http, 5), _child(http, 5)
    parent = _parent(database_url, child)
    stranger = _parent(database_url, other)
    doctor = _requester(database_url, create_account(database_url, "staff", f"dr-{uuid.uuid4().hex[:6]}",
                                                     roles=[("city-admin", "")]))
    with pytest.raises(NotFound):
        _make(database_url, stranger, child)
    with pytest.raises(Forbidden):
        _make(database_url, doctor, child)
    with pytest.raises(ValueError, match="1 to 30 days"):
        _make(database_url, parent, child, days=90)
    made = _make(database_url, parent, child)

    async def revoke(conn: psycopg.AsyncConnection[Any]) -> None:
        await links.revoke(conn, stranger, made.link.id)

    with pytest.raises(NotFound):
        run_db(database_url, revoke)


def test_a_link_shows_nothing_once_its_maker_may_no_longer_read_the_record(
        http: httpx.Client, database_url: str) -> None:
    child = _child(http, 10)
    parent = _parent(database_url, child)
    made = _make(database_url, parent, child)
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE representation SET status = 'revoked' WHERE account_id = %s", (parent.account_id,))
    _, reader = _open(database_url, made.secret, made.code)

    async def read(conn: psycopg.AsyncConnection[Any]) -> None:
        await Gate(conn, reader).check(child, "Patient", "read", entity=f"Patient/{child}")

    with pytest.raises(NotFound):
        run_db(database_url, read)
