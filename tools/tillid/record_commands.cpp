// `tillid record start | mark | stop | status | show`: recordings are made by the daemon
// (it holds the vault; capture/ encodes, the vault encrypts every ~1 s chunk). A device or
// generator source (`alsa:`, `tone`, `silence`) opens in the daemon and `start` returns once
// capture runs (or, with --wait, when it ends); a `wav:FILE` source is read here, where the
// user's file is, and streamed to the daemon as PCM (no keys in this process), and `start`
// returns the sealed item. Any other `tillid` command can run meanwhile.
#include <signal.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <thread>
#include <vector>

#include "cli.hpp"
#include "daemon_link.hpp"
#include "identifying_input.hpp"
#include "output.hpp"
#include "tillid/capture.hpp"

namespace tillid::cli {
namespace {

namespace cap = tillid::capture;

std::string clock_text(std::int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld.%01lld", static_cast<long long>(ms / 3600000),
                static_cast<long long>(ms / 60000 % 60), static_cast<long long>(ms / 1000 % 60),
                static_cast<long long>(ms / 100 % 10));
  return buf;
}

std::string alarms_text(bool silence, bool clipping) {
  if (!silence && !clipping) return "none";
  std::string s;
  if (silence) s += "SILENCE";
  if (clipping) s += std::string(s.empty() ? "" : ", ") + "CLIPPING";
  return s;
}

void print_sealed(const nlohmann::json& j, const GlobalOptions& g) {
  if (g.json) {
    print_json(j);
    return;
  }
  auto item = decode<ItemInfo>(j);
  if (!item) {
    std::cout << "Recorded.\n";
    return;
  }
  WipeOnExit wipe_item{&item->title, &item->interviewer, &item->file_name};
  std::cout << "Recorded item " << item->id << " (" << clock_text(item->duration_ms) << ", " << format_size(item->size)
            << ")\nSHA-256 " << to_hex(item->sha256) << "\n";
}

// ---- start ----------------------------------------------------------------------------------

const std::vector<FieldSpec> kStartFields = {
    {"interviewer", "Interviewer (who conducts the interview)", true},
    {"title", "Title (also the Ogg TITLE tag: never the child's name)", false}};
const std::vector<FieldSpec> kMarkFields = {{"label", "Bookmark label (what happens here)", true}};

struct StartArgs {
  std::string case_ref;
  FieldsOption fields;
  std::string source = "alsa:default";
  int bitrate = 32000;
  std::optional<double> duration;
  double silence_alarm = 10.0;
  bool wait = false;
};

// A WAV file read here and sent as signed 16-bit little-endian interleaved PCM, the format
// the daemon's stream source takes (CONTROL-PROTOCOL.md, record.start).
class WavStream {
 public:
  explicit WavStream(std::unique_ptr<cap::AudioSource> src) : src_(std::move(src)), format_(src_->format()) {}
  cap::AudioFormat format() const { return format_; }
  ByteSource source() {
    return [this](std::span<unsigned char> buf) -> Result<std::size_t> {
      const std::size_t frame_bytes = 2 * static_cast<std::size_t>(format_.channels);
      const std::size_t frames = buf.size() / frame_bytes;
      if (frames == 0) return make_error(Errc::internal, "stream buffer smaller than one frame");
      samples_.resize(frames * static_cast<std::size_t>(format_.channels));
      TILLID_ASSIGN(std::size_t got, src_->read(samples_));
      const std::size_t n = got * frame_bytes;
      for (std::size_t i = 0; i < got * static_cast<std::size_t>(format_.channels); ++i) {
        const auto v = static_cast<std::uint16_t>(samples_[i]);
        buf[2 * i] = static_cast<unsigned char>(v & 0xff);
        buf[2 * i + 1] = static_cast<unsigned char>(v >> 8);
      }
      return n;
    };
  }

 private:
  std::unique_ptr<cap::AudioSource> src_;
  cap::AudioFormat format_;
  std::vector<std::int16_t> samples_;
};

Result<void> check_start_args(const StartArgs& a) {
  if (a.bitrate < 6000 || a.bitrate > 256000)
    return make_error(Errc::invalid_argument, "--bitrate must be 6000..256000 bits per second per channel");
  if (a.duration && !(*a.duration > 0 && *a.duration < 86400.0))
    return make_error(Errc::invalid_argument, "--duration must be a positive number of seconds below 24 h");
  if (!(a.silence_alarm >= 0.1 && a.silence_alarm <= 3600.0))
    return make_error(Errc::invalid_argument, "--silence-alarm must be 0.1..3600 seconds");
  return {};
}

// Signals that ask a waiting `start` to stop the recording (it keeps waiting for the seal).
class StopSignals {
 public:
  StopSignals() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  ~StopSignals() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  // Waits up to `ms`; the signal number, or 0.
  int wait(long ms) {
    const timespec t{ms / 1000, (ms % 1000) * 1000000};
    siginfo_t info{};
    const int sig = sigtimedwait(&set_, &info, &t);
    return sig > 0 ? sig : 0;
  }

 private:
  sigset_t set_{}, old_{};
};

// --wait: status lines and alarm changes on stderr until the recording ends, then its item.
Result<int> wait_for_end(DaemonLink& link, const GlobalOptions& g, const std::string& item_id) {
  StopSignals signals;
  bool silence = false, clipping = false, stop_sent = false;
  for (;;) {
    if (const int sig = signals.wait(1000); sig != 0 && !stop_sent) {
      std::cerr << "Stopping (signal " << sig << ")..." << std::endl;
      auto stopped = link.call("record.stop");
      if (!stopped && stopped.error().code != Errc::not_found) return stopped.error();
      stop_sent = true;
    }
    auto st = link.call("record.status");
    if (!st) {
      if (st.error().code != Errc::not_found) return st.error();
      break;  // nothing is recording any more
    }
    const nlohmann::json& j = *st;
    if (!j.is_object() || j.value("item_id", std::string()) != item_id) break;
    const auto alarms = j.value("alarms", nlohmann::json::object());
    const bool now_silence = alarms.value("silence", false), now_clipping = alarms.value("clipping", false);
    const std::string at = clock_text(j.value("elapsed_ms", std::int64_t{0}));
    if (now_silence != silence) std::cerr << "ALARM silence " << (now_silence ? "raised" : "cleared") << " at " << at << std::endl;
    if (now_clipping != clipping) std::cerr << "ALARM clipping " << (now_clipping ? "raised" : "cleared") << " at " << at << std::endl;
    silence = now_silence;
    clipping = now_clipping;
    const auto level = j.value("level", nlohmann::json::object());
    char line[200];
    std::snprintf(line, sizeof line, "REC %s  stored %s  level %6.1f dBFS rms %6.1f dBFS peak  alarms: %s", at.c_str(),
                  clock_text(j.value("stored_ms", std::int64_t{0})).c_str(), level.value("rms_dbfs", -120.0),
                  level.value("peak_dbfs", -120.0), alarms_text(silence, clipping).c_str());
    std::cerr << line << std::endl;
  }
  TILLID_ASSIGN(nlohmann::json shown, link.call("record.show", {{"item", item_id}}));
  if (shown.is_object()) shown.erase("bookmarks");
  print_sealed(shown, g);
  wipe_json(shown);
  return kOk;
}

Result<int> record_start(const GlobalOptions& g, StartArgs& a) {
  TILLID_TRY(check_start_args(a));
  // The identifying fields first: a missing interviewer fails before a file is read.
  TILLID_ASSIGN(Fields fields, read_fields(a.fields, kStartFields));
  nlohmann::json args = {{"case", a.case_ref},
                         {"interviewer", fields["interviewer"]},
                         {"title", fields["title"]},
                         {"bitrate", a.bitrate},
                         {"silence_alarm", a.silence_alarm}};
  struct WipeArgs {
    nlohmann::json& j;
    ~WipeArgs() { wipe_json(j); }
  } wipe_args{args};
  if (a.duration) args["duration"] = *a.duration;

  const bool from_file = a.source.rfind("wav:", 0) == 0;
  if (!from_file) {
    args["source"] = a.source;
    return with_daemon(g, [&](DaemonLink& link) -> Result<int> {
      TILLID_ASSIGN(nlohmann::json st, link.call("record.start", args));
      const std::string item_id = st.is_object() ? st.value("item_id", std::string()) : std::string();
      std::cerr << "Recording item " << item_id << "; stop with `tillid record stop`"
                << (a.wait ? " or Ctrl-C." : ".") << std::endl;
      if (a.wait) return wait_for_end(link, g, item_id);
      if (g.json) print_json(st);
      else std::cout << "Recording item " << item_id << " (case " << printable(st.value("case_id", std::string())) << ").\n";
      return kOk;
    });
  }

  // wav:FILE: opened and parsed here, before the daemon hears of it.
  const std::string path = a.source.substr(4);
  auto src = cap::open_wav(path);
  if (!src)
    return make_error(src.error().code, "cannot open the audio source '" + a.source + "': " + src.error().message);
  WavStream wav(std::move(src).value());
  args["source"] = "stream";
  args["stream"] = {{"rate", wav.format().rate}, {"channels", wav.format().channels}};
  return with_daemon(g, [&](DaemonLink& link) -> Result<int> {
    bool sent = false;
    InputFactory input = [&]() -> Result<ByteSource> {
      // The samples were read on the first attempt; a retry after unlock reopens the file.
      if (sent) {
        TILLID_ASSIGN(auto again, cap::open_wav(path));
        wav = WavStream(std::move(again));
      }
      sent = true;
      return wav.source();
    };
    std::cerr << "Recording from " << printable(path) << " (streamed to the daemon)..." << std::endl;
    TILLID_ASSIGN(nlohmann::json sealed, link.call("record.start", args, &input));
    print_sealed(sealed, g);
    wipe_json(sealed);
    return kOk;
  });
}

// ---- requests about the running recording ---------------------------------------------------

Result<int> record_mark(const GlobalOptions& g, FieldsOption& fields_option) {
  TILLID_ASSIGN(Fields fields, read_fields(fields_option, kMarkFields));
  return with_daemon(g, [&](DaemonLink& link) -> Result<int> {
    nlohmann::json args = {{"label", fields["label"]}};
    auto r = link.call("record.mark", args);
    wipe_json(args);
    if (!r) return r.error();
    nlohmann::json j = std::move(r).value();
    TILLID_ASSIGN(Bookmark b, decode<Bookmark>(j));
    wipe(b.label);
    if (g.json) print_json(std::move(j));
    else {
      wipe_json(j);
      std::cout << "Bookmark " << b.seq << " at " << clock_text(b.offset_ms) << "\n";
    }
    return kOk;
  });
}

Result<int> record_stop(const GlobalOptions& g) {
  return with_daemon(g, [&](DaemonLink& link) -> Result<int> {
    TILLID_ASSIGN(nlohmann::json j, link.call("record.stop"));
    print_sealed(j, g);
    wipe_json(j);
    return kOk;
  });
}

Result<int> record_status(const GlobalOptions& g) {
  return with_daemon(g, [&](DaemonLink& link) -> Result<int> {
    TILLID_ASSIGN(nlohmann::json j, link.call("record.status"));
    if (!j.is_object() || !j.contains("level") || !j.contains("alarms") || !j["level"].is_object() ||
        !j["alarms"].is_object())
      return make_error(Errc::corrupt, "malformed reply from the daemon");
    if (g.json) {
      print_json(j);
    } else {
      char line[160];
      std::snprintf(line, sizeof line, "level %.1f dBFS rms, %.1f dBFS peak", j["level"].value("rms_dbfs", -120.0),
                    j["level"].value("peak_dbfs", -120.0));
      std::cout << "Recording item " << printable(j.value("item_id", std::string())) << ": elapsed "
                << clock_text(j.value("elapsed_ms", std::int64_t{0})) << ", " << line << ", alarms: "
                << alarms_text(j["alarms"].value("silence", false), j["alarms"].value("clipping", false)) << "\n";
    }
    return kOk;
  });
}

Result<int> record_show(const GlobalOptions& g, const std::string& item_id) {
  return with_daemon(g, [&](DaemonLink& link) -> Result<int> {
    TILLID_ASSIGN(nlohmann::json j, link.call("record.show", {{"item", item_id}}));
    TILLID_ASSIGN(ItemInfo item, decode<ItemInfo>(j));
    WipeOnExit wipe_item{&item.title, &item.interviewer, &item.file_name};
    std::vector<Bookmark> marks;
    if (j.is_object() && j.contains("bookmarks")) {
      TILLID_ASSIGN(marks, decode_list<Bookmark>(j["bookmarks"]));
    }
    struct WipeLabels {
      std::vector<Bookmark>& marks;
      ~WipeLabels() {
        for (auto& b : marks) wipe(b.label);
      }
    } wipe_labels{marks};
    if (g.json) {
      print_json(std::move(j));
      return kOk;
    }
    wipe_json(j);
    std::cout << "Item " << item.id << " (" << to_string(item.kind) << ") " << printable(item.title) << "\n"
              << "Interviewer " << printable(item.interviewer) << "\nDuration " << clock_text(item.duration_ms) << ", "
              << format_size(item.size) << ", SHA-256 " << to_hex(item.sha256) << "\n";
    if (item.interrupted)
      std::cout << "INTERRUPTED at " << format_time(item.interrupted_unix) << " (recovered; kept up to the cut)\n";
    for (const auto& b : marks) std::cout << "  " << clock_text(b.offset_ms) << "  " << printable(b.label) << "\n";
    return kOk;
  });
}

int run_result(const Result<int>& r) { return r.ok() ? r.value() : fail(r.error()); }

}  // namespace

void register_record_commands(CLI::App& app, GlobalOptions& g, Action& action) {
  auto* rec = app.add_subcommand("record", "Record an interview into the vault (encrypted as it is captured)");
  rec->require_subcommand(1);

  auto a = std::make_shared<StartArgs>();
  auto* start = rec->add_subcommand("start", "Start a recording in the daemon. alsa:, tone and silence sources: "
                                             "returns once capture runs (--wait: when it ends). wav:FILE: this "
                                             "command streams the file and returns the sealed item");
  start->add_option("--case", a->case_ref, "Case number or case id")->required();
  start->add_option("--source", a->source,
                    "alsa:DEVICE (e.g. alsa:hw:0), wav:FILE, tone[:HZ][?...], silence[?...]; see capture/README.md")
      ->capture_default_str();
  start->add_option("--bitrate", a->bitrate, "Opus bitrate per channel, bits per second")->capture_default_str();
  start->add_option("--duration", a->duration, "Stop after this many seconds of audio");
  start->add_option("--silence-alarm", a->silence_alarm, "Raise the silence alarm after this many quiet seconds")
      ->capture_default_str();
  start->add_flag("--wait", a->wait, "Stay until the recording ends, showing its level and alarms; Ctrl-C stops it");
  // The interviewer and title are encrypted and never taken on the command line.
  add_fields_option(start, a->fields, kStartFields, {"--interviewer", "--title"});
  start->callback([&g, &action, a] { action = [&g, a] { return run_result(record_start(g, *a)); }; });

  auto mark_fields = std::make_shared<FieldsOption>();
  auto* mark = rec->add_subcommand("mark", "Bookmark the running recording now (the label is encrypted and never "
                                           "taken on the command line)");
  add_fields_option(mark, *mark_fields, kMarkFields, {"LABEL"});
  mark->callback([&g, &action, mark_fields] { action = [&g, mark_fields] { return run_result(record_mark(g, *mark_fields)); }; });

  auto* stop = rec->add_subcommand("stop", "Stop the running recording; prints the sealed item");
  stop->callback([&g, &action] { action = [&g] { return run_result(record_stop(g)); }; });

  auto* status = rec->add_subcommand("status", "Elapsed time, input level and alarms of the running recording");
  status->callback([&g, &action] { action = [&g] { return run_result(record_status(g)); }; });

  auto item = std::make_shared<std::string>();
  auto* show = rec->add_subcommand("show", "Show a recording: duration, interruption, bookmarks");
  show->add_option("ITEM", *item, "Item id")->required();
  show->callback([&g, &action, item] { action = [&g, item] { return run_result(record_show(g, *item)); }; });
}

}  // namespace tillid::cli
