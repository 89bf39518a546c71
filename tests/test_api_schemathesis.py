"""Hostile input for the JSON API: schemathesis generates requests from the OpenAPI
document the app serves (GET /api/v1/openapi.json) for every operation, both valid and
invalid ones, and every answer must be no server error and must be what the document
promises (documented status code, content type, body schema and headers).

A bounded, derandomised run (the same examples every time) as three users who between
them reach most routes: a caseworker (tasks, cases, files), a manager (processes,
calendar, campaigns, audit) and a finance officer (payables, batches, reports).

schemathesis.pytest.from_fixture does not run under pytest 9.2 (it writes the removed
Node._nodeid), so each operation's strategy is driven with hypothesis directly.
"""

import pytest
import schemathesis
from conftest import api_token
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from webapp import openapi
from workflows import cases

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
USERS = ["cw1", "mgr", "fin"]
_DOCUMENT = openapi.document()
# Each operation as each user; a public one (no security) once, since no user changes it.
RUNS = [
    (method.upper(), path, username)
    for path, item in _DOCUMENT["paths"].items()
    for method, operation in item.items()
    if method in ("get", "put", "post", "patch", "delete")
    for username in (USERS if operation.get("security", _DOCUMENT["security"]) else USERS[:1])
]
FUZZ = settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _seed(world) -> None:
    """A few cases with open tasks and files, so that small generated ids find something."""
    for username in ("cw1", "cw2", "cw3"):
        cases.start_case(
            world.session,
            world.user(username),
            "tuition_grant",
            world.tuition_application(admission_letter=world.upload(username)),
            world.campaigns["tuition"].id,
        )


@pytest.mark.parametrize(("method", "path", "username"), RUNS, ids=[" ".join(r) for r in RUNS])
def test_operation_answers_generated_requests_as_documented(app, world, username, method, path):
    _seed(world)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operation = schema[path][method]
    headers = api_token(app, username)
    strategy = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @FUZZ
    @given(case=strategy)
    def run(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


# --- what the fuzzing found, kept as plain examples -----------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/v1/tasks/99999999999999999999"),
        ("get", "/api/v1/cases/2147483648"),
        ("post", "/api/v1/tasks/10000000000000000000000/claim"),
        ("get", "/api/v1/campaigns/18446744073709551616"),
        ("get", "/api/v1/batches/9223372036854775808/lines"),
        ("get", "/api/v1/processes/tuition_grant/versions/99999999999999999999"),
    ],
)
def test_an_id_too_large_for_the_database_is_not_found(app, world, method, url):
    answer = getattr(app.test_client(), method)(url, headers=api_token(app, "mgr"))
    assert answer.status_code == 404
    assert answer.get_json()["code"] == "not_found"


@pytest.mark.parametrize("year", [1, 1999, 2101, 10000, 2074382])
def test_a_calendar_year_out_of_range_is_refused_not_a_crash(app, world, year):
    headers = api_token(app, "mgr")
    client = app.test_client()
    for answer in (
        client.get(f"/api/v1/calendar/{year}", headers=headers),
        client.put(f"/api/v1/calendar/{year}", json={"holidays": []}, headers=headers),
    ):
        assert answer.status_code == 422
        assert answer.get_json()["errors"] == {"year": "年份无效"}


@pytest.mark.parametrize("campaign", [2**70, str(2**70), 2**31, "9" * 5000, 0, -1, "0"])
def test_a_campaign_id_out_of_range_is_no_campaign_not_a_crash(app, world, campaign):
    answer = app.test_client().post(
        "/api/v1/cases",
        json={"process": "tuition_grant", "campaign": campaign, "data": {}},
        headers=api_token(app, "cw1"),
    )
    assert answer.status_code == 422
    assert "campaign" in answer.get_json()["errors"]


@pytest.mark.parametrize("org", [str(2**70), str(2**31), "9" * 5000])
def test_a_budget_for_an_org_id_out_of_range_is_refused_not_a_crash(app, world, org):
    campaign = world.campaigns["winter"]
    answer = app.test_client().put(
        f"/api/v1/campaigns/{campaign.id}/budgets",
        json={"budgets": {org: 5}},
        headers=api_token(app, "mgr"),
    )
    assert answer.status_code == 422
    assert answer.get_json()["errors"] == {org: "未知的单位"}
