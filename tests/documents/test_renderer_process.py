"""The PDF renderer: WeasyPrint lays documents out in a process of its own, at a lower CPU priority, and a
renderer that dies is replaced instead of failing every later document."""

from __future__ import annotations

import asyncio
import os
import signal

from medcard.documents import render

MARKUP = "<html><head><title>Справка</title></head><body><p>Иванов Иван — № 1 «проба» ± µ °</p></body></html>"


def _renderer_pids() -> list[int]:
    pool = render._renderer
    assert pool is not None
    return list(pool._processes)  # the pool's live processes


def test_a_document_is_laid_out_in_another_process_at_lower_priority() -> None:
    data = asyncio.run(render.to_pdf(MARKUP))
    assert data.startswith(b"%PDF-")
    pids = _renderer_pids()
    assert pids
    assert os.getpid() not in pids
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    assert all(os.getpriority(os.PRIO_PROCESS, pid) == min(19, mine + render.RENDER_NICE) for pid in pids)


def test_a_renderer_that_died_is_replaced() -> None:
    asyncio.run(render.to_pdf(MARKUP))
    [pid] = _renderer_pids()
    os.kill(pid, signal.SIGKILL)
    data = asyncio.run(render.to_pdf(MARKUP))
    assert data.startswith(b"%PDF-")
    assert pid not in _renderer_pids()
