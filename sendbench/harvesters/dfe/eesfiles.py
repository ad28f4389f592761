"""EES helpers for datasets that read a few data files of a big release, and derived ratios.

- :func:`release_data_files`: the latest release of a publication, with one :class:`FileRef`
  per data file the dataset reads, fetched one by one with
  ``GET …/api/releases/{releaseVersionId}/files/{fileId}`` (EES ``ReleaseFileController.Stream``,
  as the tribunal harvester uses it) when the release JSON's ``downloadFiles`` lists them, so a
  release of hundreds of megabytes (``school-pupils-and-their-characteristics``) is not
  downloaded whole; else the "Download all data" zip (``ees.latest_release``).
- :func:`derive_ratio`: an indicator computed from two others' observations (a count over a
  population, a part over its whole), with numerator and denominator kept.
"""

from __future__ import annotations

import pandas as pd

from sendbench.harvesters.base import FileRef, Release
from sendbench.harvesters.dfe import ees
from sendbench.harvesters.dfe.eesbase import DataFile
from sendbench.http import HttpClient


def release_data_files(
    http: HttpClient, slug: str, data_files: tuple[DataFile, ...], *, dataset: str
) -> Release:
    """The latest release of ``slug``: its listed data files that ``data_files`` describe, one
    download each, or the release zip when the JSON lists none of them."""
    url = f"{ees.CONTENT_API}/publications/{slug}/releases/latest"
    data = http.get_json(url, dataset=dataset)
    release = ees._release(data, slug, dataset=dataset, url=url)
    listed = [f for f in (data.get("downloadFiles") or []) if isinstance(f, dict) and f.get("id")]
    refs = []
    for datafile in data_files:
        found = [f for f in listed if datafile.matches(str(f.get("fileName", "")))]
        if found:
            name = str(found[-1]["fileName"])
            file_url = f"{ees.CONTENT_API}/releases/{release.release_id}/files/{found[-1]['id']}"
            refs.append(FileRef(key=datafile.key, filename=name, url=file_url, expect="csv"))
    required = [d for d in data_files if d.required]
    if len({r.key for r in refs}) < len(required):
        return release  # not every file listed: the whole zip
    release.files = refs
    return release


def derive_ratio(
    obs: pd.DataFrame, indicator_id: str, numerator: str, denominator: str, scale: float
) -> pd.DataFrame:
    """``indicator_id``'s observations: numerator / denominator × scale for each area and period
    whose headline rows have both. A numerator symbol is kept as the ratio's status; an area or
    period with no numeric denominator (or a zero one) gives no row."""
    key = ["area_code", "period"]
    num = obs[(obs["indicator_id"] == numerator) & (obs["breakdown"] == "Total")]
    den = obs[(obs["indicator_id"] == denominator) & (obs["breakdown"] == "Total")]
    den = den[den["value"].notna() & (den["value"] != 0)]
    den = den[[*key, "value"]].rename(columns={"value": "_den"})
    out = num.merge(den, on=key, how="inner")
    out = out.assign(
        indicator_id=indicator_id,
        numerator=out["value"],
        denominator=out["_den"],
        value=out["value"] / out["_den"] * scale,
    )
    return out.drop(columns="_den")[obs.columns].reset_index(drop=True)


def add_derived(parsed, derived: dict[str, tuple[str, str, float]], wanted: set[str]) -> None:
    """Append the ``derived`` indicators named in ``wanted`` to ``parsed.observations``."""
    frames = []
    for indicator_id, (numerator, denominator, scale) in derived.items():
        if indicator_id not in wanted:
            continue
        frame = derive_ratio(parsed.observations, indicator_id, numerator, denominator, scale)
        frames.append(frame)
        parsed.notes.append(
            f"{indicator_id}: {len(frame)} values derived as {numerator} / {denominator}"
            f" x {scale:,g}"
        )
    parsed.observations = pd.concat([parsed.observations, *frames], ignore_index=True)
