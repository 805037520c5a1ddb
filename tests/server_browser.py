"""Headless Chromium (Debian's) driven by Selenium, for the server's rig tests. Every
wait is explicit (WebDriverWait with WAIT seconds): the server's pages make SSH round
trips, which take seconds on a loaded machine."""
import re
import time

import pytest

WAIT = 60


@pytest.fixture(scope="module")
def chrome(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--window-size=1280,900",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    driver.implicitly_wait(0)      # every wait is explicit: WebDriverWait(..., WAIT)
    yield driver
    driver.quit()


def find(chrome, css):
    """The element ``css`` once it is on the page (pages make SSH round trips: WAIT)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(chrome, WAIT).until(ec.presence_of_element_located(
        (By.CSS_SELECTOR, css)))


def gone(element):
    """A wait condition: ``element``'s page has been replaced. Chromium answers a node of
    a page that is going away either as stale or with "does not belong to the document"."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    def check(_driver):
        try:
            element.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as e:
            if "does not belong to the document" in str(e):
                return True
            raise
        return False
    return check


def click_to(chrome, element, css):
    """Click ``element`` and wait for the next page: the old page gone, its element ``css``."""
    from selenium.webdriver.support.ui import WebDriverWait

    element.click()
    WebDriverWait(chrome, WAIT).until(gone(element))
    return find(chrome, css)


def ui_login(chrome, url, name):
    chrome.delete_all_cookies()
    chrome.get(url + "/login")
    find(chrome, "#name").send_keys(name)
    find(chrome, "#password").send_keys("correct horse")
    click_to(chrome, find(chrome, "#login"), "section.env")   # the environments page


def ui_action(chrome, url, env, kind, during=None, **fields):
    """Open the action's form, fill it, review, check the confirmation, confirm; wait for
    the job to end while its log streams; ``during(job_id)`` is called once while the job
    runs. Returns (summary, states seen, log text)."""
    from selenium.webdriver.support.ui import Select

    chrome.get(url + "/")
    review = click_to(chrome, find(chrome, f"#act-{kind}-{env or 'default'}"), "#review")
    for name, value in fields.items():
        field = find(chrome, f"#{name}")
        if field.tag_name == "select":
            Select(field).select_by_visible_text(value)
        else:
            field.clear()
            field.send_keys(value)
    summary = click_to(chrome, review, "#summary").text
    click_to(chrome, find(chrome, "#confirm"), "#state")
    job = int(re.search(r"/jobs/(\d+)", chrome.current_url).group(1))
    seen, end = [], time.monotonic() + 600
    while time.monotonic() < end:   # the page updates itself: state, log
        state, lines = chrome.execute_script(
            "var s = document.getElementById('state'), l = document.getElementById('log');"
            "return [s ? s.textContent : '', l ? l.textContent.split('\\n').length : 0];")
        if not seen or seen[-1] != (state, lines):
            seen.append((state, lines))
        if state == "running" and during is not None:
            during(job)
            during = None
        if state in ("done", "failed", "lost"):
            break
        time.sleep(0.05)
    return summary, seen, find(chrome, "#log").text


def live_on_page(chrome, url, env) -> str:
    chrome.get(url + "/")
    return find(chrome, f"#live-{env or 'default'}").text


