"""xplain_fast.plots: each figure's content, computed here from the values it shows."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

import xplain_fast as xf

# every test here draws (the plot extra); Agg needs no screen
matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from xplain_fast import plots  # noqa: E402

NAMES = ["age", "income", "debt", "tenure", "noise", "zip"]


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6))
    y = X[:, 1] - 0.5 * X[:, 2] + 4 * X[:, 0] * X[:, 3] + 0.1 * rng.normal(size=300)
    model = RandomForestRegressor(n_estimators=20, max_depth=6, random_state=0).fit(X, y)
    explainer = xf.TreeExplainer(model).fit()
    exp = explainer.explain(X)
    exp.feature_names = NAMES
    return {"X": X, "y": y, "model": model, "exp": exp, "inter": explainer.shap_interaction_values(X)}


def _strongest_first(values: np.ndarray) -> list[str]:
    return [NAMES[j] for j in np.argsort(-np.abs(values).mean(axis=0), kind="stable")]


def _labels(ax) -> list[str]:
    return [t.get_text() for t in ax.get_yticklabels()]


def _colour_bar_label(ax) -> str:
    others = [a for a in ax.figure.axes if a is not ax]
    assert others, "a colour bar was promised"
    return others[-1].get_ylabel()


def _renders(ax, tmp_path, name: str) -> None:
    ax.figure.savefig(tmp_path / f"{name}.png")
    assert (tmp_path / f"{name}.png").stat().st_size > 1000


def test_beeswarm_rows_points_colour_bar_and_rest_row(fitted, tmp_path):
    exp = fitted["exp"]
    ax = plots.beeswarm(exp, max_display=4)
    order = _strongest_first(exp.values)
    assert _labels(ax) == order[:3] + ["Sum of 3 other features"]
    assert [len(c.get_offsets()) for c in ax.collections] == [300] * 4
    np.testing.assert_allclose(np.sort(ax.collections[0].get_offsets()[:, 0]),
                               np.sort(exp.values[:, NAMES.index(order[0])]))
    np.testing.assert_allclose(np.sort(ax.collections[3].get_offsets()[:, 0]),
                               np.sort(exp.values[:, [NAMES.index(n) for n in order[3:]]].sum(axis=1)))
    assert ax.get_xlabel() == "SHAP value (impact on model output)"
    assert _colour_bar_label(ax) == "Feature value"
    _renders(ax, tmp_path, "beeswarm")


def test_beeswarm_subsamples_with_a_stated_fraction_and_seed(fitted):
    ax = plots.beeswarm(fitted["exp"], max_points=100, random_state=7, show_rest=False, max_display=6)
    assert [len(c.get_offsets()) for c in ax.collections] == [100] * 6
    assert any(t.get_text() == "100 of 300 rows (33%), seed 7" for t in ax.texts)
    again = plots.beeswarm(fitted["exp"], max_points=100, random_state=7, show_rest=False, max_display=6)
    np.testing.assert_array_equal(again.collections[0].get_offsets(), ax.collections[0].get_offsets())


def test_beeswarm_honours_ax_and_arrays_without_data(fitted):
    fig, ax = plt.subplots()
    assert plots.beeswarm(fitted["exp"].values, ax=ax) is ax
    assert len(fig.axes) == 1  # no feature values: grey dots, no colour bar
    assert _labels(ax)[0] == "x" + str(NAMES.index(_strongest_first(fitted["exp"].values)[0]))


def test_bar_widths_are_mean_absolute_values(fitted, tmp_path):
    exp = fitted["exp"]
    ax = plots.bar(exp, max_display=10)
    mean_abs = np.abs(exp.values).mean(axis=0)
    order = _strongest_first(exp.values)
    assert _labels(ax) == order
    np.testing.assert_allclose([p.get_width() for p in ax.patches], np.sort(mean_abs)[::-1])
    assert "mean(|SHAP value|)" in ax.get_xlabel()
    _renders(ax, tmp_path, "bar")


def test_bar_by_cohort(fitted):
    exp, X = fitted["exp"], fitted["X"]
    cohorts = np.where(X[:, 0] > 0, "old", "young")
    ax = plots.bar(exp, cohorts=cohorts, max_display=3, show_rest=False)
    assert len(ax.patches) == 2 * 3
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [f"old ({(cohorts == 'old').sum()} rows)", f"young ({(cohorts == 'young').sum()} rows)"]
    top = NAMES.index(_strongest_first(exp.values)[0])
    old_width = max(p.get_width() for p in ax.patches[:3])
    assert old_width == pytest.approx(np.abs(exp.values[cohorts == "old", top]).mean())
    with pytest.raises(ValueError, match="one label per row"):
        plots.bar(exp, cohorts=cohorts[:5])


def test_waterfall_goes_from_base_value_to_prediction(fitted, tmp_path):
    exp, model, X = fitted["exp"], fitted["model"], fitted["X"]
    ax = plots.waterfall(exp, 5, max_display=4)
    bars = ax.patches
    assert len(bars) == 4
    assert bars[0].get_x() == pytest.approx(exp.base_values[5])
    last = bars[-1]
    assert last.get_x() + last.get_width() == pytest.approx(model.predict(X[5:6])[0])
    phi = exp.values[5]
    strongest = NAMES[int(np.argmax(np.abs(phi)))]
    assert _labels(ax)[0] == f"{X[5, NAMES.index(strongest)]:.4g} = {strongest}"
    assert _labels(ax)[-1] == "Sum of 3 other features"
    assert all((p.get_width() >= 0) == (p.get_facecolor()[0] > 0.9) for p in bars)  # red up, blue down
    _renders(ax, tmp_path, "waterfall")


def test_force_segments_cover_the_contributions(fitted, tmp_path):
    exp, model, X = fitted["exp"], fitted["model"], fitted["X"]
    ax = plots.force(exp, 2, max_display=10)
    assert len(ax.patches) == 6
    prediction = model.predict(X[2:3])[0]
    up = [p for p in ax.patches if p.get_facecolor()[0] > 0.9]
    phi = exp.values[2]
    assert sum(p.get_width() for p in up) == pytest.approx(phi[phi > 0].sum())
    assert max(p.get_x() + p.get_width() for p in up) == pytest.approx(prediction)
    assert any(t.get_text() == f"f(x) = {prediction:.4g}" for t in ax.texts)
    _renders(ax, tmp_path, "force")


def test_scatter_colours_by_the_strongest_interaction(fitted, tmp_path):
    exp, inter, X = fitted["exp"], fitted["inter"], fitted["X"]
    ax = plots.scatter(exp, "age", interactions=inter)
    partner = np.abs(inter[:, 0, :]).mean(axis=0)
    partner[0] = -1
    assert _colour_bar_label(ax) == NAMES[int(np.argmax(partner))] == "tenure"  # y has age x tenure
    offsets = ax.collections[0].get_offsets()
    np.testing.assert_allclose(offsets[:, 0], X[:, 0])
    np.testing.assert_allclose(offsets[:, 1], exp.values[:, 0])
    assert ax.get_xlabel() == "age" and ax.get_ylabel() == "SHAP value for age"
    _renders(ax, tmp_path, "scatter")
    plain = plots.scatter(exp, 1, color=None)
    assert len(plain.figure.axes) == 1
    with pytest.raises(ValueError, match="unknown feature 'height'"):
        plots.scatter(exp, "height")
    with pytest.raises(ValueError, match="needs the feature values"):
        plots.scatter(exp.values, 0)


def test_interaction_heatmap_is_the_mean_absolute_matrix(fitted, tmp_path):
    inter = fitted["inter"]
    ax = plots.interaction_heatmap(inter, NAMES, max_display=4)
    strength = np.abs(inter).mean(axis=0)
    top = np.argsort(-strength.sum(axis=1), kind="stable")[:4]
    np.testing.assert_allclose(ax.images[0].get_array(), strength[np.ix_(top, top)])
    assert _labels(ax) == [NAMES[j] for j in top]
    assert _colour_bar_label(ax) == "mean |SHAP interaction value|"
    _renders(ax, tmp_path, "interactions")


def test_heatmap_rows_sorted_by_output(fitted, tmp_path):
    exp = fitted["exp"]
    ax = plots.heatmap(exp, max_display=3, max_rows=120, random_state=1)
    matrix = ax.images[0].get_array()
    assert matrix.shape == (3, 120)
    total = matrix.sum(axis=0)  # the shown rows and the rest row add up to each row's output
    assert np.all(np.diff(total + exp.base_values[0]) >= -1e-9)
    assert _colour_bar_label(ax) == "SHAP value"
    assert any("120 of 300 rows" in t.get_text() for t in ax.texts)
    _renders(ax, tmp_path, "heatmap")


def test_importance_box_plot_of_permutation_repeats(fitted, tmp_path):
    result = xf.permutation_importance(fitted["model"], fitted["X"], fitted["y"], n_repeats=4, random_state=0)
    ax = plots.importance(result, NAMES, max_display=3)
    top = np.argsort(-result.importances_mean, kind="stable")[:3]
    assert _labels(ax) == [NAMES[j] for j in top]
    medians = [line.get_xdata()[0] for line in ax.lines if line.get_color() == "#ff0051"]
    np.testing.assert_allclose(sorted(medians), sorted(np.median(result.importances[top], axis=1)))
    assert "decrease in score" in ax.get_xlabel()
    _renders(ax, tmp_path, "importance")
    several = xf.permutation_importance(fitted["model"], fitted["X"], fitted["y"],
                                        scoring=["r2", "neg_mean_squared_error"], n_repeats=2, random_state=0)
    with pytest.raises(ValueError, match="pass scorer="):
        plots.importance(several, NAMES)
    assert "(r2)" in plots.importance(several, NAMES, scorer="r2").get_xlabel()


def test_saliency_map_over_an_image(tmp_path):
    rng = np.random.default_rng(0)
    attributions = rng.normal(size=(3, 8, 8))
    image = rng.random((8, 8))
    ax = plots.saliency_map(attributions[1], image)
    assert len(ax.images) == 2
    limit = np.abs(attributions[1]).max()
    assert ax.images[1].get_clim() == pytest.approx((-limit, limit))
    assert _colour_bar_label(ax) == "attribution"
    _renders(ax, tmp_path, "saliency")
    with pytest.raises(ValueError, match="pick one image"):
        plots.saliency_map(attributions)
    with pytest.raises(ValueError, match="do not fill"):
        plots.saliency_map(attributions[0].ravel(), shape=(7, 8))


def test_multi_output_needs_output():
    X = np.random.default_rng(0).normal(size=(80, 3))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    exp = xf.TreeExplainer(RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)).fit().explain(X)
    for draw in (plots.beeswarm, plots.bar, plots.heatmap, plots.waterfall, plots.force):
        with pytest.raises(ValueError, match="has 3 outputs: pass output="):
            draw(exp)
        with pytest.raises(ValueError, match="out of range"):
            draw(exp, output=3)
    ax = plots.bar(exp, output=2, max_display=3)
    np.testing.assert_allclose(sorted(p.get_width() for p in ax.patches),
                               sorted(np.abs(exp.values[:, :, 2]).mean(axis=0)))


def test_bad_inputs_are_refused(fitted):
    exp = fitted["exp"]
    with pytest.raises(TypeError, match="Explanation or an array"):
        plots.bar("values")
    with pytest.raises(ValueError, match="at least one row"):
        plots.bar(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="row must be an index"):
        plots.waterfall(exp, 300)
    with pytest.raises(ValueError, match="max_display"):
        plots.bar(exp, max_display=0)
    with pytest.raises(ValueError, match="feature names for"):
        plots.bar(exp.values, feature_names=["a"])


def test_import_does_not_load_matplotlib():
    code = "import sys, xplain_fast; assert 'matplotlib' not in sys.modules, 'matplotlib was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
