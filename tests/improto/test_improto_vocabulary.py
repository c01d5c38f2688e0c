"""The protocol's words are defined once and the frame builders refuse any other."""

import pytest

from improto import ERROR_CODES, OFFLINE_REASONS, ProtocolError, error, message, offline
from improto import vocabulary as words


def test_offline_reasons_are_the_contract_ones():
    assert set(OFFLINE_REASONS) == {
        "rebalance", "shutdown", "kicked", "replaced", "logout", "slow", "flood", "expired",
    }
    assert words.OFFLINE_REASONS is OFFLINE_REASONS


@pytest.mark.parametrize("reason", OFFLINE_REASONS)
def test_offline_frame_for_every_reason(reason):
    assert offline(reason=reason, reconnect=None) == {
        "type": "offline", "reason": reason, "reconnect": None,
    }


def test_offline_frame_refuses_an_unknown_reason():
    with pytest.raises(ValueError, match="offline reason"):
        offline(reason="bored", reconnect=None)


@pytest.mark.parametrize("code", sorted(ERROR_CODES))
def test_error_frame_for_every_code(code):
    assert error(code=code, message="m")["code"] == code
    assert ProtocolError(code, "m").to_frame()["code"] == code


def test_error_frame_and_exception_refuse_an_unknown_code():
    with pytest.raises(ValueError, match="error code"):
        error(code="oops", message="m")
    with pytest.raises(ValueError, match="error code"):
        ProtocolError("oops", "m")


def test_server_and_sdk_build_the_message_frame_with_the_same_function():
    from imclient.models import Message
    from messaging.store.base import StoredMessage

    stored = StoredMessage(channel="g:3", seq=4, ts=5, sender_id=7, client_id="c-1",
                           type="text", body={"text": "hi"}, group_id=3)
    frame = stored.to_frame()
    assert frame == message(type="text", id="c-1", channel="g:3", seq=4, ts=5, sender=7,
                            body={"text": "hi"}, group=3)
    assert list(frame) == list(Message.from_frame(frame).to_dict())
    assert Message.from_frame(frame).to_dict() == frame
    private = StoredMessage(channel="p:1:2", seq=1, ts=1, sender_id=1, client_id="c",
                            type="emoji", body={"emoji": ":)"}, recipient_id=2)
    assert private.to_frame()["to"] == 2 and "group" not in private.to_frame()
