// Reports: query filters, the text table, JSON, and the self-contained HTML page, which is
// rendered in headless Chromium when it is installed (package `chromium`).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <sys/wait.h>

#include "log_test_util.hpp"

using namespace tillid;
using namespace logtest;

namespace {

// A small realistic day: staff add and read items, a caseworker is refused once, a failed unlock.
std::vector<LogEntry> day(const fs::path& path, const Key& key) {
  auto log = AccessLog::create(path, options());
  REQUIRE(log.ok());
  const auto ev = logtest::make_event;
  const std::string c1 = "c0ffee00c0ffee00c0ffee00c0ffee00", c2 = "dead0000dead0000dead0000dead0000";
  const std::string i1 = "1111aaaa1111aaaa1111aaaa1111aaaa", i2 = "2222bbbb2222bbbb2222bbbb2222bbbb";
  std::vector<LogEvent> events{
      ev("admin", "admin", LogAction::unlock, LogOutcome::failed, "", "", "wrong passphrase"),
      ev("admin", "admin", LogAction::unlock, LogOutcome::ok, "", "", ""),
      ev("anne", "staff", LogAction::case_created, LogOutcome::ok, c1, "", ""),
      ev("anne", "staff", LogAction::item_added, LogOutcome::ok, c1, i1, "recording, 1843 s"),
      ev("anne", "staff", LogAction::item_added, LogOutcome::ok, c1, i2, "document"),
      ev("bo", "caseworker", LogAction::share_fetched, LogOutcome::refused, c1, i1, "share expired <2024-11-01> & \"revoked\""),
      ev("anne", "staff", LogAction::share_created, LogOutcome::ok, c1, i1, "to bo until 2024-12-31"),
      ev("bo", "caseworker", LogAction::share_fetched, LogOutcome::ok, c1, i1, ""),
      ev("carl", "staff", LogAction::case_created, LogOutcome::ok, c2, "", ""),
      ev("bo", "caseworker", LogAction::item_read, LogOutcome::refused, c2, i2, "not shared with this user"),
  };
  for (const auto& e : events) REQUIRE(log->append(e).ok());
  REQUIRE(log->sign_checkpoint(key.sk, key.pk).ok());
  return log->entries().value();
}

int run(const std::string& cmd) {
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

}  // namespace

TEST_CASE("report queries filter by case, actor, item, time and outcome", "[log][report]") {
  TempDir dir;
  Key key;
  const auto all = day(dir.path / "log", key);
  REQUIRE(all.size() == 10);
  auto count = [&](LogQuery q) { return read_log_entries(dir.path / "log", q).value().size(); };
  CHECK(count({}) == 10);
  LogQuery q;
  q.case_id = "c0ffee00c0ffee00c0ffee00c0ffee00";
  CHECK(count(q) == 6);
  q = {};
  q.actor_id = "bo";
  CHECK(count(q) == 3);
  q.outcome = LogOutcome::refused;
  CHECK(count(q) == 2);
  q = {};
  q.item_id = "1111aaaa1111aaaa1111aaaa1111aaaa";
  CHECK(count(q) == 4);
  q = {};  // the fixed clock gives entry i the time 1732300000000 + 1000 * i
  q.from_unix_ms = 1732300002000;
  q.to_unix_ms = 1732300005000;
  const auto window = read_log_entries(dir.path / "log", q).value();
  REQUIRE(window.size() == 3);
  CHECK(window.front().seq == 2);
  CHECK(window.back().seq == 4);
}

TEST_CASE("text and JSON reports", "[log][report]") {
  TempDir dir;
  Key key;
  const auto all = day(dir.path / "log", key);
  const std::string text = render_log_text(all);
  CHECK(text.rfind("SEQ", 0) == 0);
  CHECK(std::count(text.begin(), text.end(), '\n') == 11);
  CHECK(text.find("2024-11-22T18:26:45.000Z") != std::string::npos);
  CHECK(text.find("share_fetched") != std::string::npos);
  const auto j = nlohmann::json::parse(render_log_json(all));
  REQUIRE(j.size() == 10);
  CHECK(j[5]["outcome"] == "refused");
  CHECK(j[5]["actor_id"] == "bo");
  CHECK(j[5]["details"] == "share expired <2024-11-01> & \"revoked\"");
  CHECK(j[0]["action"] == "unlock");
  CHECK(j[0]["time_unix_ms"] == 1732300000000);
}

TEST_CASE("HTML report is self-contained, escaped, and renders", "[log][report]") {
  TempDir dir;
  Key key;
  const auto all = day(dir.path / "log", key);
  auto rep = verify_log(dir.path / "log", key.vkey(kOrigin));
  REQUIRE(rep.ok());
  REQUIRE(rep->clean());
  const std::string html = render_log_html(all, "Access report <case> & co", &*rep);
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("http://") == std::string::npos);
  CHECK(html.find("https://") == std::string::npos);
  CHECK(html.find("Access report &lt;case&gt; &amp; co") != std::string::npos);
  CHECK(html.find("share expired &lt;2024-11-01&gt; &amp; &quot;revoked&quot;") != std::string::npos);
  CHECK(html.find("Log verified: 10 entries") != std::string::npos);
  CHECK(html.find("class=\"badge refused\">REFUSED<") != std::string::npos);
  CHECK(html.find("class=\"badge failed\">FAILED<") != std::string::npos);
  const fs::path file = dir.path / "report.html";
  {
    std::ofstream f(file);
    f << html;
  }
  // A tampered log's report says so at the top.
  LogVerifyReport bad = *rep;
  bad.problems.push_back({LogProblemKind::edited, 3, "entry seq 3 was altered"});
  bad.first_bad_seq = 3;
  CHECK(render_log_html(all, "x", &bad).find("LOG VERIFICATION FAILED — first bad seq 3") != std::string::npos);

  // TILLID_KEEP_LOG_REPORT=<dir> keeps the page (and screenshot) for a person to look at.
  const char* keep = std::getenv("TILLID_KEEP_LOG_REPORT");
  if (keep != nullptr) fs::copy_file(file, fs::path(keep) / "log-report.html", fs::copy_options::overwrite_existing);
  const char* chromium = "/usr/bin/chromium";
  if (!fs::exists(chromium)) {
    WARN("SKIPPED: /usr/bin/chromium is missing, HTML not rendered (install the `chromium` package)");
    return;
  }
  const std::string flags = std::string(chromium) +
                            " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run"
                            " --disable-background-networking --disable-component-update --disable-sync"
                            " --user-data-dir=" + (dir.path / "profile").string();
  const fs::path png = dir.path / "r.png", dom = dir.path / "dom.html";
  CHECK(run(flags + " --screenshot=" + png.string() + " --window-size=1200,900 file://" + file.string() +
            " >/dev/null 2>&1") == 0);
  REQUIRE(fs::exists(png));
  CHECK(fs::file_size(png) > 10000);  // a blank 1200x900 PNG is a few kB
  const Bytes sig = read_bytes(png);
  REQUIRE(sig.size() > 8);
  CHECK(std::memcmp(sig.data(), "\x89PNG", 4) == 0);
  if (keep != nullptr) fs::copy_file(png, fs::path(keep) / "log-report.png", fs::copy_options::overwrite_existing);
  CHECK(run(flags + " --dump-dom file://" + file.string() + " > " + dom.string() + " 2>/dev/null") == 0);
  const std::string d = text_of(read_bytes(dom));
  for (int seq = 0; seq < 10; ++seq) CHECK(d.find("data-seq=\"" + std::to_string(seq) + "\"") != std::string::npos);
  CHECK(d.find("class=\"outcome-refused\" data-seq=\"5\"") != std::string::npos);
  CHECK(d.find("class=\"outcome-refused\" data-seq=\"9\"") != std::string::npos);
  CHECK(d.find("class=\"outcome-failed\" data-seq=\"0\"") != std::string::npos);
  CHECK(d.find("Item <code>1111aaaa1111aaaa1111aaaa1111aaaa</code>") != std::string::npos);
}
