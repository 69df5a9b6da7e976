// The recording desk: capture thread, sealing, and who may touch the running recording.
// Chunks are appended without the gate: Recording::append is safe beside other vault calls
// (vault/include/tillid/recording.hpp) and must not wait behind a long request, or the
// recorder's ring would overflow and audio would be lost.
#include "recording_desk.hpp"

#include <cmath>
#include <iostream>

namespace tillid::daemon {

namespace cap = tillid::capture;

std::int64_t to_ms(cap::AudioTime t) { return t.count() * 1000 / 48000; }

struct RecordingDesk::Run {
  std::string item_id, case_id;
  std::optional<Recording> rec;
  std::unique_ptr<cap::Recorder> recorder;
  std::thread thread;
  std::atomic<bool> mirror_reported{false};

  std::mutex m;  // guards what follows
  std::condition_variable cv;
  Actor finisher;  // whose record_stop entry sealing makes
  bool stopping = false;
  bool done = false;
  std::optional<Result<RecordOutcome>> outcome;
};

namespace {

double loudest(const double (&v)[2], int channels) { return channels > 1 ? std::max(v[0], v[1]) : v[0]; }

}  // namespace

RecordingDesk::RecordingDesk(VaultGate& gate) : gate_(gate) {}

RecordingDesk::~RecordingDesk() {
  std::shared_ptr<Run> r;
  {
    std::lock_guard lk(mu_);
    r = run_;
  }
  if (!r) return;
  if (r->recorder) r->recorder->stop();
  if (r->thread.joinable()) r->thread.join();
}

bool RecordingDesk::active() const {
  std::lock_guard lk(mu_);
  if (!run_) return false;
  std::lock_guard rl(run_->m);
  return !run_->done;
}

Result<nlohmann::json> RecordingDesk::start(const Actor& who, RecordStart a,
                                            std::unique_ptr<cap::AudioSource> source) {
  WipeOnExit wipe_fields{&a.interviewer, &a.title};
  std::lock_guard lk(mu_);
  if (run_) {
    {
      std::lock_guard rl(run_->m);
      if (!run_->done)
        return make_error(Errc::already_exists, "a recording is already running (item " + run_->item_id +
                                                    "); stop it first with `tillid record stop`");
    }
    if (run_->thread.joinable()) run_->thread.join();
    previous_ = std::move(run_);
  }
  auto run = std::make_shared<Run>();
  run->finisher = who;
  // begin_recording finds the case by id or number itself, from the clear columns, so that
  // it works while the vault is locked too (FORMAT.md §7.6).
  auto begun = gate_.with(who, [&](Vault& v) {
    return v.begin_recording(a.case_ref, a.interviewer, a.title, a.mirror_dir);
  });
  if (!begun) return begun.error();
  run->rec.emplace(std::move(begun).value());
  run->item_id = run->rec->item_id();
  run->case_id = run->rec->case_id();

  cap::RecorderSettings settings;
  settings.encoder.bitrate_per_channel = a.bitrate;
  settings.encoder.title = a.title;
  settings.monitor.silence_after = std::chrono::milliseconds(std::llround(a.silence_alarm_s * 1000.0));
  if (a.duration_s) settings.max_duration = cap::AudioTime(std::llround(*a.duration_s * 48000.0));
  const std::string item_id = run->item_id;
  // The journal hears the alarm (no identifying text); clients see it through status.
  settings.on_alarm = [item_id](const cap::AlarmEvent& e) {
    std::cerr << "tillidd: recording " << item_id << ": alarm " << (e.alarm == cap::Alarm::silence ? "silence" : "clipping")
              << (e.raised ? " raised" : " cleared") << " at " << to_ms(e.at) << " ms\n";
  };
  Run* rp = run.get();
  auto sink = [rp](const cap::Chunk& ch) -> Result<void> {
    TILLID_TRY(rp->rec->append(ch.bytes, to_ms(ch.end)));
    if (auto me = rp->rec->mirror_error(); me && !rp->mirror_reported.exchange(true))
      std::cerr << "tillidd: recording " << rp->item_id << ": the mirror copy failed; recording continues in the vault\n";
    return {};
  };
  run->recorder = std::make_unique<cap::Recorder>(std::move(source), sink, std::move(settings));
  run->thread = std::thread([this, run, on_end = std::move(a.on_end)] {
    auto ran = run->recorder->run();
    if (on_end) on_end();
    if (!ran) std::cerr << "tillidd: recording " << run->item_id << ": the audio source failed: sealing what was captured\n";
    RecordOutcome out;
    const cap::RecorderStatus st = run->recorder->status();
    out.dropped_ms = to_ms(st.dropped);
    out.overruns = st.overruns;
    if (!ran) out.source_error = ran.error();
    Actor finisher;
    {
      std::lock_guard rl(run->m);
      finisher = run->finisher;
    }
    auto sealed = gate_.with(finisher, [&](Vault&) { return run->rec->finish(); });
    std::lock_guard rl(run->m);
    if (sealed) {
      out.item = std::move(sealed).value();
      run->outcome.emplace(std::move(out));
    } else {
      run->outcome.emplace(make_error(sealed.error().code,
                                      "the recording could not be sealed (" + sealed.error().message +
                                          "); everything stored is kept and will be recovered at the next unlock"));
    }
    run->done = true;
    run->cv.notify_all();
  });
  run_ = run;
  // "returns once capture runs": the recorder leaves idle as soon as its thread started.
  for (int i = 0; i < 400 && run->recorder->status().state == cap::RecorderState::idle; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  nlohmann::json j = {{"item_id", run->item_id}, {"case_id", run->case_id}, {"state", "recording"}};
  return j;
}

Result<nlohmann::json> RecordingDesk::status() const {
  std::shared_ptr<Run> r;
  {
    std::lock_guard lk(mu_);
    r = run_;
  }
  if (!r) return make_error(Errc::not_found, "no recording is running");
  bool stopping;
  {
    std::lock_guard rl(r->m);
    if (r->done) return make_error(Errc::not_found, "no recording is running");
    stopping = r->stopping;
  }
  const cap::RecorderStatus st = r->recorder->status();
  const int ch = st.level.channels;
  // The fields of today's `tillid record status --json` (tools/tillid CONTROL-PROTOCOL v1).
  return nlohmann::json{
      {"item_id", r->item_id},
      {"case_id", r->case_id},
      {"state", !stopping && st.state != cap::RecorderState::finished ? "recording" : "stopping"},
      {"elapsed_ms", to_ms(st.captured)},
      {"stored_ms", r->rec->duration_ms()},
      {"level", {{"rms_dbfs", loudest(st.level.rms_dbfs, ch)}, {"peak_dbfs", loudest(st.level.peak_dbfs, ch)}}},
      {"alarms", {{"silence", st.silence}, {"clipping", st.clipping}}},
      {"dropped_ms", to_ms(st.dropped)},
      {"overruns", st.overruns},
      {"mirror_ok", !r->rec->mirror_error().has_value()}};
}

Result<Bookmark> RecordingDesk::mark(const Actor& who, std::string label) {
  WipeOnExit wipe_label{&label};
  std::shared_ptr<Run> r;
  {
    std::lock_guard lk(mu_);
    r = run_;
  }
  if (!r) return make_error(Errc::not_found, "no recording is running");
  {
    std::lock_guard rl(r->m);
    if (r->done || r->stopping) return make_error(Errc::not_found, "no recording is running");
  }
  const std::int64_t at = to_ms(r->recorder->position());
  return gate_.with(who, [&](Vault&) { return r->rec->bookmark(at, std::move(label)); });
}

Result<RecordOutcome> RecordingDesk::stop(const Actor& who) {
  std::shared_ptr<Run> r;
  {
    std::lock_guard lk(mu_);
    r = run_;
  }
  if (!r) return make_error(Errc::not_found, "no recording is running");
  {
    std::lock_guard rl(r->m);
    if (r->done) return make_error(Errc::not_found, "no recording is running");
    r->finisher = who;
    r->stopping = true;
  }
  r->recorder->stop();
  std::unique_lock rl(r->m);
  r->cv.wait(rl, [&] { return r->done; });
  return *r->outcome;
}

Result<RecordOutcome> RecordingDesk::wait(const std::string& item_id) {
  std::shared_ptr<Run> r;
  {
    std::lock_guard lk(mu_);
    for (const auto& candidate : {run_, previous_})
      if (candidate && candidate->item_id == item_id) r = candidate;
  }
  if (!r) return make_error(Errc::not_found, "no such recording");
  std::unique_lock rl(r->m);
  r->cv.wait(rl, [&] { return r->done; });
  return *r->outcome;
}

}  // namespace tillid::daemon
