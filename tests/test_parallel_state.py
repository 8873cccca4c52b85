"""Parallel processes (Appendix 3) on their own: each suggestion rule at its boundaries, the
facts Doc 1 gives, every refusal naming its field, and an LCSPR delay naming its cause."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from domain.case import CaseState, InvalidRecord
from domain.decisions import DecisionMessage
from domain.parallel import (
    CaseFacts,
    ParallelReviews,
    ProcessKind,
    Suggestion,
    parse_facts,
    parse_process,
    suggest,
    victim_age,
)
from domain.procedure import CURRENT_PROCEDURE
from tests.factories import CHILD_REFERENCE, notification
from tests.test_local_review_state import invalid, record, start, to_publication

K = ProcessKind
RECEIVED = datetime(2026, 11, 20, 10, tzinfo=UTC)
INCIDENT = date(2026, 11, 18)


def case(harm: str = "serious_harm", born: date | None = date(2019, 3, 4),
         children: int = 1) -> CaseState:
    kids = [{"reference": f"{CHILD_REFERENCE}-{n}", "date_of_birth": born}
            for n in range(children)]
    return CaseState.open_case("CSPR-2026-PAR1", CURRENT_PROCEDURE, notification(
        RECEIVED, incident={"date": INCIDENT, "harm": harm, "abuse_or_neglect": "suspected"},
        children=kids))


def born_aged(years: int, on: date = INCIDENT) -> date:
    """A date of birth that makes a child exactly `years` old on `on` (a birthday that day)."""
    return on.replace(year=on.year - years)


def facts(**fields: Any) -> CaseFacts:
    return parse_facts(DecisionMessage(record=fields)).record


def suggested(c: CaseState | None = None, **fields: Any) -> dict[ProcessKind, Suggestion]:
    return {s.kind: s for s in suggest(facts(**fields), c or case())}


def record_facts(fields: dict[str, Any]) -> None:
    """Parse and record, as the workflow does."""
    ParallelReviews().record_facts(parse_facts(DecisionMessage(record=fields)).record, RECEIVED)


def refusal(**fields: Any) -> tuple[str, str]:
    with pytest.raises(InvalidRecord) as e:
        record_facts(fields)
    return e.value.field, e.value.reason


def test_nothing_known_suggests_nothing() -> None:
    assert suggest(CaseFacts(), case()) == []
    assert suggest(CaseFacts(), case("death")) == []  # a child of 7: no DHR, no YJB caseload


# -- DHR: a person aged 16 or over killed by a relative, partner or household member -------

@pytest.mark.parametrize(("age", "expected"), [(15, False), (16, True), (17, True), (40, True)])
def test_dhr_from_the_age_at_death(age: int, expected: bool) -> None:
    found = suggested(victim_died=True, victim_age_at_death=age,
                      perpetrator_relationship="household_member")
    assert (K.DHR in found) is expected
    if expected:
        dhr = found[K.DHR]
        assert not dhr.mandatory  # the CSP chair decides
        assert "aged 16 or over" in dhr.reason
        assert "s9(3)" in dhr.reason
        assert ("under 18" in dhr.reason) is (age < 18)
        # The rule, not the age: every age in the band gives the same sentence.
        band = suggested(victim_died=True, victim_age_at_death=17 if age < 18 else 99,
                         perpetrator_relationship="household_member")
        assert dhr.reason == band[K.DHR].reason


@pytest.mark.parametrize(("relationship", "expected"), [
    ("relative", True), ("intimate_partner", True), ("household_member", True),
    ("other", False), ("unknown", False), (None, False)])
def test_dhr_needs_a_domestic_relationship(relationship: str | None, expected: bool) -> None:
    found = suggested(victim_died=True, victim_age_at_death=30,
                      perpetrator_relationship=relationship)
    assert (K.DHR in found) is expected


def test_dhr_needs_a_death() -> None:
    assert K.DHR not in suggested(victim_died=False, perpetrator_relationship="relative")
    assert K.DHR not in suggested(victim_age_at_death=30, perpetrator_relationship="relative")


@pytest.mark.parametrize(("years", "expected"), [(15, False), (16, True)])
def test_dhr_from_doc_1_a_notified_death_and_the_childs_date_of_birth(
    years: int, expected: bool
) -> None:
    dead = case("death", born_aged(years))
    assert victim_age(CaseFacts(), dead) == years
    assert (K.DHR in suggested(dead, perpetrator_relationship="relative")) is expected


def test_the_age_on_the_day_before_the_16th_birthday_is_15() -> None:
    dead = case("death", born_aged(16, INCIDENT + timedelta(days=1)))
    assert victim_age(CaseFacts(), dead) == 15
    assert K.DHR not in suggested(dead, perpetrator_relationship="relative")


def test_doc_1_gives_no_age_for_serious_harm_several_children_or_no_date_of_birth() -> None:
    assert victim_age(CaseFacts(), case("serious_harm", born_aged(17))) is None
    assert victim_age(CaseFacts(), case("death", born_aged(17), children=2)) is None
    assert victim_age(CaseFacts(), case("death", None)) is None
    # The facts say who died when Doc 1 cannot, and say so over it.
    assert victim_age(facts(victim_age_at_death=34), case("death", born_aged(3))) == 34
    assert victim_age(facts(victim_died=False), case("death", born_aged(17))) is None


# -- MAPPA SCR: level 2 or 3 within 28 days before a listed offence ------------------------

@pytest.mark.parametrize("level", [2, 3])
def test_mappa_scr_is_mandatory_at_level_2_or_3(level: int) -> None:
    scr = suggested(mappa_level=level, offence="manslaughter")[K.MAPPA_SCR]
    assert scr.mandatory
    assert "must commission" in scr.reason


def test_mappa_level_1_is_discretionary_only() -> None:
    scr = suggested(mappa_level=1, offence="murder")[K.MAPPA_SCR]
    assert not scr.mandatory
    assert "discretionary" in scr.reason


@pytest.mark.parametrize(("days", "mandatory"), [(0, True), (28, True), (29, False)])
def test_mappa_level_2_or_3_in_the_28_days_before(days: int, mandatory: bool) -> None:
    scr = suggested(mappa_level=1, mappa_days_since_level_2_or_3=days, offence="rape")
    assert scr[K.MAPPA_SCR].mandatory is mandatory


@pytest.mark.parametrize("offence", ["murder", "attempted_murder", "manslaughter", "rape",
                                     "attempted_rape"])
def test_each_listed_mappa_offence(offence: str) -> None:
    assert suggested(mappa_level=2, offence=offence)[K.MAPPA_SCR].mandatory


@pytest.mark.parametrize("offence", ["gbh_or_wounding", "terrorism", "other", None])
def test_an_unlisted_offence_is_no_mappa_scr(offence: str | None) -> None:
    assert K.MAPPA_SCR not in suggested(mappa_level=3, offence=offence)


def test_no_mappa_scr_without_a_mappa_offender() -> None:
    assert K.MAPPA_SCR not in suggested(offence="murder")


# -- SFO ---------------------------------------------------------------------------------

def test_sfo_for_a_probation_supervised_listed_offence() -> None:
    assert "Head of Probation" in suggested(probation_supervised=True,
                                            offence="gbh_or_wounding")[K.SFO].reason
    assert K.SFO not in suggested(probation_supervised=True, offence="other")
    assert K.SFO not in suggested(probation_supervised=False, offence="murder")


# -- SAR ---------------------------------------------------------------------------------

def test_sar_must_be_arranged_when_the_criteria_are_met() -> None:
    for harm in ("died", "serious_abuse_or_neglect"):
        sar = suggested(adult_care_and_support_needs=True, adult_harm=harm,
                        agencies_concern=True)[K.SAR]
        assert sar.mandatory, harm
    assert not suggested(adult_care_and_support_needs=True, adult_harm="died",
                         agencies_concern=False)[K.SAR].mandatory
    assert not suggested(adult_care_and_support_needs=True)[K.SAR].mandatory
    assert K.SAR not in suggested(adult_care_and_support_needs=False)
    assert K.SAR not in suggested(adult_harm="died", agencies_concern=True)


# -- YJB notification: on the caseload or within 20 days after, died or charged -------------

def test_yjb_for_a_child_who_died_on_the_caseload_within_one_working_day() -> None:
    yjb = suggested(yjs_on_caseload=True, child_died_on="2026-11-18",
                    yjs_aware_on="2026-11-19")[K.YJB_NOTIFICATION]
    assert yjb.mandatory
    assert (yjb.due_working_days, yjb.due_from) == (1, date(2026, 11, 19))
    assert "within one working day" in yjb.reason


@pytest.mark.parametrize(("ended_days_before", "expected"), [(0, True), (20, True), (21, False)])
def test_yjb_death_up_to_20_calendar_days_after_supervision_ended(
    ended_days_before: int, expected: bool
) -> None:
    died = date(2026, 11, 18)
    found = suggested(yjs_supervision_ended_on=died - timedelta(days=ended_days_before),
                      child_died_on=died)
    assert (K.YJB_NOTIFICATION in found) is expected


@pytest.mark.parametrize(("ended_days_before", "expected"), [(20, True), (21, False)])
def test_yjb_death_from_doc_1(ended_days_before: int, expected: bool) -> None:
    found = suggested(case("death"),
                      yjs_supervision_ended_on=INCIDENT - timedelta(days=ended_days_before))
    assert (K.YJB_NOTIFICATION in found) is expected


@pytest.mark.parametrize("offence", ["attempted_murder", "murder", "manslaughter", "rape",
                                     "gbh_or_wounding", "terrorism"])
def test_yjb_for_each_notifiable_charge(offence: str) -> None:
    yjb = suggested(yjs_on_caseload=True, child_charged_with=offence,
                    child_charged_on="2026-11-18")[K.YJB_NOTIFICATION]
    # Without the day the YJS became aware, the charge's own day: "within 24 hours of the charge".
    assert yjb.due_from == date(2026, 11, 18)
    assert "charged with a notifiable offence" in yjb.reason


@pytest.mark.parametrize("offence", ["attempted_rape", "other"])
def test_an_unlisted_charge_is_no_yjb_notification(offence: str) -> None:
    assert K.YJB_NOTIFICATION not in suggested(yjs_on_caseload=True, child_charged_with=offence)


@pytest.mark.parametrize(("ended_days_before", "expected"), [(20, True), (21, False)])
def test_yjb_charge_after_supervision_ended(ended_days_before: int, expected: bool) -> None:
    charged = date(2026, 11, 18)
    found = suggested(yjs_supervision_ended_on=charged - timedelta(days=ended_days_before),
                      child_charged_with="rape", child_charged_on=charged)
    assert (K.YJB_NOTIFICATION in found) is expected


def test_no_yjb_without_the_caseload() -> None:
    assert K.YJB_NOTIFICATION not in suggested(child_died_on="2026-11-18")
    assert K.YJB_NOTIFICATION not in suggested(yjs_on_caseload=False, child_charged_with="murder")
    assert K.YJB_NOTIFICATION not in suggested(yjs_on_caseload=True)


# -- the others, from a fact each --------------------------------------------------------

def test_investigation_inquest_family_court_and_prevent() -> None:
    found = suggested(criminal_investigation=True, inquest_opened=True, family_proceedings=True,
                      radicalisation_concern=True)
    assert set(found) == {K.CRIMINAL_INVESTIGATION, K.INQUEST, K.FAMILY_COURT_CAFCASS, K.PREVENT}
    assert "delay the publication" in found[K.CRIMINAL_INVESTIGATION].reason
    assert "delay the publication" in found[K.INQUEST].reason
    assert not any(s.mandatory for s in found.values())
    assert K.PREVENT in suggested(offence="terrorism")
    assert suggested(criminal_investigation=False, inquest_opened=False) == {}


# -- refusals ----------------------------------------------------------------------------

@pytest.mark.parametrize(("fields", "field"), [
    ({"victim_age_at_death": -1}, "victim_age_at_death"),
    ({"victim_died": False, "victim_age_at_death": 20}, "victim_age_at_death"),
    ({"mappa_level": 4}, "mappa_level"),
    ({"mappa_days_since_level_2_or_3": 3}, "mappa_days_since_level_2_or_3"),
    ({"mappa_level": 2, "mappa_days_since_level_2_or_3": 3}, "mappa_days_since_level_2_or_3"),
    ({"offence": "shoplifting"}, "offence"),
    ({"yjs_on_caseload": True, "yjs_supervision_ended_on": "2026-11-01"},
     "yjs_supervision_ended_on"),
    ({"child_charged_on": "2026-11-01"}, "child_charged_on"),
    ({"adult_care_and_support_needs": False, "adult_harm": "died"}, "adult_harm"),
    ({"child_died_on": "2026-11-10", "yjs_aware_on": "2026-11-09"}, "yjs_aware_on"),
    ({"child_died_on": "2026-11-22"}, "child_died_on"),  # after RECEIVED: in the future
    ({"yjs_aware_on": "9999-01-01"}, "yjs_aware_on"),
    ({"inquest": True}, "inquest"),
])
def test_bad_facts_are_refused_naming_the_field(fields: dict[str, Any], field: str) -> None:
    found, reason = refusal(**fields)
    assert found == field
    assert reason


@pytest.mark.parametrize(("fields", "field"), [
    ({"kind": "dhr"}, "lead"),
    ({"kind": "tribunal", "lead": "X"}, "kind"),
    ({"kind": "dhr", "lead": "CSP", "liaison_agreed": True}, "liaison"),
    ({"kind": "dhr", "lead": "CSP", "status": "ended"}, "ended_on"),
    ({"kind": "dhr", "lead": "CSP", "ended_on": "2026-11-01"}, "ended_on"),
    ({"kind": "dhr", "lead": "CSP", "status": "ended", "started_on": "2026-11-02",
      "ended_on": "2026-11-01"}, "ended_on"),
    ({"kind": "inquest", "lead": "Coroner", "arrangement": "joint"}, "arrangement"),
    ({"kind": "dhr", "lead": "CSP", "started_on": "2027-01-01"}, "started_on"),
])
def test_bad_processes_are_refused_naming_the_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRecord) as e:
        ParallelReviews().record_process(
            parse_process(DecisionMessage(record=fields)).record, RECEIVED)
    assert e.value.field == field


def test_a_refusal_changes_nothing_and_never_echoes_a_value() -> None:
    parallel = ParallelReviews()
    parallel.record_facts(facts(criminal_investigation=True), RECEIVED)
    with pytest.raises(InvalidRecord) as e:
        parallel.record_facts(facts(child_died_on="2026-12-25"), RECEIVED)
    assert "2026-12-25" not in str(e.value)
    assert parallel.facts == facts(criminal_investigation=True)


def test_one_record_per_kind_an_update_replaces_it() -> None:
    parallel = ParallelReviews()
    first = parse_process(DecisionMessage(record={"kind": "dhr", "lead": "CSP chair"})).record
    assert parallel.record_process(first, RECEIVED) is False
    second = parse_process(DecisionMessage(record={
        "kind": "dhr", "lead": "CSP chair", "arrangement": "joint", "liaison_agreed": True,
        "liaison": "Joint panel", "status": "ended", "started_on": "2026-11-01",
        "ended_on": "2026-11-19"})).record
    assert parallel.record_process(second, RECEIVED) is True
    assert parallel.processes == [second]
    inquest = parse_process(DecisionMessage(record={"kind": "inquest", "lead": "Coroner",
                                                    "arrangement": "parallel"})).record
    parallel.record_process(inquest, RECEIVED)
    assert parallel.process(K.INQUEST) == inquest
    assert len(parallel.processes) == 2


# -- an LCSPR's late publication names the processes causing it --------------------------

def test_a_publication_delay_names_the_processes_causing_it() -> None:
    review = to_publication(start(), date(2027, 5, 3))
    record(review, "publication_delayed", date(2027, 5, 10), reasons="Trial and inquest",
           because_of=["criminal_investigation", "inquest"], new_expected_date="2027-10-29")
    assert review.publication_delayed_because_of == [K.CRIMINAL_INVESTIGATION, K.INQUEST]
    assert review.events[-1].detail.endswith("because of criminal_investigation, inquest")
    assert invalid(review, "publication_delayed", date(2027, 5, 10), reasons="x",
                   because_of=["inquest", "inquest"], new_expected_date="2027-11-01"
                   )[0] == "because_of"
    assert invalid(review, "publication_delayed", date(2027, 5, 10), reasons="x",
                   because_of=["a_trial"], new_expected_date="2027-11-01")[0] == "because_of.0"
    # A message from before `because_of` still decodes, and names no cause.
    record(review, "publication_delayed", date(2027, 5, 11), reasons="Trial moved",
           new_expected_date="2027-11-30")
    assert review.publication_delayed_because_of == []
