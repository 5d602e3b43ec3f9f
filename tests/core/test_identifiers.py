"""Russian patient identifiers: the rules of domain.md §4 and the naming systems file."""

from __future__ import annotations

import json
import random
from importlib import resources

import pytest

from medcard.core import identifiers
from medcard.core.identifiers import (
    BirthCertificate,
    check_identifier,
    enp_check_digit,
    format_birth_certificate,
    format_snils,
    is_valid_birth_certificate,
    is_valid_enp,
    is_valid_snils,
    is_valid_temporary_certificate,
    luhn_check_digit,
    naming_systems,
    normalize_snils,
    parse_birth_certificate,
    read_naming_systems,
    snils_check_digits,
    system_uri,
)

SNILS = "urn:oid:1.2.643.2.69.1.1.1.6.223"
ENP = "urn:oid:1.2.643.2.69.1.1.1.6.228"
OMS_OLD = "urn:oid:1.2.643.2.69.1.1.1.6.226"
OMS_TEMPORARY = "urn:oid:1.2.643.2.69.1.1.1.6.227"
BIRTH_CERTIFICATE = "urn:medcard:naming-system:birth-certificate"
LAST_UNCHECKED_SNILS = 1_001_998


def _random_digits(rng: random.Random, length: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(length))


def _random_checked_snils_body(rng: random.Random) -> str:
    return f"{rng.randint(LAST_UNCHECKED_SNILS + 1, 999_999_999):09d}"


def _snils_sum(body: str) -> int:
    return sum(int(d) * w for d, w in zip(body, range(9, 0, -1), strict=True))


# --- SNILS -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["11223344595", "112-233-445 95", "112 233 445 95", "112-233-445-95"])
def test_official_snils_example_is_valid_in_every_accepted_layout(value: str) -> None:
    assert is_valid_snils(value)
    assert normalize_snils(value) == "11223344595"


@pytest.mark.parametrize(
    ("body", "check"),
    [
        ("112233445", "95"),  # official example: sum 95
        ("123456789", "64"),  # sum 165, 165 mod 101 = 64
        ("999999999", "01"),  # sum 405, 405 mod 101 = 1
    ],
)
def test_snils_check_digits_of_the_domain_examples(body: str, check: str) -> None:
    assert snils_check_digits(body) == check
    assert is_valid_snils(body + check)


@pytest.mark.parametrize(
    ("body", "total", "check"),
    [
        ("920000010", 99, "99"),  # below 100: the sum itself
        ("920000100", 100, "00"),  # 100 and 101: 00
        ("920000101", 101, "00"),
        ("920000102", 102, "01"),  # above 101: the remainder mod 101
        ("996000200", 201, "00"),  # remainder 100 gives 00
        ("996000201", 202, "00"),  # remainder 0
        ("999999997", 403, "00"),  # remainder 100 again
        ("001001999", 65, "65"),  # the first number that is checked
    ],
)
def test_snils_check_digit_rules_at_their_edges(body: str, total: int, check: str) -> None:
    assert _snils_sum(body) == total  # the example really is the edge it claims to be
    assert snils_check_digits(body) == check


def test_snils_check_number_is_sum_mod_101_mod_100() -> None:
    # The three cases of the rule collapse to one formula: a cross-check of every possible sum.
    for total in range(406):
        assert identifiers._snils_check_number(total) == total % 101 % 100


@pytest.mark.parametrize("value", ["001-001-998 00", "001-001-998 37", "000-000-001 99", "00000000000"])
def test_snils_up_to_001_001_998_is_not_checked(value: str) -> None:
    assert is_valid_snils(value)
    assert check_identifier(SNILS, value) is None


def test_snils_after_001_001_998_is_checked() -> None:
    assert is_valid_snils("001-001-999 65")
    assert not is_valid_snils("001-001-999 00")


@pytest.mark.parametrize("body", ["001001998", "000000000"])
def test_snils_check_digits_refuse_numbers_that_have_none(body: str) -> None:
    with pytest.raises(ValueError, match="001-001-998"):
        snils_check_digits(body)


@pytest.mark.parametrize("body", ["12345678", "1234567890", "12345678a", "１２３４５６７８９", "12345678\n", ""])
def test_snils_check_digits_need_nine_ascii_digits(body: str) -> None:
    with pytest.raises(ValueError, match="9 digits"):
        snils_check_digits(body)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1122334459", "a SNILS has 11 digits, this has 10"),
        ("112233445950", "a SNILS has 11 digits, this has 12"),
        ("", "a SNILS has 11 digits, this has 0"),
        ("112-233-445 9A", "not 'A'"),
        ("112.233.445 95", "not '.'"),
        ("112-233-445\u00a095", r"not '\xa0'"),  # a no-break space is not a space
        ("112–233–445 95", "not '–'"),  # en dash
        ("112-233-445 9٥", "not '٥'"),  # an Arabic-Indic digit
        ("112-233-445 95\n", r"not '\n'"),
        (" 11223344595", "no spaces are allowed before or after it"),
        ("11223344595 ", "no spaces are allowed before or after it"),
        ("112-233-44595", "write it as XXX-XXX-XXX YY"),
        ("112 233-445 95", "write it as XXX-XXX-XXX YY"),  # mixed separators
        ("112--233-445 95", "write it as XXX-XXX-XXX YY"),
        ("112-233-445  95", "write it as XXX-XXX-XXX YY"),
        ("1122-33-445 95", "write it as XXX-XXX-XXX YY"),
        ("112 233 445-95", "write it as XXX-XXX-XXX YY"),
    ],
)
def test_badly_written_snils_is_rejected_with_the_reason(value: str, reason: str) -> None:
    assert not is_valid_snils(value)
    problem = check_identifier(SNILS, value)
    assert problem is not None
    assert problem.startswith(f"SNILS {value!r}: ")
    assert reason in problem
    with pytest.raises(ValueError, match="SNILS"):
        normalize_snils(value)


def test_wrong_snils_check_digits_name_the_right_ones() -> None:
    assert check_identifier(SNILS, "112-233-445 96") == "SNILS 112-233-445 96: the check digits should be 95"
    assert check_identifier(SNILS, "12345678900") == "SNILS 123-456-789 00: the check digits should be 64"


def test_snils_formats_as_groups_and_round_trips() -> None:
    assert format_snils("11223344595") == "112-233-445 95"
    for value in ["112 233 445 95", "11223344595", "112-233-445-95"]:
        assert format_snils(normalize_snils(value)) == "112-233-445 95"


@pytest.mark.parametrize("digits", ["112-233-445 95", "1122334459", "1122334459a", ""])
def test_format_snils_takes_only_eleven_digits(digits: str) -> None:
    with pytest.raises(ValueError, match="11 digits"):
        format_snils(digits)


def test_generated_snils_check_digits_validate() -> None:
    rng = random.Random(223)
    for _ in range(2000):
        body = _random_checked_snils_body(rng)
        check = snils_check_digits(body)
        assert is_valid_snils(body + check)
        assert is_valid_snils(format_snils(body + check))


def _snils_change_may_pass(old: str, new: str) -> bool:
    """Whether the SNILS algorithm lets a single-digit change of the 11 digits through.

    The weights are 1..9 and digits change by at most 9, so a change of the body moves the
    sum by 1..81, never a multiple of 101: the remainder mod 101 always changes. Only
    folding remainder 100 onto 00 can hide it: the last body digit (weight 1) moving by one
    between sums whose remainders are 100 and 0 (100/101, 201/202, 302/303, 403/404). And a
    change that lands at or below 001-001-998 is not checked at all. A change of the check
    digits is always caught: they are a function of the body.
    """
    if int(new[:9]) <= LAST_UNCHECKED_SNILS:
        return True
    if old[:8] != new[:8] or old[9:] != new[9:] or abs(int(old[8]) - int(new[8])) != 1:
        return False
    return {_snils_sum(old[:9]) % 101, _snils_sum(new[:9]) % 101} == {0, 100}


def _single_digit_changes(value: str) -> list[str]:
    return [value[:i] + d + value[i + 1 :] for i in range(len(value)) for d in "0123456789" if d != value[i]]


def test_single_digit_snils_errors_are_caught_exactly_as_the_algorithm_guarantees() -> None:
    rng = random.Random(6223)
    for _ in range(300):
        body = _random_checked_snils_body(rng)
        valid = body + snils_check_digits(body)
        for changed in _single_digit_changes(valid):
            assert is_valid_snils(changed) == _snils_change_may_pass(valid, changed), (valid, changed)


@pytest.mark.parametrize(
    ("valid", "changed"),
    [
        ("92000010000", "92000010100"),  # sums 100 and 101: both 00
        ("99600020000", "99600020100"),  # sums 201 and 202: remainders 100 and 0
        ("99999999700", "99999999800"),  # sums 403 and 404
        ("00100199965", "00100189965"),  # lands below 001-001-998: not checked
    ],
)
def test_single_digit_snils_errors_the_algorithm_cannot_catch(valid: str, changed: str) -> None:
    # The documented blind spots are real: both numbers validate.
    assert is_valid_snils(valid)
    assert is_valid_snils(changed)
    assert _snils_change_may_pass(valid, changed)


# --- ENP and the other OMS numbers ---------------------------------------------------------------


def _hl7_mod10(body: str) -> str:
    """ISO/HL7 27931 Mod10 as domain.md §4.2 words it, an oracle independent of Luhn."""
    odd = body[::-1][0::2][::-1]  # positions 1, 3, 5... from the right, in their order
    even = body[::-1][1::2][::-1]
    digits = even + str(int(odd) * 2)
    total = sum(int(d) for d in digits)
    return str(-total % 10)


@pytest.mark.parametrize(("body", "check"), [("12345", "5"), ("401", "0"), ("9999", "4"), ("99999999", "8")])
def test_hl7_mod10_examples(body: str, check: str) -> None:
    assert luhn_check_digit(body) == check
    assert _hl7_mod10(body) == check
    # Leading zeros change neither sum, so the examples hold for a 15-digit ENP body too.
    assert enp_check_digit(body.zfill(15)) == check


def test_luhn_equals_hl7_mod10_on_random_bodies() -> None:
    rng = random.Random(27931)
    for _ in range(5000):
        body = _random_digits(rng, 15)
        assert luhn_check_digit(body) == _hl7_mod10(body), body


def test_enp_example_is_valid() -> None:
    assert enp_check_digit("770000000000001") == "6"
    assert is_valid_enp("7700000000000016")
    assert check_identifier(ENP, "7700000000000016") is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("7700000000000017", "ENP 7700000000000017: the check digit should be 6"),
        ("770000000000001", "ENP '770000000000001': an ENP has 16 digits, this has 15"),
        ("77000000000000160", "ENP '77000000000000160': an ENP has 16 digits, this has 17"),
        ("", "ENP '': an ENP has 16 digits, this has 0"),
        ("770000000000001A", "ENP '770000000000001A': only the digits 0-9 are allowed, not 'A'"),
        ("7700 0000 0000 0016", "ENP '7700 0000 0000 0016': only the digits 0-9 are allowed, not ' '"),
        ("770000000000001٦", "ENP '770000000000001٦': only the digits 0-9 are allowed, not '٦'"),
    ],
)
def test_invalid_enp_is_rejected_with_the_reason(value: str, problem: str) -> None:
    assert not is_valid_enp(value)
    assert check_identifier(ENP, value) == problem


@pytest.mark.parametrize("body", ["77000000000000", "7700000000000016", "77000000000000a"])
def test_enp_check_digit_needs_fifteen_digits(body: str) -> None:
    with pytest.raises(ValueError, match="15 digits"):
        enp_check_digit(body)


def test_every_single_digit_enp_error_is_caught() -> None:
    rng = random.Random(16)
    for _ in range(300):
        body = _random_digits(rng, 15)
        valid = body + enp_check_digit(body)
        assert is_valid_enp(valid)
        for changed in _single_digit_changes(valid):
            assert not is_valid_enp(changed), (valid, changed)


def test_adjacent_enp_transpositions_are_caught_except_09_and_90() -> None:
    # Luhn's known blind spot; documented here so nobody relies on more than it gives.
    rng = random.Random(1609)
    for _ in range(300):
        body = _random_digits(rng, 15)
        valid = body + enp_check_digit(body)
        for i in range(15):
            a, b = valid[i], valid[i + 1]
            if a == b:
                continue
            swapped = valid[:i] + b + a + valid[i + 2 :]
            assert is_valid_enp(swapped) == ({a, b} == {"0", "9"}), (valid, swapped)


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("123456789", True),
        ("000000001", True),
        ("12345678", False),
        ("1234567890", False),
        ("12345678a", False),
        ("123 456 789", False),
        ("", False),
    ],
)
def test_temporary_certificate_is_nine_digits(value: str, valid: bool) -> None:
    assert is_valid_temporary_certificate(value) is valid
    assert (check_identifier(OMS_TEMPORARY, value) is None) is valid


def test_temporary_certificate_reason() -> None:
    assert check_identifier(OMS_TEMPORARY, "12345678") == (
        "temporary OMS certificate '12345678': a temporary certificate number has 9 digits, this has 8"
    )


def test_old_style_policy_is_not_checked() -> None:
    # Its format is unknown (domain.md §4.2): anything goes rather than guessing a rule.
    assert naming_systems()[OMS_OLD].validator is None
    assert check_identifier(OMS_OLD, "ЯЯ 1234 whatever") is None


# --- Birth certificate ---------------------------------------------------------------------------


@pytest.mark.parametrize(("series", "number"), [("IV-АИ", "123456"), ("XXI-ОВ", "000001"), ("I-ЁЖ", "999999")])
def test_valid_birth_certificates(series: str, number: str) -> None:
    assert is_valid_birth_certificate(series, number)
    value = format_birth_certificate(series, number)
    assert value == f"{series} {number}"
    assert parse_birth_certificate(value) == BirthCertificate(series, number)
    assert check_identifier(BIRTH_CERTIFICATE, value) is None


@pytest.mark.parametrize(
    ("series", "number", "reason"),
    [
        ("ІV-АИ", "123456", "Cyrillic letters in its Roman numeral"),  # Cyrillic І
        ("ХХI-ОВ", "123456", "Cyrillic letters in its Roman numeral"),  # Cyrillic Х
        ("IV-AИ", "123456", "Latin letters after the hyphen"),  # Latin A
        ("IV-аи", "123456", "two capital Cyrillic letters"),
        ("IVАИ", "123456", "a Roman numeral, a hyphen"),
        ("IV-АИК", "123456", "two capital Cyrillic letters"),
        ("-АИ", "123456", "a Roman numeral, a hyphen"),
        ("IV-АИ", "12345", "the number has 6 digits, this has 5"),
        ("IV-АИ", "1234567", "the number has 6 digits, this has 7"),
        ("IV-АИ", "12345A", "only the digits 0-9 are allowed, not 'A'"),
    ],
)
def test_invalid_birth_certificates_say_why(series: str, number: str, reason: str) -> None:
    assert not is_valid_birth_certificate(series, number)
    problem = check_identifier(BIRTH_CERTIFICATE, f"{series} {number}")
    assert problem is not None
    assert problem.startswith(f"birth certificate '{series} {number}': ")
    assert reason in problem
    with pytest.raises(ValueError, match="birth certificate"):
        format_birth_certificate(series, number)


@pytest.mark.parametrize("value", ["IV-АИ123456", "IV-АИ  123456", "IV-АИ № 123456", " IV-АИ 123456", "IV-АИ"])
def test_birth_certificate_value_is_series_one_space_number(value: str) -> None:
    with pytest.raises(ValueError, match="one space"):
        parse_birth_certificate(value)
    assert check_identifier(BIRTH_CERTIFICATE, value) is not None


def test_birth_certificate_value_property_is_the_identifier_value() -> None:
    assert BirthCertificate("IV-АИ", "123456").value == "IV-АИ 123456"


# --- Naming systems and check_identifier ---------------------------------------------------------


def test_naming_systems_use_the_domain_uris() -> None:
    assert system_uri("snils") == SNILS
    assert system_uri("enp") == ENP
    assert system_uri("oms-old") == OMS_OLD
    assert system_uri("oms-temporary") == OMS_TEMPORARY
    assert system_uri("birth-certificate") == BIRTH_CERTIFICATE
    assert set(naming_systems()) == {SNILS, ENP, OMS_OLD, OMS_TEMPORARY, BIRTH_CERTIFICATE}


def test_unknown_key_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="snils"):
        system_uri("passport")


def test_every_validator_in_the_file_is_a_function_of_the_module() -> None:
    for naming in naming_systems().values():
        if naming.validator is None:
            continue
        function = getattr(identifiers, naming.validator, None)
        assert callable(function), naming.validator
        # check_identifier dispatches to exactly that function.
        assert check_identifier(naming.system, "x") == function("x")
        assert check_identifier(naming.system, "x") is not None


def test_every_source_quotes_its_status() -> None:
    raw = json.loads(resources.files("medcard.core").joinpath("naming_systems.json").read_text(encoding="utf-8"))
    assert "UNVERIFIED" in raw["note"]
    assert "configurable" in raw["note"].lower()
    for naming in naming_systems().values():
        assert any(marker in naming.source for marker in ("[V]", "[V-2", "[UNVERIFIED]")), naming.key
    assert "medcard's own" in naming_systems()[BIRTH_CERTIFICATE].source
    assert "[UNVERIFIED]" in naming_systems()[BIRTH_CERTIFICATE].source


def test_unknown_system_is_not_checked() -> None:
    assert check_identifier("http://example.org/mrn", "anything at all") is None
    assert check_identifier("", "") is None


def test_naming_systems_is_a_copy() -> None:
    systems = naming_systems()
    systems.clear()
    assert SNILS in naming_systems()
    assert check_identifier(SNILS, "112-233-445 96") is not None


def test_long_values_are_cut_in_reasons() -> None:
    problem = check_identifier(ENP, "9" * 10_000)
    assert problem is not None
    assert len(problem) < 120
    assert problem.endswith("an ENP has 16 digits, this has 10000")


def _document(*entries: dict[str, object]) -> str:
    return json.dumps({"source": "test", "systems": list(entries)})


def _entry(**changes: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "key": "snils",
        "system": SNILS,
        "name": "СНИЛС",
        "validator": "snils_problem",
        "source": "[V]",
    }
    entry.update(changes)
    return entry


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_document(_entry(validator="system")), "unknown validator 'system'"),
        (_document(_entry(), _entry(key="other")), "appears twice"),
        (_document(_entry(), _entry(system="urn:other")), "appears twice"),
        (_document(_entry(extra=1)), "exactly the fields"),
        (_document({"key": "snils"}), "exactly the fields"),
        (_document(_entry(system="")), "non-empty strings"),
        (json.dumps([]), "'systems' list"),
    ],
)
def test_a_broken_naming_systems_file_is_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_naming_systems(text)


def test_a_good_naming_systems_document_reads() -> None:
    systems = read_naming_systems(_document(_entry(), _entry(key="x", system="urn:x", validator=None)))
    assert systems[SNILS].validator == "snils_problem"
    assert systems["urn:x"].validator is None
