// tillidd's configuration: one TOML file (firmware/CONFIG.md lists every key and its default).
// Loading is strict: an unknown key or a bad value stops start-up with a message that names
// the key and its line, so a typo never silently leaves a default in force.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include "tillid/result.hpp"
#include "tillid/secret.hpp"

namespace tillid::daemon {

struct Config {
  // [control]
  std::filesystem::path socket;  // default <vault>/run/control.sock
  unsigned socket_mode = 0600;   // the appliance sets 0666 in a 0755 dir: authz is SO_PEERCRED
  std::chrono::milliseconds request_timeout{10000};
  unsigned max_clients = 64;
  // [lock]
  std::chrono::milliseconds idle_lock{0};  // lock.idle_minutes; 0: never lock by itself
  // [unlock]
  std::optional<std::string> unlock_credential;  // a systemd credential's name: unlock at start
  // [checkpoint]
  std::chrono::milliseconds checkpoint_max_delay{500};
  // [recording]
  int bitrate = 32000;                             // default Opus bits/s per channel
  std::optional<std::filesystem::path> mirror_dir;  // where every recording is mirrored, if set
  double silence_alarm_s = 10.0;                    // default silence alarm delay
};

// The defaults for `vault` (what runs when no file is given).
Config default_config(const std::filesystem::path& vault);

// Reads `file` over the defaults. Errors (invalid_argument) read "line N: key 'a.b' ...".
Result<Config> load_config(const std::filesystem::path& file, const std::filesystem::path& vault);
// Same, from text (tests; `source_name` only labels parse errors).
Result<Config> parse_config(std::string_view toml_text, const std::filesystem::path& vault);

// The passphrase in the systemd credential `name` (unlock.credential): the first line of
// $CREDENTIALS_DIRECTORY/<name>, at most 1024 bytes, read straight into sodium memory as
// `tillid --passphrase-file` reads its file. Errors (invalid_argument: start-up exits 2) name
// the key and the credential, never its content.
Result<Passphrase> read_unlock_credential(const std::string& name);

}  // namespace tillid::daemon
