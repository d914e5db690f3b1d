"""A ClickHouse HTTP-interface front end for the in-process ClickHouse engine (PyPI ``chdb``).

The real ClickHouse engine runs inside this process (one persistent ``chdb`` session on a
data directory, guarded by a lock); this module speaks enough of ClickHouse's HTTP protocol
for the official driver ``clickhouse-connect`` (and curl) to use it:

* ``GET /ping`` (and ``GET /`` without a query) -> ``Ok.\\n``
* queries in the ``query`` URL parameter and/or the request body (POST), or in a
  ``multipart/form-data`` field; ``param_<name>`` query parameters; ``default_format``;
  ``database``; ``query_id`` (echoed in ``X-ClickHouse-Query-Id``); any engine setting as a
  URL parameter (applied with ``SET`` on the session and rolled back for the next request)
* ``INSERT ... FORMAT <fmt>`` / ``INSERT ... VALUES`` with the data after the statement
  (in the body, possibly with the statement itself at the start of the body as
  clickhouse-connect sends it), streamed into the engine; bodies may be chunked and
  compressed (``Content-Encoding: lz4|zstd|gzip|deflate|br``, or ClickHouse's native block
  compression with ``decompress=1``)
* responses compressed per ``Accept-Encoding`` when ``enable_http_compression=1``
* users: HTTP basic auth, ``X-ClickHouse-User``/``X-ClickHouse-Key`` headers or
  ``user``/``password`` URL params; a wrong password gives HTTP 403 with code 516
* a read-only user (or ``readonly=1|2``, or a GET request) is refused every statement the
  engine's own parser does not classify as read-only (code 164, READONLY), and its
  read-only statements run with ``SETTINGS readonly=N`` so the engine enforces it too
  (e.g. table functions); a readonly=1 user cannot change settings (code 164)
* errors: ClickHouse's status mapping (400/403/404/500/501) with
  ``X-ClickHouse-Exception-Code`` and a ``Code: N. DB::Exception: ...`` body

Run::

    APEX_CLICKHOUSE_PASSWORD=... APEX_CLICKHOUSE_ADMIN_PASSWORD=... \\
    python -m sandbox.clickhouse_http --host 127.0.0.1 --port 28123 --data-dir DIR \\
        --user apex_checker --password-env APEX_CLICKHOUSE_PASSWORD \\
        --admin-user apex_admin --admin-password-env APEX_CLICKHOUSE_ADMIN_PASSWORD \\
        --schema sandbox/clickhouse_schema.sql

Test code uses :func:`start_server` and :func:`wait_ready`.
"""

from __future__ import annotations

import argparse
import base64
import email.parser
import email.policy
import email.utils
import hashlib
import hmac
import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .clickhouse_wire import (  # the wire conventions this server speaks
    AUTHENTICATION_FAILED,
    DEFAULT_SERVER_SETTINGS,
    DF_FORMATS,
    NOT_IMPLEMENTED,
    READONLY,
    SETTING_NAME_RE,
    SYNTAX_ERROR,
    TRANSPORT_PARAMS,
    TRANSPORT_PREFIXES,
    UNKNOWN_EXCEPTION,
    UNKNOWN_FORMAT,
    UNKNOWN_SETTING,
    CHError,
    content_type_for,
    decode_content,
    decode_native_blocks,
    encode_response,
    output_format_of,
    split_insert,
    sql_literal,
    strip_trailing_semicolons,
)

# --------------------------------------------------------------------------- users


@dataclass(frozen=True)
class User:
    name: str
    password: str
    readonly: int = 1  # 0 = may write, 1 = readonly=1 (forced), 2 = readonly=2


def _check_password(users: Mapping[str, User], name: str, password: str) -> User | None:
    user = users.get(name)
    ok = hmac.compare_digest(
        hashlib.sha256(password.encode()).digest(),
        hashlib.sha256((user.password if user else "\0invalid\0").encode()).digest(),
    )
    return user if (user is not None and ok) else None


# --------------------------------------------------------------------------- engine


def _log_swallowed(what: str, exc: BaseException) -> None:
    """An error that is not the client's to see (clean-up after another error, a client gone): the server log."""
    sys.stderr.write(f"clickhouse_http: {what} failed (ignored): {type(exc).__name__}: {exc}\n")
    sys.stderr.flush()


@dataclass
class ExecResult:
    body: bytes = b""
    fmt: str | None = None  # output format when the statement produced a result set
    summary: dict[str, Any] = field(default_factory=dict)


class Engine:
    """The one chdb session of this process, with per-request settings/database handling."""

    def __init__(self, data_dir: str, server_settings: Mapping[str, str] | None = None):
        from chdb import ChdbError
        from chdb import session as chdb_session

        # What the engine raises for a statement it refuses or fails (ChdbError: queries; RuntimeError: the
        # streaming insert and a closed session; ValueError: query parameters). Anything else is a bug of
        # this server and gets the catch-all's UNKNOWN_EXCEPTION (logged with its traceback).
        self.errors: tuple[type[Exception], ...] = (ChdbError, RuntimeError, ValueError)
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self.lock = threading.RLock()
        self.session = chdb_session.Session(str(data_dir))
        self._raw = getattr(getattr(self.session, "_conn", None), "_conn", None)
        self.baseline: dict[str, str] = {}
        self.applied: dict[str, str] = {}
        self.current_db = "default"
        for key, value in (server_settings if server_settings is not None else DEFAULT_SERVER_SETTINGS).items():
            self._set(key, value)
            self.baseline[key] = value
        row = self.session.query("SELECT version(), timezone()", "TabSeparated").bytes().decode().rstrip("\n")
        self.version, self.timezone = row.split("\t")

    # -- low level
    def _query(self, sql: str, fmt: str = "TabSeparated", params: Mapping[str, str] | None = None) -> Any:
        return self.session.query(sql, fmt, params=dict(params or {}))

    def _set(self, key: str, value: str | None) -> None:
        if not SETTING_NAME_RE.match(key):
            raise CHError.make(UNKNOWN_SETTING, f"Setting {key!r} is neither a builtin setting nor a valid name", 404)
        literal = "DEFAULT" if value is None else sql_literal(value)
        try:
            self._query(f"SET {key} = {literal}")
        except self.errors as ex:
            raise CHError.from_engine(ex) from None

    def classify(self, sql: str) -> tuple[str, int, bool]:
        """(query_class, statement_count, has_secrets) from the engine's own parser."""
        if self._raw is not None and hasattr(self._raw, "classify_query"):
            info = self._raw.classify_query(sql)
            qc = info["query_class"]
            return getattr(qc, "name", str(qc)), int(info["statement_count"]), bool(info["has_secrets"])
        # fallback for chdb builds without classify_query: conservative keyword test
        head = re.sub(r"^(\s|--[^\n]*\n|/\*.*?\*/)+", "", sql, flags=re.S).split(None, 1)
        word = head[0].upper() if head else ""
        read_only = word in ("SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN", "(")
        cls = "READ_ONLY" if read_only else "MUTATING"
        return cls, 1, False

    # -- per-request state
    def apply_request_state(self, database: str | None, settings: Mapping[str, str]) -> None:
        db = database or "default"
        if db != self.current_db:
            try:
                self._query(f"USE `{db.replace('`', '``')}`")
            except self.errors as ex:
                raise CHError.from_engine(ex) from None
            self.current_db = db
        for key in list(self.applied):
            if key not in settings:
                self._set(key, self.baseline.get(key))
                del self.applied[key]
        for key, value in settings.items():
            current = self.applied.get(key, self.baseline.get(key))
            if current == value:
                continue
            self._set(key, value)
            if self.baseline.get(key) == value:
                self.applied.pop(key, None)
            else:
                self.applied[key] = value

    def current_values(self, names: Sequence[str]) -> dict[str, str]:
        if not names:
            return {}
        quoted = ", ".join("'" + n.replace("\\", "\\\\").replace("'", "\\'") + "'" for n in names)
        out = self._query(f"SELECT name, value FROM system.settings WHERE name IN ({quoted})").bytes().decode()
        return dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)

    def run(self, sql: str, fmt: str, params: Mapping[str, str]) -> ExecResult:
        try:
            res = self._query(sql, fmt, params)
        except self.errors as ex:
            raise CHError.from_engine(ex) from None
        body = res.bytes()
        summary = {
            "read_rows": str(res.rows_read()),
            "read_bytes": str(res.bytes_read()),
            "written_rows": str(getattr(res, "rows_written", lambda: 0)()),
            "written_bytes": str(getattr(res, "bytes_written", lambda: 0)()),
            "total_rows_to_read": str(res.rows_read()),
            "result_rows": "0",
            "result_bytes": str(len(body)),
            "elapsed_ns": str(int(res.elapsed() * 1e9)),
        }
        return ExecResult(body=body, summary=summary)

    def insert(self, statement: str, fmt: str, data: bytes | memoryview) -> ExecResult:
        t0 = time.perf_counter()
        try:
            ins = self.session.send_insert(statement, fmt)
        except self.errors as ex:
            raise CHError.from_engine(ex) from None
        try:
            view = memoryview(data)
            step = 1 << 20
            for off in range(0, len(view), step):
                ins.append(bytes(view[off : off + step]))
            result = ins.finish()
        except self.errors as ex:
            try:
                ins.cancel()
            except RuntimeError as cancel_error:  # what chdb's cancel raises
                _log_swallowed("cancelling the failed INSERT", cancel_error)
            raise CHError.from_engine(ex) from None
        summary = {
            "read_rows": "0",
            "read_bytes": "0",
            "written_rows": str(result.rows_written),
            "written_bytes": str(result.bytes_written),
            "total_rows_to_read": "0",
            "result_rows": str(result.rows_written),
            "result_bytes": str(result.bytes_written),
            "elapsed_ns": str(int((time.perf_counter() - t0) * 1e9)),
        }
        return ExecResult(summary=summary)

    def close(self) -> None:
        with self.lock:
            try:
                self.session.close()
            except self.errors as ex:  # at shutdown: nothing left to do about it
                _log_swallowed("closing the chdb session", ex)

    # -- schema
    def apply_schema(self, schema_path: str) -> str:
        """Run the schema file once. Returns 'applied' or 'skipped'."""
        sql = Path(schema_path).read_text()
        m = re.search(r"CREATE\s+DATABASE\s+(?:IF\s+NOT\s+EXISTS\s+)?[`\"]?([A-Za-z0-9_]+)", sql, re.IGNORECASE)
        marker = None
        if m:
            db = m.group(1)
            exists = self._query(f"SELECT count() FROM system.databases WHERE name = {sql_literal(db)}").bytes().strip()
            if exists != b"0":
                return "skipped"
        else:
            db = None
            digest = hashlib.sha256(sql.encode()).hexdigest()[:16]
            marker = Path(self.data_dir) / f".schema-applied-{digest}"
            if marker.exists():
                return "skipped"
        try:
            self._query(sql)
        except self.errors as ex:
            if db:  # a half-created database would make the next start skip the schema
                try:
                    self._query(f"DROP DATABASE IF EXISTS `{db}` SYNC")
                except self.errors as drop_error:
                    _log_swallowed(f"dropping the half-created database {db}", drop_error)
            raise CHError.from_engine(ex) from None
        if marker is not None:
            marker.write_text(schema_path + "\n")
        return "applied"


# --------------------------------------------------------------------------- HTTP


class ClickHouseHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], engine: Engine, users: Mapping[str, User], quiet: bool = False):
        self.engine = engine
        self.users = dict(users)
        self.quiet = quiet
        super().__init__(addr, Handler)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 300  # idle keep-alive connections are dropped after this many seconds
    server: ClickHouseHTTPServer

    # silence the default access log; we write our own line per request
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    # ---------------------------------------------------------------- plumbing
    def _read_body(self) -> bytes:
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    break
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while True:  # trailers
                        t = self.rfile.readline(65537)
                        if t in (b"\r\n", b"\n", b""):
                            break
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Keep-Alive", "timeout=10")
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _log(self, status: int, query: str, user: str, t0: float) -> None:
        if self.server.quiet:
            return
        q = " ".join(query.split())[:80]
        path = urlsplit(self.path).path
        sys.stderr.write(
            f"{time.strftime('%H:%M:%S')} {self.command} {path} user={user or '-'} "
            f"q={q!r} -> {status} {1000 * (time.perf_counter() - t0):.1f}ms\n"
        )
        sys.stderr.flush()

    # ---------------------------------------------------------------- request
    def _handle(self) -> None:
        t0 = time.perf_counter()
        status, user_name = 500, ""
        self._qlog = ""  # what the log line shows of the query (set once it is known to be safe)
        try:
            url = urlsplit(self.path)
            params = dict(parse_qsl(url.query, keep_blank_values=True))
            body = self._read_body() if self.command == "POST" else b""
            path = url.path.rstrip("/") or "/"
            if path in ("/ping", "/replicas_status") or (path == "/" and not params.get("query") and not body):
                status = 200
                self._send(200, b"Ok.\n", {"Content-Type": "text/html; charset=UTF-8"})
                return
            if path != "/":
                status = 404
                self._send(404, f"There is no handle {path}\n".encode(), {"Content-Type": "text/plain; charset=UTF-8"})
                return
            query_id = params.get("query_id") or str(uuid.uuid4())
            try:
                user = self._authenticate(params)
                user_name = user.name
                result = self._execute(user, params, body)
            except CHError as err:
                status = err.http_status
                text = err.message
                if "(version " not in text:
                    text += f" (version {self.server.engine.version})"
                self._send(
                    status,
                    (text + "\n").encode(),
                    {
                        "Content-Type": "text/plain; charset=UTF-8",
                        "X-ClickHouse-Exception-Code": str(err.code),
                        "X-ClickHouse-Query-Id": query_id,
                        "X-ClickHouse-Timezone": self.server.engine.timezone,
                    },
                )
                return
            headers = {
                "X-ClickHouse-Query-Id": query_id,
                "X-ClickHouse-Timezone": self.server.engine.timezone,
                "X-ClickHouse-Server-Display-Name": socket.gethostname(),
                "X-ClickHouse-Summary": json.dumps(result.summary, separators=(",", ":")),
            }
            payload = result.body
            if result.fmt is not None:
                headers["X-ClickHouse-Format"] = result.fmt
                headers["Content-Type"] = content_type_for(result.fmt)
            else:
                headers["Content-Type"] = "text/plain; charset=UTF-8"
            if params.get("enable_http_compression") in ("1", "true") and payload:
                payload, enc = encode_response(payload, self.headers.get("Accept-Encoding") or "")
                if enc:
                    headers["Content-Encoding"] = enc
            status = 200
            self._send(200, payload, headers)
        except (BrokenPipeError, ConnectionResetError):
            status = 499
        except Exception as ex:  # a bug here: logged, and still answered like ClickHouse would
            status = 500
            sys.stderr.write(f"clickhouse_http: {self.command} {urlsplit(self.path).path}: unexpected error\n"
                             + traceback.format_exc())
            text = f"Code: {UNKNOWN_EXCEPTION}. DB::Exception: {type(ex).__name__}: {ex}. (UNKNOWN_EXCEPTION)\n"
            try:
                self._send(500, text.encode(), {"X-ClickHouse-Exception-Code": str(UNKNOWN_EXCEPTION),
                                                "Content-Type": "text/plain; charset=UTF-8"})
            except OSError as send_error:  # the client is gone
                _log_swallowed("sending the 500 answer", send_error)
        finally:
            self._log(status, self._qlog, user_name, t0)

    def _authenticate(self, params: Mapping[str, str]) -> User:
        name = self.headers.get("X-ClickHouse-User")
        password = self.headers.get("X-ClickHouse-Key")
        auth = self.headers.get("Authorization") or ""
        if name is None and auth.lower().startswith("basic "):
            try:
                raw = base64.b64decode(auth[6:].strip()).decode("utf-8")
                name, _, password = raw.partition(":")
            except ValueError:  # not base64 (binascii.Error) or not UTF-8: no user, so a 403 below
                name, password = "", ""
        if name is None:
            name = params.get("user", "default")
            password = params.get("password", "")
        user = _check_password(self.server.users, name, password or "")
        if user is None:
            raise CHError.make(
                AUTHENTICATION_FAILED,
                f"{name}: Authentication failed: password is incorrect, or there is no user with such name",
                403,
            )
        return user

    def _parse_multipart(self, params: dict[str, str], body: bytes) -> bytes:
        ctype = self.headers.get("Content-Type") or ""
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body
        )
        query = b""
        for part in msg.iter_parts():
            raw_name = part.get_param("name", header="content-disposition")
            name = email.utils.collapse_rfc2231_value(raw_name) if raw_name else ""
            payload = part.get_payload(decode=True)  # bytes for a non-multipart part
            data = payload if isinstance(payload, bytes) else b""
            if part.get_filename():
                raise CHError.make(NOT_IMPLEMENTED, "External data (temporary tables) is not supported by this server")
            if name == "query":
                query = data
            elif name:
                params[name] = data.decode("utf-8")
        return query

    def _execute(self, user: User, params: dict[str, str], body: bytes) -> ExecResult:
        engine = self.server.engine
        ctype = (self.headers.get("Content-Type") or "").lower()
        if body:
            body = decode_content(body, self.headers.get("Content-Encoding") or "")
            if params.get("decompress") in ("1", "true"):
                body = decode_native_blocks(body)
        if ctype.startswith("multipart/form-data"):
            body = self._parse_multipart(params, body)
        url_query = params.get("query", "")
        buf = (url_query + "\n").encode() + body if url_query else body
        if not buf.strip():
            raise CHError.make(SYNTAX_ERROR, "Empty query", 400)

        # readonly level of this request
        ro = user.readonly
        requested_ro = params.get("readonly")
        if requested_ro not in (None, ""):
            try:
                req = int(requested_ro)
            except ValueError:
                raise CHError.make(36, f"Invalid readonly value {requested_ro!r}", 400) from None
            if user.readonly == 1 and req != 1:
                raise CHError.make(READONLY, f"{user.name}: Cannot modify 'readonly' setting in readonly mode")
            if user.readonly == 2 and req == 0:
                raise CHError.make(READONLY, f"{user.name}: Cannot modify 'readonly' setting in readonly mode")
            ro = _stricter_readonly(ro, req)
        if self.command == "GET":  # like ClickHouse: GET requests are at least readonly=2
            ro = _stricter_readonly(ro, 2)

        settings = {
            k: v
            for k, v in params.items()
            if k not in TRANSPORT_PARAMS and not k.startswith(TRANSPORT_PREFIXES)
        }
        query_params = {k[6:]: v for k, v in params.items() if k.startswith("param_")}
        default_format = params.get("default_format") or "TabSeparated"
        database = params.get("database") or None

        split = split_insert(buf)
        if split is not None:
            sql_text = split.statement
            qclass, count, secrets = "MUTATING", 1, False
        else:
            try:
                sql_text = buf.decode("utf-8")
            except UnicodeDecodeError:
                raise CHError.make(SYNTAX_ERROR, "Query is not valid UTF-8", 400) from None
            qclass, count, secrets = engine.classify(sql_text)
        self._qlog = "<query with secrets hidden>" if secrets else sql_text
        if split is not None:
            self._qlog = f"{sql_text.rstrip()} FORMAT {split.fmt}"
        try:
            if count > 1:
                raise CHError.make(SYNTAX_ERROR, "Syntax error (Multi-statements are not allowed)", 400)
            # UNKNOWN = the parser could not parse it: run it anyway (with SETTINGS readonly
            # appended, so the engine enforces readonly too) to get the engine's syntax error
            if ro and qclass not in ("READ_ONLY", "UNKNOWN"):
                raise CHError.make(READONLY, f"{user.name}: Cannot execute query in readonly mode")
            if default_format.lower() in DF_FORMATS:
                raise CHError.make(UNKNOWN_FORMAT, f"Unknown output format {default_format}", 404)
            m_head = re.match(r"(?:\s|--[^\n]*\n|/\*.*?\*/)*(SET|USE)\b", sql_text, flags=re.S | re.I)
            stmt_head = m_head.group(1).upper() if m_head else ""
            with engine.lock:
                if ro == 1 and settings:
                    current = engine.current_values(list(settings))
                    for key, value in settings.items():
                        if key not in current or not _same_setting_value(current[key], value):
                            raise CHError.make(READONLY, f"{user.name}: Cannot modify '{key}' setting in readonly mode")
                    settings = {}
                engine.apply_request_state(database, settings)
                if split is not None:
                    return engine.insert(split.statement, split.fmt, memoryview(buf)[split.data_start :])
                if qclass == "CONTROL" and stmt_head in ("SET", "USE"):
                    # like a sessionless HTTP request: SET/USE only affect that request
                    if ro == 1 and stmt_head == "SET":
                        raise CHError.make(READONLY, f"{user.name}: Cannot modify settings in readonly mode")
                    return ExecResult()
                sql_run = sql_text
                if ro:
                    sql_run = strip_trailing_semicolons(sql_text) + f"\nSETTINGS readonly={ro}"
                fmt = output_format_of(sql_text, default_format)
                if fmt.lower() in DF_FORMATS:
                    raise CHError.make(UNKNOWN_FORMAT, f"Unknown output format {fmt}", 404)
                result = engine.run(sql_run, default_format, query_params)
                if qclass == "READ_ONLY" or result.body:
                    result.fmt = fmt
                return result
        except CHError as err:
            # the engine runs every query as its single user 'default'
            err.message = err.message.replace("DB::Exception: default: ", f"DB::Exception: {user.name}: ")
            raise


def _stricter_readonly(a: int, b: int) -> int:
    """readonly levels by strictness: 0 (none) < 2 (reads + setting changes) < 1 (reads only)."""
    rank = {0: 0, 2: 1, 1: 2}
    return a if rank.get(a, 2) >= rank.get(b, 2) else b


def _same_setting_value(current: str, requested: str) -> bool:
    if current == requested:
        return True
    norm = {"true": "1", "false": "0"}
    return norm.get(current.lower(), current) == norm.get(requested.lower(), requested)


# --------------------------------------------------------------------------- process API


def serve(
    host: str,
    port: int,
    data_dir: str,
    users: Mapping[str, User],
    *,
    schema_path: str | None = None,
    server_settings: Mapping[str, str] | None = None,
    quiet: bool = False,
) -> None:
    t0 = time.perf_counter()
    engine = Engine(data_dir, server_settings)
    if schema_path:
        try:
            outcome = engine.apply_schema(schema_path)
        except CHError as err:
            sys.stderr.write(f"clickhouse_http: schema {schema_path} failed: {err.message}\n")
            engine.close()
            raise SystemExit(3) from None
        sys.stderr.write(f"clickhouse_http: schema {schema_path}: {outcome}\n")
    httpd = ClickHouseHTTPServer((host, port), engine, users, quiet=quiet)

    def _stop(signum: int, frame: object) -> None:
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    sys.stderr.write(
        f"clickhouse_http: engine {engine.version} listening on http://{host}:{port} "
        f"(data {data_dir}, users {', '.join(sorted(users))}, ready in {time.perf_counter() - t0:.2f}s)\n"
    )
    sys.stderr.flush()
    try:
        httpd.serve_forever(poll_interval=0.2)
    finally:
        httpd.server_close()
        engine.close()


def _users_from_args(args: argparse.Namespace) -> dict[str, User]:
    users: dict[str, User] = {}

    def password(env: str | None, what: str) -> str:
        if not env:
            raise SystemExit(f"clickhouse_http: {what} needs a password env var name")
        value = os.environ.get(env)
        if value is None:
            raise SystemExit(f"clickhouse_http: environment variable {env} (password of {what}) is not set")
        return value

    if args.user:
        users[args.user] = User(args.user, password(args.password_env, args.user), readonly=1)
    if args.admin_user:
        users[args.admin_user] = User(args.admin_user, password(args.admin_password_env, args.admin_user), readonly=0)
    if args.users_json_env:
        raw = os.environ.get(args.users_json_env)
        if raw is None:
            raise SystemExit(f"clickhouse_http: environment variable {args.users_json_env} is not set")
        for name, spec in json.loads(raw).items():
            users[name] = User(name, str(spec.get("password", "")), readonly=int(spec.get("readonly", 1)))
    if not users:
        raise SystemExit("clickhouse_http: no users configured (use --user/--password-env)")
    return users


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sandbox.clickhouse_http", description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=28123)
    ap.add_argument("--data-dir", required=True, help="chdb data directory (created if missing)")
    ap.add_argument("--user", help="read-only (readonly=1, forced) user")
    ap.add_argument("--password-env", help="environment variable holding --user's password")
    ap.add_argument("--admin-user", help="user that may write")
    ap.add_argument("--admin-password-env", help="environment variable holding --admin-user's password")
    ap.add_argument(
        "--users-json-env",
        help='environment variable holding {"name": {"password": "...", "readonly": 0|1|2}, ...}',
    )
    ap.add_argument("--schema", help="SQL file applied once at start (if its database does not exist yet)")
    ap.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="server-level default setting (repeatable); replaces the built-in "
        + ", ".join(f"{k}={v}" for k, v in DEFAULT_SERVER_SETTINGS.items()),
    )
    ap.add_argument("--quiet", action="store_true", help="no per-request log lines")
    args = ap.parse_args(argv)
    users = _users_from_args(args)
    server_settings = None
    if args.setting:
        server_settings = {}
        for item in args.setting:
            key, sep, value = item.partition("=")
            if not sep:
                raise SystemExit(f"clickhouse_http: --setting {item!r} is not NAME=VALUE")
            server_settings[key.strip()] = value.strip()
    serve(
        args.host,
        args.port,
        args.data_dir,
        users,
        schema_path=args.schema,
        server_settings=server_settings,
        quiet=args.quiet,
    )
    return 0


def start_server(
    data_dir: str | os.PathLike,
    port: int,
    *,
    schema_path: str | os.PathLike | None = None,
    users: Mapping[str, Any] | None = None,
    host: str = "127.0.0.1",
    settings: Mapping[str, Any] | None = None,
    log_path: str | os.PathLike | None = None,
    quiet: bool = False,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen:
    """Start a server in a child process and return it (not waiting: see :func:`wait_ready`).

    ``users`` maps a user name to its password (then the user is readonly=1), or to a dict
    ``{"password": ..., "readonly": 0|1|2}``; by default ``apex_checker`` (readonly) and
    ``apex_admin`` (writer) with the passwords of ``APEX_CLICKHOUSE_PASSWORD`` and
    ``APEX_CLICKHOUSE_ADMIN_PASSWORD`` (or 'checker'/'admin'). Passwords reach the child
    through its environment, never its command line. ``settings`` replaces the server-level
    default settings. Stderr (one line per request) goes to ``log_path`` if given.
    """
    child_env = dict(os.environ if env is None else env)
    if users is None:
        users = {
            "apex_checker": {"password": child_env.get("APEX_CLICKHOUSE_PASSWORD", "checker"), "readonly": 1},
            "apex_admin": {"password": child_env.get("APEX_CLICKHOUSE_ADMIN_PASSWORD", "admin"), "readonly": 0},
        }
    spec = {
        name: ({"password": value, "readonly": 1} if isinstance(value, str) else dict(value))
        for name, value in users.items()
    }
    child_env["_APEX_CH_HTTP_USERS"] = json.dumps(spec)
    repo_root = str(Path(__file__).resolve().parent.parent)
    child_env["PYTHONPATH"] = repo_root + (os.pathsep + child_env["PYTHONPATH"] if child_env.get("PYTHONPATH") else "")
    cmd = [
        sys.executable,
        "-m",
        "sandbox.clickhouse_http",
        "--host",
        host,
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--users-json-env",
        "_APEX_CH_HTTP_USERS",
    ]
    if schema_path:
        cmd += ["--schema", str(schema_path)]
    for key, value in (settings or {}).items():
        cmd += ["--setting", f"{key}={value}"]
    if quiet:
        cmd.append("--quiet")
    stderr: Any = None
    if log_path is not None:
        stderr = open(log_path, "ab")  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen(
            cmd, cwd=repo_root, env=child_env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr
        )
    finally:
        if stderr is not None:
            stderr.close()


def wait_ready(
    port: int, timeout: float = 60.0, *, host: str = "127.0.0.1", proc: subprocess.Popen | None = None
) -> float:
    """Poll ``GET /ping`` until it answers ``Ok.``; return the seconds waited.
    Raises RuntimeError if ``proc`` exits first, TimeoutError after ``timeout``."""
    t0 = time.monotonic()
    url = f"http://{host}:{port}/ping"
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"clickhouse_http server exited with code {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # loopback only
                if resp.status == 200 and resp.read().startswith(b"Ok."):
                    return time.monotonic() - t0
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"clickhouse_http on {host}:{port} not ready after {timeout}s")
        time.sleep(0.05)


def stop_server(proc: subprocess.Popen, timeout: float = 15.0) -> int | None:
    """SIGTERM the server started by :func:`start_server` and wait for it (SIGKILL after ``timeout``)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
