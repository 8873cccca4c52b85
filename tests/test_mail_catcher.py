"""`make run`'s mail catcher: a message sent over SMTP is kept as .eml and listed on its page,
with its text and attachments readable there."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from pathlib import Path

import httpx

from infra import dev
from infra.mail_catcher import serving
from tests.smtp import free_port

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def test_a_message_sent_is_kept_and_listed(tmp_path: Path) -> None:
    smtp_port, http_port = free_port(), free_port()
    message = EmailMessage()
    message["From"] = "Children's MARS team <mars@northlincs.gov.uk>"
    message["To"] = "dsp.health@cspr.test"
    message["Subject"] = "CSPR-2026-0001: reminder - SSL recommendation due 3 December 2026"
    message.set_content("Case: CSPR-2026-0001\nStep: SSL recommendation <b>")
    message.add_attachment(b"PK\x03\x04 a docx", maintype="application",
                           subtype=DOCX.split("/")[1], filename="CSPR-2026-0001-doc4.docx")
    with serving(tmp_path / "mail", smtp_port, http_port):
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=5) as smtp:
            smtp.send_message(message)
        [kept] = list((tmp_path / "mail").glob("*.eml"))
        assert b"CSPR-2026-0001: reminder" in kept.read_bytes()

        web = f"http://127.0.0.1:{http_port}"
        page = httpx.get(web, timeout=5)
        assert page.status_code == 200
        assert "dsp.health@cspr.test" in page.text
        assert "CSPR-2026-0001: reminder - SSL recommendation due 3 December 2026" in page.text
        assert f"/messages/{kept.name}" in page.text

        shown = httpx.get(f"{web}/messages/{kept.name}", timeout=5)
        assert shown.status_code == 200
        assert "Step: SSL recommendation &lt;b&gt;" in shown.text  # escaped, not markup
        assert "CSPR-2026-0001-doc4.docx" in shown.text
        attachment = httpx.get(f"{web}/messages/{kept.name}/attachments/0", timeout=5)
        assert attachment.status_code == 200
        assert attachment.headers["content-type"] == DOCX
        assert attachment.content == b"PK\x03\x04 a docx"
        assert "doc4.docx" in attachment.headers["content-disposition"]
        raw = httpx.get(f"{web}/messages/{kept.name}/raw", timeout=5)
        assert raw.content == kept.read_bytes()

        for missing in ("/messages/..%2F..%2Fetc%2Fpasswd", "/messages/nothing.eml",
                        f"/messages/{kept.name}/attachments/1", "/elsewhere/x"):
            assert httpx.get(f"{web}{missing}", timeout=5).status_code == 404, missing


def test_make_run_points_the_worker_at_the_catcher(tmp_path: Path) -> None:
    env = {"CSPR_DATA_DIR": str(tmp_path), "CSPR_DEV_SMTP_PORT": "2525",
           "CSPR_SMTP_HOST": "relay.example", "CSPR_SMTP_USERNAME": "u",
           "CSPR_SMTP_PASSWORD": "p", "CSPR_SMTP_STARTTLS": "true"}
    config = dev.load_config(env)
    child = dev.child_env(config, env)
    assert (child["CSPR_SMTP_HOST"], child["CSPR_SMTP_PORT"], child["CSPR_SMTP_STARTTLS"]) == (
        "127.0.0.1", "2525", "false")
    assert "CSPR_SMTP_USERNAME" not in child
    assert "CSPR_SMTP_PASSWORD" not in child
    assert dev.mail_catcher_command(config)[-4:] == [
        "--http-port", "8025", "--dir", str(tmp_path.resolve() / "mail")]
