"""Open generated reports in headless Chromium: they render, log no console errors and make no
network requests. Chromium is driven over the DevTools protocol on a pipe (fd 3/4,
`--remote-debugging-pipe`), so no extra Python package is needed."""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-default-apps", "--disable-sync",
    "--remote-debugging-pipe",
)


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("headless Chromium is required for the report tests: apt-get install -y chromium")


class DevToolsPipe:
    """A minimal DevTools-protocol client over Chromium's debugging pipe (NUL-separated JSON)."""

    def __init__(self, binary: str, profile: str):
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # move the child's ends above 4 so the dup2 onto 3 and 4 cannot clobber one another
        child_r, child_w = os.dup(to_browser_r), os.dup(from_browser_w)
        while child_r < 5 or child_w < 5:
            child_r, child_w = os.dup(child_r), os.dup(child_w)
        os.close(to_browser_r)
        os.close(from_browser_w)

        def wire_fds() -> None:
            os.dup2(child_r, 3)
            os.dup2(child_w, 4)

        self.proc = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            preexec_fn=wire_fds, pass_fds=(3, 4), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(child_r)
        os.close(child_w)
        self._buf = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def _read_until(self, pred, timeout: float) -> dict[str, Any]:
        end = time.monotonic() + timeout
        while True:
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "method" in msg:
                    self.events.append(msg)
                if pred(msg):
                    return msg
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"Chromium closed the debugging pipe (exit code {self.proc.poll()})")
                self._buf += chunk

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout: float = 30.0) -> dict[str, Any]:
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_browser, json.dumps(msg).encode() + b"\0")
        mid = self._next_id
        reply = self._read_until(lambda m: m.get("id") == mid, timeout)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def wait_event(self, method: str, timeout: float = 30.0) -> dict[str, Any]:
        for e in self.events:
            if e["method"] == method:
                return e
        return self._read_until(lambda m: m.get("method") == method, timeout)

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=10)
        except (RuntimeError, TimeoutError, OSError):
            self.proc.kill()  # it did not close by itself; do not leave it running
        finally:
            self.proc.wait(timeout=10)
            os.close(self._to_browser)
            os.close(self._from_browser)


@dataclass
class BrowserResult:
    title: str
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    svg_count: int = 0
    svg_min_width: float = 0.0
    page_height: int = 0
    screenshot: Path | None = None

    @property
    def external_requests(self) -> list[str]:
        """Every request but the report file itself."""
        return [u for u in self.requests[1:]]


def open_in_chromium(html_path: str | Path, screenshot: str | Path, width: int = 1280,
                     max_height: int = 12000) -> BrowserResult:
    """Load a file in headless Chromium; collect console errors and requests; full-page screenshot."""
    url = Path(html_path).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="report-chromium-") as profile:
        browser = DevToolsPipe(chromium_binary(), profile)
        try:
            target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                browser.call(f"{domain}.enable", session=session)
            browser.call("Emulation.setDeviceMetricsOverride",
                         {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session=session)
            browser.events.clear()
            browser.call("Page.navigate", {"url": url}, session=session)
            browser.wait_event("Page.loadEventFired")
            probe = ("JSON.stringify({title: document.title, svgs: document.querySelectorAll('svg').length,"
                     " minw: Math.min(...Array.from(document.querySelectorAll('svg')).map(s => s.getBoundingClientRect().width), 1e9),"
                     " h: document.documentElement.scrollHeight})")
            info = json.loads(browser.call("Runtime.evaluate", {"expression": probe, "returnByValue": True},
                                           session=session)["result"]["value"])
            height = min(int(info["h"]), max_height)
            browser.call("Emulation.setDeviceMetricsOverride",
                         {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=session)
            shot = browser.call("Page.captureScreenshot", {"format": "png"}, session=session, timeout=60)
            out = Path(screenshot)
            out.write_bytes(base64.b64decode(shot["data"]))
        finally:
            browser.close()
    result = BrowserResult(title=info["title"], svg_count=int(info["svgs"]),
                           svg_min_width=float(info["minw"]) if info["svgs"] else 0.0, page_height=int(info["h"]),
                           screenshot=out)
    for e in browser.events:
        p = e.get("params", {})
        if e["method"] == "Network.requestWillBeSent":
            result.requests.append(p["request"]["url"])
        elif e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert", "warning"):
            result.console_errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
        elif e["method"] == "Runtime.exceptionThrown":
            result.console_errors.append(p["exceptionDetails"].get("text", "exception"))
        elif e["method"] == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
            result.console_errors.append(p["entry"]["text"])
    return result


def test_the_checker_sees_console_errors_and_requests(tmp_path):
    """The browser checks above can fail: a page that logs an error and loads an image is caught."""
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><html><head><title>bad</title></head><body><p>x</p>"
                    "<script>console.error('planted console error')</script>"
                    "<img src='http://127.0.0.1:9/nothing.png'></body></html>", encoding="utf-8")
    result = open_in_chromium(page, tmp_path / "bad.png", width=400)
    assert any("planted console error" in e for e in result.console_errors)
    assert result.external_requests == ["http://127.0.0.1:9/nothing.png"]
    assert result.title == "bad" and result.screenshot.stat().st_size > 0
