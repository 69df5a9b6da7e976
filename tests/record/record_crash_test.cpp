// kill -9 of the daemon that records, at random instants of a live (realtime tone) recording:
// at the next start and unlock the recording is recovered, marked interrupted, verifies, and
// decodes to the audio captured before the kill with at most about one second missing (the
// chunk in flight, capture/README.md §4). Each iteration takes a few seconds of real time, so the
// count comes from TILLID_CRASH_ITERATIONS: CI default 16; soak e.g. TILLID_CRASH_ITERATIONS=200.
#include <random>

#include "record_support.hpp"
#include "tillid/access_log.hpp"

using namespace tillid::test;

namespace {
// The last "stored HH:MM:SS.d" position in the status lines of `record start --wait` (the
// daemon's record.status, reported after the chunk's fdatasync), in seconds.
double last_stored_seconds(const std::string& err) {
  auto at = err.rfind("stored ");
  if (at == std::string::npos) return 0;
  int h = 0, m = 0, s = 0, d = 0;
  if (std::sscanf(err.c_str() + at + 7, "%d:%d:%d.%d", &h, &m, &s, &d) != 4) return 0;
  return h * 3600.0 + m * 60.0 + s + d / 10.0;
}
}  // namespace

TEST_CASE("killing the recording daemon at random points keeps everything up to the cut", "[record][crash]") {
  require_tool("opusdec");
  require_tool("opusinfo");
  require_tool("ffprobe");
  RecVault v;
  const unsigned iterations = env_count("TILLID_CRASH_ITERATIONS", 16);
  std::mt19937 rng(20261123);
  std::uniform_int_distribution<int> delay_ms(300, 4500);
  std::size_t expected_items = 0;
  unsigned with_acknowledged_audio = 0;
  for (unsigned i = 0; i < iterations; ++i) {
    INFO("iteration " << i);
    std::string id;
    double elapsed = 0;
    double acknowledged = 0;  // the last "stored" position the recorder reported before the kill
    {
      Background rec(v, {"--case", "C1", "--fields", v.fields({{"interviewer", "A"}}), "--source", "tone?realtime=1"},
                     "crash-" + std::to_string(i));  // fresh files: never read the last run's start line
      id = rec.wait_started();
      // The tone's clock starts right after this line: the Recorder begins reading at once.
      const auto t0 = Clock::now();
      std::this_thread::sleep_until(t0 + std::chrono::milliseconds(delay_ms(rng)));
      // What the client was told was stored, read before the kill: nothing after it counts.
      acknowledged = last_stored_seconds(rec.err_text());
      v.daemon->kill9();
      elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
      CHECK(rec.wait() != 0);  // the client lost its daemon mid-recording
    }
    ++expected_items;
    // The next command starts the daemon, which unlocks and so recovers; verify must be clean.
    auto verify = v.tillid({"verify"});
    INFO(verify.out << verify.err);
    REQUIRE(verify.exit_code == 0);
    auto items = v.json({"ls"});
    REQUIRE(items.size() == expected_items);
    auto s = v.json({"record", "show", id});
    CHECK(s["interrupted"] == true);
    CHECK(s["interrupted_unix"].get<std::int64_t>() > 0);
    if (s["duration_ms"] == 0) {
      // Killed before the first audio chunk (≈ 1 s) was durable: the headers alone are kept
      // (there is no audio to play) and that is allowed only that early.
      INFO("killed after " << elapsed << " s with no audio stored");
      CHECK(acknowledged == 0);
      continue;
    }
    const Pcm out = fetch_and_decode(v, id, "crash-" + std::to_string(i));
    // Recovery closes the stream with an EOS page: strict opusinfo accepts it, ffprobe reads it.
    shell_ok("opusinfo " + q(v.tmp / ("crash-" + std::to_string(i) + ".opus")) + " >/dev/null");
    shell_ok("ffprobe -v error " + q(v.tmp / ("crash-" + std::to_string(i) + ".opus")));
    INFO("killed after " << elapsed << " s of audio; recovered " << out.seconds() << " s; stored duration "
                         << s["duration_ms"]);
    // Everything the recorder reported durable comes back (no timing involved: the report is
    // made after the chunk's fdatasync); chunks hold at most 1 s (capture tests), so at most
    // the chunk in flight is lost. A realtime source cannot have produced more than wall time.
    INFO("recorder had reported " << acknowledged << " s stored");
    if (acknowledged > 0) ++with_acknowledged_audio;
    CHECK(out.seconds() >= acknowledged - 0.021);
    CHECK(out.seconds() <= elapsed + 0.1);
    CHECK(std::abs(out.seconds() - double(s["duration_ms"]) / 1000.0) <= 0.021);
    CHECK(!fs::exists(v.vault / "tmp" / (id + ".tmp")));
  }
  // The durable-position check above must have had something to check.
  CHECK(with_acknowledged_audio > 0);
  // The log has a recovery and an "interrupted" record_stop for each.
  auto entries = tillid::read_log_entries(v.vault / "log");
  REQUIRE(entries.ok());
  unsigned interrupted = 0, refused = 0;
  for (const auto& e : entries.value()) {
    if (e.action == tillid::LogAction::record_stop && e.details == "interrupted") ++interrupted;
    // Each cut recording was the appliance's own authenticated work (FORMAT.md §6.2).
    if (e.action == tillid::LogAction::recovery && e.outcome == tillid::LogOutcome::failed) ++refused;
  }
  CHECK(interrupted == iterations);
  CHECK(refused == 0);
}
