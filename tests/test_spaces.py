import pickle

from toolgym.spaces import Utf8Text


def test_contains_any_unicode():
    s = Utf8Text(20)
    assert "search[Café]" in s
    assert "日本語 テキスト" in s
    assert "" in s
    assert "x" * 21 not in s
    assert 3 not in s and b"bytes" not in s


def test_min_length():
    s = Utf8Text(5, min_length=2)
    assert "a" not in s and "ab" in s


def test_sample_is_seeded_and_valid():
    a, b = Utf8Text(100), Utf8Text(100)
    a.seed(3)
    b.seed(3)
    xs = [a.sample() for _ in range(50)]
    assert xs == [b.sample() for _ in range(50)]
    assert all(x in a for x in xs)
    assert len(set(xs)) > 40


def test_equality_and_pickle():
    assert Utf8Text(10) == Utf8Text(10) != Utf8Text(11)
    assert pickle.loads(pickle.dumps(Utf8Text(10))) == Utf8Text(10)
