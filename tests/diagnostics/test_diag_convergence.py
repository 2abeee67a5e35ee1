"""The ELBO trend, the relative-change stopping signal, and seeds compared as chains."""

import numpy as np
import pytest

from pyro_lvm.diagnostics import elbo_rhat, elbo_convergence


def history(values):
    return [{"epoch": t + 1, "train_elbo": v} for t, v in enumerate(values)]


def test_a_linear_elbo_has_the_trend_and_relative_change_worked_out_by_hand():
    # e_t = −100 + t; with w = 5 the trend is the mean of the last 5 values (fewer at first):
    # ē_t = −102 + t for t ≥ 5 and ē_t = −100 + (t + 1)/2 before, so r_t = |ē_t − ē_{t−5}| / |ē_t|
    # is (t/2) / (102 − t) for t = 6..9 and 5 / (102 − t) from t = 10 on.
    result = elbo_convergence(history([-100.0 + t for t in range(1, 31)]), window=5)
    np.testing.assert_allclose(result["trend"][:3], [-99, -98.5, -98])
    np.testing.assert_allclose(result["trend"][4:], [-100 + t - 2 for t in range(5, 31)])
    assert np.isnan(result["relative_change"][:5]).all()
    np.testing.assert_allclose(result["relative_change"][5:9], [t / 2 / (102 - t)
                                                                for t in range(6, 10)])
    np.testing.assert_allclose(result["relative_change"][9:], [5 / (102 - t)
                                                               for t in range(10, 31)])
    assert result["final_relative_change"] == pytest.approx(5 / 72)
    assert not result["converged"] and result["stop_epoch"] is None


def test_a_flat_elbo_converges_as_soon_as_the_signal_is_defined():
    values = [-50.0 + 10 * 0.1 ** t for t in range(12)]  # −40, −49, −49.9, −49.99, ...
    result = elbo_convergence(history(values), window=3, tolerance=1e-3)
    assert result["converged"]
    # ē_6 = −49.99963 and ē_3 = −49.63 give r_6 = 0.0074; ē_7 − ē_4 = −0.0369 gives r_7 = 0.00074:
    # the first below 10⁻³, at epoch 8.
    assert result["stop_epoch"] == 8
    assert result["epochs"] == list(range(1, 13))


def test_runs_at_one_level_agree_and_runs_at_two_levels_do_not():
    rng = np.random.default_rng(0)
    same = [history(-20 + 0.05 * rng.standard_normal(30)) for _ in range(4)]
    apart = [history(level + 0.05 * rng.standard_normal(30)) for level in (-20, -20, -21, -21)]
    # Over 200 seeds, R̂ of four such runs with window 20 stayed below 1.16 (99%: 1.11).
    agreed, split = elbo_rhat(same, window=20), elbo_rhat(apart, window=20)
    # Rank-normalised R̂ of two perfectly separated pairs of runs is about 1.74, whatever the gap.
    assert agreed["rhat"] < 1.2 and split["rhat"] > 1.5
    np.testing.assert_allclose(split["final_elbo"], [-20, -20, -21, -21], atol=0.05)


def test_bad_histories_are_named():
    with pytest.raises(ValueError, match="history: got \\[\\]"):
        elbo_convergence([])
    with pytest.raises(ValueError, match="key: got 'test_elbo'.*'train_elbo'"):
        elbo_convergence(history([1.0, 2.0]), key="test_elbo")
    with pytest.raises(ValueError, match="histories: got 1"):
        elbo_rhat([history([1.0] * 12)])
    with pytest.raises(ValueError, match="window: got 10, expected at most the shortest run's 6"):
        elbo_rhat([history([1.0] * 12), history([1.0] * 6)])


def test_picture_and_verdict_say_the_same_about_convergence(tmp_path, monkeypatch):
    """A trace that dipped below the tolerance once and then moved again: the picture marks the
    first dip, and its title gives the verdict at the last epoch in the report's words."""
    from matplotlib.figure import Figure

    from pyro_lvm.diagnostics import pictures
    from pyro_lvm.diagnostics.convergence import convergence_text, elbo_convergence
    from pyro_lvm.diagnostics.report import verdict_rows
    values = [-200.0 + 100 * (1 - 0.5 ** t) for t in range(30)] + [-100.0 - 3 * t for t in range(1, 11)]
    history = [{"epoch": t + 1, "train_elbo": v} for t, v in enumerate(values)]
    result = elbo_convergence(history)
    assert result["stop_epoch"] is not None and not result["converged"]
    titles = {}
    original = Figure.savefig

    def keep(fig, *args, **kwargs):
        titles["title"] = fig.axes[0].get_title()
        return original(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    pictures.elbo_trace(result, tmp_path / "elbo.png")
    text = convergence_text(result["converged"], result["final_relative_change"])
    assert text.startswith("no (relative change") and text in titles["title"]
    verdict = {"num_observations": 4, "num_draws": 10, "khat_good": 4, "khat_ok": 0,
               "khat_bad": 0, "khat_max": 0.1, "ess_median": 9.0, "ess_min": 8.0,
               "active_units": 1, "latent_dim": 2, "elbo": -1.0, "log_px": -0.9, "gap": 0.1,
               "converged": result["converged"],
               "final_relative_change": result["final_relative_change"]}
    assert dict(verdict_rows(verdict))["ELBO converged"] == text
