"""Writes the demo's sample dataset: a few hundred documents mixing good prose, boilerplate,
exact and near duplicates, PII and other languages. Every sentence here was written for this
project. Run from the project root: `python configs/sample_data/generate.py`."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

HERE = Path(__file__).resolve().parent

TOPICS = {
    "gardening": [
        "Tomatoes grow best when they receive at least six hours of direct sunlight every day.",
        "A layer of mulch keeps the soil moist and stops most weeds from taking hold.",
        "Many gardeners rotate their crops each season so that pests find fewer familiar hosts.",
        "Compost made from kitchen scraps adds nutrients and improves the structure of clay soil.",
        "Watering early in the morning gives the leaves time to dry before the evening chill.",
        "Beans and peas fix nitrogen, which is why they are often planted before hungry crops.",
        "Seedlings started indoors should be hardened off for a week before they are moved outside.",
        "The first frost of autumn usually marks the end of the season for basil and peppers.",
    ],
    "astronomy": [
        "The light we see from distant galaxies left them long before the Earth had formed.",
        "Jupiter is so large that all the other planets could fit inside it with room to spare.",
        "A solar eclipse happens when the Moon passes directly between the Sun and the Earth.",
        "Astronomers measure the distance to nearby stars by watching how they shift over a year.",
        "The rings of Saturn are made mostly of ice, with a smaller amount of rock and dust.",
        "On a clear night far from city lights, thousands of stars are visible to the naked eye.",
        "Comets are icy bodies that develop bright tails when their orbits bring them near the Sun.",
        "The Moon always shows the same face to the Earth because its rotation is locked to its orbit.",
    ],
    "cooking": [
        "Bread dough needs time to rest so that the gluten can relax and the yeast can work.",
        "Salt added at the start of cooking draws moisture out of vegetables and deepens their flavour.",
        "A sharp knife is safer than a dull one because it needs less force and slips less often.",
        "Onions cooked slowly over low heat turn sweet and golden after about forty minutes.",
        "Rice should be rinsed before cooking to wash away the loose starch that makes it sticky.",
        "Most soups taste better on the second day, once the flavours have had time to blend.",
        "Letting meat rest after roasting keeps the juices inside when it is finally carved.",
        "Fresh herbs are best added at the end, while dried herbs can simmer from the beginning.",
    ],
    "history": [
        "The printing press made books cheaper and helped ideas travel across the whole continent.",
        "Ancient traders crossed deserts in caravans, carrying silk, spices and news between cities.",
        "Many old towns grew up beside rivers, which supplied water, food and an easy route for trade.",
        "The invention of the mechanical clock changed the way people organised their working days.",
        "Libraries in the ancient world copied scrolls by hand, a task that could take many months.",
        "Early railways shortened journeys that had once taken a week to less than a single day.",
        "Historians compare letters, diaries and official records to understand what really happened.",
        "The spread of public schools in the nineteenth century raised literacy across many countries.",
    ],
    "software": [
        "Version control lets a team see who changed each line of code and why they changed it.",
        "A good test fails for exactly one reason and tells the reader what went wrong.",
        "Reading data in small batches keeps memory use steady, however large the input grows.",
        "Clear error messages name the file and the line, so the user can fix the problem quickly.",
        "Caching the result of an expensive computation can make a program many times faster.",
        "Writing files under a temporary name and renaming them afterwards avoids half-written output.",
        "Code reviews catch mistakes early and spread knowledge of the system across the team.",
        "A program that gives the same output for the same input is much easier to debug.",
    ],
}

BOILERPLATE = [
    "Home | About us | Products | Contact\nLogin\nSign up\nCart (0)\nFollow us on social media",
    "This website uses cookies to improve your experience. By continuing to browse you accept our cookie policy.\nAccept\nDecline",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.",
    "Please enable JavaScript to view this page.\nYour browser does not support javascript.",
    "Click here\nClick here\nClick here\nRead more\nRead more\nRead more\nShare\nShare\nShare",
    "404 Not Found\nThe page you requested could not be found.\nBack to home",
    "BUY NOW!!! BEST PRICES!!! CHEAP CHEAP CHEAP!!! LIMITED OFFER!!! $$$ $$$ $$$",
    "Terms of use | Privacy policy | Copyright 2024 All rights reserved",
]

FOREIGN = {
    "fr": [
        "Le jardin était plein de fleurs au début du printemps, et les enfants jouaient dehors jusqu'au soir.",
        "Nous avons pris le train pour visiter nos grands-parents qui habitent dans un petit village près de la mer.",
        "La bibliothèque municipale organise chaque mois une rencontre avec un auteur de la région.",
        "Il faut laisser reposer la pâte pendant une heure avant de la mettre au four.",
    ],
    "de": [
        "Im Herbst fallen die Blätter von den Bäumen, und die Tage werden langsam kürzer und kälter.",
        "Die Bahn fährt jede halbe Stunde in die Stadt, aber am Sonntag nur einmal pro Stunde.",
        "Meine Nachbarin backt jeden Samstag frisches Brot und bringt uns oft ein Stück vorbei.",
        "Der Verein sucht neue Mitglieder, die gerne in der Natur unterwegs sind und wandern.",
    ],
    "es": [
        "Cada mañana camino hasta el mercado para comprar fruta fresca y pan recién hecho.",
        "La ciudad tiene un museo pequeño pero muy interesante sobre la historia del puerto.",
        "Mis amigos y yo preparamos una cena sencilla y hablamos hasta muy tarde en la terraza.",
        "El río atraviesa el valle y en verano muchas familias se bañan en sus aguas tranquilas.",
    ],
    "zh": [
        "今天天气很好，我们一家人去公园散步，看到很多人在湖边钓鱼。",
        "这家小饭馆的面条非常好吃，每天中午都有很多人排队。",
        "图书馆周末开放到晚上九点，学生们常常在那里复习功课。",
        "春天来了，山上的花都开了，到处都是红色和黄色的颜色。",
    ],
    "ru": [
        "Летом мы всей семьёй ездим на дачу, где выращиваем овощи и собираем ягоды.",
        "В нашем городе открылась новая библиотека с большим читальным залом.",
        "Каждое утро я пью чай и читаю новости, прежде чем идти на работу.",
        "Зимой в парке заливают каток, и по вечерам там всегда много людей.",
    ],
}

PII = [
    "You can reach me at jane.doe@example.com or call 555-0142 after six.",
    "Send the invoice to billing.team@example.org; the server is at 192.168.10.24.",
    "My card number is 4111 1111 1111 1111, please do not share it.",
    "Contact Mr. Alan Smith at +1 (212) 555-0199 or alan.smith@example.net for details.",
]


# Slots for composed sentences, so that documents on one topic share a few sentences but are
# not near-duplicates of each other (the near duplicates are made on purpose below).
PEOPLE = ["My neighbour", "The teacher", "A friend of mine", "Our guide", "The old farmer", "My sister",
          "The librarian", "A young engineer", "The baker", "Our coach", "The painter", "A visiting student"]
DOINGS = ["told us about", "wrote a short note on", "spent the afternoon thinking about", "kept asking questions about",
          "gave a careful talk on", "made a list of ideas about", "changed her mind about", "laughed about",
          "read an old book on", "showed the class a film about", "argued for an hour about", "drew a simple map of"]
THINGS = ["the river near the station", "the history of the town hall", "winter evenings by the fire",
          "a broken bicycle wheel", "the price of fresh bread", "the first trains in the valley",
          "a garden full of beans", "the stars above the harbour", "a recipe for onion soup", "the new bridge",
          "an unfinished letter", "the noise of the market", "a storm that closed the roads", "the village fair"]
WHENS = ["last Tuesday", "before the holidays", "during the long summer", "after the meeting",
         "on a rainy morning", "while we waited for the bus", "in the middle of the night", "at the weekend",
         "when the lights went out", "as the snow began to fall", "just before lunch", "on the way home"]


def composed(rng: random.Random) -> str:
    return f"{rng.choice(PEOPLE)} {rng.choice(DOINGS)} {rng.choice(THINGS)} {rng.choice(WHENS)}."


def prose(rng: random.Random, topic: str, n: int) -> str:
    picked = rng.sample(TOPICS[topic], 3) + [composed(rng) for _ in range(n)]
    rng.shuffle(picked)
    cut = max(1, len(picked) // 2)
    return " ".join(picked[:cut]) + "\n\n" + " ".join(picked[cut:])


def documents(seed: int = 7) -> list[dict[str, str]]:
    rng = random.Random(seed)
    docs: list[dict[str, str]] = []
    topics = sorted(TOPICS)
    for i in range(240):
        topic = topics[i % len(topics)]
        text = prose(rng, topic, rng.randint(5, 12))
        kind = "good"
        if i % 10 == 3:
            text = rng.choice(BOILERPLATE) + "\n\n" + text
            kind = "boilerplate_mixed"
        if i % 12 == 5:
            text = text + "\n\n" + rng.choice(PII)
            kind = "pii"
        docs.append({"text": text, "kind": kind, "topic": topic})
    for b in BOILERPLATE:
        for _ in range(3):
            docs.append({"text": b, "kind": "boilerplate", "topic": "web"})
    for lang, sents in sorted(FOREIGN.items()):
        for _ in range(8):
            s = sents[:]
            rng.shuffle(s)
            docs.append({"text": " ".join(s), "kind": f"lang_{lang}", "topic": "foreign"})
    originals = [d for d in docs if d["kind"] == "good"]
    for d in rng.sample(originals, 25):
        docs.append({"text": d["text"], "kind": "exact_duplicate", "topic": d["topic"]})
    for d in rng.sample(originals, 25):
        words = d["text"].split(" ")
        j = rng.randrange(len(words))
        words[j] = words[j].upper()
        docs.append({"text": " ".join(words) + " Thanks for reading.", "kind": "near_duplicate", "topic": d["topic"]})
    for _ in range(10):
        docs.append({"text": rng.choice(["", " ", "ok", "Great!!!", "1 2 3 4 5"]), "kind": "short", "topic": "none"})
    rng.shuffle(docs)
    for n, d in enumerate(docs):
        d["id"] = f"sample-{n:04d}"
    return docs


def main() -> None:
    docs = documents()
    quarter = len(docs) // 4
    parts = [docs[i * quarter : (i + 1) * quarter if i < 3 else len(docs)] for i in range(4)]
    cols = ["id", "text", "kind", "topic"]
    for i, part in enumerate(parts[:2]):
        pq.write_table(pa.table({c: [d[c] for d in part] for c in cols}), HERE / f"part-{i}.parquet", compression="zstd")
    lines = "".join(json.dumps({c: d[c] for c in cols}, ensure_ascii=False) + "\n" for d in parts[2])
    with gzip.GzipFile(HERE / "part-2.jsonl.gz", "wb", mtime=0) as fh:
        fh.write(lines.encode())
    lines = "".join(json.dumps({c: d[c] for c in cols}, ensure_ascii=False) + "\n" for d in parts[3])
    (HERE / "part-3.jsonl.zst").write_bytes(zstandard.ZstdCompressor(level=10).compress(lines.encode()))
    print(f"{len(docs)} documents in 4 shards under {HERE}")


if __name__ == "__main__":
    main()
