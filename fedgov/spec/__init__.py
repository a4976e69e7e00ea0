"""The monitoring spec: what a model version is watched on.

A spec is shared by every silo that serves a model version, so that their
statistics are counted over the same cells and can be summed:

* numeric features with sorted bin edges ``e0 < e1 < ... < ek``;
* categorical features with a list of known categories;
* the label, prediction and optional score columns; with a score column,
  *score edges* over which per-group score histograms are counted (for AUC
  and calibration error, :mod:`fedgov.metrics.scores`);
* sensitive attributes with their groups, and declared intersections;
* optionally, per numeric feature, *fine edges*: a few hundred reference
  quantiles from which KS and Wasserstein-1 are computed with a small,
  documented error bound (see :mod:`fedgov.metrics.drift`). The fine edges
  contain every coarse edge, including the first and the last, so a coarse
  count is a sum of fine counts and one pass over the rows gives both;
* an optional *reference profile*: the counts of the reference data over
  the same cells (``reference``, and ``reference_fine`` over the fine
  edges), from which drift is measured. It holds counts only.

Cell layouts, used everywhere (statistics, wire, reference profile):

* numeric: ``[underflow, bin_0, ..., bin_{k-1}, overflow, missing]``
  (``k + 3`` cells). Bin ``i`` is ``[e_i, e_{i+1})``, the last bin is closed.
  The fine layout is the same over the fine edges.
* categorical: ``[cat_0, ..., cat_{m-1}, unseen, missing]`` (``m + 2`` cells).

Fine edges and fine references are optional and written only when present,
so a spec without them keeps its digest.

*Declared outcome values* (``label_values``, ``prediction_values``): every value
the label and prediction columns may hold, as strings (``"0"``, ``"1"``, ``"yes"``),
derived from the reference data with the positive label among them. A window
holding any other value is refused (:class:`~fedgov.errors.DataError`) instead of
counting it as a negative. A spec that declares none (written before these
fields existed, or built without them) means :func:`default_outcome_values`:
``0, 1`` when the positive label is the number 0 or 1, otherwise *not checked*
(any non-positive value counts as a negative, as before). ``to_dict`` leaves
out values equal to that default, so such specs keep their digest.

Score edges use the numeric layout too. A spec with a score column and no
``score_edges`` gets :data:`DEFAULT_SCORE_EDGES` (20 equal-width bins over
``[0, 1]``); ``to_dict`` leaves out score edges equal to that default, so a
spec written before score edges existed keeps its digest, and the default is
part of the format: it must not change within ``fedgov.spec/v1``.

The pieces: features and their layouts (``_features``), declared outcome values
(``_outcomes``), reading a spec document with its strict key checks
(``_document``), and :class:`MonitoringSpec` with its validation, digest and
files (``_model``).
"""

from fedgov.spec._document import SPEC_FORMAT as SPEC_FORMAT
from fedgov.spec._features import (
    CategoricalFeature,
    NumericFeature,
    SensitiveAttribute,
    coarse_from_fine,
    coarse_groups,
)
from fedgov.spec._features import Feature as Feature
from fedgov.spec._model import DEFAULT_SCORE_BINS as DEFAULT_SCORE_BINS
from fedgov.spec._model import DEFAULT_SCORE_EDGES, MonitoringSpec, load_spec, save_spec
from fedgov.spec._outcomes import default_outcome_values, outcome_value_matches, plain_number

__all__ = [
    "DEFAULT_SCORE_EDGES",
    "CategoricalFeature",
    "coarse_from_fine",
    "coarse_groups",
    "default_outcome_values",
    "MonitoringSpec",
    "NumericFeature",
    "SensitiveAttribute",
    "load_spec",
    "outcome_value_matches",
    "plain_number",
    "save_spec",
]
