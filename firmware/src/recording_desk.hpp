// The recording desk: the one interview the daemon records at a time. It owns the capture
// (capture::Recorder on its own thread) and the vault's Recording, so a recording belongs to
// the daemon, not to the client that started it: `record.start` returns once capture runs,
// any permitted user may ask for status, bookmark or stop, and a client that exits changes
// nothing. Moved here from the foreground `tillid record start` (issue 11).
#pragma once

#include <atomic>
#include <functional>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "tillid/capture.hpp"
#include "vault_gate.hpp"

namespace tillid::daemon {

struct RecordStart {
  std::string case_ref;      // case number or id
  std::string interviewer;   // sealed at rest
  std::string title;         // sealed at rest; also the Ogg TITLE tag
  int bitrate = 32000;
  std::optional<double> duration_s;
  double silence_alarm_s = 10.0;
  std::optional<std::filesystem::path> mirror_dir;  // from the daemon's config only
  std::function<void()> on_end;  // called on the capture thread once capture has ended
};

// What a finished recording hands back: the sealed item and how capture went.
struct RecordOutcome {
  ItemInfo item;
  std::int64_t dropped_ms = 0;
  std::uint64_t overruns = 0;
  std::optional<Error> source_error;  // the source failed; sealed up to that point
};

class RecordingDesk {
 public:
  explicit RecordingDesk(VaultGate& gate);
  ~RecordingDesk();  // stops and seals a running recording
  RecordingDesk(const RecordingDesk&) = delete;
  RecordingDesk& operator=(const RecordingDesk&) = delete;

  // Begins the item and starts capture; returns the first status once the recorder runs.
  // already_exists while another recording runs.
  Result<nlohmann::json> start(const Actor& who, RecordStart args, std::unique_ptr<capture::AudioSource> source);
  Result<nlohmann::json> status() const;             // not_found when nothing records
  Result<Bookmark> mark(const Actor& who, std::string label);
  // Stops capture, waits until the item is sealed; the record_stop entry names `who`.
  Result<RecordOutcome> stop(const Actor& who);
  // Waits until the current recording (the one `item_id` names) ends by itself (end of a
  // stream or of `duration`) or is stopped, and returns how it ended.
  Result<RecordOutcome> wait(const std::string& item_id);
  bool active() const;

 private:
  struct Run;
  void finish_run(Run& run);  // on the capture thread once run() returns

  VaultGate& gate_;
  mutable std::mutex mu_;
  std::shared_ptr<Run> run_;       // the current or last recording
  std::shared_ptr<Run> previous_;  // the one before: its streaming client may still wait()
};

std::int64_t to_ms(capture::AudioTime t);

}  // namespace tillid::daemon
