"""Video generation through the proxy (OpenAI Videos API shape, Sora 2 / vLLM-Omni / OpenRouter):
prompts and job objects screened, downloads labeled through the bridge and read back by
ffprobe (record) and OCR on frames FFmpeg extracts (notice and corner mark), limits refused
with clear errors, no URL in a job object leads to an unlabeled copy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import openai
import orjson
import pytest

from tests.labelers.image_support import ocr
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.lexicon import BLOCK, MASK

pytestmark = [
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed"),
    # the SDK marks the Videos API deprecated (Sora 2 shuts down in 2026); the wire stays
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

VID = "video_68d7AbC123"
TOKEN = "admin-token-for-tests-0123456789"


def job(vid: str = VID, status: str = "completed", prompt: str = "a cat", **extra: object) -> dict:
    return {
        "id": vid,
        "object": "video",
        "model": "sora-2",
        "status": status,
        "progress": 100 if status == "completed" else 0,
        "created_at": 1,
        "completed_at": 2 if status == "completed" else None,
        "expires_at": None,
        "prompt": prompt,
        "seconds": "4",
        "size": "640x360",
        "remixed_from_video_id": None,
        "error": None,
        **extra,
    }


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    from tests.labelers.test_video import make_video

    return make_video(tmp_path_factory.mktemp("clip"), seconds=3.0)


def _probe_tag(path: Path) -> dict:
    from tests.labelers.test_video import ffprobe

    return json.loads(ffprobe(path)["format"]["tags"]["AIGC"])


def test_sdk_create_poll_download_gets_a_labeled_video(
    make_gateway, fake: FakeUpstream, clip: bytes, tmp_path: Path
) -> None:  # noqa: ANN001
    from tests.labelers.test_video import frame_at

    fake.json("/v1/videos", job(status="queued", prompt="一只猫在弹钢琴"))
    fake.json(f"/v1/videos/{VID}", job(prompt="一只猫在弹钢琴"))
    fake.reply(f"/v1/videos/{VID}/content", Reply([clip], content_type="video/mp4"))
    with make_gateway(admin_token=TOKEN) as base:
        client = openai.OpenAI(base_url=base + "/v1", api_key="k", max_retries=0)
        created = client.videos.create(model="sora-2", prompt="一只猫在弹钢琴", seconds="4")
        assert created.id == VID and created.status == "queued"
        done = client.videos.retrieve(VID)
        assert done.status == "completed"
        raw = client.videos.with_raw_response.download_content(VID)
        data = raw.parse().content
        header = raw.headers["x-aigc-label"]
        export = httpx.get(base + "/admin/export", params={"format": "jsonl"},
                           headers={"authorization": f"Bearer {TOKEN}"})
    # the SDK sent multipart; the prompt reached the upstream screened (nothing to mask)
    create = next(r for r in fake.requests if r.method == "POST")
    assert b"\xe4\xb8\x80\xe5\x8f\xaa\xe7\x8c\xab" in create.body  # 一只猫
    path = tmp_path / "out.mp4"
    path.write_bytes(data)
    record = _probe_tag(path)
    assert record["Label"] == "1" and record["ProduceID"] == VID
    assert json.loads(header) == record
    for at in (0.5, 1.5):  # the notice for the first seconds, the mark on every frame
        texts = [t for t, _ in ocr(frame_at(path, at))]
        assert any("人工智能生成" in t for t in texts), (at, texts)
        assert any("AI生成" in t for t in texts), (at, texts)
    rows = [orjson.loads(line) for line in export.text.splitlines() if line.strip()]
    deliveries = [r for r in rows if r["kind"] == "label_delivery"]
    assert [(d["content_id"], d["media_type"], d["explicit"]) for d in deliveries] == [
        (VID, "video/mp4", True)
    ]


def test_prompts_are_masked_and_blocked(gateway: str, fake: FakeUpstream) -> None:
    fake.json("/v1/videos", job(status="queued"))
    # multipart (what the SDK sends): the prompt part is rewritten masked
    form = {"model": (None, "sora-2"), "prompt": (None, f"拍一段{MASK}")}
    r = httpx.post(gateway + "/v1/videos", files=form)
    assert r.status_code == 200, r.text
    assert MASK.encode() not in fake.requests[-1].body and "拍一段****".encode() in \
        fake.requests[-1].body
    # JSON (LiteLLM, new-api): the same
    r = httpx.post(gateway + "/v1/videos", json={"model": "sora-2", "prompt": f"拍一段{MASK}"})
    assert r.status_code == 200 and fake.requests[-1].json()["prompt"] == "拍一段****"
    # remix, edits, extensions and vLLM-Omni's generations: blocked before the upstream
    seen = len(fake.requests)
    for path in ("/v1/videos", f"/v1/videos/{VID}/remix", "/v1/videos/edits",
                 "/v1/videos/extensions", "/v1/videos/generations", "/v1/videos/sync"):
        r = httpx.post(gateway + path, json={"prompt": f"教我{BLOCK}"})
        assert r.status_code == 400, (path, r.text)
        assert r.json()["error"]["code"] == "content_policy_violation"
    r = httpx.post(gateway + "/v1/videos", files={
        "prompt": (None, "a cat"),
        "input_reference": ("ref.txt", f"{BLOCK}".encode(), "text/plain"),
    })
    assert r.status_code == 400
    assert len(fake.requests) == seen  # the model API never saw them
    r = httpx.post(gateway + "/v1/videos", json={"prompt": ["not", "a", "string"]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request"


def test_job_objects_are_screened(gateway: str, fake: FakeUpstream) -> None:
    fake.json(f"/v1/videos/{VID}", job(prompt=f"拍一段{MASK}"))
    r = httpx.get(gateway + f"/v1/videos/{VID}")
    assert r.status_code == 200 and r.json()["prompt"] == "拍一段****"
    assert r.headers["x-aigc-decision"] == "mask"
    assert "x-aigc-label" not in r.headers  # a job object carries no generated content
    failed = job(status="failed", error={"code": "moderation_blocked",
                                         "message": f"这里有{BLOCK}"})
    fake.json("/v1/videos", {"object": "list", "data": [failed], "has_more": False})
    r = httpx.get(gateway + "/v1/videos")
    assert r.status_code == 200
    assert BLOCK not in r.text and r.json()["data"][0]["id"] == VID


def test_job_urls_never_lead_to_an_unlabeled_copy(
    gateway: str, fake: FakeUpstream, upstream_url: str, clip: bytes
) -> None:
    """OpenRouter's shape: ``unsigned_urls`` (its own download route) and ``urls`` (signed
    storage links). The first go through the gateway (labeled), the second are removed."""
    fake.json("/api/v1/videos/job-1", {
        "id": "job-1",
        "polling_url": "/api/v1/videos/job-1",
        "status": "completed",
        "unsigned_urls": [upstream_url + "/api/v1/videos/job-1/content?index=0"],
        "urls": ["https://storage.example.com/signed/job-1.mp4?sig=abc"],
        "thumbnail_url": upstream_url + "/static/job-1.webp",
        "usage": {"cost": 0.5},
    })
    fake.reply("/api/v1/videos/job-1/content", Reply([clip], content_type="video/mp4"))
    r = httpx.get(gateway + "/api/v1/videos/job-1")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["urls"] == [] and body["thumbnail_url"] is None
    assert body["polling_url"] == "/api/v1/videos/job-1"
    (link,) = body["unsigned_urls"]
    assert link == gateway + "/api/v1/videos/job-1/content?index=0"
    video = httpx.get(link, timeout=120)
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert json.loads(video.headers["x-aigc-label"])["ProduceID"] == "job-1"


def test_thumbnail_and_sync_are_labeled(gateway: str, fake: FakeUpstream, clip: bytes,
                                        tmp_path: Path) -> None:
    from PIL import Image

    from tests.labelers.image_support import encode, exiftool, gradient

    fake.reply(f"/v1/videos/{VID}/content", Reply([encode(gradient(320, 180), "WEBP")],
                                                  content_type="image/webp"))
    r = httpx.get(gateway + f"/v1/videos/{VID}/content", params={"variant": "thumbnail"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/webp"
    (tmp_path / "thumb.webp").write_bytes(r.content)
    (view,) = exiftool([tmp_path / "thumb.webp"], tmp_path)
    assert json.loads(view["XMP-TC260:AIGC"])["ProduceID"] == f"{VID}-thumbnail"
    assert Image.open(tmp_path / "thumb.webp").size == (320, 180)
    fake.reply("/v1/videos/sync", Reply([clip], content_type="video/mp4"))
    r = httpx.post(gateway + "/v1/videos/sync", files={"prompt": (None, "a cat")}, timeout=120)
    assert r.status_code == 200, r.text
    (tmp_path / "sync.mp4").write_bytes(r.content)
    assert _probe_tag(tmp_path / "sync.mp4")["ProduceID"] == r.headers["x-request-id"]


def test_limits_and_unlabelable_downloads_are_clear_502s(
    make_gateway, fake: FakeUpstream, clip: bytes
) -> None:  # noqa: ANN001
    content = f"/v1/videos/{VID}/content"
    fake.reply(content, Reply([clip], content_type="video/mp4"))
    with make_gateway(labels={"video_max_seconds": 2.0}) as base:
        r = httpx.get(base + content)
    assert r.status_code == 502 and r.json()["error"]["code"] == "label_failed"
    assert "media_limit_exceeded" in r.json()["error"]["message"]
    assert "3.0 s long" in r.json()["error"]["message"]
    fake.reply(content, Reply([clip[:5000], clip[5000:]], content_type="video/mp4"))
    with make_gateway(proxy={"media_max_bytes": 4096}) as base:
        r = httpx.get(base + content)
    assert r.status_code == 502 and "larger than 4096 bytes" in r.json()["error"]["message"]
    assert clip[:64] not in r.content
    with make_gateway() as base:
        for body, ctype in ((clip[: len(clip) // 2], "video/mp4"),  # truncated
                            (b"<html>not a video</html>", "text/html"),
                            (b"\x00\x01\x02" * 100, "application/octet-stream")):
            fake.reply(content, Reply([body], content_type=ctype))
            r = httpx.get(base + content)
            assert r.status_code == 502 and r.json()["error"]["code"] == "label_failed", r.text
            assert body[:32] not in r.content
        # an upstream that streams the download (SSE) is not relayed either
        fake.reply(content, Reply([b"data: {}\n\n"], content_type="text/event-stream"))
        r = httpx.get(base + content)
        assert r.status_code == 502 and r.json()["error"]["code"] == "label_failed"
        # upstream errors pass as they are
        fake.json(content, {"error": {"message": "not ready", "code": "video_not_ready"}},
                  status=404)
        r = httpx.get(base + content)
        assert r.status_code == 404 and r.json()["error"]["code"] == "video_not_ready"


def test_labels_off_for_a_tenant_relays_the_video_as_is(
    make_gateway, fake: FakeUpstream, clip: bytes
) -> None:  # noqa: ANN001
    fake.reply(f"/v1/videos/{VID}/content", Reply([clip], content_type="video/mp4"))
    with make_gateway(labels={"enabled": False}) as base:
        r = httpx.get(base + f"/v1/videos/{VID}/content")
    assert r.status_code == 200 and r.content == clip and "x-aigc-label" not in r.headers


@pytest.mark.parametrize(
    ("method", "path", "adapter", "wire"),
    [
        ("POST", "/v1/videos", "videos", "/v1/videos"),
        ("POST", "/openai/v1/Videos", "videos", "/openai/v1/videos"),  # Azure OpenAI v1
        ("POST", "/api/v1/videos", "videos", "/api/v1/videos"),  # OpenRouter
        ("POST", "/v1/videos/Vid_AbC/remix", "videos", "/v1/videos/Vid_AbC/remix"),
        ("POST", "/v1/videos/generations", "videos", "/v1/videos/generations"),
        ("POST", "/v1/videos/sync", "video_sync", "/v1/videos/sync"),
        ("GET", "/v1/videos", "video_jobs", "/v1/videos"),
        ("GET", "/v1//videos/./Vid_AbC", "video_jobs", "/v1/videos/Vid_AbC"),
        ("GET", "/v1/videos/Vid_AbC/CONTENT", "video_content", "/v1/videos/Vid_AbC/content"),
        ("GET", "/openai/deployments/Sora/videos/v%2D1/content", "video_content",
         "/openai/deployments/Sora/videos/v-1/content"),
        ("HEAD", "/v1/videos/v1/content", None, "/v1/videos/v1/content"),
        ("DELETE", "/v1/videos/Vid_AbC", None, "/v1/videos/Vid_AbC"),
        ("POST", "/v1/videos/characters", None, "/v1/videos/characters"),
    ],
)
def test_video_routes(method: str, path: str, adapter: str | None, wire: str) -> None:
    from service.proxy.routing import resolve

    route = resolve(method, path.encode())
    assert route is not None and route.path == wire
    assert (route.adapter.name if route.adapter else None) == adapter
    assert route.kind == ("protocol" if adapter else "generic")
