"""What an agent sees: sign in, sit at a phone, the phone rings (AgentCalled from the AMI
emulator through the real AMI listener), the pop appears without a reload, hostile
caller names stay text, an unknown caller becomes a customer, a ticket is saved."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from callcenter.ami.process import start_listener_thread
from callcenter.bus.core import InProcessBus
from callcenter.config import Settings
from callcenter.db import session_scope
from callcenter.models import (
    Call,
    CallStatus,
    Customer,
    CustomerPhone,
    Line,
    LineKind,
    Queue,
    QueueKind,
    Role,
    Ticket,
    TicketStatus,
    TicketType,
    Tier,
    User,
)
from callcenter.simulation.ami.thread import EmulatorThread
from callcenter.web import create_app
from callcenter.web.server import ServerThread

pytestmark = pytest.mark.browser

SECRET = "browser-ami-secret"
INTERFACE = "PJSIP/agent1001"
PASSWORD = "browser-pass-1"
VIP_LINKEDID = "1763800000.101"
XSS_NAME = '<script>window.__popped=1</script><img src=x onerror="window.__popped=2">'


@pytest.fixture
def site(sqlite_url, tmp_path):
    """The real pieces on one in-process bus: AMI emulator, AMI listener, web panel under waitress."""
    emulator = EmulatorThread(secret=SECRET, auth_failure_delay_s=0.05, boot_delay_s=0.05).start()
    settings = Settings(database_url=sqlite_url, secret_key="browser-test", recordings_dir=tmp_path / "rec",
                        ami_host=emulator.host, ami_port=emulator.port, ami_secret=SECRET, web_threads=16)
    with session_scope(sqlite_url) as s:
        s.add(User(username="wang", display_name="王坐席", role=Role.AGENT, default_interface=INTERFACE,
                   password_hash=generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")))
        s.flush()
        agent_id = s.scalar(select(User.id).where(User.username == "wang"))
        queue = Queue(name="vip", kind=QueueKind.VIP)
        s.add(queue)
        s.flush()
        line = Line(number="4008002000", name="VIP客户专线", kind=LineKind.VIP, queue_id=queue.id)
        customer = Customer(name="王秀英", tier=Tier.VIP, area="阳光花园", building="3", unit="2", room="501")
        customer.phones.append(CustomerPhone(e164="+8613800138000", raw="13800138000"))
        s.add_all([line, customer])
        s.flush()
        s.add(Ticket(number="GD20261122-0001", type=TicketType.REPAIR, status=TicketStatus.OPEN,
                     customer_id=customer.id, owner_id=agent_id, subject="厨房漏水"))
        # The calls row route_call writes before the call reaches the queue.
        s.add(Call(uniqueid=VIP_LINKEDID, linkedid=VIP_LINKEDID, line_id=line.id, dialled_number=line.number,
                   caller_number="13800138000", caller_e164="+8613800138000", caller_name="王秀英",
                   customer_id=customer.id, ivr_path=["main", "3"], category="repair", queue="vip",
                   status=CallStatus.QUEUED))
        customer_id = customer.id
    bus = InProcessBus()
    listener = start_listener_thread(settings, bus, reconnect_min_s=0.05, reconcile_grace_s=0.0, boot_wait_s=1.0)
    assert listener.wait_connected(10) and listener.sync(10)
    app = create_app(settings, bus, instance_path=tmp_path / "instance")
    server = ServerThread(app, settings).start()
    try:
        yield {"url": server.url, "emulator": emulator, "db": sqlite_url, "customer_id": customer_id, "app": app}
    finally:
        server.stop()
        listener.stop()
        emulator.stop()


@pytest.fixture
def page(chromium, site):
    context = chromium.new_context(locale="zh-CN", viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield page
    context.close()
    if errors:      # shown with a failing test: a script error is the first suspect when a pop never shows
        print("browser errors:", *errors, sep="\n  ")
    assert not [e for e in errors if "Content Security Policy" in e], errors


def sign_in_and_sit(page, site) -> None:
    page.goto(site["url"] + "/auth/login")
    page.fill("#username", "wang")
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(site["url"] + "/agent/")
    assert page.input_value("#interface") == INTERFACE, "prefilled from the user's default interface"
    sit_at_phone(page)
    # Selectors, not wait_for_function: the panel's CSP forbids the eval that polling needs.
    page.wait_for_selector("#agent-status:not([data-status='offline'])")


def sit_at_phone(page) -> None:
    """Click 就座 and wait until the console's new stream is subscribed.

    The stream the page opened on load (its phone prefilled) is closed by the click and a
    new one is opened once the POST returns; ``data-connected`` is still "1" from the first
    stream meanwhile, so waiting for it alone let a test ring the phone while neither
    stream listened (a pop that never showed, once in CI)."""
    page.wait_for_selector("#console[data-connected='1']")            # the stream opened on load
    with page.expect_response(lambda response: "/api/agent/events" in response.url):
        page.click("#interface-form button[type=submit]")
    page.wait_for_selector("#console[data-connected='1']")


def test_screen_pop_in_the_browser(page, site, tmp_path):
    sign_in_and_sit(page, site)
    site["emulator"].agent_called(interface=INTERFACE, linkedid=VIP_LINKEDID, caller="13800138000",
                                  caller_name="WANG XIUYING")
    pop = page.wait_for_selector(f".pop[data-linkedid='{VIP_LINKEDID}']")
    page.screenshot(path=str(tmp_path / "screenpop.png"), full_page=True)
    assert (tmp_path / "screenpop.png").stat().st_size > 10_000

    assert pop.query_selector(".customer-link").text_content() == "王秀英"
    assert "vip" in pop.get_attribute("class").split()
    assert pop.query_selector(".tier").text_content() == "VIP"
    assert pop.query_selector(".unit-address").text_content() == "3栋-2单元-501"
    assert pop.query_selector('[data-field="line.name"]').text_content() == "VIP客户专线"
    assert pop.query_selector(".line-number").text_content() == "4008002000"
    assert pop.query_selector(".ivr-category").text_content() == "报修"
    # The IVR path in words from the flow definition (main.yaml: 投诉请按3).
    assert "按3 投诉" in pop.query_selector(".ivr-path").text_content()
    badges = [b.text_content() for b in pop.query_selector_all(".badges li")]
    assert badges[:2] == ["VIP专线", "VIP客户"], badges
    assert "厨房漏水" in pop.query_selector(".open-tickets").text_content()
    assert pop.query_selector(".caller-number").text_content() == "13800138000"
    # The CJK font renders the name: its glyphs are wider than the fallback boxes' zero width.
    width = page.evaluate("document.querySelector('.pop .customer-link').getBoundingClientRect().width")
    assert width > 20
    page.wait_for_selector("#agent-status[data-status='ringing']")

    # The same call ringing again (re-ring after no answer) must not pop twice.
    site["emulator"].agent_called(interface=INTERFACE, linkedid=VIP_LINKEDID)
    page.wait_for_selector(f".pop[data-linkedid='{VIP_LINKEDID}'][data-rings='2']")
    assert len(page.query_selector_all(f".pop[data-linkedid='{VIP_LINKEDID}']")) == 1


def test_hostile_caller_name_is_shown_as_text(page, site, tmp_path):
    sign_in_and_sit(page, site)
    caller, _ = site["emulator"].agent_called(interface=INTERFACE, caller="13912345678", caller_name=XSS_NAME)
    pop = page.wait_for_selector(f".pop[data-linkedid='{caller.linkedid}']")
    page.screenshot(path=str(tmp_path / "hostile.png"))
    assert pop.query_selector(".caller-name").text_content() == XSS_NAME
    assert page.evaluate("window.__popped") is None, "no injected script or handler ran"
    assert page.evaluate("document.querySelectorAll('#pops script, #pops img').length") == 0

    # An unknown caller: a one-line card; "添加客户" opens the form, prefilled with the
    # number (not with the caller ID name), which creates the record.
    assert pop.query_selector(".new-customer-form") is None, "the form opens only when asked"
    assert "首次来电" in pop.query_selector(".unknown-card").text_content()
    pop.query_selector("button.add-customer").click()
    form = pop.wait_for_selector(".new-customer-form")
    assert form.query_selector("input[name=name]").input_value() == ""
    assert form.query_selector("input[name=number]").input_value() == "13912345678"
    form.query_selector("input[name=name]").fill("赵敏")
    form.query_selector("input[name=building]").fill("5")
    form.query_selector("input[name=unit]").fill("1")
    form.query_selector("input[name=room]").fill("302")
    form.query_selector("button[type=submit]").click()
    page.wait_for_selector(f".pop[data-linkedid='{caller.linkedid}'] .created")
    assert pop.query_selector(".customer-link").text_content() == "赵敏"
    with session_scope(site["db"]) as s:
        created = s.scalar(select(Customer).where(Customer.name == "赵敏"))
        assert created.unit_address == "5栋-1单元-302"
        assert [p.e164 for p in created.phones] == ["+8613912345678"]


def test_agent_saves_a_ticket_from_the_pop(page, site):
    if "tickets.new" not in site["app"].view_functions:
        pytest.skip("the ticket views (callcenter.web.tickets) are not installed")
    sign_in_and_sit(page, site)
    site["emulator"].agent_called(interface=INTERFACE, linkedid=VIP_LINKEDID, caller="13800138000")
    pop = page.wait_for_selector(f".pop[data-linkedid='{VIP_LINKEDID}']")
    pop.query_selector("a.new-ticket").click()
    # The form opens in the console's side panel: the console (and its stream) stays.
    page.frame_locator("#side-frame").locator("input[name=subject]").wait_for()
    form = page.frame(name="side-frame")
    form.fill("input[name=subject]", "卫生间漏水")
    for field in form.query_selector_all("main form input[name^='f_']:not([type]), form input[name^='f_'][type=text], "
                                         "main form textarea[name^='f_']"):
        if not field.input_value():
            field.fill("来电登记")
    form.click("main form button[type=submit]")
    page.wait_for_selector(f".pop[data-linkedid='{VIP_LINKEDID}'] .ticket-saved:has-text('工单')")
    assert page.url.endswith("/agent/")
    with session_scope(site["db"]) as s:
        ticket = s.scalar(select(Ticket).where(Ticket.subject == "卫生间漏水"))
        assert ticket is not None, page.content()[:2000]
        assert (ticket.call_linkedid, ticket.customer_id) == (VIP_LINKEDID, site["customer_id"])
        assert ticket.type is TicketType.REPAIR, "the IVR category chose the ticket type"
