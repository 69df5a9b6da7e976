// Handlers of the recording ops: start (a source the daemon opens, or PCM streamed by the
// client), status, mark, stop, show. The recording itself lives on the RecordingDesk.
#include <memory>

#include "handlers.hpp"
#include "pcm_stream.hpp"
#include "tillid/control_codec.hpp"

namespace tillid::daemon {

using nlohmann::json;

namespace {

// A PcmStream shared between the recorder (through this adapter) and the connection feeding
// it, so neither outlives the other's use of it.
class SharedPcm final : public capture::AudioSource {
 public:
  explicit SharedPcm(std::shared_ptr<PcmStream> s) : s_(std::move(s)) {}
  capture::AudioFormat format() const override { return s_->format(); }
  Result<std::size_t> read(std::span<std::int16_t> out) override { return s_->read(out); }

 private:
  std::shared_ptr<PcmStream> s_;
};

// The sealed recording as today's `tillid record start --json` printed it.
json outcome_json(RecordOutcome& o) {
  json j = control::to_json(o.item);
  if (o.item.interrupted) j["interrupted_unix"] = o.item.interrupted_unix;
  j["dropped_ms"] = o.dropped_ms;
  j["overruns"] = o.overruns;
  if (o.source_error) j["source_error"] = o.source_error->message;
  wipe(o.item.title), wipe(o.item.file_name), wipe(o.item.interviewer);
  return j;
}

Result<double> arg_number(const json& args, const char* name, double fallback) {
  auto it = args.find(name);
  if (it == args.end() || it->is_null()) return fallback;
  if (!it->is_number()) return make_error(Errc::invalid_argument, std::string("the argument '") + name + "' must be a number");
  return it->get<double>();
}

// Reads the client's PCM into the recording until the end frame. When the recording ends
// first (stopped by someone, or its duration), the rest of the input is read and dropped so
// the connection stays in step.
Result<void> feed(Exchange& io, PcmStream& pcm) {
  SecureArray<unsigned char> buf(64 * 1024);
  bool taking = true;
  for (;;) {
    auto n = io.read_input(buf.span());
    if (!n) {
      pcm.fail("the client's audio stream broke off");
      return n.error();
    }
    if (*n == 0) break;
    if (taking) taking = pcm.push(std::span<const unsigned char>(buf.data(), *n));
  }
  pcm.finish();
  return {};
}

}  // namespace

Result<json> op_record_start(Call& c) {
  RecordStart a;
  TILLID_ASSIGN(a.case_ref, arg_string(c.args, "case"));
  TILLID_ASSIGN(a.interviewer, arg_string(c.args, "interviewer"));
  TILLID_ASSIGN(a.title, arg_string(c.args, "title", false));
  WipeOnExit wipe_fields{&a.interviewer, &a.title};
  if (a.interviewer.empty()) return make_error(Errc::invalid_argument, "the interviewer is required");
  a.bitrate = c.d.config.bitrate;
  if (c.args.contains("bitrate") && !c.args["bitrate"].is_null()) {
    TILLID_ASSIGN(std::int64_t b, arg_int(c.args, "bitrate"));
    if (b < 6000 || b > 256000)
      return make_error(Errc::invalid_argument, "--bitrate must be 6000..256000 bits per second per channel");
    a.bitrate = static_cast<int>(b);
  }
  if (c.args.contains("duration") && !c.args["duration"].is_null()) {
    TILLID_ASSIGN(double d, arg_number(c.args, "duration", 0));
    if (!(d > 0 && d < 86400.0))
      return make_error(Errc::invalid_argument, "--duration must be a positive number of seconds below 24 h");
    a.duration_s = d;
  }
  TILLID_ASSIGN(a.silence_alarm_s, arg_number(c.args, "silence_alarm", c.d.config.silence_alarm_s));
  if (!(a.silence_alarm_s >= 0.1 && a.silence_alarm_s <= 3600.0))
    return make_error(Errc::invalid_argument, "--silence-alarm must be 0.1..3600 seconds");
  a.mirror_dir = c.d.config.mirror_dir;

  std::unique_ptr<capture::AudioSource> source;
  std::shared_ptr<PcmStream> pcm;
  if (auto st = c.args.find("stream"); st != c.args.end() && !st->is_null()) {
    if (!st->is_object()) return make_error(Errc::invalid_argument, "the argument 'stream' must be {rate, channels}");
    TILLID_ASSIGN(std::int64_t rate, arg_int(*st, "rate"));
    TILLID_ASSIGN(std::int64_t channels, arg_int(*st, "channels"));
    if (rate < 8000 || rate > 192000 || channels < 1 || channels > 2)
      return make_error(Errc::invalid_argument, "a streamed source must be 8000..192000 Hz with 1 or 2 channels");
    pcm = std::make_shared<PcmStream>(capture::AudioFormat{static_cast<int>(rate), static_cast<int>(channels)});
    source = std::make_unique<SharedPcm>(pcm);
    a.on_end = [pcm] { pcm->abort(); };
  } else {
    TILLID_ASSIGN(std::string spec, arg_string(c.args, "source"));
    // The daemon opens devices and generators only; a file is the client's to open and
    // stream (the daemon never reads a path a client names, plan-i11 "Source specs").
    if (spec.rfind("wav:", 0) == 0)
      return make_error(Errc::invalid_argument, "a wav: source is read by the client and streamed; the daemon opens "
                                                "alsa:, tone and silence sources only");
    auto opened = capture::open_source(spec);
    if (!opened) return make_error(opened.error().code, "cannot open the audio source: " + opened.error().message);
    source = std::move(opened).value();
  }
  TILLID_ASSIGN(json started, c.d.desk.start(c.caller.actor, std::move(a), std::move(source)));
  if (!pcm) {
    // The first full status (level, alarms), as `tillid record status` shows it.
    if (auto st = c.d.desk.status()) return std::move(st).value();
    return started;
  }
  const std::string item_id = started.value("item_id", std::string());
  TILLID_TRY(feed(c.io, *pcm));
  TILLID_ASSIGN(RecordOutcome out, c.d.desk.wait(item_id));
  return outcome_json(out);
}

Result<json> op_record_status(Call& c) { return c.d.desk.status(); }

Result<json> op_record_mark(Call& c) {
  TILLID_ASSIGN(std::string label, arg_string(c.args, "label"));
  WipeOnExit wipe_label{&label};
  if (label.empty() || label.size() > 1000) return make_error(Errc::invalid_argument, "a bookmark label is 1..1000 bytes");
  TILLID_ASSIGN(Bookmark b, c.d.desk.mark(c.caller.actor, label));
  WipeOnExit wipe_mark{&b.label};
  json j = control::to_json(b);
  if (auto st = c.d.desk.status()) j["item_id"] = st->value("item_id", std::string());
  return j;
}

Result<json> op_record_stop(Call& c) {
  TILLID_ASSIGN(RecordOutcome out, c.d.desk.stop(c.caller.actor));
  return outcome_json(out);
}

Result<json> op_record_show(Call& c) {
  TILLID_ASSIGN(std::string item_id, arg_string(c.args, "item"));
  return c.d.gate.with(c.caller.actor, [&](Vault& v) -> Result<json> {
    TILLID_ASSIGN(ItemInfo item, v.item(item_id));
    WipeOnExit wipe_item{&item.title, &item.file_name, &item.interviewer};
    TILLID_ASSIGN(auto marks, v.bookmarks(item_id));
    json j = control::to_json(item);
    if (item.interrupted) j["interrupted_unix"] = item.interrupted_unix;
    json arr = json::array();
    for (auto& b : marks) {
      arr.push_back(control::to_json(b));
      wipe(b.label);
    }
    j["bookmarks"] = std::move(arr);
    return j;
  });
}

}  // namespace tillid::daemon
