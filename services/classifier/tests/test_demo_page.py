"""The demo page in headless Chromium (Debian's chromium and chromium-driver): a real photo's
labels appear with the model version and latency, and the API's errors are shown."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from classifier_testkit.server import ServerProcess

CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
)  # fmt: skip


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium, "install Debian's chromium (.ci/run does)"
    assert driver, "install Debian's chromium-driver (.ci/run does)"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium')}")
    with webdriver.Chrome(options=options, service=Service(executable_path=driver)) as chrome:
        yield chrome


def _choose(browser: webdriver.Chrome, server: ServerProcess, path: Path) -> None:
    browser.get(server.base_url + "/")
    browser.find_element(By.ID, "file").send_keys(str(path))


def test_a_photo_shows_its_labels_model_and_latency(
    browser: webdriver.Chrome, server: ServerProcess, coffee_jpeg: bytes, tmp_path: Path
) -> None:
    photo = tmp_path / "coffee.jpg"
    photo.write_bytes(coffee_jpeg)
    _choose(browser, server, photo)
    WebDriverWait(browser, 30).until(
        expected_conditions.text_to_be_present_in_element((By.ID, "predictions"), "espresso")
    )
    labels = [element.text for element in browser.find_elements(By.CSS_SELECTOR, "#predictions .label")]
    assert labels[0] == "espresso"
    assert len(labels) == 5
    meta = browser.find_element(By.ID, "meta").text
    assert "efficientnet-lite0 version 1" in meta
    assert "round trip" in meta
    browser.save_screenshot(str(tmp_path / "demo.png"))


def test_the_apis_error_is_shown(browser: webdriver.Chrome, server: ServerProcess, tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"this is not a photo" * 20)
    _choose(browser, server, broken)
    WebDriverWait(browser, 30).until(expected_conditions.visibility_of_element_located((By.ID, "error")))
    assert "not a JPEG, PNG or WebP image" in browser.find_element(By.ID, "error").text


def test_the_page_loads_nothing_from_elsewhere(server: ServerProcess) -> None:
    page = server.client.get("/").text
    assert "http://" not in page
    assert "https://" not in page
    assert "<script src" not in page
