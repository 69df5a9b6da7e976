// `tillid audit ...`: what an auditor does. Needs no passphrase and no content key: the log
// directory and the appliance's verifier key are enough (LOG-FORMAT.md). With --log DIR it
// runs offline; without, it fetches a copy of the log from the daemon (audit.log) into a
// private temporary directory and runs the very same code on it, so the auditor's verdict
// never rests on the appliance's word. `audit key` and `audit checkpoint` are requests.
#include <ctime>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

#include "cli.hpp"
#include "daemon_link.hpp"
#include "export_dir.hpp"
#include "output.hpp"
#include "tillid/access_log.hpp"

namespace tillid::cli {
namespace {

std::string ranges_text(std::span<const LogSeqRange> ranges) {
  std::string s;
  for (const auto& r : ranges)
    s += (s.empty() ? "" : ",") + std::to_string(r.first) + "-" + std::to_string(r.last);
  return s;
}

struct LogSource {
  std::filesystem::path log_dir;           // --log, else a copy fetched from the daemon
  std::optional<std::string> key;           // --key
  std::optional<std::filesystem::path> key_file;
};

void add_log_options(CLI::App* cmd, LogSource& src) {
  cmd->add_option("--log", src.log_dir, "Access-log directory, checked offline (default: a copy fetched from the daemon)");
}
void add_key_options(CLI::App* cmd, LogSource& src) {
  cmd->add_option("--key", src.key, "The appliance's verifier key, as `tillid audit key` printed it");
  cmd->add_option("--key-file", src.key_file, "File holding the verifier key");
}

Result<std::string> read_small_file(const std::filesystem::path& p, std::size_t limit) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return make_error(Errc::not_found, "cannot read " + p.string());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() > limit)
    return make_error(Errc::invalid_argument, p.string() + " is larger than " + std::to_string(limit) + " bytes");
  return text;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// The log to work on: --log DIR as it is, else a copy the daemon streams (audit.log) into a
// private temporary directory that lives as long as this object.
struct LogDir {
  std::filesystem::path path;
  std::optional<StreamedDir> copy;
};

Result<LogDir> obtain_log(const GlobalOptions& g, const LogSource& src) {
  if (!src.log_dir.empty()) return LogDir{src.log_dir, std::nullopt};
  TILLID_ASSIGN(StreamedDir copy, StreamedDir::temporary());
  auto link = DaemonLink::connect(g);
  if (!link) return make_error(link.error().code, link.error().message + "; or check a copy of the log with --log DIR");
  Incoming in = copy.receiver();
  TILLID_TRY(link->call("audit.log", nlohmann::json::object(), nullptr, &in));
  TILLID_TRY(copy.publish());
  LogDir d;
  d.path = copy.staging();
  d.copy.emplace(std::move(copy));
  return d;
}

// audit.key's reply: {"verifier_key": "<origin>+<key id>+<base64>"}.
Result<std::string> verifier_key_of(const Result<nlohmann::json>& reply) {
  if (!reply) return reply.error();
  const nlohmann::json& j = *reply;
  if (!j.is_object() || !j.contains("verifier_key") || !j["verifier_key"].is_string())
    return make_error(Errc::corrupt, "malformed reply from the daemon");
  return j["verifier_key"].get<std::string>();
}

// The verifier key: from --key/--key-file (what the auditor kept), else the appliance's own
// word (audit.key from the daemon), which proves less — say so.
Result<std::string> resolve_key(const GlobalOptions& g, const LogSource& src, bool& self_asserted) {
  self_asserted = false;
  if (src.key) return trim(*src.key);
  if (src.key_file) {
    TILLID_ASSIGN(std::string text, read_small_file(*src.key_file, 4096));
    return trim(text);
  }
  auto link = DaemonLink::connect(g);
  if (!link)
    return make_error(Errc::invalid_argument, "no verifier key: pass --key or --key-file (from `tillid audit key`)");
  TILLID_ASSIGN(std::string key, verifier_key_of(link->call("audit.key")));
  self_asserted = true;
  return key;
}

// "2026-11-22", "2026-11-22T13:05:00" (UTC) or unix seconds → unix milliseconds.
Result<std::int64_t> parse_time(const std::string& text) {
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos)
    return static_cast<std::int64_t>(std::stoll(text)) * 1000;
  std::tm tm{};
  std::istringstream in(text);
  in >> std::get_time(&tm, text.size() > 10 ? "%Y-%m-%dT%H:%M:%S" : "%Y-%m-%d");
  if (in.fail() || !in.eof())
    return make_error(Errc::invalid_argument, "cannot read the time '" + text + "': use YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS (UTC) or unix seconds");
  return static_cast<std::int64_t>(timegm(&tm)) * 1000;
}

int run_or_fail(const std::function<Result<int>()>& body) {
  auto rc = body();
  if (!rc) return fail(rc.error());
  return *rc;
}

void register_key(CLI::App* audit, GlobalOptions& g, Action& action) {
  auto* cmd = audit->add_subcommand("key", "Print the appliance's verifier key for auditors to keep");
  cmd->callback([&g, &action] {
    action = [&g] {
      return with_daemon(g, [&](DaemonLink& link) -> Result<int> {
        TILLID_ASSIGN(std::string key, verifier_key_of(link.call("audit.key")));
        if (g.json) print_json({{"verifier_key", key}});
        else std::cout << key << "\n";
        return kOk;
      });
    };
  });
}

void register_checkpoint(CLI::App* audit, GlobalOptions& g, Action& action) {
  auto* cmd = audit->add_subcommand("checkpoint", "Print the newest signed checkpoint (keep it to detect rollback later)");
  cmd->callback([&g, &action] {
    action = [&g] {
      return with_daemon(g, [&](DaemonLink& link) -> Result<int> {
        TILLID_ASSIGN(nlohmann::json j, link.call("audit.checkpoint"));
        if (!j.is_object() || !j.contains("checkpoint") || !j["checkpoint"].is_string())
          return make_error(Errc::corrupt, "malformed reply from the daemon");
        const std::string note = j["checkpoint"].get<std::string>();
        if (g.json) print_json({{"checkpoint", note}});
        else std::cout << note;
        return kOk;
      });
    };
  });
}

void register_verify(CLI::App* audit, GlobalOptions& g, Action& action) {
  struct Args { LogSource src; std::vector<std::filesystem::path> since; };
  auto a = std::make_shared<Args>();
  auto* cmd = audit->add_subcommand("verify", "Recompute the whole log, check every checkpoint and consistency with kept ones "
                                              "(exit 1: tampering found; 8: quarantined entries, LOG-FORMAT.md §3.4)");
  add_log_options(cmd, a->src);
  add_key_options(cmd, a->src);
  cmd->add_option("--since", a->since, "A checkpoint kept earlier (file); the log must extend it (repeatable)");
  cmd->callback([&g, &action, a] {
    action = [&g, a] {
      return run_or_fail([&]() -> Result<int> {
        TILLID_ASSIGN(LogDir log, obtain_log(g, a->src));
        const std::filesystem::path& dir = log.path;
        bool self_asserted = false;
        TILLID_ASSIGN(std::string key, resolve_key(g, a->src, self_asserted));
        std::vector<std::string> kept;
        for (const auto& f : a->since) {
          TILLID_ASSIGN(std::string text, read_small_file(f, 64 * 1024));
          kept.push_back(std::move(text));
        }
        TILLID_ASSIGN(LogVerifyReport rep, verify_log(dir, key, kept));
        if (g.json) {
          nlohmann::json problems = nlohmann::json::array();
          for (const auto& p : rep.problems)
            problems.push_back({{"kind", std::string(to_string(p.kind))},
                                {"seq", p.seq ? nlohmann::json(*p.seq) : nlohmann::json()},
                                {"message", p.message}});
          nlohmann::json quarantined = nlohmann::json::array();
          for (const auto& r : rep.quarantined) quarantined.push_back({{"first", r.first}, {"last", r.last}});
          print_json({{"clean", rep.clean()}, {"entries", rep.entries}, {"checkpoints", rep.checkpoints},
                      {"root", to_hex(rep.root)}, {"first_bad_seq", rep.first_bad_seq ? nlohmann::json(*rep.first_bad_seq) : nlohmann::json()},
                      {"problems", problems}, {"quarantined", quarantined},
                      {"unsigned_entries", rep.unsigned_entries}, {"notes", rep.notes},
                      {"key_self_asserted", self_asserted}});
        } else {
          if (self_asserted)
            std::cerr << "tillid: warning: verifier key given by the appliance itself; pass --key-file with the key you kept to rule out a replaced key\n";
          for (const auto& p : rep.problems)
            std::cout << "BAD " << to_string(p.kind) << (p.seq ? " at seq " + std::to_string(*p.seq) : std::string()) << ": " << printable(p.message) << "\n";
          if (!rep.quarantined.empty())
            std::cout << "QUARANTINED seq " << ranges_text(rep.quarantined)
                      << ": not authenticated as written by the appliance (written while locked, or forged)\n";
          for (const auto& n : rep.notes) std::cout << "note: " << printable(n) << "\n";
          if (rep.clean() && !rep.quarantined.empty())
            std::cout << "QUARANTINE: " << rep.entries << " entries, " << rep.checkpoints
                      << " checkpoints verified, no tampering of signed history found, but seq "
                      << ranges_text(rep.quarantined) << " are quarantined\n";
          else if (rep.clean() && rep.unsigned_entries > 0)
            std::cout << "UNSIGNED: " << rep.entries << " entries, " << rep.checkpoints
                      << " checkpoints verified, no tampering of signed history found, but the last "
                      << rep.unsigned_entries << " entries (from seq " << rep.entries - rep.unsigned_entries
                      << ") are not covered by a signed checkpoint yet\n";
          else if (rep.clean())
            std::cout << "OK: " << rep.entries << " entries, " << rep.checkpoints << " checkpoints verified, "
                      << kept.size() << " kept checkpoint(s) consistent; root " << to_hex(rep.root) << "\n";
          else
            std::cout << "FAILED: first bad sequence number "
                      << (rep.first_bad_seq ? std::to_string(*rep.first_bad_seq) : std::string("(none named)")) << "\n";
        }
        if (!rep.clean()) return kVerifyFailed;
        // Exit 8: nothing signed was tampered with, but some entries are not the appliance's
        // word: quarantined (LOG-FORMAT.md §3.4) or not yet signed (§3.5).
        return rep.quarantined.empty() && rep.unsigned_entries == 0 ? kOk : kLogQuarantined;
      });
    };
  });
}

void register_report(CLI::App* audit, GlobalOptions& g, Action& action) {
  struct Args {
    LogSource src;
    std::optional<std::string> case_id, actor_id, item_id, from, to;
    bool refused_only = false;
    std::string format = "text";
    std::optional<std::filesystem::path> out;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = audit->add_subcommand("report", "Who did what to which item, when: text, JSON or an HTML page");
  add_log_options(cmd, a->src);
  add_key_options(cmd, a->src);
  cmd->add_option("--case", a->case_id, "Only entries about this case id");
  cmd->add_option("--actor", a->actor_id, "Only entries by this actor");
  cmd->add_option("--item", a->item_id, "Only entries about this item id");
  cmd->add_option("--from", a->from, "From this time (YYYY-MM-DD[THH:MM:SS] UTC, or unix seconds)");
  cmd->add_option("--to", a->to, "Up to (not including) this time");
  cmd->add_flag("--refused", a->refused_only, "Only refused attempts");
  cmd->add_option("--format", a->format, "text, json or html")->check(CLI::IsMember({"text", "json", "html"}))->capture_default_str();
  cmd->add_option("-o,--output", a->out, "Write to FILE instead of standard output");
  cmd->callback([&g, &action, a] {
    action = [&g, a] {
      return run_or_fail([&]() -> Result<int> {
        TILLID_ASSIGN(LogDir log, obtain_log(g, a->src));
        const std::filesystem::path& dir = log.path;
        LogQuery q;
        q.case_id = a->case_id;
        q.actor_id = a->actor_id;
        q.item_id = a->item_id;
        if (a->from) { TILLID_ASSIGN(q.from_unix_ms, parse_time(*a->from)); }
        if (a->to) { TILLID_ASSIGN(q.to_unix_ms, parse_time(*a->to)); }
        if (a->refused_only) q.outcome = LogOutcome::refused;
        TILLID_ASSIGN(auto entries, read_log_entries(dir, q));
        // Quarantine flags come from the whole log's log_quarantined events (§3.4), whatever
        // the filter; the HTML page uses only signed ones, from the verification.
        TILLID_ASSIGN(auto all, read_log_entries(dir));
        const auto quarantined = quarantined_ranges(all);
        std::string format = g.json ? "json" : a->format;
        std::string text;
        if (format == "json") {
          text = render_log_json(entries, quarantined);
        } else if (format == "html") {
          // The page opens with the whole log's verification, so a reader knows what the
          // timeline rests on.
          bool self_asserted = false;
          TILLID_ASSIGN(std::string key, resolve_key(g, a->src, self_asserted));
          TILLID_ASSIGN(LogVerifyReport rep, verify_log(dir, key));
          text = render_log_html(entries, "Tillid access report", &rep);
        } else {
          text = render_log_text(entries, quarantined);
        }
        if (a->out) {
          std::ofstream f(*a->out, std::ios::binary | std::ios::trunc);
          f << text;
          if (!f.flush()) return make_error(Errc::io, "cannot write " + a->out->string());
          if (!g.json) std::cerr << "Wrote " << entries.size() << " entries to " << a->out->string() << "\n";
        } else {
          std::cout << text;
        }
        return kOk;
      });
    };
  });
}

void register_prove(CLI::App* audit, GlobalOptions& g, Action& action) {
  struct Args { LogSource src; std::uint64_t seq = 0; std::optional<std::uint64_t> size; };
  auto a = std::make_shared<Args>();
  auto* cmd = audit->add_subcommand("prove", "Print an inclusion proof (RFC 9162 §2.1.3) for one entry");
  add_log_options(cmd, a->src);
  cmd->add_option("SEQ", a->seq, "Sequence number of the entry")->required();
  cmd->add_option("--size", a->size, "Tree size to prove against (use a checkpoint's size; default: whole log)");
  cmd->callback([&g, &action, a] {
    action = [&g, a] {
      return run_or_fail([&]() -> Result<int> {
        TILLID_ASSIGN(LogDir log, obtain_log(g, a->src));
        const std::filesystem::path& dir = log.path;
        TILLID_ASSIGN(InclusionProof p, prove_inclusion(dir, a->seq, a->size));
        std::cout << format_proof(p);
        return kOk;
      });
    };
  });
}

void register_consistency(CLI::App* audit, GlobalOptions& g, Action& action) {
  struct Args { LogSource src; std::uint64_t old_size = 0; std::optional<std::uint64_t> new_size; };
  auto a = std::make_shared<Args>();
  auto* cmd = audit->add_subcommand("consistency", "Print a consistency proof (RFC 9162 §2.1.4) between two tree sizes");
  add_log_options(cmd, a->src);
  cmd->add_option("OLD", a->old_size, "The older tree size (e.g. a kept checkpoint's size)")->required();
  cmd->add_option("NEW", a->new_size, "The newer tree size (default: whole log)");
  cmd->callback([&g, &action, a] {
    action = [&g, a] {
      return run_or_fail([&]() -> Result<int> {
        TILLID_ASSIGN(LogDir log, obtain_log(g, a->src));
        const std::filesystem::path& dir = log.path;
        TILLID_ASSIGN(ConsistencyProof p, prove_consistency(dir, a->old_size, a->new_size));
        std::cout << format_proof(p);
        return kOk;
      });
    };
  });
}

// The independent verifier's side: a proof file, signed checkpoint(s) and the key; no log.
void register_check_proof(CLI::App* audit, GlobalOptions& g, Action& action) {
  struct Args {
    LogSource src;
    std::filesystem::path proof, checkpoint;
    std::optional<std::filesystem::path> old_checkpoint;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = audit->add_subcommand("check-proof", "Check a proof against signed checkpoints, without the log");
  add_key_options(cmd, a->src);
  cmd->add_option("PROOF", a->proof, "Proof file from `tillid audit prove` or `consistency`")->required();
  cmd->add_option("--checkpoint", a->checkpoint, "The signed checkpoint the proof leads to")->required();
  cmd->add_option("--old-checkpoint", a->old_checkpoint, "For a consistency proof: the older signed checkpoint");
  cmd->callback([&g, &action, a] {
    action = [&g, a] {
      return run_or_fail([&]() -> Result<int> {
        bool self_asserted = false;
        TILLID_ASSIGN(std::string key, resolve_key(g, a->src, self_asserted));
        TILLID_ASSIGN(std::string proof_text, read_small_file(a->proof, 1 << 20));
        TILLID_ASSIGN(std::string note, read_small_file(a->checkpoint, 64 * 1024));
        TILLID_ASSIGN(Checkpoint cp, open_checkpoint(note, key));
        auto verdict = [&](bool ok, const std::string& what) -> Result<int> {
          if (g.json) print_json({{"valid", ok}, {"what", what}});
          else std::cout << (ok ? "OK: " : "BAD: ") << what << "\n";
          return ok ? kOk : kVerifyFailed;
        };
        if (auto inc = parse_inclusion_proof(proof_text); inc) {
          if (inc->tree_size != cp.size)
            return verdict(false, "the proof is for tree size " + std::to_string(inc->tree_size) +
                                      " but the checkpoint covers " + std::to_string(cp.size));
          bool ok = verify_inclusion(log_leaf_hash(inc->entry), inc->index, inc->tree_size, inc->path, cp.root);
          return verdict(ok, "entry " + std::to_string(inc->index) + (ok ? " is" : " is NOT") +
                                 " in the signed tree of size " + std::to_string(cp.size));
        }
        TILLID_ASSIGN(ConsistencyProof con, parse_consistency_proof(proof_text));
        if (!a->old_checkpoint)
          return make_error(Errc::invalid_argument, "a consistency proof needs --old-checkpoint FILE as well");
        TILLID_ASSIGN(std::string old_note, read_small_file(*a->old_checkpoint, 64 * 1024));
        TILLID_ASSIGN(Checkpoint old_cp, open_checkpoint(old_note, key));
        if (con.old_size != old_cp.size || con.new_size != cp.size)
          return verdict(false, "the proof's sizes do not match the two checkpoints");
        bool ok = verify_consistency(con.old_size, con.new_size, old_cp.root, cp.root, con.path);
        return verdict(ok, "the tree of size " + std::to_string(cp.size) + (ok ? " extends" : " does NOT extend") +
                               " the tree of size " + std::to_string(old_cp.size));
      });
    };
  });
}

}  // namespace

void register_audit_commands(CLI::App& app, GlobalOptions& g, Action& action) {
  auto* audit = app.add_subcommand("audit", "Auditor's tools: verify the access log, proofs, reports (no passphrase)");
  audit->require_subcommand(1);
  register_key(audit, g, action);
  register_checkpoint(audit, g, action);
  register_verify(audit, g, action);
  register_report(audit, g, action);
  register_prove(audit, g, action);
  register_consistency(audit, g, action);
  register_check_proof(audit, g, action);
}

}  // namespace tillid::cli
