"""The procedure's letters (letters/), opened again with python-docx and read back.

The case is received on Mon 2 Nov 2026 at 10:00 GMT (no bank holidays in November), so the due
dates are plain counts of weekdays: ssl_recommendation Thu 5 Nov, dsp_decision Fri 6 Nov,
panel_notification Mon 9 Nov. The DSPs decide on Thu 5 Nov (clock D): agency_reports are due
Thu 12 Nov and the rapid review meeting Fri 13 Nov.
"""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, date, datetime
from typing import Any

import docx
import pytest

from activities.calendar import DueDatesInput, due_dates
from domain.calendar import WorkingDayCalendar
from domain.case import CaseState, ClockPoint
from domain.decisions import (
    AgencyRequests,
    DspDecision,
    InformPartners,
    PanelNotification,
    RapidReviewMeeting,
    RapidReviewOutcome,
    SslRecommendation,
    StepRecord,
)
from domain.procedure import CURRENT_PROCEDURE, CURRENT_REQUEST_PROCEDURE, Clock, Partner, Step
from letters import Addressee, ComposeError, Letter, LetterKind, compose
from letters.compose import fill, template
from letters.template import Template, TemplateError
from letters.values import BLANK, long_date
from tests.factories import CHILD_REFERENCE, notification, review_request

CASE_ID = "CSPR-2026-0001"
RECEIVED_AT = datetime(2026, 11, 2, 10, tzinfo=UTC)
ISSUED_ON = date(2026, 11, 3)
SUMMARY = "Admitted to hospital with unexplained injuries."  # tests.factories' incident
SECOND_CHILD = "CHILD-REF-QW22-0042"
DSP = Addressee(name="Pat Example", organisation="health", role="Delegated Safeguarding Partner")
SSL = Addressee(name="Sam Example", organisation="police", role="Safeguarding Senior Lead")
AGENCY = Addressee(name="Alex Example", organisation="North Lincolnshire Council",
                   role="Head of Safeguarding")
AGENCIES = ["North Lincolnshire Council", "Northern Lincolnshire and Goole NHS Trust"]
RECOMMENDATIONS = ["Joint training on bruising in non-mobile infants",
                   "Share the learning on hospital discharge"]
CAL = WorkingDayCalendar()


def nov(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def start_clock(case: CaseState, clock: Clock, point: ClockPoint) -> None:
    """What the workflow does with a clock: the calendar activity's due dates, into the case."""
    result = due_dates(CAL, DueDatesInput(procedure_version=case.procedure_version, clock=clock,
                                          start=point, steps=case.steps_on_clock(clock)))
    case.set_due_dates(clock, result.clock_date, result.due)
    if clock is Clock.RECEIVED and case.steps_on_clock(Clock.LA_AWARE):
        # From procedure r4 the workflow starts clock A (the local authority aware) with R.
        start_clock(case, Clock.LA_AWARE, ClockPoint(at=case.la_aware_at))


def record(case: CaseState, rec: StepRecord, now: datetime) -> None:
    """Check then apply, as the workflow does, and start the clocks the record starts."""
    case.check(rec, now)
    for clock, point in case.apply(rec, now):
        start_clock(case, clock, point)


def opened(**overrides: Any) -> CaseState:
    """A notification whose due dates on clock R are computed (Doc 2 and 3 go out now)."""
    case = CaseState.open_case(CASE_ID, CURRENT_PROCEDURE, notification(RECEIVED_AT, **overrides))
    start_clock(case, Clock.RECEIVED, ClockPoint(at=RECEIVED_AT))
    return case


def decided(case: CaseState, police_agrees: bool = True) -> CaseState:
    """Doc 4 Part A on Wed 4 Nov; Part B from the three partners on Thu 5 Nov."""
    record(case, InformPartners(), nov(2, 15))
    record(case, SslRecommendation(criteria_met=True, recommend_panel_notification=True,
                                   rationale="Suspected non-accidental injury"), nov(4))
    for partner in Partner:
        agrees = police_agrees or partner is not Partner.POLICE
        record(case, DspDecision(partner=partner, criteria_met=agrees,
                                 rationale=f"Decision of {partner.value}"), nov(5))
    return case


def in_rapid_review(case: CaseState) -> CaseState:
    """The Panel notified on Fri 6 Nov (reference PANEL-REF-1) and the agencies asked."""
    decided(case)
    record(case, PanelNotification(notified_at=nov(6, 9), reference="PANEL-REF-1"), nov(6))
    record(case, AgencyRequests(agencies=AGENCIES), nov(6))
    return case


def after_meeting(case: CaseState) -> CaseState:
    in_rapid_review(case)
    record(case, RapidReviewMeeting(recommendations=RECOMMENDATIONS,
                                    outcome=RapidReviewOutcome.LOCAL_REVIEW,
                                    rationale="Learning for two agencies"), nov(13))
    return case


def text_of(content: bytes) -> str:
    """Every paragraph and table cell of a .docx, one a line."""
    document = docx.Document(io.BytesIO(content))
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.extend(cell.text for cell in row.cells)
    return "\n".join(lines)


def letter_text(kind: LetterKind, case: CaseState, addressee: Addressee | None) -> str:
    return text_of(compose(kind, case, addressee, ISSUED_ON).content)


# -- what each letter says --------------------------------------------------------------------


def test_doc2_asks_the_dsps_for_part_b_by_the_dsp_decision_due_date() -> None:
    letter = compose(LetterKind.DOC2, opened(), DSP, ISSUED_ON)
    text = text_of(letter.content)

    assert letter.kind is LetterKind.DOC2
    assert letter.filename == "CSPR-2026-0001-doc2-health.docx"
    assert "Doc 2 – Letter to Safeguarding Partners – Notification" in text
    assert CASE_ID in text
    assert "Date\n3 November 2026" in text
    assert "Humberside Police on 2 November 2026" in text  # received from the notifier
    assert "Doc 4 Part B" in text
    assert "are met, by 6 November 2026." in text  # dsp_decision, R+4
    assert "(Part A) by 5 November 2026." in text  # ssl_recommendation, R+3
    assert "notify the Panel by 9 November 2026" in text  # panel_notification, R+5
    assert "Dear Pat Example," in text
    for shown in (CHILD_REFERENCE, "4 March 2019", "1 November 2026", SUMMARY,
                  "The child has been seriously harmed", "Suspected", "Looked after child\nNo",
                  "Care leaver\nNot known"):
        assert shown in text


def test_doc3_asks_the_ssls_for_part_a_by_the_ssl_recommendation_due_date() -> None:
    letter = compose(LetterKind.DOC3, opened(), SSL, ISSUED_ON)
    text = text_of(letter.content)

    assert letter.filename == "CSPR-2026-0001-doc3-police.docx"
    assert "Doc 3 – Letter to Safeguarding Senior Leads – Notification" in text
    assert "(Part A) and return it to the Children's MARS team by 5 November 2026." in text
    assert "record their decision by 6 November 2026" in text
    assert CASE_ID in text
    assert CHILD_REFERENCE in text
    assert SUMMARY in text
    # The due date is in bold: the one thing the reader must not miss.
    bold = [r.text for p in docx.Document(io.BytesIO(letter.content)).paragraphs
            for r in p.runs if r.bold]
    assert bold == ["5 November 2026"]


def test_doc4_before_the_decisions_has_blank_lines_for_parts_a_and_b() -> None:
    text = letter_text(LetterKind.DOC4, opened(), None)

    assert "Doc 4 – Recommendation to Safeguarding Partners and their decision record" in text
    assert CASE_ID in text
    assert CHILD_REFERENCE in text
    assert SUMMARY in text
    assert "by 5 November 2026" in text
    assert "by 6 November 2026" in text
    assert f"Rationale\n{BLANK}" in text  # Part A
    for partner in ("North Lincolnshire Council", "North Lincolnshire Health and Care "
                    "Partnership", "Humberside Police"):
        assert f"{partner}\n{BLANK}\n{BLANK}\n{BLANK}" in text  # Part B, one row each
    assert f"Decision of the safeguarding partners\n{BLANK}" in text
    assert f"Reference from the national notification system\n{BLANK}" in text


def test_doc4_after_the_decisions_holds_part_a_part_b_and_the_panel_reference() -> None:
    case = decided(opened())
    record(case, PanelNotification(notified_at=nov(6, 9), reference="PANEL-REF-1"), nov(6))
    text = letter_text(LetterKind.DOC4, case, None)

    assert ("Date of the recommendation\n4 November 2026\n"
            "The criteria for a serious child safeguarding case are met\nYes\n"
            "Recommend that the local authority notifies the Panel\nYes\n"
            "Rationale\nSuspected non-accidental injury") in text
    for partner, name in ((Partner.LOCAL_AUTHORITY, "North Lincolnshire Council"),
                          (Partner.HEALTH, "North Lincolnshire Health and Care Partnership"),
                          (Partner.POLICE, "Humberside Police")):
        assert f"{name}\nYes\nDecision of {partner.value}\n5 November 2026" in text
    assert ("Decision of the safeguarding partners\nThe criteria are met: the local authority "
            "notifies the Panel and a rapid review is held\nDate of the decision\n"
            "5 November 2026") in text
    assert "Panel notified by the local authority on (due 9 November 2026)\n6 November 2026" \
        in text
    assert "Reference from the national notification system\nPANEL-REF-1" in text
    assert BLANK not in text


def test_doc4_names_each_partner_as_the_directory_does_else_as_the_procedure() -> None:
    """Issue 9's bugs: "Doc 4 names the health partner with a fixed text instead of the
    directory's name". Two organisations for one partner are named together."""
    names = {Partner.HEALTH: "NHS Humber and North Yorkshire ICB and Rotherham ICB",
             Partner.POLICE: "Humberside Police Force"}
    letter = compose(LetterKind.DOC4, decided(opened()), None, ISSUED_ON, names)
    text = text_of(letter.content)

    assert "NHS Humber and North Yorkshire ICB and Rotherham ICB\nYes\nDecision of health" in text
    assert "Humberside Police Force\nYes\nDecision of police" in text
    # Not in the directory: the procedure's name.
    assert "North Lincolnshire Council\nYes\nDecision of local_authority" in text
    assert "North Lincolnshire Health and Care Partnership" not in text


def test_doc4_when_the_partners_disagree_says_so() -> None:
    text = letter_text(LetterKind.DOC4, decided(opened(), police_agrees=False), None)

    assert "Humberside Police\nNo\nDecision of police" in text
    assert "The partners disagree: the local dispute resolution process applies" in text


def test_the_agency_letter_asks_for_the_report_by_the_agency_reports_due_date() -> None:
    letter = compose(LetterKind.RAPID_REVIEW_REQUEST, in_rapid_review(opened()), AGENCY,
                     date(2026, 11, 6))
    text = text_of(letter.content)

    assert letter.filename == "CSPR-2026-0001-rapid-review-request-north-lincolnshire-council.docx"
    assert CASE_ID in text
    assert "On 5 November 2026 the safeguarding partners decided" in text  # clock D
    assert "mars@northlincs.gov.uk by 12 November 2026." in text  # agency_reports, D+5
    assert "held by 13 November 2026" in text  # rapid_review_meeting, D+6
    assert f"Child's reference\n{CHILD_REFERENCE}\nDate of birth\n4 March 2019" in text
    assert "Date of the incident\n1 November 2026" in text
    # The child's reference, date of birth and the incident date only.
    for absent in (SUMMARY, "seriously harmed", "Suspected", "Looked after", "Care leaver",
                   "Humberside Police"):
        assert absent not in text


def test_the_agency_report_template_carries_the_reference_and_the_due_date() -> None:
    letter = compose(LetterKind.AGENCY_REPORT_TEMPLATE, in_rapid_review(opened()), AGENCY,
                     date(2026, 11, 6))
    text = text_of(letter.content)

    assert letter.filename == \
        "CSPR-2026-0001-agency-report-template-north-lincolnshire-council.docx"
    assert "Template for Agency report for rapid review" in text
    assert f"Case number\n{CASE_ID}\nAgency\nNorth Lincolnshire Council" in text
    assert "Return by\n12 November 2026" in text
    assert CHILD_REFERENCE in text
    assert "4 March 2019" in text
    assert "1 November 2026" in text
    for absent in (SUMMARY, "seriously harmed", "Suspected", "Looked after", "Alex Example"):
        assert absent not in text


def test_doc12_gives_the_meetings_outcome_and_recommendations_and_nothing_of_the_child() -> None:
    letter = compose(LetterKind.DOC12, after_meeting(opened()), None, date(2026, 11, 26))
    text = text_of(letter.content)

    assert letter.filename == "CSPR-2026-0001-doc12.docx"
    assert "Decision of the Rapid Review of a Serious Child Safeguarding Incident" in text
    assert CASE_ID in text
    assert "PANEL-REF-1" in text
    assert "Dear Panel Chair," in text
    assert "Child Safeguarding Practice Review Panel" in text
    assert "decided on 5 November 2026" in text
    assert "held on 13 November 2026" in text
    assert "will undertake a local child safeguarding practice review" in text
    assert "A local Child Safeguarding Practice Review\nYes: a local CSPR will be undertaken" \
        in text
    assert "Reasons\nLearning for two agencies" in text
    document = docx.Document(io.BytesIO(letter.content))
    listed = [p.text for p in document.paragraphs if p.style is not None
              and p.style.name == "List Bullet"]
    assert listed == RECOMMENDATIONS
    for absent in (CHILD_REFERENCE, "4 March 2019", SUMMARY, "seriously harmed"):
        assert absent not in text


def test_doc12_to_a_named_addressee() -> None:
    panel = Addressee(name="Jo Example", organisation="Child Safeguarding Practice Review "
                      "Panel", role="Secretariat")
    letter = compose(LetterKind.DOC12, after_meeting(opened()), panel, date(2026, 11, 26))

    assert "Dear Jo Example," in text_of(letter.content)
    assert letter.filename == \
        "CSPR-2026-0001-doc12-child-safeguarding-practice-review-panel.docx"


def test_several_children_each_appear_where_the_letter_needs_them() -> None:
    children = [
        {"reference": CHILD_REFERENCE, "date_of_birth": date(2019, 3, 4), "looked_after": True},
        {"reference": SECOND_CHILD, "date_of_birth": date(2021, 7, 9), "care_leaver": False},
    ]
    case = after_meeting(opened(children=children))

    for kind, addressee in ((LetterKind.DOC2, DSP), (LetterKind.DOC3, SSL),
                            (LetterKind.DOC4, None)):
        text = letter_text(kind, case, addressee)
        assert (f"Child's reference\n{CHILD_REFERENCE}\nDate of birth\n4 March 2019\n"
                "Looked after child\nYes\nCare leaver\nNot known") in text
        assert (f"Child's reference\n{SECOND_CHILD}\nDate of birth\n9 July 2021\n"
                "Looked after child\nNot known\nCare leaver\nNo") in text
    for kind in (LetterKind.RAPID_REVIEW_REQUEST, LetterKind.AGENCY_REPORT_TEMPLATE):
        text = letter_text(kind, case, AGENCY)
        assert f"{CHILD_REFERENCE}\nDate of birth\n4 March 2019" in text
        assert f"{SECOND_CHILD}\nDate of birth\n9 July 2021" in text
        assert "Looked after" not in text
    text = letter_text(LetterKind.DOC12, case, None)
    assert CHILD_REFERENCE not in text
    assert SECOND_CHILD not in text


def test_a_request_has_doc2_3_and_4_in_its_own_words_and_no_rapid_review_letters() -> None:
    case = CaseState.open_request(CASE_ID, CURRENT_REQUEST_PROCEDURE,
                                  review_request(RECEIVED_AT))
    start_clock(case, Clock.RECEIVED, ClockPoint(at=RECEIVED_AT))

    text = letter_text(LetterKind.DOC2, case, DSP)
    assert "Request for a Child Safeguarding Practice Review" in text
    assert "request from North Lincolnshire Council on 2 November 2026" in text
    assert "Reason for the request\nA near miss event" in text
    assert "Practice Review by 6 November 2026." in text
    assert "notify the Panel" not in text
    assert "Doc 2" not in text
    assert "by 5 November 2026." in letter_text(LetterKind.DOC3, case, SSL)
    doc4 = letter_text(LetterKind.DOC4, case, None)
    assert "Request received\n2 November 2026" in doc4
    assert "Recommend that a CSPR is undertaken" in doc4
    assert "national notification system" not in doc4
    for kind in (LetterKind.RAPID_REVIEW_REQUEST, LetterKind.AGENCY_REPORT_TEMPLATE,
                 LetterKind.DOC12):
        with pytest.raises(ComposeError) as refused:
            compose(kind, case, AGENCY, ISSUED_ON)
        assert refused.value.field == "case"


# -- what a letter cannot be written without --------------------------------------------------


@pytest.mark.parametrize("kind", [LetterKind.DOC2, LetterKind.DOC3,
                                  LetterKind.RAPID_REVIEW_REQUEST,
                                  LetterKind.AGENCY_REPORT_TEMPLATE])
def test_a_letter_to_someone_needs_an_addressee(kind: LetterKind) -> None:
    with pytest.raises(ComposeError) as refused:
        compose(kind, after_meeting(opened()), None, ISSUED_ON)
    assert (refused.value.field, refused.value.reason) == ("addressee",
                                                           f"is required for {kind.value}")


def test_letters_that_ask_for_a_date_wait_until_the_case_has_it() -> None:
    not_computed = CaseState.open_case(CASE_ID, CURRENT_PROCEDURE, notification(RECEIVED_AT))
    with pytest.raises(ComposeError, match="the due date of ssl_recommendation is not computed"):
        compose(LetterKind.DOC2, not_computed, DSP, ISSUED_ON)
    # Doc 4 is a record completed by hand: blank lines instead.
    assert "by " + BLANK in letter_text(LetterKind.DOC4, not_computed, None)

    with pytest.raises(ComposeError, match="the rapid review has not been decided yet"):
        compose(LetterKind.RAPID_REVIEW_REQUEST, opened(), AGENCY, ISSUED_ON)
    with pytest.raises(ComposeError, match="the rapid review meeting is not recorded yet"):
        compose(LetterKind.DOC12, in_rapid_review(opened()), None, ISSUED_ON)


def test_an_issue_date_a_docx_cannot_hold_is_refused() -> None:
    with pytest.raises(ComposeError) as refused:
        compose(LetterKind.DOC4, opened(), None, date(1979, 12, 31))
    assert refused.value.field == "issued_on"


# -- the documents themselves -----------------------------------------------------------------


@pytest.mark.parametrize("kind", list(LetterKind))
def test_the_same_inputs_give_the_same_bytes(kind: LetterKind) -> None:
    case = after_meeting(opened())
    addressee = None if kind in (LetterKind.DOC4, LetterKind.DOC12) else AGENCY
    first = compose(kind, case, addressee, ISSUED_ON)
    again = compose(kind, case.model_copy(deep=True), addressee, ISSUED_ON)

    assert first.content == again.content
    # Nothing from the clock: every zip entry and the core properties carry the issue date.
    with zipfile.ZipFile(io.BytesIO(first.content)) as package:
        assert {i.date_time for i in package.infolist()} == {(2026, 11, 3, 0, 0, 0)}
    props = docx.Document(io.BytesIO(first.content)).core_properties
    assert props.created == props.modified == datetime(2026, 11, 3, tzinfo=UTC)
    assert props.author == "Children's MARS Team"
    assert CHILD_REFERENCE not in (props.title or "") + (props.subject or "")
    assert compose(kind, case, addressee, date(2026, 11, 4)).content != first.content


@pytest.mark.parametrize("kind", list(LetterKind))
def test_every_placeholder_of_every_template_is_filled(kind: LetterKind) -> None:
    """Each template's names are all given, for a notification and (where it applies) a
    request, and nothing is left in braces."""
    request = CaseState.open_request(CASE_ID, CURRENT_REQUEST_PROCEDURE,
                                     review_request(RECEIVED_AT))
    start_clock(request, Clock.RECEIVED, ClockPoint(at=RECEIVED_AT))
    cases = [opened(), after_meeting(opened())]
    if kind in (LetterKind.DOC2, LetterKind.DOC3, LetterKind.DOC4):
        cases.append(request)
    given: set[str] = set()
    for case in cases:
        if kind in (LetterKind.DOC12, LetterKind.RAPID_REVIEW_REPORT) and case.meeting() is None:
            continue
        if kind in (LetterKind.RAPID_REVIEW_REQUEST, LetterKind.AGENCY_REPORT_TEMPLATE) \
                and Clock.RAPID_REVIEW_DECISION not in case.clock_dates:
            continue
        values = fill(kind, case, AGENCY, ISSUED_ON)
        for name, value in values.items():
            given.add(name)
            if isinstance(value, list):
                given.update(f"{name}.{field}" for row in value for field in row)
        text = letter_text(kind, case, AGENCY)
        assert "{" not in text
        assert "}" not in text
    assert template(kind).placeholders() <= given


def test_a_control_character_in_the_summary_does_not_break_the_document() -> None:
    incident = {"date": date(2026, 11, 1), "harm": "death", "abuse_or_neglect": "known",
                "summary": "Found\x0b at home\x01."}
    text = letter_text(LetterKind.DOC2, opened(incident=incident), DSP)

    assert "Summary\nFound at home." in text
    assert "The child has died" in text
    assert "Abuse or neglect\nKnown" in text


def test_filenames_hold_no_personal_data() -> None:
    case = after_meeting(opened())
    person = Addressee(name="Pat Example", organisation="Humberside Police / CID (East)",
                       role="Detective Superintendent")
    for kind in LetterKind:
        name = compose(kind, case, person, ISSUED_ON).filename
        assert name.startswith(f"{CASE_ID}-")
        assert name.endswith(".docx")
        assert "pat" not in name
        assert "example" not in name
        assert CHILD_REFERENCE.lower() not in name.lower()
        assert name.endswith("-humberside-police-cid-east.docx")


def test_dates_are_written_out_in_full() -> None:
    assert long_date(date(2026, 12, 3)) == "3 December 2026"
    assert long_date(date(2027, 1, 21)) == "21 January 2027"


# -- the template format ----------------------------------------------------------------------


def render(text: str, values: dict[str, Any]) -> str:
    document = docx.Document()
    Template.parse("t.txt", text).render(document, values)
    buffer = io.BytesIO()
    document.save(buffer)
    return text_of(buffer.getvalue())


def test_the_template_format() -> None:
    text = render(
        "# Title {a}\n"
        "first line\nsecond **{a}**\n\n"
        "@if flag\nshown\n@end\n@if not flag\nhidden\n@end\n"
        "@each rows\n| {rows.x} | {a} |\n@end\n"
        "// a comment\n"
        "- item\n",
        {"a": "A {not} **bold**", "flag": True, "rows": [{"x": "1"}, {"x": "2"}]},
    )
    assert text.split("\n") == [
        "Title A {not} **bold**", "first line second A {not} **bold**", "shown", "item",
        "1", "A {not} **bold**", "2", "A {not} **bold**",
    ]


@pytest.mark.parametrize(("source", "reason"), [
    ("Dear {name},", "no value for {name}"),
    ("@if missing\nx\n@end", "no flag 'missing'"),
    ("@each missing\nx\n@end", "no list 'missing'"),
])
def test_a_value_the_template_needs_and_is_not_given_is_an_error(
    source: str, reason: str
) -> None:
    with pytest.raises(TemplateError) as error:
        render(source, {})
    assert error.value.reason == reason


@pytest.mark.parametrize(("source", "line", "reason"), [
    ("ok\n@each rows\nx", 2, "@each has no @end"),
    ("ok\n{case number}", 2, "a brace that is not a {placeholder}"),
    ("**bold", 1, "a ** without its closing **"),
    ("@end", 1, "not a directive: @end"),
    ("@repeat x", 1, "not a directive: @repeat x"),
])
def test_a_malformed_template_is_refused_with_its_line(
    source: str, line: int, reason: str
) -> None:
    with pytest.raises(TemplateError) as error:
        Template.parse("t.txt", source)
    assert (error.value.line, error.value.reason) == (line, reason)


def test_a_letter_goes_through_json_unchanged() -> None:
    """An activity may return a Letter: the pydantic data converter writes it as JSON."""
    letter = compose(LetterKind.DOC4, opened(), None, ISSUED_ON)

    assert Letter.model_validate_json(letter.model_dump_json()) == letter


@pytest.mark.parametrize(("outcome", "said", "local_cspr"), [
    (RapidReviewOutcome.NATIONAL_REVIEW_RECOMMENDED, "a national review may be appropriate",
     "No: a national review is recommended"),
    (RapidReviewOutcome.NO_FURTHER_REVIEW, "no further review is required", "No"),
])
def test_doc12_for_each_decision_of_the_rapid_review(
    outcome: RapidReviewOutcome, said: str, local_cspr: str
) -> None:
    case = in_rapid_review(opened())
    record(case, RapidReviewMeeting(recommendations=RECOMMENDATIONS, outcome=outcome,
                                    rationale="No learning beyond the agencies' own"), nov(13))
    text = letter_text(LetterKind.DOC12, case, None)

    assert said in text
    assert f"A local Child Safeguarding Practice Review\n{local_cspr}\nReasons" in text


def test_each_version_of_doc4_has_a_filename_of_its_own() -> None:
    """Issue 9's bugs: "Three versions of Doc 4 share one filename; give each its part"."""
    blank = compose(LetterKind.DOC4, opened(), None, date(2026, 11, 2))
    case = opened()
    record(case, InformPartners(), nov(2, 15))
    record(case, SslRecommendation(criteria_met=True, recommend_panel_notification=True,
                                   rationale="Suspected non-accidental injury"), nov(4))
    with_a = compose(LetterKind.DOC4, case, None, date(2026, 11, 4))
    with_b = compose(LetterKind.DOC4, decided(opened()), None, date(2026, 11, 5))
    assert [blank.filename, with_a.filename, with_b.filename] == [
        f"{CASE_ID}-doc4.docx", f"{CASE_ID}-doc4-part-a.docx", f"{CASE_ID}-doc4-part-b.docx"]


def test_the_rapid_review_report_template_is_filled_with_the_case_facts() -> None:
    """Issue 9, "The case file": "the Rapid Review Report (the chair's, on its template: the
    service produces the template filled with the case's facts, as it does Doc 2-4 and 12)"."""
    case = after_meeting(opened())
    letter = compose(LetterKind.RAPID_REVIEW_REPORT, case, None, ISSUED_ON)
    text = letter_text(LetterKind.RAPID_REVIEW_REPORT, case, None)
    assert letter.filename == f"{CASE_ID}-rapid-review-report.docx"
    assert "Rapid Review Report" in text
    assert CHILD_REFERENCE in text
    assert SUMMARY in text
    assert "Reference from the national notification system\nPANEL-REF-1" in text
    meeting = case.meeting()
    assert meeting is not None
    for recommendation in meeting.recommendations:
        assert recommendation in text
    assert meeting.rationale in text
    for agency in case.step(Step.AGENCY_REPORTS).expected_parties:
        assert agency in text
    with pytest.raises(ComposeError):
        compose(LetterKind.RAPID_REVIEW_REPORT, opened(), None, ISSUED_ON)
