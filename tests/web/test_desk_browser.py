"""The desk in a real headless Chromium: Arabic search, posters that load, decisions, CSRF,
logins, hostile posts shown as text, and alerts that arrive without a reload."""

from __future__ import annotations

import asyncio

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.web.desk_support import (
    CH1,
    HOSTILE,
    PASSWORD,
    DeskServer,
    add_alerting_post,
    add_desk_user,
    build_archive,
)

WAIT = 30  # seconds: a loaded 2-core machine renders slowly; every wait ends as soon as its condition holds


@pytest.fixture
def built(tmp_path):
    return asyncio.run(build_archive(tmp_path))


@pytest.fixture
def desk(built):
    with DeskServer(built.db, built.media) as server:
        yield server


def _wait(driver, condition):
    return WebDriverWait(driver, WAIT).until(condition)


def test_arabic_search_finds_the_post_written_otherwise(browser, desk):
    browser.get(desk.url + "/search")
    box = browser.find_element(By.ID, "q")
    box.send_keys("الانتقام")  # the post says والانتقامُ: an attached و and diacritics
    browser.find_element(By.ID, "search").click()
    _wait(browser, ec.presence_of_element_located((By.ID, "hits")))
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#hits a.post-link")]
    assert f"{desk.url}/post/{CH1.id}/1" in links
    marked = [m.text for m in browser.find_elements(By.CSS_SELECTOR, "#hits mark")]
    assert any("الانتقام" in m for m in marked), marked
    # the hashtag form and Eastern digits are searchable too
    browser.get(desk.url + "/search?q=" + "باقي 5")
    _wait(browser, ec.presence_of_element_located((By.ID, "hits")))
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#hits a.post-link")]
    assert f"{desk.url}/post/{CH1.id}/1" in links


def test_the_poster_loads_on_the_post_page(browser, desk, built):
    browser.get(f"{desk.url}/post/{CH1.id}/3")
    image = _wait(browser, ec.presence_of_element_located((By.CSS_SELECTOR, "img.full")))
    _wait(browser, lambda d: d.execute_script("return arguments[0].complete", image))
    assert browser.execute_script("return arguments[0].naturalWidth", image) == 320
    assert "VENGEANCE IS COMING" in browser.find_element(By.CSS_SELECTOR, ".ocr-lines").text
    similar = browser.find_elements(By.CSS_SELECTOR, "#similar a")  # the resized copy in the other channel
    assert any("/post/7002/9" in a.get_attribute("href") for a in similar)
    thumbs = browser.find_elements(By.CSS_SELECTOR, "#similar img.thumb")
    _wait(browser, lambda d: all(d.execute_script("return arguments[0].complete", t) for t in thumbs))
    assert all(browser.execute_script("return arguments[0].naturalWidth", t) > 0 for t in thumbs)


def test_acknowledging_an_alert_changes_its_state(browser, desk, built):
    alert_id = built.alert_ids[0]
    browser.get(desk.url + "/")
    card = browser.find_element(By.ID, f"alert-{alert_id}")
    assert card.find_element(By.CSS_SELECTOR, ".badge.state").text == "new"
    card.find_element(By.CSS_SELECTOR, "button.ack").click()
    _wait(browser, ec.presence_of_element_located((By.ID, "flash")))
    card = browser.find_element(By.ID, f"alert-{alert_id}")
    assert card.find_element(By.CSS_SELECTOR, ".badge.state").text == "acknowledged"
    assert "acknowledged by" in card.find_element(By.CSS_SELECTOR, ".decisions").text
    # the same state in the archive, from the web desk
    history = desk.call(lambda: desk.desk.archive.decisions.history(alert_id))
    assert [(d.value, d.desk) for d in history] == [("ack", "web")]


def test_a_post_without_the_csrf_token_is_refused(browser, desk, built):
    alert_id = built.alert_ids[0]
    browser.get(desk.url + "/")
    card = browser.find_element(By.ID, f"alert-{alert_id}")
    browser.execute_script("arguments[0].querySelector('input[name=csrf]').remove()", card)
    card.find_element(By.CSS_SELECTOR, "button.fp").click()
    problem = _wait(browser, ec.presence_of_element_located((By.ID, "problem")))
    assert "did not come from the desk" in problem.text
    assert desk.call(lambda: desk.desk.archive.decisions.history(alert_id)) == []


def test_a_hostile_post_renders_as_text(browser, desk):
    browser.get(f"{desk.url}/post/{CH1.id}/2")
    shown = browser.find_element(By.ID, "post-text").text
    assert (
        "<script>window.__pwned = 1</script>" in shown and '<img src=x onerror="window.__pwned=2">' in shown
    )
    assert "[bold red]markup[/]" in shown and "⟨U+202E⟩txt.exe" in shown
    assert browser.execute_script("return window.__pwned") is None
    scripts = browser.execute_script("return Array.from(document.scripts).map(s => s.src)")
    assert scripts == [desk.url + "/static/desk.js"]
    assert browser.find_elements(By.CSS_SELECTOR, "img[src='x']") == []
    assert HOSTILE.split()[0] not in browser.page_source  # the raw tag never reaches the DOM as markup


def test_new_alerts_appear_without_a_reload(browser, desk, built):
    browser.get(desk.url + "/")
    browser.execute_script("window.__sameDocument = true")
    [fresh] = asyncio.run(add_alerting_post(built, 77, "الانتقام قادم يا أعداء الله"))
    card = _wait(browser, ec.presence_of_element_located((By.ID, f"alert-{fresh}")))
    assert browser.execute_script("return window.__sameDocument") is True
    assert "الانتقام قادم" in card.text
    # the new card's buttons work like the others
    card.find_element(By.CSS_SELECTOR, "button.tp").click()
    _wait(browser, ec.presence_of_element_located((By.ID, "flash")))
    assert browser.find_element(By.ID, f"alert-{fresh}").find_element(
        By.CSS_SELECTOR, ".badge.state"
    ).text == ("true positive")


def test_login_and_logout(browser, built):
    asyncio.run(add_desk_user(built.db))
    with DeskServer(built.db, built.media) as desk:
        browser.get(desk.url + "/countdowns")
        _wait(browser, ec.presence_of_element_located((By.ID, "login")))
        assert "/login" in browser.current_url
        browser.find_element(By.ID, "name").send_keys("alice")
        browser.find_element(By.ID, "password").send_keys("not the password")
        browser.find_element(By.ID, "login").click()
        error = _wait(browser, ec.presence_of_element_located((By.ID, "login-error")))
        assert "wrong name or password" in error.text
        browser.find_element(By.ID, "name").send_keys("alice")
        browser.find_element(By.ID, "password").send_keys(PASSWORD)
        browser.find_element(By.ID, "login").click()
        _wait(browser, ec.url_to_be(desk.url + "/countdowns"))
        assert browser.find_element(By.CSS_SELECTOR, "header .who").text == "alice"
        cookie = browser.get_cookie("tgm_session")
        assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
        assert browser.execute_script("return document.cookie") == ""  # HttpOnly: no script reads it
        browser.find_element(By.ID, "logout").click()
        _wait(browser, ec.presence_of_element_located((By.ID, "login")))
        browser.get(desk.url + "/")
        _wait(browser, ec.presence_of_element_located((By.ID, "login")))
        assert "/login" in browser.current_url
