"""A procedural world for multi-hop search: fictional people, films, bands, cities, companies and countries.

Everything is generated from a seed, so the facts cannot be memorised by a pretrained language model and the
search tool is needed. A world has three splits (``train``, ``dev``, ``test``) with **disjoint entity sets**:
every fictional word (a family name, a city, a film's proper noun...) is assigned to exactly one split by a
hash of the seed and the word, and each split's world is built only from its own words.

Each entity has an encyclopedia-style page (6-9 sentences). The first sentence defines the entity; the other
facts come in a shuffled order, so some of them are among the five sentences ``search`` shows and others need
``lookup``. Pages link entities by their exact titles: a film page names its director, the director's page
names the city of birth, and so on.

Questions follow HotpotQA's two styles:

* **bridge** (2-4 hops): a chain of relations from a named entity, ending in an attribute or a name, e.g.
  *"In what year was the city where the founder of the company Dravon Pictures is headquartered founded?"*;
  ``hops`` counts the pages an expert must read.
* **comparison**: two entities of one kind compared on an attribute (*"Which film was released first, A or
  B?"*) or checked for a shared value (*"Were A and B born in the same city?"*, answered ``yes``/``no``).

``distractors`` controls confusable namesakes: names come in clusters of ``distractors + 1`` entities that
share a stem (``Orla Venmark`` and ``Tavis Venmark``; ``Kelvar``, ``North Kelvar`` and ``Kelvar Falls``).

Example:
    >>> w = build_world(seed=0, size=120, split="train")
    >>> t = w.question(0)
    >>> t.id, t.type in ("bridge", "comparison"), len(t.titles) >= 2
    ('train-0', True, True)
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from toolgym.envs.search.corpus import Corpus
from toolgym.envs.search.tasks import QATask
from toolgym.error import ConfigError, UnknownTaskError
from toolgym.rng import rand_elem

__all__ = ["SPLITS", "Entity", "World", "build_world"]

SPLITS: tuple[str, ...] = ("train", "dev", "test")
KINDS: tuple[str, ...] = ("country", "city", "person", "company", "film", "band")

_ONSETS: tuple[str, ...] = tuple("b d f g k l m n p r s t v z br dr gr kr tr st th sh qu h w j c fl sk".split()) + ("",)
_NUCLEI = ("a", "e", "i", "o", "u", "a", "e", "o", "ai", "ei", "ou", "ia", "y", "ae")
_CODAS = ("", "", "", "", "n", "r", "l", "s", "th", "m", "nd", "rk", "st", "x", "v", "ll", "rn")
_GIVEN_END = ("a", "o", "is", "en", "el", "ia", "an", "ir", "eth", "ys")
_NOUNS = (
    "Lantern", "Orchard", "Harbour", "Mirror", "Garden", "Winter", "Crown", "Signal", "Compass", "Meridian",
    "Ember", "Tide", "Archive", "Letter", "Voyage", "Summer", "Shadow", "Valley", "Engine", "Bridge", "Feather",
    "Island", "Tower", "Ribbon", "Anchor", "Comet", "Harvest", "Mountain", "Glass", "Thunder",
)  # fmt: skip
_GENRES_FILM = ("drama", "comedy", "thriller", "science fiction", "historical", "musical", "crime", "adventure")
_GENRES_BAND = ("rock", "folk", "jazz", "electronic", "indie pop", "punk", "soul", "metal")
_OCCUPATIONS = ("novelist", "architect", "painter", "engineer", "journalist", "chemist")
_OTHER_INDUSTRIES = (
    ("Motors", "carmaker"),
    ("Foods", "food company"),
    ("Systems", "software company"),
    ("Textiles", "textile manufacturer"),
    ("Airways", "airline"),
    ("Holdings", "holding company"),
)
_STUDIO_SUFFIX = ("Pictures", "Studios", "Films")
_LABEL_SUFFIX = ("Records", "Music", "Sound")
_CURRENCY = ("crown", "mark", "florin", "thaler", "ducat", "real")
_CITY_VARIANTS = ("North {}", "{} Falls", "Port {}", "{} Heights", "New {}", "{} Crossing")
_FILM_PATTERNS = ("The {w} {n}", "{n} of {w}", "Return to {w}", "The Last {n} of {w}", "{w} {n}s", "The {w} Affair")
_BAND_PATTERNS = ("The {w} {n}s", "{w} Collective", "{w} and the {n}s", "The {w} Quartet", "{w} {n}")


def _crc(seed: int, word: str) -> int:
    return zlib.crc32(f"{seed}:{word.lower()}".encode())


@dataclass
class Entity:
    """One entity of the world.

    Attributes:
        kind: ``"country"``, ``"city"``, ``"person"``, ``"company"``, ``"film"`` or ``"band"``.
        title: The page title (unique in the world).
        attrs: Attribute values (``"year"``, ``"population"``...).
        rels: Relations to other entities, by title (``"director"``, ``"birthplace"``...).
        sentences: The page's sentences.
        facts: The sentence index of each attribute and relation.
    """

    kind: str
    title: str
    attrs: dict[str, Any] = field(default_factory=dict)
    rels: dict[str, str] = field(default_factory=dict)
    sentences: list[str] = field(default_factory=list)
    facts: dict[str, int] = field(default_factory=dict)


# Relations: (source kind, relation) -> (target kind, noun phrase around the inner phrase {x}).
RELATIONS: dict[tuple[str, str], tuple[str, str]] = {
    ("film", "director"): ("person", "the director of {x}"),
    ("film", "lead"): ("person", "the lead actor of {x}"),
    ("film", "studio"): ("company", "the studio that produced {x}"),
    ("film", "location"): ("city", "the city where {x} was filmed"),
    ("band", "singer"): ("person", "the lead singer of {x}"),
    ("band", "label"): ("company", "the record label of {x}"),
    ("band", "origin"): ("city", "the city where {x} was formed"),
    ("company", "founder"): ("person", "the founder of {x}"),
    ("company", "hq"): ("city", "the city where {x} is headquartered"),
    ("person", "birthplace"): ("city", "the birthplace of {x}"),
    ("city", "country"): ("country", "the country that contains {x}"),
    ("country", "capital"): ("city", "the capital of {x}"),
}
# Final attributes of bridge questions: kind -> [(attribute, question template)].
ATTRIBUTES: dict[str, list[tuple[str, str]]] = {
    "person": [("born", "In what year was {x} born?")],
    "city": [
        ("founded", "In what year was {x} founded?"),
        ("population", "What is the population of {x}?"),
        ("river", "On which river does {x} lie?"),
    ],
    "company": [("founded", "In what year was {x} founded?")],
    "film": [("year", "In what year was {x} released?")],
    "band": [("formed", "In what year was {x} formed?")],
    "country": [("currency", "What is the currency of {x}?")],
}
_MENTION = {
    "film": "the film {t}",
    "band": "the band {t}",
    "company": "the company {t}",
    "city": "the city of {t}",
    "person": "{t}",
    "country": "{t}",
}


class _Namer:
    """Fictional words for one split: only words whose hash lands in the split, never twice."""

    def __init__(self, rng: np.random.Generator, seed: int, split_index: int) -> None:
        self.rng = rng
        self.seed = seed
        self.split_index = split_index
        self.used: set[str] = set()

    def _syllable(self, first: bool) -> str:
        r = self.rng
        onset = rand_elem(r, _ONSETS)
        nucleus = rand_elem(r, _NUCLEI)
        coda = rand_elem(r, _CODAS) if not first or r.random() < 0.5 else ""
        return onset + nucleus + coda

    def raw(self, syllables: tuple[int, int] = (2, 3)) -> str:
        lo, hi = syllables
        n = lo if hi == lo or self.rng.random() < 0.75 else int(self.rng.integers(lo + 1, hi + 1))
        word = "".join(self._syllable(i == 0) for i in range(n))
        return word[:1].upper() + word[1:]

    def stem(self, syllables: tuple[int, int] = (2, 3)) -> str:
        """A new word that belongs to this split."""
        while True:
            w = self.raw(syllables)
            if not 4 <= len(w) <= 10 or w.lower() in self.used:
                continue
            if _crc(self.seed, w) % len(SPLITS) != self.split_index:
                continue
            self.used.add(w.lower())
            return w

    def given(self) -> str:
        """A given name (given names are not entities and may recur across splits)."""
        w = self.raw((1, 2))
        return w + rand_elem(self.rng, _GIVEN_END)


_COUNTRY_SUFFIX = {"ia": "ian", "ora": "oran", "and": "ish", "esh": "i", "ar": "ese", "ania": "anian", "en": "ian"}


def _demonym(country: str) -> str:
    for sfx in sorted(_COUNTRY_SUFFIX, key=len, reverse=True):
        if country.endswith(sfx):
            return country[: -len(sfx)] + _COUNTRY_SUFFIX[sfx]
    return country + "ian"


def _a(word: str) -> str:
    """``"a word"`` or ``"an word"`` by the first letter."""
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def _fmt_int(n: int) -> str:
    return f"{n:,}"


class World:
    """One split of a generated world: entities, pages, corpus, and questions by number.

    Build it with :func:`build_world` (cached per seed, size, distractors and split).
    """

    def __init__(
        self,
        *,
        seed: int,
        size: int,
        distractors: int,
        split: str,
        hops: Sequence[int] = (2, 3, 4),
        comparison: float = 0.2,
    ) -> None:
        """Generate the split (see :func:`build_world` for the arguments)."""
        if split not in SPLITS:
            raise ConfigError(f"MultiHop split: expected one of {list(SPLITS)}, got {split!r}.")
        if not isinstance(size, int) or size < 60:
            raise ConfigError(f"MultiHop size: expected an integer of at least 60 pages, got {size!r}.")
        if not isinstance(distractors, int) or not 0 <= distractors <= 5:
            raise ConfigError(f"MultiHop distractors: expected an integer from 0 to 5, got {distractors!r}.")
        self.seed, self.size, self.distractors, self.split = seed, size, distractors, split
        self.hops, self.comparison = self._check_questions(hops, comparison)
        self.split_index = SPLITS.index(split)
        rng = np.random.default_rng([seed, self.split_index, size, distractors, 1])
        self.entities: dict[str, Entity] = {}
        self.by_kind: dict[str, list[str]] = {k: [] for k in KINDS}
        self._generate(rng, _Namer(rng, seed, self.split_index))
        self.corpus = Corpus.from_pages(
            [(e.title, " ".join(e.sentences)) for e in self.entities.values()],
            source=f"MultiHop world seed={seed} size={size} distractors={distractors} split={split}",
        )

    @staticmethod
    def _check_questions(hops: Sequence[int], comparison: float) -> tuple[tuple[int, ...], float]:
        bad = [h for h in hops if h not in (2, 3, 4)]
        if not hops or bad:
            raise ConfigError(f"MultiHop hops: expected values among 2, 3, 4, got {list(hops)!r}.")
        if not isinstance(comparison, (int, float)) or not 0.0 <= float(comparison) <= 1.0:
            raise ConfigError(f"MultiHop comparison: expected a fraction in [0, 1], got {comparison!r}.")
        return tuple(sorted(set(int(h) for h in hops))), float(comparison)

    def __reduce__(self):  # pickle the recipe: the world is regenerated (or found in the cache)
        return (_rebuild_world, (self.seed, self.size, self.distractors, self.split, self.hops, self.comparison))

    def with_questions(self, *, hops: Sequence[int], comparison: float) -> World:
        """The same world (entities, pages, corpus shared) with other question settings."""
        other = object.__new__(World)
        other.__dict__.update(self.__dict__)
        other.hops, other.comparison = self._check_questions(hops, comparison)
        return other

    # ------------------------------------------------------------------ generation
    def _add(self, e: Entity) -> Entity:
        self.entities[e.title] = e
        self.by_kind[e.kind].append(e.title)
        return e

    def _clusters(self, n: int) -> list[int]:
        """Split ``n`` entities into clusters of ``distractors + 1`` (the last may be smaller)."""
        k = self.distractors + 1
        return [min(k, n - i) for i in range(0, n, k)]

    def _generate(self, rng: np.random.Generator, namer: _Namer) -> None:
        s = self.size
        counts = {
            "country": max(3, s // 60),
            "city": max(8, s // 6),
            "person": max(20, (2 * s) // 5),
            "company": max(6, s // 8),
            "film": max(8, s // 6),
            "band": max(5, s // 10),
        }

        def pick(seq: Sequence[Any]) -> Any:
            return rand_elem(rng, seq)

        def unique(title: str) -> str | None:
            return None if title in self.entities else title

        # countries
        for _ in range(counts["country"]):
            name = namer.stem((1, 2)) + pick(tuple(_COUNTRY_SUFFIX))
            self._add(Entity("country", name, {"currency": f"{_demonym(name)} {pick(_CURRENCY)}"}))
        countries = list(self.by_kind["country"])
        # cities
        for size in self._clusters(counts["city"]):
            w = namer.stem()
            variants = ["{}", *[_CITY_VARIANTS[i] for i in rng.permutation(len(_CITY_VARIANTS))]]
            for v in variants[:size]:
                title = unique(v.format(w))
                if title is None:
                    continue
                self._add(
                    Entity(
                        "city",
                        title,
                        {
                            "founded": int(rng.integers(1050, 1900)),
                            "population": int(rng.integers(15, 2500)) * 1000,
                            "river": f"{namer.stem((2, 2))} River",
                            "stem": w,
                        },
                        {"country": pick(countries)},
                    )
                )
        cities = list(self.by_kind["city"])
        for c in countries:  # a capital in the country itself when possible
            own = [t for t in cities if self.entities[t].rels["country"] == c]
            self.entities[c].rels["capital"] = pick(own) if own else pick(cities)
        # people: directors, actors, singers, entrepreneurs and others
        roles = ["film director"] * 3 + ["actor"] * 4 + ["singer"] * 3 + ["entrepreneur"] * 3 + list(_OCCUPATIONS)
        for size in self._clusters(counts["person"]):
            family = namer.stem()
            for _ in range(size):
                title = unique(f"{namer.given()} {family}")
                if title is None:
                    continue
                birthplace = pick(cities)
                residence = pick([c for c in cities if c != birthplace])
                self._add(
                    Entity(
                        "person",
                        title,
                        {
                            "born": int(rng.integers(1900, 1996)),
                            "occupation": pick(roles),
                            "pronoun": pick(("She", "He")),
                            "residence": residence,
                            "stem": family,
                        },
                        {"birthplace": birthplace},
                    )
                )
        people = list(self.by_kind["person"])

        def people_with(occupation: str) -> list[str]:
            found = [p for p in people if self.entities[p].attrs["occupation"] == occupation]
            return found or people

        directors, actors = people_with("film director"), people_with("actor")
        singers, founders = people_with("singer"), people_with("entrepreneur")
        # companies: film studios, record labels and others, named in clusters that share a stem
        for size in self._clusters(counts["company"]):
            w = namer.stem()
            for _ in range(size):
                u = rng.random()
                if u < 0.35:
                    sfx, industry = pick(_STUDIO_SUFFIX), "film studio"
                elif u < 0.7:
                    sfx, industry = pick(_LABEL_SUFFIX), "record label"
                else:
                    sfx, industry = pick(_OTHER_INDUSTRIES)
                title = unique(f"{w} {sfx}")
                if title is None:
                    continue
                founder = pick(founders)
                year = min(2020, self.entities[founder].attrs["born"] + int(rng.integers(22, 55)))
                self._add(
                    Entity(
                        "company",
                        title,
                        {"founded": year, "industry": industry, "staff": int(rng.integers(20, 9000)), "stem": w},
                        {"founder": founder, "hq": pick(cities)},
                    )
                )
        companies = list(self.by_kind["company"])
        studios = [c for c in companies if self.entities[c].attrs["industry"] == "film studio"] or companies
        labels = [c for c in companies if self.entities[c].attrs["industry"] == "record label"] or companies
        # films
        for size in self._clusters(counts["film"]):
            w = namer.stem()
            patterns = [_FILM_PATTERNS[i] for i in rng.permutation(len(_FILM_PATTERNS))]
            for pat in patterns[:size]:
                title = unique(pat.format(w=w, n=pick(_NOUNS)))
                if title is None:
                    continue
                director = pick(directors)
                year = min(2023, self.entities[director].attrs["born"] + int(rng.integers(24, 60)))
                self._add(
                    Entity(
                        "film",
                        title,
                        {
                            "year": year,
                            "genre": pick(_GENRES_FILM),
                            "minutes": int(rng.integers(78, 170)),
                            "festival": f"{namer.stem((2, 2))} Film Festival",
                            "stem": w,
                        },
                        {"director": director, "lead": pick(actors), "studio": pick(studios), "location": pick(cities)},
                    )
                )
        # bands
        for size in self._clusters(counts["band"]):
            w = namer.stem()
            patterns = [_BAND_PATTERNS[i] for i in rng.permutation(len(_BAND_PATTERNS))]
            for pat in patterns[:size]:
                title = unique(pat.format(w=w, n=pick(_NOUNS)))
                if title is None:
                    continue
                singer = pick(singers)
                year = min(2022, self.entities[singer].attrs["born"] + int(rng.integers(16, 40)))
                self._add(
                    Entity(
                        "band",
                        title,
                        {"formed": year, "genre": pick(_GENRES_BAND), "albums": int(rng.integers(2, 12)), "stem": w},
                        {"singer": singer, "label": pick(labels), "origin": pick(cities)},
                    )
                )
        for e in self.entities.values():
            self._write_page(e, rng, namer)

    def _country_of(self, city: str) -> str:
        return self.entities[city].rels["country"]

    def _write_page(self, e: Entity, rng: np.random.Generator, namer: _Namer) -> None:
        """Write the page's sentences: the definition first, then the other facts and fillers shuffled."""
        a, r, t = e.attrs, e.rels, e.title
        facts: list[tuple[tuple[str, ...], str]] = []
        first: tuple[tuple[str, ...], str]
        fillers: list[str] = []
        if e.kind == "country":
            first = (("name",), f"{t} is a sovereign country.")
            facts += [(("capital",), f"Its capital and largest city is {r['capital']}.")]
            facts += [(("currency",), f"The currency of {t} is the {a['currency']}.")]
            fillers += [
                f"{t} has a population of about {int(rng.integers(2, 90))} million people.",
                f"The official language of {t} is {_demonym(t)}.",
                f"{t} is divided into {int(rng.integers(4, 30))} provinces.",
                f"The national anthem of {t} is called {namer.stem()}.",
            ]
        elif e.kind == "city":
            first = (("country",), f"{t} is a city in {r['country']}.")
            facts += [(("founded",), f"{t} was founded in {a['founded']}.")]
            facts += [(("population",), f"{t} has a population of {_fmt_int(a['population'])}.")]
            facts += [(("river",), f"The city lies on the {a['river']}.")]
            fillers += [
                f"{t} is known for its {rng.choice(['spice', 'flower', 'fish', 'book', 'horse'])} market.",
                f"The {namer.stem()} Bridge crosses the river near the old town.",
                f"The local football club plays at {namer.stem()} Park.",
                f"Its cathedral dates from the {int(rng.integers(12, 19))}th century.",
            ]
        elif e.kind == "person":
            pron, pos = a["pronoun"], "her" if a["pronoun"] == "She" else "his"
            surname = t.split()[-1]
            demonym = _demonym(self._country_of(r["birthplace"]))
            first = (("born", "occupation"), f"{t} (born {a['born']}) is {_a(demonym)} {a['occupation']}.")
            facts += [(("birthplace",), f"{pron} was born in {r['birthplace']}.")]
            fillers += [
                f"{pron} studied at the {namer.stem()} Academy.",
                f"{surname} is a keen {rng.choice(['sailor', 'chess player', 'gardener', 'climber', 'collector'])}.",
                f"Before {pos} career took off, {surname} worked as a {rng.choice(['teacher', 'clerk', 'waiter'])}.",
            ]
            moved = a["born"] + int(rng.integers(20, 40))
            if moved <= 2023:
                fillers.append(f"{surname} has lived in {a['residence']} since {moved}.")
            else:
                fillers.append(f"{surname} now lives in {a['residence']}.")
            prize = a["born"] + int(rng.integers(25, 60))
            if prize <= 2023:
                fillers.append(f"In {prize}, {surname} received the {namer.stem()} Prize.")
        elif e.kind == "company":
            first = (
                ("founded", "founder", "industry"),
                f"{t} is {_a(a['industry'])} founded in {a['founded']} by {r['founder']}.",
            )
            facts += [(("hq",), f"The company is headquartered in {r['hq']}.")]
            fillers += [
                f"{t} employs about {_fmt_int(a['staff'])} people.",
                f"Its logo, a {rng.choice(['red', 'blue', 'golden', 'green'])} {rng.choice(_NOUNS).lower()}, "
                "has not changed since the early years.",
                f"In {min(2023, a['founded'] + int(rng.integers(3, 30)))}, {t} opened a second office abroad.",
                f"The company's archive is kept at the {namer.stem()} Institute.",
            ]
        elif e.kind == "film":
            demonym = _demonym(self._country_of(r["location"]))
            first = (
                ("year", "director"),
                f"{t} is a {a['year']} {demonym} {a['genre']} film directed by {r['director']}.",
            )
            facts += [(("lead",), f"{r['lead']} plays the leading role.")]
            facts += [(("studio",), f"The film was produced by {r['studio']}.")]
            facts += [(("location",), f"Principal photography took place in {r['location']}.")]
            fillers += [
                f"{t} premiered at the {a['festival']} in {a['year']}.",
                f"The film runs for {a['minutes']} minutes.",
                f"It received {rng.choice(['mixed', 'warm', 'glowing', 'lukewarm'])} reviews from critics.",
                f"The score was recorded in {int(rng.integers(4, 30))} days.",
            ]
        else:  # band
            first = (
                ("formed", "origin"),
                f"{t} is {_a(a['genre'])} band formed in {r['origin']} in {a['formed']}.",
            )
            facts += [(("singer",), f"The band's lead singer is {r['singer']}.")]
            facts += [(("label",), f"{t} is signed to {r['label']}.")]
            fillers += [
                f"{t} has released {a['albums']} studio albums.",
                f"Their debut album was called {namer.stem()} {rng.choice(_NOUNS)}.",
                f"The group tours every {rng.choice(['spring', 'summer', 'autumn', 'winter'])}.",
                f"Critics often compare {t} to the early {namer.stem()} scene.",
            ]
        low = min(max(2, 6 - len(facts)), len(fillers))
        n_fill = int(rng.integers(low, len(fillers) + 1))
        body = facts + [((), fillers[int(i)]) for i in rng.permutation(len(fillers))[:n_fill]]
        body = [body[int(i)] for i in rng.permutation(len(body))]
        for keys, sentence in [first, *body]:
            for k in keys:
                e.facts[k] = len(e.sentences)
            e.sentences.append(sentence)

    # ------------------------------------------------------------------ questions
    def task_id(self, n: int) -> str:
        """The id of question ``n``."""
        return f"{self.split}-{n}"

    def parse_task_id(self, task_id: str) -> int:
        """The question number of a task id (raises :class:`UnknownTaskError`)."""
        head, _, tail = task_id.rpartition("-")
        if head != self.split or not tail.isdigit():
            raise UnknownTaskError(task_id, f"MultiHop ({self.split} split)", [self.task_id(i) for i in range(20)])
        return int(tail)

    def question(self, n: int) -> QATask:
        """Question number ``n`` of this split (any non-negative integer; deterministic)."""
        rng = np.random.default_rng([self.seed, self.split_index, n, 2])
        want_comparison = rng.random() < self.comparison
        for _ in range(200):
            task = self._comparison(rng, n) if want_comparison else self._bridge(rng, n)
            if task is not None:
                return task
        raise ConfigError(f"MultiHop: could not generate question {n}; try a larger world (size=...).")

    def _fact(self, title: str, key: str) -> tuple[str, str]:
        e = self.entities[title]
        return (title, e.sentences[e.facts[key]])

    def _bridge(self, rng: np.random.Generator, n: int) -> QATask | None:
        hops = int(rand_elem(rng, self.hops))
        name_final = rng.random() < 0.35
        n_rel = hops if name_final else hops - 1
        kinds = [k for k in KINDS if self.by_kind[k]]
        start_kind = rand_elem(rng, kinds)
        start = rand_elem(rng, self.by_kind[start_kind])
        path, rels = [start], []
        for _ in range(n_rel):
            e = self.entities[path[-1]]
            options = [rel for (k, rel) in RELATIONS if k == e.kind]
            if not options:
                return None
            rel = rand_elem(rng, options)
            nxt = e.rels[rel]
            if nxt in path:
                return None
            rels.append(rel)
            path.append(nxt)
        phrase = _MENTION[self.entities[start].kind].format(t=start)
        for title, rel in zip(path, rels):
            phrase = RELATIONS[(self.entities[title].kind, rel)][1].format(x=phrase)
        supporting = [self._fact(title, rel) for title, rel in zip(path, rels)]
        last = self.entities[path[-1]]
        if name_final:
            question = f"What is the name of {phrase}?"
            answer = last.title
            titles = path[:-1]
        else:
            attr, template = rand_elem(rng, ATTRIBUTES[last.kind])
            question = template.format(x=phrase)
            value = last.attrs[attr]
            answer = _fmt_int(value) if attr == "population" else str(value)
            supporting.append(self._fact(last.title, attr))
            titles = path
        question = question[0].upper() + question[1:]
        return QATask(
            id=self.task_id(n),
            question=question,
            answer=answer,
            type="bridge",
            titles=tuple(titles),
            supporting=tuple(supporting),
            extra=(("hops", len(titles)), ("split", self.split)),
        )

    def _comparison(self, rng: np.random.Generator, n: int) -> QATask | None:
        styles = [
            ("film", "year", "Which film was released first, {a} or {b}?"),
            ("person", "born", "Who was born first, {a} or {b}?"),
            ("band", "formed", "Which band was formed first, {a} or {b}?"),
            ("company", "founded", "Which company was founded first, {a} or {b}?"),
            ("city", "population", "Which city has the larger population, {a} or {b}?"),
            ("person", "birthplace", "Were {a} and {b} born in the same city?"),
            ("film", "director", "Were the films {a} and {b} directed by the same person?"),
            ("city", "country", "Are {a} and {b} located in the same country?"),
        ]
        kind, key, template = rand_elem(rng, styles)
        pool = self.by_kind[kind]
        if len(pool) < 2:
            return None
        a = rand_elem(rng, pool)
        ea = self.entities[a]
        same = key in ("birthplace", "director", "country")
        if same and rng.random() < 0.5:  # a "yes" question: a partner with the same value
            partners = [p for p in pool if p != a and self.entities[p].rels[key] == ea.rels[key]]
        elif rng.random() < 0.5:  # a namesake from the same cluster when there is one
            partners = [p for p in pool if p != a and self.entities[p].attrs.get("stem") == ea.attrs.get("stem")]
        else:
            partners = [p for p in pool if p != a]
        if not partners:
            return None
        b = rand_elem(rng, partners)
        eb = self.entities[b]
        if same:
            answer = "yes" if ea.rels[key] == eb.rels[key] else "no"
        else:
            va, vb = ea.attrs[key], eb.attrs[key]
            if va == vb:
                return None
            answer = (a if va < vb else b) if key != "population" else (a if va > vb else b)
        return QATask(
            id=self.task_id(n),
            question=template.format(a=a, b=b),
            answer=answer,
            type="comparison",
            titles=(a, b),
            supporting=(self._fact(a, key), self._fact(b, key)),
            extra=(("hops", 2), ("split", self.split)),
        )


@functools.lru_cache(maxsize=8)
def _cached_world(seed: int, size: int, distractors: int, split: str) -> World:
    return World(seed=seed, size=size, distractors=distractors, split=split)


@functools.lru_cache(maxsize=16)
def _cached_variant(
    seed: int, size: int, distractors: int, split: str, hops: tuple[int, ...], comparison: float
) -> World:
    return _cached_world(seed, size, distractors, split).with_questions(hops=hops, comparison=comparison)


def _rebuild_world(
    seed: int, size: int, distractors: int, split: str, hops: tuple[int, ...], comparison: float
) -> World:
    return build_world(seed=seed, size=size, distractors=distractors, split=split, hops=hops, comparison=comparison)


def build_world(
    *,
    seed: int = 0,
    size: int = 600,
    distractors: int = 2,
    split: str = "train",
    hops: Sequence[int] = (2, 3, 4),
    comparison: float = 0.2,
) -> World:
    """Generate (or fetch from the in-process cache) one split of a world.

    Args:
        seed: The world seed: names, facts and questions all derive from it.
        size: About how many pages the split has (at least 60).
        distractors: Namesakes per name stem (0-5): clusters of ``distractors + 1`` confusable entities.
        split: ``"train"``, ``"dev"`` or ``"test"`` (disjoint entity sets).
        hops: The bridge-question hop counts to draw from (2, 3 and/or 4 pages to read).
        comparison: The fraction of comparison questions.

    Returns:
        The world split (shared between envs with the same arguments; treat it as read-only). Worlds that
        differ only in ``hops`` or ``comparison`` share their entities, pages and corpus.
    """
    key = (int(seed), int(size), int(distractors), split)
    base = _cached_world(*key)
    if tuple(hops) == base.hops and float(comparison) == base.comparison:
        return base
    return _cached_variant(*key, tuple(sorted(set(int(h) for h in hops))), float(comparison))
