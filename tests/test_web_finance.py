"""银行发放 in the browser and the API: finance builds a batch from what is payable,
downloads the bank file, marks it sent and imports the bank's answer; the failed cases go
back to the caseworker to correct the card, the paid ones close. A bad answer file is
refused whole; nobody but finance reaches any of it; no page or JSON answer shows a whole
card number (only the bank file does)."""

import csv
import io

import pytest
from campaign_helpers import approve_all, archive_workers, card, result_file
from conftest import api_token, csrf_from, login
from sqlalchemy import func, select

from workflows import campaigns
from workflows.budgets import yuan
from workflows.models import Case, HumanTask, Payment, PaymentBatch, PaymentLine

WORKERS = 4  # at g1: 1,000 + 3,000 + 1,000 + 2,000 元 by category


def launch_and_approve(world, count=WORKERS, orgs=("g1",), start=0):
    archive_workers(world.session, [world.orgs[o].id for o in orgs], count, start=start)
    row = campaigns.start_launch(world.session, world.user("mgr"), world.campaigns["winter"].id)
    campaigns.run_launch(world.factory, row.id)
    approve_all(world.session, [world.user(u) for u in ("l1", "l1_g3", "l2", "l2_d2", "l3")])
    world.session.expire_all()


def signed_in(app, username: str):
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def text(answer) -> str:
    return answer.get_data(as_text=True)


def no_whole_card(body: str, count: int = WORKERS, start: int = 0) -> None:
    for n in range(start, start + count):
        assert card(n) not in body, f"card {n} shown whole"


def build(client, world, org="d1") -> PaymentBatch:
    token = csrf_from(client, "/finance")
    answer = client.post(
        "/finance/batches",
        data={
            "csrf_token": token,
            "campaign_id": world.campaigns["winter"].id,
            "org_id": world.orgs[org].id,
        },
    )
    assert answer.status_code == 303, text(answer)
    world.session.expire_all()
    batch = world.session.scalars(select(PaymentBatch).order_by(PaymentBatch.id.desc())).first()
    assert answer.headers["Location"].endswith(f"/finance/batches/{batch.id}")
    return batch


def upload(client, batch_id: int, content: bytes, name: str = "result.csv"):
    token = csrf_from(client, f"/finance/batches/{batch_id}")
    return client.post(
        f"/finance/batches/{batch_id}/results",
        data={"csrf_token": token, "file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )


def mark_sent(client, batch_id: int):
    token = csrf_from(client, f"/finance/batches/{batch_id}")
    answer = client.post(f"/finance/batches/{batch_id}/sent", data={"csrf_token": token})
    assert answer.status_code == 303
    return answer


def payment_state(world) -> list[tuple]:
    world.session.expire_all()
    return [
        (p.id, p.status, p.lock_version, p.batch_id, p.attempts)
        for p in world.session.scalars(select(Payment).order_by(Payment.id))
    ]


def test_finance_pays_a_batch_and_the_cases_move_on(make_app, world):
    launch_and_approve(world)
    app = make_app(JOBS_INLINE=True)
    fin = signed_in(app, "fin")

    index = text(fin.get("/finance"))
    assert "2026年冬送温暖" in index and "市中区总工会" in index
    assert "7,000.00" in index and "生成批次" in index
    batch = build(fin, world)
    assert (batch.status, batch.line_count, batch.total_fen) == ("draft", 4, 700000)
    assert batch.reference == f"PF20260907-{batch.id:04d}"
    assert {p.status for p in world.session.scalars(select(Payment))} == {"in_batch"}
    page = text(fin.get(f"/finance/batches/{batch.id}"))
    assert batch.reference in page and "标记为已发送" in page and "撤销批次" in page
    assert "*" * 15 + card(0)[-4:] in page  # the cards are there, masked
    no_whole_card(page)
    listed = text(fin.get("/finance"))
    assert batch.reference in listed and "目前没有待发放的付款" in listed

    # The bank file: card numbers whole, amounts in yuan, named by the reference only.
    answer = fin.get(f"/finance/batches/{batch.id}/bank-file.csv")
    assert answer.status_code == 200
    assert answer.headers["Content-Disposition"] == (
        f'attachment; filename="{batch.reference}.csv"'
    )
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    rows = list(csv.reader(io.StringIO(answer.data.decode("utf-8-sig"))))
    assert rows[0] == ["序号", "户名", "卡号", "金额（元）", "用途", "参考号"]
    sent_lines = world.session.scalars(
        select(PaymentLine).where(PaymentLine.batch_id == batch.id).order_by(PaymentLine.seq)
    ).all()
    assert [r[3] for r in rows[1:]] == [yuan(line.amount_fen) for line in sent_lines]
    assert sorted(r[3] for r in rows[1:]) == ["1000.00", "1000.00", "2000.00", "3000.00"]
    assert rows[1][2] == sent_lines[0].bank_card and rows[1][2] in {card(n) for n in range(4)}
    assert rows[1][5] == f"{batch.reference}-000001"
    xlsx = fin.get(f"/finance/batches/{batch.id}/bank-file.xlsx")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
    assert f'filename="{batch.reference}.xlsx"' in xlsx.headers["Content-Disposition"]
    assert fin.get(f"/finance/batches/{batch.id}/bank-file.pdf").status_code == 422

    # Importing before it is sent is refused; then it is marked sent.
    early = upload(fin, batch.id, result_file(world.session, batch.id, fail_every=2))
    assert early.status_code == 409 and "请先标记为已发送" in text(early)
    mark_sent(fin, batch.id)
    batch = world.refresh(batch)
    assert batch.status == "sent" and batch.sent_by_id == world.users["fin"].id
    assert "导入结果" in text(fin.get(f"/finance/batches/{batch.id}"))

    # The bank's answer: lines 2 and 4 failed.
    content = result_file(world.session, batch.id, fail_every=2)
    answer = upload(fin, batch.id, content)
    assert answer.status_code == 200, text(answer)
    shown = text(answer)
    assert "成功：2 笔" in shown and "失败：2 笔" in shown
    assert "仍在等待银行结果：0 笔" in shown
    no_whole_card(shown)
    world.session.expire_all()
    batch = world.refresh(batch)
    assert batch.status == "reconciled"
    lines = world.session.scalars(
        select(PaymentLine).where(PaymentLine.batch_id == batch.id).order_by(PaymentLine.seq)
    ).all()
    assert [line.result for line in lines] == ["paid", "failed", "paid", "failed"]
    assert lines[1].reason == "账户已销户"
    by_payment = {p.id: p for p in world.session.scalars(select(Payment))}
    assert [by_payment[line.payment_id].status for line in lines] == [
        "paid",
        "failed",
        "paid",
        "failed",
    ]
    # The deliver job ran (inline): paid cases closed, failed ones wait for a new card.
    assert {p.delivery for p in by_payment.values()} == {""}
    for line in lines:
        case = world.session.get(Case, by_payment[line.payment_id].case_id)
        open_steps = world.session.scalars(
            select(HumanTask.element_id).where(
                HumanTask.case_id == case.id, HumanTask.status == "open"
            )
        ).all()
        if line.result == "paid":
            assert (case.status, case.outcome, open_steps) == ("completed", "end_paid", [])
        else:
            assert case.status == "running" and open_steps == ["correct_bank_card"]

    # The same file again changes nothing.
    before = payment_state(world)
    again = upload(fin, batch.id, content)
    assert again.status_code == 200 and "该结果文件已导入过，未作任何更改" in text(again)
    assert payment_state(world) == before

    # The lines, filtered by result; the case numbers link to the cases.
    failed = text(fin.get(f"/finance/batches/{batch.id}?result=failed"))
    assert "账户已销户" in failed and "共 2 笔" in failed
    assert f"/cases/{by_payment[lines[1].payment_id].case_id}" in failed
    assert f"/cases/{by_payment[lines[0].payment_id].case_id}" not in failed
    assert "共 2 笔" in text(fin.get(f"/finance/batches/{batch.id}?result=paid"))
    assert "共 0 笔" in text(fin.get(f"/finance/batches/{batch.id}?result=waiting"))
    everything = text(fin.get(f"/finance/batches/{batch.id}"))
    assert "共 4 笔" in everything
    no_whole_card(everything)


def test_a_refused_result_file_lists_the_bad_line_and_changes_nothing(app, world, as_user):
    launch_and_approve(world)
    fin = as_user("fin")
    batch = build(fin, world)
    mark_sent(fin, batch.id)
    good = result_file(world.session, batch.id).decode().splitlines()
    bad = "\n".join([*good, "PF20990101-9999-000001,1000.00,成功,"]).encode()
    before = payment_state(world)
    answer = upload(fin, batch.id, bad)
    assert answer.status_code == 422
    page = text(answer)
    assert "整份文件未导入" in page and "第6行" in page
    assert "未知的参考号 PF20990101-9999-000001" in page
    assert payment_state(world) == before
    assert world.refresh(batch).status == "sent"
    assert (
        world.session.scalar(select(func.count(PaymentLine.id)).where(PaymentLine.result != ""))
        == 0
    )
    # No file at all, and a file without the needed columns, are refused the same way.
    token = csrf_from(fin, f"/finance/batches/{batch.id}")
    empty = fin.post(f"/finance/batches/{batch.id}/results", data={"csrf_token": token})
    assert empty.status_code == 422 and "请选择银行返回的结果文件" in text(empty)
    headless = upload(fin, batch.id, b"a,b\n1,2\n")
    assert headless.status_code == 422 and "参考号" in text(headless)
    assert payment_state(world) == before


def test_a_draft_batch_is_cancelled_after_confirmation(app, world, as_user):
    launch_and_approve(world)
    fin = as_user("fin")
    batch = build(fin, world)
    batch_id = batch.id
    confirm = fin.get(f"/finance/batches/{batch.id}/cancel")
    assert confirm.status_code == 200 and "确认撤销批次" in text(confirm)
    token = csrf_from(fin, f"/finance/batches/{batch.id}/cancel")
    answer = fin.post(f"/finance/batches/{batch.id}/cancel", data={"csrf_token": token})
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/finance")
    world.session.expire_all()
    assert world.session.get(PaymentBatch, batch_id) is None
    assert {p.status for p in world.session.scalars(select(Payment))} == {"payable"}
    assert "7,000.00" in text(fin.get("/finance"))
    # A sent batch cannot be cancelled, and cannot be sent twice.
    batch = build(fin, world)
    mark_sent(fin, batch.id)
    assert "已发送银行，不能撤销" in text(
        fin.get(f"/finance/batches/{batch.id}/cancel", follow_redirects=True)
    )
    again = fin.post(
        f"/finance/batches/{batch.id}/cancel", data={"csrf_token": token}, follow_redirects=True
    )
    assert "已发送银行，不能撤销" in text(again)
    assert world.refresh(batch).status == "sent"
    twice = fin.post(
        f"/finance/batches/{batch.id}/sent", data={"csrf_token": token}, follow_redirects=True
    )
    assert "已标记为已发送" in text(twice)


def test_nothing_to_pay_is_said_plainly(app, world, as_user):
    fin = as_user("fin")
    assert "目前没有待发放的付款" in text(fin.get("/finance"))
    token = csrf_from(fin, "/finance")
    answer = fin.post(
        "/finance/batches",
        data={
            "csrf_token": token,
            "campaign_id": world.campaigns["winter"].id,
            "org_id": world.orgs["d1"].id,
        },
        follow_redirects=True,
    )
    assert "没有待发放的付款" in text(answer)
    assert world.session.scalar(select(func.count(PaymentBatch.id))) == 0


def test_the_api_pays_a_batch(make_app, world):
    launch_and_approve(world)
    app = make_app(JOBS_INLINE=True)
    client, headers = app.test_client(), api_token(app, "fin")
    winter, d1 = world.campaigns["winter"].id, world.orgs["d1"].id

    payables = client.get("/api/v1/payables", headers=headers).get_json()["items"]
    assert payables == [
        {
            "campaign": {"id": winter, "code": "dsnw2026", "name": "2026年冬送温暖"},
            "organisation": {"id": d1, "code": "szq", "name": "市中区总工会"},
            "count": 4,
            "total_fen": 700000,
        }
    ]
    bad = client.post("/api/v1/batches", headers=headers, json={"campaign_id": "x"})
    assert bad.status_code == 422 and "campaign_id" in bad.get_json()["errors"]
    made = client.post(
        "/api/v1/batches", headers=headers, json={"campaign_id": winter, "org_id": d1}
    )
    assert made.status_code == 201, made.get_json()
    batch = made.get_json()
    assert (batch["status"], batch["line_count"], batch["total_fen"]) == ("draft", 4, 700000)
    assert batch["counts"]["waiting"] == 4 and batch["counts"]["waiting_fen"] == 700000
    url = f"/api/v1/batches/{batch['id']}"
    assert [
        b["id"] for b in client.get("/api/v1/batches", headers=headers).get_json()["items"]
    ] == [batch["id"]]
    assert client.get(url, headers=headers).get_json()["reference"] == batch["reference"]

    lines = client.get(url + "/lines?limit=2", headers=headers).get_json()
    assert lines["total"] == 4 and len(lines["items"]) == 2
    first = lines["items"][0]
    assert first["bank_card"] != card(0) and first["bank_card"].endswith(card(0)[-4:])
    assert first["amount_fen"] == 100000 and first["result"] is None
    assert client.get(url + "/lines?result=nope", headers=headers).status_code == 422

    bank = client.get(url + "/bank-file?format=csv", headers=headers)
    assert bank.status_code == 200 and card(0) in bank.data.decode("utf-8-sig")
    assert f'filename="{batch["reference"]}.csv"' in bank.headers["Content-Disposition"]
    assert client.get(url + "/bank-file?format=xlsx", headers=headers).data[:2] == b"PK"
    assert client.get(url + "/bank-file?format=doc", headers=headers).status_code == 422

    assert client.post(url + "/sent", headers=headers).get_json()["status"] == "sent"
    assert client.post(url + "/sent", headers=headers).status_code == 409
    assert client.post(url + "/cancel", headers=headers).status_code == 409

    content = result_file(world.session, batch["id"], fail_every=3)
    unknown = content + "PF20990101-9999-000001,1000.00,成功,\r\n".encode()
    refused = client.post(
        url + "/results",
        headers=headers,
        data={"file": (io.BytesIO(unknown), "r.csv")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422
    assert "未知的参考号" in refused.get_json()["errors"]["第6行"]
    report = client.post(
        url + "/results",
        headers=headers,
        data={"file": (io.BytesIO(content), "r.csv")},
        content_type="multipart/form-data",
    )
    assert report.status_code == 200, report.get_json()
    body = report.get_json()
    assert (body["repeated"], body["paid"], body["failed"], body["waiting"]) == (False, 3, 1, 0)
    assert body["failures"][0]["reason"] == "账户已销户"
    assert body["batch"]["status"] == "reconciled"
    third = world.session.scalars(
        select(PaymentLine).where(PaymentLine.batch_id == batch["id"], PaymentLine.seq == 3)
    ).one()
    assert body["batch"]["counts"]["failed_fen"] == third.amount_fen
    assert body["batch"]["counts"]["paid_fen"] == 700000 - third.amount_fen
    again = client.post(
        url + "/results",
        headers=headers,
        data={"file": (io.BytesIO(content), "r.csv")},
        content_type="multipart/form-data",
    ).get_json()
    assert again["repeated"] is True and again["paid"] == again["failed"] == 0
    failed = client.get(url + "/lines?result=failed", headers=headers).get_json()["items"]
    assert [line["seq"] for line in failed] == [3] and failed[0]["reason"] == "账户已销户"
    world.session.expire_all()
    case = world.session.get(Case, failed[0]["case"]["id"])
    assert world.session.scalars(
        select(HumanTask.element_id).where(HumanTask.case_id == case.id, HumanTask.status == "open")
    ).all() == ["correct_bank_card"]
    everything = str(client.get(url + "/lines?limit=200", headers=headers).get_json())
    everything += str(body) + str(client.get("/api/v1/batches", headers=headers).get_json())
    no_whole_card(everything)


def test_an_api_draft_batch_is_cancelled(app, world):
    launch_and_approve(world)
    client, headers = app.test_client(), api_token(app, "fin")
    made = client.post(
        "/api/v1/batches",
        headers=headers,
        json={"campaign_id": world.campaigns["winter"].id, "org_id": world.orgs["d1"].id},
    ).get_json()
    answer = client.post(f"/api/v1/batches/{made['id']}/cancel", headers=headers)
    assert answer.status_code == 200 and answer.get_json()["cancelled"] is True
    assert client.get(f"/api/v1/batches/{made['id']}", headers=headers).status_code == 404
    world.session.expire_all()
    assert {p.status for p in world.session.scalars(select(Payment))} == {"payable"}


@pytest.mark.parametrize("username", ["cw1", "mgr", "l2"])
def test_only_finance_reaches_the_pages_and_the_api(app, world, as_user, username):
    launch_and_approve(world)
    fin = as_user("fin")
    batch = build(fin, world)
    before = payment_state(world)
    other = as_user(username)
    token = csrf_from(other, "/calendar" if username == "mgr" else "/tasks/mine")
    base = f"/finance/batches/{batch.id}"
    for url in ("/finance", base, base + "/bank-file.csv", base + "/bank-file.xlsx"):
        assert other.get(url).status_code == 403, url
    assert other.get(base + "/cancel").status_code == 403
    form = {
        "csrf_token": token,
        "campaign_id": world.campaigns["winter"].id,
        "org_id": world.orgs["d1"].id,
    }
    assert other.post("/finance/batches", data=form).status_code == 403
    for action in ("/sent", "/cancel"):
        assert other.post(base + action, data={"csrf_token": token}).status_code == 403
    answer = other.post(
        base + "/results",
        data={"csrf_token": token, "file": (io.BytesIO(b"x"), "r.csv")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 403

    client, headers = app.test_client(), api_token(app, username)
    api = f"/api/v1/batches/{batch.id}"
    for url in ("/api/v1/payables", "/api/v1/batches", api, api + "/lines", api + "/bank-file"):
        assert client.get(url, headers=headers).status_code == 403, url
    body = {"campaign_id": form["campaign_id"], "org_id": form["org_id"]}
    assert client.post("/api/v1/batches", headers=headers, json=body).status_code == 403
    for action in ("/sent", "/cancel"):
        assert client.post(api + action, headers=headers).status_code == 403
    upload_answer = client.post(
        api + "/results",
        headers=headers,
        data={"file": (io.BytesIO(b"x"), "r.csv")},
        content_type="multipart/form-data",
    )
    assert upload_answer.status_code == 403
    assert payment_state(world) == before
    assert world.refresh(batch).status == "draft"


def test_the_pages_are_in_english_too(app, world, as_user):
    launch_and_approve(world)
    fin = as_user("fin")
    index = text(fin.get("/finance?lang=en"))
    assert "Build batch" in index and "生成批次" not in index
    batch = build(fin, world)
    page = text(fin.get(f"/finance/batches/{batch.id}"))
    assert "Mark as sent" in page and "标记为已发送" not in page


def test_the_lines_are_paged_fifty_at_a_time(app, world, as_user):
    launch_and_approve(world, count=53)
    fin = as_user("fin")
    batch = build(fin, world)
    first = text(fin.get(f"/finance/batches/{batch.id}"))
    assert batch.line_count == 53, batch.line_count
    assert "共 53 笔" in first and "第 1 / 2 页" in first
    assert f"{batch.reference}-000050" in first and f"{batch.reference}-000051" not in first
    second = text(fin.get(f"/finance/batches/{batch.id}?page=2"))
    assert f"{batch.reference}-000051" in second and f"{batch.reference}-000050" not in second
    assert "第 2 / 2 页" in second
    no_whole_card(first + second, count=53)
