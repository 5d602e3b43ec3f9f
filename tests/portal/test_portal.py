"""The family portal over HTTP: the children's cards, a child's record in plain Russian, the documents
with their PDFs and the ZIP of all of them, another child's pages as 404s, the teenager's own record,
the audit of every opening, and the manifest."""

from __future__ import annotations

import io
import re
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from datetime import date

import httpx
import psycopg
import pytest

from conftest import ServerThread
from helpers import post
from medcard.config import Settings
from medcard.portal import kept
from portal_family import PASSWORD, Family, hidden_fields, make_family

SignIn = Callable[[str], httpx.Client]


@pytest.fixture
def family(http: httpx.Client, database_url: str, fixed_today: date) -> Family:
    return make_family(http, database_url, fixed_today)


@pytest.fixture(scope="module")
def site(database_url: str, settings: Settings) -> Iterator[ServerThread]:
    """A server whose session cookies work over plain HTTP (httpx keeps no Secure cookie for http://)."""
    with ServerThread(database_url, settings.model_copy(update={"secure_cookies": False})) as srv:
        yield srv


@pytest.fixture
def sign_in(site: ServerThread) -> Iterator[SignIn]:
    clients: list[httpx.Client] = []

    def sign(username: str) -> httpx.Client:
        client = httpx.Client(base_url=f"http://127.0.0.1:{site.port}", timeout=60)
        form = client.get("/auth/login")
        done = client.post("/auth/login", data={**hidden_fields(form.text), "username": username,
                                                "password": PASSWORD})
        assert done.status_code == 303, done.text
        clients.append(client)
        return client

    yield sign
    for c in clients:
        c.close()


def test_the_parent_sees_both_children_with_what_needs_attention(family: Family, sign_in: SignIn) -> None:
    parent = sign_in(family.parent)
    home = parent.get("/my/")
    assert home.status_code == 200
    assert home.headers["cache-control"] == "no-store"
    assert "Соколова Вера" in home.text
    assert "Соколов Иван" in home.text
    assert "Чужой" not in home.text
    assert f'/my/children/{family.toddler}"' in home.text
    assert f'/my/children/{family.teen}"' in home.text
    assert "Новые результаты анализов: 1" in home.text  # the blood count of this month
    assert "Новые документы: 1" in home.text
    assert "Прививка" in home.text  # the next vaccination of the calendar, with its date
    assert '<link rel="manifest" href="/manifest.webmanifest">' in home.text


def test_the_record_reads_in_plain_russian(family: Family, sign_in: SignIn) -> None:
    page = sign_in(family.parent).get(f"/my/children/{family.toddler}")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    text = page.text
    assert "Соколова Вера" in text
    assert "Казакова Татьяна" in text  # doctor and specialty of the visit
    assert "Врач-педиатр участковый" in text
    assert "Острая инфекция верхних дыхательных путей" in text  # the visit's conclusion
    assert "Врач-оториноларинголог" in text  # the consultation
    assert "Орлов Пётр" in text
    assert "выше нормы" in text  # the high white count: a word and its range
    assert "норма: 5–12 ×10⁹/л" in text
    assert "Значение выше обычного для возраста" in text  # what the flag means
    assert "в норме" in text
    assert "норма: 110–140 г/л" in text
    assert "Вирусный гепатит B" in text  # vaccinations: one row per disease
    assert "центиль: больше, чем у" in text  # growth: the centiles in words, the charts one tap away
    growth = sign_in(family.parent).get(f"/my/children/{family.toddler}/growth")
    assert growth.text.count("<svg") == 2
    assert "Масса тела к возрасту" in growth.text
    results = sign_in(family.parent).get(f"/my/children/{family.toddler}/results")
    assert "Лейкоциты" in results.text
    assert "выше нормы" in results.text
    assert page.headers["content-encoding"] == "gzip"  # a phone gets the record compressed
    assert "Гипертрофия аденоидов" in text  # the active problem
    assert "Амоксициллин" in text  # the allergy
    assert "Справка в детский сад" in text


def test_the_record_in_english_translates_the_sentences_and_keeps_the_records_words(family: Family,
                                                                                   sign_in: SignIn) -> None:
    """The sentences the portal makes (attention, flags, centiles, dates) follow the reader's language; what the
    record itself says (a diagnosis, a disease's name) stays as the clinic wrote it."""
    parent = sign_in(family.parent)
    home = parent.get("/my/?lang=en").text
    assert "New test results: 1" in home
    assert "New documents: 1" in home
    assert "Новые результаты" not in home
    assert "Ближайшее" not in home
    assert re.search(r"Vaccination: [^<]+ — \d{1,2} (January|February|March|April|May|June|July|August|September|"
                     r"October|November|December) \d{4}", home)
    text = parent.get(f"/my/children/{family.toddler}").text
    assert "above normal" in text
    assert "above the usual for this age" in text
    assert "Значение выше обычного" not in text
    assert "центиль: больше" not in text
    assert "of 100 children of the same age and sex" in text
    assert "Острая инфекция верхних дыхательных путей" in text  # the record's own words
    assert "Масса тела к возрасту" not in parent.get(f"/my/children/{family.toddler}/growth").text


def test_another_childs_pages_are_the_same_404_as_a_missing_child(family: Family, sign_in: SignIn) -> None:
    parent = sign_in(family.parent)
    for path in ("", "/documents", "/results", "/growth", "/documents/all", f"/documents/{family.document}/pdf"):
        other = parent.get(f"/my/children/{family.other}{path}")
        missing = parent.get(f"/my/children/no-such-child{path}")
        assert other.status_code == missing.status_code == 404, path
        assert other.text.replace(family.other, "X") == missing.text.replace("no-such-child", "X"), path
    # the toddler's document through the teenager's address is no document either
    assert parent.get(f"/my/children/{family.teen}/documents/{family.document}/pdf").status_code == 404


def test_documents_filter_and_download_as_pdf_and_zip(family: Family, sign_in: SignIn) -> None:
    parent = sign_in(family.parent)
    listing = parent.get(f"/my/children/{family.toddler}/documents")
    assert "Справка в детский сад" in listing.text
    assert "Скачать PDF" in listing.text
    assert "Детская поликлиника № 7" in listing.text  # the issuer
    assert "Справка в детский сад" not in parent.get(
        f"/my/children/{family.toddler}/documents", params={"year": "1999"}).text
    assert "Справка в детский сад" in parent.get(
        f"/my/children/{family.toddler}/documents", params={"kind": "Медицинская справка"}).text
    pdf = parent.get(f"/my/children/{family.toddler}/documents/{family.document}/pdf")
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert pdf.headers["cache-control"] == "no-store"
    assert "attachment" in pdf.headers["content-disposition"]
    assert "Соколова Вера" in pdftotext(pdf.content)
    archive = parent.get(f"/my/children/{family.toddler}/documents/all")
    assert archive.status_code == 200
    with zipfile.ZipFile(io.BytesIO(archive.content)) as z:
        pdfs = [n for n in z.namelist() if n.startswith("documents/") and n.endswith(".pdf")]
        assert pdfs
        for name in pdfs:
            assert "Соколова Вера" in pdftotext(z.read(name)), name


def test_the_teenager_sees_their_own_record_only(family: Family, sign_in: SignIn) -> None:
    teen = sign_in(family.teen_login)
    home = teen.get("/my/")
    assert "Моя медкарта" in home.text
    assert "Соколов Иван" in home.text
    assert "это вы" in home.text
    assert "Соколова Вера" not in home.text
    assert teen.get(f"/my/children/{family.teen}").status_code == 200
    assert teen.get(f"/my/children/{family.toddler}").status_code == 404


def test_opening_a_record_is_an_audited_read(family: Family, sign_in: SignIn, database_url: str) -> None:
    sign_in(family.parent).get(f"/my/children/{family.toddler}")
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT subtype, outcome, agent_role FROM audit_event "
                            "WHERE patient_id = %s AND entity = %s",
                            (family.toddler, f"Patient/{family.toddler}")).fetchall()
    assert ("read", "0", "family") in [tuple(r) for r in rows], rows


def test_the_manifest_and_icons(site: ServerThread) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{site.port}") as anonymous:
        manifest = anonymous.get("/manifest.webmanifest").json()
        assert manifest["name"] == "Медкарта ребёнка"
        assert manifest["start_url"] == "/my/"
        for icon in manifest["icons"]:
            got = anonymous.get(icon["src"])
            assert got.status_code == 200
            assert got.headers["content-type"] == icon["type"]


def pdftotext(data: bytes) -> str:
    return subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, check=True).stdout.decode()


def _reports_total(text: str) -> int:
    found = re.search(r"Все анализы \((\d+)\)", text)
    assert found, "the record names how many laboratory reports there are"
    return int(found.group(1))


def test_a_kept_view_serves_an_unchanged_record_and_gives_way_to_a_change(family: Family, sign_in: SignIn,
                                                                            http: httpx.Client,
                                                                            fixed_today: date) -> None:
    parent = sign_in(family.parent)
    kept.views.clear()
    before = parent.get(f"/my/children/{family.toddler}").text
    assert kept.views.misses >= 1
    hits = kept.views.hits
    assert _reports_total(parent.get(f"/my/children/{family.toddler}").text) == _reports_total(before)
    assert kept.views.hits == hits + 1  # the second opening worked nothing out again
    made = post(http, "/DiagnosticReport", {
        "resourceType": "DiagnosticReport", "status": "final", "subject": {"reference": f"Patient/{family.toddler}"},
        "code": {"text": "Биохимический анализ крови"}, "effectiveDateTime": fixed_today.isoformat(),
        "issued": f"{fixed_today.isoformat()}T12:00:00+03:00"})
    assert made.status_code == 201, made.text
    after = parent.get(f"/my/children/{family.toddler}").text
    assert _reports_total(after) == _reports_total(before) + 1  # a write to the record is a new version


def test_kept_views_of_one_record_follow_each_readers_view(family: Family, sign_in: SignIn,
                                                            http: httpx.Client, fixed_today: date) -> None:
    """The parent of a 15-year-old reads the addiction matters of the record; the teenager's own view leaves them
    out until 16. Whoever opens the record first, the other never gets the view kept for them."""
    made = post(http, "/Condition", {
        "resourceType": "Condition", "subject": {"reference": f"Patient/{family.teen}"},
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                       "code": "active"}]},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "F12.1"}],
                 "text": "Пагубное употребление каннабиноидов"},
        "onsetDateTime": fixed_today.isoformat()})
    assert made.status_code == 201, made.text
    parent, teen = sign_in(family.parent), sign_in(family.teen_login)
    for first, second in ((parent, teen), (teen, parent)):
        kept.views.clear()
        seen = {who: who.get(f"/my/children/{family.teen}").text for who in (first, second)}
        assert "Пагубное употребление каннабиноидов" in seen[parent]
        assert "Пагубное употребление каннабиноидов" not in seen[teen]
        assert "Соколов Иван" in seen[teen]
