"""report.html and compare.html in a real headless browser, at 1280 px: nothing runs off the
side of the page and every picture decodes.

Needs Chromium (``apt-get install chromium`` on Debian); without it these tests are skipped,
as the GPU tests are without a GPU."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pyro_lvm.infer import TrainConfig
from pyro_lvm.run_reports import compare_runs, diagnose_run
from pyro_lvm.runs import RunSpec, train_run

BROWSER = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome",
                                               "google-chrome-stable"))), None)
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(BROWSER is None, reason="no headless Chromium to render with")]

#: Run in the page once it has loaded: its layout, for the test to read from the DOM.
PROBE = ("<script>window.addEventListener('load', () => document.body.setAttribute("
         "'data-layout', JSON.stringify({scroll: document.documentElement.scrollWidth, "
         "width: window.innerWidth, images: [...document.images].map(i => i.naturalWidth), "
         "widest: Math.max(...[...document.querySelectorAll('table, img')].map("
         "e => e.getBoundingClientRect().right))})));</script>")


def layout(page, tmp_path, width=1280):
    """What the browser laid out for ``page`` in a window ``width`` px wide."""
    probed = tmp_path / f"probed-{page.parent.name}-{page.name}"
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    dom = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu",
                          f"--window-size={width},1000", "--virtual-time-budget=10000",
                          "--dump-dom", probed.as_uri()], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    found = re.search(r'data-layout="([^"]*)"', dom)
    assert found, f"the page did not finish loading: {dom[:500]}"
    return json.loads(found.group(1).replace("&quot;", '"'))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    made = []
    for guide in ("meanfield", "fullrank"):
        spec = RunSpec(guide=guide, latent_dim=3, hidden=(32,), eval_samples=20,
                       train=TrainConfig(epochs=3, batch_size=128))
        made.append(train_run(spec, out=root / guide, quiet=True)[0])
    return made


def test_the_report_reads_at_1280_px(runs, tmp_path):
    page = diagnose_run(runs[0], quiet=True, num_samples=300)["report"]
    seen = layout(Path(page), tmp_path)
    assert seen["scroll"] <= seen["width"] == 1280
    assert seen["widest"] <= 1280
    assert len(seen["images"]) >= 4 and min(seen["images"]) > 0


def test_the_comparison_page_reads_at_1280_px(runs, tmp_path):
    result = compare_runs(runs, tmp_path / "cmp", num_samples=300, quiet=True)
    seen = layout(tmp_path / "cmp" / "compare.html", tmp_path)
    assert result["page"].endswith("compare.html")
    assert seen["scroll"] <= seen["width"] == 1280 and seen["widest"] <= 1280
    assert len(seen["images"]) == 1 and seen["images"][0] > 0
