"""Uploaded files (admission letters, housing photos): checked, stored on disk by hash,
served only to those who may see the case."""

import hashlib
import os
from pathlib import Path

from sqlalchemy.orm import Session

from workflows import access, engine, paths, privacy
from workflows.errors import Forbidden, NotFound, ValidationFailed
from workflows.models import Case, StoredFile, User

MAX_BYTES = 10 * 1024 * 1024
# Accepted types, recognised by their first bytes rather than the name a browser sends.
SIGNATURES = {
    "application/pdf": (b"%PDF-",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
}


def storage_dir() -> Path:
    """The absolute uploads folder (WARMFLOW_FILES_DIR, resolved at start-up)."""
    return paths.current().files_dir


def sniff(data: bytes) -> str | None:
    for content_type, heads in SIGNATURES.items():
        if any(data.startswith(h) for h in heads):
            return content_type
    return None


def store(session: Session, user: User, filename: str, data: bytes) -> StoredFile:
    if not data:
        raise ValidationFailed("上传的文件是空的")
    if len(data) > MAX_BYTES:
        raise ValidationFailed(f"文件不能超过 {MAX_BYTES // 1024 // 1024} MB")
    content_type = sniff(data)
    if content_type is None:
        raise ValidationFailed("只接受 PDF、JPG 或 PNG 文件")
    digest = hashlib.sha256(data).hexdigest()
    path = storage_dir() / digest[:2] / digest
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".part")
        temporary.write_bytes(data)
        temporary.replace(path)
    # A scan is often named after the person's ID or card number: keep it masked.
    name = privacy.mask_numbers(os.path.basename(filename or "upload"))[:200] or "upload"
    with engine.unit_of_work(session):
        stored = StoredFile(
            sha256=digest,
            filename=name,
            content_type=content_type,
            size=len(data),
            org_id=user.org_id,
            uploaded_by_id=user.id,
        )
        session.add(stored)
    return stored


def readable(session: Session, user: User, file_id: int) -> tuple[StoredFile, Path]:
    stored = session.get(StoredFile, file_id)
    if stored is None:
        raise NotFound("文件不存在")
    if stored.case_id is not None:
        case = session.get(Case, stored.case_id)
        if not access.in_subtree(user, case.org):
            raise Forbidden("无权查看该文件")
    elif stored.uploaded_by_id != user.id:
        raise Forbidden("无权查看该文件")
    path = storage_dir() / stored.sha256[:2] / stored.sha256
    if not path.exists():
        raise NotFound("文件内容已丢失，请联系管理员")
    return stored, path
