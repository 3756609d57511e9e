"""Persons: /v1/accounts/{id}/persons[/{person}] through stripe.Account.*_person."""

from __future__ import annotations

import pytest
import stripe

from helpers import create_custom_account, dob, expect_error, us_address
from openapi_check import check


@pytest.fixture
def company_account():
    return create_custom_account("US", "company")


def test_create_person_echoes_fields(company_account):
    acct = company_account.id
    p = stripe.Account.create_person(
        acct,
        first_name="Jane",
        last_name="Founder",
        email="jane@example.com",
        phone="+14155550100",
        dob=dob(1901, 1, 1),
        address=us_address(),
        relationship={
            "representative": True,
            "executive": True,
            "owner": True,
            "title": "CEO",
            "percent_ownership": 25.5,
        },
        metadata={"hr_id": "7"},
    )
    check(p)
    assert p.id.startswith("person_")
    assert p.object == "person"
    assert p.account == acct
    assert (p.first_name, p.last_name, p.email, p.phone) == ("Jane", "Founder", "jane@example.com", "+14155550100")
    assert p.dob.to_dict() == {"day": 1, "month": 1, "year": 1901}
    assert p.address.line1 == "address_full_match" and p.address.country == "US"
    rel = p.relationship
    assert rel.representative is True
    assert rel.executive is True
    assert rel.owner is True
    assert rel.title == "CEO"
    assert rel.percent_ownership == 25.5
    assert rel.director in (False, None)
    assert p.metadata.to_dict() == {"hr_id": "7"}
    assert p.id_number_provided is False
    assert p.ssn_last_4_provided is False
    assert isinstance(p.created, int)


def test_id_number_is_write_only(company_account):
    p = stripe.Account.create_person(company_account.id, first_name="A", last_name="B", id_number="000000000")
    check(p)
    assert p.id_number_provided is True
    assert "id_number" not in p
    assert "000000000" not in p.last_response.body


def test_list_persons_and_relationship_filter(company_account):
    acct = company_account.id
    rep = stripe.Account.create_person(acct, first_name="Rep", last_name="One", relationship={"representative": True, "title": "CEO"})
    own = stripe.Account.create_person(acct, first_name="Own", last_name="Two", relationship={"owner": True, "percent_ownership": 60})
    dire = stripe.Account.create_person(acct, first_name="Dir", last_name="Three", relationship={"director": True})

    lst = stripe.Account.list_persons(acct)
    check(lst)
    assert lst.object == "list"
    assert lst.url == "/v1/accounts/%s/persons" % acct
    ids = [x.id for x in lst.data]
    assert {rep.id, own.id, dire.id} <= set(ids)
    assert all(x.account == acct for x in lst.data)

    owners = stripe.Account.list_persons(acct, relationship={"owner": True})
    check(owners)
    assert [x.id for x in owners.data] == [own.id]
    directors = stripe.Account.list_persons(acct, relationship={"director": True})
    assert [x.id for x in directors.data] == [dire.id]
    reps = stripe.Account.list_persons(acct, relationship={"representative": True})
    assert [x.id for x in reps.data] == [rep.id]

    page = stripe.Account.list_persons(acct, limit=1)
    check(page)
    assert len(page.data) == 1 and page.has_more is True


def test_retrieve_person(company_account):
    acct = company_account.id
    p = stripe.Account.create_person(acct, first_name="Retrieve", last_name="Me", relationship={"director": True})
    got = stripe.Account.retrieve_person(acct, p.id)
    check(got)
    assert got.to_dict() == p.to_dict()


def test_modify_person(company_account):
    acct = company_account.id
    p = stripe.Account.create_person(
        acct, first_name="Old", last_name="Name", relationship={"owner": True, "percent_ownership": 10}, metadata={"a": "1"}
    )
    u = stripe.Account.modify_person(
        acct, p.id, first_name="New", relationship={"percent_ownership": 75, "title": "CFO"}, metadata={"b": "2"}
    )
    check(u)
    assert u.id == p.id
    assert u.first_name == "New" and u.last_name == "Name"
    assert u.relationship.owner is True  # untouched relationship flags survive
    assert u.relationship.percent_ownership == 75
    assert u.relationship.title == "CFO"
    assert u.metadata.to_dict() == {"a": "1", "b": "2"}
    assert stripe.Account.retrieve_person(acct, p.id).first_name == "New"


def test_delete_person(company_account):
    acct = company_account.id
    p = stripe.Account.create_person(acct, first_name="Gone", last_name="Soon", relationship={"director": True})
    d = stripe.Account.delete_person(acct, p.id)
    check(d)
    assert d.to_dict() == {"id": p.id, "object": "person", "deleted": True}
    expect_error(stripe.InvalidRequestError, stripe.Account.retrieve_person, acct, p.id, status=404, code="resource_missing")
    assert p.id not in [x.id for x in stripe.Account.list_persons(acct).data]


def test_person_of_other_account_is_not_reachable(company_account):
    other = create_custom_account("US", "company")
    p = stripe.Account.create_person(company_account.id, first_name="Mine", last_name="Only")
    expect_error(stripe.InvalidRequestError, stripe.Account.retrieve_person, other.id, p.id, status=404, code="resource_missing")


def test_create_person_unknown_parameter_changes_nothing(company_account):
    acct = company_account.id
    before = [x.id for x in stripe.Account.list_persons(acct).data]
    expect_error(
        stripe.InvalidRequestError,
        stripe.Account.create_person,
        acct,
        first_name="X",
        favourite_colour="blue",
        status=400,
        code="parameter_unknown",
        param="favourite_colour",
    )
    expect_error(
        stripe.InvalidRequestError,
        stripe.Account.create_person,
        acct,
        relationship={"owner": True, "percent_ownership": "lots"},
        status=400,
    )
    assert [x.id for x in stripe.Account.list_persons(acct).data] == before


def test_individual_account_exposes_individual_person():
    a = create_custom_account("US", "individual", individual={"first_name": "Solo", "last_name": "Trader"})
    assert a.individual.object == "person"
    assert a.individual.account == a.id
    assert a.individual.first_name == "Solo"
    assert a.individual.id.startswith("person_")
    assert a.individual.last_name == "Trader"


def test_individual_present_once_business_type_is_individual():
    # "This property is null unless business_type is set to individual" -- and then it is a person
    a = create_custom_account("US", "individual")
    assert "individual" in a, "account with business_type=individual lacks `individual`"
    assert a.individual.object == "person"
    assert a.individual.account == a.id
    assert a.individual.first_name is None
