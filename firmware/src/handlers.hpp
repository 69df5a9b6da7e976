// The ops of control protocol v1 (firmware/CONTROL-PROTOCOL.md; who may call each:
// firmware/AUTHZ.md). A handler runs after the dispatcher authorised and logged the request;
// it does the vault-side work that `tillid` used to do itself and returns the JSON result the
// client prints (tillid/control_codec.hpp keeps it byte-for-byte today's `--json`).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "config.hpp"
#include "recording_desk.hpp"
#include "tillid/control.hpp"
#include "tillid/users.hpp"
#include "vault_gate.hpp"

namespace tillid::daemon {

// Who is on the other end of a connection (SO_PEERCRED) and what the roster says of them.
struct Caller {
  unsigned uid = 0;
  std::optional<User> user;  // nullopt: not enrolled (or revoked)
  Actor actor;               // user name and role, or uid:<N> / none
};

// What the whole daemon offers a handler.
struct Services {
  VaultGate& gate;
  RecordingDesk& desk;
  const Config& config;
  std::filesystem::path vault_dir;
  std::string version;
};

// The connection as a handler sees it: streamed input and output in protocol frames, each
// write or read bounded by the request deadline so a peer that stops reading or writing is
// dropped instead of holding the vault.
class Exchange {
 public:
  Exchange(control::Connection& conn, std::chrono::milliseconds io_timeout) : conn_(conn), timeout_(io_timeout) {}

  Result<void> send_data(std::span<const unsigned char> bytes);  // split into ≤64 KiB frames
  Result<void> send_end();
  Result<void> send_file(const std::string& name, std::uint64_t size);  // kind-4 header
  // Reads the op's input: data frames until an end frame. Returns 0 at the end.
  Result<std::size_t> read_input(std::span<unsigned char> buf);
  bool input_complete() const { return input_done_; }
  bool output_started() const { return output_started_; }

 private:
  control::Deadline deadline() const { return control::Clock::now() + timeout_; }
  control::Connection& conn_;
  std::chrono::milliseconds timeout_;
  std::optional<control::Frame> pending_;  // a data frame partly handed out
  std::size_t pending_off_ = 0;
  bool input_done_ = false;
  bool output_started_ = false;
};

struct Call {
  Services& d;
  const Caller& caller;
  nlohmann::json& args;  // wiped by the session afterwards
  Exchange& io;
};

using Handler = Result<nlohmann::json> (*)(Call&);
// nullptr for an op the daemon does not serve.
Handler find_handler(std::string_view op);

// Argument readers: invalid_argument naming the argument when it is missing or mistyped.
Result<std::string> arg_string(const nlohmann::json& args, const char* name, bool required = true);
Result<std::int64_t> arg_int(const nlohmann::json& args, const char* name);

}  // namespace tillid::daemon
