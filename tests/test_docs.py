"""The documentation: the README's table of contents against the pages and the site's
nav, generated tables against what generates them, and no word about how the project
was developed anywhere in the product."""

import re
import subprocess
import sys

import yaml
from conftest import ROOT

# Where the product speaks: every text file of these (binary and data files aside).
PRODUCT = ["README.md", "CITATION.cff", "Makefile", "pyproject.toml", "mkdocs.yml", ".ci",
           "docs", "conf", "src", "scripts", "tests"]
TEXT = {".md", ".py", ".yaml", ".yml", ".toml", ".cff", ".txt", ".cfg", ""}
# The word only in its technical senses: pytest fixture scopes, HTTP/ORM/MLflow clients.
WORD = re.compile(r"\bsess" + r"ions?\b", re.I)  # split so this file does not match itself
TECHNICAL = re.compile(r'scope="sess' + r'ion"|[Ss]ess' + r'ion\(|requests\.Sess' + r'ion')


def product_files():
    for entry in PRODUCT:
        path = ROOT / entry
        for f in [path] if path.is_file() else sorted(path.rglob("*")):
            if f.is_file() and f.suffix in TEXT and "__pycache__" not in f.parts:
                yield f


def test_no_word_about_how_the_project_was_developed():
    hits = [f"{f.relative_to(ROOT)}:{n}: {line.strip()}"
            for f in product_files()
            for n, line in enumerate(f.read_text(errors="replace").splitlines(), 1)
            if WORD.search(TECHNICAL.sub("", line))]
    assert not hits, "\n".join(hits)


def nav_pages(items):
    for item in items:
        for value in item.values():
            yield from nav_pages(value) if isinstance(value, list) else [value]


def test_every_page_exists_is_in_the_nav_and_the_readme_lists_them():
    nav = set(nav_pages(yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]))
    assert all((ROOT / "docs" / page).is_file() for page in nav), nav
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    assert pages == nav, pages ^ nav  # no page the site would leave out of its nav
    readme = (ROOT / "README.md").read_text()
    toc = readme.split("## Documentation", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"\]\(docs/([\w/.-]+\.md)\)", toc)
    assert len(listed) >= 10 and set(listed) <= nav
    assert set(listed) == {p for p in nav if "/" not in p} - {"index.md"}


def test_relative_links_between_pages_resolve():
    for f in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", f.read_text()):
            if "://" not in target:
                assert (f.parent / target).exists(), f"{f.relative_to(ROOT)}: {target}"


def test_the_error_statistics_table_is_the_scripts_output():
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "multiplier_stats.py")],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() in (ROOT / "docs" / "hardware.md").read_text()


def test_the_benchmark_page_holds_generated_tables_under_a_machine_header():
    text = (ROOT / "docs" / "benchmarks.md").read_text()
    generated = text.split("<!-- bench:begin -->", 1)[1].split("<!-- bench:end -->", 1)[0]
    header = generated.strip().splitlines()[0]
    assert re.match(r"Measured \d{4}-\d\d-\d\d on .+, \d+ cores, torch [\d.]+", header), header
    assert "`python scripts/bench.py" in header
    assert generated.count("| measure | median |") >= 5  # one table per case


def test_the_reproduction_pages_claims_table_is_the_reference_claims_csv():
    """Every row of docs/reproduction.md's headline table (ours, interval, both verdicts)
    is the committed reference's claims.csv."""
    import pandas as pd

    claims = pd.read_csv(ROOT / "docs/reference/paper/claims.csv").set_index("claim")
    text = (ROOT / "docs/reproduction.md").read_text()
    head = "| claim | paper | ours (95 % interval over seeds) | verdict | ours / paper"
    block = text[text.index(head):].split("\n\n")[0].splitlines()[2:]
    assert len(block) == len(claims)
    for line in block:
        claim, paper, ours, verdict, ratio, size = [c.strip() for c in line.strip("|").split("|")]
        r = claims.loc[claim]
        assert float(paper) == r["paper_value"]
        assert ours == f"{r['ours']:.2f} [{r['ci95_low']:.2f}, {r['ci95_high']:.2f}]"
        assert ratio == (f"{r['ratio_to_paper']:.2f} [{r['ratio_ci95_low']:.2f}, "
                         f"{r['ratio_ci95_high']:.2f}]")
        assert verdict.strip("*") == r["verdict"] and size.strip("*") == r["magnitude"]
