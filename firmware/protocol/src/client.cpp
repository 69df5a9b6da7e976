// The blocking control client (CONTROL-PROTOCOL.md §7): connect and check the hello, then one
// request at a time — send it and its input stream, pass streamed output to a Receiver, and
// map the final reply back to a value or the daemon's Error.
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tillid/control.hpp"

namespace tillid::control {

namespace {

Error malformed(const std::string& what) { return make_error(Errc::corrupt, "malformed reply from tillidd: " + what); }

std::string start_hint() {
  return "is tillidd running? Start it with `tillidd --vault DIR` (or `systemctl start tillidd`)";
}

// A socket fd closed on every early return.
struct FdGuard {
  int fd;
  ~FdGuard() {
    if (fd >= 0) ::close(fd);
  }
  int release() { return std::exchange(fd, -1); }
};

Result<int> connect_unix(const std::filesystem::path& socket, std::chrono::milliseconds timeout) {
  const std::string path = socket.string();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path)
    return make_error(Errc::invalid_argument, "control socket path " + path + " is empty or longer than " +
                                                  std::to_string(sizeof addr.sun_path - 1) + " bytes");
  std::memcpy(addr.sun_path, path.data(), path.size());
  FdGuard fd{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (fd.fd < 0) return make_error(Errc::io, std::string("cannot create a socket: ") + std::strerror(errno));
  // A Unix connect() blocks while the daemon's backlog is full; SO_SNDTIMEO bounds that wait
  // (unix(7)). Later writes use MSG_DONTWAIT and poll, so the option does not affect them.
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  (void)::setsockopt(fd.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  for (;;) {
    if (::connect(fd.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) break;
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EISCONN) break;  // an interrupted connect() completed meanwhile
    switch (err) {
      case ENOENT:
      case ECONNREFUSED:
      case ENOTDIR:
        return make_error(Errc::io, "cannot reach tillidd at " + path + ": nothing is listening there; " + start_hint());
      case EACCES:
      case EPERM:
        return make_error(Errc::denied, "cannot reach tillidd at " + path +
                                            ": permission denied (the socket's directory decides who may connect)");
      case EAGAIN:
      case EINPROGRESS:
        return make_error(Errc::io, "tillidd at " + path + " did not accept the connection in time");
      default:
        return make_error(Errc::io, "cannot reach tillidd at " + path + ": " + std::strerror(err) + "; " + start_hint());
    }
  }
  return fd.release();
}

}  // namespace

Result<ControlClient> ControlClient::connect(const std::filesystem::path& socket,
                                             std::chrono::milliseconds hello_timeout) {
  const auto deadline = Clock::now() + hello_timeout;
  TILLID_ASSIGN(int fd, connect_unix(socket, hello_timeout));
  Connection conn(fd);
  auto frame = conn.receive(deadline);
  if (!frame) {
    return make_error(frame.error().code, "no greeting from tillidd at " + socket.string() + ": " +
                                              frame.error().message);
  }
  if (frame->kind != FrameKind::json) return malformed("the greeting is not a JSON frame");
  auto j = parse_json_object(frame->bytes());
  if (!j) return malformed("the greeting: " + j.error().message);
  // §4: a daemon that cannot serve us (too many clients, stopping) says why instead of hello.
  if (j->contains("ok") && !j->contains("protocol")) {
    auto refused = parse_reply(*j);
    if (refused) return malformed("a success reply instead of the greeting");
    return refused.error();
  }
  TILLID_ASSIGN(Hello hello, parse_hello(*j));
  return ControlClient(std::move(conn), std::move(hello));
}

Result<bool> ControlClient::send_input(const ByteSource& input) {
  // Data frames are filled in place: the body area of one sodium buffer, then its header.
  Secret buf(kHeaderSize + kMaxBody);
  for (;;) {
    auto n = input(std::span<unsigned char>(buf.data() + kHeaderSize, kMaxBody));
    if (!n) return n.error();
    if (*n > kMaxBody) return make_error(Errc::internal, "an input source returned more bytes than asked for");
    const FrameKind kind = *n == 0 ? FrameKind::end : FrameKind::data;
    const auto h = frame_header(kind, *n);
    std::memcpy(buf.data(), h.data(), h.size());
    TILLID_ASSIGN(bool sent, conn_->send_unless_frame({buf.data(), kHeaderSize + *n}));
    if (!sent) return false;
    if (*n == 0) return true;
  }
}

Result<nlohmann::json> ControlClient::call(std::string_view op, const nlohmann::json& args, const ByteSource* input,
                                           Receiver* output) {
  if (!conn_) return make_error(Errc::io, "the connection to tillidd is closed");
  // Data frames after a request that takes none would be a protocol error on the daemon's side.
  if (const OpSpec* spec = find_op(op); input != nullptr && spec != nullptr && spec->input == Input::none)
    return make_error(Errc::internal, std::string(op) + " takes no input stream");
  nlohmann::json request = make_request(op, args);
  auto request_sent = conn_->send_json(request);
  wipe_json(request);
  if (!request_sent) {
    // An encoding error leaves the connection usable; a failed send does not.
    if (request_sent.error().code != Errc::invalid_argument) conn_.reset();
    return request_sent.error();
  }
  bool early_reply = false;
  if (input != nullptr) {
    auto sent = send_input(*input);
    if (!sent) {
      // The daemon cannot be told to drop a half-sent input except by closing (§5.1).
      conn_.reset();
      return sent.error();
    }
    early_reply = !*sent;
  }
  auto reply = receive_reply(output);
  // §5.1: a reply before the end of the input ends the connection too.
  if (early_reply) conn_.reset();
  return reply;
}

Result<nlohmann::json> ControlClient::receive_reply(Receiver* output) {
  // Where we are in the op's output (§5.2): get sends one stream (data..., end); export and
  // audit.log send per file a header, data..., end.
  enum class State { idle, data_open, data_done, file_open, between_files } state = State::idle;
  std::uint64_t announced = 0, received = 0;
  SecureBytes message;  // the pieces of a reply longer than one frame (§3)
  auto fail = [&](Error e) -> Result<nlohmann::json> {
    conn_.reset();  // the stream is out of step, or the receiver gave up: nothing to resume
    return e;
  };
  for (;;) {
    auto frame = conn_->receive();
    if (!frame) return fail(frame.error());
    if (frame->kind != FrameKind::json && frame->kind != FrameKind::part && output == nullptr)
      return fail(malformed("a data stream for an op without output"));
    switch (frame->kind) {
      case FrameKind::part: {
        if (message.size() + frame->body.size() > kMaxReply - 1) return fail(malformed("a reply over 16 MiB"));
        message.append(frame->bytes());
        break;
      }
      case FrameKind::json: {
        std::span<const unsigned char> text = frame->bytes();
        if (message.size() > 0) {
          if (message.size() + text.size() > kMaxReply) return fail(malformed("a reply over 16 MiB"));
          message.append(text);
          text = {message.data(), message.size()};
        }
        auto j = parse_json_object(text);
        message.clear();
        if (!j) return fail(malformed(j.error().message));
        auto result = parse_reply(*j);
        wipe_json(*j);
        // A failure mid-stream ends the stream without an end frame (§5.2): the receiver's
        // partial output is the caller's to discard. Success with a stream still open is not.
        if (result && (state == State::data_open || state == State::file_open))
          return fail(malformed("success before the end of a stream"));
        return result;
      }
      case FrameKind::file: {
        if (message.size() > 0) return fail(malformed("a file header inside a reply"));
        if (state != State::idle && state != State::between_files) return fail(malformed("an unexpected file"));
        auto j = parse_json_object(frame->bytes());
        if (!j) return fail(malformed(j.error().message));
        auto header = parse_file_header(*j);
        if (!header) return fail(header.error());
        state = State::file_open;
        announced = header->size;
        received = 0;
        if (auto r = output->on_file(header->name, header->size); !r) return fail(r.error());
        break;
      }
      case FrameKind::data: {
        if (message.size() > 0) return fail(malformed("data inside a reply"));
        if (state == State::idle) state = State::data_open;
        if (state != State::data_open && state != State::file_open) return fail(malformed("unexpected data"));
        received += frame->body.size();
        if (state == State::file_open && received > announced)
          return fail(malformed("a file longer than its header said"));
        if (auto r = output->on_data(frame->bytes()); !r) return fail(r.error());
        break;
      }
      case FrameKind::end: {
        if (message.size() > 0) return fail(malformed("an end of data inside a reply"));
        if (state == State::file_open) {
          if (received != announced) return fail(malformed("a file shorter than its header said"));
          state = State::between_files;
        } else if (state == State::idle || state == State::data_open) {
          state = State::data_done;  // an empty item is just its end frame
        } else {
          return fail(malformed("an end of data outside a stream"));
        }
        if (auto r = output->on_end(); !r) return fail(r.error());
        break;
      }
    }
  }
}

}  // namespace tillid::control
