"""A web chat visitor attaches an image on the demo page and gets the agent's answer about it;
the console shows the same image."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import expect

from tests.browser.helpers import Watch, open_widget, sign_in
from tests.helpers import db_value, png


async def test_visitor_sends_an_image_and_gets_the_answer(
    browser, live, shop, worker, model, watch: Watch, shots, tmp_path: Path, test_env
):
    picture = tmp_path / "tent.png"
    picture.write_bytes(png(6, 5))
    page = watch.attach(await browser.new_page())
    await open_widget(page, live, shop)
    await page.locator("input.picker").set_input_files(str(picture))
    mine = page.locator(".msg.customer img.image")
    await expect(mine).to_have_count(1)
    await expect(page.locator(".msg.ai .bubble")).to_have_text(
        "[sandbox] [The customer sent a photo.] | [image image/png]")
    await shots(page, "widget-image-answered")
    assert await db_value(test_env["DATABASE_URL"],
                          "SELECT count(*) FROM attachments WHERE mime_type = 'image/png'") == 1

    # After a reload the history shows the image through its signed link.
    await page.reload()
    await page.locator(".launcher").click()
    kept = page.locator(".msg.customer img.image")
    await expect(kept).to_have_count(1)
    assert "/media/" in (await kept.get_attribute("src") or "")
    await page.wait_for_function(
        "() => { const host = document.querySelector('#mca-widget'); "
        "const i = host && host.shadowRoot.querySelector('img.image'); "
        "return i && i.complete && i.naturalWidth === 6; }")

    console = watch.attach(await browser.new_page())
    await sign_in(console, live, shop.api_key)
    await console.locator(".conv").click()
    await expect(console.locator("#messages img.att-image")).to_have_count(1)
    assert watch.dialogs == [] and watch.errors == []


async def test_operator_sends_an_image_from_the_console_and_the_visitor_sees_it(
    browser, live, shop, worker, watch: Watch, tmp_path: Path, test_env
):
    page = watch.attach(await browser.new_page())
    await open_widget(page, live, shop)
    await page.locator("textarea.input").fill("can I see the blue one?")
    await page.locator("textarea.input").press("Enter")
    await expect(page.locator(".msg.ai .bubble")).to_have_text("[sandbox] can I see the blue one?")

    picture = tmp_path / "blue.png"
    picture.write_bytes(png(7, 7))
    console = watch.attach(await browser.new_page())
    await sign_in(console, live, shop.api_key)
    await console.locator(".conv").click()
    await console.locator("#reply-file").set_input_files(str(picture))
    await console.fill("#reply", "here it is")
    await console.click("#send")
    sent = console.locator("#messages .msg.role-operator")
    await expect(sent.locator("img.att-image")).to_have_count(1)
    await expect(sent.locator(".bubble")).to_have_text("here it is")

    # The visitor's page shows the operator's image (its stream, then the signed link).
    theirs = page.locator(".msg.operator img.image")
    await expect(theirs).to_have_count(1)
    await page.wait_for_function(
        "() => { const host = document.querySelector('#mca-widget'); "
        "const i = host && host.shadowRoot.querySelector('.msg.operator img.image'); "
        "return i && i.complete && i.naturalWidth === 7; }")
    assert await db_value(test_env["DATABASE_URL"],
                          "SELECT count(*) FROM attachments WHERE message_id IS NOT NULL") == 1
    assert watch.dialogs == [] and watch.errors == []
