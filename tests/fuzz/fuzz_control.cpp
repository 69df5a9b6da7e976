// Fuzz target: the control protocol's parsers of untrusted bytes (firmware/CONTROL-PROTOCOL.md)
// — what any local process that reaches tillidd's socket can send, and what the client reads
// back. The first byte picks the parser:
//   0: FrameDecoder (§2) — decoding in one piece and in pieces of the size byte 1 gives must
//      agree, every frame obeys the size rules and re-encodes to exactly the bytes consumed;
//   1: the envelope (§3, §4) — a JSON body as request, reply, hello and file header; a request
//      that parses re-encodes to one that parses to the same op and args;
//   2: the JSON codecs (§9) — each vault struct decoded from the body; whatever decodes must
//      survive to_json → from_json → to_json unchanged.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "tillid/control.hpp"
#include "tillid/control_codec.hpp"

namespace {

using namespace tillid;
using namespace tillid::control;
using json = nlohmann::json;

struct Decoded {
  std::vector<std::pair<FrameKind, std::vector<unsigned char>>> frames;
  std::size_t consumed = 0;
  bool failed = false;
};

Decoded decode_stream(std::span<const unsigned char> in, std::size_t piece) {
  Decoded out;
  FrameDecoder d;
  while (!in.empty()) {
    const auto chunk = in.first(std::min(piece, in.size()));
    auto used = d.feed(chunk);
    if (!used) {
      out.failed = true;
      if (!d.failed()) __builtin_trap();
      if (d.feed(chunk).ok()) __builtin_trap();  // a failed decoder stays failed
      return out;
    }
    if (*used > chunk.size()) __builtin_trap();
    out.consumed += *used;
    in = in.subspan(*used);
    while (auto f = d.pop()) {
      const std::size_t n = f->body.size();
      if (n > kMaxBody) __builtin_trap();
      if ((f->kind == FrameKind::end) != (n == 0)) __builtin_trap();
      out.frames.push_back({f->kind, {f->bytes().begin(), f->bytes().end()}});
    }
    if (*used == 0) __builtin_trap();  // every frame was popped: feed must make progress
  }
  return out;
}

void fuzz_frames(std::span<const unsigned char> in) {
  if (in.empty()) return;
  const std::size_t piece = std::size_t{in[0]} + 1;
  in = in.subspan(1);
  const Decoded whole = decode_stream(in, in.size() + 1);
  const Decoded pieces = decode_stream(in, piece);
  if (whole.failed != pieces.failed || whole.frames != pieces.frames) __builtin_trap();
  // The frames are exactly the bytes they came from.
  std::vector<unsigned char> again;
  for (const auto& [kind, body] : whole.frames) {
    auto f = encode_frame(kind, body);
    if (!f) __builtin_trap();
    again.insert(again.end(), f->data(), f->data() + f->size());
  }
  if (again.size() > in.size() || std::memcmp(again.data(), in.data(), again.size()) != 0) __builtin_trap();
}

void fuzz_envelope(std::span<const unsigned char> in) {
  auto j = parse_json_object(in);
  if (!j) return;
  if (auto r = parse_request(*j)) {
    auto back = parse_request(make_request(r->op, r->args));
    if (!back || back->op != r->op || back->args != r->args) __builtin_trap();
    if (!r->args.is_object()) __builtin_trap();
    (void)find_op(r->op);
  }
  (void)parse_reply(*j);
  (void)parse_hello(*j);
  if (auto h = parse_file_header(*j)) {
    if (!valid_file_name(h->name)) __builtin_trap();
    if (h->name.find('/') != std::string::npos) __builtin_trap();
  }
  // Whatever parsed must be sendable: canonical text within the limits (or refused cleanly).
  (void)encode_json_frame(*j);
  wipe_json(*j);
}

template <class T>
void round_trip(const json& j) {
  auto v = decode<T>(j);
  if (!v) return;
  const json first = to_json(*v);
  auto again = decode<T>(first);
  if (!again) __builtin_trap();
  if (to_json(*again) != first) __builtin_trap();
}

template <class T>
void round_trip_list(const json& j) {
  auto v = decode<std::vector<T>>(j);
  if (!v) return;
  for (const auto& x : *v) round_trip<T>(to_json(x));
}

void fuzz_codecs(std::span<const unsigned char> in) {
  auto parsed = parse_json_object(in);
  if (!parsed) return;
  // The object itself, and each of its values (lists arrive as a reply's result).
  std::vector<json> candidates{*parsed};
  for (const auto& v : *parsed) candidates.push_back(v);
  for (const auto& j : candidates) {
    round_trip<CaseInfo>(j);
    round_trip<ItemInfo>(j);
    round_trip<KeySlotInfo>(j);
    round_trip<Bookmark>(j);
    round_trip<VerifyReport>(j);
    round_trip<ExportSummary>(j);
    round_trip<User>(j);
    round_trip_list<ItemInfo>(j);
    round_trip_list<User>(j);
  }
  if (auto s = parsed->find("t"); s != parsed->end() && s->is_string()) {
    if (auto t = parse_time(s->get<std::string>()); t && format_time(*t) != s->get<std::string>()) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::span<const unsigned char> rest(data + 1, size - 1);
  switch (data[0] % 3) {
    case 0: fuzz_frames(rest); break;
    case 1: fuzz_envelope(rest); break;
    case 2: fuzz_codecs(rest); break;
  }
  return 0;
}
