"""Open an fseval report in headless Chromium and check it: screenshots, console errors, network requests.

    apt-get install chromium && pip install playwright      # Debian's Chromium; no browser download
    fseval run -o /tmp/run && fseval report /tmp/run -o /tmp/report.html
    python scripts/screenshot_report.py /tmp/report.html --out docs/images

Writes report-summary.png (the top of the page) and report-sample.png (the first sample whose
prompt holds demo images), and exits 1 when the page logs a console error or an uncaught
exception, requests anything but its own file (data: URIs are not requests on the network), or
draws a blank screenshot or a sample without images.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from PIL import Image, ImageStat


def not_blank(path: Path) -> bool:
    """A screenshot with something on it: its pixels are not all one colour."""
    with Image.open(path) as image:
        return max(ImageStat.Stat(image.convert("L")).stddev) > 5


def check(report: Path, out: Path, chromium: str) -> list[str]:
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    url = report.resolve().as_uri()
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(f"uncaught exception: {e}"))
        page.on(
            "request",
            lambda r: None if r.url == url or r.url.startswith("data:") else problems.append(f"request: {r.url}"),
        )
        page.goto(url, wait_until="load")
        page.wait_for_selector("article.sample")
        summary = out / "report-summary.png"
        page.screenshot(path=str(summary))
        shots = page.locator("select[name=shots] option").all_inner_texts()
        page.select_option("select[name=shots]", label=shots[-1])  # the most demos
        sample = page.locator("article.sample", has=page.locator(".chunk:not(.query) img")).first
        if sample.count() == 0:
            problems.append("no sample with demo images")
        else:
            sample.scroll_into_view_if_needed()
            shown = sample.locator("img").evaluate_all("(images) => images.filter((i) => i.naturalWidth > 0).length")
            if shown == 0:
                problems.append("the sample's images did not load")
            shot = out / "report-sample.png"
            sample.screenshot(path=str(shot))
            problems += [] if not_blank(shot) else [f"{shot} is blank"]
        problems += [] if not_blank(summary) else [f"{summary} is blank"]
        page.fill("#filters input[type=search]", "no sample says this 1234567")
        if "no sample" not in page.inner_text("#count"):
            problems.append("search did not filter")
        browser.close()
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args()
    problems = check(args.report, args.out, args.chromium)
    for problem in problems:
        print(problem, file=sys.stderr)
    print("ok: no console errors, no network requests, screenshots not blank" if not problems else "FAILED")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
