"""``aigc-gateway label`` and ``aigc-gateway inspect``: GB 45438 labels from the terminal.

``label FILE -o OUT`` adds the explicit label and the implicit record (or, with
``--propagate``, the platform's propagator fields). ``inspect FILE`` prints a JSON report.
Exit status: 0 success / compliant, 1 not compliant (inspect), 2 error. The output file is
written atomically (a temporary file renamed into place), so an error leaves no partial file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ENV_PRODUCER = "AIGC_GATEWAY_LABELS__PRODUCER_CODE"
ENV_PROPAGATOR = "AIGC_GATEWAY_LABELS__PROPAGATOR_CODE"


def register(subparsers: argparse._SubParsersAction) -> None:
    label = subparsers.add_parser(
        "label",
        help="add GB 45438 explicit and implicit labels to a file",
        description="Label an image, audio, PDF, Office, Markdown or text file. The format is "
        "detected from the content, not the name. Exit 0 on success, 2 on error.",
    )
    label.add_argument("file", metavar="FILE", help="file to label")
    label.add_argument("-o", "--output", metavar="OUT", required=True,
                       help="where to write the labeled file (- for stdout)")
    label.add_argument("--producer-code", default=None,
                       help=f"TC260-PG-20252A provider code (default: ${ENV_PRODUCER})")
    label.add_argument("--produce-id", default=None, help="content id (default: a new UUID)")
    label.add_argument("--explicit-text", default="AI生成", help="image label text")
    label.add_argument("--text-notice", default="本内容由人工智能生成",
                       help="notice for text, PDF and Office files")
    label.add_argument("--position", choices=("start", "end"), default="end",
                       help="where the text notice goes")
    label.add_argument("--audio-morse", choices=("start", "end", "both"), default="start")
    label.add_argument("--font", default=None, help="CJK font file for image labels")
    label.add_argument("--sign", choices=("hmac-sha256", "sm2"), default=None,
                       help="sign the record (ReservedCode1/2)")
    label.add_argument("--key-id", default="k1")
    label.add_argument("--key-file", type=Path, default=None,
                       help="HMAC secret file, or for sm2 a file 'PRIVATE_HEX PUBLIC_HEX'")
    label.add_argument("--propagate", action="store_true",
                       help="platform step (Labeling Measures Art. 6) instead of producing")
    label.add_argument("--propagator-code", default=None,
                       help=f"platform provider code (default: ${ENV_PROPAGATOR})")
    label.add_argument("--propagate-id", default=None)
    label.add_argument("--declared-ai", action="store_true", help="the user declared AI content")
    label.add_argument("--detected-ai", action="store_true", help="a detector found AI traces")
    label.set_defaults(func=run_label)

    inspect = subparsers.add_parser(
        "inspect",
        help="read and validate the GB 45438 label of a file (JSON report)",
        description="Print a JSON report of every AIGC record found, its problems and the "
        "signature state. Exit 0 when compliant, 1 when not, 2 on error.",
    )
    inspect.add_argument("file", metavar="FILE")
    inspect.add_argument("--key-file", type=Path, default=None,
                         help="HMAC secret to verify signatures")
    inspect.add_argument("--sm2-public-key", default=None, help="pinned SM2 public key (hex)")
    inspect.add_argument("--key-id", default=None, help="key id the key applies to")
    inspect.set_defaults(func=run_inspect)


def _error(message: str) -> int:
    print(f"aigc-gateway: error: {message}", file=sys.stderr)
    return 2


def _signing(args: argparse.Namespace):  # -> SigningConfig | None
    from labelers import SigningConfig

    if args.sign is None:
        return None
    if args.key_file is None:
        raise ValueError("--sign needs --key-file")
    raw = args.key_file.read_bytes()
    if args.sign == "hmac-sha256":
        return SigningConfig("hmac-sha256", args.key_id, key=raw.strip())
    private, _, public = raw.decode("ascii").strip().partition(" ")
    return SigningConfig("sm2", args.key_id, private_key=private, public_key=public.strip())


def _write_atomic(path: str, data: bytes) -> None:
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".aigc-", dir=target.parent or Path("."))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_label(args: argparse.Namespace) -> int:
    from labelers import LabelSettings, label_file, new_produce_id, propagate_file

    producer = args.producer_code or os.environ.get(ENV_PRODUCER, "")
    try:
        data = Path(args.file).read_bytes()
        if not producer and not args.propagate:
            return _error(f"a provider code is required (--producer-code or ${ENV_PRODUCER})")
        settings = LabelSettings(
            producer_code=producer or "0011" + "0" * 18 + "10000",
            explicit_text=args.explicit_text, text_notice=args.text_notice,
            text_position=args.position, audio_morse=args.audio_morse, font_path=args.font,
            signing=_signing(args), strict_provider_code=bool(producer) or not args.propagate,
        )
        if args.propagate:
            code = args.propagator_code or os.environ.get(ENV_PROPAGATOR, "")
            if not code:
                return _error(f"--propagate needs --propagator-code or ${ENV_PROPAGATOR}")
            out = propagate_file(data, filename=args.file, propagator_code=code,
                                 propagate_id=args.propagate_id or new_produce_id(),
                                 declared_ai=args.declared_ai, detected_ai=args.detected_ai,
                                 settings=settings)
        else:
            out = label_file(data, filename=args.file, settings=settings,
                             produce_id=args.produce_id)
        _write_atomic(args.output, out.data)
    except (OSError, ValueError) as exc:  # LabelError is a ValueError
        return _error(str(exc))
    summary = {"output": args.output, "media_type": out.media_type,
               "record": out.record.to_dict(), "explicit": out.explicit,
               "implicit": out.implicit}
    print(json.dumps(summary, ensure_ascii=False), file=sys.stderr)
    return 0


def run_inspect(args: argparse.Namespace) -> int:
    from labelers import LabelError, inspect_file

    try:
        data = Path(args.file).read_bytes()
        key: bytes | dict[str, bytes | str] | None = None
        if args.key_file is not None:
            secret = args.key_file.read_bytes().strip()
            key = {args.key_id: secret} if args.key_id else secret
        if args.sm2_public_key:
            key = dict(key) if isinstance(key, dict) else {}
            key[args.key_id or "k1"] = args.sm2_public_key
        report = inspect_file(data, filename=args.file, verify_key=key)
    except (LabelError, OSError) as exc:
        return _error(str(exc))
    print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    return 0 if report.compliant else 1
