import shutil
import subprocess

import matplotlib
import pytest

from pavlab.report.document import (
    Code,
    Document,
    Image,
    Markdown,
    Section,
    Table,
    markdown_to_html,
    to_html,
    to_markdown,
)


def _doc(tmp_path):
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2], [0.1, 0.4])
    fig.savefig(tmp_path / "curve.png")
    plt.close(fig)
    return Document("demo", [Section("Results", ["plain <text>", Table(["arm", "acc"], [["pav", "41.0%"]]),
                                                 Image(tmp_path / "curve.png", "accuracy"), Code("pavlab demo"),
                                                 Markdown("## Study\n\n| a | b |\n|---|---|\n| 1 | `x` |\n")])])


def test_markdown_has_relative_images_and_nested_headings(tmp_path):
    text = to_markdown(_doc(tmp_path), tmp_path)
    assert "![accuracy](curve.png)" in text
    assert "### Study" in text and "| pav | 41.0% |" in text


def test_html_embeds_pngs_and_escapes_text(tmp_path):
    page = to_html(_doc(tmp_path))
    assert "data:image/png;base64," in page
    assert "plain &lt;text&gt;" in page
    assert "<td><code>x</code></td>" in page


def test_markdown_subset_to_html():
    page = markdown_to_html("# T\n\nsome `code`\n\n| h1 | h2 |\n|---|---|\n| 1 | 2 |\n- item")
    assert page.count("<table>") == 1 and "<th>h1</th>" in page and "<td>2</td>" in page
    assert "<h1>T</h1>" in page and "<li>item</li>" in page


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (.ci/run installs it)")
def test_report_renders_in_headless_chromium(tmp_path):
    page = tmp_path / "report.html"
    page.write_text(to_html(_doc(tmp_path)))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    assert "<h2>Results</h2>" in dom and "41.0%" in dom
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, *flags, f"--screenshot={shot}", "--window-size=1000,1400", page.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 5000
