"""The word lists of the synthetic dataset: themes, scenarios, title slots, profiles.

Per scenario and theme, the lists give the words an item's title and attributes
are composed from (so a sentence-embedding model can relate items and users by
meaning); per theme, the personas and interests of profiles. Parsed once into
``CELLS[scenario][theme][slot]`` and ``PROFILE_CELLS[theme][slot]``.
"""

from __future__ import annotations

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

# Per scenario and theme: title slots A | B | C | labels G [| extra X], comma lists.
# ecommerce: "{A} {B} {C}", G category.  music: "{A} {B} {C}", G genre, X mood.
# news: "{A} {B} {C}" (subject verb object), G section.
# movies/books: "[The] {A} {C}", B keywords/topics, G genre.
VOCAB = {
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
GENERIC_A = {
    "ecommerce": "Classic, Everyday, Premium, Compact, Deluxe, Essential, Modern, Original",
    "music": "Golden, Blue, Summer, Electric, Endless, Secret, Silver, Late Night",
    "news": "City hall, Local group, Regional council, National agency, Government",
    "movies": "Last, Final, Silent, Broken, Second, Long, Hidden, Secret",
    "books": "Little, Secret, Long, Last, Great, Hidden, Quiet, Whole",
}
FIRST = "Ava Noah Mia Liam Zoe Ethan Lena Omar Priya Mateo Hana Felix Nora Kai Iris Jonas"
LAST = "Hart Okafor Lindqvist Moreau Tanaka Reyes Novak Brennan Castillo Wexler Adeyemi Marsh"
BRANDS = "Northpeak Lumatek Everwell Brightnest Kitchly Fernwood Solace Orbix Vantage Helio"
MOVIE_LEAD = ("Beyond", "Return to", "Escape from", "Secrets of", "Journey to", "Legend of")
BOOK_SUB = ("A Guide to", "Notes on", "Stories of", "Lessons in", "A History of", "Essays on")
REGIONS = ("National", "Local", "International", "Europe", "Asia", "Americas")
PRICE = (80, 120, 35, 30, 40, 45, 50, 40, 70, 90)  # median price per theme (USD)

# Per theme: personas | interest clauses (for profiles).
PROFILE = """
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
SCENARIO_HABIT = {
    "ecommerce": "Shops online a lot.",
    "music": "Streams music all day.",
    "news": "Reads the news every morning.",
    "movies": "Watches a film most evenings.",
    "books": "Always has a book on the go.",
}


SEQUEL = {
    "ecommerce": "{}, series {}",
    "music": "{}, Vol. {}",
    "news": "{} (part {})",
    "movies": "{} {}",
    "books": "{}, Book {}",
}


def words(text: str) -> list[str]:
    return [w.strip() for w in text.split(",") if w.strip()]


def parse(block: str) -> list[list[list[str]]]:
    """``theme: a, b | c, d`` lines (wrapped lines start with a space) -> [theme][field]."""
    entries = block.strip().replace("\n ", " ").splitlines()
    fields = {
        e.split(":", 1)[0]: [words(f) for f in e.split(":", 1)[1].split("|")] for e in entries
    }
    return [fields[t] for t in SYNTHETIC_THEMES]


CELLS = {s: parse(v) for s, v in VOCAB.items()}
PROFILE_CELLS = parse(PROFILE)
NAMES = [f"{f} {last}" for f in FIRST.split() for last in LAST.split()]
