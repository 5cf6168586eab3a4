"""The built-in synthetic multi-scenario dataset (the default; no download needed).

Generative story, one seed for everything:

* ``SYNTHETIC_THEMES`` are latent tastes shared by every scenario. Each item has a
  dominant theme (and, for about a third of items, a secondary one) and its text is
  composed from hand-written word lists of that theme *in its scenario* (outdoors is
  hiking gear in e-commerce, campfire folk in music, national parks in the news), so a
  sentence-embedding model can relate items and users by meaning.
* Item popularity is a Zipf factor (rank^-1) within each scenario.
* A user has a sparse taste over the themes (Dirichlet, 1-3 dominant themes) that
  drifts slowly over their timeline, and activity weights over the scenarios. Their
  history is a sequence of short sessions; a session leans towards one scenario and
  one theme. Items are drawn without repeats with probability proportional to
  ``exp(beta * affinity + gamma * log popularity + noise)``, so popularity is a real but
  beatable baseline and the last items of a user follow their recent ones.
* Ratings (1-5) rise with affinity; timestamps (int64 seconds) increase per user over
  2023. A ``profile_fraction`` of users get a one-sentence profile from their top themes,
  with noise (a wrong or extra theme now and then).

The catalog of a scenario depends only on ``(seed, scenario, items_per_scenario)``, so
it does not change with ``n_users`` or with the other scenarios chosen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, overload

import numpy as np
import pandas as pd

from fedrec.data.schema import RecDataset
from fedrec.data.validate import validate_dataset
from fedrec.errors import ConfigError

SYNTHETIC_THEMES: tuple[str, ...] = (
    "outdoors",
    "technology",
    "arts",
    "wellness",
    "family",
    "sports",
    "food",
    "finance",
    "science",
    "fashion",
)
SYNTHETIC_SCENARIOS: tuple[str, ...] = ("ecommerce", "music", "news", "movies", "books")

_EPOCH = 1_672_531_200  # 2023-01-01T00:00:00Z
_YEAR = 365 * 86_400
_BETA = 5.0  # weight of taste affinity (0..1) in the choice logit
_GAMMA = 0.75  # weight of log popularity in the choice logit
_NOISE_SD = 0.6  # per user-item idiosyncratic noise in the choice logit
_TASTE_ALPHA = 0.25  # Dirichlet concentration of tastes: small = few dominant themes
_ACTIVITY_ALPHA = 0.8  # Dirichlet concentration of scenario activity
_DRIFT = 0.35  # weight of a new taste mixed in by the end of a user's timeline
_SESSION_MEAN = 5  # mean events per session
_SESSION_THEME = 0.4  # how much a session leans to one theme
_SESSION_SCENARIO = 0.7  # how much a session leans to one scenario
_SECONDARY = 0.3  # share of items with a secondary theme
_GENERIC = 0.25  # chance that a title slot uses a theme-free word (noise)

# Per scenario and theme: title slots A | B | C | labels G [| extra X], comma lists.
# ecommerce: "{A} {B} {C}", G category.  music: "{A} {B} {C}", G genre, X mood.
# news: "{A} {B} {C}" (subject verb object), G section.
# movies/books: "[The] {A} {C}", B keywords/topics, G genre.
_VOCAB = {
    "ecommerce": """
outdoors: Lightweight, Waterproof, Insulated, Rugged, Packable, All-weather | trail, hiking,
 camping, backcountry, alpine, kayaking | running shoes, backpack, tent, rain jacket, headlamp,
 sleeping bag, trekking poles | Sports & Outdoors, Camping & Hiking
technology: Wireless, Smart, Noise-cancelling, Ultra-slim, Fast-charging, 4K | bluetooth,
 gaming, USB-C, home office, Wi-Fi, portable | headphones, laptop stand, mechanical keyboard,
 webcam, power bank, monitor, router | Electronics, Computers & Accessories
arts: Handcrafted, Archival, Artist-grade, Vintage, Illustrated, Hand-painted | watercolor,
 oil paint, sketching, calligraphy, vinyl record, gallery | paint set, easel, sketchbook,
 brush kit, art print, picture frame | Arts & Crafts, Art & Music Supplies
wellness: Organic, Calming, Ergonomic, Non-slip, Aromatherapy, Restorative | yoga, meditation,
 sleep, massage, herbal, mindfulness | mat, cushion, oil diffuser, foam roller, tea blend,
 weighted blanket | Health & Personal Care, Wellness & Relaxation
family: Kid-safe, Educational, Cozy, Durable, Colorful, Family-size | toddler, nursery,
 board game, playroom, baby, school | building blocks, stroller, play tent, puzzle,
 bedding set, lunchbox | Toys & Games, Baby & Nursery
sports: Pro-grade, Breathable, Adjustable, Competition, Shock-absorbing, Team | basketball,
 soccer, tennis, cycling, gym, boxing | ball, racket, gloves, jersey, training cones,
 dumbbell set | Sports & Fitness, Team Sports
food: Cast-iron, Nonstick, Artisanal, Stainless steel, Gourmet, Hand-forged | chef's, baking,
 espresso, barbecue, spice, pasta | skillet, knife set, stand mixer, coffee grinder,
 spice rack, dutch oven | Kitchen & Dining, Grocery & Gourmet Food
finance: Executive, Leather, Secure, Fireproof, Professional, Budget | office, business,
 accounting, desk, briefcase, ledger | planner, calculator, document safe, wallet,
 filing organizer, fountain pen | Office Products, Business Supplies
science: Precision, Digital, High-magnification, Lab-grade, Astronomical, STEM | telescope,
 microscope, chemistry, robotics, solar system, weather station | kit, lens set, model,
 starter set, sensor, globe | Science & Education, STEM Toys & Lab Equipment
fashion: Tailored, Silk, Designer, Slim-fit, Cashmere, Embroidered | evening, runway, linen,
 denim, streetwear, wool | dress, blazer, handbag, sneakers, scarf, sunglasses |
 Clothing & Accessories, Fashion
""",
    "music": """
outdoors: Mountain, Campfire, Open Road, Wild River, Northern Trail, Desert Wind | Folk,
 Acoustic, Banjo, Bluegrass, Harmonica, Americana | Songs, Ballads, Journeys, Anthems,
 Stories | Folk, Americana, Country | adventurous, free-spirited, earthy, wistful
technology: Digital, Neon, Circuit, Binary, Cyber, Pixel | Synth, Electronic, Techno, Glitch,
 Modular, Chiptune | Dreams, Signals, Loops, Frequencies, Code | Electronic, Synthwave, Techno
 | futuristic, pulsing, hypnotic, mechanical
arts: Midnight, Gallery, Velvet, Renaissance, Bohemian, Moonlit | Saxophone, Piano,
 String Quartet, Cello, Jazz Trio, Opera | Sessions, Nocturnes, Suites, Sonatas, Serenades |
 Jazz, Classical, Chamber music | mellow, elegant, contemplative, romantic
wellness: Deep, Tranquil, Healing, Gentle, Breathing, Morning | Meditation, Ambient,
 Sound Bath, Zen, Yoga Flow, Rainfall | Soundscapes, Mantras, Waves, Retreat, Stillness |
 Ambient, New Age, Meditation | calm, soothing, peaceful, relaxing
family: Bedtime, Sunny Day, Little, Happy, Sing-Along, Backyard | Lullaby, Nursery Rhyme,
 Kids, Family, Playground, Storytime | Songs, Favorites, Party, Tunes, Rhymes |
 Children's music, Family | playful, cheerful, sweet, silly
sports: Stadium, Victory, Power, Game Day, Champion, Full Throttle | Workout, Rock, Hype,
 Cardio, Training, Arena | Anthems, Beats, Mix, Playlist, Hits | Rock, Hip-hop, Workout |
 energetic, intense, motivating, pumped-up
food: Sunday Brunch, Kitchen, Wine Bar, Café, Trattoria, Spice Market | Bossa Nova, Swing,
 Latin, Lounge, Soul, Mandolin | Grooves, Serenades, Classics, Evenings, Standards |
 Bossa nova, Lounge, Latin | warm, laid-back, festive, cosy
finance: Money, Boardroom, Hustle, Big City, Wall Street, Empire | Hip-hop, Trap, Funk, R&B,
 Rap, Boom-bap | Moves, Ambitions, Deals, Fortunes, Chronicles | Hip-hop, Rap, R&B |
 confident, driven, bold, ambitious
science: Cosmic, Stellar, Quantum, Orbital, Deep Space, Nebula | Post-rock, Space Ambient,
 Orchestral, Progressive, Minimalist, Drone | Voyage, Horizons, Odyssey, Observations,
 Equations | Post-rock, Space ambient, Progressive rock | vast, curious, awe-struck, cosmic
fashion: Runway, Glamour, Velvet Rope, Disco, Chic, Paris | Pop, Dance, House, Nu-Disco,
 Electropop, Club | Hits, Remixes, Nights, Strut, Sparkle | Pop, Dance, House |
 glamorous, flirty, upbeat, sassy
""",
    "news": """
outdoors: National park, Mountain town, Wildlife ranger, Hiking club, Coastal village,
 Climbing team | opens, expands, restores, celebrates, protects, maps | new hiking trails,
 backcountry campsites, a river kayaking route, an old-growth forest, alpine huts,
 a scenic coastal path | Travel, Environment, Outdoors
technology: Tech giant, Startup, Chipmaker, Software firm, App developer, Security researcher
 | unveils, launches, tests, patches, acquires, releases | a new smartphone,
 an AI assistant, faster chips, an open-source tool, a data privacy update, a cloud platform
 | Technology, Science & Tech
arts: City museum, Local theater, Art gallery, Symphony orchestra, Famous painter,
 Film festival | unveils, hosts, restores, celebrates, premieres, reopens |
 a modern art exhibition, a Shakespeare revival, a jazz festival, a sculpture garden,
 a poetry series, rare manuscripts | Arts & Culture, Entertainment
wellness: Health agency, Research team, Yoga studio, Sleep clinic, Nutritionist,
 Hospital | recommends, studies, promotes, warns about, explores, backs | daily meditation,
 better sleep habits, stress reduction, mental health support, gentle exercise,
 plant-based diets | Health, Wellness
family: Parent group, School district, Local library, Daycare center, Pediatrician,
 Community center | launches, expands, welcomes, debates, offers, plans |
 free summer camps, a new playground, reading programs for kids, parental leave,
 after-school activities, family movie nights | Family & Parenting, Education, Local
sports: Home team, Star striker, Tennis champion, Head coach, Olympic sprinter, League |
 wins, clinches, defends, breaks, signs, celebrates | the championship title,
 a record-breaking season, a new contract, the playoff final, a world record,
 the derby match | Sports
food: Celebrity chef, Local bakery, Food critic, Farmers market, Restaurant, Winemaker |
 opens, reviews, celebrates, revives, serves, launches | a farm-to-table menu,
 seasonal recipes, a street food festival, sourdough workshops, regional cuisine,
 a vintage harvest | Food & Drink, Lifestyle
finance: Central bank, Investor group, Stock market, City council, Economist,
 Small business | raises, debates, approves, forecasts, cuts, weighs | interest rates,
 a new budget, quarterly earnings, tax reform, inflation, retirement savings |
 Business, Economy, Local politics
science: Space agency, Physics lab, Research team, Climate scientist, Geologist,
 Observatory | discovers, observes, measures, maps, confirms, detects |
 a distant exoplanet, gravitational waves, a new deep-sea species, ancient fossils,
 dark matter clues, a passing comet | Science, Space
fashion: Fashion designer, Fashion week, Luxury brand, Supermodel, Stylist, Boutique |
 showcases, unveils, debuts, celebrates, revives, launches | a spring collection,
 sustainable fabrics, vintage streetwear, bold runway looks, a couture line,
 a sneaker collaboration | Fashion, Style
""",
    "movies": """
outdoors: Wild, Frozen, Lost, Endless, Hidden, Distant | mountain climbing, survival,
 road trip, wilderness, river rafting, expedition | Summit, River, Wilderness, Expedition,
 Trail, Canyon | Adventure, Survival drama
technology: Synthetic, Virtual, Electric, Silicon, Encrypted, Artificial |
 artificial intelligence, hackers, robots, virtual reality, surveillance, tech startup |
 Code, Mind, Network, Protocol, Machine, Signal | Sci-fi thriller, Techno-thriller
arts: Painted, Silent, Velvet, Bohemian, Moonlit, Unfinished | painters, theater troupe,
 jazz musicians, ballet, poetry, art forgery | Canvas, Stage, Sonata, Muse, Masterpiece,
 Gallery | Drama, Biopic, Musical
wellness: Quiet, Gentle, Healing, Still, Open, Mindful | recovery, meditation retreat, grief,
 self-discovery, mental health, yoga | Heart, Breath, Garden, Retreat, Path, Morning |
 Feel-good drama, Slice of life
family: Little, Happy, Magical, Backyard, Brave, Lucky | siblings, family vacation,
 talking animals, summer camp, grandparents, adoption | Family, Puppy, Treehouse, Holiday,
 Kids, Neighbors | Family, Animation, Comedy
sports: Fearless, Unbeaten, Underdog, Golden, Fast, Winning | underdog team, boxing,
 championship, coach, Olympics, comeback | Season, Goal, Round, Champion, Match, Sprint |
 Sports drama
food: Sweet, Spicy, Delicious, Rustic, Saucy, Seasoned | chefs, restaurant kitchen,
 baking contest, vineyard, street food, family recipes | Recipe, Kitchen, Feast, Bakery,
 Harvest, Table | Culinary comedy, Romance, Food documentary
finance: Billion-Dollar, Corporate, Risky, Hostile, Offshore, Leveraged | Wall Street,
 stock fraud, bank heist, startup founders, hostile takeover, insider trading | Deal,
 Fortune, Empire, Margin, Bet, Ledger | Crime drama, Financial thriller
science: Cosmic, Quantum, Orbital, Dark, Infinite, Stellar | astronauts, space station,
 time travel, alien contact, scientists, deep ocean | Orbit, Horizon, Planet, Star,
 Equation, Frontier | Science fiction, Space adventure
fashion: Glamorous, Scarlet, Couture, Vintage, Silk, Stylish | fashion designers,
 supermodels, runway, magazine editors, Paris, luxury brands | Runway, Dress, Icon,
 Atelier, Look, Wardrobe | Romantic comedy, Drama
""",
    "books": """
outdoors: Wild, Northern, Lonely, High, Untamed, Open | hiking, mountaineering,
 wilderness survival, national parks, sailing, long-distance trails | Trail, Summit, Woods,
 Coast, Road, River | Travel memoir, Adventure nonfiction
technology: Digital, Intelligent, Connected, Programmable, Automated, Future |
 artificial intelligence, software engineering, the internet, cybersecurity, startups,
 robots | Machine, Algorithm, Network, Code, Revolution, Platform | Technology, Computing
arts: Painted, Golden, Forgotten, Unfinished, Velvet, Lyrical | painting, art history, music,
 theater, poetry, museums | Canvas, Portrait, Symphony, Muse, Gallery, Masterpiece |
 Art history, Literary fiction
wellness: Mindful, Calm, Healthy, Restful, Balanced, Joyful | meditation, sleep,
 mental health, yoga, stress, habits | Mind, Body, Habit, Breath, Life, Year | Self-help,
 Health
family: Happy, Little, Sleepy, Brave, Busy, Loving | parenting, bedtime stories, siblings,
 family life, childhood, toddlers | Family, Bear, Home, Parent, Bedtime, Kids | Parenting,
 Children's picture book
sports: Unstoppable, Perfect, Relentless, Winning, Fearless, Fast | football,
 marathon running, basketball, coaching, training, the Olympics | Game, Season, Champion,
 Playbook, Race, Team | Sports biography, Sports
food: Rustic, Simple, Italian, Slow, Spicy, Vegetarian | cooking, baking, recipes, wine,
 vegetarian meals, bread | Kitchen, Table, Cookbook, Bakery, Feast, Pantry | Cookbook,
 Food writing
finance: Intelligent, Wealthy, Frugal, Rich, Smart, Disciplined | investing,
 personal finance, the stock market, economics, entrepreneurship, retirement planning |
 Investor, Money, Fortune, Economy, Portfolio, Millionaire | Business, Personal finance
science: Elegant, Infinite, Cosmic, Selfish, Quantum, Curious | physics, astronomy, evolution,
 the universe, biology, climate | Universe, Cosmos, Gene, Particle, Planet, Discovery |
 Popular science, Science
fashion: Stylish, Chic, Timeless, Tailored, Vintage, Effortless | fashion history,
 personal style, designers, wardrobe, couture, models | Wardrobe, Style, Closet, Icon,
 Dress, Look | Fashion, Style guide
""",
}
# Theme-free words for slot A (noise that carries no taste signal).
_GENERIC_A = {
    "ecommerce": "Classic, Everyday, Premium, Compact, Deluxe, Essential, Modern, Original",
    "music": "Golden, Blue, Summer, Electric, Endless, Secret, Silver, Late Night",
    "news": "City hall, Local group, Regional council, National agency, Government",
    "movies": "Last, Final, Silent, Broken, Second, Long, Hidden, Secret",
    "books": "Little, Secret, Long, Last, Great, Hidden, Quiet, Whole",
}
_FIRST = "Ava Noah Mia Liam Zoe Ethan Lena Omar Priya Mateo Hana Felix Nora Kai Iris Jonas"
_LAST = "Hart Okafor Lindqvist Moreau Tanaka Reyes Novak Brennan Castillo Wexler Adeyemi Marsh"
_BRANDS = "Northpeak Lumatek Everwell Brightnest Kitchly Fernwood Solace Orbix Vantage Helio"
_MOVIE_LEAD = ("Beyond", "Return to", "Escape from", "Secrets of", "Journey to", "Legend of")
_BOOK_SUB = ("A Guide to", "Notes on", "Stories of", "Lessons in", "A History of", "Essays on")
_REGIONS = ("National", "Local", "International", "Europe", "Asia", "Americas")
_PRICE = (80, 120, 35, 30, 40, 45, 50, 40, 70, 90)  # median price per theme (USD)

# Per theme: personas | interest clauses (for profiles).
_PROFILE = """
outdoors: Weekend hiker, Trail runner, Camping enthusiast | spends weekends in the mountains,
 loves camping under the stars, plans every holiday around national parks, kayaks on lakes
technology: Software engineer, Gadget lover, Tech hobbyist | follows tech news,
 builds gaming PCs, tries every new app and gadget, reads about artificial intelligence
arts: Amateur painter, Museum regular, Theater lover | likes mellow jazz, visits art galleries,
 plays the piano, goes to classical concerts
wellness: Yoga teacher, Meditation practitioner, Wellness coach | practices daily meditation,
 cares about sleep and stress, starts the day with yoga, drinks herbal tea
family: Busy parent, Proud grandparent, Parent of two toddlers | plans outings for the kids,
 loves family game nights, reads bedtime stories, coaches a kids' team
sports: Football fan, Amateur cyclist, High-school coach | never misses a game,
 trains at the gym, follows the league standings, plays tennis on weekends
food: Home cook, Foodie, Coffee enthusiast | loves trying new recipes, bakes sourdough bread,
 explores local restaurants, collects cookbooks
finance: Accountant, Small business owner, Retail investor | follows the stock market,
 reads about personal finance, tracks interest rates, saves for early retirement
science: Astronomy buff, Biology student, Science teacher | watches the night sky,
 reads about space exploration, loves nature documentaries, follows new discoveries
fashion: Fashion student, Boutique owner, Trend watcher | follows runway shows,
 loves vintage clothing, collects designer sneakers, keeps up with the latest trends
"""
_SCENARIO_HABIT = {
    "ecommerce": "Shops online a lot.",
    "music": "Streams music all day.",
    "news": "Reads the news every morning.",
    "movies": "Watches a film most evenings.",
    "books": "Always has a book on the go.",
}


@dataclass(frozen=True)
class SyntheticTruth:
    """The hidden generative state, for tests and sanity checks (never for training).

    ``item_theme`` maps each item id to its dominant theme; ``user_taste`` maps each
    user id to their taste over ``SYNTHETIC_THEMES`` (shape ``(n_themes,)``, sums to 1)
    at the start of their timeline (by its end, a share ``_DRIFT`` of it has moved to a
    new random taste). Profiles are written from this taste.
    """

    item_theme: dict[str, str]
    user_taste: dict[str, np.ndarray]


def _words(text: str) -> list[str]:
    return [w.strip() for w in text.split(",") if w.strip()]


def _parse(block: str) -> list[list[list[str]]]:
    """``theme: a, b | c, d`` lines (wrapped lines start with a space) -> [theme][field]."""
    entries = block.strip().replace("\n ", " ").splitlines()
    fields = {
        e.split(":", 1)[0]: [_words(f) for f in e.split(":", 1)[1].split("|")] for e in entries
    }
    return [fields[t] for t in SYNTHETIC_THEMES]


_CELLS = {s: _parse(v) for s, v in _VOCAB.items()}
_PROFILE_CELLS = _parse(_PROFILE)
_NAMES = [f"{f} {last}" for f in _FIRST.split() for last in _LAST.split()]
_Picker = Callable[[Sequence[str]], str]


def _item_text(
    scenario: str, t: int, t2: int | None, pick: _Picker, rng: np.random.Generator
) -> tuple[str, str]:
    """Title and attributes of one item of dominant theme ``t`` (and secondary ``t2``)."""
    cell, mix = _CELLS[scenario][t], _CELLS[scenario][t if t2 is None else t2]
    a = pick(_words(_GENERIC_A[scenario]) if rng.random() < _GENERIC else cell[0])
    if scenario in ("movies", "books"):
        keys = list(dict.fromkeys([pick(cell[1]), pick(mix[1])]))
        genres = ", ".join(dict.fromkeys([pick(cell[3]), pick(mix[3])]))
        title = f"{a} {pick(cell[2])}"
        form = rng.random()
        if scenario == "movies":
            if form < 0.3:
                title = f"{pick(_MOVIE_LEAD)} the {title}"
            year = int(rng.integers(1970, 2025))
            attrs = (
                f"Genres: {genres}. Keywords: {', '.join(keys)}. Year: {year}. "
                f"Director: {pick(_NAMES)}"
            )
        else:
            if form < 0.3:
                title = f"{title}: {pick(_BOOK_SUB)} {keys[0]}"
            pages = int(rng.integers(120, 640))
            attrs = (
                f"Genre: {genres}. Topics: {', '.join(keys)}. Author: {pick(_NAMES)}. "
                f"Pages: {pages}"
            )
        return f"The {title}" if 0.3 <= form < 0.6 else title, attrs
    if scenario == "news":  # the secondary theme supplies the subject: a cross-over story
        title = f"{a if t2 is None else pick(mix[0])} {pick(cell[1])} {pick(cell[2])}"
        minutes = int(rng.integers(2, 12))
        return title, f"Section: {pick(cell[3])}. Region: {pick(_REGIONS)}. {minutes} min read"
    title = f"{a} {pick(mix[1])} {pick(cell[2])}"
    if scenario == "music":
        return title, f"Genre: {pick(cell[3])}. Artist: {pick(_NAMES)}. Mood: {pick(mix[4])}"
    price = round(_PRICE[t] * float(np.exp(rng.normal(0.0, 0.5))))
    return title, f"Category: {pick(cell[3])}. Brand: {pick(_BRANDS.split())}. Price: ${price}"


_SEQUEL = {
    "ecommerce": "{}, series {}",
    "music": "{}, Vol. {}",
    "news": "{} (part {})",
    "movies": "{} {}",
    "books": "{}, Book {}",
}


def _catalog(scenario: str, n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Items of one scenario, their theme weights ``(n, T)`` and log popularity ``(n,)``."""
    rng = np.random.default_rng([seed, 1, SYNTHETIC_SCENARIOS.index(scenario)])
    n_themes = len(SYNTHETIC_THEMES)
    dominant = rng.permutation(np.arange(n) % n_themes)
    has_second = rng.random(n) < _SECONDARY
    second = (dominant + rng.integers(1, n_themes, size=n)) % n_themes
    weights = np.zeros((n, n_themes))
    weights[np.arange(n), dominant] = 1.0
    weights[np.arange(n)[has_second], second[has_second]] += 0.4
    weights /= weights.sum(axis=1, keepdims=True)

    def pick(options: Sequence[str]) -> str:
        return options[int(rng.integers(len(options)))]

    titles: list[str] = []
    attrs: list[str] = []
    seen: dict[str, int] = {}
    for t, t2, mixed in zip(dominant, second, has_second, strict=True):
        title, attr = _item_text(scenario, int(t), int(t2) if mixed else None, pick, rng)
        seen[title] = seen.get(title, 0) + 1
        titles.append(title if seen[title] == 1 else _SEQUEL[scenario].format(title, seen[title]))
        attrs.append(attr)
    width = max(5, len(str(n - 1)))
    items = pd.DataFrame(
        {
            "item_id": [f"{scenario}-{i:0{width}d}" for i in range(n)],
            "title": titles,
            "attributes": attrs,
            "scenario": scenario,
        }
    )
    log_pop = -np.log1p(rng.permutation(n))  # Zipf: popularity = 1 / rank
    return items, weights, log_pop


def _categorical(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One draw per row of ``weights`` ``(J, K)`` (non-negative, unnormalised)."""
    cum = np.cumsum(weights, axis=1)
    return np.minimum(
        (cum < rng.random(len(cum))[:, None] * cum[:, -1:]).sum(axis=1), weights.shape[1] - 1
    )


def _history(
    rng: np.random.Generator,
    taste: np.ndarray,
    activity: np.ndarray,
    n_events: int,
    catalog: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One user's items ``(n_events,)`` in time order, their ratings and timestamps."""
    weights, scen, log_pop = catalog  # (I, T), (I,), (I,)
    n_themes, n_scen = weights.shape[1], len(activity)
    end_taste = (1 - _DRIFT) * taste + _DRIFT * rng.dirichlet(np.full(n_themes, _TASTE_ALPHA))
    sizes = 1 + rng.poisson(_SESSION_MEAN - 1, size=n_events)
    n_sessions = int(np.searchsorted(np.cumsum(sizes), n_events)) + 1
    sizes = sizes[:n_sessions]
    sizes[-1] -= sizes.sum() - n_events
    starts = np.cumsum(sizes) - sizes
    tau = (starts + sizes / 2) / n_events  # (J,) position of each session in the timeline
    now = (1 - tau)[:, None] * taste + tau[:, None] * end_taste  # (J, T) drifting taste
    session_taste = (1 - _SESSION_THEME) * now
    session_taste[np.arange(n_sessions), _categorical(rng, now)] += _SESSION_THEME
    aff = session_taste @ weights.T / session_taste.max(axis=1, keepdims=True)  # (J, I) in [0, 1]
    scen_w = (1 - _SESSION_SCENARIO) * np.tile(activity, (n_sessions, 1))  # (J, S)
    scen_w[np.arange(n_sessions), _categorical(rng, scen_w)] += _SESSION_SCENARIO
    score = _BETA * aff + _GAMMA * log_pop + rng.normal(0.0, _NOISE_SD, size=len(scen))
    log_z = np.log(np.exp(score) @ np.eye(n_scen)[scen])  # (J, S) per-scenario normaliser
    logit = np.log(scen_w)[:, scen] + score - log_z[:, scen] + rng.gumbel(size=score.shape)
    taken = np.zeros(len(scen), dtype=bool)
    items: list[np.ndarray] = []
    affinity: list[np.ndarray] = []
    for j, size in enumerate(sizes):  # Gumbel top-k per session = sampling without repeats
        row = np.where(taken, -np.inf, logit[j])
        top = np.argpartition(-row, size - 1)[:size]
        top = top[np.argsort(-row[top])]
        taken[top] = True
        items.append(top)
        affinity.append(aff[j, top])
    aff_all = np.concatenate(affinity)
    raw = 1.8 + 2.4 * aff_all + rng.normal(0.0, 0.4) + rng.normal(0.0, 0.7, size=n_events)
    ratings = np.clip(np.rint(raw), 1, 5)
    start = rng.uniform(0, 0.4 * _YEAR)
    span = rng.uniform(0.3, 1.0) * (_YEAR - start - 5 * 86_400)
    gaps = 30 + rng.exponential(240.0, size=n_events)  # seconds between clicks of a session
    gaps[starts] += span * rng.dirichlet(np.ones(n_sessions))  # days between sessions
    stamps = _EPOCH + int(start) + np.cumsum(gaps.astype(np.int64))
    return np.concatenate(items), ratings, stamps


def _profile_text(rng: np.random.Generator, taste: np.ndarray, habit: str | None) -> str:
    """A one-sentence profile from the top themes, with noise."""

    def pick(options: Sequence[str]) -> str:
        return options[int(rng.integers(len(options)))]

    order = np.argsort(-taste)
    persona_theme = order[0] if rng.random() < 0.85 else rng.integers(len(taste))
    persona = pick(_PROFILE_CELLS[persona_theme][0])
    keep = rng.random(3) < (0.6, 0.85, 0.85)  # the top theme often, the next two mostly
    themes = [t for t, k in zip(order[:3], keep, strict=True) if k and taste[t] >= 0.12]
    if rng.random() < 0.2:  # a theme the user does not really care about
        themes.append(rng.integers(len(taste)))
    clauses = list(dict.fromkeys(pick(_PROFILE_CELLS[t][1]) for t in themes or order[:1]))
    if rng.random() < 0.5:
        persona = f"{rng.integers(19, 71)}-year-old {persona[0].lower()}{persona[1:]}"
    joined = clauses[0] if len(clauses) == 1 else ", ".join(clauses[:-1]) + f" and {clauses[-1]}"
    text = f"{persona[0].upper()}{persona[1:]} who {joined}."
    return text if habit is None or rng.random() < 0.5 else f"{text} {habit}"


def _check(name: str, value: object, ok: bool, fix: str) -> None:
    if not ok:
        raise ConfigError(f"generate_synthetic: {name}={value!r} is not allowed. Fix: {fix}.")


def _validate(
    n_users: int,
    items_per_scenario: int,
    scenarios: Sequence[str],
    interactions_per_user: int,
    profile_fraction: float,
    seed: int,
) -> None:
    def is_int(v: object) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    _check("n_users", n_users, is_int(n_users) and n_users >= 1, "use an integer >= 1")
    _check(
        "items_per_scenario",
        items_per_scenario,
        is_int(items_per_scenario) and items_per_scenario >= 5,
        "use an integer >= 5",
    )
    known = ", ".join(SYNTHETIC_SCENARIOS)
    _check(
        "scenarios",
        scenarios,
        not isinstance(scenarios, str) and len(scenarios) > 0,
        f"give a non-empty list of scenario names, e.g. ['music'], from: {known}",
    )
    for name in scenarios:
        _check("scenarios", name, name in SYNTHETIC_SCENARIOS, f"use scenarios from: {known}")
    _check("scenarios", scenarios, len(set(scenarios)) == len(scenarios), "list each scenario once")
    n_items = items_per_scenario * len(scenarios)
    _check(
        "interactions_per_user",
        interactions_per_user,
        is_int(interactions_per_user) and 3 <= interactions_per_user < n_items,
        f"use an integer >= 3 and below the number of items ({n_items}), or raise "
        "items_per_scenario",
    )
    _check(
        "profile_fraction",
        profile_fraction,
        isinstance(profile_fraction, (int, float)) and 0.0 <= profile_fraction <= 1.0,
        "use a number between 0 and 1",
    )
    _check("seed", seed, is_int(seed) and seed >= 0, "use an integer >= 0")


@overload
def generate_synthetic(
    *,
    n_users: int = ...,
    items_per_scenario: int = ...,
    scenarios: Sequence[str] = ...,
    interactions_per_user: int = ...,
    profile_fraction: float = ...,
    seed: int = ...,
    return_truth: Literal[False] = ...,
) -> RecDataset: ...
@overload
def generate_synthetic(
    *,
    n_users: int = ...,
    items_per_scenario: int = ...,
    scenarios: Sequence[str] = ...,
    interactions_per_user: int = ...,
    profile_fraction: float = ...,
    seed: int = ...,
    return_truth: Literal[True],
) -> tuple[RecDataset, SyntheticTruth]: ...
def generate_synthetic(
    *,
    n_users: int = 600,
    items_per_scenario: int = 200,
    scenarios: Sequence[str] = ("ecommerce", "music", "news"),
    interactions_per_user: int = 20,
    profile_fraction: float = 1.0,
    seed: int = 0,
    return_truth: bool = False,
) -> RecDataset | tuple[RecDataset, SyntheticTruth]:
    """Generate the synthetic multi-scenario dataset (deterministic in ``seed``).

    Args:
        n_users: number of users (ids ``u00000`` ...).
        items_per_scenario: catalog size of each scenario (ids ``music-00042`` ...).
        scenarios: names from ``SYNTHETIC_SCENARIOS``.
        interactions_per_user: mean history length; each user gets a lognormal count
            around it, at least ``min(5, interactions_per_user)``.
        profile_fraction: share of users with a profile text; 0 gives ``profiles=None``.
        seed: the only source of randomness; equal seeds give identical tables.
        return_truth: also return the hidden :class:`SyntheticTruth`.

    Raises:
        ConfigError: a parameter out of range, naming it and the fix.
    """
    _validate(n_users, items_per_scenario, scenarios, interactions_per_user, profile_fraction, seed)
    names = sorted(scenarios)  # item ids sort by scenario first
    parts = [_catalog(s, items_per_scenario, seed) for s in names]
    items = pd.concat([p[0] for p in parts], ignore_index=True)
    scen = np.repeat(np.arange(len(names)), items_per_scenario)
    catalog = (np.concatenate([p[1] for p in parts]), scen, np.concatenate([p[2] for p in parts]))
    item_ids = items["item_id"].to_numpy()

    rng = np.random.default_rng([seed, 2])
    n_themes = len(SYNTHETIC_THEMES)
    tastes = rng.dirichlet(np.full(n_themes, _TASTE_ALPHA), size=n_users)
    activity = rng.dirichlet(np.full(len(names), _ACTIVITY_ALPHA), size=n_users) + 0.02
    activity /= activity.sum(axis=1, keepdims=True)
    floor = min(5, interactions_per_user)
    counts = np.rint(interactions_per_user * np.exp(rng.normal(-0.125, 0.5, size=n_users)))
    counts = np.clip(counts, floor, len(items)).astype(int)
    width = max(5, len(str(n_users - 1)))
    user_ids = [f"u{u:0{width}d}" for u in range(n_users)]
    histories = [
        _history(rng, tastes[u], activity[u], int(counts[u]), catalog) for u in range(n_users)
    ]
    interactions = pd.DataFrame(
        {
            "user_id": np.repeat(user_ids, counts),
            "item_id": item_ids[np.concatenate([h[0] for h in histories])],
            "timestamp": np.concatenate([h[2] for h in histories]).astype(np.int64),
            "rating": np.concatenate([h[1] for h in histories]).astype(np.float64),
        }
    )

    profiles = None
    n_profiles = round(profile_fraction * n_users)
    if n_profiles > 0:
        prng = np.random.default_rng([seed, 3])
        chosen = np.sort(prng.choice(n_users, size=n_profiles, replace=False))
        habits = [
            _SCENARIO_HABIT[names[int(np.argmax(activity[u]))]] if len(names) > 1 else None
            for u in chosen
        ]
        profiles = pd.DataFrame(
            {
                "user_id": [user_ids[u] for u in chosen],
                "profile": [
                    _profile_text(prng, tastes[u], h) for u, h in zip(chosen, habits, strict=True)
                ],
            }
        )
    ds = validate_dataset(
        RecDataset("synthetic", items, interactions, profiles), source="synthetic generator"
    )
    if not return_truth:
        return ds
    dominant = np.argmax(catalog[0], axis=1)
    truth = SyntheticTruth(
        item_theme={i: SYNTHETIC_THEMES[t] for i, t in zip(item_ids, dominant, strict=True)},
        user_taste={u: tastes[k] for k, u in enumerate(user_ids)},
    )
    return ds, truth
