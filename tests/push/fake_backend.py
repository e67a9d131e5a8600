"""A stand-in backend for the push tests' error cases and Pyroscope's ingest.

Not an OpenTelemetry Collector (the tests run the real one for OTLP): this
answers what a collector or Pyroscope answers when something is wrong, and
checks Pyroscope's ingest request against its published API description
(POST /ingest, query name/from/until/format=pprof/sampleRate/spyName, the
pprof as the multipart field `profile`).

  fake_backend.py DIR --status 401     # every request: 401, counted
  fake_backend.py DIR --pyroscope      # checks and keeps each /ingest
  fake_backend.py DIR --tls CERT KEY   # https (any mode above, or 200)
  fake_backend.py DIR --partial N MSG  # 200 with OTLP's partial success:
                                       # N profiles rejected, MSG

Writes DIR/port when listening; appends one JSON line per request to
DIR/requests.jsonl; with --pyroscope, the profile of request N to
DIR/ingest-N.pb.gz. Standard library only.
"""
import argparse
import email.parser
import email.policy
import gzip
import http.server
import json
import os
import sys
import urllib.parse


def check_ingest(handler, body):
    """Problems with a Pyroscope ingest request, and the pprof it carries."""
    problems = []
    url = urllib.parse.urlsplit(handler.path)
    query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
    if url.path != "/ingest":
        problems.append("path %r is not /ingest" % url.path)
    for key in ("name", "from", "until"):
        if key not in query:
            problems.append("required query parameter %s missing" % key)
    if query.get("format", [""])[0] != "pprof":
        problems.append("format is not pprof")
    for key in ("from", "until", "sampleRate"):
        if key in query and not query[key][0].isdigit():
            problems.append("%s is not a number" % key)
    ctype = handler.headers.get("Content-Type", "")
    profile = None
    if not ctype.startswith("multipart/form-data"):
        problems.append("Content-Type %r is not multipart/form-data" % ctype)
    else:
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
        for part in msg.iter_parts():
            if part.get_param("name", header="content-disposition") == "profile":
                profile = part.get_payload(decode=True)
        if profile is None:
            problems.append("no multipart field named profile")
        else:
            try:
                gzip.decompress(profile)
            except OSError as e:
                problems.append("the profile is not gzip: %s" % e)
    return problems, query, profile


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def partial_success(rejected, message):
    """ExportProfilesServiceResponse{partial_success{rejected, message}},
    encoded by hand (field 1, length-delimited; inside it field 1 varint,
    field 2 string): the tests need no protobuf module."""
    msg = message.encode()
    inner = b"\x08" + varint(rejected) + b"\x12" + varint(len(msg)) + msg
    return b"\x0a" + varint(len(inner)) + inner


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--status", type=int, default=200)
    ap.add_argument("--pyroscope", action="store_true")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--partial", nargs=2, metavar=("REJECTED", "MESSAGE"))
    args = ap.parse_args()
    count = [0]

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            count[0] += 1
            record = {"n": count[0], "path": self.path,
                      "headers": {k: v for k, v in self.headers.items()},
                      "bytes": len(body)}
            status = args.status
            if args.pyroscope:
                problems, query, profile = check_ingest(self, body)
                record["problems"] = problems
                record["query"] = {k: v[0] for k, v in query.items()}
                if profile is not None:
                    path = os.path.join(args.dir, "ingest-%d.pb.gz" % count[0])
                    with open(path, "wb") as f:
                        f.write(profile)
                status = 400 if problems else 200
            with open(os.path.join(args.dir, "requests.jsonl"), "a") as f:
                f.write(json.dumps(record) + "\n")
            reply = b"" if status == 200 else b"unauthorized\n"
            if args.partial:
                reply = partial_success(int(args.partial[0]), args.partial[1])
            self.send_response(status)
            if args.partial:
                self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    if args.tls:
        import ssl
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls[0], args.tls[1])
        server.socket = context.wrap_socket(server.socket, server_side=True)
    tmp = os.path.join(args.dir, "port.tmp")
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, os.path.join(args.dir, "port"))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
