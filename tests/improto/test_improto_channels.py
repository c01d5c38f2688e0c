import pytest

from improto import ChannelName, g_channel, p_channel, parse_channel

MAX = 2**63 - 1


def test_builders():
    assert p_channel(7, 3) == "p:3:7"
    assert p_channel(3, 7) == "p:3:7"
    assert p_channel(5, 5) == "p:5:5"
    assert g_channel(9) == "g:9"
    assert g_channel(MAX) == f"g:{MAX}"


@pytest.mark.parametrize("bad", [0, -1, True, 1.0, "3", None, MAX + 1])
def test_builders_reject_non_ids(bad):
    with pytest.raises(ValueError):
        p_channel(bad, 3)
    with pytest.raises(ValueError):
        p_channel(3, bad)
    with pytest.raises(ValueError):
        g_channel(bad)


def test_parse_private():
    assert parse_channel("p:3:7") == ChannelName(kind="p", a=3, b=7, group=None, name="p:3:7")
    assert parse_channel("p:5:5").a == 5


def test_parse_group():
    assert parse_channel("g:9") == ChannelName(kind="g", a=None, b=None, group=9, name="g:9")
    assert str(parse_channel("g:9")) == "g:9"


@pytest.mark.parametrize(
    "bad",
    [
        "p:7:3",  # not ordered
        "p:03:7",  # leading zero
        "p:3:07",
        "g:0",
        "g:00",
        "g:01",
        "p:0:3",
        "g:-1",
        "g:+1",
        "p:3",
        "p:3:7:9",
        "g:9:1",
        "g:",
        "g",
        "",
        "x:1",
        "G:1",
        "P:1:2",
        " g:1",
        "g:1 ",
        "g:1\n",
        "g: 1",
        "g:1_000",
        "g:1.0",
        "g:1e3",
        "g:\u0663",  # ARABIC-INDIC DIGIT THREE: int() would accept it
        "p:\uff11:2",  # FULLWIDTH DIGIT ONE
        f"g:{MAX + 1}",
        f"p:1:{MAX + 1}",
        "g:" + "9" * 62,  # 64 characters, but beyond 64-bit ids
        "g:" + "1" * 63,  # 65 characters
    ],
)
def test_parse_rejects_non_canonical(bad):
    with pytest.raises(ValueError):
        parse_channel(bad)


@pytest.mark.parametrize("bad", [None, 9, b"g:9", ["g:9"], {"g": 9}, 9.0])
def test_parse_rejects_non_strings(bad):
    with pytest.raises(ValueError):
        parse_channel(bad)


def test_parse_accepts_largest_ids():
    assert parse_channel(f"g:{MAX}").group == MAX
    name = f"p:{MAX}:{MAX}"
    assert len(name) <= 64
    assert parse_channel(name).b == MAX


def test_builders_round_trip():
    assert parse_channel(p_channel(9, 2)).name == "p:2:9"
    assert parse_channel(g_channel(4)).group == 4
