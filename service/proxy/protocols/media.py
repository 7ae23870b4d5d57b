"""Image, speech and video generation: prompts screened, media outputs labeled.

- `/v1/images/generations` (JSON) and `/v1/images/edits` / `/variations` (multipart, with the
  source images) answer with images: ``revised_prompt`` is screened, the images themselves are
  labeled by ``service.proxy.media``.
- `/v1/audio/speech` answers with audio bytes, labeled before they reach the client.
- Video generation, the OpenAI Videos API shape (Sora 2; also served by vLLM-Omni, LiteLLM,
  new-api, Azure ``/openai/v1``, OpenRouter ``/api/v1``): ``POST videos`` (JSON or multipart
  with an ``input_reference``), ``videos/{id}/remix``, ``videos/edits``, ``videos/extensions``
  and vLLM-Omni's older ``videos/generations`` create a job (prompt screened; the answer is a
  job object, screened); ``GET videos`` and ``videos/{id}`` return job objects (screened, URLs
  to the video rewritten or removed); ``GET videos/{id}/content`` (any ``variant``) and
  vLLM-Omni's ``POST videos/sync`` deliver the file, labeled (video: explicit notice and
  corner mark, MP4 metadata record; thumbnail and spritesheet: image labels).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any
from urllib.parse import parse_qsl

from .base import Adapter, expect

__all__ = ["ImageEdits", "Images", "Speech", "VideoContent", "VideoJobs", "VideoSync", "Videos"]


class Images(Adapter):
    name = "images"
    output = "image"

    def validate(self, body: dict) -> None:
        super().validate(body)
        expect(body, "prompt", str)

    def is_stream(self, body: dict) -> bool:
        return False

    def answer_ok(self, body: Any) -> bool:
        if not isinstance(body, dict):
            return False
        data = body.get("data")
        return (data is None and bool(body.get("error"))) or isinstance(data, list)

    def block(self, body: dict, scope: Hashable) -> None:
        body["data"] = []


class ImageEdits(Images):
    name = "image_edits"
    takes_media = True  # the images to edit
    multipart = True


class Speech(Adapter):
    name = "speech"
    output = "audio"

    def validate(self, body: dict) -> None:
        super().validate(body)
        expect(body, "input", str)
        expect(body, "instructions", str)

    def is_stream(self, body: dict) -> bool:
        return False


class Videos(Adapter):
    """A video job is created (or remixed, edited, extended): the answer is a job object."""

    name = "videos"
    output = "job"  # no generated content yet: screened, not labeled
    takes_media = True  # input_reference images, the video to edit or extend
    multipart = True

    def validate(self, body: dict) -> None:
        super().validate(body)
        expect(body, "prompt", str)

    def is_stream(self, body: dict) -> bool:
        return False


class VideoJobs(Videos):
    """``GET videos`` / ``videos/{id}``: job objects and lists of them."""

    name = "video_jobs"
    takes_media = False


class VideoSync(Videos):
    """vLLM-Omni's ``POST videos/sync``: the generated video is the answer's body."""

    name = "video_sync"
    output = "video"


class VideoContent(Adapter):
    """``GET videos/{id}/content[?variant=video|thumbnail|spritesheet]``: the file, labeled."""

    name = "video_content"
    output = "video"

    def is_stream(self, body: dict) -> bool:
        return False

    def content_id(self, path: str, query: bytes) -> str | None:
        """The ProduceID of a download: the video job's id (``-<variant>`` for previews), so
        the same video keeps one ProduceID however often it is downloaded."""
        parts = path.rstrip("/").split("/")
        if len(parts) < 3 or parts[-1].lower() != "content":
            return None
        try:
            params = dict(parse_qsl(query.decode("utf-8")))
        except UnicodeDecodeError:
            params = {}
        variant = params.get("variant", "video")
        index = params.get("index")  # OpenRouter: one job, several videos
        suffix = "" if variant == "video" else f"-{variant}"
        suffix += f"-{index}" if index not in (None, "", "0") else ""
        return parts[-2] + suffix
