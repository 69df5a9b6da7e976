// Strict TOML loading for tillidd (firmware/CONFIG.md). Every key has one setter in kKeys; a
// key not in that table, a value of the wrong type or out of range is an error naming the key
// and the line toml++ reports for it.
#include "config.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include <toml++/toml.h>

namespace tillid::daemon {
namespace {

// A setter returns an empty string on success, else what is wrong with the value.
using Setter = std::function<std::string(const toml::node&, Config&)>;

std::optional<std::int64_t> integer(const toml::node& n) {
  if (!n.is_integer()) return std::nullopt;
  return n.as_integer()->get();
}

Setter integer_in(std::int64_t lo, std::int64_t hi, std::function<void(Config&, std::int64_t)> set) {
  return [lo, hi, set](const toml::node& n, Config& c) -> std::string {
    auto v = integer(n);
    if (!v || *v < lo || *v > hi)
      return "must be an integer " + std::to_string(lo) + ".." + std::to_string(hi);
    set(c, *v);
    return {};
  };
}

Setter absolute_path(std::function<void(Config&, std::filesystem::path)> set) {
  return [set](const toml::node& n, Config& c) -> std::string {
    if (!n.is_string()) return "must be a string (an absolute path)";
    std::filesystem::path p = n.as_string()->get();
    if (!p.is_absolute()) return "must be an absolute path";
    set(c, p);
    return {};
  };
}

// systemd's credential names are file names in $CREDENTIALS_DIRECTORY; a conservative subset.
bool valid_credential_name(const std::string& s) {
  if (s.empty() || s.size() > 255 || s == "." || s == "..") return false;
  return s.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == std::string::npos;
}

const std::map<std::string, Setter>& keys() {
  static const std::map<std::string, Setter> k = {
      {"control.socket", absolute_path([](Config& c, std::filesystem::path p) {
         c.socket = std::move(p);
       })},
      // An octal mode: TOML 0o666, or the string "0666". Execute bits mean nothing on a socket.
      {"control.socket_mode",
       [](const toml::node& n, Config& c) -> std::string {
         std::optional<std::int64_t> v = integer(n);
         if (!v && n.is_string()) {
           const std::string& s = n.as_string()->get();
           if (!s.empty() && s.size() <= 4 && s.find_first_not_of("01234567") == std::string::npos)
             v = std::stoll(s, nullptr, 8);
         }
         if (!v || (*v & ~0666) != 0) return "must be an octal mode without execute bits, e.g. 0o600 or \"0666\"";
         c.socket_mode = static_cast<unsigned>(*v);
         return {};
       }},
      {"control.request_timeout_ms",
       integer_in(100, 600000, [](Config& c, std::int64_t v) { c.request_timeout = std::chrono::milliseconds(v); })},
      {"control.max_clients",
       integer_in(1, 1024, [](Config& c, std::int64_t v) { c.max_clients = static_cast<unsigned>(v); })},
      // Minutes, whole or not (0.5 = 30 s), up to a week.
      {"lock.idle_minutes",
       [](const toml::node& n, Config& c) -> std::string {
         double v = -1;
         if (n.is_floating_point()) v = n.as_floating_point()->get();
         else if (n.is_integer()) v = static_cast<double>(n.as_integer()->get());
         if (!(v == 0 || (v >= 0.05 && v <= 7 * 24 * 60)))
           return "must be 0 (never) or a number of minutes 0.05..10080";
         c.idle_lock = std::chrono::milliseconds(static_cast<std::int64_t>(v * 60000.0));
         return {};
       }},
      // Unattended start (CONFIG.md [unlock]): the passphrase comes from this credential.
      {"unlock.credential",
       [](const toml::node& n, Config& c) -> std::string {
         if (!n.is_string() || !valid_credential_name(n.as_string()->get()))
           return "must be a systemd credential name: 1..255 of A-Z a-z 0-9 . _ - (not . or ..)";
         c.unlock_credential = n.as_string()->get();
         return {};
       }},
      // LOG-FORMAT §3: the unsigned window stays within a second.
      {"checkpoint.max_delay_ms", integer_in(10, 1000, [](Config& c, std::int64_t v) {
         c.checkpoint_max_delay = std::chrono::milliseconds(v);
       })},
      {"recording.bitrate",
       integer_in(6000, 256000, [](Config& c, std::int64_t v) { c.bitrate = static_cast<int>(v); })},
      {"recording.mirror_dir", absolute_path([](Config& c, std::filesystem::path p) { c.mirror_dir = std::move(p); })},
      {"recording.silence_alarm_s",
       [](const toml::node& n, Config& c) -> std::string {
         double v = 0;
         if (n.is_floating_point()) v = n.as_floating_point()->get();
         else if (n.is_integer()) v = static_cast<double>(n.as_integer()->get());
         else return "must be a number of seconds 0.1..3600";
         if (!(v >= 0.1 && v <= 3600.0)) return "must be a number of seconds 0.1..3600";
         c.silence_alarm_s = v;
         return {};
       }},
  };
  return k;
}

std::string at_line(const toml::source_region& where) {
  return "line " + std::to_string(where.begin.line);
}

Result<Config> apply(const toml::table& root, const std::filesystem::path& vault) {
  Config c = default_config(vault);
  for (auto&& [section, node] : root) {
    const std::string sname(section.str());
    const toml::table* t = node.as_table();
    if (!t) {
      return make_error(Errc::invalid_argument, at_line(section.source()) + ": unknown key '" + sname +
                                                    "' (settings live in [control], [lock], [unlock], "
                                                    "[checkpoint], [recording]; see firmware/CONFIG.md)");
    }
    for (auto&& [key, value] : *t) {
      const std::string name = sname + "." + std::string(key.str());
      auto it = keys().find(name);
      if (it == keys().end())
        return make_error(Errc::invalid_argument,
                          at_line(key.source()) + ": unknown key '" + name + "' (see firmware/CONFIG.md)");
      if (std::string why = it->second(value, c); !why.empty())
        return make_error(Errc::invalid_argument, at_line(value.source()) + ": key '" + name + "' " + why);
    }
  }
  return c;
}

}  // namespace

Config default_config(const std::filesystem::path& vault) {
  Config c;
  c.socket = vault / "run" / "control.sock";
  return c;
}

Result<Config> parse_config(std::string_view toml_text, const std::filesystem::path& vault) {
  try {
    toml::table root = toml::parse(toml_text);
    return apply(root, vault);
  } catch (const toml::parse_error& e) {
    return make_error(Errc::invalid_argument,
                      at_line(e.source()) + ": not valid TOML: " + std::string(e.description()));
  }
}

Result<Config> load_config(const std::filesystem::path& file, const std::filesystem::path& vault) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return make_error(Errc::not_found, "cannot read the configuration file");
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > 1024 * 1024) return make_error(Errc::invalid_argument, "the configuration file is over 1 MiB");
  return parse_config(text.str(), vault);
}

Result<Passphrase> read_unlock_credential(const std::string& name) {
  constexpr std::size_t kMax = 1024;  // as `tillid --passphrase-file` (tools/tillid/passphrase.cpp)
  const std::string key = "key 'unlock.credential': ";
  const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
  if (dir == nullptr || *dir == '\0')
    return make_error(Errc::invalid_argument, key + "no credential '" + name +
                                                  "': CREDENTIALS_DIRECTORY is not set (is LoadCredentialEncrypted= set?)");
  const std::filesystem::path file = std::filesystem::path(dir) / name;
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT)
      return make_error(Errc::invalid_argument, key + "no credential '" + name +
                                                    "' in $CREDENTIALS_DIRECTORY (is LoadCredentialEncrypted= set?)");
    return make_error(Errc::invalid_argument, key + "cannot read the credential '" + name + "': " + std::strerror(err));
  }
  // Byte by byte up to the first newline: nothing after it is read into ordinary memory.
  Secret buf(kMax + 1);
  std::size_t len = 0;
  int err = 0;
  while (len < buf.size()) {
    const ssize_t n = ::read(fd, buf.data() + len, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) err = errno;
    if (n <= 0 || buf.data()[len] == '\n') break;
    ++len;
  }
  ::close(fd);
  if (err != 0)
    return make_error(Errc::invalid_argument, key + "cannot read the credential '" + name + "': " + std::strerror(err));
  if (len > kMax)
    return make_error(Errc::invalid_argument, key + "the credential '" + name + "' has a line over 1024 bytes");
  if (len > 0 && buf.data()[len - 1] == '\r') --len;
  if (len == 0) return make_error(Errc::invalid_argument, key + "the credential '" + name + "' is empty");
  return Secret::copy_of(buf.bytes().first(len));
}

}  // namespace tillid::daemon
