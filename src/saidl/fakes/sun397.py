"""Fake of the hub dataset ``1aurent/SUN397`` (asset ``sun397``): SUN397 in the hub's format.

What the real repository holds (its dataset card): every SUN397 image, 108,754 rows in ONE split
``train``, as parquet shards ``data/train-NNNNN-of-MMMMM.parquet`` written by ``push_to_hub``, with two
columns, ``image`` (``Image(mode="RGB")``: a struct of the encoded JPEG ``bytes`` and its file name
``path``) and ``label`` (``ClassLabel`` with the 397 SUN397 category names of ``ClassName.txt``,
``/a/abbey`` ... ``/y/youth_hostel``); the README's YAML header carries ``dataset_info`` (features,
split sizes) and ``configs`` (``data_files: data/train-*``), which is what ``datasets`` reads.

This fake writes exactly that, as a snapshot in the Hugging Face cache layout
(``<root>/hub/datasets--1aurent--SUN397/snapshots/<commit>/`` + ``refs/main``), so the real reader
(:func:`saidl.diffusion.data.sun397_images` through ``datasets``) reads it with ``hub_cache`` set to
``<root>/hub`` and ``HF_HUB_OFFLINE=1``. Row count and per-class counts are the real ones
(:data:`SUN397_COUNTS`: the published per-category image counts, 100 to 2,361, summing to 108,754).
The parquet schema, its ``huggingface`` metadata and the README header are produced by ``datasets``'
own serialisers (``Features.arrow_schema``, ``DatasetInfosDict``, ``MetadataConfigs``), as in
``push_to_hub``. Like the hub model fakes, the snapshot also holds ``saidl_fake.json`` (which the
real repository never does), so the reader names the fake wherever it reports its source. Not
reproduced: the pictures (tiny random JPEGs, 16-40 px a side, with a class
signal: a class colour and gradient direction plus per-image noise; the first
:data:`UNIQUE_PER_CLASS` rows of each class are all different, later rows repeat one of
:data:`POOL_PER_CLASS` further images of their class, which keeps the 108,754 rows to a few seconds of
JPEG encoding), the real file names (random ``sun_<16 letters>.jpg``) and the number of shards (not
published; 8 here, the reader globs ``data/train-*``).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from saidl.fakes.hub import describe, snapshot_dir
from saidl.fakes import write_marker

REPO_ID = "1aurent/SUN397"
N_SHARDS = 8

# The 397 SUN397 categories (ClassName.txt order = the hub copy's label order) and their image counts.
_COUNTS_TEXT = """
/a/abbey:484 /a/airplane_cabin:115 /a/airport_terminal:1091 /a/alley:324 /a/amphitheater:316
/a/amusement_arcade:219 /a/amusement_park:750 /a/anechoic_chamber:173 /a/apartment_building/outdoor:527
/a/apse/indoor:164 /a/aquarium:169 /a/aqueduct:354 /a/arch:218 /a/archive:146 /a/arrival_gate/outdoor:164
/a/art_gallery:283 /a/art_school:139 /a/art_studio:310 /a/assembly_line:159 /a/athletic_field/outdoor:114
/a/atrium/public:127 /a/attic:332 /a/auditorium:340 /a/auto_factory:242 /b/badlands:463
/b/badminton_court/indoor:209 /b/baggage_claim:221 /b/bakery/shop:482 /b/balcony/exterior:125
/b/balcony/interior:177 /b/ball_pit:202 /b/ballroom:112 /b/bamboo_forest:141 /b/banquet_hall:296 /b/bar:738
/b/barn:279 /b/barndoor:140 /b/baseball_field:287 /b/basement:152 /b/basilica:295
/b/basketball_court/outdoor:111 /b/bathroom:951 /b/batters_box:117 /b/bayou:166 /b/bazaar/indoor:156
/b/bazaar/outdoor:111 /b/beach:1194 /b/beauty_salon:549 /b/bedroom:2084 /b/berth:120 /b/biology_laboratory:100
/b/bistro/indoor:100 /b/boardwalk:144 /b/boat_deck:123 /b/boathouse:111 /b/bookstore:210 /b/booth/indoor:483
/b/botanical_garden:263 /b/bow_window/indoor:211 /b/bow_window/outdoor:131 /b/bowling_alley:410
/b/boxing_ring:124 /b/brewery/indoor:124 /b/bridge:847 /b/building_facade:325 /b/bullring:187
/b/burial_chamber:112 /b/bus_interior:182 /b/butchers_shop:227 /b/butte:139 /c/cabin/outdoor:318
/c/cafeteria:104 /c/campsite:476 /c/campus:174 /c/canal/natural:193 /c/canal/urban:490 /c/candy_store:259
/c/canyon:255 /c/car_interior/backseat:222 /c/car_interior/frontseat:125 /c/carrousel:392 /c/casino/indoor:590
/c/castle:1100 /c/catacomb:135 /c/cathedral/indoor:238 /c/cathedral/outdoor:635 /c/cavern/indoor:430
/c/cemetery:569 /c/chalet:314 /c/cheese_factory:101 /c/chemistry_lab:174 /c/chicken_coop/indoor:102
/c/chicken_coop/outdoor:287 /c/childs_room:159 /c/church/indoor:236 /c/church/outdoor:921 /c/classroom:225
/c/clean_room:130 /c/cliff:234 /c/cloister/indoor:199 /c/closet:300 /c/clothing_store:336 /c/coast:458
/c/cockpit:695 /c/coffee_shop:161 /c/computer_room:186 /c/conference_center:105 /c/conference_room:833
/c/construction_site:527 /c/control_room:100 /c/control_tower/outdoor:445 /c/corn_field:339 /c/corral:134
/c/corridor:332 /c/cottage_garden:229 /c/courthouse:376 /c/courtroom:147 /c/courtyard:100
/c/covered_bridge/exterior:565 /c/creek:547 /c/crevasse:172 /c/crosswalk:186 /c/cubicle/office:142 /d/dam:154
/d/delicatessen:242 /d/dentists_office:166 /d/desert/sand:313 /d/desert/vegetation:195 /d/diner/indoor:164
/d/diner/outdoor:118 /d/dinette/home:117 /d/dinette/vehicle:197 /d/dining_car:243 /d/dining_room:1180
/d/discotheque:137 /d/dock:130 /d/doorway/outdoor:550 /d/dorm_room:165 /d/driveway:281
/d/driving_range/outdoor:125 /d/drugstore:126 /e/electrical_substation:101 /e/elevator/door:139
/e/elevator/interior:127 /e/elevator_shaft:121 /e/engine_room:125 /e/escalator/indoor:394 /e/excavation:334
/f/factory/indoor:101 /f/fairway:259 /f/fastfood_restaurant:169 /f/field/cultivated:343 /f/field/wild:248
/f/fire_escape:294 /f/fire_station:283 /f/firing_range/indoor:111 /f/fishpond:167 /f/florist_shop/indoor:154
/f/food_court:103 /f/forest/broadleaf:265 /f/forest/needleleaf:162 /f/forest_path:502 /f/forest_road:152
/f/formal_garden:251 /f/fountain:212 /g/galley:265 /g/game_room:221 /g/garage/indoor:171 /g/garbage_dump:100
/g/gas_station:328 /g/gazebo/exterior:803 /g/general_store/indoor:101 /g/general_store/outdoor:161
/g/gift_shop:140 /g/golf_course:814 /g/greenhouse/indoor:357 /g/greenhouse/outdoor:136 /g/gymnasium/indoor:372
/h/hangar/indoor:205 /h/hangar/outdoor:131 /h/harbor:250 /h/hayfield:144 /h/heliport:101 /h/herb_garden:221
/h/highway:833 /h/hill:144 /h/home_office:178 /h/hospital:120 /h/hospital_room:203 /h/hot_spring:116
/h/hot_tub/outdoor:241 /h/hotel/outdoor:120 /h/hotel_room:492 /h/house:955 /h/hunting_lodge/outdoor:103
/i/ice_cream_parlor:113 /i/ice_floe:207 /i/ice_shelf:133 /i/ice_skating_rink/indoor:253
/i/ice_skating_rink/outdoor:219 /i/iceberg:399 /i/igloo:166 /i/industrial_area:134 /i/inn/outdoor:120
/i/islet:330 /j/jacuzzi/indoor:111 /j/jail/indoor:193 /j/jail_cell:185 /j/jewelry_shop:174 /k/kasbah:179
/k/kennel/indoor:158 /k/kennel/outdoor:207 /k/kindergarden_classroom:144 /k/kitchen:1746 /k/kitchenette:133
/l/labyrinth/outdoor:140 /l/lake/natural:430 /l/landfill:219 /l/landing_deck:308 /l/laundromat:320
/l/lecture_room:192 /l/library/indoor:358 /l/library/outdoor:102 /l/lido_deck/outdoor:138 /l/lift_bridge:128
/l/lighthouse:489 /l/limousine_interior:108 /l/living_room:2361 /l/lobby:464 /l/lock_chamber:101
/l/locker_room:365 /m/mansion:454 /m/manufactured_home:266 /m/market/indoor:101 /m/market/outdoor:839
/m/marsh:193 /m/martial_arts_gym:183 /m/mausoleum:201 /m/medina:104 /m/moat/water:110 /m/monastery/outdoor:178
/m/mosque/indoor:124 /m/mosque/outdoor:536 /m/motel:254 /m/mountain:518 /m/mountain_snowy:736
/m/movie_theater/indoor:218 /m/museum/indoor:248 /m/music_store:110 /m/music_studio:369
/n/nuclear_power_plant/outdoor:116 /n/nursery:250 /o/oast_house:109 /o/observatory/outdoor:202 /o/ocean:232
/o/office:136 /o/office_building:300 /o/oil_refinery/outdoor:159 /o/oilrig:210 /o/operating_room:207
/o/orchard:368 /o/outhouse/outdoor:310 /p/pagoda:200 /p/palace:223 /p/pantry:565 /p/park:143
/p/parking_garage/indoor:100 /p/parking_garage/outdoor:111 /p/parking_lot:439 /p/parlor:329 /p/pasture:612
/p/patio:117 /p/pavilion:145 /p/pharmacy:159 /p/phone_booth:316 /p/physics_laboratory:163 /p/picnic_area:148
/p/pilothouse/indoor:222 /p/planetarium/outdoor:115 /p/playground:898 /p/playroom:244 /p/plaza:228
/p/podium/indoor:120 /p/podium/outdoor:143 /p/pond:179 /p/poolroom/establishment:125 /p/poolroom/home:397
/p/power_plant/outdoor:142 /p/promenade_deck:102 /p/pub/indoor:140 /p/pulpit:142 /p/putting_green:126
/r/racecourse:116 /r/raceway:145 /r/raft:219 /r/railroad_track:128 /r/rainforest:231 /r/reception:188
/r/recreation_room:118 /r/residential_neighborhood:110 /r/restaurant:796 /r/restaurant_kitchen:134
/r/restaurant_patio:443 /r/rice_paddy:100 /r/riding_arena:106 /r/river:228 /r/rock_arch:109 /r/rope_bridge:112
/r/ruin:327 /r/runway:180 /s/sandbar:135 /s/sandbox:203 /s/sauna:177 /s/schoolhouse:139 /s/sea_cliff:126
/s/server_room:116 /s/shed:288 /s/shoe_shop:181 /s/shopfront:725 /s/shopping_mall/indoor:284 /s/shower:125
/s/skatepark:100 /s/ski_lodge:112 /s/ski_resort:188 /s/ski_slope:260 /s/sky:167 /s/skyscraper:801 /s/slum:192
/s/snowfield:189 /s/squash_court:116 /s/stable:161 /s/stadium/baseball:280 /s/stadium/football:117
/s/stage/indoor:123 /s/staircase:680 /s/street:458 /s/subway_interior:455 /s/subway_station/platform:518
/s/supermarket:373 /s/sushi_bar:119 /s/swamp:143 /s/swimming_pool/indoor:256 /s/swimming_pool/outdoor:428
/s/synagogue/indoor:129 /s/synagogue/outdoor:147 /t/television_studio:197 /t/temple/east_asia:202
/t/temple/south_asia:155 /t/tennis_court/indoor:122 /t/tennis_court/outdoor:429 /t/tent/outdoor:223
/t/theater/indoor_procenium:237 /t/theater/indoor_seats:109 /t/thriftshop:100 /t/throne_room:114
/t/ticket_booth:131 /t/toll_plaza:103 /t/topiary_garden:112 /t/tower:704 /t/toyshop:388 /t/track/outdoor:136
/t/train_railway:276 /t/train_station/platform:119 /t/tree_farm:118 /t/tree_house:113 /t/trench:105
/u/underwater/coral_reef:494 /u/utility_room:144 /v/valley:145 /v/van_interior:131 /v/vegetable_garden:496
/v/veranda:100 /v/veterinarians_office:140 /v/viaduct:254 /v/videostore:125 /v/village:138 /v/vineyard:452
/v/volcano:126 /v/volleyball_court/indoor:107 /v/volleyball_court/outdoor:137 /w/waiting_room:476
/w/warehouse/indoor:777 /w/water_tower:396 /w/waterfall/block:210 /w/waterfall/fan:203 /w/waterfall/plunge:106
/w/watering_hole:107 /w/wave:274 /w/wet_bar:135 /w/wheat_field:247 /w/wind_farm:302 /w/windmill:413
/w/wine_cellar/barrel_storage:246 /w/wine_cellar/bottle_storage:340 /w/wrestling_ring/indoor:100 /y/yard:201
/y/youth_hostel:138
"""
SUN397_COUNTS: dict[str, int] = {k: int(v) for k, v in (item.rsplit(":", 1) for item in _COUNTS_TEXT.split())}
SIDES = (16, 24, 32, 40)
UNIQUE_PER_CLASS = 32   # rows 0..31 of a class: distinct images (what a rehearsal reads: training + reference)
POOL_PER_CLASS = 16     # rows 32+: cycle through 16 further distinct images of the class


def features(names: list[str]):
    import datasets

    return datasets.Features({"image": datasets.Image(mode="RGB"), "label": datasets.ClassLabel(names=names)})


def class_images(label: int, n_labels: int, n: int, rng: np.random.Generator) -> list[bytes]:
    """``n`` distinct small JPEGs of one class: its colour and gradient direction, per-image noise
    and sizes (16-40 px a side, so the reader's centre crop and resize both act)."""
    from PIL import Image

    hue = label / n_labels
    base = 127 + 100 * np.cos(2 * np.pi * (hue + np.array([0.0, 1 / 3, 2 / 3])))
    angle = 2 * np.pi * ((label * 0.618) % 1.0)
    side = max(SIDES)
    yy, xx = np.mgrid[0:side, 0:side] / side - 0.5
    ramp = 90 * (np.cos(angle) * xx + np.sin(angle) * yy)
    out = []
    for _ in range(n):
        w, h = (int(s) for s in rng.choice(SIDES, 2))
        img = base + ramp[:h, :w, None] + rng.normal(0, 25, (h, w, 3))
        buf = io.BytesIO()
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(buf, format="JPEG", quality=80)
        out.append(buf.getvalue())
    return out


def write_snapshot(root: Path, counts: dict[str, int] | None = None, n_shards: int = N_SHARDS, seed: int = 0,
                   repo_id: str = REPO_ID, unique_per_class: int = UNIQUE_PER_CLASS) -> dict:
    """Write the fake snapshot of ``repo_id`` under ``<root>/hub``; ``counts`` (name -> images,
    default the real SUN397 counts) lets tests write a small one, ``unique_per_class`` how many rows
    of a class are distinct images before the pool repeats. Rows are grouped by class, as a walk
    over the class folders writes them."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import DatasetInfo, SplitDict, SplitInfo
    from datasets.arrow_writer import get_writer_batch_size_from_data_size, get_writer_batch_size_from_features
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard, DatasetCardData

    counts = dict(SUN397_COUNTS if counts is None else counts)
    names = list(counts)
    feats = features(names)
    rng = np.random.default_rng(seed)
    images: list[bytes] = []
    labels: list[int] = []
    for label, name in enumerate(names):
        n = counts[name]
        first = class_images(label, len(names), min(n, unique_per_class), rng)
        pool = class_images(label, len(names), min(max(n - unique_per_class, 0), POOL_PER_CLASS), rng)
        images += first + [pool[i % POOL_PER_CLASS] for i in range(n - len(first))]
        labels += [label] * n
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", np.uint8)
    paths = ["sun_" + letters[row].tobytes().decode() + ".jpg" for row in rng.integers(0, 26, (len(images), 16))]
    image_col = pa.StructArray.from_arrays([pa.array(images, pa.binary()), pa.array(paths, pa.string())],
                                           names=["bytes", "path"])
    table = pa.Table.from_arrays([image_col, pa.array(labels, pa.int64())], schema=feats.arrow_schema)
    snap = snapshot_dir(root, repo_id, repo_type="dataset")
    (snap / "data").mkdir()
    rows = len(labels)
    row_group = (get_writer_batch_size_from_features(feats)
                 or get_writer_batch_size_from_data_size(rows, table.nbytes))
    bounds = np.linspace(0, rows, n_shards + 1).astype(int)
    for k in range(n_shards):
        shard = table.slice(int(bounds[k]), int(bounds[k + 1] - bounds[k]))
        pq.write_table(shard, snap / "data" / f"train-{k:05d}-of-{n_shards:05d}.parquet", row_group_size=row_group)
    download = sum(p.stat().st_size for p in (snap / "data").iterdir())
    info = DatasetInfo(features=feats, splits=SplitDict({"train": SplitInfo("train", table.nbytes, rows)}),
                       download_size=download, dataset_size=table.nbytes)
    card_data = DatasetCardData(language=["en"], task_categories=["image-classification"], tags=["princeton"],
                                pretty_name="SUN397", size_categories=["100K<n<1M"])
    DatasetInfosDict({"default": info}).to_dataset_card_data(card_data)
    MetadataConfigs({"default": {"data_files": [{"split": "train", "path": "data/train-*"}]}}).to_dataset_card_data(card_data)
    card = DatasetCard(f"---\n{card_data}\n---\n\n# SUN397 (rehearsal fake)\n\nFormat of `{repo_id}`, "
                       "random pictures: written by saidl.fakes.sun397 for the rehearsal scale.\n")
    card.save(snap / "README.md")
    desc = (f"rehearsal fake of {repo_id}: its parquet format, {rows} rows in {len(names)} classes"
            f"{' (the real per-class counts)' if counts == SUN397_COUNTS else ''}, random tiny pictures")
    write_marker(snap, {"repo_id": repo_id, "description": desc})
    return {**describe(root, snap), "repo_id": repo_id, "description": desc, "rows": rows, "classes": len(names),
            "min_per_class": min(counts.values()), "max_per_class": max(counts.values()), "shards": n_shards,
            "row_group_size": int(row_group),
            "distinct_rows_per_class": unique_per_class, "pooled_images_per_class": POOL_PER_CLASS,
            "not_reproduced": "pictures (tiny random JPEGs with a class colour; rows after the first "
                              f"{unique_per_class} of a class repeat {POOL_PER_CLASS} pooled ones), file names, shard count"}


def make(root: Path) -> dict:
    """Asset ``sun397``: the real row count (108,754) and per-class counts, tiny images."""
    return write_snapshot(Path(root))
