// Exchange: a handler's streamed input and output as protocol frames (CONTROL-PROTOCOL.md §5).
#include <algorithm>
#include <cstring>

#include "handlers.hpp"

namespace tillid::daemon {

Result<void> Exchange::send_data(std::span<const unsigned char> bytes) {
  output_started_ = true;
  while (!bytes.empty()) {
    const std::size_t n = std::min(bytes.size(), control::kMaxBody);
    TILLID_ASSIGN(Secret frame, control::encode_frame(control::FrameKind::data, bytes.first(n)));
    TILLID_TRY(conn_.send(frame.bytes(), deadline()));
    bytes = bytes.subspan(n);
  }
  return {};
}

Result<void> Exchange::send_end() {
  output_started_ = true;
  TILLID_ASSIGN(Secret frame, control::encode_frame(control::FrameKind::end, {}));
  return conn_.send(frame.bytes(), deadline());
}

Result<void> Exchange::send_file(const std::string& name, std::uint64_t size) {
  output_started_ = true;
  TILLID_ASSIGN(Secret frame, control::encode_json_frame(control::make_file_header({name, size}), control::FrameKind::file));
  return conn_.send(frame.bytes(), deadline());
}

Result<std::size_t> Exchange::read_input(std::span<unsigned char> buf) {
  if (input_done_) return std::size_t{0};
  while (!pending_ || pending_off_ == pending_->body.size()) {
    TILLID_ASSIGN(control::Frame f, conn_.receive(deadline()));
    if (f.kind == control::FrameKind::end) {
      input_done_ = true;
      pending_.reset();
      return std::size_t{0};
    }
    if (f.kind != control::FrameKind::data)
      return make_error(Errc::invalid_argument, "expected data or end frames after the request");
    pending_.emplace(std::move(f));
    pending_off_ = 0;
  }
  const std::size_t n = std::min(buf.size(), pending_->body.size() - pending_off_);
  std::memcpy(buf.data(), pending_->body.data() + pending_off_, n);
  pending_off_ += n;
  return n;
}

Result<std::string> arg_string(const nlohmann::json& args, const char* name, bool required) {
  auto it = args.find(name);
  if (it == args.end() || it->is_null()) {
    if (!required) return std::string();
    return make_error(Errc::invalid_argument, std::string("the argument '") + name + "' is missing");
  }
  if (!it->is_string()) return make_error(Errc::invalid_argument, std::string("the argument '") + name + "' must be a string");
  return it->get<std::string>();
}

Result<std::int64_t> arg_int(const nlohmann::json& args, const char* name) {
  auto it = args.find(name);
  if (it == args.end() || !it->is_number_integer())
    return make_error(Errc::invalid_argument, std::string("the argument '") + name + "' must be an integer");
  return it->get<std::int64_t>();
}

}  // namespace tillid::daemon
