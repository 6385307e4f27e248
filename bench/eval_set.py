"""The offline agent's evaluation set: spoken-style questions with the words a good answer has.

The agent under test is ``examples/weather.py`` (its instructions, its ``lookup_weather`` tool
and its greeting). Each item is a question as a user would say it, its kind (``fact``,
``instruction``, ``tool``, ``persona``), the keywords of which an answer must contain at least one
(lower case, matched on word boundaries; for ``tool`` items, words of the tool's result), and for
``tool`` items the city the call must name. ``contradictions`` lists what no answer may do
against the agent's instructions ("one or two short sentences, without any formatting", "a
friendly voice assistant" that "can look up the weather").

Shared by ``bench/bench_offline_eval.py`` (answers, WER), ``bench/bench_offline_latency.py`` (last
word to first audio) and ``tests/e2e/test_offline_agent.py`` (a few items, in CI).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["GREETING_KEYWORDS", "HELD_OUT", "ITEMS", "Item", "contradictions", "has_keyword"]


@dataclass(frozen=True, slots=True)
class Item:
    question: str
    kind: str
    keywords: tuple[str, ...]
    city: str | None = None  # tool items: the location the call must name


def _fact(q: str, *kw: str) -> Item:
    return Item(q, "fact", kw)


def _do(q: str, *kw: str) -> Item:
    return Item(q, "instruction", kw)


def _tool(q: str, city: str) -> Item:
    words = {"tokyo": ("sunny", "24"), "paris": ("cloudy", "15"), "london": ("rain", "rainy", "12")}
    return Item(q, "tool", words[city], city)


def _persona(q: str, *kw: str) -> Item:
    return Item(q, "persona", kw)


ITEMS: tuple[Item, ...] = (
    _fact("What is the capital of France?", "paris"),
    _fact("What's the capital of Japan?", "tokyo"),
    _fact("How many days are there in a week?", "seven", "7"),
    _fact("What color is the sky on a clear day?", "blue"),
    _fact("Which is the largest planet in our solar system?", "jupiter"),
    _fact("Who wrote Romeo and Juliet?", "shakespeare"),
    _fact("What is two plus two?", "four", "4"),
    _fact("How many legs does a spider have?", "eight", "8"),
    _fact("At what temperature does water boil in Celsius?", "100", "hundred"),
    _fact("What language do people speak in Spain?", "spanish"),
    _fact("What do bees make?", "honey"),
    _fact("How many hours are there in a day?", "24", "twenty-four", "twenty four"),
    _fact("What do you call frozen water?", "ice"),
    _fact("What is the opposite of hot?", "cold"),
    _fact("Which animal is called the king of the jungle?", "lion"),
    _fact("What planet do we live on?", "earth"),
    _fact("What is the capital of Italy?", "rome"),
    _fact("How many months are there in a year?", "twelve", "12"),
    _do("Say hello in French.", "bonjour"),
    _do("Can you count from one to five?", "five", "5"),
    _do("Name a fruit that is yellow.", "banana", "bananas", "lemon", "lemons", "pineapple"),
    _do("Give me a word that rhymes with cat.", "hat", "bat", "mat", "rat", "sat", "fat", "pat",
        "that"),
    _do("Name three colors.", "red", "blue", "green", "yellow"),
    _do("How do you say thank you in Spanish?", "gracias"),
    _do("What day comes after Monday?", "tuesday"),
    _do("Suggest something healthy for breakfast.", "oatmeal", "eggs", "egg", "fruit", "yogurt",
        "toast", "cereal", "smoothie", "oats", "berries"),
    _do("Tell me a short joke.", "why", "because", "what do you call", "knock"),
    _do("Give me one tip for sleeping better.", "sleep", "bed", "bedtime", "screen", "screens",
        "caffeine", "schedule", "routine"),
    _tool("What is the weather in Tokyo?", "tokyo"),
    _tool("How's the weather in Paris today?", "paris"),
    _tool("Is it raining in London right now?", "london"),
    _tool("What's the temperature in Tokyo?", "tokyo"),
    _tool("Can you check the weather in Paris for me?", "paris"),
    _tool("Tell me the weather in London.", "london"),
    _tool("What's it like outside in Tokyo today?", "tokyo"),
    _tool("Do I need an umbrella in London?", "london"),
    _tool("Is it sunny in Paris?", "paris"),
    _tool("I'm flying to Tokyo, what's the weather there?", "tokyo"),
    _persona("Who are you?", "assistant"),
    _persona("What can you do for me?", "weather"),
    _persona("Are you a person or a computer?", "assistant", "ai", "computer", "not a person",
             "virtual"),
    _persona("What kind of assistant are you?", "voice", "weather", "friendly"),
)

HELD_OUT: tuple[Item, ...] = (
    # Paraphrases kept out of the tuning of the prompt and the tool routing (written before
    # it): the same kinds, other words, and place questions that are not about the weather.
    _tool("Will it rain in Paris today?", "paris"),
    _tool("How hot is it in Tokyo?", "tokyo"),
    _tool("What's the forecast for London?", "london"),
    _tool("Should I wear a jacket in Paris?", "paris"),
    _tool("Is it cold in London today?", "london"),
    _tool("Tell me about the weather in Tokyo, please.", "tokyo"),
    _tool("Is the sun out in Tokyo?", "tokyo"),
    _tool("What's the weather like in London this morning?", "london"),
    _fact("What language do people speak in Japan?", "japanese"),
    _fact("What is the capital of Germany?", "berlin"),
    _fact("Which country is London in?", "england", "uk", "united kingdom", "britain"),
    _fact("What continent is Japan in?", "asia"),
    _fact("What is Paris famous for?", "eiffel", "tower", "art", "fashion", "food", "museums",
          "louvre", "romance", "love"),
    _fact("How many minutes are in an hour?", "sixty", "60"),
    _fact("What color is grass?", "green"),
    _fact("What animal says meow?", "cat", "cats", "kitten"),
    _do("Say goodbye in Spanish.", "adios", "adiós"),
    _do("What month comes after January?", "february"),
    _do("Name a vegetable.", "carrot", "carrots", "potato", "potatoes", "broccoli", "tomato",
        "tomatoes", "onion", "spinach", "lettuce", "cabbage", "pepper", "peas", "beans", "corn",
        "cucumber"),
    _persona("What are you able to help with?", "weather"),
    _persona("Are you a robot?", "assistant", "ai", "computer", "not a person", "virtual"),
    _persona("What is your job?", "voice", "weather", "assistant"),
)
"""Held out: never used to tune; reported beside ``ITEMS`` (``--held-out``)."""

GREETING_KEYWORDS = ("city", "weather")
"""Words of which the weather agent's greeting ("ask which city they want the weather for")
must say at least one."""

_FORMATTING = re.compile(r"[*#`_|\[\]<>{}]|^\s*(?:[-•]|\d+[.)])\s", re.MULTILINE)
_OTHER_IDENTITY = re.compile(r"\b(?:smollm|hugging ?face|openai|chatgpt|i am a human|"
                             r"i'm a human|i am a person|i'm a person)\b", re.IGNORECASE)
_DENIES_WEATHER = re.compile(
    r"\b(?:can(?:no|')?t|cannot|unable to|don't have access|do not have access|not able to)\b"
    r"[^.!?]*\b(?:weather|real[- ]time|current)", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?…]+(?=\s|$)")


def has_keyword(text: str, keywords: tuple[str, ...]) -> bool:
    """Whether ``text`` says one of ``keywords`` (whole words, case-insensitive)."""
    low = text.lower()
    return any(re.search(rf"(?<![a-z0-9]){re.escape(k)}(?![a-z0-9])", low) for k in keywords)


def contradictions(text: str) -> list[str]:
    """How ``text`` goes against the weather agent's instructions (empty: it does not)."""
    found = []
    if _FORMATTING.search(text) or "\n" in text.strip():
        found.append("formatting")
    if len(_SENTENCE_END.findall(text.strip())) > 2:
        found.append("more than two sentences")
    if _OTHER_IDENTITY.search(text):
        found.append("another identity")
    if _DENIES_WEATHER.search(text):
        found.append("denies the weather tool")
    return found
