"""The example notebook runs from top to bottom, so it never rots."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "quickstart.ipynb"


@pytest.fixture()
def kernel(tmp_path):
    """A kernel manager for a ``python3`` kernel run by this interpreter, whatever else is installed."""
    from ipykernel.kernelspec import write_kernel_spec

    folder = tmp_path / "kernels"
    write_kernel_spec(folder / "python3", overrides={"argv": [sys.executable, "-m", "ipykernel_launcher", "-f",
                                                              "{connection_file}"]})
    specs = KernelSpecManager(kernel_dirs=[str(folder)])
    return KernelManager(kernel_name="python3", kernel_spec_manager=specs)


def test_quickstart_notebook_runs(kernel, tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, km=kernel, timeout=120, resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert any("fairaudit" in h and any(v in h for v in ("PASSED", "FAILED", "NOT DETERMINED")) for h in html)
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 2  # the two charts
    assert "audit.pdf" in str(outputs[-1]["data"]["text/plain"])


FRESH = [
    "import numpy as np, pandas as pd, fairaudit as fa\n"
    "rng = np.random.default_rng(0)\n"
    "data = pd.DataFrame({'sex': rng.choice(['f', 'm'], 500), 'pred': rng.integers(0, 2, 500), "
    "'y': rng.integers(0, 2, 500)})\n"
    "result = fa.audit(None, data, sensitive=['sex'], target='y', y_pred='pred', n_boot=0)",
    "result.plot('rates')",
    "result.plot('forest')",
    "result",
    "import sys; print('matplotlib.pyplot' in sys.modules)",
]


def test_charts_display_as_images_in_a_fresh_kernel(kernel, tmp_path):
    """Without pyplot, nothing registers matplotlib's display: the figures must still show as images."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in FRESH])
    NotebookClient(notebook, km=kernel, timeout=120, resources={"metadata": {"path": str(tmp_path)}}).execute()
    rates, forest, rich, pyplot = (cell.outputs for cell in notebook.cells[1:])
    for outputs in (rates, forest):
        assert any("image/png" in o.get("data", {}) for o in outputs)
        assert not any("<Figure size" in o.get("data", {}).get("text/plain", "") and "image/png" not in o["data"]
                       for o in outputs)
    html = next(o["data"]["text/html"] for o in rich if "text/html" in o.get("data", {}))
    assert "<svg" in html and "selection rate by sex" in html
    assert pyplot[0]["text"].strip() == "False"  # the test is about a kernel where pyplot was never imported
