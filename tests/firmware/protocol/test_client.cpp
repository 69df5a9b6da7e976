// ControlClient against a small scripted server on a real Unix socket (CONTROL-PROTOCOL.md §7):
// hello checks, replies and error codes, input and output streams, a refusal in the middle of
// an upload, a daemon that stalls, dies or sends garbage, and signals during a call.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <thread>

#include "test_support.hpp"
#include "tillid/control.hpp"

using namespace tillid;
using namespace tillid::control;
using json = nlohmann::json;
using Bytes = std::vector<unsigned char>;

namespace {

Bytes bytes_of(std::string_view s) { return Bytes(s.begin(), s.end()); }

// Helpers for the server side of a script; they throw, and the server records the message.
void send_json(Connection& c, const json& j, FrameKind kind = FrameKind::json) {
  auto f = encode_json_frame(j, kind);
  if (!f) throw std::runtime_error(f.error().message);
  if (auto r = c.send(f->bytes()); !r) throw std::runtime_error(r.error().message);
}

void send_raw(Connection& c, const Bytes& b) {
  if (auto r = c.send(b); !r) throw std::runtime_error(r.error().message);
}

void send_frame(Connection& c, FrameKind kind, const Bytes& body) {
  auto f = encode_frame(kind, body);
  if (!f) throw std::runtime_error(f.error().message);
  send_raw(c, Bytes(f->data(), f->data() + f->size()));
}

Request read_request(Connection& c) {
  auto f = c.receive(Clock::now() + std::chrono::seconds(10));
  if (!f) throw std::runtime_error("server: " + f.error().message);
  if (f->kind != FrameKind::json) throw std::runtime_error("server: request is not JSON");
  auto j = parse_json_object(f->bytes());
  if (!j) throw std::runtime_error(j.error().message);
  auto r = parse_request(*j);
  if (!r) throw std::runtime_error(r.error().message);
  return std::move(*r);
}

// Reads data frames up to the end frame and returns their bytes.
Bytes read_input(Connection& c) {
  Bytes all;
  for (;;) {
    auto f = c.receive(Clock::now() + std::chrono::seconds(10));
    if (!f) throw std::runtime_error("server: " + f.error().message);
    if (f->kind == FrameKind::end) return all;
    if (f->kind != FrameKind::data) throw std::runtime_error("server: expected data");
    all.insert(all.end(), f->bytes().begin(), f->bytes().end());
  }
}

// A one-connection server on a Unix socket in a temp dir, running `script` after the hello.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::function<void(Connection&)> script, json hello = make_hello("test-0"))
      : socket_(dir_ / "control.sock") {
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket_.c_str(), sizeof addr.sun_path - 1);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 4) != 0)
      throw std::runtime_error("cannot listen on the test socket");
    thread_ = std::thread([this, script = std::move(script), hello = std::move(hello)] {
      try {
        pollfd p{listen_fd_, POLLIN, 0};
        if (::poll(&p, 1, 10000) != 1) throw std::runtime_error("server: no client connected");
        Connection c(::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC));
        if (!hello.is_null()) send_json(c, hello);
        script(c);
      } catch (const std::exception& e) {
        error_ = e.what();
      }
    });
  }
  ~ScriptedServer() {
    if (thread_.joinable()) thread_.join();
    ::close(listen_fd_);
  }
  const std::filesystem::path& path() const { return socket_; }
  // Waits for the script to finish and returns what went wrong on the server's side, if anything.
  std::string finish() {
    if (thread_.joinable()) thread_.join();
    return error_;
  }

 private:
  tillid::test::TempDir dir_;
  std::filesystem::path socket_;
  int listen_fd_ = -1;
  std::thread thread_;
  std::string error_;
};

// Collects what a Receiver is given, as a transcript.
struct Collect : Receiver {
  std::vector<std::pair<std::string, Bytes>> files;  // name ("" for get) → bytes
  int ends = 0;
  std::optional<Error> fail_on_data;
  Result<void> on_file(const std::string& name, std::uint64_t) override {
    files.push_back({name, {}});
    return {};
  }
  Result<void> on_data(std::span<const unsigned char> b) override {
    if (fail_on_data) return *fail_on_data;
    if (files.empty()) files.push_back({"", {}});
    files.back().second.insert(files.back().second.end(), b.begin(), b.end());
    return {};
  }
  Result<void> on_end() override {
    ++ends;
    return {};
  }
};

// A ByteSource over `total` deterministic bytes, handed out in pieces of at most `piece`.
ByteSource pattern_source(std::size_t total, std::size_t piece, std::size_t* given = nullptr) {
  auto pos = std::make_shared<std::size_t>(0);
  return [=](std::span<unsigned char> buf) -> Result<std::size_t> {
    const std::size_t n = std::min({buf.size(), piece, total - *pos});
    for (std::size_t i = 0; i < n; ++i) buf[i] = static_cast<unsigned char>((*pos + i) * 7 + 3);
    *pos += n;
    if (given) *given = *pos;
    return n;
  };
}

Bytes pattern(std::size_t total) {
  Bytes b(total);
  for (std::size_t i = 0; i < total; ++i) b[i] = static_cast<unsigned char>(i * 7 + 3);
  return b;
}

}  // namespace

TEST_CASE("client: no daemon at the socket gives a message naming it and tillidd", "[protocol][client]") {
  tillid::test::TempDir dir;
  const auto missing = dir / "run" / "control.sock";
  auto r = ControlClient::connect(missing);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::io);
  CHECK(r.error().message.find(missing.string()) != std::string::npos);
  CHECK(r.error().message.find("tillidd") != std::string::npos);

  // A socket file that nobody listens on any more (a daemon killed with -9).
  const auto stale = dir / "stale.sock";
  {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, stale.c_str(), sizeof addr.sun_path - 1);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    ::close(fd);
  }
  auto s = ControlClient::connect(stale);
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == Errc::io);
  CHECK(s.error().message.find("nothing is listening") != std::string::npos);

  auto long_path = ControlClient::connect(dir / std::string(120, 'x'));
  REQUIRE_FALSE(long_path.ok());
  CHECK(long_path.error().code == Errc::invalid_argument);
}

TEST_CASE("client: the hello is checked and has a deadline", "[protocol][client]") {
  SECTION("another version") {
    json hello = make_hello("9.0");
    hello["version"] = 2;
    ScriptedServer server([](Connection&) {}, hello);
    auto r = ControlClient::connect(server.path());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::unsupported);
    CHECK(server.finish().empty());
  }
  SECTION("not our protocol") {
    ScriptedServer server([](Connection& c) { send_raw(c, bytes_of("TILLID-RECORD 1\n")); }, json());
    auto r = ControlClient::connect(server.path());
    REQUIRE_FALSE(r.ok());
    // "TILL" read as a length is far beyond 65537: the framing itself is refused.
    CHECK(r.error().code == Errc::corrupt);
    CHECK(server.finish().empty());
  }
  SECTION("a daemon that accepts and says nothing") {
    std::atomic<bool> done{false};
    ScriptedServer server(
        [&](Connection&) {
          while (!done) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        },
        json());
    const auto t0 = Clock::now();
    auto r = ControlClient::connect(server.path(), std::chrono::milliseconds(300));
    const auto waited = Clock::now() - t0;
    done = true;
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::io);
    CHECK(r.error().message.find("in time") != std::string::npos);
    CHECK(waited >= std::chrono::milliseconds(250));  // it did wait; how long exactly is no test's business
    CHECK(server.finish().empty());
  }
  SECTION("a daemon that closes at once") {
    ScriptedServer server([](Connection&) {}, json());
    auto r = ControlClient::connect(server.path());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::io);
    CHECK(r.error().message.find("closed") != std::string::npos);
  }
}

TEST_CASE("client: requests, results and error codes; the connection serves several", "[protocol][client]") {
  ScriptedServer server([](Connection& c) {
    Request r = read_request(c);
    if (r.op != "case.add" || r.args != json{{"number", "2026-17"}}) throw std::runtime_error("wrong request");
    send_json(c, reply_ok({{"id", "abc"}}));
    r = read_request(c);
    if (r.op != "unlock") throw std::runtime_error("wrong second request");
    send_json(c, reply_error(Error{Errc::wrong_passphrase, "no key slot opens with this passphrase"}));
    r = read_request(c);
    send_json(c, reply_ok(json::array()));
  });
  auto client = ControlClient::connect(server.path());
  REQUIRE(client.ok());
  CHECK(client->hello().daemon == "test-0");
  auto a = client->call("case.add", {{"number", "2026-17"}});
  REQUIRE(a.ok());
  CHECK(*a == json{{"id", "abc"}});
  auto b = client->call("unlock", {{"passphrase", "wrong"}});
  REQUIRE_FALSE(b.ok());
  CHECK(b.error().code == Errc::wrong_passphrase);
  CHECK(b.error().message == "no key slot opens with this passphrase");
  auto c = client->call("key.ls", json::object());
  REQUIRE(c.ok());
  CHECK(*c == json::array());
  CHECK(server.finish().empty());
}

TEST_CASE("client: input streams arrive whole, in frames of at most 64 KiB", "[protocol][client]") {
  for (std::size_t total : {std::size_t{0}, std::size_t{1}, kMaxBody, kMaxBody + 1, std::size_t{1} << 20}) {
    CAPTURE(total);
    std::size_t largest = 0;
    ScriptedServer server([&](Connection& c) {
      Request r = read_request(c);
      if (r.op != "doc.add") throw std::runtime_error("wrong op");
      Bytes all;
      for (;;) {
        auto f = c.receive(Clock::now() + std::chrono::seconds(10));
        if (!f) throw std::runtime_error(f.error().message);
        if (f->kind == FrameKind::end) break;
        largest = std::max(largest, f->body.size());
        all.insert(all.end(), f->bytes().begin(), f->bytes().end());
      }
      if (all != pattern(total)) throw std::runtime_error("input differs");
      send_json(c, reply_ok({{"size", all.size()}}));
    });
    auto client = ControlClient::connect(server.path());
    REQUIRE(client.ok());
    // A source that hands out odd-sized pieces: frames follow the source, never exceed the limit.
    const ByteSource src = pattern_source(total, 50000);
    auto r = client->call("doc.add", {{"case", "x"}}, &src);
    REQUIRE(r.ok());
    CHECK((*r)["size"] == total);
    CHECK(largest <= kMaxBody);
    CHECK(server.finish().empty());
  }
}

TEST_CASE("client: a refusal in the middle of an upload ends the call with the daemon's error", "[protocol][client]") {
  ScriptedServer server([](Connection& c) {
    read_request(c);
    send_json(c, reply_error(Error{Errc::denied, "staff only"}));
    // §5.1: the server closes without reading the rest of the input.
  });
  auto client = ControlClient::connect(server.path());
  REQUIRE(client.ok());
  std::size_t given = 0;
  const ByteSource src = pattern_source(std::size_t{64} << 20, kMaxBody, &given);
  auto r = client->call("doc.add", {{"case", "x"}}, &src);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::denied);
  CHECK(r.error().message == "staff only");
  CHECK(given < (std::size_t{64} << 20));  // it stopped uploading
  auto again = client->call("status", json::object());
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == Errc::io);
  CHECK(server.finish().empty());
}

TEST_CASE("client: a failing input source abandons the call and the connection", "[protocol][client]") {
  std::atomic<bool> saw_eof{false};
  ScriptedServer server([&](Connection& c) {
    read_request(c);
    try {
      read_input(c);
    } catch (const std::exception&) {
      saw_eof = true;  // the client closed: the daemon must drop the partial input
    }
  });
  auto client = ControlClient::connect(server.path());
  REQUIRE(client.ok());
  int calls = 0;
  const ByteSource src = [&](std::span<unsigned char> buf) -> Result<std::size_t> {
    if (++calls > 2) return make_error(Errc::io, "reading the document failed");
    buf[0] = 'x';
    return std::size_t{1};
  };
  auto r = client->call("doc.add", json::object(), &src);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message == "reading the document failed");
  CHECK(server.finish().empty());
  CHECK(saw_eof);
}

TEST_CASE("client: get streams one item's bytes to the receiver", "[protocol][client]") {
  ScriptedServer server([](Connection& c) {
    read_request(c);
    send_frame(c, FrameKind::data, pattern(kMaxBody));
    send_frame(c, FrameKind::data, Bytes{1, 2, 3});
    send_frame(c, FrameKind::end, {});
    send_json(c, reply_ok({{"id", "aa"}}));
    read_request(c);  // an empty item: just the end
    send_frame(c, FrameKind::end, {});
    send_json(c, reply_ok({{"id", "bb"}}));
  });
  auto client = ControlClient::connect(server.path());
  REQUIRE(client.ok());
  Collect out;
  auto r = client->call("get", {{"item", "aa"}}, nullptr, &out);
  REQUIRE(r.ok());
  REQUIRE(out.files.size() == 1);
  Bytes expected = pattern(kMaxBody);
  expected.insert(expected.end(), {1, 2, 3});
  CHECK(out.files[0].second == expected);
  CHECK(out.ends == 1);
  Collect empty;
  auto e = client->call("get", {{"item", "bb"}}, nullptr, &empty);
  REQUIRE(e.ok());
  CHECK(empty.files.empty());
  CHECK(empty.ends == 1);
  CHECK(server.finish().empty());
}

TEST_CASE("client: export streams files with headers; sizes are checked", "[protocol][client]") {
  auto files_script = [](std::uint64_t announced_second) {
    return [announced_second](Connection& c) {
      read_request(c);
      send_json(c, make_file_header({"SHA256SUMS", 3}), FrameKind::file);
      send_frame(c, FrameKind::data, bytes_of("abc"));
      send_frame(c, FrameKind::end, {});
      send_json(c, make_file_header({"empty.txt", 0}), FrameKind::file);
      send_frame(c, FrameKind::end, {});
      send_json(c, make_file_header({"x.pdf", announced_second}), FrameKind::file);
      send_frame(c, FrameKind::data, bytes_of("12345"));
      send_frame(c, FrameKind::end, {});
      send_json(c, reply_ok({{"content_file", "x.pdf"}}));
    };
  };
  SECTION("sizes as announced") {
    ScriptedServer server(files_script(5));
    auto client = ControlClient::connect(server.path());
    REQUIRE(client.ok());
    Collect out;
    auto r = client->call("export", {{"item", "aa"}}, nullptr, &out);
    REQUIRE(r.ok());
    REQUIRE(out.files.size() == 3);
    CHECK(out.files[0] == std::pair<std::string, Bytes>{"SHA256SUMS", bytes_of("abc")});
    CHECK(out.files[1] == std::pair<std::string, Bytes>{"empty.txt", {}});
    CHECK(out.files[2] == std::pair<std::string, Bytes>{"x.pdf", bytes_of("12345")});
    CHECK(out.ends == 3);
    CHECK(server.finish().empty());
  }
  for (std::uint64_t announced : {4u, 6u}) {
    CAPTURE(announced);
    ScriptedServer server(files_script(announced));
    auto client = ControlClient::connect(server.path());
    REQUIRE(client.ok());
    Collect out;
    auto r = client->call("export", {{"item", "aa"}}, nullptr, &out);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::corrupt);
    CHECK(r.error().message.find(announced < 5 ? "longer" : "shorter") != std::string::npos);
    server.finish();
  }
}

TEST_CASE("client: streams out of order are malformed replies", "[protocol][client]") {
  struct Case {
    const char* what;
    std::function<void(Connection&)> send;
    bool with_receiver;
  };
  const std::vector<Case> cases = {
      {"data for an op without output", [](Connection& c) { send_frame(c, FrameKind::data, {1}); }, false},
      {"success in the middle of a stream",
       [](Connection& c) {
         send_frame(c, FrameKind::data, {1});
         send_json(c, reply_ok(json::object()));
       },
       true},
      {"a file header inside a file",
       [](Connection& c) {
         send_json(c, make_file_header({"a", 1}), FrameKind::file);
         send_json(c, make_file_header({"b", 1}), FrameKind::file);
       },
       true},
      {"data after the end of get's stream",
       [](Connection& c) {
         send_frame(c, FrameKind::data, {1});
         send_frame(c, FrameKind::end, {});
         send_frame(c, FrameKind::data, {2});
       },
       true},
      {"an unsafe file name",
       [](Connection& c) { send_json(c, json{{"file", "../../etc/cron.d/x"}, {"size", 1}}, FrameKind::file); },
       true},
      {"an unknown frame kind", [](Connection& c) { send_raw(c, Bytes{0, 0, 0, 1, 9}); }, true},
      {"a reply that is not JSON", [](Connection& c) { send_frame(c, FrameKind::json, bytes_of("{ok")); }, true},
  };
  for (const auto& k : cases) {
    CAPTURE(k.what);
    ScriptedServer server([&](Connection& c) {
      read_request(c);
      k.send(c);
    });
    auto client = ControlClient::connect(server.path());
    REQUIRE(client.ok());
    Collect out;
    auto r = client->call("get", {{"item", "aa"}}, nullptr, k.with_receiver ? &out : nullptr);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::corrupt);
    server.finish();
  }
}

TEST_CASE("client: an error in the middle of a stream is the daemon's error", "[protocol][client]") {
  ScriptedServer server([](Connection& c) {
    read_request(c);
    send_frame(c, FrameKind::data, {1, 2});
    send_json(c, reply_error(Error{Errc::corrupt, "chunk 3 failed authentication"}));
    read_request(c);
    send_json(c, reply_ok(json::object()));
  });
  auto client = ControlClient::connect(server.path());
  REQUIRE(client.ok());
  Collect out;
  auto r = client->call("get", {{"item", "aa"}}, nullptr, &out);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::corrupt);
  CHECK(r.error().message == "chunk 3 failed authentication");
  CHECK(out.ends == 0);  // no end: the partial output is to be discarded
  CHECK(client->call("status", json::object()).ok());  // the connection is still in step
  CHECK(server.finish().empty());
}

TEST_CASE("client: a receiver's error abandons the call and closes the connection", "[protocol][client]") {
  ScriptedServer server([](Connection& c) {
    read_request(c);
    send_frame(c, FrameKind::data, {1, 2});
    send_frame(c, FrameKind::end, {});
    send_json(c, reply_ok(json::object()));
  });
  auto client = ControlClient::connect(server.path());
  REQUIRE(client.ok());
  Collect out;
  out.fail_on_data = make_error(Errc::no_space, "disk full");
  auto r = client->call("get", {{"item", "aa"}}, nullptr, &out);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::no_space);
  CHECK(client->call("status", json::object()).error().code == Errc::io);
  server.finish();
}

TEST_CASE("client: a daemon that dies mid-reply is an I/O error, not a hang", "[protocol][client]") {
  ScriptedServer server([](Connection& c) {
    read_request(c);
    send_raw(c, Bytes{0, 0, 0, 50, 1, '{'});  // half a frame, then gone
  });
  auto client = ControlClient::connect(server.path());
  REQUIRE(client.ok());
  auto r = client->call("verify", json::object());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::io);
  CHECK(r.error().message.find("middle of a frame") != std::string::npos);
  server.finish();
}

namespace {
std::atomic<int> alarms{0};
void on_alarm(int) { ++alarms; }
}  // namespace

TEST_CASE("client: signals during a long call are retried, not errors", "[protocol][client]") {
  // SIGALRM every 5 ms without SA_RESTART: poll, recv and send see EINTR over and over while
  // the "daemon" takes 300 ms to answer (verify reads every object; no reply deadline).
  struct sigaction sa{};
  sa.sa_handler = on_alarm;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  struct sigaction old{};
  REQUIRE(::sigaction(SIGALRM, &sa, &old) == 0);
  // The server thread must not take the signals: it inherits a mask that blocks them.
  sigset_t alrm;
  sigemptyset(&alrm);
  sigaddset(&alrm, SIGALRM);
  REQUIRE(pthread_sigmask(SIG_BLOCK, &alrm, nullptr) == 0);
  ScriptedServer server([](Connection& c) {
    read_request(c);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    send_frame(c, FrameKind::data, pattern(kMaxBody));
    send_frame(c, FrameKind::end, {});
    send_json(c, reply_ok({{"clean", true}}));
  });
  REQUIRE(pthread_sigmask(SIG_UNBLOCK, &alrm, nullptr) == 0);
  itimerval every{{0, 5000}, {0, 5000}};
  alarms = 0;
  REQUIRE(::setitimer(ITIMER_REAL, &every, nullptr) == 0);
  auto client = ControlClient::connect(server.path());
  Result<json> r = make_error(Errc::internal, "not run");
  Collect out;
  if (client.ok()) r = client->call("get", json::object(), nullptr, &out);
  itimerval off{};
  ::setitimer(ITIMER_REAL, &off, nullptr);
  ::sigaction(SIGALRM, &old, nullptr);
  REQUIRE(client.ok());
  REQUIRE(r.ok());
  CHECK((*r)["clean"] == true);
  CHECK(out.files.at(0).second == pattern(kMaxBody));
  CHECK(alarms > 10);
  CHECK(server.finish().empty());
}

TEST_CASE("client: a reply longer than one frame arrives whole", "[protocol][client]") {
  // ~1000 ls rows: far beyond 64 KiB, as a centre's vault lists after a year.
  json rows = json::array();
  for (int i = 0; i < 1000; ++i) rows.push_back({{"id", std::string(32, 'a')}, {"title", std::string(300, 't')}, {"n", i}});
  ScriptedServer server([&](Connection& c) {
    read_request(c);
    send_json(c, reply_ok(rows));
  });
  auto client = ControlClient::connect(server.path());
  REQUIRE(client.ok());
  auto r = client->call("ls", json::object());
  REQUIRE(r.ok());
  CHECK(*r == rows);
  CHECK(server.finish().empty());
}

TEST_CASE("client: a reply over 16 MiB is refused, not buffered", "[protocol][client]") {
  ScriptedServer server([](Connection& c) {
    read_request(c);
    Bytes piece(kMaxBody, ' ');
    piece[0] = '[';
    for (std::size_t sent = 0; sent <= kMaxReply; sent += kMaxBody) {
      auto f = encode_frame(FrameKind::part, piece);
      if (!c.send(f->bytes(), Clock::now() + std::chrono::seconds(10))) return;  // the client gave up
    }
  });
  auto client = ControlClient::connect(server.path());
  REQUIRE(client.ok());
  auto r = client->call("ls", json::object());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::corrupt);
  CHECK(r.error().message.find("16 MiB") != std::string::npos);
  server.finish();
}

TEST_CASE("client: a daemon that refuses the connection says why instead of hello", "[protocol][client]") {
  ScriptedServer server([](Connection&) {},
                        reply_error(Error{Errc::io, "tillidd is serving its maximum number of clients; try again"}));
  auto r = ControlClient::connect(server.path());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::io);
  CHECK(r.error().message == "tillidd is serving its maximum number of clients; try again");
  CHECK(server.finish().empty());
}

TEST_CASE("client: an input stream for an op that takes none is refused before sending", "[protocol][client]") {
  ScriptedServer server([](Connection& c) {
    Request r = read_request(c);
    send_json(c, reply_ok({{"op", r.op}}));
  });
  auto client = ControlClient::connect(server.path());
  REQUIRE(client.ok());
  const ByteSource src = pattern_source(10, 10);
  auto bad = client->call("status", json::object(), &src);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == Errc::internal);
  // Nothing was sent: the connection is still in step for a proper call.
  auto ok = client->call("status", json::object());
  REQUIRE(ok.ok());
  CHECK((*ok)["op"] == "status");
  CHECK(server.finish().empty());
}
