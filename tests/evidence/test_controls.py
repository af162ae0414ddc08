"""The shipped control catalogue: the frameworks auditors ask about, each control with
what a drill run gives evidence for, and, for DORA and NIST SP 800-53, the words of the
requirement itself, so that an auditor can check the mapping without another document."""

from __future__ import annotations

import pytest

from drillkit.evidence.controls import load_catalogue

QUOTED = {
    "DORA-11.6": "Art. 11(6)",
    "DORA-12.2": "Art. 12(2)",
    "DORA-12.3": "Art. 12(3)",
    "DORA-24.5": "Art. 24(5)",
    "DORA-25.1": "Art. 25(1)",
    "NIST-CP-4": "CP-4",
    "NIST-CP-9.1": "CP-9(1)",
    "NIST-CP-9.2": "CP-9(2)",
    "NIST-CP-10": "CP-10",
}


@pytest.mark.parametrize(("control_id", "reference"), QUOTED.items())
def test_dora_and_nist_controls_quote_their_requirement(control_id: str, reference: str) -> None:
    control = load_catalogue().find(control_id)

    assert control is not None, f"{control_id} is not in the shipped catalogue"
    assert control.reference == reference
    assert control.requirement.count('"') >= 2, "the requirement is quoted, not paraphrased"
    assert control.evidence


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("CP-9(2)", "NIST-CP-9.2"),
        ("nist cp-10", "NIST-CP-10"),
        ("DORA Art. 12(3)", "DORA-12.3"),
        ("DORA 11(6)", "DORA-11.6"),
        ("SOC2 A1.3", "SOC2-A1.3"),
    ],
)
def test_drill_files_may_name_a_control_as_auditors_write_it(written: str, meant: str) -> None:
    assert load_catalogue().canonical_id(written) == meant


def test_the_segregation_requirement_is_quoted_word_for_word() -> None:
    control = load_catalogue().find("DORA-12.3")

    assert control is not None
    assert "physically and logically segregated from the source ICT system" in (
        " ".join(control.requirement.split())
    )
