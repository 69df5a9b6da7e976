// The client's one connection to the daemon `tillidd` (firmware/CONTROL-PROTOCOL.md): finds
// the control socket, sends requests, hands streamed replies to the caller, and unlocks once
// with the passphrase file when a request meets a locked vault (so scripts keep working).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cli.hpp"
#include "tillid/result.hpp"
#include "tillid/vault.hpp"

namespace tillid::cli {

// What the daemon streams before its final reply: kind-4 file headers (export, audit.log)
// and data. Unset handlers refuse the stream (a reply the op does not have).
struct Incoming {
  std::function<Result<void>(const std::string& name, std::uint64_t size)> on_file;
  std::function<Result<void>(std::span<const unsigned char> bytes)> on_data;
  std::function<Result<void>()> on_end;  // end of one stream (one file)
};

// An op's input stream made afresh for each attempt (a retry after unlock sends it again).
using InputFactory = std::function<Result<ByteSource>()>;

// The socket: --socket / TILLID_SOCKET, else <vault>/run/control.sock.
Result<std::filesystem::path> socket_path(const GlobalOptions& g);

class DaemonLink {
 public:
  // Fails with the message "cannot reach the daemon ..." (the caller exits kNoDaemon).
  static Result<DaemonLink> connect(const GlobalOptions& g);
  DaemonLink(DaemonLink&&) noexcept;
  DaemonLink& operator=(DaemonLink&&) noexcept;
  ~DaemonLink();

  // One request. An error reply comes back as its Error (code and message), so the command
  // keeps its exit codes. On Errc::locked with a passphrase file given, sends `unlock` and
  // tries once more.
  Result<nlohmann::json> call(std::string_view op, const nlohmann::json& args = nlohmann::json::object(),
                              const InputFactory* input = nullptr, Incoming* output = nullptr);
  // Without the retry (unlock itself, lock, status).
  Result<nlohmann::json> call_once(std::string_view op, const nlohmann::json& args,
                                   const InputFactory* input = nullptr, Incoming* output = nullptr);

 private:
  struct Impl;
  explicit DaemonLink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  const GlobalOptions* g_ = nullptr;
};

// The start of every "cannot reach the daemon" message; such an error exits kNoDaemon.
inline constexpr std::string_view kUnreachable = "cannot reach the daemon tillidd";
bool is_unreachable(const Error& error);

// Connects and runs `body`; "cannot reach the daemon" exits kNoDaemon, any other error its
// usual exit code.
int with_daemon(const GlobalOptions& g, const std::function<Result<int>(DaemonLink&)>& body);

// Sends `unlock` with the passphrase (never on argv: from the file, else a no-echo prompt).
Result<void> send_unlock(DaemonLink& link, const GlobalOptions& g);

}  // namespace tillid::cli
