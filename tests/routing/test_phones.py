"""Phone normalisation: every way a number reaches us → E.164, anything else → ""."""

import pytest

from callcenter.services.people import phones


@pytest.mark.parametrize("raw, expected", [
    # mobiles, as typed and as trunks present them
    ("13800138000", "+8613800138000"),
    ("138 0013 8000", "+8613800138000"),
    ("138-0013-8000", "+8613800138000"),
    ("+86 138 0013 8000", "+8613800138000"),
    ("+8613800138000", "+8613800138000"),
    ("008613800138000", "+8613800138000"),
    ("0086 138 0013 8000", "+8613800138000"),
    ("8613800138000", "+8613800138000"),       # leading 86 without +
    ("013800138000", "+8613800138000"),        # trunk prefix 0 before a mobile
    ("１３８００１３８０００", "+8613800138000"),  # full-width digits from a form
    ("  13800138000\t", "+8613800138000"),
    # landlines with area codes
    ("010-6552 9988", "+861065529988"),
    ("01065529988", "+861065529988"),
    ("(010) 6552-9988", "+861065529988"),
    ("1065529988", "+861065529988"),           # trunk 0 stripped by the carrier
    ("861065529988", "+861065529988"),
    ("021 1234 5678", "+862112345678"),
    ("+86 21 1234 5678", "+862112345678"),
    # abroad
    ("+1 650 253 0000", "+16502530000"),
    ("001 650 253 0000", "+16502530000"),
])
def test_numbers_normalise_to_e164(raw, expected):
    assert phones.normalize(raw) == expected


@pytest.mark.parametrize("raw", [
    None, "", "   ", "anonymous", "Anonymous", "unknown", "<unknown>", "restricted", "private",
    "12345",                      # too short to be anyone
    "65529988",                   # a local number without its area code: ambiguous
    "+", "---", "()",
    "1" * 60,                     # absurdly long
    "13800138000\nagi_extension: 4008002000",   # header injection attempt
    "'; DROP TABLE customers;--",
    "<script>alert(1)</script>",
    "13800138000<script>",
    "tel:13800138000 ext 5",
    "张三",
    "138 0013 8000 或 139 0013 9000",
    "\x00\x01\x02",
])
def test_anything_else_is_not_a_number(raw):
    assert phones.normalize(raw) == ""


def test_region_setting_reads_national_numbers_of_that_country():
    assert phones.normalize("650 253 0000", "US") == "+16502530000"
    assert phones.normalize("650 253 0000", "CN") == ""


def test_a_cell_with_several_numbers_is_split_on_every_usual_separator():
    cell = "138 0013 8000; 010-6552 9988/021 1234 5678，13900139000、13700137000,13600136000"
    assert phones.split_numbers(cell) == ["138 0013 8000", "010-6552 9988", "021 1234 5678",
                                          "13900139000", "13700137000", "13600136000"]
    assert phones.split_numbers("") == [] and phones.split_numbers(None) == []


def test_national_display():
    assert phones.national("+8613800138000") == "138 0013 8000"
    assert phones.national("+861065529988") == "010 6552 9988"
    assert phones.national("+16502530000").startswith("+1 650")
