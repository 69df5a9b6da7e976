// Frame encoding and the incremental, bounded frame decoder (CONTROL-PROTOCOL.md §2).
#include <algorithm>
#include <cassert>
#include <cstring>
#include <functional>

#include "tillid/control.hpp"

namespace tillid::control {

namespace {

// §2: json, file and part bodies carry JSON text (an object is ≥ 2 bytes, but 1 is caught by
// the parser), data bodies carry 1..kMaxBody bytes, end bodies are empty.
bool body_size_allowed(FrameKind kind, std::size_t size) {
  if (size > kMaxBody) return false;
  return kind == FrameKind::end ? size == 0 : size >= 1;
}

bool known_kind(unsigned char k) { return k >= 1 && k <= 5; }

}  // namespace

std::string_view to_string(FrameKind kind) {
  switch (kind) {
    case FrameKind::json: return "json";
    case FrameKind::data: return "data";
    case FrameKind::end: return "end";
    case FrameKind::file: return "file";
    case FrameKind::part: return "part";
  }
  return "unknown";
}

std::array<unsigned char, kHeaderSize> frame_header(FrameKind kind, std::size_t body_size) {
  assert(body_size <= kMaxBody);
  const auto len = static_cast<std::uint32_t>(body_size + 1);
  return {static_cast<unsigned char>(len >> 24), static_cast<unsigned char>(len >> 16),
          static_cast<unsigned char>(len >> 8), static_cast<unsigned char>(len),
          static_cast<unsigned char>(kind)};
}

Result<Secret> encode_frame(FrameKind kind, std::span<const unsigned char> body) {
  if (!known_kind(static_cast<unsigned char>(kind)) || !body_size_allowed(kind, body.size()))
    return make_error(Errc::invalid_argument, "a " + std::string(to_string(kind)) + " frame cannot carry " +
                                                  std::to_string(body.size()) + " bytes");
  Secret out(kHeaderSize + body.size());
  const auto h = frame_header(kind, body.size());
  std::memcpy(out.data(), h.data(), h.size());
  if (!body.empty()) std::memcpy(out.data() + kHeaderSize, body.data(), body.size());
  return out;
}

Result<Secret> encode_json_frame(const nlohmann::json& value, FrameKind kind) {
  Secret out;
  TILLID_TRY(encode_json_frame_to(value, kind, [&](std::size_t n) {
    out = Secret(n);
    return out.data();
  }));
  return out;
}

Result<std::size_t> encode_json_frame_to(const nlohmann::json& value, FrameKind kind,
                                         const std::function<unsigned char*(std::size_t)>& place) {
  if (kind != FrameKind::json && kind != FrameKind::file)
    return make_error(Errc::invalid_argument, "JSON goes in json or file frames only");
  std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  const std::size_t size = text.size();
  struct Wipe {
    std::string& t;
    ~Wipe() { wipe(t); }
  } wipe_text{text};
  const std::size_t limit = kind == FrameKind::json ? kMaxReply : kMaxBody;
  if (size == 0 || size > limit)
    return make_error(Errc::invalid_argument, "a message of " + std::to_string(size) + " bytes exceeds the " +
                                                  std::to_string(limit) + "-byte limit");
  // §3: pieces of kMaxBody bytes in part frames, the last piece (1..kMaxBody) in the json frame.
  const std::size_t pieces = (size + kMaxBody - 1) / kMaxBody;
  const std::size_t total = size + pieces * kHeaderSize;
  unsigned char* out = place(total);
  std::size_t at = 0;
  for (std::size_t i = 0; i < pieces; ++i) {
    const std::size_t n = std::min(kMaxBody, size - i * kMaxBody);
    const auto h = frame_header(i + 1 == pieces ? kind : FrameKind::part, n);
    std::memcpy(out + at, h.data(), h.size());
    std::memcpy(out + at + kHeaderSize, text.data() + i * kMaxBody, n);
    at += kHeaderSize + n;
  }
  return total;
}

Result<void> FrameDecoder::check_header() {
  // Called once the length (have_ == 4) and once the kind (have_ == 5) has arrived, so a bad
  // length is refused before the peer sends a single body byte.
  const std::uint32_t len = (std::uint32_t{header_[0]} << 24) | (std::uint32_t{header_[1]} << 16) |
                            (std::uint32_t{header_[2]} << 8) | std::uint32_t{header_[3]};
  if (len < 1 || len > kMaxFrameLength)
    return make_error(Errc::invalid_argument, "frame length " + std::to_string(len) + " is outside 1.." +
                                                  std::to_string(kMaxFrameLength));
  if (have_ < kHeaderSize) return {};
  const unsigned char k = header_[4];
  if (!known_kind(k)) return make_error(Errc::invalid_argument, "unknown frame kind " + std::to_string(k));
  const auto kind = static_cast<FrameKind>(k);
  if (!body_size_allowed(kind, len - 1))
    return make_error(Errc::invalid_argument, "a " + std::string(to_string(kind)) + " frame cannot carry " +
                                                  std::to_string(len - 1) + " bytes");
  body_size_ = len - 1;
  frame_.kind = kind;
  frame_.body = Secret(body_size_);
  return {};
}

Result<std::size_t> FrameDecoder::feed(std::span<const unsigned char> in) {
  if (failed_) return *failed_;
  if (ready_) return std::size_t{0};
  std::size_t used = 0;
  while (have_ < kHeaderSize && used < in.size()) {
    header_[have_++] = in[used++];
    if (have_ == 4 || have_ == kHeaderSize) {
      if (auto ok = check_header(); !ok) {
        failed_ = ok.error();
        return *failed_;
      }
    }
  }
  if (have_ < kHeaderSize) return used;
  const std::size_t got = have_ - kHeaderSize;
  const std::size_t take = std::min(body_size_ - got, in.size() - used);
  if (take > 0) std::memcpy(frame_.body.data() + got, in.data() + used, take);
  have_ += take;
  used += take;
  if (have_ - kHeaderSize == body_size_) ready_ = true;
  return used;
}

std::optional<Frame> FrameDecoder::pop() {
  if (!ready_) return std::nullopt;
  ready_ = false;
  have_ = 0;
  body_size_ = 0;
  return std::exchange(frame_, Frame{});
}

Result<nlohmann::json> parse_json_object(std::span<const unsigned char> body) {
  // Depth is bounded before parsing so that no nesting, however deep, reaches the parser's
  // or the destructor's recursion. Brackets inside strings do not count.
  int depth = 0;
  bool in_string = false, escaped = false;
  for (unsigned char c : body) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth)
        return make_error(Errc::invalid_argument, "JSON nested deeper than " + std::to_string(kMaxJsonDepth));
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  auto j = nlohmann::json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return make_error(Errc::invalid_argument, "a message is not valid UTF-8 JSON");
  if (!j.is_object()) return make_error(Errc::invalid_argument, "a message is not a JSON object");
  return j;
}

}  // namespace tillid::control
