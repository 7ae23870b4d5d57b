"""``aigc-gateway label`` and ``aigc-gateway inspect``: GB 45438 labels from the terminal.

``label FILE -o OUT`` adds the explicit label and the implicit record (or, with
``--propagate``, the platform's propagator fields) and prints a JSON summary on stdout (on
stderr when ``-o -`` writes the file to stdout). ``inspect FILE`` prints a JSON report.
Exit status: 0 success / compliant, 1 not compliant (inspect), 2 error. The output file is
written atomically (a temporary file renamed into place, with the usual umask mode), so an
error leaves no partial file.

Settings come from the same place as the server's: defaults < ``--config`` file <
``AIGC_GATEWAY_LABELS__*`` environment < flags, and go through :mod:`service.labeling`, so a
file labeled here is labeled exactly as ``POST /label`` and the proxy would label it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

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
    label.add_argument("--config", type=Path, default=None,
                       help="gateway config file (TOML); its [labels] section applies")
    label.add_argument("--explicit-text", default=None, help="image/video label text (AI生成)")
    label.add_argument("--text-notice", default=None,
                       help="notice for text, PDF and Office files (本内容由人工智能生成)")
    label.add_argument("--position", choices=("start", "end"), default=None,
                       help="where the text notice goes")
    label.add_argument("--image-position", default=None,
                       choices=("bottom-right", "bottom-left", "top-right", "top-left"))
    label.add_argument("--audio-morse", choices=("start", "end", "both"), default=None)
    label.add_argument("--font", default=None,
                       help="font file for visible labels (default: the shipped Noto Sans CJK "
                       "SC subset)")
    label.add_argument("--c2pa-cert", type=Path, default=None,
                       help="add a C2PA manifest signed with this PEM chain (with --c2pa-key)")
    label.add_argument("--c2pa-key", type=Path, default=None, help="PEM private key for C2PA")
    label.add_argument("--sign", choices=("hmac-sha256", "sm2"), default=None,
                       help="sign the record (ReservedCode1/2)")
    label.add_argument("--key-id", default=None)
    label.add_argument("--key-file", type=Path, default=None,
                       help="HMAC secret file, or for sm2 a file 'PRIVATE_HEX PUBLIC_HEX'")
    label.add_argument("--propagate", action="store_true",
                       help="platform step (Labeling Measures Art. 6) instead of producing")
    label.add_argument("--propagator-code", default=None,
                       help=f"platform provider code (default: ${ENV_PROPAGATOR})")
    label.add_argument("--propagate-id", default=None)
    label.add_argument("--declared-ai", action="store_true", help="the user declared AI content")
    label.add_argument("--detected-ai", action="store_true", help="a detector found AI traces")
    label.add_argument("--detect", action=argparse.BooleanOptionalAction, default=None,
                       help="look for generation traces (Label 3 when found); default: "
                       "labels.detect_traces")
    label.set_defaults(func=run_label)

    inspect = subparsers.add_parser(
        "inspect",
        help="read and validate the GB 45438 label of a file (JSON report)",
        description="Print a JSON report of every AIGC record found, its problems and the "
        "signature state. Exit 0 when compliant, 1 when not, 2 on error.",
    )
    inspect.add_argument("file", metavar="FILE")
    inspect.add_argument("--config", type=Path, default=None,
                         help="gateway config file (TOML); its verification keys apply")
    inspect.add_argument("--key-file", type=Path, default=None,
                         help="HMAC secret to verify signatures")
    inspect.add_argument("--sm2-public-key", default=None, help="pinned SM2 public key (hex)")
    inspect.add_argument("--key-id", default=None, help="key id the key applies to")
    inspect.set_defaults(func=run_inspect)


def _error(message: str) -> int:
    print(f"aigc-gateway: error: {message}", file=sys.stderr)
    return 2


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The ``[labels]`` settings the flags set (None: keep config/environment)."""
    labels: dict[str, Any] = {
        "producer_code": args.producer_code,
        "propagator_code": args.propagator_code,
        "explicit_text": args.explicit_text,
        "text_notice": args.text_notice,
        "text_position": args.position,
        "image_position": args.image_position,
        "audio_morse": args.audio_morse,
        "font_path": args.font,
        "signing_key_id": args.key_id,
    }
    if args.sign is not None:
        if args.key_file is None:
            raise ValueError("--sign needs --key-file")
        raw = args.key_file.read_bytes()
        labels["signing"] = args.sign
        if args.sign == "hmac-sha256":
            labels["signing_key"] = raw.strip().decode()
        else:
            private, _, public = raw.decode("ascii").strip().partition(" ")
            labels["sm2_private_key"], labels["sm2_public_key"] = private, public.strip()
    if (args.c2pa_cert is None) != (args.c2pa_key is None):
        raise ValueError("--c2pa-cert and --c2pa-key go together")
    if args.c2pa_cert is not None:
        labels["c2pa"] = {"enabled": True, "cert_path": args.c2pa_cert,
                          "key_path": args.c2pa_key}
    return {k: v for k, v in labels.items() if v is not None}


def _labels_config(config: Path | None, labels: dict[str, Any]) -> Any:
    from service.config import load_settings

    return load_settings(config=config, labels=labels).labels


def _write_atomic(path: str, data: bytes) -> None:
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".aigc-", dir=target.parent or Path("."))
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; a labeled file is an ordinary file
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_label(args: argparse.Namespace) -> int:
    from labelers import new_produce_id
    from service import labeling
    from service.config import ConfigError
    from service.errors import GatewayError

    try:
        cfg = _labels_config(args.config, _overrides(args))
        data = Path(args.file).read_bytes()
        if args.propagate:
            out = labeling.propagate(cfg, None, data, filename=args.file,
                                     propagate_id=args.propagate_id or new_produce_id(),
                                     declared_ai=args.declared_ai, detected_ai=args.detected_ai,
                                     detect=args.detect)
        else:
            out = labeling.label(cfg, None, data, filename=args.file, produce_id=args.produce_id)
        _write_atomic(args.output, out.data)
    except GatewayError as exc:
        return _error(f"{exc.message} ({exc.code})")
    except (OSError, ValueError, ConfigError) as exc:  # LabelError is a ValueError
        return _error(str(exc))
    summary = {"output": args.output, "media_type": out.media_type,
               "record": out.record.to_dict(), "explicit": out.explicit,
               "implicit": out.implicit, "c2pa": out.c2pa,
               "traces": [t.to_dict() for t in out.traces]}
    if out.notice:
        summary["notice"] = out.notice
    print(json.dumps(summary, ensure_ascii=False),
          file=sys.stderr if args.output == "-" else sys.stdout)
    return 0


def run_inspect(args: argparse.Namespace) -> int:
    from service import labeling
    from service.config import ConfigError
    from service.errors import GatewayError

    try:
        cfg = _labels_config(args.config, {})
        data = Path(args.file).read_bytes()
        key: bytes | dict[str, bytes | str] | None = None
        if args.key_file is not None:
            secret = args.key_file.read_bytes().strip()
            key = {args.key_id: secret} if args.key_id else secret
        if args.sm2_public_key:
            key = dict(key) if isinstance(key, dict) else {}
            key[args.key_id or "k1"] = args.sm2_public_key
        report = labeling.inspect(cfg, data, filename=args.file, keys=key)
    except GatewayError as exc:
        return _error(f"{exc.message} ({exc.code})")
    except (OSError, ValueError, ConfigError) as exc:
        return _error(str(exc))
    print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    return 0 if report.compliant else 1
