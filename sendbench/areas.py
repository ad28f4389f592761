"""Areas (England, regions, local authorities), their code history and a resolver for data rows.

Source: DfE "published data QA" lists ``las.csv`` and ``regions.csv``
(https://github.com/dfe-analytical-services/dfe-published-data-qa, folder ``data/``). Quirks:
dates are dd/mm/yyyy; ``old_la_code`` is the DfE 3-digit code or ``x``; some rows join two LAs
("E06000061 / E06000062") and are kept as combinations, not areas; one row ("z", British Forces
overseas) has no ONS code and is skipped; the list gives start and end dates but no links between
codes, so 1:1 code changes are derived and real reorganisations come from ``REORGANISATIONS``.
"""

from __future__ import annotations

import logging
import re
from datetime import date, datetime, timedelta

import pandas as pd

from sendbench.errors import HarvestError, LayoutError

log = logging.getLogger(__name__)

# fmt: off
AREA_COLUMNS = ["area_code", "name", "area_type", "dfe_code", "region_code", "valid_from",
                "valid_to", "entity_code", "status", "predecessor_codes", "successor_codes",
                "current_code"]
LINK_COLUMNS = ["predecessor_code", "successor_code", "change_date", "kind", "note"]
COMBINATION_COLUMNS = ["combined_code", "combined_dfe_code", "name", "member_code"]
LA_LIST_COLUMNS = ["new_la_code", "la_name", "date_of_operation", "date_of_termination",
                   "parent_geography_code", "entity_code", "entity_description", "status",
                   "old_la_code"]
# fmt: on
REGION_LIST_COLUMNS = ["region_code", "region_name"]
ENGLAND_CODE = "E92000001"
CODE_CHANGE = "code change"
_ONS_CODE = re.compile(r"^E\d{8}$")
_DFE_CODE = re.compile(r"^\d{3}$")
_DATE_COLUMNS = ("date_of_operation", "date_of_termination")
AreaTables = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]  # areas, links, combinations

# Structural changes the list cannot show (DOMAIN.md "LA reorganisations"; the structural change
# orders: the 2008 orders for Bedford, Cheshire, Cornwall, Durham, Northumberland, Shropshire and
# Wiltshire (effective 1 April 2009), Bournemouth, Dorset and Poole 2018 (2019), Northamptonshire
# 2020 (2021), Cumbria 2022 (2023)). Kinds: "split" = one code becomes several; "merger" = several
# become one; "unitarisation" = a county becomes one unitary; "boundary change" = part of an area
# moves. 1:1 code changes (same DfE code) are derived from the list, not listed here.
REORGANISATIONS: tuple[tuple[str, str, str, str], ...] = (
    ("E10000001", "E06000055", "split", "Bedfordshire county split: Bedford became unitary"),
    ("E10000001", "E06000056", "split", "Bedfordshire county split: Central Bedfordshire created"),
    ("E10000004", "E06000049", "split", "Cheshire county split: Cheshire East created"),
    ("E10000004", "E06000050", "split", "Cheshire county split: Cheshire West and Chester"),
    ("E10000005", "E06000052", "split", "Cornwall and Isles of Scilly code split: Cornwall UA"),
    ("E10000005", "E06000053", "split", "Cornwall and Isles of Scilly code split: Scilly"),
    ("E10000010", "E06000047", "unitarisation", "Durham county became County Durham UA"),
    ("E10000022", "E06000048", "unitarisation", "Northumberland county became a UA"),
    ("E10000026", "E06000051", "unitarisation", "Shropshire county became a UA"),
    ("E10000033", "E06000054", "unitarisation", "Wiltshire county became a UA"),
    ("E06000028", "E06000058", "merger", "Bournemouth merged into BCP"),
    ("E06000029", "E06000058", "merger", "Poole merged into BCP"),
    ("E10000009", "E06000058", "boundary change", "Christchurch (Dorset county) joined BCP"),
    ("E10000009", "E06000059", "unitarisation", "Dorset county, less Christchurch, became a UA"),
    ("E10000021", "E06000061", "split", "Northamptonshire split: North Northamptonshire"),
    ("E10000021", "E06000062", "split", "Northamptonshire split: West Northamptonshire"),
    ("E10000006", "E06000063", "split", "Cumbria split: Cumberland"),
    ("E10000006", "E06000064", "split", "Cumbria split: Westmorland and Furness"),
)


def _check_columns(frame: pd.DataFrame, expected: list[str], file: str, dataset: str,
                   source: str | None) -> None:  # fmt: skip
    missing = [c for c in expected if c not in frame.columns]
    unexpected = [c for c in frame.columns if c not in expected]
    if missing or unexpected:
        raise LayoutError(dataset, file, missing, unexpected, source)


def _iso(value: str, code: str, dataset: str, source: str | None) -> str | None:
    """dd/mm/yyyy -> YYYY-MM-DD; empty -> None."""
    value = value.strip()
    if not value:
        return None
    try:
        return datetime.strptime(value, "%d/%m/%Y").date().isoformat()
    except ValueError as exc:
        raise HarvestError(dataset, f"las.csv: bad date {value!r} for {code}", source) from exc


def _la_rows(las: pd.DataFrame, dataset: str, source: str | None) -> list[dict]:
    """One record per single-code LA row (no links or current_code yet)."""
    rows = []
    for rec in las.to_dict("records"):
        code = rec["new_la_code"].strip()
        if "/" in code:
            continue
        if not _ONS_CODE.match(code):
            log.info("las.csv: skipping %r (%s): not an ONS area code", code, rec["la_name"])
            continue
        dfe = rec["old_la_code"].strip() if _DFE_CODE.match(rec["old_la_code"].strip()) else None
        start, end = (_iso(rec[c], code, dataset, source) for c in _DATE_COLUMNS)
        region = rec["parent_geography_code"].strip() or None
        rows.append(_area(code, rec["la_name"], "la", dfe, region, start, end, rec["status"]))
    codes = [r["area_code"] for r in rows]
    dupes = sorted({c for c in codes if codes.count(c) > 1})
    if dupes:
        raise HarvestError(dataset, f"las.csv: codes listed more than once: {dupes}", source)
    return rows


def _combinations(las: pd.DataFrame) -> pd.DataFrame:
    """One row per member of each joined row ("E06000061 / E06000062")."""
    rows = []
    for rec in las[las["new_la_code"].str.contains("/")].to_dict("records"):
        combined = rec["new_la_code"].strip()
        for member in combined.split("/"):
            rows.append(
                (combined, rec["old_la_code"].strip(), rec["la_name"].strip(), member.strip())
            )
    return pd.DataFrame(rows, columns=COMBINATION_COLUMNS, dtype=object)


def _next_day(iso: str) -> str:
    return (date.fromisoformat(iso) + timedelta(days=1)).isoformat()


def _code_changes(las_rows: list[dict]) -> list[tuple]:
    """Terminated code -> the one code with the same DfE code starting the next day."""
    links = []
    for old in las_rows:
        if not old["valid_to"] or not old["dfe_code"]:
            continue
        day = _next_day(old["valid_to"])
        new = [r for r in las_rows if r["dfe_code"] == old["dfe_code"] and r["valid_from"] == day]
        if len(new) == 1:
            note = f"ONS code replaced; same place, DfE code {old['dfe_code']} kept"
            links.append((old["area_code"], new[0]["area_code"], day, CODE_CHANGE, note))
    return links


def _known_links(las_rows: list[dict]) -> list[tuple]:
    """REORGANISATIONS checked against the list; links with neither code listed are skipped."""
    by_code = {r["area_code"]: r for r in las_rows}
    links = []
    for pred, succ, kind, note in REORGANISATIONS:
        old, new = by_code.get(pred), by_code.get(succ)
        if old is None and new is None:
            log.debug("reorganisation %s -> %s: neither code in the LA list", pred, succ)
            continue
        if old is None or new is None:
            raise ValueError(f"reorganisation {pred} -> {succ}: only one code is in the LA list")
        if not old["valid_to"] or _next_day(old["valid_to"]) != new["valid_from"]:
            raise ValueError(
                f"reorganisation {pred} -> {succ}: {pred} ends {old['valid_to']} "
                f"but {succ} starts {new['valid_from']}"
            )
        links.append((pred, succ, new["valid_from"], kind, note))
    return links


def _current_code(code: str, renamed_to: dict[str, str]) -> str:
    for _ in range(len(renamed_to)):  # bounded: a cycle cannot loop forever
        code = renamed_to.get(code, code)
    return code


def _area(code: str, name: str, area_type: str, dfe_code: str | None = None,
          region_code: str | None = None, start: str | None = None, end: str | None = None,
          status: str = "live") -> dict:  # fmt: skip
    """An area record without its links (entity_code is the code's 3-character prefix)."""
    values = (code, name.strip(), area_type, dfe_code, region_code, start, end, code[:3], status)
    return dict(zip(AREA_COLUMNS, values, strict=False))  # links and current_code come later


def build_areas(las: pd.DataFrame, regions: pd.DataFrame, *, dataset: str = "dfe_areas",
                source: str | None = None) -> AreaTables:  # fmt: skip
    """Return (areas, area_links, area_combinations) built from the DfE QA LA and region lists.

    Both frames must be read with ``dtype=str, keep_default_na=False``. Raises LayoutError when the
    columns differ from LA_LIST_COLUMNS / REGION_LIST_COLUMNS, HarvestError on a bad date or a
    repeated code, ValueError when REORGANISATIONS disagrees with the list (a link is skipped
    only when neither of its codes is listed, as in an excerpt). Terminated codes with no
    successor are logged as warnings (see terminated_without_successor).
    """
    _check_columns(las, LA_LIST_COLUMNS, "las.csv", dataset, source)
    _check_columns(regions, REGION_LIST_COLUMNS, "regions.csv", dataset, source)
    la_rows = _la_rows(las, dataset, source)
    links = pd.DataFrame(_code_changes(la_rows) + _known_links(la_rows), columns=LINK_COLUMNS)
    codes = regions["region_code"].str.strip()
    region_rows = [  # E13 inner/outer London are not regions
        _area(code, name, "region", region_code=code)
        for code, name in zip(codes, regions["region_name"], strict=True)
        if code.startswith("E12")
    ]
    rows = [_area(ENGLAND_CODE, "England", "country"), *region_rows, *la_rows]
    changes = links[links["kind"] == CODE_CHANGE]
    renamed_to = dict(zip(changes["predecessor_code"], changes["successor_code"], strict=True))
    before = links.groupby("successor_code")["predecessor_code"].agg(lambda s: ",".join(sorted(s)))
    after = links.groupby("predecessor_code")["successor_code"].agg(lambda s: ",".join(sorted(s)))
    for row in rows:
        code = row["area_code"]
        row["predecessor_codes"] = before.get(code, "")
        row["successor_codes"] = after.get(code, "")
        row["current_code"] = _current_code(code, renamed_to)
    areas = pd.DataFrame(rows, columns=AREA_COLUMNS, dtype=object)
    for code in terminated_without_successor(areas):
        log.warning("%s: %s is terminated but has no successor", dataset, code)
    regionless = (areas["area_type"] == "la") & ~areas["region_code"].isin(
        [r["area_code"] for r in region_rows]
    )
    for code in areas.loc[regionless, "area_code"]:
        log.warning("%s: %s has no region in regions.csv", dataset, code)
    return areas, links.astype(object), _combinations(las)


def terminated_without_successor(areas: pd.DataFrame) -> list[str]:
    """Codes that have an end date but no successor link (a place that would vanish)."""
    ended = areas["valid_to"].notna() & (areas["successor_codes"] == "")
    return sorted(areas.loc[ended, "area_code"])


def normalise_name(name: str) -> str:
    """Lower case, '&' -> 'and', punctuation dropped, whitespace collapsed."""
    name = name.lower().replace("&", " and ")
    return " ".join(re.sub(r"[^\w\s]", " ", name).split())


def _name_aliases(name: str) -> list[str]:
    """Other spellings of "Bristol, City of": "City of Bristol" and "Bristol"."""
    found = re.match(r"^(.*),\s*((?:city|county) of)$", name.strip(), flags=re.IGNORECASE)
    if not found:
        return []
    place, prefix = found.groups()
    return [normalise_name(f"{prefix} {place}"), normalise_name(place)]


def _key(value: object) -> str | None:
    """A lookup key, or None for a missing value (None, NaN, NA, empty)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value).strip()
    return (text[:-2] if re.fullmatch(r"\d+\.0", text) else text) or None


class AreaResolver:
    """Map ONS codes, DfE codes and names in data rows to the current_code of each place."""

    def __init__(self, areas: pd.DataFrame, combinations: pd.DataFrame | None = None):
        self.areas = areas
        ordered = areas.assign(_live=areas["valid_to"].isna())
        ordered = ordered.sort_values(["_live", "valid_from"], na_position="first")
        self._by_code = dict(zip(areas["area_code"], areas["current_code"], strict=True))
        self._by_dfe: dict[str, str] = {}
        self._by_name: dict[str, str] = {}
        for row in ordered.to_dict("records"):  # later (live, newer) rows overwrite earlier ones
            if row["dfe_code"]:
                self._by_dfe[row["dfe_code"]] = row["current_code"]
            self._by_name[normalise_name(row["name"])] = row["current_code"]
        for name, current in zip(areas["name"], areas["current_code"], strict=True):
            for alias in _name_aliases(name):  # "City of Bristol", "Bristol"; never overwrite
                self._by_name.setdefault(alias, current)
        self._combined: set[str] = set()
        if combinations is not None:
            for col in ("combined_code", "combined_dfe_code", "name"):
                self._combined |= {_compact(v) for v in combinations[col]}

    def is_combination(self, code: str) -> bool:
        """True for a joined code such as "E06000061 / E06000062" (or its DfE or name form)."""
        key = _key(code)
        if key is None:
            return False
        if _compact(key) in self._combined:
            return True
        parts = [p.strip() for p in key.split("/")]
        return len(parts) > 1 and all(_ONS_CODE.match(p) or _DFE_CODE.match(p) for p in parts)

    def resolve(self, code: str | None = None, dfe_code: str | None = None,
                name: str | None = None) -> str | None:  # fmt: skip
        """Return the current_code for an ONS code (preferred), else a DfE code, else a name.

        Returns None when nothing matches or when a given value is a combination (the caller
        reports those rows).
        """
        keys = [_key(code), _key(dfe_code), _key(name)]
        if any(k is not None and self.is_combination(k) for k in keys):
            return None
        code_key, dfe_key, name_key = keys
        if code_key and code_key.upper() in self._by_code:
            return self._by_code[code_key.upper()]
        if dfe_key and dfe_key in self._by_dfe:
            return self._by_dfe[dfe_key]
        if name_key:
            return self._by_name.get(normalise_name(name_key))
        return None

    def resolve_many(self, codes: pd.Series, dfe_codes: pd.Series | None = None,
                     names: pd.Series | None = None) -> pd.Series:  # fmt: skip
        """Resolve Series aligned by position to current codes; each distinct key resolved once."""
        columns = [codes, dfe_codes, names]
        if any(c is not None and len(c) != len(codes) for c in columns):
            raise ValueError("resolve_many: codes, dfe_codes and names must have the same length")
        values = [[None] * len(codes) if c is None else c.tolist() for c in columns]
        cache: dict[tuple, str | None] = {}
        out = []
        for triple in zip(*values, strict=True):
            if triple not in cache:
                cache[triple] = self.resolve(*triple)
            out.append(cache[triple])
        return pd.Series(out, index=codes.index, dtype=object, name="area_code")

    def find(self, query: str) -> list[dict]:
        """LA rows matching an ONS code, DfE code or name: exact matches first, then prefix, then
        substring of the name; live rows before terminated ones. Each dict has a "match" key."""
        las = self.areas[self.areas["area_type"] == "la"]
        las = las.assign(_ended=las["valid_to"].notna()).sort_values(["_ended", "name"])
        key, text = query.strip(), normalise_name(query)
        names = las["name"].map(normalise_name)
        tiers = [("code", las["area_code"] == key.upper()), ("dfe_code", las["dfe_code"] == key),
                 ("name", names == text), ("prefix", names.str.startswith(text)),
                 ("substring", names.str.contains(text, regex=False))]  # fmt: skip
        found: dict[str, dict] = {}
        for match, mask in tiers:
            if match in ("prefix", "substring") and not text:
                continue
            for row in las[mask].drop(columns="_ended").to_dict("records"):
                found.setdefault(row["area_code"], {**row, "match": match})
        return list(found.values())


def _compact(value: object) -> str:
    return re.sub(r"\s+", "", str(value)).upper()
