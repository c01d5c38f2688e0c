import pickle

import pytest

from improto import CLOSING_CODES, ERROR_CODES, ProtocolError, error


@pytest.mark.parametrize("code", sorted(ERROR_CODES))
def test_closes_exactly_for_the_closing_codes(code):
    closing = {"auth_timeout", "unauthenticated", "bad_token", "bad_frame", "frame_too_large"}
    assert ProtocolError(code, "m").closes is (code in closing)


def test_closing_codes_are_the_contract_ones():
    assert CLOSING_CODES == {
        "auth_timeout",
        "unauthenticated",
        "bad_token",
        "bad_frame",
        "frame_too_large",
    }
    assert CLOSING_CODES < ERROR_CODES


def test_to_frame_and_attributes():
    exc = ProtocolError("forbidden", "not a member of g:9", "c-1")
    assert (exc.code, exc.message, exc.frame_id) == ("forbidden", "not a member of g:9", "c-1")
    assert exc.to_frame() == {
        "type": "error",
        "id": "c-1",
        "code": "forbidden",
        "message": "not a member of g:9",
    }
    assert exc.to_frame() == error(code="forbidden", message="not a member of g:9", id="c-1")
    assert ProtocolError("invalid", "x").to_frame()["id"] is None
    assert str(exc) == "forbidden: not a member of g:9"


def test_pickles():
    exc = pickle.loads(pickle.dumps(ProtocolError("invalid", "bad", "i")))
    assert (exc.code, exc.message, exc.frame_id) == ("invalid", "bad", "i")
