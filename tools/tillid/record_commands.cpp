// `tillid record start | mark | stop | status | show`: record an interview into the vault.
// `start` records in the foreground (the daemon takes this over later): audio from the source
// is encoded to Ogg Opus (capture/), every ~1 s chunk encrypted, written and fdatasync'ed by
// the vault (Recording), and a control socket (CONTROL-PROTOCOL.md) lets `mark`, `stop` and
// `status` reach it from another process, which must not open the vault itself.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>

#include "cli.hpp"
#include "control_socket.hpp"
#include "identifying_input.hpp"
#include "output.hpp"
#include "tillid/capture.hpp"

namespace tillid::cli {
namespace {

namespace cap = tillid::capture;

Result<void> require_vault(const GlobalOptions& g) {
  if (g.vault.empty())
    return make_error(Errc::invalid_argument, "no vault given: pass --vault DIR or set TILLID_VAULT");
  return {};
}

std::int64_t to_ms(cap::AudioTime t) { return t.count() * 1000 / 48000; }

std::string clock_text(std::int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld.%01lld", static_cast<long long>(ms / 3600000),
                static_cast<long long>(ms / 60000 % 60), static_cast<long long>(ms / 1000 % 60),
                static_cast<long long>(ms / 100 % 10));
  return buf;
}

double loudest(const double (&v)[2], int channels) {
  double m = v[0];
  if (channels > 1) m = std::max(m, v[1]);
  return m;
}

nlohmann::json status_json(const cap::RecorderStatus& st, const Recording& rec) {
  const int ch = st.level.channels;
  return {{"item_id", rec.item_id()},
          {"case_id", rec.case_id()},
          {"state", st.state == cap::RecorderState::recording ? "recording" : "stopping"},
          {"elapsed_ms", to_ms(st.captured)},
          {"stored_ms", to_ms(st.encoded)},
          {"level", {{"rms_dbfs", loudest(st.level.rms_dbfs, ch)}, {"peak_dbfs", loudest(st.level.peak_dbfs, ch)}}},
          {"alarms", {{"silence", st.silence}, {"clipping", st.clipping}}},
          {"dropped_ms", to_ms(st.dropped)},
          {"overruns", st.overruns},
          {"mirror_ok", !rec.mirror_error().has_value()}};
}

std::string alarms_text(bool silence, bool clipping) {
  if (!silence && !clipping) return "none";
  std::string s;
  if (silence) s += "SILENCE";
  if (clipping) s += std::string(s.empty() ? "" : ", ") + "CLIPPING";
  return s;
}

nlohmann::json recording_json(const ItemInfo& item) {
  auto j = to_json(item);
  j["interviewer"] = item.interviewer;
  j["duration_ms"] = item.duration_ms;
  j["interrupted"] = item.interrupted;
  if (item.interrupted) {
    j["interrupted_unix"] = item.interrupted_unix;
    j["interrupted_at"] = format_time(item.interrupted_unix);
  }
  j["bookmark_count"] = item.bookmark_count;
  return j;
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
  std::optional<std::filesystem::path> mirror;
  std::optional<double> duration;
  double silence_alarm = 10.0;
};

Result<int> record_start(const GlobalOptions& g, StartArgs& a) {
  TILLID_TRY(require_vault(g));
  if (a.bitrate < 6000 || a.bitrate > 256000)
    return make_error(Errc::invalid_argument, "--bitrate must be 6000..256000 bits per second per channel");
  if (a.duration && !(*a.duration > 0 && *a.duration < 86400.0))
    return make_error(Errc::invalid_argument, "--duration must be a positive number of seconds below 24 h");
  if (!(a.silence_alarm >= 0.1 && a.silence_alarm <= 3600.0))
    return make_error(Errc::invalid_argument, "--silence-alarm must be 0.1..3600 seconds");
  // The source first: a missing or busy device fails before anything is created in the vault.
  // The identifying fields before the source: a missing interviewer fails before a device opens.
  TILLID_ASSIGN(Fields fields, read_fields(a.fields, kStartFields));
  auto source = cap::open_source(a.source);
  if (!source) return make_error(source.error().code, "cannot open the audio source '" + a.source + "': " +
                                                          source.error().message);
  TILLID_ASSIGN(Vault vault, open_unlocked(g));
  TILLID_ASSIGN(CaseInfo c, vault.find_case(a.case_ref));
  WipeOnExit wipe_case{&c.child_name, &c.cpr, &c.notes};
  TILLID_ASSIGN(control::Server server, control::Server::listen(g.vault));
  TILLID_ASSIGN(Recording rec, vault.begin_recording(c.id, fields["interviewer"], fields["title"], a.mirror));

  std::mutex err_mu;  // serialises stderr lines from the three threads
  auto say = [&](const std::string& line) {
    std::lock_guard lk(err_mu);
    std::cerr << line << std::endl;
  };
  cap::RecorderSettings settings;
  settings.encoder.bitrate_per_channel = a.bitrate;
  settings.encoder.title = fields["title"];
  WipeOnExit wipe_tag{&settings.encoder.title};
  settings.monitor.silence_after = std::chrono::milliseconds(std::llround(a.silence_alarm * 1000.0));
  if (a.duration) settings.max_duration = cap::AudioTime(std::llround(*a.duration * 48000.0));
  settings.on_alarm = [&](const cap::AlarmEvent& e) {
    say(std::string("ALARM ") + (e.alarm == cap::Alarm::silence ? "silence" : "clipping") +
        (e.raised ? " raised" : " cleared") + " at " + clock_text(to_ms(e.at)));
  };
  std::atomic<bool> mirror_reported{false};
  // Audio time up to which the recording is durable (appended and fdatasync'ed): what the
  // operator is told is safe, and what recovery after a crash must give back.
  std::atomic<std::int64_t> stored_ms{0};
  auto sink = [&](const cap::Chunk& ch) -> Result<void> {
    TILLID_TRY(rec.append(ch.bytes, to_ms(ch.end)));
    stored_ms = to_ms(ch.end);
    if (auto me = rec.mirror_error(); me && !mirror_reported.exchange(true))
      say("ALARM mirror failed: " + me->message + " (recording continues in the vault)");
    return {};
  };
  cap::Recorder recorder(std::move(source).value(), sink, settings);
  say("Recording item " + rec.item_id() + " in case " + printable(c.case_number) +
      "; stop with Ctrl-C or `tillid record stop`.");

  // Signals go to this thread only (sigtimedwait below): block them before any thread starts.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  std::optional<Result<cap::RecorderStatus>> run_result;
  std::atomic<bool> done{false};
  std::thread rec_thread([&] {
    run_result.emplace(recorder.run());
    done = true;
  });
  std::thread ctl_thread([&] {
    server.serve([&](const control::Request& req) -> control::Reply {
      switch (req.kind) {
        case control::Request::status: return {true, status_json(recorder.status(), rec).dump(), Errc::internal};
        case control::Request::stop:
          recorder.stop();
          say("Stop requested over the control socket.");
          return {true, nlohmann::json{{"stopping", true}, {"item_id", rec.item_id()}}.dump(), Errc::internal};
        case control::Request::mark: {
          const std::int64_t at = to_ms(recorder.position());
          std::string label = req.label;
          WipeOnExit wipe_label{&label};
          auto b = rec.bookmark(at, std::move(label));
          if (!b) return {false, b.error().message, b.error().code};
          say("BOOKMARK " + std::to_string(b->seq) + " at " + clock_text(b->offset_ms));
          return {true, nlohmann::json{{"seq", b->seq}, {"offset_ms", b->offset_ms}, {"item_id", rec.item_id()}}.dump(),
                  Errc::internal};
        }
      }
      return {false, "unknown request", Errc::invalid_argument};
    });
  });

  const timespec tick{1, 0};
  while (!done) {
    siginfo_t info{};
    int sig = sigtimedwait(&sigs, &info, &tick);
    if (sig > 0) {
      say("Stopping (signal " + std::to_string(sig) + ")...");
      recorder.stop();
      continue;
    }
    if (done) break;
    auto st = recorder.status();
    const int ch = st.level.channels;
    char line[200];
    std::snprintf(line, sizeof line, "REC %s  stored %s  level %6.1f dBFS rms %6.1f dBFS peak  alarms: %s",
                  clock_text(to_ms(st.captured)).c_str(), clock_text(stored_ms.load()).c_str(),
                  loudest(st.level.rms_dbfs, ch), loudest(st.level.peak_dbfs, ch),
                  alarms_text(st.silence, st.clipping).c_str());
    say(line);
  }
  rec_thread.join();
  server.stop();
  ctl_thread.join();

  const cap::RecorderStatus final_status = recorder.status();
  auto finished = rec.finish();
  if (!finished) {
    return make_error(finished.error().code,
                      "the recording could not be sealed (" + finished.error().message +
                          "); everything stored is kept and will be recovered at the next unlock");
  }
  ItemInfo& item = finished.value();
  WipeOnExit wipe_item{&item.title, &item.interviewer};
  std::optional<Error> source_error;
  if (!run_result->ok()) source_error = run_result->error();
  if (g.json) {
    auto j = recording_json(item);
    j["dropped_ms"] = to_ms(final_status.dropped);
    j["overruns"] = final_status.overruns;
    if (source_error) j["source_error"] = source_error->message;
    print_json(j);
  } else {
    std::cout << "Recorded item " << item.id << " (" << clock_text(item.duration_ms) << ", " << format_size(item.size)
              << ")\nSHA-256 " << to_hex(item.sha256) << "\n";
  }
  if (source_error) {
    std::cerr << "tillid: the audio source failed, the recording was sealed up to that point: "
              << source_error->message << "\n";
    return exit_code_for(source_error->code);
  }
  return kOk;
}

// ---- control clients ------------------------------------------------------------------------

Result<int> record_mark(const GlobalOptions& g, FieldsOption& fields_option) {
  TILLID_TRY(require_vault(g));
  TILLID_ASSIGN(Fields fields, read_fields(fields_option, kMarkFields));
  std::string line = "MARK " + fields["label"];
  WipeOnExit wipe_line{&line};
  {
    TILLID_ASSIGN(auto req, control::parse_request(line));
    wipe(req.label);
  }
  TILLID_ASSIGN(std::string body, control::request(g.vault, line));
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return make_error(Errc::corrupt, "malformed reply from the recorder");
  if (g.json) print_json(j);
  else std::cout << "Bookmark " << j.value("seq", 0) << " at " << clock_text(j.value("offset_ms", std::int64_t{0})) << "\n";
  return kOk;
}

Result<int> record_stop(const GlobalOptions& g) {
  TILLID_TRY(require_vault(g));
  TILLID_ASSIGN(std::string body, control::request(g.vault, "STOP"));
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return make_error(Errc::corrupt, "malformed reply from the recorder");
  if (g.json) print_json(j);
  else std::cout << "Stopping recording " << printable(j.value("item_id", std::string())) << ".\n";
  return kOk;
}

Result<int> record_status(const GlobalOptions& g) {
  TILLID_TRY(require_vault(g));
  TILLID_ASSIGN(std::string body, control::request(g.vault, "STATUS"));
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("level") || !j.contains("alarms"))
    return make_error(Errc::corrupt, "malformed reply from the recorder");
  if (g.json) {
    print_json(j);
  } else {
    char line[160];
    std::snprintf(line, sizeof line, "level %.1f dBFS rms, %.1f dBFS peak",
                  j["level"].value("rms_dbfs", -120.0), j["level"].value("peak_dbfs", -120.0));
    std::cout << "Recording item " << printable(j.value("item_id", std::string())) << ": elapsed "
              << clock_text(j.value("elapsed_ms", std::int64_t{0})) << ", " << line << ", alarms: "
              << alarms_text(j["alarms"].value("silence", false), j["alarms"].value("clipping", false)) << "\n";
  }
  return kOk;
}

Result<int> record_show(const GlobalOptions& g, const std::string& item_id) {
  TILLID_TRY(require_vault(g));
  TILLID_ASSIGN(Vault v, open_unlocked(g));
  TILLID_ASSIGN(ItemInfo item, v.item(item_id));
  WipeOnExit wipe_item{&item.title, &item.interviewer};
  TILLID_ASSIGN(auto marks, v.bookmarks(item_id));
  struct WipeLabels {
    std::vector<Bookmark>& marks;
    ~WipeLabels() {
      for (auto& b : marks) wipe(b.label);
    }
  } wipe_labels{marks};
  if (g.json) {
    auto j = recording_json(item);
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& b : marks)
      arr.push_back({{"seq", b.seq}, {"offset_ms", b.offset_ms}, {"label", b.label}, {"created_unix", b.created_unix}});
    j["bookmarks"] = arr;
    print_json(j);
  } else {
    std::cout << "Item " << item.id << " (" << to_string(item.kind) << ") " << printable(item.title) << "\n"
              << "Interviewer " << printable(item.interviewer) << "\nDuration " << clock_text(item.duration_ms) << ", "
              << format_size(item.size) << ", SHA-256 " << to_hex(item.sha256) << "\n";
    if (item.interrupted)
      std::cout << "INTERRUPTED at " << format_time(item.interrupted_unix) << " (recovered; kept up to the cut)\n";
    for (const auto& b : marks) std::cout << "  " << clock_text(b.offset_ms) << "  " << printable(b.label) << "\n";
  }
  return kOk;
}

int run(const Result<int>& r) { return r.ok() ? r.value() : fail(r.error()); }

}  // namespace

void register_record_commands(CLI::App& app, GlobalOptions& g, Action& action) {
  auto* rec = app.add_subcommand("record", "Record an interview into the vault (encrypted as it is captured)");
  rec->require_subcommand(1);

  auto a = std::make_shared<StartArgs>();
  auto* start = rec->add_subcommand("start", "Record in the foreground until Ctrl-C, `tillid record stop`, "
                                             "the end of a wav source or --duration");
  start->add_option("--case", a->case_ref, "Case number or case id")->required();
  start->add_option("--source", a->source,
                    "alsa:DEVICE (e.g. alsa:hw:0), wav:FILE, tone[:HZ][?...], silence[?...]; see capture/README.md")
      ->capture_default_str();
  start->add_option("--bitrate", a->bitrate, "Opus bitrate per channel, bits per second")->capture_default_str();
  start->add_option("--mirror", a->mirror, "Directory that receives a byte-identical copy of the encrypted object");
  start->add_option("--duration", a->duration, "Stop after this many seconds of audio");
  start->add_option("--silence-alarm", a->silence_alarm, "Raise the silence alarm after this many quiet seconds")
      ->capture_default_str();
  // The interviewer and title are encrypted and never taken on the command line.
  add_fields_option(start, a->fields, kStartFields, {"--interviewer", "--title"});
  start->callback([&g, &action, a] { action = [&g, a] { return run(record_start(g, *a)); }; });

  auto mark_fields = std::make_shared<FieldsOption>();
  auto* mark = rec->add_subcommand("mark", "Bookmark the running recording now (the label is encrypted and never "
                                           "taken on the command line)");
  add_fields_option(mark, *mark_fields, kMarkFields, {"LABEL"});
  mark->callback([&g, &action, mark_fields] { action = [&g, mark_fields] { return run(record_mark(g, *mark_fields)); }; });

  auto* stop = rec->add_subcommand("stop", "Stop the running recording (it is sealed and its id printed by start)");
  stop->callback([&g, &action] { action = [&g] { return run(record_stop(g)); }; });

  auto* status = rec->add_subcommand("status", "Elapsed time, input level and alarms of the running recording");
  status->callback([&g, &action] { action = [&g] { return run(record_status(g)); }; });

  auto item = std::make_shared<std::string>();
  auto* show = rec->add_subcommand("show", "Show a recording: duration, interruption, bookmarks");
  show->add_option("ITEM", *item, "Item id")->required();
  show->callback([&g, &action, item] { action = [&g, item] { return run(record_show(g, *item)); }; });
}

}  // namespace tillid::cli
