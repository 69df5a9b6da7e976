// The local control socket of a foreground recording (`tillid record start`), through which
// `tillid record mark | stop | status` reach it without opening the vault (the access log
// allows one writer process). Protocol: tools/tillid/CONTROL-PROTOCOL.md.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "tillid/result.hpp"

namespace tillid::cli::control {

inline constexpr std::string_view kVersionLine = "TILLID-RECORD 1";
inline constexpr std::size_t kMaxLine = 4096;      // bytes per line, newline included
inline constexpr int kIoTimeoutMs = 3000;          // per connection, both directions

// <vault>/run/record.sock
std::filesystem::path socket_path(const std::filesystem::path& vault);

struct Request {
  enum Kind { mark, stop, status } kind = status;
  std::string label;  // mark only
};
// Parses the command line (without its newline). Strict: unknown verbs, control characters,
// an empty or over-long label are errors.
Result<Request> parse_request(std::string_view line);

// A reply: ok with a JSON body, or an Errc name and a message.
struct Reply {
  bool ok = true;
  std::string body;  // JSON (ok) or message (error), one line
  Errc code = Errc::internal;
};

class Server {
 public:
  // Creates <vault>/run (0700), removes a stale socket left by a killed recorder (only if
  // nothing answers on it), binds and listens with mode 0600.
  static Result<Server> listen(const std::filesystem::path& vault);
  Server(Server&&) noexcept;
  Server& operator=(Server&&) = delete;
  ~Server();  // closes and removes the socket

  // Serves one connection at a time until stop() (from another thread). Peers must run as
  // the same user (SO_PEERCRED). `handler` runs on the serving thread.
  void serve(const std::function<Reply(const Request&)>& handler);
  void stop();

 private:
  Server() = default;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  std::filesystem::path path_;
};

// Client: one request, one reply. Errors: not_found when no recording is running (no socket
// or nobody listening), corrupt for a malformed reply, else the server's error.
Result<std::string> request(const std::filesystem::path& vault, std::string_view command_line);

}  // namespace tillid::cli::control
