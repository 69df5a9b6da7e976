// Blocking frame I/O on a connected stream socket with deadlines (CONTROL-PROTOCOL.md §2, §7).
// poll() bounds every wait, EINTR is retried with the remaining time, and MSG_NOSIGNAL keeps a
// peer that went away from killing the process with SIGPIPE.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "tillid/control.hpp"

namespace tillid::control {

namespace {

constexpr std::size_t kReadChunk = 16384;
// send_json's buffer: first size, and the most a connection keeps between messages.
constexpr std::size_t kFirstSendBuffer = 4096;
constexpr std::size_t kKeptSendBuffer = 16384;

// Milliseconds left until `deadline` for poll(): -1 for none, 0 once it has passed.
int poll_timeout(const Deadline& deadline) {
  if (!deadline) return -1;
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - Clock::now()).count();
  if (left <= 0) return 0;
  return left > 60'000 ? 60'000 : static_cast<int>(left);
}

Error os_error(const char* what, int err) {
  return make_error(Errc::io, std::string(what) + ": " + std::strerror(err));
}

// Waits for `events` on fd. Returns the revents, 0 on timeout.
Result<short> wait_for(int fd, short events, const Deadline& deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, poll_timeout(deadline));
    if (n < 0) {
      if (errno == EINTR) continue;
      return os_error("poll on the control socket", errno);
    }
    if (n == 0) {
      // poll caps one wait at 60 s; only the deadline itself ends the wait.
      if (deadline && Clock::now() >= *deadline) return short{0};
      continue;
    }
    return p.revents;
  }
}

}  // namespace

Connection::Connection(int fd, std::string peer) : fd_(fd), peer_(std::move(peer)), buffer_(kReadChunk) {}

Error Connection::closed() const { return make_error(Errc::io, "the connection to " + peer_ + " is closed"); }

Connection::~Connection() { close_fd(); }

Connection::Connection(Connection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      peer_(std::move(other.peer_)),
      decoder_(std::move(other.decoder_)),
      buffer_(std::move(other.buffer_)),
      out_(std::move(other.out_)),
      start_(std::exchange(other.start_, 0)),
      end_(std::exchange(other.end_, 0)) {}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    close_fd();
    fd_ = std::exchange(other.fd_, -1);
    peer_ = std::move(other.peer_);
    decoder_ = std::move(other.decoder_);
    buffer_ = std::move(other.buffer_);
    out_ = std::move(other.out_);
    start_ = std::exchange(other.start_, 0);
    end_ = std::exchange(other.end_, 0);
  }
  return *this;
}

void Connection::close_fd() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Result<bool> Connection::read_some(Deadline deadline) {
  // Called only when everything read before has been decoded (start_ == end_).
  for (;;) {
    TILLID_ASSIGN(short ev, wait_for(fd_, POLLIN, deadline));
    if (ev == 0) return make_error(Errc::io, peer_ + " did not answer in time");
    const ssize_t n = ::recv(fd_, buffer_.data(), buffer_.size(), 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      if (errno == ECONNRESET) return false;
      return os_error("reading from the control socket", errno);
    }
    start_ = 0;
    end_ = static_cast<std::size_t>(n);
    return n > 0;
  }
}

Result<Frame> Connection::receive(Deadline deadline) {
  if (fd_ < 0) return closed();
  for (;;) {
    if (auto f = decoder_.pop()) return std::move(*f);
    if (start_ < end_) {
      auto used = decoder_.feed({buffer_.data() + start_, end_ - start_});
      if (!used) return make_error(Errc::corrupt, "malformed frame from " + peer_ + ": " + used.error().message);
      start_ += *used;
      continue;
    }
    TILLID_ASSIGN(bool more, read_some(deadline));
    if (!more)
      return make_error(Errc::io, peer_ + (decoder_.idle() ? " closed the connection"
                                                           : " closed the connection in the middle of a frame"));
  }
}

Result<void> Connection::send(std::span<const unsigned char> bytes, Deadline deadline) {
  if (fd_ < 0) return closed();
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        TILLID_ASSIGN(short ev, wait_for(fd_, POLLOUT, deadline));
        if (ev == 0) return make_error(Errc::io, peer_ + " did not answer in time");
        continue;
      }
      return os_error("writing to the control socket", errno);
    }
    bytes = bytes.subspan(static_cast<std::size_t>(n));
  }
  return {};
}

Result<void> Connection::send_json(const nlohmann::json& value, Deadline deadline) {
  if (fd_ < 0) return closed();
  // Small messages (every request, most replies) reuse out_; a long reply (up to kMaxReply)
  // gets memory of its own that goes with it, so an idle connection never keeps megabytes.
  Secret one_off;
  Secret* buf = &out_;
  auto place = [&](std::size_t n) {
    if (n > kKeptSendBuffer) {
      one_off = Secret(n);
      buf = &one_off;
    } else if (out_.size() < n) {
      out_ = Secret(std::max(n, kFirstSendBuffer));
    }
    return buf->data();
  };
  TILLID_ASSIGN(std::size_t n, encode_json_frame_to(value, FrameKind::json, place));
  struct Wipe {
    Secret*& buf_;
    std::size_t len_;
    ~Wipe() { sodium_memzero(buf_->data(), len_); }
  } wiped{buf, n};
  return send({buf->data(), n}, deadline);
}

Result<bool> Connection::send_unless_frame(std::span<const unsigned char> bytes, Deadline deadline) {
  if (fd_ < 0) return closed();
  while (!bytes.empty()) {
    // The peer spoke in the middle of our upload: only a reply that ends the request can come
    // now (§5.1); receive() finishes reading it.
    while (start_ < end_ && decoder_.idle()) {
      auto used = decoder_.feed({buffer_.data() + start_, end_ - start_});
      if (!used) return make_error(Errc::corrupt, "malformed frame from " + peer_ + ": " + used.error().message);
      start_ += *used;
    }
    if (!decoder_.idle()) return false;
    TILLID_ASSIGN(short ev, wait_for(fd_, POLLIN | POLLOUT, deadline));
    if (ev == 0) return make_error(Errc::io, peer_ + " did not answer in time");
    if (ev & (POLLIN | POLLHUP | POLLERR)) {
      TILLID_ASSIGN(bool more, read_some(deadline));
      if (!more) return false;  // end of stream: receive() reports it
      continue;
    }
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      // The daemon replied and closed before reading all of our input: its reply, if any, is
      // already in our receive queue.
      if (errno == EPIPE || errno == ECONNRESET) return false;
      return os_error("writing to the control socket", errno);
    }
    bytes = bytes.subspan(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace tillid::control
