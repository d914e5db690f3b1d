"""ClickHouse's wire conventions for the sandbox server: error codes, SQL splitting, body codecs."""

from __future__ import annotations

import contextlib
import functools
import gzip
import importlib
import re
import zlib
from dataclasses import dataclass
from typing import Any

# --------------------------------------------------------------------------- constants

#: server-level defaults applied to the engine session at start (shown as changed=1 in
#: system.settings); requests may override them per query, then they are restored.
DEFAULT_SERVER_SETTINGS: dict[str, str] = {
    "max_memory_usage": str(4 * 1024**3),  # 4 GiB per query
    "max_threads": "2",  # the machine has 2 cores
}

#: URL parameters that are HTTP-protocol knobs, never engine settings.
TRANSPORT_PARAMS = frozenset(
    {
        "query",
        "user",
        "password",
        "database",
        "default_format",
        "query_id",
        "session_id",
        "session_timeout",
        "session_check",
        "compress",
        "decompress",
        "buffer_size",
        "wait_end_of_query",
        "client_protocol_version",
        "quota_key",
        "role",
        "readonly",
        "enable_http_compression",
        "send_progress_in_http_headers",
        "cancel_http_readonly_queries_on_client_close",
        "add_http_cors_header",
        "max_query_size_http",
    }
)
TRANSPORT_PREFIXES = ("param_", "http_")

SETTING_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NUMBER_RE = re.compile(r"^-?\d+(\.\d+)?$")
_FORMAT_TAIL_RE = re.compile(
    r"\bFORMAT\s+([A-Za-z][A-Za-z0-9_]*)\s*(?:SETTINGS\b[^;]*)?[\s;]*$", re.IGNORECASE | re.DOTALL
)
_CODE_RE = re.compile(r"Code: (\d+)\.")
DF_FORMATS = {"dataframe", "datastore", "arrowtable", "debug"}

# ClickHouse error codes used here
SYNTAX_ERROR = 62
UNKNOWN_FORMAT = 73
NOT_IMPLEMENTED = 48
READONLY = 164
AUTHENTICATION_FAILED = 516
UNKNOWN_EXCEPTION = 1002
CANNOT_DECOMPRESS = 271
UNKNOWN_SETTING = 115

_ERROR_NAMES = {
    SYNTAX_ERROR: "SYNTAX_ERROR",
    UNKNOWN_FORMAT: "UNKNOWN_FORMAT",
    NOT_IMPLEMENTED: "NOT_IMPLEMENTED",
    READONLY: "READONLY",
    AUTHENTICATION_FAILED: "AUTHENTICATION_FAILED",
    UNKNOWN_EXCEPTION: "UNKNOWN_EXCEPTION",
    CANNOT_DECOMPRESS: "CANNOT_DECOMPRESS",
    UNKNOWN_SETTING: "UNKNOWN_SETTING",
}

# HTTP status per exception code, as ClickHouse's HTTP handler maps them
# (503/504 are deliberately not used: clickhouse-connect retries those).
_STATUS_BY_CODE: dict[int, int] = {}
for _c in (194,):  # REQUIRED_PASSWORD
    _STATUS_BY_CODE[_c] = 401
for _c in (192, 193, 497, 516, 523):  # UNKNOWN_USER WRONG_PASSWORD ACCESS_DENIED AUTHENTICATION_FAILED ...
    _STATUS_BY_CODE[_c] = 403
for _c in (36, 427, 6, 25, 26, 27, 38, 41, 69, 72, 62, 117, 53, 321, 157, 168, 169, 170):
    _STATUS_BY_CODE[_c] = 400
for _c in (60, 46, 47, 50, 56, 81, 115, 73, 63, 336):  # UNKNOWN_TABLE ... UNKNOWN_DATABASE_ENGINE
    _STATUS_BY_CODE[_c] = 404
_STATUS_BY_CODE[48] = 501
_STATUS_BY_CODE[159] = 408  # TIMEOUT_EXCEEDED


class CHError(Exception):
    """An error to report the ClickHouse way."""

    def __init__(self, code: int, message: str, http_status: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status or _STATUS_BY_CODE.get(code, 500)

    @classmethod
    def make(cls, code: int, text: str, http_status: int | None = None) -> CHError:
        name = _ERROR_NAMES.get(code, "")
        suffix = f" ({name})" if name else ""
        return cls(code, f"Code: {code}. DB::Exception: {text}.{suffix}", http_status)

    @classmethod
    def from_engine(cls, exc: BaseException, user: str | None = None) -> CHError:
        msg = str(exc).strip()
        for prefix in ("Streaming insert append failed: ", "Streaming insert finish failed: "):
            if msg.startswith(prefix):
                msg = msg[len(prefix) :]
        m = _CODE_RE.search(msg)
        if not m:
            return cls(UNKNOWN_EXCEPTION, f"Code: {UNKNOWN_EXCEPTION}. DB::Exception: {msg}. (UNKNOWN_EXCEPTION)")
        if user:
            msg = msg.replace("DB::Exception: default: ", f"DB::Exception: {user}: ")
        return cls(int(m.group(1)), msg[m.start() :])


# --------------------------------------------------------------------------- SQL helpers


def _skip_ws_comments(buf: bytes, i: int) -> int:
    n = len(buf)
    while i < n:
        c = buf[i]
        if c in b" \t\r\n\f\v":
            i += 1
        elif buf.startswith(b"--", i) or buf.startswith(b"#!", i) or buf.startswith(b"# ", i):
            j = buf.find(b"\n", i)
            i = n if j < 0 else j + 1
        elif buf.startswith(b"/*", i):
            j = buf.find(b"*/", i + 2)
            i = n if j < 0 else j + 2
        else:
            break
    return i


def _tokens(buf: bytes, start: int = 0):
    """Yield (kind, start, end, depth) for the SQL tokens of ``buf`` from ``start``.

    kind: 'word', 'string', 'ident', 'punct'. Quoted strings/identifiers honour backslash
    escapes and doubled quotes. Stops at the end of the buffer."""
    i = start
    n = len(buf)
    depth = 0
    while True:
        i = _skip_ws_comments(buf, i)
        if i >= n:
            return
        c = buf[i : i + 1]
        if c.isalpha() or c == b"_":
            j = i + 1
            while j < n and (buf[j : j + 1].isalnum() or buf[j] == 0x5F):
                j += 1
            yield "word", i, j, depth
            i = j
        elif c in (b"'", b'"', b"`"):
            q = c[0]
            j = i + 1
            while j < n:
                if buf[j] == 0x5C:  # backslash
                    j += 2
                    continue
                if buf[j] == q:
                    if j + 1 < n and buf[j + 1] == q:
                        j += 2
                        continue
                    break
                j += 1
            j = min(j + 1, n)
            yield ("string" if q == 0x27 else "ident"), i, j, depth
            i = j
        else:
            if c == b"(":
                depth += 1
            elif c == b")":
                depth = max(0, depth - 1)
            yield "punct", i, i + 1, depth
            i += 1


@dataclass
class InsertSplit:
    statement: str  # INSERT ... without FORMAT/VALUES and data
    fmt: str  # input format of the data
    data_start: int  # offset of the data in the buffer


def split_insert(buf: bytes) -> InsertSplit | None:
    """If ``buf`` is ``INSERT ... FORMAT <fmt> <data>`` or ``INSERT ... VALUES <data>``,
    return where the statement ends and the data begins (ClickHouse's rule: after the
    format name, blanks up to and including one line feed are skipped)."""
    first = True
    for kind, s, e, depth in _tokens(buf):
        word = buf[s:e].upper() if kind == "word" else b""
        if first:
            if word != b"INSERT":
                return None
            first = False
            continue
        if kind != "word" or depth != 0:
            continue
        if word in (b"SELECT", b"WITH"):
            return None
        if word == b"VALUES":
            stmt = buf[:s].decode("utf-8")
            return InsertSplit(stmt, "Values", _skip_ws_comments(buf, e))
        if word == b"FORMAT":
            i = _skip_ws_comments(buf, e)
            j = i
            while j < len(buf) and (buf[j : j + 1].isalnum() or buf[j] == 0x5F):
                j += 1
            if j == i:
                raise CHError.make(SYNTAX_ERROR, "Syntax error: expected format name after FORMAT", 400)
            fmt = buf[i:j].decode()
            stmt = buf[:s].decode("utf-8")
            k = j
            while k < len(buf) and buf[k] in b" \t":
                k += 1
            if buf.startswith(b"\r\n", k):
                k += 2
            elif buf.startswith(b"\n", k):
                k += 1
            return InsertSplit(stmt, fmt, k)
    return None


def strip_trailing_semicolons(sql: str) -> str:
    return re.sub(r"[\s;]+$", "", sql)


def output_format_of(sql: str, default: str) -> str:
    m = _FORMAT_TAIL_RE.search(sql)
    return m.group(1) if m else default


def sql_literal(value: str) -> str:
    if _NUMBER_RE.match(value) or value[:1] in ("{", "[", "("):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def content_type_for(fmt: str) -> str:
    f = fmt.lower()
    if f.startswith("json") or f.startswith("ndjson"):
        return "application/json; charset=UTF-8"
    if f.startswith("tabseparated") or f.startswith("tsv"):
        return "text/tab-separated-values; charset=UTF-8"
    if f.startswith("csv"):
        return "text/csv; charset=UTF-8; header=absent"
    if f in ("native", "rowbinary", "arrow", "arrowstream", "parquet", "orc", "avro") or f.startswith("rowbinary"):
        return "application/octet-stream"
    return "text/plain; charset=UTF-8"


# --------------------------------------------------------------------------- compression


def decode_content(body: bytes, encoding: str) -> bytes:
    """Undo a request's Content-Encoding. clickhouse-connect compresses every insert block
    as its own lz4/zstd frame (gzip member), so concatenated frames are all decoded."""
    enc = (encoding or "").strip().lower()
    try:
        if enc in ("", "identity"):
            return body
        if enc == "lz4":
            import lz4.frame

            out = bytearray()
            rest = body
            while rest:
                dec = lz4.frame.LZ4FrameDecompressor()
                out += dec.decompress(rest)
                if not dec.eof:
                    raise ValueError("truncated lz4 frame")
                rest = dec.unused_data
            return bytes(out)
        if enc in ("gzip", "x-gzip"):
            return gzip.decompress(body)  # handles concatenated members
        if enc == "deflate":
            out = bytearray()
            rest = body
            while rest:
                dec = zlib.decompressobj()
                out += dec.decompress(rest) + dec.flush()
                if not dec.eof:
                    raise ValueError("truncated deflate stream")
                rest = dec.unused_data
            return bytes(out)
        if enc == "zstd":
            return _zstd_module().decompress(body)  # handles concatenated frames
        if enc == "br":
            import brotli

            return brotli.decompress(body)
    except ImportError as ex:  # the codec is not installed here
        raise CHError.make(NOT_IMPLEMENTED, f"Unsupported Content-Encoding: {enc} ({ex})") from None
    except _codec_errors() as ex:  # corrupt data
        raise CHError.make(CANNOT_DECOMPRESS, f"Cannot decompress {enc} request body: {ex}", 400) from None
    raise CHError.make(NOT_IMPLEMENTED, f"Unsupported Content-Encoding: {enc}")


def _zstd_module() -> Any:
    """The first zstd codec installed: the standard library's (Python 3.14+), its backport, or zstandard."""
    for name in ("compression.zstd", "backports.zstd", "zstandard"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError("no zstd codec installed (pip install zstandard)")


@functools.cache
def _codec_errors() -> tuple[type[Exception], ...]:
    """What the body codecs raise on corrupt or truncated input: zlib.error; gzip's BadGzipFile (an OSError)
    and EOFError; lz4.frame's RuntimeError; the ValueError raised here for a truncated stream; and the
    lz4 block codec's, zstd's and brotli's own error classes, for those installed."""
    errors: list[type[Exception]] = [zlib.error, OSError, EOFError, RuntimeError, ValueError]
    for module, attr in (("lz4.block", "LZ4BlockError"), ("brotli", "error")):
        try:
            errors.append(getattr(importlib.import_module(module), attr))
        except ImportError:
            continue
    with contextlib.suppress(ImportError):
        errors.append(_zstd_module().ZstdError)
    return tuple(errors)


def decode_native_blocks(body: bytes) -> bytes:
    """Decode ClickHouse's native compressed block stream (``decompress=1``): per block a
    16-byte checksum (not verified here), a method byte, the compressed size (including the
    9-byte header) and the uncompressed size, both UInt32 LE."""
    out = bytearray()
    i = 0
    n = len(body)
    while i < n:
        if n - i < 25:
            raise CHError.make(CANNOT_DECOMPRESS, "Truncated compressed block", 400)
        method = body[i + 16]
        csize = int.from_bytes(body[i + 17 : i + 21], "little")
        usize = int.from_bytes(body[i + 21 : i + 25], "little")
        payload = body[i + 25 : i + 16 + csize]
        if len(payload) != csize - 9:
            raise CHError.make(CANNOT_DECOMPRESS, "Truncated compressed block", 400)
        try:
            if method == 0x02:
                out += payload
            elif method == 0x82:
                import lz4.block

                out += lz4.block.decompress(payload, uncompressed_size=usize)
            elif method == 0x90:
                out += _zstd_module().decompress(payload)
            else:
                raise CHError.make(CANNOT_DECOMPRESS, f"Unknown compression method 0x{method:02x}", 400)
        except ImportError as ex:
            raise CHError.make(NOT_IMPLEMENTED,
                               f"Compression method 0x{method:02x} is not supported here ({ex})") from None
        except _codec_errors() as ex:
            raise CHError.make(CANNOT_DECOMPRESS, f"Cannot decompress block: {ex}", 400) from None
        i += 16 + csize
    return bytes(out)


def encode_response(body: bytes, accept: str) -> tuple[bytes, str | None]:
    """Compress ``body`` with the first encoding in ``accept`` this server can produce."""
    for item in accept.split(","):
        enc = item.split(";")[0].strip().lower()
        try:
            if enc == "lz4":
                import lz4.frame

                return lz4.frame.compress(body), "lz4"
            if enc == "zstd":
                return _zstd_module().compress(body), "zstd"
            if enc == "gzip":
                return gzip.compress(body, compresslevel=3), "gzip"
            if enc == "deflate":
                return zlib.compress(body, 3), "deflate"
        except ImportError:
            continue
    return body, None


