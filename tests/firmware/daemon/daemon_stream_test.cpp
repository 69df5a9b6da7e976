// Streams through the real daemon: a document in (doc.add) and out again (get), a court
// export streamed file by file and checked offline, the auditor's log directory, and a
// recording fed as PCM by the client (a WAV file the daemon never opens).
#include <cmath>

#include "daemon_harness.hpp"
#include "tillid/export.hpp"

namespace tillid::test {
namespace {

inline constexpr unsigned kAuditorUid = 61002;

// Everything a streamed reply delivered: files by name, or one data stream.
struct Collect final : control::Receiver {
  std::vector<std::pair<std::string, std::string>> files;
  std::string data;
  bool ended = false;
  Result<void> on_file(const std::string& name, std::uint64_t) override {
    files.emplace_back(name, std::string());
    return {};
  }
  Result<void> on_data(std::span<const unsigned char> b) override {
    (files.empty() ? data : files.back().second).append(reinterpret_cast<const char*>(b.data()), b.size());
    return {};
  }
  Result<void> on_end() override {
    ended = true;
    return {};
  }
};

ByteSource bytes_source(const std::string& bytes, std::size_t& off) {
  return [&bytes, &off](std::span<unsigned char> buf) -> Result<std::size_t> {
    const std::size_t n = std::min(buf.size(), bytes.size() - off);
    std::memcpy(buf.data(), bytes.data() + off, n);
    off += n;
    return n;
  };
}

nlohmann::json reply(const Result<nlohmann::json>& r) {
  if (!r) return {{"ok", false}, {"code", to_string(r.error().code)}, {"message", r.error().message}};
  return {{"ok", true}, {"result", *r}};
}

// Deterministic content over several 64 KiB frames.
std::string document_bytes() {
  std::string s;
  for (int i = 0; s.size() < 200000; ++i) s += "line " + std::to_string(i * 7919 % 10007) + "\n";
  return s;
}

}  // namespace

TEST_CASE("documents, fetch, export and the auditor's log stream through the daemon", "[daemon][stream]") {
  DaemonVault dv;
  TempDir out;
  ::chmod(out.path().c_str(), 0777);
  const std::string doc = document_bytes();
  std::string item_id;
  {
    DaemonProcess d(dv);
    unlock_and_enrol_staff(dv.socket);
    REQUIRE(call(dv.socket, "user.add", {{"name", "auditor1"}, {"role", "auditor"}, {"uid", kAuditorUid}})["ok"] == true);
    REQUIRE(call_as(kStaffUid, dv.socket, "case.add",
                    {{"number", "S-1"}, {"municipality", "0101"}, {"child_name", "A Child"}, {"cpr", ""}, {"notes", ""}})["ok"] == true);

    auto staff = as_uid(kStaffUid, [&]() -> nlohmann::json {
      auto c = control::ControlClient::connect(dv.socket);
      if (!c) return {{"step", "connect"}};
      std::size_t off = 0;
      ByteSource src = bytes_source(doc, off);
      auto added = c->call("doc.add", {{"case", "S-1"}, {"title", "Statement"}, {"file_name", "statement.txt"}}, &src);
      if (!added) return {{"step", "doc.add"}, {"error", added.error().message}};
      Collect got;
      auto fetched = c->call("get", {{"item", (*added)["id"]}}, nullptr, &got);
      if (!fetched) return {{"step", "get"}, {"error", fetched.error().message}};
      Collect exp;
      auto exported = c->call("export", {{"item", (*added)["id"]}}, nullptr, &exp);
      if (!exported) return {{"step", "export"}, {"error", exported.error().message}};
      fs::create_directory(out / "bundle");
      for (const auto& [name, bytes] : exp.files) write_file(out / "bundle" / name, bytes);
      auto denied = c->call("audit.log", nlohmann::json::object(), nullptr, &exp);  // staff: not theirs
      return {{"added", *added}, {"fetched", *fetched}, {"data_ok", got.data == doc && got.ended},
              {"export", *exported}, {"export_files", exp.files.size()},
              {"audit_log", reply(denied)}};
    });
    INFO(staff.dump());
    REQUIRE(staff.contains("added"));
    item_id = staff["added"]["id"];
    CHECK(staff["added"]["size"] == doc.size());
    CHECK(staff["added"]["title"] == "Statement");
    CHECK(staff["data_ok"] == true);
    CHECK(staff["fetched"]["sha256"] == staff["added"]["sha256"]);
    CHECK(staff["export"]["item"]["id"] == item_id);
    CHECK(staff["export_files"].get<std::size_t>() >= 6);
    CHECK(staff["audit_log"]["code"] == "denied");

    auto auditor = as_uid(kAuditorUid, [&]() -> nlohmann::json {
      auto c = control::ControlClient::connect(dv.socket);
      if (!c) return {{"step", "connect"}};
      Collect log;
      auto r = c->call("audit.log", nlohmann::json::object(), nullptr, &log);
      auto key = c->call("audit.key", nlohmann::json::object());
      if (!r || !key) return {{"step", "audit"}};
      fs::create_directory(out / "log");
      std::vector<std::string> names;
      for (const auto& [name, bytes] : log.files) {
        write_file(out / "log" / name, bytes);
        names.push_back(name);
      }
      return {{"files", names}, {"key", (*key)["verifier_key"]}};
    });
    INFO(auditor.dump());
    REQUIRE(auditor.contains("files"));
    // The auditor's copy of the log verifies offline with the key the daemon gave.
    auto report = verify_log(out / "log", auditor["key"].get<std::string>());
    REQUIRE(report.ok());
    CHECK(report->clean());
    CHECK(report->entries > 10);
    REQUIRE(d.terminate(std::chrono::seconds(5)) == 0);
  }
  // The bundle as the client received it checks offline, as a court's expert would.
  auto check = verify_export(out / "bundle", std::nullopt);
  REQUIRE(check.ok());
  for (const auto& p : check->problems) UNSCOPED_INFO(p);
  CHECK(check->ok());
  CHECK(check->item_id == item_id);
  // Nothing of the export is left in the daemon's working directory.
  for (const auto& e : fs::directory_iterator(dv.vault / "run")) CHECK(e.path().filename().string().rfind("export-", 0) != 0);
}

TEST_CASE("a recording fed as PCM by the client is sealed when the stream ends", "[daemon][stream][record]") {
  DaemonVault dv;
  DaemonProcess d(dv);
  unlock_and_enrol_staff(dv.socket);
  REQUIRE(call_as(kStaffUid, dv.socket, "case.add",
                  {{"number", "P-1"}, {"municipality", "0101"}, {"child_name", ""}, {"cpr", ""}, {"notes", ""}})["ok"] == true);
  // 3 s of a 440 Hz tone, 16 kHz stereo s16le.
  const int rate = 16000, channels = 2, seconds = 3;
  std::string pcm;
  for (int i = 0; i < rate * seconds; ++i) {
    const auto v = static_cast<std::int16_t>(8000 * std::sin(2 * M_PI * 440.0 * i / rate));
    for (int c = 0; c < channels; ++c) {
      pcm.push_back(static_cast<char>(v & 0xff));
      pcm.push_back(static_cast<char>((v >> 8) & 0xff));
    }
  }
  auto r = as_uid(kStaffUid, [&]() -> nlohmann::json {
    auto c = control::ControlClient::connect(dv.socket);
    if (!c) return {{"step", "connect"}};
    std::size_t off = 0;
    ByteSource src = bytes_source(pcm, off);
    return reply(c->call("record.start",
                         {{"case", "P-1"}, {"interviewer", "Interviewer"}, {"title", "streamed"},
                          {"stream", {{"rate", rate}, {"channels", channels}}}},
                         &src));
  });
  INFO(r.dump());
  REQUIRE(r["ok"] == true);
  CHECK(r["result"]["kind"] == "recording");
  CHECK(r["result"]["interrupted"] == false);
  const auto ms = r["result"]["duration_ms"].get<std::int64_t>();
  CHECK(std::llabs(ms - seconds * 1000) <= 40);  // Opus frames round the end to 20 ms
  CHECK(call(dv.socket, "status")["result"]["recording"].is_null());
  // A wav: source is refused: the daemon never opens a path a client names.
  auto wav = call_as(kStaffUid, dv.socket, "record.start",
                     {{"case", "P-1"}, {"interviewer", "I"}, {"source", "wav:/etc/passwd"}});
  CHECK(wav["code"] == "invalid_argument");
}

}  // namespace tillid::test
