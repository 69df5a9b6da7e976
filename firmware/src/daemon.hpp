// tillidd's core: one Vault, one recording desk, and a control socket served by a Boost.Asio
// io_context (accept, signals, timers) with one worker thread per connection for the
// blocking exchange with its client (see session.cpp for why).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "config.hpp"
#include "tillid/result.hpp"
#include "tillid/secret.hpp"

namespace tillid::daemon {

inline constexpr const char* kVersion = "0.1.0";

class Daemon {
 public:
  // Opens the vault locked (start-up recovery runs as in Vault::open), defers checkpoints,
  // binds the control socket. With `unlock_with` (unlock.credential) it then unlocks as the
  // unlock op does, as actor tillidd/credential; a refused unlock is logged and the daemon
  // serves locked. The passphrase is wiped before open returns. Nothing is served until run().
  static Result<std::unique_ptr<Daemon>> open(const std::filesystem::path& vault_dir, Config config,
                                              std::optional<Passphrase> unlock_with = std::nullopt);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Serves until SIGTERM or SIGINT, then shuts down in order (stop accepting, seal the
  // recording, final checkpoint, daemon_stopped). Returns the process exit code.
  int run();

  struct Impl;

 private:
  explicit Daemon(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tillid::daemon
