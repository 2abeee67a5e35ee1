"""The run pictures: what ``pyro-lvm train`` draws into the run directory."""

from .. import plots

def draw_pictures(lvm, dataset, history, run_dir, num_samples=100):
    """``samples.png`` (draws x ~ p(x), like the data), ``loss.png`` and, where the model has them, ``reconstructions.png``
    (models with an encoder), ``density.png`` (exact densities of 2-D data) and
    ``clusters.png`` (mixtures) in ``run_dir``."""
    test = dataset.test.cpu()
    samples = lvm.generate(num_samples if dataset.image_shape else 1000).cpu()
    originals = dataset.test[:40]
    if dataset.image_shape is not None:
        plots.image_grid(samples, dataset.image_shape, run_dir / "samples.png",
                         "draws x ~ p(x) of the model")
    else:
        plots.scatter_pairs(test, samples, run_dir / "samples.png",
                            labels=("test data", "model: draws x ~ p(x)"))
    if hasattr(lvm, "reconstruct"):
        recon = lvm.reconstruct(originals).cpu()
        if dataset.image_shape is not None:
            plots.paired_grid(originals.cpu(), recon, dataset.image_shape,
                              run_dir / "reconstructions.png",
                              "test images (odd rows) and their reconstructions")
        else:
            plots.scatter_pairs(originals.cpu(), recon, run_dir / "reconstructions.png",
                                labels=("test data", "reconstructions"))
    if hasattr(lvm, "log_marginal") and dataset.dim == 2:  # the grid is made on the host
        device = dataset.test.device
        plots.density_heatmap(lambda points: lvm.log_marginal(points.to(device)), test,
                              run_dir / "density.png")
    if hasattr(lvm, "predict"):
        plots.scatter_pairs(test, test, run_dir / "clusters.png",
                            labels=("test data", "most probable component"),
                            colors=(None, lvm.predict(dataset.test).cpu()))
    plots.loss_curve(history, run_dir / "loss.png")
