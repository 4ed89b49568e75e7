"""Generator vocabulary for HS sections I–X (food, minerals, chemicals, plastics, leather,
wood, paper). Brands are invented. Rows: (noun, attributes, min price, max price, qualifiers).
"""

from __future__ import annotations

from training.generator.vocab import SectionVocab, section

VOCAB_I_X: dict[str, SectionVocab] = {
    "animal_products": section(
        "Nordic Catch|Fjordhavn|Green Meadow Farm|Alpenhof|Bee Happy|Highland Larder|Casa Bella|"
        "Ocean Harvest|Vallée Dorée",
        [
            ("smoked salmon fillets", "food_weight", 4, 30, "Norwegian|wild|sliced|cold-smoked"),
            ("frozen king prawns", "food_weight", 6, 35, "raw|peeled|jumbo|tail-on"),
            ("beef ribeye steak", "food_weight", 9, 60, "dry-aged|grass-fed|Angus"),
            ("chicken breast fillets", "food_weight", 4, 18, "free-range|corn-fed|skinless"),
            ("Parmigiano Reggiano cheese", "food_weight", 5, 40, "24 months aged|grated|PDO"),
            ("mature cheddar", "food_weight", 2, 12, "extra mature|farmhouse|sliced"),
            ("free-range eggs", "eggs", 2, 8, "organic|large|barn"),
            ("wildflower honey", "food_weight", 4, 25, "raw|set|organic|creamed"),
            ("Greek yoghurt", "food_weight", 1, 6, "full-fat|0% fat|strained"),
            ("salted butter", "food_weight", 2, 8, "Irish|organic|spreadable"),
            ("UHT whole milk", "drink_volume", 1, 12, "organic|lactose-free|3.5% fat"),
            ("live mealworms", "food_weight", 3, 15, "reptile food|bird food"),
        ],
        "Keep refrigerated|Sustainably sourced|From family farms|Rich in protein|"
        "Vacuum packed for freshness|Delivered chilled",
    ),
    "vegetable_products": section(
        "Sunfield|Terra Verde|Mountain Roast|Jade Leaf|Golden Grain|Orchard & Co|Bloomwell|"
        "Spice Route|Harvest Moon",
        [
            ("arabica coffee beans", "food_weight", 5, 35, "whole bean|single origin|medium roast"),
            ("loose leaf green tea", "food_weight", 4, 25, "sencha|jasmine|organic|Chinese"),
            ("basmati rice", "food_weight", 2, 15, "long grain|aged|wholegrain"),
            ("black peppercorns", "food_weight", 2, 12, "whole|Tellicherry|organic"),
            ("rolled oats", "food_weight", 1, 6, "gluten-free|jumbo|organic"),
            ("chia seeds", "food_weight", 3, 14, "organic|black|raw"),
            ("dried apricots", "food_weight", 3, 12, "unsulphured|Turkish|soft"),
            ("raw almonds", "food_weight", 4, 20, "whole|blanched|Californian"),
            ("tulip bulbs", "pieces", 5, 25, "mixed colours|Dutch|spring flowering"),
            ("potted orchid", "colour", 9, 40, "Phalaenopsis|two stems|live plant"),
            ("fresh avocados", "pieces", 2, 10, "ripe and ready|Hass|large"),
            ("wheat flour", "food_weight", 1, 8, "type 550|strong white|plain"),
            ("red lentils", "food_weight", 1, 7, "split|organic|dried"),
        ],
        "Naturally grown|Harvested at peak ripeness|Store in a cool, dry place|"
        "Rich in fibre|Fair trade|Resealable pouch",
    ),
    "fats_and_oils": section(
        "Olivia Grove|Kreta Gold|Pure Press|Cocoverde|Hof Rapsfeld|Sesamo|Avoclassic|Nutri Oils",
        [
            ("extra virgin olive oil", "drink_volume", 6, 40, "cold-pressed|Greek|first harvest"),
            ("cold-pressed rapeseed oil", "drink_volume", 3, 12, "organic|British|virgin"),
            ("virgin coconut oil", "ml", 4, 18, "organic|unrefined|odourless"),
            ("sunflower oil", "drink_volume", 2, 9, "high oleic|refined|for frying"),
            ("toasted sesame oil", "ml", 3, 10, "Japanese|pure|roasted"),
            ("avocado oil", "ml", 5, 20, "cold-pressed|for high heat|refined"),
            ("flaxseed oil", "ml", 5, 18, "omega-3|cold-pressed|organic"),
            ("cod liver oil", "ml", 6, 25, "Norwegian|lemon flavour|pure"),
            ("beeswax pellets", "food_weight", 6, 30, "cosmetic grade|yellow|filtered"),
            ("raw shea butter", "food_weight", 6, 25, "unrefined|grade A|Ghana"),
            ("margarine", "food_weight", 1, 5, "plant-based|spreadable|baking"),
            ("walnut oil", "ml", 5, 16, "French|cold-pressed|roasted"),
        ],
        "Cold-pressed for full flavour|Rich in unsaturated fats|Store away from light|"
        "Ideal for cooking and dressings|Glass bottle",
    ),
    "prepared_foodstuffs": section(
        "Cacao Santo|Nonna Lucia|Hopfenwerk|Bodega Real|Glen Aird|Crunchy Morning|Paws Choice|"
        "Fresh Squeeze|Havana Leaf|Umami House",
        [
            ("dark chocolate bar", "cocoa bar_weight", 2, 9, "single origin|vegan|sea salt"),
            ("spaghetti pasta", "food_weight", 1, 6, "durum wheat|bronze-cut|wholewheat"),
            ("tomato ketchup", "food_weight", 2, 6, "no added sugar|organic|squeezy"),
            ("orange juice", "drink_volume", 2, 9, "not from concentrate|with pulp|fresh"),
            ("craft IPA beer", "drink_volume", 2, 40, "hazy|session|double dry-hopped"),
            ("Rioja red wine", "drink_volume", 8, 45, "Reserva|Crianza|Tempranillo"),
            ("single malt Scotch whisky", "drink_volume", 30, 120, "12 year old|peated|cask"),
            ("balsamic vinegar", "ml", 4, 30, "of Modena IGP|aged|thick"),
            ("granola breakfast cereal", "food_weight", 3, 8, "crunchy|nut-free|honey"),
            ("dry dog food", "kg", 12, 70, "grain-free|adult|salmon & rice"),
            ("instant ramen noodles", "food_weight", 1, 15, "spicy|miso|chicken flavour"),
            ("energy drink", "drink_volume", 1, 30, "sugar-free|original|tropical"),
            ("cigars", "pieces", 15, 120, "Cuban|hand-rolled|robusto"),
            ("butter biscuits", "food_weight", 2, 9, "Danish|shortbread|gift tin"),
        ],
        "Made to a traditional recipe|No artificial colours|Best served chilled|"
        "Suitable for vegetarians|Produced in small batches",
    ),
    "mineral_products": section(
        "Saltmine Co|Rockwell|Petrolux|Lubromax|GardenStone|FlameGas|Nordsand|Minerva",
        [
            ("Himalayan pink salt", "food_weight", 2, 10, "coarse|fine|rock"),
            ("play sand", "kg", 4, 15, "washed|non-staining|silver"),
            ("decorative garden pebbles", "kg", 6, 40, "white marble|slate|beach"),
            ("engine oil", "tank_l", 15, 70, "5W-30|fully synthetic|0W-20"),
            ("lamp oil", "capacity_l", 5, 20, "paraffin|odourless|smokeless"),
            ("propane gas cylinder", "kg", 20, 60, "refill|patio gas|5 kg"),
            ("house coal", "kg", 8, 30, "smokeless|anthracite|large nuggets"),
            ("heating oil", "tank_l", 40, 180, "low sulphur|kerosene|premium"),
            ("aquarium gravel", "kg", 5, 25, "natural|quartz|fine"),
            ("bitumen roof paint", "capacity_l", 10, 45, "black|waterproof|cold-applied"),
        ],
        "Naturally occurring|Dust-free|Meets EN standards|Multi-purpose|For indoor and outdoor use",
    ),
    "chemical_products": section(
        "Lumiere Paris|Aqualis|CleanMaster|Dentalia|SunGuard|Verdant Grow|ColorCraft|Bugaway|"
        "Hydra Skin|Atelier Scent",
        [
            ("eau de parfum", "ml", 25, 140, "floral|woody|for women|for men"),
            ("moisturising shampoo", "ml", 3, 15, "sulphate-free|argan oil|anti-dandruff"),
            ("hand cream", "ml", 3, 18, "intensive|shea|unscented"),
            ("laundry detergent", "capacity_l", 5, 25, "bio|non-bio|colour care"),
            ("dishwasher tablets", "pieces", 5, 25, "all-in-one|lemon|phosphate-free"),
            ("whitening toothpaste", "ml", 2, 9, "fluoride|charcoal|sensitive"),
            ("sunscreen", "ml", 6, 25, "SPF 50|water-resistant|kids"),
            ("NPK lawn fertiliser", "kg", 8, 35, "slow-release|spring|organic"),
            ("acrylic paint set", "pieces", 8, 45, "artist grade|metallic|non-toxic"),
            ("wood glue", "ml", 3, 12, "PVA|waterproof|D3"),
            ("insect repellent spray", "ml", 4, 14, "DEET-free|50% DEET|tropical"),
            ("scented candle", "food_weight", 8, 40, "soy wax|vanilla|three-wick"),
            ("safety matches", "pieces", 1, 5, "long|windproof|household"),
            ("hydrogen peroxide", "percent ml", 3, 15, "food grade|stabilised|solution"),
        ],
        "Dermatologically tested|Not tested on animals|Keep out of reach of children|"
        "Biodegradable formula|Long-lasting",
    ),
    "plastics_rubber": section(
        "Keepfresh|FlexiHose|Tuffbox|RoadGrip|Pedalon|Gripster|ClearView|Zipsafe",
        [
            ("food storage containers with lids", "pieces plastic", 8, 35, "airtight|stackable"),
            ("garden hose", "length_m", 12, 60, "anti-kink|reinforced|expandable"),
            ("heavy-duty bin bags", "pieces", 3, 12, "drawstring|60 l|recycled"),
            ("cling film", "length_m", 2, 8, "catering|PVC-free|with slide cutter"),
            ("nitrile gloves", "pieces size", 5, 20, "disposable|powder-free|blue"),
            ("summer car tyre", "model", 55, 220, "205/55 R16|225/45 R17|195/65 R15"),
            ("bicycle inner tube", "wheel", 4, 12, "Presta valve|Schrader valve|butyl"),
            ("plastic storage box", "tank_l plastic", 6, 30, "clear|stackable|with clip lid"),
            ("silicone baking mat", "dims", 6, 18, "non-stick|reusable|food-grade"),
            ("rubber door mat", "dims", 10, 35, "heavy-duty|anti-slip|outdoor"),
            ("reusable zip bags", "pieces", 5, 15, "freezer|leakproof|BPA-free"),
            ("acrylic sheet", "dims mm", 10, 60, "clear|cut to size|perspex"),
            ("hot water bottle", "capacity_l", 6, 20, "rubber|natural rubber|with knitted cover"),
        ],
        "Durable and easy to clean|Dishwasher safe|UV-resistant|Made from recycled material|"
        "Flexible in all weather",
    ),
    "leather_travel_goods": section(
        "Cuoio Firenze|Travelite Pro|Bridle & Co|Nomad Gear|Hansen Leather|Jetway|Lederwerk|Rivage",
        [
            ("leather wallet", "colour", 15, 80, "RFID blocking|bifold|full-grain"),
            ("hard shell suitcase", "tank_l colour", 50, 250, "spinner|cabin size|TSA lock"),
            ("leather handbag", "colour", 40, 300, "crossbody|tote|Italian"),
            ("laptop backpack", "colour", 25, 120, "anti-theft|water-repellent|15.6 inch"),
            ("leather belt", "belt_cm colour", 15, 70, "reversible|full-grain|casual"),
            ("leather dog collar", "size colour", 10, 45, "padded|handmade|adjustable"),
            ("horse saddle", "model", 250, 1500, "dressage|general purpose|synthetic-free"),
            ("toiletry bag", "colour", 10, 45, "hanging|travel|waxed canvas"),
            ("leather card holder", "colour", 10, 40, "slim|minimalist|RFID"),
            ("sheepskin rug", "dims", 40, 160, "genuine|natural white|double pelt"),
            ("duffel bag", "tank_l colour", 30, 140, "weekender|leather trim|foldable"),
            ("leather gloves", "size colour", 20, 80, "lined|touchscreen|driving"),
        ],
        "Genuine leather|Hand-stitched|Lightweight and robust|Lifetime guarantee|"
        "Ages beautifully",
    ),
    "wood_cork_basketware": section(
        "Timberline|Holzmann|Woodcraft Studio|Kork & Co|Rattan House|Nordic Oak|Fireside|"
        "Bambu Life",
        [
            ("chopping board", "wood dims", 12, 60, "end grain|with juice groove|large"),
            ("wooden picture frame", "dims wood", 6, 30, "natural|with glass|wall-mounted"),
            ("wicker basket", "dims", 10, 45, "with handles|willow|lined"),
            ("bamboo skewers", "pieces", 2, 8, "BBQ|30 cm|natural"),
            ("cork notice board", "dims", 8, 35, "wood frame|wall|self-adhesive"),
            ("kiln-dried firewood logs", "kg", 8, 40, "hardwood|ready to burn|ash"),
            ("lumpwood charcoal", "kg", 6, 25, "restaurant grade|BBQ|sustainable"),
            ("wooden clothes hangers", "pieces wood", 10, 40, "non-slip|suit|natural"),
            ("oak flooring planks", "mm", 30, 90, "engineered|brushed|oiled"),
            ("plywood sheet", "board_mm dims", 10, 60, "birch|marine|exterior"),
            ("rattan storage basket", "dims", 12, 50, "handwoven|with lid|seagrass"),
            ("wooden spoon set", "pieces wood", 8, 25, "olive wood|handmade|kitchen"),
            ("wood pellets", "kg", 5, 15, "premium|ENplus A1|softwood"),
        ],
        "FSC certified|Hand-finished|Natural oil finish|Sustainably harvested|Each piece unique",
    ),
    "paper": section(
        "Papyra|Leuchtstern|Notable|SoftTouch|BoxMaster|Penguin Press|Calendo|Artline Paper",
        [
            ("hardcover notebook", "paper colour", 5, 25, "dotted|lined|A5"),
            ("copy paper", "paper", 4, 30, "A4|80 g/m²|white"),
            ("toilet paper", "pieces", 4, 20, "3-ply|quilted|recycled"),
            ("kitchen roll", "pieces", 3, 12, "extra absorbent|2-ply|XXL"),
            ("envelopes", "pieces", 3, 15, "C5|self-seal|DL"),
            ("cardboard moving boxes", "pieces dims", 15, 45, "double wall|large|with handles"),
            ("paperback novel", "model", 6, 18, "crime thriller|bestseller|first edition"),
            ("wall calendar 2026", "dims", 8, 25, "monthly|photo|family planner"),
            ("greeting cards", "pieces", 4, 20, "birthday|blank inside|assorted"),
            ("wrapping paper roll", "length_m", 3, 12, "kraft|Christmas|recyclable"),
            ("sticky notes", "pieces colour", 3, 12, "neon|76 x 76 mm|super sticky"),
            ("paper napkins", "pieces", 2, 8, "3-ply|33 x 33 cm|party"),
            ("sketchbook", "paper sheets", 6, 25, "spiral bound|acid-free|A4"),
            ("wallpaper roll", "length_m colour", 12, 45, "non-woven|textured|paintable"),
        ],
        "Acid-free paper|FSC mixed sources|Made in Europe|Smooth writing surface|Recyclable",
    ),
}
