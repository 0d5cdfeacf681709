"""Asset columns of a post file: one definition for `lampctl provision` (which keeps them out of
the board's config) and the operations register (`lamppost-ops register import`, which stores
them), so one CSV/TOML of posts serves both.

Columns: `municipality`, `street`, `light_point` (pole / light-point number), `cabinet`
(cabinet or feeder id), `luminaire`, `contractor`, plus `lat`/`lon`, `lamp`, `rated_w`,
which the board's config holds too. Column names are case-insensitive; the aliases are the
names field lists use (`pole`, `feeder`, `lichtpunt`, `latitude`, ...).
"""
from __future__ import annotations

# the register's columns besides the post id, in its order
FIELDS = ("municipality", "street", "light_point", "cabinet", "luminaire", "contractor",
          "lat", "lon", "lamp", "rated_w")
# columns only the register keeps (the board's config has no place for them)
REGISTER_ONLY = ("municipality", "street", "light_point", "cabinet", "luminaire", "contractor")
ALIASES = {"post": "id", "post_id": "id", "latitude": "lat", "longitude": "lon", "pole": "light_point",
           "pole_number": "light_point", "light_point_number": "light_point",
           "lichtpunt": "light_point", "lichtpuntnummer": "light_point", "mast": "light_point",
           "feeder": "cabinet", "kast": "cabinet", "gemeente": "municipality", "straat": "street",
           "luminaire_type": "luminaire", "armatuur": "luminaire", "aannemer": "contractor",
           "rated-w": "rated_w", "rated": "rated_w"}


def column(name: str) -> str:
    """A column's canonical name: lower case, aliases resolved, `-`/space as `_`."""
    k = str(name).strip().lower()
    if k in ALIASES:
        return ALIASES[k]
    k = k.replace(" ", "_").replace("-", "_")
    return ALIASES.get(k, k)


def register_only(name: str) -> bool:
    """True for a column the register keeps and the board's config does not (street, cabinet...)."""
    return column(name) in REGISTER_ONLY
