"""authorizer.gateway.response: the answers API Gateway takes from an authorizer."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from authorizer.gateway.response import (
    ContextValue,
    flat_context,
    iam_policy,
    simple_response,
    unauthorized,
)
from authorizer.tooling.local import apigw

ARN = apigw.method_arn("GET", "/employees/42")


@pytest.mark.parametrize("effect", ["Allow", "Deny"])
def test_iam_policy(effect: Any) -> None:
    resources = [ARN, apigw.method_arn("GET", "/employees/*")]
    context: dict[str, ContextValue] = {
        "principal": "U::alice",
        "tenant": "acme",
        "n": 2,
        "ok": True,
    }
    policy = iam_policy("alice", effect, resources, context)
    assert policy == {
        "principalId": "alice",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resources}
            ],
        },
        "context": context,
    }
    assert json.loads(json.dumps(policy)) == policy


def test_iam_policy_copies_its_inputs() -> None:
    resources, context = (ARN,), {"tenant": "acme"}
    policy = iam_policy("alice", "Allow", resources, context)
    assert policy["policyDocument"]["Statement"][0]["Resource"] == [ARN]  # a list, as AWS wants
    context["tenant"] = "globex"
    assert policy["context"] == {"tenant": "acme"}


@pytest.mark.parametrize("allowed", [True, False])
def test_simple_response(allowed: bool) -> None:
    context = {"principal": "alice"}
    response = simple_response(allowed, context)
    assert response == {"isAuthorized": allowed, "context": {"principal": "alice"}}
    assert response["isAuthorized"] is allowed
    context["principal"] = "mallory"
    assert response["context"] == {"principal": "alice"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("text", "text"),
        ("", ""),
        (0, 0),
        (1.5, 1.5),
        (True, True),
        (False, False),
        (["p1", "p2"], "p1,p2"),
        (("p1",), "p1"),
        ([], ""),
        (None, None),
        ([1, 2], None),
        (["a", None], None),
        ({"nested": "x"}, None),
        ({"a", "b"}, None),
        (b"bytes", None),
    ],
)
def test_flat_context(value: object, expected: object) -> None:
    """None in ``expected``: the key is left out."""
    out = flat_context({"k": value, "kept": "yes"})
    assert out["kept"] == "yes"
    if expected is None:
        assert "k" not in out
    else:
        assert out["k"] == expected
        assert type(out["k"]) is type(expected)


# Non-finite floats are dropped: see below.
JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(st.dictionaries(st.text(max_size=8), JSONISH, max_size=6))
def test_flat_context_holds_only_what_api_gateway_accepts(values: dict[str, object]) -> None:
    out = flat_context(values)
    assert set(out) <= set(values)
    assert all(isinstance(v, str | int | float | bool) for v in out.values())
    json.dumps(out, allow_nan=False)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_flat_context_drops_non_finite_numbers(value: float) -> None:
    json.dumps(flat_context({"k": value}), allow_nan=False)


def test_unauthorized_raises_the_exact_exception_api_gateway_turns_into_401() -> None:
    with pytest.raises(Exception) as caught:  # the contract is this exact type
        unauthorized()
    assert type(caught.value) is Exception
    assert caught.value.args == ("Unauthorized",)
