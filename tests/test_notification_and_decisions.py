"""Content rules of a notification (Doc 1) and of each step's record, as pydantic enforces them."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from domain.decisions import (
    RECORD_TYPES,
    AgencyReport,
    AgencyRequests,
    Decision,
    DspDecision,
    HomeOfficeContribution,
    HomeOfficeNotice,
    InformPartners,
    LocalReviewDecision,
    OfstedNotice,
    PanelInformation,
    PanelNotification,
    PanelResponse,
    RapidReviewMeeting,
    RapidReviewReport,
    RapidReviewSignoff,
    RapidReviewSubmission,
    RecordBase,
    SecretaryOfStateNotice,
    SslRecommendation,
    WellbeingSessions,
)
from domain.notification import Notification
from domain.procedure import Step
from domain.service_rules import MAX_CHILDREN_LIMIT

RECEIVED_AT = "2026-11-02T10:00:00+00:00"


def child(reference: str, **fields: Any) -> dict[str, Any]:
    return {"reference": reference, "date_of_birth": "2019-03-04", **fields}


def notification_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "received_at": RECEIVED_AT,
        "notifying_agency": "Humberside Police",
        "incident": {"date": "2026-11-01", "harm": "serious_harm",
                     "abuse_or_neglect": "suspected"},
        "children": [child("CHILD-REF-ZX81-7731")],
    }
    body.update(overrides)
    return body


def errors(exc: pytest.ExceptionInfo[ValidationError]) -> list[tuple[tuple[Any, ...], str]]:
    """(location, type) of each error."""
    return [(tuple(e["loc"]), e["type"]) for e in exc.value.errors()]


def messages(exc: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return [e["msg"] for e in exc.value.errors()]


# -- Notification -----------------------------------------------------------------------------


def test_a_valid_notification() -> None:
    n = Notification.model_validate(notification_body())
    assert n.received_at == datetime(2026, 11, 2, 10, tzinfo=UTC)
    assert n.incident.date == date(2026, 11, 1)
    assert [c.reference for c in n.children] == ["CHILD-REF-ZX81-7731"]


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_one_to_four_children(count: int) -> None:
    children = [child(f"CHILD-{i}") for i in range(count)]
    assert len(Notification.model_validate(notification_body(children=children)).children) == count


@pytest.mark.parametrize(("count", "error_type"),
                         [(0, "too_short"), (MAX_CHILDREN_LIMIT + 1, "too_long")])
def test_no_children_or_more_than_the_limit_refused(count: int, error_type: str) -> None:
    """Four is the service's own cap (CSPR_MAX_CHILDREN, checked by the API and amendments:
    tests/test_service_rules.py); the model holds no more than any setting may allow."""
    children = [child(f"CHILD-{i}") for i in range(count)]
    with pytest.raises(ValidationError) as exc:
        Notification.model_validate(notification_body(children=children))
    assert errors(exc) == [(("children",), error_type)]


def test_duplicate_child_reference_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        Notification.model_validate(
            notification_body(children=[child("CHILD-1"), child("CHILD-2"), child("CHILD-1")]))
    assert errors(exc) == [((), "value_error")]
    assert "each child's reference must be different" in messages(exc)[0]


def test_date_of_birth_after_incident_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        Notification.model_validate(notification_body(
            children=[child("CHILD-1"), child("CHILD-2", date_of_birth="2026-11-02")]))
    assert errors(exc) == [((), "value_error")]
    assert "date of birth is after the incident date" in messages(exc)[0]


def test_date_of_birth_on_the_incident_date_accepted() -> None:
    n = Notification.model_validate(
        notification_body(children=[child("CHILD-1", date_of_birth="2026-11-01")]))
    assert n.children[0].date_of_birth == date(2026, 11, 1)


def test_incident_after_receipt_refused() -> None:
    incident = {"date": "2026-11-04", "harm": "death", "abuse_or_neglect": "known"}
    with pytest.raises(ValidationError) as exc:
        Notification.model_validate(notification_body(incident=incident))
    assert errors(exc) == [((), "value_error")]
    assert "incident.date: after the notification was received" in messages(exc)[0]


def test_incident_on_the_day_of_receipt_in_london_accepted() -> None:
    # 23:30 UTC on 30 Jun 2026 is 00:30 BST on 1 Jul: an incident on 1 Jul is not in the future.
    incident = {"date": "2026-07-01", "harm": "death", "abuse_or_neglect": "known"}
    n = Notification.model_validate(
        notification_body(received_at="2026-06-30T23:30:00Z", incident=incident))
    assert n.incident.date == date(2026, 7, 1)


def test_incident_the_day_after_a_late_winter_receipt_refused() -> None:
    # 23:30 UTC on Thu 15 Jan 2026 is 23:30 GMT on 15 Jan: 16 Jan is after the receipt.
    incident = {"date": "2026-01-16", "harm": "death", "abuse_or_neglect": "known"}
    with pytest.raises(ValidationError) as exc:
        Notification.model_validate(
            notification_body(received_at="2026-01-15T23:30:00Z", incident=incident))
    assert "after the notification was received" in messages(exc)[0]


def test_naive_received_at_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        Notification.model_validate(notification_body(received_at="2026-11-02T10:00:00"))
    assert errors(exc) == [(("received_at",), "timezone_aware")]


@pytest.mark.parametrize(
    ("overrides", "location"),
    [
        pytest.param({"nhs_number": "943 476 5919"}, ("nhs_number",), id="top-level"),
        pytest.param({"incident": {"date": "2026-11-01", "harm": "death",
                                   "abuse_or_neglect": "known", "location": "home"}},
                     ("incident", "location"), id="incident"),
        pytest.param({"children": [child("CHILD-1", name="A Child")]},
                     ("children", 0, "name"), id="child"),
    ],
)
def test_extra_fields_forbidden(overrides: dict[str, Any], location: tuple[Any, ...]) -> None:
    with pytest.raises(ValidationError) as exc:
        Notification.model_validate(notification_body(**overrides))
    assert errors(exc) == [(location, "extra_forbidden")]


@pytest.mark.parametrize(
    ("overrides", "location", "error_type"),
    [
        pytest.param({"children": [child("CHILD REF 1")]}, ("children", 0, "reference"),
                     "string_pattern_mismatch", id="reference-with-spaces"),
        pytest.param({"notifying_agency": "   "}, ("notifying_agency",), "string_too_short",
                     id="blank-agency"),
        pytest.param({"incident": {"date": "2026-11-01", "harm": "bruise",
                                   "abuse_or_neglect": "known"}},
                     ("incident", "harm"), "enum", id="unknown-harm"),
    ],
)
def test_field_rules(overrides: dict[str, Any], location: tuple[Any, ...],
                     error_type: str) -> None:
    with pytest.raises(ValidationError) as exc:
        Notification.model_validate(notification_body(**overrides))
    assert errors(exc) == [(location, error_type)]


def test_notification_is_frozen() -> None:
    n = Notification.model_validate(notification_body())
    with pytest.raises(ValidationError) as exc:
        n.notifying_agency = "Someone else"  # type: ignore[misc]
    assert errors(exc) == [(("notifying_agency",), "frozen_instance")]


# -- step records -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        pytest.param(SslRecommendation, {"criteria_met": True,
                                         "recommend_panel_notification": True},
                     id="ssl_recommendation"),
        pytest.param(DspDecision, {"partner": "health", "criteria_met": True},
                     id="dsp_decision"),
        pytest.param(RapidReviewMeeting, {"recommendations": ["Share the chronology"],
                                          "outcome": "local_review"},
                     id="rapid_review_meeting"),
    ],
)
@pytest.mark.parametrize("rationale", ["", "   "], ids=["empty", "blank"])
def test_empty_rationale_refused(model: type[BaseModel], fields: dict[str, Any],
                                 rationale: str) -> None:
    with pytest.raises(ValidationError) as exc:
        model.model_validate({**fields, "rationale": rationale})
    assert errors(exc) == [(("rationale",), "string_too_short")]


def test_rationale_is_required() -> None:
    with pytest.raises(ValidationError) as exc:
        DspDecision.model_validate({"partner": "police", "criteria_met": False})
    assert errors(exc) == [(("rationale",), "missing")]


@pytest.mark.parametrize(
    "agencies",
    [
        pytest.param(["Humberside Police", "NHS North Lincolnshire", "Humberside Police"],
                     id="same-spelling"),
        pytest.param(["Humberside Police", "HUMBERSIDE POLICE"], id="different-case"),
        pytest.param(["Humberside Police", "  humberside police "], id="case-and-spaces"),
    ],
)
def test_agency_named_twice_refused(agencies: list[str]) -> None:
    with pytest.raises(ValidationError) as exc:
        AgencyRequests(agencies=agencies)
    assert errors(exc) == [((), "value_error")]
    assert "an agency is named twice" in messages(exc)[0]


def test_distinct_agencies_accepted() -> None:
    req = AgencyRequests(agencies=["Humberside Police", "Humberside Police Custody"])
    assert req.agencies == ["Humberside Police", "Humberside Police Custody"]


def test_no_agencies_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        AgencyRequests(agencies=[])
    assert errors(exc) == [(("agencies",), "too_short")]


def test_naive_panel_notified_at_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        PanelNotification.model_validate(
            {"notified_at": "2026-11-04T13:00:00", "reference": "NOTIF-2026/0042"})
    assert errors(exc) == [(("notified_at",), "timezone_aware")]


# -- the Decision union -----------------------------------------------------------------------

RECORDS: list[tuple[type[RecordBase], dict[str, Any]]] = [
    (InformPartners, {}),
    (SslRecommendation, {"criteria_met": True, "recommend_panel_notification": True,
                         "rationale": "Suspected non-accidental injury"}),
    (DspDecision, {"partner": "local_authority", "criteria_met": True,
                   "rationale": "Criteria met"}),
    (PanelNotification, {"notified_at": "2026-11-04T13:00:00Z", "reference": "NOTIF-2026/0042"}),
    (AgencyRequests, {"agencies": ["Humberside Police", "NHS North Lincolnshire"]}),
    (AgencyReport, {"agency": "Humberside Police"}),
    (RapidReviewMeeting, {"recommendations": ["Share the chronology"],
                          "outcome": "no_further_review", "rationale": "Learning identified"}),
    (RapidReviewReport, {}),
    (RapidReviewSignoff, {"partner": "police"}),
    (WellbeingSessions, {"relevant": False}),
    (RapidReviewSubmission, {"completed_on": "2026-11-20"}),
    (PanelResponse, {"decision": "more_information_requested"}),
    (LocalReviewDecision, {"undertake": True, "rationale": "The Panel's view",
                           "decided_on": "2026-11-20"}),
    (PanelInformation, {"what": "Chronology", "sent_to": "The Panel secretariat",
                        "sent_at": "2026-11-04T13:00:00Z", "completes": False}),
    (SecretaryOfStateNotice, {"sent_at": "2026-11-04T13:00:00Z", "method": "email"}),
    (OfstedNotice, {"sent_at": "2026-11-04T13:00:00Z", "method": "online_notification_system",
                    "reference": "CSPN-2026-0456"}),
    (HomeOfficeContribution, {"areas": ["migration", "citizenship"]}),
    (HomeOfficeNotice, {"sent_at": "2026-11-04T13:00:00Z", "method": "email"}),
]


def test_every_step_has_a_record_type() -> None:
    steps = {model.model_fields["step"].default for model, _ in RECORDS}
    assert steps == {s.value for s in Step}
    assert {model for model, _ in RECORDS} == set(RECORD_TYPES)


@pytest.mark.parametrize(("model", "fields"), RECORDS,
                         ids=[str(m.model_fields["step"].default) for m, _ in RECORDS])
def test_decision_parses_each_step_by_its_step(model: type[RecordBase],
                                               fields: dict[str, Any]) -> None:
    step = model.model_fields["step"].default
    payload = json.dumps({"record": {"step": step, **fields}})
    decision = Decision.model_validate_json(payload)
    assert type(decision.record) is model
    assert decision.record.step == step
    # And back: what a signal or update carries survives a round trip.
    assert Decision.model_validate_json(decision.model_dump_json()) == decision


def test_decision_refuses_an_unknown_step() -> None:
    with pytest.raises(ValidationError) as exc:
        Decision.model_validate_json('{"record": {"step": "publish_report"}}')
    assert errors(exc) == [(("record",), "union_tag_invalid")]


def test_decision_refuses_a_record_without_a_step() -> None:
    with pytest.raises(ValidationError) as exc:
        Decision.model_validate_json('{"record": {"partner": "health"}}')
    assert errors(exc) == [(("record",), "union_tag_not_found")]


def test_decision_refuses_another_steps_fields() -> None:
    with pytest.raises(ValidationError) as exc:
        Decision.model_validate_json('{"record": {"step": "inform_partners", "partner": "health"}}')
    assert errors(exc) == [(("record", "inform_partners", "partner"), "extra_forbidden")]


def test_decision_refuses_extra_fields_beside_the_record() -> None:
    with pytest.raises(ValidationError) as exc:
        Decision.model_validate_json('{"record": {"step": "inform_partners"}, "by": "someone"}')
    assert errors(exc) == [(("by",), "extra_forbidden")]


def test_decision_refuses_an_unknown_partner() -> None:
    with pytest.raises(ValidationError) as exc:
        Decision.model_validate_json(
            '{"record": {"step": "dsp_decision", "partner": "education", "criteria_met": true,'
            ' "rationale": "x"}}')
    assert errors(exc) == [(("record", "dsp_decision", "partner"), "enum")]


def test_la_aware_at_after_receipt_or_before_the_incident_refused() -> None:
    """Issue 9, item 6: `la_aware_at` is when the local authority became aware, if earlier than
    receipt: never after the receipt, nor before the incident."""
    body = notification_body()
    received = datetime.fromisoformat(str(body["received_at"]).replace("Z", "+00:00"))
    with pytest.raises(ValidationError) as exc:
        Notification.model_validate({**body, "la_aware_at": received + timedelta(minutes=1)})
    assert "la_aware_at: after the notification was received" in messages(exc)[0]
    incident = date.fromisoformat(str(body["incident"]["date"]))
    with pytest.raises(ValidationError) as exc:
        Notification.model_validate({**body, "la_aware_at": datetime.combine(
            incident - timedelta(days=1), datetime.min.time(), tzinfo=UTC)})
    assert "la_aware_at: before the incident" in messages(exc)[0]
    given = received - timedelta(hours=20)  # the day of the incident
    assert Notification.model_validate({**body, "la_aware_at": given}).la_aware_at == given
