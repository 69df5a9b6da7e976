#!/usr/bin/env python3
"""Writes vectors.json: control protocol v1 byte streams (firmware/CONTROL-PROTOCOL.md) made by
this independent encoder, not by the C++ code they test. Run it from this directory; the
output is committed and must not change unless the spec does."""
import json, struct

def frame(kind, body=b""):
    return struct.pack(">IB", len(body) + 1, kind) + body

def js(obj):
    # The spec's canonical form (§3): keys sorted, no spaces, UTF-8 as is.
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

KIND = {1: "json", 2: "data", 3: "end", 4: "file", 5: "part"}

def good(name, note, frames, message=None):
    stream = b""
    desc = []
    for kind, body in frames:
        if kind in (1, 4):
            raw = js(body)
            desc.append({"kind": KIND[kind], "json": body})
        elif kind == 2:
            raw = body
            desc.append({"kind": "data", "hex": body.hex()})
        elif kind == 5:
            raw = body
            desc.append({"kind": "part", "hex": body.hex()})
        elif kind == 6:  # the final piece of a split message: json kind, raw text
            kind = 1
            raw = body
            desc.append({"kind": "json", "hex": body.hex()})
        else:
            raw = b""
            desc.append({"kind": "end"})
        stream += frame(kind, raw)
    v = {"name": name, "note": note, "stream": stream.hex(), "frames": desc}
    if message is not None:
        v["message"] = message  # what the part frames and the final json frame join to
    return v

def bad(name, note, stream, frames_before, error):
    return {"name": name, "note": note, "stream": stream.hex(), "frames_before": frames_before, "error": error}

status_result = {"locked": False, "version": "0.1.0", "vault_id": "00112233445566778899aabbccddeeff",
                 "user": {"name": "sara", "role": "staff"}, "recording": None}
item = {"case_id": "0123456789abcdef0123456789abcdef", "created": "2026-11-23 16:00:00 UTC",
        "created_unix": 1795449600, "creator": "sara", "file_name": "referat.pdf",
        "id": "fedcba9876543210fedcba9876543210", "kind": "document",
        "sha256": "5a3f1b2c" * 8, "size": 12, "title": "Referat", "verified": True}

vectors = {
  "version": 1,
  "good": [
    good("hello", "the server's first frame", [(1, {"protocol": "tillid-control", "version": 1, "daemon": "0.1.0"})]),
    good("status", "a request without args, and its reply",
         [(1, {"v": 1, "op": "status", "args": {}}), (1, {"ok": True, "result": status_result})]),
    good("unlock", "the passphrase travels in the request, never in argv",
         [(1, {"v": 1, "op": "unlock", "args": {"passphrase": "correct horse battery staple"}}),
          (1, {"ok": True, "result": {}})]),
    good("case-add-utf8", "names are UTF-8 JSON strings",
         [(1, {"v": 1, "op": "case.add", "args": {"number": "2026-17", "municipality": "0101",
                                                  "child_name": "Åse Ærø", "cpr": "010101-1234", "notes": ""}})]),
    good("doc-add", "a request with an input stream: data frames, then end, then the reply",
         [(1, {"v": 1, "op": "doc.add", "args": {"case": "2026-17", "title": "Referat", "file_name": "referat.pdf"}}),
          (2, b"%PDF-1.7\n"), (2, b"\x00\x01\xff"), (3, b""), (1, {"ok": True, "result": item})]),
    good("get", "output as one data stream, then the ItemInfo",
         [(1, {"v": 1, "op": "get", "args": {"item": item["id"]}}),
          (2, b"%PDF-1.7\n\x00\x01\xff"), (3, b""), (1, {"ok": True, "result": item})]),
    good("export", "output as files: header, data, end per file (an empty file has no data)",
         [(1, {"v": 1, "op": "export", "args": {"item": item["id"]}}),
          (4, {"file": "referat.pdf", "size": 12}), (2, b"%PDF-1.7\n\x00\x01\xff"), (3, b""),
          (4, {"file": "empty.txt", "size": 0}), (3, b""),
          (1, {"ok": True, "result": {"content_file": "referat.pdf"}})]),
    good("split-reply", "a reply split into part frames and a final json frame (any split is valid; "
         "a server splits at 65536 bytes)",
         [(5, b'{"ok":tr'), (5, b'ue,"result":{"slot'), (6, b'":1}}')], {"ok": True, "result": {"slot": 1}}),
    good("error", "an error reply: the code is the Errc name",
         [(1, {"ok": False, "error": {"code": "denied", "message": "user.add needs the admin role"}})]),
  ],
  "bad": [
    bad("length-zero", "no frame is empty: the length counts the kind byte", bytes.fromhex("00000000"), 0, "frame length 0"),
    bad("length-65538", "one byte over the limit, refused before any body byte", bytes.fromhex("0001000202"), 0, "frame length 65538"),
    bad("length-max", "a 4 GiB announcement", bytes.fromhex("ffffffff"), 0, "frame length 4294967295"),
    bad("kind-0", "kinds are 1..5", bytes.fromhex("0000000100"), 0, "unknown frame kind 0"),
    bad("kind-6", "kinds are 1..5", bytes.fromhex("000000020600"), 0, "unknown frame kind 6"),
    bad("empty-part", "a part frame carries at least one byte", bytes.fromhex("0000000105"), 0, "part frame cannot carry 0 bytes"),
    bad("end-with-body", "an end frame is empty", bytes.fromhex("000000020300"), 0, "end frame cannot carry 1 bytes"),
    bad("empty-data", "a data frame carries at least one byte", bytes.fromhex("0000000102"), 0, "data frame cannot carry 0 bytes"),
    bad("empty-json", "a JSON frame carries an object", bytes.fromhex("0000000101"), 0, "json frame cannot carry 0 bytes"),
    bad("good-then-bad", "frames before the bad one are decoded; nothing after it",
        frame(1, js({"v": 1, "op": "status", "args": {}})) + bytes.fromhex("0000000109") + frame(3), 1, "unknown frame kind 9"),
    bad("truncated", "the stream ends inside a frame", frame(2, b"abcdef")[:8], 0, "truncated"),
  ],
}

with open("vectors.json", "w", encoding="utf-8") as f:
    json.dump(vectors, f, indent=1, ensure_ascii=False, sort_keys=True)
    f.write("\n")
