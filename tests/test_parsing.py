import pytest

from toolgym.parsing import (
    AnyOf,
    BracketGrammar,
    CommandGrammar,
    FencedCodeGrammar,
    JsonToolGrammar,
    ParsedAction,
    ParseError,
    normalize_command,
    split_thought,
)

TOOLS = {"search": "entity", "lookup": "keyword", "finish": "answer"}
G = AnyOf((BracketGrammar(TOOLS), JsonToolGrammar(TOOLS)))


@pytest.mark.parametrize(
    "text, name, arg",
    [
        ("search[Paris]", "search", "Paris"),
        ("Search[Paris]", "search", "Paris"),
        ("Action 2: Search[Milhouse]", "search", "Milhouse"),
        ("Thought 1: I should look.\nAction 1: lookup[born]", "lookup", "born"),
        ("search[Milhouse [The Simpsons]] and then more", "search", "Milhouse [The Simpsons]"),
        ("finish[]", "finish", ""),
        ("  FINISH[ yes ]  ", "finish", "yes"),
        ("> Action: finish[1,059,303]", "finish", "1,059,303"),
        ("**Action 3:** search[x]", "search", "x"),
        ('{"tool": "search", "args": {"query": "Paris"}}', "search", "Paris"),
        ('{"name": "finish", "arguments": "{\\"answer\\": \\"no\\"}"}', "finish", "no"),
        ('{"action": "Lookup", "action_input": "born"}', "lookup", "born"),
        ('Sure! ```json\n{"tool": "finish", "args": "Paris"}\n```', "finish", "Paris"),
    ],
)
def test_parses(text, name, arg):
    out = G.parse(text)
    assert isinstance(out, ParsedAction), out
    assert (out.name, out.argument) == (name, arg)


@pytest.mark.parametrize(
    "text, kind, fragment",
    [
        ("I think the answer is Paris", "no_match", "expected one of search[<entity>]"),
        ("serch[Paris]", "unknown_tool", "unknown tool 'serch'"),
        ("search[Paris", "unclosed", "no closing bracket"),
        ('{"tool": "google", "args": "x"}', "unknown_tool", "google"),
        ("", "no_match", "got ''"),
    ],
)
def test_errors_are_precise(text, kind, fragment):
    out = G.parse(text)
    assert isinstance(out, ParseError)
    assert out.kind == kind
    assert fragment in out.message


def test_error_snippet_is_bounded():
    out = G.parse("x" * 10_000)
    assert isinstance(out, ParseError) and len(out.message) < 400


def test_split_thought():
    assert split_thought("search[x]") == (None, "search[x]")
    assert split_thought("Thought: hmm\nAction: search[x]") == ("hmm", "search[x]")


def test_fenced_code():
    g = FencedCodeGrammar()
    a = g.parse("Let me test:\n```python\nprint(1)\n```\nok")
    assert (a.name, a.argument) == ("execute", "print(1)")
    s = g.parse("Submit:\n```python\ndef f(): pass\n```")
    assert s.name == "submit"
    unterminated = g.parse("```python\nprint(2)")
    assert unterminated.argument == "print(2)"
    assert isinstance(g.parse("no code here"), ParseError)
    assert isinstance(g.parse("```bash\nls\n```"), ParseError)


def test_commands():
    g = CommandGrammar(("go to", "take", "think:", "look"), examples=("go to fridge 1",))
    a = g.parse("Action 4: Go to  Fridge 1.")
    assert (a.name, a.argument) == ("go to", "go to fridge 1")
    assert g.parse("think: I need an apple").name == "think"
    assert g.parse("look").name == "look"
    err = g.parse("fly away")
    assert isinstance(err, ParseError) and "'go to'" in err.message and "fridge 1" in err.message
    assert normalize_command("> take apple 1 from table 1\nmore") == "take apple 1 from table 1"
