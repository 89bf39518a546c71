"""Uploads with the default configuration, as `make run` has it: no WARMFLOW_FILES_DIR,
the files folder relative to the working directory. What is uploaded is stored there and
downloads again, in the browser (/files/<id>) and over the API (/api/v1/files/<id>)."""

import io

from conftest import JPEG, PDF, PNG, api_token, login

from workflows import paths


def test_uploads_download_again_with_the_default_configuration(
    make_app, world, tmp_path, monkeypatch
):
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    monkeypatch.delenv("WARMFLOW_FILES_DIR")
    paths.reset()
    app = make_app()  # resolves the default, relative folder at start-up
    assert app.config["WARMFLOW_FILES_DIR"] == workdir / "instance" / "files"

    headers = api_token(app, "cw1")
    api = app.test_client()
    page = app.test_client()
    assert login(page, "cw1").status_code == 302
    for name, content, kind in (
        ("录取通知书.pdf", PDF, "application/pdf"),
        ("住房照片.jpg", JPEG, "image/jpeg"),
        ("扫描件.png", PNG, "image/png"),
    ):
        uploaded = api.post(
            "/api/v1/files",
            headers=headers,
            data={"file": (io.BytesIO(content), name)},
            content_type="multipart/form-data",
        )
        assert uploaded.status_code == 201, uploaded.get_json()
        file_id = uploaded.get_json()["id"]
        for answer in (
            api.get(f"/api/v1/files/{file_id}", headers=headers),
            page.get(f"/files/{file_id}"),
        ):
            assert (answer.status_code, answer.mimetype) == (200, kind)
            assert answer.data == content
            assert answer.headers["Cache-Control"] == "private, no-store"
    stored = list((workdir / "instance" / "files").rglob("*"))
    assert sum(p.is_file() for p in stored) == 3

    # Moving elsewhere after start-up changes nothing: the folder was resolved once.
    monkeypatch.chdir(tmp_path)
    assert api.get(f"/api/v1/files/{file_id}", headers=headers).data == PNG


def test_the_files_api_keeps_to_the_same_scope_as_the_page(app, world):
    own = world.upload("cw1")
    other_union = api_token(app, "cw3")
    client = app.test_client()
    assert client.get(f"/api/v1/files/{own}", headers=api_token(app, "cw1")).data == PDF
    # Not attached to a case yet: only its uploader reads it.
    refused = client.get(f"/api/v1/files/{own}", headers=other_union)
    assert refused.status_code == 403 and refused.get_json()["code"] == "forbidden"
    assert client.get(f"/api/v1/files/{own}").status_code == 401
    assert client.get("/api/v1/files/999999", headers=other_union).status_code == 404
