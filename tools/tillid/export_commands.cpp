// `tillid export ITEM --out DIR` and `tillid verify-export DIR`: court bundles
// (vault/EXPORT-FORMAT.md). `export` asks the daemon and writes the files it streams;
// verify-export needs no vault and no daemon: a court's expert runs it offline.
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "cli.hpp"
#include "daemon_link.hpp"
#include "export_dir.hpp"
#include "output.hpp"
#include "tillid/export.hpp"

namespace tillid::cli {
namespace {

// Like print_json, but a title or file name that is not valid UTF-8 cannot make it throw.
void print_json_lenient(const nlohmann::json& j) {
  std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

void register_export(CLI::App& app, GlobalOptions& g, Action& action) {
  struct Args { std::string item; std::filesystem::path out; };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("export", "Write an item as a court bundle (plaintext, signed manifest, "
                                           "log proofs) into a new directory");
  cmd->add_option("ITEM", args->item, "Item id, as `tillid ls` shows it")->required();
  cmd->add_option("-o,--out", args->out, "Bundle directory (must not exist, or be empty)")->required();
  cmd->callback([&g, &action, args] {
    action = [&g, args]() -> int {
      // The destination is checked before the daemon is asked: a bad one changes nothing.
      auto dir = StreamedDir::create(args->out);
      if (!dir) return fail(dir.error());
      return with_daemon(g, [&](DaemonLink& link) -> Result<int> {
        Incoming in = dir->receiver();
        TILLID_ASSIGN(nlohmann::json j, link.call("export", {{"item", args->item}}, nullptr, &in));
        TILLID_ASSIGN(ExportSummary r, decode<ExportSummary>(j));
        TILLID_TRY(dir->publish());
        const std::string out_dir = args->out.string();
        if (g.json) {
          if (j.is_object()) j["dir"] = out_dir;  // where this command wrote it, not the daemon's staging
          print_json_lenient(j);
        } else {
          std::cout << "Exported item " << r.item.id << " to " << printable(out_dir) << "\n"
                    << "  content   " << printable(r.content_file) << " (" << format_size(r.item.size) << ")\n"
                    << "  SHA-256   " << to_hex(r.item.sha256) << "\n"
                    << "  log       " << r.log_entries << " entries, each with a proof to checkpoint of size "
                    << r.checkpoint_size << " (this export included)\n"
                    << "  key       " << r.verifier_key << "\n"
                    << "Check: cd " << out_dir << " && sha256sum -c SHA256SUMS; tillid verify-export " << out_dir << "\n";
        }
        wipe_json(j);
        return kOk;
      });
    };
  });
}

void register_verify_export(CLI::App& app, GlobalOptions& g, Action& action) {
  struct Args {
    std::filesystem::path dir;
    std::optional<std::string> key;
    std::optional<std::filesystem::path> key_file;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("verify-export", "Check a court bundle offline (no vault needed): content "
                                                  "SHA-256, signatures, log inclusion proofs");
  cmd->add_option("DIR", args->dir, "The bundle directory")->required();
  auto* key_opt = cmd->add_option("--key", args->key,
                              "The appliance's key obtained independently of the bundle (verifier key, hex, "
                              "base64); the bundle's key must match");
  cmd->add_option("--key-file", args->key_file, "Read that key from FILE (text or PEM)")->excludes(key_opt);
  cmd->callback([&g, &action, args] {
    action = [&g, args]() -> int {
      std::optional<std::string> key = args->key;
      if (args->key_file) {
        std::ifstream in(*args->key_file, std::ios::binary);
        if (!in) return fail(make_error(Errc::not_found, "cannot read the key file " + args->key_file->string()));
        std::ostringstream ss;
        ss << in.rdbuf();
        key = ss.str();
      }
      auto r = verify_export(args->dir, key);
      if (!r) return fail(r.error());
      const ExportCheck& ck = *r;
      if (g.json) {
        print_json_lenient({{"ok", ck.ok()},
                    {"item_id", ck.item_id},
                    {"kind", ck.kind},
                    {"case_number", ck.case_number},
                    {"municipality", ck.municipality},
                    {"content_file", ck.content_file},
                    {"size", ck.size},
                    {"sha256", ck.sha256_hex},
                    {"log_entries", ck.log_entries},
                    {"checkpoint_size", ck.checkpoint_size},
                    {"public_key_hex", ck.public_key_hex},
                    {"key_pinned", ck.key_pinned},
                    {"problems", ck.problems},
                    {"warnings", ck.warnings}});
      } else {
        for (const auto& p : ck.problems) std::cout << "BAD " << printable(p) << "\n";
        for (const auto& w : ck.warnings) std::cout << "WARNING " << printable(w) << "\n";
        if (ck.ok()) {
          std::cout << "OK: " << printable(ck.content_file) << " (" << format_size(ck.size) << ", SHA-256 " << ck.sha256_hex
                    << ") is item " << printable(ck.item_id) << " of case " << printable(ck.case_number)
                    << " (municipality " << printable(ck.municipality) << "); manifest signatures valid; " << ck.log_entries
                    << " access-log entries proven against a signed checkpoint of size " << ck.checkpoint_size
                    << (ck.key_pinned ? "; appliance key matches the key given.\n"
                                      : "; appliance key NOT independently confirmed.\n");
        } else {
          std::cout << "FAILED: " << ck.problems.size() << " problem(s) in " << printable(args->dir.string()) << "\n";
        }
      }
      return ck.ok() ? kOk : kVerifyFailed;
    };
  });
}

}  // namespace

void register_export_commands(CLI::App& app, GlobalOptions& g, Action& action) {
  register_export(app, g, action);
  register_verify_export(app, g, action);
}

}  // namespace tillid::cli
