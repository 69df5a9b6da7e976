// tillidd end to end: the real daemon on a temp vault, driven through the real protocol
// client. Start-up and status, refusal of an unknown uid, stalled and malformed clients, the
// configuration's errors, and `--version`. Recording under signals: daemon_signal_test.cpp.
#include <sys/socket.h>
#include <sys/un.h>

#include "config.hpp"
#include "daemon_harness.hpp"

namespace tillid::test {
namespace {

// A raw connection, for sending what a well-behaved client never would.
struct RawSocket {
  int fd = -1;
  explicit RawSocket(const fs::path& path) {
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }
  ~RawSocket() { ::close(fd); }
  void send_bytes(const std::string& b) { REQUIRE(::send(fd, b.data(), b.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(b.size())); }
  // Everything the daemon sends until it closes the connection (bounded by a 30 s safety net
  // so a daemon that never drops the peer fails the test instead of hanging it).
  std::string read_until_closed() {
    timeval tv{30, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string all;
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n == 0) return all;
      if (n < 0) {
        if (errno == EINTR) continue;
        FAIL("the daemon did not close the connection: " << std::strerror(errno));
      }
      all.append(buf, static_cast<std::size_t>(n));
    }
  }
};

std::string frame(unsigned char kind, const std::string& body) {
  const std::uint32_t len = static_cast<std::uint32_t>(body.size() + 1);
  std::string f;
  f.push_back(static_cast<char>(len >> 24));
  f.push_back(static_cast<char>(len >> 16));
  f.push_back(static_cast<char>(len >> 8));
  f.push_back(static_cast<char>(len));
  f.push_back(static_cast<char>(kind));
  return f + body;
}

// The JSON frames in `bytes` (after the hello), decoded with the protocol's own decoder.
std::vector<nlohmann::json> json_frames(const std::string& bytes) {
  control::FrameDecoder dec;
  std::vector<nlohmann::json> out;
  std::span<const unsigned char> in(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  while (!in.empty()) {
    auto used = dec.feed(in);
    REQUIRE(used.ok());
    in = in.subspan(*used);
    while (auto f = dec.pop()) {
      if (f->kind == control::FrameKind::json) {
        auto j = control::parse_json_object(f->bytes());
        REQUIRE(j.ok());
        out.push_back(*j);
      }
    }
  }
  return out;
}

std::size_t count_entries(const std::vector<LogEntry>& log, LogAction action, const std::string& actor = "") {
  return static_cast<std::size_t>(std::count_if(log.begin(), log.end(), [&](const LogEntry& e) {
    return e.action == action && (actor.empty() || e.actor_id == actor);
  }));
}

}  // namespace

TEST_CASE("tillidd starts locked, reports ready, serves status and unlock, and logs start and stop", "[daemon]") {
  DaemonVault dv;
  {
    DaemonProcess d(dv);
    auto st = call(dv.socket, "status");
    REQUIRE(st["ok"] == true);
    CHECK(st["result"]["locked"] == true);
    CHECK(st["result"]["user"]["name"] == "admin");
    CHECK(st["result"]["user"]["role"] == "admin");
    CHECK(st["result"]["recording"].is_null());

    auto bad = call(dv.socket, "unlock", {{"passphrase", "not the passphrase"}});
    CHECK(bad["ok"] == false);
    CHECK(bad["code"] == "wrong_passphrase");
    REQUIRE(call(dv.socket, "unlock", {{"passphrase", kPassphrase}})["ok"] == true);
    CHECK(call(dv.socket, "status")["result"]["locked"] == false);
    REQUIRE(call(dv.socket, "lock")["ok"] == true);
    CHECK(call(dv.socket, "status")["result"]["locked"] == true);
    REQUIRE(d.terminate(std::chrono::seconds(5)) == 0);
  }
  CHECK_FALSE(fs::exists(dv.socket));
  const auto log = dv.log_entries();
  CHECK(count_entries(log, LogAction::daemon_started, "tillidd") == 1);
  CHECK(count_entries(log, LogAction::daemon_stopped, "tillidd") == 1);
  // Every request's decision is logged for the authenticated user.
  CHECK(count_entries(log, LogAction::authz_decision, "admin") >= 6);
}

TEST_CASE("tillidd refuses a uid that is not enrolled, and logs the refusal with uid:N", "[daemon][authz]") {
  DaemonVault dv;
  {
    DaemonProcess d(dv);
    auto r = call_as(kUnenrolledUid, dv.socket, "status");
    CHECK(r["ok"] == false);
    CHECK(r["code"] == "denied");
    auto u = call_as(kUnenrolledUid, dv.socket, "unlock", {{"passphrase", kPassphrase}});
    CHECK(u["code"] == "denied");
    CHECK(call(dv.socket, "status")["result"]["locked"] == true);  // the refused unlock did nothing
    REQUIRE(d.terminate(std::chrono::seconds(5)) == 0);
  }
  const auto log = dv.log_entries();
  const std::string who = "uid:" + std::to_string(kUnenrolledUid);
  std::size_t refused = 0;
  for (const auto& e : log)
    if (e.action == LogAction::authz_decision && e.actor_id == who) {
      CHECK(e.actor_role == "none");
      CHECK(e.outcome == LogOutcome::refused);
      ++refused;
    }
  CHECK(refused == 2);
}

TEST_CASE("a client that stalls is dropped after the deadline while others are served", "[daemon][stall]") {
  DaemonVault dv("request_timeout_ms = 1500\n");
  DaemonProcess d(dv);
  RawSocket silent(dv.socket);   // connects and sends nothing
  RawSocket half(dv.socket);     // sends half a frame
  half.send_bytes(frame(1, R"({"v":1,"op":"status","args":{}})").substr(0, 9));
  // Others keep getting answers while both stall.
  for (int i = 0; i < 20; ++i) REQUIRE(call(dv.socket, "status")["ok"] == true);
  // The stalled ones got the hello, then are closed without a reply (read_until_closed
  // fails the test if the daemon keeps them).
  CHECK(json_frames(silent.read_until_closed()).size() == 1);
  CHECK(json_frames(half.read_until_closed()).size() == 1);
  CHECK(call(dv.socket, "status")["ok"] == true);
}

TEST_CASE("malformed requests get an error reply, a protocol_error entry and a closed connection", "[daemon][protocol]") {
  DaemonVault dv;
  const std::vector<std::pair<const char*, std::string>> cases = {
      {"unknown frame kind", frame(9, "x")},
      {"length over the maximum", std::string("\x00\x01\x00\x03\x01", 5)},
      {"zero length", std::string("\x00\x00\x00\x00", 4)},
      {"not JSON", frame(1, "{not json")},
      {"JSON but not an object", frame(1, "[1,2]")},
      {"another protocol version", frame(1, R"({"v":2,"op":"status","args":{}})")},
      {"unknown op", frame(1, R"({"v":1,"op":"no.such.op","args":{}})")},
      {"data before any request", frame(2, "abc")},
  };
  {
    DaemonProcess d(dv);
    for (const auto& [what, bytes] : cases) {
      INFO(what);
      RawSocket s(dv.socket);
      s.send_bytes(bytes);
      auto frames = json_frames(s.read_until_closed());
      REQUIRE(frames.size() == 2);  // hello, then the error reply; then the daemon closed
      CHECK(frames[0]["protocol"] == "tillid-control");
      CHECK(frames[1]["ok"] == false);
      CHECK(frames[1]["error"].contains("code"));
    }
    CHECK(call(dv.socket, "status")["ok"] == true);  // the daemon is unharmed
    REQUIRE(d.terminate(std::chrono::seconds(5)) == 0);
  }
  const auto log = dv.log_entries();
  CHECK(count_entries(log, LogAction::protocol_error, "admin") == cases.size());
}

TEST_CASE("tillidd refuses a second daemon on the same socket and replaces a stale one", "[daemon]") {
  DaemonVault dv;
  {
    DaemonProcess d(dv);
    auto second = run({tillidd_program().string(), "--vault", dv.vault.string(), "--config", dv.config.string()});
    CHECK(second.exit_code == 1);
    CHECK(call(dv.socket, "status")["ok"] == true);
    d.kill9();  // leaves its socket file behind
  }
  REQUIRE(fs::exists(dv.socket));
  DaemonProcess again(dv);
  CHECK(call(dv.socket, "status")["ok"] == true);
}

TEST_CASE("a bad configuration stops start-up with exit 2, naming the key and its line", "[daemon][config]") {
  DaemonVault dv;
  struct Bad {
    std::string text;
    std::string key;
    std::string line;
  };
  const std::vector<Bad> bad = {
      {"[control]\nrequest_timeout_ms = 5000\nsockett = \"/tmp/x\"\n", "control.sockett", "line 3"},
      {"[checkpoint]\nmax_delay_ms = 1500\n", "checkpoint.max_delay_ms", "line 2"},
      {"[lock]\n\nidle_minutes = \"ten\"\n", "lock.idle_minutes", "line 3"},
      {"[lock]\nidle_minutes = 0.01\n", "lock.idle_minutes", "line 2"},
      {"[recording]\nmirror_dir = \"relative/dir\"\n", "recording.mirror_dir", "line 2"},
      {"[control]\nsocket_mode = 0o777\n", "control.socket_mode", "line 2"},
      {"verbose = true\n", "verbose", "line 1"},
      {"[control]\nmax_clients = \n", "", "line 2"},  // not TOML at all
  };
  for (const auto& b : bad) {
    INFO(b.text);
    write_file(dv.config, b.text);
    auto r = run({tillidd_program().string(), "--vault", dv.vault.string(), "--config", dv.config.string()});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(b.line) != std::string::npos);
    if (!b.key.empty()) CHECK(r.err.find("'" + b.key + "'") != std::string::npos);
    CHECK_FALSE(fs::exists(dv.socket));
  }
}

TEST_CASE("the configuration's defaults and every key parse as documented", "[daemon][config]") {
  const fs::path vault = "/srv/vault";
  auto def = daemon::default_config(vault);
  CHECK(def.socket == vault / "run" / "control.sock");
  CHECK(def.socket_mode == 0600);
  CHECK(def.request_timeout == std::chrono::milliseconds(10000));
  CHECK(def.max_clients == 64);
  CHECK(def.idle_lock == std::chrono::milliseconds(0));
  CHECK(def.checkpoint_max_delay == std::chrono::milliseconds(500));
  CHECK(def.bitrate == 32000);
  CHECK_FALSE(def.mirror_dir.has_value());
  CHECK(def.silence_alarm_s == 10.0);

  auto c = daemon::parse_config(R"([control]
socket = "/run/tillid/control.sock"
socket_mode = "0666"
request_timeout_ms = 2500
max_clients = 8
[lock]
idle_minutes = 15
[checkpoint]
max_delay_ms = 1000
[recording]
bitrate = 48000
mirror_dir = "/mnt/mirror"
silence_alarm_s = 4.5
)", vault);
  REQUIRE(c.ok());
  CHECK(c->socket == "/run/tillid/control.sock");
  CHECK(c->socket_mode == 0666);
  CHECK(c->request_timeout == std::chrono::milliseconds(2500));
  CHECK(c->max_clients == 8);
  CHECK(c->idle_lock == std::chrono::minutes(15));
  CHECK(c->checkpoint_max_delay == std::chrono::milliseconds(1000));
  CHECK(c->bitrate == 48000);
  CHECK(c->mirror_dir == fs::path("/mnt/mirror"));
  CHECK(c->silence_alarm_s == 4.5);
}

TEST_CASE("tillidd --version prints its version and exits 0", "[daemon]") {
  auto r = run({tillidd_program().string(), "--version"});
  CHECK(r.exit_code == 0);
  CHECK(r.out.rfind("tillidd ", 0) == 0);
}

}  // namespace tillid::test

namespace tillid::test {

TEST_CASE("while unlocked, the daemon's timer signs checkpoints that catch up with the log", "[daemon][checkpoint]") {
  DaemonVault dv("[checkpoint]\nmax_delay_ms = 200\n");
  DaemonProcess d(dv);
  unlock_and_enrol_staff(dv.socket);
  auto size_of = [&]() -> std::uint64_t {
    auto r = call(dv.socket, "audit.checkpoint");
    REQUIRE(r["ok"] == true);
    const std::string note = r["result"]["checkpoint"];
    const auto nl = note.find('\n');
    return std::stoull(note.substr(nl + 1, note.find('\n', nl + 1) - nl - 1));
  };
  const std::uint64_t before = size_of();
  REQUIRE(call_as(kStaffUid, dv.socket, "case.add",
                  {{"number", "C-1"}, {"municipality", "0101"}, {"child_name", ""}, {"cpr", ""}, {"notes", ""}})["ok"] == true);
  // Entries since: this audit.checkpoint's decision, case.add's decision and case_created.
  // Nothing but the timer signs now (checkpoints are deferred); poll until one covers them.
  bool caught_up = false;
  for (int i = 0; i < 100 && !caught_up; ++i) {
    caught_up = size_of() >= before + 3;
    if (!caught_up) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(caught_up);
}

}  // namespace tillid::test

namespace tillid::test {

TEST_CASE("connections beyond control.max_clients are refused with an error, others still served", "[daemon]") {
  DaemonVault dv("max_clients = 2\n");
  DaemonProcess d(dv);
  std::optional<RawSocket> a(std::in_place, dv.socket), b(std::in_place, dv.socket);
  RawSocket third(dv.socket);
  auto frames = json_frames(third.read_until_closed());
  REQUIRE(frames.size() == 1);
  CHECK(frames[0]["ok"] == false);
  a.reset();
  b.reset();
  // Freed slots serve again (a worker is reaped once its client left).
  bool served = false;
  for (int i = 0; i < 50 && !served; ++i) {
    served = call(dv.socket, "status")["ok"] == true;
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(served);
}

TEST_CASE("tillidd tells systemd READY, WATCHDOG and STOPPING through NOTIFY_SOCKET", "[daemon][systemd]") {
  DaemonVault dv;
  const fs::path notify = dv.tmp / "notify.sock";
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, notify.c_str(), sizeof a.sun_path - 1);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  auto next = [&]() -> std::string {
    char buf[512];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("(nothing)");
  };
  DaemonProcess d(dv, {"NOTIFY_SOCKET=" + notify.string(), "WATCHDOG_USEC=400000"});
  CHECK(next().rfind("READY=1", 0) == 0);
  CHECK(next() == "WATCHDOG=1");
  CHECK(next() == "WATCHDOG=1");
  ::kill(d.pid(), SIGTERM);
  std::string m;
  for (int i = 0; i < 10 && m != "STOPPING=1"; ++i) m = next();
  CHECK(m == "STOPPING=1");
  CHECK(d.terminate(std::chrono::seconds(5)) == 0);
  ::close(fd);
}

}  // namespace tillid::test

namespace tillid::test {

TEST_CASE("lock.idle_minutes locks an idle vault, but never during a recording", "[daemon][lock]") {
  DaemonVault dv("[lock]\nidle_minutes = 0.05\n");  // 3 s
  DaemonProcess d(dv);
  unlock_and_enrol_staff(dv.socket);
  REQUIRE(call_as(kStaffUid, dv.socket, "case.add",
                  {{"number", "L-1"}, {"municipality", "0101"}, {"child_name", ""}, {"cpr", ""}, {"notes", ""}})["ok"] == true);
  // A recording keeps it unlocked however long nobody asks anything.
  REQUIRE(call_as(kStaffUid, dv.socket, "record.start",
                  {{"case", "L-1"}, {"interviewer", "I"}, {"source", "tone:440?realtime=1"}})["ok"] == true);
  std::this_thread::sleep_for(std::chrono::seconds(6));
  CHECK(call(dv.socket, "status")["result"]["locked"] == false);
  REQUIRE(call_as(kStaffUid, dv.socket, "record.stop")["ok"] == true);
  // Then, idle, it locks by itself (polled through the log, which a status request would
  // reset: read it after stopping the daemon).
  std::this_thread::sleep_for(std::chrono::seconds(6));
  REQUIRE(d.terminate(std::chrono::seconds(5)) == 0);
  const auto log = dv.log_entries();
  bool locked_by_daemon = false;
  for (const auto& e : log) locked_by_daemon = locked_by_daemon || (e.action == LogAction::lock && e.actor_id == "tillidd");
  CHECK(locked_by_daemon);
}

}  // namespace tillid::test
